//! Forecast -> hazard footprints: wind swaths per threshold (from quadrant wind radii, or a
//! Holland profile where radii are missing), the track-uncertainty cone, the forecast
//! landfall and the anticipatory-action exposed area, as `crate::domain::Hazard`.
//!
//! Pure maths on `crate::domain` types: no I/O, no clock, no logging; must not depend on
//! feeds, layers, exposure, alerts or any adapter (the country outline comes in as an
//! argument).
//!
//! Geometry is EPSG:4326 lon/lat; distances are geodesic on WGS 84 (`geo::Geodesic`);
//! output rings follow the RFC 7946 right-hand rule (exterior counter-clockwise).

mod cone;
pub mod ensemble;
mod exposed;
pub mod flood;
pub mod flood_extent;
pub mod geodesy;
pub mod holland;
mod landfall;
mod swath;
mod track;
pub mod windfield;

use geo::MultiPolygon;
use serde::Deserialize;

use crate::domain::{Forecast, Hazard, Landfall, Period};
use crate::spatial::PreparedArea;
use landfall::Outline;

pub use cone::table_radius_nm;
pub use geodesy::quadrant_footprint;
pub use holland::{HollandProfile, ProfileInputs};

/// Wind thresholds (10-minute mean, knots) a swath may be drawn for: the SWIO class limits
/// the sources give radii for (RSMC La Réunion: 28/34/48/64; ATCF's 50 kt radii stand in
/// for 48). WMO-No. 1178 (RA I Tropical Cyclone Operational Plan for the SWIO).
pub const ALLOWED_THRESHOLDS_KT: [f64; 4] = [28.0, 34.0, 48.0, 64.0];

/// How footprints are drawn. Read from the `[hazard]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HazardConfig {
    /// Thresholds (10-minute mean wind, kt), strictly ascending, each one of
    /// [`ALLOWED_THRESHOLDS_KT`].
    pub thresholds_kt: Vec<f64>,
    /// Longest time between interpolated footprints along the track, minutes (0 < x ≤ 30;
    /// OCHA interpolates to 30 min so that fast storms leave no gaps).
    pub step_minutes: f64,
    /// Longest time span of one swath segment, minutes (≥ step_minutes). Segments are what
    /// first-arrival times are read from: 180 min gives lead times to within 3 h.
    pub segment_minutes: f64,
    /// How far back the observed (context) swath reaches before the reference time, hours.
    /// A storm's whole life can be weeks of ocean track (Freddy: 35 days); the last days
    /// are the context a duty officer needs.
    pub observed_context_h: f64,
    /// Angular resolution of footprint and circle outlines, degrees (0.5..=15).
    pub arc_step_deg: f64,
    /// Threshold (10-minute kt) of the anticipatory-action exposed area: 64 kt in the 2026
    /// OCHA/CERF Mozambique framework. Must be one of `thresholds_kt`.
    pub exposed_threshold_kt: f64,
    pub cone: ConeConfig,
    pub profile: ProfileConfig,
}

impl Default for HazardConfig {
    fn default() -> Self {
        HazardConfig {
            thresholds_kt: vec![34.0, 48.0, 64.0],
            step_minutes: 30.0,
            segment_minutes: 180.0,
            observed_context_h: 72.0,
            arc_step_deg: 5.0,
            exposed_threshold_kt: 64.0,
            cone: ConeConfig::default(),
            profile: ProfileConfig::default(),
        }
    }
}

/// The uncertainty cone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConeConfig {
    /// Use the product's own cone polygon when it ships one (RSMC La Réunion does).
    pub use_product_cone: bool,
    /// For error circles, prefer each point's `position_accuracy_nm` (RSMC's own
    /// uncertainty radius, which defines its cone) over the table below.
    pub use_position_accuracy: bool,
    /// `[lead time h, circle radius nm]`, ascending lead; linearly interpolated, held
    /// constant beyond the last entry.
    pub radii_nm_by_lead_h: Vec<[f64; 2]>,
    /// Where the table comes from, carried into `ConeSource::ErrorCircles`.
    pub radii_source: String,
}

/// NHC's 2023 cone circles for the Atlantic basin: radii (nm) holding two thirds of the
/// official track errors of 2018–2022 at 12, 24, 36, 48, 60, 72, 96 and 120 h ("Definition
/// of the NHC Track Forecast Cone", National Hurricane Center, 2023), starting from 0 at the
/// analysis. SWIO errors are usually larger; RSMC La Réunion products carry their own
/// per-point `position_accuracy`, which is preferred when present.
pub const NHC_2023_ATLANTIC_CONE_NM: [[f64; 2]; 9] = [
    [0.0, 0.0],
    [12.0, 26.0],
    [24.0, 39.0],
    [36.0, 53.0],
    [48.0, 67.0],
    [60.0, 81.0],
    [72.0, 99.0],
    [96.0, 145.0],
    [120.0, 205.0],
];

