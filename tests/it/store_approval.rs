//! The approval workflow's store (issue 13) on both backends: the embedded SQLite store and
//! the PostgreSQL store on a real server (common::pg, a fresh database per test). Each
//! case goes through the `ApprovalStore` trait (what the pipeline and the admin API rely
//! on), plus raw SQL where the schema itself must refuse (a second open proposal, an
//! edited or deleted audit row). What only several replicas on one PostgreSQL database can
//! show: two `PgStore`s deciding the same proposal at once make one decision. And a
//! SQLite store holding proposals and audit rows is copied to PostgreSQL by
//! `aviso store migrate` and reads back the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Arc, Barrier};

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::MsgType;
use aviso::notify::config::NotifyConfig;
use aviso::notify::dispatch::plan_version;
use aviso::notify::outbound::Planned;
use aviso::notify::select::{NoGeometry, PublishedAlert};
use aviso::store::approval::{
    ApprovalStore, AuditEntry, Decision, NewProposal, ProposalState, Refusal,
};
use aviso::store::notify::NotifyStore;
use aviso::store::sqlite::SqliteStore;
use aviso::store::{Inserted, NewAlert, RawIssuance, Store};

use crate::common::pg;
use crate::store_backends::{alert, raw};
use crate::store_notify::{published, replica, sub, t};

pub(crate) const EVENT: &str = "swi-07-20222023";

/// One database's three halves, and how to reach it with raw SQL.
pub(crate) struct Backend {
    pub(crate) name: &'static str,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) notify: Arc<dyn NotifyStore>,
    pub(crate) approvals: Arc<dyn ApprovalStore>,
    /// PostgreSQL's URL, or SQLite's file.
    url: Option<String>,
    file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// Runs `sql` on the database directly: `Err` with the database's message when it
    /// refuses.
    pub(crate) fn sql(&self, sql: &str) -> Result<(), String> {
        match (&self.url, &self.file) {
            (Some(url), _) => pg::try_psql(url, sql).map(|_| ()),
            (None, Some(f)) => rusqlite::Connection::open(f)
                .unwrap()
                .execute_batch(sql)
                .map_err(|e| e.to_string()),
            (None, None) => unreachable!(),
        }
    }
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
    Backend {
        name: "sqlite",
        store: s.clone(),
        notify: s.clone(),
        file: Some(s.path().to_path_buf()),
        approvals: s,
        url: None,
        _dir: Some(dir),
    }
}

fn postgres() -> Option<Backend> {
    let url = pg::fresh_database()?;
    let s = replica(&url);
    Some(Backend {
        name: "postgres",
        store: s.clone(),
        notify: s.clone(),
        approvals: s,
        url: Some(url),
        file: None,
        _dir: None,
    })
}

pub(crate) fn on_both(case: impl Fn(&Backend)) {
    case(&sqlite());
    if let Some(p) = postgres() {
        case(&p);
    }
}

