//! `aviso register import | occupancy | export`: the register of accommodation centres in
//! the service's store, from the command line (what `POST/GET /api/admin/register` and
//! `/api/admin/register/occupancy` do over HTTP). The same validation against the same
//! layers: a register or update with any error is refused whole, every issue printed with
//! its row and column, and the register in force stays. The store is the service's own
//! (PostgreSQL when `[store] url` is set) unless `--data-dir` names a SQLite one.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, Utc};

use super::{load_config, load_indexed_layers};
use crate::layers::register::{
    ReadOptions, occupancy_history_to_hxl, read_occupancy_updates, read_register, register_to_hxl,
};
use crate::plan::register::RegisterBook;
use crate::store::postgres::PgStore;
use crate::store::registers::{OccupancyFigure, Provenance, RegisterStore};
use crate::store::sqlite::SqliteStore;

/// Where the service's store is, and which layers it validates against.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// A SQLite store directory (holding aviso.sqlite); default: the service's store
    /// (`[store] url` when set, else `service.data_dir`).
    #[arg(long, env = "AVISO_STATE_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `aviso register import` and `aviso register occupancy`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreImportArgs {
    /// The register (HXL CSV, XLSX, ODS), or for `occupancy` the update file.
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Layers to validate against; default service.layers (the service's own).
    #[arg(long, env = "AVISO_LAYERS")]
    pub layers: Option<PathBuf>,
    /// Date of occupancy figures in a file without a #date column (YYYY-MM-DD).
    #[arg(long)]
    pub occupancy_date: Option<String>,
    /// Who imports it, for the history (default: $USER, else "cli").
    #[arg(long)]
    pub by: Option<String>,
}

/// `aviso register export`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The HXL CSV to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Write the occupancy history (every figure, oldest first per place) instead of the
    /// register.
    #[arg(long)]
    pub occupancy: bool,
}

/// The store the service reads its register from: `--data-dir` when given (SQLite), else
/// PostgreSQL when `[store] url` is set, else SQLite in `service.data_dir`.
fn open_store(cfg: &crate::config::Config, a: &StoreArgs) -> Result<Box<dyn RegisterStore>> {
    if a.data_dir.is_none()
        && let Some(url) = cfg.store.postgres_url()
    {
        let pg = PgStore::open(&cfg.store).with_context(|| {
            format!(
                "opening the PostgreSQL store {} ([store] url)",
                crate::store::config::redact(url)
            )
        })?;
        return Ok(Box::new(pg));
    }
    let dir = a
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&cfg.service.data_dir));
    let sqlite = SqliteStore::open_dir(&dir)
        .with_context(|| format!("opening the store in {}", dir.display()))?;
    Ok(Box::new(sqlite))
}

fn provenance(a: &StoreImportArgs) -> Provenance {
    Provenance {
        source: a.file.display().to_string(),
        imported_by: a
            .by
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "cli".into()),
        at: Utc::now(),
    }
}

fn read_options(a: &StoreImportArgs) -> Result<ReadOptions> {
    let occupancy_date = a
        .occupancy_date
        .as_deref()
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .with_context(|| format!("--occupancy-date {s:?}: expected YYYY-MM-DD"))
        })
        .transpose()?;
    Ok(ReadOptions { occupancy_date })
}

/// `aviso register import FILE`: validated, then the register in force.
pub fn import_cmd(config: Option<&std::path::Path>, a: StoreImportArgs) -> Result<()> {
    let cfg = load_config(config)?;
    let layers_path = a
        .layers
        .clone()
        .unwrap_or_else(|| PathBuf::from(&cfg.service.layers));
    let layers = load_indexed_layers(&layers_path, &cfg)?;
    let (candidate, issues) = read_register(&a.file, &read_options(&a)?)?;
    let mut book = RegisterBook::default();
    let warnings = book
        .offer(candidate, issues, &layers.layers, &cfg.plan)
        .map_err(anyhow::Error::new)?;
    for w in &warnings {
        eprintln!("aviso: {w}");
    }
    let register = book.current().context("no register in force")?;
    let store = open_store(&cfg, &a.store)?;
    let revision = store.save_register(register, &provenance(&a))?;
    eprintln!(
        "aviso: {}: {} entries in force as register revision {revision} ({} warnings)",
        a.file.display(),
        register.entries.len(),
        warnings.len()
    );
    Ok(())
}

/// `aviso register occupancy FILE`: figures added to the register in force, all or nothing.
pub fn occupancy_cmd(config: Option<&std::path::Path>, a: StoreImportArgs) -> Result<()> {
    let cfg = load_config(config)?;
    let store = open_store(&cfg, &a.store)?;
    let Some(stored) = store.current_register()? else {
        bail!(
            "{}: no register in the store to update: import one first (aviso register import)",
            a.file.display()
        );
    };
    let batch = read_occupancy_updates(&a.file, &read_options(&a)?)?;
    let figures: Vec<OccupancyFigure> = batch
        .updates
        .iter()
        .map(|u| OccupancyFigure {
            code: u.code.clone(),
            date: u.occupancy.date,
            individuals: u.occupancy.individuals,
            households: u.occupancy.households,
            source: u.occupancy.source.clone(),
        })
        .collect();
    let mut book = RegisterBook::in_force(stored.register);
    let n = book.apply_occupancy(batch).map_err(anyhow::Error::new)?;
    let register = book.current().context("no register in force")?;
    match store.save_occupancy(stored.info.revision, register, &figures, &provenance(&a))? {
        Some(revision) => eprintln!(
            "aviso: {}: {n} occupancy figures added: register revision {revision}",
            a.file.display()
        ),
        None => bail!(
            "{}: the register changed while the update was checked (revision {} is no longer in force): run it again",
            a.file.display(),
            stored.info.revision
        ),
    }
    Ok(())
}

/// `aviso register export --out FILE [--occupancy]`.
pub fn export_cmd(config: Option<&std::path::Path>, a: StoreExportArgs) -> Result<()> {
    let cfg = load_config(config)?;
    let store = open_store(&cfg, &a.store)?;
    let Some(stored) = store.current_register()? else {
        bail!("no register in the store (aviso register import, or POST /api/admin/register)");
    };
    let bytes = if a.occupancy {
        occupancy_history_to_hxl(&stored.register)?
    } else {
        register_to_hxl(&stored.register)?
    };
    std::fs::write(&a.out, bytes).with_context(|| format!("writing {}", a.out.display()))?;
    let i = &stored.info;
    eprintln!(
        "aviso: register revision {} ({} entries; last change: {} from {} by {}, {}) written to {}",
        i.revision,
        stored.register.entries.len(),
        i.kind.as_str(),
        i.source,
        i.imported_by,
        i.imported_at.format("%Y-%m-%d %H:%M UTC"),
        a.out.display()
    );
    Ok(())
}
