//! Flood forecasts on the real 2025-09-25 station ensemble in ../shared/data/floods: the
//! parser against the CSVs read independently, levels under the GloFAS 30 % rule counted
//! from the members here, impact areas on the real basins and districts, bad inputs, and
//! the `aviso assess` run end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use geo::{Contains, Distance, Haversine, Point};
use serde_json::Value;

use aviso::domain::{FloodLevel, RiverBasin};
use aviso::feeds::floods::{FloodInputs, Input, parse_forecast};
use aviso::feeds::{TrackFormat, detect_format};
use aviso::geodata::basins::parse_basins;
use aviso::hazard::flood::{
    CoastTest, FloodConfig, ImpactMethod, basin_of, impact_area, station_outlooks,
};

const STATIONS: &str = "floods/moz_aa_flood_stations_thresholds.csv";
const PROBS: &str = "floods/moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv";
const DISCHARGE: &str = "floods/moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv";
const BASINS: &str = "floods/moz_river_basins_gov_2023_s200m.geojson";

/// The station whose thresholds the shared file gives out of order (819 / 102 / 244 m³/s).
const MISORDERED: &str = "654";

struct Files {
    stations: Vec<u8>,
    probs: Vec<u8>,
    discharge: Vec<u8>,
}

fn files() -> Option<Files> {
    Some(Files {
        stations: std::fs::read(common::data_file(STATIONS)?).unwrap(),
        probs: std::fs::read(common::data_file(PROBS)?).unwrap(),
        discharge: std::fs::read(common::data_file(DISCHARGE)?).unwrap(),
    })
}

fn inputs<'a>(s: &'a [u8], p: &'a [u8], d: Option<&'a [u8]>, skip: bool) -> FloodInputs<'a> {
    FloodInputs {
        stations: Input {
            bytes: s,
            origin: "stations.csv",
        },
        probabilities: Input {
            bytes: p,
            origin: "probabilities.csv",
        },
        discharge: d.map(|bytes| Input {
            bytes,
            origin: "discharge.csv",
        }),
        skip_misordered_stations: skip,
    }
}

/// Rows of a CSV as maps from column name to text, read with the csv crate alone.
fn rows(bytes: &[u8]) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(bytes);
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            h.iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

fn num(row: &HashMap<String, String>, col: &str) -> f64 {
    row[col].parse().unwrap()
}

#[test]
fn the_probabilities_file_is_detected_as_a_flood_forecast_not_a_track() {
    let Some(f) = files() else { return };
    assert_eq!(
        detect_format(&f.probs),
        Some(TrackFormat::FloodProbabilitiesCsv)
    );
    assert_eq!(detect_format(&f.discharge), None);
    let e = aviso::feeds::parse(&f.probs, "p.csv", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("p.csv") && e.contains("flood forecast"), "{e}");
}

#[test]
fn stations_thresholds_and_probabilities_are_read_exactly() {
    let Some(f) = files() else { return };
    let parsed = parse_forecast(inputs(&f.stations, &f.probs, Some(&f.discharge), true)).unwrap();
    let fc = &parsed.forecast;
    let station_rows = rows(&f.stations);
    assert_eq!(station_rows.len(), 24);
    // Every station but the misordered one, with its thresholds and position exactly.
    assert_eq!(fc.stations.len(), 23);
    for r in &station_rows {
        let id = &r["station_id"];
        let Some(s) = fc.station(id) else {
            assert_eq!(id, MISORDERED, "station {id} missing");
            continue;
        };
        assert_eq!(s.name, r["station_name"]);
        assert_eq!(s.river, r["river_name"]);
        assert_eq!(s.lon, num(r, "longitude"));
        assert_eq!(s.lat, num(r, "latitude"));
        assert_eq!(s.thresholds_m3s.bankfull, num(r, "threshold_bankfull"));
        assert_eq!(s.thresholds_m3s.moderate, num(r, "threshold_moderate"));
        assert_eq!(s.thresholds_m3s.severe, num(r, "threshold_severe"));
    }
    assert!(
        parsed
            .notes
            .iter()
            .any(|n| n.contains("station 654") && n.contains("line 25")),
        "{:?}",
        parsed.notes
    );
    // 7 valid days for each of the 23 stations kept.
    assert_eq!(fc.days.len(), 23 * 7);
    assert_eq!(fc.issue_date.to_string(), "2025-09-25");
    for r in rows(&f.probs)
        .iter()
        .filter(|r| r["station_id"] != MISORDERED)
    {
        let d = fc
            .days
            .iter()
            .find(|d| {
                d.station_id == r["station_id"] && d.valid_date.to_string() == r["valid_time"]
            })
            .unwrap();
        assert_eq!(d.total_members, 50);
        assert_eq!(f64::from(d.total_members), num(r, "total_members"));
        for (l, name) in [
            (FloodLevel::Bankfull, "bankfull"),
            (FloodLevel::Moderate, "moderate"),
            (FloodLevel::Severe, "severe"),
        ] {
            assert_eq!(
                f64::from(d.exceeding.get(l)),
                num(r, &format!("{name}_exceeding"))
            );
            // The file's "percentage" is a fraction 0..1.
            assert!((d.probability.get(l) - num(r, &format!("{name}_percentage"))).abs() < 1e-9);
        }
        assert_eq!(d.member_discharges_m3s.len(), 50);
    }
}

