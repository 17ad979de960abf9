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
use geo::algorithm::buffer::{BufferStyle, LineCap, LineJoin};
use geo::{
    BooleanOps, BoundingRect, Buffer, Contains, Coord, Distance, Haversine, InteriorPoint,
    Intersects, LineString, MapCoords, MultiLineString, MultiPolygon, Point, Polygon,
};
use serde::{Deserialize, Serialize};

use crate::domain::{
    AdminArea, ByLevel, FloodForecast, FloodLevel, FloodStation, RiverBasin, RiverLine,
    StationForecast, StationImpact,
};
use crate::hazard::geodesy::{area_km2, intersection, union_multi, union_polygons};

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
    /// The basin-downstream (or whole-basin) area cut to a buffer of the station's river
    /// lines (`river_lines` layer, `flood.river_buffer_km`): the districts the cut area
    /// overlaps by at least `flood.min_district_share` of their area, and the station's
    /// own district when the cut area reaches it.
    RiverBuffer,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpactDistrict {
    pub pcode: String,
    /// Share of the district's area inside the impact area (1 for configured lists).
    pub area_share: f64,
    /// The district's part inside the footprint, for the river rule (people are counted
    /// inside it, not spread by area share); `None` for the other rules.
    #[serde(skip)]
    pub part: Option<MultiPolygon<f64>>,
}

/// The river rule as applied to one station.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiverCut {
    /// Half-width of the corridor, km (`flood.river_buffer_km`).
    pub buffer_km: f64,
    /// Names of the river lines used when they were chosen by name (the station's river,
    /// or the river its name is "at"), as the layer writes them; empty when every line
    /// in the basin was used.
    pub rivers: Vec<String>,
    /// The rule the buffer cuts: basin-downstream or whole basin.
    pub cuts: ImpactMethod,
}

/// Where a station's flood would reach.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpactArea {
    pub station_id: String,
    pub method: ImpactMethod,
    /// Which rule made this area, in words, for the alert's notes: "basin-downstream
    /// (R. Limpopo)", "river buffer 10 km around the lines named Limpopo ∩
    /// basin-downstream (R. Limpopo)",
    /// "manual: [[flood_impact]] polygon ...", and why the river rule was not applied
    /// when river lines are loaded but none serves.
    pub rule: String,
    pub basin: Option<String>,
    /// The basin's outlet: its boundary vertex on the coast nearest the station.
    pub outlet: Option<(f64, f64)>,
    pub station_to_outlet_km: Option<f64>,
    pub districts: Vec<ImpactDistrict>,
    /// Set when the river rule made the area.
    pub river: Option<RiverCut>,
    /// The area as a polygon (EPSG:4326), for the map: the river-buffer cut, the
    /// configured polygon, or the union of the districts' parts in the basin
    /// (basin-downstream, whole basin). `None` for district lists, whose area is the
    /// districts themselves.
    #[serde(skip)]
    pub footprint: Option<MultiPolygon<f64>>,
    /// Geodesic area of `footprint`, km².
    pub footprint_km2: Option<f64>,
}

/// What the impact-area rule does, for the alert's method notes.
pub const IMPACT_METHOD_NOTE: &str = "impact area per station (an approximation, no river network or flood model): the districts overlapping the station's river basin (the basin named after the station's river when the station lies within 25 km of it, else the smallest basin polygon containing the station) whose representative point (interior point of the district's part in the basin) is no further (haversine) from the basin outlet than the station is, plus the district holding the station. The outlet is the basin's boundary vertex on the sea coast (a vertex with no Mozambique land east of it) nearest the station. Where the layers manifest has a river_lines layer and flood.river_buffer_km > 0, that area is cut to a buffer of the station's river (river buffer rule, below). [[flood_impact]] in the layers manifest (or flood.impact_districts in the configuration) replaces this per station with a list of P-codes or a polygon";

/// What the river buffer rule does, for the alert's method notes when a station used it.
pub fn river_method_note(buffer_km: f64) -> String {
    format!(
        "river buffer rule: a station's footprint = its basin-downstream (or whole-basin) area ∩ the {buffer_km} km buffer of its river lines inside the basin: the lines named after the station's river (or the river its name is 'at', as in Changane_em_Chibuto), else every line in the basin. The buffer is metric: drawn in local ellipsoidal equirectangular frames, one per 1° latitude band (error ≤ 1 % of the buffer width in Mozambique, 10.5–27°S). Districts on the ladder are those the footprint covers by at least flood.min_district_share of their area, plus the station's own district when the footprint reaches it; people are counted inside the footprint. Upstream reaches inside those districts are covered too (no flow direction is used)"
    )
}

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

