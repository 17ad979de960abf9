//! First arrival of each wind threshold at each test point for one realisation: the
//! footprint (quadrant radii around the centre) swept along the realisation's steps, with
//! whole buckets of points decided at once where the footprint clearly covers or misses
//! them, and points tested one by one only in buckets that straddle its edge.
//!
//! Pure computation on prepared targets; must not depend on I/O, feeds or exposure.
//!
//! Why buckets: a realisation has a few hundred steps ~10 km apart and a 34 kt footprint a
//! few hundred km wide, so testing every point in range at every step tests each point
//! dozens of times (issue 12 measured 2.66 s for 1,000 realisations that way). A bucket
//! (0.25°) holds the exact extremes of its points' lon, lat and longitude scale
//! ([`super::targets::BucketBox`]); the footprint test's dx and dy are monotone in each, so
//! the test evaluated at those extremes gives exact lower and upper bounds of every point's
//! distance and the set of quadrants they can fall in. A bucket whose farthest corner is
//! inside the smallest radius of those quadrants is reached whole at this step (and never
//! looked at again for that threshold); one whose nearest corner is beyond the largest
//! radius is skipped. Results are identical to the point-by-point test ([`exhaustive`],
//! compared in tests/it/probabilistic.rs), not an approximation.

use crate::domain::METRES_PER_NM;

use super::Realisation;
use super::probability::KM_PER_DEG;
use super::targets::ProbabilityTargets;

/// Buffers reused across the realisations one thread counts.
pub(super) struct Scratch {
    /// First lead (h) at which threshold k reaches point p: `arrival[p * K + k]`;
    /// infinite when it does not. Reset to infinite by the caller for `touched` points.
    pub(super) arrival: Vec<f32>,
    /// Points whose lowest threshold was reached (each once).
    pub(super) touched: Vec<u32>,
    /// Per bucket: how many thresholds (a prefix, the radii being nested) reached the whole
    /// bucket at an earlier step, so its points need no further test for them.
    done: Vec<u8>,
    /// Per bucket / per point: the `travel` (km) below which it cannot be reached (see
    /// [`first_arrivals`]).
    bucket_skip: Vec<f64>,
    point_skip: Vec<f64>,
    ranges: Vec<(usize, usize)>,
}

impl Scratch {
    pub(super) fn new(t: &ProbabilityTargets, kn: usize) -> Scratch {
        Scratch {
            arrival: vec![f32::INFINITY; t.len() * kn],
            touched: Vec::new(),
            done: vec![0; t.bucket_box.len()],
            bucket_skip: vec![f64::NEG_INFINITY; t.bucket_box.len()],
            point_skip: vec![f64::NEG_INFINITY; t.len()],
            ranges: Vec::new(),
        }
    }
}

/// Squared radii (km²) per threshold and quadrant at step `s`, each the smallest over this
/// and the lower thresholds (a point reached by threshold k is reached by every lower one,
/// as the counting has always required), and the reach (km) of the lowest threshold.
fn radii_km2(r: &Realisation, s: usize, kn: usize, r2: &mut [[f64; 4]]) -> f64 {
    let km_per_nm = METRES_PER_NM / 1000.0;
    let mut prev = [f64::INFINITY; 4];
    for (k, rk) in r2.iter_mut().enumerate().take(kn) {
        let radii = r.radii_nm(s, k).unwrap_or([0.0; 4]);
        for q in 0..4 {
            let km = f64::from(radii[q]) * km_per_nm;
            rk[q] = (km * km).min(prev[q]);
        }
        prev = *rk;
    }
    r2.first()
        .map_or(0.0, |r0| r0.iter().copied().fold(0.0, f64::max).sqrt())
}

/// Compass quadrant of (dx east, dy north): 0 NE, 1 SE, 2 SW, 3 NW (as the swath's).
#[inline]
fn quadrant(dx: f64, dy: f64) -> usize {
    match (dx >= 0.0, dy >= 0.0) {
        (true, true) => 0,
        (true, false) => 1,
        (false, false) => 2,
        (false, true) => 3,
    }
}

