//! [`RegisterStore`] on the embedded SQLite store: the `registers` and
//! `occupancy_updates` tables of migration 7. A revision is one row holding the whole
//! register as JSON (a national DTM list is a few thousand rows, well under a megabyte),
//! so the register in force is one read and every earlier one stays as it was.
//!
//! Must not depend on the pipeline or the API.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, parse_ts, ts};
use crate::domain::Register;
use crate::store::StoreError;
use crate::store::registers::{
    OccupancyFigure, Provenance, RegisterStore, RevisionInfo, RevisionKind, StoredRegister,
};

const INFO_COLUMNS: &str = "revision, kind, source, imported_by, imported_at, entries";

type InfoRow = (i64, String, String, String, String, i64);

fn info_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InfoRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

impl SqliteStore {
    fn revision_info(&self, row: InfoRow) -> Result<RevisionInfo, StoreError> {
        let (revision, kind, source, imported_by, at, entries) = row;
        let what = format!("registers {revision}");
        let kind = match kind.as_str() {
            "register" => RevisionKind::Register,
            "occupancy" => RevisionKind::Occupancy,
            other => return Err(self.corrupt(&what, format!("unknown kind {other:?}"))),
        };
        let imported_at =
            parse_ts(&at).ok_or_else(|| self.corrupt(&what, format!("bad time {at:?}")))?;
        Ok(RevisionInfo {
            revision,
            kind,
            source,
            imported_by,
            imported_at,
            entries: usize::try_from(entries).unwrap_or(0),
        })
    }

    fn insert_revision(
        &self,
        tx: &rusqlite::Transaction<'_>,
        kind: RevisionKind,
        register: &Register,
        from: &Provenance,
    ) -> Result<i64, StoreError> {
        let record = serde_json::to_string(register)
            .map_err(|e| self.corrupt(&format!("register from {}", from.source), e))?;
        tx.execute(
            "INSERT INTO registers (kind, source, imported_by, imported_at, entries, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                kind.as_str(),
                from.source,
                from.imported_by,
                ts(from.at),
                register.entries.len() as i64,
                record
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(tx.last_insert_rowid())
    }
}

impl RegisterStore for SqliteStore {
    fn save_register(&self, register: &Register, from: &Provenance) -> Result<i64, StoreError> {
        let mut c = self.admin_writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let revision = self.insert_revision(&tx, RevisionKind::Register, register, from)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(revision)
    }

    fn save_occupancy(
        &self,
        base: i64,
        register: &Register,
        figures: &[OccupancyFigure],
        from: &Provenance,
    ) -> Result<Option<i64>, StoreError> {
        let mut c = self.admin_writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let current: Option<i64> = tx
            .query_row("SELECT MAX(revision) FROM registers", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if current != Some(base) {
            return Ok(None);
        }
        let revision = self.insert_revision(&tx, RevisionKind::Occupancy, register, from)?;
        for f in figures {
            tx.execute(
                "INSERT INTO occupancy_updates (revision, code, date, individuals, households, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    revision,
                    f.code,
                    f.date.to_string(),
                    f.individuals,
                    f.households,
                    f.source
                ],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Some(revision))
    }

    fn current_register(&self) -> Result<Option<StoredRegister>, StoreError> {
        let c = self.reader();
        let row = c
            .query_row(
                &format!(
                    "SELECT {INFO_COLUMNS}, record FROM registers ORDER BY revision DESC LIMIT 1"
                ),
                [],
                |r| Ok((info_row(r)?, r.get::<_, String>(6)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((info, record)) = row else {
            return Ok(None);
        };
        let info = self.revision_info(info)?;
        let register: Register = serde_json::from_str(&record)
            .map_err(|e| self.corrupt(&format!("registers {}", info.revision), e))?;
        Ok(Some(StoredRegister { info, register }))
    }

    fn register_history(&self) -> Result<Vec<RevisionInfo>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT {INFO_COLUMNS} FROM registers ORDER BY revision DESC"
            ))
            .map_err(|e| self.err(e))?;
        let rows: Vec<InfoRow> = stmt
            .query_map([], info_row)
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(|r| self.revision_info(r)).collect()
    }

    fn current_revision(&self) -> Result<Option<RevisionInfo>, StoreError> {
        let c = self.reader();
        let row = c
            .query_row(
                &format!("SELECT {INFO_COLUMNS} FROM registers ORDER BY revision DESC LIMIT 1"),
                [],
                info_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|r| self.revision_info(r)).transpose()
    }
}
