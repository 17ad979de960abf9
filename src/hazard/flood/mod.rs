//! River-flood hazard: each station's level per valid day under a configurable ensemble
//! probability rule, its peak day and first day at each level, and the area a station's
//! flood would reach (its impact area), cut to a metric buffer of its river where river
//! centre-lines are loaded ([`river_buffer`]).
//!
//! Pure: no I/O, no clock. Must not depend on feeds, layers, exposure, alerts or any
//! adapter; basins, river lines, districts and the country outline come in as arguments.
//! Distances are haversine on lon/lat (geo's `Haversine`), never Euclidean degrees; the
//! river buffer is drawn in metres in local ellipsoidal frames (see [`river_buffer`]).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{ByLevel, FloodForecast, FloodLevel, StationForecast};

mod impact;
mod river;

pub use impact::{
    CoastTest, IMPACT_METHOD_NOTE, ImpactArea, ImpactDistrict, ImpactMethod, RIVER_BASIN_SNAP_KM,
    RiverCut, basin_of, impact_area, river_method_note,
};
pub use river::{RIVER_BAND_DEG, river_buffer};

/// GloFAS flags a reporting point when the ensemble probability of exceeding a
/// return-period threshold passes 30 % (ECMWF/Copernicus GloFAS, "Flood summary" and
/// reporting-point products; Alfieri et al. 2013, *GloFAS – global ensemble streamflow
/// forecasting and flood early warning*, HESS 17, 1161–1175).
pub const GLOFAS_MIN_PROBABILITY_PCT: f64 = 30.0;

#[derive(Debug, thiserror::Error)]
pub enum FloodHazardError {
    #[error("flood config: {0}")]
    Config(String),
    #[error(
        "flood.impact_districts for station {station}: district {pcode} is not in the districts layer"
    )]
    UnknownDistrict { station: String, pcode: String },
    #[error("flood extent {origin}: feature {index}{}: {message}", .id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default())]
    Extent {
        origin: String,
        index: usize,
        id: Option<String>,
        message: String,
    },
}

/// Flood settings (config/default.toml `[flood]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodConfig {
    /// A threshold counts as reached on a day when at least this share of the ensemble
    /// members (percent, 0 < x ≤ 100) exceeds it. Default 30 %: [`GLOFAS_MIN_PROBABILITY_PCT`].
    pub min_probability_pct: f64,
    /// Label of the rule, copied into every flood alert.
    pub rule_version: String,
    /// Property of the basins layer holding the basin name.
    pub basin_name_field: String,
    /// Districts whose area inside the basin is below this share (0..1) are left out of a
    /// station's default impact area: slivers from boundaries simplified differently.
    pub min_district_share: f64,
    /// Per-station impact area as a list of district P-codes, replacing the default
    /// (basin-downstream) rule: `{ "41" = ["MZ0203", "MZ0204"] }`.
    pub impact_districts: BTreeMap<String, Vec<String>>,
    /// A station whose thresholds are not bankfull ≤ moderate ≤ severe (the shared file has
    /// one: 654 revue, 819 / 102 / 244 m³/s): `true` leaves it out with a note in the alert,
    /// `false` refuses the whole forecast.
    pub skip_misordered_stations: bool,
    /// CAP `expires` of a flood alert = the forecast's issue date (00:00 UTC; a flood
    /// map: when it was assessed) + this many hours. 48 h for a daily product: one missed
    /// issuance is tolerated, two are not (the cyclone rule of 12 h for a 6-hourly one).
    pub cap_expires_after_h: f64,
    /// An Actual flood forecast whose issue date (00:00 UTC) is older than this many hours
    /// when it is processed is refused, as a stale cyclone forecast is
    /// (`service.max_forecast_age_h`). 48 h for a daily product: yesterday's forecast
    /// fetched late today still counts, the day before's does not. Flood maps are dated
    /// when they are assessed and are not held to it.
    pub max_forecast_age_h: f64,
    /// A flood forecast issued within this many days after a cyclone's last forecast, in
    /// districts that cyclone put on the ladder, belongs to the cyclone's incident (CAP
    /// `incidents`): the event carries both. Rain reaches the large rivers days after
    /// landfall: after Idai (landfall 14-15 March 2019) the Búzi and Púngoè flooded for
    /// about a week (OCHA Mozambique situation reports, March 2019), and the Zambeze and
    /// Limpopo carry water from upstream countries longer. 0 links nothing.
    pub after_cyclone_days: f64,
    /// Half-width (km) of the corridor kept around a station's river where the layers
    /// manifest has a `river_lines` layer: the station's footprint is its impact area ∩
    /// this buffer of its river lines. 0 turns the river rule off. Default
    /// [`DEFAULT_RIVER_BUFFER_KM`].
    pub river_buffer_km: f64,
    /// Flood-extent polygons (`[flood.extent]`): how a polygon gets its level.
    pub extent: crate::hazard::flood_extent::FloodExtentConfig,
}

