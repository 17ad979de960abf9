//! What an approver sends or holds by hand for an event (issue 13 §3):
//! - `POST /api/admin/events/{event_id}/cancel` (approver): `{"reason_pt", "reason_en"}`
//!   proposes the Cancel of the event's published Alert/Update (an all-clear or
//!   withdrawal), made by the caller;
//! - `POST /api/admin/events/{event_id}/error` (approver): the same for a CAP Error that
//!   withdraws the published version as sent in error, the reason explaining the error;
//! - `POST /api/admin/events/{event_id}/hold` (approver): `{"reason", "expires_at"?}` holds
//!   the event's subscriber notifications: a version published meanwhile goes public but
//!   queues no message;
//! - `POST /api/admin/events/{event_id}/hold/lift` (approver): `{"reason"?}`; nothing is
//!   sent retroactively, the next published version notifies as usual;
//! - `GET /api/admin/holds[?event=]` (viewer): holds, newest first, with `active`.
//!
//! A Cancel or Error becomes a proposal like any other: another approver approves it when
//! four eyes is on, and its review shows the messages. Every refusal is a 4xx naming the
//! problem (no such event 404, nothing published / already cancelled / held already / not
//! held 409, missing reason 400, role below approver 403). The role is checked before any
//! byte of a body is read. An adapter at the edge: must not depend on the pipeline (the
//! [`HandActions`] port does the work).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::proposals::{
    ProposalsApi, blocking, decision_as, load, messages_json, proposal_json, proposals_api,
    refused, text_field,
};
use super::{AdminError, AdminErrorBody, json_response, notify_api};
use crate::alerts::versioning::MsgType;
use crate::api::ApiState;
use crate::api::ogc::query_pairs;
use crate::notify::config::Role;
use crate::notify::outbound::Planned;
use crate::store::approval::{ProposalRecord, ProposalState, Refusal};
use crate::store::holds::{HoldRecord, active_hold};

/// What the routes need of the service (serialised with its publications).
pub trait HandActions: Send + Sync {
    /// Proposes the Cancel or Error of `event_id`'s published version: the proposal id.
    fn send_by_hand(
        &self,
        event_id: &str,
        actor: &str,
        msg_type: MsgType,
        reason: [&str; 2],
    ) -> Result<Result<i64, Refusal>, String>;
    fn hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Result<HoldRecord, Refusal>, String>;
    fn lift_hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Result<HoldRecord, Refusal>, String>;
}

fn hold_json(h: &HoldRecord, now: DateTime<Utc>) -> Value {
    let mut v = h.json();
    v["active"] = json!(h.active_at(now));
    v
}

/// The review's `messages`: for a waiting proposal, what it would send now, or — while
/// its event is held — none, saying so (`held`: the hold, `withheld`: how many would go);
/// for a published one, what was actually queued for its version (from the outbox, by
/// state), or that its messages were held.
pub(super) async fn messages_view(
    state: &Arc<ApiState>,
    api: &Arc<ProposalsApi>,
    p: &ProposalRecord,
    planned: &[Planned],
) -> Result<Value, AdminError> {
    let event = p.alert.summary.event_id.clone();
    let alert_id = p.alert.summary.id.clone();
    let a = Arc::clone(api);
    let holds = blocking(move || a.store.holds(Some(&event)).map_err(AdminError::from)).await?;
    let now = Utc::now();
    match p.state {
        ProposalState::Proposed => {
            let event = &p.alert.summary.event_id;
            Ok(match active_hold(&holds, event, now) {
                Some(h) => {
                    let mut m = messages_json(std::iter::empty());
                    m["held"] = hold_json(&h, now);
                    m["withheld"] = json!(planned.len());
                    m
                }
                None => messages_json(planned.iter().map(|x| &x.outbound)),
            })
        }
        ProposalState::Published => {
            let store = Arc::clone(&notify_api(state)?.store);
            let event = p.alert.summary.event_id.clone();
            let id = alert_id.clone();
            let rows = blocking(move || {
                let rows = store.outbox(Some(&event)).map_err(AdminError::from)?;
                Ok(rows
                    .into_iter()
                    .filter(|r| r.alert_id == id)
                    .collect::<Vec<_>>())
            })
            .await?;
            let mut m = messages_json(rows.iter().map(|r| &r.message));
            let mut by_state = std::collections::BTreeMap::<&str, usize>::new();
            for r in &rows {
                *by_state.entry(r.state.as_str()).or_default() += 1;
            }
            m["published"] = json!(true);
            m["alert_id"] = json!(alert_id);
            m["by_state"] = json!(by_state);
            // Held at publication: the hold in force then (set before, not lifted before).
            let at = p.decided_at.unwrap_or(now);
            m["held"] = holds
                .iter()
                .find(|h| {
                    h.created_at <= at
                        && h.lifted_at.is_none_or(|l| l > at)
                        && h.set.expires_at.is_none_or(|e| e > at)
                })
                .map_or(Value::Null, |h| hold_json(h, now));
            Ok(m)
        }
        ProposalState::Rejected | ProposalState::Superseded => {
            Ok(messages_json(std::iter::empty()))
        }
    }
}

