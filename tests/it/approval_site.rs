//! The site `aviso serve` runs with in the approval tests (issue 13): Freddy's replay on a
//! local feed, e-mail to a real SMTP server, SMS to a local gateway, and the tokens.

use std::path::{Path, PathBuf};

use crate::approval_service::{EDITOR, OFFICER, VIEWER};
use crate::notify_support::sha256_hex;

/// A second approver: approves what the duty officer edited (four eyes).
pub(crate) const SECOND_APPROVER: &str = "approver-token-approval-4";

/// A site's configuration: an Actual RSMC feed and an Exercise drill feed (both polled
/// every second), e-mail and SMS, a viewer, an editor and two approver tokens (four eyes); `[store]`.
pub(crate) fn site_toml(feeds: &str, recv: &str, smtp: u16, store: Option<&str>) -> String {
    format!(
        r#"[service]
max_forecast_age_h = 1000000.0
listen = "127.0.0.1:0"
layers = "{layers}"
[http]
retries = 0
[probabilistic]
publish = false
[[feed]]
name = "rsmc"
kind = "rsmc-reunion"
url = "{feeds}/rsmc/freddy.json"
schedule = "* * * * * *"
[[feed]]
name = "drill"
kind = "rsmc-reunion"
url = "{feeds}/drill/freddy.json"
schedule = "* * * * * *"
status = "Exercise"
{notify}"#,
        notify = notify_site(recv, smtp, store),
        layers = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("layers")
            .display(),
    )
}

/// The `[notify]` part of the approval sites: e-mail to the SMTP server on `smtp`, SMS to
/// the gateway at `recv`, a viewer, an editor and two approver tokens (four eyes); then
/// `[store]` when a PostgreSQL URL is given.
pub(crate) fn notify_site(recv: &str, smtp: u16, store: Option<&str>) -> String {
    format!(
        r#"[notify.email]
enabled = true
host = "localhost"
port = {smtp}
security = "none"
from = "Alertas INGD <alertas@aviso.example.org>"
[notify.sms]
enabled = true
url = "{recv}/sms"
body_format = "json"
status_path = "status"
id_path = "id"
accepted_statuses = ["accepted"]
[notify.outbox]
poll_interval_s = 0.05
[[notify.token]]
name = "cenoe-viewer"
role = "viewer"
sha256 = "{viewer}"
[[notify.token]]
name = "cenoe-editor"
role = "editor"
sha256 = "{editor}"
[[notify.token]]
name = "duty-officer"
role = "approver"
sha256 = "{officer}"
[[notify.token]]
name = "second-approver"
role = "approver"
sha256 = "{second}"
{store}"#,
        store = store.map_or(String::new(), |u| format!("[store]\nurl = {u:?}\n")),
        viewer = sha256_hex(VIEWER),
        editor = sha256_hex(EDITOR),
        officer = sha256_hex(OFFICER),
        second = sha256_hex(SECOND_APPROVER),
    )
}

/// Runs `tests/web/{spec}` (playwright-core driving Debian's headless chromium) against
/// the service at `base`, signed in as the duty officer, with a second approver's token
/// for the four-eyes step; asserts it passed and returns what it printed.
pub(crate) async fn run_ops_spec(base: &str, spec: &'static str, chromium: PathBuf) -> String {
    let root = crate::web_map::manifest_dir();
    let artifacts = root.join("target/web-artifacts");
    let base = format!("{base}/");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(root.join("tests/web").join(spec))
            .arg(base)
            .env("AVISO_OPS_TOKEN", OFFICER)
            .env("AVISO_OPS_TOKEN_2", SECOND_APPROVER)
            .env("AVISO_WEB_ARTIFACTS", &artifacts)
            .env("AVISO_CHROMIUM", &chromium)
            .current_dir(&root)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{spec} failed: {stdout}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
    stdout
}

/// The SMS text a spec's review showed (its `expected-sms:` line, JSON).
pub(crate) fn expected_sms(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("expected-sms: "))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap_or_else(|| panic!("no expected-sms line: {stdout}"))
}
