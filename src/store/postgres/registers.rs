//! [`RegisterStore`] on PostgreSQL: the `registers` and `occupancy_updates` tables of
//! migration 6 (SQLite's migration 7, the same columns), with the SQLite store's semantics
//! (src/store/sqlite/registers.rs) method for method: a revision is one row holding the
//! whole register as JSON, the highest revision is the register in force, an occupancy
//! update is saved only while its base is still in force, and a row that does not read
//! back (unknown kind, a record that is not a register) is a `Corrupt` error naming the
//! table and revision.
//!
//! Several replicas on one database: every save first takes one transaction-level
//! advisory lock (`REGISTER_LOCK`), so saves run one after the other whichever replica
//! runs them. Under it, the revision in force read by an occupancy update is the newest
//! committed one (the previous holder's commit is visible before its lock is released) and
//! no other save can come in before this one commits: two updates on the same base give
//! one revision and one `None`, never two revisions of which the second lost the first's
//! figures. Revisions come from an identity sequence taken under the lock, so they also
//! increase in commit order. Chosen over "revision = base + 1 and retry on the unique
//! key": a whole-register import has no base to compute from, and the lock costs nothing
//! here (an import is a person's action, minutes apart). Readers take no lock.
//!
//! Must not depend on the pipeline or the API.

use tokio_postgres::{Row, Transaction};

use super::{Inner, PgStore};
use crate::domain::Register;
use crate::store::StoreError;
use crate::store::registers::{
    OccupancyFigure, Provenance, RegisterStore, RevisionInfo, RevisionKind, StoredRegister,
};

const INFO_COLUMNS: &str = "revision, kind, source, imported_by, imported_at, entries";

/// First key of the advisory lock every register save takes (two-key form: it never
/// conflicts with the one-key migration lock nor the per-event proposal locks).
const REGISTER_LOCK: i32 = 0x72_65_67_73; // "regs"

/// A register as the `registers` row keeps it, serialised before the call goes to the
/// store's runtime (so the register itself is not copied).
struct Record {
    json: String,
    entries: i64,
}

impl PgStore {
    fn record(&self, register: &Register, from: &Provenance) -> Result<Record, StoreError> {
        let json = serde_json::to_string(register).map_err(|e| {
            self.inner
                .corrupt(&format!("register from {}", from.source), e)
        })?;
        Ok(Record {
            json,
            entries: register.entries.len() as i64,
        })
    }
}

impl Inner {
    fn revision_info(&self, r: &Row) -> Result<RevisionInfo, StoreError> {
        let revision: i64 = r.try_get(0).map_err(|e| self.err(e))?;
        let what = format!("registers {revision}");
        let kind: String = r.try_get(1).map_err(|e| self.err(e))?;
        let kind = match kind.as_str() {
            "register" => RevisionKind::Register,
            "occupancy" => RevisionKind::Occupancy,
            other => return Err(self.corrupt(&what, format!("unknown kind {other:?}"))),
        };
        let entries: i64 = r.try_get(5).map_err(|e| self.err(e))?;
        Ok(RevisionInfo {
            revision,
            kind,
            source: r.try_get(2).map_err(|e| self.err(e))?,
            imported_by: r.try_get(3).map_err(|e| self.err(e))?,
            imported_at: r.try_get(4).map_err(|e| self.err(e))?,
            entries: usize::try_from(entries).unwrap_or(0),
        })
    }

    /// Begins a register save: the advisory lock first, then rows.
    async fn lock_registers(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&REGISTER_LOCK])
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn insert_revision(
        &self,
        tx: &Transaction<'_>,
        kind: RevisionKind,
        record: &Record,
        from: &Provenance,
    ) -> Result<i64, StoreError> {
        tx.query_one(
            "INSERT INTO registers (kind, source, imported_by, imported_at, entries, record)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING revision",
            &[
                &kind.as_str(),
                &from.source,
                &from.imported_by,
                &from.at,
                &record.entries,
                &record.json,
            ],
        )
        .await
        .map_err(|e| self.err(e))?
        .try_get(0)
        .map_err(|e| self.err(e))
    }

    async fn save_register(&self, register: &Record, from: &Provenance) -> Result<i64, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.lock_registers(&tx).await?;
        let revision = self
            .insert_revision(&tx, RevisionKind::Register, register, from)
            .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(revision)
    }

    async fn save_occupancy(
        &self,
        base: i64,
        register: &Record,
        figures: &[OccupancyFigure],
        from: &Provenance,
    ) -> Result<Option<i64>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.lock_registers(&tx).await?;
        let current: Option<i64> = tx
            .query_one("SELECT MAX(revision) FROM registers", &[])
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))?;
        if current != Some(base) {
            // Dropped unfinished: rolled back, the lock released.
            return Ok(None);
        }
        let revision = self
            .insert_revision(&tx, RevisionKind::Occupancy, register, from)
            .await?;
        let insert = tx
            .prepare(
                "INSERT INTO occupancy_updates
                 (revision, code, date, individuals, households, source)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await
            .map_err(|e| self.err(e))?;
        for f in figures {
            tx.execute(
                &insert,
                &[
                    &revision,
                    &f.code,
                    &f.date.to_string(),
                    &f.individuals,
                    &f.households,
                    &f.source,
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Some(revision))
    }

    async fn current_register(&self) -> Result<Option<StoredRegister>, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {INFO_COLUMNS}, record FROM registers ORDER BY revision DESC LIMIT 1"
                ),
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let info = self.revision_info(&row)?;
        let record: String = row.try_get(6).map_err(|e| self.err(e))?;
        let register: Register = serde_json::from_str(&record)
            .map_err(|e| self.corrupt(&format!("registers {}", info.revision), e))?;
        Ok(Some(StoredRegister { info, register }))
    }

    async fn register_history(&self) -> Result<Vec<RevisionInfo>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!("SELECT {INFO_COLUMNS} FROM registers ORDER BY revision DESC"),
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.revision_info(r)).collect()
    }

    async fn current_revision(&self) -> Result<Option<RevisionInfo>, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!("SELECT {INFO_COLUMNS} FROM registers ORDER BY revision DESC LIMIT 1"),
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| self.revision_info(&r)).transpose()
    }
}

impl RegisterStore for PgStore {
    fn save_register(&self, register: &Register, from: &Provenance) -> Result<i64, StoreError> {
        let (record, from) = (self.record(register, from)?, from.clone());
        self.call(|s| async move { s.save_register(&record, &from).await })
    }

    fn save_occupancy(
        &self,
        base: i64,
        register: &Register,
        figures: &[OccupancyFigure],
        from: &Provenance,
    ) -> Result<Option<i64>, StoreError> {
        let record = self.record(register, from)?;
        let (figures, from) = (figures.to_vec(), from.clone());
        self.call(|s| async move { s.save_occupancy(base, &record, &figures, &from).await })
    }

    fn current_register(&self) -> Result<Option<StoredRegister>, StoreError> {
        self.call(|s| async move { s.current_register().await })
    }

    fn register_history(&self) -> Result<Vec<RevisionInfo>, StoreError> {
        self.call(|s| async move { s.register_history().await })
    }

    fn current_revision(&self) -> Result<Option<RevisionInfo>, StoreError> {
        self.call(|s| async move { s.current_revision().await })
    }
}