/// How far (km of `travel`) the storm must still go before a point at (dx, dy), distance
/// `d`, now in quadrant `q`, can be inside radii `r` (km per quadrant): for each quadrant
/// q', the radius must grow or the distance shrink by d − r[q'], and the point must first
/// get into q' (dx or dy changing sign: a move of at least |dx| or |dy|).
#[inline]
fn gap_km(dx: f64, dy: f64, d: f64, q: usize, r: &[f64; 4]) -> f64 {
    let east = |q: usize| q < 2;
    let north = |q: usize| q == 0 || q == 3;
    let (ax, ay) = (dx.abs(), dy.abs());
    let mut g = f64::INFINITY;
    for (q2, rq) in r.iter().enumerate() {
        let mv = match (east(q2) == east(q), north(q2) == north(q)) {
            (true, true) => 0.0,
            (false, true) => ax,
            (true, false) => ay,
            (false, false) => ax.max(ay),
        };
        g = g.min((d - rq).max(mv));
    }
    g
}

/// Largest |Δlon| (degrees) between any step centre of `r` and any point of `t`.
fn lon_span(r: &Realisation, t: &ProbabilityTargets) -> f64 {
    let (lo, hi) = t.lon_range();
    r.centre
        .iter()
        .map(|c| (c.x() - lo).abs().max((c.x() - hi).abs()))
        .fold(0.0, f64::max)
}

