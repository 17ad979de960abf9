//! The features of a collection: `/collections/{collectionId}/items`, a page at a time
//! (limit and offset over the collection's fixed order, filtered by bbox), and one feature
//! by id.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use geojson::JsonObject;
use serde_json::json;

use super::collection::{Collection, Item, with_collection};
use super::events::{Selection, selected};
use super::plan::{PLAN_COLLECTIONS, plan_collections};
use super::query::{ItemsQuery, OutputCrs};
use super::{
    ALERT_COLLECTIONS, MEDIA_GEOJSON, MEDIA_JSON, base_url, encode_segment, link, query_list,
    respond,
};
use crate::alerts::document::feature_json;
use crate::api::{ApiError, ApiState};

/// `GET /collections/{collection_id}/items`: one page of features.
#[utoipa::path(get, path = "/collections/{collectionId}/items", tag = "ogc", operation_id = "getFeatures",
    summary = "Features of a collection, a page at a time, filtered and sorted on request",
    params(("collectionId" = String, Path, description = "A collection id, as listed at /collections"),
        ("limit" = Option<u32>, Query, style = Form, explode = false, minimum = 1, description = "Features per page"),
        ("offset" = Option<u64>, Query, style = Form, explode = false, minimum = 0, description = "Features to skip (the next links carry it)."),
        ("bbox" = Option<Vec<f64>>, Query, style = Form, explode = false, min_items = 4, max_items = 6, description = "min lon, min lat, max lon, max lat (CRS84; latitude first with bbox-crs EPSG:4326); features whose geometry intersects it. Min lon above max lon crosses the antimeridian."),
        ("bbox-crs" = Option<String>, Query, style = Form, explode = false, description = "http://www.opengis.net/def/crs/OGC/1.3/CRS84 (default) or http://www.opengis.net/def/crs/EPSG/0/4326"),
        ("datetime" = Option<String>, Query, style = Form, explode = false, description = "An RFC 3339 instant or interval; checked, then all features are kept (they carry no time)."),
        ("filter" = Option<String>, Query, style = Form, explode = false, description = "A CQL2 text filter on the collection's queryables: comparisons, AND/OR/NOT, IS NULL, LIKE, IN, BETWEEN, e.g. level IN ('red','orange') AND people_at_risk > 10000"),
        ("filter-lang" = Option<String>, Query, style = Form, explode = false, description = "cql2-text (the only one)"),
        ("filter-crs" = Option<String>, Query, style = Form, explode = false, description = "CRS84 or EPSG:4326 (the filter has no geometry to place)"),
        ("sortby" = Option<String>, Query, style = Form, explode = false, description = "Comma-separated queryables, each with an optional + (ascending, default) or - (descending); nulls last"),
        ("properties" = Option<String>, Query, style = Form, explode = false, description = "Comma-separated properties to return (default all)"),
        ("crs" = Option<String>, Query, style = Form, explode = false, description = "http://www.opengis.net/def/crs/OGC/1.3/CRS84 (lon/lat, default) or http://www.opengis.net/def/crs/EPSG/0/4326 (lat/lon); the Content-Crs header names it"),
        ("event" = Option<String>, Query, style = Form, explode = false, description = "Alert and plan collections only (aviso serve): an active event's id (see /api/events), or all for every active event (ids become <event_id>:<id>); default the current alert"),
        ("status" = Option<String>, Query, style = Form, explode = false, description = "Alert and plan collections only (aviso serve): Actual (default), Exercise or Test"),
        ("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "One page of features; a 'next' link while more remain. Any queryable (see /collections/{collectionId}/queryables) is also a parameter: its value must equal the property's.", content_type = "application/geo+json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception),
        (status = 404, description = "Unknown collection", body = crate::api::Exception)))]
pub(crate) async fn items(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let pairs = query_list(q)?;
    let base = base_url(&state, &headers);
    let page = |c: &Collection| {
        let query = ItemsQuery::parse(&pairs, c)?;
        Ok((items_page(c, &base, &query), query.cache_key(), query.crs))
    };
    let (body, key, crs) = match Selection::parse(&pairs)? {
        sel if is_plan(&state, &id) => page(
            plan_collections(&state, sel.as_ref())
                .await?
                .collection(&id),
        )?,
        Some(sel) if ALERT_COLLECTIONS.contains(&id.as_str()) => {
            page(selected(&state, &sel).await?.collection(&id))?
        }
        Some(_) => with_collection(&state, &id, |_| {
            Err::<(String, String, OutputCrs), _>(not_an_alert_collection(&id))
        })?,
        None => with_collection(&state, &id, page)?,
    };
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, MEDIA_GEOJSON)],
        body,
    )
        .into_response();
    content_crs(&mut resp, crs);
    // A layer's pages do not change while the server runs (the layers are loaded once):
    // their gzip is computed once (issue 17 finding 6). Alert collections change.
    if state.layer_collections.iter().any(|c| c.id == id) {
        resp.extensions_mut()
            .insert(crate::api::gzip::CacheKey(format!(
                "items\n{id}\n{base}\n{key}"
            )));
    }
    Ok(resp)
}

