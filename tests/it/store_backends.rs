//! One suite of store behaviours run on both backends (issue 15): the embedded SQLite
//! store and the PostgreSQL store on a real server (common::pg, a throwaway cluster with
//! a fresh database per test). Each case goes through the `Store` trait only, so what it
//! checks is what the pipeline and the API rely on, whichever database is configured.
//! Ported from src/store/sqlite/tests.rs where those test behaviour through the trait;
//! plus what only PostgreSQL can show (two replicas storing the same content at once)
//! and the `[store]` section's checks.
//!
//! Longer than 600 lines on purpose: it is one suite whose value is that every case runs
//! on both backends through one harness (`on_both`); split by area, the harness and the
//! fixtures would move to `common` for this file alone.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{CapStatus, Changes, MsgType};
use aviso::config::Config;
use aviso::store::config::StoreConfig;
use aviso::store::postgres::{PG_MIGRATIONS, PgStore};
use aviso::store::sqlite::{MIGRATIONS, SqliteStore};
use aviso::store::{
    AlertFilter, AlertSummary, AssessmentRecord, FeedState, FetchResult, HazardKind, Inserted,
    IssuanceState, NewAlert, RawIssuance, Store, SummaryDistrict,
};

use crate::common::pg;

/// A store under test, with what keeps it alive (SQLite's folder) and how to open it again.
struct Backend {
    name: &'static str,
    store: Box<dyn Store>,
    reopen: Box<dyn Fn() -> Box<dyn Store>>,
    /// The number of the newest migration this build knows for this backend.
    newest: i64,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    Backend {
        name: "sqlite",
        store: Box::new(SqliteStore::open_dir(&path).unwrap()),
        reopen: Box::new(move || Box::new(SqliteStore::open_dir(&path).unwrap())),
        newest: MIGRATIONS.last().unwrap().0,
        _dir: Some(dir),
    }
}

fn pg_config(url: &str) -> StoreConfig {
    StoreConfig {
        url: Some(url.to_string()),
        pool_size: 4,
        ..StoreConfig::default()
    }
}

/// The PostgreSQL backend on a fresh database; `None` when PostgreSQL is absent and
/// skipping is allowed.
fn postgres() -> Option<(Backend, String)> {
    let url = pg::fresh_database()?;
    let cfg = pg_config(&url);
    let store = PgStore::open(&cfg).unwrap_or_else(|e| panic!("{e}"));
    Some((
        Backend {
            name: "postgres",
            store: Box::new(store),
            reopen: Box::new(move || Box::new(PgStore::open(&cfg).unwrap())),
            newest: PG_MIGRATIONS.last().unwrap().0,
            _dir: None,
        },
        url,
    ))
}

/// Runs `case` on both backends, naming the backend when it fails.
fn on_both(case: impl Fn(&Backend)) {
    let s = sqlite();
    case(&s);
    if let Some((p, _)) = postgres() {
        case(&p);
    }
}

pub(crate) fn raw(feed: &str, body: &[u8]) -> RawIssuance {
    RawIssuance {
        feed: feed.into(),
        url: format!("http://127.0.0.1/{feed}"),
        fetched_at: Utc::now(),
        sha256: RawIssuance::sha256_hex(body),
        content_type: Some("application/json".into()),
        bytes: body.to_vec(),
        etag: Some("\"v1\"".into()),
        last_modified: Some("Fri, 10 Mar 2023 00:00:00 GMT".into()),
    }
}

fn new_id(b: &Backend, i: Inserted) -> i64 {
    match i {
        Inserted::New(id) => id,
        other => panic!("{}: expected a new issuance, got {other:?}", b.name),
    }
}

fn district(pcode: &str, province: &str, level: Level) -> SummaryDistrict {
    SummaryDistrict {
        pcode: pcode.into(),
        name: format!("district {pcode}"),
        province_pcode: Some(province.into()),
        level,
    }
}

