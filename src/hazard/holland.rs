//! Parametric wind profile for fixes without wind radii: Holland (1980) radial shape with
//! the surface B parameter of Holland (2008), pinned to the forecast's maximum wind, plus a
//! translation asymmetry; solved for the radius of a wind threshold in each quadrant.
//!
//! Pure numerics; must not depend on I/O, geometry crates or forecast sources.

use crate::domain::{Knots, MS_PER_KT, NauticalMiles, Quadrant, QuadrantRadii, WindAveraging};

use super::ProfileConfig;

/// Holland (2008) surface B parameter ("b_s"), eq. (11) of
/// Holland, G. J. (2008): A revised hurricane pressure–wind model. Mon. Wea. Rev. 136,
/// 3432–3445, doi:10.1175/2008MWR2395.1 (the form CLIMADA implements in
/// `trop_cyclone_windfields._bs_holland_2008`):
///
/// b_s = −4.4e−5 Δp² + 0.01 Δp + 0.03 ∂p_c/∂t − 0.014 |φ| + 0.15 v_t^x + 1.0,
/// x = 0.6 (1 − Δp / 215)
///
/// with Δp = p_env − p_c in hPa, ∂p_c/∂t in hPa per hour, φ the latitude in degrees and v_t
/// the translation speed in m/s. It is fitted to 1-minute sustained winds at 10 m.
/// Clipped to [`B_MIN`, `B_MAX`].
pub fn holland_2008_b(
    delta_p_hpa: f64,
    dp_dt_hpa_per_h: f64,
    lat_deg: f64,
    translation_ms: f64,
) -> f64 {
    let dp = delta_p_hpa.max(0.0);
    let x = 0.6 * (1.0 - dp / 215.0);
    let b = -4.4e-5 * dp * dp + 0.01 * dp + 0.03 * dp_dt_hpa_per_h - 0.014 * lat_deg.abs()
        + 0.15 * translation_ms.max(0.0).powf(x)
        + 1.0;
    b.clamp(B_MIN, B_MAX)
}

/// Lower bound of B: Holland (1980) gives 1 ≤ B ≤ 2.5 as the physically plausible range.
pub const B_MIN: f64 = 1.0;
/// Upper bound of B (Holland 1980, see [`B_MIN`]).
pub const B_MAX: f64 = 2.5;

/// Atkinson & Holliday (1977) wind–pressure relationship, inverted for central pressure:
/// V_max = 6.7 (1010 − p_c)^0.644 with V_max the 1-minute wind in knots, hence
/// p_c = 1010 − (V_max / 6.7)^(1 / 0.644).
/// Atkinson, G. D., and C. R. Holliday (1977): Tropical cyclone minimum sea level
/// pressure/maximum sustained wind relationship for the western North Pacific.
/// Mon. Wea. Rev. 105, 421–427.
pub fn atkinson_holliday_central_pressure_hpa(vmax_1min_kt: f64) -> f64 {
    ATKINSON_HOLLIDAY_REFERENCE_HPA - (vmax_1min_kt.max(0.0) / 6.7).powf(1.0 / 0.644)
}

/// The environmental pressure the Atkinson–Holliday fit is referenced to (hPa).
pub const ATKINSON_HOLLIDAY_REFERENCE_HPA: f64 = 1010.0;

/// Willoughby, Darling & Rahn (2006) climatology of the radius of maximum wind, eq. (7a):
/// R_max = 46.4 exp(−0.0155 V_max + 0.0169 |φ|) km, with V_max the maximum wind at gradient
/// level in m/s and φ the latitude in degrees.
/// Willoughby, H. E., R. W. R. Darling and M. E. Rahn (2006): Parametric representation of
/// the primary hurricane vortex. Part II: A new family of sectionally continuous profiles.
/// Mon. Wea. Rev. 134, 1102–1120.
///
/// The surface 1-minute wind is lifted to gradient level with [`SURFACE_TO_GRADIENT`].
pub fn willoughby_2006_rmw_km(vmax_1min_surface_ms: f64, lat_deg: f64) -> f64 {
    let v_gradient = vmax_1min_surface_ms.max(0.0) / SURFACE_TO_GRADIENT;
    46.4 * (-0.0155 * v_gradient + 0.0169 * lat_deg.abs()).exp()
}

/// Surface (10 m) to gradient-level wind ratio, the "90 % rule" of Franklin, J. L.,
/// M. L. Black and K. Valde (2003): GPS dropwindsonde wind profiles in hurricanes and their
/// operational implications. Wea. Forecasting 18, 32–44 (CLIMADA's default too).
pub const SURFACE_TO_GRADIENT: f64 = 0.9;

