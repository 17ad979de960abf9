//! Where will people go (issue 14): accommodation-centre capacity and safety, expected
//! demand per district, and the allocation of at-risk settlements and sites to safe
//! centres with room.
//!
//! Part of the pure core: it reads an `Assessment`, the indexed layers and a
//! `Register` and returns tables; no I/O (the register files are read in
//! `crate::layers::register`, the outputs written in `crate::app::plan`). Distances are
//! geodesic on WGS 84 (Karney 2013, `geo::Geodesic`): no road network is available, so a
//! centre 20 km away across a river counts as 20 km. A travel-time matrix, when a user has
//! one, replaces the distance order ([`TravelTimes`]).
//!
//! [`register`] validates registers and keeps the one in force; [`build`] builds the plan
//! ([`tables`]) and [`allocate()`] serves its origins.

pub mod allocate;
pub mod build;
pub mod flood;
pub mod output;
pub mod register;
pub mod sheet;
pub mod tables;

use serde::{Deserialize, Serialize};

use crate::alerts::levels::Level;
use crate::domain::{RegisterEntry, SiteRole};

pub use allocate::{TravelTimes, allocate};
pub use build::{PlanInput, build_plan, build_plan_at_levels};
pub use flood::{FloodPlanInput, build_flood_plan};
pub use tables::{Allocation, AreaPlan, CentreStatus, OriginPlan, Plan};

/// Covered floor space per person in a communal shelter, m²: the Sphere Handbook (2018),
/// Shelter and settlement standard 3, "a minimum of 3.5 m² of living space per person".
pub const SPHERE_M2_PER_PERSON: f64 = 3.5;

/// Which hazard a displacement fraction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanHazard {
    Wind,
    Flood,
}

/// Share of the people at risk expected to need an accommodation centre, for one hazard
/// and level, as a range with its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplacementFraction {
    pub hazard: PlanHazard,
    pub level: Level,
    pub low: f64,
    pub central: f64,
    pub high: f64,
    pub source: String,
}

/// Planning settings (`[plan]` in config/default.toml; every value is explained there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanConfig {
    /// Wind threshold (10-min kt) whose forecast footprint makes people "at risk" and a
    /// centre unsafe: 34 kt, gale force, the SWIO moderate tropical storm threshold.
    pub footprint_threshold_kt: f64,
    /// A site or settlement with no safe centre with room within this geodesic distance is
    /// reported as having none.
    pub max_distance_km: f64,
    /// Centres asked of the R-tree per nearest-neighbour query while filling a demand.
    pub candidates_per_query: usize,
    /// m² of covered floor per person (capacity from floor area).
    pub m2_per_person: f64,
    /// A register capacity above this is refused as absurd.
    pub max_capacity_persons: f64,
    /// A floor area above this is refused as absurd.
    pub max_floor_area_m2: f64,
    /// Points outside the country outline but within this distance of it are warnings
    /// (coast and islands of the simplified outline), further out errors.
    pub outside_country_tolerance_km: f64,
    /// Displacement fractions per hazard and level (`[[plan.displacement]]`).
    pub displacement: Vec<DisplacementFraction>,
}