pub(crate) fn alert(
    event: &str,
    version: u32,
    msg_type: MsgType,
    issuance: Option<i64>,
) -> NewAlert {
    let sent = Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap()
        + Duration::hours(6 * i64::from(version));
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
            sent,
            reference_time: Some(sent - Duration::hours(2)),
            max_level: Some(Level::Red),
            active: true,
            references: None,
            districts: vec![
                district("MZ0910", "MZ09", Level::Red),
                district("MZ0702", "MZ07", Level::Yellow),
            ],
            cleared: Vec::new(),
            changes: Changes::default(),
            feed: "rsmc".into(),
            issuance_id: issuance,
            reason: None,
            reason_pt: None,
            incident: None,
        },
        document: format!(r#"{{"type":"FeatureCollection","version":{version}}}"#),
        cap: format!("<alert><identifier>aviso-{event}-{version}</identifier></alert>"),
    }
}

fn assessment(event: &str, reference: DateTime<Utc>) -> AssessmentRecord {
    AssessmentRecord {
        event_id: event.into(),
        event_name: "FREDDY".into(),
        reference_time: Some(reference),
        max_level: Some(Level::Red),
        districts_on_ladder: 2,
        figures: serde_json::json!({"people_at_risk_64kt": 12345}),
    }
}

#[test]
fn the_same_content_from_the_same_feed_is_one_issuance_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        let a = s.insert_issuance(&raw("rsmc", b"one")).unwrap();
        let id = new_id(b, a);
        assert_eq!(
            s.insert_issuance(&raw("rsmc", b"one")).unwrap(),
            Inserted::Duplicate(id),
            "{}",
            b.name
        );
        let other = s.insert_issuance(&raw("other", b"one")).unwrap();
        assert!(
            matches!(other, Inserted::New(o) if o != id),
            "{}: {other:?}",
            b.name
        );
        let pending = s.pending_issuances().unwrap();
        assert_eq!(pending.len(), 2, "{}", b.name);
        assert_eq!(pending[0].id, id, "{}: oldest first", b.name);
        assert_eq!(pending[0].raw.bytes, b"one", "{}", b.name);
        assert_eq!(pending[0].state, IssuanceState::Pending, "{}", b.name);
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!(h.state, FeedState::Ok, "{}", b.name);
        assert_eq!(h.etag.as_deref(), Some("\"v1\""), "{}", b.name);
        assert_eq!(
            h.last_modified.as_deref(),
            Some("Fri, 10 Mar 2023 00:00:00 GMT"),
            "{}",
            b.name
        );
        assert!(h.last_new_issuance.is_some(), "{}", b.name);
        let counts = s.counts().unwrap();
        assert!(
            counts
                .fetches
                .contains(&("rsmc".into(), "fetched".into(), 2)),
            "{}: {:?}",
            b.name,
            counts.fetches
        );
        assert_eq!(
            counts.issuances_by_state,
            vec![("pending".to_string(), 2)],
            "{}",
            b.name
        );
    });
}

#[test]
fn an_issuance_left_pending_survives_reopening_and_migrating_again_changes_nothing() {
    on_both(|b| {
        b.store.insert_issuance(&raw("rsmc", b"one")).unwrap();
        // A second process (a restart, another replica) opens the same store.
        let again = (b.reopen)();
        let p = again.pending_issuances().unwrap();
        assert_eq!(p.len(), 1, "{}", b.name);
        assert_eq!(p[0].raw.bytes, b"one", "{}", b.name);
        assert_eq!(again.migrate().unwrap(), b.newest, "{}", b.name);
        assert_eq!(b.store.migrate().unwrap(), b.newest, "{}", b.name);
        assert_eq!(again.pending_issuances().unwrap().len(), 1, "{}", b.name);
    });
}

