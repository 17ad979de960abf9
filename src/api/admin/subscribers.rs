//! The subscriber resource of the admin API: list (`GET /api/admin/subscribers`), read one,
//! create (`POST`) and update (`PUT /api/admin/subscribers/{id}`), each answering with the
//! subscriber as stored and what the operator should know.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use super::subscriber_json::parse_input;
use super::{
    AdminError, AdminErrorBody, NotifyApi, SubscriberInput, audit, call, json_response, notify_api,
    require_json, subscriber_json,
};
use crate::api::ApiState;
use crate::api::ogc::query_pairs;
use crate::notify::config::Role;

/// `GET /api/admin/subscribers[?active=true|false]` (viewer).
#[utoipa::path(get, path = "/api/admin/subscribers", tag = "admin", operation_id = "listSubscribers",
    summary = "Subscribers (with their personal data: token-protected)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("active" = Option<bool>, Query, description = "Only active (true) or inactive (false) ones")),
    responses(
        (status = 200, description = "count, subscribers", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    api.authorize(&headers, Role::Viewer)?;
    let q = query_pairs(q, &["active"]).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let active = match q.get("active").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(AdminError::BadRequest(format!(
                "query parameter 'active': expected true or false, found {other:?}"
            )));
        }
    };
    let (subs, optouts) = call(&api, |s| Ok((s.subscribers(false)?, s.sms_optouts()?))).await?;
    let list: Vec<Value> = subs
        .iter()
        .filter(|s| active.is_none_or(|a| s.subscriber.active == a))
        .map(|s| subscriber_json(s, &optouts))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": list.len(), "subscribers": list}),
    ))
}

/// `GET /api/admin/subscribers/{id}` (viewer).
#[utoipa::path(get, path = "/api/admin/subscribers/{id}", tag = "admin", operation_id = "getSubscriber",
    summary = "One subscriber",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    responses(
        (status = 200, description = "The subscriber", content_type = "application/json", body = Object),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody)))]
pub(crate) async fn get_one(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    api.authorize(&headers, Role::Viewer)?;
    let key = id.clone();
    let (s, optouts) = call(&api, move |s| Ok((s.subscriber(&key)?, s.sms_optouts()?))).await?;
    let s = s.ok_or_else(|| AdminError::NotFound(format!("subscriber {id:?} not found")))?;
    Ok(json_response(
        StatusCode::OK,
        &subscriber_json(&s, &optouts),
    ))
}

/// The stored subscriber and what the operator should know, after a write.
pub(super) async fn written(
    api: &Arc<NotifyApi>,
    id: &str,
    status: StatusCode,
) -> Result<Response, AdminError> {
    let key = id.to_string();
    let (s, optouts) = call(api, move |s| Ok((s.subscriber(&key)?, s.sms_optouts()?))).await?;
    let s = s.ok_or_else(|| AdminError::Internal(format!("subscriber {id} vanished")))?;
    Ok(json_response(
        status,
        &json!({
            "subscriber": subscriber_json(&s, &optouts),
            "warnings": api.warnings(&s, &optouts),
        }),
    ))
}

/// `POST /api/admin/subscribers` (editor): 201, or 409 when the id exists.
#[utoipa::path(post, path = "/api/admin/subscribers", tag = "admin", operation_id = "createSubscriber",
    summary = "Create a subscriber",
    description = "Needs a bearer token with the role `editor` or higher.",
    security(("bearer" = [])),
    request_body(content = SubscriberInput, content_type = "application/json", description = "The subscriber (id required)"),
    responses(
        (status = 201, description = "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`", content_type = "application/json", body = Object),
        (status = 400, description = "Not a JSON subscriber", body = AdminErrorBody),
        (status = 409, description = "The id exists", body = AdminErrorBody),
        (status = 415, description = "Not application/json", body = AdminErrorBody),
        (status = 422, description = "A field is wrong: `field` (phones[0], districts[1], polygon[0]…) and `subscriber` name it", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn create(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Editor)?.clone();
    require_json(&headers)?;
    let input = parse_input(&body)?;
    let id = input.id.clone().unwrap_or_default();
    let sub = input.into_subscriber(id.clone(), &api)?;
    let created = call(&api, move |s| s.create_subscriber(&sub, Utc::now())).await?;
    if !created {
        return Err(AdminError::Conflict(format!(
            "subscriber {id:?} exists: update it with PUT /api/admin/subscribers/{id}"
        )));
    }
    audit(&state, &who, &format!("created subscriber {id}"));
    written(&api, &id, StatusCode::CREATED).await
}

/// `PUT /api/admin/subscribers/{id}` (editor): replaces the subscriber's data.
#[utoipa::path(put, path = "/api/admin/subscribers/{id}", tag = "admin", operation_id = "updateSubscriber",
    summary = "Replace a subscriber's data (an opt-out stays)",
    description = "Needs a bearer token with the role `editor` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    request_body(content = SubscriberInput, content_type = "application/json", description = "The subscriber (id optional; it must match the path)"),
    responses(
        (status = 200, description = "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`", content_type = "application/json", body = Object),
        (status = 400, description = "Not a JSON subscriber", body = AdminErrorBody),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 415, description = "Not application/json", body = AdminErrorBody),
        (status = 422, description = "A field is wrong (named), or the body's id is not the path's", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = AdminErrorBody)))]
pub(crate) async fn update(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Editor)?.clone();
    require_json(&headers)?;
    let input = parse_input(&body)?;
    if let Some(body_id) = &input.id
        && body_id != &id
    {
        return Err(AdminError::Invalid {
            subscriber: Some(id.clone()),
            line: None,
            field: Some("id".into()),
            message: format!(
                "expected the id of the path ({id:?}) or none, found {body_id:?} (ids do not change)"
            ),
        });
    }
    let sub = input.into_subscriber(id.clone(), &api)?;
    let updated = call(&api, move |s| s.update_subscriber(&sub, Utc::now())).await?;
    if !updated {
        return Err(AdminError::NotFound(format!(
            "subscriber {id:?} not found: create it with POST /api/admin/subscribers"
        )));
    }
    audit(&state, &who, &format!("updated subscriber {id}"));
    written(&api, &id, StatusCode::OK).await
}
