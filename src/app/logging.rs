//! The log: one `tracing` subscriber, set up here once per process, writing the events of
//! the service (pipeline, feeds, notify, API, store) to stderr. Text by default, one JSON
//! object per line on request (`[log] format = "json"` or `AVISO_LOG_FORMAT=json`); the
//! level from `AVISO_LOG`, else `RUST_LOG` (an env-filter: `info`, `warn`, `aviso=debug`),
//! default `info`.
//!
//! Levels by what the operator must do (as vector does): ERROR someone must act, an alert
//! may be late or lost; WARN degraded but handled (a feed failed and will be retried, a bad
//! row skipped); INFO the normal milestones (issuance stored, version published, messages
//! delivered); DEBUG details. No event carries a phone number, an e-mail address, a token,
//! a webhook URL or a message's text: subscribers appear by id, numbers masked.
//!
//! A CLI command's own report (its result, the warnings about its input files, the final
//! `aviso: error: …`) is not log: it stays on the terminal, as before, where the person
//! who ran the command reads it.

use anyhow::{Context, Result, bail};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The level filter's variable, read before `RUST_LOG`.
pub const LEVEL_ENV: &str = "AVISO_LOG";
/// The format's variable: `text` or `json`; it wins over `[log] format`.
pub const FORMAT_ENV: &str = "AVISO_LOG_FORMAT";
/// The filter when neither variable is set: milestones and above, of every crate.
const DEFAULT_FILTER: &str = "info";

/// Installs the subscriber: `configured` is the config file's `[log] format`, which
/// `AVISO_LOG_FORMAT` overrides. A bad variable is an error naming it (the service does
/// not start with a log it was not asked for). A second call in one process keeps the
/// first subscriber.
pub fn init(configured: LogFormat) -> Result<()> {
    let format = format_from(std::env::var(FORMAT_ENV).ok().as_deref(), configured)?;
    let filter = filter_from(
        std::env::var(LEVEL_ENV).ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    )?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set: the first one stays.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        // Fields beside `message` at the top level (flatten), as log shippers expect; no
        // span lists: aviso opens no spans.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}

/// The format: the variable's value when set (`text` or `json`, any case), else the
/// configured one.
pub fn format_from(var: Option<&str>, configured: LogFormat) -> Result<LogFormat> {
    match var.map(str::trim) {
        None | Some("") => Ok(configured),
        Some(v) if v.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
        Some(v) if v.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
        Some(v) => bail!("{FORMAT_ENV}={v:?}: expected \"text\" or \"json\""),
    }
}

/// The level filter: `AVISO_LOG`, else `RUST_LOG`, else `info`.
pub fn filter_from(aviso_log: Option<&str>, rust_log: Option<&str>) -> Result<EnvFilter> {
    let (name, directives) = match (aviso_log, rust_log) {
        (Some(v), _) if !v.trim().is_empty() => (LEVEL_ENV, v),
        (_, Some(v)) if !v.trim().is_empty() => ("RUST_LOG", v),
        _ => return Ok(EnvFilter::new(DEFAULT_FILTER)),
    };
    EnvFilter::try_new(directives).with_context(|| {
        format!("{name}={directives:?}: expected a level (error, warn, info, debug, trace) or directives like \"aviso=debug,info\"")
    })
}
