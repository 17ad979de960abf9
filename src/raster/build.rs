//! A dasymetric population grid from district totals and settlement points, for users
//! without a WorldPop/GHSL file (`aviso layers build-population`). Pure computation: the
//! caller reads the inputs and writes the grid; no I/O, no GDAL.
//!
//! # Method
//!
//! 1. Each point is assigned to the district containing it (point-in-polygon, never the
//!    point's own admin codes).
//! 2. A district with population `P` and `k > 0` points puts `P / k` in the cell of each
//!    point. Points carry no size, so a town and a hamlet weigh the same: the grid knows
//!    *where* people live within a district, not how many live in each place.
//! 3. A district with no points spreads `P` uniformly over its true area: each cell gets
//!    `P × w / Σw` with `w = coverage fraction × cos(latitude of the cell centre)` (a
//!    lon/lat cell's area on the sphere is proportional to the cosine of its latitude).
//! 4. Cells touched by no district are nodata; cells inside the districts but with no
//!    people are 0. A district with no population figure adds nothing (reported).
//!
//! The grid total equals Σ P over districts with a figure (up to rounding): nothing is
//! lost at district borders, because each person goes to exactly one cell.

use geo::{MultiPolygon, Point};

use super::coverage::{GridSpec, coverage};
use crate::spatial::AreaIndex;

/// A district for the dasymetric grid: its id, outline and population (if known).
#[derive(Debug, Clone)]
pub struct DistrictTotal {
    pub id: String,
    pub polygons: MultiPolygon<f64>,
    pub population: Option<f64>,
}

/// What was done, for the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildReport {
    /// Districts whose population went to their points.
    pub by_points: usize,
    /// Districts with no points, spread over their area.
    pub by_area: Vec<String>,
    /// Districts with no population figure (nothing added).
    pub without_population: Vec<String>,
    /// Points outside every district (ignored).
    pub points_outside: usize,
    /// Σ population written to the grid.
    pub total: f64,
}

/// The grid covering `districts`' bounding box, snapped outward to whole cells of
/// `resolution_arcsec` (cells aligned on multiples of the cell size, as WorldPop's are).
pub fn grid_for(districts: &[DistrictTotal], resolution_arcsec: f64) -> Option<GridSpec> {
    use geo::BoundingRect;
    if !(resolution_arcsec.is_finite() && resolution_arcsec > 0.0) {
        return None;
    }
    let cell = resolution_arcsec / 3600.0;
    let mut bbox: Option<geo::Rect<f64>> = None;
    for d in districts {
        if let Some(r) = d.polygons.bounding_rect() {
            bbox = Some(match bbox {
                None => r,
                Some(b) => geo::Rect::new(
                    geo::coord! { x: b.min().x.min(r.min().x), y: b.min().y.min(r.min().y) },
                    geo::coord! { x: b.max().x.max(r.max().x), y: b.max().y.max(r.max().y) },
                ),
            });
        }
    }
    let b = bbox?;
    let west = (b.min().x / cell).floor() * cell;
    let east = (b.max().x / cell).ceil() * cell;
    let south = (b.min().y / cell).floor() * cell;
    let north = (b.max().y / cell).ceil() * cell;
    Some(GridSpec {
        west_deg: west,
        north_deg: north,
        cell_width_deg: cell,
        cell_height_deg: cell,
        width: ((east - west) / cell).round().max(1.0) as usize,
        height: ((north - south) / cell).round().max(1.0) as usize,
    })
}

/// Builds the grid's values, row-major, `NaN` for nodata (cells in no district).
pub fn dasymetric(
    grid: &GridSpec,
    districts: &[DistrictTotal],
    points: &[Point<f64>],
) -> (Vec<f64>, BuildReport) {
    let mut values = vec![f64::NAN; grid.width * grid.height];
    let mut report = BuildReport::default();
    let index = AreaIndex::new(
        &districts
            .iter()
            .map(|d| d.polygons.clone())
            .collect::<Vec<_>>(),
    );
    let mut points_of: Vec<Vec<usize>> = vec![Vec::new(); districts.len()];
    for p in points {
        let Some(cell) = cell_of(grid, *p) else {
            report.points_outside += 1;
            continue;
        };
        match index.locate(*p) {
            Some(i) => {
                if let Some(list) = points_of.get_mut(i) {
                    list.push(cell);
                }
            }
            None => report.points_outside += 1,
        }
    }
    for (d, cells) in districts.iter().zip(&points_of) {
        let Some(cov) = coverage(grid, &d.polygons) else {
            continue;
        };
        let w = cov.window;
        // Inside a district: 0, not nodata.
        for r in 0..w.rows {
            for c in 0..w.cols {
                let covered = cov.fractions.get(r * w.cols + c).is_some_and(|f| *f > 0.0);
                if let Some(v) = values.get_mut((w.row0 + r) * grid.width + w.col0 + c)
                    && covered
                    && v.is_nan()
                {
                    *v = 0.0;
                }
            }
        }
        let Some(population) = d.population else {
            report.without_population.push(d.id.clone());
            continue;
        };
        if !cells.is_empty() {
            let share = population / cells.len() as f64;
            for cell in cells {
                if let Some(v) = values.get_mut(*cell) {
                    *v = if v.is_nan() { share } else { *v + share };
                }
            }
            report.by_points += 1;
        } else {
            let weight = |r: usize, f: f64| {
                let lat = grid.north_deg
                    - (w.row0 + r) as f64 * grid.cell_height_deg
                    - 0.5 * grid.cell_height_deg;
                f * lat.to_radians().cos()
            };
            let mut total_weight = 0.0;
            for r in 0..w.rows {
                for c in 0..w.cols {
                    total_weight +=
                        weight(r, cov.fractions.get(r * w.cols + c).copied().unwrap_or(0.0));
                }
            }
            if total_weight > 0.0 {
                for r in 0..w.rows {
                    for c in 0..w.cols {
                        let f = cov.fractions.get(r * w.cols + c).copied().unwrap_or(0.0);
                        if f <= 0.0 {
                            continue;
                        }
                        if let Some(v) = values.get_mut((w.row0 + r) * grid.width + w.col0 + c) {
                            *v += population * weight(r, f) / total_weight;
                        }
                    }
                }
            }
            report.by_area.push(d.id.clone());
        }
    }
    report.total = values.iter().filter(|v| !v.is_nan()).sum();
    (values, report)
}

