//! Exact zonal sums on 30 arc-second grids over Mozambique: the 159 COD-AB districts, and
//! the four Freddy swaths of the Météo-France forecast of 2023-03-10 (forecast 34/48/64 kt
//! and the observed 34 kt swath). GDAL window reads are included, as in `aviso zonal`.
//!
//! Two grids, built in a temporary folder:
//! - `dasymetric`: built by `aviso layers build-population --resolution 30` (INE 2025 over
//!   the HDX settlements; 1276 × 1969 = 2.5 million cells);
//! - `gpw`: GPWv4 2020 at 0.5° resampled to 30″ by gdal_translate over the whole 30–42°E,
//!   10–28°S box (nearest neighbour, values divided by 3600 so cells still hold people;
//!   1440 × 2160 = 3.1 million cells).
//!
//! Side by side with exactextract: when AVISO_EXACTEXTRACT_PYTHON names a Python with
//! `exactextract` and `numpy`, the bench also runs scripts/compare_exactextract.py on the
//! same grid and polygons with this optimised binary, and prints both times, the ratio and
//! the largest relative difference.
//!
//! Run: `AVISO_EXACTEXTRACT_PYTHON=/path/to/python cargo bench --bench zonal`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use geo::MultiPolygon;

use aviso::config::Config;
use aviso::feeds::{self, ParseOptions};
use aviso::hazard::build_hazard;
use aviso::raster::gdal::RasterGrid;
use aviso::raster::zones::read_zones;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

fn build_dasymetric_grid(dir: &Path) -> PathBuf {
    let out = dir.join("dasymetric_30s.tif");
    let status = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["layers", "build-population", "--districts"])
        .arg(format!(
            "{DATA}/boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson"
        ))
        .arg("--population")
        .arg(format!(
            "{DATA}/population/moz_adm2_population_ine_projection_2022_2025.csv"
        ))
        .args(["--population-field", "pop_2025_total", "--points"])
        .arg(format!("{DATA}/places/moz_settlements_hdx_points.geojson"))
        .args(["--resolution", "30", "--out"])
        .arg(&out)
        .status()
        .expect("aviso runs");
    assert!(status.success());
    out
}

fn build_gpw_grid(dir: &Path) -> PathBuf {
    let out = dir.join("gpw_2020_30s_moz.tif");
    let status = Command::new("gdal_translate")
        .args([
            "-q",
            "-of",
            "GTiff",
            "-co",
            "TILED=YES",
            "-co",
            "COMPRESS=DEFLATE",
        ])
        .args([
            "-outsize", "1440", "2160", "-r", "nearest", "-ot", "Float32",
        ])
        .args(["-scale", "0", "3600", "0", "1"])
        .arg(format!(
            "{DATA}/population/gpw_v4_population_count_rev11_2020_30min_moz_bbox.tif"
        ))
        .arg(&out)
        .status()
        .expect("gdal_translate (gdal-bin) runs");
    assert!(status.success());
    out
}

fn freddy_swaths(dir: &Path) -> (PathBuf, Vec<MultiPolygon<f64>>) {
    let cfg = Config::embedded_default().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest).unwrap();
    let path = format!(
        "{DATA}/forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json"
    );
    let bytes = std::fs::read(&path).unwrap();
    let forecast = feeds::parse_forecast(&bytes, &path, &ParseOptions::default()).unwrap();
    let hazard = build_hazard(&forecast, &loaded.layers.country, &cfg.hazard).unwrap();
    let mut swaths: Vec<(String, MultiPolygon<f64>)> = hazard
        .forecast_swaths
        .iter()
        .map(|s| (format!("forecast_{}kt", s.threshold_kt), s.geometry.clone()))
        .collect();
    if let Some(s) = hazard
        .observed_swaths
        .iter()
        .find(|s| s.threshold_kt < 40.0)
    {
        swaths.push((format!("observed_{}kt", s.threshold_kt), s.geometry.clone()));
    }
    let features: Vec<serde_json::Value> = swaths
        .iter()
        .map(|(id, g)| {
            serde_json::json!({
                "type": "Feature",
                "properties": {"id": id},
                "geometry": geojson::Geometry::new(geojson::GeometryValue::from(g)),
            })
        })
        .collect();
    let out = dir.join("freddy_swaths.geojson");
    let fc = serde_json::json!({"type": "FeatureCollection", "features": features});
    std::fs::write(&out, serde_json::to_vec(&fc).unwrap()).unwrap();
    (out, swaths.into_iter().map(|(_, g)| g).collect())
}

fn compare_with_exactextract(grid: &Path, polygons: &Path) {
    let Some(python) = std::env::var_os("AVISO_EXACTEXTRACT_PYTHON") else {
        eprintln!("exactextract: AVISO_EXACTEXTRACT_PYTHON not set, no side-by-side run");
        return;
    };
    let out = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/compare_exactextract.py"
        ))
        .arg("--raster")
        .arg(grid)
        .arg("--polygons")
        .arg(polygons)
        .args(["--repeat", "5", "--aviso", env!("CARGO_BIN_EXE_aviso")])
        .output()
        .unwrap();
    println!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bench_zonal(c: &mut Criterion) {
    if !Path::new(DATA).exists() {
        eprintln!("skipping: {DATA} not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let grids = [
        ("dasymetric", build_dasymetric_grid(dir.path())),
        ("gpw", build_gpw_grid(dir.path())),
    ];
    let districts_path = PathBuf::from(format!(
        "{DATA}/boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson"
    ));
    let districts: Vec<MultiPolygon<f64>> = read_zones(&districts_path, None)
        .unwrap()
        .into_iter()
        .map(|z| z.polygons)
        .collect();
    let (swaths_path, swaths) = freddy_swaths(dir.path());

    for (name, grid_path) in &grids {
        let grid = RasterGrid::open(grid_path).unwrap();
        let (w, h) = (grid.grid().width, grid.grid().height);
        let mut g = c.benchmark_group(format!("zonal_30s_{name}_{w}x{h}"));
        g.sample_size(20);
        g.bench_function(format!("districts_{}", districts.len()), |b| {
            b.iter(|| {
                districts
                    .iter()
                    .map(|d| grid.zonal_sum(black_box(d)).unwrap().sum)
                    .sum::<f64>()
            })
        });
        g.bench_function(format!("freddy_swaths_{}", swaths.len()), |b| {
            b.iter(|| {
                swaths
                    .iter()
                    .map(|s| grid.zonal_sum(black_box(s)).unwrap().sum)
                    .sum::<f64>()
            })
        });
        g.finish();
        compare_with_exactextract(grid_path, &districts_path);
        compare_with_exactextract(grid_path, &swaths_path);
    }
}

criterion_group!(benches, bench_zonal);
criterion_main!(benches);
