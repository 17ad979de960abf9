//! The demo's set-up (`aviso serve --demo`): cyclone Freddy replayed from its IBTrACS
//! best track as a live RSMC feed, and the river-station flood forecast of 2025-09-25
//! replayed beside it, both on one local HTTP server, with CAP status Exercise, a fresh
//! store in a temporary folder, and the demo's approver token when scripts/demo.sh made
//! one. Split out of `service.rs`, which wires the service itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{TimeZone, Utc};

use super::service::ServeArgs;
use crate::alerts::versioning::CapStatus;
use crate::config::{Config, FeedConfig, FeedKind};
use crate::pipeline::demo;

/// The variable holding the demo's approver token (`serve --demo` only).
const DEMO_TOKEN_ENV: &str = "AVISO_DEMO_TOKEN";

/// The demo storm: Freddy's second Mozambique landfall (IBTrACS, RSMC La Réunion's
/// REUNION block), replayed from 8 March 2023 00Z, 6-hourly, 120 h ahead.
const DEMO_TRACK: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";

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

/// Points `cfg` at the demo's feeds (and store, status and token), and returns the
/// listener and routes of the local server that replays them, to be served beside the API.
pub(super) async fn set_up(
    cfg: &mut Config,
    a: &ServeArgs,
    layers_path: &Path,
) -> Result<(tokio::net::TcpListener, axum::Router)> {
    let step = a.demo_step_s.clamp(1, 59);
    let data = data_dir_of(layers_path)?;
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
    if a.service.data_dir.is_none() {
        cfg.service.data_dir = std::env::temp_dir()
            .join(format!("aviso-demo-{}", std::process::id()))
            .display()
            .to_string();
    }
    cfg.service.status = CapStatus::Exercise;
    // The operations page (/ops, issue 13): scripts/demo.sh makes a token for this run
    // and prints it; the demo's duty officer signs in with it (read from the
    // environment like any token_env, never logged).
    if std::env::var_os(DEMO_TOKEN_ENV).is_some() {
        cfg.notify.tokens.push(crate::notify::config::TokenConfig {
            name: "demo-officer".into(),
            role: crate::notify::config::Role::Approver,
            sha256: None,
            token_env: Some(DEMO_TOKEN_ENV.into()),
        });
    }
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
    tracing::info!(
        issuances = replay.issuances.len(),
        step_s = step,
        "demo: replaying FREDDY (IBTrACS best track as a perfect forecast, CAP status Exercise)"
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
            tracing::info!(
                issued = %flood.issue_date,
                file = demo::FLOOD_PROBABILITIES,
                "demo: replaying the river-station flood forecast (GloFAS-based; a past forecast served as if current, CAP status Exercise)"
            );
            routes = routes.merge(demo::flood_router(&flood));
        }
        // WARN: the demo runs on with the storm alone.
        Err(e) => tracing::warn!(error = %e, "demo without floods"),
    }
    feeds.insert(0, storm_feed);
    cfg.feeds = feeds;
    Ok((listener, routes))
}
