//! The tables of a plan: centres with their safety and room, origins, allocations, and
//! the rows per district, province and country. Pure data (serde for the JSON output).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{CapacityBasis, DisplacementFraction, PlanHazard, Range3};
use crate::alerts::levels::Level;

/// A centre of the register, for this event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CentreStatus {
    pub code: String,
    pub name: String,
    pub site_type: String,
    pub district_pcode: Option<String>,
    pub province_pcode: Option<String>,
    pub lon: f64,
    pub lat: f64,
    pub capacity: Option<f64>,
    pub capacity_basis: CapacityBasis,
    pub occupancy: Option<f64>,
    pub occupancy_date: Option<NaiveDate>,
    /// Days between the occupancy figure and the forecast's reference time.
    pub occupancy_age_days: Option<i64>,
    /// Capacity − latest occupancy, before this plan (0 when unknown).
    pub free_room: f64,
    pub safe: bool,
    /// Highest forecast threshold (kt) whose swath holds the centre, when unsafe by wind.
    pub unsafe_threshold_kt: Option<f64>,
    /// Unsafe because inside an extra area (flood extent).
    pub in_extra_unsafe_area: bool,
    /// Persons this plan sends there (≤ `free_room`).
    pub allocated: f64,
    pub demonstration: bool,
}

/// A settlement or site whose people need somewhere to go.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OriginPlan {
    pub id: String,
    pub name: String,
    /// "settlement", "site" or "district" (an interior point of the district's part of the
    /// footprint, when it has no settlement point inside).
    pub kind: &'static str,
    pub lon: f64,
    pub lat: f64,
    pub district_pcode: Option<String>,
    pub max_threshold_kt: f64,
    /// Persons to move (central demand share, or a site's present residents).
    pub demand: f64,
    pub allocated: f64,
    pub shortfall: f64,
    /// Geodesic km to the nearest safe centre, room or not.
    pub nearest_safe_km: Option<f64>,
    /// No safe centre within `plan.max_distance_km`.
    pub no_safe_centre_within_max: bool,
}

/// Persons sent from one origin to one centre.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allocation {
    pub origin_id: String,
    pub origin_kind: &'static str,
    pub origin_lon: f64,
    pub origin_lat: f64,
    pub centre_code: String,
    pub centre_name: String,
    pub centre_lon: f64,
    pub centre_lat: f64,
    pub persons: f64,
    /// Geodesic distance, km (WGS 84).
    pub distance_km: f64,
    /// From the travel-time matrix, when it listed the pair.
    pub travel_min: Option<f64>,
    /// 1 = the origin's first choice.
    pub rank: usize,
}

/// One row of the table: a district, a province or the country.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaPlan {
    pub scope: &'static str,
    pub pcode: String,
    pub name: String,
    pub province_pcode: Option<String>,
    pub province_name: Option<String>,
    pub level: Option<Level>,
    /// People at risk in the footprint (low/central/high differ only with probabilistic input).
    pub people_at_risk: Range3,
    /// The displacement fraction applied (district rows).
    pub fraction: Option<Range3>,
    pub demand: Range3,
    pub centres: usize,
    pub centres_unsafe: usize,
    /// Centres without a capacity or floor area.
    pub centres_capacity_unknown: usize,
    /// Free room of the area's safe centres, persons, before allocation.
    pub safe_capacity: f64,
    /// Demand − safe capacity, floored at 0.
    pub gap: Range3,
    pub settlements_at_risk: usize,
    pub sites_at_risk: usize,
    /// Origins with no safe centre within `plan.max_distance_km`.
    pub origins_without_centre: usize,
    /// Central demand of the area's origins placed in centres, and the rest.
    pub allocated: f64,
    pub shortfall: f64,
    /// Districts of the area whose population is unknown (`PeopleMethod::NoPopulation`):
    /// their people at risk and demand are not 0 but unknown, and the sums leave them
    /// out. 1 or 0 on a district row.
    pub districts_population_unknown: usize,
    /// Lead time to arrival, hours from the forecast's reference time: a cyclone's first
    /// arrival of the footprint's wind in the district (the alert document's
    /// `lead_time_h`), a flood forecast's first day at the district's level from its issue
    /// day's 00:00 (daily steps). A province or the country: its earliest district. `None`
    /// when nothing arrives or the forecast gives no time (a flood map).
    pub arrival_h: Option<f64>,
}

impl AreaPlan {
    pub(super) fn empty(scope: &'static str, pcode: &str, name: &str) -> AreaPlan {
        AreaPlan {
            scope,
            pcode: pcode.to_string(),
            name: name.to_string(),
            province_pcode: None,
            province_name: None,
            level: None,
            people_at_risk: Range3::default(),
            fraction: None,
            demand: Range3::default(),
            centres: 0,
            centres_unsafe: 0,
            centres_capacity_unknown: 0,
            safe_capacity: 0.0,
            gap: Range3::default(),
            settlements_at_risk: 0,
            sites_at_risk: 0,
            origins_without_centre: 0,
            allocated: 0.0,
            shortfall: 0.0,
            arrival_h: None,
            districts_population_unknown: 0,
        }
    }

    /// Adds a district's counts (for province and national rows).
    pub(super) fn absorb(&mut self, d: &AreaPlan) {
        self.level = self.level.max(d.level);
        self.people_at_risk = self.people_at_risk + d.people_at_risk;
        self.demand = self.demand + d.demand;
        self.centres += d.centres;
        self.centres_unsafe += d.centres_unsafe;
        self.centres_capacity_unknown += d.centres_capacity_unknown;
        self.safe_capacity += d.safe_capacity;
        self.settlements_at_risk += d.settlements_at_risk;
        self.sites_at_risk += d.sites_at_risk;
        self.origins_without_centre += d.origins_without_centre;
        self.allocated += d.allocated;
        self.shortfall += d.shortfall;
        self.districts_population_unknown += d.districts_population_unknown;
        self.arrival_h = match (self.arrival_h, d.arrival_h) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        self.gap = self.demand.gap_over(self.safe_capacity);
    }
}

/// The plan for one forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// What the plan is for: wind (a cyclone forecast) or flood.
    pub hazard: PlanHazard,
    pub storm: String,
    pub reference_time: DateTime<Utc>,
    pub footprint_threshold_kt: Option<f64>,
    /// `plan.max_distance_km`, for the table's "no safe centre within" column.
    pub max_distance_km: f64,
    pub register_source: String,
    /// True when any centre of the register is a demonstration centre (not a real site).
    pub demonstration: bool,
    /// The configured displacement fractions of [`Plan::hazard`], with their sources: what
    /// the district rows' `fraction` came from.
    pub fractions: Vec<DisplacementFraction>,
    pub districts: Vec<AreaPlan>,
    pub provinces: Vec<AreaPlan>,
    pub national: AreaPlan,
    pub centres: Vec<CentreStatus>,
    pub origins: Vec<OriginPlan>,
    pub allocations: Vec<Allocation>,
    pub notes: Vec<String>,
}
