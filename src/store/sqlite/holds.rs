//! Held notifications (issue 13) on the embedded SQLite store: the `notification_holds`
//! table of migration 10. Set and lifted in one transaction with their audit row on the
//! writer (which serialises them, so an event never gets two active holds); never
//! deleted.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, params};

use super::{SqliteStore, parse_ts, ts};
use crate::store::StoreError;
use crate::store::approval::Refusal;
use crate::store::holds::{
    HoldRecord, HoldStore, NewHold, active_hold, hold_lifted_audit, hold_set_audit,
};

const COLUMNS: &str = "id, event_id, reason, created_by, created_at, expires_at, lifted_by, \
    lifted_at, lift_reason";

/// id; event_id, reason, created_by, created_at; expires_at, lifted_by, lifted_at,
/// lift_reason.
type Row = (i64, [String; 4], [Option<String>; 4]);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
        [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
    ))
}

impl SqliteStore {
    fn hold_of(&self, r: Row) -> Result<HoldRecord, StoreError> {
        let (id, [event_id, reason, created_by, created], opt) = r;
        let [expires, lifted_by, lifted_at, lift_reason] = opt;
        let what = format!("notification_holds {id}");
        let time = |s: &str| parse_ts(s).ok_or_else(|| self.corrupt(&what, format!("time {s:?}")));
        Ok(HoldRecord {
            id,
            set: NewHold {
                event_id,
                reason,
                created_by,
                expires_at: expires.as_deref().map(time).transpose()?,
            },
            created_at: time(&created)?,
            lifted_by,
            lifted_at: lifted_at.as_deref().map(time).transpose()?,
            lift_reason,
        })
    }

    fn holds_tx(
        &self,
        tx: &Transaction<'_>,
        event_id: &str,
    ) -> Result<Vec<HoldRecord>, StoreError> {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM notification_holds WHERE event_id = ?1 ORDER BY id DESC"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![event_id], row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(|r| self.hold_of(r)).collect()
    }
}

impl HoldStore for SqliteStore {
    fn holds(&self, event_id: Option<&str>) -> Result<Vec<HoldRecord>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM notification_holds WHERE ?1 IS NULL OR event_id = ?1
                 ORDER BY id DESC"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![event_id], row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(|r| self.hold_of(r)).collect()
    }

    fn set_hold(
        &self,
        h: &NewHold,
        now: DateTime<Utc>,
    ) -> Result<Result<HoldRecord, Refusal>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        if let Some(a) = active_hold(&self.holds_tx(&tx, &h.event_id)?, &h.event_id, now) {
            return Ok(Err(Refusal::HoldActive {
                event: h.event_id.clone(),
                id: a.id,
                by: a.set.created_by,
            }));
        }
        tx.execute(
            "INSERT INTO notification_holds (event_id, reason, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                h.event_id,
                h.reason,
                h.created_by,
                ts(now),
                h.expires_at.map(ts)
            ],
        )
        .map_err(|e| self.err(e))?;
        let id = tx.last_insert_rowid();
        self.audit_tx(&tx, &hold_set_audit(h, id, now))?;
        let set = self
            .holds_tx(&tx, &h.event_id)?
            .into_iter()
            .find(|x| x.id == id)
            .ok_or_else(|| self.corrupt("notification_holds", format!("{id} gone")))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Ok(set))
    }

    fn lift_hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<HoldRecord, Refusal>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let Some(mut h) = active_hold(&self.holds_tx(&tx, event_id)?, event_id, now) else {
            return Ok(Err(Refusal::NotHeld {
                event: event_id.to_string(),
            }));
        };
        tx.execute(
            "UPDATE notification_holds SET lifted_by = ?2, lifted_at = ?3, lift_reason = ?4
             WHERE id = ?1",
            params![h.id, actor, ts(now), reason],
        )
        .map_err(|e| self.err(e))?;
        self.audit_tx(&tx, &hold_lifted_audit(&h, actor, reason, now))?;
        tx.commit().map_err(|e| self.err(e))?;
        h.lifted_by = Some(actor.to_string());
        h.lifted_at = Some(now);
        h.lift_reason = reason.map(str::to_string);
        Ok(Ok(h))
    }
}
