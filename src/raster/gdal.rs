//! GDAL raster adapter: opens a single-band population grid (GeoTIFF or any GDAL raster)
//! in EPSG:4326, and sums it under polygons with exact cell coverage
//! ([`super::coverage`](mod@super::coverage)). Also reads polygon zones from any GDAL vector format. Compiled
//! only with the `gdal` feature.
//!
//! Reads only the window of each polygon's bounding box, in strips of whole block rows,
//! so a grid larger than memory is never read whole. Nodata cells are skipped; the band's
//! scale and offset are applied (`value = raw × scale + offset`, GDAL's convention). Refuses
//! projected, rotated or south-up grids instead of warping them: warping a count grid
//! needs `-r sum` and a person checking the result.

use std::path::{Path, PathBuf};

use gdal::Dataset;
use gdal::raster::GdalDataType;
use gdal::spatial_ref::SpatialRef;
use gdal::vector::LayerAccess;
use geo::{Geometry, MultiPolygon};

use super::RasterError;
use super::coverage::{GridSpec, PreparedPolygons, Window, ZonalSum};
use super::zones::Zone;

/// WGS 84 semi-major axis and inverse flattening (NIMA TR8350.2, 3rd ed., table 3.1).
const WGS84_SEMI_MAJOR_M: f64 = 6_378_137.0;
const WGS84_INVERSE_FLATTENING: f64 = 298.257_223_563;

/// Largest strip read at once, in cells (8 MiB of f64): bounds memory on rasters larger
/// than memory while keeping GDAL calls few.
const MAX_STRIP_CELLS: usize = 1 << 20;

/// An open population grid.
pub struct RasterGrid {
    path: PathBuf,
    dataset: Dataset,
    grid: GridSpec,
    nodata: Option<f64>,
    /// Float32 bands store nodata in single precision; compare in f32 as well.
    nodata_is_f32: bool,
    scale: f64,
    offset: f64,
    block_rows: usize,
}

impl std::fmt::Debug for RasterGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RasterGrid")
            .field("path", &self.path)
            .field("grid", &self.grid)
            .field("nodata", &self.nodata)
            .field("scale", &self.scale)
            .field("offset", &self.offset)
            .finish()
    }
}

impl RasterGrid {
    /// Opens `path` and checks it: one band, EPSG:4326 (or a geographic WGS 84 CRS in
    /// degrees), north-up with no rotation.
    pub fn open(path: &Path) -> Result<RasterGrid, RasterError> {
        if !path.exists() {
            return Err(RasterError::Missing {
                path: path.to_path_buf(),
            });
        }
        let gdal_err = |action: &str, e: gdal::errors::GdalError| RasterError::Gdal {
            path: path.to_path_buf(),
            action: action.to_string(),
            message: e.to_string(),
        };
        let dataset = Dataset::open(path).map_err(|e| gdal_err("open the file", e))?;
        let bands = dataset.raster_count();
        if bands != 1 {
            return Err(RasterError::Bands {
                path: path.to_path_buf(),
                found: bands,
            });
        }
        match dataset.spatial_ref() {
            Ok(srs) => {
                if let Err(found) = check_wgs84_lonlat(&srs) {
                    return Err(RasterError::Crs {
                        path: path.to_path_buf(),
                        found,
                    });
                }
            }
            Err(_) => {
                return Err(RasterError::Crs {
                    path: path.to_path_buf(),
                    found: "none (the file declares no CRS)".to_string(),
                });
            }
        }
        let gt = dataset
            .geo_transform()
            .map_err(|e| gdal_err("read the geotransform", e))?;
        if !(gt[1] > 0.0 && gt[5] < 0.0 && gt[2] == 0.0 && gt[4] == 0.0)
            || gt.iter().any(|v| !v.is_finite())
        {
            return Err(RasterError::NotNorthUp {
                path: path.to_path_buf(),
                found: gt,
            });
        }
        let (width, height) = dataset.raster_size();
        let (nodata, nodata_is_f32, scale, offset, block_rows) = {
            let band = dataset
                .rasterband(1)
                .map_err(|e| gdal_err("open band 1", e))?;
            (
                band.no_data_value(),
                band.band_type() == GdalDataType::Float32,
                band.scale().unwrap_or(1.0),
                band.offset().unwrap_or(0.0),
                band.block_size().1.max(1),
            )
        };
        Ok(RasterGrid {
            path: path.to_path_buf(),
            dataset,
            grid: GridSpec {
                west_deg: gt[0],
                north_deg: gt[3],
                cell_width_deg: gt[1],
                cell_height_deg: -gt[5],
                width,
                height,
            },
            nodata,
            nodata_is_f32,
            scale,
            offset,
            block_rows,
        })
    }