#[test]
fn levels_per_day_follow_the_thirty_percent_rule_counted_from_the_members() {
    let Some(f) = files() else { return };
    let parsed = parse_forecast(inputs(&f.stations, &f.probs, Some(&f.discharge), true)).unwrap();
    let outlooks = station_outlooks(&parsed.forecast, &FloodConfig::default());

    // Independently: per station and day, the share of members above each threshold.
    let thresholds: HashMap<String, [f64; 3]> = rows(&f.stations)
        .iter()
        .map(|r| {
            (
                r["station_id"].clone(),
                [
                    num(r, "threshold_bankfull"),
                    num(r, "threshold_moderate"),
                    num(r, "threshold_severe"),
                ],
            )
        })
        .collect();
    let mut members: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for r in rows(&f.discharge) {
        members
            .entry((r["station_id"].clone(), r["valid_time"].clone()))
            .or_default()
            .push(num(&r, "discharge"));
    }
    let mut expected_flagged = BTreeSet::new();
    for ((sid, day), qs) in &members {
        if sid == MISORDERED {
            continue;
        }
        let t = thresholds[sid];
        // Highest threshold that at least 30 % of the members exceed.
        let expected = [
            FloodLevel::Severe,
            FloodLevel::Moderate,
            FloodLevel::Bankfull,
        ]
        .into_iter()
        .zip([t[2], t[1], t[0]])
        .find(|(_, thr)| {
            let n = qs.iter().filter(|q| **q > *thr).count();
            n * 100 >= 30 * qs.len()
        })
        .map(|(l, _)| l);
        let o = outlooks.iter().find(|o| &o.station_id == sid).unwrap();
        let d = o.days.iter().find(|d| &d.date.to_string() == day).unwrap();
        assert_eq!(d.level, expected, "station {sid} on {day}");
        if expected.is_some() {
            expected_flagged.insert(sid.clone());
        }
    }
    // What the forecast says: in the dry season only Changane em Chibuto (41, a Limpopo
    // tributary with a 5.4 m³/s bankfull flow) is above bankfull, on every day.
    assert_eq!(expected_flagged, BTreeSet::from(["41".to_string()]));
    let chibuto = outlooks.iter().find(|o| o.station_id == "41").unwrap();
    assert_eq!(chibuto.max_level, Some(FloodLevel::Bankfull));
    assert_eq!(
        chibuto.first_date.bankfull.unwrap().to_string(),
        "2025-09-26"
    );
    assert_eq!(chibuto.first_date.moderate, None);
    assert!(chibuto.peak_date.is_some());
}

