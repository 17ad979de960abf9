//! OGC API – Features, Part 1 (Core, GeoJSON, OpenAPI 3.0) over the loaded layers and the
//! current alert: landing page, /conformance, /api, /collections, items with limit,
//! offset and bbox paging, and single items.
//!
//! Collections: `country`, `provinces`, `districts`, one per point layer (named by its
//! manifest name), and from the current alert `hazard_zones` (wind swaths, cone, exposed
//! area), `districts_at_risk` and `probability_contours` (issue 12). Geometry is written by `crate::alerts::document` (no
//! second GeoJSON writer). Must not depend on feeds, hazard or exposure: it serves what
//! was loaded or published.
//!
//! Choices a strict client (GDAL's OAPIF driver, QGIS) relies on:
//! - every link is absolute (QGIS resolves relative ones wrongly);
//! - collection ids hold only `[A-Za-z0-9_-]` (QGIS breaks on dots);
//! - paging is by `offset` over a fixed order, so pages never overlap or skip, and the
//!   last page has no `next` link;
//! - a `limit` above [`MAX_LIMIT`] is clamped, not refused: OGC API – Features 1.0
//!   (OGC 17-069r3) `/req/core/fc-limit-response-1` only forbids returning more than the
//!   advertised maximum, its limit example ("ask for 50000, you might get up to 10000
//!   (server-limited) and ... a next link") clamps, and opengeospatial/ogcapi-features#640
//!   asks that it never be an error; clients that ask big (QGIS, GDAL's PAGE_SIZE) then
//!   still page correctly. A limit that is not a positive integer is a 400.
//!
//! Over 600 lines because collections, items, paging and filters are one module; issue 16
//! move 5 splits the filters (bbox, datetime, properties) from the paging.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use geo::{BoundingRect, Intersects, Rect};
use serde_json::{Map, Value, json};

use super::{ApiError, ApiState};
use crate::alerts::document::{feature_json, multipolygon_geometry, object, point_geometry, round};
use crate::domain::{AdminArea, Layers, PointLayer};
use geojson::{Feature, Geometry, GeometryValue, JsonObject, feature::Id};

/// Items per page when the request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page. 1000 keeps a page of district polygons near a few MB, and lets GDAL
/// read the 24,602 settlements in 25 requests.
pub const MAX_LIMIT: usize = 1000;
/// Decimals of layer coordinates: 6 decimals of a degree are about 0.1 m, finer than the
/// simplified (100 m) boundaries and any point layer.
pub const DECIMALS: u32 = 6;

pub(crate) const MEDIA_JSON: &str = "application/json";
pub(crate) const MEDIA_GEOJSON: &str = "application/geo+json";
/// The OpenAPI 3.0 media type GDAL's OAPIF driver asks for (and matches by token).
const MEDIA_OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
/// OGC API – Features Part 1 conformance classes this API implements.
const CONFORMANCE: [&str; 3] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
];

/// Collection ids of the alert's layers.
pub const HAZARD_ZONES: &str = "hazard_zones";
pub const DISTRICTS_AT_RISK: &str = "districts_at_risk";
/// The probability contours of the current alert (issue 12): P(≥ 34/48/64 kt within
/// 0–24/48/72/120 h) ≥ 10/30/50/70/90 %, from its probabilistic assessment.
pub const PROBABILITY_CONTOURS: &str = "probability_contours";
/// The collections drawn from the current alert, in the order they are listed.
const ALERT_COLLECTIONS: [&str; 3] = [HAZARD_ZONES, DISTRICTS_AT_RISK, PROBABILITY_CONTOURS];

/// One feature, rendered once.
#[derive(Debug, Clone)]
struct Item {
    id: String,
    /// For bbox filtering; `None` for a feature without geometry (never matches a bbox).
    geometry: Option<geo::Geometry<f64>>,
    bbox: Option<Rect<f64>>,
    /// The GeoJSON feature, with its `id` member.
    feature: Feature,
    /// `feature` serialised once (filled by `Collection::new`): pages are spliced from
    /// these, so a request does not clone and re-serialise megabytes of geometry.
    json: Arc<str>,
}

