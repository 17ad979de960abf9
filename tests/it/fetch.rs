//! The HTTP fetcher against real servers on 127.0.0.1: an axum app for well-formed answers
//! (ETag, Last-Modified, 5xx, 404, 429, oversized bodies) and raw TCP servers on std
//! threads for what a framework will not send (a body cut short, a chunked body with no
//! length, a server that never answers). Nothing leaves localhost; timeouts and backoffs are
//! tiny so the file runs in about two seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aviso::feeds::fetch::{
    DEFAULT_USER_AGENT, FetchError, Fetched, Fetcher, HttpConfig, Validators, url_redacted,
};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Runs a future on a fresh single-threaded runtime (tokio's `macros` feature is not
/// enabled, so no `#[tokio::test]`); the axum server is spawned on the same runtime.
fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Small limits so failures come fast: 1 KiB cap, 10–50 ms backoff, 5 s timeouts.
fn test_config(retries: u32) -> HttpConfig {
    HttpConfig {
        connect_timeout_s: 5.0,
        timeout_s: 5.0,
        retries,
        backoff_initial_ms: 10,
        backoff_max_ms: 50,
        max_bytes: 1024,
        ..HttpConfig::default()
    }
}

const RSS_BODY: &str = "<rss version=\"2.0\"><channel/></rss>";
const ETAG: &str = "\"gdacs-v1\"";
const LAST_MODIFIED: &str = "Sun, 29 Dec 2019 12:00:00 GMT";

/// What the axum app saw: hits per route and the headers of every request.
#[derive(Default)]
struct Seen {
    hits: Mutex<Vec<(String, HeaderMap)>>,
}

impl Seen {
    fn record(&self, route: &str, h: &HeaderMap) -> usize {
        let mut hits = self.hits.lock().unwrap();
        hits.push((route.to_string(), h.clone()));
        hits.iter().filter(|(r, _)| r == route).count()
    }
    fn count(&self, route: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| r == route)
            .count()
    }
    fn header(&self, route: &str, nth: usize, name: header::HeaderName) -> Option<String> {
        let hits = self.hits.lock().unwrap();
        let (_, h) = hits.iter().filter(|(r, _)| r == route).nth(nth)?;
        h.get(name).map(|v| v.to_str().unwrap().to_string())
    }
}

async fn etag_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    seen.record("etag", &h);
    if h.get(header::IF_NONE_MATCH).is_some_and(|v| v == ETAG) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, ETAG)]).into_response();
    }
    (
        [
            (header::ETAG, ETAG),
            (header::CONTENT_TYPE, "application/rss+xml"),
        ],
        RSS_BODY,
    )
        .into_response()
}

async fn lastmod_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    seen.record("lastmod", &h);
    if h.get(header::IF_MODIFIED_SINCE)
        .is_some_and(|v| v == LAST_MODIFIED)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([(header::LAST_MODIFIED, LAST_MODIFIED)], RSS_BODY).into_response()
}

async fn flaky_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    match seen.record("flaky", &h) {
        1 | 2 => (StatusCode::INTERNAL_SERVER_ERROR, "try later").into_response(),
        _ => RSS_BODY.into_response(),
    }
}

async fn always_500_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    seen.record("always500", &h);
    (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
}

async fn missing_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    seen.record("missing", &h);
    (StatusCode::NOT_FOUND, "no such product").into_response()
}

async fn ua_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    seen.record("ua", &h);
    RSS_BODY.into_response()
}

async fn limited_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    match seen.record("limited", &h) {
        1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "slow down",
        )
            .into_response(),
        _ => RSS_BODY.into_response(),
    }
}

async fn limited_long_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    seen.record("limited_long", &h);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "3600")],
        "come back in an hour",
    )
        .into_response()
}

async fn big_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    seen.record("big", &h);
    vec![b'x'; 2048].into_response()
}

async fn exact_route(State(seen): State<Arc<Seen>>, h: HeaderMap) -> Response {
    seen.record("exact", &h);
    vec![b'x'; 1024].into_response()
}

/// Starts the axum app on a free port; returns its base URL and what it saw.
async fn start_app() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/etag", get(etag_route))
        .route("/lastmod", get(lastmod_route))
        .route("/flaky", get(flaky_route))
        .route("/always500", get(always_500_route))
        .route("/missing", get(missing_route))
        .route("/ua", get(ua_route))
        .route("/limited", get(limited_route))
        .route("/limited_long", get(limited_long_route))
        .route("/big", get(big_route))
        .route("/exact", get(exact_route))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// A raw TCP server on its own thread: `answer` gets each connection after its request
