//! Persistence of the approval workflow (issue 13), behind [`ApprovalStore`]: proposed
//! versions waiting for a person, the decisions on them, and the append-only audit trail
//! of every human and automatic decision. Kept apart from [`super::Store`] so the two grow
//! independently; each store (SQLite, PostgreSQL) implements both on the same database,
//! so a decision and what it publishes (the version, its subscribers' messages, the audit
//! row) commit in ONE transaction: a crash between approval and queueing loses nothing
//! and sends nothing twice. On PostgreSQL several replicas decide on one database: an
//! implementation must make two decisions of one proposal at once one decision and one
//! [`Refusal::NotOpen`].
//!
//! Nothing here updates or deletes an audit row: the trait has no such method.
//!
//! An adapter at the edge: must not depend on the pipeline, the API or the channels.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AssessmentRecord, NewAlert, StoreError};
pub use crate::alerts::approval::{ProposalState, Refusal};
use crate::alerts::levels::Level;
use crate::notify::outbound::Planned;
use crate::notify::select::PublishedAlert;

/// A version proposed for publication, with what its messages need.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposalRecord {
    pub id: i64,
    pub state: ProposalState,
    pub created_at: DateTime<Utc>,
    /// The CAP identifier of the published version it was decided against (`None`: the
    /// event had none). Approving it after another version was published is refused.
    pub base: Option<String>,
    pub issuance_id: Option<i64>,
    /// The version exactly as it would be published: summary, GeoJSON, CAP.
    pub alert: NewAlert,
    /// What subscriber selection and the messages need of it.
    pub published: PublishedAlert,
    /// Who edited it before review (`None`: as the automatic run made it).
    pub edited_by: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The approver's note, or the reason of a rejection or supersession.
    pub reason: Option<String>,
    /// The proposal that replaced it.
    pub superseded_by: Option<i64>,
}

impl ProposalRecord {
    /// Why a person may not decide it now, `current` being the event's published version
    /// read in the deciding transaction: it is no longer waiting, or another version was
    /// published since it was made. The rule both backends apply.
    pub fn closed_or_stale(&self, current: Option<&str>) -> Option<Refusal> {
        if self.state != ProposalState::Proposed {
            let hint = self
                .superseded_by
                .map(|n| format!(" (proposal {n} replaced it)"))
                .unwrap_or_default();
            return Some(Refusal::NotOpen {
                id: self.id,
                state: self.state,
                hint,
            });
        }
        (current != self.base.as_deref()).then(|| Refusal::Stale {
            id: self.id,
            base: self.base.clone().unwrap_or_else(|| "none".into()),
            current: current.unwrap_or("none").into(),
        })
    }

    /// Four eyes: `actor` edited it, so another approver must decide (`four_eyes` on).
    pub fn own_edit(&self, actor: &str, four_eyes: bool) -> Option<Refusal> {
        (four_eyes && self.edited_by.as_deref() == Some(actor)).then(|| Refusal::FourEyes {
            id: self.id,
            who: actor.to_string(),
        })
    }
}

/// A proposal to store.
#[derive(Debug, Clone, Copy)]
pub struct NewProposal<'a> {
    pub alert: &'a NewAlert,
    pub published: &'a PublishedAlert,
    pub base: Option<&'a str>,
    pub edited_by: Option<&'a str>,
    /// The issuance it was made from when that issuance is not completed with it (an
    /// edit rebuilds a proposal from its already-processed issuance).
    pub issuance_id: Option<i64>,
    /// Manual overrides set with an edit, stored and audited in the same transaction
    /// (each row points at the new proposal).
    pub overrides: &'a [NewOverride],
}

/// A manual override of one district's level (issue 13), set by an editor with a reason.
/// It applies to every later proposal of its event until `expires_at` or until an
/// approver lifts it. The free-text instruction goes with it: it says what the people of
/// the raised district should do, so it lives and ends with the override (one table, no
/// second record to keep in step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOverride {
    pub event_id: String,
    pub pcode: String,
    pub level: Level,
    pub reason: String,
    pub instruction_pt: Option<String>,
    pub instruction_en: Option<String>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideRecord {
    pub id: i64,
    #[serde(flatten)]
    pub set: NewOverride,
    pub created_at: DateTime<Utc>,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<DateTime<Utc>>,
    /// The proposal the edit made.
    pub proposal_id: Option<i64>,
}

