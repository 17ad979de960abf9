//! Deciding whether two areas share some area without running an overlay, when the answer
//! is certain; [`overlap_certain`] says `None` otherwise and the caller runs the overlay.
//!
//! The overlay it stands in for is geo's `BooleanOps::intersection` (i_overlay), which
//! snaps both operands to an integer grid of (half the larger side of their joint
//! bounding box) / 2^29 (i_float's `FloatPointAdapter`): under 2·10⁻⁷° for any box up to
//! 100° across. An answer is given only when it cannot depend on that snapping:
//!
//! - **Overlap**: some disc of radius [`MARGIN_DEG`] (50 grid steps and more) lies inside
//!   both operands. Its centre stays inside both after snapping, so the exact integer
//!   intersection is not empty (the argument of `IndexedLayers::touched`'s probe points).
//! - **No overlap**: the two boundaries are more than [`MARGIN_DEG`] apart everywhere and
//!   neither operand has a part inside the other, so the areas are that far apart; moving
//!   every vertex by a grid step cannot make them meet.
//!
//! Pure geometry on `geo` types, EPSG:4326 degrees, no I/O.

use std::ops::ControlFlow;

use geo::line_intersection::{LineIntersection, line_intersection};
use geo::{
    Area, BoundingRect, Coord, Euclidean, Length, Line, LineString, MultiPolygon, Polygon, Rect,
};

/// Clearance in degrees (~1 m) that makes an answer independent of the overlay's snapping
/// (see the module docs); the same as `exposure::indexed::PROBE_MARGIN_DEG`.
pub const MARGIN_DEG: f64 = 1e-5;

/// Radius (degrees, ~11 m) of the neighbourhood in which a crossing of the two boundaries
/// must be alone for the crossing to prove an overlap (see [`crossing_certifies`]).
const CROSSING_CLEAR_DEG: f64 = 1e-4;

/// At most this many crossings are tried as proofs of overlap before giving up (each try
/// scans the edges near both boundaries once).
const CROSSING_TRIES: usize = 16;

/// One ring edge with its bounding box.
#[derive(Debug, Clone, Copy)]
struct Edge {
    a: Coord<f64>,
    b: Coord<f64>,
    min: Coord<f64>,
    max: Coord<f64>,
}

impl Edge {
    fn new(a: Coord<f64>, b: Coord<f64>) -> Self {
        Edge {
            a,
            b,
            min: Coord {
                x: a.x.min(b.x),
                y: a.y.min(b.y),
            },
            max: Coord {
                x: a.x.max(b.x),
                y: a.y.max(b.y),
            },
        }
    }

    /// Squared distance (degrees²) from `p` to this edge.
    fn distance2(&self, p: Coord<f64>) -> f64 {
        segment_distance2(p, self.a, self.b)
    }
}

/// Squared Euclidean distance (degrees²) from `p` to the segment `a`–`b`.
pub(super) fn segment_distance2(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (a.x + t * dx - p.x, a.y + t * dy - p.y);
    ex * ex + ey * ey
}

/// The edges of every ring of `area` whose box meets `rect` grown by `grow` on each side,
/// sorted by their smallest x (for the sweep of [`sweep_pairs`]).
fn edges_near(area: &MultiPolygon<f64>, rect: Rect<f64>, grow: f64) -> Vec<Edge> {
    let (lo, hi) = (rect.min(), rect.max());
    let mut out: Vec<Edge> = Vec::new();
    for poly in &area.0 {
        for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
            for line in ring.lines() {
                let e = Edge::new(line.start, line.end);
                if e.max.x >= lo.x - grow
                    && e.min.x <= hi.x + grow
                    && e.max.y >= lo.y - grow
                    && e.min.y <= hi.y + grow
                {
                    out.push(e);
                }
            }
        }
    }
    out.sort_by(|p, q| p.min.x.total_cmp(&q.min.x));
    out
}

/// True when the two edges come within `margin` of each other (crossing included).
fn edges_near_each_other(p: &Edge, q: &Edge, margin: f64) -> bool {
    let m2 = margin * margin;
    if p.distance2(q.a) <= m2
        || p.distance2(q.b) <= m2
        || q.distance2(p.a) <= m2
        || q.distance2(p.b) <= m2
    {
        return true;
    }
    // All four end points are farther than the margin: the edges are near only if they
    // cross (robust orientation tests).
    line_intersection(Line::new(p.a, p.b), Line::new(q.a, q.b)).is_some()
}