#[test]
fn a_stricter_rule_changes_nothing_but_a_looser_one_flags_more_days() {
    let Some(f) = files() else { return };
    let parsed = parse_forecast(inputs(&f.stations, &f.probs, Some(&f.discharge), true)).unwrap();
    let count = |pct: f64| {
        let cfg = FloodConfig {
            min_probability_pct: pct,
            ..FloodConfig::default()
        };
        station_outlooks(&parsed.forecast, &cfg)
            .iter()
            .flat_map(|o| o.days.iter())
            .filter(|d| d.level.is_some())
            .count()
    };
    // All 50 members of station 41 exceed bankfull on all 7 days.
    assert_eq!(count(100.0), 7);
    assert_eq!(count(30.0), 7);
    assert!(count(1.0) >= 7);
}

fn basins() -> Option<Vec<RiverBasin>> {
    let bytes = std::fs::read(common::data_file(BASINS)?).unwrap();
    Some(parse_basins(&bytes, BASINS, "Basins").unwrap())
}

#[test]
fn the_chibuto_station_floods_the_lower_limpopo_not_its_upper_reaches() {
    let Some(f) = files() else { return };
    let Some(basins) = basins() else { return };
    assert_eq!(basins.len(), 33);
    let Some(manifest) = common::data_file("boundaries")
        .map(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/layers/manifest.toml")))
    else {
        return;
    };
    let layers = aviso::layers::load_layers(&manifest).unwrap().layers;
    let parsed = parse_forecast(inputs(&f.stations, &f.probs, Some(&f.discharge), true)).unwrap();
    let station = parsed.forecast.station("41").unwrap();
    let coast = CoastTest::new(&layers.country);
    let area = impact_area(
        station,
        &basins,
        &[],
        &layers.districts,
        &coast,
        &FloodConfig::default(),
        None,
    )
    .unwrap();
    assert_eq!(area.method, ImpactMethod::BasinDownstream);
    assert_eq!(area.basin.as_deref(), Some("R. Limpopo"));
    // The Limpopo reaches the sea near Xai-Xai, about 25.2°S 33.5°E; the outlet is the
    // basin's coastal vertex nearest the station, so within a few tens of km of it.
    let (x, y) = area.outlet.unwrap();
    let off_km = Haversine.distance(Point::new(x, y), Point::new(33.5, -25.2)) / 1000.0;
    assert!(
        off_km < 40.0,
        "outlet {x} {y} is {off_km:.0} km from the mouth"
    );
    let name_of = |pcode: &str| {
        layers
            .districts
            .iter()
            .find(|d| d.pcode == pcode)
            .unwrap()
            .name
            .clone()
    };
    let names: Vec<String> = area.districts.iter().map(|d| name_of(&d.pcode)).collect();
    // The station's own district and the city at the mouth are in; the upper Limpopo
    // (Chicualacuala on the Zimbabwe border, Massingir) is not.
    let home = layers
        .districts
        .iter()
        .find(|d| d.geometry.contains(&Point::new(station.lon, station.lat)))
        .unwrap();
    assert!(names.contains(&home.name), "{names:?}");
    assert!(names.iter().any(|n| n.contains("Xai")), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n == "Chicualacuala" || n == "Massingir"),
        "{names:?}"
    );
    for d in &area.districts {
        assert!(d.area_share > 0.0 && d.area_share <= 1.0, "{d:?}");
    }
}

#[test]
fn a_station_just_across_a_watershed_goes_to_the_basin_of_its_river() {
    let Some(f) = files() else { return };
    let Some(basins) = basins() else { return };
    let parsed = parse_forecast(inputs(&f.stations, &f.probs, None, true)).unwrap();
    // 90 gurue is on the Licungo, but its grid point falls inside the Lúrio polygon.
    let gurue = parsed.forecast.station("90").unwrap();
    let p = Point::new(gurue.lon, gurue.lat);
    let licungo = basins.iter().find(|b| b.name == "R. Licungo").unwrap();
    assert!(!licungo.geometry.contains(&p));
    assert_eq!(basin_of(&basins, gurue).unwrap().name, "R. Licungo");
    // Dombe is on the Lucite, which has no basin of its own: the Búzi basin holds it.
    let dombe = parsed.forecast.station("246").unwrap();
    assert_eq!(basin_of(&basins, dombe).unwrap().name, "R. Búzi");
}

