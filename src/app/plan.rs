//! `aviso plan` (where will people go: a cyclone or river-flood forecast, the layers and a
//! centre register to a district table CSV, allocation GeoJSON and the contingency sheet) and `aviso register` (build the
//! demonstration register, check a register and export it as HXL), issue 14.
//!
//! Wiring: reads the files, runs `crate::plan` and writes its tables.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;

use super::{TrackChoice, bufr_child_decoder, load_config, load_indexed_layers, read_input};
use crate::alerts::assess::assess;
use crate::config::Config;
use crate::domain::Lang;
use crate::domain::{Forecast, Register, RegisterIssue};
use crate::exposure::IndexedLayers;
use crate::feeds::{self};
use crate::hazard::ensemble::ProbabilisticAssessment;
use crate::layers::flood::read_flood_extent;
use crate::layers::register::{
    ReadOptions, read_occupancy_updates, read_register, read_travel_times, register_to_hxl,
};
use crate::plan::output::{plan_csv, plan_geojson};
use crate::plan::register::{RegisterBook, demonstration_from_layers};
use crate::plan::sheet::{SheetOptions, flood_sheet_html, sheet_html};
use crate::plan::{FloodPlanInput, Plan, PlanInput, build_flood_plan, build_plan};

/// Default file name of the demonstration register: says what it is wherever it goes.
pub const DEMO_REGISTER_FILE: &str = "demonstration_centres_NOT_IOM_SITES.hxl.csv";

/// `aviso plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The forecast file, as for `aviso assess`: a cyclone track forecast, or a river-station
    /// flood forecast's exceedance-probabilities CSV (its stations, discharge and basins
    /// files beside it, or named by --stations, --discharge, --basins).
    #[arg(long)]
    pub forecast: PathBuf,
    #[command(flatten)]
    pub flood_files: super::assess::FloodFiles,
    /// Layer manifest, or a directory holding manifest.toml.
    #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
    pub layers: PathBuf,
    /// The accommodation-centre and site register (HXL CSV, or XLSX/ODS: first sheet).
    /// Without it, the DEMONSTRATION register is built from the manifest's health-facility
    /// layer (`aviso register build-demo`), and every output says so.
    #[arg(long)]
    pub register: Option<PathBuf>,
    /// Occupancy updates to apply in order (HXL: #loc+code, #date, #affected+idps+ind/+hh).
    #[arg(long)]
    pub occupancy: Vec<PathBuf>,
    /// Date of occupancy figures in files without a #date column (the DTM round's date).
    #[arg(long)]
    pub occupancy_date: Option<String>,
    /// Travel times (CSV: origin_id,centre_code,minutes) replacing the geodesic order for
    /// the origins they list.
    #[arg(long)]
    pub travel_times: Option<PathBuf>,
    /// Cyclone forecasts: flood-extent polygons (GeoJSON, or any vector format GDAL reads;
    /// EPSG:4326): centres inside them are unsafe for this event as well.
    #[arg(long)]
    pub flood_extent: Option<PathBuf>,
    /// Use the probabilistic wind assessment (`[probabilistic]`): people at risk as 10 %
    /// quantile, mean and 90 % quantile for the low, central and high demand.
    #[arg(long)]
    pub probabilistic: bool,
    /// The table per district, province and country (CSV).
    #[arg(long, default_value = "plan.csv")]
    pub out: PathBuf,
    /// The allocations (LineStrings site -> centre) and centres (Points), GeoJSON EPSG:4326.
    #[arg(long)]
    pub geojson: Option<PathBuf>,
    /// The whole plan as JSON (centres, origins, allocations, notes).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The contingency sheet for a COE meeting: HTML, or PDF when the name ends in `.pdf`
    /// (printed by headless Chromium: /usr/bin/chromium, or the AVISO_CHROMIUM path).
    #[arg(long)]
    pub sheet: Option<PathBuf>,
    /// The sheet's language: pt (default) or en.
    #[arg(long, default_value = "pt", value_parser = parse_lang)]
    pub lang: Lang,
    #[command(flatten)]
    pub track: TrackChoice,
}

