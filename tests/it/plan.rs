//! Where will people go (issue 14): registers read from real DTM-style HXL CSV and XLSX,
//! their validation naming row and column, occupancy history, HXL export, and the plan on
//! the Freddy 2023-03-10 forecast checked against a recomputation done here from the raw
//! files (health facilities GeoJSON, config/default.toml), not through the plan's code.
//! Over 600 lines because the Freddy checks each recompute their figures in full.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chrono::{NaiveDate, TimeZone, Utc};
use geo::{Intersects, Point};
use serde_json::Value;

use aviso::alerts::assess::Assessment;
use aviso::config::Config;
use aviso::domain::{IssueSeverity, Register, RegisterIssue, SiteRole};
use aviso::exposure::IndexedLayers;
use aviso::layers::register::{
    ReadOptions, parse_register, read_occupancy_updates, read_register, register_to_hxl,
};
use aviso::plan::register::{RegisterBook, demonstration_register};
use aviso::plan::{Plan, PlanInput, build_plan};

use crate::common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/register")
        .join(name)
}

/// The shipped layers, the embedded config and the Freddy 2023-03-10 assessment, built
/// once for the module (loading the layers takes seconds in a debug build).
fn freddy() -> Option<&'static (Config, IndexedLayers, Assessment)> {
    static FREDDY: OnceLock<Option<(Config, IndexedLayers, Assessment)>> = OnceLock::new();
    FREDDY
        .get_or_init(common::freddy_on_shipped_layers)
        .as_ref()
}

fn read(name: &str) -> (Register, Vec<RegisterIssue>) {
    read_register(&fixture(name), &ReadOptions::default()).unwrap()
}

#[test]
fn dtm_hxl_headers_are_read_by_tag_from_csv_and_xlsx_alike() {
    let (csv, csv_issues) = read("dtm_sites_sofala_zambezia.hxl.csv");
    let (xlsx, xlsx_issues) = read("dtm_sites_sofala_zambezia.xlsx");
    assert!(csv_issues.is_empty(), "{csv_issues:?}");
    assert!(xlsx_issues.is_empty(), "{xlsx_issues:?}");
    // The fixture's hashtag row is the DTM one, byte for byte.
    let text = std::fs::read_to_string(fixture("dtm_sites_sofala_zambezia.hxl.csv")).unwrap();
    let tags = text.lines().nth(1).unwrap();
    assert!(tags.starts_with(
        "#loc+name,#loc+code,#adm2+pcode,#geo+lat,#geo+lon,#capacity,#affected+idps+hh,#affected+idps+ind,"
    ));
    assert_eq!(csv.entries.len(), 9);
    assert_eq!(xlsx.entries.len(), csv.entries.len());
    for (c, x) in csv.entries.iter().zip(&xlsx.entries) {
        assert_eq!(c.code, x.code);
        assert_eq!(c.name, x.name);
        assert_eq!((c.lon, c.lat), (x.lon, x.lat));
        assert_eq!(c.capacity_persons, x.capacity_persons);
        assert_eq!(c.floor_area_m2, x.floor_area_m2);
        assert_eq!(c.occupancy.len(), x.occupancy.len());
        for (a, b) in c.occupancy.iter().zip(&x.occupancy) {
            assert_eq!(
                (a.date, a.individuals, a.households),
                (b.date, b.individuals, b.households)
            );
        }
        // The XLSX has a title row above the header: its rows are one further down.
        assert_eq!(x.origin.row, c.origin.row + 1);
    }
    // Several site types in one file: schools, churches and centres are centres; the
    // resettlement and IDP sites are where people come from.
    let sites: Vec<&str> = csv
        .entries
        .iter()
        .filter(|e| e.role == SiteRole::Site)
        .map(|e| e.code.as_str())
        .collect();
    assert_eq!(sites, ["TEST-MOP-001", "TEST-CHR-001"]);
    let mop = &csv.entries[3];
    assert_eq!(mop.latest_occupancy().unwrap().individuals, Some(1830.0));
    assert_eq!(mop.latest_occupancy().unwrap().households, Some(410.0));
    assert_eq!(
        csv.column(aviso::domain::RegisterField::Lat),
        "D (#geo+lat)"
    );
}

