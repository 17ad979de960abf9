//! The `aviso` binary as a user runs it: each input format, the replay, and bad inputs
//! that must fail with a message naming the file and the place in it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn aviso(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the aviso binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn alert(out: &Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("GeoJSON on stdout")
}

fn layer<'a>(doc: &'a Value, name: &str) -> Vec<&'a Value> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["layer"] == name)
        .collect()
}

#[test]
fn an_atcf_a_deck_is_detected_and_assessed_with_one_minute_winds_recorded() {
    if common::data_file("boundaries").is_none() {
        return;
    }
    let doc = alert(&aviso(&[
        "assess",
        "--forecast",
        &fixture("atcf/ash112023.dat"),
    ]));
    let meta = &doc["aviso"];
    assert_eq!(meta["storm"]["name"], "EXEMPLO");
    assert_eq!(meta["source"]["wind_averaging"], "one_minute");
    assert_eq!(meta["reference_time"], "2023-03-09T12:00:00+00:00");
    // The fictional storm heads for the Sofala coast: Sofala districts are at risk.
    let districts = layer(&doc, "district");
    assert!(
        districts
            .iter()
            .any(|d| d["properties"]["province_pcode"] == "MZ09")
    );
    assert_eq!(layer(&doc, "wind_swath").len(), 3);
}

#[test]
fn an_ibtracs_best_track_is_assessed_as_if_issued_at_the_chosen_fix() {
    let Some(track) =
        common::data_file("tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv")
    else {
        return;
    };
    let out = aviso(&[
        "assess",
        "--forecast",
        &s(&track),
        "--storm",
        "CHIDO",
        "--season",
        "2025",
        "--at",
        "2024-12-13T00:00Z",
    ]);
    let doc = alert(&out);
    let meta = &doc["aviso"];
    assert_eq!(meta["storm"]["name"], "CHIDO");
    assert_eq!(meta["reference_time"], "2024-12-13T00:00:00+00:00");
    // Chido struck Cabo Delgado on 15 December: about two days ahead, within the action window.
    let lead = meta["landfall"]["lead_time_h"].as_f64().unwrap();
    assert!((40.0..60.0).contains(&lead), "{lead}");
    assert_eq!(meta["trigger"]["state"], "action");
    assert!(layer(&doc, "district").iter().any(|d| {
        d["properties"]["province_pcode"] == "MZ01" && d["properties"]["level"] == "red"
    }));
}

#[test]
fn a_dtm_site_list_in_hxl_shows_its_sites_at_risk_with_people_and_households() {
    let Some(track) = common::data_file("tracks/ibtracs_derived_12h_moz_historic.csv") else {
        return;
    };
    let out = aviso(&[
        "assess",
        "--forecast",
        &s(&track),
        "--storm",
        "IDAI",
        "--season",
        "2019",
        "--at",
        "2019-03-13T00:00Z",
        "--layers",
        &fixture("layers/manifest_with_dtm.toml"),
    ]);
    let doc = alert(&out);
    let sites = layer(&doc, "point_at_risk");
    let beira = sites
        .iter()
        .find(|p| p["properties"]["id"] == "EX-001")
        .expect("the (fictitious) Beira site is at risk from Idai");
    let p = &beira["properties"];
    assert_eq!(p["kind"], "idp_site");
    assert_eq!(p["population"], 1250.0);
    assert_eq!(p["households"], 260.0);
    // Idai's derived track has no radii: the parametric profile drew the footprint, and
    // the document says so.
    let notes = doc["aviso"]["methods"]["footprints"].to_string();
    assert!(notes.contains("Holland"), "{notes}");
}

