//! The contingency plan of a river-flood forecast (issue 14, the sheet for floods) through
//! `aviso plan`, as a GIS analyst runs it without the service, on the real station ensemble
//! forecast issued 2025-09-25 (data/floods). One run of `aviso register build-demo`,
//! `aviso assess` and `aviso plan` is shared by the tests. The numbers are checked against
//! a recomputation done here from the inputs: the register file (capacity, else floor
//! area / 3.5 m²), the alert document's districts (level, people at risk) and flood
//! footprints, the configured flood displacement fractions, and the forecast CSVs
//! themselves (which stations reach a threshold under the ≥ 30 % rule, their first day,
//! their highest exceedance probabilities), never numbers copied from the plan.
//! `plan_flood_print` prints the same sheet through Chromium and feeds the command bad
//! input.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use chrono::NaiveDate;
use geo::{Closest, ClosestPoint, Distance, Geodesic, Intersects, MultiPolygon, Point};
use serde_json::Value;

use crate::common;
use crate::plan_service::{csv_rows, hxl_rows, multipolygon, num};
use crate::plan_sheet::table_after;

pub(crate) const PROBS: &str =
    "floods/moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv";
pub(crate) const STATIONS: &str = "floods/moz_aa_flood_stations_thresholds.csv";

pub(crate) fn aviso<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aviso"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What one run of the commands wrote.
pub(crate) struct Run {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) probs: PathBuf,
    register: Vec<BTreeMap<String, String>>,
    /// The flood alert document of the same forecast (`aviso assess`).
    pub(crate) doc: Value,
    /// The plan as JSON, its CSV table and its GeoJSON.
    pub(crate) plan: Value,
    table: Vec<HashMap<String, String>>,
    geo: Value,
    html: String,
}

pub(crate) fn run() -> Option<&'static Run> {
    static RUN: OnceLock<Option<Run>> = OnceLock::new();
    RUN.get_or_init(|| {
        let probs = common::data_file(PROBS)?;
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        ok(&aviso([
            OsStr::new("register"),
            "build-demo".as_ref(),
            "--out".as_ref(),
            p("demo.hxl.csv").as_os_str(),
        ]));
        ok(&aviso([
            OsStr::new("assess"),
            "--forecast".as_ref(),
            probs.as_os_str(),
            "--out".as_ref(),
            p("alert.json").as_os_str(),
        ]));
        ok(&aviso([
            OsStr::new("plan"),
            "--forecast".as_ref(),
            probs.as_os_str(),
            "--register".as_ref(),
            p("demo.hxl.csv").as_os_str(),
            "--out".as_ref(),
            p("plan.csv").as_os_str(),
            "--json".as_ref(),
            p("plan.json").as_os_str(),
            "--geojson".as_ref(),
            p("plan.geojson").as_os_str(),
            "--sheet".as_ref(),
            p("sheet.html").as_os_str(),
        ]));
        let read = |n: &str| std::fs::read(p(n)).unwrap();
        let json = |n: &str| serde_json::from_slice::<Value>(&read(n)).unwrap();
        Some(Run {
            register: hxl_rows(&read("demo.hxl.csv")),
            doc: json("alert.json"),
            plan: json("plan.json"),
            table: csv_rows(&read("plan.csv")),
            geo: json("plan.geojson"),
            html: String::from_utf8(read("sheet.html")).unwrap(),
            probs,
            dir,
        })
    })
    .as_ref()
}

fn layer<'a>(doc: &'a Value, name: &str) -> Vec<&'a Value> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["layer"] == name)
        .collect()
}

