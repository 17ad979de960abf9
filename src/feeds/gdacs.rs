//! GDACS GeoRSS (the Global Disaster Alert and Coordination System's `rss.xml`, EC JRC / UN
//! OCHA) parsed into events, and the discovery of active tropical cyclones in the South-West
//! Indian Ocean: which storms exist now, so aviso knows which RSMC/JTWC products to fetch.
//!
//! Pure: bytes in, events out. Must not do file or network I/O, nor depend on tokio, HTTP
//! clients or GDAL (`feeds::fetch` fetches the feed and hands the bytes over).
//!
//! One bad item does not hide the others: an item missing a required element (event type,
//! event id, current flag, position) or with a position out of range is skipped and reported
//! in [`GdacsFeed::warnings`]; a malformed optional element (dates, bbox, severity, episode,
//! year) is dropped with a warning and the item kept. Malformed XML, a document that is not
//! RSS, or a feed whose items are all unusable fails as a whole.
//!
//! Over 600 lines: about 800 of code (a streaming GeoRSS reader with per-item recovery and
//! a message naming the line of every refused item) plus unit tests. One parser, one job;
//! splitting the reader from the event builder is the issue-16 move 5 cut if it grows.

use std::fmt;

use chrono::{DateTime, Utc};
use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

/// The `gdacs:` namespace of the feed.
const NS_GDACS: &[u8] = b"http://www.gdacs.org";
/// W3C Basic Geo (WGS84 lat/long) vocabulary: `geo:Point`, `geo:lat`, `geo:long`.
const NS_GEO: &[u8] = b"http://www.w3.org/2003/01/geo/wgs84_pos#";
/// GeoRSS-Simple: `georss:point` holds "lat lon".
const NS_GEORSS: &[u8] = b"http://www.georss.org/georss";

/// One GDACS event (an RSS `item`). Coordinates are EPSG:4326, lon/lat.
#[derive(Debug, Clone, PartialEq)]
pub struct GdacsEvent {
    /// `gdacs:eventtype`: "TC" tropical cyclone, "EQ", "FL", "DR", "VO", "WF", ...
    pub event_type: String,
    /// `gdacs:eventid`: stable per event across episodes (e.g. 1000643 for CALVINIA-19).
    pub event_id: u64,
    /// `gdacs:episodeid`: one per advisory/update of the event.
    pub episode_id: Option<u64>,
    /// `gdacs:eventname`, trimmed: "CALVINIA-19" (name and 2-digit year for cyclones, empty for
    /// most earthquakes).
    pub event_name: String,
    /// The event name without a trailing "-YY"/"-YYYY" year: "CALVINIA".
    pub storm_name: String,
    /// `gdacs:year`.
    pub year: Option<i32>,
    /// `gdacs:alertlevel`: "Green", "Orange" or "Red" (GDACS's impact estimate).
    pub alert_level: Option<String>,
    /// `gdacs:iscurrent`: GDACS still considers the event ongoing.
    pub is_current: bool,
    /// `gdacs:fromdate` (RFC 2822 date in the feed).
    pub from_date: Option<DateTime<Utc>>,
    /// `gdacs:todate`: the latest episode's time for ongoing events.
    pub to_date: Option<DateTime<Utc>>,
    /// Longitude, degrees east (`geo:long`, else the second number of `georss:point`).
    pub lon: f64,
    /// Latitude, degrees north (`geo:lat`, else the first number of `georss:point`).
    pub lat: f64,
    /// [lon_min, lat_min, lon_max, lat_max] (RFC 7946 order), from `gdacs:bbox`, which GDACS
    /// writes as "lonmin lonmax latmin latmax" (the feed's own comment says so). Longitudes
    /// are wrapped into −180..180, so a box across the antimeridian has lon_min > lon_max
    /// (RFC 7946 §5.2).
    pub bbox: Option<[f64; 4]>,
    /// `gdacs:country`, split on commas: "Bulgaria, Iraq, Iran, Turkey" gives four.
    pub countries: Vec<String>,
    /// `gdacs:severity` `value` when its `unit` is "km/h": for cyclones, the maximum
    /// sustained wind as GDACS reports it (the feed does not state the averaging period).
    pub severity_kmh: Option<f64>,
    /// The RSS `link` (the GDACS report page).
    pub link: Option<String>,
}

