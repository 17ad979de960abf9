//! Reference layers the hazard is intersected with: administrative areas (provinces,
//! districts, the country outline) and point layers (sites, accommodation centres, health
//! facilities, settlements).
//!
//! No I/O here; loaders live in `crate::layers`.

use geo::{MultiPolygon, Point};
use serde::{Deserialize, Serialize};

/// What a point layer holds. Decides how it is used: sites are what is at risk;
/// accommodation centres and health facilities may also be where people can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    ResettlementSite,
    IdpSite,
    AccommodationCentre,
    HealthFacility,
    Settlement,
}

impl PointKind {
    /// True for layers whose features can shelter people when safe.
    pub fn is_shelter(self) -> bool {
        matches!(
            self,
            PointKind::AccommodationCentre | PointKind::HealthFacility
        )
    }
    pub fn label_en(self) -> &'static str {
        match self {
            PointKind::ResettlementSite => "resettlement site",
            PointKind::IdpSite => "IDP site",
            PointKind::AccommodationCentre => "accommodation centre",
            PointKind::HealthFacility => "health facility",
            PointKind::Settlement => "settlement",
        }
    }
    pub fn label_pt(self) -> &'static str {
        match self {
            PointKind::ResettlementSite => "centro de reassentamento",
            PointKind::IdpSite => "local de deslocados",
            PointKind::AccommodationCentre => "centro de acomodação",
            PointKind::HealthFacility => "unidade sanitária",
            PointKind::Settlement => "povoação",
        }
    }
}

/// A province or district (OCHA COD-AB), geometry in EPSG:4326.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminArea {
    /// P-code: "MZ07" for a province, "MZ0701" for a district.
    pub pcode: String,
    /// Portuguese name as in the COD.
    pub name: String,
    /// The province's P-code and name, for a district; `None` for a province.
    pub parent_pcode: Option<String>,
    pub parent_name: Option<String>,
    pub geometry: MultiPolygon<f64>,
    /// Geodesic area of `geometry` in km².
    pub area_km2: f64,
    /// Population (district table joined by P-code; provinces sum their districts).
    pub population: Option<f64>,
    /// Which year/source the population is for ("INE projection 2025").
    pub population_source: Option<String>,
}

/// One feature of a point layer, with its district assigned by spatial join.
#[derive(Debug, Clone, PartialEq)]
pub struct PointFeature {
    /// Name of the layer in the manifest.
    pub layer: String,
    pub kind: PointKind,
    /// The feature's id from the configured id field (or `"<layer>-<n>"` when absent).
    pub id: String,
    pub name: String,
    pub location: Point<f64>,
    pub population: Option<f64>,
    pub households: Option<f64>,
    pub capacity: Option<f64>,
    /// District P-code from a point-in-polygon join with the district layer; never from the
    /// feature's own admin codes. `None` when the point lies outside every district.
    pub district_pcode: Option<String>,
    /// Free-text type from the source (e.g. "Centro de Saúde").
    pub subtype: Option<String>,
}

/// Metadata of a loaded layer, echoed in every alert so results can be traced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub source: String,
    pub licence: String,
    pub crs: String,
    pub features: usize,
    /// SHA-256 (hex) of the file as read: a layer version users can compare.
    pub sha256: String,
    /// A warning to show wherever the layer is used (e.g. "proxy, not displacement sites").
    pub caveat: Option<String>,
}

/// A point layer as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct PointLayer {
    pub info: LayerInfo,
    pub kind: PointKind,
    pub features: Vec<PointFeature>,
}

/// Everything the exposure step needs, loaded once.
#[derive(Debug, Clone, PartialEq)]
pub struct Layers {
    /// The country outline (landfall is where the forecast track first enters it).
    pub country: MultiPolygon<f64>,
    pub provinces: Vec<AdminArea>,
    pub districts: Vec<AdminArea>,
    pub points: Vec<PointLayer>,
    pub infos: Vec<LayerInfo>,
}