impl Default for PlanConfig {
    fn default() -> Self {
        // Keep in step with config/default.toml, whose comments give the sources.
        let idai = "Idai 2019: about 141,000 people in 161 sites at the peak (IOM DTM) of \
                    1.85 M affected (OCHA flash appeal, March 2019): 7.6 %";
        let freddy = "Freddy 2023: about 11 % of the 1.19 M affected used accommodation centres (IOM DTM, OCHA)";
        let sofala = "Sofala floods February 2020: 22 % of those affected evacuated, about 525 \
                      per centre (IOM DTM flash report)";
        let wind = |level, low, central, high, source: String| DisplacementFraction {
            hazard: PlanHazard::Wind,
            level,
            low,
            central,
            high,
            source,
        };
        let flood = |level, low, central, high, source: String| DisplacementFraction {
            hazard: PlanHazard::Flood,
            level,
            low,
            central,
            high,
            source,
        };
        PlanConfig {
            footprint_threshold_kt: 34.0,
            max_distance_km: 50.0,
            candidates_per_query: 8,
            m2_per_person: SPHERE_M2_PER_PERSON,
            max_capacity_persons: 20_000.0,
            max_floor_area_m2: 100_000.0,
            outside_country_tolerance_km: 10.0,
            displacement: vec![
                wind(
                    Level::Red,
                    0.076,
                    0.11,
                    0.22,
                    format!("low: {idai}; central: {freddy}; high: {sofala}"),
                ),
                wind(
                    Level::Orange,
                    0.038,
                    0.055,
                    0.11,
                    "aviso assumption: half the red fractions (no recorded figure for orange)"
                        .to_string(),
                ),
                wind(
                    Level::Yellow,
                    0.01,
                    0.02,
                    0.055,
                    "aviso assumption: gales unroof precarious houses; high = half the orange central"
                        .to_string(),
                ),
                flood(
                    Level::Red,
                    0.11,
                    0.22,
                    0.3,
                    format!("low: {freddy}; central: {sofala}; high: aviso assumption"),
                ),
                flood(
                    Level::Orange,
                    0.055,
                    0.11,
                    0.22,
                    "aviso assumption: half the red fractions".to_string(),
                ),
                flood(
                    Level::Yellow,
                    0.01,
                    0.03,
                    0.055,
                    "aviso assumption".to_string(),
                ),
            ],
        }
    }
}

impl PlanConfig {
    /// Checks ranges once, so the maths can trust them.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("plan.{name} = {v}: expected a positive number"))
            }
        };
        positive("footprint_threshold_kt", self.footprint_threshold_kt)?;
        positive("max_distance_km", self.max_distance_km)?;
        positive("m2_per_person", self.m2_per_person)?;
        positive("max_capacity_persons", self.max_capacity_persons)?;
        positive("max_floor_area_m2", self.max_floor_area_m2)?;
        positive(
            "outside_country_tolerance_km",
            self.outside_country_tolerance_km,
        )?;
        if self.candidates_per_query == 0 {
            return Err("plan.candidates_per_query = 0: expected at least 1".to_string());
        }
        for (i, d) in self.displacement.iter().enumerate() {
            let ok = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
            if !(ok(d.low)
                && ok(d.central)
                && ok(d.high)
                && d.low <= d.central
                && d.central <= d.high)
            {
                return Err(format!(
                    "plan.displacement[{i}] ({:?} {}): expected 0 <= low <= central <= high <= 1, \
                     found {} / {} / {}",
                    d.hazard,
                    d.level.name_en(),
                    d.low,
                    d.central,
                    d.high
                ));
            }
            if d.source.trim().is_empty() {
                return Err(format!(
                    "plan.displacement[{i}]: a source is required for every fraction"
                ));
            }
            if self.displacement[..i]
                .iter()
                .any(|o| o.hazard == d.hazard && o.level == d.level)
            {
                return Err(format!(
                    "plan.displacement[{i}]: a second fraction for {:?} {}",
                    d.hazard,
                    d.level.name_en()
                ));
            }
        }
        Ok(())
    }

    /// The fraction for a hazard and level, if configured.
    pub fn fraction(&self, hazard: PlanHazard, level: Level) -> Option<&DisplacementFraction> {
        self.displacement
            .iter()
            .find(|d| d.hazard == hazard && d.level == level)
    }
}

/// A low / central / high triple (people, demand or gap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Range3 {
    pub low: f64,
    pub central: f64,
    pub high: f64,
}

impl Range3 {
    pub fn flat(v: f64) -> Range3 {
        Range3 {
            low: v,
            central: v,
            high: v,
        }
    }
    /// `self − v`, floored at 0 (a gap is never negative).
    pub fn gap_over(self, v: f64) -> Range3 {
        Range3 {
            low: (self.low - v).max(0.0),
            central: (self.central - v).max(0.0),
            high: (self.high - v).max(0.0),
        }
    }
}

