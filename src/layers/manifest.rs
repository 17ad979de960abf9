//! The layer manifest: a TOML file saying which reference layers to load, where they are,
//! what their fields mean, and their licence and source.
//!
//! Parsed raw (serde, unknown keys rejected), then validated once into [`Manifest`] with
//! every path resolved. Reads only the manifest file itself and never opens a layer; must
//! not depend on the readers, GDAL or anything past the domain types. Every key is
//! documented in layers/README.md.
//!
//! Over 600 lines because the manifest's schema, path resolution and checks are together;
//! issue 16 move 5 splits the checks from the schema.

use crate::geodata::normalise_crs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::LayerError;
use super::hxl::TagPattern;
use crate::domain::PointKind;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    data_dir: Option<String>,
    #[serde(default, rename = "layer")]
    layers: Vec<RawLayer>,
    #[serde(default, rename = "flood_impact")]
    flood_impacts: Vec<RawFloodImpact>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFloodImpact {
    station: String,
    districts: Option<Vec<String>>,
    polygon: Option<String>,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: String,
    kind: LayerKind,
    path: String,
    format: Option<Format>,
    gdal_layer: Option<String>,
    crs: Option<String>,
    licence: String,
    source: String,
    caveat: Option<String>,
    population_source: Option<String>,
    #[serde(default)]
    invalid_numbers: InvalidNumbers,
    #[serde(default)]
    fields: Fields,
}

/// Reads and validates a manifest; `data_dir` comes from `AVISO_DATA_DIR` when that is set
/// and non-empty, else from the manifest (relative to its folder).
pub fn load_manifest(path: &Path) -> Result<Manifest, LayerError> {
    let from_env = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty());
    load_manifest_with(path, from_env.as_deref().map(Path::new))
}

/// Like [`load_manifest`], with an explicit `data_dir` override (a `--data-dir` flag, a
/// test) instead of the environment.
pub fn load_manifest_with(
    path: &Path,
    data_dir_override: Option<&Path>,
) -> Result<Manifest, LayerError> {
    let fail = |message: String| LayerError::Manifest {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let raw: RawManifest = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let manifest_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let data_dir = match (data_dir_override, raw.data_dir.as_deref()) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(dir)) => manifest_dir.join(dir),
        (None, None) => manifest_dir.to_path_buf(),
    };
    let mut layers: Vec<LayerSpec> = Vec::with_capacity(raw.layers.len());
    for raw_layer in raw.layers {
        let spec = validate_layer(raw_layer, manifest_dir, &data_dir).map_err(&fail)?;
        if layers.iter().any(|l| l.name == spec.name) {
            return Err(fail(format!("two layers are named '{}'", spec.name)));
        }
        layers.push(spec);
    }
    for (kind, exactly_one) in [
        (LayerKind::Country, true),
        (LayerKind::Provinces, true),
        (LayerKind::Districts, true),
        (LayerKind::DistrictPopulation, false),
        (LayerKind::PopulationGrid, false),
        (LayerKind::RiverBasins, false),
        (LayerKind::RiverLines, false),
    ] {
        let n = layers.iter().filter(|l| l.kind == kind).count();
        if n > 1 || (exactly_one && n == 0) {
            let expected = if exactly_one {
                "exactly one"
            } else {
                "at most one"
            };
            return Err(fail(format!(
                "expected {expected} layer of kind {}, found {n}",
                kind.as_str()
            )));
        }
    }
    let mut flood_impacts: Vec<FloodImpactSpec> = Vec::with_capacity(raw.flood_impacts.len());
    for raw_impact in raw.flood_impacts {
        let spec = validate_flood_impact(raw_impact, manifest_dir, &data_dir).map_err(&fail)?;
        if flood_impacts.iter().any(|f| f.station == spec.station) {
            return Err(fail(format!(
                "two [[flood_impact]] entries for station {:?}; expected one per station",
                spec.station
            )));
        }
        flood_impacts.push(spec);
    }
    Ok(Manifest {
        path: path.to_path_buf(),
        data_dir,
        layers,
        flood_impacts,
    })
}

fn validate_flood_impact(
    raw: RawFloodImpact,
    manifest_dir: &Path,
    data_dir: &Path,
) -> Result<FloodImpactSpec, String> {
    let station = raw.station.trim().to_string();
    if station.is_empty() {
        return Err(
            "[[flood_impact]]: station is empty; expected a station id such as \"41\"".into(),
        );
    }
    let here = |m: &str| format!("[[flood_impact]] station {station:?}: {m}");
    let area = match (raw.districts, raw.polygon) {
        (Some(d), None) => {
            let d: Vec<String> = d.iter().map(|p| p.trim().to_string()).collect();
            if d.is_empty() || d.iter().any(String::is_empty) {
                return Err(here("districts is empty or holds an empty P-code"));
            }
            FloodImpactArea::Districts(d)
        }
        (None, Some(p)) if !p.trim().is_empty() => FloodImpactArea::Polygon {
            path: resolve(&p, manifest_dir, data_dir),
            path_in_manifest: p,
        },
        (None, Some(_)) => return Err(here("polygon is empty; expected a file path")),
        (Some(_), Some(_)) => {
            return Err(here(
                "set either districts (P-codes) or polygon (a file), not both",
            ));
        }
        (None, None) => {
            return Err(here(
                "expected districts = [\"MZ...\"] (P-codes) or polygon = \"file\"",
            ));
        }
    };
    Ok(FloodImpactSpec {
        station,
        area,
        note: raw.note,
    })
}

