//! What only several replicas on one PostgreSQL database can show (issue 15 item 2): two
//! `PgStore`s, each with its own pool and runtime as two `aviso serve` processes have,
//! claim the same outbox concurrently and take each message once; two dispatchers send
//! each message to a real local gateway once; two replicas completing the same issuance
//! publish its version and its messages once, or not at all.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::Utc;

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::MsgType;
use aviso::notify::channels::Channels;
use aviso::notify::config::{BodyFormat, NotifyConfig, OutboxConfig, SmsConfig, SmsProfile};
use aviso::notify::dispatch::{Dispatcher, enqueue_version, plan_version};
use aviso::notify::select::NoGeometry;
use aviso::store::Inserted;
use aviso::store::notify::{AttemptOutcome, AttemptRecord, NotifyStore, OutboxState, OutboxStore};

use super::{postgres, published, replica, sub, t};
use crate::store_backends::{alert, raw};

/// `n` subscribers in Beira (MZ0906), one SMS number each.
fn beira_subscribers(s: &dyn NotifyStore, n: usize) {
    let subs: Vec<_> = (0..n)
        .map(|i| sub(&format!("s{i:04}"), &format!("+25884{i:07}"), "MZ0906"))
        .collect();
    assert_eq!(s.import_subscribers(&subs, t(0)).unwrap().created, n);
}

