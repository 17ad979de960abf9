//! Exact cell coverage fractions of a polygon over a regular lon/lat grid, and zonal sums
//! weighted by them (the exactextract method, Baston 2018/2019). Pure arithmetic: no I/O,
//! no GDAL.
//!
//! # Method: walking ring edges through row bands (Green's theorem)
//!
//! Coordinates are first moved into grid units: column `u = (lon − west) / cell_width`,
//! row `v = (north − lat) / cell_height`, so every cell is the unit square
//! `[c, c+1] × [r, r+1]`.
//!
//! For a closed ring ∂P and any column `c`, Green's theorem gives
//! `∮ clamp(u − c, 0, 1) dv = ∬_P 1[c ≤ u ≤ c+1] dA` (the derivative of the clamp is the
//! column's indicator). Restricting the line integral to the ring's pieces inside the row
//! band `r ≤ v ≤ r+1` gives the area of `P ∩ cell(r, c)`: the band's own horizontal edges
//! have `dv = 0` and add nothing, so the ring needs no clipping into closed pieces. Each
//! edge piece inside a band contributes:
//! - `Δv` to every column wholly left of it (`clamp = 1` there): one difference-array entry;
//! - nothing to columns wholly right of it;
//! - an exact closed form to the columns it crosses (the integral of a clamped linear
//!   function, see `clamped_mean` in `prepared`).
//!
//! So the work is proportional to the cells the boundary passes through plus one pass over
//! the window, like exactextract's traversal + flood fill, and every fraction is exact up
//! to floating-point rounding. Ring orientation is normalised by each ring's own signed
//! area (exterior counted positive, holes negative), so GeoJSON's right-hand rule, its
//! opposite, and GDAL's conventions all give the same result.
//!
//! # Cell area on the sphere
//!
//! A population-count grid (WorldPop "ppp", GPWv4 "population count", GHSL POP) stores
//! people per cell, already integrated over the cell's true spherical area. The fraction
//! used here is the share of the cell's area in lon/lat (plate carrée) space. Inside one
//! cell the true (ellipsoidal) area element varies with cos(latitude) only, by a relative
//! amount of about `tan(lat) × Δlat` across the cell (at 26°S and 30″: 4 × 10⁻⁵; at 0.5°:
//! 4 × 10⁻³), and population within a cell is assumed uniform anyway, so
//! `value × fraction` needs no spherical correction. The sphere matters for *density*
//! grids (people per km²), which must be multiplied by each cell's geodesic area (rows
//! differ by cos(latitude)), and for comparing areas across rows; neither is done here.
//! exactextract's `sum` makes the same choice (value × coverage fraction, no area weight).
//!
//! `prepared` moves polygons into grid units and walks their edges through row bands (the
//! method above), `zonal` sums values under a coverage; this file holds the grid, its
//! windows and the coverage they give.

use geo::{Coord, MultiPolygon};

mod prepared;
mod zonal;

#[cfg(test)]
mod fixtures;

pub use prepared::PreparedPolygons;
pub use zonal::{ZonalSum, zonal_sum};

/// A north-up regular grid in EPSG:4326: the top-left corner, the cell size in degrees
/// and the number of columns and rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridSpec {
    /// Longitude of the west edge of column 0 (degrees east).
    pub west_deg: f64,
    /// Latitude of the north edge of row 0 (degrees north).
    pub north_deg: f64,
    /// Cell width in degrees of longitude (> 0).
    pub cell_width_deg: f64,
    /// Cell height in degrees of latitude (> 0; rows run southward).
    pub cell_height_deg: f64,
    /// Number of columns.
    pub width: usize,
    /// Number of rows.
    pub height: usize,
}

/// A rectangle of cells: rows `row0..row0+rows`, columns `col0..col0+cols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub col0: usize,
    pub row0: usize,
    pub cols: usize,
    pub rows: usize,
}