#[test]
fn a_configured_district_list_replaces_the_basin_rule_and_unknown_pcodes_are_refused() {
    let Some(f) = files() else { return };
    let parsed = parse_forecast(inputs(&f.stations, &f.probs, None, true)).unwrap();
    let station = parsed.forecast.station("41").unwrap();
    let district = aviso::domain::AdminArea {
        pcode: "MZ0202".into(),
        name: "Chibuto".into(),
        parent_pcode: Some("MZ02".into()),
        parent_name: Some("Gaza".into()),
        geometry: geo::MultiPolygon::new(vec![]),
        area_km2: 1.0,
        population: Some(1000.0),
        population_source: None,
    };
    let coast = CoastTest::new(&geo::MultiPolygon::new(vec![]));
    let mut cfg = FloodConfig::default();
    cfg.impact_districts
        .insert("41".into(), vec!["MZ0202".into()]);
    let area = impact_area(
        station,
        &[],
        &[],
        std::slice::from_ref(&district),
        &coast,
        &cfg,
        None,
    )
    .unwrap();
    assert_eq!(area.method, ImpactMethod::Configured);
    assert_eq!(area.districts[0].pcode, "MZ0202");
    assert_eq!(area.districts[0].area_share, 1.0);
    cfg.impact_districts
        .insert("41".into(), vec!["MZ9999".into()]);
    let e = impact_area(station, &[], &[], &[district], &coast, &cfg, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("MZ9999") && e.contains("41"), "{e}");
}

// ---- impact areas from the layers manifest ----

const IMPACTS_MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/layers/manifest_with_flood_impacts.toml"
);

/// Per district P-code, the share of its geodesic area inside the polygon of `file`
/// (≥ 2 %, the default sliver limit), by a direct geo intersection of the shared districts.
fn districts_under(file: &str) -> Option<BTreeMap<String, f64>> {
    use geo::{BooleanOps, GeodesicArea};
    let districts = common::data_file("boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson")?;
    let poly = |v: &geojson::Geometry| match geo::Geometry::<f64>::try_from(&v.value).unwrap() {
        geo::Geometry::Polygon(p) => geo::MultiPolygon::new(vec![p]),
        geo::Geometry::MultiPolygon(m) => m,
        other => panic!("{other:?}"),
    };
    let read = |p: &std::path::Path| -> geojson::FeatureCollection {
        std::fs::read_to_string(p).unwrap().parse().unwrap()
    };
    let area = read(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/floods")
            .join(file),
    );
    let area = poly(area.features[0].geometry.as_ref().unwrap());
    let mut out = BTreeMap::new();
    for f in read(&districts).features {
        let d = poly(f.geometry.as_ref().unwrap());
        let share = d.intersection(&area).geodesic_area_unsigned() / d.geodesic_area_unsigned();
        if share >= 0.02 {
            let pcode = f.property("ADM2_PCODE").unwrap().as_str().unwrap();
            out.insert(pcode.to_string(), share);
        }
    }
    Some(out)
}

