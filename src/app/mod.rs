//! Wiring: the only place that names concrete adapters (files, GDAL, the terminal) and
//! connects them to the pure core. Errors here are `anyhow`, with context naming the file.
//!
//! One file per command family (issue 16 move 4): [`cli`] declares the command line once,
//! with each command's clap `Args` struct used directly by its handler; [`assess`] (a
//! forecast file to an alert, and replays), [`flood`], [`probabilistic`], [`windfield`],
//! [`layers`] (zonal sums, population grids, serve-layers), [`service`] (serve,
//! run-once, check-config) and [`store_ops`] (store backup, restore, migrate). This file holds what several of them share.

mod approval;
pub mod assess;
pub mod check_config;
pub mod cli;
mod demo;
pub mod flood;
pub mod layers;
pub mod logging;
pub mod plan;
pub mod plan_service;
pub mod print;
pub mod probabilistic;
pub mod register;
pub mod service;
mod store;
pub mod store_ops;
pub mod windfield;

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::config::Config;
use crate::exposure::IndexedLayers;
use crate::feeds::bufr_child::ChildDecoder;
use crate::feeds::{self, ParseOptions, StormSelector};
use crate::layers::manifest_path;

/// Which storm to take from a best-track file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StormChoice {
    /// Storm name in a best-track file (IBTrACS), e.g. FREDDY.
    #[arg(long = "storm")]
    pub name: Option<String>,
    /// Season year (IBTrACS SEASON: the year the southern season ends).
    #[arg(long)]
    pub season: Option<i32>,
    /// IBTrACS storm id, e.g. 2023036S12118.
    #[arg(long)]
    pub sid: Option<String>,
}

/// How to read a track forecast file (`aviso assess`, `aviso plan`): which storm of a
/// best track, when a best track counts as issued, which ATCF technique.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrackChoice {
    #[command(flatten)]
    pub storm: StormChoice,
    /// For best tracks: treat the track as forecast issued at this time (RFC 3339 or
    /// "YYYY-MM-DD HH:MM", UTC). Default: the first fix.
    #[arg(long)]
    pub at: Option<String>,
    /// For ATCF a-decks: the technique to read (default JTWC, then OFCL).
    #[arg(long)]
    pub tech: Option<String>,
}

/// How `assess` writes its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The alert document (GeoJSON).
    Geojson,
    /// A table of districts on the terminal.
    Table,
}

pub fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::from_file(p)?,
        None => Config::embedded_default()?,
    })
}

/// Where the layer load reports its warnings and its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    /// A CLI command's own report on the terminal (stderr), as it always was: the person
    /// who ran the command reads it, and `aviso assess`'s stderr stays byte for byte.
    Terminal,
    /// The service's log (tracing events with fields).
    Log,
}

/// Loads and indexes the layers, printing load warnings to stderr (a CLI command's report).
pub fn load_indexed_layers(layers: &Path, cfg: &Config) -> Result<IndexedLayers> {
    load_indexed_layers_told(layers, cfg, Voice::Terminal)
}

/// Loads and indexes the layers, telling `voice` the load's warnings and summary.
pub fn load_indexed_layers_told(
    layers: &Path,
    cfg: &Config,
    voice: Voice,
) -> Result<IndexedLayers> {
    let manifest = manifest_path(layers);
    let t = Instant::now();
    let loaded = crate::layers::load_layers(&manifest)
        .with_context(|| format!("loading layers from {}", manifest.display()))?;
    for w in &loaded.warnings {
        match voice {
            // Not tracing: the command's report to its user (see `Voice::Terminal`).
            Voice::Terminal => eprintln!("aviso: warning: {w}"),
            // WARN: a layer's bad or missing values are skipped; the service runs on.
            Voice::Log => tracing::warn!(manifest = %manifest.display(), "{w}"),
        }
    }
    let grid = loaded.population_grid.clone();
    let indexed = with_population_grid(
        IndexedLayers::new(loaded.layers, &cfg.exposure),
        grid,
        voice,
    );
    let seconds = t.elapsed().as_secs_f64();
    let (districts, point_layers) = (indexed.layers.districts.len(), indexed.layers.points.len());
    match voice {
        Voice::Terminal => eprintln!(
            "aviso: layers loaded from {} in {seconds:.2} s ({districts} districts, {point_layers} point layers)",
            manifest.display(),
        ),
        Voice::Log => tracing::info!(
            manifest = %manifest.display(),
            seconds = format_args!("{seconds:.2}"),
            districts,
            point_layers,
            "layers loaded"
        ),
    }
    Ok(indexed)
}

