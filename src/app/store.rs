//! Which store the service opens: PostgreSQL when `[store] url` is set, else the embedded
//! SQLite file in `service.data_dir`. Both hold subscribers, the outbox, proposals, the
//! audit trail and the accommodation-centre registers (replicas on one PostgreSQL database
//! share them).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::store::Store;
use crate::store::approval::ApprovalStore;
use crate::store::notify::NotifyStore;
use crate::store::postgres::PgStore;
use crate::store::registers::RegisterStore;
use crate::store::sqlite::SqliteStore;

/// The service's store: its [`Store`] half, its subscribers and outbox, its proposals and
/// audit trail (the same database, so a version, its messages and its audit row commit
/// together), and its registers.
pub(super) struct Stores {
    pub store: Arc<dyn Store>,
    pub notify: Arc<dyn NotifyStore>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub registers: Arc<dyn RegisterStore>,
}

/// The store `[store]` names: PostgreSQL when `url` is set, else the embedded SQLite file
/// in `service.data_dir`.
pub(super) fn open_store(cfg: &Config) -> Result<Stores> {
    if let Some(url) = cfg.store.postgres_url() {
        let pg = Arc::new(PgStore::open(&cfg.store).with_context(|| {
            format!(
                "opening the PostgreSQL store {} ([store] url)",
                crate::store::config::redact(url)
            )
        })?);
        tracing::info!(store = %pg.url(), "store: PostgreSQL");
        return Ok(Stores {
            store: pg.clone(),
            notify: pg.clone(),
            approvals: pg.clone(),
            registers: pg,
        });
    }
    let data_dir = PathBuf::from(&cfg.service.data_dir);
    let sqlite = Arc::new(
        SqliteStore::open_dir(&data_dir)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    Ok(Stores {
        store: sqlite.clone(),
        notify: sqlite.clone(),
        approvals: sqlite.clone(),
        registers: sqlite,
    })
}
