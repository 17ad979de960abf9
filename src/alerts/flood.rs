//! The flood alert document (the same RFC 7946 FeatureCollection as the cyclone alert, with
//! `aviso.hazard = "flood"`) and the duty officer's short station table.
//!
//! Pure: builds a `serde_json::Value` or a string; writing them is the caller's business.
//! Reuses the geometry and level helpers of [`super::document`].

use geojson::Feature;
use serde_json::{Value, json};

use super::document::{
    SCHEMA, caveats_json, collection_json, feature, multipolygon_geometry, point_geometry, round,
};
use super::levels::Level;
use crate::alerts::assess_flood::{FloodAssessment, FloodSource};
use crate::domain::{FloodForecast, FloodLevel, Layers};

/// What a level asks for in a flood alert (the ladder's cyclone wording speaks of wind).
fn flood_meaning(l: Level) -> (&'static str, &'static str) {
    match l {
        Level::Green => (
            "vigilância: acompanhar a previsão",
            "watch: follow the forecast",
        ),
        Level::Yellow => (
            "atenção: caudal acima do limiar previsto a jusante da estação",
            "attention: river flow above a threshold forecast downstream of the station",
        ),
        Level::Orange => (
            "preparação: cheia moderada prevista; pré-posicionar meios",
            "prepare: moderate flood forecast; pre-position resources",
        ),
        Level::Red => (
            "prontidão máxima: cheia severa prevista",
            "maximum preparedness: severe flood forecast",
        ),
    }
}

fn flood_level_json(level: Option<Level>) -> Value {
    match level {
        Some(l) => {
            let (pt, en) = flood_meaning(l);
            json!({"code": l.name_en(), "pt": l.name_pt(), "en": l.name_en(), "colour": l.colour_hex(), "meaning_pt": pt, "meaning_en": en})
        }
        None => Value::Null,
    }
}

/// Why a district has its level (`level_basis`, as a cyclone district's): the station
/// forecast, the flood map, or a person (`override`, issue 13).
fn level_basis(a: &FloodAssessment, pcode: &str) -> &'static str {
    match (a.set_by_hand(pcode), &a.source) {
        (true, _) => "override",
        (false, FloodSource::Stations(_)) => "station_forecast",
        (false, FloodSource::Extent(_)) => "flood_map",
    }
}

