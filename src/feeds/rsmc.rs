//! Météo-France RSMC La Réunion "CMRSTRACK" GeoJSON (the "Cyclone trajectory" product) into a
//! [`Forecast`]: analysis and forecast fixes with quadrant wind radii, and the product's
//! uncertainty cone.
//!
//! Pure: bytes in, domain out; no file or network I/O.
//!
//! Product shape, as seen in the real samples under ../shared/data/forecast-samples/: a
//! FeatureCollection with top-level members `product`, `update_time`, `production_center`,
//! `cyclone_name`, `cyclone_id` ("SWI$07/20222023"), `basin`, `season` (20222023),
//! `reference_time`; Point features with `data_type` "analysis" or "forecast" and one
//! "uncertainty_cone" Polygon. Winds are 10-minute means (RSMC La Réunion is the WMO RSMC
//! for the South-West Indian Ocean, WMO-No. 1178), radii in nautical miles per quadrant
//! (NEQ/SEQ/SWQ/NWQ) at 28/34/48/64 kt.
//!
//! Decisions:
//! - The latest analysis fix is repeated as the forecast's first point (same time): only the
//!   forecast copy is kept, so the track is strictly time-ordered.
//! - `reference_time` is the top-level member as published, unless every forecast `hour`
//!   counts from another fix: in the FREDDY sample the member says 00Z while the hours count
//!   from the 04Z fix, so lead times count from 04Z (they then match the product's labels)
//!   and a note records the published value.
//! - A wind contour lists only the sectors the threshold reaches: missing sectors are 0 nm.
//! - Unknown members and unknown `data_type`s are tolerated (products grow fields); missing
//!   optional values become `None`.
//! - The cone's duplicate consecutive vertices (the product has them at every 12 h joint) are
//!   removed; its exterior ring is oriented counter-clockwise (RFC 7946).
//!
//! Split along its jobs: `raw` (the product's JSON shapes), `fix` (a Point feature into a fix
//! with its wind radii), `cone` (the uncertainty cone's polygon), `replay` (a forecast written
//! back as CMRSTRACK); this file reads the collection into a forecast.

use chrono::{DateTime, Utc};
use geo::Polygon;
use serde_json::Value;

use super::{FeedError, Location, ParsedForecast, TrackFormat, check_lon_lat, sort_and_dedupe};
use crate::domain::{FixKind, Forecast, ForecastSource, StormId, WindAveraging};

mod cone;
mod fix;
mod raw;
mod replay;

use cone::cone_polygon;
use fix::track_point;
use raw::{RawCollection, RawFeature, RawGeometry};
pub use replay::{REPLAY_CENTRE_PREFIX, to_cmrstrack};

const EXPECTED_DOC: &str = "a Météo-France CMRSTRACK GeoJSON FeatureCollection";

/// Longest forecast lead accepted (hours): RSMC La Réunion's track forecasts reach 120 h
/// (5 days, the CMRSTRACK samples in ../shared/data); a lead past 999 h is a damaged file.
const MAX_LEAD_H: f64 = 999.0;

