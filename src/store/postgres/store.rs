//! [`Store`] on PostgreSQL: the synchronous trait over the async calls of issuances.rs and
//! alerts.rs, each run on the store's runtime by [`PgStore::call`] with owned arguments.
//! tests/it/store_backends.rs runs one suite on this and on the SQLite store.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};

use super::{HEALTH_COLUMNS, ISSUANCE_COLUMNS, PgStore};
use crate::store::{
    AlertFilter, AlertRecord, AlertSummary, AssessmentRecord, EventSummary, FeedHealth, FeedLease,
    FetchResult, Inserted, NewAlert, RawIssuance, RunRecord, ServedDocument, Store, StoreCounts,
    StoreError, StoredIssuance,
};

impl Store for PgStore {
    /// A session advisory lock per feed name, held on a connection taken out of the pool
    /// for the cycle: released when the lease drops, and by the server when the holder's
    /// session ends (a killed process closes its socket at once; a vanished host is found
    /// by the TCP keepalives set in `PgStore::open`).
    fn lease_feed(&self, feed: &str) -> Result<Option<FeedLease>, StoreError> {
        let key = format!("aviso.feed:{feed}");
        let key2 = key.clone();
        let handle = self.handle()?;
        let held = self.call(|s| async move {
            let c = s.conn().await?;
            let got: bool = c
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                    &[&key2],
                )
                .await
                .map_err(|e| s.err(e))?
                .try_get(0)
                .map_err(|e| s.err(e))?;
            Ok(got.then_some(c))
        })?;
        Ok(held.map(|c| {
            FeedLease::new(move || {
                handle.spawn(async move {
                    let unlocked = c
                        .execute(
                            "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                            &[&key],
                        )
                        .await;
                    if unlocked.is_err() {
                        // Never give the pool a connection that may still hold the lock:
                        // closing it makes the server release it.
                        drop(deadpool_postgres::Object::take(c));
                    }
                });
            })
        }))
    }

    fn migrate(&self) -> Result<i64, StoreError> {
        self.call(|s| async move { s.migrate().await })
    }

    fn insert_issuance(&self, raw: &RawIssuance) -> Result<Inserted, StoreError> {
        let raw = raw.clone();
        self.call(|s| async move { s.insert_issuance(&raw).await })
    }

    fn record_fetch(
        &self,
        feed: &str,
        at: DateTime<Utc>,
        result: &FetchResult,
    ) -> Result<(), StoreError> {
        let (feed, result) = (feed.to_string(), result.clone());
        self.call(|s| async move { s.record_fetch(&feed, at, &result).await })
    }

    fn feed_health(&self, feed: &str) -> Result<Option<FeedHealth>, StoreError> {
        let feed = feed.to_string();
        self.call(|s| async move {
            let c = s.conn().await?;
            let row = c
                .query_opt(
                    &format!("SELECT {HEALTH_COLUMNS} FROM feeds WHERE name = $1"),
                    &[&feed],
                )
                .await
                .map_err(|e| s.err(e))?;
            row.map(|r| s.read_health(&r)).transpose()
        })
    }

    fn all_feed_health(&self) -> Result<Vec<FeedHealth>, StoreError> {
        self.call(|s| async move { s.all_feed_health().await })
    }

    fn pending_issuances(&self) -> Result<Vec<StoredIssuance>, StoreError> {
        self.call(|s| async move {
            s.issuances(
                &format!(
                    "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE state = 'pending' ORDER BY id"
                ),
                &[],
            )
            .await
        })
    }

    fn issuance(&self, id: i64) -> Result<Option<StoredIssuance>, StoreError> {
        self.call(|s| async move {
            let sql = format!("SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE id = $1");
            Ok(s.issuances(&sql, &[&id]).await?.pop())
        })
    }

    fn latest_processed_issuance(&self, feed: &str) -> Result<Option<StoredIssuance>, StoreError> {
        let feed = feed.to_string();
        self.call(|s| async move {
            let sql = format!(
                "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE feed = $1 AND state = 'processed'
                 ORDER BY id DESC LIMIT 1"
            );
            Ok(s.issuances(&sql, &[&feed]).await?.pop())
        })
    }

    fn forecasts_since(
        &self,
        feed: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
        let feed = feed.to_string();
        self.call(|s| async move { s.forecasts_since(&feed, since).await })
    }

    fn last_issuance_of_event(&self, event_id: &str) -> Result<Option<StoredIssuance>, StoreError> {
        let event_id = event_id.to_string();
        self.call(|s| async move {
            let sql = format!(
                "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE id = (
                    SELECT MAX(issuance_id) FROM assessments WHERE event_id = $1)"
            );
            Ok(s.issuances(&sql, &[&event_id]).await?.pop())
        })
    }

    fn fail_issuance(
        &self,
        id: i64,
        feed: &str,
        kind: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let (feed, kind, error) = (feed.to_string(), kind.to_string(), error.to_string());
        self.call(|s| async move { s.fail_issuance(id, &feed, &kind, &error).await })
    }

    fn complete_issuance(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
    ) -> Result<(), StoreError> {
        let (assessments, alerts) = (assessments.to_vec(), alerts.to_vec());
        self.call(|s| async move {
            s.complete_issuance(issuance_id, &assessments, &alerts)
                .await
        })
    }

    fn publish_alert(&self, alert: &NewAlert) -> Result<(), StoreError> {
        let alert = alert.clone();
        self.call(|s| async move { s.publish_alert(&alert).await })
    }

    fn latest_version(&self, event_id: &str) -> Result<Option<AlertSummary>, StoreError> {
        let event_id = event_id.to_string();
        self.call(|s| async move { s.latest_version(&event_id).await })
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertSummary>, StoreError> {
        let filter = filter.clone();
        self.call(|s| async move { s.alerts(&filter).await })
    }

    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let id = id.to_string();
        self.call(|s| async move { s.alert(&id).await })
    }

    fn alert_document(&self, id: &str) -> Result<Option<ServedDocument>, StoreError> {
        let id = id.to_string();
        self.call(|s| async move { s.alert_document(&id).await })
    }

    fn alert_cap(&self, id: &str) -> Result<Option<bytes::Bytes>, StoreError> {
        let id = id.to_string();
        self.call(|s| async move { s.alert_cap(&id).await })
    }

    fn attach_document(
        &self,
        id: &str,
        document: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (id, document) = (id.to_string(), document.to_string());
        self.call(|s| async move { s.attach_document(&id, &document, at).await })
    }

    fn events(&self, include_non_actual: bool) -> Result<Vec<EventSummary>, StoreError> {
        self.call(|s| async move { s.events(include_non_actual).await })
    }

    fn event_versions(&self, event_id: &str) -> Result<Vec<AlertSummary>, StoreError> {
        let event_id = event_id.to_string();
        self.call(|s| async move { s.event_versions(&event_id).await })
    }

    fn begin_run(&self, feed: &str, at: DateTime<Utc>) -> Result<i64, StoreError> {
        let feed = feed.to_string();
        self.call(|s| async move { s.begin_run(&feed, at).await })
    }

    fn finish_run(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let (outcome, detail) = (outcome.to_string(), detail.clone());
        self.call(|s| async move { s.finish_run(id, at, &outcome, &detail).await })
    }

    fn last_run(&self) -> Result<Option<RunRecord>, StoreError> {
        self.call(|s| async move { s.last_run().await })
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.call(|s| async move { s.counts().await })
    }

    /// Versions and late documents counted: neither is ever deleted, so the pair changes
    /// whenever any replica publishes or attaches. Two index-only counts (primary keys).
    fn publication_mark(&self) -> Result<Option<String>, StoreError> {
        self.call(|s| async move {
            let c = s.conn().await?;
            let r = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM alerts), (SELECT COUNT(*) FROM alert_annexes)",
                    &[],
                )
                .await
                .map_err(|e| s.err(e))?;
            let versions: i64 = r.try_get(0).map_err(|e| s.err(e))?;
            let annexes: i64 = r.try_get(1).map_err(|e| s.err(e))?;
            Ok(Some(format!("{versions}/{annexes}")))
        })
    }
}
