//! Probability contours: P(wind ≥ threshold within a window) counted on a regular lon/lat
//! grid over the realisations' footprints, then traced into nested polygons (P ≥ 10, 30,
//! 50, 70, 90 %) by georust's `contour` crate (marching squares with linear interpolation,
//! a port of d3-contour). EPSG:4326, x = longitude.
//!
//! Pure computation; must not depend on I/O, feeds or exposure.

use contour::ContourBuilder;
use geo::MultiPolygon;
use rayon::prelude::*;
use serde::{Serialize, Serializer};

use crate::domain::METRES_PER_NM;

use super::Realisation;
use super::arrival::{self, Scratch};
use super::probability::{KM_PER_DEG, per_thread};
use super::targets::ProbabilityTargets;

/// The probability levels traced, as issue 12 asks (10, 30, 50, 70 and 90 %); the same
/// ladder as NHC's wind speed probability graphics' main steps.
pub const CONTOUR_LEVELS: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

/// Most grid points a contour grid may have; a wider footprint gets a coarser grid
/// (memory and time stay bounded: 4 bytes × thresholds × windows per point).
const MAX_GRID_POINTS: usize = 250_000;

/// Margin (degrees) around the footprints so every contour closes inside the grid.
const MARGIN_DEG: f64 = 0.5;

/// One probability contour: the area where P(≥ `threshold_kt` within 0–`window_h` h) ≥
/// `probability`. Contours of one threshold and window nest: a higher probability's area
/// lies inside a lower one's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbabilityContour {
    /// 10-minute wind threshold, kt.
    pub threshold_kt: f64,
    pub window_h: f64,
    /// Probability level, 0–1.
    pub probability: f64,
    /// EPSG:4326 lon/lat; serialised as a GeoJSON geometry.
    #[serde(serialize_with = "as_geojson")]
    pub geometry: MultiPolygon<f64>,
}

fn as_geojson<S: Serializer>(mp: &MultiPolygon<f64>, s: S) -> Result<S::Ok, S::Error> {
    geojson::Geometry::new(geojson::GeometryValue::from(mp)).serialize(s)
}

/// The regular grid P is counted on: point (i, j) at (lon0 + i·step, lat0 + j·step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContourGrid {
    pub lon0: f64,
    pub lat0: f64,
    pub step_deg: f64,
    pub nx: usize,
    pub ny: usize,
}

impl ContourGrid {
    /// A grid of `spacing_deg` (coarsened to stay under `MAX_GRID_POINTS`) covering every
    /// realisation's footprint: its centres ± its largest radius, plus a margin.
    pub fn over(realisations: &[Realisation], spacing_deg: f64) -> Option<ContourGrid> {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        let mut reach_km = 0f64;
        for r in realisations {
            for s in 0..r.steps() {
                let Some(c) = r.centre.get(s) else { continue };
                let k_max = (0..r.thresholds())
                    .filter_map(|k| r.radii_nm(s, k))
                    .flat_map(|q| q.into_iter())
                    .fold(0f32, f32::max);
                if k_max <= 0.0 {
                    continue;
                }
                reach_km = reach_km.max(f64::from(k_max) * METRES_PER_NM / 1000.0);
                x0 = x0.min(c.x());
                x1 = x1.max(c.x());
                y0 = y0.min(c.y());
                y1 = y1.max(c.y());
            }
        }
        if x0 > x1 || spacing_deg.is_nan() || spacing_deg <= 0.0 {
            return None;
        }
        let dlat = reach_km / KM_PER_DEG + MARGIN_DEG;
        let cos = y0.abs().max(y1.abs()).min(80.0).to_radians().cos();
        let dlon = reach_km / (KM_PER_DEG * cos) + MARGIN_DEG;
        let (x0, x1, y0, y1) = (x0 - dlon, x1 + dlon, y0 - dlat, y1 + dlat);
        let mut step = spacing_deg;
        // ok: a few thousand points a side at most, by the cap below.
        let size = |step: f64| {
            (
                ((x1 - x0) / step).ceil() as usize + 1,
                ((y1 - y0) / step).ceil() as usize + 1,
            )
        };
        loop {
            let (nx, ny) = size(step);
            if nx * ny <= MAX_GRID_POINTS {
                break;
            }
            step *= 2.0;
        }
        let lon0 = (x0 / step).floor() * step;
        let lat0 = (y0 / step).floor() * step;
        let (nx, ny) = size(step);
        Some(ContourGrid {
            lon0,
            lat0,
            step_deg: step,
            nx,
            ny,
        })
    }

