//! Which districts a subscriber's polygon area touches: the port selection asks, a
//! closure, no geometry at all, or the loaded district outlines.

use std::collections::BTreeSet;

use geo::{BoundingRect, Intersects, MultiPolygon, Polygon, Rect};

/// Which districts a polygon area touches. The edge prepares it (e.g. [`DistrictShapes`]
/// over the loaded boundaries, or a cache of each subscriber's answer).
pub trait DistrictGeometry {
    fn districts_intersecting(&self, area: &Polygon<f64>) -> BTreeSet<String>;
}

impl<F: Fn(&Polygon<f64>) -> BTreeSet<String>> DistrictGeometry for F {
    fn districts_intersecting(&self, area: &Polygon<f64>) -> BTreeSet<String> {
        self(area)
    }
}

/// No geometry at hand: polygon areas match nothing.
pub struct NoGeometry;

impl DistrictGeometry for NoGeometry {
    fn districts_intersecting(&self, _: &Polygon<f64>) -> BTreeSet<String> {
        BTreeSet::new()
    }
}

/// District outlines with their bounding boxes, for polygon areas.
pub struct DistrictShapes {
    shapes: Vec<(String, Rect<f64>, MultiPolygon<f64>)>,
}

impl DistrictShapes {
    pub fn new(districts: impl IntoIterator<Item = (String, MultiPolygon<f64>)>) -> Self {
        DistrictShapes {
            shapes: districts
                .into_iter()
                .filter_map(|(p, mp)| mp.bounding_rect().map(|r| (p, r, mp)))
                .collect(),
        }
    }
}

impl DistrictGeometry for DistrictShapes {
    /// Planar intersection in lon/lat: a topological test, so degrees are fine here
    /// (no distance is measured).
    fn districts_intersecting(&self, area: &Polygon<f64>) -> BTreeSet<String> {
        let Some(bb) = area.bounding_rect() else {
            return BTreeSet::new();
        };
        self.shapes
            .iter()
            .filter(|(_, r, mp)| r.intersects(&bb) && mp.intersects(area))
            .map(|(p, _, _)| p.clone())
            .collect()
    }
}
