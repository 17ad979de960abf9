//! Persistence of the service: raw issuances, assessments, published alert versions, runs
//! and feed health, behind the [`Store`] trait; [`sqlite::SqliteStore`] is the embedded
//! default, [`postgres::PgStore`] the shared one for several replicas (`[store] url`,
//! issue 15). An adapter at the edge: the core never imports it.
//!
//! The trait is synchronous on purpose: the pipeline calls it from blocking threads (an
//! assessment is CPU work anyway) and the API from `spawn_blocking`. A PostgreSQL/PostGIS
//! backend for several replicas implements the same trait; what it must guarantee is
//! written on each method (the atomic ones say so).

pub mod approval;
pub mod config;
pub mod holds;
mod lease;
pub mod notify;
pub(crate) mod personal;
pub mod postgres;
pub mod published;
pub mod registers;
pub mod served;
pub mod sqlite;
pub mod tables;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::levels::Level;
use crate::alerts::versioning::{CapStatus, Changes, MsgType, PublishedDistrict, PublishedSummary};

pub use lease::FeedLease;
pub use served::ServedDocument;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("store {path}: cannot create data directory: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "store {path}: schema version {found} is newer than this aviso knows ({known}): \
         upgrade aviso or point data_dir elsewhere"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        known: i64,
    },
    /// The PostgreSQL server refused or failed a statement (`url` without its password).
    #[error("store {url}: {message}")]
    Postgres { url: String, message: String },
    /// The PostgreSQL store could not be reached or set up (connection, pool, TLS).
    #[error("store {url}: {message}")]
    Unavailable { url: String, message: String },
    /// A backup, restore or migration that would lose or mix data, refused before it
    /// starts (what to do is in the message).
    #[error("store {path}: {message}")]
    Refused { path: String, message: String },
    /// A restore or migration whose integrity check failed (the lines say which tables).
    #[error("store {path}: integrity check failed: {}", lines.join("; "))]
    CheckFailed { path: String, lines: Vec<String> },
    #[error("store {path}: row {what}: {message}")]
    Corrupt {
        path: String,
        what: String,
        message: String,
    },
}

/// A feed's body as fetched, before any parsing: kept so that every issuance can be
/// audited and reprocessed.
#[derive(Debug, Clone, PartialEq)]
pub struct RawIssuance {
    pub feed: String,
    /// The URL fetched, secrets redacted.
    pub url: String,
    pub fetched_at: DateTime<Utc>,
    /// Hex SHA-256 of `bytes`: the same content from the same feed is the same issuance.
    pub sha256: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
    /// HTTP validators of the response, kept with the issuance so a restart does not
    /// refetch it as new (conditional GET).
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl RawIssuance {
    pub fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(bytes))
    }
}

/// What [`Store::insert_issuance`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// A new issuance, waiting to be processed.
    New(i64),
    /// The same content was stored before under this id: not a new issuance.
    Duplicate(i64),
    /// The same content as issuance `id`, which could not be used (`error`): the feed still
    /// serves something that is no forecast, and stays degraded (issue 17: a maintenance
    /// page served again and again must never make the feed look healthy).
    StillFailing { id: i64, error: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuanceState {
    /// Stored, not yet processed (also after a crash mid-processing).
    Pending,
    Processed,
    /// Could not be parsed or assessed; the reason is kept and it is not retried.
    Failed,
}

impl IssuanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuanceState::Pending => "pending",
            IssuanceState::Processed => "processed",
            IssuanceState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredIssuance {
    pub id: i64,
    pub raw: RawIssuance,
    pub state: IssuanceState,
    pub error: Option<String>,
}

/// Hazard kind of an event (the alert document's `aviso.hazard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HazardKind {
    TropicalCyclone,
    Flood,
}

