//! The plan for one forecast: centre safety and free room, expected demand per district,
//! the allocation of at-risk settlements and sites to safe centres, and the tables per
//! district, province and country.
//!
//! Core: no I/O. Method (echoed in [`Plan::notes`]):
//! - The footprint is the forecast swath of `plan.footprint_threshold_kt` (34 kt). A
//!   centre inside any forecast swath at or above it (or inside an extra unsafe area such
//!   as a flood extent) is unsafe for the event, whatever its room.
//! - Demand per district = people at risk in the footprint × the displacement fraction of
//!   the district's level (low / central / high). With a probabilistic assessment the people
//!   are its 10 % quantile, mean and 90 % quantile instead of the single figure.
//! - Origins: the weighting-layer settlements inside the footprint share their district's
//!   central demand equally (as the settlement-weighted people at risk do), after the
//!   register's at-risk sites, which send all their present residents. A district with
//!   demand but no settlement point inside sends it from an interior point of its part of
//!   the footprint.
//! - Allocation: origins by highest threshold reached, then district and id; each fills
//!   the nearest safe centres with free room (geodesic km, R-tree candidates, or the
//!   travel-time matrix's order when it lists the origin), never beyond a centre's room;
//!   what is left is the origin's shortfall. Only the central demand is allocated.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use geo::{BooleanOps, InteriorPoint, MultiPolygon, Point};

use super::allocate::{EPS_PERSONS, TravelTimes, allocate};
use super::tables::{AreaPlan, CentreStatus, OriginPlan, Plan};
use super::{CapacityBasis, PlanConfig, PlanHazard, Range3, capacity_persons, free_room};
use crate::alerts::assess::Assessment;
use crate::domain::{Register, SiteRole, WindSwath};
use crate::exposure::IndexedLayers;
use crate::hazard::ensemble::ProbabilisticAssessment;
use crate::spatial::PointIndex;

/// What one plan reads.
pub struct PlanInput<'a> {
    pub assessment: &'a Assessment,
    pub layers: &'a IndexedLayers,
    /// The register in force (validated).
    pub register: &'a Register,
    pub probabilistic: Option<&'a ProbabilisticAssessment>,
    pub travel_times: Option<&'a TravelTimes>,
    /// Further areas where centres are unsafe (flood extents), EPSG:4326.
    pub extra_unsafe: &'a [MultiPolygon<f64>],
}

/// Builds the plan at the assessment's levels. See the module documentation for the
/// method.
pub fn build_plan(input: &PlanInput<'_>, cfg: &PlanConfig) -> Plan {
    let levels = &input.assessment.levels;
    build_plan_with(input, cfg, &|pcode| levels.get(pcode).map(|l| l.level))
}

/// Builds the plan at the levels a published version gave its districts (`levels`: P-code
/// to level, the districts on the ladder). A version's levels may differ from those of its
/// forecast assessed again: probability rules raise districts above the official track's
/// level when the probabilities are in (issue 12), and the plan of a version must plan for
/// the levels that version announced.
pub fn build_plan_at_levels(
    input: &PlanInput<'_>,
    cfg: &PlanConfig,
    levels: &BTreeMap<String, crate::alerts::levels::Level>,
) -> Plan {
    build_plan_with(input, cfg, &|pcode| levels.get(pcode).copied())
}

