//! ECMWF TC-track BUFR decoded in a child process, so that a file which crashes ecCodes (C)
//! kills the child and not the service (issue 17: a fuzzed, well-framed BUFR made ecCodes
//! 2.28 segfault; a crash in C is no Rust panic and cannot be caught in-process).
//!
//! Both sides of one small protocol live here:
//! - the parent ([`ChildDecoder`], a [`super::BufrDecoder`]) runs the `aviso` executable it
//!   is given (the wiring passes `std::env::current_exe()`, tests the built binary) as
//!   `aviso decode-bufr` (a hidden subcommand), writes the file's bytes on its stdin, reads at
//!   most [`ChildLimits::max_output_bytes`] of its stdout, kills it after
//!   [`ChildLimits::timeout`], and turns a signal, a non-zero exit, a timeout or output that
//!   is not a decode result into a [`DecodeError`] naming the source and what happened;
//! - the child ([`child_main`]) lowers its own CPU-time and address-space limits (rustix
//!   `setrlimit`; no core file), reads stdin, decodes in-process with
//!   [`super::ecmwf_bufr::parse`] and writes `Result<ParsedEnsemble, BufrError>` as JSON.
//!
//! The origin (URL or path, for the error messages) goes to the child in the environment
//! ([`ORIGIN_ENV`]), not on its command line: a URL may carry a key, and every local user
//! can read a process's arguments (`ps`), but only its owner its environment.
//!
//! Edge code (processes, pipes); std only, no tokio: the pipeline calls it from its
//! blocking worker, the CLI from `main`.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::ecmwf_bufr::{self, BufrError, ParsedEnsemble};
use super::{BufrDecoder, FeedError};

/// The hidden subcommand the parent runs (src/main.rs).
pub const SUBCOMMAND: &str = "decode-bufr";
/// Environment variable carrying the origin (URL or path) to the child.
pub const ORIGIN_ENV: &str = "AVISO_BUFR_ORIGIN";

/// Wall-clock limit of one decode: 30 s. Decoding HEROLD's 52-member ensemble (5.9 kB)
/// took 0.9 s with the debug binary on this 2-core machine under a release build, start-up
/// included (measured 2026-12-02); an ECMWF TC-track file holds one storm, so real files
/// stay within seconds. A child still running after 30 s is hung or runaway (the crash
/// fixtures spend 6-20 s recursing in ecCodes before the stack gives out) and is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// CPU-time limit of the child (RLIMIT_CPU, s): the same reasoning as [`DEFAULT_TIMEOUT`];
/// the kernel sends SIGXCPU at the limit, also when the parent's clock is not watched.
pub const DEFAULT_CPU_S: u64 = 30;
/// Address-space limit of the child (RLIMIT_AS): 2 GiB. The child maps the `aviso` binary
/// and its shared libraries (GDAL, PROJ, ecCodes) and the decoded file; HEROLD's ensemble
/// decodes within a 300 MB limit (measured, peak RSS 65 MB). A runaway decode (the crash
/// fixtures grow past 1.3 GB before they die) fails there instead of taking the machine's
/// memory from the service.
pub const DEFAULT_ADDRESS_SPACE_BYTES: u64 = 2 << 30;
/// Most stdout bytes read from the child: 64 MiB. HEROLD's ensemble decodes to 134 kB of
/// JSON (52 members; measured); the input itself is capped at
/// [`super::DEFAULT_MAX_INPUT_BYTES`] (64 MiB) and a track file's JSON is of that order at
/// most. More is a child gone wrong and is not read further.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 64 << 20;
/// Most stderr bytes kept from the child (ecCodes' error lines), for the error message.
const MAX_STDERR_BYTES: usize = 16 << 10;
/// How often the parent looks whether the child has exited once its stdout is closed.
const WAIT_POLL: Duration = Duration::from_millis(5);

/// The child's limits (see the `DEFAULT_*` constants for why each value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildLimits {
    /// Wall-clock time after which the child is killed.
    pub timeout: Duration,
    /// Stdout bytes read at most; the child is killed when it writes more.
    pub max_output_bytes: usize,
    /// RLIMIT_CPU of the child, seconds.
    pub cpu_s: u64,
    /// RLIMIT_AS of the child, bytes.
    pub address_space_bytes: u64,
}

impl Default for ChildLimits {
    fn default() -> Self {
        ChildLimits {
            timeout: DEFAULT_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            cpu_s: DEFAULT_CPU_S,
            address_space_bytes: DEFAULT_ADDRESS_SPACE_BYTES,
        }
    }
}

