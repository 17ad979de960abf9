//! R-tree indexes over lon/lat geometry: which area holds a point, which points lie in an
//! area, and which points are geodesically nearest.
//!
//! Pure computation: no I/O, no knowledge of layers, files or the domain types; callers pass
//! plain `geo` geometries (EPSG:4326, x = longitude) and get back indices into what they
//! passed. Used by the layer loader (spatial join of points to districts) and by the
//! exposure engine.
//!
//! Containment here is *closed* (DE-9IM "covers"): a point exactly on a ring counts as
//! inside. For warnings that is the cautious choice: a site on the edge of a hazard
//! footprint is reported as exposed rather than silently dropped.

use geo::algorithm::indexed::IntervalTreeMultiPolygon;
use geo::orient::Direction;
use geo::{BoundingRect, Contains, Coord, Distance, Geodesic, Intersects, Line, LinesIter};
use geo::{MultiPolygon, Orient, Point, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use std::sync::OnceLock;

mod overlap;
mod shared_area;
pub use overlap::{AreaEdges, Relation, overlap_certain, relate_certain, relate_certain_prepared};
pub use shared_area::{shared_share, spherical_area_m2};

/// Shortest length of one degree of latitude on the WGS 84 ellipsoid, in km (at the
/// equator: 110.574 km; it grows to 111.694 km at the poles). A degree of longitude at
/// latitude φ is at least 111.320·cos φ km, so 110.574 bounds both from below.
/// Source: NGA, "Length of a degree of latitude and longitude" (WGS 84 meridian arc).
const KM_PER_DEG_LOWER_BOUND: f64 = 110.574;

/// Safety factor on the early-stop bound of [`PointIndex::nearest`]. The local
/// equirectangular bound ignores that a great circle bulges poleward of its end points. On
/// a sphere, two points on one parallel are closer by great circle than the bound says by
/// at most 2.3 % for |lat| ≤ 60° and separations up to 3,000 km (worst case: 60°, 3,000 km
/// east-west; at 25° S, the Mozambique case, under 1 %). 5 % covers that with room; a
/// larger margin only costs a few more candidates.
const EARLY_STOP_MARGIN: f64 = 0.95;

/// A ring segment in an R-tree, keyed by its bounding box.
type Edge = GeomWithData<Rectangle<[f64; 2]>, Line<f64>>;

/// A (multi)polygon prepared for many closed point-in-polygon tests.
///
/// Interior tests use geo's [`IntervalTreeMultiPolygon`] (O(log n) per point instead of a
/// scan of every edge). The boundary test, needed only for points not strictly inside,
/// uses an R-tree over the edges, built on first use: most areas never need it (a point
/// strictly inside one district is never boundary-tested against its neighbours), and
/// building it for every district doubled the index's build time.
pub struct PreparedArea {
    oriented: MultiPolygon<f64>,
    interior: IntervalTreeMultiPolygon<f64>,
    edges: OnceLock<RTree<Edge>>,
}

impl std::fmt::Debug for PreparedArea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedArea")
            .field("parts", &self.oriented.0.len())
            .finish()
    }
}

impl PreparedArea {
    pub fn new(area: &MultiPolygon<f64>) -> Self {
        // The interval tree sums winding numbers, so a hole only cancels its exterior when
        // the rings turn opposite ways. Orient first (exterior counter-clockwise, holes
        // clockwise, the RFC 7946 rule) so sources with any winding give the same answer.
        let oriented = area.orient(Direction::Default);
        PreparedArea {
            interior: IntervalTreeMultiPolygon::new(&oriented),
            oriented,
            edges: OnceLock::new(),
        }
    }

    /// The area, oriented per RFC 7946 (same parts, rings and bounding box).
    pub fn area(&self) -> &MultiPolygon<f64> {
        &self.oriented
    }

    /// True when `p` lies inside the area or on one of its rings (what geo's
    /// `area.intersects(&p)` answers, in O(log n) instead of a scan of every edge).
    pub fn covers(&self, p: Point<f64>) -> bool {
        self.interior.contains(&p) || self.on_boundary(p.0)
    }

    fn on_boundary(&self, c: Coord<f64>) -> bool {
        let edges = self.edges.get_or_init(|| {
            let edges = self
                .oriented
                .lines_iter()
                .map(|line| {
                    let rect = Rectangle::from_corners(line.start.into(), line.end.into());
                    GeomWithData::new(rect, line)
                })
                .collect();
            RTree::bulk_load(edges)
        });
        edges
            .locate_in_envelope_intersecting(&AABB::from_point([c.x, c.y]))
            .any(|edge| edge.data.intersects(&c))
    }
}

/// True when `p` lies inside `area` by the even-odd rule over all its rings (the fill rule
/// of geo's boolean operations, so holes and overlapping parts count as they do there) and
/// more than `margin` (degrees) from every ring edge. With the margin, no rounding in the
/// crossing test can change the answer: the ray's crossing with an edge is at least the
/// point's distance from that edge away.
pub fn inside_with_margin(area: &MultiPolygon<f64>, p: Coord<f64>, margin: f64) -> bool {
    let m2 = margin * margin;
    let mut inside = false;
    for poly in &area.0 {
        for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
            for line in ring.lines() {
                let (a, b) = (line.start, line.end);
                if segment_distance2(p, a, b) <= m2 {
                    return false;
                }
                if (a.y > p.y) != (b.y > p.y) {
                    let x = a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x);
                    if p.x < x {
                        inside = !inside;
                    }
                }
            }
        }
    }
    inside
}

