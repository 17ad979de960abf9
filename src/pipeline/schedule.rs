//! The cron loop: one tokio task per enabled feed sleeps until the feed's next fire time
//! (the `cron` crate computes it, UTC) and runs one cycle. A cycle that overruns its next
//! fire time skips it rather than queueing runs; a feed never runs twice at once.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;

use super::Pipeline;
use crate::config::FeedConfig;

/// Seconds between two fire times of a schedule (the first two upcoming), for
/// staleness; `None` when the schedule never fires again.
pub fn interval_s(schedule: &cron::Schedule) -> Option<i64> {
    let mut up = schedule.upcoming(Utc);
    let a = up.next()?;
    let b = up.next()?;
    Some((b - a).num_seconds().max(1))
}

/// Starts one loop per enabled feed; they stop when `shutdown` turns true.
pub fn spawn_feed_loops(
    pipeline: &Arc<Pipeline>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    pipeline
        .cfg
        .feeds
        .iter()
        .filter(|f| f.enabled)
        .map(|f| tokio::spawn(feed_loop(Arc::clone(pipeline), f.clone(), shutdown.clone())))
        .collect()
}

async fn feed_loop(p: Arc<Pipeline>, feed: FeedConfig, mut shutdown: watch::Receiver<bool>) {
    let schedule = match feed.schedule() {
        Ok(s) => s,
        Err(e) => {
            // Validated at start; only reachable if the config changed under us.
            // ERROR: this feed is never pulled.
            tracing::error!(feed = %feed.name, error = %e, "the feed's schedule is not valid: not pulled");
            return;
        }
    };
    loop {
        let Some(next) = schedule.upcoming(Utc).next() else {
            // WARN: what the schedule asked for is done; the feed is not pulled again.
            tracing::warn!(feed = %feed.name, "the feed's schedule fires no more: not pulled again");
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let r = p.run_feed(&feed).await;
        // INFO when the cycle brought something (or failed: its failures were logged at
        // WARN or ERROR as they happened); a quiet cycle is a detail.
        let eventful = !r.failed.is_empty() || !r.published.is_empty() || r.fetched > 0;
        macro_rules! cycle {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    feed = %feed.name,
                    outcome = r.outcome(),
                    new = r.fetched,
                    unchanged = r.not_modified,
                    duplicate = r.duplicates,
                    processed = r.processed,
                    published = ?r.published,
                    "feed cycle"
                )
            };
        }
        if eventful {
            cycle!(tracing::Level::INFO);
        } else {
            cycle!(tracing::Level::DEBUG);
        }
    }
}
