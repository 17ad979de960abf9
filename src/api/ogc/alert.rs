//! The collections of the current alert, drawn from its published document: hazard zones
//! (wind swaths, cone, exposed area), districts at risk and probability contours; empty
//! ones while no alert is published.

use geojson::Geometry;
use serde_json::{Value, json};

use super::collection::{Collection, Item, as_multipolygon, make_item, safe_id};
use super::{DISTRICTS_AT_RISK, HAZARD_ZONES, PROBABILITY_CONTOURS};
use crate::api::ApiError;

/// The collections drawn from one alert document, and the document itself.
#[derive(Debug)]
pub struct AlertCollections {
    /// The alert document (one alert; `Null` when drawn from several).
    pub document: Value,
    /// The documents drawn, newest first.
    documents: Vec<Value>,
    hazard_zones: Collection,
    districts_at_risk: Collection,
    probability_contours: Collection,
}

impl AlertCollections {
    /// Splits an alert document into hazard zones (`wind_swath`, `observed_wind_swath`,
    /// `cone`, `exposed_area` features) and districts at risk (`district`,
    /// `flood_district`). Geometry is taken as written (already RFC 7946 and rounded).
    pub fn from_document(document: Value, origin: &str) -> Result<Self, ApiError> {
        let mut all = Self::from_documents(vec![(document, origin.to_string())], false)?;
        all.document = all.documents.pop().unwrap_or(Value::Null);
        Ok(all)
    }

    /// The collections of several alert documents (every active event, newest first),
    /// each feature tagged with its `event_id` and `alert_id`, and, when `prefix_ids`,
    /// its id prefixed by the event (`<event_id>:<id>`) so ids stay unique across events.
    pub(super) fn from_documents(
        docs: Vec<(Value, String)>,
        prefix_ids: bool,
    ) -> Result<Self, ApiError> {
        let mut zones = Vec::new();
        let mut districts = Vec::new();
        let mut contours = Vec::new();
        let mut storms = Vec::new();
        let mut documents = Vec::with_capacity(docs.len());
        for (document, origin) in docs {
            storms.push(draw_document(
                &document,
                &origin,
                prefix_ids,
                &mut zones,
                &mut districts,
                &mut contours,
            )?);
            documents.push(document);
        }
        let (storm, issued) = match storms.as_slice() {
            [(storm, issued)] => (storm.clone(), issued.clone()),
            [] => ("no alert".to_string(), "never".to_string()),
            many => (
                many.iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                "at their own times".to_string(),
            ),
        };
        Ok(AlertCollections {
            hazard_zones: Collection::new(
                HAZARD_ZONES.into(),
                "Hazard zones of the current alert".into(),
                format!(
                    "Wind swaths (10-min mean thresholds), track uncertainty cone and exposed area of {storm}, issued {issued}."
                ),
                zones,
            ),
            districts_at_risk: Collection::new(
                DISTRICTS_AT_RISK.into(),
                "Districts at risk in the current alert".into(),
                format!(
                    "Districts with an alert level or in the cone for {storm}, issued {issued}; id = P-code."
                ),
                districts,
            ),
            probability_contours: Collection::new(
                PROBABILITY_CONTOURS.into(),
                "Probability contours of the current alert".into(),
                format!(
                    "Where P(wind >= threshold_kt, 10-minute mean, within 0-window_h h) >= probability (0.1-0.9), from the probabilistic assessment of {storm} issued {issued} (realisations around the official forecast); id = p<percent>_ge<kt>kt_0_<h>h. Empty when the alert has no probabilistic assessment."
                ),
                contours,
            ),
            document: Value::Null,
            documents,
        })
    }
}

