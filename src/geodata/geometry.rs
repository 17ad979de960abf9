//! GeoJSON geometry to `geo` types for input from outside: every position is checked to
//! hold at least [longitude, latitude] before the `geojson` crate converts it.
//!
//! Why: geojson 1.0.0 checks the length of a Point's position only; a LineString, Polygon
//! or Multi* position with fewer than two numbers (`[34.8]`, `[]`) makes its conversion
//! index out of bounds and panic (`to_geo_types.rs`, `create_geo_coordinate`; upstream
//! georust/geojson#224 fixed the Point case). Found by the fuzz tests (tests/it/fuzz).
//!
//! Part of geodata, below every adapter that reads GeoJSON geometry (feeds, layers,
//! notify's subscriber areas, the API's filters): no I/O, and it imports nothing of aviso.

use geo::Geometry;
use geojson::{GeometryValue, Position};

/// The `geo` geometry of a GeoJSON geometry value, or what is wrong with it: a position
/// with fewer than two numbers (named by its place, e.g. "ring 0, position 3"), or
/// geojson's own refusal.
pub fn to_geo(value: &GeometryValue) -> Result<Geometry<f64>, String> {
    check_positions(value)?;
    Geometry::<f64>::try_from(value).map_err(|e| e.to_string())
}

fn short(place: String, p: &Position) -> Result<(), String> {
    if p.len() < 2 {
        return Err(format!(
            "{place} has {} number{}; expected a position [longitude, latitude]",
            p.len(),
            if p.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

fn line(prefix: &str, points: &[Position]) -> Result<(), String> {
    points
        .iter()
        .enumerate()
        .try_for_each(|(i, p)| short(format!("{prefix}position {i}"), p))
}

fn rings(prefix: &str, rings: &[Vec<Position>], what: &str) -> Result<(), String> {
    rings
        .iter()
        .enumerate()
        .try_for_each(|(r, ring)| line(&format!("{prefix}{what} {r}, "), ring))
}

/// Every position of `value` (through nested collections) has at least two numbers.
fn check_positions(value: &GeometryValue) -> Result<(), String> {
    match value {
        GeometryValue::Point { coordinates } => short("the point".into(), coordinates),
        GeometryValue::MultiPoint { coordinates } => line("", coordinates),
        GeometryValue::LineString { coordinates } => line("", coordinates),
        GeometryValue::MultiLineString { coordinates } => rings("", coordinates, "line"),
        GeometryValue::Polygon { coordinates } => rings("", coordinates, "ring"),
        GeometryValue::MultiPolygon { coordinates } => coordinates
            .iter()
            .enumerate()
            .try_for_each(|(i, polygon)| rings(&format!("polygon {i}, "), polygon, "ring")),
        GeometryValue::GeometryCollection { geometries } => {
            geometries.iter().enumerate().try_for_each(|(i, g)| {
                check_positions(&g.value).map_err(|e| format!("geometry {i}: {e}"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(json: &str) -> GeometryValue {
        match serde_json::from_str::<geojson::Geometry>(json) {
            Ok(g) => g.value,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    #[test]
    fn a_short_position_in_a_ring_is_an_error_naming_it_not_a_panic() {
        let v = value(
            r#"{"type":"Polygon","coordinates":[[[34.8,-19.9],[34.9,-19.9],[3419.8],[34.8,-19.9]]]}"#,
        );
        assert_eq!(
            to_geo(&v).err().as_deref(),
            Some("ring 0, position 2 has 1 number; expected a position [longitude, latitude]")
        );
        let v = value(r#"{"type":"MultiLineString","coordinates":[[[1,2]],[[3,4],[]]]}"#);
        let e = to_geo(&v).err().unwrap_or_default();
        assert!(e.starts_with("line 1, position 1 has 0 numbers"), "{e}");
    }

    #[test]
    fn whole_positions_convert_as_geojson_does() {
        let v = value(r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]}"#);
        assert!(matches!(to_geo(&v), Ok(Geometry::MultiPolygon(mp)) if mp.0.len() == 1));
    }
}
