//! Persistence of the accommodation-centre and site registers (issue 14), behind the
//! [`RegisterStore`] port: the register in force, every register accepted before it, and
//! the occupancy updates with their dates. Kept apart from [`super::Store`] (alerts) and
//! the notify stores, as those are from each other. The SQLite store implements it in
//! `sqlite/registers.rs`, the PostgreSQL store in `postgres/registers.rs` (replicas on one
//! database share the register in force).
//!
//! The store keeps what it is given: validation is the core's
//! (`crate::plan::register::RegisterBook`), done before anything is saved, so a refused
//! register never reaches the store and the one in force stays. An adapter at the edge:
//! must not depend on the pipeline or the API.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::Register;

/// What made a revision: a whole register imported, or occupancy figures added to the
/// register in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisionKind {
    Register,
    Occupancy,
}

impl RevisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionKind::Register => "register",
            RevisionKind::Occupancy => "occupancy",
        }
    }
}

/// One revision of the register, without its entries (the history's line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionInfo {
    /// Increasing with each accepted register or occupancy update.
    pub revision: i64,
    pub kind: RevisionKind,
    /// The file or upload it came from, as named in its issues ("upload sites.csv").
    pub source: String,
    /// The admin token's name (API) or the operator's `--by` (CLI).
    pub imported_by: String,
    pub imported_at: DateTime<Utc>,
    pub entries: usize,
}

/// The register in force with the revision that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRegister {
    pub info: RevisionInfo,
    pub register: Register,
}

/// One occupancy figure as it was sent (for the history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OccupancyFigure {
    pub code: String,
    pub date: NaiveDate,
    pub individuals: Option<f64>,
    pub households: Option<f64>,
    /// "file.csv row 7".
    pub source: String,
}

/// Who saves a revision, when, from what.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    pub source: String,
    pub imported_by: String,
    pub at: DateTime<Utc>,
}

/// The registers' persistence. Implementations must be safe to call from several threads.
pub trait RegisterStore: Send + Sync {
    /// Saves an accepted register as the new register in force; returns its revision.
    fn save_register(&self, register: &Register, from: &Provenance) -> Result<i64, StoreError>;

    /// Saves the register in force after an occupancy update (`register`: the revision
    /// `base` with `figures` added) and the figures themselves, atomically, only if `base`
    /// is still the register in force: `Ok(None)` when another import or update came in
    /// between (the caller validates again on the new one), else the new revision.
    fn save_occupancy(
        &self,
        base: i64,
        register: &Register,
        figures: &[OccupancyFigure],
        from: &Provenance,
    ) -> Result<Option<i64>, StoreError>;

    /// The register in force (the newest revision), if one was ever saved.
    fn current_register(&self) -> Result<Option<StoredRegister>, StoreError>;

    /// Every revision, newest first, without entries.
    fn register_history(&self) -> Result<Vec<RevisionInfo>, StoreError>;

    /// The revision in force without its entries (a cheap check of whether it changed).
    fn current_revision(&self) -> Result<Option<RevisionInfo>, StoreError>;
}
