//! A person's data leaves the store for good, and a number that replied STOP by mistake
//! comes back: erasure through the admin API after real deliveries (SMS to a local
//! gateway, e-mail to a real SMTP server, signed webhooks), proved by searching the raw
//! bytes of the SQLite file and its WAL; then STOP, a re-import, START and the next
//! version reaching the phone again, through the real API server on a local socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::notify_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::post;
use chrono::{TimeZone, Utc};
use geo::{LineString, Polygon};
use serde_json::Value;

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{CapStatus, MsgType};
use aviso::api::ApiState;
use aviso::api::admin::NotifyApi;
use aviso::notify::channels::Channels;
use aviso::notify::config::{
    BodyFormat, EmailConfig, InboundConfig, NotifyConfig, RateLimit, Role, SmsConfig, SmtpSecurity,
    TokenConfig, WebhookConfig,
};
use aviso::notify::dispatch::{Dispatcher, enqueue_version};
use aviso::notify::select::{AlertDistrict, NoGeometry, PublishedAlert};
use aviso::notify::{Area, Channel, Subscriber};
use aviso::store::notify::{NotifyStore, OutboxState, OutboxStore, SubscriberStore};
use aviso::store::sqlite::SqliteStore;
use notify_support::{
    Api, HOOK_SECRET, Shared, gateway, hook, read_maildir, sha256_hex, start_smtpd,
};

const VIEWER: &str = "viewer-token-er";
const EDITOR: &str = "editor-token-er";
const ADMIN: &str = "admin-token-er";
const SECRET: &str = "gateway-callback-secret";

fn version(v: u32, level: Level) -> PublishedAlert {
    PublishedAlert {
        after_cyclone: None,
        instruction: None,
        event_id: "swi-07-20222023".into(),
        version: v,
        identifier: format!("aviso-swi-07-20222023-{v}"),
        msg_type: if v == 1 {
            MsgType::Alert
        } else {
            MsgType::Update
        },
        status: CapStatus::Actual,
        hazard: aviso::notify::HazardKind::Cyclone,
        event_name: "FREDDY".into(),
        sent: Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap()
            + chrono::Duration::hours(6 * i64::from(v)),
        next_update: None,
        districts: vec![AlertDistrict {
            pcode: "MZ1103".into(),
            name: "Quelimane".into(),
            province_pcode: Some("MZ11".into()),
            level,
            people_at_risk: None,
        }],
        sites: vec![],
    }
}

fn empty_layers() -> aviso::domain::Layers {
    aviso::domain::Layers {
        country: geo::MultiPolygon::new(Vec::new()),
        provinces: Vec::new(),
        districts: Vec::new(),
        points: Vec::new(),
        infos: Vec::new(),
    }
}

fn tokens() -> Vec<TokenConfig> {
    [
        ("ops-viewer", Role::Viewer, VIEWER),
        ("cenoe-ops", Role::Editor, EDITOR),
        ("dpo-admin", Role::Admin, ADMIN),
    ]
    .into_iter()
    .map(|(name, role, t)| TokenConfig {
        name: name.into(),
        role,
        sha256: Some(sha256_hex(t)),
        token_env: None,
    })
    .collect()
}

fn env(k: &str) -> Option<String> {
    match k {
        "SECRET" => Some(SECRET.to_string()),
        "HOOK_SECRET" => Some(HOOK_SECRET.to_string()),
        _ => None,
    }
}

/// The local SMS gateway and webhook receiver (notify_support's, which record what they
/// get); returns their base URL.
async fn receivers(got: &Shared) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let app = Router::new()
        .route("/sms", post(gateway))
        .route("/hook/{*rest}", post(hook))
        .with_state(Arc::clone(got));
    tokio::spawn(async move { axum::serve(l, app).await });
    base
}

/// The API server over `store` on a local socket.
async fn api_server(store: &Arc<SqliteStore>, cfg: &NotifyConfig) -> Api {
    let s: Arc<dyn NotifyStore> = store.clone();
    let state = Arc::new(ApiState::new(&empty_layers(), None).with_notify(Arc::new(
        NotifyApi::new(s, cfg, &empty_layers(), &env).unwrap(),
    )));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(aviso::api::serve(l, state));
    Api {
        base,
        c: reqwest::Client::new(),
    }
}