/// One published alert version as the API lists it (no geometry). Serialised as the
/// `/api/alerts` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSummary {
    /// CAP identifier; also the id in `/api/alerts/{id}`.
    pub id: String,
    pub event_id: String,
    pub version: u32,
    pub msg_type: MsgType,
    pub status: CapStatus,
    pub hazard: HazardKind,
    pub event_name: String,
    pub sender: String,
    pub sent: DateTime<Utc>,
    pub reference_time: Option<DateTime<Utc>>,
    pub max_level: Option<Level>,
    /// The latest version of an event that is not cancelled. Computed when read.
    #[serde(default)]
    pub active: bool,
    /// CAP `references` (Update and Cancel).
    pub references: Option<String>,
    pub districts: Vec<SummaryDistrict>,
    /// A Cancel's districts: those the previous version had on the ladder, at the level
    /// they had. Empty for Alert and Update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleared: Vec<SummaryDistrict>,
    pub changes: Changes,
    /// Which feed and stored issuance it came from.
    pub feed: String,
    pub issuance_id: Option<i64>,
    /// Why a Cancel was issued without a new forecast (e.g. the storm left the feed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// [`AlertSummary::reason`] in Portuguese.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_pt: Option<String>,
    /// The incident the event belongs to when it is not the event itself (CAP
    /// `incidents`): a flood that follows a cyclone carries the cyclone's event id
    /// (`flood.after_cyclone_days`). See [`AlertSummary::incident_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

/// Why a version was issued without a new forecast, in English and Portuguese.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub en: String,
    pub pt: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryDistrict {
    pub pcode: String,
    pub name: String,
    pub province_pcode: Option<String>,
    pub level: Level,
}

impl AlertSummary {
    /// The incident this version belongs to: [`AlertSummary::incident`], or the event.
    pub fn incident_id(&self) -> &str {
        self.incident.as_deref().unwrap_or(&self.event_id)
    }

    /// What the next version of the event needs from this one.
    pub fn published(&self) -> PublishedSummary {
        PublishedSummary {
            event_id: self.event_id.clone(),
            version: self.version,
            identifier: self.id.clone(),
            sender: self.sender.clone(),
            sent: self.sent,
            msg_type: self.msg_type,
            districts: self
                .districts
                .iter()
                .map(|d| {
                    (
                        d.pcode.clone(),
                        PublishedDistrict {
                            name: d.name.clone(),
                            province_pcode: d.province_pcode.clone(),
                            level: d.level,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// A version ready to be stored: summary plus its documents.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub summary: AlertSummary,
    /// The GeoJSON alert document (JSON text).
    pub document: String,
    /// The CAP 1.2 XML.
    pub cap: String,
}

/// A stored version with its documents.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub summary: AlertSummary,
    /// The GeoJSON document as published.
    pub document: String,
    pub cap: String,
    /// The document again with the probabilities computed after publication, if any
    /// ([`Store::attach_document`]).
    pub annex: Option<Annex>,
}

/// A version's document with what was computed after it was published.
#[derive(Debug, Clone, PartialEq)]
pub struct Annex {
    pub document: String,
    pub attached_at: DateTime<Utc>,
}

impl AlertRecord {
    /// The document to serve: the annexed one when there is one, else as published.
    pub fn current_document(&self) -> &str {
        self.annex.as_ref().map_or(&self.document, |a| &a.document)
    }
}

/// An assessment's headline figures, kept per issuance whether or not it published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentRecord {
    pub event_id: String,
    pub event_name: String,
    pub reference_time: Option<DateTime<Utc>>,
    pub max_level: Option<Level>,
    pub districts_on_ladder: usize,
    /// Free-form figures (people at risk per threshold, trigger state...).
    pub figures: serde_json::Value,
}

/// Filters of `/api/alerts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// Only the latest version of events that are not cancelled.
    pub active_only: bool,
    pub event_id: Option<String>,
    pub province_pcode: Option<String>,
    pub district_pcode: Option<String>,
    /// At least this level in some (matching) district.
    pub min_level: Option<Level>,
    pub since: Option<DateTime<Utc>>,
    /// Include Test / Exercise / Draft versions (never for the public feed).
    pub include_non_actual: bool,
}

impl AlertFilter {
    /// Applies the filters that are not in SQL (districts and levels).
    pub fn matches(&self, s: &AlertSummary) -> bool {
        if !self.include_non_actual && s.status != CapStatus::Actual {
            return false;
        }
        if let Some(since) = self.since
            && s.sent < since
        {
            return false;
        }
        if let Some(e) = &self.event_id
            && &s.event_id != e
        {
            return false;
        }
        let place = |d: &SummaryDistrict| {
            self.district_pcode.as_ref().is_none_or(|p| &d.pcode == p)
                && self
                    .province_pcode
                    .as_ref()
                    .is_none_or(|p| d.province_pcode.as_ref() == Some(p))
        };
        let level = |d: &SummaryDistrict| self.min_level.is_none_or(|m| d.level >= m);
        if self.district_pcode.is_some()
            || self.province_pcode.is_some()
            || self.min_level.is_some()
        {
            // A Cancel lists no district on the ladder; it concerns the districts it
            // clears, at the level they had.
            return s
                .districts
                .iter()
                .chain(&s.cleared)
                .any(|d| place(d) && level(d));
        }
        true
    }
}

/// One event (a storm, or a flood forecast series) and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub event_id: String,
    pub event_name: String,
    pub hazard: HazardKind,
    pub active: bool,
    pub versions: u32,
    pub latest: AlertSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    /// Never fetched yet.
    Unknown,
    Ok,
    /// The last fetch or parse failed; the last good issuance stays in force.
    Degraded,
}

/// A feed's health as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedHealth {
    pub feed: String,
    pub state: FeedState,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// When content new to the store last arrived.
    pub last_new_issuance: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Short label of the last error (`timeout`, `http_5xx`, `parse`...).
    pub last_error_kind: Option<String>,
    pub consecutive_failures: u32,
    #[serde(skip)]
    pub etag: Option<String>,
    #[serde(skip)]
    pub last_modified: Option<String>,
}

/// How one fetch ended, for feed health and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchResult {
    /// New content was stored (or was a duplicate of stored content).
    Fetched,
    /// 304 Not Modified.
    NotModified,
    /// Failed; `kind` is a short label, `message` the reason (no secrets).
    Failed { kind: String, message: String },
}

