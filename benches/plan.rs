//! Benches of the accommodation plan (issue 14) on the real data: the allocation of all
//! 24,602 HDX settlements over the 1,589 demonstration centres (health-facility locations,
//! capacity from an assumed floor area / 3.5 m²), with a light demand that mostly fits
//! (5 persons per settlement, 123,010 in all, against ~195,000 places) and an overload
//! (50 per settlement) where most centres fill and every later query walks past full
//! ones; and the whole plan on the Freddy 2023-03-10 forecast.
//!
//! Run: `cargo bench --bench plan`. Needs ../shared/data (or AVISO_DATA_DIR).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

use aviso::alerts::assess::assess;
use aviso::config::Config;
use aviso::domain::PointKind;
use aviso::exposure::IndexedLayers;
use aviso::feeds::{self, ParseOptions};
use aviso::plan::register::{RegisterBook, demonstration_register};
use aviso::plan::{OriginPlan, PlanInput, allocate, build_plan};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

fn bench_plan(c: &mut Criterion) {
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
    let assessment = assess(&forecast, &layers, cfg.assessment(), Utc::now()).unwrap();
    let health = layers
        .layers
        .points
        .iter()
        .find(|l| l.kind == PointKind::HealthFacility)
        .unwrap();
    let mut book = RegisterBook::default();
    book.offer(
        demonstration_register(health, "demo"),
        Vec::new(),
        &layers.layers,
        &cfg.plan,
    )
    .unwrap();
    let register = book.current().unwrap();
    let input = PlanInput {
        assessment: &assessment,
        layers: &layers,
        register,
        probabilistic: None,
        travel_times: None,
        extra_unsafe: &[],
    };
    let plan = build_plan(&input, &cfg.plan);

    // Every centre safe and empty; every settlement an origin.
    let mut centres = plan.centres.clone();
    for c in &mut centres {
        c.safe = true;
        c.allocated = 0.0;
    }
    let settlements = layers
        .layers
        .points
        .iter()
        .find(|l| l.kind == PointKind::Settlement)
        .unwrap();
    let origins = |demand: f64| -> Vec<OriginPlan> {
        settlements
            .features
            .iter()
            .map(|f| OriginPlan {
                id: f.id.clone(),
                name: f.name.clone(),
                kind: "settlement",
                lon: f.location.x(),
                lat: f.location.y(),
                district_pcode: f.district_pcode.clone(),
                max_threshold_kt: 34.0,
                demand,
                allocated: 0.0,
                shortfall: 0.0,
                nearest_safe_km: None,
                no_safe_centre_within_max: false,
            })
            .collect()
    };
    eprintln!(
        "allocating {} settlements over {} centres ({:.0} places)",
        settlements.features.len(),
        centres.len(),
        centres.iter().map(|c| c.free_room).sum::<f64>()
    );

    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    for (name, demand) in [
        ("allocate_24602_over_1589_light", 5.0),
        ("allocate_24602_over_1589_overload", 50.0),
    ] {
        let base = origins(demand);
        g.bench_function(name, |b| {
            b.iter_batched(
                || (base.clone(), centres.clone()),
                |(mut o, mut c)| allocate(black_box(&mut o), &mut c, &cfg.plan, None),
                BatchSize::LargeInput,
            )
        });
    }
    g.bench_function("freddy_whole_plan", |b| {
        b.iter(|| build_plan(black_box(&input), &cfg.plan))
    });
    g.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
