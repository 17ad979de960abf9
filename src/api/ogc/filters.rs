//! The filters of an items request: `bbox` (CRS84, crossing the antimeridian when min lon
//! is above max lon) and `datetime` (checked; the features carry no time), each refused
//! with a 400 naming the parameter when malformed.

use geo::{Intersects, Rect};

use super::CRS84;
use super::collection::Item;
use crate::api::ApiError;

/// A validated bbox: one rectangle, or two when it crosses the antimeridian.
#[derive(Debug, Clone)]
pub(super) struct BboxFilter {
    rects: Vec<Rect<f64>>,
    /// As given (for the self and next links).
    pub(super) raw: String,
}

impl BboxFilter {
    /// The box's rectangles: one, or two when it crosses the antimeridian.
    pub(super) fn rects(&self) -> &[Rect<f64>] {
        &self.rects
    }

    /// Whether the item's geometry intersects the box: its bounding box first, then the
    /// geometry. `Collection::in_bbox` applies it to the candidates of the collection's
    /// R-tree, in memory rather than in PostGIS (issue 15 item 3, measured by `cargo bench
    /// --bench bbox`: docs/postgres-performance.md).
    pub(super) fn matches(&self, item: &Item) -> bool {
        let (Some(b), Some(g)) = (item.bbox, &item.geometry) else {
            return false;
        };
        self.rects
            .iter()
            .any(|r| r.intersects(&b) && r.intersects(g))
    }
}

const BBOX_EXPECTED: &str = "4 (or 6) comma-separated numbers: min lon, min lat, max lon, max lat in CRS84, \
     lon within [-180, 180], lat within [-90, 90], min lat <= max lat";

pub(super) fn parse_bbox(raw: &str) -> Result<BboxFilter, ApiError> {
    let bad = || ApiError::invalid("bbox", BBOX_EXPECTED, raw);
    let nums: Vec<f64> = raw
        .split(',')
        .map(|s| s.trim().parse::<f64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    // With 6 numbers the heights (3rd and 6th) are ignored: every feature is 2D.
    let (min_lon, min_lat, max_lon, max_lat) = match nums.as_slice() {
        [a, b, c, d] => (*a, *b, *c, *d),
        [a, b, _, d, e, _] => (*a, *b, *d, *e),
        _ => return Err(bad()),
    };
    let lon_ok = |x: f64| x.is_finite() && (-180.0..=180.0).contains(&x);
    let lat_ok = |y: f64| y.is_finite() && (-90.0..=90.0).contains(&y);
    if !(lon_ok(min_lon) && lon_ok(max_lon) && lat_ok(min_lat) && lat_ok(max_lat))
        || min_lat > max_lat
    {
        return Err(bad());
    }
    let rect = |x0: f64, x1: f64| {
        Rect::new(
            geo::coord! {x: x0, y: min_lat},
            geo::coord! {x: x1, y: max_lat},
        )
    };
    // OGC 17-069r3, parameter bbox: min lon > max lon means the box crosses the
    // antimeridian.
    let rects = if min_lon <= max_lon {
        vec![rect(min_lon, max_lon)]
    } else {
        vec![rect(min_lon, 180.0), rect(-180.0, max_lon)]
    };
    Ok(BboxFilter {
        rects,
        raw: raw.to_string(),
    })
}

pub(super) const CRS84_ALIASES: [&str; 2] =
    [CRS84, "http://www.opengis.net/def/crs/OGC/1.3/CRS84h"];

/// Checks an OGC API – Features `datetime` value (OGC 17-069r3 §7.15.4): an RFC 3339
/// date-time, or an interval `start/end` of two, either end open (`..` or empty) but not
/// both, start not after end. A full-date (`2023-03-08`, the day from its first instant)
/// is accepted too, as clients send it.
pub(super) fn check_datetime(d: &str) -> Result<(), ApiError> {
    const EXPECTED: &str = "an RFC 3339 date-time (2023-03-08T00:00:00Z) or an interval of \
         two (start/end, either end may be '..')";
    let bad = || ApiError::invalid("datetime", EXPECTED, d);
    let instant = |s: &str| -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(s).ok().or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().fixed_offset())
        })
    };
    let end = |s: &str| -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, ApiError> {
        match s {
            "" | ".." => Ok(None),
            s => instant(s).map(Some).ok_or_else(bad),
        }
    };
    match d.split_once('/') {
        None => instant(d).map(|_| ()).ok_or_else(bad),
        Some((a, b)) => match (end(a)?, end(b)?) {
            (None, None) => Err(bad()),
            (Some(a), Some(b)) if a > b => Err(bad()),
            _ => Ok(()),
        },
    }
}