#[test]
fn bad_register_rows_are_named_by_row_and_column_and_the_previous_register_stays() {
    let Some((cfg, layers, _)) = freddy() else {
        return;
    };
    let mut book = RegisterBook::default();
    let (good, issues) = read("dtm_sites_sofala_zambezia.hxl.csv");
    let warnings = book
        .offer(good.clone(), issues, &layers.layers, &cfg.plan)
        .unwrap();
    // The one row claiming the wrong district is a warning, and the district its
    // coordinates lie in is used.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        (warnings[0].row, warnings[0].column.as_str()),
        (11, "C (#adm2+pcode)")
    );
    let jasse = book
        .current()
        .unwrap()
        .entries
        .iter()
        .find(|e| e.code == "TEST-NHT-001");
    assert_eq!(jasse.unwrap().district_pcode.as_deref(), Some("MZ0913"));

    let (bad, issues) = read("dtm_sites_bad.hxl.csv");
    let rejected = book
        .offer(bad, issues, &layers.layers, &cfg.plan)
        .unwrap_err();
    let errors: Vec<(u64, &str)> = rejected
        .errors()
        .map(|i| (i.row, i.column.split(' ').next().unwrap_or("")))
        .collect();
    for expected in [
        (4, "D"),  // "-17,2285": a decimal comma
        (5, "B"),  // duplicate code
        (6, "F"),  // negative capacity
        (7, "F"),  // 250,000 persons
        (8, "D"),  // latitude and longitude swapped
        (9, "D"),  // Blantyre, Malawi
        (10, "H"), // negative individuals
    ] {
        assert!(
            errors.contains(&expected),
            "{expected:?} missing in {errors:?}"
        );
    }
    assert_eq!(errors.len(), 7, "{rejected}");
    let message = rejected.to_string();
    assert!(message.contains("dtm_sites_bad.hxl.csv, row 5, column B (#loc+code)"));
    assert!(message.contains("already used on row 3"));
    assert!(message.contains("swapped"));
    // The register in force is still the good one, unchanged.
    let current = book.current().unwrap();
    assert_eq!(current.source, good.source);
    assert_eq!(current.entries.len(), 9);
}

#[test]
fn occupancy_updates_build_a_dated_history_and_a_bad_update_changes_nothing() {
    let Some((cfg, layers, _)) = freddy() else {
        return;
    };
    let mut book = RegisterBook::default();
    let (good, issues) = read("dtm_sites_sofala_zambezia.hxl.csv");
    book.offer(good, issues, &layers.layers, &cfg.plan).unwrap();
    let opts = ReadOptions::default();
    let batch = read_occupancy_updates(&fixture("occupancy_2023-03-12.hxl.csv"), &opts).unwrap();
    assert_eq!(book.apply_occupancy(batch).unwrap(), 3);
    let entry = |book: &RegisterBook, code: &str| {
        book.current()
            .unwrap()
            .entries
            .iter()
            .find(|e| e.code == code)
            .cloned()
            .unwrap()
    };
    let mop = entry(&book, "TEST-MOP-001");
    let dates: Vec<NaiveDate> = mop.occupancy.iter().map(|o| o.date).collect();
    assert_eq!(
        dates,
        [
            NaiveDate::from_ymd_opt(2023, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2023, 3, 12).unwrap()
        ]
    );
    let latest = mop.latest_occupancy().unwrap();
    assert_eq!(latest.individuals, Some(1900.0));
    // Against the Freddy forecast of 2023-03-10 00Z the 12 March figure is 2 days in the
    // future, the 1 March one 9 days old.
    let reference = Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap();
    assert_eq!(latest.age_days(reference), -2);
    assert_eq!(mop.occupancy[0].age_days(reference), 9);
    // DD/MM/YYYY dates are read too.
    let qlm = entry(&book, "TEST-QLM-001");
    assert_eq!(qlm.latest_occupancy().unwrap().individuals, Some(200.0));

    let before = book.current().unwrap().clone();
    let batch = read_occupancy_updates(&fixture("occupancy_bad.hxl.csv"), &opts).unwrap();
    let rejected = book.apply_occupancy(batch).unwrap_err();
    let places: Vec<(u64, &str)> = rejected
        .errors()
        .map(|i| (i.row, i.column.as_str()))
        .collect();
    assert_eq!(
        places,
        [(4, "A (#loc+code)"), (5, "D (#affected+idps+ind)")],
        "{rejected}"
    );
    // Row 3 was valid, but the update is all or nothing.
    assert_eq!(book.current().unwrap(), &before);
}

