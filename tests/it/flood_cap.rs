//! CAP 1.2 documents of flood alerts: the real 2025-09-25 station forecast (Alert, Update,
//! Cancel) and the Búzi flood-map fixture, on the shipped layers, parsed back and checked
//! for the elements CAP requires, the flood wording, and areas that are the districts on
//! the ladder.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};

use aviso::alerts::assess_flood::{FloodAssessment, assess_flood, assess_flood_extent};
use aviso::alerts::flood_cap::{flood_cap_document, flood_cap_options, flood_districts_of};
use aviso::alerts::versioning::{AlertVersion, CapStatus, MsgType, decide};
use aviso::config::Config;
use aviso::exposure::IndexedLayers;
use aviso::feeds::floods::{FloodInputs, Input, parse_forecast};
use aviso::geodata::basins::parse_basins;
use aviso::hazard::flood_extent::{ExtentBasis, classify_extent};
use common::cap_xml::{INFO_ORDER, children, in_order, parse, texts, xmllint_well_formed};

const SENDER: &str = "cenoe@ingd.example";

struct Fixture {
    cfg: Config,
    layers: IndexedLayers,
    stations: FloodAssessment,
    extent: FloodAssessment,
}

fn fixture() -> Option<&'static Fixture> {
    static CELL: OnceLock<Option<Fixture>> = OnceLock::new();
    CELL.get_or_init(|| {
        let read = |rel: &str| Some(std::fs::read(common::data_file(rel)?).unwrap());
        let stations = read("floods/moz_aa_flood_stations_thresholds.csv")?;
        let probs = read("floods/moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv")?;
        let discharge = read("floods/moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv")?;
        let basins = read("floods/moz_river_basins_gov_2023_s200m.geojson")?;
        let cfg = Config::embedded_default().unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
        let layers = IndexedLayers::new(
            aviso::layers::load_layers(&manifest).unwrap().layers,
            &cfg.exposure,
        );
        let forecast = parse_forecast(FloodInputs {
            stations: Input {
                bytes: &stations,
                origin: "stations.csv",
            },
            probabilities: Input {
                bytes: &probs,
                origin: "probabilities.csv",
            },
            discharge: Some(Input {
                bytes: &discharge,
                origin: "discharge.csv",
            }),
            skip_misordered_stations: true,
        })
        .unwrap()
        .forecast;
        let basins = parse_basins(&basins, "basins.geojson", "Basins").unwrap();
        let now: DateTime<Utc> = "2025-09-25T08:00:00Z".parse().unwrap();
        let stations = assess_flood(
            &forecast,
            &basins,
            &BTreeMap::new(),
            &layers.layers.districts,
            &layers.layers.country,
            cfg.flood_assessment(),
            now,
        )
        .unwrap();
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/floods/buzi_extent.geojson");
        let basis = ExtentBasis::Depth("depth_m".into());
        let input = aviso::layers::flood::read_flood_extent(&path, basis.field(), None).unwrap();
        let extent = classify_extent(&input, &basis, &cfg.flood.extent).unwrap();
        let extent = assess_flood_extent(extent, &layers, cfg.flood_assessment(), now);
        Some(Fixture {
            cfg,
            layers,
            stations,
            extent,
        })
    })
    .as_ref()
}

/// Alert, Update (same districts, a day later) and Cancel (nothing on the ladder).
fn chain(f: &Fixture, a: &FloodAssessment) -> Vec<(AlertVersion, String)> {
    let opts = flood_cap_options(
        Some("https://aviso.example/".into()),
        f.cfg.flood.cap_expires_after_h,
        &f.cfg.service.sender_name,
    );
    let t0: DateTime<Utc> = "2025-09-25T08:00:00Z".parse().unwrap();
    let mut out: Vec<(AlertVersion, String)> = Vec::new();
    for (i, districts) in [
        flood_districts_of(a),
        flood_districts_of(a),
        BTreeMap::new(),
    ]
    .into_iter()
    .enumerate()
    {
        let prev = out.last().map(|(v, _)| v.summary());
        let v = decide(
            prev.as_ref(),
            "flood-test".into(),
            districts,
            SENDER,
            t0 + Duration::days(i as i64),
            CapStatus::Test,
        )
        .unwrap()
        .unwrap();
        let cap = flood_cap_document(a, &v, &f.layers.layers, &opts).unwrap();
        out.push((v, cap));
    }
    out
}