/// The impact area of one station; see [`IMPACT_METHOD_NOTE`], and [`river_method_note`]
/// when `rivers` is not empty and `flood.river_buffer_km` > 0. `configured` is the
/// station's area from the layers manifest, if any, and wins over every rule; setting one
/// there and in `flood.impact_districts` too is an error (which should win is not for
/// aviso to guess).
pub fn impact_area(
    station: &FloodStation,
    basins: &[RiverBasin],
    rivers: &[RiverLine],
    districts: &[AdminArea],
    coast: &CoastTest,
    cfg: &FloodConfig,
    configured: Option<&StationImpact>,
) -> Result<ImpactArea, FloodHazardError> {
    let at = Point::new(station.lon, station.lat);
    let mut area = ImpactArea {
        station_id: station.id.clone(),
        method: ImpactMethod::StationDistrict,
        rule: "the station's district (the station lies in no river basin)".into(),
        basin: None,
        outlet: None,
        station_to_outlet_km: None,
        districts: Vec::new(),
        river: None,
        footprint: None,
        footprint_km2: None,
    };
    let from_config = cfg.impact_districts.get(&station.id);
    if configured.is_some() && from_config.is_some() {
        return Err(FloodHazardError::Config(format!(
            "station {}: impact area set both in the layers manifest ([[flood_impact]]) and in flood.impact_districts; keep one",
            station.id
        )));
    }
    if let Some(StationImpact::Polygon { geometry, origin }) = configured {
        area.method = ImpactMethod::ConfiguredPolygon;
        area.rule = format!("manual: [[flood_impact]] polygon {origin}");
        // The file's polygons may overlap: merge them so no area counts twice.
        let footprint = union_multi(std::iter::once(geometry));
        area.districts = districts_under(&footprint, districts, cfg.min_district_share);
        area.footprint_km2 = Some(area_km2(&footprint));
        area.footprint = Some(footprint);
        return Ok(area);
    }
    let list = match configured {
        Some(StationImpact::Districts(list)) => Some(list),
        _ => from_config,
    };
    if let Some(list) = list {
        area.method = ImpactMethod::Configured;
        area.rule = if configured.is_some() {
            "manual: [[flood_impact]] district list".into()
        } else {
            "manual: flood.impact_districts district list".into()
        };
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
                part: None,
            });
        }
        return Ok(area);
    }
    let home = districts.iter().find(|d| d.geometry.contains(&at));
    let Some(basin) = basin_of(basins, station) else {
        area.districts.extend(home.map(|d| ImpactDistrict {
            pcode: d.pcode.clone(),
            area_share: 1.0,
            part: None,
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
    (area.method, area.rule) = if outlet.is_some() {
        (
            ImpactMethod::BasinDownstream,
            format!("basin-downstream ({})", basin.name),
        )
    } else {
        (
            ImpactMethod::WholeBasin,
            format!("whole basin ({}: no coastal outlet)", basin.name),
        )
    };
    let Some(basin_box) = basin.geometry.bounding_rect() else {
        return Ok(area);
    };
    // The districts the basin rule keeps, with their part in the basin.
    let mut kept: Vec<KeptDistrict<'_>> = Vec::new();
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
        let share = share_of(&part, d);
        if !is_home && share < cfg.min_district_share.max(f64::MIN_POSITIVE) {
            continue;
        }
        let downstream = match (outlet, part.interior_point()) {
            (Some(o), Some(rep)) => km(rep, o) <= km(at, o),
            (None, _) => true,
            (Some(_), None) => false,
        };
        if is_home || downstream {
            kept.push(KeptDistrict {
                district: d,
                is_home,
                share,
                part,
            });
        }
    }
    let corridor = if cfg.river_buffer_km > 0.0 && !rivers.is_empty() {
        Some(river_corridor(station, basin, rivers, cfg.river_buffer_km))
    } else {
        None
    };
    if let Some(Corridor::Buffer { polygon, rivers }) = &corridor {
        let cut = cut_to_corridor(&kept, polygon, cfg.min_district_share);
        if let Some((districts, footprint)) = cut {
            area.river = Some(RiverCut {
                buffer_km: cfg.river_buffer_km,
                rivers: rivers.clone(),
                cuts: area.method,
            });
            area.rule = format!(
                "river buffer {} km around {} ∩ {}",
                cfg.river_buffer_km,
                if rivers.is_empty() {
                    "every river line in the basin (none named after the station's river)"
                        .to_string()
                } else {
                    format!("the lines named {}", rivers.join(", "))
                },
                area.rule
            );
            area.method = ImpactMethod::RiverBuffer;
            area.districts = districts;
            area.footprint_km2 = Some(area_km2(&footprint));
            area.footprint = Some(footprint);
            return Ok(area);
        }
        area.rule = format!(
            "{}; river rule not applied: the {} km buffer of the river lines misses that area",
            area.rule, cfg.river_buffer_km
        );
    } else if let Some(Corridor::NoLines) = corridor {
        area.rule = format!(
            "{}; river rule not applied: no line of the river_lines layer lies in the basin",
            area.rule
        );
    }
    let footprint = union_multi(kept.iter().map(|k| &k.part));
    area.districts = kept
        .into_iter()
        .map(|k| ImpactDistrict {
            pcode: k.district.pcode.clone(),
            area_share: k.share,
            part: None,
        })
        .collect();
    area.footprint_km2 = Some(area_km2(&footprint));
    area.footprint = Some(footprint);
    Ok(area)
}

/// A district the basin rule keeps for a station.
struct KeptDistrict<'a> {
    district: &'a AdminArea,
    is_home: bool,
    /// Share of the district's area in the basin.
    share: f64,
    /// The district's part in the basin.
    part: MultiPolygon<f64>,
}

/// Share (0..1) of the district's geodesic area that `part` covers.
fn share_of(part: &MultiPolygon<f64>, d: &AdminArea) -> f64 {
    if d.area_km2 > 0.0 {
        (area_km2(part) / d.area_km2).min(1.0)
    } else {
        0.0
    }
}

/// The districts `footprint` covers by at least `min_share` of their area.
fn districts_under(
    footprint: &MultiPolygon<f64>,
    districts: &[AdminArea],
    min_share: f64,
) -> Vec<ImpactDistrict> {
    let Some(bbox) = footprint.bounding_rect() else {
        return Vec::new();
    };
    districts
        .iter()
        .filter(|d| {
            d.geometry
                .bounding_rect()
                .is_some_and(|r| r.intersects(&bbox))
        })
        .filter_map(|d| {
            let share = share_of(&intersection(&d.geometry, footprint), d);
            (share > 0.0 && share >= min_share).then(|| ImpactDistrict {
                pcode: d.pcode.clone(),
                area_share: share,
                part: None,
            })
        })
        .collect()
}

/// The kept districts' parts cut to the river corridor: the districts the cut covers by at
/// least `min_share` of their area (the sliver rule of configured polygons), plus the
/// station's own district whenever the cut reaches it (the water at the gauge is there),
/// and the cut's union. `None` when the corridor misses every kept part.
fn cut_to_corridor(
    kept: &[KeptDistrict<'_>],
    corridor: &MultiPolygon<f64>,
    min_share: f64,
) -> Option<(Vec<ImpactDistrict>, MultiPolygon<f64>)> {
    let bbox = corridor.bounding_rect()?;
    let mut out = Vec::new();
    let mut pieces: Vec<MultiPolygon<f64>> = Vec::new();
    for k in kept {
        if !k.part.bounding_rect().is_some_and(|r| r.intersects(&bbox)) {
            continue;
        }
        let cut = intersection(&k.part, corridor);
        let share = share_of(&cut, k.district);
        if share <= 0.0 {
            continue;
        }
        if k.is_home || share >= min_share {
            out.push(ImpactDistrict {
                pcode: k.district.pcode.clone(),
                area_share: share,
                part: Some(cut.clone()),
            });
        }
        pieces.push(cut);
    }
    let footprint = union_multi(pieces.iter());
    (!footprint.0.is_empty()).then_some((out, footprint))
}

/// The river lines that serve a station, buffered.
enum Corridor {
    /// No line of the layer lies in the station's basin.
    NoLines,
    Buffer {
        /// The buffer of the lines' parts inside the basin (EPSG:4326).
        polygon: MultiPolygon<f64>,
        /// Names of the lines chosen by name; empty when every line in the basin is used.
        rivers: Vec<String>,
    },
}

/// Words that name no river in particular: "Rio Limpopo", "R. Limpopo" and "Limpopo
/// River" all come down to `["limpopo"]`.
const GENERIC_RIVER_WORDS: &[&str] = &["rio", "r", "rs", "river", "de", "do", "da", "dos", "das"];

/// A river name as comparable words: folded (lower case, no accents), split at anything
/// not a letter or digit, generic words dropped.
fn river_words(name: &str) -> Vec<String> {
    fold(name)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !GENERIC_RIVER_WORDS.contains(w))
        .map(str::to_string)
        .collect()
}

/// The rivers a station names: its river field, and the river its name says it is "at"
/// (`Changane_em_Chibuto` is on the Changane, a tributary its river field files under
/// the Limpopo; ARA and GloFAS station names read "<river> em <place>").
fn station_rivers(station: &FloodStation) -> Vec<Vec<String>> {
    let mut out = vec![river_words(&station.river)];
    let name = fold(&station.name).replace('_', " ");
    let words: Vec<&str> = name.split_whitespace().collect();
    if let Some(i) = words.iter().position(|w| *w == "em")
        && i > 0
    {
        out.push(river_words(&words[..i].join(" ")));
    }
    out.retain(|w| !w.is_empty());
    out.dedup();
    out
}

/// The station's river lines inside its basin, buffered by `buffer_km`: the lines named
/// after one of [`station_rivers`], else every line in the basin.
fn river_corridor(
    station: &FloodStation,
    basin: &RiverBasin,
    rivers: &[RiverLine],
    buffer_km: f64,
) -> Corridor {
    let Some(basin_box) = basin.geometry.bounding_rect() else {
        return Corridor::NoLines;
    };
    let wanted = station_rivers(station);
    let mut named: Vec<LineString<f64>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut all: Vec<LineString<f64>> = Vec::new();
    for r in rivers {
        if !r
            .geometry
            .bounding_rect()
            .is_some_and(|b| b.intersects(&basin_box))
        {
            continue;
        }
        let inside = basin.geometry.clip(&r.geometry, false);
        let inside: Vec<LineString<f64>> =
            inside.0.into_iter().filter(|l| l.0.len() >= 2).collect();
        if inside.is_empty() {
            continue;
        }
        if let Some(n) = r
            .name
            .as_deref()
            .filter(|n| wanted.contains(&river_words(n)))
        {
            if !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
            named.extend(inside.iter().cloned());
        }
        all.extend(inside);
    }
    let lines = if named.is_empty() {
        names.clear();
        all
    } else {
        named
    };
    if lines.is_empty() {
        return Corridor::NoLines;
    }
    names.sort();
    Corridor::Buffer {
        polygon: river_buffer(&MultiLineString::new(lines), buffer_km),
        rivers: names,
    }
}

/// WGS 84 semi-major axis, m (NIMA TR8350.2, 3rd ed., table 3.1).
const WGS84_A_M: f64 = 6_378_137.0;
/// WGS 84 first eccentricity squared, e² = f (2 − f) with 1/f = 298.257223563 (ibid.).
const WGS84_E2: f64 = 6.694_379_990_141_3e-3;

/// Height of the latitude bands in which [`river_buffer`] draws (degrees). Each band gets
/// its own frame, so a point is never more than half a band plus the buffer from its
/// frame's latitude: the error bound of [`river_buffer`].
pub const RIVER_BAND_DEG: f64 = 1.0;

/// Angle step (rad) of the round joins and caps of the buffer: each arc is drawn as chords
/// whose sag is 1 − cos(step / 2) = 0.125 % of the buffer width (geo's default, 0.2 rad,
/// sags 0.5 %).
const BUFFER_ARC_STEP_RAD: f64 = 0.1;

/// A local equirectangular frame on the WGS 84 ellipsoid, in metres: x = N(φ0)·cos φ0·Δλ,
/// y = M(φ0)·Δφ, with N and M the radii of curvature in the prime vertical and the
/// meridian at the frame's latitude φ0. Affine in (λ, φ): straight lines stay straight
/// both ways, so a polygon drawn in the frame maps back edge for edge.
struct LocalFrame {
    lon0: f64,
    lat0: f64,
    x_m_per_deg: f64,
    y_m_per_deg: f64,
}

impl LocalFrame {
    fn new(lon0: f64, lat0: f64) -> Self {
        let phi = lat0.to_radians();
        let w2 = 1.0 - WGS84_E2 * phi.sin().powi(2);
        let n = WGS84_A_M / w2.sqrt();
        let m = WGS84_A_M * (1.0 - WGS84_E2) / (w2 * w2.sqrt());
        let per_deg = std::f64::consts::PI / 180.0;
        LocalFrame {
            lon0,
            lat0,
            x_m_per_deg: n * phi.cos() * per_deg,
            y_m_per_deg: m * per_deg,
        }
    }

    fn to_local(&self, c: Coord<f64>) -> Coord<f64> {
        Coord {
            x: (c.x - self.lon0) * self.x_m_per_deg,
            y: (c.y - self.lat0) * self.y_m_per_deg,
        }
    }

    fn to_lonlat(&self, c: Coord<f64>) -> Coord<f64> {
        Coord {
            x: self.lon0 + c.x / self.x_m_per_deg,
            y: self.lat0 + c.y / self.y_m_per_deg,
        }
    }
}

/// The area within `buffer_km` of `lines` (EPSG:4326), drawn in metres.
///
/// geo's `Buffer` is planar (it would buffer lon/lat by "degrees", 10 % too wide east-west
/// at 25°S and never a distance). No georust crate buffers geodesically (checked: geo
/// 0.33, geo-buffer, geos/proj need C libraries the pure core must not take on), so the
/// lines are cut into [`RIVER_BAND_DEG`] latitude bands, each band's lines are carried to a
/// [`LocalFrame`] centred on them, buffered there by geo (round joins and caps, i_overlay),
/// carried back and the bands' buffers united.
///
/// Error: the frame's east-west scale is exact at φ0 and off by N(φ)cos φ / (N(φ0)cos φ0)
/// − 1 ≈ −tan φ0 · Δφ elsewhere; north-south by M(φ)/M(φ0) − 1 ≈ 3e² sin φ cos φ Δφ
/// (< 0.02 %). Within a band |Δφ| ≤ 0.5° + the buffer's reach (≤ 0.45° at
/// [`MAX_RIVER_BUFFER_KM`]), so over Mozambique (|φ| ≤ 27°) the buffer's width is within
/// tan 27° × 0.95° ≈ 0.85 % of `buffer_km` (0.5 % at 5 km: 25 m); plus the 0.125 % chord
/// sag of arcs. Straight frame edges and geodesics part by < 1 m over the few-km edges of
/// a buffer. Not for lines crossing ±180° or near the poles.
pub fn river_buffer(lines: &MultiLineString<f64>, buffer_km: f64) -> MultiPolygon<f64> {
    if !(buffer_km > 0.0 && buffer_km.is_finite()) {
        return MultiPolygon::new(Vec::new());
    }
    let mut polygons: Vec<Polygon<f64>> = Vec::new();
    for pieces in latitude_bands(lines).into_values() {
        let pieces = MultiLineString::new(pieces);
        let Some(r) = pieces.bounding_rect() else {
            continue;
        };
        let frame = LocalFrame::new((r.min().x + r.max().x) / 2.0, (r.min().y + r.max().y) / 2.0);
        let style = BufferStyle::new(buffer_km * 1000.0)
            .line_join(LineJoin::Round(BUFFER_ARC_STEP_RAD))
            .line_cap(LineCap::Round(BUFFER_ARC_STEP_RAD));
        let buffered = pieces
            .map_coords(|c| frame.to_local(c))
            .buffer_with_style(style);
        polygons.extend(buffered.map_coords(|c| frame.to_lonlat(c)).0);
    }
    union_polygons(polygons)
}

/// The lines cut at every multiple of [`RIVER_BAND_DEG`] of latitude (new vertices by
/// linear interpolation along each segment as drawn in lon/lat) and grouped by band.
fn latitude_bands(lines: &MultiLineString<f64>) -> BTreeMap<i64, Vec<LineString<f64>>> {
    let band_of = |y: f64| (y / RIVER_BAND_DEG).floor() as i64;
    let lerp = |a: Coord<f64>, b: Coord<f64>, t: f64| Coord {
        x: a.x + (b.x - a.x) * t,
        y: a.y + (b.y - a.y) * t,
    };
    let mut bands: BTreeMap<i64, Vec<LineString<f64>>> = BTreeMap::new();
    for line in lines {
        let mut piece: Option<(i64, Vec<Coord<f64>>)> = None;
        for seg in line.lines() {
            let (a, b) = (seg.start, seg.end);
            let (ka, kb) = (band_of(a.y), band_of(b.y));
            let mut cuts = vec![0.0, 1.0];
            // ka ≠ kb implies a.y ≠ b.y: no division by zero.
            for k in ka.min(kb) + 1..=ka.max(kb) {
                cuts.push((k as f64 * RIVER_BAND_DEG - a.y) / (b.y - a.y));
            }
            cuts.sort_by(f64::total_cmp);
            for w in cuts.windows(2) {
                let &[t0, t1] = w else { continue };
                let (p, q) = (lerp(a, b, t0), lerp(a, b, t1));
                let k = band_of((p.y + q.y) / 2.0);
                match &mut piece {
                    Some((pk, coords)) if *pk == k => coords.push(q),
                    _ => {
                        if let Some((pk, coords)) = piece.take() {
                            bands.entry(pk).or_default().push(LineString::new(coords));
                        }
                        piece = Some((k, vec![p, q]));
                    }
                }
            }
        }
        if let Some((k, coords)) = piece {
            bands.entry(k).or_default().push(LineString::new(coords));
        }
    }
    bands
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
