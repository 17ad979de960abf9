//! Cyclone track formats parsed into [`crate::domain::Forecast`]: Météo-France RSMC La Réunion
//! CMRSTRACK GeoJSON ([`rsmc`]), JTWC/ATCF a-/b-decks ([`atcf`]) and IBTrACS best-track CSV
//! ([`ibtracs`]) and ECMWF tropical-cyclone track BUFR ([`ecmwf_bufr`], decoded by ecCodes
//! through [`eccodes`]), with format detection from the content and one error type.
//!
//! Pure: bytes in, domain out. Must not do file or network I/O, nor depend on tokio, HTTP
//! clients or GDAL; fetching (HTTP, retries) belongs elsewhere and hands the bytes over.
//! The exceptions are [`fetch`], the HTTP client every feed is fetched with, and
//! [`bufr_child`], which runs the BUFR decoder in a child process; the parsers (including
//! [`gdacs`], active-storm discovery) never call them. How BUFR is decoded is the caller's
//! choice ([`BufrDecoder`]): the service and the CLI isolate it ([`bufr_child`]), the
//! child itself and the fuzz tests decode in-process ([`InProcessBufr`]).

pub mod atcf;
pub mod bufr_child;
pub mod config;
pub mod eccodes;
pub mod ecmwf_bufr;
pub mod fetch;
pub mod floods;
pub mod gdacs;
pub mod ibtracs;
pub mod rsmc;

use std::collections::HashMap;
use std::fmt;

use crate::domain::{FixKind, Forecast, TrackPoint};

pub use ibtracs::StormSelector;

/// Default input size cap: 64 MiB. The inputs aviso reads are small (an RSMC product is
/// 100–200 kB, the shared IBTrACS extract 0.3 MB, an ATCF deck tens of kB); only the global
/// all-storms IBTrACS CSV is bigger (hundreds of MB), and it should be cut to a basin or period
/// before use. Anything over the cap is more likely a wrong URL or a runaway download than a
/// track, so it is refused before parsing; [`ParseOptions::max_input_bytes`] raises it.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// The formats [`detect_format`] recognises, in the words used in error messages.
pub const EXPECTED_FORMATS: &str = "Météo-France RSMC CMRSTRACK GeoJSON (a FeatureCollection with \
cyclone_name/production_center), IBTrACS CSV (header starting SID,SEASON), IBTrACS derived CSV \
(header sid,step,time), JTWC/ATCF deck text (lines like \"SH, 11, 2023030912, ...\") or ECMWF \
tropical-cyclone track BUFR (starting with \"BUFR\")";

/// Where in an input a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The document as a whole (e.g. a top-level JSON member, or "no points at all").
    Document,
    /// A 1-based line number of a text input (ATCF, CSV).
    Line(u64),
    /// A 0-based index into a GeoJSON `features` array.
    Feature(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Document => write!(f, "top level"),
            Location::Line(n) => write!(f, "line {n}"),
            Location::Feature(i) => write!(f, "feature {i}"),
        }
    }
}

