//! Counting exceedances: for any slice of realisations (perturbed tracks or ensemble
//! members), the share that bring wind ≥ each threshold to each point, district and
//! province within each cumulative window, and people at risk per realisation (mean and
//! 10/50/90 % quantiles).
//!
//! Pure computation on `crate::domain` layers prepared once; must not depend on I/O, feeds
//! or the deterministic exposure module (districts are represented by points, no polygon
//! overlays per realisation).
//!
//! Representation, fixed once per layer set ([`ProbabilityTargets::new`]):
//! - every feature of every point layer (settlements, sites, accommodation centres, health
//!   facilities, places) is a test point;
//! - each district also gets sample points: the centres of a `sample_spacing_deg` grid
//!   inside it, and its ring vertices thinned to the same spacing (so a coastal strip or a
//!   small district is never missed). A district is reached by a realisation when any of
//!   its points is inside the realisation's footprint at some step.
//! - People at risk in a district, per realisation: population × share of its weighting
//!   (settlement) points reached, as the deterministic exposure does; with no settlement
//!   points, × the share of its interior sample points (an area share).
//!
//! Per realisation step the footprint test is a local equirectangular projection around
//! the centre (dx = Δlon·½(cos φc + cos φp)·111.195 km, dy = Δlat·111.195 km, with cos φp
//! precomputed per point) and a comparison of the distance with the quadrant's radius
//! (quadrants by compass: NE is dx ≥ 0, dy ≥ 0, as in the deterministic swath). Written by
//! hand because it runs ~10⁸ times per assessment: a haversine per test would cost several
//! times more; within the ≤ 600 km of a 34 kt radius at Mozambique's latitudes its distance
//! differs from the haversine by < 0.5 % (tested).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;

use crate::domain::{Layers, METRES_PER_NM, PointKind};

use super::land::row_crossings;
use super::{EnsembleError, Realisation};

/// Kilometres per degree of arc on the mean Earth sphere (R = 6371.0088 km, IUGG mean
/// radius, the same sphere as geo's `Haversine`): 2πR/360.
pub const KM_PER_DEG: f64 = 111.194_926_644_558_7;

const NONE: u32 = u32::MAX;
/// Side of the buckets of the point index, degrees (≈ 28 km).
const BUCKET_DEG: f64 = 0.25;

/// What a test point stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Feature `feature` of point layer `layer`.
    Feature { layer: u32, feature: u32 },
    /// A grid sample inside a district (counts towards its area share).
    Interior,
    /// A thinned ring vertex of a district.
    Boundary,
}

#[derive(Debug, Clone)]
struct AreaMeta {
    pcode: String,
    name: String,
    parent_pcode: Option<String>,
    parent_name: Option<String>,
    population: Option<f64>,
    weighting_points: u32,
    interior_points: u32,
    boundary_points: u32,
}

/// Test points and district/province bookkeeping, built once per layer set.
pub struct ProbabilityTargets {
    lon: Vec<f64>,
    lat: Vec<f64>,
    /// ½ cos(lat) × km per degree, the point's half of the mean-latitude lon scale.
    half_kx: Vec<f64>,
    owner: Vec<Owner>,
    district: Vec<u32>,
    weighting: Vec<bool>,
    /// Bucket index: points sorted by (row, column); `start[row * nx + col]` opens a bucket.
    start: Vec<u32>,
    lon0: f64,
    lat0: f64,
    nx: usize,
    ny: usize,
    districts: Vec<AreaMeta>,
    /// District index → province index.
    district_province: Vec<u32>,
    provinces: Vec<AreaMeta>,
    /// Metadata of the feature points, by (layer, feature).
    features: Vec<Vec<FeatureMeta>>,
}

