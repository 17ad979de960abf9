//! The deadline of a proposal (issue 13), through the real `aviso serve` binary with
//! approval_service.rs's feed, SMTP server (aiosmtpd), SMS gateway and tokens: Freddy's
//! first Actual proposal (red districts) waits past `[approval.reminders] after_min`; the
//! on-call approver gets exactly one e-mail and one SMS per round, naming the event and
//! the /ops page; nothing is published and the subscriber gets nothing; once approved, no
//! more reminders. On PostgreSQL, two replicas check the same proposal and each round
//! still goes out once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::approval_service::{OFFICER, Setup, VIEWER, subscribe, until};
use crate::common::pg;
use crate::notify_support::{Api, read_maildir};

const ON_CALL_PHONE: &str = "+258845550199";
const ON_CALL_EMAIL: &str = "plantao@ingd.example.org";
const SUBSCRIBER_PHONE: &str = "+258845550101";
/// First round 3 s after the proposal, then every 9 s (the check runs every second).
const AFTER_MIN: f64 = 0.05;
const REPEAT_MIN: f64 = 0.15;

fn with_reminders(setup: &Setup) {
    let mut text = std::fs::read_to_string(&setup.config).unwrap();
    text.push_str(&format!(
        "[approval.reminders]\nafter_min = {AFTER_MIN}\nrepeat_min = {REPEAT_MIN}\n\
         [[approval.on_call]]\nname = \"duty-officer\"\nemail = \"{ON_CALL_EMAIL}\"\n\
         phone = \"{ON_CALL_PHONE}\"\n"
    ));
    std::fs::write(&setup.config, text).unwrap();
}

/// The "reminded" audit rows of `subject`.
async fn reminded(api: &Api, subject: &str) -> Vec<Value> {
    let audit = until(api, "/api/admin/audit?limit=10000", VIEWER, |_| true).await;
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "reminded" && e["subject"] == subject)
        .cloned()
        .collect()
}

/// (SMS to the on-call phone as (text, key), e-mails to the on-call address).
fn on_call_messages(setup: &Setup) -> (Vec<(String, String)>, Vec<Value>) {
    let sms = setup
        .got
        .lock()
        .unwrap()
        .sms
        .iter()
        .filter(|s| s.0 == ON_CALL_PHONE)
        .map(|s| (s.1.clone(), s.2.clone()))
        .collect();
    let mails = read_maildir(&setup.smtpd.maildir)
        .into_iter()
        .filter(|m| m["rcpt"].as_str().unwrap().contains(ON_CALL_EMAIL))
        .collect();
    (sms, mails)
}

async fn reminders_until_approved(store: Option<&str>, replicas: usize) {
    let Some(setup) = Setup::new(store).await else {
        return;
    };
    with_reminders(&setup);
    let running: Vec<_> = (0..replicas).map(|_| setup.start()).collect();
    let apis: Vec<&Api> = running.iter().map(|(_, a)| a).collect();
    let api = apis[0];
    subscribe(api).await;

    let listed = until(api, "/api/admin/proposals", VIEWER, |v| {
        v["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "Actual")
    })
    .await;
    let p = listed["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "Actual")
        .unwrap()
        .clone();
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["max_level"], "red", "Freddy's first forecast: {p}");
    let subject = format!("proposal {id}");

    // Two rounds go out while the proposal waits.
    let t0 = std::time::Instant::now();
    while reminded(api, &subject).await.len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no second round: {:?}",
            reminded(api, &subject).await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for a in &apis {
        a.settled().await;
    }
    let rows = reminded(api, &subject).await;
    let (sms, mails) = on_call_messages(&setup);
    // Exactly one SMS and one e-mail per audited round, each round once.
    assert_eq!(sms.len(), rows.len(), "{sms:?} {rows:?}");
    assert_eq!(mails.len(), rows.len(), "{mails:?} {rows:?}");
    let rounds: BTreeSet<u64> = rows
        .iter()
        .map(|r| r["detail"]["round"].as_u64().unwrap())
        .collect();
    assert_eq!(rounds.len(), rows.len(), "a round audited twice: {rows:?}");
    assert!(rounds.contains(&1) && rounds.contains(&2), "{rows:?}");
    for r in &rows {
        assert_eq!(r["actor"], "aviso");
        assert_eq!(r["detail"]["recipients"], 1, "{r}");
        assert_eq!(r["detail"]["messages"], 2, "{r}");
        assert_eq!(r["detail"]["level"], "red", "{r}");
    }
    let keys: BTreeSet<&str> = sms.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(keys.len(), sms.len(), "one key per round: {sms:?}");
    for k in &keys {
        assert_eq!(setup.got.lock().unwrap().keys[*k], 1, "{k} sent twice");
    }
    for (text, key) in &sms {
        assert!(text.contains("FREDDY") && text.contains("/ops"), "{text}");
        assert!(key.contains(&format!("proposal-{id}-reminder")), "{key}");
    }
    for m in &mails {
        assert!(m["subject"].as_str().unwrap().contains("FREDDY"), "{m}");
        let body = m["parts"][0].as_str().unwrap();
        // The link of the replica that queued it (one public_url in production).
        assert!(
            apis.iter()
                .any(|a| body.contains(&format!("{}/ops", a.base))),
            "{body}"
        );
    }
    // Nothing published, nothing to the subscriber.
    for a in &apis {
        let (_, public) = a.get("/api/alerts", None).await;
        assert_eq!(public["count"], 0, "a reminder publishes nothing: {public}");
    }
    let to_subscriber = |setup: &Setup| {
        setup
            .got
            .lock()
            .unwrap()
            .sms
            .iter()
            .filter(|s| s.0 == SUBSCRIBER_PHONE)
            .count()
    };
    assert_eq!(to_subscriber(&setup), 0);
    let (_, prop) = api
        .get(&format!("/api/admin/proposals/{id}"), Some(VIEWER))
        .await;
    assert_eq!(prop["proposal"]["state"], "proposed", "{prop}");

    // Approved: the subscriber gets the alert, the approver no more reminders.
    let (s, v) = api
        .post_json(
            &format!("/api/admin/proposals/{id}/approve"),
            Some(OFFICER),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // A round being queued at the moment of approval may still land: count after it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = reminded(api, &subject).await.len();
    tokio::time::sleep(Duration::from_secs_f64(REPEAT_MIN * 60.0 + 3.0)).await;
    for a in &apis {
        a.settled().await;
    }
    let after = reminded(api, &subject).await;
    assert_eq!(after.len(), before, "reminded after approval: {after:?}");
    let (sms, mails) = on_call_messages(&setup);
    assert_eq!(sms.len(), before, "{sms:?}");
    assert_eq!(mails.len(), before);
    assert_eq!(to_subscriber(&setup), 1, "the approved alert goes out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_proposal_past_its_deadline_reminds_the_on_call_approver_until_approved() {
    reminders_until_approved(None, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_two_replicas_send_each_reminder_round_once() {
    let Some(url) = pg::fresh_database() else {
        return;
    };
    reminders_until_approved(Some(&url), 2).await;
}