/// Squared Euclidean distance (degrees²) from `p` to the segment `a`–`b`.
fn segment_distance2(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
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

/// Index over areas (districts, provinces, footprints): which area holds a point.
///
/// Each polygon part gets its own bounding box in the tree, so a district made of a
/// mainland part and far-off islands does not become a candidate for everything between.
pub struct AreaIndex {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    areas: Vec<PreparedArea>,
}

impl std::fmt::Debug for AreaIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AreaIndex")
            .field("areas", &self.areas.len())
            .field("parts", &self.tree.size())
            .finish()
    }
}

impl AreaIndex {
    /// Builds the index; area `i` of the answers is `areas[i]`.
    pub fn new(areas: &[MultiPolygon<f64>]) -> Self {
        let parts = areas
            .iter()
            .enumerate()
            .flat_map(|(i, area)| area.0.iter().map(move |poly| (i, poly)))
            .filter_map(|(i, poly)| {
                let r = poly.bounding_rect()?;
                let rect = Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                Some(GeomWithData::new(rect, i))
            })
            .collect();
        AreaIndex {
            tree: RTree::bulk_load(parts),
            areas: areas.iter().map(PreparedArea::new).collect(),
        }
    }

    /// Number of areas indexed.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// The area holding `p`, if any.
    ///
    /// A point strictly inside an area gets that area. A point exactly on a boundary (a
    /// shared district border, say) gets the lowest-numbered area touching it, so every
    /// point on land is assigned and the answer does not depend on tree layout. With
    /// overlapping areas (invalid data) the lowest-numbered one holding the point wins.
    pub fn locate(&self, p: Point<f64>) -> Option<usize> {
        let mut candidates: Vec<usize> = self
            .tree
            .locate_in_envelope_intersecting(&AABB::from_point([p.x(), p.y()]))
            .map(|part| part.data)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let prepared = |i: &usize| self.areas.get(*i).map(|a| (*i, a));
        candidates
            .iter()
            .filter_map(prepared)
            .find(|(_, area)| area.interior.contains(&p))
            .or_else(|| {
                candidates
                    .iter()
                    .filter_map(prepared)
                    .find(|(_, area)| area.on_boundary(p.0))
            })
            .map(|(i, _)| i)
    }

    /// Areas with a polygon part whose *bounding box* intersects `rect`, ascending, each
    /// once. A candidate filter, not an exact intersection: callers intersect the geometry
    /// themselves.
    pub fn intersecting_bbox(&self, rect: Rect<f64>) -> impl Iterator<Item = usize> + use<> {
        let envelope =
            AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        let mut hits: Vec<usize> = self
            .tree
            .locate_in_envelope_intersecting(&envelope)
            .map(|part| part.data)
            .collect();
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter()
    }
}

/// Index over points (sites, settlements, facilities): which lie in an area, which are
/// nearest to a place.
///
/// The tree stores (lon·cos φ₀, lat) where φ₀ is the middle latitude of the points, so
/// that tree distances are close to ground distances (at Mozambique's latitudes a degree of
/// longitude is 0.89–0.98 of a degree of latitude). Distances returned are always geodesic
/// (WGS 84, Karney 2013 via [`geo::Geodesic`]); the tree only picks candidates. Points are
/// assumed not to straddle the antimeridian (true for any Mozambique layer).
pub struct PointIndex {
    tree: RTree<GeomWithData<[f64; 2], usize>>,
    points: Vec<Point<f64>>,
    /// cos of the reference latitude: x in the tree is longitude times this.
    x_scale: f64,
    /// Largest |latitude| of the indexed points, degrees.
    max_abs_lat_deg: f64,
}

impl std::fmt::Debug for PointIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointIndex")
            .field("points", &self.points.len())
            .field("x_scale", &self.x_scale)
            .finish()
    }
}

