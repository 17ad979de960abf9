//! Probabilistic wind from realisations (issue 12): N perturbed tracks around one
//! deterministic forecast (or the members of an ensemble), each with its own intensity and
//! wind radii, counted at every district, province and point to give P(wind ≥ 34/48/64 kt)
//! in cumulative lead-time windows and people at risk as an expected value with quantiles.
//!
//! Method after the NHC wind speed probabilities (DeMaria et al. 2009, Wea. Forecasting
//! 24:1573; DeMaria et al. 2013, Wea. Forecasting 28:586); details in `realisations`
//! (error model, land decay, radii) and `probability` (counting).
//!
//! Pure computation on `crate::domain` types: no I/O, no clock; must not depend on feeds,
//! exposure, alerts or any adapter. Randomness is seeded (ChaCha8, portable).

mod arrival;
pub mod contours;
mod land;
pub mod members;
pub mod probability;
pub mod realisations;
mod targets;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::domain::{Forecast, Layers};

pub use contours::{CONTOUR_LEVELS, ProbabilityContour, probability_contours};
pub use land::LandMask;
pub use members::{assess_ensemble, member_realisations};
pub use probability::{
    AreaProbability, CountMethod, PeopleAtRisk, PointProbability, ProbabilisticAssessment,
    ProbabilityTargets, count_exceedances, count_exceedances_by,
};
pub use realisations::{Realisation, perturbed_realisations, unperturbed_realisation};

use super::{HazardConfig, HazardError};

/// Lead times (h) of the default error tables.
pub const DEFAULT_LEAD_H: [f64; 5] = [24.0, 48.0, 72.0, 96.0, 120.0];

/// Mean official track error (nm) of the Southern Hemisphere at [`DEFAULT_LEAD_H`]:
/// Tropical Storm Risk (TSR) verification of the official forecasts 2014–2018, as quoted in
/// aviso issue 12: 50, 83, 119, 162, 223 nm.
pub const SH_MEAN_TRACK_ERROR_NM: [f64; 5] = [50.0, 83.0, 119.0, 162.0, 223.0];

/// Mean absolute intensity error (kt) at [`DEFAULT_LEAD_H`]. About 10 kt at 24 h rising to
/// about 20 kt at 120 h: the order of the NHC official Atlantic intensity errors of
/// DeMaria et al. (2009, table 1) and of the SWIO figures quoted in aviso issue 12. No
/// RSMC La Réunion table was at hand: replace with its verification when adopted.
pub const DEFAULT_INTENSITY_MAE_KT: [f64; 5] = [10.0, 14.0, 17.0, 19.0, 20.0];

/// How the random seed of an assessment is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedPolicy {
    /// SHA-256 of the storm id and the reference time: the same issuance gives the same
    /// realisations on any machine and a re-run does not flap a level on noise.
    Issuance,
    /// `fixed_seed` for every issuance (tests, comparisons).
    Fixed,
}

/// `[probabilistic]` in the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticConfig {
    /// The service (`aviso serve`) assesses every cyclone version it publishes
    /// probabilistically and publishes the result with it (GeoJSON document, CAP
    /// certainty, OGC API, map). `aviso assess --probabilistic` ignores it.
    pub publish: bool,
    /// Longest time (s) a version waits for its probabilities before it is published
    /// without them; they are attached to its document when ready. 0: never wait.
    pub publish_wait_s: f64,
    /// Number of realisations (NHC: 1,000; DeMaria et al. 2009).
    pub realisations: usize,
    pub seed_policy: SeedPolicy,
    /// The seed when `seed_policy = "fixed"`.
    pub fixed_seed: u64,
    /// Lead times (h) of the error tables, strictly ascending, > 0.
    pub lead_h: Vec<f64>,
    /// Mean position error (nm) of the official track at each `lead_h`.
    pub mean_track_error_nm: Vec<f64>,
    /// Mean absolute error (kt, 10-minute wind) of the official intensity at each `lead_h`.
    pub intensity_error_kt: Vec<f64>,
    /// Ratio of the along-track to the cross-track error standard deviation.
    pub along_to_cross_ratio: f64,
    /// Time between the error process's steps (h); errors are interpolated linearly between.
    pub error_step_h: f64,
    /// Lag-one autocorrelation of the standardised track errors from one error step to the
    /// next (AR(1), DeMaria et al. 2009).
    pub track_error_autocorrelation: f64,
    /// The same for the intensity error.
    pub intensity_error_autocorrelation: f64,
    /// Thresholds (10-minute kt), strictly ascending, each among 28/34/48/64.
    pub thresholds_kt: Vec<f64>,
    /// Ends of the cumulative windows (h after the reference time), strictly ascending.
    pub windows_h: Vec<f64>,
    /// Longest time between two tested positions of a realisation (min, ≤ 30).
    pub step_minutes: f64,
    /// Longest distance the deterministic centre moves between two tested positions (km).
    pub max_step_km: f64,
    /// Exponent x of the modified Rankine vortex V(r) = Vmax (Rm / r)^x that scales the
    /// radii with each realisation's intensity.
    pub rankine_exponent: f64,
    /// Largest factor a realisation's radii may be scaled up by.
    pub max_radius_scale: f64,
    /// Kaplan & DeMaria (1995) inland decay rate α (per hour).
    pub decay_rate_per_h: f64,
    /// Kaplan & DeMaria (1995) background wind Vb (kt, 1-minute as in the paper).
    pub decay_background_kt: f64,
    /// Kaplan & DeMaria (1995) reduction R at landfall.
    pub decay_landfall_reduction: f64,
    /// Spacing (degrees) of the sample points that stand for each district's area.
    pub sample_spacing_deg: f64,
    /// Spacing (degrees) of the grid the probability contours are traced on (coarsened
    /// when a footprint is very wide); 0 turns the contours off.
    pub contour_spacing_deg: f64,
}