#[derive(Debug, Clone)]
struct FeatureMeta {
    layer: String,
    kind: PointKind,
    id: String,
    name: String,
    lon: f64,
    lat: f64,
    district_pcode: Option<String>,
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
        let mut districts: Vec<AreaMeta> = layers
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
        ProbabilityTargets {
            lon: pts.iter().map(|p| p.0).collect(),
            lat: pts.iter().map(|p| p.1).collect(),
            half_kx: pts
                .iter()
                .map(|p| 0.5 * p.1.to_radians().cos() * KM_PER_DEG)
                .collect(),
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

    /// Ranges of point indices in the buckets that a disc of `reach_km` around (lon, lat)
    /// can touch: one contiguous range per bucket row, cut to the disc's chord over that
    /// row. The chord is widened with the smallest cos(lat) over the row and the centre,
    /// so it holds every point the footprint test (mean-latitude scale) can accept.
    fn ranges(&self, lon: f64, lat: f64, reach_km: f64, out: &mut Vec<(usize, usize)>) {
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
            let (Some(&a), Some(&b)) = (
                self.start.get(iy * self.nx + ix0),
                self.start.get(iy * self.nx + ix1 + 1),
            ) else {
                continue;
            };
            if b > a {
                out.push((a as usize, b as usize));
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

/// People at risk over realisations: the mean and the 10, 50 and 90 % quantiles (linear
/// between order statistics).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeopleAtRisk {
    pub mean: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

impl PeopleAtRisk {
    fn of(values: &mut [f64]) -> PeopleAtRisk {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let q = |p: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let h = p * (n - 1) as f64;
            // ok: 0 ≤ h ≤ n − 1.
            let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
            let (a, b) = (values[lo], values[hi]);
            a + (b - a) * (h - lo as f64)
        };
        PeopleAtRisk {
            mean: if n == 0 {
                0.0
            } else {
                values.iter().sum::<f64>() / n as f64
            },
            p10: q(0.1),
            p50: q(0.5),
            p90: q(0.9),
        }
    }
}

/// Probabilities for one district or province: `probability[k][w]` is the share of
/// realisations bringing wind ≥ `thresholds_kt[k]` into it within `windows_h[w]` hours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaProbability {
    pub pcode: String,
    pub name: String,
    pub parent_pcode: Option<String>,
    pub parent_name: Option<String>,
    pub population: Option<f64>,
    pub probability: Vec<Vec<f64>>,
    /// `people_at_risk[k][w]`: people inside the ≥ k footprint within window w.
    pub people_at_risk: Vec<Vec<PeopleAtRisk>>,
}

/// Probabilities for one point feature (`probability[k][w]` as for areas).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointProbability {
    pub layer: String,
    pub kind: PointKind,
    pub id: String,
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    pub district_pcode: Option<String>,
    pub probability: Vec<Vec<f64>>,
}

/// The result of one probabilistic assessment, ready for documents and tables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbabilisticAssessment {
    pub storm: Option<String>,
    pub reference_time: Option<DateTime<Utc>>,
    pub realisations: usize,
    pub seed: Option<u64>,
    pub thresholds_kt: Vec<f64>,
    /// Cumulative windows: 0 to `windows_h[w]` hours after the reference time.
    pub windows_h: Vec<f64>,
    /// Every district, in layer order.
    pub districts: Vec<AreaProbability>,
    pub provinces: Vec<AreaProbability>,
    /// Point features with a non-zero probability of any threshold.
    pub points: Vec<PointProbability>,
    pub national_people_at_risk: Vec<Vec<PeopleAtRisk>>,
    pub notes: Vec<String>,
}

impl ProbabilisticAssessment {
    fn index(&self, threshold_kt: f64, window_h: f64) -> Option<(usize, usize)> {
        let k = self
            .thresholds_kt
            .iter()
            .position(|t| (t - threshold_kt).abs() < 0.5)?;
        let w = self
            .windows_h
            .iter()
            .position(|t| (t - window_h).abs() < 1e-9)?;
        Some((k, w))
    }
    /// P(≥ threshold within 0–window h) of a district, by P-code.
    pub fn district_p(&self, pcode: &str, threshold_kt: f64, window_h: f64) -> Option<f64> {
        let (k, w) = self.index(threshold_kt, window_h)?;
        let d = self.districts.iter().find(|d| d.pcode == pcode)?;
        d.probability.get(k)?.get(w).copied()
    }
}

/// Per-thread accumulator.
struct Acc {
    /// Realisations bringing threshold k to point p within window w: [(p·K + k)·W + w].
    point_hits: Vec<u32>,
    district_hits: Vec<u32>,
    province_hits: Vec<u32>,
    /// (realisation index, district people [(d·K + k)·W + w]).
    people: Vec<(usize, Vec<f32>)>,
    arrival: Vec<f32>,
    touched: Vec<u32>,
    ranges: Vec<(usize, usize)>,
}