/// Renders a flood assessment as the alert document. Features: for a station forecast one
/// `flood_station` point per station (level per day, peak, first day per level, impact
/// area and the rule that made it), then one `flood_footprint` (multi)polygon per station
/// at a level whose impact area is a polygon (river-buffer cut, configured polygon, or the
/// districts' parts in the basin; none for a P-code list, whose area is its
/// `flood_district` features); for a flood extent one `flood_extent` (multi)polygon per
/// level present; then one `flood_district` polygon per district reached (level, people
/// at risk), then one `flood_point` per site inside a flood extent.
pub fn flood_document(a: &FloodAssessment, layers: &Layers, decimals: u32) -> Value {
    let mut features = Vec::new();
    if let Some(f) = a.forecast() {
        features.extend(station_features(a, f, decimals));
        features.extend(footprint_features(a, f, decimals));
    }
    if let Some(e) = a.extent() {
        for l in &e.levels {
            let Some(g) = multipolygon_geometry(&l.geometry, decimals) else {
                continue;
            };
            let alert_level = Some(a.ladder.of(l.level));
            features.push(feature(
                g,
                json!({
                    "layer": "flood_extent",
                    "flood_level": l.level.name_en(),
                    "flood_level_pt": l.level.name_pt(),
                    "level": alert_level.map(|l| l.name_en()),
                    "level_pt": alert_level.map(|l| l.name_pt()),
                    "level_colour": alert_level.map(|l| l.colour_hex()),
                    "area_km2": round(l.area_km2, 3),
                    "polygons": l.features,
                }),
            ));
        }
    }
    for d in &a.districts {
        let Some(level) = a.district_levels.get(&d.pcode).copied() else {
            continue;
        };
        let Some(g) = layers
            .districts
            .iter()
            .find(|x| x.pcode == d.pcode)
            .and_then(|x| multipolygon_geometry(&x.geometry, decimals))
        else {
            continue;
        };
        let mut props = json!({
            "layer": "flood_district",
            "pcode": d.pcode,
            "name": d.name,
            "province_pcode": d.province_pcode,
            "province_name": d.province_name,
            "flood_level": d.flood_level.name_en(),
            "flood_level_pt": d.flood_level.name_pt(),
            "level": level.name_en(),
            "level_pt": level.name_pt(),
            "level_colour": level.colour_hex(),
            "level_basis": level_basis(a, &d.pcode),
            "first_date": d.first_date.map(|t| t.to_string()),
            "population": d.population,
            "area_share": round(d.area_share, 4),
            "people_at_risk": d.people_at_risk.map(f64::round),
            "people_method": d.people_method,
        });
        if let Some(o) = props.as_object_mut() {
            if a.forecast().is_some() {
                o.insert("stations".into(), json!(d.stations));
            }
            if a.extent().is_some() {
                o.insert("extent_features".into(), json!(d.extent_features));
            }
        }
        features.push(feature(g, props));
    }
    // Districts a person put on the ladder that the flood does not reach (a manual
    // override, issue 13): their outline and level, no flood figures.
    for (pcode, level) in &a.district_levels {
        if a.districts.iter().any(|d| &d.pcode == pcode) {
            continue;
        }
        let Some(area) = layers.districts.iter().find(|x| &x.pcode == pcode) else {
            continue;
        };
        let Some(g) = multipolygon_geometry(&area.geometry, decimals) else {
            continue;
        };
        features.push(feature(
            g,
            json!({
                "layer": "flood_district",
                "pcode": pcode,
                "name": area.name,
                "province_pcode": area.parent_pcode,
                "province_name": area.parent_name,
                "flood_level": null,
                "level": level.name_en(),
                "level_pt": level.name_pt(),
                "level_colour": level.colour_hex(),
                "level_basis": level_basis(a, pcode),
                "population": area.population,
                "people_at_risk": null,
            }),
        ));
    }
    for p in &a.points {
        let f = &p.feature;
        features.push(feature(
            point_geometry(f.location.x(), f.location.y(), decimals),
            json!({
                "layer": "flood_point",
                "source_layer": f.layer,
                "kind": f.kind,
                "id": f.id,
                "name": f.name,
                "subtype": f.subtype,
                "district_pcode": f.district_pcode,
                "flood_level": p.flood_level.name_en(),
                "flood_level_pt": p.flood_level.name_pt(),
                "population": f.population,
                "households": f.households,
                "capacity": f.capacity,
            }),
        ));
    }
    let people: f64 = a.districts.iter().filter_map(|d| d.people_at_risk).sum();
    let caveats = caveats_json(layers);
    let mut meta = json!({
        "schema": SCHEMA,
        "hazard": "flood",
        "generated_at": a.generated_at.to_rfc3339(),
        "event_level": flood_level_json(a.event_level),
        "totals": {"people_at_risk": people.round(), "districts": a.districts.len(), "points": a.points.len()},
        "methods": {
            "input": a.input_notes,
            "people_at_risk": a.method_notes.get(1),
            "other": a.method_notes.get(2..),
        },
        "layers": layers.infos,
        "caveats": caveats,
    });
    if let Some(o) = meta.as_object_mut() {
        match (a.forecast(), a.extent()) {
            (Some(f), _) => {
                let stations_at_level: Vec<Value> = a
                    .outlooks
                    .iter()
                    .filter(|o| o.max_level.is_some())
                    .map(|o| json!({"station_id": o.station_id, "flood_level": o.max_level.map(FloodLevel::name_en), "first_date": o.max_level.and_then(|l| o.first_date.get(l)).map(|d| d.to_string()), "peak_date": o.peak_date.map(|d| d.to_string())}))
                    .collect();
                o.insert(
                    "source".into(),
                    json!({
                        "kind": "stations",
                        "label": "river-station ensemble flood forecast (GloFAS-based)",
                        "stations": f.origins.stations,
                        "probabilities": f.origins.probabilities,
                        "discharge": f.origins.discharge,
                    }),
                );
                o.insert("issued".into(), json!(f.issue_date.to_string()));
                o.insert(
                    "valid_from".into(),
                    json!(
                        f.days
                            .iter()
                            .map(|d| d.valid_date)
                            .min()
                            .map(|d| d.to_string())
                    ),
                );
                o.insert(
                    "valid_to".into(),
                    json!(
                        f.days
                            .iter()
                            .map(|d| d.valid_date)
                            .max()
                            .map(|d| d.to_string())
                    ),
                );
                o.insert("stations_at_level".into(), json!(stations_at_level));
                if let Some(m) = o.get_mut("methods").and_then(Value::as_object_mut) {
                    m.insert("probability_rule".into(), json!(a.rule_version));
                    m.insert("min_probability_pct".into(), json!(a.min_probability_pct));
                    m.insert("impact_area".into(), json!(a.method_notes.first()));
                    // Which rule each station at a level used (basin-downstream, river
                    // buffer N km, manual), by station id.
                    let by_station: serde_json::Map<String, Value> = a
                        .impact_areas
                        .iter()
                        .map(|(id, i)| (id.clone(), json!(i.rule)))
                        .collect();
                    m.insert("impact_area_by_station".into(), Value::Object(by_station));
                }
                if let Some(t) = o.get_mut("totals").and_then(Value::as_object_mut) {
                    t.insert("stations".into(), json!(f.stations.len()));
                }
            }
            (None, Some(e)) => {
                o.insert(
                    "source".into(),
                    json!({
                        "kind": "extent",
                        "label": "flood-extent polygons (satellite or model flood map)",
                        "file": e.origin,
                        "basis": e.basis,
                        "polygons": e.footprints.len(),
                    }),
                );
                o.insert("issued".into(), Value::Null);
                if let Some(m) = o.get_mut("methods").and_then(Value::as_object_mut) {
                    m.insert("level_rule".into(), json!(a.rule_version));
                    m.insert("footprint".into(), json!(a.method_notes.first()));
                }
                if let Some(t) = o.get_mut("totals").and_then(Value::as_object_mut) {
                    t.insert("extent_km2".into(), json!(round(e.area_km2, 3)));
                }
            }
            (None, None) => {}
        }
    }
    collection_json(features, json!({ "aviso": meta }))
}