fn build_plan_with(
    input: &PlanInput<'_>,
    cfg: &PlanConfig,
    level_of: &dyn Fn(&str) -> Option<crate::alerts::levels::Level>,
) -> Plan {
    let a = input.assessment;
    let at = a.forecast.reference_time;
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
    ];
    // Forecast swaths at or above the footprint threshold, ascending: the first is the
    // footprint, any of them makes a centre unsafe.
    let mut swaths: Vec<&WindSwath> = a
        .hazard
        .forecast_swaths
        .iter()
        .filter(|s| s.threshold_kt >= cfg.footprint_threshold_kt - 0.5 && !s.geometry.0.is_empty())
        .collect();
    swaths.sort_by(|x, y| x.threshold_kt.total_cmp(&y.threshold_kt));
    let footprint = swaths.first().copied();
    let footprint_kt = footprint.map(|s| s.threshold_kt);
    if footprint.is_none() {
        notes.push(format!(
            "No forecast swath at or above {} kt: no demand, every centre safe.",
            cfg.footprint_threshold_kt
        ));
    }
    // --- Demand per district ---
    let prob_people = |pcode: &str| -> Option<Range3> {
        let p = input.probabilistic?;
        let k = p
            .thresholds_kt
            .iter()
            .position(|t| footprint_kt.is_some_and(|f| (t - f).abs() < 0.5))?;
        let area = p.districts.iter().find(|d| d.pcode == pcode)?;
        let per_window = area.people_at_risk.get(k)?;
        let whole = per_window.last()?;
        Some(Range3 {
            low: whole.p10,
            central: whole.mean,
            high: whole.p90,
        })
    };
    if input.probabilistic.is_some() {
        notes.push(
            "People at risk from the probabilistic assessment: 10 % quantile, mean and 90 % \
             quantile over the whole forecast window, times the low, central and high fractions."
                .to_string(),
        );
    }
    let mut districts: Vec<AreaPlan> = Vec::new();
    for d in &a.exposure.districts {
        let level = level_of(&d.pcode);
        let deterministic = footprint_kt
            .and_then(|kt| d.at(kt))
            .map(|t| t.people_at_risk)
            .unwrap_or(0.0);
        let people = prob_people(&d.pcode).unwrap_or(Range3::flat(deterministic));
        let fraction = level
            .and_then(|l| cfg.fraction(PlanHazard::Wind, l))
            .map(|f| Range3 {
                low: f.low,
                central: f.central,
                high: f.high,
            });
        let demand = fraction
            .map(|f| Range3 {
                low: people.low * f.low,
                central: people.central * f.central,
                high: people.high * f.high,
            })
            .unwrap_or_default();
        let mut row = AreaPlan::empty("district", &d.pcode, &d.name);
        row.province_pcode.clone_from(&d.province_pcode);
        row.province_name.clone_from(&d.province_name);
        row.level = level;
        row.people_at_risk = people;
        row.districts_population_unknown = usize::from(
            d.wind
                .iter()
                .any(|w| w.method == crate::exposure::PeopleMethod::NoPopulation),
        );
        row.fraction = fraction;
        row.demand = demand;
        row.arrival_h = d.widest().map(|w| w.lead_time_h);
        districts.push(row);
    }
    let zones: Vec<Zone<'_>> = swaths
        .iter()
        .map(|s| Zone {
            geometry: &s.geometry,
            wind_kt: Some(s.threshold_kt),
            rank: s.threshold_kt,
        })
        .collect();
    finish(
        Front {
            hazard: PlanHazard::Wind,
            storm: a.forecast.storm.name.clone(),
            reference_time: at,
            footprint_threshold_kt: footprint_kt,
            zones,
            extra_unsafe: input.extra_unsafe,
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

/// An area where people are at risk and centres unsafe: a forecast wind swath (its
/// threshold) or a flood area.
pub(super) struct Zone<'a> {
    pub(super) geometry: &'a MultiPolygon<f64>,
    /// The swath's threshold, kt; `None` for a flood area (its centres are unsafe through
    /// [`Front::extra_unsafe`]).
    pub(super) wind_kt: Option<f64>,
    /// Orders origins, highest first (the threshold, or the flood level's rank).
    pub(super) rank: f64,
}

/// The hazard's half of a plan: what a cyclone or a flood assessment says.
pub(super) struct Front<'a> {
    pub(super) hazard: PlanHazard,
    pub(super) storm: String,
    pub(super) reference_time: DateTime<Utc>,
    pub(super) footprint_threshold_kt: Option<f64>,
    /// Ascending rank; the first is the footprint a district without settlement points
    /// sends its demand from.
    pub(super) zones: Vec<Zone<'a>>,
    pub(super) extra_unsafe: &'a [MultiPolygon<f64>],
    /// District rows with their level, people at risk, fraction and demand.
    pub(super) districts: Vec<AreaPlan>,
    pub(super) notes: Vec<String>,
}