impl Default for ProbabilisticConfig {
    fn default() -> Self {
        ProbabilisticConfig {
            publish: true,
            publish_wait_s: 1.0,
            realisations: 1000,
            seed_policy: SeedPolicy::Issuance,
            fixed_seed: 0,
            lead_h: DEFAULT_LEAD_H.to_vec(),
            mean_track_error_nm: SH_MEAN_TRACK_ERROR_NM.to_vec(),
            intensity_error_kt: DEFAULT_INTENSITY_MAE_KT.to_vec(),
            along_to_cross_ratio: 1.0,
            error_step_h: 6.0,
            track_error_autocorrelation: 0.9,
            intensity_error_autocorrelation: 0.8,
            thresholds_kt: vec![34.0, 48.0, 64.0],
            windows_h: vec![24.0, 48.0, 72.0, 120.0],
            step_minutes: 30.0,
            max_step_km: 10.0,
            rankine_exponent: 0.5,
            max_radius_scale: 2.0,
            decay_rate_per_h: 0.095,
            decay_background_kt: 26.7,
            decay_landfall_reduction: 0.9,
            sample_spacing_deg: 0.1,
            contour_spacing_deg: 0.1,
        }
    }
}

/// Why a probabilistic assessment could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnsembleError {
    #[error("probabilistic config: `{field}` must be {expected}, found {found}")]
    InvalidConfig {
        field: String,
        expected: String,
        found: String,
    },
    #[error(transparent)]
    Hazard(#[from] HazardError),
    #[error("{origin}: ensemble member {number}: {reason}")]
    Member {
        origin: String,
        number: u32,
        reason: String,
    },
    #[error(
        "realisation {index}: radii for {found} thresholds, expected {expected} (one per \
         configured threshold, in the same order)"
    )]
    ThresholdMismatch {
        index: usize,
        expected: usize,
        found: usize,
    },
}

fn invalid(field: &str, expected: &str, found: impl std::fmt::Display) -> EnsembleError {
    EnsembleError::InvalidConfig {
        field: format!("probabilistic.{field}"),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

fn positive_increasing(field: &str, v: &[f64], len: usize) -> Result<(), EnsembleError> {
    if v.len() != len {
        return Err(invalid(
            field,
            &format!("{len} values, one per probabilistic.lead_h"),
            format!("{} values", v.len()),
        ));
    }
    if let Some(bad) = v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        return Err(invalid(field, "positive numbers", bad));
    }
    // ok: `windows(2)` yields slices of exactly two.
    if v.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(
            field,
            "strictly increasing with lead time",
            format!("{v:?}"),
        ));
    }
    Ok(())
}

fn in_range(field: &str, v: f64, lo: f64, hi: f64, what: &str) -> Result<(), EnsembleError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(invalid(field, what, v))
    }
}

