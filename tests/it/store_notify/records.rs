//! The outbox's records on both backends: a version and its messages committed together
//! or not at all, attempts (retry, failure, delivery) and their counts, SMS delivery
//! reports, and a subscriber's erasure (the rows keep their counts and lose the person).

use std::collections::BTreeMap;

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::MsgType;
use aviso::notify::config::NotifyConfig;
use aviso::notify::dispatch::enqueue_version;
use aviso::notify::dlr::{DeliveryReport, DlrState};
use aviso::notify::select::NoGeometry;
use aviso::store::notify::{AttemptOutcome, AttemptRecord};

use super::{delivered, on_both, published, sub, t};
use crate::store_backends::{alert, raw};

#[test]
fn a_version_and_its_messages_commit_together_or_not_at_all_on_both_backends() {
    on_both(|b| {
        let (s, n) = (b.notify.as_ref(), b.name);
        for (id, phone) in [("a", "+258841111111"), ("b", "+258842222222")] {
            s.create_subscriber(&sub(id, phone, "MZ0906"), t(0))
                .unwrap();
        }
        let cfg = NotifyConfig::default();
        let v1 = published(1, MsgType::Alert, &[("MZ0906", Level::Red)]);
        let planned = aviso::notify::dispatch::plan_version(s, &v1, &cfg, &NoGeometry).unwrap();
        assert_eq!(planned.len(), 2, "{n}");
        let aviso::store::Inserted::New(i1) =
            b.store.insert_issuance(&raw("rsmc", b"one")).unwrap()
        else {
            panic!("{n}: a new issuance")
        };
        let event = "swi-07-20222023";
        let one = alert(event, 1, MsgType::Alert, Some(i1));
        assert_eq!(
            s.complete_issuance_enqueue(i1, &[], std::slice::from_ref(&one), &planned, t(6))
                .unwrap(),
            2,
            "{n}"
        );
        // A version that cannot be stored (its number taken) takes its messages with it,
        // and its issuance stays pending.
        let aviso::store::Inserted::New(i2) =
            b.store.insert_issuance(&raw("rsmc", b"two")).unwrap()
        else {
            panic!("{n}: a new issuance")
        };
        let mut again = planned.clone();
        for p in &mut again {
            p.outbound.idempotency_key.push_str(".2");
        }
        let dup = alert(event, 1, MsgType::Update, Some(i2));
        assert!(
            s.complete_issuance_enqueue(i2, &[], std::slice::from_ref(&dup), &again, t(12))
                .is_err(),
            "{n}"
        );
        assert_eq!(s.outbox(None).unwrap().len(), 2, "{n}: no message for it");
        assert_eq!(b.store.pending_issuances().unwrap().len(), 1, "{n}");
        // So does a Cancel published outside an issuance, the second time.
        let cancel = alert(event, 2, MsgType::Cancel, Some(i1));
        assert_eq!(
            s.publish_alert_enqueue(&cancel, &again, t(18)).unwrap(),
            2,
            "{n}"
        );
        let mut third = planned.clone();
        for p in &mut third {
            p.outbound.idempotency_key.push_str(".3");
        }
        assert!(
            s.publish_alert_enqueue(&cancel, &third, t(18)).is_err(),
            "{n}"
        );
        assert_eq!(s.outbox(None).unwrap().len(), 4, "{n}");
        assert_eq!(b.store.event_versions(event).unwrap().len(), 2, "{n}");
        // Messages already queued (same keys) are not queued twice.
        assert_eq!(s.enqueue(&planned, t(19)).unwrap(), 0, "{n}");
    });
}

