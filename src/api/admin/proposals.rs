//! The duty officer's side of the approval workflow (issue 13), under the admin API:
//! - `GET /api/admin/proposals[?state=]` (viewer): proposals, newest first;
//! - `GET /api/admin/proposals/{id}` (viewer): the review — the proposal beside the
//!   published version, the districts whose level changes, people at risk, and the exact
//!   messages that would go out now (counts per channel, each distinct SMS text with its
//!   segments, each e-mail subject);
//! - `GET /api/admin/proposals/{id}/cap` and `/document` (viewer): the exact bytes;
//! - `POST /api/admin/proposals/{id}/approve` (approver): publishes it with its messages;
//! - `POST /api/admin/proposals/{id}/reject` (approver): `{"reason": "..."}`, required;
//! - edits and overrides: [`super::overrides`]; the audit trail: [`super::audit_trail`].
//!
//! Every refusal is a 4xx naming the problem (wrong role 403, unknown proposal 404, not
//! open or stale 409, four eyes 403, no reason 422). The role is checked before any byte
//! of a body is read. Publishing runs through the [`Decider`] port, which the wiring
//! implements with the pipeline (it plans the messages and serialises publications).
//!
//! An adapter at the edge: must not depend on the pipeline.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{AdminError, AdminErrorBody, AdminToken, json_response, notify_api};
use crate::alerts::approval::ProposalEdit;
use crate::api::ApiState;
use crate::api::ogc::query_pairs;
use crate::notify::config::Role;
use crate::notify::outbound::{Outbound, OutboundBody, Planned};
use crate::store::Store;
use crate::store::approval::{ApprovalStore, ProposalRecord, ProposalState, Refusal};

/// Largest body of an approve or reject request (a note or a reason): 16 KiB.
pub const MAX_DECISION_BYTES: usize = 16 * 1024;

/// What the API needs of the service to decide: the messages a proposal would send now,
/// and the decisions themselves (planned, serialised with the pipeline's publications,
/// and followed by the current alert). Errors are the store's or the planner's, as text.
pub trait Decider: Send + Sync {
    fn planned(&self, p: &ProposalRecord) -> Result<Vec<Planned>, String>;
    fn approve(
        &self,
        id: i64,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Result<usize, Refusal>, String>;
    fn reject(&self, id: i64, actor: &str, reason: &str) -> Result<Result<(), Refusal>, String>;
    /// Edits open proposal `id` (issue 13): returns the new proposal's id.
    fn edit(
        &self,
        id: i64,
        actor: &str,
        edit: &ProposalEdit,
    ) -> Result<Result<i64, Refusal>, String>;
}

/// The proposals routes' state: the store's approval half, the published versions and
/// the decider.
pub struct ProposalsApi {
    pub store: Arc<dyn ApprovalStore>,
    pub alerts: Arc<dyn Store>,
    pub decider: Arc<dyn Decider>,
    /// A Cancel or Error sent by hand, and notification holds ([`super::hand`]).
    pub hand: Arc<dyn super::hand::HandActions>,
}

pub(super) fn proposals_api(state: &ApiState) -> Result<Arc<ProposalsApi>, AdminError> {
    state
        .proposals
        .clone()
        .ok_or_else(|| AdminError::NotFound("the approval workflow is not served here".into()))
}

pub(super) fn refused(r: Refusal) -> AdminError {
    let m = r.to_string();
    match r {
        Refusal::NotFound { .. } | Refusal::NoOverride { .. } => AdminError::NotFound(m),
        Refusal::NotOpen { .. } | Refusal::Stale { .. } | Refusal::Lifted { .. } => {
            AdminError::Conflict(m)
        }
        Refusal::FourEyes { .. } => AdminError::Forbidden { message: m },
        Refusal::NoReason { .. } => AdminError::BadField {
            field: "reason".into(),
            message: m,
        },
        Refusal::BadEdit { field, message } => AdminError::BadField { field, message },
        Refusal::NoEvent { .. } => AdminError::NotFound(m),
        Refusal::NothingPublished { .. }
        | Refusal::AlreadyWithdrawn { .. }
        | Refusal::HoldActive { .. }
        | Refusal::NotHeld { .. } => AdminError::Conflict(m),
        Refusal::MissingReason { field, .. } => AdminError::BadField {
            field: field.into(),
            message: m,
        },
    }
}

/// Runs blocking work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AdminError::Internal(format!("store task: {e}")))?
}

