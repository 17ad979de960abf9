//! The CAP 1.2 alert (OASIS Common Alerting Protocol 1.2, namespace
//! `urn:oasis:names:tc:emergency:cap:1.2`) of one assessment and one [`AlertVersion`]: one
//! `info` per language (pt-PT first, then en-US), one `area` per alert level with the
//! level's wind swath as `polygon`s and the districts' P-codes as `geocode`s.
//!
//! Pure: returns the document as a `String`; must not depend on I/O. Written with
//! quick-xml's `Writer`, which escapes text and attribute values (`<`, `&`, quotes).
//!
//! Not validated against the OASIS CAP 1.2 XSD: the schema is not shipped with the
//! repository. The tests check element order against the standard's tables and
//! well-formedness with xmllint when it is installed.
//!
//! The texts (headline, description, instructions in pt and en, the editor's added
//! instruction) are in `cap/text.rs`, the polygons in `cap/polygons.rs`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use geo::{ConvexHull, MultiPolygon, Polygon, Simplify, Validation};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use thiserror::Error;

use crate::alerts::assess::Assessment;
use crate::alerts::levels::{Hazard as RuleHazard, Level, LevelRules};
use crate::alerts::probabilistic::certainty_from_probability;
use crate::alerts::versioning::{AlertVersion, CapStatus, MsgType, cap_datetime};
pub(crate) use crate::domain::Lang;
use crate::domain::Period;
use crate::domain::text::group_thousands;

mod grading;
mod polygons;
mod text;
#[cfg(test)]
mod withdrawal_tests;

pub use grading::{Grading, grading};
pub use polygons::cap_polygons;
pub(crate) use text::{by_level, changes_line, headline_for, level_lines, people, with_extra};
use text::{description, headline, instruction};

/// The CAP 1.2 XML namespace (OASIS CAP 1.2 §3.3).
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";

#[derive(Debug, Error)]
pub enum CapError {
    #[error("writing the CAP document of {identifier}: {source}")]
    Write {
        identifier: String,
        source: std::io::Error,
    },
    #[error("the CAP document of {identifier} is not UTF-8 at byte {at}")]
    Utf8 { identifier: String, at: usize },
    #[error(
        "CAP option expires_after_h = {found}: expected a number of hours in 1..=240 \
         (writing {identifier})"
    )]
    Expires { identifier: String, found: f64 },
}

/// Settings of the CAP document that are not in the assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct CapOptions {
    /// `senderName`: the issuing organisation as people should read it.
    pub sender_name: String,
    /// `web`: where to read more (the alert page); omitted when `None`.
    pub web: Option<String>,
    /// `expires` = reference time + this many hours. 12 h for a 6-hourly product: one
    /// missed issuance is tolerated, two are not (a stale alert must lapse rather than
    /// stand for a storm nobody is watching).
    pub expires_after_h: f64,
    /// Most vertices in one `polygon` (closing vertex included). 100 keeps a national
    /// alert a few kilobytes, light enough for poor links, and is well above the 4 a ring
    /// needs.
    pub max_polygon_vertices: usize,
    /// CAP `incidents`: the incident the version belongs to, when not its own event
    /// (a flood following a cyclone names the cyclone's event). `None`: the event id.
    pub incident: Option<String>,
    /// The probability `certainty` follows (issue 12), from
    /// [`crate::alerts::probabilistic::certainty_probability`]; `None`: no probabilistic
    /// assessment (turned off or failed), and certainty follows the lead time.
    pub certainty_probability: Option<CertaintyProbability>,
    /// An editor's free-text instruction `[pt, en]` (issue 13), written after the
    /// standard instruction of the level.
    pub extra_instruction: Option<[String; 2]>,
    /// Why a Cancel or an Error was issued `[pt, en]` (an expiry, or an approver's reason,
    /// issue 13): the first line of each `description`, and the alert's `note` (CAP 1.2
    /// §3.2.1: an Error's explanation belongs there). Ignored for an Alert or Update.
    pub withdrawal_reason: Option<[String; 2]>,
}

/// The probability an alert's CAP `certainty` is read from: P(wind ≥ `threshold_kt`
/// within 0–`window_h` h), the highest among the alert's districts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CertaintyProbability {
    pub p: f64,
    pub threshold_kt: f64,
    pub window_h: f64,
}