/// A feature collection: its metadata and its items in a fixed order (the paging order).
#[derive(Debug, Clone)]
pub struct Collection {
    pub id: String,
    pub title: String,
    pub description: String,
    items: Vec<Item>,
    extent: Option<Rect<f64>>,
}

impl Collection {
    fn new(id: String, title: String, description: String, items: Vec<Item>) -> Self {
        let extent = items.iter().filter_map(|i| i.bbox).reduce(|a, b| {
            Rect::new(
                geo::coord! {x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y)},
                geo::coord! {x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y)},
            )
        });
        Collection {
            id,
            title,
            description,
            items: unique_ids(items),
            extent,
        }
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Makes feature ids unique within a collection (`x`, `x_2`, `x_3`…), so `items/{id}`
/// names one feature, and serialises each feature once.
fn unique_ids(items: Vec<Item>) -> Vec<Item> {
    let mut items = unique_ids_only(items);
    for item in &mut items {
        item.json = Arc::from(serde_json::to_string(&item.feature).unwrap_or_default());
    }
    items
}

fn unique_ids_only(mut items: Vec<Item>) -> Vec<Item> {
    let mut seen: HashSet<String> = HashSet::new();
    for item in &mut items {
        let mut id = item.id.clone();
        let mut n = 1;
        while !seen.insert(id.clone()) {
            n += 1;
            id = format!("{}_{n}", item.id);
        }
        if id != item.id {
            item.id = id;
            item.feature.id = Some(Id::String(item.id.clone()));
        }
    }
    items
}

/// A collection id QGIS and GDAL accept: `[A-Za-z0-9_-]`, anything else becomes `_`.
fn safe_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A feature with its `id` member (RFC 7946 §3.2), geometry `null` when absent.
fn make_item(
    id: String,
    geometry: Option<geo::Geometry<f64>>,
    geojson: Option<Geometry>,
    props: Value,
) -> Item {
    let f = Feature {
        geometry: geojson,
        id: Some(Id::String(id.clone())),
        properties: Some(object(props)),
        ..Feature::default()
    };
    Item {
        bbox: geometry.as_ref().and_then(|g| g.bounding_rect()),
        id,
        geometry,
        feature: f,
        json: Arc::from(""),
    }
}

/// A Polygon geometry as a one-part MultiPolygon. GDAL (and so QGIS) gives a collection
/// that mixes the two the type "Unknown"; one type per area collection keeps it a plain
/// polygon layer.
fn as_multipolygon(g: Geometry) -> Geometry {
    match g.value {
        GeometryValue::Polygon { coordinates } => Geometry::new(GeometryValue::MultiPolygon {
            coordinates: vec![coordinates],
        }),
        _ => g,
    }
}

fn area_item(a: &AdminArea, district: bool) -> Item {
    let props = if district {
        json!({
            "pcode": a.pcode, "name": a.name,
            "province_pcode": a.parent_pcode, "province_name": a.parent_name,
            "area_km2": round(a.area_km2, 1),
            "population": a.population, "population_source": a.population_source,
        })
    } else {
        json!({
            "pcode": a.pcode, "name": a.name,
            "area_km2": round(a.area_km2, 1),
            "population": a.population, "population_source": a.population_source,
        })
    };
    make_item(
        a.pcode.clone(),
        Some(geo::Geometry::MultiPolygon(a.geometry.clone())),
        multipolygon_geometry(&a.geometry, DECIMALS).map(as_multipolygon),
        props,
    )
}

