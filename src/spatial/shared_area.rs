//! The share of one area that lies inside another, without building their intersection.
//!
//! The exposure stage needs, per district and swath, how much of the district the swath
//! covers. Building `district ∩ swath` with an overlay (i_overlay through geo's
//! `BooleanOps`) and measuring it was 40 % of that stage, although the geometry itself is
//! only needed when a population raster must be summed over it. The area of `a ∩ b` is a
//! boundary integral over the boundary of `a ∩ b`, which is made of the pieces of `a`'s
//! rings inside `b` and the pieces of `b`'s rings inside `a`. So:
//!
//! 1. find every crossing of an edge of `a` with an edge of `b` (a sweep along x over the
//!    edges near the other's box);
//! 2. walk each ring: whether a ring starts inside the other area is one even-odd test at
//!    its first vertex, and the status flips at every crossing;
//! 3. add the area integral of the inside pieces, each ring oriented with its interior on
//!    the left.
//!
//! The integral is the one of geo's `ChamberlainDuquetteArea` (Chamberlain, R. G. and
//! W. H. Duquette, 2007, "Some algorithms for polygons on a sphere", JPL Publication
//! 07-03), written per edge: ½·R²·Σ (λ₂ − λ₁)(sin φ₁ + sin φ₂) over edges in lon/lat,
//! which over closed loops equals geo's per-vertex form. Edges are straight in lon/lat,
//! as for the overlay.
//!
//! The walk is only sure when every crossing is a clean one. Whenever a vertex of one area
//! comes within [`EPS_DEG`] of an edge of the other (touching, shared or collinear
//! edges), [`shared_share`] says `None` and the caller runs the overlay instead.
//!
//! Pure geometry on `geo` types, EPSG:4326 degrees, no I/O.

use std::ops::ControlFlow;

use geo::line_intersection::{LineIntersection, line_intersection};

use super::overlap::{EdgeBox, in_rect, inside_even_odd_rings, segment_distance2, sweep_pairs};
use geo::{BoundingRect, Coord, Intersects, Line, LineString, MultiPolygon, Rect};

/// How near (degrees, ~1 cm) a vertex of one area may come to an edge of the other before
/// the walk gives way to the overlay: far above the rounding of the crossing arithmetic
/// (~10⁻¹⁴° at these magnitudes), far below any real boundary detail.
pub const EPS_DEG: f64 = 1e-7;

/// One edge of a ring: which ring, its index in the ring, its end points and box.
#[derive(Debug, Clone, Copy)]
struct RingEdge {
    ring: usize,
    k: usize,
    a: Coord<f64>,
    b: Coord<f64>,
    min: Coord<f64>,
    max: Coord<f64>,
}

/// A crossing: which edge of `a` (ring, index) at which fraction along it, which edge of
/// `b` at which fraction, and the point.
#[derive(Debug, Clone, Copy)]
struct Crossing {
    a_ring: usize,
    a_k: usize,
    a_t: f64,
    b_ring: usize,
    b_k: usize,
    b_t: f64,
    x: Coord<f64>,
}

/// The rings of an area, each with the sign that orients its interior to the left
/// (+1 for a counter-clockwise exterior or a clockwise hole).
fn rings(area: &MultiPolygon<f64>) -> Vec<(&LineString<f64>, f64)> {
    let mut out = Vec::new();
    for poly in &area.0 {
        let ext = poly.exterior();
        out.push((ext, ring_integral(ext).signum()));
        for hole in poly.interiors() {
            out.push((hole, -ring_integral(hole).signum()));
        }
    }
    out
}

/// The area integral of one piece from `p` to `q` (radians², without the ½·R² factor);
/// positive inside a counter-clockwise ring.
fn piece(p: Coord<f64>, q: Coord<f64>) -> f64 {
    -(q.x - p.x).to_radians() * (p.y.to_radians().sin() + q.y.to_radians().sin())
}

fn ring_integral(ring: &LineString<f64>) -> f64 {
    ring.lines().map(|l| piece(l.start, l.end)).sum()
}