#[test]
fn retries_failures_and_delivery_reports_are_recorded_on_both_backends() {
    on_both(|b| {
        let (s, n) = (b.notify.as_ref(), b.name);
        for (id, phone) in [("a", "+258841111111"), ("b", "+258842222222")] {
            s.create_subscriber(&sub(id, phone, "MZ0906"), t(0))
                .unwrap();
        }
        let v1 = published(1, MsgType::Alert, &[("MZ0906", Level::Red)]);
        enqueue_version(s, &v1, &NotifyConfig::default(), &NoGeometry, t(6)).unwrap();
        let rows = s.claim_due(t(6), 30.0, 10).unwrap();
        assert_eq!(rows.len(), 2, "{n}");
        let of = |id: &str| rows.iter().find(|r| r.message.subscriber_id == id).unwrap();
        let (ra, rb) = (of("a"), of("b"));
        // a: 502, retried later, then delivered; b: refused for good.
        s.record_attempt(&AttemptRecord {
            outbox_id: ra.id,
            attempt: 1,
            started_at: t(6),
            finished_at: t(6),
            outcome: AttemptOutcome::Retry {
                status_code: Some(502),
                error: "HTTP 502".into(),
                next_attempt_at: t(7),
            },
        })
        .unwrap();
        s.record_attempt(&AttemptRecord {
            outbox_id: rb.id,
            attempt: 1,
            started_at: t(6),
            finished_at: t(6),
            outcome: AttemptOutcome::Failed {
                status_code: Some(400),
                error: "HTTP 400 Bad Request".into(),
            },
        })
        .unwrap();
        assert_eq!(s.next_due().unwrap(), Some(t(7)), "{n}");
        assert!(s.claim_due(t(6), 30.0, 10).unwrap().is_empty(), "{n}");
        let again = s.claim_due(t(7), 30.0, 10).unwrap();
        assert_eq!(again.len(), 1, "{n}");
        assert_eq!(again[0].last_error.as_deref(), Some("HTTP 502"), "{n}");
        s.record_attempt(&delivered(ra.id, 2, t(7), "gw-a"))
            .unwrap();
        let tries = s.attempts(ra.id).unwrap();
        assert_eq!(tries.len(), 2, "{n}");
        assert!(
            matches!(
                tries[0].outcome,
                AttemptOutcome::Retry {
                    status_code: Some(502),
                    ..
                }
            ),
            "{n}"
        );
        let counts = s.outbox_counts().unwrap();
        let by_state: BTreeMap<String, i64> = counts
            .iter()
            .map(|(_, st, c)| (st.as_str().to_string(), *c))
            .collect();
        assert_eq!(by_state.get("delivered"), Some(&1), "{n}: {counts:?}");
        assert_eq!(by_state.get("failed"), Some(&1), "{n}: {counts:?}");
        let attempts: BTreeMap<String, i64> = s
            .attempt_counts()
            .unwrap()
            .into_iter()
            .map(|(_, o, c)| (o, c))
            .collect();
        assert_eq!(
            attempts,
            BTreeMap::from([
                ("delivered".to_string(), 1),
                ("failed".to_string(), 1),
                ("retry".to_string(), 1)
            ]),
            "{n}"
        );

        // Delivery reports: a final state is not undone by a later in-transit one, and
        // the number quoted in a reason is masked.
        let report = |state, reason: Option<&str>| DeliveryReport {
            gateway_id: "gw-a".into(),
            status: "status".into(),
            state,
            reason: reason.map(str::to_string),
        };
        let got = s
            .record_delivery_report(
                &report(DlrState::Undelivered, Some("absent +258841111111")),
                t(8),
            )
            .unwrap()
            .unwrap();
        assert!(got.applied, "{n}");
        assert_eq!(got.outbox_id, ra.id, "{n}");
        assert!(
            !got.reason.as_deref().unwrap().contains("841111111"),
            "{n}: {got:?}"
        );
        let late = s
            .record_delivery_report(&report(DlrState::InTransit, None), t(9))
            .unwrap()
            .unwrap();
        assert!(!late.applied, "{n}");
        assert_eq!(late.state, DlrState::Undelivered, "{n}");
        let nobody = DeliveryReport {
            gateway_id: "gw-unknown".into(),
            ..report(DlrState::Delivered, None)
        };
        assert!(
            s.record_delivery_report(&nobody, t(9)).unwrap().is_none(),
            "{n}"
        );
        let row = s
            .outbox(None)
            .unwrap()
            .into_iter()
            .find(|r| r.id == ra.id)
            .unwrap();
        let d = row.delivery.unwrap();
        assert_eq!((d.state, d.at), (DlrState::Undelivered, t(8)), "{n}");
        assert_eq!(
            s.delivery_report_counts().unwrap(),
            [(Some(DlrState::Undelivered), 1)],
            "{n}"
        );
    });
}

