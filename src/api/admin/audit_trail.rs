//! `GET /api/admin/audit[?after=&limit=&f=csv]` (viewer): the append-only audit trail of
//! the approval workflow (issue 13), JSON or CSV.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::proposals::{blocking, proposals_api};
use super::{AdminError, AdminErrorBody, json_response, notify_api};
use crate::api::ApiState;
use crate::notify::config::Role;
use crate::store::approval::AuditRecord;

/// Audit rows in one answer, by default and at most.
pub const DEFAULT_AUDIT_LIST: usize = 500;
pub const MAX_AUDIT_LIST: usize = 10_000;

fn csv_cell(s: &str) -> String {
    // RFC 4180 quoting; a leading = + - @ is prefixed with ' so a spreadsheet never runs
    // it as a formula (OWASP CSV injection).
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn audit_csv(rows: &[AuditRecord]) -> String {
    let mut out =
        String::from("id,at,actor,action,subject,reason,cap_sha256,document_sha256,detail\r\n");
    for r in rows {
        let e = &r.entry;
        let cells = [
            r.id.to_string(),
            e.at.to_rfc3339(),
            e.actor.clone(),
            e.action.clone(),
            e.subject.clone(),
            e.reason.clone().unwrap_or_default(),
            e.cap_sha256.clone().unwrap_or_default(),
            e.document_sha256.clone().unwrap_or_default(),
            if e.detail.is_null() {
                String::new()
            } else {
                e.detail.to_string()
            },
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// `GET /api/admin/audit[?after=ID&limit=N&f=json|csv]`: the audit trail, oldest first.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", operation_id = "auditLog",
    summary = "The append-only audit trail of every decision, oldest first (JSON or CSV)",
    description = "Needs a bearer token with the role `viewer` or higher. Nothing in it can be changed through the API.",
    security(("bearer" = [])),
    params(("after" = Option<i64>, Query, description = "Only rows with a larger id"),
        ("limit" = Option<u32>, Query, minimum = 1, description = "Rows in the answer"),
        ("f" = Option<String>, Query, description = "json (default) or csv")),
    responses(
        (status = 200, description = "count, entries (or CSV)", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "The approval workflow is not served here", body = AdminErrorBody)))]
pub(crate) async fn audit_log(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    notify_api(&state)?.authorize(&headers, Role::Viewer)?;
    let api = proposals_api(&state)?;
    // Not `query_pairs`: its `f` is the OGC API's (json or geojson); here it is json or csv.
    let Query(pairs) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let mut q = std::collections::HashMap::new();
    for (k, v) in pairs {
        if !matches!(k.as_str(), "after" | "limit" | "f") {
            return Err(AdminError::BadRequest(format!(
                "unknown query parameter {k:?}: expected after, limit or f"
            )));
        }
        if q.insert(k.clone(), v).is_some() {
            return Err(AdminError::BadRequest(format!(
                "query parameter {k:?}: expected it at most once"
            )));
        }
    }
    let after = match q.get("after") {
        None => 0,
        Some(a) => a.parse::<i64>().map_err(|_| {
            AdminError::BadRequest(format!(
                "query parameter 'after': expected an integer, found {a:?}"
            ))
        })?,
    };
    let limit = match q.get("limit") {
        None => DEFAULT_AUDIT_LIST,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_AUDIT_LIST).contains(n))
            .ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "query parameter 'limit': expected an integer from 1 to {MAX_AUDIT_LIST}, found {l:?}"
                ))
            })?,
    };
    let csv = match q.get("f").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(f) => {
            return Err(AdminError::BadRequest(format!(
                "query parameter 'f': expected json or csv, found {f:?}"
            )));
        }
    };
    let rows =
        blocking(move || api.store.audit_log(after, limit).map_err(AdminError::from)).await?;
    if csv {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"aviso-audit.csv\"",
                ),
            ],
            audit_csv(&rows),
        )
            .into_response());
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": rows.len(), "entries": rows}),
    ))
}
