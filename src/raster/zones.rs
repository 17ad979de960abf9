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

/// Reads points (Point/MultiPoint features) from GeoJSON, or any vector format through
/// GDAL. Features of other types are skipped.
pub fn read_points(path: &Path) -> Result<Vec<geo::Point<f64>>, RasterError> {
    let err = |message: String| RasterError::Input {
        path: path.to_path_buf(),
        message,
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("geojson" | "json")) {
        #[cfg(feature = "gdal")]
        return super::gdal::read_vector_points(path);
        #[cfg(not(feature = "gdal"))]
        return Err(RasterError::GdalDisabled {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let parsed: GeoJson =
        serde_json::from_slice(&bytes).map_err(|e| err(format!("not valid GeoJSON: {e}")))?;
    let GeoJson::FeatureCollection(fc) = parsed else {
        return Err(err("expected a FeatureCollection of points".to_string()));
    };
    let mut points = Vec::with_capacity(fc.features.len());
    for f in &fc.features {
        match f.geometry.as_ref().map(|g| &g.value) {
            Some(GeometryValue::Point { coordinates }) => {
                if let [x, y, ..] = coordinates.as_slice() {
                    points.push(geo::Point::new(*x, *y));
                }
            }
            Some(GeometryValue::MultiPoint { coordinates }) => {
                for c in coordinates {
                    if let [x, y, ..] = c.as_slice() {
                        points.push(geo::Point::new(*x, *y));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(points)
}

/// Reads a CSV of totals: `id_column` → `value_column` (counts may carry thousands
/// separators, as in the INE tables). Empty values are skipped; anything else that is not
/// a number is an error naming the line and column.
pub fn read_totals_csv(
    path: &Path,
    id_column: &str,
    value_column: &str,
) -> Result<std::collections::HashMap<String, f64>, RasterError> {
    let err = |message: String| RasterError::Input {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| err(format!("no header row: {e}")))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            err(format!(
                "no column '{name}'; columns: {}",
                headers.iter().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    let (id_at, value_at) = (column(id_column)?, column(value_column)?);
    let mut totals = std::collections::HashMap::new();
    for (n, row) in reader.records().enumerate() {
        let line = n + 2; // 1-based, after the header
        let row = row.map_err(|e| err(format!("line {line}: {e}")))?;
        let (Some(id), Some(text)) = (row.get(id_at), row.get(value_at)) else {
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let value = crate::geodata::parse_count(text).ok_or_else(|| {
            err(format!(
                "line {line}, column {value_column}: expected a non-negative number, found '{text}'"
            ))
        })?;
        totals.insert(id.to_string(), value);
    }
    Ok(totals)
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
