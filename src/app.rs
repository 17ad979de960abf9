//! Wiring: the only place that names concrete adapters (files, GDAL, the terminal) and
//! connects them to the pure core. Errors here are `anyhow`, with context naming the file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use crate::alerts::assess::assess;
use crate::alerts::{document, table};
use crate::config::Config;
use crate::domain::FixKind;
use crate::exposure::IndexedLayers;
use crate::feeds::bufr_child::ChildDecoder;
use crate::feeds::{self, ParseOptions, StormSelector};
use crate::layers::manifest_path;
use crate::replay;

/// Which storm to take from a best-track file.
#[derive(Debug, Clone, Default)]
pub struct StormChoice {
    pub name: Option<String>,
    pub season: Option<i32>,
    pub sid: Option<String>,
}

pub struct AssessArgs {
    pub config: Option<PathBuf>,
    pub forecast: PathBuf,
    pub layers: PathBuf,
    pub out: Option<PathBuf>,
    pub table: bool,
    pub storm: StormChoice,
    pub at: Option<String>,
    pub tech: Option<String>,
    /// Flood forecasts: the files that go with the probabilities CSV (default: beside it).
    pub flood_files: FloodFiles,
    /// Also write the probabilistic wind table here (CSV, or JSON for a `.json` name).
    pub probabilistic: Option<PathBuf>,
}

/// The stations, discharge and basin files of a flood forecast; `None`: look beside the
/// probabilities file.
#[derive(Debug, Clone, Default)]
pub struct FloodFiles {
    pub stations: Option<PathBuf>,
    pub discharge: Option<PathBuf>,
    pub basins: Option<PathBuf>,
}

pub struct ReplayArgs {
    pub config: Option<PathBuf>,
    pub track: PathBuf,
    pub layers: PathBuf,
    pub storm: StormChoice,
    pub every: String,
    pub horizon: String,
    pub out: PathBuf,
}

pub fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::from_file(p)?,
        None => Config::embedded_default()?,
    })
}

/// Loads and indexes the layers, printing load warnings to stderr.
pub fn load_indexed_layers(layers: &Path, cfg: &Config) -> Result<IndexedLayers> {
    let manifest = manifest_path(layers);
    let t = Instant::now();
    let loaded = crate::layers::load_layers(&manifest)
        .with_context(|| format!("loading layers from {}", manifest.display()))?;
    for w in &loaded.warnings {
        eprintln!("aviso: warning: {w}");
    }
    let grid = loaded.population_grid.clone();
    let indexed = with_population_grid(IndexedLayers::new(loaded.layers, &cfg.exposure), grid);
    eprintln!(
        "aviso: layers loaded from {} in {:.2} s ({} districts, {} point layers)",
        manifest.display(),
        t.elapsed().as_secs_f64(),
        indexed.layers.districts.len(),
        indexed.layers.points.len()
    );
    Ok(indexed)
}

/// Attaches the manifest's `population_grid` layer (opened at first use) to the indexed
/// layers; without GDAL the grid cannot be read and exposure keeps the settlement method.
fn with_population_grid(
    indexed: IndexedLayers,
    spec: Option<crate::layers::LayerSpec>,
) -> IndexedLayers {
    let Some(spec) = spec else {
        return indexed;
    };
    #[cfg(feature = "gdal")]
    {
        eprintln!(
            "aviso: people at risk from population grid '{}' ({})",
            spec.name,
            spec.path.display()
        );
        indexed.with_population_grid(Box::new(crate::raster::gdal::LazyPopulationGrid::new(
            spec.name, spec.path,
        )))
    }
    #[cfg(not(feature = "gdal"))]
    {
        eprintln!(
            "aviso: warning: population grid '{}' needs GDAL (built without it); people at \
             risk use the settlement method",
            spec.name
        );
        indexed
    }
}

/// Storm names for best-track files that carry only ids (the derived 12-hourly file):
/// the table shipped in layers/ibtracs_sid_names.csv (compiled in), plus an
/// `ibtracs_sid_names.csv` beside the manifest when there is one (its rows win).
fn names_table(layers: &Path) -> Result<std::collections::HashMap<String, String>> {
    const SHIPPED: &str = include_str!("../layers/ibtracs_sid_names.csv");
    let mut names = feeds::ibtracs::parse_sid_names(
        SHIPPED.as_bytes(),
        "embedded layers/ibtracs_sid_names.csv",
    )?;
    let dir = if layers.is_dir() {
        layers.to_path_buf()
    } else {
        layers.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let p = dir.join("ibtracs_sid_names.csv");
    if p.exists() {
        let bytes = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        names.extend(feeds::ibtracs::parse_sid_names(
            &bytes,
            &p.display().to_string(),
        )?);
    }
    Ok(names)
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read forecast file {}", path.display()))
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%MZ",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc());
        }
    }
    bail!("--at {s:?}: expected a UTC time like 2023-03-08T00:00Z or \"2023-03-08 00:00\"")
}