/// One scheduled cycle of one feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub feed: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `ok`, `degraded` or `failed`.
    pub outcome: String,
    pub detail: serde_json::Value,
}

/// Counters for `/metrics`, kept in the store so they survive restarts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreCounts {
    /// (feed, outcome) -> fetches, outcome one of `fetched`, `not_modified`, or an error kind.
    pub fetches: Vec<(String, String, i64)>,
    /// (outcome) -> runs.
    pub runs: Vec<(String, i64)>,
    /// (msg_type, max level or "none") -> versions published (Actual only).
    pub alerts: Vec<(String, String, i64)>,
    pub issuances_by_state: Vec<(String, i64)>,
}

/// The service's persistence. Implementations must be safe to call from several threads.
pub trait Store: Send + Sync {
    /// Takes the right to fetch `feed` (a feed name) for one cycle, so that replicas on
    /// one shared database fetch each feed once at a time (issue 15); `None`: another
    /// replica holds it now. The lease ends when dropped, or when its holder dies (the
    /// database must notice within a bounded time). The default grants it always: a store
    /// one process owns (the SQLite file) has nobody to exclude.
    fn lease_feed(&self, _feed: &str) -> Result<Option<FeedLease>, StoreError> {
        Ok(Some(FeedLease::local()))
    }

    /// Brings the schema to the newest version; returns it. Idempotent.
    fn migrate(&self) -> Result<i64, StoreError>;

    /// Stores a fetched body unless the same feed already delivered the same content, and
    /// records the fetch as a success with its validators — atomically, so a crash never
    /// leaves validators pointing at content the store does not hold.
    fn insert_issuance(&self, raw: &RawIssuance) -> Result<Inserted, StoreError>;

    /// Records the outcome of a fetch that stored nothing (304 or failure). A 304 for
    /// content that failed leaves the feed degraded: a feed is healthy only while the
    /// latest content it serves could be used.
    fn record_fetch(
        &self,
        feed: &str,
        at: DateTime<Utc>,
        result: &FetchResult,
    ) -> Result<(), StoreError>;

    fn feed_health(&self, feed: &str) -> Result<Option<FeedHealth>, StoreError>;
    fn all_feed_health(&self) -> Result<Vec<FeedHealth>, StoreError>;

