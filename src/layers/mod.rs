//! Loads the reference layers a manifest describes (country, provinces, districts,
//! district population, point layers) into [`crate::domain::Layers`].
//!
//! An adapter at the edge: reads files (GeoJSON natively, CSV and HXL CSV, any OGR vector
//! through GDAL behind the `gdal` feature). It depends on the domain types and on
//! [`crate::spatial`], never on hazard, exposure, alerts or any network code.
//!
//! What it guarantees to the core: every geometry is EPSG:4326 lon/lat with coordinates
//! in range and exterior rings counter-clockwise (RFC 7946); areas carry a geodesic
//! `area_km2`; districts carry the population joined by P-code and provinces the sum of
//! theirs; every point carries the district it lies in by point-in-polygon join (never
//! the feature's own admin codes, which use older schemes in some sources).
//!
//! [`flood`] reads the flood inputs kept as files: flood-extent maps (`aviso assess
//! --flood-extent`), the manifest's river basins and per-station impact areas.
//!
//! Over 600 lines because the manifest's layer kinds are built here one by one; issue 16
//! move 5 gives points, areas and population a file each.

pub mod flood;
#[cfg(feature = "gdal")]
mod gdal;
mod geojson;
mod hxl;
pub use hxl::parse_point_table;
pub mod manifest;
mod population;
pub mod register;

use crate::geodata::{geometry_type, parse_count};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use geo::orient::Direction;
use geo::{CoordsIter, GeodesicArea, Geometry, MultiPolygon, Orient, Point};
use sha2::{Digest, Sha256};

use crate::domain::{AdminArea, LayerInfo, Layers, PointFeature, PointLayer};
use crate::spatial::AreaIndex;
pub use manifest::{
    DATA_DIR_ENV, Field, Fields, FloodImpactArea, FloodImpactSpec, Format, InvalidNumbers,
    LayerKind, LayerSpec, Manifest, load_manifest, load_manifest_with,
};

/// Largest layer file accepted: 2 GiB. Reference layers for one country are megabytes
/// (the full-resolution COD-AB GeoPackage is 13 MB); a file past this is a wrong file or
/// one that should be simplified or clipped before serving, and GeoJSON/CSV are read whole
/// into memory.
pub const MAX_LAYER_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Errors while reading a manifest or a layer. Every message names the manifest or the
/// layer and its file, and the row or feature when one is at fault.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error(
        "layer '{layer}': file {path} not found (path from manifest {manifest}; relative \
         paths are under data_dir, or under the manifest's folder when they start with ./)"
    )]
    MissingFile {
        layer: String,
        path: PathBuf,
        manifest: PathBuf,
    },
    #[error("layer '{layer}': cannot read {path}: {source}")]
    Io {
        layer: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "layer '{layer}': {path} is {size_bytes} bytes, over the {limit_bytes}-byte (2 GiB) \
         limit for reference layers; simplify or clip it first (mapshaper -simplify, \
         ogr2ogr -clipsrc)"
    )]
    TooLarge {
        layer: String,
        path: PathBuf,
        size_bytes: u64,
        limit_bytes: u64,
    },
    #[error(
        "layer '{layer}' ({path}): CRS {found} is not accepted; layers must be in EPSG:4326 \
         or OGC:CRS84 (WGS 84 longitude/latitude). Reproject first, e.g. \
         `ogr2ogr -t_srs EPSG:4326 reprojected.gpkg {path}`"
    )]
    Crs {
        layer: String,
        path: PathBuf,
        found: String,
    },
    #[error("layer '{layer}' ({path}), {at}: {message}")]
    Record {
        layer: String,
        path: PathBuf,
        at: String,
        message: String,
    },
    #[error("layer '{layer}' ({path}): {message}")]
    Layer {
        layer: String,
        path: PathBuf,
        message: String,
    },
    #[error("layer '{layer}' ({path}): built without GDAL: rebuild with --features gdal")]
    GdalDisabled { layer: String, path: PathBuf },
}

impl LayerError {
    pub(crate) fn layer(spec: &LayerSpec, message: impl Into<String>) -> Self {
        LayerError::Layer {
            layer: spec.name.clone(),
            path: spec.path.clone(),
            message: message.into(),
        }
    }

    pub(crate) fn record(spec: &LayerSpec, at: String, message: impl Into<String>) -> Self {
        LayerError::Record {
            layer: spec.name.clone(),
            path: spec.path.clone(),
            at,
            message: message.into(),
        }
    }

