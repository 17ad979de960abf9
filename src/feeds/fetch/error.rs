//! What can go wrong fetching a URL: the error with the URL and the attempts made, its
//! label for metrics, whether another attempt may succeed, and advice for HTTP statuses.

use reqwest::StatusCode;

/// Everything that can go wrong fetching a URL. Messages name the URL with its secrets
/// removed ([`url_redacted`](super::url_redacted)) and how many attempts were made.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid HTTP settings: {reason}")]
    Config { reason: String },

    #[error("cannot build the HTTP client: {reason}")]
    Client { reason: String },

    #[error("{url}: invalid URL: expected an absolute http:// or https:// URL ({reason})")]
    InvalidUrl { url: String, reason: String },

    #[error(
        "{url}: timed out (connect limit {connect_s} s, whole-request limit {total_s} s) after {attempts} attempt(s)"
    )]
    Timeout {
        url: String,
        attempts: u32,
        connect_s: f64,
        total_s: f64,
    },

    #[error("{url}: cannot connect ({reason}) after {attempts} attempt(s)")]
    Connect {
        url: String,
        attempts: u32,
        reason: String,
    },

    #[error("{url}: connection failed before a response ({reason}) after {attempts} attempt(s)")]
    Network {
        url: String,
        attempts: u32,
        reason: String,
    },

    #[error("{url}: HTTP {status}, expected 2xx{hint}, after {attempts} attempt(s)")]
    Status {
        url: String,
        attempts: u32,
        status: u16,
        /// Extra advice for the status, or empty.
        hint: &'static str,
    },

    #[error(
        "{url}: response {what} {declared_or_read} bytes, over the {limit}-byte limit (http.max_bytes); \
         check the URL, or raise the limit if the file is genuine (after {attempts} attempt(s))"
    )]
    TooLarge {
        url: String,
        attempts: u32,
        limit: u64,
        declared_or_read: u64,
        /// "declares" (Content-Length, nothing read) or "reached" (while streaming).
        what: &'static str,
    },

    #[error(
        "{url}: body cut off: expected {}, got {got} bytes ({reason}) after {attempts} attempt(s)",
        expected.map_or_else(|| "more".to_string(), |n| format!("{n} bytes"))
    )]
    Truncated {
        url: String,
        attempts: u32,
        /// The Content-Length, when the response declared one (and was not gzip-decoded).
        expected: Option<u64>,
        got: u64,
        reason: String,
    },

    #[error("{url}: request failed ({reason}) after {attempts} attempt(s)")]
    Request {
        url: String,
        attempts: u32,
        reason: String,
    },
}

impl FetchError {
    /// A stable short label for metrics (e.g. a Prometheus `kind` label).
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Config { .. } => "config",
            FetchError::Client { .. } => "client",
            FetchError::InvalidUrl { .. } => "invalid_url",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Connect { .. } => "connect",
            FetchError::Network { .. } => "network",
            FetchError::Status { status, .. } => match status {
                429 => "http_429",
                400..=499 => "http_4xx",
                500..=599 => "http_5xx",
                _ => "http_other",
            },
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Truncated { .. } => "truncated",
            FetchError::Request { .. } => "request",
        }
    }

    /// Whether another attempt may succeed: timeouts, connection failures, cut-off bodies,
    /// 5xx and 429. Not: other 4xx (the request is wrong), TooLarge (it will not shrink),
    /// invalid URLs, settings or redirect loops.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Timeout { .. }
            | FetchError::Connect { .. }
            | FetchError::Network { .. }
            | FetchError::Truncated { .. } => true,
            FetchError::Status { status, .. } => *status == 429 || (500..=599).contains(status),
            FetchError::Config { .. }
            | FetchError::Client { .. }
            | FetchError::InvalidUrl { .. }
            | FetchError::TooLarge { .. }
            | FetchError::Request { .. } => false,
        }
    }

    /// How many requests were made (0 when none could be: bad URL or settings).
    pub fn attempts(&self) -> u32 {
        match self {
            FetchError::Config { .. }
            | FetchError::Client { .. }
            | FetchError::InvalidUrl { .. } => 0,
            FetchError::Timeout { attempts, .. }
            | FetchError::Connect { attempts, .. }
            | FetchError::Network { attempts, .. }
            | FetchError::Status { attempts, .. }
            | FetchError::TooLarge { attempts, .. }
            | FetchError::Truncated { attempts, .. }
            | FetchError::Request { attempts, .. } => *attempts,
        }
    }

    pub(super) fn set_attempts(&mut self, n: u32) {
        match self {
            FetchError::Config { .. }
            | FetchError::Client { .. }
            | FetchError::InvalidUrl { .. } => {}
            FetchError::Timeout { attempts, .. }
            | FetchError::Connect { attempts, .. }
            | FetchError::Network { attempts, .. }
            | FetchError::Status { attempts, .. }
            | FetchError::TooLarge { attempts, .. }
            | FetchError::Truncated { attempts, .. }
            | FetchError::Request { attempts, .. } => *attempts = n,
        }
    }
}

/// Advice that makes a status actionable, or "".
pub(super) fn status_hint(status: StatusCode, conditional: bool) -> &'static str {
    match status.as_u16() {
        304 if !conditional => " (304 Not Modified to an unconditional request: server bug)",
        401 | 403 => {
            " (access refused: check credentials or whether the provider blocks this User-Agent)"
        }
        404 | 410 => " (not found: the product may have moved or not be issued yet)",
        429 => " (rate limited: poll less often)",
        _ => "",
    }
}

/// An error and its sources, joined with ": ", e.g. "client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stable_labels_and_retryability_follows_the_status() {
        let status = |s| FetchError::Status {
            url: "u".into(),
            attempts: 1,
            status: s,
            hint: "",
        };
        assert_eq!(status(503).kind(), "http_5xx");
        assert_eq!(status(404).kind(), "http_4xx");
        assert_eq!(status(429).kind(), "http_429");
        assert!(status(503).is_retryable() && status(429).is_retryable());
        assert!(!status(404).is_retryable() && !status(400).is_retryable());
    }
}
