//! Guards run before a handler reads a request body (issue 17 finding 4): an
//! authenticated route (the admin API, the SMS gateway's callbacks) refuses a missing or
//! wrong credential before a byte of the body is read, and large uploads are read a few at
//! a time. Without them, 100 unauthenticated 10 MiB POSTs were buffered in full (RSS +620
//! MiB) before the token was even looked at. An adapter at the edge (axum); must not
//! depend on the pipeline or the channels.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::optout::token_of;
use crate::notify::config::Role;

/// Admin routes: a request without a token this server knows is answered 401 here, its
/// body unread (hyper then closes the connection rather than drain it). The role is
/// checked by the handler (403 for a viewer's write). Without subscribers served the
/// handler answers its own 404.
pub(crate) async fn admin_token(
    State(state): State<Arc<ApiState>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(api) = &state.notify {
        match api.authorize(req.headers(), Role::Viewer) {
            Err(e) => return e.into_response(),
            // Token use goes to the audit trail (issue 13): which token, on what route.
            Ok(t) => super::admin::append_audit(
                &state,
                crate::store::approval::AuditEntry::new(
                    chrono::Utc::now(),
                    &t.name,
                    "token_used",
                    format!("{} {}", req.method(), req.uri().path()),
                )
                .with_detail(serde_json::json!({ "role": t.role.as_str() })),
            ),
        }
    }
    next.run(req).await
}

/// The SMS gateway's callbacks: the shared secret (header or `?token=`) is checked here,
/// before the form or JSON body is read. When no callback is accepted the handler answers
/// its own 404.
pub(crate) async fn gateway_secret(
    State(state): State<Arc<ApiState>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(api) = &state.notify
        && api.callbacks.is_some()
    {
        let token = token_of(Query::try_from_uri(req.uri()));
        if let Err(e) = api.gateway(req.headers(), token, "SMS callbacks") {
            return e.into_response();
        }
    }
    next.run(req).await
}

/// Every route: a large body (over `[http_server] large_body_bytes`, or of unknown
/// length) is read only with one of `max_concurrent_uploads` permits, held until the
/// answer is ready; without a free permit the request is answered 503 with Retry-After,
/// its body unread.
pub(crate) async fn upload_permit(
    State(state): State<Arc<ApiState>>,
    req: Request,
    next: Next,
) -> Response {
    if !has_large_body(&req, state.uploads.large_body_bytes) {
        return next.run(req).await;
    }
    let Ok(permit) = Arc::clone(&state.uploads.permits).try_acquire_owned() else {
        let mut resp = (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"code":"Busy","description":"too many large uploads at once; retry in a few seconds"}"#,
        )
            .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return resp;
    };
    let resp = next.run(req).await;
    drop(permit);
    resp
}

/// Large uploads: the threshold and the permits (`[http_server]`).
pub struct Uploads {
    pub(crate) large_body_bytes: u64,
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
}

impl Uploads {
    pub fn new(large_body_bytes: u64, max_concurrent: usize) -> Uploads {
        Uploads {
            large_body_bytes,
            permits: Arc::new(tokio::sync::Semaphore::new(max_concurrent)),
        }
    }
}

/// A body over `limit` bytes by Content-Length, or one sent chunked (length unknown). A
/// GET or HEAD without Content-Length has none.
fn has_large_body(req: &Request, limit: u64) -> bool {
    let h = req.headers();
    if let Some(len) = h.get(header::CONTENT_LENGTH) {
        return len
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_none_or(|n| n > limit);
    }
    h.contains_key(header::TRANSFER_ENCODING)
        && !matches!(*req.method(), Method::GET | Method::HEAD)
}
