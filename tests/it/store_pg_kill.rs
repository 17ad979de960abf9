//! Issue 15's definition of done, the kill test: three `aviso serve` replicas (the real
//! binary) on one PostgreSQL database, a local feed replaying Freddy's best track as RSMC
//! issuances (one at a time, as the test decides), real SMTP (Debian's aiosmtpd) and a
//! local SMS gateway. The replica holding the feed's lease is killed with SIGKILL while
//! it processes an issuance, and another replica while it sends the outbox (the one that
//! sent the gateway's latest SMS); each is started again, as a service manager would. Then: every issuance is stored once and processed,
//! the versions run 1..n with no gap or duplicate, every message reached its gateway
//! once (or once more with the same idempotency key: a claim of a killed replica that
//! lapsed and went again), and the three APIs agree.
//!
//! Prints the time from the leader's SIGKILL to another replica holding the feed's lease,
//! and to the issuance it left being processed (`-- --nocapture`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{TimeZone, Utc};
use serde_json::Value;

use aviso::alerts::levels::Level;
use aviso::notify::{Area, Channel, Subscriber};
use aviso::store::notify::{OutboxState, OutboxStore, SubscriberStore};

use crate::common::pg;
use crate::notify_support::{freddy, key_of, read_maildir, start_smtpd};
use crate::store_notify::replica;
use crate::store_pg_service::http_get;

/// Subscribers per province (ADM1 P-codes MZ01..MZ11), each with an e-mail and an SMS.
const PER_PROVINCE: usize = 30;
/// Issuances replayed (6-hourly from 2023-03-08 00Z, Freddy's approach to Zambezia).
const ISSUANCES: usize = 4;

/// What the SMS gateway received: (idempotency key, number, the sender's TCP port), in
/// order.
type Sms = Arc<Mutex<Vec<(String, String, u16)>>>;

async fn sms_gateway(
    State(got): State<Sms>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let v: Value = serde_json::from_slice(&body).unwrap();
    // A gateway takes a while: a batch is in flight long enough to be killed mid-way.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut g = got.lock().unwrap();
    g.push((
        key_of(&h),
        v["to"].as_str().unwrap().to_string(),
        peer.port(),
    ));
    (
        StatusCode::OK,
        format!(r#"{{"id":"gw-{}","status":"accepted"}}"#, g.len()),
    )
}

/// The feed: the issuance the test has reached (404 before the first).
type Feed = Arc<Mutex<Option<Vec<u8>>>>;

async fn feed(State(f): State<Feed>) -> (StatusCode, Vec<u8>) {
    match f.lock().unwrap().clone() {
        Some(b) => (StatusCode::OK, b),
        None => (StatusCode::NOT_FOUND, b"no issuance yet".to_vec()),
    }
}

/// One `aviso serve` replica: its process, its log, its API.
struct Replica {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    api: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, data: &Path) -> Replica {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .arg("--config")
        .arg(config)
        .args(["serve", "--data-dir"])
        .arg(data)
        .env_remove("AVISO_STORE_PASSWORD")
        .env_remove("PGPASSWORD")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("serving on http://").nth(1) {
                let _ = tx.send(format!("http://{}", rest.split('/').next().unwrap()));
            }
            sink.lock().unwrap().push(line);
        }
    });
    let api = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            panic!(
                "aviso serve did not start:\n{}",
                log.lock().unwrap().join("\n")
            )
        });
    Replica { child, log, api }
}

/// Socket inodes the process `pid` holds.
fn socket_inodes(pid: u32) -> BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Which replica holds the feed's lease (the session advisory lock on
/// hashtextextended('aviso.feed:rsmc', 0)): the server says which client port holds it,
/// /proc says which process owns that socket.
fn lease_holder(url: &str, replicas: &[Option<Replica>]) -> Option<usize> {
    let port = pg::psql(
        url,
        "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.objid::bigint = (hashtextextended('aviso.feed:rsmc', 0) & 4294967295)",
    );
    owner_of_port(port.parse().ok()?, replicas)
}