/// head has been read. Returns the address and a count of connections accepted. The thread
/// outlives the test (blocked in accept) and ends with the test process.
fn raw_server(answer: fn(TcpStream)) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            c.fetch_add(1, Ordering::SeqCst);
            read_request_head(&mut stream);
            answer(stream);
        }
    });
    (addr, count)
}

fn read_request_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}

fn body_of(f: Fetched) -> (Vec<u8>, Validators, u32) {
    match f {
        Fetched::Body {
            bytes,
            validators,
            attempts,
            ..
        } => (bytes, validators, attempts),
        other => panic!("expected a body, got {other:?}"),
    }
}

#[test]
fn etag_is_stored_and_a_second_fetch_with_it_is_not_modified() {
    run(async {
        let (base, seen) = start_app().await;
        let f = Fetcher::new(test_config(0)).unwrap();
        let url = format!("{base}/etag");

        let first = f.fetch(&url, &Validators::default()).await.unwrap();
        let Fetched::Body {
            bytes,
            final_url,
            status,
            content_type,
            validators,
            attempts,
        } = first
        else {
            panic!("expected a body on the first fetch");
        };
        assert_eq!(bytes, RSS_BODY.as_bytes());
        assert_eq!((status, attempts), (200, 1));
        assert_eq!(final_url, url);
        assert_eq!(content_type.as_deref(), Some("application/rss+xml"));
        assert_eq!(validators.etag.as_deref(), Some(ETAG));
        assert_eq!(seen.header("etag", 0, header::IF_NONE_MATCH), None);

        let second = f.fetch(&url, &validators).await.unwrap();
        assert_eq!(second, Fetched::NotModified { attempts: 1 });
        assert_eq!(
            seen.header("etag", 1, header::IF_NONE_MATCH).as_deref(),
            Some(ETAG)
        );

        // A stale validator gets the body again.
        let stale = Validators {
            etag: Some("\"gdacs-v0\"".into()),
            last_modified: None,
        };
        let (bytes, _, _) = body_of(f.fetch(&url, &stale).await.unwrap());
        assert_eq!(bytes, RSS_BODY.as_bytes());
    });
}

#[test]
fn last_modified_is_sent_back_as_if_modified_since() {
    run(async {
        let (base, seen) = start_app().await;
        let f = Fetcher::new(test_config(0)).unwrap();
        let url = format!("{base}/lastmod");
        let (_, validators, _) = body_of(f.fetch(&url, &Validators::default()).await.unwrap());
        assert_eq!(validators.last_modified.as_deref(), Some(LAST_MODIFIED));
        assert_eq!(validators.etag, None);

        let again = f.fetch(&url, &validators).await.unwrap();
        assert_eq!(again, Fetched::NotModified { attempts: 1 });
        assert_eq!(
            seen.header("lastmod", 1, header::IF_MODIFIED_SINCE)
                .as_deref(),
            Some(LAST_MODIFIED)
        );
    });
}

#[test]
fn two_server_errors_then_success_succeeds_on_the_third_attempt() {
    run(async {
        let (base, seen) = start_app().await;
        let f = Fetcher::new(test_config(3)).unwrap();
        let (bytes, _, attempts) = body_of(
            f.fetch(&format!("{base}/flaky"), &Validators::default())
                .await
                .unwrap(),
        );
        assert_eq!(bytes, RSS_BODY.as_bytes());
        assert_eq!(attempts, 3);
        assert_eq!(seen.count("flaky"), 3, "no request after the success");
    });
}

#[test]
fn persistent_5xx_gives_up_after_the_configured_retries() {
    run(async {
        let (base, seen) = start_app().await;
        let f = Fetcher::new(test_config(2)).unwrap();
        let err = f
            .fetch(&format!("{base}/always500"), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 503, .. }),
            "{err}"
        );
        assert_eq!((err.kind(), err.attempts()), ("http_5xx", 3));
        assert_eq!(seen.count("always500"), 3);
        assert!(err.to_string().contains("after 3 attempt(s)"), "{err}");
    });
}