/// A BUFR file the decoder child could not turn into a result: names the source and what
/// happened to the child.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{origin}: the BUFR decoder child process ({exe}) {what}; nothing was read from this \
     file, and what is already published stays"
)]
pub struct DecodeError {
    pub origin: String,
    pub exe: String,
    pub what: String,
}

/// Decodes BUFR by running `exe decode-bufr` (see the module doc).
#[derive(Debug, Clone)]
pub struct ChildDecoder {
    exe: PathBuf,
    limits: ChildLimits,
}

impl ChildDecoder {
    /// `exe` must be the `aviso` executable (it must know the `decode-bufr` subcommand).
    pub fn new(exe: impl Into<PathBuf>) -> ChildDecoder {
        ChildDecoder {
            exe: exe.into(),
            limits: ChildLimits::default(),
        }
    }

    pub fn with_limits(mut self, limits: ChildLimits) -> ChildDecoder {
        self.limits = limits;
        self
    }

    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// Decodes `bytes` in a child; `origin` (URL or path) names the source in every error.
    /// A decode error of the file itself is the same [`BufrError`] the in-process parser
    /// gives; whatever happened to the child is a [`DecodeError`].
    pub fn decode(&self, bytes: &[u8], origin: &str) -> Result<ParsedEnsemble, FeedError> {
        let fail = |what: String| {
            FeedError::BufrChild(DecodeError {
                origin: origin.to_string(),
                exe: self.exe.display().to_string(),
                what,
            })
        };
        let out = self.run(bytes, origin).map_err(fail)?;
        let result: Result<ParsedEnsemble, BufrError> = serde_json::from_slice(&out.stdout)
            .map_err(|e| {
                fail(format!(
                    "exited normally but wrote {} bytes that are not a decode result ({e}){}",
                    out.stdout.len(),
                    stderr_tail(&out.stderr)
                ))
            })?;
        Ok(result?)
    }

    fn run(&self, bytes: &[u8], origin: &str) -> Result<Output, String> {
        let limits = &self.limits;
        let started = Instant::now();
        let deadline = started + limits.timeout;
        let mut child = Command::new(&self.exe)
            .arg(SUBCOMMAND)
            .arg("--max-cpu-s")
            .arg(limits.cpu_s.to_string())
            .arg("--max-address-space-bytes")
            .arg(limits.address_space_bytes.to_string())
            .env(ORIGIN_ENV, origin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not be started ({e})"))?;
        // Stdin, stdout and stderr each on a thread, so a child that writes before it has
        // read everything (or never reads) cannot block the parent; the parent watches the
        // clock. A write error (the child died early) is the child's exit status's story.
        let input = bytes.to_vec();
        let stdin = child.stdin.take().map(|mut pipe| {
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            })
        });
        let stderr = child.stderr.take().map(|pipe| {
            thread::spawn(move || {
                let mut kept = Vec::new();
                let _ = pipe.take(MAX_STDERR_BYTES as u64).read_to_end(&mut kept);
                kept
            })
        });
        let (tx, rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            let cap = limits.max_output_bytes;
            thread::spawn(move || {
                let mut out = Vec::new();
                let read = pipe.take(cap as u64 + 1).read_to_end(&mut out);
                let _ = tx.send(read.map(|_| out));
            });
        }
        let stdout = match wait_stdout(&rx, deadline) {
            Waited::Done(Ok(out)) if out.len() > limits.max_output_bytes => {
                kill(&mut child);
                return Err(format!(
                    "wrote more than {} bytes of output and was killed",
                    limits.max_output_bytes
                ));
            }
            Waited::Done(Ok(out)) => out,
            Waited::Done(Err(e)) => {
                kill(&mut child);
                return Err(format!("could not be read from ({e}) and was killed"));
            }
            Waited::TimedOut => {
                kill(&mut child);
                return Err(timed_out(limits.timeout));
            }
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    kill(&mut child);
                    return Err(timed_out(limits.timeout));
                }
                Ok(None) => thread::sleep(WAIT_POLL),
                Err(e) => {
                    kill(&mut child);
                    return Err(format!("could not be waited for ({e}) and was killed"));
                }
            }
        };
        if let Some(t) = stdin {
            let _ = t.join();
        }
        let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        if !status.success() {
            return Err(format!(
                "{} while decoding{}",
                describe_exit(status),
                stderr_tail(&stderr)
            ));
        }
        Ok(Output { stdout, stderr })
    }
}

