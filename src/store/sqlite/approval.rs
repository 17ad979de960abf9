//! [`ApprovalStore`] on the embedded SQLite store: the `proposals` and `audit_log` tables
//! of migration 8. Every method is one transaction on the writer, so a decision, the
//! version it publishes, its messages and its audit row commit together.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{SqliteStore, parse_ts, ts};
use crate::notify::outbound::Planned;
use crate::store::approval::{
    ApprovalStore, AuditEntry, AuditRecord, Decision, IssuanceDone, NewProposal, OverrideRecord,
    ProposalRecord, ProposalState, Refusal,
};
use crate::store::{NewAlert, StoreError};

const PROPOSAL_COLUMNS: &str = "id, state, created_at, base, issuance_id, summary, document, \
    cap, published, edited_by, decided_by, decided_at, reason, superseded_by";

type Row = (
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    String,
    String,
    String,
    [Option<String>; 4],
    Option<i64>,
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        [r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?],
        r.get(13)?,
    ))
}

impl SqliteStore {
    fn proposal_of(&self, r: Row) -> Result<ProposalRecord, StoreError> {
        let (id, state, created, base, issuance_id, summary, document, cap, published, rest, sup) =
            r;
        let what = format!("proposals {id}");
        let [edited_by, decided_by, decided_at, reason] = rest;
        Ok(ProposalRecord {
            id,
            state: ProposalState::parse(&state)
                .ok_or_else(|| self.corrupt(&what, format!("state {state:?}")))?,
            created_at: parse_ts(&created)
                .ok_or_else(|| self.corrupt(&what, format!("time {created:?}")))?,
            base,
            issuance_id,
            alert: NewAlert {
                summary: serde_json::from_str(&summary).map_err(|e| self.corrupt(&what, e))?,
                document,
                cap,
            },
            published: serde_json::from_str(&published).map_err(|e| self.corrupt(&what, e))?,
            edited_by,
            decided_by,
            decided_at: decided_at.as_deref().and_then(parse_ts),
            reason,
            superseded_by: sup,
        })
    }

    pub(super) fn audit_tx(&self, tx: &Transaction<'_>, e: &AuditEntry) -> Result<i64, StoreError> {
        let detail = serde_json::to_string(&e.detail).map_err(|x| self.corrupt("audit_log", x))?;
        tx.execute(
            "INSERT INTO audit_log (at, actor, action, subject, reason, cap_sha256,
                document_sha256, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                ts(e.at),
                e.actor,
                e.action,
                e.subject,
                e.reason,
                e.cap_sha256,
                e.document_sha256,
                detail
            ],
        )
        .map_err(|x| self.err(x))?;
        Ok(tx.last_insert_rowid())
    }

    /// Marks the event's open proposals superseded (by `by`, when a proposal replaces
    /// them) and audits each.
    fn supersede_tx(
        &self,
        tx: &Transaction<'_>,
        event_id: &str,
        by: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let ids: Vec<i64> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id FROM proposals WHERE event_id = ?1 AND state = 'proposed'",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params![event_id], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        for id in &ids {
            tx.execute(
                "UPDATE proposals SET state = 'superseded', superseded_by = ?2, reason = ?3,
                    decided_at = ?4 WHERE id = ?1",
                params![id, by, reason, ts(now)],
            )
            .map_err(|e| self.err(e))?;
            self.audit_tx(
                tx,
                &AuditEntry::new(now, "aviso", "superseded", format!("proposal {id}"))
                    .because(Some(reason)),
            )?;
        }
        Ok(ids.len())
    }

    fn finish_issuance(
        &self,
        tx: &Transaction<'_>,
        issuance: IssuanceDone<'_>,
        alerts: &[NewAlert],
    ) -> Result<(), StoreError> {
        match issuance {
            Some((id, records)) => self.complete_issuance_tx(tx, id, records, alerts),
            None => alerts.iter().try_for_each(|a| self.insert_alert(tx, a)),
        }
    }

    fn latest_published(
        &self,
        tx: &Transaction<'_>,
        event_id: &str,
    ) -> Result<Option<String>, StoreError> {
        tx.query_row(
            "SELECT latest_alert FROM events WHERE event_id = ?1",
            params![event_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| self.err(e))
    }
}