fn parse_hours(s: &str, flag: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("{flag} {s:?}: expected hours like 6h or 12h"))?;
    let d = match unit {
        "h" | "" => Duration::hours(n),
        "d" => Duration::days(n),
        "m" | "min" => Duration::minutes(n),
        _ => bail!("{flag} {s:?}: unit must be h, d or min"),
    };
    if d <= Duration::zero() {
        bail!("{flag} {s:?}: must be positive");
    }
    Ok(d)
}

pub(crate) fn parse_options(
    storm: &StormChoice,
    tech: Option<String>,
    layers: &Path,
) -> Result<ParseOptions> {
    Ok(ParseOptions {
        storm: StormSelector {
            name: storm.name.clone(),
            season: storm.season,
            sid: storm.sid.clone(),
        },
        names: names_table(layers)?,
        atcf_tech: tech,
        ..ParseOptions::default()
    })
}

pub(crate) fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string(v)?;
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The BUFR decoder of the service and the CLI: this very executable, run as
/// `aviso decode-bufr` in a child process per file (feeds::bufr_child), so that a file that
/// crashes ecCodes ends the child, not aviso.
pub fn bufr_child_decoder() -> Result<ChildDecoder> {
    let exe = std::env::current_exe()
        .context("locating the aviso executable (to run the BUFR decoder child)")?;
    Ok(ChildDecoder::new(exe))
}

/// `aviso decode-bufr` (hidden): the child side of [`bufr_child_decoder`].
pub fn decode_bufr_cmd(max_cpu_s: u64, max_address_space_bytes: u64) -> Result<()> {
    crate::feeds::bufr_child::child_main(max_cpu_s, max_address_space_bytes)
        .map_err(|e| anyhow::anyhow!(e))
}

pub fn assess_cmd(a: AssessArgs) -> Result<()> {
    let cfg = load_config(a.config.as_deref())?;
    let origin = a.forecast.display().to_string();
    let bytes = read_input(&a.forecast)?;
    if feeds::floods::looks_like_probabilities(&bytes) {
        return crate::app_flood::flood_assess_cmd(&a, &cfg, &bytes);
    }
    let opts = parse_options(&a.storm, a.tech, &a.layers)?;
    let bufr = bufr_child_decoder()?;
    let parsed = feeds::parse_with(&bytes, &origin, &opts, &bufr)?;
    let input_notes = parsed.notes;
    let mut forecast = parsed.forecast;
    // A best track has no forecast part: treat it as issued at --at (default: first fix).
    if !forecast.track.iter().any(|p| p.kind == FixKind::Forecast) {
        let at = match &a.at {
            Some(s) => parse_time(s)?,
            None => forecast
                .track
                .first()
                .map(|p| p.time)
                .context("the track has no fixes")?,
        };
        forecast = replay::issuance_at(&forecast, at, Duration::days(3650))
            .with_context(|| format!("no fix of {} at or after {at}", forecast.storm.name))?;
    }
    let layers = load_indexed_layers(&a.layers, &cfg)?;
    let t = Instant::now();
    let mut assessment = assess(&forecast, &layers, cfg.assessment(), Utc::now())?;
    assessment.input_notes = input_notes;
    eprintln!(
        "aviso: assessed {} ({}) in {:.1} ms",
        forecast.storm.name,
        forecast.reference_time,
        t.elapsed().as_secs_f64() * 1e3
    );
    if let Some(path) = &a.probabilistic {
        crate::app_probabilistic::write_probabilistic(
            &forecast,
            &bytes,
            &bufr,
            &layers.layers,
            &cfg,
            path,
        )?;
    }
    let doc = document::alert_document(&assessment, &layers.layers, cfg.output.coordinate_decimals);
    if let Some(out) = a.out.as_ref().filter(|p| p.as_os_str() != "-") {
        write_json(out, &doc)?;
        eprintln!("aviso: alert written to {}", out.display());
        if a.table {
            print!("{}", table::render(&assessment));
        }
    } else if a.table {
        print!("{}", table::render(&assessment));
    } else {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, &doc)?;
        writeln!(stdout)?;
    }
    Ok(())
}