#[test]
fn a_register_exported_as_hxl_reads_back_the_same() {
    let (good, _) = read("dtm_sites_sofala_zambezia.hxl.csv");
    let bytes = register_to_hxl(&good).unwrap();
    let (back, issues) = parse_register(&bytes, "export", &ReadOptions::default()).unwrap();
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(back.entries.len(), good.entries.len());
    for (a, b) in good.entries.iter().zip(&back.entries) {
        assert_eq!(
            (&a.code, &a.name, &a.site_type, a.role, &a.district_pcode),
            (&b.code, &b.name, &b.site_type, b.role, &b.district_pcode)
        );
        assert!((a.lon - b.lon).abs() < 1e-6 && (a.lat - b.lat).abs() < 1e-6);
        assert_eq!(a.capacity_persons, b.capacity_persons);
        assert_eq!(a.floor_area_m2, b.floor_area_m2);
        assert_eq!(
            a.latest_occupancy()
                .map(|o| (o.date, o.individuals, o.households)),
            b.latest_occupancy()
                .map(|o| (o.date, o.individuals, o.households))
        );
    }
}

/// The demonstration register on Freddy, and the plan built on it.
fn freddy_demo_plan() -> Option<(&'static Config, Plan)> {
    let (cfg, layers, assessment) = freddy()?;
    let health = layers
        .layers
        .points
        .iter()
        .find(|l| l.info.name == "health_facilities")
        .unwrap();
    let mut book = RegisterBook::default();
    book.offer(
        demonstration_register(health, "demo"),
        Vec::new(),
        &layers.layers,
        &cfg.plan,
    )
    .unwrap();
    let plan = build_plan(
        &PlanInput {
            assessment,
            layers,
            register: book.current().unwrap(),
            probabilistic: None,
            travel_times: None,
            extra_unsafe: &[],
        },
        &cfg.plan,
    );
    Some((cfg, plan))
}

/// Floor area of the demonstration rule, restated here from its documentation.
fn demo_area_m2(class: &str) -> f64 {
    match class {
        "Posto de Saúde" => 220.0,
        "Centro de Saúde" => 440.0,
        "Hospital Rural" | "Hospital Distrital" => 1500.0,
        c if c.starts_with("Hospital") => 3000.0,
        _ => 220.0,
    }
}