impl ApprovalStore for SqliteStore {
    fn propose(
        &self,
        issuance: IssuanceDone<'_>,
        p: NewProposal<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let s = &p.alert.summary;
        let summary = serde_json::to_string(s).map_err(|e| self.corrupt(&s.id, e))?;
        let published = serde_json::to_string(p.published).map_err(|e| self.corrupt(&s.id, e))?;
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.finish_issuance(&tx, issuance, &[])?;
        // The older open proposal first (one open proposal per event, by index).
        let open: Vec<i64> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id FROM proposals WHERE event_id = ?1 AND state = 'proposed'",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params![s.event_id], |r| r.get(0))
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        tx.execute(
            "UPDATE proposals SET state = 'superseded' WHERE event_id = ?1 AND state = 'proposed'",
            params![s.event_id],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO proposals (event_id, state, created_at, base, issuance_id, summary,
                document, cap, published, edited_by)
             VALUES (?1, 'proposed', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                s.event_id,
                ts(now),
                p.base,
                issuance.map(|(id, _)| id).or(p.issuance_id),
                summary,
                p.alert.document,
                p.alert.cap,
                published,
                p.edited_by
            ],
        )
        .map_err(|e| self.err(e))?;
        let id = tx.last_insert_rowid();
        self.insert_overrides_tx(&tx, p.overrides, id, now)?;
        let reason = format!("replaced by proposal {id}");
        for old in &open {
            tx.execute(
                "UPDATE proposals SET superseded_by = ?2, reason = ?3, decided_at = ?4
                 WHERE id = ?1",
                params![old, id, reason, ts(now)],
            )
            .map_err(|e| self.err(e))?;
            self.audit_tx(
                &tx,
                &AuditEntry::new(now, "aviso", "superseded", format!("proposal {old}"))
                    .because(Some(&reason)),
            )?;
        }
        self.audit_tx(
            &tx,
            &AuditEntry::new(
                now,
                p.edited_by.unwrap_or("aviso"),
                if p.edited_by.is_some() {
                    "edited"
                } else {
                    "proposed"
                },
                format!("proposal {id}"),
            )
            .of_alert(p.alert)
            .with_detail(serde_json::json!({
                "alert": s.id,
                "event": s.event_id,
                "msg_type": s.msg_type.as_str(),
                "status": s.status.as_str(),
                "max_level": s.max_level,
                "base": p.base,
            })),
        )?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    fn publish_by_rule(
        &self,
        issuance: IssuanceDone<'_>,
        alert: &NewAlert,
        planned: &[Planned],
        audit: &[AuditEntry],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let event = &alert.summary.event_id;
        self.supersede_tx(
            &tx,
            event,
            None,
            &format!("version {} was published by rule", alert.summary.id),
            now,
        )?;
        self.finish_issuance(&tx, issuance, std::slice::from_ref(alert))?;
        let n = self.enqueue_tx(&tx, planned, now)?;
        for a in audit {
            self.audit_tx(&tx, a)?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn supersede_open(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let n = self.supersede_tx(&tx, event_id, None, reason, now)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn proposals(&self, state: Option<ProposalState>) -> Result<Vec<ProposalRecord>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT {PROPOSAL_COLUMNS} FROM proposals
                 WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![state.map(ProposalState::as_str)], row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(|r| self.proposal_of(r)).collect()
    }

    fn proposal(&self, id: i64) -> Result<Option<ProposalRecord>, StoreError> {
        let c = self.reader();
        let r = c
            .query_row(
                &format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        r.map(|r| self.proposal_of(r)).transpose()
    }

    fn latest_proposal(&self, event_id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let c = self.reader();
        let r = c
            .query_row(
                &format!(
                    "SELECT {PROPOSAL_COLUMNS} FROM proposals
                     WHERE event_id = ?1 ORDER BY id DESC LIMIT 1"
                ),
                params![event_id],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        r.map(|r| self.proposal_of(r)).transpose()
    }

    fn decide(
        &self,
        id: i64,
        decision: Decision<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<usize, Refusal>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let Some(p) = tx
            .query_row(
                &format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))?
        else {
            return Ok(Err(Refusal::NotFound { id }));
        };
        let p = self.proposal_of(p)?;
        let current = self.latest_published(&tx, &p.alert.summary.event_id)?;
        if let Some(r) = p.closed_or_stale(current.as_deref()) {
            return Ok(Err(r));
        }
        let subject = format!("proposal {id}");
        let n = match decision {
            Decision::Approve {
                actor,
                note,
                planned,
                four_eyes,
                held,
            } => {
                if let Some(r) = p.own_edit(actor, four_eyes) {
                    return Ok(Err(r));
                }
                self.insert_alert(&tx, &p.alert)?;
                let n = self.enqueue_tx(&tx, planned, now)?;
                if let Some(h) = held {
                    self.audit_tx(&tx, h)?;
                }
                tx.execute(
                    "UPDATE proposals SET state = 'published', decided_by = ?2, decided_at = ?3,
                        reason = ?4 WHERE id = ?1",
                    params![id, actor, ts(now), note],
                )
                .map_err(|e| self.err(e))?;
                self.audit_tx(
                    &tx,
                    &AuditEntry::new(now, actor, "approved", subject)
                        .because(note)
                        .of_alert(&p.alert)
                        .with_detail(serde_json::json!({
                            "alert": p.alert.summary.id,
                            "messages_queued": n,
                        })),
                )?;
                n
            }
            Decision::Reject { actor, reason } => {
                if reason.trim().is_empty() {
                    return Ok(Err(Refusal::NoReason {
                        id,
                        action: "reject",
                    }));
                }
                tx.execute(
                    "UPDATE proposals SET state = 'rejected', decided_by = ?2, decided_at = ?3,
                        reason = ?4 WHERE id = ?1",
                    params![id, actor, ts(now), reason],
                )
                .map_err(|e| self.err(e))?;
                self.audit_tx(
                    &tx,
                    &AuditEntry::new(now, actor, "rejected", subject)
                        .because(Some(reason))
                        .of_alert(&p.alert)
                        .with_detail(serde_json::json!({ "alert": p.alert.summary.id })),
                )?;
                0
            }
        };
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Ok(n))
    }

    fn overrides(&self, event_id: Option<&str>) -> Result<Vec<OverrideRecord>, StoreError> {
        self.overrides_of(event_id)
    }

    fn lift_override(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<OverrideRecord, Refusal>, StoreError> {
        self.lift(id, actor, reason, now)
    }

    fn audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let id = self.audit_tx(&tx, entry)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    fn audit_log(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT id, at, actor, action, subject, reason, cap_sha256, document_sha256,
                    detail FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        type A = (
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<A> = stmt
            .query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                },
            )
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(
                |(id, at, actor, action, subject, reason, cap, doc, detail)| {
                    let what = format!("audit_log {id}");
                    Ok(AuditRecord {
                        id,
                        entry: AuditEntry {
                            at: parse_ts(&at)
                                .ok_or_else(|| self.corrupt(&what, format!("time {at:?}")))?,
                            actor,
                            action,
                            subject,
                            reason,
                            cap_sha256: cap,
                            document_sha256: doc,
                            detail: serde_json::from_str(&detail)
                                .map_err(|e| self.corrupt(&what, e))?,
                        },
                    })
                },
            )
            .collect()
    }
}
