//! [`OutboxStore`] on the embedded SQLite store: the `outbox` and `outbox_attempts`
//! tables of migration 2 and the delivery reports of migration 4.
//!
//! Claims are one `UPDATE ... RETURNING` inside the writer's transaction, so two workers
//! (threads or processes) never claim the same message while its lease runs.
//!
//! Must not depend on the pipeline or the API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, parse_ts, ts};
use crate::alerts::levels::Level;
use crate::notify::dlr::{DeliveryReport, DlrState};
use crate::notify::outbound::{Outbound, Planned};
use crate::notify::select::{LastSent, NoticeKind};
use crate::notify::subscriber::ChannelKind;
use crate::store::StoreError;
use crate::store::notify::{
    AttemptOutcome, AttemptRecord, DeliveryStatus, DlrRecorded, OutboxRow, OutboxState, OutboxStore,
};
use crate::store::{AssessmentRecord, NewAlert};

const OUTBOX_COLUMNS: &str = "id, message, event_id, alert_id, version, state, attempts, \
    next_attempt_at, lease_until, created_at, delivered_at, gateway_id, last_error, notice, level, \
    dlr_state, dlr_status, dlr_reason, dlr_at";

fn level_of(s: Option<String>) -> Option<Level> {
    s.and_then(|s| Level::ALL.into_iter().find(|l| l.name_en() == s))
}

