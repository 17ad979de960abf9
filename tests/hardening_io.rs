//! Hardening of `aviso serve` against what a black-box probe found (issue 17, findings 3
//! to 6), each through the real service: the `aviso serve` binary on 127.0.0.1 (started
//! with `common::start_service`), fed by a local feed server, and spoken to over real
//! sockets. Assertions are on behaviour (published or not, answered or closed, how many
//! bytes were sent, counters), with generous bounds; speed is measured in
//! benches/import.rs, not here.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;
mod notify_support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use chrono::{TimeZone, Utc};

use notify_support::{Api, feed, freddy, sha256_hex};

const EDITOR: &str = "editor-token-hardening-3c1d";

/// A service config: layers from the repository, the store in `dir`, an editor token,
/// `extra` appended (feeds, [http_server] keys).
fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("aviso.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\nlayers = {:?}\n\n[http]\nconnect_timeout_s = 2.0\ntimeout_s = 5.0\nretries = 0\n\n[[notify.token]]\nname = \"ops\"\nrole = \"editor\"\nsha256 = \"{}\"\n\n{extra}",
            dir.join("state").display().to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/layers"),
            sha256_hex(EDITOR),
        ),
    )
    .unwrap();
    config
}

/// Kills the service when the test ends, passed or not.
struct Service(std::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rows` subscribers in the import's CSV layout, each with a phone and a district.
fn subscribers_csv(rows: usize) -> String {
    let mut csv = String::from("id,name,phones,districts\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "sub-{i:06},Ponto focal {i},+25884{:07},MZ1103\n",
            i % 10_000_000
        ));
    }
    csv
}

/// A gauge or counter of /metrics (the sum of its lines).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// --- finding 3: a large import never holds back a publication ----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_version_is_published_while_a_100k_row_import_runs() {
    let Some(issuances) = freddy(Utc.with_ymd_and_hms(2023, 3, 8, 0, 0, 0).unwrap()) else {
        return;
    };
    aviso::feeds::fetch::install_crypto_provider();
    let feed_body: Arc<Mutex<Vec<u8>>> = Arc::default();
    let feeds = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let feed_url = format!("http://{}/rsmc/freddy.json", feeds.local_addr().unwrap());
    let app = Router::new()
        .route("/{*path}", get(feed))
        .with_state(Arc::clone(&feed_body));
    tokio::spawn(async move { axum::serve(feeds, app).await });

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[[feed]]\nname = \"rsmc\"\nkind = \"rsmc-reunion\"\nurl = {feed_url:?}\nschedule = \"* * * * * *\"\n"
        ),
    );
    let (child, base) = common::start_service(&config);
    let _service = Service(child);
    let api = Arc::new(Api {
        base,
        c: reqwest::Client::new(),
    });

    const ROWS: usize = 100_000;
    let csv = subscribers_csv(ROWS);
    let t0 = Instant::now();
    let import = {
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            let r = api
                .send(
                    reqwest::Method::POST,
                    "/api/admin/subscribers.csv",
                    Some(EDITOR),
                    Some("text/csv"),
                    csv,
                )
                .await;
            (r.0, r.1, t0.elapsed())
        })
    };
    // The import is writing once its first batch is visible (or, with the old single
    // transaction, after it has had a few seconds to parse and start).
    while t0.elapsed() < Duration::from_secs(5) {
        let m = api.text("/metrics").await;
        if metric(&m, "aviso_notify_subscribers") > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The feed publishes Freddy's first forecast now; the service fetches it within a
    // second and must publish version 1 while the import is still writing.
    *feed_body.lock().unwrap() = issuances[0].1.clone();
    let t_feed = Instant::now();
    let mut published_at = None;
    while t_feed.elapsed() < Duration::from_secs(60) {
        let (s, v) = api.get("/api/alerts", None).await;
        if s == 200 && v["alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            published_at = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let subscribers_then = metric(&api.text("/metrics").await, "aviso_notify_subscribers");
    let published_at = published_at
        .expect("no alert version was published within 60 s of the feed's new issuance while the import ran");
    let (status, body, import_done) = import.await.unwrap();
    eprintln!(
        "import of {ROWS} rows answered {status} after {import_done:?}; version 1 published after {published_at:?} (feed updated at {:?}); {subscribers_then} subscribers stored when it was seen",
        t_feed.duration_since(t0)
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], ROWS, "{body}");
    assert!(
        published_at < import_done,
        "the version must be published while the import still runs (published {published_at:?}, import answered {import_done:?})"
    );
    assert!(
        subscribers_then < ROWS as f64,
        "the import had finished when the version was seen ({subscribers_then} stored)"
    );
}
