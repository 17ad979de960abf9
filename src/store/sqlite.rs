//! The embedded [`Store`]: one SQLite file in WAL mode (`<data_dir>/aviso.sqlite`).
//!
//! Why SQLite: one file an operator can copy, inspect (`sqlite3`) and back up; WAL lets the
//! API read while the pipeline writes; transactions give the restart safety issue 3 asks
//! for. Schema changes are numbered migrations in [`MIGRATIONS`], applied in order inside
//! a transaction and recorded in `schema_migrations`; a newer schema than this build knows
//! is refused rather than misread.
//!
//! Must not depend on the pipeline or the API.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

use super::{
    AlertFilter, AlertRecord, AlertSummary, Annex, AssessmentRecord, EventSummary, FeedHealth,
    FeedState, FetchResult, Inserted, IssuanceState, NewAlert, RawIssuance, RunRecord, Store,
    StoreCounts, StoreError, StoredIssuance,
};
use crate::alerts::versioning::CapStatus;

mod approval;
mod erasure;
mod holds;
mod issuances;
mod migrations;
pub mod ops;
mod outbox;
pub(crate) mod overrides;
mod registers;
mod subscribers;
#[cfg(test)]
mod tests;

pub use migrations::MIGRATIONS;

/// Readers: the API serves from these while the pipeline holds the writer.
const READERS: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// Threads waiting for the writer on the service's behalf (pipeline, outbox): admin
    /// work ([`SqliteStore::admin_writer`]) lets them go first. `std::sync::Mutex` is not
    /// fair: an import that unlocks and relocks at once would otherwise win every time.
    writers_waiting: AtomicUsize,
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    // RFC 3339 with fixed width (micro-seconds, Z) so text order is time order in SQL.
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn state_of(s: &str) -> IssuanceState {
    match s {
        "processed" => IssuanceState::Processed,
        "failed" => IssuanceState::Failed,
        _ => IssuanceState::Pending,
    }
}

impl SqliteStore {
    /// Rows of `sql` as (key, key, count): the GROUP BY counts that /metrics reports.
    pub(super) fn grouped_counts(
        &self,
        sql: &str,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.grouped_counts_on(&self.reader(), sql)
    }

