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

pub mod flood;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use geo::{
    BooleanOps, BoundingRect, ChamberlainDuquetteArea, InteriorPoint, Intersects, MultiPolygon,
    Point, Rect,
};
use serde::{Deserialize, Serialize};

use crate::domain::{Hazard, Layers, PointKind, WindSwath};
use crate::spatial::{AreaIndex, PointIndex};

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

/// Layers with their R-tree indexes, built once and reused for every assessment.
pub struct IndexedLayers {
    pub layers: Layers,
    districts: AreaIndex,
    provinces: AreaIndex,
    /// Every point of every layer, flattened: (layer index, feature index).
    point_refs: Vec<(usize, usize)>,
    points: PointIndex,
    /// Index into `layers.points` of the weighting layer.
    weighting: Option<usize>,
    /// Weighting points per district P-code.
    weighting_per_district: HashMap<String, usize>,
    /// A point inside each district (shelter searches start there); geo's `InteriorPoint`
    /// is costly, so it is computed once here rather than per assessment.
    district_interior: Vec<Option<Point<f64>>>,
    /// Each district's spherical area (Chamberlain–Duquette, m²), the denominator of area
    /// shares (see `assess_exposure`).
    district_area_sph_m2: Vec<f64>,
    /// Replaces the settlement method when set.
    population_grid: Option<Box<dyn PopulationGrid>>,
}

impl IndexedLayers {
    pub fn new(layers: Layers, cfg: &ExposureConfig) -> Self {
        let districts = AreaIndex::new(
            &layers
                .districts
                .iter()
                .map(|d| d.geometry.clone())
                .collect::<Vec<_>>(),
        );
        let provinces = AreaIndex::new(
            &layers
                .provinces
                .iter()
                .map(|d| d.geometry.clone())
                .collect::<Vec<_>>(),
        );
        let mut point_refs = Vec::new();
        let mut pts = Vec::new();
        for (li, l) in layers.points.iter().enumerate() {
            for (fi, f) in l.features.iter().enumerate() {
                point_refs.push((li, fi));
                pts.push(f.location);
            }
        }
        let points = PointIndex::new(&pts);
        let weighting = layers.points.iter().position(|l| {
            if cfg.weighting_layer.is_empty() {
                l.kind == PointKind::Settlement
            } else {
                l.info.name == cfg.weighting_layer
            }
        });
        let mut weighting_per_district = HashMap::new();
        if let Some(w) = weighting.and_then(|w| layers.points.get(w)) {
            for f in &w.features {
                if let Some(p) = &f.district_pcode {
                    *weighting_per_district.entry(p.clone()).or_insert(0) += 1;
                }
            }
        }
        let district_interior = layers
            .districts
            .iter()
            .map(|d| d.geometry.interior_point())
            .collect();
        let district_area_sph_m2 = layers
            .districts
            .iter()
            .map(|d| d.geometry.chamberlain_duquette_unsigned_area())
            .collect();
        IndexedLayers {
            district_interior,
            district_area_sph_m2,
            layers,
            districts,
            provinces,
            point_refs,
            points,
            weighting,
            weighting_per_district,
            population_grid: None,
        }
    }

    /// Counts district people at risk on `grid` instead of spreading the district
    /// population over settlement points.
    pub fn with_population_grid(mut self, grid: Box<dyn PopulationGrid>) -> Self {
        self.population_grid = Some(grid);
        self
    }

    pub fn weighting_layer_name(&self) -> Option<&str> {
        self.weighting
            .and_then(|w| self.layers.points.get(w))
            .map(|l| l.info.name.as_str())
    }

    /// Indices of areas (districts or provinces) that the geometry really intersects.
    fn touched(
        &self,
        index: &AreaIndex,
        areas_geom: &[&MultiPolygon<f64>],
        g: &MultiPolygon<f64>,
    ) -> Vec<usize> {
        let Some(rect) = g.bounding_rect() else {
            return Vec::new();
        };
        index
            .intersecting_bbox(rect)
            .filter(|&i| areas_geom.get(i).is_some_and(|a| areas_overlap(a, g)))
            .collect()
    }
}

/// The points of every layer inside one footprint.
pub(crate) struct PointsInside<'a> {
    /// Indices into the flattened point index (`IndexedLayers::point_refs`).
    pub refs: Vec<usize>,
    /// Weighting-layer points inside, per district P-code.
    pub weighting: HashMap<&'a str, usize>,
    /// Points inside per (district P-code, layer name).
    pub per_layer: HashMap<(&'a str, &'a str), usize>,
}

