//! `POST /api/sms/dlr`: the SMS gateway's delivery reports. Each report names the message
//! by the id the gateway answered when it took it (stored on the outbox row at send
//! time); the report's state (delivered, undelivered, in transit), the gateway's status
//! word and its reason are recorded on that message, shown in `/api/admin/outbox` and
//! counted in `/metrics`. An undelivered report is not resent (see [`crate::notify::dlr`]).
//!
//! The body is form-encoded (Africa's Talking, Twilio) or JSON (a generic gateway; field
//! names are then JSON paths). The gateway proves itself as for forwarded replies: the
//! `[notify.inbound]` shared secret in its header or as `?token=`.
//!
//! An adapter at the edge (axum, the notify store). Neither the answers nor the log lines
//! carry the phone number a report quotes (Africa's Talking posts `phoneNumber`): it is
//! never read. Must not depend on the pipeline or the channels.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::ApiState;
use super::admin::{AdminError, call, notify_api};
use super::optout::{form_pairs, token_of};
use crate::notify::channels::sms::json_path;
use crate::notify::dlr::{DlrError, DlrState};

/// `POST /api/sms/dlr`.
#[utoipa::path(post, path = "/api/sms/dlr", tag = "sms-gateway", operation_id = "smsDeliveryReport",
    summary = "A delivery report (DLR) from the SMS gateway",
    description = "Recorded on the outbox message with that gateway message id: delivered, undelivered or in transit, with the gateway's status and reason. An undelivered report is counted, not resent. Africa's Talking: form fields id, status (Success, Failed, Rejected, Buffered, Sent…), failureReason. Twilio: MessageSid, MessageStatus (queued, sent, delivered, undelivered, failed), ErrorCode. Generic: the fields of [notify.sms] dlr_id_field, dlr_status_field, dlr_reason_field (JSON paths for a JSON body).",
    security(("gatewaySecretHeader" = []), ("gatewaySecretQuery" = [])),
    request_body(description = "The gateway's report, form-encoded or JSON",
        content((Object = "application/x-www-form-urlencoded"), (Object = "application/json"))),
    responses(
        (status = 200, description = "outbox_id, state (the message's delivery state now), applied (false: an in-transit report after a final one)", content_type = "application/json", body = Object),
        (status = 400, description = "The body lacks a field or holds a bad value (`field` names it)", body = super::admin::AdminErrorBody),
        (status = 401, description = "No shared secret, or a wrong one", body = super::admin::AdminErrorBody),
        (status = 404, description = "These callbacks are not accepted here (off in [notify]), or (reports) no SMS has that message id (`gateway_id` names it)", body = super::admin::AdminErrorBody)))]
pub(crate) async fn sms_dlr(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let cb = api.gateway(&headers, token_of(q), "SMS delivery reports")?;
    let Some(spec) = &cb.dlr else {
        return Err(AdminError::NotFound(
            "SMS delivery reports are not accepted here ([notify.sms] dlr_enabled = false)".into(),
        ));
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    let report = if is_json {
        let doc: Value = serde_json::from_slice(&body).map_err(|e| AdminError::BadField {
            field: "(body)".into(),
            message: format!("expected a JSON delivery report, found: {e}"),
        })?;
        spec.read(&|path| json_path(&doc, path))
    } else {
        let form = form_pairs(&body);
        spec.read(&|name| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }
    .map_err(|e: DlrError| AdminError::BadField {
        field: e.field().to_string(),
        message: e.to_string(),
    })?;
    let r = report.clone();
    let Some(done) = call(&api, move |s| s.record_delivery_report(&r, Utc::now())).await? else {
        return Err(AdminError::UnknownMessage {
            gateway_id: report.gateway_id,
        });
    };
    // The key and the outbox id name the message; the number never appears.
    if done.applied && done.state == DlrState::Undelivered {
        // WARN: one subscriber's SMS is lost (handled: recorded, not resent).
        tracing::warn!(
            key = %done.idempotency_key,
            outbox = done.outbox_id,
            status = %done.status,
            reason = done.reason.as_deref().unwrap_or_default(),
            "notify: SMS was not delivered to the handset; not resent (see /api/admin/outbox)"
        );
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({
            "outbox_id": done.outbox_id,
            "state": done.state.as_str(),
            "applied": done.applied,
        })
        .to_string(),
    )
        .into_response())
}