impl ProbabilisticConfig {
    /// Checks every value once, naming the key of the first bad one.
    pub fn validate(&self) -> Result<(), EnsembleError> {
        if !(1..=100_000).contains(&self.realisations) {
            return Err(invalid(
                "realisations",
                "between 1 and 100000",
                self.realisations,
            ));
        }
        in_range(
            "publish_wait_s",
            self.publish_wait_s,
            0.0,
            600.0,
            "between 0 and 600 (seconds)",
        )?;
        positive_increasing("lead_h", &self.lead_h, self.lead_h.len())?;
        if self.lead_h.is_empty() {
            return Err(invalid("lead_h", "at least one lead time", "an empty list"));
        }
        positive_increasing(
            "mean_track_error_nm",
            &self.mean_track_error_nm,
            self.lead_h.len(),
        )?;
        positive_increasing(
            "intensity_error_kt",
            &self.intensity_error_kt,
            self.lead_h.len(),
        )?;
        in_range(
            "along_to_cross_ratio",
            self.along_to_cross_ratio,
            0.2,
            5.0,
            "between 0.2 and 5",
        )?;
        in_range(
            "error_step_h",
            self.error_step_h,
            0.5,
            24.0,
            "between 0.5 and 24 (hours)",
        )?;
        in_range(
            "track_error_autocorrelation",
            self.track_error_autocorrelation,
            0.0,
            0.999,
            "between 0 and 0.999",
        )?;
        in_range(
            "intensity_error_autocorrelation",
            self.intensity_error_autocorrelation,
            0.0,
            0.999,
            "between 0 and 0.999",
        )?;
        if self.thresholds_kt.is_empty()
            || self
                .thresholds_kt
                .iter()
                .any(|t| !super::ALLOWED_THRESHOLDS_KT.contains(t))
            || self.thresholds_kt.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(invalid(
                "thresholds_kt",
                "a strictly ascending list of values among 28, 34, 48, 64 (10-minute kt)",
                format!("{:?}", self.thresholds_kt),
            ));
        }
        if self.windows_h.is_empty()
            || self.windows_h.iter().any(|w| !(w.is_finite() && *w > 0.0))
            || self.windows_h.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(invalid(
                "windows_h",
                "a strictly ascending list of positive hours",
                format!("{:?}", self.windows_h),
            ));
        }
        in_range(
            "step_minutes",
            self.step_minutes,
            1.0,
            30.0,
            "between 1 and 30 (minutes)",
        )?;
        in_range(
            "max_step_km",
            self.max_step_km,
            1.0,
            100.0,
            "between 1 and 100 (km)",
        )?;
        in_range(
            "rankine_exponent",
            self.rankine_exponent,
            0.2,
            1.0,
            "between 0.2 and 1",
        )?;
        in_range(
            "max_radius_scale",
            self.max_radius_scale,
            1.0,
            5.0,
            "between 1 and 5",
        )?;
        in_range(
            "decay_rate_per_h",
            self.decay_rate_per_h,
            0.0,
            1.0,
            "between 0 and 1 (per hour)",
        )?;
        in_range(
            "decay_background_kt",
            self.decay_background_kt,
            0.0,
            60.0,
            "between 0 and 60 (kt)",
        )?;
        in_range(
            "decay_landfall_reduction",
            self.decay_landfall_reduction,
            0.1,
            1.0,
            "between 0.1 and 1",
        )?;
        in_range(
            "sample_spacing_deg",
            self.sample_spacing_deg,
            0.01,
            1.0,
            "between 0.01 and 1 (degrees)",
        )?;
        if self.contour_spacing_deg != 0.0 {
            in_range(
                "contour_spacing_deg",
                self.contour_spacing_deg,
                0.02,
                1.0,
                "0 (no contours) or between 0.02 and 1 (degrees)",
            )?;
        }
        Ok(())
    }

    /// The seed of an issuance under this policy.
    pub fn seed_for(&self, forecast: &Forecast) -> u64 {
        match self.seed_policy {
            SeedPolicy::Fixed => self.fixed_seed,
            SeedPolicy::Issuance => issuance_seed(forecast),
        }
    }
}

