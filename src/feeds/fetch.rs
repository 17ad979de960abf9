//! HTTP(S) fetching for every feed: one reqwest client (rustls + ring), conditional GET
//! (ETag / Last-Modified), a response size cap enforced while streaming, and retries with
//! exponential backoff and full jitter. Hands raw bytes to the pure parsers beside it.
//!
//! This is the one module under `feeds` that does network I/O (ARCHITECTURE.md: "parse ...
//! apart from fetch"). It must not parse feed formats nor depend on the core (domain, hazard,
//! exposure, alerts); it knows URLs, headers and bytes only.
//!
//! Over 600 lines: about 800 of code plus unit tests. One job, one HTTP fetch with every
//! guard (size caps, gzip, redirects, conditional GET, retries with jitter, secrets
//! redacted from URLs); the error type and its hints (about 200 lines) could move to
//! `fetch/error.rs` in a later issue-16 move 5 split.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::Once;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, RETRY_AFTER,
};
use serde::{Deserialize, Serialize};

/// Installs rustls's `ring` crypto provider as the process default, once.
///
/// reqwest is built with `rustls-no-provider` (no aws-lc C build; one TLS stack with lettre
/// and sqlx, which use ring), so a provider must be installed before any client is built or
/// reqwest panics (../shared/STACK.md §2, pitfall 4). Idempotent and cheap: later calls do
/// nothing, and a provider installed earlier by someone else is left in place.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means a default provider is already installed: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// HTTP settings shared by every feed (`[http]` in config/default.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The User-Agent header. Default: "aviso/<version> (...)". Data providers (GDACS,
    /// Météo-France, ECMWF) ask automated clients to identify themselves so they can contact
    /// the operator instead of blocking an address: operators should append their own contact,
    /// e.g. `"aviso/0.1.0 (INGD early warning; ops@example.org)"`. Printable ASCII only.
    pub user_agent: String,
    /// Seconds allowed for the TCP connect and TLS handshake. Default 10 s: a healthy
    /// server answers in well under a second even over a slow VSAT link; past 10 s the
    /// address is down or filtered, and a retry does better than waiting on.
    pub connect_timeout_s: f64,
    /// Seconds allowed for the whole request, connect through the last body byte. Default
    /// 60 s: an RSMC product (100–200 kB) or the GDACS RSS (< 1 MB) takes a few seconds at
    /// 1 Mbit/s; 60 s still fits ~7 MB at that rate, and the product is 6-hourly, so a stuck
    /// transfer is better cut and retried than left to hold a run.
    pub timeout_s: f64,
    /// Extra attempts after the first (0 = no retry) on timeouts, connection errors, cut-off
    /// bodies, 5xx and 429. Default 3 (4 attempts): enough to ride out a restart or a short
    /// outage within one run; longer outages are the next scheduled run's job.
    pub retries: u32,
    /// Milliseconds: the backoff ceiling before the first retry; it doubles per retry up to
    /// `backoff_max_ms`, and the actual pause is drawn uniformly from 0 to that ceiling
    /// ("full jitter", M. Brooker, AWS Architecture Blog, "Exponential Backoff And Jitter",
    /// 2015) so many clients do not retry in lockstep. Default 2000 ms.
    pub backoff_initial_ms: u64,
    /// Milliseconds: the longest pause between attempts, also the cap on a server's
    /// Retry-After. Default 30 000 ms: with the defaults the worst case per fetch is
    /// 4 × 60 s + 3 × 30 s = 5.5 min, well inside a 6-hourly cycle; a server asking for a
    /// longer pause is better served by the next scheduled run.
    pub backoff_max_ms: u64,
    /// Bytes: the largest response body accepted (after gzip decoding). Default 20 MiB:
    /// ~100× the largest feed aviso reads (RSMC JSON 100–200 kB, GDACS RSS < 1 MB, an ATCF
    /// deck tens of kB); more is a wrong URL or a runaway download, refused before it fills
    /// memory. Stricter than the parsers' 64 MiB cap (`feeds::DEFAULT_MAX_INPUT_BYTES`), which
    /// also serves local files.
    pub max_bytes: u64,
    /// Query parameters whose values are secrets, shown as `REDACTED` wherever a feed URL
    /// is shown (the log, errors, `/readyz`, stored issuances): a parameter is hidden when
    /// its name, lower-cased and stripped of everything but letters and digits, contains
    /// one of these (stripped alike). So `key` hides `apikey`, `api_key` and `X-Api-Key`,
    /// `sig` hides `signature` and `X-Amz-Signature`, `code` hides an Azure Functions-style
    /// `?code=`. Over-matching (`postcode`) only hides a harmless value. Default:
    /// [`DEFAULT_SECRET_QUERY_PARAMS`].
    pub secret_query_params: Vec<String>,
}

