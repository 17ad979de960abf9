//! Subscribers and the notification outbox on both backends (issue 15 item 2): the
//! embedded SQLite store and the PostgreSQL store on a real server (common::pg, a fresh
//! database per test). Each case goes through the `SubscriberStore`/`OutboxStore` traits
//! only (what the dispatcher, the pipeline and the admin API rely on), so the same
//! assertions hold whichever database is configured. Ported from notify_outbox.rs and the
//! SQLite store's unit tests where those exercise the store; plus what only several
//! replicas on one PostgreSQL database can show: concurrent claimers on two pools take
//! each message once, two workers against one gateway send each once, and two replicas
//! completing the same issuance publish its version and messages once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{CapStatus, MsgType};
use aviso::notify::config::NotifyConfig;
use aviso::notify::dispatch::enqueue_version;
use aviso::notify::select::{AlertDistrict, NoGeometry, PublishedAlert};
use aviso::notify::{Area, Channel, Subscriber};
use aviso::store::Store;
use aviso::store::config::StoreConfig;
use aviso::store::notify::{AttemptOutcome, AttemptRecord, NotifyStore, OutboxState};
use aviso::store::postgres::PgStore;
use aviso::store::sqlite::SqliteStore;

use crate::common::pg;

/// A store under test: both halves of one database, and what keeps it alive.
pub(crate) struct Backend {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    pub notify: Arc<dyn NotifyStore>,
    /// The PostgreSQL URL (another replica opens it again), `None` on SQLite.
    pub url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
    Backend {
        name: "sqlite",
        store: s.clone(),
        notify: s,
        url: None,
        _dir: Some(dir),
    }
}

/// Another PgStore on `url`: a replica of its own (its own pool and runtime).
pub(crate) fn replica(url: &str) -> Arc<PgStore> {
    let cfg = StoreConfig {
        url: Some(url.to_string()),
        pool_size: 8,
        ..StoreConfig::default()
    };
    Arc::new(PgStore::open(&cfg).unwrap_or_else(|e| panic!("{e}")))
}

/// The PostgreSQL backend on a fresh database; `None` when PostgreSQL is absent and
/// skipping is allowed.
pub(crate) fn postgres() -> Option<Backend> {
    let url = pg::fresh_database()?;
    let s = replica(&url);
    Some(Backend {
        name: "postgres",
        store: s.clone(),
        notify: s,
        url: Some(url),
        _dir: None,
    })
}

/// Runs `case` on both backends, naming the backend when it fails.
pub(crate) fn on_both(case: impl Fn(&Backend)) {
    case(&sqlite());
    if let Some(p) = postgres() {
        case(&p);
    }
}

pub(crate) fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap() + Duration::hours(h)
}

pub(crate) fn sub(id: &str, phone: &str, district: &str) -> Subscriber {
    Subscriber {
        id: id.into(),
        name: format!("Ponto focal {id}"),
        channels: vec![Channel::Sms(phone.into())],
        areas: vec![Area::District(district.into())],
        min_level: Level::Yellow,
        ..Subscriber::default()
    }
}

pub(crate) fn published(
    version: u32,
    msg_type: MsgType,
    levels: &[(&str, Level)],
) -> PublishedAlert {
    PublishedAlert {
        after_cyclone: None,
        instruction: None,
        event_id: "swi-07-20222023".into(),
        version,
        identifier: format!("aviso-swi-07-20222023-{version}"),
        msg_type,
        status: CapStatus::Actual,
        hazard: aviso::notify::HazardKind::Cyclone,
        event_name: "FREDDY".into(),
        sent: t(6 * i64::from(version)),
        next_update: None,
        districts: levels
            .iter()
            .map(|(p, l)| AlertDistrict {
                pcode: p.to_string(),
                name: p.to_string(),
                province_pcode: Some(p[..4].to_string()),
                level: *l,
                people_at_risk: None,
            })
            .collect(),
        sites: vec![],
    }
}

