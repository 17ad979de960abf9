//! Subscribers: who receives alerts, on which channels, for which areas, from which level
//! and for which hazards; validation of what an operator entered, Debug output that
//! redacts personal data, and the CSV layout used to import and export them.
//!
//! Pure: parses CSV from a reader the caller gives (memory, or the import's streamed body:
//! [`CsvRows`] reads one row at a time) and writes it to memory; opens nothing itself and
//! must not depend on tokio, reqwest or lettre (the e-mail check here is a documented one
//! of our own).
//!
//! # CSV layout
//!
//! One subscriber per row, a header row first. Columns may come in any order; `id` and
//! `name` are required, the others optional (default in brackets). Unknown columns are
//! refused, so a typo ("phone" for "phones") cannot silently drop data. Lists are
//! separated by `;`.
//!
//! | column | content |
//! |---|---|
//! | `id` | stable id, 1–64 of `A-Z a-z 0-9 _ . -`; importing the same id again updates |
//! | `name` | person or role, e.g. "Ponto focal Beira" |
//! | `active` | `true`/`false` (also `1`/`0`, `yes`/`no`, `sim`/`nao`) [true] |
//! | `language` | `pt` or `en` [pt] |
//! | `min_level` | `green`, `yellow`, `orange`, `red` (or verde, amarelo, laranja, vermelho) [yellow] |
//! | `hazards` | `cyclone;flood` (or ciclone, cheia); empty means every hazard [] |
//! | `receive_tests` | as `active`: also receive Test and Exercise alerts [false] |
//! | `emails` | e-mail addresses |
//! | `phones` | E.164 numbers, e.g. `+258841234567` (spaces, `-`, `(`, `)` and `.` are dropped) |
//! | `webhooks` | http(s) URLs |
//! | `provinces` | ADM1 P-codes, e.g. `MZ09` |
//! | `districts` | ADM2 P-codes, e.g. `MZ0906` |
//! | `features` | `layer:id` of point features, e.g. `sites:DTM-123` |
//! | `polygon` | a GeoJSON `Polygon` or `MultiPolygon` geometry, lon/lat (EPSG:4326) |
//!
//! The export escapes spreadsheet formulas (OWASP "CSV Injection"): a cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is written with a `'` in front, so
//! `=HYPERLINK(…)` in a name stays text when the file is opened. E.164 numbers start with
//! `+` and are escaped too (`'+258841234567`, which a spreadsheet shows as text instead
//! of turning it into a number); the import removes that one quote again, so an export
//! imports back unchanged ([`csv_escape`], [`csv_unescape`]).
//!
//! Over 600 lines because the subscriber type, its validation and its CSV form are still one
//! file; issue 16 move 5 moves the CSV reading and writing to a file of its own.

use std::collections::BTreeSet;
use std::fmt;

use geo::{BoundingRect, Polygon, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::levels::Level;

/// Separator of list items inside one CSV cell.
pub const LIST_SEP: char = ';';

/// The CSV columns, in the order [`to_csv`] writes them.
pub const CSV_COLUMNS: [&str; 14] = [
    "id",
    "name",
    "active",
    "language",
    "min_level",
    "hazards",
    "receive_tests",
    "emails",
    "phones",
    "webhooks",
    "provinces",
    "districts",
    "features",
    "polygon",
];

#[derive(Debug, Error, PartialEq)]
pub enum SubscriberError {
    /// One field of one subscriber is wrong. `found` describes the problem without
    /// repeating the personal data (the message may end up in a log).
    #[error("subscriber {subscriber:?}{}: field `{field}`: expected {expected}, found {found}", line_suffix(*.line))]
    Invalid {
        subscriber: String,
        line: Option<u64>,
        field: String,
        expected: String,
        found: String,
    },
    /// The CSV itself is malformed (wrong header, unreadable row).
    #[error("subscriber CSV{}{}: {message}", line_suffix(*.line), column_suffix(.column))]
    Csv {
        line: Option<u64>,
        column: Option<String>,
        message: String,
    },
}

fn line_suffix(line: Option<u64>) -> String {
    line.map(|l| format!(" (CSV line {l})")).unwrap_or_default()
}

fn column_suffix(column: &Option<String>) -> String {
    column
        .as_ref()
        .map(|c| format!(", column `{c}`"))
        .unwrap_or_default()
}

/// What kind of channel a [`Channel`] is; also the outbox's channel name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Sms,
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [ChannelKind::Email, ChannelKind::Sms, ChannelKind::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Sms => "sms",
            ChannelKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One way to reach a subscriber. The address is normalised by [`Channel::validated`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An e-mail address (ASCII, domain lower-cased).
    Email(String),
    /// A phone number in E.164 form: `+`, country code, number; 8 to 15 digits.
    Sms(String),
    /// An http or https URL receiving a signed JSON POST.
    Webhook(String),
}

impl Channel {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Channel::Email(_) => ChannelKind::Email,
            Channel::Sms(_) => ChannelKind::Sms,
            Channel::Webhook(_) => ChannelKind::Webhook,
        }
    }

    /// The address itself (personal data: never log it, use [`Channel::redacted`]).
    pub fn address(&self) -> &str {
        match self {
            Channel::Email(a) | Channel::Sms(a) | Channel::Webhook(a) => a,
        }
    }

    /// The address with most of it masked, for logs and Debug output.
    pub fn redacted(&self) -> String {
        match self {
            Channel::Email(a) => redact_email(a),
            Channel::Sms(p) => redact_phone(p),
            Channel::Webhook(u) => redact_url(u),
        }
    }

    /// The channel with its address checked and normalised; `Err` says what is wrong.
    pub fn validated(self) -> Result<Channel, (String, String)> {
        Ok(match self {
            Channel::Email(a) => Channel::Email(normalise_email(&a)?),
            Channel::Sms(p) => Channel::Sms(normalise_e164(&p)?),
            Channel::Webhook(u) => Channel::Webhook(check_webhook_url(&u)?),
        })
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({})", self.kind(), self.redacted())
    }
}