fn point_collection(id: String, l: &PointLayer) -> Collection {
    let items = l
        .features
        .iter()
        .map(|f| {
            make_item(
                f.id.clone(),
                Some(geo::Geometry::Point(f.location)),
                Some(point_geometry(f.location.x(), f.location.y(), DECIMALS)),
                // Every key on every feature (null when unknown): GDAL sets the layer
                // schema from the first page.
                json!({
                    "id": f.id, "name": f.name, "kind": f.kind, "kind_pt": f.kind.label_pt(),
                    "subtype": f.subtype, "district_pcode": f.district_pcode,
                    "population": f.population, "households": f.households,
                    "capacity": f.capacity,
                }),
            )
        })
        .collect();
    let mut description = format!(
        "{} ({}), {} features. Source: {}. Licence: {}.",
        l.info.name,
        l.kind.label_en(),
        l.features.len(),
        l.info.source,
        l.info.licence
    );
    if let Some(c) = &l.info.caveat {
        let _ = write!(description, " Caveat: {c}");
    }
    Collection::new(
        id,
        format!("{} ({})", l.info.name, l.kind.label_en()),
        description,
        items,
    )
}

/// The collections of the loaded layers, in a fixed order: country, provinces, districts,
/// then the point layers in manifest order.
pub(crate) fn layer_collections(layers: &Layers) -> Vec<Collection> {
    // The country's P-code is the letters its provinces' P-codes start with (COD-AB: "MZ"
    // for "MZ07"); "country" when the provinces do not agree on one.
    let prefixes: HashSet<String> = layers
        .provinces
        .iter()
        .map(|p| {
            p.pcode
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect()
        })
        .collect();
    let country_id = match prefixes.iter().next() {
        Some(p) if prefixes.len() == 1 && !p.is_empty() => p.clone(),
        _ => "country".to_string(),
    };
    let country_geojson = multipolygon_geometry(&layers.country, DECIMALS).map(as_multipolygon);
    let country = make_item(
        country_id.clone(),
        Some(geo::Geometry::MultiPolygon(layers.country.clone())),
        country_geojson,
        json!({"pcode": country_id}),
    );
    let mut out = vec![
        Collection::new(
            "country".into(),
            "Country outline".into(),
            "The country outline (COD-AB admin 0): landfall is where a forecast track first enters it.".into(),
            vec![country],
        ),
        Collection::new(
            "provinces".into(),
            "Provinces".into(),
            format!(
                "{} provinces (COD-AB admin 1), id = P-code; population summed from the districts.",
                layers.provinces.len()
            ),
            layers.provinces.iter().map(|a| area_item(a, false)).collect(),
        ),
        Collection::new(
            "districts".into(),
            "Districts".into(),
            format!(
                "{} districts (COD-AB admin 2), id = P-code; population joined by P-code.",
                layers.districts.len()
            ),
            layers.districts.iter().map(|a| area_item(a, true)).collect(),
        ),
    ];
    let mut taken: HashSet<String> = out.iter().map(|c| c.id.clone()).collect();
    taken.insert(HAZARD_ZONES.into());
    taken.insert(DISTRICTS_AT_RISK.into());
    taken.insert(PROBABILITY_CONTOURS.into());
    for l in &layers.points {
        let mut id = safe_id(&l.info.name);
        while !taken.insert(id.clone()) {
            id.push_str("_points");
        }
        out.push(point_collection(id, l));
    }
    out
}

/// The collections drawn from one alert document, and the document itself.
#[derive(Debug)]
pub struct AlertCollections {
    pub document: Value,
    hazard_zones: Collection,
    districts_at_risk: Collection,
    probability_contours: Collection,
}

impl AlertCollections {
    /// Splits an alert document into hazard zones (`wind_swath`, `observed_wind_swath`,
    /// `cone`, `exposed_area` features) and districts at risk (`district`,
    /// `flood_district`). Geometry is taken as written (already RFC 7946 and rounded).
    pub fn from_document(document: Value, origin: &str) -> Result<Self, ApiError> {
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
        let mut zones = Vec::new();
        let mut districts = Vec::new();
        let mut contours = Vec::new();
        let alert_id = document
            .pointer("/alert/id")
            .and_then(Value::as_str)
            .unwrap_or(origin)
            .to_string();
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
            document,
        })
    }
}

