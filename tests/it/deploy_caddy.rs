//! The deployment example of issue 15 item 5 with a real Caddy (Debian's caddy 2.6):
//! deploy/Caddyfile and deploy/Caddyfile.replica validate, and two `aviso serve` replicas
//! on one PostgreSQL database serve through a TLS front proxy whose `reverse_proxy` block
//! is deploy/Caddyfile's own, line for line. Only the upstream names change (localhost
//! ports for aviso-a/aviso-b.example.org), certificates come from Caddy's local CA instead
//! of Let's Encrypt, and the front trusts the replicas' local certificates without
//! checking them (one machine, no public names). The client is curl, checking the front's
//! certificate against that CA. Then replica A is killed with SIGKILL and the front must
//! go on answering through B.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, pg};
use crate::store_pg_service::site_config;

/// deploy/Caddyfile's `reverse_proxy` block, its upstreams replaced by `a` and `b`, with a
/// transport that accepts the replicas' local certificates.
fn front_block(deploy: &str, a: u16, b: u16) -> String {
    let start = deploy
        .find("\treverse_proxy https://aviso-a.example.org https://aviso-b.example.org {")
        .expect("deploy/Caddyfile has the reverse_proxy of both replicas");
    let end = start
        + deploy[start..]
            .find("\n\t}\n")
            .expect("the reverse_proxy block ends");
    let block = &deploy[start..end];
    let first_line_end = block.find('\n').unwrap();
    format!(
        "\treverse_proxy https://localhost:{a} https://localhost:{b} {{{}\n\t\ttransport http {{\n\t\t\ttls_insecure_skip_verify\n\t\t}}\n\t}}\n",
        &block[first_line_end..]
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `curl` through the front: (status, body), the certificate checked against `ca`.
fn curl(ca: &Path, url: &str, headers: bool) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["-w", "\n%{http_code}"]);
    if headers {
        cmd.arg("-i");
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_replicas_serve_through_the_deploy_caddyfile_over_tls_and_survive_a_sigkill() {
    if !common::tool_available("caddy", "version", "caddy")
        || !common::tool_available("curl", "--version", "curl")
    {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for f in ["Caddyfile", "Caddyfile.replica"] {
        let out = Command::new("caddy")
            .args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(root.join(f))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("Valid configuration"),
            "deploy/{f}: {said}"
        );
    }
    let Some(url) = pg::fresh_database() else {
        return;
    };
    // Two replicas on one database; no feed fetches anything (the address is closed).
    let store = format!("[store]\nurl = {url:?}\n");
    let closed: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, api_a) = common::start_service(&site_config(dir_a.path(), closed, &store));
    let (b, api_b) = common::start_service(&site_config(dir_b.path(), closed, &store));
    let _b = Killed(b);
    let port = |api: &str| -> u16 { api.rsplit(':').next().unwrap().parse().unwrap() };

    // The front and the two replica sites on one Caddy, as deploy/ lays them out.
    let caddy_dir = tempfile::tempdir().unwrap();
    let (front, site_a, site_b) = (free_port(), free_port(), free_port());
    let deploy = std::fs::read_to_string(root.join("Caddyfile")).unwrap();
    let caddyfile = format!(
        "{{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\tauto_https disable_redirects\n}}\n\n\
         https://localhost:{front} {{\n\trespond /metrics 404\n{}\theader Strict-Transport-Security \"max-age=31536000\"\n}}\n\n\
         https://localhost:{site_a} {{\n\treverse_proxy 127.0.0.1:{}\n}}\n\n\
         https://localhost:{site_b} {{\n\treverse_proxy 127.0.0.1:{}\n}}\n",
        front_block(&deploy, site_a, site_b),
        port(&api_a),
        port(&api_b),
    );
    let cf = caddy_dir.path().join("Caddyfile");
    std::fs::write(&cf, &caddyfile).unwrap();
    let caddy = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&cf)
        .env("HOME", caddy_dir.path())
        .env("XDG_DATA_HOME", caddy_dir.path().join("data"))
        .env("XDG_CONFIG_HOME", caddy_dir.path().join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _caddy = Killed(caddy);
    let ca = caddy_dir
        .path()
        .join("data/caddy/pki/authorities/local/root.crt");
    let base = format!("https://localhost:{front}");

    // Up, over TLS the client verifies, and both replicas answer in turn.
    let t0 = Instant::now();
    let mut starts = std::collections::BTreeSet::new();
    while t0.elapsed() < Duration::from_secs(60) && starts.len() < 2 {
        if ca.exists()
            && let (200, body) = curl(&ca, &format!("{base}/readyz"), false)
        {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            starts.insert(v["started_at"].as_str().unwrap().to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        starts.len(),
        2,
        "both replicas answer through the front:\n{caddyfile}"
    );
    let (code, head) = curl(&ca, &format!("{base}/api/alerts"), true);
    assert_eq!(code, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    assert_eq!(curl(&ca, &format!("{base}/metrics"), false).0, 404);

    // SIGKILL A: the front's passive check (unhealthy_status) takes it out after at most
    // one failed request, and B answers everything after.
    let _ = a.kill();
    let _ = a.wait();
    let codes: Vec<u16> = (0..20)
        .map(|_| curl(&ca, &format!("{base}/api/alerts"), false).0)
        .collect();
    let failed = codes.iter().filter(|c| **c != 200).count();
    println!("after SIGKILL of replica A, 20 requests through the front: {codes:?}");
    assert!(failed <= 1, "{codes:?}");
    assert!(codes[2..].iter().all(|c| *c == 200), "{codes:?}");
    let (_, body) = curl(&ca, &format!("{base}/readyz"), false);
    let b_start = serde_json::from_str::<serde_json::Value>(&body).unwrap()["started_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(starts.contains(&b_start));
}
