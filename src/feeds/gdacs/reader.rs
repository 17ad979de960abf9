//! The streaming GeoRSS reader: walks the XML, collects each item's raw text into a draft
//! and hands it to the builder, naming the line of every refused item.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

use super::build::build_event;
use super::{GdacsError, GdacsEvent, GdacsFeed};

/// The `gdacs:` namespace of the feed.
const NS_GDACS: &[u8] = b"http://www.gdacs.org";
/// W3C Basic Geo (WGS84 lat/long) vocabulary: `geo:Point`, `geo:lat`, `geo:long`.
const NS_GEO: &[u8] = b"http://www.w3.org/2003/01/geo/wgs84_pos#";
/// GeoRSS-Simple: `georss:point` holds "lat lon".
const NS_GEORSS: &[u8] = b"http://www.georss.org/georss";

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
pub(super) struct Draft {
    pub(super) link: Option<String>,
    pub(super) event_type: Option<String>,
    pub(super) event_id: Option<String>,
    pub(super) episode_id: Option<String>,
    pub(super) event_name: Option<String>,
    pub(super) year: Option<String>,
    pub(super) alert_level: Option<String>,
    pub(super) is_current: Option<String>,
    pub(super) from_date: Option<String>,
    pub(super) to_date: Option<String>,
    pub(super) bbox: Option<String>,
    pub(super) severity_unit: Option<String>,
    pub(super) severity_value: Option<String>,
    pub(super) country: Option<String>,
    pub(super) geo_lat: Option<String>,
    pub(super) geo_long: Option<String>,
    pub(super) georss_point: Option<String>,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_count_from_one() {
        assert_eq!(line_at(b"a\nb\nc", 0), 1);
        assert_eq!(line_at(b"a\nb\nc", 4), 3);
        assert_eq!(line_at(b"a", 99), 1);
    }
}
