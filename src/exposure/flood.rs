//! Flood exposure: station levels and impact areas -> each district's flood level, first
//! day and people at risk, as one [`FloodAssessment`].
//!
//! Pure: no I/O, no clock (the caller passes `now`). Must not depend on feeds, layers'
//! readers or any adapter.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use geo::MultiPolygon;
use serde::Serialize;

use crate::alerts::levels::Level;
use crate::domain::{AdminArea, FloodForecast, FloodLevel, RiverBasin};
use crate::hazard::flood::{
    CoastTest, FloodConfig, FloodHazardError, IMPACT_METHOD_NOTE, ImpactArea, StationOutlook,
    impact_area, station_outlooks,
};

/// What the people-at-risk figures mean, for the alert's method notes.
pub const PEOPLE_METHOD_NOTE: &str = "people at risk = district population × share of the district's area inside the impact area (the part of the district in the station's basin; the whole district for configured P-code lists). Area shares assume people spread evenly: an upper bound for districts whose people live away from the river, a lower bound for those crowded along it";

/// One district reached by a flood forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodDistrict {
    pub pcode: String,
    pub name: String,
    pub province_pcode: Option<String>,
    pub province_name: Option<String>,
    /// The highest station level affecting the district.
    pub flood_level: FloodLevel,
    /// `flood_level` on the alert ladder (`[flood.alert_levels]`).
    pub level: Level,
    /// First day any affecting station is at `flood_level`.
    pub first_date: NaiveDate,
    /// Stations (ids) whose impact area holds the district and which reach a level.
    pub stations: Vec<String>,
    pub area_share: f64,
    pub population: Option<f64>,
    /// `None` when the population is unknown.
    pub people_at_risk: Option<f64>,
}

/// Everything one flood forecast yields; the flood alert document is rendered from it.
#[derive(Debug, Clone)]
pub struct FloodAssessment {
    pub forecast: FloodForecast,
    pub outlooks: Vec<StationOutlook>,
    /// Impact areas of the stations that reach a level (others are not computed).
    pub impact_areas: BTreeMap<String, ImpactArea>,
    pub districts: Vec<FloodDistrict>,
    /// Each station's highest flood level on the alert ladder (stations reaching a level).
    pub station_levels: BTreeMap<String, Level>,
    pub event_level: Option<Level>,
    pub generated_at: DateTime<Utc>,
    pub rule_version: String,
    pub min_probability_pct: f64,
    pub input_notes: Vec<String>,
    pub method_notes: Vec<String>,
}

