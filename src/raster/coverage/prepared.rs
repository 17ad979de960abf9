//! Polygons moved into a grid's units once, as signed ring edges, and their exact coverage
//! over any window: each edge walked through the row bands it spans (Green's theorem, see
//! the method in [`super`]).

use geo::{BoundingRect, Coord, LineString, MultiPolygon};

use super::{Coverage, GridSpec, Window};

/// One ring edge in grid units (`u` = column, `v` = row, both from the grid's top-left
/// corner), with the sign that makes its ring count positive (exterior) or negative
/// (hole). Horizontal edges are dropped: they add nothing.
#[derive(Debug, Clone, Copy)]
struct Edge {
    a: Coord<f64>,
    b: Coord<f64>,
    v_min: f64,
    v_max: f64,
    sign: f64,
}

/// Polygons moved into a grid's units once, so their coverage can be computed window by
/// window (strip by strip on grids larger than memory) without redoing that work.
#[derive(Debug, Clone)]
pub struct PreparedPolygons {
    window: Option<Window>,
    /// Sorted by `v_min`, so a row strip stops at the first edge below it.
    edges: Vec<Edge>,
}

impl PreparedPolygons {
    pub fn new(grid: &GridSpec, polygons: &MultiPolygon<f64>) -> Self {
        let window = polygons
            .bounding_rect()
            .and_then(|b| grid.window_of(b.min(), b.max()));
        let mut edges = Vec::new();
        if window.is_some() {
            for polygon in &polygons.0 {
                add_ring(&mut edges, grid, polygon.exterior(), true);
                for hole in polygon.interiors() {
                    add_ring(&mut edges, grid, hole, false);
                }
            }
        }
        edges.sort_by(|x, y| x.v_min.total_cmp(&y.v_min));
        PreparedPolygons { window, edges }
    }

    /// The cells the polygons' bounding box covers inside the grid; `None` if it misses.
    pub fn window(&self) -> Option<Window> {
        self.window
    }

    /// Coverage fractions over `window` (any window of the grid, typically a strip of
    /// rows of [`Self::window`]). Memory: two `f64` per cell of `window`.
    pub fn coverage(&self, window: Window) -> Coverage {
        let cols1 = window.cols + 1;
        // Per row, a difference array: cell c's fraction is the prefix sum up to c.
        let mut diff = vec![0.0; window.rows * cols1];
        let (r0, r1) = (window.row0 as f64, (window.row0 + window.rows) as f64);
        for e in &self.edges {
            if e.v_min >= r1 {
                break; // sorted by v_min: no later edge reaches the window
            }
            if e.v_max <= r0 {
                continue;
            }
            add_edge(&mut diff, window, e);
        }
        let mut fractions = Vec::with_capacity(window.len());
        for row in diff.chunks_exact(cols1) {
            let mut running = 0.0;
            for d in row.iter().take(window.cols) {
                running += d;
                // Rounding leaves ±1e-15 around 0 and 1.
                fractions.push(running.clamp(0.0, 1.0));
            }
        }
        Coverage { window, fractions }
    }
}

/// Moves one ring into grid units and appends its non-horizontal edges, signed so that an
/// exterior ring adds and a hole subtracts whatever the ring's orientation.
fn add_ring(edges: &mut Vec<Edge>, grid: &GridSpec, ring: &LineString<f64>, exterior: bool) {
    let pts: Vec<Coord<f64>> = ring
        .0
        .iter()
        .map(|c| Coord {
            x: (c.x - grid.west_deg) / grid.cell_width_deg,
            y: (grid.north_deg - c.y) / grid.cell_height_deg,
        })
        .collect();
    // Shoelace (∮ u dv); the origin is moved to the first point to keep it well conditioned.
    let Some(o) = pts.first().copied() else {
        return;
    };
    let mut signed = 0.0;
    for pair in pts.windows(2) {
        let (a, b) = (pair[0] - o, pair[1] - o); // ok: windows(2) yields two items
        signed += (a.x * b.y - b.x * a.y) * 0.5;
    }
    if signed == 0.0 || !signed.is_finite() {
        return; // a degenerate ring covers nothing
    }
    // ∮ u dv is positive for a ring counter-clockwise in (u, v).
    let sign = if (signed > 0.0) == exterior {
        1.0
    } else {
        -1.0
    };
    for pair in pts.windows(2) {
        let (a, b) = (pair[0], pair[1]); // ok: windows(2) yields two items
        if a.y == b.y {
            continue; // horizontal edges have dv = 0
        }
        edges.push(Edge {
            a,
            b,
            v_min: a.y.min(b.y),
            v_max: a.y.max(b.y),
            sign,
        });
    }
}