/// Counts, over `realisations` (any slice: perturbed tracks or ensemble members, each with
/// radii for `thresholds_kt` in that order), the share bringing each threshold to each
/// target within each cumulative window.
pub fn count_exceedances(
    realisations: &[Realisation],
    targets: &ProbabilityTargets,
    thresholds_kt: &[f64],
    windows_h: &[f64],
) -> Result<ProbabilisticAssessment, EnsembleError> {
    let kn = thresholds_kt.len();
    let wn = windows_h.len();
    if let Some((index, r)) = realisations
        .iter()
        .enumerate()
        .find(|(_, r)| r.thresholds() != kn)
    {
        return Err(EnsembleError::ThresholdMismatch {
            index,
            expected: kn,
            found: r.thresholds(),
        });
    }
    let np = targets.len();
    let (nd, npv) = (targets.districts.len(), targets.provinces.len());
    let new_acc = || Acc {
        point_hits: vec![0; np * kn * wn],
        district_hits: vec![0; nd * kn * wn],
        province_hits: vec![0; npv * kn * wn],
        people: Vec::new(),
        arrival: vec![f32::INFINITY; np * kn],
        touched: Vec::new(),
        ranges: Vec::new(),
    };
    let acc = realisations
        .par_iter()
        .enumerate()
        .fold(new_acc, |mut acc, (i, r)| {
            count_one(r, i, targets, kn, windows_h, &mut acc);
            acc
        })
        .reduce(new_acc, |mut a, b| {
            add(&mut a.point_hits, &b.point_hits);
            add(&mut a.district_hits, &b.district_hits);
            add(&mut a.province_hits, &b.province_hits);
            a.people.extend(b.people);
            a
        });
    Ok(summarise(
        acc,
        realisations.len(),
        targets,
        thresholds_kt,
        windows_h,
    ))
}

