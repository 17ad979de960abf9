//! Realisations: the deterministic forecast interpolated to a fine time grid, and N
//! perturbed copies of it with along/cross-track position errors, an intensity error, land
//! decay and wind radii that follow each copy's intensity.
//!
//! Pure numerics on `crate::domain` types; must not depend on I/O, feeds or exposure.
//!
//! The model (DeMaria et al. 2009, Wea. Forecasting 24:1573, simplified):
//! - Position: along-track a(t) and cross-track c(t) errors (c > 0 right of the motion),
//!   each σ(t)·z(t) with z a standardised AR(1) process on knots every `error_step_h`
//!   (z_j = φ z_{j−1} + √(1−φ²) ε_j, ε ~ N(0,1)), linear between knots, zero at the
//!   reference time. σ_c(t) = M(t) / (√(π/2) · G(ρ)), σ_a = ρ σ_c, with M(t) the configured
//!   mean track error (linear between the configured leads, from 0 at 0 h, extrapolated with
//!   the last slope beyond) and G(ρ) = (1/2π)∮ √(ρ² cos²θ + sin²θ) dθ. Then
//!   E|(a, c)| = M(t) exactly: (a, c) = σ_c (ρX, Y) with X, Y ~ N(0,1), and in polar form
//!   the Rayleigh radius has mean √(π/2), independent of the uniform angle.
//!   The realisation's centre is the deterministic centre moved |(a, c)| along the great
//!   circle at bearing heading + atan2(c, a) (geo's `Haversine` destination).
//! - Intensity: V = V_det + e(t), e = σ_v(t) z_v(t), σ_v = MAE(t)·√(π/2) (for a Gaussian,
//!   MAE = σ√(2/π)), AR(1) as above, V ≥ 0.
//! - Land decay (Kaplan & DeMaria 1995, J. Appl. Meteor. 34:2499): when a realisation is
//!   over land while the deterministic centre is over sea, its wind decays from its own
//!   landfall: V(t) = Vb + (R·V0 − Vb)·exp(−α (t − t_L)), α = 0.095 h⁻¹, Vb = 26.7 kt
//!   (1-minute; × 0.88 for 10-minute winds), R = 0.9, V0 its wind at landfall t_L; the
//!   smaller of this and V_det + e is kept. When both are over land the forecast's own
//!   inland decay (in V_det) stands. Land is the district polygons (see `land`).
//! - Radii: a modified Rankine vortex V(r) = Vmax (s/r)^x per quadrant with the storm's size
//!   s kept, so a realisation's radius of threshold k is the forecast's times
//!   f = (V/V_det)^(1/x) (capped at `max_radius_scale`), and 0 when V < k. Where the forecast
//!   does not reach k at all, r_k = r_j · f · (j/k)^(1/x) from the highest lower threshold j
//!   it reaches (same vortex). The forecast's quadrant asymmetry is kept; thresholds stay
//!   nested (a 64 kt radius never exceeds the 34 kt one), so P(≥34) ≥ P(≥48) ≥ P(≥64).

