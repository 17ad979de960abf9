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
    let e =
        aviso::geodata::flood_extent::parse_extent_geojson(doc.as_bytes(), "buzi.geojson", None)
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
    let e = aviso::geodata::basins::parse_basins(doc.as_bytes(), "basins.geojson", "Basins")
        .expect_err("an empty position is an error, not a panic")
        .to_string();
    assert!(
        e.starts_with("basins.geojson: feature 0 (Buzi): ring 0, position 2 has 0 numbers"),
        "{e}"
    );
}

/// The ECMWF BUFR files cut at every byte, and with every byte flipped, through ecCodes (C):
/// each cut is an error naming the file, and no flip crashes the process (a flip inside the
/// data section may still decode). In-process on purpose: a crash here fails the suite.
#[test]
fn every_cut_of_the_bufr_files_is_an_error_naming_the_file_and_no_flipped_byte_crashes() {
    for rel in [
        "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.det.bufr4",
        "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.eps.bufr4",
    ] {
        let Some(path) = crate::common::data_file(rel) else {
            return;
        };
        let bytes = std::fs::read(&path).unwrap();
        let step = bytes.len().div_ceil(600); // the ensemble file: every 10th cut
        for cut in (0..bytes.len()).step_by(step) {
            let origin = format!("{rel} cut at {cut}");
            let e = aviso::feeds::ecmwf_bufr::parse(&bytes[..cut], &origin)
                .expect_err("a cut BUFR message is refused")
                .to_string();
            assert!(e.starts_with(&origin), "{e}");
        }
        assert!(aviso::feeds::ecmwf_bufr::parse(&bytes, rel).is_ok());
        for i in (0..bytes.len()).step_by(step) {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0xFF;
            if let Err(e) = aviso::feeds::ecmwf_bufr::parse(&flipped, rel) {
                assert!(e.to_string().starts_with(rel), "{e}");
            }
        }
    }
}

/// Long run (10^6 ATCF decks): a TAU of 9223372036854775807 (i64::MAX, a number the
/// mutations write) made chrono's `TimeDelta::hours` panic, 104 times, and a large one
/// overflowed `cycle + tau` once. TAU is now refused past ATCF's three digits.
#[test]
fn an_atcf_tau_past_three_digits_is_refused_naming_the_line_not_a_panic() {
    let line = "SH, 11, 2023030800,   , BEST,   0, 184S, 0410E,  45,  990, TS,  34, NEQ,   80,   90,   70,   60, 1006,  180,  25,  55,   0,   S,   0,    , 250,   9,    EXEMPLO, D,\n";
    assert!(aviso::feeds::atcf::parse(line.as_bytes(), "bsh112023.dat", None).is_ok());
    for tau in ["9223372036854775807", "1000", "-1000", "2562047788015216"] {
        let deck = line.replacen("BEST,   0,", &format!("BEST, {tau},"), 1);
        let e = aviso::feeds::atcf::parse(deck.as_bytes(), "bsh112023.dat", None)
            .expect_err("an impossible forecast hour is refused")
            .to_string();
        assert!(
            e.starts_with("bsh112023.dat: line 1, TAU: expected a forecast hour from -999 to 999"),
            "{e}"
        );
    }
}

/// Long run (10^6 RSMC products): an `hour` of 1e308 or i64::MAX on a forecast point made
/// chrono's `TimeDelta::minutes` panic, 105 times. A lead past 999 h is now refused.
#[test]
fn an_rsmc_forecast_hour_past_999_is_refused_naming_the_feature_not_a_panic() {
    let Some(path) = crate::common::data_file(crate::common::FREDDY_RSMC) else {
        return;
    };
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let features = doc["features"].as_array_mut().unwrap();
    let i = features
        .iter()
        .position(|f| f["properties"]["hour"] == 12)
        .unwrap();
    for hour in [
        serde_json::json!(1e308),
        serde_json::json!(i64::MAX),
        serde_json::json!(1000),
    ] {
        doc["features"][i]["properties"]["hour"] = hour;
        let e = aviso::feeds::rsmc::parse(&serde_json::to_vec(&doc).unwrap(), "freddy.json")
            .expect_err("an impossible lead is refused")
            .to_string();
        assert!(
            e.starts_with(&format!("freddy.json: feature {i}, properties.hour: expected a forecast lead from 0 to 999 hours")),
            "{e}"
        );
    }
}
