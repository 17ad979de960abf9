//! The subscriber CSV import, `POST /api/admin/subscribers.csv` (editor), read as the body
//! arrives and never whole (issue 17 finding 4: 100 bodies of 10 MiB buffered at once took
//! the service from 743 to 1,366 MiB). The body streams into a CSV reader on a blocking
//! thread that parses and checks each row while keeping a copy in an unnamed temporary
//! file; only when every row is good is the copy read again and written in bounded
//! batches. Memory holds a few chunks, one batch and the ids, whatever the upload's size;
//! a file with one bad row is still refused whole, naming its line and column.
//!
//! An adapter at the edge (axum, the notify store, a temporary file); must not depend on
//! the pipeline or the channels.

use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::json;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::{
    AdminError, MAX_IMPORT_BYTES, NotifyApi, audit, content_type, json_response, notify_api,
};
use crate::api::ApiState;
use crate::notify::config::Role;
use crate::notify::subscriber::{CsvRows, SubscriberError};
use crate::store::notify::ImportReport;

/// Rows handed to the store per call: the store's own batch (500,
/// `store::sqlite::subscribers::IMPORT_BATCH_ROWS`), so each call is one bounded transaction
/// and only one batch of parsed subscribers is in memory.
const BATCH_ROWS: usize = 500;

/// Why the body stopped before its end (too large, the client went away, a timeout), kept
/// apart from the CSV's own errors, which name a line.
type BodyFault = Arc<Mutex<Option<AdminError>>>;

/// `POST /api/admin/subscribers.csv` (editor), `Content-Type: text/csv`: creates or
/// updates every row; a file with one bad row is refused whole, the first bad row named
/// by line and column. A body over [`MAX_IMPORT_BYTES`] is refused 413 (by its
/// Content-Length before a byte is read, or when the streamed count passes it).
#[utoipa::path(post, path = "/api/admin/subscribers.csv", tag = "admin", operation_id = "importSubscribers",
    summary = "Create or update subscribers from CSV (a file with one bad row is refused whole)",
    description = "Needs a bearer token with the role `editor` or higher.",
    security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv", description = "Columns id, name, active, language, min_level, hazards, receive_tests, emails, phones, webhooks, provinces, districts, features, polygon; lists separated by ';'"),
    responses(
        (status = 200, description = "created, updated, warnings", content_type = "application/json", body = Object),
        (status = 413, description = format!("Larger than {} bytes", super::MAX_IMPORT_BYTES)),
        (status = 415, description = "Not text/csv", body = super::AdminErrorBody),
        (status = 422, description = "A row is wrong: `line`, `field` and `subscriber` name it; nothing was stored", body = super::AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = super::AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = super::AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = super::AdminErrorBody)))]
pub(crate) async fn import(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Editor)?.clone();
    let ct = content_type(&headers);
    if !ct.starts_with("text/csv") {
        return Err(AdminError::UnsupportedMediaType {
            expected: "text/csv",
            found: ct,
        });
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_IMPORT_BYTES as u64) {
        return Err(too_large());
    }
    let fault: BodyFault = Arc::default();
    let reader = body_reader(body, Arc::clone(&fault));
    let worker = Arc::clone(&api);
    let done = tokio::task::spawn_blocking(move || {
        let done = import_rows(&worker, reader);
        give_back_freed_memory();
        done
    })
    .await
    .map_err(|e| AdminError::Internal(format!("import task: {e}")));
    // A body that broke explains a CSV error it caused.
    if let Some(e) = fault.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    let (rows, report, warnings) = done??;
    audit(
        &state,
        &who,
        &format!(
            "imported {rows} subscriber(s) from CSV: {} created, {} updated",
            report.created, report.updated
        ),
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"created": report.created, "updated": report.updated, "warnings": warnings}),
    ))
}

/// After an import (160,000 rows parsed twice, their ids kept, batches written): glibc
/// keeps the freed small blocks in its arenas, and `malloc_trim(0)` gives every whole free
/// page of every arena back to the system (malloc_trim(3): "since glibc 2.8 this function
/// frees memory in all arenas and in all chunks with whole free pages"). Called through
/// gdb after `benches/soak` (imports back to back), it took the service from 415 back to
/// 324 MiB, its RSS before the soak. Milliseconds, after an import of seconds; on a
/// blocking thread.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system; it takes glibc's own
    // arena locks and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn too_large() -> AdminError {
    AdminError::TooLarge {
        limit: MAX_IMPORT_BYTES,
    }
}