/// The language of a subscriber's messages (the one of every text, `domain::text`).
pub use crate::domain::Lang;

/// The hazard an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HazardKind {
    Cyclone,
    Flood,
}

impl HazardKind {
    pub const ALL: [HazardKind; 2] = [HazardKind::Cyclone, HazardKind::Flood];

    pub fn as_str(self) -> &'static str {
        match self {
            HazardKind::Cyclone => "cyclone",
            HazardKind::Flood => "flood",
        }
    }

    pub fn name(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (HazardKind::Cyclone, Lang::Pt) => "ciclone",
            (HazardKind::Flood, Lang::Pt) => "cheia",
            (HazardKind::Cyclone, Lang::En) => "cyclone",
            (HazardKind::Flood, Lang::En) => "flood",
        }
    }

    pub fn parse(s: &str) -> Option<HazardKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cyclone" | "ciclone" | "tropical_cyclone" => Some(HazardKind::Cyclone),
            "flood" | "cheia" | "cheias" | "inundacao" | "inundação" => Some(HazardKind::Flood),
            _ => None,
        }
    }
}

/// An area a subscriber follows. Serialised (for the store) with the polygon as a GeoJSON
/// geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "AreaRepr", try_from = "AreaRepr")]
pub enum Area {
    /// An ADM1 P-code (OCHA COD-AB), e.g. "MZ09" Sofala: every district in it.
    Province(String),
    /// An ADM2 P-code, e.g. "MZ0906" Cidade da Beira.
    District(String),
    /// A point feature of a reference layer, e.g. a resettlement site: matches when an
    /// alert lists it at risk.
    Feature { layer: String, id: String },
    /// A polygon in EPSG:4326 (x = longitude): matches the districts it intersects.
    Polygon(Polygon<f64>),
}

/// The stored form of an [`Area`].
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum AreaRepr {
    Province(String),
    District(String),
    Feature { layer: String, id: String },
    Polygon(geojson::Geometry),
}

impl From<Area> for AreaRepr {
    fn from(a: Area) -> AreaRepr {
        match a {
            Area::Province(p) => AreaRepr::Province(p),
            Area::District(p) => AreaRepr::District(p),
            Area::Feature { layer, id } => AreaRepr::Feature { layer, id },
            Area::Polygon(p) => {
                AreaRepr::Polygon(geojson::Geometry::new(geojson::GeometryValue::from(&p)))
            }
        }
    }
}

impl TryFrom<AreaRepr> for Area {
    type Error = String;
    fn try_from(r: AreaRepr) -> Result<Area, String> {
        Ok(match r {
            AreaRepr::Province(p) => Area::Province(p),
            AreaRepr::District(p) => Area::District(p),
            AreaRepr::Feature { layer, id } => Area::Feature { layer, id },
            AreaRepr::Polygon(g) => match crate::geodata::geometry::to_geo(&g.value) {
                Ok(geo::Geometry::Polygon(p)) => Area::Polygon(p),
                Ok(_) => {
                    return Err(format!(
                        "expected a Polygon area, found a {}",
                        g.value.type_name()
                    ));
                }
                Err(e) => return Err(format!("polygon area: {e}")),
            },
        })
    }
}

