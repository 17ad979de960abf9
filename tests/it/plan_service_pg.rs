//! Registers and plans across replicas on PostgreSQL (issue 14 on issue 15): two real
//! `aviso serve` binaries on one database (common::pg). Replica A fetches Météo-France's
//! RSMC forecast of Freddy (2023-03-10 00Z) from a localhost feed and publishes it;
//! replica B has the feed disabled. CCCM uploads the DTM fixture register to A through
//! the admin API; B serves it as the register in force and plans A's version with it
//! (the same plan as A's, feature for feature, and the OGC collection agrees), and so does
//! `aviso register export` on B's configuration; an
//! occupancy update posted to B then changes A's plan (the centre's free room drops by
//! the figure posted), so neither replica keeps a plan of a register no longer in force.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::common::{self, pg};
use crate::plan_service::{
    EDITOR, Service, VIEWER, csv_rows, first_version, get, get_json, hxl_rows, num, post, request,
    serve_file, write_config_with,
};
use crate::store_registers::fixture;

/// The site config of plan_service (admin tokens, probabilities off) on `url`.
fn replica_config(dir: &Path, feed: &str, url: &str, fetches: bool) -> std::path::PathBuf {
    let config = write_config_with(dir, feed, "publish = false");
    let mut text = std::fs::read_to_string(&config).unwrap();
    if !fetches {
        text = text.replace("name = \"rsmc\"\n", "name = \"rsmc\"\nenabled = false\n");
        assert!(text.contains("enabled = false"));
    }
    text.push_str(&format!("\n[store]\nurl = {url:?}\n"));
    std::fs::write(&config, text).unwrap();
    config
}

/// The plan's features by their code (centres and sites), as GeoJSON properties.
fn by_code(plan: &Value) -> BTreeMap<String, Value> {
    plan["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| {
            let code = f["properties"]["code"].as_str()?;
            let kind = f["properties"]["feature"].as_str().unwrap_or("");
            Some((format!("{kind}:{code}"), f.clone()))
        })
        .collect()
}