#[test]
fn a_station_flood_is_alerted_updated_and_cancelled_in_cap_order_with_references() {
    let Some(f) = fixture() else { return };
    let c = chain(f, &f.stations);
    let kinds: Vec<MsgType> = c.iter().map(|(v, _)| v.msg_type).collect();
    assert_eq!(kinds, [MsgType::Alert, MsgType::Update, MsgType::Cancel]);
    for (i, (v, cap)) in c.iter().enumerate() {
        let doc = parse(cap);
        let alert = children(&doc, "alert");
        assert_eq!(
            &alert[..6],
            &["identifier", "sender", "sent", "status", "msgType", "scope"]
        );
        assert_eq!(texts(&doc, "alert/identifier"), vec![v.identifier.as_str()]);
        assert_eq!(texts(&doc, "alert/msgType"), vec![v.msg_type.as_str()]);
        let refs = texts(&doc, "alert/references");
        if i == 0 {
            assert!(refs.is_empty());
        } else {
            // "sender,identifier,sent" of the version before.
            let prev = &c[i - 1].0;
            assert_eq!(refs.len(), 1);
            assert!(
                refs[0].starts_with(&format!("{SENDER},{},", prev.identifier)),
                "{refs:?}"
            );
        }
        assert_eq!(texts(&doc, "alert/info/language"), vec!["pt-PT", "en-US"]);
        assert_eq!(texts(&doc, "alert/info/category"), vec!["Met", "Met"]);
        assert_eq!(texts(&doc, "alert/info/event"), vec!["Cheia", "Flood"]);
        let info = children(&doc, "alert/info");
        let mut order = INFO_ORDER.to_vec();
        order.extend(["area", "language"]);
        assert!(in_order(&info, &order), "{info:?}");
        // Issued 2025-09-25: the alert lapses two days later unless renewed; a version
        // sent after that (the Cancel, on the 27th at 08:00) lapses two days after it was
        // sent: `expires` never precedes `sent` (issue 17).
        let lapse = if i < 2 {
            "2025-09-27T00:00:00+00:00"
        } else {
            "2025-09-29T08:00:00+00:00"
        };
        assert_eq!(texts(&doc, "alert/info/expires"), vec![lapse; 2]);
        let sent: DateTime<Utc> = texts(&doc, "alert/sent")[0].parse().unwrap();
        let expires: DateTime<Utc> = lapse.parse().unwrap();
        assert!(expires > sent, "{expires} precedes {sent}");
        let h = texts(&doc, "alert/info/headline");
        assert!(h[0].starts_with("TESTE: Cheia"), "{}", h[0]);
        assert!(h[1].starts_with("TEST: Flood"), "{}", h[1]);
    }
}

#[test]
fn the_chibuto_alert_is_graded_from_the_forecast_and_covers_its_districts() {
    let Some(f) = fixture() else { return };
    let c = chain(f, &f.stations);
    let (v, cap) = &c[0];
    let doc = parse(cap);
    // Only Changane em Chibuto is above bankfull (yellow), from the first valid day,
    // 2025-09-26, one day after issue, with all 50 members above it.
    assert_eq!(texts(&doc, "alert/info/severity"), vec!["Moderate"; 2]);
    assert_eq!(texts(&doc, "alert/info/urgency"), vec!["Expected"; 2]);
    assert_eq!(texts(&doc, "alert/info/certainty"), vec!["Likely"; 2]);
    assert_eq!(texts(&doc, "alert/info/responseType"), vec!["Prepare"; 2]);
    assert_eq!(
        texts(&doc, "alert/info/onset"),
        vec!["2025-09-26T00:00:00+00:00"; 2]
    );
    let description = texts(&doc, "alert/info/description");
    assert!(
        description[0].contains("Changane_em_Chibuto") && description[0].contains("100 %"),
        "{}",
        description[0]
    );
    // Areas: one per level (yellow only) and language; its geocodes are the districts on
    // the ladder and their provinces (all Gaza, MZ02).
    assert_eq!(texts(&doc, "alert/info/area/areaDesc").len(), 2);
    let geocodes: Vec<(String, String)> = doc
        .windows(3)
        .filter(|w| w[0].0 == "alert/info/area/geocode")
        .map(|w| (w[1].1.trim().to_string(), w[2].1.trim().to_string()))
        .collect();
    let adm2: BTreeSet<&str> = geocodes
        .iter()
        .filter(|(k, _)| k == "ADM2_PCODE")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(adm2, v.districts.keys().map(String::as_str).collect());
    assert!(!adm2.is_empty());
    assert!(
        geocodes
            .iter()
            .filter(|(k, _)| k == "ADM1_PCODE")
            .all(|(_, v)| v == "MZ02")
    );
    // The polygon outlines those districts: closed lat,lon rings in southern Gaza.
    let polygons = texts(&doc, "alert/info/area/polygon");
    assert!(!polygons.is_empty());
    for p in polygons {
        let pts: Vec<(f64, f64)> = p
            .split(' ')
            .map(|q| {
                let (la, lo) = q.split_once(',').unwrap();
                (la.parse().unwrap(), lo.parse().unwrap())
            })
            .collect();
        assert_eq!(pts.first(), pts.last());
        assert!(pts.len() >= 4 && pts.len() <= 100);
        for (lat, lon) in pts {
            assert!(
                (-26.5..-21.5).contains(&lat) && (31.0..35.5).contains(&lon),
                "{lat},{lon}"
            );
        }
    }
    // The Cancel calls off exactly the districts of the version before.
    let (cancel, cap) = &c[2];
    let doc = parse(cap);
    assert_eq!(texts(&doc, "alert/info/responseType"), vec!["AllClear"; 2]);
    let removed: BTreeSet<&str> = doc
        .windows(3)
        .filter(|w| w[0].0 == "alert/info/area/geocode" && w[1].1.trim() == "ADM2_PCODE")
        .map(|w| w[2].1.trim())
        .collect();
    assert_eq!(
        removed,
        c[1].0.districts.keys().map(String::as_str).collect()
    );
    assert_eq!(cancel.changes.removed.len(), removed.len());
}