use geo::{Destination, Distance, Geodesic, Haversine, Point};
use rand::{RngExt as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::domain::{Forecast, METRES_PER_NM, ONE_MIN_TO_TEN_MIN, QuadrantRadii};
use crate::hazard::geodesy::interpolate;
use crate::hazard::swath::resolved_radii;
use crate::hazard::track::{forecast_chain, hours_between, leg_motion, substeps, validate_track};
use crate::hazard::{HazardConfig, HazardError};

use super::{EnsembleError, LandMask, ProbabilisticConfig};

/// One track with its intensity and wind radii on a fine time grid: a perturbed copy of a
/// deterministic forecast, the forecast itself, or (later) an ensemble member.
#[derive(Debug, Clone, PartialEq)]
pub struct Realisation {
    /// Lead time of each step, hours after the forecast's reference time.
    pub lead_h: Vec<f64>,
    /// Storm centre at each step, EPSG:4326.
    pub centre: Vec<Point<f64>>,
    /// Maximum 10-minute wind (kt) at each step; NaN where the forecast has none.
    pub vmax_kt: Vec<f32>,
    /// Radii (nm; NE, SE, SW, NW) at step `s` for threshold `k`: `radii_nm[s * thresholds + k]`.
    radii_nm: Vec<[f32; 4]>,
    thresholds: usize,
}

impl Realisation {
    /// A realisation in which the storm is absent (an ensemble member whose tracker lost
    /// it): no steps, so no wind anywhere; it still counts in the denominator.
    pub fn empty(thresholds: usize) -> Realisation {
        Realisation {
            lead_h: Vec::new(),
            centre: Vec::new(),
            vmax_kt: Vec::new(),
            radii_nm: Vec::new(),
            thresholds,
        }
    }
    pub fn steps(&self) -> usize {
        self.lead_h.len()
    }
    /// Number of thresholds the radii are given for (in the configured order).
    pub fn thresholds(&self) -> usize {
        self.thresholds
    }
    /// Radii (nm; NE, SE, SW, NW) of threshold index `k` at step `s`.
    pub fn radii_nm(&self, s: usize, k: usize) -> Option<[f32; 4]> {
        self.radii_nm.get(s * self.thresholds + k).copied()
    }
    /// The centre at a lead time, linear between steps (steps are ≤ `max_step_km` apart,
    /// so lon/lat interpolation differs from the geodesic by metres); `None` outside.
    pub fn position_at(&self, lead_h: f64) -> Option<Point<f64>> {
        let i = self.lead_h.iter().position(|&t| t >= lead_h)?;
        let b = *self.centre.get(i)?;
        if i == 0 {
            return (self.lead_h.first() == Some(&lead_h)).then_some(b);
        }
        let (ta, tb) = (*self.lead_h.get(i - 1)?, *self.lead_h.get(i)?);
        let a = *self.centre.get(i - 1)?;
        let r = if tb > ta {
            (lead_h - ta) / (tb - ta)
        } else {
            1.0
        };
        Some(Point::new(
            a.x() + (b.x() - a.x()) * r,
            a.y() + (b.y() - a.y()) * r,
        ))
    }
}

/// Realisations and what the method notes about them.
#[derive(Debug, Clone)]
pub struct RealisationSet {
    pub realisations: Vec<Realisation>,
    pub notes: Vec<String>,
}

/// The deterministic forecast on the fine time grid.
struct DetGrid {
    lead_h: Vec<f64>,
    pos: Vec<Point<f64>>,
    heading_deg: Vec<f64>,
    /// 10-minute max wind, kt.
    vmax: Vec<Option<f64>>,
    /// Step × threshold.
    radii: Vec<Vec<QuadrantRadii>>,
}

fn det_grid(
    forecast: &Forecast,
    cfg: &ProbabilisticConfig,
    hazard: &HazardConfig,
) -> Result<DetGrid, EnsembleError> {
    validate_track(forecast)?;
    let chain = forecast_chain(forecast);
    if chain.is_empty() {
        return Err(HazardError::EmptyTrack {
            origin: forecast.origin.clone(),
        }
        .into());
    }
    let hcfg = HazardConfig {
        thresholds_kt: cfg.thresholds_kt.clone(),
        ..hazard.clone()
    };
    let radii = resolved_radii(forecast, &chain, &hcfg);
    let vmax: Vec<Option<f64>> = chain
        .iter()
        .map(|f| {
            f.point
                .max_wind_kt
                .map(|w| forecast.wind_averaging.to_ten_minute(w).0)
        })
        .collect();
    let lead = |t| hours_between(forecast.reference_time, t);
    let mut g = DetGrid {
        lead_h: Vec::new(),
        pos: Vec::new(),
        heading_deg: Vec::new(),
        vmax: Vec::new(),
        radii: Vec::new(),
    };
    let mut heading = 0.0;
    let zero = vec![QuadrantRadii::new(0.0, 0.0, 0.0, 0.0); cfg.thresholds_kt.len()];
    for (i, pair) in chain.windows(2).enumerate() {
        let [a, b] = pair else { continue };
        let (speed, toward) = leg_motion(a, b);
        if speed > 0.0 {
            heading = toward;
        }
        let km = Geodesic.distance(a.pos, b.pos) / 1000.0;
        // ok: a leg of a few hundred km over ≥ 1 km steps is a few hundred sub-steps.
        let by_distance = (km / cfg.max_step_km).ceil().max(1.0) as usize;
        let n = substeps(a.time(), b.time(), cfg.step_minutes).max(by_distance);
        let (ra, rb) = (
            radii.get(i).unwrap_or(&zero),
            radii.get(i + 1).unwrap_or(&zero),
        );
        let (va, vb) = (
            vmax.get(i).copied().flatten(),
            vmax.get(i + 1).copied().flatten(),
        );
        let (la, lb) = (lead(a.time()), lead(b.time()));
        for k in 0..n {
            let t = k as f64 / n as f64;
            g.lead_h.push(la + (lb - la) * t);
            g.pos.push(interpolate(a.pos, b.pos, t));
            g.heading_deg.push(heading);
            g.vmax.push(va.zip(vb).map(|(x, y)| x + (y - x) * t));
            g.radii
                .push(ra.iter().zip(rb).map(|(x, y)| x.lerp(y, t)).collect());
        }
    }
    if let Some(last) = chain.last() {
        g.lead_h.push(lead(last.time()));
        g.pos.push(last.pos);
        g.heading_deg.push(heading);
        g.vmax.push(vmax.last().copied().flatten());
        g.radii
            .push(radii.last().cloned().unwrap_or_else(|| zero.clone()));
    }
    Ok(g)
}

/// Piecewise-linear table through (0, 0) and (lead_h[i], v[i]), extrapolated beyond the
/// last lead with the last segment's slope (errors keep growing), 0 before 0 h.
fn table(lead_h: &[f64], v: &[f64], t: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    let mut prev = (0.0, 0.0);
    for (&l, &y) in lead_h.iter().zip(v) {
        if t <= l {
            return prev.1 + (y - prev.1) * (t - prev.0) / (l - prev.0);
        }
        prev = (l, y);
    }
    // Beyond the table: extend the last segment.
    let n = lead_h.len().min(v.len());
    let before = match n {
        0 => return 0.0,
        1 => (0.0, 0.0),
        // ok: n ≥ 2 here.
        _ => (lead_h[n - 2], v[n - 2]),
    };
    let slope = (prev.1 - before.1) / (prev.0 - before.0);
    prev.1 + slope * (t - prev.0)
}

/// G(ρ) = (1/2π)∮ √(ρ² cos²θ + sin²θ) dθ (midpoint rule, 3,600 points: exact to ~1e-12
/// for this smooth periodic integrand). G(1) = 1.
fn anisotropy_factor(rho: f64) -> f64 {
    let n = 3600;
    (0..n)
        .map(|i| {
            let th = (i as f64 + 0.5) / n as f64 * std::f64::consts::TAU;
            (rho * rho * th.cos().powi(2) + th.sin().powi(2)).sqrt()
        })
        .sum::<f64>()
        / n as f64
}

/// √(π/2): mean of a Rayleigh variable of unit scale, and σ / MAE of a Gaussian.
const SQRT_HALF_PI: f64 = 1.253_314_137_315_500_3;

/// Sampled errors of one realisation at the knots.
struct KnotErrors {
    along_nm: Vec<f64>,
    cross_nm: Vec<f64>,
    vmax_kt: Vec<f64>,
}

struct ErrorModel<'a> {
    cfg: &'a ProbabilisticConfig,
    cross_per_mean: f64,
    knots: usize,
}