/// CAP `senderName` by default: Mozambique's disaster agency, the alerting authority
/// (Lei 10/2020 created INGD in place of INGC), not the tool that drafts the alert
/// (issue 13). `[service] sender_name` sets it.
pub const AUTHORITY_NAME: &str =
    "INGD — Instituto Nacional de Gestão e Redução do Risco de Desastres";

impl Default for CapOptions {
    fn default() -> Self {
        CapOptions {
            sender_name: AUTHORITY_NAME.to_string(),
            web: None,
            expires_after_h: 12.0,
            max_polygon_vertices: 100,
            incident: None,
            certainty_probability: None,
            extra_instruction: None,
            withdrawal_reason: None,
        }
    }
}

/// The reason of a Cancel or Error, when given and not blank.
fn withdrawal_reason<'a>(v: &AlertVersion, opts: &'a CapOptions) -> Option<&'a [String; 2]> {
    opts.withdrawal_reason
        .as_ref()
        .filter(|r| v.msg_type.withdraws() && r.iter().any(|t| !t.trim().is_empty()))
}

/// Small wrapper so every element is one call; quick-xml escapes the text.
struct Xml {
    w: Writer<Vec<u8>>,
}

impl Xml {
    fn open(&mut self, name: &str) -> std::io::Result<()> {
        self.w.write_event(Event::Start(BytesStart::new(name)))
    }
    fn close(&mut self, name: &str) -> std::io::Result<()> {
        self.w.write_event(Event::End(BytesEnd::new(name)))
    }
    fn leaf(&mut self, name: &str, text: &str) -> std::io::Result<()> {
        self.open(name)?;
        self.w.write_event(Event::Text(BytesText::new(text)))?;
        self.close(name)
    }
    fn value(&mut self, element: &str, name: &str, value: &str) -> std::io::Result<()> {
        self.open(element)?;
        self.leaf("valueName", name)?;
        self.leaf("value", value)?;
        self.close(element)
    }
}

/// What CAP needs of a language: the index of its `info` (Portuguese first), its
/// RFC 3066 code, and the level's name in it.
pub(crate) trait CapLang {
    fn index(self) -> usize;
    fn code(self) -> &'static str;
    fn level(self, l: Level) -> &'static str;
}

impl CapLang for Lang {
    fn index(self) -> usize {
        match self {
            Lang::Pt => 0,
            Lang::En => 1,
        }
    }
    fn code(self) -> &'static str {
        match self {
            Lang::Pt => "pt-PT",
            Lang::En => "en-US",
        }
    }
    fn level(self, l: Level) -> &'static str {
        l.name(self)
    }
}

/// The geometry of one level's area: the forecast swath of the lowest wind threshold of
/// the rules that put districts at that level (swaths of lower thresholds contain those
/// of higher ones, so it covers every district's hazard), or the cone for cone rules.
fn level_geometry<'a>(
    a: &'a Assessment,
    rules: &LevelRules,
    level: Level,
) -> Option<&'a MultiPolygon<f64>> {
    let mut lowest: Option<f64> = None;
    let mut cone = false;
    for dl in a.levels.values().filter(|l| l.level == level) {
        match rules.rule.get(dl.rule).map(|r| r.hazard) {
            Some(RuleHazard::Wind { threshold_kt }) => {
                lowest = Some(lowest.map_or(threshold_kt, |l: f64| l.min(threshold_kt)));
            }
            Some(RuleHazard::Cone) => cone = true,
            // A district raised by a probability has no official footprint at its level:
            // its geocode stands for it (the area is the union of polygons and geocodes).
            Some(RuleHazard::Probability { .. }) | None => {}
        }
    }
    match lowest {
        Some(t) => a
            .hazard
            .forecast_swaths
            .iter()
            .find(|s| s.period == Period::Forecast && (s.threshold_kt - t).abs() < 0.5)
            .map(|s| &s.geometry),
        None if cone => a.hazard.cone.as_ref().map(|c| &c.geometry),
        None => None,
    }
}