/// Draws one alert document's features into the three collections; returns its storm
/// name and issue time for the descriptions.
fn draw_document(
    document: &Value,
    origin: &str,
    prefix_ids: bool,
    zones: &mut Vec<Item>,
    districts: &mut Vec<Item>,
    contours: &mut Vec<Item>,
) -> Result<(String, String), ApiError> {
    {
        let err = |message: String| ApiError::AlertDocument {
            origin: origin.to_string(),
            message,
        };
        let features = document
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                err("expected a GeoJSON FeatureCollection with a 'features' array".into())
            })?;
        let alert_id = document
            .pointer("/alert/id")
            .and_then(Value::as_str)
            .unwrap_or(origin)
            .to_string();
        let event_id = document
            .pointer("/alert/event_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let tag = |props: &mut Value, id: String| -> String {
            if let Some(m) = props.as_object_mut()
                && let Some(e) = &event_id
            {
                m.insert("event_id".into(), json!(e));
                m.insert("alert_id".into(), json!(alert_id));
            }
            match (&event_id, prefix_ids) {
                (Some(e), true) => format!("{e}:{id}"),
                _ => id,
            }
        };
        for (i, f) in features.iter().enumerate() {
            let props = f.get("properties").cloned().unwrap_or(Value::Null);
            let layer = props.get("layer").and_then(Value::as_str).unwrap_or("");
            let threshold = || {
                props
                    .get("threshold_kt")
                    .and_then(Value::as_f64)
                    .map(|t| safe_id(&format!("{t}")))
                    .ok_or_else(|| {
                        err(format!(
                            "feature {i} (layer {layer}): expected a numeric 'threshold_kt'"
                        ))
                    })
            };
            let (id, into_zones) = match layer {
                "wind_swath" => (format!("wind_{}kt", threshold()?), true),
                "observed_wind_swath" => (format!("observed_wind_{}kt", threshold()?), true),
                "cone" | "exposed_area" => (layer.to_string(), true),
                "probability_contour" => {
                    let num = |k: &str| {
                        props.get(k).and_then(Value::as_f64).ok_or_else(|| {
                            err(format!(
                                "feature {i} (layer {layer}): expected a numeric '{k}'"
                            ))
                        })
                    };
                    // "p30_ge64kt_0_72h": P(≥ 64 kt within 0–72 h) ≥ 30 %.
                    let id = safe_id(&format!(
                        "p{}_ge{}kt_0_{}h",
                        (num("probability")? * 100.0).round(),
                        num("threshold_kt")?,
                        num("window_h")?
                    ));
                    let geojson = parse_geometry(f)
                        .map_err(|m| err(format!("feature {i} (layer {layer}): {m}")))?
                        .map(as_multipolygon);
                    let geometry = match &geojson {
                        Some(g) => Some(
                            to_geo(g)
                                .map_err(|m| err(format!("feature {i} (layer {layer}): {m}")))?,
                        ),
                        None => None,
                    };
                    let mut props = props.clone();
                    if let Some(m) = props.as_object_mut() {
                        m.insert("alert_id".into(), json!(alert_id));
                    }
                    let id = tag(&mut props, id);
                    contours.push(make_item(id, geometry, geojson, props));
                    continue;
                }
                "district" | "flood_district" => match props.get("pcode").and_then(Value::as_str) {
                    Some(p) => (p.to_string(), false),
                    None => {
                        return Err(err(format!(
                            "feature {i} (layer {layer}): expected a string 'pcode'"
                        )));
                    }
                },
                _ => continue,
            };
            let mut geojson =
                parse_geometry(f).map_err(|m| err(format!("feature {i} (layer {layer}): {m}")))?;
            if !into_zones {
                geojson = geojson.map(as_multipolygon);
            }
            let geometry = match &geojson {
                Some(g) => {
                    Some(to_geo(g).map_err(|m| err(format!("feature {i} (layer {layer}): {m}")))?)
                }
                None => None,
            };
            let mut props = props;
            let id = tag(&mut props, id);
            let it = make_item(id, geometry, geojson, props);
            if into_zones {
                zones.push(it);
            } else {
                districts.push(it);
            }
        }
        let meta = document.get("aviso");
        let storm = meta
            .and_then(|m| m.pointer("/storm/name"))
            .and_then(Value::as_str)
            .unwrap_or("the current alert");
        let issued = meta
            .and_then(|m| m.get("issued"))
            .and_then(Value::as_str)
            .unwrap_or("unknown time");
        Ok((storm.to_string(), issued.to_string()))
    }
}

impl AlertCollections {
    /// The alert collection named `id` (one of [`ALERT_COLLECTIONS`]; otherwise the
    /// districts at risk).
    pub(super) fn collection(&self, id: &str) -> &Collection {
        match id {
            HAZARD_ZONES => &self.hazard_zones,
            PROBABILITY_CONTOURS => &self.probability_contours,
            _ => &self.districts_at_risk,
        }
    }
}

/// An empty alert collection, served while no alert is published.
pub(super) fn empty_alert_collection(id: &str) -> Collection {
    let title = match id {
        HAZARD_ZONES => "Hazard zones of the current alert",
        PROBABILITY_CONTOURS => "Probability contours of the current alert",
        _ => "Districts at risk in the current alert",
    };
    Collection::new(
        id.into(),
        title.into(),
        "No alert is published: empty.".into(),
        Vec::new(),
    )
}

/// The `geometry` member of an alert document's feature; `None` when null or absent.
fn parse_geometry(feature: &Value) -> Result<Option<Geometry>, String> {
    let Some(g) = feature.get("geometry").filter(|g| !g.is_null()) else {
        return Ok(None);
    };
    // geojson's GeometryCollection conversion can panic on nested errors; the alert
    // document never writes one, so it is refused.
    if g.get("type").and_then(Value::as_str) == Some("GeometryCollection") {
        return Err("GeometryCollection geometry is not served".into());
    }
    serde_json::from_value::<Geometry>(g.clone())
        .map(Some)
        .map_err(|e| format!("invalid GeoJSON geometry: {e}"))
}

fn to_geo(g: &Geometry) -> Result<geo::Geometry<f64>, String> {
    crate::geodata::geometry::to_geo(&g.value).map_err(|e| format!("unsupported geometry: {e}"))
}
