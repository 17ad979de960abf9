//! Flood edits through the pipeline wired to the approval store as `aviso serve` does
//! (issue 13): a proposal whose forecast has grown older than `flood.max_forecast_age_h`
//! while it waited is refused an edit naming the limit (a 400 on the API,
//! `Refusal::BadEdit` on `proposal`), not a server error, and nothing is proposed, on the
//! real 2025-09-25 forecast; and a flood MAP proposal (the Búzi fixture) is edited like a
//! station forecast's: the deepest water's district lowered, a dry district raised, the
//! CAP areas, document and the next map's proposal carrying both.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;

use aviso::alerts::approval::{DistrictEdit, ProposalEdit, Refusal};
use aviso::alerts::levels::Level;
use aviso::api::ApiState;
use aviso::config::DEFAULT_TOML;
use aviso::feeds::fetch::Fetcher;
use aviso::metrics::Metrics;
use aviso::pipeline::Pipeline;
use aviso::store::Store;
use aviso::store::approval::{ApprovalStore, ProposalState};
use aviso::store::sqlite::SqliteStore;

use crate::common::cap_xml::{parse, texts};
use crate::flood_service::{Files, real, runtime, serve_file, service_config, shipped_layers};

#[test]
fn a_flood_proposal_whose_forecast_grew_too_old_is_refused_an_edit_naming_the_limit() {
    let Some(stations) = real("floods/moz_aa_flood_stations_thresholds.csv") else {
        return;
    };
    let Some(probs) = real("floods/moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv")
    else {
        return;
    };
    let rt = runtime();
    rt.block_on(async move {
        let files: Files = Arc::new(Mutex::new(HashMap::from([
            ("probabilities.csv".to_string(), probs),
            ("stations.csv".to_string(), stations),
        ])));
        let app = Router::new()
            .route("/aa/{name}", get(serve_file))
            .with_state(Arc::clone(&files));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/aa", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let toml = format!(
            "{DEFAULT_TOML}\n[[feed]]\nname = \"glofas\"\nkind = \"flood-stations\"\nurl = \"{base}/probabilities.csv\"\nstations_url = \"{base}/stations.csv\"\nschedule = \"0 30 7 * * *\"\n"
        );
        let cfg = service_config(&toml);
        let layers = Arc::new(shipped_layers(&cfg));
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
        let store: Arc<dyn Store> = sqlite.clone();
        let approvals: Arc<dyn ApprovalStore> = sqlite;
        let pipeline = |max_age_h: f64| {
            let mut cfg = cfg.clone();
            cfg.flood.max_forecast_age_h = max_age_h;
            let api = ApiState::new(&layers.layers, None);
            Pipeline::new(
                Arc::new(cfg),
                Arc::clone(&layers),
                Arc::clone(&store),
                Fetcher::new(Default::default()).unwrap(),
                api.published(),
                Arc::new(Metrics::default()),
            )
            .with_approvals(Arc::clone(&approvals))
        };
        // The forecast proposed while it was within the limit (a replay raises it).
        let fresh = Arc::new(pipeline(1_000_000.0));
        let r = fresh.run_feed(&cfg.feeds[0]).await;
        assert!(r.failed.is_empty(), "{r:?}");
        let open = approvals.proposals(Some(ProposalState::Proposed)).unwrap();
        assert_eq!(open.len(), 1, "one flood proposal");
        let id = open[0].id;
        let edit = ProposalEdit {
            districts: vec![DistrictEdit {
                pcode: "MZ0202".into(),
                level: Level::Red,
                reason: "o Changane já galgou as margens".into(),
                expires_at: None,
            }],
            instruction_pt: None,
            instruction_en: None,
        };

        // Later, with the shipped 48 h limit: the 2025-09-25 forecast is far older.
        let later = tokio::task::block_in_place(|| pipeline(48.0));
        let refused = tokio::task::block_in_place(|| later.edit(id, "duty-officer", &edit))
            .unwrap()
            .unwrap_err();
        let Refusal::BadEdit { field, message } = &refused else {
            panic!("{refused:?}");
        };
        assert_eq!(field, "proposal");
        assert!(
            message.contains(&format!("proposal {id}"))
                && message.contains("flood.max_forecast_age_h")
                && message.contains("limit 48 h"),
            "{message}"
        );
        let still = approvals.proposals(Some(ProposalState::Proposed)).unwrap();
        assert_eq!(
            still.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![id],
            "nothing proposed, the proposal waits as it was"
        );

        // Within the limit the same edit makes the edited proposal.
        let made = tokio::task::block_in_place(|| fresh.edit(id, "duty-officer", &edit))
            .unwrap()
            .unwrap();
        let p = approvals.proposal(made).unwrap().unwrap();
        assert_eq!(p.edited_by.as_deref(), Some("duty-officer"));
        let chibuto = p
            .alert
            .summary
            .districts
            .iter()
            .find(|d| d.pcode == "MZ0202")
            .unwrap();
        assert_eq!(chibuto.level, Level::Red);
    });
}