/// The hazard-specific content of a CAP document: what the shared writer
/// ([`write_cap`]) puts into each `info` and `area`. Arrays are `[Portuguese, English]`.
pub(crate) struct InfoParts {
    pub event: [&'static str; 2],
    pub grading: Grading,
    pub onset: Option<DateTime<Utc>>,
    pub expires: DateTime<Utc>,
    pub headline: [String; 2],
    pub description: [String; 2],
    pub instruction: [String; 2],
    pub parameters: Vec<(&'static str, String)>,
    /// The `polygon`s of each level's area (none: the area has geocodes only).
    pub polygons: BTreeMap<Level, Vec<String>>,
}

/// `expires` = `reference` + `hours`, refused outside 1..=240 h (a mistyped option must
/// not produce an alert that never lapses, nor panic in chrono's Duration). A forecast
/// already that old when the version is `sent` (a replay, an exercise on a past storm)
/// expires `hours` after `sent` instead: CAP 1.2 `expires` is when the message's
/// information lapses, and it must never precede `sent` (issue 17).
pub(crate) fn expires_at(
    reference: DateTime<Utc>,
    sent: DateTime<Utc>,
    hours: f64,
    identifier: &str,
) -> Result<DateTime<Utc>, CapError> {
    let after = |t: DateTime<Utc>| {
        (1.0..=240.0)
            .contains(&hours)
            .then(|| Duration::try_minutes((hours * 60.0).round() as i64))
            .flatten()
            .and_then(|d| t.checked_add_signed(d))
            .ok_or_else(|| CapError::Expires {
                identifier: identifier.to_string(),
                found: hours,
            })
    };
    let from_reference = after(reference)?;
    if from_reference > sent {
        Ok(from_reference)
    } else {
        after(sent)
    }
}

/// Writes the CAP 1.2 document of `a` as version `v`. `rules` are the level rules the
/// assessment used (they say which hazard put each district at its level).
pub fn cap_document(
    a: &Assessment,
    v: &AlertVersion,
    rules: &LevelRules,
    opts: &CapOptions,
) -> Result<String, CapError> {
    let expires = expires_at(
        a.forecast.reference_time,
        v.sent,
        opts.expires_after_h,
        &v.identifier,
    )?;
    let event_level = if v.msg_type.withdraws() {
        None
    } else {
        a.event_level
    };
    // Earliest arrival of the lowest forecast wind in a district on the ladder.
    let first = a
        .exposure
        .districts
        .iter()
        .filter(|d| v.districts.contains_key(&d.pcode))
        .filter_map(|d| d.widest())
        .min_by(|p, q| p.lead_time_h.total_cmp(&q.lead_time_h));
    let mut grading = grading(v.msg_type, event_level, first.map(|w| w.lead_time_h));
    let mut parameters: Vec<(&str, String)> = vec![
        ("aviso:version", v.version.to_string()),
        (
            "aviso:event_level",
            event_level.map_or("none".to_string(), |l| l.name_en().to_string()),
        ),
        (
            "aviso:trigger",
            serde_json::to_value(a.trigger.state)
                .ok()
                .and_then(|s| s.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
        ("aviso:trigger_version", a.trigger.version.clone()),
        ("aviso:levels_version", a.levels_version.clone()),
        (
            "aviso:reference_time",
            cap_datetime(a.forecast.reference_time),
        ),
        (
            "aviso:landfall",
            a.hazard
                .landfall
                .as_ref()
                .map_or("none".to_string(), |l| cap_datetime(l.time)),
        ),
    ];
    // Issue 12: with a probabilistic assessment, certainty is the probability in CAP's
    // words (CAP 1.2 §3.2.2; mapping in `alerts::probabilistic`, docs/probabilistic.md).
    if let (Some(cp), Some(_)) = (opts.certainty_probability, event_level) {
        let already_there = first.is_some_and(|w| w.lead_time_h <= 0.0);
        grading.certainty = certainty_from_probability(cp.p, already_there);
        parameters.push(("aviso:certainty_probability", format!("{:.3}", cp.p)));
        parameters.push((
            "aviso:certainty_basis",
            format!(
                "highest P(wind >= {} kt, 10-minute mean, within 0-{} h) of the alert's districts",
                cp.threshold_kt, cp.window_h
            ),
        ));
    }
    let polygons = by_level(v)
        .keys()
        .filter_map(|l| {
            level_geometry(a, rules, l.0).map(|g| (l.0, cap_polygons(g, opts.max_polygon_vertices)))
        })
        .collect();
    let parts = InfoParts {
        event: ["Ciclone tropical", "Tropical cyclone"],
        grading,
        onset: match (first, event_level) {
            (Some(w), Some(_)) => Some(w.first_arrival),
            _ => None,
        },
        expires,
        headline: Lang::ALL.map(|l| headline(l, a, v)),
        description: Lang::ALL.map(|l| description(l, a, v)),
        instruction: Lang::ALL
            .map(|l| with_extra(instruction(l, v.msg_type, event_level), opts, l)),
        parameters,
        polygons,
    };
    write_cap(v, opts, &parts)
}

/// Writes the CAP 1.2 document of version `v` with the hazard's `parts`: the alert header,
/// one `info` per language, and one `area` per level (or, for a Cancel, one area of the
/// districts called off).
pub(crate) fn write_cap(
    v: &AlertVersion,
    opts: &CapOptions,
    parts: &InfoParts,
) -> Result<String, CapError> {
    let wrap = |source| CapError::Write {
        identifier: v.identifier.clone(),
        source,
    };
    let mut x = Xml {
        w: Writer::new_with_indent(Vec::new(), b' ', 2),
    };
    write(&mut x, v, opts, parts).map_err(wrap)?;
    String::from_utf8(x.w.into_inner()).map_err(|e| CapError::Utf8 {
        identifier: v.identifier.clone(),
        at: e.utf8_error().valid_up_to(),
    })
}

fn write(
    x: &mut Xml,
    v: &AlertVersion,
    opts: &CapOptions,
    parts: &InfoParts,
) -> std::io::Result<()> {
    x.w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    x.w.write_event(Event::Start(
        BytesStart::new("alert").with_attributes([("xmlns", CAP_NS)]),
    ))?;
    x.leaf("identifier", &v.identifier)?;
    x.leaf("sender", &v.sender)?;
    x.leaf("sent", &cap_datetime(v.sent))?;
    x.leaf("status", v.status.as_str())?;
    x.leaf("msgType", v.msg_type.as_str())?;
    x.leaf("scope", "Public")?;
    let mut notes = Vec::new();
    if matches!(
        v.status,
        CapStatus::Test | CapStatus::Exercise | CapStatus::Draft
    ) {
        // CAP 1.2 requires a note for Exercise; Test and Draft get one too, so a reader
        // of the raw message sees it is not real.
        notes.push(format!(
            "{} / {}: não é um aviso real, não agir / not a real alert, do not act",
            v.status.label().map_or("", |l| l.0),
            v.status.label().map_or("", |l| l.1),
        ));
    }
    let why = withdrawal_reason(v, opts);
    if let Some([pt, en]) = why {
        notes.push(format!("{pt} / {en}"));
    }
    if !notes.is_empty() {
        x.leaf("note", &notes.join(" — "))?;
    }
    if let Some(r) = &v.references {
        x.leaf("references", r)?;
    }
    x.leaf("incidents", opts.incident.as_deref().unwrap_or(&v.event_id))?;

    let g = &parts.grading;
    let levels = by_level(v);
    for lang in Lang::ALL {
        let i = lang.index();
        x.open("info")?;
        x.leaf("language", lang.code())?;
        // CAP 1.2 §3.2.2: "Met - Meteorological (inc. flood)": cyclones and floods alike.
        x.leaf("category", "Met")?;
        x.leaf("event", parts.event.get(i).copied().unwrap_or_default())?;
        for r in &g.response_types {
            x.leaf("responseType", r)?;
        }
        x.leaf("urgency", g.urgency)?;
        x.leaf("severity", g.severity)?;
        x.leaf("certainty", g.certainty)?;
        x.open("eventCode")?;
        x.leaf("valueName", "aviso:event_id")?;
        x.leaf("value", &v.event_id)?;
        x.close("eventCode")?;
        x.leaf("effective", &cap_datetime(v.sent))?;
        if let Some(onset) = parts.onset {
            x.leaf("onset", &cap_datetime(onset))?;
        }
        x.leaf("expires", &cap_datetime(parts.expires))?;
        x.leaf("senderName", &opts.sender_name)?;
        x.leaf("headline", parts.headline.get(i).map_or("", String::as_str))?;
        let description = parts.description.get(i).map_or("", String::as_str);
        match why.map(|w| &w[i]) {
            Some(w) => x.leaf(
                "description",
                &format!("{}: {w}\n{description}", lang.pick("Motivo", "Reason")),
            )?,
            None => x.leaf("description", description)?,
        }
        x.leaf(
            "instruction",
            parts.instruction.get(i).map_or("", String::as_str),
        )?;
        if let Some(web) = &opts.web {
            x.leaf("web", web)?;
        }
        for (k, val) in &parts.parameters {
            x.value("parameter", k, val)?;
        }
        if v.msg_type.withdraws() {
            // What is being called off: the districts of the previous version.
            if !v.changes.removed.is_empty() {
                x.open("area")?;
                let names: Vec<&str> = v.changes.removed.iter().map(|c| c.name.as_str()).collect();
                x.leaf(
                    "areaDesc",
                    &format!(
                        "{}: {}",
                        lang.pick("Fim do aviso", "All clear"),
                        names.join(", ")
                    ),
                )?;
                for c in &v.changes.removed {
                    x.value("geocode", "ADM2_PCODE", &c.pcode)?;
                }
                x.close("area")?;
            }
        } else {
            for (level, ds) in &levels {
                x.open("area")?;
                let names: Vec<&str> = ds.iter().map(|d| d.1.as_str()).collect();
                x.leaf(
                    "areaDesc",
                    &format!(
                        "{} {}: {}",
                        lang.pick("Nível", "Level"),
                        lang.level(level.0),
                        names.join(", ")
                    ),
                )?;
                for p in parts.polygons.get(&level.0).into_iter().flatten() {
                    x.leaf("polygon", p)?;
                }
                for d in ds {
                    x.value("geocode", "ADM2_PCODE", &d.0)?;
                }
                let provinces: BTreeSet<&str> = ds.iter().filter_map(|d| d.2.as_deref()).collect();
                for p in provinces {
                    x.value("geocode", "ADM1_PCODE", p)?;
                }
                x.close("area")?;
            }
        }
        x.close("info")?;
    }
    x.close("alert")
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn text_is_escaped_by_the_writer() {
        let mut x = Xml {
            w: Writer::new(Vec::new()),
        };
        x.leaf("headline", "A <b> & \"c\"").unwrap();
        let s = String::from_utf8(x.w.into_inner()).unwrap();
        assert!(s.contains("A &lt;b&gt; &amp;"), "{s}");
        assert!(!s.contains("<b>"), "{s}");
    }

    #[test]
    fn red_soon_is_immediate_extreme_likely_evacuate() {
        let g = grading(MsgType::Alert, Some(Level::Red), Some(8.0));
        assert_eq!(
            (g.urgency, g.severity, g.certainty),
            ("Immediate", "Extreme", "Likely")
        );
        assert_eq!(g.response_types, vec!["Evacuate", "Prepare"]);
    }

    #[test]
    fn far_or_cone_only_threats_are_future_and_possible() {
        let g = grading(MsgType::Update, Some(Level::Orange), Some(90.0));
        assert_eq!((g.urgency, g.certainty), ("Future", "Possible"));
        let g = grading(MsgType::Update, Some(Level::Green), Some(2.0));
        assert_eq!((g.urgency, g.severity), ("Future", "Minor"));
        assert_eq!(g.response_types, vec!["Monitor"]);
        let g = grading(MsgType::Cancel, Some(Level::Red), Some(2.0));
        assert_eq!(g.response_types, vec!["AllClear"]);
    }

    #[test]
    fn a_detailed_polygon_is_simplified_closed_and_latitude_first() {
        // A 400-vertex circle of 1° radius around 35 E, 18 S.
        let ring: Vec<(f64, f64)> = (0..400)
            .map(|i| {
                let t = i as f64 / 400.0 * std::f64::consts::TAU;
                (35.0 + t.cos(), -18.0 + t.sin())
            })
            .collect();
        let mp = MultiPolygon::new(vec![Polygon::new(ring.into(), vec![])]);
        let out = cap_polygons(&mp, 50);
        assert_eq!(out.len(), 1);
        let pairs: Vec<&str> = out[0].split(' ').collect();
        assert!(pairs.len() >= 4 && pairs.len() <= 50, "{}", pairs.len());
        assert_eq!(pairs.first(), pairs.last());
        let (lat, lon) = pairs[0].split_once(',').unwrap();
        assert!(lat.parse::<f64>().unwrap() < -16.0);
        assert!(lon.parse::<f64>().unwrap() > 33.0);
        // A square needs no simplification.
        let sq = polygon![(x: 35.0, y: -18.0), (x: 36.0, y: -18.0), (x: 36.0, y: -17.0), (x: 35.0, y: -17.0)];
        let out = cap_polygons(&MultiPolygon::new(vec![sq]), 50);
        assert_eq!(
            out[0],
            "-18.0000,35.0000 -18.0000,36.0000 -17.0000,36.0000 -17.0000,35.0000 -18.0000,35.0000"
        );
    }
}
