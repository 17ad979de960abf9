//! The resources a client reads before any feature: the landing page, /conformance, the
//! API definition (/api), and the collections' descriptions (/collections,
//! /collections/{collectionId}).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::alert::empty_alert_collection;
use super::collection::{Collection, all_collections, plan_described, with_collection};
use super::query::EPSG_4326;
use super::{
    ALERT_COLLECTIONS, CONFORMANCE, CRS84, MEDIA_GEOJSON, MEDIA_JSON, MEDIA_OPENAPI, base_url,
    link, query_pairs, respond,
};
use crate::api::{ApiError, ApiState};

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
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception)))]
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
            link(
                format!("{href}/queryables"),
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                MEDIA_SCHEMA,
                "The properties a request can filter and sort on"
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
    // Part 2: the CRS a request may ask for, and the one the data is kept in.
    m.insert("crs".into(), json!([CRS84, EPSG_4326]));
    m.insert("storageCrs".into(), json!(CRS84));
    Value::Object(m)
}

/// `GET /collections`.
#[utoipa::path(get, path = "/collections", tag = "ogc", operation_id = "getCollections",
    summary = "The collections: country, provinces, districts, the point layers, the current alert's hazard zones, districts at risk and probability contours, and (aviso serve) the contingency plan's sites at risk, accommodation centres and allocations",
    params(("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "The collections", content_type = "application/json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception)))]
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
    let planned = plan_described(&state);
    let list: Vec<Value> = layers
        .into_iter()
        .chain(of_alert)
        .chain(planned.iter())
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
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception),
        (status = 404, description = "Unknown collection", body = crate::api::Exception)))]
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

/// `GET /api`: the OpenAPI 3.0 definition, small but valid, with the limit's default and
/// maximum (clients size their pages from them).
#[utoipa::path(get, path = "/api", tag = "ogc", operation_id = "getApi",
    summary = "This API definition (OpenAPI 3.0)",
    params(("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "OpenAPI 3.0", content_type = "application/vnd.oai.openapi+json;version=3.0", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception)))]
pub(crate) async fn api_document(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    query_pairs(q, &["f"])?;
    let base = base_url(&state, &headers);
    let (layers, alert) = all_collections(&state);
    let planned = plan_described(&state);
    let ids: Vec<&str> = layers
        .iter()
        .map(|c| c.id.as_str())
        .chain(ALERT_COLLECTIONS)
        .chain(planned.iter().map(|c| c.id.as_str()))
        .collect();
    let of_alert: Vec<&Collection> = match &alert {
        Some(a) => ALERT_COLLECTIONS
            .iter()
            .map(|id| a.collection(id))
            .collect(),
        None => Vec::new(),
    };
    let queryables: Vec<(&str, Vec<(String, &'static str)>)> = layers
        .iter()
        .copied()
        .chain(of_alert)
        .chain(planned.iter())
        .map(|c| {
            (
                c.id.as_str(),
                c.queryables
                    .iter()
                    .map(|(n, t)| (n.clone(), t.json_schema_type()))
                    .collect(),
            )
        })
        .collect();
    let routed = state.openapi.get().ok_or_else(|| ApiError::Internal {
        cause: "the OpenAPI document is set when the router is built, and was not".into(),
    })?;
    let header = state
        .notify
        .as_ref()
        .and_then(|n| n.callbacks.as_ref().map(|c| c.header.clone()))
        .unwrap_or_else(|| crate::notify::config::InboundConfig::default().header);
    let doc = crate::api::openapi::document(routed, &base, &ids, &queryables, &header);
    Ok(respond(StatusCode::OK, MEDIA_OPENAPI, &doc))
}

/// JSON Schema's media type (queryables, OGC API – Features Part 3).
const MEDIA_SCHEMA: &str = "application/schema+json";

/// `GET /collections/{collection_id}/queryables`.
#[utoipa::path(get, path = "/collections/{collectionId}/queryables", tag = "ogc", operation_id = "getQueryables",
    summary = "The properties of a collection's features that a request can filter (as parameters or in a CQL2 filter) and sort on, as JSON Schema",
    params(("collectionId" = String, Path, description = "A collection id, as listed at /collections"), ("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json (the only one)")),
    responses(
        (status = 200, description = "JSON Schema (2020-12) of the queryables", content_type = "application/schema+json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception),
        (status = 404, description = "Unknown collection", body = crate::api::Exception)))]
pub(crate) async fn queryables(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    query_pairs(q, &["f"])?;
    let base = base_url(&state, &headers);
    let body = with_collection(&state, &id, |c| {
        let properties: Map<String, Value> = c
            .queryables
            .iter()
            .map(|(name, t)| {
                (
                    name.clone(),
                    json!({"title": name, "type": t.json_schema_type()}),
                )
            })
            .collect();
        Ok(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": format!("{base}/collections/{}/queryables", c.id),
            "type": "object",
            "title": c.title,
            "description": "Properties of the features, with their types, read from the features served now (an empty collection has none yet). Spatial filtering is by bbox only.",
            "properties": properties,
            "additionalProperties": false,
        }))
    })?;
    Ok(respond(StatusCode::OK, MEDIA_SCHEMA, &body))
}
