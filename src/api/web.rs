//! The alert map for browsers: the single page (static/index.html, static/app.js,
//! static/app.css) and the vendored Leaflet, compiled into the binary with
//! `include_bytes!` and served with ETag and Cache-Control, plus `GET /api/map-config`
//! (the optional tile basemap), and the duty officer's operations page (`/ops`,
//! static/ops.*, issue 13) under a stricter CSP that also forbids framing. `GET /` is
//! content-negotiated: the map for browsers, the OGC API landing page (JSON,
//! [`super::ogc`]) for everyone else. The pages read their data from the service's own
//! API; this module adds no data endpoint. Must not depend on feeds, hazard or exposure.
//!
//! Over 600 lines only with its tests (negotiation, caching headers, the CSPs): the module
//! itself, with the `[map]` section it serves, is under 500.

use std::sync::Arc;

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;

/// What the page needs from the configuration: an optional raster tile basemap. Without a
/// tile URL the page draws the country, provinces and districts as its basemap and makes
/// no request outside this service (INGD's offices and provincial COEs lose internet
/// during storms: DOMAIN.md "Publishing").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MapConfig {
    /// A Leaflet tile URL template, e.g. `https://tile.openstreetmap.org/{z}/{x}/{y}.png`
    /// or an offline tile server on the LAN; `{s}` (subdomains) is allowed.
    pub tile_url: Option<String>,
    /// The tiles' attribution, shown on the map (required by most tile licences).
    pub tile_attribution: Option<String>,
    /// The highest zoom the tile server has.
    pub tile_max_zoom: Option<u8>,
}

/// `[map]`: the web map's optional basemap. Without a tile URL the map needs no internet:
/// the country, provinces and districts are the basemap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MapSettings {
    /// Leaflet tile URL template with {z}, {x}, {y} ("" = no tiles).
    pub tile_url: String,
    /// Attribution the tile licence requires, shown on the map.
    pub tile_attribution: String,
    /// Highest zoom the tile server has.
    pub tile_max_zoom: u8,
}

impl Default for MapSettings {
    fn default() -> Self {
        MapSettings {
            tile_url: String::new(),
            tile_attribution: String::new(),
            tile_max_zoom: 19,
        }
    }
}

impl MapSettings {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.tile_url.is_empty() {
            return Ok(());
        }
        let http = self.tile_url.starts_with("https://") || self.tile_url.starts_with("http://");
        let xyz = ["{z}", "{x}", "{y}"]
            .iter()
            .all(|p| self.tile_url.contains(p));
        if !http || !xyz {
            return Err(format!(
                "map.tile_url = {:?}: expected \"\" or an http(s) URL with {{z}}, {{x}} and {{y}}",
                self.tile_url
            ));
        }
        if self.tile_attribution.trim().is_empty() {
            return Err("map.tile_attribution: a tile URL needs its attribution".into());
        }
        if !(1..=24).contains(&self.tile_max_zoom) {
            return Err(format!(
                "map.tile_max_zoom = {}: expected 1 to 24",
                self.tile_max_zoom
            ));
        }
        Ok(())
    }
}

impl From<&MapSettings> for MapConfig {
    /// The page's view of `[map]`: "" (no tiles) becomes no tile settings at all.
    fn from(s: &MapSettings) -> Self {
        if s.tile_url.is_empty() {
            return MapConfig::default();
        }
        MapConfig {
            tile_url: Some(s.tile_url.clone()),
            tile_attribution: Some(s.tile_attribution.clone()),
            tile_max_zoom: Some(s.tile_max_zoom),
        }
    }
}

/// Revalidate every time (a 304 when unchanged): the page and its script change with each
/// release of aviso, and the release has no version in the path.
const REVALIDATE: &str = "no-cache";
/// Vendored files live under a versioned path (`leaflet-1.9.4/`): a new version is a new
/// URL, so they can be cached for a year and never revalidated (RFC 8246 `immutable`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One file compiled into the binary.
struct Asset {
    /// URL path under the service root.
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    cache_control: &'static str,
}