/// Default half-width of the river corridor, km (a 20 km wide corridor).
///
/// The floodplains of the large rivers of Mozambique (Limpopo, Zambeze, Búzi, Save) are
/// several km to tens of km wide. A buffer is a half-width: 10 km each side gives a corridor
/// of the order of those floodplains, which drops the interfluves and the far ends of the
/// big districts that the basin-downstream rule keeps whole (measured on the shared data
/// with the test line of the lower Limpopo: Chibuto's share for station 41 falls from
/// 100 % to 9 %). It is a judgement that errs towards warning (a missed village costs
/// more than a warned dry one), not a measured width: ARA flood-risk maps belong in
/// `[[flood_impact]]` polygons. It must also exceed how far a station may sit from its
/// channel: GloFAS v4 reporting points lie on its 0.05° grid (the shared stations all sit
/// at x.x25°), whose cells' half-diagonal is about 3.8 km at 25°S, and HydroRIVERS lines
/// (Lehner & Grill 2013, Hydrol. Process. 27, 2171–2186) come from the 15″ (~450 m)
/// HydroSHEDS grid.
pub const DEFAULT_RIVER_BUFFER_KM: f64 = 10.0;

/// The widest river buffer accepted, km: past this it is no river corridor (use the basin
/// rule, 0, or a `[[flood_impact]]` polygon), and the local-frame error bound of
/// [`river_buffer`] (≤ 1 %) is stated up to it.
pub const MAX_RIVER_BUFFER_KM: f64 = 50.0;

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            min_probability_pct: GLOFAS_MIN_PROBABILITY_PCT,
            rule_version: "GloFAS-style rule: a threshold is reached when ≥ 30 % of members exceed it (aviso flood v1, 2026-11)".into(),
            basin_name_field: "Basins".into(),
            min_district_share: 0.02,
            impact_districts: BTreeMap::new(),
            skip_misordered_stations: true,
            cap_expires_after_h: 48.0,
            max_forecast_age_h: 48.0,
            after_cyclone_days: 10.0,
            river_buffer_km: DEFAULT_RIVER_BUFFER_KM,
            extent: Default::default(),
        }
    }
}

impl FloodConfig {
    pub fn validate(&self) -> Result<(), FloodHazardError> {
        let p = self.min_probability_pct;
        if !(p > 0.0 && p <= 100.0) {
            return Err(FloodHazardError::Config(format!(
                "flood.min_probability_pct = {p}: expected a percentage 0 < x ≤ 100"
            )));
        }
        let s = self.min_district_share;
        if !(0.0..1.0).contains(&s) {
            return Err(FloodHazardError::Config(format!(
                "flood.min_district_share = {s}: expected a share 0 ≤ x < 1"
            )));
        }
        if self.basin_name_field.is_empty() {
            return Err(FloodHazardError::Config(
                "flood.basin_name_field is empty".into(),
            ));
        }
        let h = self.cap_expires_after_h;
        if !(1.0..=240.0).contains(&h) {
            return Err(FloodHazardError::Config(format!(
                "flood.cap_expires_after_h = {h}: expected 1 to 240 hours"
            )));
        }
        let h = self.max_forecast_age_h;
        if !(1.0..=1_000_000.0).contains(&h) {
            return Err(FloodHazardError::Config(format!(
                "flood.max_forecast_age_h = {h}: expected 1 to 1000000 hours"
            )));
        }
        let d = self.after_cyclone_days;
        if !(0.0..=60.0).contains(&d) {
            return Err(FloodHazardError::Config(format!(
                "flood.after_cyclone_days = {d}: expected 0 to 60 days"
            )));
        }
        let b = self.river_buffer_km;
        if !(0.0..=MAX_RIVER_BUFFER_KM).contains(&b) {
            return Err(FloodHazardError::Config(format!(
                "flood.river_buffer_km = {b}: expected 0 (river rule off) to {MAX_RIVER_BUFFER_KM} km, the half-width of the corridor kept around a station's river"
            )));
        }
        self.extent.validate()
    }

    /// True when `exceeding` of `total` members reach the rule's share.
    pub fn reached(&self, exceeding: u32, total: u32) -> bool {
        total > 0 && f64::from(exceeding) * 100.0 >= self.min_probability_pct * f64::from(total)
    }