#[test]
fn not_found_fails_at_once_without_retry() {
    run(async {
        let (base, seen) = start_app().await;
        let f = Fetcher::new(test_config(3)).unwrap();
        let url = format!("{base}/missing");
        let err = f.fetch(&url, &Validators::default()).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 404, .. }),
            "{err}"
        );
        assert_eq!((err.kind(), err.attempts()), ("http_4xx", 1));
        assert!(!err.is_retryable());
        assert_eq!(seen.count("missing"), 1);
        let msg = err.to_string();
        assert!(msg.contains(&url) && msg.contains("HTTP 404"), "{msg}");
    });
}

#[test]
fn error_messages_carry_no_credentials_or_tokens() {
    run(async {
        let (base, _) = start_app().await;
        let f = Fetcher::new(test_config(0)).unwrap();
        let host = base.trim_start_matches("http://");
        let url = format!("http://ingd:s3cr3t@{host}/missing?basin=SWI&api_key=K3Y&sig=5IG");
        let msg = f
            .fetch(&url, &Validators::default())
            .await
            .unwrap_err()
            .to_string();
        for secret in ["ingd", "s3cr3t", "K3Y", "5IG"] {
            assert!(!msg.contains(secret), "{secret} leaked: {msg}");
        }
        assert!(
            msg.contains(&format!(
                "http://{host}/missing?basin=SWI&api_key=REDACTED&sig=REDACTED"
            )),
            "{msg}"
        );
        assert_eq!(
            url_redacted(&url),
            format!("http://{host}/missing?basin=SWI&api_key=REDACTED&sig=REDACTED")
        );
    });
}

#[test]
fn user_agent_arrives_at_the_server() {
    run(async {
        let (base, seen) = start_app().await;
        let url = format!("{base}/ua");
        let custom = HttpConfig {
            user_agent: "aviso/0.1.0 (INGD early warning; ops@example.org)".into(),
            ..test_config(0)
        };
        Fetcher::new(custom)
            .unwrap()
            .fetch(&url, &Validators::default())
            .await
            .unwrap();
        Fetcher::new(test_config(0))
            .unwrap()
            .fetch(&url, &Validators::default())
            .await
            .unwrap();
        assert_eq!(
            seen.header("ua", 0, header::USER_AGENT).as_deref(),
            Some("aviso/0.1.0 (INGD early warning; ops@example.org)")
        );
        assert_eq!(
            seen.header("ua", 1, header::USER_AGENT).as_deref(),
            Some(DEFAULT_USER_AGENT)
        );
    });
}

#[test]
fn rate_limit_retry_after_is_honoured() {
    run(async {
        let (base, seen) = start_app().await;
        // Backoff alone would pause at most 10 ms; the server asks for 1 s.
        let cfg = HttpConfig {
            backoff_initial_ms: 10,
            backoff_max_ms: 2_000,
            ..test_config(1)
        };
        let f = Fetcher::new(cfg).unwrap();
        let t0 = Instant::now();
        let (_, _, attempts) = body_of(
            f.fetch(&format!("{base}/limited"), &Validators::default())
                .await
                .unwrap(),
        );
        let waited = t0.elapsed();
        assert_eq!((attempts, seen.count("limited")), (2, 2));
        assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
        assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    });
}

#[test]
fn an_excessive_retry_after_is_capped_at_the_backoff_maximum() {
    run(async {
        let (base, seen) = start_app().await;
        let f = Fetcher::new(test_config(1)).unwrap(); // backoff_max_ms = 50
        let t0 = Instant::now();
        let err = f
            .fetch(&format!("{base}/limited_long"), &Validators::default())
            .await
            .unwrap_err();
        assert_eq!((err.kind(), err.attempts()), ("http_429", 2));
        assert_eq!(seen.count("limited_long"), 2);
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    });
}

#[test]
fn a_declared_length_over_the_cap_fails_before_reading_and_is_not_retried() {
    run(async {
        let (base, seen) = start_app().await;
        let f = Fetcher::new(test_config(3)).unwrap();
        let err = f
            .fetch(&format!("{base}/big"), &Validators::default())
            .await
            .unwrap_err();
        match &err {
            FetchError::TooLarge {
                limit,
                declared_or_read,
                what,
                attempts,
                ..
            } => {
                assert_eq!((*limit, *declared_or_read, *what), (1024, 2048, "declares"));
                assert_eq!(*attempts, 1);
            }
            other => panic!("expected TooLarge, got {other}"),
        }
        assert_eq!(err.kind(), "too_large");
        assert_eq!(seen.count("big"), 1);
    });
}

