//! Track parsers on the real shared data (Météo-France products, IBTrACS extracts) and on the
//! hand-made ATCF fixtures. Expected values are read from the input files independently
//! (serde_json, csv) rather than copied from the parser's output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::HashMap;

use aviso::domain::{FixKind, Forecast, ForecastSource, Knots, WindAveraging};
use aviso::feeds::{
    FeedError, ParseOptions, StormSelector, TrackFormat, atcf, detect_format, ibtracs,
    parse_forecast, rsmc,
};
use chrono::{DateTime, TimeZone, Utc};
use geo::{BoundingRect, Validation};
use serde_json::Value;

/// Data files, relative to the data folder (`common::data_dir`: AVISO_DATA_DIR or
/// ../shared/data).
const FREDDY_JSON: &str =
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json";
const CHIDO_JSON: &str =
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI04_20242025_CHIDO_2024-12-15T02Z.json";
const IBTRACS_CSV: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";
const DERIVED_CSV: &str = "tracks/ibtracs_derived_12h_moz_historic.csv";
const SID_NAMES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/layers/ibtracs_sid_names.csv");
const ADECK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/atcf/ash112023.dat"
);
const BDECK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/atcf/bsh112023.dat"
);
const BAD_ATCF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/bad/atcf_bad_latitude.dat"
);
const EMPTY_RSMC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/bad/rsmc_empty_track.json"
);

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn time_of(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v["properties"]["time"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn assert_strictly_time_ordered(f: &Forecast) {
    for w in f.track.windows(2) {
        assert!(w[0].time < w[1].time, "{} then {}", w[0].time, w[1].time);
    }
}

// ---------- Météo-France RSMC La Réunion ----------

/// Checks one CMRSTRACK product against its own raw JSON: the counts of analysis and forecast
/// features, the fix shared by both lists, the cone.
fn check_rsmc_product(
    bytes: &[u8],
    name: &str,
    n_analysis: usize,
    n_forecast: usize,
    reference: DateTime<Utc>,
) -> Forecast {
    let raw: Value = serde_json::from_slice(bytes).unwrap();
    let features = raw["features"].as_array().unwrap();
    let of_type = |t: &str| -> Vec<&Value> {
        features
            .iter()
            .filter(|f| f["properties"]["data_type"] == t)
            .collect()
    };
    let (analysis, forecast) = (of_type("analysis"), of_type("forecast"));
    assert_eq!(analysis.len(), n_analysis, "analysis features in the file");
    assert_eq!(forecast.len(), n_forecast, "forecast features in the file");
    // The product repeats its latest analysis as the forecast's first point.
    let shared = analysis
        .iter()
        .filter(|a| forecast.iter().any(|f| time_of(f) == time_of(a)))
        .count();
    assert_eq!(shared, 1, "one fix is in both lists");

    let parsed = rsmc::parse(bytes, name).unwrap();
    let f = parsed.forecast;
    assert_eq!(f.source, ForecastSource::RsmcReunion);
    assert_eq!(f.wind_averaging, WindAveraging::TenMinute);
    // Lead times count from the fix the product's `hour`s count from: its first forecast
    // point (tau 0). The published reference_time is the synoptic time before it.
    assert_eq!(f.reference_time, time_of(forecast[0]));
    assert!(f.reference_time >= reference);
    if f.reference_time != reference {
        assert!(
            parsed
                .notes
                .iter()
                .any(|n| n.contains("lead times are counted from"))
        );
    }
    assert_eq!(f.storm.name, raw["cyclone_name"].as_str().unwrap());
    assert_eq!(f.storm.id, raw["cyclone_id"].as_str().unwrap());
    // The shared fix is kept once, as a forecast point.
    assert_eq!(f.track.len(), n_analysis + n_forecast - shared);
    assert_eq!(f.forecast_points().len(), n_forecast);
    assert_eq!(f.analysis_points().len(), n_analysis - shared);
    assert_strictly_time_ordered(&f);
    let first_forecast_time = time_of(forecast[0]);
    let at_shared = f
        .track
        .iter()
        .find(|p| p.time == first_forecast_time)
        .unwrap();
    assert_eq!(at_shared.kind, FixKind::Forecast);
    assert!(
        parsed
            .notes
            .iter()
            .any(|n| n.contains("dropped the Analysis copy"))
    );

    // The cone: valid, closed, no repeated consecutive vertex, around Mozambique.
    let cone = f.cone.as_ref().expect("the product ships a cone");
    let ring: Vec<_> = cone.exterior().coords().copied().collect();
    assert_eq!(ring.first(), ring.last(), "ring is closed");
    assert!(
        ring.windows(2).all(|w| w[0] != w[1]),
        "no duplicate consecutive vertices"
    );
    let raw_ring = features
        .iter()
        .find(|f| f["properties"]["data_type"] == "uncertainty_cone")
        .unwrap()["geometry"]["coordinates"][0]
        .as_array()
        .unwrap()
        .clone();
    let raw_dups = raw_ring.windows(2).filter(|w| w[0] == w[1]).count();
    assert!(raw_dups > 0, "the raw product does repeat vertices");
    assert_eq!(ring.len(), raw_ring.len() - raw_dups);
    assert!(cone.is_valid(), "{:?}", cone.validation_errors());
    let bbox = cone.bounding_rect().unwrap();
    assert!(bbox.min().x >= 30.0 && bbox.max().x <= 45.0, "{bbox:?}");
    assert!(bbox.min().y >= -25.0 && bbox.max().y <= -10.0, "{bbox:?}");
    f
}

#[test]
fn freddy_product_parses_into_118_fixes_with_the_shared_fix_kept_as_forecast() {
    let Some(bytes) = common::read_data(FREDDY_JSON) else {
        return;
    };
    // 111 analysis + 8 forecast features; the 2023-03-10 04Z fix is in both lists.
    let f = check_rsmc_product(&bytes, FREDDY_JSON, 111, 8, utc(2023, 3, 10, 0));
    assert_eq!(f.storm.season, "2022-2023");
    assert_eq!(
        f.issued,
        Utc.with_ymd_and_hms(2023, 3, 10, 0, 5, 39).unwrap()
    );
    // The product labels its points 12, 24, ... 84 h: lead times must say the same.
    let leads: Vec<f64> = f
        .forecast_points()
        .iter()
        .map(|p| f.lead_time_h(p))
        .collect();
    assert_eq!(leads, [0.0, 12.0, 24.0, 36.0, 48.0, 60.0, 72.0, 84.0]);
}

#[test]
fn freddy_12_hour_point_has_the_64_kt_radii_of_the_file() {
    let Some(bytes) = common::read_data(FREDDY_JSON) else {
        return;
    };
    let raw: Value = serde_json::from_slice(&bytes).unwrap();
    let h12 = raw["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["hour"] == 12)
        .unwrap();
    let contour64 = h12["properties"]["cyclone_data"]["wind_contours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["wind_speed_kt"] == 64)
        .unwrap();
    let raw_nm = |sector: &str| {
        contour64["radius"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sector"] == sector)
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };

    let f = rsmc::parse(&bytes, "freddy").unwrap().forecast;
    let p = f.track.iter().find(|p| p.time == time_of(h12)).unwrap();
    let r64 = p.radii_for(64.0).unwrap();
    assert_eq!(
        (r64.ne_nm, r64.se_nm, r64.sw_nm, r64.nw_nm),
        (raw_nm("NEQ"), raw_nm("SEQ"), raw_nm("SWQ"), raw_nm("NWQ"))
    );
    assert_eq!(
        (r64.ne_nm, r64.se_nm, r64.sw_nm, r64.nw_nm),
        (35.0, 35.0, 35.0, 35.0)
    );
    // Radii come ascending by threshold: 28, 34, 48, 64.
    let thresholds: Vec<f64> = p.wind_radii.iter().map(|w| w.threshold_kt).collect();
    assert_eq!(thresholds, vec![28.0, 34.0, 48.0, 64.0]);
    assert_eq!(p.max_wind_kt, Some(Knots(85.0)));
}

#[test]
fn chido_product_parses_likewise() {
    let Some(bytes) = common::read_data(CHIDO_JSON) else {
        return;
    };
    // 38 analysis + 5 forecast features; 2024-12-15 00Z is in both lists.
    let f = check_rsmc_product(&bytes, CHIDO_JSON, 38, 5, utc(2024, 12, 15, 0));
    assert_eq!(f.storm.season, "2024-2025");
    assert_eq!(f.storm.name, "CHIDO");
    // Early on, 28 kt winds are only listed for SEQ and SWQ: the other sectors are 0.
    let raw: Value = serde_json::from_slice(&bytes).unwrap();
    let partial = raw["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["properties"]["cyclone_data"]["wind_contours"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["radius"].as_array().unwrap().len() < 4))
        })
        .unwrap();
    let p = f.track.iter().find(|p| p.time == time_of(partial)).unwrap();
    let r28 = p.radii_for(28.0).unwrap();
    let listed = &partial["properties"]["cyclone_data"]["wind_contours"][0]["radius"];
    assert_eq!(listed[0]["sector"], "SEQ");
    assert_eq!(r28.se_nm, listed[0]["value"].as_f64().unwrap());
    assert_eq!((r28.ne_nm, r28.nw_nm), (0.0, 0.0));
}

#[test]
fn rsmc_products_are_detected_and_dispatched_by_content() {
    let Some(bytes) = common::read_data(CHIDO_JSON) else {
        return;
    };
    assert_eq!(detect_format(&bytes), Some(TrackFormat::RsmcJson));
    let f = parse_forecast(&bytes, "any-name.txt", &ParseOptions::default()).unwrap();
    assert_eq!(f.source, ForecastSource::RsmcReunion);
}

// ---------- ATCF ----------

#[test]
fn adeck_takes_the_latest_jtwc_cycle_and_groups_threshold_lines_into_one_fix() {
    let bytes = std::fs::read(ADECK).unwrap();
    assert_eq!(detect_format(&bytes), Some(TrackFormat::Atcf));
    let parsed = atcf::parse(&bytes, "ash112023.dat", None).unwrap();
    let f = parsed.forecast;
    assert_eq!(
        f.source,
        ForecastSource::Atcf {
            tech: "JTWC".into()
        }
    );
    assert_eq!(f.wind_averaging, WindAveraging::OneMinute);
    assert_eq!(f.storm.id, "SH112023");
    assert_eq!(f.storm.name, "EXEMPLO");
    // 12Z is the latest JTWC cycle (the 18Z cycle holds only AVNO).
    assert_eq!(f.reference_time, utc(2023, 3, 9, 12));
    let lead: Vec<f64> = f.track.iter().map(|p| f.lead_time_h(p)).collect();
    assert_eq!(lead, vec![0.0, 12.0, 24.0, 36.0, 48.0, 72.0]);
    assert_eq!(f.analysis_points().len(), 1);
    assert_eq!(f.forecast_points().len(), 5);

    // tau 0: "196S, 0372E", three lines (34/50/64) → one fix with three radii.
    let t0 = &f.track[0];
    assert_eq!(t0.kind, FixKind::Analysis);
    assert!((t0.lat - -19.6).abs() < 1e-9 && (t0.lon - 37.2).abs() < 1e-9);
    assert_eq!(t0.wind_radii.len(), 3);
    let r34 = t0.radii_for(34.0).unwrap();
    assert_eq!(
        (r34.ne_nm, r34.se_nm, r34.sw_nm, r34.nw_nm),
        (110.0, 120.0, 100.0, 90.0)
    );
    assert_eq!(t0.radii_for(50.0).unwrap().se_nm, 55.0);
    assert_eq!(t0.radii_for(64.0).unwrap().nw_nm, 25.0);
    assert_eq!(t0.max_wind_kt, Some(Knots(90.0)));
    assert_eq!(t0.rmw_nm.map(|r| r.0), Some(12.0));

    // tau 48: WINDCODE AAA, one radius for the full circle.
    let r48 = f.track[4].radii_for(34.0).unwrap();
    assert_eq!(
        (r48.ne_nm, r48.se_nm, r48.sw_nm, r48.nw_nm),
        (60.0, 60.0, 60.0, 60.0)
    );
    // tau 72: RAD 0, no radii.
    assert!(f.track[5].wind_radii.is_empty());
    // The 1-minute forecast peak of 95 kt (tau 12) is an 84 kt 10-minute wind: a tropical
    // cyclone in SWIO terms, not an intense one.
    assert_eq!(
        f.peak_forecast_wind_10min().map(|k| k.0.round()),
        Some(84.0)
    );
}

#[test]
fn adeck_tech_option_selects_a_model_aid_and_its_own_latest_cycle() {
    let bytes = std::fs::read(ADECK).unwrap();
    let avno = atcf::parse(&bytes, "a", Some("avno")).unwrap().forecast;
    assert_eq!(avno.reference_time, utc(2023, 3, 9, 18));
    assert_eq!(avno.track.len(), 5);
    // AVNO's zero radii mean "not computed": none are stored.
    assert!(avno.track.iter().all(|p| p.wind_radii.is_empty()));
    let emx = atcf::parse(&bytes, "a", Some("EMX")).unwrap().forecast;
    assert_eq!(emx.reference_time, utc(2023, 3, 9, 0));
    assert_eq!(emx.track[2].max_wind_kt, Some(Knots(86.0)));

    let opts = ParseOptions {
        atcf_tech: Some("OFCL".into()),
        ..ParseOptions::default()
    };
    let err = parse_forecast(&bytes, "ash112023.dat", &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ash112023.dat") && err.contains("OFCL"),
        "{err}"
    );
    assert!(
        err.contains("CARQ, JTWC, AVNO, EMX"),
        "lists the techs present: {err}"
    );
}

#[test]
fn bdeck_fixes_are_all_analyses_and_the_last_fix_is_the_reference() {
    let bytes = std::fs::read(BDECK).unwrap();
    let f = parse_forecast(&bytes, "bsh112023.dat", &ParseOptions::default()).unwrap();
    assert_eq!(
        f.source,
        ForecastSource::Atcf {
            tech: "BEST".into()
        }
    );
    assert_eq!(f.track.len(), 10);
    assert!(f.track.iter().all(|p| p.kind == FixKind::Analysis));
    assert_eq!(f.reference_time, utc(2023, 3, 10, 6));
    assert_eq!(f.issued, f.reference_time);
    assert_strictly_time_ordered(&f);
    let thresholds = |i: usize| -> Vec<f64> {
        f.track[i]
            .wind_radii
            .iter()
            .map(|w| w.threshold_kt)
            .collect()
    };
    assert_eq!(thresholds(0), vec![34.0]);
    assert_eq!(thresholds(1), vec![34.0, 50.0]);
    assert_eq!(thresholds(6), vec![34.0, 50.0, 64.0]);
    let p = &f.track[6];
    assert_eq!(p.time, utc(2023, 3, 9, 12));
    assert!((p.lat - -19.6).abs() < 1e-9 && (p.lon - 37.2).abs() < 1e-9);
    assert_eq!(p.development.as_deref(), Some("TY"));
    let m = p.motion.unwrap();
    assert_eq!((m.toward_deg, m.speed_kt), (250.0, 3.0));
}

// ---------- IBTrACS ----------

/// Rows of the IBTrACS CSV read with the csv crate alone, units row dropped.
fn ibtracs_rows(bytes: &[u8]) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(bytes);
    let headers = r.headers().unwrap().clone();
    r.records()
        .skip(1) // units row
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn select(name: &str, season: i32) -> StormSelector {
    StormSelector {
        name: Some(name.into()),
        season: Some(season),
        sid: None,
    }
}

fn parse_time(s: &str) -> DateTime<Utc> {
    Utc.from_utc_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap())
}

#[test]
fn freddy_2023_is_selected_by_name_and_season_and_keeps_its_usa_radii() {
    let Some(bytes) = common::read_data(IBTRACS_CSV) else {
        return;
    };
    let rows: Vec<_> = ibtracs_rows(&bytes)
        .into_iter()
        .filter(|r| r["NAME"] == "FREDDY")
        .collect();
    let parsed = ibtracs::parse(&bytes, "ibtracs.csv", &select("freddy", 2023)).unwrap();
    let f = parsed.forecast;
    assert_eq!(f.storm.id, rows[0]["SID"]);
    assert_eq!(f.storm.season, "2023");
    assert_eq!(f.track.len(), rows.len());
    assert_eq!(f.wind_averaging, WindAveraging::TenMinute);
    assert!(f.track.iter().all(|p| p.kind == FixKind::Analysis));
    assert_eq!(f.track[0].time, parse_time(&rows[0]["ISO_TIME"]));
    assert_eq!(
        f.reference_time,
        parse_time(&rows[rows.len() - 1]["ISO_TIME"])
    );
    assert_strictly_time_ordered(&f);

    // A row with 34 and 64 kt radii, compared with the CSV cell by cell.
    let row = rows.iter().find(|r| !r["USA_R64_NE"].is_empty()).unwrap();
    let p = f
        .track
        .iter()
        .find(|p| p.time == parse_time(&row["ISO_TIME"]))
        .unwrap();
    for kt in [34, 64] {
        let r = p.radii_for(f64::from(kt)).unwrap();
        let cell = |q: &str| row[&format!("USA_R{kt}_{q}")].parse::<f64>().unwrap();
        assert_eq!(
            (r.ne_nm, r.se_nm, r.sw_nm, r.nw_nm),
            (cell("NE"), cell("SE"), cell("SW"), cell("NW"))
        );
    }
    assert_eq!(p.rmw_nm.map(|r| r.0), Some(row["USA_RMW"].parse().unwrap()));
    // FREDDY has no REUNION block here: east of 90° E the WMO wind is BoM's (10-min), elsewhere
    // JTWC's 1-minute wind × 0.88.
    let usa_row = rows.iter().find(|r| r["WMO_AGENCY"].is_empty()).unwrap();
    let q = f
        .track
        .iter()
        .find(|p| p.time == parse_time(&usa_row["ISO_TIME"]))
        .unwrap();
    let usa: f64 = usa_row["USA_WIND"].parse().unwrap();
    assert!((q.max_wind_kt.unwrap().0 - usa * 0.88).abs() < 1e-9);
    assert!(parsed.notes[0].contains("usa (1-min"), "{:?}", parsed.notes);
}

#[test]
fn gombe_2022_uses_rsmc_wind_and_files_its_r50_columns_as_48_kt() {
    let Some(bytes) = common::read_data(IBTRACS_CSV) else {
        return;
    };
    let rows: Vec<_> = ibtracs_rows(&bytes)
        .into_iter()
        .filter(|r| r["NAME"] == "GOMBE")
        .collect();
    let f = ibtracs::parse(&bytes, "ibtracs.csv", &select("Gombe", 2022))
        .unwrap()
        .forecast;
    assert_eq!(f.track.len(), rows.len());
    assert_eq!(
        f.source,
        ForecastSource::Ibtracs {
            agency: "reunion".into()
        }
    );
    let row = rows
        .iter()
        .find(|r| !r["REUNION_R50_NE"].is_empty())
        .unwrap();
    let p = f
        .track
        .iter()
        .find(|p| p.time == parse_time(&row["ISO_TIME"]))
        .unwrap();
    assert_eq!(
        p.max_wind_kt,
        Some(Knots(row["REUNION_WIND"].parse().unwrap()))
    );
    let r48 = p
        .radii_for(48.0)
        .expect("RSMC storm-force radii stored at 48 kt");
    assert_eq!(r48.ne_nm, row["REUNION_R50_NE"].parse::<f64>().unwrap());
    assert!(p.radii_for(50.0).is_none());
    assert_eq!(
        p.radii_for(34.0).unwrap().sw_nm,
        row["REUNION_R34_SW"].parse::<f64>().unwrap()
    );
}

#[test]
fn chido_counts_in_the_2025_season_as_ibtracs_labels_it() {
    let Some(bytes) = common::read_data(IBTRACS_CSV) else {
        return;
    };
    let rows: Vec<_> = ibtracs_rows(&bytes)
        .into_iter()
        .filter(|r| r["NAME"] == "CHIDO")
        .collect();
    assert_eq!(
        rows[0]["SEASON"], "2025",
        "IBTrACS labels Dec 2024 CHIDO season 2025"
    );
    assert!(rows[0]["ISO_TIME"].starts_with("2024-12"));
    let f = ibtracs::parse(&bytes, "ibtracs.csv", &select("CHIDO", 2025))
        .unwrap()
        .forecast;
    assert_eq!(f.track.len(), rows.len());
    let usa: f64 = rows[0]["USA_WIND"].parse().unwrap();
    assert!((f.track[0].max_wind_kt.unwrap().0 - usa * 0.88).abs() < 1e-9);

    let err = ibtracs::parse(&bytes, "ibtracs.csv", &select("CHIDO", 2024))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no storm matches") && err.contains("CHIDO 2025 2024345S11062"),
        "{err}"
    );
}

#[test]
fn jude_2025_keeps_fixes_without_wind() {
    let Some(bytes) = common::read_data(IBTRACS_CSV) else {
        return;
    };
    let rows: Vec<_> = ibtracs_rows(&bytes)
        .into_iter()
        .filter(|r| r["NAME"] == "JUDE")
        .collect();
    let parsed = ibtracs::parse(&bytes, "ibtracs.csv", &select("jude", 2025)).unwrap();
    let f = parsed.forecast;
    assert_eq!(f.track.len(), rows.len());
    let without = rows.iter().filter(|r| r["USA_WIND"].is_empty()).count();
    assert!(without > 0);
    assert_eq!(
        f.track.iter().filter(|p| p.max_wind_kt.is_none()).count(),
        without
    );
    assert!(
        parsed.notes[0].contains(&format!("{without} without wind")),
        "{:?}",
        parsed.notes
    );
}

#[test]
fn season_computed_from_the_sid_matches_the_season_column_for_every_storm() {
    let Some(bytes) = common::read_data(IBTRACS_CSV) else {
        return;
    };
    let storms = ibtracs::list_storms(&bytes, "ibtracs.csv", &HashMap::new()).unwrap();
    let rows = ibtracs_rows(&bytes);
    let mut sids: Vec<&str> = rows.iter().map(|r| r["SID"].as_str()).collect();
    sids.dedup();
    assert_eq!(storms.len(), sids.len());
    assert_eq!(storms.iter().map(|s| s.n_fixes).sum::<usize>(), rows.len());
    assert_eq!(rows.len(), 1411, "PROVENANCE.md: 1,411 track points");
    for s in &storms {
        assert_eq!(ibtracs::season_from_sid(&s.sid), Some(s.season), "{s:?}");
    }
}

#[test]
fn idai_is_read_from_the_derived_file_through_the_names_table() {
    let Some(bytes) = common::read_data(DERIVED_CSV) else {
        return;
    };
    let names = ibtracs::parse_sid_names(&std::fs::read(SID_NAMES).unwrap(), SID_NAMES).unwrap();
    assert_eq!(names.len(), 5);
    assert_eq!(detect_format(&bytes), Some(TrackFormat::IbtracsDerivedCsv));
    let opts = ParseOptions {
        storm: select("Idai", 2019),
        names,
        ..ParseOptions::default()
    };
    let f = parse_forecast(&bytes, "derived.csv", &opts).unwrap();
    let in_file = String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| l.starts_with("2019063S18038,"))
        .count();
    assert_eq!(in_file, 23);
    assert_eq!(f.track.len(), 23);
    assert_eq!(f.storm.name, "IDAI");
    assert_eq!(f.storm.id, "2019063S18038");
    assert!(
        f.track
            .iter()
            .all(|p| p.wind_radii.is_empty() && p.rmw_nm.is_none())
    );
    assert_eq!(f.track[0].time, utc(2019, 3, 5, 0));
    assert_eq!(f.reference_time, utc(2019, 3, 16, 0));
    assert!((f.track[0].lat - -17.0).abs() < 1e-9 && (f.track[0].lon - 37.2).abs() < 1e-9);
}

#[test]
fn the_derived_file_without_a_names_table_points_to_one() {
    let Some(bytes) = common::read_data(DERIVED_CSV) else {
        return;
    };
    let opts = ParseOptions {
        storm: select("Idai", 2019),
        ..ParseOptions::default()
    };
    let err = parse_forecast(&bytes, "derived.csv", &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("UNNAMED 2019 2019063S18038 (23 fixes)"),
        "{err}"
    );
    assert!(err.contains("ibtracs_sid_names.csv"), "{err}");
}

// ---------- bad inputs ----------

#[test]
fn truncated_json_names_origin_and_position() {
    let Some(bytes) = common::read_data(FREDDY_JSON) else {
        return;
    };
    let half = &bytes[..bytes.len() / 2];
    let err = parse_forecast(half, "freddy-half.json", &ParseOptions::default()).unwrap_err();
    assert!(matches!(err, FeedError::Json { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("freddy-half.json: line 1, column"), "{msg}");
    assert!(msg.contains("EOF") && msg.contains("CMRSTRACK"), "{msg}");
}

#[test]
fn swapped_lon_lat_in_a_feature_is_reported_with_its_index() {
    let Some(bytes) = common::read_data(FREDDY_JSON) else {
        return;
    };
    let mut raw: Value = serde_json::from_slice(&bytes).unwrap();
    let coords = &mut raw["features"][0]["geometry"]["coordinates"];
    let (lon, lat) = (coords[0].clone(), coords[1].clone());
    assert_eq!(
        lon.as_f64(),
        Some(106.74),
        "feature 0 is FREDDY's genesis near 106.74° E"
    );
    *coords = Value::Array(vec![lat, lon]);
    let err = rsmc::parse(&serde_json::to_vec(&raw).unwrap(), "freddy-swapped.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("freddy-swapped.json") && err.contains("feature 0"),
        "{err}"
    );
    assert!(
        err.contains("latitude 106.74 out of range −90..90: are lon/lat swapped?"),
        "{err}"
    );
}

#[test]
fn a_product_without_points_is_an_empty_track_error() {
    let bytes = std::fs::read(EMPTY_RSMC).unwrap();
    let err = parse_forecast(&bytes, "empty.json", &ParseOptions::default()).unwrap_err();
    assert!(matches!(err, FeedError::EmptyTrack { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("empty.json: empty track: expected at least one analysis or forecast"),
        "{err}"
    );
}

#[test]
fn ibtracs_without_its_lat_column_is_refused_naming_the_column() {
    let Some(bytes) = common::read_data(IBTRACS_CSV) else {
        return;
    };
    let mut r = csv::Reader::from_reader(&bytes[..]);
    let headers = r.headers().unwrap().clone();
    let lat = headers.iter().position(|h| h == "LAT").unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    let drop_lat = |rec: &csv::StringRecord| -> csv::StringRecord {
        rec.iter()
            .enumerate()
            .filter(|(i, _)| *i != lat)
            .map(|(_, v)| v)
            .collect()
    };
    w.write_record(&drop_lat(&headers)).unwrap();
    for rec in r.records() {
        w.write_record(&drop_lat(&rec.unwrap())).unwrap();
    }
    let no_lat = w.into_inner().unwrap();
    let err = parse_forecast(&no_lat, "no-lat.csv", &ParseOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no-lat.csv: missing required column LAT"),
        "{err}"
    );
}

#[test]
fn atcf_line_with_a_non_numeric_latitude_is_reported_by_line_number() {
    let bytes = std::fs::read(BAD_ATCF).unwrap();
    let err = parse_forecast(&bytes, "bad.dat", &ParseOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.dat: line 5, LatN/S"), "{err}");
    assert!(
        err.contains("\"18.9S\"") && err.contains("like \"196S\""),
        "{err}"
    );
}

#[test]
fn unknown_storm_name_lists_the_storms_in_the_file() {
    let Some(bytes) = common::read_data(IBTRACS_CSV) else {
        return;
    };
    let opts = ParseOptions {
        storm: StormSelector {
            name: Some("NOSUCHSTORM".into()),
            ..StormSelector::default()
        },
        ..ParseOptions::default()
    };
    let err = parse_forecast(&bytes, "ibtracs.csv", &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no storm matches name \"NOSUCHSTORM\""),
        "{err}"
    );
    assert!(
        err.contains("FREDDY 2023 2023036S12117") && err.contains("GOMBE 2022"),
        "{err}"
    );
}

#[test]
fn a_season_alone_matching_several_storms_asks_for_a_sid() {
    let Some(bytes) = common::read_data(IBTRACS_CSV) else {
        return;
    };
    let sel = StormSelector {
        season: Some(2022),
        ..StormSelector::default()
    };
    let err = ibtracs::parse(&bytes, "ibtracs.csv", &sel)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("matches 6 storms") && err.contains("--sid"),
        "{err}"
    );
    assert!(err.contains("GOMBE 2022 2022065S16055"), "{err}");
}

#[test]
fn unknown_format_shows_the_first_bytes_and_the_formats_expected() {
    let html = b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>";
    let err = parse_forecast(
        html,
        "https://example.invalid/track",
        &ParseOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("https://example.invalid/track: unknown track format"),
        "{err}"
    );
    assert!(err.contains("<!DOCTYPE html>\\n<html>"), "{err}");
    assert!(err.contains("IBTrACS CSV") && err.contains("ATCF"), "{err}");
}

#[test]
fn feed_parsers_do_no_io_and_pull_in_no_io_crates() {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/feeds"));
    // The feed modules, including those split into a folder (feeds/ecmwf_bufr/).
    let mut files = Vec::new();
    let mut dirs = vec![dir];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.iter().any(|p| p.ends_with("ecmwf_bufr/mod.rs")));
    for path in files {
        // fetch.rs and its parts in fetch/ are the HTTP client itself (ARCHITECTURE.md:
        // "parse ... apart from fetch").
        let in_fetch = path.ends_with("fetch.rs")
            || path
                .parent()
                .is_some_and(|d| d.file_name().is_some_and(|n| n == "fetch"));
        if in_fetch {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        // Code lines only: the module docs name what they must not depend on.
        let code: Vec<&str> = src
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        for banned in [
            "std::fs", "std::net", "File::", "tokio", "reqwest", "gdal::",
        ] {
            let hit = code.iter().find(|l| l.contains(banned));
            assert!(hit.is_none(), "{}: {hit:?}", path.display());
        }
    }
}
