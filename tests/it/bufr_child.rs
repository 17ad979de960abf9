//! ECMWF BUFR decoded in a child process (issue 17: a file that crashes ecCodes must not take
//! the service down). The isolated decoder (the built `aviso`, run as `aviso decode-bufr`)
//! gives exactly what the in-process one gives on the real HEROLD files, good or damaged; a
//! real crash input (tests/fixtures/bad/ecmwf_herold_eps_ecc_crash.bufr4, framing intact)
//! ends the child only, with an error naming the file and the signal; through `aviso
//! serve`, that file degrades its feed, the service keeps serving and Freddy's published
//! alert stays.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use aviso::feeds::FeedError;
use aviso::feeds::bufr_child::{ChildDecoder, ChildLimits};
use aviso::feeds::ecmwf_bufr;

use crate::common;
use crate::hardening_small::{feed_server, freddy_8_march, site_config, start_serve};

const DET: &str = "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.det.bufr4";
const EPS: &str = "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.eps.bufr4";

/// Well-framed BUFR files that crash ecCodes 2.28 (tests/fixtures/bad/README.md): one
/// found by a byte mutator over the HEROLD files, and one of each way the fuzz long run's
/// 74 crashes end ecCodes (stack overflow, allocation failure under the child's address
/// space limit, and two assertions of its own).
const CRASHES: [&str; 5] = [
    "tests/fixtures/bad/ecmwf_herold_eps_ecc_crash.bufr4",
    "tests/fixtures/bad/ecmwf_fuzz_case22086_ecc_crash.bufr4",
    "tests/fixtures/bad/ecmwf_fuzz_case132105_ecc_malloc_abort.bufr4",
    "tests/fixtures/bad/ecmwf_fuzz_case165721_ecc_included_fname.bufr4",
    "tests/fixtures/bad/ecmwf_fuzz_case191034_ecc_nbits.bufr4",
];

fn crash_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(CRASHES[0])
}

fn child() -> ChildDecoder {
    ChildDecoder::new(env!("CARGO_BIN_EXE_aviso"))
}

/// The HEROLD files (deterministic, ensemble), or `None` when the data are absent.
fn herold() -> Option<(Vec<u8>, Vec<u8>)> {
    let det = std::fs::read(common::data_file(DET)?).unwrap();
    let eps = std::fs::read(common::data_file(EPS)?).unwrap();
    Some((det, eps))
}

#[test]
fn the_child_decodes_the_herold_files_exactly_as_the_in_process_decoder() {
    let Some((det, eps)) = herold() else { return };
    let decoder = child();
    for (name, bytes) in [(DET, &det), (EPS, &eps)] {
        let inside = ecmwf_bufr::parse(bytes, name).unwrap();
        let isolated = decoder.decode(bytes, name).unwrap();
        // Every member, track point, radius and note, bit for bit.
        assert_eq!(isolated, inside, "{name}");
        assert!(!isolated.ensemble.members.is_empty(), "{name}");
    }
    // The ensemble holds 51 ENS members and the deterministic run (member 52).
    let eps_members = decoder.decode(&eps, EPS).unwrap().ensemble.members;
    assert_eq!(eps_members.len(), 52);

    // Damaged files: the child reports the very error the in-process decoder gives (the
    // same variant, message and subset), not a crash.
    let both = [det.clone(), eps.clone()].concat();
    let half = eps[..eps.len() / 2].to_vec();
    let html = b"<html><body>502 Bad Gateway</body></html>".to_vec();
    for (what, bytes) in [("det+eps", both), ("half", half), ("html", html)] {
        let inside = ecmwf_bufr::parse(&bytes, what).expect_err(what);
        match decoder.decode(&bytes, what) {
            Err(FeedError::Bufr(isolated)) => assert_eq!(isolated, inside, "{what}"),
            other => panic!("{what}: expected {inside}, got {other:?}"),
        }
    }
}

#[test]
fn a_file_that_crashes_eccodes_ends_only_the_child_with_an_error_naming_the_file() {
    for rel in CRASHES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
        let bytes = std::fs::read(&path).unwrap();
        let origin = path.display().to_string();
        let err = child().decode(&bytes, &origin).unwrap_err();
        let FeedError::BufrChild(e) = &err else {
            panic!("{rel}: expected the child to die, got {err:?}");
        };
        assert_eq!(e.origin, origin);
        // ecCodes overflows the stack (Rust's handler reports it and aborts: SIGABRT; a
        // plain C program gets SIGSEGV) or aborts on its own assertion when the runaway
        // decode meets the child's address-space limit. Either way a signal, named.
        assert!(
            e.what.contains("was killed by signal 6 (SIGABRT")
                || e.what.contains("was killed by signal 11 (SIGSEGV)"),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&origin) && text.contains("while decoding"),
            "{text}"
        );
    }
    // This process is still here, and decodes the next file.
    if let Some((det, _)) = herold() {
        assert!(child().decode(&det, DET).is_ok());
    }
}

