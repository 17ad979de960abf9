//! End to end on the real data: the Météo-France forecast for Freddy (2023-03-10) against
//! the shipped layers (COD-AB districts, INE population, HDX settlements, health
//! facilities), through the same functions the CLI calls. Expected values are checked
//! against independent computations (brute-force point counts, the swaths' own geometry),
//! not against numbers printed by the code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::sync::OnceLock;

use geo::{Contains, Intersects, Point};
use serde_json::Value;

use aviso::alerts::assess::Assessment;
use aviso::alerts::document::alert_document;
use aviso::alerts::levels::Level;
use aviso::alerts::trigger::TriggerState;
use aviso::config::Config;
use aviso::domain::PointKind;
use aviso::exposure::{IndexedLayers, PeopleMethod};

struct Run {
    layers: IndexedLayers,
    assessment: Assessment,
    cfg: Config,
}

fn run() -> Option<&'static Run> {
    static CELL: OnceLock<Option<Run>> = OnceLock::new();
    CELL.get_or_init(|| {
        let (cfg, layers, assessment) = common::freddy_on_shipped_layers()?;
        Some(Run {
            layers,
            assessment,
            cfg,
        })
    })
    .as_ref()
}

fn district_at(r: &Run, lon: f64, lat: f64) -> &aviso::domain::AdminArea {
    let p = Point::new(lon, lat);
    r.layers
        .layers
        .districts
        .iter()
        .find(|d| d.geometry.contains(&p))
        .expect("a district contains the point")
}

#[test]
fn freddy_puts_quelimane_at_red_and_meets_the_action_trigger_30_h_before_landfall() {
    let Some(r) = run() else { return };
    let a = &r.assessment;
    // Quelimane city (36.888 E, 17.878 S) sits inside the 64 kt forecast swath.
    let quelimane = district_at(r, 36.888, -17.878);
    assert_eq!(quelimane.parent_name.as_deref(), Some("Zambezia"));
    assert_eq!(
        a.levels.get(&quelimane.pcode).map(|l| l.level),
        Some(Level::Red)
    );
    assert_eq!(a.event_level, Some(Level::Red));

    // Landfall between the 24 h and 36 h points, on the Zambezia coast; the AA trigger
    // (64 kt exposed area over a coastal province, 96–6 h before landfall) is in action.
    let lf = a.hazard.landfall.as_ref().unwrap();
    assert!((24.0..36.0).contains(&lf.lead_time_h), "{}", lf.lead_time_h);
    assert_eq!(a.trigger.state, TriggerState::Action);
    assert!(a.trigger.provinces_exposed.contains(&"MZ11".to_string()));
    // Provinces the exposed area really overlaps, by the geometry itself.
    let ea = a.hazard.exposed_area.as_ref().unwrap();
    for p in &a.trigger.provinces_exposed {
        let prov = r
            .layers
            .layers
            .provinces
            .iter()
            .find(|x| &x.pcode == p)
            .unwrap();
        assert!(prov.geometry.intersects(ea), "{p}");
    }
    // Inland Niassa (MZ08) and far-south Maputo (MZ05) are not exposed.
    assert!(
        !a.trigger
            .provinces_exposed
            .iter()
            .any(|p| p == "MZ08" || p == "MZ05")
    );
}

#[test]
fn every_level_is_backed_by_the_hazard_that_its_rule_names() {
    let Some(r) = run() else { return };
    let a = &r.assessment;
    let swath = |t: f64| {
        a.hazard
            .forecast_swaths
            .iter()
            .find(|s| (s.threshold_kt - t).abs() < 0.5)
            .unwrap()
    };
    for (pcode, dl) in &a.levels {
        let d = r
            .layers
            .layers
            .districts
            .iter()
            .find(|d| &d.pcode == pcode)
            .unwrap();
        let rule = &r.cfg.levels.rule[dl.rule];
        assert_eq!(rule.level, dl.level);
        match rule.hazard {
            aviso::alerts::levels::Hazard::Wind { threshold_kt } => {
                assert!(
                    d.geometry.intersects(&swath(threshold_kt).geometry),
                    "{pcode}"
                );
            }
            aviso::alerts::levels::Hazard::Cone => {
                let cone = &a.hazard.cone.as_ref().unwrap().geometry;
                assert!(d.geometry.intersects(cone), "{pcode}");
            }
            aviso::alerts::levels::Hazard::Probability { .. } => {
                panic!("{pcode}: `assess` alone puts districts on the official track's rules only")
            }
        }
    }
    // And districts far from the storm are on no level at all (Cabo Delgado, Maputo).
    assert!(
        a.levels
            .keys()
            .all(|p| !p.starts_with("MZ01") && !p.starts_with("MZ05"))
    );
}