#[test]
fn failed_content_keeps_its_feed_degraded_until_new_content_arrives_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        let id = new_id(
            b,
            s.insert_issuance(&raw("rsmc", b"<html>maintenance"))
                .unwrap(),
        );
        s.fail_issuance(id, "rsmc", "parse", "not JSON at line 1")
            .unwrap();
        let stored = s.issuance(id).unwrap().unwrap();
        assert_eq!(stored.state, IssuanceState::Failed, "{}", b.name);
        assert_eq!(
            stored.error.as_deref(),
            Some("not JSON at line 1"),
            "{}",
            b.name
        );
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!(
            (
                h.state,
                h.last_error_kind.as_deref(),
                h.consecutive_failures
            ),
            (FeedState::Degraded, Some("parse"), 1),
            "{}",
            b.name
        );
        // The same page again: still failing, still degraded, one more failure.
        let again = s
            .insert_issuance(&raw("rsmc", b"<html>maintenance"))
            .unwrap();
        assert_eq!(
            again,
            Inserted::StillFailing {
                id,
                error: "not JSON at line 1".into()
            },
            "{}",
            b.name
        );
        // And a 304 for it says the same.
        s.record_fetch("rsmc", Utc::now(), &FetchResult::NotModified)
            .unwrap();
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!(
            (
                h.state,
                h.last_error_kind.as_deref(),
                h.consecutive_failures
            ),
            (FeedState::Degraded, Some("repeated_failure"), 3),
            "{}",
            b.name
        );
        assert!(
            h.last_error
                .as_deref()
                .unwrap()
                .contains(&format!("issuance {id}")),
            "{}: {:?}",
            b.name,
            h.last_error
        );
        // New content: healthy again.
        new_id(b, s.insert_issuance(&raw("rsmc", b"{}")).unwrap());
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!(
            (h.state, h.consecutive_failures),
            (FeedState::Ok, 0),
            "{}",
            b.name
        );
        assert!(s.pending_issuances().unwrap().iter().all(|p| p.id != id));
    });
}

#[test]
fn a_failed_fetch_degrades_the_feed_and_a_later_success_clears_it_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        let failed = FetchResult::Failed {
            kind: "http_5xx".into(),
            message: "HTTP 500".into(),
        };
        s.record_fetch("rsmc", Utc::now(), &failed).unwrap();
        s.record_fetch("rsmc", Utc::now(), &failed).unwrap();
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!(
            (h.state, h.consecutive_failures),
            (FeedState::Degraded, 2),
            "{}",
            b.name
        );
        assert_eq!(h.last_error.as_deref(), Some("HTTP 500"), "{}", b.name);
        assert!(h.last_success.is_none(), "{}", b.name);
        s.record_fetch("rsmc", Utc::now(), &FetchResult::NotModified)
            .unwrap();
        s.record_fetch("gdacs", Utc::now(), &FetchResult::Fetched)
            .unwrap();
        let h = s.feed_health("rsmc").unwrap().unwrap();
        assert_eq!(
            (h.state, h.consecutive_failures),
            (FeedState::Ok, 0),
            "{}",
            b.name
        );
        assert!(
            h.last_error.is_none() && h.last_success.is_some(),
            "{}",
            b.name
        );
        let all: Vec<String> = s
            .all_feed_health()
            .unwrap()
            .into_iter()
            .map(|h| h.feed)
            .collect();
        assert_eq!(all, ["gdacs", "rsmc"], "{}: by name", b.name);
        assert!(s.feed_health("nobody").unwrap().is_none(), "{}", b.name);
        let counts = s.counts().unwrap();
        assert_eq!(
            counts.fetches,
            vec![
                ("gdacs".to_string(), "fetched".to_string(), 1),
                ("rsmc".to_string(), "http_5xx".to_string(), 2),
                ("rsmc".to_string(), "not_modified".to_string(), 1),
            ],
            "{}",
            b.name
        );
    });
}

