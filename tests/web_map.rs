//! The alert map end to end: an aviso server on a free localhost port with the shipped
//! layers and published versions of cyclone Freddy (its IBTrACS best track replayed
//! as issuances on 9 and 10 March 2023, as `aviso replay` does), and Debian's headless
//! chromium driven by playwright-core (tests/web/map.spec.mjs) loading the page from it.
//! The spec checks district colours, the district popup, the timeline, the language
//! toggle, the phone layout and that no request leaves localhost; screenshots go to
//! target/web-artifacts/.
//!
//! Needs node, /usr/bin/chromium (or AVISO_CHROMIUM) and `npm ci` in tests/web
//! (scripts/setup.sh test does all three). Without them the test skips with a message,
//! except in CI (AVISO_REQUIRE_DATA set), where it fails.
//!
//! The server runs in this process on the real router (`aviso::api::serve`) over a real
//! SQLite store: no aviso command publishes versions into a store and serves them yet, so
//! the test publishes them itself, the way `cap.rs` chains versions. The first two are
//! there when the page opens; the third is published while it is open, and the page must
//! show it without a reload.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};

use aviso::alerts::cap::{CapOptions, cap_document};
use aviso::alerts::document::alert_document;
use aviso::alerts::versioning::{CapStatus, PublishedSummary, next_version};
use aviso::api::ApiState;
use aviso::api::health::ServiceStatus;
use aviso::assess::assess;
use aviso::config::Config;
use aviso::exposure::IndexedLayers;
use aviso::feeds::{self, ParseOptions, StormSelector};
use aviso::metrics::Metrics;
use aviso::replay;
use aviso::store::sqlite::SqliteStore;
use aviso::store::{AlertSummary, HazardKind, NewAlert, Store, SummaryDistrict};

const TRACK: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";
const SENDER: &str = "cenoe@ingd.example";
/// Issuances 12-hourly before Freddy's second landfall (11 March, Zambezia); the page opens
/// on the one of 10 March 00 UTC, the README's screenshot.
const ISSUANCES: [&str; 3] = [
    "2023-03-09T00:00:00Z",
    "2023-03-10T00:00:00Z",
    "2023-03-10T12:00:00Z",
];
/// Browser start, page loads, three issuances and two screenshots take ~15 s here.
const SPEC_LIMIT: StdDuration = StdDuration::from_secs(240);

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Skips (locally) or fails (CI) when a tool is missing.
fn tool_missing(what: &str) {
    assert!(
        std::env::var_os("AVISO_REQUIRE_DATA").is_none(),
        "{what} (AVISO_REQUIRE_DATA is set: CI installs it with scripts/setup.sh test)"
    );
    eprintln!("skipping: {what}");
}

/// node, chromium and playwright-core, or `None` after a message.
fn browser_tools() -> Option<PathBuf> {
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        tool_missing("node not found (Debian: apt-get install nodejs npm)");
        return None;
    }
    let chromium = std::env::var_os("AVISO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        tool_missing(&format!(
            "{} not found (Debian: apt-get install chromium)",
            chromium.display()
        ));
        return None;
    }
    if !manifest_dir()
        .join("tests/web/node_modules/playwright-core/package.json")
        .exists()
    {
        tool_missing(
            "tests/web/node_modules/playwright-core not found (run: cd tests/web && npm ci)",
        );
        return None;
    }
    Some(chromium)
}

