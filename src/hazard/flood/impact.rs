//! A station's impact area: the districts its flood would reach, from its river basin and
//! the basin's outlet on the coast, cut to a buffer of its river where river lines are
//! loaded ([`super::river`]), or set by `[[flood_impact]]` in the layers manifest.
//!
//! Pure: no I/O. Must not depend on feeds, layers, exposure, alerts or any adapter.

use geo::{
    BoundingRect, Contains, Coord, Distance, Haversine, InteriorPoint, Intersects, MultiPolygon,
    Point,
};
use serde::Serialize;

use crate::domain::{AdminArea, FloodStation, RiverBasin, RiverLine, StationImpact};
use crate::hazard::geodesy::{area_km2, intersection, union_multi};

use super::river::river_corridor;
use super::*;

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
    /// `"manual: [[flood_impact]] polygon ..."`, and why the river rule was not applied
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
pub(super) const COAST_EAST_TOLERANCE_DEG: f64 = 0.02;

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

pub(super) fn km(a: Point<f64>, b: Point<f64>) -> f64 {
    Haversine.distance(a, b) / 1000.0
}

/// How far (km, to the nearest boundary vertex) a station may lie outside the basin named
/// after its river and still be given to it. Forecast points sit on the GloFAS 0.05° grid
/// (about 5.5 km; the shared stations are all at x.x25°) and the basins are simplified to
/// 200 m, so a station near a watershed can fall just across it (90 gurue, on the
/// Licungo, lies inside the Lúrio polygon).
pub const RIVER_BASIN_SNAP_KM: f64 = 25.0;

/// Lower case without Portuguese accents, so "Buzi" matches "R. Búzi".
pub(super) fn fold(s: &str) -> String {
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
pub(super) struct KeptDistrict<'a> {
    district: &'a AdminArea,
    is_home: bool,
    /// Share of the district's area in the basin.
    share: f64,
    /// The district's part in the basin.
    part: MultiPolygon<f64>,
}

/// Share (0..1) of the district's geodesic area that `part` covers.
pub(super) fn share_of(part: &MultiPolygon<f64>, d: &AdminArea) -> f64 {
    if d.area_km2 > 0.0 {
        (area_km2(part) / d.area_km2).min(1.0)
    } else {
        0.0
    }
}

/// The districts `footprint` covers by at least `min_share` of their area.
pub(super) fn districts_under(
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
pub(super) fn cut_to_corridor(
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
pub(super) enum Corridor {
    /// No line of the layer lies in the station's basin.
    NoLines,
    Buffer {
        /// The buffer of the lines' parts inside the basin (EPSG:4326).
        polygon: MultiPolygon<f64>,
        /// Names of the lines chosen by name; empty when every line in the basin is used.
        rivers: Vec<String>,
    },
}
