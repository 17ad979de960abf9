//! The log of the real `aviso serve` process holds no subscriber's personal data. The
//! binary runs with its feed on a local server replaying Freddy, e-mail to a real SMTP
//! server (aiosmtpd), SMS to a local gateway, webhooks to a local receiver; the test then
//! does what operators, people and gateways do: creates subscribers through the admin API,
//! imports a CSV with an error then a good one, lists and exports them, lets two versions
//! publish and deliver, replies STOP, posts a delivery report whose reason quotes the
//! number, erases a subscriber, and stops the service. Its whole stdout and stderr must
//! then name none of the numbers (in any of the ways one is written), addresses, names or
//! webhook URLs, while showing that each of those things happened.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::notify_support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use notify_support::{
    Api, HOOK_SECRET, Shared, feed, freddy, gateway, hook, read_maildir, start_smtpd,
};

const ADMIN: &str = "serve-admin-token-3f1";
const EDITOR: &str = "serve-editor-token-8c2";
const VIEWER: &str = "serve-viewer-token-0d4";
const INBOUND: &str = "serve-gateway-secret-6e5";

/// A person's data and every way it could be written in a log line.
struct Person {
    id: &'static str,
    name: &'static str,
    /// As typed by the operator (with spaces).
    phone_typed: &'static str,
    phone: &'static str,
    email: &'static str,
}

const PEOPLE: [Person; 3] = [
    Person {
        id: "pf-quelimane",
        name: "Graça Tembe Moiane",
        phone_typed: "+258 84 555 0701",
        phone: "+258845550701",
        email: "Graca.Moiane@ingd.example.org",
    },
    Person {
        id: "pf-nicoadala",
        name: "Joaquim Mabunda",
        phone_typed: "+258 84 555 0702",
        phone: "+258845550702",
        email: "joaquim.mabunda@cvm.example.org",
    },
    Person {
        id: "pf-csv",
        name: "Lurdes Chissano",
        phone_typed: "+258845550703",
        phone: "+258845550703",
        email: "lurdes.chissano@ingd.example.org",
    },
];

/// Everything of the people that must not be in the log.
fn forbidden(hook_url: &str) -> Vec<String> {
    let mut out = vec![hook_url.to_string(), "graca-private-token-55".to_string()];
    for p in &PEOPLE {
        let digits = p.phone.trim_start_matches('+');
        out.extend([
            p.phone.to_string(),
            digits.to_string(),
            digits[3..].to_string(), // national: 84 555 0701 without the country code
            p.phone_typed.to_string(),
            p.phone_typed.trim_start_matches('+').to_string(),
            p.email.to_string(),
            p.email.split('@').next().unwrap().to_string(),
            p.name.to_string(),
        ]);
        out.extend(p.name.split(' ').map(str::to_string));
    }
    out
}

