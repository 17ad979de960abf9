//! The duty officer decides (issue 13), through the real `aviso serve` binary: Freddy's
//! replayed forecasts from a local feed become proposals that send nothing and show
//! nowhere public; a newer one supersedes the older; a rejection sends nothing; an
//! approval publishes exactly the reviewed bytes, with its messages to a real SMTP server
//! (Debian's aiosmtpd) and a local SMS gateway; every refusal is a 4xx naming the
//! problem; an Exercise feed publishes by rule without a person; and the audit trail holds
//! every step with the SHA-256 of what went out.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::notify_support;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use notify_support::{Api, Shared, feed, freddy, gateway, read_maildir, sha256_hex, start_smtpd};

pub(crate) const VIEWER: &str = "viewer-token-approval-1";
pub(crate) const EDITOR: &str = "editor-token-approval-2";
pub(crate) const OFFICER: &str = "approver-token-approval-3";

pub(crate) struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    base
}

/// Polls `path` until `done` holds on its JSON (at most 120 s: a debug build assesses a
/// forecast in a few seconds on two busy cores).
pub(crate) async fn until(
    api: &Api,
    path: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let t0 = Instant::now();
    loop {
        let (s, v) = api.get(path, Some(token)).await;
        if s == 200 && done(&v) {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "{path} never got there: {s} {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn actions(audit: &Value) -> Vec<(String, String, String)> {
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The feed, the receivers, the mail server and the site's configuration; `start` runs
/// `aviso serve` on them (again, on the same store, after a kill).
pub(crate) struct Setup {
    dir: tempfile::TempDir,
    pub smtpd: notify_support::Smtpd,
    pub got: Shared,
    body: Arc<Mutex<Vec<u8>>>,
    issuances: Vec<(chrono::DateTime<Utc>, Vec<u8>)>,
    pub(crate) config: std::path::PathBuf,
}

impl Setup {
    /// With `[store] url = store` (PostgreSQL) when given, else on SQLite.
    pub(crate) async fn new(store: Option<&str>) -> Option<Setup> {
        let issuances = freddy(Utc.with_ymd_and_hms(2023, 3, 9, 0, 0, 0).unwrap())?;
        let dir = tempfile::tempdir().unwrap();
        let smtpd = start_smtpd(dir.path())?;
        aviso::feeds::fetch::install_crypto_provider();
        let got: Shared = Arc::default();
        let recv = serve(
            Router::new()
                .route("/sms", post(gateway))
                .with_state(Arc::clone(&got)),
        )
        .await;
        let body: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(issuances[0].1.clone()));
        let feeds = serve(
            Router::new()
                .route("/{*path}", get(feed))
                .with_state(Arc::clone(&body)),
        )
        .await;
        let config = dir.path().join("site.toml");
        std::fs::write(
            &config,
            crate::approval_site::site_toml(&feeds, &recv, smtpd.port, store),
        )
        .unwrap();
        Some(Setup {
            dir,
            smtpd,
            got,
            body,
            issuances,
            config,
        })
    }

    pub(crate) fn start(&self) -> (Service, Api) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aviso"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(["serve", "--data-dir"])
            .arg(self.dir.path().join("store"))
            .env_remove("AVISO_CONFIG")
            .stdout(Stdio::null());
        let (child, base) = crate::common::spawn_service(cmd);
        (
            Service(child),
            Api {
                base,
                c: reqwest::Client::new(),
            },
        )
    }

    /// Serves issuance `i` of the replay on both feeds.
    pub(crate) fn serve_issuance(&self, i: usize) {
        *self.body.lock().unwrap() = self.issuances[i].1.clone();
    }
}

/// A subscriber in Zambézia, where Freddy made its second landfall (one phone, one
/// e-mail address, every level).
pub(crate) async fn subscribe(api: &Api) {
    let (s, v) = api
        .post_json(
            "/api/admin/subscribers",
            Some(EDITOR),
            &json!({"id": "pf-zambezia", "name": "Ponto focal", "language": "pt",
                    "emails": ["pf@ingd.example.org"], "phones": ["+258845550101"],
                    "provinces": ["MZ11"], "min_level": "verde"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_sends_nothing_until_an_approver_publishes_exactly_what_was_reviewed() {
    let Some(setup) = Setup::new(None).await else {
        return;
    };
    let got = &setup.got;
    let (mut service, api) = setup.start();
    subscribe(&api).await;

    // 1. The first forecast: a proposal, nothing public, nothing sent.
    let listed = until(&api, "/api/admin/proposals", VIEWER, |v| {
        v["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "Actual")
    })
    .await;
    let first = listed["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "Actual")
        .unwrap()
        .clone();
    let first_id = first["id"].as_i64().unwrap();
    assert_eq!(first["state"], "proposed");
    assert_eq!(first["msg_type"], "Alert");
    let (_, public) = api.get("/api/alerts", None).await;
    assert_eq!(public["count"], 0, "nothing public yet: {public}");
    let (_, outbox) = api.get("/api/admin/outbox", Some(VIEWER)).await;
    assert_eq!(outbox["total"], 0, "nothing queued: {outbox}");

    // The Exercise feed serves the same forecast and publishes by rule, with no person.
    setup.serve_issuance(0);
    let audit = until(&api, "/api/admin/audit", VIEWER, |v| {
        actions(v)
            .iter()
            .any(|(who, what, _)| who == "rule:exercises-and-tests" && what == "auto_published")
    })
    .await;
    let (_, all) = api.get("/api/alerts?include_tests=true", None).await;
    let exercise: Vec<&Value> = all["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "Exercise")
        .collect();
    assert_eq!(exercise.len(), 1, "{all}");
    let by_rule = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auto_published")
        .unwrap();
    assert_eq!(
        by_rule["subject"],
        format!("alert {}", exercise[0]["id"].as_str().unwrap())
    );

    // 2. The review: the districts, the people, the exact messages.
    let (s, review) = api
        .get(&format!("/api/admin/proposals/{first_id}"), Some(VIEWER))
        .await;
    assert_eq!(s, 200, "{review}");
    assert!(review["published"].is_null(), "no version before: {review}");
    let zambezia: Vec<&Value> = review["districts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["pcode"].as_str().unwrap().starts_with("MZ11"))
        .collect();
    assert!(
        !zambezia.is_empty(),
        "Freddy's forecast reaches Zambézia: {review}"
    );
    let m = &review["messages"];
    assert_eq!(m["by_channel"]["sms"], 1, "{m}");
    assert_eq!(m["by_channel"]["email"], 1, "{m}");
    let sms_text = m["sms"][0]["text"].as_str().unwrap().to_string();
    assert!(sms_text.contains("FREDDY"), "{sms_text}");
    assert!(m["sms"][0]["count"]["segments"].as_u64().unwrap() >= 1);

    // 3. Refusals, each a 4xx naming the problem.
    let approve = |id: i64| format!("/api/admin/proposals/{id}/approve");
    let reject = |id: i64| format!("/api/admin/proposals/{id}/reject");
    let (s, v) = api
        .post_json(&approve(first_id), Some(EDITOR), &json!({}))
        .await;
    assert_eq!(s, 403, "an editor cannot approve: {v}");
    assert!(
        v["description"].as_str().unwrap().contains("approver"),
        "{v}"
    );
    let (s, v) = api.post_json(&approve(first_id), None, &json!({})).await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = api
        .post_json(&approve(99_999), Some(OFFICER), &json!({}))
        .await;
    assert_eq!(s, 404, "{v}");
    assert!(v["description"].as_str().unwrap().contains("99999"), "{v}");
    let (s, v) = api
        .post_json(&reject(first_id), Some(OFFICER), &json!({"reason": "  "}))
        .await;
    assert_eq!(s, 400, "a rejection needs a reason: {v}");
    assert!(v["description"].as_str().unwrap().contains("reason"), "{v}");

    // 4. A newer forecast supersedes the first proposal, which can no longer be approved.
    setup.serve_issuance(1);
    let listed = until(&api, "/api/admin/proposals?state=all", VIEWER, |v| {
        v["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == first_id && p["state"] == "superseded")
    })
    .await;
    let second = listed["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["state"] == "proposed" && p["status"] == "Actual")
        .unwrap()
        .clone();
    let second_id = second["id"].as_i64().unwrap();
    let (s, v) = api
        .post_json(&approve(first_id), Some(OFFICER), &json!({}))
        .await;
    assert_eq!(s, 409, "{v}");
    let d = v["description"].as_str().unwrap();
    assert!(
        d.contains("superseded") && d.contains(&format!("proposal {second_id}")),
        "{d}"
    );

    // 5. The duty officer rejects it: nothing goes out.
    let (s, v) = api
        .post_json(
            &reject(second_id),
            Some(OFFICER),
            &json!({"reason": "aguardar o boletim das 12Z do RSMC"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["proposal"]["state"], "rejected");

    // 6. The next forecast: reviewed, then approved; exactly its bytes go public.
    setup.serve_issuance(2);
    let listed = until(&api, "/api/admin/proposals", VIEWER, |v| {
        v["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "Actual")
    })
    .await;
    let third_id = listed["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "Actual")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let reviewed_cap = api
        .c
        .get(format!("{}/api/admin/proposals/{third_id}/cap", api.base))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reviewed_cap.contains("<status>Actual</status>"));
    assert_eq!(
        got.lock().unwrap().sms.len(),
        0,
        "nothing sent before approval"
    );
    // The approval races a kill -9 of the service; restarted on the same store, the
    // proposal is either published with its messages queued, or still waiting with
    // nothing queued (then approved again): never half of it, never twice.
    let note = json!({"note": "confirmado com o RSMC"});
    let racing = {
        let r = api
            .c
            .post(format!("{}{}", api.base, approve(third_id)))
            .bearer_auth(OFFICER)
            .header("content-type", "application/json")
            .body(note.to_string())
            .send();
        tokio::spawn(async move { r.await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(40)).await;
    let _ = service.0.kill();
    let _ = service.0.wait();
    let raced = racing.await.unwrap();
    let (_restarted, api) = setup.start();
    let (_, p) = api
        .get(&format!("/api/admin/proposals/{third_id}"), Some(VIEWER))
        .await;
    let state = p["proposal"]["state"].as_str().unwrap().to_string();
    let (_, outbox) = api.get("/api/admin/outbox", Some(VIEWER)).await;
    eprintln!("approval raced with kill -9: answer {raced:?}, after restart {state}");
    match state.as_str() {
        "published" => assert_eq!(outbox["total"], 2, "{outbox}"),
        "proposed" => {
            assert_eq!(
                outbox["total"], 0,
                "nothing queued for a waiting proposal: {outbox}"
            );
            let (s, v) = api
                .post_json(&approve(third_id), Some(OFFICER), &note)
                .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["messages_queued"], 2, "one SMS and one e-mail: {v}");
        }
        other => panic!("proposal {third_id} is {other} after the kill: {p}"),
    }
    let alert_id = p["proposal"]["alert_id"].as_str().unwrap().to_string();
    let (s, again) = api
        .post_json(&approve(third_id), Some(OFFICER), &json!({}))
        .await;
    assert_eq!(s, 409, "published is final: {again}");

    let (_, public) = api.get("/api/alerts", None).await;
    assert_eq!(public["count"], 1, "{public}");
    assert_eq!(public["alerts"][0]["id"], alert_id.as_str());
    assert_eq!(
        public["alerts"][0]["version"], 1,
        "the first published version"
    );
    let public_cap = api.text(&format!("/api/alerts/{alert_id}/cap")).await;
    assert_eq!(
        public_cap, reviewed_cap,
        "what went out is what was reviewed"
    );

    // The messages reach the gateway and the mail server, once each.
    api.settled().await;
    let sms = got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].0, "+258845550101");
    assert!(sms[0].2.contains(".v1."), "the version's key: {}", sms[0].2);
    let mails = read_maildir(&setup.smtpd.maildir);
    assert_eq!(mails.len(), 1, "{mails:?}");

    // 7. The audit trail holds every step, the approval with the hash of what went out.
    let audit = until(&api, "/api/admin/audit?limit=10000", VIEWER, |_| true).await;
    let steps = actions(&audit);
    let approvals = steps
        .iter()
        .filter(|(_, what, on)| what == "approved" && *on == format!("proposal {third_id}"))
        .count();
    assert_eq!(approvals, 1, "approved once: {steps:?}");
    for want in [
        ("aviso", "proposed", format!("proposal {first_id}")),
        ("aviso", "superseded", format!("proposal {first_id}")),
        ("aviso", "proposed", format!("proposal {second_id}")),
        ("duty-officer", "rejected", format!("proposal {second_id}")),
        ("aviso", "proposed", format!("proposal {third_id}")),
        ("duty-officer", "approved", format!("proposal {third_id}")),
        // Token use and subscriber changes too, not only in the log.
        (
            "duty-officer",
            "token_used",
            format!("POST /api/admin/proposals/{third_id}/approve"),
        ),
        (
            "cenoe-editor",
            "admin",
            "created subscriber pf-zambezia".into(),
        ),
    ] {
        let want = (want.0.to_string(), want.1.to_string(), want.2);
        assert!(steps.contains(&want), "{want:?} missing from {steps:?}");
    }
    let approved = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "approved")
        .unwrap();
    assert_eq!(approved["cap_sha256"], sha256_hex(&public_cap));
    assert_eq!(approved["reason"], "confirmado com o RSMC");
    let rejected = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "rejected")
        .unwrap();
    assert_eq!(rejected["reason"], "aguardar o boletim das 12Z do RSMC");
    // Each start (the first, and the one after the kill) records the configuration it
    // runs on, with the SHA-256 of the file's bytes: a restart is aviso's reload.
    let config = std::fs::read_to_string(&setup.config).unwrap();
    let starts: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "config_loaded")
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    for e in starts {
        assert_eq!(e["actor"], "aviso");
        assert_eq!(
            e["subject"],
            format!("config {}", setup.config.display()),
            "{e}"
        );
        assert_eq!(e["detail"]["sha256"], sha256_hex(&config), "{e}");
    }
    let csv = api
        .c
        .get(format!("{}/api/admin/audit?f=csv&limit=10000", api.base))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,at,actor,action,subject,reason,cap_sha256,document_sha256,detail")
    );
    // The same rows (and the token use of the requests since).
    let ids: Vec<String> = lines
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    for e in audit["entries"].as_array().unwrap() {
        assert!(
            ids.contains(&e["id"].to_string()),
            "{e} missing from the CSV"
        );
    }
}

/// The duty officer's page in Debian's headless chromium (tests/web/ops.spec.mjs): a
/// wrong token is refused; signed in, the officer reviews Freddy's first proposal (the
/// districts and the exact SMS the admin API gives), approves it, and the public API and
/// the SMS gateway receive exactly that version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duty_officer_reviews_and_approves_freddys_first_proposal_on_the_ops_page() {
    let Some(chromium) = crate::web_map::browser_tools() else {
        return;
    };
    let Some(setup) = Setup::new(None).await else {
        return;
    };
    let (_service, api) = setup.start();
    subscribe(&api).await;
    until(&api, "/api/admin/proposals", VIEWER, |v| {
        v["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "Actual")
    })
    .await;
    crate::approval_site::run_ops_spec(&api.base, "ops.spec.mjs", chromium).await;

    // What the page published reaches the gateway, once.
    let (_, public) = api.get("/api/alerts", None).await;
    assert_eq!(public["count"], 1, "{public}");
    api.settled().await;
    let sms = setup.got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 1, "{sms:?}");
    let event = public["alerts"][0]["event_id"].as_str().unwrap();
    assert!(sms[0].2.contains(&format!(".{event}.v1.")), "{}", sms[0].2);
}
