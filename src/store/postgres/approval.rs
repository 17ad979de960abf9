//! [`ApprovalStore`] on PostgreSQL: the `proposals` and `audit_log` tables of migration 4,
//! with the SQLite store's semantics (src/store/sqlite/approval.rs) method for method.
//! Every method is one transaction, so a decision, the version it publishes, its messages
//! and its audit row commit together.
//!
//! Several replicas on one database: every write about an event's proposals first takes a
//! transaction-level advisory lock on the event (`event_lock`), so proposing, publishing
//! by rule, superseding and deciding on one event run one after the other whichever
//! replica runs them (always that lock first, then rows: no lock-order deadlock). A
//! decision also locks its proposal row (`FOR UPDATE`) and changes it only while it is
//! still `proposed` (a conditional UPDATE whose count is checked), so two approvals of the
//! same proposal give one decision and one `NotOpen` refusal. Audit ids come from a
//! sequence: two replicas' rows may commit in the other order than their ids.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Row, Transaction};

use super::{Inner, PgStore};
use crate::notify::outbound::Planned;
use crate::notify::select::PublishedAlert;
use crate::store::approval::{
    ApprovalStore, AuditEntry, AuditRecord, Decision, IssuanceDone, NewOverride, NewProposal,
    OverrideRecord, ProposalRecord, ProposalState, Refusal,
};
use crate::store::{AssessmentRecord, NewAlert, StoreError};

const PROPOSAL_COLUMNS: &str = "id, state, created_at, base, issuance_id, summary, document, \
    cap, published, edited_by, decided_by, decided_at, reason, superseded_by";

/// First key of the per-event advisory lock (the second is the event id's hash). The
/// two-key form never conflicts with the one-key migration lock.
const PROPOSAL_LOCK: i32 = 0x61_70_70_72; // "appr"

/// [`IssuanceDone`], owned (the call runs on the store's runtime).
type Done = Option<(i64, Vec<AssessmentRecord>)>;

fn done_of(issuance: IssuanceDone<'_>) -> Done {
    issuance.map(|(id, r)| (id, r.to_vec()))
}

/// [`Decision`], owned.
enum Decided {
    Approve {
        actor: String,
        note: Option<String>,
        planned: Vec<Planned>,
        four_eyes: bool,
        held: Option<Box<AuditEntry>>,
    },
    Reject {
        actor: String,
        reason: String,
    },
}

impl Inner {
    fn proposal_of(&self, r: &Row) -> Result<ProposalRecord, StoreError> {
        let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
        let what = format!("proposals {id}");
        let get_s =
            |i: usize| -> Result<String, StoreError> { r.try_get(i).map_err(|e| self.err(e)) };
        let get_o = |i: usize| -> Result<Option<String>, StoreError> {
            r.try_get(i).map_err(|e| self.err(e))
        };
        let state = get_s(1)?;
        Ok(ProposalRecord {
            id,
            state: ProposalState::parse(&state)
                .ok_or_else(|| self.corrupt(&what, format!("state {state:?}")))?,
            created_at: r.try_get(2).map_err(|e| self.err(e))?,
            base: get_o(3)?,
            issuance_id: r.try_get(4).map_err(|e| self.err(e))?,
            alert: NewAlert {
                summary: serde_json::from_str(&get_s(5)?).map_err(|e| self.corrupt(&what, e))?,
                document: get_s(6)?,
                cap: get_s(7)?,
            },
            published: serde_json::from_str(&get_s(8)?).map_err(|e| self.corrupt(&what, e))?,
            edited_by: get_o(9)?,
            decided_by: get_o(10)?,
            decided_at: r.try_get(11).map_err(|e| self.err(e))?,
            reason: get_o(12)?,
            superseded_by: r.try_get(13).map_err(|e| self.err(e))?,
        })
    }