/// First 8 bytes (little-endian) of SHA-256("aviso-probabilistic|STORM ID|REFERENCE TIME"):
/// the same on every machine, different for every issuance.
pub fn issuance_seed(forecast: &Forecast) -> u64 {
    let mut h = Sha256::new();
    h.update(b"aviso-probabilistic|");
    h.update(forecast.storm.id.as_bytes());
    h.update(b"|");
    h.update(forecast.reference_time.to_rfc3339().as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    for (o, b) in first.iter_mut().zip(digest.iter()) {
        *o = *b;
    }
    u64::from_le_bytes(first)
}

/// The seed of one issuance of a published event: first 8 bytes (little-endian) of
/// SHA-256("aviso-probabilistic|EVENT ID|REFERENCE TIME"). The service uses it (under
/// `seed_policy = "issuance"`), so re-processing an issuance gives the same numbers and a
/// level never flaps on sampling noise between two runs of one forecast.
pub fn event_seed(event_id: &str, reference_time: chrono::DateTime<chrono::Utc>) -> u64 {
    let mut h = Sha256::new();
    h.update(b"aviso-probabilistic|");
    h.update(event_id.as_bytes());
    h.update(b"|");
    h.update(reference_time.to_rfc3339().as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    for (o, b) in first.iter_mut().zip(digest.iter()) {
        *o = *b;
    }
    u64::from_le_bytes(first)
}

/// Layers prepared once for probabilistic counting (test points, district samples, the
/// land mask); reuse them for every forecast.
pub struct PreparedLayers {
    pub targets: ProbabilityTargets,
    pub land: LandMask,
}

impl PreparedLayers {
    /// `weighting_layer`: the point layer whose points spread district population (""
    /// = the first settlement layer), as `[exposure] weighting_layer`.
    pub fn new(layers: &Layers, weighting_layer: &str, cfg: &ProbabilisticConfig) -> Self {
        PreparedLayers {
            targets: ProbabilityTargets::new(layers, weighting_layer, cfg.sample_spacing_deg),
            land: LandMask::from_areas(layers.districts.iter().map(|d| &d.geometry), 0.02),
        }
    }
}

/// One probabilistic assessment of a deterministic forecast: `cfg.realisations` perturbed
/// tracks, counted on the prepared layers.
pub fn assess_probabilistic(
    forecast: &Forecast,
    prepared: &PreparedLayers,
    cfg: &ProbabilisticConfig,
    hazard: &HazardConfig,
) -> Result<ProbabilisticAssessment, EnsembleError> {
    assess_probabilistic_seeded(forecast, prepared, cfg, hazard, cfg.seed_for(forecast))
}

/// [`assess_probabilistic`] with the seed given (the service derives it from the event id
/// and the reference time: [`event_seed`]).
pub fn assess_probabilistic_seeded(
    forecast: &Forecast,
    prepared: &PreparedLayers,
    cfg: &ProbabilisticConfig,
    hazard: &HazardConfig,
    seed: u64,
) -> Result<ProbabilisticAssessment, EnsembleError> {
    cfg.validate()?;
    let set = perturbed_realisations(forecast, cfg, hazard, &prepared.land, seed)?;
    let mut out = count_and_trace(&set.realisations, prepared, cfg)?;
    out.seed = Some(seed);
    out.reference_time = Some(forecast.reference_time);
    out.storm = Some(format!("{} ({})", forecast.storm.name, forecast.storm.id));
    out.notes.extend(set.notes);
    Ok(out)
}

/// Counts the realisations on the prepared targets, then traces the probability contours
/// (unless `contour_spacing_deg` is 0). One after the other, not side by side: each is
/// parallel inside, and running both at once (rayon::join, tried) added 25–40 MB to the
/// peak RSS of `cargo bench --bench probabilistic` for no CPU saved.
fn count_and_trace(
    realisations: &[Realisation],
    prepared: &PreparedLayers,
    cfg: &ProbabilisticConfig,
) -> Result<ProbabilisticAssessment, EnsembleError> {
    let mut out = count_exceedances(
        realisations,
        &prepared.targets,
        &cfg.thresholds_kt,
        &cfg.windows_h,
    )?;
    if cfg.contour_spacing_deg > 0.0 {
        out.contours = probability_contours(
            realisations,
            &cfg.thresholds_kt,
            &cfg.windows_h,
            cfg.contour_spacing_deg,
        );
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ProbabilisticConfig::default().validate().unwrap();
    }

    #[test]
    fn errors_that_do_not_grow_with_lead_time_are_refused_by_key() {
        let flat = ProbabilisticConfig {
            mean_track_error_nm: vec![50.0, 83.0, 83.0, 162.0, 223.0],
            ..ProbabilisticConfig::default()
        };
        let e = flat.validate().unwrap_err().to_string();
        assert!(e.contains("probabilistic.mean_track_error_nm"), "{e}");
        assert!(e.contains("increasing"), "{e}");
        let negative = ProbabilisticConfig {
            intensity_error_kt: vec![-1.0, 14.0, 17.0, 19.0, 20.0],
            ..ProbabilisticConfig::default()
        };
        let e = negative.validate().unwrap_err().to_string();
        assert!(e.contains("probabilistic.intensity_error_kt"), "{e}");
        assert!(e.contains("positive"), "{e}");
        let short = ProbabilisticConfig {
            mean_track_error_nm: vec![50.0, 83.0],
            ..ProbabilisticConfig::default()
        };
        let e = short.validate().unwrap_err().to_string();
        assert!(e.contains("probabilistic.mean_track_error_nm"), "{e}");
    }

    #[test]
    fn config_reads_from_toml_and_refuses_unknown_keys() {
        let cfg: ProbabilisticConfig =
            toml::from_str("realisations = 50\nseed_policy = \"fixed\"\nfixed_seed = 7\n").unwrap();
        assert_eq!(cfg.realisations, 50);
        assert_eq!(cfg.seed_policy, SeedPolicy::Fixed);
        assert!(toml::from_str::<ProbabilisticConfig>("realisation = 5\n").is_err());
    }
}