/// The replica whose TCP socket (to 127.0.0.1) has the local port `port`.
fn owner_of_port(port: u16, replicas: &[Option<Replica>]) -> Option<usize> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let inode = tcp.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
        (local_port == port).then(|| f.get(9).map(|s| s.to_string()))?
    })?;
    replicas.iter().position(|r| {
        r.as_ref()
            .is_some_and(|r| socket_inodes(r.child.id()).contains(&inode))
    })
}

fn count(url: &str, sql: &str) -> i64 {
    pg::psql(url, sql).parse().unwrap()
}

/// Waits for `cond`, at most `secs`, naming `what` on failure.
fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{what} within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn site_config(dir: &Path, url: &str, feed: &str, gateway: &str, smtp: u16) -> PathBuf {
    let path = dir.join("site.toml");
    std::fs::write(
        &path,
        format!(
            r#"{publish_all}[service]
max_forecast_age_h = 1000000.0
listen = "127.0.0.1:0"
layers = "{layers}"
[store]
url = "{url}"
[http]
retries = 0
connect_timeout_s = 2.0
timeout_s = 10.0
[probabilistic]
publish = false
[[feed]]
name = "rsmc"
kind = "rsmc-reunion"
url = "{feed}/rsmc/freddy.json"
schedule = "* * * * * *"
[notify.email]
enabled = true
host = "localhost"
port = {smtp}
security = "none"
from = "Alertas INGD <alertas@aviso.example.org>"
timeout_s = 10.0
[notify.sms]
enabled = true
url = "{gateway}/sms"
body_format = "json"
status_path = "status"
id_path = "id"
accepted_statuses = ["accepted"]
timeout_s = 10.0
[notify.outbox]
# A killed replica's claims lapse after 3 s and go again from another.
lease_s = 3.0
batch = 10
poll_interval_s = 0.05
[notify.outbox.rate]
# Slow enough that a replica is caught with claimed messages still to send.
email = {{ per_second = 30.0, burst = 5 }}
sms = {{ per_second = 30.0, burst = 5 }}
"#,
            // What is tested is what follows publication: every version publishes by rule.
            publish_all = crate::common::PUBLISH_ALL,
            layers = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("layers")
                .display(),
        ),
    )
    .unwrap();
    path
}