/// People at risk in one district's part inside a footprint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PartPeople {
    /// Share of the district's area inside (0..1).
    pub area_share: f64,
    pub area_km2: f64,
    pub people_at_risk: f64,
    pub method: PeopleMethod,
    /// Weighting points inside / in the district (settlement-weighted figures).
    pub weighting_points: Option<(usize, usize)>,
}

impl IndexedLayers {
    /// The points inside `footprint`, counted per district for the people method.
    pub(crate) fn points_inside(&self, footprint: &MultiPolygon<f64>) -> PointsInside<'_> {
        let refs = self.points.within(footprint);
        let mut weighting: HashMap<&str, usize> = HashMap::new();
        let mut per_layer: HashMap<(&str, &str), usize> = HashMap::new();
        for &pi in &refs {
            let Some(&(li, fi)) = self.point_refs.get(pi) else {
                continue;
            };
            let Some(f) = self.layers.points.get(li).and_then(|l| l.features.get(fi)) else {
                continue;
            };
            let Some(d) = f.district_pcode.as_deref() else {
                continue;
            };
            if Some(li) == self.weighting {
                *weighting.entry(d).or_insert(0) += 1;
            }
            *per_layer.entry((d, f.layer.as_str())).or_insert(0) += 1;
        }
        PointsInside {
            refs,
            weighting,
            per_layer,
        }
    }

    /// People at risk in district `di`'s part `inter` (district ∩ footprint), by the
    /// method of the module docs: the population grid when attached (its failures are
    /// collected once each in `grid_errors`), else settlement-weighted, else area share.
    pub(crate) fn part_people(
        &self,
        di: usize,
        inter: &MultiPolygon<f64>,
        inside: &PointsInside<'_>,
        grid_errors: &mut Vec<String>,
    ) -> PartPeople {
        let Some(d) = self.layers.districts.get(di) else {
            return PartPeople {
                area_share: 0.0,
                area_km2: 0.0,
                people_at_risk: 0.0,
                method: PeopleMethod::NoPopulation,
                weighting_points: None,
            };
        };
        // The share is a ratio of two spherical areas (Chamberlain & Duquette 2007):
        // within 0.1 % of the ellipsoidal ratio at Mozambique's latitudes and far
        // cheaper than Karney's geodesic area, which was 17 % of an assessment. km²
        // are the share of the district's geodesic area.
        let area_share = match self.district_area_sph_m2.get(di) {
            Some(&total) if total > 0.0 => {
                (inter.chamberlain_duquette_unsigned_area() / total).clamp(0.0, 1.0)
            }
            _ => 0.0,
        };
        let w_total = self
            .weighting_per_district
            .get(&d.pcode)
            .copied()
            .unwrap_or(0);
        let w_in = inside.weighting.get(d.pcode.as_str()).copied().unwrap_or(0);
        let (mut people_at_risk, mut method, mut weighting_points) = match d.population {
            None => (0.0, PeopleMethod::NoPopulation, None),
            Some(pop) if w_total > 0 => (
                pop * w_in as f64 / w_total as f64,
                PeopleMethod::SettlementWeighted,
                Some((w_in, w_total)),
            ),
            Some(pop) => (pop * area_share, PeopleMethod::AreaShare, None),
        };
        if let Some(grid) = &self.population_grid {
            match grid.people_in(inter) {
                Ok(people) => {
                    (people_at_risk, method, weighting_points) = (people, PeopleMethod::Grid, None);
                }
                Err(e) if !grid_errors.contains(&e) => grid_errors.push(e),
                Err(_) => {}
            }
        }
        PartPeople {
            area_share,
            area_km2: area_share * d.area_km2,
            people_at_risk,
            method,
            weighting_points,
        }
    }

    /// What the people-at-risk figures mean, for the alert's method notes.
    pub(crate) fn people_method_note(&self, grid_errors: &[String]) -> String {
        let note = match self.weighting_layer_name() {
            Some(w) => format!(
                "people at risk = district population (INE) × share of the district's points of layer '{w}' inside the footprint; districts without such points use the share of their area inside. Points carry no size: a town and a hamlet weigh the same."
            ),
            None => "people at risk = district population (INE) × share of the district's area inside the footprint (no settlement layer loaded)".to_string(),
        };
        match &self.population_grid {
            Some(grid) if grid_errors.is_empty() => format!(
                "people at risk = exact zonal sum of population grid '{}' over district ∩ footprint (each cell weighted by the share of its area inside)",
                grid.name()
            ),
            Some(grid) => format!(
                "population grid '{}' failed ({}); districts it could not count fell back to: {note}",
                grid.name(),
                grid_errors.join("; ")
            ),
            None => note,
        }
    }
}