fn station_features(a: &FloodAssessment, f: &FloodForecast, decimals: u32) -> Vec<Feature> {
    let mut features = Vec::new();
    for o in &a.outlooks {
        let Some(s) = f.station(&o.station_id) else {
            continue;
        };
        let days: Vec<Value> = o
            .days
            .iter()
            .map(|d| {
                json!({
                    "date": d.date.to_string(),
                    "level": d.level.map(FloodLevel::name_en),
                    "probability": {
                        "bankfull": round(d.probability.bankfull, 4),
                        "moderate": round(d.probability.moderate, 4),
                        "severe": round(d.probability.severe, 4),
                    },
                    "median_discharge_m3s": d.median_discharge_m3s.map(|q| round(q, 2)),
                })
            })
            .collect();
        let impact = a.impact_areas.get(&s.id);
        let alert_level = a.station_levels.get(&s.id).copied();
        features.push(feature(
            point_geometry(s.lon, s.lat, decimals),
            json!({
                "layer": "flood_station",
                "station_id": s.id,
                "name": s.name,
                "river": s.river,
                "thresholds_m3s": s.thresholds_m3s,
                "flood_level": o.max_level.map(FloodLevel::name_en),
                "flood_level_pt": o.max_level.map(FloodLevel::name_pt),
                "level": alert_level.map(|l| l.name_en()),
                "level_pt": alert_level.map(|l| l.name_pt()),
                "level_colour": alert_level.map(|l| l.colour_hex()),
                "peak_date": o.peak_date.map(|d| d.to_string()),
                "first_date": {
                    "bankfull": o.first_date.bankfull.map(|d| d.to_string()),
                    "moderate": o.first_date.moderate.map(|d| d.to_string()),
                    "severe": o.first_date.severe.map(|d| d.to_string()),
                },
                "days": days,
                "impact_method": impact.map(|i| i.method),
                "basin": impact.and_then(|i| i.basin.clone()),
                "outlet": impact.and_then(|i| i.outlet).map(|(x, y)| [round(x, 5), round(y, 5)]),
                "station_to_outlet_km": impact.and_then(|i| i.station_to_outlet_km).map(|k| round(k, 1)),
                "impact_districts": impact.map(|i| i.districts.iter().map(|d| d.pcode.clone()).collect::<Vec<_>>()),
                "impact_rule": impact.map(|i| i.rule.clone()),
                "river_buffer_km": impact.and_then(|i| i.river.as_ref()).map(|r| r.buffer_km),
                "rivers": impact.and_then(|i| i.river.as_ref()).map(|r| r.rivers.clone()),
                "footprint_km2": impact.and_then(|i| i.footprint_km2).map(|k| round(k, 3)),
            }),
        ));
    }
    features
}