impl AlertCollections {
    /// The alert collection named `id` (one of [`ALERT_COLLECTIONS`]; otherwise the
    /// districts at risk).
    fn collection(&self, id: &str) -> &Collection {
        match id {
            HAZARD_ZONES => &self.hazard_zones,
            PROBABILITY_CONTOURS => &self.probability_contours,
            _ => &self.districts_at_risk,
        }
    }
}

/// An empty alert collection, served while no alert is published.
fn empty_alert_collection(id: &str) -> Collection {
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

/// Every collection now served: the layers', then the alert's (empty without an alert).
fn all_collections(state: &ApiState) -> (Vec<&Collection>, Option<Arc<AlertCollections>>) {
    (
        state.layer_collections.iter().collect(),
        state.current_alert(),
    )
}

/// Runs `f` on the collection named `id`, or 404.
fn with_collection<T>(
    state: &ApiState,
    id: &str,
    f: impl FnOnce(&Collection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let Some(c) = state.layer_collections.iter().find(|c| c.id == id) {
        return f(c);
    }
    if ALERT_COLLECTIONS.contains(&id) {
        return match state.current_alert() {
            Some(a) => f(a.collection(id)),
            None => f(&empty_alert_collection(id)),
        };
    }
    Err(ApiError::NotFound {
        what: format!("collection '{id}'"),
    })
}

/// The prefix of every link: the configured base URL, else `http://{Host}`.
pub(crate) fn base_url(state: &ApiState, headers: &HeaderMap) -> String {
    if let Some(b) = &state.base_url {
        return b.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        // A Host header goes into links: only host[:port] characters are trusted.
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn link(href: String, rel: &str, media: &str, title: &str) -> Value {
    json!({"href": href, "rel": rel, "type": media, "title": title})
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters pass).
fn encode_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// RFC 3986 section 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" are never encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn respond(status: StatusCode, media: &'static str, body: &Value) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, media)], bytes).into_response(),
        Err(e) => ApiError::Internal {
            cause: format!("serialising a {media} response: {e}"),
        }
        .into_response(),
    }
}

/// Query parameters as pairs; malformed encoding is a 400, and so is any parameter a
/// resource does not define (OGC 17-069r3 `/req/core/query-param-unknown`).
pub(crate) fn query_pairs(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let Query(pairs) =
        q.map_err(|e| ApiError::invalid("(query string)", "a URL-encoded query", &e.body_text()))?;
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::invalid(
                &k,
                &format!("one of the parameters {}", allowed.join(", ")),
                &v,
            ));
        }
        if out.contains_key(&k) {
            return Err(ApiError::invalid(&k, "the parameter at most once", &v));
        }
        out.insert(k, v);
    }
    if let Some(f) = out.get("f")
        && !matches!(f.as_str(), "json" | "geojson" | MEDIA_JSON | MEDIA_GEOJSON)
    {
        return Err(ApiError::invalid("f", "json or geojson", f));
    }
    Ok(out)
}

/// `GET /`: the landing page, with absolute links to the API description, conformance
/// and collections.
pub(crate) async fn landing(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    query_pairs(q, &["f"])?;
    let base = base_url(&state, &headers);
    Ok(respond(
        StatusCode::OK,
        MEDIA_JSON,
        &json!({
            "title": "aviso: reference layers and the current alert",
            "description": "OGC API – Features over aviso's layers (COD-AB boundaries, point layers) and the current alert's hazard zones and districts at risk. Coordinates are CRS84 (lon/lat).",
            "links": [
                link(format!("{base}/"), "self", MEDIA_JSON, "This document"),
                link(format!("{base}/api"), "service-desc", MEDIA_OPENAPI, "The API definition (OpenAPI 3.0)"),
                link(format!("{base}/conformance"), "conformance", MEDIA_JSON, "Conformance classes"),
                link(format!("{base}/collections"), "data", MEDIA_JSON, "The collections"),
                link(format!("{base}/?f=html"), "alternate", "text/html", "The alert map (HTML)"),
            ],
        }),
    ))
}