#[test]
fn freddy_demand_and_safe_capacity_agree_with_a_recomputation_from_the_raw_files() {
    let Some((_, plan)) = freddy_demo_plan() else {
        return;
    };
    let (_, _, assessment) = freddy().unwrap();
    // Fractions straight from config/default.toml.
    let toml_text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"))
            .unwrap();
    let doc: toml::Value = toml::from_str(&toml_text).unwrap();
    let mut fraction: HashMap<String, (f64, f64, f64)> = HashMap::new();
    for d in doc["plan"]["displacement"].as_array().unwrap() {
        if d["hazard"].as_str() == Some("wind") {
            fraction.insert(
                d["level"].as_str().unwrap().to_string(),
                (
                    d["low"].as_float().unwrap(),
                    d["central"].as_float().unwrap(),
                    d["high"].as_float().unwrap(),
                ),
            );
        }
    }
    // The ≥ 34 kt forecast swaths.
    let swaths: Vec<_> = assessment
        .hazard
        .forecast_swaths
        .iter()
        .filter(|s| s.threshold_kt >= 34.0)
        .collect();
    assert!(!swaths.is_empty(), "Freddy's forecast reaches 34 kt");
    let in_swath = |p: Point<f64>| swaths.iter().any(|s| s.geometry.intersects(&p));
    // Safe free room per district from the health facilities file (ADM2_PCODE as shipped).
    let path = common::data_file("sites/moz_health_facilities_public.geojson").unwrap();
    let fc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut safe_room: BTreeMap<String, f64> = BTreeMap::new();
    let mut unsafe_count: BTreeMap<String, usize> = BTreeMap::new();
    for f in fc["features"].as_array().unwrap() {
        let c = &f["geometry"]["coordinates"];
        let p = Point::new(c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        let Some(pcode) = f["properties"]["ADM2_PCODE"].as_str() else {
            continue;
        };
        let class = f["properties"]["facility_type"].as_str().unwrap_or("");
        if in_swath(p) {
            *unsafe_count.entry(pcode.to_string()).or_default() += 1;
        } else {
            *safe_room.entry(pcode.to_string()).or_default() += (demo_area_m2(class) / 3.5).floor();
        }
    }
    let mut checked_demand = 0;
    for row in &plan.districts {
        let d = assessment
            .exposure
            .districts
            .iter()
            .find(|d| d.pcode == row.pcode);
        let people = d
            .and_then(|d| d.wind.iter().find(|w| (w.threshold_kt - 34.0).abs() < 0.5))
            .map(|w| w.people_at_risk)
            .unwrap_or(0.0);
        let level = assessment
            .levels
            .get(&row.pcode)
            .map(|l| l.level.name_en().to_lowercase());
        let (lo, mid, hi) = level
            .and_then(|l| fraction.get(&l).copied())
            .unwrap_or((0.0, 0.0, 0.0));
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
        assert!(close(row.people_at_risk.central, people), "{}", row.pcode);
        assert!(close(row.demand.low, people * lo), "{} low", row.pcode);
        assert!(
            close(row.demand.central, people * mid),
            "{} central",
            row.pcode
        );
        assert!(close(row.demand.high, people * hi), "{} high", row.pcode);
        checked_demand += usize::from(row.demand.central > 0.0);
        let expected_room = safe_room.get(&row.pcode).copied().unwrap_or(0.0);
        assert!(
            (row.safe_capacity - expected_room).abs() < 0.5,
            "{} safe capacity {} vs {expected_room} recomputed",
            row.pcode,
            row.safe_capacity
        );
        assert_eq!(
            row.centres_unsafe,
            unsafe_count.get(&row.pcode).copied().unwrap_or(0),
            "{} unsafe centres",
            row.pcode
        );
        assert!(
            (row.gap.central - (row.demand.central - expected_room).max(0.0)).abs() < 0.5,
            "{} gap",
            row.pcode
        );
    }
    assert!(
        checked_demand >= 10,
        "Freddy puts demand on many districts: {checked_demand}"
    );
    // Provinces and the country sum their districts.
    let sum: f64 = plan.districts.iter().map(|d| d.demand.central).sum();
    assert!((plan.national.demand.central - sum).abs() < 1e-6 * sum.max(1.0));
    let zambezia = plan.provinces.iter().find(|p| p.pcode == "MZ11").unwrap();
    let zsum: f64 = plan
        .districts
        .iter()
        .filter(|d| d.province_pcode.as_deref() == Some("MZ11"))
        .map(|d| d.safe_capacity)
        .sum();
    assert!((zambezia.safe_capacity - zsum).abs() < 1e-6);
}

#[test]
fn on_freddy_no_centre_is_over_capacity_and_every_centre_in_the_swath_is_unsafe() {
    let Some((cfg, plan)) = freddy_demo_plan() else {
        return;
    };
    let (_, _, assessment) = freddy().unwrap();
    let swaths: Vec<_> = assessment
        .hazard
        .forecast_swaths
        .iter()
        .filter(|s| s.threshold_kt >= 34.0)
        .collect();
    let mut unsafe_n = 0;
    for c in &plan.centres {
        let inside = swaths
            .iter()
            .any(|s| s.geometry.intersects(&Point::new(c.lon, c.lat)));
        assert_eq!(!c.safe, inside, "centre {} safe = {}", c.code, c.safe);
        unsafe_n += usize::from(inside);
        assert!(c.demonstration);
    }
    assert!(
        unsafe_n > 50,
        "Freddy's swath holds many centres: {unsafe_n}"
    );
    assert!(
        plan.demonstration,
        "the plan says its register is a demonstration"
    );
    // Sum the allocations per centre here: never above the centre's room, and nothing
    // sent to an unsafe centre.
    let mut sent: HashMap<&str, f64> = HashMap::new();
    for a in &plan.allocations {
        *sent.entry(a.centre_code.as_str()).or_default() += a.persons;
        assert!(a.distance_km <= cfg.plan.max_distance_km + 1e-9);
    }
    assert!(!sent.is_empty(), "some demand is placed");
    for c in &plan.centres {
        let s = sent.get(c.code.as_str()).copied().unwrap_or(0.0);
        assert!(
            s <= c.free_room + 1e-6,
            "{}: {s} sent, room {}",
            c.code,
            c.free_room
        );
        assert!((s - c.allocated).abs() < 1e-6);
        if !c.safe {
            assert_eq!(s, 0.0, "{} is unsafe", c.code);
        }
    }
    // Each origin is placed nearest first, and placed + short = its demand.
    let mut per_origin: HashMap<&str, Vec<(usize, f64, f64)>> = HashMap::new();
    for a in &plan.allocations {
        per_origin.entry(a.origin_id.as_str()).or_default().push((
            a.rank,
            a.distance_km,
            a.persons,
        ));
    }
    for o in &plan.origins {
        let mut list = per_origin.remove(o.id.as_str()).unwrap_or_default();
        list.sort_by_key(|x| x.0);
        assert!(list.windows(2).all(|w| w[0].1 <= w[1].1 + 1e-9), "{}", o.id);
        let placed: f64 = list.iter().map(|x| x.2).sum();
        assert!((placed - o.allocated).abs() < 1e-6);
        assert!((o.allocated + o.shortfall - o.demand).abs() < 1e-6);
    }
    // What is short is short because the nearby safe centres are full, or absent.
    let short_with_room_near: Vec<&str> = plan
        .origins
        .iter()
        .filter(|o| o.shortfall > 1e-6)
        .filter(|o| {
            plan.centres.iter().any(|c| {
                c.safe
                    && c.free_room - c.allocated > 1e-6
                    && geo::Distance::distance(
                        &geo::Geodesic,
                        Point::new(o.lon, o.lat),
                        Point::new(c.lon, c.lat),
                    ) / 1000.0
                        <= cfg.plan.max_distance_km
            })
        })
        .map(|o| o.id.as_str())
        .collect();
    assert!(short_with_room_near.is_empty(), "{short_with_room_near:?}");
}

#[test]
fn aviso_plan_writes_the_district_table_and_allocation_lines_for_a_user_register() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (csv_path, geojson_path) = (dir.path().join("plan.csv"), dir.path().join("plan.geojson"));
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("plan")
        .arg("--forecast")
        .arg(&forecast)
        .arg("--register")
        .arg(fixture("dtm_sites_sofala_zambezia.xlsx"))
        .arg("--occupancy")
        .arg(fixture("occupancy_2023-03-12.hxl.csv"))
        .arg("--travel-times")
        .arg(fixture("travel_times.csv"))
        .arg("--out")
        .arg(&csv_path)
        .arg("--geojson")
        .arg(&geojson_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let national = rows
        .iter()
        .find(|r| &r[col("scope")] == "national")
        .unwrap();
    let districts: Vec<_> = rows
        .iter()
        .filter(|r| &r[col("scope")] == "district")
        .collect();
    assert!(districts.len() > 10);
    // Districts whose population is unknown say so instead of a number; the national
    // sum leaves them out.
    let sum: f64 = districts
        .iter()
        .filter(|r| &r[col("districts_population_unknown")] == "0")
        .map(|r| r[col("demand_central")].parse::<f64>().unwrap())
        .sum();
    let nat: f64 = national[col("demand_central")].parse().unwrap();
    // Whole persons per row: the rounding of each row adds at most half a person.
    assert!((sum - nat).abs() <= districts.len() as f64 * 0.5 + 0.5);
    assert!(
        rows.iter()
            .all(|r| &r[col("demonstration_register")] == "false")
    );
    let mopeia = districts
        .iter()
        .find(|r| &r[col("pcode")] == "MZ1117")
        .unwrap();
    assert_eq!(&mopeia[col("sites_at_risk")], "1");

    // Lead time to arrival per district: the alert document's (`aviso assess` of the same
    // forecast) first arrival of the footprint's wind; a province, its earliest district.
    let doc_path = dir.path().join("alert.json");
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("assess")
        .arg("--forecast")
        .arg(&forecast)
        .arg("--out")
        .arg(&doc_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&doc_path).unwrap()).unwrap();
    let mut arrived = 0;
    for f in doc["features"].as_array().unwrap() {
        let p = &f["properties"];
        if p["layer"] != "district" || p["lead_time_h"].is_null() {
            continue;
        }
        let Some(row) = districts.iter().find(|r| r[col("pcode")] == p["pcode"]) else {
            continue;
        };
        let got: f64 = row[col("arrival_lead_time_h")].parse().unwrap();
        let want = p["lead_time_h"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 0.051,
            "{}: {got} against {want}",
            p["pcode"]
        );
        arrived += 1;
    }
    assert!(arrived > 10, "districts with an arrival: {arrived}");
    let earliest = |prov: &str| {
        districts
            .iter()
            .filter(|r| &r[col("province_pcode")] == prov)
            .filter_map(|r| r[col("arrival_lead_time_h")].parse::<f64>().ok())
            .fold(f64::INFINITY, f64::min)
    };
    let zambezia = rows
        .iter()
        .find(|r| &r[col("scope")] == "province" && &r[col("pcode")] == "MZ11")
        .unwrap();
    let got: f64 = zambezia[col("arrival_lead_time_h")].parse().unwrap();
    assert!((got - earliest("MZ11")).abs() < 0.051, "MZ11: {got}");

    let fc: Value = serde_json::from_slice(&std::fs::read(&geojson_path).unwrap()).unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    assert!(fc.get("crs").is_none(), "RFC 7946: no crs member");
    let features = fc["features"].as_array().unwrap();
    let lines: Vec<&Value> = features
        .iter()
        .filter(|f| f["geometry"]["type"] == "LineString")
        .collect();
    for l in &lines {
        let c = l["geometry"]["coordinates"].as_array().unwrap();
        assert_eq!(c.len(), 2);
        let (lon, lat) = (c[0][0].as_f64().unwrap(), c[0][1].as_f64().unwrap());
        assert!(
            (30.0..41.0).contains(&lon) && (-27.0..-10.0).contains(&lat),
            "lon/lat order"
        );
    }
    // The resettlement site at Mopeia (1,900 present after the 12 March update) follows the
    // travel-time matrix: the church at Sengo first (300 − 80 present = 220 free), then the
    // Dondo school (900); the rest is short, as the matrix lists no other centre.
    let mop: Vec<&&Value> = lines
        .iter()
        .filter(|l| l["properties"]["origin_id"] == "TEST-MOP-001")
        .collect();
    let placed: Vec<(String, f64, f64)> = mop
        .iter()
        .map(|l| {
            let p = &l["properties"];
            (
                p["centre_code"].as_str().unwrap().to_string(),
                p["persons"].as_f64().unwrap(),
                p["travel_min"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            ("TEST-DDO-002".to_string(), 220.0, 240.0),
            ("TEST-DDO-001".to_string(), 900.0, 300.0)
        ]
    );
    let centres: Vec<&Value> = features
        .iter()
        .filter(|f| f["properties"]["feature"] == "centre")
        .collect();
    assert_eq!(
        centres.len(),
        7,
        "the 7 centres of the register (2 are sites)"
    );
    for c in &centres {
        assert!(c["properties"]["demonstration"] == false);
    }
}

#[test]
fn aviso_register_check_fails_on_a_bad_register_naming_rows_and_columns() {
    if common::data_file(common::FREDDY_RSMC).is_none() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["register", "check"])
        .arg(fixture("dtm_sites_bad.hxl.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("row 9, column D (#geo+lat)"), "{stderr}");
    assert!(
        stderr.contains("the register in force is unchanged"),
        "{stderr}"
    );
}

#[test]
fn issue_severities_are_shown_in_messages() {
    let i = RegisterIssue {
        severity: IssueSeverity::Warning,
        source: "f.csv".into(),
        row: 3,
        column: "C (#adm2+pcode)".into(),
        message: "m".into(),
    };
    assert_eq!(
        i.to_string(),
        "warning: f.csv, row 3, column C (#adm2+pcode): m"
    );
}

#[test]
fn a_distance_bounded_nearest_query_agrees_with_the_unbounded_one() {
    use rand::{RngExt, SeedableRng};
    let Some((_, layers, _)) = freddy() else {
        return;
    };
    let health = layers
        .layers
        .points
        .iter()
        .find(|l| l.info.name == "health_facilities")
        .unwrap();
    let pts: Vec<Point<f64>> = health.features.iter().map(|f| f.location).collect();
    let index = aviso::spatial::PointIndex::new(&pts);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
    for _ in 0..300 {
        let p = Point::new(rng.random_range(31.0..41.0), rng.random_range(-27.0..-10.5));
        // Refuse every third point, as full centres are refused.
        let keep = |i: usize| i % 3 != 0;
        let all = index.nearest(p, pts.len(), keep);
        let expected: Vec<(usize, f64)> = all
            .into_iter()
            .filter(|&(_, km)| km <= 40.0)
            .take(5)
            .collect();
        assert_eq!(index.nearest_within(p, 5, 40.0, keep), expected, "{p:?}");
    }
}

#[test]
fn with_probabilistic_wind_demand_spans_the_quantiles_times_the_fractions() {
    let Some((cfg, layers, assessment)) = freddy() else {
        return;
    };
    let mut pcfg = cfg.probabilistic.clone();
    // 100 realisations: enough for distinct quantiles, quick in a debug build.
    pcfg.realisations = 100;
    let prepared = aviso::hazard::ensemble::PreparedLayers::new(
        &layers.layers,
        &cfg.exposure.weighting_layer,
        &pcfg,
    );
    let prob = aviso::hazard::ensemble::assess_probabilistic(
        &assessment.forecast,
        &prepared,
        &pcfg,
        &cfg.hazard,
    )
    .unwrap();
    let health = layers
        .layers
        .points
        .iter()
        .find(|l| l.info.name == "health_facilities")
        .unwrap();
    let register = demonstration_register(health, "demo");
    let plan = build_plan(
        &PlanInput {
            assessment,
            layers,
            register: &register,
            probabilistic: Some(&prob),
            travel_times: None,
            extra_unsafe: &[],
        },
        &cfg.plan,
    );
    let k = prob
        .thresholds_kt
        .iter()
        .position(|t| (t - 34.0).abs() < 0.5)
        .unwrap();
    let mut spread = 0;
    for row in plan.districts.iter().filter(|r| r.fraction.is_some()) {
        let area = prob
            .districts
            .iter()
            .find(|d| d.pcode == row.pcode)
            .unwrap();
        let q = area.people_at_risk[k].last().unwrap();
        let f = row.fraction.unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
        assert!(close(row.demand.low, q.p10 * f.low), "{}", row.pcode);
        assert!(
            close(row.demand.central, q.mean * f.central),
            "{}",
            row.pcode
        );
        assert!(close(row.demand.high, q.p90 * f.high), "{}", row.pcode);
        assert!(row.demand.low <= row.demand.central && row.demand.central <= row.demand.high);
        spread += usize::from(q.p90 > q.p10);
    }
    assert!(
        spread > 0,
        "the realisations spread the people at risk somewhere"
    );
}

#[test]
fn centres_inside_a_flood_extent_are_unsafe_too() {
    let Some((cfg, layers, assessment)) = freddy() else {
        return;
    };
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/floods/buzi_extent.geojson");
    let extent = aviso::layers::flood::read_flood_extent(&path, None, None).unwrap();
    let areas: Vec<geo::MultiPolygon<f64>> =
        extent.features.into_iter().map(|f| f.geometry).collect();
    let health = layers
        .layers
        .points
        .iter()
        .find(|l| l.info.name == "health_facilities")
        .unwrap();
    let register = demonstration_register(health, "demo");
    let plan = build_plan(
        &PlanInput {
            assessment,
            layers,
            register: &register,
            probabilistic: None,
            travel_times: None,
            extra_unsafe: &areas,
        },
        &cfg.plan,
    );
    let mut flooded = 0;
    for c in &plan.centres {
        let p = Point::new(c.lon, c.lat);
        let inside = areas.iter().any(|a| a.intersects(&p));
        assert_eq!(c.in_extra_unsafe_area, inside, "{}", c.code);
        if inside {
            assert!(!c.safe, "{} is in the flood extent", c.code);
            assert_eq!(c.allocated, 0.0);
            flooded += 1;
        }
    }
    assert!(flooded > 0, "the Búzi map holds health facilities");
}
