//! [`IndexedLayers`]: the reference layers with their R-tree indexes and what every
//! assessment needs of them precomputed once (weighting points per district, interior
//! points, spherical areas, the optional population grid), and the per-district people
//! at risk of a footprint. Split from `exposure/mod.rs` (issue 16 move 5): building and
//! querying the indexes is one job, assessing a hazard over them another.
//!
//! Pure computation; no I/O.

use std::collections::HashMap;

use geo::{BoundingRect, Coord, InteriorPoint, MultiPolygon, Point};

use super::{ExposureConfig, PeopleMethod, PopulationGrid, areas_overlap};
use crate::domain::{Layers, PointKind};
use crate::spatial::{
    AreaEdges, AreaIndex, PointIndex, PreparedArea, inside_with_margin, spherical_area_m2,
};

/// Clearance (degrees, ~1 m) a probe point keeps from the boundaries of both the area and
/// the footprint in [`IndexedLayers::touched`]. geo's boolean operations (i_overlay) snap
/// coordinates to a grid of (half the larger side of the two operands' bounding box) / 2^29
/// (i_float's `FloatPointAdapter`): under 2·10⁻⁷° for any box up to 100° across. A point
/// ≥ 50 grid steps inside both operands stays inside both after snapping, so their exact
/// integer intersection is not empty: the overlay would answer "overlap" too.
const PROBE_MARGIN_DEG: f64 = 1e-5;

/// A point of `area` at least [`PROBE_MARGIN_DEG`] inside it (its interior point), if any.
fn probe_of(area: &MultiPolygon<f64>, interior: Option<Point<f64>>) -> Option<Coord<f64>> {
    interior
        .map(|p| p.0)
        .filter(|&p| inside_with_margin(area, p, PROBE_MARGIN_DEG))
}

/// Layers with their R-tree indexes, built once and reused for every assessment.
pub struct IndexedLayers {
    pub layers: Layers,
    pub(super) districts: AreaIndex,
    pub(super) provinces: AreaIndex,
    /// Every point of every layer, flattened: (layer index, feature index).
    pub(super) point_refs: Vec<(usize, usize)>,
    pub(super) points: PointIndex,
    /// Index into `layers.points` of the weighting layer.
    pub(super) weighting: Option<usize>,
    /// Weighting points per district P-code.
    pub(super) weighting_per_district: HashMap<String, usize>,
    /// A point inside each district (shelter searches start there); geo's `InteriorPoint`
    /// is costly, so it is computed once here rather than per assessment.
    pub(super) district_interior: Vec<Option<Point<f64>>>,
    /// Per district and province: a point well inside it (see [`PROBE_MARGIN_DEG`]), or
    /// `None`; lets [`IndexedLayers::touched`] accept an overlap without an overlay.
    pub(super) district_probe: Vec<Option<Coord<f64>>>,
    pub(super) province_probe: Vec<Option<Coord<f64>>>,
    /// Each district's spherical area (Chamberlain–Duquette, m²), the denominator of area
    /// shares (see `assess_exposure`).
    district_area_sph_m2: Vec<f64>,
    /// Each district's edges sorted by x, for the many overlap tests of one assessment.
    pub(crate) district_edges: Vec<AreaEdges>,
    /// Replaces the settlement method when set.
    pub(super) population_grid: Option<Box<dyn PopulationGrid>>,
    /// The country outline prepared for point tests (the hazard's landfall search).
    country: PreparedArea,
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
        let district_interior: Vec<Option<Point<f64>>> = layers
            .districts
            .iter()
            .map(|d| d.geometry.interior_point())
            .collect();
        let district_probe = layers
            .districts
            .iter()
            .zip(&district_interior)
            .map(|(d, p)| probe_of(&d.geometry, *p))
            .collect();
        let province_probe = layers
            .provinces
            .iter()
            .map(|p| probe_of(&p.geometry, p.geometry.interior_point()))
            .collect();
        let district_area_sph_m2 = layers
            .districts
            .iter()
            .map(|d| spherical_area_m2(&d.geometry))
            .collect();
        let district_edges = layers
            .districts
            .iter()
            .map(|d| AreaEdges::new(&d.geometry))
            .collect();
        IndexedLayers {
            country: PreparedArea::new(&layers.country),
            district_interior,
            district_probe,
            province_probe,
            district_area_sph_m2,
            district_edges,
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

    /// `layers.country`, prepared once for the point tests of `hazard::build_hazard_in`.
    pub fn country(&self) -> &PreparedArea {
        &self.country
    }

    pub fn weighting_layer_name(&self) -> Option<&str> {
        self.weighting
            .and_then(|w| self.layers.points.get(w))
            .map(|l| l.info.name.as_str())
    }

    /// Indices of areas (districts or provinces) that the geometry really intersects.
    ///
    /// `probes[i]`, a point well inside area i, decides most areas at the cost of one pass
    /// over `g`'s edges: if it is also well inside `g`, the two overlap, as the overlay
    /// ([`areas_overlap`]) would find (see [`PROBE_MARGIN_DEG`]). Otherwise the overlay
    /// decides, as before.
    pub(super) fn touched(
        &self,
        index: &AreaIndex,
        areas_geom: &[&MultiPolygon<f64>],
        probes: &[Option<Coord<f64>>],
        g: &MultiPolygon<f64>,
    ) -> Vec<usize> {
        let Some(rect) = g.bounding_rect() else {
            return Vec::new();
        };
        index
            .intersecting_bbox(rect)
            .filter(|&i| {
                let probe_inside = probes
                    .get(i)
                    .copied()
                    .flatten()
                    .is_some_and(|p| inside_with_margin(g, p, PROBE_MARGIN_DEG));
                probe_inside || areas_geom.get(i).is_some_and(|a| areas_overlap(a, g))
            })
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

/// One district's part inside a footprint, as the exposure stage has it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part<'a> {
    /// Its geometry (needed to sum a population raster over it).
    Area(&'a MultiPolygon<f64>),
    /// Only the share (0..=1) of the district's spherical area it covers.
    Share(f64),
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

    /// Whether a population raster is attached (then the people in a district's part are
    /// summed over its geometry, which must be built: [`Part::Area`]).
    pub(crate) fn has_population_grid(&self) -> bool {
        self.population_grid.is_some()
    }

    /// People at risk in district `di`'s part (district ∩ footprint), by the method of the
    /// module docs: the population grid when attached and the part's geometry is given
    /// (its failures are collected once each in `grid_errors`), else settlement-weighted,
    /// else area share.
    pub(crate) fn part_people(
        &self,
        di: usize,
        part: Part<'_>,
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
        let area_share = match (part, self.district_area_sph_m2.get(di)) {
            (Part::Share(share), _) => share.clamp(0.0, 1.0),
            (Part::Area(inter), Some(&total)) if total > 0.0 => {
                (spherical_area_m2(inter) / total).clamp(0.0, 1.0)
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
        if let (Some(grid), Part::Area(inter)) = (&self.population_grid, part) {
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