/// `aviso register ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RegisterCommand {
    /// Write the DEMONSTRATION register: the manifest's health facilities as stand-in
    /// accommodation centres with capacities from an assumed floor area per facility class
    /// / 3.5 m² (Sphere). Not IOM/CCCM sites, not INGD centres.
    BuildDemo(BuildDemoArgs),
    /// Read and validate a register (and occupancy updates), print every issue with its row
    /// and column, and optionally export it as HXL CSV. Exit status 1 on any error.
    Check(CheckRegisterArgs),
    /// Import a register into the service's store (as POST /api/admin/register): validated
    /// against the service's layers, refused whole on any error (every issue printed with
    /// its row and column, the register in force unchanged), else the register in force.
    Import(super::register::StoreImportArgs),
    /// Add occupancy figures (#loc+code, #date, #affected+idps+ind/+hh) to the store's
    /// register in force, all or nothing (as POST /api/admin/register/occupancy).
    Occupancy(super::register::StoreImportArgs),
    /// Write the store's register in force, or with --occupancy its occupancy history, as
    /// HXL CSV (as GET /api/admin/register and /api/admin/register/occupancy).
    Export(super::register::StoreExportArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct BuildDemoArgs {
    #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
    pub layers: PathBuf,
    #[arg(long, default_value = DEMO_REGISTER_FILE)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CheckRegisterArgs {
    /// The register (HXL CSV, XLSX, ODS).
    pub register: PathBuf,
    #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
    pub layers: PathBuf,
    #[arg(long)]
    pub occupancy: Vec<PathBuf>,
    #[arg(long)]
    pub occupancy_date: Option<String>,
    /// Write the validated register (with its latest occupancy) as HXL CSV.
    #[arg(long)]
    pub export: Option<PathBuf>,
}

fn parse_date(s: Option<&str>) -> Result<Option<NaiveDate>> {
    s.map(|s| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .with_context(|| format!("--occupancy-date {s:?}: expected YYYY-MM-DD"))
    })
    .transpose()
}

fn print_issues(issues: &[RegisterIssue]) {
    for i in issues {
        eprintln!("aviso: {i}");
    }
}

/// The manifest's health-facility layer as the demonstration register.
pub(crate) fn demo_register(layers: &IndexedLayers) -> Result<Register> {
    demonstration_from_layers(&layers.layers).context(
        "no health_facility layer in the manifest to build the demonstration register from",
    )
}

/// Loads the register (or the demonstration one) and its occupancy updates into a book;
/// any error leaves nothing in force and is returned with every issue listed.
fn load_register(
    layers: &IndexedLayers,
    cfg: &Config,
    register: Option<&Path>,
    occupancy: &[PathBuf],
    occupancy_date: Option<&str>,
) -> Result<RegisterBook> {
    let opts = ReadOptions {
        occupancy_date: parse_date(occupancy_date)?,
    };
    let mut book = RegisterBook::default();
    let (candidate, issues) = match register {
        Some(path) => read_register(path, &opts)?,
        None => (demo_register(layers)?, Vec::new()),
    };
    let warnings = book
        .offer(candidate, issues, &layers.layers, &cfg.plan)
        .map_err(anyhow::Error::new)?;
    print_issues(&warnings);
    for path in occupancy {
        let batch = read_occupancy_updates(path, &opts)?;
        let n = book.apply_occupancy(batch).map_err(anyhow::Error::new)?;
        eprintln!("aviso: {n} occupancy figures from {} added", path.display());
    }
    Ok(book)
}

/// The cyclone forecast of `a` (a best track issued at --at), as `aviso assess` reads it.
fn read_forecast(a: &PlanArgs, bytes: &[u8]) -> Result<Forecast> {
    let origin = a.forecast.display().to_string();
    let (forecast, _notes) =
        super::parse_track_forecast(bytes, &origin, &a.track, &a.layers, &bufr_child_decoder()?)?;
    Ok(forecast)
}

