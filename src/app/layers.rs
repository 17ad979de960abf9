//! `aviso zonal`, `aviso layers build-population` and `aviso serve-layers`: tools on
//! layer files.
//!
//! Its `eprintln!` lines (input warnings, timings, "written to") are not log but the
//! command's report to the person who ran it, on stderr as always (app/logging.rs); they
//! stay plain text so scripts and the byte-for-byte comparisons of `aviso assess` hold.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::layers::manifest_path;

/// `aviso zonal`: exact zonal sums of a raster under polygons.
#[derive(Debug, Clone, clap::Args)]
pub struct ZonalArgs {
    /// Single-band raster in EPSG:4326 (GeoTIFF or any GDAL raster).
    #[arg(long)]
    pub raster: PathBuf,
    /// Polygons: GeoJSON, or any vector format GDAL reads (first layer).
    #[arg(long)]
    pub polygons: PathBuf,
    /// Property holding each polygon's id (default: the feature id, else its index).
    #[arg(long)]
    pub id_field: Option<String>,
    /// CSV output ("-" or absent: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Writes one CSV row per polygon feature: `id,sum,covered_cells`, in the file's order.
/// The sum weights each cell by the exact share of its area inside the polygon
/// (`crate::raster::coverage`); covered_cells counts cells with a share above zero and a
/// valid (not nodata) value.
#[cfg(feature = "gdal")]
pub fn zonal_cmd(a: ZonalArgs) -> Result<()> {
    use std::io::Write;
    use std::time::Instant;

    use crate::raster::gdal::RasterGrid;
    use crate::raster::zones::read_zones;

    let grid = RasterGrid::open(&a.raster)?;
    let zones = read_zones(&a.polygons, a.id_field.as_deref())?;
    let t = Instant::now();
    let mut rows = Vec::with_capacity(zones.len());
    let (mut valid, mut nodata) = (0usize, 0usize);
    for zone in &zones {
        let z = grid.zonal_sum(&zone.polygons)?;
        valid += z.covered_cells;
        nodata += z.nodata_cells;
        rows.push((zone.id.as_str(), z));
    }
    let elapsed_ms = t.elapsed().as_secs_f64() * 1e3;
    if valid == 0 && nodata > 0 {
        return Err(crate::raster::RasterError::AllNodata {
            path: a.raster.clone(),
            what: format!("the {} polygons of {}", zones.len(), a.polygons.display()),
        }
        .into());
    }
    let sink: Box<dyn Write> = match a.out.as_ref().filter(|p| p.as_os_str() != "-") {
        Some(p) => {
            Box::new(fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut csv = csv::Writer::from_writer(sink);
    csv.write_record(["id", "sum", "covered_cells"])?;
    for (id, z) in &rows {
        // Display prints the shortest text that parses back to the same f64.
        csv.write_record([
            id.to_string(),
            z.sum.to_string(),
            z.covered_cells.to_string(),
        ])?;
    }
    csv.flush()?;
    eprintln!(
        "aviso: {} zonal sums over {} ({}x{} cells) in {elapsed_ms:.1} ms",
        rows.len(),
        a.raster.display(),
        grid.grid().width,
        grid.grid().height
    );
    Ok(())
}

#[cfg(not(feature = "gdal"))]
pub fn zonal_cmd(a: ZonalArgs) -> Result<()> {
    bail!(
        "aviso zonal reads rasters through GDAL, and this binary was built without it: \
         rebuild with --features gdal (raster {})",
        a.raster.display()
    )
}

/// `aviso layers build-population`: a dasymetric grid from district totals and points.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildPopulationArgs {
    /// District polygons (GeoJSON or any GDAL vector).
    #[arg(long)]
    pub districts: PathBuf,
    /// Property/field of the districts holding the id that joins the totals.
    #[arg(long, default_value = "ADM2_PCODE")]
    pub district_id_field: String,
    /// CSV of district totals.
    #[arg(long)]
    pub population: PathBuf,
    /// Column of the CSV holding the district id (default: --district-id-field).
    #[arg(long)]
    pub population_id_field: Option<String>,
    /// Column of the CSV holding the population.
    #[arg(long)]
    pub population_field: String,
    /// Settlement points (GeoJSON or any GDAL vector).
    #[arg(long)]
    pub points: PathBuf,
    /// Cell size in arc-seconds (30 = about 1 km).
    #[arg(long = "resolution", value_name = "ARCSEC")]
    pub resolution_arcsec: f64,
    /// Output GeoTIFF.
    #[arg(long)]
    pub out: PathBuf,
}

/// Largest grid `build-population` makes in memory: 100 million cells (800 MB of f64).
/// Mozambique at 30″ is 2.5 million cells; at 3″ it would be 250 million.
const MAX_BUILD_CELLS: usize = 100_000_000;

/// Builds the grid (`crate::raster::build` documents the method) and writes it with GDAL.
pub fn build_population_cmd(a: BuildPopulationArgs) -> Result<()> {
    use crate::raster::build::{DistrictTotal, dasymetric, grid_for};
    use crate::raster::zones::{read_points, read_totals_csv, read_zones};

    let zones = read_zones(&a.districts, Some(&a.district_id_field))?;
    // The CSV's id column defaults to the districts' id field.
    let population_id_field = a
        .population_id_field
        .clone()
        .unwrap_or_else(|| a.district_id_field.clone());
    let totals = read_totals_csv(&a.population, &population_id_field, &a.population_field)?;
    let points = read_points(&a.points)?;
    let districts: Vec<DistrictTotal> = zones
        .into_iter()
        .map(|z| DistrictTotal {
            population: totals.get(&z.id).copied(),
            id: z.id,
            polygons: z.polygons,
        })
        .collect();
    let grid = grid_for(&districts, a.resolution_arcsec).with_context(|| {
        format!(
            "--resolution {}: expected a positive number of arc-seconds, and districts with \
             polygons in {}",
            a.resolution_arcsec,
            a.districts.display()
        )
    })?;
    let cells = grid.width.saturating_mul(grid.height);
    if cells > MAX_BUILD_CELLS {
        bail!(
            "--resolution {}″ over {} gives {} × {} = {cells} cells, over the {MAX_BUILD_CELLS} \
             this command builds in memory; choose a coarser resolution",
            a.resolution_arcsec,
            a.districts.display(),
            grid.width,
            grid.height
        );
    }
    let (values, report) = dasymetric(&grid, &districts, &points);
    write_grid(&a.out, &grid, &values)?;
    eprintln!(
        "aviso: wrote {} ({} × {} cells of {}″): {:.0} people; {} districts by points, {} by \
         area ({}), {} without a figure ({}); {} points outside every district",
        a.out.display(),
        grid.width,
        grid.height,
        a.resolution_arcsec,
        report.total,
        report.by_points,
        report.by_area.len(),
        report.by_area.join(", "),
        report.without_population.len(),
        report.without_population.join(", "),
        report.points_outside
    );
    Ok(())
}

#[cfg(feature = "gdal")]
fn write_grid(out: &Path, grid: &crate::raster::GridSpec, values: &[f64]) -> Result<()> {
    Ok(crate::raster::gdal::write_grid(out, grid, values)?)
}

#[cfg(not(feature = "gdal"))]
fn write_grid(out: &Path, _grid: &crate::raster::GridSpec, _values: &[f64]) -> Result<()> {
    bail!(
        "writing {} needs GDAL: rebuild with --features gdal",
        out.display()
    )
}

/// `aviso serve-layers`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeLayersArgs {
    #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
    pub layers: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Prefix of every link, e.g. <https://aviso.example.org>. Default: http://LISTEN, or
    /// the request's Host header when listening on every interface.
    #[arg(long)]
    pub public_url: Option<String>,
    /// An alert document (from `aviso assess`) served as hazard_zones and districts_at_risk.
    #[arg(long)]
    pub alert: Option<PathBuf>,
}

/// `aviso serve-layers`: the layers (and one alert document) as OGC API – Features. The
/// tokio runtime lives only in this command; the rest of the CLI stays synchronous.
pub fn serve_layers_cmd(a: ServeLayersArgs) -> Result<()> {
    let listen: std::net::SocketAddr = a.listen.parse().with_context(|| {
        format!(
            "--listen {}: expected IP:PORT, e.g. 127.0.0.1:8080",
            a.listen
        )
    })?;
    let manifest = manifest_path(&a.layers);
    let loaded = crate::layers::load_layers(&manifest)
        .with_context(|| format!("loading layers from {}", manifest.display()))?;
    for w in &loaded.warnings {
        eprintln!("aviso: warning: {w}");
    }
    // Links must be absolute. On a wildcard address the listen address names no host a
    // client can use, so links follow each request's Host header instead.
    let base_url = a
        .public_url
        .clone()
        .or_else(|| (!listen.ip().is_unspecified()).then(|| format!("http://{listen}")));
    let state = crate::api::ApiState::new(&loaded.layers, base_url);
    if let Some(path) = &a.alert {
        let bytes =
            fs::read(path).with_context(|| format!("cannot read alert {}", path.display()))?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not JSON", path.display()))?;
        state
            .set_alert(doc, &path.display().to_string())
            .with_context(|| format!("serving alert {}", path.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!(
            "aviso: OGC API - Features at http://{listen}/ (QGIS: add a WFS / OGC API - Features connection; GDAL: ogrinfo OAPIF:http://{listen})"
        );
        crate::api::serve(listener, std::sync::Arc::new(state))
            .await
            .context("serving")
    })
}
