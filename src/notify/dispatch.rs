//! The outbox worker: claims due messages under a lease, sends each through its channel
//! within that channel's rate limit (a token bucket), and records every attempt with the
//! far end's answer: delivered, retry later (exponential backoff), or failed.
//!
//! Exactly-once as far as the gateway's idempotency allows: a message is in the outbox
//! before any send; a worker that dies between claiming and recording leaves the claim to
//! lapse, and the message goes again with the SAME idempotency key (which a deduplicating
//! gateway, or the receiver, uses to drop the repeat).
//!
//! An adapter at the edge: tokio, the store (through `spawn_blocking`) and the channels.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::task::JoinSet;

use crate::notify::channels::Channels;
use crate::notify::config::{NotifyConfig, OutboxConfig, RateLimit};
use crate::notify::outbound::Planned;
use crate::notify::outbox::{AttemptOutcome, AttemptRecord, Outbox, OutboxError, OutboxRow};
use crate::notify::plan::{Recipient, plan};
use crate::notify::select::{DistrictGeometry, PublishedAlert};
use crate::notify::subscriber::{Channel, ChannelKind};

#[derive(Debug, Error)]
pub enum DispatchError {
    #[error("outbox: {0}")]
    Store(#[from] OutboxError),
    #[error("outbox: a store task died: {0}")]
    Task(String),
}

/// A token bucket (rate and burst per [`RateLimit`]).
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(r: RateLimit) -> Self {
        let burst = f64::from(r.burst.max(1));
        TokenBucket {
            per_second: r.per_second.max(1e-6),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits until a token is free and takes it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let refill = now.duration_since(s.1).as_secs_f64() * self.per_second;
                s.0 = (s.0 + refill).min(self.burst);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                (1.0 - s.0) / self.per_second
            };
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchStats {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
}

impl std::ops::AddAssign for DispatchStats {
    fn add_assign(&mut self, o: Self) {
        self.claimed += o.claimed;
        self.delivered += o.delivered;
        self.retried += o.retried;
        self.failed += o.failed;
    }
}

/// Seconds before attempt `attempts + 1`: `initial × 2^(attempts − 1)`, at most `max`.
pub fn backoff_s(cfg: &OutboxConfig, attempts: u32) -> f64 {
    let exp = attempts.saturating_sub(1).min(30);
    (cfg.backoff_initial_s * f64::from(1u32 << exp)).min(cfg.backoff_max_s)
}

/// The outcome of one attempt (pure: the decision, given the channel's answer).
pub fn outcome_of(
    cfg: &OutboxConfig,
    row: &OutboxRow,
    result: Result<crate::notify::channels::Receipt, crate::notify::channels::SendError>,
    now: DateTime<Utc>,
) -> AttemptOutcome {
    match result {
        Ok(r) => AttemptOutcome::Delivered {
            gateway_id: r.gateway_id,
            status: r.status,
        },
        Err(e) if e.retryable && row.attempts < cfg.max_attempts => AttemptOutcome::Retry {
            status_code: e.status,
            error: e.message,
            next_attempt_at: now
                + chrono::Duration::milliseconds(
                    (backoff_s(cfg, row.attempts) * 1000.0).round() as i64
                ),
        },
        Err(e) => AttemptOutcome::Failed {
            status_code: e.status,
            error: if e.retryable {
                format!("gave up after {} attempts: {}", row.attempts, e.message)
            } else {
                e.message
            },
        },
    }
}

/// The messages of one published version, from the store's active subscribers and what
/// each was last told about the event: selection, then texts. Numbers that replied STOP
/// are left out (a subscriber with no other channel gets nothing). Reads only; the caller
/// writes them (with the version, in one transaction, in the pipeline).
pub fn plan_version<S: Outbox + ?Sized>(
    store: &S,
    alert: &PublishedAlert,
    cfg: &NotifyConfig,
    geometry: &dyn DistrictGeometry,
) -> Result<Vec<Planned>, OutboxError> {
    let optouts = store.sms_optouts()?;
    let recipients: Vec<Recipient> = store
        .recipients()?
        .into_iter()
        .filter_map(|mut r| {
            r.subscriber
                .channels
                .retain(|c| !matches!(c, Channel::Sms(p) if optouts.contains(p)));
            (!r.subscriber.channels.is_empty()).then_some(r)
        })
        .collect();
    let last = store.last_sent(&alert.event_id, alert.version)?;
    Ok(plan(
        &recipients,
        alert,
        &last,
        &cfg.select_options(),
        &cfg.message,
        geometry,
    ))
}

/// Writes the messages of one published version to the outbox (before anything is sent):
/// [`plan_version`], then [`Outbox::enqueue`]. Returns how many messages were new (a
/// version enqueued twice adds nothing).
pub fn enqueue_version<S: Outbox + ?Sized>(
    store: &S,
    alert: &PublishedAlert,
    cfg: &NotifyConfig,
    geometry: &dyn DistrictGeometry,
    now: DateTime<Utc>,
) -> Result<usize, OutboxError> {
    let planned = plan_version(store, alert, cfg, geometry)?;
    store.enqueue(&planned, now)
}

pub struct Dispatcher<S: Outbox + ?Sized + 'static> {
    store: Arc<S>,
    channels: Arc<Channels>,
    cfg: OutboxConfig,
    buckets: Arc<[TokenBucket; 3]>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, DispatchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DispatchError::Task(e.to_string()))?
        .map_err(DispatchError::from)
}