async fn send(
    state: Arc<ApiState>,
    headers: HeaderMap,
    event_id: String,
    body: Body,
    msg_type: MsgType,
) -> Result<Response, AdminError> {
    let (who, api, v) = decision_as(&state, &headers, body, Role::Approver).await?;
    let pt = text_field(&v, "reason_pt")?.unwrap_or_default();
    let en = text_field(&v, "reason_en")?.unwrap_or_default();
    let actor = who.name.clone();
    let a = Arc::clone(&api);
    let event = event_id.clone();
    let id = blocking(move || {
        a.hand
            .send_by_hand(&event, &actor, msg_type, [&pt, &en])
            .map_err(AdminError::Internal)?
            .map_err(refused)
    })
    .await?;
    let p = load(&api, id).await?;
    super::audit(
        &state,
        &who,
        &format!("proposed the {} of event {event_id}", msg_type.as_str()),
    );
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"proposal": proposal_json(&p)}),
    ))
}

/// `POST /api/admin/events/{event_id}/cancel`.
#[utoipa::path(post, path = "/api/admin/events/{event_id}/cancel", tag = "admin", operation_id = "cancelEvent",
    summary = "Propose the Cancel of an event's published Alert or Update (an all-clear or withdrawal), made by hand",
    description = "Needs a bearer token with the role `approver` or higher. Body: {\"reason_pt\": \"...\", \"reason_en\": \"...\"} (both required). The Cancel is the event's next version, references the published one, clears its districts and carries the reason; it is a proposal that another approver approves when four eyes is on, and no auto-publish rule publishes it.",
    security(("bearer" = [])),
    params(("event_id" = String, Path, description = "Event id")),
    responses(
        (status = 201, description = "the proposal", content_type = "application/json", body = Object),
        (status = 400, description = "A reason is missing or too long", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The role is below approver", body = AdminErrorBody),
        (status = 404, description = "No such event", body = AdminErrorBody),
        (status = 409, description = "Nothing published yet, or the event is cancelled or withdrawn already", body = AdminErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(event_id): Path<String>,
    body: Body,
) -> Result<Response, AdminError> {
    send(state, headers, event_id, body, MsgType::Cancel).await
}

/// `POST /api/admin/events/{event_id}/error`.
#[utoipa::path(post, path = "/api/admin/events/{event_id}/error", tag = "admin", operation_id = "errorEvent",
    summary = "Propose a CAP Error withdrawing an event's published version as sent in error, made by hand",
    description = "Needs a bearer token with the role `approver` or higher. Body: {\"reason_pt\": \"...\", \"reason_en\": \"...\"} (both required: they explain the error, in the CAP note and description). Once published the event is inactive, as after a Cancel.",
    security(("bearer" = [])),
    params(("event_id" = String, Path, description = "Event id")),
    responses(
        (status = 201, description = "the proposal", content_type = "application/json", body = Object),
        (status = 400, description = "A reason is missing or too long", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The role is below approver", body = AdminErrorBody),
        (status = 404, description = "No such event", body = AdminErrorBody),
        (status = 409, description = "Nothing published yet, or the event is cancelled or withdrawn already", body = AdminErrorBody)))]
pub(crate) async fn error(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(event_id): Path<String>,
    body: Body,
) -> Result<Response, AdminError> {
    send(state, headers, event_id, body, MsgType::Error).await
}

/// `POST /api/admin/events/{event_id}/hold`.
#[utoipa::path(post, path = "/api/admin/events/{event_id}/hold", tag = "admin", operation_id = "holdEvent",
    summary = "Hold an event's subscriber notifications: versions published meanwhile go public but queue no message",
    description = "Needs a bearer token with the role `approver` or higher. Body: {\"reason\": \"...\" (required), \"expires_at\": \"RFC 3339\" (optional)}.",
    security(("bearer" = [])),
    params(("event_id" = String, Path, description = "Event id")),
    responses(
        (status = 201, description = "the hold", content_type = "application/json", body = Object),
        (status = 400, description = "No reason, or a bad or past expires_at", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The role is below approver", body = AdminErrorBody),
        (status = 404, description = "No such event", body = AdminErrorBody),
        (status = 409, description = "The event is held already", body = AdminErrorBody)))]
