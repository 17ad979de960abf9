//! Flood exposure: station levels and impact areas, or flood-extent footprints -> each
//! district's flood level, first day and people at risk, and the sites inside an extent.
//!
//! Pure: no I/O, no clock. Must not depend on feeds, layers' readers, alerts or any
//! adapter; the alert ladder is applied later (`crate::alerts::assess_flood`).
//!
//! Station floods count people by area share of the impact area (the impact area is a
//! rule-of-thumb region, not a footprint), except where the river rule cut it to a
//! corridor along the river ([`flood_districts_with`]): that corridor is a footprint, and
//! like flood extents it counts people exactly as cyclone swaths do
//! (`super::IndexedLayers::part_people`: the population grid, else settlement-weighted,
//! else area share).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use geo::{BooleanOps, BoundingRect};

use super::indexed::Part;
use super::{IndexedLayers, PeopleMethod, areas_overlap};
use crate::domain::{AdminArea, FloodLevel, PointFeature, PointKind};
use crate::hazard::flood::{ImpactArea, StationOutlook};
use crate::hazard::flood_extent::FloodExtent;

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
    /// First day any of those stations is at `flood_level`; `None` for a flood extent
    /// (a map has no forecast days).
    pub first_date: Option<NaiveDate>,
    /// Stations (ids) whose impact area holds the district and which reach a level.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stations: Vec<String>,
    /// Flood-extent polygons (0-based feature indices) overlapping the district.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extent_features: Vec<usize>,
    pub area_share: f64,
    pub population: Option<f64>,
    /// `None` when the population is unknown.
    pub people_at_risk: Option<f64>,
    pub people_method: PeopleMethod,
}

/// Districts reached by the stations that reach a level, by P-code; people by area share.
pub fn flood_districts(
    outlooks: &[StationOutlook],
    impact_areas: &BTreeMap<String, ImpactArea>,
    districts: &[AdminArea],
) -> Vec<FloodDistrict> {
    flood_districts_with(outlooks, impact_areas, districts, None).0
}

/// [`flood_districts`] over indexed layers when `il` is given: districts the river rule
/// reached through a footprint count their people inside it (population grid, settlement
/// points, else area share); the others by area share. Also returns what those footprint
/// figures mean, for the alert's notes, when any district was counted so.
pub fn flood_districts_with(
    outlooks: &[StationOutlook],
    impact_areas: &BTreeMap<String, ImpactArea>,
    districts: &[AdminArea],
    il: Option<&IndexedLayers>,
) -> (Vec<FloodDistrict>, Option<String>) {
    let mut by_district: BTreeMap<String, FloodDistrict> = BTreeMap::new();
    let mut grid_errors = Vec::new();
    let mut counted_in_footprint = false;
    for o in outlooks {
        let (Some(max), Some(area)) = (o.max_level, impact_areas.get(&o.station_id)) else {
            continue;
        };
        let Some(first) = o.first_date.get(max) else {
            continue;
        };
        // Points inside the station's footprint, counted once for all its districts.
        let inside = match (il, &area.footprint) {
            (Some(il), Some(f)) if area.districts.iter().any(|d| d.part.is_some()) => {
                Some(il.points_inside(f))
            }
            _ => None,
        };
        for idist in &area.districts {
            let Some((di, d)) = districts
                .iter()
                .enumerate()
                .find(|(_, d)| d.pcode == idist.pcode)
            else {
                continue;
            };
            let (people, method) = match (il, &idist.part, &inside) {
                (Some(il), Some(part), Some(inside)) => {
                    counted_in_footprint = true;
                    let p = il.part_people(di, Part::Area(part), inside, &mut grid_errors);
                    (d.population.map(|_| p.people_at_risk), p.method)
                }
                _ => (
                    d.population.map(|p| p * idist.area_share),
                    if d.population.is_some() {
                        PeopleMethod::AreaShare
                    } else {
                        PeopleMethod::NoPopulation
                    },
                ),
            };
            let entry = by_district
                .entry(d.pcode.clone())
                .or_insert_with(|| FloodDistrict {
                    pcode: d.pcode.clone(),
                    name: d.name.clone(),
                    province_pcode: d.parent_pcode.clone(),
                    province_name: d.parent_name.clone(),
                    flood_level: max,
                    first_date: Some(first),
                    stations: Vec::new(),
                    extent_features: Vec::new(),
                    area_share: 0.0,
                    population: d.population,
                    people_at_risk: None,
                    people_method: if d.population.is_some() {
                        PeopleMethod::AreaShare
                    } else {
                        PeopleMethod::NoPopulation
                    },
                });
            if max > entry.flood_level
                || (max == entry.flood_level && entry.first_date.is_none_or(|f| first < f))
            {
                entry.flood_level = max;
                entry.first_date = Some(first);
            }
            entry.stations.push(o.station_id.clone());
            // Two stations of one basin cover the same part of the district: the larger
            // share and the larger count, not the sums.
            entry.area_share = entry.area_share.max(idist.area_share);
            if let Some(p) = people
                && entry.people_at_risk.is_none_or(|e| p > e)
            {
                entry.people_at_risk = Some(p);
                entry.people_method = method;
            }
        }
    }
    let note = match il {
        Some(il) if counted_in_footprint => Some(il.people_method_note(&grid_errors)),
        _ => None,
    };
    (by_district.into_values().collect(), note)
}

