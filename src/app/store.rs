//! Which store the service opens: PostgreSQL when `[store] url` is set, else the embedded
//! SQLite file in `service.data_dir` (which alone holds subscribers, the outbox and the
//! registers today).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::store::Store;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;

/// The service's store, and the SQLite store again when it is that one (it also holds
/// subscribers and the outbox).
pub(super) type Stores = (Arc<dyn Store>, Option<Arc<SqliteStore>>);

/// The store `[store]` names: PostgreSQL when `url` is set (no subscribers' half yet:
/// `None` beside it), else the embedded SQLite file in `service.data_dir`, which holds
/// subscribers and the outbox too.
pub(super) fn open_store(cfg: &Config) -> Result<Stores> {
    if let Some(url) = cfg.store.postgres_url() {
        let pg = PgStore::open(&cfg.store).with_context(|| {
            format!(
                "opening the PostgreSQL store {} ([store] url)",
                crate::store::config::redact(url)
            )
        })?;
        tracing::info!(store = %pg.url(), "store: PostgreSQL");
        return Ok((Arc::new(pg), None));
    }
    let data_dir = PathBuf::from(&cfg.service.data_dir);
    let sqlite = Arc::new(
        SqliteStore::open_dir(&data_dir)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    Ok((sqlite.clone(), Some(sqlite)))
}
