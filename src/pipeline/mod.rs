//! One run of the service: fetch -> store raw -> parse -> assess -> decide the version ->
//! store and publish; and the cron loop around it ([`schedule`]). Wiring: it names the
//! store, the fetcher and the API state, and calls the pure core.
//!
//! Rooms: the cyclone issuance path in `cyclone.rs`, GDACS discovery in `gdacs.rs`, river
//! floods in `flood.rs`, expiries in `expire.rs`, the commit of a version with its messages
//! in `publish.rs`, the probabilistic job in `probabilistic.rs`, the version that late
//! probabilities call for in `late_levels.rs`.
//!
//! Guarantees (issue 3):
//! - every fetched body is stored raw before it is parsed, and the same content from the
//!   same feed is processed once (the store deduplicates by SHA-256);
//! - processing an issuance (assessment, alert version, "processed" mark) is one store
//!   transaction: after a kill the issuance is still pending and the restart finishes it,
//!   so none is lost or processed twice;
//! - a failing feed (fetch error, malformed body) marks the feed degraded with the reason;
//!   nothing published is withdrawn because of it, and other feeds go on;
//! - an older forecast arriving after a newer one is stored and assessed but never
//!   replaces the newer alert;
//! - with subscribers wired in ([`Pipeline::with_notify`]), a version and the messages it
//!   gives subscribers are committed in ONE transaction: a crash cannot publish an alert
//!   whose messages are never queued, nor queue messages for an alert never published.

mod approve;
mod cyclone;
pub mod demo;
mod discovery;
mod expire;
mod follow;
mod holds;
pub use follow::FOLLOW_EVERY;
pub use remind::RemindReport;
pub mod flood;
mod late_levels;
mod overrides;
pub(crate) use overrides::{Applied, EditCtx};
mod probabilistic;
mod publish;
mod remind;
mod replan;
pub mod schedule;
mod withdraw;

pub use cyclone::published_alert;
pub(crate) use expire::refuse_stale;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::alerts::assess::{Assessment, apply_probabilities, assess, hold_while_pending};
use crate::alerts::cap::CertaintyProbability;
use crate::alerts::cap::{CapOptions, cap_document};
use crate::alerts::document::alert_document;
use crate::alerts::probabilistic::{
    CERTAINTY_THRESHOLD_KT, ProbabilisticOutcome, attach_probabilistic, certainty_probability,
};
use crate::alerts::versioning::{self, CapStatus, MsgType};
use crate::config::{Config, FeedConfig, FeedKind};
use crate::exposure::IndexedLayers;
use crate::feeds::fetch::{Fetched, Fetcher, Validators};
use crate::feeds::gdacs::{self, Basin, GdacsEvent};
use crate::feeds::{self, BufrDecoder, InProcessBufr, ParseOptions, TrackFormat};
use crate::metrics::Metrics;
use crate::notify::select::{DistrictShapes, PublishedAlert, SiteAtRisk};
use crate::store::approval::ApprovalStore;
use crate::store::notify::NotifyStore;
use crate::store::published::Published;
use crate::store::{
    AlertSummary, AssessmentRecord, FetchResult, HazardKind, Inserted, NewAlert, RawIssuance,
    Store, StoreError, StoredIssuance,
};

/// Hours between two forecast issuances: RSMC La Réunion and JTWC warn every 6 h in the
/// South-West Indian Ocean (../shared/DOMAIN.md). The messages' "next update" time.
pub const ISSUANCE_INTERVAL_H: i64 = 6;

/// The subscribers' side of publishing (see [`Pipeline::with_notify`]).
struct NotifyHook {
    /// The same database as [`Pipeline::store`] (one transaction covers both).
    store: Arc<dyn NotifyStore>,
    /// District outlines, for subscribers whose area is a polygon.
    geometry: DistrictShapes,
}