    /// Issuances not yet processed, oldest first (after a crash these are the ones the
    /// restart must finish).
    fn pending_issuances(&self) -> Result<Vec<StoredIssuance>, StoreError>;
    fn issuance(&self, id: i64) -> Result<Option<StoredIssuance>, StoreError>;
    /// The newest processed issuance of a feed (store key).
    fn latest_processed_issuance(&self, feed: &str) -> Result<Option<StoredIssuance>, StoreError>;
    /// The reference times of what `feed` (a store key, or a feed name covering its
    /// per-storm keys "name:STORM") delivered after `since` that was parsed and assessed,
    /// one per assessment (`None`: a product without one, such as a GDACS list). The
    /// evidence an expiry needs before it may cancel anything: a feed that went silent or
    /// serves garbage says nothing about the storm.
    fn forecasts_since(
        &self,
        feed: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Option<DateTime<Utc>>>, StoreError>;
    /// The newest processed issuance of a feed that published for `event_id`.
    fn last_issuance_of_event(&self, event_id: &str) -> Result<Option<StoredIssuance>, StoreError>;

    /// Marks an issuance failed (unparseable, unassessable) and the feed degraded with
    /// the reason, atomically.
    fn fail_issuance(&self, id: i64, feed: &str, kind: &str, error: &str)
    -> Result<(), StoreError>;

    /// Stores the assessments and alert versions an issuance produced and marks it
    /// processed — in ONE transaction: after a crash either all of it is there or the
    /// issuance is still pending. A version whose (event, version) exists already is a
    /// conflict and rolls the whole transaction back.
    fn complete_issuance(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
    ) -> Result<(), StoreError>;

    /// Stores a version that no issuance produced (a Cancel because the storm left the
    /// feeds).
    fn publish_alert(&self, alert: &NewAlert) -> Result<(), StoreError>;

    /// The latest version of an event, if any.
    fn latest_version(&self, event_id: &str) -> Result<Option<AlertSummary>, StoreError>;
    fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertSummary>, StoreError>;
    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError>;
    /// What `/api/alerts/{id}` serves of version `id`: its current document (the annex once
    /// attached) and what names it, and nothing else. Default: from [`Store::alert`].
    fn alert_document(&self, id: &str) -> Result<Option<ServedDocument>, StoreError> {
        Ok(self.alert(id)?.map(ServedDocument::of))
    }
    /// The CAP XML of version `id`, and nothing else. Default: from [`Store::alert`].
    fn alert_cap(&self, id: &str) -> Result<Option<bytes::Bytes>, StoreError> {
        Ok(self.alert(id)?.map(|r| bytes::Bytes::from(r.cap)))
    }
    /// Attaches `document` (the version's document with its late probabilities) to the
    /// stored version `id`, once; the published document and CAP are left as they are.
    /// `false`: no such version, or it already has one.
    fn attach_document(
        &self,
        id: &str,
        document: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    fn events(&self, include_non_actual: bool) -> Result<Vec<EventSummary>, StoreError>;
    /// Every version of an event, oldest first.
    fn event_versions(&self, event_id: &str) -> Result<Vec<AlertSummary>, StoreError>;

    fn begin_run(&self, feed: &str, at: DateTime<Utc>) -> Result<i64, StoreError>;
    fn finish_run(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError>;
    fn last_run(&self) -> Result<Option<RunRecord>, StoreError>;
    fn counts(&self) -> Result<StoreCounts, StoreError>;
    /// A mark of what is published that changes with every version stored and every
    /// document attached: a replica polls it to follow what other replicas publish on a
    /// shared database (`Pipeline::follow_store`). `None`: this process is the store's only
    /// writer (the embedded SQLite file), nothing to follow.
    fn publication_mark(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
}

/// The JSON of a summary with its links (the API's paths of the alert, its CAP and its
/// event): what the API lists and what the pipeline embeds in the stored document.
pub fn summary_json(s: &AlertSummary) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "links".into(),
            serde_json::json!({
                "self": format!("/api/alerts/{}", s.id),
                "cap": format!("/api/alerts/{}/cap", s.id),
                "event": format!("/api/events/{}", s.event_id),
            }),
        );
    }
    v
}