/// The edges of `rings` whose box meets `rect` grown by `grow`, sorted by smallest x.
fn edges_near(rings: &[(&LineString<f64>, f64)], rect: Rect<f64>, grow: f64) -> Vec<RingEdge> {
    let (lo, hi) = (rect.min(), rect.max());
    let mut out = Vec::new();
    for (ring, (ls, _)) in rings.iter().enumerate() {
        for (k, line) in ls.lines().enumerate() {
            let (a, b) = (line.start, line.end);
            let min = Coord {
                x: a.x.min(b.x),
                y: a.y.min(b.y),
            };
            let max = Coord {
                x: a.x.max(b.x),
                y: a.y.max(b.y),
            };
            if max.x >= lo.x - grow
                && min.x <= hi.x + grow
                && max.y >= lo.y - grow
                && min.y <= hi.y + grow
            {
                out.push(RingEdge {
                    ring,
                    k,
                    a,
                    b,
                    min,
                    max,
                });
            }
        }
    }
    out.sort_by(|p, q| p.min.x.total_cmp(&q.min.x));
    out
}

/// Fraction along `a`–`b` of the point `x` on it.
fn fraction(a: Coord<f64>, b: Coord<f64>, x: Coord<f64>) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 > 0.0 {
        ((x.x - a.x) * dx + (x.y - a.y) * dy) / len2
    } else {
        0.0
    }
}

/// The crossing of `p` and `q` if they cleanly cross, `Ok(None)` if they are clear of each
/// other, `Err(())` when an end point of one comes within [`EPS_DEG`] of the other.
fn cross(p: &RingEdge, q: &RingEdge) -> Result<Option<Crossing>, ()> {
    let e2 = EPS_DEG * EPS_DEG;
    if segment_distance2(q.a, p.a, p.b) <= e2
        || segment_distance2(q.b, p.a, p.b) <= e2
        || segment_distance2(p.a, q.a, q.b) <= e2
        || segment_distance2(p.b, q.a, q.b) <= e2
    {
        return Err(());
    }
    match line_intersection(Line::new(p.a, p.b), Line::new(q.a, q.b)) {
        None => Ok(None),
        Some(LineIntersection::SinglePoint {
            intersection,
            is_proper: true,
        }) => Ok(Some(Crossing {
            a_ring: p.ring,
            a_k: p.k,
            a_t: fraction(p.a, p.b, intersection),
            b_ring: q.ring,
            b_k: q.k,
            b_t: fraction(q.a, q.b, intersection),
            x: intersection,
        })),
        Some(_) => Err(()),
    }
}

/// Every crossing between the edges `ea` (of `a`) and `eb` (of `b`), both sorted by
/// smallest x; `None` when some pair is too near to tell (see [`cross`]).
fn crossings(ea: &[RingEdge], eb: &[RingEdge]) -> Option<Vec<Crossing>> {
    let mut out = Vec::new();
    let mut too_near = false;
    sweep_pairs(ea, eb, EPS_DEG, |_, _, p, q| match cross(p, q) {
        Ok(c) => {
            out.extend(c);
            ControlFlow::Continue(())
        }
        Err(()) => {
            too_near = true;
            ControlFlow::Break(())
        }
    });
    (!too_near).then_some(out)
}

impl EdgeBox for RingEdge {
    fn lo(&self) -> Coord<f64> {
        self.min
    }
    fn hi(&self) -> Coord<f64> {
        self.max
    }
}

/// True when `p` is inside `rings` by the even-odd rule (the fill rule of geo's boolean
/// operations). Only called for points more than [`EPS_DEG`] from every ring.
fn inside_even_odd(rings: &[(&LineString<f64>, f64)], p: Coord<f64>) -> bool {
    inside_even_odd_rings(rings.iter().map(|(r, _)| *r), p)
}

