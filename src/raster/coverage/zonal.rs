//! Zonal sums: Σ value × coverage fraction over a window of raster values, with nodata
//! cells skipped and counted.

use super::Coverage;

/// The zonal sum of a window of values under a coverage.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ZonalSum {
    /// Σ value × fraction over cells with a valid value.
    pub sum: f64,
    /// Cells with fraction > 0 and a valid value.
    pub covered_cells: usize,
    /// Σ fraction over cells with a valid value (exactextract's `count`).
    pub covered_fraction: f64,
    /// Cells with fraction > 0 whose value was nodata (or not finite).
    pub nodata_cells: usize,
}

/// Σ value × fraction. `values` holds the coverage's window row-major (as read from the
/// raster); a cell equal to `nodata`, or NaN/infinite, is skipped and counted in
/// `nodata_cells`. Returns `None` if `values` does not have one value per window cell.
pub fn zonal_sum(coverage: &Coverage, values: &[f64], nodata: Option<f64>) -> Option<ZonalSum> {
    if values.len() != coverage.fractions.len() {
        return None;
    }
    let mut out = ZonalSum::default();
    for (f, v) in coverage.fractions.iter().zip(values) {
        if *f <= 0.0 {
            continue;
        }
        if !v.is_finite() || nodata.is_some_and(|nd| *v == nd) {
            out.nodata_cells += 1;
            continue;
        }
        out.sum += v * f;
        out.covered_cells += 1;
        out.covered_fraction += f;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::coverage::coverage;
    use crate::raster::coverage::fixtures::{close, grid_4x3, square};
    use geo::MultiPolygon;

    #[test]
    fn nodata_holes_are_skipped_and_counted() {
        let p = MultiPolygon(vec![square(30.5, -11.0, 32.0, -10.0)]);
        let cov = coverage(&grid_4x3(), &p).unwrap();
        // Window is row 0, columns 0..2: fractions 0.5 and 1.
        assert_eq!(cov.window.cols, 2);
        let z = zonal_sum(&cov, &[-9999.0, 40.0], Some(-9999.0)).unwrap();
        assert!(close(z.sum, 40.0));
        assert_eq!((z.covered_cells, z.nodata_cells), (1, 1));
        let z = zonal_sum(&cov, &[100.0, f64::NAN], None).unwrap();
        assert!(close(z.sum, 50.0));
        assert!(close(z.covered_fraction, 0.5));
        assert!(zonal_sum(&cov, &[1.0], None).is_none());
    }
}
