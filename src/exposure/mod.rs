//! Exposure: hazard footprints × reference layers -> districts, provinces, sites and people
//! at risk, and the nearest safe shelters.
//!
//! Pure computation over loaded layers and R-tree indexes (`crate::spatial`); no I/O.
//!
//! People at risk (the method is echoed in every alert's metadata):
//! - A district's population (INE projection) is spread over the district in proportion to
//!   the settlement points of the weighting layer (HDX settlements by default): people at
//!   risk = population × (settlement points inside the footprint / settlement points in
//!   the district). This follows where people live, not where land is.
//! - A district with no settlement points falls back to the share of its area inside the
//!   footprint (geodesic areas).
//! - Limits: settlement points carry no size, so a town and a hamlet weigh the same; a
//!   gridded population layer (issue 4) replaces this when configured.
//! - With a population grid ([`PopulationGrid`], attached by
//!   [`IndexedLayers::with_population_grid`]), people at risk in a district = the grid's
//!   exact zonal sum over district ∩ footprint (cells weighted by the share of their area
//!   inside; `crate::raster::coverage`). If the grid fails (missing, corrupt, wrong CRS),
//!   the district falls back to the settlement method and the method note says so. The
//!   grid is reached only through the trait, so this module still does no I/O itself.

mod arrival;
pub mod flood;
mod indexed;

pub(crate) use arrival::areas_overlap;
use arrival::{areas_overlap_prepared, first_arrival, rect_overlap};
pub use indexed::IndexedLayers;
pub(crate) use indexed::PartPeople;
use indexed::{Part, PointsInside};

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use geo::{BooleanOps, BoundingRect, Coord, Intersects, MultiPolygon, Point, Rect};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::{Hazard, PointKind, WindSwath};
use crate::spatial::{AreaIndex, Relation, relate_certain_prepared, shared_share};

/// Exposure settings (config/default.toml `[exposure]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExposureConfig {
    /// Name of the point layer whose points weight district population. Empty: the first
    /// layer of kind `settlement`.
    pub weighting_layer: String,
    /// How many safe shelters to list per at-risk site or district.
    pub nearest_shelters: usize,
    /// Shelters further than this (geodesic km) are not proposed.
    pub max_shelter_distance_km: f64,
}

impl Default for ExposureConfig {
    fn default() -> Self {
        ExposureConfig {
            weighting_layer: String::new(),
            nearest_shelters: 3,
            max_shelter_distance_km: 100.0,
        }
    }
}

/// How a people-at-risk figure was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeopleMethod {
    /// District population × share of the district's settlement points inside.
    SettlementWeighted,
    /// District population × share of the district's area inside (no settlement points).
    AreaShare,
    /// The district has no population figure.
    NoPopulation,
    /// Exact zonal sum of the population grid over district ∩ footprint.
    Grid,
}

/// A gridded population (WorldPop, GPWv4, GHSL, or one built by `aviso layers
/// build-population`) that can count the people inside an area. The GDAL adapter
/// (`crate::raster::gdal::LazyPopulationGrid`) opens its file at first use.
pub trait PopulationGrid: Send + Sync {
    /// The layer's name in the manifest (echoed in the method note).
    fn name(&self) -> &str;
    /// People inside `area` (EPSG:4326): Σ cell value × share of the cell inside. An `Err`
    /// says why the grid could not answer; the caller falls back.
    fn people_in(&self, area: &MultiPolygon<f64>) -> Result<f64, String>;
}

/// One threshold's footprint over one district.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdExposure {
    pub threshold_kt: f64,
    pub area_km2: f64,
    /// Share of the district's area inside the footprint (0..1).
    pub area_share: f64,
    pub people_at_risk: f64,
    pub method: PeopleMethod,
    /// Weighting points inside the footprint / in the district (when settlement-weighted).
    pub weighting_points: Option<(usize, usize)>,
    /// Start of the first forecast segment whose footprint reaches the district.
    pub first_arrival: DateTime<Utc>,
    pub lead_time_h: f64,
    /// Point features inside the footprint in this district, per layer name.
    pub points_inside: BTreeMap<String, usize>,
}