#[test]
fn the_layers_manifest_sets_a_station_impact_area_by_polygon_or_by_districts() {
    let Some(f) = files() else { return };
    let Some(expected) = districts_under("changane_chibuto_impact.geojson") else {
        return;
    };
    let manifest = aviso::layers::load_manifest(std::path::Path::new(IMPACTS_MANIFEST)).unwrap();
    let g = aviso::layers::flood::load_flood_geography(&manifest, "Basins").unwrap();
    assert_eq!(g.basins.len(), 33, "the river_basins layer");
    assert!(matches!(
        g.impacts.get("246"),
        Some(aviso::domain::StationImpact::Districts(d)) if d == &["MZ0901", "MZ0905"]
    ));
    let layers = aviso::layers::load_layers(std::path::Path::new(IMPACTS_MANIFEST))
        .unwrap()
        .layers;
    let parsed = parse_forecast(inputs(&f.stations, &f.probs, None, true)).unwrap();
    let coast = CoastTest::new(&layers.country);
    let chibuto = parsed.forecast.station("41").unwrap();
    let area = impact_area(
        chibuto,
        &g.basins,
        &[],
        &layers.districts,
        &coast,
        &FloodConfig::default(),
        g.impacts.get("41"),
    )
    .unwrap();
    assert_eq!(area.method, ImpactMethod::ConfiguredPolygon);
    let got: BTreeMap<String, f64> = area
        .districts
        .iter()
        .map(|d| (d.pcode.clone(), d.area_share))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (pcode, share) in &expected {
        assert!(
            (got[pcode] - share).abs() <= 0.01 * share,
            "{pcode}: {} vs {share}",
            got[pcode]
        );
    }
    // The polygon replaces the basin rule: not the whole lower Limpopo down to Xai-Xai.
    let basin_rule = impact_area(
        chibuto,
        &g.basins,
        &[],
        &layers.districts,
        &coast,
        &FloodConfig::default(),
        None,
    )
    .unwrap();
    assert!(basin_rule.districts.len() > area.districts.len());
    // Dombe's list is taken whole.
    let dombe = parsed.forecast.station("246").unwrap();
    let area = impact_area(
        dombe,
        &g.basins,
        &[],
        &layers.districts,
        &coast,
        &FloodConfig::default(),
        g.impacts.get("246"),
    )
    .unwrap();
    assert_eq!(area.method, ImpactMethod::Configured);
    assert_eq!(area.districts.len(), 2);
    // Set in the configuration as well: refused, naming the station.
    let mut cfg = FloodConfig::default();
    cfg.impact_districts
        .insert("246".into(), vec!["MZ0901".into()]);
    let e = impact_area(
        dombe,
        &g.basins,
        &[],
        &layers.districts,
        &coast,
        &cfg,
        g.impacts.get("246"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("station 246") && e.contains("flood_impact") && e.contains("impact_districts"),
        "{e}"
    );
}

#[test]
fn a_flood_impact_entry_must_name_exactly_one_area_and_one_station_once() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[[layer]]\nname = \"country\"\nkind = \"country\"\npath = \"a.geojson\"\nlicence = \"x\"\nsource = \"x\"\n\n[[layer]]\nname = \"provinces\"\nkind = \"provinces\"\npath = \"b.geojson\"\nlicence = \"x\"\nsource = \"x\"\n[layer.fields]\nid = \"P\"\nname = \"N\"\n\n[[layer]]\nname = \"districts\"\nkind = \"districts\"\npath = \"c.geojson\"\nlicence = \"x\"\nsource = \"x\"\n[layer.fields]\nid = \"P\"\nname = \"N\"\nparent_id = \"Q\"\n";
    let check = |extra: &str, wanted: &[&str]| {
        let p = dir.path().join("m.toml");
        std::fs::write(&p, format!("{base}{extra}")).unwrap();
        let e = aviso::layers::load_manifest(&p).unwrap_err().to_string();
        for w in wanted {
            assert!(e.contains(w) && e.contains("m.toml"), "{extra}: {e}");
        }
    };
    check(
        "[[flood_impact]]\nstation = \"41\"\ndistricts = [\"MZ0202\"]\npolygon = \"x.geojson\"\n",
        &["station \"41\"", "not both"],
    );
    check(
        "[[flood_impact]]\nstation = \"41\"\n",
        &["station \"41\"", "districts", "polygon"],
    );
    check(
        "[[flood_impact]]\nstation = \"41\"\ndistricts = [\"MZ0202\"]\n[[flood_impact]]\nstation = \"41\"\ndistricts = [\"MZ0206\"]\n",
        &["two [[flood_impact]] entries", "\"41\""],
    );
    check(
        "[[flood_impact]]\nstation = \"41\"\ndistrict = [\"MZ0202\"]\n",
        &["district"],
    );
    check(
        "[[layer]]\nname = \"basins\"\nkind = \"river_basins\"\npath = \"b.gpkg\"\nlicence = \"x\"\nsource = \"x\"\n[layer.fields]\nname = \"Basins\"\n",
        &["river_basins", "GeoJSON", "ogr2ogr"],
    );
}

