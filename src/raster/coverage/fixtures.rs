//! Fixtures shared by the coverage unit tests: a small grid, boxes, a tolerance.

use geo::{Polygon, polygon};

use super::GridSpec;

/// A 4 × 3 grid of 1° cells from 30°E 10°S: columns 30..34°E, rows 10..13°S.
pub(super) fn grid_4x3() -> GridSpec {
    GridSpec {
        west_deg: 30.0,
        north_deg: -10.0,
        cell_width_deg: 1.0,
        cell_height_deg: 1.0,
        width: 4,
        height: 3,
    }
}

pub(super) fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    polygon![(x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)]
}

pub(super) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}
