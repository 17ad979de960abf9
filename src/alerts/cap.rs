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
//! Over 600 lines: about 760 of code plus unit tests. The CAP document and its texts
//! (headline, description, instruction in pt and en) must agree element by element; the
//! texts are the issue-16 move 5 cut (`cap/text.rs`) when the approval workflow edits them.

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
        }
    }
}

/// CAP `urgency`, `severity`, `certainty` and `responseType`s of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grading {
    pub urgency: &'static str,
    pub severity: &'static str,
    pub certainty: &'static str,
    pub response_types: Vec<&'static str>,
}

/// Maps the event level and the lead time to CAP's grading.
///
/// `lead_h` is the hours from the reference time to the first arrival of the lowest
/// forecast wind (gale, 34 kt) in any district on the ladder: once gales blow, nobody can
/// move or secure anything, so that is the time by which action must be done.
///
/// - urgency (CAP: when responsive action should be taken):
///   Immediate when gales arrive within 12 h (before the product after next: waiting for
///   another forecast would be too late); Expected within 48 h (action "soon", inside the
///   2026 AA action window); Future beyond, and for a green (cone-only) event whatever the
///   lead, since no wind is forecast there.
/// - severity (CAP: threat to life or property) follows the level, i.e. the wind:
///   red (≥ 64 kt, cyclone force, within 72 h) Extreme; orange (≥ 64 kt later or ≥ 48 kt,
///   severe tropical storm) Severe; yellow (≥ 34 kt, gales) Moderate; green Minor.
/// - certainty (CAP: Observed / Likely > ~50 % / Possible ≤ ~50 %): Observed when the
///   winds are already there (lead ≤ 0: the tau-0 radii are an analysis); Likely up to
///   72 h; Possible beyond 72 h, where RSMC track errors (~150 nm at 72 h) exceed the width
///   of most swaths, and for a green event (the district is only in the cone).
/// - responseType: red Evacuate + Prepare (the last three days are when people are moved
///   to accommodation centres); orange and yellow Prepare; green Monitor.
/// - A Cancel: urgency Past, severity Minor, certainty Likely (a forecast says the threat
///   has gone), responseType AllClear.
pub fn grading(msg_type: MsgType, event_level: Option<Level>, lead_h: Option<f64>) -> Grading {
    let level = match (msg_type, event_level) {
        (MsgType::Cancel, _) | (_, None) => {
            return Grading {
                urgency: "Past",
                severity: "Minor",
                certainty: "Likely",
                response_types: vec!["AllClear"],
            };
        }
        (_, Some(l)) => l,
    };
    let green = level == Level::Green;
    let urgency = match lead_h {
        _ if green => "Future",
        Some(h) if h <= 12.0 => "Immediate",
        Some(h) if h <= 48.0 => "Expected",
        _ => "Future",
    };
    let severity = match level {
        Level::Red => "Extreme",
        Level::Orange => "Severe",
        Level::Yellow => "Moderate",
        Level::Green => "Minor",
    };
    let certainty = match lead_h {
        _ if green => "Possible",
        Some(h) if h <= 0.0 => "Observed",
        Some(h) if h <= 72.0 => "Likely",
        _ => "Possible",
    };
    let response_types = match level {
        Level::Red => vec!["Evacuate", "Prepare"],
        Level::Orange | Level::Yellow => vec!["Prepare"],
        Level::Green => vec!["Monitor"],
    };
    Grading {
        urgency,
        severity,
        certainty,
        response_types,
    }
}

/// The CAP `polygon`s of a (multi)polygon: each part's exterior ring as "lat,lon" pairs
/// (CAP 1.2 §3.3.2: WGS 84, latitude first), 4 decimals (~11 m), first = last, at most
/// `max_vertices`. Holes are dropped: CAP polygons have none, and a hole in a swath is
/// not a safe place.
///
/// Parts are simplified with Ramer–Douglas–Peucker (geo's `Simplify`), the tolerance
/// doubling from 0.001° (~110 m) until the ring fits and is still a valid polygon; if no
/// tolerance gives a valid ring, the part's convex hull is used, which is always valid
/// and only errs on the side of covering more. The tolerance is in degrees because it is
/// a shape tolerance, not a distance anything is measured with.
pub fn cap_polygons(mp: &MultiPolygon<f64>, max_vertices: usize) -> Vec<String> {
    let max_vertices = max_vertices.max(4);
    mp.0.iter()
        .filter_map(|p| {
            let outer = Polygon::new(p.exterior().clone(), vec![]);
            let fitted =
                fit(&outer, max_vertices).or_else(|| fit(&outer.convex_hull(), max_vertices))?;
            ring_text(&fitted)
        })
        .collect()
}

