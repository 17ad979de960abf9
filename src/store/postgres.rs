//! The PostgreSQL `Store`: the state several aviso replicas share (issue 15), chosen by
//! `[store] url`. Same trait, same guarantees and the same schema in spirit as the
//! embedded [`super::sqlite::SqliteStore`]: numbered migrations applied once
//! ([`migrations::PG_MIGRATIONS`], their own sequence), UNIQUE(feed, sha256) so that ingest
//! is idempotent across replicas, one transaction per issuance.
//!
//! Driver: rust-postgres (`tokio-postgres` 0.7) with `deadpool-postgres`'s pool, TLS
//! through `tokio-postgres-rustls` on rustls + ring with the platform verifier (the
//! system's trust store), as reqwest and lettre already do here: one TLS stack, no OpenSSL.
//! Not sqlx: sqlx 0.9 needs Rust 1.94 (aviso's rust-version is 1.85), and sqlx 0.8 would
//! bring its own TLS roots and runtime glue for the same job; we need no query macros.
//!
//! The `Store` trait is synchronous (the pipeline and the API call it from blocking
//! threads). The store owns a small tokio runtime where the pool and its connections
//! live; each call runs there and the caller's thread waits for the answer on a channel.
//! That works from any thread, a `spawn_blocking` thread, a plain test, or (blocking it,
//! as SQLite would) an async task, where a nested `block_on` would panic.
//!
//! Must not depend on the pipeline or the API.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;

use super::StoredIssuance;
use super::config::{PASSWORD_ENV, StoreConfig, redact};
use super::{AlertSummary, FeedHealth, FeedState, IssuanceState, RawIssuance, StoreError};

mod alerts;
mod approval;
mod cache;
mod erasure;
mod holds;
mod issuances;
mod migrations;
mod notify;
mod ops;
mod outbox;
mod overrides;
mod registers;
mod store;
mod subscribers;

pub use migrations::PG_MIGRATIONS;
pub use ops::CopyIn;

/// What the calls share: the pool and the URL to name in errors.
struct Inner {
    /// The configured URL, password redacted.
    url: String,
    /// The configured URL as given (it never holds a password: `StoreConfig::validate`),
    /// for pg_dump and pg_restore.
    conninfo: String,
    /// The password from the environment, for pg_dump and pg_restore.
    password: Option<String>,
    pool: Pool,
    /// The documents and CAP this replica served ([`cache::DocumentCache`]).
    documents: cache::DocumentCache,
}

