//! The `aviso` command line, declared once: each command's clap `Args` struct lives with
//! its handler and is handed to it as parsed (issue 16 move 4). `--config` is global and
//! passed beside it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use super::assess::{AssessArgs, ReplayArgs};
use super::check_config::CheckConfigArgs;
use super::layers::{BuildPopulationArgs, ServeLayersArgs, ZonalArgs};
use super::plan::{PlanArgs, RegisterCommand};
use super::service::{ServeArgs, ServiceFlags};
use super::windfield::WindfieldArgs;

#[derive(Parser)]
#[command(
    name = "aviso",
    version,
    about = "Early warning of tropical cyclones for Mozambique: forecast -> districts, sites and people at risk"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: the embedded config/default.toml.
    #[arg(long, global = true, env = "AVISO_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// The scheduled service: pulls the configured feeds on their cron schedules, keeps every issuance, publishes versioned alerts (GeoJSON, CAP 1.2, Atom) and serves them with the layers (OGC API - Features), /readyz and /metrics.
    Serve(ServeArgs),
    /// One pull-assess-publish cycle of every enabled feed, then exit (for cron-less deployments and tests). Exit status 2 when a feed failed.
    RunOnce(ServiceFlags),
    /// Assess one forecast file (Météo-France RSMC JSON, ATCF a/b-deck, IBTrACS CSV, or a river-station flood probabilities CSV) and write the alert document.
    Assess(AssessArgs),
    /// Maximum sustained wind (10-minute mean kt, with the 1-minute equivalent) at every site, accommodation centre, health facility and settlement over a whole track (IBTrACS best track, ATCF, RSMC JSON or ECMWF BUFR): from the fixes' wind radii where given, the Holland (2008) profile elsewhere, at 30-minute steps. CSV, or GeoJSON for a .geojson name.
    Windfield(WindfieldArgs),
    /// Where will people go: a cyclone forecast, the layers and an accommodation-centre register (HXL CSV or XLSX; without one, the DEMONSTRATION register) to the demand, safe capacity and gap per district and province (CSV) and the allocation of at-risk settlements and sites to the nearest safe centres with room (GeoJSON).
    Plan(PlanArgs),
    /// Accommodation-centre registers: build the demonstration register, check a register and export it as HXL.
    Register {
        #[command(subcommand)]
        command: RegisterCommand,
    },
    /// Replay a best track as a sequence of issuances and summarise how early each district was warned.
    Replay(ReplayArgs),
    /// Exact zonal sums of a raster under polygons (cells weighted by the share of their area inside), as CSV: id, sum, covered_cells.
    Zonal(ZonalArgs),
    /// Layer tools.
    Layers {
        #[command(subcommand)]
        command: LayersCommand,
    },
    /// Serve the layers (and optionally one alert document) as OGC API - Features, for QGIS and GDAL.
    ServeLayers(ServeLayersArgs),
    /// The store's data: backup, restore (with an integrity check), migrate from SQLite to PostgreSQL.
    Store {
        #[command(subcommand)]
        command: super::store_ops::StoreCommand,
    },
    /// Load and validate the configuration (and, with --layers, the layers), then exit.
    CheckConfig(CheckConfigArgs),
    /// Internal (hidden): decode the ECMWF TC-track BUFR on standard input and write the
    /// result as JSON on standard output. aviso runs itself this way for every BUFR file,
    /// so that a file that crashes ecCodes ends this child, not the service.
    #[command(name = "decode-bufr", hide = true)]
    DecodeBufr(DecodeBufrArgs),
}

/// The limits the parent gives the `decode-bufr` child, which sets them on itself.
#[derive(clap::Args)]
pub struct DecodeBufrArgs {
    /// CPU-time limit (RLIMIT_CPU), seconds.
    #[arg(long)]
    max_cpu_s: u64,
    /// Address-space limit (RLIMIT_AS), bytes.
    #[arg(long)]
    max_address_space_bytes: u64,
}

#[derive(Subcommand)]
pub enum LayersCommand {
    /// Build a dasymetric population grid: district totals spread over settlement points (equal shares; districts without points by area).
    BuildPopulation(BuildPopulationArgs),
}

/// Parses the command line, runs the command, and turns an error into a message on
/// standard error and a failing exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    // The service commands set the log up once their config (its `[log] format`) is read;
    // the BUFR decoder child writes nothing but its JSON; every other command gets the
    // text log now, for events of the modules it runs (its own report stays on stderr).
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::RunOnce(_) | Command::DecodeBufr(_)
    ) && let Err(e) = super::logging::init(crate::config::LogFormat::Text)
    {
        eprintln!("aviso: error: {e:#}");
        return ExitCode::FAILURE;
    }
    let ok = |()| ExitCode::SUCCESS;
    let result = match cli.command {
        Command::Assess(a) => super::assess::assess_cmd(config, a).map(ok),
        Command::Plan(a) => super::plan::plan_cmd(config, a).map(ok),
        Command::Register { command } => super::plan::register_cmd(config, command).map(ok),
        Command::Replay(a) => super::assess::replay_cmd(config, a).map(ok),
        Command::Windfield(a) => super::windfield::windfield_cmd(config, a).map(ok),
        Command::Zonal(a) => super::layers::zonal_cmd(a).map(ok),
        Command::Layers {
            command: LayersCommand::BuildPopulation(a),
        } => super::layers::build_population_cmd(a).map(ok),
        Command::ServeLayers(a) => super::layers::serve_layers_cmd(a).map(ok),
        Command::Serve(a) => super::service::serve_cmd(config, a).map(ok),
        // Exit status 2 when a feed failed.
        Command::RunOnce(flags) => super::service::run_once_cmd(config, flags),
        Command::Store { command } => super::store_ops::store_cmd(config, command).map(ok),
        Command::CheckConfig(a) => super::check_config::check_config_cmd(config, a).map(ok),
        Command::DecodeBufr(a) => {
            crate::feeds::bufr_child::child_main(a.max_cpu_s, a.max_address_space_bytes)
                .map_err(|e| anyhow::anyhow!(e))
                .map(ok)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Not tracing: the failed command's last word to whoever ran it, with the log
            // set up or not (a bad config stops before it is).
            eprintln!("aviso: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