/// Attaches the manifest's `population_grid` layer (opened at first use) to the indexed
/// layers; without GDAL the grid cannot be read and exposure keeps the settlement method.
fn with_population_grid(
    indexed: IndexedLayers,
    spec: Option<crate::layers::LayerSpec>,
    voice: Voice,
) -> IndexedLayers {
    let Some(spec) = spec else {
        return indexed;
    };
    #[cfg(feature = "gdal")]
    {
        match voice {
            Voice::Terminal => eprintln!(
                "aviso: people at risk from population grid '{}' ({})",
                spec.name,
                spec.path.display()
            ),
            Voice::Log => tracing::info!(
                layer = %spec.name,
                path = %spec.path.display(),
                "people at risk from the population grid"
            ),
        }
        indexed.with_population_grid(Box::new(crate::raster::gdal::LazyPopulationGrid::new(
            spec.name, spec.path,
        )))
    }
    #[cfg(not(feature = "gdal"))]
    {
        match voice {
            Voice::Terminal => eprintln!(
                "aviso: warning: population grid '{}' needs GDAL (built without it); people at \
                 risk use the settlement method",
                spec.name
            ),
            // WARN: degraded (a coarser method), handled.
            Voice::Log => tracing::warn!(
                layer = %spec.name,
                "the population grid needs GDAL (built without it); people at risk use the settlement method"
            ),
        }
        indexed
    }
}

/// Storm names for best-track files that carry only ids (the derived 12-hourly file):
/// the table shipped in layers/ibtracs_sid_names.csv (compiled in), plus an
/// `ibtracs_sid_names.csv` beside the manifest when there is one (its rows win).
fn names_table(layers: &Path) -> Result<std::collections::HashMap<String, String>> {
    const SHIPPED: &str = include_str!("../../layers/ibtracs_sid_names.csv");
    let mut names = feeds::ibtracs::parse_sid_names(
        SHIPPED.as_bytes(),
        "embedded layers/ibtracs_sid_names.csv",
    )?;
    let dir = if layers.is_dir() {
        layers.to_path_buf()
    } else {
        layers.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let p = dir.join("ibtracs_sid_names.csv");
    if p.exists() {
        let bytes = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        names.extend(feeds::ibtracs::parse_sid_names(
            &bytes,
            &p.display().to_string(),
        )?);
    }
    Ok(names)
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read forecast file {}", path.display()))
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%MZ",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc());
        }
    }
    bail!("--at {s:?}: expected a UTC time like 2023-03-08T00:00Z or \"2023-03-08 00:00\"")
}

fn parse_hours(s: &str, flag: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("{flag} {s:?}: expected hours like 6h or 12h"))?;
    let d = match unit {
        "h" | "" => Duration::hours(n),
        "d" => Duration::days(n),
        "m" | "min" => Duration::minutes(n),
        _ => bail!("{flag} {s:?}: unit must be h, d or min"),
    };
    if d <= Duration::zero() {
        bail!("{flag} {s:?}: must be positive");
    }
    Ok(d)
}

pub(crate) fn parse_options(
    storm: &StormChoice,
    tech: Option<String>,
    layers: &Path,
) -> Result<ParseOptions> {
    Ok(ParseOptions {
        storm: StormSelector {
            name: storm.name.clone(),
            season: storm.season,
            sid: storm.sid.clone(),
        },
        names: names_table(layers)?,
        atcf_tech: tech,
        ..ParseOptions::default()
    })
}

/// A track forecast read by `aviso assess` and `aviso plan`: any feed format (RSMC JSON,
/// ATCF, BUFR through `bufr`, a best track) parsed from `bytes` of the file `origin` as
/// `track` says (storm names from the manifest at `layers`); a best track, which has no
/// forecast part, is taken as issued at `track.at` (default: its first fix). Returns the forecast and the parser's notes on the input.
pub(crate) fn parse_track_forecast(
    bytes: &[u8],
    origin: &str,
    track: &TrackChoice,
    layers: &Path,
    bufr: &dyn feeds::BufrDecoder,
) -> Result<(crate::domain::Forecast, Vec<String>)> {
    let opts = parse_options(&track.storm, track.tech.clone(), layers)?;
    let parsed = feeds::parse_with(bytes, origin, &opts, bufr)?;
    let mut forecast = parsed.forecast;
    if !forecast
        .track
        .iter()
        .any(|p| p.kind == crate::domain::FixKind::Forecast)
    {
        let at = match &track.at {
            Some(s) => parse_time(s)?,
            None => forecast
                .track
                .first()
                .map(|p| p.time)
                .context("the track has no fixes")?,
        };
        forecast = crate::replay::issuance_at(&forecast, at, Duration::days(3650))
            .with_context(|| format!("no fix of {} at or after {at}", forecast.storm.name))?;
    }
    Ok((forecast, parsed.notes))
}

/// The BUFR decoder of the service and the CLI: this very executable, run as
/// `aviso decode-bufr` in a child process per file (feeds::bufr_child), so that a file that
/// crashes ecCodes ends the child, not aviso.
pub fn bufr_child_decoder() -> Result<ChildDecoder> {
    let exe = std::env::current_exe()
        .context("locating the aviso executable (to run the BUFR decoder child)")?;
    Ok(ChildDecoder::new(exe))
}

pub(crate) fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string(v)?;
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
