//! Wiring: the only place that names concrete adapters (files, GDAL, the terminal) and
//! connects them to the pure core. Errors here are `anyhow`, with context naming the file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use crate::alerts::{document, table};
use crate::assess::assess;
use crate::config::Config;
use crate::domain::FixKind;
use crate::exposure::IndexedLayers;
use crate::feeds::{self, ParseOptions, StormSelector};
use crate::replay;

/// Which storm to take from a best-track file.
#[derive(Debug, Clone, Default)]
pub struct StormChoice {
    pub name: Option<String>,
    pub season: Option<i32>,
    pub sid: Option<String>,
}

pub struct AssessArgs {
    pub config: Option<PathBuf>,
    pub forecast: PathBuf,
    pub layers: PathBuf,
    pub out: Option<PathBuf>,
    pub table: bool,
    pub storm: StormChoice,
    pub at: Option<String>,
    pub tech: Option<String>,
    /// Flood forecasts: the files that go with the probabilities CSV (default: beside it).
    pub flood_files: FloodFiles,
}

/// The stations, discharge and basin files of a flood forecast; `None`: look beside the
/// probabilities file.
#[derive(Debug, Clone, Default)]
pub struct FloodFiles {
    pub stations: Option<PathBuf>,
    pub discharge: Option<PathBuf>,
    pub basins: Option<PathBuf>,
}

pub struct ReplayArgs {
    pub config: Option<PathBuf>,
    pub track: PathBuf,
    pub layers: PathBuf,
    pub storm: StormChoice,
    pub every: String,
    pub horizon: String,
    pub out: PathBuf,
}

pub fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::from_file(p)?,
        None => Config::embedded_default()?,
    })
}

/// The manifest path: the argument itself if it is a file, else DIR/manifest.toml.
fn manifest_path(layers: &Path) -> PathBuf {
    if layers.is_dir() {
        layers.join("manifest.toml")
    } else {
        layers.to_path_buf()
    }
}

/// Loads and indexes the layers, printing load warnings to stderr.
pub fn load_indexed_layers(layers: &Path, cfg: &Config) -> Result<IndexedLayers> {
    let manifest = manifest_path(layers);
    let t = Instant::now();
    let loaded = crate::layers::load_layers(&manifest)
        .with_context(|| format!("loading layers from {}", manifest.display()))?;
    for w in &loaded.warnings {
        eprintln!("aviso: warning: {w}");
    }
    let indexed = IndexedLayers::new(loaded.layers, &cfg.exposure);
    eprintln!(
        "aviso: layers loaded from {} in {:.2} s ({} districts, {} point layers)",
        manifest.display(),
        t.elapsed().as_secs_f64(),
        indexed.layers.districts.len(),
        indexed.layers.points.len()
    );
    Ok(indexed)
}