/// A subscriber. Debug output masks the name and every address.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// Stable id (see the module's CSV layout); the idempotency keys are built on it.
    pub id: String,
    pub name: String,
    pub channels: Vec<Channel>,
    pub language: Lang,
    pub areas: Vec<Area>,
    /// Lowest district level that is worth a message to this subscriber.
    pub min_level: Level,
    /// Hazards followed; empty means every hazard.
    pub hazards: Vec<HazardKind>,
    pub active: bool,
    /// Also receive Test and Exercise alerts (marked TESTE / EXERCÍCIO).
    pub receive_tests: bool,
}

impl Default for Subscriber {
    fn default() -> Self {
        Subscriber {
            id: String::new(),
            name: String::new(),
            channels: Vec::new(),
            language: Lang::Pt,
            areas: Vec::new(),
            min_level: Level::Yellow,
            hazards: Vec::new(),
            active: true,
            receive_tests: false,
        }
    }
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id)
            .field("name", &redact_name(&self.name))
            .field("channels", &self.channels)
            .field("language", &self.language)
            .field(
                "areas",
                &self.areas.iter().map(AreaDebug).collect::<Vec<_>>(),
            )
            .field("min_level", &self.min_level)
            .field("hazards", &self.hazards)
            .field("active", &self.active)
            .field("receive_tests", &self.receive_tests)
            .finish()
    }
}

/// Areas in Debug output: a polygon as its size, not its coordinates (they can pinpoint a
/// home as well as an address does).
struct AreaDebug<'a>(&'a Area);

impl fmt::Debug for AreaDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Area::Polygon(p) => write!(f, "Polygon({} vertices)", p.exterior().0.len()),
            other => write!(f, "{other:?}"),
        }
    }
}

impl Subscriber {
    /// Follows this hazard (an empty list follows every hazard).
    pub fn follows(&self, hazard: HazardKind) -> bool {
        self.hazards.is_empty() || self.hazards.contains(&hazard)
    }

    /// Checks every field and normalises the addresses. `line` is the CSV line the
    /// subscriber came from, named in errors.
    pub fn validate(
        mut self,
        known: &KnownPcodes,
        line: Option<u64>,
    ) -> Result<Subscriber, SubscriberError> {
        let sid = self.id.clone();
        let err = |field: &str, expected: &str, found: String| SubscriberError::Invalid {
            subscriber: sid.clone(),
            line,
            field: field.to_string(),
            expected: expected.to_string(),
            found,
        };
        if !valid_id(&self.id) {
            return Err(err(
                "id",
                "1 to 64 characters of A-Z a-z 0-9 _ . -",
                format!("{:?}", self.id),
            ));
        }
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(err(
                "name",
                "a name of 1 to 200 characters",
                format!("{} characters", self.name.chars().count()),
            ));
        }
        if self.channels.is_empty() {
            return Err(err(
                "channels",
                "at least one e-mail address, phone number or webhook URL",
                "none".into(),
            ));
        }
        // Fields are named as the CSV columns (and the admin API's JSON keys) with the
        // index within that column: "phones[1]" is the second phone number.
        let mut channels = Vec::with_capacity(self.channels.len());
        let mut seen_kind = std::collections::BTreeMap::new();
        for c in std::mem::take(&mut self.channels) {
            let i = seen_kind.entry(c.kind()).or_insert(0usize);
            let column = match c.kind() {
                ChannelKind::Email => "emails",
                ChannelKind::Sms => "phones",
                ChannelKind::Webhook => "webhooks",
            };
            let field = format!("{column}[{i}]");
            *i += 1;
            let c = c
                .validated()
                .map_err(|(expected, found)| err(&field, &expected, found))?;
            if !channels.contains(&c) {
                channels.push(c);
            }
        }
        self.channels = channels;
        if self.areas.is_empty() {
            return Err(err(
                "areas",
                "at least one province, district, feature or polygon",
                "none".into(),
            ));
        }
        let mut seen_area = [0usize; 4];
        for a in &self.areas {
            let slot = match a {
                Area::Province(_) => 0,
                Area::District(_) => 1,
                Area::Feature { .. } => 2,
                Area::Polygon(_) => 3,
            };
            let i = seen_area[slot]; // ok: slot is 0..=3
            seen_area[slot] += 1; // ok: slot is 0..=3
            match a {
                Area::Province(p) if !known.provinces.contains(p) => {
                    return Err(err(
                        &format!("provinces[{i}]"),
                        "a known ADM1 P-code such as MZ09",
                        format!("{p:?}"),
                    ));
                }
                Area::District(p) if !known.districts.contains(p) => {
                    return Err(err(
                        &format!("districts[{i}]"),
                        "a known ADM2 P-code such as MZ0906",
                        format!("{p:?}"),
                    ));
                }
                Area::Feature { layer, id }
                    if !valid_feature_part(layer) || !valid_feature_part(id) =>
                {
                    return Err(err(
                        &format!("features[{i}]"),
                        "layer:id, both non-empty without ';' or ':'",
                        format!("{layer:?}:{id:?}"),
                    ));
                }
                Area::Polygon(p) => {
                    check_polygon(p).map_err(|found| {
                        err(
                            &format!("polygon[{i}]"),
                            "a valid polygon (OGC simple features) in lon/lat, lon in -180..180, lat in -90..90",
                            found,
                        )
                    })?;
                }
                _ => {}
            }
        }
        let mut seen = BTreeSet::new();
        self.hazards.retain(|h| seen.insert(*h));
        Ok(self)
    }
}

