//! Manual overrides (issue 13) in the approval store, on both backends (the SQLite store
//! and PostgreSQL on a real server): an edited proposal stores its overrides with it in
//! one transaction, each audited; the list filters by event, newest first; an override
//! lapses at its expiry; lifting is audited and happens once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::MsgType;
use aviso::store::Inserted;
use aviso::store::approval::{NewOverride, NewProposal, ProposalState, Refusal};

use crate::store_approval::{EVENT, actions, on_both, propose};
use crate::store_backends::{alert, raw};
use crate::store_notify::{published, t};

fn over(pcode: &str, level: Level, by: &str, expires_h: Option<i64>) -> NewOverride {
    NewOverride {
        event_id: EVENT.into(),
        pcode: pcode.into(),
        level,
        reason: format!("{pcode}: relatório do delegado distrital"),
        instruction_pt: Some("Evacuem as zonas baixas.".into()),
        instruction_en: Some("Evacuate low-lying areas.".into()),
        created_by: by.into(),
        expires_at: expires_h.map(t),
    }
}

#[test]
fn an_edit_stores_its_overrides_with_the_proposal_and_lifting_happens_once_on_both_backends() {
    on_both(|b| {
        let n = b.name;
        let Inserted::New(iss) = b.store.insert_issuance(&raw("rsmc", b"v1")).unwrap() else {
            panic!("{n}: a new issuance")
        };
        let a1 = alert(EVENT, 1, MsgType::Alert, Some(iss));
        let p1 = published(1, MsgType::Alert, &[("MZ1103", Level::Orange)]);
        let first = propose(b, Some(iss), &a1, &p1, None, None, 1);

        // The edit: Quelimane raised to red until hour 30, Namacurra to orange for good.
        let set = [
            over("MZ1103", Level::Red, "editor-1", Some(30)),
            over("MZ1107", Level::Orange, "editor-1", None),
        ];
        let mut a2 = alert(EVENT, 1, MsgType::Alert, None);
        a2.document.push(' ');
        let p2 = published(1, MsgType::Alert, &[("MZ1103", Level::Red)]);
        let edited = b
            .approvals
            .propose(
                None,
                NewProposal {
                    alert: &a2,
                    published: &p2,
                    base: None,
                    edited_by: Some("editor-1"),
                    issuance_id: Some(iss),
                    overrides: &set,
                },
                t(2),
            )
            .unwrap();
        let e = b.approvals.proposal(edited).unwrap().unwrap();
        assert_eq!(
            (e.state, e.edited_by.as_deref(), e.issuance_id),
            (ProposalState::Proposed, Some("editor-1"), Some(iss)),
            "{n}: the edit keeps the issuance it was rebuilt from"
        );
        let old = b.approvals.proposal(first).unwrap().unwrap();
        assert_eq!(
            (old.state, old.superseded_by),
            (ProposalState::Superseded, Some(edited)),
            "{n}"
        );

        let list = b.approvals.overrides(Some(EVENT)).unwrap();
        assert_eq!(list.len(), 2, "{n}");
        assert!(list[0].id > list[1].id, "{n}: newest first");
        let quelimane = list.iter().find(|o| o.set.pcode == "MZ1103").unwrap();
        assert_eq!(quelimane.set, set[0], "{n}: stored as given");
        assert_eq!(
            (quelimane.created_at, quelimane.proposal_id),
            (t(2), Some(edited)),
            "{n}"
        );
        assert!(quelimane.active_at(t(29)), "{n}: active before its expiry");
        assert!(!quelimane.active_at(t(30)), "{n}: lapsed at its expiry");
        assert!(
            b.approvals
                .overrides(Some("other-event"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(b.approvals.overrides(None).unwrap().len(), 2, "{n}");

        let audit = actions(b);
        let set_rows: Vec<_> = audit.iter().filter(|a| a.1 == "override_set").collect();
        assert_eq!(set_rows.len(), 2, "{n}: each override audited: {audit:?}");
        assert!(set_rows.iter().all(|a| a.0 == "editor-1"), "{n}");
        assert!(
            audit.iter().any(|a| a
                == &(
                    "editor-1".into(),
                    "edited".into(),
                    format!("proposal {edited}")
                )),
            "{n}: {audit:?}"
        );

        // Lifting: once, audited; a second lift and an unknown id are refused.
        let id = quelimane.id;
        let lifted = b
            .approvals
            .lift_override(id, "approver-1", Some("o rio baixou"), t(5))
            .unwrap()
            .unwrap();
        assert_eq!(
            (lifted.lifted_by.as_deref(), lifted.lifted_at),
            (Some("approver-1"), Some(t(5))),
            "{n}"
        );
        assert!(
            !lifted.active_at(t(6)),
            "{n}: a lifted override no longer applies"
        );
        assert_eq!(
            b.approvals
                .lift_override(id, "approver-2", None, t(6))
                .unwrap(),
            Err(Refusal::Lifted {
                id,
                by: "approver-1".into()
            }),
            "{n}"
        );
        assert_eq!(
            b.approvals
                .lift_override(id + 1000, "approver-2", None, t(6))
                .unwrap(),
            Err(Refusal::NoOverride { id: id + 1000 }),
            "{n}"
        );
        let audit = actions(b);
        assert_eq!(
            audit
                .iter()
                .filter(|a| a.1 == "override_lifted")
                .collect::<Vec<_>>(),
            vec![&(
                "approver-1".to_string(),
                "override_lifted".to_string(),
                format!("override {id}")
            )],
            "{n}"
        );

        // The schema refuses a level that is not on the ladder.
        let err = b
            .sql(&format!(
                "INSERT INTO overrides (event_id, pcode, level, reason, created_by, created_at)
                 VALUES ('{EVENT}', 'MZ1103', 'purple', 'x', 'y', '2023-03-10T00:00:00.000000Z')"
            ))
            .unwrap_err();
        assert!(err.to_lowercase().contains("check"), "{n}: {err}");
    });
}
