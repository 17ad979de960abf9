//! Test and bench support: domain values built from the shared real data without the feeds
//! parsers (another module owns those). Reads the RSMC La Réunion CMRSTRACK GeoJSON and the
//! COD-AB country outline generically with serde_json; only the fields hazard needs.
//!
//! Test-only code: panics on malformed data are the desired failure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::Value;

use aviso::domain::Forecast;

/// FREDDY, RSMC La Réunion track forecast, reference 2023-03-10 00Z (see PROVENANCE.md).
pub const FREDDY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json"
);

/// Mozambique outline, OCHA/INE COD-AB adm0 simplified to 100 m (EPSG:4326).
pub const MOZ_ADM0: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/boundaries/moz_adm0_ocha_ine_20190607_s100m.geojson"
);

fn read_json(path: &str) -> Option<Value> {
    let bytes = read_bytes(path)?;
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

/// An RSMC CMRSTRACK product as a `Forecast`, through the real parser. `None` if absent.
pub fn load_rsmc(path: &str) -> Option<Forecast> {
    let bytes = read_bytes(path)?;
    Some(
        aviso::feeds::rsmc::parse(&bytes, path)
            .expect("the sample parses")
            .forecast,
    )
}

fn read_bytes(path: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            assert!(
                std::env::var_os("AVISO_REQUIRE_DATA").is_none(),
                "{path}: {e} (AVISO_REQUIRE_DATA is set)"
            );
            eprintln!("skipping: {path} not found");
            None
        }
    }
}

/// The (multi)polygon of the first feature of a GeoJSON FeatureCollection.
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