/// The flood areas of the alert: each station's footprint polygon, else (a P-code list)
/// the polygons of the districts it reaches.
pub(crate) fn flood_areas(doc: &Value) -> Vec<MultiPolygon<f64>> {
    let mut areas: Vec<MultiPolygon<f64>> = Vec::new();
    let footprints = layer(doc, "flood_footprint");
    let with_polygon: HashSet<&str> = footprints
        .iter()
        .map(|f| f["properties"]["station_id"].as_str().unwrap())
        .collect();
    areas.extend(footprints.iter().map(|f| multipolygon(&f["geometry"])));
    let districts: HashMap<&str, &Value> = layer(doc, "flood_district")
        .into_iter()
        .map(|f| (f["properties"]["pcode"].as_str().unwrap(), &f["geometry"]))
        .collect();
    for s in layer(doc, "flood_station") {
        let p = &s["properties"];
        if p["level"].is_null() || with_polygon.contains(p["station_id"].as_str().unwrap()) {
            continue;
        }
        for d in p["impact_districts"].as_array().unwrap() {
            areas.push(multipolygon(districts[d.as_str().unwrap()]));
        }
    }
    areas
}

fn flood_fraction(level: &str) -> aviso::plan::DisplacementFraction {
    let cfg = aviso::config::Config::embedded_default().unwrap();
    cfg.plan
        .displacement
        .into_iter()
        .find(|f| f.hazard == aviso::plan::PlanHazard::Flood && f.level.name_en() == level)
        .unwrap_or_else(|| panic!("no flood fraction for {level}"))
}

