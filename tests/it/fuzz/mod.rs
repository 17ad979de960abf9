//! Fuzzing of every parser of outside input (RSMC JSON, ATCF, IBTrACS CSV, GDACS GeoRSS,
//! flood CSVs, flood extents, subscriber CSV, HXL, ECMWF BUFR through ecCodes) with seeded
//! mutations of the real files; one engine ([`mutate`]) for the CI smoke and the long run.
//! Long run, a command of its own (README, "Fuzzing"):
//! `AVISO_FUZZ_CASES=1000000 cargo test --release --test it fuzz::long_ -- --ignored --nocapture --test-threads=1`
//!
//! Each test runs its parser in a child process (this test binary, re-run on the one test),
//! so a crash in C code (ecCodes) or an abort is caught and reported with its input instead
//! of killing the suite. The child counts inputs parsed and refused, catches every panic
//! (catch_unwind), checks that every refusal names its source, and aborts on a case that
//! runs longer than AVISO_FUZZ_HANG_SECS (default 120 s: a hang). Any such input is written
//! under target/tmp/fuzz/ and fails the test; after a crash a new child resumes at the next
//! case, so a long run still covers its inputs and lists every crash (up to 200). Cases 0..n are the real files unchanged, which
//! must parse (those marked as known-bad fixtures aside).

mod mutate;
mod regressions;
mod tables;
mod targets;

use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use targets::{Input, Target};

/// The run seed when AVISO_FUZZ_SEED is not set (decimal or 0x-hex).
const DEFAULT_SEED: u64 = 0x00A7_150F_0017;
/// Inputs per parser in the CI smoke (AVISO_FUZZ_SMOKE_CASES overrides): 500 keeps the nine
/// parsers near 30 s in a debug build on two busy cores (2,000 took 135 s).
const SMOKE_CASES: u64 = 500;
/// Inputs per parser in the long run (AVISO_FUZZ_CASES overrides), as issue 17 asks.
const LONG_CASES: u64 = 1_000_000;
/// Set in the child process to the name of the test it must run in-process.
const CHILD_ENV: &str = "AVISO_FUZZ_CHILD";

fn env_u64(key: &str) -> Option<u64> {
    let v = std::env::var(key).ok()?;
    let v = v.trim().replace('_', "");
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    std::fs::create_dir_all(&dir).expect("target/tmp/fuzz");
    dir
}

#[derive(Default)]
struct Tally {
    cases: u64,
    parsed: u64,
    refused: u64,
    panics: u64,
    nameless: u64,
    /// Real files refused (or known-bad ones accepted).
    pristine_wrong: u64,
    /// The first problems, with the file each input was saved to.
    problems: Vec<String>,
    slowest: (Duration, u64),
}

/// The input of case `index`: a real file unchanged for the first cases, then mutations.
fn case_input(target: &dyn Target, pristine: &[Input], seed: u64, index: u64) -> Input {
    match usize::try_from(index).ok().and_then(|i| pristine.get(i)) {
        Some(input) => input.clone(),
        None => target.mutated(&mut mutate::rng_for(seed, target.name(), index)),
    }
}

/// Writes the files of a case under target/tmp/fuzz/; returns the first path.
fn save(target: &str, index: u64, input: &Input, why: &str) -> PathBuf {
    let dir = out_dir();
    let mut first = None;
    for f in &input.files {
        let path = dir.join(format!("{target}-case{index}-{}.bin", f.role));
        std::fs::write(&path, &f.bytes).expect("write the failing input");
        first.get_or_insert(path);
    }
    let note = dir.join(format!("{target}-case{index}.txt"));
    let origins: Vec<&str> = input.files.iter().map(|f| f.origin.as_str()).collect();
    let text = format!("{why}\nparam {}\norigins {origins:?}\n", input.param);
    std::fs::write(&note, text).expect("write the note");
    first.unwrap_or(note)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-text panic payload)".into())
}

/// Where a child stands: the case it is on and what it counted before it (written to the
/// progress file before each case, and once more after the last, so the parent reads the
/// counts even when the child dies).
const PROGRESS_FIELDS: usize = 6;

fn write_progress(progress: &std::fs::File, index: u64, t: &Tally) {
    let fields: [u64; PROGRESS_FIELDS] =
        [index, t.cases, t.parsed, t.refused, t.panics, t.nameless];
    let bytes: Vec<u8> = fields.iter().flat_map(|f| f.to_le_bytes()).collect();
    progress.write_at(&bytes, 0).expect("progress file");
}

fn read_progress(path: &std::path::Path) -> [u64; PROGRESS_FIELDS] {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut out = [0u64; PROGRESS_FIELDS];
    for (i, f) in out.iter_mut().enumerate() {
        *f = bytes
            .get(i * 8..i * 8 + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes);
    }
    out
}

/// Crashes (the process killed by a signal) after which the parent stops resuming
/// (AVISO_FUZZ_MAX_CRASHES overrides): a target that crashes on most inputs is reported
/// without running for hours. The BUFR long run met about one per 12,000 inputs.
const MAX_CRASHES: u64 = 200;

