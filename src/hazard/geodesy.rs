//! Geodesic building blocks for footprints: quadrant sectors and circles drawn with
//! ellipsoidal (WGS 84) destination points, convex hulls, unions, orientation and area.
//!
//! Pure geometry on `geo` types; must not depend on forecasts' sources, I/O or the rest of
//! the crate beyond `crate::domain` units.

use geo::{
    BooleanOps, ConvexHull, Coord, Destination, Geodesic, GeodesicArea, InterpolatePoint,
    LineString, MultiPoint, MultiPolygon, Orient, Point, Polygon, orient::Direction, unary_union,
};

use std::cell::OnceCell;
use std::sync::LazyLock;

use crate::domain::{METRES_PER_NM, Quadrant, QuadrantRadii};

/// Number of arc segments per 90° quadrant for an angular step (at least one).
fn segments_per_quadrant(arc_step_deg: f64) -> usize {
    // ok: arc_step_deg is validated to 0.5..=15 by HazardConfig::validate, so this is 6..=180.
    (90.0 / arc_step_deg).ceil().max(1.0) as usize
}

/// The point `distance_m` metres from `centre` along the geodesic leaving at `bearing_deg`
/// (degrees clockwise from north), on the WGS 84 ellipsoid (Karney 2013 via geographiclib).
pub fn destination(centre: Point<f64>, bearing_deg: f64, distance_m: f64) -> Point<f64> {
    Geodesic.destination(centre, bearing_deg, distance_m)
}

/// The point at `ratio` (0..=1) of the way along the geodesic from `a` to `b`.
///
/// Storm centres between fixes are placed this way: a great-ellipse path at constant speed,
/// which is what "interpolate the track" means on the Earth. Over 6–12 h legs (≤ 400 km) a
/// linear lon/lat interpolation would differ by well under a kilometre at these latitudes,
/// but the geodesic costs little and has no latitude-dependent bias to explain.
pub fn interpolate(a: Point<f64>, b: Point<f64>, ratio: f64) -> Point<f64> {
    if ratio <= 0.0 {
        return a;
    }
    if ratio >= 1.0 {
        return b;
    }
    Geodesic.point_at_ratio_between(a, b, ratio)
}

/// WGS 84 as geo's `Geodesic` builds it (`geographiclib_rs::Geodesic::wgs84`), for the
/// geodesic lines of [`Fan`].
static WGS84: LazyLock<geographiclib_rs::Geodesic> =
    LazyLock::new(geographiclib_rs::Geodesic::wgs84);

/// What geo's `Geodesic.destination` asks of geographiclib (`DirectGeodesic::direct`:
/// latitude and longitude of a point given by distance), so that [`Fan::destination`]
/// repeats its arithmetic exactly.
const DIRECT_CAPS: u64 = geographiclib_rs::capability::LATITUDE
    | geographiclib_rs::capability::LONGITUDE
    | geographiclib_rs::capability::DISTANCE_IN;

/// The geodesic lines leaving one centre on every bearing a quadrant outline uses
/// (`90·k + 90·j/n` for quadrant k and arc step j < n), each built on first use.
///
/// `Geodesic.destination` builds a `GeodesicLine` (the costly part: series coefficients
/// for the bearing and latitude) and places one point on it. Every threshold's footprint
/// around the same centre uses the same bearings at other distances, so the swath keeps
/// one fan per sub-step position and places all of its points on the same lines. The
/// points are bit for bit those of [`destination`]: the same line (same capabilities)
/// and the same position call as geographiclib's `direct`.
pub struct Fan {
    centre: Point<f64>,
    n: usize,
    lines: Vec<OnceCell<geographiclib_rs::GeodesicLine>>,
}

impl Fan {
    pub fn new(centre: Point<f64>, arc_step_deg: f64) -> Self {
        let n = segments_per_quadrant(arc_step_deg);
        Fan {
            centre,
            n,
            lines: (0..4 * n).map(|_| OnceCell::new()).collect(),
        }
    }

    pub fn centre(&self) -> Point<f64> {
        self.centre
    }

    /// The point `distance_m` from the centre on bearing `90·k + 90·j/n` (k < 4, j < n):
    /// the same value as `destination(centre, 90·k + 90·j/n, distance_m)`.
    fn destination(&self, k: usize, j: usize, distance_m: f64) -> Point<f64> {
        let bearing = 90.0 * k as f64 + 90.0 * j as f64 / self.n as f64;
        let Some(cell) = self.lines.get(k * self.n + j) else {
            return destination(self.centre, bearing, distance_m);
        };
        let line = cell.get_or_init(|| {
            geographiclib_rs::GeodesicLine::new(
                &WGS84,
                self.centre.y(),
                self.centre.x(),
                bearing,
                Some(DIRECT_CAPS),
                None,
                None,
            )
        });
        let (_, lat, lon, ..) = line._gen_position(false, distance_m, DIRECT_CAPS);
        Point::new(lon, lat)
    }
}