pub(crate) fn propose(
    b: &Backend,
    issuance: Option<i64>,
    a: &NewAlert,
    p: &PublishedAlert,
    base: Option<&str>,
    edited_by: Option<&str>,
    h: i64,
) -> i64 {
    b.approvals
        .propose(
            issuance.map(|id| (id, &[][..])),
            NewProposal {
                alert: a,
                published: p,
                base,
                edited_by,
                issuance_id: None,
                overrides: &[],
            },
            t(h),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", b.name))
}

pub(crate) fn approve<'a>(actor: &'a str, planned: &'a [Planned]) -> Decision<'a> {
    Decision::Approve {
        actor,
        note: Some("confirmado com o RSMC"),
        planned,
        four_eyes: true,
        held: None,
    }
}

pub(crate) fn actions(b: &Backend) -> Vec<(String, String, String)> {
    b.approvals
        .audit_log(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|r| (r.entry.actor, r.entry.action, r.entry.subject))
        .collect()
}

/// Two subscribers in Beira and the messages version `v` of Freddy gives them.
fn beira(b: &Backend, v: u32) -> (PublishedAlert, Vec<Planned>) {
    for (id, phone) in [("beira-1", "+258841111111"), ("beira-2", "+258842222222")] {
        b.notify
            .create_subscriber(&sub(id, phone, "MZ0910"), t(0))
            .unwrap();
    }
    let p = published(v, MsgType::Alert, &[("MZ0910", Level::Red)]);
    let planned =
        plan_version(b.notify.as_ref(), &p, &NotifyConfig::default(), &NoGeometry).unwrap();
    assert_eq!(planned.len(), 2, "{}", b.name);
    (p, planned)
}

#[test]
fn one_open_proposal_per_event_and_a_newer_one_supersedes_on_both_backends() {
    on_both(|b| {
        let n = b.name;
        let Inserted::New(iss) = b.store.insert_issuance(&raw("rsmc", b"v1")).unwrap() else {
            panic!("{n}: a new issuance")
        };
        let (a1, p1) = (
            alert(EVENT, 1, MsgType::Alert, Some(iss)),
            published(1, MsgType::Alert, &[]),
        );
        let first = propose(b, Some(iss), &a1, &p1, None, None, 1);
        assert!(
            b.store.pending_issuances().unwrap().is_empty(),
            "{n}: processed with it"
        );
        let got = b.approvals.proposal(first).unwrap().unwrap();
        assert_eq!(
            (got.state, got.issuance_id, got.base.clone(), got.created_at),
            (ProposalState::Proposed, Some(iss), None, t(1)),
            "{n}"
        );
        assert_eq!(got.alert, a1, "{n}: the version exactly as proposed");
        assert_eq!(got.published, p1, "{n}");
        assert!(
            b.store.alerts(&Default::default()).unwrap().is_empty(),
            "{n}: nothing public"
        );

        // The schema itself refuses a second open proposal for the event.
        let err = b
            .sql(&format!(
                "INSERT INTO proposals (event_id, state, created_at, summary, document, cap, published)
                 VALUES ('{EVENT}', 'proposed', '2023-03-10T00:00:00.000000Z', '{{}}', '', '', '{{}}')"
            ))
            .unwrap_err();
        assert!(err.to_lowercase().contains("unique"), "{n}: {err}");

        // A newer forecast's proposal replaces it.
        let mut a2 = alert(EVENT, 1, MsgType::Alert, None);
        a2.document.push(' ');
        let second = propose(b, None, &a2, &p1, None, None, 2);
        let old = b.approvals.proposal(first).unwrap().unwrap();
        assert_eq!(old.state, ProposalState::Superseded, "{n}");
        assert_eq!(old.superseded_by, Some(second), "{n}");
        assert_eq!(
            old.reason.as_deref(),
            Some(&*format!("replaced by proposal {second}"))
        );
        assert_eq!(old.decided_at, Some(t(2)), "{n}");
        let open = b
            .approvals
            .proposals(Some(ProposalState::Proposed))
            .unwrap();
        assert_eq!(
            open.iter().map(|p| p.id).collect::<Vec<_>>(),
            [second],
            "{n}"
        );
        let all = b.approvals.proposals(None).unwrap();
        assert_eq!(
            all.iter().map(|p| p.id).collect::<Vec<_>>(),
            [second, first],
            "{n}"
        );
        assert_eq!(
            b.approvals.latest_proposal(EVENT).unwrap().unwrap().id,
            second,
            "{n}"
        );
        assert!(
            b.approvals
                .latest_proposal("no-such-event")
                .unwrap()
                .is_none()
        );

        // The superseded one cannot be decided; an unknown one is not found.
        match b
            .approvals
            .decide(first, approve("duty-officer", &[]), t(3))
            .unwrap()
        {
            Err(Refusal::NotOpen { state, hint, .. }) => {
                assert_eq!(state, ProposalState::Superseded, "{n}");
                assert_eq!(hint, format!(" (proposal {second} replaced it)"), "{n}");
            }
            other => panic!("{n}: {other:?}"),
        }
        assert!(matches!(
            b.approvals
                .decide(99_999, approve("duty-officer", &[]), t(3))
                .unwrap(),
            Err(Refusal::NotFound { id: 99_999 })
        ));

        // A forecast that changes nothing supersedes it without a successor.
        assert_eq!(
            b.approvals
                .supersede_open(EVENT, "no change", t(4))
                .unwrap(),
            1,
            "{n}"
        );
        assert_eq!(
            b.approvals
                .supersede_open(EVENT, "no change", t(4))
                .unwrap(),
            0,
            "{n}"
        );
        let p = b.approvals.proposal(second).unwrap().unwrap();
        assert_eq!(
            (p.state, p.superseded_by, p.reason.as_deref()),
            (ProposalState::Superseded, None, Some("no change"))
        );
        let want: Vec<(String, String, String)> = [
            ("aviso", "proposed", first),
            ("aviso", "superseded", first),
            ("aviso", "proposed", second),
            ("aviso", "superseded", second),
        ]
        .iter()
        .map(|(w, a, id)| (w.to_string(), a.to_string(), format!("proposal {id}")))
        .collect();
        assert_eq!(actions(b), want, "{n}");
    });
}

#[test]
fn approving_publishes_queues_and_audits_in_one_transaction_on_both_backends() {
    on_both(|b| {
        let n = b.name;
        let (p1, planned) = beira(b, 1);
        let a1 = alert(EVENT, 1, MsgType::Alert, None);
        let id = propose(b, None, &a1, &p1, None, Some("cenoe-editor"), 1);
        let before = actions(b).len();

        // Refusals write nothing.
        let refused = |d: Decision<'_>| b.approvals.decide(id, d, t(2)).unwrap().unwrap_err();
        assert!(matches!(
            refused(Decision::Reject {
                actor: "duty-officer",
                reason: "  "
            }),
            Refusal::NoReason { .. }
        ));
        assert!(matches!(
            refused(approve("cenoe-editor", &planned)),
            Refusal::FourEyes { .. }
        ));
        assert_eq!(actions(b).len(), before, "{n}");
        assert!(b.notify.outbox(None).unwrap().is_empty(), "{n}");

        // The approval: version, messages and audit row together.
        let queued = b
            .approvals
            .decide(id, approve("duty-officer", &planned), t(2))
            .unwrap();
        assert_eq!(queued, Ok(2), "{n}");
        assert_eq!(
            b.store.latest_version(EVENT).unwrap().unwrap().id,
            a1.summary.id,
            "{n}"
        );
        assert_eq!(
            b.store.alert(&a1.summary.id).unwrap().unwrap().cap,
            a1.cap,
            "{n}"
        );
        assert_eq!(b.notify.outbox(Some(EVENT)).unwrap().len(), 2, "{n}");
        let p = b.approvals.proposal(id).unwrap().unwrap();
        assert_eq!(p.state, ProposalState::Published, "{n}");
        assert_eq!(p.decided_by.as_deref(), Some("duty-officer"));
        assert_eq!(p.reason.as_deref(), Some("confirmado com o RSMC"));
        let log = b.approvals.audit_log(0, 10_000).unwrap();
        let row = log.last().unwrap();
        assert_eq!(
            (row.entry.actor.as_str(), row.entry.action.as_str()),
            ("duty-officer", "approved")
        );
        assert_eq!(
            row.entry.cap_sha256,
            Some(RawIssuance::sha256_hex(a1.cap.as_bytes())),
            "{n}"
        );
        assert_eq!(row.entry.detail["messages_queued"], 2, "{n}");
        assert_eq!(row.entry.at, t(2), "{n}");

        // Published is final: a second approval and a rejection are refused.
        for d in [
            approve("duty-officer", &planned),
            Decision::Reject {
                actor: "duty-officer",
                reason: "late",
            },
        ] {
            match b.approvals.decide(id, d, t(3)).unwrap() {
                Err(Refusal::NotOpen {
                    state: ProposalState::Published,
                    ..
                }) => {}
                other => panic!("{n}: {other:?}"),
            }
        }
        assert_eq!(
            b.notify.outbox(None).unwrap().len(),
            2,
            "{n}: nothing queued twice"
        );

        // An approval that fails half way (its version's id is taken) keeps nothing: no
        // messages, no audit row, the proposal still waiting.
        let mut clash = alert(EVENT, 2, MsgType::Update, None);
        clash.summary.id = a1.summary.id.clone();
        let (p2, planned2) = (published(2, MsgType::Update, &[("MZ0910", Level::Red)]), {
            let mut v = planned.clone();
            v.iter_mut()
                .for_each(|p| p.outbound.idempotency_key.push_str(".v2"));
            v
        });
        let bad = propose(b, None, &clash, &p2, Some(&a1.summary.id), None, 4);
        let rows = actions(b).len();
        assert!(
            b.approvals
                .decide(bad, approve("duty-officer", &planned2), t(5))
                .is_err(),
            "{n}"
        );
        assert_eq!(b.notify.outbox(None).unwrap().len(), 2, "{n}");
        assert_eq!(actions(b).len(), rows, "{n}");
        assert_eq!(
            b.approvals.proposal(bad).unwrap().unwrap().state,
            ProposalState::Proposed
        );
        assert_eq!(b.store.event_versions(EVENT).unwrap().len(), 1, "{n}");

        // Made against version 1: stale once another version is published.
        b.store
            .publish_alert(&alert(EVENT, 2, MsgType::Update, None))
            .unwrap();
        match b
            .approvals
            .decide(bad, approve("duty-officer", &planned2), t(6))
            .unwrap()
        {
            Err(Refusal::Stale { base, current, .. }) => {
                assert_eq!(
                    (base.as_str(), current.as_str()),
                    ("aviso-swi-07-20222023-1", "aviso-swi-07-20222023-2"),
                    "{n}"
                );
            }
            other => panic!("{n}: {other:?}"),
        }

        // A rejection with a reason: audited, nothing sent.
        let a3 = alert(EVENT, 3, MsgType::Update, None);
        let third = propose(b, None, &a3, &p2, Some("aviso-swi-07-20222023-2"), None, 7);
        assert_eq!(
            b.approvals.proposal(bad).unwrap().unwrap().superseded_by,
            Some(third)
        );
        let r = Decision::Reject {
            actor: "duty-officer",
            reason: "aguardar o boletim",
        };
        assert_eq!(b.approvals.decide(third, r, t(8)).unwrap(), Ok(0), "{n}");
        let last = b.approvals.audit_log(0, 10_000).unwrap().pop().unwrap();
        assert_eq!(
            (last.entry.action.as_str(), last.entry.reason.as_deref()),
            ("rejected", Some("aguardar o boletim"))
        );
        assert_eq!(b.notify.outbox(None).unwrap().len(), 2, "{n}");
    });
}

#[test]
fn publishing_by_rule_supersedes_the_open_proposal_and_queues_its_messages_on_both_backends() {
    on_both(|b| {
        let n = b.name;
        let (p1, planned) = beira(b, 1);
        let waiting = propose(
            b,
            None,
            &alert(EVENT, 1, MsgType::Alert, None),
            &p1,
            None,
            None,
            1,
        );
        let Inserted::New(iss) = b.store.insert_issuance(&raw("drill", b"v1")).unwrap() else {
            panic!("{n}: a new issuance")
        };
        let a1 = alert(EVENT, 1, MsgType::Alert, Some(iss));
        let audit = AuditEntry::new(
            t(2),
            "rule:exercises-and-tests",
            "auto_published",
            format!("alert {}", a1.summary.id),
        )
        .of_alert(&a1);
        let queued = b
            .approvals
            .publish_by_rule(
                Some((iss, &[])),
                &a1,
                &planned,
                std::slice::from_ref(&audit),
                t(2),
            )
            .unwrap();
        assert_eq!(queued, 2, "{n}");
        assert!(b.store.pending_issuances().unwrap().is_empty(), "{n}");
        assert_eq!(
            b.store.latest_version(EVENT).unwrap().unwrap().id,
            a1.summary.id
        );
        let p = b.approvals.proposal(waiting).unwrap().unwrap();
        assert_eq!(p.state, ProposalState::Superseded, "{n}");
        assert_eq!(
            p.reason,
            Some(format!("version {} was published by rule", a1.summary.id))
        );
        let steps = actions(b);
        assert_eq!(steps.last().unwrap().1, "auto_published", "{n}: {steps:?}");
        assert!(steps.contains(&(
            "aviso".into(),
            "superseded".into(),
            format!("proposal {waiting}")
        )));
    });
}

#[test]
fn the_audit_trail_is_append_only_on_both_backends() {
    on_both(|b| {
        let n = b.name;
        let ids: Vec<i64> = (0..5)
            .map(|i| {
                let e = AuditEntry::new(t(i), "cenoe-editor", "admin", format!("subscriber s{i}"))
                    .because(Some("import"))
                    .with_detail(serde_json::json!({"row": i}));
                b.approvals.audit(&e).unwrap()
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{n}: {ids:?}");
        let page = b.approvals.audit_log(ids[1], 2).unwrap();
        assert_eq!(
            page.iter().map(|r| r.id).collect::<Vec<_>>(),
            ids[2..4],
            "{n}"
        );
        assert_eq!(page[0].entry.detail["row"], 2, "{n}");
        assert_eq!(page[0].entry.at, t(2), "{n}");
        for sql in [
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)",
        ] {
            let err = b.sql(sql).unwrap_err();
            assert!(err.contains("append-only"), "{n}: {sql}: {err}");
        }
        if b.url.is_some() {
            let err = b.sql("TRUNCATE audit_log").unwrap_err();
            assert!(err.contains("append-only"), "{n}: {err}");
        }
        let all = b.approvals.audit_log(0, 100).unwrap();
        assert_eq!(all.len(), 5, "{n}");
        assert!(all.iter().all(|r| r.entry.actor == "cenoe-editor"), "{n}");
    });
}

#[test]
fn two_replicas_deciding_one_proposal_at_once_make_one_decision() {
    let Some(b) = postgres() else { return };
    let url = b.url.clone().unwrap();
    let (p1, planned) = beira(&b, 1);
    let replicas = [replica(&url), replica(&url)];
    // Rounds on events of their own: approve against approve, then approve against reject.
    for round in 0..6_i64 {
        let event = format!("race-{round}");
        let a = alert(&event, 1, MsgType::Alert, None);
        let mut planned = planned.clone();
        for p in &mut planned {
            p.event_id = event.clone();
            p.outbound.idempotency_key.push_str(&format!(".{event}"));
        }
        let id = propose(&b, None, &a, &p1, None, None, round);
        let start = Arc::new(Barrier::new(2));
        let results: Vec<_> = std::thread::scope(|scope| {
            let hs: Vec<_> = replicas
                .iter()
                .enumerate()
                .map(|(k, r)| {
                    let (start, planned) = (Arc::clone(&start), &planned);
                    scope.spawn(move || {
                        let d = if round % 2 == 1 && k == 1 {
                            Decision::Reject {
                                actor: "officer-2",
                                reason: "não",
                            }
                        } else {
                            approve(if k == 0 { "officer-1" } else { "officer-2" }, planned)
                        };
                        start.wait();
                        r.decide(id, d, t(round)).unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let decided: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(decided.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(Refusal::NotOpen { .. }))),
            "round {round}: {results:?}"
        );
        let p = b.approvals.proposal(id).unwrap().unwrap();
        let queued = b.notify.outbox(Some(&event)).unwrap().len();
        let audits = actions(&b)
            .iter()
            .filter(|(_, what, on)| {
                (what == "approved" || what == "rejected") && *on == format!("proposal {id}")
            })
            .count();
        assert_eq!(audits, 1, "round {round}");
        match p.state {
            ProposalState::Published => {
                assert_eq!(queued, 2, "round {round}");
                assert_eq!(b.store.event_versions(&event).unwrap().len(), 1);
            }
            ProposalState::Rejected => {
                assert_eq!(queued, 0, "round {round}");
                assert!(b.store.event_versions(&event).unwrap().is_empty());
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}
