//! [`Store`] on the embedded SQLite store: migrations applied, issuances kept and
//! processed, feed health, alert versions and events, runs and counts.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::*;

impl Store for SqliteStore {
    fn migrate(&self) -> Result<i64, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .map_err(|e| self.err(e))?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > known {
            return Err(StoreError::SchemaTooNew {
                path: self.path.display().to_string(),
                found: current,
                known,
            });
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.execute_batch(sql).map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(known)
    }

    fn insert_issuance(&self, raw: &RawIssuance) -> Result<Inserted, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        Self::ensure_feed(&tx, &raw.feed).map_err(|e| self.err(e))?;
        let existing: Option<(i64, String, Option<String>)> = tx
            .query_row(
                "SELECT id, state, error FROM issuances WHERE feed = ?1 AND sha256 = ?2",
                params![raw.feed, raw.sha256],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let at = ts(raw.fetched_at);
        let result = match existing {
            Some((id, state, error)) if state == IssuanceState::Failed.as_str() => {
                Inserted::StillFailing {
                    id,
                    error: error.unwrap_or_default(),
                }
            }
            Some((id, _, _)) => Inserted::Duplicate(id),
            None => {
                tx.execute(
                    "INSERT INTO issuances (feed, url, fetched_at, sha256, content_type, bytes,
                        etag, last_modified, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
                    params![
                        raw.feed,
                        raw.url,
                        at,
                        raw.sha256,
                        raw.content_type,
                        raw.bytes,
                        raw.etag,
                        raw.last_modified
                    ],
                )
                .map_err(|e| self.err(e))?;
                tx.execute(
                    "UPDATE feeds SET last_new_issuance = ?2 WHERE name = ?1",
                    params![raw.feed, at],
                )
                .map_err(|e| self.err(e))?;
                Inserted::New(tx.last_insert_rowid())
            }
        };
        if let Inserted::StillFailing { id, error } = &result {
            Self::degrade_for_content(&tx, &raw.feed, at.as_str(), *id, error)
                .map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
            return Ok(result);
        }
        // Success of the fetch; the parse may still fail later (then `fail_issuance`
        // marks the feed degraded).
        tx.execute(
            "UPDATE feeds SET state = 'ok', last_attempt = ?2, last_success = ?2,
                last_error = NULL, last_error_kind = NULL, consecutive_failures = 0,
                etag = ?3, last_modified = ?4
             WHERE name = ?1",
            params![raw.feed, at, raw.etag, raw.last_modified],
        )
        .map_err(|e| self.err(e))?;
        Self::bump_fetch_count(&tx, &raw.feed, "fetched").map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(result)
    }