pub(crate) async fn hold(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(event_id): Path<String>,
    body: Body,
) -> Result<Response, AdminError> {
    let (who, api, v) = decision_as(&state, &headers, body, Role::Approver).await?;
    let reason = text_field(&v, "reason")?.unwrap_or_default();
    let expires_at = text_field(&v, "expires_at")?
        .map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| AdminError::BadField {
                    field: "expires_at".into(),
                    message: format!("expected an RFC 3339 time, found {t:?}: {e}"),
                })
        })
        .transpose()?;
    let actor = who.name.clone();
    let event = event_id.clone();
    let h = blocking(move || {
        api.hand
            .hold(&event, &actor, &reason, expires_at)
            .map_err(AdminError::Internal)?
            .map_err(refused)
    })
    .await?;
    super::audit(
        &state,
        &who,
        &format!("held the notifications of event {event_id}"),
    );
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"hold": hold_json(&h, Utc::now())}),
    ))
}

/// `POST /api/admin/events/{event_id}/hold/lift`.
#[utoipa::path(post, path = "/api/admin/events/{event_id}/hold/lift", tag = "admin", operation_id = "liftHold",
    summary = "Lift an event's notification hold: nothing is sent retroactively, the next published version notifies as usual",
    description = "Needs a bearer token with the role `approver` or higher. Optional body: {\"reason\": \"...\"}.",
    security(("bearer" = [])),
    params(("event_id" = String, Path, description = "Event id")),
    responses(
        (status = 200, description = "the lifted hold", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The role is below approver", body = AdminErrorBody),
        (status = 409, description = "The event is not held", body = AdminErrorBody)))]
pub(crate) async fn lift(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(event_id): Path<String>,
    body: Body,
) -> Result<Response, AdminError> {
    let (who, api, v) = decision_as(&state, &headers, body, Role::Approver).await?;
    let reason = text_field(&v, "reason")?;
    let actor = who.name.clone();
    let event = event_id.clone();
    let h = blocking(move || {
        api.hand
            .lift_hold(&event, &actor, reason.as_deref())
            .map_err(AdminError::Internal)?
            .map_err(refused)
    })
    .await?;
    super::audit(
        &state,
        &who,
        &format!("lifted the notification hold of event {event_id}"),
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"hold": hold_json(&h, Utc::now())}),
    ))
}

/// `GET /api/admin/holds[?event=ID]`.
#[utoipa::path(get, path = "/api/admin/holds", tag = "admin", operation_id = "listHolds",
    summary = "Notification holds, newest first (lifted and expired ones included, with `active`)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("event" = Option<String>, Query, description = "Only this event's")),
    responses(
        (status = 200, description = "count, holds", content_type = "application/json", body = Object),
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
    let rows =
        blocking(move || api.store.holds(event.as_deref()).map_err(AdminError::from)).await?;
    let now = Utc::now();
    let list: Vec<Value> = rows.iter().map(|h| hold_json(h, now)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": list.len(), "holds": list}),
    ))
}