/// A parsed feed: the usable events, and what was skipped or dropped on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct GdacsFeed {
    pub events: Vec<GdacsEvent>,
    /// One [`GdacsError::Item`] per problem, each saying whether the item was skipped or only
    /// the field dropped. To be logged; a non-empty list marks the run degraded, not failed.
    pub warnings: Vec<GdacsError>,
}

/// What happened to an item with a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consequence {
    /// A required element was missing or wrong: the whole item was left out.
    ItemSkipped,
    /// An optional element was malformed: it was set to none, the item kept.
    FieldIgnored,
}

impl fmt::Display for Consequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consequence::ItemSkipped => "item skipped",
            Consequence::FieldIgnored => "field ignored",
        })
    }
}

/// Where in the feed an item sits: its 0-based index among the `item`s, its line, and its
/// event id when that could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemAt {
    pub index: usize,
    pub line: u64,
    pub event_id: Option<u64>,
}

impl fmt::Display for ItemAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {} (line {}", self.index, self.line)?;
        if let Some(id) = self.event_id {
            write!(f, ", eventid {id}")?;
        }
        write!(f, ")")
    }
}

/// Everything that can go wrong reading a GDACS feed. Every message names the origin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GdacsError {
    #[error("{origin}: line {line}: malformed XML: {message}")]
    Xml {
        origin: String,
        line: u64,
        message: String,
    },

    #[error("{origin}: expected a GDACS RSS document (root element <rss>), found {found}")]
    NotRss { origin: String, found: String },

    #[error("{origin}: {at}, <{element}>: expected {expected}, found {found}; {consequence}")]
    Item {
        origin: String,
        at: ItemAt,
        element: &'static str,
        expected: &'static str,
        found: String,
        consequence: Consequence,
    },

    #[error(
        "{origin}: none of the {items} items could be used (the feed format may have changed); first problem: {first}"
    )]
    NoUsableItems {
        origin: String,
        items: usize,
        first: String,
    },
}

/// A rectangle in lon/lat degrees (EPSG:4326), edges inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basin {
    pub lon_min: f64,
    pub lon_max: f64,
    pub lat_min: f64,
    pub lat_max: f64,
}

impl Basin {
    /// RSMC La Réunion's area of responsibility: the South-West Indian Ocean from the equator
    /// to 40°S, between 30°E (the African coast) and 90°E. Source: WMO, Tropical Cyclone
    /// Operational Plan for the South-West Indian Ocean (WMO/TD-No. 577, TCP-12, RA I Tropical
    /// Cyclone Committee), chapter 1, area of responsibility of RSMC La Réunion.
    pub const SOUTH_WEST_INDIAN: Basin = Basin {
        lon_min: 30.0,
        lon_max: 90.0,
        lat_min: -40.0,
        lat_max: 0.0,
    };

    /// Whether a position lies in the rectangle (edges included).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        (self.lon_min..=self.lon_max).contains(&lon) && (self.lat_min..=self.lat_max).contains(&lat)
    }
}

/// The tropical cyclones GDACS lists as current whose latest position is inside `basin`.
///
/// The test uses the position, not the bbox: the bbox spans the forecast wind field and
/// reaches far beyond the basin a storm is in.
pub fn active_cyclones<'a>(events: &'a [GdacsEvent], basin: &Basin) -> Vec<&'a GdacsEvent> {
    events
        .iter()
        .filter(|e| {
            e.event_type.eq_ignore_ascii_case("TC") && e.is_current && basin.contains(e.lon, e.lat)
        })
        .collect()
}

/// Which element of an item is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Link,
    EventType,
    EventId,
    EpisodeId,
    EventName,
    Year,
    AlertLevel,
    IsCurrent,
    FromDate,
    ToDate,
    Bbox,
    Severity,
    Country,
    GeoLat,
    GeoLong,
    GeorssPoint,
}