pub(crate) fn delivered(
    outbox_id: i64,
    attempt: u32,
    at: DateTime<Utc>,
    gw: &str,
) -> AttemptRecord {
    AttemptRecord {
        outbox_id,
        attempt,
        started_at: at,
        finished_at: at,
        outcome: AttemptOutcome::Delivered {
            gateway_id: Some(gw.into()),
            status: "accepted".into(),
        },
    }
}

#[test]
fn subscribers_are_created_updated_imported_and_opted_out_on_both_backends() {
    on_both(|b| {
        let (s, n) = (&b.notify, b.name);
        let a = sub("a", "+258841111111", "MZ0906");
        assert!(s.create_subscriber(&a, t(0)).unwrap(), "{n}");
        assert!(
            !s.create_subscriber(&a, t(0)).unwrap(),
            "{n}: same id twice"
        );
        let stored = s.subscriber("a").unwrap().unwrap();
        assert_eq!(stored.subscriber, a, "{n}");
        assert_eq!(stored.unsubscribe_token.len(), 32, "{n}: 32 hex digits");
        assert!(
            stored
                .unsubscribe_token
                .chars()
                .all(|c| c.is_ascii_hexdigit()),
            "{n}"
        );
        assert_eq!(stored.created_at, t(0), "{n}");

        let mut a2 = a.clone();
        a2.min_level = Level::Red;
        assert!(s.update_subscriber(&a2, t(1)).unwrap(), "{n}");
        assert!(
            !s.update_subscriber(&sub("nobody", "+258840000000", "MZ0906"), t(1))
                .unwrap(),
            "{n}"
        );
        let after = s.subscriber("a").unwrap().unwrap();
        assert_eq!(after.subscriber.min_level, Level::Red, "{n}");
        assert_eq!(after.unsubscribe_token, stored.unsubscribe_token, "{n}");
        assert_eq!(after.updated_at, t(1), "{n}");

        let r = s
            .import_subscribers(
                &[
                    a.clone(),
                    sub("b", "+258842222222", "MZ0907"),
                    sub("c", "+258842222222", "MZ1103"),
                ],
                t(2),
            )
            .unwrap();
        assert_eq!((r.created, r.updated), (2, 1), "{n}");
        assert_eq!(s.subscribers(true).unwrap().len(), 3, "{n}");

        // The e-mail link, then an SMS STOP from a number two subscribers share.
        assert_eq!(
            s.unsubscribe_token(&stored.unsubscribe_token, t(3))
                .unwrap()
                .as_deref(),
            Some("a"),
            "{n}"
        );
        assert_eq!(
            s.unsubscribe_token("not-a-token", t(3)).unwrap(),
            None,
            "{n}"
        );
        assert_eq!(
            s.unsubscribe_phone("+258842222222", t(3)).unwrap(),
            ["b", "c"],
            "{n}"
        );
        assert!(s.subscribers(true).unwrap().is_empty(), "{n}");
        assert_eq!(s.subscribers(false).unwrap().len(), 3, "{n}");
        assert_eq!(
            s.sms_optouts().unwrap(),
            BTreeSet::from(["+258842222222".to_string()]),
            "{n}"
        );
        let out = s.opted_out().unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["a", "b", "c"], "{n}");
        assert!(out.values().all(|at| *at == t(3)), "{n}");
        // An import does not undo an opt-out.
        s.import_subscribers(std::slice::from_ref(&a), t(4))
            .unwrap();
        assert!(
            !s.subscriber("a").unwrap().unwrap().subscriber.active,
            "{n}"
        );
        let counts = s.subscriber_counts().unwrap();
        assert_eq!(
            (counts.active, counts.inactive, counts.sms_opted_out),
            (0, 3, 1),
            "{n}"
        );

        // START brings back those STOP made inactive, not the one who used the link.
        let back = s.resubscribe_phone("+258842222222", t(5)).unwrap();
        assert!(back.was_opted_out, "{n}");
        assert_eq!(back.subscribers, ["b", "c"], "{n}");
        assert_eq!(back.reactivated, ["b", "c"], "{n}");
        assert!(s.reactivate_subscriber("a", t(6)).unwrap(), "{n}");
        assert!(!s.reactivate_subscriber("zz", t(6)).unwrap(), "{n}");
        assert_eq!(s.subscribers(true).unwrap().len(), 3, "{n}");
        assert!(s.opted_out().unwrap().is_empty(), "{n}");
        assert!(s.deactivate_subscriber("a", t(7)).unwrap(), "{n}");
        assert!(!s.deactivate_subscriber("zz", t(7)).unwrap(), "{n}");
        assert_eq!(s.subscriber_counts().unwrap().active, 2, "{n}");
    });
}

