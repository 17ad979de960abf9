//! A forecast written back as a CMRSTRACK document, for the demo's replay feed.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::{FixKind, Forecast, ForecastSource};

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
///
/// [`parse`]: super::parse
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
