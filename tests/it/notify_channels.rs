//! The notification channels against real servers on localhost: Debian's aiosmtpd as the
//! SMTP server (plain, STARTTLS and implicit TLS with a throwaway CA made by openssl), and
//! an axum server playing the SMS gateways (Africa's Talking-style, Twilio-style, generic,
//! one that fails then recovers) and a webhook receiver that checks the HMAC.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

use aviso::alerts::levels::Level;
use aviso::alerts::versioning::{CapStatus, MsgType};
use aviso::notify::channels::{EmailSender, SmsGateway, Transport, WebhookSender};
use aviso::notify::config::{
    BodyFormat, EmailConfig, SmsConfig, SmsProfile, SmtpSecurity, WebhookConfig,
};
use aviso::notify::message::{MessageInput, MessageOptions};
use aviso::notify::select::{AlertDistrict, Notice, NoticeKind, PublishedAlert};
use aviso::notify::{Channel, HazardKind, Lang, Outbound, OutboundBody, Subscriber, compose};

// --- fixtures ---------------------------------------------------------------------------

fn alert(status: CapStatus) -> PublishedAlert {
    PublishedAlert {
        after_cyclone: None,
        instruction: None,
        event_id: "swi-07-20222023".into(),
        version: 2,
        identifier: "aviso-swi-07-20222023-2".into(),
        msg_type: MsgType::Update,
        status,
        hazard: HazardKind::Cyclone,
        event_name: "FREDDY".into(),
        sent: Utc.with_ymd_and_hms(2023, 3, 10, 6, 0, 0).unwrap(),
        next_update: Some(Utc.with_ymd_and_hms(2023, 3, 10, 12, 0, 0).unwrap()),
        districts: vec![AlertDistrict {
            pcode: "MZ1103".into(),
            name: "Cidade De Quelimane".into(),
            province_pcode: Some("MZ11".into()),
            level: Level::Red,
            people_at_risk: Some(246_000.0),
        }],
        sites: vec![],
    }
}

fn notice() -> Notice {
    Notice {
        kind: NoticeKind::NewEvent,
        level: Some(Level::Red),
        previous: None,
        districts: vec!["MZ1103".into()],
        sites: vec![],
    }
}

fn outbound(channel: Channel, lang: Lang, status: CapStatus) -> Outbound {
    let sub = Subscriber {
        id: format!("s-{}", lang.as_str()),
        name: "Ponto focal".into(),
        channels: vec![channel.clone()],
        language: lang,
        ..Subscriber::default()
    };
    let (a, n) = (alert(status), notice());
    let input = MessageInput {
        alert: &a,
        notice: &n,
        lang,
        alert_id: &a.identifier,
        unsubscribe_token: "tok-1",
    };
    compose(&sub, &channel, &input, &MessageOptions::default())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(what: &str) {
    crate::common::skip_or_fail(what);
}

// --- SMTP: aiosmtpd -----------------------------------------------------------------------

/// Debian's python3 (not a pyenv shim, which cannot see apt's module).
const PYTHON: &str = "/usr/bin/python3";

struct Smtpd {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn aiosmtpd_available() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        require("aiosmtpd not installed (apt-get install python3-aiosmtpd)");
    }
    ok
}

/// Starts aiosmtpd writing a Maildir; `tls` adds `--tlscert/--tlskey` (STARTTLS) or
/// `--smtpscert/--smtpskey` (implicit TLS).
fn start_smtpd(dir: &Path, tls: Option<(&str, &Path, &Path)>) -> Smtpd {
    let port = free_port();
    let maildir = dir.join(format!("maildir-{port}"));
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
    if let Some((flag, cert, key)) = tls {
        let (c, k) = if flag == "starttls" {
            ("--tlscert", "--tlskey")
        } else {
            ("--smtpscert", "--smtpskey")
        };
        cmd.arg(c).arg(cert).arg(k).arg(key);
    }
    cmd.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(&maildir);
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "aiosmtpd did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Smtpd {
        child,
        port,
        maildir,
    }
}