fn sms_config(base: &str) -> SmsConfig {
    SmsConfig {
        enabled: true,
        url: format!("{base}/sms"),
        body_format: BodyFormat::Json,
        status_path: Some("status".into()),
        id_path: Some("id".into()),
        accepted_statuses: vec!["accepted".into()],
        dlr_enabled: true,
        timeout_s: 5.0,
        ..SmsConfig::default()
    }
}

/// Whether `needle` occurs in `hay`, ignoring ASCII case.
fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let n = needle.to_ascii_lowercase().into_bytes();
    hay.windows(n.len())
        .any(|w| w.iter().zip(&n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// The database file and its WAL and shared-memory index, as bytes on disk.
fn raw_files(db: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let p = format!("{}{suffix}", db.display());
            std::fs::read(&p).ok().map(|b| (p, b))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_subscriber_leaves_no_trace_in_the_database_file() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let Some(smtpd) = start_smtpd(dir.path()) else {
        return;
    };
    aviso::notify::channels::install_crypto_provider();
    let got: Shared = Arc::default();
    let recv = receivers(&got).await;
    let db = dir.path().join("aviso.sqlite");
    let store = Arc::new(SqliteStore::open(&db).unwrap());

    // The person to erase (every kind of personal data a subscriber holds: a name, a
    // number, an e-mail address, a webhook URL with a secret path, and a polygon with
    // coordinates precise enough to find a house) and someone who stays.
    let hook_url = format!("{recv}/hook/ana-secret-path-91");
    let ring = LineString::from(vec![
        (36.871234, -17.861234),
        (36.879876, -17.861234),
        (36.879876, -17.857654),
        (36.871234, -17.857654),
        (36.871234, -17.861234),
    ]);
    let ana = Subscriber {
        id: "pf-erase".into(),
        name: "Ana Macuacua Erasable".into(),
        channels: vec![
            Channel::Sms("+258845550101".into()),
            Channel::Email("Ana.Macuacua@ingd.example.org".into()),
            Channel::Webhook(hook_url.clone()),
        ],
        areas: vec![
            Area::District("MZ1103".into()),
            Area::Polygon(Polygon::new(ring, vec![])),
        ],
        ..Subscriber::default()
    };
    let bento = Subscriber {
        id: "pf-keep".into(),
        name: "Bento Keeper".into(),
        channels: vec![
            Channel::Sms("+258845550202".into()),
            Channel::Email("bento.keeper@ingd.example.org".into()),
        ],
        areas: vec![Area::District("MZ1103".into())],
        ..Subscriber::default()
    };
    assert!(store.create_subscriber(&ana, Utc::now()).unwrap());
    assert!(store.create_subscriber(&bento, Utc::now()).unwrap());
    // An update leaves the old record's bytes for SQLite to free: they must go too.
    let mut ana2 = ana.clone();
    ana2.min_level = Level::Green;
    assert!(store.update_subscriber(&ana2, Utc::now()).unwrap());

    let mut cfg = NotifyConfig {
        email: EmailConfig {
            enabled: true,
            host: "localhost".into(),
            port: smtpd.port,
            security: SmtpSecurity::None,
            from: "Alertas INGD <alertas@aviso.example.org>".into(),
            timeout_s: 10.0,
            ..EmailConfig::default()
        },
        sms: sms_config(&recv),
        webhook: WebhookConfig {
            enabled: true,
            secret_env: "HOOK_SECRET".into(),
            timeout_s: 5.0,
            // The receivers are on 127.0.0.1.
            allow_private_targets: true,
        },
        inbound: InboundConfig {
            enabled: true,
            secret_env: "SECRET".into(),
            ..InboundConfig::default()
        },
        tokens: tokens(),
        ..NotifyConfig::default()
    };
    cfg.outbox.rate.email = RateLimit {
        per_second: 100.0,
        burst: 10,
    };
    cfg.outbox.rate.sms = cfg.outbox.rate.email;
    cfg.outbox.rate.webhook = cfg.outbox.rate.email;
    cfg.validate().unwrap();
    let d = Dispatcher::new(
        Arc::clone(&store),
        Channels::from_config(&cfg, &env).unwrap(),
        cfg.outbox.clone(),
    );
    let api = api_server(&store, &cfg).await;

    // Version 1 reaches both: SMS, e-mail, webhook.
    enqueue_version(
        store.as_ref(),
        &version(1, Level::Orange),
        &cfg,
        &NoGeometry,
        Utc::now(),
    )
    .unwrap();
    let s = d.run_until_idle().await.unwrap();
    assert_eq!(s.delivered, 5, "{s:?}");
    let ana_sms_id = store
        .outbox(None)
        .unwrap()
        .into_iter()
        .find(|r| r.message.channel == Channel::Sms("+258845550101".into()))
        .and_then(|r| r.gateway_id)
        .unwrap();
    // The gateway reports the SMS undelivered, quoting the number in its reason.
    let (s, v) = api
        .post_form(
            &format!("/api/sms/dlr?token={SECRET}"),
            &format!("id={ana_sms_id}&status=undelivered&reason=absent+subscriber+%2B258845550101"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // She replies STOP (her e-mail and webhook still stand).
    let (s, v) = api
        .post_form(
            &format!("/api/sms/inbound?token={SECRET}"),
            "from=%2B258845550101&text=STOP",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Version 2 is queued, not yet sent: her e-mail and webhook wait in the outbox.
    enqueue_version(
        store.as_ref(),
        &version(2, Level::Red),
        &cfg,
        &NoGeometry,
        Utc::now(),
    )
    .unwrap();
    let waiting_for_ana = store
        .outbox(None)
        .unwrap()
        .iter()
        .filter(|r| r.message.subscriber_id == "pf-erase" && r.state == OutboxState::Pending)
        .count();
    assert_eq!(waiting_for_ana, 2, "her e-mail and webhook of version 2");
    let before: Vec<(String, Vec<u8>)> = raw_files(&db);
    assert!(
        before.iter().any(|(_, b)| contains_ci(b, "Macuacua")),
        "the search finds her before the erasure"
    );

    // Only an admin erases; an unknown id is a 404.
    let path = "/api/admin/subscribers/pf-erase/erase";
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            path,
            Some(EDITOR),
            None,
            String::new(),
        )
        .await;
    assert_eq!(s, 403, "an editor cannot erase: {v}");
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers/nobody/erase",
            Some(ADMIN),
            None,
            String::new(),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    assert!(v["description"].as_str().unwrap().contains("nobody"), "{v}");
    let (s, v, _) = api
        .send(
            reqwest::Method::POST,
            path,
            Some(ADMIN),
            None,
            String::new(),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let r = &v["report"];
    assert_eq!(r["messages_failed"], 2, "{v}");
    assert_eq!(
        r["messages_scrubbed"], 5,
        "3 sent with version 1, 2 queued with version 2: {v}"
    );
    assert_eq!(r["sms_optouts_kept"], 1, "{v}");
    assert_eq!(r["checkpointed"], true, "{v}");

    // Gone from the API; her messages stay as counts, times and states.
    let (s, _) = api
        .get("/api/admin/subscribers/pf-erase", Some(VIEWER))
        .await;
    assert_eq!(s, 404);
    let (_, list) = api.get("/api/admin/subscribers", Some(VIEWER)).await;
    assert_eq!(list["count"], 1, "{list}");
    let (_, outbox) = api.get("/api/admin/outbox", Some(VIEWER)).await;
    let hers: Vec<&Value> = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["subscriber_id"] == "pf-erase")
        .collect();
    assert_eq!(hers.len(), 5);
    assert!(hers.iter().all(|m| m["address"] == "erased"), "{hers:?}");
    assert_eq!(hers.iter().filter(|m| m["state"] == "failed").count(), 2);
    assert_eq!(hers.iter().filter(|m| m["state"] == "delivered").count(), 3);
    // The keys lose the hash of the address (a 32-bit fingerprint of her number).
    for m in &hers {
        let key = m["idempotency_key"].as_str().unwrap();
        assert!(
            key.starts_with("pf-erase.swi-07-20222023.v")
                && key.rsplit('.').next().unwrap().starts_with("erased-"),
            "{key}"
        );
    }
    let sms_row = hers.iter().find(|m| m["channel"] == "sms").unwrap();
    assert_eq!(
        sms_row["delivery_report"]["state"], "undelivered",
        "the audit trail keeps the report"
    );

    // Nothing of her in the file, its WAL or its index: not the number (E.164, without
    // '+', national), not the address, the name, the webhook URL, the polygon.
    let mut after = raw_files(&db);
    assert!(!after.is_empty());
    let needles = [
        "+258845550101",
        "258845550101",
        "845550101",
        "Ana.Macuacua@ingd.example.org",
        "ana.macuacua",
        "Macuacua",
        "Ana Macuacua",
        "ana-secret-path-91",
        &hook_url,
        "36.871234",
        "36.879876",
        "-17.857654",
    ];
    for (file, bytes) in &after {
        for n in needles {
            assert!(!contains_ci(bytes, n), "{n:?} is still in {file}");
        }
    }
    // The search is not blind: the subscriber who stays is there.
    assert!(after.iter().any(|(_, b)| contains_ci(b, "+258845550202")));
    assert!(
        after
            .iter()
            .any(|(_, b)| contains_ci(b, "bento.keeper@ingd.example.org"))
    );

    // Her queued messages never go; his do. Nothing reached her after the erasure.
    let (sms_before, mails_before) = (
        got.lock().unwrap().sms.len(),
        read_maildir(&smtpd.maildir).len(),
    );
    let s = d.run_until_idle().await.unwrap();
    assert_eq!(s.delivered, 2, "Bento's SMS and e-mail of version 2: {s:?}");
    {
        let got_now = got.lock().unwrap();
        assert_eq!(got_now.sms.len(), sms_before + 1);
        assert!(
            got_now
                .sms
                .iter()
                .skip(sms_before)
                .all(|(to, _, _)| to == "+258845550202")
        );
        assert!(
            got_now.hooks.iter().all(|(v, _)| v["version"] == 1),
            "no webhook of version 2 to her"
        );
    }
    let mails = read_maildir(&smtpd.maildir);
    assert_eq!(mails.len(), mails_before + 1);
    assert!(
        mails
            .iter()
            .skip(mails_before)
            .all(|m| m["rcpt"].as_str().unwrap().contains("bento.keeper"))
    );

    // The audit trail of the erasure: who and when, no more.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        let (who, failed): (String, i64) = c
            .query_row(
                "SELECT erased_by, messages_failed FROM erasures WHERE subscriber_id = 'pf-erase'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((who.as_str(), failed), ("dpo-admin", 2));
    }

    // Her STOP outlives the erasure: a spreadsheet that brings her number back keeps it
    // refused (and the id is free for a new subscriber).
    let again = Subscriber {
        id: "pf-erase".into(),
        name: "Nova pessoa".into(),
        channels: vec![Channel::Sms("+258845550101".into())],
        areas: vec![Area::District("MZ1103".into())],
        ..Subscriber::default()
    };
    let rep = store.import_subscribers(&[again], Utc::now()).unwrap();
    assert_eq!(rep.created, 1);
    assert!(store.sms_optouts().unwrap().contains("+258845550101"));
    let (_, sub) = api
        .get("/api/admin/subscribers/pf-erase", Some(VIEWER))
        .await;
    assert_eq!(
        sub["sms_opted_out"],
        serde_json::json!(["+258845550101"]),
        "{sub}"
    );
    after.clear();
    eprintln!("erasure: {:.2} s", t0.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_that_sent_stop_by_mistake_comes_back_with_start() {
    aviso::notify::channels::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let got: Shared = Arc::default();
    let recv = receivers(&got).await;
    let store = Arc::new(SqliteStore::open(&dir.path().join("aviso.sqlite")).unwrap());
    let sub = |id: &str, phone: &str, email: Option<&str>| Subscriber {
        id: id.into(),
        name: format!("Ponto focal {id}"),
        channels: std::iter::once(Channel::Sms(phone.into()))
            .chain(email.map(|e| Channel::Email(e.into())))
            .collect(),
        areas: vec![Area::District("MZ1103".into())],
        ..Subscriber::default()
    };
    let ana = sub("pf-ana", "+258845550301", None);
    let carla = sub("pf-carla", "+258845550303", Some("carla@ingd.example.org"));
    store.create_subscriber(&ana, Utc::now()).unwrap();
    store.create_subscriber(&carla, Utc::now()).unwrap();
    let mut cfg = NotifyConfig {
        sms: sms_config(&recv),
        inbound: InboundConfig {
            enabled: true,
            secret_env: "SECRET".into(),
            ..InboundConfig::default()
        },
        tokens: tokens(),
        ..NotifyConfig::default()
    };
    cfg.outbox.rate.sms = RateLimit {
        per_second: 100.0,
        burst: 10,
    };
    cfg.validate().unwrap();
    let d = Dispatcher::new(
        Arc::clone(&store),
        Channels::from_config(&cfg, &env).unwrap(),
        cfg.outbox.clone(),
    );
    let api = api_server(&store, &cfg).await;
    let reply = |from: &str, text: &str| {
        let enc = aviso::notify::channels::sms::form_encode;
        format!("from={}&text={}", enc(from), enc(text))
    };
    let inbound = format!("/api/sms/inbound?token={SECRET}");
    let to_ana = |got: &Shared| -> Vec<String> {
        got.lock()
            .unwrap()
            .sms
            .iter()
            .filter(|(to, _, _)| to == "+258845550301")
            .map(|(_, text, _)| text.clone())
            .collect()
    };

    // Carla leaves through the e-mail link: that is not undone by a START.
    let token = store
        .subscriber("pf-carla")
        .unwrap()
        .unwrap()
        .unsubscribe_token;
    let (s, _) = api
        .post_form("/unsubscribe", &format!("token={token}"))
        .await;
    assert_eq!(s, 200);

    // Version 1: Ana hears of the storm.
    enqueue_version(
        store.as_ref(),
        &version(1, Level::Yellow),
        &cfg,
        &NoGeometry,
        Utc::now(),
    )
    .unwrap();
    d.run_until_idle().await.unwrap();
    assert_eq!(to_ana(&got).len(), 1);
    assert!(
        to_ana(&got)[0].starts_with("ALERTA AMARELO:"),
        "{:?}",
        to_ana(&got)
    );

    // She replies STOP by mistake; the CENOE's spreadsheet, imported again, still lists
    // her: the STOP holds. Version 2 does not reach her.
    let (s, v) = api
        .post_form(&inbound, &reply("+258845550301", "Stop"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.contains("stopped"), "{v}");
    store
        .import_subscribers(std::slice::from_ref(&ana), Utc::now())
        .unwrap();
    assert!(
        !store
            .subscriber("pf-ana")
            .unwrap()
            .unwrap()
            .subscriber
            .active,
        "an import does not undo a STOP"
    );
    enqueue_version(
        store.as_ref(),
        &version(2, Level::Orange),
        &cfg,
        &NoGeometry,
        Utc::now(),
    )
    .unwrap();
    d.run_until_idle().await.unwrap();
    assert_eq!(to_ana(&got).len(), 1, "nothing while stopped");

    // A "sim" is not a START; "começar" (any case, with its cedilla) is.
    let (_, v) = api
        .post_form(&inbound, &reply("+258845550301", "sim"))
        .await;
    assert!(v.contains("ignored"), "{v}");
    let (s, v) = api
        .post_form(&inbound, &reply("+258845550301", "começar por favor"))
        .await;
    assert_eq!(s, 200, "{v}");
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["action"], "started");
    assert_eq!(
        (v["was_opted_out"].as_bool(), v["reactivated"].as_u64()),
        (Some(true), Some(1))
    );
    assert!(
        store
            .subscriber("pf-ana")
            .unwrap()
            .unwrap()
            .subscriber
            .active
    );
    assert!(!store.sms_optouts().unwrap().contains("+258845550301"));
    // Carla's START lifts nothing of her e-mail-link opt-out.
    let (_, v) = api
        .post_form(&inbound, &reply("+258845550303", "START"))
        .await;
    let v: Value = serde_json::from_str(&v).unwrap();
    assert_eq!(
        (v["was_opted_out"].as_bool(), v["reactivated"].as_u64()),
        (Some(false), Some(0)),
        "{v}"
    );
    assert!(
        !store
            .subscriber("pf-carla")
            .unwrap()
            .unwrap()
            .subscriber
            .active
    );

    // Version 3: Ana is told again, as the raise from what she last heard (yellow).
    enqueue_version(
        store.as_ref(),
        &version(3, Level::Red),
        &cfg,
        &NoGeometry,
        Utc::now(),
    )
    .unwrap();
    d.run_until_idle().await.unwrap();
    let texts = to_ana(&got);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[1].starts_with("ALERTA SOBE PARA VERMELHO:"),
        "{}",
        texts[1]
    );
    assert!(
        got.lock()
            .unwrap()
            .sms
            .iter()
            .all(|(to, _, _)| to != "+258845550303"),
        "nothing to Carla"
    );
}
