//! Alert versions and CAP 1.2 documents over Freddy's IBTrACS best track replayed as daily
//! issuances, assessed against the shipped layers. The version chain is checked against the
//! level maps themselves (recomputed here), the CAP documents by parsing them back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use common::cap_xml::{INFO_ORDER, children, in_order, parse, texts, xmllint_well_formed};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use aviso::alerts::assess::assess;
use aviso::alerts::cap::{CapOptions, cap_document};
use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{AlertVersion, CapStatus, MsgType, PublishedSummary, next_version};
use aviso::config::Config;
use aviso::exposure::IndexedLayers;
use aviso::feeds::{self, ParseOptions, StormSelector};
use aviso::replay;
use chrono::{DateTime, Duration, Utc};

const TRACK: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";
const SENDER: &str = "cenoe@ingd.example";

/// One issuance of the replay: its levels and, when one was published, its version and CAP.
struct Step {
    at: DateTime<Utc>,
    levels: BTreeMap<String, Level>,
    version: Option<AlertVersion>,
    cap: Option<String>,
}

struct Chain {
    steps: Vec<Step>,
    /// ADM2 P-code -> ADM1 P-code of every district in the layers.
    districts: BTreeMap<String, Option<String>>,
}

fn chain() -> Option<&'static Chain> {
    static CELL: OnceLock<Option<Chain>> = OnceLock::new();
    CELL.get_or_init(|| {
        let path = common::data_file(TRACK)?;
        let cfg = Config::embedded_default().unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
        let loaded = aviso::layers::load_layers(&manifest).unwrap();
        let layers = IndexedLayers::new(loaded.layers, &cfg.exposure);
        let opts = ParseOptions {
            storm: StormSelector {
                name: Some("FREDDY".into()),
                season: Some(2023),
                sid: None,
            },
            ..ParseOptions::default()
        };
        let bytes = std::fs::read(&path).unwrap();
        let track = feeds::parse_forecast(&bytes, &path.display().to_string(), &opts).unwrap();
        // Daily issuances from 15 February (Freddy is then east of Madagascar, a week
        // before its first Mozambique landfall), and a last one at the final best-track
        // fix, after which Freddy is gone.
        let start: DateTime<Utc> = "2023-02-15T00:00:00Z".parse().unwrap();
        let mut times: Vec<DateTime<Utc>> = replay::issuance_times(&track, Duration::hours(24))
            .into_iter()
            .filter(|t| *t >= start)
            .collect();
        let last = track.track.last().unwrap().time;
        if times.last() != Some(&last) {
            times.push(last);
        }
        let cap_opts = CapOptions {
            web: Some("https://aviso.example/alerts".into()),
            ..CapOptions::default()
        };
        let mut prev: Option<PublishedSummary> = None;
        let mut steps = Vec::new();
        for at in times {
            let f = replay::issuance_at(&track, at, Duration::hours(120)).unwrap();
            let a = assess(&f, &layers, cfg.assessment(), at).unwrap();
            let sent = at + Duration::minutes(40);
            let version = next_version(prev.as_ref(), &a, SENDER, sent, CapStatus::Test).unwrap();
            let cap = version
                .as_ref()
                .map(|v| cap_document(&a, v, &cfg.levels, &cap_opts).unwrap());
            if let Some(v) = &version {
                prev = Some(v.summary());
            }
            steps.push(Step {
                at,
                levels: a.levels.iter().map(|(k, l)| (k.clone(), l.level)).collect(),
                version,
                cap,
            });
        }
        let districts = layers
            .layers
            .districts
            .iter()
            .map(|d| (d.pcode.clone(), d.parent_pcode.clone()))
            .collect();
        Some(Chain { steps, districts })
    })
    .as_ref()
}

fn published(c: &Chain) -> Vec<(&Step, &AlertVersion)> {
    c.steps
        .iter()
        .filter_map(|s| s.version.as_ref().map(|v| (s, v)))
        .collect()
}

