//! When a swath first reaches a district or a point: overlap tests between areas (certain
//! answers first, the overlay only when they cannot tell) and the first segment, in time
//! order, that passes them.

use chrono::{DateTime, Utc};
use geo::{BooleanOps, BoundingRect, Coord, Intersects, MultiPolygon, Rect};

use crate::domain::WindSwath;
use crate::spatial::{AreaEdges, Relation, overlap_certain, relate_certain_prepared};

/// [`areas_overlap`] with `a`'s edges kept beforehand.
pub(super) fn areas_overlap_prepared(
    a: &MultiPolygon<f64>,
    a_edges: &AreaEdges,
    b: &MultiPolygon<f64>,
) -> bool {
    match (a_edges.rect(), b.bounding_rect()) {
        (Some(ra), Some(rb)) if ra.intersects(&rb) => relate_certain_prepared(a, a_edges, b)
            .map(|r| r != Relation::Disjoint)
            .unwrap_or_else(|| !a.intersection(b).0.is_empty()),
        _ => false,
    }
}

/// True when two areas share some area (touching along a border does not count).
///
/// Bounding boxes first; then [`overlap_certain`] (edges near the other's box, swept along
/// x: boundaries well apart, or a clean crossing), which decides most pairs; then, only
/// when it cannot, i_overlay's sweep-line intersection (geo's `BooleanOps`), whose answer
/// `overlap_certain` never contradicts. The overlay was 28 % of an assessment, mostly in
/// first-arrival tests (perf on `cargo bench --bench assess`). geo's `Intersects` between
/// polygons tests every pair of edges, O(n·m), and counts touching as intersecting.
pub(crate) fn areas_overlap(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> bool {
    match (a.bounding_rect(), b.bounding_rect()) {
        (Some(ra), Some(rb)) if ra.intersects(&rb) => {
            overlap_certain(a, b).unwrap_or_else(|| !a.intersection(b).0.is_empty())
        }
        _ => false,
    }
}

/// The overlap of two boxes, if they meet.
pub(super) fn rect_overlap(a: Rect<f64>, b: Rect<f64>) -> Option<Rect<f64>> {
    let min = Coord {
        x: a.min().x.max(b.min().x),
        y: a.min().y.max(b.min().y),
    };
    let max = Coord {
        x: a.max().x.min(b.max().x),
        y: a.max().y.min(b.max().y),
    };
    (min.x <= max.x && min.y <= max.y).then(|| Rect::new(min, max))
}

/// First segment (time order) of a swath whose footprint satisfies `hit`; segments whose
/// bounding box (`boxes`, one per segment, computed once per assessment) misses
/// `target_box` are skipped without the exact test.
pub(super) fn first_arrival(
    swath: &WindSwath,
    boxes: &[Option<Rect<f64>>],
    target_box: Rect<f64>,
    hit: impl Fn(&MultiPolygon<f64>) -> bool,
) -> Option<DateTime<Utc>> {
    swath
        .segments
        .iter()
        .zip(boxes)
        .find(|(s, b)| b.is_some_and(|b| b.intersects(&target_box)) && hit(&s.geometry))
        .map(|(s, _)| s.start)
}