/// The P-codes a subscriber may name (from the loaded boundary layers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KnownPcodes {
    pub provinces: BTreeSet<String>,
    pub districts: BTreeSet<String>,
}

impl KnownPcodes {
    /// From (ADM2 P-code, ADM1 P-code) pairs, e.g. the rows of the district layer.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> KnownPcodes {
        let mut k = KnownPcodes::default();
        for (d, p) in pairs {
            k.districts.insert(d.to_string());
            k.provinces.insert(p.to_string());
        }
        k
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_feature_part(s: &str) -> bool {
    !s.trim().is_empty() && !s.contains([';', ':'])
}

fn check_polygon(p: &Polygon<f64>) -> Result<(), String> {
    if p.exterior().0.len() < 4 {
        return Err(format!(
            "an exterior ring of {} points (a ring needs at least 4, closing point included)",
            p.exterior().0.len()
        ));
    }
    let Some(bb) = p.bounding_rect() else {
        return Err("an empty polygon".into());
    };
    let (min, max) = (bb.min(), bb.max());
    if !(min.x >= -180.0 && max.x <= 180.0 && min.y >= -90.0 && max.y <= 90.0) {
        return Err(format!(
            "a bounding box of lon {:.3}..{:.3}, lat {:.3}..{:.3} (lat/lon swapped or not EPSG:4326?)",
            min.x, max.x, min.y, max.y
        ));
    }
    if let Err(e) = p.check_validation() {
        return Err(format!("an invalid polygon: {e}"));
    }
    Ok(())
}

/// E.164 (ITU-T E.164 §6): a `+`, then 8 to 15 digits, the first (country code) not 0.
/// Spaces, `-`, `(`, `)` and `.` typed for readability are dropped first; nothing else is
/// rewritten (a national number without its country code is refused, not guessed).
/// The error describes the problem without repeating the number.
pub fn normalise_e164(raw: &str) -> Result<String, (String, String)> {
    const EXPECTED: &str =
        "an E.164 number: '+', country code, number (8 to 15 digits), e.g. +258841234567";
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{a0}'))
        .collect();
    let Some(digits) = s.strip_prefix('+') else {
        return Err((EXPECTED.into(), "no leading '+'".into()));
    };
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err((EXPECTED.into(), format!("the non-digit {c:?}")));
    }
    if !(8..=15).contains(&digits.len()) {
        return Err((EXPECTED.into(), format!("{} digits", digits.len())));
    }
    if digits.starts_with('0') {
        return Err((
            EXPECTED.into(),
            "a 0 right after '+' (no country code starts with 0)".into(),
        ));
    }
    Ok(s)
}

/// A documented e-mail check (a practical subset of RFC 5321/5322 addresses, ASCII only):
/// one `@`; a local part of 1–64 characters of letters, digits and ``!#$%&'*+/=?^_`{|}~-``
/// with single dots inside; a domain of at most 253 characters and at least two labels,
/// each 1–63 letters, digits or inner hyphens, the last one not all digits. Quoted local
/// parts, IP-literal domains and internationalised addresses (RFC 6531, which needs
/// SMTPUTF8 on every relay) are refused. The domain is lower-cased.
pub fn normalise_email(raw: &str) -> Result<String, (String, String)> {
    const EXPECTED: &str = "an e-mail address like name@example.org";
    let s = raw.trim();
    if !s.is_ascii() {
        return Err((EXPECTED.into(), "non-ASCII characters".into()));
    }
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err((EXPECTED.into(), format!("{} '@'", s.matches('@').count())));
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if local.is_empty() || local.len() > 64 {
        return Err((
            EXPECTED.into(),
            format!("a local part of {} characters", local.len()),
        ));
    }
    if local
        .split('.')
        .any(|a| a.is_empty() || !a.chars().all(atext))
    {
        return Err((
            EXPECTED.into(),
            "a local part with a character outside letters, digits and !#$%&'*+/=?^_`{|}~- or a misplaced dot".into(),
        ));
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err((
            EXPECTED.into(),
            "a domain that is not host.tld (labels of letters, digits and inner hyphens)".into(),
        ));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err((EXPECTED.into(), "a numeric top-level domain".into()));
    }
    Ok(format!("{local}@{domain}"))
}

