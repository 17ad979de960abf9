//! Editing a flood proposal whose forecast has grown older than `flood.max_forecast_age_h`
//! while it waited (issue 13): the edit is refused naming the limit, a 400 on the API
//! (`Refusal::BadEdit` on `proposal`), not a server error, and nothing is proposed; the
//! same edit on a forecast within the limit makes the edited proposal. On the real
//! 2025-09-25 forecast, with the pipeline wired to the approval store as `aviso serve` does.
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