impl SqliteStore {
    fn read_outbox(&self, row: &rusqlite::Row<'_>) -> Result<OutboxRow, StoreError> {
        let get_s =
            |i: usize| -> Result<String, StoreError> { row.get(i).map_err(|e| self.err(e)) };
        let get_o = |i: usize| -> Result<Option<String>, StoreError> {
            row.get(i).map_err(|e| self.err(e))
        };
        let id: i64 = row.get(0).map_err(|e| self.err(e))?;
        let message: Outbound = serde_json::from_str(&get_s(1)?)
            .map_err(|e| self.corrupt(&format!("outbox {id}"), e))?;
        let state = get_s(5)?;
        let notice = get_s(13)?;
        let delivery = match (get_o(15)?.as_deref().and_then(DlrState::parse), get_o(16)?) {
            (Some(state), Some(status)) => Some(DeliveryStatus {
                state,
                status,
                reason: get_o(17)?,
                at: get_o(18)?.as_deref().and_then(parse_ts).unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(OutboxRow {
            delivery,
            notice: NoticeKind::parse(&notice).ok_or_else(|| {
                self.corrupt(&format!("outbox {id}"), format!("notice {notice:?}"))
            })?,
            level: level_of(get_o(14)?),
            id,
            message,
            event_id: get_s(2)?,
            alert_id: get_s(3)?,
            version: row.get(4).map_err(|e| self.err(e))?,
            state: OutboxState::parse(&state)
                .ok_or_else(|| self.corrupt(&format!("outbox {id}"), format!("state {state:?}")))?,
            attempts: row.get(6).map_err(|e| self.err(e))?,
            next_attempt_at: parse_ts(&get_s(7)?).unwrap_or_default(),
            lease_until: get_o(8)?.as_deref().and_then(parse_ts),
            created_at: parse_ts(&get_s(9)?).unwrap_or_default(),
            delivered_at: get_o(10)?.as_deref().and_then(parse_ts),
            gateway_id: get_o(11)?,
            last_error: get_o(12)?,
        })
    }

    /// Writes planned messages inside the caller's transaction; how many were new.
    pub(super) fn enqueue_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO outbox (idempotency_key, subscriber_id, event_id, alert_id, version,
                    channel, notice, level, alert_sent, message, state, attempts, next_attempt_at,
                    created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', 0, ?11, ?11)
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .map_err(|e| self.err(e))?;
        for p in planned {
            let m = &p.outbound;
            let message = serde_json::to_string(m)
                .map_err(|e| self.corrupt(&format!("outbox {}", m.idempotency_key), e))?;
            n += stmt
                .execute(params![
                    m.idempotency_key,
                    m.subscriber_id,
                    p.event_id,
                    p.alert_id,
                    p.version,
                    m.kind().as_str(),
                    p.notice.as_str(),
                    p.level.map(|l| l.name_en()),
                    ts(p.alert_sent),
                    message,
                    ts(now),
                ])
                .map_err(|e| self.err(e))?;
        }
        Ok(n)
    }
}

impl OutboxStore for SqliteStore {
    fn last_sent(
        &self,
        event_id: &str,
        before_version: u32,
    ) -> Result<BTreeMap<String, LastSent>, StoreError> {
        let c = self.reader();
        // Latest version per subscriber; all channels of one version carry the same notice.
        let mut stmt = c
            .prepare_cached(
                "SELECT subscriber_id, level, alert_sent, version FROM outbox
                 WHERE event_id = ?1 AND version < ?2 AND state != 'failed'
                 ORDER BY subscriber_id, version",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![event_id, before_version], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (sub, level, at) = row.map_err(|e| self.err(e))?;
            let at = parse_ts(&at).ok_or_else(|| self.corrupt("outbox alert_sent", &at))?;
            // Ordered by version: the last one written wins.
            out.insert(
                sub,
                LastSent {
                    level: level_of(level),
                    at,
                },
            );
        }
        Ok(out)
    }

    fn enqueue(&self, planned: &[Planned], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let n = self.enqueue_tx(&tx, planned, now)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn complete_issuance_enqueue(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.complete_issuance_tx(&tx, issuance_id, assessments, alerts)?;
        let n = self.enqueue_tx(&tx, planned, now)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn publish_alert_enqueue(
        &self,
        alert: &NewAlert,
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.insert_alert(&tx, alert)?;
        let n = self.enqueue_tx(&tx, planned, now)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_s: f64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let lease_until = now + chrono::Duration::milliseconds((lease_s * 1000.0).round() as i64);
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        {
            let sql = format!(
                "UPDATE outbox SET state = 'sending', lease_until = ?2, attempts = attempts + 1
                 WHERE id IN (
                    SELECT id FROM outbox
                    WHERE (state = 'pending' AND next_attempt_at <= ?1)
                       OR (state = 'sending' AND lease_until <= ?1)
                    ORDER BY next_attempt_at, id LIMIT ?3)
                 RETURNING {OUTBOX_COLUMNS}"
            );
            let mut stmt = tx.prepare(&sql).map_err(|e| self.err(e))?;
            let mut rows = stmt
                .query(params![ts(now), ts(lease_until), limit])
                .map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                out.push(self.read_outbox(r)?);
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    fn record_attempt(&self, a: &AttemptRecord) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let (outcome, code, gateway_id, answer) = match &a.outcome {
            AttemptOutcome::Delivered { gateway_id, status } => {
                ("delivered", None, gateway_id.clone(), status.clone())
            }
            AttemptOutcome::Retry {
                status_code, error, ..
            } => ("retry", *status_code, None, error.clone()),
            AttemptOutcome::Failed { status_code, error } => {
                ("failed", *status_code, None, error.clone())
            }
        };
        tx.execute(
            "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, finished_at, outcome,
                status_code, gateway_id, answer)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                a.outbox_id,
                a.attempt,
                ts(a.started_at),
                ts(a.finished_at),
                outcome,
                code,
                gateway_id,
                answer
            ],
        )
        .map_err(|e| self.err(e))?;
        match &a.outcome {
            AttemptOutcome::Delivered { gateway_id, .. } => tx.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?2, gateway_id = ?3,
                    lease_until = NULL, last_error = NULL WHERE id = ?1",
                params![a.outbox_id, ts(a.finished_at), gateway_id],
            ),
            AttemptOutcome::Retry {
                error,
                next_attempt_at,
                ..
            } => tx.execute(
                // Only a claimed message goes back to the queue: one failed meanwhile (an
                // opt-out, an erasure) stays failed.
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, lease_until = NULL,
                    last_error = ?3 WHERE id = ?1 AND state = 'sending'",
                params![a.outbox_id, ts(*next_attempt_at), error],
            ),
            AttemptOutcome::Failed { error, .. } => tx.execute(
                "UPDATE outbox SET state = 'failed', lease_until = NULL, last_error = ?2
                 WHERE id = ?1 AND state != 'delivered'",
                params![a.outbox_id, error],
            ),
        }
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let c = self.reader();
        let t: Option<String> = c
            .query_row(
                "SELECT MIN(t) FROM (
                    SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'pending'
                    UNION ALL SELECT MIN(lease_until) FROM outbox WHERE state = 'sending')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(t.as_deref().and_then(parse_ts))
    }

    fn outbox(&self, event_id: Option<&str>) -> Result<Vec<OutboxRow>, StoreError> {
        let c = self.reader();
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ?1 IS NULL OR event_id = ?1 ORDER BY id"
        );
        let mut stmt = c.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![event_id]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            out.push(self.read_outbox(r)?);
        }
        Ok(out)
    }

    fn attempts(&self, outbox_id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT attempt, started_at, finished_at, outcome, status_code, gateway_id, answer
                 FROM outbox_attempts WHERE outbox_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![outbox_id], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<u16>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (attempt, started, finished, outcome, code, gw, answer) =
                row.map_err(|e| self.err(e))?;
            let started_at = parse_ts(&started).unwrap_or_default();
            let finished_at = parse_ts(&finished).unwrap_or_default();
            let outcome = match outcome.as_str() {
                "delivered" => AttemptOutcome::Delivered {
                    gateway_id: gw,
                    status: answer,
                },
                // The retry time lives on the outbox row; the attempt keeps its end.
                "retry" => AttemptOutcome::Retry {
                    status_code: code,
                    error: answer,
                    next_attempt_at: finished_at,
                },
                _ => AttemptOutcome::Failed {
                    status_code: code,
                    error: answer,
                },
            };
            out.push(AttemptRecord {
                outbox_id,
                attempt,
                started_at,
                finished_at,
                outcome,
            });
        }
        Ok(out)
    }

