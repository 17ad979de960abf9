//! [`crate::store::notify::OutboxStore`] on PostgreSQL, as async functions on the pool (the
//! synchronous trait is in notify.rs): the `outbox` and `outbox_attempts` tables of
//! migration 3. Same behaviour as the SQLite store (src/store/sqlite/outbox.rs).
//!
//! Several replicas: a claim is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
//! LOCKED)`, so concurrent claimers take disjoint rows (a row another claimer has locked is
//! skipped, one it claimed and committed no longer matches: READ COMMITTED re-checks the
//! condition on the row's newest version before locking it); each claim holds a lease
//! (`lease_until`), and a row whose lease lapsed (its replica died) is claimed again and
//! sent with the same idempotency key. A version and its messages are written in one
//! transaction (`complete_issuance_enqueue`, `publish_alert_enqueue`).
//!
//! Must not depend on the pipeline or the API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio_postgres::{Row, Transaction};

use super::Inner;
use crate::alerts::levels::Level;
use crate::notify::dlr::{DeliveryReport, DlrState};
use crate::notify::outbound::{Outbound, Planned};
use crate::notify::select::{LastSent, NoticeKind};
use crate::notify::subscriber::ChannelKind;
use crate::store::notify::{
    AttemptOutcome, AttemptRecord, DeliveryStatus, DlrRecorded, OutboxRow, OutboxState,
};
use crate::store::{AssessmentRecord, NewAlert, StoreError};

const OUTBOX_COLUMNS: &str = "id, message, event_id, alert_id, version, state, attempts, \
    next_attempt_at, lease_until, created_at, delivered_at, gateway_id, last_error, notice, level, \
    dlr_state, dlr_status, dlr_reason, dlr_at";

fn level_of(s: Option<String>) -> Option<Level> {
    s.and_then(|s| Level::ALL.into_iter().find(|l| l.name_en() == s))
}