/// `GET /conformance`.
#[utoipa::path(get, path = "/conformance", tag = "ogc", operation_id = "getConformance",
    summary = "Conformance classes: OGC API – Features Part 1 core, geojson and oas30",
    params(("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "The conformance classes", content_type = "application/json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = super::Exception)))]
pub(crate) async fn conformance(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    query_pairs(q, &["f"])?;
    Ok(respond(
        StatusCode::OK,
        MEDIA_JSON,
        &json!({"conformsTo": CONFORMANCE}),
    ))
}

fn collection_json(c: &Collection, base: &str) -> Value {
    let href = format!("{base}/collections/{}", c.id);
    let mut m = Map::new();
    m.insert("id".into(), json!(c.id));
    m.insert("title".into(), json!(c.title));
    m.insert("description".into(), json!(c.description));
    m.insert(
        "links".into(),
        json!([
            link(href.clone(), "self", MEDIA_JSON, "This collection"),
            link(
                format!("{href}/items"),
                "items",
                MEDIA_GEOJSON,
                "The features"
            ),
        ]),
    );
    // An empty collection has no extent to give.
    if let Some(e) = c.extent {
        m.insert(
            "extent".into(),
            json!({"spatial": {"bbox": [[e.min().x, e.min().y, e.max().x, e.max().y]], "crs": CRS84}}),
        );
    }
    m.insert("itemType".into(), json!("feature"));
    m.insert("crs".into(), json!([CRS84]));
    Value::Object(m)
}

/// `GET /collections`.
#[utoipa::path(get, path = "/collections", tag = "ogc", operation_id = "getCollections",
    summary = "The collections: country, provinces, districts, the point layers, and the current alert's hazard zones, districts at risk and probability contours",
    params(("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "The collections", content_type = "application/json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = super::Exception)))]
pub(crate) async fn collections(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    query_pairs(q, &["f"])?;
    let base = base_url(&state, &headers);
    let (layers, alert) = all_collections(&state);
    let empty: Vec<Collection> = ALERT_COLLECTIONS
        .iter()
        .map(|id| empty_alert_collection(id))
        .collect();
    let of_alert: Vec<&Collection> = match &alert {
        Some(a) => ALERT_COLLECTIONS
            .iter()
            .map(|id| a.collection(id))
            .collect(),
        None => empty.iter().collect(),
    };
    let list: Vec<Value> = layers
        .into_iter()
        .chain(of_alert)
        .map(|c| collection_json(c, &base))
        .collect();
    Ok(respond(
        StatusCode::OK,
        MEDIA_JSON,
        &json!({
            "links": [link(format!("{base}/collections"), "self", MEDIA_JSON, "The collections")],
            "collections": list,
        }),
    ))
}

/// `GET /collections/{collection_id}`.
#[utoipa::path(get, path = "/collections/{collectionId}", tag = "ogc", operation_id = "describeCollection",
    summary = "One collection",
    params(("collectionId" = String, Path, description = "A collection id, as listed at /collections"), ("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "The collection", content_type = "application/json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = super::Exception),
        (status = 404, description = "Unknown collection", body = super::Exception)))]
pub(crate) async fn collection(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    query_pairs(q, &["f"])?;
    let base = base_url(&state, &headers);
    let body = with_collection(&state, &id, |c| Ok(collection_json(c, &base)))?;
    Ok(respond(StatusCode::OK, MEDIA_JSON, &body))
}

/// A validated bbox: one rectangle, or two when it crosses the antimeridian.
#[derive(Debug, Clone)]
struct BboxFilter {
    rects: Vec<Rect<f64>>,
    /// As given (for the self and next links).
    raw: String,
}

impl BboxFilter {
    fn matches(&self, item: &Item) -> bool {
        let (Some(b), Some(g)) = (item.bbox, &item.geometry) else {
            return false;
        };
        self.rects
            .iter()
            .any(|r| r.intersects(&b) && r.intersects(g))
    }
}