/// Everything the profile needs at one fix, in the units of the sources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileInputs {
    pub lat_deg: f64,
    /// Maximum sustained wind in the forecast's averaging.
    pub vmax_kt: f64,
    pub averaging: WindAveraging,
    pub central_pressure_hpa: Option<f64>,
    /// Pressure of the last closed isobar; the config's default when `None`.
    pub env_pressure_hpa: Option<f64>,
    /// Tendency of the central pressure (hPa/h); 0 when unknown.
    pub dp_dt_hpa_per_h: f64,
    pub rmw_nm: Option<f64>,
    /// Storm motion speed (knots) and the bearing it moves toward (degrees).
    pub translation_kt: f64,
    pub translation_toward_deg: f64,
}

/// A Holland profile fitted at one fix. Winds inside are 1-minute surface winds (m/s), the
/// averaging Holland (2008) is fitted to; thresholds come in and results go out as 10-minute
/// winds through [`WindAveraging`] (10-min = 0.88 × 1-min, WMO/TD-1555 operational factor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HollandProfile {
    /// Peak of the symmetric (storm-relative) 1-minute wind, m/s.
    pub vmax_sym_ms: f64,
    pub rmw_m: f64,
    pub b: f64,
    /// Wind added on the strong side: `translation_factor` × translation speed, m/s.
    pub asymmetry_ms: f64,
    /// Bearing of the strong side (left of motion in the southern hemisphere, right in
    /// the northern), degrees.
    pub strong_side_deg: f64,
    /// True when RMW came from the Willoughby et al. (2006) climatology.
    pub rmw_from_climatology: bool,
    /// True when central pressure came from the Atkinson–Holliday (1977) relationship.
    pub pressure_from_wind: bool,
}

impl HollandProfile {
    /// Fits the profile; `None` when the maximum wind is not a positive number.
    ///
    /// The radial shape is Holland (1980) in its cyclostrophic form with the surface B of
    /// Holland (2008) (equivalently Holland et al. 2010, eq. 6, with x = 0.5):
    /// V(r) = V_m [ (R_m/r)^B exp(1 − (R_m/r)^B) ]^½, for r ≥ R_m.
    /// V_m is not taken from the pressure deficit but pinned to the forecast's own maximum
    /// wind: the forecaster's intensity is what aviso must honour, and pressure (often
    /// missing in forecasts) then only shapes the decay through B.
    ///
    /// Asymmetry: the storm's translation adds `translation_factor × c` on the strong side
    /// and subtracts it on the weak side, as cos(θ − θ_strong). The forecast maximum already
    /// includes that boost, so the symmetric peak is V_max − factor × c (as CLIMADA does
    /// with the full translation speed).
    pub fn fit(inputs: &ProfileInputs, cfg: &ProfileConfig) -> Option<HollandProfile> {
        if !(inputs.vmax_kt.is_finite() && inputs.vmax_kt > 0.0) {
            return None;
        }
        let vmax_10 = inputs.averaging.to_ten_minute(Knots(inputs.vmax_kt));
        let vmax_1min = WindAveraging::OneMinute.from_ten_minute(vmax_10);
        let vmax_1min_ms = vmax_1min.to_ms();

        let translation_kt = finite_or(inputs.translation_kt, 0.0).max(0.0);
        let translation_ms = translation_kt * MS_PER_KT;
        let asymmetry_ms = cfg.translation_factor * translation_ms;
        let vmax_sym_ms = (vmax_1min_ms - asymmetry_ms).max(0.0);
        if vmax_sym_ms <= 0.0 {
            return None;
        }

        let env_hpa = inputs
            .env_pressure_hpa
            .filter(|p| p.is_finite() && *p > 800.0)
            .unwrap_or(cfg.env_pressure_hpa);
        let (pc_hpa, pressure_from_wind) = match inputs
            .central_pressure_hpa
            .filter(|p| p.is_finite() && *p > 800.0)
        {
            Some(p) => (p, false),
            None => (atkinson_holliday_central_pressure_hpa(vmax_1min.0), true),
        };
        // A deficit below 1 hPa is noise; keep B defined.
        let delta_p = (env_hpa - pc_hpa).max(1.0);
        let dp_dt = if pressure_from_wind {
            0.0
        } else {
            finite_or(inputs.dp_dt_hpa_per_h, 0.0)
        };
        let b = holland_2008_b(delta_p, dp_dt, inputs.lat_deg, translation_ms);

        let (rmw_m, rmw_from_climatology) =
            match inputs.rmw_nm.filter(|r| r.is_finite() && *r > 0.0) {
                Some(r) => (NauticalMiles(r).to_m(), false),
                None => (
                    willoughby_2006_rmw_km(vmax_1min_ms, inputs.lat_deg) * 1000.0,
                    true,
                ),
            };

        let toward = finite_or(inputs.translation_toward_deg, 0.0);
        // Southern hemisphere: cyclonic flow is clockwise, so the motion adds to the wind
        // on the LEFT of the track; northern hemisphere: on the right.
        let strong_side_deg = if inputs.lat_deg < 0.0 {
            (toward - 90.0).rem_euclid(360.0)
        } else {
            (toward + 90.0).rem_euclid(360.0)
        };

        Some(HollandProfile {
            vmax_sym_ms,
            rmw_m,
            b,
            asymmetry_ms,
            strong_side_deg,
            rmw_from_climatology,
            pressure_from_wind,
        })
    }

