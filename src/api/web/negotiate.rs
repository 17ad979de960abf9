//! Content negotiation of `/`: the Accept header's preference and the `f` parameter.

use axum::extract::Query;
use axum::http::{HeaderMap, Uri, header};

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
pub(super) fn format_parameter(uri: &Uri) -> Option<bool> {
    let Query(pairs): Query<Vec<(String, String)>> = Query::try_from_uri(uri).ok()?;
    pairs
        .iter()
        .find(|(k, _)| k == "f")
        .map(|(_, v)| matches!(v.as_str(), "html" | "text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
}
