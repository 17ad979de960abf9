//! Times `build_hazard` on the real FREDDY forecast (RSMC La Réunion, 2023-03-10): the full
//! product (111 analysis fixes + 8 forecast points) and its forecast period alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use aviso::hazard::{HazardConfig, build_hazard};

fn bench_hazard(c: &mut Criterion) {
    let (Some(forecast), Some(country)) = (
        support::load_rsmc(support::FREDDY),
        support::load_outline(support::MOZ_ADM0),
    ) else {
        return;
    };
    let cfg = HazardConfig::default();
    let mut group = c.benchmark_group("hazard");
    group.sample_size(10);
    group.bench_function("build_hazard_freddy_full_track", |b| {
        b.iter(|| build_hazard(black_box(&forecast), black_box(&country), &cfg).unwrap())
    });
    let mut forecast_only = forecast.clone();
    let reference = forecast_only
        .track
        .iter()
        .filter(|p| p.kind == aviso::domain::FixKind::Analysis)
        .map(|p| p.time)
        .max()
        .expect("an analysis fix");
    forecast_only.track.retain(|p| p.time >= reference);
    group.bench_function("build_hazard_freddy_forecast_period", |b| {
        b.iter(|| build_hazard(black_box(&forecast_only), black_box(&country), &cfg).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_hazard);
criterion_main!(benches);