#[test]
fn three_replicas_lose_a_leader_and_a_sender_and_still_publish_and_send_each_message_once() {
    let Some(issuances) = freddy(Utc.with_ymd_and_hms(2023, 3, 8, 0, 0, 0).unwrap()) else {
        return;
    };
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(smtpd) = start_smtpd(dir.path()) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let serve = |app: Router| -> String {
        let l = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        rt.spawn(async move {
            axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>()).await
        });
        base
    };
    let sms: Sms = Arc::default();
    let gateway = serve(
        Router::new()
            .route("/sms", post(sms_gateway))
            .with_state(Arc::clone(&sms)),
    );
    let served: Feed = Arc::default();
    let feed_base = serve(
        Router::new()
            .route("/rsmc/freddy.json", get(feed))
            .with_state(Arc::clone(&served)),
    );

    // The subscribers, written before the replicas start (the store is the same one the
    // admin API writes).
    let store = replica(&url);
    let subs: Vec<Subscriber> = (1..=11)
        .flat_map(|p| {
            (0..PER_PROVINCE).map(move |i| Subscriber {
                id: format!("p{p:02}-{i:02}"),
                name: format!("Ponto focal {p}/{i}"),
                channels: vec![
                    Channel::Email(format!("pf{p:02}{i:02}@ingd.example.org")),
                    Channel::Sms(format!("+2588{p:02}{i:06}")),
                ],
                areas: vec![Area::Province(format!("MZ{p:02}"))],
                min_level: Level::Yellow,
                ..Subscriber::default()
            })
        })
        .collect();
    store.import_subscribers(&subs, Utc::now()).unwrap();

    let config = site_config(dir.path(), &url, &feed_base, &gateway, smtpd.port);
    let data = |i: usize| dir.path().join(format!("replica{i}"));
    let mut replicas: Vec<Option<Replica>> =
        (0..3).map(|i| Some(start(&config, &data(i)))).collect();
    let busy = || {
        count(
            &url,
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')",
        )
    };
    let all_logs = |rs: &[Option<Replica>]| -> String {
        rs.iter()
            .flatten()
            .map(|r| r.log.lock().unwrap().join("\n"))
            .collect::<Vec<_>>()
            .join("\n----\n")
    };

    let mut killed_leader = None;
    let mut killed_sender = None;
    let mut lease_taken_s = None;
    let mut processed_after_s = None;
    for (i, (at, body)) in issuances.iter().take(ISSUANCES).enumerate() {
        *served.lock().unwrap() = Some(body.clone());
        let stored = || count(&url, "SELECT count(*) FROM issuances") == (i + 1) as i64;
        if (i == 1 || i == 2) && killed_leader.is_none() {
            // Kill the leader while the issuance it stored is still being processed. The
            // window is short on a loaded machine: look for it for up to 2 s, and try the
            // next issuance too when it was missed.
            wait_for("the issuance stored", 60, stored);
            let t_look = Instant::now();
            let (pending, holder) = loop {
                let pending = count(
                    &url,
                    "SELECT count(*) FROM issuances WHERE state = 'pending'",
                );
                let holder = lease_holder(&url, &replicas);
                if (pending == 1 && holder.is_some())
                    || pending == 0
                    || t_look.elapsed() > Duration::from_secs(2)
                {
                    break (pending, holder);
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            if let (1, Some(h)) = (pending, holder) {
                let mut r = replicas[h].take().unwrap();
                r.child.kill().unwrap(); // SIGKILL
                r.child.wait().unwrap();
                let t_kill = Instant::now();
                let was_pending = count(
                    &url,
                    "SELECT count(*) FROM issuances WHERE state = 'pending'",
                ) == 1;
                println!(
                    "issuance {at}: killed leader replica {h} (issuance still pending: {was_pending})"
                );
                killed_leader = Some((h, was_pending));
                wait_for("another replica takes the lease", 60, || {
                    lease_holder(&url, &replicas).is_some()
                });
                lease_taken_s = Some(t_kill.elapsed().as_secs_f64());
                wait_for("the issuance processed by another replica", 120, || {
                    count(
                        &url,
                        "SELECT count(*) FROM issuances WHERE state = 'pending'",
                    ) == 0
                });
                processed_after_s = Some(t_kill.elapsed().as_secs_f64());
                replicas[h] = Some(start(&config, &data(h)));
            } else {
                println!(
                    "issuance {at}: not caught mid-issuance (pending {pending}, holder {holder:?})"
                );
            }
        }
        wait_for("the issuance processed", 120, || {
            count(
                &url,
                "SELECT count(*) FROM issuances WHERE state = 'processed'",
            ) == (i + 1) as i64
        });
        // The sender comes back once the leader's kill had its two chances (issuances 1
        // and 2), so that kill falls on another replica.
        if i == 2
            && let Some((v, _)) = killed_sender
        {
            replicas[v] = Some(start(&config, &data(v)));
        }
        if i == 0 {
            // Kill the replica that sent the latest SMS, while messages are in flight.
            let t0 = Instant::now();
            let mut victim = None;
            while victim.is_none() && busy() > 0 && t0.elapsed() < Duration::from_secs(60) {
                let last = sms.lock().unwrap().last().map(|s| s.2);
                victim = last.and_then(|port| owner_of_port(port, &replicas));
                std::thread::sleep(Duration::from_millis(5));
            }
            let victim = victim.expect("no replica caught sending");
            let mut r = replicas[victim].take().unwrap();
            r.child.kill().unwrap();
            r.child.wait().unwrap();
            let in_flight = count(&url, "SELECT count(*) FROM outbox WHERE state = 'sending'");
            println!(
                "issuance {at}: killed replica {victim} mid-dispatch, {in_flight} message(s) claimed at that moment"
            );
            // Started again only after the leader's kill below (see above).
            killed_sender = Some((victim, in_flight));
        }
        wait_for("the outbox settled", 120, || busy() == 0);
    }

    // Every surviving (and restarted) replica serves the same history and current alert
    // (each follows the database every 0.5 s: compared until they agree, at most 10 s).
    let event = pg::psql(&url, "SELECT event_id FROM events");
    let view = |r: &Replica| -> (String, String) {
        let history = http_get(&r.api, &format!("/api/events/{event}"));
        let zones: Value =
            serde_json::from_str(&http_get(&r.api, "/collections/hazard_zones/items")).unwrap();
        (history, zones["features"].to_string())
    };
    let t_views = Instant::now();
    let mut views: Vec<(String, String)>;
    loop {
        views = replicas.iter().flatten().map(view).collect();
        if views.iter().all(|v| *v == views[0]) || t_views.elapsed() > Duration::from_secs(10) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = all_logs(&replicas);
    drop(replicas);

    // Issuances: stored once each, all processed.
    assert_eq!(
        count(&url, "SELECT count(*) FROM issuances"),
        ISSUANCES as i64,
        "{logs}"
    );
    assert_eq!(
        count(
            &url,
            "SELECT count(*) FROM issuances WHERE state = 'processed'"
        ),
        ISSUANCES as i64
    );
    // Versions: 1..n, no gap, no duplicate.
    let versions: Vec<i64> = pg::psql(&url, "SELECT version FROM alerts ORDER BY version")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(!versions.is_empty());
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    // Messages: every one delivered; at each gateway every key once, or once more.
    let rows = store.outbox(None).unwrap();
    assert!(!rows.is_empty(), "Freddy's versions gave messages");
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Delivered),
        "every message delivered"
    );
    let keys = |ch: &str| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| r.message.kind().as_str() == ch)
            .map(|r| r.message.idempotency_key.clone())
            .collect()
    };
    let mut sms_seen: BTreeMap<String, u32> = BTreeMap::new();
    for (k, _, _) in sms.lock().unwrap().iter() {
        *sms_seen.entry(k.clone()).or_default() += 1;
    }
    let mut mail_seen: BTreeMap<String, u32> = BTreeMap::new();
    for m in read_maildir(&smtpd.maildir) {
        let id = m["message_id"].as_str().unwrap().trim_matches(['<', '>']);
        *mail_seen
            .entry(id.split('@').next().unwrap().to_string())
            .or_default() += 1;
    }
    for (ch, seen) in [("sms", &sms_seen), ("email", &mail_seen)] {
        assert_eq!(
            seen.keys().cloned().collect::<BTreeSet<_>>(),
            keys(ch),
            "{ch}: the keys received are the keys queued"
        );
        assert!(
            seen.values().all(|n| *n <= 2),
            "{ch}: a key sent more than twice"
        );
    }
    let again = |s: &BTreeMap<String, u32>| s.values().filter(|n| **n == 2).count();
    let reclaimed = rows.iter().filter(|r| r.attempts > 1).count();
    // The APIs agree.
    let current = |v: &(String, String)| -> String {
        let zones: Value = serde_json::from_str(&v.1).unwrap();
        zones[0]["properties"]["alert_id"].to_string()
    };
    assert_eq!(views.len(), 3);
    for v in &views[1..] {
        assert!(
            v == &views[0],
            "replicas disagree: current alerts {:?}",
            views.iter().map(current).collect::<Vec<_>>()
        );
    }
    println!(
        "{ISSUANCES} issuances, {} versions, {} messages ({} SMS, {} e-mails); sent once more \
         with the same key: {} SMS, {} e-mails; claimed again after a lapsed lease: {reclaimed}; leader killed {killed_leader:?}, sender killed \
         {killed_sender:?}; lease taken over {lease_taken_s:?} s after the kill, its issuance \
         processed {processed_after_s:?} s after",
        versions.len(),
        rows.len(),
        keys("sms").len(),
        keys("email").len(),
        again(&sms_seen),
        again(&mail_seen),
    );
    assert!(
        killed_leader.is_some(),
        "the leader was never caught mid-issuance:\n{logs}"
    );
    let (sender, leader) = (killed_sender.unwrap().0, killed_leader.unwrap().0);
    assert_ne!(sender, leader, "two different replicas were killed");
}
