//! Backup, restore, the integrity report and the copy in from SQLite on PostgreSQL (issue
//! 15 item 4). Backups are Debian postgresql-client's pg_dump (custom format) and
//! pg_restore, run as child processes with the store's URL and its password in
//! `PGPASSWORD`; the report is computed in the very snapshot pg_dump copies (an exported
//! snapshot, `pg_dump --snapshot`), so a restore can be compared row for row with it.
//!
//! Must not depend on the pipeline or the API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row, Transaction};

use super::{Inner, PgStore};
use crate::store::StoreError;
use crate::store::sqlite::ops::{Chunk, quote_ident};
use crate::store::tables::{NOT_COPIED, StoreCheck, TABLES, TableDigest, Value};

/// A statement parameter of a type chosen at run time.
type Param = Box<dyn ToSql + Sync + Send>;

impl PgStore {
    /// The integrity report of the database: schema version, rows and digest per table,
    /// in one snapshot.
    pub fn check(&self) -> Result<StoreCheck, StoreError> {
        self.call(|s| async move { s.check(None).await })
    }

    /// [`PgStore::check`] over the tables and columns of `only` (what a copy wrote).
    pub fn check_only(
        &self,
        only: BTreeMap<String, Vec<String>>,
    ) -> Result<StoreCheck, StoreError> {
        self.call(|s| async move { s.check(Some(&only)).await })
    }

    /// Dumps the database with pg_dump (custom format) to the new file `to` and returns the
    /// report of exactly what was dumped. Refuses to overwrite `to`.
    pub fn dump(&self, to: &Path) -> Result<StoreCheck, StoreError> {
        if to.exists() {
            return Err(StoreError::Refused {
                path: to.display().to_string(),
                message: "the backup file exists already: choose a new name (a backup is \
                          never overwritten)"
                    .into(),
            });
        }
        let to = to.to_path_buf();
        self.call(|s| async move { s.dump(to).await })
    }

    /// Restores a pg_dump file into this database, which must hold no aviso table (a
    /// restore never merges into live data), and returns the restored store's report.
    pub fn restore_dump(&self, from: &Path) -> Result<StoreCheck, StoreError> {
        let from = from.to_path_buf();
        self.call(|s| async move { s.restore_dump(from).await })
    }

    /// Starts a copy into this database: the tables and rows sent to the [`CopyIn`] (in
    /// the order sent: parents first) are inserted in one transaction, keeping their ids,
    /// each identity column moved past the highest id copied; committed by
    /// [`CopyIn::commit`] only.
    pub fn copy_in(&self) -> Result<CopyIn, StoreError> {
        let handle = self.handle()?;
        let inner = std::sync::Arc::clone(&self.inner);
        // A few chunks in flight: the reader stays ahead of the inserts without holding
        // the store in memory.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        handle.spawn(async move {
            let _ = done_tx.send(inner.copy_in(rx).await);
        });
        Ok(CopyIn {
            tx: Some(tx),
            done,
            url: self.inner.url.clone(),
        })
    }
}

/// A copy into PostgreSQL in progress ([`PgStore::copy_in`]): chunks go in with
/// [`CopyIn::send`]; nothing is kept unless [`CopyIn::commit`] is called (dropped without
/// it, the transaction rolls back).
pub struct CopyIn {
    tx: Option<tokio::sync::mpsc::Sender<Option<Chunk>>>,
    /// The copy's end: rows inserted and committed, `None` when abandoned (rolled back).
    done: std::sync::mpsc::Receiver<Result<Option<u64>, StoreError>>,
    url: String,
}

impl CopyIn {
    /// Hands a chunk over (waiting while the inserts catch up). An error: the copy has
    /// stopped; its reason comes from [`CopyIn::commit`].
    pub fn send(&self, chunk: Chunk) -> Result<(), StoreError> {
        let stopped = || StoreError::Unavailable {
            url: self.url.clone(),
            message: "the copy stopped (see the error that follows)".into(),
        };
        let tx = self.tx.as_ref().ok_or_else(stopped)?;
        tx.blocking_send(Some(chunk)).map_err(|_| stopped())
    }

    /// Commits what was sent; returns the rows inserted, or why the copy failed.
    pub fn commit(mut self) -> Result<u64, StoreError> {
        if let Some(tx) = self.tx.take() {
            // `None`: the end, commit. A copy that already failed has stopped listening.
            let _ = tx.blocking_send(None);
        }
        match self.wait()? {
            Some(n) => Ok(n),
            None => Err(StoreError::Unavailable {
                url: self.url.clone(),
                message: "the copy ended without committing".into(),
            }),
        }
    }