/// The namespace of an element, as far as this parser cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    None,
    Gdacs,
    Geo,
    GeoRss,
    Other,
}

fn ns_of(r: &ResolveResult<'_>) -> Ns {
    match r {
        ResolveResult::Unbound => Ns::None,
        ResolveResult::Bound(Namespace(ns)) if *ns == NS_GDACS => Ns::Gdacs,
        ResolveResult::Bound(Namespace(ns)) if *ns == NS_GEO => Ns::Geo,
        ResolveResult::Bound(Namespace(ns)) if *ns == NS_GEORSS => Ns::GeoRss,
        _ => Ns::Other,
    }
}

/// The field a direct child of `item` carries, if any.
fn item_child(ns: Ns, local: &[u8]) -> Option<Field> {
    Some(match (ns, local) {
        (Ns::None, b"link") => Field::Link,
        (Ns::Gdacs, b"eventtype") => Field::EventType,
        (Ns::Gdacs, b"eventid") => Field::EventId,
        (Ns::Gdacs, b"episodeid") => Field::EpisodeId,
        (Ns::Gdacs, b"eventname") => Field::EventName,
        (Ns::Gdacs, b"year") => Field::Year,
        (Ns::Gdacs, b"alertlevel") => Field::AlertLevel,
        (Ns::Gdacs, b"iscurrent") => Field::IsCurrent,
        (Ns::Gdacs, b"fromdate") => Field::FromDate,
        (Ns::Gdacs, b"todate") => Field::ToDate,
        (Ns::Gdacs, b"bbox") => Field::Bbox,
        (Ns::Gdacs, b"severity") => Field::Severity,
        (Ns::Gdacs, b"country") => Field::Country,
        (Ns::GeoRss, b"point") => Field::GeorssPoint,
        _ => return None,
    })
}

/// The raw text of an item's elements, before any checking.
#[derive(Debug, Default)]
struct Draft {
    link: Option<String>,
    event_type: Option<String>,
    event_id: Option<String>,
    episode_id: Option<String>,
    event_name: Option<String>,
    year: Option<String>,
    alert_level: Option<String>,
    is_current: Option<String>,
    from_date: Option<String>,
    to_date: Option<String>,
    bbox: Option<String>,
    severity_unit: Option<String>,
    severity_value: Option<String>,
    country: Option<String>,
    geo_lat: Option<String>,
    geo_long: Option<String>,
    georss_point: Option<String>,
}

impl Draft {
    fn slot(&mut self, f: Field) -> &mut Option<String> {
        match f {
            Field::Link => &mut self.link,
            Field::EventType => &mut self.event_type,
            Field::EventId => &mut self.event_id,
            Field::EpisodeId => &mut self.episode_id,
            Field::EventName => &mut self.event_name,
            Field::Year => &mut self.year,
            Field::AlertLevel => &mut self.alert_level,
            Field::IsCurrent => &mut self.is_current,
            Field::FromDate => &mut self.from_date,
            Field::ToDate => &mut self.to_date,
            Field::Bbox => &mut self.bbox,
            // Never captured as text (see `read_severity_attrs`); kept total for the match.
            Field::Severity => &mut self.severity_value,
            Field::Country => &mut self.country,
            Field::GeoLat => &mut self.geo_lat,
            Field::GeoLong => &mut self.geo_long,
            Field::GeorssPoint => &mut self.georss_point,
        }
    }
}

/// Reading state inside one `item`.
struct ItemState {
    draft: Draft,
    /// Depth of the `item` element.
    depth: usize,
    line: u64,
    /// Inside `geo:Point` (a direct child of the item).
    in_point: bool,
    /// The element whose text is being collected, and its depth.
    capture: Option<(Field, usize, String)>,
}

