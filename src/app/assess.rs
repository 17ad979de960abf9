//! `aviso assess` (one forecast file to an alert document) and `aviso replay` (a best
//! track as a sequence of issuances).
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
use indicatif::{ProgressBar, ProgressStyle};

use super::{
    Format, StormChoice, TrackChoice, bufr_child_decoder, load_config, load_indexed_layers,
    parse_hours, parse_options, read_input, write_json,
};
use crate::alerts::assess::{apply_probabilities, assess};
use crate::alerts::{document, table};
use crate::feeds;
use crate::replay;

/// `aviso assess`: a forecast file, or flood-extent polygons, to an alert document.
#[derive(Debug, Clone, clap::Args)]
pub struct AssessArgs {
    /// The forecast file; its format is detected from the content.
    #[arg(long, required_unless_present = "flood_extent")]
    pub forecast: Option<PathBuf>,
    /// Layer manifest, or a directory holding manifest.toml.
    #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
    pub layers: PathBuf,
    /// Where to write the GeoJSON alert ("-" or absent: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "geojson")]
    pub format: Format,
    #[command(flatten)]
    pub track: TrackChoice,
    #[command(flatten)]
    pub flood_files: FloodFiles,
    /// Instead of a forecast: flood-extent polygons (a satellite or model flood map) in
    /// GeoJSON, GeoPackage, Shapefile or any vector format GDAL reads, EPSG:4326.
    #[arg(long, conflicts_with = "forecast")]
    pub flood_extent: Option<PathBuf>,
    /// For flood extents: the attribute holding a water depth in metres (overrides
    /// flood.extent.depth_field).
    #[arg(long, requires = "flood_extent", conflicts_with = "class_field")]
    pub depth_field: Option<String>,
    /// For flood extents: the attribute holding a class mapped by
    /// flood.extent.class_levels (overrides flood.extent.class_field).
    #[arg(long, requires = "flood_extent")]
    pub class_field: Option<String>,
    /// For flood extents: the layer to read from a multi-layer source (GeoPackage).
    #[arg(long, requires = "flood_extent")]
    pub extent_layer: Option<String>,
    /// Cyclone forecasts: also write the probabilistic wind table (issue 12:
    /// P(wind >= 34/48/64 kt) per district and province in the 0-24/48/72/120 h
    /// windows, people at risk mean and 10/50/90 % quantiles, from
    /// `[probabilistic]` realisations, or the members of an ECMWF ensemble BUFR given
    /// as --forecast): CSV, the whole result for a .json name, or the probability
    /// contours (10-90 %) and points as GeoJSON for a .geojson name.
    #[arg(long, conflicts_with = "flood_extent")]
    pub probabilistic: Option<PathBuf>,
}

impl AssessArgs {
    /// `--format table`: the district table on standard output.
    pub fn table(&self) -> bool {
        self.format == Format::Table
    }
}

/// The stations, discharge and basin files of a flood forecast; `None`: look beside the
/// probabilities file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FloodFiles {
    /// For flood forecasts (a probabilities CSV): the stations/thresholds CSV.
    /// Default: the *stations*.csv beside the forecast.
    #[arg(long)]
    pub stations: Option<PathBuf>,
    /// For flood forecasts: the ensemble discharge CSV. Default: the *discharge*.csv
    /// beside the forecast (without one, the file's counts are used unchecked).
    #[arg(long)]
    pub discharge: Option<PathBuf>,
    /// For flood forecasts: the river-basins GeoJSON. Default: the *basins*.geojson
    /// beside the forecast.
    #[arg(long)]
    pub basins: Option<PathBuf>,
}

/// `aviso replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    #[arg(long)]
    pub track: PathBuf,
    #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
    pub layers: PathBuf,
    #[command(flatten)]
    pub storm: StormChoice,
    /// Interval between issuances, e.g. 6h, 12h.
    #[arg(long, default_value = "6h")]
    pub every: String,
    /// Forecast horizon of each issuance (RSMC forecasts reach 120 h).
    #[arg(long, default_value = "120h")]
    pub horizon: String,
    /// Output directory for the alerts and the summary.
    #[arg(long, default_value = "out/replay")]
    pub out: PathBuf,
}

/// `aviso assess`: `--flood-extent` goes to [`super::flood::flood_extent_cmd`], a flood
/// probabilities CSV to `super::flood::flood_assess_cmd`, any track forecast here.
pub fn assess_cmd(config: Option<&Path>, a: AssessArgs) -> Result<()> {
    if a.flood_extent.is_some() {
        return super::flood::flood_extent_cmd(config, &a);
    }
    // clap requires --forecast when --flood-extent is absent.
    let forecast_path = a.forecast.clone().context("--forecast is required")?;
    let cfg = load_config(config)?;
    let origin = forecast_path.display().to_string();
    let bytes = read_input(&forecast_path)?;
    if feeds::floods::looks_like_probabilities(&bytes) {
        return super::flood::flood_assess_cmd(&a, &forecast_path, &cfg, &bytes);
    }
    let bufr = bufr_child_decoder()?;
    let (forecast, input_notes) =
        super::parse_track_forecast(&bytes, &origin, &a.track, &a.layers, &bufr)?;
    let layers = load_indexed_layers(&a.layers, &cfg)?;
    let t = Instant::now();
    let mut assessment = assess(&forecast, &layers, cfg.assessment(), Utc::now())?;
    assessment.input_notes = input_notes;
    eprintln!(
        "aviso: assessed {} ({}) in {:.1} ms",
        forecast.storm.name,
        forecast.reference_time,
        t.elapsed().as_secs_f64() * 1e3
    );
    if let Some(path) = &a.probabilistic {
        let result = super::probabilistic::write_probabilistic(
            &forecast,
            &bytes,
            &bufr,
            &layers.layers,
            &cfg,
            path,
        )?;
        // The alert's levels read them as the service's do (no previous version: no
        // margin to hold a level).
        apply_probabilities(
            &mut assessment,
            &cfg.levels,
            &result,
            &std::collections::BTreeMap::new(),
        );
    }
    let doc = document::alert_document(&assessment, &layers.layers, cfg.output.coordinate_decimals);
    if let Some(out) = a.out.as_ref().filter(|p| p.as_os_str() != "-") {
        write_json(out, &doc)?;
        eprintln!("aviso: alert written to {}", out.display());
        if a.table() {
            print!("{}", table::render(&assessment));
        }
    } else if a.table() {
        print!("{}", table::render(&assessment));
    } else {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &doc)?;
        writeln!(stdout)?;
    }
    Ok(())
}

/// `aviso replay`: every issuance of a best track assessed, and how early each district
/// was warned.
pub fn replay_cmd(config: Option<&Path>, a: ReplayArgs) -> Result<()> {
    let cfg = load_config(config)?;
    let every = parse_hours(&a.every, "--every")?;
    let horizon = parse_hours(&a.horizon, "--horizon")?;
    let origin = a.track.display().to_string();
    let bytes = read_input(&a.track)?;
    let opts = parse_options(&a.storm, None, &a.layers)?;
    let parsed = feeds::parse_with(&bytes, &origin, &opts, &bufr_child_decoder()?)?;
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
        let mut assessment = assess(&f, &layers, cfg.assessment(), Utc::now())?;
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
    let csv = summary.to_csv().context("writing the replay summary CSV")?;
    fs::write(&csv_path, csv).with_context(|| format!("writing {}", csv_path.display()))?;
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