/// A webhook URL: `http://` or `https://`, a host, no spaces, no `;`.
pub fn check_webhook_url(raw: &str) -> Result<String, (String, String)> {
    const EXPECTED: &str = "an http:// or https:// URL";
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("https://") {
        r
    } else if let Some(r) = lower.strip_prefix("http://") {
        r
    } else {
        let scheme = lower.split(':').next().unwrap_or_default();
        return Err((EXPECTED.into(), format!("the scheme {scheme:?}")));
    };
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((EXPECTED.into(), "whitespace in the URL".into()));
    }
    // ';' separates list items in the CSV layout: a URL needing one writes it as %3B.
    if s.contains(LIST_SEP) {
        return Err((EXPECTED.into(), "a ';' (write it as %3B)".into()));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    if host.is_empty() && !authority.contains('[') {
        return Err((EXPECTED.into(), "no host".into()));
    }
    Ok(s.to_string())
}

/// `+25884*****67`: the country code and operator prefix stay readable (they help
/// diagnose a gateway), the subscriber's own digits do not.
pub fn redact_phone(p: &str) -> String {
    let digits: Vec<char> = p.trim_start_matches('+').chars().collect();
    if digits.len() < 8 {
        return "+***".into();
    }
    let head: String = digits.iter().take(5).collect();
    let tail: String = digits.iter().skip(digits.len() - 2).collect();
    format!("+{head}{}{tail}", "*".repeat(digits.len() - 7))
}

/// `a***@example.org`: the domain stays (it says which organisation), the person does not.
pub fn redact_email(a: &str) -> String {
    match a.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// `https://hooks.example.org/…`: the host only; paths and queries often carry tokens.
pub fn redact_url(u: &str) -> String {
    let (scheme, rest) = u.split_once("://").unwrap_or(("?", u));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}/…")
}

/// `M***`: a name is personal data too.
pub fn redact_name(n: &str) -> String {
    let first: String = n.chars().take(1).collect();
    format!("{first}***")
}

// --- CSV -------------------------------------------------------------------------------

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "sim" | "s" => Some(true),
        "false" | "0" | "no" | "n" | "nao" | "não" => Some(false),
        _ => None,
    }
}

/// A level by its English or Portuguese name.
pub fn parse_level(s: &str) -> Option<Level> {
    let s = s.trim().to_ascii_lowercase();
    Level::ALL
        .into_iter()
        .find(|l| l.name_en() == s || l.name_pt() == s)
}

/// A cell a spreadsheet would read as a formula, or a quoted one [`csv_escape`] wrote
/// (so the escape can be undone exactly, even for a value that starts with `'`).
fn formula_like(cell: &str) -> bool {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => true,
        Some('\'') => cell.strip_prefix('\'').is_some_and(formula_like),
        _ => false,
    }
}

/// A cell as the export writes it: `'` in front of one a spreadsheet would evaluate.
pub fn csv_escape(cell: &str) -> std::borrow::Cow<'_, str> {
    if formula_like(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The inverse of [`csv_escape`], applied to every cell the import reads.
pub fn csv_unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

fn list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(LIST_SEP)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Reads subscribers from CSV (layout in the module doc), validating each row. The first
/// error stops the import and names its line and column, so a file is imported whole or
/// not at all.
pub fn from_csv(bytes: &[u8], known: &KnownPcodes) -> Result<Vec<Subscriber>, SubscriberError> {
    let mut rows = CsvRows::new(bytes, known)?;
    let mut out = Vec::new();
    while let Some((s, _line)) = rows.next_row()? {
        out.push(s);
    }
    Ok(out)
}

/// Subscribers read from CSV one row at a time, each parsed and validated as
/// [`from_csv`] does (which is built on it), its id checked against the earlier rows'.
/// Holds one row and the ids seen, whatever the file's size: the import streams its
/// body through it (issue 17 finding 4).
pub struct CsvRows<'k, R: std::io::Read> {
    rdr: csv::Reader<R>,
    /// Column name (lower case) -> index.
    col: std::collections::BTreeMap<String, usize>,
    ids: BTreeSet<String>,
    known: &'k KnownPcodes,
    rec: csv::StringRecord,
}