/// Why an issuance could not be turned into an alert (stored on the issuance).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Assess(String),
    #[error("{0}")]
    Publish(String),
    /// An Actual forecast older than the configured age: never a live alert.
    #[error("{0}")]
    Stale(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outbox behind notify's port (the same database).
    #[error(transparent)]
    Outbox(#[from] crate::notify::outbox::OutboxError),
}

impl ProcessError {
    /// Short label for feed health and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ProcessError::Parse(_) => "parse",
            ProcessError::Assess(_) => "assess",
            ProcessError::Publish(_) => "publish",
            ProcessError::Stale(_) => "stale",
            ProcessError::Store(_) | ProcessError::Outbox(_) => "store",
        }
    }
}

/// How one feed cycle went.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunReport {
    pub feed: String,
    pub fetched: usize,
    pub not_modified: usize,
    pub duplicates: usize,
    pub failed: Vec<String>,
    pub processed: usize,
    pub published: Vec<String>,
    /// Another replica on the shared database held the feed's lease: this cycle was
    /// theirs, and this one fetched nothing (issue 15).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub leased_elsewhere: bool,
}

impl RunReport {
    /// Counts what storing a fetched body did. Content that failed before and is served
    /// again is a failure of this cycle too: the feed is healthy only when its latest
    /// content could be used (issue 17).
    pub(crate) fn count_inserted(
        &mut self,
        key: &str,
        shown: &str,
        inserted: Result<Inserted, StoreError>,
    ) {
        match inserted {
            Ok(Inserted::New(_)) => self.fetched += 1,
            Ok(Inserted::Duplicate(_)) => self.duplicates += 1,
            Ok(Inserted::StillFailing { id, error }) => {
                self.duplicates += 1;
                // WARN: the feed is degraded until it serves something new; pulled again.
                tracing::warn!(
                    feed = %key,
                    url = %shown,
                    issuance = id,
                    error = %error,
                    "feed degraded: still serving the content of an issuance that failed"
                );
                self.failed.push(format!(
                    "{key}: still serving the content of issuance {id}, which failed: {error}"
                ));
            }
            Err(e) => {
                // ERROR: what the feed served is not kept; the store needs someone.
                tracing::error!(feed = %key, url = %shown, error = %e, "storing an issuance failed");
                self.failed.push(format!("{key}: store: {e}"));
            }
        }
    }

    pub fn outcome(&self) -> &'static str {
        if self.failed.is_empty() {
            "ok"
        } else if self.fetched + self.not_modified + self.duplicates > 0 {
            "degraded"
        } else {
            "failed"
        }
    }
}

/// Everything a run needs, built once at start.
pub struct Pipeline {
    pub cfg: Arc<Config>,
    pub layers: Arc<IndexedLayers>,
    pub store: Arc<dyn Store>,
    pub fetcher: Fetcher,
    /// The current alert the API serves: the pipeline publishes there and never calls
    /// the API.
    pub published: Arc<Published>,
    pub metrics: Arc<Metrics>,
    /// One issuance processed at a time: the version decision reads the previous one.
    process_lock: Mutex<()>,
    /// Active South-West Indian Ocean storms, from the latest GDACS issuance.
    discovered: Mutex<Vec<GdacsEvent>>,
    /// Subscribers' messages; `None`: versions are published without any.
    notify: Option<NotifyHook>,
    /// How ECMWF BUFR is decoded: in this process unless [`Pipeline::with_bufr_decoder`]
    /// says otherwise; the service wires a child process (`feeds::bufr_child`), so that a
    /// file that crashes ecCodes degrades its feed instead of ending the service.
    bufr: Arc<dyn BufrDecoder>,
    /// What the probabilistic step's threads share with the pipeline.
    prob: Arc<probabilistic::Shared>,
    /// Proposals and the audit trail (issue 13); `None`: every version publishes at once
    /// (a library caller without a service, e.g. `aviso replay`).
    approvals: Option<Arc<dyn ApprovalStore>>,
}

/// The event id of a storm under a CAP status: Exercise and Test versions get their own
/// chain ("exercise-swi-07-20222023"), so they never update or cancel a real alert.
pub fn event_id_for(storm: &crate::domain::StormId, status: CapStatus) -> String {
    let base = versioning::event_id(storm);
    match status {
        CapStatus::Actual => base,
        other => format!("{}-{base}", other.as_str().to_ascii_lowercase()),
    }
}