impl PointIndex {
    /// Builds the index; point `i` of the answers is `points[i]`.
    pub fn new(points: &[Point<f64>]) -> Self {
        let (lat_min, lat_max) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.y()), hi.max(p.y()))
            });
        let (x_scale, max_abs_lat_deg) = if points.is_empty() {
            (1.0, 0.0)
        } else {
            let reference = (lat_min + lat_max) / 2.0;
            (
                reference.to_radians().cos().max(f64::EPSILON),
                lat_min.abs().max(lat_max.abs()),
            )
        };
        let entries = points
            .iter()
            .enumerate()
            .map(|(i, p)| GeomWithData::new([p.x() * x_scale, p.y()], i))
            .collect();
        PointIndex {
            tree: RTree::bulk_load(entries),
            points: points.to_vec(),
            x_scale,
            max_abs_lat_deg,
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Indices (ascending) of the points inside `area` or on its boundary.
    pub fn within(&self, area: &MultiPolygon<f64>) -> Vec<usize> {
        let Some(bbox) = area.bounding_rect() else {
            return Vec::new();
        };
        let envelope = AABB::from_corners(
            [bbox.min().x * self.x_scale, bbox.min().y],
            [bbox.max().x * self.x_scale, bbox.max().y],
        );
        let mut candidates: Vec<usize> = self
            .tree
            .locate_in_envelope(&envelope)
            .map(|entry| entry.data)
            .collect();
        if candidates.is_empty() {
            return candidates;
        }
        let prepared = PreparedArea::new(area);
        candidates.retain(|&i| self.points.get(i).is_some_and(|p| prepared.covers(*p)));
        candidates.sort_unstable();
        candidates
    }

    /// The `k` points nearest to `p` among those `filter` accepts, nearest first, with
    /// their geodesic distance in km.
    ///
    /// The tree's Euclidean order in (lon·cos φ₀, lat) is only an approximation of ground
    /// distance, so candidates come from the tree in that order and are re-ranked by
    /// geodesic distance. The walk stops once the tree distance, turned into a lower bound
    /// on the ground distance (shortest degree length × the worst-case longitude shrink
    /// between φ₀ and the farthest latitude in play × `EARLY_STOP_MARGIN`), exceeds the
    /// k-th best geodesic distance found. The result is therefore the exact geodesic k
    /// nearest for separations up to a few thousand km away from the poles.
    pub fn nearest(
        &self,
        p: Point<f64>,
        k: usize,
        filter: impl Fn(usize) -> bool,
    ) -> Vec<(usize, f64)> {
        self.nearest_within(p, k, f64::INFINITY, filter)
    }

    /// As [`PointIndex::nearest`], but only points within `max_km` (geodesic) of `p`; the
    /// walk also stops once the tree distance's lower bound passes `max_km`, so a query
    /// whose nearby points are all refused by `filter` (full shelters) stays local.
    pub fn nearest_within(
        &self,
        p: Point<f64>,
        k: usize,
        max_km: f64,
        filter: impl Fn(usize) -> bool,
    ) -> Vec<(usize, f64)> {
        let mut best: Vec<(usize, f64)> = Vec::with_capacity(k.saturating_add(1).min(1024));
        if k == 0 {
            return best;
        }
        // Longitude shrinks toward the pole: the farthest latitude in play bounds it.
        let far_lat = self.max_abs_lat_deg.max(p.y().abs()).min(89.0);
        let shrink = (far_lat.to_radians().cos() / self.x_scale).min(1.0);
        let km_per_tree_unit = KM_PER_DEG_LOWER_BOUND * shrink * EARLY_STOP_MARGIN;
        let query = [p.x() * self.x_scale, p.y()];
        for (entry, d2) in self.tree.nearest_neighbor_iter_with_distance_2(&query) {
            if best.len() == k
                && let Some(&(_, kth_km)) = best.last()
                && d2.sqrt() * km_per_tree_unit > kth_km
            {
                break;
            }
            if d2.sqrt() * km_per_tree_unit > max_km {
                break;
            }
            let i = entry.data;
            if !filter(i) {
                continue;
            }
            let Some(&q) = self.points.get(i) else {
                continue;
            };
            let km = Geodesic.distance(p, q) / 1000.0;
            if km > max_km {
                continue;
            }
            let at = best.partition_point(|&(_, d)| d <= km);
            best.insert(at, (i, km));
            best.truncate(k);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Polygon, coord, polygon};

    fn square_with_hole() -> MultiPolygon<f64> {
        let p: Polygon<f64> = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)],
            interiors: [[(x: 4.0, y: 4.0), (x: 6.0, y: 4.0), (x: 6.0, y: 6.0), (x: 4.0, y: 6.0)]],
        );
        MultiPolygon::new(vec![p])
    }

    #[test]
    fn a_point_is_inside_with_margin_only_away_from_every_ring_and_outside_holes() {
        let a = square_with_hole();
        assert!(inside_with_margin(&a, coord! { x: 2.0, y: 2.0 }, 1e-5));
        // In the hole, outside, and inside but within the margin of a ring.
        assert!(!inside_with_margin(&a, coord! { x: 5.0, y: 5.0 }, 1e-5));
        assert!(!inside_with_margin(&a, coord! { x: 11.0, y: 5.0 }, 1e-5));
        assert!(!inside_with_margin(
            &a,
            coord! { x: 9.999_999, y: 5.0 },
            1e-5
        ));
        assert!(!inside_with_margin(
            &a,
            coord! { x: 3.999_995, y: 5.0 },
            1e-5
        ));
        assert!(inside_with_margin(&a, coord! { x: 3.99, y: 5.0 }, 1e-5));
        // Overlapping parts cancel by the even-odd rule, as in geo's boolean operations.
        let mut twice = a.clone();
        twice.0.extend(a.0.iter().cloned());
        assert!(!inside_with_margin(&twice, coord! { x: 2.0, y: 2.0 }, 1e-5));
    }
}
