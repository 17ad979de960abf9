//! `GET /api/admin/register/history` (viewer): how the register and the occupancy of each
//! place changed over time (issue 14 part 1, "keep the history, and say how old each
//! figure is"): every revision (imports and occupancy updates, who and when), then each
//! place's occupancy figures, oldest first, each with its age in days today and the file
//! row it came from. `code` narrows it to one place.
//!
//! Read from the register in force, which holds each place's whole occupancy history
//! (`RegisterEntry::occupancy`, a correction for a date replacing that date's figure), and
//! from the store's revision list. The token is checked first (the `guard::admin_token`
//! layer, then the role here); a GET has no body to read. An adapter at the edge; must not
//! depend on the pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::register::{blocking_err, plan_api, stored};
use super::{AdminError, AdminErrorBody, audit, json_response, notify_api};
use crate::api::ApiState;
use crate::domain::{RegisterEntry, SiteRole};
use crate::notify::config::Role;

fn query(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Option<String>, AdminError> {
    let Query(pairs) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let mut q: HashMap<String, String> = HashMap::new();
    for (k, v) in pairs {
        if k != "code" {
            return Err(AdminError::BadRequest(format!(
                "unknown query parameter {k:?}: expected code"
            )));
        }
        if q.insert(k, v).is_some() {
            return Err(AdminError::BadRequest("code given twice".into()));
        }
    }
    Ok(q.remove("code"))
}

fn place_json(e: &RegisterEntry, now: chrono::DateTime<Utc>) -> Value {
    let figures: Vec<Value> = e
        .occupancy
        .iter()
        .map(|o| {
            json!({
                "date": o.date,
                "individuals": o.individuals,
                "households": o.households,
                "age_days": o.age_days(now),
                "source": o.source,
            })
        })
        .collect();
    json!({
        "code": e.code,
        "name": e.name,
        "site_type": e.site_type,
        "role": match e.role { SiteRole::Centre => "centre", SiteRole::Site => "site" },
        "district_pcode": e.district_pcode,
        "latest": e.latest_occupancy().map(|o| json!({
            "date": o.date,
            "individuals": o.individuals,
            "households": o.households,
            "age_days": o.age_days(now),
        })),
        "figures": figures,
    })
}

/// `GET /api/admin/register/history` (viewer).
#[utoipa::path(get, path = "/api/admin/register/history", tag = "admin", operation_id = "registerHistory",
    summary = "The register's revisions and each place's occupancy figures over time, with the age of each",
    description = "Needs a bearer token with the role `viewer` or higher. `revisions`: every register import and occupancy update, newest first (who, when, from what). `places`: each place with occupancy figures (all places with `code`), its figures oldest first with `age_days` (whole days from the figure's date to today, UTC) and the file row each came from.",
    security(("bearer" = [])),
    params(("code" = Option<String>, Query, description = "One place's code (#loc+code)")),
    responses(
        (status = 200, description = "The history", content_type = "application/json", body = Object),
        (status = 400, description = "An unknown query parameter", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "No register imported, an unknown code, or not served here", body = AdminErrorBody)))]
pub(crate) async fn register_history(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Viewer)?.clone();
    let plans = plan_api(&state)?;
    let code = query(q)?;
    let s = stored(&plans).await?;
    let p = Arc::clone(&plans);
    let revisions = tokio::task::spawn_blocking(move || p.registers.register_history())
        .await
        .map_err(blocking_err)??;
    let now = Utc::now();
    let places: Vec<Value> = match &code {
        Some(c) => {
            let e = s
                .register
                .entries
                .iter()
                .find(|e| &e.code == c)
                .ok_or_else(|| {
                    AdminError::NotFound(format!(
                        "no place with code {c:?} in register revision {}",
                        s.info.revision
                    ))
                })?;
            vec![place_json(e, now)]
        }
        None => s
            .register
            .entries
            .iter()
            .filter(|e| !e.occupancy.is_empty())
            .map(|e| place_json(e, now))
            .collect(),
    };
    audit(
        &state,
        &who,
        &format!("read the history of register revision {}", s.info.revision),
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "as_of": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "revision": s.info.revision,
            "revisions": revisions,
            "places_without_figures": s.register.entries.iter().filter(|e| e.occupancy.is_empty()).count(),
            "places": places,
        }),
    ))
}
