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
    AlertFilter, AlertRecord, AlertSummary, AssessmentRecord, EventSummary, FeedHealth, FeedState,
    FetchResult, Inserted, IssuanceState, NewAlert, RawIssuance, RunRecord, Store, StoreCounts,
    StoreError, StoredIssuance,
};
use crate::alerts::versioning::{CapStatus, MsgType};

mod notify;

/// The schema, one entry per version. Never edit a released entry: add a new one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "issuances, feeds, assessments, events, alerts, runs",
        r#"
CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('unknown', 'ok', 'degraded')),
    last_attempt TEXT,
    last_success TEXT,
    last_new_issuance TEXT,
    last_error TEXT,
    last_error_kind TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    etag TEXT,
    last_modified TEXT
);
CREATE TABLE fetch_counts (
    feed TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (feed, outcome)
);
CREATE TABLE issuances (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    url TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT,
    bytes BLOB NOT NULL,
    etag TEXT,
    last_modified TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'processed', 'failed')),
    error TEXT,
    processed_at TEXT,
    UNIQUE (feed, sha256)
);
CREATE INDEX issuances_pending ON issuances (state, id);
CREATE TABLE assessments (
    id INTEGER PRIMARY KEY,
    issuance_id INTEGER NOT NULL REFERENCES issuances (id),
    event_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX assessments_event ON assessments (event_id, id);
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    event_name TEXT NOT NULL,
    hazard TEXT NOT NULL,
    status TEXT NOT NULL,
    latest_alert TEXT NOT NULL,
    versions INTEGER NOT NULL,
    active INTEGER NOT NULL
);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (event_id),
    version INTEGER NOT NULL,
    msg_type TEXT NOT NULL,
    status TEXT NOT NULL,
    sent TEXT NOT NULL,
    max_level TEXT,
    issuance_id INTEGER REFERENCES issuances (id),
    summary TEXT NOT NULL,
    document TEXT NOT NULL,
    cap TEXT NOT NULL,
    UNIQUE (event_id, version)
);
CREATE INDEX alerts_sent ON alerts (sent);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
"#,
    ),
    (
        2,
        "subscribers and the notification outbox",
        notify::MIGRATION_2,
    ),
    (
        3,
        "opt-outs that outlive an update or import",
        notify::MIGRATION_3,
    ),
    (
        4,
        "SMS delivery reports, erasures, opting back in",
        notify::MIGRATION_4,
    ),
    (
        5,
        "indexes on the subscriber foreign keys",
        notify::MIGRATION_5,
    ),
];

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