#[test]
fn freddy_is_alerted_once_then_updated_with_references_to_the_previous_version() {
    let Some(c) = chain() else { return };
    let p = published(c);
    for (s, v) in &p {
        eprintln!(
            "{} v{} {:?} districts {} (+{} ↑{} ↓{} -{})",
            s.at,
            v.version,
            v.msg_type,
            s.levels.len(),
            v.changes.added.len(),
            v.changes.raised.len(),
            v.changes.lowered.len(),
            v.changes.removed.len()
        );
    }
    // Nothing is published while no district is on the ladder.
    for s in &c.steps {
        if let (true, Some(v)) = (s.levels.is_empty(), &s.version) {
            assert_eq!(v.msg_type, MsgType::Cancel);
        }
    }
    let (first_step, first) = p.first().expect("Freddy puts districts on the ladder");
    assert_eq!(first.msg_type, MsgType::Alert);
    assert_eq!(first.version, 1);
    assert_eq!(first.references, None);
    assert!(!first_step.levels.is_empty());
    assert!(
        first_step.at < "2023-02-24T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        "the first alert comes before the 24 February landfall"
    );
    for w in p.windows(2) {
        let ((_, before), (step, v)) = (w[0], w[1]);
        assert_eq!(v.version, before.version + 1);
        assert_eq!(v.identifier, format!("aviso-{}-{}", v.event_id, v.version));
        let expected_type = match (before.msg_type, step.levels.is_empty()) {
            (MsgType::Cancel, _) => MsgType::Alert,
            (_, true) => MsgType::Cancel,
            (_, false) => MsgType::Update,
        };
        assert_eq!(v.msg_type, expected_type, "{}", step.at);
        if v.msg_type != MsgType::Alert {
            let sent = before
                .sent
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
            assert_eq!(
                v.references.as_deref(),
                Some(format!("{SENDER},{},{sent}", before.identifier).as_str())
            );
        }
    }
    assert!(p.iter().filter(|x| x.1.msg_type == MsgType::Update).count() >= 5);
}

#[test]
fn the_issuance_after_freddy_dissipates_cancels_the_alert() {
    let Some(c) = chain() else { return };
    let last = c.steps.last().unwrap();
    assert!(last.levels.is_empty(), "{:?}", last.levels);
    let v = last.version.as_ref().expect("a Cancel is published");
    assert_eq!(v.msg_type, MsgType::Cancel);
    // It calls off exactly the districts the previous published version had.
    let prev = published(c)
        .into_iter()
        .rev()
        .nth(1)
        .map(|x| x.1.districts.keys().cloned().collect::<BTreeSet<_>>())
        .unwrap();
    let removed: BTreeSet<String> = v.changes.removed.iter().map(|r| r.pcode.clone()).collect();
    assert_eq!(removed, prev);
}

#[test]
fn changes_match_the_level_maps_of_consecutive_versions() {
    let Some(c) = chain() else { return };
    let mut before: BTreeMap<String, Level> = BTreeMap::new();
    for (s, v) in published(c) {
        if v.msg_type == MsgType::Alert {
            before.clear();
        }
        let now = &s.levels;
        let pick = |list: &[aviso::alerts::versioning::LevelChange]| -> Vec<(String, Option<Level>, Option<Level>)> {
            list.iter().map(|c| (c.pcode.clone(), c.old, c.new)).collect()
        };
        let want_added: Vec<_> = now
            .iter()
            .filter(|(k, _)| !before.contains_key(*k))
            .map(|(k, l)| (k.clone(), None, Some(*l)))
            .collect();
        let want_removed: Vec<_> = before
            .iter()
            .filter(|(k, _)| !now.contains_key(*k))
            .map(|(k, l)| (k.clone(), Some(*l), None))
            .collect();
        let both = |up: bool| -> Vec<(String, Option<Level>, Option<Level>)> {
            now.iter()
                .filter_map(|(k, n)| {
                    let o = before.get(k)?;
                    ((up && n > o) || (!up && n < o)).then(|| (k.clone(), Some(*o), Some(*n)))
                })
                .collect()
        };
        assert_eq!(pick(&v.changes.added), want_added, "{}", s.at);
        assert_eq!(pick(&v.changes.removed), want_removed, "{}", s.at);
        assert_eq!(pick(&v.changes.raised), both(true), "{}", s.at);
        assert_eq!(pick(&v.changes.lowered), both(false), "{}", s.at);
        before = now.clone();
    }
}