impl Default for ConeConfig {
    fn default() -> Self {
        ConeConfig {
            use_product_cone: true,
            use_position_accuracy: true,
            radii_nm_by_lead_h: NHC_2023_ATLANTIC_CONE_NM.to_vec(),
            radii_source: "NHC 2023 Atlantic 2/3-probability track-error circles (2018-2022)"
                .to_string(),
        }
    }
}

/// The parametric profile used where a fix has a maximum wind but no radii.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileConfig {
    /// Draw parametric footprints at all (else such fixes count as "not reached").
    pub enabled: bool,
    /// Environmental pressure (hPa) when the fix gives no last closed isobar. 1010 hPa is
    /// the reference of the Atkinson & Holliday (1977) wind–pressure fit.
    pub env_pressure_hpa: f64,
    /// Fraction of the translation speed added on the strong side (left of motion in the
    /// southern hemisphere): 0.55, the best fit of Lin, N. and D. Chavas (2012), "On
    /// hurricane parametric wind and applications in storm surge modeling", J. Geophys.
    /// Res. 117, D09120.
    pub translation_factor: f64,
    /// Largest radius (nm) the profile may give a threshold.
    pub max_radius_nm: f64,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            enabled: true,
            env_pressure_hpa: 1010.0,
            translation_factor: 0.55,
            max_radius_nm: 400.0,
        }
    }
}

/// Why footprints could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HazardError {
    #[error("hazard config: `{field}` must be {expected}, found {found}")]
    InvalidConfig {
        field: String,
        expected: String,
        found: String,
    },
    #[error("{origin}: the track has no points; expected at least one analysis or forecast fix")]
    EmptyTrack { origin: String },
    #[error("{origin}: {at}: `{field}` must be {expected}, found {found}")]
    InvalidTrackPoint {
        origin: String,
        /// "track point 3 (2023-03-10T04:00:00+00:00)": index in `Forecast::track` and time.
        at: String,
        field: String,
        expected: String,
        found: String,
    },
    #[error(
        "{origin}: track point {index} ({time}) is earlier than the fix before it ({previous}); \
         expected fixes in time order"
    )]
    TrackOutOfOrder {
        origin: String,
        index: usize,
        time: String,
        previous: String,
    },
    #[error(
        "{origin}: the leg ending at track point {index} jumps from lon {from_lon} to {to_lon}; \
         expected a track that does not cross the antimeridian (not supported)"
    )]
    AntimeridianCrossing {
        origin: String,
        index: usize,
        from_lon: f64,
        to_lon: f64,
    },
    #[error(
        "{origin}: the product's uncertainty cone is invalid and could not be repaired: {reason}"
    )]
    InvalidCone { origin: String, reason: String },
}

fn invalid(field: &str, expected: &str, found: impl std::fmt::Display) -> HazardError {
    HazardError::InvalidConfig {
        field: field.to_string(),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

impl HazardConfig {
    /// Checks every value once, so the maths can rely on them.
    pub fn validate(&self) -> Result<(), HazardError> {
        if self.thresholds_kt.is_empty() {
            return Err(invalid(
                "hazard.thresholds_kt",
                "a non-empty list",
                "an empty list",
            ));
        }
        for t in &self.thresholds_kt {
            if !ALLOWED_THRESHOLDS_KT.contains(t) {
                return Err(invalid(
                    "hazard.thresholds_kt",
                    "values among 28, 34, 48, 64 (10-minute kt)",
                    t,
                ));
            }
        }
        // ok: `windows(2)` yields slices of exactly two.
        if self.thresholds_kt.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(
                "hazard.thresholds_kt",
                "strictly ascending",
                format!("{:?}", self.thresholds_kt),
            ));
        }
        if !(self.step_minutes.is_finite() && self.step_minutes > 0.0 && self.step_minutes <= 30.0)
        {
            return Err(invalid(
                "hazard.step_minutes",
                "greater than 0 and at most 30 (minutes)",
                self.step_minutes,
            ));
        }
        if !(self.segment_minutes.is_finite()
            && self.segment_minutes >= self.step_minutes
            && self.segment_minutes <= 1440.0)
        {
            return Err(invalid(
                "hazard.segment_minutes",
                "at least step_minutes and at most 1440 (minutes)",
                self.segment_minutes,
            ));
        }
        if !(self.observed_context_h.is_finite() && self.observed_context_h >= 0.0) {
            return Err(invalid(
                "hazard.observed_context_h",
                "a non-negative number of hours",
                self.observed_context_h,
            ));
        }
        if !(self.arc_step_deg.is_finite() && (0.5..=15.0).contains(&self.arc_step_deg)) {
            return Err(invalid(
                "hazard.arc_step_deg",
                "between 0.5 and 15 (degrees)",
                self.arc_step_deg,
            ));
        }
        if !self.thresholds_kt.contains(&self.exposed_threshold_kt) {
            return Err(invalid(
                "hazard.exposed_threshold_kt",
                "one of hazard.thresholds_kt",
                self.exposed_threshold_kt,
            ));
        }
        self.cone.validate()?;
        self.profile.validate()
    }
}