/// What every plan reads besides its hazard.
pub(super) struct Common<'a> {
    pub(super) layers: &'a IndexedLayers,
    pub(super) register: &'a Register,
    pub(super) travel_times: Option<&'a TravelTimes>,
}

/// Centre safety and room, origins, allocation and the tables, for either hazard.
pub(super) fn finish(front: Front<'_>, input: &Common<'_>, cfg: &PlanConfig) -> Plan {
    let Front {
        hazard,
        storm,
        reference_time: at,
        footprint_threshold_kt: footprint_kt,
        zones,
        extra_unsafe,
        mut districts,
        mut notes,
    } = front;
    let layers = &input.layers.layers;
    let footprint = zones.first();
    let mut district_row: HashMap<String, usize> = districts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.pcode.clone(), i))
        .collect();
    let province_of: HashMap<&str, (Option<&String>, Option<&String>)> = layers
        .districts
        .iter()
        .map(|d| {
            (
                d.pcode.as_str(),
                (d.parent_pcode.as_ref(), d.parent_name.as_ref()),
            )
        })
        .collect();

    // --- Centres: safety and free room ---
    let centre_entries: Vec<_> = input
        .register
        .entries
        .iter()
        .filter(|e| e.role == SiteRole::Centre)
        .collect();
    let centre_points: Vec<Point<f64>> = centre_entries
        .iter()
        .map(|e| Point::new(e.lon, e.lat))
        .collect();
    let centre_index = PointIndex::new(&centre_points);
    let mut unsafe_kt: Vec<Option<f64>> = vec![None; centre_entries.len()];
    for z in &zones {
        let Some(kt) = z.wind_kt else { continue };
        for i in centre_index.within(z.geometry) {
            if let Some(slot) = unsafe_kt.get_mut(i) {
                *slot = Some(kt);
            }
        }
    }
    let mut in_extra = vec![false; centre_entries.len()];
    for area in extra_unsafe {
        for i in centre_index.within(area) {
            if let Some(slot) = in_extra.get_mut(i) {
                *slot = true;
            }
        }
    }
    let mut centres: Vec<CentreStatus> = centre_entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (capacity, basis) = capacity_persons(e, cfg.m2_per_person);
            let latest = e.latest_occupancy();
            let unsafe_threshold_kt = unsafe_kt.get(i).copied().flatten();
            let extra = in_extra.get(i).copied().unwrap_or(false);
            let (province_pcode, _) = e
                .district_pcode
                .as_deref()
                .and_then(|d| province_of.get(d).copied())
                .unwrap_or((None, None));
            CentreStatus {
                code: e.code.clone(),
                name: e.name.clone(),
                site_type: e.site_type.clone(),
                district_pcode: e.district_pcode.clone(),
                province_pcode: province_pcode.cloned(),
                lon: e.lon,
                lat: e.lat,
                capacity,
                capacity_basis: basis,
                occupancy: latest.and_then(|o| o.individuals),
                occupancy_date: latest.map(|o| o.date),
                occupancy_age_days: latest.map(|o| o.age_days(at)),
                free_room: free_room(e, cfg.m2_per_person).unwrap_or(0.0),
                safe: unsafe_threshold_kt.is_none() && !extra,
                unsafe_threshold_kt,
                in_extra_unsafe_area: extra,
                allocated: 0.0,
                demonstration: e.demonstration,
            }
        })
        .collect();

    // Districts holding an unsafe centre are listed even when no demand reaches them.
    for c in &centres {
        let Some(pc) = c.district_pcode.as_ref() else {
            continue;
        };
        if c.safe || district_row.contains_key(pc) {
            continue;
        }
        if let Some(d) = layers.districts.iter().find(|d| &d.pcode == pc) {
            let mut row = AreaPlan::empty("district", &d.pcode, &d.name);
            row.province_pcode.clone_from(&d.parent_pcode);
            row.province_name.clone_from(&d.parent_name);
            district_row.insert(d.pcode.clone(), districts.len());
            districts.push(row);
        }
    }
    for c in &centres {
        let Some(row) = c
            .district_pcode
            .as_ref()
            .and_then(|pc| district_row.get(pc))
            .and_then(|&r| districts.get_mut(r))
        else {
            continue;
        };
        row.centres += 1;
        if !c.safe {
            row.centres_unsafe += 1;
        } else {
            row.safe_capacity += c.free_room;
        }
        if c.capacity_basis == CapacityBasis::Unknown {
            row.centres_capacity_unknown += 1;
        }
    }

    // --- Origins ---
    let mut origins: Vec<OriginPlan> = Vec::new();
    let weighting = input
        .layers
        .weighting_layer_name()
        .and_then(|name| layers.points.iter().find(|l| l.info.name == name));
    let mut settlement_hits: BTreeMap<usize, f64> = BTreeMap::new();
    if let Some(w) = weighting {
        let pts: Vec<Point<f64>> = w.features.iter().map(|f| f.location).collect();
        let idx = PointIndex::new(&pts);
        for z in &zones {
            for i in idx.within(z.geometry) {
                settlement_hits.insert(i, z.rank);
            }
        }
    }
    // Register sites inside the footprint send their residents.
    let mut site_demand: HashMap<String, f64> = HashMap::new();
    let site_entries: Vec<_> = input
        .register
        .entries
        .iter()
        .filter(|e| e.role == SiteRole::Site)
        .collect();
    let site_points: Vec<Point<f64>> = site_entries
        .iter()
        .map(|e| Point::new(e.lon, e.lat))
        .collect();
    let site_index = PointIndex::new(&site_points);
    let mut site_hits: BTreeMap<usize, f64> = BTreeMap::new();
    for z in &zones {
        for i in site_index.within(z.geometry) {
            site_hits.insert(i, z.rank);
        }
    }
    for (&i, &kt) in &site_hits {
        let Some(e) = site_entries.get(i) else {
            continue;
        };
        let present = e
            .latest_occupancy()
            .and_then(|o| o.individuals)
            .unwrap_or(0.0);
        if let Some(pc) = &e.district_pcode {
            *site_demand.entry(pc.clone()).or_default() += present;
            if let Some(row) = district_row.get(pc).and_then(|&r| districts.get_mut(r)) {
                row.sites_at_risk += 1;
            }
        }
        origins.push(OriginPlan {
            id: e.code.clone(),
            name: e.name.clone(),
            kind: "site",
            lon: e.lon,
            lat: e.lat,
            district_pcode: e.district_pcode.clone(),
            max_threshold_kt: kt,
            demand: present,
            allocated: 0.0,
            shortfall: 0.0,
            nearest_safe_km: None,
            no_safe_centre_within_max: false,
        });
    }
    // Settlements share what the sites leave of the district's central demand.
    let mut per_district_settlements: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    if let Some(w) = weighting {
        for (&i, &kt) in &settlement_hits {
            if let Some(pc) = w.features.get(i).and_then(|f| f.district_pcode.as_deref()) {
                per_district_settlements
                    .entry(pc)
                    .or_default()
                    .push((i, kt));
            }
        }
    }
    for row in &mut districts {
        let remaining =
            (row.demand.central - site_demand.get(&row.pcode).copied().unwrap_or(0.0)).max(0.0);
        let hits = per_district_settlements
            .get(row.pcode.as_str())
            .cloned()
            .unwrap_or_default();
        row.settlements_at_risk = hits.len();
        if remaining <= EPS_PERSONS {
            continue;
        }
        if let (Some(w), false) = (weighting, hits.is_empty()) {
            let share = remaining / hits.len() as f64;
            for (i, kt) in hits {
                let Some(f) = w.features.get(i) else {
                    continue;
                };
                origins.push(OriginPlan {
                    id: f.id.clone(),
                    name: f.name.clone(),
                    kind: "settlement",
                    lon: f.location.x(),
                    lat: f.location.y(),
                    district_pcode: f.district_pcode.clone(),
                    max_threshold_kt: kt,
                    demand: share,
                    allocated: 0.0,
                    shortfall: 0.0,
                    nearest_safe_km: None,
                    no_safe_centre_within_max: false,
                });
            }
        } else if let (Some(fp), Some(d)) = (
            footprint,
            layers.districts.iter().find(|d| d.pcode == row.pcode),
        ) {
            let part = d.geometry.intersection(fp.geometry);
            if let Some(p) = part
                .interior_point()
                .or_else(|| d.geometry.interior_point())
            {
                origins.push(OriginPlan {
                    id: format!("district-{}", row.pcode),
                    name: row.name.clone(),
                    kind: "district",
                    lon: p.x(),
                    lat: p.y(),
                    district_pcode: Some(row.pcode.clone()),
                    max_threshold_kt: fp.rank,
                    demand: remaining,
                    allocated: 0.0,
                    shortfall: 0.0,
                    nearest_safe_km: None,
                    no_safe_centre_within_max: false,
                });
            }
        }
    }
    origins.sort_by(|x, y| {
        y.max_threshold_kt
            .total_cmp(&x.max_threshold_kt)
            .then_with(|| x.district_pcode.cmp(&y.district_pcode))
            .then_with(|| x.id.cmp(&y.id))
    });

    // --- Allocation ---
    let allocations = allocate(&mut origins, &mut centres, cfg, input.travel_times);
    for o in &origins {
        if let Some(row) = o
            .district_pcode
            .as_ref()
            .and_then(|pc| district_row.get(pc))
            .and_then(|&r| districts.get_mut(r))
        {
            row.allocated += o.allocated;
            row.shortfall += o.shortfall;
            if o.no_safe_centre_within_max {
                row.origins_without_centre += 1;
            }
        }
    }

    // --- Tables ---
    for row in &mut districts {
        row.gap = row.demand.gap_over(row.safe_capacity);
    }
    districts.sort_by(|x, y| x.pcode.cmp(&y.pcode));
    let mut provinces: Vec<AreaPlan> = Vec::new();
    for d in &districts {
        let Some(pp) = d.province_pcode.as_ref() else {
            continue;
        };
        let at = match provinces.iter().position(|p| &p.pcode == pp) {
            Some(i) => i,
            None => {
                provinces.push(AreaPlan::empty(
                    "province",
                    pp,
                    d.province_name.as_deref().unwrap_or(""),
                ));
                provinces.len() - 1
            }
        };
        if let Some(p) = provinces.get_mut(at) {
            p.absorb(d);
        }
    }
    provinces.sort_by(|x, y| x.pcode.cmp(&y.pcode));
    let mut national = AreaPlan::empty("national", "MZ", "Moçambique");
    for d in &districts {
        national.absorb(d);
    }
    if let Some(t) = input.travel_times {
        notes.push(format!(
            "Travel-time matrix given for {} origins; the others use geodesic distance.",
            t.origins()
        ));
    }
    Plan {
        hazard,
        storm,
        reference_time: at,
        footprint_threshold_kt: footprint_kt,
        max_distance_km: cfg.max_distance_km,
        register_source: input.register.source.clone(),
        demonstration: input.register.entries.iter().any(|e| e.demonstration),
        fractions: cfg
            .displacement
            .iter()
            .filter(|f| f.hazard == hazard)
            .cloned()
            .collect(),
        districts,
        provinces,
        national,
        centres,
        origins,
        allocations,
        notes,
    }
}
