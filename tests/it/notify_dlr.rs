//! SMS delivery reports (DLR) end to end, for each gateway profile: the outbox worker
//! sends through a local gateway speaking that profile's API (Africa's Talking-style
//! form POST answering `SMSMessageData.Recipients[].messageId`, Twilio-style
//! `.../Messages.json` answering `sid`, a generic JSON gateway answering a configured
//! path), the gateway's ids are stored with the messages, and the gateway's receipts,
//! in that profile's own callback format, are posted to the real API server on a local
//! socket. What each report should do comes from the profiles' documentation
//! (Africa's Talking: Success final-delivered, Failed/Rejected final-failed with a
//! failureReason, Sent/Submitted/Buffered on the way; Twilio: delivered, undelivered/
//! failed with an ErrorCode, queued/sent on the way), not from aviso's answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::notify_support;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{CapStatus, MsgType};
use aviso::api::ApiState;
use aviso::api::admin::NotifyApi;
use aviso::api::optout::form_pairs;
use aviso::notify::channels::Channels;
use aviso::notify::config::{
    BodyFormat, InboundConfig, NotifyConfig, RateLimit, Role, SmsConfig, SmsProfile, TokenConfig,
};
use aviso::notify::dispatch::{Dispatcher, enqueue_version};
use aviso::notify::select::{AlertDistrict, NoGeometry, PublishedAlert};
use aviso::notify::{Area, Channel, Subscriber};
use aviso::store::notify::{NotifyStore, OutboxState, OutboxStore, SubscriberStore};
use aviso::store::sqlite::SqliteStore;
use notify_support::{Api, sha256_hex};

const VIEWER: &str = "viewer-token-dlr";
const SECRET: &str = "gateway-callback-secret";
const PHONES: [(&str, &str); 3] = [
    ("pf-a", "+258845550101"),
    ("pf-b", "+258845550102"),
    ("pf-c", "+258845550103"),
];

/// What a gateway was asked to send: (to, text).
type Sent = Arc<Mutex<Vec<(String, String)>>>;

async fn africas_talking(State(s): State<Sent>, body: Bytes) -> (StatusCode, String) {
    let f = form_pairs(&body);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let mut s = s.lock().unwrap();
    s.push((get("to"), get("message")));
    let n = s.len();
    // The shape of Africa's Talking's answer to POST /version1/messaging.
    let to = get("to");
    (
        StatusCode::CREATED,
        json!({"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: MZN 1.00",
            "Recipients": [{"statusCode": 101, "number": to, "status": "Success",
                "cost": "MZN 1.00", "messageId": format!("ATXid_{n:04}")}]}})
        .to_string(),
    )
}

async fn twilio(State(s): State<Sent>, body: Bytes) -> (StatusCode, String) {
    let f = form_pairs(&body);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let mut s = s.lock().unwrap();
    s.push((get("To"), get("Body")));
    let n = s.len();
    (
        StatusCode::CREATED,
        json!({"sid": format!("SM{n:032}"), "status": "queued", "to": get("To")}).to_string(),
    )
}

async fn generic(State(s): State<Sent>, body: Bytes) -> (StatusCode, String) {
    let v: Value = serde_json::from_slice(&body).unwrap();
    let mut s = s.lock().unwrap();
    s.push((
        v["to"].as_str().unwrap().into(),
        v["text"].as_str().unwrap().into(),
    ));
    let n = s.len();
    (
        StatusCode::OK,
        json!({"result": {"ref": format!("gw-{n}"), "status": "accepted"}}).to_string(),
    )
}