    /// Waits for, then holds until the transaction ends, the lock on `event_id`'s proposals.
    async fn event_lock(&self, tx: &Transaction<'_>, event_id: &str) -> Result<(), StoreError> {
        self.exec(
            tx,
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&PROPOSAL_LOCK, &event_id],
        )
        .await
        .map(|_| ())
    }

    /// Appends `e` through `c`: the caller's transaction, or a connection (the INSERT is
    /// then its own transaction).
    pub(super) async fn audit_tx(
        &self,
        c: &impl GenericClient,
        e: &AuditEntry,
    ) -> Result<i64, StoreError> {
        let detail = serde_json::to_string(&e.detail).map_err(|x| self.corrupt("audit_log", x))?;
        c.query_one(
            "INSERT INTO audit_log (at, actor, action, subject, reason, cap_sha256,
                document_sha256, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &e.at,
                &e.actor,
                &e.action,
                &e.subject,
                &e.reason,
                &e.cap_sha256,
                &e.document_sha256,
                &detail,
            ],
        )
        .await
        .map_err(|x| self.err(x))?
        .try_get(0)
        .map_err(|x| self.err(x))
    }

    /// Marks the event's open proposals superseded (by `by`, when a proposal replaces
    /// them) and audits each. One conditional UPDATE: a proposal decided meanwhile is left
    /// as decided.
    async fn supersede_tx(
        &self,
        tx: &Transaction<'_>,
        event_id: &str,
        by: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let rows = tx
            .query(
                "UPDATE proposals SET state = 'superseded', superseded_by = $2, reason = $3,
                    decided_at = $4
                 WHERE event_id = $1 AND state = 'proposed' RETURNING id",
                &[&event_id, &by, &reason, &now],
            )
            .await
            .map_err(|e| self.err(e))?;
        for r in &rows {
            let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
            self.audit_tx(
                tx,
                &AuditEntry::new(now, "aviso", "superseded", format!("proposal {id}"))
                    .because(Some(reason)),
            )
            .await?;
        }
        Ok(rows.len())
    }

    async fn finish_issuance(
        &self,
        tx: &Transaction<'_>,
        issuance: &Done,
        alerts: &[NewAlert],
    ) -> Result<(), StoreError> {
        match issuance {
            Some((id, records)) => self.complete_issuance_tx(tx, *id, records, alerts).await,
            None => {
                for a in alerts {
                    self.insert_alert(tx, a).await?;
                }
                Ok(())
            }
        }
    }

    async fn propose(
        &self,
        issuance: Done,
        p: (NewAlert, PublishedAlert, Option<String>, Option<String>),
        extra: (Option<i64>, Vec<NewOverride>),
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (alert, published, base, edited_by) = p;
        let (issuance_id, overrides) = extra;
        let s = &alert.summary;
        let summary = serde_json::to_string(s).map_err(|e| self.corrupt(&s.id, e))?;
        let published = serde_json::to_string(&published).map_err(|e| self.corrupt(&s.id, e))?;
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.event_lock(&tx, &s.event_id).await?;
        self.finish_issuance(&tx, &issuance, &[]).await?;
        // The older open proposal first (one open proposal per event, by index); its
        // `superseded_by` is set once the new one has its id.
        let open: Vec<i64> = tx
            .query(
                "UPDATE proposals SET state = 'superseded'
                 WHERE event_id = $1 AND state = 'proposed' RETURNING id",
                &[&s.event_id],
            )
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| r.try_get(0).map_err(|e| self.err(e)))
            .collect::<Result<_, _>>()?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO proposals (event_id, state, created_at, base, issuance_id, summary,
                    document, cap, published, edited_by)
                 VALUES ($1, 'proposed', $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &s.event_id,
                    &now,
                    &base,
                    &issuance.as_ref().map(|(id, _)| *id).or(issuance_id),
                    &summary,
                    &alert.document,
                    &alert.cap,
                    &published,
                    &edited_by,
                ],
            )
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))?;
        self.insert_overrides_tx(&tx, &overrides, id, now).await?;
        let reason = format!("replaced by proposal {id}");
        for old in &open {
            self.exec(
                &tx,
                "UPDATE proposals SET superseded_by = $2, reason = $3, decided_at = $4
                 WHERE id = $1",
                &[old, &id, &reason, &now],
            )
            .await?;
            self.audit_tx(
                &tx,
                &AuditEntry::new(now, "aviso", "superseded", format!("proposal {old}"))
                    .because(Some(&reason)),
            )
            .await?;
        }
        let action = if edited_by.is_some() {
            "edited"
        } else {
            "proposed"
        };
        self.audit_tx(
            &tx,
            &AuditEntry::new(
                now,
                edited_by.as_deref().unwrap_or("aviso"),
                action,
                format!("proposal {id}"),
            )
            .of_alert(&alert)
            .with_detail(serde_json::json!({
                "alert": s.id,
                "event": s.event_id,
                "msg_type": s.msg_type.as_str(),
                "status": s.status.as_str(),
                "max_level": s.max_level,
                "base": base,
            })),
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(id)
    }

    async fn publish_by_rule(
        &self,
        issuance: Done,
        alert: NewAlert,
        planned: Vec<Planned>,
        audit: Vec<AuditEntry>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let event = &alert.summary.event_id;
        self.event_lock(&tx, event).await?;
        let reason = format!("version {} was published by rule", alert.summary.id);
        self.supersede_tx(&tx, event, None, &reason, now).await?;
        self.finish_issuance(&tx, &issuance, std::slice::from_ref(&alert))
            .await?;
        let n = self.enqueue_tx(&tx, &planned, now).await?;
        for a in &audit {
            self.audit_tx(&tx, a).await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n)
    }

    async fn supersede_open(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.event_lock(&tx, event_id).await?;
        let n = self.supersede_tx(&tx, event_id, None, reason, now).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n)
    }

    async fn proposals_where(
        &self,
        condition: &str,
        p: &super::issuances::Params<'_>,
    ) -> Result<Vec<ProposalRecord>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE {condition}"),
                p,
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.proposal_of(r)).collect()
    }

    async fn decide(
        &self,
        id: i64,
        decision: Decided,
        now: DateTime<Utc>,
    ) -> Result<Result<usize, Refusal>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        // The event's lock before the row's, as every other writer takes them.
        let event: Option<String> = tx
            .query_opt("SELECT event_id FROM proposals WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.err(e))?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| self.err(e))?;
        let Some(event) = event else {
            return Ok(Err(Refusal::NotFound { id }));
        };
        self.event_lock(&tx, &event).await?;
        let row = tx
            .query_one(
                &format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = $1 FOR UPDATE"),
                &[&id],
            )
            .await
            .map_err(|e| self.err(e))?;
        let p = self.proposal_of(&row)?;
        let current: Option<String> = tx
            .query_opt(
                "SELECT latest_alert FROM events WHERE event_id = $1",
                &[&event],
            )
            .await
            .map_err(|e| self.err(e))?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| self.err(e))?;
        if let Some(r) = p.closed_or_stale(current.as_deref()) {
            return Ok(Err(r));
        }
        let subject = format!("proposal {id}");
        let (n, state, actor, reason, entry) = match decision {
            Decided::Approve {
                actor,
                note,
                planned,
                four_eyes,
                held,
            } => {
                if let Some(r) = p.own_edit(&actor, four_eyes) {
                    return Ok(Err(r));
                }
                self.insert_alert(&tx, &p.alert).await?;
                let n = self.enqueue_tx(&tx, &planned, now).await?;
                if let Some(h) = &held {
                    self.audit_tx(&tx, h).await?;
                }
                let entry = AuditEntry::new(now, &actor, "approved", subject)
                    .because(note.as_deref())
                    .of_alert(&p.alert)
                    .with_detail(serde_json::json!({
                        "alert": p.alert.summary.id,
                        "messages_queued": n,
                    }));
                (n, "published", actor, note, entry)
            }
            Decided::Reject { actor, reason } => {
                if reason.trim().is_empty() {
                    return Ok(Err(Refusal::NoReason {
                        id,
                        action: "reject",
                    }));
                }
                let entry = AuditEntry::new(now, &actor, "rejected", subject)
                    .because(Some(&reason))
                    .of_alert(&p.alert)
                    .with_detail(serde_json::json!({ "alert": p.alert.summary.id }));
                (0, "rejected", actor, Some(reason), entry)
            }
        };
        // Still open (the row is locked; the condition says so once more).
        let changed = self
            .exec(
                &tx,
                "UPDATE proposals SET state = $2, decided_by = $3, decided_at = $4, reason = $5
                 WHERE id = $1 AND state = 'proposed'",
                &[&id, &state, &actor, &now, &reason],
            )
            .await?;
        if changed != 1 {
            return Err(self.corrupt(
                &format!("proposals {id}"),
                "was decided by another transaction while locked",
            ));
        }
        self.audit_tx(&tx, &entry).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Ok(n))
    }

    async fn audit(&self, entry: AuditEntry) -> Result<i64, StoreError> {
        let c = self.conn().await?;
        let c: &tokio_postgres::Client = &c;
        self.audit_tx(c, &entry).await
    }

    async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT id, at, actor, action, subject, reason, cap_sha256, document_sha256,
                    detail FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &limit],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
                let detail: String = r.try_get(8).map_err(|e| self.err(e))?;
                Ok(AuditRecord {
                    id,
                    entry: AuditEntry {
                        at: r.try_get(1).map_err(|e| self.err(e))?,
                        actor: r.try_get(2).map_err(|e| self.err(e))?,
                        action: r.try_get(3).map_err(|e| self.err(e))?,
                        subject: r.try_get(4).map_err(|e| self.err(e))?,
                        reason: r.try_get(5).map_err(|e| self.err(e))?,
                        cap_sha256: r.try_get(6).map_err(|e| self.err(e))?,
                        document_sha256: r.try_get(7).map_err(|e| self.err(e))?,
                        detail: serde_json::from_str(&detail)
                            .map_err(|e| self.corrupt(&format!("audit_log {id}"), e))?,
                    },
                })
            })
            .collect()
    }
}

