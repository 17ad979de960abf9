//! The OpenAPI document against the real service: `aviso serve` (the built binary) with
//! an admin token and the SMS gateway's callbacks on, read over TCP. The document is
//! generated from the handlers (src/api/openapi.rs); this checks it against what the
//! running router answers, both ways:
//! - every documented path and method is routed (not the fallback's 404, not a 405), with
//!   the methods the router allows there and no others;
//! - every operation that needs a token or the gateway's secret declares it, and every
//!   route that refuses a request without one is documented as needing it;
//! - every same-origin link the service hands out (landing page, collections, the map
//!   page) leads to a documented path (or a static file);
//! - the document is OpenAPI 3.0 JSON with a unique operationId on every operation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;
use crate::notify_support::sha256_hex;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

const VIEWER: &str = "viewer-token-openapi-7b2e";
const GATEWAY_SECRET: &str = "gateway-secret-openapi-41c9";

/// Kills the service when the test ends, passed or not.
struct Service(std::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `aviso serve` on the repository's layers, no feeds, a viewer token and the SMS
/// gateway's callbacks (secret from the environment). Returns it and its base URL.
fn start() -> (Service, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aviso.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\nlayers = {:?}\n\n[probabilistic]\npublish = false\n\n[[notify.token]]\nname = \"ops\"\nrole = \"viewer\"\nsha256 = \"{}\"\n\n[notify.inbound]\nenabled = true\nsecret_env = \"AVISO_OPENAPI_TEST_SECRET\"\n",
            dir.path().join("state").display().to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/layers"),
            sha256_hex(VIEWER),
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aviso"));
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env("AVISO_OPENAPI_TEST_SECRET", GATEWAY_SECRET);
    let (child, base) = common::spawn_service(cmd);
    (Service(child), base, dir)
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.0 request with an empty body (Content-Length 0 for POST and PUT).
fn request(base: &str, method: &str, path: &str, extra: &[(&str, &str)]) -> Answer {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" || method == "PUT" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out).to_string();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A documented path with its parameters filled with sample values.
fn concrete(path: &str) -> String {
    path.replace("{collectionId}", "districts")
        .replace("{featureId}", "MZ1103")
        .replace("{id}", "sample-id")
}

/// Does `path` (concrete, no query) match the documented template `template`?
fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

/// The fallback's answer to an unrouted path: a 404 naming the path.
fn is_no_route(a: &Answer, path: &str) -> bool {
    a.status == 404 && a.body.contains(&format!("path '{path}' not found"))
}

#[test]
fn the_generated_document_matches_what_the_running_service_answers() {
    let (_service, base, _dir) = start();
    let api = request(&base, "GET", "/api", &[]);
    assert_eq!(api.status, 200, "{}", api.body);
    assert!(
        api.header("content-type")
            .unwrap()
            .starts_with("application/vnd.oai.openapi+json;version=3.0"),
        "{}",
        api.head
    );
    let doc: Value = serde_json::from_str(&api.body).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.0."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["servers"][0]["url"], base.as_str());

    // The fallback really answers "no route" this way (so the check below can fail).
    let unrouted = request(&base, "GET", "/no/such/route", &[]);
    assert!(
        is_no_route(&unrouted, "/no/such/route"),
        "{}",
        unrouted.body
    );

    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    let mut operation_ids = BTreeSet::new();
    for (template, item) in paths {
        let path = concrete(template);
        let documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "parameters")
            .map(|k| k.to_uppercase())
            .collect();
        // The methods the router allows here, from the 405 a TRACE gets (with the
        // credentials: the guards answer before the method is looked at).
        let auth = format!("Bearer {VIEWER}");
        let trace = request(
            &base,
            "TRACE",
            &format!("{path}?token={GATEWAY_SECRET}"),
            &[("Authorization", &auth)],
        );
        assert_eq!(
            trace.status, 405,
            "{template} ({path}) is not routed: {}",
            trace.body
        );
        let allowed: BTreeSet<String> = trace
            .header("allow")
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| m != "HEAD")
            .collect();
        assert_eq!(
            allowed, documented,
            "{template}: routed vs documented methods"
        );

        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {template}: no operationId"));
            assert!(
                operation_ids.insert(id.to_string()),
                "operationId {id} twice"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {template}: no summary"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {template}"
            );

            let a = request(&base, &method, &path, &[]);
            assert!(
                !is_no_route(&a, &path) && a.status != 405,
                "{method} {template}: {} {}",
                a.status,
                a.body
            );
            let security = op["security"].to_string();
            let bearer = op["security"] == serde_json::json!([{"bearer": []}]);
            let gateway =
                security.contains("gatewaySecretHeader") && security.contains("gatewaySecretQuery");
            let refused_without_token = a.status == 401
                && a.header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer"));
            assert_eq!(
                bearer,
                refused_without_token && !gateway,
                "{method} {template}: declares {security}, answered {} without a token",
                a.status
            );
            assert_eq!(
                template.starts_with("/api/admin/"),
                bearer,
                "{method} {template}: {security}"
            );
            if bearer {
                assert!(
                    op["description"].as_str().unwrap().contains("role"),
                    "{method} {template}"
                );
                for code in ["401", "403"] {
                    assert!(
                        op["responses"][code].is_object(),
                        "{method} {template} {code}"
                    );
                }
                // With the token the route answers something else than 401.
                let auth = format!("Bearer {VIEWER}");
                let with = request(&base, &method, &path, &[("Authorization", &auth)]);
                assert_ne!(
                    with.status, 401,
                    "{method} {template} with a token: {}",
                    with.body
                );
            }
            assert_eq!(
                template.starts_with("/api/sms/"),
                gateway,
                "{method} {template}: {security}"
            );
            if gateway {
                assert_eq!(
                    a.status, 401,
                    "{method} {template} without the secret: {}",
                    a.body
                );
                let with = request(
                    &base,
                    &method,
                    &format!("{path}?token={GATEWAY_SECRET}"),
                    &[],
                );
                assert_ne!(
                    with.status, 401,
                    "{method} {template} with the secret: {}",
                    with.body
                );
                assert!(op["requestBody"].is_object(), "{method} {template}");
            }
            if !bearer && !gateway {
                assert_ne!(
                    a.status, 401,
                    "{method} {template} refuses without credentials but declares none"
                );
            }
        }
    }

    // The schemes the operations name, in plain words.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    for role in ["viewer", "editor", "admin"] {
        assert!(
            schemes["bearer"]["description"]
                .as_str()
                .unwrap()
                .contains(role),
            "{role}"
        );
    }
    assert_eq!(schemes["gatewaySecretQuery"]["in"], "query");
    assert_eq!(schemes["gatewaySecretHeader"]["in"], "header");

    // Every same-origin link the service hands out leads to a documented path.
    let templates: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    let mut json_links = |from: &str| {
        let v: Value = serde_json::from_str(&request(&base, "GET", from, &[]).body).unwrap();
        let mut stack = vec![&v];
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(o) => {
                    if let Some(h) = o.get("href").and_then(Value::as_str) {
                        links.insert(h.to_string(), from.to_string());
                    }
                    stack.extend(o.values());
                }
                Value::Array(a) => stack.extend(a),
                _ => {}
            }
        }
    };
    json_links("/");
    json_links("/collections");
    json_links("/collections/districts/items?limit=2");
    let map = request(&base, "GET", "/map", &[]).body;
    for attr in ["href=\"", "src=\"", "fetch('", "fetch(\""] {
        for part in map.split(attr).skip(1) {
            let end = part.find(['"', '\'']).unwrap_or(0);
            links.insert(part[..end].to_string(), "/map".into());
        }
    }
    let mut checked = 0;
    for (link, from) in &links {
        let Some(path) = link
            .strip_prefix(&base)
            .or_else(|| link.starts_with('/').then_some(link.as_str()))
        else {
            continue;
        };
        let path = path.split(['?', '#']).next().unwrap();
        let path = if path.is_empty() { "/" } else { path };
        checked += 1;
        assert!(
            path.starts_with("/static/") || templates.iter().any(|t| matches(t, path)),
            "{link} (linked from {from}) is not documented"
        );
    }
    assert!(checked >= 8, "only {checked} links checked: {links:?}");
}
