//! The service's log (issue 16 move 6): `aviso serve` with `[log] format = "json"` writes
//! one JSON object per stderr line, each with its level, and its events carry their facts
//! as fields (the feed, the version, the counts), never a subscriber's number or address.
//! Through the real binary, with Freddy on a local feed, an SMS gateway and an SMTP server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::{Map, Value, json};

use crate::hardening_small::{
    EDITOR, FAST_OUTBOX, feed_server, freddy_8_march, site_config, start_serve,
};
use crate::notify_support;

/// The test's subscribers: their numbers as typed and as stored, their addresses, names.
const PEOPLE: [(&str, &str, &str, &str, &str); 2] = [
    (
        "pf-log-1",
        "Ponto focal Mocuba",
        "+258 84 555 0121",
        "+258845550121",
        "joana.mucavele@ingd.example.org",
    ),
    (
        "pf-log-2",
        "Ponto focal Gurúè",
        "+258 84 555 0122",
        "+258845550122",
        "tomas.nhantumbo@ingd.example.org",
    ),
];

/// The log's lines as JSON objects; a line that is not one fails the test.
fn events(log: &str) -> Vec<Map<String, Value>> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(Value::Object(o)) => o,
            _ => panic!("a log line that is not a JSON object: {l:?}\n{log}"),
        })
        .collect()
}

