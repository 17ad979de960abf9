//! Backup, restore and the integrity report of the embedded store's file (issue 15 item
//! 4), and streaming it to `aviso store migrate`. Works on the file by path, beside a
//! running service: the backup goes through SQLite's online backup API (a consistent copy
//! of a database another connection writes to; <https://www.sqlite.org/backup.html>), every
//! read of the file happens in one read transaction (one snapshot under WAL).
//!
//! Must not depend on the pipeline or the API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::MIGRATIONS;
use crate::store::StoreError;
use crate::store::tables::{NOT_COPIED, StoreCheck, TABLES, TableDigest, Value};

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

fn refused(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Refused {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// `path` with `suffix` appended to its file name (`aviso.sqlite` -> `aviso.sqlite.partial`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Opens an existing store file read-only (never creating one, never migrating it).
fn open_existing(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(refused(path, "no such SQLite store file"));
    }
    let c =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err(path))?;
    // The service may hold the write lock for a moment.
    c.busy_timeout(Duration::from_secs(10)).map_err(err(path))?;
    Ok(c)
}

/// The store's tables (not SQLite's own, not [`NOT_COPIED`]), sorted by name.
fn table_names(c: &Connection, path: &Path) -> Result<Vec<String>, StoreError> {
    let mut stmt = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .map_err(err(path))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(err(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err(path))?;
    Ok(names
        .into_iter()
        .filter(|n| !NOT_COPIED.contains(&n.as_str()))
        .collect())
}

fn columns(c: &Connection, path: &Path, table: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = c
        .prepare(&format!(
            "SELECT name FROM pragma_table_info({})",
            quote_literal(table)
        ))
        .map_err(err(path))?;
    stmt.query_map([], |r| r.get::<_, String>(0))
        .map_err(err(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err(path))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An SQL identifier, quoted.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn schema_version(c: &Connection, path: &Path) -> Result<i64, StoreError> {
    let has: bool = c
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
            [],
            |r| r.get(0),
        )
        .map_err(err(path))?;
    if !has {
        return Ok(0);
    }
    c.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
    .map_err(err(path))
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

/// What [`stream`] hands over: the start of a table, then its rows in chunks.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// A table begins; its rows' values come in `columns` order (sorted by name).
    Table {
        name: String,
        columns: Vec<String>,
    },
    Rows(Vec<Vec<Value>>),
}

/// Where [`stream`] sends its chunks.
pub type Sink<'a> = &'a mut dyn FnMut(Chunk) -> Result<(), StoreError>;

/// Rows handed over at once: at most this many, or about this many bytes (a few feed
/// bodies), so a copy holds little of the store in memory whatever its size.
const CHUNK_ROWS: usize = 500;
const CHUNK_BYTES: usize = 4 << 20;

fn size(v: &Value) -> usize {
    match v {
        Value::Text(t) => t.len(),
        Value::Bytes(b) => b.len(),
        _ => 8,
    }
}

/// Reads the store at `path` in one snapshot and returns its report; the rows of the
/// tables `copy` names go to `sink` as they are read, those tables first, in [`TABLES`]
/// order (parents before children).
fn scan(
    path: &Path,
    copy: &dyn Fn(&str) -> bool,
    mut sink: Option<Sink<'_>>,
) -> Result<StoreCheck, StoreError> {
    let mut c = open_existing(path)?;
    let e = err(path);
    let tx = c.transaction().map_err(&e)?;
    let integrity = {
        let mut stmt = tx.prepare("PRAGMA integrity_check").map_err(&e)?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        lines.join("; ")
    };
    let schema_version = schema_version(&tx, path)?;
    let mut names = table_names(&tx, path)?;
    let rank = |n: &str| {
        let pos = TABLES
            .iter()
            .position(|t| t.name == n)
            .unwrap_or(usize::MAX);
        (!copy(n), pos)
    };
    names.sort_by_key(|n| rank(n));
    let mut checks = Vec::new();
    for name in names {
        let mut digest = TableDigest::new(&columns(&tx, path, &name)?);
        let cols = digest.columns().to_vec();
        let mut sink = sink.as_mut().filter(|_| copy(&name));
        if let Some(s) = sink.as_mut() {
            s(Chunk::Table {
                name: name.clone(),
                columns: cols.clone(),
            })?;
        }
        let select = format!(
            "SELECT {} FROM {}",
            cols.iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", "),
            quote_ident(&name)
        );
        let mut stmt = tx.prepare(&select).map_err(&e)?;
        let mut rows = stmt.query([]).map_err(&e)?;
        let (mut chunk, mut bytes) = (Vec::new(), 0);
        while let Some(r) = rows.next().map_err(&e)? {
            let mut values = Vec::with_capacity(cols.len());
            for i in 0..cols.len() {
                values.push(value(r.get_ref(i).map_err(&e)?));
            }
            digest.push(&values);
            if let Some(s) = sink.as_mut() {
                bytes += values.iter().map(size).sum::<usize>();
                chunk.push(values);
                if chunk.len() >= CHUNK_ROWS || bytes >= CHUNK_BYTES {
                    s(Chunk::Rows(std::mem::take(&mut chunk)))?;
                    bytes = 0;
                }
            }
        }
        if let Some(s) = sink.as_mut()
            && !chunk.is_empty()
        {
            s(Chunk::Rows(chunk))?;
        }
        checks.push(digest.finish(&name));
    }
    checks.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(StoreCheck {
        backend: "sqlite".into(),
        schema_version,
        integrity: Some(integrity),
        tables: checks,
    })
}

/// The integrity report of the store file at `path` (read-only).
pub fn check(path: &Path) -> Result<StoreCheck, StoreError> {
    scan(path, &|_| false, None)
}

/// Reads the store at `path` in one snapshot, handing the rows of the tables `copy`
/// names to `sink` as they are read (see [`Chunk`]); returns the report of that snapshot.
/// An error from `sink` stops the read and is returned.
pub fn stream(
    path: &Path,
    copy: &dyn Fn(&str) -> bool,
    sink: Sink<'_>,
) -> Result<StoreCheck, StoreError> {
    scan(path, copy, Some(sink))
}

/// Copies the store at `src` to the new file `dst` through the online backup API, turns
/// the copy into a single self-contained file (rollback journal, not WAL), checks it and
/// returns its report. Written beside `dst` first and renamed when sound, so a backup
/// that failed half-way never looks like one. Refuses to overwrite `dst`.
pub fn backup(src: &Path, dst: &Path) -> Result<StoreCheck, StoreError> {
    if dst.exists() {
        return Err(refused(
            dst,
            "the backup file exists already: choose a new name (a backup is never overwritten)",
        ));
    }
    let source = open_existing(src)?;
    let partial = with_suffix(dst, ".partial");
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut out = Connection::open(&partial).map_err(err(&partial))?;
        {
            let b = rusqlite::backup::Backup::new(&source, &mut out).map_err(err(src))?;
            // 256 pages (1 MiB at the default page size) per step, then let the service's
            // writer in; a write by another connection restarts the copy, which still
            // ends with one consistent snapshot.
            b.run_to_completion(256, Duration::from_millis(10), None)
                .map_err(err(src))?;
        }
        out.pragma_update(None, "journal_mode", "DELETE")
            .map_err(err(&partial))?;
        drop(out);
        let report = check(&partial)?;
        if !report.sound() {
            return Err(StoreError::CheckFailed {
                path: partial.display().to_string(),
                lines: vec![format!("integrity check: {:?}", report.integrity)],
            });
        }
        std::fs::rename(&partial, dst).map_err(|source| StoreError::Io {
            path: dst.display().to_string(),
            source,
        })?;
        Ok(report)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Restores the backup `from` into the store file `target`, which must not exist or hold
/// no rows (a restore never merges into live data). The backup is checked first (sound,
/// a schema this aviso knows), copied through the backup API into a file beside `target`,
/// checked again and compared table by table with the backup, and only then renamed into
/// place. Returns (the backup's report, the restored store's report).
pub fn restore(from: &Path, target: &Path) -> Result<(StoreCheck, StoreCheck), StoreError> {
    let expected = check(from)?;
    if !expected.sound() {
        return Err(StoreError::CheckFailed {
            path: from.display().to_string(),
            lines: vec![format!(
                "the backup's integrity check: {}",
                expected.integrity.as_deref().unwrap_or_default()
            )],
        });
    }
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if expected.schema_version > known {
        return Err(StoreError::SchemaTooNew {
            path: from.display().to_string(),
            found: expected.schema_version,
            known,
        });
    }
    if target.exists() {
        let held: Vec<String> = check(target)?
            .tables
            .iter()
            .filter(|t| t.rows > 0)
            .map(|t| format!("{} ({} rows)", t.table, t.rows))
            .collect();
        if !held.is_empty() {
            return Err(refused(
                target,
                format!(
                    "the store holds data ({}): restore into a fresh store (stop the service, \
                     move the file aside or point data_dir to an empty folder)",
                    held.join(", ")
                ),
            ));
        }
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let restoring = with_suffix(target, ".restoring");
    let _ = std::fs::remove_file(&restoring);
    let result = (|| {
        let mut c = Connection::open(&restoring).map_err(err(&restoring))?;
        c.restore(
            rusqlite::MAIN_DB,
            from,
            None::<fn(rusqlite::backup::Progress)>,
        )
        .map_err(err(from))?;
        drop(c);
        let found = check(&restoring)?;
        let mut lines = found.differences(&expected);
        if !found.sound() {
            lines.insert(
                0,
                format!(
                    "integrity check: {}",
                    found.integrity.as_deref().unwrap_or_default()
                ),
            );
        }
        if found.schema_version != expected.schema_version {
            lines.push(format!(
                "schema version {}, the backup's is {}",
                found.schema_version, expected.schema_version
            ));
        }
        if !lines.is_empty() {
            return Err(StoreError::CheckFailed {
                path: target.display().to_string(),
                lines,
            });
        }
        // The old, empty store and its WAL go; the restored file takes its place.
        for f in [
            target.to_path_buf(),
            with_suffix(target, "-wal"),
            with_suffix(target, "-shm"),
        ] {
            let _ = std::fs::remove_file(f);
        }
        std::fs::rename(&restoring, target).map_err(|source| StoreError::Io {
            path: target.display().to_string(),
            source,
        })?;
        Ok(found)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&restoring);
    }
    Ok((expected, result?))
}
