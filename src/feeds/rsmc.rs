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
//! Over 600 lines because the bulletin reader, its cone polygon and the wind-radii conversions
//! are one parser; issue 16 move 5 splits the cone out.

use chrono::{DateTime, Utc};
use geo::orient::{Direction, Orient};
use geo::{Coord, LineString, Polygon};
use serde::Deserialize;
use serde_json::Value;

use super::{FeedError, Location, ParsedForecast, TrackFormat, check_lon_lat, sort_and_dedupe};
use crate::domain::{
    FixKind, Forecast, ForecastSource, Hectopascals, Knots, Motion, NauticalMiles, QuadrantRadii,
    StormId, TrackPoint, WindAveraging, WindRadii,
};

const EXPECTED_DOC: &str = "a Météo-France CMRSTRACK GeoJSON FeatureCollection";

#[derive(Debug, Deserialize)]
struct RawCollection {
    #[serde(default)]
    update_time: Option<String>,
    #[serde(default)]
    production_center: Option<String>,
    #[serde(default)]
    cyclone_name: Option<String>,
    #[serde(default)]
    cyclone_id: Option<String>,
    #[serde(default)]
    basin: Option<String>,
    #[serde(default)]
    season: Option<Value>,
    #[serde(default)]
    reference_time: Option<String>,
    #[serde(default)]
    features: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
struct RawFeature {
    #[serde(default)]
    properties: RawProperties,
    #[serde(default)]
    geometry: Option<RawGeometry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawProperties {
    data_type: Option<String>,
    time: Option<String>,
    hour: Option<f64>,
    position_accuracy: Option<f64>,
    cyclone_data: Option<RawCycloneData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCycloneData {
    development: Option<String>,
    minimum_pressure: Option<f64>,
    storm_motion: Option<RawMotion>,
    last_closed_isobar: Option<RawIsobar>,
    maximum_wind: Option<RawMaxWind>,
    wind_contours: Vec<RawContour>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawMotion {
    speed_kt: Option<f64>,
    direction_toward: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawIsobar {
    pressure: Option<f64>,
    radius: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawMaxWind {
    radius: Option<f64>,
    wind_speed_kt: Option<f64>,
    wind_speed_gust_kt: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RawContour {
    wind_speed_kt: f64,
    #[serde(default)]
    radius: Vec<RawSector>,
}

#[derive(Debug, Deserialize)]
struct RawSector {
    sector: String,
    value: f64,
}

#[derive(Debug, Deserialize)]
struct RawGeometry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    coordinates: Value,
}

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
    let invalid_top = |field: &str, expected: &str, found: String| FeedError::Invalid {
        origin: origin.to_string(),
        at: Location::Document,
        field: field.to_string(),
        expected: expected.to_string(),
        found,
    };

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

fn track_point(origin: &str, index: usize, f: &RawFeature) -> Result<TrackPoint, FeedError> {
    let at = Location::Feature(index);
    let invalid = |field: &str, expected: &str, found: String| FeedError::Invalid {
        origin: origin.to_string(),
        at: at.clone(),
        field: field.to_string(),
        expected: expected.to_string(),
        found,
    };
    let props = &f.properties;
    let kind = match props.data_type.as_deref() {
        Some("forecast") => FixKind::Forecast,
        _ => FixKind::Analysis,
    };
    let time = match &props.time {
        Some(s) => parse_time(s).ok_or_else(|| {
            invalid(
                "properties.time",
                "an RFC 3339 UTC time like \"2023-03-10T16:00:00Z\"",
                format!("{s:?}"),
            )
        })?,
        None => {
            return Err(invalid(
                "properties.time",
                "the fix time",
                "no such member".into(),
            ));
        }
    };
    let geometry = geometry_of(origin, index, f, "Point")?;
    let (lon, lat) = lon_lat(origin, &at, "geometry.coordinates", &geometry.coordinates)?;

    let mut p = TrackPoint::new(time, lon, lat, kind);
    p.position_accuracy_nm = props.position_accuracy.map(NauticalMiles);
    if let Some(cd) = &props.cyclone_data {
        p.development = cd.development.clone();
        // RSMC labels a centre over land "inland" (e.g. "inland", "overland depression").
        p.over_land = cd.development.as_deref().map(|d| {
            let d = d.to_ascii_lowercase();
            d.contains("inland") || d.contains("overland") || d.contains("over land")
        });
        p.min_pressure_hpa = cd.minimum_pressure.map(Hectopascals);
        if let Some(m) = &cd.storm_motion
            && let (Some(speed_kt), Some(toward_deg)) = (m.speed_kt, m.direction_toward)
        {
            p.motion = Some(Motion {
                speed_kt,
                toward_deg,
            });
        }
        if let Some(iso) = &cd.last_closed_isobar {
            p.env_pressure_hpa = iso.pressure.map(Hectopascals);
            p.roci_nm = iso.radius.map(NauticalMiles);
        }
        if let Some(w) = &cd.maximum_wind {
            p.max_wind_kt = w.wind_speed_kt.map(Knots);
            p.gust_kt = w.wind_speed_gust_kt.map(Knots);
            p.rmw_nm = w.radius.map(NauticalMiles);
        }
        for (ci, contour) in cd.wind_contours.iter().enumerate() {
            p.wind_radii.push(contour_radii(origin, &at, ci, contour)?);
        }
        p.wind_radii
            .sort_by(|a, b| a.threshold_kt.total_cmp(&b.threshold_kt));
    }
    Ok(p)
}

fn contour_radii(
    origin: &str,
    at: &Location,
    ci: usize,
    c: &RawContour,
) -> Result<WindRadii, FeedError> {
    let field = format!("cyclone_data.wind_contours[{ci}]");
    let mut q: [Option<f64>; 4] = [None; 4];
    for s in &c.radius {
        let slot = match s.sector.as_str() {
            "NEQ" => 0,
            "SEQ" => 1,
            "SWQ" => 2,
            "NWQ" => 3,
            other => {
                return Err(FeedError::Invalid {
                    origin: origin.to_string(),
                    at: at.clone(),
                    field,
                    expected: "sector NEQ, SEQ, SWQ or NWQ".into(),
                    found: format!("{other:?}"),
                });
            }
        };
        if !(s.value.is_finite() && s.value >= 0.0) {
            return Err(FeedError::Invalid {
                origin: origin.to_string(),
                at: at.clone(),
                field,
                expected: "a radius ≥ 0 nm".into(),
                found: s.value.to_string(),
            });
        }
        q[slot] = Some(s.value);
    }
    // RSMC omits the sectors a threshold does not reach (CHIDO 2024-12-07 00Z: a 30 kt
    // depression with 28 kt winds listed for SEQ and SWQ only), so a missing sector is 0.
    let [ne_nm, se_nm, sw_nm, nw_nm] = q.map(|v| v.unwrap_or(0.0));
    Ok(WindRadii {
        threshold_kt: c.wind_speed_kt,
        radii: QuadrantRadii {
            ne_nm,
            se_nm,
            sw_nm,
            nw_nm,
        },
    })
}

/// The feature's geometry, which must be present and of type `kind`.
fn geometry_of<'f>(
    origin: &str,
    index: usize,
    f: &'f RawFeature,
    kind: &str,
) -> Result<&'f RawGeometry, FeedError> {
    let invalid = |field: &str, expected: String, found: String| FeedError::Invalid {
        origin: origin.to_string(),
        at: Location::Feature(index),
        field: field.to_string(),
        expected,
        found,
    };
    let geometry = f.geometry.as_ref().ok_or_else(|| {
        invalid(
            "geometry",
            format!("a {kind} geometry"),
            "null or missing geometry".into(),
        )
    })?;
    if geometry.kind != kind {
        return Err(invalid(
            "geometry.type",
            kind.to_string(),
            format!("{:?}", geometry.kind),
        ));
    }
    Ok(geometry)
}

fn cone_polygon(origin: &str, index: usize, f: &RawFeature) -> Result<Polygon<f64>, FeedError> {
    let at = Location::Feature(index);
    let invalid = |field: &str, expected: &str, found: String| FeedError::Invalid {
        origin: origin.to_string(),
        at: at.clone(),
        field: field.to_string(),
        expected: expected.to_string(),
        found,
    };
    let geometry = geometry_of(origin, index, f, "Polygon")?;
    let rings = geometry
        .coordinates
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            invalid(
                "geometry.coordinates",
                "an array of linear rings",
                truncate(&geometry.coordinates.to_string(), 60),
            )
        })?;
    let mut out = Vec::with_capacity(rings.len());
    for (ri, ring) in rings.iter().enumerate() {
        let field = format!("geometry.coordinates[{ri}]");
        let positions = ring.as_array().ok_or_else(|| {
            invalid(
                &field,
                "an array of positions",
                truncate(&ring.to_string(), 60),
            )
        })?;
        let mut coords: Vec<Coord<f64>> = Vec::with_capacity(positions.len() + 1);
        for (vi, pos) in positions.iter().enumerate() {
            let (x, y) = lon_lat(origin, &at, &format!("{field}[{vi}]"), pos)?;
            let c = Coord { x, y };
            // The product repeats a vertex at each segment joint: drop consecutive duplicates.
            if coords.last() != Some(&c) {
                coords.push(c);
            }
        }
        if coords.first() != coords.last()
            && let Some(&first) = coords.first()
        {
            coords.push(first);
        }
        // A closed ring needs 3 distinct vertices + the closing one.
        if coords.len() < 4 {
            return Err(invalid(
                &field,
                "a linear ring with at least 3 distinct positions",
                format!("{} distinct positions", coords.len().saturating_sub(1)),
            ));
        }
        out.push(LineString::from(coords));
    }
    let mut rings = out.into_iter();
    let Some(exterior) = rings.next() else {
        return Err(invalid(
            "geometry.coordinates",
            "at least one linear ring",
            "none".into(),
        ));
    };
    let polygon = Polygon::new(exterior, rings.collect());
    Ok(polygon.orient(Direction::Default))
}

/// `production_center` of a replay written by [`to_cmrstrack`]; the agency follows.
pub const REPLAY_CENTRE_PREFIX: &str = "aviso-replay:";

/// Writes a forecast as a CMRSTRACK document that [`parse`] reads back: what the demo's
/// replay feed serves, so the service reads a replayed storm through the same path as a
/// live RSMC product. Winds must be 10-minute means (RSMC convention); the product's
/// `production_center` says it is a replay (and [`parse`] labels it so).
///
/// Written through the geojson crate's types, in its member order: each fix a `Feature`
/// ("geometry" before "properties"), the product's header as the collection's foreign
/// members after "features". Météo-France writes "properties" first and "type" last;
/// [`parse`], like any JSON reader, does not depend on member order.
pub fn to_cmrstrack(f: &Forecast) -> Value {
    use geojson::{Feature, FeatureCollection, Geometry};
    use serde_json::json;
    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let agency = match &f.source {
        ForecastSource::Replay { agency } | ForecastSource::Ibtracs { agency } => agency.clone(),
        other => other.label(),
    };
    let features: Vec<Feature> = f
        .track
        .iter()
        .map(|p| {
            let mut cd = serde_json::Map::new();
            if let Some(d) = &p.development {
                cd.insert("development".into(), json!(d));
            }
            if let Some(h) = p.min_pressure_hpa {
                cd.insert("minimum_pressure".into(), json!(h.0));
            }
            if let Some(m) = &p.motion {
                cd.insert(
                    "storm_motion".into(),
                    json!({"speed_kt": m.speed_kt, "direction_toward": m.toward_deg}),
                );
            }
            if p.env_pressure_hpa.is_some() || p.roci_nm.is_some() {
                cd.insert(
                    "last_closed_isobar".into(),
                    json!({"pressure": p.env_pressure_hpa.map(|h| h.0), "radius": p.roci_nm.map(|r| r.0)}),
                );
            }
            if let Some(w) = p.max_wind_kt {
                cd.insert(
                    "maximum_wind".into(),
                    json!({"wind_speed_kt": w.0, "wind_speed_gust_kt": p.gust_kt.map(|g| g.0), "radius": p.rmw_nm.map(|r| r.0)}),
                );
            }
            let contours: Vec<Value> = p
                .wind_radii
                .iter()
                .map(|r| {
                    json!({"wind_speed_kt": r.threshold_kt, "radius": [
                        {"sector": "NEQ", "value": r.radii.ne_nm},
                        {"sector": "SEQ", "value": r.radii.se_nm},
                        {"sector": "SWQ", "value": r.radii.sw_nm},
                        {"sector": "NWQ", "value": r.radii.nw_nm},
                    ]})
                })
                .collect();
            if !contours.is_empty() {
                cd.insert("wind_contours".into(), Value::Array(contours));
            }
            let mut props = json!({
                "data_type": if p.kind == FixKind::Forecast { "forecast" } else { "analysis" },
                "time": rfc(p.time),
                "cyclone_data": Value::Object(cd),
            });
            if let (Some(a), Some(o)) = (p.position_accuracy_nm, props.as_object_mut()) {
                o.insert("position_accuracy".into(), json!(a.0));
            }
            Feature {
                geometry: Some(Geometry::new_point([p.lon, p.lat])),
                properties: props.as_object().cloned(),
                ..Feature::default()
            }
        })
        .collect();
    let header = json!({
        "product": "Cyclone trajectory",
        "update_time": rfc(f.issued),
        "production_center": format!("{REPLAY_CENTRE_PREFIX}{agency}"),
        "cyclone_name": f.storm.name,
        "cyclone_id": f.storm.id,
        "basin": f.storm.basin,
        "season": f.storm.season.replace('-', ""),
        "reference_time": rfc(f.reference_time),
    });
    let fc = FeatureCollection {
        bbox: None,
        features,
        foreign_members: header.as_object().cloned(),
    };
    // A FeatureCollection always serialises to an object; Null is never written.
    serde_json::to_value(&fc).unwrap_or(Value::Null)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn doc(features: &str) -> String {
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

    #[test]
    fn sectors_missing_from_a_contour_are_not_reached() {
        let d = doc(
            r#"{"type":"Feature","properties":{"data_type":"analysis","time":"2024-12-07T00:00:00Z",
               "cyclone_data":{"wind_contours":[{"wind_speed_kt":28,"radius":[{"sector":"SEQ","value":180},{"sector":"SWQ","value":100}]}]}},
               "geometry":{"type":"Point","coordinates":[60.0,-11.0]}}"#,
        );
        let f = parse(d.as_bytes(), "t.json").unwrap().forecast;
        let r = f.track[0].radii_for(28.0).unwrap();
        assert_eq!(
            (r.ne_nm, r.se_nm, r.sw_nm, r.nw_nm),
            (0.0, 180.0, 100.0, 0.0)
        );
    }