fn probabilistic(
    forecast: &Forecast,
    bytes: &[u8],
    layers: &IndexedLayers,
    cfg: &Config,
) -> Result<ProbabilisticAssessment> {
    let bufr = bufr_child_decoder()?;
    super::probabilistic::assess_input(forecast, bytes, &bufr, &layers.layers, cfg).map(|(r, _)| r)
}

/// `aviso plan`: a river-flood forecast (probabilities CSV) goes to `flood_plan`, any
/// other forecast is read as a cyclone track.
pub fn plan_cmd(config: Option<&Path>, a: PlanArgs) -> Result<()> {
    let cfg = load_config(config)?;
    let bytes = read_input(&a.forecast)?;
    if feeds::floods::looks_like_probabilities(&bytes) {
        return flood_plan(&cfg, &a, &bytes);
    }
    let forecast = read_forecast(&a, &bytes)?;
    let layers = load_indexed_layers(&a.layers, &cfg)?;
    let book = load_register(
        &layers,
        &cfg,
        a.register.as_deref(),
        &a.occupancy,
        a.occupancy_date.as_deref(),
    )?;
    let register = book.current().context("no register in force")?;
    let travel = a
        .travel_times
        .as_deref()
        .map(read_travel_times)
        .transpose()?;
    let flood_areas: Vec<geo::MultiPolygon<f64>> = match &a.flood_extent {
        Some(path) => read_flood_extent(path, None, None)?
            .features
            .into_iter()
            .map(|f| f.geometry)
            .collect(),
        None => Vec::new(),
    };
    let assessment = assess(&forecast, &layers, cfg.assessment(), chrono::Utc::now())?;
    let prob = if a.probabilistic {
        Some(probabilistic(&forecast, &bytes, &layers, &cfg)?)
    } else {
        None
    };
    let t = Instant::now();
    let plan = build_plan(
        &PlanInput {
            assessment: &assessment,
            layers: &layers,
            register,
            probabilistic: prob.as_ref(),
            travel_times: travel.as_ref(),
            extra_unsafe: &flood_areas,
        },
        &cfg.plan,
    );
    write_plan(&a, &cfg, plan, t, |plan, opts| {
        sheet_html(plan, &assessment, &layers.layers, opts)
    })
}

/// `aviso plan` on a river-station flood forecast: assessed as `aviso assess` does
/// (stations, discharge and basins beside the probabilities file or named), planned with
/// the flood displacement fractions at the assessment's levels; the forecast's flood
/// areas make centres unsafe.
fn flood_plan(cfg: &Config, a: &PlanArgs, bytes: &[u8]) -> Result<()> {
    let origin = a.forecast.display();
    if a.flood_extent.is_some() {
        bail!(
            "{origin} is a river flood forecast: --flood-extent adds flood areas to a cyclone \
             plan; plan on the flood forecast alone (its own flood areas make centres unsafe)"
        );
    }
    if a.probabilistic {
        bail!(
            "{origin} is a river flood forecast: --probabilistic is the probabilistic wind of a \
             cyclone forecast; a flood forecast's ensemble is already in its probabilities"
        );
    }
    let (assessment, layers) =
        super::flood::assess_flood_files(&a.forecast, &a.flood_files, &a.layers, cfg, bytes)?;
    let book = load_register(
        &layers,
        cfg,
        a.register.as_deref(),
        &a.occupancy,
        a.occupancy_date.as_deref(),
    )?;
    let register = book.current().context("no register in force")?;
    let travel = a
        .travel_times
        .as_deref()
        .map(read_travel_times)
        .transpose()?;
    let t = Instant::now();
    let plan = build_flood_plan(
        &FloodPlanInput {
            assessment: &assessment,
            layers: &layers,
            register,
            travel_times: travel.as_ref(),
        },
        &cfg.plan,
        // The assessment's own levels (a published version's come from its document).
        &std::collections::BTreeMap::new(),
    );
    write_plan(a, cfg, plan, t, |plan, opts| {
        flood_sheet_html(plan, &assessment, &layers.layers, opts)
    })
}