impl Inner {
    fn read_outbox(&self, r: &Row) -> Result<OutboxRow, StoreError> {
        let get_s =
            |i: usize| -> Result<String, StoreError> { r.try_get(i).map_err(|e| self.err(e)) };
        let get_o = |i: usize| -> Result<Option<String>, StoreError> {
            r.try_get(i).map_err(|e| self.err(e))
        };
        let get_t = |i: usize| -> Result<Option<DateTime<Utc>>, StoreError> {
            r.try_get(i).map_err(|e| self.err(e))
        };
        let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
        let message: Outbound = serde_json::from_str(&get_s(1)?)
            .map_err(|e| self.corrupt(&format!("outbox {id}"), e))?;
        let state = get_s(5)?;
        let notice = get_s(13)?;
        let version: i64 = r.try_get(4).map_err(|e| self.err(e))?;
        let attempts: i64 = r.try_get(6).map_err(|e| self.err(e))?;
        let delivery = match (get_o(15)?.as_deref().and_then(DlrState::parse), get_o(16)?) {
            (Some(state), Some(status)) => Some(DeliveryStatus {
                state,
                status,
                reason: get_o(17)?,
                at: get_t(18)?.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(OutboxRow {
            delivery,
            notice: NoticeKind::parse(&notice).ok_or_else(|| {
                self.corrupt(&format!("outbox {id}"), format!("notice {notice:?}"))
            })?,
            level: level_of(get_o(14)?),
            message,
            event_id: get_s(2)?,
            alert_id: get_s(3)?,
            version: u32::try_from(version)
                .map_err(|e| self.corrupt(&format!("outbox {id}"), e))?,
            state: OutboxState::parse(&state)
                .ok_or_else(|| self.corrupt(&format!("outbox {id}"), format!("state {state:?}")))?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            next_attempt_at: get_t(7)?.unwrap_or_default(),
            lease_until: get_t(8)?,
            created_at: get_t(9)?.unwrap_or_default(),
            delivered_at: get_t(10)?,
            gateway_id: get_o(11)?,
            last_error: get_o(12)?,
            id,
        })
    }

    /// Writes planned messages inside the caller's transaction; how many were new.
    pub(super) async fn enqueue_tx(
        &self,
        tx: &Transaction<'_>,
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let stmt = tx
            .prepare(
                "INSERT INTO outbox (idempotency_key, subscriber_id, event_id, alert_id, version,
                    channel, notice, level, alert_sent, message, state, attempts, next_attempt_at,
                    created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11)
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut n = 0;
        for p in planned {
            let m = &p.outbound;
            let message = serde_json::to_string(m)
                .map_err(|e| self.corrupt(&format!("outbox {}", m.idempotency_key), e))?;
            n += tx
                .execute(
                    &stmt,
                    &[
                        &m.idempotency_key,
                        &m.subscriber_id,
                        &p.event_id,
                        &p.alert_id,
                        &i64::from(p.version),
                        &m.kind().as_str(),
                        &p.notice.as_str(),
                        &p.level.map(|l| l.name_en()),
                        &p.alert_sent,
                        &message,
                        &now,
                    ],
                )
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) async fn last_sent(
        &self,
        event_id: &str,
        before_version: u32,
    ) -> Result<BTreeMap<String, LastSent>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT subscriber_id, level, alert_sent FROM outbox
                 WHERE event_id = $1 AND version < $2 AND state != 'failed'
                 ORDER BY subscriber_id, version",
                &[&event_id, &i64::from(before_version)],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for r in rows {
            // Ordered by version: the last one written wins.
            out.insert(
                r.try_get(0).map_err(|e| self.err(e))?,
                LastSent {
                    level: level_of(r.try_get(1).map_err(|e| self.err(e))?),
                    at: r.try_get(2).map_err(|e| self.err(e))?,
                },
            );
        }
        Ok(out)
    }

    /// Messages alone, or with the version they belong to (`with`): one transaction.
    pub(super) async fn enqueue(
        &self,
        with: Option<&NewAlert>,
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        if let Some(alert) = with {
            self.insert_alert(&tx, alert).await?;
        }
        let n = self.enqueue_tx(&tx, planned, now).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// A version (with its issuance's assessments) and its messages: one transaction.
    pub(super) async fn complete_enqueue(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.complete_issuance_tx(&tx, issuance_id, assessments, alerts)
            .await?;
        let n = self.enqueue_tx(&tx, planned, now).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n)
    }

    pub(super) async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_s: f64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let lease_until = now + chrono::Duration::milliseconds((lease_s * 1000.0).round() as i64);
        let c = self.conn().await?;
        // One statement, its own transaction: the rows it returns are this replica's until
        // `lease_until`.
        let rows = c
            .query(
                &format!(
                    "UPDATE outbox SET state = 'sending', lease_until = $2, attempts = attempts + 1
                     WHERE id IN (
                        SELECT id FROM outbox
                        WHERE (state = 'pending' AND next_attempt_at <= $1)
                           OR (state = 'sending' AND lease_until <= $1)
                        ORDER BY next_attempt_at, id LIMIT $3
                        FOR UPDATE SKIP LOCKED)
                     RETURNING {OUTBOX_COLUMNS}"
                ),
                &[&now, &lease_until, &i64::from(limit)],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = rows
            .iter()
            .map(|r| self.read_outbox(r))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    pub(super) async fn record_attempt(&self, a: &AttemptRecord) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
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
        self.exec(
            &tx,
            "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, finished_at, outcome,
                status_code, gateway_id, answer)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &a.outbox_id,
                &i64::from(a.attempt),
                &a.started_at,
                &a.finished_at,
                &outcome,
                &code.map(i32::from),
                &gateway_id,
                &answer,
            ],
        )
        .await?;
        match &a.outcome {
            AttemptOutcome::Delivered { gateway_id, .. } => {
                self.exec(
                    &tx,
                    "UPDATE outbox SET state = 'delivered', delivered_at = $2, gateway_id = $3,
                        lease_until = NULL, last_error = NULL WHERE id = $1",
                    &[&a.outbox_id, &a.finished_at, gateway_id],
                )
                .await?
            }
            AttemptOutcome::Retry {
                error,
                next_attempt_at,
                ..
            } => {
                // Only a claimed message goes back to the queue: one failed meanwhile (an
                // opt-out, an erasure) stays failed.
                self.exec(
                    &tx,
                    "UPDATE outbox SET state = 'pending', next_attempt_at = $2, lease_until = NULL,
                        last_error = $3 WHERE id = $1 AND state = 'sending'",
                    &[&a.outbox_id, next_attempt_at, error],
                )
                .await?
            }
            AttemptOutcome::Failed { error, .. } => {
                self.exec(
                    &tx,
                    "UPDATE outbox SET state = 'failed', lease_until = NULL, last_error = $2
                     WHERE id = $1 AND state != 'delivered'",
                    &[&a.outbox_id, error],
                )
                .await?
            }
        };
        tx.commit().await.map_err(|e| self.err(e))
    }

    pub(super) async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let c = self.conn().await?;
        c.query_one(
            "SELECT LEAST(
                (SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'),
                (SELECT MIN(lease_until) FROM outbox WHERE state = 'sending'))",
            &[],
        )
        .await
        .map_err(|e| self.err(e))?
        .try_get(0)
        .map_err(|e| self.err(e))
    }