    pub(crate) fn crs(spec: &LayerSpec, found: impl Into<String>) -> Self {
        LayerError::Crs {
            layer: spec.name.clone(),
            path: spec.path.clone(),
            found: found.into(),
        }
    }
}

/// The layers, plus what the operator should know but that does not stop loading
/// (P-codes that did not join, points outside every district, values skipped).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedLayers {
    pub layers: Layers,
    pub warnings: Vec<String>,
    /// The `population_grid` layer, not opened: its file is read at first use
    /// (`crate::raster::gdal::LazyPopulationGrid`). `None` when the manifest has none or
    /// its file is missing (a warning says so; exposure then uses settlement points).
    pub population_grid: Option<LayerSpec>,
}

/// Where a record sits in its file, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locus {
    /// Index in a GeoJSON `features` array, 0-based.
    Feature(usize),
    /// GDAL feature id.
    #[cfg_attr(not(feature = "gdal"), allow(dead_code))]
    Fid(u64),
    /// Line in a CSV file, 1-based.
    Line(u64),
}

impl fmt::Display for Locus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locus::Feature(i) => write!(f, "feature index {i} (0-based)"),
            Locus::Fid(fid) => write!(f, "feature FID {fid}"),
            Locus::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// One feature or row as read, before it becomes a domain type: the configured fields as
/// text and the geometry if the format has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub at: Locus,
    /// Values indexed by [`Field::index`]; `None` when absent, null or blank.
    pub values: [Option<String>; Field::ALL.len()],
    /// An identifier the source gives outside the configured fields (GeoJSON `id`), for
    /// messages only.
    pub source_id: Option<String>,
    pub geometry: Option<Geometry<f64>>,
}

impl Record {
    pub fn new(at: Locus) -> Self {
        Record {
            at,
            values: Default::default(),
            source_id: None,
            geometry: None,
        }
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.values.get(field.index())?.as_deref()
    }

    pub fn set(&mut self, field: Field, value: Option<String>) {
        let value = value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        if let Some(slot) = self.values.get_mut(field.index()) {
            *slot = value;
        }
    }

    /// "feature index 12 (0-based), id MZ0701" — where, and which, for messages.
    pub fn describe(&self) -> String {
        match self.get(Field::Id).or(self.source_id.as_deref()) {
            Some(id) => format!("{}, id {id}", self.at),
            None => self.at.to_string(),
        }
    }
}

/// The manifest path: the argument itself if it is a file, else DIR/manifest.toml.
pub fn manifest_path(layers: &Path) -> PathBuf {
    if layers.is_dir() {
        layers.join("manifest.toml")
    } else {
        layers.to_path_buf()
    }
}

/// Reads the manifest at `manifest_path` (see [`load_manifest`]) and every layer it lists.
pub fn load_layers(manifest_path: &Path) -> Result<LoadedLayers, LayerError> {
    load_layers_from(&load_manifest(manifest_path)?)
}