/// Writes the plan's table, and as asked its GeoJSON, JSON and sheet (`sheet` renders it:
/// HTML, printed to PDF by headless Chromium for a `.pdf` name).
fn write_plan(
    a: &PlanArgs,
    cfg: &Config,
    mut plan: Plan,
    started: Instant,
    sheet: impl FnOnce(&Plan, &SheetOptions) -> String,
) -> Result<()> {
    if plan.demonstration {
        plan.notes
            .insert(0, crate::plan::register::DEMONSTRATION_NOTE.to_string());
    }
    eprintln!(
        "aviso: planned {} origins over {} centres in {:.1} ms: {:.0} persons placed, {:.0} short",
        plan.origins.len(),
        plan.centres.len(),
        started.elapsed().as_secs_f64() * 1e3,
        plan.national.allocated,
        plan.national.shortfall
    );
    write_file(&a.out, &plan_csv(&plan)?)?;
    eprintln!("aviso: plan table written to {}", a.out.display());
    if let Some(path) = &a.geojson {
        let fc = plan_geojson(&plan, cfg.output.coordinate_decimals);
        write_file(path, serde_json::to_string(&fc)?.as_bytes())?;
        eprintln!("aviso: allocations written to {}", path.display());
    }
    if let Some(path) = &a.json {
        write_file(path, serde_json::to_string(&plan)?.as_bytes())?;
    }
    if let Some(path) = &a.sheet {
        let html = sheet(
            &plan,
            &SheetOptions {
                lang: a.lang,
                version_id: None,
                generated_at: chrono::Utc::now(),
            },
        );
        let is_pdf = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
        if is_pdf {
            super::print::print_pdf(&html, path)?;
        } else {
            write_file(path, html.as_bytes())?;
        }
        eprintln!("aviso: contingency sheet written to {}", path.display());
    }
    Ok(())
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("{s:?}: expected pt or en"))
}

/// `aviso register ...`.
pub fn register_cmd(config: Option<&Path>, c: RegisterCommand) -> Result<()> {
    let cfg = || load_config(config);
    match c {
        RegisterCommand::Import(a) => return super::register::import_cmd(config, a),
        RegisterCommand::Occupancy(a) => return super::register::occupancy_cmd(config, a),
        RegisterCommand::Export(a) => return super::register::export_cmd(config, a),
        RegisterCommand::BuildDemo(a) => {
            let cfg = cfg()?;
            let layers = load_indexed_layers(&a.layers, &cfg)?;
            let mut book = RegisterBook::default();
            let warnings = book
                .offer(
                    demo_register(&layers)?,
                    Vec::new(),
                    &layers.layers,
                    &cfg.plan,
                )
                .map_err(anyhow::Error::new)?;
            print_issues(&warnings);
            let register = book.current().context("no register in force")?;
            write_file(&a.out, &register_to_hxl(register)?)?;
            eprintln!(
                "aviso: {} DEMONSTRATION centres written to {} ({} warnings)",
                register.entries.len(),
                a.out.display(),
                warnings.len()
            );
        }
        RegisterCommand::Check(a) => {
            let cfg = cfg()?;
            let layers = load_indexed_layers(&a.layers, &cfg)?;
            let book = load_register(
                &layers,
                &cfg,
                Some(&a.register),
                &a.occupancy,
                a.occupancy_date.as_deref(),
            )?;
            let register = book.current().context("no register in force")?;
            eprintln!(
                "aviso: {}: {} entries valid",
                a.register.display(),
                register.entries.len()
            );
            if let Some(out) = &a.export {
                write_file(out, &register_to_hxl(register)?)?;
                eprintln!("aviso: register exported to {}", out.display());
            }
        }
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
