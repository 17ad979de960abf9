//! `aviso windfield`: the maximum sustained wind at every site, accommodation centre,
//! health facility and settlement over a whole track (a best track, or a forecast), as
//! CSV or GeoJSON (issue 12 item 5). Winds are 10-minute means in knots, with the 1-minute
//! equivalent beside them; names say which.
//!
//! Edge code (files); the computation is `crate::hazard::windfield`.
//!
//! Its `eprintln!` lines (input warnings, timings, "written to") are not log but the
//! command's report to the person who ran it, on stderr as always (app/logging.rs); they
//! stay plain text so scripts and the byte-for-byte comparisons of `aviso assess` hold.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{StormChoice, load_config, parse_options};
use crate::alerts::document::{collection_json, feature, point_geometry};
use crate::domain::{Layers, PointFeature};
use crate::feeds;
use crate::hazard::windfield::{
    PointIndex, PointWind, WindSource, WindfieldConfig, max_wind_at_points, one_minute_kt,
    step_count,
};
use crate::layers::manifest_path;
use geojson::Feature;

/// `aviso windfield`.
#[derive(Debug, Clone, clap::Args)]
pub struct WindfieldArgs {
    /// The track file; its format is detected from the content.
    #[arg(long)]
    pub track: PathBuf,
    #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
    pub layers: PathBuf,
    #[command(flatten)]
    pub storm: StormChoice,
    /// Output: CSV, or GeoJSON for a .geojson name.
    #[arg(long, default_value = "out/windfield.csv")]
    pub out: PathBuf,
    /// Use the Holland (2008) profile at every step and ignore wind radii (as CLIMADA).
    #[arg(long)]
    pub profile_only: bool,
}

pub fn windfield_cmd(config: Option<&Path>, a: WindfieldArgs) -> Result<()> {
    let cfg = load_config(config)?;
    let origin = a.track.display().to_string();
    let bytes = fs::read(&a.track).with_context(|| format!("cannot read track file {origin}"))?;
    let opts = parse_options(&a.storm, None, &a.layers)?;
    let bufr = crate::app::bufr_child_decoder()?;
    let track = feeds::parse_with(&bytes, &origin, &opts, &bufr)?.forecast;
    let manifest = manifest_path(&a.layers);
    let loaded = crate::layers::load_layers(&manifest)
        .with_context(|| format!("loading layers from {}", manifest.display()))?;
    let layers = loaded.layers;
    let features = point_features(&layers);
    if features.is_empty() {
        bail!(
            "{}: no point layers to compute winds at",
            manifest.display()
        );
    }
    let coords: Vec<(f64, f64)> = features
        .iter()
        .map(|f| (f.location.x(), f.location.y()))
        .collect();
    let wcfg = WindfieldConfig {
        use_radii: !a.profile_only,
        ..WindfieldConfig::default()
    };
    let t = Instant::now();
    let index = PointIndex::new(&coords);
    let winds = max_wind_at_points(&track, &index, &wcfg, &cfg.hazard.profile)
        .with_context(|| format!("wind field of {} from {origin}", track.storm.name))?;
    let reached = winds.iter().filter(|w| w.source.is_some()).count();
    eprintln!(
        "aviso: {} ({}) over {} steps of ≤ {} min: wind at {} of {} points in {:.1} ms",
        track.storm.name,
        track.storm.id,
        step_count(&track, &wcfg),
        wcfg.step_minutes,
        reached,
        features.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let is_geojson = a
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("geojson") || e.eq_ignore_ascii_case("json"));
    let body = if is_geojson {
        let doc = geojson_document(&features, &winds, cfg.output.coordinate_decimals);
        serde_json::to_vec(&doc)?
    } else {
        csv_table(&features, &winds)?
    };
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(&a.out, body).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("aviso: wind at points written to {}", a.out.display());
    Ok(())
}

fn point_features(layers: &Layers) -> Vec<&PointFeature> {
    layers.points.iter().flat_map(|l| &l.features).collect()
}

fn source_name(s: Option<WindSource>) -> &'static str {
    match s {
        Some(WindSource::Radii) => "radii",
        Some(WindSource::Holland) => "holland2008",
        None => "",
    }
}

/// Every point, one row each; the wind columns are empty where no step came within reach.
fn csv_table(features: &[&PointFeature], winds: &[PointWind]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "layer",
        "kind",
        "id",
        "name",
        "lon",
        "lat",
        "district_pcode",
        "max_wind_10min_kt",
        "max_wind_1min_kt",
        "source",
        "time_utc",
    ])?;
    for (f, wind) in features.iter().zip(winds) {
        let reached = wind.source.is_some();
        let num = |v: f64| {
            if reached {
                format!("{v:.1}")
            } else {
                String::new()
            }
        };
        w.write_record([
            f.layer.clone(),
            f.kind.label_en().to_string(),
            f.id.clone(),
            f.name.clone(),
            format!("{:.5}", f.location.x()),
            format!("{:.5}", f.location.y()),
            f.district_pcode.clone().unwrap_or_default(),
            num(wind.max_wind_10min_kt),
            num(one_minute_kt(wind.max_wind_10min_kt)),
            source_name(wind.source).to_string(),
            wind.time.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ])?;
    }
    w.into_inner().context("finishing the wind CSV")
}

/// RFC 7946 points (EPSG:4326 lon/lat) reached by the storm, with their maximum wind.
fn geojson_document(features: &[&PointFeature], winds: &[PointWind], decimals: u32) -> Value {
    let out: Vec<Feature> = features
        .iter()
        .zip(winds)
        .filter(|(_, w)| w.source.is_some())
        .map(|(f, w)| {
            feature(
                point_geometry(f.location.x(), f.location.y(), decimals),
                json!({
                    "layer": f.layer,
                    "kind": f.kind,
                    "id": f.id,
                    "name": f.name,
                    "district_pcode": f.district_pcode,
                    "max_wind_10min_kt": (w.max_wind_10min_kt * 10.0).round() / 10.0,
                    "max_wind_1min_kt": (one_minute_kt(w.max_wind_10min_kt) * 10.0).round() / 10.0,
                    "source": source_name(w.source),
                    "time_utc": w.time,
                }),
            )
        })
        .collect();
    collection_json(out, Value::Null)
}
