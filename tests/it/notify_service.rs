//! Subscribers end to end through the service (issue 5 on issue 3): the real pipeline
//! in-process publishing Freddy's replayed issuances from a local feed server, the real
//! API server with the admin API (bearer tokens), the outbox worker running as `aviso
//! serve` runs it, e-mail to a real SMTP server (Debian's aiosmtpd), and an SMS gateway
//! and a webhook receiver as local axum servers.
//!
//! Who should get what is worked out here from the published versions as the public API
//! shows them (each subscriber's districts and levels, the issue's rules: new event,
//! raised, lowered, all-clear, nothing when nothing changed for them), not from the
//! notify code; the receivers' records are compared with it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::notify_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::CapStatus;
use aviso::api::ApiState;
use aviso::api::admin::NotifyApi;
use aviso::api::health::{FeedWatch, ServiceStatus};
use aviso::config::{Config, FeedConfig, FeedKind};
use aviso::feeds::fetch::{Fetcher, HttpConfig};
use aviso::metrics::Metrics;
use aviso::notify::channels::Channels;
use aviso::notify::config::{
    BodyFormat, EmailConfig, InboundConfig, RateLimit, Role, SmsConfig, SmtpSecurity, TokenConfig,
    WebhookConfig,
};
use aviso::notify::dispatch::Dispatcher;
use aviso::pipeline::Pipeline;
use aviso::store::Store;
use aviso::store::notify::{NotifyStore, SubscriberStore};
use aviso::store::sqlite::SqliteStore;
use notify_support::*;

const VIEWER: &str = "viewer-token-5b1c";
const EDITOR: &str = "editor-token-77e0";
const ADMIN: &str = "admin-token-from-env-91aa";
const INBOUND: &str = "gateway-shared-secret";

// --- the oracle ----------------------------------------------------------------------------------

/// A subscriber's areas as the oracle sees them: the districts they cover.
struct Follows {
    id: &'static str,
    covers: fn(&str) -> bool,
    min_level: Level,
}

fn level_of(s: &str) -> Level {
    Level::ALL.into_iter().find(|l| l.name_en() == s).unwrap()
}