impl std::ops::Add for Range3 {
    type Output = Range3;
    fn add(self, o: Range3) -> Range3 {
        Range3 {
            low: self.low + o.low,
            central: self.central + o.central,
            high: self.high + o.high,
        }
    }
}

/// Where a centre's capacity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityBasis {
    /// The register's capacity column.
    Register,
    /// Covered floor area / m² per person (Sphere).
    FloorArea,
    /// Neither is known: the centre cannot be planned on.
    Unknown,
}

/// A centre's capacity in persons: the register's figure, else floor area / `m2_per_person`.
pub fn capacity_persons(e: &RegisterEntry, m2_per_person: f64) -> (Option<f64>, CapacityBasis) {
    match (e.capacity_persons, e.floor_area_m2) {
        (Some(c), _) => (Some(c), CapacityBasis::Register),
        (None, Some(a)) if m2_per_person > 0.0 => {
            // Whole persons: a fraction of a person's space holds nobody.
            (Some((a / m2_per_person).floor()), CapacityBasis::FloorArea)
        }
        _ => (None, CapacityBasis::Unknown),
    }
}

/// Free room in persons: capacity minus the latest occupancy, never below 0; `None` when
/// the capacity is unknown.
pub fn free_room(e: &RegisterEntry, m2_per_person: f64) -> Option<f64> {
    let (cap, _) = capacity_persons(e, m2_per_person);
    let present = e
        .latest_occupancy()
        .and_then(|o| o.individuals)
        .unwrap_or(0.0);
    cap.map(|c| (c - present).max(0.0))
}

/// True for entries people can be sent to.
pub fn is_centre(e: &RegisterEntry) -> bool {
    e.role == SiteRole::Centre
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Occupancy, RowOrigin};

    fn entry(cap: Option<f64>, area: Option<f64>, present: Option<f64>) -> RegisterEntry {
        RegisterEntry {
            code: "X".into(),
            name: "Escola".into(),
            site_type: "Escola".into(),
            role: SiteRole::Centre,
            district_pcode: None,
            lon: 34.8,
            lat: -19.8,
            capacity_persons: cap,
            floor_area_m2: area,
            occupancy: present
                .map(|p| Occupancy {
                    date: chrono::NaiveDate::from_ymd_opt(2023, 3, 1).unwrap_or_default(),
                    individuals: Some(p),
                    households: None,
                    source: "t".into(),
                })
                .into_iter()
                .collect(),
            demonstration: false,
            origin: RowOrigin { row: 3 },
        }
    }

    #[test]
    fn capacity_is_the_register_figure_else_floor_area_over_sphere_space() {
        assert_eq!(
            capacity_persons(&entry(Some(500.0), Some(70.0), None), 3.5),
            (Some(500.0), CapacityBasis::Register)
        );
        // 700 m² / 3.5 m² = 200 persons.
        assert_eq!(
            capacity_persons(&entry(None, Some(700.0), None), 3.5),
            (Some(200.0), CapacityBasis::FloorArea)
        );
        assert_eq!(
            capacity_persons(&entry(None, None, None), 3.5),
            (None, CapacityBasis::Unknown)
        );
    }

    #[test]
    fn free_room_is_capacity_minus_latest_occupancy_never_negative() {
        assert_eq!(
            free_room(&entry(Some(500.0), None, Some(120.0)), 3.5),
            Some(380.0)
        );
        assert_eq!(
            free_room(&entry(Some(100.0), None, Some(130.0)), 3.5),
            Some(0.0)
        );
        assert_eq!(free_room(&entry(None, None, Some(10.0)), 3.5), None);
    }

    #[test]
    fn the_default_fractions_validate_and_match_config_default_toml() {
        assert_eq!(PlanConfig::default().validate(), Ok(()));
        let embedded = crate::config::Config::embedded_default().map(|c| c.plan);
        assert_eq!(embedded.ok(), Some(PlanConfig::default()));
    }
}