impl<'a> ErrorModel<'a> {
    fn new(cfg: &'a ProbabilisticConfig, max_lead_h: f64) -> Self {
        let g = anisotropy_factor(cfg.along_to_cross_ratio);
        // ok: max lead ≤ a few hundred hours, error_step_h ≥ 0.5 (validated).
        let knots = (max_lead_h.max(0.0) / cfg.error_step_h).ceil() as usize + 1;
        ErrorModel {
            cfg,
            cross_per_mean: 1.0 / (SQRT_HALF_PI * g),
            knots,
        }
    }

    fn sample(&self, seed: u64, index: usize) -> KnotErrors {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // One ChaCha stream per realisation: the draws of realisation i do not depend on
        // how many others there are or on which thread makes them.
        rng.set_stream(index as u64);
        let c = self.cfg;
        let (pt, pv) = (
            c.track_error_autocorrelation,
            c.intensity_error_autocorrelation,
        );
        let (it, iv) = ((1.0 - pt * pt).sqrt(), (1.0 - pv * pv).sqrt());
        let mut z: [f64; 3] = [0.0; 3];
        let mut out = KnotErrors {
            along_nm: Vec::with_capacity(self.knots),
            cross_nm: Vec::with_capacity(self.knots),
            vmax_kt: Vec::with_capacity(self.knots),
        };
        for j in 0..self.knots {
            let e: [f64; 3] = [
                rng.sample(StandardNormal),
                rng.sample(StandardNormal),
                rng.sample(StandardNormal),
            ];
            z = if j == 0 {
                e
            } else {
                [
                    pt * z[0] + it * e[0],
                    pt * z[1] + it * e[1],
                    pv * z[2] + iv * e[2],
                ]
            };
            let t = j as f64 * c.error_step_h;
            let cross_sd = table(&c.lead_h, &c.mean_track_error_nm, t) * self.cross_per_mean;
            out.along_nm.push(c.along_to_cross_ratio * cross_sd * z[0]);
            out.cross_nm.push(cross_sd * z[1]);
            out.vmax_kt
                .push(table(&c.lead_h, &c.intensity_error_kt, t) * SQRT_HALF_PI * z[2]);
        }
        out
    }
}

