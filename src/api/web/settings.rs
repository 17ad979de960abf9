//! `[map]` (the optional tile basemap and its checks) and the page's view of it,
//! served at `/api/map-config`.

use serde::{Deserialize, Serialize};

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
