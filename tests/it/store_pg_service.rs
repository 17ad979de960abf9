//! The service on PostgreSQL, end to end (issue 15): the real `aviso run-once` binary
//! pulls RSMC La Réunion's forecast for Freddy (issued 2023-03-10 00Z) from a local HTTP
//! feed, with `[store] url` pointing at the test cluster (common::pg); the published
//! version is then read back from PostgreSQL, and compared with what the same run
//! publishes on the embedded SQLite store. Then `aviso serve` on the same database
//! answers /api/alerts from it. And a replica killed mid-fetch gives its feed lease up.

use std::net::SocketAddr;

use aviso::store::config::StoreConfig;
use aviso::store::postgres::PgStore;
use aviso::store::sqlite::SqliteStore;
use aviso::store::{IssuanceState, Store};

use crate::common::{self, pg};

/// Serves `body` at /rsmc/freddy.json on 127.0.0.1, from a thread of its own.
pub(crate) fn feed_server(body: Vec<u8>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut sock in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes());
            let _ = sock.write_all(&body);
        }
    });
    addr
}

/// A site configuration: the shipped layers, one RSMC feed at `feed`, probabilities off
/// (not what is tested here), Freddy's 2023 forecast accepted as current, and `store`.
pub(crate) fn site_config(
    dir: &std::path::Path,
    feed: SocketAddr,
    store: &str,
) -> std::path::PathBuf {
    let path = dir.join("site.toml");
    std::fs::write(
        &path,
        format!(
            "{}[service]\nlisten = \"127.0.0.1:0\"\nmax_forecast_age_h = 1000000.0\ndata_dir = {:?}\nlayers = {:?}\n\n{store}\n[http]\nconnect_timeout_s = 2.0\ntimeout_s = 10.0\nretries = 0\n\n[probabilistic]\npublish = false\n\n[[feed]]\nname = \"rsmc\"\nkind = \"rsmc-reunion\"\nurl = \"http://{feed}/rsmc/freddy.json\"\nschedule = \"0 0 */6 * * *\"\n",
            crate::common::PUBLISH_ALL,
            dir.join("state").display().to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/layers"),
        ),
    )
    .unwrap();
    path
}

fn run_once(config: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["run-once", "--config"])
        .arg(config)
        .env_remove("AVISO_STORE_PASSWORD")
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "run-once failed:\n{err}");
    err
}

/// (district pcode, level) of a published version, sorted.
fn ladder(s: &aviso::store::AlertSummary) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = s
        .districts
        .iter()
        .map(|d| (d.pcode.clone(), format!("{:?}", d.level)))
        .collect();
    v.sort();
    v
}

#[test]
fn run_once_on_postgres_publishes_freddy_and_the_version_reads_back_from_postgres() {
    let Some(body) = common::read_data(common::FREDDY_RSMC) else {
        return;
    };
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let feed = feed_server(body.clone());

    let pg_dir = tempfile::tempdir().unwrap();
    let config = site_config(pg_dir.path(), feed, &format!("[store]\nurl = {url:?}\n"));
    let log = run_once(&config);
    assert!(log.contains("store: PostgreSQL"), "{log}");
    assert!(
        !pg_dir.path().join("state").join("aviso.sqlite").exists(),
        "no SQLite file when [store] url is set"
    );

    let store = PgStore::open(&StoreConfig {
        url: Some(url.clone()),
        ..StoreConfig::default()
    })
    .unwrap();
    let events = store.events(true).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let versions = store.event_versions(&events[0].event_id).unwrap();
    assert_eq!(versions.len(), 1);
    let v1 = &versions[0];
    assert_eq!(v1.version, 1);
    assert_eq!(v1.event_name.to_uppercase(), "FREDDY");
    assert!(
        !v1.districts.is_empty(),
        "Freddy's 2023-03-10 forecast puts districts on the ladder"
    );
    let record = store.alert(&v1.id).unwrap().unwrap();
    assert!(record.cap.contains(&v1.id), "the CAP names its identifier");
    let doc: serde_json::Value = serde_json::from_str(&record.document).unwrap();
    assert_eq!(doc["type"], "FeatureCollection");
    // The issuance is the feed's body, byte for byte, processed.
    let issuance = store
        .issuance(v1.issuance_id.expect("a version from an issuance"))
        .unwrap()
        .unwrap();
    assert_eq!(issuance.raw.bytes, body);
    assert_eq!(issuance.state, IssuanceState::Processed);
    assert_eq!(
        store.feed_health("rsmc").unwrap().unwrap().state,
        aviso::store::FeedState::Ok
    );
    assert_eq!(pg::psql(&url, "SELECT count(*) FROM alerts"), "1");

    // A second run finds the same content: nothing new is stored or published.
    run_once(&config);
    assert_eq!(pg::psql(&url, "SELECT count(*) FROM issuances"), "1");
    assert_eq!(pg::psql(&url, "SELECT count(*) FROM alerts"), "1");

    // The same run on the embedded SQLite store publishes the same ladder.
    let lite_dir = tempfile::tempdir().unwrap();
    run_once(&site_config(lite_dir.path(), feed, ""));
    let lite = SqliteStore::open_dir(&lite_dir.path().join("state")).unwrap();
    let lite_events = lite.events(true).unwrap();
    assert_eq!(lite_events.len(), 1);
    let lite_v1 = &lite.event_versions(&lite_events[0].event_id).unwrap()[0];
    assert_eq!(lite_v1.event_id, v1.event_id);
    assert_eq!(ladder(lite_v1), ladder(v1));
    assert_eq!(lite_v1.max_level, v1.max_level);

    // `aviso serve` on the same database answers from it.
    let (mut child, api) = common::start_service(&config);
    let answer = http_get(&api, "/api/alerts?include_tests=true");
    let _ = child.kill();
    let _ = child.wait();
    let list: serde_json::Value =
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
    let text = list.to_string();
    assert!(text.contains(&v1.id), "{text}");
}

