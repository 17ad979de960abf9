//! Following a shared store (issue 15 item 2: "a version published through one replica
//! is visible through all within a second"). What the API reads from the store (alerts,
//! events, CAP, Atom) is read per request and needs nothing; the one thing a replica holds
//! in memory is the current alert (`store::published`, served as the OGC hazard
//! collections and the map), which the pipeline refreshes when IT publishes. On
//! PostgreSQL other replicas publish too, so each replica polls a cheap mark of what is
//! published ([`crate::store::Store::publication_mark`]) and reads the current alert
//! again when it moves.
//!
//! Polling rather than LISTEN/NOTIFY: it needs no connection of its own outside the pool,
//! nothing is missed while a connection is re-established, and two index-only counts
//! every [`FOLLOW_EVERY`] cost the database nothing that matters.
//!
//! Part of the pipeline room: the store and the current alert, nothing above.

use std::sync::Arc;
use std::time::Duration;

use super::Pipeline;

/// How often a replica looks at the shared store: half of the one second, so a
/// version is served by every replica within about 0.5 s plus the time to read it.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(500);

impl Pipeline {
    /// Until `stop` turns true: every `every`, reads the store's publication mark and,
    /// when it moved, the current alert again. Returns at once on a store with nothing to
    /// follow (SQLite). A failing store is logged once per outage and retried.
    pub async fn follow_store(
        self: Arc<Self>,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut last: Option<String> = None;
        let mut failing = false;
        loop {
            let p = Arc::clone(&self);
            let mark = tokio::task::spawn_blocking(move || p.store.publication_mark()).await;
            match mark {
                Ok(Ok(None)) => return,
                Ok(Ok(Some(m))) => {
                    failing = false;
                    if last.as_ref() != Some(&m) {
                        let p = Arc::clone(&self);
                        let _ =
                            tokio::task::spawn_blocking(move || p.refresh_current_alert()).await;
                        tracing::debug!(mark = %m, "store: publications moved, current alert read again");
                        last = Some(m);
                    }
                }
                Ok(Err(e)) => {
                    if !failing {
                        // WARN: this replica may serve an older current alert until the
                        // store answers again; the API's other reads fail on their own.
                        tracing::warn!(error = %e, "store: following other replicas' publications failed; retrying");
                    }
                    failing = true;
                }
                Err(e) => tracing::error!(error = %e, "store: the follower's task died"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
