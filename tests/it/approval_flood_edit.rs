//! Editing a FLOOD proposal (issue 13), as a cyclone's, through the real `aviso serve`
//! binary on the real 2025-09-25 station forecast (../shared/data/floods) served by a local
//! feed, with real SMTP and the local SMS gateway: the forecast puts the lower Limpopo
//! (Chibuto MZ0202, Xai-Xai city MZ0207, …) at yellow; the duty officer raises Chibuto to
//! red and lowers Xai-Xai city to green with reasons and a pt/en instruction; the rebuilt
//! proposal's review, GeoJSON document and flood CAP (areas, severity, instruction) carry
//! the edit; their own approval is refused (four eyes), a second approver publishes it and
//! the gateway gets exactly the reviewed SMS. The next day's forecast, with the river below
//! every threshold, would cancel the alert: the overrides keep both districts at their
//! levels in the next automatic proposal (an Update, shown as overrides), until an approver
//! lifts them, after which the following forecast is a Cancel. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::approval_service::{EDITOR, OFFICER, VIEWER, actions, serve, until};
use crate::approval_site::{SECOND_APPROVER, notify_site};
use crate::common::cap_xml::{parse, texts};
use crate::flood_service::{Files, serve_file};
use crate::notify_support::{Api, Shared, gateway, read_maildir, start_smtpd};

const CHIBUTO: &str = "MZ0202";
const XAI_XAI: &str = "MZ0207";
const INSTRUCTION_PT: &str = "Retirem já as famílias das baixas do Changane.";
const INSTRUCTION_EN: &str = "Move families out of the Changane lowlands now.";

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The flood feed (polled every second), e-mail, SMS and the tokens; `[store]`.
fn site_toml(feed: &str, recv: &str, smtp: u16, store: Option<&str>) -> String {
    format!(
        r#"[service]
listen = "127.0.0.1:0"
layers = "{layers}"
[flood]
max_forecast_age_h = 1000000.0
[http]
retries = 0
[probabilistic]
publish = false
[[feed]]
name = "glofas"
kind = "flood-stations"
url = "{feed}/probabilities.csv"
discharge_url = "{feed}/discharge.csv"
stations_url = "{feed}/stations.csv"
schedule = "* * * * * *"
{notify}"#,
        notify = notify_site(recv, smtp, store),
        layers = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("layers")
            .display(),
    )
}

