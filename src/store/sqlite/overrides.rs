//! Manual overrides (issue 13) on the embedded SQLite store: the `overrides` table of
//! migration 9. Inserted with the edited proposal in its transaction
//! ([`SqliteStore::insert_overrides_tx`]); lifted, never deleted.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{SqliteStore, parse_ts, ts};
use crate::alerts::levels::Level;
use crate::store::StoreError;
use crate::store::approval::{AuditEntry, NewOverride, OverrideRecord, Refusal};

const COLUMNS: &str = "id, event_id, pcode, level, reason, instruction_pt, instruction_en, \
    created_by, created_at, expires_at, lifted_by, lifted_at, proposal_id";

/// id; event_id, pcode, level, reason, created_by, created_at; instruction_pt,
/// instruction_en, expires_at, lifted_by, lifted_at; proposal_id.
type Row = (i64, [String; 6], [Option<String>; 5], Option<i64>);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        [
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(7)?,
            r.get(8)?,
        ],
        [r.get(5)?, r.get(6)?, r.get(9)?, r.get(10)?, r.get(11)?],
        r.get(12)?,
    ))
}

pub(crate) fn level_of(s: &str) -> Option<Level> {
    Level::ALL.into_iter().find(|l| l.name_en() == s)
}

impl SqliteStore {
    fn override_of(&self, r: Row) -> Result<OverrideRecord, StoreError> {
        let (id, [event_id, pcode, level, reason, created_by, created], opt, p) = r;
        let [ipt, ien, expires, lifted_by, lifted_at] = opt;
        let what = format!("overrides {id}");
        let time = |s: &str| parse_ts(s).ok_or_else(|| self.corrupt(&what, format!("time {s:?}")));
        Ok(OverrideRecord {
            id,
            set: NewOverride {
                event_id,
                pcode,
                level: level_of(&level)
                    .ok_or_else(|| self.corrupt(&what, format!("level {level:?}")))?,
                reason,
                instruction_pt: ipt,
                instruction_en: ien,
                created_by,
                expires_at: expires.as_deref().map(time).transpose()?,
            },
            created_at: time(&created)?,
            lifted_by,
            lifted_at: lifted_at.as_deref().map(time).transpose()?,
            proposal_id: p,
        })
    }

    /// Stores the overrides an edit sets, pointing at `proposal`, each audited.
    pub(super) fn insert_overrides_tx(
        &self,
        tx: &Transaction<'_>,
        set: &[NewOverride],
        proposal: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for o in set {
            tx.execute(
                "INSERT INTO overrides (event_id, pcode, level, reason, instruction_pt,
                    instruction_en, created_by, created_at, expires_at, proposal_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    o.event_id,
                    o.pcode,
                    o.level.name_en(),
                    o.reason,
                    o.instruction_pt,
                    o.instruction_en,
                    o.created_by,
                    ts(now),
                    o.expires_at.map(ts),
                    proposal
                ],
            )
            .map_err(|e| self.err(e))?;
            let id = tx.last_insert_rowid();
            self.audit_tx(tx, &override_set_audit(o, id, proposal, now))?;
        }
        Ok(())
    }

    pub(super) fn overrides_of(
        &self,
        event_id: Option<&str>,
    ) -> Result<Vec<OverrideRecord>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM overrides WHERE ?1 IS NULL OR event_id = ?1
                 ORDER BY id DESC"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![event_id], row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(|r| self.override_of(r)).collect()
    }

    pub(super) fn lift(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<OverrideRecord, Refusal>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let get = |tx: &Transaction<'_>| {
            tx.query_row(
                &format!("SELECT {COLUMNS} FROM overrides WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
        };
        let Some(r) = get(&tx)? else {
            return Ok(Err(Refusal::NoOverride { id }));
        };
        let o = self.override_of(r)?;
        if let Some(by) = o.lifted_by {
            return Ok(Err(Refusal::Lifted { id, by }));
        }
        tx.execute(
            "UPDATE overrides SET lifted_by = ?2, lifted_at = ?3 WHERE id = ?1",
            params![id, actor, ts(now)],
        )
        .map_err(|e| self.err(e))?;
        self.audit_tx(&tx, &override_lifted_audit(&o.set, id, actor, reason, now))?;
        let lifted = get(&tx)?.ok_or_else(|| self.corrupt("overrides", format!("{id} gone")))?;
        let lifted = self.override_of(lifted)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Ok(lifted))
    }
}

/// The audit row of an override set by an edit (both backends write the same).
pub(crate) fn override_set_audit(
    o: &NewOverride,
    id: i64,
    proposal: i64,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry::new(now, &o.created_by, "override_set", format!("override {id}"))
        .because(Some(&o.reason))
        .with_detail(serde_json::json!({
            "event": o.event_id,
            "pcode": o.pcode,
            "level": o.level,
            "expires_at": o.expires_at,
            "instruction_pt": o.instruction_pt,
            "instruction_en": o.instruction_en,
            "proposal": proposal,
        }))
}

/// The audit row of a lifted override (both backends write the same).
pub(crate) fn override_lifted_audit(
    o: &NewOverride,
    id: i64,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry::new(now, actor, "override_lifted", format!("override {id}"))
        .because(reason)
        .with_detail(serde_json::json!({
            "event": o.event_id,
            "pcode": o.pcode,
            "level": o.level,
            "set_by": o.created_by,
        }))
}