/// What the issue's rules give this subscriber for each published version (no reminders:
/// every version here is sent within seconds of the previous, far inside 12 h).
fn expected_story(f: &Follows, versions: &[Value]) -> Vec<(u32, &'static str, Option<Level>)> {
    let mut told: Option<Level> = None;
    let mut out = Vec::new();
    for v in versions {
        let version = v["version"].as_u64().unwrap() as u32;
        let now = if v["msg_type"] == "Cancel" {
            None
        } else {
            v["districts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| (f.covers)(d["pcode"].as_str().unwrap()))
                .map(|d| level_of(d["level"].as_str().unwrap()))
                .filter(|l| *l >= f.min_level)
                .max()
        };
        let kind = match (told, now) {
            (None, None) => None,
            (None, Some(_)) => Some("new_event"),
            (Some(_), None) => Some("all_clear"),
            (Some(t), Some(n)) if n > t => Some("raised"),
            (Some(t), Some(n)) if n < t => Some("lowered"),
            _ => None,
        };
        if let Some(k) = kind {
            out.push((version, k, now));
            told = now;
        }
    }
    out
}

fn quelimane(p: &str) -> bool {
    p == "MZ1103"
}
fn zambezia(p: &str) -> bool {
    p.starts_with("MZ11")
}
fn caia(p: &str) -> bool {
    p == "MZ0902"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_hear_of_freddy_in_their_language_and_stop_when_they_ask() {
    let t_all = Instant::now();
    let Some(issuances) = freddy(Utc.with_ymd_and_hms(2023, 3, 8, 0, 0, 0).unwrap()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(smtpd) = start_smtpd(dir.path()) else {
        return;
    };
    aviso::feeds::fetch::install_crypto_provider();

    // The receivers and the feed.
    let got: Shared = Arc::default();
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recv_base = format!("http://{}", recv.local_addr().unwrap());
    let app = Router::new()
        .route("/sms", post(gateway))
        .route("/hook", post(hook))
        .with_state(Arc::clone(&got));
    tokio::spawn(async move { axum::serve(recv, app).await });
    let feed_body: Arc<Mutex<Vec<u8>>> = Arc::default();
    let feeds = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let feed_base = format!("http://{}", feeds.local_addr().unwrap());
    let feed_app = Router::new()
        .route("/{*path}", get(feed))
        .with_state(Arc::clone(&feed_body));
    tokio::spawn(async move { axum::serve(feeds, feed_app).await });
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_base = format!("http://{}", api_listener.local_addr().unwrap());

    // The configuration a site would write (secrets through the lookup, as from the
    // environment).
    let mut cfg = Config::embedded_default().unwrap();
    // Issue 12's probabilistic step has its own test (probabilistic_service); in a debug
    // build it costs seconds per version.
    cfg.probabilistic.publish = false;
    let rsmc = FeedConfig {
        name: "rsmc".into(),
        kind: FeedKind::RsmcReunion,
        url: format!("{feed_base}/rsmc/freddy.json"),
        schedule: "0 0 * * * *".into(),
        status: None,
        enabled: true,
        tech: None,
        stations_url: None,
        discharge_url: None,
    };
    let drill = FeedConfig {
        name: "drill".into(),
        url: format!("{feed_base}/drill/freddy.json"),
        status: Some(CapStatus::Exercise),
        ..rsmc.clone()
    };
    cfg.feeds = vec![rsmc.clone(), drill.clone()];
    // Freddy's 2023 forecasts are replayed as Actual alerts.
    cfg.service.max_forecast_age_h = 1_000_000.0;
    let http = HttpConfig {
        connect_timeout_s: 2.0,
        timeout_s: 5.0,
        retries: 0,
        ..HttpConfig::default()
    };
    cfg.http = http.clone();
    let n = &mut cfg.notify;
    n.message.base_url = api_base.clone();
    n.email = EmailConfig {
        enabled: true,
        host: "localhost".into(),
        port: smtpd.port,
        security: SmtpSecurity::None,
        from: "Alertas INGD <alertas@aviso.example.org>".into(),
        timeout_s: 10.0,
        ..EmailConfig::default()
    };
    n.sms = SmsConfig {
        enabled: true,
        url: format!("{recv_base}/sms"),
        body_format: BodyFormat::Json,
        status_path: Some("status".into()),
        id_path: Some("id".into()),
        accepted_statuses: vec!["accepted".into()],
        ..SmsConfig::default()
    };
    n.webhook = WebhookConfig {
        enabled: true,
        secret_env: "HOOK_SECRET".into(),
        timeout_s: 10.0,
        // The receivers are on 127.0.0.1.
        allow_private_targets: true,
    };
    n.outbox.poll_interval_s = 0.05;
    let fast = RateLimit {
        per_second: 500.0,
        burst: 100,
    };
    n.outbox.rate.email = fast;
    n.outbox.rate.sms = fast;
    n.outbox.rate.webhook = fast;
    n.tokens = vec![
        TokenConfig {
            name: "iom-readonly".into(),
            role: Role::Viewer,
            sha256: Some(sha256_hex(VIEWER)),
            token_env: None,
        },
        TokenConfig {
            name: "cenoe-ops".into(),
            role: Role::Editor,
            sha256: Some(sha256_hex(EDITOR).to_uppercase()),
            token_env: None,
        },
        TokenConfig {
            name: "bootstrap".into(),
            role: Role::Admin,
            sha256: None,
            token_env: Some("ADMIN_TOKEN".into()),
        },
    ];
    n.inbound = InboundConfig {
        enabled: true,
        secret_env: "INBOUND_SECRET".into(),
        ..InboundConfig::default()
    };
    cfg.notify.validate().unwrap();
    let env = |name: &str| match name {
        "HOOK_SECRET" => Some(HOOK_SECRET.to_string()),
        "ADMIN_TOKEN" => Some(ADMIN.to_string()),
        "INBOUND_SECRET" => Some(INBOUND.to_string()),
        _ => None,
    };

    // The service, wired as app::service::build wires it.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let layers = Arc::new(aviso::exposure::IndexedLayers::new(
        aviso::layers::load_layers(&manifest).unwrap().layers,
        &cfg.exposure,
    ));
    let sqlite = Arc::new(SqliteStore::open_dir(&dir.path().join("store")).unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    let nstore: Arc<dyn NotifyStore> = sqlite.clone();
    let metrics = Arc::new(Metrics::default());
    let status = Arc::new(ServiceStatus::new(vec![FeedWatch {
        name: "rsmc".into(),
        stale_after_s: 3600,
    }]));
    status.set_ready();
    let notify_api =
        Arc::new(NotifyApi::new(Arc::clone(&nstore), &cfg.notify, &layers.layers, &env).unwrap());
    let api_state = Arc::new(
        ApiState::new(&layers.layers, Some(api_base.clone()))
            .with_service(Arc::clone(&store), status, Arc::clone(&metrics))
            .with_notify(notify_api),
    );
    tokio::spawn(aviso::api::serve(api_listener, Arc::clone(&api_state)));
    let cfg = Arc::new(cfg);
    let pipeline = Arc::new(
        Pipeline::new(
            Arc::clone(&cfg),
            Arc::clone(&layers),
            store,
            Fetcher::new(http).unwrap(),
            api_state.published(),
            metrics,
        )
        .with_notify(nstore),
    );
    let dispatcher = Arc::new(Dispatcher::new(
        sqlite.clone(),
        Channels::from_config(&cfg.notify, &env).unwrap(),
        cfg.notify.outbox.clone(),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = {
        let d = Arc::clone(&dispatcher);
        tokio::spawn(async move { d.run(stop_rx).await })
    };
    let api = Api {
        base: api_base.clone(),
        c: reqwest::Client::new(),
    };

    // --- The admin API refuses what it must -------------------------------------------------
    let beira = json!({
        "id": "pf-quelimane", "name": "Ponto focal Quelimane", "language": "pt",
        "emails": ["Ana.Macuacua@INGD.example.org"], "phones": ["+258 84 555 0101"],
        "districts": ["mz1103"], "min_level": "amarelo"
    });
    let (s, v, h) = api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers",
            None,
            Some("application/json"),
            beira.to_string(),
        )
        .await;
    assert_eq!(s, 401, "no token: {v}");
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (s, v) = api
        .post_json("/api/admin/subscribers", Some("not-a-token"), &beira)
        .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("Unauthorized")), "{v}");
    let (s, v) = api
        .post_json("/api/admin/subscribers", Some(VIEWER), &beira)
        .await;
    assert_eq!(s, 403, "a viewer cannot write: {v}");
    assert!(v["description"].as_str().unwrap().contains("editor"), "{v}");
    let (s, _) = api.get("/api/admin/tokens", Some(EDITOR)).await;
    assert_eq!(s, 403, "only an admin lists tokens");
    let (s, v) = api.get("/api/admin/tokens", Some(ADMIN)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["tokens"][2],
        json!({"name": "bootstrap", "role": "admin", "source": "env"})
    );
    assert!(
        !v.to_string().contains(&sha256_hex(VIEWER)),
        "hashes stay private"
    );

    let mut bad_inputs = vec![
        ("phones", json!(["84 555 0101"]), "phones[0]", "E.164"),
        ("emails", json!(["ana@@example.org"]), "emails[0]", "e-mail"),
        ("districts", json!(["MZ1199"]), "districts[0]", "MZ1199"),
        (
            "polygon",
            json!({"type": "Polygon", "coordinates": [[[36.8, -17.9], [36.9, -17.8], [36.9, -17.9], [36.8, -17.8], [36.8, -17.9]]]}),
            "polygon[0]",
            "invalid",
        ),
        (
            "features",
            json!(["health_facilities:no-such-id"]),
            "features[0]",
            "loaded point feature",
        ),
    ];
    for (key, value, field, says) in bad_inputs.drain(..) {
        let mut body = beira.clone();
        body[key] = value;
        let (s, v) = api
            .post_json("/api/admin/subscribers", Some(EDITOR), &body)
            .await;
        assert_eq!(s, 422, "{key}: {v}");
        assert_eq!(v["field"], field, "{v}");
        assert_eq!(v["subscriber"], "pf-quelimane");
        let d = v["description"].as_str().unwrap();
        assert!(d.contains(says), "{d}");
        assert!(
            !d.contains("555 0101") && !d.contains("Macuacua"),
            "no personal data echoed: {d}"
        );
    }
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers",
            Some(EDITOR),
            Some("application/json"),
            "{\"id\": \"x\",".into(),
        )
        .await;
    assert_eq!(s, 400, "malformed JSON: {v}");
    let (s, _, _) = api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers",
            Some(EDITOR),
            Some("text/plain"),
            beira.to_string(),
        )
        .await;
    assert_eq!(s, 415);
    let (s, v) = api.get("/api/admin/subscribers", Some(VIEWER)).await;
    assert_eq!(
        (s, v["count"].as_u64()),
        (200, Some(0)),
        "nothing was stored: {v}"
    );

    // --- Subscribers, through the API ------------------------------------------------------------
    let (s, v) = api
        .post_json("/api/admin/subscribers", Some(EDITOR), &beira)
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["subscriber"]["phones"], json!(["+258845550101"]));
    assert_eq!(
        v["subscriber"]["emails"],
        json!(["Ana.Macuacua@ingd.example.org"])
    );
    assert_eq!(v["warnings"], json!([]));
    let (s, _) = api
        .post_json("/api/admin/subscribers", Some(EDITOR), &beira)
        .await;
    assert_eq!(s, 409, "the id exists");
    for body in [
        json!({"id": "iom-zambezia", "name": "IOM CCCM Zambezia", "language": "en",
               "emails": ["cccm.zambezia@iom.example.org"], "provinces": ["MZ11"]}),
        json!({"id": "ops-hook", "name": "Partner dashboard", "language": "en",
               "webhooks": [format!("{recv_base}/hook")], "districts": ["MZ1103"], "min_level": "green"}),
        json!({"id": "pf-caia", "name": "Ponto focal Caia", "phones": ["+258845550202"],
               "districts": ["MZ0902"], "min_level": "red"}),
        // A square around Quelimane's centre (lon/lat): matches the district it lies in.
        json!({"id": "bairro-quelimane", "name": "Comité local", "phones": ["+258845550303"],
               "polygon": {"type": "Polygon", "coordinates": [[[36.87, -17.89], [36.90, -17.89], [36.90, -17.86], [36.87, -17.86], [36.87, -17.89]]]}}),
    ] {
        let (s, v) = api
            .post_json("/api/admin/subscribers", Some(EDITOR), &body)
            .await;
        assert_eq!(s, 201, "{v}");
    }
    // A CSV import: all or nothing, errors by line.
    let csv_bad = "id,name,phones,districts,receive_tests\n\
        drill-fan,Exercícios INGD,+258845550404,MZ1103,sim\n\
        typo,Erro,+258845550505,MZ9999,\n";
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers.csv",
            Some(EDITOR),
            Some("text/csv"),
            csv_bad.into(),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        (v["line"].as_u64(), v["field"].as_str()),
        (Some(3), Some("districts[0]")),
        "{v}"
    );
    let csv_ok: String = csv_bad.lines().take(2).map(|l| format!("{l}\n")).collect();
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers.csv",
            Some(EDITOR),
            Some("text/csv; charset=utf-8"),
            csv_ok,
        )
        .await;
    assert_eq!((s, v["created"].as_u64()), (200, Some(1)), "{v}");
    let (s, export) = api.get("/api/admin/subscribers.csv", Some(VIEWER)).await;
    assert_eq!(s, 200);
    let export = export.as_str().unwrap().to_string();
    assert_eq!(export.lines().count(), 1 + 6, "{export}");
    assert!(export.contains("+258845550404") && export.contains("Exercícios INGD"));

    let follows = [
        Follows {
            id: "pf-quelimane",
            covers: quelimane,
            min_level: Level::Yellow,
        },
        Follows {
            id: "iom-zambezia",
            covers: zambezia,
            min_level: Level::Yellow,
        },
        Follows {
            id: "ops-hook",
            covers: quelimane,
            min_level: Level::Green,
        },
        Follows {
            id: "pf-caia",
            covers: caia,
            min_level: Level::Red,
        },
        Follows {
            id: "bairro-quelimane",
            covers: quelimane,
            min_level: Level::Yellow,
        },
        Follows {
            id: "drill-fan",
            covers: quelimane,
            min_level: Level::Yellow,
        },
    ];
    let personal: Vec<&str> = vec![
        "Macuacua",
        "ingd.example.org",
        "cccm.zambezia",
        "iom.example.org",
        "+25884555",
        "25884555",
        "Ponto focal",
        "IOM CCCM",
        "Partner dashboard",
        "Comité local",
        "/hook",
        "Exercícios INGD",
    ];

    // --- Freddy: four issuances ------------------------------------------------------------------------
    let at = |d: u32, h: u32| {
        let t = Utc.with_ymd_and_hms(2023, 3, d, h, 0, 0).unwrap();
        issuances.iter().find(|(r, _)| *r == t).unwrap().1.clone()
    };
    let steps: Vec<(&str, Vec<u8>)> = vec![
        ("8 Mar 00Z", at(8, 0)),
        ("9 Mar 00Z", at(9, 0)),
        ("12 Mar 12Z", at(12, 12)),
        ("end of track", issuances.last().unwrap().1.clone()),
    ];
    let mut published = Vec::new();
    let mut dispatch_s = Vec::new();
    for (i, (label, body)) in steps.into_iter().enumerate() {
        *feed_body.lock().unwrap() = body;
        let r = pipeline.run_feed(&rsmc).await;
        assert!(r.failed.is_empty(), "{label}: {r:?}");
        api.settled().await;
        // Dispatch time: from the version's messages entering the outbox (with the
        // version, in its transaction) to the last one delivered.
        let (_, outbox) = api.get("/api/admin/outbox?limit=1000", Some(VIEWER)).await;
        let rows: Vec<&Value> = outbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| r.published.iter().any(|p| m["alert_id"] == p.as_str()))
            .collect();
        let t = |m: &Value, k: &str| m[k].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
        let took = rows
            .iter()
            .map(|m| {
                (t(m, "delivered_at") - t(m, "created_at"))
                    .num_microseconds()
                    .unwrap()
            })
            .max()
            .unwrap_or(0) as f64
            / 1e6;
        eprintln!(
            "{label}: published {:?}: {} message(s), all delivered {took:.3} s after the commit",
            r.published,
            rows.len()
        );
        dispatch_s.push(took);
        published.extend(r.published);
        if i == 1 {
            // After the second issuance, the Quelimane focal point replies STOP to an SMS,
            // and the IOM officer follows the link at the foot of their e-mail.
            let form = "from=%2B258845550101&to=12345&text=Stop&date=2023-03-09";
            let (s, _) = api.post_form("/api/sms/inbound", form).await;
            assert_eq!(s, 401, "a forwarded reply without the shared secret");
            let (s, _) = api.post_form("/api/sms/inbound?token=wrong", form).await;
            assert_eq!(s, 401);
            let (s, body) = api
                .post_form(&format!("/api/sms/inbound?token={INBOUND}"), form)
                .await;
            assert_eq!(s, 200, "{body}");
            assert!(body.contains("stopped") && !body.contains("555"), "{body}");
            let (s, body) = api
                .post_form(
                    &format!("/api/sms/inbound?token={INBOUND}"),
                    "from=%2B258845550303&text=obrigado",
                )
                .await;
            assert_eq!((s, body.contains("ignored")), (200, true), "{body}");

            let mails = read_maildir(&smtpd.maildir);
            let iom = mails
                .iter()
                .find(|m| m["rcpt"].as_str().unwrap().contains("cccm.zambezia"))
                .expect("the IOM officer got an e-mail");
            let plain = iom["parts"][0].as_str().unwrap();
            let link = plain
                .lines()
                .find_map(|l| {
                    l.split_whitespace()
                        .find(|w| w.contains("/unsubscribe?token="))
                })
                .expect("an unsubscribe link in every e-mail")
                .to_string();
            let path = link
                .strip_prefix(&api_base)
                .expect("the link points at the service");
            let page = api.text(path).await;
            assert!(
                page.contains("<form method=\"post\"") && page.contains("Cancelar"),
                "{page}"
            );
            let (_, sub) = api
                .get("/api/admin/subscribers/iom-zambezia", Some(VIEWER))
                .await;
            assert_eq!(
                sub["active"], true,
                "opening the link alone changes nothing"
            );
            let token = path.split("token=").nth(1).unwrap();
            let (s, page) = api
                .post_form("/unsubscribe", &format!("token={token}"))
                .await;
            assert_eq!(s, 200, "{page}");
            assert!(page.contains("Subscrição cancelada") && page.contains("Unsubscribed"));
            let (s, _) = api.post_form("/unsubscribe", "token=forged").await;
            assert_eq!(s, 404);
            let (_, sub) = api
                .get("/api/admin/subscribers/iom-zambezia", Some(VIEWER))
                .await;
            assert_eq!(sub["active"], false);
            assert!(sub["opted_out_at"].is_string());
            // Mail clients' one-click unsubscribe (RFC 8058) posts to the header's link.
            assert_eq!(iom["list_unsubscribe"], format!("<{link}>"));
            assert_eq!(iom["list_unsubscribe_post"], "List-Unsubscribe=One-Click");
            let (s, _) = api.post_form(path, "List-Unsubscribe=One-Click").await;
            assert_eq!(
                s, 200,
                "one-click on an address already out is still a success"
            );
            let (_, sub) = api
                .get("/api/admin/subscribers/pf-quelimane", Some(VIEWER))
                .await;
            assert_eq!(sub["active"], true, "their e-mail still works");
            assert_eq!(sub["sms_opted_out"], json!(["+258845550101"]));
            // An editor re-importing an old spreadsheet does not undo either refusal.
            let reimport = "id,name,emails,phones,provinces\n\
                iom-zambezia,IOM CCCM Zambezia,cccm.zambezia@iom.example.org,,MZ11\n";
            let (s, v, _) = api
                .send(
                    reqwest::Method::POST,
                    "/api/admin/subscribers.csv",
                    Some(EDITOR),
                    Some("text/csv"),
                    reimport.into(),
                )
                .await;
            assert_eq!((s, v["updated"].as_u64()), (200, Some(1)), "{v}");
            assert!(v["warnings"].to_string().contains("opted out"), "{v}");
            let (_, sub) = api
                .get("/api/admin/subscribers/iom-zambezia", Some(VIEWER))
                .await;
            assert_eq!(sub["active"], false, "an opt-out outlives an import");
        }
    }
    // The exercise feed: only the subscriber who asked for tests hears of it.
    *feed_body.lock().unwrap() = at(9, 0);
    let r = pipeline.run_feed(&drill).await;
    assert_eq!(r.published.len(), 1, "{r:?}");
    api.settled().await;
    let _ = stop_tx.send(true);
    let stats = worker.await.unwrap();

    // --- Who got what --------------------------------------------------------------------------------
    let (_, first) = api
        .get(&format!("/api/alerts/{}", published[0]), None)
        .await;
    let event = first["alert"]["event_id"].as_str().unwrap().to_string();
    let (_, history) = api.get(&format!("/api/events/{event}"), None).await;
    let versions = history["versions"]
        .as_array()
        .expect("the event's history")
        .clone();
    assert_eq!(versions.len(), 4, "{history}");
    assert_eq!(versions[3]["msg_type"], "Cancel");
    let got = std::mem::take(&mut *got.lock().unwrap());
    let mails = read_maildir(&smtpd.maildir);
    let stop_after = 2; // the STOP and the unsubscribe came after version 2
    let mut kinds_seen = BTreeSet::new();
    for f in &follows {
        // Actual alerts reach a subscriber who also takes tests like anyone else.
        let story = expected_story(f, &versions);
        let sms: Vec<(u32, &str)> = got
            .sms
            .iter()
            .filter(|(_, _, k)| parse_key(k).0 == f.id && !k.contains("exercise"))
            .map(|(_, t, k)| (parse_key(k).1, t.as_str()))
            .collect();
        let emails: Vec<(u32, &Value)> = mails
            .iter()
            .filter_map(|m| {
                let id = m["message_id"].as_str().unwrap().trim_matches(['<', '>']);
                let key = id.split('@').next().unwrap();
                (parse_key(key).0 == f.id).then(|| (parse_key(key).1, m))
            })
            .collect();
        let hooks: Vec<&Value> = got
            .hooks
            .iter()
            .filter(|(_, k)| parse_key(k).0 == f.id)
            .map(|(v, _)| v)
            .collect();
        let want = |channel_stops: bool| -> Vec<u32> {
            story
                .iter()
                .filter(|(v, _, _)| !channel_stops || *v <= stop_after)
                .map(|(v, _, _)| *v)
                .collect()
        };
        for (_, kind, _) in &story {
            kinds_seen.insert(*kind);
        }
        match f.id {
            "pf-quelimane" => {
                // SMS until STOP, e-mail throughout; Portuguese.
                assert_eq!(
                    sms.iter().map(|x| x.0).collect::<Vec<_>>(),
                    want(true),
                    "{} sms",
                    f.id
                );
                assert_eq!(
                    emails.iter().map(|x| x.0).collect::<Vec<_>>(),
                    want(false),
                    "{} e-mail",
                    f.id
                );
                for (v, text) in &sms {
                    let (_, kind, level) = story.iter().find(|s| s.0 == *v).unwrap();
                    let head = match *kind {
                        "new_event" => {
                            format!("ALERTA {}:", level.unwrap().name_pt().to_uppercase())
                        }
                        "raised" => format!(
                            "ALERTA SOBE PARA {}:",
                            level.unwrap().name_pt().to_uppercase()
                        ),
                        "lowered" => format!(
                            "ALERTA DESCE PARA {}:",
                            level.unwrap().name_pt().to_uppercase()
                        ),
                        _ => "FIM DO ALERTA:".into(),
                    };
                    assert!(text.starts_with(&head), "v{v} {kind}: {text}");
                    assert!(
                        text.contains("ciclone FREDDY") && text.contains("STOP p/ sair"),
                        "{text}"
                    );
                    let c = aviso::notify::gsm::count_segments(text);
                    assert!(c.segments <= 2, "{c:?}: {text}");
                }
                for (_, m) in &emails {
                    let subject = m["subject"].as_str().unwrap();
                    assert!(subject.contains("ciclone FREDDY"), "{subject}");
                    let plain = m["parts"][0].as_str().unwrap();
                    assert!(
                        plain.contains("(hora de Maputo)") && plain.contains("/unsubscribe?token="),
                        "{plain}"
                    );
                }
            }
            "iom-zambezia" => {
                assert!(sms.is_empty() && hooks.is_empty());
                assert_eq!(
                    emails.iter().map(|x| x.0).collect::<Vec<_>>(),
                    want(true),
                    "iom e-mail"
                );
                for (_, m) in &emails {
                    let subject = m["subject"].as_str().unwrap();
                    assert!(
                        subject.contains("cyclone FREDDY") && !subject.contains("ciclone"),
                        "{subject}"
                    );
                    assert!(m["parts"][0].as_str().unwrap().contains("people at risk"));
                }
            }
            "ops-hook" => {
                let got_v: Vec<u32> = hooks
                    .iter()
                    .map(|h| h["version"].as_u64().unwrap() as u32)
                    .collect();
                assert_eq!(got_v, want(false), "webhook versions");
                for h in &hooks {
                    let (_, kind, level) = story
                        .iter()
                        .find(|s| u64::from(s.0) == h["version"].as_u64().unwrap())
                        .unwrap();
                    assert_eq!(h["notice"], *kind, "{h}");
                    assert_eq!(h["level"], json!(level.map(|l| l.name_en())), "{h}");
                    assert_eq!(h["language"], "en");
                }
            }
            "pf-caia" => {
                assert!(
                    story.is_empty(),
                    "Caia never reaches red in this replay: {story:?}"
                );
                assert!(sms.is_empty(), "below their minimum level: nothing");
            }
            "bairro-quelimane" | "drill-fan" => {
                assert_eq!(
                    sms.iter().map(|x| x.0).collect::<Vec<_>>(),
                    want(false),
                    "{} sms",
                    f.id
                );
            }
            _ => unreachable!(),
        }
    }
    for kind in ["new_event", "raised", "lowered", "all_clear"] {
        assert!(
            kinds_seen.contains(kind),
            "the replay exercises {kind}: {kinds_seen:?}"
        );
    }
    // The exercise: one SMS, to the subscriber who asked for tests, marked as such.
    let drills: Vec<&(String, String, String)> = got
        .sms
        .iter()
        .filter(|(_, _, k)| k.contains("exercise"))
        .collect();
    assert_eq!(drills.len(), 1, "{drills:?}");
    assert_eq!(drills[0].0, "+258845550404");
    assert!(drills[0].1.starts_with("[EXERCICIO]"), "{}", drills[0].1);

    // Nothing twice: one request per idempotency key, one e-mail per Message-ID.
    assert!(
        got.keys.values().all(|n| *n == 1),
        "a key was sent twice: {:?}",
        got.keys
    );
    let ids: BTreeSet<&str> = mails
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), mails.len());
    assert_eq!(got.bad_signatures, 0);
    let total = got.sms.len() + got.hooks.len() + mails.len();
    assert_eq!(stats.delivered, total, "{stats:?}");
    let (_, outbox) = api.get("/api/admin/outbox?limit=1000", Some(VIEWER)).await;
    assert_eq!(outbox["total"].as_u64(), Some(total as u64));
    assert!(
        outbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "delivered")
    );

    // /metrics counts the outbox; public endpoints carry no personal data.
    let metrics = api.text("/metrics").await;
    let metric = |name: &str| -> i64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        metric("aviso_notify_outbox_messages{channel=\"sms\",state=\"delivered\"}"),
        got.sms.len() as i64
    );
    assert_eq!(
        metric("aviso_notify_outbox_messages{channel=\"email\",state=\"delivered\"}"),
        mails.len() as i64
    );
    assert_eq!(
        metric("aviso_notify_attempts_total{channel=\"webhook\",outcome=\"delivered\"}"),
        got.hooks.len() as i64
    );
    assert_eq!(metric("aviso_notify_subscribers{state=\"inactive\"}"), 1);
    assert_eq!(metric("aviso_notify_sms_optouts"), 1);
    let mut public = vec![
        api.text("/api/alerts?status=all&include_tests=true").await,
        api.text("/api/alerts.atom").await,
        api.text("/api/events").await,
        api.text("/metrics").await,
        api.text("/").await,
        api.text("/collections/districts_at_risk/items").await,
    ];
    for id in &published {
        public.push(api.text(&format!("/api/alerts/{id}")).await);
        public.push(api.text(&format!("/api/alerts/{id}/cap")).await);
    }
    for page in &public {
        for p in &personal {
            assert!(!page.contains(p), "{p:?} appears in a public answer");
        }
    }
    let total_s: f64 = dispatch_s.iter().sum();
    eprintln!(
        "notify through the service: {} SMS, {} e-mails, {} webhooks; each version's batch delivered within {:?} s of its commit ({total_s:.2} s in all); test {:.1} s",
        got.sms.len(),
        mails.len(),
        got.hooks.len(),
        dispatch_s
            .iter()
            .map(|s| (s * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>(),
        t_all.elapsed().as_secs_f64()
    );
}

/// The `aviso run-once` binary: one cycle of the feed, then delivery before exiting, with
/// the gateway's secret from the environment only; without it the run refuses to start
/// and names the variable. The log names no phone number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_before_exiting_and_needs_its_secrets_from_the_environment() {
    let Some(issuances) = freddy(Utc.with_ymd_and_hms(2023, 3, 9, 0, 0, 0).unwrap()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let got: Shared = Arc::default();
    let auth: Arc<Mutex<Vec<String>>> = Arc::default();
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recv_base = format!("http://{}", recv.local_addr().unwrap());
    let auth2 = Arc::clone(&auth);
    let app = Router::new()
        .route(
            "/sms",
            post(move |s: State<Shared>, h: HeaderMap, b: Bytes| {
                let auth = Arc::clone(&auth2);
                async move {
                    let a = h
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    auth.lock().unwrap().push(a.to_string());
                    gateway(s, h, b).await
                }
            }),
        )
        .with_state(Arc::clone(&got));
    tokio::spawn(async move { axum::serve(recv, app).await });
    let feed_body = Arc::new(Mutex::new(issuances[0].1.clone()));
    let feeds = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let feed_base = format!("http://{}", feeds.local_addr().unwrap());
    let feed_app = Router::new()
        .route("/{*path}", get(feed))
        .with_state(feed_body);
    tokio::spawn(async move { axum::serve(feeds, feed_app).await });

    // One subscriber in the store the run will open.
    let data = dir.path().join("data");
    {
        let store = SqliteStore::open_dir(&data).unwrap();
        let s = aviso::notify::Subscriber {
            id: "pf-quelimane".into(),
            name: "Ponto focal Quelimane".into(),
            channels: vec![aviso::notify::Channel::Sms("+258845550101".into())],
            areas: vec![aviso::notify::Area::District("MZ1103".into())],
            ..aviso::notify::Subscriber::default()
        };
        assert!(store.create_subscriber(&s, Utc::now()).unwrap());
    }
    let config = dir.path().join("site.toml");
    let publish_all = crate::common::PUBLISH_ALL;
    std::fs::write(
        &config,
        format!(
            r#"{publish_all}[service]
max_forecast_age_h = 1000000.0
layers = "{layers}"
[probabilistic]
# issue 12's probabilistic step has its own test (probabilistic_service); in a debug
# build it costs seconds per version, which this test does not need
publish = false
[[feed]]
name = "rsmc"
kind = "rsmc-reunion"
url = "{feed_base}/rsmc/freddy.json"
schedule = "0 5 */6 * * *"
[notify.sms]
enabled = true
url = "{recv_base}/sms"
status_path = "status"
auth_env = "AVISO_TEST_SMS_TOKEN"
[notify.outbox]
run_once_wait_s = 5.0
"#,
            layers = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("layers")
                .display()
        ),
    )
    .unwrap();
    let run = move |token: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_aviso"));
        c.arg("--config")
            .arg(&config)
            .args(["run-once", "--data-dir"])
            .arg(&data)
            .env_remove("AVISO_TEST_SMS_TOKEN");
        if let Some(t) = token {
            c.env("AVISO_TEST_SMS_TOKEN", t);
        }
        c.output().unwrap()
    };

    let out = tokio::task::spawn_blocking(move || {
        let refused = run(None);
        let ran = run(Some("Bearer sms-api-key"));
        (refused, ran)
    })
    .await
    .unwrap();
    let (refused, ran) = out;
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(err.contains("AVISO_TEST_SMS_TOKEN"), "{err}");
    let log = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "{log}");
    assert!(
        log.contains("notify: messages of this run delivered=1 "),
        "{log}"
    );
    for secret in ["845550101", "Ponto focal", "sms-api-key"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
    let got = got.lock().unwrap();
    assert_eq!(got.sms.len(), 1, "delivered before the process exited");
    assert_eq!(got.sms[0].0, "+258845550101");
    assert!(
        got.sms[0].1.starts_with("ALERTA VERMELHO:"),
        "{}",
        got.sms[0].1
    );
    assert_eq!(auth.lock().unwrap().as_slice(), ["Bearer sms-api-key"]);
}
