//! The layer manifest: a TOML file saying which reference layers to load, where they are,
//! what their fields mean, and their licence and source.
//!
//! Parsed raw (serde, unknown keys rejected), then validated once into [`Manifest`] with
//! every path resolved. Reads only the manifest file itself and never opens a layer; must
//! not depend on the readers, GDAL or anything past the domain types. Every key is
//! documented in layers/README.md.
//!
//! The schema (what a validated manifest holds) is here; reading, checking and resolving
//! paths are in `load.rs`.

mod load;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::hxl::TagPattern;
use crate::domain::PointKind;
pub use load::{load_manifest, load_manifest_with};

/// Environment variable that, when set and non-empty, replaces the manifest's `data_dir`
/// (so one manifest serves a checkout, a container and a test machine).
pub const DATA_DIR_ENV: &str = "AVISO_DATA_DIR";

/// A validated manifest: every layer's file path resolved, format known, fields checked
/// against what its kind needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest file as given.
    pub path: PathBuf,
    /// Where relative layer paths are looked up.
    pub data_dir: PathBuf,
    pub layers: Vec<LayerSpec>,
    /// Per-station flood impact areas (`[[flood_impact]]`), replacing the default
    /// basin-downstream rule for those stations.
    pub flood_impacts: Vec<FloodImpactSpec>,
}

/// One `[[flood_impact]]`: where a river station's flood goes.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodImpactSpec {
    /// The station id as the forecast files write it ("41").
    pub station: String,
    pub area: FloodImpactArea,
    /// Why this area (who decided it, from which study): shown in the alert's notes.
    pub note: Option<String>,
}

/// A station's impact area as the manifest gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum FloodImpactArea {
    /// District P-codes (ADM2), taken whole.
    Districts(Vec<String>),
    /// A polygon file (GeoJSON, or any vector format GDAL reads), EPSG:4326; resolved like
    /// layer paths.
    Polygon {
        path: PathBuf,
        path_in_manifest: String,
    },
}

impl Manifest {
    /// The single layer of `kind` (validation guarantees one for country, provinces and
    /// districts).
    pub fn layer_of_kind(&self, kind: LayerKind) -> Option<&LayerSpec> {
        self.layers.iter().find(|l| l.kind == kind)
    }
}

/// One `[[layer]]` entry, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// Identifier: letters, digits, `_` and `-` only (it becomes an OGC API collection id,
    /// and QGIS breaks on dotted ids).
    pub name: String,
    pub kind: LayerKind,
    /// The file, resolved against `data_dir` or the manifest's folder.
    pub path: PathBuf,
    /// The path exactly as written in the manifest (shown to users; no server layout).
    pub path_in_manifest: String,
    pub format: Format,
    /// For GDAL sources holding several layers (a GeoPackage with adm0/adm1/adm2).
    pub gdal_layer: Option<String>,
    /// Normalised CRS name: "EPSG:4326" or "OGC:CRS84" (both WGS 84 longitude/latitude).
    pub crs: String,
    pub licence: String,
    pub source: String,
    pub caveat: Option<String>,
    /// Label of the population figures (district_population only), e.g. "INE projection
    /// 2025"; defaults to the layer name.
    pub population_source: Option<String>,
    pub invalid_numbers: InvalidNumbers,
    pub fields: Fields,
}

/// What a layer holds, which decides how it is loaded and used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    Country,
    Provinces,
    Districts,
    DistrictPopulation,
    ResettlementSite,
    IdpSite,
    AccommodationCentre,
    HealthFacility,
    Settlement,
    /// A gridded population count (single-band raster, EPSG:4326, `format = "raster"`).
    /// Opened lazily at first use; it replaces the settlement-weighted estimate.
    PopulationGrid,
    /// River-basin polygons (GeoJSON; `fields.name` names the basin), the ground of the
    /// default flood impact areas. Read by the flood path only, not by `load_layers`.
    RiverBasins,
    /// River centre-lines (LineString/MultiLineString, GeoJSON or any vector format GDAL
    /// reads; optional `fields.name` naming the river): a station's flood footprint is
    /// cut to a buffer of them (`flood.river_buffer_km`). Read by the flood path only.
    RiverLines,
}

impl LayerKind {
    /// The point kind, for point layers.
    pub fn point_kind(self) -> Option<PointKind> {
        match self {
            LayerKind::ResettlementSite => Some(PointKind::ResettlementSite),
            LayerKind::IdpSite => Some(PointKind::IdpSite),
            LayerKind::AccommodationCentre => Some(PointKind::AccommodationCentre),
            LayerKind::HealthFacility => Some(PointKind::HealthFacility),
            LayerKind::Settlement => Some(PointKind::Settlement),
            LayerKind::Country
            | LayerKind::Provinces
            | LayerKind::Districts
            | LayerKind::DistrictPopulation
            | LayerKind::PopulationGrid
            | LayerKind::RiverBasins
            | LayerKind::RiverLines => None,
        }
    }

    /// True for polygon layers (country, provinces, districts).
    pub fn is_area(self) -> bool {
        matches!(
            self,
            LayerKind::Country | LayerKind::Provinces | LayerKind::Districts
        )
    }