#[test]
fn every_cap_document_has_the_required_elements_in_cap_order() {
    let Some(c) = chain() else { return };
    for (s, v) in published(c) {
        let doc = parse(s.cap.as_ref().unwrap());
        let alert = children(&doc, "alert");
        assert_eq!(
            &alert[..6],
            &["identifier", "sender", "sent", "status", "msgType", "scope"]
        );
        assert_eq!(texts(&doc, "alert/identifier"), vec![v.identifier.as_str()]);
        assert_eq!(texts(&doc, "alert/status"), vec!["Test"]);
        assert_eq!(texts(&doc, "alert/msgType"), vec![v.msg_type.as_str()]);
        assert!(in_order(&alert, &["scope", "note", "info"]), "{alert:?}");
        // sent: RFC 3339 with offset, whole seconds.
        let sent = texts(&doc, "alert/sent")[0];
        assert!(sent.ends_with("+00:00") && !sent.contains('.'), "{sent}");
        assert_eq!(sent.parse::<DateTime<Utc>>().unwrap(), v.sent);
        // References on Updates and Cancels, never on the first Alert.
        let refs = texts(&doc, "alert/references");
        match v.msg_type {
            MsgType::Alert => assert!(refs.is_empty()),
            _ => assert_eq!(refs, vec![v.references.as_deref().unwrap()]),
        }
        // One info per language, Portuguese first, in CAP order.
        assert_eq!(texts(&doc, "alert/info/language"), vec!["pt-PT", "en-US"]);
        assert_eq!(
            texts(&doc, "alert/info/event"),
            vec!["Ciclone tropical", "Tropical cyclone"]
        );
        let info: Vec<&str> = children(&doc, "alert/info");
        let mut order = INFO_ORDER.to_vec();
        order.push("language");
        assert!(in_order(&info, &order), "{info:?}");
        assert!(
            texts(&doc, "alert/info/category")
                .iter()
                .all(|c| *c == "Met")
        );
        // Test status is labelled in both headlines.
        let h = texts(&doc, "alert/info/headline");
        assert!(h[0].starts_with("TESTE"), "{}", h[0]);
        assert!(h[1].starts_with("TEST:"), "{}", h[1]);
        if v.msg_type == MsgType::Cancel {
            assert_eq!(
                texts(&doc, "alert/info/responseType"),
                vec!["AllClear", "AllClear"]
            );
        }
    }
}

#[test]
fn cap_areas_are_closed_lat_lon_polygons_and_real_pcodes_of_districts_at_risk() {
    let Some(c) = chain() else { return };
    let mut polygons = 0;
    for (s, v) in published(c) {
        let doc = parse(s.cap.as_ref().unwrap());
        let mut reaches_mozambique = false;
        for poly in texts(&doc, "alert/info/area/polygon") {
            polygons += 1;
            let pts: Vec<(f64, f64)> = poly
                .split(' ')
                .map(|p| {
                    let (lat, lon) = p.split_once(',').unwrap();
                    (lat.parse().unwrap(), lon.parse().unwrap())
                })
                .collect();
            assert!(pts.len() >= 4 && pts.len() <= 100, "{}", pts.len());
            assert_eq!(pts.first(), pts.last(), "closed");
            // Latitude first: southern hemisphere latitudes, SWIO longitudes east of
            // Africa's west coast; swapped pairs would fail both.
            for (lat, lon) in &pts {
                assert!((-40.0..-5.0).contains(lat), "lat {lat}");
                assert!((25.0..70.0).contains(lon), "lon {lon}");
            }
            // Some polygon of the document overlaps Mozambique's bounding box
            // (30.2–40.9 E, 26.9–10.5 S).
            let (la0, la1, lo0, lo1) = pts.iter().fold(
                (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
                |(a, b, c, d), (la, lo)| (a.min(*la), b.max(*la), c.min(*lo), d.max(*lo)),
            );
            if la0 <= -10.4 && la1 >= -27.0 && lo0 <= 41.0 && lo1 >= 30.2 {
                reaches_mozambique = true;
            }
        }
        if texts(&doc, "alert/info/area/polygon").is_empty() {
            reaches_mozambique = true;
        }
        assert!(
            reaches_mozambique,
            "{}: no polygon near Mozambique",
            v.identifier
        );
        let codes: Vec<(String, String)> = doc
            .windows(3)
            .filter(|w| w[0].0 == "alert/info/area/geocode")
            .map(|w| (w[1].1.trim().to_string(), w[2].1.trim().to_string()))
            .collect();
        assert!(!codes.is_empty());
        for (name, value) in codes {
            match name.as_str() {
                "ADM2_PCODE" => {
                    assert!(
                        c.districts.contains_key(&value),
                        "{value} is not a district"
                    );
                    if v.msg_type == MsgType::Cancel {
                        assert!(v.changes.removed.iter().any(|r| r.pcode == value));
                    } else {
                        assert!(s.levels.contains_key(&value), "{value} is not at risk");
                    }
                }
                "ADM1_PCODE" => assert!(
                    s.levels
                        .keys()
                        .any(|d| c.districts[d].as_deref() == Some(value.as_str())),
                    "{value} holds no district at risk"
                ),
                other => panic!("unexpected geocode {other}"),
            }
        }
        // One area per level present, each listing that level's districts.
        if v.msg_type != MsgType::Cancel {
            let levels: BTreeSet<Level> = s.levels.values().copied().collect();
            assert_eq!(
                texts(&doc, "alert/info/area/areaDesc").len(),
                2 * levels.len()
            );
        }
    }
    assert!(polygons > 0, "some area has a wind swath polygon");
}

#[test]
fn xmllint_reads_every_cap_document_as_well_formed_xml() {
    let Some(c) = chain() else { return };
    xmllint_well_formed(
        published(c)
            .into_iter()
            .map(|(s, v)| (v.identifier.clone(), s.cap.as_deref().unwrap())),
    );
}