/// Parses a GDACS GeoRSS feed. `origin` (a URL or path) names the input in errors.
pub fn parse_gdacs_rss(bytes: &[u8], origin: &str) -> Result<GdacsFeed, GdacsError> {
    let text = std::str::from_utf8(bytes).map_err(|e| GdacsError::Xml {
        origin: origin.to_string(),
        line: line_at(bytes, e.valid_up_to()),
        message: format!(
            "expected UTF-8 (GDACS declares utf-8), found an invalid byte at offset {}",
            e.valid_up_to()
        ),
    })?;
    let mut reader = NsReader::from_str(text);
    let xml_err = |pos: u64, message: String| GdacsError::Xml {
        origin: origin.to_string(),
        line: line_at(bytes, usize::try_from(pos).unwrap_or(usize::MAX)),
        message,
    };

    let mut depth: usize = 0;
    let mut open: Vec<String> = Vec::new();
    let mut seen_root = false;
    let mut item: Option<ItemState> = None;
    let mut items = 0usize;
    let mut events = Vec::new();
    let mut warnings = Vec::new();

    loop {
        let pos_before = reader.buffer_position();
        let (resolved, event) = match reader.read_resolved_event() {
            Ok(x) => x,
            Err(e) => return Err(xml_err(reader.error_position(), e.to_string())),
        };
        let ns = ns_of(&resolved);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let local = local.as_ref();
                if !seen_root {
                    seen_root = true;
                    if !(ns == Ns::None && local == b"rss") {
                        return Err(GdacsError::NotRss {
                            origin: origin.to_string(),
                            found: format!("<{}>", String::from_utf8_lossy(e.name().as_ref())),
                        });
                    }
                }
                let this_depth = depth + 1;
                match item.as_mut() {
                    None if ns == Ns::None && local == b"item" => {
                        let st = ItemState {
                            draft: Draft::default(),
                            depth: this_depth,
                            line: line_at(bytes, usize::try_from(pos_before).unwrap_or(0)),
                            in_point: false,
                            capture: None,
                        };
                        if is_empty {
                            finish_item(st, items, origin, &mut events, &mut warnings);
                            items += 1;
                        } else {
                            item = Some(st);
                        }
                    }
                    None => {}
                    Some(st) => {
                        let child = this_depth == st.depth + 1;
                        let field = if child && ns == Ns::Geo && local == b"Point" {
                            st.in_point = !is_empty;
                            None
                        } else if child {
                            item_child(ns, local)
                        } else if st.in_point && this_depth == st.depth + 2 && ns == Ns::Geo {
                            match local {
                                b"lat" => Some(Field::GeoLat),
                                b"long" => Some(Field::GeoLong),
                                _ => None,
                            }
                        } else {
                            None
                        };
                        match field {
                            // Its text is prose ("Tropical Storm (maximum wind speed of
                            // 93 km/h)"); the numbers are in the attributes.
                            Some(Field::Severity) => read_severity_attrs(e, &mut st.draft),
                            Some(f) if is_empty => *st.draft.slot(f) = Some(String::new()),
                            Some(f) => st.capture = Some((f, this_depth, String::new())),
                            None => {}
                        }
                    }
                }
                if !is_empty {
                    depth = this_depth;
                    open.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                }
            }
            Event::Text(ref t) => {
                if let Some((_, _, buf)) = item.as_mut().and_then(|st| st.capture.as_mut()) {
                    let s = t
                        .xml_content()
                        .map_err(|e| xml_err(reader.buffer_position(), e.to_string()))?;
                    buf.push_str(&s);
                }
            }
            Event::CData(ref c) => {
                if let Some((_, _, buf)) = item.as_mut().and_then(|st| st.capture.as_mut()) {
                    let s = c
                        .decode()
                        .map_err(|e| xml_err(reader.buffer_position(), e.to_string()))?;
                    buf.push_str(&s);
                }
            }
            Event::GeneralRef(ref r) => {
                if let Some((_, _, buf)) = item.as_mut().and_then(|st| st.capture.as_mut()) {
                    let name = r
                        .decode()
                        .map_err(|e| xml_err(reader.buffer_position(), e.to_string()))?;
                    let c = match r.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        Ok(None) => match name.as_ref() {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            other => {
                                return Err(xml_err(
                                    reader.buffer_position(),
                                    format!("unknown entity &{other}; (RSS declares no DTD)"),
                                ));
                            }
                        },
                        Err(e) => return Err(xml_err(reader.buffer_position(), e.to_string())),
                    };
                    buf.push(c);
                }
            }
            Event::End(_) => {
                if let Some(st) = item.as_mut() {
                    if st.capture.as_ref().is_some_and(|(_, d, _)| *d == depth)
                        && let Some((f, _, text)) = st.capture.take()
                    {
                        *st.draft.slot(f) = Some(text);
                    }
                    if depth == st.depth + 1 {
                        st.in_point = false;
                    }
                    if depth == st.depth
                        && let Some(st) = item.take()
                    {
                        finish_item(st, items, origin, &mut events, &mut warnings);
                        items += 1;
                    }
                }
                depth = depth.saturating_sub(1);
                open.pop();
            }
            Event::Eof => {
                if let Some(name) = open.last() {
                    return Err(xml_err(
                        reader.buffer_position(),
                        format!("document ends inside <{name}>: expected </{name}>"),
                    ));
                }
                if !seen_root {
                    return Err(GdacsError::NotRss {
                        origin: origin.to_string(),
                        found: "no element at all".to_string(),
                    });
                }
                break;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }

    if items > 0 && events.is_empty() {
        return Err(GdacsError::NoUsableItems {
            origin: origin.to_string(),
            items,
            first: warnings
                .first()
                .map_or_else(String::new, |w: &GdacsError| w.to_string()),
        });
    }
    Ok(GdacsFeed { events, warnings })
}