#[test]
fn completing_is_atomic_and_a_conflicting_version_rolls_everything_back_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        let i1 = new_id(b, s.insert_issuance(&raw("rsmc", b"one")).unwrap());
        let t1 = Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap();
        s.complete_issuance(
            i1,
            &[assessment("e", t1)],
            &[alert("e", 1, MsgType::Alert, Some(i1))],
        )
        .unwrap();
        let i2 = new_id(b, s.insert_issuance(&raw("rsmc", b"two")).unwrap());
        // Version 1 again: the unique (event, version) fails, nothing of i2 is kept.
        let e = s.complete_issuance(
            i2,
            &[assessment("e", t1 + Duration::hours(6))],
            &[alert("e", 1, MsgType::Update, Some(i2))],
        );
        assert!(e.is_err(), "{}", b.name);
        assert_eq!(s.pending_issuances().unwrap().len(), 1, "{}", b.name);
        assert_eq!(s.event_versions("e").unwrap().len(), 1, "{}", b.name);
        assert_eq!(
            s.last_issuance_of_event("e").unwrap().map(|i| i.id),
            Some(i1),
            "{}: the rolled-back assessment is not kept",
            b.name
        );
        // Completing twice is refused too.
        assert!(s.complete_issuance(i1, &[], &[]).is_err(), "{}", b.name);
        s.complete_issuance(i2, &[], &[alert("e", 2, MsgType::Cancel, Some(i2))])
            .unwrap();
        let latest = s.latest_version("e").unwrap().unwrap();
        assert_eq!((latest.version, latest.active), (2, false), "{}", b.name);
        let active = AlertFilter {
            active_only: true,
            ..AlertFilter::default()
        };
        assert!(s.alerts(&active).unwrap().is_empty(), "{}", b.name);
        let all = s.alerts(&AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 2, "{}", b.name);
        assert!(all.iter().all(|a| !a.active), "{}", b.name);
        assert_eq!(
            s.latest_processed_issuance("rsmc").unwrap().map(|i| i.id),
            Some(i2),
            "{}",
            b.name
        );
    });
}

#[test]
fn published_versions_read_back_in_order_with_their_documents_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        let mut ids = Vec::new();
        for (v, kind) in [
            (1, MsgType::Alert),
            (2, MsgType::Update),
            (3, MsgType::Update),
        ] {
            let i = new_id(
                b,
                s.insert_issuance(&raw("rsmc", format!("v{v}").as_bytes()))
                    .unwrap(),
            );
            let a = alert("swi-07", v, kind, Some(i));
            ids.push(a.summary.id.clone());
            s.complete_issuance(i, &[], std::slice::from_ref(&a))
                .unwrap();
        }
        // A drill beside it, and a Cancel published without an issuance.
        let mut drill = alert("exercise-swi-07", 1, MsgType::Alert, None);
        drill.summary.status = CapStatus::Exercise;
        s.publish_alert(&drill).unwrap();

        let versions = s.event_versions("swi-07").unwrap();
        let numbers: Vec<u32> = versions.iter().map(|v| v.version).collect();
        assert_eq!(numbers, [1, 2, 3], "{}", b.name);
        let active: Vec<bool> = versions.iter().map(|v| v.active).collect();
        assert_eq!(
            active,
            [false, false, true],
            "{}: only the latest is active",
            b.name
        );
        let latest = s.latest_version("swi-07").unwrap().unwrap();
        assert_eq!(
            (latest.id.as_str(), latest.active),
            (ids[2].as_str(), true),
            "{}",
            b.name
        );
        assert!(
            s.latest_version("no-such-event").unwrap().is_none(),
            "{}",
            b.name
        );

        let rec = s.alert(&ids[1]).unwrap().unwrap();
        let sent = alert("swi-07", 2, MsgType::Update, None);
        assert_eq!(rec.document, sent.document, "{}", b.name);
        assert_eq!(rec.cap, sent.cap, "{}", b.name);
        assert_eq!(rec.summary.sent, sent.summary.sent, "{}", b.name);
        assert_eq!(rec.summary.districts, sent.summary.districts, "{}", b.name);
        assert!(!rec.summary.active, "{}", b.name);
        assert!(s.alert("aviso-nothing").unwrap().is_none(), "{}", b.name);

        // Newest first; the drill only when asked for.
        let listed: Vec<String> = s
            .alerts(&AlertFilter::default())
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(
            listed,
            [ids[2].clone(), ids[1].clone(), ids[0].clone()],
            "{}",
            b.name
        );
        let with_drill = s
            .alerts(&AlertFilter {
                include_non_actual: true,
                ..AlertFilter::default()
            })
            .unwrap();
        assert_eq!(with_drill.len(), 4, "{}", b.name);
        let events = s.events(false).unwrap();
        assert_eq!(events.len(), 1, "{}", b.name);
        assert_eq!(
            (
                events[0].event_id.as_str(),
                events[0].versions,
                events[0].active
            ),
            ("swi-07", 3, true),
            "{}",
            b.name
        );
        assert_eq!(events[0].latest.id, ids[2], "{}", b.name);
        let all_events: BTreeSet<String> = s
            .events(true)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(
            all_events,
            BTreeSet::from(["swi-07".to_string(), "exercise-swi-07".to_string()]),
            "{}",
            b.name
        );
        let counts = s.counts().unwrap();
        assert_eq!(
            counts.alerts,
            vec![
                ("Alert".to_string(), "red".to_string(), 1),
                ("Update".to_string(), "red".to_string(), 2)
            ],
            "{}: Actual versions only",
            b.name
        );
    });
}