impl<'k, R: std::io::Read> CsvRows<'k, R> {
    /// Reads and checks the header row.
    pub fn new(reader: R, known: &'k KnownPcodes) -> Result<Self, SubscriberError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers = rdr
            .headers()
            .map_err(|e| SubscriberError::Csv {
                line: Some(1),
                column: None,
                message: format!("cannot read the header row: {e}"),
            })?
            .clone();
        let mut col = std::collections::BTreeMap::new();
        for (i, h) in headers.iter().enumerate() {
            let h = h.trim_start_matches('\u{feff}').to_ascii_lowercase();
            if !CSV_COLUMNS.contains(&h.as_str()) {
                return Err(SubscriberError::Csv {
                    line: Some(1),
                    column: Some(h.clone()),
                    message: format!(
                        "unknown column; expected some of {}",
                        CSV_COLUMNS.join(", ")
                    ),
                });
            }
            if col.insert(h.clone(), i).is_some() {
                return Err(SubscriberError::Csv {
                    line: Some(1),
                    column: Some(h),
                    message: "column appears twice".into(),
                });
            }
        }
        for required in ["id", "name"] {
            if !col.contains_key(required) {
                return Err(SubscriberError::Csv {
                    line: Some(1),
                    column: Some(required.into()),
                    message: "required column missing".into(),
                });
            }
        }
        Ok(CsvRows {
            rdr,
            col,
            ids: BTreeSet::new(),
            known,
            rec: csv::StringRecord::new(),
        })
    }

    /// The next subscriber and its CSV line; `None` after the last row.
    pub fn next_row(&mut self) -> Result<Option<(Subscriber, Option<u64>)>, SubscriberError> {
        let more = self
            .rdr
            .read_record(&mut self.rec)
            .map_err(|e| SubscriberError::Csv {
                line: e.position().map(|p| p.line()),
                column: None,
                message: e.to_string(),
            })?;
        if !more {
            return Ok(None);
        }
        let (rec, col, known, ids) = (&self.rec, &self.col, self.known, &mut self.ids);
        let line = rec.position().map(|p| p.line());
        let cell = |name: &str| -> &str {
            col.get(name)
                .and_then(|&i| rec.get(i))
                .map_or("", csv_unescape)
        };
        let bad = |column: &str, message: String| SubscriberError::Csv {
            line,
            column: Some(column.to_string()),
            message,
        };
        let flag = |name: &str, default: bool| -> Result<bool, SubscriberError> {
            let c = cell(name);
            if c.is_empty() {
                return Ok(default);
            }
            parse_bool(c).ok_or_else(|| bad(name, format!("expected true or false, found {c:?}")))
        };
        let mut s = Subscriber {
            id: cell("id").to_string(),
            name: cell("name").to_string(),
            active: flag("active", true)?,
            receive_tests: flag("receive_tests", false)?,
            ..Subscriber::default()
        };
        if !cell("language").is_empty() {
            s.language = Lang::parse(cell("language")).ok_or_else(|| {
                bad(
                    "language",
                    format!("expected pt or en, found {:?}", cell("language")),
                )
            })?;
        }
        if !cell("min_level").is_empty() {
            s.min_level = parse_level(cell("min_level")).ok_or_else(|| {
                bad(
                    "min_level",
                    format!(
                        "expected green, yellow, orange or red, found {:?}",
                        cell("min_level")
                    ),
                )
            })?;
        }
        for h in list(cell("hazards")) {
            s.hazards.push(HazardKind::parse(h).ok_or_else(|| {
                bad("hazards", format!("expected cyclone or flood, found {h:?}"))
            })?);
        }
        s.channels
            .extend(list(cell("emails")).map(|a| Channel::Email(a.into())));
        s.channels
            .extend(list(cell("phones")).map(|a| Channel::Sms(a.into())));
        s.channels
            .extend(list(cell("webhooks")).map(|a| Channel::Webhook(a.into())));
        s.areas
            .extend(list(cell("provinces")).map(|p| Area::Province(p.to_ascii_uppercase())));
        s.areas
            .extend(list(cell("districts")).map(|p| Area::District(p.to_ascii_uppercase())));
        for f in list(cell("features")) {
            let (layer, id) = f
                .split_once(':')
                .ok_or_else(|| bad("features", format!("expected layer:id, found {f:?}")))?;
            s.areas.push(Area::Feature {
                layer: layer.trim().into(),
                id: id.trim().into(),
            });
        }
        if !cell("polygon").is_empty() {
            let polys = parse_polygon_cell(cell("polygon")).map_err(|m| bad("polygon", m))?;
            s.areas.extend(polys.into_iter().map(Area::Polygon));
        }
        if !ids.insert(s.id.clone()) {
            return Err(bad(
                "id",
                format!("id {:?} appears on an earlier line", s.id),
            ));
        }
        let s = s.validate(known, line)?;
        Ok(Some((s, line)))
    }

