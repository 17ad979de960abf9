//! Subscribers: who receives alerts, on which channels, for which areas, from which level
//! and for which hazards; Debug output that redacts personal data. The checks of what an
//! operator entered are in `validate.rs`, the CSV layout used to import and export them
//! (documented there) in `csv.rs`; both are re-exported here.
//!
//! Pure: parses CSV from a reader the caller gives and writes it to memory; opens nothing
//! itself and must not depend on tokio, reqwest or lettre (the e-mail check is a
//! documented one of our own).

use std::collections::BTreeSet;
use std::fmt;

use geo::Polygon;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::levels::Level;

mod csv;
mod validate;

pub use self::csv::{
    CSV_COLUMNS, CsvRows, LIST_SEP, csv_escape, csv_unescape, from_csv, parse_level,
    parse_polygon_cell, polygon_cell, to_csv,
};
pub use self::validate::{check_webhook_url, normalise_e164, normalise_email};

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
    /// Stable id (see the CSV layout in `csv.rs`); the idempotency keys are built on it.
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn known() -> KnownPcodes {
        KnownPcodes::from_pairs([("MZ0906", "MZ09"), ("MZ0907", "MZ09"), ("MZ1103", "MZ11")])
    }

    pub(super) fn beira() -> Subscriber {
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
}
