//! The event builder: an item's raw text checked into a [`GdacsEvent`](super::GdacsEvent),
//! required elements refused, malformed optional ones noted and dropped.

use chrono::{DateTime, Utc};

use super::reader::Draft;
use super::{Consequence, GdacsError, GdacsEvent, ItemAt};

fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// Checks a draft: `Err` for a required element missing or wrong (the item is skipped);
/// optional elements that do not parse are pushed to `notes` and left `None`.
pub(super) fn build_event(
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
}
