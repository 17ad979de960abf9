//! The subscriber CSV export, `GET /api/admin/subscribers.csv` (viewer): every subscriber
//! in the layout the import (`import`) reads.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AdminError, AdminErrorBody, audit, call, notify_api};
use crate::api::ApiState;
use crate::notify::config::Role;
use crate::notify::subscriber::{self, Subscriber};

/// `GET /api/admin/subscribers.csv` (viewer): every subscriber, in the import layout.
#[utoipa::path(get, path = "/api/admin/subscribers.csv", tag = "admin", operation_id = "exportSubscribers",
    summary = "Every subscriber as CSV (the import layout)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn export(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Viewer)?.clone();
    let subs = call(&api, |s| s.subscribers(false)).await?;
    let list: Vec<Subscriber> = subs.into_iter().map(|s| s.subscriber).collect();
    let csv = subscriber::to_csv(&list).map_err(|e| AdminError::Internal(e.to_string()))?;
    audit(
        &state,
        &who,
        &format!("exported {} subscriber(s)", list.len()),
    );
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"aviso-subscribers.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