fn add(a: &mut [u32], b: &[u32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// One realisation: first arrival of each threshold at each point, then the window hits.
fn count_one(
    r: &Realisation,
    index: usize,
    t: &ProbabilityTargets,
    kn: usize,
    windows_h: &[f64],
    acc: &mut Acc,
) {
    let km_per_nm = METRES_PER_NM / 1000.0;
    let mut r2 = vec![[0f64; 4]; kn];
    for s in 0..r.steps() {
        let (Some(&lead), Some(c)) = (r.lead_h.get(s), r.centre.get(s)) else {
            continue;
        };
        let mut reach = 0f64;
        for (k, rk) in r2.iter_mut().enumerate() {
            let radii = r.radii_nm(s, k).unwrap_or([0.0; 4]);
            for q in 0..4 {
                let km = f64::from(radii[q]) * km_per_nm;
                rk[q] = km * km;
                reach = reach.max(km);
            }
        }
        if reach <= 0.0 {
            continue;
        }
        let (lonc, latc) = (c.x(), c.y());
        let half_kxc = 0.5 * latc.to_radians().cos() * KM_PER_DEG;
        t.ranges(lonc, latc, reach, &mut acc.ranges);
        let lead = lead as f32;
        for &(a, b) in &acc.ranges {
            let (Some(lons), Some(lats), Some(hk)) =
                (t.lon.get(a..b), t.lat.get(a..b), t.half_kx.get(a..b))
            else {
                continue;
            };
            for (i, ((&x, &y), &h)) in lons.iter().zip(lats).zip(hk).enumerate() {
                let dx = (x - lonc) * (half_kxc + h);
                let dy = (y - latc) * KM_PER_DEG;
                let q = match (dx >= 0.0, dy >= 0.0) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, false) => 2,
                    (false, true) => 3,
                };
                let d2 = dx * dx + dy * dy;
                let p = a + i;
                for (k, rk) in r2.iter().enumerate() {
                    if d2 > rk[q] {
                        break;
                    }
                    if let Some(slot) = acc.arrival.get_mut(p * kn + k)
                        && *slot > lead
                    {
                        if k == 0 && slot.is_infinite() {
                            acc.touched.push(p as u32);
                        }
                        *slot = lead;
                    }
                }
            }
        }
    }
    let wn = windows_h.len();
    let nd = t.districts.len();
    let mut d_hit = vec![false; nd * kn * wn];
    let mut d_w = vec![0u32; nd * kn * wn];
    let mut d_in = vec![0u32; nd * kn * wn];
    let mut d_bd = vec![0u32; nd * kn * wn];
    for &p in &acc.touched {
        let p = p as usize;
        let d = t.district.get(p).copied().unwrap_or(NONE) as usize;
        for k in 0..kn {
            let Some(slot) = acc.arrival.get_mut(p * kn + k) else {
                continue;
            };
            let a = f64::from(*slot);
            *slot = f32::INFINITY;
            for (w, &wh) in windows_h.iter().enumerate() {
                if a > wh {
                    continue;
                }
                if let Some(h) = acc.point_hits.get_mut((p * kn + k) * wn + w) {
                    *h += 1;
                }
                let di = (d * kn + k) * wn + w;
                if d < nd {
                    if let Some(h) = d_hit.get_mut(di) {
                        *h = true;
                    }
                    let counter = match t.owner.get(p) {
                        Some(Owner::Interior) => d_in.get_mut(di),
                        Some(Owner::Boundary) => d_bd.get_mut(di),
                        _ if t.weighting.get(p) == Some(&true) => d_w.get_mut(di),
                        _ => None,
                    };
                    if let Some(c) = counter {
                        *c += 1;
                    }
                }
            }
        }
    }
    acc.touched.clear();
    let mut people = vec![0f32; nd * kn * wn];
    let mut p_hit = vec![false; t.provinces.len() * kn * wn];
    for (d, m) in t.districts.iter().enumerate() {
        let pv = t.district_province.get(d).copied().unwrap_or(NONE) as usize;
        for kw in 0..kn * wn {
            let di = d * kn * wn + kw;
            if !d_hit.get(di).copied().unwrap_or(false) {
                continue;
            }
            if let Some(h) = acc.district_hits.get_mut(di) {
                *h += 1;
            }
            if let Some(h) = p_hit.get_mut(pv * kn * wn + kw) {
                *h = true;
            }
            let share = if m.weighting_points > 0 {
                f64::from(d_w.get(di).copied().unwrap_or(0)) / f64::from(m.weighting_points)
            } else if m.interior_points > 0 {
                f64::from(d_in.get(di).copied().unwrap_or(0)) / f64::from(m.interior_points)
            } else if m.boundary_points > 0 {
                f64::from(d_bd.get(di).copied().unwrap_or(0)) / f64::from(m.boundary_points)
            } else {
                0.0
            };
            if let Some(v) = people.get_mut(di) {
                *v = (m.population.unwrap_or(0.0) * share) as f32;
            }
        }
    }
    for (h, hit) in acc.province_hits.iter_mut().zip(&p_hit) {
        *h += u32::from(*hit);
    }
    acc.people.push((index, people));
}

