//! Flood-extent polygons (satellite or model products: UNOSAT, Copernicus EMS, a hydraulic
//! model's wet area) read from GeoJSON bytes into [`crate::domain::FloodExtentInput`], and
//! the checks every reader of such files applies (GDAL's too, in
//! [`crate::layers::flood`]).
//!
//! Pure: bytes in, domain out. Must not do file or network I/O, nor depend on GDAL.
//!
//! What is refused, each with the file and the feature index named:
//! - a CRS other than WGS 84 lon/lat (a GeoJSON `crs` member naming e.g. EPSG:32736, or
//!   coordinates outside ±180/±90, which only a projected file has): aviso never
//!   reprojects silently; the message gives the `ogr2ogr -t_srs EPSG:4326` command;
//! - a geometry that is not a Polygon or MultiPolygon, is empty, or is invalid under the
//!   OGC Simple Features rules (self-intersecting ring, overlapping parts), as geo's
//!   `Validation` reports it; the message gives the `ogr2ogr -makevalid` command;
//! - a configured attribute that no feature has (a typo), naming the properties found.

use geo::{Geometry, MultiPolygon, Validation};
use geojson::{GeoJson, JsonValue};

use crate::domain::{ExtentFeature, ExtentValue, FloodExtentInput};
use crate::geodata::{first_non_lonlat, geojson_crs_name};

/// Everything that can go wrong reading a flood-extent file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ExtentError {
    #[error("flood extent {origin}: file not found")]
    MissingFile { origin: String },
    #[error("flood extent {origin}: {message}")]
    Read { origin: String, message: String },
    #[error(
        "flood extent {origin}: CRS {found} is not WGS 84 longitude/latitude; flood extents \
         must be EPSG:4326 (or OGC:CRS84). Reproject it first: \
         `ogr2ogr -t_srs EPSG:4326 reprojected.gpkg {origin}`"
    )]
    Crs { origin: String, found: String },
    #[error("flood extent {origin}: feature {index}{}: {message}", id_text(.id))]
    Feature {
        origin: String,
        index: usize,
        id: Option<String>,
        message: String,
    },
    #[error(
        "flood extent {origin}: no feature has an attribute {field:?} (the depth/class \
         attribute asked for); attributes found: {available}"
    )]
    UnknownAttribute {
        origin: String,
        field: String,
        available: String,
    },
    #[error(
        "flood extent {origin}: built without GDAL, which {origin} needs (only GeoJSON is read natively); rebuild with --features gdal or convert it: `ogr2ogr -f GeoJSON extent.geojson {origin}`"
    )]
    GdalDisabled { origin: String },
}

fn id_text(id: &Option<String>) -> String {
    id.as_ref()
        .map(|i| format!(" (id {i})"))
        .unwrap_or_default()
}

/// Checks one feature's geometry: a non-empty, valid (Multi)Polygon in lon/lat degrees.
/// Shared by the GeoJSON and GDAL readers so both refuse the same things the same way.
pub fn check_extent_geometry(
    origin: &str,
    index: usize,
    id: Option<&str>,
    geometry: Option<Geometry<f64>>,
) -> Result<MultiPolygon<f64>, ExtentError> {
    let fail = |message: String| ExtentError::Feature {
        origin: origin.to_string(),
        index,
        id: id.map(str::to_string),
        message,
    };
    let mp = match geometry {
        Some(Geometry::Polygon(p)) => MultiPolygon::new(vec![p]),
        Some(Geometry::MultiPolygon(mp)) => mp,
        Some(other) => {
            return Err(fail(format!(
                "expected a Polygon or MultiPolygon (a flooded area), found a {}",
                crate::geodata::geometry_type(&other)
            )));
        }
        None => {
            return Err(fail(
                "has no geometry; expected a flooded-area polygon".into(),
            ));
        }
    };
    if mp.0.is_empty() {
        return Err(fail(
            "has an empty geometry; expected a flooded-area polygon".into(),
        ));
    }
    if let Some((x, y)) = first_non_lonlat(&mp) {
        return Err(ExtentError::Crs {
            origin: origin.to_string(),
            found: format!(
                "unknown (feature {index} has coordinate ({x}, {y}), outside lon/lat ranges: \
                 the file looks projected, in metres)"
            ),
        });
    }
    if let Err(e) = mp.check_validation() {
        return Err(fail(format!(
            "invalid polygon ({e}); repair it first, e.g. \
             `ogr2ogr -makevalid repaired.gpkg {origin}`"
        )));
    }
    Ok(mp)
}

/// A property value as an [`ExtentValue`]; null and blank text are no value.
fn json_value(v: &JsonValue) -> Result<Option<ExtentValue>, String> {
    match v {
        JsonValue::Null => Ok(None),
        JsonValue::Number(n) => n
            .as_f64()
            .map(|f| Some(ExtentValue::Number(f)))
            .ok_or_else(|| format!("number {n} out of range")),
        JsonValue::String(s) if s.trim().is_empty() => Ok(None),
        JsonValue::String(s) => Ok(Some(ExtentValue::Text(s.trim().to_string()))),
        other => Err(format!("expected a number or text, found {other}")),
    }
}