#[test]
fn the_alerts_filter_selects_by_place_level_time_and_event_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        let mut first = alert("a", 1, MsgType::Alert, None);
        first.summary.districts = vec![district("MZ0910", "MZ09", Level::Orange)];
        s.publish_alert(&first).unwrap();
        let mut other = alert("b", 2, MsgType::Alert, None);
        other.summary.districts = vec![district("MZ0702", "MZ07", Level::Red)];
        s.publish_alert(&other).unwrap();
        let ids = |f: AlertFilter| -> Vec<String> {
            s.alerts(&f).unwrap().into_iter().map(|a| a.id).collect()
        };
        assert_eq!(
            ids(AlertFilter {
                province_pcode: Some("MZ09".into()),
                ..AlertFilter::default()
            }),
            ["aviso-a-1"],
            "{}",
            b.name
        );
        assert_eq!(
            ids(AlertFilter {
                district_pcode: Some("MZ0702".into()),
                ..AlertFilter::default()
            }),
            ["aviso-b-2"],
            "{}",
            b.name
        );
        assert_eq!(
            ids(AlertFilter {
                min_level: Some(Level::Red),
                ..AlertFilter::default()
            }),
            ["aviso-b-2"],
            "{}",
            b.name
        );
        assert_eq!(
            ids(AlertFilter {
                since: Some(other.summary.sent),
                ..AlertFilter::default()
            }),
            ["aviso-b-2"],
            "{}",
            b.name
        );
        assert_eq!(
            ids(AlertFilter {
                event_id: Some("a".into()),
                ..AlertFilter::default()
            }),
            ["aviso-a-1"],
            "{}",
            b.name
        );
        assert_eq!(
            ids(AlertFilter {
                active_only: true,
                ..AlertFilter::default()
            }),
            ["aviso-b-2", "aviso-a-1"],
            "{}",
            b.name
        );
    });
}

/// Versions published within the same second (an approver clearing a queue, a Cancel
/// right after an Update) list newest version first: `sent` has second precision, so
/// it cannot order them alone (CI failure of 2026-12-03, `service::feeds_with_faults…`).
#[test]
fn versions_sent_in_the_same_second_list_newest_version_first_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        let sent = Utc.with_ymd_and_hms(2023, 3, 10, 12, 0, 0).unwrap();
        for (version, msg_type) in [
            (1, MsgType::Alert),
            (2, MsgType::Update),
            (3, MsgType::Cancel),
        ] {
            let mut a = alert("z", version, msg_type, None);
            a.summary.sent = sent;
            s.publish_alert(&a).unwrap();
        }
        let ids: Vec<String> = s
            .alerts(&AlertFilter::default())
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["aviso-z-3", "aviso-z-2", "aviso-z-1"], "{}", b.name);
    });
}

#[test]
fn a_late_document_is_attached_once_beside_the_version_as_published_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        let i1 = new_id(b, s.insert_issuance(&raw("rsmc", b"one")).unwrap());
        let a = alert("e", 1, MsgType::Alert, Some(i1));
        let id = a.summary.id.clone();
        s.complete_issuance(i1, &[], std::slice::from_ref(&a))
            .unwrap();
        assert!(s.alert(&id).unwrap().unwrap().annex.is_none(), "{}", b.name);
        let at = Utc::now();
        assert!(
            !s.attach_document("no-such-version", "{}", at).unwrap(),
            "{}",
            b.name
        );
        assert!(
            s.attach_document(&id, r#"{"p":1}"#, at).unwrap(),
            "{}",
            b.name
        );
        assert!(
            !s.attach_document(&id, r#"{"p":2}"#, at).unwrap(),
            "{}: written once",
            b.name
        );
        let rec = s.alert(&id).unwrap().unwrap();
        assert_eq!(
            rec.document, a.document,
            "{}: the document as published is kept",
            b.name
        );
        assert_eq!(rec.cap, a.cap, "{}", b.name);
        assert_eq!(rec.current_document(), r#"{"p":1}"#, "{}", b.name);
        let annex = rec.annex.unwrap();
        assert_eq!(
            annex.attached_at.timestamp_micros(),
            at.timestamp_micros(),
            "{}",
            b.name
        );
    });
}