    /// Gives the copy up: nothing is kept (the transaction rolls back). Returns why the
    /// copy itself had failed, if it had.
    pub fn abandon(mut self) -> Option<StoreError> {
        // Closing the channel without the end marker: the copy rolls back.
        drop(self.tx.take());
        self.wait().err()
    }

    fn wait(&self) -> Result<Option<u64>, StoreError> {
        self.done.recv().map_err(|_| StoreError::Unavailable {
            url: self.url.clone(),
            message: "the store's runtime has stopped".into(),
        })?
    }
}

/// The table being copied: its name, columns, their PostgreSQL types and the insert.
struct Target {
    name: String,
    columns: Vec<String>,
    types: Vec<String>,
    insert: tokio_postgres::Statement,
}

/// pg_dump or pg_restore with `args`, the password in the environment; its stderr in the
/// error.
fn run_tool(program: &str, args: &[String], password: Option<&str>) -> Result<(), String> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{program} not found: install Debian's postgresql-client (the server's major \
                 version or newer)"
            )
        } else {
            format!("running {program}: {e}")
        }
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{program} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

fn read_value(r: &Row, i: usize, ty: &str) -> Result<Value, String> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        r: &'a Row,
        i: usize,
    ) -> Result<Option<T>, String> {
        r.try_get::<_, Option<T>>(i).map_err(|e| e.to_string())
    }
    Ok(match ty {
        "bigint" => get::<i64>(r, i)?.map_or(Value::Null, Value::Int),
        "integer" => get::<i32>(r, i)?.map_or(Value::Null, |v| Value::Int(v.into())),
        "smallint" => get::<i16>(r, i)?.map_or(Value::Null, |v| Value::Int(v.into())),
        "boolean" => get::<bool>(r, i)?.map_or(Value::Null, |v| Value::Int(v.into())),
        "timestamp with time zone" => get::<DateTime<Utc>>(r, i)?
            .map_or(Value::Null, |t| Value::Text(crate::store::sqlite::ts(t))),
        "bytea" => get::<Vec<u8>>(r, i)?.map_or(Value::Null, Value::Bytes),
        "text" | "character varying" => get::<String>(r, i)?.map_or(Value::Null, Value::Text),
        "double precision" => get::<f64>(r, i)?.map_or(Value::Null, Value::Real),
        "real" => get::<f32>(r, i)?.map_or(Value::Null, |v| Value::Real(v.into())),
        other => return Err(format!("column type {other} is not one aviso stores")),
    })
}

/// `v` (as SQLite keeps it) as a parameter for a PostgreSQL column of type `ty`.
fn param(v: &Value, ty: &str) -> Result<Param, String> {
    let bad = || format!("{v:?} does not fit PostgreSQL type {ty}");
    Ok(match (ty, v) {
        ("bigint", Value::Null) => Box::new(None::<i64>),
        ("integer", Value::Null) => Box::new(None::<i32>),
        ("boolean", Value::Null) => Box::new(None::<bool>),
        ("timestamp with time zone", Value::Null) => Box::new(None::<DateTime<Utc>>),
        ("bytea", Value::Null) => Box::new(None::<Vec<u8>>),
        ("text" | "character varying", Value::Null) => Box::new(None::<String>),
        ("double precision", Value::Null) => Box::new(None::<f64>),
        ("bigint", Value::Int(i)) => Box::new(*i),
        ("integer", Value::Int(i)) => Box::new(i32::try_from(*i).map_err(|_| bad())?),
        ("boolean", Value::Int(i)) => Box::new(*i != 0),
        ("timestamp with time zone", Value::Text(s)) => Box::new(
            DateTime::parse_from_rfc3339(s)
                .map_err(|e| format!("time {s:?}: {e}"))?
                .with_timezone(&Utc),
        ),
        ("bytea", Value::Bytes(b)) => Box::new(b.clone()),
        ("bytea", Value::Text(s)) => Box::new(s.as_bytes().to_vec()),
        ("text" | "character varying", Value::Text(s)) => Box::new(s.clone()),
        ("double precision", Value::Real(f)) => Box::new(*f),
        ("double precision", Value::Int(i)) => Box::new(*i as f64),
        _ => return Err(bad()),
    })
}

impl Inner {
    fn refused(&self, message: String) -> StoreError {
        StoreError::Refused {
            path: self.url.clone(),
            message,
        }
    }