/// A point feature (site, accommodation centre, health facility) inside a flood extent.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodPoint {
    pub feature: PointFeature,
    /// The highest level of the extent polygons holding the point.
    pub flood_level: FloodLevel,
}

/// Districts and points a flood extent reaches, and what the people figures mean.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtentExposure {
    pub districts: Vec<FloodDistrict>,
    /// Points of every layer but the settlements (counted, not listed), highest level first.
    pub points: Vec<FloodPoint>,
    pub people_method_note: String,
}

/// The districts a flood extent overlaps (sharing area, not just a border), each at the
/// highest level of the polygons overlapping it, with the people inside the extent, and
/// the sites inside it.
pub fn extent_exposure(extent: &FloodExtent, il: &IndexedLayers) -> ExtentExposure {
    let layers = &il.layers;
    let mut grid_errors = Vec::new();
    let mut districts = Vec::new();
    let inside = il.points_inside(&extent.all);
    if let Some(bbox) = extent.all.bounding_rect() {
        for di in il.districts.intersecting_bbox(bbox) {
            let Some(d) = layers.districts.get(di) else {
                continue;
            };
            let inter = d.geometry.intersection(&extent.all);
            if inter.0.is_empty() {
                continue;
            }
            let Some(level) = extent
                .levels
                .iter()
                .find(|l| areas_overlap(&d.geometry, &l.geometry))
                .map(|l| l.level)
            else {
                continue;
            };
            let extent_features = extent
                .footprints
                .iter()
                .filter(|f| areas_overlap(&d.geometry, &f.geometry))
                .map(|f| f.index)
                .collect();
            let part = il.part_people(di, Part::Area(&inter), &inside, &mut grid_errors);
            districts.push(FloodDistrict {
                pcode: d.pcode.clone(),
                name: d.name.clone(),
                province_pcode: d.parent_pcode.clone(),
                province_name: d.parent_name.clone(),
                flood_level: level,
                first_date: None,
                stations: Vec::new(),
                extent_features,
                area_share: part.area_share,
                population: d.population,
                people_at_risk: d.population.map(|_| part.people_at_risk),
                people_method: part.method,
            });
        }
    }
    districts.sort_by(|a, b| a.pcode.cmp(&b.pcode));
    let mut points: Vec<FloodPoint> = inside
        .refs
        .iter()
        .filter_map(|&pi| {
            let &(li, fi) = il.point_refs.get(pi)?;
            let l = layers.points.get(li)?;
            if l.kind == PointKind::Settlement {
                return None;
            }
            let f = l.features.get(fi)?;
            let level = extent
                .levels
                .iter()
                .find(|lv| geo::Intersects::intersects(&lv.geometry, &f.location))?
                .level;
            Some(FloodPoint {
                feature: f.clone(),
                flood_level: level,
            })
        })
        .collect();
    points.sort_by(|a, b| {
        b.flood_level
            .cmp(&a.flood_level)
            .then(a.feature.layer.cmp(&b.feature.layer))
            .then(a.feature.id.cmp(&b.feature.id))
    });
    ExtentExposure {
        districts,
        points,
        people_method_note: il.people_method_note(&grid_errors),
    }
}