#[test]
fn runs_and_the_forecasts_a_feed_delivered_read_back_on_both_backends() {
    on_both(|b| {
        let s = &b.store;
        assert!(s.last_run().unwrap().is_none(), "{}", b.name);
        let started = Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap();
        let run = s.begin_run("rsmc", started).unwrap();
        let detail = serde_json::json!({"feed": "rsmc", "published": ["aviso-e-1"]});
        s.finish_run(run, started + Duration::seconds(3), "ok", &detail)
            .unwrap();
        let last = s.last_run().unwrap().unwrap();
        assert_eq!(
            (last.id, last.feed.as_str(), last.outcome.as_str()),
            (run, "rsmc", "ok"),
            "{}",
            b.name
        );
        assert_eq!(last.started_at, started, "{}", b.name);
        assert_eq!(
            last.finished_at,
            Some(started + Duration::seconds(3)),
            "{}",
            b.name
        );
        assert_eq!(last.detail, detail, "{}", b.name);
        assert_eq!(
            s.counts().unwrap().runs,
            vec![("ok".to_string(), 1)],
            "{}",
            b.name
        );

        // Per-storm keys ("rsmc:freddy") count for the feed "rsmc"; another feed does not.
        let before = Utc::now() - Duration::minutes(1);
        let reference = Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap();
        let i = new_id(b, s.insert_issuance(&raw("rsmc:freddy", b"f")).unwrap());
        s.complete_issuance(i, &[assessment("e", reference)], &[])
            .unwrap();
        let j = new_id(b, s.insert_issuance(&raw("rsmcx", b"x")).unwrap());
        s.complete_issuance(j, &[assessment("x", reference)], &[])
            .unwrap();
        assert_eq!(
            s.forecasts_since("rsmc", before).unwrap(),
            vec![Some(reference)],
            "{}",
            b.name
        );
        assert!(
            s.forecasts_since("rsmc", Utc::now() + Duration::minutes(1))
                .unwrap()
                .is_empty(),
            "{}",
            b.name
        );
        assert_eq!(
            s.last_issuance_of_event("e").unwrap().map(|i| i.raw.feed),
            Some("rsmc:freddy".to_string()),
            "{}",
            b.name
        );
    });
}

#[test]
fn a_schema_newer_than_this_build_is_refused_naming_the_database() {
    let Some((b, url)) = postgres() else {
        return;
    };
    drop(b);
    pg::psql(
        &url,
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', now())",
    );
    let e = PgStore::open(&pg_config(&url)).err().unwrap().to_string();
    assert!(
        e.contains("99") && e.contains("newer") && e.contains(&url),
        "{e}"
    );
}

#[test]
fn two_replicas_storing_the_same_content_at_once_keep_one_issuance() {
    let Some((b, url)) = postgres() else {
        return;
    };
    // Two stores (two replicas' pools) on one database, four threads each, the same body.
    let replicas: Vec<Arc<PgStore>> = (0..2)
        .map(|_| Arc::new(PgStore::open(&pg_config(&url)).unwrap()))
        .collect();
    let results: Vec<Inserted> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..8)
            .map(|k| {
                let r = Arc::clone(&replicas[k % 2]);
                sc.spawn(move || r.insert_issuance(&raw("rsmc", b"freddy")).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let new: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            Inserted::New(id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Inserted::New(_)) || *r == Inserted::Duplicate(new[0])),
        "{results:?}"
    );
    assert_eq!(b.store.pending_issuances().unwrap().len(), 1);
    assert_eq!(pg::psql(&url, "SELECT count(*) FROM issuances"), "1");
}