    /// The highest level reached on one day, if any.
    pub fn level_of_day(&self, day: &StationForecast) -> Option<FloodLevel> {
        FloodLevel::ALL
            .into_iter()
            .rev()
            .find(|l| self.reached(day.exceeding.get(*l), day.total_members))
    }
}

/// One station on one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayLevel {
    pub date: NaiveDate,
    pub level: Option<FloodLevel>,
    pub probability: ByLevel<f64>,
    pub median_discharge_m3s: Option<f64>,
}

/// A station over the whole forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationOutlook {
    pub station_id: String,
    pub days: Vec<DayLevel>,
    /// Highest level on any day.
    pub max_level: Option<FloodLevel>,
    /// The day of the highest level; among equal levels, the highest probability of that
    /// level (bankfull when no level is reached), then the highest median discharge, then
    /// the earliest day.
    pub peak_date: Option<NaiveDate>,
    /// First day at or above each level.
    pub first_date: ByLevel<Option<NaiveDate>>,
}

/// Levels per station and day, in station order.
pub fn station_outlooks(fc: &FloodForecast, cfg: &FloodConfig) -> Vec<StationOutlook> {
    fc.stations
        .iter()
        .map(|s| {
            let days: Vec<DayLevel> = fc
                .days_of(&s.id)
                .map(|d| DayLevel {
                    date: d.valid_date,
                    level: cfg.level_of_day(d),
                    probability: d.probability,
                    median_discharge_m3s: d.median_discharge_m3s(),
                })
                .collect();
            let max_level = days.iter().filter_map(|d| d.level).max();
            let key = |d: &DayLevel| {
                let l = d.level.unwrap_or(FloodLevel::Bankfull);
                (
                    d.level,
                    d.probability.get(l),
                    d.median_discharge_m3s.unwrap_or(0.0),
                )
            };
            let mut peak: Option<&DayLevel> = None;
            for d in &days {
                // Strictly greater: the earliest of equal days stays.
                if peak.is_none_or(|p| {
                    key(d).partial_cmp(&key(p)) == Some(std::cmp::Ordering::Greater)
                }) {
                    peak = Some(d);
                }
            }
            let mut first_date = ByLevel::default();
            for l in FloodLevel::ALL {
                first_date.set(
                    l,
                    days.iter()
                        .find(|d| d.level.is_some_and(|x| x >= l))
                        .map(|d| d.date),
                );
            }
            StationOutlook {
                station_id: s.id.clone(),
                max_level,
                peak_date: peak.map(|p| p.date),
                first_date,
                days,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::river::*;
    use super::*;
    use crate::domain::FloodStation;
    use crate::domain::{FloodOrigins, StationForecast};
    use crate::hazard::geodesy::area_km2;
    use geo::{Contains, Distance, Haversine, LineString, MultiLineString, Point};

    fn day(d: u32, exceeding: [u32; 3]) -> StationForecast {
        StationForecast {
            station_id: "1".into(),
            valid_date: NaiveDate::from_ymd_opt(2025, 9, d).unwrap(),
            total_members: 50,
            member_discharges_m3s: vec![],
            exceeding: ByLevel {
                bankfull: exceeding[0],
                moderate: exceeding[1],
                severe: exceeding[2],
            },
            probability: ByLevel {
                bankfull: f64::from(exceeding[0]) / 50.0,
                moderate: f64::from(exceeding[1]) / 50.0,
                severe: f64::from(exceeding[2]) / 50.0,
            },
        }
    }

    #[test]
    fn fifteen_of_fifty_members_is_exactly_the_glofas_thirty_percent() {
        let c = FloodConfig::default();
        assert_eq!(
            c.level_of_day(&day(26, [15, 14, 0])),
            Some(FloodLevel::Bankfull)
        );
        assert_eq!(c.level_of_day(&day(26, [14, 0, 0])), None);
        assert_eq!(
            c.level_of_day(&day(26, [50, 40, 15])),
            Some(FloodLevel::Severe)
        );
    }

    #[test]
    fn the_peak_is_the_highest_level_then_the_likeliest_day() {
        let fc = FloodForecast {
            issue_date: NaiveDate::from_ymd_opt(2025, 9, 25).unwrap(),
            stations: vec![FloodStation {
                id: "1".into(),
                name: "A".into(),
                river: "R".into(),
                lon: 33.0,
                lat: -20.0,
                thresholds_m3s: ByLevel {
                    bankfull: 1.0,
                    moderate: 2.0,
                    severe: 3.0,
                },
            }],
            days: vec![
                day(26, [20, 0, 0]),
                day(27, [40, 16, 0]),
                day(28, [45, 30, 0]),
                day(29, [10, 0, 0]),
            ],
            origins: FloodOrigins::default(),
        };
        let o = &station_outlooks(&fc, &FloodConfig::default())[0];
        assert_eq!(o.max_level, Some(FloodLevel::Moderate));
        assert_eq!(o.peak_date, NaiveDate::from_ymd_opt(2025, 9, 28));
        assert_eq!(o.first_date.bankfull, NaiveDate::from_ymd_opt(2025, 9, 26));
        assert_eq!(o.first_date.moderate, NaiveDate::from_ymd_opt(2025, 9, 27));
        assert_eq!(o.first_date.severe, None);
    }

    /// A point `km` from `p` along `bearing_deg`, on the ellipsoid.
    fn away(p: Point<f64>, bearing_deg: f64, km: f64) -> Point<f64> {
        use geo::{Destination, Geodesic};
        Geodesic.destination(p, bearing_deg, km * 1000.0)
    }

    #[test]
    fn a_river_buffer_reaches_its_width_in_metres_in_every_direction() {
        // An L along the 25th parallel and a meridian: a degree buffer would be 10 % too
        // wide east-west here; the metric one is within 1 % both ways.
        let corner = Point::new(33.5, -25.0);
        let line = MultiLineString::new(vec![LineString::from(vec![
            (33.0, -25.0),
            (33.5, -25.0),
            (33.5, -24.5),
        ])]);
        let b = river_buffer(&line, 8.0);
        for (at, bearing) in [
            (Point::new(33.25, -25.0), 0.0),
            (Point::new(33.25, -25.0), 180.0),
            (Point::new(33.5, -24.75), 90.0),
            (Point::new(33.5, -24.75), 270.0),
            (corner, 135.0),
        ] {
            assert!(
                b.contains(&away(at, bearing, 8.0 * 0.99)),
                "{at:?} {bearing}"
            );
            assert!(
                !b.contains(&away(at, bearing, 8.0 * 1.01)),
                "{at:?} {bearing}"
            );
        }
    }

    #[test]
    fn a_line_across_latitude_bands_is_buffered_without_seams() {
        // 3° of meridian crosses three band edges: one polygon, the stadium's area
        // (2 d L + π d²) within 1 %, and no hole where the bands meet.
        let line = MultiLineString::new(vec![LineString::from(vec![(35.0, -14.5), (35.0, -17.5)])]);
        assert_eq!(latitude_bands(&line).len(), 4);
        let b = river_buffer(&line, 5.0);
        assert_eq!(b.0.len(), 1);
        assert!(b.0.iter().all(|p| p.interiors().is_empty()));
        let length_km = Haversine.distance(Point::new(35.0, -14.5), Point::new(35.0, -17.5)) / 1e3;
        let expected = 2.0 * 5.0 * length_km + std::f64::consts::PI * 25.0;
        let got = area_km2(&b);
        assert!((got / expected - 1.0).abs() < 0.01, "{got} vs {expected}");
        for lat in [-15.0, -16.0, -17.0] {
            assert!(b.contains(&away(Point::new(35.0, lat), 90.0, 4.9)));
        }
        assert!(river_buffer(&line, 0.0).0.is_empty());
    }

    #[test]
    fn river_names_compare_without_accents_or_generic_words() {
        assert_eq!(river_words("R. Búzi"), vec!["buzi"]);
        assert_eq!(river_words("Rio Limpopo"), river_words("Limpopo River"));
        assert_eq!(river_words("Rio dos Elefantes"), vec!["elefantes"]);
        let station = |name: &str, river: &str| FloodStation {
            id: "1".into(),
            name: name.into(),
            river: river.into(),
            lon: 33.0,
            lat: -24.0,
            thresholds_m3s: ByLevel::default(),
        };
        assert_eq!(
            station_rivers(&station("Changane_em_Chibuto", "Limpopo")),
            vec![vec!["limpopo".to_string()], vec!["changane".to_string()]]
        );
        assert_eq!(
            station_rivers(&station("Limpopo_em_Chokwe", "Limpopo")),
            vec![vec!["limpopo".to_string()]]
        );
        assert_eq!(
            station_rivers(&station("espungabera", "Buzi")),
            vec![vec!["buzi".to_string()]]
        );
    }

    #[test]
    fn a_negative_or_too_wide_river_buffer_is_refused_naming_the_key() {
        for km in [-1.0, 51.0, f64::NAN] {
            let c = FloodConfig {
                river_buffer_km: km,
                ..FloodConfig::default()
            };
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("flood.river_buffer_km"), "{e}");
        }
    }

    #[test]
    fn a_zero_percent_rule_is_refused() {
        let c = FloodConfig {
            min_probability_pct: 0.0,
            ..FloodConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("min_probability_pct")
        );
    }
}
