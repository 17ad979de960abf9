//! The scheduled service end to end (issue 3): a real local HTTP server plays the feed —
//! good issuances of Freddy (its IBTrACS best track written as RSMC CMRSTRACK documents,
//! as the demo does), a 500, a hanging connection, a truncated body, a malformed file, the
//! same file twice, an older forecast after a newer one — while the real API server
//! answers on another localhost port. Then the `aviso serve` binary is killed mid-cycle
//! and restarted, and the store is checked for lost or doubled issuances.
//!
//! Expected values come from the scenario (which issuance was served, which fault) and from
//! CAP 1.2's required elements, never from the service's own answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use aviso::alerts::versioning::CapStatus;
use aviso::api::ApiState;
use aviso::api::health::{FeedWatch, ServiceStatus};
use aviso::config::{Config, FeedConfig, FeedKind};
use aviso::feeds::fetch::{Fetcher, HttpConfig};
use aviso::metrics::Metrics;
use aviso::pipeline::Pipeline;
use aviso::pipeline::demo::Replay;
use aviso::store::sqlite::SqliteStore;
use aviso::store::{IssuanceState, Store};

const TRACK: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";
const CHIDO: &str =
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI04_20242025_CHIDO_2024-12-15T02Z.json";

/// Freddy's replayed issuances from 9 March 2023 00Z, 6-hourly, the last one at the end
/// of the track (nothing left ahead: the all-clear).
fn freddy_issuances() -> Option<Vec<(DateTime<Utc>, Vec<u8>)>> {
    let path = common::data_file(TRACK)?;
    let bytes = std::fs::read(&path).unwrap();
    let opts = aviso::feeds::ParseOptions {
        storm: aviso::feeds::StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..Default::default()
    };
    let track = aviso::feeds::parse(&bytes, "ibtracs", &opts)
        .unwrap()
        .forecast;
    let from = Utc.with_ymd_and_hms(2023, 3, 9, 0, 0, 0).unwrap();
    let r = Replay::new(
        &track,
        from,
        chrono::Duration::hours(6),
        chrono::Duration::hours(120),
        Duration::from_secs(1),
    );
    Some(r.issuances)
}

/// What the feed server answers to one request.
#[derive(Clone)]
enum Reply {
    Body(Vec<u8>),
    Status(u16),
    /// Accepts the connection, never answers.
    Hang,
    /// Announces the whole body, sends half, closes.
    Truncated(Vec<u8>),
}

/// A feed server on raw TCP (so it can hang and truncate). Each request takes the next
/// scripted reply; with the script empty it repeats the last one.
struct FeedServer {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Reply>>>,
    served: Arc<AtomicUsize>,
    /// Request lines received ("GET /path HTTP/1.1").
    requests: Arc<Mutex<Vec<String>>>,
}

impl FeedServer {
    async fn start() -> FeedServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let served = Arc::new(AtomicUsize::new(0));
        let (s2, n2) = (Arc::clone(&script), Arc::clone(&served));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let r2 = Arc::clone(&requests);
        tokio::spawn(async move {
            let mut last = Reply::Status(404);
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let reply = {
                    let mut s = s2.lock().unwrap();
                    if let Some(r) = s.pop_front() {
                        last = r;
                    }
                    last.clone()
                };
                n2.fetch_add(1, Ordering::SeqCst);
                let r3 = Arc::clone(&r2);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]);
                    r3.lock()
                        .unwrap()
                        .push(head.lines().next().unwrap_or_default().to_string());
                    let head = |status: u16, len: usize| {
                        format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
                        )
                    };
                    match reply {
                        Reply::Body(b) => {
                            let _ = sock.write_all(head(200, b.len()).as_bytes()).await;
                            let _ = sock.write_all(&b).await;
                        }
                        Reply::Status(s) => {
                            let _ = sock.write_all(head(s, 5).as_bytes()).await;
                            let _ = sock.write_all(b"error").await;
                        }
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        Reply::Truncated(b) => {
                            let _ = sock.write_all(head(200, b.len()).as_bytes()).await;
                            let _ = sock.write_all(&b[..b.len() / 2]).await;
                        }
                    }
                    let _ = sock.shutdown().await;
                });
            }
        });
        FeedServer {
            addr,
            script,
            served,
            requests,
        }
    }

    fn push(&self, r: Reply) {
        self.script.lock().unwrap().push_back(r);
    }

    fn url(&self) -> String {
        format!("http://{}/rsmc/freddy.json", self.addr)
    }
}