const BBOX_EXPECTED: &str = "4 (or 6) comma-separated numbers: min lon, min lat, max lon, max lat in CRS84, \
     lon within [-180, 180], lat within [-90, 90], min lat <= max lat";

fn parse_bbox(raw: &str) -> Result<BboxFilter, ApiError> {
    let bad = || ApiError::invalid("bbox", BBOX_EXPECTED, raw);
    let nums: Vec<f64> = raw
        .split(',')
        .map(|s| s.trim().parse::<f64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    // With 6 numbers the heights (3rd and 6th) are ignored: every feature is 2D.
    let (min_lon, min_lat, max_lon, max_lat) = match nums.as_slice() {
        [a, b, c, d] => (*a, *b, *c, *d),
        [a, b, _, d, e, _] => (*a, *b, *d, *e),
        _ => return Err(bad()),
    };
    let lon_ok = |x: f64| x.is_finite() && (-180.0..=180.0).contains(&x);
    let lat_ok = |y: f64| y.is_finite() && (-90.0..=90.0).contains(&y);
    if !(lon_ok(min_lon) && lon_ok(max_lon) && lat_ok(min_lat) && lat_ok(max_lat))
        || min_lat > max_lat
    {
        return Err(bad());
    }
    let rect = |x0: f64, x1: f64| {
        Rect::new(
            geo::coord! {x: x0, y: min_lat},
            geo::coord! {x: x1, y: max_lat},
        )
    };
    // OGC 17-069r3, parameter bbox: min lon > max lon means the box crosses the
    // antimeridian.
    let rects = if min_lon <= max_lon {
        vec![rect(min_lon, max_lon)]
    } else {
        vec![rect(min_lon, 180.0), rect(-180.0, max_lon)]
    };
    Ok(BboxFilter {
        rects,
        raw: raw.to_string(),
    })
}

const CRS84_ALIASES: [&str; 2] = [CRS84, "http://www.opengis.net/def/crs/OGC/1.3/CRS84h"];

/// `GET /collections/{collection_id}/items`: one page of features.
#[utoipa::path(get, path = "/collections/{collectionId}/items", tag = "ogc", operation_id = "getFeatures",
    summary = "Features of a collection, a page at a time",
    params(("collectionId" = String, Path, description = "A collection id, as listed at /collections"),
        ("limit" = Option<u32>, Query, style = Form, explode = false, minimum = 1, description = "Features per page"),
        ("offset" = Option<u64>, Query, style = Form, explode = false, minimum = 0, description = "Features to skip (the next links carry it)."),
        ("bbox" = Option<Vec<f64>>, Query, style = Form, explode = false, min_items = 4, max_items = 6, description = "min lon, min lat, max lon, max lat (CRS84); features whose geometry intersects it. Min lon above max lon crosses the antimeridian."),
        ("bbox-crs" = Option<String>, Query, style = Form, explode = false, description = "Only http://www.opengis.net/def/crs/OGC/1.3/CRS84 (or CRS84h)"),
        ("datetime" = Option<String>, Query, style = Form, explode = false, description = "An RFC 3339 instant or interval; checked, then all features are kept (they carry no time)."),
        ("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "One page of features; a 'next' link while more remain", content_type = "application/geo+json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = super::Exception),
        (status = 404, description = "Unknown collection", body = super::Exception)))]
