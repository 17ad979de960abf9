//! HTTP(S) fetching for every feed: one reqwest client (rustls + ring), conditional GET
//! (ETag / Last-Modified), a response size cap enforced while streaming, and retries with
//! exponential backoff and full jitter. Hands raw bytes to the pure parsers beside it.
//!
//! This is the one module under `feeds` that does network I/O (ARCHITECTURE.md: "parse ...
//! apart from fetch"). It must not parse feed formats nor depend on the core (domain, hazard,
//! exposure, alerts); it knows URLs, headers and bytes only.
//!
//! Split along its jobs: `config` (`[http]` and its checks), `error` (what can go wrong,
//! and advice), `redact` (URLs as they may be shown); this file is the fetch itself.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Once;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, RETRY_AFTER,
};
use serde::{Deserialize, Serialize};

mod config;
mod error;
mod redact;

pub use config::{DEFAULT_SECRET_QUERY_PARAMS, DEFAULT_USER_AGENT, HttpConfig};
pub use error::FetchError;
use error::{error_chain, status_hint};
pub use redact::{url_redacted, url_redacted_by};

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