fn http_config() -> HttpConfig {
    HttpConfig {
        connect_timeout_s: 1.0,
        timeout_s: 1.0,
        retries: 0,
        backoff_initial_ms: 10,
        backoff_max_ms: 20,
        ..HttpConfig::default()
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let (status, _, body) = get(client, url).await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Element names and texts of a CAP document, in order.
fn xml_elements(xml: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                stack.push(name.clone());
                out.push((name, String::new()));
            }
            Event::Text(t) => {
                if let Some(last) = out.last_mut()
                    && stack.last() == Some(&last.0)
                {
                    last.1.push_str(&t.decode().unwrap());
                }
            }
            Event::GeneralRef(e) => {
                if let Some(last) = out.last_mut() {
                    let name = String::from_utf8(e.to_vec()).unwrap();
                    last.1.push_str(match name.as_str() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        _ => "'",
                    });
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn texts<'a>(el: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    el.iter()
        .filter(|(n, _)| n == name)
        .map(|(_, t)| t.as_str())
        .collect()
}

/// CAP 1.2 (OASIS, 2010) §3.2: elements an alert must carry, and per info block.
fn assert_cap_is_complete(xml: &str, msg_type: &str, status: &str) -> Vec<(String, String)> {
    let el = xml_elements(xml);
    for required in ["identifier", "sender", "sent", "status", "msgType", "scope"] {
        assert_eq!(
            texts(&el, required).len(),
            1,
            "CAP lacks <{required}>:\n{xml}"
        );
    }
    assert_eq!(texts(&el, "msgType"), [msg_type]);
    assert_eq!(texts(&el, "status"), [status]);
    let langs = texts(&el, "language");
    assert_eq!(
        langs,
        ["pt-PT", "en-US"],
        "one info in Portuguese, then English"
    );
    for per_info in ["category", "event", "urgency", "severity", "certainty"] {
        assert_eq!(
            texts(&el, per_info).len(),
            2,
            "each info needs <{per_info}>"
        );
    }
    el
}

struct InProcess {
    pipeline: Arc<Pipeline>,
    api: String,
    feed: FeedConfig,
    exercise: FeedConfig,
    client: reqwest::Client,
}

/// The service in process, replaying Freddy's 2023 forecasts as Actual alerts: the test
/// set-up raises `service.max_forecast_age_h`, which refuses them in real use.
async fn in_process(
    feed: &FeedServer,
    exercise: &FeedServer,
    dir: &std::path::Path,
    more_feeds: &[FeedConfig],
) -> InProcess {
    in_process_with(feed, exercise, dir, more_feeds, |cfg| {
        cfg.service.max_forecast_age_h = 1_000_000.0;
    })
    .await
}

async fn in_process_with(
    feed: &FeedServer,
    exercise: &FeedServer,
    dir: &std::path::Path,
    more_feeds: &[FeedConfig],
    tweak: impl FnOnce(&mut Config),
) -> InProcess {
    aviso::feeds::fetch::install_crypto_provider();
    let mut cfg = Config::embedded_default().unwrap();
    // Issue 12's probabilistic step has its own test (probabilistic_service); in a debug
    // build it costs seconds per version.
    cfg.probabilistic.publish = false;
    tweak(&mut cfg);
    let rsmc = FeedConfig {
        name: "rsmc".into(),
        kind: FeedKind::RsmcReunion,
        url: feed.url(),
        schedule: "0 0 * * * *".into(),
        status: None,
        enabled: true,
        tech: None,
        stations_url: None,
        discharge_url: None,
    };
    let exercise_feed = FeedConfig {
        name: "drill".into(),
        url: exercise.url(),
        status: Some(CapStatus::Exercise),
        ..rsmc.clone()
    };
    cfg.feeds = vec![rsmc.clone(), exercise_feed.clone()];
    cfg.feeds.extend(more_feeds.iter().cloned());
    cfg.http = http_config();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let loaded = aviso::layers::load_layers(&manifest).unwrap();
    let layers = Arc::new(aviso::exposure::IndexedLayers::new(
        loaded.layers,
        &cfg.exposure,
    ));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(dir).unwrap());
    let metrics = Arc::new(Metrics::default());
    let status = Arc::new(ServiceStatus::new(vec![
        FeedWatch {
            name: "rsmc".into(),
            stale_after_s: 3600,
        },
        FeedWatch {
            name: "drill".into(),
            stale_after_s: 3600,
        },
    ]));
    status.set_ready();
    let api_state = Arc::new(ApiState::new(&layers.layers, None).with_service(
        Arc::clone(&store),
        status,
        Arc::clone(&metrics),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(aviso::api::serve(listener, Arc::clone(&api_state)));
    let pipeline = Arc::new(Pipeline::new(
        Arc::new(cfg),
        layers,
        store,
        Fetcher::new(http_config()).unwrap(),
        api_state.published(),
        metrics,
    ));
    InProcess {
        pipeline,
        api,
        feed: rsmc,
        exercise: exercise_feed,
        client: reqwest::Client::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_with_faults_publish_an_alert_update_cancel_chain_and_keep_the_last_good_alert() {
    let Some(issuances) = freddy_issuances() else {
        return;
    };
    let at = |h: u32| {
        let t = Utc.with_ymd_and_hms(2023, 3, 9, h, 0, 0).unwrap();
        issuances.iter().find(|(r, _)| *r == t).unwrap().1.clone()
    };
    let (a00, a06, a12) = (at(0), at(6), at(12));
    let last = issuances.last().unwrap().1.clone();
    let feed = FeedServer::start().await;
    let drill = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = in_process(&feed, &drill, dir.path(), &[]).await;
    let (p, api, c) = (&s.pipeline, s.api.as_str(), &s.client);

    // 1. The first issuance: an Alert.
    feed.push(Reply::Body(a00.clone()));
    let r = p.run_feed(&s.feed).await;
    assert_eq!(
        (r.fetched, r.failed.len(), r.published.len()),
        (1, 0, 1),
        "{r:?}"
    );
    let v1 = r.published[0].clone();
    let list = get_json(c, &format!("{api}/api/alerts")).await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["alerts"][0]["id"], v1.as_str());
    assert_eq!(list["alerts"][0]["msg_type"], "Alert");
    assert_eq!(list["alerts"][0]["active"], true);
    let cap1 = get(c, &format!("{api}/api/alerts/{v1}/cap")).await;
    assert_eq!(cap1.0, 200);
    assert!(cap1.1.starts_with("application/cap+xml"));
    let el = assert_cap_is_complete(&cap1.2, "Alert", "Actual");
    assert!(
        texts(&el, "references").is_empty(),
        "a first Alert references nothing"
    );
    assert!(!texts(&el, "polygon").is_empty() && !texts(&el, "geocode").is_empty());
    let doc = get_json(c, &format!("{api}/api/alerts/{v1}")).await;
    assert_eq!(doc["type"], "FeatureCollection");
    assert_eq!(doc["alert"]["id"], v1.as_str());
    let label = doc["aviso"]["source"]["label"].as_str().unwrap();
    assert!(
        label.contains("replayed"),
        "a replay is labelled as one: {label}"
    );

    // 2–5. Faults: 500, a hang, a truncated body, a malformed file. Each degrades the feed,
    // none withdraws the alert.
    let faults = [
        (Reply::Status(500), "http_5xx"),
        (Reply::Hang, "timeout"),
        (Reply::Truncated(a06.clone()), "truncated"),
        (
            Reply::Body(
                br#"{"type":"FeatureCollection","cyclone_name":"X","features":[{"#.to_vec(),
            ),
            "parse",
        ),
    ];
    for (reply, kind) in faults {
        feed.push(reply);
        let r = p.run_feed(&s.feed).await;
        assert!(r.published.is_empty(), "{kind}: {r:?}");
        let ready = get_json(c, &format!("{api}/readyz")).await;
        assert_eq!(ready["status"], "degraded", "{kind}: {ready}");
        let f = &ready["feeds"][0];
        assert_eq!(f["feed"], "rsmc");
        assert_eq!(f["state"], "degraded");
        assert_eq!(f["last_error_kind"], kind, "{ready}");
        assert!(!f["last_error"].as_str().unwrap().is_empty());
        let list = get_json(c, &format!("{api}/api/alerts")).await;
        assert_eq!(
            list["alerts"][0]["id"],
            v1.as_str(),
            "{kind}: the last good alert stays"
        );
    }
    let failed: Vec<_> = (1..=10)
        .filter_map(|id| p.store.issuance(id).unwrap())
        .filter(|i| i.state == IssuanceState::Failed)
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "the malformed body is stored, marked failed"
    );
    assert!(failed[0].error.as_deref().unwrap().contains("rsmc"));

    // 6. The same file again: not a new issuance; the feed is healthy again.
    feed.push(Reply::Body(a00.clone()));
    let r = p.run_feed(&s.feed).await;
    assert_eq!(
        (r.fetched, r.duplicates, r.published.len()),
        (0, 1, 0),
        "{r:?}"
    );
    assert_eq!(get_json(c, &format!("{api}/readyz")).await["status"], "ok");

    // 7. A newer forecast: an Update referencing the Alert.
    feed.push(Reply::Body(a12.clone()));
    let r = p.run_feed(&s.feed).await;
    assert_eq!(r.published.len(), 1, "{r:?}");
    let v2 = r.published[0].clone();
    let cap2 = get(c, &format!("{api}/api/alerts/{v2}/cap")).await.2;
    let el2 = assert_cap_is_complete(&cap2, "Update", "Actual");
    let refs = texts(&el2, "references");
    assert_eq!(refs.len(), 1);
    assert!(refs[0].contains(&format!(",{v1},")), "{refs:?}");

    // 8. An older forecast arriving late: stored, assessed, not published.
    feed.push(Reply::Body(a06.clone()));
    let r = p.run_feed(&s.feed).await;
    assert_eq!(
        (r.fetched, r.processed, r.published.len()),
        (1, 1, 0),
        "{r:?}"
    );
    let list = get_json(c, &format!("{api}/api/alerts")).await;
    assert_eq!(list["alerts"][0]["id"], v2.as_str());

    // 9. The storm is over: a Cancel; nothing active; the history keeps three versions.
    feed.push(Reply::Body(last.clone()));
    let r = p.run_feed(&s.feed).await;
    assert_eq!(r.published.len(), 1, "{r:?}");
    let v3 = r.published[0].clone();
    assert_eq!(get_json(c, &format!("{api}/api/alerts")).await["count"], 0);
    let all = get_json(c, &format!("{api}/api/alerts?status=all")).await;
    let kinds: Vec<_> = all["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["msg_type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["Cancel", "Update", "Alert"], "newest first");
    let cap3 = get(c, &format!("{api}/api/alerts/{v3}/cap")).await.2;
    let el3 = assert_cap_is_complete(&cap3, "Cancel", "Actual");
    assert!(texts(&el3, "references")[0].contains(&format!(",{v2},")));
    let event = all["alerts"][0]["event_id"].as_str().unwrap().to_string();
    let history = get_json(c, &format!("{api}/api/events/{event}")).await;
    assert_eq!(history["versions"].as_array().unwrap().len(), 3);
    assert_eq!(history["active"], false);
    let cancel = &all["alerts"][0];
    assert!(cancel["districts"].as_array().unwrap().is_empty());
    assert!(
        !cancel["cleared"].as_array().unwrap().is_empty(),
        "a Cancel says what it clears"
    );

    // An Exercise feed: labelled, kept out of the public list and the Atom feed.
    drill.push(Reply::Body(a00.clone()));
    let r = p.run_feed(&s.exercise).await;
    assert_eq!(r.published.len(), 1, "{r:?}");
    let ex = r.published[0].clone();
    assert!(ex.starts_with("aviso-exercise-"), "{ex}");
    assert_eq!(get_json(c, &format!("{api}/api/alerts")).await["count"], 0);
    let with_tests = get_json(c, &format!("{api}/api/alerts?include_tests=true")).await;
    assert_eq!(with_tests["alerts"][0]["status"], "Exercise");
    let capx = get(c, &format!("{api}/api/alerts/{ex}/cap")).await.2;
    let elx = assert_cap_is_complete(&capx, "Alert", "Exercise");
    assert!(
        texts(&elx, "headline")[0].contains("EXERCÍCIO"),
        "{:?}",
        texts(&elx, "headline")
    );
    let (status, ct, atom) = get(c, &format!("{api}/api/alerts.atom")).await;
    assert_eq!((status, ct.as_str()), (200, "application/atom+xml"));
    let atom_el = xml_elements(&atom);
    assert_eq!(
        texts(&atom_el, "entry").len(),
        3,
        "three Actual versions, no exercise"
    );
    assert!(!atom.contains("exercise"));

    // Metrics count what happened.
    let (_, _, metrics) = get(c, &format!("{api}/metrics")).await;
    for line in [
        "aviso_feed_fetches_total{feed=\"rsmc\",outcome=\"http_5xx\"} 1",
        "aviso_feed_fetches_total{feed=\"rsmc\",outcome=\"timeout\"} 1",
        "aviso_feed_fetches_total{feed=\"rsmc\",outcome=\"truncated\"} 1",
        "aviso_feed_fetches_total{feed=\"rsmc\",outcome=\"parse\"} 1",
        "aviso_alerts_published_total{msg_type=\"Cancel\",level=\"none\"} 1",
        "aviso_feed_up{feed=\"rsmc\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    assert!(metrics.contains("aviso_assessment_duration_seconds_count"));

    // Bad requests: clear 4xx JSON.
    for (path, code) in [
        ("/api/alerts/aviso-nothing-1", 404),
        ("/api/alerts/aviso-nothing-1/cap", 404),
        ("/api/events/none", 404),
        ("/api/alerts?limit=5000", 400),
        ("/api/alerts?level=purple", 400),
        ("/api/alerts?since=yesterday", 400),
        ("/api/alerts?colour=red", 400),
        ("/api/alerts?district=MZ%3Cb%3E", 400),
        ("/api/alerts/%3Cscript%3E", 400),
        ("/collections/districts/items?bbox=200,0,210,10", 400),
    ] {
        let (status, ct, body) = get(c, &format!("{api}{path}")).await;
        assert_eq!(status, code, "{path}: {body}");
        assert_eq!(ct, "application/json", "{path}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(!v["description"].as_str().unwrap().is_empty(), "{path}");
    }
    assert!(feed.served.load(Ordering::SeqCst) >= 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_gone_from_a_healthy_feed_for_24_hours_is_cancelled_without_its_stale_footprints() {
    let Some(issuances) = freddy_issuances() else {
        return;
    };
    let t = Utc.with_ymd_and_hms(2023, 3, 9, 0, 0, 0).unwrap();
    let body = issuances.iter().find(|(r, _)| *r == t).unwrap().1.clone();
    let feed = FeedServer::start().await;
    let drill = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = in_process(&feed, &drill, dir.path(), &[]).await;
    let (p, api, c) = (&s.pipeline, s.api.as_str(), &s.client);
    // The drill feed's issuance is stored but left pending (as when its cycle was killed):
    // rsmc's cycle processes it too, but reports only its own version.
    let raw = aviso::store::RawIssuance {
        feed: "drill".into(),
        url: "http://127.0.0.1/drill/freddy.json".into(),
        fetched_at: Utc::now(),
        sha256: aviso::store::RawIssuance::sha256_hex(&body),
        content_type: Some("application/json".into()),
        bytes: body.clone(),
        etag: None,
        last_modified: None,
    };
    p.store.insert_issuance(&raw).unwrap();
    feed.push(Reply::Body(body.clone()));
    let r = p.run_feed(&s.feed).await;
    assert_eq!(r.published.len(), 1, "{r:?}");
    assert_eq!(r.processed, 1, "{r:?}");
    assert!(!r.published[0].contains("exercise"), "{r:?}");
    let drill = p
        .store
        .latest_version("exercise-2023036s12117")
        .unwrap()
        .unwrap();
    assert_eq!(
        drill.feed, "drill",
        "the drill's issuance was processed in rsmc's cycle"
    );
    let v1 = get_json(c, &format!("{api}/api/alerts/{}", r.published[0])).await;
    let sent: DateTime<Utc> = v1["alert"]["sent"].as_str().unwrap().parse().unwrap();
    let on_ladder = v1["alert"]["districts"].as_array().unwrap().len();
    assert!(on_ladder > 0);

    // service.expire_event_after_h (24 h), but only on evidence: while the feed has
    // delivered nothing usable since the version, no expiry cancels (issue 17).
    let h = |n: i64| sent + chrono::Duration::hours(n);
    assert!(p.expire_stale_at("rsmc", h(48)).is_empty(), "a silent feed");
    // The same forecast re-sent with other bytes is no news either.
    let mut resent = body.clone();
    resent.push(b'\n');
    feed.push(Reply::Body(resent));
    let r = p.run_feed(&s.feed).await;
    assert!(r.failed.is_empty() && r.published.is_empty(), "{r:?}");
    assert!(
        p.expire_stale_at("rsmc", h(48)).is_empty(),
        "the same forecast"
    );
    // The feed then serves a newer forecast of another storm (RSMC's Chido, December
    // 2024): the feed works, and Freddy is no longer in what it says.
    let chido = std::fs::read(common::data_file(CHIDO).unwrap()).unwrap();
    feed.push(Reply::Body(chido));
    let r = p.run_feed(&s.feed).await;
    assert!(r.failed.is_empty(), "{r:?}");
    let chido_alert = r.published.clone();
    assert_eq!(chido_alert.len(), 1, "Chido reached Cabo Delgado: {r:?}");
    assert!(p.expire_stale_at("rsmc", h(23)).is_empty());
    let cancels = p.expire_stale_at("rsmc", h(24));
    assert_eq!(cancels.len(), 1);
    assert!(
        p.expire_stale_at("rsmc", h(48)).is_empty(),
        "cancelled once"
    );
    let active = get_json(c, &format!("{api}/api/alerts")).await;
    assert_eq!(active["count"], 1, "only Chido's: {active}");
    assert_eq!(active["alerts"][0]["id"], chido_alert[0].as_str());
    let list = get_json(c, &format!("{api}/api/alerts?status=all")).await;
    assert_eq!(list["alerts"][0]["id"], cancels[0].as_str());
    assert_eq!(list["alerts"][0]["msg_type"], "Cancel");
    let doc = get_json(c, &format!("{api}/api/alerts/{}", cancels[0])).await;
    let reason = doc["alert"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("24 h") && reason.contains("FREDDY"),
        "{reason}"
    );
    let pt = doc["alert"]["reason_pt"].as_str().unwrap();
    assert!(
        pt.contains("24 h") && pt.contains("sem nova previsão"),
        "{pt}"
    );
    assert_eq!(doc["alert"]["cleared"].as_array().unwrap().len(), on_ladder);
    // No swath, cone or district level from the stale forecast is drawn again.
    assert_eq!(doc["features"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(doc["aviso"]["cancelled"], true);
    assert_eq!(doc["aviso"]["hazard"], "tropical_cyclone");
    let cap = get(c, &format!("{api}/api/alerts/{}/cap", cancels[0])).await;
    let el = assert_cap_is_complete(&cap.2, "Cancel", "Actual");
    assert!(texts(&el, "references")[0].contains(v1["alert"]["id"].as_str().unwrap()));
}

/// Issue 17, finding 1: a feed that keeps serving the same non-forecast body (a
/// maintenance page, an empty body, broken JSON) was degraded on the first fetch only;
/// every identical later fetch counted as a healthy duplicate, `/readyz` said ok, and the
/// 24 h expiry cancelled the live alert "while the feed was healthy". Now each such fetch
/// keeps the feed degraded, and no expiry cancels without a usable forecast since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_serving_the_same_garbage_stays_degraded_and_never_gives_a_false_all_clear() {
    let Some(issuances) = freddy_issuances() else {
        return;
    };
    let t = Utc.with_ymd_and_hms(2023, 3, 9, 6, 0, 0).unwrap();
    let body = issuances.iter().find(|(r, _)| *r == t).unwrap().1.clone();
    let feed = FeedServer::start().await;
    let drill = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = in_process(&feed, &drill, dir.path(), &[]).await;
    let (p, api, c) = (&s.pipeline, s.api.as_str(), &s.client);
    feed.push(Reply::Body(body));
    let r = p.run_feed(&s.feed).await;
    assert_eq!(r.published.len(), 1, "{r:?}");
    let v1 = get_json(c, &format!("{api}/api/alerts/{}", r.published[0])).await;
    let sent: DateTime<Utc> = v1["alert"]["sent"].as_str().unwrap().parse().unwrap();

    let maintenance = b"<html><body><h1>Em manuten\xc3\xa7\xc3\xa3o</h1></body></html>".to_vec();
    let bodies = [
        ("maintenance page", maintenance),
        ("empty body", Vec::new()),
        (
            "broken JSON",
            br#"{"type":"FeatureCollection","features":["#.to_vec(),
        ),
    ];
    for (what, bad) in bodies {
        feed.push(Reply::Body(bad));
        for fetch in 1..=3 {
            let r = p.run_feed(&s.feed).await;
            assert_eq!(r.outcome(), "degraded", "{what}, fetch {fetch}: {r:?}");
            assert!(r.published.is_empty(), "{what}, fetch {fetch}: {r:?}");
            let ready = get_json(c, &format!("{api}/readyz")).await;
            assert_eq!(
                ready["status"], "degraded",
                "{what}, fetch {fetch}: {ready}"
            );
            assert_eq!(ready["feeds"][0]["state"], "degraded", "{what}: {ready}");
            let metrics = get(c, &format!("{api}/metrics")).await.2;
            assert!(
                metrics.contains("aviso_feed_up{feed=\"rsmc\"} 0"),
                "{what}, fetch {fetch}: {metrics}"
            );
            if fetch > 1 {
                assert_eq!(
                    ready["feeds"][0]["last_error_kind"], "repeated_failure",
                    "{ready}"
                );
            }
        }
        // Days pass with the feed serving it: the alert stands, nothing is cancelled.
        for days in [1, 2, 7] {
            let now = sent + chrono::Duration::days(days);
            assert!(
                p.expire_stale_at("rsmc", now).is_empty(),
                "{what}: {days} d"
            );
        }
        let list = get_json(c, &format!("{api}/api/alerts")).await;
        assert_eq!(list["count"], 1, "{what}: {list}");
        assert_eq!(list["alerts"][0]["msg_type"], "Alert");
        assert_eq!(list["alerts"][0]["active"], true);
    }
    let all = get_json(c, &format!("{api}/api/alerts?status=all")).await;
    assert!(
        all["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["msg_type"] != "Cancel"),
        "{all}"
    );
}

/// Issue 17, finding 2: a feed serving a 2023 forecast produced an Actual red alert, with
/// CAP `expires` in 2023, before its `sent`. An Actual forecast older than
/// `service.max_forecast_age_h` (24 h) is now refused and the feed degraded; the same
/// forecast as an Exercise (a drill, the demo's replays) is published, and its `expires`
/// follows `sent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_forecast_is_never_published_as_a_live_alert_and_expires_never_precedes_sent() {
    let Some(issuances) = freddy_issuances() else {
        return;
    };
    let t = Utc.with_ymd_and_hms(2023, 3, 9, 0, 0, 0).unwrap();
    let body = issuances.iter().find(|(r, _)| *r == t).unwrap().1.clone();
    let feed = FeedServer::start().await;
    let drill = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = in_process_with(&feed, &drill, dir.path(), &[], |_| {}).await;
    let (p, api, c) = (&s.pipeline, s.api.as_str(), &s.client);
    assert_eq!(p.cfg.service.max_forecast_age_h, 24.0, "the default");
    for fetch in 1..=2 {
        feed.push(Reply::Body(body.clone()));
        let r = p.run_feed(&s.feed).await;
        assert!(r.published.is_empty(), "fetch {fetch}: {r:?}");
        assert_eq!(r.outcome(), "degraded", "fetch {fetch}: {r:?}");
        assert!(
            r.failed[0].contains("2023-03-09T00:00Z")
                && r.failed[0].contains("service.max_forecast_age_h"),
            "the reason names the forecast's time and the key: {r:?}"
        );
        let ready = get_json(c, &format!("{api}/readyz")).await;
        assert_eq!(ready["feeds"][0]["state"], "degraded", "{ready}");
    }
    assert_eq!(
        get_json(c, &format!("{api}/readyz")).await["feeds"][0]["last_error_kind"],
        "repeated_failure"
    );
    let list = get_json(c, &format!("{api}/api/alerts?status=all")).await;
    assert_eq!(list["count"], 0, "{list}");
    let atom = get(c, &format!("{api}/api/alerts.atom")).await.2;
    assert!(!atom.contains("<entry>"), "{atom}");

    // The same forecast from the Exercise feed is published, labelled, and its CAP expires
    // after it was sent.
    drill.push(Reply::Body(body));
    let r = p.run_feed(&s.exercise).await;
    assert_eq!(r.published.len(), 1, "{r:?}");
    let cap = get(c, &format!("{api}/api/alerts/{}/cap", r.published[0]))
        .await
        .2;
    let el = assert_cap_is_complete(&cap, "Alert", "Exercise");
    let sent: DateTime<Utc> = texts(&el, "sent")[0].parse().unwrap();
    for e in texts(&el, "expires") {
        let expires: DateTime<Utc> = e.parse().unwrap();
        assert!(expires > sent, "expires {expires} precedes sent {sent}");
        assert_eq!(
            expires - sent,
            chrono::Duration::hours(12),
            "cap_expires_after_h"
        );
    }
}

/// Waits until `cond` holds on the store (read by a second connection, as an operator
/// would with sqlite3), up to `secs`.
fn wait_for(dir: &std::path::Path, secs: u64, cond: impl Fn(&SqliteStore) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if let Ok(s) = SqliteStore::open_dir(dir)
            && cond(&s)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn processed_shas(s: &SqliteStore) -> Vec<String> {
    (1..=100)
        .filter_map(|id| s.issuance(id).unwrap())
        .filter(|i| i.state == IssuanceState::Processed)
        .map(|i| i.raw.sha256)
        .collect()
}

#[test]
fn killing_the_service_mid_cycle_loses_no_issuance_and_processes_none_twice() {
    let Some(issuances) = freddy_issuances() else {
        return;
    };
    let bodies: Vec<Vec<u8>> = issuances.iter().take(5).map(|(_, b)| b.clone()).collect();
    let shas: Vec<String> = bodies
        .iter()
        .map(|b| aviso::store::RawIssuance::sha256_hex(b))
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let feed = rt.block_on(FeedServer::start());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let publish_all = crate::common::PUBLISH_ALL;
    let config = dir.path().join("aviso.toml");
    std::fs::write(
        &config,
        format!(
            "{publish_all}[service]\nlisten = \"127.0.0.1:0\"\nmax_forecast_age_h = 1000000.0\ndata_dir = {:?}\nlayers = {:?}\n\n[http]\nconnect_timeout_s = 2.0\ntimeout_s = 5.0\nretries = 0\n\n[probabilistic]\npublish = false\n\n[[feed]]\nname = \"rsmc\"\nkind = \"rsmc-reunion\"\nurl = {:?}\nschedule = \"* * * * * *\"\n",
            state.display().to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/layers"),
            feed.url()
        ),
    )
    .unwrap();

    let (mut child, _api) = common::start_service(&config);
    let mut killed_mid_processing = 0;
    for (i, body) in bodies.iter().enumerate() {
        // The feed publishes issuance i (and keeps serving it, as a real feed does).
        feed.push(Reply::Body(body.clone()));
        if i % 2 == 1 {
            // Kill while issuance i is stored but not yet processed (the assessment takes
            // a second in a debug build), then restart.
            let stored = wait_for(&state, 60, |s| {
                s.pending_issuances()
                    .unwrap()
                    .iter()
                    .any(|p| p.raw.sha256 == shas[i])
                    || processed_shas(s).contains(&shas[i])
            });
            assert!(stored, "issuance {i} never reached the store");
            let pending_at_kill = SqliteStore::open_dir(&state)
                .unwrap()
                .pending_issuances()
                .unwrap()
                .len();
            child.kill().unwrap();
            child.wait().unwrap();
            if pending_at_kill > 0 {
                killed_mid_processing += 1;
            }
            let (c, _) = common::start_service(&config);
            child = c;
        }
        let done = wait_for(&state, 90, |s| processed_shas(s).contains(&shas[i]));
        assert!(done, "issuance {i} was never processed");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        killed_mid_processing >= 1,
        "no kill landed between storing and processing; the test proved nothing"
    );

    let s = SqliteStore::open_dir(&state).unwrap();
    assert!(s.pending_issuances().unwrap().is_empty());
    let processed = processed_shas(&s);
    let distinct: BTreeSet<_> = processed.iter().collect();
    assert_eq!(
        processed.len(),
        distinct.len(),
        "an issuance was stored twice"
    );
    for sha in &shas {
        assert!(distinct.contains(sha), "issuance {sha} lost");
    }
    // One version per new forecast, numbered without gaps, each referencing the one before.
    let event = s.events(true).unwrap()[0].event_id.clone();
    let versions = s.event_versions(&event).unwrap();
    let numbers: Vec<u32> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, (1..=versions.len() as u32).collect::<Vec<_>>());
    let refs: BTreeSet<_> = versions.iter().map(|v| v.reference_time).collect();
    assert_eq!(refs.len(), versions.len(), "a forecast was published twice");
    assert_eq!(
        versions.len(),
        bodies.len(),
        "every forecast published once"
    );
    for w in versions.windows(2) {
        assert!(
            w[1].references
                .as_deref()
                .unwrap()
                .contains(&format!(",{},", w[0].id)),
            "{} does not reference {}",
            w[1].id,
            w[0].id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdacs_discovers_the_active_storm_that_fills_a_storm_feed_template() {
    let Some(rss) = common::read_or_skip(
        common::data_dir()
            .join("forecast-samples/gdacs_rss_feed_sample_2019-12_with_TC_CALVINIA-19.xml")
            .to_str()
            .unwrap(),
    ) else {
        return;
    };
    let gdacs = FeedServer::start().await;
    let storms = FeedServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gdacs_feed = FeedConfig {
        name: "gdacs".into(),
        kind: FeedKind::Gdacs,
        url: format!("http://{}/xml/rss.xml", gdacs.addr),
        schedule: "0 */30 * * * *".into(),
        status: None,
        enabled: true,
        tech: None,
        stations_url: None,
        discharge_url: None,
    };
    let mut s = in_process(
        &storms,
        &gdacs,
        dir.path(),
        std::slice::from_ref(&gdacs_feed),
    )
    .await;
    let template = FeedConfig {
        name: "rsmc".into(),
        url: format!(
            "http://{}/cmrstrack/{{name_lower}}-{{gdacs_event_id}}.json",
            storms.addr
        ),
        ..s.feed.clone()
    };
    // Before GDACS has spoken, a template feed fetches nothing.
    assert!(s.pipeline.targets(&template).is_empty());
    gdacs.push(Reply::Body(rss));
    let r = s.pipeline.run_feed(&gdacs_feed).await;
    assert_eq!((r.fetched, r.failed.len()), (1, 0), "{r:?}");
    // The sample lists four events; one is a current tropical cyclone in the South-West
    // Indian Ocean: CALVINIA-19, GDACS event 1000643, at 19.4 S 59.8 E.
    let found = s.pipeline.discovered();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].storm_name.as_str(), found[0].event_id),
        ("CALVINIA", 1000643)
    );
    let targets = s.pipeline.targets(&template);
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].0, "rsmc:calvinia");
    storms.push(Reply::Status(404));
    s.feed = template;
    let r = s.pipeline.run_feed(&s.feed).await;
    assert_eq!(r.failed.len(), 1, "the storm file is not there: {r:?}");
    let asked = storms.requests.lock().unwrap().clone();
    assert_eq!(asked, ["GET /cmrstrack/calvinia-1000643.json HTTP/1.1"]);
    let health = s
        .pipeline
        .store
        .feed_health("rsmc:calvinia")
        .unwrap()
        .unwrap();
    assert_eq!(health.last_error_kind.as_deref(), Some("http_4xx"));
}
