//! The alert map for browsers: the single page (static/index.html, static/app.js,
//! static/app.css) and the vendored Leaflet, compiled into the binary with
//! `include_bytes!` and served with ETag and Cache-Control, plus `GET /api/map-config`
//! (the optional tile basemap), and the duty officer's operations page (`/ops`,
//! static/ops.*, issue 13) under a stricter CSP that also forbids framing. `GET /` is
//! content-negotiated: the map for browsers, the OGC API landing page (JSON,
//! [`super::ogc`]) for everyone else. The pages read their data from the service's own
//! API; this module adds no data endpoint. Must not depend on feeds, hazard or exposure.
//!
//! Split along its jobs: `settings` (`[map]` and the page's view of it), `assets` (the
//! compiled-in files and how one is served, ETag and caching), `csp` (the map page's
//! Content-Security-Policy) and `negotiate` (HTML or JSON at `/`); this file holds the routes.

use std::sync::Arc;

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;

mod assets;
mod csp;
mod negotiate;
mod settings;

pub use assets::asset_paths;
use assets::{ASSETS, INDEX_HTML, OPS_HTML, REVALIDATE, Served};
use csp::content_security_policy;
use negotiate::format_parameter;
pub use negotiate::prefers_html;
pub use settings::{MapConfig, MapSettings};

/// The page and the assets, rendered once.
struct Site {
    index: Served,
    ops: Served,
    assets: Vec<(&'static str, Arc<Served>)>,
    config_json: String,
}

impl Site {
    fn new(map: &MapConfig) -> Self {
        let mut index = Served::new(INDEX_HTML, "text/html; charset=utf-8", REVALIDATE);
        if let Ok(csp) = HeaderValue::from_str(&content_security_policy(map)) {
            index.extra.push((header::CONTENT_SECURITY_POLICY, csp));
        }
        index.extra.push((
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ));
        // The operations page draws no map: nothing beyond this service at all, and it
        // may not be framed (its buttons publish alerts: no clickjacking).
        let mut ops = Served::new(OPS_HTML, "text/html; charset=utf-8", REVALIDATE);
        ops.extra.push((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                 connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ));
        ops.extra.push((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ));
        let assets = ASSETS
            .iter()
            .map(|a| {
                (
                    a.path,
                    Arc::new(Served::new(a.body, a.content_type, a.cache_control)),
                )
            })
            .collect();
        Site {
            index,
            ops,
            assets,
            // A struct of strings and a number always serialises: the fallback is never taken.
            config_json: serde_json::to_string(map).unwrap_or_else(|_| "{}".into()),
        }
    }
}

/// The map's routes: `/` (negotiated: the map, or the OGC API landing page), `/map` (the
/// map whatever the Accept header says), `/static/...` and `/api/map-config`. Merge it
/// into [`super::router`], which must then have no `/` route of its own. The static files
/// are plain routes (files, not operations: the OpenAPI document leaves them out).
pub fn web_router(map: MapConfig) -> OpenApiRouter<Arc<ApiState>> {
    let site = Arc::new(Site::new(&map));
    let mut router = OpenApiRouter::new();
    for (path, served) in &site.assets {
        let served = served.clone();
        router = router.route(
            path,
            get(move |headers: HeaderMap| async move { served.respond(&headers) }),
        );
    }
    router
        .routes(routes!(root))
        .routes(routes!(map_page))
        .routes(routes!(ops_page))
        .routes(routes!(map_config))
        .layer(Extension(site))
}

/// `GET /map`: the map whatever the Accept header says.
#[utoipa::path(get, path = "/map", tag = "map", operation_id = "getMap",
    summary = "The alert map (HTML), whatever the Accept header",
    responses((status = 200, description = "The map page", content_type = "text/html", body = String)))]
async fn map_page(Extension(site): Extension<Arc<Site>>, headers: HeaderMap) -> Response {
    site.index.respond(&headers)
}

/// `GET /ops`: the duty officer's page (issue 13). The page itself is public (it holds
/// no data); everything it shows comes from the admin API with the officer's token.
#[utoipa::path(get, path = "/ops", tag = "map", operation_id = "getOps",
    summary = "The operations page (HTML): proposals waiting for an approver, review, approve or reject, the audit trail",
    responses((status = 200, description = "The operations page", content_type = "text/html", body = String)))]
async fn ops_page(Extension(site): Extension<Arc<Site>>, headers: HeaderMap) -> Response {
    site.ops.respond(&headers)
}

/// `GET /api/map-config`: the map's basemap settings.
#[utoipa::path(get, path = "/api/map-config", tag = "map", operation_id = "getMapConfig",
    summary = "The map's basemap settings",
    responses((status = 200, description = "tile_url, tile_attribution, tile_max_zoom", content_type = "application/json", body = MapConfig)))]
async fn map_config(Extension(site): Extension<Arc<Site>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, REVALIDATE),
        ],
        site.config_json.clone(),
    )
        .into_response()
}