    pub fn grid(&self) -> &GridSpec {
        &self.grid
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads `window` row-major as physical values (`raw × scale + offset`), with nodata
    /// cells as NaN. Reads in strips of whole block rows.
    pub fn read_window(&self, window: Window) -> Result<Vec<f64>, RasterError> {
        let mut out = Vec::with_capacity(window.len());
        self.for_each_strip(window, |_, _, values| {
            out.extend_from_slice(values);
            Ok(())
        })?;
        Ok(out)
    }

    /// Σ value × coverage fraction of the grid under `polygons` (the exactextract `sum`).
    /// Polygons that miss the grid sum to zero. Coverage and values are computed strip by
    /// strip, so memory stays bounded whatever the polygon's size.
    pub fn zonal_sum(&self, polygons: &MultiPolygon<f64>) -> Result<ZonalSum, RasterError> {
        let prepared = PreparedPolygons::new(&self.grid, polygons);
        let Some(window) = prepared.window() else {
            return Ok(ZonalSum::default());
        };
        let mut out = ZonalSum::default();
        self.for_each_strip(window, |first_row, rows, values| {
            let strip = Window {
                row0: window.row0 + first_row,
                rows,
                ..window
            };
            let cov = prepared.coverage(strip);
            for (f, v) in cov.fractions.iter().zip(values) {
                if *f <= 0.0 {
                    continue;
                }
                if v.is_nan() {
                    out.nodata_cells += 1;
                } else {
                    out.sum += v * f;
                    out.covered_cells += 1;
                    out.covered_fraction += f;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit(first_row_in_window, rows, values)` for each strip of the window, top to
    /// bottom. Strips start and end on block-row boundaries of the file so each block is
    /// decoded once.
    fn for_each_strip(
        &self,
        window: Window,
        mut visit: impl FnMut(usize, usize, &[f64]) -> Result<(), RasterError>,
    ) -> Result<(), RasterError> {
        if window.is_empty() {
            return Ok(());
        }
        let band = self.dataset.rasterband(1).map_err(|e| RasterError::Gdal {
            path: self.path.clone(),
            action: "open band 1".to_string(),
            message: e.to_string(),
        })?;
        let rows_per_strip = {
            let by_memory = (MAX_STRIP_CELLS / window.cols.max(1)).max(1);
            let blocks = (by_memory / self.block_rows).max(1);
            blocks * self.block_rows
        };
        let end = window.row0 + window.rows;
        let mut row = window.row0;
        while row < end {
            // Align the strip's end to a block boundary of the file.
            let next_boundary = (row / self.block_rows + 1) * self.block_rows;
            let strip_end = (next_boundary + rows_per_strip - self.block_rows).min(end);
            let strip_end = strip_end.max(row + 1);
            let n = strip_end - row;
            let buffer = band
                .read_as::<f64>(
                    (window.col0 as isize, row as isize),
                    (window.cols, n),
                    (window.cols, n),
                    None,
                )
                .map_err(|e| RasterError::Gdal {
                    path: self.path.clone(),
                    action: format!(
                        "read rows {row}..{strip_end}, columns {}..{} (a corrupt tile?)",
                        window.col0,
                        window.col0 + window.cols
                    ),
                    message: e.to_string(),
                })?;
            let (_, mut values) = buffer.into_shape_and_vec();
            for v in &mut values {
                *v = self.physical(*v);
            }
            visit(row - window.row0, n, &values)?;
            row = strip_end;
        }
        Ok(())
    }

    fn physical(&self, raw: f64) -> f64 {
        let is_nodata = match self.nodata {
            Some(nd) => raw == nd || (self.nodata_is_f32 && (raw as f32) == (nd as f32)),
            None => false,
        };
        if is_nodata || !raw.is_finite() {
            f64::NAN
        } else {
            raw * self.scale + self.offset
        }
    }
}

/// Reads polygon zones from any vector format GDAL opens (its first layer). The id comes
/// from `id_field`, else the feature id.
pub fn read_vector_zones(path: &Path, id_field: Option<&str>) -> Result<Vec<Zone>, RasterError> {
    let err = |message: String| RasterError::Polygons {
        path: path.to_path_buf(),
        message,
    };
    if !path.exists() {
        return Err(err("file not found".to_string()));
    }
    let dataset = Dataset::open(path).map_err(|e| err(format!("GDAL could not open it: {e}")))?;
    let mut layer = dataset
        .layer(0)
        .map_err(|e| err(format!("GDAL found no vector layer: {e}")))?;
    if let Some(srs) = layer.spatial_ref()
        && let Err(found) = check_wgs84_lonlat(&srs)
    {
        return Err(err(format!(
            "CRS {found} is not accepted; reproject to EPSG:4326 first \
             (`ogr2ogr -t_srs EPSG:4326 out.gpkg {}`)",
            path.display()
        )));
    }
    let field_names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let id_index = match id_field {
        Some(name) => Some(field_names.iter().position(|n| n == name).ok_or_else(|| {
            err(format!(
                "no field named '{name}' (--id-field); fields: {}",
                field_names.join(", ")
            ))
        })?),
        None => None,
    };
    let mut zones = Vec::new();
    for (index, feature) in layer.features().enumerate() {
        let feature_err = |message: String| RasterError::Feature {
            path: path.to_path_buf(),
            index,
            message,
        };
        let id = match id_index {
            Some(i) => feature
                .field_as_string(i)
                .map_err(|e| feature_err(e.to_string()))?
                .unwrap_or_default(),
            None => feature.fid().map_or(index.to_string(), |f| f.to_string()),
        };
        let geometry = feature
            .geometry()
            .ok_or_else(|| feature_err("has no geometry".to_string()))?
            .to_geo()
            .map_err(|e| feature_err(format!("unreadable geometry: {e}")))?;
        let polygons = match geometry {
            Geometry::Polygon(p) => MultiPolygon(vec![p]),
            Geometry::MultiPolygon(m) => m,
            other => {
                let kind = match other {
                    Geometry::Point(_) => "Point",
                    Geometry::MultiPoint(_) => "MultiPoint",
                    Geometry::LineString(_) | Geometry::Line(_) => "LineString",
                    Geometry::MultiLineString(_) => "MultiLineString",
                    Geometry::GeometryCollection(_) => "GeometryCollection",
                    _ => "non-polygon geometry",
                };
                return Err(feature_err(format!(
                    "expected a Polygon or MultiPolygon, found a {kind}"
                )));
            }
        };
        zones.push(Zone { id, polygons });
    }
    Ok(zones)
}

/// Accepts EPSG:4326 / OGC:CRS84 by authority, or any geographic CRS in degrees on the WGS
/// 84 ellipsoid; otherwise returns the CRS's name for the error.
pub(crate) fn check_wgs84_lonlat(srs: &SpatialRef) -> Result<(), String> {
    if let (Some(auth), Ok(code)) = (srs.auth_name(), srs.auth_code())
        && ((auth.eq_ignore_ascii_case("EPSG") && code == 4326)
            || (auth.eq_ignore_ascii_case("OGC") && code == 84))
    {
        return Ok(());
    }
    let on_wgs84 = match (srs.semi_major(), srs.semi_minor()) {
        (Ok(a), Ok(b)) if a > 0.0 && a > b => {
            (a - WGS84_SEMI_MAJOR_M).abs() < 0.01
                && (a / (a - b) - WGS84_INVERSE_FLATTENING).abs() < 1e-6
        }
        _ => false,
    };
    let in_degrees = (srs.angular_units() - 1f64.to_radians()).abs() < 1e-12;
    if srs.is_geographic() && on_wgs84 && in_degrees {
        return Ok(());
    }
    let name = srs.name().unwrap_or_else(|| "unnamed CRS".to_string());
    Err(match srs.authority() {
        Ok(auth) => format!("{auth} ({name})"),
        Err(_) => name,
    })
}

/// A population grid opened at first use, for exposure (`PopulationGrid`). An open
/// failure is remembered and returned on every call (exposure then falls back to the
/// settlement method and says why); an all-nodata answer over an area whose cells are all
/// nodata is an error too, so an empty or misaligned grid never reports 0 people.
pub struct LazyPopulationGrid {
    name: String,
    path: PathBuf,
    grid: std::sync::Mutex<Option<Result<RasterGrid, String>>>,
}

impl LazyPopulationGrid {
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        LazyPopulationGrid {
            name: name.into(),
            path: path.into(),
            grid: std::sync::Mutex::new(None),
        }
    }
}

impl crate::exposure::PopulationGrid for LazyPopulationGrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn people_in(&self, area: &MultiPolygon<f64>) -> Result<f64, String> {
        let mut slot = self
            .grid
            .lock()
            .map_err(|_| format!("raster {}: an earlier read panicked", self.path.display()))?;
        let grid =
            slot.get_or_insert_with(|| RasterGrid::open(&self.path).map_err(|e| e.to_string()));
        let grid = grid.as_ref().map_err(Clone::clone)?;
        let z = grid.zonal_sum(area).map_err(|e| e.to_string())?;
        if z.covered_cells == 0 && z.nodata_cells > 0 {
            // Ocean-only slivers are legitimately nodata in GPW; report them as 0 only
            // when some cell was valid. An area wholly over nodata is suspicious.
            return Err(RasterError::AllNodata {
                path: self.path.clone(),
                what: "a district ∩ footprint (counted by the fallback method instead)".to_string(),
            }
            .to_string());
        }
        Ok(z.sum)
    }
}

/// Nodata written by [`write_grid`]: WorldPop's value, so tools that know WorldPop files
/// read ours the same way.
pub const WRITTEN_NODATA: f64 = -99999.0;

/// Writes `values` (row-major over `grid`, NaN = nodata) as a tiled, DEFLATE-compressed
/// Float32 GeoTIFF in EPSG:4326 with nodata [`WRITTEN_NODATA`].
pub fn write_grid(path: &Path, grid: &GridSpec, values: &[f64]) -> Result<(), RasterError> {
    let gdal_err = |action: &str, e: gdal::errors::GdalError| RasterError::Gdal {
        path: path.to_path_buf(),
        action: action.to_string(),
        message: e.to_string(),
    };
    if values.len() != grid.width * grid.height {
        return Err(RasterError::Gdal {
            path: path.to_path_buf(),
            action: "write the grid".to_string(),
            message: format!(
                "expected {} values ({} × {}), found {}",
                grid.width * grid.height,
                grid.width,
                grid.height,
                values.len()
            ),
        });
    }
    let driver = gdal::DriverManager::get_driver_by_name("GTiff")
        .map_err(|e| gdal_err("find the GTiff driver", e))?;
    let options = gdal::raster::RasterCreationOptions::from_iter([
        "TILED=YES",
        "COMPRESS=DEFLATE",
        "PREDICTOR=3",
        "BIGTIFF=IF_SAFER",
    ]);
    let mut ds = driver
        .create_with_band_type_with_options::<f32, _>(path, grid.width, grid.height, 1, &options)
        .map_err(|e| gdal_err("create the file", e))?;
    ds.set_geo_transform(&[
        grid.west_deg,
        grid.cell_width_deg,
        0.0,
        grid.north_deg,
        0.0,
        -grid.cell_height_deg,
    ])
    .map_err(|e| gdal_err("set the geotransform", e))?;
    let srs = SpatialRef::from_epsg(4326).map_err(|e| gdal_err("make EPSG:4326", e))?;
    ds.set_spatial_ref(&srs)
        .map_err(|e| gdal_err("set the CRS", e))?;
    let mut band = ds.rasterband(1).map_err(|e| gdal_err("open band 1", e))?;
    band.set_no_data_value(Some(WRITTEN_NODATA))
        .map_err(|e| gdal_err("set nodata", e))?;
    let rows_per_strip = (MAX_STRIP_CELLS / grid.width.max(1)).max(1);
    for (i, strip) in values.chunks(rows_per_strip * grid.width).enumerate() {
        let rows = strip.len() / grid.width.max(1);
        let data: Vec<f32> = strip
            .iter()
            .map(|v| {
                if v.is_nan() {
                    WRITTEN_NODATA as f32
                } else {
                    *v as f32
                }
            })
            .collect();
        let mut buffer = gdal::raster::Buffer::new((grid.width, rows), data);
        band.write(
            (0, (i * rows_per_strip) as isize),
            (grid.width, rows),
            &mut buffer,
        )
        .map_err(|e| gdal_err(&format!("write rows from {}", i * rows_per_strip), e))?;
    }
    Ok(())
}

/// Reads points (Point or MultiPoint geometries) from any vector format GDAL opens.
pub fn read_vector_points(path: &Path) -> Result<Vec<geo::Point<f64>>, RasterError> {
    let err = |message: String| RasterError::Input {
        path: path.to_path_buf(),
        message,
    };
    let dataset = Dataset::open(path).map_err(|e| err(format!("GDAL could not open it: {e}")))?;
    let mut layer = dataset
        .layer(0)
        .map_err(|e| err(format!("GDAL found no vector layer: {e}")))?;
    if let Some(srs) = layer.spatial_ref()
        && let Err(found) = check_wgs84_lonlat(&srs)
    {
        return Err(err(format!(
            "CRS {found} is not accepted; reproject to EPSG:4326 first"
        )));
    }
    let mut points = Vec::new();
    for feature in layer.features() {
        let Some(g) = feature.geometry() else {
            continue;
        };
        match g.to_geo() {
            Ok(Geometry::Point(p)) => points.push(p),
            Ok(Geometry::MultiPoint(mp)) => points.extend(mp.0),
            _ => {}
        }
    }
    Ok(points)
}
