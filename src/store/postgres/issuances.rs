//! [`crate::store::Store`] on PostgreSQL, first half: the migrations, feed health,
//! issuances, runs and counts, as async functions on the pool (run on the store's runtime
//! by `PgStore::call`, store.rs). Same behaviour as the SQLite store method for method;
//! where two replicas may race, the SQL says how it stays correct.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::migrations::{MIGRATION_LOCK, PG_MIGRATIONS};
use super::{HEALTH_COLUMNS, Inner};
use crate::store::{
    AssessmentRecord, FeedHealth, FetchResult, Inserted, IssuanceState, RawIssuance, RunRecord,
    StoreCounts, StoreError, StoredIssuance,
};

/// Parameters of a statement.
pub(super) type Params<'a> = [&'a (dyn ToSql + Sync)];

impl Inner {
    pub(super) async fn migrate(&self) -> Result<i64, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        // Replicas starting together: the first migrates, the others wait and find the
        // schema current.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| self.err(e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
        )
        .await
        .map_err(|e| self.err(e))?;
        let applied: Vec<i64> = tx
            .query("SELECT version FROM schema_migrations", &[])
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let current = applied.iter().copied().max().unwrap_or(0);
        let known = PG_MIGRATIONS.last().map_or(0, |m| m.0);
        if current > known {
            return Err(StoreError::SchemaTooNew {
                path: self.url.clone(),
                found: current,
                known,
            });
        }
        // Every migration not applied yet, in order, not only those above the highest
        // applied: numbers are given out per branch (issue 15 and issue 13 work landed 6
        // and 7 in either order), so a database may hold 7 without 6.
        for (version, name, sql) in PG_MIGRATIONS.iter().filter(|m| !applied.contains(&m.0)) {
            tx.batch_execute(sql).await.map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[version, name, &Utc::now()],
            )
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(known)
    }

    pub(super) async fn exec(
        &self,
        tx: &Transaction<'_>,
        sql: &str,
        p: &Params<'_>,
    ) -> Result<u64, StoreError> {
        tx.execute(sql, p).await.map_err(|e| self.err(e))
    }

    pub(super) async fn ensure_feed(
        &self,
        tx: &Transaction<'_>,
        feed: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            tx,
            "INSERT INTO feeds (name, state) VALUES ($1, 'unknown') ON CONFLICT (name) DO NOTHING",
            &[&feed],
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn bump_fetch_count(
        &self,
        tx: &Transaction<'_>,
        feed: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            tx,
            "INSERT INTO fetch_counts (feed, outcome, n) VALUES ($1, $2, 1)
             ON CONFLICT (feed, outcome) DO UPDATE SET n = fetch_counts.n + 1",
            &[&feed, &outcome],
        )
        .await
        .map(|_| ())
    }

    /// See the SQLite store's `degrade_for_content`.
    pub(super) async fn degrade_for_content(
        &self,
        tx: &Transaction<'_>,
        feed: &str,
        at: DateTime<Utc>,
        id: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let message = format!("still serving the content of issuance {id}, which failed: {error}");
        self.exec(
            tx,
            "UPDATE feeds SET state = 'degraded', last_attempt = $2, last_error = $3,
                last_error_kind = 'repeated_failure',
                consecutive_failures = consecutive_failures + 1
             WHERE name = $1",
            &[&feed, &at, &message],
        )
        .await?;
        self.bump_fetch_count(tx, feed, "repeated_failure").await
    }

    /// The id, state and error of the issuance `feed` delivered with this digest.
    pub(super) async fn existing(
        &self,
        tx: &Transaction<'_>,
        feed: &str,
        sha256: &str,
    ) -> Result<Option<(i64, String, Option<String>)>, StoreError> {
        let row = tx
            .query_opt(
                "SELECT id, state, error FROM issuances WHERE feed = $1 AND sha256 = $2",
                &[&feed, &sha256],
            )
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| {
            Ok((
                r.try_get(0).map_err(|e| self.err(e))?,
                r.try_get(1).map_err(|e| self.err(e))?,
                r.try_get(2).map_err(|e| self.err(e))?,
            ))
        })
        .transpose()
    }

    pub(super) async fn insert_issuance(&self, raw: &RawIssuance) -> Result<Inserted, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.ensure_feed(&tx, &raw.feed).await?;
        let at = raw.fetched_at;
        let mut existing = self.existing(&tx, &raw.feed, &raw.sha256).await?;
        let mut new_id = None;
        if existing.is_none() {
            // Another replica may store the same content at the same moment: the unique
            // (feed, sha256) makes one insert win; the other reads the winner's row.
            let row = tx
                .query_opt(
                    "INSERT INTO issuances (feed, url, fetched_at, sha256, content_type, bytes,
                        etag, last_modified, state)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')
                     ON CONFLICT (feed, sha256) DO NOTHING
                     RETURNING id",
                    &[
                        &raw.feed,
                        &raw.url,
                        &at,
                        &raw.sha256,
                        &raw.content_type,
                        &raw.bytes,
                        &raw.etag,
                        &raw.last_modified,
                    ],
                )
                .await
                .map_err(|e| self.err(e))?;
            match row {
                Some(r) => new_id = Some(r.try_get::<_, i64>(0).map_err(|e| self.err(e))?),
                None => existing = self.existing(&tx, &raw.feed, &raw.sha256).await?,
            }
        }
        let result = match (new_id, existing) {
            (Some(id), _) => {
                self.exec(
                    &tx,
                    "UPDATE feeds SET last_new_issuance = $2 WHERE name = $1",
                    &[&raw.feed, &at],
                )
                .await?;
                Inserted::New(id)
            }
            (None, Some((id, state, error))) if state == IssuanceState::Failed.as_str() => {
                Inserted::StillFailing {
                    id,
                    error: error.unwrap_or_default(),
                }
            }
            (None, Some((id, _, _))) => Inserted::Duplicate(id),
            (None, None) => {
                return Err(self.corrupt(
                    &format!("issuances of feed {}", raw.feed),
                    "the insert conflicted but no row holds the content",
                ));
            }
        };
        if let Inserted::StillFailing { id, error } = &result {
            self.degrade_for_content(&tx, &raw.feed, at, *id, error)
                .await?;
            tx.commit().await.map_err(|e| self.err(e))?;
            return Ok(result);
        }
        self.exec(
            &tx,
            "UPDATE feeds SET state = 'ok', last_attempt = $2, last_success = $2,
                last_error = NULL, last_error_kind = NULL, consecutive_failures = 0,
                etag = $3, last_modified = $4
             WHERE name = $1",
            &[&raw.feed, &at, &raw.etag, &raw.last_modified],
        )
        .await?;
        self.bump_fetch_count(&tx, &raw.feed, "fetched").await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(result)
    }

    pub(super) async fn record_fetch(
        &self,
        feed: &str,
        at: DateTime<Utc>,
        result: &FetchResult,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.ensure_feed(&tx, feed).await?;
        let still_failing = match result {
            FetchResult::NotModified => {
                let row = tx
                    .query_opt(
                        "SELECT id, state, error FROM issuances WHERE feed = $1
                         ORDER BY id DESC LIMIT 1",
                        &[&feed],
                    )
                    .await
                    .map_err(|e| self.err(e))?;
                match row {
                    Some(r) => {
                        let state: String = r.try_get(1).map_err(|e| self.err(e))?;
                        if state == IssuanceState::Failed.as_str() {
                            let error: Option<String> = r.try_get(2).map_err(|e| self.err(e))?;
                            Some((
                                r.try_get::<_, i64>(0).map_err(|e| self.err(e))?,
                                error.unwrap_or_default(),
                            ))
                        } else {
                            None
                        }
                    }
                    None => None,
                }
            }
            _ => None,
        };
        match result {
            FetchResult::NotModified if still_failing.is_some() => {
                if let Some((id, error)) = &still_failing {
                    self.degrade_for_content(&tx, feed, at, *id, error).await?;
                }
            }
            FetchResult::Fetched | FetchResult::NotModified => {
                self.exec(
                    &tx,
                    "UPDATE feeds SET state = 'ok', last_attempt = $2, last_success = $2,
                        last_error = NULL, last_error_kind = NULL, consecutive_failures = 0
                     WHERE name = $1",
                    &[&feed, &at],
                )
                .await?;
                let outcome = if matches!(result, FetchResult::NotModified) {
                    "not_modified"
                } else {
                    "fetched"
                };
                self.bump_fetch_count(&tx, feed, outcome).await?;
            }
            FetchResult::Failed { kind, message } => {
                self.exec(
                    &tx,
                    "UPDATE feeds SET state = 'degraded', last_attempt = $2, last_error = $3,
                        last_error_kind = $4, consecutive_failures = consecutive_failures + 1
                     WHERE name = $1",
                    &[&feed, &at, message, kind],
                )
                .await?;
                self.bump_fetch_count(&tx, feed, kind).await?;
            }
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    pub(super) async fn all_feed_health(&self) -> Result<Vec<FeedHealth>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!("SELECT {HEALTH_COLUMNS} FROM feeds ORDER BY name"),
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.read_health(r)).collect()
    }

    pub(super) async fn issuances(
        &self,
        sql: &str,
        p: &Params<'_>,
    ) -> Result<Vec<StoredIssuance>, StoreError> {
        let c = self.conn().await?;
        let rows = c.query(sql, p).await.map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.read_issuance(r)).collect()
    }

    pub(super) async fn forecasts_since(
        &self,
        feed: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT i.id, a.record FROM issuances i LEFT JOIN assessments a ON a.issuance_id = i.id
                 WHERE (i.feed = $1 OR left(i.feed, length($1) + 1) = $1 || ':')
                   AND i.state = 'processed' AND i.fetched_at > $2",
                &[&feed, &since],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
            let record: Option<String> = r.try_get(1).map_err(|e| self.err(e))?;
            let reference = match record {
                Some(json) => {
                    serde_json::from_str::<AssessmentRecord>(&json)
                        .map_err(|e| self.corrupt(&format!("assessments of issuance {id}"), e))?
                        .reference_time
                }
                None => None,
            };
            out.push(reference);
        }
        Ok(out)
    }

    pub(super) async fn fail_issuance(
        &self,
        id: i64,
        feed: &str,
        kind: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.ensure_feed(&tx, feed).await?;
        self.exec(
            &tx,
            "UPDATE issuances SET state = 'failed', error = $2, processed_at = $3 WHERE id = $1",
            &[&id, &error, &Utc::now()],
        )
        .await?;
        self.exec(
            &tx,
            "UPDATE feeds SET state = 'degraded', last_error = $2, last_error_kind = $3,
                consecutive_failures = consecutive_failures + 1
             WHERE name = $1",
            &[&feed, &error, &kind],
        )
        .await?;
        self.bump_fetch_count(&tx, feed, kind).await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    pub(super) async fn begin_run(&self, feed: &str, at: DateTime<Utc>) -> Result<i64, StoreError> {
        let c = self.conn().await?;
        c.query_one(
            "INSERT INTO runs (feed, started_at, outcome) VALUES ($1, $2, 'running') RETURNING id",
            &[&feed, &at],
        )
        .await
        .map_err(|e| self.err(e))?
        .try_get(0)
        .map_err(|e| self.err(e))
    }

    pub(super) async fn finish_run(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE runs SET finished_at = $2, outcome = $3, detail = $4 WHERE id = $1",
            &[&id, &at, &outcome, &detail.to_string()],
        )
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(super) async fn last_run(&self) -> Result<Option<RunRecord>, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT id, feed, started_at, finished_at, outcome, detail FROM runs
                 WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| {
            let detail: String = r.try_get(5).map_err(|e| self.err(e))?;
            Ok(RunRecord {
                id: r.try_get(0).map_err(|e| self.err(e))?,
                feed: r.try_get(1).map_err(|e| self.err(e))?,
                started_at: r.try_get(2).map_err(|e| self.err(e))?,
                finished_at: r.try_get(3).map_err(|e| self.err(e))?,
                outcome: r.try_get(4).map_err(|e| self.err(e))?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .transpose()
    }

    pub(super) async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let c = self.conn().await?;
        let q2 = async |sql: &str| -> Result<Vec<(String, i64)>, StoreError> {
            let rows = c.query(sql, &[]).await.map_err(|e| self.err(e))?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get(0).map_err(|e| self.err(e))?,
                        r.try_get(1).map_err(|e| self.err(e))?,
                    ))
                })
                .collect()
        };
        let q3 = async |sql: &str| -> Result<Vec<(String, String, i64)>, StoreError> {
            let rows = c.query(sql, &[]).await.map_err(|e| self.err(e))?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get(0).map_err(|e| self.err(e))?,
                        r.try_get(1).map_err(|e| self.err(e))?,
                        r.try_get(2).map_err(|e| self.err(e))?,
                    ))
                })
                .collect()
        };
        Ok(StoreCounts {
            fetches: q3("SELECT feed, outcome, n FROM fetch_counts ORDER BY feed, outcome").await?,
            runs: q2("SELECT outcome, COUNT(*) FROM runs GROUP BY outcome ORDER BY outcome")
                .await?,
            alerts: q3(
                "SELECT msg_type, COALESCE(max_level, 'none'), COUNT(*) FROM alerts
                 WHERE status = 'Actual' GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .await?,
            issuances_by_state: q2(
                "SELECT state, COUNT(*) FROM issuances GROUP BY state ORDER BY state",
            )
            .await?,
        })
    }
}
