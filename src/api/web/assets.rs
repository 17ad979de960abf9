//! The files compiled into the binary (the pages, their scripts and styles, the vendored
//! Leaflet) and how one is served: content type, Cache-Control, strong ETag and 304s.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Revalidate every time (a 304 when unchanged): the page and its script change with each
/// release of aviso, and the release has no version in the path.
pub(super) const REVALIDATE: &str = "no-cache";
/// Vendored files live under a versioned path (`leaflet-1.9.4/`): a new version is a new
/// URL, so they can be cached for a year and never revalidated (RFC 8246 `immutable`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One file compiled into the binary.
pub(super) struct Asset {
    /// URL path under the service root.
    pub(super) path: &'static str,
    pub(super) body: &'static [u8],
    pub(super) content_type: &'static str,
    pub(super) cache_control: &'static str,
}

/// The page's files. Leaflet 1.9.4 is the npm package's `dist/` (BSD-2-Clause; licence and
/// checksums in static/vendor/README.md). Its marker images are kept although the page
/// draws circle markers: `L.marker` and the layers control read them from the CSS.
pub(super) const ASSETS: &[Asset] = &[
    Asset {
        path: "/static/ops.js",
        body: include_bytes!("../../../static/ops.js"),
        content_type: "text/javascript; charset=utf-8",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/ops.css",
        body: include_bytes!("../../../static/ops.css"),
        content_type: "text/css; charset=utf-8",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/app.js",
        body: include_bytes!("../../../static/app.js"),
        content_type: "text/javascript; charset=utf-8",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/app.css",
        body: include_bytes!("../../../static/app.css"),
        content_type: "text/css; charset=utf-8",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/favicon.svg",
        body: include_bytes!("../../../static/favicon.svg"),
        content_type: "image/svg+xml",
        cache_control: REVALIDATE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/leaflet.js",
        body: include_bytes!("../../../static/vendor/leaflet-1.9.4/leaflet.js"),
        content_type: "text/javascript; charset=utf-8",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/leaflet.css",
        body: include_bytes!("../../../static/vendor/leaflet-1.9.4/leaflet.css"),
        content_type: "text/css; charset=utf-8",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/LICENSE",
        body: include_bytes!("../../../static/vendor/leaflet-1.9.4/LICENSE"),
        content_type: "text/plain; charset=utf-8",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/layers.png",
        body: include_bytes!("../../../static/vendor/leaflet-1.9.4/images/layers.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/layers-2x.png",
        body: include_bytes!("../../../static/vendor/leaflet-1.9.4/images/layers-2x.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/marker-icon.png",
        body: include_bytes!("../../../static/vendor/leaflet-1.9.4/images/marker-icon.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/marker-icon-2x.png",
        body: include_bytes!("../../../static/vendor/leaflet-1.9.4/images/marker-icon-2x.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
    Asset {
        path: "/static/vendor/leaflet-1.9.4/images/marker-shadow.png",
        body: include_bytes!("../../../static/vendor/leaflet-1.9.4/images/marker-shadow.png"),
        content_type: "image/png",
        cache_control: IMMUTABLE,
    },
];

pub(super) const INDEX_HTML: &[u8] = include_bytes!("../../../static/index.html");
/// The duty officer's page (issue 13): proposals, review, decisions, audit trail.
pub(super) const OPS_HTML: &[u8] = include_bytes!("../../../static/ops.html");

/// The URL paths of the page's files (for tests and the page-weight report).
pub fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// A file ready to serve: its bytes, headers and strong ETag.
pub(super) struct Served {
    body: &'static [u8],
    content_type: &'static str,
    cache_control: &'static str,
    etag: HeaderValue,
    /// Extra headers (the page's Content-Security-Policy).
    pub(super) extra: Vec<(header::HeaderName, HeaderValue)>,
}

impl Served {
    pub(super) fn new(
        body: &'static [u8],
        content_type: &'static str,
        cache_control: &'static str,
    ) -> Self {
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
    pub(super) fn respond(&self, request: &HeaderMap) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_weigh_less_than_a_megabyte_uncompressed() {
        // Issue 6: under 1 MB compressed before data; uncompressed is the stricter bound,
        // and it holds without any compression on the server.
        let total: usize = INDEX_HTML.len() + ASSETS.iter().map(|a| a.body.len()).sum::<usize>();
        eprintln!("page + assets: {total} bytes");
        assert!(total < 1_000_000, "{total} bytes");
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
