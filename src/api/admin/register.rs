//! The register of accommodation centres and sites (issue 14 part 1), through the admin
//! API: `POST /api/admin/register` (a whole register, HXL CSV or XLSX/ODS by
//! Content-Type), `GET /api/admin/register` (the register in force as HXL CSV),
//! `POST /api/admin/register/occupancy` (an occupancy update, all or nothing) and
//! `GET /api/admin/register/occupancy` (every occupancy figure of the register in force,
//! as an HXL update file).
//!
//! Validation is the core's (`RegisterBook`), against the layers this server loaded: a
//! register or update with any error is refused 422 with every issue (row, column,
//! message) and the register in force stays. The role is checked from the token before a
//! byte of the body is read (the `guard::admin_token` layer refuses unknown tokens, the
//! handler a role below editor), and the body is read up to [`MAX_REGISTER_UPLOAD_BYTES`].
//! An adapter at the edge (axum, the register store); must not depend on the pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde_json::json;

use super::{AdminError, AdminErrorBody, audit, content_type, json_response, notify_api};
use crate::api::ApiState;
use crate::api::plan::PlanApi;
use crate::domain::{IssueSeverity, RegisterIssue};
use crate::layers::register::{
    ReadOptions, RegisterFileError, occupancy_history_to_hxl, parse_occupancy_updates,
    parse_register, register_to_hxl,
};
use crate::notify::config::Role;
use crate::plan::register::{RegisterBook, RegisterRejected};
use crate::store::registers::{OccupancyFigure, Provenance};

/// Largest register or occupancy upload: 16 MiB. A national DTM list is a few thousand
/// rows, well under 1 MiB; the file reader's own limit is 64 MiB
/// (`layers::register::MAX_REGISTER_BYTES`), for files on disk.
pub const MAX_REGISTER_UPLOAD_BYTES: usize = 16 * 1024 * 1024;

/// Content types a register may come as: HXL CSV, or a spreadsheet (first sheet).
const ACCEPTED: &[&str] = &[
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.ms-excel",
];

pub(super) fn plan_api(state: &ApiState) -> Result<Arc<PlanApi>, AdminError> {
    state.plan.clone().ok_or(AdminError::Disabled)
}

fn check_type(headers: &HeaderMap) -> Result<(), AdminError> {
    let ct = content_type(headers);
    if ACCEPTED.iter().any(|a| ct.starts_with(a)) {
        Ok(())
    } else {
        Err(AdminError::UnsupportedMediaType {
            expected: "text/csv (HXL) or an XLSX/ODS spreadsheet",
            found: ct,
        })
    }
}

/// The body, up to [`MAX_REGISTER_UPLOAD_BYTES`] (refused by its Content-Length before a
/// byte is read, or when the count passes it).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, AdminError> {
    use futures_util::StreamExt;
    let too_large = || AdminError::TooLarge {
        limit: MAX_REGISTER_UPLOAD_BYTES,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REGISTER_UPLOAD_BYTES as u64) {
        return Err(too_large());
    }
    let mut out = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            AdminError::BadRequest(format!("the body could not be read to its end: {e}"))
        })?;
        if out.len() + chunk.len() > MAX_REGISTER_UPLOAD_BYTES {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The query of the POST routes: `source` (a name for the upload, e.g. its file name)
/// and `occupancy_date` (the DTM round's date for figures without a `#date` column).
/// An editor's upload, checked in this order: the token (before any byte of the body is
/// read), the routes being served, the content type, the query, then the body, capped.
struct Upload {
    who: super::AdminToken,
    plans: Arc<PlanApi>,
    /// "upload <name>", for messages and the history.
    source: String,
    opts: ReadOptions,
    bytes: Vec<u8>,
}

async fn upload(
    state: &ApiState,
    headers: &HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Body,
    default_name: &str,
) -> Result<Upload, AdminError> {
    let api = notify_api(state)?;
    let who = api.authorize(headers, Role::Editor)?.clone();
    let plans = plan_api(state)?;
    check_type(headers)?;
    let (source, opts) = upload_query(q)?;
    let bytes = read_body(headers, body).await?;
    Ok(Upload {
        who,
        plans,
        source: format!(
            "upload {}",
            source.unwrap_or_else(|| default_name.to_string())
        ),
        opts,
        bytes,
    })
}

fn upload_query(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<(Option<String>, ReadOptions), AdminError> {
    let Query(pairs) = q.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let mut q: HashMap<String, String> = HashMap::new();
    for (k, v) in pairs {
        if !matches!(k.as_str(), "source" | "occupancy_date") {
            return Err(AdminError::BadRequest(format!(
                "unknown query parameter {k:?}: expected source or occupancy_date"
            )));
        }
        q.insert(k, v);
    }
    let occupancy_date = match q.get("occupancy_date") {
        None => None,
        Some(d) => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            AdminError::BadRequest(format!("occupancy_date {d:?}: expected YYYY-MM-DD"))
        })?),
    };
    let source = q
        .get("source")
        .map(|s| s.chars().filter(|c| !c.is_control()).take(200).collect());
    Ok((source, ReadOptions { occupancy_date }))
}

