//! River-flood forecast types: forecast stations with discharge thresholds, the ensemble
//! forecast per station and valid day, river basins and river centre-lines.
//!
//! Pure data. Must not depend on I/O, feeds, hazard or alerts. Discharges are m³/s
//! (`_m3s`); geometry is EPSG:4326 lon/lat.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use geo::{MultiLineString, MultiPolygon};
use serde::{Deserialize, Serialize};

/// The three discharge thresholds of a station, lowest first. In GloFAS-based products they
/// are return-period flows (about 2, 5 and 20 years); the shared files call them bankfull,
/// moderate and severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FloodLevel {
    Bankfull,
    Moderate,
    Severe,
}

impl FloodLevel {
    pub const ALL: [FloodLevel; 3] = [
        FloodLevel::Bankfull,
        FloodLevel::Moderate,
        FloodLevel::Severe,
    ];

    pub fn name_en(self) -> &'static str {
        match self {
            FloodLevel::Bankfull => "bankfull",
            FloodLevel::Moderate => "moderate",
            FloodLevel::Severe => "severe",
        }
    }

    pub fn name_pt(self) -> &'static str {
        match self {
            FloodLevel::Bankfull => "margens cheias",
            FloodLevel::Moderate => "cheia moderada",
            FloodLevel::Severe => "cheia severa",
        }
    }
}

/// One value per threshold.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ByLevel<T> {
    pub bankfull: T,
    pub moderate: T,
    pub severe: T,
}

impl<T: Copy> ByLevel<T> {
    pub fn get(&self, level: FloodLevel) -> T {
        match level {
            FloodLevel::Bankfull => self.bankfull,
            FloodLevel::Moderate => self.moderate,
            FloodLevel::Severe => self.severe,
        }
    }

    pub fn set(&mut self, level: FloodLevel, value: T) {
        match level {
            FloodLevel::Bankfull => self.bankfull = value,
            FloodLevel::Moderate => self.moderate = value,
            FloodLevel::Severe => self.severe = value,
        }
    }
}

/// A forecast point on a river.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodStation {
    /// The station id as written in the files (e.g. "41").
    pub id: String,
    pub name: String,
    pub river: String,
    pub lon: f64,
    pub lat: f64,
    /// Discharge thresholds, m³/s; bankfull ≤ moderate ≤ severe (checked by the parser).
    pub thresholds_m3s: ByLevel<f64>,
}

/// The ensemble forecast of one station for one valid day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StationForecast {
    pub station_id: String,
    pub valid_date: NaiveDate,
    /// Ensemble size as the probabilities file states it.
    pub total_members: u32,
    /// (member number, discharge m³/s), sorted by member; empty when no discharge file was
    /// given.
    pub member_discharges_m3s: Vec<(u32, f64)>,
    /// Members whose discharge exceeds each threshold (strictly greater).
    pub exceeding: ByLevel<u32>,
    /// Share of members exceeding each threshold, 0..=1.
    pub probability: ByLevel<f64>,
}

impl StationForecast {
    /// Median member discharge (m³/s), when members are known.
    pub fn median_discharge_m3s(&self) -> Option<f64> {
        let mut v: Vec<f64> = self.member_discharges_m3s.iter().map(|m| m.1).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let mid = v.get(n / 2).copied()?;
        if n % 2 == 1 {
            Some(mid)
        } else {
            v.get(n / 2 - 1).map(|lo| (lo + mid) / 2.0)
        }
    }
}

/// A whole issuance: stations and, per station and valid day, the ensemble forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodForecast {
    pub issue_date: NaiveDate,
    pub stations: Vec<FloodStation>,
    /// Sorted by station (in station-file order) then valid date.
    pub days: Vec<StationForecast>,
    /// Where each part came from (file paths or URLs).
    pub origins: FloodOrigins,
}

impl FloodForecast {
    pub fn station(&self, id: &str) -> Option<&FloodStation> {
        self.stations.iter().find(|s| s.id == id)
    }

    pub fn days_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a StationForecast> + 'a {
        self.days.iter().filter(move |d| d.station_id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FloodOrigins {
    pub stations: String,
    pub probabilities: String,
    pub discharge: Option<String>,
}

/// A river basin polygon (EPSG:4326).
#[derive(Debug, Clone, PartialEq)]
pub struct RiverBasin {
    pub name: String,
    pub geometry: MultiPolygon<f64>,
    /// Geodesic area, km².
    pub area_km2: f64,
}

/// A river centre-line (EPSG:4326) of the layers manifest's `river_lines` layer: where a
/// station's flood is cut to a buffer of its river (`flood.river_buffer_km`).
#[derive(Debug, Clone, PartialEq)]
pub struct RiverLine {
    /// The river's name when the layer names its lines (`fields.name`): "Limpopo",
    /// "Rio Limpopo". `None` for unnamed lines (HydroRIVERS has no names).
    pub name: Option<String>,
    pub geometry: MultiLineString<f64>,
}

/// A value of a flood-extent polygon's attribute (depth or class), as the file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExtentValue {
    Number(f64),
    Text(String),
}

impl std::fmt::Display for ExtentValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Integral numbers without ".0": a class coded 3 reads "3" like the text "3".
            ExtentValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => write!(f, "{n:.0}"),
            ExtentValue::Number(n) => write!(f, "{n}"),
            ExtentValue::Text(s) => f.write_str(s),
        }
    }
}

/// One polygon feature of a flood-extent file (a satellite or model product), as read:
/// EPSG:4326, checked valid by the reader.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtentFeature {
    /// Position in the file, 0-based (what error messages name).
    pub index: usize,
    /// The feature's own id (GeoJSON `id`, GDAL FID), for messages and the document.
    pub id: Option<String>,
    pub geometry: MultiPolygon<f64>,
    /// The configured depth or class attribute; `None` when no attribute is configured or
    /// the feature's value is null.
    pub value: Option<ExtentValue>,
}

/// A whole flood-extent file as read.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodExtentInput {
    /// The file (path or URL), for messages and the alert's metadata.
    pub origin: String,
    /// The attribute read into [`ExtentFeature::value`], if any.
    pub field: Option<String>,
    pub features: Vec<ExtentFeature>,
}

/// A station's impact area set by hand (layers manifest `[[flood_impact]]`), replacing
/// the default basin-downstream rule.
#[derive(Debug, Clone, PartialEq)]
pub enum StationImpact {
    /// These districts (ADM2 P-codes), whole.
    Districts(Vec<String>),
    /// This area (EPSG:4326): the districts it overlaps, by the share inside.
    Polygon {
        /// The file it was read from, for the alert's notes.
        origin: String,
        geometry: MultiPolygon<f64>,
    },
}

/// What the station rules of a flood assessment read: the basins, the river lines and the
/// per-station impact areas of the layers manifest, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct StationGeography<'a> {
    pub basins: &'a [RiverBasin],
    /// Empty when the manifest has no `river_lines` layer (the river rule is then off).
    pub rivers: &'a [RiverLine],
    /// `[[flood_impact]]` areas by station id.
    pub impacts: &'a BTreeMap<String, StationImpact>,
}
