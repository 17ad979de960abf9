//! Wiring of the service commands: `aviso serve` (API + cron loops), `aviso run-once`
//! (one pull-assess-publish cycle of every feed) and the demo (`serve --demo`: the shared
//! layers and a local replay feed of Freddy). Names the concrete adapters: SQLite store,
//! reqwest fetcher, axum server, tokio runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{TimeZone, Utc};

use crate::alerts::versioning::CapStatus;
use crate::api::ApiState;
use crate::api::health::{FeedWatch, ServiceStatus};
use crate::app::{load_config, load_indexed_layers};
use crate::config::{Config, FeedConfig, FeedKind};
use crate::feeds::fetch::Fetcher;
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, RunReport, demo, schedule};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

pub struct ServeArgs {
    pub config: Option<PathBuf>,
    /// Overrides `service.listen`.
    pub listen: Option<String>,
    /// Overrides `service.data_dir`.
    pub data_dir: Option<PathBuf>,
    /// Overrides `service.layers`.
    pub layers: Option<PathBuf>,
    /// Replay Freddy through a local feed (Exercise alerts).
    pub demo: bool,
    /// Demo: wall seconds per 6-hourly issuance.
    pub demo_step_s: u32,
}

/// The demo storm: Freddy's second Mozambique landfall (IBTrACS, RSMC La Réunion's
/// REUNION block), replayed from 8 March 2023 00Z, 6-hourly, 120 h ahead.
const DEMO_TRACK: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";