/// The outline points of the four quadrant sectors of one footprint, sharing their spokes.
///
/// Each quadrant is an arc of geodesic destination points at that quadrant's radius. On the
/// four boundary bearings (0°, 90°, 180°, 270°) the two neighbouring quadrants share one
/// straight "spoke" from the centre to the farther of their two radii; the nearer quadrant's
/// corner is placed on that spoke (at the ratio of the radii) instead of at its own geodesic
/// destination. A geodesic on a fixed bearing is not a straight line in lon/lat (it bows by
/// up to ~80 m over 110 km at 20° S), so without this the two sectors would leave a hair-thin
/// notch along the spoke after union; on the spoke they meet exactly, and the corner moves by
/// less than 0.1 % of the radius.
///
/// Returns, per quadrant (NE, SE, SW, NW), `None` for a zero radius or the sector polygon's
/// points `[centre, corner at start bearing, arc..., corner at end bearing]`.
pub fn quadrant_sectors(
    centre: Point<f64>,
    radii: &QuadrantRadii,
    arc_step_deg: f64,
) -> [Option<Vec<Coord<f64>>>; 4] {
    fan_sectors(&Fan::new(centre, arc_step_deg), radii)
}

/// [`quadrant_sectors`] around `fan`'s centre, on its lines.
pub fn fan_sectors(fan: &Fan, radii: &QuadrantRadii) -> [Option<Vec<Coord<f64>>>; 4] {
    let centre = fan.centre;
    let r_m = Quadrant::ALL.map(|q| positive_or_zero(radii.get(q).0) * METRES_PER_NM);
    // Spoke k sits on bearing 90·k and is shared by quadrant k (starting there) and
    // quadrant k-1 (ending there).
    // ok: every index below is `k` or `(k + n) % 4` with k < 4 from `array::from_fn` on
    // arrays of 4, so indexing cannot fail.
    let spokes: [Option<(Point<f64>, f64)>; 4] = std::array::from_fn(|k| {
        let here = r_m[k];
        let before = r_m[(k + 3) % 4];
        let far = here.max(before);
        (far > 0.0).then(|| (fan.destination(k, 0, far), far))
    });
    let on_spoke = |k: usize, r: f64| -> Coord<f64> {
        match spokes[k] {
            Some((tip, far)) if far > 0.0 => {
                let t = r / far;
                Coord {
                    x: centre.x() + (tip.x() - centre.x()) * t,
                    y: centre.y() + (tip.y() - centre.y()) * t,
                }
            }
            _ => centre.0,
        }
    };
    let n = fan.n;
    std::array::from_fn(|k| {
        let r = r_m[k];
        if r <= 0.0 {
            return None;
        }
        let mut pts = Vec::with_capacity(n + 2);
        pts.push(centre.0);
        pts.push(on_spoke(k, r));
        for j in 1..n {
            pts.push(fan.destination(k, j, r).0);
        }
        pts.push(on_spoke((k + 1) % 4, r));
        Some(pts)
    })
}

fn positive_or_zero(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 { v } else { 0.0 }
}

/// The footprint of one fix for one threshold: the four quadrant sectors (NE = bearings
/// 0–90°, SE 90–180°, SW 180–270°, NW 270–360°) at their radii, joined through the centre
/// where a quadrant is empty. `None` when all radii are zero.
///
/// Quadrants with a non-zero radius that are contiguous (circularly) form one polygon;
/// groups separated by empty quadrants become separate polygons that touch at the centre,
/// which keeps every ring simple (a single ring visiting the centre twice would not be).
/// Rings are oriented per RFC 7946 (exterior counter-clockwise).
pub fn quadrant_footprint(
    centre: Point<f64>,
    radii: &QuadrantRadii,
    arc_step_deg: f64,
) -> Option<MultiPolygon<f64>> {
    let sectors = quadrant_sectors(centre, radii, arc_step_deg);
    let present: Vec<bool> = sectors.iter().map(Option::is_some).collect();
    if !present.iter().any(|p| *p) {
        return None;
    }
    if present.iter().all(|p| *p) {
        // A full ring: arcs only, the centre is inside.
        let mut ring: Vec<Coord<f64>> = Vec::new();
        for pts in sectors.iter().flatten() {
            // Skip the centre (index 0); consecutive shared corners are deduplicated below.
            ring.extend(pts.iter().skip(1).copied());
        }
        return Some(MultiPolygon::new(vec![oriented(polygon_from(ring))]));
    }
    // Start right after an empty quadrant so that every group is walked in one piece.
    let first_empty = present.iter().position(|p| !*p).unwrap_or(0);
    let mut polys = Vec::new();
    let mut group: Vec<Coord<f64>> = Vec::new();
    for step in 1..=4 {
        let k = (first_empty + step) % 4; // ok: < 4, `sectors` has 4 entries
        match &sectors[k] {
            Some(pts) => {
                if group.is_empty() {
                    group.push(centre.0);
                }
                group.extend(pts.iter().skip(1).copied());
            }
            None => {
                if !group.is_empty() {
                    polys.push(oriented(polygon_from(std::mem::take(&mut group))));
                }
            }
        }
    }
    if !group.is_empty() {
        polys.push(oriented(polygon_from(group)));
    }
    Some(MultiPolygon::new(polys))
}

