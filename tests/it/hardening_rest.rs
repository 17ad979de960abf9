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
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::common;
use crate::hardening_small::{
    EDITOR, FAST_OUTBOX, Serve, feed_server, freddy_8_march, row_of, site_config, start_serve,
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

// --- finding 4: the import streams --------------------------------------------------------------

/// `aviso serve` with no notify channel, its feed serving nothing (no alert is needed):
/// `None` without the shared data.
async fn import_service(dir: &std::path::Path, extra: &str) -> Option<Serve> {
    common::data_file("boundaries/moz_adm0_ocha_ine_20190607_s100m.geojson")?;
    let (feed_base, _) = feed_server().await;
    let cfg = site_config(
        &dir.join("data"),
        &format!("{feed_base}/rsmc/none.json"),
        extra,
    );
    Some(start_serve(dir, &cfg).await)
}

/// Subscribers `{prefix}-{i}` for i in 0..rows, each row some 280 bytes (a long name, two
/// phones, two addresses, a district and a province).
fn wide_csv(prefix: &str, rows: usize) -> String {
    let mut csv = String::from("id,name,phones,emails,districts,provinces\n");
    let pad = "x".repeat(150);
    for i in 0..rows {
        csv.push_str(&format!(
            "{prefix}-{i},Ponto focal {i} {pad},+25884{:07};+25886{:07},pf{i}@ingd.example.org;cenoe{i}@ingd.example.org,MZ1103,MZ11\n",
            i % 10_000_000,
            i % 10_000_000
        ));
    }
    csv
}

async fn post_csv(svc: &Serve, csv: String) -> (u16, Value) {
    let (s, v, _) = svc
        .api
        .send(
            reqwest::Method::POST,
            "/api/admin/subscribers.csv",
            Some(EDITOR),
            Some("text/csv"),
            csv,
        )
        .await;
    (s, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_near_the_size_limit_streams_in_and_a_bad_last_row_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(svc) = import_service(dir.path(), "").await else {
        return;
    };
    // Close to the 10 MiB limit.
    let per_row = wide_csv("big", 1000).len() / 1000;
    let rows = 9_900_000 / per_row;
    let good = wide_csv("big", rows);
    assert!(
        good.len() < aviso::api::admin::MAX_IMPORT_BYTES,
        "{}",
        good.len()
    );
    assert!(good.len() > 9 * 1024 * 1024, "{}", good.len());

    // One bad cell on the last line: refused whole, named by line and column.
    let mut bad = wide_csv("bad", rows);
    bad.push_str("bad-last,Erro,+258840000009,,MZ9999,\n");
    let (s, v) = post_csv(&svc, bad).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        (v["line"].as_u64(), v["field"].as_str()),
        (Some(rows as u64 + 2), Some("districts[0]")),
        "{v}"
    );
    let (s, v) = svc
        .api
        .get("/api/admin/subscribers/bad-0", Some(EDITOR))
        .await;
    assert_eq!(s, 404, "a row of the refused file was written: {v}");

    // The good one: every row, and again as updates.
    let (s, v) = post_csv(&svc, good.clone()).await;
    assert_eq!((s, v["created"].as_u64()), (200, Some(rows as u64)), "{v}");
    // No SMS or e-mail channel here: every row warns twice (phones, emails), but the
    // answer lists 1,000 and counts the rest.
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1001, "{}", warnings.len());
    let more = 2 * rows - 1000;
    assert!(
        warnings[1000]
            .as_str()
            .unwrap()
            .contains(&format!("and {more} more warning(s)")),
        "{}",
        warnings[1000]
    );
    let last = format!("/api/admin/subscribers/big-{}", rows - 1);
    let (s, v) = svc.api.get(&last, Some(EDITOR)).await;
    assert_eq!(s, 200, "{v}");
    assert!(v.to_string().contains("MZ1103"), "{v}");
    let (s, v) = post_csv(&svc, good).await;
    assert_eq!(
        (s, v["created"].as_u64(), v["updated"].as_u64()),
        (200, Some(0), Some(rows as u64)),
        "{v}"
    );

    // Over the limit: 413, whether announced by Content-Length or counted as it streams.
    let over = wide_csv("over", 10_700_000 / per_row);
    assert!(over.len() > aviso::api::admin::MAX_IMPORT_BYTES);
    // Announced: answered before a byte of the body is sent (a client sending the body
    // could see the connection closed before it reads the answer, so none is sent).
    let addr = svc.api.base.trim_start_matches("http://").to_string();
    let answer = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/admin/subscribers.csv HTTP/1.1\r\nHost: aviso\r\nContent-Type: text/csv\r\nAuthorization: Bearer {EDITOR}\r\nContent-Length: {}\r\n\r\n",
            over.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut got)).await;
        String::from_utf8_lossy(&got).to_string()
    };
    assert!(
        answer.starts_with("HTTP/1.1 413") && answer.contains("PayloadTooLarge"),
        "{answer}"
    );
    let status = chunked_upload(&addr, over.into_bytes(), None).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status:?}");
}

/// Sends `body` to the import with `Transfer-Encoding: chunked` (no length announced), in
/// 64 KiB chunks; with `stall_after` the body stops after that many bytes and the socket
/// stays open. Returns the answer's status line ("" when none came within 60 s).
async fn chunked_upload(addr: &str, body: Vec<u8>, stall_after: Option<usize>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let head = format!(
        "POST /api/admin/subscribers.csv HTTP/1.1\r\nHost: aviso\r\nContent-Type: text/csv\r\nAuthorization: Bearer {EDITOR}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let end = stall_after.unwrap_or(body.len()).min(body.len());
        for chunk in body[..end].chunks(64 * 1024) {
            wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            wr.write_all(chunk).await?;
            wr.write_all(b"\r\n").await?;
        }
        if stall_after.is_none() {
            wr.write_all(b"0\r\n\r\n").await?;
        }
        // Keep the socket open (a stalled upload) until the test ends.
        tokio::time::sleep(Duration::from_secs(120)).await;
        Ok::<_, std::io::Error>(wr)
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while !got.windows(2).any(|w| w == b"\r\n") {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    let _ = read;
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_is_answered_while_the_rest_of_the_import_is_still_to_come() {
    let dir = tempfile::tempdir().unwrap();
    // Long body timeouts: only reading as it arrives can answer before the body ends.
    let Some(svc) = import_service(
        dir.path(),
        "[http_server]\nbody_read_timeout_s = 300.0\nrequest_timeout_s = 600.0\n",
    )
    .await
    else {
        return;
    };
    let addr = svc.api.base.trim_start_matches("http://").to_string();
    let mut csv = String::from("id,name,phones,districts\npf-1,Ponto focal,+258840000001,MZ9999\n");
    csv.push_str(&wide_csv("later", 2000));
    // The header and the bad row (line 2), then the upload stalls with 600 kB to come.
    let status = chunked_upload(&addr, csv.into_bytes(), Some(100)).await;
    assert!(
        status.starts_with("HTTP/1.1 422"),
        "expected the bad row's 422 before the body ends, got {status:?}"
    );
}