    /// The store's tables (not [`NOT_COPIED`]), sorted, and whether `schema_migrations` is
    /// there.
    async fn tables(&self, tx: &Transaction<'_>) -> Result<(Vec<String>, bool), StoreError> {
        let rows = tx
            .query(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 ORDER BY table_name",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut names = Vec::new();
        for r in rows {
            names.push(r.try_get::<_, String>(0).map_err(|e| self.err(e))?);
        }
        let migrated = names.iter().any(|n| n == "schema_migrations");
        // PostGIS's own table, when the extension is in the database: not aviso's.
        names.retain(|n| !NOT_COPIED.contains(&n.as_str()) && n != "spatial_ref_sys");
        Ok((names, migrated))
    }

    /// (column, data type) of `table`, by column name.
    async fn columns(
        &self,
        tx: &Transaction<'_>,
        table: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let rows = tx
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[&table],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for r in rows {
            out.insert(
                r.try_get(0).map_err(|e| self.err(e))?,
                r.try_get(1).map_err(|e| self.err(e))?,
            );
        }
        Ok(out)
    }

    async fn check_in(
        &self,
        tx: &Transaction<'_>,
        only: Option<&BTreeMap<String, Vec<String>>>,
    ) -> Result<StoreCheck, StoreError> {
        let (names, migrated) = self.tables(tx).await?;
        let schema_version = if migrated {
            tx.query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))?
        } else {
            0
        };
        let mut checks = Vec::new();
        for name in names {
            let types = self.columns(tx, &name).await?;
            let cols: Vec<String> = match only {
                None => types.keys().cloned().collect(),
                Some(only) => match only.get(&name) {
                    Some(c) => c.clone(),
                    None => continue,
                },
            };
            let digest = TableDigest::new(&cols);
            let cols = digest.columns().to_vec();
            let mut digest = digest;
            let select = format!(
                "SELECT {} FROM {}",
                cols.iter()
                    .map(|c| quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                quote_ident(&name)
            );
            // Row by row as the server sends them, not the whole table in memory
            // (issuances hold every feed body).
            let no_params: [&(dyn ToSql + Sync); 0] = [];
            let rows = tx
                .query_raw(&select, no_params)
                .await
                .map_err(|e| self.err(e))?;
            let mut rows = std::pin::pin!(rows);
            while let Some(r) = rows.next().await {
                let r = &r.map_err(|e| self.err(e))?;
                let mut values = Vec::with_capacity(cols.len());
                for (i, c) in cols.iter().enumerate() {
                    let ty = types.get(c).map_or("", String::as_str);
                    values.push(
                        read_value(r, i, ty)
                            .map_err(|m| self.corrupt(&format!("{name}.{c}"), m))?,
                    );
                }
                digest.push(&values);
            }
            checks.push(digest.finish(&name));
        }
        Ok(StoreCheck {
            backend: "postgres".into(),
            schema_version,
            integrity: None,
            tables: checks,
        })
    }

