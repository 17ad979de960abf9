//! `[http_server]`: the limits and timeouts of the service's HTTP server (issue 17
//! findings 4 and 5): how long a client may take to send its headers and its body, how
//! many connections are served at once (and how many more are kept for health checks),
//! how many large request bodies are read at once. Parsed raw, validated once. Must not
//! depend on the pipeline, the store or the channels.
//!
//! [`serve`] is the accept loop: axum 0.8's `axum::serve` sets no timeout and no
//! connection limit (an idle socket stayed open for good; 1,100 of them exhausted 1,024
//! open files and /healthz timed out), so connections are served here with hyper's own
//! HTTP/1 connection builder, its header-read timer, and two semaphores.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// The routes a reserved connection answers: what a load balancer, an orchestrator or
/// Prometheus asks while the server is full.
pub const HEALTH_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// A reserved connection's header-read timeout: a health check sends its request at
/// once, and an idle socket that took a reserved slot must give it back quickly.
const RESERVED_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// After shutdown is asked, open connections get this long to finish their request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `[http_server]`; defaults documented in config/default.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    /// Seconds a connection may take to send a request's headers, counted from the moment
    /// it opens or its previous answer was sent: an idle socket, half-sent headers and an
    /// idle keep-alive connection are closed after this (hyper's `header_read_timeout`).
    pub header_read_timeout_s: f64,
    /// Longest wait, in seconds, for the next piece of a request body (a stalled upload).
    pub body_read_timeout_s: f64,
    /// Seconds for a whole request, body included, until its answer starts (a body that
    /// trickles in byte by byte). 408 after this.
    pub request_timeout_s: f64,
    /// Connections served at once. Keep `max_connections + reserved_connections` well
    /// below the process's open-file limit (`ulimit -n`, often 1024): the store, the
    /// feeds and the channels need files too.
    pub max_connections: usize,
    /// Connections beyond `max_connections` kept for health checks: on them only
    /// /healthz, /readyz and /metrics are answered (others get 503), one request each.
    pub reserved_connections: usize,
    /// A request body larger than this many bytes (by Content-Length; a body of unknown
    /// length counts as large) is a large upload.
    pub large_body_bytes: u64,
    /// Large uploads read at once; one more is answered 503 (Retry-After) before its body
    /// is read.
    pub max_concurrent_uploads: usize,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            header_read_timeout_s: 10.0,
            body_read_timeout_s: 10.0,
            request_timeout_s: 120.0,
            max_connections: 768,
            reserved_connections: 32,
            large_body_bytes: 65_536,
            max_concurrent_uploads: 2,
        }
    }
}

impl HttpServerConfig {
    /// Checks every key; the message names the key, the value and the range.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v, lo, hi) in [
            (
                "header_read_timeout_s",
                self.header_read_timeout_s,
                0.1,
                3600.0,
            ),
            ("body_read_timeout_s", self.body_read_timeout_s, 0.1, 3600.0),
            ("request_timeout_s", self.request_timeout_s, 1.0, 86_400.0),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(format!(
                    "http_server.{key} = {v}: expected {lo} to {hi} seconds"
                ));
            }
        }
        for (key, v, lo, hi) in [
            ("max_connections", self.max_connections as u64, 1, 1_000_000),
            (
                "reserved_connections",
                self.reserved_connections as u64,
                1,
                1024,
            ),
            ("large_body_bytes", self.large_body_bytes, 1024, 1 << 30),
            (
                "max_concurrent_uploads",
                self.max_concurrent_uploads as u64,
                1,
                1024,
            ),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(format!("http_server.{key} = {v}: expected {lo} to {hi}"));
            }
        }
        Ok(())
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.header_read_timeout_s)
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.body_read_timeout_s)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout_s)
    }
}

/// Serves `app` on `listener` with `cfg`'s timeouts and limits until `shutdown`
/// resolves; then stops accepting and gives open connections `SHUTDOWN_GRACE` to
/// finish. A connection beyond `max_connections` gets one of `reserved_connections`
/// (health routes only); beyond those it is closed at once.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cfg: &HttpServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = app
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            cfg.body_read_timeout(),
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout(),
        ));
    let general = Arc::new(Semaphore::new(cfg.max_connections));
    let reserved = Arc::new(Semaphore::new(cfg.reserved_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_errors = 0u64;
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE/ENFILE (out of files) and the like: wait for connections to
                    // close rather than spin. Logged once per 100, not per failure.
                    if accept_errors % 100 == 0 {
                        // ERROR: clients are turned away (often out of files: `ulimit -n`).
                        tracing::error!(error = %e, failures = accept_errors + 1, "http: accepting a connection failed");
                    }
                    accept_errors += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (permit, health_only) = match Arc::clone(&general).try_acquire_owned() {
            Ok(p) => (p, false),
            Err(_) => match Arc::clone(&reserved).try_acquire_owned() {
                Ok(p) => (p, true),
                // Full: closed at once, which frees its file now.
                Err(_) => continue,
            },
        };
        let timeout = if health_only {
            RESERVED_HEADER_READ_TIMEOUT.min(cfg.header_read_timeout())
        } else {
            cfg.header_read_timeout()
        };
        tokio::spawn(connection(
            stream,
            app.clone(),
            timeout,
            health_only,
            permit,
            stop_rx.clone(),
        ));
    }
    let _ = stop_tx.send(true);
    let all = |s: &Arc<Semaphore>, n: usize| {
        let s = Arc::clone(s);
        async move {
            let _ = s.acquire_many(u32::try_from(n).unwrap_or(u32::MAX)).await;
        }
    };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        all(&general, cfg.max_connections).await;
        all(&reserved, cfg.reserved_connections).await;
    })
    .await;
    Ok(())
}

/// One connection, HTTP/1.1 with keep-alive (none on a reserved one): hyper closes it
/// when its headers do not arrive within `header_read_timeout`, counted from when it
/// opened or its previous answer was sent.
async fn connection(
    stream: TcpStream,
    app: Router,
    header_read_timeout: Duration,
    health_only: bool,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        async move {
            if health_only && !HEALTH_PATHS.contains(&req.uri().path()) {
                return Ok::<_, Infallible>(busy());
            }
            app.oneshot(req.map(Body::new)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(!health_only);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// What a reserved connection answers outside the health routes.
fn busy() -> Response<Body> {
    let mut r = Response::new(Body::from(
        r#"{"code":"Busy","description":"the server is at its connection limit; retry shortly"}"#,
    ));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_a_zero_limit_is_refused_by_name() {
        assert_eq!(HttpServerConfig::default().validate(), Ok(()));
        let bad = HttpServerConfig {
            max_connections: 0,
            ..HttpServerConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("max_connections = 0"));
        let bad = HttpServerConfig {
            header_read_timeout_s: f64::NAN,
            ..HttpServerConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("header_read_timeout_s")
        );
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let e = toml::from_str::<HttpServerConfig>("idle_timeout_s = 5.0").unwrap_err();
        assert!(e.to_string().contains("idle_timeout_s"), "{e}");
    }
}
