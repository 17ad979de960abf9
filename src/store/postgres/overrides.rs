//! Manual overrides (issue 13) on PostgreSQL: the `overrides` table of migration 5, with
//! the SQLite store's semantics (src/store/sqlite/overrides.rs). Lifting locks the row
//! (`FOR UPDATE`), so two approvers lifting one override at once give one lift and one
//! refusal.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use tokio_postgres::{Row, Transaction};

use super::Inner;
use crate::store::StoreError;
use crate::store::approval::{NewOverride, OverrideRecord, Refusal};
use crate::store::sqlite::overrides::{level_of, override_lifted_audit, override_set_audit};

const COLUMNS: &str = "id, event_id, pcode, level, reason, instruction_pt, instruction_en, \
    created_by, created_at, expires_at, lifted_by, lifted_at, proposal_id";

impl Inner {
    fn override_of(&self, r: &Row) -> Result<OverrideRecord, StoreError> {
        let id: i64 = r.try_get(0).map_err(|e| self.err(e))?;
        let level: String = r.try_get(3).map_err(|e| self.err(e))?;
        let g = |e| self.err(e);
        Ok(OverrideRecord {
            id,
            set: NewOverride {
                event_id: r.try_get(1).map_err(g)?,
                pcode: r.try_get(2).map_err(g)?,
                level: level_of(&level).ok_or_else(|| {
                    self.corrupt(&format!("overrides {id}"), format!("level {level:?}"))
                })?,
                reason: r.try_get(4).map_err(g)?,
                instruction_pt: r.try_get(5).map_err(g)?,
                instruction_en: r.try_get(6).map_err(g)?,
                created_by: r.try_get(7).map_err(g)?,
                expires_at: r.try_get(9).map_err(g)?,
            },
            created_at: r.try_get(8).map_err(g)?,
            lifted_by: r.try_get(10).map_err(g)?,
            lifted_at: r.try_get(11).map_err(g)?,
            proposal_id: r.try_get(12).map_err(g)?,
        })
    }

    pub(super) async fn insert_overrides_tx(
        &self,
        tx: &Transaction<'_>,
        set: &[NewOverride],
        proposal: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for o in set {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO overrides (event_id, pcode, level, reason, instruction_pt,
                        instruction_en, created_by, created_at, expires_at, proposal_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                    &[
                        &o.event_id,
                        &o.pcode,
                        &o.level.name_en(),
                        &o.reason,
                        &o.instruction_pt,
                        &o.instruction_en,
                        &o.created_by,
                        &now,
                        &o.expires_at,
                        &proposal,
                    ],
                )
                .await
                .map_err(|e| self.err(e))?
                .try_get(0)
                .map_err(|e| self.err(e))?;
            self.audit_tx(tx, &override_set_audit(o, id, proposal, now))
                .await?;
        }
        Ok(())
    }

    pub(super) async fn overrides_of(
        &self,
        event_id: Option<String>,
    ) -> Result<Vec<OverrideRecord>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM overrides
                     WHERE $1::TEXT IS NULL OR event_id = $1::TEXT ORDER BY id DESC"
                ),
                &[&event_id],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.override_of(r)).collect()
    }

    pub(super) async fn lift(
        &self,
        id: i64,
        actor: String,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Result<OverrideRecord, Refusal>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let Some(r) = tx
            .query_opt(
                &format!("SELECT {COLUMNS} FROM overrides WHERE id = $1 FOR UPDATE"),
                &[&id],
            )
            .await
            .map_err(|e| self.err(e))?
        else {
            return Ok(Err(Refusal::NoOverride { id }));
        };
        let o = self.override_of(&r)?;
        if let Some(by) = o.lifted_by {
            return Ok(Err(Refusal::Lifted { id, by }));
        }
        let r = tx
            .query_one(
                &format!(
                    "UPDATE overrides SET lifted_by = $2, lifted_at = $3 WHERE id = $1
                     RETURNING {COLUMNS}"
                ),
                &[&id, &actor, &now],
            )
            .await
            .map_err(|e| self.err(e))?;
        let lifted = self.override_of(&r)?;
        self.audit_tx(
            &tx,
            &override_lifted_audit(&o.set, id, &actor, reason.as_deref(), now),
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Ok(lifted))
    }
}