    /// The ids of the rows read so far.
    pub fn into_ids(self) -> BTreeSet<String> {
        self.ids
    }
}

/// A GeoJSON Polygon or MultiPolygon geometry, as text, into polygons.
pub fn parse_polygon_cell(text: &str) -> Result<Vec<Polygon<f64>>, String> {
    let g: geojson::Geometry = text
        .parse()
        .map_err(|e| format!("expected a GeoJSON Polygon or MultiPolygon geometry: {e}"))?;
    match crate::geodata::geometry::to_geo(&g.value) {
        Ok(geo::Geometry::Polygon(p)) => Ok(vec![p]),
        Ok(geo::Geometry::MultiPolygon(mp)) => Ok(mp.0),
        Ok(_) => Err(format!(
            "expected a GeoJSON Polygon or MultiPolygon, found a {}",
            g.value.type_name()
        )),
        Err(e) => Err(format!("expected a GeoJSON Polygon or MultiPolygon: {e}")),
    }
}

/// Polygons as one GeoJSON geometry (Polygon for one, MultiPolygon for several).
pub fn polygon_cell(polys: &[&Polygon<f64>]) -> String {
    let value = match polys {
        [] => return String::new(),
        [one] => geojson::GeometryValue::from(*one),
        many => geojson::GeometryValue::from(&geo::MultiPolygon::new(
            many.iter().map(|p| (*p).clone()).collect(),
        )),
    };
    geojson::Geometry::new(value).to_string()
}