fn issue_json(i: &RegisterIssue) -> serde_json::Value {
    json!({
        "severity": match i.severity { IssueSeverity::Error => "error", IssueSeverity::Warning => "warning" },
        "source": i.source,
        "row": i.row,
        "column": i.column,
        "message": i.message,
    })
}

/// 422 with every issue of a refused register or update.
fn rejected(r: &RegisterRejected) -> Response {
    let errors = r.errors().count();
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "code": "InvalidRegister",
            "description": format!(
                "{}: {errors} error(s); nothing was stored and the register in force is unchanged",
                r.origin
            ),
            "errors": errors,
            "issues": r.issues.iter().map(issue_json).collect::<Vec<_>>(),
        }),
    )
}

/// 422 for a file that cannot be read at all (not CSV, no hashtag row...).
fn unreadable(e: &RegisterFileError, source: &str) -> Response {
    rejected(&RegisterRejected {
        origin: source.to_string(),
        issues: vec![RegisterIssue {
            severity: IssueSeverity::Error,
            source: source.to_string(),
            row: 0,
            column: String::new(),
            message: e.to_string(),
        }],
    })
}

pub(super) fn blocking_err(e: tokio::task::JoinError) -> AdminError {
    AdminError::Internal(format!("register task: {e}"))
}

/// `POST /api/admin/register` (editor): a new register.
#[utoipa::path(post, path = "/api/admin/register", tag = "admin", operation_id = "importRegister",
    summary = "Import the register of accommodation centres and sites (HXL CSV or XLSX); refused whole on any error",
    description = "Needs a bearer token with the role `editor` or higher. Columns by HXL hashtag (#loc+code, #loc+name, #loc+type, #adm2+pcode, #geo+lat, #geo+lon, #capacity, #capacity+area_m2, #affected+idps+ind, #affected+idps+hh, #date). Validated against the loaded boundaries: any error refuses the register (422, every issue with its row and column) and the register in force stays.",
    security(("bearer" = [])),
    params(
        ("source" = Option<String>, Query, description = "A name for the upload (its file name), used in messages and the history"),
        ("occupancy_date" = Option<String>, Query, format = Date, description = "Date of occupancy figures in a file without a #date column")),
    request_body(content = String, content_type = "text/csv", description = "HXL CSV, or an XLSX/ODS spreadsheet (first sheet) with its own Content-Type"),
    responses(
        (status = 200, description = "revision, entries, warnings", content_type = "application/json", body = Object),
        (status = 413, description = format!("Larger than {MAX_REGISTER_UPLOAD_BYTES} bytes")),
        (status = 415, description = "Neither CSV nor a spreadsheet", body = AdminErrorBody),
        (status = 422, description = "Refused: `issues` lists every error and warning (row, column, message); the register in force is unchanged", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = AdminErrorBody),
        (status = 404, description = "Registers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn import_register(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Body,
) -> Result<Response, AdminError> {
    let Upload {
        who,
        plans,
        source,
        opts,
        bytes,
    } = upload(&state, &headers, q, body, "register").await?;
    let _one = plans.writing.lock().await;
    let p = Arc::clone(&plans);
    let by = who.name.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let (candidate, issues) = match parse_register(&bytes, &source, &opts) {
            Ok(r) => r,
            Err(e) => return Ok(Err(unreadable(&e, &source))),
        };
        let mut book = RegisterBook::default();
        let warnings = match book.offer(candidate, issues, &p.layers.layers, &p.cfg) {
            Ok(w) => w,
            Err(r) => return Ok(Err(rejected(&r))),
        };
        let Some(register) = book.current() else {
            return Err(AdminError::Internal(
                "accepted register not in force".into(),
            ));
        };
        let from = Provenance {
            source: source.clone(),
            imported_by: by,
            at: Utc::now(),
        };
        let revision = p.registers.save_register(register, &from)?;
        Ok(Ok((revision, register.entries.len(), warnings, source)))
    })
    .await
    .map_err(blocking_err)??;
    match outcome {
        Err(resp) => {
            audit(&state, &who, "register import refused (422)");
            Ok(resp)
        }
        Ok((revision, entries, warnings, source)) => {
            audit(
                &state,
                &who,
                &format!("imported register revision {revision}: {entries} entries from {source}"),
            );
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "revision": revision,
                    "entries": entries,
                    "source": source,
                    "warnings": warnings.iter().map(issue_json).collect::<Vec<_>>(),
                }),
            ))
        }
    }
}