pub(super) fn proposal_json(p: &ProposalRecord) -> Value {
    let s = &p.alert.summary;
    json!({
        "id": p.id,
        "state": p.state.as_str(),
        "created_at": p.created_at,
        "event_id": s.event_id,
        "event_name": s.event_name,
        "alert_id": s.id,
        "version": s.version,
        "msg_type": s.msg_type.as_str(),
        "status": s.status.as_str(),
        "max_level": s.max_level,
        "reference_time": s.reference_time,
        "base": p.base,
        "issuance_id": p.issuance_id,
        "edited_by": p.edited_by,
        "decided_by": p.decided_by,
        "decided_at": p.decided_at,
        "reason": p.reason,
        "superseded_by": p.superseded_by,
        "links": {
            "self": format!("/api/admin/proposals/{}", p.id),
            "cap": format!("/api/admin/proposals/{}/cap", p.id),
            "document": format!("/api/admin/proposals/{}/document", p.id),
        },
    })
}

/// The messages as the approver sees them: counts per channel, each distinct SMS text
/// with how many get it and its segments, each e-mail subject with its count.
pub(super) fn messages_json<'a>(planned: impl IntoIterator<Item = &'a Outbound>) -> Value {
    use std::collections::BTreeMap;
    let mut by_channel: BTreeMap<&str, usize> = BTreeMap::new();
    let mut sms: BTreeMap<&str, (usize, Value)> = BTreeMap::new();
    let mut email: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total = 0;
    for p in planned {
        total += 1;
        *by_channel.entry(p.kind().as_str()).or_default() += 1;
        match &p.body {
            OutboundBody::Sms { text, count } => {
                let e = sms.entry(text.as_str()).or_insert_with(|| {
                    (
                        0,
                        json!({"segments": count.segments, "encoding": count.encoding, "units": count.units}),
                    )
                });
                e.0 += 1;
            }
            OutboundBody::Email { subject, .. } => *email.entry(subject.as_str()).or_default() += 1,
            OutboundBody::Webhook { .. } => {}
        }
    }
    json!({
        "total": total,
        "by_channel": by_channel,
        "sms": sms.into_iter().map(|(text, (n, c))| json!({"text": text, "recipients": n, "count": c})).collect::<Vec<_>>(),
        "email": email.into_iter().map(|(subject, n)| json!({"subject": subject, "recipients": n})).collect::<Vec<_>>(),
    })
}

/// `GET /api/admin/proposals[?state=proposed|published|rejected|superseded|all]`.
#[utoipa::path(get, path = "/api/admin/proposals", tag = "admin", operation_id = "listProposals",
    summary = "Proposed alert versions, newest first (default: those waiting for an approver)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("state" = Option<String>, Query, description = "proposed (default), published, rejected, superseded or all")),
    responses(
        (status = 200, description = "count, proposals", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "The approval workflow is not served here", body = AdminErrorBody)))]
pub(crate) async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    notify_api(&state)?.authorize(&headers, Role::Viewer)?;
    let api = proposals_api(&state)?;
    let q = query_pairs(q, &["state"]).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let wanted = match q.get("state").map(String::as_str) {
        None => Some(ProposalState::Proposed),
        Some("all") => None,
        Some(s) => Some(ProposalState::parse(s).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "query parameter 'state': expected proposed, published, rejected, superseded or all, found {s:?}"
            ))
        })?),
    };
    let rows = blocking(move || api.store.proposals(wanted).map_err(AdminError::from)).await?;
    let list: Vec<Value> = rows.iter().map(proposal_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": list.len(), "proposals": list}),
    ))
}

pub(super) async fn load(api: &Arc<ProposalsApi>, id: i64) -> Result<ProposalRecord, AdminError> {
    let a = Arc::clone(api);
    blocking(move || {
        a.store
            .proposal(id)
            .map_err(AdminError::from)?
            .ok_or_else(|| refused(Refusal::NotFound { id }))
    })
    .await
}

/// `GET /api/admin/proposals/{id}`: the review.
#[utoipa::path(get, path = "/api/admin/proposals/{id}", tag = "admin", operation_id = "reviewProposal",
    summary = "A proposal beside the published version: level changes, people at risk, and the messages it would send now",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Proposal id")),
    responses(
        (status = 200, description = "proposal, alert, published, changes, districts, messages", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "No such proposal", body = AdminErrorBody)))]