/// GET `path` on `base` ("http://IP:PORT"), as HTTP/1.0 (so the answer is not chunked);
/// the body.
pub(crate) fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    write!(sock, "GET {path} HTTP/1.0\r\nhost: {addr}\r\n\r\n").unwrap();
    let mut out = Vec::new();
    sock.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.lines().next().unwrap().contains(" 200 "), "{head}");
    body.to_string()
}

#[test]
fn a_replica_killed_mid_fetch_gives_its_feed_lease_up() {
    let Some(url) = pg::fresh_database() else {
        return;
    };
    // A feed that accepts and never answers: the replica stays mid-fetch, holding the
    // feed's lease, until it is killed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let feed = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for sock in listener.incoming().map_while(Result::ok) {
            held.push(sock);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), feed, &format!("[store]\nurl = {url:?}\n"));
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("timeout_s = 10.0", "timeout_s = 120.0")
        .replace("0 0 */6 * * *", "* * * * * *");
    std::fs::write(&config, text).unwrap();
    let (mut child, _api) = common::start_service(&config);

    let other = PgStore::open(&StoreConfig {
        url: Some(url.clone()),
        ..StoreConfig::default()
    })
    .unwrap();
    // Wait until the replica holds the lease (its cycle started and hangs on the feed).
    let mut holds = false;
    for _ in 0..600 {
        match other.lease_feed("rsmc").unwrap() {
            Some(l) => drop(l),
            None => {
                holds = true;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(holds, "the replica never took the feed's lease");
    assert!(
        other.lease_feed("rsmc").unwrap().is_none(),
        "still held mid-fetch"
    );

    child.kill().unwrap(); // SIGKILL: no clean-up in the replica
    child.wait().unwrap();
    let killed = std::time::Instant::now();
    let mut taken = None;
    while killed.elapsed() < std::time::Duration::from_secs(60) {
        if let Some(l) = other.lease_feed("rsmc").unwrap() {
            taken = Some(l);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        taken.is_some(),
        "the dead replica's lease was never released"
    );
    // A figure for the report, not an assertion.
    println!(
        "lease taken over {:.2} s after SIGKILL",
        killed.elapsed().as_secs_f64()
    );
}

#[test]
fn two_replicas_on_one_database_fetch_the_feed_in_turn_and_publish_freddy_once() {
    let Some(body) = common::read_data(common::FREDDY_RSMC) else {
        return;
    };
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let feed = feed_server(body);
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), feed, &format!("[store]\nurl = {url:?}\n"));
    // Every second, so both replicas start a cycle at the same instants.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("0 0 */6 * * *", "* * * * * *");
    std::fs::write(&config, text).unwrap();
    let (mut a, api_a) = common::start_service(&config);
    let (mut b, api_b) = common::start_service(&config);

    let count = |table: &str| -> i64 {
        pg::psql(&url, &format!("SELECT count(*) FROM {table}"))
            .parse()
            .unwrap()
    };
    let mut published = false;
    for _ in 0..1200 {
        if count("alerts") >= 1 {
            published = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(published, "no version published within 120 s");
    // Let both replicas run several more cycles on the same content.
    let runs_then = count("runs");
    for _ in 0..600 {
        if count("runs") >= runs_then + 6 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let overlapping = pg::psql(
        &url,
        "SELECT count(*) FROM runs r JOIN runs s ON r.id < s.id AND r.feed = s.feed
         AND r.started_at < COALESCE(s.finished_at, now())
         AND s.started_at < COALESCE(r.finished_at, now())",
    );
    let list_a = http_get(&api_a, "/api/alerts");
    let list_b = http_get(&api_b, "/api/alerts");
    let _ = a.kill();
    let _ = b.kill();
    let _ = a.wait();
    let _ = b.wait();

    assert!(
        count("runs") >= runs_then + 6,
        "the replicas stopped cycling"
    );
    assert_eq!(overlapping, "0", "two cycles of the feed ran at once");
    assert_eq!(count("issuances"), 1, "the forecast was stored once");
    assert_eq!(count("alerts"), 1, "and published once");
    let id = pg::psql(&url, "SELECT id FROM alerts");
    assert!(
        list_a.contains(&id),
        "replica A does not list {id}: {list_a}"
    );
    assert!(
        list_b.contains(&id),
        "replica B does not list {id}: {list_b}"
    );
}