pub(crate) async fn items(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_pairs(q, &["limit", "offset", "bbox", "bbox-crs", "datetime", "f"])?;
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<u64>() {
            Ok(0) | Err(_) => {
                return Err(ApiError::invalid(
                    "limit",
                    &format!("a positive integer (at most {MAX_LIMIT} are returned)"),
                    s,
                ));
            }
            Ok(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
        },
    };
    let offset = match q.get("offset") {
        None => 0,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::invalid("offset", "a non-negative integer", s))?,
    };
    if let Some(c) = q.get("bbox-crs")
        && !CRS84_ALIASES.contains(&c.as_str())
    {
        return Err(ApiError::invalid("bbox-crs", CRS84, c));
    }
    let bbox = q.get("bbox").map(|b| parse_bbox(b)).transpose()?;
    // Features carry no time: a valid datetime filter keeps them all (OGC 17-069r3,
    // parameter datetime, filters on features' temporal geometry, which these lack); an
    // invalid one is a 400 (/req/core/query-param-invalid).
    if let Some(d) = q.get("datetime") {
        check_datetime(d)?;
    }
    let base = base_url(&state, &headers);
    let body = with_collection(&state, &id, |c| {
        Ok(items_page(c, &base, limit, offset, bbox.as_ref()))
    })?;
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, MEDIA_GEOJSON)],
        body,
    )
        .into_response();
    // A layer's pages do not change while the server runs (the layers are loaded once):
    // their gzip is computed once (issue 17 finding 6). Alert collections change.
    if state.layer_collections.iter().any(|c| c.id == id) {
        let bbox = q.get("bbox").map(String::as_str).unwrap_or("");
        resp.extensions_mut().insert(super::gzip::CacheKey(format!(
            "items\n{id}\n{base}\n{limit}\n{offset}\n{bbox}"
        )));
    }
    Ok(resp)
}

/// Checks an OGC API – Features `datetime` value (OGC 17-069r3 §7.15.4): an RFC 3339
/// date-time, or an interval `start/end` of two, either end open (`..` or empty) but not
/// both, start not after end. A full-date (`2023-03-08`, the day from its first instant)
/// is accepted too, as clients send it.
fn check_datetime(d: &str) -> Result<(), ApiError> {
    const EXPECTED: &str = "an RFC 3339 date-time (2023-03-08T00:00:00Z) or an interval of \
         two (start/end, either end may be '..')";
    let bad = || ApiError::invalid("datetime", EXPECTED, d);
    let instant = |s: &str| -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(s).ok().or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().fixed_offset())
        })
    };
    let end = |s: &str| -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, ApiError> {
        match s {
            "" | ".." => Ok(None),
            s => instant(s).map(Some).ok_or_else(bad),
        }
    };
    match d.split_once('/') {
        None => instant(d).map(|_| ()).ok_or_else(bad),
        Some((a, b)) => match (end(a)?, end(b)?) {
            (None, None) => Err(bad()),
            (Some(a), Some(b)) if a > b => Err(bad()),
            _ => Ok(()),
        },
    }
}

fn items_page(
    c: &Collection,
    base: &str,
    limit: usize,
    offset: usize,
    bbox: Option<&BboxFilter>,
) -> String {
    let matched: Vec<&Item> = c
        .items
        .iter()
        .filter(|i| bbox.is_none_or(|b| b.matches(i)))
        .collect();
    let page: Vec<&str> = matched
        .iter()
        .skip(offset)
        .take(limit)
        .map(|i| &*i.json)
        .collect();
    let href = format!("{base}/collections/{}/items", c.id);
    let with = |off: usize| {
        let mut u = format!("{href}?limit={limit}&offset={off}");
        if let Some(b) = bbox {
            let _ = write!(u, "&bbox={}", encode_query(&b.raw));
        }
        u
    };
    let mut links = vec![link(with(offset), "self", MEDIA_GEOJSON, "This page")];
    if offset > 0 {
        links.push(link(
            with(offset.saturating_sub(limit)),
            "prev",
            MEDIA_GEOJSON,
            "Previous page",
        ));
    }
    // No next link on the last page: GDAL and QGIS stop there.
    if offset.saturating_add(page.len()) < matched.len() {
        links.push(link(
            with(offset + page.len()),
            "next",
            MEDIA_GEOJSON,
            "Next page",
        ));
    }
    links.push(link(
        format!("{base}/collections/{}", c.id),
        "collection",
        MEDIA_JSON,
        "The collection",
    ));
    // The page is left as `json!` on purpose: it is the OGC API envelope (numberMatched,
    // numberReturned, timeStamp, links) around features each serialised once through
    // geojson's `Feature` (`Item::json`) and spliced in below, so a page of megabytes of
    // geometry is not parsed back into geojson types and written again per request.
    let envelope = json!({
        "type": "FeatureCollection",
        "numberMatched": matched.len(),
        "numberReturned": page.len(),
        "timeStamp": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "links": links,
    })
    .to_string();
    // The envelope is an object: drop its closing brace and append the features.
    let mut body = String::with_capacity(
        envelope.len() + page.iter().map(|f| f.len() + 1).sum::<usize>() + 16,
    );
    body.push_str(envelope.strip_suffix('}').unwrap_or(&envelope));
    body.push_str(",\"features\":[");
    body.push_str(&page.join(","));
    body.push_str("]}");
    body
}

