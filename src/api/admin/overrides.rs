//! Editing a proposal before approval, and the manual overrides it sets (issue 13):
//! - `POST /api/admin/proposals/{id}/edit` (editor): `{"districts": [{"pcode", "level",
//!   "reason", "expires_at"?}], "instruction_pt"?, "instruction_en"?}` records the
//!   overrides and makes a new proposal of the event rebuilt with them (the edited one is
//!   superseded), edited by the caller: under four eyes another approver must approve it;
//! - `GET /api/admin/overrides[?event=]` (viewer): overrides, newest first, with whether
//!   each is active;
//! - `POST /api/admin/overrides/{id}/lift` (approver): `{"reason"?}`; later proposals of
//!   the event no longer apply it.
//!
//! The role is checked before any byte of a body is read; bodies are capped. An adapter at
//! the edge: must not depend on the pipeline (the [`super::proposals::Decider`] port does
//! the work).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::proposals::{
    blocking, decision_as, load, proposal_json, proposals_api, refused, text_field,
};
use super::{AdminError, AdminErrorBody, json_response, notify_api};
use crate::alerts::approval::{DistrictEdit, ProposalEdit};
use crate::alerts::levels::Level;
use crate::api::ApiState;
use crate::api::ogc::query_pairs;
use crate::notify::config::Role;
use crate::store::approval::OverrideRecord;

/// Most districts in one edit.
pub const MAX_EDIT_DISTRICTS: usize = 200;

fn bad(field: String, message: String) -> AdminError {
    AdminError::BadField { field, message }
}

/// Refuses a key of `v` (at `at`) not in `known`: a misspelt one must not be ignored.
fn only(v: &Value, known: &[&str], at: &str) -> Result<(), AdminError> {
    let unknown = v
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .find(|k| !known.contains(&k.as_str()));
    match unknown {
        Some(k) => Err(bad(
            format!("{at}{k}"),
            format!("unknown key: expected {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// The edit in `v`, every problem naming its field.
fn parse_edit(v: &Value) -> Result<ProposalEdit, AdminError> {
    only(v, &["districts", "instruction_pt", "instruction_en"], "")?;
    let list = match v.get("districts") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => &Vec::new(),
        Some(other) => {
            return Err(bad(
                "districts".into(),
                format!("expected an array, found {other}"),
            ));
        }
    };
    if list.len() > MAX_EDIT_DISTRICTS {
        return Err(bad(
            "districts".into(),
            format!("at most {MAX_EDIT_DISTRICTS} districts in one edit"),
        ));
    }
    let mut districts = Vec::new();
    for (i, d) in list.iter().enumerate() {
        let at = |k: &str| format!("districts[{i}].{k}");
        if !d.is_object() {
            return Err(bad(format!("districts[{i}]"), "expected an object".into()));
        }
        only(
            d,
            &["pcode", "level", "reason", "expires_at"],
            &format!("districts[{i}]."),
        )?;
        let text = |k: &str| -> Result<String, AdminError> {
            match d.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                None | Some(Value::Null) => Err(bad(at(k), "required".into())),
                Some(Value::String(_)) => Err(bad(at(k), "required, found \"\"".into())),
                Some(other) => Err(bad(at(k), format!("expected a string, found {other}"))),
            }
        };
        let pcode = text("pcode")?;
        let level_s = text("level")?;
        let level = Level::ALL
            .into_iter()
            .find(|l| l.name_en() == level_s)
            .ok_or_else(|| {
                bad(
                    at("level"),
                    format!("expected green, yellow, orange or red, found {level_s:?}"),
                )
            })?;
        let reason = text("reason")?;
        let expires_at = match d.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|e| bad(at("expires_at"), format!("expected RFC 3339, {s:?}: {e}")))?
                    .with_timezone(&Utc),
            ),
            Some(other) => {
                return Err(bad(
                    at("expires_at"),
                    format!("expected an RFC 3339 time, found {other}"),
                ));
            }
        };
        districts.push(DistrictEdit {
            pcode,
            level,
            reason,
            expires_at,
        });
    }
    Ok(ProposalEdit {
        districts,
        instruction_pt: text_field(v, "instruction_pt")?,
        instruction_en: text_field(v, "instruction_en")?,
    })
}

