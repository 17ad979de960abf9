//! GeoJSON layer reader (RFC 7946) on the `geojson` crate: features to [`Record`]s.
//!
//! Takes bytes already read by the caller; no file access of its own. Accepts Point,
//! Polygon and MultiPolygon geometries (what reference layers hold); any other type is
//! passed on as is and refused by the caller with the layer's expectations in the message.

use geo::Geometry;
use geojson::{Feature, GeoJson, GeometryValue, JsonObject, JsonValue};

use super::{LayerError, LayerSpec, Locus, Record};
use crate::geodata::normalise_crs;

pub(crate) fn read(spec: &LayerSpec, bytes: &[u8]) -> Result<Vec<Record>, LayerError> {
    let parsed: GeoJson = serde_json::from_slice(bytes)
        .map_err(|e| LayerError::layer(spec, format!("not valid GeoJSON: {e}")))?;
    let features = match parsed {
        GeoJson::FeatureCollection(fc) => {
            check_crs_member(spec, fc.foreign_members.as_ref())?;
            fc.features
        }
        GeoJson::Feature(f) => vec![f],
        GeoJson::Geometry(_) => {
            return Err(LayerError::layer(
                spec,
                "expected a FeatureCollection (or a Feature), found a bare geometry with no \
                 properties",
            ));
        }
    };
    check_fields_exist(spec, &features)?;
    features
        .into_iter()
        .enumerate()
        .map(|(i, feature)| record(spec, i, feature))
        .collect()
}

/// RFC 7946 dropped the `crs` member: coordinates are WGS 84 lon/lat. Older writers still
/// emit one (GDAL does for projected data); accept it only when it names WGS 84 lon/lat.
fn check_crs_member(spec: &LayerSpec, members: Option<&JsonObject>) -> Result<(), LayerError> {
    let Some(crs) = members.and_then(|m| m.get("crs")) else {
        return Ok(());
    };
    let name = crs
        .get("properties")
        .and_then(|p| p.get("name"))
        .and_then(JsonValue::as_str);
    match name {
        Some(n) if normalise_crs(n).is_some() => Ok(()),
        Some(n) => Err(LayerError::crs(
            spec,
            format!("\"{n}\" (from the GeoJSON crs member)"),
        )),
        None => Err(LayerError::crs(
            spec,
            format!("{crs} (a GeoJSON crs member)"),
        )),
    }
}

/// A configured field that no feature has is a typo in the manifest, not sparse data.
fn check_fields_exist(spec: &LayerSpec, features: &[Feature]) -> Result<(), LayerError> {
    if features.is_empty() {
        return Ok(());
    }
    for (field, property) in spec.fields.configured() {
        let present = features.iter().any(|f| {
            f.properties
                .as_ref()
                .is_some_and(|p| p.contains_key(property))
        });
        if !present {
            let available: Vec<&str> = features
                .first()
                .and_then(|f| f.properties.as_ref())
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(LayerError::layer(
                spec,
                format!(
                    "fields.{} = \"{property}\", but no feature has a property of that name; \
                     properties of the first feature: {}",
                    field.key(),
                    available.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn record(spec: &LayerSpec, index: usize, feature: Feature) -> Result<Record, LayerError> {
    let mut record = Record::new(Locus::Feature(index));
    record.source_id = feature.id.as_ref().map(|id| match id {
        geojson::feature::Id::String(s) => s.clone(),
        geojson::feature::Id::Number(n) => n.to_string(),
    });
    if let Some(props) = &feature.properties {
        for (field, property) in spec.fields.configured() {
            record.set(field, props.get(property).and_then(json_text));
        }
    }
    if let Some(geometry) = &feature.geometry {
        let converted = convert(&geometry.value)
            .map_err(|message| LayerError::record(spec, record.describe(), message))?;
        record.geometry = Some(converted);
    }
    Ok(record)
}

/// A property as text: strings as they are, integral numbers without ".0" (OSM ids come
/// as 27564983.0), other JSON as its text; null is no value.
fn json_text(value: &JsonValue) -> Option<String> {
    match value {
        JsonValue::Null => None,
        JsonValue::String(s) => Some(s.clone()),
        JsonValue::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 && n.is_f64() => {
                format!("{f:.0}")
            }
            _ => n.to_string(),
        }),
        other => Some(other.to_string()),
    }
}

/// geojson's conversion to geo types, after checking every position has two numbers (a
/// short one would make geojson 1.0 panic); a malformed position comes back as an error.
fn convert(value: &GeometryValue) -> Result<Geometry<f64>, String> {
    crate::geodata::geometry::to_geo(value)
}