/// The P-codes of each CAP area's level (the Portuguese `info`): "vermelho" → P-codes.
fn cap_areas(cap: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let doc = parse(cap);
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut level = String::new();
    let mut infos = 0;
    for w in doc.windows(3) {
        match w[0].0.as_str() {
            "alert/info" => infos += 1,
            _ if infos > 1 => break,
            "alert/info/area/areaDesc" => {
                level = w[0]
                    .1
                    .trim()
                    .split(':')
                    .next()
                    .unwrap()
                    .replace("Nível ", "");
            }
            "alert/info/area/geocode" if w[1].1.trim() == "ADM2_PCODE" => {
                out.entry(level.clone())
                    .or_default()
                    .push(w[2].1.trim().into());
            }
            _ => {}
        }
    }
    out
}

#[test]
fn a_flood_map_proposal_is_edited_and_the_next_map_keeps_the_overrides() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/floods/buzi_extent.geojson");
    let map = std::fs::read(&path).unwrap();
    let rt = runtime();
    rt.block_on(async move {
        let files: Files = Arc::new(Mutex::new(HashMap::from([(
            "latest.geojson".to_string(),
            map.clone(),
        )])));
        let app = Router::new()
            .route("/maps/{name}", get(serve_file))
            .with_state(Arc::clone(&files));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/maps/latest.geojson", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let toml = format!(
            "{DEFAULT_TOML}\n[[feed]]\nname = \"sat\"\nkind = \"flood-extent\"\nurl = \"{url}\"\nschedule = \"0 0 */3 * * *\"\n"
        )
        .replace("depth_field = \"\"", "depth_field = \"depth_m\"");
        let cfg = service_config(&toml);
        let layers = Arc::new(shipped_layers(&cfg));
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
        let approvals: Arc<dyn ApprovalStore> = sqlite.clone();
        let api = ApiState::new(&layers.layers, None);
        let p = Arc::new(
            Pipeline::new(
                Arc::new(cfg.clone()),
                Arc::clone(&layers),
                sqlite,
                Fetcher::new(Default::default()).unwrap(),
                api.published(),
                Arc::new(Metrics::default()),
            )
            .with_approvals(Arc::clone(&approvals)),
        );
        let r = p.run_feed(&cfg.feeds[0]).await;
        assert!(r.failed.is_empty(), "{r:?}");
        let open = approvals.proposals(Some(ProposalState::Proposed)).unwrap();
        assert_eq!(open.len(), 1);
        let first = &open[0];
        // 1.6 m of water over Búzi town: its district is red.
        let buzi = first
            .alert
            .summary
            .districts
            .iter()
            .find(|d| d.level == Level::Red)
            .unwrap()
            .pcode
            .clone();
        let areas = cap_areas(&first.alert.cap);
        assert!(areas["vermelho"].contains(&buzi), "{areas:?}");

        let edit = ProposalEdit {
            districts: vec![
                DistrictEdit {
                    pcode: buzi.clone(),
                    level: Level::Yellow,
                    reason: "a água baixou na vila".into(),
                    expires_at: None,
                },
                DistrictEdit {
                    pcode: "MZ0202".into(),
                    level: Level::Orange,
                    reason: "cheia do Changane fora do mapa".into(),
                    expires_at: None,
                },
            ],
            instruction_pt: Some("Não regressem às zonas baixas.".into()),
            instruction_en: Some("Do not return to low-lying areas.".into()),
        };
        let made = tokio::task::block_in_place(|| p.edit(first.id, "duty-officer", &edit))
            .unwrap()
            .unwrap();
        let check = |id: i64, edited: bool| {
            let e = approvals.proposal(id).unwrap().unwrap();
            assert_eq!(e.edited_by.is_some(), edited);
            let level = |pcode: &str| {
                e.alert
                    .summary
                    .districts
                    .iter()
                    .find(|d| d.pcode == pcode)
                    .map(|d| (d.level, d.name.clone()))
            };
            assert_eq!(level(&buzi).unwrap().0, Level::Yellow);
            assert_eq!(level("MZ0202"), Some((Level::Orange, "Chibuto".to_string())));
            let areas = cap_areas(&e.alert.cap);
            assert!(areas["amarelo"].contains(&buzi), "{areas:?}");
            assert!(areas["laranja"].contains(&"MZ0202".to_string()), "{areas:?}");
            // Severity from the highest level left.
            let x = parse(&e.alert.cap);
            let severity = if areas.contains_key("vermelho") { "Extreme" } else { "Severe" };
            assert_eq!(texts(&x, "alert/info/severity"), vec![severity; 2]);
            assert!(texts(&x, "alert/info/instruction")[0].contains("Não regressem"));
            let doc: serde_json::Value = serde_json::from_str(&e.alert.document).unwrap();
            let feature = |pcode: &str| {
                doc["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| &f["properties"])
                    .find(|p| p["layer"] == "flood_district" && p["pcode"] == pcode)
                    .unwrap_or_else(|| panic!("{pcode}: {doc}"))
                    .clone()
            };
            let b = feature(&buzi);
            assert_eq!((&b["level"], &b["level_basis"]), (&"yellow".into(), &"override".into()));
            assert_eq!(b["override"]["automatic_level"], "red");
            let c = feature("MZ0202");
            assert_eq!((&c["level"], &c["name"]), (&"orange".into(), &"Chibuto".into()));
            assert!(c["override"]["automatic_level"].is_null(), "{c}");
            e
        };
        let edited = check(made, true);
        // Búzi was the only red district: the event is orange now.
        assert_eq!(edited.alert.summary.max_level, Some(Level::Orange));
        assert_eq!(texts(&parse(&edited.alert.cap), "alert/info/severity"), vec!["Severe"; 2]);

        // The same map fetched again as new bytes: the overrides keep the levels the
        // edited proposal has, so it is not proposed again (without them Búzi would be red).
        let again = [map.as_slice(), b"\n"].concat();
        files.lock().unwrap().insert("latest.geojson".into(), again);
        let r = p.run_feed(&cfg.feeds[0]).await;
        assert_eq!((r.processed, r.failed.len()), (1, 0), "{r:?}");
        let open = approvals.proposals(Some(ProposalState::Proposed)).unwrap();
        assert_eq!(open.iter().map(|p| p.id).collect::<Vec<_>>(), vec![made]);
        // The next map, the water three times as deep: a new automatic proposal (the other
        // districts rise), with both overrides.
        let mut deeper: serde_json::Value = serde_json::from_slice(&map).unwrap();
        for f in deeper["features"].as_array_mut().unwrap() {
            let d = f["properties"]["depth_m"].as_f64().unwrap();
            f["properties"]["depth_m"] = (d * 3.0).into();
        }
        let deeper = serde_json::to_vec(&deeper).unwrap();
        files.lock().unwrap().insert("latest.geojson".into(), deeper);
        let r = p.run_feed(&cfg.feeds[0]).await;
        assert_eq!((r.processed, r.failed.len()), (1, 0), "{r:?}");
        let open = approvals.proposals(Some(ProposalState::Proposed)).unwrap();
        assert_eq!(open.len(), 1, "the edited one superseded");
        assert_ne!(open[0].id, made);
        let next = check(open[0].id, false);
        assert_ne!(next.alert.summary.districts, edited.alert.summary.districts);
    });
}