#[test]
fn the_flood_plan_agrees_with_a_recomputation_from_its_inputs() {
    let Some(r) = run() else { return };
    // Demand per district: the alert's people at risk × the configured flood fraction of
    // the district's level, low / central / high.
    let published: HashMap<&str, &Value> = layer(&r.doc, "flood_district")
        .into_iter()
        .map(|f| (f["properties"]["pcode"].as_str().unwrap(), &f["properties"]))
        .collect();
    let (mut checked, mut arrivals) = (0, 0);
    for row in r.table.iter().filter(|x| x["scope"] == "district") {
        let pcode = row["pcode"].as_str();
        let Some(p) = published.get(pcode) else {
            // Listed for an unsafe centre only: no level, no demand.
            assert_eq!(
                (row["level"].as_str(), row["demand_high"].as_str()),
                ("", "0")
            );
            continue;
        };
        let level = p["level"].as_str().unwrap();
        assert_eq!(row["level"], level, "{pcode}");
        let people = num(&p["people_at_risk"]);
        let f = flood_fraction(level);
        for (col, fraction) in [
            ("demand_low", f.low),
            ("demand_central", f.central),
            ("demand_high", f.high),
        ] {
            let got: f64 = row[col].parse().unwrap();
            // The published people are whole persons, and so is the cell.
            let want = people * fraction;
            assert!(
                (got - want).abs() <= fraction * 0.5 + 0.5,
                "{pcode} {col}: {got} against {want}"
            );
        }
        // Lead time to arrival: the district's first day at its level, in hours from the
        // issue day's 00:00 (the forecast is daily).
        if let Some(first) = p["first_date"].as_str() {
            let first = NaiveDate::parse_from_str(first, "%Y-%m-%d").unwrap();
            let issue = NaiveDate::from_ymd_opt(2025, 9, 25).unwrap();
            let want = format!("{:.1}", (first - issue).num_days() as f64 * 24.0);
            assert_eq!(row["arrival_lead_time_h"], want, "{pcode}");
            arrivals += 1;
        }
        checked += 1;
    }
    assert_eq!(
        arrivals, checked,
        "every planned district has its first day"
    );
    assert_eq!(
        checked,
        published.len(),
        "every district of the alert is planned"
    );
    assert!(checked >= 4, "the Changane at Chibuto reaches 4 districts");

    // Capacity: each centre's room from the register file; safety from the flood areas.
    let areas = flood_areas(&r.doc);
    assert!(!areas.is_empty());
    let reg: HashMap<&str, &BTreeMap<String, String>> = r
        .register
        .iter()
        .map(|x| (x["#loc+code"].as_str(), x))
        .collect();
    let feats = r.geo["features"].as_array().unwrap();
    let mut sent: HashMap<&str, f64> = HashMap::new();
    for f in feats
        .iter()
        .filter(|f| f["properties"]["feature"] == "allocation")
    {
        *sent
            .entry(f["properties"]["centre_code"].as_str().unwrap())
            .or_default() += num(&f["properties"]["persons"]);
    }
    let (mut inside_n, mut unsafe_n) = (0, 0);
    let mut safe_room: HashMap<&str, f64> = HashMap::new();
    for c in feats
        .iter()
        .filter(|f| f["properties"]["feature"] == "centre")
    {
        let p = &c["properties"];
        let code = p["code"].as_str().unwrap();
        let row = reg[code];
        let capacity = match row["#capacity"].as_str() {
            "" => (row["#capacity+area_m2"].parse::<f64>().unwrap() / 3.5).floor(),
            c => c.parse().unwrap(),
        };
        let present: f64 = row["#affected+idps+ind"].parse().unwrap_or(0.0);
        let room = (capacity - present).max(0.0);
        assert_eq!(num(&p["capacity"]), capacity, "{code}");
        assert!((num(&p["free_room"]) - room).abs() < 1e-9, "{code}");
        let s = sent.get(code).copied().unwrap_or(0.0);
        assert!(s <= room + 0.5, "{code}: {s} sent to a room of {room}");
        let pt = Point::new(
            num(&c["geometry"]["coordinates"][0]),
            num(&c["geometry"]["coordinates"][1]),
        );
        let inside = areas.iter().any(|a| a.intersects(&pt));
        // Rounded coordinates: a centre within 50 m of an edge may fall either side.
        let near_edge = !inside
            && areas.iter().any(|a| match a.closest_point(&pt) {
                Closest::SinglePoint(q) | Closest::Intersection(q) => {
                    Geodesic.distance(pt, q) < 50.0
                }
                Closest::Indeterminate => false,
            });
        if !near_edge {
            assert_eq!(p["safe"] == false, inside, "{code}: safe = {}", p["safe"]);
        }
        inside_n += usize::from(inside);
        if p["safe"] == false {
            unsafe_n += 1;
            assert_eq!(p["unsafe_reason"], "inside a flood area", "{code}");
            assert_eq!(s, 0.0, "{code} is unsafe but receives people");
        } else {
            let d = row["#adm2+pcode"].as_str();
            assert_eq!(p["district_pcode"].as_str().unwrap_or(""), d, "{code}");
            *safe_room.entry(d).or_default() += room;
        }
    }
    assert!(inside_n > 10, "centres inside the flood area: {inside_n}");
    assert_eq!(unsafe_n, inside_n, "unsafe = inside a flood area");
    // Per district: safe capacity = the safe centres' room; gap = demand − capacity ≥ 0.
    for row in r.table.iter().filter(|x| x["scope"] == "district") {
        let pcode = row["pcode"].as_str();
        let cap = safe_room.get(pcode).copied().unwrap_or(0.0);
        let got: f64 = row["safe_capacity"].parse().unwrap();
        assert!((got - cap).abs() <= 1.0, "{pcode}: {got} against {cap}");
        let demand: f64 = row["demand_central"].parse().unwrap();
        let gap: f64 = row["gap_central"].parse().unwrap();
        assert!((gap - (demand - cap).max(0.0)).abs() <= 1.5, "{pcode} gap");
    }
}

