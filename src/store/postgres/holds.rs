//! Held notifications (issue 13) on PostgreSQL: the `notification_holds` table of
//! migration 7, with the SQLite store's semantics (src/store/sqlite/holds.rs). Setting and
//! lifting take a transaction-level advisory lock on the event first, so two replicas
//! setting a hold at once give one hold and one refusal.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Row};

use super::{Inner, PgStore};
use crate::store::StoreError;
use crate::store::approval::Refusal;
use crate::store::holds::{
    HoldRecord, HoldStore, NewHold, active_hold, hold_lifted_audit, hold_set_audit,
};

const COLUMNS: &str = "id, event_id, reason, created_by, created_at, expires_at, lifted_by, \
    lifted_at, lift_reason";

/// First key of the per-event advisory lock of holds ("hold").
const HOLD_LOCK: i32 = 0x686f_6c64;

impl Inner {
    fn hold_of(&self, r: &Row) -> Result<HoldRecord, StoreError> {
        let g = |e| self.err(e);
        Ok(HoldRecord {
            id: r.try_get(0).map_err(g)?,
            set: NewHold {
                event_id: r.try_get(1).map_err(g)?,
                reason: r.try_get(2).map_err(g)?,
                created_by: r.try_get(3).map_err(g)?,
                expires_at: r.try_get(5).map_err(g)?,
            },
            created_at: r.try_get(4).map_err(g)?,
            lifted_by: r.try_get(6).map_err(g)?,
            lifted_at: r.try_get(7).map_err(g)?,
            lift_reason: r.try_get(8).map_err(g)?,
        })
    }

    async fn holds_of(
        &self,
        c: &impl GenericClient,
        event_id: Option<String>,
    ) -> Result<Vec<HoldRecord>, StoreError> {
        let rows = c
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM notification_holds
                     WHERE $1::TEXT IS NULL OR event_id = $1::TEXT ORDER BY id DESC"
                ),
                &[&event_id],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.hold_of(r)).collect()
    }

    async fn set_hold(
        &self,
        h: NewHold,
        now: DateTime<Utc>,
    ) -> Result<Result<HoldRecord, Refusal>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.exec(
            &tx,
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&HOLD_LOCK, &h.event_id],
        )
        .await?;
        let held = self.holds_of(&tx, Some(h.event_id.clone())).await?;
        if let Some(a) = active_hold(&held, &h.event_id, now) {
            return Ok(Err(Refusal::HoldActive {
                event: h.event_id.clone(),
                id: a.id,
                by: a.set.created_by,
            }));
        }
        let r = tx
            .query_one(
                &format!(
                    "INSERT INTO notification_holds (event_id, reason, created_by, created_at,
                        expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
                ),
                &[&h.event_id, &h.reason, &h.created_by, &now, &h.expires_at],
            )
            .await
            .map_err(|e| self.err(e))?;
        let set = self.hold_of(&r)?;
        self.audit_tx(&tx, &hold_set_audit(&h, set.id, now)).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Ok(set))
    }

    async fn lift_hold(
        &self,
        event_id: String,
        actor: String,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Result<HoldRecord, Refusal>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.exec(
            &tx,
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&HOLD_LOCK, &event_id],
        )
        .await?;
        let held = self.holds_of(&tx, Some(event_id.clone())).await?;
        let Some(h) = active_hold(&held, &event_id, now) else {
            return Ok(Err(Refusal::NotHeld { event: event_id }));
        };
        let r = tx
            .query_one(
                &format!(
                    "UPDATE notification_holds SET lifted_by = $2, lifted_at = $3,
                        lift_reason = $4 WHERE id = $1 RETURNING {COLUMNS}"
                ),
                &[&h.id, &actor, &now, &reason],
            )
            .await
            .map_err(|e| self.err(e))?;
        let lifted = self.hold_of(&r)?;
        self.audit_tx(&tx, &hold_lifted_audit(&h, &actor, reason.as_deref(), now))
            .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Ok(lifted))
    }
}

impl HoldStore for PgStore {
    fn holds(&self, event_id: Option<&str>) -> Result<Vec<HoldRecord>, StoreError> {
        let event_id = event_id.map(str::to_string);
        self.call(move |i| async move {
            let c = i.conn().await?;
            let c: &tokio_postgres::Client = &c;
            i.holds_of(c, event_id).await
        })
    }

    fn set_hold(
        &self,
        h: &NewHold,
        now: DateTime<Utc>,
    ) -> Result<Result<HoldRecord, Refusal>, StoreError> {
        let h = h.clone();
        self.call(move |i| async move { i.set_hold(h, now).await })
    }

    fn lift_hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<HoldRecord, Refusal>, StoreError> {
        let (event_id, actor) = (event_id.to_string(), actor.to_string());
        let reason = reason.map(str::to_string);
        self.call(move |i| async move { i.lift_hold(event_id, actor, reason, now).await })
    }
}