/// One `flood_footprint` feature per station at a level whose impact area is a polygon:
/// where the map draws that station's water.
fn footprint_features(a: &FloodAssessment, f: &FloodForecast, decimals: u32) -> Vec<Feature> {
    let mut features = Vec::new();
    for o in a.outlooks.iter().filter(|o| o.max_level.is_some()) {
        let (Some(s), Some(i)) = (f.station(&o.station_id), a.impact_areas.get(&o.station_id))
        else {
            continue;
        };
        let Some(g) = i
            .footprint
            .as_ref()
            .and_then(|fp| multipolygon_geometry(fp, decimals))
        else {
            continue;
        };
        let alert_level = a.station_levels.get(&s.id).copied();
        features.push(feature(
            g,
            json!({
                "layer": "flood_footprint",
                "station_id": s.id,
                "name": s.name,
                "river": s.river,
                "impact_method": i.method,
                "impact_rule": i.rule,
                "basin": i.basin,
                "river_buffer_km": i.river.as_ref().map(|r| r.buffer_km),
                "rivers": i.river.as_ref().map(|r| r.rivers.clone()),
                "flood_level": o.max_level.map(FloodLevel::name_en),
                "flood_level_pt": o.max_level.map(FloodLevel::name_pt),
                "level": alert_level.map(|l| l.name_en()),
                "level_pt": alert_level.map(|l| l.name_pt()),
                "level_colour": alert_level.map(|l| l.colour_hex()),
                "area_km2": i.footprint_km2.map(|k| round(k, 3)),
                "districts": i.districts.iter().map(|d| d.pcode.clone()).collect::<Vec<_>>(),
            }),
        ));
    }
    features
}

fn level_letter(l: Option<FloodLevel>) -> &'static str {
    match l {
        None => "-",
        Some(FloodLevel::Bankfull) => "B",
        Some(FloodLevel::Moderate) => "M",
        Some(FloodLevel::Severe) => "S",
    }
}

fn station_rows(a: &FloodAssessment, f: &FloodForecast) -> String {
    let mut out = String::new();
    let dates: Vec<String> = a
        .outlooks
        .first()
        .map(|o| {
            o.days
                .iter()
                .map(|d| d.date.format("%d/%m").to_string())
                .collect()
        })
        .unwrap_or_default();
    out.push_str(&format!(
        "{:<6} {:<32} {:<10}",
        "id", "estação / station", "rio"
    ));
    for d in &dates {
        out.push_str(&format!(" {d:>5}"));
    }
    out.push_str("  pico/peak\n");
    for o in &a.outlooks {
        let Some(s) = f.station(&o.station_id) else {
            continue;
        };
        out.push_str(&format!("{:<6} {:<32} {:<10}", s.id, s.name, s.river));
        for d in &o.days {
            let c = level_letter(d.level);
            out.push_str(&format!(" {c:>5}"));
        }
        let peak = o
            .max_level
            .and(o.peak_date)
            .map(|d| d.format("%d/%m").to_string())
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!("  {peak}\n"));
    }
    out
}

/// A short table for the duty officer: for a station forecast one line per station with
/// its level per day; for a flood extent one line per district with its level and people.
pub fn flood_table(a: &FloodAssessment) -> String {
    let event = format!(
        "NÍVEL DO EVENTO / EVENT LEVEL: {}\n",
        a.event_level
            .map(|l| format!("{} / {}", l.name_pt().to_uppercase(), l.name_en()))
            .unwrap_or_else(|| "nenhum / none".into())
    );
    let mut out = match (a.forecast(), a.extent()) {
        (Some(f), _) => {
            let mut out = format!(
                "AVISO — CHEIAS / FLOODS — previsão de {} ({} estações / stations; regra / rule: ≥ {} % dos membros)\n",
                f.issue_date,
                f.stations.len(),
                a.min_probability_pct
            );
            out.push_str(&event);
            out.push_str(&station_rows(a, f));
            out
        }
        (None, Some(e)) => {
            let mut out = format!(
                "AVISO — CHEIAS / FLOODS — mancha de inundação / flood extent {} ({} polígonos / polygons)\n",
                e.origin,
                e.footprints.len()
            );
            out.push_str(&event);
            out.push_str(&format!(
                "{:<8} {:<28} {:<10} {:>12}\n",
                "P-code", "distrito / district", "nível", "pessoas"
            ));
            for d in &a.districts {
                out.push_str(&format!(
                    "{:<8} {:<28} {:<10} {:>12}\n",
                    d.pcode,
                    d.name,
                    level_letter(Some(d.flood_level)),
                    d.people_at_risk
                        .map_or_else(|| "?".to_string(), |p| format!("{p:.0}"))
                ));
            }
            out
        }
        (None, None) => event,
    };
    out.push_str("B = margens cheias / bankfull, M = moderada / moderate, S = severa / severe\n");
    let people: f64 = a.districts.iter().filter_map(|d| d.people_at_risk).sum();
    out.push_str(&format!(
        "{} distritos / districts, {:.0} pessoas em risco / people at risk\n",
        a.districts.len(),
        people
    ));
    out
}