/// An edge's bounding box, as [`sweep_pairs`] reads it.
pub(super) trait EdgeBox {
    /// The box's lower-left corner.
    fn lo(&self) -> Coord<f64>;
    /// The box's upper-right corner.
    fn hi(&self) -> Coord<f64>;
}

impl EdgeBox for Edge {
    fn lo(&self) -> Coord<f64> {
        self.min
    }
    fn hi(&self) -> Coord<f64> {
        self.max
    }
}

/// Calls `visit(i, k, ea[i], eb[k])` for every pair of edges, one of each list, whose
/// bounding boxes widened by `margin` overlap: a sweep along x over both lists, each
/// sorted by smallest x, that keeps the edges still reaching the sweep line active. Stops
/// as soon as `visit` breaks.
pub(super) fn sweep_pairs<A: EdgeBox, B: EdgeBox>(
    ea: &[A],
    eb: &[B],
    margin: f64,
    mut visit: impl FnMut(usize, usize, &A, &B) -> ControlFlow<()>,
) {
    let overlaps_y = |p: &A, q: &B| p.hi().y + margin >= q.lo().y && q.hi().y + margin >= p.lo().y;
    let (mut active_a, mut active_b): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    loop {
        let take_a = match (ea.get(i), eb.get(j)) {
            (Some(p), Some(q)) => p.lo().x <= q.lo().x,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_a {
            let Some(p) = ea.get(i) else { return };
            active_b.retain(|&k| eb.get(k).is_some_and(|q| q.hi().x + margin >= p.lo().x));
            for &k in &active_b {
                if let Some(q) = eb.get(k)
                    && overlaps_y(p, q)
                    && visit(i, k, p, q).is_break()
                {
                    return;
                }
            }
            active_a.push(i);
            i += 1;
        } else {
            // `eb[j]` comes first, or `ea` is done (and when both are, the sweep is over).
            let Some(q) = eb.get(j) else { return };
            active_a.retain(|&k| ea.get(k).is_some_and(|p| p.hi().x + margin >= q.lo().x));
            for &k in &active_a {
                if let Some(p) = ea.get(k)
                    && overlaps_y(p, q)
                    && visit(k, j, p, q).is_break()
                {
                    return;
                }
            }
            active_b.push(j);
            j += 1;
        }
    }
}

/// Pairs (index into `ea`, index into `eb`) of edges within `margin` of each other, at
/// most `cap` of them.
fn near_pairs(ea: &[Edge], eb: &[Edge], margin: f64, cap: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    sweep_pairs(ea, eb, margin, |i, k, p, q| {
        if edges_near_each_other(p, q, margin) {
            out.push((i, k));
            if out.len() >= cap {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    out
}

/// True when `p` is inside `area` by the even-odd rule over all its rings (the fill rule
/// of geo's boolean operations). Only called for points more than [`MARGIN_DEG`] from
/// every ring, where the floating-point crossing test cannot be wrong.
fn inside_even_odd(area: &MultiPolygon<f64>, p: Coord<f64>) -> bool {
    inside_even_odd_rings(
        area.0
            .iter()
            .flat_map(|poly| std::iter::once(poly.exterior()).chain(poly.interiors())),
        p,
    )
}

/// [`inside_even_odd`] over any rings.
pub(super) fn inside_even_odd_rings<'a>(
    rings: impl Iterator<Item = &'a LineString<f64>>,
    p: Coord<f64>,
) -> bool {
    let mut inside = false;
    for ring in rings {
        for line in ring.lines() {
            let (a, b) = (line.start, line.end);
            if (a.y > p.y) != (b.y > p.y) {
                let x = a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x);
                if p.x < x {
                    inside = !inside;
                }
            }
        }
    }
    inside
}

pub(super) fn in_rect(r: Rect<f64>, p: Coord<f64>) -> bool {
    p.x >= r.min().x && p.x <= r.max().x && p.y >= r.min().y && p.y <= r.max().y
}

/// Whether part `part` (of one operand) holds a disc of radius [`MARGIN_DEG`] that also
/// lies inside `other`, the boundaries of the two operands being more than the margin
/// apart everywhere: every ring of `part` lies inside `other` and no vertex of `other`
/// falls in `part`'s box (so no ring of `other` lies inside `part`, and `part` ⊂ `other`),
/// and `part` is thick enough. A polygon whose every point is within r of its boundary
/// has area ≤ 2·r·perimeter + n·π·r² (n vertices: the points within r of one edge, on
/// one side, fit in a 2r-wide band along it plus end discs), so an area above that bound
/// for r = margin proves a disc of that radius inside.
fn part_holds_disc(part: &Polygon<f64>, other: &MultiPolygon<f64>) -> bool {
    let Some(bx) = part.bounding_rect() else {
        return false;
    };
    let rings_inside = std::iter::once(part.exterior())
        .chain(part.interiors())
        .all(|r| r.0.first().is_some_and(|&v| inside_even_odd(other, v)));
    if !rings_inside {
        return false;
    }
    let other_vertex_in_box = other
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|r| r.0.iter())
        .any(|&v| in_rect(bx, v));
    if other_vertex_in_box {
        return false;
    }
    let m = MARGIN_DEG;
    let perimeter: f64 = std::iter::once(part.exterior())
        .chain(part.interiors())
        .map(|r| Euclidean.length(r))
        .sum();
    let vertices: usize = std::iter::once(part.exterior())
        .chain(part.interiors())
        .map(|r| r.0.len())
        .sum();
    part.unsigned_area() > 2.0 * m * perimeter + vertices as f64 * std::f64::consts::PI * m * m
}

/// Whether the crossing X of edges `ea[i]` (of one operand) and `eb[j]` (of the other)
/// proves an overlap: no other edge of either operand comes within
/// [`CROSSING_CLEAR_DEG`] of X (`ea` and `eb` hold every edge near either box, and X lies
/// in both boxes), so within that disc each operand is one half-disc; two half-discs whose lines cross at an angle φ (the smaller
/// of the two) share a sector of angle at least φ, whose inscribed circle has radius
/// R·sin(φ/2)/(1 + sin(φ/2)). When that radius is at least [`MARGIN_DEG`], the circle is
/// a disc inside both.
fn crossing_certifies(ea: &[Edge], eb: &[Edge], i: usize, j: usize, x: Coord<f64>) -> bool {
    let (Some(p), Some(q)) = (ea.get(i), eb.get(j)) else {
        return false;
    };
    let (da, db) = (p.b - p.a, q.b - q.a);
    let (la, lb) = (da.x.hypot(da.y), db.x.hypot(db.y));
    if !(la > 0.0 && lb > 0.0) {
        return false;
    }
    let sin_phi = ((da.x * db.y - da.y * db.x) / (la * lb)).abs().min(1.0);
    let half = (sin_phi.asin() / 2.0).sin();
    let r_in = CROSSING_CLEAR_DEG * half / (1.0 + half);
    if r_in.is_nan() || r_in < MARGIN_DEG {
        return false;
    }
    let clear2 = CROSSING_CLEAR_DEG * CROSSING_CLEAR_DEG;
    let clear = |list: &[Edge], skip: usize| {
        list.iter()
            .enumerate()
            .all(|(k, e)| k == skip || e.distance2(x) > clear2)
    };
    clear(ea, i) && clear(eb, j)
}

/// How two areas lie, when that is certain whatever the overlay's snapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// They share no area.
    Disjoint,
    /// They share some area, and `a` is not known to lie wholly inside `b`.
    Overlap,
    /// `a` lies wholly inside `b` (and holds a disc of `MARGIN_DEG`): `a ∩ b` is `a`, to
    /// within the overlay's snapping.
    Inside,
}

/// Whether `a` and `b` share some area, when that is certain whatever the overlay's
/// snapping (see the module docs); `None` when only the overlay can tell.
pub fn overlap_certain(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> Option<bool> {
    relate_certain(a, b).map(|r| r != Relation::Disjoint)
}

/// How `a` lies against `b` when that is certain (see the module docs and [`Relation`]);
/// `None` when only the overlay can tell. [`Relation::Inside`] needs the two boundaries
/// more than the margin apart everywhere, every part of `a` inside `b`, and no ring of `b`
/// (exterior or hole) inside `a`: each ring of `b` then lies wholly outside `a`, so no part
/// of `a` reaches outside `b`. An exposure stage uses it to take a district wholly inside
/// a swath as its own intersection with it, without the overlay.
pub fn relate_certain(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> Option<Relation> {
    let (Some(ra), Some(rb)) = (a.bounding_rect(), b.bounding_rect()) else {
        return Some(Relation::Disjoint);
    };
    let grow = CROSSING_CLEAR_DEG;
    // Edges of each operand near the other's box: the only ones that can come within the
    // clearance of the other's boundary (or of a crossing point, which lies in both boxes).
    let ea = edges_near(a, rb, grow);
    let eb = edges_near(b, ra, grow);
    relate_edges(a, ra, &ea, b, rb, &eb)
}

/// The edges of one area sorted by their smallest x, with its box: kept once for an area
/// tested against many others (a district against every swath and swath segment), so
/// that each test filters them instead of collecting and sorting them again.
#[derive(Debug, Clone)]
pub struct AreaEdges {
    edges: Vec<Edge>,
    rect: Option<Rect<f64>>,
}

impl AreaEdges {
    pub fn new(area: &MultiPolygon<f64>) -> Self {
        let rect = area.bounding_rect();
        let edges = match rect {
            Some(r) => edges_near(area, r, 0.0),
            None => Vec::new(),
        };
        AreaEdges { edges, rect }
    }

    /// The area's bounding box (`None` for an empty area).
    pub fn rect(&self) -> Option<Rect<f64>> {
        self.rect
    }

    /// The edges whose box meets `rect` grown by `grow`, still sorted by smallest x.
    fn near(&self, rect: Rect<f64>, grow: f64) -> Vec<Edge> {
        let (lo, hi) = (rect.min(), rect.max());
        self.edges
            .iter()
            .take_while(|e| e.min.x <= hi.x + grow)
            .filter(|e| e.max.x >= lo.x - grow && e.max.y >= lo.y - grow && e.min.y <= hi.y + grow)
            .copied()
            .collect()
    }
}

/// [`relate_certain`] with `a`'s edges kept beforehand (`a_edges`, built from `a`).
pub fn relate_certain_prepared(
    a: &MultiPolygon<f64>,
    a_edges: &AreaEdges,
    b: &MultiPolygon<f64>,
) -> Option<Relation> {
    let (Some(ra), Some(rb)) = (a_edges.rect, b.bounding_rect()) else {
        return Some(Relation::Disjoint);
    };
    let grow = CROSSING_CLEAR_DEG;
    let ea = a_edges.near(rb, grow);
    let eb = edges_near(b, ra, grow);
    relate_edges(a, ra, &ea, b, rb, &eb)
}

/// [`relate_certain`] given each operand's box and its edges near the other's box.
fn relate_edges(
    a: &MultiPolygon<f64>,
    ra: Rect<f64>,
    ea: &[Edge],
    b: &MultiPolygon<f64>,
    rb: Rect<f64>,
    eb: &[Edge],
) -> Option<Relation> {
    let near = near_pairs(ea, eb, MARGIN_DEG, 4 * CROSSING_TRIES);
    if near.is_empty() {
        // The boundaries are more than the margin apart: each part lies wholly inside or
        // wholly outside the other operand, which one vertex tells (it is more than the
        // margin from the other's boundary: the edges at it were among those compared).
        let inside = |part: &Polygon<f64>, other: &MultiPolygon<f64>, other_box: Rect<f64>| {
            part.exterior()
                .0
                .first()
                .is_some_and(|&v| in_rect(other_box, v) && inside_even_odd(other, v))
        };
        let a_in_b = a.0.iter().filter(|p| inside(p, b, rb)).collect::<Vec<_>>();
        let b_in_a = b.0.iter().filter(|p| inside(p, a, ra)).collect::<Vec<_>>();
        if a_in_b.is_empty() && b_in_a.is_empty() {
            return Some(Relation::Disjoint);
        }
        let holds = a_in_b.iter().any(|p| part_holds_disc(p, b))
            || b_in_a.iter().any(|p| part_holds_disc(p, a));
        if !holds {
            return None;
        }
        let hole_of_b_in_a = b.0.iter().flat_map(|p| p.interiors()).any(|ring| {
            ring.0
                .first()
                .is_some_and(|&v| in_rect(ra, v) && inside_even_odd(a, v))
        });
        let a_inside_b = a_in_b.len() == a.0.len() && b_in_a.is_empty() && !hole_of_b_in_a;
        return Some(if a_inside_b {
            Relation::Inside
        } else {
            Relation::Overlap
        });
    }
    let mut tries = 0;
    for &(i, j) in &near {
        let (Some(p), Some(q)) = (ea.get(i), eb.get(j)) else {
            continue;
        };
        let Some(LineIntersection::SinglePoint {
            intersection,
            is_proper: true,
        }) = line_intersection(Line::new(p.a, p.b), Line::new(q.a, q.b))
        else {
            continue;
        };
        if crossing_certifies(ea, eb, i, j, intersection) {
            return Some(Relation::Overlap);
        }
        tries += 1;
        if tries >= CROSSING_TRIES {
            break;
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) mod tests {
    use super::*;
    use geo::{BooleanOps, polygon};

    /// A square of `side` degrees from (x0, y0); shared with `shared_area`'s tests.
    pub(in crate::spatial) fn square(x0: f64, y0: f64, side: f64) -> MultiPolygon<f64> {
        MultiPolygon::new(vec![polygon!(
            (x: x0, y: y0), (x: x0 + side, y: y0), (x: x0 + side, y: y0 + side), (x: x0, y: y0 + side)
        )])
    }

    fn overlay(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> bool {
        !a.intersection(b).0.is_empty()
    }

    #[test]
    fn crossing_squares_overlap_and_the_overlay_agrees() {
        let (a, b) = (square(0.0, 0.0, 1.0), square(0.5, 0.5, 1.0));
        assert_eq!(overlap_certain(&a, &b), Some(true));
        assert!(overlay(&a, &b));
    }

    #[test]
    fn far_apart_squares_do_not_overlap() {
        let (a, b) = (square(0.0, 0.0, 1.0), square(1.001, 0.2, 1.0));
        assert_eq!(overlap_certain(&a, &b), Some(false));
        assert!(!overlay(&a, &b));
    }

    #[test]
    fn a_square_inside_another_overlaps_and_one_in_its_hole_does_not() {
        let outer = MultiPolygon::new(vec![polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)],
            interiors: [[(x: 4.0, y: 4.0), (x: 6.0, y: 4.0), (x: 6.0, y: 6.0), (x: 4.0, y: 6.0)]],
        )]);
        let inside = square(1.0, 1.0, 1.0);
        assert_eq!(overlap_certain(&outer, &inside), Some(true));
        assert_eq!(overlap_certain(&inside, &outer), Some(true));
        let in_hole = square(4.5, 4.5, 1.0);
        assert_eq!(overlap_certain(&outer, &in_hole), Some(false));
        assert!(!overlay(&outer, &in_hole));
        // A big square around the hole overlaps the ring around it, but a ring of `outer`
        // lies inside it, which the containment proof does not cover: left to the overlay.
        let big = square(3.0, 3.0, 4.0);
        assert_eq!(overlap_certain(&outer, &big), None);
        assert!(overlay(&outer, &big));
    }

    #[test]
    fn touching_or_nearly_touching_squares_are_left_to_the_overlay() {
        // Sharing an edge: touching is not overlapping, but only the overlay may say so.
        let (a, b) = (square(0.0, 0.0, 1.0), square(1.0, 0.0, 1.0));
        assert_eq!(overlap_certain(&a, &b), None);
        let c = square(1.0 + 1e-7, 0.0, 1.0);
        assert_eq!(overlap_certain(&a, &c), None);
        // A sliver of overlap thinner than the margin: undecided too.
        let d = square(1.0 - 1e-7, 0.0, 1.0);
        assert_eq!(overlap_certain(&a, &d), None);
    }

    #[test]
    fn a_grazing_crossing_is_not_taken_as_proof() {
        // b's lower edge crosses a's right edge at a tiny angle near a's corner region:
        // the crossing is too flat to prove a disc of the margin inside both.
        let a = square(0.0, 0.0, 1.0);
        let b = MultiPolygon::new(vec![polygon!(
            (x: 0.999_999, y: 2.0), (x: 0.999_999, y: 0.5), (x: 1.000_001, y: -0.5), (x: 3.0, y: -0.5), (x: 3.0, y: 2.0)
        )]);
        assert_eq!(overlap_certain(&a, &b), None);
    }
}
