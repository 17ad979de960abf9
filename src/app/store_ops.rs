//! `aviso store backup | restore | migrate` (issue 15 item 4): move and protect the
//! store's data. The configured store (`[store] url`, else the SQLite file in
//! `service.data_dir`) is backed up through SQLite's online backup API or pg_dump; a
//! restore goes into a fresh store only and ends with an integrity check (SQLite's
//! `PRAGMA integrity_check`, the schema version, rows and a digest per table) compared
//! with the backup's; migrate copies a SQLite store into an empty PostgreSQL database
//! and compares the same figures. A failed check is an error (non-zero exit).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::config::Config;
use crate::store::config::{StoreConfig, redact};
use crate::store::postgres::PgStore;
use crate::store::sqlite::{MIGRATIONS, SqliteStore, ops};
use crate::store::tables::{self, StoreCheck};

#[derive(Debug, Clone, Subcommand)]
pub enum StoreCommand {
    /// Copy the configured store to a new FILE while the service runs (SQLite: the online backup API; PostgreSQL: pg_dump, custom format, from Debian's postgresql-client), check the copy, print its rows and digests per table and keep them in FILE.check.json.
    Backup {
        /// The backup file to write (never overwritten).
        #[arg(long)]
        to: PathBuf,
        /// Store directory; overrides service.data_dir (SQLite).
        #[arg(long, env = "AVISO_STATE_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Restore a backup FILE into the configured store, which must be fresh (no rows; on PostgreSQL a new, empty database), then run the integrity check and compare it with the backup's (FILE.check.json when present). Exit status 1 when the check fails.
    Restore {
        /// The backup file `aviso store backup` wrote.
        #[arg(long)]
        from: PathBuf,
        /// Store directory; overrides service.data_dir (SQLite).
        #[arg(long, env = "AVISO_STATE_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Copy a SQLite store into an empty PostgreSQL database (password from AVISO_STORE_PASSWORD or PGPASSWORD), then compare rows and digests per table. Refuses, naming them, while the SQLite store holds rows in tables the PostgreSQL store cannot hold yet.
    Migrate {
        /// The SQLite store: sqlite:PATH (e.g. sqlite:/var/lib/aviso/aviso.sqlite).
        #[arg(long)]
        from: String,
        /// The PostgreSQL database: postgres://user@host:port/database (no password).
        #[arg(long)]
        to: String,
    },
}

pub fn store_cmd(config: Option<&Path>, command: StoreCommand) -> Result<()> {
    let cfg = super::load_config(config)?;
    match command {
        StoreCommand::Backup { to, data_dir } => backup(&cfg, data_dir, &to),
        StoreCommand::Restore { from, data_dir } => restore(&cfg, data_dir, &from),
        StoreCommand::Migrate { from, to } => migrate(&cfg, &from, &to),
    }
}

/// The SQLite store file of the configuration (or of `--data-dir`).
fn sqlite_path(cfg: &Config, data_dir: Option<PathBuf>) -> PathBuf {
    data_dir
        .unwrap_or_else(|| PathBuf::from(&cfg.service.data_dir))
        .join("aviso.sqlite")
}

/// Where a backup's report is kept: beside it.
fn check_path(backup: &Path) -> PathBuf {
    let mut s = backup.as_os_str().to_owned();
    s.push(".check.json");
    PathBuf::from(s)
}

fn pg_store(store: &StoreConfig) -> Result<PgStore> {
    let url = redact(store.url.as_deref().unwrap_or_default());
    PgStore::connect(store, PgStore::env_password().as_deref())
        .with_context(|| format!("connecting to the PostgreSQL store {url}"))
}

fn backup(cfg: &Config, data_dir: Option<PathBuf>, to: &Path) -> Result<()> {
    let report = if cfg.store.postgres_url().is_some() {
        pg_store(&cfg.store)?.dump(to)?
    } else {
        let src = sqlite_path(cfg, data_dir);
        ops::backup(&src, to).with_context(|| format!("backing up {}", src.display()))?
    };
    let sidecar = check_path(to);
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&sidecar, json).with_context(|| format!("writing {}", sidecar.display()))?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    print!("{report}");
    println!(
        "backup written to {} ({bytes} bytes); its rows and digests in {}",
        to.display(),
        sidecar.display()
    );
    Ok(())
}

/// The report `backup` kept beside `from`, if there is one.
fn read_sidecar(from: &Path) -> Result<Option<StoreCheck>> {
    let p = check_path(from);
    if !p.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let check = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a report `aviso store backup` wrote", p.display()))?;
    Ok(Some(check))
}

/// Fails, naming every table that differs, when `found` is not `expected`.
fn compare(found: &StoreCheck, expected: &StoreCheck, what: &str) -> Result<()> {
    let lines = found.differences(expected);
    if !lines.is_empty() {
        bail!(
            "integrity check FAILED: the {} does not match {what}:\n  {}",
            found.backend,
            lines.join("\n  ")
        );
    }
    Ok(())
}

fn restore(cfg: &Config, data_dir: Option<PathBuf>, from: &Path) -> Result<()> {
    let sidecar = read_sidecar(from)?;
    let found = if cfg.store.postgres_url().is_some() {
        let found = pg_store(&cfg.store)?
            .restore_dump(from)
            .with_context(|| format!("restoring {}", from.display()))?;
        let known = crate::store::postgres::PG_MIGRATIONS
            .last()
            .map_or(0, |m| m.0);
        if found.schema_version > known || found.schema_version == 0 {
            bail!(
                "integrity check FAILED: the restored database has schema version {} (this \
                 aviso knows 1 to {known}); drop it and restore a backup of this aviso's store",
                found.schema_version
            );
        }
        found
    } else {
        if let Some(expected) = &sidecar {
            let backup =
                ops::check(from).with_context(|| format!("checking {}", from.display()))?;
            compare(
                &backup,
                expected,
                "the report written with it (the backup file changed)",
            )?;
        }
        let target = sqlite_path(cfg, data_dir);
        let (_, found) = ops::restore(from, &target)
            .with_context(|| format!("restoring {} into {}", from.display(), target.display()))?;
        found
    };
    print!("{found}");
    match &sidecar {
        Some(expected) => {
            compare(&found, expected, &format!("{}", check_path(from).display()))?;
            println!(
                "integrity check: ok; {} tables match {} row for row",
                expected.tables.len(),
                check_path(from).display()
            );
        }
        None if found.backend == "sqlite" => println!(
            "integrity check: ok; the tables match the backup file ({} absent, not compared \
             with it)",
            check_path(from).display()
        ),
        None => println!(
            "restored; {} absent: rows and digests printed, not compared",
            check_path(from).display()
        ),
    }
    Ok(())
}

/// Refuses, naming each with its rows, when the SQLite store holds rows in tables the
/// PostgreSQL store cannot hold yet (or the copy does not know).
fn refuse_blocked(path: &Path, source: &StoreCheck) -> Result<()> {
    let blocked: Vec<String> = source
        .tables
        .iter()
        .filter(|t| t.rows > 0)
        .filter_map(|t| match tables::table(&t.table) {
            None => Some(format!(
                "{} ({} rows; a table the copy does not know)",
                t.table, t.rows
            )),
            Some(spec) if !spec.postgres => Some(format!("{} ({} rows)", t.table, t.rows)),
            Some(_) => None,
        })
        .collect();
    if !blocked.is_empty() {
        bail!(
            "refusing to migrate {}: it holds rows in tables the PostgreSQL store cannot hold \
             yet: {}. Nothing was copied; keep this store on SQLite until this aviso's \
             PostgreSQL store holds them",
            path.display(),
            blocked.join(", ")
        );
    }
    Ok(())
}

fn migrate(cfg: &Config, from: &str, to: &str) -> Result<()> {
    let Some(path) = from.strip_prefix("sqlite:") else {
        bail!(
            "--from {from:?}: expected sqlite:PATH, the SQLite store file (e.g. \
             sqlite:/var/lib/aviso/aviso.sqlite)"
        );
    };
    let path = Path::new(path);
    if !path.is_file() {
        bail!("--from {from:?}: no such SQLite store file");
    }
    let target = StoreConfig {
        url: Some(to.to_string()),
        ..cfg.store.clone()
    };
    if let Err(m) = target.validate() {
        bail!("--to: {m}");
    }
    // The source at this aviso's schema first, as the service would bring it.
    drop(SqliteStore::open(path).with_context(|| format!("opening {}", path.display()))?);
    let first = ops::check(path).with_context(|| format!("reading {from}"))?;
    if !first.sound() {
        bail!(
            "{}: PRAGMA integrity_check says {:?}: repair or restore it before migrating",
            path.display(),
            first.integrity
        );
    }
    refuse_blocked(path, &first)?;
    let pg = PgStore::open_with_password(&target, PgStore::env_password().as_deref())
        .with_context(|| format!("opening the PostgreSQL store {}", redact(to)))?;
    let held: Vec<String> = pg
        .check()?
        .tables
        .iter()
        .filter(|t| t.rows > 0)
        .map(|t| format!("{} ({} rows)", t.table, t.rows))
        .collect();
    if !held.is_empty() {
        bail!(
            "refusing to migrate into {}: the database holds data already ({}); migrate into \
             a new, empty database",
            redact(to),
            held.join(", ")
        );
    }
    // One read of the source, streamed into one transaction on PostgreSQL: the report
    // of that very read is what the copy is compared with.
    let copy = pg.copy_in()?;
    let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let copied = |name: &str| tables::table(name).is_some_and(|t| t.postgres);
    let streamed = ops::stream(path, &copied, &mut |chunk| {
        if let ops::Chunk::Table { name, columns: c } = &chunk {
            columns.insert(name.clone(), c.clone());
        }
        copy.send(chunk)
    });
    let source = match streamed {
        Ok(source) => source,
        // The copy's own error says more than "stopped" when it was the one to fail.
        Err(e) => match copy.abandon() {
            Some(copy_err) => return Err(copy_err).context(format!("copying {from}")),
            None => return Err(e).context(format!("reading {from}")),
        },
    };
    // Rows may have arrived since the first look (the service should be stopped): the
    // refusal holds for the snapshot copied too, and then nothing is kept.
    if let Err(e) = refuse_blocked(path, &source) {
        copy.abandon();
        return Err(e);
    }
    let inserted = copy
        .commit()
        .with_context(|| format!("copying {from} to {}", redact(to)))?;
    let expected = StoreCheck {
        tables: source
            .tables
            .iter()
            .filter(|t| columns.contains_key(&t.table))
            .cloned()
            .collect(),
        ..source.clone()
    };
    let found = pg.check_only(columns)?;
    print!("{source}");
    print!("{found}");
    compare(
        &found,
        &expected,
        &format!("the SQLite store {}", path.display()),
    )?;
    println!(
        "migrated {inserted} rows in {} tables from {} (SQLite schema {} of {}) to {}; rows \
         and digests agree",
        expected.tables.len(),
        path.display(),
        source.schema_version,
        MIGRATIONS.last().map_or(0, |m| m.0),
        redact(to)
    );
    Ok(())
}
