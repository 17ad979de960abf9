//! Subscribers, selection and message texts on the real data: OCHA COD-AB P-codes and
//! district outlines, real district names in SMS segment counts, and Freddy's forecast
//! through the alert versioning into per-subscriber notices.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use geo::{LineString, MultiPolygon, Polygon};

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{self, CapStatus, MsgType};
use aviso::notify::gsm::{SmsEncoding, count_segments};
use aviso::notify::message::{MessageInput, MessageOptions, sms};
use aviso::notify::select::{
    AlertDistrict, DistrictGeometry, DistrictShapes, LastSent, NoGeometry, Notice, NoticeKind,
    PublishedAlert, SelectOptions, select,
};
use aviso::notify::subscriber::{self, Area, Channel, KnownPcodes, Subscriber};
use aviso::notify::{HazardKind, Lang};

const PCODES: &str = "boundaries/moz_adm2_pcodes.csv";
const ADM2: &str = "boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson";

/// (ADM2 P-code, name, ADM1 P-code) of every district, from the COD-AB table.
fn districts() -> Option<Vec<(String, String, String)>> {
    let path = common::data_file(PCODES)?;
    let mut rdr = csv::Reader::from_path(path).unwrap();
    Some(
        rdr.records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_string(), r[1].to_string(), r[2].to_string())
            })
            .collect(),
    )
}

fn known() -> Option<KnownPcodes> {
    let d = districts()?;
    Some(KnownPcodes::from_pairs(
        d.iter().map(|(a, _, p)| (a.as_str(), p.as_str())),
    ))
}

#[test]
fn the_real_p_code_table_validates_subscribers_and_refuses_unknown_codes() {
    let Some(k) = known() else { return };
    assert_eq!(
        k.provinces.len(),
        11,
        "Mozambique has 11 provinces in COD-AB 2019"
    );
    let csv_text = "id,name,language,min_level,hazards,receive_tests,emails,phones,provinces,districts\n\
        pf-beira,Ponto focal Beira,pt,orange,ciclone,sim,ana@ingd.example.org,+258 84 123 4567,,MZ0906;MZ0907\n\
        iom-zam,IOM Zambezia,en,yellow,cyclone;flood,no,ops@iom.example.org,,MZ11,\n\
        bad-one,Typo,pt,red,,,x@example.org,,,MZ0999\n";
    let e = subscriber::from_csv(csv_text.as_bytes(), &k)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad-one")
            && e.contains("line 4")
            && e.contains("districts[0]")
            && e.contains("MZ0999"),
        "{e}"
    );
    let ok_text: String = csv_text.lines().take(3).map(|l| format!("{l}\n")).collect();
    let subs = subscriber::from_csv(ok_text.as_bytes(), &k).unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0].channels[1], Channel::Sms("+258841234567".into()));
    assert_eq!(subs[0].min_level, Level::Orange);
    assert!(subs[0].receive_tests);
    assert_eq!(subs[1].language, Lang::En);
    assert_eq!(
        subs[1].hazards,
        vec![HazardKind::Cyclone, HazardKind::Flood]
    );
}

#[test]
fn csv_export_then_import_gives_the_same_subscribers() {
    let Some(k) = known() else { return };
    let beira_square = Polygon::new(
        LineString::from(vec![
            (34.80, -19.90),
            (34.90, -19.90),
            (34.90, -19.80),
            (34.80, -19.80),
            (34.80, -19.90),
        ]),
        vec![],
    );
    let subs = vec![
        Subscriber {
            id: "pf-beira".into(),
            name: "Ponto focal, \"Beira\"".into(),
            channels: vec![
                Channel::Email("ana@ingd.example.org".into()),
                Channel::Sms("+258841234567".into()),
                Channel::Webhook("https://hooks.example.org/aviso?x=1&y=2".into()),
            ],
            language: Lang::Pt,
            areas: vec![
                Area::Province("MZ09".into()),
                Area::District("MZ1103".into()),
                Area::Feature {
                    layer: "sites".into(),
                    id: "DTM-17".into(),
                },
                Area::Polygon(beira_square),
            ],
            min_level: Level::Orange,
            hazards: vec![HazardKind::Cyclone],
            active: false,
            receive_tests: true,
        },
        Subscriber {
            id: "iom.1".into(),
            name: "IOM".into(),
            channels: vec![Channel::Email("ops@iom.example.org".into())],
            language: Lang::En,
            areas: vec![Area::District("MZ0906".into())],
            ..Subscriber::default()
        },
    ];
    let subs: Vec<Subscriber> = subs
        .into_iter()
        .map(|s| s.validate(&k, None).unwrap())
        .collect();
    let text = subscriber::to_csv(&subs).unwrap();
    let back = subscriber::from_csv(text.as_bytes(), &k).unwrap();
    assert_eq!(back, subs, "{text}");
}