/// Everything that can go wrong turning track bytes into a [`Forecast`]. Every variant names
/// the origin (file path or URL) and, where it applies, the place and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(
        "{origin}: input is {size_bytes} bytes, over the {max_bytes}-byte limit for a track \
         file; check the source URL/path, or raise the limit if the file is genuine"
    )]
    TooLarge {
        origin: String,
        size_bytes: usize,
        max_bytes: usize,
    },

    #[error(
        "{origin}: unknown track format: expected {expected}; the input starts with \"{found}\""
    )]
    UnknownFormat {
        origin: String,
        expected: &'static str,
        found: String,
    },

    #[error(
        "{origin}: line {line}, column {column}: invalid JSON ({message}); expected {expected}"
    )]
    Json {
        origin: String,
        line: usize,
        column: usize,
        message: String,
        expected: &'static str,
    },

    #[error("{origin}: {at}: CSV error ({message})")]
    Csv {
        origin: String,
        at: Location,
        message: String,
    },

    #[error("{origin}: {at}, {field}: expected {expected}, found {found}")]
    Invalid {
        origin: String,
        at: Location,
        field: String,
        expected: String,
        found: String,
    },

    #[error("{origin}: {at}, {field}: {what} {value} out of range {range}{hint}")]
    OutOfRange {
        origin: String,
        at: Location,
        field: String,
        /// "latitude" or "longitude".
        what: &'static str,
        value: f64,
        range: &'static str,
        /// ": are lon/lat swapped?" when swapping would make the pair valid, else empty.
        hint: &'static str,
    },

    #[error(
        "{origin}: missing required column {column}; expected it in the header, found: {found}"
    )]
    MissingColumn {
        origin: String,
        column: &'static str,
        found: String,
    },

    #[error("{origin}: empty track: expected at least one {expected}, found {found}")]
    EmptyTrack {
        origin: String,
        expected: &'static str,
        found: String,
    },

    #[error(
        "{origin}: no storm matches {selector}; storms in this file (name season sid):\n{available}{hint}"
    )]
    NoStormMatch {
        origin: String,
        selector: String,
        available: String,
        /// Extra advice (e.g. "this file has no names: pass a SID→name table"), or empty.
        hint: String,
    },

    #[error(
        "{origin}: {selector} matches {count} storms; choose one with --sid (or narrow --name/--season) (name season sid):\n{candidates}"
    )]
    AmbiguousStorm {
        origin: String,
        selector: String,
        count: usize,
        candidates: String,
    },

    #[error(
        "{origin}: expected a cyclone track, found {found}; it is read with its stations and discharge files (feeds::floods::parse_forecast, or `aviso assess --forecast` on it)"
    )]
    NotATrack { origin: String, found: &'static str },

    /// ECMWF tropical-cyclone track BUFR (names the file, message and subset itself).
    #[error(transparent)]
    Bufr(#[from] ecmwf_bufr::BufrError),

    /// The BUFR decoder child process crashed, hung, failed or wrote no result (names the
    /// file and what happened to the child).
    #[error(transparent)]
    BufrChild(#[from] bufr_child::DecodeError),

    #[error("{origin}: no ATCF lines for tech {wanted}; techs in this file: {available}")]
    NoSuchTech {
        origin: String,
        wanted: String,
        available: String,
    },
}

/// The track formats aviso reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackFormat {
    /// Météo-France RSMC La Réunion "CMRSTRACK" GeoJSON.
    RsmcJson,
    /// JTWC/ATCF a-deck or b-deck text.
    Atcf,
    /// IBTrACS v04 CSV (header + units row).
    IbtracsCsv,
    /// The derived 12-hourly IBTrACS extract (`sid,step,time,...`).
    IbtracsDerivedCsv,
    /// ECMWF tropical-cyclone track BUFR (deterministic and/or ensemble members); [`parse`]
    /// returns the headline member ([`crate::domain::EnsembleForecast::headline`]).
    EcmwfBufr,
    /// Not a track: a river-station flood forecast (exceedance probabilities CSV), read by
    /// [`floods::parse_forecast`] with its stations and discharge files.
    FloodProbabilitiesCsv,
}

/// What [`parse`] needs besides the bytes. `Default` selects nothing in particular, uses the
/// ATCF default tech (JTWC, else OFCL, else BEST) and the [`DEFAULT_MAX_INPUT_BYTES`] cap.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Which storm of a multi-storm IBTrACS file.
    pub storm: StormSelector,
    /// SID → NAME for the derived IBTrACS file, which has no names (see
    /// [`ibtracs::parse_sid_names`]).
    pub names: HashMap<String, String>,
    /// ATCF tech (aid) to read, e.g. "JTWC", "OFCL", "BEST", "AVNO"; `None` for the default.
    pub atcf_tech: Option<String>,
    /// Inputs larger than this are refused before parsing.
    pub max_input_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            storm: StormSelector::default(),
            names: HashMap::new(),
            atcf_tech: None,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// A parsed forecast with the format it came in and notes on what the parser decided
/// (dropped duplicate fixes, wind conversions), for logs and method notes.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedForecast {
    pub forecast: Forecast,
    pub format: TrackFormat,
    pub notes: Vec<String>,
}