    /// Symmetric (storm-relative) 1-minute surface wind at `r_m` metres, m/s.
    /// Inside the RMW the profile is held at its peak (the footprint only needs the
    /// outer, monotonically decreasing side).
    pub fn symmetric_wind_ms(&self, r_m: f64) -> f64 {
        if r_m <= self.rmw_m {
            return self.vmax_sym_ms;
        }
        let y = (self.rmw_m / r_m).powf(self.b);
        self.vmax_sym_ms * (y * (1.0 - y).exp()).sqrt()
    }

    /// Wind at `r_m` metres on `bearing_deg`, as a 10-minute mean in knots.
    pub fn wind_10min_kt(&self, r_m: f64, bearing_deg: f64) -> f64 {
        let v1 = self.symmetric_wind_ms(r_m) + self.asymmetry_ms * self.cos_to_strong(bearing_deg);
        WindAveraging::OneMinute
            .to_ten_minute(Knots::from_ms(v1.max(0.0)))
            .0
    }

    fn cos_to_strong(&self, bearing_deg: f64) -> f64 {
        (bearing_deg - self.strong_side_deg).to_radians().cos()
    }

    /// The outermost radius (metres) on `bearing_deg` where the 10-minute wind reaches
    /// `threshold_10min_kt`; 0 when it is never reached; `max_radius_m` at most.
    pub fn radius_of_threshold_m(
        &self,
        threshold_10min_kt: f64,
        bearing_deg: f64,
        max_radius_m: f64,
    ) -> f64 {
        let threshold_1min_ms = WindAveraging::OneMinute
            .from_ten_minute(Knots(threshold_10min_kt))
            .to_ms();
        // The symmetric part must supply what translation does not on this bearing.
        let target = threshold_1min_ms - self.asymmetry_ms * self.cos_to_strong(bearing_deg);
        if target > self.vmax_sym_ms {
            return 0.0;
        }
        if self.symmetric_wind_ms(max_radius_m) >= target {
            return max_radius_m;
        }
        // V_sym decreases monotonically outside the RMW: bisect on [RMW, max].
        let (mut lo, mut hi) = (self.rmw_m.min(max_radius_m), max_radius_m);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if self.symmetric_wind_ms(mid) >= target {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1.0 {
                break;
            }
        }
        lo
    }

    /// Quadrant radii (nm) of a 10-minute threshold: per quadrant, the radius where the wind
    /// reaches the threshold on the quadrant's mid-bearing (45°, 135°, 225°, 315°).
    pub fn quadrant_radii(&self, threshold_10min_kt: f64, max_radius_nm: f64) -> QuadrantRadii {
        let max_m = NauticalMiles(max_radius_nm).to_m();
        let r = Quadrant::ALL.map(|q| {
            let (a, b) = q.bearing_range_deg();
            let m = self.radius_of_threshold_m(threshold_10min_kt, 0.5 * (a + b), max_m);
            NauticalMiles::from_km(m / 1000.0).0
        });
        QuadrantRadii {
            ne_nm: r[0],
            se_nm: r[1],
            sw_nm: r[2],
            nw_nm: r[3],
        }
    }
}