/// Linear interpolation of knot values at lead `t`.
fn at_knots(v: &[f64], step_h: f64, t: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    let f = t / step_h;
    // ok: t and step are finite and positive; the index is clamped below.
    let j = f.floor() as usize;
    let r = f - j as f64;
    match (v.get(j), v.get(j + 1)) {
        (Some(a), Some(b)) => a + (b - a) * r,
        (Some(a), None) => *a,
        _ => v.last().copied().unwrap_or(0.0),
    }
}

/// A realisation's radii for every threshold from the forecast's, scaled to intensity `v`
/// (see the module notes). Unchanged when either intensity is unknown.
fn scaled_radii(
    det: &[QuadrantRadii],
    thresholds: &[f64],
    v_det: Option<f64>,
    v: Option<f64>,
    cfg: &ProbabilisticConfig,
    out: &mut Vec<[f32; 4]>,
) {
    let as_f32 = |r: &QuadrantRadii, f: f64| {
        [
            (r.ne_nm * f) as f32,
            (r.se_nm * f) as f32,
            (r.sw_nm * f) as f32,
            (r.nw_nm * f) as f32,
        ]
    };
    let inv_x = 1.0 / cfg.rankine_exponent;
    let (Some(vd), Some(v)) = (v_det, v) else {
        out.extend(det.iter().map(|r| as_f32(r, 1.0)));
        return;
    };
    let f = if vd > 0.0 {
        (v / vd).powf(inv_x).min(cfg.max_radius_scale)
    } else {
        1.0
    };
    for (k, (&thr, r)) in thresholds.iter().zip(det).enumerate() {
        if v < thr {
            out.push([0.0; 4]);
        } else if !r.is_zero() {
            out.push(as_f32(r, f));
        } else {
            // The forecast does not reach k anywhere: size from the highest lower threshold
            // it reaches, on the same vortex.
            let lower = (0..k)
                .rev()
                .find_map(|j| det.get(j).filter(|r| !r.is_zero()).zip(thresholds.get(j)));
            match lower {
                Some((rj, &tj)) => out.push(as_f32(rj, f * (tj / thr).powf(inv_x))),
                None => out.push([0.0; 4]),
            }
        }
    }
}

/// The forecast itself on the fine grid (no perturbation): a member of an ensemble, or the
/// deterministic reference realisations are compared with.
pub fn unperturbed_realisation(
    forecast: &Forecast,
    cfg: &ProbabilisticConfig,
    hazard: &HazardConfig,
) -> Result<Realisation, EnsembleError> {
    let g = det_grid(forecast, cfg, hazard)?;
    let k = cfg.thresholds_kt.len();
    let mut radii_nm = Vec::with_capacity(g.lead_h.len() * k);
    for (r, v) in g.radii.iter().zip(&g.vmax) {
        scaled_radii(r, &cfg.thresholds_kt, *v, *v, cfg, &mut radii_nm);
    }
    Ok(Realisation {
        vmax_kt: g
            .vmax
            .iter()
            .map(|v| v.map_or(f32::NAN, |v| v as f32))
            .collect(),
        lead_h: g.lead_h,
        centre: g.pos,
        radii_nm,
        thresholds: k,
    })
}