/// The integral over the pieces of `rings` that lie inside `other`: each ring starts
/// inside or outside as its first vertex does, and flips at each of its crossings
/// (`cuts`: (ring, edge index, fraction, point), sorted).
fn inside_pieces(
    rings: &[(&LineString<f64>, f64)],
    other: &[(&LineString<f64>, f64)],
    other_box: Rect<f64>,
    near_box: Rect<f64>,
    cuts: &[(usize, usize, f64, Coord<f64>)],
) -> f64 {
    let mut total = 0.0;
    let mut c = 0;
    for (ri, (ring, sign)) in rings.iter().enumerate() {
        let Some(&start) = ring.0.first() else {
            continue;
        };
        let ring_cuts_from = c;
        while cuts.get(c).is_some_and(|cut| cut.0 == ri) {
            c += 1;
        }
        let ring_cuts = cuts.get(ring_cuts_from..c).unwrap_or(&[]);
        // A ring whose box misses the other's lies wholly outside it.
        let Some(bx) = ring.bounding_rect() else {
            continue;
        };
        if !bx.intersects(&near_box) && ring_cuts.is_empty() {
            continue;
        }
        let mut inside = in_rect(other_box, start) && inside_even_odd(other, start);
        if ring_cuts.is_empty() {
            if inside {
                total += sign * ring_integral(ring);
            }
            continue;
        }
        let mut sum = 0.0;
        let mut cut = ring_cuts.iter().peekable();
        for (k, line) in ring.lines().enumerate() {
            let mut from = line.start;
            while let Some(&&(_, ck, _, x)) = cut.peek() {
                if ck != k {
                    break;
                }
                if inside {
                    sum += piece(from, x);
                }
                inside = !inside;
                from = x;
                cut.next();
            }
            if inside {
                sum += piece(from, line.end);
            }
        }
        total += sign * sum;
    }
    total
}

/// The sphere's radius of geo's `ChamberlainDuquetteArea`: the WGS 84 equatorial radius,
/// metres (NIMA TR8350.2, 3rd ed., table 3.1).
const EQUATORIAL_RADIUS_M: f64 = 6_378_137.0;

/// Spherical area (m²) of an area by Chamberlain & Duquette on the sphere of radius
/// `EQUATORIAL_RADIUS_M` (as geo's `ChamberlainDuquetteArea`), with every hole subtracted whatever its winding. geo's
/// own `chamberlain_duquette_unsigned_area` subtracts a hole's *signed* area from its
/// polygon's, so a hole wound the RFC 7946 way (opposite to its exterior, as aviso orients
/// every area) was added instead.
pub fn spherical_area_m2(area: &MultiPolygon<f64>) -> f64 {
    let r = EQUATORIAL_RADIUS_M;
    let sum: f64 = rings(area)
        .iter()
        .map(|(ring, sign)| sign * ring_integral(ring))
        .sum();
    (sum * r * r / 2.0).max(0.0)
}