/// A polygon from ring points, dropping consecutive duplicates (shared spoke corners).
fn polygon_from(mut ring: Vec<Coord<f64>>) -> Polygon<f64> {
    ring.dedup();
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    Polygon::new(LineString::new(ring), vec![])
}

/// Points of a circle of `radius_m` around `centre`, one every `arc_step_deg`.
/// A zero radius gives the centre alone (hulls then taper to it).
pub fn circle_points(centre: Point<f64>, radius_m: f64, arc_step_deg: f64) -> Vec<Coord<f64>> {
    if !(radius_m.is_finite() && radius_m > 0.0) {
        return vec![centre.0];
    }
    let n = 4 * segments_per_quadrant(arc_step_deg);
    (0..n)
        .map(|j| destination(centre, 360.0 * j as f64 / n as f64, radius_m).0)
        .collect()
}

/// The convex hull of a set of points as a counter-clockwise polygon, or `None` when the
/// points do not span an area (fewer than three distinct, or all collinear).
pub fn hull(points: Vec<Coord<f64>>) -> Option<Polygon<f64>> {
    if points.len() < 3 {
        return None;
    }
    let h = MultiPoint::from(points).convex_hull();
    // A degenerate hull has fewer than 3 distinct vertices (+ closing point).
    (h.exterior().0.len() >= 4 && h.unsigned_area_deg2() > 0.0).then_some(h)
}

/// Planar area helper used only to reject degenerate hulls (units: square degrees).
trait UnsignedAreaDeg2 {
    fn unsigned_area_deg2(&self) -> f64;
}

impl UnsignedAreaDeg2 for Polygon<f64> {
    fn unsigned_area_deg2(&self) -> f64 {
        use geo::Area;
        self.unsigned_area()
    }
}

/// A polygon oriented per RFC 7946 (exterior counter-clockwise, holes clockwise).
pub fn oriented(p: Polygon<f64>) -> Polygon<f64> {
    p.orient(Direction::Default)
}

/// A multipolygon oriented per RFC 7946.
pub fn oriented_multi(mp: MultiPolygon<f64>) -> MultiPolygon<f64> {
    mp.orient(Direction::Default)
}

/// The union of many polygons (i_overlay via geo's `unary_union`), oriented per RFC 7946.
///
/// Inputs are oriented first: `unary_union` picks its fill rule from the first ring's
/// winding, so mixed windings would silently drop pieces.
pub fn union_polygons(polys: Vec<Polygon<f64>>) -> MultiPolygon<f64> {
    if polys.is_empty() {
        return MultiPolygon::new(vec![]);
    }
    let polys: Vec<Polygon<f64>> = polys.into_iter().map(oriented).collect();
    oriented_multi(unary_union(&polys))
}

/// The union of several multipolygons, oriented per RFC 7946.
pub fn union_multi<'a>(
    parts: impl IntoIterator<Item = &'a MultiPolygon<f64>>,
) -> MultiPolygon<f64> {
    let polys: Vec<Polygon<f64>> = parts
        .into_iter()
        .flat_map(|mp| mp.0.iter().cloned())
        .collect();
    union_polygons(polys)
}

/// Intersection of two multipolygons, oriented per RFC 7946.
pub fn intersection(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    if a.0.is_empty() || b.0.is_empty() {
        return MultiPolygon::new(vec![]);
    }
    oriented_multi(oriented_multi(a.clone()).intersection(&oriented_multi(b.clone())))
}