#[test]
fn messages_are_written_once_per_version_and_follow_the_notice_sequence_on_both_backends() {
    on_both(|b| {
        let (s, n) = (b.notify.as_ref(), b.name);
        s.create_subscriber(&sub("beira", "+258841111111", "MZ0906"), t(0))
            .unwrap();
        s.create_subscriber(&sub("quelimane", "+258842222222", "MZ1103"), t(0))
            .unwrap();
        let cfg = NotifyConfig::default();
        let notices = |v: u32| -> BTreeMap<String, String> {
            s.outbox(Some("swi-07-20222023"))
                .unwrap()
                .iter()
                .filter(|r| r.version == v)
                .map(|r| {
                    let aviso::notify::OutboundBody::Sms { text, .. } = &r.message.body else {
                        panic!("{n}: not an SMS")
                    };
                    (r.message.subscriber_id.clone(), text.clone())
                })
                .collect()
        };
        let v1 = published(
            1,
            MsgType::Alert,
            &[("MZ0906", Level::Orange), ("MZ1103", Level::Yellow)],
        );
        assert_eq!(
            enqueue_version(s, &v1, &cfg, &NoGeometry, t(6)).unwrap(),
            2,
            "{n}"
        );
        assert_eq!(
            enqueue_version(s, &v1, &cfg, &NoGeometry, t(6)).unwrap(),
            0,
            "{n}: no duplicate"
        );
        assert!(notices(1)["beira"].starts_with("ALERTA LARANJA"), "{n}");
        let v2 = published(
            2,
            MsgType::Update,
            &[("MZ0906", Level::Orange), ("MZ1103", Level::Red)],
        );
        assert_eq!(
            enqueue_version(s, &v2, &cfg, &NoGeometry, t(12)).unwrap(),
            1,
            "{n}"
        );
        assert!(
            notices(2)["quelimane"].starts_with("ALERTA SOBE PARA VERMELHO"),
            "{n}"
        );
        let v3 = published(
            3,
            MsgType::Update,
            &[("MZ0906", Level::Orange), ("MZ1103", Level::Orange)],
        );
        assert_eq!(
            enqueue_version(s, &v3, &cfg, &NoGeometry, t(18)).unwrap(),
            2,
            "{n}"
        );
        assert!(
            notices(3)["beira"].starts_with("ALERTA LARANJA MANTÉM-SE"),
            "{n}: {:?}",
            notices(3)
        );
        assert!(
            notices(3)["quelimane"].starts_with("ALERTA DESCE PARA LARANJA"),
            "{n}"
        );
        let last = s.last_sent("swi-07-20222023", 4).unwrap();
        assert_eq!(last["quelimane"].level, Some(Level::Orange), "{n}");
        assert_eq!(last["quelimane"].at, t(18), "{n}");
        let v4 = published(4, MsgType::Cancel, &[]);
        assert_eq!(
            enqueue_version(s, &v4, &cfg, &NoGeometry, t(24)).unwrap(),
            2,
            "{n}"
        );
        assert!(
            notices(4).values().all(|t| t.starts_with("FIM DO ALERTA")),
            "{n}"
        );
        let rows = s.outbox(None).unwrap();
        assert_eq!(rows.len(), 7, "{n}");
        assert!(rows.iter().all(|r| r.state == OutboxState::Pending), "{n}");
        assert_eq!(s.next_due().unwrap(), Some(t(6)), "{n}");
    });
}

