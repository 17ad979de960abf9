//! Benches of the spine on the real data: one national assessment of the Météo-France
//! Freddy forecast (2023-03-10) with all layers loaded (24,602 settlements, 1,589 health
//! facilities, 2,530 OSM places, 159 districts), split into its hazard and exposure stages,
//! and a whole Freddy replay (IBTrACS, every 6 h, 120 h horizon).
//!
//! What `freddy_forecast/assess_national` times is one call of `alerts::assess::assess`,
//! the national assessment the CLI, the replay and the service run: the hazard (forecast
//! and observed swaths with their 3-hour segments, cone, landfall, exposed area), the
//! exposure (every district, province, settlement count, listed point with its first
//! arrival, nearest safe shelters) and the levels and trigger. The layers are loaded and
//! indexed once beforehand (`IndexedLayers::new`), as the service does; rendering the
//! GeoJSON alert document is not included. `hazard` and `exposure` time the two stages
//! alone.
//!
//! Run: `cargo bench --bench assess`. Needs ../shared/data (or AVISO_DATA_DIR).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

use aviso::alerts::assess::assess;
use aviso::config::Config;
use aviso::exposure::{IndexedLayers, assess_exposure};
use aviso::feeds::{self, ParseOptions, StormSelector};
use aviso::hazard::build_hazard_in;
use aviso::replay;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

fn bench_assess(c: &mut Criterion) {
    if !Path::new(DATA).exists() {
        eprintln!("skipping: {DATA} not found");
        return;
    }
    let cfg = Config::embedded_default().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest).unwrap();
    let layers = IndexedLayers::new(loaded.layers, &cfg.exposure);
    let path = format!(
        "{DATA}/forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json"
    );
    let bytes = std::fs::read(&path).unwrap();
    let forecast = feeds::parse_forecast(&bytes, &path, &ParseOptions::default()).unwrap();

    let mut g = c.benchmark_group("freddy_forecast");
    g.sample_size(20);
    g.bench_function("hazard", |b| {
        b.iter(|| build_hazard_in(black_box(&forecast), layers.country(), &cfg.hazard).unwrap())
    });
    let hazard = build_hazard_in(&forecast, layers.country(), &cfg.hazard).unwrap();
    g.bench_function("exposure", |b| {
        b.iter(|| {
            assess_exposure(
                black_box(&hazard),
                forecast.reference_time,
                &layers,
                &cfg.exposure,
            )
        })
    });
    g.bench_function("assess_national", |b| {
        b.iter(|| assess(black_box(&forecast), &layers, cfg.assessment(), Utc::now()).unwrap())
    });
    g.finish();

    let track_path = format!("{DATA}/tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv");
    let bytes = std::fs::read(&track_path).unwrap();
    let opts = ParseOptions {
        storm: StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..ParseOptions::default()
    };
    let track = feeds::parse_forecast(&bytes, &track_path, &opts).unwrap();
    let times = replay::issuance_times(&track, Duration::hours(6));
    let mut g = c.benchmark_group("freddy_replay");
    g.sample_size(10);
    g.bench_function(format!("replay_{}_issuances", times.len()), |b| {
        b.iter(|| {
            let mut n = 0;
            for t in &times {
                if let Some(f) = replay::issuance_at(&track, *t, Duration::hours(120)) {
                    n += assess(&f, &layers, cfg.assessment(), Utc::now())
                        .unwrap()
                        .levels
                        .len();
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench_assess);
criterion_main!(benches);