/// Adds `sign × ∫ clamp(u − c, 0, 1) dv` of one edge to every cell of `window` in the rows
/// it spans, as difference-array entries (`diff` holds `cols + 1` entries per row).
fn add_edge(diff: &mut [f64], w: Window, e: &Edge) {
    let cols1 = w.cols + 1;
    let (c0, r0) = (w.col0 as f64, w.row0 as f64);
    let a = Coord {
        x: e.a.x - c0,
        y: e.a.y - r0,
    };
    let b = Coord {
        x: e.b.x - c0,
        y: e.b.y - r0,
    };
    let rows = w.rows as f64;
    let (vmin, vmax) = (e.v_min - r0, e.v_max - r0);
    let r_first = vmin.max(0.0).floor() as usize;
    let r_last = (vmax.min(rows).ceil() as usize).min(w.rows);
    let du_dv = (b.x - a.x) / (b.y - a.y);
    let ascending = a.y < b.y;
    let cols = w.cols as f64;
    for r in r_first..r_last {
        // The piece of the edge inside the band r ≤ v ≤ r+1, in the edge's direction.
        let lo = r as f64;
        let hi = lo + 1.0;
        let (v_start, v_end) = if ascending {
            (a.y.max(lo), b.y.min(hi))
        } else {
            (a.y.min(hi), b.y.max(lo))
        };
        let dv = (v_end - v_start) * e.sign;
        if dv == 0.0 {
            continue;
        }
        let u_start = a.x + (v_start - a.y) * du_dv;
        let u_end = a.x + (v_end - a.y) * du_dv;
        let (umin, umax) = if u_start < u_end {
            (u_start, u_end)
        } else {
            (u_end, u_start)
        };
        let Some(row) = diff.get_mut(r * cols1..(r + 1) * cols1) else {
            continue;
        };
        // Columns wholly left of the piece (c + 1 ≤ umin) get the full Δv.
        let full_end = umin.floor().clamp(0.0, cols) as usize;
        if full_end > 0 {
            if let Some(x) = row.get_mut(0) {
                *x += dv;
            }
            if let Some(x) = row.get_mut(full_end) {
                *x -= dv;
            }
        }
        // Columns the piece crosses: floor(umin) ..= ceil(umax) − 1.
        let c_last = (umax.ceil().max(0.0) as usize).min(w.cols);
        for c in full_end..c_last {
            let cf = c as f64;
            let x = dv * clamped_mean(u_start - cf, u_end - cf);
            if let Some(d) = row.get_mut(c) {
                *d += x;
            }
            if let Some(d) = row.get_mut(c + 1) {
                *d -= x;
            }
        }
    }
}

/// The mean of `clamp(u, 0, 1)` as `u` runs linearly from `u0` to `u1`:
/// `(G(u1) − G(u0)) / (u1 − u0)` with `G(u) = ∫₀ᵘ clamp(s, 0, 1) ds`.
fn clamped_mean(u0: f64, u1: f64) -> f64 {
    fn g(u: f64) -> f64 {
        if u <= 0.0 {
            0.0
        } else if u >= 1.0 {
            u - 0.5
        } else {
            0.5 * u * u
        }
    }
    let d = u1 - u0;
    if d.abs() < 1e-12 {
        return (0.5 * (u0 + u1)).clamp(0.0, 1.0);
    }
    // Split at the kinks (G is 0 below 0, u²/2 on the ramp, slope 1 above 1) so a long
    // edge's pieces are evaluated without cancellation.
    let (lo, hi) = if u0 < u1 { (u0, u1) } else { (u1, u0) };
    let ramp = g(hi.clamp(0.0, 1.0)) - g(lo.clamp(0.0, 1.0));
    let above = hi.max(1.0) - lo.max(1.0);
    (ramp + above) / (hi - lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::coverage::coverage;
    use crate::raster::coverage::fixtures::{close, grid_4x3};
    use geo::polygon;

    #[test]
    fn coverage_strip_by_strip_equals_coverage_of_the_whole_window() {
        // What the GDAL adapter does on large grids: rows 0..1 and 1..3 separately.
        let p = MultiPolygon(vec![polygon![
            (x: 30.2, y: -10.1), (x: 33.7, y: -11.4), (x: 31.9, y: -12.8), (x: 30.2, y: -10.1)
        ]]);
        let whole = coverage(&grid_4x3(), &p).unwrap();
        let prepared = PreparedPolygons::new(&grid_4x3(), &p);
        let w = prepared.window().unwrap();
        assert_eq!(w, whole.window);
        let top = prepared.coverage(Window { rows: 1, ..w });
        let rest = prepared.coverage(Window {
            row0: w.row0 + 1,
            rows: w.rows - 1,
            ..w
        });
        let joined: Vec<f64> = top
            .fractions
            .iter()
            .chain(&rest.fractions)
            .copied()
            .collect();
        assert_eq!(joined.len(), whole.fractions.len());
        for (a, b) in joined.iter().zip(&whole.fractions) {
            assert!(close(*a, *b));
        }
        // Shoelace area of the triangle in degrees² = cells (1° cells).
        let area =
            (0.5_f64 * ((33.7 - 30.2) * (-12.8 + 10.1) - (31.9 - 30.2) * (-11.4 + 10.1))).abs();
        assert!(close(whole.total(), area), "{} vs {area}", whole.total());
    }

    #[test]
    fn clamped_mean_matches_the_piecewise_integral() {
        assert!(close(clamped_mean(-1.0, 2.0), (0.0 + 0.5 + 1.0) / 3.0));
        assert!(close(clamped_mean(2.0, -1.0), 0.5));
        assert!(close(clamped_mean(0.25, 0.75), 0.5));
        assert!(close(clamped_mean(-3.0, -1.0), 0.0));
        assert!(close(clamped_mean(0.5, 0.5), 0.5));
    }
}
