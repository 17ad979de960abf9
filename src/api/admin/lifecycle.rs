//! A subscriber's state beyond their data: deactivate (editor, undoable), reactivate on
//! renewed consent (admin, clears an opt-out), and erase the person (admin, not undoable).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::json;

use super::subscribers::written;
use super::{AdminError, AdminErrorBody, audit, call, json_response, notify_api};
use crate::api::ApiState;
use crate::notify::config::Role;

/// `POST /api/admin/subscribers/{id}/deactivate` (editor).
#[utoipa::path(post, path = "/api/admin/subscribers/{id}/deactivate", tag = "admin", operation_id = "deactivateSubscriber",
    summary = "Deactivate (undone by an update with active=true, unless they opted out)",
    description = "Needs a bearer token with the role `editor` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    responses(
        (status = 200, description = "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`", content_type = "application/json", body = Object),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = AdminErrorBody)))]
pub(crate) async fn deactivate(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Editor)?.clone();
    let key = id.clone();
    if !call(&api, move |s| s.deactivate_subscriber(&key, Utc::now())).await? {
        return Err(AdminError::NotFound(format!("subscriber {id:?} not found")));
    }
    audit(&state, &who, &format!("deactivated subscriber {id}"));
    written(&api, &id, StatusCode::OK).await
}

/// `POST /api/admin/subscribers/{id}/reactivate` (admin): clears an opt-out.
#[utoipa::path(post, path = "/api/admin/subscribers/{id}/reactivate", tag = "admin", operation_id = "reactivateSubscriber",
    summary = "Reactivate, clearing an opt-out and the numbers' STOPs (on the person's renewed consent)",
    description = "Needs a bearer token with the role `admin` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    responses(
        (status = 200, description = "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`", content_type = "application/json", body = Object),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below admin", body = AdminErrorBody)))]
pub(crate) async fn reactivate(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Admin)?.clone();
    let key = id.clone();
    if !call(&api, move |s| s.reactivate_subscriber(&key, Utc::now())).await? {
        return Err(AdminError::NotFound(format!("subscriber {id:?} not found")));
    }
    audit(
        &state,
        &who,
        &format!("reactivated subscriber {id} (opt-out cleared)"),
    );
    written(&api, &id, StatusCode::OK).await
}

/// `POST /api/admin/subscribers/{id}/erase` (admin): erases the person (see
/// [`NotifyStore::erase_subscriber`](crate::store::notify::NotifyStore::erase_subscriber)):
/// their data leaves the store, their messages stay as counts for the audit trail. A POST
/// on its own path rather than `DELETE`: it is not the undoable deactivation, and a
/// separate verb in the audit log and the route table makes the difference plain. The id
/// is free for a new subscriber afterwards.
#[utoipa::path(post, path = "/api/admin/subscribers/{id}/erase", tag = "admin", operation_id = "eraseSubscriber",
    summary = "Erase the person: name, addresses, numbers, webhook URLs and areas leave the store; queued messages fail; sent ones keep counts, times and states with the recipient and body replaced by \"erased\"; a STOP stays refused as a digest. Not undoable.",
    description = "Needs a bearer token with the role `admin` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    responses(
        (status = 200, description = "erased (the id) and report (messages_failed, messages_scrubbed, attempts_scrubbed, sms_optouts_kept, checkpointed)", content_type = "application/json", body = Object),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below admin", body = AdminErrorBody)))]
pub(crate) async fn erase(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Admin)?.clone();
    let (key, by) = (id.clone(), who.name.clone());
    let Some(report) = call(&api, move |s| s.erase_subscriber(&key, &by, Utc::now())).await? else {
        return Err(AdminError::NotFound(format!(
            "subscriber {id:?} not found (nothing to erase)"
        )));
    };
    audit(
        &state,
        &who,
        &format!(
            "erased subscriber {id}: {} queued message(s) failed, {} message(s) scrubbed, {} SMS opt-out(s) kept as digests",
            report.messages_failed, report.messages_scrubbed, report.sms_optouts_kept
        ),
    );
    if !report.checkpointed {
        tracing::warn!(
            subscriber = %id,
            "erasure: the WAL checkpoint was blocked by a reader; old pages leave the WAL file at the next checkpoint"
        );
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"erased": id, "report": report}),
    ))
}