#[test]
fn a_replay_of_idai_warns_beira_before_landfall_and_writes_a_summary() {
    let Some(track) = common::data_file("tracks/ibtracs_derived_12h_moz_historic.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = aviso(&[
        "replay",
        "--track",
        &s(&track),
        "--storm",
        "IDAI",
        "--season",
        "2019",
        "--every",
        "12h",
        "--out",
        &s(dir.path()),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    // One landfall, on 14 March 2019 near Beira.
    let landfalls = summary["landfalls"].as_array().unwrap();
    assert_eq!(landfalls.len(), 1);
    assert!(
        landfalls[0]["time"]
            .as_str()
            .unwrap()
            .starts_with("2019-03-14")
    );
    let beira = summary["districts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Cidade Da Beira")
        .expect("Beira is in the summary");
    assert_eq!(beira["max_level"], "red");
    let red_lead = beira["first"]["red"]["lead_before_landfall_h"]
        .as_f64()
        .unwrap();
    assert!(red_lead >= 24.0, "red only {red_lead} h before landfall");
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.contains("Cidade Da Beira") && l.contains(",red,"))
    );
    let alerts = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "geojson")
        })
        .count();
    assert_eq!(alerts as u64, summary["alerts_written"].as_u64().unwrap());
    assert!(alerts > 5);
}

/// Runs `assess` on a file and returns its error text; the run must fail.
fn assess_error(path: &Path, extra: &[&str]) -> String {
    let mut args = vec!["assess", "--forecast"];
    let p = s(path);
    args.push(&p);
    args.extend_from_slice(extra);
    let out = aviso(&args);
    assert!(!out.status.success(), "expected a failure for {p}");
    assert!(out.stdout.is_empty(), "nothing may be written on failure");
    stderr(&out)
}

#[test]
fn bad_forecast_files_fail_with_the_file_and_the_place_named() {
    let Some(freddy) = common::data_file(
        "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let text = std::fs::read_to_string(&freddy).unwrap();

    // Truncated JSON: names the file and the line.
    let p = write("truncated.json", &text.as_bytes()[..text.len() / 2]);
    let e = assess_error(&p, &[]);
    assert!(e.contains("truncated.json") && e.contains("line"), "{e}");

    // lat/lon swapped in the first feature.
    let swapped = text.replacen("[106.74, -14.79]", "[-14.79, 106.74]", 1);
    assert_ne!(swapped, text);
    let e = assess_error(&write("swapped.json", swapped.as_bytes()), &[]);
    assert!(
        e.contains("swapped.json") && e.contains("feature 0") && e.contains("swapped"),
        "{e}"
    );

    // Empty track.
    let e = assess_error(Path::new(&fixture("bad/rsmc_empty_track.json")), &[]);
    assert!(e.contains("rsmc_empty_track.json"), "{e}");

    // ATCF line with a bad latitude: the line number.
    let e = assess_error(Path::new(&fixture("bad/atcf_bad_latitude.dat")), &[]);
    assert!(
        e.contains("atcf_bad_latitude.dat") && e.contains("line"),
        "{e}"
    );

    // Not a forecast at all.
    let e = assess_error(&write("notes.txt", b"hello, this is not a track\n"), &[]);
    assert!(e.contains("notes.txt"), "{e}");

    // A missing file.
    let e = assess_error(&dir.path().join("absent.json"), &[]);
    assert!(e.contains("absent.json"), "{e}");
}

#[test]
fn bad_best_tracks_and_selections_fail_with_a_useful_message() {
    let Some(track) =
        common::data_file("tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv")
    else {
        return;
    };
    // Unknown storm: the message lists what the file holds.
    let e = assess_error(&track, &["--storm", "NOSUCH", "--season", "2023"]);
    assert!(e.contains("NOSUCH") && e.contains("FREDDY"), "{e}");

    // A required column removed: the column is named.
    let text = std::fs::read_to_string(&track).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().replacen(",LAT,", ",LATITUDE,", 1);
    let body: Vec<&str> = lines.collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nolat.csv");
    std::fs::write(&p, format!("{header}\n{}\n", body.join("\n"))).unwrap();
    let e = assess_error(&p, &["--storm", "FREDDY", "--season", "2023"]);
    assert!(e.contains("nolat.csv") && e.contains("LAT"), "{e}");
}

#[test]
fn bad_configuration_is_refused_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("site.toml");
    std::fs::write(&p, "[trigger]\nthreshold_kts = 64.0\n").unwrap();
    let out = aviso(&["check-config", "--config", &s(&p)]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("site.toml") && e.contains("threshold_kts"),
        "{e}"
    );
    let out = aviso(&["check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
