//! Gridded population: exact zonal sums of a raster under polygons (the exactextract
//! method), and the readers around them.
//!
//! - [`coverage`](mod@coverage) is the pure core (cell coverage fractions, zonal sums): no I/O, no GDAL.
//! - `gdal` (feature `gdal`) opens GeoTIFFs and other GDAL rasters, checks them, and reads
//!   only the windows a polygon's bounding box covers, block row by block row.
//! - [`zones`] reads the polygons to sum under (GeoJSON here; other vector formats
//!   through GDAL), and the points and totals `aviso layers build-population` needs.
//! - [`build`] spreads district totals over settlement points into a grid (pure).
//!
//! Nothing in the core (`hazard`, `exposure`, `alerts`) depends on this module; exposure
//! sees a grid only through the [`crate::exposure::PopulationGrid`] trait.

pub mod build;
pub mod coverage;
#[cfg(feature = "gdal")]
pub mod gdal;
pub mod zones;

use std::path::PathBuf;

pub use coverage::{Coverage, GridSpec, PreparedPolygons, Window, ZonalSum, coverage, zonal_sum};

/// Errors while opening or reading a raster, or the polygons to sum under. Each names the
/// file and says what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    #[error("raster {path}: file not found")]
    Missing { path: PathBuf },
    #[error("raster {path}: GDAL could not {action}: {message}")]
    Gdal {
        path: PathBuf,
        action: String,
        message: String,
    },
    #[error(
        "raster {path}: CRS {found} is not accepted; population grids must be EPSG:4326 \
         (WGS 84 longitude/latitude). Reproject first, e.g. \
         `gdalwarp -t_srs EPSG:4326 -r sum {path} grid_4326.tif` (sum keeps counts)"
    )]
    Crs { path: PathBuf, found: String },
    #[error(
        "raster {path}: expected a north-up grid (geotransform [west, dx > 0, 0, north, 0, \
         dy < 0]), found {found:?}; warp it with `gdalwarp` first"
    )]
    NotNorthUp { path: PathBuf, found: [f64; 6] },
    #[error(
        "raster {path}: expected a single band, found {found}; extract one with `gdal_translate -b N`"
    )]
    Bands { path: PathBuf, found: usize },
    #[error("raster {path}: every cell under {what} is nodata")]
    AllNodata { path: PathBuf, what: String },
    #[error("polygons {path}: {message}")]
    Polygons { path: PathBuf, message: String },
    #[error("polygons {path}: feature {index}: {message}")]
    Feature {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("{path}: built without GDAL: rebuild with --features gdal")]
    GdalDisabled { path: PathBuf },
}