fn finite_or(v: f64, fallback: f64) -> f64 {
    if v.is_finite() { v } else { fallback }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cfg() -> ProfileConfig {
        ProfileConfig::default()
    }

    fn inputs(lat: f64, toward: f64, speed: f64) -> ProfileInputs {
        ProfileInputs {
            lat_deg: lat,
            vmax_kt: 90.0,
            averaging: WindAveraging::TenMinute,
            central_pressure_hpa: Some(950.0),
            env_pressure_hpa: Some(1008.0),
            dp_dt_hpa_per_h: 0.0,
            rmw_nm: Some(20.0),
            translation_kt: speed,
            translation_toward_deg: toward,
        }
    }

    #[test]
    fn holland_2008_b_matches_a_hand_computation() {
        // Δp = 33 hPa, φ = 18.9°, v_t = 2.57 m/s (5 kt):
        // x = 0.6 (1 − 33/215) = 0.50791; 2.57^x = 1.6150
        // b = −0.047916 + 0.33 − 0.2646 + 0.242 + 1 = 1.2596
        let b = holland_2008_b(33.0, 0.0, -18.9, 2.57);
        assert!((b - 1.2596).abs() < 1e-3, "b = {b}");
    }

    #[test]
    fn b_is_clipped_to_the_holland_1980_range() {
        assert_eq!(holland_2008_b(0.0, 0.0, -60.0, 0.0), B_MIN);
        assert_eq!(holland_2008_b(110.0, 30.0, 0.0, 30.0), B_MAX);
    }

    #[test]
    fn atkinson_holliday_round_trips_the_published_fit() {
        // 6.7 × (1010 − 950)^0.644 = 93.5 kt
        let pc = atkinson_holliday_central_pressure_hpa(6.7 * 60f64.powf(0.644));
        assert!((pc - 950.0).abs() < 1e-9);
        assert!((6.7 * 60f64.powf(0.644) - 93.5).abs() < 0.1);
    }

    #[test]
    fn willoughby_rmw_shrinks_with_intensity_and_grows_poleward() {
        let weak = willoughby_2006_rmw_km(25.0, -15.0);
        let strong = willoughby_2006_rmw_km(60.0, -15.0);
        let poleward = willoughby_2006_rmw_km(60.0, -30.0);
        assert!(strong < weak);
        assert!(poleward > strong);
        // 46.4 exp(−0.0155 × 50 + 0.0169 × 20) = 46.4 × exp(−0.437) = 29.98 km
        assert!((willoughby_2006_rmw_km(45.0, 20.0) - 29.98).abs() < 0.05);
    }

    #[test]
    fn the_profile_peaks_at_the_forecast_maximum_on_the_strong_side() {
        let p = HollandProfile::fit(&inputs(-18.0, 270.0, 15.0), &cfg()).unwrap();
        // Westward motion in the southern hemisphere: strong side is south (180°).
        assert!((p.strong_side_deg - 180.0).abs() < 1e-9);
        let peak = p.wind_10min_kt(p.rmw_m, 180.0);
        assert!((peak - 90.0).abs() < 1e-6, "peak {peak}");
        assert!(p.wind_10min_kt(p.rmw_m, 0.0) < peak);
    }

    #[test]
    fn threshold_radius_is_where_the_wind_equals_the_threshold() {
        let p = HollandProfile::fit(&inputs(-18.0, 270.0, 10.0), &cfg()).unwrap();
        for bearing in [0.0, 90.0, 180.0, 270.0] {
            let r = p.radius_of_threshold_m(34.0, bearing, 1.0e6);
            assert!(r > p.rmw_m);
            assert!((p.wind_10min_kt(r, bearing) - 34.0).abs() < 0.01);
        }
        assert_eq!(p.radius_of_threshold_m(150.0, 180.0, 1.0e6), 0.0);
    }

    #[test]
    fn northern_hemisphere_storms_are_stronger_on_the_right() {
        let p = HollandProfile::fit(&inputs(18.0, 270.0, 15.0), &cfg()).unwrap();
        assert!((p.strong_side_deg - 0.0).abs() < 1e-9);
        let north = p.radius_of_threshold_m(48.0, 0.0, 1.0e6);
        let south = p.radius_of_threshold_m(48.0, 180.0, 1.0e6);
        assert!(north > south);
    }

    #[test]
    fn fallbacks_are_flagged() {
        let mut i = inputs(-18.0, 270.0, 10.0);
        i.central_pressure_hpa = None;
        i.rmw_nm = None;
        let p = HollandProfile::fit(&i, &cfg()).unwrap();
        assert!(p.pressure_from_wind && p.rmw_from_climatology);
    }
}