impl BufrDecoder for ChildDecoder {
    fn decode(&self, bytes: &[u8], origin: &str) -> Result<ParsedEnsemble, FeedError> {
        ChildDecoder::decode(self, bytes, origin)
    }
}

struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

enum Waited {
    Done(std::io::Result<Vec<u8>>),
    TimedOut,
}

/// The stdout reader's result, or [`Waited::TimedOut`] at `deadline` (checked first, so a
/// zero timeout always times out).
fn wait_stdout(rx: &mpsc::Receiver<std::io::Result<Vec<u8>>>, deadline: Instant) -> Waited {
    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
        return Waited::TimedOut;
    };
    match rx.recv_timeout(left) {
        Ok(r) => Waited::Done(r),
        Err(mpsc::RecvTimeoutError::Timeout) => Waited::TimedOut,
        // No reader thread (no stdout pipe): nothing was written.
        Err(mpsc::RecvTimeoutError::Disconnected) => Waited::Done(Ok(Vec::new())),
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn timed_out(limit: Duration) -> String {
    format!(
        "did not finish within {:.1} s and was killed (a hang or a runaway decode)",
        limit.as_secs_f64()
    )
}

/// "killed by signal 11 (SIGSEGV)", "exited with status 1".
fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => match signal_name(sig) {
            Some(name) => format!("was killed by signal {sig} ({name})"),
            None => format!("was killed by signal {sig}"),
        },
        (None, None) => format!("ended abnormally ({status})"),
    }
}

/// Names of the signals a crashing or limited decoder dies of (Linux numbering on x86-64
/// and arm64, signal(7)); others are shown by number only.
fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        4 => "SIGILL",
        6 => "SIGABRT: ecCodes or the C library aborted, e.g. on a corrupt heap",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL: out of memory, or killed from outside",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        24 => "SIGXCPU: over its CPU-time limit",
        _ => return None,
    })
}

/// The last line ecCodes (or the child) wrote on stderr, as ": last message: ...".
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    match text.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => {
            let line: String = line.chars().take(300).collect();
            format!("; its last message: \"{line}\"")
        }
        None => String::new(),
    }
}

/// The child's side (`aviso decode-bufr`): limits itself, reads the whole of stdin (at most
/// [`super::DEFAULT_MAX_INPUT_BYTES`] + 1 bytes; more is refused), decodes in-process and
/// writes the JSON result on stdout. `Err` only when the child itself cannot work (a limit
/// not set, stdin or stdout failing): the parent then sees a non-zero exit and stderr.
pub fn child_main(cpu_s: u64, address_space_bytes: u64) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // Only ever lowered: a hard limit already below the wanted value is kept (raising it
    // would need privileges).
    let limit = |what: &str, resource: Resource, value: u64| {
        let value = getrlimit(resource)
            .maximum
            .map_or(value, |hard| hard.min(value));
        setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
        .map_err(|e| format!("cannot set the {what} limit to {value}: {e}"))
    };
    // No core file: a crash is expected here and reported by the parent.
    limit("core-file", Resource::Core, 0)?;
    limit("CPU-time (s)", Resource::Cpu, cpu_s)?;
    limit("address-space (bytes)", Resource::As, address_space_bytes)?;
    let origin = std::env::var(ORIGIN_ENV).unwrap_or_else(|_| "(standard input)".into());
    let max = super::DEFAULT_MAX_INPUT_BYTES;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading standard input: {e}"))?;
    if bytes.len() > max {
        return Err(format!(
            "{origin}: more than {max} bytes on standard input (the input cap)"
        ));
    }
    let result = ecmwf_bufr::parse(&bytes, &origin);
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &result).map_err(|e| format!("writing the result: {e}"))?;
    out.flush().map_err(|e| format!("writing the result: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_named_and_stderr_gives_its_last_line() {
        let segv = ExitStatus::from_raw(11);
        assert_eq!(
            describe_exit(segv),
            "was killed by signal 11 (SIGSEGV)".to_string()
        );
        let exit1 = ExitStatus::from_raw(1 << 8);
        assert_eq!(describe_exit(exit1), "exited with status 1".to_string());
        assert_eq!(
            stderr_tail(b"ECCODES ERROR : one\nECCODES ERROR : two\n\n"),
            "; its last message: \"ECCODES ERROR : two\"".to_string()
        );
        assert_eq!(stderr_tail(b""), String::new());
    }
}
