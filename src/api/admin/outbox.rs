//! The outbox as the admin API shows it, `GET /api/admin/outbox` (viewer): messages newest
//! first, with their state, attempts, the gateway's answer and the latest delivery report,
//! addresses masked.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{AdminError, AdminErrorBody, call, json_response, notify_api};
use crate::api::ApiState;
use crate::api::ogc::query_pairs;
use crate::notify::config::Role;
use crate::store::notify::{ERASED, OutboxRow};

/// Outbox rows in one answer, by default and at most.
pub const DEFAULT_OUTBOX_LIST: usize = 100;
pub const MAX_OUTBOX_LIST: usize = 1000;

fn outbox_json(r: &OutboxRow) -> Value {
    json!({
        "id": r.id,
        "subscriber_id": r.message.subscriber_id,
        "channel": r.message.kind().as_str(),
        "address": if r.message.channel.address() == ERASED {
            ERASED.to_string()
        } else {
            r.message.channel.redacted()
        },
        "idempotency_key": r.message.idempotency_key,
        "event_id": r.event_id,
        "alert_id": r.alert_id,
        "version": r.version,
        "notice": r.notice.as_str(),
        "level": r.level.map(|l| l.name_en()),
        "state": r.state.as_str(),
        "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at,
        "created_at": r.created_at,
        "delivered_at": r.delivered_at,
        "gateway_id": r.gateway_id,
        "last_error": r.last_error,
        "delivery_report": r.delivery.as_ref().map(|d| json!({
            "state": d.state.as_str(),
            "status": d.status,
            "reason": d.reason,
            "at": d.at,
        })),
    })
}

/// `GET /api/admin/outbox[?event=ID&limit=N]` (viewer): messages, newest first, with their
/// state and the gateway's last answer (addresses masked).
#[utoipa::path(get, path = "/api/admin/outbox", tag = "admin", operation_id = "listOutbox",
    summary = "Messages, newest first: state, attempts, the gateway's answer and its latest delivery report (addresses masked)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("event" = Option<String>, Query, description = "Only this event's messages"), ("limit" = Option<u32>, Query, minimum = 1, description = "Messages in the answer")),
    responses(
        (status = 200, description = "count, total, messages (each with delivery_report: state, status, reason, at, or null)", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn outbox(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    api.authorize(&headers, Role::Viewer)?;
    let q =
        query_pairs(q, &["event", "limit"]).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let limit = match q.get("limit") {
        None => DEFAULT_OUTBOX_LIST,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_OUTBOX_LIST).contains(n))
            .ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "query parameter 'limit': expected an integer from 1 to {MAX_OUTBOX_LIST}, found {l:?}"
                ))
            })?,
    };
    let event = q.get("event").cloned();
    let rows = call(&api, move |s| s.outbox(event.as_deref())).await?;
    let total = rows.len();
    let list: Vec<Value> = rows.iter().rev().take(limit).map(outbox_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": list.len(), "total": total, "messages": list}),
    ))
}