/// Parses a CMRSTRACK GeoJSON product. `origin` names the file or URL in errors.
pub fn parse(bytes: &[u8], origin: &str) -> Result<ParsedForecast, FeedError> {
    let raw: RawCollection = serde_json::from_slice(bytes).map_err(|e| FeedError::Json {
        origin: origin.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
        expected: EXPECTED_DOC,
    })?;
    let document = Location::Document;
    let invalid_top = invalid_at(origin, &document);

    let reference_time = match &raw.reference_time {
        Some(s) => parse_time(s).ok_or_else(|| {
            invalid_top(
                "reference_time",
                "an RFC 3339 UTC time like \"2023-03-10T00:00:00Z\"",
                format!("{s:?}"),
            )
        })?,
        None => {
            return Err(invalid_top(
                "reference_time",
                "the product's analysis time",
                "no such member".into(),
            ));
        }
    };
    let issued = match &raw.update_time {
        Some(s) => parse_time(s).ok_or_else(|| {
            invalid_top(
                "update_time",
                "an RFC 3339 UTC time like \"2023-03-10T00:05:39Z\"",
                format!("{s:?}"),
            )
        })?,
        None => reference_time,
    };
    let features = raw.features.ok_or_else(|| {
        invalid_top(
            "features",
            "an array of analysis/forecast features",
            "no such member".into(),
        )
    })?;

    let mut track = Vec::new();
    let mut cone: Option<Polygon<f64>> = None;
    let mut notes = Vec::new();
    let mut forecast_bases: Vec<DateTime<Utc>> = Vec::new();
    for (index, value) in features.into_iter().enumerate() {
        let at = Location::Feature(index);
        let feature: RawFeature =
            serde_json::from_value(value).map_err(|e| FeedError::Invalid {
                origin: origin.to_string(),
                at: at.clone(),
                field: "properties".into(),
                expected: "CMRSTRACK feature properties".into(),
                found: e.to_string(),
            })?;
        match feature.properties.data_type.as_deref() {
            Some("analysis") | Some("forecast") => {
                let p = track_point(origin, index, &feature)?;
                if let (FixKind::Forecast, Some(h)) = (p.kind, feature.properties.hour) {
                    // A lead past MAX_LEAD_H is a damaged file (and overflowed chrono).
                    if !(0.0..=MAX_LEAD_H).contains(&h) {
                        return Err(FeedError::Invalid {
                            origin: origin.to_string(),
                            at,
                            field: "properties.hour".into(),
                            expected: format!("a forecast lead from 0 to {MAX_LEAD_H} hours"),
                            found: h.to_string(),
                        });
                    }
                    forecast_bases.push(p.time - chrono::Duration::minutes((h * 60.0) as i64));
                }
                track.push(p);
            }
            Some("uncertainty_cone") => {
                if cone.is_some() {
                    notes.push(format!(
                        "feature {index}: a second uncertainty cone was ignored (the first is used)"
                    ));
                } else {
                    cone = Some(cone_polygon(origin, index, &feature)?);
                }
            }
            other => notes.push(format!(
                "feature {index}: data_type {other:?} is not analysis/forecast/uncertainty_cone; ignored"
            )),
        }
    }

    if track.is_empty() {
        return Err(FeedError::EmptyTrack {
            origin: origin.to_string(),
            expected: "analysis or forecast Point feature",
            found: "none".into(),
        });
    }
    for (time, kind) in sort_and_dedupe(&mut track) {
        notes.push(format!(
            "dropped the {kind:?} copy of the fix at {time} (another fix has the same time; the forecast copy is kept)"
        ));
    }
    // Lead times must agree with the product's own `hour` labels: when every forecast hour
    // counts from one base fix (FREDDY: 04Z) that differs from the top-level
    // reference_time (00Z, the synoptic time), the base fix is the reference.
    let mut reference_time = reference_time;
    if let Some(base) = forecast_bases.first().copied()
        && base != reference_time
        && forecast_bases.iter().all(|b| *b == base)
    {
        notes.push(format!(
            "forecast hours count from {base}, not from the product's reference_time {reference_time}: lead times are counted from {base}"
        ));
        reference_time = base;
    }

    let season = match &raw.season {
        Some(Value::Number(n)) => season_label(&n.to_string()),
        Some(Value::String(s)) => season_label(s),
        _ => String::new(),
    };
    // A replay written by `to_cmrstrack` says so, and must never be labelled as an RSMC
    // product in alerts.
    let source = match raw
        .production_center
        .as_deref()
        .and_then(|c| c.strip_prefix(REPLAY_CENTRE_PREFIX))
    {
        Some(agency) => ForecastSource::Replay {
            agency: agency.to_string(),
        },
        None => ForecastSource::RsmcReunion,
    };
    let forecast = Forecast {
        source,
        origin: origin.to_string(),
        storm: StormId {
            name: raw
                .cyclone_name
                .filter(|n| !n.trim().is_empty())
                .map(|n| n.trim().to_uppercase())
                .unwrap_or_else(|| "UNNAMED".into()),
            id: raw.cyclone_id.unwrap_or_default(),
            basin: raw.basin.unwrap_or_default(),
            season,
        },
        issued,
        reference_time,
        wind_averaging: WindAveraging::TenMinute,
        track,
        cone,
    };
    Ok(ParsedForecast {
        forecast,
        format: TrackFormat::RsmcJson,
        notes,
    })
}