/// `POST /api/admin/register/occupancy` (editor): occupancy figures for the register in
/// force, all or nothing.
#[utoipa::path(post, path = "/api/admin/register/occupancy", tag = "admin", operation_id = "importOccupancy",
    summary = "Add occupancy figures (people present on a date) to the register in force; all or nothing",
    description = "Needs a bearer token with the role `editor` or higher. HXL columns #loc+code, #date, #affected+idps+ind and/or #affected+idps+hh. An unknown code or a negative figure refuses the whole update (422, every issue). The history is kept: each place's figures by date.",
    security(("bearer" = [])),
    params(
        ("source" = Option<String>, Query, description = "A name for the upload (its file name)"),
        ("occupancy_date" = Option<String>, Query, format = Date, description = "Date of the figures when the file has no #date column")),
    request_body(content = String, content_type = "text/csv", description = "HXL CSV, or an XLSX/ODS spreadsheet"),
    responses(
        (status = 200, description = "revision, figures", content_type = "application/json", body = Object),
        (status = 409, description = "The register changed while the update was checked: send it again", body = AdminErrorBody),
        (status = 413, description = format!("Larger than {MAX_REGISTER_UPLOAD_BYTES} bytes")),
        (status = 415, description = "Neither CSV nor a spreadsheet", body = AdminErrorBody),
        (status = 422, description = "Refused: `issues` lists every error (row, column, message); nothing was stored", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = AdminErrorBody),
        (status = 404, description = "Registers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn import_occupancy(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Body,
) -> Result<Response, AdminError> {
    let Upload {
        who,
        plans,
        source,
        opts,
        bytes,
    } = upload(&state, &headers, q, body, "occupancy").await?;
    let _one = plans.writing.lock().await;
    let p = Arc::clone(&plans);
    let by = who.name.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let batch = match parse_occupancy_updates(&bytes, &source, &opts) {
            Ok(b) => b,
            Err(e) => return Ok(Err(unreadable(&e, &source))),
        };
        let Some(stored) = p.registers.current_register()? else {
            return Ok(Err(rejected(&RegisterRejected {
                origin: source.clone(),
                issues: vec![RegisterIssue {
                    severity: IssueSeverity::Error,
                    source: source.clone(),
                    row: 0,
                    column: String::new(),
                    message: "no register was imported: import one first (POST \
                              /api/admin/register); the DEMONSTRATION register takes no \
                              occupancy"
                        .into(),
                }],
            })));
        };
        let figures: Vec<OccupancyFigure> = batch
            .updates
            .iter()
            .map(|u| OccupancyFigure {
                code: u.code.clone(),
                date: u.occupancy.date,
                individuals: u.occupancy.individuals,
                households: u.occupancy.households,
                source: u.occupancy.source.clone(),
            })
            .collect();
        let mut book = RegisterBook::in_force(stored.register);
        if let Err(r) = book.apply_occupancy(batch) {
            return Ok(Err(rejected(&r)));
        }
        let Some(register) = book.current() else {
            return Err(AdminError::Internal("updated register not in force".into()));
        };
        let from = Provenance {
            source: source.clone(),
            imported_by: by,
            at: Utc::now(),
        };
        match p
            .registers
            .save_occupancy(stored.info.revision, register, &figures, &from)?
        {
            Some(revision) => Ok(Ok((revision, figures.len(), source))),
            None => Err(AdminError::Conflict(format!(
                "{source}: the register changed (revision {} is no longer in force) while the \
                 update was checked: send it again",
                stored.info.revision
            ))),
        }
    })
    .await
    .map_err(blocking_err)??;
    match outcome {
        Err(resp) => {
            audit(&state, &who, "occupancy update refused (422)");
            Ok(resp)
        }
        Ok((revision, n, source)) => {
            audit(
                &state,
                &who,
                &format!(
                    "occupancy update from {source}: {n} figure(s), register revision {revision}"
                ),
            );
            Ok(json_response(
                StatusCode::OK,
                &json!({"revision": revision, "figures": n, "source": source}),
            ))
        }
    }
}