/// Marks the first arrival of each threshold at each point of `t` for realisation `r`.
///
/// Skipping (exact, not a heuristic): `travel` bounds, from step 0 to the current step,
/// how far any point's projected (dx, dy) can move (per step the Euclidean norm of the
/// bounds |Δdx| ≤ |Δlon|·K + ½K·|Δφ|·L, the centre's move plus the change of the longitude
/// scale with the centre's latitude over the largest |Δlon| to any point, and |Δdy| =
/// |Δlat|·K) plus how much any radius (threshold, quadrant) can grow. A point (or bucket) found outside with a gap g (`gap_km`; for buckets, the
/// nearest distance minus the largest radius) cannot be reached before `travel` has grown
/// by g, so it is not looked at until then.
pub(super) fn first_arrivals(r: &Realisation, t: &ProbabilityTargets, kn: usize, sc: &mut Scratch) {
    sc.done.fill(0);
    sc.bucket_skip.fill(f64::NEG_INFINITY);
    sc.point_skip.fill(f64::NEG_INFINITY);
    let kn8 = kn as u8;
    let mut r2 = vec![[0f64; 4]; kn];
    // Radii (km) per threshold and quadrant at this step and the step before, and the
    // largest over quadrants.
    let mut rk = vec![[0f64; 4]; kn];
    let mut prev_rk = vec![[0f64; 4]; kn];
    let mut rk_max = vec![0f64; kn];
    let span_deg = lon_span(r, t);
    let mut travel = 0f64;
    let mut prev: Option<(f64, f64)> = None;
    for s in 0..r.steps() {
        let (Some(&lead), Some(c)) = (r.lead_h.get(s), r.centre.get(s)) else {
            continue;
        };
        let reach = radii_km2(r, s, kn, &mut r2);
        let (lonc, latc) = (c.x(), c.y());
        let mut growth = 0f64;
        for (((m, r), p), sq) in rk_max.iter_mut().zip(&mut rk).zip(&prev_rk).zip(&r2) {
            for q in 0..4 {
                r[q] = sq[q].sqrt();
                growth = growth.max(r[q] - p[q]);
            }
            *m = r.iter().copied().fold(0.0, f64::max);
        }
        if let Some((lon0, lat0)) = prev {
            // |Δdx| ≤ |Δlon|·K + ½K·|Δφ|·L and |Δdy| = |Δlat|·K, so the point moves by at
            // most their Euclidean norm (the bound the distances and gaps need), up to √2
            // less than their sum on a diagonal track.
            let dlat = (latc - lat0).abs();
            let ddx =
                (lonc - lon0).abs() * KM_PER_DEG + 0.5 * KM_PER_DEG * dlat.to_radians() * span_deg;
            travel += ddx.hypot(dlat * KM_PER_DEG);
        }
        travel += growth;
        prev = Some((lonc, latc));
        prev_rk.copy_from_slice(&rk);
        if reach <= 0.0 {
            continue;
        }
        // A margin of 1 m against rounding in the gaps below.
        let now = travel + 1e-3;
        let half_kxc = 0.5 * latc.to_radians().cos() * KM_PER_DEG;
        let lead = lead as f32;
        t.bucket_ranges(lonc, latc, reach, &mut sc.ranges);
        for ri in 0..sc.ranges.len() {
            let Some(&(b0, b1)) = sc.ranges.get(ri) else {
                continue;
            };
            for b in t.occupied(b0, b1) {
                let b = b as usize;
                let (Some(&done), Some(&skip)) = (sc.done.get(b), sc.bucket_skip.get(b)) else {
                    continue;
                };
                if done >= kn8 || now < skip {
                    continue;
                }
                let (Some(bx), Some((a, e))) = (t.bucket_box.get(b), t.bucket_points(b)) else {
                    continue;
                };
                if a == e {
                    continue;
                }
                // dx = (lon − lonc)·(half_kxc + half_kx) at the four corners.
                let mut dx = [f64::INFINITY, f64::NEG_INFINITY];
                for lon in bx.lon {
                    for h in bx.half_kx {
                        let v = (lon - lonc) * (half_kxc + h);
                        dx[0] = dx[0].min(v);
                        dx[1] = dx[1].max(v);
                    }
                }
                let dy = [
                    (bx.lat[0] - latc) * KM_PER_DEG,
                    (bx.lat[1] - latc) * KM_PER_DEG,
                ];
                let near = |v: [f64; 2]| {
                    if v[0] >= 0.0 {
                        v[0]
                    } else if v[1] < 0.0 {
                        -v[1]
                    } else {
                        0.0
                    }
                };
                let far = |v: [f64; 2]| v[0].abs().max(v[1].abs());
                let (nx, ny) = (near(dx), near(dy));
                let (fx, fy) = (far(dx), far(dy));
                let d2_min = nx * nx + ny * ny;
                let d2_max = fx * fx + fy * fy;
                // Quadrants some point of the bucket can fall in.
                let (east, west) = (dx[1] >= 0.0, dx[0] < 0.0);
                let (north, south) = (dy[1] >= 0.0, dy[0] < 0.0);
                let possible = [east && north, east && south, west && south, west && north];
                // Thresholds reaching the whole bucket / possibly some of it: prefixes.
                let (mut all, mut some) = (0u8, 0u8);
                for rk in &r2 {
                    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
                    for q in 0..4 {
                        if possible[q] {
                            lo = lo.min(rk[q]);
                            hi = hi.max(rk[q]);
                        }
                    }
                    if d2_min > hi {
                        break;
                    }
                    some += 1;
                    if d2_max <= lo && all + 1 == some {
                        all += 1;
                    }
                }
                // Whole bucket reached by thresholds done..all: first arrival now unless
                // a point had it earlier.
                for k in usize::from(done)..usize::from(all) {
                    for p in a..e {
                        if let Some(slot) = sc.arrival.get_mut(p * kn + k)
                            && slot.is_infinite()
                        {
                            *slot = lead;
                            if k == 0 {
                                sc.touched.push(p as u32);
                            }
                        }
                    }
                }
                let k0 = usize::from(all.max(done));
                if all > done
                    && let Some(d) = sc.done.get_mut(b)
                {
                    *d = all;
                }
                let k1 = usize::from(some);
                if k0 >= kn {
                    continue;
                }
                if k1 <= k0 {
                    // Outside for threshold k0 (and so all above it) at this step.
                    let gap = d2_min.sqrt() - rk_max.get(k0).copied().unwrap_or(0.0);
                    if let Some(sk) = sc.bucket_skip.get_mut(b) {
                        *sk = travel + gap;
                    }
                    continue;
                }
                // Point by point for the thresholds that reach part of it; each point not
                // reached by all is skipped until it can be.
                let (Some(lons), Some(lats), Some(hks)) =
                    (t.lon.get(a..e), t.lat.get(a..e), t.half_kx.get(a..e))
                else {
                    continue;
                };
                let mut bucket_next = f64::INFINITY;
                for (i, ((&x, &y), &h)) in lons.iter().zip(lats).zip(hks).enumerate() {
                    let p = a + i;
                    let Some(&ps) = sc.point_skip.get(p) else {
                        continue;
                    };
                    if now < ps {
                        bucket_next = bucket_next.min(ps);
                        continue;
                    }
                    let dx = (x - lonc) * (half_kxc + h);
                    let dy = (y - latc) * KM_PER_DEG;
                    let q = quadrant(dx, dy);
                    let d2 = dx * dx + dy * dy;
                    let mut first_out = kn;
                    for (k, rk) in r2.iter().enumerate().skip(k0) {
                        let Some(slot) = sc.arrival.get_mut(p * kn + k) else {
                            continue;
                        };
                        if k >= k1 || d2 > rk[q] {
                            if slot.is_infinite() {
                                first_out = k;
                                break;
                            }
                            continue;
                        }
                        if slot.is_infinite() {
                            *slot = lead;
                            if k == 0 {
                                sc.touched.push(p as u32);
                            }
                        }
                    }
                    let next = match rk.get(first_out) {
                        None => f64::INFINITY,
                        Some(r) => travel + gap_km(dx, dy, d2.sqrt(), q, r),
                    };
                    if let Some(ps) = sc.point_skip.get_mut(p) {
                        *ps = next;
                    }
                    bucket_next = bucket_next.min(next);
                }
                if let Some(sk) = sc.bucket_skip.get_mut(b) {
                    *sk = bucket_next;
                }
            }
        }
    }
}