fn alert() -> PublishedAlert {
    PublishedAlert {
        after_cyclone: None,
        instruction: None,
        event_id: "swi-07-20222023".into(),
        version: 1,
        identifier: "aviso-swi-07-20222023-1".into(),
        msg_type: MsgType::Alert,
        status: CapStatus::Actual,
        hazard: aviso::notify::HazardKind::Cyclone,
        event_name: "FREDDY".into(),
        sent: Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap(),
        next_update: None,
        districts: vec![AlertDistrict {
            pcode: "MZ1103".into(),
            name: "Quelimane".into(),
            province_pcode: Some("MZ11".into()),
            level: Level::Orange,
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

/// One profile: its gateway, its settings, and its callback bodies.
struct Profile {
    name: &'static str,
    sms: SmsConfig,
    /// (content type, body) of a report: (gateway id, status, reason).
    report: fn(&str, &str, Option<&str>) -> (&'static str, String),
    delivered: &'static str,
    failed: &'static str,
    in_transit: &'static str,
    /// The field a report without a status lacks.
    status_field: &'static str,
}

fn form_report(
    id_field: &str,
    status_field: &str,
    reason_field: &str,
    extra: &str,
    id: &str,
    status: &str,
    reason: Option<&str>,
) -> String {
    let enc = aviso::notify::channels::sms::form_encode;
    let mut b = format!("{id_field}={}&{status_field}={}", enc(id), enc(status));
    if let Some(r) = reason {
        b.push_str(&format!("&{reason_field}={}", enc(r)));
    }
    b.push_str(extra);
    b
}

fn profiles(gw: &str) -> Vec<Profile> {
    let base = SmsConfig {
        enabled: true,
        dlr_enabled: true,
        idempotency_header: false,
        timeout_s: 5.0,
        ..SmsConfig::default()
    };
    vec![
        Profile {
            name: "africas_talking",
            sms: SmsConfig {
                profile: SmsProfile::AfricasTalking,
                url: format!("{gw}/at/version1/messaging"),
                account: "ingd".into(),
                auth_env: Some("AT_KEY".into()),
                accepted_statuses: vec!["Success".into()],
                ..base.clone()
            },
            // Africa's Talking posts the number too (phoneNumber): aviso must not need it.
            report: |id, st, r| {
                let extra = "&phoneNumber=%2B258845550101&networkCode=64301&retryCount=0";
                (
                    "application/x-www-form-urlencoded",
                    form_report("id", "status", "failureReason", extra, id, st, r),
                )
            },
            delivered: "Success",
            failed: "Failed",
            in_transit: "Buffered",
            status_field: "status",
        },
        Profile {
            name: "twilio",
            sms: SmsConfig {
                profile: SmsProfile::Twilio,
                url: format!("{gw}/twilio"),
                account: "AC0123456789abcdef0123456789abcdef".into(),
                from: "+258840000000".into(),
                auth_env: Some("TWILIO_TOKEN".into()),
                ..base.clone()
            },
            report: |id, st, r| {
                let extra = "&AccountSid=AC0123456789abcdef0123456789abcdef&ApiVersion=2010-04-01";
                (
                    "application/x-www-form-urlencoded",
                    form_report("MessageSid", "MessageStatus", "ErrorCode", extra, id, st, r),
                )
            },
            delivered: "delivered",
            failed: "undelivered",
            in_transit: "sent",
            status_field: "MessageStatus",
        },
        Profile {
            name: "generic",
            sms: SmsConfig {
                profile: SmsProfile::Generic,
                url: format!("{gw}/generic"),
                body_format: BodyFormat::Json,
                status_path: Some("result.status".into()),
                id_path: Some("result.ref".into()),
                accepted_statuses: vec!["accepted".into()],
                // A JSON callback with SMPP-style statuses, as many aggregators post.
                dlr_id_field: "data.ref".into(),
                dlr_status_field: "data.stat".into(),
                dlr_reason_field: "data.err".into(),
                dlr_delivered_statuses: vec!["DELIVRD".into()],
                dlr_failed_statuses: vec!["UNDELIV".into(), "REJECTD".into(), "EXPIRED".into()],
                ..base
            },
            report: |id, st, r| {
                let mut data = json!({"ref": id, "stat": st, "msisdn": "258845550101"});
                if let Some(r) = r {
                    data["err"] = json!(r);
                }
                ("application/json", json!({"data": data}).to_string())
            },
            delivered: "DELIVRD",
            failed: "UNDELIV",
            in_transit: "ACCEPTD",
            status_field: "data.stat",
        },
    ]
}

fn metric(m: &str, state: &str) -> i64 {
    let key = format!("aviso_notify_sms_delivery_reports{{state=\"{state}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .unwrap_or_else(|| panic!("no {key} in\n{m}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_reports_of_each_profile_reach_the_message_they_name_and_nothing_is_resent() {
    let t0 = Instant::now();
    aviso::notify::channels::install_crypto_provider();
    let sent: Sent = Arc::default();
    let gw = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw_base = format!("http://{}", gw.local_addr().unwrap());
    let app = Router::new()
        .route("/at/version1/messaging", post(africas_talking))
        .route(
            "/twilio/2010-04-01/Accounts/{account}/Messages.json",
            post(twilio),
        )
        .route("/generic", post(generic))
        .with_state(Arc::clone(&sent));
    tokio::spawn(async move { axum::serve(gw, app).await });
    let env = |k: &str| match k {
        "AT_KEY" | "TWILIO_TOKEN" => Some("gateway-api-key".to_string()),
        "DLR_SECRET" => Some(SECRET.to_string()),
        _ => None,
    };

    for p in profiles(&gw_base) {
        sent.lock().unwrap().clear();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("aviso.sqlite")).unwrap());
        for (id, phone) in PHONES {
            let s = Subscriber {
                id: id.into(),
                name: format!("Ponto focal {id}"),
                channels: vec![Channel::Sms(phone.into())],
                areas: vec![Area::District("MZ1103".into())],
                ..Subscriber::default()
            };
            assert!(store.create_subscriber(&s, Utc::now()).unwrap());
        }
        let mut cfg = NotifyConfig {
            sms: p.sms.clone(),
            inbound: InboundConfig {
                secret_env: "DLR_SECRET".into(),
                ..InboundConfig::default()
            },
            tokens: vec![TokenConfig {
                name: "ops-viewer".into(),
                role: Role::Viewer,
                sha256: Some(sha256_hex(VIEWER)),
                token_env: None,
            }],
            ..NotifyConfig::default()
        };
        cfg.outbox.rate.sms = RateLimit {
            per_second: 100.0,
            burst: 10,
        };
        cfg.validate().unwrap();
        assert_eq!(
            enqueue_version(store.as_ref(), &alert(), &cfg, &NoGeometry, Utc::now()).unwrap(),
            3
        );
        let d = Dispatcher::new(
            Arc::clone(&store),
            Channels::from_config(&cfg, &env).unwrap(),
            cfg.outbox.clone(),
        );
        let stats = d.run_until_idle().await.unwrap();
        assert_eq!(stats.delivered, 3, "{}: {stats:?}", p.name);
        // The id each message got from the gateway, stored with it at send time.
        let rows = store.outbox(None).unwrap();
        let gid = |sub: &str| -> String {
            rows.iter()
                .find(|r| r.message.subscriber_id == sub)
                .and_then(|r| r.gateway_id.clone())
                .unwrap_or_else(|| panic!("{}: no gateway id for {sub}", p.name))
        };
        let ids: Vec<String> = PHONES.iter().map(|(s, _)| gid(s)).collect();
        let expected_prefix = match p.name {
            "africas_talking" => "ATXid_",
            "twilio" => "SM",
            _ => "gw-",
        };
        assert!(
            ids.iter().all(|i| i.starts_with(expected_prefix)),
            "{}: {ids:?}",
            p.name
        );

        // The real API server.
        let store_dyn: Arc<dyn NotifyStore> = store.clone();
        let api_state = Arc::new(ApiState::new(&empty_layers(), None).with_notify(Arc::new(
            NotifyApi::new(store_dyn, &cfg, &empty_layers(), &env).unwrap(),
        )));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = Api {
            base: format!("http://{}", listener.local_addr().unwrap()),
            c: reqwest::Client::new(),
        };
        tokio::spawn(aviso::api::serve(listener, api_state));
        assert_eq!(metric(&api.text("/metrics").await, "awaiting"), 3);

        let post = |body: (&'static str, String), auth: &'static str| {
            let (ct, b) = body;
            let url = format!("{}/api/sms/dlr{auth}", api.base);
            let c = api.c.clone();
            async move {
                let mut r = c.post(url).header("content-type", ct).body(b);
                if auth.is_empty() {
                    r = r.header("X-Aviso-Inbound-Secret", SECRET);
                }
                let resp = r.send().await.unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                (status, serde_json::from_str(&text).unwrap_or(Value::Null))
            }
        };
        let q = "?token=gateway-callback-secret";
        let reason = match p.name {
            "twilio" => "30003",
            "africas_talking" => "UserIsInactive",
            // A reason that quotes the number, as some aggregators' do.
            _ => "absent subscriber 258845550102",
        };
        // a: in transit, then delivered, then a late in-transit report that must not undo it.
        let (s, v) = post((p.report)(&ids[0], p.in_transit, None), q).await;
        assert_eq!(
            (s, v["state"].as_str()),
            (200, Some("in_transit")),
            "{}: {v}",
            p.name
        );
        let (s, v) = post((p.report)(&ids[0], p.delivered, None), "").await;
        assert_eq!(
            (s, v["state"].as_str()),
            (200, Some("delivered")),
            "{}: {v}",
            p.name
        );
        let (s, v) = post((p.report)(&ids[0], p.in_transit, None), q).await;
        assert_eq!(
            (s, v["state"].as_str(), v["applied"].as_bool()),
            (200, Some("delivered"), Some(false)),
            "{}: a late in-transit report: {v}",
            p.name
        );
        // b: undelivered, with the gateway's reason.
        let (s, v) = post((p.report)(&ids[1], p.failed, Some(reason)), q).await;
        assert_eq!(
            (s, v["state"].as_str()),
            (200, Some("undelivered")),
            "{}: {v}",
            p.name
        );
        // c: on its way.
        let (s, _) = post((p.report)(&ids[2], p.in_transit, None), q).await;
        assert_eq!(s, 200);

        // Refusals: an unknown id (named), a report without a status (the field named),
        // no secret or a wrong one.
        let (s, v) = post((p.report)("no-such-message-77", p.delivered, None), q).await;
        assert_eq!(s, 404, "{}: {v}", p.name);
        assert_eq!(v["gateway_id"], "no-such-message-77");
        assert!(
            v["description"]
                .as_str()
                .unwrap()
                .contains("no-such-message-77"),
            "{v}"
        );
        let (ct, full) = (p.report)(&ids[0], p.delivered, None);
        let without_status = if ct == "application/json" {
            json!({"data": {"ref": ids[0]}}).to_string()
        } else {
            full.split('&')
                .filter(|kv| !kv.starts_with(&format!("{}=", p.status_field)))
                .collect::<Vec<_>>()
                .join("&")
        };
        let (s, v) = post((ct, without_status), q).await;
        assert_eq!(
            (s, v["field"].as_str()),
            (400, Some(p.status_field)),
            "{}: {v}",
            p.name
        );
        if ct == "application/json" {
            let (s, v) = post((ct, "{not json".into()), q).await;
            assert_eq!(s, 400, "{v}");
        }
        let (s, _) = post((p.report)(&ids[0], p.delivered, None), "?token=wrong").await;
        assert_eq!(s, 401);
        let r = api
            .c
            .post(format!("{}/api/sms/dlr", api.base))
            .header("content-type", ct)
            .body((p.report)(&ids[0], p.delivered, None).1)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "no secret at all");

        // What the admin sees: each message's report; the number nowhere in the reason.
        let (s, outbox) = api.get("/api/admin/outbox", Some(VIEWER)).await;
        assert_eq!(s, 200, "{outbox}");
        let report_of = |sub: &str| -> Value {
            outbox["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["subscriber_id"] == sub)
                .unwrap()["delivery_report"]
                .clone()
        };
        assert_eq!(report_of("pf-a")["state"], "delivered");
        assert_eq!(report_of("pf-a")["status"], p.delivered);
        assert_eq!(report_of("pf-b")["state"], "undelivered");
        let recorded = report_of("pf-b")["reason"].as_str().unwrap().to_string();
        assert!(
            recorded.contains(match p.name {
                "twilio" => "ErrorCode 30003",
                "africas_talking" => "UserIsInactive",
                _ => "absent subscriber",
            }),
            "{recorded}"
        );
        assert!(
            !recorded.contains("845550102"),
            "the number is masked: {recorded}"
        );
        assert_eq!(report_of("pf-c")["state"], "in_transit");

        // Counted in /metrics; the undelivered one is NOT sent again.
        let m = api.text("/metrics").await;
        for (state, n) in [
            ("delivered", 1),
            ("undelivered", 1),
            ("in_transit", 1),
            ("awaiting", 0),
        ] {
            assert_eq!(metric(&m, state), n, "{}: {state}", p.name);
        }
        let again = d.run_until_idle().await.unwrap();
        assert_eq!(again.claimed, 0, "{}: nothing resent", p.name);
        assert_eq!(
            sent.lock().unwrap().len(),
            3,
            "{}: the gateway got 3 requests in all",
            p.name
        );
        assert!(
            store
                .outbox(None)
                .unwrap()
                .iter()
                .all(|r| r.state == OutboxState::Delivered),
            "the outbox state stays what the gateway said when it took them"
        );

        if p.name == "generic" {
            // A gateway that reports by the client's reference (the idempotency key, sent
            // as {id} in the body template) finds the message too.
            let key = rows
                .iter()
                .find(|r| r.message.subscriber_id == "pf-c")
                .unwrap()
                .message
                .idempotency_key
                .clone();
            let (s, v) = post((p.report)(&key, p.delivered, None), q).await;
            assert_eq!((s, v["state"].as_str()), (200, Some("delivered")), "{v}");
            // With reports switched off the route says so.
            let off = NotifyConfig {
                sms: SmsConfig {
                    dlr_enabled: false,
                    ..cfg.sms.clone()
                },
                inbound: InboundConfig {
                    enabled: true,
                    ..cfg.inbound.clone()
                },
                ..cfg.clone()
            };
            let store_dyn: Arc<dyn NotifyStore> = store.clone();
            let state = Arc::new(ApiState::new(&empty_layers(), None).with_notify(Arc::new(
                NotifyApi::new(store_dyn, &off, &empty_layers(), &env).unwrap(),
            )));
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", l.local_addr().unwrap());
            tokio::spawn(aviso::api::serve(l, state));
            let r = api
                .c
                .post(format!("{base}/api/sms/dlr{q}"))
                .header("content-type", "application/json")
                .body((p.report)(&ids[0], p.delivered, None).1)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 404);
            let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            assert!(
                v["description"].as_str().unwrap().contains("dlr_enabled"),
                "{v}"
            );
        }
    }
    eprintln!(
        "delivery reports: 3 profiles, 3 messages each, sent and reported in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
}
