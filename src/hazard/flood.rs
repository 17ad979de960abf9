//! River-flood hazard: each station's level per valid day under a configurable ensemble
//! probability rule, its peak day and first day at each level, and the area a station's
//! flood would reach (its impact area).
//!
//! Pure: no I/O, no clock. Must not depend on feeds, layers, exposure, alerts or any
//! adapter; basins, districts and the country outline come in as arguments. Distances are
//! haversine on lon/lat (geo's `Haversine`), never Euclidean degrees.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use geo::{
    BoundingRect, Contains, Coord, Distance, Haversine, InteriorPoint, Intersects, MultiPolygon,
    Point,
};
use serde::{Deserialize, Serialize};

use crate::domain::{
    AdminArea, ByLevel, FloodForecast, FloodLevel, FloodStation, RiverBasin, StationForecast,
    StationImpact,
};
use crate::hazard::geodesy::{area_km2, intersection, union_multi};

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
    /// A flood forecast issued within this many days after a cyclone's last forecast, in
    /// districts that cyclone put on the ladder, belongs to the cyclone's incident (CAP
    /// `incidents`): the event carries both. Rain reaches the large rivers days after
    /// landfall: after Idai (landfall 14-15 March 2019) the Búzi and Púngoè flooded for
    /// about a week (OCHA Mozambique situation reports, March 2019), and the Zambeze and
    /// Limpopo carry water from upstream countries longer. 0 links nothing.
    pub after_cyclone_days: f64,
    /// Flood-extent polygons (`[flood.extent]`): how a polygon gets its level.
    pub extent: crate::hazard::flood_extent::FloodExtentConfig,
}

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
            after_cyclone_days: 10.0,
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
        let d = self.after_cyclone_days;
        if !(0.0..=60.0).contains(&d) {
            return Err(FloodHazardError::Config(format!(
                "flood.after_cyclone_days = {d}: expected 0 to 60 days"
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

/// How a station's impact area was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactMethod {
    /// A list of district P-codes (`[[flood_impact]]` in the layers manifest, or
    /// `flood.impact_districts`).
    Configured,
    /// A polygon (`[[flood_impact]]` in the layers manifest): the districts it overlaps by
    /// at least `flood.min_district_share` of their area.
    ConfiguredPolygon,
    /// Districts of the station's basin no further from the basin outlet than the station.
    BasinDownstream,
    /// The station lies in a basin without a coastal outlet (a lake basin): every district
    /// of the basin.
    WholeBasin,
    /// The station lies in no basin: only the district it lies in.
    StationDistrict,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpactDistrict {
    pub pcode: String,
    /// Share of the district's area inside the impact area (1 for configured lists).
    pub area_share: f64,
}

/// Where a station's flood would reach.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpactArea {
    pub station_id: String,
    pub method: ImpactMethod,
    pub basin: Option<String>,
    /// The basin's outlet: its boundary vertex on the coast nearest the station.
    pub outlet: Option<(f64, f64)>,
    pub station_to_outlet_km: Option<f64>,
    pub districts: Vec<ImpactDistrict>,
}

/// What the impact-area rule does, for the alert's method notes.
pub const IMPACT_METHOD_NOTE: &str = "impact area per station (an approximation, no river network or flood model): the districts overlapping the station's river basin (the basin named after the station's river when the station lies within 25 km of it, else the smallest basin polygon containing the station) whose representative point (interior point of the district's part in the basin) is no further (haversine) from the basin outlet than the station is, plus the district holding the station. The outlet is the basin's boundary vertex on the sea coast (a vertex with no Mozambique land east of it) nearest the station. [[flood_impact]] in the layers manifest (or flood.impact_districts in the configuration) replaces this per station with a list of P-codes or a polygon";

/// Edges of the country outline bucketed by latitude, to test quickly whether land lies
/// east of a point (the coast of Mozambique faces east: a basin vertex with no land east
/// of it is on the coast).
pub struct CoastTest {
    y0: f64,
    band_deg: f64,
    bands: Vec<Vec<(Coord<f64>, Coord<f64>)>>,
}

/// Distance east of a vertex (degrees, ≈ 2 km) within which crossings are ignored: the
/// coast edge the vertex itself lies on, after different simplifications of the two layers.
const COAST_EAST_TOLERANCE_DEG: f64 = 0.02;

impl CoastTest {
    pub fn new(country: &MultiPolygon<f64>) -> Self {
        let band_deg = 0.05;
        let Some(r) = country.bounding_rect() else {
            return CoastTest {
                y0: 0.0,
                band_deg,
                bands: Vec::new(),
            };
        };
        let n = (((r.max().y - r.min().y) / band_deg).ceil() as usize).max(1);
        let mut bands: Vec<Vec<(Coord<f64>, Coord<f64>)>> = vec![Vec::new(); n];
        for p in &country.0 {
            for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                for l in ring.lines() {
                    let lo = ((l.start.y.min(l.end.y) - r.min().y) / band_deg).floor() as usize;
                    let hi = ((l.start.y.max(l.end.y) - r.min().y) / band_deg).floor() as usize;
                    for b in bands.iter_mut().take(hi.min(n - 1) + 1).skip(lo) {
                        b.push((l.start, l.end));
                    }
                }
            }
        }
        CoastTest {
            y0: r.min().y,
            band_deg,
            bands,
        }
    }

    /// True when no outline edge crosses the ray going east from `c` (beyond a small
    /// tolerance): nothing of the country lies east.
    pub fn open_to_the_east(&self, c: Coord<f64>) -> bool {
        let b = ((c.y - self.y0) / self.band_deg).floor();
        if b < 0.0 {
            return true;
        }
        let Some(edges) = self.bands.get(b as usize) else {
            return true;
        };
        !edges.iter().any(|(a, e)| {
            if (a.y > c.y) == (e.y > c.y) {
                return false;
            }
            let x = a.x + (c.y - a.y) * (e.x - a.x) / (e.y - a.y);
            x > c.x + COAST_EAST_TOLERANCE_DEG
        })
    }
}

fn km(a: Point<f64>, b: Point<f64>) -> f64 {
    Haversine.distance(a, b) / 1000.0
}

/// How far (km, to the nearest boundary vertex) a station may lie outside the basin named
/// after its river and still be given to it. Forecast points sit on the GloFAS 0.05° grid
/// (about 5.5 km; the shared stations are all at x.x25°) and the basins are simplified to
/// 200 m, so a station near a watershed can fall just across it (90 gurue, on the
/// Licungo, lies inside the Lúrio polygon).
pub const RIVER_BASIN_SNAP_KM: f64 = 25.0;

/// Lower case without Portuguese accents, so "Buzi" matches "R. Búzi".
fn fold(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' => 'o',
            'ú' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .collect()
}

/// The station's basin: the basin named after its river when the station lies in it or
/// within [`RIVER_BASIN_SNAP_KM`] of it; otherwise the smallest basin holding the station
/// (basins may nest: a national "Moçambique" polygon holds them all).
pub fn basin_of<'a>(basins: &'a [RiverBasin], station: &FloodStation) -> Option<&'a RiverBasin> {
    let p = Point::new(station.lon, station.lat);
    let river = fold(&station.river);
    let named = basins.iter().find(|b| {
        !river.is_empty()
            && fold(&b.name).contains(&river)
            && (b.geometry.contains(&p)
                || b.geometry
                    .0
                    .iter()
                    .flat_map(|poly| poly.exterior().0.iter())
                    .any(|c| km(p, Point::from(*c)) <= RIVER_BASIN_SNAP_KM))
    });
    named.or_else(|| {
        basins
            .iter()
            .filter(|b| b.geometry.contains(&p))
            .min_by(|a, b| a.area_km2.total_cmp(&b.area_km2))
    })
}

