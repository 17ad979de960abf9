//! Population grids through GDAL: exact zonal sums on the real GPWv4 grids, checked against
//! GDAL's own cell values (gdallocationinfo) and, when it is installed, against
//! exactextract; bad rasters fail with clear errors.
#![cfg(feature = "gdal")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aviso::raster::RasterError;
use aviso::raster::gdal::RasterGrid;
use aviso::raster::zones::read_zones;
use geo::{MultiPolygon, polygon};

const GPW_30MIN: &str = "population/gpw_v4_population_count_rev11_2020_30min_moz_bbox.tif";
const GPW_1DEG: &str = "population/gpw_v4_population_count_rev11_2020_1deg_moz_bbox.tif";
const DISTRICTS: &str = "boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson";

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![polygon![
        (x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)
    ]])
}

/// A GDAL command-line tool, or `None` (skip) when gdal-bin is absent outside CI.
fn gdal_tool(name: &str) -> Option<Command> {
    if Command::new(name).arg("--version").output().is_ok() {
        return Some(Command::new(name));
    }
    common::skip_or_fail(&format!("{name} (gdal-bin) not installed"));
    None
}

/// The value GDAL itself reports for the cell holding (lon, lat).
fn gdal_cell_value(path: &Path, lon: f64, lat: f64) -> Option<f64> {
    let out = gdal_tool("gdallocationinfo")?
        .args(["-valonly", "-wgs84"])
        .arg(path)
        .args([lon.to_string(), lat.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn one_cell_of_the_gpw_grid_sums_to_the_value_gdal_reports_and_a_quarter_of_it_to_a_quarter() {
    let Some(path) = common::data_file(GPW_30MIN) else {
        return;
    };
    let grid = RasterGrid::open(&path).unwrap();
    // Beira's cell: 34.5..35°E, 20..19.5°S.
    let Some(expected) = gdal_cell_value(&path, 34.75, -19.75) else {
        return;
    };
    assert!(expected > 1000.0, "a populated cell: {expected}");
    // The grid's origin is 29.999999999999915 (GPW's float rounding): keep clear of edges
    // by a hair, which changes the fraction by ~1e-13.
    let whole = grid
        .zonal_sum(&square(
            34.5 + 1e-9,
            -20.0 + 1e-9,
            35.0 - 1e-9,
            -19.5 - 1e-9,
        ))
        .unwrap();
    assert!(
        (whole.sum - expected).abs() / expected < 1e-6,
        "{} vs {expected}",
        whole.sum
    );
    assert_eq!(whole.covered_cells, 1);
    let quarter = grid
        .zonal_sum(&square(34.5 + 1e-9, -19.75, 34.75, -19.5 - 1e-9))
        .unwrap();
    assert!((quarter.sum - expected / 4.0).abs() / expected < 1e-6);
}

#[test]
fn district_sums_over_the_gpw_grid_add_up_to_the_cells_inside_the_country() {
    let (Some(grid_path), Some(districts)) =
        (common::data_file(GPW_1DEG), common::data_file(DISTRICTS))
    else {
        return;
    };
    let grid = RasterGrid::open(&grid_path).unwrap();
    let zones = read_zones(&districts, Some("ADM2_PCODE")).unwrap();
    assert_eq!(zones.len(), 159);
    let mut total = 0.0;
    for z in &zones {
        let s = grid.zonal_sum(&z.polygons).unwrap();
        assert!(s.sum >= 0.0);
        total += s.sum;
    }
    // The union of the districts is the country: the same sum over the country outline
    // (an independent polygon set) must agree to rounding (districts share edges exactly
    // in COD-AB, but simplification at 100 m leaves slivers, hence 0.5 %).
    let country = read_zones(
        &common::data_file("boundaries/moz_adm0_ocha_ine_20190607_s100m.geojson").unwrap(),
        None,
    )
    .unwrap();
    let national: f64 = country
        .iter()
        .map(|z| grid.zonal_sum(&z.polygons).unwrap().sum)
        .sum();
    assert!(
        (total - national).abs() / national < 0.005,
        "districts {total} vs country {national}"
    );
    // GPWv4 2020 for Mozambique is about 30 million people (CIESIN; UN WPP 2020: 31.3 M).
    assert!((25e6..36e6).contains(&national), "{national}");
}

#[test]
fn zonal_sums_agree_with_exactextract_to_one_part_in_a_million() {
    let (Some(grid), Some(districts)) =
        (common::data_file(GPW_30MIN), common::data_file(DISTRICTS))
    else {
        return;
    };
    // exactextract comes from PyPI; .ci/run installs it into a venv and sets this variable
    // when the install works. Without it the comparison is skipped, in CI too (PyPI is
    // not allowed to break the build).
    let Some(python) = std::env::var_os("AVISO_EXACTEXTRACT_PYTHON") else {
        eprintln!(
            "skipping: AVISO_EXACTEXTRACT_PYTHON is not set (a python with `pip install \
             exactextract numpy`)"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/compare_exactextract.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--raster".as_ref(), grid.as_os_str()])
        .args(["--polygons".as_ref(), districts.as_os_str()])
        .args(["--id-field", "ADM2_PCODE", "--repeat", "1", "--aviso"])
        .arg(env!("CARGO_BIN_EXE_aviso"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "sums differ by more than 1e-6: {report}"
    );
    assert!(report.contains("max relative difference"));
}

#[test]
fn scale_and_offset_are_applied_and_nodata_cells_skipped() {
    let Some(src) = common::data_file(GPW_1DEG) else {
        return;
    };
    let Some(mut translate) = gdal_tool("gdal_translate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let scaled = dir.path().join("scaled.tif");
    run(translate
        .args(["-q", "-a_scale", "2", "-a_offset", "10"])
        .arg(&src)
        .arg(&scaled));
    let raw = RasterGrid::open(&src).unwrap();
    let grid = RasterGrid::open(&scaled).unwrap();
    // Cell 35..36°E, 18..17°S (Zambezia, populated).
    let cell = square(35.25, -17.75, 35.75, -17.25); // a quarter of the cell
    let a = raw.zonal_sum(&cell).unwrap().sum;
    let b = grid.zonal_sum(&cell).unwrap().sum;
    assert!(a > 0.0);
    assert!((b - (2.0 * a + 0.25 * 10.0)).abs() < 1e-6 * b, "{b} vs {a}");
    // The 1° grid's south-east is ocean, nodata (-9999) in GPW: a box there sums to 0
    // with its cells counted as nodata, not as -9999 people.
    let Some(v) = gdal_cell_value(&src, 41.5, -27.5) else {
        return;
    };
    assert_eq!(v, -9999.0);
    let sea = raw.zonal_sum(&square(41.0, -28.0, 42.0, -27.0)).unwrap();
    assert_eq!((sea.sum, sea.covered_cells, sea.nodata_cells), (0.0, 0, 1));
}

fn open_err(path: &Path) -> RasterError {
    RasterGrid::open(path).unwrap_err()
}

#[test]
fn a_projected_raster_a_missing_file_and_a_corrupt_tile_are_refused_clearly() {
    let Some(src) = common::data_file(GPW_30MIN) else {
        return;
    };
    let Some(mut translate) = gdal_tool("gdal_translate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let utm = dir.path().join("utm.tif");
    run(translate
        .args([
            "-q",
            "-a_srs",
            "EPSG:32736",
            "-a_ullr",
            "500000",
            "8000000",
            "600000",
            "7900000",
        ])
        .arg(&src)
        .arg(&utm));
    let e = open_err(&utm).to_string();
    assert!(
        e.contains("EPSG:32736") && e.contains("gdalwarp -t_srs EPSG:4326"),
        "{e}"
    );

    let missing = dir.path().join("nowhere.tif");
    assert!(matches!(open_err(&missing), RasterError::Missing { .. }));

    // A tiled, compressed copy with its tile bytes overwritten: the header opens, the read
    // fails, and the error says which rows it was reading.
    let tiled = dir.path().join("tiled.tif");
    run(gdal_tool("gdal_translate")
        .unwrap()
        .args([
            "-q",
            "-co",
            "TILED=YES",
            "-co",
            "COMPRESS=DEFLATE",
            "-co",
            "BLOCKXSIZE=16",
        ])
        .args(["-co", "BLOCKYSIZE=16"])
        .arg(&src)
        .arg(&tiled));
    let mut bytes = std::fs::read(&tiled).unwrap();
    let n = bytes.len();
    // The tiles sit after the header (GDAL writes the IFD first); garble the last half.
    for b in bytes.iter_mut().skip(n / 2) {
        *b = 0x5a;
    }
    std::fs::write(&tiled, &bytes).unwrap();
    match RasterGrid::open(&tiled) {
        Err(e) => assert!(e.to_string().contains("tiled.tif"), "{e}"),
        Ok(grid) => {
            let e = grid
                .zonal_sum(&square(30.0, -28.0, 42.0, -10.0))
                .unwrap_err()
                .to_string();
            assert!(e.contains("tiled.tif") && e.contains("read rows"), "{e}");
        }
    }
}

#[test]
fn an_all_nodata_raster_makes_aviso_zonal_fail_with_a_clear_message() {
    let Some(districts) = common::data_file(DISTRICTS) else {
        return;
    };
    let Some(mut create) = gdal_tool("gdal_create") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.tif");
    run(create
        .args([
            "-q", "-of", "GTiff", "-outsize", "12", "18", "-bands", "1", "-ot", "Float32",
        ])
        .args(["-a_srs", "EPSG:4326", "-a_ullr", "30", "-10", "42", "-28"])
        .args(["-a_nodata", "-9999", "-burn", "-9999"])
        .arg(&empty));
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["zonal", "--raster"])
        .arg(&empty)
        .arg("--polygons")
        .arg(&districts)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("every cell under the 159 polygons") && e.contains("nodata"),
        "{e}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn aviso_zonal_writes_one_csv_row_per_district_with_id_sum_and_covered_cells() {
    let (Some(grid), Some(districts)) =
        (common::data_file(GPW_30MIN), common::data_file(DISTRICTS))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let csv_path: PathBuf = dir.path().join("zonal.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["zonal", "--raster"])
        .arg(&grid)
        .arg("--polygons")
        .arg(&districts)
        .args(["--id-field", "ADM2_PCODE", "--out"])
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,sum,covered_cells"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 159);
    // MZ0701 (Nampula) spans 39.40..40.14°E, 16.47..15.71°S (ogrinfo): 3 × 2 cells of
    // 0.5°, so it touches at most 6; its area, 0.255 deg² (SpatiaLite ST_Area), is more
    // than one 0.25 deg² cell, so it touches at least 2.
    let district = rows.iter().find(|r| r[0] == "MZ0701").unwrap();
    let covered: usize = district[2].parse().unwrap();
    assert!((2..=6).contains(&covered), "{district:?}");
    // Every district sum is a count of people: finite and not negative.
    for r in &rows {
        let s: f64 = r[1].parse().unwrap();
        assert!(s.is_finite() && s >= 0.0, "{r:?}");
    }
    // A polygon file that is not polygons is refused, naming the feature.
    let pts = dir.path().join("points.geojson");
    std::fs::write(
        &pts,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[35,-19]}}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["zonal", "--raster"])
        .arg(&grid)
        .arg("--polygons")
        .arg(&pts)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("points.geojson: feature 0: expected a Polygon"),
        "{e}"
    );
}

// --- The population_grid layer in exposure -------------------------------------------------

const FREDDY: &str =
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json";

fn assess_freddy(manifest: &Path) -> aviso::alerts::assess::Assessment {
    let cfg = aviso::config::Config::embedded_default().unwrap();
    let layers = aviso::app::load_indexed_layers(manifest, &cfg).unwrap();
    let path = common::data_file(FREDDY).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let forecast = aviso::feeds::parse_forecast(
        &bytes,
        &path.display().to_string(),
        &aviso::feeds::ParseOptions::default(),
    )
    .unwrap();
    aviso::alerts::assess::assess(&forecast, &layers, cfg.assessment(), chrono::Utc::now()).unwrap()
}

/// A small manifest (boundaries, INE population, and a grid at `grid`) in `dir`.
fn manifest_with(dir: &Path, grid: &Path) -> PathBuf {
    let data = common::data_dir();
    let text = format!(
        r#"data_dir = "{data}"
[[layer]]
name = "country"
kind = "country"
path = "boundaries/moz_adm0_ocha_ine_20190607_s100m.geojson"
licence = "CC BY-IGO"
source = "COD-AB"
[[layer]]
name = "provinces"
kind = "provinces"
path = "boundaries/moz_adm1_ocha_ine_20190607_s100m.geojson"
licence = "CC BY-IGO"
source = "COD-AB"
[layer.fields]
id = "ADM1_PCODE"
name = "ADM1_PT"
[[layer]]
name = "districts"
kind = "districts"
path = "boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson"
licence = "CC BY-IGO"
source = "COD-AB"
[layer.fields]
id = "ADM2_PCODE"
name = "ADM2_PT"
parent_id = "ADM1_PCODE"
[[layer]]
name = "district_population"
kind = "district_population"
path = "population/moz_adm2_population_ine_projection_2022_2025.csv"
licence = "INE"
source = "INE"
[layer.fields]
id = "ADM2_PCODE"
population = "pop_2025_total"
[[layer]]
name = "grid"
kind = "population_grid"
path = "{grid}"
format = "raster"
licence = "test"
source = "test"
"#,
        data = data.display(),
        grid = grid.display()
    );
    let path = dir.join("manifest.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn with_a_population_grid_district_people_at_risk_are_zonal_sums_of_district_and_footprint() {
    let (Some(_), Some(grid_path)) = (common::data_file(FREDDY), common::data_file(GPW_30MIN))
    else {
        return;
    };
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers/manifest_with_grid.toml");
    let a = assess_freddy(&manifest);
    assert!(
        a.exposure
            .method_note
            .contains("zonal sum of population grid 'gpw_2020_30min'"),
        "{}",
        a.exposure.method_note
    );
    let grid = RasterGrid::open(&grid_path).unwrap();
    let districts = read_zones(&common::data_file(DISTRICTS).unwrap(), Some("ADM2_PCODE")).unwrap();
    assert!(!a.exposure.districts.is_empty());
    for d in &a.exposure.districts {
        let whole = districts.iter().find(|z| z.id == d.pcode).unwrap();
        let district_total = grid.zonal_sum(&whole.polygons).unwrap().sum;
        let mut previous = f64::INFINITY;
        for w in &d.wind {
            assert_eq!(w.method, aviso::exposure::PeopleMethod::Grid, "{}", d.pcode);
            // Part of a district holds at most the district's people; stronger winds cover
            // a part of the weaker winds' footprint, so never more people. (1e-6: the
            // intersection, by i_overlay, snaps vertices and can grow an area by ~1e-8.)
            assert!(
                w.people_at_risk <= district_total * (1.0 + 1e-6),
                "{}: {} > {district_total}",
                d.pcode,
                w.people_at_risk
            );
            assert!(w.people_at_risk <= previous * (1.0 + 1e-6), "{}", d.pcode);
            // A district wholly inside the footprint holds all its people at risk.
            if w.area_share > 0.999_999 {
                let rel = (w.people_at_risk - district_total).abs() / district_total.max(1.0);
                assert!(
                    rel < 1e-6,
                    "{} {} vs {district_total}",
                    d.pcode,
                    w.people_at_risk
                );
            }
            previous = w.people_at_risk;
        }
    }
    // Maquival (MZ1112) has no INE figure, but the grid counts its people.
    let maquival = a
        .exposure
        .districts
        .iter()
        .find(|d| d.pcode == "MZ1112")
        .unwrap();
    assert!(maquival.widest().unwrap().people_at_risk > 0.0);
}

#[test]
fn a_grid_in_the_wrong_crs_falls_back_to_the_settlement_method_and_the_note_says_why() {
    let (Some(_), Some(src)) = (common::data_file(FREDDY), common::data_file(GPW_30MIN)) else {
        return;
    };
    let Some(mut translate) = gdal_tool("gdal_translate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let utm = dir.path().join("utm.tif");
    run(translate
        .args([
            "-q",
            "-a_srs",
            "EPSG:32736",
            "-a_ullr",
            "500000",
            "8000000",
            "600000",
            "7900000",
        ])
        .arg(&src)
        .arg(&utm));
    let a = assess_freddy(&manifest_with(dir.path(), &utm));
    let note = &a.exposure.method_note;
    assert!(
        note.contains("population grid 'grid' failed") && note.contains("EPSG:32736"),
        "{note}"
    );
    assert!(note.contains("fell back to"), "{note}");
    for d in &a.exposure.districts {
        for w in &d.wind {
            assert_ne!(w.method, aviso::exposure::PeopleMethod::Grid, "{}", d.pcode);
        }
    }

    // A missing grid file: loading warns and exposure never tries the grid.
    let missing = dir.path().join("no_such_grid.tif");
    let loaded = aviso::layers::load_layers(&manifest_with(dir.path(), &missing)).unwrap();
    assert!(loaded.population_grid.is_none());
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("no_such_grid.tif") && w.contains("fall back")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn a_box_over_the_whole_gpw_extract_sums_to_the_74_million_its_provenance_records() {
    // PROVENANCE.md: "both files sum to 74.08 M inside the box" (30–42°E, 10–28°S).
    for rel in [GPW_30MIN, GPW_1DEG] {
        let Some(path) = common::data_file(rel) else {
            return;
        };
        let grid = RasterGrid::open(&path).unwrap();
        let s = grid.zonal_sum(&square(29.0, -29.0, 43.0, -9.0)).unwrap();
        assert!((s.sum / 1e6 - 74.08).abs() < 0.005, "{rel}: {}", s.sum);
    }
}

// --- aviso layers build-population -----------------------------------------------------------

#[test]
fn build_population_spreads_every_ine_person_into_an_epsg4326_grid() {
    let (Some(districts), Some(population), Some(points)) = (
        common::data_file(DISTRICTS),
        common::data_file("population/moz_adm2_population_ine_projection_2022_2025.csv"),
        common::data_file("places/moz_settlements_hdx_points.geojson"),
    ) else {
        return;
    };
    // The independent total: INE 2025 summed straight from the CSV.
    let mut reader = csv::Reader::from_path(&population).unwrap();
    let col = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "pop_2025_total")
        .unwrap();
    let ine_total: f64 = reader
        .records()
        .filter_map(|r| r.unwrap().get(col).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid.tif");
    let run = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["layers", "build-population", "--districts"])
        .arg(&districts)
        .arg("--population")
        .arg(&population)
        .args(["--population-field", "pop_2025_total", "--points"])
        .arg(&points)
        .args(["--resolution", "120", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // The three districts INE gives no figure for are named.
    assert!(
        stderr.contains("3 without a figure (MZ0804, MZ0805, MZ1112)"),
        "{stderr}"
    );
    let grid = RasterGrid::open(&out).unwrap();
    let g = grid.grid();
    assert!((g.cell_width_deg - 120.0 / 3600.0).abs() < 1e-12);
    // Every cell, summed through a box around the whole grid: all INE people are there
    // (Float32 cells: 1e-6).
    let all = grid
        .zonal_sum(&square(
            g.west_deg - 1.0,
            g.south_deg() - 1.0,
            g.east_deg() + 1.0,
            g.north_deg + 1.0,
        ))
        .unwrap();
    assert!(
        (all.sum - ine_total).abs() / ine_total < 1e-6,
        "{} vs {ine_total}",
        all.sum
    );
    // Cells outside every district are nodata: the box holds more cells than it sums.
    assert!(all.nodata_cells > 0 && all.covered_cells > 0);
    // Bad input: a resolution of 0 is refused with the flag named.
    let bad = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["layers", "build-population", "--districts"])
        .arg(&districts)
        .arg("--population")
        .arg(&population)
        .args(["--population-field", "pop_2025_total", "--points"])
        .arg(&points)
        .args(["--resolution", "0", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--resolution 0"));
}
