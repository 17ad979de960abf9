//! Edit before approval, manual overrides and four eyes (issue 13), through the real
//! `aviso serve` binary on Freddy's replay (real SMTP, the local SMS gateway): the duty
//! officer raises a Zambézia district of the first proposal with a reason and an
//! instruction; the new proposal's review, document and CAP show it; approving their own
//! edit is refused (four eyes), a second approver publishes it and the gateway gets the
//! reviewed SMS; the override survives the next automatic issuance, and after an approver
//! lifts it the following issuance has the forecast's level again. On SQLite and on
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use serde_json::{Value, json};

use crate::approval_service::{EDITOR, OFFICER, Setup, VIEWER, subscribe, until};
use crate::approval_site::SECOND_APPROVER;
use crate::notify_support::Api;

/// The open Actual proposal once one other than `not` is listed.
async fn open_proposal(api: &Api, not: Option<i64>) -> Value {
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
        .find(|p| p["status"] == "Actual")
        .unwrap()
        .clone()
}

async fn review(api: &Api, id: i64) -> Value {
    let (s, v) = api
        .get(&format!("/api/admin/proposals/{id}"), Some(VIEWER))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn district<'a>(review: &'a Value, pcode: &str) -> Option<&'a Value> {
    review["districts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["pcode"] == pcode)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_survives_the_next_issuance_until_lifted_and_four_eyes_is_enforced() {
    override_case(None).await;
}

/// The same on PostgreSQL (migration 5), on a fresh test database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_an_override_survives_the_next_issuance_until_lifted() {
    let Some(url) = crate::common::pg::fresh_database() else {
        return;
    };
    override_case(Some(&url)).await;
}