/// The same result as [`first_arrivals`] by the plain method: every point of every bucket
/// in range tested at every step. Kept as the reference the bucket decisions are checked
/// against; several times slower.
pub(super) fn exhaustive(r: &Realisation, t: &ProbabilityTargets, kn: usize, sc: &mut Scratch) {
    let mut r2 = vec![[0f64; 4]; kn];
    for s in 0..r.steps() {
        let (Some(&lead), Some(c)) = (r.lead_h.get(s), r.centre.get(s)) else {
            continue;
        };
        let reach = radii_km2(r, s, kn, &mut r2);
        if reach <= 0.0 {
            continue;
        }
        let (lonc, latc) = (c.x(), c.y());
        let half_kxc = 0.5 * latc.to_radians().cos() * KM_PER_DEG;
        let lead = lead as f32;
        t.bucket_ranges(lonc, latc, reach, &mut sc.ranges);
        let ranges = std::mem::take(&mut sc.ranges);
        for &(b0, b1) in &ranges {
            let (Some((a, _)), Some((_, e))) = (t.bucket_points(b0), t.bucket_points(b1 - 1))
            else {
                continue;
            };
            for p in a..e {
                let (Some(&x), Some(&y), Some(&h)) = (t.lon.get(p), t.lat.get(p), t.half_kx.get(p))
                else {
                    continue;
                };
                let dx = (x - lonc) * (half_kxc + h);
                let dy = (y - latc) * KM_PER_DEG;
                let q = quadrant(dx, dy);
                let d2 = dx * dx + dy * dy;
                for (k, rk) in r2.iter().enumerate() {
                    if d2 > rk[q] {
                        break;
                    }
                    if let Some(slot) = sc.arrival.get_mut(p * kn + k)
                        && slot.is_infinite()
                    {
                        *slot = lead;
                        if k == 0 {
                            sc.touched.push(p as u32);
                        }
                    }
                }
            }
        }
        sc.ranges = ranges;
    }
}
