//! Unit tests of the SQLite store (issuances, alerts, migrations).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::alerts::versioning::{Changes, MsgType};
use crate::store::{HazardKind, SummaryDistrict};

fn raw(feed: &str, body: &[u8]) -> RawIssuance {
    RawIssuance {
        feed: feed.into(),
        url: format!("http://127.0.0.1/{feed}"),
        fetched_at: Utc::now(),
        sha256: RawIssuance::sha256_hex(body),
        content_type: Some("application/json".into()),
        bytes: body.to_vec(),
        etag: Some("\"v1\"".into()),
        last_modified: None,
    }
}

fn alert(event: &str, version: u32, msg_type: MsgType, issuance: i64) -> NewAlert {
    NewAlert {
        summary: AlertSummary {
            id: format!("aviso-{event}-{version}"),
            event_id: event.into(),
            version,
            msg_type,
            status: CapStatus::Actual,
            hazard: HazardKind::TropicalCyclone,
            event_name: "FREDDY".into(),
            sender: "aviso@test".into(),
            sent: Utc::now(),
            reference_time: None,
            max_level: Some(crate::alerts::levels::Level::Red),
            active: true,
            references: None,
            districts: vec![SummaryDistrict {
                pcode: "MZ0910".into(),
                name: "Quelimane".into(),
                province_pcode: Some("MZ09".into()),
                level: crate::alerts::levels::Level::Red,
            }],
            cleared: Vec::new(),
            changes: Changes::default(),
            feed: "rsmc".into(),
            issuance_id: Some(issuance),
            reason: None,
            reason_pt: None,
            incident: None,
        },
        document: "{}".into(),
        cap: "<alert/>".into(),
    }
}

#[test]
fn the_same_content_from_the_same_feed_is_one_issuance() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let a = s.insert_issuance(&raw("rsmc", b"one")).unwrap();
    let b = s.insert_issuance(&raw("rsmc", b"one")).unwrap();
    let c = s.insert_issuance(&raw("other", b"one")).unwrap();
    let Inserted::New(id) = a else {
        panic!("{a:?}")
    };
    assert_eq!(b, Inserted::Duplicate(id));
    assert!(matches!(c, Inserted::New(_)));
    assert_eq!(s.pending_issuances().unwrap().len(), 2);
    let h = s.feed_health("rsmc").unwrap().unwrap();
    assert_eq!(h.state, FeedState::Ok);
    assert_eq!(h.etag.as_deref(), Some("\"v1\""));
}

#[test]
fn an_issuance_left_pending_by_a_crash_is_pending_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        s.insert_issuance(&raw("rsmc", b"one")).unwrap();
        // dropped without completing: what a kill leaves
    }
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let p = s.pending_issuances().unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].raw.bytes, b"one");
    assert_eq!(s.migrate().unwrap(), MIGRATIONS.len() as i64);
}

#[test]
fn a_late_document_is_attached_once_beside_the_version_as_published() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let Inserted::New(i1) = s.insert_issuance(&raw("rsmc", b"one")).unwrap() else {
        panic!()
    };
    let a = alert("e", 1, MsgType::Alert, i1);
    let id = a.summary.id.clone();
    s.complete_issuance(i1, &[], std::slice::from_ref(&a))
        .unwrap();
    assert!(s.alert(&id).unwrap().unwrap().annex.is_none());
    let at = Utc::now();
    assert!(!s.attach_document("no-such-version", "{}", at).unwrap());
    assert!(s.attach_document(&id, r#"{"p":1}"#, at).unwrap());
    assert!(
        !s.attach_document(&id, r#"{"p":2}"#, at).unwrap(),
        "written once"
    );
    let rec = s.alert(&id).unwrap().unwrap();
    assert_eq!(
        rec.document, a.document,
        "the document as published is kept"
    );
    assert_eq!(rec.cap, a.cap);
    assert_eq!(rec.current_document(), r#"{"p":1}"#);
    let annex = rec.annex.unwrap();
    assert_eq!(annex.attached_at.timestamp(), at.timestamp());
}

#[test]
fn completing_is_atomic_a_conflicting_version_rolls_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let Inserted::New(i1) = s.insert_issuance(&raw("rsmc", b"one")).unwrap() else {
        panic!()
    };
    s.complete_issuance(i1, &[], &[alert("e", 1, MsgType::Alert, i1)])
        .unwrap();
    let Inserted::New(i2) = s.insert_issuance(&raw("rsmc", b"two")).unwrap() else {
        panic!()
    };
    // Version 1 again: the unique (event, version) fails, nothing of i2 is kept.
    let e = s.complete_issuance(i2, &[], &[alert("e", 1, MsgType::Update, i2)]);
    assert!(e.is_err());
    assert_eq!(s.pending_issuances().unwrap().len(), 1);
    assert_eq!(s.event_versions("e").unwrap().len(), 1);
    // Completing twice is refused too.
    assert!(s.complete_issuance(i1, &[], &[]).is_err());
    s.complete_issuance(i2, &[], &[alert("e", 2, MsgType::Cancel, i2)])
        .unwrap();
    let latest = s.latest_version("e").unwrap().unwrap();
    assert_eq!((latest.version, latest.active), (2, false));
    assert!(
        s.alerts(&AlertFilter {
            active_only: true,
            ..AlertFilter::default()
        })
        .unwrap()
        .is_empty()
    );
    let all = s.alerts(&AlertFilter::default()).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|a| !a.active));
}