#[test]
fn people_at_risk_weight_population_by_settlements_counted_independently() {
    let Some(r) = run() else { return };
    let a = &r.assessment;
    let s34 = &a.hazard.forecast_swaths[0].geometry;
    let settlements = r
        .layers
        .layers
        .points
        .iter()
        .find(|l| l.kind == PointKind::Settlement && l.info.name == "settlements")
        .unwrap();
    let mut checked = 0;
    for d in &a.exposure.districts {
        let Some(w) = d.at(34.0) else { continue };
        if w.method != PeopleMethod::SettlementWeighted {
            continue;
        }
        let area = r
            .layers
            .layers
            .districts
            .iter()
            .find(|x| x.pcode == d.pcode)
            .unwrap();
        // Brute force: every settlement of this district, tested against the swath.
        let mine: Vec<_> = settlements
            .features
            .iter()
            .filter(|f| area.geometry.intersects(&f.location))
            .collect();
        let inside = mine.iter().filter(|f| s34.intersects(&f.location)).count();
        let (w_in, w_total) = w.weighting_points.unwrap();
        assert_eq!(w_total, mine.len(), "{}", d.pcode);
        assert_eq!(w_in, inside, "{}", d.pcode);
        let expected = area.population.unwrap() * inside as f64 / mine.len() as f64;
        assert!((w.people_at_risk - expected).abs() < 1e-6, "{}", d.pcode);
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} districts checked");
    // National totals add the districts up, and never exceed their population.
    for t in &a.exposure.national {
        let sum: f64 = a
            .exposure
            .districts
            .iter()
            .filter_map(|d| d.at(t.threshold_kt))
            .map(|w| w.people_at_risk)
            .sum();
        assert!((t.people_at_risk - sum).abs() < 1e-6);
    }
    for d in &a.exposure.districts {
        for w in &d.wind {
            assert!(w.people_at_risk <= d.population.unwrap_or(0.0) + 1e-6);
        }
    }
    // Stronger winds reach fewer people.
    let n = &a.exposure.national;
    assert!(n[0].people_at_risk > n[1].people_at_risk && n[1].people_at_risk > n[2].people_at_risk);
}

#[test]
fn health_facilities_in_the_swath_are_listed_and_safe_shelters_are_outside_it() {
    let Some(r) = run() else { return };
    let a = &r.assessment;
    let s34 = &a.hazard.forecast_swaths[0].geometry;
    let health = r
        .layers
        .layers
        .points
        .iter()
        .find(|l| l.kind == PointKind::HealthFacility)
        .unwrap();
    let expected = health
        .features
        .iter()
        .filter(|f| s34.intersects(&f.location))
        .count();
    let listed = a
        .exposure
        .points
        .iter()
        .filter(|p| p.kind == PointKind::HealthFacility)
        .count();
    assert_eq!(listed, expected);
    assert!(listed > 50, "{listed}");
    // Shelters proposed to at-risk districts lie outside every forecast footprint.
    let mut proposals = 0;
    for d in &a.exposure.districts {
        for s in &d.safe_shelters {
            assert!(!s34.intersects(&Point::new(s.lon, s.lat)), "{}", s.name);
            assert!(s.distance_km <= r.cfg.exposure.max_shelter_distance_km);
            proposals += 1;
        }
    }
    assert!(proposals > 0);
}

#[test]
fn the_alert_document_is_rfc7946_geojson_that_ogrinfo_opens() {
    let Some(r) = run() else { return };
    let doc = alert_document(&r.assessment, &r.layers.layers, 5);
    assert_eq!(doc["type"], "FeatureCollection");
    assert!(doc.get("crs").is_none());
    assert_eq!(doc["aviso"]["event_level"]["code"], "red");
    assert_eq!(doc["aviso"]["trigger"]["state"], "action");
    let features = doc["features"].as_array().unwrap();
    let layer_count = |l: &str| {
        features
            .iter()
            .filter(|f| f["properties"]["layer"] == l)
            .count()
    };
    assert_eq!(layer_count("wind_swath"), 3);
    assert_eq!(layer_count("cone"), 1);
    assert_eq!(layer_count("exposed_area"), 1);
    assert_eq!(layer_count("forecast_track"), 1);
    assert_eq!(
        layer_count("district"),
        r.assessment.exposure.districts.len()
    );
    // Right-hand rule: exterior rings counter-clockwise (positive shoelace area), holes
    // clockwise; rounded to 5 decimals; lon before lat (|lat| < 90 and Mozambique's lon).
    for f in features {
        let g = &f["geometry"];
        let polys: Vec<&Value> = match g["type"].as_str().unwrap() {
            "Polygon" => vec![&g["coordinates"]],
            "MultiPolygon" => g["coordinates"].as_array().unwrap().iter().collect(),
            _ => continue,
        };
        for p in polys {
            for (i, ring) in p.as_array().unwrap().iter().enumerate() {
                let pts: Vec<(f64, f64)> = ring
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
                    .collect();
                assert_eq!(pts.first(), pts.last());
                let twice_area: f64 = pts
                    .windows(2)
                    .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
                    .sum();
                assert_eq!(
                    twice_area > 0.0,
                    i == 0,
                    "ring {i} of {}",
                    f["properties"]["layer"]
                );
                for (x, y) in pts {
                    assert!((20.0..60.0).contains(&x) && (-35.0..0.0).contains(&y));
                    assert!(((x * 1e5).round() - x * 1e5).abs() < 1e-6);
                }
            }
        }
    }
    // GDAL's own reader must open it (gdal-bin; CI installs it).
    let ogrinfo = std::process::Command::new("ogrinfo")
        .arg("--version")
        .output();
    if ogrinfo.is_err() {
        common::skip_or_fail("ogrinfo not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alert.geojson");
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    let out = std::process::Command::new("ogrinfo")
        .args(["-ro", "-al", "-so"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("Feature Count: {}", features.len())),
        "{text}"
    );
    assert!(text.contains("pcode"), "{text}");
}
