//! The rest of issue 17's hardening, through the real service (`aviso serve` on
//! 127.0.0.1, its feed and SMS gateway local servers; helpers from `hardening_small`):
//!
//! - an SMS gateway's error reply is not kept: the outbox (which viewers read) and the
//!   log hold its status and reason phrase only, and a huge reply is not read whole
//!   (finding 7, as for webhooks);
//! - the subscriber CSV import streams: a large file imports, and a bad row deep in it
//!   is named by line and column with nothing written (finding 4).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::hardening_small::{
    EDITOR, FAST_OUTBOX, feed_server, freddy_8_march, row_of, site_config, start_serve,
};

// --- finding 7: the SMS gateway's error replies ---------------------------------------------------

/// What the failing gateway writes: a key, the recipient's number (in two forms) and an
/// address of its own, none of which may reach the outbox or the log.
const LEAKY_REPLY: &str = r#"{"error":"Invalid apiKey sk_live_7Hq2ZpX9 for +258845550101 (84 555 0101); escalate to noc@gateway.example.com"}"#;

/// 200 MB in 64 KiB chunks.
const HUGE_CHUNKS: u64 = 3200;
static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// A gateway that refuses every message: 400 with [`LEAKY_REPLY`] for +258845550101, and
/// 503 with a 200 MB body (counting the bytes it produced) for anyone else.
async fn refusing_gateway(
    axum::extract::State(produced): axum::extract::State<Arc<AtomicU64>>,
    body: Bytes,
) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap();
    if v["to"] == "+258845550101" {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            LEAKY_REPLY,
        )
            .into_response();
    }
    let stream = futures_util::stream::StreamExt::take(
        futures_util::stream::repeat_with(move || {
            produced.fetch_add(CHUNK.len() as u64, Ordering::SeqCst);
            Ok::<_, Infallible>(Bytes::from_static(&CHUNK))
        }),
        HUGE_CHUNKS as usize,
    );
    (StatusCode::SERVICE_UNAVAILABLE, Body::from_stream(stream)).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_gateways_error_reply_is_kept_as_status_and_reason_only_and_read_up_to_a_cap() {
    let Some(issuance) = freddy_8_march() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let produced = Arc::new(AtomicU64::new(0));
    let gw = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw_base = format!("http://{}", gw.local_addr().unwrap());
    let app = Router::new()
        .route("/sms", post(refusing_gateway))
        .with_state(Arc::clone(&produced));
    tokio::spawn(async move { axum::serve(gw, app).await });
    let (feed_base, feed_body) = feed_server().await;
    let cfg = site_config(
        &dir.path().join("data"),
        &format!("{feed_base}/rsmc/freddy.json"),
        &format!(
            "[notify.sms]\nenabled = true\nurl = \"{gw_base}/sms\"\nstatus_path = \"status\"\naccepted_statuses = [\"accepted\"]\n{FAST_OUTBOX}"
        ),
    );
    let svc = start_serve(dir.path(), &cfg).await;
    for (id, phone) in [("sms-leak", "+258845550101"), ("sms-huge", "+258845550202")] {
        let (s, v) = svc
            .api
            .post_json(
                "/api/admin/subscribers",
                Some(EDITOR),
                &json!({"id": id, "name": id, "phones": [phone], "provinces": ["MZ11"],
                        "min_level": "green"}),
            )
            .await;
        assert_eq!(s, 201, "{id}: {v}");
    }
    *feed_body.lock().unwrap() = issuance;
    svc.wait_versions(1).await;
    svc.api.settled().await;
    let outbox = svc.outbox().await;

    let mut failed: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    let row = row_of(&outbox, "sms-leak");
    let err = row["last_error"].as_str().unwrap_or_default().to_string();
    check(row["state"] == "failed", format!("sms-leak: {row}"));
    check(
        err.contains("HTTP 400 Bad Request"),
        format!("sms-leak's status and reason: {err}"),
    );
    let log = svc.log();
    for (what, text) in [
        ("the outbox row", row.to_string()),
        ("the log", log.clone()),
    ] {
        for leak in ["sk_live", "Invalid apiKey", "noc@gateway", "555 0101"] {
            check(!text.contains(leak), format!("{leak} in {what}: {text}"));
        }
    }
    check(
        !err.contains("5550101"),
        format!("the number in sms-leak's error: {err}"),
    );
    let row = row_of(&outbox, "sms-huge");
    let err = row["last_error"].as_str().unwrap_or_default();
    check(
        row["state"] == "failed" && err.contains("HTTP 503 Service Unavailable"),
        format!("sms-huge: {row}"),
    );
    check(
        !err.contains("xxxx"),
        format!("sms-huge's reply kept: {err}"),
    );
    // The gateway could produce little of its 200 MB before aviso hung up (the cap plus
    // what the sockets' buffers hold).
    let written = produced.load(Ordering::SeqCst);
    check(
        written < 32 * 1024 * 1024,
        format!("the gateway produced {written} bytes of its 200 MB reply"),
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    eprintln!(
        "sms: 503 reply cut after {} kB produced; error kept: {err}",
        written / 1024
    );
}
