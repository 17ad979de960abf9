//! Held notifications in the pipeline (issue 13): while an approver holds an event's
//! notifications, a version of it that is published (approved, or by an auto-publish rule)
//! goes out to the API, the CAP feed and the map, but queues no message; the publication's
//! transaction also writes a `messages_held` audit row naming the hold and how many
//! messages were withheld. Nothing is sent at the lift (see `store::holds`).

use chrono::DateTime;

use super::*;
use crate::alerts::approval::Refusal;
use crate::notify::outbound::Planned;
use crate::store::approval::AuditEntry;
use crate::store::holds::{HoldRecord, NewHold, active_hold};

/// The messages of a version as it would be published now.
pub(crate) struct Plan {
    /// What goes to the outbox (nothing while held).
    pub planned: Vec<Planned>,
    /// The hold in force and how many messages it withholds.
    pub held: Option<(HoldRecord, usize)>,
}

impl Plan {
    /// The audit row of a publication whose messages were held, if they are.
    pub(crate) fn held_audit(&self, alert: &NewAlert, now: DateTime<Utc>) -> Option<AuditEntry> {
        let (h, withheld) = self.held.as_ref()?;
        let s = &alert.summary;
        Some(
            AuditEntry::new(now, "aviso", "messages_held", format!("alert {}", s.id))
                .because(Some(&h.set.reason))
                .of_alert(alert)
                .with_detail(json!({
                    "event": s.event_id,
                    "hold": h.id,
                    "held_by": h.set.created_by,
                    "messages_withheld": withheld,
                })),
        )
    }
}

impl Pipeline {
    /// The active hold of `event_id` now, if any (none without the approval workflow).
    pub fn hold_of(&self, event_id: &str) -> Result<Option<HoldRecord>, ProcessError> {
        let Some(ap) = &self.approvals else {
            return Ok(None);
        };
        Ok(active_hold(
            &ap.holds(Some(event_id))?,
            event_id,
            Utc::now(),
        ))
    }

    /// The messages `published` would queue now: none while its event is held.
    pub(crate) fn plan_or_hold(&self, published: &PublishedAlert) -> Result<Plan, ProcessError> {
        let planned = self.plan_messages(published)?;
        Ok(match self.hold_of(&published.event_id)? {
            Some(h) => Plan {
                held: Some((h, planned.len())),
                planned: Vec::new(),
            },
            None => Plan {
                planned,
                held: None,
            },
        })
    }

    /// Holds the notifications of `event_id` as `actor` (an approver), with `reason`,
    /// until `expires_at` or until lifted.
    pub fn hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Result<HoldRecord, Refusal>, ProcessError> {
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let ap = self.approvals.as_ref().ok_or_else(|| {
            ProcessError::Publish("the approval workflow is not wired in this process".into())
        })?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Ok(Err(Refusal::MissingReason {
                field: "reason",
                action: "hold an event's notifications",
            }));
        }
        if self.store.latest_version(event_id)?.is_none() && ap.latest_proposal(event_id)?.is_none()
        {
            return Ok(Err(Refusal::NoEvent {
                event: event_id.to_string(),
            }));
        }
        let now = Utc::now();
        if expires_at.is_some_and(|e| e <= now) {
            return Ok(Err(Refusal::BadEdit {
                field: "expires_at".into(),
                message: "expected a time in the future".into(),
            }));
        }
        let set = ap.set_hold(
            &NewHold {
                event_id: event_id.to_string(),
                reason: reason.to_string(),
                created_by: actor.to_string(),
                expires_at,
            },
            now,
        )?;
        if let Ok(h) = &set {
            tracing::info!(
                event = event_id,
                hold = h.id,
                by = actor,
                "notifications held"
            );
        }
        Ok(set)
    }

    /// Lifts the hold of `event_id` as `actor`. Nothing is sent retroactively: the next
    /// published version notifies as usual.
    pub fn lift_hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Result<HoldRecord, Refusal>, ProcessError> {
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let ap = self.approvals.as_ref().ok_or_else(|| {
            ProcessError::Publish("the approval workflow is not wired in this process".into())
        })?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let lifted = ap.lift_hold(event_id, actor, reason, Utc::now())?;
        if let Ok(h) = &lifted {
            tracing::info!(
                event = event_id,
                hold = h.id,
                by = actor,
                "notification hold lifted"
            );
        }
        Ok(lifted)
    }
}