/// The messages of a Maildir, decoded by Python's `email` package (an independent MIME
/// parser): recipients, subject, Message-ID, and each leaf part's type and text.
fn read_maildir(maildir: &Path) -> Vec<Value> {
    let script = r#"
import sys, json, email, email.policy, glob, os, re
out = []
# Arrival order: Python's Maildir names files '<sec>.M<usec>P<pid>Q<count>.<host>', and
# <count> rises by one per message; the names do not sort as text (M999 > M1000).
for f in sorted(glob.glob(sys.argv[1] + '/new/*'), key=lambda f: int(re.search(r'Q(\d+)', os.path.basename(f)).group(1))):
    m = email.message_from_binary_file(open(f, 'rb'), policy=email.policy.default)
    parts = [{'type': p.get_content_type(), 'text': p.get_content()} for p in m.walk() if not p.is_multipart()]
    out.append({'to': str(m['To']), 'rcpt': str(m['X-RcptTo']), 'subject': str(m['Subject']),
                'message_id': str(m['Message-ID']), 'content_type': m.get_content_type(), 'parts': parts})
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

fn email_config(port: u16, security: SmtpSecurity) -> EmailConfig {
    EmailConfig {
        enabled: true,
        host: "localhost".into(),
        port,
        security,
        from: "aviso INGD <alertas@aviso.example.org>".into(),
        timeout_s: 10.0,
        ..EmailConfig::default()
    }
}

fn no_secrets(_: &str) -> Option<String> {
    None
}

#[test]
fn emails_reach_a_real_smtp_server_in_each_language_with_both_parts_and_the_test_marker() {
    if !aiosmtpd_available() {
        return;
    }
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let smtpd = start_smtpd(dir.path(), None);
    let sender =
        EmailSender::new(&email_config(smtpd.port, SmtpSecurity::None), &no_secrets).unwrap();
    let pt = outbound(
        Channel::Email("ana@ingd.example.org".into()),
        Lang::Pt,
        CapStatus::Test,
    );
    let en = outbound(
        Channel::Email("bob@iom.example.org".into()),
        Lang::En,
        CapStatus::Test,
    );
    let rt = runtime();
    for m in [&pt, &en] {
        let r = rt.block_on(sender.send(m)).unwrap();
        assert!(r.status.starts_with("250"), "{r:?}");
    }
    let got = read_maildir(&smtpd.maildir);
    assert_eq!(got.len(), 2, "{got:#?}");
    let by_rcpt = |who: &str| {
        got.iter()
            .find(|m| m["rcpt"].as_str().unwrap().contains(who))
            .unwrap()
    };

    let m = by_rcpt("ana@ingd.example.org");
    assert_eq!(
        m["subject"],
        "[TESTE] Alerta vermelho: ciclone FREDDY — Cidade De Quelimane"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    let types: Vec<&str> = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let plain = m["parts"][0]["text"].as_str().unwrap();
    let html = m["parts"][1]["text"].as_str().unwrap();
    // The text as the recipient's mail reader decodes it (people at risk, Maputo time,
    // the instruction, the links), whole: a snapshot reads better than a list of phrases.
    insta::assert_snapshot!("smtp_plain_text_pt", plain);
    assert!(
        html.contains("<html lang=\"pt\">") && html.contains("TESTE"),
        "{html}"
    );
    assert!(html.contains("/unsubscribe?token=tok-1"), "{html}");
    assert_eq!(
        m["message_id"].as_str().unwrap(),
        format!("<{}@aviso.example.org>", pt.idempotency_key)
    );

    let m = by_rcpt("bob@iom.example.org");
    assert_eq!(
        m["subject"],
        "[TEST] Red alert: cyclone FREDDY — Cidade De Quelimane"
    );
    let plain = m["parts"][0]["text"].as_str().unwrap();
    insta::assert_snapshot!("smtp_plain_text_en", plain);
    eprintln!("smtp plain test: {:.2} s", t0.elapsed().as_secs_f64());
}

/// A throwaway CA and a localhost certificate it signed (rustls refuses a self-signed
/// certificate used directly as its own trust anchor).
fn make_certs(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let script = r#"set -e
cd "$1"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=aviso test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext.cnf 2>/dev/null
"#;
    let ok = Command::new("bash")
        .args(["-c", script, "make_certs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        require("openssl could not make test certificates");
        return None;
    }
    Some((
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    ))
}

#[test]
fn emails_go_over_starttls_and_implicit_tls_trusting_a_configured_ca() {
    if !aiosmtpd_available() {
        return;
    }
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = make_certs(dir.path()) else {
        return;
    };
    let rt = runtime();
    for (mode, security) in [
        ("starttls", SmtpSecurity::Starttls),
        ("tls", SmtpSecurity::Tls),
    ] {
        let smtpd = start_smtpd(dir.path(), Some((mode, &cert, &key)));
        let msg = outbound(
            Channel::Email("ana@ingd.example.org".into()),
            Lang::Pt,
            CapStatus::Actual,
        );

        // Without the CA the server's certificate is refused: a retryable error naming TLS.
        let untrusted = EmailSender::new(&email_config(smtpd.port, security), &no_secrets).unwrap();
        let e = rt.block_on(untrusted.send(&msg)).unwrap_err();
        assert!(e.retryable, "{mode}: {e}");

        let mut cfg = email_config(smtpd.port, security);
        cfg.ca_cert_pem = Some(ca.display().to_string());
        let sender = EmailSender::new(&cfg, &no_secrets).unwrap();
        rt.block_on(sender.send(&msg))
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let got = read_maildir(&smtpd.maildir);
        assert_eq!(got.len(), 1, "{mode}");
        assert!(
            got[0]["subject"]
                .as_str()
                .unwrap()
                .starts_with("Alerta vermelho")
        );
    }
    eprintln!("smtp tls tests: {:.2} s", t0.elapsed().as_secs_f64());
}

#[test]
fn an_unreachable_smtp_server_is_a_retryable_error() {
    let port = free_port();
    let sender = EmailSender::new(&email_config(port, SmtpSecurity::None), &no_secrets).unwrap();
    let msg = outbound(
        Channel::Email("ana@ingd.example.org".into()),
        Lang::Pt,
        CapStatus::Actual,
    );
    let e = runtime().block_on(sender.send(&msg)).unwrap_err();
    assert!(e.retryable, "{e}");
    assert!(!e.message.contains("ana@ingd"), "no address in errors: {e}");
}

#[test]
fn a_missing_secret_is_named_at_start() {
    let mut cfg = email_config(25, SmtpSecurity::None);
    cfg.username_env = Some("AVISO_TEST_SMTP_USER_UNSET".into());
    cfg.password_env = Some("AVISO_TEST_SMTP_PASS_UNSET".into());
    let e = EmailSender::new(&cfg, &no_secrets)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("AVISO_TEST_SMTP_USER_UNSET") && e.contains("username_env"),
        "{e}"
    );
}

// --- HTTP: SMS gateways and webhook receiver ----------------------------------------------

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Default)]
struct GatewayState {
    /// Every request, in order.
    requests: Vec<Seen>,
    /// Idempotency-Key -> gateway message id, for the deduplicating gateway.
    delivered: BTreeMap<String, String>,
    /// Requests the flaky endpoints still fail.
    failures_left: u32,
}