fn override_json(o: &OverrideRecord, now: DateTime<Utc>) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert("active".into(), json!(o.active_at(now)));
        m.insert(
            "links".into(),
            json!({"lift": format!("/api/admin/overrides/{}/lift", o.id)}),
        );
    }
    v
}

/// `POST /api/admin/proposals/{id}/edit`.
#[utoipa::path(post, path = "/api/admin/proposals/{id}/edit", tag = "admin", operation_id = "editProposal",
    summary = "Edit a proposal before approval: districts' levels by hand with a reason, and an instruction; makes a new proposal",
    description = "Needs a bearer token with the role `editor` or higher. Body: {\"districts\": [{\"pcode\": \"MZ1103\", \"level\": \"red\", \"reason\": \"...\", \"expires_at\": \"RFC 3339, optional\"}], \"instruction_pt\": \"...\", \"instruction_en\": \"...\"}. The overrides hold for later proposals of the event until they expire or are lifted.",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Proposal id")),
    responses(
        (status = 200, description = "the new proposal, and the edited one's id", content_type = "application/json", body = Object),
        (status = 400, description = "A bad field, named: unknown P-code or level, no reason", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The role is below editor", body = AdminErrorBody),
        (status = 404, description = "No such proposal", body = AdminErrorBody),
        (status = 409, description = "Not waiting any more", body = AdminErrorBody)))]
pub(crate) async fn edit(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Body,
) -> Result<Response, AdminError> {
    let (who, api, v) = decision_as(&state, &headers, body, Role::Editor).await?;
    let e = parse_edit(&v)?;
    let actor = who.name.clone();
    let a = Arc::clone(&api);
    let made = blocking(move || {
        a.decider
            .edit(id, &actor, &e)
            .map_err(AdminError::Internal)?
            .map_err(refused)
    })
    .await?;
    let p = load(&api, made).await?;
    super::audit(&state, &who, &format!("edited proposal {id} into {made}"));
    Ok(json_response(
        StatusCode::OK,
        &json!({"edited": id, "proposal": proposal_json(&p)}),
    ))
}

/// `GET /api/admin/overrides[?event=ID]`.
#[utoipa::path(get, path = "/api/admin/overrides", tag = "admin", operation_id = "listOverrides",
    summary = "Manual overrides of district levels, newest first (lifted and expired ones included, with `active`)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("event" = Option<String>, Query, description = "Only this event's")),
    responses(
        (status = 200, description = "count, overrides", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody)))]
pub(crate) async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    notify_api(&state)?.authorize(&headers, Role::Viewer)?;
    let api = proposals_api(&state)?;
    let q = query_pairs(q, &["event"]).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let event = q.get("event").cloned();
    let rows = blocking(move || {
        api.store
            .overrides(event.as_deref())
            .map_err(AdminError::from)
    })
    .await?;
    let now = Utc::now();
    let list: Vec<Value> = rows.iter().map(|o| override_json(o, now)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": list.len(), "overrides": list}),
    ))
}

/// `POST /api/admin/overrides/{id}/lift`.
#[utoipa::path(post, path = "/api/admin/overrides/{id}/lift", tag = "admin", operation_id = "liftOverride",
    summary = "Lift a manual override: later proposals of the event use the forecast's level again",
    description = "Needs a bearer token with the role `approver` or higher. Optional body: {\"reason\": \"...\"}.",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Override id")),
    responses(
        (status = 200, description = "the lifted override", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The role is below approver", body = AdminErrorBody),
        (status = 404, description = "No such override", body = AdminErrorBody),
        (status = 409, description = "Lifted already", body = AdminErrorBody)))]
pub(crate) async fn lift(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Body,
) -> Result<Response, AdminError> {
    let (who, api, v) = decision_as(&state, &headers, body, Role::Approver).await?;
    let reason = text_field(&v, "reason")?.filter(|r| !r.trim().is_empty());
    let actor = who.name.clone();
    let o = blocking(move || {
        api.store
            .lift_override(id, &actor, reason.as_deref(), Utc::now())
            .map_err(AdminError::from)?
            .map_err(refused)
    })
    .await?;
    super::audit(&state, &who, &format!("lifted override {id}"));
    Ok(json_response(
        StatusCode::OK,
        &json!({"override": override_json(&o, Utc::now())}),
    ))
}