/// Per station of the forecast CSV: (max level reached, first day at it, the highest
/// probability of exceeding each threshold in %), under the ≥ 30 % rule, recomputed from
/// the member counts.
fn stations_recomputed(probs: &[u8]) -> BTreeMap<String, (usize, NaiveDate, [f64; 3])> {
    let rule = aviso::config::Config::embedded_default()
        .unwrap()
        .flood
        .min_probability_pct;
    let mut out: BTreeMap<String, (usize, NaiveDate, [f64; 3])> = BTreeMap::new();
    let mut days: BTreeMap<String, Vec<(NaiveDate, [f64; 3])>> = BTreeMap::new();
    for row in csv_rows(probs) {
        let total: f64 = row["total_members"].parse().unwrap();
        let p = ["bankfull", "moderate", "severe"]
            .map(|l| row[&format!("{l}_exceeding")].parse::<f64>().unwrap() * 100.0 / total);
        let date = NaiveDate::parse_from_str(&row["valid_time"], "%Y-%m-%d").unwrap();
        days.entry(row["station_id"].clone())
            .or_default()
            .push((date, p));
    }
    for (id, ds) in days {
        let reached = |k: usize| ds.iter().filter(move |(_, p)| p[k] >= rule);
        let Some(k) = (0..3).rev().find(|&k| reached(k).next().is_some()) else {
            continue;
        };
        let first = reached(k).map(|(d, _)| *d).min().unwrap();
        let max = [0, 1, 2].map(|j| ds.iter().map(|(_, p)| p[j]).fold(0.0, f64::max));
        out.insert(id, (k, first, max));
    }
    out
}

/// "28/09 (D+3)" after the issue day 2025-09-25, as the sheet writes a day.
fn day_cell(d: NaiveDate) -> String {
    let issue = NaiveDate::from_ymd_opt(2025, 9, 25).unwrap();
    format!("{} (D+{})", d.format("%d/%m"), (d - issue).num_days())
}

/// Whole persons grouped as the Portuguese sheet writes them (narrow no-break spaces).
fn pt_persons(cell: &str) -> String {
    let digits: Vec<char> = cell.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(*c);
    }
    out
}

