//! Freddy (Feb–Mar 2023) replayed through the notification core on the storm's own clock:
//! the IBTrACS best track as 12-hourly issuances, the real assessment and versioning with
//! each version `sent` 40 minutes after its issuance, 1,000 subscribers spread over the
//! real districts and provinces, the outbox on SQLite, and the worker delivering to a local
//! SMS gateway and webhook receiver. Checks that nobody got a duplicate and that each
//! subscriber's story makes sense (new, raised, lowered, reminder, all-clear).
//!
//! tests/notify_replay_service.rs runs the same storm through the real `aviso serve`
//! (feed, store, pipeline, commit, outbox worker); there versions are sent on the service's
//! wall clock, minutes apart, so no reminder falls due. This test is where the 12 h repeat
//! interval is seen at work over a storm's two weeks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};

use aviso::alerts::assess::assess;
use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{CapStatus, MsgType, PublishedSummary, next_version};
use aviso::config::Config;
use aviso::exposure::IndexedLayers;
use aviso::feeds::{self, ParseOptions, StormSelector};
use aviso::notify::channels::Channels;
use aviso::notify::config::{
    BodyFormat, ChannelRates, NotifyConfig, RateLimit, SmsConfig, WebhookConfig,
};
use aviso::notify::dispatch::{Dispatcher, enqueue_version};
use aviso::notify::select::{NoGeometry, NoticeKind, PublishedAlert};
use aviso::notify::{Area, Channel, HazardKind, Lang, Subscriber};
use aviso::replay;
use aviso::store::notify::{OutboxState, OutboxStore, SubscriberStore};
use aviso::store::sqlite::SqliteStore;

const TRACK: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";

#[derive(Default)]
struct Receiver {
    /// Idempotency-Key -> requests carrying it.
    keys: BTreeMap<String, u32>,
}