/// Levels, impact areas, district levels and people for one flood forecast.
pub fn assess_flood(
    forecast: &FloodForecast,
    basins: &[RiverBasin],
    districts: &[AdminArea],
    country: &MultiPolygon<f64>,
    cfg: &FloodConfig,
    now: DateTime<Utc>,
) -> Result<FloodAssessment, FloodHazardError> {
    let outlooks = station_outlooks(forecast, cfg);
    let coast = CoastTest::new(country);
    let mut impact_areas = BTreeMap::new();
    let mut by_district: BTreeMap<String, FloodDistrict> = BTreeMap::new();
    for o in &outlooks {
        let (Some(max), Some(station)) = (o.max_level, forecast.station(&o.station_id)) else {
            continue;
        };
        let area = impact_area(station, basins, districts, &coast, cfg)?;
        let first = o.first_date.get(max);
        for idist in &area.districts {
            let Some(d) = districts.iter().find(|d| d.pcode == idist.pcode) else {
                continue;
            };
            let Some(first) = first else { continue };
            let entry = by_district
                .entry(d.pcode.clone())
                .or_insert_with(|| FloodDistrict {
                    pcode: d.pcode.clone(),
                    name: d.name.clone(),
                    province_pcode: d.parent_pcode.clone(),
                    province_name: d.parent_name.clone(),
                    flood_level: max,
                    level: cfg.alert_levels.of(max),
                    first_date: first,
                    stations: Vec::new(),
                    area_share: 0.0,
                    population: d.population,
                    people_at_risk: None,
                });
            if max > entry.flood_level || (max == entry.flood_level && first < entry.first_date) {
                entry.flood_level = max;
                entry.level = cfg.alert_levels.of(max);
                entry.first_date = first;
            }
            entry.stations.push(o.station_id.clone());
            // Two stations of one basin cover the same part of the district: the larger
            // share, not the sum.
            entry.area_share = entry.area_share.max(idist.area_share);
            entry.people_at_risk = d.population.map(|p| p * entry.area_share);
        }
        impact_areas.insert(o.station_id.clone(), area);
    }
    let districts: Vec<FloodDistrict> = by_district.into_values().collect();
    let station_levels: BTreeMap<String, Level> = outlooks
        .iter()
        .filter_map(|o| Some((o.station_id.clone(), cfg.alert_levels.of(o.max_level?))))
        .collect();
    // A station at a level raises the event level even if its impact area holds no
    // district (a station outside every basin and district): the alert must not go quiet.
    let event_level = districts
        .iter()
        .map(|d| d.level)
        .chain(station_levels.values().copied())
        .max();
    Ok(FloodAssessment {
        forecast: forecast.clone(),
        outlooks,
        impact_areas,
        districts,
        station_levels,
        event_level,
        generated_at: now,
        rule_version: cfg.rule_version.clone(),
        min_probability_pct: cfg.min_probability_pct,
        input_notes: Vec::new(),
        method_notes: vec![
            IMPACT_METHOD_NOTE.to_string(),
            PEOPLE_METHOD_NOTE.to_string(),
        ],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{ByLevel, FloodOrigins, FloodStation, StationForecast};

    fn station(id: &str) -> FloodStation {
        FloodStation {
            id: id.into(),
            name: id.into(),
            river: "R".into(),
            lon: 33.0,
            lat: -20.0,
            thresholds_m3s: ByLevel {
                bankfull: 1.0,
                moderate: 2.0,
                severe: 3.0,
            },
        }
    }

    fn day(id: &str, d: u32, n: [u32; 3]) -> StationForecast {
        StationForecast {
            station_id: id.into(),
            valid_date: NaiveDate::from_ymd_opt(2025, 9, d).unwrap(),
            total_members: 10,
            member_discharges_m3s: vec![],
            exceeding: ByLevel {
                bankfull: n[0],
                moderate: n[1],
                severe: n[2],
            },
            probability: ByLevel::default(),
        }
    }

    #[test]
    fn a_district_takes_the_highest_station_level_and_its_first_day() {
        let fc = FloodForecast {
            issue_date: NaiveDate::from_ymd_opt(2025, 9, 25).unwrap(),
            stations: vec![station("up"), station("down")],
            // "up" is bankfull from the 26th; "down" moderate from the 28th.
            days: vec![
                day("up", 26, [5, 0, 0]),
                day("down", 27, [9, 1, 0]),
                day("down", 28, [9, 4, 0]),
            ],
            origins: FloodOrigins::default(),
        };
        let district = AdminArea {
            pcode: "MZ0202".into(),
            name: "Chibuto".into(),
            parent_pcode: Some("MZ02".into()),
            parent_name: Some("Gaza".into()),
            geometry: MultiPolygon::new(vec![]),
            area_km2: 1.0,
            population: Some(1000.0),
            population_source: None,
        };
        let mut cfg = FloodConfig::default();
        for s in ["up", "down"] {
            cfg.impact_districts.insert(s.into(), vec!["MZ0202".into()]);
        }
        let now = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
        let a = assess_flood(&fc, &[], &[district], &MultiPolygon::new(vec![]), &cfg, now).unwrap();
        let d = &a.districts[0];
        assert_eq!(d.flood_level, FloodLevel::Moderate);
        assert_eq!(d.level, Level::Orange);
        // The first day at the district's level (moderate), not the first bankfull day.
        assert_eq!(d.first_date, NaiveDate::from_ymd_opt(2025, 9, 28).unwrap());
        assert_eq!(d.stations, vec!["up".to_string(), "down".to_string()]);
        assert_eq!(d.people_at_risk, Some(1000.0));
        assert_eq!(a.event_level, Some(Level::Orange));
    }
}