fn hxl_response(bytes: Vec<u8>, revision: i64, file: &str) -> Response {
    let mut resp = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        bytes,
    )
        .into_response();
    if let Ok(v) = revision.to_string().parse() {
        resp.headers_mut().insert("x-aviso-register-revision", v);
    }
    resp
}

/// The register in force read back from the store, or a 404 that says none was imported.
pub(super) async fn stored(
    plans: &Arc<PlanApi>,
) -> Result<crate::store::registers::StoredRegister, AdminError> {
    let p = Arc::clone(plans);
    tokio::task::spawn_blocking(move || p.registers.current_register())
        .await
        .map_err(blocking_err)??
        .ok_or_else(|| {
            AdminError::NotFound(
                "no register was imported (POST /api/admin/register): plans use the \
                 DEMONSTRATION register built from the health-facility layer"
                    .into(),
            )
        })
}

/// `GET /api/admin/register` (viewer): the register in force as HXL CSV.
#[utoipa::path(get, path = "/api/admin/register", tag = "admin", operation_id = "exportRegister",
    summary = "The register in force as HXL CSV (each place with its latest occupancy)",
    description = "Needs a bearer token with the role `viewer` or higher. The header X-Aviso-Register-Revision names the revision.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "HXL CSV", content_type = "text/csv", body = String),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "No register imported, or not served here", body = AdminErrorBody)))]
pub(crate) async fn export_register(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Viewer)?.clone();
    let plans = plan_api(&state)?;
    let s = stored(&plans).await?;
    let bytes = register_to_hxl(&s.register).map_err(|e| AdminError::Internal(e.to_string()))?;
    audit(
        &state,
        &who,
        &format!("exported register revision {}", s.info.revision),
    );
    Ok(hxl_response(
        bytes,
        s.info.revision,
        &format!("aviso-register-r{}.hxl.csv", s.info.revision),
    ))
}

/// `GET /api/admin/register/occupancy` (viewer): every occupancy figure of the register in
/// force, oldest first per place, as an HXL update file.
#[utoipa::path(get, path = "/api/admin/register/occupancy", tag = "admin", operation_id = "exportOccupancy",
    summary = "The occupancy history of the register in force as HXL CSV (every figure, oldest first per place)",
    description = "Needs a bearer token with the role `viewer` or higher. The layout POST /api/admin/register/occupancy reads.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "HXL CSV", content_type = "text/csv", body = String),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "No register imported, or not served here", body = AdminErrorBody)))]
pub(crate) async fn export_occupancy(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Viewer)?.clone();
    let plans = plan_api(&state)?;
    let s = stored(&plans).await?;
    let bytes =
        occupancy_history_to_hxl(&s.register).map_err(|e| AdminError::Internal(e.to_string()))?;
    audit(
        &state,
        &who,
        &format!(
            "exported the occupancy history of register revision {}",
            s.info.revision
        ),
    );
    Ok(hxl_response(
        bytes,
        s.info.revision,
        &format!("aviso-occupancy-r{}.hxl.csv", s.info.revision),
    ))
}