/// The default of `[http] secret_query_params`.
pub const DEFAULT_SECRET_QUERY_PARAMS: [&str; 11] = [
    "code",
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "auth",
    "credential",
    "session",
];

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            user_agent: DEFAULT_USER_AGENT.to_string(),
            connect_timeout_s: 10.0,
            timeout_s: 60.0,
            retries: 3,
            backoff_initial_ms: 2_000,
            backoff_max_ms: 30_000,
            max_bytes: 20 * 1024 * 1024,
            secret_query_params: DEFAULT_SECRET_QUERY_PARAMS
                .iter()
                .map(|p| p.to_string())
                .collect(),
        }
    }
}

/// The default User-Agent: product token with version (RFC 9110 §10.1.5) and what aviso is.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "aviso/",
    env!("CARGO_PKG_VERSION"),
    " (tropical cyclone and flood early warning for INGD Mozambique)"
);

/// Upper bound on `retries`: 10 retries with the default backoff already span minutes.
const MAX_RETRIES: u32 = 10;
/// Upper bound on the timeouts, in seconds: one hour is longer than any feed needs.
const MAX_TIMEOUT_S: f64 = 3600.0;

impl HttpConfig {
    /// Checks ranges and consistency; the message names the key and what was expected.
    pub fn validate(&self) -> Result<(), String> {
        let ua = self.user_agent.trim();
        if ua.is_empty() {
            return Err("http.user_agent: expected a non-empty User-Agent, found \"\"".into());
        }
        if HeaderValue::from_str(&self.user_agent).is_err() || !self.user_agent.is_ascii() {
            return Err(format!(
                "http.user_agent: expected printable ASCII (an HTTP header value), found {:?}",
                self.user_agent
            ));
        }
        for (key, v) in [
            ("connect_timeout_s", self.connect_timeout_s),
            ("timeout_s", self.timeout_s),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= MAX_TIMEOUT_S) {
                return Err(format!(
                    "http.{key}: expected seconds in (0, {MAX_TIMEOUT_S}], found {v}"
                ));
            }
        }
        if self.connect_timeout_s > self.timeout_s {
            return Err(format!(
                "http.connect_timeout_s ({}) must not exceed http.timeout_s ({}): the whole-request \
                 limit includes the connect",
                self.connect_timeout_s, self.timeout_s
            ));
        }
        if self.retries > MAX_RETRIES {
            return Err(format!(
                "http.retries: expected at most {MAX_RETRIES} extra attempts, found {}",
                self.retries
            ));
        }
        if self.backoff_initial_ms > self.backoff_max_ms {
            return Err(format!(
                "http.backoff_initial_ms ({}) must not exceed http.backoff_max_ms ({})",
                self.backoff_initial_ms, self.backoff_max_ms
            ));
        }
        if self.backoff_max_ms > 3_600_000 {
            return Err(format!(
                "http.backoff_max_ms: expected at most 3600000 ms (one hour), found {}",
                self.backoff_max_ms
            ));
        }
        if self.max_bytes == 0 {
            return Err("http.max_bytes: expected a positive byte count, found 0".into());
        }
        if let Some(p) = self
            .secret_query_params
            .iter()
            .find(|p| normalised_param(p).is_empty())
        {
            return Err(format!(
                "http.secret_query_params: expected parameter names with at least one letter \
                 or digit, found {p:?}"
            ));
        }
        Ok(())
    }

    /// `url` as it may be shown: [`url_redacted_by`] with this configuration's
    /// `secret_query_params`.
    pub fn redact(&self, url: &str) -> String {
        url_redacted_by(url, &self.secret_query_params)
    }

    fn attempts_max(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

/// Cache validators of a previously fetched response, sent back as If-None-Match /
/// If-Modified-Since so an unchanged feed costs a 304 and no body (RFC 9110 §13.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The ETag header, verbatim (quotes and any W/ prefix included).
    pub etag: Option<String>,
    /// The Last-Modified header, verbatim (an HTTP-date).
    pub last_modified: Option<String>,
}

