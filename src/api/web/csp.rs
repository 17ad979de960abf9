//! The map page's Content-Security-Policy: this service only, plus the tile server's origin.

use super::MapConfig;

/// The page's Content-Security-Policy: scripts, styles, data and images from this service
/// only (plus the configured tile server's origin for images), so a page that tried to
/// reach a CDN or an internet tile server by mistake would be stopped by the browser
/// itself, not merely go unnoticed.
pub(super) fn content_security_policy(map: &MapConfig) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