impl ApprovalStore for PgStore {
    fn propose(
        &self,
        issuance: IssuanceDone<'_>,
        p: NewProposal<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let issuance = done_of(issuance);
        let extra = (p.issuance_id, p.overrides.to_vec());
        let p = (
            p.alert.clone(),
            p.published.clone(),
            p.base.map(str::to_string),
            p.edited_by.map(str::to_string),
        );
        self.call(move |i| async move { i.propose(issuance, p, extra, now).await })
    }

    fn publish_by_rule(
        &self,
        issuance: IssuanceDone<'_>,
        alert: &NewAlert,
        planned: &[Planned],
        audit: &[AuditEntry],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let issuance = done_of(issuance);
        let (alert, planned, audit) = (alert.clone(), planned.to_vec(), audit.to_vec());
        self.call(move |i| async move {
            i.publish_by_rule(issuance, alert, planned, audit, now)
                .await
        })
    }

    fn supersede_open(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let (event_id, reason) = (event_id.to_string(), reason.to_string());
        self.call(move |i| async move { i.supersede_open(&event_id, &reason, now).await })
    }

    fn proposals(&self, state: Option<ProposalState>) -> Result<Vec<ProposalRecord>, StoreError> {
        let state = state.map(|s| s.as_str().to_string());
        self.call(move |i| async move {
            i.proposals_where(
                "$1::TEXT IS NULL OR state = $1::TEXT ORDER BY id DESC",
                &[&state],
            )
            .await
        })
    }