/// "20222023" → "2022-2023"; anything else unchanged.
fn season_label(raw: &str) -> String {
    let s = raw.trim();
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let (start, end) = s.split_at(4); // ok: 8 ASCII digits, 4 is a char boundary
        format!("{start}-{end}")
    } else {
        s.to_string()
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn lon_lat(origin: &str, at: &Location, field: &str, v: &Value) -> Result<(f64, f64), FeedError> {
    let pair = v.as_array().and_then(|a| match a.as_slice() {
        [x, y, ..] => Some((x.as_f64()?, y.as_f64()?)),
        _ => None,
    });
    let (lon, lat) = pair.ok_or_else(|| FeedError::Invalid {
        origin: origin.to_string(),
        at: at.clone(),
        field: field.to_string(),
        expected: "a [longitude, latitude] position of two numbers".into(),
        found: truncate(&v.to_string(), 60),
    })?;
    check_lon_lat(origin, at.clone(), field, lon, lat)?;
    Ok((lon, lat))
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Makes the [`FeedError::Invalid`] of a field at `at` in the document `origin`, from the
/// field's name, what was expected and what was found.
pub(super) fn invalid_at<'a>(
    origin: &'a str,
    at: &'a Location,
) -> impl Fn(&str, &str, String) -> FeedError + 'a {
    move |field, expected, found| FeedError::Invalid {
        origin: origin.to_string(),
        at: at.clone(),
        field: field.to_string(),
        expected: expected.to_string(),
        found,
    }
}

/// The feature's geometry, which must be present and of type `kind`.
fn geometry_of<'f>(
    origin: &str,
    index: usize,
    f: &'f RawFeature,
    kind: &str,
) -> Result<&'f RawGeometry, FeedError> {
    let at = Location::Feature(index);
    let invalid = invalid_at(origin, &at);
    let geometry = f.geometry.as_ref().ok_or_else(|| {
        invalid(
            "geometry",
            &format!("a {kind} geometry"),
            "null or missing geometry".into(),
        )
    })?;
    if geometry.kind != kind {
        return Err(invalid(
            "geometry.type",
            kind,
            format!("{:?}", geometry.kind),
        ));
    }
    Ok(geometry)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::Knots;

    pub(super) fn doc(features: &str) -> String {
        format!(
            r#"{{"product":"Cyclone trajectory","update_time":"2023-03-10T00:05:39Z",
            "production_center":"METEO-FRANCE","cyclone_name":"TEST","cyclone_id":"SWI$07/20222023",
            "basin":"SWI","season":20222023,"reference_time":"2023-03-10T00:00:00Z",
            "new_member_from_the_future":{{"x":1}},
            "type":"FeatureCollection","features":[{features}]}}"#
        )
    }

    #[test]
    fn season_number_becomes_a_two_year_label() {
        assert_eq!(season_label("20222023"), "2022-2023");
        assert_eq!(season_label("2023"), "2023");
    }

    #[test]
    fn unknown_members_are_tolerated_and_missing_optionals_are_none() {
        let d = doc(
            r#"{"type":"Feature","properties":{"data_type":"analysis","time":"2023-03-09T00:00:00Z","dvorak_2030":"x",
               "cyclone_data":{"maximum_wind":{"wind_speed_kt":60}}},"geometry":{"type":"Point","coordinates":[40.0,-20.0]}}"#,
        );
        let p = parse(d.as_bytes(), "t.json").unwrap();
        let pt = &p.forecast.track[0];
        assert_eq!(pt.max_wind_kt, Some(Knots(60.0)));
        assert_eq!(pt.gust_kt, None);
        assert!(pt.wind_radii.is_empty());
        assert_eq!(p.forecast.storm.season, "2022-2023");
        assert!(p.forecast.cone.is_none());
    }
}
