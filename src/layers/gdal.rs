//! GDAL/OGR vector reader (GeoPackage, Shapefile, FlatGeobuf, ...): features to
//! [`Record`]s. Compiled only with the `gdal` feature.
//!
//! Opens the file itself (GDAL needs a path); the only module that may name the `gdal`
//! crate, so nothing else in the package depends on it. Checks that the layer is WGS 84
//! longitude/latitude and refuses anything else rather than reprojecting: reprojection
//! belongs in data preparation, where a person can check the result.

use gdal::Dataset;
use gdal::spatial_ref::SpatialRef;
use gdal::vector::LayerAccess;

use super::{LayerError, LayerSpec, Locus, Record};

/// WGS 84 semi-major axis and inverse flattening (NIMA TR8350.2, 3rd ed., table 3.1).
const WGS84_SEMI_MAJOR_M: f64 = 6_378_137.0;
const WGS84_INVERSE_FLATTENING: f64 = 298.257_223_563;

pub(crate) fn read(
    spec: &LayerSpec,
    warnings: &mut Vec<String>,
) -> Result<Vec<Record>, LayerError> {
    let gdal_err = |what: &str, e: gdal::errors::GdalError| {
        LayerError::layer(spec, format!("GDAL could not {what}: {e}"))
    };
    let dataset = Dataset::open(&spec.path).map_err(|e| gdal_err("open the file", e))?;
    let names: Vec<String> = dataset.layers().map(|l| l.name()).collect();
    let mut layer = match (&spec.gdal_layer, names.as_slice()) {
        (Some(name), _) => dataset.layer_by_name(name).map_err(|_| {
            LayerError::layer(
                spec,
                format!(
                    "no layer named '{name}' (gdal_layer); layers in the file: {}",
                    names.join(", ")
                ),
            )
        })?,
        (None, [_]) => dataset
            .layer(0)
            .map_err(|e| gdal_err("open its layer", e))?,
        (None, _) => {
            return Err(LayerError::layer(
                spec,
                format!(
                    "the file holds {} layers ({}): set gdal_layer to choose one",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
    };
    match layer.spatial_ref() {
        Some(srs) => check_srs(spec, &srs)?,
        None => warnings.push(format!(
            "layer '{}': {} declares no CRS; taken as {} as the manifest says",
            spec.name,
            spec.path.display(),
            spec.crs
        )),
    }

    let field_names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let mut columns = Vec::new();
    for (field, source) in spec.fields.configured() {
        match field_names.iter().position(|n| n == source) {
            Some(i) => columns.push((field, i)),
            None => {
                return Err(LayerError::layer(
                    spec,
                    format!(
                        "no field named '{source}' (fields.{}); fields: {}",
                        field.key(),
                        field_names.join(", ")
                    ),
                ));
            }
        }
    }

    let mut records = Vec::new();
    for (n, feature) in layer.features().enumerate() {
        let at = feature.fid().map_or(Locus::Feature(n), Locus::Fid);
        let mut record = Record::new(at);
        for (field, index) in &columns {
            let value = feature.field_as_string(*index).map_err(|e| {
                LayerError::record(
                    spec,
                    record.describe(),
                    format!("field {}: {e}", field.key()),
                )
            })?;
            record.set(*field, value);
        }
        if let Some(geometry) = feature.geometry() {
            let converted = geometry.to_geo().map_err(|e| {
                LayerError::record(spec, record.describe(), format!("unreadable geometry: {e}"))
            })?;
            record.geometry = Some(converted);
        }
        records.push(record);
    }
    Ok(records)
}

/// Accepts EPSG:4326 / OGC:CRS84 by authority code, or any geographic CRS in degrees on
/// the WGS 84 ellipsoid (a file whose CRS has lost its authority code). Everything else,
/// projected CRSs first of all, is refused with a message saying how to reproject.
fn check_srs(spec: &LayerSpec, srs: &SpatialRef) -> Result<(), LayerError> {
    let authority = srs.authority().ok();
    if let Some(auth) = authority.as_deref()
        && crate::geodata::normalise_crs(auth).is_some()
    {
        return Ok(());
    }
    let on_wgs84 = match (srs.semi_major(), srs.semi_minor()) {
        (Ok(a), Ok(b)) if a > 0.0 => {
            let inverse_flattening = a / (a - b);
            (a - WGS84_SEMI_MAJOR_M).abs() < 0.01
                && (inverse_flattening - WGS84_INVERSE_FLATTENING).abs() < 1e-6
        }
        _ => false,
    };
    let in_degrees = (srs.angular_units() - 1f64.to_radians()).abs() < 1e-12;
    if srs.is_geographic() && on_wgs84 && in_degrees {
        return Ok(());
    }
    let name = srs.name().unwrap_or_else(|| "unnamed CRS".to_string());
    let found = match authority {
        Some(auth) => format!("{auth} ({name})"),
        None => name,
    };
    Err(LayerError::crs(spec, found))
}