/// `cfg.realisations` perturbed copies of the forecast, made in parallel (rayon); the same
/// forecast, configuration and seed give the same set on any machine and thread count.
pub fn perturbed_realisations(
    forecast: &Forecast,
    cfg: &ProbabilisticConfig,
    hazard: &HazardConfig,
    land: &LandMask,
    seed: u64,
) -> Result<RealisationSet, EnsembleError> {
    cfg.validate()?;
    let g = det_grid(forecast, cfg, hazard)?;
    let max_lead = g.lead_h.last().copied().unwrap_or(0.0);
    let model = ErrorModel::new(cfg, max_lead);
    let det_land: Vec<bool> = g.pos.iter().map(|p| land.is_land(p.x(), p.y())).collect();
    // Kaplan & DeMaria's Vb is a 1-minute wind; the winds here are 10-minute means.
    let vb = cfg.decay_background_kt * ONE_MIN_TO_TEN_MIN;
    let realisations: Vec<Realisation> = (0..cfg.realisations)
        .into_par_iter()
        .map(|index| {
            let e = model.sample(seed, index);
            let k = cfg.thresholds_kt.len();
            let n = g.lead_h.len();
            let mut r = Realisation {
                lead_h: g.lead_h.clone(),
                centre: Vec::with_capacity(n),
                vmax_kt: Vec::with_capacity(n),
                radii_nm: Vec::with_capacity(n * k),
                thresholds: k,
            };
            let mut landfall: Option<(f64, f64)> = None;
            for s in 0..n {
                let (Some(&t), Some(&pos), Some(&hd), Some(&vdet), Some(det_r), Some(&dl)) = (
                    g.lead_h.get(s),
                    g.pos.get(s),
                    g.heading_deg.get(s),
                    g.vmax.get(s),
                    g.radii.get(s),
                    det_land.get(s),
                ) else {
                    continue;
                };
                let a = at_knots(&e.along_nm, cfg.error_step_h, t);
                let c = at_knots(&e.cross_nm, cfg.error_step_h, t);
                let d_m = a.hypot(c) * METRES_PER_NM;
                let centre = if d_m > 0.0 {
                    Haversine.destination(pos, hd + c.atan2(a).to_degrees(), d_m)
                } else {
                    pos
                };
                let over_land = land.is_land(centre.x(), centre.y());
                let v = vdet.map(|vd| {
                    let base = (vd + at_knots(&e.vmax_kt, cfg.error_step_h, t)).max(0.0);
                    if !over_land {
                        landfall = None;
                        return base;
                    }
                    if landfall.is_none() && !dl {
                        landfall = Some((t, base));
                    }
                    match landfall {
                        Some((tl, v0)) => {
                            let rv0 = cfg.decay_landfall_reduction * v0;
                            let decayed =
                                vb + (rv0 - vb) * (-cfg.decay_rate_per_h * (t - tl)).exp();
                            base.min(decayed).min(rv0.max(vb))
                        }
                        None => base,
                    }
                });
                r.centre.push(centre);
                r.vmax_kt.push(v.map_or(f32::NAN, |v| v as f32));
                scaled_radii(det_r, &cfg.thresholds_kt, vdet, v, cfg, &mut r.radii_nm);
            }
            r
        })
        .collect();
    let mut notes = vec![format!(
        "{} realisations of the forecast track (seed {seed}): along/cross-track errors with \
         mean {} nm at {} h (AR(1), φ = {} per {} h), intensity errors with mean absolute \
         error {} kt, Kaplan & DeMaria (1995) decay over land, radii scaled by (V/V_forecast)^{:.2} \
         (modified Rankine vortex, x = {}); land is inside Mozambique's districts only \
         (neighbouring countries count as sea)",
        cfg.realisations,
        fmt_list(&cfg.mean_track_error_nm),
        fmt_list(&cfg.lead_h),
        cfg.track_error_autocorrelation,
        cfg.error_step_h,
        fmt_list(&cfg.intensity_error_kt),
        1.0 / cfg.rankine_exponent,
        cfg.rankine_exponent,
    )];
    if g.vmax.iter().any(Option::is_none) {
        notes.push(
            "some fixes have no maximum wind: there the intensity is not perturbed and the \
             forecast's radii are used as they are"
                .to_string(),
        );
    }
    Ok(RealisationSet {
        realisations,
        notes,
    })
}