fn summarise(
    mut acc: Acc,
    n: usize,
    t: &ProbabilityTargets,
    thresholds_kt: &[f64],
    windows_h: &[f64],
) -> ProbabilisticAssessment {
    let (kn, wn) = (thresholds_kt.len(), windows_h.len());
    let nf = n.max(1) as f64;
    acc.people.sort_by_key(|(i, _)| *i);
    let table = |hits: &[u32], base: usize| -> Vec<Vec<f64>> {
        (0..kn)
            .map(|k| {
                (0..wn)
                    .map(|w| f64::from(hits.get(base + k * wn + w).copied().unwrap_or(0)) / nf)
                    .collect()
            })
            .collect()
    };
    // People per realisation for a set of districts, per (k, w).
    let people_of = |districts: &[usize]| -> Vec<Vec<PeopleAtRisk>> {
        (0..kn)
            .map(|k| {
                (0..wn)
                    .map(|w| {
                        let mut v: Vec<f64> = acc
                            .people
                            .iter()
                            .map(|(_, p)| {
                                districts
                                    .iter()
                                    .map(|&d| {
                                        f64::from(
                                            p.get((d * kn + k) * wn + w).copied().unwrap_or(0.0),
                                        )
                                    })
                                    .sum()
                            })
                            .collect();
                        PeopleAtRisk::of(&mut v)
                    })
                    .collect()
            })
            .collect()
    };
    let area = |m: &AreaMeta, probability, people_at_risk| AreaProbability {
        pcode: m.pcode.clone(),
        name: m.name.clone(),
        parent_pcode: m.parent_pcode.clone(),
        parent_name: m.parent_name.clone(),
        population: m.population,
        probability,
        people_at_risk,
    };
    let districts = t
        .districts
        .iter()
        .enumerate()
        .map(|(d, m)| area(m, table(&acc.district_hits, d * kn * wn), people_of(&[d])))
        .collect();
    let provinces = t
        .provinces
        .iter()
        .enumerate()
        .map(|(pv, m)| {
            let members: Vec<usize> = (0..t.districts.len())
                .filter(|&d| t.district_province.get(d) == Some(&(pv as u32)))
                .collect();
            area(
                m,
                table(&acc.province_hits, pv * kn * wn),
                people_of(&members),
            )
        })
        .collect();
    let all: Vec<usize> = (0..t.districts.len()).collect();
    let national_people_at_risk = people_of(&all);
    let mut points = Vec::new();
    for (p, owner) in t.owner.iter().enumerate() {
        let Owner::Feature { layer, feature } = *owner else {
            continue;
        };
        let base = p * kn * wn;
        let any = acc
            .point_hits
            .get(base..base + kn * wn)
            .is_some_and(|h| h.iter().any(|&x| x > 0));
        let Some(m) = t
            .features
            .get(layer as usize)
            .and_then(|l| l.get(feature as usize))
        else {
            continue;
        };
        if any {
            points.push(PointProbability {
                layer: m.layer.clone(),
                kind: m.kind,
                id: m.id.clone(),
                name: m.name.clone(),
                lon: m.lon,
                lat: m.lat,
                district_pcode: m.district_pcode.clone(),
                probability: table(&acc.point_hits, base),
            });
        }
    }
    points.sort_by(|a, b| (&a.layer, &a.id).cmp(&(&b.layer, &b.id)));
    ProbabilisticAssessment {
        storm: None,
        reference_time: None,
        realisations: n,
        seed: None,
        thresholds_kt: thresholds_kt.to_vec(),
        windows_h: windows_h.to_vec(),
        districts,
        provinces,
        points,
        national_people_at_risk,
        notes: vec![
            "a district or province is reached by a realisation when any of its points \
             (settlements, sites, facilities, and sample points every 0.1° inside it and \
             along its outline) is inside that realisation's footprint; people at risk per \
             realisation = district population × share of its settlement points reached"
                .to_string(),
        ],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use geo::{Bearing, Destination, Distance, Haversine, Point};

    #[test]
    fn the_local_projection_matches_the_haversine_within_half_a_percent_at_600_km() {
        for lat in [-10.0, -18.0, -27.0] {
            let c = Point::new(36.0, lat);
            for bearing in (0..360).step_by(15) {
                let p = Haversine.destination(c, bearing as f64, 600_000.0);
                let kx = 0.5 * (c.y().to_radians().cos() + p.y().to_radians().cos());
                let dx = (p.x() - c.x()) * kx * KM_PER_DEG;
                let dy = (p.y() - c.y()) * KM_PER_DEG;
                let local = dx.hypot(dy);
                let hav = Haversine.distance(c, p) / 1000.0;
                assert!(
                    (local - hav).abs() / hav < 0.005,
                    "{lat} {bearing}: {local} vs {hav}"
                );
                // Same compass quadrant as the bearing (away from the quadrant edges).
                let b = Haversine.bearing(c, p).rem_euclid(360.0);
                if (b % 90.0) > 5.0 && (b % 90.0) < 85.0 {
                    let q = match (dx >= 0.0, dy >= 0.0) {
                        (true, true) => 0,
                        (true, false) => 1,
                        (false, false) => 2,
                        (false, true) => 3,
                    };
                    assert_eq!(q, (b / 90.0) as usize, "{lat} {bearing}");
                }
            }
        }
    }

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let mut v: Vec<f64> = (0..=10).map(f64::from).rev().collect();
        let p = PeopleAtRisk::of(&mut v);
        assert_eq!((p.mean, p.p10, p.p50, p.p90), (5.0, 1.0, 5.0, 9.0));
    }
}
