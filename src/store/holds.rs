//! Held notifications (issue 13): an approver puts an event's subscriber notifications on
//! hold, with a reason and an optional expiry, and lifts the hold. While an event is held,
//! a version of it that is published (by an approver or an auto-publish rule) still goes
//! to the public API, the CAP feed and the map, but queues no subscriber message; the
//! audit trail says so for each such publication. Nothing is sent retroactively at the
//! lift: the next published version notifies as usual, and because subscriber selection
//! compares with what each subscriber was last actually sent (the outbox), it tells them
//! everything that changed meanwhile.
//!
//! A hold is a row, never deleted: lifting sets `lifted_by`/`lifted_at`. Setting and
//! lifting are audited in the same transaction. At most one hold of an event is active.
//!
//! An adapter at the edge: must not depend on the pipeline, the API or the channels.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::approval::{AuditEntry, Refusal};

/// A hold to set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewHold {
    pub event_id: String,
    pub reason: String,
    pub created_by: String,
    /// When it ends by itself (`None`: until an approver lifts it).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldRecord {
    pub id: i64,
    #[serde(flatten)]
    pub set: NewHold,
    pub created_at: DateTime<Utc>,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lift_reason: Option<String>,
}

impl HoldRecord {
    /// Whether it holds at `now`: not lifted, not expired.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.lifted_at.is_none() && self.set.expires_at.is_none_or(|e| e > now)
    }

    /// What the review and the audit trail say of it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "event_id": self.set.event_id,
            "reason": self.set.reason,
            "by": self.set.created_by,
            "since": self.created_at,
            "expires_at": self.set.expires_at,
            "lifted_by": self.lifted_by,
            "lifted_at": self.lifted_at,
            "lift_reason": self.lift_reason,
        })
    }
}

/// The active hold of an event among `holds` at `now`, if any.
pub fn active_hold(holds: &[HoldRecord], event_id: &str, now: DateTime<Utc>) -> Option<HoldRecord> {
    holds
        .iter()
        .find(|h| h.set.event_id == event_id && h.active_at(now))
        .cloned()
}

/// The audit row of a hold set (both backends write the same).
pub fn hold_set_audit(h: &NewHold, id: i64, now: DateTime<Utc>) -> AuditEntry {
    AuditEntry::new(now, &h.created_by, "hold_set", format!("hold {id}"))
        .because(Some(&h.reason))
        .with_detail(serde_json::json!({
            "event": h.event_id,
            "expires_at": h.expires_at,
        }))
}

/// The audit row of a hold lifted (both backends write the same).
pub fn hold_lifted_audit(
    h: &HoldRecord,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry::new(now, actor, "hold_lifted", format!("hold {}", h.id))
        .because(reason)
        .with_detail(serde_json::json!({
            "event": h.set.event_id,
            "set_by": h.set.created_by,
            "held_because": h.set.reason,
            "nothing_sent_retroactively": true,
        }))
}

/// Holds' persistence; every [`super::approval::ApprovalStore`] is one (same database, so
/// the audit rows commit with the hold).
pub trait HoldStore: Send + Sync {
    /// The holds of `event_id` (of every event when `None`), newest first, lifted and
    /// expired ones included.
    fn holds(&self, event_id: Option<&str>) -> Result<Vec<HoldRecord>, StoreError>;

    /// Sets a hold, audited, in one transaction. Refused when the event has an active
    /// hold already.
    fn set_hold(
        &self,
        h: &NewHold,
        now: DateTime<Utc>,
    ) -> Result<Result<HoldRecord, Refusal>, StoreError>;

    /// Lifts the active hold of `event_id` as `actor`, audited with `reason`, in one
    /// transaction. Refused when the event has no active hold.
    fn lift_hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<HoldRecord, Refusal>, StoreError>;
}