impl Pipeline {
    pub fn new(
        cfg: Arc<Config>,
        layers: Arc<IndexedLayers>,
        store: Arc<dyn Store>,
        fetcher: Fetcher,
        published: Arc<Published>,
        metrics: Arc<Metrics>,
    ) -> Pipeline {
        let bufr: Arc<dyn BufrDecoder> = Arc::new(InProcessBufr);
        let prob = Arc::new(probabilistic::Shared::new(
            Arc::clone(&cfg),
            Arc::clone(&layers),
            Arc::clone(&store),
            Arc::clone(&published),
            Arc::clone(&metrics),
            Arc::clone(&bufr),
        ));
        Pipeline {
            cfg,
            layers,
            store,
            fetcher,
            published,
            metrics,
            process_lock: Mutex::new(()),
            discovered: Mutex::new(Vec::new()),
            notify: None,
            bufr,
            prob,
            approvals: None,
        }
    }

    /// Puts every version through the approval policy (`[approval]`): those no
    /// auto-publish rule covers become proposals in `store`, which must be the same
    /// database as the pipeline's store (a proposal and its issuance's processed mark
    /// commit together).
    pub fn with_approvals(mut self, store: Arc<dyn ApprovalStore>) -> Self {
        self.approvals = Some(store);
        self
    }

    /// Decodes ECMWF BUFR issuances with `bufr` (the service passes a
    /// `feeds::bufr_child::ChildDecoder`), in the probabilistic step too.
    pub fn with_bufr_decoder(mut self, bufr: Arc<dyn BufrDecoder>) -> Self {
        self.prob = Arc::new(probabilistic::Shared::new(
            Arc::clone(&self.cfg),
            Arc::clone(&self.layers),
            Arc::clone(&self.store),
            Arc::clone(&self.published),
            Arc::clone(&self.metrics),
            Arc::clone(&bufr),
        ));
        self.bufr = bufr;
        self
    }

    /// Queues subscribers' messages with every version published from now on, through
    /// `store`, which must be the same database as the pipeline's store (the SQLite store
    /// implements both traits): the version and its messages commit together. Messages
    /// are planned only for the channels `[notify]` enables.
    pub fn with_notify(mut self, store: Arc<dyn NotifyStore>) -> Self {
        let geometry = DistrictShapes::new(
            self.layers
                .layers
                .districts
                .iter()
                .map(|d| (d.pcode.clone(), d.geometry.clone())),
        );
        self.notify = Some(NotifyHook { store, geometry });
        self
    }

    fn feed_config(&self, key: &str) -> Option<&FeedConfig> {
        let name = key.split(':').next().unwrap_or(key);
        self.cfg.feeds.iter().find(|f| f.name == name)
    }