/// Runs cases 0..n in this process, writing each case's index (and the counts so far) to
/// `progress` first (read by the parent if this process dies).
fn run_in_process(target: &dyn Target, n: u64, seed: u64, progress: &std::fs::File) -> Tally {
    // AVISO_FUZZ_FROM=k starts at case k: `AVISO_FUZZ_FROM=k AVISO_FUZZ_CASES=k+1` runs
    // case k alone (with its run seed), to reproduce it.
    let from = env_u64("AVISO_FUZZ_FROM").unwrap_or(0).min(n);
    let pristine = target.pristine();
    let current = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let hang = Duration::from_secs(env_u64("AVISO_FUZZ_HANG_SECS").unwrap_or(120));
    let watchdog = {
        let (current, done) = (Arc::clone(&current), Arc::clone(&done));
        let name = target.name();
        std::thread::spawn(move || {
            let (mut seen, mut since) = (u64::MAX, Instant::now());
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let now = current.load(Ordering::Relaxed);
                if now != seen {
                    (seen, since) = (now, Instant::now());
                } else if since.elapsed() > hang {
                    eprintln!("fuzz {name}: case {now} has run for over {hang:?}: a hang");
                    std::process::abort();
                }
            }
        })
    };
    let mut t = Tally::default();
    for index in from..n {
        write_progress(progress, index, &t);
        current.store(index, Ordering::Relaxed);
        let input = case_input(target, &pristine, seed, index);
        let is_pristine = index < pristine.len() as u64;
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| target.parse(&input)));
        let took = start.elapsed();
        if took > t.slowest.0 {
            t.slowest = (took, index);
        }
        t.cases += 1;
        let problem = |t: &mut Tally, why: String| {
            if t.problems.len() < 10 {
                let path = save(target.name(), index, &input, &why);
                t.problems
                    .push(format!("case {index}: {why} (input: {})", path.display()));
            }
        };
        match result {
            Ok(Ok(())) => {
                t.parsed += 1;
                if is_pristine && !input.expect_ok {
                    t.pristine_wrong += 1;
                    problem(&mut t, "a known-bad fixture was accepted".into());
                }
            }
            Ok(Err(message)) => {
                t.refused += 1;
                if is_pristine && input.expect_ok {
                    t.pristine_wrong += 1;
                    problem(&mut t, format!("a real file was refused: {message}"));
                }
                let sources = target.sources(&input);
                if !sources
                    .iter()
                    .any(|s| !s.is_empty() && message.contains(s.as_str()))
                {
                    t.nameless += 1;
                    problem(
                        &mut t,
                        format!("the error names none of {sources:?}: {message}"),
                    );
                }
            }
            Err(payload) => {
                t.panics += 1;
                problem(&mut t, format!("panic: {}", panic_text(payload.as_ref())));
            }
        }
    }
    write_progress(progress, n, &t);
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    t
}

#[derive(Clone, Copy)]
enum Mode {
    Smoke,
    Long,
}