/// The page's files. Leaflet 1.9.4 is the npm package's `dist/` (BSD-2-Clause; licence and
/// checksums in static/vendor/README.md). Its marker images are kept although the page
/// draws circle markers: `L.marker` and the layers control read them from the CSS.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/static/ops.js",
        body: include_bytes!("../../static/ops.js"),
        content_type: "text/javascript; charset=utf-8",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/ops.css",
        body: include_bytes!("../../static/ops.css"),
        content_type: "text/css; charset=utf-8",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/app.js",
        body: include_bytes!("../../static/app.js"),
        content_type: "text/javascript; charset=utf-8",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/app.css",
        body: include_bytes!("../../static/app.css"),
        content_type: "text/css; charset=utf-8",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/favicon.svg",
        body: include_bytes!("../../static/favicon.svg"),
        content_type: "image/svg+xml",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/leaflet.js",
        body: include_bytes!("../../static/vendor/leaflet-1.9.4/leaflet.js"),
        content_type: "text/javascript; charset=utf-8",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/leaflet.css",
        body: include_bytes!("../../static/vendor/leaflet-1.9.4/leaflet.css"),
        content_type: "text/css; charset=utf-8",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/LICENSE",
        body: include_bytes!("../../static/vendor/leaflet-1.9.4/LICENSE"),
        content_type: "text/plain; charset=utf-8",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/layers.png",
        body: include_bytes!("../../static/vendor/leaflet-1.9.4/images/layers.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/layers-2x.png",
        body: include_bytes!("../../static/vendor/leaflet-1.9.4/images/layers-2x.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/marker-icon.png",
        body: include_bytes!("../../static/vendor/leaflet-1.9.4/images/marker-icon.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/marker-icon-2x.png",
        body: include_bytes!("../../static/vendor/leaflet-1.9.4/images/marker-icon-2x.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/marker-shadow.png",
        body: include_bytes!("../../static/vendor/leaflet-1.9.4/images/marker-shadow.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
];

const INDEX_HTML: &[u8] = include_bytes!("../../static/index.html");
/// The duty officer's page (issue 13): proposals, review, decisions, audit trail.
const OPS_HTML: &[u8] = include_bytes!("../../static/ops.html");

/// The URL paths of the page's files (for tests and the page-weight report).
pub fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// A file ready to serve: its bytes, headers and strong ETag.
struct Served {
    body: &'static [u8],
    content_type: &'static str,
    cache_control: &'static str,
    etag: HeaderValue,
    /// Extra headers (the page's Content-Security-Policy).
    extra: Vec<(header::HeaderName, HeaderValue)>,
}

impl Served {
    fn new(body: &'static [u8], content_type: &'static str, cache_control: &'static str) -> Self {
        Served {
            body,
            content_type,
            cache_control,
            etag: etag_of(body),
            extra: Vec::new(),
        }
    }

    /// 200 with the body, or 304 when `If-None-Match` names the current ETag (RFC 9110
    /// §13.1.2: weak comparison, `*` matches any).
    fn respond(&self, request: &HeaderMap) -> Response {
        let fresh = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t.as_bytes() == self.etag.as_bytes());
        let mut resp = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = self.body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            r
        };
        let h = resp.headers_mut();
        h.insert(header::ETAG, self.etag.clone());
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(self.cache_control),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        for (k, v) in &self.extra {
            h.insert(k.clone(), v.clone());
        }
        resp
    }
}

/// A strong ETag: the first 128 bits of the body's SHA-256, hex, quoted. Computed once
/// when the router is built, so it changes exactly when the compiled-in file does.
fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex = hex::encode(&digest[..16]);
    // Hex digits and quotes are always valid header characters: the fallback is never taken.
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The page's Content-Security-Policy: scripts, styles, data and images from this service
/// only (plus the configured tile server's origin for images), so a page that tried to
/// reach a CDN or an internet tile server by mistake would be stopped by the browser
/// itself, not merely go unnoticed.
fn content_security_policy(map: &MapConfig) -> String {
    let tiles = map
        .tile_url
        .as_deref()
        .and_then(tile_source)
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{tiles}; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
}

/// The CSP source expression for a tile URL template: its scheme and host (`{s}` as a
/// `*.` wildcard label), or just the scheme when the host is templated otherwise.
fn tile_source(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let host = rest.split('/').next().unwrap_or("");
    let host = host.replace("{s}", "*");
    let ok = !host.is_empty()
        && !host.starts_with('.')
        && host
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphanumeric() || ".-:[]".contains(c) || (c == '*' && i == 0));
    Some(if ok {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}:")
    })
}

/// The `q` of a media range in an Accept header (RFC 9110 §12.5.1), 1 when absent.
fn quality(params: &str) -> f32 {
    params
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
        .find_map(|q| q.trim().parse::<f32>().ok())
        .unwrap_or(1.0)
        .clamp(0.0, 1.0)
}