/// Loads every layer of an already validated manifest.
///
/// Order: boundaries first (country, provinces, districts), then the population table
/// (joined to districts, summed to provinces), then point layers (joined to districts).
/// The result's `infos` follow the manifest's order.
pub fn load_layers_from(manifest: &Manifest) -> Result<LoadedLayers, LayerError> {
    let mut warnings = Vec::new();
    let mut infos: Vec<(usize, LayerInfo)> = Vec::with_capacity(manifest.layers.len());
    let required = |kind: LayerKind| {
        manifest
            .layer_of_kind(kind)
            .ok_or_else(|| LayerError::Manifest {
                path: manifest.path.clone(),
                message: format!("no layer of kind {}", kind.as_str()),
            })
    };
    let position = |spec: &LayerSpec| {
        manifest
            .layers
            .iter()
            .position(|l| l.name == spec.name)
            .unwrap_or(usize::MAX)
    };

    let spec = required(LayerKind::Country)?;
    let (records, digest) = read_layer(manifest, spec, &mut warnings)?;
    infos.push((position(spec), info(spec, records.len(), digest)));
    let country = build_country(spec, records)?;

    let spec = required(LayerKind::Provinces)?;
    let (records, digest) = read_layer(manifest, spec, &mut warnings)?;
    infos.push((position(spec), info(spec, records.len(), digest)));
    let mut provinces = build_areas(spec, records)?;

    let spec = required(LayerKind::Districts)?;
    let (records, digest) = read_layer(manifest, spec, &mut warnings)?;
    infos.push((position(spec), info(spec, records.len(), digest)));
    let mut districts = build_areas(spec, records)?;
    for d in &districts {
        let parent_known = d
            .parent_pcode
            .as_ref()
            .is_some_and(|p| provinces.iter().any(|prov| &prov.pcode == p));
        if !parent_known {
            warnings.push(format!(
                "layer '{}': district {} ({}) names province {:?}, which is not in layer '{}'",
                spec.name,
                d.pcode,
                d.name,
                d.parent_pcode.as_deref().unwrap_or(""),
                required(LayerKind::Provinces)?.name
            ));
        }
    }

    if let Some(spec) = manifest.layer_of_kind(LayerKind::DistrictPopulation) {
        let (records, digest) = read_layer(manifest, spec, &mut warnings)?;
        infos.push((position(spec), info(spec, records.len(), digest)));
        let table = population::table(spec, records, &mut warnings)?;
        let label = spec.population_source.as_deref().unwrap_or(&spec.name);
        warnings.extend(population::join(
            &spec.name,
            label,
            &table,
            &mut districts,
            &mut provinces,
        ));
    }

    let district_geometries: Vec<MultiPolygon<f64>> =
        districts.iter().map(|d| d.geometry.clone()).collect();
    let district_index = AreaIndex::new(&district_geometries);
    let mut points = Vec::new();
    for spec in &manifest.layers {
        let Some(kind) = spec.kind.point_kind() else {
            continue;
        };
        let (records, digest) = read_layer(manifest, spec, &mut warnings)?;
        let layer_info = info(spec, records.len(), digest);
        infos.push((position(spec), layer_info.clone()));
        let mut features = build_points(spec, kind, records, &mut warnings)?;
        let mut outside = 0usize;
        for feature in &mut features {
            feature.district_pcode = district_index
                .locate(feature.location)
                .and_then(|i| districts.get(i))
                .map(|d| d.pcode.clone());
            outside += usize::from(feature.district_pcode.is_none());
        }
        if outside > 0 {
            warnings.push(format!(
                "layer '{}': {outside} of {} points lie outside every district \
                 (district_pcode left empty)",
                spec.name,
                features.len()
            ));
        }
        points.push(PointLayer {
            info: layer_info,
            kind,
            features,
        });
    }

    // The population grid is only hashed here (in chunks, for LayerInfo); GDAL opens it
    // when exposure first needs it. A missing file is a warning, not a failure: the
    // service keeps running on the settlement method and says so.
    let mut population_grid = None;
    if let Some(spec) = manifest.layer_of_kind(LayerKind::PopulationGrid) {
        match sha256_of_path(&spec.path) {
            Ok(digest) => {
                infos.push((position(spec), info(spec, 0, digest)));
                population_grid = Some(spec.clone());
            }
            Err(e) => warnings.push(format!(
                "layer '{}': cannot read {} ({e}); people at risk fall back to the \
                 settlement method",
                spec.name,
                spec.path.display()
            )),
        }
    }

    infos.sort_by_key(|(i, _)| *i);
    Ok(LoadedLayers {
        population_grid,
        layers: Layers {
            country,
            provinces,
            districts,
            points,
            infos: infos.into_iter().map(|(_, info)| info).collect(),
        },
        warnings,
    })
}

fn info(spec: &LayerSpec, features: usize, sha256: String) -> LayerInfo {
    LayerInfo {
        name: spec.name.clone(),
        kind: spec.kind.as_str().to_string(),
        path: spec.path_in_manifest.clone(),
        source: spec.source.clone(),
        licence: spec.licence.clone(),
        crs: spec.crs.clone(),
        features,
        sha256,
        caveat: spec.caveat.clone(),
    }
}