/// The Freddy versions, each exactly as the service would store it: the assessment's
/// GeoJSON document, the CAP 1.2 XML and the summary the API lists.
fn freddy_versions(layers: &IndexedLayers, cfg: &Config, track_path: &Path) -> Vec<NewAlert> {
    let opts = ParseOptions {
        storm: StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..ParseOptions::default()
    };
    let bytes = std::fs::read(track_path).unwrap();
    let track = feeds::parse_forecast(&bytes, &track_path.display().to_string(), &opts).unwrap();
    let mut prev: Option<PublishedSummary> = None;
    let mut out = Vec::new();
    for at in ISSUANCES {
        let at: DateTime<Utc> = at.parse().unwrap();
        let f = replay::issuance_at(&track, at, Duration::hours(120)).unwrap();
        let a = assess(&f, layers, cfg, at).unwrap();
        let sent = at + Duration::minutes(40);
        let v = next_version(prev.as_ref(), &a, SENDER, sent, CapStatus::Actual)
            .unwrap()
            .expect("Freddy has districts on the ladder on 8-10 March");
        let cap = cap_document(&a, &v, &cfg.levels, &CapOptions::default()).unwrap();
        let document = alert_document(&a, &layers.layers, 5);
        let summary = AlertSummary {
            id: v.identifier.clone(),
            event_id: v.event_id.clone(),
            version: v.version,
            msg_type: v.msg_type,
            status: v.status,
            hazard: HazardKind::TropicalCyclone,
            event_name: a.forecast.storm.name.clone(),
            sender: v.sender.clone(),
            sent: v.sent,
            reference_time: Some(a.forecast.reference_time),
            max_level: a.event_level,
            active: false, // computed by the store when read
            references: v.references.clone(),
            districts: v
                .districts
                .iter()
                .map(|(pcode, d)| SummaryDistrict {
                    pcode: pcode.clone(),
                    name: d.name.clone(),
                    province_pcode: d.province_pcode.clone(),
                    level: d.level,
                })
                .collect(),
            cleared: Vec::new(),
            changes: v.changes.clone(),
            feed: "ibtracs-replay".into(),
            issuance_id: None,
            reason: None,
        };
        out.push(NewAlert {
            summary,
            document: document.to_string(),
            cap,
        });
        prev = Some(v.summary());
    }
    out
}

/// Serves `state` on a free localhost port from a background thread; returns the base URL.
/// The thread ends with the test process.
fn serve(state: Arc<ApiState>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            aviso::api::serve(listener, state).await.unwrap();
        });
    });
    url
}

#[test]
fn the_map_shows_freddy_in_headless_chromium_and_fetches_nothing_beyond_localhost() {
    let Some(chromium) = browser_tools() else {
        return;
    };
    let Some(track_path) = common::data_file(TRACK) else {
        return;
    };
    let started = Instant::now();
    let cfg = Config::embedded_default().unwrap();
    let loaded = aviso::layers::load_layers(&manifest_dir().join("layers/manifest.toml")).unwrap();
    let layers = IndexedLayers::new(loaded.layers, &cfg.exposure);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    store.migrate().unwrap();
    // The first versions are there when the page opens; the last one is published while
    // the page is open, to see it arrive without a reload.
    let mut versions = freddy_versions(&layers, &cfg, &track_path);
    let later = versions.pop().unwrap();
    for v in &versions {
        store.publish_alert(v).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(store);
    let state = ApiState::new(&layers.layers, None).with_service(
        store.clone(),
        Arc::new(ServiceStatus::new(Vec::new())),
        Arc::new(Metrics::default()),
    );
    let url = serve(Arc::new(state));
    eprintln!(
        "web_map: server with {} Freddy versions at {url} after {:.1} s",
        versions.len(),
        started.elapsed().as_secs_f64()
    );
    let signal = tempfile::tempdir().unwrap();

    let artifacts = manifest_dir().join("target/web-artifacts");
    let spec_started = Instant::now();
    let mut child = Command::new("node")
        .arg(manifest_dir().join("tests/web/map.spec.mjs"))
        .arg(&url)
        .env("AVISO_WEB_ARTIFACTS", &artifacts)
        .env("AVISO_CHROMIUM", &chromium)
        .env("AVISO_WEB_MIN_VERSIONS", "2")
        .env("AVISO_WEB_SIGNAL_DIR", signal.path())
        .current_dir(manifest_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The spec's lines, read as they come: one of them asks for the next issuance.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut published = false;
    let status = loop {
        while let Ok(line) = rx.recv_timeout(StdDuration::from_millis(100)) {
            if line == "READY_FOR_NEW_ISSUANCE" && !published {
                store.publish_alert(&later).unwrap();
                std::fs::write(signal.path().join("published"), b"").unwrap();
                published = true;
            }
            lines.push(line);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if spec_started.elapsed() > SPEC_LIMIT {
            let _ = child.kill();
            panic!(
                "map.spec.mjs did not finish within {SPEC_LIMIT:?}:\n{}",
                lines.join("\n")
            );
        }
    };
    // What is left in the pipe after the exit.
    std::thread::sleep(StdDuration::from_millis(200));
    lines.extend(rx.try_iter());
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let stdout = lines.join("\n");
    eprintln!("{stdout}\n{stderr}");
    assert!(published, "the spec never asked for the next issuance");
    eprintln!(
        "web_map: spec {:.1} s, whole test {:.1} s",
        spec_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "map.spec.mjs failed ({status}); its checks are above, screenshots in {}",
        artifacts.display()
    );
    assert!(
        stdout.contains("all checks passed"),
        "the spec exited 0 without its closing line"
    );
}