    pub(super) async fn outbox(
        &self,
        event_id: Option<&str>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox
                     WHERE $1::text IS NULL OR event_id = $1 ORDER BY id"
                ),
                &[&event_id],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.read_outbox(r)).collect()
    }

    pub(super) async fn attempts(&self, outbox_id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT attempt, started_at, finished_at, outcome, status_code, gateway_id, answer
                 FROM outbox_attempts WHERE outbox_id = $1 ORDER BY id",
                &[&outbox_id],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            let attempt: i64 = r.try_get(0).map_err(|e| self.err(e))?;
            let started_at: DateTime<Utc> = r.try_get(1).map_err(|e| self.err(e))?;
            let finished_at: DateTime<Utc> = r.try_get(2).map_err(|e| self.err(e))?;
            let outcome: String = r.try_get(3).map_err(|e| self.err(e))?;
            let code: Option<i32> = r.try_get(4).map_err(|e| self.err(e))?;
            let code = code.and_then(|c| u16::try_from(c).ok());
            let gw: Option<String> = r.try_get(5).map_err(|e| self.err(e))?;
            let answer: String = r.try_get(6).map_err(|e| self.err(e))?;
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
                attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                started_at,
                finished_at,
                outcome,
            });
        }
        Ok(out)
    }

    /// Rows of `sql` as (key, key, count): the GROUP BY counts that /metrics reports.
    pub(super) async fn grouped_counts(
        &self,
        sql: &str,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let c = self.conn().await?;
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
    }

    pub(super) async fn outbox_counts(
        &self,
    ) -> Result<Vec<(ChannelKind, OutboxState, i64)>, StoreError> {
        let rows = self
            .grouped_counts(
                "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state ORDER BY 1, 2",
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(ch, st, n)| Some((ChannelKind::parse(&ch)?, OutboxState::parse(&st)?, n)))
            .collect())
    }

    pub(super) async fn attempt_counts(
        &self,
    ) -> Result<Vec<(ChannelKind, String, i64)>, StoreError> {
        let rows = self
            .grouped_counts(
                "SELECT o.channel, a.outcome, COUNT(*) FROM outbox_attempts a
                 JOIN outbox o ON o.id = a.outbox_id GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(ch, outcome, n)| Some((ChannelKind::parse(&ch)?, outcome, n)))
            .collect())
    }

    pub(super) async fn record_delivery_report(
        &self,
        report: &DeliveryReport,
        now: DateTime<Utc>,
    ) -> Result<Option<DlrRecorded>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        // The newest SMS with that id (or, for gateways that report by the client's
        // reference, idempotency key), locked: two replicas receiving reports on the same
        // message apply them one after the other.
        let found = tx
            .query_opt(
                "SELECT id, idempotency_key, message, dlr_state FROM outbox
                 WHERE channel = 'sms' AND (gateway_id = $1 OR idempotency_key = $1)
                 ORDER BY id DESC LIMIT 1 FOR UPDATE",
                &[&report.gateway_id],
            )
            .await
            .map_err(|e| self.err(e))?;
        let Some(r) = found else {
            return Ok(None);
        };
        let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
        let key: String = r.try_get(1).map_err(|e| self.err(e))?;
        let message: String = r.try_get(2).map_err(|e| self.err(e))?;
        let current: Option<String> = r.try_get(3).map_err(|e| self.err(e))?;
        let rec = DlrRecorded::of_report(id, key, &message, current.as_deref(), report);
        if !rec.applied {
            return Ok(Some(rec));
        }
        self.exec(
            &tx,
            "UPDATE outbox SET dlr_state = $2, dlr_status = $3, dlr_reason = $4, dlr_at = $5
             WHERE id = $1",
            &[&id, &report.state.as_str(), &rec.status, &rec.reason, &now],
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Some(rec))
    }

    pub(super) async fn delivery_report_counts(
        &self,
    ) -> Result<Vec<(Option<DlrState>, i64)>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT dlr_state, COUNT(*) FROM outbox
                 WHERE channel = 'sms' AND (state = 'delivered' OR dlr_state IS NOT NULL)
                 GROUP BY 1 ORDER BY 1",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            let state: Option<String> = r.try_get(0).map_err(|e| self.err(e))?;
            let n: i64 = r.try_get(1).map_err(|e| self.err(e))?;
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