fn read_severity_attrs(e: &BytesStart<'_>, draft: &mut Draft) {
    for attr in e.attributes().flatten() {
        let value = attr
            .unescape_value()
            .map(|v| v.into_owned())
            .unwrap_or_default();
        match attr.key.local_name().as_ref() {
            b"unit" => draft.severity_unit = Some(value),
            b"value" => draft.severity_value = Some(value),
            _ => {}
        }
    }
}

/// 1-based line of a byte offset.
fn line_at(bytes: &[u8], offset: usize) -> u64 {
    let end = offset.min(bytes.len());
    let head = bytes.get(..end).unwrap_or(bytes);
    1 + head.iter().filter(|&&b| b == b'\n').count() as u64
}

fn finish_item(
    st: ItemState,
    index: usize,
    origin: &str,
    events: &mut Vec<GdacsEvent>,
    warnings: &mut Vec<GdacsError>,
) {
    let mut notes = Vec::new();
    match build_event(st.draft, index, st.line, origin, &mut notes) {
        Ok(ev) => {
            warnings.extend(notes);
            events.push(ev);
        }
        Err(e) => {
            // Field notes of a skipped item add nothing to the reason it was skipped.
            warnings.push(e);
        }
    }
}

fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// Checks a draft: `Err` for a required element missing or wrong (the item is skipped);
/// optional elements that do not parse are pushed to `notes` and left `None`.
fn build_event(
    d: Draft,
    index: usize,
    line: u64,
    origin: &str,
    notes: &mut Vec<GdacsError>,
) -> Result<GdacsEvent, GdacsError> {
    let mut at = ItemAt {
        index,
        line,
        event_id: None,
    };
    let err = |at: &ItemAt,
               element: &'static str,
               expected: &'static str,
               found: String,
               consequence: Consequence| GdacsError::Item {
        origin: origin.to_string(),
        at: at.clone(),
        element,
        expected,
        found,
        consequence,
    };
    let skip = |at: &ItemAt, element, expected, found| {
        err(at, element, expected, found, Consequence::ItemSkipped)
    };
    let shown = |s: &Option<String>| match s {
        Some(t) => format!("{:?}", t.trim()),
        None => "nothing".to_string(),
    };

    let id_text = trimmed(d.event_id.clone());
    let event_id = id_text
        .as_deref()
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| {
            skip(
                &at,
                "gdacs:eventid",
                "an event id (unsigned integer)",
                shown(&d.event_id),
            )
        })?;
    at.event_id = Some(event_id);

    let event_type = trimmed(d.event_type.clone()).ok_or_else(|| {
        skip(
            &at,
            "gdacs:eventtype",
            "an event type (TC, EQ, FL, ...)",
            shown(&d.event_type),
        )
    })?;

    let is_current = match trimmed(d.is_current.clone()) {
        Some(t) if t.eq_ignore_ascii_case("true") => true,
        Some(t) if t.eq_ignore_ascii_case("false") => false,
        _ => {
            return Err(skip(
                &at,
                "gdacs:iscurrent",
                "true or false",
                shown(&d.is_current),
            ));
        }
    };

    let (lon, lat) = position(&d, &at, origin)?;

    // Optional elements: a bad value is noted and dropped, the storm is kept.
    let mut note = |element, expected, found: &Option<String>| {
        notes.push(err(
            &at,
            element,
            expected,
            shown(found),
            Consequence::FieldIgnored,
        ));
    };
    let episode_id = match trimmed(d.episode_id.clone()) {
        None => None,
        Some(t) => t.parse::<u64>().ok().or_else(|| {
            note("gdacs:episodeid", "an unsigned integer", &d.episode_id);
            None
        }),
    };
    let year = match trimmed(d.year.clone()) {
        None => None,
        Some(t) => t.parse::<i32>().ok().or_else(|| {
            note("gdacs:year", "a year", &d.year);
            None
        }),
    };
    let mut date = |element, raw: &Option<String>| match trimmed(raw.clone()) {
        None => None,
        Some(t) => match DateTime::parse_from_rfc2822(&t) {
            Ok(dt) => Some(dt.with_timezone(&Utc)),
            Err(_) => {
                note(
                    element,
                    "an RFC 2822 date like \"Sun, 29 Dec 2019 12:00:00 GMT\"",
                    raw,
                );
                None
            }
        },
    };
    let from_date = date("gdacs:fromdate", &d.from_date);
    let to_date = date("gdacs:todate", &d.to_date);
    let bbox = match trimmed(d.bbox.clone()) {
        None => None,
        Some(t) => parse_bbox(&t).or_else(|| {
            note(
                "gdacs:bbox",
                "four numbers \"lonmin lonmax latmin latmax\" with latitudes in −90..90, latmin ≤ latmax",
                &d.bbox,
            );
            None
        }),
    };
    let severity_kmh = match (trimmed(d.severity_unit.clone()), &d.severity_value) {
        (Some(u), Some(v)) if u.eq_ignore_ascii_case("km/h") => {
            match v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
            {
                Some(x) => Some(x),
                None => {
                    note(
                        "gdacs:severity",
                        "a non-negative number in the value attribute",
                        &d.severity_value,
                    );
                    None
                }
            }
        }
        _ => None,
    };

    let event_name = d.event_name.as_deref().map(str::trim).unwrap_or_default();
    let countries = d
        .country
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    Ok(GdacsEvent {
        event_type,
        event_id,
        episode_id,
        storm_name: storm_name(event_name).to_string(),
        event_name: event_name.to_string(),
        year,
        alert_level: trimmed(d.alert_level),
        is_current,
        from_date,
        to_date,
        lon,
        lat,
        bbox,
        countries,
        severity_kmh,
        link: trimmed(d.link),
    })
}

