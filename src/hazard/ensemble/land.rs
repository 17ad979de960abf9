//! Land and sea for realisations (a raster mask filled once from the admin polygons) and
//! the scan-line crossings it and the district sample points are built from.
//!
//! Pure geometry on `geo` types; must not depend on I/O or on the rest of the crate.
//!
//! Written by hand: testing 1,000 realisations × a few hundred positions against 159
//! district polygons costs seconds with point-in-polygon queries, while one pass of an
//! even–odd scan-line fill makes every later test a table look-up. geo has no rasteriser.

use geo::{BoundingRect, MultiPolygon};

/// x of every crossing of the rings of `mp` with the parallel at `lat`, ascending: pairs
/// (x0, x1), (x2, x3), … are inside (even–odd rule; edges counted half-open so a vertex on
/// the parallel is crossed once).
pub(crate) fn row_crossings(mp: &MultiPolygon<f64>, lat: f64, out: &mut Vec<f64>) {
    out.clear();
    for poly in &mp.0 {
        for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
            for line in ring.lines() {
                let (a, b) = (line.start, line.end);
                if (a.y <= lat) != (b.y <= lat) {
                    out.push(a.x + (lat - a.y) * (b.x - a.x) / (b.y - a.y));
                }
            }
        }
    }
    out.sort_by(f64::total_cmp);
}

/// A lon/lat raster of land (inside any of the areas it was built from) and sea.
///
/// Limit: only the areas given count as land (Mozambique's districts): Malawi, Zimbabwe,
/// South Africa and Madagascar count as sea, so a realisation crossing them is not decayed
/// by the land model (its intensity still follows the forecast's own, which decays inland).
#[derive(Debug, Clone)]
pub struct LandMask {
    lon0: f64,
    lat0: f64,
    cell_deg: f64,
    nx: usize,
    ny: usize,
    land: Vec<bool>,
}

impl LandMask {
    /// Fills a mask of `cell_deg` cells; a cell is land when its centre is inside any area.
    pub fn from_areas<'a>(
        areas: impl Iterator<Item = &'a MultiPolygon<f64>> + Clone,
        cell_deg: f64,
    ) -> Self {
        let rects: Vec<_> = areas.clone().filter_map(|a| a.bounding_rect()).collect();
        let (Some(min_x), Some(min_y), Some(max_x), Some(max_y)) = (
            rects.iter().map(|r| r.min().x).reduce(f64::min),
            rects.iter().map(|r| r.min().y).reduce(f64::min),
            rects.iter().map(|r| r.max().x).reduce(f64::max),
            rects.iter().map(|r| r.max().y).reduce(f64::max),
        ) else {
            return LandMask {
                lon0: 0.0,
                lat0: 0.0,
                cell_deg,
                nx: 0,
                ny: 0,
                land: Vec::new(),
            };
        };
        let lon0 = (min_x / cell_deg).floor() * cell_deg;
        let lat0 = (min_y / cell_deg).floor() * cell_deg;
        // ok: a country's extent over cells of ≥ 0.01° is at most a few thousand cells a side.
        let nx = ((max_x - lon0) / cell_deg).ceil() as usize + 1;
        let ny = ((max_y - lat0) / cell_deg).ceil() as usize + 1;
        let mut land = vec![false; nx * ny];
        let mut xs = Vec::new();
        for area in areas {
            let Some(r) = area.bounding_rect() else {
                continue;
            };
            let iy0 = ((r.min().y - lat0) / cell_deg).floor().max(0.0) as usize;
            let iy1 = (((r.max().y - lat0) / cell_deg).ceil() as usize).min(ny);
            for iy in iy0..iy1 {
                let lat = lat0 + (iy as f64 + 0.5) * cell_deg;
                row_crossings(area, lat, &mut xs);
                for pair in xs.chunks_exact(2) {
                    let [x0, x1] = [pair[0], pair[1]];
                    // Cells whose centre lon0 + (ix + 0.5)·cell lies in [x0, x1].
                    let ix0 = ((x0 - lon0) / cell_deg - 0.5).ceil().max(0.0) as usize;
                    let ix1 = ((x1 - lon0) / cell_deg - 0.5).floor();
                    if ix1 < 0.0 {
                        continue;
                    }
                    let ix1 = (ix1 as usize).min(nx - 1);
                    for ix in ix0..=ix1 {
                        if let Some(c) = land.get_mut(iy * nx + ix) {
                            *c = true;
                        }
                    }
                }
            }
        }
        LandMask {
            lon0,
            lat0,
            cell_deg,
            nx,
            ny,
            land,
        }
    }

    /// Whether (lon, lat) in EPSG:4326 falls on a land cell; false outside the mask.
    pub fn is_land(&self, lon: f64, lat: f64) -> bool {
        let fx = (lon - self.lon0) / self.cell_deg;
        let fy = (lat - self.lat0) / self.cell_deg;
        if !(fx >= 0.0 && fy >= 0.0) {
            return false;
        }
        let (ix, iy) = (fx as usize, fy as usize);
        if ix >= self.nx || iy >= self.ny {
            return false;
        }
        self.land.get(iy * self.nx + ix).copied().unwrap_or(false)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use geo::{Contains, Distance, Euclidean, Point, polygon};

    #[test]
    fn the_mask_agrees_with_point_in_polygon_away_from_edges() {
        // A concave "C" shape with a hole, in EPSG:4326 near Beira.
        let c = polygon!(
            exterior: [
                (x: 34.0, y: -20.0), (x: 36.0, y: -20.0), (x: 36.0, y: -19.5),
                (x: 34.5, y: -19.5), (x: 34.5, y: -18.5), (x: 36.0, y: -18.5),
                (x: 36.0, y: -18.0), (x: 34.0, y: -18.0), (x: 34.0, y: -20.0),
            ],
            interiors: [[
                (x: 34.1, y: -19.9), (x: 34.3, y: -19.9), (x: 34.3, y: -19.7),
                (x: 34.1, y: -19.7), (x: 34.1, y: -19.9),
            ]],
        );
        let mp = MultiPolygon::new(vec![c]);
        let mask = LandMask::from_areas(std::iter::once(&mp), 0.01);
        let mut checked = 0;
        for i in 0..200 {
            for j in 0..200 {
                let (x, y) = (33.9 + i as f64 * 0.011, -20.1 + j as f64 * 0.011);
                let p = Point::new(x, y);
                let near_edge = mp.0[0]
                    .exterior()
                    .lines()
                    .chain(mp.0[0].interiors()[0].lines())
                    .any(|l| {
                        let d = Euclidean.distance(&l, &p);
                        d < 0.015
                    });
                if near_edge {
                    continue;
                }
                assert_eq!(mask.is_land(x, y), mp.contains(&p), "({x}, {y})");
                checked += 1;
            }
        }
        assert!(checked > 30_000, "{checked}");
        assert!(!mask.is_land(10.0, 10.0));
    }
}