fn ts(t: DateTime<Utc>) -> String {
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
                s.msg_type != MsgType::Cancel
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

impl Store for SqliteStore {
    fn migrate(&self) -> Result<i64, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .map_err(|e| self.err(e))?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > known {
            return Err(StoreError::SchemaTooNew {
                path: self.path.display().to_string(),
                found: current,
                known,
            });
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.execute_batch(sql).map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(known)
    }

    fn insert_issuance(&self, raw: &RawIssuance) -> Result<Inserted, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        Self::ensure_feed(&tx, &raw.feed).map_err(|e| self.err(e))?;
        let existing: Option<(i64, String, Option<String>)> = tx
            .query_row(
                "SELECT id, state, error FROM issuances WHERE feed = ?1 AND sha256 = ?2",
                params![raw.feed, raw.sha256],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let at = ts(raw.fetched_at);
        let result = match existing {
            Some((id, state, error)) if state == IssuanceState::Failed.as_str() => {
                Inserted::StillFailing {
                    id,
                    error: error.unwrap_or_default(),
                }
            }
            Some((id, _, _)) => Inserted::Duplicate(id),
            None => {
                tx.execute(
                    "INSERT INTO issuances (feed, url, fetched_at, sha256, content_type, bytes,
                        etag, last_modified, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
                    params![
                        raw.feed,
                        raw.url,
                        at,
                        raw.sha256,
                        raw.content_type,
                        raw.bytes,
                        raw.etag,
                        raw.last_modified
                    ],
                )
                .map_err(|e| self.err(e))?;
                tx.execute(
                    "UPDATE feeds SET last_new_issuance = ?2 WHERE name = ?1",
                    params![raw.feed, at],
                )
                .map_err(|e| self.err(e))?;
                Inserted::New(tx.last_insert_rowid())
            }
        };
        if let Inserted::StillFailing { id, error } = &result {
            Self::degrade_for_content(&tx, &raw.feed, at.as_str(), *id, error)
                .map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
            return Ok(result);
        }
        // Success of the fetch; the parse may still fail later (then `fail_issuance`
        // marks the feed degraded).
        tx.execute(
            "UPDATE feeds SET state = 'ok', last_attempt = ?2, last_success = ?2,
                last_error = NULL, last_error_kind = NULL, consecutive_failures = 0,
                etag = ?3, last_modified = ?4
             WHERE name = ?1",
            params![raw.feed, at, raw.etag, raw.last_modified],
        )
        .map_err(|e| self.err(e))?;
        Self::bump_fetch_count(&tx, &raw.feed, "fetched").map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(result)
    }

    fn record_fetch(
        &self,
        feed: &str,
        at: DateTime<Utc>,
        result: &FetchResult,
    ) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        Self::ensure_feed(&tx, feed).map_err(|e| self.err(e))?;
        let at = ts(at);
        let still_failing = match result {
            FetchResult::NotModified => Self::latest_failed(&tx, feed).map_err(|e| self.err(e))?,
            _ => None,
        };
        match result {
            FetchResult::NotModified if still_failing.is_some() => {
                if let Some((id, error)) = &still_failing {
                    Self::degrade_for_content(&tx, feed, &at, *id, error)
                        .map_err(|e| self.err(e))?;
                }
            }
            FetchResult::Fetched | FetchResult::NotModified => {
                tx.execute(
                    "UPDATE feeds SET state = 'ok', last_attempt = ?2, last_success = ?2,
                        last_error = NULL, last_error_kind = NULL, consecutive_failures = 0
                     WHERE name = ?1",
                    params![feed, at],
                )
                .map_err(|e| self.err(e))?;
                let outcome = if matches!(result, FetchResult::NotModified) {
                    "not_modified"
                } else {
                    "fetched"
                };
                Self::bump_fetch_count(&tx, feed, outcome).map_err(|e| self.err(e))?;
            }
            FetchResult::Failed { kind, message } => {
                tx.execute(
                    "UPDATE feeds SET state = 'degraded', last_attempt = ?2, last_error = ?3,
                        last_error_kind = ?4, consecutive_failures = consecutive_failures + 1
                     WHERE name = ?1",
                    params![feed, at, message, kind],
                )
                .map_err(|e| self.err(e))?;
                Self::bump_fetch_count(&tx, feed, kind).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn feed_health(&self, feed: &str) -> Result<Option<FeedHealth>, StoreError> {
        Ok(self.all_feed_health()?.into_iter().find(|h| h.feed == feed))
    }

    fn all_feed_health(&self) -> Result<Vec<FeedHealth>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT name, state, last_attempt, last_success, last_new_issuance, last_error,
                    last_error_kind, consecutive_failures, etag, last_modified
                 FROM feeds ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let t = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
                    Ok(r.get::<_, Option<String>>(i)?.as_deref().and_then(parse_ts))
                };
                Ok(FeedHealth {
                    feed: r.get(0)?,
                    state: feed_state(&r.get::<_, String>(1)?),
                    last_attempt: t(2)?,
                    last_success: t(3)?,
                    last_new_issuance: t(4)?,
                    last_error: r.get(5)?,
                    last_error_kind: r.get(6)?,
                    consecutive_failures: r.get(7)?,
                    etag: r.get(8)?,
                    last_modified: r.get(9)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn pending_issuances(&self) -> Result<Vec<StoredIssuance>, StoreError> {
        let c = self.writer();
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE state = 'pending' ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], Self::read_issuance)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn issuance(&self, id: i64) -> Result<Option<StoredIssuance>, StoreError> {
        let c = self.reader();
        c.query_row(
            &format!("SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE id = ?1"),
            params![id],
            Self::read_issuance,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn latest_processed_issuance(&self, feed: &str) -> Result<Option<StoredIssuance>, StoreError> {
        let c = self.reader();
        c.query_row(
            &format!(
                "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE feed = ?1 AND state = 'processed'
                 ORDER BY id DESC LIMIT 1"
            ),
            params![feed],
            Self::read_issuance,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn last_issuance_of_event(&self, event_id: &str) -> Result<Option<StoredIssuance>, StoreError> {
        let c = self.reader();
        c.query_row(
            &format!(
                "SELECT {ISSUANCE_COLUMNS} FROM issuances WHERE id = (
                    SELECT MAX(issuance_id) FROM assessments WHERE event_id = ?1)"
            ),
            params![event_id],
            Self::read_issuance,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn forecasts_since(
        &self,
        feed: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
        let c = self.writer();
        let mut stmt = c
            .prepare_cached(
                "SELECT i.id, a.record FROM issuances i LEFT JOIN assessments a ON a.issuance_id = i.id
                 WHERE (i.feed = ?1 OR substr(i.feed, 1, length(?1) + 1) = ?1 || ':')
                   AND i.state = 'processed' AND i.fetched_at > ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![feed, ts(since)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, record) = row.map_err(|e| self.err(e))?;
            let reference = match record {
                Some(json) => {
                    serde_json::from_str::<AssessmentRecord>(&json)
                        .map_err(|e| self.corrupt(&format!("assessments of issuance {id}"), e))?
                        .reference_time
                }
                None => None,
            };
            out.push(reference);
        }
        Ok(out)
    }

    fn fail_issuance(
        &self,
        id: i64,
        feed: &str,
        kind: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        Self::ensure_feed(&tx, feed).map_err(|e| self.err(e))?;
        let now = ts(Utc::now());
        tx.execute(
            "UPDATE issuances SET state = 'failed', error = ?2, processed_at = ?3 WHERE id = ?1",
            params![id, error, now],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "UPDATE feeds SET state = 'degraded', last_error = ?2, last_error_kind = ?3,
                consecutive_failures = consecutive_failures + 1
             WHERE name = ?1",
            params![feed, error, kind],
        )
        .map_err(|e| self.err(e))?;
        Self::bump_fetch_count(&tx, feed, kind).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    fn complete_issuance(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
    ) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.complete_issuance_tx(&tx, issuance_id, assessments, alerts)?;
        tx.commit().map_err(|e| self.err(e))
    }

    fn publish_alert(&self, alert: &NewAlert) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.insert_alert(&tx, alert)?;
        tx.commit().map_err(|e| self.err(e))
    }

    fn latest_version(&self, event_id: &str) -> Result<Option<AlertSummary>, StoreError> {
        // From the writer: the pipeline decides the next version from this, and must see
        // its own last commit.
        let c = self.writer();
        let row: Option<(String, String)> = c
            .query_row(
                "SELECT a.id, a.summary FROM events e JOIN alerts a ON a.id = e.latest_alert
                 WHERE e.event_id = ?1",
                params![event_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|(id, json)| {
            let mut s = self.summary_of(&id, &json)?;
            s.active = s.msg_type != MsgType::Cancel;
            Ok(s)
        })
        .transpose()
    }

    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertSummary>, StoreError> {
        let c = self.reader();
        let sql = if filter.active_only {
            "SELECT a.id, a.summary FROM alerts a JOIN events e ON e.latest_alert = a.id
             WHERE e.active = 1 ORDER BY a.sent DESC, a.id"
        } else {
            "SELECT id, summary FROM alerts ORDER BY sent DESC, id"
        };
        let mut stmt = c.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (id, json) in rows {
            let s = self.summary_of(&id, &json)?;
            if filter.matches(&s) {
                out.push(s);
            }
        }
        self.with_active(&c, out)
    }

    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let c = self.reader();
        let row: Option<(String, String, String)> = c
            .query_row(
                "SELECT summary, document, cap FROM alerts WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((json, document, cap)) = row else {
            return Ok(None);
        };
        let summary = self.summary_of(id, &json)?;
        let summary = self
            .with_active(&c, vec![summary])?
            .pop()
            .ok_or_else(|| self.corrupt(id, "summary vanished"))?;
        Ok(Some(AlertRecord {
            summary,
            document,
            cap,
        }))
    }

    fn events(&self, include_non_actual: bool) -> Result<Vec<EventSummary>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT e.event_id, e.versions, e.active, a.id, a.summary, e.status
                 FROM events e JOIN alerts a ON a.id = e.latest_alert
                 ORDER BY e.active DESC, a.sent DESC",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<(String, u32, bool, String, String, String)> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (event_id, versions, active, id, json, status) in rows {
            if !include_non_actual && status != CapStatus::Actual.as_str() {
                continue;
            }
            let mut latest = self.summary_of(&id, &json)?;
            latest.active = active;
            out.push(EventSummary {
                event_id,
                event_name: latest.event_name.clone(),
                hazard: latest.hazard,
                active,
                versions,
                latest,
            });
        }
        Ok(out)
    }

    fn event_versions(&self, event_id: &str) -> Result<Vec<AlertSummary>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached("SELECT id, summary FROM alerts WHERE event_id = ?1 ORDER BY version")
            .map_err(|e| self.err(e))?;
        let rows: Vec<(String, String)> = stmt
            .query_map(params![event_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let v = rows
            .iter()
            .map(|(id, json)| self.summary_of(id, json))
            .collect::<Result<Vec<_>, _>>()?;
        self.with_active(&c, v)
    }

    fn begin_run(&self, feed: &str, at: DateTime<Utc>) -> Result<i64, StoreError> {
        let c = self.writer();
        c.execute(
            "INSERT INTO runs (feed, started_at, outcome) VALUES (?1, ?2, 'running')",
            params![feed, ts(at)],
        )
        .map_err(|e| self.err(e))?;
        Ok(c.last_insert_rowid())
    }

    fn finish_run(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let c = self.writer();
        c.execute(
            "UPDATE runs SET finished_at = ?2, outcome = ?3, detail = ?4 WHERE id = ?1",
            params![id, ts(at), outcome, detail.to_string()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn last_run(&self) -> Result<Option<RunRecord>, StoreError> {
        let c = self.reader();
        c.query_row(
            "SELECT id, feed, started_at, finished_at, outcome, detail FROM runs
             WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1",
            [],
            |r| {
                let started: String = r.get(2)?;
                let finished: Option<String> = r.get(3)?;
                let detail: String = r.get(5)?;
                Ok(RunRecord {
                    id: r.get(0)?,
                    feed: r.get(1)?,
                    started_at: parse_ts(&started).unwrap_or_default(),
                    finished_at: finished.as_deref().and_then(parse_ts),
                    outcome: r.get(4)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        let c = self.reader();
        let q2 = |sql: &str| -> Result<Vec<(String, i64)>, StoreError> {
            let mut stmt = c.prepare_cached(sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
        };
        let q3 = |sql: &str| self.grouped_counts_on(&c, sql);
        Ok(StoreCounts {
            fetches: q3("SELECT feed, outcome, n FROM fetch_counts ORDER BY feed, outcome")?,
            runs: q2("SELECT outcome, COUNT(*) FROM runs GROUP BY outcome ORDER BY outcome")?,
            alerts: q3(
                "SELECT msg_type, COALESCE(max_level, 'none'), COUNT(*) FROM alerts
                 WHERE status = 'Actual' GROUP BY 1, 2 ORDER BY 1, 2",
            )?,
            issuances_by_state: q2(
                "SELECT state, COUNT(*) FROM issuances GROUP BY state ORDER BY state",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::versioning::Changes;
    use crate::store::{HazardKind, SummaryDistrict};

    fn raw(feed: &str, body: &[u8]) -> RawIssuance {
        RawIssuance {
            feed: feed.into(),
            url: format!("http://127.0.0.1/{feed}"),
            fetched_at: Utc::now(),
            sha256: RawIssuance::sha256_hex(body),
            content_type: Some("application/json".into()),
            bytes: body.to_vec(),
            etag: Some("\"v1\"".into()),
            last_modified: None,
        }
    }

    fn alert(event: &str, version: u32, msg_type: MsgType, issuance: i64) -> NewAlert {
        NewAlert {
            summary: AlertSummary {
                id: format!("aviso-{event}-{version}"),
                event_id: event.into(),
                version,
                msg_type,
                status: CapStatus::Actual,
                hazard: HazardKind::TropicalCyclone,
                event_name: "FREDDY".into(),
                sender: "aviso@test".into(),
                sent: Utc::now(),
                reference_time: None,
                max_level: Some(crate::alerts::levels::Level::Red),
                active: true,
                references: None,
                districts: vec![SummaryDistrict {
                    pcode: "MZ0910".into(),
                    name: "Quelimane".into(),
                    province_pcode: Some("MZ09".into()),
                    level: crate::alerts::levels::Level::Red,
                }],
                cleared: Vec::new(),
                changes: Changes::default(),
                feed: "rsmc".into(),
                issuance_id: Some(issuance),
                reason: None,
                reason_pt: None,
                incident: None,
            },
            document: "{}".into(),
            cap: "<alert/>".into(),
        }
    }

    #[test]
    fn the_same_content_from_the_same_feed_is_one_issuance() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let a = s.insert_issuance(&raw("rsmc", b"one")).unwrap();
        let b = s.insert_issuance(&raw("rsmc", b"one")).unwrap();
        let c = s.insert_issuance(&raw("other", b"one")).unwrap();
        let Inserted::New(id) = a else {
            panic!("{a:?}")
        };
        assert_eq!(b, Inserted::Duplicate(id));
        assert!(matches!(c, Inserted::New(_)));
        assert_eq!(s.pending_issuances().unwrap().len(), 2);
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!(h.state, FeedState::Ok);
        assert_eq!(h.etag.as_deref(), Some("\"v1\""));
    }

    #[test]
    fn an_issuance_left_pending_by_a_crash_is_pending_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SqliteStore::open_dir(dir.path()).unwrap();
            s.insert_issuance(&raw("rsmc", b"one")).unwrap();
            // dropped without completing: what a kill leaves
        }
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let p = s.pending_issuances().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].raw.bytes, b"one");
        assert_eq!(s.migrate().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn completing_is_atomic_a_conflicting_version_rolls_everything_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let Inserted::New(i1) = s.insert_issuance(&raw("rsmc", b"one")).unwrap() else {
            panic!()
        };
        s.complete_issuance(i1, &[], &[alert("e", 1, MsgType::Alert, i1)])
            .unwrap();
        let Inserted::New(i2) = s.insert_issuance(&raw("rsmc", b"two")).unwrap() else {
            panic!()
        };
        // Version 1 again: the unique (event, version) fails, nothing of i2 is kept.
        let e = s.complete_issuance(i2, &[], &[alert("e", 1, MsgType::Update, i2)]);
        assert!(e.is_err());
        assert_eq!(s.pending_issuances().unwrap().len(), 1);
        assert_eq!(s.event_versions("e").unwrap().len(), 1);
        // Completing twice is refused too.
        assert!(s.complete_issuance(i1, &[], &[]).is_err());
        s.complete_issuance(i2, &[], &[alert("e", 2, MsgType::Cancel, i2)])
            .unwrap();
        let latest = s.latest_version("e").unwrap().unwrap();
        assert_eq!((latest.version, latest.active), (2, false));
        assert!(
            s.alerts(&AlertFilter {
                active_only: true,
                ..AlertFilter::default()
            })
            .unwrap()
            .is_empty()
        );
        let all = s.alerts(&AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|a| !a.active));
    }

    fn planned(key: &str, version: u32) -> crate::notify::Planned {
        use crate::notify::{Channel, Outbound, OutboundBody};
        let text = "ALERTA VERMELHO: ciclone FREDDY".to_string();
        crate::notify::Planned {
            outbound: Outbound {
                idempotency_key: key.into(),
                subscriber_id: "s1".into(),
                channel: Channel::Sms("+258841234567".into()),
                body: OutboundBody::Sms {
                    count: crate::notify::gsm::count_segments(&text),
                    text,
                },
            },
            event_id: "e".into(),
            alert_id: format!("aviso-e-{version}"),
            version,
            notice: crate::notify::NoticeKind::NewEvent,
            level: Some(crate::alerts::levels::Level::Red),
            alert_sent: Utc::now(),
        }
    }

    #[test]
    fn a_version_and_its_messages_commit_together_or_not_at_all() {
        use crate::store::notify::NotifyStore;
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let keys = |s: &SqliteStore| -> Vec<String> {
            s.outbox(None)
                .unwrap()
                .into_iter()
                .map(|r| r.message.idempotency_key)
                .collect()
        };
        let Inserted::New(i1) = s.insert_issuance(&raw("rsmc", b"one")).unwrap() else {
            panic!()
        };
        let n = s
            .complete_issuance_enqueue(
                i1,
                &[],
                &[alert("e", 1, MsgType::Alert, i1)],
                &[planned("k1", 1)],
                Utc::now(),
            )
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(keys(&s), ["k1"]);
        // A version that cannot be stored takes its messages down with it...
        let Inserted::New(i2) = s.insert_issuance(&raw("rsmc", b"two")).unwrap() else {
            panic!()
        };
        let e = s.complete_issuance_enqueue(
            i2,
            &[],
            &[alert("e", 1, MsgType::Update, i2)],
            &[planned("k2", 1)],
            Utc::now(),
        );
        assert!(e.is_err());
        assert_eq!(keys(&s), ["k1"], "no message for a version never published");
        assert_eq!(s.pending_issuances().unwrap().len(), 1);
        // ... and so does a Cancel published outside an issuance.
        s.publish_alert_enqueue(
            &alert("e", 2, MsgType::Cancel, i1),
            &[planned("k3", 2)],
            Utc::now(),
        )
        .unwrap();
        assert!(
            s.publish_alert_enqueue(
                &alert("e", 2, MsgType::Cancel, i1),
                &[planned("k4", 2)],
                Utc::now()
            )
            .is_err()
        );
        assert_eq!(keys(&s), ["k1", "k3"]);
        assert_eq!(s.event_versions("e").unwrap().len(), 2);
    }

    #[test]
    fn a_schema_newer_than_this_build_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aviso.sqlite");
        SqliteStore::open(&path).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')",
            [],
        )
        .unwrap();
        let e = SqliteStore::open(&path).err().unwrap().to_string();
        assert!(e.contains("99") && e.contains("newer"), "{e}");
    }

    #[test]
    fn a_failed_fetch_degrades_the_feed_and_a_later_success_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let failed = FetchResult::Failed {
            kind: "http_5xx".into(),
            message: "HTTP 500".into(),
        };
        s.record_fetch("rsmc", Utc::now(), &failed).unwrap();
        s.record_fetch("rsmc", Utc::now(), &failed).unwrap();
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!((h.state, h.consecutive_failures), (FeedState::Degraded, 2));
        assert_eq!(h.last_error_kind.as_deref(), Some("http_5xx"));
        s.record_fetch("rsmc", Utc::now(), &FetchResult::NotModified)
            .unwrap();
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!((h.state, h.consecutive_failures), (FeedState::Ok, 0));
        let counts = s.counts().unwrap();
        assert!(
            counts
                .fetches
                .contains(&("rsmc".into(), "http_5xx".into(), 2))
        );
    }
}