    /// Active storms GDACS listed last.
    pub fn discovered(&self) -> Vec<GdacsEvent> {
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The (store key, URL) pairs one cycle of `feed` fetches: one, or one per storm
    /// GDACS lists when the URL is a template.
    pub fn targets(&self, feed: &FeedConfig) -> Vec<(String, String)> {
        if !feed.is_template() {
            return vec![(feed.name.clone(), feed.url.clone())];
        }
        self.discovered()
            .iter()
            .map(|e| {
                let year = e
                    .year
                    .map(|y| y.to_string())
                    .or_else(|| e.from_date.map(|d| d.format("%Y").to_string()))
                    .unwrap_or_default();
                let url = feed
                    .url
                    .replace("{name_lower}", &e.storm_name.to_lowercase())
                    .replace("{name}", &e.storm_name)
                    .replace("{year}", &year)
                    .replace("{gdacs_event_id}", &e.event_id.to_string());
                (
                    format!("{}:{}", feed.name, e.storm_name.to_lowercase()),
                    url,
                )
            })
            .collect()
    }

    /// One cycle of one feed: fetch every target, store new content, process whatever
    /// is pending, cancel events that left a healthy feed. Never fails: what went wrong
    /// is in the report, the store and the feed's health.
    pub async fn run_feed(self: &Arc<Self>, feed: &FeedConfig) -> RunReport {
        self.bind();
        let started = Instant::now();
        let mut report = RunReport {
            feed: feed.name.clone(),
            ..RunReport::default()
        };
        // One replica at a time fetches a feed (a shared PostgreSQL store); held until the
        // end of the cycle, processing and expiry included.
        let lease = {
            let name = feed.name.clone();
            self.blocking(move |p| p.store.lease_feed(&name)).await
        };
        let _lease = match lease {
            Ok(Some(l)) => l,
            Ok(None) => {
                tracing::debug!(feed = %feed.name, "another replica holds the feed's lease: its cycle, not ours");
                report.leased_elsewhere = true;
                return report;
            }
            Err(e) => {
                // WARN: fetching without the lease may fetch twice across replicas, which
                // idempotent ingest absorbs; not fetching could miss a bulletin.
                tracing::warn!(feed = %feed.name, error = %e, "could not take the feed's lease; fetching anyway");
                crate::store::FeedLease::local()
            }
        };
        let run_id = self
            .blocking({
                let name = feed.name.clone();
                move |p| p.store.begin_run(&name, Utc::now())
            })
            .await;
        if feed.kind == FeedKind::FloodStations {
            self.fetch_flood(feed, &mut report).await;
        } else {
            for (key, url) in self.targets(feed) {
                self.fetch_one(&key, &url, &mut report).await;
            }
        }
        let processed = {
            let name = feed.name.clone();
            self.blocking(move |p| Ok(p.process_pending_for(Some(&name))))
                .await
        };
        if let Ok((n, published, failed)) = processed {
            report.processed = n;
            report.published = published;
            report.failed.extend(failed);
        }
        if report.failed.is_empty() {
            let name = feed.name.clone();
            if let Ok(cancelled) = self.blocking(move |p| Ok(p.expire_stale(&name))).await {
                report.published.extend(cancelled);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        self.metrics.observe_run(&feed.name, secs);
        if let Ok(id) = run_id {
            let outcome = report.outcome();
            let detail = serde_json::to_value(&report).unwrap_or(Value::Null);
            let _ = self
                .blocking(move |p| p.store.finish_run(id, Utc::now(), outcome, &detail))
                .await;
        }
        report
    }

    /// Runs `f` on a blocking thread (store calls and assessments block).
    async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Pipeline) -> Result<T, StoreError> + Send + 'static,
    {
        let me = Arc::clone(self);
        match tokio::task::spawn_blocking(move || f(&me)).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Corrupt {
                path: "(task)".into(),
                what: "blocking task".into(),
                message: e.to_string(),
            }),
        }
    }

    async fn fetch_one(self: &Arc<Self>, key: &str, url: &str, report: &mut RunReport) {
        let shown = self.fetcher.redacted(url);
        let k = key.to_string();
        let validators = match self.blocking(move |p| p.store.feed_health(&k)).await {
            Ok(Some(h)) => Validators {
                etag: h.etag,
                last_modified: h.last_modified,
            },
            _ => Validators::default(),
        };
        let now = Utc::now();
        match self.fetcher.fetch(url, &validators).await {
            Ok(Fetched::NotModified { .. }) => {
                report.not_modified += 1;
                let k = key.to_string();
                let health = self
                    .blocking(move |p| {
                        p.store.record_fetch(&k, now, &FetchResult::NotModified)?;
                        p.store.feed_health(&k)
                    })
                    .await;
                // A 304 for content that failed is no news that the feed is well.
                if let Ok(Some(h)) = health
                    && h.state == crate::store::FeedState::Degraded
                {
                    let why = h.last_error.unwrap_or_default();
                    tracing::warn!(feed = %key, url = %shown, error = %why, "feed degraded");
                    report.failed.push(format!("{key}: {why}"));
                }
            }
            Ok(Fetched::Body {
                bytes,
                content_type,
                validators,
                ..
            }) => {
                let raw = RawIssuance {
                    feed: key.to_string(),
                    url: shown.clone(),
                    fetched_at: now,
                    sha256: RawIssuance::sha256_hex(&bytes),
                    content_type,
                    bytes,
                    etag: validators.etag,
                    last_modified: validators.last_modified,
                };
                let inserted = self.blocking(move |p| p.store.insert_issuance(&raw)).await;
                report.count_inserted(key, &shown, inserted);
            }
            Err(e) => {
                // WARN: handled; the next scheduled pull tries again.
                tracing::warn!(feed = %key, error = %e, "feed degraded");
                report.failed.push(format!("{key}: {e}"));
                let result = FetchResult::Failed {
                    kind: e.kind().to_string(),
                    message: e.to_string(),
                };
                let k = key.to_string();
                let _ = self
                    .blocking(move |p| p.store.record_fetch(&k, now, &result))
                    .await;
            }
        }
    }

