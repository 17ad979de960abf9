//! What `aviso store backup|restore|migrate` move and check (issue 15 item 4): the list of
//! the store's tables in copy order, and the integrity report of a store (schema version,
//! rows and a content digest per table) that both backends compute the same way, so a
//! SQLite store and its PostgreSQL copy can be compared table by table.
//!
//! The digest is backend-neutral: every value is reduced to the form the SQLite store
//! keeps it in (times as the fixed-width RFC 3339 text with micro-seconds and `Z` that
//! `sqlite::ts` writes, flags as 0/1 integers, bodies as bytes), columns are taken by name
//! in sorted order, and the rows' encodings are sorted before hashing, so neither the
//! column order of a table nor the collation of its keys changes the digest. Each row is
//! hashed on its own and only its 32-byte digest kept, so a check needs little memory.
//!
//! Must not depend on the pipeline or the API.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One table of the store as the copy between backends sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// Whether the PostgreSQL store holds this table today (`PG_MIGRATIONS`). A SQLite
    /// store with rows in a table that PostgreSQL cannot hold yet is not migrated.
    pub postgres: bool,
}

const fn t(name: &'static str, postgres: bool) -> Table {
    Table { name, postgres }
}

/// Every table of the store, parents before the tables that refer to them (the order of
/// the copy: foreign keys hold at every insert, except `proposals.superseded_by`, which
/// points at a newer row and is checked at commit on PostgreSQL). Adding a table is one
/// line here; when the PostgreSQL store gains one, its `postgres` flag turns true. A
/// SQLite table missing from this list is never copied silently: `migrate` refuses while
/// it holds rows.
pub const TABLES: &[Table] = &[
    t("feeds", true),
    t("fetch_counts", true),
    t("issuances", true),
    t("assessments", true),
    t("events", true),
    t("alerts", true),
    t("alert_annexes", true),
    t("runs", true),
    // SQLite migrations 2 to 5: subscribers and the notification outbox (PostgreSQL
    // migration 3, the same columns; every time in them is written by `sqlite::ts`, so it
    // comes back from a timestamptz column as the same text and the digests agree).
    t("subscribers", true),
    t("subscriber_phones", true),
    t("sms_optouts", true),
    t("sms_optout_digests", true),
    t("erasures", true),
    t("outbox", true),
    t("outbox_attempts", true),
    // SQLite migration 7: accommodation-centre registers (issue 14); PostgreSQL migration
    // 6, the same columns.
    t("registers", true),
    t("occupancy_updates", true),
    // SQLite migration 8: proposals waiting for an approver, and the append-only audit
    // trail (issue 13); PostgreSQL migration 4, the same columns.
    t("proposals", true),
    t("audit_log", true),
    // SQLite migration 9 / PostgreSQL migration 5: manual overrides (issue 13).
    t("overrides", true),
    // SQLite migration 10 / PostgreSQL migration 7: notification holds (issue 13).
    t("notification_holds", true),
];

/// Tables each backend keeps for itself and never copies: its own migration record.
pub const NOT_COPIED: &[&str] = &["schema_migrations"];

/// The entry of [`TABLES`] named `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// A value as the digest sees it (SQLite's storage classes; see the module comment).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    fn encode(&self, out: &mut Vec<u8>) {
        let (tag, body): (u8, Vec<u8>) = match self {
            Value::Null => (0, Vec::new()),
            Value::Int(i) => (1, i.to_le_bytes().to_vec()),
            Value::Real(f) => (2, f.to_bits().to_le_bytes().to_vec()),
            Value::Text(s) => (3, s.as_bytes().to_vec()),
            Value::Bytes(b) => (4, b.clone()),
        };
        out.push(tag);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
    }
}

/// Rows and digest of one table, accumulated row by row.
#[derive(Debug, Default)]
pub struct TableDigest {
    /// Column names, sorted: the order values are given in.
    columns: Vec<String>,
    /// Each row's SHA-256.
    rows: Vec<[u8; 32]>,
}