pub(crate) async fn review(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AdminError> {
    notify_api(&state)?.authorize(&headers, Role::Viewer)?;
    let api = proposals_api(&state)?;
    let p = load(&api, id).await?;
    let a = Arc::clone(&api);
    let event = p.alert.summary.event_id.clone();
    let (published, planned) = blocking(move || {
        let published = a.alerts.latest_version(&event).map_err(AdminError::from)?;
        // What it would send now: only a waiting proposal sends anything.
        let planned = if p.state == ProposalState::Proposed {
            a.decider.planned(&p).map_err(AdminError::Internal)?
        } else {
            Vec::new()
        };
        Ok((published, (p, planned)))
    })
    .await?;
    let (p, planned) = planned;
    // Why each district has its level, as the document says (an override names its
    // reason and author, issue 13).
    let doc: Value = serde_json::from_str(&p.alert.document).unwrap_or(Value::Null);
    let basis = |pcode: &str| {
        doc.get("features")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("properties"))
            .find(|pr| {
                matches!(
                    pr.get("layer").and_then(Value::as_str),
                    Some("district" | "flood_district")
                ) && pr.get("pcode").and_then(Value::as_str) == Some(pcode)
            })
            .map(|pr| {
                (
                    pr.get("level_basis").cloned().unwrap_or(Value::Null),
                    pr.get("override").cloned().unwrap_or(Value::Null),
                )
            })
    };
    let overridden: std::collections::BTreeMap<String, Value> = doc
        .pointer("/aviso/overrides")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o.get("pcode")?.as_str()?.to_string(), o.clone())))
        .collect();
    let districts: Vec<Value> = p
        .published
        .districts
        .iter()
        .map(|d| {
            let before = published
                .as_ref()
                .and_then(|s| s.districts.iter().find(|x| x.pcode == d.pcode))
                .map(|x| x.level);
            let (level_basis, over) = basis(&d.pcode).unwrap_or((Value::Null, Value::Null));
            let over = if over.is_null() {
                overridden.get(&d.pcode).cloned().unwrap_or(Value::Null)
            } else {
                over
            };
            let level_basis = if over.is_null() {
                level_basis
            } else {
                json!("override")
            };
            json!({
                "pcode": d.pcode,
                "name": d.name,
                "level": d.level,
                "published_level": before,
                "people_at_risk": d.people_at_risk,
                "level_basis": level_basis,
                "override": over,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "proposal": proposal_json(&p),
            "alert": crate::store::summary_json(&p.alert.summary),
            "published": published.as_ref().map(crate::store::summary_json),
            "changes": p.alert.summary.changes,
            "districts": districts,
            "messages": super::hand::messages_view(&state, &api, &p, &planned).await?,
            "instruction_pt": doc.pointer("/aviso/instruction_pt"),
            "instruction_en": doc.pointer("/aviso/instruction_en"),
        }),
    ))
}

/// `GET /api/admin/proposals/{id}/cap`: the CAP XML exactly as it would go out.
#[utoipa::path(get, path = "/api/admin/proposals/{id}/cap", tag = "admin", operation_id = "proposalCap",
    summary = "The proposal's CAP 1.2 XML, byte for byte as it would be published",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Proposal id")),
    responses((status = 200, description = "CAP 1.2", content_type = "application/cap+xml"),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "No such proposal", body = AdminErrorBody)))]
pub(crate) async fn cap(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AdminError> {
    notify_api(&state)?.authorize(&headers, Role::Viewer)?;
    let p = load(&proposals_api(&state)?, id).await?;
    Ok(([(header::CONTENT_TYPE, "application/cap+xml")], p.alert.cap).into_response())
}

/// `GET /api/admin/proposals/{id}/document`: the GeoJSON document as it would go out.
#[utoipa::path(get, path = "/api/admin/proposals/{id}/document", tag = "admin", operation_id = "proposalDocument",
    summary = "The proposal's GeoJSON alert document, byte for byte as it would be published",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Proposal id")),
    responses((status = 200, description = "GeoJSON", content_type = "application/geo+json"),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "No such proposal", body = AdminErrorBody)))]
pub(crate) async fn document(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AdminError> {
    notify_api(&state)?.authorize(&headers, Role::Viewer)?;
    let p = load(&proposals_api(&state)?, id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        p.alert.document,
    )
        .into_response())
}

