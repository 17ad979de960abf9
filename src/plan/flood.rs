//! The plan for a flood version (issue 14 part 3): demand per district = the flood
//! assessment's people at risk × the configured flood displacement fraction of the
//! district's level (`[[plan.displacement]]` with `hazard = "flood"`, low / central /
//! high, each with its source); a centre inside any flood area is unsafe; the settlements
//! and register sites inside the flood areas are the origins, and the allocation and the
//! tables are the cyclone plan's (`build::finish`).
//!
//! Flood areas: for a river-station forecast, the impact area of every station that
//! reaches a level (its polygon; the listed districts' whole areas for a configured P-code
//! list); for a flood map, its polygons. Their rank (the alert level, green 0 … red 3)
//! orders the origins, highest first. A district whose population is unknown has no
//! demand figure and is counted as such. Core: no I/O.

use std::collections::BTreeMap;

use geo::MultiPolygon;

use super::build::{Common, Front, Zone, finish};
use super::tables::AreaPlan;
use super::{Plan, PlanConfig, PlanHazard, Range3, TravelTimes};
use crate::alerts::assess_flood::{FloodAssessment, FloodSource};
use crate::alerts::levels::Level;
use crate::domain::{AdminArea, Register};
use crate::exposure::IndexedLayers;

/// What one flood plan reads.
pub struct FloodPlanInput<'a> {
    pub assessment: &'a FloodAssessment,
    pub layers: &'a IndexedLayers,
    /// The register in force (validated).
    pub register: &'a Register,
    pub travel_times: Option<&'a TravelTimes>,
}

/// A level as a number that orders origins (green 0 … red 3).
fn rank(l: Level) -> f64 {
    f64::from(l as u8)
}

/// The flood areas of an assessment with their rank, see the module documentation.
pub fn flood_areas(a: &FloodAssessment, layers: &IndexedLayers) -> Vec<(MultiPolygon<f64>, f64)> {
    flood_areas_over(a, &layers.layers.districts)
}

/// [`flood_areas`] over a districts layer (the contingency sheet's map has no index).
pub fn flood_areas_over(
    a: &FloodAssessment,
    district_layer: &[AdminArea],
) -> Vec<(MultiPolygon<f64>, f64)> {
    match &a.source {
        FloodSource::Extent(e) => e
            .footprints
            .iter()
            .map(|f| (f.geometry.clone(), rank(a.ladder.of(f.level))))
            .collect(),
        FloodSource::Stations(_) => a
            .impact_areas
            .values()
            .filter_map(|area| {
                let level = a.station_levels.get(&area.station_id)?;
                let geometry = match &area.footprint {
                    Some(g) => g.clone(),
                    None => MultiPolygon(
                        area.districts
                            .iter()
                            .filter_map(|d| district_layer.iter().find(|x| x.pcode == d.pcode))
                            .flat_map(|d| d.geometry.0.iter().cloned())
                            .collect(),
                    ),
                };
                (!geometry.0.is_empty()).then(|| (geometry, rank(*level)))
            })
            .collect(),
    }
}

/// Builds the plan of a flood version at the levels it announced (`levels`, P-code to
/// level; a district it leaves out takes the assessment's level).
pub fn build_flood_plan(
    input: &FloodPlanInput<'_>,
    cfg: &PlanConfig,
    levels: &BTreeMap<String, Level>,
) -> Plan {
    let a = input.assessment;
    let mut notes = vec![
        "Distances are geodesic (WGS 84): no road network is available; a travel-time \
         matrix (--travel-times) replaces the order for the origins it lists."
            .to_string(),
        format!(
            "Capacity: the register's figure, else covered floor area / {} m² per person \
             (Sphere 2018). Free room = capacity − latest occupancy.",
            cfg.m2_per_person
        ),
        "Only the central demand is allocated; low and high are shown as a range.".to_string(),
        "Flood: demand = people at risk of the flood assessment × the flood displacement \
         fraction of the district's level; a centre inside a flood area (a station's impact \
         area, or a flood map's polygon) is unsafe."
            .to_string(),
    ];
    let areas = flood_areas(a, input.layers);
    if areas.is_empty() {
        notes.push("No flood area: no demand, every centre safe.".to_string());
    }
    let mut districts = Vec::with_capacity(a.districts.len());
    for d in &a.districts {
        let level = levels
            .get(&d.pcode)
            .or_else(|| a.district_levels.get(&d.pcode))
            .copied();
        let people = d.people_at_risk.unwrap_or(0.0);
        let fraction = level
            .and_then(|l| cfg.fraction(PlanHazard::Flood, l))
            .map(|f| Range3 {
                low: f.low,
                central: f.central,
                high: f.high,
            });
        let mut row = AreaPlan::empty("district", &d.pcode, &d.name);
        row.province_pcode.clone_from(&d.province_pcode);
        row.province_name.clone_from(&d.province_name);
        row.level = level;
        row.people_at_risk = Range3::flat(people);
        row.districts_population_unknown = usize::from(d.people_at_risk.is_none());
        // Daily steps: the first day at the district's level, from the issue day's 00:00.
        row.arrival_h = a
            .forecast()
            .zip(d.first_date)
            .map(|(f, first)| (first - f.issue_date).num_days() as f64 * 24.0);
        row.fraction = fraction;
        row.demand = fraction
            .map(|f| Range3 {
                low: people * f.low,
                central: people * f.central,
                high: people * f.high,
            })
            .unwrap_or_default();
        districts.push(row);
    }
    let mut ordered: Vec<&(MultiPolygon<f64>, f64)> = areas.iter().collect();
    // Ascending, as `Front::zones` asks: a point in several areas keeps the highest rank.
    ordered.sort_by(|x, y| x.1.total_cmp(&y.1));
    let unsafe_areas: Vec<MultiPolygon<f64>> = areas.iter().map(|(g, _)| g.clone()).collect();
    let zones = ordered
        .iter()
        .map(|(g, r)| Zone {
            geometry: g,
            wind_kt: None,
            rank: *r,
        })
        .collect();
    let storm = match &a.source {
        FloodSource::Stations(f) => format!("Flood forecast of {}", f.issue_date),
        FloodSource::Extent(e) => format!("Flood map {}", e.origin),
    };
    finish(
        Front {
            hazard: PlanHazard::Flood,
            storm,
            reference_time: a.generated_at,
            footprint_threshold_kt: None,
            zones,
            extra_unsafe: &unsafe_areas,
            districts,
            notes,
        },
        &Common {
            layers: input.layers,
            register: input.register,
            travel_times: input.travel_times,
        },
        cfg,
    )
}