/// The body as a blocking reader (for a blocking thread only): chunks as they arrive,
/// counted against [`MAX_IMPORT_BYTES`]; a fault is recorded in `fault` and ends the read.
fn body_reader(body: Body, fault: BodyFault) -> impl Read + Send + 'static {
    let mut seen = 0usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let failed = |e: AdminError| {
            let message = e.to_string();
            *fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            Err(std::io::Error::other(message))
        };
        match chunk {
            Ok(bytes) => {
                seen = seen.saturating_add(bytes.len());
                if seen > MAX_IMPORT_BYTES {
                    failed(too_large())
                } else {
                    Ok(bytes)
                }
            }
            Err(e) => failed(AdminError::BadRequest(format!(
                "the CSV body could not be read to its end: {e}"
            ))),
        }
    });
    SyncIoBridge::new(StreamReader::new(stream))
}

/// Copies what is read into `copy` (by hand: a two-line wrapper, no crate needed).
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
}

fn spool_err(e: std::io::Error) -> AdminError {
    AdminError::Internal(format!(
        "import: the temporary copy of the CSV (in {}) failed: {e}",
        std::env::temp_dir().display()
    ))
}

/// The import's blocking part. Pass 1 parses and checks every row as the body arrives,
/// copying it to an unnamed temporary file (deleted when closed); pass 2 reads the copy
/// again and writes it in batches of [`BATCH_ROWS`], the warnings of each batch worked out
/// from the rows as written (never by loading every stored subscriber). Returns (rows,
/// report, warnings).
fn import_rows(
    api: &NotifyApi,
    body: impl Read,
) -> Result<(usize, ImportReport, Vec<String>), AdminError> {
    let spool = tempfile::tempfile().map_err(spool_err)?;
    let mut copy = BufWriter::new(&spool);
    {
        let tee = Tee {
            inner: body,
            copy: &mut copy,
        };
        let mut rows = CsvRows::new(tee, &api.known)?;
        while let Some((s, line)) = rows.next_row()? {
            api.check_features(&s, line)?;
        }
    }
    copy.flush().map_err(spool_err)?;
    drop(copy);
    (&spool).rewind().map_err(spool_err)?;

    let mut rows = CsvRows::new(BufReader::new(&spool), &api.known).map_err(reread)?;
    let now = Utc::now();
    let optouts = api.store.sms_optouts()?;
    let opted_out = api.store.opted_out()?;
    let mut report = ImportReport::default();
    let mut warnings = Warnings::default();
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    loop {
        let next = rows.next_row().map_err(reread)?;
        let end = next.is_none();
        batch.extend(next.map(|(s, _)| s));
        if batch.len() >= BATCH_ROWS || (end && !batch.is_empty()) {
            let done = api.store.import_subscribers(&batch, now)?;
            report.created += done.created;
            report.updated += done.updated;
            for s in &batch {
                let at = opted_out.get(&s.id).copied();
                for w in api.warnings_of(s, at, &optouts) {
                    warnings.push(format!("subscriber {:?}: {w}", s.id));
                }
            }
            batch.clear();
        }
        if end {
            break;
        }
    }
    Ok((rows.into_ids().len(), report, warnings.into_list()))
}

/// Warnings listed in an import's answer at most: a file of 100,000 subscribers on a
/// channel this server does not send on would otherwise answer 100,000 of them (some
/// 130 MiB of memory and a 20 MB answer); the rest are counted in a last line.
const MAX_WARNINGS: usize = 1000;

#[derive(Default)]
struct Warnings {
    listed: Vec<String>,
    more: usize,
}

impl Warnings {
    fn push(&mut self, w: String) {
        if self.listed.len() < MAX_WARNINGS {
            self.listed.push(w);
        } else {
            self.more += 1;
        }
    }

    fn into_list(mut self) -> Vec<String> {
        if self.more > 0 {
            self.listed.push(format!(
                "... and {} more warning(s) not listed (at most {MAX_WARNINGS} are)",
                self.more
            ));
        }
        self.listed
    }
}

/// The copy read back differs from what pass 1 accepted: the temporary file is broken.
fn reread(e: SubscriberError) -> AdminError {
    AdminError::Internal(format!(
        "import: the temporary copy of the CSV read back differently from the body: {e}"
    ))
}