async fn override_case(store: Option<&str>) {
    let Some(setup) = Setup::new(store).await else {
        return;
    };
    let (_service, api) = setup.start();
    subscribe(&api).await;
    let first = open_proposal(&api, None).await;
    let first_id = first["id"].as_i64().unwrap();
    let r1 = review(&api, first_id).await;
    // A Zambézia district (the subscriber's province) below red: raised to red.
    let target = r1["districts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["pcode"].as_str().unwrap().starts_with("MZ11") && d["level"] != "red")
        .unwrap_or_else(|| panic!("a Zambézia district below red: {r1}"));
    let pcode = target["pcode"].as_str().unwrap().to_string();
    let automatic = target["level"].clone();
    assert_ne!(target["level_basis"], "override", "{target}");

    // Refusals, each naming the problem; the role first.
    let edit = format!("/api/admin/proposals/{first_id}/edit");
    let body = |pcode: &str, level: &str, reason: &str| {
        json!({"districts": [{"pcode": pcode, "level": level, "reason": reason}],
               "instruction_pt": "Evacuem as zonas baixas de imediato.",
               "instruction_en": "Evacuate low-lying areas now."})
    };
    let (s, v) = api
        .post_json(&edit, Some(VIEWER), &body(&pcode, "red", "x"))
        .await;
    assert_eq!(s, 403, "a viewer cannot edit: {v}");
    for (b, named) in [
        (body("MZ9999", "red", "x"), "MZ9999"),
        (body(&pcode, "purple", "x"), "purple"),
        (body(&pcode, "red", "  "), "districts[0].reason"),
        (
            json!({"districts": [{"pcode": pcode, "level": "red", "reason": "x", "expiry": "2030-01-01T00:00:00Z"}]}),
            "districts[0].expiry",
        ),
        (json!({"district": []}), "district"),
    ] {
        let (s, v) = api.post_json(&edit, Some(EDITOR), &b).await;
        assert_eq!(s, 400, "{b}: {v}");
        assert!(v.to_string().contains(named), "{named} not named: {v}");
    }

    // The duty officer (an approver may edit) raises it.
    let reason = "relatório do delegado distrital: cheias já em curso";
    let (s, v) = api
        .post_json(&edit, Some(OFFICER), &body(&pcode, "red", reason))
        .await;
    assert_eq!(s, 200, "{v}");
    let edited_id = v["proposal"]["id"].as_i64().unwrap();
    assert_eq!(v["proposal"]["edited_by"], "duty-officer", "{v}");
    let (_, old) = api
        .get(&format!("/api/admin/proposals/{first_id}"), Some(VIEWER))
        .await;
    assert_eq!(old["proposal"]["state"], "superseded", "{old}");
    let r2 = review(&api, edited_id).await;
    let d = district(&r2, &pcode).unwrap();
    assert_eq!(
        (&d["level"], &d["level_basis"]),
        (&json!("red"), &json!("override")),
        "{d}"
    );
    assert_eq!(d["override"]["reason"], reason, "{d}");
    assert_eq!(d["override"]["by"], "duty-officer", "{d}");
    assert_eq!(d["override"]["automatic_level"], automatic, "{d}");
    assert_eq!(r2["alert"]["max_level"], "red", "{r2}");
    let cap = api
        .c
        .get(format!("{}/api/admin/proposals/{edited_id}/cap", api.base))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cap.contains("Evacuem as zonas baixas de imediato.")
            && cap.contains("Evacuate low-lying areas now.")
            && cap.contains(&pcode),
        "the CAP carries the instruction and the district: {cap}"
    );
    let sms_text = r2["messages"]["sms"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();

    // Four eyes: the editor may not approve their own edit; another approver may.
    let approve = format!("/api/admin/proposals/{edited_id}/approve");
    let (s, v) = api.post_json(&approve, Some(OFFICER), &json!({})).await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["description"].as_str().unwrap().contains("four eyes"),
        "{v}"
    );
    let (s, v) = api
        .post_json(&approve, Some(SECOND_APPROVER), &json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, public) = api.get("/api/alerts", None).await;
    assert_eq!(public["count"], 1, "{public}");
    let alert_id = public["alerts"][0]["id"].as_str().unwrap();
    let (_, doc) = api.get(&format!("/api/alerts/{alert_id}"), None).await;
    let pub_d = doc["alert"]["districts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["pcode"] == pcode.as_str())
        .unwrap_or_else(|| panic!("{pcode} in the public alert: {doc}"));
    assert_eq!(pub_d["level"], "red", "{pub_d}");
    api.settled().await;
    let sms = setup.got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(
        sms[0].1, sms_text,
        "the gateway got exactly the reviewed SMS"
    );
    // The subscriber's language is Portuguese: the e-mail adds the instruction in it.
    let mails = crate::notify_support::read_maildir(&setup.smtpd.maildir);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0]["parts"].as_array().unwrap().iter().all(|p| p
            .as_str()
            .unwrap()
            .contains("Evacuem as zonas baixas de imediato.")),
        "{mails:?}"
    );

    // The next automatic issuance keeps the override.
    setup.serve_issuance(1);
    let next = open_proposal(&api, Some(edited_id)).await;
    let next_id = next["id"].as_i64().unwrap();
    assert!(next["edited_by"].is_null(), "{next}");
    let r3 = review(&api, next_id).await;
    let d = district(&r3, &pcode).unwrap_or_else(|| panic!("{pcode} kept: {r3}"));
    assert_eq!(
        (&d["level"], &d["level_basis"]),
        (&json!("red"), &json!("override")),
        "the override survives the next issuance: {d}"
    );
    assert_eq!(d["override"]["reason"], reason, "{d}");
    assert_eq!(r3["instruction_pt"], "Evacuem as zonas baixas de imediato.");
    // Four eyes covers the override it carries: its author may not approve it either.
    let (s, v) = api
        .post_json(
            &format!("/api/admin/proposals/{next_id}/approve"),
            Some(OFFICER),
            &json!({}),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["description"].as_str().unwrap().contains("four eyes"),
        "{v}"
    );

    // Lifted by an approver (not an editor), audited; the next issuance drops it.
    let (_, listed) = api
        .get(
            &format!(
                "/api/admin/overrides?event={}",
                next["event_id"].as_str().unwrap()
            ),
            Some(VIEWER),
        )
        .await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["overrides"][0]["active"], true, "{listed}");
    let lift = format!(
        "/api/admin/overrides/{}/lift",
        listed["overrides"][0]["id"].as_i64().unwrap()
    );
    let (s, v) = api.post_json(&lift, Some(EDITOR), &json!({})).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = api
        .post_json(
            &lift,
            Some(SECOND_APPROVER),
            &json!({"reason": "o rio baixou"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["override"]["active"], false, "{v}");
    let (s, v) = api
        .post_json(&lift, Some(SECOND_APPROVER), &json!({}))
        .await;
    assert_eq!(s, 409, "lifted once: {v}");
    setup.serve_issuance(2);
    let after = open_proposal(&api, Some(next_id)).await;
    let r4 = review(&api, after["id"].as_i64().unwrap()).await;
    if let Some(d) = district(&r4, &pcode) {
        assert_ne!(d["level_basis"], "override", "lifted: {d}");
        assert!(d["override"].is_null(), "{d}");
    }
    assert!(r4["instruction_pt"].is_null(), "{r4}");
    let (_, audit) = api.get("/api/admin/audit", Some(VIEWER)).await;
    let acts = crate::approval_service::actions(&audit);
    for (who, what) in [
        ("duty-officer", "override_set"),
        ("duty-officer", "edited"),
        ("second-approver", "approved"),
        ("second-approver", "override_lifted"),
    ] {
        assert!(
            acts.iter().any(|a| a.0 == who && a.1 == what),
            "{who} {what} missing: {acts:?}"
        );
    }
}

/// The same on the operations page in Debian's headless chromium
/// (tests/web/ops_edit.spec.mjs): the duty officer signs in, raises a Zambézia district of
/// Freddy's first proposal, sees their own approval refused (four eyes), and a second
/// approver approves; the public API and CAP carry the raised level, and the SMS gateway
/// receives exactly the SMS the review showed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_ops_page_an_editor_raises_a_district_and_another_approver_publishes_it() {
    let Some(chromium) = crate::web_map::browser_tools() else {
        return;
    };
    let Some(setup) = Setup::new(None).await else {
        return;
    };
    let (_service, api) = setup.start();
    subscribe(&api).await;
    open_proposal(&api, None).await;
    let stdout = crate::approval_site::run_ops_spec(&api.base, "ops_edit.spec.mjs", chromium).await;
    let expected = crate::approval_site::expected_sms(&stdout);
    api.settled().await;
    let sms = setup.got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(
        sms[0].1, expected,
        "the gateway got exactly the reviewed SMS"
    );
}