pub fn replay_cmd(a: ReplayArgs) -> Result<()> {
    let cfg = load_config(a.config.as_deref())?;
    let every = parse_hours(&a.every, "--every")?;
    let horizon = parse_hours(&a.horizon, "--horizon")?;
    let origin = a.track.display().to_string();
    let bytes = read_input(&a.track)?;
    let opts = parse_options(&a.storm, None, &a.layers)?;
    let parsed = feeds::parse_with(&bytes, &origin, &opts, &bufr_child_decoder()?)?;
    let input_notes = parsed.notes;
    let track = parsed.forecast;
    let layers = load_indexed_layers(&a.layers, &cfg)?;

    let times = replay::issuance_times(&track, every);
    if times.is_empty() {
        bail!(
            "{origin}: no fix of {} falls on a {} step",
            track.storm.name,
            a.every
        );
    }
    let landfalls = crate::hazard::landfalls(&track, &layers.layers.country, &cfg.hazard);
    let mut summary = replay::Summary::new(landfalls);
    fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let bar = ProgressBar::new(times.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} replay {msg} [{bar:30}] {pos}/{len} issuances ({eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(track.storm.name.clone());
    let started = Instant::now();
    let mut written = 0usize;
    for t in &times {
        bar.inc(1);
        let Some(f) = replay::issuance_at(&track, *t, horizon) else {
            continue;
        };
        let mut assessment = assess(&f, &layers, cfg.assessment(), Utc::now())?;
        assessment.input_notes.clone_from(&input_notes);
        summary.add(&assessment);
        if !assessment.exposure.districts.is_empty() {
            let doc = document::alert_document(
                &assessment,
                &layers.layers,
                cfg.output.coordinate_decimals,
            );
            let name = format!(
                "{}_{}.geojson",
                track.storm.name.to_lowercase(),
                t.format("%Y%m%dT%H%MZ")
            );
            write_json(&a.out.join(name), &doc)?;
            written += 1;
        }
    }
    bar.finish_and_clear();
    let csv_path = a.out.join("summary.csv");
    fs::write(&csv_path, summary.to_csv())
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let json_path = a.out.join("summary.json");
    let summary_json = serde_json::json!({
        "storm": track.storm,
        "source": origin,
        "issuances": summary.issuances,
        "every": a.every,
        "horizon": a.horizon,
        "alerts_written": written,
        "landfalls": summary.landfalls,
        "districts": summary.districts.values().collect::<Vec<_>>(),
    });
    write_json(&json_path, &summary_json)?;
    eprintln!(
        "aviso: replayed {} issuances of {} in {:.1} s; {} alerts with districts at risk written to {}; summary in {} and {}",
        summary.issuances,
        track.storm.name,
        started.elapsed().as_secs_f64(),
        written,
        a.out.display(),
        csv_path.display(),
        json_path.display()
    );
    for l in &summary.landfalls {
        eprintln!(
            "aviso: landfall {} at {:.2}°E {:.2}°S",
            l.time.format("%Y-%m-%d %H:%MZ"),
            l.lon,
            -l.lat
        );
    }
    Ok(())
}

pub fn check_config_cmd(config: Option<PathBuf>, layers: Option<PathBuf>) -> Result<()> {
    let cfg = load_config(config.as_deref())?;
    eprintln!(
        "aviso: configuration OK ({}; thresholds {:?} kt; {} level rules; trigger: {}; {} feed(s), {} enabled)",
        config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "embedded default".into()),
        cfg.hazard.thresholds_kt,
        cfg.levels.rule.len(),
        cfg.trigger.version,
        cfg.feeds.len(),
        cfg.feeds.iter().filter(|f| f.enabled).count()
    );
    if let Some(l) = layers {
        load_indexed_layers(&l, &cfg)?;
    }
    Ok(())
}

/// `aviso zonal`: exact zonal sums of a raster under polygons.
pub struct ZonalArgs {
    pub raster: PathBuf,
    pub polygons: PathBuf,
    pub id_field: Option<String>,
    /// CSV output ("-" or absent: standard output).
    pub out: Option<PathBuf>,
}

/// Writes one CSV row per polygon feature: `id,sum,covered_cells`, in the file's order.
/// The sum weights each cell by the exact share of its area inside the polygon
/// (`crate::raster::coverage`); covered_cells counts cells with a share above zero and a
/// valid (not nodata) value.
#[cfg(feature = "gdal")]
pub fn zonal_cmd(a: ZonalArgs) -> Result<()> {
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
pub struct BuildPopulationArgs {
    pub districts: PathBuf,
    pub district_id_field: String,
    pub population: PathBuf,
    pub population_id_field: String,
    pub population_field: String,
    pub points: PathBuf,
    pub resolution_arcsec: f64,
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
    let totals = read_totals_csv(&a.population, &a.population_id_field, &a.population_field)?;
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

pub struct ServeLayersArgs {
    pub layers: PathBuf,
    pub listen: String,
    pub public_url: Option<String>,
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