    /// Processes every pending issuance, oldest first; returns how many and the ids of
    /// the versions published. Blocking. Failures are recorded on the issuance and the
    /// feed; they do not stop the others.
    pub fn process_pending(&self) -> (usize, Vec<String>, Vec<String>) {
        self.process_pending_for(None)
    }

    /// [`Pipeline::process_pending`], reporting only what belongs to feed `own` (its
    /// name, or its per-storm keys "name:STORM"). Every pending issuance is still
    /// processed, whoever fetched it (a cycle recovers what another left pending), but
    /// another feed's version or failure is that feed's news: counted in this cycle's
    /// report, it would mark this feed degraded and hold back its expiry.
    pub fn process_pending_for(&self, own: Option<&str>) -> (usize, Vec<String>, Vec<String>) {
        let mine = |key: &str| {
            own.is_none_or(|f| key == f || key.strip_prefix(f).is_some_and(|r| r.starts_with(':')))
        };
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let pending = match self.store.pending_issuances() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "reading pending issuances failed");
                return (0, Vec::new(), vec![format!("store: {e}")]);
            }
        };
        let mut published = Vec::new();
        let mut failed = Vec::new();
        let mut n = 0;
        for iss in pending {
            let own = mine(&iss.raw.feed);
            n += usize::from(own);
            match self.process_issuance(&iss) {
                Ok(ids) if own => published.extend(ids),
                Ok(ids) => {
                    if !ids.is_empty() {
                        tracing::info!(
                            feed = %iss.raw.feed,
                            versions = ?ids,
                            "published (left pending by its feed's own cycle)"
                        );
                    }
                }
                Err(e @ (ProcessError::Store(_) | ProcessError::Outbox(_))) => {
                    // Left pending: the next cycle (or restart) tries again.
                    // ERROR: the store or outbox failed; the issuance stays pending and is
                    // tried again, but its alert is late until the store answers.
                    tracing::error!(feed = %iss.raw.feed, issuance = iss.id, error = %e, "processing an issuance failed; left pending");
                    if own {
                        failed.push(format!("{}: issuance {}: {e}", iss.raw.feed, iss.id));
                    }
                }
                Err(e) => {
                    // WARN: a bad forecast is kept, marked failed; the feed is degraded.
                    tracing::warn!(
                        feed = %iss.raw.feed,
                        issuance = iss.id,
                        url = %iss.raw.url,
                        error = %e,
                        "feed degraded: issuance refused"
                    );
                    if own {
                        failed.push(format!("{}: issuance {}: {e}", iss.raw.feed, iss.id));
                    }
                    if let Err(se) =
                        self.store
                            .fail_issuance(iss.id, &iss.raw.feed, e.kind(), &e.to_string())
                    {
                        tracing::error!(
                            issuance = iss.id,
                            error = %se,
                            "recording the failure of an issuance failed"
                        );
                    }
                }
            }
        }
        self.refresh_current_alert();
        (n, published, failed)
    }

    /// Serves the newest active Actual alert (with any probabilities attached after it was
    /// published) as the OGC API's hazard collections (none: empty collections). Exercise
    /// and Test alerts are not "current".
    pub fn refresh_current_alert(&self) {
        self.prob.refresh_current();
    }
}