    #[test]
    fn an_unknown_sector_is_an_error_naming_the_feature_and_contour() {
        let d = doc(
            r#"{"type":"Feature","properties":{"data_type":"forecast","time":"2023-03-10T12:00:00Z",
               "cyclone_data":{"wind_contours":[{"wind_speed_kt":34,"radius":[{"sector":"NNE","value":10}]}]}},
               "geometry":{"type":"Point","coordinates":[40.0,-20.0]}}"#,
        );
        let e = parse(d.as_bytes(), "t.json").unwrap_err().to_string();
        assert!(
            e.contains("t.json: feature 0, cyclone_data.wind_contours[0]") && e.contains("\"NNE\""),
            "{e}"
        );
    }

    #[test]
    fn cone_ring_is_closed_deduplicated_and_counter_clockwise() {
        // Clockwise, unclosed, with a repeated vertex.
        let d = doc(
            r#"{"type":"Feature","properties":{"data_type":"analysis","time":"2023-03-09T00:00:00Z"},"geometry":{"type":"Point","coordinates":[40.0,-20.0]}},
               {"type":"Feature","properties":{"data_type":"uncertainty_cone"},"geometry":{"type":"Polygon",
               "coordinates":[[[40,-20],[40,-20],[40,-19],[41,-19],[41,-20]]]}}"#,
        );
        let cone = parse(d.as_bytes(), "t.json")
            .unwrap()
            .forecast
            .cone
            .unwrap();
        let ring: Vec<_> = cone.exterior().coords().copied().collect();
        assert_eq!(ring.len(), 5);
        assert_eq!(ring.first(), ring.last());
        use geo::Area;
        assert!(
            cone.signed_area() > 0.0,
            "exterior must be counter-clockwise"
        );
    }
}