/// Writes subscribers as CSV in the module's layout (all columns, [`CSV_COLUMNS`] order).
/// The output contains personal data: it is for the admin export only.
pub fn to_csv(subs: &[Subscriber]) -> Result<String, SubscriberError> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let csv_err = |e: csv::Error| SubscriberError::Csv {
        line: None,
        column: None,
        message: format!("writing CSV: {e}"),
    };
    w.write_record(CSV_COLUMNS).map_err(csv_err)?;
    for s in subs {
        let join = |it: Vec<String>| it.join(&LIST_SEP.to_string());
        let addrs = |k: ChannelKind| {
            join(
                s.channels
                    .iter()
                    .filter(|c| c.kind() == k)
                    .map(|c| c.address().to_string())
                    .collect(),
            )
        };
        let mut provinces = Vec::new();
        let mut districts = Vec::new();
        let mut features = Vec::new();
        let mut polys = Vec::new();
        for a in &s.areas {
            match a {
                Area::Province(p) => provinces.push(p.clone()),
                Area::District(p) => districts.push(p.clone()),
                Area::Feature { layer, id } => features.push(format!("{layer}:{id}")),
                Area::Polygon(p) => polys.push(p),
            }
        }
        let row = [
            s.id.clone(),
            s.name.clone(),
            s.active.to_string(),
            s.language.as_str().to_string(),
            s.min_level.name_en().to_string(),
            join(s.hazards.iter().map(|h| h.as_str().to_string()).collect()),
            s.receive_tests.to_string(),
            addrs(ChannelKind::Email),
            addrs(ChannelKind::Sms),
            addrs(ChannelKind::Webhook),
            join(provinces),
            join(districts),
            join(features),
            polygon_cell(&polys),
        ];
        w.write_record(row.iter().map(|c| csv_escape(c).into_owned()))
            .map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| SubscriberError::Csv {
        line: None,
        column: None,
        message: format!("writing CSV: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|e| SubscriberError::Csv {
        line: None,
        column: None,
        message: format!("CSV output is not UTF-8: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::LineString;

    fn known() -> KnownPcodes {
        KnownPcodes::from_pairs([("MZ0906", "MZ09"), ("MZ0907", "MZ09"), ("MZ1103", "MZ11")])
    }

    fn beira() -> Subscriber {
        Subscriber {
            id: "pf-beira".into(),
            name: "Ponto focal Beira".into(),
            channels: vec![
                Channel::Email("Ana.Silva@Example.ORG".into()),
                Channel::Sms("+258 84 123 4567".into()),
            ],
            areas: vec![Area::District("MZ0906".into())],
            ..Subscriber::default()
        }
    }

    #[test]
    fn phone_numbers_are_accepted_only_in_e164_form() {
        assert_eq!(normalise_e164("+258 84 123 4567").unwrap(), "+258841234567");
        assert_eq!(normalise_e164("+1 (202) 555-0143").unwrap(), "+12025550143");
        for (bad, why) in [
            ("841234567", "no leading '+'"),
            ("+0258841234567", "a 0 right after '+'"),
            ("+2588412", "7 digits"),
            ("+2588412345678901", "16 digits"),
            ("+25884x234567", "non-digit"),
        ] {
            let (_, found) = normalise_e164(bad).unwrap_err();
            assert!(found.contains(why), "{bad}: {found}");
        }
    }

    #[test]
    fn email_addresses_are_checked_and_the_domain_lower_cased() {
        assert_eq!(
            normalise_email(" Ana.Silva@Example.ORG ").unwrap(),
            "Ana.Silva@example.org"
        );
        assert!(normalise_email("o'neil+alerts@iom.int").is_ok());
        for bad in [
            "ana.example.org",
            "ana@@example.org",
            "ana@example",
            ".ana@example.org",
            "ana..silva@example.org",
            "ana@-example.org",
            "ana@exa mple.org",
            "joão@example.org",
            "ana@1.2.3.4",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn formula_cells_are_escaped_and_the_escape_undone_exactly() {
        for (raw, written) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+258841234567", "'+258841234567"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("'=x", "''=x"),
            ("'plain", "'plain"),
            ("Beira", "Beira"),
            ("", ""),
        ] {
            assert_eq!(csv_escape(raw), written);
            assert_eq!(csv_unescape(written), raw);
        }
    }

    #[test]
    fn webhooks_must_be_http_or_https() {
        assert!(check_webhook_url("https://hooks.example.org/aviso?t=1").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_webhook_url("ftp://example.org/").is_err());
        assert!(check_webhook_url("https:///path").is_err());
        assert!(check_webhook_url("https://exa mple.org/").is_err());
    }

    #[test]
    fn debug_output_masks_names_phones_and_emails() {
        let s = beira().validate(&known(), None).unwrap();
        let dbg = format!("{s:?}");
        assert!(dbg.contains("+25884*****67"), "{dbg}");
        assert!(dbg.contains("A***@example.org"), "{dbg}");
        assert!(dbg.contains("P***"), "{dbg}");
        for secret in ["841234567", "1234567", "Silva", "Ponto focal"] {
            assert!(!dbg.contains(secret), "{secret} leaked in {dbg}");
        }
        assert_eq!(
            redact_url("https://user:pw@hooks.example.org/T0KEN?x=1"),
            "https://hooks.example.org/…"
        );
    }

    #[test]
    fn validation_names_the_subscriber_line_and_field() {
        let mut s = beira();
        s.areas.push(Area::District("MZ9999".into()));
        let e = s.validate(&known(), Some(7)).unwrap_err().to_string();
        assert!(
            e.contains("pf-beira") && e.contains("line 7") && e.contains("districts[1]"),
            "{e}"
        );
        assert!(e.contains("MZ9999"), "{e}");

        let mut s = beira();
        s.channels.push(Channel::Sms("0841234567".into()));
        let e = s.validate(&known(), None).unwrap_err().to_string();
        assert!(e.contains("phones[1]") && e.contains("E.164"), "{e}");
        assert!(
            !e.contains("0841234567"),
            "the number itself must not be echoed: {e}"
        );
    }

    #[test]
    fn a_self_intersecting_or_swapped_polygon_is_refused() {
        let bowtie = Polygon::new(
            LineString::from(vec![
                (34.0, -20.0),
                (35.0, -19.0),
                (35.0, -20.0),
                (34.0, -19.0),
                (34.0, -20.0),
            ]),
            vec![],
        );
        let mut s = beira();
        s.areas = vec![Area::Polygon(bowtie)];
        let e = s.validate(&known(), None).unwrap_err().to_string();
        assert!(e.contains("polygon[0]") && e.contains("invalid"), "{e}");

        // A latitude of 120 degrees can only come from swapped or projected coordinates.
        let swapped = Polygon::new(
            LineString::from(vec![
                (-19.9, 34.8),
                (-19.8, 120.0),
                (-19.7, 34.8),
                (-19.9, 34.8),
            ]),
            vec![],
        );
        let mut s = beira();
        s.areas = vec![Area::Polygon(swapped)];
        let e = s.validate(&known(), None).unwrap_err().to_string();
        assert!(e.contains("lat"), "{e}");
    }
}