    /// The name used in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Country => "country",
            LayerKind::Provinces => "provinces",
            LayerKind::Districts => "districts",
            LayerKind::DistrictPopulation => "district_population",
            LayerKind::ResettlementSite => "resettlement_site",
            LayerKind::IdpSite => "idp_site",
            LayerKind::AccommodationCentre => "accommodation_centre",
            LayerKind::HealthFacility => "health_facility",
            LayerKind::Settlement => "settlement",
            LayerKind::PopulationGrid => "population_grid",
            LayerKind::RiverBasins => "river_basins",
            LayerKind::RiverLines => "river_lines",
        }
    }

    /// Fields this kind may configure, and those it must.
    fn field_rules(self, format: Format) -> (&'static [Field], &'static [Field]) {
        use Field::*;
        const POINT_FIELDS: &[Field] = &[
            Id, Name, Population, Households, Capacity, Subtype, Lon, Lat,
        ];
        const POINT_FIELDS_NO_COORDS: &[Field] =
            &[Id, Name, Population, Households, Capacity, Subtype];
        match self {
            LayerKind::Country | LayerKind::PopulationGrid => (&[], &[]),
            LayerKind::Provinces => (&[Id, Name], &[Id, Name]),
            LayerKind::Districts => (&[Id, Name, ParentId, ParentName], &[Id, Name, ParentId]),
            LayerKind::DistrictPopulation => (&[Id, Population], &[Id, Population]),
            LayerKind::RiverBasins => (&[Name], &[Name]),
            LayerKind::RiverLines => (&[Name], &[]),
            _ if format.is_table() => (POINT_FIELDS, &[Lon, Lat]),
            _ => (POINT_FIELDS_NO_COORDS, &[]),
        }
    }
}

/// How a layer file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// RFC 7946 GeoJSON, read natively.
    Geojson,
    /// CSV with a row of HXL hashtags under the header (IOM DTM convention); fields name
    /// HXL tag patterns.
    CsvHxl,
    /// Plain CSV with one header row; fields name columns.
    Csv,
    /// Any vector source GDAL/OGR opens (GeoPackage, Shapefile, FlatGeobuf, ...).
    Gdal,
    /// A raster GDAL opens (GeoTIFF, VRT, ...): for kind `population_grid` only.
    Raster,
}

impl Format {
    fn is_table(self) -> bool {
        matches!(self, Format::Csv | Format::CsvHxl)
    }

    fn from_extension(path: &str) -> Option<Format> {
        let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "geojson" | "json" => Some(Format::Geojson),
            "csv" => Some(Format::Csv),
            "gpkg" | "shp" | "fgb" | "gml" | "kml" | "sqlite" | "gdb" | "tab" | "mif" => {
                Some(Format::Gdal)
            }
            "tif" | "tiff" | "vrt" | "img" => Some(Format::Raster),
            _ => None,
        }
    }
}

/// What to do with a numeric field (population, households, capacity) that holds text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidNumbers {
    /// Stop loading with an error naming the row/feature and field (the default: a
    /// population silently lost is worse than a refused layer).
    #[default]
    Error,
    /// Treat the value as missing and report it in the warnings (for crowd-sourced
    /// layers such as OpenStreetMap, whose `population` tag sometimes holds a name).
    Skip,
}

/// A role a source field can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Id,
    Name,
    ParentId,
    ParentName,
    Population,
    Households,
    Capacity,
    Subtype,
    Lon,
    Lat,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::Id,
        Field::Name,
        Field::ParentId,
        Field::ParentName,
        Field::Population,
        Field::Households,
        Field::Capacity,
        Field::Subtype,
        Field::Lon,
        Field::Lat,
    ];

    /// The key in `[layer.fields]`.
    pub fn key(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Name => "name",
            Field::ParentId => "parent_id",
            Field::ParentName => "parent_name",
            Field::Population => "population",
            Field::Households => "households",
            Field::Capacity => "capacity",
            Field::Subtype => "subtype",
            Field::Lon => "lon",
            Field::Lat => "lat",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// `[layer.fields]`: which source field (column name, property, or HXL tag pattern for
/// `csv_hxl`) holds each value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    pub id: Option<String>,
    pub name: Option<String>,
    pub parent_id: Option<String>,
    pub parent_name: Option<String>,
    pub population: Option<String>,
    pub households: Option<String>,
    pub capacity: Option<String>,
    pub subtype: Option<String>,
    pub lon: Option<String>,
    pub lat: Option<String>,
}

impl Fields {
    pub fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::Id => self.id.as_deref(),
            Field::Name => self.name.as_deref(),
            Field::ParentId => self.parent_id.as_deref(),
            Field::ParentName => self.parent_name.as_deref(),
            Field::Population => self.population.as_deref(),
            Field::Households => self.households.as_deref(),
            Field::Capacity => self.capacity.as_deref(),
            Field::Subtype => self.subtype.as_deref(),
            Field::Lon => self.lon.as_deref(),
            Field::Lat => self.lat.as_deref(),
        }
    }

    /// The configured fields, in [`Field::ALL`] order.
    pub fn configured(&self) -> impl Iterator<Item = (Field, &str)> + '_ {
        Field::ALL
            .into_iter()
            .filter_map(|f| self.get(f).map(|source| (f, source)))
    }
}