#[test]
fn csv_errors_name_the_line_and_the_column() {
    let Some(k) = known() else { return };
    let e = subscriber::from_csv(b"id,name,phone\nx,y,+258841234567\n", &k)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 1") && e.contains("`phone`") && e.contains("unknown column"),
        "{e}"
    );
    let e = subscriber::from_csv(
        b"id,name,min_level,emails,districts\nx,y,purple,a@b.org,MZ0906\n",
        &k,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("line 2") && e.contains("`min_level`") && e.contains("purple"),
        "{e}"
    );
    let e = subscriber::from_csv(
        b"id,name,emails,districts\nx,y,a@b.org,MZ0906\nx,z,c@d.org,MZ0906\n",
        &k,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 3") && e.contains("earlier line"), "{e}");
}

#[test]
fn a_polygon_drawn_over_beira_touches_beira_and_its_neighbours_only() {
    let Some(path) = common::data_file(ADM2) else {
        return;
    };
    let doc: geojson::GeoJson = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let geojson::GeoJson::FeatureCollection(fc) = doc else {
        panic!("a FeatureCollection")
    };
    let shapes = DistrictShapes::new(fc.features.iter().map(|f| {
        let pcode = f
            .property("ADM2_PCODE")
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        let g = geo::Geometry::<f64>::try_from(f.geometry.as_ref().unwrap()).unwrap();
        let mp = match g {
            geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
            geo::Geometry::MultiPolygon(mp) => mp,
            other => panic!("unexpected {other:?}"),
        };
        (pcode, mp)
    }));
    // A 2 km square on Beira's port (34.84 E, 19.83 S).
    let square = Polygon::new(
        LineString::from(vec![
            (34.83, -19.84),
            (34.85, -19.84),
            (34.85, -19.82),
            (34.83, -19.82),
            (34.83, -19.84),
        ]),
        vec![],
    );
    let hit = shapes.districts_intersecting(&square);
    assert_eq!(
        hit,
        BTreeSet::from(["MZ0906".to_string()]),
        "Cidade Da Beira only"
    );
    // Far out at sea: nothing.
    let sea = Polygon::new(
        LineString::from(vec![
            (40.0, -22.0),
            (40.1, -22.0),
            (40.1, -21.9),
            (40.0, -22.0),
        ]),
        vec![],
    );
    assert!(shapes.districts_intersecting(&sea).is_empty());
}

fn name_of(all: &[(String, String, String)], pcode: &str) -> String {
    all.iter().find(|d| d.0 == pcode).unwrap().1.clone()
}

fn red_alert(
    all: &[(String, String, String)],
    pcodes: &[&str],
    status: CapStatus,
) -> PublishedAlert {
    PublishedAlert {
        after_cyclone: None,
        instruction: None,
        event_id: "swi-07-20222023".into(),
        version: 1,
        identifier: "aviso-swi-07-20222023-1".into(),
        msg_type: MsgType::Alert,
        status,
        hazard: HazardKind::Cyclone,
        event_name: "FREDDY".into(),
        sent: Utc.with_ymd_and_hms(2023, 3, 10, 6, 0, 0).unwrap(),
        next_update: Some(Utc.with_ymd_and_hms(2023, 3, 10, 12, 0, 0).unwrap()),
        districts: pcodes
            .iter()
            .map(|p| AlertDistrict {
                pcode: p.to_string(),
                name: name_of(all, p),
                province_pcode: Some(p[..4].to_string()),
                level: Level::Red,
                people_at_risk: None,
            })
            .collect(),
        sites: vec![],
    }
}