fn planned(key: &str, version: u32) -> crate::notify::Planned {
    use crate::notify::{Channel, Outbound, OutboundBody};
    let text = "ALERTA VERMELHO: ciclone FREDDY".to_string();
    crate::notify::Planned {
        outbound: Outbound {
            idempotency_key: key.into(),
            subscriber_id: "s1".into(),
            channel: Channel::Sms("+258841234567".into()),
            body: OutboundBody::Sms {
                count: crate::notify::gsm::count_segments(&text),
                text,
            },
        },
        event_id: "e".into(),
        alert_id: format!("aviso-e-{version}"),
        version,
        notice: crate::notify::NoticeKind::NewEvent,
        level: Some(crate::alerts::levels::Level::Red),
        alert_sent: Utc::now(),
    }
}

#[test]
fn a_version_and_its_messages_commit_together_or_not_at_all() {
    use crate::store::notify::OutboxStore;
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let keys = |s: &SqliteStore| -> Vec<String> {
        s.outbox(None)
            .unwrap()
            .into_iter()
            .map(|r| r.message.idempotency_key)
            .collect()
    };
    let Inserted::New(i1) = s.insert_issuance(&raw("rsmc", b"one")).unwrap() else {
        panic!()
    };
    let n = s
        .complete_issuance_enqueue(
            i1,
            &[],
            &[alert("e", 1, MsgType::Alert, i1)],
            &[planned("k1", 1)],
            Utc::now(),
        )
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(keys(&s), ["k1"]);
    // A version that cannot be stored takes its messages down with it...
    let Inserted::New(i2) = s.insert_issuance(&raw("rsmc", b"two")).unwrap() else {
        panic!()
    };
    let e = s.complete_issuance_enqueue(
        i2,
        &[],
        &[alert("e", 1, MsgType::Update, i2)],
        &[planned("k2", 1)],
        Utc::now(),
    );
    assert!(e.is_err());
    assert_eq!(keys(&s), ["k1"], "no message for a version never published");
    assert_eq!(s.pending_issuances().unwrap().len(), 1);
    // ... and so does a Cancel published outside an issuance.
    s.publish_alert_enqueue(
        &alert("e", 2, MsgType::Cancel, i1),
        &[planned("k3", 2)],
        Utc::now(),
    )
    .unwrap();
    assert!(
        s.publish_alert_enqueue(
            &alert("e", 2, MsgType::Cancel, i1),
            &[planned("k4", 2)],
            Utc::now()
        )
        .is_err()
    );
    assert_eq!(keys(&s), ["k1", "k3"]);
    assert_eq!(s.event_versions("e").unwrap().len(), 2);
}

#[test]
fn a_schema_newer_than_this_build_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aviso.sqlite");
    SqliteStore::open(&path).unwrap();
    let c = Connection::open(&path).unwrap();
    c.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')",
        [],
    )
    .unwrap();
    let e = SqliteStore::open(&path).err().unwrap().to_string();
    assert!(e.contains("99") && e.contains("newer"), "{e}");
}

#[test]
fn a_failed_fetch_degrades_the_feed_and_a_later_success_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let failed = FetchResult::Failed {
        kind: "http_5xx".into(),
        message: "HTTP 500".into(),
    };
    s.record_fetch("rsmc", Utc::now(), &failed).unwrap();
    s.record_fetch("rsmc", Utc::now(), &failed).unwrap();
    let h = s.feed_health("rsmc").unwrap().unwrap();
    assert_eq!((h.state, h.consecutive_failures), (FeedState::Degraded, 2));
    assert_eq!(h.last_error_kind.as_deref(), Some("http_5xx"));
    s.record_fetch("rsmc", Utc::now(), &FetchResult::NotModified)
        .unwrap();
    let h = s.feed_health("rsmc").unwrap().unwrap();
    assert_eq!((h.state, h.consecutive_failures), (FeedState::Ok, 0));
    let counts = s.counts().unwrap();
    assert!(
        counts
            .fetches
            .contains(&("rsmc".into(), "http_5xx".into(), 2))
    );
}