fn fmt_list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x}"))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_anisotropy_factor_is_one_for_isotropic_errors_and_grows_with_the_ratio() {
        assert!((anisotropy_factor(1.0) - 1.0).abs() < 1e-12);
        let g2 = anisotropy_factor(2.0);
        // Between the quadratic mean √((4+1)/2) and the arithmetic bound (2+1)/2.
        assert!(g2 > 1.4 && g2 < (2.5f64).sqrt(), "{g2}");
    }

    #[test]
    fn the_error_table_is_linear_from_zero_and_keeps_growing_past_its_end() {
        let leads = [24.0, 48.0];
        let v = [50.0, 80.0];
        assert_eq!(table(&leads, &v, 0.0), 0.0);
        assert!((table(&leads, &v, 12.0) - 25.0).abs() < 1e-12);
        assert!((table(&leads, &v, 36.0) - 65.0).abs() < 1e-12);
        assert!((table(&leads, &v, 72.0) - 110.0).abs() < 1e-12);
    }

    #[test]
    fn radii_vanish_below_the_threshold_and_keep_the_asymmetry_above() {
        let cfg = ProbabilisticConfig::default();
        let det = [
            QuadrantRadii::new(120.0, 100.0, 60.0, 80.0),
            QuadrantRadii::new(60.0, 50.0, 30.0, 40.0),
            QuadrantRadii::new(0.0, 0.0, 0.0, 0.0),
        ];
        let th = [34.0, 48.0, 64.0];
        let mut out = Vec::new();
        // Weaker than 48 kt: only the 34 kt radii remain, shrunk by (40/60)^2.
        scaled_radii(&det, &th, Some(60.0), Some(40.0), &cfg, &mut out);
        let f = (40.0f64 / 60.0).powi(2);
        for (got, want) in out[0].iter().zip([120.0, 100.0, 60.0, 80.0]) {
            assert!(
                (f64::from(*got) - want * f).abs() < 1e-4,
                "{got} vs {}",
                want * f
            );
        }
        assert_eq!(out[1], [0.0; 4]);
        assert_eq!(out[2], [0.0; 4]);
        // Stronger than 64 kt although the forecast is not: 64 kt radii from the 48 kt ones.
        out.clear();
        scaled_radii(&det, &th, Some(60.0), Some(70.0), &cfg, &mut out);
        for ((r64, r48), r34) in out[2].iter().zip(&out[1]).zip(&out[0]) {
            assert!(*r64 > 0.0 && r64 < r48 && r48 < r34, "{r64} {r48} {r34}");
        }
        // Same intensity: the forecast's radii.
        out.clear();
        scaled_radii(&det, &th, Some(60.0), Some(60.0), &cfg, &mut out);
        assert_eq!(out[0], [120.0, 100.0, 60.0, 80.0]);
        assert_eq!(out[2], [0.0; 4]);
    }

    #[test]
    fn the_same_seed_gives_the_same_errors_and_another_seed_others() {
        let cfg = ProbabilisticConfig::default();
        let m = ErrorModel::new(&cfg, 120.0);
        let (a, b, c) = (m.sample(7, 3), m.sample(7, 3), m.sample(8, 3));
        assert_eq!(a.along_nm, b.along_nm);
        assert_eq!(a.vmax_kt, b.vmax_kt);
        assert_ne!(a.along_nm, c.along_nm);
        assert_eq!(a.along_nm[0], 0.0);
        assert_ne!(m.sample(7, 4).cross_nm, a.cross_nm);
    }
}
