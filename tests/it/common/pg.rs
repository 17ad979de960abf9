//! A real PostgreSQL server for the tests (issue 15): ONE throwaway cluster per test
//! process, started the first time a test asks (initdb + pg_ctl from Debian's
//! postgresql package, `-A trust` on 127.0.0.1 and a free port, as ../shared/STACK.md's
//! script), and a fresh database per test. Stopped (`pg_ctl -m immediate`) and its folder
//! removed when the test process exits. Missing binaries fail the test through
//! [`super::skip_or_fail`] (`scripts/setup.sh test` installs them). No mock.
//!
//! As root (CI, this machine) the server runs as the `postgres` user the package creates:
//! initdb refuses root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The running cluster.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The cluster, once started; `None` when PostgreSQL is not installed.
static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
/// What the exit hook must stop: (pg_ctl, data dir, folder, as the postgres user).
static TO_STOP: Mutex<Option<(PathBuf, PathBuf, PathBuf, bool)>> = Mutex::new(None);
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// Debian's server binaries (not on PATH): the newest /usr/lib/postgresql/<v>/bin.
fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `program args...`, as the postgres user when root.
fn run(as_postgres: bool, program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

extern "C" fn stop_cluster() {
    let Ok(mut g) = TO_STOP.lock() else { return };
    if let Some((pg_ctl, data, dir, as_postgres)) = g.take() {
        let data = data.display().to_string();
        run(
            as_postgres,
            &pg_ctl,
            &["-D", &data, "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn start() -> Option<Cluster> {
    let Some(bin) = server_bin() else {
        super::skip_or_fail(
            "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, Debian postgresql)",
        );
        return None;
    };
    let as_postgres = is_root();
    let dir = tempfile::Builder::new()
        .prefix("aviso-pg.")
        .tempdir()
        .unwrap()
        .keep();
    if as_postgres {
        let ok = Command::new("chown")
            .arg("postgres:")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "chown postgres: {} (is the postgres user there?)",
            dir.display()
        );
    }
    let data = dir.join("data");
    let data_s = data.display().to_string();
    let out = run(
        as_postgres,
        &bin.join("initdb"),
        &[
            "-D",
            &data_s,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    );
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A free port: bind one, release it, give it to the server (a race with another
    // process is possible but unlikely; pg_ctl then fails loudly).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=200",
        dir.display()
    );
    let log = dir.join("log").display().to_string();
    let pg_ctl = bin.join("pg_ctl");
    let out = run(
        as_postgres,
        &pg_ctl,
        &["-D", &data_s, "-l", &log, "-w", "-o", &opts, "start"],
    );
    assert!(
        out.status.success(),
        "pg_ctl start: {}{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    *TO_STOP.lock().unwrap() = Some((pg_ctl, data, dir.clone(), as_postgres));
    // SAFETY: registers a plain extern "C" function without arguments; it runs once at
    // process exit.
    unsafe {
        libc::atexit(stop_cluster);
    }
    Some(Cluster {
        bin,
        dir,
        port,
        as_postgres,
    })
}

/// A fresh, empty database on the test cluster, as a `postgres://` URL (no password:
/// the cluster trusts local connections). `None` when PostgreSQL is absent and
/// AVISO_SKIP_MISSING=1 allows skipping.
pub fn fresh_database() -> Option<String> {
    let c = CLUSTER.get_or_init(start).as_ref()?;
    let name = format!(
        "aviso_t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let port = c.port.to_string();
    let out = run(
        c.as_postgres,
        &c.bin.join("createdb"),
        &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", &name],
    );
    assert!(
        out.status.success(),
        "createdb {name} (cluster in {}): {}",
        c.dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(format!("postgres://postgres@127.0.0.1:{port}/{name}"))
}

/// `psql -c sql` against `url`'s database; its stdout (unaligned, tuples only).
pub fn psql(url: &str, sql: &str) -> String {
    try_psql(url, sql).unwrap_or_else(|e| panic!("psql {sql}: {e}"))
}

/// `psql -c sql` on `url`: its output, or the server's error (stderr) when it failed.
pub fn try_psql(url: &str, sql: &str) -> Result<String, String> {
    let c = CLUSTER
        .get()
        .and_then(Option::as_ref)
        .expect("fresh_database() first");
    let out = run(
        c.as_postgres,
        &c.bin.join("psql"),
        &["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
    );
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