async fn wait_until<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    while !f().await {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aviso_serve_logs_no_personal_data_through_admin_work_deliveries_stop_dlr_and_erasure() {
    let t_all = Instant::now();
    let Some(issuances) = freddy(Utc.with_ymd_and_hms(2023, 3, 8, 0, 0, 0).unwrap()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(smtpd) = start_smtpd(dir.path()) else {
        return;
    };
    aviso::notify::channels::install_crypto_provider();

    // The SMS gateway, the webhook receiver, the feed.
    let got: Shared = Arc::default();
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recv_base = format!("http://{}", recv.local_addr().unwrap());
    let app = Router::new()
        .route("/sms", post(gateway))
        .route("/hook/{*rest}", post(hook))
        .with_state(Arc::clone(&got));
    tokio::spawn(async move { axum::serve(recv, app).await });
    let at = |d: u32, h: u32| {
        let t = Utc.with_ymd_and_hms(2023, 3, d, h, 0, 0).unwrap();
        issuances.iter().find(|(r, _)| *r == t).unwrap().1.clone()
    };
    let feed_body = Arc::new(Mutex::new(Vec::new()));
    let feeds = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let feed_base = format!("http://{}", feeds.local_addr().unwrap());
    let feed_app = Router::new()
        .route("/{*path}", get(feed))
        .with_state(Arc::clone(&feed_body));
    tokio::spawn(async move { axum::serve(feeds, feed_app).await });
    let hook_url = format!("{recv_base}/hook/graca-private-token-55");

    // The site's configuration; every secret from the environment.
    let config = dir.path().join("site.toml");
    let fast = "{ per_second = 500.0, burst = 100 }";
    let publish_all = crate::common::PUBLISH_ALL;
    std::fs::write(
        &config,
        format!(
            r#"{publish_all}[service]
max_forecast_age_h = 1000000.0
listen = "127.0.0.1:0"
data_dir = "{data}"
layers = "{layers}"
[probabilistic]
# issue 12's probabilistic step has its own test (probabilistic_service); in a debug
# build it costs seconds per version, which this test does not need
publish = false
[[feed]]
name = "rsmc"
kind = "rsmc-reunion"
url = "{feed_base}/rsmc/freddy.json"
schedule = "*/1 * * * * *"
[notify.email]
enabled = true
host = "localhost"
port = {smtp}
security = "none"
from = "Alertas INGD <alertas@aviso.example.org>"
timeout_s = 10.0
[notify.sms]
enabled = true
url = "{recv_base}/sms"
status_path = "status"
id_path = "id"
accepted_statuses = ["accepted"]
dlr_enabled = true
[notify.webhook]
enabled = true
secret_env = "AVISO_T_HOOK"
allow_private_targets = true
[notify.outbox]
poll_interval_s = 0.1
[notify.outbox.rate]
email = {fast}
sms = {fast}
webhook = {fast}
[notify.inbound]
enabled = true
secret_env = "AVISO_T_INBOUND"
[[notify.token]]
name = "dpo-admin"
role = "admin"
token_env = "AVISO_T_ADMIN"
[[notify.token]]
name = "cenoe-ops"
role = "editor"
token_env = "AVISO_T_EDITOR"
[[notify.token]]
name = "iom-readonly"
role = "viewer"
token_env = "AVISO_T_VIEWER"
"#,
            data = dir.path().join("data").display(),
            layers = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("layers")
                .display(),
            smtp = smtpd.port,
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("AVISO_T_HOOK", HOOK_SECRET)
        .env("AVISO_T_INBOUND", INBOUND)
        .env("AVISO_T_ADMIN", ADMIN)
        .env("AVISO_T_EDITOR", EDITOR)
        .env("AVISO_T_VIEWER", VIEWER)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Both streams, whole, as they come.
    let log = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = Arc::clone(&log);
        readers.push(std::thread::spawn(move || {
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
        }));
    }
    let mut addr = None;
    let t0 = Instant::now();
    while addr.is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "aviso serve did not start:\n{}",
            log.lock().unwrap()
        );
        addr = log
            .lock()
            .unwrap()
            .split("serving on http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .map(str::to_string);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let api = Api {
        base: format!("http://{}", addr.unwrap()),
        c: reqwest::Client::new(),
    };

    // --- Admin work: create, refuse, import with an error then without, list, export ---------
    let (s, v) = api
        .post_json(
            "/api/admin/subscribers",
            Some(EDITOR),
            &json!({"id": PEOPLE[0].id, "name": PEOPLE[0].name, "phones": [PEOPLE[0].phone_typed],
                "emails": [PEOPLE[0].email], "webhooks": [hook_url], "provinces": ["MZ11"], "min_level": "green"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = api
        .post_json(
            "/api/admin/subscribers",
            Some(EDITOR),
            &json!({"id": PEOPLE[1].id, "name": PEOPLE[1].name, "phones": [PEOPLE[1].phone_typed],
                "emails": [PEOPLE[1].email], "provinces": ["MZ11"], "min_level": "green", "language": "en"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = api
        .post_json(
            "/api/admin/subscribers",
            Some(EDITOR),
            &json!({"id": "typo", "name": PEOPLE[2].name, "phones": ["845550703"], "provinces": ["MZ11"]}),
        )
        .await;
    assert_eq!(s, 422, "a number without its country code: {v}");
    let (s, _) = api
        .post_json("/api/admin/subscribers", Some("wrong-token"), &json!({}))
        .await;
    assert_eq!(s, 401);
    let p = &PEOPLE[2];
    let csv_bad = format!(
        "id,name,phones,emails,provinces,min_level\n{},{},{},{},MZ11,green\nbroken,{},{},{},MZ99,green\n",
        p.id, p.name, p.phone, p.email, p.name, p.phone, p.email
    );
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers.csv",
            Some(EDITOR),
            Some("text/csv"),
            csv_bad.clone(),
        )
        .await;
    assert_eq!((s, v["line"].as_u64()), (422, Some(3)), "{v}");
    let csv_ok: String = csv_bad.lines().take(2).map(|l| format!("{l}\n")).collect();
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers.csv",
            Some(EDITOR),
            Some("text/csv"),
            csv_ok,
        )
        .await;
    assert_eq!((s, v["created"].as_u64()), (200, Some(1)), "{v}");
    let (s, list) = api.get("/api/admin/subscribers", Some(VIEWER)).await;
    assert_eq!((s, list["count"].as_u64()), (200, Some(3)), "{list}");
    let (s, _) = api
        .get(
            &format!("/api/admin/subscribers/{}", PEOPLE[0].id),
            Some(VIEWER),
        )
        .await;
    assert_eq!(s, 200);
    let (s, export) = api.get("/api/admin/subscribers.csv", Some(VIEWER)).await;
    assert_eq!(s, 200);
    assert!(
        export.as_str().unwrap().contains(PEOPLE[2].phone),
        "the export has the data"
    );

    // --- Freddy's first version: published and delivered -------------------------------------
    let versions = |api: &Api| {
        let c = api.c.clone();
        let url = format!("{}/api/alerts?status=all", api.base);
        async move {
            let t = c.get(url).send().await.unwrap().text().await.unwrap();
            serde_json::from_str::<Value>(&t).unwrap()["matched"]
                .as_u64()
                .unwrap_or(0)
        }
    };
    *feed_body.lock().unwrap() = at(8, 0);
    wait_until("version 1", 120, || async { versions(&api).await >= 1 }).await;
    wait_until("SMS to all three", 60, || async {
        let g = got.lock().unwrap();
        PEOPLE
            .iter()
            .all(|p| g.sms.iter().any(|(to, _, _)| to == p.phone))
    })
    .await;
    api.settled().await;
    assert!(got.lock().unwrap().hooks.len() == 1, "the webhook");
    let mails = read_maildir(&smtpd.maildir);
    assert_eq!(mails.len(), 3, "an e-mail each");

    // --- STOP, a delivery report that quotes the number, an erasure -------------------------
    let (s, v) = api
        .post_form(
            &format!("/api/sms/inbound?token={INBOUND}"),
            &format!("from=%2B{}&text=STOP", &PEOPLE[2].phone[1..]),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let sms_id = {
        let g = got.lock().unwrap();
        let n = g
            .sms
            .iter()
            .position(|(to, _, _)| to == PEOPLE[0].phone)
            .unwrap();
        format!("sms-{n}")
    };
    let (s, v) = api
        .post_form(
            &format!("/api/sms/dlr?token={INBOUND}"),
            &format!(
                "id={sms_id}&status=undelivered&reason=subscriber+%2B{}+absent+%28{}%29",
                &PEOPLE[0].phone[1..],
                &PEOPLE[0].phone[4..]
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = api
        .post_form(
            &format!("/api/sms/dlr?token={INBOUND}"),
            "id=sms-999&status=delivered",
        )
        .await;
    assert_eq!(s, 404);
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            &format!("/api/admin/subscribers/{}/erase", PEOPLE[1].id),
            Some(ADMIN),
            None,
            String::new(),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // --- The next version: delivered to who is left -----------------------------------------------
    *feed_body.lock().unwrap() = at(9, 0);
    wait_until("version 2", 120, || async { versions(&api).await >= 2 }).await;
    api.settled().await;
    let (_, outbox) = api.get("/api/admin/outbox?limit=1000", Some(VIEWER)).await;
    assert!(
        outbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["delivery_report"]["state"] == "undelivered"),
        "{outbox}"
    );

    // --- Stop the service (SIGTERM: a graceful shutdown, as systemd does) --------------------------
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("aviso serve did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in readers {
        r.join().unwrap();
    }
    let log = log.lock().unwrap().clone();

    // It all happened, and the log says so…
    // (The text log: "message field=value …"; the token's name and role are fields.)
    for evidence in [
        "admin: created subscriber pf-quelimane token=cenoe-ops role=editor",
        "imported 1 subscriber(s) from CSV",
        "opt-out: a stop word: no more SMS to the number number=+25884*****03 word=STOP",
        "was not delivered to the handset",
        "+25884*****01",
        "admin: erased subscriber pf-nicoadala",
        "token=dpo-admin role=admin",
        "notify: messages since start delivered=",
        "aviso::app::service: stopped",
    ] {
        assert!(
            log.contains(evidence),
            "{evidence:?} not in the log:\n{log}"
        );
    }
    // …without a word of the people.
    let lower = log.to_lowercase();
    for f in forbidden(&hook_url) {
        assert!(
            !lower.contains(&f.to_lowercase()),
            "{f:?} is in the log of aviso serve:\n{log}"
        );
    }
    let (sms, hooks) = {
        let g = got.lock().unwrap();
        (g.sms.len(), g.hooks.len())
    };
    eprintln!(
        "aviso serve log: {} lines, {} bytes, none with personal data; {sms} SMS, {} e-mails, {hooks} webhooks; test {:.1} s",
        log.lines().count(),
        log.len(),
        read_maildir(&smtpd.maildir).len(),
        t_all.elapsed().as_secs_f64()
    );
}