#[test]
fn a_register_uploaded_to_one_replica_plans_the_version_on_another() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let feed = serve_file(std::fs::read(&forecast).unwrap());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config_b = replica_config(dir_b.path(), &feed, &url, false);
    let (child_b, api_b) = common::start_service(&config_b);
    let _b = Service(child_b);
    let (child_a, api_a) = common::start_service(&replica_config(dir_a.path(), &feed, &url, true));
    let _a = Service(child_a);
    let id = first_version(&api_a);
    assert_eq!(first_version(&api_b), id, "B lists what A published");
    assert!(
        !dir_a.path().join("state").join("aviso.sqlite").exists(),
        "the register goes to PostgreSQL, not a SQLite file"
    );

    // Before any import, B plans with the DEMONSTRATION register.
    let (status, csv0) = get(&api_b, &format!("/api/alerts/{id}/plan?f=csv"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&csv0));
    assert!(
        csv_rows(&csv0)
            .iter()
            .all(|r| r["demonstration_register"] == "true")
    );

    // CCCM uploads the DTM register to A.
    let register = std::fs::read(fixture()).unwrap();
    let rows = hxl_rows(&register);
    let (status, v) = post(
        &api_a,
        "/api/admin/register?source=dtm-sofala-zambezia.csv",
        EDITOR,
        "text/csv",
        &register,
    );
    assert_eq!(status, 200, "{v}");
    let revision = v["revision"].as_i64().unwrap();
    assert_eq!(v["entries"].as_u64().unwrap() as usize, rows.len());
    assert_eq!(
        pg::psql(&url, "SELECT revision || ' ' || source FROM registers"),
        format!("{revision} upload dtm-sofala-zambezia.csv")
    );

    // B serves it as the register in force.
    let auth = format!("Bearer {VIEWER}");
    let (status, headers, in_force) = request(
        &api_b,
        "GET",
        "/api/admin/register",
        &[("Authorization", &auth)],
        &[],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&in_force));
    assert_eq!(headers["x-aviso-register-revision"], revision.to_string());
    let codes: BTreeSet<String> = rows.iter().map(|r| r["#loc+code"].clone()).collect();
    let served: BTreeSet<String> = hxl_rows(&in_force)
        .iter()
        .map(|r| r["#loc+code"].clone())
        .collect();
    assert_eq!(served, codes);
    // The CLI on the same configuration reads the same register from PostgreSQL.
    let exported = dir_b.path().join("exported.hxl.csv");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["register", "export", "--config"])
        .arg(&config_b)
        .arg("--out")
        .arg(&exported)
        .env_remove("AVISO_STATE_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("register revision {revision} ")),
        "{err}"
    );
    assert_eq!(std::fs::read(&exported).unwrap(), in_force);

    // B plans A's version with it: no demonstration centre, only the register's places,
    // and the plan A builds, feature for feature.
    let (status, csv1) = get(&api_b, &format!("/api/alerts/{id}/plan?f=csv"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&csv1));
    assert!(
        csv_rows(&csv1)
            .iter()
            .all(|r| r["demonstration_register"] == "false")
    );
    let plan_b = get_json(&api_b, &format!("/api/alerts/{id}/plan?f=geojson"));
    assert!(
        plan_b["register"]
            .as_str()
            .unwrap()
            .contains("dtm-sofala-zambezia.csv"),
        "{}",
        plan_b["register"]
    );
    let features_b = by_code(&plan_b);
    let centres_b: BTreeMap<&str, &Value> = features_b
        .values()
        .filter(|f| f["properties"]["feature"] == "centre")
        .map(|f| (f["properties"]["code"].as_str().unwrap(), f))
        .collect();
    assert!(!centres_b.is_empty(), "the register's centres are planned");
    assert!(
        centres_b.keys().all(|c| codes.contains(*c)),
        "{:?} not all in {codes:?}",
        centres_b.keys()
    );
    let plan_a = get_json(&api_a, &format!("/api/alerts/{id}/plan?f=geojson"));
    assert_eq!(by_code(&plan_a), features_b, "A and B plan alike");
    let ogc = get_json(
        &api_b,
        "/collections/accommodation_centres/items?limit=1000",
    );
    assert_eq!(
        ogc["numberMatched"].as_u64(),
        Some(centres_b.len() as u64),
        "the OGC collection on B"
    );

    // An occupancy update posted to B: A's plan follows (the centre's room drops by it).
    // A centre the fixture gives no occupancy, so the figure is its only one.
    let unoccupied: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["#affected+idps+ind"].is_empty())
        .map(|r| r["#loc+code"].as_str())
        .collect();
    let (code, room) = centres_b
        .iter()
        .map(|(c, f)| (*c, num(&f["properties"]["free_room"])))
        .find(|(c, room)| unoccupied.contains(c) && *room >= 20.0)
        .expect("a centre without occupancy and room for 20");
    let n = (room / 2.0).floor();
    let occ = format!(
        "Site code,Date,Individuals\n#loc+code,#date+reported,#affected+idps+ind\n{code},2023-03-09,{n}\n"
    );
    let (status, v) = post(
        &api_b,
        "/api/admin/register/occupancy?source=dtm-round-3.csv",
        EDITOR,
        "text/csv",
        occ.as_bytes(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["revision"].as_i64(), Some(revision + 1));
    let plan_a = get_json(&api_a, &format!("/api/alerts/{id}/plan?f=geojson"));
    let after = by_code(&plan_a)[&format!("centre:{code}")]["properties"]["free_room"].clone();
    assert_eq!(num(&after), room - n, "{code} on A after B's update");
    let history = get_json_auth(&api_a, "/api/admin/register/history", &auth);
    let revisions: Vec<i64> = history["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(revisions, vec![revision + 1, revision], "{history}");
}

fn get_json_auth(base: &str, path: &str, auth: &str) -> Value {
    let (status, _, body) = request(base, "GET", path, &[("Authorization", auth)], &[]);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}