fn hours_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / 3600.0
}

/// True when two areas share some area (touching along a border does not count).
///
/// Bounding boxes first; then i_overlay's sweep-line intersection (geo's `BooleanOps`),
/// which is O((n+m) log(n+m)). geo's `Intersects` between polygons tests every pair of
/// edges, O(n·m): with districts of ~1,000 vertices against swaths of ~2,000 it took 70 %
/// of an assessment (measured with perf on `cargo bench --bench assess`).
pub(crate) fn areas_overlap(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> bool {
    match (a.bounding_rect(), b.bounding_rect()) {
        (Some(ra), Some(rb)) if ra.intersects(&rb) => !a.intersection(b).0.is_empty(),
        _ => false,
    }
}

/// First segment (time order) of a swath whose footprint satisfies `hit`; segments whose
/// bounding box misses `target_box` are skipped without the exact test.
fn first_arrival(
    swath: &WindSwath,
    target_box: Rect<f64>,
    hit: impl Fn(&MultiPolygon<f64>) -> bool,
) -> Option<DateTime<Utc>> {
    swath
        .segments
        .iter()
        .find(|s| {
            s.geometry
                .bounding_rect()
                .is_some_and(|b| b.intersects(&target_box))
                && hit(&s.geometry)
        })
        .map(|s| s.start)
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

    // Population-grid failures (each message once), for the method note.
    let mut grid_errors: Vec<String> = Vec::new();
    // Districts per threshold.
    let mut per_district: BTreeMap<usize, Vec<ThresholdExposure>> = BTreeMap::new();
    // Points inside each threshold: point ref index -> highest threshold index reached.
    let mut point_hits: HashMap<usize, usize> = HashMap::new();
    for (ti, swath) in swaths.iter().enumerate() {
        let inside = il.points_inside(&swath.geometry);
        for &pi in &inside.refs {
            point_hits.insert(pi, ti);
        }
        let Some(swath_box) = swath.geometry.bounding_rect() else {
            continue;
        };
        for di in il.districts.intersecting_bbox(swath_box) {
            let Some(d) = layers.districts.get(di) else {
                continue;
            };
            let inter = d.geometry.intersection(&swath.geometry);
            if inter.0.is_empty() {
                continue;
            }
            let PartPeople {
                area_share,
                area_km2,
                people_at_risk,
                method,
                weighting_points,
            } = il.part_people(di, &inter, &inside, &mut grid_errors);
            // Within the district, only the part inside the swath can be reached first.
            let arrival = inter
                .bounding_rect()
                .and_then(|bx| first_arrival(swath, bx, |g| areas_overlap(&inter, g)))
                .unwrap_or(reference_time);
            let points_inside = inside
                .per_layer
                .iter()
                .filter(|((dp, _), _)| *dp == d.pcode)
                .map(|((_, l), n)| (l.to_string(), *n))
                .collect();
            per_district.entry(di).or_default().push(ThresholdExposure {
                threshold_kt: swath.threshold_kt,
                area_km2,
                area_share,
                people_at_risk,
                method,
                weighting_points,
                first_arrival: arrival,
                lead_time_h: hours_between(reference_time, arrival).max(0.0),
                points_inside,
            });
        }
    }

    // Cone and exposed area, over districts and provinces.
    let touched_by =
        |index: &AreaIndex, geoms: &[&MultiPolygon<f64>], g: Option<&MultiPolygon<f64>>| {
            g.map(|g| il.touched(index, geoms, g)).unwrap_or_default()
        };
    let cone = hazard.cone.as_ref().map(|c| &c.geometry);
    let exposed = hazard.exposed_area.as_ref();
    let in_cone = touched_by(&il.districts, &district_geoms, cone);
    let in_exposed = touched_by(&il.districts, &district_geoms, exposed);
    let prov_in_cone = touched_by(&il.provinces, &province_geoms, cone);
    let prov_in_exposed = touched_by(&il.provinces, &province_geoms, exposed);

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
    let districts: Vec<DistrictExposure> = district_ids
        .into_iter()
        .filter_map(|di| {
            let d = layers.districts.get(di)?;
            let wind = per_district.remove(&di).unwrap_or_default();
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
    let mut points: Vec<PointExposure> = point_hits
        .iter()
        .filter_map(|(&pi, &ti)| {
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
            let arrival =
                first_arrival(widest, bx, |g| g.intersects(&f.location)).unwrap_or(reference_time);
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
    il.touched(&il.provinces, &geoms, g)
        .into_iter()
        .filter_map(|i| il.layers.provinces.get(i).map(|p| p.pcode.clone()))
        .collect()
}