#[test]
fn a_flood_map_is_an_observed_inundacao_with_its_water_as_the_area() {
    let Some(f) = fixture() else { return };
    let c = chain(f, &f.extent);
    let (v, cap) = &c[0];
    let doc = parse(cap);
    assert_eq!(texts(&doc, "alert/info/event"), vec!["Inundação", "Flood"]);
    // 1.6 m of water over Búzi town: red, severe flooding already there.
    assert_eq!(texts(&doc, "alert/info/severity"), vec!["Extreme"; 2]);
    assert_eq!(texts(&doc, "alert/info/urgency"), vec!["Immediate"; 2]);
    assert_eq!(texts(&doc, "alert/info/certainty"), vec!["Observed"; 2]);
    assert_eq!(
        texts(&doc, "alert/info/responseType"),
        vec!["Evacuate", "Prepare", "Evacuate", "Prepare"]
    );
    let levels: BTreeSet<_> = v.districts.values().map(|d| d.level).collect();
    assert_eq!(
        texts(&doc, "alert/info/area/areaDesc").len(),
        2 * levels.len()
    );
    // Every polygon lies on the fixture's water (34.15-34.70 E, 19.55-19.96 S).
    let polygons = texts(&doc, "alert/info/area/polygon");
    assert!(!polygons.is_empty());
    for p in polygons {
        for q in p.split(' ') {
            let (la, lo) = q.split_once(',').unwrap();
            let (la, lo): (f64, f64) = (la.parse().unwrap(), lo.parse().unwrap());
            assert!(
                (-19.9601..=-19.5499).contains(&la) && (34.1499..=34.7001).contains(&lo),
                "{la},{lo}"
            );
        }
    }
}

#[test]
fn xmllint_reads_every_flood_cap_document_as_well_formed_xml() {
    let Some(f) = fixture() else { return };
    let docs: Vec<(AlertVersion, String)> = chain(f, &f.stations)
        .into_iter()
        .chain(chain(f, &f.extent))
        .collect();
    xmllint_well_formed(
        docs.iter()
            .enumerate()
            .map(|(i, (v, cap))| (format!("{i}-{}", v.identifier), cap.as_str())),
    );
}

/// The CAP's areas as (areaDesc, polygons as lon/lat multipolygon, ADM2 P-codes), the
/// first `info`'s (Portuguese).
fn areas(cap: &str) -> Vec<(String, geo::MultiPolygon<f64>, Vec<String>)> {
    let doc = parse(cap);
    let mut out: Vec<(String, geo::MultiPolygon<f64>, Vec<String>)> = Vec::new();
    let mut infos = 0;
    for (i, (path, text)) in doc.iter().enumerate() {
        match path.as_str() {
            "alert/info" => infos += 1,
            _ if infos > 1 => break,
            "alert/info/area/areaDesc" => {
                out.push((text.trim().into(), geo::MultiPolygon::new(vec![]), vec![]))
            }
            "alert/info/area/polygon" => {
                let ring: Vec<(f64, f64)> = text
                    .split_whitespace()
                    .map(|q| {
                        let (la, lo) = q.split_once(',').unwrap();
                        (lo.parse().unwrap(), la.parse().unwrap())
                    })
                    .collect();
                let last = out.last_mut().unwrap();
                last.1.0.push(geo::Polygon::new(ring.into(), vec![]));
            }
            "alert/info/area/geocode"
                if doc.get(i + 1).is_some_and(|n| n.1.trim() == "ADM2_PCODE") =>
            {
                let last = out.last_mut().unwrap();
                last.2.push(doc[i + 2].1.trim().to_string());
            }
            _ => {}
        }
    }
    out
}

