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

/// Overrides of the `[service]` config table.
#[derive(clap::Args)]
struct ServiceFlags {
    /// Address to listen on (IP:PORT); overrides service.listen.
    #[arg(long)]
    listen: Option<String>,
    /// Store directory; overrides service.data_dir.
    #[arg(long, env = "AVISO_STATE_DIR")]
    data_dir: Option<PathBuf>,
    /// Layers directory or manifest; overrides service.layers.
    #[arg(long, env = "AVISO_LAYERS")]
    layers: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Geojson,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// The scheduled service: pulls the configured feeds on their cron schedules, keeps every issuance, publishes versioned alerts (GeoJSON, CAP 1.2, Atom) and serves them with the layers (OGC API - Features), /readyz and /metrics.
    Serve {
        #[command(flatten)]
        service: ServiceFlags,
        /// Demo: the shared layers and a local feed replaying cyclone Freddy (March 2023) as if live, one 6-hourly issuance every --demo-step seconds, and the river-station flood forecast of 2025-09-25 (Limpopo); alerts are CAP status Exercise; the store is a fresh temporary folder unless --data-dir is given.
        #[arg(long)]
        demo: bool,
        /// Demo: wall seconds per replayed issuance (1 to 59).
        #[arg(long, default_value_t = 2)]
        demo_step: u32,
    },
    /// One pull-assess-publish cycle of every enabled feed, then exit (for cron-less deployments and tests). Exit status 2 when a feed failed.
    RunOnce {
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// Assess one forecast file (Météo-France RSMC JSON, ATCF a/b-deck, IBTrACS CSV, or a river-station flood probabilities CSV) and write the alert document.
    Assess {
        /// The forecast file; its format is detected from the content.
        #[arg(long, required_unless_present = "flood_extent")]
        forecast: Option<PathBuf>,
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
        /// Instead of a forecast: flood-extent polygons (a satellite or model flood map) in
        /// GeoJSON, GeoPackage, Shapefile or any vector format GDAL reads, EPSG:4326.
        #[arg(long, conflicts_with = "forecast")]
        flood_extent: Option<PathBuf>,
        /// For flood extents: the attribute holding a water depth in metres (overrides
        /// flood.extent.depth_field).
        #[arg(long, requires = "flood_extent", conflicts_with = "class_field")]
        depth_field: Option<String>,
        /// For flood extents: the attribute holding a class mapped by
        /// flood.extent.class_levels (overrides flood.extent.class_field).
        #[arg(long, requires = "flood_extent")]
        class_field: Option<String>,
        /// For flood extents: the layer to read from a multi-layer source (GeoPackage).
        #[arg(long, requires = "flood_extent")]
        extent_layer: Option<String>,
        /// Cyclone forecasts: also write the probabilistic wind table (issue 12:
        /// P(wind >= 34/48/64 kt) per district and province in the 0-24/48/72/120 h
        /// windows, people at risk mean and 10/50/90 % quantiles, from
        /// [probabilistic] realisations, or the members of an ECMWF ensemble BUFR given
        /// as --forecast): CSV, the whole result for a .json name, or the probability
        /// contours (10-90 %) and points as GeoJSON for a .geojson name.
        #[arg(long, conflicts_with = "flood_extent")]
        probabilistic: Option<PathBuf>,
    },
    /// Maximum sustained wind (10-minute mean kt, with the 1-minute equivalent) at every site, accommodation centre, health facility and settlement over a whole track (IBTrACS best track, ATCF, RSMC JSON or ECMWF BUFR): from the fixes' wind radii where given, the Holland (2008) profile elsewhere, at 30-minute steps. CSV, or GeoJSON for a .geojson name.
    Windfield {
        /// The track file; its format is detected from the content.
        #[arg(long)]
        track: PathBuf,
        #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
        layers: PathBuf,
        #[command(flatten)]
        storm: StormArgs,
        /// Output: CSV, or GeoJSON for a .geojson name.
        #[arg(long, default_value = "out/windfield.csv")]
        out: PathBuf,
        /// Use the Holland (2008) profile at every step and ignore wind radii (as CLIMADA).
        #[arg(long)]
        profile_only: bool,
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
    /// Exact zonal sums of a raster under polygons (cells weighted by the share of their area inside), as CSV: id, sum, covered_cells.
    Zonal {
        /// Single-band raster in EPSG:4326 (GeoTIFF or any GDAL raster).
        #[arg(long)]
        raster: PathBuf,
        /// Polygons: GeoJSON, or any vector format GDAL reads (first layer).
        #[arg(long)]
        polygons: PathBuf,
        /// Property holding each polygon's id (default: the feature id, else its index).
        #[arg(long)]
        id_field: Option<String>,
        /// CSV output ("-" or absent: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Layer tools.
    Layers {
        #[command(subcommand)]
        command: LayersCommand,
    },
    /// Serve the layers (and optionally one alert document) as OGC API - Features, for QGIS and GDAL.
    ServeLayers {
        #[arg(long, default_value = "layers", env = "AVISO_LAYERS")]
        layers: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Prefix of every link, e.g. https://aviso.example.org. Default: http://LISTEN, or
        /// the request's Host header when listening on every interface.
        #[arg(long)]
        public_url: Option<String>,
        /// An alert document (from `aviso assess`) served as hazard_zones and districts_at_risk.
        #[arg(long)]
        alert: Option<PathBuf>,
    },
    /// Load and validate the configuration (and, with --layers, the layers), then exit.
    CheckConfig {
        #[arg(long)]
        layers: Option<PathBuf>,
    },
    /// Internal (hidden): decode the ECMWF TC-track BUFR on standard input and write the
    /// result as JSON on standard output. aviso runs itself this way for every BUFR file,
    /// so that a file that crashes ecCodes ends this child, not the service.
    #[command(name = "decode-bufr", hide = true)]
    DecodeBufr {
        /// CPU-time limit (RLIMIT_CPU), seconds.
        #[arg(long)]
        max_cpu_s: u64,
        /// Address-space limit (RLIMIT_AS), bytes.
        #[arg(long)]
        max_address_space_bytes: u64,
    },
}

#[derive(Subcommand)]
enum LayersCommand {
    /// Build a dasymetric population grid: district totals spread over settlement points (equal shares; districts without points by area).
    BuildPopulation {
        /// District polygons (GeoJSON or any GDAL vector).
        #[arg(long)]
        districts: PathBuf,
        /// Property/field of the districts holding the id that joins the totals.
        #[arg(long, default_value = "ADM2_PCODE")]
        district_id_field: String,
        /// CSV of district totals.
        #[arg(long)]
        population: PathBuf,
        /// Column of the CSV holding the district id (default: --district-id-field).
        #[arg(long)]
        population_id_field: Option<String>,
        /// Column of the CSV holding the population.
        #[arg(long)]
        population_field: String,
        /// Settlement points (GeoJSON or any GDAL vector).
        #[arg(long)]
        points: PathBuf,
        /// Cell size in arc-seconds (30 = about 1 km).
        #[arg(long)]
        resolution: f64,
        /// Output GeoTIFF.
        #[arg(long)]
        out: PathBuf,
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
            flood_extent: Some(extent),
            layers,
            out,
            format,
            depth_field,
            class_field,
            extent_layer,
            ..
        } => aviso::app_flood::flood_extent_cmd(aviso::app_flood::ExtentArgs {
            config: cli.config,
            extent,
            layers,
            out,
            table: matches!(format, Format::Table),
            depth_field,
            class_field,
            layer: extent_layer,
        }),
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
            probabilistic,
            ..
        } => aviso::app::assess_cmd(aviso::app::AssessArgs {
            config: cli.config,
            // clap requires --forecast when --flood-extent is absent (the arm above).
            forecast: forecast.unwrap_or_default(),
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
            probabilistic,
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
        Command::Windfield {
            track,
            layers,
            storm,
            out,
            profile_only,
        } => aviso::app_windfield::windfield_cmd(aviso::app_windfield::WindfieldArgs {
            config: cli.config,
            track,
            layers,
            storm: storm.into(),
            out,
            profile_only,
        }),
        Command::Zonal {
            raster,
            polygons,
            id_field,
            out,
        } => aviso::app::zonal_cmd(aviso::app::ZonalArgs {
            raster,
            polygons,
            id_field,
            out,
        }),
        Command::Layers {
            command:
                LayersCommand::BuildPopulation {
                    districts,
                    district_id_field,
                    population,
                    population_id_field,
                    population_field,
                    points,
                    resolution,
                    out,
                },
        } => aviso::app::build_population_cmd(aviso::app::BuildPopulationArgs {
            population_id_field: population_id_field.unwrap_or_else(|| district_id_field.clone()),
            districts,
            district_id_field,
            population,
            population_field,
            points,
            resolution_arcsec: resolution,
            out,
        }),
        Command::ServeLayers {
            layers,
            listen,
            public_url,
            alert,
        } => aviso::app::serve_layers_cmd(aviso::app::ServeLayersArgs {
            layers,
            listen,
            public_url,
            alert,
        }),
        Command::Serve {
            service,
            demo,
            demo_step,
        } => aviso::app_service::serve_cmd(aviso::app_service::ServeArgs {
            config: cli.config,
            listen: service.listen,
            data_dir: service.data_dir,
            layers: service.layers,
            demo,
            demo_step_s: demo_step,
        }),
        Command::RunOnce { service } => {
            return match aviso::app_service::run_once_cmd(aviso::app_service::ServeArgs {
                config: cli.config,
                listen: service.listen,
                data_dir: service.data_dir,
                layers: service.layers,
                demo: false,
                demo_step_s: 2,
            }) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("aviso: error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::CheckConfig { layers } => aviso::app::check_config_cmd(cli.config, layers),
        Command::DecodeBufr {
            max_cpu_s,
            max_address_space_bytes,
        } => aviso::app::decode_bufr_cmd(max_cpu_s, max_address_space_bytes),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aviso: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