/// Parses a GeoJSON FeatureCollection (or one Feature) of flood polygons. `field` names
/// the depth/class property to keep, if any.
pub fn parse_extent_geojson(
    bytes: &[u8],
    origin: &str,
    field: Option<&str>,
) -> Result<FloodExtentInput, ExtentError> {
    let read = |message: String| ExtentError::Read {
        origin: origin.to_string(),
        message,
    };
    let parsed: GeoJson =
        serde_json::from_slice(bytes).map_err(|e| read(format!("not valid GeoJSON: {e}")))?;
    let features = match parsed {
        GeoJson::FeatureCollection(fc) => {
            if let Some(name) = geojson_crs_name(fc.foreign_members.as_ref())
                && crate::geodata::normalise_crs(&name).is_none()
            {
                return Err(ExtentError::Crs {
                    origin: origin.to_string(),
                    found: format!("{name:?} (the GeoJSON crs member)"),
                });
            }
            fc.features
        }
        GeoJson::Feature(f) => vec![f],
        GeoJson::Geometry(_) => {
            return Err(read(
                "expected a FeatureCollection (or a Feature) of flood polygons, found a bare geometry"
                    .into(),
            ));
        }
    };
    if features.is_empty() {
        return Err(read(
            "no features: expected at least one flood polygon".into(),
        ));
    }
    if let Some(name) = field
        && !features
            .iter()
            .any(|f| f.properties.as_ref().is_some_and(|p| p.contains_key(name)))
    {
        let available: Vec<&str> = features
            .first()
            .and_then(|f| f.properties.as_ref())
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(ExtentError::UnknownAttribute {
            origin: origin.to_string(),
            field: name.to_string(),
            available: if available.is_empty() {
                "none".into()
            } else {
                available.join(", ")
            },
        });
    }
    let mut out = Vec::with_capacity(features.len());
    for (index, f) in features.into_iter().enumerate() {
        let id = f.id.as_ref().map(|id| match id {
            geojson::feature::Id::String(s) => s.clone(),
            geojson::feature::Id::Number(n) => n.to_string(),
        });
        let fail = |message: String| ExtentError::Feature {
            origin: origin.to_string(),
            index,
            id: id.clone(),
            message,
        };
        let geometry = match &f.geometry {
            Some(g) => Some(
                crate::geodata::geometry::to_geo(&g.value)
                    .map_err(|e| fail(format!("unreadable geometry: {e}")))?,
            ),
            None => None,
        };
        let geometry = check_extent_geometry(origin, index, id.as_deref(), geometry)?;
        let value = match (field, f.properties.as_ref()) {
            (Some(name), Some(props)) => match props.get(name) {
                Some(v) => json_value(v).map_err(|m| fail(format!("attribute {name:?}: {m}")))?,
                None => None,
            },
            _ => None,
        };
        out.push(ExtentFeature {
            index,
            id,
            geometry,
            value,
        });
    }
    Ok(FloodExtentInput {
        origin: origin.to_string(),
        field: field.map(str::to_string),
        features: out,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fc(features: &str) -> String {
        format!(r#"{{"type":"FeatureCollection","features":[{features}]}}"#)
    }

    const SQUARE: &str = r#"{"type":"Polygon","coordinates":[[[34.5,-19.9],[34.6,-19.9],[34.6,-19.8],[34.5,-19.8],[34.5,-19.9]]]}"#;

    #[test]
    fn a_square_with_a_depth_is_read_with_its_value() {
        let text = fc(&format!(
            r#"{{"type":"Feature","id":"a","properties":{{"depth_m":1.5}},"geometry":{SQUARE}}}"#
        ));
        let x = parse_extent_geojson(text.as_bytes(), "x.geojson", Some("depth_m")).unwrap();
        assert_eq!(x.features.len(), 1);
        assert_eq!(x.features[0].value, Some(ExtentValue::Number(1.5)));
        assert_eq!(x.features[0].id.as_deref(), Some("a"));
    }

    #[test]
    fn a_bow_tie_is_refused_with_its_index_and_the_repair_command() {
        let bow = r#"{"type":"Polygon","coordinates":[[[34.5,-19.9],[34.6,-19.8],[34.6,-19.9],[34.5,-19.8],[34.5,-19.9]]]}"#;
        let text = fc(&format!(
            r#"{{"type":"Feature","properties":{{}},"geometry":{SQUARE}}},{{"type":"Feature","properties":{{}},"geometry":{bow}}}"#
        ));
        let e = parse_extent_geojson(text.as_bytes(), "x.geojson", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.geojson: feature 1") && e.contains("ogr2ogr -makevalid"),
            "{e}"
        );
    }

    #[test]
    fn a_line_is_not_a_flooded_area() {
        let text = fc(
            r#"{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[34.5,-19.9],[34.6,-19.8]]}}"#,
        );
        let e = parse_extent_geojson(text.as_bytes(), "x.geojson", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("feature 0") && e.contains("LineString"), "{e}");
    }
}