#[test]
fn an_erased_subscriber_keeps_counts_and_loses_data_on_both_backends() {
    on_both(|b| {
        let (s, n) = (b.notify.as_ref(), b.name);
        let phone = "+258841111111";
        s.create_subscriber(&sub("beira", phone, "MZ0906"), t(0))
            .unwrap();
        s.create_subscriber(&sub("dondo", "+258843333333", "MZ0906"), t(0))
            .unwrap();
        let cfg = NotifyConfig::default();
        let v1 = published(1, MsgType::Alert, &[("MZ0906", Level::Red)]);
        enqueue_version(s, &v1, &cfg, &NoGeometry, t(6)).unwrap();
        let claimed = s.claim_due(t(6), 30.0, 10).unwrap();
        let beira = claimed
            .iter()
            .find(|r| r.message.subscriber_id == "beira")
            .unwrap();
        s.record_attempt(&AttemptRecord {
            outbox_id: beira.id,
            attempt: 1,
            started_at: t(6),
            finished_at: t(6),
            outcome: AttemptOutcome::Delivered {
                gateway_id: Some("gw-1".into()),
                status: format!("accepted for {phone}"),
            },
        })
        .unwrap();
        let v2 = published(2, MsgType::Cancel, &[]);
        enqueue_version(s, &v2, &cfg, &NoGeometry, t(12)).unwrap();
        s.unsubscribe_phone(phone, t(13)).unwrap();

        let r = s
            .erase_subscriber("beira", "admin", t(14))
            .unwrap()
            .unwrap();
        assert_eq!(r.messages_scrubbed, 2, "{n}: {r:?}");
        assert_eq!(r.messages_failed, 0, "{n}: the Cancel had failed at STOP");
        assert_eq!(r.attempts_scrubbed, 1, "{n}");
        assert_eq!(r.sms_optouts_kept, 1, "{n}");
        assert!(r.checkpointed, "{n}");
        assert!(
            s.erase_subscriber("beira", "admin", t(14))
                .unwrap()
                .is_none(),
            "{n}"
        );
        assert!(s.subscriber("beira").unwrap().is_none(), "{n}");
        assert!(
            s.sms_optouts().unwrap().is_empty(),
            "{n}: kept as a digest only"
        );
        let rows = s.outbox(None).unwrap();
        assert_eq!(rows.len(), 4, "{n}: the rows stay");
        for r in rows.iter().filter(|r| r.message.subscriber_id == "beira") {
            let text = serde_json::to_string(&r.message).unwrap();
            assert!(!text.contains("841111111"), "{n}: {text}");
            assert!(r.message.idempotency_key.contains("erased-"), "{n}");
        }
        let answer = s.attempts(beira.id).unwrap();
        assert!(
            matches!(&answer[0].outcome, AttemptOutcome::Delivered { status, .. } if !status.contains("841111111")),
            "{n}: {answer:?}"
        );
        // The number comes back in a spreadsheet: its STOP holds.
        s.import_subscribers(&[sub("beira2", phone, "MZ0906")], t(15))
            .unwrap();
        assert!(s.sms_optouts().unwrap().contains(phone), "{n}");
        let again = s.resubscribe_phone(phone, t(16)).unwrap();
        assert!(again.was_opted_out, "{n}");
    });
}
