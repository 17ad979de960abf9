//! Targets of the probabilistic count, built once per layer set: every point feature, the
//! sample points standing for each district's area (a grid inside and thinned ring
//! vertices), a bucket index over them, and the district/province bookkeeping.
//!
//! Pure computation on `crate::domain` layers; must not depend on I/O, feeds or exposure.

use std::collections::HashMap;

use crate::domain::{Layers, PointKind};

use super::land::row_crossings;
use super::probability::KM_PER_DEG;

pub(super) const NONE: u32 = u32::MAX;
/// Side of the buckets of the point index, degrees (≈ 28 km).
const BUCKET_DEG: f64 = 0.25;

/// What a test point stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// Feature `feature` of point layer `layer`.
    Feature { layer: u32, feature: u32 },
    /// A grid sample inside a district (counts towards its area share).
    Interior,
    /// A thinned ring vertex of a district.
    Boundary,
}

#[derive(Debug, Clone)]
pub(super) struct AreaMeta {
    pub(super) pcode: String,
    pub(super) name: String,
    pub(super) parent_pcode: Option<String>,
    pub(super) parent_name: Option<String>,
    pub(super) population: Option<f64>,
    pub(super) weighting_points: u32,
    pub(super) interior_points: u32,
    pub(super) boundary_points: u32,
}

/// Test points and district/province bookkeeping, built once per layer set.
pub struct ProbabilityTargets {
    pub(super) lon: Vec<f64>,
    pub(super) lat: Vec<f64>,
    /// ½ cos(lat) × km per degree, the point's half of the mean-latitude lon scale.
    pub(super) half_kx: Vec<f64>,
    pub(super) owner: Vec<Owner>,
    pub(super) district: Vec<u32>,
    pub(super) weighting: Vec<bool>,
    /// Bucket index: points sorted by (row, column); `start[row * nx + col]` opens a bucket.
    pub(super) start: Vec<u32>,
    /// Per bucket, the extremes of its points: lon min/max, lat min/max and `half_kx`
    /// min/max (all NaN for an empty bucket). The footprint test's dx and dy are monotone
    /// in each, so its values at these corners bound those of every point in the bucket
    /// exactly, rounding included (IEEE operations are monotone): see `arrival`.
    pub(super) bucket_box: Vec<BucketBox>,
    /// Indices of the buckets holding points, ascending (most of a footprint is sea).
    occupied: Vec<u32>,
    /// Smallest and largest longitude of any point.
    lon_range: (f64, f64),
    pub(super) lon0: f64,
    pub(super) lat0: f64,
    pub(super) nx: usize,
    pub(super) ny: usize,
    pub(super) districts: Vec<AreaMeta>,
    /// District index → province index.
    pub(super) district_province: Vec<u32>,
    pub(super) provinces: Vec<AreaMeta>,
    /// Metadata of the feature points, by (layer, feature).
    pub(super) features: Vec<Vec<FeatureMeta>>,
}

/// Extremes of the points of one bucket (see [`ProbabilityTargets::bucket_box`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct BucketBox {
    pub(super) lon: [f64; 2],
    pub(super) lat: [f64; 2],
    pub(super) half_kx: [f64; 2],
}