impl Window {
    /// Number of cells in the window.
    pub fn len(&self) -> usize {
        self.cols * self.rows
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl GridSpec {
    /// Longitude of the east edge of the grid.
    pub fn east_deg(&self) -> f64 {
        self.west_deg + self.cell_width_deg * self.width as f64
    }
    /// Latitude of the south edge of the grid.
    pub fn south_deg(&self) -> f64 {
        self.north_deg - self.cell_height_deg * self.height as f64
    }

    /// The cells a lon/lat bounding box touches, clipped to the grid; `None` if it misses
    /// the grid.
    pub fn window_of(&self, min: Coord<f64>, max: Coord<f64>) -> Option<Window> {
        let u0 = ((min.x - self.west_deg) / self.cell_width_deg).floor();
        let u1 = ((max.x - self.west_deg) / self.cell_width_deg).ceil();
        let v0 = ((self.north_deg - max.y) / self.cell_height_deg).floor();
        let v1 = ((self.north_deg - min.y) / self.cell_height_deg).ceil();
        let col0 = u0.max(0.0);
        let col1 = u1.min(self.width as f64);
        let row0 = v0.max(0.0);
        let row1 = v1.min(self.height as f64);
        if !(col1 > col0 && row1 > row0) {
            return None;
        }
        Some(Window {
            col0: col0 as usize,
            row0: row0 as usize,
            cols: (col1 - col0) as usize,
            rows: (row1 - row0) as usize,
        })
    }
}

/// Coverage fractions (0..=1) of the cells of one window, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub window: Window,
    /// `fractions[r * window.cols + c]` is the share of cell `(window.row0 + r,
    /// window.col0 + c)` inside the polygon.
    pub fractions: Vec<f64>,
}

impl Coverage {
    /// The fraction of grid cell `(row, col)` (grid indices) inside the polygon; 0 outside
    /// the window.
    pub fn fraction(&self, row: usize, col: usize) -> f64 {
        let w = self.window;
        if row < w.row0 || col < w.col0 || row >= w.row0 + w.rows || col >= w.col0 + w.cols {
            return 0.0;
        }
        self.fractions
            .get((row - w.row0) * w.cols + (col - w.col0))
            .copied()
            .unwrap_or(0.0)
    }

    /// Σ fraction: the polygon's area inside the grid in cell units.
    pub fn total(&self) -> f64 {
        self.fractions.iter().sum()
    }

    /// Cells with a fraction above zero.
    pub fn covered_cells(&self) -> usize {
        self.fractions.iter().filter(|f| **f > 0.0).count()
    }
}

/// Exact coverage fractions of `polygons` over `grid`; `None` when the polygons miss the
/// grid (or are empty). Parts of a multipolygon are assumed not to overlap (OGC validity);
/// a cell's fractions from the parts are added and capped at 1.
pub fn coverage(grid: &GridSpec, polygons: &MultiPolygon<f64>) -> Option<Coverage> {
    let prepared = PreparedPolygons::new(grid, polygons);
    let window = prepared.window()?;
    Some(prepared.coverage(window))
}

#[cfg(test)]
mod tests {
    use super::fixtures::{close, grid_4x3, square};
    use super::*;
    use geo::{LineString, MultiPolygon, Polygon, polygon};

    #[test]
    fn a_polygon_smaller_than_a_cell_covers_its_own_area_share_of_that_cell() {
        // A 0.2° × 0.3° box inside cell (row 1, col 1) = [31,32]E × [-12,-11]: 0.06 of it.
        let p = MultiPolygon(vec![square(31.4, -11.6, 31.6, -11.3)]);
        let cov = coverage(&grid_4x3(), &p).unwrap();
        assert!(close(cov.fraction(1, 1), 0.06), "{}", cov.fraction(1, 1));
        assert_eq!(cov.covered_cells(), 1);
    }

    #[test]
    fn a_triangle_smaller_than_a_cell_covers_half_its_box() {
        // Right triangle with legs 0.5° and 0.4°: area 0.1 of the 1° cell.
        let p = MultiPolygon(vec![polygon![
            (x: 30.2, y: -10.9), (x: 30.7, y: -10.9), (x: 30.2, y: -10.5), (x: 30.2, y: -10.9)
        ]]);
        let cov = coverage(&grid_4x3(), &p).unwrap();
        assert!(close(cov.fraction(0, 0), 0.1), "{}", cov.fraction(0, 0));
    }

