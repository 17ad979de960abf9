//! Regression tests for the inputs the fuzz runs found to crash a parser, each the minimal
//! input with the error it must now give (naming the source and the place).
//!
//! First run (seed 0xa7150f0017, 2,000 inputs per parser): a GeoJSON position with one
//! number inside a ring (`[3419.8]`, a comma lost) made geojson 1.0.0's conversion index
//! out of bounds and panic, in the subscriber CSV's `polygon` cell (case 564) and in a
//! flood extent (cases 706 and 853). Fixed for every reader by `aviso::geojson_geometry`.

use aviso::notify::subscriber::{self, KnownPcodes};

/// A ring whose third position lost its comma: `[34.7 -19.8]` written `[34.7]`.
const SHORT_RING: &str =
    r#"{"type":"Polygon","coordinates":[[[34.6,-19.9],[34.7,-19.9],[34.7],[34.6,-19.9]]]}"#;

#[test]
fn a_subscriber_polygon_with_a_one_number_position_is_refused_naming_line_and_column() {
    let cell = SHORT_RING.replace('"', "\"\"");
    let csv = format!("id,name,polygon\npf-beira,Ponto focal Beira,\"{cell}\"\n");
    let known = KnownPcodes::from_pairs(std::iter::empty());
    let e = subscriber::from_csv(csv.as_bytes(), &known)
        .expect_err("a short position is an error, not a panic")
        .to_string();
    assert!(
        e.contains("subscriber CSV (CSV line 2), column `polygon`")
            && e.contains("ring 0, position 2 has 1 number"),
        "{e}"
    );
}

#[test]
fn a_flood_extent_with_a_one_number_position_is_refused_naming_file_and_feature() {
    let doc = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","id":"deep","properties":{{"depth_m":1.6}},"geometry":{SHORT_RING}}}]}}"#
    );
    let e = aviso::feeds::flood_extent::parse_extent_geojson(doc.as_bytes(), "buzi.geojson", None)
        .expect_err("a short position is an error, not a panic")
        .to_string();
    assert!(
        e.starts_with("flood extent buzi.geojson: feature 0 (id deep): unreadable geometry: ring 0, position 2 has 1 number"),
        "{e}"
    );
}

#[test]
fn a_river_basin_with_an_empty_position_is_refused_naming_file_and_basin() {
    let ring = SHORT_RING.replace("[34.7]", "[]");
    let doc = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"Basins":"Buzi"}},"geometry":{ring}}}]}}"#
    );
    let e = aviso::feeds::floods::parse_basins(doc.as_bytes(), "basins.geojson", "Basins")
        .expect_err("an empty position is an error, not a panic")
        .to_string();
    assert!(
        e.starts_with("basins.geojson: feature 0 (Buzi): ring 0, position 2 has 0 numbers"),
        "{e}"
    );
}