/// The approver and the decision's JSON body (`note` or `reason`), in this order: the
/// role (before any byte of the body is read), the routes being served, then the body,
/// capped; an empty body is `{}`.
async fn decision(
    state: &ApiState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(AdminToken, Arc<ProposalsApi>, Value), AdminError> {
    decision_as(state, headers, body, Role::Approver).await
}

/// [`decision`] for a request needing `role`.
pub(super) async fn decision_as(
    state: &ApiState,
    headers: &HeaderMap,
    body: Body,
    role: Role,
) -> Result<(AdminToken, Arc<ProposalsApi>, Value), AdminError> {
    let who = notify_api(state)?.authorize(headers, role)?.clone();
    let api = proposals_api(state)?;
    let bytes = axum::body::to_bytes(body, MAX_DECISION_BYTES)
        .await
        .map_err(|_| AdminError::TooLarge {
            limit: MAX_DECISION_BYTES,
        })?;
    let v = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        super::require_json(headers)?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| AdminError::BadRequest("the body: expected a JSON object".into()))?
    };
    Ok((who, api, v))
}

pub(super) fn text_field(v: &Value, key: &str) -> Result<Option<String>, AdminError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(AdminError::BadField {
            field: key.into(),
            message: format!("expected a string, found {other}"),
        }),
    }
}

/// `POST /api/admin/proposals/{id}/approve`: publishes the proposal with its messages.
#[utoipa::path(post, path = "/api/admin/proposals/{id}/approve", tag = "admin", operation_id = "approveProposal",
    summary = "Approve and publish a proposal: the version, its CAP and its subscribers' messages go out in one transaction",
    description = "Needs a bearer token with the role `approver` or higher. Optional body: {\"note\": \"...\"}.",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Proposal id")),
    responses(
        (status = 200, description = "published: alert id and messages queued", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The role is below approver, or four eyes: the approver edited it", body = AdminErrorBody),
        (status = 404, description = "No such proposal", body = AdminErrorBody),
        (status = 409, description = "Not waiting any more (published, rejected, superseded), or another version was published since", body = AdminErrorBody)))]
pub(crate) async fn approve(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Body,
) -> Result<Response, AdminError> {
    let (who, api, v) = decision(&state, &headers, body).await?;
    let note = text_field(&v, "note")?.filter(|n| !n.trim().is_empty());
    let actor = who.name.clone();
    let a = Arc::clone(&api);
    let queued = blocking(move || {
        a.decider
            .approve(id, &actor, note.as_deref())
            .map_err(AdminError::Internal)?
            .map_err(refused)
    })
    .await?;
    let p = load(&api, id).await?;
    super::audit(&state, &who, &format!("approved proposal {id}"));
    Ok(json_response(
        StatusCode::OK,
        &json!({"proposal": proposal_json(&p), "alert_id": p.alert.summary.id, "messages_queued": queued}),
    ))
}

/// `POST /api/admin/proposals/{id}/reject`: `{"reason": "..."}`; nothing goes out.
#[utoipa::path(post, path = "/api/admin/proposals/{id}/reject", tag = "admin", operation_id = "rejectProposal",
    summary = "Reject a proposal with a reason: nothing is published or sent",
    description = "Needs a bearer token with the role `approver` or higher. Body: {\"reason\": \"...\"} (required).",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Proposal id")),
    responses(
        (status = 200, description = "the rejected proposal", content_type = "application/json", body = Object),
        (status = 400, description = "No reason given", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The role is below approver", body = AdminErrorBody),
        (status = 404, description = "No such proposal", body = AdminErrorBody),
        (status = 409, description = "Not waiting any more, or another version was published since", body = AdminErrorBody)))]
pub(crate) async fn reject(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Body,
) -> Result<Response, AdminError> {
    let (who, api, v) = decision(&state, &headers, body).await?;
    let reason = text_field(&v, "reason")?.unwrap_or_default();
    let actor = who.name.clone();
    let a = Arc::clone(&api);
    blocking(move || {
        a.decider
            .reject(id, &actor, &reason)
            .map_err(AdminError::Internal)?
            .map_err(refused)
    })
    .await?;
    let p = load(&api, id).await?;
    super::audit(&state, &who, &format!("rejected proposal {id}"));
    Ok(json_response(
        StatusCode::OK,
        &json!({"proposal": proposal_json(&p)}),
    ))
}
