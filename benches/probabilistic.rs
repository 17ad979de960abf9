//! Bench of one national probabilistic assessment (issue 12): 1,000 realisations of the
//! Météo-France Freddy forecast (2023-03-10) counted on every shipped layer (159 districts,
//! 24,602 settlements, 1,589 health facilities, OSM places, sites), with the layers
//! prepared once beforehand as the service does. Also reports the peak RSS of the process
//! (VmHWM, Linux), which includes the loaded layers.
//!
//! Run: `cargo bench --bench probabilistic`. Needs ../shared/data (or AVISO_DATA_DIR).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

use aviso::config::Config;
use aviso::feeds::{self, ParseOptions};
use aviso::hazard::ensemble::{
    CountMethod, PreparedLayers, assess_probabilistic, count_exceedances, count_exceedances_by,
    perturbed_realisations, probability_contours,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

/// Peak resident set size of this process, from /proc/self/status (Linux only).
fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "VmHWM: unknown".to_string())
}

fn bench_probabilistic(c: &mut Criterion) {
    if !Path::new(DATA).exists() {
        eprintln!("skipping: {DATA} not found");
        return;
    }
    let cfg = Config::embedded_default().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest).unwrap();
    eprintln!("after loading layers: {}", vm_hwm());
    let t0 = std::time::Instant::now();
    let prepared = PreparedLayers::new(
        &loaded.layers,
        &cfg.exposure.weighting_layer,
        &cfg.probabilistic,
    );
    eprintln!(
        "layers prepared once in {:?}: {} test points; {}",
        t0.elapsed(),
        prepared.targets.len(),
        vm_hwm()
    );
    let path = format!(
        "{DATA}/forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json"
    );
    let bytes = std::fs::read(&path).unwrap();
    let forecast = feeds::parse_forecast(&bytes, &path, &ParseOptions::default()).unwrap();
    let seed = cfg.probabilistic.seed_for(&forecast);

    // CPU seconds (all threads) per call, from /proc/self/stat: steadier than wall time
    // on a machine shared with other builds.
    let cpu_s = || -> f64 {
        std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let rest = s.rsplit(')').next()?.to_string();
                let f: Vec<&str> = rest.split_whitespace().collect();
                // Fields 14 and 15 (utime, stime) are 12 and 13 after the name.
                let ticks: f64 =
                    f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
                Some(ticks / 100.0)
            })
            .unwrap_or(f64::NAN)
    };
    for (name, run) in [
        ("assess_national_1000", 0),
        ("count_1000_buckets", 1),
        ("count_1000_exhaustive", 2),
    ] {
        let (c0, w0) = (cpu_s(), std::time::Instant::now());
        let reps = 3;
        for _ in 0..reps {
            match run {
                0 => {
                    assess_probabilistic(&forecast, &prepared, &cfg.probabilistic, &cfg.hazard)
                        .unwrap();
                }
                1 => {
                    let set = perturbed_realisations(
                        &forecast,
                        &cfg.probabilistic,
                        &cfg.hazard,
                        &prepared.land,
                        seed,
                    )
                    .unwrap();
                    count_exceedances(
                        &set.realisations,
                        &prepared.targets,
                        &cfg.probabilistic.thresholds_kt,
                        &cfg.probabilistic.windows_h,
                    )
                    .unwrap();
                }
                _ => {
                    let set = perturbed_realisations(
                        &forecast,
                        &cfg.probabilistic,
                        &cfg.hazard,
                        &prepared.land,
                        seed,
                    )
                    .unwrap();
                    count_exceedances_by(
                        CountMethod::Exhaustive,
                        &set.realisations,
                        &prepared.targets,
                        &cfg.probabilistic.thresholds_kt,
                        &cfg.probabilistic.windows_h,
                    )
                    .unwrap();
                }
            }
        }
        eprintln!(
            "{name}: {:.2} CPU s and {:.2} wall s per call (mean of {reps}; counts include \
             making the realisations)",
            (cpu_s() - c0) / reps as f64,
            w0.elapsed().as_secs_f64() / reps as f64
        );
    }
    let mut g = c.benchmark_group("freddy_probabilistic");
    g.sample_size(10);
    g.bench_function("realisations_1000", |b| {
        b.iter(|| {
            perturbed_realisations(
                black_box(&forecast),
                &cfg.probabilistic,
                &cfg.hazard,
                &prepared.land,
                seed,
            )
            .unwrap()
        })
    });
    // The counting alone, on the same 1,000 realisations: whole buckets decided at once
    // (the service's path) against every point in range tested at every step (the method
    // before; kept as the reference), and the contour grid.
    let set = perturbed_realisations(
        &forecast,
        &cfg.probabilistic,
        &cfg.hazard,
        &prepared.land,
        seed,
    )
    .unwrap();
    let pc = &cfg.probabilistic;
    g.bench_function("count_1000_buckets", |b| {
        b.iter(|| {
            count_exceedances(
                black_box(&set.realisations),
                &prepared.targets,
                &pc.thresholds_kt,
                &pc.windows_h,
            )
            .unwrap()
        })
    });
    g.bench_function("count_1000_exhaustive", |b| {
        b.iter(|| {
            count_exceedances_by(
                CountMethod::Exhaustive,
                black_box(&set.realisations),
                &prepared.targets,
                &pc.thresholds_kt,
                &pc.windows_h,
            )
            .unwrap()
        })
    });
    g.bench_function("contours_1000", |b| {
        b.iter(|| {
            probability_contours(
                black_box(&set.realisations),
                &pc.thresholds_kt,
                &pc.windows_h,
                pc.contour_spacing_deg,
            )
        })
    });
    g.bench_function("assess_national_1000", |b| {
        b.iter(|| {
            assess_probabilistic(
                black_box(&forecast),
                &prepared,
                &cfg.probabilistic,
                &cfg.hazard,
            )
            .unwrap()
        })
    });
    g.finish();
    eprintln!("after the bench: {}", vm_hwm());
}

criterion_group!(benches, bench_probabilistic);
criterion_main!(benches);