    fn outbox_counts(&self) -> Result<Vec<(ChannelKind, OutboxState, i64)>, StoreError> {
        let rows = self.grouped_counts(
            "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state ORDER BY 1, 2",
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(ch, st, n)| Some((ChannelKind::parse(&ch)?, OutboxState::parse(&st)?, n)))
            .collect())
    }

    fn attempt_counts(&self) -> Result<Vec<(ChannelKind, String, i64)>, StoreError> {
        let rows = self.grouped_counts(
            "SELECT o.channel, a.outcome, COUNT(*) FROM outbox_attempts a
             JOIN outbox o ON o.id = a.outbox_id GROUP BY 1, 2 ORDER BY 1, 2",
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(ch, outcome, n)| Some((ChannelKind::parse(&ch)?, outcome, n)))
            .collect())
    }

    fn record_delivery_report(
        &self,
        report: &DeliveryReport,
        now: DateTime<Utc>,
    ) -> Result<Option<DlrRecorded>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        // The newest SMS with that id: a gateway's ids are unique, but a client reference
        // (the idempotency key) is matched too, for gateways that report by it.
        let found: Option<(i64, String, String, Option<String>)> = tx
            .query_row(
                "SELECT id, idempotency_key, message, dlr_state FROM outbox
                 WHERE channel = 'sms' AND (gateway_id = ?1 OR idempotency_key = ?1)
                 ORDER BY id DESC LIMIT 1",
                params![report.gateway_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((id, key, message, current)) = found else {
            return Ok(None);
        };
        let rec = DlrRecorded::of_report(id, key, &message, current.as_deref(), report);
        if !rec.applied {
            return Ok(Some(rec));
        }
        tx.execute(
            "UPDATE outbox SET dlr_state = ?2, dlr_status = ?3, dlr_reason = ?4, dlr_at = ?5
             WHERE id = ?1",
            params![id, report.state.as_str(), rec.status, rec.reason, ts(now)],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Some(rec))
    }

    fn delivery_report_counts(&self) -> Result<Vec<(Option<DlrState>, i64)>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT dlr_state, COUNT(*) FROM outbox
                 WHERE channel = 'sms' AND (state = 'delivered' OR dlr_state IS NOT NULL)
                 GROUP BY 1 ORDER BY 1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (state, n) = row.map_err(|e| self.err(e))?;
            match state {
                None => out.push((None, n)),
                Some(s) => {
                    if let Some(st) = DlrState::parse(&s) {
                        out.push((Some(st), n));
                    }
                }
            }
        }
        Ok(out)
    }
}
