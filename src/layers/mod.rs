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
//! Rooms: this file holds the errors and the order of loading; `read.rs` reads one
//! layer's file into records (by format: `geojson.rs`, `hxl.rs`, `gdal.rs`); `areas.rs`,
//! `points.rs` and `population.rs` turn records into boundaries, point features and the
//! district population table.

mod areas;
pub mod flood;
#[cfg(feature = "gdal")]
mod gdal;
mod geojson;
mod hxl;
pub use hxl::parse_point_table;
pub mod manifest;
mod points;
mod population;
mod read;
pub mod register;

use std::path::{Path, PathBuf};

use geo::MultiPolygon;

use crate::domain::{LayerInfo, Layers, PointLayer};
use crate::spatial::AreaIndex;
pub(crate) use areas::check_coordinates;
use areas::{build_areas, build_country};
pub use manifest::{
    DATA_DIR_ENV, Field, Fields, FloodImpactArea, FloodImpactSpec, Format, InvalidNumbers,
    LayerKind, LayerSpec, Manifest, load_manifest, load_manifest_with,
};
use points::build_points;
pub(crate) use read::{Locus, Record, numeric_field};
use read::{read_layer, sha256_of_path};

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