#[test]
fn on_a_flood_map_a_district_set_by_hand_is_its_levels_area_and_the_water_inside_leaves_the_others()
{
    use aviso::alerts::levels::Level;
    use aviso::hazard::geodesy::{area_km2, intersection};
    let Some(f) = fixture() else { return };
    // The deepest water's district (Búzi, red) lowered to yellow by a person; Chibuto, far
    // from this water, raised to orange (issue 13).
    let (deepest, level) = f
        .extent
        .district_levels
        .iter()
        .max_by_key(|(_, l)| **l)
        .map(|(p, l)| (p.clone(), *l))
        .unwrap();
    assert_eq!(level, Level::Red);
    let mut a = f.extent.clone();
    let before = a.set_district_levels([
        (deepest.clone(), Level::Yellow),
        ("MZ0202".to_string(), Level::Orange),
    ]);
    assert_eq!(before[&deepest], Some(Level::Red));
    assert_eq!(before["MZ0202"], None);
    assert!(a.set_by_hand(&deepest) && a.set_by_hand("MZ0202"));
    assert!(
        !a.set_by_hand(
            a.district_levels
                .keys()
                .find(|p| **p != deepest && *p != "MZ0202")
                .unwrap()
        )
    );
    let outline = |pcode: &str| {
        &f.layers
            .layers
            .districts
            .iter()
            .find(|d| d.pcode == pcode)
            .unwrap()
            .geometry
    };
    let cap_of = |a: &FloodAssessment| {
        let opts = flood_cap_options(None, 48.0, "INGD");
        let v = decide(
            None,
            "flood-test".into(),
            flood_districts_of(a),
            SENDER,
            "2025-09-25T08:00:00Z".parse().unwrap(),
            CapStatus::Test,
        )
        .unwrap()
        .unwrap();
        flood_cap_document(a, &v, &f.layers.layers, &opts).unwrap()
    };
    // Each area's water inside district `pcode`, for the areas not naming it (`others`),
    // or all.
    let water_in = |cap: &str, pcode: &str, others: bool| -> BTreeMap<String, f64> {
        areas(cap)
            .into_iter()
            .filter(|(_, _, codes)| !others || !codes.iter().any(|c| c == pcode))
            .map(|(d, g, _)| (d, area_km2(&intersection(&g, outline(pcode)))))
            .collect()
    };
    // Before: the red area's water lies in the deepest district.
    let automatic = cap_of(&f.extent);
    let red_before: f64 = water_in(&automatic, &deepest, false)
        .iter()
        .filter(|(d, _)| d.starts_with("Nível vermelho"))
        .map(|(_, km2)| km2)
        .sum();
    assert!(
        red_before > 1.0,
        "{red_before} km² of red water in {deepest}: {:?}",
        water_in(&automatic, &deepest, false)
    );
    let cap = cap_of(&a);
    let got = areas(&cap);
    let area_of = |pcode: &str| got.iter().find(|x| x.2.iter().any(|c| c == pcode)).unwrap();
    assert!(area_of(&deepest).0.starts_with("Nível amarelo"), "{got:?}");
    let orange = area_of("MZ0202");
    assert!(orange.0.starts_with("Nível laranja"), "{}", orange.0);
    // Chibuto's outline is in the orange area (Gaza, south of -23.5).
    let chibuto = area_km2(&intersection(&orange.1, outline("MZ0202")));
    assert!(chibuto > 0.9 * area_km2(outline("MZ0202")), "{chibuto} km²");
    // No other level's area keeps water inside the lowered district (coordinate rounding
    // and outline simplification aside: under 1 km²).
    for (desc, km2) in water_in(&cap, &deepest, true) {
        assert!(km2 < 1.0, "{desc}: {km2} km² inside {deepest}");
    }
    // Severity from the highest level left.
    let expected = match a.event_level.unwrap() {
        Level::Red => "Extreme",
        Level::Orange => "Severe",
        _ => "Moderate",
    };
    assert_eq!(
        texts(&parse(&cap), "alert/info/severity"),
        vec![expected; 2]
    );
}
