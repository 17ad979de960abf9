//! The `aviso` command line: parses arguments and hands over to `aviso::app`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "aviso",
    version,
    about = "Early warning of tropical cyclones for Mozambique: forecast -> districts, sites and people at risk"
)]
struct Cli {
    /// Configuration file (TOML). Default: the embedded config/default.toml.
    #[arg(long, global = true, env = "AVISO_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Geojson,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// Assess one forecast file (Météo-France RSMC JSON, ATCF a/b-deck, IBTrACS CSV, or a river-station flood probabilities CSV) and write the alert document.
    Assess {
        /// The forecast file; its format is detected from the content.
        #[arg(long)]
        forecast: PathBuf,
        /// Layer manifest, or a directory holding manifest.toml.
        #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
        layers: PathBuf,
        /// Where to write the GeoJSON alert ("-" or absent: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "geojson")]
        format: Format,
        #[command(flatten)]
        storm: StormArgs,
        /// For best tracks: treat the track as forecast issued at this time (RFC 3339 or
        /// "YYYY-MM-DD HH:MM", UTC). Default: the first fix.
        #[arg(long)]
        at: Option<String>,
        /// For ATCF a-decks: the technique to read (default JTWC, then OFCL).
        #[arg(long)]
        tech: Option<String>,
        /// For flood forecasts (a probabilities CSV): the stations/thresholds CSV.
        /// Default: the *stations*.csv beside the forecast.
        #[arg(long)]
        stations: Option<PathBuf>,
        /// For flood forecasts: the ensemble discharge CSV. Default: the *discharge*.csv
        /// beside the forecast (without one, the file's counts are used unchecked).
        #[arg(long)]
        discharge: Option<PathBuf>,
        /// For flood forecasts: the river-basins GeoJSON. Default: the *basins*.geojson
        /// beside the forecast.
        #[arg(long)]
        basins: Option<PathBuf>,
    },
    /// Replay a best track as a sequence of issuances and summarise how early each district was warned.
    Replay {
        #[arg(long)]
        track: PathBuf,
        #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
        layers: PathBuf,
        #[command(flatten)]
        storm: StormArgs,
        /// Interval between issuances, e.g. 6h, 12h.
        #[arg(long, default_value = "6h")]
        every: String,
        /// Forecast horizon of each issuance (RSMC forecasts reach 120 h).
        #[arg(long, default_value = "120h")]
        horizon: String,
        /// Output directory for the alerts and the summary.
        #[arg(long, default_value = "out/replay")]
        out: PathBuf,
    },
    /// Load and validate the configuration (and, with --layers, the layers), then exit.
    CheckConfig {
        #[arg(long)]
        layers: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct StormArgs {
    /// Storm name in a best-track file (IBTrACS), e.g. FREDDY.
    #[arg(long)]
    storm: Option<String>,
    /// Season year (IBTrACS SEASON: the year the southern season ends).
    #[arg(long)]
    season: Option<i32>,
    /// IBTrACS storm id, e.g. 2023036S12118.
    #[arg(long)]
    sid: Option<String>,
}

impl From<StormArgs> for aviso::app::StormChoice {
    fn from(s: StormArgs) -> Self {
        aviso::app::StormChoice {
            name: s.storm,
            season: s.season,
            sid: s.sid,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Assess {
            forecast,
            layers,
            out,
            format,
            storm,
            at,
            tech,
            stations,
            discharge,
            basins,
        } => aviso::app::assess_cmd(aviso::app::AssessArgs {
            config: cli.config,
            forecast,
            layers,
            out,
            table: matches!(format, Format::Table),
            storm: storm.into(),
            at,
            tech,
            flood_files: aviso::app::FloodFiles {
                stations,
                discharge,
                basins,
            },
        }),
        Command::Replay {
            track,
            layers,
            storm,
            every,
            horizon,
            out,
        } => aviso::app::replay_cmd(aviso::app::ReplayArgs {
            config: cli.config,
            track,
            layers,
            storm: storm.into(),
            every,
            horizon,
            out,
        }),
        Command::CheckConfig { layers } => aviso::app::check_config_cmd(cli.config, layers),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aviso: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