impl ConeConfig {
    pub fn validate(&self) -> Result<(), HazardError> {
        let table = &self.radii_nm_by_lead_h;
        if table.is_empty() {
            return Err(invalid(
                "hazard.cone.radii_nm_by_lead_h",
                "at least one [lead_h, radius_nm] pair",
                "an empty list",
            ));
        }
        for pair in table {
            let [lead, r] = *pair;
            if !(lead.is_finite() && lead >= 0.0 && r.is_finite() && r >= 0.0) {
                return Err(invalid(
                    "hazard.cone.radii_nm_by_lead_h",
                    "pairs of non-negative numbers [lead_h, radius_nm]",
                    format!("{pair:?}"),
                ));
            }
        }
        // ok: `windows(2)` yields slices of exactly two `[f64; 2]`.
        if table.windows(2).any(|w| w[0][0] >= w[1][0]) {
            return Err(invalid(
                "hazard.cone.radii_nm_by_lead_h",
                "strictly ascending lead times",
                format!("{table:?}"),
            ));
        }
        if self.radii_source.trim().is_empty() {
            return Err(invalid(
                "hazard.cone.radii_source",
                "a citation of where the radii come from",
                "an empty string",
            ));
        }
        Ok(())
    }
}

impl ProfileConfig {
    pub fn validate(&self) -> Result<(), HazardError> {
        if !(self.env_pressure_hpa.is_finite() && (950.0..=1050.0).contains(&self.env_pressure_hpa))
        {
            return Err(invalid(
                "hazard.profile.env_pressure_hpa",
                "between 950 and 1050 (hPa)",
                self.env_pressure_hpa,
            ));
        }
        if !(self.translation_factor.is_finite() && (0.0..=1.0).contains(&self.translation_factor))
        {
            return Err(invalid(
                "hazard.profile.translation_factor",
                "between 0 and 1",
                self.translation_factor,
            ));
        }
        if !(self.max_radius_nm.is_finite()
            && self.max_radius_nm > 0.0
            && self.max_radius_nm <= 1500.0)
        {
            return Err(invalid(
                "hazard.profile.max_radius_nm",
                "greater than 0 and at most 1500 (nm)",
                self.max_radius_nm,
            ));
        }
        Ok(())
    }
}

/// Builds all footprints of one forecast.
///
/// - forecast swaths: from the reference fix (the last analysis point) through the
///   forecast points; observed swaths: the analysis points (context);
/// - the cone: the product's own (cleaned) or error circles;
/// - landfall: first entry of the forecast track into `country` (EPSG:4326 outline);
/// - the exposed area: the cone cut at the ≥ 64 kt part of the forecast, ∪ the 64 kt swath.
///
/// `notes` say which fixes used the parametric profile and its fallbacks.
pub fn build_hazard(
    forecast: &Forecast,
    country: &MultiPolygon<f64>,
    cfg: &HazardConfig,
) -> Result<Hazard, HazardError> {
    build(forecast, Outline::Plain(country), cfg)
}

/// [`build_hazard`] with the country outline prepared once for point tests (the service
/// keeps it with the indexed layers, `exposure::IndexedLayers::country`).
///
/// The forecast and observed swaths, the cone and the landfall are independent and run in
/// parallel (rayon); each keeps its own notes, joined in the order forecast, observed,
/// cone, landfall.
pub fn build_hazard_in(
    forecast: &Forecast,
    country: &PreparedArea,
    cfg: &HazardConfig,
) -> Result<Hazard, HazardError> {
    build(forecast, Outline::Prepared(country), cfg)
}

fn build(
    forecast: &Forecast,
    country: Outline<'_>,
    cfg: &HazardConfig,
) -> Result<Hazard, HazardError> {
    cfg.validate()?;
    track::validate_track(forecast)?;
    let forecast_chain = track::forecast_chain(forecast);
    let observed_chain = track::observed_chain(forecast, cfg.observed_context_h);

    // The observed swaths are drawn alongside the rest, which needs the forecast swaths
    // for the exposed area. (One join of the observed swaths against the forecast part is
    // 15 % faster than the four-way join of forecast swaths, observed swaths, cone and
    // landfall it replaces: `cargo bench --bench assess -- freddy_forecast/hazard`,
    // 12.3 -> 10.4 ms. Running the exposure stage inside that join, while the observed
    // swaths are drawn, was slower than after it: 19.3 against 15.8 ms.)
    let ((observed_swaths, observed_notes), rest) = rayon::join(
        || {
            let mut notes = Vec::new();
            let s =
                swath::build_swaths(forecast, &observed_chain, Period::Observed, cfg, &mut notes);
            (s, notes)
        },
        || forecast_part(forecast, &forecast_chain, country, cfg),
    );
    let (mut hazard, forecast_notes) = rest?;
    hazard.observed_swaths = observed_swaths;
    let tail = hazard.notes.split_off(forecast_notes);
    hazard.notes.extend(observed_notes);
    hazard.notes.extend(tail);
    Ok(hazard)
}