/// The fuzz test `test` (its name in this module) of `target`: in the parent, runs itself
/// in a child process and judges the outcome; in the child, runs the cases.
fn fuzz(test: &str, target: Option<impl Target>, mode: Mode) {
    let Some(target) = target else { return };
    let n = match mode {
        Mode::Smoke => env_u64("AVISO_FUZZ_SMOKE_CASES").unwrap_or(SMOKE_CASES),
        Mode::Long => env_u64("AVISO_FUZZ_CASES").unwrap_or(LONG_CASES),
    };
    let seed = env_u64("AVISO_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let dir = out_dir();
    let progress_path = dir.join(format!("{test}.progress"));
    let result_path = dir.join(format!("{test}.result"));
    let log_path = dir.join(format!("{test}.log"));
    let name = target.name();

    if std::env::var(CHILD_ENV).is_ok_and(|v| v == test) {
        let progress = std::fs::File::create(&progress_path).expect("progress file");
        let start = Instant::now();
        let t = run_in_process(&target, n, seed, &progress);
        let wall = start.elapsed();
        let summary = format!(
            "fuzz {name}: {} inputs (seed {seed:#x}) in {:.1} s: {} parsed, {} refused, \
             {} panics, {} refusals not naming the source, {} real files misjudged; slowest \
             case {} ({:.1} ms)",
            t.cases,
            wall.as_secs_f64(),
            t.parsed,
            t.refused,
            t.panics,
            t.nameless,
            t.pristine_wrong,
            t.slowest.1,
            t.slowest.0.as_secs_f64() * 1e3
        );
        std::fs::write(
            &result_path,
            format!("{summary}\n{}", t.problems.join("\n")),
        )
        .expect("result file");
        assert!(
            t.problems.is_empty(),
            "{summary}\n{}",
            t.problems.join("\n")
        );
        if t.cases == n {
            assert!(
                t.parsed > 0,
                "{summary}: no input parsed at all: the harness is broken"
            );
        }
        return;
    }

    // The parent: runs the cases in a child; when a case kills it (a crash in C, an abort),
    // the case is saved and counted as a crash, and a new child resumes at the next case,
    // so a long run reaches its n inputs and reports every crash (up to MAX_CRASHES).
    let started = Instant::now();
    let max_crashes = env_u64("AVISO_FUZZ_MAX_CRASHES").unwrap_or(MAX_CRASHES);
    let mut from = env_u64("AVISO_FUZZ_FROM").unwrap_or(0);
    let mut counts = [0u64; PROGRESS_FIELDS];
    let mut crashes: Vec<String> = Vec::new();
    let log_tail = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    let mut first_crash_log = String::new();
    let result = loop {
        let _ = std::fs::remove_file(&result_path);
        let _ = std::fs::remove_file(&progress_path);
        let log = std::fs::File::create(&log_path).expect("log file");
        let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                &format!("fuzz::{test}"),
                "--exact",
                "--include-ignored",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, test)
            .env("AVISO_FUZZ_FROM", from.to_string())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .status()
            .expect("run the fuzz child");
        let progress = read_progress(&progress_path);
        for (total, segment) in counts.iter_mut().zip(progress).skip(1) {
            *total += segment;
        }
        let Some(signal) = status.signal() else {
            let result = std::fs::read_to_string(&result_path).unwrap_or_default();
            assert!(
                status.success(),
                "fuzz {name} failed:\n{result}\nlog {}:\n{}",
                log_path.display(),
                log_tail()
            );
            break result;
        };
        // Died in C code or aborted (watchdog, stack overflow): save the case it was on.
        let index = progress[0];
        let input = case_input(&target, &target.pristine(), seed, index);
        let path = save(name, index, &input, &format!("killed by signal {signal}"));
        crashes.push(format!(
            "case {index} killed the process (signal {signal}); input saved to {}",
            path.display()
        ));
        if first_crash_log.is_empty() {
            first_crash_log = log_tail();
        }
        from = index + 1;
        if from >= n || crashes.len() as u64 >= max_crashes {
            break std::fs::read_to_string(&result_path).unwrap_or_default();
        }
    };
    let [_, cases, parsed, refused, panics, nameless] = counts;
    let total = format!(
        "fuzz {name}: {} inputs in {:.1} s over {} child process(es): {parsed} parsed, \
         {refused} refused, {panics} panics, {nameless} refusals not naming the source, {} \
         crashes (process killed by a signal){}",
        cases + crashes.len() as u64,
        started.elapsed().as_secs_f64(),
        crashes.len() + 1,
        crashes.len(),
        if crashes.len() as u64 >= max_crashes {
            format!("; stopped after {max_crashes} crashes")
        } else {
            String::new()
        }
    );
    println!("{total}");
    let _ = std::io::stdout().flush();
    assert!(
        crashes.is_empty(),
        "{total}\n{}\nlog of the first crash:\n{first_crash_log}",
        crashes.join("\n")
    );
    println!("{}", result.lines().next().unwrap_or("(no summary)"));
    let _ = std::io::stdout().flush();
}

/// The CI smoke (500 inputs per parser, seconds) and the long run (ignored; 10^6 inputs
/// per parser with AVISO_FUZZ_CASES, in release), per parser.
macro_rules! fuzz_tests {
    ($($smoke:ident, $long:ident => $make:expr;)*) => {$(
        #[test]
        fn $smoke() {
            fuzz(stringify!($smoke), $make, Mode::Smoke);
        }

        #[test]
        #[ignore = "long run: AVISO_FUZZ_CASES=1000000 cargo test --release --test it fuzz::long_ -- --ignored --nocapture --test-threads=1"]
        fn $long() {
            fuzz(stringify!($long), $make, Mode::Long);
        }
    )*};
}

fuzz_tests! {
    smoke_rsmc, long_rsmc => targets::Rsmc::new();
    smoke_atcf, long_atcf => Some(targets::Atcf::new());
    smoke_ibtracs, long_ibtracs => targets::Ibtracs::new();
    smoke_gdacs, long_gdacs => targets::Gdacs::new();
    smoke_bufr, long_bufr => targets::Bufr::new();
    smoke_floods, long_floods => tables::Floods::new();
    smoke_flood_extent, long_flood_extent => tables::FloodExtent::new();
    smoke_subscriber, long_subscriber => tables::Subscribers::new();
    smoke_hxl, long_hxl => tables::Hxl::new();
}

#[test]
fn a_case_is_the_same_bytes_on_every_run() {
    let Some(target) = targets::Rsmc::new() else {
        return;
    };
    let pristine = target.pristine();
    let a = case_input(&target, &pristine, 7, 1234);
    let b = case_input(&target, &pristine, 7, 1234);
    let c = case_input(&target, &pristine, 8, 1234);
    assert_eq!(a.files[0].bytes, b.files[0].bytes);
    assert_ne!(
        a.files[0].bytes, c.files[0].bytes,
        "another run seed, another input"
    );
}