pub struct PgStore {
    inner: Arc<Inner>,
    /// Where the pool's connections run; `None` only while dropping.
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside async code (the service
        // drops its store there): let its threads end on their own.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PgStore {
    /// Connects to `[store] url` (password from [`PASSWORD_ENV`]) and migrates the schema.
    pub fn open(cfg: &StoreConfig) -> Result<PgStore, StoreError> {
        Self::open_with_password(cfg, Self::env_password().as_deref())
    }

    /// [`PgStore::open`] with the password given rather than read from the environment.
    pub fn open_with_password(
        cfg: &StoreConfig,
        password: Option<&str>,
    ) -> Result<PgStore, StoreError> {
        let store = Self::connect(cfg, password)?;
        super::Store::migrate(&store)?;
        Ok(store)
    }

    /// The password [`PgStore::open`] uses: the first of [`PASSWORD_ENV`] that is set.
    pub fn env_password() -> Option<String> {
        PASSWORD_ENV
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// A store on `[store] url` whose schema is left as it is (not migrated): what a
    /// restore into an empty database needs.
    pub fn connect(cfg: &StoreConfig, password: Option<&str>) -> Result<PgStore, StoreError> {
        let raw = cfg.url.as_deref().unwrap_or_default();
        let url = redact(raw);
        let unavailable = |message: String| StoreError::Unavailable {
            url: url.clone(),
            message,
        };
        cfg.validate().map_err(&unavailable)?;
        let mut pg = tokio_postgres::Config::from_str(raw)
            .map_err(|e| unavailable(format!("the URL: {e}")))?;
        if let Some(p) = password {
            pg.password(p);
        }
        pg.application_name("aviso");
        // A replica whose host vanishes (no FIN) must lose its feed leases in bounded
        // time: the server probes an idle session after 10 s, every 5 s, 3 times (about
        // 25 s). Session settings, so no server configuration is needed (PostgreSQL docs,
        // "Connection Settings": tcp_keepalives_idle/interval/count).
        pg.options(
            "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
        );
        pg.connect_timeout(Duration::from_secs(cfg.connect_timeout_s));
        let tls = tls_connector().map_err(|e| unavailable(format!("TLS set-up: {e}")))?;
        let manager = Manager::from_config(
            pg,
            tls,
            ManagerConfig {
                // A connection that broke (the server restarted) is found at its next
                // use and replaced; `Verified` would add a round trip to every call.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let wait = Duration::from_secs(cfg.connect_timeout_s);
        let pool = Pool::builder(manager)
            .max_size(cfg.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(wait))
            .create_timeout(Some(wait))
            .build()
            .map_err(|e| unavailable(format!("the connection pool: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aviso-postgres")
            .enable_all()
            .build()
            .map_err(|e| unavailable(format!("starting its runtime: {e}")))?;
        Ok(PgStore {
            inner: Arc::new(Inner {
                url,
                conninfo: raw.to_string(),
                password: password.map(str::to_string),
                pool,
                documents: cache::DocumentCache::new(cfg.document_cache_mb.saturating_mul(1 << 20)),
            }),
            rt: Some(rt),
        })
    }

    /// The configured URL, password redacted.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The store's runtime, to spawn on without waiting.
    fn handle(&self) -> Result<tokio::runtime::Handle, StoreError> {
        self.rt
            .as_ref()
            .map(|rt| rt.handle().clone())
            .ok_or_else(|| StoreError::Unavailable {
                url: self.inner.url.clone(),
                message: "the store's runtime has stopped".into(),
            })
    }

    /// Runs `f` on the store's runtime and waits for its answer.
    fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let gone = || StoreError::Unavailable {
            url: self.inner.url.clone(),
            message: "the store's runtime has stopped".into(),
        };
        let rt = self.rt.as_ref().ok_or_else(gone)?;
        let fut = f(Arc::clone(&self.inner));
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| gone())?
    }
}

/// rustls with ring and the platform verifier: the server's certificate is checked
/// against the system's trust store and its host name, so `sslmode=require` verifies
/// fully (tokio-postgres has no `verify-full` of its own; the verifier always does it).
fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, rustls::Error> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_platform_verifier()?
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl Inner {
    fn err(&self, e: tokio_postgres::Error) -> StoreError {
        // tokio-postgres' own message is terse ("db error"): say what the server said.
        let message = match e.as_db_error() {
            Some(db) => {
                let mut m = format!("{} ({})", db.message(), db.code().code());
                if let Some(d) = db.detail() {
                    m.push_str(": ");
                    m.push_str(d);
                }
                m
            }
            None => {
                let mut m = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    m.push_str(": ");
                    m.push_str(&s.to_string());
                    src = s.source();
                }
                m
            }
        };
        StoreError::Postgres {
            url: self.url.clone(),
            message,
        }
    }

    fn corrupt(&self, what: &str, message: impl ToString) -> StoreError {
        StoreError::Corrupt {
            path: self.url.clone(),
            what: what.to_string(),
            message: message.to_string(),
        }
    }

    /// A connection from the pool.
    async fn conn(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unavailable {
            url: self.url.clone(),
            message: format!("no connection: {e}"),
        })
    }

    fn summary_of(&self, id: &str, json: &str) -> Result<AlertSummary, StoreError> {
        serde_json::from_str(json).map_err(|e| self.corrupt(&format!("alerts {id}"), e))
    }

    fn read_issuance(&self, r: &Row) -> Result<StoredIssuance, StoreError> {
        let state: String = r.try_get(9).map_err(|e| self.err(e))?;
        Ok(StoredIssuance {
            id: r.try_get(0).map_err(|e| self.err(e))?,
            raw: RawIssuance {
                feed: r.try_get(1).map_err(|e| self.err(e))?,
                url: r.try_get(2).map_err(|e| self.err(e))?,
                fetched_at: r.try_get(3).map_err(|e| self.err(e))?,
                sha256: r.try_get(4).map_err(|e| self.err(e))?,
                content_type: r.try_get(5).map_err(|e| self.err(e))?,
                bytes: r.try_get(6).map_err(|e| self.err(e))?,
                etag: r.try_get(7).map_err(|e| self.err(e))?,
                last_modified: r.try_get(8).map_err(|e| self.err(e))?,
            },
            state: state_of(&state),
            error: r.try_get(10).map_err(|e| self.err(e))?,
        })
    }

    fn read_health(&self, r: &Row) -> Result<FeedHealth, StoreError> {
        let state: String = r.try_get(1).map_err(|e| self.err(e))?;
        let failures: i64 = r.try_get(7).map_err(|e| self.err(e))?;
        Ok(FeedHealth {
            feed: r.try_get(0).map_err(|e| self.err(e))?,
            state: feed_state(&state),
            last_attempt: r.try_get(2).map_err(|e| self.err(e))?,
            last_success: r.try_get(3).map_err(|e| self.err(e))?,
            last_new_issuance: r.try_get(4).map_err(|e| self.err(e))?,
            last_error: r.try_get(5).map_err(|e| self.err(e))?,
            last_error_kind: r.try_get(6).map_err(|e| self.err(e))?,
            consecutive_failures: u32::try_from(failures).unwrap_or(u32::MAX),
            etag: r.try_get(8).map_err(|e| self.err(e))?,
            last_modified: r.try_get(9).map_err(|e| self.err(e))?,
        })
    }
}

const ISSUANCE_COLUMNS: &str = "id, feed, url, fetched_at, sha256, content_type, bytes, etag, \
                                last_modified, state, error";

const HEALTH_COLUMNS: &str = "name, state, last_attempt, last_success, last_new_issuance, \
                              last_error, last_error_kind, consecutive_failures, etag, last_modified";

fn state_of(s: &str) -> IssuanceState {
    match s {
        "processed" => IssuanceState::Processed,
        "failed" => IssuanceState::Failed,
        _ => IssuanceState::Pending,
    }
}

fn feed_state(s: &str) -> FeedState {
    match s {
        "ok" => FeedState::Ok,
        "degraded" => FeedState::Degraded,
        _ => FeedState::Unknown,
    }
}

/// The hazard as the `events` table spells it (as SQLite's does).
fn hazard_str(h: super::HazardKind) -> &'static str {
    match h {
        super::HazardKind::TropicalCyclone => "tropical_cyclone",
        super::HazardKind::Flood => "flood",
    }
}
