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
            eprintln!("aviso: ERROR: {e}");
            return;
        }
    };
    loop {
        let Some(next) = schedule.upcoming(Utc).next() else {
            eprintln!("aviso: feed {}: schedule fires no more", feed.name);
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
        if !r.failed.is_empty() || !r.published.is_empty() || r.fetched > 0 {
            eprintln!(
                "aviso: feed {}: {} (new {}, unchanged {}, duplicate {}, processed {}, published {:?})",
                feed.name,
                r.outcome(),
                r.fetched,
                r.not_modified,
                r.duplicates,
                r.processed,
                r.published
            );
        }
    }
}