    fn points(&self) -> Vec<(f64, f64)> {
        let mut v = Vec::with_capacity(self.nx * self.ny);
        for j in 0..self.ny {
            for i in 0..self.nx {
                v.push((
                    self.lon0 + i as f64 * self.step_deg,
                    self.lat0 + j as f64 * self.step_deg,
                ));
            }
        }
        v
    }
}

/// P per grid point: `[(k · W + w) · points + point]`, points row by row from the south-west.
/// f64 from the counts, so a share of exactly 700/1000 is the same number as the level 0.7.
pub fn grid_probabilities(
    realisations: &[Realisation],
    grid: &ContourGrid,
    kn: usize,
    windows_h: &[f64],
) -> Vec<f64> {
    let pts = grid.points();
    let n = pts.len();
    let wn = windows_h.len();
    let targets = ProbabilityTargets::from_points(&pts);
    // The index sorted the points by bucket: its point i is grid point `order[i]`.
    let order: Vec<usize> = (0..targets.len())
        .map(|i| targets.grid_index(i).unwrap_or(usize::MAX))
        .collect();
    let new_counts = || (Scratch::new(&targets, kn), vec![0u32; kn * wn * n]);
    let first_window_counts = per_thread(realisations, new_counts, |(sc, counts), _, r| {
        arrival::first_arrivals(r, &targets, kn, sc);
        for &p in &sc.touched {
            let p = p as usize;
            let g = order.get(p).copied().unwrap_or(usize::MAX);
            for k in 0..kn {
                let Some(slot) = sc.arrival.get_mut(p * kn + k) else {
                    continue;
                };
                let a = f64::from(*slot);
                *slot = f32::INFINITY;
                if let Some(w) = windows_h.iter().position(|&wh| a <= wh)
                    && let Some(c) = counts.get_mut((k * wn + w) * n + g)
                {
                    *c += 1;
                }
            }
        }
        sc.touched.clear();
    })
    .into_iter()
    .map(|(_, counts)| counts)
    .reduce(|mut a, b| {
        for (x, y) in a.iter_mut().zip(&b) {
            *x += *y;
        }
        a
    })
    .unwrap_or_else(|| vec![0u32; kn * wn * n]);
    let total = realisations.len().max(1) as f64;
    let mut p = vec![0f64; kn * wn * n];
    for k in 0..kn {
        for g in 0..n {
            let mut cum = 0u32;
            for w in 0..wn {
                let i = (k * wn + w) * n + g;
                cum += first_window_counts.get(i).copied().unwrap_or(0);
                if let Some(v) = p.get_mut(i) {
                    *v = f64::from(cum) / total;
                }
            }
        }
    }
    p
}

/// Contours at [`CONTOUR_LEVELS`] for every threshold and window (empty levels left out).
pub fn probability_contours(
    realisations: &[Realisation],
    thresholds_kt: &[f64],
    windows_h: &[f64],
    spacing_deg: f64,
) -> Vec<ProbabilityContour> {
    let Some(grid) = ContourGrid::over(realisations, spacing_deg) else {
        return Vec::new();
    };
    let (kn, wn) = (thresholds_kt.len(), windows_h.len());
    let p = grid_probabilities(realisations, &grid, kn, windows_h);
    let n = grid.nx * grid.ny;
    // Value i sits at the centre of cell i in the crate's grid coordinates (i + 0.5).
    let builder = ContourBuilder::new(grid.nx, grid.ny, true)
        .x_origin(grid.lon0 - 0.5 * grid.step_deg)
        .y_origin(grid.lat0 - 0.5 * grid.step_deg)
        .x_step(grid.step_deg)
        .y_step(grid.step_deg);
    // Each threshold and window is traced on its own (in parallel), then listed in
    // threshold-then-window order.
    let traced: Vec<Vec<ProbabilityContour>> = (0..kn * wn)
        .into_par_iter()
        .map(|kw| {
            let (k, w) = (kw / wn.max(1), kw % wn.max(1));
            let (Some(&threshold_kt), Some(&window_h)) = (thresholds_kt.get(k), windows_h.get(w))
            else {
                return Vec::new();
            };
            let Some(values) = p.get(kw * n..(kw + 1) * n) else {
                return Vec::new();
            };
            let Ok(contours) = builder.contours(values, &CONTOUR_LEVELS) else {
                return Vec::new();
            };
            contours
                .into_iter()
                .filter_map(|c| {
                    let probability = c.threshold();
                    let geometry = c.into_inner().0;
                    (!geometry.0.is_empty()).then_some(ProbabilityContour {
                        threshold_kt,
                        window_h,
                        probability,
                        geometry,
                    })
                })
                .collect()
        })
        .collect();
    let out: Vec<ProbabilityContour> = traced.into_iter().flatten().collect();
    out
}
