//! Admin tokens must never cross plain HTTP off localhost (issue 15 item 5): the real
//! `aviso serve` logs an ERROR at start-up, naming the address it listens on and what to
//! do, when admin tokens are configured and clients would reach it in clear; and says
//! nothing of the kind on loopback or behind an https public URL.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

const WARNING: &str = "admin tokens would cross plain HTTP";

/// `aviso serve` on `listen` with `service` keys added and (or not) an admin token: its
/// stderr up to the "serving on" line.
fn start_up_log(dir: &Path, listen: &str, service: &str, token: bool) -> String {
    let config = dir.join(format!("aviso-{}.toml", listen.replace([':', '.'], "_")));
    let token = if token {
        // The SHA-256 of "x" (a token nobody uses; only its presence matters here).
        "[[notify.token]]\nname = \"ops\"\nrole = \"editor\"\nsha256 = \"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\"\n"
    } else {
        ""
    };
    std::fs::write(
        &config,
        format!(
            "[service]\nlisten = {listen:?}\ndata_dir = {:?}\nlayers = {:?}\n{service}\n\n[probabilistic]\npublish = false\n\n{token}",
            dir.join("state").display().to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/layers"),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("AVISO_CONFIG")
        .env_remove("AVISO_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        log.push_str(&line);
        log.push('\n');
        if line.contains("serving on http://") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        log.contains("serving on http://"),
        "aviso serve did not start:\n{log}"
    );
    log
}

#[test]
fn serve_logs_an_error_when_admin_tokens_would_cross_plain_http_off_localhost() {
    let dir = tempfile::tempdir().unwrap();
    // Every interface, no public URL: tokens would arrive in clear.
    let log = start_up_log(dir.path(), "0.0.0.0:0", "", true);
    let line = log
        .lines()
        .find(|l| l.contains(WARNING))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("listens on 0.0.0.0:"),
        "names the address: {line}"
    );
    assert!(
        line.contains("service.public_url"),
        "says what to do: {line}"
    );
    // A public URL in plain http to another host: still in clear, even on loopback.
    let log = start_up_log(
        dir.path(),
        "127.0.0.1:0",
        "public_url = \"http://aviso.example.org\"",
        true,
    );
    assert!(
        log.lines()
            .any(|l| l.contains(WARNING) && l.contains("http://aviso.example.org")),
        "{log}"
    );
}

#[test]
fn serve_says_nothing_on_loopback_behind_https_or_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    for (listen, service, token) in [
        ("127.0.0.1:0", "", true),
        (
            "0.0.0.0:0",
            "public_url = \"https://aviso.example.org\"",
            true,
        ),
        ("0.0.0.0:0", "", false),
    ] {
        let log = start_up_log(dir.path(), listen, service, token);
        assert!(
            !log.contains(WARNING),
            "{listen} {service} tokens={token}:\n{log}"
        );
    }
}