async fn viewed(api: &Api, path: &str) -> Value {
    let (s, v) = api.get(path, Some(VIEWER)).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

async fn text(api: &Api, path: &str, token: Option<&str>) -> String {
    let mut r = api.c.get(format!("{}{path}", api.base));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// The open proposal of the flood event once one other than `not` is listed.
async fn open_proposal(api: &Api, not: Option<i64>) -> Value {
    let listed = until(api, "/api/admin/proposals", VIEWER, |v| {
        v["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["event_id"] == "flood-glofas" && p["id"].as_i64() != not)
    })
    .await;
    listed["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["event_id"] == "flood-glofas")
        .unwrap()
        .clone()
}

fn district<'a>(review: &'a Value, pcode: &str) -> &'a Value {
    review["districts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["pcode"] == pcode)
        .unwrap_or_else(|| panic!("{pcode} in the review: {review}"))
}

/// The CAP's areas: each ADM2 P-code with the areaDesc of its area (one `info` per
/// language: the Portuguese one, first).
fn cap_levels(cap: &str) -> BTreeMap<String, String> {
    let doc = parse(cap);
    let mut out = BTreeMap::new();
    let mut desc = String::new();
    for w in doc.windows(3) {
        if w[0].0 == "alert/info/area/areaDesc" {
            desc = w[0].1.trim().to_string();
        }
        if w[0].0 == "alert/info/area/geocode" && w[1].1.trim() == "ADM2_PCODE" {
            out.entry(w[2].1.trim().to_string())
                .or_insert_with(|| desc.clone());
        }
    }
    out
}

/// The `flood_district` features of a document, by P-code.
fn doc_districts(doc: &Value) -> BTreeMap<String, Value> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["properties"])
        .filter(|p| p["layer"] == "flood_district")
        .map(|p| (p["pcode"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_proposal_is_edited_approved_by_another_and_its_overrides_survive_the_next_forecast()
 {
    flood_edit_case(None).await;
}

/// The same on PostgreSQL, on a fresh test database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_flood_override_survives_the_next_forecast_until_lifted() {
    let Some(url) = crate::common::pg::fresh_database() else {
        return;
    };
    flood_edit_case(Some(&url)).await;
}

async fn flood_edit_case(store: Option<&str>) {
    let read = |rel: &str| crate::common::read_data(&format!("floods/{rel}"));
    let Some(stations) = read("moz_aa_flood_stations_thresholds.csv") else {
        return;
    };
    let Some(probs) = read("moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv") else {
        return;
    };
    let Some(discharge) = read("moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(smtpd) = start_smtpd(dir.path()) else {
        return;
    };
    aviso::feeds::fetch::install_crypto_provider();
    let got: Shared = Arc::default();
    let recv = serve(
        Router::new()
            .route("/sms", post(gateway))
            .with_state(Arc::clone(&got)),
    )
    .await;
    let files: Files = Arc::new(Mutex::new(HashMap::from([
        ("probabilities.csv".to_string(), probs.clone()),
        ("discharge.csv".to_string(), discharge.clone()),
        ("stations.csv".to_string(), stations),
    ])));
    let feed = serve(
        Router::new()
            .route("/aa/{name}", get(serve_file))
            .with_state(Arc::clone(&files)),
    )
    .await;
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        site_toml(&format!("{feed}/aa"), &recv, smtpd.port, store),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aviso"));
    cmd.arg("--config")
        .arg(&config)
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("store"))
        .env_remove("AVISO_CONFIG")
        .stdout(Stdio::null());
    let (child, base) = crate::common::spawn_service(cmd);
    let _service = Service(child);
    let api = Api {
        base,
        c: reqwest::Client::new(),
    };
    // A focal point in Gaza, where the Limpopo and the Changane flood.
    let (s, v) = api
        .post_json(
            "/api/admin/subscribers",
            Some(EDITOR),
            &json!({"id": "pf-gaza", "name": "Ponto focal", "language": "pt",
                    "emails": ["pf@ingd.example.org"], "phones": ["+258845550102"],
                    "provinces": ["MZ02"], "min_level": "verde"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");

    // 1. The real forecast: a flood proposal, the lower Limpopo at yellow.
    let first = open_proposal(&api, None).await;
    let first_id = first["id"].as_i64().unwrap();
    let r1 = viewed(&api, &format!("/api/admin/proposals/{first_id}")).await;
    assert_eq!(r1["alert"]["hazard"], "flood", "{r1}");
    for pcode in [CHIBUTO, XAI_XAI] {
        assert_eq!(district(&r1, pcode)["level"], "yellow", "{r1}");
    }

    // Refusals, each a 4xx naming the problem; the role first.
    let edit = format!("/api/admin/proposals/{first_id}/edit");
    let body = |districts: Value| {
        json!({"districts": districts,
               "instruction_pt": INSTRUCTION_PT, "instruction_en": INSTRUCTION_EN})
    };
    let one = |pcode: &str, level: &str, reason: &str| {
        body(json!([{"pcode": pcode, "level": level, "reason": reason}]))
    };
    let (s, v) = api
        .post_json(&edit, Some(VIEWER), &one(CHIBUTO, "red", "x"))
        .await;
    assert_eq!(s, 403, "a viewer cannot edit: {v}");
    for (b, named) in [
        (one("MZ9999", "red", "x"), "MZ9999"),
        (one(CHIBUTO, "purple", "x"), "purple"),
        (one(CHIBUTO, "red", "  "), "districts[0].reason"),
        (
            json!({"districts": [{"pcode": CHIBUTO, "level": "red", "reason": "x", "expires_at": "2020-01-01T00:00:00Z"}]}),
            "districts[0].expires_at",
        ),
        (
            body(json!([{"pcode": CHIBUTO, "level": "red", "reason": "x"},
                        {"pcode": CHIBUTO, "level": "orange", "reason": "y"}])),
            "districts[1].pcode",
        ),
        (json!({"districts": []}), "districts"),
    ] {
        let (s, v) = api.post_json(&edit, Some(EDITOR), &b).await;
        assert_eq!(s, 400, "{b}: {v}");
        assert!(v.to_string().contains(named), "{named} not named: {v}");
    }

    // 2. The duty officer raises Chibuto to red and lowers Xai-Xai city to green.
    let raise = "delegado distrital: o Changane já galgou as margens em Chibuto";
    let lower = "a cidade de Xai-Xai está protegida pelo dique";
    let (s, v) = api
        .post_json(
            &edit,
            Some(OFFICER),
            &body(json!([{"pcode": CHIBUTO, "level": "red", "reason": raise},
                         {"pcode": XAI_XAI, "level": "green", "reason": lower}])),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let edited_id = v["proposal"]["id"].as_i64().unwrap();
    assert_eq!(v["proposal"]["edited_by"], "duty-officer", "{v}");
    let old = viewed(&api, &format!("/api/admin/proposals/{first_id}")).await;
    assert_eq!(old["proposal"]["state"], "superseded", "{old}");
    let r2 = viewed(&api, &format!("/api/admin/proposals/{edited_id}")).await;
    for (pcode, level, reason) in [(CHIBUTO, "red", raise), (XAI_XAI, "green", lower)] {
        let d = district(&r2, pcode);
        assert_eq!(
            (&d["level"], &d["level_basis"]),
            (&json!(level), &json!("override")),
            "{d}"
        );
        assert_eq!(d["override"]["reason"], reason, "{d}");
        assert_eq!(d["override"]["by"], "duty-officer", "{d}");
        assert_eq!(d["override"]["automatic_level"], "yellow", "{d}");
    }
    // The other districts keep the forecast's level.
    let others: Vec<&Value> = r2["districts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["pcode"] != CHIBUTO && d["pcode"] != XAI_XAI)
        .collect();
    assert!(!others.is_empty(), "{r2}");
    assert!(
        others.iter().all(|d| d["level"] == "yellow"
            && d["override"].is_null()
            && d["level_basis"] == "station_forecast"),
        "{r2}"
    );
    assert_eq!(r2["alert"]["max_level"], "red", "{r2}");
    assert_eq!(r2["instruction_pt"], INSTRUCTION_PT, "{r2}");
    assert_eq!(r2["instruction_en"], INSTRUCTION_EN, "{r2}");
    // The document: the districts at their edited levels, each naming its override.
    let doc: Value = serde_json::from_str(
        &text(
            &api,
            &format!("/api/admin/proposals/{edited_id}/document"),
            Some(VIEWER),
        )
        .await,
    )
    .unwrap();
    let dd = doc_districts(&doc);
    assert_eq!(dd[CHIBUTO]["level"], "red", "{doc}");
    assert_eq!(dd[CHIBUTO]["override"]["reason"], raise, "{doc}");
    assert_eq!(dd[CHIBUTO]["level_basis"], "override", "{doc}");
    assert_eq!(dd[XAI_XAI]["level"], "green", "{doc}");
    assert_eq!(
        doc["aviso"]["event_level"]["code"], "red",
        "{}",
        doc["aviso"]
    );
    assert_eq!(doc["aviso"]["overrides"].as_array().unwrap().len(), 2);
    assert_eq!(doc["aviso"]["instruction_pt"], INSTRUCTION_PT);
    // The CAP: severity from the red level, Chibuto in the red area, Xai-Xai city in the
    // green one, the others yellow, and the instruction in both languages.
    let cap = text(
        &api,
        &format!("/api/admin/proposals/{edited_id}/cap"),
        Some(VIEWER),
    )
    .await;
    let x = parse(&cap);
    assert_eq!(
        texts(&x, "alert/info/severity"),
        vec!["Extreme"; 2],
        "{cap}"
    );
    let areas = cap_levels(&cap);
    assert!(
        areas[CHIBUTO].to_lowercase().contains("vermelho"),
        "{areas:?}"
    );
    assert!(areas[XAI_XAI].to_lowercase().contains("verde"), "{areas:?}");
    let yellow: BTreeSet<&str> = areas
        .iter()
        .filter(|(_, d)| d.to_lowercase().contains("amarelo"))
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(yellow.len(), others.len(), "{areas:?}");
    let instructions = texts(&x, "alert/info/instruction");
    assert!(instructions[0].contains(INSTRUCTION_PT), "{instructions:?}");
    assert!(instructions[1].contains(INSTRUCTION_EN), "{instructions:?}");
    // The messages it would send: one SMS and one e-mail to the Gaza focal point.
    let m = &r2["messages"];
    assert_eq!(
        (&m["by_channel"]["sms"], &m["by_channel"]["email"]),
        (&json!(1), &json!(1)),
        "{m}"
    );
    let sms_text = m["sms"][0]["text"].as_str().unwrap().to_string();
    assert!(sms_text.to_lowercase().contains("vermelho"), "{sms_text}");

    // 3. Four eyes: the editor may not approve their own edit; another approver may.
    let approve = |id: i64| format!("/api/admin/proposals/{id}/approve");
    let (s, v) = api
        .post_json(&approve(edited_id), Some(OFFICER), &json!({}))
        .await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["description"].as_str().unwrap().contains("four eyes"),
        "{v}"
    );
    let (s, v) = api
        .post_json(&approve(edited_id), Some(SECOND_APPROVER), &json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, public) = api.get("/api/alerts", None).await;
    assert_eq!(public["count"], 1, "{public}");
    let alert_id = public["alerts"][0]["id"].as_str().unwrap().to_string();
    let public_cap = text(&api, &format!("/api/alerts/{alert_id}/cap"), None).await;
    assert_eq!(public_cap, cap, "the reviewed CAP went out byte for byte");
    let (_, pubdoc) = api.get(&format!("/api/alerts/{alert_id}"), None).await;
    let levels: BTreeMap<&str, &str> = pubdoc["alert"]["districts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["pcode"].as_str().unwrap(), d["level"].as_str().unwrap()))
        .collect();
    assert_eq!(
        (levels[CHIBUTO], levels[XAI_XAI]),
        ("red", "green"),
        "{levels:?}"
    );
    api.settled().await;
    let sms = got.lock().unwrap().sms.clone();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(
        sms[0].1, sms_text,
        "the gateway got exactly the reviewed SMS"
    );
    let mails = read_maildir(&smtpd.maildir);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.as_str().unwrap().contains(INSTRUCTION_PT)),
        "{mails:?}"
    );

    // 4. The next day's forecast has the Changane below every threshold: without the
    // overrides it would cancel the alert; with them it is an Update keeping both.
    let (p2, d2) = crate::flood_service::variant(&probs, &discharge, "2025-09-26", true);
    {
        let mut f = files.lock().unwrap();
        f.insert("probabilities.csv".into(), p2);
        f.insert("discharge.csv".into(), d2);
    }
    let next = open_proposal(&api, Some(edited_id)).await;
    let next_id = next["id"].as_i64().unwrap();
    assert!(next["edited_by"].is_null(), "{next}");
    assert_eq!(next["msg_type"], "Update", "{next}");
    let r3 = viewed(&api, &format!("/api/admin/proposals/{next_id}")).await;
    let listed: BTreeSet<&str> = r3["districts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pcode"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([CHIBUTO, XAI_XAI]),
        "only the overrides remain: {r3}"
    );
    for (pcode, level, reason) in [(CHIBUTO, "red", raise), (XAI_XAI, "green", lower)] {
        let d = district(&r3, pcode);
        assert_eq!(
            (&d["level"], &d["level_basis"]),
            (&json!(level), &json!("override")),
            "{d}"
        );
        assert_eq!(d["override"]["reason"], reason, "{d}");
        assert!(
            d["override"]["automatic_level"].is_null(),
            "the river no longer reaches it: {d}"
        );
    }
    assert_eq!(r3["instruction_pt"], INSTRUCTION_PT, "{r3}");
    // Its document draws the districts the flood no longer reaches, its CAP keeps them.
    let doc3: Value = serde_json::from_str(
        &text(
            &api,
            &format!("/api/admin/proposals/{next_id}/document"),
            Some(VIEWER),
        )
        .await,
    )
    .unwrap();
    let dd3 = doc_districts(&doc3);
    assert_eq!(
        dd3.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        listed,
        "{doc3}"
    );
    assert_eq!(dd3[CHIBUTO]["level"], "red");
    assert_eq!(dd3[CHIBUTO]["name"], "Chibuto");
    let cap3 = text(
        &api,
        &format!("/api/admin/proposals/{next_id}/cap"),
        Some(VIEWER),
    )
    .await;
    assert_eq!(
        texts(&parse(&cap3), "alert/info/severity"),
        vec!["Extreme"; 2],
        "{cap3}"
    );
    let areas3 = cap_levels(&cap3);
    assert_eq!(
        areas3.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        listed,
        "{cap3}"
    );
    // Four eyes covers the overrides it carries.
    let (s, v) = api
        .post_json(&approve(next_id), Some(OFFICER), &json!({}))
        .await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["description"].as_str().unwrap().contains("four eyes"),
        "{v}"
    );

    // 5. Lifted by an approver; the next forecast (still dry) is the Cancel.
    let listed = viewed(&api, "/api/admin/overrides?event=flood-glofas").await;
    assert_eq!(listed["count"], 2, "{listed}");
    for o in listed["overrides"].as_array().unwrap() {
        let lift = format!("/api/admin/overrides/{}/lift", o["id"].as_i64().unwrap());
        let (s, v) = api
            .post_json(
                &lift,
                Some(SECOND_APPROVER),
                &json!({"reason": "o rio baixou"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let (p3, d3) = crate::flood_service::variant(&probs, &discharge, "2025-09-27", true);
    {
        let mut f = files.lock().unwrap();
        f.insert("probabilities.csv".into(), p3);
        f.insert("discharge.csv".into(), d3);
    }
    let after = open_proposal(&api, Some(next_id)).await;
    assert_eq!(
        after["msg_type"], "Cancel",
        "lifted: the dry river cancels it: {after}"
    );

    let audit = viewed(&api, "/api/admin/audit").await;
    let acts = actions(&audit);
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