/// The budget: the common Portuguese messages fit two SMS parts, with and without
/// transliteration, naming every district for up to three of them. Districts are real
/// COD-AB names, the longest of the coast where Freddy landed (Zambezia) plus Ilha de
/// Moçambique, whose "ç" is not in GSM-7.
#[test]
fn common_portuguese_sms_fit_two_segments_with_and_without_transliteration() {
    let Some(all) = districts() else { return };
    let base = MessageOptions {
        base_url: "https://aviso.ingd.gov.mz".into(),
        ..MessageOptions::default()
    };
    let cases: [&[&str]; 4] = [
        &["MZ1103"],                     // Cidade De Quelimane
        &["MZ1103", "MZ1111"],           // + Maganja Da Costa
        &["MZ1103", "MZ1111", "MZ1120"], // + Namacurra
        &["MZ0704", "MZ1103", "MZ1111"], // Ilha De Moçambique first
    ];
    for transliterate in [false, true] {
        let opts = MessageOptions {
            sms_transliterate: transliterate,
            ..base.clone()
        };
        for status in [CapStatus::Actual, CapStatus::Test] {
            for pcodes in cases {
                let a = red_alert(&all, pcodes, status);
                let n = Notice {
                    kind: NoticeKind::NewEvent,
                    level: Some(Level::Red),
                    previous: None,
                    districts: pcodes.iter().map(|p| p.to_string()).collect(),
                    sites: vec![],
                };
                let input = MessageInput {
                    alert: &a,
                    notice: &n,
                    lang: Lang::Pt,
                    alert_id: &a.identifier,
                    unsubscribe_token: "t",
                };
                let s = sms(&input, &opts);
                eprintln!(
                    "{:?} {} parts, {} units, translit={transliterate}: {}",
                    s.count.encoding, s.count.segments, s.count.units, s.text
                );
                assert!(s.count.segments <= 2, "{s:?}");
                assert_eq!(s.count, count_segments(&s.text));
                for p in pcodes {
                    let name = name_of(&all, p);
                    let shown = if transliterate {
                        aviso::notify::gsm::transliterate_to_gsm7(&name)
                    } else {
                        name
                    };
                    assert!(s.text.contains(&shown), "{shown} missing: {}", s.text);
                }
                assert!(s.text.ends_with("STOP p/ sair"), "{}", s.text);
                assert!(s.text.contains("VERMELHO") && s.text.contains("FREDDY"));
                assert_eq!(s.text.starts_with("[TESTE]"), status == CapStatus::Test);
                let want = if transliterate {
                    SmsEncoding::Gsm7
                } else {
                    SmsEncoding::Ucs2
                };
                assert_eq!(s.count.encoding, want, "{}", s.text);
            }
            // All-clear after a cancel.
            let mut a = red_alert(&all, &[], status);
            a.msg_type = MsgType::Cancel;
            a.next_update = None;
            let n = Notice {
                kind: NoticeKind::AllClear,
                level: None,
                previous: Some(Level::Red),
                districts: vec![],
                sites: vec![],
            };
            let input = MessageInput {
                alert: &a,
                notice: &n,
                lang: Lang::Pt,
                alert_id: &a.identifier,
                unsubscribe_token: "t",
            };
            let s = sms(&input, &opts);
            eprintln!(
                "{:?} {} parts, {} units, translit={transliterate}: {}",
                s.count.encoding, s.count.segments, s.count.units, s.text
            );
            assert!(
                s.count.segments <= 2 && s.text.contains("FIM DO ALERTA"),
                "{s:?}"
            );
        }
    }
    // A text with one UCS-2-only character counts as UCS-2 (an emoji is not touched by
    // transliteration).
    let c = count_segments(&aviso::notify::gsm::transliterate_to_gsm7(
        "ALERTA VERMELHO 🌀 Beira",
    ));
    assert_eq!(c.encoding, SmsEncoding::Ucs2);
}

/// Freddy's real forecast through the real assessment and versioning: who hears what.
#[test]
fn freddys_first_version_reaches_the_districts_on_the_ladder_and_nobody_else() {
    let Some((_cfg, _layers, assessment)) = common::freddy_on_shipped_layers() else {
        return;
    };
    let sent = Utc.with_ymd_and_hms(2023, 3, 10, 3, 0, 0).unwrap();
    let v = versioning::next_version(None, &assessment, "ingd.gov.mz", sent, CapStatus::Actual)
        .unwrap()
        .expect("Freddy puts districts on the ladder");
    let alert =
        PublishedAlert::from_version(&v, HazardKind::Cyclone, &assessment.forecast.storm.name);
    assert!(!alert.districts.is_empty());
    let (top, top_level) = alert
        .districts
        .iter()
        .max_by_key(|d| d.level)
        .map(|d| (d.pcode.clone(), d.level))
        .unwrap();
    let opts = SelectOptions::default();
    let mk = |id: &str, areas: Vec<Area>, min_level: Level| Subscriber {
        id: id.into(),
        name: id.into(),
        channels: vec![Channel::Email(format!("{id}@example.org"))],
        areas,
        min_level,
        ..Subscriber::default()
    };
    let on = mk("on", vec![Area::District(top.clone())], Level::Green);
    let n = select(&on, &alert, None, &opts, &NoGeometry).unwrap();
    assert_eq!((n.kind, n.level), (NoticeKind::NewEvent, Some(top_level)));

    // Cabo Delgado (MZ01), far north: Freddy's March 2023 forecast does not reach it.
    assert!(alert.districts.iter().all(|d| !d.pcode.starts_with("MZ01")));
    let far = mk("far", vec![Area::Province("MZ01".into())], Level::Green);
    assert_eq!(select(&far, &alert, None, &opts, &NoGeometry), None);
    // Niassa (MZ08) has one district only in the cone (green): a subscriber from yellow
    // up hears nothing, one who wants green hears of it.
    let niassa_green = alert
        .districts
        .iter()
        .filter(|d| d.pcode.starts_with("MZ08"))
        .map(|d| d.level)
        .max();
    assert_eq!(niassa_green, Some(Level::Green));
    let niassa = mk("niassa", vec![Area::Province("MZ08".into())], Level::Yellow);
    assert_eq!(select(&niassa, &alert, None, &opts, &NoGeometry), None);
    let niassa = mk("niassa", vec![Area::Province("MZ08".into())], Level::Green);
    let n = select(&niassa, &alert, None, &opts, &NoGeometry).unwrap();
    assert_eq!(n.level, Some(Level::Green));

    // Already told this level six hours ago: silence (no reminder before 12 h).
    let told = LastSent {
        level: Some(top_level),
        at: sent - chrono::Duration::hours(6),
    };
    assert_eq!(select(&on, &alert, Some(&told), &opts, &NoGeometry), None);
}