/// Whether `id` names one of the plan's collections on this server.
fn is_plan(state: &ApiState, id: &str) -> bool {
    state.plan.is_some() && PLAN_COLLECTIONS.contains(&id)
}

/// `event` and `status` on a layer collection.
fn not_an_alert_collection(id: &str) -> ApiError {
    ApiError::invalid(
        "event",
        &format!(
            "no event or status on collection {id}: they choose the alerts of {} (and, on \
             aviso serve, of {})",
            ALERT_COLLECTIONS.join(", "),
            PLAN_COLLECTIONS.join(", ")
        ),
        id,
    )
}

/// The `Content-Crs` header of OGC API – Features Part 2 (`/req/crs/ogc-crs-header`).
fn content_crs(resp: &mut Response, crs: OutputCrs) {
    if let Ok(v) = header::HeaderValue::from_str(&format!("<{}>", crs.uri())) {
        resp.headers_mut()
            .insert(header::HeaderName::from_static("content-crs"), v);
    }
}

fn items_page(c: &Collection, base: &str, query: &ItemsQuery) -> String {
    let matched: Vec<&Item> = query.select(c);
    let (limit, offset) = (query.limit, query.offset);
    let page: Vec<Arc<str>> = matched
        .iter()
        .skip(offset)
        .take(limit)
        .map(|i| query.render(i))
        .collect();
    let href = format!("{base}/collections/{}/items", c.id);
    let with = |off: usize| format!("{href}?{}", query.link_query(off));
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

/// `GET /collections/{collection_id}/items/{feature_id}`.
#[utoipa::path(get, path = "/collections/{collectionId}/items/{featureId}", tag = "ogc", operation_id = "getFeature",
    summary = "One feature",
    params(("collectionId" = String, Path, description = "A collection id, as listed at /collections"),
        ("featureId" = String, Path, description = "P-code for areas, the layer's id for points, e.g. wind_64kt or cone for hazard zones"),
        ("crs" = Option<String>, Query, style = Form, explode = false, description = "CRS84 (lon/lat, default) or http://www.opengis.net/def/crs/EPSG/0/4326 (lat/lon)"),
        ("event" = Option<String>, Query, style = Form, explode = false, description = "As for the items: an active event's id, or all"),
        ("status" = Option<String>, Query, style = Form, explode = false, description = "As for the items: Actual (default), Exercise or Test"),
        ("f" = Option<String>, Query, style = Form, explode = false, description = "The encoding: json or geojson (the only ones)")),
    responses(
        (status = 200, description = "The feature", content_type = "application/geo+json", body = Object),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception),
        (status = 404, description = "Unknown collection or feature", body = crate::api::Exception)))]
pub(crate) async fn item(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((cid, fid)): Path<(String, String)>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let pairs = query_list(q)?;
    if let Some((k, v)) = pairs
        .iter()
        .find(|(k, _)| !["f", "crs", "event", "status"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(
            k,
            "one of the parameters f, crs, event, status",
            v,
        ));
    }
    let crs = OutputCrs::parse(
        pairs.iter().find(|(k, _)| k == "crs").map(|(_, v)| v),
        "crs",
    )?;
    let base = base_url(&state, &headers);
    let one = |c: &Collection| {
        let it = c
            .items
            .iter()
            .find(|i| i.id == fid)
            .ok_or_else(|| ApiError::NotFound {
                what: format!("feature '{fid}' in collection '{cid}'"),
            })?;
        let mut f = it.feature.clone();
        if crs == OutputCrs::Epsg4326 {
            f = ItemsQuery::swapped(&f);
        }
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
    };
    let body = match Selection::parse(&pairs)? {
        sel if is_plan(&state, &cid) => one(plan_collections(&state, sel.as_ref())
            .await?
            .collection(&cid))?,
        Some(sel) if ALERT_COLLECTIONS.contains(&cid.as_str()) => {
            one(selected(&state, &sel).await?.collection(&cid))?
        }
        Some(_) => return Err(not_an_alert_collection(&cid)),
        None => with_collection(&state, &cid, one)?,
    };
    let mut resp = respond(StatusCode::OK, MEDIA_GEOJSON, &body);
    content_crs(&mut resp, crs);
    Ok(resp)
}