    fn proposal(&self, id: i64) -> Result<Option<ProposalRecord>, StoreError> {
        self.call(move |i| async move { Ok(i.proposals_where("id = $1", &[&id]).await?.pop()) })
    }

    fn latest_proposal(&self, event_id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let event_id = event_id.to_string();
        self.call(move |i| async move {
            Ok(
                i.proposals_where("event_id = $1 ORDER BY id DESC LIMIT 1", &[&event_id])
                    .await?
                    .pop(),
            )
        })
    }

    fn decide(
        &self,
        id: i64,
        decision: Decision<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<usize, Refusal>, StoreError> {
        let decided = match decision {
            Decision::Approve {
                actor,
                note,
                planned,
                four_eyes,
                held,
            } => Decided::Approve {
                actor: actor.to_string(),
                note: note.map(str::to_string),
                planned: planned.to_vec(),
                four_eyes,
                held: held.cloned().map(Box::new),
            },
            Decision::Reject { actor, reason } => Decided::Reject {
                actor: actor.to_string(),
                reason: reason.to_string(),
            },
        };
        self.call(move |i| async move { i.decide(id, decided, now).await })
    }

    fn overrides(&self, event_id: Option<&str>) -> Result<Vec<OverrideRecord>, StoreError> {
        let event_id = event_id.map(str::to_string);
        self.call(move |i| async move { i.overrides_of(event_id).await })
    }

    fn lift_override(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<OverrideRecord, Refusal>, StoreError> {
        let (actor, reason) = (actor.to_string(), reason.map(str::to_string));
        self.call(move |i| async move { i.lift(id, actor, reason, now).await })
    }

    fn audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        let entry = entry.clone();
        self.call(move |i| async move { i.audit(entry).await })
    }

    fn audit_log(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |i| async move { i.audit_log(after, limit).await })
    }
}
