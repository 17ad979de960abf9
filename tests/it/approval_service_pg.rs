//! The duty officer decides on PostgreSQL (issues 13 and 15), through two real
//! `aviso serve` replicas on one test database (common::pg) with approval_service.rs's
//! feed, SMTP server, SMS gateway and tokens: Freddy's forecast becomes a proposal both
//! replicas list, nothing public and nothing queued; the officer approves it on both
//! replicas at the same moment and exactly one approval publishes it (the other is a 409);
//! both replicas then serve exactly the reviewed CAP, the subscriber gets one SMS and one
//! e-mail, and the audit trail (in PostgreSQL) holds the proposal and one approval with
//! the SHA-256 of what went out.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use serde_json::{Value, json};

use crate::approval_service::{OFFICER, Setup, VIEWER, actions, subscribe, until};
use crate::common::pg;
use crate::notify_support::{read_maildir, sha256_hex};

fn first_actual(listed: &Value) -> Option<Value> {
    listed["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "Actual")
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_one_of_two_replicas_approving_at_once_publishes_for_both() {
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let Some(setup) = Setup::new(Some(&url)).await else {
        return;
    };
    let (_one, api) = setup.start();
    let (_two, api2) = setup.start();
    subscribe(&api).await;

    // The forecast is a proposal, listed by both replicas; nothing public, nothing queued.
    let listed = until(&api2, "/api/admin/proposals", VIEWER, |v| {
        first_actual(v).is_some()
    })
    .await;
    let proposal = first_actual(&listed).unwrap();
    let id = proposal["id"].as_i64().unwrap();
    assert_eq!(proposal["state"], "proposed");
    let (s, same) = api
        .get(&format!("/api/admin/proposals/{id}"), Some(VIEWER))
        .await;
    assert_eq!(s, 200, "{same}");
    assert_eq!(same["proposal"]["state"], "proposed", "{same}");
    for a in [&api, &api2] {
        let (_, public) = a.get("/api/alerts", None).await;
        assert_eq!(public["count"], 0, "nothing public yet: {public}");
        let (_, outbox) = a.get("/api/admin/outbox", Some(VIEWER)).await;
        assert_eq!(outbox["total"], 0, "nothing queued: {outbox}");
    }
    assert_eq!(
        pg::psql(&url, "SELECT count(*) FROM alerts WHERE status = 'Actual'"),
        "0"
    );
    let reviewed_cap = api
        .c
        .get(format!("{}/api/admin/proposals/{id}/cap", api.base))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reviewed_cap.contains("<status>Actual</status>"));
    assert_eq!(setup.got.lock().unwrap().sms.len(), 0, "nothing sent");

    // Both replicas approve at once: one decision.
    let path = format!("/api/admin/proposals/{id}/approve");
    let note = json!({"note": "confirmado com o RSMC"});
    let ((s1, v1), (s2, v2)) = tokio::join!(
        api.post_json(&path, Some(OFFICER), &note),
        api2.post_json(&path, Some(OFFICER), &note)
    );
    let mut statuses = [s1, s2];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{v1} {v2}");
    let (won, lost) = if s1 == 200 { (&v1, &v2) } else { (&v2, &v1) };
    assert_eq!(won["messages_queued"], 2, "one SMS and one e-mail: {won}");
    assert!(
        lost["description"]
            .as_str()
            .unwrap()
            .contains("published, not proposed"),
        "{lost}"
    );

    // Both replicas serve exactly the reviewed version (the other follows the database).
    let alert_id = won["proposal"]["alert_id"].as_str().unwrap().to_string();
    for a in [&api, &api2] {
        let public = until(a, "/api/alerts", VIEWER, |v| v["count"] == 1).await;
        assert_eq!(public["alerts"][0]["id"], alert_id.as_str(), "{public}");
        let cap = a.text(&format!("/api/alerts/{alert_id}/cap")).await;
        assert_eq!(cap, reviewed_cap, "what went out is what was reviewed");
    }

    // One SMS and one e-mail, whichever replica's worker sent them.
    api.settled().await;
    api2.settled().await;
    let sms = setup.got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].0, "+258845550101");
    assert_eq!(read_maildir(&setup.smtpd.maildir).len(), 1);

    // The audit trail, from either replica: proposed, approved once, with the hash.
    let audit = until(&api2, "/api/admin/audit?limit=10000", VIEWER, |_| true).await;
    let steps = actions(&audit);
    let subject = format!("proposal {id}");
    assert!(
        steps.contains(&("aviso".into(), "proposed".into(), subject.clone())),
        "{steps:?}"
    );
    let approvals: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "approved" && e["subject"] == subject.as_str())
        .collect();
    assert_eq!(approvals.len(), 1, "{steps:?}");
    assert_eq!(approvals[0]["actor"], "duty-officer");
    assert_eq!(approvals[0]["cap_sha256"], sha256_hex(&reviewed_cap));
    assert_eq!(
        pg::psql(
            &url,
            &format!("SELECT state FROM proposals WHERE id = {id}")
        ),
        "published"
    );
}