type Shared = Arc<Mutex<GatewayState>>;

fn record(s: &Shared, path: &str, headers: &HeaderMap, body: &Bytes) {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    s.lock().unwrap().requests.push(Seen {
        path: path.into(),
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    });
}

fn form_decode(body: &str) -> BTreeMap<String, String> {
    let dec = |s: &str| {
        let s = s.replace('+', " ");
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (dec(k), dec(v)))
        .collect()
}

const WEBHOOK_SECRET: &str = "whsec-test-1";

fn gateway_router(state: Shared) -> Router {
    async fn at(State(s): State<Shared>, h: HeaderMap, b: Bytes) -> impl IntoResponse {
        record(&s, "/at", &h, &b);
        if h.get("apikey").and_then(|v| v.to_str().ok()) != Some("at-key") {
            return (StatusCode::UNAUTHORIZED, "bad apiKey".to_string());
        }
        let f = form_decode(std::str::from_utf8(&b).unwrap());
        let (status, code) = if f.get("to").is_some_and(|t| t.starts_with("+258")) {
            ("Success", 101)
        } else {
            ("InvalidPhoneNumber", 403)
        };
        let body = json!({"SMSMessageData": {"Message": "Sent to 1/1", "Recipients": [
            {"statusCode": code, "number": f.get("to"), "status": status, "cost": "MZN 1.0", "messageId": "ATXid_1"}]}});
        (StatusCode::CREATED, body.to_string())
    }
    async fn twilio(State(s): State<Shared>, h: HeaderMap, b: Bytes) -> impl IntoResponse {
        record(&s, "/twilio", &h, &b);
        // base64("AC123:tw-token"), computed outside the code under test.
        if h.get("authorization").and_then(|v| v.to_str().ok())
            != Some("Basic QUMxMjM6dHctdG9rZW4=")
        {
            return (StatusCode::UNAUTHORIZED, r#"{"code":20003}"#.to_string());
        }
        (
            StatusCode::CREATED,
            json!({"sid": "SM0001", "status": "queued"}).to_string(),
        )
    }
    /// Generic JSON gateway that fails `failures_left` times with 500, and deduplicates by
    /// Idempotency-Key (answers the first id again for a key it has seen).
    async fn generic(State(s): State<Shared>, h: HeaderMap, b: Bytes) -> impl IntoResponse {
        record(&s, "/generic", &h, &b);
        if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer gen-token") {
            return (StatusCode::UNAUTHORIZED, "{}".to_string());
        }
        let mut st = s.lock().unwrap();
        if st.failures_left > 0 {
            st.failures_left -= 1;
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "gateway overloaded".to_string(),
            );
        }
        let key = h
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let n = st.delivered.len() + 1;
        let id = st
            .delivered
            .entry(key)
            .or_insert_with(|| format!("g-{n}"))
            .clone();
        (
            StatusCode::OK,
            json!({"result": {"id": id, "state": "ACCEPTED"}}).to_string(),
        )
    }
    async fn refuse(State(s): State<Shared>, h: HeaderMap, b: Bytes) -> impl IntoResponse {
        record(&s, "/refuse", &h, &b);
        (
            StatusCode::OK,
            json!({"result": {"state": "REJECTED"}}).to_string(),
        )
    }
    async fn hook(State(s): State<Shared>, h: HeaderMap, b: Bytes) -> impl IntoResponse {
        record(&s, "/hook", &h, &b);
        let mut st = s.lock().unwrap();
        if st.failures_left > 0 {
            st.failures_left -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(&b);
        let want: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        let got = h
            .get("x-aviso-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if got != format!("sha256={want}") {
            return StatusCode::UNAUTHORIZED;
        }
        StatusCode::NO_CONTENT
    }
    Router::new()
        .route("/at/version1/messaging", post(at))
        .route(
            "/twilio/2010-04-01/Accounts/AC123/Messages.json",
            post(twilio),
        )
        .route("/generic/send", post(generic))
        .route("/refuse", post(refuse))
        .route("/hook", post(hook))
        .with_state(state)
}