    /// [`SqliteStore::grouped_counts`] on a connection the caller already holds (taking a
    /// second reader while holding one could wait on itself).
    fn grouped_counts_on(
        &self,
        c: &Connection,
        sql: &str,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut stmt = c.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Opens (creating if needed) `<data_dir>/aviso.sqlite` and migrates it.
    pub fn open_dir(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.display().to_string(),
            source,
        })?;
        Self::open(&data_dir.join("aviso.sqlite"))
    }

    /// Opens (creating if needed) the database file and migrates it.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let open = |flags: OpenFlags| -> Result<Connection, rusqlite::Error> {
            let c = Connection::open_with_flags(path, flags)?;
            // Another connection (the writer, or a second process during a restart) may
            // hold the lock for a moment: wait rather than fail.
            c.busy_timeout(Duration::from_secs(10))?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            Ok(c)
        };
        let writer =
            open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE).map_err(err)?;
        // WAL: readers never block the writer; synchronous=FULL: a committed issuance or
        // alert survives a power cut, which matters more here than write speed (a few
        // writes per forecast cycle).
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        // Deleted or overwritten content (an erased subscriber, a replaced record) is
        // zeroed in the file, free pages included, rather than left for a forensic read.
        writer
            .pragma_update(None, "secure_delete", "ON")
            .map_err(err)?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Vec::new(),
            writers_waiting: AtomicUsize::new(0),
        };
        store.migrate()?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = open(OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
            readers.push(Mutex::new(c));
        }
        Ok(SqliteStore { readers, ..store })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn corrupt(&self, what: &str, message: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            what: what.to_string(),
            message: message.to_string(),
        }
    }

    /// A lock whose holder panicked still guards a consistent connection: SQLite rolled
    /// back whatever transaction was open when the guard was dropped.
    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        let g = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
        g
    }

    /// The writer for admin work (a batch of an import): taken only when no service
    /// write (a publication, the outbox) is waiting for it. A service write that starts
    /// waiting just after waits for one batch at most.
    pub(super) fn admin_writer(&self) -> MutexGuard<'_, Connection> {
        while self.writers_waiting.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free reader if one is, else waits for the first.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        for r in &self.readers {
            if let Ok(g) = r.try_lock() {
                return g;
            }
        }
        match self.readers.first() {
            Some(r) => r.lock().unwrap_or_else(|e| e.into_inner()),
            // Only during `open`, before the readers exist.
            None => self.writer(),
        }
    }

    fn summary_of(&self, id: &str, json: &str) -> Result<AlertSummary, StoreError> {
        serde_json::from_str(json).map_err(|e| self.corrupt(&format!("alerts {id}"), e))
    }

    fn bump_fetch_count(tx: &Transaction<'_>, feed: &str, outcome: &str) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO fetch_counts (feed, outcome, n) VALUES (?1, ?2, 1)
             ON CONFLICT (feed, outcome) DO UPDATE SET n = n + 1",
            params![feed, outcome],
        )?;
        Ok(())
    }

    /// The id and error of the feed's newest issuance when it failed (what a 304 says the
    /// feed still serves).
    fn latest_failed(tx: &Transaction<'_>, feed: &str) -> rusqlite::Result<Option<(i64, String)>> {
        tx.query_row(
            "SELECT id, state, error FROM issuances WHERE feed = ?1 ORDER BY id DESC LIMIT 1",
            params![feed],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            },
        )
        .optional()
        .map(|row| {
            row.filter(|(_, state, _)| state == IssuanceState::Failed.as_str())
                .map(|(id, _, error)| (id, error.unwrap_or_default()))
        })
    }

    /// The feed answered, but with content that failed before (issuance `id`): degraded,
    /// one more consecutive failure, counted as `repeated_failure` in /metrics.
    fn degrade_for_content(
        tx: &Transaction<'_>,
        feed: &str,
        at: &str,
        id: i64,
        error: &str,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "UPDATE feeds SET state = 'degraded', last_attempt = ?2, last_error = ?3,
                last_error_kind = 'repeated_failure',
                consecutive_failures = consecutive_failures + 1
             WHERE name = ?1",
            params![
                feed,
                at,
                format!("still serving the content of issuance {id}, which failed: {error}")
            ],
        )?;
        Self::bump_fetch_count(tx, feed, "repeated_failure")
    }

    fn ensure_feed(tx: &Transaction<'_>, feed: &str) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO feeds (name, state) VALUES (?1, 'unknown') ON CONFLICT (name) DO NOTHING",
            params![feed],
        )?;
        Ok(())
    }

    /// The body of [`Store::complete_issuance`] inside the caller's transaction (also
    /// used with the outbox's rows, `notify::complete_issuance_enqueue`).
    fn complete_issuance_tx(
        &self,
        tx: &Transaction<'_>,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
    ) -> Result<(), StoreError> {
        for a in assessments {
            let record = serde_json::to_string(a).map_err(|e| self.corrupt(&a.event_id, e))?;
            tx.execute(
                "INSERT INTO assessments (issuance_id, event_id, record) VALUES (?1, ?2, ?3)",
                params![issuance_id, a.event_id, record],
            )
            .map_err(|e| self.err(e))?;
        }
        for a in alerts {
            self.insert_alert(tx, a)?;
        }
        let n = tx
            .execute(
                "UPDATE issuances SET state = 'processed', processed_at = ?2
                 WHERE id = ?1 AND state = 'pending'",
                params![issuance_id, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        if n != 1 {
            // Processed by someone else meanwhile (or never stored): roll back so nothing
            // is published twice.
            return Err(self.corrupt(
                &format!("issuances {issuance_id}"),
                "is not pending: it was processed already or does not exist",
            ));
        }
        Ok(())
    }

    fn insert_alert(&self, tx: &Transaction<'_>, a: &NewAlert) -> Result<(), StoreError> {
        let s = &a.summary;
        let summary = serde_json::to_string(s).map_err(|e| self.corrupt(&s.id, e))?;
        let level = s.max_level.map(|l| l.name_en());
        tx.execute(
            "INSERT INTO events (event_id, event_name, hazard, status, latest_alert, versions, active)
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)
             ON CONFLICT (event_id) DO UPDATE SET event_name = ?2, latest_alert = ?5,
                versions = versions + 1, active = ?6",
            params![
                s.event_id,
                s.event_name,
                hazard_str(s.hazard),
                s.status.as_str(),
                s.id,
                !s.msg_type.withdraws()
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO alerts (id, event_id, version, msg_type, status, sent, max_level,
                issuance_id, summary, document, cap)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                s.id,
                s.event_id,
                s.version,
                s.msg_type.as_str(),
                s.status.as_str(),
                ts(s.sent),
                level,
                s.issuance_id,
                summary,
                a.document,
                a.cap
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn read_issuance(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredIssuance> {
        let fetched_at: String = row.get(3)?;
        let state: String = row.get(9)?;
        Ok(StoredIssuance {
            id: row.get(0)?,
            raw: RawIssuance {
                feed: row.get(1)?,
                url: row.get(2)?,
                fetched_at: parse_ts(&fetched_at).unwrap_or_default(),
                sha256: row.get(4)?,
                content_type: row.get(5)?,
                bytes: row.get(6)?,
                etag: row.get(7)?,
                last_modified: row.get(8)?,
            },
            state: state_of(&state),
            error: row.get(10)?,
        })
    }

    /// The active flag of each summary: the latest version of an event not cancelled.
    fn with_active(
        &self,
        c: &Connection,
        mut v: Vec<AlertSummary>,
    ) -> Result<Vec<AlertSummary>, StoreError> {
        let mut stmt = c
            .prepare_cached("SELECT latest_alert, active FROM events")
            .map_err(|e| self.err(e))?;
        let latest: std::collections::HashMap<String, bool> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        for s in &mut v {
            s.active = latest.get(&s.id).copied().unwrap_or(false);
        }
        Ok(v)
    }
}

const ISSUANCE_COLUMNS: &str = "id, feed, url, fetched_at, sha256, content_type, bytes, etag, \
                                last_modified, state, error";

fn hazard_str(h: super::HazardKind) -> &'static str {
    match h {
        super::HazardKind::TropicalCyclone => "tropical_cyclone",
        super::HazardKind::Flood => "flood",
    }
}

fn feed_state(s: &str) -> FeedState {
    match s {
        "ok" => FeedState::Ok,
        "degraded" => FeedState::Degraded,
        _ => FeedState::Unknown,
    }
}
