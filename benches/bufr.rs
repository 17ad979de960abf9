//! Bench of the ECMWF TC-track BUFR reader on the real HEROLD 2020-03-19 12Z files: the
//! ensemble file (one compressed message, 52 members × 10 steps, radii at 3 thresholds)
//! and the deterministic one, decoded through ecCodes into an `EnsembleForecast`.
//!
//! Run: `cargo bench --bench bufr`. Needs ../shared/data (or AVISO_DATA_DIR) and Debian's
//! libeccodes-dev.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};

use aviso::feeds::ecmwf_bufr;

fn data_dir() -> PathBuf {
    std::env::var_os("AVISO_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}

fn bench_bufr(c: &mut Criterion) {
    let dir = data_dir().join("forecast-samples");
    if !Path::new(&dir).exists() {
        eprintln!("skipping: {} not found", dir.display());
        return;
    }
    let mut g = c.benchmark_group("ecmwf_bufr_herold");
    for (name, file) in [
        (
            "ensemble_52_members",
            "ecmwf_tc_tracks_22S_HEROLD_2020031912.eps.bufr4",
        ),
        (
            "deterministic",
            "ecmwf_tc_tracks_22S_HEROLD_2020031912.det.bufr4",
        ),
    ] {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let origin = path.display().to_string();
        g.bench_function(name, |b| {
            b.iter(|| ecmwf_bufr::parse(black_box(&bytes), &origin).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_bufr);
criterion_main!(benches);
