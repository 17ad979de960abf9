//! Hazard footprints derived from a forecast: wind swaths per threshold, the uncertainty
//! cone and the anticipatory-action "exposed area".
//!
//! No I/O here; the maths lives in `crate::hazard`.

use chrono::{DateTime, Utc};
use geo::MultiPolygon;
use serde::{Deserialize, Serialize};

/// Which part of the track a footprint covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// From the reference time on: what is coming. Alerts are about this.
    Forecast,
    /// The analysis track: what has already passed. Context only.
    Observed,
}

/// How a footprint's extent was derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FootprintMethod {
    /// From the source's quadrant wind radii.
    QuadrantRadii,
    /// From a parametric wind profile (Holland) because radii were missing.
    ParametricProfile,
    /// Some fixes from radii, others from the parametric profile.
    Mixed,
}

/// The area swept by one wind threshold between two consecutive fixes.
/// Lets exposure tell *when* a district is first reached.
#[derive(Debug, Clone, PartialEq)]
pub struct SwathSegment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub geometry: MultiPolygon<f64>,
}

/// The union of one threshold's footprints over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct WindSwath {
    /// 10-minute-mean threshold in knots (34, 48, 64, or 28).
    pub threshold_kt: f64,
    pub period: Period,
    pub method: FootprintMethod,
    pub geometry: MultiPolygon<f64>,
    /// Per-segment pieces, in time order (their union is `geometry`).
    pub segments: Vec<SwathSegment>,
    pub area_km2: f64,
}

/// Where the uncertainty cone came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ConeSource {
    /// The product's own polygon (RSMC La Réunion ships one).
    Product,
    /// Built by aviso from error circles with configured radii per lead time.
    ErrorCircles { radii_source: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cone {
    pub source: ConeSource,
    pub geometry: MultiPolygon<f64>,
}

/// Where and when the forecast track first crosses into the country outline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Landfall {
    pub time: DateTime<Utc>,
    pub lon: f64,
    pub lat: f64,
    /// Hours from the forecast's reference time (negative: already happened).
    pub lead_time_h: f64,
    /// 10-minute wind at landfall (interpolated), knots.
    pub wind_kt: Option<f64>,
}

/// All footprints of one forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Hazard {
    /// Forecast-period swaths, one per threshold, ascending threshold.
    pub forecast_swaths: Vec<WindSwath>,
    /// Observed (analysis-period) swaths, context only.
    pub observed_swaths: Vec<WindSwath>,
    pub cone: Option<Cone>,
    /// The 2026 AA framework's exposed area: the cone cut at the ≥ 64 kt part of the
    /// forecast, united with the 64 kt swath. `None` when no forecast point reaches 64 kt.
    pub exposed_area: Option<MultiPolygon<f64>>,
    pub landfall: Option<Landfall>,
    /// Human-readable notes on methods (which fixes used a parametric profile, RMW fallbacks).
    pub notes: Vec<String>,
}