#[test]
fn messages_still_queued_are_not_sent_after_stop_or_deactivation_on_both_backends() {
    on_both(|b| {
        let (s, n) = (b.notify.as_ref(), b.name);
        for (id, phone) in [
            ("beira", "+258841111111"),
            ("dondo", "+258843333333"),
            ("nhamatanda", "+258844444444"),
        ] {
            s.create_subscriber(&sub(id, phone, "MZ0906"), t(0))
                .unwrap();
        }
        let v1 = published(1, MsgType::Alert, &[("MZ0906", Level::Red)]);
        let cfg = NotifyConfig::default();
        assert_eq!(
            enqueue_version(s, &v1, &cfg, &NoGeometry, t(6)).unwrap(),
            3,
            "{n}"
        );
        s.unsubscribe_phone("+258841111111", t(6)).unwrap();
        s.deactivate_subscriber("dondo", t(6)).unwrap();
        let state = |id: &str| {
            s.outbox(Some("swi-07-20222023"))
                .unwrap()
                .into_iter()
                .find(|r| r.message.subscriber_id == id)
                .unwrap()
                .state
        };
        assert_eq!(state("beira"), OutboxState::Failed, "{n}");
        assert_eq!(state("dondo"), OutboxState::Failed, "{n}");
        assert_eq!(state("nhamatanda"), OutboxState::Pending, "{n}");
        let due = s.claim_due(t(7), 60.0, 10).unwrap();
        let ids: Vec<_> = due
            .iter()
            .map(|r| r.message.subscriber_id.as_str())
            .collect();
        assert_eq!(ids, ["nhamatanda"], "{n}: only the one still subscribed");
    });
}

#[test]
fn a_lapsed_claim_is_claimed_again_with_the_same_key_on_both_backends() {
    on_both(|b| {
        let (s, n) = (b.notify.as_ref(), b.name);
        s.create_subscriber(&sub("beira", "+258841111111", "MZ0906"), t(0))
            .unwrap();
        let v1 = published(1, MsgType::Alert, &[("MZ0906", Level::Red)]);
        enqueue_version(s, &v1, &NotifyConfig::default(), &NoGeometry, t(6)).unwrap();
        let first = s.claim_due(t(7), 30.0, 10).unwrap();
        assert_eq!(first.len(), 1, "{n}");
        assert_eq!(first[0].state, OutboxState::Sending, "{n}");
        assert_eq!(first[0].attempts, 1, "{n}");
        assert_eq!(
            first[0].lease_until,
            Some(t(7) + Duration::seconds(30)),
            "{n}"
        );
        assert_eq!(s.next_due().unwrap(), first[0].lease_until, "{n}");
        // The claimer dies without recording. While its lease runs nobody else takes it.
        let during = t(7) + Duration::seconds(29);
        assert!(s.claim_due(during, 30.0, 10).unwrap().is_empty(), "{n}");
        let after = t(7) + Duration::seconds(30);
        let again = s.claim_due(after, 30.0, 10).unwrap();
        assert_eq!(again.len(), 1, "{n}: the lapsed claim is taken again");
        assert_eq!(again[0].id, first[0].id, "{n}");
        assert_eq!(
            again[0].message.idempotency_key, first[0].message.idempotency_key,
            "{n}: same key"
        );
        assert_eq!(again[0].attempts, 2, "{n}");
        s.record_attempt(&delivered(again[0].id, 2, after, "gw-1"))
            .unwrap();
        let row = &s.outbox(None).unwrap()[0];
        assert_eq!(row.state, OutboxState::Delivered, "{n}");
        assert_eq!(row.gateway_id.as_deref(), Some("gw-1"), "{n}");
        assert_eq!(row.lease_until, None, "{n}");
        assert_eq!(s.next_due().unwrap(), None, "{n}");
        assert!(s.claim_due(t(100), 30.0, 10).unwrap().is_empty(), "{n}");
        let tries = s.attempts(row.id).unwrap();
        assert_eq!(tries.len(), 1, "{n}");
        assert_eq!(tries[0].attempt, 2, "{n}");
    });
}

mod records;
mod replicas;
