//! The uncertainty cone: the Polygon feature's rings closed, stripped of repeated vertices
//! and oriented counter-clockwise (RFC 7946).

use geo::orient::{Direction, Orient};
use geo::{Coord, LineString, Polygon};

use super::raw::RawFeature;
use super::{geometry_of, invalid_at, lon_lat, truncate};
use crate::feeds::{FeedError, Location};

pub(super) fn cone_polygon(
    origin: &str,
    index: usize,
    f: &RawFeature,
) -> Result<Polygon<f64>, FeedError> {
    let at = Location::Feature(index);
    let invalid = invalid_at(origin, &at);
    let geometry = geometry_of(origin, index, f, "Polygon")?;
    let rings = geometry
        .coordinates
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            invalid(
                "geometry.coordinates",
                "an array of linear rings",
                truncate(&geometry.coordinates.to_string(), 60),
            )
        })?;
    let mut out = Vec::with_capacity(rings.len());
    for (ri, ring) in rings.iter().enumerate() {
        let field = format!("geometry.coordinates[{ri}]");
        let positions = ring.as_array().ok_or_else(|| {
            invalid(
                &field,
                "an array of positions",
                truncate(&ring.to_string(), 60),
            )
        })?;
        let mut coords: Vec<Coord<f64>> = Vec::with_capacity(positions.len() + 1);
        for (vi, pos) in positions.iter().enumerate() {
            let (x, y) = lon_lat(origin, &at, &format!("{field}[{vi}]"), pos)?;
            let c = Coord { x, y };
            // The product repeats a vertex at each segment joint: drop consecutive duplicates.
            if coords.last() != Some(&c) {
                coords.push(c);
            }
        }
        if coords.first() != coords.last()
            && let Some(&first) = coords.first()
        {
            coords.push(first);
        }
        // A closed ring needs 3 distinct vertices + the closing one.
        if coords.len() < 4 {
            return Err(invalid(
                &field,
                "a linear ring with at least 3 distinct positions",
                format!("{} distinct positions", coords.len().saturating_sub(1)),
            ));
        }
        out.push(LineString::from(coords));
    }
    let mut rings = out.into_iter();
    let Some(exterior) = rings.next() else {
        return Err(invalid(
            "geometry.coordinates",
            "at least one linear ring",
            "none".into(),
        ));
    };
    let polygon = Polygon::new(exterior, rings.collect());
    Ok(polygon.orient(Direction::Default))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::parse;
    use super::super::tests::doc;

    #[test]
    fn cone_ring_is_closed_deduplicated_and_counter_clockwise() {
        // Clockwise, unclosed, with a repeated vertex.
        let d = doc(
            r#"{"type":"Feature","properties":{"data_type":"analysis","time":"2023-03-09T00:00:00Z"},"geometry":{"type":"Point","coordinates":[40.0,-20.0]}},
               {"type":"Feature","properties":{"data_type":"uncertainty_cone"},"geometry":{"type":"Polygon",
               "coordinates":[[[40,-20],[40,-20],[40,-19],[41,-19],[41,-20]]]}}"#,
        );
        let cone = parse(d.as_bytes(), "t.json")
            .unwrap()
            .forecast
            .cone
            .unwrap();
        let ring: Vec<_> = cone.exterior().coords().copied().collect();
        assert_eq!(ring.len(), 5);
        assert_eq!(ring.first(), ring.last());
        use geo::Area;
        assert!(
            cone.signed_area() > 0.0,
            "exterior must be counter-clockwise"
        );
    }
}
