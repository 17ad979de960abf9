//! The features of a collection: `/collections/{collectionId}/items`, a page at a time
//! (limit and offset over the collection's fixed order, filtered by bbox), and one feature
//! by id.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use geojson::JsonObject;
use serde_json::json;

use super::collection::{Collection, Item, with_collection};
use super::filters::{BboxFilter, CRS84_ALIASES, check_datetime, parse_bbox};
use super::{
    CRS84, DEFAULT_LIMIT, MAX_LIMIT, MEDIA_GEOJSON, MEDIA_JSON, UNRESERVED, base_url,
    encode_segment, link, query_pairs, respond,
};
use crate::alerts::document::feature_json;
use crate::api::{ApiError, ApiState};

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
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception),
        (status = 404, description = "Unknown collection", body = crate::api::Exception)))]
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
        resp.extensions_mut()
            .insert(crate::api::gzip::CacheKey(format!(
                "items\n{id}\n{base}\n{limit}\n{offset}\n{bbox}"
            )));
    }
    Ok(resp)
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
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = crate::api::Exception),
        (status = 404, description = "Unknown collection or feature", body = crate::api::Exception)))]
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
