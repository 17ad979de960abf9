//! Shared helpers for integration tests: where ../shared/data is, failing when it is
//! absent (skipping only when AVISO_SKIP_MISSING=1 asks), and domain values read from
//! the real data. A panic here is the test's failure report.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cap_xml;
pub mod pg;

use std::path::PathBuf;

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::Value;

use aviso::domain::Forecast;

/// The shared data folder: $AVISO_DATA_DIR, else ../shared/data beside the repository.
pub fn data_dir() -> PathBuf {
    std::env::var_os("AVISO_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}

/// What to do when a test's data file or tool is absent: fail, naming it, unless the
/// user asked to skip such tests with AVISO_SKIP_MISSING=1 (then say what is skipped).
/// The one place that decides it, for every test of the suite.
pub fn skip_or_fail(what: &str) {
    assert!(
        std::env::var_os("AVISO_SKIP_MISSING").is_some_and(|v| v == "1"),
        "{what}: the test needs it (../shared/data beside the repository or AVISO_DATA_DIR; \
         tools: scripts/setup.sh test). Set AVISO_SKIP_MISSING=1 to skip such tests instead"
    );
    eprintln!("skipping (AVISO_SKIP_MISSING=1): {what}");
}

/// GDAL's `ogrinfo` (Debian gdal-bin), the OGC API client of the tests; absent: fails
/// through [`skip_or_fail`].
pub fn ogrinfo_available() -> bool {
    tool_available("ogrinfo", "--version", "gdal-bin")
}

/// Whether `cmd version_arg` runs and succeeds; absent: fails through [`skip_or_fail`],
/// naming the Debian `package` that brings it.
pub fn tool_available(cmd: &str, version_arg: &str, package: &str) -> bool {
    let ok = std::process::Command::new(cmd)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip_or_fail(&format!("{cmd} (Debian {package}) not found"));
    }
    ok
}

/// A file under the shared data folder, or `None` (with a message) when it is absent.
pub fn data_file(rel: &str) -> Option<PathBuf> {
    let p = data_dir().join(rel);
    if p.exists() {
        return Some(p);
    }
    skip_or_fail(&format!("{} not found (set AVISO_DATA_DIR)", p.display()));
    None
}

/// The bytes of `rel` under the data folder ([`data_file`]); absent: fails through
/// [`skip_or_fail`].
pub fn read_data(rel: &str) -> Option<Vec<u8>> {
    let p = data_file(rel)?;
    read_or_skip(p.to_str()?)
}

/// The bytes of a data file, or `None` (with a message) when it cannot be read.
pub fn read_or_skip(path: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            skip_or_fail(&format!("{path}: {e}"));
            None
        }
    }
}

/// FREDDY, RSMC La Réunion track forecast, reference 2023-03-10 00Z (see PROVENANCE.md).
/// (Relative to the data folder, [`data_dir`].)
pub const FREDDY: &str =
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json";

/// Mozambique outline, OCHA/INE COD-AB adm0 simplified to 100 m (EPSG:4326).
pub const MOZ_ADM0: &str = "boundaries/moz_adm0_ocha_ine_20190607_s100m.geojson";

fn read_json(rel: &str) -> Option<Value> {
    let bytes = read_data(rel)?;
    Some(serde_json::from_slice(&bytes).expect("valid JSON"))
}

fn ring(v: &Value) -> LineString<f64> {
    LineString::new(
        v.as_array()
            .expect("ring")
            .iter()
            .map(|c| Coord {
                x: c[0].as_f64().expect("lon"),
                y: c[1].as_f64().expect("lat"),
            })
            .collect(),
    )
}

fn polygon(v: &Value) -> Polygon<f64> {
    let rings = v.as_array().expect("polygon rings");
    Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect())
}

/// An RSMC CMRSTRACK product under the data folder as a `Forecast`, through the real
/// parser. `None` if absent (and allowed to skip).
pub fn load_rsmc(path: &str) -> Option<Forecast> {
    let bytes = read_data(path)?;
    Some(
        aviso::feeds::rsmc::parse(&bytes, path)
            .expect("the sample parses")
            .forecast,
    )
}

/// The (multi)polygon of the first feature of a GeoJSON FeatureCollection under the data
/// folder.
pub fn load_outline(path: &str) -> Option<MultiPolygon<f64>> {
    let doc = read_json(path)?;
    let g = &doc["features"][0]["geometry"];
    let coords = &g["coordinates"];
    Some(match g["type"].as_str().expect("geometry type") {
        "Polygon" => MultiPolygon::new(vec![polygon(coords)]),
        "MultiPolygon" => MultiPolygon::new(
            coords
                .as_array()
                .expect("polygons")
                .iter()
                .map(polygon)
                .collect(),
        ),
        other => panic!("unexpected geometry type {other}"),
    })
}

/// The Météo-France RSMC forecast for Freddy, issued 2023-03-10, under the data folder.
pub const FREDDY_RSMC: &str =
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json";

/// The shipped layers (layers/manifest.toml) indexed, the embedded config, and the
/// assessment of the Freddy forecast on them: what several test files start from.
pub fn freddy_on_shipped_layers() -> Option<(
    aviso::config::Config,
    aviso::exposure::IndexedLayers,
    aviso::alerts::assess::Assessment,
)> {
    let path = data_file(FREDDY_RSMC)?;
    let cfg = aviso::config::Config::embedded_default().unwrap();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest).unwrap();
    let layers = aviso::exposure::IndexedLayers::new(loaded.layers, &cfg.exposure);
    let bytes = std::fs::read(&path).unwrap();
    let forecast = aviso::feeds::parse_forecast(
        &bytes,
        &path.display().to_string(),
        &aviso::feeds::ParseOptions::default(),
    )
    .unwrap();
    let assessment =
        aviso::alerts::assess::assess(&forecast, &layers, cfg.assessment(), chrono::Utc::now())
            .unwrap();
    Some((cfg, layers, assessment))
}

/// Starts `aviso serve --config CONFIG` (the built binary); returns the child and the API
/// base URL, read from its "serving on" line. Its stderr is echoed, indented.
pub fn start_service(config: &std::path::Path) -> (std::process::Child, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aviso"));
    cmd.args(["serve", "--config"]).arg(config);
    spawn_service(cmd)
}

/// [`start_service`] for a command of the caller's making (e.g. `sh -c 'ulimit -n 256;
/// exec aviso serve ...'`).
pub fn spawn_service(mut cmd: std::process::Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if !sent && let Some(rest) = line.split("serving on http://").nth(1) {
                let addr = rest.split('/').next().unwrap().to_string();
                let _ = tx.send(addr);
                sent = true;
            }
            eprintln!("  [aviso] {line}");
        }
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("aviso serve did not start");
    (child, format!("http://{addr}"))
}

/// An `[approval]` policy that publishes every version at once (issue 13), for the tests
/// of what happens after publication: messages, logs, hardening. Prepended to a site's
/// TOML (an array-of-tables header is valid before `[service]`). The approval tests
/// (`approval_service`) keep the default: Actual versions wait for a person.
pub const PUBLISH_ALL: &str = "[[approval.auto_publish]]\nname = \"tests-publish-everything\"\nstatus = [\"Actual\", \"Exercise\", \"Test\", \"System\", \"Draft\"]\n\n";
