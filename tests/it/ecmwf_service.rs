//! The service with an `ecmwf-bufr` feed: a local HTTP server plays ECMWF's HEROLD
//! 2020-03-19 12Z ensemble BUFR beside an RSMC feed (Freddy's 2023-03-10 00Z CMRSTRACK). The
//! BUFR issuance is processed (HEROLD stayed east of 70° E, far from Mozambique), its
//! assessment record keeps the member count, the feed is healthy; a truncated BUFR then
//! degrades the feed with an error naming the URL and the message, and Freddy's published
//! alert stays.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use aviso::api::ApiState;
use aviso::api::health::{FeedWatch, ServiceStatus};
use aviso::config::{Config, FeedConfig, FeedKind};
use aviso::feeds::fetch::{Fetcher, HttpConfig};
use aviso::metrics::Metrics;
use aviso::pipeline::Pipeline;
use aviso::store::sqlite::SqliteStore;
use aviso::store::{AlertFilter, FeedState, IssuanceState, Store};

const EPS: &str = "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.eps.bufr4";
const FREDDY: &str =
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json";

/// Serves whatever body is set for a path (404 otherwise) on 127.0.0.1.
#[derive(Clone, Default)]
struct Bodies(Arc<Mutex<HashMap<String, Vec<u8>>>>);

impl Bodies {
    fn set(&self, path: &str, body: Vec<u8>) {
        self.0.lock().unwrap().insert(path.to_string(), body);
    }

    async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let bodies = self.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let bodies = bodies.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let body = bodies.0.lock().unwrap().get(&path).cloned();
                    let (status, body) = match body {
                        Some(b) => (200, b),
                        None => (404, b"not found".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/octet-stream\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        base
    }
}

fn feed(name: &str, kind: FeedKind, url: String) -> FeedConfig {
    FeedConfig {
        name: name.into(),
        kind,
        url,
        schedule: "0 0 * * * *".into(),
        status: None,
        enabled: true,
        tech: None,
        stations_url: None,
        discharge_url: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecmwf_bufr_feed_is_processed_and_a_truncated_one_degrades_it_keeping_alerts() {
    let (Some(eps_path), Some(freddy_path)) = (common::data_file(EPS), common::data_file(FREDDY))
    else {
        return;
    };
    let eps = std::fs::read(&eps_path).unwrap();
    let freddy = std::fs::read(&freddy_path).unwrap();
    let bodies = Bodies::default();
    let base = bodies.serve().await;
    bodies.set("/rsmc/freddy.json", freddy);
    bodies.set("/ecmwf/herold.bufr4", eps.clone());

    aviso::feeds::fetch::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let rsmc = feed(
        "rsmc",
        FeedKind::RsmcReunion,
        format!("{base}/rsmc/freddy.json"),
    );
    let ecmwf = feed(
        "ecmwf",
        FeedKind::EcmwfBufr,
        format!("{base}/ecmwf/herold.bufr4"),
    );
    let mut cfg = Config::embedded_default().unwrap();
    // Issue 12's probabilistic step has its own test (probabilistic_service); in a debug
    // build it costs seconds per version.
    cfg.probabilistic.publish = false;
    cfg.feeds = vec![rsmc.clone(), ecmwf.clone()];
    // Freddy's 2023 forecast and HEROLD's 2020 ensemble are replayed as Actual.
    cfg.service.max_forecast_age_h = 1_000_000.0;
    let http = HttpConfig {
        connect_timeout_s: 2.0,
        timeout_s: 5.0,
        retries: 0,
        ..HttpConfig::default()
    };
    cfg.http = http.clone();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest).unwrap();
    let layers = Arc::new(aviso::exposure::IndexedLayers::new(
        loaded.layers,
        &cfg.exposure,
    ));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
    let metrics = Arc::new(Metrics::default());
    let status = Arc::new(ServiceStatus::new(
        ["rsmc", "ecmwf"]
            .iter()
            .map(|n| FeedWatch {
                name: (*n).into(),
                stale_after_s: 3600,
            })
            .collect(),
    ));
    status.set_ready();
    let api = Arc::new(ApiState::new(&layers.layers, None).with_service(
        Arc::clone(&store),
        status,
        Arc::clone(&metrics),
    ));
    let p = Arc::new(Pipeline::new(
        Arc::new(cfg),
        layers,
        Arc::clone(&store),
        Fetcher::new(http).unwrap(),
        api.published(),
        metrics,
    ));

    // Freddy, 60 h before its second landfall in Zambézia: an alert is published.
    let r = p.run_feed(&rsmc).await;
    assert_eq!(
        (r.fetched, r.failed.len(), r.published.len()),
        (1, 0, 1),
        "{r:?}"
    );
    let freddy_alert = r.published[0].clone();

    // HEROLD's ensemble: fetched, processed, nothing failed; the feed is healthy.
    let r = p.run_feed(&ecmwf).await;
    assert_eq!((r.fetched, r.processed), (1, 1), "{r:?}");
    assert!(r.failed.is_empty(), "{r:?}");
    let h = store.feed_health("ecmwf").unwrap().unwrap();
    assert_eq!(h.state, FeedState::Ok, "{h:?}");
    let herold = (1..=5)
        .filter_map(|id| store.issuance(id).unwrap())
        .find(|i| i.raw.feed == "ecmwf")
        .unwrap();
    assert_eq!(herold.state, IssuanceState::Processed, "{:?}", herold.error);
    // Its assessment record: HEROLD, the reference time, 52 members, no district on the
    // ladder (the storm stayed between 71° and 80° E).
    let db = rusqlite::Connection::open(dir.path().join("aviso.sqlite")).unwrap();
    let record: String = db
        .query_row(
            "SELECT record FROM assessments WHERE issuance_id = ?1",
            [herold.id],
            |row| row.get(0),
        )
        .unwrap();
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["event_name"], "HEROLD", "{record}");
    assert_eq!(record["figures"]["ensemble_members"], 52, "{record}");
    assert_eq!(record["districts_on_ladder"], 0, "{record}");
    assert!(
        record["figures"]["source"]
            .as_str()
            .unwrap()
            .contains("member 52"),
        "{record}"
    );

    // A truncated BUFR: the feed is degraded with an error naming the URL and message 1;
    // Freddy's alert is still the published, active one.
    bodies.set("/ecmwf/herold.bufr4", eps[..eps.len() / 2].to_vec());
    let r = p.run_feed(&ecmwf).await;
    assert_eq!(r.published.len(), 0, "{r:?}");
    assert_eq!(r.failed.len(), 1, "{r:?}");
    let h = store.feed_health("ecmwf").unwrap().unwrap();
    assert_eq!(h.state, FeedState::Degraded, "{h:?}");
    let err = h.last_error.unwrap_or_default();
    assert!(
        err.contains(&ecmwf.url) && err.contains("BUFR message 1") && err.contains("truncated"),
        "{err}"
    );
    assert_eq!(h.last_error_kind.as_deref(), Some("parse"));
    let alerts = store.alerts(&AlertFilter::default()).unwrap();
    let still = alerts.iter().find(|a| a.id == freddy_alert).unwrap();
    assert!(still.active, "{still:?}");
    assert_eq!(
        store.feed_health("rsmc").unwrap().unwrap().state,
        FeedState::Ok
    );
}
