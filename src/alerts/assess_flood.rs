//! One flood assessment: station forecast -> levels per day -> impact areas -> districts
//! and people -> the alert ladder; or flood-extent footprints -> districts, sites and
//! people -> the same ladder. The flood counterpart of `crate::alerts::assess`.
//!
//! Pure orchestration of the core; no I/O, no clock (the caller passes `now`), and no
//! application config: it takes the two sections it needs as a [`FloodAssessConfig`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use geo::MultiPolygon;

use crate::alerts::levels::FloodAlertLevels;
use crate::alerts::levels::Level;
use crate::domain::{AdminArea, FloodForecast, RiverBasin, StationGeography, StationImpact};
use crate::exposure::IndexedLayers;
use crate::exposure::flood::{
    FloodDistrict, FloodPoint, PEOPLE_METHOD_NOTE, extent_exposure, flood_districts_with,
};
use crate::hazard::flood::{
    CoastTest, FloodConfig, FloodHazardError, IMPACT_METHOD_NOTE, ImpactArea, ImpactMethod,
    StationOutlook, impact_area, river_method_note, station_outlooks,
};
use crate::hazard::flood_extent::FloodExtent;

/// What one flood assessment reads of the configuration: the flood hazard rules
/// (`[flood]`) and the flood level ladder (`[flood_levels]`). Borrowed from the validated
/// application config (`Config::flood_assessment`).
#[derive(Debug, Clone, Copy)]
pub struct FloodAssessConfig<'a> {
    pub flood: &'a FloodConfig,
    pub levels: &'a FloodAlertLevels,
}

/// What a flood assessment was made from.
#[derive(Debug, Clone)]
pub enum FloodSource {
    /// A river-station ensemble forecast.
    Stations(FloodForecast),
    /// Flood-extent polygons (a satellite or model flood map).
    Extent(FloodExtent),
}

/// Everything one flood forecast or flood map yields; the flood alert document is
/// rendered from it.
#[derive(Debug, Clone)]
pub struct FloodAssessment {
    pub source: FloodSource,
    /// Station levels per day (empty for a flood extent).
    pub outlooks: Vec<StationOutlook>,
    /// Impact areas of the stations that reach a level (others are not computed: the
    /// basin intersections are the costly part).
    pub impact_areas: BTreeMap<String, ImpactArea>,
    pub districts: Vec<FloodDistrict>,
    /// Sites, accommodation centres and health facilities inside a flood extent (empty
    /// for station forecasts, whose impact areas are too coarse to place a site in).
    pub points: Vec<FloodPoint>,
    /// Each district's flood level on the alert ladder (`[flood_levels]`), by P-code.
    pub district_levels: BTreeMap<String, Level>,
    /// Each station's highest flood level on the alert ladder (stations reaching a level).
    pub station_levels: BTreeMap<String, Level>,
    /// Highest level of any district or station.
    pub event_level: Option<Level>,
    pub generated_at: DateTime<Utc>,
    /// The flood levels' alert levels used (`[flood_levels]`).
    pub ladder: FloodAlertLevels,
    pub rule_version: String,
    pub min_probability_pct: f64,
    pub input_notes: Vec<String>,
    pub method_notes: Vec<String>,
}

/// Levels, impact areas, district levels and people for one flood forecast, from the
/// districts alone: no river lines (the basin and manual rules only) and people by area
/// share. `impacts` are the stations' impact areas set in the layers manifest (by station
/// id). The service and `aviso assess` use [`assess_flood_in`].
pub fn assess_flood(
    forecast: &FloodForecast,
    basins: &[RiverBasin],
    impacts: &BTreeMap<String, StationImpact>,
    districts: &[AdminArea],
    country: &MultiPolygon<f64>,
    cfg: FloodAssessConfig<'_>,
    now: DateTime<Utc>,
) -> Result<FloodAssessment, FloodHazardError> {
    let geo = StationGeography {
        basins,
        rivers: &[],
        impacts,
    };
    assess_stations(forecast, geo, districts, country, None, cfg, now)
}

/// Levels, impact areas, district levels and people for one flood forecast over the
/// indexed layers: `geo` from the layers manifest (basins, river lines, `[[flood_impact]]`),
/// the river rule where river lines are loaded, and people inside a river footprint
/// counted as for a flood extent (population grid, settlement points, else area share).
pub fn assess_flood_in(
    forecast: &FloodForecast,
    geo: StationGeography<'_>,
    layers: &IndexedLayers,
    cfg: FloodAssessConfig<'_>,
    now: DateTime<Utc>,
) -> Result<FloodAssessment, FloodHazardError> {
    assess_stations(
        forecast,
        geo,
        &layers.layers.districts,
        &layers.layers.country,
        Some(layers),
        cfg,
        now,
    )
}