/// `a` without `b`, oriented per RFC 7946.
pub fn difference(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    if a.0.is_empty() || b.0.is_empty() {
        return a.clone();
    }
    oriented_multi(oriented_multi(a.clone()).difference(&oriented_multi(b.clone())))
}

/// Geodesic area on the WGS 84 ellipsoid in km² (Karney 2013; orientation-independent).
pub fn area_km2(mp: &MultiPolygon<f64>) -> f64 {
    mp.geodesic_area_unsigned() / 1.0e6
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use geo::{Distance, Intersects};

    fn radii(ne: f64, se: f64, sw: f64, nw: f64) -> QuadrantRadii {
        QuadrantRadii::new(ne, se, sw, nw)
    }

    #[test]
    fn a_symmetric_footprint_is_one_ring_around_the_centre() {
        let c = Point::new(37.0, -18.0);
        let fp = quadrant_footprint(c, &radii(60.0, 60.0, 60.0, 60.0), 5.0).unwrap();
        assert_eq!(fp.0.len(), 1);
        assert!(fp.0[0].interiors().is_empty());
        // 72 arc points, closed: no duplicated spoke corners survived.
        assert_eq!(fp.0[0].exterior().0.len(), 73);
        assert!(fp.intersects(&c));
    }

    #[test]
    fn opposite_quadrants_alone_make_two_pies_touching_at_the_centre() {
        let c = Point::new(37.0, -18.0);
        let fp = quadrant_footprint(c, &radii(40.0, 0.0, 40.0, 0.0), 5.0).unwrap();
        assert_eq!(fp.0.len(), 2);
        // North-east and south-west of the centre are covered, the other two are not.
        let d = 20.0 * METRES_PER_NM;
        assert!(fp.intersects(&destination(c, 45.0, d)));
        assert!(fp.intersects(&destination(c, 225.0, d)));
        assert!(!fp.intersects(&destination(c, 135.0, d)));
        assert!(!fp.intersects(&destination(c, 315.0, d)));
    }

    #[test]
    fn unequal_neighbours_share_the_spoke_without_a_gap() {
        let c = Point::new(37.0, -18.0);
        let r = radii(30.0, 90.0, 90.0, 30.0);
        let sectors = quadrant_sectors(c, &r, 5.0);
        let polys: Vec<Polygon<f64>> = sectors.into_iter().flatten().map(polygon_from).collect();
        let u = union_polygons(polys);
        // One polygon without slivers or holes along the spokes.
        assert_eq!(u.0.len(), 1);
        assert!(u.0[0].interiors().is_empty());
        // A point 20 nm due east (on the spoke between 30 and 90 nm) is inside.
        let east = destination(c, 90.0, 20.0 * METRES_PER_NM);
        assert!(u.intersects(&east));
        // Corners land within 0.1 % of the true geodesic distance.
        let corner = sectors_corner_distance_m(c, &r);
        assert!((corner - 30.0 * METRES_PER_NM).abs() < 0.001 * 30.0 * METRES_PER_NM);
    }

    fn sectors_corner_distance_m(c: Point<f64>, r: &QuadrantRadii) -> f64 {
        let sectors = quadrant_sectors(c, r, 5.0);
        let ne = sectors[0].as_ref().unwrap();
        // The NE corner on the 90° spoke is its last point.
        Geodesic.distance(c, Point::from(*ne.last().unwrap()))
    }

    #[test]
    fn a_fans_points_are_bit_for_bit_those_of_geos_destination() {
        let c = Point::new(37.25, -19.8);
        let fan = Fan::new(c, 5.0);
        // Twice over: the second pass places the points on lines built by the first.
        for _ in 0..2 {
            for k in 0..4 {
                for j in 0..18 {
                    let bearing = 90.0 * k as f64 + 90.0 * j as f64 / 18.0;
                    for r in [1.0, 64_820.0, 370_400.0] {
                        let expected = Geodesic.destination(c, bearing, r);
                        assert_eq!(fan.destination(k, j, r), expected, "{bearing}° {r} m");
                    }
                }
            }
        }
    }

    #[test]
    fn a_zero_radius_circle_is_just_its_centre() {
        let c = Point::new(37.0, -18.0);
        assert_eq!(circle_points(c, 0.0, 5.0), vec![c.0]);
        assert_eq!(circle_points(c, 1000.0, 5.0).len(), 72);
    }

    #[test]
    fn hull_rejects_collinear_points() {
        let pts = vec![
            Coord { x: 0.0, y: 0.0 },
            Coord { x: 1.0, y: 1.0 },
            Coord { x: 2.0, y: 2.0 },
        ];
        assert!(hull(pts).is_none());
    }
}