struct Service {
    cfg: Arc<Config>,
    pipeline: Arc<Pipeline>,
    status: Arc<ServiceStatus>,
    api: Arc<ApiState>,
    listener: Option<tokio::net::TcpListener>,
    /// The demo's replay feed, served beside the API.
    demo: Option<(tokio::net::TcpListener, Arc<demo::Replay>)>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// The data folder the layers manifest points at (for the demo's track).
fn data_dir_of(layers: &Path) -> Result<PathBuf> {
    let manifest = if layers.is_dir() {
        layers.join("manifest.toml")
    } else {
        layers.to_path_buf()
    };
    let m = crate::layers::manifest::load_manifest(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    Ok(m.data_dir)
}

/// `bind`: bind the API listener now (serve), so links carry the real port even when
/// the config asks for port 0.
async fn build(a: &ServeArgs, bind: bool) -> Result<Service> {
    let mut cfg = load_config(a.config.as_deref())?;
    if let Some(l) = &a.listen {
        cfg.service.listen = l.clone();
    }
    if let Some(l) = &a.layers {
        cfg.service.layers = l.display().to_string();
    }
    let layers_path = PathBuf::from(&cfg.service.layers);
    let mut demo_feed = None;
    if a.demo {
        let step = a.demo_step_s.clamp(1, 59);
        let data = data_dir_of(&layers_path)?;
        let track_path = data.join(DEMO_TRACK);
        let bytes = std::fs::read(&track_path)
            .with_context(|| format!("demo: cannot read {}", track_path.display()))?;
        let opts = crate::feeds::ParseOptions {
            storm: crate::feeds::StormSelector {
                name: Some("FREDDY".into()),
                season: Some(2023),
                sid: None,
            },
            ..crate::feeds::ParseOptions::default()
        };
        let parsed = crate::feeds::parse(&bytes, &track_path.display().to_string(), &opts)?;
        let from = Utc
            .with_ymd_and_hms(2023, 3, 8, 0, 0, 0)
            .single()
            .context("demo start time")?;
        let replay = Arc::new(demo::Replay::new(
            &parsed.forecast,
            from,
            chrono::Duration::hours(6),
            chrono::Duration::hours(120),
            Duration::from_secs(u64::from(step)),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("demo: binding the replay feed")?;
        let url = format!("http://{}{}", listener.local_addr()?, replay.path());
        // Demo runs start from an empty store unless one is named.
        if a.data_dir.is_none() {
            cfg.service.data_dir = std::env::temp_dir()
                .join(format!("aviso-demo-{}", std::process::id()))
                .display()
                .to_string();
        }
        cfg.service.status = CapStatus::Exercise;
        cfg.feeds = vec![FeedConfig {
            name: "demo-freddy".into(),
            kind: FeedKind::RsmcReunion,
            url,
            schedule: format!("*/{step} * * * * *"),
            status: Some(CapStatus::Exercise),
            enabled: true,
            tech: None,
            stations_url: None,
            discharge_url: None,
        }];
        eprintln!(
            "aviso: demo: replaying {} issuances of FREDDY (IBTrACS best track as a perfect forecast, CAP status Exercise), one every {step} s",
            replay.issuances.len()
        );
        demo_feed = Some((listener, replay));
    }
    if let Some(d) = &a.data_dir {
        cfg.service.data_dir = d.display().to_string();
    }
    let mut listen: std::net::SocketAddr = cfg
        .service
        .listen
        .parse()
        .with_context(|| format!("service.listen {:?}", cfg.service.listen))?;
    let listener = if bind {
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        listen = l.local_addr()?;
        Some(l)
    } else {
        None
    };

    let layers = Arc::new(
        tokio::task::block_in_place(|| load_indexed_layers(&layers_path, &cfg))
            .with_context(|| format!("service.layers = {}", cfg.service.layers))?,
    );
    let data_dir = PathBuf::from(&cfg.service.data_dir);
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open_dir(&data_dir)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    let fetcher = Fetcher::new(cfg.http.clone()).context("building the HTTP client")?;
    let metrics = Arc::new(Metrics::default());
    let watches = cfg
        .feeds
        .iter()
        .filter(|f| f.enabled)
        .map(|f| {
            let every = f
                .schedule()
                .ok()
                .and_then(|s| schedule::interval_s(&s))
                .unwrap_or(21_600);
            FeedWatch {
                name: f.name.clone(),
                stale_after_s: (every as f64 * cfg.service.stale_after_intervals) as i64 + 600,
            }
        })
        .collect();
    let status = Arc::new(ServiceStatus::new(watches));
    let base_url = if cfg.service.public_url.is_empty() {
        (!listen.ip().is_unspecified()).then(|| format!("http://{listen}"))
    } else {
        Some(cfg.service.public_url.clone())
    };
    let api = Arc::new(ApiState::new(&layers.layers, base_url).with_service(
        Arc::clone(&store),
        Arc::clone(&status),
        Arc::clone(&metrics),
    ));
    let cfg = Arc::new(cfg);
    let pipeline = Arc::new(Pipeline::new(
        Arc::clone(&cfg),
        layers,
        store,
        fetcher,
        Arc::clone(&api),
        metrics,
    ));
    Ok(Service {
        cfg,
        pipeline,
        status,
        api,
        listener,
        demo: demo_feed,
    })
}

/// Finishes what a previous process left pending (a kill mid-cycle) before anything new.
async fn recover(p: &Arc<Pipeline>) -> Result<()> {
    let p2 = Arc::clone(p);
    let (n, published, _failed) = tokio::task::spawn_blocking(move || {
        p2.restore_discovered();
        p2.process_pending()
    })
    .await
    .context("recovering pending issuances")?;
    if n > 0 {
        eprintln!(
            "aviso: recovered {n} pending issuance(s) from before the restart; published {published:?}"
        );
    }
    Ok(())
}

/// `aviso serve`.
pub fn serve_cmd(a: ServeArgs) -> Result<()> {
    runtime()?.block_on(async move {
        let svc = build(&a, true).await?;
        if let Some((listener, replay)) = svc.demo {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, demo::router(replay)).await {
                    eprintln!("aviso: ERROR: demo feed: {e}");
                }
            });
        }
        let listener = svc.listener.context("no API listener")?;
        let addr = listener.local_addr()?;
        recover(&svc.pipeline).await?;
        svc.status.set_ready();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let loops = schedule::spawn_feed_loops(&svc.pipeline, &rx);
        eprintln!(
            "aviso: serving on http://{addr}/ : map /, alerts /api/alerts, CAP /api/alerts/{{id}}/cap, Atom /api/alerts.atom, OGC API - Features /collections (ogrinfo OAPIF:http://{addr}), /readyz, /metrics; {} feed(s) scheduled; store {}",
            loops.len(),
            svc.cfg.service.data_dir
        );
        let api = crate::api::router(Arc::clone(&svc.api));
        let server = axum::serve(listener, api).with_graceful_shutdown(async {
            shutdown_signal().await;
        });
        server.await.context("serving")?;
        let _ = tx.send(true);
        for l in loops {
            let _ = l.await;
        }
        eprintln!("aviso: stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `aviso run-once`: recover, then one cycle of every enabled feed (GDACS first, so the
/// storm templates have their storms). Exit status 2 when a feed failed.
pub fn run_once_cmd(a: ServeArgs) -> Result<std::process::ExitCode> {
    if a.demo {
        bail!("run-once has no demo: use `aviso serve --demo`");
    }
    runtime()?.block_on(async move {
        let svc = build(&a, false).await?;
        recover(&svc.pipeline).await?;
        let mut feeds: Vec<&FeedConfig> = svc.cfg.feeds.iter().filter(|f| f.enabled).collect();
        feeds.sort_by_key(|f| f.kind != FeedKind::Gdacs);
        let mut reports: Vec<RunReport> = Vec::new();
        for f in feeds {
            reports.push(svc.pipeline.run_feed(f).await);
        }
        let failed = reports.iter().any(|r| !r.failed.is_empty());
        println!("{}", serde_json::to_string_pretty(&reports)?);
        Ok(if failed {
            std::process::ExitCode::from(2)
        } else {
            std::process::ExitCode::SUCCESS
        })
    })
}