/// The hazard without its observed swaths, and how many of its notes are the forecast
/// swaths' (the observed swaths' notes go after them).
fn forecast_part(
    forecast: &Forecast,
    forecast_chain: &[track::Fix<'_>],
    country: Outline<'_>,
    cfg: &HazardConfig,
) -> Result<(Hazard, usize), HazardError> {
    let ((forecast_swaths, mut notes), (cone, landfall)) = rayon::join(
        || {
            let mut notes = Vec::new();
            let s =
                swath::build_swaths(forecast, forecast_chain, Period::Forecast, cfg, &mut notes);
            (s, notes)
        },
        || {
            rayon::join(
                || {
                    let mut notes = Vec::new();
                    cone::build_cone(forecast, forecast_chain, cfg, &mut notes).map(|c| (c, notes))
                },
                || {
                    let mut notes = Vec::new();
                    let l = landfall::find_landfall(
                        forecast,
                        forecast_chain,
                        country,
                        cfg.step_minutes,
                        &mut notes,
                    );
                    (l, notes)
                },
            )
        },
    );
    let (cone, cone_notes) = cone?;
    let (landfall, landfall_notes) = landfall;
    let exposed_swath = forecast_swaths
        .iter()
        .find(|s| s.threshold_kt == cfg.exposed_threshold_kt);
    let exposed_area =
        exposed::exposed_area(forecast, forecast_chain, cone.as_ref(), exposed_swath, cfg);
    let forecast_notes = notes.len();
    notes.extend(cone_notes);
    notes.extend(landfall_notes);
    Ok((
        Hazard {
            forecast_swaths,
            observed_swaths: Vec::new(),
            cone,
            exposed_area,
            landfall,
            notes,
        },
        forecast_notes,
    ))
}

/// Every landfall of a whole track (all fixes, analysis and forecast, in time order) on
/// `country`: each first point inside after being outside. Used by replays to measure
/// how long before the actual landfall each district was warned.
pub fn landfalls(
    track: &Forecast,
    country: &MultiPolygon<f64>,
    cfg: &HazardConfig,
) -> Vec<Landfall> {
    let chain = track::all_fixes(track);
    landfall::all_landfalls(track, &chain, Outline::Plain(country), cfg.step_minutes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        HazardConfig::default().validate().unwrap();
    }

    #[test]
    fn a_step_longer_than_thirty_minutes_is_refused() {
        let cfg = HazardConfig {
            step_minutes: 45.0,
            ..HazardConfig::default()
        };
        let err = cfg.validate().unwrap_err();
        assert!(err.to_string().contains("hazard.step_minutes"), "{err}");
        assert!(err.to_string().contains("45"), "{err}");
        let zero = HazardConfig {
            step_minutes: 0.0,
            ..HazardConfig::default()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn thresholds_must_be_known_and_ascending() {
        let odd = HazardConfig {
            thresholds_kt: vec![34.0, 40.0],
            ..HazardConfig::default()
        };
        assert!(odd.validate().is_err());
        let unordered = HazardConfig {
            thresholds_kt: vec![64.0, 34.0],
            ..HazardConfig::default()
        };
        assert!(unordered.validate().is_err());
        let with_28 = HazardConfig {
            thresholds_kt: vec![28.0, 34.0, 48.0, 64.0],
            ..HazardConfig::default()
        };
        with_28.validate().unwrap();
    }

    #[test]
    fn config_reads_from_toml_and_refuses_unknown_keys() {
        let cfg: HazardConfig = toml::from_str(
            "step_minutes = 15.0\n[profile]\ntranslation_factor = 0.5\n[cone]\nuse_product_cone = false\n",
        )
        .unwrap();
        assert_eq!(cfg.step_minutes, 15.0);
        assert_eq!(cfg.profile.translation_factor, 0.5);
        assert!(!cfg.cone.use_product_cone);
        assert_eq!(cfg.thresholds_kt, vec![34.0, 48.0, 64.0]);
        let typo = toml::from_str::<HazardConfig>("step_minute = 15.0\n");
        assert!(typo.is_err());
    }
}