#[test]
fn assess_takes_the_basins_and_a_station_polygon_from_the_layers_manifest() {
    let Some(f) = files() else { return };
    let Some(expected) = districts_under("changane_chibuto_impact.geojson") else {
        return;
    };
    // No basins beside the forecast: they must come from the manifest's river_basins layer.
    let dir = tempfile::tempdir().unwrap();
    let probs = dir.path().join("probabilities.csv");
    std::fs::write(&probs, &f.probs).unwrap();
    std::fs::write(dir.path().join("stations.csv"), &f.stations).unwrap();
    std::fs::write(dir.path().join("discharge.csv"), &f.discharge).unwrap();
    let out_path = dir.path().join("alert.geojson");
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["assess", "--forecast"])
        .arg(&probs)
        .args(["--layers", IMPACTS_MANIFEST])
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let features = doc["features"].as_array().unwrap();
    let chibuto = features
        .iter()
        .find(|f| f["properties"]["station_id"] == "41")
        .unwrap();
    assert_eq!(chibuto["properties"]["impact_method"], "configured_polygon");
    let districts: BTreeSet<String> = features
        .iter()
        .filter(|f| f["properties"]["layer"] == "flood_district")
        .map(|f| f["properties"]["pcode"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(districts, expected.keys().cloned().collect());
    let notes = doc["aviso"]["methods"]["input"].to_string();
    assert!(
        notes.contains("river basins:")
            && notes.contains("moz_river_basins_gov_2023_s200m.geojson")
            && notes.contains("hand-drawn lower Changane floodplain"),
        "{notes}"
    );
}

// ---- bad inputs ----

fn error_of(s: &[u8], p: &[u8], d: Option<&[u8]>) -> String {
    parse_forecast(inputs(s, p, d, true))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_discharge_file_without_the_member_column_names_the_column() {
    let Some(f) = files() else { return };
    let text = String::from_utf8(f.discharge.clone()).unwrap();
    let cut = text.replace(",ensemble_member\n", ",member\n");
    let e = error_of(&f.stations, &f.probs, Some(cut.as_bytes()));
    assert!(
        e.contains("discharge.csv") && e.contains("missing required column ensemble_member"),
        "{e}"
    );
}

#[test]
fn a_negative_discharge_names_the_file_line_and_column() {
    let Some(f) = files() else { return };
    let text = String::from_utf8(f.discharge.clone()).unwrap();
    // Line 3 is the second member of station 32 on 2025-09-26.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2] = lines[2].replace(",0.8359375,2", ",-0.8359375,2");
    let e = error_of(&f.stations, &f.probs, Some(lines.join("\n").as_bytes()));
    assert!(
        e.contains("discharge.csv: line 3, column discharge") && e.contains("-0.8359375"),
        "{e}"
    );
}

#[test]
fn a_forecast_for_an_unknown_station_is_refused() {
    let Some(f) = files() else { return };
    let text = String::from_utf8(f.probs.clone()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[1] = lines[1].replacen("32,", "9999,", 1);
    let e = error_of(&f.stations, lines.join("\n").as_bytes(), None);
    assert!(
        e.contains("probabilities.csv: line 2, column station_id: unknown station \"9999\"")
            && e.contains("stations.csv"),
        "{e}"
    );
}

/// Removes a column (by header name) from every line of a CSV.
fn without_column(bytes: &[u8], column: &str) -> String {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let i = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == column)
        .unwrap();
    text.lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(',').collect();
            cells.remove(i);
            cells.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_probabilities_file_without_its_member_count_columns_names_each_missing_column() {
    let Some(f) = files() else { return };
    for column in ["total_members", "moderate_exceeding", "severe_percentage"] {
        let cut = without_column(&f.probs, column);
        let e = error_of(&f.stations, cut.as_bytes(), Some(&f.discharge));
        assert!(
            e.contains("probabilities.csv")
                && e.contains(&format!("missing required column {column}")),
            "{column}: {e}"
        );
    }
}

#[test]
fn a_member_without_a_number_names_the_line_and_the_column() {
    let Some(f) = files() else { return };
    let text = String::from_utf8(f.discharge.clone()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    // Line 4: the third member of station 32 on 2025-09-26 loses its member number.
    assert!(lines[3].ends_with(",3"), "{}", lines[3]);
    lines[3] = lines[3].trim_end_matches('3').to_string();
    let e = error_of(&f.stations, &f.probs, Some(lines.join("\n").as_bytes()));
    assert!(
        e.contains("discharge.csv: line 4, column ensemble_member"),
        "{e}"
    );
    // And the same member twice is refused, not averaged or overwritten.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[3] = lines[3].replace(",3", ",2");
    let e = error_of(&f.stations, &f.probs, Some(lines.join("\n").as_bytes()));
    assert!(
        e.contains("discharge.csv: line 4") && e.contains("member 2 of station 32"),
        "{e}"
    );
}

#[test]
fn member_discharges_of_an_unknown_station_are_refused_naming_both_files() {
    let Some(f) = files() else { return };
    let text = String::from_utf8(f.discharge.clone()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[5] = lines[5].replacen("32,", "777,", 1);
    let e = error_of(&f.stations, &f.probs, Some(lines.join("\n").as_bytes()));
    assert!(
        e.contains("discharge.csv: line 6, column station_id: unknown station \"777\"")
            && e.contains("stations.csv"),
        "{e}"
    );
}

#[test]
fn a_negative_threshold_in_the_stations_file_names_the_line_and_the_column() {
    let Some(f) = files() else { return };
    let text = String::from_utf8(f.stations.clone()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[1] = lines[1].replace(",985.165442,", ",-985.165442,");
    let e = error_of(lines.join("\n").as_bytes(), &f.probs, None);
    assert!(
        e.contains("stations.csv: line 2, column threshold_bankfull") && e.contains("-985.165442"),
        "{e}"
    );
}

#[test]
fn assess_on_a_forecast_with_a_negative_discharge_fails_with_the_place_and_writes_nothing() {
    let Some(f) = files() else { return };
    let dir = tempfile::tempdir().unwrap();
    let probs = dir
        .path()
        .join("moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv");
    std::fs::write(&probs, &f.probs).unwrap();
    std::fs::write(dir.path().join("stations.csv"), &f.stations).unwrap();
    let text = String::from_utf8(f.discharge.clone()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2] = lines[2].replace(",0.8359375,2", ",-0.8359375,2");
    let discharge = dir
        .path()
        .join("moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv");
    std::fs::write(&discharge, lines.join("\n")).unwrap();
    let Some(basins) = common::data_file(BASINS) else {
        return;
    };
    let out_path = dir.path().join("alert.geojson");
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["assess", "--forecast"])
        .arg(&probs)
        .arg("--basins")
        .arg(&basins)
        .arg("--out")
        .arg(&out_path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty() && !out_path.exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("discharge_ensemble.csv: line 3, column discharge")
            && stderr.contains("-0.8359375"),
        "{stderr}"
    );
}

#[test]
fn misordered_thresholds_are_an_error_when_stations_may_not_be_skipped() {
    let Some(f) = files() else { return };
    let e = parse_forecast(inputs(&f.stations, &f.probs, Some(&f.discharge), false))
        .unwrap_err()
        .to_string();
    assert!(
        // Line 25 of the file (`grep -n ^654`): the file has CRLF endings, whose lines the
        // csv crate's positions count one short.
        e.contains("stations.csv: line 25, station 654")
            && e.contains("bankfull 819, moderate 102, severe 244"),
        "{e}"
    );
}

#[test]
fn counts_that_disagree_with_the_members_are_an_error_naming_both_files() {
    let Some(f) = files() else { return };
    let text = String::from_utf8(f.probs.clone()).unwrap();
    // Station 32's first day: no member exceeds bankfull; claim one does.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    assert!(lines[1].ends_with(",50,985.165442,4256.715563,6128.158339,0,0,0,0.0,0.0,0.0"));
    lines[1] = lines[1].replace(",0,0,0,0.0,0.0,0.0", ",1,0,0,0.02,0.0,0.0");
    let e = error_of(&f.stations, lines.join("\n").as_bytes(), Some(&f.discharge));
    assert!(
        e.contains("probabilities.csv: line 2, column bankfull_exceeding")
            && e.contains("discharge.csv")
            && e.contains("but 0 computed"),
        "{e}"
    );
}

#[test]
fn basins_in_a_projected_crs_are_refused_with_the_reprojection_command() {
    let fixture = |name: &str| {
        std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/floods")
                .join(name),
        )
        .unwrap()
    };
    let e = parse_basins(&fixture("basin_utm36s.geojson"), "utm.geojson", "Basins")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("utm.geojson") && e.contains("32736") && e.contains("ogr2ogr -t_srs EPSG:4326"),
        "{e}"
    );
    let e = parse_basins(
        &fixture("basin_projected_no_crs.geojson"),
        "nocrs.geojson",
        "Basins",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("nocrs.geojson") && e.contains("feature 0") && e.contains("projected"),
        "{e}"
    );
}

// ---- the command line ----

#[test]
fn assess_on_the_real_forecast_writes_a_flood_alert_for_the_lower_limpopo() {
    let Some(probs) = common::data_file(PROBS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("flood.geojson");
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["assess", "--forecast"])
        .arg(&probs)
        .arg("--out")
        .arg(&out_path)
        .args(["--format", "table"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("station 654 left out"), "{stderr}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("Changane_em_Chibuto") && table.contains("AMARELO"),
        "{table}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(doc["type"], "FeatureCollection");
    let meta = &doc["aviso"];
    assert_eq!(meta["hazard"], "flood");
    assert_eq!(meta["issued"], "2025-09-25");
    assert_eq!(meta["event_level"]["code"], "yellow");
    assert_eq!(meta["stations_at_level"][0]["station_id"], "41");
    let features = doc["features"].as_array().unwrap();
    let of = |layer: &str| -> Vec<&Value> {
        features
            .iter()
            .filter(|f| f["properties"]["layer"] == layer)
            .collect()
    };
    assert_eq!(of("flood_station").len(), 23);
    let chibuto = of("flood_station")
        .into_iter()
        .find(|f| f["properties"]["station_id"] == "41")
        .unwrap();
    let days = chibuto["properties"]["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(chibuto["properties"]["flood_level"], "bankfull");
    assert_eq!(chibuto["properties"]["level"], "yellow");
    assert_eq!(chibuto["properties"]["basin"], "R. Limpopo");
    assert!(
        days.iter()
            .all(|d| d["level"] == "bankfull" && d["probability"]["bankfull"] == 1.0)
    );
    assert_eq!(chibuto["geometry"]["coordinates"][0], 33.525);
    // Districts: yellow, people = INE 2025 population × area share, read here from the
    // population table.
    let pop: HashMap<String, f64> = rows(
        &std::fs::read(
            common::data_dir().join("population/moz_adm2_population_ine_projection_2022_2025.csv"),
        )
        .unwrap(),
    )
    .iter()
    // Three districts have no value (PROVENANCE.md); none of them is on the Limpopo.
    .filter_map(|r| Some((r["ADM2_PCODE"].clone(), r["pop_2025_total"].parse().ok()?)))
    .collect();
    let districts = of("flood_district");
    assert!(!districts.is_empty());
    let mut total = 0.0;
    for d in &districts {
        let p = &d["properties"];
        assert_eq!(p["level"], "yellow");
        assert_eq!(p["first_date"], "2025-09-26");
        let pcode = p["pcode"].as_str().unwrap();
        let share = p["area_share"].as_f64().unwrap();
        let people = p["people_at_risk"].as_f64().unwrap();
        assert!(
            (people - (pop[pcode] * share).round()).abs() <= 1.0 + pop[pcode] * 1e-4,
            "{pcode}"
        );
        total += people;
    }
    // GDAL opens it as one layer with every feature.
    if let Ok(o) = Command::new("ogrinfo")
        .args(["-ro", "-al", "-so"])
        .arg(&out_path)
        .output()
    {
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            text.contains(&format!("Feature Count: {}", features.len())),
            "{text}"
        );
    } else {
        common::skip_or_fail("ogrinfo not installed");
    }
    let reported = meta["totals"]["people_at_risk"].as_f64().unwrap();
    assert!(
        (reported - total).abs() <= districts.len() as f64,
        "{reported} vs {total}"
    );
}

#[test]
fn assess_without_a_stations_file_says_which_flag_to_pass() {
    let Some(probs) = common::data_file(PROBS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("probabilities.csv");
    std::fs::copy(probs, &copy).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["assess", "--forecast"])
        .arg(&copy)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--stations") && stderr.contains("probabilities.csv"),
        "{stderr}"
    );
}