/// A shelter (accommodation centre or health facility) outside every forecast footprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShelterOption {
    pub layer: String,
    pub kind: PointKind,
    pub id: String,
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    pub distance_km: f64,
    pub capacity: Option<f64>,
    pub district_pcode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictExposure {
    pub pcode: String,
    pub name: String,
    pub province_pcode: Option<String>,
    pub province_name: Option<String>,
    pub population: Option<f64>,
    pub area_km2: f64,
    pub in_cone: bool,
    pub in_exposed_area: bool,
    /// Per forecast threshold reaching the district, ascending threshold.
    pub wind: Vec<ThresholdExposure>,
    /// Nearest safe shelters (from the district's interior point).
    pub safe_shelters: Vec<ShelterOption>,
}

impl DistrictExposure {
    /// The exposure of the lowest threshold reaching the district (largest footprint).
    pub fn widest(&self) -> Option<&ThresholdExposure> {
        self.wind.first()
    }
    /// The exposure of the highest threshold reaching the district.
    pub fn strongest(&self) -> Option<&ThresholdExposure> {
        self.wind.last()
    }
    pub fn at(&self, threshold_kt: f64) -> Option<&ThresholdExposure> {
        self.wind
            .iter()
            .find(|w| (w.threshold_kt - threshold_kt).abs() < 0.5)
    }
}

/// A point feature inside a forecast footprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointExposure {
    pub layer: String,
    pub kind: PointKind,
    pub id: String,
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    pub district_pcode: Option<String>,
    pub subtype: Option<String>,
    /// Highest threshold whose footprint contains the point.
    pub max_threshold_kt: f64,
    /// First arrival of the lowest threshold reaching it.
    pub first_arrival: DateTime<Utc>,
    pub lead_time_h: f64,
    pub population: Option<f64>,
    pub households: Option<f64>,
    pub capacity: Option<f64>,
    pub safe_shelters: Vec<ShelterOption>,
}

/// Sums over a province or the country, per threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaTotal {
    pub threshold_kt: f64,
    pub people_at_risk: f64,
    pub districts: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvinceExposure {
    pub pcode: String,
    pub name: String,
    pub population: Option<f64>,
    pub in_cone: bool,
    pub in_exposed_area: bool,
    pub totals: Vec<AreaTotal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// Districts reached by a forecast footprint or the cone, by P-code.
    pub districts: Vec<DistrictExposure>,
    pub provinces: Vec<ProvinceExposure>,
    /// Point features inside a forecast footprint (sites, accommodation centres, health
    /// facilities; settlement layers are only counted per district).
    pub points: Vec<PointExposure>,
    pub national: Vec<AreaTotal>,
    /// The weighting layer used, if any.
    pub weighting_layer: Option<String>,
    pub method_note: String,
}

fn hours_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / 3600.0
}

