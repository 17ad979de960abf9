//! Levels from probabilities through the running service (issue 12 item 4): the real
//! `aviso serve` binary on Météo-France's Freddy forecast (2023-03-10) from a localhost
//! feed, with `publish_wait_s = 0` so every version goes out before its probabilities
//! ("publish first"). A late probability that raises a district makes the service publish
//! a CAP Update referencing the version sent (never a rewrite), and the next issuance's
//! version holds the raised levels until its own probabilities come (no flap). Properties
//! are checked against the documents' own probabilities, never numbers copied from an
//! output.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use crate::probabilistic_service::{
    PUBLISH_LIMIT, REALISATIONS, Service, features, first_version, get, get_json, serve_file,
    site_config,
};

/// Publish first, then raise: with `publish_wait_s = 0` the first version goes out on
/// the official track ("pending"); its probabilities come later and raise districts
/// (default ladder), so the service publishes version 2, a CAP Update referencing it,
/// whose levels are the raised ones, with the probabilities in time for it. Version 1's
/// CAP is not rewritten; its document gets the probabilities attached and names the
/// Update.
#[test]
fn a_late_probability_that_raises_a_level_publishes_an_update_in_the_service() {
    let Some(path) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let feed = serve_file(std::fs::read(path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), &feed, 0.0, REALISATIONS);
    let (child, base) = common::start_service(&config);
    let _service = Service(child);
    let v1 = first_version(&base);
    let doc1 = get_json(&base, &format!("/api/alerts/{v1}"));
    let (_, cap1) = get(&base, &format!("/api/alerts/{v1}/cap"));
    assert_eq!(
        doc1["aviso"]["probabilistic"]["status"], "pending",
        "publish_wait_s = 0"
    );
    assert_eq!(doc1["alert"]["msg_type"], "Alert");
    let level = |doc: &Value| -> BTreeMap<String, String> {
        features(doc, "district")
            .iter()
            .filter_map(|f| {
                let pr = &f["properties"];
                Some((
                    pr["pcode"].as_str()?.to_string(),
                    pr["level"].as_str()?.to_string(),
                ))
            })
            .collect()
    };
    let rank = |l: &str| {
        ["green", "yellow", "orange", "red"]
            .iter()
            .position(|x| *x == l)
    };
    let levels1 = level(&doc1);
    assert!(
        features(&doc1, "district")
            .iter()
            .all(|f| f["properties"]["level"].is_null()
                || f["properties"]["level_basis"] == "official_track"),
        "a version out before its probabilities is on the official track"
    );

    let started = Instant::now();
    let v2 = loop {
        let list = get_json(&base, "/api/alerts?status=all");
        if let Some(v) = list["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["version"] == 2))
        {
            break v.clone();
        }
        assert!(
            started.elapsed() < PUBLISH_LIMIT,
            "no Update within {PUBLISH_LIMIT:?}: {list}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let id2 = v2["id"].as_str().unwrap();
    assert_eq!(v2["msg_type"], "Update", "{v2}");
    assert_eq!(
        v2["reference_time"], doc1["alert"]["reference_time"],
        "the same forecast"
    );
    assert!(v2["references"].as_str().unwrap().contains(&v1), "{v2}");
    assert!(v2["reason"].as_str().unwrap().contains(&v1), "{v2}");
    assert!(
        !v2["changes"]["raised"].as_array().unwrap().is_empty()
            || !v2["changes"]["added"].as_array().unwrap().is_empty(),
        "{v2}"
    );

    let doc2 = get_json(&base, &format!("/api/alerts/{id2}"));
    assert_eq!(doc2["aviso"]["probabilistic"]["status"], "ok");
    let levels2 = level(&doc2);
    let mut raised = 0;
    for (pcode, l2) in &levels2 {
        let l1 = levels1.get(pcode).and_then(|l| rank(l));
        assert!(l1 <= rank(l2), "{pcode}: {l1:?} -> {l2}");
        if l1 < rank(l2) {
            raised += 1;
            let pr = features(&doc2, "district")
                .into_iter()
                .find(|f| f["properties"]["pcode"] == pcode.as_str())
                .map(|f| f["properties"].clone())
                .unwrap();
            assert_eq!(pr["level_basis"], "probability", "{pr}");
            let stated = pr["level_probability"].as_f64().unwrap();
            // The P that raised it is the district's P in the version's own table.
            let table = doc2["aviso"]["probabilistic"]["districts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["pcode"] == pcode.as_str())
                .unwrap();
            let in_table = table.as_object().unwrap().iter().any(|(k, v)| {
                k.starts_with("p_ge") && v.as_f64().is_some_and(|x| (x - stated).abs() < 1e-9)
            });
            assert!(in_table, "{pcode}: {stated} not in {table}");
        }
    }
    assert!(raised > 0, "v2 raises a district above v1");
    assert!(
        levels1.keys().all(|p| levels2.contains_key(p)),
        "nothing dropped"
    );

    // The Update's CAP: msgType Update, references version 1 as CAP 1.2 asks.
    let (_, cap2) = get(&base, &format!("/api/alerts/{id2}/cap"));
    let cap = common::cap_xml::parse(&cap2);
    assert_eq!(common::cap_xml::texts(&cap, "alert/msgType"), ["Update"]);
    let refs = common::cap_xml::texts(&cap, "alert/references");
    assert!(refs.iter().any(|r| r.contains(&v1)), "{refs:?}");

    // Version 1 as sent is not rewritten; its document now carries the probabilities
    // and names the Update that their levels went into.
    let (_, cap1_after) = get(&base, &format!("/api/alerts/{v1}/cap"));
    assert_eq!(cap1_after, cap1, "the CAP as sent");
    // (Attached just after the Update is committed.)
    let started = Instant::now();
    let doc1_after = loop {
        let doc = get_json(&base, &format!("/api/alerts/{v1}"));
        if doc["aviso"]["probabilistic"]["status"] != "pending" {
            break doc;
        }
        assert!(
            started.elapsed() < PUBLISH_LIMIT,
            "version 1's probabilities not attached"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let prob1 = &doc1_after["aviso"]["probabilistic"];
    assert_eq!(prob1["status"], "ok", "{prob1}");
    assert_eq!(prob1["levels_updated_in"], id2, "{prob1}");
    assert_eq!(level(&doc1_after), levels1, "version 1's levels as sent");
}

/// Serves the current content of `body` to every request on a free localhost port
/// (HTTP/1.0, then close): a feed whose forecast the test replaces.
fn serve_switchable(body: std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let bytes = body.lock().unwrap().clone();
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                bytes.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&bytes);
        }
    });
    base
}

/// The RSMC product with every time moved `hours` later: the same storm, positions and
/// radii issued one cycle later, so the official levels are the same and only the
/// probabilities' seed (event and reference time) changes.
fn issued_later(rsmc: &[u8], hours: i64) -> Vec<u8> {
    fn shift(v: &mut Value, by: chrono::Duration) {
        match v {
            Value::String(s) => {
                if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                    *s = (t.with_timezone(&chrono::Utc) + by)
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string();
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| shift(x, by)),
            Value::Object(o) => o.values_mut().for_each(|x| shift(x, by)),
            _ => {}
        }
    }
    let mut doc: Value = serde_json::from_slice(rsmc).unwrap();
    shift(&mut doc, chrono::Duration::hours(hours));
    serde_json::to_vec(&doc).unwrap()
}

/// The version with `version` number, once the service at `base` has published it.
fn version(base: &str, n: u64) -> Value {
    let started = Instant::now();
    loop {
        let list = get_json(base, "/api/alerts?status=all");
        if let Some(v) = list["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["version"] == n))
        {
            return v.clone();
        }
        assert!(
            started.elapsed() < PUBLISH_LIMIT,
            "no version {n} within {PUBLISH_LIMIT:?}: {list}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// District P-code -> (level, level_basis) of a version's document.
fn levels_of(doc: &Value) -> BTreeMap<String, (String, String)> {
    features(doc, "district")
        .iter()
        .filter_map(|f| {
            let pr = &f["properties"];
            Some((
                pr["pcode"].as_str()?.to_string(),
                (
                    pr["level"].as_str()?.to_string(),
                    pr["level_basis"].as_str()?.to_string(),
                ),
            ))
        })
        .collect()
}

/// No flap under "publish first": the next issuance's version goes out before its
/// probabilities too, and a district that probabilities raised in the version before
/// keeps that level meanwhile ("held_pending", never reported lowered); when its own
/// probabilities come, the levels are decided again, and any new version they call for
/// references it and changes only what they do not bear out or raise.
#[test]
fn a_level_raised_by_probabilities_is_held_while_the_next_issuances_probabilities_are_pending() {
    let Some(path) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let first = std::fs::read(path).unwrap();
    let body = std::sync::Arc::new(std::sync::Mutex::new(first.clone()));
    let feed = serve_switchable(std::sync::Arc::clone(&body));
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), &feed, 0.0, REALISATIONS);
    let (child, base) = common::start_service(&config);
    let _service = Service(child);

    // Version 1 on the official track, version 2 the Update its late probabilities make.
    let v2 = version(&base, 2);
    let id2 = v2["id"].as_str().unwrap().to_string();
    let doc2 = get_json(&base, &format!("/api/alerts/{id2}"));
    let by_probability: BTreeMap<String, String> = levels_of(&doc2)
        .into_iter()
        .filter(|(_, (_, basis))| basis == "probability")
        .map(|(pc, (level, _))| (pc, level))
        .collect();
    assert!(!by_probability.is_empty(), "v2 raised districts");

    // The next issuance: same storm and official levels, six hours later.
    *body.lock().unwrap() = issued_later(&first, 6);
    let v3 = version(&base, 3);
    let id3 = v3["id"].as_str().unwrap().to_string();
    assert_eq!(v3["msg_type"], "Update");
    assert_ne!(v3["reference_time"], v2["reference_time"], "a new issuance");
    let doc3 = get_json(&base, &format!("/api/alerts/{id3}"));
    let levels3 = levels_of(&doc3);
    for (pcode, level) in &by_probability {
        assert_eq!(
            levels3.get(pcode),
            Some(&(level.clone(), "held_pending".to_string())),
            "{pcode}: held at v2's level until v3's probabilities come"
        );
    }
    let lowered: Vec<&Value> = v3["changes"]["lowered"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert!(
        lowered
            .iter()
            .all(|c| !by_probability.contains_key(c["pcode"].as_str().unwrap())),
        "no raised district is reported lowered while pending: {lowered:?}"
    );

    // v3's probabilities come: attached to v3, and a v4 only if they change a level.
    let started = Instant::now();
    let prob3 = loop {
        let doc = get_json(&base, &format!("/api/alerts/{id3}"));
        if doc["aviso"]["probabilistic"]["status"] != "pending" {
            break doc["aviso"]["probabilistic"].clone();
        }
        assert!(
            started.elapsed() < PUBLISH_LIMIT,
            "v3's probabilities not attached"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(prob3["status"], "ok");
    let list = get_json(&base, "/api/alerts?status=all");
    let v4 = list["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 4);
    assert_eq!(
        prob3["levels_updated_in"].as_str(),
        v4.and_then(|v| v["id"].as_str())
    );
    if let Some(v4) = v4 {
        assert_eq!(v4["msg_type"], "Update");
        assert_eq!(v4["reference_time"], v3["reference_time"]);
        assert!(v4["references"].as_str().unwrap().contains(&id3), "{v4}");
        for c in v4["changes"]["lowered"].as_array().unwrap() {
            let pcode = c["pcode"].as_str().unwrap();
            assert_eq!(
                levels3[pcode].1, "held_pending",
                "only a held level can drop: {c}"
            );
        }
        assert!(
            v4["changes"]["removed"].as_array().unwrap().is_empty(),
            "{v4}"
        );
    }
}