fn with_message<'a>(ev: &'a [Map<String, Value>], message: &str) -> Vec<&'a Map<String, Value>> {
    ev.iter().filter(|e| e["message"] == message).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_log_has_one_object_per_line_with_levels_and_fields_and_no_personal_data() {
    let Some(issuance) = freddy_8_march() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(smtpd) = notify_support::start_smtpd(dir.path()) else {
        return;
    };
    let got: notify_support::Shared = Arc::default();
    let recv = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recv_base = format!("http://{}", recv.local_addr().unwrap());
    let app = Router::new()
        .route("/sms", post(notify_support::gateway))
        .with_state(Arc::clone(&got));
    tokio::spawn(async move { axum::serve(recv, app).await });
    let (feed_base, feed_body) = feed_server().await;
    let cfg = site_config(
        &dir.path().join("data"),
        &format!("{feed_base}/rsmc/freddy.json"),
        &format!(
            r#"[log]
format = "json"
[notify.email]
enabled = true
host = "localhost"
port = {smtp}
security = "none"
from = "Alertas INGD <alertas@aviso.example.org>"
timeout_s = 10.0
[notify.sms]
enabled = true
url = "{recv_base}/sms"
status_path = "status"
id_path = "id"
accepted_statuses = ["accepted"]
{FAST_OUTBOX}"#,
            smtp = smtpd.port
        ),
    );
    let svc = start_serve(dir.path(), &cfg).await;
    for (id, name, typed, _, email) in PEOPLE {
        let (s, v) = svc
            .api
            .post_json(
                "/api/admin/subscribers",
                Some(EDITOR),
                &json!({"id": id, "name": name, "phones": [typed], "emails": [email],
                        "provinces": ["MZ11"], "min_level": "green"}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    *feed_body.lock().unwrap() = issuance;
    svc.wait_versions(1).await;
    svc.api.settled().await;
    let outbox = svc.outbox().await;
    assert_eq!(
        outbox.len(),
        4,
        "one SMS and one e-mail to each: {outbox:?}"
    );
    let version = outbox[0]["alert_id"].as_str().unwrap().to_string();
    // The feed cycle's event is written after the version is committed: wait for it.
    let t0 = Instant::now();
    while !svc.log().contains("\"feed cycle\"") {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no feed cycle:\n{}",
            svc.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = svc.log();
    let ev = events(&log);

    // Every line: a timestamp, a known level, the module and a message.
    for e in &ev {
        assert!(e["timestamp"].is_string(), "{e:?}");
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&e["level"].as_str().unwrap()),
            "{e:?}"
        );
        assert!(e["target"].as_str().unwrap().starts_with("aviso"), "{e:?}");
        assert!(e["message"].is_string(), "{e:?}");
    }
    // Nothing went wrong here, so nothing asks an operator to act.
    assert!(
        ev.iter().all(|e| e["level"] != "ERROR"),
        "an ERROR in a good run:\n{log}"
    );

    // The start: the layers (WARN for the shared layers' known gaps), then the address.
    let loaded = with_message(&ev, "layers loaded");
    assert_eq!(loaded.len(), 1, "{log}");
    assert_eq!(loaded[0]["level"], "INFO");
    assert_eq!(loaded[0]["districts"], 159, "{:?}", loaded[0]);
    assert!(
        ev.iter().any(|e| e["level"] == "WARN"
            && e["target"] == "aviso::app"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("district_population")),
        "{log}"
    );
    let notify = with_message(&ev, "notify: channels");
    assert_eq!(notify.len(), 1, "{log}");
    assert_eq!(notify[0]["email"], true);
    assert_eq!(notify[0]["sms"], true);
    assert_eq!(notify[0]["webhooks"], false);
    assert_eq!(notify[0]["admin_tokens"], 2);

    // The audit of the admin API: the token and its role as fields, the subscriber by id.
    for (id, ..) in PEOPLE {
        let created = with_message(&ev, &format!("admin: created subscriber {id}"));
        assert_eq!(created.len(), 1, "{log}");
        assert_eq!(created[0]["token"], "cenoe-ops");
        assert_eq!(created[0]["role"], "editor");
    }

    // The import of the issuance, published with its version and messages as fields.
    let published = with_message(&ev, "published");
    assert_eq!(published.len(), 1, "{log}");
    let p = published[0];
    assert_eq!(p["level"], "INFO");
    assert_eq!(p["target"], "aviso::pipeline::publish");
    assert_eq!(p["version"], version.as_str(), "{p:?}");
    assert_eq!(p["msg_type"], "Alert");
    assert_eq!(p["queued"], 4, "{p:?}");
    assert!(p["districts"].as_u64().unwrap() > 0, "{p:?}");
    let cycles = with_message(&ev, "feed cycle");
    let cycle = cycles
        .iter()
        .find(|e| e["new"] == 1)
        .unwrap_or_else(|| panic!("no cycle that fetched the issuance:\n{log}"));
    assert_eq!(cycle["level"], "INFO");
    assert_eq!(cycle["feed"], "rsmc");
    assert_eq!(cycle["outcome"], "ok");
    assert_eq!(cycle["processed"], 1);
    assert!(
        cycle["published"].as_str().unwrap().contains(&version),
        "{cycle:?}"
    );

    // No number (as typed, stored, or without its prefix), address or name of a subscriber.
    assert_eq!(got.lock().unwrap().sms.len(), 2, "the SMS went out");
    for (_, name, typed, stored, email) in PEOPLE {
        let national = &stored[4..];
        for personal in [typed, stored, national, email, name] {
            assert!(!log.contains(personal), "{personal:?} in the log:\n{log}");
        }
        let local = email.split('@').next().unwrap();
        assert!(!log.contains(local), "{local:?} in the log:\n{log}");
    }
}

/// `aviso run-once` with `env` set, in an empty folder; its exit status and stderr.
fn run_once_with(dir: &std::path::Path, config: &str, env: &[(&str, &str)]) -> (bool, String) {
    let path = dir.join("site.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["run-once", "--config"])
        .arg(&path)
        .current_dir(dir)
        .env_remove("AVISO_LOG")
        .env_remove("AVISO_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_log_format_or_level_that_is_not_one_is_refused_naming_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = run_once_with(dir.path(), "[log]\nformat = \"yaml\"\n", &[]);
    assert!(!ok);
    assert!(
        err.contains("site.toml") && err.contains("yaml") && err.contains("format"),
        "{err}"
    );
    for (var, value) in [("AVISO_LOG_FORMAT", "xml"), ("AVISO_LOG", "aviso=loud")] {
        let (ok, err) = run_once_with(dir.path(), "", &[(var, value)]);
        assert!(!ok, "{var}={value}");
        assert!(
            err.starts_with("aviso: error: ") && err.contains(var) && err.contains(value),
            "{err}"
        );
    }
    // RUST_LOG is read when AVISO_LOG is not set, and named when it is the bad one.
    let (ok, err) = run_once_with(dir.path(), "", &[("RUST_LOG", "aviso=loud")]);
    assert!(!ok);
    assert!(err.contains("RUST_LOG"), "{err}");

    // check-config knows the key.
    let path = dir.path().join("json.toml");
    std::fs::write(&path, "[log]\nformat = \"json\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_service_that_cannot_start_logs_why_as_an_error_event_then_says_it_to_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-layers");
    let (ok, err) = run_once_with(
        dir.path(),
        &format!(
            "[log]\nformat = \"json\"\n[service]\nlayers = \"{}\"\n",
            missing.display()
        ),
        &[],
    );
    assert!(!ok);
    let lines: Vec<&str> = err.lines().collect();
    let (last, log) = lines.split_last().unwrap();
    // The command's last word, plain text, for whoever ran it…
    assert!(
        last.starts_with("aviso: error: ") && last.contains("no-such-layers"),
        "{err}"
    );
    // …and before it the log, every line JSON, ending with the ERROR that says why.
    let ev = events(&log.join("\n"));
    let stop = ev.last().unwrap_or_else(|| panic!("no log:\n{err}"));
    assert_eq!(stop["level"], "ERROR", "{err}");
    assert_eq!(stop["message"], "the service stopped on an error");
    assert!(
        stop["error"].as_str().unwrap().contains("no-such-layers"),
        "{err}"
    );
}

#[test]
fn the_level_filter_hides_what_is_below_it() {
    // No feed, no layers needed beyond the shipped ones: run-once loads them and logs
    // "layers loaded" at INFO, their known gaps at WARN.
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[service]\nlayers = \"{}\"\ndata_dir = \"{}\"\n",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("layers")
            .display(),
        dir.path().join("data").display()
    );
    let (ok, info) = run_once_with(dir.path(), &config, &[]);
    assert!(ok, "{info}");
    assert!(
        info.contains(" INFO ") && info.contains("layers loaded"),
        "{info}"
    );
    let (ok, warn) = run_once_with(dir.path(), &config, &[("AVISO_LOG", "warn")]);
    assert!(ok, "{warn}");
    assert!(
        !warn.contains(" INFO ") && !warn.contains("layers loaded"),
        "{warn}"
    );
}
