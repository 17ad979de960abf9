//! Building the boundary layers (country, provinces, districts) from their records: one
//! oriented, range-checked MultiPolygon per area, with its P-code, name, parent and
//! geodesic area.

use geo::orient::Direction;
use geo::{CoordsIter, GeodesicArea, Geometry, MultiPolygon, Orient};

use super::read::Record;
use super::{Field, LayerError, LayerSpec};
use crate::domain::AdminArea;
use crate::geodata::geometry_type;

pub(super) fn build_country(
    spec: &LayerSpec,
    records: Vec<Record>,
) -> Result<MultiPolygon<f64>, LayerError> {
    let mut polygons = Vec::new();
    for record in records {
        let area = area_geometry(spec, &record)?;
        polygons.extend(area.0);
    }
    if polygons.is_empty() {
        return Err(LayerError::layer(
            spec,
            "expected at least one polygon, found none",
        ));
    }
    Ok(MultiPolygon(polygons))
}

pub(super) fn build_areas(
    spec: &LayerSpec,
    records: Vec<Record>,
) -> Result<Vec<AdminArea>, LayerError> {
    let mut areas: Vec<AdminArea> = Vec::with_capacity(records.len());
    for record in records {
        let geometry = area_geometry(spec, &record)?;
        let required = |field: Field| {
            record.get(field).map(str::to_string).ok_or_else(|| {
                LayerError::record(
                    spec,
                    record.describe(),
                    format!(
                        "field {} ('{}') is empty",
                        field.key(),
                        spec.fields.get(field).unwrap_or("")
                    ),
                )
            })
        };
        let pcode = required(Field::Id)?;
        let name = required(Field::Name)?;
        let parent_pcode = if spec.fields.parent_id.is_some() {
            Some(required(Field::ParentId)?)
        } else {
            None
        };
        if let Some(first) = areas.iter().find(|a| a.pcode == pcode) {
            return Err(LayerError::record(
                spec,
                record.describe(),
                format!("P-code {pcode} appears twice (also for '{}')", first.name),
            ));
        }
        let area_km2 = geometry.geodesic_area_unsigned() / 1e6;
        areas.push(AdminArea {
            pcode,
            name,
            parent_pcode,
            parent_name: record.get(Field::ParentName).map(str::to_string),
            geometry,
            area_km2,
            population: None,
            population_source: None,
        });
    }
    Ok(areas)
}

/// The record's geometry as an oriented MultiPolygon, or an error naming the feature.
fn area_geometry(spec: &LayerSpec, record: &Record) -> Result<MultiPolygon<f64>, LayerError> {
    let fail = |message: String| LayerError::record(spec, record.describe(), message);
    let multi = match &record.geometry {
        Some(Geometry::Polygon(p)) => MultiPolygon(vec![p.clone()]),
        Some(Geometry::MultiPolygon(mp)) => mp.clone(),
        Some(other) => {
            return Err(fail(format!(
                "expected a Polygon or MultiPolygon, found a {}",
                geometry_type(other)
            )));
        }
        None => {
            return Err(fail(
                "expected a Polygon or MultiPolygon, found no geometry".into(),
            ));
        }
    };
    if multi.0.is_empty() || multi.0.iter().all(|p| p.exterior().0.is_empty()) {
        return Err(fail("geometry is empty".into()));
    }
    check_coordinates(&multi).map_err(fail)?;
    // RFC 7946 winding (exterior counter-clockwise) so geodesic areas and later GeoJSON
    // output are right whatever the source used (shapefiles wind clockwise).
    Ok(multi.orient(Direction::Default))
}

pub(crate) fn check_coordinates(geometry: &impl CoordsIter<Scalar = f64>) -> Result<(), String> {
    match geometry
        .coords_iter()
        .find(|c| !(c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 90.0))
    {
        Some(c) => Err(format!(
            "coordinate ({}, {}) is out of range: expected longitude in [-180, 180] and \
             latitude in [-90, 90] (WGS 84, longitude first); is the layer projected or \
             are lon/lat swapped?",
            c.x, c.y
        )),
        None => Ok(()),
    }
}
