//! The alert document: one RFC 7946 GeoJSON FeatureCollection per assessment, with the
//! alert's metadata in a top-level `aviso` member.
//!
//! Pure: builds a `serde_json::Value` through the `geojson` crate's types (`Feature`,
//! `FeatureCollection`, `Geometry`, foreign members); the properties and the `aviso`
//! metadata are free-form JSON (RFC 7946 §3.2, §6.1), written with `json!`. Geometry is
//! EPSG:4326 lon/lat, exterior rings counter-clockwise (right-hand rule), holes
//! clockwise, coordinates rounded to the configured decimals with repeated vertices
//! removed, and no `crs` member (RFC 7946 §4).

use geo::orient::{Direction, Orient};
use geo::{Coord, LineString, MultiPolygon, Polygon};
use geojson::{Feature, FeatureCollection, Geometry, GeometryValue, JsonObject};
use serde_json::{Map, Value, json};

use crate::alerts::assess::Assessment;
use crate::alerts::levels::Level;
use crate::domain::{FixKind, Layers, Period, SwioCategory, WindSwath};
use crate::exposure::{PeopleMethod, ShelterOption};

/// Identifies the document layout; bump when a field changes meaning.
pub const SCHEMA: &str = "aviso-alert/1";

pub(crate) fn round(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

/// Rounds a ring, drops repeated vertices, keeps it closed; `None` if it collapses.
fn ring_coords(ls: &LineString<f64>, decimals: u32) -> Option<Vec<[f64; 2]>> {
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(ls.0.len());
    for c in &ls.0 {
        let p = [round(c.x, decimals), round(c.y, decimals)];
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    if let (Some(first), Some(last)) = (out.first().copied(), out.last().copied())
        && first != last
    {
        out.push(first);
    }
    (out.len() >= 4).then_some(out)
}

fn polygon_coords(p: &Polygon<f64>, decimals: u32) -> Option<Vec<Vec<[f64; 2]>>> {
    let mut rings = vec![ring_coords(p.exterior(), decimals)?];
    rings.extend(
        p.interiors()
            .iter()
            .filter_map(|r| ring_coords(r, decimals)),
    );
    Some(rings)
}

/// GeoJSON geometry of a multipolygon (right-hand rule, rounded): a Polygon when one part
/// is left, a MultiPolygon otherwise; `None` when empty.
pub fn multipolygon_geometry(mp: &MultiPolygon<f64>, decimals: u32) -> Option<Geometry> {
    let oriented = mp.orient(Direction::Default);
    let mut polys: Vec<Vec<Vec<[f64; 2]>>> = oriented
        .0
        .iter()
        .filter_map(|p| polygon_coords(p, decimals))
        .collect();
    let value = match polys.len() {
        0 => return None,
        1 => GeometryValue::new_polygon(polys.swap_remove(0)),
        _ => GeometryValue::new_multi_polygon(polys),
    };
    Some(Geometry::new(value))
}

fn line_geometry(coords: &[Coord<f64>], decimals: u32) -> Option<Geometry> {
    let pts: Vec<[f64; 2]> = coords
        .iter()
        .map(|c| [round(c.x, decimals), round(c.y, decimals)])
        .collect();
    (pts.len() >= 2).then(|| Geometry::new(GeometryValue::new_line_string(pts)))
}

pub(crate) fn point_geometry(lon: f64, lat: f64, decimals: u32) -> Geometry {
    Geometry::new_point([round(lon, decimals), round(lat, decimals)])
}

/// A feature with its geometry and properties (an object: `json!({...})`), no id.
pub(crate) fn feature(geometry: Geometry, properties: Value) -> Feature {
    Feature {
        geometry: Some(geometry),
        properties: Some(object(properties)),
        ..Feature::default()
    }
}

/// The members of a JSON object (`json!({...})`); anything else has none.
pub(crate) fn object(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

/// A feature as JSON, in geojson's member order: "type", "geometry", "id" (when set),
/// "properties", then foreign members.
pub(crate) fn feature_json(f: &Feature) -> Value {
    Value::Object(JsonObject::from(f))
}

/// A FeatureCollection as JSON, with `foreign_members` (an object: the `aviso` metadata,
/// or a CLI document's header) between "type" and "features".
///
/// A thin wrapper over geojson's serialiser, which writes foreign members after
/// "features": this keeps the order the documents have always had. "type" stays first
/// (GDAL's GeoJSON driver sniffs it), and a reader streaming a 1.5 MB alert meets the
/// metadata before the features. Only "features" is moved; every member is geojson's.
pub(crate) fn collection_json(features: Vec<Feature>, foreign_members: Value) -> Value {
    let foreign_members = Some(object(foreign_members)).filter(|m| !m.is_empty());
    let fc = FeatureCollection {
        bbox: None,
        features,
        foreign_members,
    };
    match serde_json::to_value(&fc) {
        Ok(Value::Object(mut m)) => {
            if let Some(features) = m.shift_remove("features") {
                m.insert("features".into(), features);
            }
            Value::Object(m)
        }
        // A FeatureCollection always serialises to an object; Null is never written.
        other => other.unwrap_or(Value::Null),
    }
}

fn level_json(level: Option<Level>) -> Value {
    match level {
        Some(l) => {
            json!({"code": l.name_en(), "pt": l.name_pt(), "en": l.name_en(), "colour": l.colour_hex(), "meaning_pt": l.meaning_pt(), "meaning_en": l.meaning_en()})
        }
        None => Value::Null,
    }
}

fn category_json(c: Option<SwioCategory>) -> Value {
    match c {
        Some(c) => json!({"code": c, "pt": c.name_pt(), "en": c.name_en()}),
        None => Value::Null,
    }
}

fn shelters_json(s: &[ShelterOption]) -> Value {
    Value::Array(
        s.iter()
            .map(|s| {
                json!({
                    "layer": s.layer, "kind": s.kind, "id": s.id, "name": s.name,
                    "lon": round(s.lon, 5), "lat": round(s.lat, 5),
                    "distance_km": round(s.distance_km, 1), "capacity": s.capacity,
                    "district_pcode": s.district_pcode,
                })
            })
            .collect(),
    )
}

fn swath_feature(s: &WindSwath, decimals: u32) -> Option<Feature> {
    let geometry = multipolygon_geometry(&s.geometry, decimals)?;
    let (layer, label_pt, label_en) = match s.period {
        Period::Forecast => (
            "wind_swath",
            format!("Ventos ≥ {} nós previstos", s.threshold_kt),
            format!("Forecast winds ≥ {} kt", s.threshold_kt),
        ),
        Period::Observed => (
            "observed_wind_swath",
            format!("Ventos ≥ {} nós já ocorridos (contexto)", s.threshold_kt),
            format!(
                "Observed winds ≥ {} kt (context, already passed)",
                s.threshold_kt
            ),
        ),
    };
    Some(feature(
        geometry,
        json!({
            "layer": layer,
            "threshold_kt": s.threshold_kt,
            "threshold_kmh": round(crate::domain::Knots(s.threshold_kt).to_kmh(), 0),
            "wind_averaging": "10-minute mean",
            "period": s.period,
            "method": s.method,
            "area_km2": round(s.area_km2, 0),
            "label_pt": label_pt,
            "label_en": label_en,
        }),
    ))
}

/// The caveats of the layers used, for the alert metadata (shown wherever a layer is).
pub(crate) fn caveats_json(layers: &Layers) -> Vec<Value> {
    layers
        .infos
        .iter()
        .filter_map(|i| {
            i.caveat
                .as_ref()
                .map(|c| json!({"layer": i.name, "caveat": c}))
        })
        .collect()
}

/// Renders the assessment as the alert document.
pub fn alert_document(a: &Assessment, layers: &Layers, decimals: u32) -> Value {
    let f = &a.forecast;
    let mut features: Vec<Feature> = Vec::new();

    // Hazard footprints: forecast first (what the alert is about), then context.
    for s in &a.hazard.forecast_swaths {
        features.extend(swath_feature(s, decimals));
    }
    if let Some(cone) = &a.hazard.cone
        && let Some(g) = multipolygon_geometry(&cone.geometry, decimals)
    {
        features.push(feature(
            g,
            json!({"layer": "cone", "source": cone.source,
                   "label_pt": "Cone de incerteza da trajectória", "label_en": "Track uncertainty cone",
                   "note": "where the centre may pass; says nothing about the storm's size"}),
        ));
    }
    if let Some(ea) = &a.hazard.exposed_area
        && let Some(g) = multipolygon_geometry(ea, decimals)
    {
        features.push(feature(
            g,
            json!({"layer": "exposed_area", "threshold_kt": 64.0,
                   "label_pt": "Área exposta (gatilho de acção antecipatória)",
                   "label_en": "Exposed area (anticipatory-action trigger)",
                   "trigger_version": a.trigger.version}),
        ));
    }
    for s in &a.hazard.observed_swaths {
        features.extend(swath_feature(s, decimals));
    }

    // Track: observed line, forecast line, and every fix.
    let line_of = |kind: FixKind| -> Vec<Coord<f64>> {
        f.track
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| Coord { x: p.lon, y: p.lat })
            .collect()
    };
    let mut fc_line = line_of(FixKind::Forecast);
    if let Some(last_obs) = f.track.iter().rev().find(|p| p.kind == FixKind::Analysis)
        && fc_line.first()
            != Some(&Coord {
                x: last_obs.lon,
                y: last_obs.lat,
            })
    {
        fc_line.insert(
            0,
            Coord {
                x: last_obs.lon,
                y: last_obs.lat,
            },
        );
    }
    if let Some(g) = line_geometry(&line_of(FixKind::Analysis), decimals) {
        features.push(feature(g, json!({"layer": "observed_track", "label_en": "Observed track", "label_pt": "Trajectória observada"})));
    }
    if let Some(g) = line_geometry(&fc_line, decimals) {
        features.push(feature(g, json!({"layer": "forecast_track", "label_en": "Forecast track", "label_pt": "Trajectória prevista"})));
    }
    for p in &f.track {
        let wind10 = p.max_wind_kt.map(|w| f.wind_averaging.to_ten_minute(w).0);
        features.push(feature(
            point_geometry(p.lon, p.lat, decimals),
            json!({
                "layer": "track_point",
                "kind": p.kind,
                "time": p.time.to_rfc3339(),
                "lead_time_h": f.lead_time_h(p),
                "wind_kt_10min": wind10,
                "wind_kmh_10min": wind10.map(|w| round(crate::domain::Knots(w).to_kmh(), 0)),
                "gust_kt": p.gust_kt.map(|g| g.0),
                "pressure_hpa": p.min_pressure_hpa.map(|x| x.0),
                "rmw_nm": p.rmw_nm.map(|x| x.0),
                "category": category_json(f.category_of(p)),
                "development": p.development,
            }),
        ));
    }

    // Districts at risk (full district polygons, coloured by level).
    for d in &a.exposure.districts {
        let Some(area) = layers.districts.iter().find(|x| x.pcode == d.pcode) else {
            continue;
        };
        let Some(g) = multipolygon_geometry(&area.geometry, decimals) else {
            continue;
        };
        let level = a.levels.get(&d.pcode).map(|l| l.level);
        let by_threshold: Map<String, Value> = d
            .wind
            .iter()
            .map(|w| {
                (
                    format!("{}", w.threshold_kt),
                    json!({
                        "people_at_risk": (w.method != PeopleMethod::NoPopulation).then(|| w.people_at_risk.round()),
                        "area_km2": round(w.area_km2, 1),
                        "area_share": round(w.area_share, 4),
                        "method": w.method,
                        "weighting_points_inside": w.weighting_points.map(|x| x.0),
                        "weighting_points_total": w.weighting_points.map(|x| x.1),
                        "first_arrival": w.first_arrival.to_rfc3339(),
                        "lead_time_h": round(w.lead_time_h, 1),
                        "points_inside": w.points_inside,
                    }),
                )
            })
            .collect();
        features.push(feature(
            g,
            json!({
                "layer": "district",
                "pcode": d.pcode,
                "name": d.name,
                "province_pcode": d.province_pcode,
                "province_name": d.province_name,
                "level": level.map(|l| l.name_en()),
                "level_pt": level.map(|l| l.name_pt()),
                "level_colour": level.map(|l| l.colour_hex()),
                "level_rule": a.levels.get(&d.pcode).map(|l| l.rule),
                // Why: the official track, or a probability rule with the district's P.
                "level_basis": a.levels.get(&d.pcode).map(|l| l.basis.code()),
                "level_probability": a.levels.get(&d.pcode).and_then(|l| l.basis.reason()).map(|r| round(r.p, 3)),
                "level_reason_pt": a.levels.get(&d.pcode).map(|l| l.basis.explain(crate::domain::Lang::Pt)),
                "level_reason_en": a.levels.get(&d.pcode).map(|l| l.basis.explain(crate::domain::Lang::En)),
                "population": d.population,
                "people_at_risk": match d.widest() {
                    Some(w) if w.method == PeopleMethod::NoPopulation => None,
                    Some(w) => Some(w.people_at_risk.round()),
                    None => Some(0.0),
                },
                "max_threshold_kt": d.strongest().map(|w| w.threshold_kt),
                "first_arrival": d.widest().map(|w| w.first_arrival.to_rfc3339()),
                "lead_time_h": d.widest().map(|w| round(w.lead_time_h, 1)),
                "in_cone": d.in_cone,
                "in_exposed_area": d.in_exposed_area,
                "wind": by_threshold,
                "safe_shelters": shelters_json(&d.safe_shelters),
            }),
        ));
    }

    for p in &a.exposure.points {
        features.push(feature(
            point_geometry(p.lon, p.lat, decimals),
            json!({
                "layer": "point_at_risk",
                "source_layer": p.layer,
                "kind": p.kind,
                "kind_pt": p.kind.label_pt(),
                "id": p.id,
                "name": p.name,
                "subtype": p.subtype,
                "district_pcode": p.district_pcode,
                "max_threshold_kt": p.max_threshold_kt,
                "first_arrival": p.first_arrival.to_rfc3339(),
                "lead_time_h": round(p.lead_time_h, 1),
                "population": p.population,
                "households": p.households,
                "capacity": p.capacity,
                "safe_shelters": shelters_json(&p.safe_shelters),
            }),
        ));
    }

    let landfall = a.hazard.landfall.as_ref().map(|l| {
        json!({"time": l.time.to_rfc3339(), "lon": round(l.lon, 3), "lat": round(l.lat, 3),
               "lead_time_h": round(l.lead_time_h, 1), "wind_kt_10min": l.wind_kt})
    });
    let caveats = caveats_json(layers);
    let totals = |t: &[crate::exposure::AreaTotal]| -> Value {
        Value::Array(
            t.iter()
                .map(|t| json!({"threshold_kt": t.threshold_kt, "people_at_risk": t.people_at_risk.round(), "districts": t.districts}))
                .collect(),
        )
    };
    let provinces: Vec<Value> = a
        .exposure
        .provinces
        .iter()
        .map(|p| {
            let level = a
                .exposure
                .districts
                .iter()
                .filter(|d| d.province_pcode.as_deref() == Some(p.pcode.as_str()))
                .filter_map(|d| a.levels.get(&d.pcode).map(|l| l.level))
                .max();
            json!({"pcode": p.pcode, "name": p.name, "population": p.population,
                   "level": level.map(|l| l.name_en()), "in_cone": p.in_cone,
                   "in_exposed_area": p.in_exposed_area, "totals": totals(&p.totals)})
        })
        .collect();
    let meta = json!({
        "schema": SCHEMA,
        "hazard": "tropical_cyclone",
        "storm": {"name": f.storm.name, "id": f.storm.id, "basin": f.storm.basin, "season": f.storm.season},
        "source": {"label": f.source.label(), "product": f.source, "origin": f.origin, "wind_averaging": f.wind_averaging},
        "issued": f.issued.to_rfc3339(),
        "reference_time": f.reference_time.to_rfc3339(),
        "generated_at": a.generated_at.to_rfc3339(),
        "event_level": level_json(a.event_level),
        "peak_forecast_wind_kt_10min": f.peak_forecast_wind_10min().map(|w| w.0),
        "landfall": landfall,
        "over_land_at_reference": a.over_land_at_reference,
        "trigger": a.trigger,
        "totals": {"national": totals(&a.exposure.national), "provinces": provinces},
        "districts_at_risk": a.levels.len(),
        "methods": {
            "input": a.input_notes,
            "footprints": a.hazard.notes,
            "cone": a.hazard.cone.as_ref().map(|c| c.source.clone()),
            "people_at_risk": a.exposure.method_note,
            "levels": a.levels_version,
            "wind": "thresholds are 10-minute mean winds (RSMC La Réunion convention); 1-minute sources are converted with factor 0.88",
        },
        "layers": layers.infos,
        "caveats": caveats,
    });
    collection_json(features, json!({ "aviso": meta }))
}