#[test]
fn a_body_exactly_at_the_cap_is_accepted() {
    run(async {
        let (base, _) = start_app().await;
        let f = Fetcher::new(test_config(0)).unwrap();
        let (bytes, _, _) = body_of(
            f.fetch(&format!("{base}/exact"), &Validators::default())
                .await
                .unwrap(),
        );
        assert_eq!(bytes.len(), 1024);
    });
}

/// Chunked transfer: no Content-Length, 4 × 512 bytes against a 1024-byte cap.
fn chunked_2048(mut s: TcpStream) {
    let _ =
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    for _ in 0..4 {
        let _ = s.write_all(b"200\r\n");
        let _ = s.write_all(&[b'y'; 512]);
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
}

#[test]
fn a_body_without_length_is_cut_at_the_cap_while_streaming() {
    let (addr, conns) = raw_server(chunked_2048);
    run(async {
        let f = Fetcher::new(test_config(3)).unwrap();
        let err = f
            .fetch(&format!("http://{addr}/stream"), &Validators::default())
            .await
            .unwrap_err();
        match &err {
            FetchError::TooLarge {
                declared_or_read,
                what,
                ..
            } => {
                assert_eq!(*what, "reached");
                // Stopped at the first chunk that crossed 1024, never holding all 2048.
                assert!(
                    *declared_or_read > 1024 && *declared_or_read < 2048,
                    "{declared_or_read}"
                );
            }
            other => panic!("expected TooLarge, got {other}"),
        }
    });
    assert_eq!(conns.load(Ordering::SeqCst), 1, "TooLarge is not retried");
}

/// Declares 1000 bytes, sends 10, closes.
fn truncated(mut s: TcpStream) {
    let _ = s.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n0123456789",
    );
    let _ = s.flush();
}

#[test]
fn a_body_shorter_than_its_content_length_is_truncated_after_retries() {
    let (addr, conns) = raw_server(truncated);
    run(async {
        let f = Fetcher::new(test_config(2)).unwrap();
        let err = f
            .fetch(&format!("http://{addr}/cut"), &Validators::default())
            .await
            .unwrap_err();
        match &err {
            FetchError::Truncated {
                expected,
                got,
                attempts,
                ..
            } => {
                assert_eq!((*expected, *got, *attempts), (Some(1000), 10, 3));
            }
            other => panic!("expected Truncated, got {other}"),
        }
        assert_eq!(err.kind(), "truncated");
    });
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

/// Accepts and never answers; the socket is kept open so the client sees silence, not EOF.
fn hang(s: TcpStream) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        drop(s);
    });
}

#[test]
fn a_silent_server_times_out_on_every_attempt() {
    let (addr, conns) = raw_server(hang);
    let started = Instant::now();
    run(async {
        let cfg = HttpConfig {
            connect_timeout_s: 0.25,
            timeout_s: 0.25,
            ..test_config(2)
        };
        let err = Fetcher::new(cfg)
            .unwrap()
            .fetch(&format!("http://{addr}/feed.xml"), &Validators::default())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
        assert_eq!((err.kind(), err.attempts()), ("timeout", 3));
        assert!(err.is_retryable());
    });
    assert_eq!(conns.load(Ordering::SeqCst), 3);
    // Three 0.25 s timeouts plus at most 2 × 50 ms of backoff.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    // Bind then drop: the port is (almost certainly) closed for the fetch.
    let addr = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    run(async {
        let err = Fetcher::new(test_config(1))
            .unwrap()
            .fetch(&format!("http://{addr}/x"), &Validators::default())
            .await
            .unwrap_err();
        assert_eq!((err.kind(), err.attempts()), ("connect", 2), "{err}");
    });
}

#[test]
fn non_http_urls_are_refused_before_any_request() {
    run(async {
        let f = Fetcher::new(test_config(3)).unwrap();
        for url in ["file:///etc/passwd", "ftp://example.org/x", "not a url"] {
            let err = f.fetch(url, &Validators::default()).await.unwrap_err();
            assert_eq!(
                (err.kind(), err.attempts()),
                ("invalid_url", 0),
                "{url}: {err}"
            );
        }
    });
}

#[test]
fn an_invalid_configuration_is_refused_by_new() {
    let err = Fetcher::new(HttpConfig {
        timeout_s: -1.0,
        ..HttpConfig::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), "config");
    assert!(err.to_string().contains("http.timeout_s"), "{err}");
}