async fn receive(
    State(s): State<Arc<Mutex<Receiver>>>,
    h: HeaderMap,
    _b: Bytes,
) -> (StatusCode, String) {
    let key = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut r = s.lock().unwrap();
    let n = r.keys.len();
    *r.keys.entry(key).or_insert(0) += 1;
    (
        StatusCode::OK,
        format!(r#"{{"id":"m-{n}","status":"accepted"}}"#),
    )
}

#[test]
fn freddy_replayed_to_a_thousand_subscribers_gives_nobody_a_duplicate() {
    let Some(path) = common::data_file(TRACK) else {
        return;
    };
    let t_all = Instant::now();
    let cfg = Config::embedded_default().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let layers = IndexedLayers::new(
        aviso::layers::load_layers(&manifest).unwrap().layers,
        &cfg.exposure,
    );
    let opts = ParseOptions {
        storm: StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..ParseOptions::default()
    };
    let track = feeds::parse_forecast(
        &std::fs::read(&path).unwrap(),
        &path.display().to_string(),
        &opts,
    )
    .unwrap();

    // 1,000 subscribers: four in five follow a district, one in five a province, cycling
    // through the real districts in P-code order; minimum levels cycle green..red; seven
    // in ten by SMS, the rest by webhook; a third in English.
    let districts: Vec<(String, String, Option<String>)> = layers
        .layers
        .districts
        .iter()
        .map(|d| (d.pcode.clone(), d.name.clone(), d.parent_pcode.clone()))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let recv = Arc::new(Mutex::new(Receiver::default()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/sms", post(receive))
        .route("/hook", post(receive))
        .with_state(recv.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let subs: Vec<Subscriber> = (0..1000)
        .map(|i| {
            let (pcode, _, province) = &districts[i % districts.len()];
            let area = match (i % 5, province) {
                (0, Some(p)) => Area::Province(p.clone()),
                _ => Area::District(pcode.clone()),
            };
            let channel = if i % 10 < 7 {
                Channel::Sms(format!("+25884{i:07}"))
            } else {
                Channel::Webhook(format!("{base}/hook"))
            };
            Subscriber {
                id: format!("s{i:04}"),
                name: format!("Subscriber {i}"),
                channels: vec![channel],
                language: if i % 3 == 0 { Lang::En } else { Lang::Pt },
                areas: vec![area],
                min_level: Level::ALL[i % 4],
                ..Subscriber::default()
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("replay.sqlite")).unwrap());
    store.import_subscribers(&subs, Utc::now()).unwrap();

    let ncfg = NotifyConfig {
        sms: SmsConfig {
            enabled: true,
            url: format!("{base}/sms"),
            body_format: BodyFormat::Json,
            status_path: Some("status".into()),
            id_path: Some("id".into()),
            ..SmsConfig::default()
        },
        webhook: WebhookConfig {
            enabled: true,
            secret_env: "HOOK".into(),
            timeout_s: 10.0,
            // The receivers are on 127.0.0.1.
            allow_private_targets: true,
        },
        ..NotifyConfig::default()
    };
    let mut ocfg = ncfg.outbox.clone();
    // Generous buckets: this measures the pipeline, not a gateway contract.
    let fast = RateLimit {
        per_second: 2000.0,
        burst: 200,
    };
    ocfg.rate = ChannelRates {
        email: fast,
        sms: fast,
        webhook: fast,
    };
    ocfg.batch = 200;
    let secrets = |n: &str| (n == "HOOK").then(|| "s3cret".to_string());
    let dispatcher = Dispatcher::new(
        store.clone(),
        Channels::from_config(&ncfg, &secrets).unwrap(),
        ocfg,
    );

    // 12-hourly issuances from 20 February (four days before the first landfall) to the
    // end of the track, then one at the final fix: Freddy gone, the event cancelled.
    let start: DateTime<Utc> = "2023-02-20T00:00:00Z".parse().unwrap();
    let mut times: Vec<DateTime<Utc>> = replay::issuance_times(&track, Duration::hours(12))
        .into_iter()
        .filter(|t| *t >= start)
        .collect();
    let last = track.track.last().unwrap().time;
    if times.last() != Some(&last) {
        times.push(last);
    }
    let mut prev: Option<PublishedSummary> = None;
    let mut total_messages = 0;
    let mut slowest = 0.0f64;
    eprintln!("issuance            version type    districts  messages  delivered in");
    for at in times {
        let f = replay::issuance_at(&track, at, Duration::hours(120)).unwrap();
        let a = assess(&f, &layers, cfg.assessment(), at).unwrap();
        let sent = at + Duration::minutes(40);
        let Some(v) =
            next_version(prev.as_ref(), &a, "ingd.example", sent, CapStatus::Actual).unwrap()
        else {
            continue;
        };
        prev = Some(v.summary());
        let mut alert = PublishedAlert::from_version(&v, HazardKind::Cyclone, "FREDDY");
        alert.next_update = Some(at + Duration::hours(12));
        // People at risk from the assessment, for the e-mail and webhook texts.
        for d in &mut alert.districts {
            let e = a.exposure.districts.iter().find(|x| x.pcode == d.pcode);
            d.people_at_risk = e.and_then(|e| e.widest()).map(|w| w.people_at_risk);
        }
        let t0 = Instant::now();
        let n = enqueue_version(store.as_ref(), &alert, &ncfg, &NoGeometry, Utc::now()).unwrap();
        let stats = rt.block_on(dispatcher.run_until_idle()).unwrap();
        let took = t0.elapsed().as_secs_f64();
        slowest = slowest.max(took);
        assert_eq!(stats.delivered, n, "{stats:?}");
        total_messages += n;
        eprintln!(
            "{}  v{:<3}   {:<7} {:>4}       {:>5}     {:.3} s",
            at.format("%Y-%m-%d %H:%MZ"),
            v.version,
            v.msg_type.as_str(),
            alert.districts.len(),
            n,
            took
        );
    }
    assert_eq!(
        prev.as_ref().map(|p| p.msg_type),
        Some(MsgType::Cancel),
        "the replay ends with a Cancel"
    );

    // Nobody got a duplicate: one request per idempotency key, one row per key.
    let r = recv.lock().unwrap();
    let rows = store.outbox(None).unwrap();
    assert_eq!(rows.len(), total_messages);
    assert!(rows.iter().all(|r| r.state == OutboxState::Delivered));
    assert_eq!(r.keys.len(), total_messages);
    assert!(r.keys.values().all(|n| *n == 1), "a key was sent twice");

    // Each subscriber's story follows the rules: one message per version, levels told in
    // order (raised means higher than last told, lowered lower, a reminder the same), an
    // all-clear only after a level, and everyone told a level ends with an all-clear.
    let mut stories: BTreeMap<&str, Vec<&aviso::store::notify::OutboxRow>> = BTreeMap::new();
    for row in &rows {
        stories
            .entry(row.message.subscriber_id.as_str())
            .or_default()
            .push(row);
    }
    let reached = stories.len();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for (sid, story) in &stories {
        let mut told: Option<Level> = None;
        let mut last_version = 0;
        for row in story {
            assert!(
                row.version > last_version,
                "{sid}: two messages for version {}",
                row.version
            );
            last_version = row.version;
            *kinds.entry(row.notice.as_str()).or_default() += 1;
            let ok = match (row.notice, told, row.level) {
                (NoticeKind::NewEvent, None, Some(_)) => true,
                (NoticeKind::Raised, Some(t), Some(l)) => l > t,
                (NoticeKind::Lowered, Some(t), Some(l)) => l < t,
                (NoticeKind::Reminder, Some(t), Some(l)) => l == t,
                (NoticeKind::AllClear, Some(_), None) => true,
                _ => false,
            };
            assert!(
                ok,
                "{sid}: {:?} to {:?} after being told {told:?} (v{})",
                row.notice, row.level, row.version
            );
            told = row.level;
        }
        assert_eq!(told, None, "{sid} never heard the all-clear");
    }
    let sms = rows
        .iter()
        .filter(|r| r.message.channel.kind() == aviso::notify::ChannelKind::Sms)
        .count();
    eprintln!(
        "Freddy replay: {total_messages} messages ({sms} SMS, {} webhooks) to {reached} of 1000 subscribers, by kind {kinds:?}; slowest batch {slowest:.3} s; test {:.1} s",
        total_messages - sms,
        t_all.elapsed().as_secs_f64()
    );
    assert!(
        reached > 100,
        "Freddy reached Zambezia, Sofala, Tete...: {reached}"
    );
}