/// Recognises a track format from the content (never from the file name).
pub fn detect_format(bytes: &[u8]) -> Option<TrackFormat> {
    if ecmwf_bufr::looks_like_bufr(bytes) {
        return Some(TrackFormat::EcmwfBufr);
    }
    let text = strip_bom(bytes);
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    let body = &text[start..];
    if body.first() == Some(&b'{') {
        let looks_rsmc = contains(body, b"\"features\"")
            && (contains(body, b"\"cyclone_name\"") || contains(body, b"\"production_center\""));
        return looks_rsmc.then_some(TrackFormat::RsmcJson);
    }
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let first_line = String::from_utf8_lossy(first_line);
    let cells: Vec<&str> = first_line.trim_end().split(',').map(str::trim).collect();
    if floods::looks_like_probabilities(body) {
        return Some(TrackFormat::FloodProbabilitiesCsv);
    }
    match cells.as_slice() {
        ["SID", "SEASON", ..] => Some(TrackFormat::IbtracsCsv),
        ["sid", "step", "time", ..] => Some(TrackFormat::IbtracsDerivedCsv),
        _ if atcf::looks_like_atcf_line(&first_line) => Some(TrackFormat::Atcf),
        _ => None,
    }
}

/// How ECMWF BUFR is decoded: ecCodes is C, and a damaged file can crash it, so the service
/// and the CLI decode in a child process ([`bufr_child::ChildDecoder`]); the child itself
/// and the fuzz tests decode in this process ([`InProcessBufr`]).
pub trait BufrDecoder: Send + Sync {
    /// Every member of every message of `bytes`; `origin` (URL or path) names the source in
    /// errors.
    fn decode(&self, bytes: &[u8], origin: &str) -> Result<ecmwf_bufr::ParsedEnsemble, FeedError>;
}

/// Decodes BUFR in this process ([`ecmwf_bufr::parse`]): a crash of ecCodes ends it.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcessBufr;

impl BufrDecoder for InProcessBufr {
    fn decode(&self, bytes: &[u8], origin: &str) -> Result<ecmwf_bufr::ParsedEnsemble, FeedError> {
        Ok(ecmwf_bufr::parse(bytes, origin)?)
    }
}

/// Parses any supported format into a forecast, with the parser's notes; BUFR is decoded in
/// this process ([`parse_with`] chooses).
pub fn parse(bytes: &[u8], origin: &str, opts: &ParseOptions) -> Result<ParsedForecast, FeedError> {
    parse_with(bytes, origin, opts, &InProcessBufr)
}

/// [`parse`], decoding BUFR with `bufr`.
pub fn parse_with(
    bytes: &[u8],
    origin: &str,
    opts: &ParseOptions,
    bufr: &dyn BufrDecoder,
) -> Result<ParsedForecast, FeedError> {
    if bytes.len() > opts.max_input_bytes {
        return Err(FeedError::TooLarge {
            origin: origin.to_string(),
            size_bytes: bytes.len(),
            max_bytes: opts.max_input_bytes,
        });
    }
    match detect_format(bytes) {
        Some(TrackFormat::RsmcJson) => rsmc::parse(bytes, origin),
        Some(TrackFormat::Atcf) => atcf::parse(bytes, origin, opts.atcf_tech.as_deref()),
        Some(TrackFormat::IbtracsCsv) => ibtracs::parse(bytes, origin, &opts.storm),
        Some(TrackFormat::IbtracsDerivedCsv) => {
            ibtracs::parse_derived(bytes, origin, &opts.storm, &opts.names)
        }
        Some(TrackFormat::EcmwfBufr) => {
            bufr_headline(&bufr.decode(bytes, origin)?, origin).map(|(p, _)| p)
        }
        Some(TrackFormat::FloodProbabilitiesCsv) => Err(FeedError::NotATrack {
            origin: origin.to_string(),
            found: "a river-station flood forecast (exceedance probabilities CSV)",
        }),
        None => Err(FeedError::UnknownFormat {
            origin: origin.to_string(),
            expected: EXPECTED_FORMATS,
            found: escaped_prefix(bytes, 80),
        }),
    }
}