/// Percent-encodes a query value (RFC 3986 unreserved characters and ',' pass).
fn encode_query(s: &str) -> String {
    const QUERY_VALUE: &percent_encoding::AsciiSet = &UNRESERVED.remove(b',');
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// `GET /collections/{collection_id}/items/{feature_id}`.
#[utoipa::path(get, path = "/collections/{collectionId}/items/{featureId}", tag = "ogc", operation_id = "getFeature",
    summary = "One feature",
    params(("collectionId" = String, Path, description = "A collection id, as listed at /collections"),
        ("featureId" = String, Path, description = "P-code for areas, the layer's id for points, e.g. wind_64kt or cone for hazard zones"),
        ("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "The feature", content_type = "application/geo+json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = super::Exception),
        (status = 404, description = "Unknown collection or feature", body = super::Exception)))]
pub(crate) async fn item(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((cid, fid)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    query_pairs(q, &["f"])?;
    let base = base_url(&state, &headers);
    let body = with_collection(&state, &cid, |c| {
        let it = c
            .items
            .iter()
            .find(|i| i.id == fid)
            .ok_or_else(|| ApiError::NotFound {
                what: format!("feature '{fid}' in collection '{cid}'"),
            })?;
        let mut f = it.feature.clone();
        {
            // Links are an OGC API member of the feature: a foreign member, after
            // "properties".
            let m = f.foreign_members.get_or_insert_with(JsonObject::new);
            let href = format!("{base}/collections/{}", c.id);
            m.insert(
                "links".into(),
                json!([
                    link(
                        format!("{href}/items/{}", encode_segment(&it.id)),
                        "self",
                        MEDIA_GEOJSON,
                        "This feature"
                    ),
                    link(href, "collection", MEDIA_JSON, "The collection"),
                ]),
            );
        }
        Ok(feature_json(&f))
    })?;
    Ok(respond(StatusCode::OK, MEDIA_GEOJSON, &body))
}

/// Any other path: a 404 JSON error.
pub(crate) async fn unknown_path(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound {
        what: format!("path '{}'", uri.path()),
    }
}

/// `GET /api`: the OpenAPI 3.0 definition, small but valid, with the limit's default and
/// maximum (clients size their pages from them).
#[utoipa::path(get, path = "/api", tag = "ogc", operation_id = "getApi",
    summary = "This API definition (OpenAPI 3.0)",
    params(("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "OpenAPI 3.0", content_type = "application/vnd.oai.openapi+json;version=3.0", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = super::Exception)))]
pub(crate) async fn api_document(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    query_pairs(q, &["f"])?;
    let base = base_url(&state, &headers);
    let (layers, _) = all_collections(&state);
    let ids: Vec<&str> = layers
        .iter()
        .map(|c| c.id.as_str())
        .chain(ALERT_COLLECTIONS)
        .collect();
    let routed = state.openapi.get().ok_or_else(|| ApiError::Internal {
        cause: "the OpenAPI document is set when the router is built, and was not".into(),
    })?;
    let header = state
        .notify
        .as_ref()
        .and_then(|n| n.callbacks.as_ref().map(|c| c.header.clone()))
        .unwrap_or_else(|| crate::notify::config::InboundConfig::default().header);
    let doc = super::openapi::document(routed, &base, &ids, &header);
    Ok(respond(StatusCode::OK, MEDIA_OPENAPI, &doc))
}
