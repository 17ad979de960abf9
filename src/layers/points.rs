//! Building the point layers (settlements, health facilities, sites, centres) from their
//! records: a position from the geometry or the lon/lat fields, and the count fields.
//! The district of each point is joined afterwards by [`super::load_layers_from`].

use geo::{Geometry, Point};

use super::areas::check_coordinates;
use super::read::{Record, numeric_field};
use super::{Field, InvalidNumbers, LayerError, LayerSpec};
use crate::domain::PointFeature;
use crate::geodata::geometry_type;

pub(super) fn build_points(
    spec: &LayerSpec,
    kind: crate::domain::PointKind,
    records: Vec<Record>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PointFeature>, LayerError> {
    let mut skipped: Vec<String> = Vec::new();
    let mut features = Vec::with_capacity(records.len());
    for (n, record) in records.into_iter().enumerate() {
        let location = point_location(spec, &record)?;
        let mut number = |field: Field| -> Result<Option<f64>, LayerError> {
            match numeric_field(spec, &record, field) {
                Err(e) if spec.invalid_numbers == InvalidNumbers::Skip => {
                    skipped.push(e.to_string());
                    Ok(None)
                }
                other => other,
            }
        };
        let population = number(Field::Population)?;
        let households = number(Field::Households)?;
        let capacity = number(Field::Capacity)?;
        let id = record
            .get(Field::Id)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}-{}", spec.name, n + 1));
        let name = record
            .get(Field::Name)
            .map(str::to_string)
            .unwrap_or_else(|| id.clone());
        features.push(PointFeature {
            layer: spec.name.clone(),
            kind,
            id,
            name,
            location,
            population,
            households,
            capacity,
            district_pcode: None,
            subtype: record.get(Field::Subtype).map(str::to_string),
        });
    }
    if let Some(first) = skipped.first() {
        warnings.push(format!(
            "layer '{}': {} non-numeric values treated as missing (invalid_numbers = \
             \"skip\"); first: {first}",
            spec.name,
            skipped.len()
        ));
    }
    Ok(features)
}

/// A point from the geometry (GeoJSON, GDAL) or from the lon/lat fields (CSV).
fn point_location(spec: &LayerSpec, record: &Record) -> Result<Point<f64>, LayerError> {
    let fail = |message: String| LayerError::record(spec, record.describe(), message);
    let point = match (&record.geometry, spec.fields.lon.is_some()) {
        (Some(Geometry::Point(p)), _) => *p,
        (Some(other), _) => {
            return Err(fail(format!(
                "expected a Point, found a {}",
                geometry_type(other)
            )));
        }
        (None, true) => {
            let coordinate = |field: Field| {
                let source = spec.fields.get(field).unwrap_or("");
                let text = record.get(field).ok_or_else(|| {
                    fail(format!(
                        "field {} ('{source}') is empty: every point needs a position (fill \
                         it in or remove the row)",
                        field.key()
                    ))
                })?;
                parse_coordinate(text).ok_or_else(|| {
                    fail(format!(
                        "field {} ('{source}'): expected a decimal degree, found '{text}'",
                        field.key()
                    ))
                })
            };
            Point::new(coordinate(Field::Lon)?, coordinate(Field::Lat)?)
        }
        (None, false) => return Err(fail("expected a Point, found no geometry".into())),
    };
    check_coordinates(&point).map_err(fail)?;
    Ok(point)
}

/// Parses a decimal degree: one optional sign, one decimal mark (`.` or `,`), no
/// thousands separators (a coordinate never has any, and "1,234" must not become 1234).
pub(crate) fn parse_coordinate(text: &str) -> Option<f64> {
    let s = text.trim().replace(',', ".");
    if s.matches('.').count() > 1 {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_take_either_decimal_mark_but_no_grouping() {
        assert_eq!(parse_coordinate("-19.8436"), Some(-19.8436));
        assert_eq!(parse_coordinate(" -19,8436 "), Some(-19.8436));
        assert_eq!(parse_coordinate("1.234.5"), None);
        assert_eq!(parse_coordinate("NaN"), None);
    }
}
