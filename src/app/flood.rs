//! Wiring of the flood paths of `aviso assess`: finds the files that go with a
//! probabilities CSV, or reads a flood-extent file, and hands them to the pure core. The
//! only flood code that touches files; errors are `anyhow` with the file named.
//!
//! Its `eprintln!` lines (input warnings, timings, "written to") are not log but the
//! command's report to the person who ran it, on stderr as always (app/logging.rs); they
//! stay plain text so scripts and the byte-for-byte comparisons of `aviso assess` hold.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::Utc;

use super::assess::{AssessArgs, FloodFiles};
use super::{load_config, load_indexed_layers, write_json};
use crate::alerts::assess_flood::{FloodAssessment, assess_flood_extent, assess_flood_in};
use crate::alerts::{flood_document, flood_table};
use crate::config::Config;
use crate::domain::{Layers, StationGeography};
use crate::exposure::IndexedLayers;
use crate::feeds::floods::{FloodInputs, Input, parse_forecast};
use crate::geodata::basins::parse_basins;
use crate::hazard::flood_extent::classify_extent;
use crate::layers::flood::load_flood_geography;
use crate::layers::flood::read_flood_extent;
use crate::layers::manifest_path;

/// The one file in `dir` whose name contains every word of `words` and ends with `ext`.
fn beside(dir: &Path, words: &[&str], ext: &str, flag: &str) -> Result<Option<PathBuf>> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            name.ends_with(ext) && words.iter().all(|w| name.contains(w))
        })
        .collect();
    found.sort();
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => bail!(
            "{} files beside the forecast could be the {} file ({}); name one with {flag}",
            found.len(),
            words.join("/"),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The discharge file that goes with a probabilities file: the same name with
/// `exceedance_probabilities` → `discharge_ensemble` (the shared files), or
/// `probabilities` → `discharge` (PRISM's layout), else any *discharge*.csv beside it.
fn discharge_beside(probabilities: &Path) -> Result<Option<PathBuf>> {
    let dir = probabilities.parent().unwrap_or(Path::new("."));
    if let Some(name) = probabilities.file_name().map(|n| n.to_string_lossy()) {
        for (from, to) in [
            ("exceedance_probabilities", "discharge_ensemble"),
            ("probabilities", "discharge"),
        ] {
            if name.contains(from) {
                let p = dir.join(name.replace(from, to));
                if p.exists() {
                    return Ok(Some(p));
                }
            }
        }
    }
    beside(dir, &["discharge"], ".csv", "--discharge")
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {what} file {}", path.display()))
}

/// `aviso assess` on a flood probabilities CSV.
pub(crate) fn flood_assess_cmd(
    a: &AssessArgs,
    forecast: &Path,
    cfg: &Config,
    probabilities: &[u8],
) -> Result<()> {
    let (assessment, layers) =
        assess_flood_files(forecast, &a.flood_files, &a.layers, cfg, probabilities)?;
    write_output(
        &assessment,
        &layers.layers,
        cfg,
        a.out.as_deref(),
        a.table(),
    )
}

/// A flood probabilities CSV (`forecast`, its bytes `probabilities`) with its stations,
/// discharge and basins files (named in `files`, else found beside it) assessed over the
/// layers of `layers_dir`: what `aviso assess` and `aviso plan` read of a flood forecast.
pub(crate) fn assess_flood_files(
    forecast: &Path,
    files: &FloodFiles,
    layers_dir: &Path,
    cfg: &Config,
    probabilities: &[u8],
) -> Result<(FloodAssessment, IndexedLayers)> {
    let dir = forecast.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let stations_path = match &files.stations {
        Some(p) => p.clone(),
        None => beside(dir, &["stations"], ".csv", "--stations")?.with_context(|| {
            format!(
                "{}: a flood forecast needs its stations file (thresholds); none named *stations*.csv beside it: pass --stations FILE",
                forecast.display()
            )
        })?,
    };
    let discharge_path = match &files.discharge {
        Some(p) => Some(p.clone()),
        None => discharge_beside(forecast)?,
    };
    // River basins and per-station impact areas: --basins, else the manifest's
    // river_basins layer, else a *basins*.geojson beside the forecast.
    let manifest_file = manifest_path(layers_dir);
    let manifest = crate::layers::load_manifest(&manifest_file)
        .with_context(|| format!("loading layers from {}", manifest_file.display()))?;
    let geography = load_flood_geography(&manifest, &cfg.flood.basin_name_field)?;
    for w in &geography.warnings {
        eprintln!("aviso: warning: {w}");
    }
    let basins_path = match &files.basins {
        Some(p) => Some(p.clone()),
        None if !geography.basins.is_empty() => None,
        None => Some(beside(dir, &["basins"], ".geojson", "--basins")?.with_context(|| {
            format!(
                "{}: the flood impact areas need river basins: none in {} (a layer of kind river_basins) and none named *basins*.geojson beside the forecast: pass --basins FILE",
                forecast.display(),
                manifest_file.display()
            )
        })?),
    };
    let stations = read(&stations_path, "stations")?;
    let discharge = discharge_path
        .as_ref()
        .map(|p| read(p, "discharge"))
        .transpose()?;
    let (o_s, o_p) = (
        stations_path.display().to_string(),
        forecast.display().to_string(),
    );
    let o_d = discharge_path.as_ref().map(|p| p.display().to_string());
    let parsed = parse_forecast(FloodInputs {
        stations: Input {
            bytes: &stations,
            origin: &o_s,
        },
        probabilities: Input {
            bytes: probabilities,
            origin: &o_p,
        },
        discharge: match (&discharge, &o_d) {
            (Some(b), Some(o)) => Some(Input {
                bytes: b,
                origin: o,
            }),
            _ => None,
        },
        skip_misordered_stations: cfg.flood.skip_misordered_stations,
    })?;
    for n in parsed.notes.iter().filter(|n| n.contains("left out")) {
        eprintln!("aviso: warning: {n}");
    }
    let (basins, o_b) = match &basins_path {
        Some(p) => {
            let o_b = p.display().to_string();
            let bytes = read(p, "river basins")?;
            (
                parse_basins(&bytes, &o_b, &cfg.flood.basin_name_field)?,
                o_b,
            )
        }
        None => (
            geography.basins.clone(),
            geography.basins_origin.clone().unwrap_or_default(),
        ),
    };
    let layers = load_indexed_layers(layers_dir, cfg)?;
    let t = Instant::now();
    let geo = StationGeography {
        basins: &basins,
        ..geography.stations()
    };
    let mut assessment = assess_flood_in(
        &parsed.forecast,
        geo,
        &layers,
        cfg.flood_assessment(),
        Utc::now(),
    )?;
    assessment.input_notes = parsed.notes;
    assessment
        .input_notes
        .push(format!("river basins: {o_b} ({} polygons)", basins.len()));
    assessment
        .input_notes
        .extend(geography.impact_notes_for(&manifest_file));
    assessment
        .input_notes
        .extend(geography.river_notes(cfg.flood.river_buffer_km));
    eprintln!(
        "aviso: assessed flood forecast of {} ({} stations) in {:.1} ms",
        parsed.forecast.issue_date,
        parsed.forecast.stations.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok((assessment, layers))
}

/// Writes the alert document to `out` (absent or "-": standard output) or the table.
fn write_output(
    assessment: &FloodAssessment,
    layers: &Layers,
    cfg: &Config,
    out: Option<&Path>,
    table: bool,
) -> Result<()> {
    let doc = flood_document(assessment, layers, cfg.output.coordinate_decimals);
    if let Some(out) = out.filter(|p| p.as_os_str() != "-") {
        write_json(out, &doc)?;
        eprintln!("aviso: alert written to {}", out.display());
        if table {
            print!("{}", flood_table(assessment));
        }
    } else if table {
        print!("{}", flood_table(assessment));
    } else {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &doc)?;
        writeln!(stdout)?;
    }
    Ok(())
}

/// Reads a flood-extent file, gives its polygons levels, and writes the flood alert.
pub fn flood_extent_cmd(config: Option<&Path>, a: &AssessArgs) -> Result<()> {
    let extent_path = a
        .flood_extent
        .as_deref()
        .context("--flood-extent is required")?;
    let mut cfg = load_config(config)?;
    // A flag replaces the configured attribute, of either kind.
    if let Some(f) = &a.depth_field {
        cfg.flood.extent.depth_field = f.clone();
        cfg.flood.extent.class_field.clear();
    }
    if let Some(f) = &a.class_field {
        cfg.flood.extent.class_field = f.clone();
        cfg.flood.extent.depth_field.clear();
    }
    cfg.flood.extent.validate()?;
    let basis = cfg.flood.extent.basis();
    let t = Instant::now();
    let input = read_flood_extent(extent_path, basis.field(), a.extent_layer.as_deref())?;
    let extent = classify_extent(&input, &basis, &cfg.flood.extent)?;
    let read_ms = t.elapsed().as_secs_f64() * 1e3;
    let layers = load_indexed_layers(&a.layers, &cfg)?;
    let t = Instant::now();
    let assessment = assess_flood_extent(extent, &layers, cfg.flood_assessment(), Utc::now());
    eprintln!(
        "aviso: flood extent {} ({} polygons) read in {read_ms:.1} ms, assessed in {:.1} ms",
        extent_path.display(),
        input.features.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    write_output(
        &assessment,
        &layers.layers,
        &cfg,
        a.out.as_deref(),
        a.table(),
    )
}