/// Computes exposure of one hazard over the indexed layers.
pub fn assess_exposure(
    hazard: &Hazard,
    reference_time: DateTime<Utc>,
    il: &IndexedLayers,
    cfg: &ExposureConfig,
) -> Exposure {
    let layers = &il.layers;
    let district_geoms: Vec<&MultiPolygon<f64>> =
        layers.districts.iter().map(|d| &d.geometry).collect();
    let province_geoms: Vec<&MultiPolygon<f64>> =
        layers.provinces.iter().map(|d| &d.geometry).collect();

    let mut swaths: Vec<&WindSwath> = hazard
        .forecast_swaths
        .iter()
        .filter(|s| !s.geometry.0.is_empty())
        .collect();
    swaths.sort_by(|a, b| a.threshold_kt.total_cmp(&b.threshold_kt));
    // Bounding box of every segment of every swath, in `swaths` order.
    let segment_boxes: Vec<Vec<Option<Rect<f64>>>> = swaths
        .iter()
        .map(|s| {
            s.segments
                .iter()
                .map(|g| g.geometry.bounding_rect())
                .collect()
        })
        .collect();
    let no_boxes: &[Option<Rect<f64>>] = &[];

    // Population-grid failures (each message once), for the method note.
    let mut grid_errors: Vec<String> = Vec::new();
    // Districts per threshold.
    let mut per_district: BTreeMap<usize, Vec<ThresholdExposure>> = BTreeMap::new();
    // Points inside each threshold's swath.
    let insides: Vec<PointsInside<'_>> = swaths
        .par_iter()
        .map(|s| il.points_inside(&s.geometry))
        .collect();
    // Points inside each threshold: point ref index -> highest threshold index reached.
    let mut point_hits: HashMap<usize, usize> = HashMap::new();
    for (ti, inside) in insides.iter().enumerate() {
        for &pi in &inside.refs {
            point_hits.insert(pi, ti);
        }
    }
    // Every (threshold, candidate district) pair, in threshold then district order; the
    // pairs are assessed in parallel (rayon) and gathered back in that order, so the
    // results and the order of grid error messages do not depend on scheduling.
    let pairs: Vec<(usize, usize)> = swaths
        .iter()
        .enumerate()
        .filter_map(|(ti, s)| Some((ti, s.geometry.bounding_rect()?)))
        .flat_map(|(ti, b)| il.districts.intersecting_bbox(b).map(move |di| (ti, di)))
        .collect();
    let assessed: Vec<(usize, ThresholdExposure, Vec<String>)> = pairs
        .par_iter()
        .filter_map(|&(ti, di)| {
            let swath = swaths.get(ti)?;
            let inside = insides.get(ti)?;
            let d = layers.districts.get(di)?;
            // Districts whose box meets the swath's but that lie clear of it (most of the
            // candidates) are dropped without the overlay, whose result would be empty. A
            // district wholly inside the swath covers its whole area. Otherwise the share
            // it covers is measured along the two boundaries (`shared_share`) instead of
            // by building district ∩ swath, unless a population raster must be summed over
            // that geometry or the boundaries touch. The overlay was 44 % of this stage
            // (Freddy 2023-03-10).
            let d_edges = il.district_edges.get(di)?;
            let relation = relate_certain_prepared(&d.geometry, d_edges, &swath.geometry);
            let overlay;
            let grid = il.has_population_grid();
            let part = match relation {
                Some(Relation::Disjoint) => return None,
                Some(Relation::Inside) if !grid => Part::Share(1.0),
                _ => {
                    let share = if grid {
                        None
                    } else {
                        shared_share(&d.geometry, &swath.geometry)
                    };
                    match share {
                        Some(s) if s > 0.0 => Part::Share(s),
                        Some(_) => return None,
                        None => {
                            overlay = d.geometry.intersection(&swath.geometry);
                            if overlay.0.is_empty() {
                                return None;
                            }
                            Part::Area(&overlay)
                        }
                    }
                }
            };
            let mut errors = Vec::new();
            let PartPeople {
                area_share,
                area_km2,
                people_at_risk,
                method,
                weighting_points,
            } = il.part_people(di, part, inside, &mut errors);
            // The first segment (in time) that reaches the district. A segment lies
            // inside its swath, so it meets district ∩ swath exactly when it meets the
            // district: the district's own boundary stands in for the part's.
            let boxes = segment_boxes.get(ti).map_or(no_boxes, Vec::as_slice);
            let part_box = match part {
                Part::Area(inter) => inter.bounding_rect(),
                Part::Share(_) => d_edges
                    .rect()
                    .zip(swath.geometry.bounding_rect())
                    .and_then(|(a, b)| rect_overlap(a, b)),
            };
            let arrival = part_box
                .and_then(|bx| {
                    first_arrival(swath, boxes, bx, |g| match part {
                        Part::Area(inter) => areas_overlap(inter, g),
                        Part::Share(_) => areas_overlap_prepared(&d.geometry, d_edges, g),
                    })
                })
                .unwrap_or(reference_time);
            let points_inside = inside
                .per_layer
                .iter()
                .filter(|((dp, _), _)| *dp == d.pcode)
                .map(|((_, l), n)| (l.to_string(), *n))
                .collect();
            let te = ThresholdExposure {
                threshold_kt: swath.threshold_kt,
                area_km2,
                area_share,
                people_at_risk,
                method,
                weighting_points,
                first_arrival: arrival,
                lead_time_h: hours_between(reference_time, arrival).max(0.0),
                points_inside,
            };
            Some((di, te, errors))
        })
        .collect();
    for (di, te, errors) in assessed {
        for e in errors {
            if !grid_errors.contains(&e) {
                grid_errors.push(e);
            }
        }
        per_district.entry(di).or_default().push(te);
    }

    // Cone and exposed area, over districts and provinces.
    let touched_by = |index: &AreaIndex,
                      geoms: &[&MultiPolygon<f64>],
                      probes: &[Option<Coord<f64>>],
                      g: Option<&MultiPolygon<f64>>| {
        g.map(|g| il.touched(index, geoms, probes, g))
            .unwrap_or_default()
    };
    let cone = hazard.cone.as_ref().map(|c| &c.geometry);
    let exposed = hazard.exposed_area.as_ref();
    let (dp, pp) = (&il.district_probe, &il.province_probe);
    let ((in_cone, in_exposed), (prov_in_cone, prov_in_exposed)) = rayon::join(
        || {
            rayon::join(
                || touched_by(&il.districts, &district_geoms, dp, cone),
                || touched_by(&il.districts, &district_geoms, dp, exposed),
            )
        },
        || {
            rayon::join(
                || touched_by(&il.provinces, &province_geoms, pp, cone),
                || touched_by(&il.provinces, &province_geoms, pp, exposed),
            )
        },
    );

    // Safe shelters: shelter-kind points outside the widest forecast footprint.
    let unsafe_points: std::collections::HashSet<usize> = point_hits.keys().copied().collect();
    let is_safe_shelter = |pi: usize| -> bool {
        if unsafe_points.contains(&pi) {
            return false;
        }
        il.point_refs
            .get(pi)
            .and_then(|&(li, fi)| layers.points.get(li).map(|l| (l, fi)))
            .is_some_and(|(l, fi)| {
                l.kind.is_shelter()
                    && l.features
                        .get(fi)
                        .is_some_and(|f| f.capacity.is_none_or(|c| c > 0.0))
            })
    };
    let shelters_near = |p: Point<f64>| -> Vec<ShelterOption> {
        if cfg.nearest_shelters == 0 {
            return Vec::new();
        }
        il.points
            .nearest(p, cfg.nearest_shelters, is_safe_shelter)
            .into_iter()
            .filter(|&(_, km)| km <= cfg.max_shelter_distance_km)
            .filter_map(|(pi, km)| {
                let &(li, fi) = il.point_refs.get(pi)?;
                let l = layers.points.get(li)?;
                let f = l.features.get(fi)?;
                Some(ShelterOption {
                    layer: l.info.name.clone(),
                    kind: l.kind,
                    id: f.id.clone(),
                    name: f.name.clone(),
                    lon: f.location.x(),
                    lat: f.location.y(),
                    distance_km: km,
                    capacity: f.capacity,
                    district_pcode: f.district_pcode.clone(),
                })
            })
            .collect()
    };

    let mut district_ids: Vec<usize> = per_district.keys().copied().collect();
    district_ids.extend(in_cone.iter().copied());
    district_ids.sort_unstable();
    district_ids.dedup();
    let with_wind: Vec<(usize, Vec<ThresholdExposure>)> = district_ids
        .into_iter()
        .map(|di| (di, per_district.remove(&di).unwrap_or_default()))
        .collect();
    let districts: Vec<DistrictExposure> = with_wind
        .into_par_iter()
        .filter_map(|(di, wind)| {
            let d = layers.districts.get(di)?;
            let safe_shelters = if wind.is_empty() {
                Vec::new()
            } else {
                il.district_interior
                    .get(di)
                    .copied()
                    .flatten()
                    .map(shelters_near)
                    .unwrap_or_default()
            };
            Some(DistrictExposure {
                pcode: d.pcode.clone(),
                name: d.name.clone(),
                province_pcode: d.parent_pcode.clone(),
                province_name: d.parent_name.clone(),
                population: d.population,
                area_km2: d.area_km2,
                in_cone: in_cone.contains(&di),
                in_exposed_area: in_exposed.contains(&di),
                wind,
                safe_shelters,
            })
        })
        .collect();

    // Points at risk (every layer but the weighting one, which is counted, not listed).
    let hits: Vec<(usize, usize)> = point_hits.iter().map(|(&pi, &ti)| (pi, ti)).collect();
    let mut points: Vec<PointExposure> = hits
        .into_par_iter()
        .filter_map(|(pi, ti)| {
            let &(li, fi) = il.point_refs.get(pi)?;
            let l = layers.points.get(li)?;
            // Settlements are counted per district (points_inside), not listed one by one:
            // there are tens of thousands and they are places, not managed sites.
            if l.kind == PointKind::Settlement {
                return None;
            }
            let f = l.features.get(fi)?;
            let widest = swaths.first()?;
            let bx = Rect::new(f.location.0, f.location.0);
            let boxes = segment_boxes.first().map_or(no_boxes, Vec::as_slice);
            let arrival = first_arrival(widest, boxes, bx, |g| g.intersects(&f.location))
                .unwrap_or(reference_time);
            let is_site = matches!(
                l.kind,
                PointKind::ResettlementSite | PointKind::IdpSite | PointKind::AccommodationCentre
            );
            Some(PointExposure {
                layer: l.info.name.clone(),
                kind: l.kind,
                id: f.id.clone(),
                name: f.name.clone(),
                lon: f.location.x(),
                lat: f.location.y(),
                district_pcode: f.district_pcode.clone(),
                subtype: f.subtype.clone(),
                max_threshold_kt: swaths.get(ti).map(|s| s.threshold_kt)?,
                first_arrival: arrival,
                lead_time_h: hours_between(reference_time, arrival).max(0.0),
                population: f.population,
                households: f.households,
                capacity: f.capacity,
                safe_shelters: if is_site {
                    shelters_near(f.location)
                } else {
                    Vec::new()
                },
            })
        })
        .collect();
    points.sort_by(|a, b| {
        b.max_threshold_kt
            .total_cmp(&a.max_threshold_kt)
            .then(a.layer.cmp(&b.layer))
            .then(a.id.cmp(&b.id))
    });

    let totals_of = |ds: &[&DistrictExposure]| -> Vec<AreaTotal> {
        swaths
            .iter()
            .map(|s| {
                let hit: Vec<&ThresholdExposure> =
                    ds.iter().filter_map(|d| d.at(s.threshold_kt)).collect();
                AreaTotal {
                    threshold_kt: s.threshold_kt,
                    people_at_risk: hit.iter().map(|t| t.people_at_risk).sum(),
                    districts: hit.len(),
                }
            })
            .collect()
    };
    let mut provinces: Vec<ProvinceExposure> = Vec::new();
    for (pi, p) in layers.provinces.iter().enumerate() {
        let ds: Vec<&DistrictExposure> = districts
            .iter()
            .filter(|d| d.province_pcode.as_deref() == Some(p.pcode.as_str()))
            .collect();
        let cone = prov_in_cone.contains(&pi);
        if ds.is_empty() && !cone {
            continue;
        }
        provinces.push(ProvinceExposure {
            pcode: p.pcode.clone(),
            name: p.name.clone(),
            population: p.population,
            in_cone: cone,
            in_exposed_area: prov_in_exposed.contains(&pi),
            totals: totals_of(&ds),
        });
    }
    let all: Vec<&DistrictExposure> = districts.iter().collect();
    let national = totals_of(&all);
    let weighting_layer = il.weighting_layer_name().map(str::to_string);
    let method_note = il.people_method_note(&grid_errors);
    Exposure {
        districts,
        provinces,
        points,
        national,
        weighting_layer,
        method_note,
    }
}

/// The P-codes of provinces a geometry overlaps (used by the trigger).
pub fn provinces_overlapping(il: &IndexedLayers, g: &MultiPolygon<f64>) -> Vec<String> {
    let geoms: Vec<&MultiPolygon<f64>> = il.layers.provinces.iter().map(|p| &p.geometry).collect();
    il.touched(&il.provinces, &geoms, &il.province_probe, g)
        .into_iter()
        .filter_map(|i| il.layers.provinces.get(i).map(|p| p.pcode.clone()))
        .collect()
}