fn assess_stations(
    forecast: &FloodForecast,
    geo: StationGeography<'_>,
    districts: &[AdminArea],
    country: &MultiPolygon<f64>,
    layers: Option<&IndexedLayers>,
    cfg: FloodAssessConfig<'_>,
    now: DateTime<Utc>,
) -> Result<FloodAssessment, FloodHazardError> {
    let outlooks = station_outlooks(forecast, cfg.flood);
    let coast = CoastTest::new(country);
    let mut impact_areas = BTreeMap::new();
    for o in outlooks.iter().filter(|o| o.max_level.is_some()) {
        if let Some(station) = forecast.station(&o.station_id) {
            let area = impact_area(
                station,
                geo.basins,
                geo.rivers,
                districts,
                &coast,
                cfg.flood,
                geo.impacts.get(&station.id),
            )?;
            impact_areas.insert(o.station_id.clone(), area);
        }
    }
    let (flooded, footprint_people) =
        flood_districts_with(&outlooks, &impact_areas, districts, layers);
    let mut method_notes = vec![
        IMPACT_METHOD_NOTE.to_string(),
        match footprint_people {
            Some(n) => format!(
                "{PEOPLE_METHOD_NOTE}. Districts reached through a river-buffer footprint: {n}"
            ),
            None => PEOPLE_METHOD_NOTE.to_string(),
        },
    ];
    if impact_areas
        .values()
        .any(|a| a.method == ImpactMethod::RiverBuffer)
    {
        method_notes.push(river_method_note(cfg.flood.river_buffer_km));
    }
    // Which rule each station at a level used, in words.
    method_notes.extend(
        impact_areas
            .values()
            .map(|a| format!("station {}: {}", a.station_id, a.rule)),
    );
    let ladder = cfg.levels;
    let district_levels: BTreeMap<String, Level> = flooded
        .iter()
        .map(|d| (d.pcode.clone(), ladder.of(d.flood_level)))
        .collect();
    let station_levels: BTreeMap<String, Level> = outlooks
        .iter()
        .filter_map(|o| Some((o.station_id.clone(), ladder.of(o.max_level?))))
        .collect();
    // A station at a level raises the event level even if its impact area holds no
    // district (a station outside every basin and district): the alert must not go quiet.
    let event_level = district_levels
        .values()
        .chain(station_levels.values())
        .copied()
        .max();
    Ok(FloodAssessment {
        source: FloodSource::Stations(forecast.clone()),
        points: Vec::new(),
        outlooks,
        impact_areas,
        districts: flooded,
        district_levels,
        station_levels,
        event_level,
        generated_at: now,
        ladder: cfg.levels.clone(),
        rule_version: cfg.flood.rule_version.clone(),
        min_probability_pct: cfg.flood.min_probability_pct,
        input_notes: Vec::new(),
        method_notes,
    })
}

impl FloodAssessment {
    /// The station forecast, when the assessment was made from one.
    pub fn forecast(&self) -> Option<&FloodForecast> {
        match &self.source {
            FloodSource::Stations(f) => Some(f),
            FloodSource::Extent(_) => None,
        }
    }

    /// The flood extent, when the assessment was made from one.
    pub fn extent(&self) -> Option<&FloodExtent> {
        match &self.source {
            FloodSource::Extent(e) => Some(e),
            FloodSource::Stations(_) => None,
        }
    }

    /// The level the forecast or map gives district `pcode` (`None`: it does not reach
    /// it), whatever a person set in `district_levels`.
    pub fn automatic_level(&self, pcode: &str) -> Option<Level> {
        self.districts
            .iter()
            .find(|d| d.pcode == pcode)
            .map(|d| self.ladder.of(d.flood_level))
    }

    /// Whether district `pcode`'s level was set by hand (a manual override, issue 13):
    /// it is on the ladder at another level than the forecast's, or the forecast does
    /// not reach it.
    pub fn set_by_hand(&self, pcode: &str) -> bool {
        self.district_levels
            .get(pcode)
            .is_some_and(|l| self.automatic_level(pcode) != Some(*l))
    }