impl TableDigest {
    /// A digest over `columns` (any order; they are sorted).
    pub fn new(columns: &[String]) -> TableDigest {
        let mut columns = columns.to_vec();
        columns.sort();
        TableDigest {
            columns,
            rows: Vec::new(),
        }
    }

    /// The columns in the order [`TableDigest::push`] wants their values.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Adds one row, its values in [`TableDigest::columns`] order. Only the row's own
    /// SHA-256 is kept (32 bytes a row, whatever its size: issuances hold whole feed
    /// bodies).
    pub fn push(&mut self, values: &[Value]) {
        let mut row = Vec::new();
        for (c, v) in self.columns.iter().zip(values) {
            row.extend_from_slice(&(c.len() as u64).to_le_bytes());
            row.extend_from_slice(c.as_bytes());
            v.encode(&mut row);
        }
        self.rows.push(Sha256::digest(&row).into());
    }

    /// The table's line: its rows, and the SHA-256 of its column names followed by its
    /// rows' digests in sorted order.
    pub fn finish(mut self, name: &str) -> TableCheck {
        self.rows.sort_unstable();
        let mut h = Sha256::new();
        for c in &self.columns {
            h.update((c.len() as u64).to_le_bytes());
            h.update(c.as_bytes());
        }
        for r in &self.rows {
            h.update(r);
        }
        TableCheck {
            table: name.to_string(),
            rows: self.rows.len() as u64,
            sha256: hex::encode(h.finalize()),
        }
    }
}

/// One table's line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCheck {
    pub table: String,
    pub rows: u64,
    /// Hex SHA-256 of the table's content (see the module comment).
    pub sha256: String,
}

/// The integrity report of a store, printed by backup, restore and migrate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCheck {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The store's schema version (its own numbering per backend).
    pub schema_version: i64,
    /// SQLite's `PRAGMA integrity_check` answer (`ok` when sound); `None` on PostgreSQL,
    /// whose pages are checked by the server itself.
    pub integrity: Option<String>,
    /// Every table but [`NOT_COPIED`], sorted by name.
    pub tables: Vec<TableCheck>,
}

impl StoreCheck {
    /// Whether the store itself is sound (SQLite's integrity check said `ok`).
    pub fn sound(&self) -> bool {
        self.integrity.as_deref().is_none_or(|i| i == "ok")
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&TableCheck> {
        self.tables.iter().find(|t| t.table == name)
    }

    /// How `self` differs from `expected` in the tables `expected` lists (rows or digest),
    /// one line per table; empty when they agree. Tables only `self` has are not
    /// differences (a newer schema may add empty ones).
    pub fn differences(&self, expected: &StoreCheck) -> Vec<String> {
        let mut out = Vec::new();
        for e in &expected.tables {
            match self.table(&e.table) {
                None => out.push(format!(
                    "table {}: missing ({} rows expected)",
                    e.table, e.rows
                )),
                Some(f) if f.rows != e.rows => out.push(format!(
                    "table {}: {} rows, expected {}",
                    e.table, f.rows, e.rows
                )),
                Some(f) if f.sha256 != e.sha256 => out.push(format!(
                    "table {}: content differs ({} rows; sha256 {} expected {})",
                    e.table, f.rows, f.sha256, e.sha256
                )),
                Some(_) => {}
            }
        }
        out
    }

    /// Rows per table, for messages.
    pub fn rows(&self) -> BTreeMap<&str, u64> {
        self.tables
            .iter()
            .map(|t| (t.table.as_str(), t.rows))
            .collect()
    }
}

impl fmt::Display for StoreCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} store, schema version {}, integrity check: {}",
            self.backend,
            self.schema_version,
            self.integrity
                .as_deref()
                .unwrap_or("none of its own on PostgreSQL (rows and digests below)")
        )?;
        writeln!(f, "{:<22} {:>9}  sha256", "table", "rows")?;
        for t in &self.tables {
            writeln!(f, "{:<22} {:>9}  {}", t.table, t.rows, t.sha256)?;
        }
        Ok(())
    }
}