/// Storm names for best-track files that carry only ids (the derived 12-hourly file):
/// the table shipped in layers/ibtracs_sid_names.csv (compiled in), plus an
/// `ibtracs_sid_names.csv` beside the manifest when there is one (its rows win).
fn names_table(layers: &Path) -> Result<std::collections::HashMap<String, String>> {
    const SHIPPED: &str = include_str!("../layers/ibtracs_sid_names.csv");
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

fn parse_options(storm: &StormChoice, tech: Option<String>, layers: &Path) -> Result<ParseOptions> {
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

pub(crate) fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string(v)?;
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub fn assess_cmd(a: AssessArgs) -> Result<()> {
    let cfg = load_config(a.config.as_deref())?;
    let origin = a.forecast.display().to_string();
    let bytes = read_input(&a.forecast)?;
    if feeds::floods::looks_like_probabilities(&bytes) {
        return crate::app_flood::flood_assess_cmd(&a, &cfg, &bytes);
    }
    let opts = parse_options(&a.storm, a.tech, &a.layers)?;
    let parsed = feeds::parse(&bytes, &origin, &opts)?;
    let input_notes = parsed.notes;
    let mut forecast = parsed.forecast;
    // A best track has no forecast part: treat it as issued at --at (default: first fix).
    if !forecast.track.iter().any(|p| p.kind == FixKind::Forecast) {
        let at = match &a.at {
            Some(s) => parse_time(s)?,
            None => forecast
                .track
                .first()
                .map(|p| p.time)
                .context("the track has no fixes")?,
        };
        forecast = replay::issuance_at(&forecast, at, Duration::days(3650))
            .with_context(|| format!("no fix of {} at or after {at}", forecast.storm.name))?;
    }
    let layers = load_indexed_layers(&a.layers, &cfg)?;
    let t = Instant::now();
    let mut assessment = assess(&forecast, &layers, &cfg, Utc::now())?;
    assessment.input_notes = input_notes;
    eprintln!(
        "aviso: assessed {} ({}) in {:.1} ms",
        forecast.storm.name,
        forecast.reference_time,
        t.elapsed().as_secs_f64() * 1e3
    );
    let doc = document::alert_document(&assessment, &layers.layers, cfg.output.coordinate_decimals);
    if let Some(out) = a.out.as_ref().filter(|p| p.as_os_str() != "-") {
        write_json(out, &doc)?;
        eprintln!("aviso: alert written to {}", out.display());
        if a.table {
            print!("{}", table::render(&assessment));
        }
    } else if a.table {
        print!("{}", table::render(&assessment));
    } else {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &doc)?;
        writeln!(stdout)?;
    }
    Ok(())
}

pub fn replay_cmd(a: ReplayArgs) -> Result<()> {
    let cfg = load_config(a.config.as_deref())?;
    let every = parse_hours(&a.every, "--every")?;
    let horizon = parse_hours(&a.horizon, "--horizon")?;
    let origin = a.track.display().to_string();
    let bytes = read_input(&a.track)?;
    let opts = parse_options(&a.storm, None, &a.layers)?;
    let parsed = feeds::parse(&bytes, &origin, &opts)?;
    let input_notes = parsed.notes;
    let track = parsed.forecast;
    let layers = load_indexed_layers(&a.layers, &cfg)?;

    let times = replay::issuance_times(&track, every);
    if times.is_empty() {
        bail!(
            "{origin}: no fix of {} falls on a {} step",
            track.storm.name,
            a.every
        );
    }
    let landfalls = crate::hazard::landfalls(&track, &layers.layers.country, &cfg.hazard);
    let mut summary = replay::Summary::new(landfalls);
    fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let bar = ProgressBar::new(times.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} replay {msg} [{bar:30}] {pos}/{len} issuances ({eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(track.storm.name.clone());
    let started = Instant::now();
    let mut written = 0usize;
    for t in &times {
        bar.inc(1);
        let Some(f) = replay::issuance_at(&track, *t, horizon) else {
            continue;
        };
        let mut assessment = assess(&f, &layers, &cfg, Utc::now())?;
        assessment.input_notes.clone_from(&input_notes);
        summary.add(&assessment);
        if !assessment.exposure.districts.is_empty() {
            let doc = document::alert_document(
                &assessment,
                &layers.layers,
                cfg.output.coordinate_decimals,
            );
            let name = format!(
                "{}_{}.geojson",
                track.storm.name.to_lowercase(),
                t.format("%Y%m%dT%H%MZ")
            );
            write_json(&a.out.join(name), &doc)?;
            written += 1;
        }
    }
    bar.finish_and_clear();
    let csv_path = a.out.join("summary.csv");
    fs::write(&csv_path, summary.to_csv())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let json_path = a.out.join("summary.json");
    let summary_json = serde_json::json!({
        "storm": track.storm,
        "source": origin,
        "issuances": summary.issuances,
        "every": a.every,
        "horizon": a.horizon,
        "alerts_written": written,
        "landfalls": summary.landfalls,
        "districts": summary.districts.values().collect::<Vec<_>>(),
    });
    write_json(&json_path, &summary_json)?;
    eprintln!(
        "aviso: replayed {} issuances of {} in {:.1} s; {} alerts with districts at risk written to {}; summary in {} and {}",
        summary.issuances,
        track.storm.name,
        started.elapsed().as_secs_f64(),
        written,
        a.out.display(),
        csv_path.display(),
        json_path.display()
    );
    for l in &summary.landfalls {
        eprintln!(
            "aviso: landfall {} at {:.2}°E {:.2}°S",
            l.time.format("%Y-%m-%d %H:%MZ"),
            l.lon,
            -l.lat
        );
    }
    Ok(())
}

pub fn check_config_cmd(config: Option<PathBuf>, layers: Option<PathBuf>) -> Result<()> {
    let cfg = load_config(config.as_deref())?;
    eprintln!(
        "aviso: configuration OK ({}; thresholds {:?} kt; {} level rules; trigger: {})",
        config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "embedded default".into()),
        cfg.hazard.thresholds_kt,
        cfg.levels.rule.len(),
        cfg.trigger.version
    );
    if let Some(l) = layers {
        load_indexed_layers(&l, &cfg)?;
    }
    Ok(())
}
