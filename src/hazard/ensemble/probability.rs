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
//! hand because it runs ~10⁷–10⁸ times per assessment: a haversine per test would cost
//! several times more; within the ≤ 600 km of a 34 kt radius at Mozambique's latitudes its
//! distance differs from the haversine by < 0.5 % (tested). Whole buckets of points are
//! decided at once where they are clearly inside or outside (`arrival`).
//!
//! Windows: each point's first arrival falls in one first window; the counts are kept per
//! first window and made cumulative at the end (one update per point and threshold instead
//! of one per window).

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;

use crate::domain::PointKind;

use super::arrival::{self, Scratch};
use super::contours::ProbabilityContour;
pub use super::targets::ProbabilityTargets;
use super::targets::{AreaMeta, NONE, Owner};
use super::{EnsembleError, Realisation};

/// Kilometres per degree of arc on the mean Earth sphere (R = 6371.0088 km, IUGG mean
/// radius, the same sphere as geo's `Haversine`): 2πR/360.
pub const KM_PER_DEG: f64 = 111.194_926_644_558_7;

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
    /// Probability contours (10–90 %) per threshold and window, EPSG:4326; empty when the
    /// caller did not trace them (`count_exceedances` alone).
    pub contours: Vec<ProbabilityContour>,
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
    /// Realisations whose FIRST window reaching point p with threshold k is w:
    /// [(p·K + k)·W + w] (made cumulative over w once all are counted).
    point_hits: Vec<u32>,
    district_hits: Vec<u32>,
    province_hits: Vec<u32>,
    /// (realisation index, district people [(d·K + k)·W + w]).
    people: Vec<(usize, Vec<f32>)>,
    scratch: Scratch,
}

/// How each realisation's first arrivals are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMethod {
    /// Whole buckets decided at once where the footprint clearly covers or misses them.
    Buckets,
    /// Every point in range tested at every step (the reference).
    Exhaustive,
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
    count_exceedances_by(
        CountMethod::Buckets,
        realisations,
        targets,
        thresholds_kt,
        windows_h,
    )
}

/// [`count_exceedances`] by a chosen method: [`CountMethod::Exhaustive`] tests every point
/// in range at every step of every realisation, the plain method the bucket decisions must
/// agree with exactly (compared in tests/it/probabilistic.rs). Several times slower; not
/// for the service.
pub fn count_exceedances_by(
    method: CountMethod,
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
        scratch: Scratch::new(targets, kn),
    };
    // One accumulator per worker thread (each ~ points × K × W counters), realisations
    // handed out a few at a time so both threads finish together.
    let mut acc = per_thread(realisations, new_acc, |acc, i, r| {
        count_one(r, i, targets, kn, windows_h, method, acc)
    })
    .into_iter()
    .reduce(|mut a, b| {
        add(&mut a.point_hits, &b.point_hits);
        add(&mut a.district_hits, &b.district_hits);
        add(&mut a.province_hits, &b.province_hits);
        a.people.extend(b.people);
        a
    })
    .unwrap_or_else(new_acc);
    // First-window histograms to cumulative counts.
    for row in acc.point_hits.chunks_exact_mut(wn.max(1)) {
        for w in 1..row.len() {
            // ok: 1 ≤ w < len.
            row[w] += row[w - 1];
        }
    }
    Ok(summarise(
        acc,
        realisations.len(),
        targets,
        thresholds_kt,
        windows_h,
    ))
}

/// Runs `f(acc, i, item)` for every item on the rayon pool with one accumulator per worker
/// thread (made by `init` on the thread's first item), and returns the accumulators. Items
/// are handed out a few at a time, so threads finish together although realisations differ
/// in cost (those over land test more points), while memory stays at one accumulator per
/// thread. Callers only add counts or keep values keyed by `i`, so the result does not
/// depend on which thread took which item.
pub(super) fn per_thread<T: Sync, A: Send>(
    items: &[T],
    init: impl Fn() -> A + Sync,
    f: impl Fn(&mut A, usize, &T) + Sync,
) -> Vec<A> {
    let threads = rayon::current_num_threads().max(1);
    let slots: Vec<Mutex<Option<A>>> = (0..threads).map(|_| Mutex::new(None)).collect();
    items
        .par_iter()
        .enumerate()
        .with_min_len(4)
        .for_each(|(i, item)| {
            // Each worker only ever locks its own slot, and `f` does not call into rayon,
            // so the lock is never contended nor re-entered.
            let t = rayon::current_thread_index().unwrap_or(0) % threads;
            if let Some(slot) = slots.get(t) {
                let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
                f(guard.get_or_insert_with(&init), i, item);
            }
        });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
        .collect()
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
    method: CountMethod,
    acc: &mut Acc,
) {
    match method {
        CountMethod::Buckets => arrival::first_arrivals(r, t, kn, &mut acc.scratch),
        CountMethod::Exhaustive => arrival::exhaustive(r, t, kn, &mut acc.scratch),
    }
    let wn = windows_h.len();
    let nd = t.districts.len();
    // Per (district, threshold): the first window any of its points is reached in (wn:
    // none); per (district, threshold, window): points first reached in that window.
    let mut d_first = vec![wn; nd * kn];
    let mut d_w = vec![0u32; nd * kn * wn];
    let mut d_in = vec![0u32; nd * kn * wn];
    let mut d_bd = vec![0u32; nd * kn * wn];
    let sc = &mut acc.scratch;
    for &p in &sc.touched {
        let p = p as usize;
        let d = t.district.get(p).copied().unwrap_or(NONE) as usize;
        for k in 0..kn {
            let Some(slot) = sc.arrival.get_mut(p * kn + k) else {
                continue;
            };
            let a = f64::from(*slot);
            *slot = f32::INFINITY;
            let Some(w) = windows_h.iter().position(|&wh| a <= wh) else {
                continue;
            };
            if let Some(h) = acc.point_hits.get_mut((p * kn + k) * wn + w) {
                *h += 1;
            }
            if d >= nd {
                continue;
            }
            if let Some(f) = d_first.get_mut(d * kn + k) {
                *f = (*f).min(w);
            }
            let di = (d * kn + k) * wn + w;
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
    sc.touched.clear();
    for counts in [&mut d_w, &mut d_in, &mut d_bd] {
        for row in counts.chunks_exact_mut(wn.max(1)) {
            for w in 1..row.len() {
                // ok: 1 ≤ w < len.
                row[w] += row[w - 1];
            }
        }
    }
    let mut people = vec![0f32; nd * kn * wn];
    let mut p_hit = vec![false; t.provinces.len() * kn * wn];
    for (d, m) in t.districts.iter().enumerate() {
        let pv = t.district_province.get(d).copied().unwrap_or(NONE) as usize;
        for k in 0..kn {
            let first = d_first.get(d * kn + k).copied().unwrap_or(wn);
            for w in first..wn {
                let kw = k * wn + w;
                let di = d * kn * wn + kw;
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
    // People per realisation for a set of districts, per (k, w): the districts' values
    // summed in the order given.
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
    // Districts and provinces are independent of each other: summarised in parallel, in
    // layer order.
    let districts = t
        .districts
        .par_iter()
        .enumerate()
        .map(|(d, m)| area(m, table(&acc.district_hits, d * kn * wn), people_of(&[d])))
        .collect();
    let provinces = t
        .provinces
        .par_iter()
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
        contours: Vec::new(),
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