/// Serves the gateway on a free port of the runtime; returns its base URL.
fn serve(rt: &tokio::runtime::Runtime, state: Shared) -> String {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, gateway_router(state)).await });
    format!("http://{addr}")
}

fn secrets(name: &str) -> Option<String> {
    match name {
        "AT_KEY" => Some("at-key".into()),
        "TW_TOKEN" => Some("tw-token".into()),
        "GEN_AUTH" => Some("Bearer gen-token".into()),
        "HOOK_SECRET" => Some(WEBHOOK_SECRET.into()),
        _ => None,
    }
}

const PHONE: &str = "+258841234567";

#[test]
fn the_africas_talking_profile_posts_the_form_with_the_api_key_and_reads_the_recipient_status() {
    let rt = runtime();
    let state = Shared::default();
    let base = serve(&rt, state.clone());
    let cfg = SmsConfig {
        enabled: true,
        profile: SmsProfile::AfricasTalking,
        url: format!("{base}/at/version1/messaging"),
        account: "ingd".into(),
        from: "INGD".into(),
        auth_env: Some("AT_KEY".into()),
        ..SmsConfig::default()
    };
    let gw = SmsGateway::new(&cfg, &secrets).unwrap();
    let msg = outbound(Channel::Sms(PHONE.into()), Lang::Pt, CapStatus::Actual);
    let r = rt.block_on(gw.send(&msg)).unwrap();
    assert_eq!(
        (r.status.as_str(), r.gateway_id.as_deref()),
        ("Success", Some("ATXid_1"))
    );

    let seen = state.lock().unwrap().requests.clone();
    assert_eq!(seen.len(), 1);
    let f = form_decode(&seen[0].body);
    assert_eq!(f["username"], "ingd");
    assert_eq!(f["to"], PHONE);
    assert_eq!(f["from"], "INGD");
    let OutboundBody::Sms { text, .. } = &msg.body else {
        unreachable!()
    };
    assert_eq!(&f["message"], text);
    assert!(
        text.starts_with("ALERTA VERMELHO: ciclone FREDDY - Cidade De Quelimane."),
        "{text}"
    );
    assert_eq!(seen[0].headers["idempotency-key"], msg.idempotency_key);
    assert_eq!(
        seen[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );

    // A number the gateway refuses: a permanent error, number masked.
    let bad = outbound(
        Channel::Sms("+12025550143".into()),
        Lang::Pt,
        CapStatus::Actual,
    );
    let e = rt.block_on(gw.send(&bad)).unwrap_err();
    assert!(
        !e.retryable && e.message.contains("InvalidPhoneNumber"),
        "{e}"
    );
    assert!(!e.message.contains("2025550143"), "{e}");
}

#[test]
fn the_twilio_profile_uses_basic_auth_on_the_account_path() {
    let rt = runtime();
    let state = Shared::default();
    let base = serve(&rt, state.clone());
    let cfg = SmsConfig {
        enabled: true,
        profile: SmsProfile::Twilio,
        url: format!("{base}/twilio"),
        account: "AC123".into(),
        from: "+258820000000".into(),
        auth_env: Some("TW_TOKEN".into()),
        ..SmsConfig::default()
    };
    let gw = SmsGateway::new(&cfg, &secrets).unwrap();
    let msg = outbound(Channel::Sms(PHONE.into()), Lang::En, CapStatus::Actual);
    let r = rt.block_on(gw.send(&msg)).unwrap();
    assert_eq!(
        (r.status.as_str(), r.gateway_id.as_deref()),
        ("queued", Some("SM0001"))
    );
    let seen = state.lock().unwrap().requests.clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/twilio");
    let f = form_decode(&seen[0].body);
    assert_eq!(
        (f["To"].as_str(), f["From"].as_str()),
        (PHONE, "+258820000000")
    );
    assert!(
        f["Body"].starts_with("RED ALERT: cyclone FREDDY"),
        "{}",
        f["Body"]
    );
    assert!(
        f["Body"].ends_with("Reply STOP to opt out"),
        "{}",
        f["Body"]
    );

    // A wrong token is a 401: permanent.
    let wrong = |n: &str| {
        if n == "TW_TOKEN" {
            Some("nope".to_string())
        } else {
            None
        }
    };
    let gw = SmsGateway::new(&cfg, &wrong).unwrap();
    let e = rt.block_on(gw.send(&msg)).unwrap_err();
    assert_eq!((e.retryable, e.status), (false, Some(401)));
}

#[test]
fn a_generic_gateway_that_fails_then_recovers_delivers_once_per_idempotency_key() {
    let rt = runtime();
    let state = Shared::default();
    state.lock().unwrap().failures_left = 2;
    let base = serve(&rt, state.clone());
    let cfg = SmsConfig {
        enabled: true,
        profile: SmsProfile::Generic,
        url: format!("{base}/generic/send"),
        body_format: BodyFormat::Json,
        from: "INGD".into(),
        auth_header: "Authorization".into(),
        auth_env: Some("GEN_AUTH".into()),
        status_path: Some("result.state".into()),
        id_path: Some("result.id".into()),
        accepted_statuses: vec!["accepted".into()],
        ..SmsConfig::default()
    };
    let gw = SmsGateway::new(&cfg, &secrets).unwrap();
    let msg = outbound(Channel::Sms(PHONE.into()), Lang::Pt, CapStatus::Actual);
    for _ in 0..2 {
        let e = rt.block_on(gw.send(&msg)).unwrap_err();
        assert_eq!((e.retryable, e.status), (true, Some(500)), "{e}");
    }
    let r = rt.block_on(gw.send(&msg)).unwrap();
    assert_eq!(r.gateway_id.as_deref(), Some("g-1"));
    // The answer was lost, say, and the worker sends again: same key, same message id.
    let again = rt.block_on(gw.send(&msg)).unwrap();
    assert_eq!(again.gateway_id.as_deref(), Some("g-1"));

    let st = state.lock().unwrap();
    assert_eq!(st.requests.len(), 4, "total requests");
    assert!(st.requests.iter().all(|r| r.path == "/generic"));
    assert_eq!(st.delivered.len(), 1, "distinct deliveries");
    let body: Value = serde_json::from_str(&st.requests[2].body).unwrap();
    assert_eq!(body["to"], PHONE);
    assert_eq!(body["reference"], msg.idempotency_key.as_str());
    assert_eq!(st.requests[2].headers["content-type"], "application/json");
    drop(st);

    // A gateway answering 200 with a refusal status: permanent.
    let refuse = SmsGateway::new(
        &SmsConfig {
            url: format!("{base}/refuse"),
            ..cfg.clone()
        },
        &secrets,
    )
    .unwrap();
    let e = rt.block_on(refuse.send(&msg)).unwrap_err();
    assert!(!e.retryable && e.message.contains("REJECTED"), "{e}");
}

#[test]
fn webhooks_are_signed_and_retried_after_a_503() {
    let rt = runtime();
    let state = Shared::default();
    state.lock().unwrap().failures_left = 1;
    let base = serve(&rt, state.clone());
    let cfg = WebhookConfig {
        enabled: true,
        secret_env: "HOOK_SECRET".into(),
        timeout_s: 5.0,
        // The receivers are on 127.0.0.1.
        allow_private_targets: true,
    };
    let wh = WebhookSender::new(&cfg, &secrets).unwrap();
    let msg = outbound(
        Channel::Webhook(format!("{base}/hook")),
        Lang::En,
        CapStatus::Exercise,
    );
    let e = rt.block_on(wh.send(&msg)).unwrap_err();
    assert_eq!((e.retryable, e.status), (true, Some(503)));
    let r = rt.block_on(wh.send(&msg)).unwrap();
    assert_eq!(r.status, "HTTP 204");

    let seen = state.lock().unwrap().requests.clone();
    assert_eq!(seen.len(), 2);
    let body: Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(body["status"], "Exercise");
    assert_eq!(body["headline"], "[EXERCISE] Red alert: cyclone FREDDY");
    assert_eq!(body["districts"][0]["pcode"], "MZ1103");
    assert_eq!(seen[1].headers["idempotency-key"], msg.idempotency_key);

    // A receiver with another secret refuses the signature: 401, permanent.
    let other = |n: &str| {
        if n == "HOOK_SECRET" {
            Some("other".to_string())
        } else {
            None
        }
    };
    let wh = WebhookSender::new(&cfg, &other).unwrap();
    let e = rt.block_on(wh.send(&msg)).unwrap_err();
    assert_eq!((e.retryable, e.status), (false, Some(401)));
}
