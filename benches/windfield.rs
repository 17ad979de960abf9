//! Bench of the wind at points (issue 12 item 5): the maximum 10-minute wind at all 24,602
//! settlements over Freddy's whole IBTrACS best track (2023-02-04 to 2023-03-13, ~36 days
//! at 30-minute steps), Holland (2008) profile at every step (`use_radii = false`, the job
//! CLIMADA 6.1 does in 12–15 s), and the same with the fixes' wind radii where given.
//! The point R-tree is built once beforehand (as for any number of tracks).
//!
//! Run: `cargo bench --bench windfield`. Needs ../shared/data (or AVISO_DATA_DIR).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

use aviso::config::Config;
use aviso::domain::PointKind;
use aviso::feeds::{self, ParseOptions, StormSelector};
use aviso::hazard::windfield::{PointIndex, WindfieldConfig, max_wind_at_points, step_count};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

fn bench_windfield(c: &mut Criterion) {
    if !Path::new(DATA).exists() {
        eprintln!("skipping: {DATA} not found");
        return;
    }
    let cfg = Config::embedded_default().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest).unwrap();
    let settlements: Vec<(f64, f64)> = loaded
        .layers
        .points
        .iter()
        .filter(|l| l.kind == PointKind::Settlement && l.info.name == "settlements")
        .flat_map(|l| &l.features)
        .map(|f| (f.location.x(), f.location.y()))
        .collect();
    let path = format!("{DATA}/tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv");
    let bytes = std::fs::read(&path).unwrap();
    let opts = ParseOptions {
        storm: StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..ParseOptions::default()
    };
    let track = feeds::parse_forecast(&bytes, &path, &opts).unwrap();
    let holland = WindfieldConfig {
        use_radii: false,
        ..WindfieldConfig::default()
    };
    let radii = WindfieldConfig::default();
    let index = PointIndex::new(&settlements);
    let first = track.track.first().unwrap().time;
    let last = track.track.last().unwrap().time;
    eprintln!(
        "{} settlements; Freddy {} fixes {first} .. {last} ({:.1} days), {} steps of 30 min",
        settlements.len(),
        track.track.len(),
        (last - first).num_hours() as f64 / 24.0,
        step_count(&track, &holland)
    );
    let w = max_wind_at_points(&track, &index, &holland, &cfg.hazard.profile).unwrap();
    let reached: Vec<f64> = w
        .iter()
        .filter(|x| x.source.is_some())
        .map(|x| x.max_wind_10min_kt)
        .collect();
    eprintln!(
        "Holland 2008: {} settlements within 300 km, max {:.1} kt (10-min), {} at >= 34 kt",
        reached.len(),
        reached.iter().copied().fold(0.0, f64::max),
        reached.iter().filter(|&&v| v >= 34.0).count()
    );
    let mut g = c.benchmark_group("freddy_windfield");
    g.sample_size(20);
    g.bench_function("holland2008_24602_settlements", |b| {
        b.iter(|| {
            max_wind_at_points(black_box(&track), &index, &holland, &cfg.hazard.profile).unwrap()
        })
    });
    g.bench_function("radii_then_holland_24602_settlements", |b| {
        b.iter(|| {
            max_wind_at_points(black_box(&track), &index, &radii, &cfg.hazard.profile).unwrap()
        })
    });
    g.bench_function("rtree_build_24602", |b| {
        b.iter(|| PointIndex::new(black_box(&settlements)))
    });
    g.finish();
}

criterion_group!(benches, bench_windfield);
criterion_main!(benches);