/// The position from `geo:lat`/`geo:long`, else from `georss:point` ("lat lon"), checked
/// against EPSG:4326 ranges.
fn position(d: &Draft, at: &ItemAt, origin: &str) -> Result<(f64, f64), GdacsError> {
    let skip = |element, expected, found: String| GdacsError::Item {
        origin: origin.to_string(),
        at: at.clone(),
        element,
        expected,
        found,
        consequence: Consequence::ItemSkipped,
    };
    let num = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
    let (lat_el, lon_el, lat, lon) = match (&d.geo_lat, &d.geo_long, &d.georss_point) {
        (Some(la), Some(lo), _) => (
            "geo:lat",
            "geo:long",
            num(la).ok_or_else(|| skip("geo:lat", "a latitude in degrees", format!("{la:?}")))?,
            num(lo).ok_or_else(|| skip("geo:long", "a longitude in degrees", format!("{lo:?}")))?,
        ),
        (_, _, Some(p)) => {
            let nums: Vec<f64> = p.split_whitespace().filter_map(num).collect();
            match nums.as_slice() {
                [la, lo] if p.split_whitespace().count() == 2 => {
                    ("georss:point", "georss:point", *la, *lo)
                }
                _ => {
                    return Err(skip(
                        "georss:point",
                        "two numbers \"lat lon\"",
                        format!("{:?}", p.trim()),
                    ));
                }
            }
        }
        _ => {
            return Err(skip(
                "geo:Point",
                "a position (geo:Point with geo:lat and geo:long, or georss:point)",
                "nothing".to_string(),
            ));
        }
    };
    if !(-90.0..=90.0).contains(&lat) {
        return Err(skip(lat_el, "a latitude in −90..90", lat.to_string()));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(skip(lon_el, "a longitude in −180..180", lon.to_string()));
    }
    Ok((lon, lat))
}