#[test]
fn the_flood_sheet_shows_the_trigger_state_the_days_and_every_unsafe_centre() {
    let Some(r) = run() else { return };
    let html = &r.html;
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<html lang=\"pt\">"));
    assert!(
        html.contains("Plano de acolhimento — cheias — previsão fluvial de 25/09/2025"),
        "the title names the forecast"
    );
    assert!(
        html.contains("DEMONSTRAÇÃO"),
        "a demonstration register says so"
    );

    // Trigger state: the stations at a level, recomputed from the forecast CSVs.
    let Some(stations_csv) = common::read_data(STATIONS) else {
        return;
    };
    let thresholds: HashMap<String, [f64; 3]> = csv_rows(&stations_csv)
        .into_iter()
        .map(|x| {
            let t = ["bankfull", "moderate", "severe"]
                .map(|l| x[&format!("threshold_{l}")].parse::<f64>().unwrap());
            (x["station_id"].clone(), t)
        })
        .collect();
    let stations_names: HashMap<String, String> = csv_rows(&stations_csv)
        .into_iter()
        .map(|x| (x["station_id"].clone(), x["station_name"].clone()))
        .collect();
    let mut expected = stations_recomputed(&std::fs::read(&r.probs).unwrap());
    // Misordered thresholds leave a station out of the forecast ([flood] skip_misordered).
    expected.retain(|id, _| thresholds[id].windows(2).all(|w| w[0] <= w[1]));
    assert!(
        !expected.is_empty(),
        "the 2025-09-25 forecast reaches a threshold"
    );
    let peaks: HashMap<&str, &str> = layer(&r.doc, "flood_station")
        .into_iter()
        .filter_map(|f| {
            let p = &f["properties"];
            Some((p["station_id"].as_str()?, p["peak_date"].as_str()?))
        })
        .collect();
    let rows = table_after(html, "Estado do gatilho (cheias)");
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    let names = ["margens cheias", "cheia moderada", "cheia severa"];
    for (id, (k, first, max)) in &expected {
        let row = rows
            .iter()
            .find(|x| x[0].ends_with(&format!(" {id}")))
            .unwrap_or_else(|| panic!("station {id} not in {rows:?}"));
        // The name as people read it: the file's underscores as spaces.
        let name = stations_names[id.as_str()]
            .split('_')
            .filter(|w| !w.is_empty());
        assert_eq!(
            row[0],
            format!("{} {id}", name.collect::<Vec<_>>().join(" "))
        );
        let t = thresholds[id];
        assert_eq!(row[2], format!("{:.0} / {:.0} / {:.0}", t[0], t[1], t[2]));
        assert_eq!(
            row[3],
            format!("{:.0} / {:.0} / {:.0} %", max[0], max[1], max[2])
        );
        assert_eq!(row[4], names[*k]);
        assert_eq!(row[5], day_cell(*first), "first day at the level");
        let peak = NaiveDate::parse_from_str(peaks[id.as_str()], "%Y-%m-%d").unwrap();
        assert_eq!(row[6], day_cell(peak), "the alert's peak day");
    }

    // Per district: level, demand and the days, against the CSV table and the alert.
    let published: HashMap<&str, &Value> = layer(&r.doc, "flood_district")
        .into_iter()
        .map(|f| (f["properties"]["name"].as_str().unwrap(), &f["properties"]))
        .collect();
    let rows = table_after(html, "Por distrito");
    assert_eq!(rows.len(), published.len());
    for (name, p) in &published {
        let row = rows
            .iter()
            .find(|x| x[0].starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in the table"));
        assert_eq!(
            row[1], "amarelo",
            "{name}: bankfull is yellow ([flood_levels])"
        );
        let csv = r
            .table
            .iter()
            .find(|x| x["pcode"] == p["pcode"].as_str().unwrap())
            .unwrap();
        assert!(
            row[3].starts_with(&pt_persons(&csv["demand_central"])),
            "{name}: {row:?}"
        );
        let first =
            NaiveDate::parse_from_str(p["first_date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        assert_eq!(row[6], day_cell(first), "{name}: arrival");
        // The peak: the earliest peak day of the district's stations at its level.
        let peak = p["stations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| peaks.get(s.as_str().unwrap()))
            .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap())
            .min()
            .unwrap();
        assert_eq!(row[7], day_cell(peak), "{name}: peak");
    }

    // The fractions with their sources, as configured.
    let rows = table_after(html, "Frações de deslocação");
    assert_eq!(rows.len(), 3);
    for (row, level) in rows.iter().zip(["red", "orange", "yellow"]) {
        let f = flood_fraction(level);
        assert_eq!(row[2], format!("{:.1} %", f.central * 100.0), "{level}");
        assert_eq!(row[4], f.source.replace('&', "&amp;"), "{level}");
    }

    // Unsafe centres: every one listed (fewer than the sheet's limit here), none opened.
    let centres: Vec<&Value> = r.plan["centres"].as_array().unwrap().iter().collect();
    let unsafe_codes: Vec<&str> = centres
        .iter()
        .filter(|c| c["safe"] == false)
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert!(unsafe_codes.len() <= aviso::plan::sheet::CENTRES_LISTED);
    let rows = table_after(html, "Centros inseguros");
    assert_eq!(rows.len(), unsafe_codes.len());
    for code in &unsafe_codes {
        let row = rows.iter().find(|x| x[1].contains(code)).unwrap();
        assert_eq!(row[5], "na área de cheia", "{code}");
    }
    let open = table_after(html, "Centros a abrir");
    let opened = centres
        .iter()
        .filter(|c| num(&c["allocated"]) > 0.5)
        .count();
    assert_eq!(open.len(), opened.min(aviso::plan::sheet::CENTRES_LISTED));
    for code in &unsafe_codes {
        assert!(open.iter().all(|x| !x[1].contains(code)), "{code} opened");
    }
    // Places to evacuate first: at the flood level of their area.
    let first = table_after(html, "Evacuar primeiro");
    assert!(!first.is_empty() && first.len() <= aviso::plan::sheet::ORIGINS_LISTED);
    assert!(first.iter().all(|x| x[2] == "amarelo"), "{first:?}");
}