impl OverrideRecord {
    /// Whether it applies at `now`: not lifted, not expired.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.lifted_at.is_none() && self.set.expires_at.is_none_or(|e| e > now)
    }
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// Who: an admin token's name, "rule:NAME" for an auto-publish rule, or "aviso" for
    /// the automatic run itself.
    pub actor: String,
    /// What: proposed, superseded, approved, rejected, auto_published, ...
    pub action: String,
    /// On what: "proposal 12", `"alert <CAP identifier>"`, "subscriber 7", ...
    pub subject: String,
    pub reason: Option<String>,
    /// SHA-256 (hex) of the CAP XML and of the GeoJSON document that went out.
    pub cap_sha256: Option<String>,
    pub document_sha256: Option<String>,
    /// Anything else worth keeping (counts queued, the role used...).
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn new(at: DateTime<Utc>, actor: &str, action: &str, subject: String) -> AuditEntry {
        AuditEntry {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            subject,
            reason: None,
            cap_sha256: None,
            document_sha256: None,
            detail: serde_json::Value::Null,
        }
    }

    /// The entry with the SHA-256 of `alert`'s CAP and document.
    pub fn of_alert(mut self, alert: &NewAlert) -> AuditEntry {
        self.cap_sha256 = Some(super::RawIssuance::sha256_hex(alert.cap.as_bytes()));
        self.document_sha256 = Some(super::RawIssuance::sha256_hex(alert.document.as_bytes()));
        self
    }

    pub fn because(mut self, reason: Option<&str>) -> AuditEntry {
        self.reason = reason.map(str::to_string);
        self
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> AuditEntry {
        self.detail = detail;
        self
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// What an issuance's processing hands over with its version: its id and assessments, so
/// the "processed" mark commits with the proposal or publication.
pub type IssuanceDone<'a> = Option<(i64, &'a [AssessmentRecord])>;

/// A person's decision.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'a> {
    /// Publish it with these messages. `four_eyes`: refuse when `actor` edited it.
    Approve {
        actor: &'a str,
        note: Option<&'a str>,
        planned: &'a [Planned],
        four_eyes: bool,
        /// The event's notifications are held: `planned` is empty and this row says so
        /// (audited in the decision's transaction).
        held: Option<&'a AuditEntry>,
    },
    Reject {
        actor: &'a str,
        reason: &'a str,
    },
}

/// The approval workflow's persistence. Implementations must be safe to call from several
/// threads; each method is one transaction.
pub trait ApprovalStore: super::holds::HoldStore + Send + Sync {
    /// Stores a proposal (and, when given, the issuance's assessments and processed mark),
    /// supersedes the event's older open proposals, and audits both — atomically. Returns
    /// the new proposal's id.
    fn propose(
        &self,
        issuance: IssuanceDone<'_>,
        p: NewProposal<'_>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;

    /// Publishes a version an auto-publish rule covers, with its messages and the audit
    /// rows `audit` (the publication's, then, when held, the hold's), superseding the event's open proposals — atomically. Returns the
    /// messages queued.
    fn publish_by_rule(
        &self,
        issuance: IssuanceDone<'_>,
        alert: &NewAlert,
        planned: &[Planned],
        audit: &[AuditEntry],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Marks the event's open proposals superseded by something that is not a proposal
    /// (a newer forecast that changes nothing against the published version), audited
    /// with `reason`. Returns how many.
    fn supersede_open(
        &self,
        event_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Proposals, newest first; only those in `state` when given.
    fn proposals(&self, state: Option<ProposalState>) -> Result<Vec<ProposalRecord>, StoreError>;
    fn proposal(&self, id: i64) -> Result<Option<ProposalRecord>, StoreError>;
    /// The newest proposal of an event, whatever its state, if any.
    fn latest_proposal(&self, event_id: &str) -> Result<Option<ProposalRecord>, StoreError>;

    /// Decides proposal `id`. Refused (nothing written) when it is not open, when another
    /// version of its event was published since it was made, when four eyes forbid it, or
    /// when a rejection has no reason. An approval publishes the version with `planned`
    /// and audits it with the SHA-256 of what went out, in one transaction; returns the
    /// messages queued (0 for a rejection).
    fn decide(
        &self,
        id: i64,
        decision: Decision<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<usize, Refusal>, StoreError>;

    /// The manual overrides of `event_id` (of every event when `None`), newest first,
    /// lifted and expired ones included (see [`OverrideRecord::active_at`]).
    fn overrides(&self, event_id: Option<&str>) -> Result<Vec<OverrideRecord>, StoreError>;

    /// Lifts override `id` as `actor`, audited with `reason`, in one transaction. Refused
    /// when there is no such override or it was lifted already.
    fn lift_override(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<OverrideRecord, Refusal>, StoreError>;

    /// Appends one row to the audit trail; returns its id.
    fn audit(&self, entry: &AuditEntry) -> Result<i64, StoreError>;
    /// Audit rows with id > `after`, oldest first, at most `limit`.
    fn audit_log(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
}
