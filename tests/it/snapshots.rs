//! Snapshots (insta) of what people and systems receive for Freddy's RSMC forecast of
//! 10 March 2023 on the shipped layers: the SMS and e-mail texts in Portuguese and English,
//! the CAP 1.2 document of the first version, and the alert document's district table. A
//! change in any of them shows as a diff to review (`cargo insta review`, or the `.snap.new`
//! file beside the snapshot); CI refuses it (INSTA_UPDATE=no in scripts/test.sh).
//!
//! Everything is built at a fixed time (the assessment's `now`, the version's `sent`), so
//! nothing needs redacting; the CAP polygons are replaced by their vertex counts (their
//! coordinates are checked by `cap::cap_areas_are_closed_lat_lon_polygons…`).

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::common;
use aviso::alerts::assess::{Assessment, assess};
use aviso::alerts::cap::{CapOptions, cap_document};
use aviso::alerts::document::alert_document;
use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{AlertVersion, CapStatus, next_version};
use aviso::config::Config;
use aviso::exposure::IndexedLayers;
use aviso::notify::message::{MessageInput, MessageOptions, email, sms};
use aviso::notify::select::{NoGeometry, SelectOptions, select};
use aviso::notify::subscriber::Area;
use aviso::notify::{Channel, Lang, Subscriber};

/// Freddy's forecast assessed on the shipped layers at a fixed time, and its first
/// version, sent 40 minutes after the forecast's reference time (as RSMC products arrive).
struct Freddy {
    cfg: Config,
    layers: IndexedLayers,
    assessment: Assessment,
    version: AlertVersion,
}

fn freddy() -> Option<Freddy> {
    let path = common::data_file(common::FREDDY_RSMC)?;
    let cfg = Config::embedded_default().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest).unwrap();
    let layers = IndexedLayers::new(loaded.layers, &cfg.exposure);
    let forecast = aviso::feeds::parse_forecast(
        &std::fs::read(&path).unwrap(),
        "freddy.json",
        &aviso::feeds::ParseOptions::default(),
    )
    .unwrap();
    let sent: DateTime<Utc> = forecast.reference_time + chrono::Duration::minutes(40);
    let assessment = assess(&forecast, &layers, cfg.assessment(), sent).unwrap();
    let version = next_version(
        None,
        &assessment,
        "aviso@ingd.gov.mz",
        sent,
        CapStatus::Actual,
    )
    .unwrap()
    .expect("Freddy puts districts on the ladder");
    Some(Freddy {
        cfg,
        layers,
        assessment,
        version,
    })
}

#[test]
fn freddys_sms_and_email_to_a_zambezia_focal_point_in_portuguese_and_english() {
    let Some(f) = freddy() else {
        return;
    };
    // The alert as the service hands it to the messages (people at risk, sites, next
    // update), and a focal point for Zambezia (MZ11) who wants every level.
    let alert = aviso::pipeline::published_alert(&f.version, &f.assessment);
    let sub = Subscriber {
        id: "pf-zambezia".into(),
        name: "Ponto focal".into(),
        channels: vec![Channel::Email("pf@ingd.example.org".into())],
        areas: vec![Area::Province("MZ11".into())],
        min_level: Level::Green,
        ..Subscriber::default()
    };
    let notice = select(&sub, &alert, None, &SelectOptions::default(), &NoGeometry)
        .expect("Freddy reaches Zambezia");
    let opts = MessageOptions {
        base_url: "https://aviso.ingd.gov.mz".into(),
        ..MessageOptions::default()
    };
    for lang in [Lang::Pt, Lang::En] {
        let input = MessageInput {
            alert: &alert,
            notice: &notice,
            lang,
            alert_id: &f.version.identifier,
            unsubscribe_token: "tok-snapshot",
        };
        let s = sms(&input, &opts);
        // The budget holds: two parts at most (MessageOptions::default).
        assert!(s.count.segments <= 2, "{s:?}");
        insta::assert_snapshot!(
            format!("freddy_sms_{}", lang.as_str()),
            format!("{}\n\n({:?})", s.text, s.count)
        );
        let e = email(&input, &opts);
        insta::assert_snapshot!(
            format!("freddy_email_{}", lang.as_str()),
            format!("Subject: {}\n\n{}", e.subject, e.text)
        );
        insta::assert_snapshot!(format!("freddy_email_html_{}", lang.as_str()), e.html);
    }
}

/// Each `<polygon>…</polygon>` replaced by its vertex count.
fn without_polygon_coordinates(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<polygon>") {
        let body = &rest[start + "<polygon>".len()..];
        let end = body.find("</polygon>").expect("a closed polygon element");
        let vertices = body[..end].split_whitespace().count();
        write!(
            out,
            "{}<polygon>[{vertices} vertices]</polygon>",
            &rest[..start]
        )
        .unwrap();
        rest = &body[end + "</polygon>".len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn freddys_first_cap_document() {
    let Some(f) = freddy() else {
        return;
    };
    let opts = CapOptions {
        web: Some("https://aviso.ingd.gov.mz/api/alerts".into()),
        ..CapOptions::default()
    };
    let xml = cap_document(&f.assessment, &f.version, &f.cfg.levels, &opts).unwrap();
    let trimmed = without_polygon_coordinates(&xml);
    assert!(trimmed.contains("vertices]</polygon>"), "{trimmed}");
    // Indented one element per line, so a change reads as a diff of lines.
    insta::assert_snapshot!("freddy_cap", indent_xml(&trimmed));
}

/// The XML with a line break before each tag that follows a closing tag or opens a child,
/// indented by depth. Enough for CAP (no mixed content).
fn indent_xml(xml: &str) -> String {
    let mut out = String::new();
    let mut depth: usize = 0;
    let mut rest = xml.trim();
    while let Some(lt) = rest.find('<') {
        let text = rest[..lt].trim();
        let gt = rest[lt..].find('>').expect("a closed tag") + lt;
        let tag = &rest[lt..=gt];
        if tag.starts_with("</") {
            depth = depth.saturating_sub(1);
            if text.is_empty() {
                write!(out, "\n{}{tag}", "  ".repeat(depth)).unwrap();
            } else {
                write!(out, "{text}{tag}").unwrap();
            }
        } else {
            if !out.is_empty() {
                out.push('\n');
            }
            write!(out, "{}{tag}", "  ".repeat(depth)).unwrap();
            if !tag.ends_with("/>") && !tag.starts_with("<?") {
                depth += 1;
            }
        }
        rest = &rest[gt + 1..];
    }
    out.push('\n');
    out
}

#[test]
fn freddys_alert_document_district_table() {
    let Some(f) = freddy() else {
        return;
    };
    let doc = alert_document(
        &f.assessment,
        &f.layers.layers,
        f.cfg.output.coordinate_decimals,
    );
    let districts: Vec<&Value> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|feat| &feat["properties"])
        .filter(|p| p["layer"] == "district")
        .collect();
    assert!(!districts.is_empty());
    // One line per district in the document's order: the fields a duty officer reads.
    let mut table = String::from(
        "pcode  | name | province | level | rule | people at risk | max kt | first arrival | lead h | cone\n",
    );
    let field = |p: &Value, k: &str| match &p[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    };
    for p in &districts {
        writeln!(
            table,
            "{}",
            [
                "pcode",
                "name",
                "province_pcode",
                "level",
                "level_rule",
                "people_at_risk",
                "max_threshold_kt",
                "first_arrival",
                "lead_time_h",
                "in_cone",
            ]
            .map(|k| field(p, k))
            .join(" | ")
        )
        .unwrap();
    }
    insta::assert_snapshot!("freddy_district_table", table);
}
