//! The product's JSON shapes, as serde reads them: unknown members are ignored, missing
//! optional ones are `None`.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub(super) struct RawCollection {
    #[serde(default)]
    pub(super) update_time: Option<String>,
    #[serde(default)]
    pub(super) production_center: Option<String>,
    #[serde(default)]
    pub(super) cyclone_name: Option<String>,
    #[serde(default)]
    pub(super) cyclone_id: Option<String>,
    #[serde(default)]
    pub(super) basin: Option<String>,
    #[serde(default)]
    pub(super) season: Option<Value>,
    #[serde(default)]
    pub(super) reference_time: Option<String>,
    #[serde(default)]
    pub(super) features: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawFeature {
    #[serde(default)]
    pub(super) properties: RawProperties,
    #[serde(default)]
    pub(super) geometry: Option<RawGeometry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawProperties {
    pub(super) data_type: Option<String>,
    pub(super) time: Option<String>,
    pub(super) hour: Option<f64>,
    pub(super) position_accuracy: Option<f64>,
    pub(super) cyclone_data: Option<RawCycloneData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawCycloneData {
    pub(super) development: Option<String>,
    pub(super) minimum_pressure: Option<f64>,
    pub(super) storm_motion: Option<RawMotion>,
    pub(super) last_closed_isobar: Option<RawIsobar>,
    pub(super) maximum_wind: Option<RawMaxWind>,
    pub(super) wind_contours: Vec<RawContour>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawMotion {
    pub(super) speed_kt: Option<f64>,
    pub(super) direction_toward: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawIsobar {
    pub(super) pressure: Option<f64>,
    pub(super) radius: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawMaxWind {
    pub(super) radius: Option<f64>,
    pub(super) wind_speed_kt: Option<f64>,
    pub(super) wind_speed_gust_kt: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawContour {
    pub(super) wind_speed_kt: f64,
    #[serde(default)]
    pub(super) radius: Vec<RawSector>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawSector {
    pub(super) sector: String,
    pub(super) value: f64,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawGeometry {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) coordinates: Value,
}
