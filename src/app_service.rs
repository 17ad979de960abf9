//! Wiring of the service commands: `aviso serve` (API + cron loops + the subscribers'
//! outbox worker), `aviso run-once` (one pull-assess-publish cycle of every feed, then
//! delivery) and the demo (`serve --demo`: the shared layers, a local replay feed of
//! Freddy and a replay of the 2025-09-25 river-station flood forecast). Names the
//! concrete adapters: SQLite store, reqwest fetcher, axum server, lettre/reqwest channels,
//! tokio runtime. Secrets come from the environment only.

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
use crate::notify::channels::{Channels, env_secret};
use crate::notify::dispatch::Dispatcher;
use crate::pipeline::{Pipeline, RunReport, demo, schedule};
use crate::store::Store;
use crate::store::notify::NotifyStore;
use crate::store::sqlite::SqliteStore;

pub struct ServeArgs {
    pub config: Option<PathBuf>,
    /// Overrides `service.listen`.
    pub listen: Option<String>,
    /// Overrides `service.data_dir`.
    pub data_dir: Option<PathBuf>,
    /// Overrides `service.layers`.
    pub layers: Option<PathBuf>,
    /// Replay Freddy and the 2025-09-25 flood forecast through local feeds (Exercise
    /// alerts).
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
    /// The demo's replay feeds (storm and flood on one local server), served beside the
    /// API.
    demo: Option<(tokio::net::TcpListener, axum::Router)>,
    /// The outbox worker; `None` when `[notify]` enables no channel.
    dispatcher: Option<Arc<Dispatcher<SqliteStore>>>,
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
        let storm_feed = FeedConfig {
            name: "demo-freddy".into(),
            kind: FeedKind::RsmcReunion,
            url,
            schedule: format!("*/{step} * * * * *"),
            status: Some(CapStatus::Exercise),
            enabled: true,
            tech: None,
            stations_url: None,
            discharge_url: None,
        };
        eprintln!(
            "aviso: demo: replaying {} issuances of FREDDY (IBTrACS best track as a perfect forecast, CAP status Exercise), one every {step} s",
            replay.issuances.len()
        );
        let mut routes = demo::router(replay);
        let mut feeds = Vec::new();
        // The flood replay needs its three files (and the manifest's river basins, else its
        // feed reports itself degraded); without the files the storm demo still runs, and
        // the log says which file is missing.
        match demo::FloodReplay::load(&data) {
            Ok(flood) => {
                let base = format!("http://{}", listener.local_addr()?);
                let [p, s, d] = flood.paths();
                feeds.push(FeedConfig {
                    name: format!("demo-{}", flood.issue_date),
                    kind: FeedKind::FloodStations,
                    url: format!("{base}{p}"),
                    stations_url: Some(format!("{base}{s}")),
                    discharge_url: Some(format!("{base}{d}")),
                    // A daily product served unchanged: every 10 s is soon enough to see
                    // it within seconds of the start, and later pulls are duplicates.
                    schedule: "*/10 * * * * *".into(),
                    ..storm_feed.clone()
                });
                eprintln!(
                    "aviso: demo: replaying the river-station flood forecast issued {} (GloFAS-based, {}; a past forecast served as if current, CAP status Exercise)",
                    flood.issue_date,
                    demo::FLOOD_PROBABILITIES
                );
                routes = routes.merge(demo::flood_router(&flood));
            }
            Err(e) => eprintln!("aviso: warning: demo without floods: {e}"),
        }
        feeds.insert(0, storm_feed);
        cfg.feeds = feeds;
        demo_feed = Some((listener, routes));
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
    let sqlite = Arc::new(
        SqliteStore::open_dir(&data_dir)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    let store: Arc<dyn Store> = sqlite.clone();
    let notify_store: Arc<dyn NotifyStore> = sqlite.clone();
    // Channels and tokens read their secrets now: a missing variable stops the start,
    // not the first alert.
    let channels = Channels::from_config(&cfg.notify, &env_secret)
        .context("building the notification channels ([notify])")?;
    let dispatcher = cfg.notify.any_channel_enabled().then(|| {
        Arc::new(Dispatcher::new(
            sqlite.clone(),
            channels,
            cfg.notify.outbox.clone(),
        ))
    });
    // The admin API's tokens and the inbound secret matter only to a server that
    // listens: run-once does not ask for them.
    let notify_api = if bind {
        Some(Arc::new(
            crate::api::admin::NotifyApi::new(
                Arc::clone(&notify_store),
                &cfg.notify,
                &layers.layers,
                &env_secret,
            )
            .context("the admin API ([notify] tokens and inbound SMS)")?,
        ))
    } else {
        None
    };
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
    // Links in messages follow the service's own address (service.public_url, else the
    // address it listens on) unless [notify.message] names its own.
    if cfg.notify.message.base_url == crate::notify::message::MessageOptions::default().base_url {
        match &base_url {
            Some(b) => cfg.notify.message.base_url = b.trim_end_matches('/').to_string(),
            None if cfg.notify.any_channel_enabled() => eprintln!(
                "aviso: warning: links in messages point at {} (listening on every interface): set service.public_url",
                cfg.notify.message.base_url
            ),
            None => {}
        }
    }
    let mut api_state = ApiState::new(&layers.layers, base_url)
        .with_service(
            Arc::clone(&store),
            Arc::clone(&status),
            Arc::clone(&metrics),
        )
        .with_http_server(&cfg.http_server);
    if let Some(n) = notify_api {
        api_state = api_state.with_notify(n);
    }
    let api = Arc::new(api_state);
    let cfg = Arc::new(cfg);
    let pipeline = Arc::new(
        Pipeline::new(
            Arc::clone(&cfg),
            layers,
            store,
            fetcher,
            api.published(),
            metrics,
        )
        .with_notify(notify_store)
        .with_bufr_decoder(Arc::new(crate::app::bufr_child_decoder()?)),
    );
    Ok(Service {
        cfg,
        pipeline,
        status,
        api,
        listener,
        demo: demo_feed,
        dispatcher,
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
        if let Some((listener, routes)) = svc.demo {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, routes).await {
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
        let worker = svc.dispatcher.clone().map(|d| {
            let stop = rx.clone();
            tokio::spawn(async move { d.run(stop).await })
        });
        eprintln!("aviso: {}", notify_summary(&svc.cfg));
        eprintln!(
            "aviso: serving on http://{addr}/ : map /, alerts /api/alerts, CAP /api/alerts/{{id}}/cap, Atom /api/alerts.atom, OGC API - Features /collections (ogrinfo OAPIF:http://{addr}), /readyz, /metrics; {} feed(s) scheduled; store {}",
            loops.len(),
            svc.cfg.service.data_dir
        );
        let api = crate::api::router(Arc::clone(&svc.api));
        crate::api::server::serve(listener, api, &svc.cfg.http_server, shutdown_signal())
            .await
            .context("serving")?;
        let _ = tx.send(true);
        for l in loops {
            let _ = l.await;
        }
        if let Some(w) = worker
            && let Ok(stats) = w.await
        {
            eprintln!(
                "aviso: notify: {} message(s) delivered, {} retried, {} given up since start",
                stats.delivered, stats.retried, stats.failed
            );
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
        if let Some(d) = &svc.dispatcher {
            // Deliver before exiting; retries due later stay queued for the next run.
            let wait = Duration::from_secs_f64(svc.cfg.notify.outbox.run_once_wait_s);
            match d.run_until_idle_within(wait).await {
                Ok(s) => eprintln!(
                    "aviso: notify: {} message(s) delivered, {} to retry, {} given up",
                    s.delivered, s.retried, s.failed
                ),
                Err(e) => eprintln!("aviso: ERROR: notify: {e} (messages stay queued)"),
            }
        }
        println!("{}", serde_json::to_string_pretty(&reports)?);
        Ok(if failed {
            std::process::ExitCode::from(2)
        } else {
            std::process::ExitCode::SUCCESS
        })
    })
}

/// One line on what `[notify]` will do, for the start-up log.
fn notify_summary(cfg: &Config) -> String {
    let n = &cfg.notify;
    let on = |b: bool| if b { "on" } else { "off" };
    format!(
        "notify: e-mail {}, SMS {}, webhooks {}; {} admin token(s); SMS replies {}; SMS delivery reports {}; links to {}",
        on(n.email.enabled),
        on(n.sms.enabled),
        on(n.webhook.enabled),
        n.tokens.len(),
        on(n.inbound.enabled),
        on(n.sms.dlr_enabled),
        n.message.base_url
    )
}