impl Validators {
    /// True when there is nothing to send (an unconditional GET).
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    fn from_headers(headers: &HeaderMap) -> Validators {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        Validators {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
        }
    }
}

/// What a successful fetch returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 304: the resource is unchanged since the validators were issued.
    NotModified { attempts: u32 },
    /// A 2xx response with its whole body (at most `max_bytes`, gzip already decoded).
    Body {
        bytes: Vec<u8>,
        /// The URL after redirects. It may carry secrets (a signed URL): log it through
        /// [`url_redacted`].
        final_url: String,
        status: u16,
        content_type: Option<String>,
        /// The validators of this response, to store and send next time.
        validators: Validators,
        attempts: u32,
    },
}

impl Fetched {
    /// How many requests it took (1 = first try).
    pub fn attempts(&self) -> u32 {
        match self {
            Fetched::NotModified { attempts } | Fetched::Body { attempts, .. } => *attempts,
        }
    }
}

/// Everything that can go wrong fetching a URL. Messages name the URL with its secrets
/// removed ([`url_redacted`]) and how many attempts were made.
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

    fn set_attempts(&mut self, n: u32) {
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

/// [`url_redacted_by`] with [`DEFAULT_SECRET_QUERY_PARAMS`]; where the configuration is at
/// hand, use [`HttpConfig::redact`] or [`Fetcher::redacted`] instead.
pub fn url_redacted(url: &str) -> String {
    url_redacted_by(url, &DEFAULT_SECRET_QUERY_PARAMS)
}

/// The URL as it may appear in logs, errors and metrics: userinfo (`user:pass@`) dropped, the
/// values of query parameters whose names contain one of `secret_params` (see
/// [`HttpConfig::secret_query_params`]) replaced by `REDACTED`, the fragment dropped. Works
/// on unparsable strings too (it is plain text surgery, so the rest of the URL stays
/// byte-for-byte as given). Secrets inside the path cannot be recognised: do not put them
/// there.
pub fn url_redacted_by<S: AsRef<str>>(url: &str, secret_params: &[S]) -> String {
    let url = url.trim();
    let no_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    let (base, query) = match no_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (no_fragment, None),
    };
    // Userinfo sits between "scheme://" and the first '@' before the path.
    let mut out = String::with_capacity(url.len());
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let _ = write!(out, "{scheme}://{host}{path}");
        }
        None => out.push_str(base),
    }
    if let Some(q) = query {
        out.push('?');
        for (i, pair) in q.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_name(name, secret_params) => {
                    let _ = write!(out, "{name}=REDACTED");
                }
                _ => out.push_str(pair),
            }
        }
    }
    out
}

/// Lower-cased, letters and digits only.
fn normalised_param(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn is_secret_name<S: AsRef<str>>(name: &str, secret_params: &[S]) -> bool {
    let norm = normalised_param(name);
    secret_params.iter().any(|p| {
        let p = normalised_param(p.as_ref());
        !p.is_empty() && norm.contains(&p)
    })
}

/// One HTTP client for every feed: cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    cfg: HttpConfig,
}

/// The outcome of one failed attempt: the error, and how long the server asked us to wait.
struct AttemptFailure {
    error: FetchError,
    retry_after: Option<Duration>,
}

impl From<FetchError> for AttemptFailure {
    fn from(error: FetchError) -> Self {
        AttemptFailure {
            error,
            retry_after: None,
        }
    }
}