/// `GET /`: the map when `f=html`, or when no `f` is given and the Accept header prefers
/// HTML; otherwise the OGC API landing page, unchanged (GDAL's OAPIF driver reads it).
/// `Vary: Accept` tells caches that the answer depends on that header.
#[utoipa::path(get, path = "/", tag = "ogc", operation_id = "getLandingPage",
    summary = "Landing page (the map instead for a browser, or with f=html)",
    params(("f" = Option<String>, Query, style = Form, explode = false, description = "json or geojson: the landing page; html: the map")),
    responses(
        (status = 200, description = "Links to the API definition, conformance and collections (JSON); the alert map (HTML) when the Accept header prefers HTML or f=html",
            content((Object = "application/json"), (String = "text/html"))),
        (status = 400, description = "Bad request: a parameter is unknown or malformed (named)", body = super::Exception)))]
async fn root(
    Extension(site): Extension<Arc<Site>>,
    state: State<Arc<ApiState>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let html = format_parameter(&uri).unwrap_or_else(|| prefers_html(&headers));
    let mut resp = if html {
        site.index.respond(&headers)
    } else {
        super::ogc::landing(state, headers, Query::try_from_uri(&uri))
            .await
            .into_response()
    };
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    /// The whole router over empty layers: routing and negotiation need no data.
    fn app() -> Router {
        let layers = crate::domain::Layers {
            country: geo::MultiPolygon::new(Vec::new()),
            provinces: Vec::new(),
            districts: Vec::new(),
            points: Vec::new(),
            infos: Vec::new(),
        };
        super::super::router(Arc::new(ApiState::new(
            &layers,
            Some("http://aviso.test".into()),
        )))
    }

    /// GET `uri` with `headers`: status, headers, body.
    fn get(uri: &str, headers: &[(header::HeaderName, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut req = Request::get(uri);
            for (k, v) in headers {
                req = req.header(k, *v);
            }
            let resp = app()
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            (parts.status, parts.headers, bytes.to_vec())
        })
    }

    fn content_type(h: &HeaderMap) -> &str {
        h.get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    const CHROMIUM_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8";

    #[test]
    fn a_browser_gets_the_map_at_root_and_other_clients_the_ogc_landing_page() {
        let (s, h, body) = get("/", &[(header::ACCEPT, CHROMIUM_ACCEPT)]);
        assert_eq!(s, StatusCode::OK);
        assert!(content_type(&h).starts_with("text/html"));
        assert!(String::from_utf8(body).unwrap().contains("static/app.js"));
        assert!(h.get(header::CONTENT_SECURITY_POLICY).is_some());
        assert_eq!(h.get(header::VARY).unwrap(), "Accept");
        for headers in [
            &[][..],
            &[(header::ACCEPT, "*/*")][..],
            &[(header::ACCEPT, "application/json")][..],
        ] {
            let (s, h, body) = get("/", headers);
            assert_eq!(s, StatusCode::OK);
            assert_eq!(content_type(&h), "application/json", "{headers:?}");
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(
                v["links"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l["rel"] == "service-desc")
            );
            assert_eq!(h.get(header::VARY).unwrap(), "Accept");
        }
        // The f parameter overrides the header either way.
        let (_, h, _) = get("/?f=json", &[(header::ACCEPT, CHROMIUM_ACCEPT)]);
        assert_eq!(content_type(&h), "application/json");
        let (_, h, _) = get("/?f=html", &[(header::ACCEPT, "application/json")]);
        assert!(content_type(&h).starts_with("text/html"));
        // An unknown parameter is still a 400 for the JSON landing page (OGC 17-069r3).
        let (s, _, _) = get("/?colour=red", &[]);
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (_, h, _) = get("/map", &[]);
        assert!(content_type(&h).starts_with("text/html"));
    }

    #[test]
    fn every_file_the_page_and_leaflets_css_name_is_served_with_its_type() {
        let html = String::from_utf8(INDEX_HTML.to_vec()).unwrap();
        let mut wanted: Vec<String> = Vec::new();
        for attr in ["href=\"", "src=\""] {
            for part in html.split(attr).skip(1) {
                let url = part.split('"').next().unwrap();
                wanted.push(format!("/{url}"));
            }
        }
        let css = std::str::from_utf8(
            ASSETS
                .iter()
                .find(|a| a.path.ends_with("leaflet.css"))
                .unwrap()
                .body,
        )
        .unwrap();
        for part in css.split("url(").skip(1) {
            let url = part.split(')').next().unwrap().trim_matches(['"', '\'']);
            if url.starts_with('#') {
                continue; // IE's VML behaviour, not a file
            }
            wanted.push(format!("/static/vendor/leaflet-1.9.4/{url}"));
        }
        assert!(wanted.len() >= 6, "{wanted:?}");
        for path in &wanted {
            let (s, h, body) = get(path, &[]);
            assert_eq!(s, StatusCode::OK, "{path}");
            assert!(!body.is_empty(), "{path}");
            let ct = content_type(&h);
            let expected = match path.rsplit('.').next().unwrap() {
                "js" => "text/javascript",
                "css" => "text/css",
                "png" => "image/png",
                "svg" => "image/svg+xml",
                other => panic!("unexpected asset type {other} in {path}"),
            };
            assert!(ct.starts_with(expected), "{path}: {ct}");
            assert!(h.get(header::ETAG).is_some(), "{path}");
            assert!(h.get(header::CACHE_CONTROL).is_some(), "{path}");
        }
    }

    #[test]
    fn the_map_config_is_json_with_no_tiles_by_default() {
        let (s, h, body) = get("/api/map-config", &[]);
        assert_eq!(s, StatusCode::OK);
        assert_eq!(content_type(&h), "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["tile_url"].is_null());
    }
}
