//! CAP 1.2 `polygon`s from the swaths' (multi)polygons: rings fitted under a vertex
//! limit, latitude first. Split out of `cap.rs`.
//!
//! Pure: must not depend on I/O.

use super::*;

/// The CAP `polygon`s of a (multi)polygon: each part's exterior ring as "lat,lon" pairs
/// (CAP 1.2 §3.3.2: WGS 84, latitude first), 4 decimals (~11 m), first = last, at most
/// `max_vertices`. Holes are dropped: CAP polygons have none, and a hole in a swath is
/// not a safe place.
///
/// Parts are simplified with Ramer–Douglas–Peucker (geo's `Simplify`), the tolerance
/// doubling from 0.001° (~110 m) until the ring fits and is still a valid polygon; if no
/// tolerance gives a valid ring, the part's convex hull is used, which is always valid
/// and only errs on the side of covering more. The tolerance is in degrees because it is
/// a shape tolerance, not a distance anything is measured with.
pub fn cap_polygons(mp: &MultiPolygon<f64>, max_vertices: usize) -> Vec<String> {
    let max_vertices = max_vertices.max(4);
    mp.0.iter()
        .filter_map(|p| {
            let outer = Polygon::new(p.exterior().clone(), vec![]);
            let fitted =
                fit(&outer, max_vertices).or_else(|| fit(&outer.convex_hull(), max_vertices))?;
            ring_text(&fitted)
        })
        .collect()
}

pub(super) fn fit(p: &Polygon<f64>, max_vertices: usize) -> Option<Polygon<f64>> {
    let mut eps = 0.001;
    for _ in 0..24 {
        let s = p.simplify(eps);
        let n = s.exterior().0.len();
        if n >= 4 && n <= max_vertices && s.is_valid() {
            return Some(s);
        }
        eps *= 2.0;
    }
    None
}

pub(super) fn ring_text(p: &Polygon<f64>) -> Option<String> {
    let mut pts: Vec<String> = Vec::new();
    for c in &p.exterior().0 {
        let s = format!("{:.4},{:.4}", c.y, c.x);
        if pts.last() != Some(&s) {
            pts.push(s);
        }
    }
    if let (Some(first), Some(last)) = (pts.first().cloned(), pts.last())
        && &first != last
    {
        pts.push(first);
    }
    (pts.len() >= 4).then(|| pts.join(" "))
}