/// Reads an ECMWF TC-track BUFR and returns its headline member (deterministic run, else
/// control; see [`crate::domain::EnsembleForecast::headline`]) as a forecast, with the number
/// of members in the file. The notes say which member it is and what the parser decided.
pub fn parse_bufr_headline(
    bytes: &[u8],
    origin: &str,
) -> Result<(ParsedForecast, usize), FeedError> {
    bufr_headline(&ecmwf_bufr::parse(bytes, origin)?, origin)
}

/// The headline member of a decoded ECMWF TC-track BUFR (see [`parse_bufr_headline`]).
pub fn bufr_headline(
    parsed: &ecmwf_bufr::ParsedEnsemble,
    origin: &str,
) -> Result<(ParsedForecast, usize), FeedError> {
    let e = &parsed.ensemble;
    let Some(head) = e.headline() else {
        return Err(FeedError::EmptyTrack {
            origin: origin.to_string(),
            expected: "ECMWF member with a storm centre",
            found: format!(
                "{} members, none with a centre at any step",
                e.members.len()
            ),
        });
    };
    let mut notes = vec![format!(
        "ECMWF TC tracks: {} members; this forecast is member {} ({})",
        e.members.len(),
        head.number,
        head.role.label()
    )];
    notes.extend(parsed.notes.iter().cloned());
    let forecast = head.forecast.clone();
    Ok((
        ParsedForecast {
            forecast,
            format: TrackFormat::EcmwfBufr,
            notes,
        },
        e.members.len(),
    ))
}

/// Parses any supported format into a forecast (see [`parse`] for the notes as well).
pub fn parse_forecast(
    bytes: &[u8],
    origin: &str,
    opts: &ParseOptions,
) -> Result<Forecast, FeedError> {
    parse(bytes, origin, opts).map(|p| p.forecast)
}

// ---- helpers shared by the format modules ----

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first characters of the input, escaped (control characters, quotes, non-ASCII), at most
/// `max_chars` long, so an error message shows what arrived without dumping binary.
pub(crate) fn escaped_prefix(bytes: &[u8], max_chars: usize) -> String {
    let head = bytes.get(..max_chars * 4).unwrap_or(bytes);
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for c in text.chars() {
        let esc: String = c.escape_default().collect();
        if out.chars().count() + esc.chars().count() > max_chars {
            break;
        }
        out.push_str(&esc);
    }
    out
}

/// Validates a lon/lat pair (EPSG:4326, lon −180..180, lat −90..90). When the pair is invalid
/// but would be valid swapped, the error says so: lat/lon order mix-ups are the commonest
/// error in hand-edited or re-exported GeoJSON.
pub(crate) fn check_lon_lat(
    origin: &str,
    at: Location,
    field: &str,
    lon: f64,
    lat: f64,
) -> Result<(), FeedError> {
    let swapped_ok = lon.abs() <= 90.0 && lat.abs() <= 180.0;
    let hint = if swapped_ok {
        ": are lon/lat swapped?"
    } else {
        ""
    };
    let err = |what, value, range| FeedError::OutOfRange {
        origin: origin.to_string(),
        at: at.clone(),
        field: field.to_string(),
        what,
        value,
        range,
        hint,
    };
    if !lat.is_finite() || lat.abs() > 90.0 {
        return Err(err("latitude", lat, "−90..90"));
    }
    if !lon.is_finite() || lon.abs() > 180.0 {
        return Err(err("longitude", lon, "−180..180"));
    }
    Ok(())
}