/// The row-major index of the cell holding `p`, or `None` outside the grid. A point on a
/// cell edge goes to the cell east/south of it.
fn cell_of(grid: &GridSpec, p: Point<f64>) -> Option<usize> {
    let u = ((p.x() - grid.west_deg) / grid.cell_width_deg).floor();
    let v = ((grid.north_deg - p.y()) / grid.cell_height_deg).floor();
    if u < 0.0 || v < 0.0 || u >= grid.width as f64 || v >= grid.height as f64 {
        return None;
    }
    Some(v as usize * grid.width + u as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{point, polygon};

    /// Two districts side by side: A = 30..31°E, B = 31..32°E, both 10..11°S.
    fn two_districts(pop_b: Option<f64>) -> Vec<DistrictTotal> {
        let sq = |x0: f64| {
            MultiPolygon(vec![polygon![
                (x: x0, y: -11.0), (x: x0 + 1.0, y: -11.0), (x: x0 + 1.0, y: -10.0),
                (x: x0, y: -10.0), (x: x0, y: -11.0)
            ]])
        };
        vec![
            DistrictTotal {
                id: "A".into(),
                polygons: sq(30.0),
                population: Some(1000.0),
            },
            DistrictTotal {
                id: "B".into(),
                polygons: sq(31.0),
                population: pop_b,
            },
        ]
    }

    #[test]
    fn the_grid_is_snapped_outward_to_whole_cells() {
        // 1800″ = 0.5° cells over 30..32°E, 11..10°S: 4 × 2 cells.
        let g = grid_for(&two_districts(None), 1800.0).unwrap();
        assert_eq!((g.width, g.height), (4, 2));
        assert_eq!((g.west_deg, g.north_deg), (30.0, -10.0));
        assert!(grid_for(&two_districts(None), 0.0).is_none());
    }

    #[test]
    fn district_totals_go_to_their_points_in_equal_shares() {
        let districts = two_districts(None);
        let grid = grid_for(&districts, 1800.0).unwrap();
        // Three points in A: two in the NW cell (30..30.5, -10..-10.5), one in the SE cell
        // of A (30.5..31, -10.5..-11); one point far away.
        let pts = [
            point!(x: 30.1, y: -10.1),
            point!(x: 30.2, y: -10.4),
            point!(x: 30.7, y: -10.8),
            point!(x: 50.0, y: -10.0),
        ];
        let (v, report) = dasymetric(&grid, &districts, &pts);
        // Row 0: cells 0..4; row 1: 4..8. A's NW cell = 0, A's SE cell = 5.
        assert!((v[0] - 2000.0 / 3.0).abs() < 1e-9);
        assert!((v[5] - 1000.0 / 3.0).abs() < 1e-9);
        assert_eq!((v[1], v[4]), (0.0, 0.0));
        // B has no figure: its cells are inside a district, so 0, not nodata.
        assert_eq!((v[2], v[3], v[6], v[7]), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(report.without_population, vec!["B".to_string()]);
        assert_eq!(report.points_outside, 1);
        assert!((report.total - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn a_district_without_points_is_spread_by_true_area() {
        // B (no points) holds 600 people over its 4 cells: the southern row (centre
        // 10.75°S) has cos(10.75°)/cos(10.25°) of the northern row's area.
        let districts = two_districts(Some(600.0));
        let grid = grid_for(&districts, 1800.0).unwrap();
        let (v, report) = dasymetric(&grid, &districts, &[point!(x: 30.1, y: -10.1)]);
        let (n, s) = (10.25_f64.to_radians().cos(), 10.75_f64.to_radians().cos());
        let north = 600.0 * n / (2.0 * n + 2.0 * s);
        let south = 600.0 * s / (2.0 * n + 2.0 * s);
        assert!((v[2] - north).abs() < 1e-9 && (v[3] - north).abs() < 1e-9);
        assert!((v[6] - south).abs() < 1e-9 && (v[7] - south).abs() < 1e-9);
        assert_eq!(report.by_area, vec!["B".to_string()]);
        assert!((report.total - 1600.0).abs() < 1e-9);
    }
}
