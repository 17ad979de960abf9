//! Flood exposure: station levels and impact areas -> each district's flood level, first
//! day and people at risk.
//!
//! Pure: no I/O, no clock. Must not depend on feeds, layers' readers, alerts or any
//! adapter; the alert ladder is applied later (`crate::assess_flood`).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::{AdminArea, FloodLevel};
use crate::hazard::flood::{ImpactArea, StationOutlook};

/// What the people-at-risk figures mean, for the alert's method notes.
pub const PEOPLE_METHOD_NOTE: &str = "people at risk = district population × share of the district's area inside the impact area (the part of the district in the station's basin; the whole district for configured P-code lists). Area shares assume people spread evenly: an upper bound for districts whose people live away from the river, a lower bound for those crowded along it";

/// One district reached by a flood forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodDistrict {
    pub pcode: String,
    pub name: String,
    pub province_pcode: Option<String>,
    pub province_name: Option<String>,
    /// The highest level of the stations whose impact area holds the district.
    pub flood_level: FloodLevel,
    /// First day any of those stations is at `flood_level`.
    pub first_date: NaiveDate,
    /// Stations (ids) whose impact area holds the district and which reach a level.
    pub stations: Vec<String>,
    pub area_share: f64,
    pub population: Option<f64>,
    /// `None` when the population is unknown.
    pub people_at_risk: Option<f64>,
}

/// Districts reached by the stations that reach a level, by P-code.
pub fn flood_districts(
    outlooks: &[StationOutlook],
    impact_areas: &BTreeMap<String, ImpactArea>,
    districts: &[AdminArea],
) -> Vec<FloodDistrict> {
    let mut by_district: BTreeMap<String, FloodDistrict> = BTreeMap::new();
    for o in outlooks {
        let (Some(max), Some(area)) = (o.max_level, impact_areas.get(&o.station_id)) else {
            continue;
        };
        let Some(first) = o.first_date.get(max) else {
            continue;
        };
        for idist in &area.districts {
            let Some(d) = districts.iter().find(|d| d.pcode == idist.pcode) else {
                continue;
            };
            let entry = by_district
                .entry(d.pcode.clone())
                .or_insert_with(|| FloodDistrict {
                    pcode: d.pcode.clone(),
                    name: d.name.clone(),
                    province_pcode: d.parent_pcode.clone(),
                    province_name: d.parent_name.clone(),
                    flood_level: max,
                    first_date: first,
                    stations: Vec::new(),
                    area_share: 0.0,
                    population: d.population,
                    people_at_risk: None,
                });
            if max > entry.flood_level || (max == entry.flood_level && first < entry.first_date) {
                entry.flood_level = max;
                entry.first_date = first;
            }
            entry.stations.push(o.station_id.clone());
            // Two stations of one basin cover the same part of the district: the larger
            // share, not the sum.
            entry.area_share = entry.area_share.max(idist.area_share);
            entry.people_at_risk = d.population.map(|p| p * entry.area_share);
        }
    }
    by_district.into_values().collect()
}
