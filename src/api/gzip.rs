//! gzip for API answers, off the async threads (issue 17 finding 6). tower-http's
//! `CompressionLayer` compressed every answer on the reactor threads, every time: the
//! 2.1 MB districts page the map loads cost ~150 ms of CPU per request, and 500 such
//! clients left /healthz waiting 9.9 s. Here an answer is compressed in `spawn_blocking`
//! (at most [`MAX_CONCURRENT`] at once), and answers that do not change while the server
//! runs (layer pages, static assets) are compressed once and kept: a handler marks one
//! with a [`CacheKey`], an asset is known by its ETag.
//!
//! An adapter at the edge (axum, flate2); must not depend on the pipeline or the store.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OnceCell, Semaphore};

use super::ApiState;

/// Answers smaller than this go uncompressed: gzip's header and a round trip through a
/// blocking thread cost more than they save (1 KiB, as nginx's `gzip_min_length` advice).
const MIN_BYTES: usize = 1024;
/// Compressions running at once: the machine's two cores, so a burst of gzip clients
/// queues here instead of taking every blocking thread.
pub const MAX_CONCURRENT: usize = 2;
/// The cache's bounds: a Host header goes into a page's links, so keys are the client's
/// to vary; past either bound the cache starts again empty.
const MAX_ENTRIES: usize = 256;
const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;

/// Marks an answer whose body is the same for the same key for the whole run (a layer
/// page: collection, base URL, limit, offset, bbox): its gzip is computed once.
#[derive(Debug, Clone)]
pub struct CacheKey(pub String);

/// Cache key -> its gzip (computed once), and the bytes kept in all.
type Entries = (HashMap<String, Arc<OnceCell<Bytes>>>, usize);

/// Compressed answers kept, and counts for /metrics.
#[derive(Default)]
pub struct GzipCache {
    entries: Mutex<Entries>,
    permits: GzipPermits,
    /// Compressions done (cached or not).
    pub compressions: AtomicU64,
    /// Answers served from the cache.
    pub cache_hits: AtomicU64,
}

struct GzipPermits(Arc<Semaphore>);

impl Default for GzipPermits {
    fn default() -> Self {
        GzipPermits(Arc::new(Semaphore::new(MAX_CONCURRENT)))
    }
}

impl GzipCache {
    /// The gzip of `body`, from the cache under `key` when there, else compressed (once,
    /// even when many ask at the same moment) and kept.
    async fn cached(&self, key: String, body: Bytes) -> Result<Bytes, String> {
        let cell = {
            let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let (map, bytes) = &mut *guard;
            if !map.contains_key(&key) && (map.len() >= MAX_ENTRIES || *bytes >= MAX_CACHED_BYTES) {
                map.clear();
                *bytes = 0;
            }
            Arc::clone(map.entry(key).or_default())
        };
        let mut fresh = false;
        let gz = cell
            .get_or_try_init(|| {
                fresh = true;
                self.compress(body)
            })
            .await?
            .clone();
        if fresh {
            let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            guard.1 += gz.len();
        } else {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(gz)
    }

    /// gzip (default level) on a blocking thread, [`MAX_CONCURRENT`] at a time.
    async fn compress(&self, body: Bytes) -> Result<Bytes, String> {
        let _permit = Arc::clone(&self.permits.0)
            .acquire_owned()
            .await
            .map_err(|e| format!("gzip permits: {e}"))?;
        self.compressions.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::default(),
            );
            enc.write_all(&body)
                .and_then(|()| enc.finish())
                .map(Bytes::from)
                .map_err(|e| format!("gzip: {e}"))
        })
        .await
        .map_err(|e| format!("gzip task: {e}"))?
    }
}

/// True when the request's Accept-Encoding admits gzip (RFC 9110 §12.5.3: `gzip` or `*`
/// with a q above 0).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
        })
}

/// Text-like answers only: images and archives are compressed already.
fn compressible(headers: &HeaderMap) -> bool {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
        || ct == "image/svg+xml"
}

/// The middleware: compresses the answer when the client asks and it is worth it.
pub(crate) async fn compress(
    State(state): State<Arc<ApiState>>,
    req: Request,
    next: Next,
) -> Response {
    let wants = accepts_gzip(req.headers());
    let resp = next.run(req).await;
    let h = resp.headers();
    if !wants
        || resp.status() != StatusCode::OK
        || h.contains_key(header::CONTENT_ENCODING)
        || !compressible(h)
    {
        return resp;
    }
    let key = resp
        .extensions()
        .get::<CacheKey>()
        .map(|k| k.0.clone())
        .or_else(|| {
            h.get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(|e| format!("etag\n{e}"))
        });
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if bytes.len() < MIN_BYTES {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let gz = match key {
        Some(k) => state.gzip.cached(k, bytes).await,
        None => state.gzip.compress(bytes).await,
    };
    let gz = match gz {
        Ok(gz) => gz,
        Err(e) => {
            tracing::error!(error = %e, "api: compressing an answer failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let h = &mut parts.headers;
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    h.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(gz))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ae(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn gzip_is_accepted_by_name_or_star_unless_its_q_is_zero() {
        assert!(accepts_gzip(&ae("gzip, deflate, br")));
        assert!(accepts_gzip(&ae("br;q=1.0, *;q=0.5")));
        assert!(!accepts_gzip(&ae("gzip;q=0, br")));
        assert!(!accepts_gzip(&ae("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