impl BucketBox {
    const EMPTY: BucketBox = BucketBox {
        lon: [f64::INFINITY, f64::NEG_INFINITY],
        lat: [f64::INFINITY, f64::NEG_INFINITY],
        half_kx: [f64::INFINITY, f64::NEG_INFINITY],
    };
    fn add(&mut self, lon: f64, lat: f64, half_kx: f64) {
        for (r, v) in [
            (&mut self.lon, lon),
            (&mut self.lat, lat),
            (&mut self.half_kx, half_kx),
        ] {
            r[0] = r[0].min(v);
            r[1] = r[1].max(v);
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct FeatureMeta {
    pub(super) layer: String,
    pub(super) kind: PointKind,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) lon: f64,
    pub(super) lat: f64,
    pub(super) district_pcode: Option<String>,
}

impl ProbabilityTargets {
    /// `weighting_layer` as `[exposure] weighting_layer` ("" = the first settlement layer).
    pub fn new(layers: &Layers, weighting_layer: &str, sample_spacing_deg: f64) -> Self {
        let d_index: HashMap<&str, u32> = layers
            .districts
            .iter()
            .enumerate()
            .map(|(i, d)| (d.pcode.as_str(), i as u32))
            .collect();
        let weighting = layers.points.iter().position(|l| {
            if weighting_layer.is_empty() {
                l.kind == PointKind::Settlement
            } else {
                l.info.name == weighting_layer
            }
        });
        let mut pts: Vec<(f64, f64, Owner, u32, bool)> = Vec::new();
        let mut features = Vec::new();
        for (li, l) in layers.points.iter().enumerate() {
            let mut metas = Vec::with_capacity(l.features.len());
            for (fi, f) in l.features.iter().enumerate() {
                let d = f
                    .district_pcode
                    .as_deref()
                    .and_then(|p| d_index.get(p).copied())
                    .unwrap_or(NONE);
                pts.push((
                    f.location.x(),
                    f.location.y(),
                    Owner::Feature {
                        layer: li as u32,
                        feature: fi as u32,
                    },
                    d,
                    Some(li) == weighting,
                ));
                metas.push(FeatureMeta {
                    layer: l.info.name.clone(),
                    kind: l.kind,
                    id: f.id.clone(),
                    name: f.name.clone(),
                    lon: f.location.x(),
                    lat: f.location.y(),
                    district_pcode: f.district_pcode.clone(),
                });
            }
            features.push(metas);
        }
        let s = sample_spacing_deg;
        let mut xs = Vec::new();
        for (di, d) in layers.districts.iter().enumerate() {
            let di = di as u32;
            let Some(r) = geo::BoundingRect::bounding_rect(&d.geometry) else {
                continue;
            };
            // Grid rows on a global lattice (centres at (k + 0.5)·s), so neighbouring
            // districts share one grid.
            let mut lat = ((r.min().y / s).floor() + 0.5) * s;
            while lat < r.max().y {
                row_crossings(&d.geometry, lat, &mut xs);
                for pair in xs.chunks_exact(2) {
                    let mut lon = ((pair[0] / s - 0.5).ceil() + 0.5) * s;
                    while lon <= pair[1] {
                        pts.push((lon, lat, Owner::Interior, di, false));
                        lon += s;
                    }
                }
                lat += s;
            }
            for poly in &d.geometry.0 {
                let mut last: Option<geo::Coord<f64>> = None;
                for c in poly.exterior().coords() {
                    if last.is_none_or(|l| (l.x - c.x).abs().max((l.y - c.y).abs()) >= s) {
                        pts.push((c.x, c.y, Owner::Boundary, di, false));
                        last = Some(*c);
                    }
                }
            }
        }
        let districts: Vec<AreaMeta> = layers
            .districts
            .iter()
            .map(|d| AreaMeta {
                pcode: d.pcode.clone(),
                name: d.name.clone(),
                parent_pcode: d.parent_pcode.clone(),
                parent_name: d.parent_name.clone(),
                population: d.population,
                weighting_points: 0,
                interior_points: 0,
                boundary_points: 0,
            })
            .collect();
        let p_index: HashMap<&str, u32> = layers
            .provinces
            .iter()
            .enumerate()
            .map(|(i, p)| (p.pcode.as_str(), i as u32))
            .collect();
        let district_province = districts
            .iter()
            .map(|d| {
                d.parent_pcode
                    .as_deref()
                    .and_then(|p| p_index.get(p).copied())
                    .unwrap_or(NONE)
            })
            .collect();
        let provinces = layers
            .provinces
            .iter()
            .map(|p| AreaMeta {
                pcode: p.pcode.clone(),
                name: p.name.clone(),
                parent_pcode: None,
                parent_name: None,
                population: p.population,
                weighting_points: 0,
                interior_points: 0,
                boundary_points: 0,
            })
            .collect();
        Self::assemble(pts, districts, district_province, provinces, features)
    }

    /// Bare grid points (no district, province or layer): `Owner::Feature { layer: 0,
    /// feature: i }` is `points[i]`. For tracing probability contours.
    pub(super) fn from_points(points: &[(f64, f64)]) -> Self {
        let pts = points
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| {
                let owner = Owner::Feature {
                    layer: 0,
                    feature: i as u32,
                };
                (x, y, owner, NONE, false)
            })
            .collect();
        Self::assemble(pts, Vec::new(), Vec::new(), Vec::new(), Vec::new())
    }

    /// The bucket index over `pts` and the district sample counts.
    fn assemble(
        mut pts: Vec<(f64, f64, Owner, u32, bool)>,
        mut districts: Vec<AreaMeta>,
        district_province: Vec<u32>,
        provinces: Vec<AreaMeta>,
        features: Vec<Vec<FeatureMeta>>,
    ) -> Self {
        let (lon0, lat0, nx, ny) = bucket_grid(&pts);
        let bucket = |x: f64, y: f64| -> usize {
            let ix = (((x - lon0) / BUCKET_DEG) as usize).min(nx - 1);
            let iy = (((y - lat0) / BUCKET_DEG) as usize).min(ny - 1);
            iy * nx + ix
        };
        pts.sort_by_key(|p| bucket(p.0, p.1));
        let mut start = vec![0u32; nx * ny + 1];
        for p in &pts {
            if let Some(c) = start.get_mut(bucket(p.0, p.1) + 1) {
                *c += 1;
            }
        }
        for i in 1..start.len() {
            // ok: i ≥ 1 and < len.
            start[i] += start[i - 1];
        }
        for p in &pts {
            let Some(m) = districts.get_mut(p.3 as usize) else {
                continue;
            };
            match p.2 {
                Owner::Interior => m.interior_points += 1,
                Owner::Boundary => m.boundary_points += 1,
                Owner::Feature { .. } if p.4 => m.weighting_points += 1,
                Owner::Feature { .. } => {}
            }
        }
        let half_kx: Vec<f64> = pts
            .iter()
            .map(|p| 0.5 * p.1.to_radians().cos() * KM_PER_DEG)
            .collect();
        let mut bucket_box = vec![BucketBox::EMPTY; nx * ny];
        for (p, h) in pts.iter().zip(&half_kx) {
            if let Some(b) = bucket_box.get_mut(bucket(p.0, p.1)) {
                b.add(p.0, p.1, *h);
            }
        }
        let occupied = (0..nx * ny)
            .filter(|&b| start.get(b) != start.get(b + 1))
            .map(|b| b as u32)
            .collect();
        let lon_range = pts
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.0), hi.max(p.0))
            });
        ProbabilityTargets {
            occupied,
            lon_range,
            lon: pts.iter().map(|p| p.0).collect(),
            lat: pts.iter().map(|p| p.1).collect(),
            half_kx,
            bucket_box,
            owner: pts.iter().map(|p| p.2).collect(),
            district: pts.iter().map(|p| p.3).collect(),
            weighting: pts.iter().map(|p| p.4).collect(),
            start,
            lon0,
            lat0,
            nx,
            ny,
            districts,
            district_province,
            provinces,
            features,
        }
    }

    /// Number of test points (features and district samples).
    pub fn len(&self) -> usize {
        self.lon.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lon.is_empty()
    }

    /// For targets made by [`Self::from_points`]: the input index of point `i`.
    pub(super) fn grid_index(&self, i: usize) -> Option<usize> {
        match self.owner.get(i)? {
            Owner::Feature { feature, .. } => Some(*feature as usize),
            _ => None,
        }
    }

    /// The buckets holding points among `b0..b1`.
    pub(super) fn occupied(&self, b0: usize, b1: usize) -> impl Iterator<Item = u32> + '_ {
        let i0 = self.occupied.partition_point(|&b| (b as usize) < b0);
        let i1 = self.occupied.partition_point(|&b| (b as usize) < b1);
        self.occupied
            .get(i0..i1.max(i0))
            .into_iter()
            .flatten()
            .copied()
    }

    /// Smallest and largest longitude of any point (degrees).
    pub(super) fn lon_range(&self) -> (f64, f64) {
        self.lon_range
    }

    /// Point indices `start[b]..start[b + 1]` of bucket `b`.
    pub(super) fn bucket_points(&self, b: usize) -> Option<(usize, usize)> {
        let (a, e) = (*self.start.get(b)?, *self.start.get(b + 1)?);
        Some((a as usize, e as usize))
    }

    /// Ranges `b0..b1` of bucket indices that a disc of `reach_km` around (lon, lat) can
    /// touch: one contiguous range per bucket row, cut to the disc's chord over that row.
    /// The chord is widened with the smallest cos(lat) over the row and the centre, so it
    /// holds every point the footprint test (mean-latitude scale) can accept.
    pub(super) fn bucket_ranges(
        &self,
        lon: f64,
        lat: f64,
        reach_km: f64,
        out: &mut Vec<(usize, usize)>,
    ) {
        out.clear();
        if self.lon.is_empty() || self.nx == 0 || self.ny == 0 {
            return;
        }
        let dlat = reach_km / KM_PER_DEG;
        let row = |v: f64| ((v - self.lat0) / BUCKET_DEG).floor();
        let (fy0, fy1) = (row(lat - dlat).max(0.0), row(lat + dlat));
        if fy1 < 0.0 || fy0 >= self.ny as f64 {
            return;
        }
        // ok: both clamped to 0..ny above and below.
        let (iy0, iy1) = (fy0 as usize, (fy1 as usize).min(self.ny - 1));
        let cos_c = lat.to_radians().cos();
        for iy in iy0..=iy1 {
            let lo = self.lat0 + iy as f64 * BUCKET_DEG;
            let hi = lo + BUCKET_DEG;
            let dy_km = if lat < lo {
                lo - lat
            } else if lat > hi {
                lat - hi
            } else {
                0.0
            } * KM_PER_DEG;
            if dy_km > reach_km {
                continue;
            }
            let half_km = (reach_km * reach_km - dy_km * dy_km).sqrt();
            let cos_min = lo
                .to_radians()
                .cos()
                .min(hi.to_radians().cos())
                .min(cos_c)
                .max(0.05);
            let dlon = half_km / (KM_PER_DEG * cos_min);
            let col = |v: f64| ((v - self.lon0) / BUCKET_DEG).floor();
            let (fx0, fx1) = (col(lon - dlon).max(0.0), col(lon + dlon));
            if fx1 < 0.0 || fx0 >= self.nx as f64 {
                continue;
            }
            let (ix0, ix1) = (fx0 as usize, (fx1 as usize).min(self.nx - 1));
            if ix1 >= ix0 {
                out.push((iy * self.nx + ix0, iy * self.nx + ix1 + 1));
            }
        }
    }
}

/// Origin and size of the bucket grid covering all points.
fn bucket_grid(pts: &[(f64, f64, Owner, u32, bool)]) -> (f64, f64, usize, usize) {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in pts {
        x0 = x0.min(p.0);
        y0 = y0.min(p.1);
        x1 = x1.max(p.0);
        y1 = y1.max(p.1);
    }
    if pts.is_empty() {
        return (0.0, 0.0, 1, 1);
    }
    let lon0 = (x0 / BUCKET_DEG).floor() * BUCKET_DEG;
    let lat0 = (y0 / BUCKET_DEG).floor() * BUCKET_DEG;
    // ok: points are lon/lat, so at most 1440 × 720 buckets.
    let nx = ((x1 - lon0) / BUCKET_DEG).floor() as usize + 1;
    let ny = ((y1 - lat0) / BUCKET_DEG).floor() as usize + 1;
    (lon0, lat0, nx, ny)
}
