//! Wiring of the service commands: `aviso serve` (API + cron loops + the subscribers'
//! outbox worker), `aviso run-once` (one pull-assess-publish cycle of every feed, then
//! delivery) and the demo (`serve --demo`, whose feeds `demo.rs` sets up). Names the
//! concrete adapters: SQLite store, reqwest fetcher, axum server, lettre/reqwest channels,
//! tokio runtime. Secrets come from the environment only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{Voice, load_config, load_indexed_layers_told};
use crate::api::ApiState;
use crate::api::health::{FeedWatch, ServiceStatus};
use crate::config::{Config, FeedConfig, FeedKind};
use crate::feeds::fetch::Fetcher;
use crate::metrics::Metrics;
use crate::notify::channels::{Channels, env_secret};
use crate::notify::dispatch::Dispatcher;
use crate::pipeline::{Pipeline, RunReport, schedule};
use crate::store::notify::NotifyStore;

/// Overrides of the `[service]` config table, shared by `serve` and `run-once`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServiceFlags {
    /// Address to listen on (IP:PORT); overrides service.listen.
    #[arg(long)]
    pub listen: Option<String>,
    /// Store directory; overrides service.data_dir.
    #[arg(long, env = "AVISO_STATE_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Layers directory or manifest; overrides service.layers.
    #[arg(long, env = "AVISO_LAYERS")]
    pub layers: Option<PathBuf>,
}

/// `aviso serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub service: ServiceFlags,
    /// Demo: the shared layers and a local feed replaying cyclone Freddy (March 2023) as if live, one 6-hourly issuance every --demo-step seconds, and the river-station flood forecast of 2025-09-25 (Limpopo); alerts are CAP status Exercise; the store is a fresh temporary folder unless --data-dir is given.
    #[arg(long)]
    pub demo: bool,
    /// Demo: wall seconds per replayed issuance (1 to 59).
    #[arg(long = "demo-step", value_name = "SECONDS", default_value_t = 2)]
    pub demo_step_s: u32,
}

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
    dispatcher: Option<Arc<Dispatcher<dyn NotifyStore>>>,
    /// The audit trail, for the start's own row ([`audit_start`]).
    approvals: Arc<dyn crate::store::approval::ApprovalStore>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tune_malloc();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// glibc malloc arenas the service may use. glibc's default is 8 per core (mallopt(3),
/// M_ARENA_MAX), and each thread that allocates while another holds an arena gets one of
/// its own: the 2 tokio workers plus the blocking threads (store calls, gzip, imports)
/// reached 16 arenas in `benches/soak`, and each kept the memory its threads had freed.
/// Two (one per worker thread, `runtime`'s `worker_threads(2)`) is the usual advice for
/// threaded servers on glibc (`MALLOC_ARENA_MAX=2`: Heroku Dev Center, "Tuning glibc
/// Memory Behavior"); Lighthouse (sigp/lighthouse, `common/malloc_utils`) sets
/// M_ARENA_MAX and M_MMAP_THRESHOLD the same way. Measured in `benches/soak` (header).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_ARENAS: libc::c_int = 2;
/// Allocations from this size (256 KiB) get their own mapping, given back to the system
/// when freed. Setting it fixes glibc's threshold, which otherwise rises after each large
/// free up to 32 MiB (mallopt(3), M_MMAP_THRESHOLD: "dynamic mmap threshold"), after which
/// answers of a few MB (a 2.1 MB layer page, a 1.5 MB alert document) and import buffers
/// are carved from the arenas and the freed room stays in the process.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_MMAP_THRESHOLD: libc::c_int = 256 * 1024;