#[test]
fn the_parent_kills_a_child_past_its_limits_and_says_which() {
    let Some((_, eps)) = herold() else { return };
    let limited = |limits: ChildLimits| child().with_limits(limits);
    // Output cap: the ensemble's JSON is far more than 1,000 bytes.
    let err = limited(ChildLimits {
        max_output_bytes: 1000,
        ..ChildLimits::default()
    })
    .decode(&eps, EPS)
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(EPS) && err.contains("wrote more than 1000 bytes of output and was killed"),
        "{err}"
    );
    // A zero wall-clock limit: the deadline has passed before the first look.
    let err = limited(ChildLimits {
        timeout: Duration::ZERO,
        ..ChildLimits::default()
    })
    .decode(&eps, EPS)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("did not finish within 0.0 s and was killed"),
        "{err}"
    );
    // An executable that is not aviso: exits 0 with nothing on stdout.
    let err = ChildDecoder::new("/bin/true")
        .decode(&eps, EPS)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(EPS) && err.contains("wrote 0 bytes that are not a decode result"),
        "{err}"
    );
    // One that does not exist.
    let err = ChildDecoder::new("/nonexistent/aviso")
        .decode(&eps, EPS)
        .unwrap_err()
        .to_string();
    assert!(err.contains("could not be started"), "{err}");
}

#[test]
fn the_cli_decodes_bufr_in_a_child_and_keeps_the_subcommand_hidden() {
    let aviso = env!("CARGO_BIN_EXE_aviso");
    let help = Command::new(aviso).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("assess") && !help.contains("decode-bufr"),
        "{help}"
    );

    let layers = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers");
    let path = crash_fixture();
    let out = Command::new(aviso)
        .args(["assess", "--forecast"])
        .arg(&path)
        .arg("--layers")
        .arg(&layers)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // aviso itself exits with its error status (1), not a signal, and names the file.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&path.display().to_string()) && err.contains("was killed by signal"),
        "{err}"
    );
}

/// Through the real service: an ECMWF BUFR feed beside an RSMC one. Freddy's alert is
/// published; HEROLD's ensemble is decoded (in the child) and the feed is ok; then the feed
/// serves the crash input: the child dies, the feed is degraded with an error naming it,
/// and the service goes on serving the same published alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bufr_that_kills_the_decoder_degrades_its_feed_and_the_service_keeps_serving() {
    let (Some(freddy), Some((_, eps))) = (freddy_8_march(), herold()) else {
        return;
    };
    let crash = std::fs::read(crash_fixture()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (rsmc_base, rsmc_body) = feed_server().await;
    *rsmc_body.lock().unwrap() = freddy;
    let (ecmwf_base, ecmwf_body) = feed_server().await;
    *ecmwf_body.lock().unwrap() = eps;
    let ecmwf_url = format!("{ecmwf_base}/ecmwf/tc_tracks.bufr4");
    let extra = format!(
        r#"[[feed]]
name = "ecmwf-tracks"
kind = "ecmwf-bufr"
url = "{ecmwf_url}"
schedule = "*/1 * * * * *"
"#
    );
    let cfg = site_config(
        &dir.path().join("data"),
        &format!("{rsmc_base}/rsmc/freddy.json"),
        &extra,
    );
    let svc = start_serve(dir.path(), &cfg).await;
    svc.wait_versions(1).await;

    let ecmwf_feed = |ready: &Value| -> Value {
        ready["feeds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feed"] == "ecmwf-tracks")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let wait_for = |what: &'static str, ok: fn(&Value) -> bool| {
        let svc = &svc;
        async move {
            let t0 = Instant::now();
            loop {
                let ready: Value = serde_json::from_str(&svc.api.text("/readyz").await).unwrap();
                let feed = ecmwf_feed(&ready);
                if ok(&feed) {
                    return (ready, feed);
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(180),
                    "{what} never seen: {ready}\n{}",
                    svc.log()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // HEROLD decoded through the child: the feed is ok.
    wait_for("the ecmwf feed ok", |f| f["state"] == "ok").await;
    let alerts_before = svc.api.text("/api/alerts").await;
    let before: Value = serde_json::from_str(&alerts_before).unwrap();
    assert_eq!(before["matched"], 1, "{before}");

    // The crash input: the decoder child dies, the feed is degraded, naming it.
    *ecmwf_body.lock().unwrap() = crash;
    let (ready, feed) = wait_for("the ecmwf feed degraded", |f| {
        f["state"] == "degraded"
            && f["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("was killed by signal"))
    })
    .await;
    let err = feed["last_error"].as_str().unwrap();
    assert!(
        err.contains("ecmwf-tracks") && err.contains(&ecmwf_url) && err.contains("while decoding"),
        "{err}"
    );
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert!(svc.log().contains("was killed by signal"), "{}", svc.log());

    // The service still answers, Freddy's feed is healthy and its alert is the same.
    let health = svc.api.text("/healthz").await;
    assert!(!health.is_empty());
    let rsmc = ready["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == "rsmc")
        .unwrap();
    assert_eq!(rsmc["state"], "ok", "{ready}");
    let after: Value = serde_json::from_str(&svc.api.text("/api/alerts").await).unwrap();
    assert_eq!(after, before);
}
