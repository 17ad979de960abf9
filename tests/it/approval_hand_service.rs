//! A Cancel or an Error sent by hand, and held notifications (issue 13 §3), through the
//! real `aviso serve` binary on Freddy's replay (real SMTP, the local SMS gateway), with
//! approval_service.rs's site and tokens:
//! - the duty officer cancels Freddy's published alert with a reason in pt and en: a
//!   proposal made by them, which sends nothing, references the published version and
//!   which they may not approve themselves (four eyes); a second approver publishes it,
//!   the gateway gets exactly one all-clear SMS, the event is inactive; the next forecast
//!   is a new Alert, and the officer withdraws it with an Error that again reaches the
//!   gateway once after the second approver approves it; every refusal is a 4xx naming
//!   the problem, and the audit trail holds each step (on SQLite and on PostgreSQL);
//! - a hold: the approved version is published (API, CAP) but nothing is queued, the
//!   review says so with the reason, the audit trail records the hold, the held
//!   publication and the lift; after the lift the next version notifies as usual.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use serde_json::{Value, json};

use crate::approval_service::{EDITOR, OFFICER, Setup, VIEWER, actions, subscribe, until};
use crate::approval_site::SECOND_APPROVER;
use crate::notify_support::{Api, read_maildir};

/// The open Actual proposal once one other than `not` is listed.
async fn open_actual(api: &Api, not: Option<i64>) -> Value {
    let listed = until(api, "/api/admin/proposals", VIEWER, |v| {
        v["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "Actual" && p["id"].as_i64() != not)
    })
    .await;
    listed["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "Actual" && p["id"].as_i64() != not)
        .unwrap()
        .clone()
}

async fn approve(api: &Api, id: i64, token: &str) -> (u16, Value) {
    api.post_json(
        &format!("/api/admin/proposals/{id}/approve"),
        Some(token),
        &json!({}),
    )
    .await
}

async fn review(api: &Api, id: i64) -> Value {
    let (s, v) = api
        .get(&format!("/api/admin/proposals/{id}"), Some(VIEWER))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn proposal_cap(api: &Api, id: i64) -> String {
    api.c
        .get(format!("{}/api/admin/proposals/{id}/cap", api.base))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn sms_count(setup: &Setup) -> usize {
    setup.got.lock().unwrap().sms.len()
}

fn description(v: &Value) -> String {
    v["description"].as_str().unwrap_or_default().to_string()
}

const CANCEL_PT: &str = "O RSMC confirmou que o FREDDY se afastou da costa";
const CANCEL_EN: &str = "RSMC confirmed FREDDY moved away from the coast";
const ERROR_PT: &str = "Alerta emitido com a previsão de outra tempestade";
const ERROR_EN: &str = "Alert issued from the forecast of another storm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_cancels_then_withdraws_as_error_and_a_second_approver_publishes_each() {
    hand_case(None).await;
}

/// The same on PostgreSQL, on a fresh test database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_hand_made_cancel_and_error_publish_after_a_second_approver() {
    let Some(url) = crate::common::pg::fresh_database() else {
        return;
    };
    hand_case(Some(&url)).await;
}

async fn hand_case(store: Option<&str>) {
    let Some(setup) = Setup::new(store).await else {
        return;
    };
    let (_service, api) = setup.start();
    subscribe(&api).await;
    let first = open_actual(&api, None).await;
    let first_id = first["id"].as_i64().unwrap();
    let event = first["event_id"].as_str().unwrap().to_string();
    let cancel = format!("/api/admin/events/{event}/cancel");
    let error = format!("/api/admin/events/{event}/error");
    let reasons = |pt: &str, en: &str| json!({"reason_pt": pt, "reason_en": en});

    // Nothing published yet: nothing to cancel (reject the proposal instead).
    let (s, v) = api
        .post_json(&cancel, Some(OFFICER), &reasons(CANCEL_PT, CANCEL_EN))
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(description(&v).contains("no published version"), "{v}");

    // The first version is approved and published: one SMS.
    let (s, v) = approve(&api, first_id, OFFICER).await;
    assert_eq!(s, 200, "{v}");
    api.settled().await;
    assert_eq!(sms_count(&setup), 1);
    let (_, public) = api.get("/api/alerts", None).await;
    let published_id = public["alerts"][0]["id"].as_str().unwrap().to_string();

    // Refusals, each naming the problem; the role first.
    let (s, v) = api
        .post_json(&cancel, Some(EDITOR), &reasons(CANCEL_PT, CANCEL_EN))
        .await;
    assert_eq!(s, 403, "an editor cannot cancel: {v}");
    assert!(description(&v).contains("approver"), "{v}");
    let (s, v) = api
        .post_json(&cancel, Some(OFFICER), &reasons(CANCEL_PT, " "))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("reason_en"), "{v}");
    let (s, v) = api
        .post_json(&error, Some(OFFICER), &json!({"reason_en": ERROR_EN}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("reason_pt"), "{v}");
    let (s, v) = api
        .post_json(
            "/api/admin/events/no-such-storm/cancel",
            Some(OFFICER),
            &reasons(CANCEL_PT, CANCEL_EN),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    assert!(description(&v).contains("no-such-storm"), "{v}");

    // The Cancel: a proposal made by the officer, sending nothing yet.
    let (s, v) = api
        .post_json(&cancel, Some(OFFICER), &reasons(CANCEL_PT, CANCEL_EN))
        .await;
    assert_eq!(s, 201, "{v}");
    let cancel_id = v["proposal"]["id"].as_i64().unwrap();
    assert_eq!(v["proposal"]["msg_type"], "Cancel", "{v}");
    assert_eq!(v["proposal"]["edited_by"], "duty-officer", "{v}");
    assert_eq!(v["proposal"]["base"], published_id.as_str(), "{v}");
    assert_eq!(v["proposal"]["version"], 2, "the next version, no gap: {v}");
    let r = review(&api, cancel_id).await;
    assert!(r["districts"].as_array().unwrap().is_empty(), "{r}");
    assert!(
        r["alert"]["references"]
            .as_str()
            .unwrap()
            .contains(&published_id),
        "{r}"
    );
    let m = &r["messages"];
    assert_eq!(
        (&m["by_channel"]["sms"], &m["by_channel"]["email"]),
        (&json!(1), &json!(1)),
        "the subscriber told a level gets the all-clear: {m}"
    );
    let sms_text = m["sms"][0]["text"].as_str().unwrap().to_string();
    assert!(
        sms_text.to_lowercase().starts_with("fim do alerta") && sms_text.contains(CANCEL_PT),
        "the all-clear with the reason: {sms_text}"
    );
    let cap = proposal_cap(&api, cancel_id).await;
    assert!(cap.contains("<msgType>Cancel</msgType>"), "{cap}");
    assert!(
        cap.contains(&format!(",{published_id},")),
        "references the published version: {cap}"
    );
    assert!(
        cap.contains(CANCEL_PT) && cap.contains(CANCEL_EN),
        "the reason in both languages: {cap}"
    );
    let (_, outbox) = api.get("/api/admin/outbox", Some(VIEWER)).await;
    assert_eq!(outbox["total"], 2, "nothing more queued: {outbox}");

    // Four eyes: the officer may not approve their own Cancel; the second approver does.
    let (s, v) = approve(&api, cancel_id, OFFICER).await;
    assert_eq!(s, 403, "{v}");
    assert!(description(&v).contains("four eyes"), "{v}");
    let (s, v) = approve(&api, cancel_id, SECOND_APPROVER).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["messages_queued"], 2, "{v}");
    api.settled().await;
    let sms = setup.got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 2, "exactly one more SMS: {sms:?}");
    assert_eq!(sms[1].1, sms_text, "the gateway got the reviewed SMS");
    let mails = read_maildir(&setup.smtpd.maildir);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails[1].to_string().contains(CANCEL_PT), "{:?}", mails[1]);
    let (_, active) = api.get("/api/alerts", None).await;
    assert_eq!(active["count"], 0, "the event is over: {active}");
    let r = review(&api, cancel_id).await;
    assert_eq!(r["messages"]["published"], true, "{r}");
    assert_eq!(r["messages"]["total"], 2, "what was queued: {r}");
    let (s, v) = api
        .post_json(&cancel, Some(OFFICER), &reasons(CANCEL_PT, CANCEL_EN))
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(description(&v).contains("msgType Cancel"), "{v}");

    // The next forecast is a new Alert (numbering goes on), approved; then withdrawn as
    // an Error.
    setup.serve_issuance(1);
    let next = open_actual(&api, Some(cancel_id)).await;
    let next_id = next["id"].as_i64().unwrap();
    assert_eq!(
        (&next["msg_type"], &next["version"]),
        (&json!("Alert"), &json!(3)),
        "{next}"
    );
    let (s, v) = approve(&api, next_id, OFFICER).await;
    assert_eq!(s, 200, "{v}");
    api.settled().await;
    assert_eq!(sms_count(&setup), 3);
    let (s, v) = api
        .post_json(&error, Some(OFFICER), &reasons(ERROR_PT, ERROR_EN))
        .await;
    assert_eq!(s, 201, "{v}");
    let error_id = v["proposal"]["id"].as_i64().unwrap();
    assert_eq!(v["proposal"]["msg_type"], "Error", "{v}");
    assert_eq!(v["proposal"]["version"], 4, "{v}");
    let cap = proposal_cap(&api, error_id).await;
    let v3 = v["proposal"]["base"].as_str().unwrap().to_string();
    assert!(cap.contains("<msgType>Error</msgType>"), "{cap}");
    assert!(cap.contains(&format!(",{v3},")), "{cap}");
    assert!(cap.contains(ERROR_PT) && cap.contains(ERROR_EN), "{cap}");
    let r = review(&api, error_id).await;
    let error_sms = r["messages"]["sms"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error_sms
            .to_lowercase()
            .starts_with("alerta retirado (erro)")
            && error_sms.contains("Alerta emitido com a previs"),
        "{error_sms}"
    );
    let (s, v) = approve(&api, error_id, OFFICER).await;
    assert_eq!(s, 403, "four eyes: {v}");
    assert_eq!(sms_count(&setup), 3, "nothing sent before approval");
    let (s, v) = approve(&api, error_id, SECOND_APPROVER).await;
    assert_eq!(s, 200, "{v}");
    api.settled().await;
    let sms = setup.got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 4, "exactly one more SMS: {sms:?}");
    assert_eq!(sms[3].1, error_sms);
    let (_, active) = api.get("/api/alerts", None).await;
    assert_eq!(active["count"], 0, "withdrawn: {active}");
    let (_, all) = api.get("/api/alerts?status=all", None).await;
    let errored = all["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["msg_type"] == "Error")
        .unwrap_or_else(|| panic!("the Error is public: {all}"));
    assert_eq!(errored["active"], false, "{errored}");
    let (s, v) = api
        .post_json(&error, Some(OFFICER), &reasons(ERROR_PT, ERROR_EN))
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(description(&v).contains("msgType Error"), "{v}");

    let (_, audit) = api.get("/api/admin/audit", Some(VIEWER)).await;
    let acts = actions(&audit);
    for (who, what, subject) in [
        (
            "duty-officer",
            "cancel_requested",
            format!("proposal {cancel_id}"),
        ),
        (
            "second-approver",
            "approved",
            format!("proposal {cancel_id}"),
        ),
        (
            "duty-officer",
            "error_requested",
            format!("proposal {error_id}"),
        ),
        (
            "second-approver",
            "approved",
            format!("proposal {error_id}"),
        ),
    ] {
        assert!(
            acts.iter()
                .any(|a| a.0 == who && a.1 == what && a.2 == subject),
            "{who} {what} {subject} missing: {acts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_event_is_published_without_messages_and_notifies_again_after_the_lift() {
    hold_case(None).await;
}

/// The same on PostgreSQL (migration 7), on a fresh test database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_held_event_is_published_without_messages() {
    let Some(url) = crate::common::pg::fresh_database() else {
        return;
    };
    hold_case(Some(&url)).await;
}

async fn hold_case(store: Option<&str>) {
    let Some(setup) = Setup::new(store).await else {
        return;
    };
    let (_service, api) = setup.start();
    subscribe(&api).await;
    let first = open_actual(&api, None).await;
    let first_id = first["id"].as_i64().unwrap();
    let event = first["event_id"].as_str().unwrap().to_string();
    let hold = format!("/api/admin/events/{event}/hold");
    let lift = format!("/api/admin/events/{event}/hold/lift");
    let reason = "SMS em revisão com a operadora: não enviar até confirmação";

    // Refusals first: the role, the reason, a past expiry, nothing to lift.
    let (s, v) = api
        .post_json(&hold, Some(EDITOR), &json!({"reason": reason}))
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = api
        .post_json(&hold, Some(OFFICER), &json!({"reason": "  "}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("reason"), "{v}");
    let (s, v) = api
        .post_json(
            &hold,
            Some(OFFICER),
            &json!({"reason": reason, "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("expires_at"), "{v}");
    let (s, v) = api.post_json(&lift, Some(OFFICER), &json!({})).await;
    assert_eq!(s, 409, "{v}");
    assert!(description(&v).contains("not held"), "{v}");

    let (s, v) = api
        .post_json(&hold, Some(OFFICER), &json!({"reason": reason}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["hold"]["active"], true, "{v}");
    let (s, v) = api
        .post_json(&hold, Some(SECOND_APPROVER), &json!({"reason": reason}))
        .await;
    assert_eq!(s, 409, "held once: {v}");
    assert!(description(&v).contains("held already"), "{v}");

    // The review says the messages are held, with the reason (not a silent zero).
    let r = review(&api, first_id).await;
    let m = &r["messages"];
    assert_eq!(m["total"], 0, "{m}");
    assert_eq!(m["held"]["reason"], reason, "{m}");
    assert_eq!(m["withheld"], 2, "one SMS and one e-mail withheld: {m}");

    // Approved: public, with its CAP, but nothing queued or sent.
    let (s, v) = approve(&api, first_id, OFFICER).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["messages_queued"], 0, "{v}");
    let alert_id = v["alert_id"].as_str().unwrap().to_string();
    let (_, public) = api.get("/api/alerts", None).await;
    assert_eq!(public["count"], 1, "{public}");
    let cap = api.text(&format!("/api/alerts/{alert_id}/cap")).await;
    assert!(cap.contains("<msgType>Alert</msgType>"), "{cap}");
    api.settled().await;
    let (_, outbox) = api.get("/api/admin/outbox", Some(VIEWER)).await;
    assert_eq!(outbox["total"], 0, "nothing queued: {outbox}");
    assert_eq!(sms_count(&setup), 0);
    let r = review(&api, first_id).await;
    assert_eq!(
        (&r["messages"]["published"], &r["messages"]["total"]),
        (&json!(true), &json!(0)),
        "{r}"
    );
    assert_eq!(r["messages"]["held"]["reason"], reason, "{r}");

    // Lifted: nothing sent retroactively; the next version notifies as usual.
    let (s, v) = api
        .post_json(
            &lift,
            Some(SECOND_APPROVER),
            &json!({"reason": "operadora confirmou"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["hold"]["active"], false, "{v}");
    let (_, holds) = api
        .get(&format!("/api/admin/holds?event={event}"), Some(VIEWER))
        .await;
    assert_eq!(holds["count"], 1, "{holds}");
    assert_eq!(holds["holds"][0]["lifted_by"], "second-approver", "{holds}");
    api.settled().await;
    assert_eq!(sms_count(&setup), 0, "nothing sent at the lift");
    // The drill's event publishes by rule: held, its next version is audited as held too.
    let drill = format!("exercise-{event}");
    let (s, v) = api
        .post_json(
            &format!("/api/admin/events/{drill}/hold"),
            Some(OFFICER),
            &json!({"reason": "exercício sem mensagens"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    setup.serve_issuance(1);
    let drill_v2 = format!("alert aviso-{drill}-2");
    let audit = until(&api, "/api/admin/audit", VIEWER, |v| {
        actions(v)
            .iter()
            .any(|a| a.1 == "messages_held" && a.2 == drill_v2)
    })
    .await;
    let by_rule = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auto_published" && e["subject"] == drill_v2.as_str())
        .unwrap_or_else(|| panic!("{drill_v2} published by rule: {audit}"));
    assert_eq!(by_rule["detail"]["messages_held"], 0, "{by_rule}");
    let next = open_actual(&api, Some(first_id)).await;
    let next_id = next["id"].as_i64().unwrap();
    let r = review(&api, next_id).await;
    assert!(r["messages"]["held"].is_null(), "{r}");
    assert_eq!(r["messages"]["by_channel"]["sms"], 1, "{r}");
    let (s, v) = approve(&api, next_id, OFFICER).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["messages_queued"], 2, "{v}");
    api.settled().await;
    assert_eq!(sms_count(&setup), 1, "the next version notified");
    let r = review(&api, next_id).await;
    assert_eq!(r["messages"]["total"], 2, "what was queued: {r}");
    assert!(r["messages"]["held"].is_null(), "{r}");

    let (_, audit) = api.get("/api/admin/audit", Some(VIEWER)).await;
    let acts = actions(&audit);
    for (who, what, subject) in [
        ("duty-officer", "hold_set", "hold ".to_string()),
        ("aviso", "messages_held", format!("alert {alert_id}")),
        ("second-approver", "hold_lifted", "hold ".to_string()),
    ] {
        assert!(
            acts.iter()
                .any(|a| a.0 == who && a.1 == what && a.2.starts_with(&subject)),
            "{who} {what} {subject} missing: {acts:?}"
        );
    }
    let held = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "messages_held")
        .unwrap();
    assert_eq!(held["reason"], reason, "{held}");
    assert_eq!(held["detail"]["messages_withheld"], 2, "{held}");
}

/// The Cancel on the operations page in Debian's headless chromium
/// (tests/web/ops_hand.spec.mjs): the duty officer approves the first proposal, proposes
/// the Cancel of the alert in force with a reason, sees their own approval refused (four
/// eyes), and a second approver approves it; the SMS gateway receives the alert's SMS and
/// then exactly the all-clear SMS the review showed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_ops_page_an_approver_cancels_an_alert_and_another_approver_publishes_it() {
    let Some(chromium) = crate::web_map::browser_tools() else {
        return;
    };
    let Some(setup) = Setup::new(None).await else {
        return;
    };
    let (_service, api) = setup.start();
    subscribe(&api).await;
    open_actual(&api, None).await;
    let stdout = crate::approval_site::run_ops_spec(&api.base, "ops_hand.spec.mjs", chromium).await;
    let expected = crate::approval_site::expected_sms(&stdout);
    api.settled().await;
    let sms = setup.got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 2, "{sms:?}");
    assert_eq!(
        sms[1].1, expected,
        "the gateway got exactly the reviewed all-clear SMS"
    );
}