impl Fetcher {
    /// Validates the settings, installs the crypto provider and builds the client.
    pub fn new(cfg: HttpConfig) -> Result<Fetcher, FetchError> {
        cfg.validate()
            .map_err(|reason| FetchError::Config { reason })?;
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(Duration::from_secs_f64(cfg.connect_timeout_s))
            .timeout(Duration::from_secs_f64(cfg.timeout_s))
            // Feeds are XML/JSON text: gzip cuts them 5-10x on slow links.
            .gzip(true)
            .build()
            .map_err(|e| FetchError::Client {
                reason: error_chain(&e.without_url()),
            })?;
        Ok(Fetcher { client, cfg })
    }

    /// `url` as it may be shown (the configured `secret_query_params` hidden).
    pub fn redacted(&self, url: &str) -> String {
        self.cfg.redact(url)
    }

    /// The settings this fetcher was built with.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// GETs `url` (http or https), conditionally when `validators` hold anything, retrying
    /// transient failures as [`HttpConfig`] says.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Result<Fetched, FetchError> {
        let redacted = self.cfg.redact(url);
        let parsed = reqwest::Url::parse(url.trim()).map_err(|e| FetchError::InvalidUrl {
            url: redacted.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl {
                url: redacted,
                reason: format!("scheme {:?} is not fetched over HTTP", parsed.scheme()),
            });
        }
        let max_attempts = self.cfg.attempts_max();
        let mut attempt: u32 = 1;
        loop {
            match self.attempt(&parsed, &redacted, validators, attempt).await {
                Ok(fetched) => return Ok(fetched),
                Err(AttemptFailure {
                    mut error,
                    retry_after,
                }) => {
                    error.set_attempts(attempt);
                    if attempt >= max_attempts || !error.is_retryable() {
                        return Err(error);
                    }
                    let pause = match retry_after {
                        Some(asked) => asked.min(Duration::from_millis(self.cfg.backoff_max_ms)),
                        None => self.backoff(attempt),
                    };
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The pause after failed attempt `n` (1-based): uniform in [0, min(max, initial · 2^(n-1))].
    fn backoff(&self, n: u32) -> Duration {
        let ceiling = self
            .cfg
            .backoff_initial_ms
            .saturating_mul(1u64 << n.saturating_sub(1).min(32))
            .min(self.cfg.backoff_max_ms);
        Duration::from_millis(jitter_ms(ceiling))
    }

    async fn attempt(
        &self,
        url: &reqwest::Url,
        redacted: &str,
        validators: &Validators,
        attempt: u32,
    ) -> Result<Fetched, AttemptFailure> {
        let mut req = self.client.get(url.clone());
        // A stored validator that is not a valid header value (corrupted store) is skipped:
        // an unconditional GET is always safe, only dearer.
        let etag = validators
            .etag
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok());
        let since = validators
            .last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok());
        let conditional = etag.is_some() || since.is_some();
        if let Some(v) = etag {
            req = req.header(IF_NONE_MATCH, v);
        }
        if let Some(v) = since {
            req = req.header(IF_MODIFIED_SINCE, v);
        }

        let mut resp = req.send().await.map_err(|e| self.send_error(e, redacted))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED && conditional {
            return Ok(Fetched::NotModified { attempts: attempt });
        }
        if !status.is_success() {
            let retry_after = match status {
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    retry_after_seconds(resp.headers())
                }
                _ => None,
            };
            return Err(AttemptFailure {
                error: FetchError::Status {
                    url: redacted.to_string(),
                    attempts: attempt,
                    status: status.as_u16(),
                    hint: status_hint(status, conditional),
                },
                retry_after,
            });
        }

        let limit = self.cfg.max_bytes;
        // `content_length` is the exact body size reqwest will hand over (None when it
        // decodes gzip); the header is what the server declared on the wire. Either one over
        // the cap fails before a byte of body is read.
        let body_len = resp.content_length();
        let declared = body_len.or_else(|| {
            resp.headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
        });
        if let Some(n) = declared.filter(|&n| n > limit) {
            return Err(FetchError::TooLarge {
                url: redacted.to_string(),
                attempts: attempt,
                limit,
                declared_or_read: n,
                what: "declares",
            }
            .into());
        }
        let final_url = resp.url().to_string();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let new_validators = Validators::from_headers(resp.headers());

        // Capacity from the declared size (already checked against the cap), else modest.
        let initial = body_len.unwrap_or(64 * 1024).min(limit);
        let mut bytes: Vec<u8> = Vec::with_capacity(usize::try_from(initial).unwrap_or(0));
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let total = bytes.len() as u64 + chunk.len() as u64;
                    if total > limit {
                        return Err(FetchError::TooLarge {
                            url: redacted.to_string(),
                            attempts: attempt,
                            limit,
                            declared_or_read: total,
                            what: "reached",
                        }
                        .into());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(self.timeout_error(redacted)),
                Err(e) => {
                    return Err(FetchError::Truncated {
                        url: redacted.to_string(),
                        attempts: attempt,
                        expected: body_len,
                        got: bytes.len() as u64,
                        reason: error_chain(&e.without_url()),
                    }
                    .into());
                }
            }
        }
        // hyper reports a short Content-Length body as an error; this catches any path
        // that ends cleanly but short.
        if let Some(n) = body_len.filter(|&n| (bytes.len() as u64) < n) {
            return Err(FetchError::Truncated {
                url: redacted.to_string(),
                attempts: attempt,
                expected: Some(n),
                got: bytes.len() as u64,
                reason: "the stream ended early".to_string(),
            }
            .into());
        }
        Ok(Fetched::Body {
            bytes,
            final_url,
            status: status.as_u16(),
            content_type,
            validators: new_validators,
            attempts: attempt,
        })
    }

    fn timeout_error(&self, redacted: &str) -> AttemptFailure {
        FetchError::Timeout {
            url: redacted.to_string(),
            attempts: 0,
            connect_s: self.cfg.connect_timeout_s,
            total_s: self.cfg.timeout_s,
        }
        .into()
    }

    /// Classifies an error from sending the request (before any response header).
    fn send_error(&self, e: reqwest::Error, redacted: &str) -> AttemptFailure {
        if e.is_timeout() {
            return self.timeout_error(redacted);
        }
        let url = redacted.to_string();
        let (connect, request) = (e.is_connect(), e.is_redirect() || e.is_builder());
        // `without_url`: reqwest's own message would print the URL with its secrets.
        let reason = error_chain(&e.without_url());
        let error = if connect {
            FetchError::Connect {
                url,
                attempts: 0,
                reason,
            }
        } else if request {
            FetchError::Request {
                url,
                attempts: 0,
                reason,
            }
        } else {
            // The connection opened but closed or reset before a response arrived.
            FetchError::Network {
                url,
                attempts: 0,
                reason,
            }
        };
        error.into()
    }
}