impl<S: Outbox + ?Sized + 'static> Dispatcher<S> {
    pub fn new(store: Arc<S>, channels: Channels, cfg: OutboxConfig) -> Self {
        let buckets = Arc::new([
            TokenBucket::new(cfg.rate.email),
            TokenBucket::new(cfg.rate.sms),
            TokenBucket::new(cfg.rate.webhook),
        ]);
        Dispatcher {
            store,
            channels: Arc::new(channels),
            cfg,
            buckets,
        }
    }

    /// One round: claim a batch, send every message (concurrently, each within its
    /// channel's rate), record each attempt.
    pub async fn run_once(&self) -> Result<DispatchStats, DispatchError> {
        let store = self.store.clone();
        let (lease, batch) = (self.cfg.lease_s, self.cfg.batch);
        let rows = blocking(move || store.claim_due(Utc::now(), lease, batch)).await?;
        let mut stats = DispatchStats {
            claimed: rows.len(),
            ..DispatchStats::default()
        };
        let mut set = JoinSet::new();
        for row in rows {
            let (store, channels, buckets, cfg) = (
                self.store.clone(),
                self.channels.clone(),
                self.buckets.clone(),
                self.cfg.clone(),
            );
            set.spawn(async move {
                let bucket = match row.message.kind() {
                    ChannelKind::Email => &buckets[0],
                    ChannelKind::Sms => &buckets[1],
                    ChannelKind::Webhook => &buckets[2],
                };
                bucket.acquire().await;
                let started_at = Utc::now();
                let result = channels.send(&row.message).await;
                let finished_at = Utc::now();
                let outcome = outcome_of(&cfg, &row, result, finished_at);
                let record = AttemptRecord {
                    outbox_id: row.id,
                    attempt: row.attempts,
                    started_at,
                    finished_at,
                    outcome: outcome.clone(),
                };
                blocking(move || store.record_attempt(&record)).await?;
                Ok::<AttemptOutcome, DispatchError>(outcome)
            });
        }
        let mut first_err = None;
        while let Some(done) = set.join_next().await {
            match done {
                Ok(Ok(AttemptOutcome::Delivered { .. })) => stats.delivered += 1,
                Ok(Ok(AttemptOutcome::Retry { .. })) => stats.retried += 1,
                Ok(Ok(AttemptOutcome::Failed { .. })) => stats.failed += 1,
                // A failed record leaves the claim to lapse: the message goes again with
                // the same key after the lease. Reported once the batch is done.
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(DispatchError::Task(e.to_string()));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }

    /// Rounds until nothing is left to send or wait for (every message delivered or
    /// failed), sleeping until the next retry or lease end in between. For batch runs,
    /// replays and tests; the service uses [`Dispatcher::run`].
    pub async fn run_until_idle(&self) -> Result<DispatchStats, DispatchError> {
        self.drain(None).await
    }

    /// As [`Dispatcher::run_until_idle`], but returns instead of waiting past `max_wait`
    /// from now for a retry: `aviso run-once` delivers what it can and leaves later
    /// retries in the outbox for the next run.
    pub async fn run_until_idle_within(
        &self,
        max_wait: Duration,
    ) -> Result<DispatchStats, DispatchError> {
        self.drain(Some(Instant::now() + max_wait)).await
    }

    async fn drain(&self, deadline: Option<Instant>) -> Result<DispatchStats, DispatchError> {
        let mut total = DispatchStats::default();
        loop {
            let s = self.run_once().await?;
            total += s;
            if s.claimed > 0 {
                continue;
            }
            let store = self.store.clone();
            match blocking(move || store.next_due()).await? {
                None => return Ok(total),
                Some(t) => {
                    let wait =
                        Duration::from_millis((t - Utc::now()).num_milliseconds().max(10) as u64);
                    if deadline.is_some_and(|d| Instant::now() + wait > d) {
                        return Ok(total);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Runs until `stop` turns true, polling every `poll_interval_s` when idle. A store
    /// error is logged and the round tried again after the poll interval: the worker must
    /// outlive a locked or briefly unavailable database (nothing is lost: unrecorded
    /// claims lapse and go again with the same key).
    pub async fn run(&self, mut stop: tokio::sync::watch::Receiver<bool>) -> DispatchStats {
        let mut total = DispatchStats::default();
        let poll = Duration::from_secs_f64(self.cfg.poll_interval_s);
        while !*stop.borrow() {
            match self.run_once().await {
                Ok(s) => {
                    total += s;
                    if s.failed > 0 {
                        // ERROR: subscribers did not get an alert; someone must look.
                        tracing::error!(
                            given_up = s.failed,
                            "notify: messages given up (see /api/admin/outbox)"
                        );
                    }
                    if s.claimed > 0 {
                        continue;
                    }
                }
                // ERROR: nothing is lost (claims lapse and go again) but delivery waits for
                // the store.
                Err(e) => {
                    tracing::error!(error = %e, "notify: the outbox round failed; trying again")
                }
            }
            let _ = tokio::time::timeout(poll, stop.changed()).await;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let cfg = OutboxConfig {
            backoff_initial_s: 30.0,
            backoff_max_s: 3600.0,
            ..OutboxConfig::default()
        };
        let s: Vec<f64> = (1..=9).map(|a| backoff_s(&cfg, a)).collect();
        assert_eq!(
            s,
            [
                30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0
            ]
        );
    }
}