#[test]
fn concurrent_claimers_on_two_replicas_take_each_message_once() {
    const N: usize = 400;
    const THREADS_PER_REPLICA: usize = 4;
    let Some(b) = postgres() else { return };
    let url = b.url.clone().unwrap();
    beira_subscribers(b.notify.as_ref(), N);
    let v1 = published(1, MsgType::Alert, &[("MZ0906", Level::Red)]);
    assert_eq!(
        enqueue_version(
            b.notify.as_ref(),
            &v1,
            &NotifyConfig::default(),
            &NoGeometry,
            t(6)
        )
        .unwrap(),
        N
    );
    let replicas = [replica(&url), replica(&url)];
    let start = Arc::new(Barrier::new(2 * THREADS_PER_REPLICA));
    let claims: Vec<(usize, Vec<i64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2 * THREADS_PER_REPLICA)
            .map(|k| {
                let store = Arc::clone(&replicas[k % 2]);
                let start = Arc::clone(&start);
                scope.spawn(move || {
                    start.wait();
                    let mut mine = Vec::new();
                    loop {
                        // Small batches, so the claimers interleave many times.
                        let rows = store.claim_due(t(7), 60.0, 7).unwrap();
                        if rows.is_empty() {
                            break;
                        }
                        for r in rows {
                            assert_eq!(r.attempts, 1, "claimed once before: {r:?}");
                            store
                                .record_attempt(&AttemptRecord {
                                    outbox_id: r.id,
                                    attempt: r.attempts,
                                    started_at: t(7),
                                    finished_at: t(7),
                                    outcome: AttemptOutcome::Delivered {
                                        gateway_id: Some(format!("gw-{}", r.id)),
                                        status: "accepted".into(),
                                    },
                                })
                                .unwrap();
                            mine.push(r.id);
                        }
                    }
                    (k % 2, mine)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut times: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, ids) in &claims {
        for id in ids {
            *times.entry(*id).or_default() += 1;
        }
    }
    let per_replica =
        |r: usize| -> usize { claims.iter().filter(|c| c.0 == r).map(|c| c.1.len()).sum() };
    eprintln!(
        "{N} messages, {} claimers: replica 0 took {}, replica 1 took {}",
        2 * THREADS_PER_REPLICA,
        per_replica(0),
        per_replica(1)
    );
    assert_eq!(times.len(), N, "every message claimed");
    assert!(times.values().all(|n| *n == 1), "no message claimed twice");
    assert!(
        per_replica(0) > 0 && per_replica(1) > 0,
        "both replicas worked"
    );
    let rows = b.notify.outbox(None).unwrap();
    assert!(
        rows.iter()
            .all(|r| r.state == OutboxState::Delivered && r.attempts == 1)
    );
}

/// A deduplicating SMS gateway: Idempotency-Key -> requests.
type Seen = Arc<Mutex<BTreeMap<String, u32>>>;

async fn gateway(State(seen): State<Seen>, h: HeaderMap) -> String {
    let key = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // A gateway takes a while: the two workers' claims overlap in time.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut g = seen.lock().unwrap();
    *g.entry(key).or_insert(0) += 1;
    serde_json::json!({"id": format!("m-{}", g.len()), "status": "accepted"}).to_string()
}

fn sms_config(url: &str) -> NotifyConfig {
    NotifyConfig {
        sms: SmsConfig {
            enabled: true,
            profile: SmsProfile::Generic,
            url: url.into(),
            body_format: BodyFormat::Json,
            status_path: Some("status".into()),
            id_path: Some("id".into()),
            accepted_statuses: vec!["accepted".into()],
            timeout_s: 10.0,
            ..SmsConfig::default()
        },
        ..NotifyConfig::default()
    }
}

#[test]
fn two_replicas_dispatchers_send_each_message_to_the_gateway_once() {
    const N: usize = 200;
    let Some(b) = postgres() else { return };
    let url = b.url.clone().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seen = Seen::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let gw = format!("http://{}/sms", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/sms", post(gateway))
        .with_state(Arc::clone(&seen));
    rt.spawn(async move { axum::serve(listener, app).await });

    beira_subscribers(b.notify.as_ref(), N);
    let mut cfg = sms_config(&gw);
    cfg.outbox = OutboxConfig {
        lease_s: 30.0,
        batch: 10,
        ..OutboxConfig::default()
    };
    cfg.outbox.rate.sms.per_second = 1000.0;
    cfg.outbox.rate.sms.burst = 20;
    let v1 = published(1, MsgType::Alert, &[("MZ0906", Level::Red)]);
    assert_eq!(
        enqueue_version(b.notify.as_ref(), &v1, &cfg, &NoGeometry, Utc::now()).unwrap(),
        N
    );
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let store: Arc<dyn NotifyStore> = replica(&url);
            Dispatcher::new(
                store,
                Channels::from_config(&cfg, &|_: &str| None).unwrap(),
                cfg.outbox.clone(),
            )
        })
        .collect();
    let stats = rt.block_on(async {
        let (a, b) = tokio::join!(workers[0].run_until_idle(), workers[1].run_until_idle());
        (a.unwrap(), b.unwrap())
    });
    eprintln!("two workers: {:?} and {:?}", stats.0, stats.1);
    assert_eq!(stats.0.delivered + stats.1.delivered, N);
    assert!(stats.0.delivered > 0 && stats.1.delivered > 0, "{stats:?}");
    let g = seen.lock().unwrap();
    assert_eq!(g.len(), N, "every key reached the gateway");
    assert!(
        g.values().all(|n| *n == 1),
        "no key sent twice: {:?}",
        g.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let rows = b.notify.outbox(None).unwrap();
    assert!(rows.iter().all(|r| r.state == OutboxState::Delivered));
    let keys: Vec<&String> = g.keys().collect();
    let stored: Vec<&String> = rows.iter().map(|r| &r.message.idempotency_key).collect();
    let mut stored_sorted = stored.clone();
    stored_sorted.sort();
    assert_eq!(keys, stored_sorted, "the keys sent are the keys stored");
}

#[test]
fn two_replicas_completing_one_issuance_publish_it_and_its_messages_once() {
    let Some(b) = postgres() else { return };
    let url = b.url.clone().unwrap();
    beira_subscribers(b.notify.as_ref(), 50);
    let Inserted::New(id) = b.store.insert_issuance(&raw("rsmc", b"freddy")).unwrap() else {
        panic!("a new issuance")
    };
    let v1 = published(1, MsgType::Alert, &[("MZ0906", Level::Red)]);
    let planned = plan_version(
        b.notify.as_ref(),
        &v1,
        &NotifyConfig::default(),
        &NoGeometry,
    )
    .unwrap();
    assert_eq!(planned.len(), 50);
    let version = alert("swi-07-20222023", 1, MsgType::Alert, Some(id));
    let replicas = [replica(&url), replica(&url)];
    let start = Arc::new(Barrier::new(2));
    let results: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let hs: Vec<_> = replicas
            .iter()
            .map(|r| {
                let (start, planned, version) = (Arc::clone(&start), &planned, &version);
                scope.spawn(move || {
                    start.wait();
                    r.complete_issuance_enqueue(
                        id,
                        &[],
                        std::slice::from_ref(version),
                        planned,
                        t(6),
                    )
                    .map_err(|e| e.to_string())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("{results:?}");
    let won: Vec<&usize> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won, [&50], "one replica publishes, with its 50 messages");
    assert!(
        results.iter().any(|r| r.is_err()),
        "the other is refused and writes nothing"
    );
    assert_eq!(b.store.event_versions("swi-07-20222023").unwrap().len(), 1);
    assert_eq!(b.notify.outbox(None).unwrap().len(), 50);

    // A version refused (the same number again) takes its messages down with it.
    let Inserted::New(id2) = b.store.insert_issuance(&raw("rsmc", b"again")).unwrap() else {
        panic!("a new issuance")
    };
    let mut more = planned.clone();
    for p in &mut more {
        p.outbound.idempotency_key.push_str(".again");
    }
    let dup = alert("swi-07-20222023", 1, MsgType::Update, Some(id2));
    assert!(
        replicas[1]
            .complete_issuance_enqueue(id2, &[], &[dup], &more, t(12))
            .is_err()
    );
    assert_eq!(
        b.notify.outbox(None).unwrap().len(),
        50,
        "no message for it"
    );
    assert_eq!(b.store.pending_issuances().unwrap().len(), 1);
    // And a Cancel published outside an issuance, with its messages, through either.
    let cancel = alert("swi-07-20222023", 2, MsgType::Cancel, Some(id));
    let mut bye = planned.clone();
    for p in &mut bye {
        p.outbound.idempotency_key.push_str(".cancel");
        p.version = 2;
    }
    assert_eq!(
        replicas[0]
            .publish_alert_enqueue(&cancel, &bye, t(18))
            .unwrap(),
        50
    );
    assert!(
        replicas[1]
            .publish_alert_enqueue(&cancel, &bye, t(18))
            .is_err()
    );
    assert_eq!(b.notify.outbox(None).unwrap().len(), 100);
    assert_eq!(b.store.event_versions("swi-07-20222023").unwrap().len(), 2);
}