/// Advice that makes a status actionable, or "".
fn status_hint(status: StatusCode, conditional: bool) -> &'static str {
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

/// A numeric Retry-After (delay-seconds, RFC 9110 §10.2.3). The HTTP-date form is ignored:
/// the plain backoff is used instead.
fn retry_after_seconds(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A uniformly drawn number of milliseconds in [0, ceiling_ms].
///
/// No RNG crate: std's `RandomState` is seeded from the OS once per thread and each
/// `RandomState::new()` gets fresh SipHash keys (the seed is incremented per instance), so
/// hashing anything with a new one gives an unpredictable 64-bit value. That is plenty for
/// spreading retries (not for cryptography). The modulo bias is < ceiling / 2^64.
fn jitter_ms(ceiling_ms: u64) -> u64 {
    if ceiling_ms == 0 {
        return 0;
    }
    let r = RandomState::new().hash_one(ceiling_ms);
    r % (ceiling_ms + 1)
}

/// An error and its sources, joined with ": ", e.g. "client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
fn error_chain(e: &dyn std::error::Error) -> String {
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
    fn redaction_drops_userinfo_fragment_and_secret_query_values() {
        let u = "https://bob:hunter2@data.example.org:8443/path/x.json?apikey=abc123&basin=SWI&X-Amz-Signature=deadbeef&access_token=t0k#frag";
        let r = url_redacted(u);
        assert_eq!(
            r,
            "https://data.example.org:8443/path/x.json?apikey=REDACTED&basin=SWI&X-Amz-Signature=REDACTED&access_token=REDACTED"
        );
        for secret in ["bob", "hunter2", "abc123", "deadbeef", "t0k", "frag"] {
            assert!(!r.contains(secret), "{secret} leaked in {r}");
        }
    }

    #[test]
    fn redaction_leaves_plain_urls_alone_and_copes_with_garbage() {
        let plain = "https://www.gdacs.org/xml/rss.xml?profile=archive&eventid=1000643";
        assert_eq!(url_redacted(plain), plain);
        assert_eq!(
            url_redacted("not a url?token=x"),
            "not a url?token=REDACTED"
        );
        // An '@' in the path is not userinfo.
        assert_eq!(
            url_redacted("http://h.example/a@b/c"),
            "http://h.example/a@b/c"
        );
    }

    #[test]
    fn a_code_is_a_secret_by_default_and_the_list_is_the_configured_one() {
        let u = "https://fn.example.net/api/rsmc?code=Zx9secret&basin=SWI";
        assert_eq!(
            url_redacted(u),
            "https://fn.example.net/api/rsmc?code=REDACTED&basin=SWI"
        );
        let cfg = HttpConfig {
            secret_query_params: vec!["Station-Pass".into()],
            ..HttpConfig::default()
        };
        cfg.validate().unwrap();
        assert_eq!(
            cfg.redact("http://h.example/x?station_pass=1&code=2&stationpassword=3"),
            "http://h.example/x?station_pass=REDACTED&code=2&stationpassword=REDACTED"
        );
        let bad = HttpConfig {
            secret_query_params: vec!["key".into(), "--".into()],
            ..HttpConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("http.secret_query_params")
        );
    }

    #[test]
    fn defaults_are_valid_and_identify_aviso() {
        let cfg = HttpConfig::default();
        cfg.validate().unwrap();
        assert!(cfg.user_agent.starts_with("aviso/"));
        assert_eq!(cfg.max_bytes, 20 * 1024 * 1024);
    }

    #[test]
    fn validation_names_the_bad_key() {
        let bad = |f: fn(&mut HttpConfig)| {
            let mut c = HttpConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.timeout_s = 0.0).contains("http.timeout_s"));
        assert!(bad(|c| c.connect_timeout_s = f64::NAN).contains("http.connect_timeout_s"));
        assert!(bad(|c| c.connect_timeout_s = 100.0).contains("must not exceed http.timeout_s"));
        assert!(bad(|c| c.retries = 50).contains("http.retries"));
        assert!(bad(|c| c.backoff_initial_ms = 60_000).contains("http.backoff_initial_ms"));
        assert!(bad(|c| c.max_bytes = 0).contains("http.max_bytes"));
        assert!(bad(|c| c.user_agent = "aviso\n".into()).contains("http.user_agent"));
        assert!(bad(|c| c.user_agent = "  ".into()).contains("http.user_agent"));
    }

    #[test]
    fn config_rejects_unknown_keys_and_fills_missing_ones() {
        let cfg: HttpConfig = toml::from_str("timeout_s = 5\nretries = 1").unwrap();
        assert_eq!(cfg.timeout_s, 5.0);
        assert_eq!(cfg.retries, 1);
        assert_eq!(cfg.max_bytes, HttpConfig::default().max_bytes);
        let err = toml::from_str::<HttpConfig>("timeout = 5").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn backoff_stays_under_its_doubling_ceiling_and_varies() {
        let f = Fetcher::new(HttpConfig {
            backoff_initial_ms: 100,
            backoff_max_ms: 350,
            ..HttpConfig::default()
        })
        .unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let d1 = f.backoff(1).as_millis();
            let d2 = f.backoff(2).as_millis();
            let d5 = f.backoff(5).as_millis();
            assert!(d1 <= 100 && d2 <= 200 && d5 <= 350, "{d1} {d2} {d5}");
            seen.insert(d5);
        }
        // 200 draws from 351 values: a constant "jitter" would give one.
        assert!(seen.len() > 50, "only {} distinct pauses", seen.len());
    }

    #[test]
    fn jitter_of_zero_is_zero() {
        assert_eq!(jitter_ms(0), 0);
    }

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

    #[test]
    fn numeric_retry_after_is_read_and_dates_are_ignored() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after_seconds(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_seconds(&h), None);
    }
}