/// "lonmin lonmax latmin latmax" → [lon_min, lat_min, lon_max, lat_max].
fn parse_bbox(text: &str) -> Option<[f64; 4]> {
    let nums: Vec<f64> = text
        .split_whitespace()
        .map(|s| s.parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<Vec<f64>>>()?;
    let [lon_min, lon_max, lat_min, lat_max] = nums.as_slice() else {
        return None;
    };
    let lat_ok = |v: f64| (-90.0..=90.0).contains(&v);
    if !(lat_ok(*lat_min) && lat_ok(*lat_max) && lat_min <= lat_max) {
        return None;
    }
    Some([wrap_lon(*lon_min), *lat_min, wrap_lon(*lon_max), *lat_max])
}

/// A longitude wrapped into −180..180 (GDACS boxes near the antimeridian can run past 180).
fn wrap_lon(lon: f64) -> f64 {
    if (-180.0..=180.0).contains(&lon) {
        lon
    } else {
        (lon + 180.0).rem_euclid(360.0) - 180.0
    }
}

/// "CALVINIA-19" → "CALVINIA"; "Western Australia-2019" → "Western Australia"; a name with
/// no trailing year is returned unchanged.
fn storm_name(event_name: &str) -> &str {
    match event_name.rsplit_once('-') {
        Some((name, year))
            if (year.len() == 2 || year.len() == 4) && year.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name.trim()
        }
        _ => event_name,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn storm_name_drops_a_two_or_four_digit_year_suffix_only() {
        assert_eq!(storm_name("CALVINIA-19"), "CALVINIA");
        assert_eq!(storm_name("Western Australia-2019"), "Western Australia");
        assert_eq!(storm_name("FREDDY"), "FREDDY");
        assert_eq!(storm_name("TWO-A"), "TWO-A");
        assert_eq!(storm_name(""), "");
    }

    #[test]
    fn bbox_is_reordered_to_rfc7946_and_wrapped_across_the_antimeridian() {
        assert_eq!(
            parse_bbox("55.0 81.0 -46.5 -20.5"),
            Some([55.0, -46.5, 81.0, -20.5])
        );
        assert_eq!(
            parse_bbox("170 190 -20 -10"),
            Some([170.0, -20.0, -170.0, -10.0])
        );
        assert_eq!(parse_bbox("1 2 3"), None);
        assert_eq!(parse_bbox("1 2 40 30"), None);
        assert_eq!(parse_bbox("1 2 x 30"), None);
    }

    #[test]
    fn basin_edges_are_inside_and_the_mozambique_channel_is_in_the_south_west_indian() {
        let b = Basin::SOUTH_WEST_INDIAN;
        assert!(b.contains(30.0, 0.0) && b.contains(90.0, -40.0));
        // Beira, where Idai landed (34.84E 19.83S).
        assert!(b.contains(34.84, -19.83));
        // Darwin (130.8E 12.5S) is the Australian region; Bay of Bengal is north.
        assert!(!b.contains(130.8, -12.5) && !b.contains(88.0, 15.0));
    }

    #[test]
    fn line_numbers_count_from_one() {
        assert_eq!(line_at(b"a\nb\nc", 0), 1);
        assert_eq!(line_at(b"a\nb\nc", 4), 3);
        assert_eq!(line_at(b"a", 99), 1);
    }
}