/// The impact area of one station; see [`IMPACT_METHOD_NOTE`]. `configured` is the
/// station's area from the layers manifest, if any; setting one there and in
/// `flood.impact_districts` too is an error (which should win is not for aviso to guess).
pub fn impact_area(
    station: &FloodStation,
    basins: &[RiverBasin],
    districts: &[AdminArea],
    coast: &CoastTest,
    cfg: &FloodConfig,
    configured: Option<&StationImpact>,
) -> Result<ImpactArea, FloodHazardError> {
    let at = Point::new(station.lon, station.lat);
    let mut area = ImpactArea {
        station_id: station.id.clone(),
        method: ImpactMethod::StationDistrict,
        basin: None,
        outlet: None,
        station_to_outlet_km: None,
        districts: Vec::new(),
    };
    let from_config = cfg.impact_districts.get(&station.id);
    if configured.is_some() && from_config.is_some() {
        return Err(FloodHazardError::Config(format!(
            "station {}: impact area set both in the layers manifest ([[flood_impact]]) and in flood.impact_districts; keep one",
            station.id
        )));
    }
    if let Some(StationImpact::Polygon { geometry, .. }) = configured {
        area.method = ImpactMethod::ConfiguredPolygon;
        // The file's polygons may overlap: merge them so no area counts twice.
        let footprint = union_multi(std::iter::once(geometry));
        let Some(bbox) = footprint.bounding_rect() else {
            return Ok(area);
        };
        for d in districts {
            if !d
                .geometry
                .bounding_rect()
                .is_some_and(|r| r.intersects(&bbox))
            {
                continue;
            }
            let share = if d.area_km2 > 0.0 {
                (area_km2(&intersection(&d.geometry, &footprint)) / d.area_km2).min(1.0)
            } else {
                0.0
            };
            if share > 0.0 && share >= cfg.min_district_share {
                area.districts.push(ImpactDistrict {
                    pcode: d.pcode.clone(),
                    area_share: share,
                });
            }
        }
        return Ok(area);
    }
    let list = match configured {
        Some(StationImpact::Districts(list)) => Some(list),
        _ => from_config,
    };
    if let Some(list) = list {
        area.method = ImpactMethod::Configured;
        for pcode in list {
            if !districts.iter().any(|d| &d.pcode == pcode) {
                return Err(FloodHazardError::UnknownDistrict {
                    station: station.id.clone(),
                    pcode: pcode.clone(),
                });
            }
            area.districts.push(ImpactDistrict {
                pcode: pcode.clone(),
                area_share: 1.0,
            });
        }
        return Ok(area);
    }
    let home = districts.iter().find(|d| d.geometry.contains(&at));
    let Some(basin) = basin_of(basins, station) else {
        area.districts.extend(home.map(|d| ImpactDistrict {
            pcode: d.pcode.clone(),
            area_share: 1.0,
        }));
        return Ok(area);
    };
    area.basin = Some(basin.name.clone());
    let outlet = basin
        .geometry
        .0
        .iter()
        .flat_map(|p| p.exterior().0.iter())
        .filter(|c| coast.open_to_the_east(**c))
        .map(|c| Point::from(*c))
        .min_by(|a, b| km(at, *a).total_cmp(&km(at, *b)));
    area.outlet = outlet.map(|o| (o.x(), o.y()));
    area.station_to_outlet_km = outlet.map(|o| km(at, o));
    area.method = if outlet.is_some() {
        ImpactMethod::BasinDownstream
    } else {
        ImpactMethod::WholeBasin
    };
    let Some(basin_box) = basin.geometry.bounding_rect() else {
        return Ok(area);
    };
    for d in districts {
        let is_home = home.is_some_and(|h| h.pcode == d.pcode);
        if !is_home
            && !d
                .geometry
                .bounding_rect()
                .is_some_and(|r| r.intersects(&basin_box))
        {
            continue;
        }
        let part = intersection(&d.geometry, &basin.geometry);
        let share = if d.area_km2 > 0.0 {
            (area_km2(&part) / d.area_km2).min(1.0)
        } else {
            0.0
        };
        if !is_home && share < cfg.min_district_share.max(f64::MIN_POSITIVE) {
            continue;
        }
        let downstream = match (outlet, part.interior_point()) {
            (Some(o), Some(rep)) => km(rep, o) <= km(at, o),
            (None, _) => true,
            (Some(_), None) => false,
        };
        if is_home || downstream {
            area.districts.push(ImpactDistrict {
                pcode: d.pcode.clone(),
                area_share: share,
            });
        }
    }
    Ok(area)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{FloodOrigins, StationForecast};

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