#[test]
fn replicas_take_a_feed_lease_one_at_a_time_and_a_dropped_lease_frees_it() {
    let Some((a, url)) = postgres() else {
        return;
    };
    let b = PgStore::open(&pg_config(&url)).unwrap();
    let held = a.store.lease_feed("rsmc").unwrap();
    assert!(held.is_some(), "the first replica gets the lease");
    assert!(
        b.lease_feed("rsmc").unwrap().is_none(),
        "the second does not"
    );
    assert!(
        b.lease_feed("gdacs").unwrap().is_some(),
        "another feed's lease is free"
    );
    drop(held);
    // The release runs on the store's runtime, without blocking the dropping thread.
    let mut got = None;
    for _ in 0..50 {
        got = b.lease_feed("rsmc").unwrap();
        if got.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(got.is_some(), "a dropped lease is free again");
    assert!(a.store.lease_feed("rsmc").unwrap().is_none());
    // The embedded store has one process: its lease is always granted.
    let lite = sqlite();
    let one = lite.store.lease_feed("rsmc").unwrap();
    assert!(one.is_some() && lite.store.lease_feed("rsmc").unwrap().is_some());
}

#[test]
fn an_unreachable_server_is_an_error_naming_it_without_the_password() {
    // Port 1 on localhost: nothing listens there.
    let cfg = StoreConfig {
        url: Some("postgres://aviso@127.0.0.1:1/aviso".into()),
        connect_timeout_s: 2,
        ..StoreConfig::default()
    };
    let e = PgStore::open_with_password(&cfg, Some("s3cret-pw"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("postgres://aviso@127.0.0.1:1/aviso"), "{e}");
    assert!(!e.contains("s3cret-pw"), "{e}");
}

#[test]
fn the_store_section_refuses_unknown_keys_passwords_and_other_schemes() {
    let parse = |t: &str| Config::from_toml(t, "site.toml").map_err(|e| e.to_string());
    let ok = parse(&format!(
        "{}[store]\nurl = \"postgres://aviso@db.example.org:5432/aviso?sslmode=require\"\n",
        crate::common::PUBLISH_ALL
    ))
    .unwrap();
    assert_eq!(
        ok.store.postgres_url(),
        Some("postgres://aviso@db.example.org:5432/aviso?sslmode=require")
    );
    assert!(
        parse("").unwrap().store.postgres_url().is_none(),
        "SQLite stays the default"
    );
    let e = parse("[store]\nurl = \"postgres://a@h/db\"\npasword = \"x\"\n").unwrap_err();
    assert!(e.contains("site.toml") && e.contains("pasword"), "{e}");
    let e = parse("[store]\nurl = \"postgres://aviso:hunter2@db/aviso\"\n").unwrap_err();
    assert!(
        e.contains("AVISO_STORE_PASSWORD") && !e.contains("hunter2"),
        "{e}"
    );
    let e = parse("[store]\nurl = \"mysql://aviso@db/aviso\"\n").unwrap_err();
    assert!(e.contains("store.url") && e.contains("mysql"), "{e}");
    let e = parse("[store]\nurl = \"postgres://aviso@db\"\n").unwrap_err();
    assert!(e.contains("no database"), "{e}");
    let e = parse("[store]\npool_size = 0\n").unwrap_err();
    assert!(e.contains("store.pool_size"), "{e}");
    // Subscribers and the outbox are on PostgreSQL too: channels beside `url` are fine.
    let hooks = "[notify.webhook]\nenabled = true\nsecret_env = \"AVISO_T_HOOK\"\n";
    let both = parse(&format!(
        "{}[store]\nurl = \"postgres://a@db/aviso\"\n{hooks}",
        crate::common::PUBLISH_ALL
    ))
    .unwrap();
    assert!(both.notify.any_channel_enabled() && both.store.postgres_url().is_some());
}

#[test]
fn check_config_validates_the_store_section() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[store]\nurl = \"postgres://aviso:pw@db/aviso\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("store.url") && err.contains("password"),
        "{err}"
    );
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "{}[store]\nurl = \"postgres://aviso@db/aviso\"\n",
            crate::common::PUBLISH_ALL
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
