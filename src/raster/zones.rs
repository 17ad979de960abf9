//! The polygons to sum a raster under (`aviso zonal --polygons`): GeoJSON read with the
//! `geojson` crate, any other vector format through GDAL (`raster::gdal`).
//!
//! Reads one file; depends on nothing in the core. Features without a (Multi)Polygon
//! geometry are refused with their index, not skipped, so a sum is never silently missing.

use std::path::Path;

use geo::{Coord, LineString, MultiPolygon, Polygon};
use geojson::{GeoJson, GeometryValue, JsonValue, Position};

use super::RasterError;

/// One polygon feature: its id (the `--id-field` value, or the feature id, or its index)
/// and its geometry in EPSG:4326 lon/lat.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub id: String,
    pub polygons: MultiPolygon<f64>,
}

/// Reads the zones of `path`. GeoJSON (`.geojson`/`.json`) is read directly; anything else
/// needs the `gdal` feature.
pub fn read_zones(path: &Path, id_field: Option<&str>) -> Result<Vec<Zone>, RasterError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("geojson" | "json") => {
            let bytes = std::fs::read(path).map_err(|e| RasterError::Polygons {
                path: path.to_path_buf(),
                message: format!("cannot read: {e}"),
            })?;
            zones_from_geojson(path, &bytes, id_field)
        }
        #[cfg(feature = "gdal")]
        _ => super::gdal::read_vector_zones(path, id_field),
        #[cfg(not(feature = "gdal"))]
        _ => Err(RasterError::GdalDisabled {
            path: path.to_path_buf(),
        }),
    }
}

/// Parses GeoJSON bytes (a FeatureCollection or one Feature) into zones; `path` only names
/// the source in errors.
pub fn zones_from_geojson(
    path: &Path,
    bytes: &[u8],
    id_field: Option<&str>,
) -> Result<Vec<Zone>, RasterError> {
    let err = |message: String| RasterError::Polygons {
        path: path.to_path_buf(),
        message,
    };
    let parsed: GeoJson =
        serde_json::from_slice(bytes).map_err(|e| err(format!("not valid GeoJSON: {e}")))?;
    let features = match parsed {
        GeoJson::FeatureCollection(fc) => fc.features,
        GeoJson::Feature(f) => vec![f],
        GeoJson::Geometry(_) => {
            return Err(err(
                "expected a FeatureCollection or a Feature, found a bare geometry".to_string(),
            ));
        }
    };
    let mut zones = Vec::with_capacity(features.len());
    for (index, feature) in features.into_iter().enumerate() {
        let feature_err = |message: String| RasterError::Feature {
            path: path.to_path_buf(),
            index,
            message,
        };
        let id = match id_field {
            Some(name) => match feature.property(name) {
                Some(JsonValue::String(s)) => s.clone(),
                Some(JsonValue::Null) | None => {
                    return Err(feature_err(format!(
                        "no property '{name}' (--id-field); properties: {}",
                        feature
                            .properties
                            .as_ref()
                            .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                            .unwrap_or_default()
                    )));
                }
                Some(other) => other.to_string(),
            },
            None => match &feature.id {
                Some(geojson::feature::Id::String(s)) => s.clone(),
                Some(geojson::feature::Id::Number(n)) => n.to_string(),
                None => index.to_string(),
            },
        };
        let polygons = match feature.geometry.as_ref().map(|g| &g.value) {
            Some(GeometryValue::Polygon { coordinates }) => {
                MultiPolygon(vec![polygon(coordinates).map_err(feature_err)?])
            }
            Some(GeometryValue::MultiPolygon { coordinates }) => MultiPolygon(
                coordinates
                    .iter()
                    .map(|p| polygon(p))
                    .collect::<Result<_, _>>()
                    .map_err(feature_err)?,
            ),
            Some(other) => {
                return Err(feature_err(format!(
                    "expected a Polygon or MultiPolygon, found a {}",
                    other.type_name()
                )));
            }
            None => return Err(feature_err("has no geometry".to_string())),
        };
        zones.push(Zone { id, polygons });
    }
    Ok(zones)
}

fn polygon(rings: &[Vec<Position>]) -> Result<Polygon<f64>, String> {
    let mut out = Vec::with_capacity(rings.len());
    for ring in rings {
        let mut coords = Vec::with_capacity(ring.len());
        for position in ring {
            match position.as_slice() {
                [x, y, ..] => coords.push(Coord { x: *x, y: *y }),
                other => {
                    return Err(format!(
                        "a position needs longitude and latitude, found {} numbers",
                        other.len()
                    ));
                }
            }
        }
        out.push(LineString(coords));
    }
    let mut rings = out.into_iter();
    let exterior = rings
        .next()
        .ok_or_else(|| "a polygon with no rings".to_string())?;
    Ok(Polygon::new(exterior, rings.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geojson_zones_take_their_id_from_the_named_property_and_keep_multipolygons() {
        let text = br#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"code":"A"},"geometry":{"type":"Polygon",
           "coordinates":[[[30,-11],[31,-11],[31,-10],[30,-11]]]}},
          {"type":"Feature","properties":{"code":7},"geometry":{"type":"MultiPolygon",
           "coordinates":[[[[30,-11],[31,-11],[31,-10],[30,-11]]],[[[32,-11],[33,-11],[33,-10],[32,-11]]]]}}
        ]}"#;
        let zones = zones_from_geojson(Path::new("t.geojson"), text, Some("code")).unwrap();
        assert_eq!(zones[0].id, "A");
        assert_eq!(zones[1].id, "7");
        assert_eq!(zones[1].polygons.0.len(), 2);
    }

    #[test]
    fn a_missing_id_property_or_a_point_is_an_error_naming_the_feature() {
        let text = br#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"name":"x"},"geometry":{"type":"Point","coordinates":[30,-11]}}]}"#;
        let e = zones_from_geojson(Path::new("t.geojson"), text, Some("code")).unwrap_err();
        assert!(
            e.to_string().contains("feature 0: no property 'code'"),
            "{e}"
        );
        let e = zones_from_geojson(Path::new("t.geojson"), text, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("expected a Polygon or MultiPolygon, found a Point"),
            "{e}"
        );
    }
}