/// The share (0..=1) of `a`'s area that lies inside `b`, by spherical area
/// (Chamberlain & Duquette), or `None` when the boundaries touch or run within
/// `EPS_DEG` of each other somewhere and only the overlay can tell.
pub fn shared_share(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> Option<f64> {
    let (Some(ra), Some(rb)) = (a.bounding_rect(), b.bounding_rect()) else {
        return Some(0.0);
    };
    if !ra.intersects(&rb) {
        return Some(0.0);
    }
    let (rings_a, rings_b) = (rings(a), rings(b));
    let total_a: f64 = rings_a
        .iter()
        .map(|(r, sign)| sign * ring_integral(r))
        .sum();
    if total_a.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Some(0.0);
    }
    let ea = edges_near(&rings_a, rb, EPS_DEG);
    let eb = edges_near(&rings_b, ra, EPS_DEG);
    let found = crossings(&ea, &eb)?;
    // An even number of crossings per ring is what a clean walk needs.
    let mut cuts_a: Vec<(usize, usize, f64, Coord<f64>)> = found
        .iter()
        .map(|c| (c.a_ring, c.a_k, c.a_t, c.x))
        .collect();
    let mut cuts_b: Vec<(usize, usize, f64, Coord<f64>)> = found
        .iter()
        .map(|c| (c.b_ring, c.b_k, c.b_t, c.x))
        .collect();
    let order = |p: &(usize, usize, f64, Coord<f64>), q: &(usize, usize, f64, Coord<f64>)| {
        (p.0, p.1).cmp(&(q.0, q.1)).then(p.2.total_cmp(&q.2))
    };
    cuts_a.sort_by(order);
    cuts_b.sort_by(order);
    for cuts in [&cuts_a, &cuts_b] {
        let mut per_ring = std::collections::HashMap::new();
        for cut in cuts.iter() {
            *per_ring.entry(cut.0).or_insert(0usize) += 1;
        }
        if per_ring.values().any(|n| n % 2 == 1) {
            return None;
        }
    }
    let grow = |r: Rect<f64>| {
        Rect::new(
            Coord {
                x: r.min().x - EPS_DEG,
                y: r.min().y - EPS_DEG,
            },
            Coord {
                x: r.max().x + EPS_DEG,
                y: r.max().y + EPS_DEG,
            },
        )
    };
    let inside = inside_pieces(&rings_a, &rings_b, rb, grow(rb), &cuts_a)
        + inside_pieces(&rings_b, &rings_a, ra, grow(ra), &cuts_b);
    Some((inside / total_a).clamp(0.0, 1.0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spatial::overlap::tests::square;
    use geo::{BooleanOps, ChamberlainDuquetteArea, polygon};

    fn overlay_share(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> f64 {
        spherical_area(&a.intersection(b)) / spherical_area(a)
    }

    /// Chamberlain–Duquette area with holes subtracted, ring by ring.
    fn spherical_area(mp: &MultiPolygon<f64>) -> f64 {
        let ring = |r: &LineString<f64>| {
            geo::Polygon::new(r.clone(), vec![]).chamberlain_duquette_unsigned_area()
        };
        mp.0.iter()
            .map(|p| ring(p.exterior()) - p.interiors().iter().map(ring).sum::<f64>())
            .sum()
    }

    #[test]
    fn squares_share_what_the_overlay_says() {
        let a = square(35.0, -20.0, 1.0);
        for (x, y, side) in [
            (35.5, -19.5, 1.0),
            (34.7, -20.3, 0.5),
            (35.2, -19.8, 0.3),
            (37.0, -20.0, 1.0),
            (34.0, -21.0, 3.0),
        ] {
            let b = square(x, y, side);
            let fast = shared_share(&a, &b).unwrap();
            let slow = overlay_share(&a, &b);
            assert!(
                (fast - slow).abs() < 1e-9,
                "{x} {y} {side}: {fast} vs {slow}"
            );
        }
    }

    #[test]
    fn holes_and_clockwise_rings_count_their_sign() {
        // A clockwise square with a counter-clockwise hole, against a strip across both.
        let a = MultiPolygon::new(vec![polygon!(
            exterior: [(x: 35.0, y: -20.0), (x: 35.0, y: -19.0), (x: 36.0, y: -19.0), (x: 36.0, y: -20.0)],
            interiors: [[(x: 35.25, y: -19.75), (x: 35.75, y: -19.75), (x: 35.75, y: -19.25), (x: 35.25, y: -19.25)]],
        )]);
        let b = MultiPolygon::new(vec![polygon!(
            (x: 35.1, y: -20.5), (x: 35.6, y: -20.5), (x: 35.6, y: -18.5), (x: 35.1, y: -18.5)
        )]);
        let fast = shared_share(&a, &b).unwrap();
        // The strip covers x 35.1..35.6 of the square, minus x 35.25..35.6 of the hole:
        // in planar terms (0.5 − 0.35·0.5) / (1 − 0.25) = 0.4333.
        assert!((fast - 0.4333).abs() < 2e-3, "{fast}");
        // The same with every ring's winding reversed, and against the overlay measured
        // with the holes subtracted (geo's Chamberlain–Duquette adds an RFC 7946 hole).
        let flipped = MultiPolygon::new(
            a.0.iter()
                .map(|p| {
                    let rev =
                        |r: &LineString<f64>| LineString::new(r.0.iter().rev().copied().collect());
                    geo::Polygon::new(rev(p.exterior()), p.interiors().iter().map(rev).collect())
                })
                .collect(),
        );
        assert!((shared_share(&flipped, &b).unwrap() - fast).abs() < 1e-12);
        let slow = spherical_area(&a.intersection(&b)) / spherical_area(&a);
        assert!((fast - slow).abs() < 1e-9, "{fast} vs {slow}");
    }

    #[test]
    fn touching_boundaries_give_way_to_the_overlay() {
        let a = square(35.0, -20.0, 1.0);
        // Shares the edge x = 36 over part of its length.
        let b = square(36.0, -19.5, 1.0);
        assert_eq!(shared_share(&a, &b), None);
        // Disjoint boxes and nested squares are answered.
        assert_eq!(shared_share(&a, &square(40.0, -20.0, 1.0)), Some(0.0));
        assert_eq!(shared_share(&square(35.2, -19.8, 0.2), &a), Some(1.0));
    }
}