/// Sorts fixes by time and keeps one fix per time. Where an analysis and a forecast fix share
/// a time (RSMC repeats its latest analysis as the forecast's first point), the forecast copy
/// is kept: it is the start of what is coming. Otherwise the first fix in input order wins.
/// Returns the times that were dropped, for notes.
pub(crate) fn sort_and_dedupe(
    points: &mut Vec<TrackPoint>,
) -> Vec<(chrono::DateTime<chrono::Utc>, FixKind)> {
    points.sort_by_key(|p| p.time); // stable: input order kept within a time
    let mut kept: Vec<TrackPoint> = Vec::with_capacity(points.len());
    let mut dropped = Vec::new();
    for p in points.drain(..) {
        match kept.last_mut() {
            Some(last) if last.time == p.time => {
                if last.kind == FixKind::Analysis && p.kind == FixKind::Forecast {
                    dropped.push((last.time, last.kind));
                    *last = p;
                } else {
                    dropped.push((p.time, p.kind));
                }
            }
            _ => kept.push(p),
        }
    }
    *points = kept;
    dropped
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn detects_each_format_from_its_first_bytes() {
        assert_eq!(
            detect_format(br#"{"cyclone_name":"X","type":"FeatureCollection","features":[]}"#),
            Some(TrackFormat::RsmcJson)
        );
        assert_eq!(
            detect_format(b"SID,SEASON,NUMBER,BASIN\n,,,\n"),
            Some(TrackFormat::IbtracsCsv)
        );
        assert_eq!(
            detect_format(b"\xEF\xBB\xBFsid,step,time,lat\n"),
            Some(TrackFormat::IbtracsDerivedCsv)
        );
        assert_eq!(
            detect_format(b"SH, 11, 2023030912,   , BEST,   0, 196S, 0372E,  90\n"),
            Some(TrackFormat::Atcf)
        );
        assert_eq!(detect_format(b"<html><body>502</body></html>"), None);
        assert_eq!(
            detect_format(br#"{"type":"FeatureCollection","features":[]}"#),
            None
        );
        assert_eq!(detect_format(b""), None);
    }

    #[test]
    fn escaped_prefix_is_short_and_shows_control_characters() {
        let s = escaped_prefix(b"\x00\x01<html>\n\"quoted\"", 80);
        assert!(s.starts_with("\\u{0}\\u{1}<html>\\n\\\"quoted"), "{s}");
        let long = escaped_prefix(&[b'a'; 500], 80);
        assert_eq!(long.len(), 80);
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let opts = ParseOptions {
            max_input_bytes: 10,
            ..ParseOptions::default()
        };
        let err = parse(b"SID,SEASON,NUMBER\n,,\n", "big.csv", &opts).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("big.csv") && msg.contains("21 bytes") && msg.contains("10-byte"),
            "{msg}"
        );
    }

    #[test]
    fn forecast_copy_wins_over_analysis_at_the_same_time() {
        let t = Utc.with_ymd_and_hms(2023, 3, 10, 4, 0, 0).unwrap();
        let t0 = Utc.with_ymd_and_hms(2023, 3, 9, 22, 0, 0).unwrap();
        let mut pts = vec![
            TrackPoint::new(t, 38.5, -18.9, FixKind::Forecast),
            TrackPoint::new(t0, 38.8, -19.2, FixKind::Analysis),
            TrackPoint::new(t, 38.5, -18.9, FixKind::Analysis),
        ];
        let dropped = sort_and_dedupe(&mut pts);
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[1].kind, FixKind::Forecast);
        assert_eq!(dropped, vec![(t, FixKind::Analysis)]);
    }

    #[test]
    fn swapped_coordinates_get_a_hint() {
        let err = check_lon_lat("f.json", Location::Feature(3), "geometry", -14.79, 106.74)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("feature 3")
                && err.contains("latitude 106.74 out of range −90..90: are lon/lat swapped?"),
            "{err}"
        );
        let err = check_lon_lat("f.json", Location::Feature(0), "geometry", 200.0, 120.0)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("swapped"), "{err}");
    }
}
