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
//! One file per job: `collection` (a collection and its features, each rendered once;
//! finding the one a request names), `layers` (the loaded layers' collections), `alert`
//! (the current alert's), `metadata` (landing page, /conformance, /api, /collections),
//! `items` (pages of features and single features) and `filters` (bbox, datetime). This
//! file holds the constants and what every route shares (links, query parameters, JSON
//! answers).

use std::collections::HashMap;

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiError, ApiState};

pub(crate) mod alert;
pub(crate) mod collection;
pub(crate) mod cql2;
pub(crate) mod events;
pub(crate) mod filters;
pub(crate) mod items;
pub(crate) mod layers;
pub(crate) mod metadata;
pub(crate) mod plan;
pub(crate) mod query;

pub use alert::AlertCollections;
pub use collection::Collection;
pub use layers::layer_collections;
pub(crate) use metadata::landing;

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
/// The conformance classes this API implements: OGC API – Features Part 1 (core, GeoJSON,
/// OpenAPI 3.0), Part 2 (CRS84 and EPSG:4326 on request), Part 3 (queryables, queryables
/// as query parameters, the `filter` parameter) and CQL2 text with the basic and advanced
/// comparison classes (`query` and `cql2`). Spatial and temporal CQL2 functions are not
/// claimed: they are not served.
const CONFORMANCE: [&str; 11] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
];

/// Collection ids of the alert's layers.
pub const HAZARD_ZONES: &str = "hazard_zones";
pub const DISTRICTS_AT_RISK: &str = "districts_at_risk";
/// The probability contours of the current alert (issue 12): P(≥ 34/48/64 kt within
/// 0–24/48/72/120 h) ≥ 10/30/50/70/90 %, from its probabilistic assessment.
pub const PROBABILITY_CONTOURS: &str = "probability_contours";
/// The collections drawn from the current alert, in the order they are listed.
const ALERT_COLLECTIONS: [&str; 3] = [HAZARD_ZONES, DISTRICTS_AT_RISK, PROBABILITY_CONTOURS];

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
    let pairs = query_list(q)?;
    if let Some((k, v)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(ApiError::invalid(
            k,
            &format!("one of the parameters {}", allowed.join(", ")),
            v,
        ));
    }
    Ok(pairs.into_iter().collect())
}

/// Query parameters in request order, each name at most once, `f` checked; which names
/// are allowed is the caller's to check (an items request allows the collection's
/// queryables).
pub(crate) fn query_list(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    let Query(pairs) =
        q.map_err(|e| ApiError::invalid("(query string)", "a URL-encoded query", &e.body_text()))?;
    let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if out.iter().any(|(n, _)| *n == k) {
            return Err(ApiError::invalid(&k, "the parameter at most once", &v));
        }
        out.push((k, v));
    }
    if let Some((_, f)) = out.iter().find(|(k, _)| k == "f")
        && !matches!(f.as_str(), "json" | "geojson" | MEDIA_JSON | MEDIA_GEOJSON)
    {
        return Err(ApiError::invalid("f", "json or geojson", f));
    }
    Ok(out)
}

/// Any other path: a 404 JSON error.
pub(crate) async fn unknown_path(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound {
        what: format!("path '{}'", uri.path()),
    }
}