/// True when the Accept header prefers HTML to JSON. HTML counts only when named
/// (`text/html`, `application/xhtml+xml`, `text/*`); JSON also through `application/*`
/// and `*/*`. So a browser (`text/html,...,*/*;q=0.8`) gets the map, while curl (`*/*`),
/// GDAL's OAPIF driver (`application/json`) and a client that sends no Accept keep the
/// JSON landing page they had before the map existed; a tie goes to JSON.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let mut html = 0.0f32;
    let mut json = 0.0f32;
    for value in headers.get_all(header::ACCEPT).iter() {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let (media, params) = range.split_once(';').unwrap_or((range, ""));
            let q = quality(params);
            match media.trim().to_ascii_lowercase().as_str() {
                "text/html" | "application/xhtml+xml" | "text/*" => html = html.max(q),
                "application/json" | "application/geo+json" | "application/*" | "*/*" => {
                    json = json.max(q)
                }
                _ => {}
            }
        }
    }
    html > 0.0 && html > json
}

/// Which representation of `/` the query asks for: `Some(true)` for `f=html`,
/// `Some(false)` for any other `f`, `None` when there is no (readable) `f`.
fn format_parameter(uri: &Uri) -> Option<bool> {
    let Query(pairs): Query<Vec<(String, String)>> = Query::try_from_uri(uri).ok()?;
    pairs
        .iter()
        .find(|(k, _)| k == "f")
        .map(|(_, v)| matches!(v.as_str(), "html" | "text/html"))
}

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
    use axum::http::Request;
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
    fn the_page_and_its_assets_weigh_less_than_a_megabyte_uncompressed() {
        // Issue 6: under 1 MB compressed before data; uncompressed is the stricter bound,
        // and it holds without any compression on the server.
        let total: usize = INDEX_HTML.len() + ASSETS.iter().map(|a| a.body.len()).sum::<usize>();
        eprintln!("page + assets: {total} bytes");
        assert!(total < 1_000_000, "{total} bytes");
    }

    #[test]
    fn the_map_config_is_json_with_no_tiles_by_default() {
        let (s, h, body) = get("/api/map-config", &[]);
        assert_eq!(s, StatusCode::OK);
        assert_eq!(content_type(&h), "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["tile_url"].is_null());
    }

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn a_browser_prefers_html_and_gis_clients_prefer_json() {
        // Chromium's and Firefox's navigation Accept headers.
        assert!(prefers_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"
        )));
        assert!(prefers_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!prefers_html(&accept("*/*")));
        assert!(!prefers_html(&accept("application/json")));
        assert!(!prefers_html(&HeaderMap::new()));
        assert!(!prefers_html(&accept("application/json, text/html")));
        assert!(!prefers_html(&accept("text/html;q=0.5, application/json")));
        assert!(prefers_html(&accept("application/json;q=0.5, text/html")));
        assert!(!prefers_html(&accept("text/html;q=0")));
    }

    #[test]
    fn the_format_parameter_overrides_the_accept_header() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(format_parameter(&u("/?f=html")), Some(true));
        assert_eq!(format_parameter(&u("/?f=json")), Some(false));
        assert_eq!(format_parameter(&u("/?event=x&f=text%2Fhtml")), Some(true));
        assert_eq!(format_parameter(&u("/?event=x")), None);
        assert_eq!(format_parameter(&u("/")), None);
    }

    #[test]
    fn the_csp_admits_the_tile_servers_origin_and_nothing_else() {
        let none = content_security_policy(&MapConfig::default());
        assert!(none.contains("img-src 'self';"), "{none}");
        assert!(none.contains("connect-src 'self'"), "{none}");
        let osm = MapConfig {
            tile_url: Some("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png".into()),
            ..MapConfig::default()
        };
        assert!(
            content_security_policy(&osm)
                .contains("img-src 'self' https://*.tile.openstreetmap.org;")
        );
        assert_eq!(
            tile_source("http://10.0.0.5:8081/tiles/{z}/{x}/{y}.png").as_deref(),
            Some("http://10.0.0.5:8081")
        );
        assert_eq!(
            tile_source("https://{a-c}.example.org/{z}/{x}/{y}.png").as_deref(),
            Some("https:")
        );
        assert_eq!(tile_source("javascript:alert(1)"), None);
    }

    #[test]
    fn an_unchanged_asset_is_a_304_with_its_etag() {
        let s = Served::new(b"body", "text/plain", REVALIDATE);
        let first = s.respond(&HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers().get(header::ETAG).unwrap().clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag.clone());
        let again = s.respond(&h);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers().get(header::ETAG), Some(&etag));
        let mut other = HeaderMap::new();
        other.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"stale\""));
        assert_eq!(s.respond(&other).status(), StatusCode::OK);
    }
}