/// Reads one layer's records and the SHA-256 of its file.
fn read_layer(
    manifest: &Manifest,
    spec: &LayerSpec,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Record>, String), LayerError> {
    let io = |source: std::io::Error| LayerError::Io {
        layer: spec.name.clone(),
        path: spec.path.clone(),
        source,
    };
    let meta = match std::fs::metadata(&spec.path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LayerError::MissingFile {
                layer: spec.name.clone(),
                path: spec.path.clone(),
                manifest: manifest.path.clone(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    if meta.is_file() && meta.len() > MAX_LAYER_FILE_BYTES {
        return Err(LayerError::TooLarge {
            layer: spec.name.clone(),
            path: spec.path.clone(),
            size_bytes: meta.len(),
            limit_bytes: MAX_LAYER_FILE_BYTES,
        });
    }
    match spec.format {
        Format::Raster => Err(LayerError::layer(
            spec,
            "a raster is not read as features (kind population_grid is opened at use)",
        )),
        Format::Geojson | Format::Csv | Format::CsvHxl => {
            let bytes = std::fs::read(&spec.path).map_err(io)?;
            let digest = hex::encode(Sha256::digest(&bytes));
            let records = match spec.format {
                Format::Geojson => geojson::read(spec, &bytes)?,
                Format::CsvHxl => hxl::read_hxl(spec, &bytes)?,
                _ => hxl::read_plain(spec, &bytes)?,
            };
            Ok((records, digest))
        }
        Format::Gdal => {
            let digest = sha256_of_path(&spec.path).map_err(io)?;
            #[cfg(feature = "gdal")]
            {
                Ok((gdal::read(spec, warnings)?, digest))
            }
            #[cfg(not(feature = "gdal"))]
            {
                let _ = (digest, warnings);
                Err(LayerError::GdalDisabled {
                    layer: spec.name.clone(),
                    path: spec.path.clone(),
                })
            }
        }
    }
}

/// SHA-256 of a file read in chunks (GDAL sources are not otherwise loaded into memory);
/// for a directory source (a FileGDB folder) the digest covers its files in name order.
fn sha256_of_path(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut files = if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        entries
    } else {
        vec![path.to_path_buf()]
    };
    let mut buf = vec![0u8; 1 << 16];
    for file in files.drain(..) {
        let mut f = std::fs::File::open(file)?;
        loop {
            let n = f.read(&mut buf)?;
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            hasher.update(chunk);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn build_country(spec: &LayerSpec, records: Vec<Record>) -> Result<MultiPolygon<f64>, LayerError> {
    let mut polygons = Vec::new();
    for record in records {
        let area = area_geometry(spec, &record)?;
        polygons.extend(area.0);
    }
    if polygons.is_empty() {
        return Err(LayerError::layer(
            spec,
            "expected at least one polygon, found none",
        ));
    }
    Ok(MultiPolygon(polygons))
}

fn build_areas(spec: &LayerSpec, records: Vec<Record>) -> Result<Vec<AdminArea>, LayerError> {
    let mut areas: Vec<AdminArea> = Vec::with_capacity(records.len());
    for record in records {
        let geometry = area_geometry(spec, &record)?;
        let required = |field: Field| {
            record.get(field).map(str::to_string).ok_or_else(|| {
                LayerError::record(
                    spec,
                    record.describe(),
                    format!(
                        "field {} ('{}') is empty",
                        field.key(),
                        spec.fields.get(field).unwrap_or("")
                    ),
                )
            })
        };
        let pcode = required(Field::Id)?;
        let name = required(Field::Name)?;
        let parent_pcode = if spec.fields.parent_id.is_some() {
            Some(required(Field::ParentId)?)
        } else {
            None
        };
        if let Some(first) = areas.iter().find(|a| a.pcode == pcode) {
            return Err(LayerError::record(
                spec,
                record.describe(),
                format!("P-code {pcode} appears twice (also for '{}')", first.name),
            ));
        }
        let area_km2 = geometry.geodesic_area_unsigned() / 1e6;
        areas.push(AdminArea {
            pcode,
            name,
            parent_pcode,
            parent_name: record.get(Field::ParentName).map(str::to_string),
            geometry,
            area_km2,
            population: None,
            population_source: None,
        });
    }
    Ok(areas)
}

/// The record's geometry as an oriented MultiPolygon, or an error naming the feature.
fn area_geometry(spec: &LayerSpec, record: &Record) -> Result<MultiPolygon<f64>, LayerError> {
    let fail = |message: String| LayerError::record(spec, record.describe(), message);
    let multi = match &record.geometry {
        Some(Geometry::Polygon(p)) => MultiPolygon(vec![p.clone()]),
        Some(Geometry::MultiPolygon(mp)) => mp.clone(),
        Some(other) => {
            return Err(fail(format!(
                "expected a Polygon or MultiPolygon, found a {}",
                geometry_type(other)
            )));
        }
        None => {
            return Err(fail(
                "expected a Polygon or MultiPolygon, found no geometry".into(),
            ));
        }
    };
    if multi.0.is_empty() || multi.0.iter().all(|p| p.exterior().0.is_empty()) {
        return Err(fail("geometry is empty".into()));
    }
    check_coordinates(&multi).map_err(fail)?;
    // RFC 7946 winding (exterior counter-clockwise) so geodesic areas and later GeoJSON
    // output are right whatever the source used (shapefiles wind clockwise).
    Ok(multi.orient(Direction::Default))
}

fn check_coordinates(geometry: &impl CoordsIter<Scalar = f64>) -> Result<(), String> {
    match geometry
        .coords_iter()
        .find(|c| !(c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 90.0))
    {
        Some(c) => Err(format!(
            "coordinate ({}, {}) is out of range: expected longitude in [-180, 180] and \
             latitude in [-90, 90] (WGS 84, longitude first); is the layer projected or \
             are lon/lat swapped?",
            c.x, c.y
        )),
        None => Ok(()),
    }
}

fn build_points(
    spec: &LayerSpec,
    kind: crate::domain::PointKind,
    records: Vec<Record>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PointFeature>, LayerError> {
    let mut skipped: Vec<String> = Vec::new();
    let mut features = Vec::with_capacity(records.len());
    for (n, record) in records.into_iter().enumerate() {
        let location = point_location(spec, &record)?;
        let mut number = |field: Field| -> Result<Option<f64>, LayerError> {
            match numeric_field(spec, &record, field) {
                Err(e) if spec.invalid_numbers == InvalidNumbers::Skip => {
                    skipped.push(e.to_string());
                    Ok(None)
                }
                other => other,
            }
        };
        let population = number(Field::Population)?;
        let households = number(Field::Households)?;
        let capacity = number(Field::Capacity)?;
        let id = record
            .get(Field::Id)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}-{}", spec.name, n + 1));
        let name = record
            .get(Field::Name)
            .map(str::to_string)
            .unwrap_or_else(|| id.clone());
        features.push(PointFeature {
            layer: spec.name.clone(),
            kind,
            id,
            name,
            location,
            population,
            households,
            capacity,
            district_pcode: None,
            subtype: record.get(Field::Subtype).map(str::to_string),
        });
    }
    if let Some(first) = skipped.first() {
        warnings.push(format!(
            "layer '{}': {} non-numeric values treated as missing (invalid_numbers = \
             \"skip\"); first: {first}",
            spec.name,
            skipped.len()
        ));
    }
    Ok(features)
}

/// A point from the geometry (GeoJSON, GDAL) or from the lon/lat fields (CSV).
fn point_location(spec: &LayerSpec, record: &Record) -> Result<Point<f64>, LayerError> {
    let fail = |message: String| LayerError::record(spec, record.describe(), message);
    let point = match (&record.geometry, spec.fields.lon.is_some()) {
        (Some(Geometry::Point(p)), _) => *p,
        (Some(other), _) => {
            return Err(fail(format!(
                "expected a Point, found a {}",
                geometry_type(other)
            )));
        }
        (None, true) => {
            let coordinate = |field: Field| {
                let source = spec.fields.get(field).unwrap_or("");
                let text = record.get(field).ok_or_else(|| {
                    fail(format!(
                        "field {} ('{source}') is empty: every point needs a position (fill \
                         it in or remove the row)",
                        field.key()
                    ))
                })?;
                parse_coordinate(text).ok_or_else(|| {
                    fail(format!(
                        "field {} ('{source}'): expected a decimal degree, found '{text}'",
                        field.key()
                    ))
                })
            };
            Point::new(coordinate(Field::Lon)?, coordinate(Field::Lat)?)
        }
        (None, false) => return Err(fail("expected a Point, found no geometry".into())),
    };
    check_coordinates(&point).map_err(fail)?;
    Ok(point)
}

/// A count field (population, households, capacity) as a number; `None` when not
/// configured or blank; an error naming record and field when it is not a number.
pub(crate) fn numeric_field(
    spec: &LayerSpec,
    record: &Record,
    field: Field,
) -> Result<Option<f64>, LayerError> {
    let Some(text) = record.get(field) else {
        return Ok(None);
    };
    match parse_count(text) {
        Some(v) => Ok(Some(v)),
        None => Err(LayerError::record(
            spec,
            record.describe(),
            format!(
                "field {} ('{}'): expected a non-negative number, found '{text}'",
                field.key(),
                spec.fields.get(field).unwrap_or("")
            ),
        )),
    }
}

/// Parses a decimal degree: one optional sign, one decimal mark (`.` or `,`), no
/// thousands separators (a coordinate never has any, and "1,234" must not become 1234).
pub(crate) fn parse_coordinate(text: &str) -> Option<f64> {
    let s = text.trim().replace(',', ".");
    if s.matches('.').count() > 1 {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_take_either_decimal_mark_but_no_grouping() {
        assert_eq!(parse_coordinate("-19.8436"), Some(-19.8436));
        assert_eq!(parse_coordinate(" -19,8436 "), Some(-19.8436));
        assert_eq!(parse_coordinate("1.234.5"), None);
        assert_eq!(parse_coordinate("NaN"), None);
    }
}