fn fit(p: &Polygon<f64>, max_vertices: usize) -> Option<Polygon<f64>> {
    let mut eps = 0.001;
    for _ in 0..24 {
        let s = p.simplify(eps);
        let n = s.exterior().0.len();
        if n >= 4 && n <= max_vertices && s.is_valid() {
            return Some(s);
        }
        eps *= 2.0;
    }
    None
}

fn ring_text(p: &Polygon<f64>) -> Option<String> {
    let mut pts: Vec<String> = Vec::new();
    for c in &p.exterior().0 {
        let s = format!("{:.4},{:.4}", c.y, c.x);
        if pts.last() != Some(&s) {
            pts.push(s);
        }
    }
    if let (Some(first), Some(last)) = (pts.first().cloned(), pts.last())
        && &first != last
    {
        pts.push(first);
    }
    (pts.len() >= 4).then(|| pts.join(" "))
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

pub(crate) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(crate) fn people(n: f64) -> String {
    // Thousands grouped with a narrow no-break space, readable in both languages.
    group_thousands(n, '\u{202f}')
}

/// Districts per level (highest first): level -> (P-code, name, province P-code).
pub(crate) type ByLevel = BTreeMap<std::cmp::Reverse<Level>, Vec<(String, String, Option<String>)>>;

pub(crate) fn by_level(v: &AlertVersion) -> ByLevel {
    let mut m: ByLevel = BTreeMap::new();
    for (pcode, d) in &v.districts {
        m.entry(std::cmp::Reverse(d.level)).or_default().push((
            pcode.clone(),
            d.name.clone(),
            d.province_pcode.clone(),
        ));
    }
    m
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

fn headline(lang: Lang, a: &Assessment, v: &AlertVersion) -> String {
    let name = &a.forecast.storm.name;
    headline_for(
        lang,
        v,
        a.event_level,
        [
            &format!("Ciclone tropical {name}"),
            &format!("Tropical cyclone {name}"),
        ],
    )
}

/// "<subject>: nível X — n distrito(s) no aviso", or the all-clear, prefixed with the
/// status label (TESTE, EXERCÍCIO) so nobody acts on a test. `subject` is
/// `[Portuguese, English]`.
pub(crate) fn headline_for(
    lang: Lang,
    v: &AlertVersion,
    event_level: Option<Level>,
    subject: [&str; 2],
) -> String {
    let name = subject.get(lang.index()).copied().unwrap_or_default();
    let n = v.districts.len();
    let body = match (v.msg_type, event_level) {
        (MsgType::Cancel, _) | (_, None) => match lang {
            Lang::Pt => format!("{name}: fim do aviso, nenhum distrito em risco"),
            Lang::En => format!("{name}: all clear, no district at risk"),
        },
        (_, Some(l)) => match lang {
            Lang::Pt => format!("{name}: nível {} — {n} distrito(s) no aviso", l.name_pt()),
            Lang::En => format!("{name}: {} level — {n} district(s) on alert", l.name_en()),
        },
    };
    match v.status.label() {
        Some((pt, en)) => format!("{}: {body}", lang.pick(pt, en)),
        None => body,
    }
}

fn description(lang: Lang, a: &Assessment, v: &AlertVersion) -> String {
    let mut lines: Vec<String> = Vec::new();
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    lines.push(format!(
        "{} {} ({}), {} {}; {} {}.",
        t("Previsão", "Forecast"),
        a.forecast.source.label(),
        a.forecast.storm.id,
        t("emitida", "issued"),
        utc(a.forecast.issued),
        t("referência", "reference time"),
        utc(a.forecast.reference_time),
    ));
    lines.extend(level_lines(lang, v));
    for total in &a.exposure.national {
        if total.districts > 0 {
            lines.push(format!(
                "≥ {} kt: {} {} {} {}.",
                total.threshold_kt,
                people(total.people_at_risk),
                t("pessoas em risco em", "people at risk in"),
                total.districts,
                t("distritos", "districts"),
            ));
        }
    }
    match &a.hazard.landfall {
        Some(lf) => lines.push(format!(
            "{}: {} (+{:.0} h), {:.2}°S {:.2}°E{}.",
            t("Chegada a terra prevista", "Forecast landfall"),
            utc(lf.time),
            lf.lead_time_h,
            -lf.lat,
            lf.lon,
            lf.wind_kt
                .map(|w| format!(", {w:.0} kt"))
                .unwrap_or_default(),
        )),
        None => lines.push(
            t(
                "Sem chegada a terra na previsão.",
                "No landfall in the forecast.",
            )
            .to_string(),
        ),
    }
    // The trigger's reason is written in English by the trigger module; the Portuguese
    // text keeps to the bilingual state label.
    lines.push(match lang {
        Lang::Pt => format!(
            "Gatilho de acção antecipatória: {}.",
            a.trigger.state.label()
        ),
        Lang::En => format!(
            "Anticipatory-action trigger: {} — {}.",
            a.trigger.state.label(),
            a.trigger.reason
        ),
    });
    lines.extend(changes_line(lang, v));
    lines.join("\n")
}

/// "Since version N: a added, r raised, l lowered, d removed." when anything changed.
pub(crate) fn changes_line(lang: Lang, v: &AlertVersion) -> Option<String> {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let c = &v.changes;
    (v.version > 1 && !c.is_empty()).then(|| {
        format!(
            "{} {}: {} {}, {} {}, {} {}, {} {}.",
            t("Desde a versão", "Since version"),
            v.version - 1,
            c.added.len(),
            t("acrescentados", "added"),
            c.raised.len(),
            t("subiram", "raised"),
            c.lowered.len(),
            t("desceram", "lowered"),
            c.removed.len(),
            t("retirados", "removed"),
        )
    })
}

/// Per-language levels line: "Nível vermelho (2): A, B." for each level, highest first.
pub(crate) fn level_lines(lang: Lang, v: &AlertVersion) -> Vec<String> {
    by_level(v)
        .into_iter()
        .map(|(l, ds)| {
            let names: Vec<&str> = ds.iter().map(|d| d.1.as_str()).collect();
            format!(
                "{} {} ({}): {}.",
                lang.pick("Nível", "Level"),
                lang.level(l.0),
                ds.len(),
                names.join(", ")
            )
        })
        .collect()
}

fn instruction(lang: Lang, msg_type: MsgType, level: Option<Level>) -> &'static str {
    match (msg_type, level) {
        (MsgType::Cancel, _) | (_, None) => lang.pick(
            "O aviso terminou. Siga as orientações do INGD e das autoridades locais sobre o regresso e a resposta.",
            "The warning has ended. Follow INGD and local authorities on return and response.",
        ),
        (_, Some(Level::Red)) => lang.pick(
            "Nível vermelho: prepare e execute a evacuação para os centros de acomodação seguros; siga as ordens do INGD e dos COE. Nos restantes níveis, prepare-se.",
            "Red level: prepare and carry out evacuation to safe accommodation centres; follow INGD and the COEs. Elsewhere, prepare.",
        ),
        (_, Some(Level::Orange)) => lang.pick(
            "Pré-posicione meios, reforce abrigos e identifique centros de acomodação seguros; siga as orientações do INGD.",
            "Pre-position resources, secure shelters and identify safe accommodation centres; follow INGD guidance.",
        ),
        (_, Some(Level::Yellow)) => lang.pick(
            "Prepare-se para ventos fortes: prenda coberturas, recolha barcos e acompanhe os avisos do INGD.",
            "Prepare for strong winds: secure roofs, bring boats ashore and follow INGD warnings.",
        ),
        (_, Some(Level::Green)) => lang.pick(
            "Acompanhe as próximas previsões e os avisos do INGD.",
            "Monitor the next forecasts and INGD warnings.",
        ),
    }
}

/// The hazard-specific content of a CAP document: what the shared writer
/// The standard instruction `base` followed by the editor's one in `lang`, if any.
pub(crate) fn with_extra(base: &str, opts: &CapOptions, lang: Lang) -> String {
    let i = usize::from(lang == Lang::En);
    match opts.extra_instruction.as_ref().map(|x| x[i].trim()) {
        Some(extra) if !extra.is_empty() => format!("{base} {extra}"),
        _ => base.to_string(),
    }
}

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
    let event_level = if v.msg_type == MsgType::Cancel {
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
    if matches!(
        v.status,
        CapStatus::Test | CapStatus::Exercise | CapStatus::Draft
    ) {
        // CAP 1.2 requires a note for Exercise; Test and Draft get one too, so a reader
        // of the raw message sees it is not real.
        x.leaf(
            "note",
            &format!(
                "{} / {}: não é um aviso real, não agir / not a real alert, do not act",
                v.status.label().map_or("", |l| l.0),
                v.status.label().map_or("", |l| l.1),
            ),
        )?;
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
        x.leaf(
            "description",
            parts.description.get(i).map_or("", String::as_str),
        )?;
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
        if v.msg_type == MsgType::Cancel {
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