    async fn check(
        &self,
        only: Option<&BTreeMap<String, Vec<String>>>,
    ) -> Result<StoreCheck, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.err(e))?;
        let report = self.check_in(&tx, only).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(report)
    }

    async fn dump(&self, to: PathBuf) -> Result<StoreCheck, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.err(e))?;
        let snapshot: String = tx
            .query_one("SELECT pg_export_snapshot()", &[])
            .await
            .map_err(|e| self.err(e))?
            .try_get(0)
            .map_err(|e| self.err(e))?;
        let report = self.check_in(&tx, None).await?;
        let mut partial = to.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let args = vec![
            "--format=custom".to_string(),
            format!("--snapshot={snapshot}"),
            format!("--file={}", partial.display()),
            format!("--dbname={}", self.conninfo),
        ];
        let password = self.password.clone();
        let ran =
            tokio::task::spawn_blocking(move || run_tool("pg_dump", &args, password.as_deref()))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
        tx.commit().await.map_err(|e| self.err(e))?;
        let renamed = ran.and_then(|()| {
            std::fs::rename(&partial, &to).map_err(|e| format!("{}: {e}", to.display()))
        });
        if let Err(message) = renamed {
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::Unavailable {
                url: self.url.clone(),
                message,
            });
        }
        Ok(report)
    }

    async fn restore_dump(&self, from: PathBuf) -> Result<StoreCheck, StoreError> {
        {
            let mut c = self.conn().await?;
            let c: &mut tokio_postgres::Client = &mut c;
            let tx = c.transaction().await.map_err(|e| self.err(e))?;
            let (names, migrated) = self.tables(&tx).await?;
            let ours: Vec<&String> = names
                .iter()
                .filter(|n| TABLES.iter().any(|t| t.name == n.as_str()))
                .collect();
            if migrated || !ours.is_empty() {
                return Err(self.refused(format!(
                    "the database holds aviso's tables already ({}): restore into a new, empty \
                     database (createdb NAME, then point [store] url at it)",
                    if ours.is_empty() {
                        "schema_migrations".to_string()
                    } else {
                        ours.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )));
            }
            tx.commit().await.map_err(|e| self.err(e))?;
        }
        if !from.is_file() {
            return Err(StoreError::Refused {
                path: from.display().to_string(),
                message: "no such backup file".into(),
            });
        }
        let args = vec![
            "--no-owner".to_string(),
            "--no-privileges".to_string(),
            "--exit-on-error".to_string(),
            "--single-transaction".to_string(),
            format!("--dbname={}", self.conninfo),
            from.display().to_string(),
        ];
        let password = self.password.clone();
        tokio::task::spawn_blocking(move || run_tool("pg_restore", &args, password.as_deref()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(|message| StoreError::Unavailable {
                url: self.url.clone(),
                message,
            })?;
        self.check(None).await
    }

    async fn copy_in(
        &self,
        mut rx: tokio::sync::mpsc::Receiver<Option<Chunk>>,
    ) -> Result<Option<u64>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let mut inserted = 0u64;
        let mut table: Option<Target> = None;
        let mut rows_in_table = 0usize;
        loop {
            match rx.recv().await {
                Some(Some(Chunk::Table { name, columns })) => {
                    if let Some(t) = table.take() {
                        self.continue_identities(&tx, &t.name).await?;
                    }
                    table = Some(self.target(&tx, name, columns).await?);
                    rows_in_table = 0;
                }
                Some(Some(Chunk::Rows(rows))) => {
                    let t = table
                        .as_ref()
                        .ok_or_else(|| self.refused("rows before their table".into()))?;
                    for row in rows {
                        rows_in_table += 1;
                        let mut params: Vec<Param> = Vec::with_capacity(row.len());
                        for ((v, ty), col) in row.iter().zip(&t.types).zip(&t.columns) {
                            params.push(param(v, ty).map_err(|m| {
                                self.corrupt(
                                    &format!("{} row {rows_in_table} column {col}", t.name),
                                    m,
                                )
                            })?);
                        }
                        let refs: Vec<&(dyn ToSql + Sync)> =
                            params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
                        tx.execute(&t.insert, &refs)
                            .await
                            .map_err(|e| self.err(e))?;
                        inserted += 1;
                    }
                }
                Some(None) => {
                    if let Some(t) = table.take() {
                        self.continue_identities(&tx, &t.name).await?;
                    }
                    tx.commit().await.map_err(|e| self.err(e))?;
                    return Ok(Some(inserted));
                }
                // The reader gave up: nothing is kept (the transaction rolls back).
                None => return Ok(None),
            }
        }
    }

    /// The insert of `columns` into `name`, refused when PostgreSQL cannot hold them.
    async fn target(
        &self,
        tx: &Transaction<'_>,
        name: String,
        columns: Vec<String>,
    ) -> Result<Target, StoreError> {
        let known = self.columns(tx, &name).await?;
        if known.is_empty() {
            return Err(self.refused(format!(
                "has no table {name}: this aviso's PostgreSQL schema cannot hold it"
            )));
        }
        let mut types = Vec::with_capacity(columns.len());
        for col in &columns {
            let ty = known.get(col).ok_or_else(|| {
                self.refused(format!(
                    "table {name} has no column {col}, which the SQLite store holds"
                ))
            })?;
            types.push(ty.clone());
        }
        let sql = format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})",
            quote_ident(&name),
            columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", "),
            (1..=columns.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let insert = tx.prepare(&sql).await.map_err(|e| self.err(e))?;
        Ok(Target {
            name,
            columns,
            types,
            insert,
        })
    }

    /// Identity columns of `table` go on after the highest id copied, so the service's
    /// next insert does not collide with a copied row.
    async fn continue_identities(
        &self,
        tx: &Transaction<'_>,
        table: &str,
    ) -> Result<(), StoreError> {
        let identities = tx
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'YES'",
                &[&table],
            )
            .await
            .map_err(|e| self.err(e))?;
        for r in identities {
            let col: String = r.try_get(0).map_err(|e| self.err(e))?;
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), m, true) \
                 FROM (SELECT MAX({}) AS m FROM {}) x WHERE m IS NOT NULL",
                quote_ident(&col),
                quote_ident(table)
            );
            tx.execute(&sql, &[&table, &col])
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}