fn validate_layer(
    raw: RawLayer,
    manifest_dir: &Path,
    data_dir: &Path,
) -> Result<LayerSpec, String> {
    let name = raw.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "layer name '{name}': expected letters, digits, '_' or '-' only (it becomes an \
             OGC API collection id; dots and spaces break clients such as QGIS)"
        ));
    }
    let here = |message: String| format!("layer '{name}': {message}");
    let format = match raw.format {
        Some(f) => f,
        None => Format::from_extension(&raw.path).ok_or_else(|| {
            here(format!(
                "cannot infer the format of '{}' from its extension: set format = \"geojson\", \
                 \"csv_hxl\", \"csv\" or \"gdal\"",
                raw.path
            ))
        })?,
    };
    let crs = match raw.crs.as_deref() {
        None => "EPSG:4326".to_string(),
        Some(given) => normalise_crs(given).map(str::to_string).ok_or_else(|| {
            here(format!(
                "crs \"{given}\" is not accepted: layers must be in EPSG:4326 or OGC:CRS84 \
                 (WGS 84 longitude/latitude). Reproject the file first, e.g. \
                 `ogr2ogr -t_srs EPSG:4326 out.gpkg {}`, and declare crs = \"EPSG:4326\"",
                raw.path
            ))
        })?,
    };
    if (raw.kind == LayerKind::PopulationGrid) != (format == Format::Raster) {
        return Err(here(format!(
            "kind {} with format {format:?}: kind population_grid goes with format \"raster\" \
             (a single-band GeoTIFF or other GDAL raster in EPSG:4326), and only it",
            raw.kind.as_str()
        )));
    }
    if raw.kind == LayerKind::RiverBasins && format != Format::Geojson {
        return Err(here(format!(
            "kind river_basins is read as GeoJSON only, found format {format:?}; convert it: \
             `ogr2ogr -f GeoJSON basins.geojson {}`",
            raw.path
        )));
    }
    if raw.kind == LayerKind::RiverLines && format.is_table() {
        return Err(here(format!(
            "kind river_lines needs lines, which a CSV cannot hold: use geojson or gdal \
             (GeoPackage, Shapefile ...), found format {format:?}"
        )));
    }
    if raw.kind.is_area() && format.is_table() {
        return Err(here(format!(
            "kind {} needs polygons, which a CSV cannot hold: use geojson or gdal",
            raw.kind.as_str()
        )));
    }
    if raw.gdal_layer.is_some() && format != Format::Gdal {
        return Err(here("gdal_layer is only for format = \"gdal\"".to_string()));
    }
    if raw.population_source.is_some() && raw.kind != LayerKind::DistrictPopulation {
        return Err(here(
            "population_source is only for kind = \"district_population\"".to_string(),
        ));
    }
    let (allowed, required) = raw.kind.field_rules(format);
    for (field, _) in raw.fields.configured() {
        if !allowed.contains(&field) {
            let why = if matches!(field, Field::Lon | Field::Lat) && raw.kind.point_kind().is_some()
            {
                " (geojson and gdal points take their position from the geometry; lon/lat are \
                 for csv layers)"
            } else {
                ""
            };
            return Err(here(format!(
                "fields.{} has no meaning for kind {}{why}; allowed: {}",
                field.key(),
                raw.kind.as_str(),
                list_keys(allowed)
            )));
        }
    }
    for field in required {
        if raw.fields.get(*field).is_none() {
            return Err(here(format!(
                "kind {} needs fields.{} (required: {})",
                raw.kind.as_str(),
                field.key(),
                list_keys(required)
            )));
        }
    }
    if format == Format::CsvHxl {
        for (field, pattern) in raw.fields.configured() {
            TagPattern::parse(pattern)
                .map_err(|e| here(format!("fields.{} = \"{pattern}\": {e}", field.key())))?;
        }
    }
    Ok(LayerSpec {
        path: resolve(&raw.path, manifest_dir, data_dir),
        path_in_manifest: raw.path,
        name,
        kind: raw.kind,
        format,
        gdal_layer: raw.gdal_layer,
        crs,
        licence: raw.licence,
        source: raw.source,
        caveat: raw.caveat,
        population_source: raw.population_source,
        invalid_numbers: raw.invalid_numbers,
        fields: raw.fields,
    })
}

fn list_keys(fields: &[Field]) -> String {
    if fields.is_empty() {
        return "none".to_string();
    }
    fields
        .iter()
        .map(|f| f.key())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Absolute paths stay; `./x` and `../x` are relative to the manifest's folder (files that
/// ship beside the manifest); anything else is under `data_dir`.
fn resolve(path: &str, manifest_dir: &Path, data_dir: &Path) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else if path.starts_with("./") || path.starts_with("../") {
        manifest_dir.join(p)
    } else {
        data_dir.join(p)
    }
}
