//! Helpers shared by the notification tests that run real servers: an SMTP server
//! (Debian's aiosmtpd) and its Maildir read back by Python's `email` package, an SMS
//! gateway and a webhook receiver as local axum servers recording what they got, a feed
//! server, an HTTP client for the service's API, and Freddy's replayed issuances.
//! Moved here from tests/notify_service.rs so every notify test sets servers up alike.
#![allow(dead_code)] // each test file uses a part

use std::collections::BTreeMap;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::Value;

use aviso::notify::channels::webhook::{SIGNATURE_HEADER, verify};
use aviso::pipeline::demo::Replay;

use crate::common;

pub const TRACK: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";
pub const PYTHON: &str = "/usr/bin/python3";
pub const HOOK_SECRET: &str = "hook-secret";

pub fn sha256_hex(s: &str) -> String {
    aviso::api::admin::sha256(s)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn require(what: &str) {
    super::common::skip_or_fail(what);
}

// --- the SMTP server ------------------------------------------------------------------------

pub struct Smtpd {
    pub child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_smtpd(dir: &Path) -> Option<Smtpd> {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        require("aiosmtpd not installed (apt-get install python3-aiosmtpd)");
        return None;
    }
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = dir.join("maildir");
    let child = Command::new(PYTHON)
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Smtpd {
        child,
        port,
        maildir,
    })
}

/// The Maildir's messages decoded by Python's `email` package (an independent parser).
pub fn read_maildir(maildir: &Path) -> Vec<Value> {
    let script = r#"
import sys, json, email, email.policy, glob, os, re
out = []
# Arrival order: Python's Maildir names files '<sec>.M<usec>P<pid>Q<count>.<host>', and
# <count> rises by one per message; the names do not sort as text (M999 > M1000).
for f in sorted(glob.glob(os.path.join(sys.argv[1], 'new', '*')), key=lambda f: int(re.search(r'Q(\d+)', os.path.basename(f)).group(1))):
    m = email.message_from_binary_file(open(f, 'rb'), policy=email.policy.default)
    parts = [p.get_content() for p in m.walk() if not p.is_multipart()]
    out.append({'rcpt': str(m['X-RcptTo']), 'subject': str(m['Subject']),
                'message_id': str(m['Message-ID']), 'parts': parts,
                'list_unsubscribe': str(m['List-Unsubscribe']),
                'list_unsubscribe_post': str(m['List-Unsubscribe-Post'])})
print(json.dumps(out))
"#;
    let out = Command::new(PYTHON)
        .args(["-c", script])
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

// --- the SMS gateway and the webhook receiver --------------------------------------------------

#[derive(Default)]
pub struct Received {
    /// (to, text, idempotency key)
    pub sms: Vec<(String, String, String)>,
    /// (payload, idempotency key)
    pub hooks: Vec<(Value, String)>,
    /// Idempotency-Key -> requests carrying it (both channels).
    pub keys: BTreeMap<String, u32>,
    pub bad_signatures: u32,
}

pub type Shared = Arc<Mutex<Received>>;

pub fn key_of(h: &HeaderMap) -> String {
    h.get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub async fn gateway(State(r): State<Shared>, h: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let v: Value = serde_json::from_slice(&body).unwrap();
    let key = key_of(&h);
    let mut r = r.lock().unwrap();
    *r.keys.entry(key.clone()).or_default() += 1;
    let n = r.sms.len();
    r.sms.push((
        v["to"].as_str().unwrap().to_string(),
        v["text"].as_str().unwrap().to_string(),
        key,
    ));
    (
        StatusCode::OK,
        format!(r#"{{"id":"sms-{n}","status":"accepted"}}"#),
    )
}

pub async fn hook(State(r): State<Shared>, h: HeaderMap, body: Bytes) -> StatusCode {
    let sig = h
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut r = r.lock().unwrap();
    if !verify(HOOK_SECRET.as_bytes(), &body, sig) {
        r.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let key = key_of(&h);
    *r.keys.entry(key.clone()).or_default() += 1;
    r.hooks.push((serde_json::from_slice(&body).unwrap(), key));
    StatusCode::NO_CONTENT
}

/// The feed: whatever body was put last, at any path.
pub async fn feed(State(body): State<Arc<Mutex<Vec<u8>>>>) -> (StatusCode, Vec<u8>) {
    (StatusCode::OK, body.lock().unwrap().clone())
}

/// `{subscriber}.{event}.v{version}.{channel}.{hash}` -> (subscriber, version).
pub fn parse_key(k: &str) -> (String, u32) {
    let parts: Vec<&str> = k.split('.').collect();
    assert_eq!(parts.len(), 5, "{k}");
    (parts[0].to_string(), parts[2][1..].parse().unwrap())
}

// --- HTTP helpers ----------------------------------------------------------------------------------

pub struct Api {
    pub base: String,
    pub c: reqwest::Client,
}

impl Api {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        ct: Option<&str>,
        body: String,
    ) -> (u16, Value, HeaderMap) {
        let mut r = self.c.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        let resp = r.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v, headers)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let (s, v, _) = self
            .send(reqwest::Method::GET, path, token, None, String::new())
            .await;
        (s, v)
    }

    pub async fn text(&self, path: &str) -> String {
        self.c
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let (s, v, _) = self
            .send(
                reqwest::Method::POST,
                path,
                token,
                Some("application/json"),
                body.to_string(),
            )
            .await;
        (s, v)
    }

    pub async fn post_form(&self, path: &str, body: &str) -> (u16, String) {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Waits until the outbox holds nothing pending or being sent (read from /metrics).
    pub async fn settled(&self) -> f64 {
        let t0 = Instant::now();
        loop {
            let m = self.text("/metrics").await;
            let busy: i64 = m
                .lines()
                .filter(|l| {
                    l.starts_with("aviso_notify_outbox_messages")
                        && (l.contains("state=\"pending\"") || l.contains("state=\"sending\""))
                })
                .map(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
                .sum();
            if busy == 0 {
                return t0.elapsed().as_secs_f64();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "outbox never settled:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

pub fn freddy(from: DateTime<Utc>) -> Option<Vec<(DateTime<Utc>, Vec<u8>)>> {
    let path = common::data_file(TRACK)?;
    let opts = aviso::feeds::ParseOptions {
        storm: aviso::feeds::StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..Default::default()
    };
    let track = aviso::feeds::parse(&std::fs::read(&path).unwrap(), "ibtracs", &opts)
        .unwrap()
        .forecast;
    Some(
        Replay::new(
            &track,
            from,
            chrono::Duration::hours(6),
            chrono::Duration::hours(120),
            Duration::from_secs(1),
        )
        .issuances,
    )
}