    /// Sets district levels by hand (manual overrides, issue 13): each district takes its
    /// level, whether the forecast reached it or not, and the event level becomes the
    /// highest district level, or that of a station at a level whose impact area holds no
    /// district (which raises the event by design, [`assess_flood_in`]). A person's level
    /// of a district decides over the stations reaching it, and over a flood map's water
    /// outside every district. Returns the level each district had before (`None`: off
    /// the ladder).
    pub fn set_district_levels(
        &mut self,
        levels: impl IntoIterator<Item = (String, Level)>,
    ) -> BTreeMap<String, Option<Level>> {
        let before: BTreeMap<String, Option<Level>> = levels
            .into_iter()
            .map(|(pcode, level)| {
                let was = self.district_levels.insert(pcode.clone(), level);
                (pcode, was)
            })
            .collect();
        if before.is_empty() {
            return before;
        }
        let reaching: std::collections::BTreeSet<&str> = self
            .districts
            .iter()
            .flat_map(|d| d.stations.iter().map(String::as_str))
            .collect();
        self.event_level = self
            .district_levels
            .values()
            .copied()
            .chain(
                self.station_levels
                    .iter()
                    .filter(|(id, _)| !reaching.contains(id.as_str()))
                    .map(|(_, l)| *l),
            )
            .max();
        before
    }
}

/// Districts, sites and people inside a flood extent, on the flood alert ladder.
pub fn assess_flood_extent(
    extent: FloodExtent,
    layers: &IndexedLayers,
    cfg: FloodAssessConfig<'_>,
    now: DateTime<Utc>,
) -> FloodAssessment {
    let exposure = extent_exposure(&extent, layers);
    let ladder = cfg.levels;
    let district_levels: BTreeMap<String, Level> = exposure
        .districts
        .iter()
        .map(|d| (d.pcode.clone(), ladder.of(d.flood_level)))
        .collect();
    // Water mapped outside every district (the sea, a neighbour country) still raises
    // the event: the map shows a flood.
    let event_level = district_levels
        .values()
        .copied()
        .chain(extent.max_level().map(|l| ladder.of(l)))
        .max();
    let rule = cfg.flood.extent.rule_note(&extent.basis);
    FloodAssessment {
        input_notes: extent.notes.clone(),
        outlooks: Vec::new(),
        impact_areas: BTreeMap::new(),
        districts: exposure.districts,
        points: exposure.points,
        district_levels,
        station_levels: BTreeMap::new(),
        event_level,
        generated_at: now,
        ladder: cfg.levels.clone(),
        rule_version: rule,
        min_probability_pct: cfg.flood.min_probability_pct,
        method_notes: vec![
            format!(
                "footprint = the polygons of {} as given (no buffer, no simplification); a district is reached when it shares area with a polygon, at the highest level of those polygons",
                extent.origin
            ),
            exposure.people_method_note,
        ],
        source: FloodSource::Extent(extent),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::{ByLevel, FloodLevel, FloodOrigins, FloodStation, StationForecast};
    use chrono::NaiveDate;

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
        let mut cfg = Config::embedded_default().unwrap();
        for s in ["up", "down"] {
            cfg.flood
                .impact_districts
                .insert(s.into(), vec!["MZ0202".into()]);
        }
        let now = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
        let a = assess_flood(
            &fc,
            &[],
            &BTreeMap::new(),
            &[district],
            &MultiPolygon::new(vec![]),
            cfg.flood_assessment(),
            now,
        )
        .unwrap();
        let d = &a.districts[0];
        assert_eq!(d.flood_level, FloodLevel::Moderate);
        assert_eq!(a.district_levels.get("MZ0202"), Some(&Level::Orange));
        // The first day at the district's level (moderate), not the first bankfull day.
        assert_eq!(d.first_date, NaiveDate::from_ymd_opt(2025, 9, 28));
        assert_eq!(d.stations, vec!["up".to_string(), "down".to_string()]);
        assert_eq!(d.people_at_risk, Some(1000.0));
        assert_eq!(a.event_level, Some(Level::Orange));

        // A person lowers Chibuto and puts Guijá (which no station reaches) on the ladder
        // (issue 13): the stations reaching Chibuto no longer hold the event at orange.
        let mut edited = a.clone();
        let before = edited.set_district_levels([
            ("MZ0202".to_string(), Level::Yellow),
            ("MZ0203".to_string(), Level::Green),
        ]);
        assert_eq!(before["MZ0202"], Some(Level::Orange));
        assert_eq!(before["MZ0203"], None);
        assert_eq!(edited.event_level, Some(Level::Yellow));
        assert_eq!(edited.automatic_level("MZ0202"), Some(Level::Orange));
        assert_eq!(edited.automatic_level("MZ0203"), None);
        assert!(edited.set_by_hand("MZ0202") && edited.set_by_hand("MZ0203"));
        assert!(!a.set_by_hand("MZ0202"));
        // A station at a level whose impact area holds no district still raises it.
        let mut far = a.clone();
        far.station_levels.insert("far".into(), Level::Red);
        far.set_district_levels([("MZ0202".to_string(), Level::Yellow)]);
        assert_eq!(far.event_level, Some(Level::Red));
        // Nothing set: nothing changes.
        let mut same = a.clone();
        assert!(same.set_district_levels([]).is_empty());
        assert_eq!(same.event_level, a.event_level);
    }
}
