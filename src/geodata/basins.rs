//! River basins (GeoJSON (Multi)Polygons with a name) read from bytes into
//! [`crate::domain::RiverBasin`]. Both a fetched flood feed's basin file and a layer
//! manifest's `river_basins` layer carry them, so the parser sits here, below feeds and
//! layers (issue 16 move 3).
//!
//! Pure: bytes in, domain out. Must not do file or network I/O, nor depend on GDAL.

use crate::domain::RiverBasin;
use crate::geodata::{first_non_lonlat, geojson_crs_name};

/// A basin file that cannot be read: the file (path or URL) and what is wrong, with the
/// feature index where there is one.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct BasinError {
    pub origin: String,
    pub message: String,
}

/// Parses a GeoJSON FeatureCollection of river-basin (Multi)Polygons; `name_field` is the
/// property holding the basin's name (`Basins` in the shared file). Only WGS 84 lon/lat is
/// accepted: a `crs` member naming anything else, or coordinates outside lon/lat ranges
/// (a projected file), is an error.
pub fn parse_basins(
    bytes: &[u8],
    origin: &str,
    name_field: &str,
) -> Result<Vec<RiverBasin>, BasinError> {
    let err = |message: String| BasinError {
        origin: origin.to_string(),
        message,
    };
    let gj: geojson::GeoJson =
        serde_json::from_slice(bytes).map_err(|e| err(format!("not valid GeoJSON: {e}")))?;
    let geojson::GeoJson::FeatureCollection(fc) = gj else {
        return Err(err("expected a FeatureCollection of basin polygons".into()));
    };
    if let Some(name) = geojson_crs_name(fc.foreign_members.as_ref())
        && crate::geodata::normalise_crs(&name).is_none()
    {
        return Err(err(format!(
            "CRS {name:?} is not WGS 84 lon/lat; reproject with: ogr2ogr -t_srs EPSG:4326 out.geojson in.geojson"
        )));
    }
    let mut out = Vec::with_capacity(fc.features.len());
    for (i, f) in fc.features.iter().enumerate() {
        let name = f
            .property(name_field)
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                err(format!(
                    "feature {i}: expected a text property {name_field:?}"
                ))
            })?
            .to_string();
        let geom = f
            .geometry
            .as_ref()
            .ok_or_else(|| err(format!("feature {i} ({name}): no geometry")))?;
        let g = crate::geodata::geometry::to_geo(&geom.value)
            .map_err(|e| err(format!("feature {i} ({name}): {e}")))?;
        let mp = match g {
            geo::Geometry::Polygon(p) => geo::MultiPolygon::new(vec![p]),
            geo::Geometry::MultiPolygon(mp) => mp,
            other => {
                return Err(err(format!(
                    "feature {i} ({name}): expected a Polygon or MultiPolygon, found {}",
                    crate::geodata::geometry_type(&other)
                )));
            }
        };
        if let Some((x, y)) = first_non_lonlat(&mp) {
            return Err(err(format!(
                "feature {i} ({name}): coordinate ({x}, {y}) is not lon/lat degrees: the file looks projected; reproject with: ogr2ogr -t_srs EPSG:4326 out.geojson in.geojson"
            )));
        }
        out.push(RiverBasin {
            area_km2: crate::hazard::geodesy::area_km2(&mp),
            name,
            geometry: mp,
        });
    }
    if out.is_empty() {
        return Err(err("no basin features".into()));
    }
    Ok(out)
}