    fn record_fetch(
        &self,
        feed: &str,
        at: DateTime<Utc>,
        result: &FetchResult,
    ) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        Self::ensure_feed(&tx, feed).map_err(|e| self.err(e))?;
        let at = ts(at);
        let still_failing = match result {
            FetchResult::NotModified => Self::latest_failed(&tx, feed).map_err(|e| self.err(e))?,
            _ => None,
        };
        match result {
            FetchResult::NotModified if still_failing.is_some() => {
                if let Some((id, error)) = &still_failing {
                    Self::degrade_for_content(&tx, feed, &at, *id, error)
                        .map_err(|e| self.err(e))?;
                }
            }
            FetchResult::Fetched | FetchResult::NotModified => {
                tx.execute(
                    "UPDATE feeds SET state = 'ok', last_attempt = ?2, last_success = ?2,
                        last_error = NULL, last_error_kind = NULL, consecutive_failures = 0
                     WHERE name = ?1",
                    params![feed, at],
                )
                .map_err(|e| self.err(e))?;
                let outcome = if matches!(result, FetchResult::NotModified) {
                    "not_modified"
                } else {
                    "fetched"
                };
                Self::bump_fetch_count(&tx, feed, outcome).map_err(|e| self.err(e))?;
            }
            FetchResult::Failed { kind, message } => {
                tx.execute(
                    "UPDATE feeds SET state = 'degraded', last_attempt = ?2, last_error = ?3,
                        last_error_kind = ?4, consecutive_failures = consecutive_failures + 1
                     WHERE name = ?1",
                    params![feed, at, message, kind],
                )
                .map_err(|e| self.err(e))?;
                Self::bump_fetch_count(&tx, feed, kind).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn feed_health(&self, feed: &str) -> Result<Option<FeedHealth>, StoreError> {
        Ok(self.all_feed_health()?.into_iter().find(|h| h.feed == feed))
    }

    fn all_feed_health(&self) -> Result<Vec<FeedHealth>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT name, state, last_attempt, last_success, last_new_issuance, last_error,
                    last_error_kind, consecutive_failures, etag, last_modified
                 FROM feeds ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let t = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
                    Ok(r.get::<_, Option<String>>(i)?.as_deref().and_then(parse_ts))
                };
                Ok(FeedHealth {
                    feed: r.get(0)?,
                    state: feed_state(&r.get::<_, String>(1)?),
                    last_attempt: t(2)?,
                    last_success: t(3)?,
                    last_new_issuance: t(4)?,
                    last_error: r.get(5)?,
                    last_error_kind: r.get(6)?,
                    consecutive_failures: r.get(7)?,
                    etag: r.get(8)?,
                    last_modified: r.get(9)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn pending_issuances(&self) -> Result<Vec<StoredIssuance>, StoreError> {
        let c = self.writer();
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE state = 'pending' ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], Self::read_issuance)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn issuance(&self, id: i64) -> Result<Option<StoredIssuance>, StoreError> {
        let c = self.reader();
        c.query_row(
            &format!("SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE id = ?1"),
            params![id],
            Self::read_issuance,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn latest_processed_issuance(&self, feed: &str) -> Result<Option<StoredIssuance>, StoreError> {
        let c = self.reader();
        c.query_row(
            &format!(
                "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE feed = ?1 AND state = 'processed'
                 ORDER BY id DESC LIMIT 1"
            ),
            params![feed],
            Self::read_issuance,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn last_issuance_of_event(&self, event_id: &str) -> Result<Option<StoredIssuance>, StoreError> {
        let c = self.reader();
        c.query_row(
            &format!(
                "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE id = (
                    SELECT MAX(issuance_id) FROM assessments WHERE event_id = ?1)"
            ),
            params![event_id],
            Self::read_issuance,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn forecasts_since(
        &self,
        feed: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
        let c = self.writer();
        let mut stmt = c
            .prepare_cached(
                "SELECT i.id, a.record FROM issuances i LEFT JOIN assessments a ON a.issuance_id = i.id
                 WHERE (i.feed = ?1 OR substr(i.feed, 1, length(?1) + 1) = ?1 || ':')
                   AND i.state = 'processed' AND i.fetched_at > ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![feed, ts(since)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, record) = row.map_err(|e| self.err(e))?;
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

    fn fail_issuance(
        &self,
        id: i64,
        feed: &str,
        kind: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        Self::ensure_feed(&tx, feed).map_err(|e| self.err(e))?;
        let now = ts(Utc::now());
        tx.execute(
            "UPDATE issuances SET state = 'failed', error = ?2, processed_at = ?3 WHERE id = ?1",
            params![id, error, now],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "UPDATE feeds SET state = 'degraded', last_error = ?2, last_error_kind = ?3,
                consecutive_failures = consecutive_failures + 1
             WHERE name = ?1",
            params![feed, error, kind],
        )
        .map_err(|e| self.err(e))?;
        Self::bump_fetch_count(&tx, feed, kind).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    fn complete_issuance(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
    ) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.complete_issuance_tx(&tx, issuance_id, assessments, alerts)?;
        tx.commit().map_err(|e| self.err(e))
    }

    fn publish_alert(&self, alert: &NewAlert) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.insert_alert(&tx, alert)?;
        tx.commit().map_err(|e| self.err(e))
    }

    fn latest_version(&self, event_id: &str) -> Result<Option<AlertSummary>, StoreError> {
        // From the writer: the pipeline decides the next version from this, and must see
        // its own last commit.
        let c = self.writer();
        let row: Option<(String, String)> = c
            .query_row(
                "SELECT a.id, a.summary FROM events e JOIN alerts a ON a.id = e.latest_alert
                 WHERE e.event_id = ?1",
                params![event_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|(id, json)| {
            let mut s = self.summary_of(&id, &json)?;
            s.active = !s.msg_type.withdraws();
            Ok(s)
        })
        .transpose()
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertSummary>, StoreError> {
        let c = self.reader();
        let sql = if filter.active_only {
            "SELECT a.id, a.summary FROM alerts a JOIN events e ON e.latest_alert = a.id
             WHERE e.active = 1 ORDER BY a.sent DESC, a.version DESC, a.id"
        } else {
            "SELECT id, summary FROM alerts ORDER BY sent DESC, version DESC, id"
        };
        let mut stmt = c.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (id, json) in rows {
            let s = self.summary_of(&id, &json)?;
            if filter.matches(&s) {
                out.push(s);
            }
        }
        self.with_active(&c, out)
    }

    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let c = self.reader();
        type Row = (String, String, String, Option<String>, Option<String>);
        let row: Option<Row> = c
            .query_row(
                "SELECT a.summary, a.document, a.cap, x.document, x.attached_at
                 FROM alerts a LEFT JOIN alert_annexes x ON x.alert_id = a.id
                 WHERE a.id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((json, document, cap, annex, attached_at)) = row else {
            return Ok(None);
        };
        let summary = self.summary_of(id, &json)?;
        let summary = self
            .with_active(&c, vec![summary])?
            .pop()
            .ok_or_else(|| self.corrupt(id, "summary vanished"))?;
        let annex = match (annex, attached_at) {
            (Some(document), Some(at)) => Some(Annex {
                document,
                attached_at: DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| self.corrupt(id, format!("annex time {at:?}: {e}")))?
                    .with_timezone(&Utc),
            }),
            _ => None,
        };
        Ok(Some(AlertRecord {
            summary,
            document,
            cap,
            annex,
        }))
    }

    fn attach_document(
        &self,
        id: &str,
        document: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let c = self.writer();
        let n = c
            .execute(
                "INSERT INTO alert_annexes (alert_id, document, attached_at)
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM alerts WHERE id = ?1)
                 ON CONFLICT (alert_id) DO NOTHING",
                params![id, document, ts(at)],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    fn events(&self, include_non_actual: bool) -> Result<Vec<EventSummary>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT e.event_id, e.versions, e.active, a.id, a.summary, e.status
                 FROM events e JOIN alerts a ON a.id = e.latest_alert
                 ORDER BY e.active DESC, a.sent DESC, e.event_id",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<(String, u32, bool, String, String, String)> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (event_id, versions, active, id, json, status) in rows {
            if !include_non_actual && status != CapStatus::Actual.as_str() {
                continue;
            }
            let mut latest = self.summary_of(&id, &json)?;
            latest.active = active;
            out.push(EventSummary {
                event_id,
                event_name: latest.event_name.clone(),
                hazard: latest.hazard,
                active,
                versions,
                latest,
            });
        }
        Ok(out)
    }

    fn event_versions(&self, event_id: &str) -> Result<Vec<AlertSummary>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached("SELECT id, summary FROM alerts WHERE event_id = ?1 ORDER BY version")
            .map_err(|e| self.err(e))?;
        let rows: Vec<(String, String)> = stmt
            .query_map(params![event_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let v = rows
            .iter()
            .map(|(id, json)| self.summary_of(id, json))
            .collect::<Result<Vec<_>, _>>()?;
        self.with_active(&c, v)
    }

    fn begin_run(&self, feed: &str, at: DateTime<Utc>) -> Result<i64, StoreError> {
        let c = self.writer();
        c.execute(
            "INSERT INTO runs (feed, started_at, outcome) VALUES (?1, ?2, 'running')",
            params![feed, ts(at)],
        )
        .map_err(|e| self.err(e))?;
        Ok(c.last_insert_rowid())
    }

    fn finish_run(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let c = self.writer();
        c.execute(
            "UPDATE runs SET finished_at = ?2, outcome = ?3, detail = ?4 WHERE id = ?1",
            params![id, ts(at), outcome, detail.to_string()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn last_run(&self) -> Result<Option<RunRecord>, StoreError> {
        let c = self.reader();
        c.query_row(
            "SELECT id, feed, started_at, finished_at, outcome, detail FROM runs
             WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1",
            [],
            |r| {
                let started: String = r.get(2)?;
                let finished: Option<String> = r.get(3)?;
                let detail: String = r.get(5)?;
                Ok(RunRecord {
                    id: r.get(0)?,
                    feed: r.get(1)?,
                    started_at: parse_ts(&started).unwrap_or_default(),
                    finished_at: finished.as_deref().and_then(parse_ts),
                    outcome: r.get(4)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let c = self.reader();
        let q2 = |sql: &str| -> Result<Vec<(String, i64)>, StoreError> {
            let mut stmt = c.prepare_cached(sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
        };
        let q3 = |sql: &str| self.grouped_counts_on(&c, sql);
        Ok(StoreCounts {
            fetches: q3("SELECT feed, outcome, n FROM fetch_counts ORDER BY feed, outcome")?,
            runs: q2("SELECT outcome, COUNT(*) FROM runs GROUP BY outcome ORDER BY outcome")?,
            alerts: q3(
                "SELECT msg_type, COALESCE(max_level, 'none'), COUNT(*) FROM alerts
                 WHERE status = 'Actual' GROUP BY 1, 2 ORDER BY 1, 2",
            )?,
            issuances_by_state: q2(
                "SELECT state, COUNT(*) FROM issuances GROUP BY state ORDER BY state",
            )?,
        })
    }
}
