//! `[http]`: the HTTP settings every feed shares, their defaults with the reason for each,
//! and the checks `aviso check-config` runs on them.

use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};

use super::redact::{normalised_param, url_redacted_by};

/// HTTP settings shared by every feed (`[http]` in config/default.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The User-Agent header. Default: `"aviso/<version> (...)"`. Data providers (GDACS,
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

    pub(super) fn attempts_max(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::feeds::fetch::url_redacted;
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
}
