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
//! Split along its jobs: `reader` (the streaming GeoRSS reader, per-item recovery and line
//! numbers), `build` (an item's raw text checked into a [`GdacsEvent`]); this file holds the
//! public types and the active-cyclone discovery.

use std::fmt;

use chrono::{DateTime, Utc};

mod build;
mod reader;

pub use reader::parse_gdacs_rss;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn basin_edges_are_inside_and_the_mozambique_channel_is_in_the_south_west_indian() {
        let b = Basin::SOUTH_WEST_INDIAN;
        assert!(b.contains(30.0, 0.0) && b.contains(90.0, -40.0));
        // Beira, where Idai landed (34.84E 19.83S).
        assert!(b.contains(34.84, -19.83));
        // Darwin (130.8E 12.5S) is the Australian region; Bay of Bengal is north.
        assert!(!b.contains(130.8, -12.5) && !b.contains(88.0, 15.0));
    }
}
