//! `[store]`: which database keeps the service's state. Without `url`, the embedded SQLite
//! file in `service.data_dir` (one machine); with `url = "postgres://user@host:port/db"`, a
//! PostgreSQL server several replicas can share (issue 15). The password never sits in the
//! file: it comes from `AVISO_STORE_PASSWORD`, else libpq's own `PGPASSWORD`.
//!
//! Parsed strictly (unknown keys are errors) and checked once by [`StoreConfig::validate`];
//! must not depend on the pipeline or the API.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Environment variables the password is read from, in this order.
pub const PASSWORD_ENV: [&str; 2] = ["AVISO_STORE_PASSWORD", "PGPASSWORD"];

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user@host:port/database[?sslmode=disable|prefer|require]`; absent: the
    /// embedded SQLite store in `service.data_dir`.
    pub url: Option<String>,
    /// Connections the service keeps open to PostgreSQL (the pipeline's writes, the API's
    /// reads and the probabilistic step share them).
    pub pool_size: usize,
    /// Seconds to wait for a connection (TCP, TLS, authentication) before the call fails
    /// and names the server.
    pub connect_timeout_s: u64,
    /// Megabytes of alert documents and CAP each replica keeps in memory to serve them
    /// again without reading them from PostgreSQL (0: none). Unused by SQLite.
    pub document_cache_mb: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            pool_size: 8,
            connect_timeout_s: 10,
            document_cache_mb: 64,
        }
    }
}

impl StoreConfig {
    /// The PostgreSQL URL when one is configured.
    pub fn postgres_url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Checks the section: a `postgres://` URL that names a host and a database and
    /// carries no password, a pool of 1 to 100 connections, a timeout of 1 to 300 s, a
    /// document cache of at most 4096 MB.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.pool_size) {
            return Err(format!(
                "store.pool_size = {}: between 1 and 100 connections",
                self.pool_size
            ));
        }
        if !(1..=300).contains(&self.connect_timeout_s) {
            return Err(format!(
                "store.connect_timeout_s = {}: between 1 and 300 seconds",
                self.connect_timeout_s
            ));
        }
        if self.document_cache_mb > 4096 {
            return Err(format!(
                "store.document_cache_mb = {}: between 0 and 4096 megabytes",
                self.document_cache_mb
            ));
        }
        let Some(url) = &self.url else {
            return Ok(());
        };
        check_url(url).map_err(|m| format!("store.url {:?}: {m}", redact(url)))
    }
}

/// What is wrong with a store URL, if anything.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "scheme {:?}: expected postgres:// (leave store.url out for the embedded SQLite store)",
            parsed.scheme()
        ));
    }
    if parsed.password().is_some() {
        return Err(format!(
            "holds a password: remove it from the file and set it in the environment ({})",
            PASSWORD_ENV.join(" or ")
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("names no host".into());
    }
    if parsed.path().trim_start_matches('/').is_empty() {
        return Err("names no database (postgres://user@host:port/DATABASE)".into());
    }
    if parsed
        .query_pairs()
        .any(|(k, _)| k == "password" || k == "passfile")
    {
        return Err(format!(
            "holds a password parameter: set it in the environment ({})",
            PASSWORD_ENV.join(" or ")
        ));
    }
    tokio_postgres::Config::from_str(url).map_err(|e| e.to_string())?;
    Ok(())
}

/// `url` with any password replaced by `***`, for errors and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" { "***".into() } else { v };
                    (k.into_owned(), v.into_owned())
                })
                .collect();
            if pairs.iter().any(|(k, _)| k == "password") {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        // Not a URL: show no part of it that could be a secret.
        Err(_) => "(unparseable store URL)".into(),
    }
}