/// Keeps glibc malloc from holding on to memory the service freed (issue 17's soak: RSS
/// 324 MiB before, 415 MiB 10 s after, while the heap in use went from 179 to 181 MiB;
/// gdb's `malloc_info` showed the arenas grown from 8 to 16 and holding 191 MiB free, and
/// `malloc_trim(0)` took RSS back to 324 MiB: no cache grew, glibc kept what was freed). glibc's own knobs, not a second allocator: GDAL, SQLite and ecCodes
/// allocate through glibc anyway, and the `libc` crate is already in the tree. An
/// operator who sets `GLIBC_TUNABLES=glibc.malloc.*` (glibc manual, "Memory Allocation
/// Tunables") keeps their own settings.
fn tune_malloc() {
    if operator_tunes_malloc(std::env::var("GLIBC_TUNABLES").ok().as_deref()) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc malloc's parameters; it is called before the
    // runtime's threads start, and both values are within the documented ranges.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD);
    }
}

/// True when the environment's `GLIBC_TUNABLES` already sets a malloc tunable.
pub fn operator_tunes_malloc(tunables: Option<&str>) -> bool {
    tunables.is_some_and(|t| {
        t.split(':')
            .any(|kv| kv.trim().starts_with("glibc.malloc."))
    })
}

/// `bind`: bind the API listener now (serve), so links carry the real port even when
/// the config asks for port 0.
async fn build(mut cfg: Config, a: &ServeArgs, bind: bool) -> Result<Service> {
    if let Some(l) = &a.service.listen {
        cfg.service.listen = l.clone();
    }
    if let Some(l) = &a.service.layers {
        cfg.service.layers = l.display().to_string();
    }
    let layers_path = PathBuf::from(&cfg.service.layers);
    let demo_feed = if a.demo {
        Some(super::demo::set_up(&mut cfg, a, &layers_path).await?)
    } else {
        None
    };
    if let Some(d) = &a.service.data_dir {
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
        if !cfg.notify.tokens.is_empty()
            && let Some(why) = cfg.service.plain_http_exposure(listen)
        {
            // ERROR: someone must act; a bearer token sent in clear can be replayed.
            tracing::error!(
                listen = %listen,
                admin_tokens = cfg.notify.tokens.len(),
                "admin tokens would cross plain HTTP off this machine: {why}. Put a TLS \
                 reverse proxy in front and set service.public_url = \"https://...\" \
                 (deploy/Caddyfile), or listen on 127.0.0.1"
            );
        }
        Some(l)
    } else {
        None
    };

    let layers = Arc::new(
        tokio::task::block_in_place(|| load_indexed_layers_told(&layers_path, &cfg, Voice::Log))
            .with_context(|| format!("service.layers = {}", cfg.service.layers))?,
    );
    let super::store::Stores {
        store,
        notify: notify_store,
        approvals,
        registers,
    } = tokio::task::block_in_place(|| super::store::open_store(&cfg))?;
    // Channels and tokens read their secrets now: a missing variable stops the start,
    // not the first alert.
    let channels = Channels::from_config(&cfg.notify, &env_secret)
        .context("building the notification channels ([notify])")?;
    // On PostgreSQL every replica runs a worker: their claims (FOR UPDATE SKIP LOCKED
    // under a lease) never overlap, and a dead replica's lapse to the others.
    let dispatcher = cfg.notify.any_channel_enabled().then(|| {
        Arc::new(Dispatcher::new(
            Arc::clone(&notify_store),
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
            // WARN: messages go out, with links subscribers may not reach.
            None if cfg.notify.any_channel_enabled() => tracing::warn!(
                links = %cfg.notify.message.base_url,
                "links in messages point at the default address (listening on every interface): set service.public_url"
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
        .with_http_server(&cfg.http_server)
        .with_map((&cfg.map).into());
    if let Some(n) = notify_api {
        api_state = api_state.with_notify(n);
    }
    let cfg = Arc::new(cfg);
    let mut pipeline = Pipeline::new(
        Arc::clone(&cfg),
        layers,
        store,
        fetcher,
        api_state.published(),
        metrics,
    );
    pipeline = pipeline.with_notify(Arc::clone(&notify_store));
    pipeline = pipeline.with_approvals(Arc::clone(&approvals));
    let audit_trail = Arc::clone(&approvals);
    let pipeline =
        Arc::new(pipeline.with_bufr_decoder(Arc::new(crate::app::bufr_child_decoder()?)));
    if bind {
        api_state = api_state.with_plan(super::plan_service::plan_api(&cfg, registers, &pipeline));
        api_state = api_state.with_proposals(super::approval::proposals_api(
            approvals,
            Arc::clone(&pipeline.store),
            &pipeline,
        ));
    }
    let api = Arc::new(api_state);
    Ok(Service {
        cfg,
        pipeline,
        status,
        api,
        listener,
        demo: demo_feed,
        dispatcher,
        approvals: audit_trail,
    })
}

/// Writes the configuration a starting `aviso serve` runs on to the audit trail (issue 13
/// §5, "configuration reloads"): aviso reads its configuration only at start, so a restart
/// is its reload, and the row (the file, or the embedded default, with the SHA-256 of its
/// bytes) tells an auditor which rules (auto-publish, four eyes, ladders) were in force
/// from when. A failure to write it is logged and the service goes on: a warning service
/// does not stop for its own bookkeeping.
fn audit_start(
    trail: &dyn crate::store::approval::ApprovalStore,
    config: Option<&Path>,
    listen: &str,
) {
    use sha2::{Digest, Sha256};
    let (source, bytes) = match config {
        Some(p) => match std::fs::read(p) {
            Ok(b) => (p.display().to_string(), b),
            Err(e) => {
                tracing::error!(config = %p.display(), error = %e, "the configuration file could not be read again for the audit trail");
                return;
            }
        },
        None => (
            "embedded config/default.toml".to_string(),
            crate::config::DEFAULT_TOML.as_bytes().to_vec(),
        ),
    };
    let entry = crate::store::approval::AuditEntry::new(
        chrono::Utc::now(),
        "aviso",
        "config_loaded",
        format!("config {source}"),
    )
    .with_detail(serde_json::json!({
        "sha256": hex::encode(Sha256::digest(&bytes)),
        "version": env!("CARGO_PKG_VERSION"),
        "listen": listen,
    }));
    if let Err(e) = tokio::task::block_in_place(|| trail.audit(&entry)) {
        tracing::error!(error = %e, "the start's configuration could not be written to the audit trail");
    }
}

/// Finishes what a previous process left pending (a kill mid-cycle) before anything new.
async fn recover(p: &Arc<Pipeline>) -> Result<()> {
    let p2 = Arc::clone(p);
    let ((n, published, _failed), resumed) = tokio::task::spawn_blocking(move || {
        p2.restore_discovered();
        let done = p2.process_pending();
        (done, p2.resume_pending_probabilities())
    })
    .await
    .context("recovering pending issuances")?;
    if resumed > 0 {
        tracing::info!(
            versions = resumed,
            "probabilities left pending by the previous process are computed again"
        );
    }
    if n > 0 {
        tracing::info!(
            issuances = n,
            published = ?published,
            "recovered pending issuances from before the restart"
        );
    }
    Ok(())
}

/// `aviso serve`.
pub fn serve_cmd(config: Option<&Path>, a: ServeArgs) -> Result<()> {
    let cfg = load_config(config)?;
    super::logging::init(cfg.log.format)?;
    let rt = logged(runtime())?;
    logged(rt.block_on(async move {
        let svc = build(cfg, &a, true).await?;
        if let Some((listener, routes)) = svc.demo {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, routes).await {
                    tracing::error!(error = %e, "demo feed: its server stopped");
                }
            });
        }
        let listener = svc.listener.context("no API listener")?;
        let addr = listener.local_addr()?;
        audit_start(svc.approvals.as_ref(), config, &addr.to_string());
        recover(&svc.pipeline).await?;
        svc.status.set_ready();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let loops = schedule::spawn_feed_loops(&svc.pipeline, &rx);
        // On PostgreSQL, other replicas publish too: follow them (nothing on SQLite).
        let follower = tokio::spawn(
            Arc::clone(&svc.pipeline)
                .follow_store(crate::pipeline::FOLLOW_EVERY, rx.clone()),
        );
        // The deadline of waiting proposals (nothing when nobody is on call).
        let reminders = tokio::spawn(Arc::clone(&svc.pipeline).remind_loop(rx.clone()));
        let worker = svc.dispatcher.clone().map(|d| {
            let stop = rx.clone();
            tokio::spawn(async move { d.run(stop).await })
        });
        log_notify_summary(&svc.cfg);
        // The address stays in the message: "serving on http://…/" is what an operator (and
        // the tests) look for to learn the port of `listen = "…:0"`.
        tracing::info!(
            feeds = loops.len(),
            store = %svc.cfg.store.postgres_url().map(crate::store::config::redact)
                .unwrap_or_else(|| svc.cfg.service.data_dir.clone()),
            "serving on http://{addr}/ : map /, alerts /api/alerts, CAP /api/alerts/{{id}}/cap, Atom /api/alerts.atom, OGC API - Features /collections (ogrinfo OAPIF:http://{addr}), /readyz, /metrics"
        );
        let api = crate::api::router(Arc::clone(&svc.api));
        crate::api::server::serve(listener, api, &svc.cfg.http_server, shutdown_signal())
            .await
            .context("serving")?;
        let _ = tx.send(true);
        let _ = follower.await;
        let _ = reminders.await;
        for l in loops {
            let _ = l.await;
        }
        if let Some(w) = worker
            && let Ok(stats) = w.await
        {
            tracing::info!(
                delivered = stats.delivered,
                retried = stats.retried,
                given_up = stats.failed,
                "notify: messages since start"
            );
        }
        tracing::info!("stopped");
        Ok(())
    }))
}

/// A service command's result, its error also logged (ERROR: the service is down) so a log
/// shipper sees why; the CLI still prints it as the command's last word.
fn logged<T>(r: Result<T>) -> Result<T> {
    if let Err(e) = &r {
        tracing::error!(error = %format!("{e:#}"), "the service stopped on an error");
    }
    r
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
pub fn run_once_cmd(
    config: Option<&Path>,
    service: ServiceFlags,
) -> Result<std::process::ExitCode> {
    let a = ServeArgs {
        service,
        demo: false,
        demo_step_s: 2,
    };
    let cfg = load_config(config)?;
    super::logging::init(cfg.log.format)?;
    let rt = logged(runtime())?;
    logged(rt.block_on(async move {
        let svc = build(cfg, &a, false).await?;
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
                Ok(s) => tracing::info!(
                    delivered = s.delivered,
                    to_retry = s.retried,
                    given_up = s.failed,
                    "notify: messages of this run"
                ),
                // ERROR: the messages are not lost (they stay queued) but late until the
                // store answers again.
                Err(e) => {
                    tracing::error!(error = %e, "notify: delivery failed (messages stay queued)")
                }
            }
        }
        // Not tracing: the command's result, on stdout for scripts.
        println!("{}", serde_json::to_string_pretty(&reports)?);
        Ok(if failed {
            std::process::ExitCode::from(2)
        } else {
            std::process::ExitCode::SUCCESS
        })
    }))
}

/// One event on what `[notify]` will do, for the start-up log.
fn log_notify_summary(cfg: &Config) {
    let n = &cfg.notify;
    tracing::info!(
        email = n.email.enabled,
        sms = n.sms.enabled,
        webhooks = n.webhook.enabled,
        admin_tokens = n.tokens.len(),
        sms_replies = n.inbound.enabled,
        sms_delivery_reports = n.sms.dlr_enabled,
        links = %n.message.base_url,
        "notify: channels"
    );
}