    #[test]
    fn a_polygon_crossing_the_grid_edge_counts_only_the_cells_inside_the_grid() {
        // From 28.5°E to 30.5°E, 10.25°S to 10.75°S: only [30, 30.5] lies in the grid,
        // half the width × half the height of cell (0, 0) = 0.25. Also crosses north edge.
        let p = MultiPolygon(vec![square(28.5, -10.75, 30.5, -9.0)]);
        let cov = coverage(&grid_4x3(), &p).unwrap();
        // Inside the grid: lon 30..30.5, lat -10.75..-10 => 0.5 × 0.75.
        assert!(close(cov.fraction(0, 0), 0.375), "{}", cov.fraction(0, 0));
        assert!(close(cov.total(), 0.375));
        // A box reaching past the east edge: lon 33.5..36, lat -13..-12.5 => cell (2, 3)
        // half wide, half high = 0.25.
        let p = MultiPolygon(vec![square(33.5, -13.0, 36.0, -12.5)]);
        let cov = coverage(&grid_4x3(), &p).unwrap();
        assert!(close(cov.fraction(2, 3), 0.25), "{}", cov.fraction(2, 3));
        assert!(close(cov.total(), 0.25));
        // Wholly outside: no coverage at all.
        let p = MultiPolygon(vec![square(40.0, -13.0, 41.0, -12.5)]);
        assert!(coverage(&grid_4x3(), &p).is_none());
    }

    #[test]
    fn a_hole_takes_its_area_out_of_the_cells_it_lies_in() {
        // The whole grid, less a 0.5° × 0.5° hole centred on the corner shared by cells
        // (0,0), (0,1), (1,0), (1,1): each loses a quarter of 0.25 = 0.0625.
        let outer = LineString::from(vec![
            (30.0, -13.0),
            (34.0, -13.0),
            (34.0, -10.0),
            (30.0, -10.0),
            (30.0, -13.0),
        ]);
        // Holes drawn clockwise, as GeoJSON wants; orientation must not matter.
        let hole = LineString::from(vec![
            (30.75, -11.25),
            (30.75, -10.75),
            (31.25, -10.75),
            (31.25, -11.25),
            (30.75, -11.25),
        ]);
        let p = MultiPolygon(vec![Polygon::new(outer, vec![hole])]);
        let cov = coverage(&grid_4x3(), &p).unwrap();
        for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            assert!(
                close(cov.fraction(r, c), 0.9375),
                "({r},{c}) {}",
                cov.fraction(r, c)
            );
        }
        assert!(close(cov.fraction(2, 3), 1.0));
        assert!(close(cov.total(), 12.0 - 0.25));
    }

    #[test]
    fn ring_orientation_does_not_change_the_fractions() {
        let ccw = square(30.3, -12.4, 32.6, -10.2);
        let cw = Polygon::new(
            LineString::from(ccw.exterior().0.iter().rev().copied().collect::<Vec<_>>()),
            vec![],
        );
        let a = coverage(&grid_4x3(), &MultiPolygon(vec![ccw])).unwrap();
        let b = coverage(&grid_4x3(), &MultiPolygon(vec![cw])).unwrap();
        assert_eq!(a.window, b.window);
        for (x, y) in a.fractions.iter().zip(&b.fractions) {
            assert!(close(*x, *y));
        }
        // 2.3° × 2.2° = 5.06 cells.
        assert!(close(a.total(), 5.06), "{}", a.total());
        // Cell (0, 0): lon 30.3..31, lat -11..-10.2 => 0.7 × 0.8.
        assert!(close(a.fraction(0, 0), 0.56));
        // Cell (2, 2): lon 32..32.6, lat -12.4..-12 => 0.6 × 0.4.
        assert!(close(a.fraction(2, 2), 0.24));
    }

    #[test]
    fn a_multipolygon_adds_its_parts() {
        // Two boxes in different cells and a diamond straddling four cells.
        let diamond = polygon![
            (x: 33.0, y: -11.5), (x: 33.5, y: -12.0), (x: 33.0, y: -12.5), (x: 32.5, y: -12.0),
            (x: 33.0, y: -11.5)
        ];
        let p = MultiPolygon(vec![
            square(30.0, -11.0, 30.5, -10.0), // half of (0, 0)
            square(31.1, -12.9, 31.3, -12.1), // 0.2 × 0.8 = 0.16 of (2, 1)
            diamond, // area 0.5, a quarter (0.125) in each of (1,2), (1,3), (2,2), (2,3)
        ]);
        let cov = coverage(&grid_4x3(), &p).unwrap();
        assert!(close(cov.fraction(0, 0), 0.5));
        assert!(close(cov.fraction(2, 1), 0.16));
        for (r, c) in [(1, 2), (1, 3), (2, 2), (2, 3)] {
            assert!(
                close(cov.fraction(r, c), 0.125),
                "({r},{c}) {}",
                cov.fraction(r, c)
            );
        }
        assert!(close(cov.total(), 0.5 + 0.16 + 0.5));
        assert_eq!(cov.covered_cells(), 6);
    }

    #[test]
    fn a_one_cell_raster_gives_the_polygons_share_of_that_cell() {
        // One 0.5° cell from 35°E 20°S; a triangle cutting it along its diagonal plus a
        // part outside: the cell's lower-right half (0.5) is covered.
        let grid = GridSpec {
            west_deg: 35.0,
            north_deg: -20.0,
            cell_width_deg: 0.5,
            cell_height_deg: 0.5,
            width: 1,
            height: 1,
        };
        let p = MultiPolygon(vec![polygon![
            (x: 34.5, y: -21.0), (x: 36.0, y: -21.0), (x: 36.0, y: -19.5), (x: 34.5, y: -21.0)
        ]]);
        let cov = coverage(&grid, &p).unwrap();
        assert_eq!(cov.fractions.len(), 1);
        assert!(close(cov.fraction(0, 0), 0.5), "{}", cov.fraction(0, 0));
        let z = zonal_sum(&cov, &[1000.0], None).unwrap();
        assert!(close(z.sum, 500.0));
        assert_eq!(z.covered_cells, 1);
    }

    #[test]
    fn a_long_sloping_edge_splits_cells_exactly() {
        // The triangle (30,-10), (34,-13), (30,-13): below the diagonal u = 4/3 v.
        // Total area 6 cells; cell (0,0): the diagonal passes u from 0 to 0.75 in row 0,
        // covered = area left of u = 4v/3 within the unit square = 1 − 0.75/2 = 0.625.
        let p = MultiPolygon(vec![polygon![
            (x: 30.0, y: -10.0), (x: 30.0, y: -13.0), (x: 34.0, y: -13.0), (x: 30.0, y: -10.0)
        ]]);
        let cov = coverage(&grid_4x3(), &p).unwrap();
        assert!(close(cov.total(), 6.0), "{}", cov.total());
        assert!(close(cov.fraction(0, 0), 0.625), "{}", cov.fraction(0, 0));
        // Cell (0, 1): covered where 1 ≤ u ≤ 4v/3, i.e. v in [0.75, 1]:
        // ∫ (4v/3 − 1) dv = (4/3)(1 − 0.5625)/2 − 0.25 = 1/24.
        assert!(
            close(cov.fraction(0, 1), 1.0 / 24.0),
            "{}",
            cov.fraction(0, 1)
        );
        // Cell (2, 3): u from 2.667 to 4 in row 2, covered in column 3 between u=3 at
        // v=2.25 and u=4 at v=3: triangle 1 × 0.75 / 2 = 0.375.
        assert!(close(cov.fraction(2, 3), 0.375), "{}", cov.fraction(2, 3));
    }
}
