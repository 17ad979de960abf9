//! A Cancel or an Error sent by hand (issue 13): an approver calls off an event whose
//! latest published version is an Alert or Update (an all-clear or withdrawal: CAP
//! msgType Cancel), or withdraws that version as sent in error (msgType Error). Either
//! becomes a *proposal* like any other, made (edited) by that approver: the review shows
//! exactly which messages would go to whom, four eyes applies when configured, and no
//! auto-publish rule ever publishes it, whatever its status (a hand-made withdrawal is a
//! person's decision, and a second person confirms it).
//!
//! The version is the event's next one (no gap), references the version it corrects (CAP
//! `references` sender,identifier,sent), clears its districts, carries the reason in pt
//! and en (the CAP `note` and the first line of each `description`; the messages' extra
//! instruction), and is written from the event's last stored issuance assessed again, as
//! an expiry Cancel is. Once published, the event is inactive for both types (an Error
//! withdraws the version it references, so nothing of the event stays in force); the next
//! forecast that puts a district on the ladder starts a new Alert. Subscribers who were
//! told a level get the all-clear (for an Error, headed as a withdrawal) through the
//! normal outbox, unless the event's notifications are held.

use super::*;
use crate::alerts::approval::Refusal;
use crate::store::Reason;
use crate::store::approval::{AuditEntry, NewProposal};

impl Pipeline {
    /// Proposes, as `actor`, the Cancel or Error (`msg_type`) of the published version of
    /// `event_id`, with the reason in Portuguese and English. Returns the proposal's id,
    /// or why not.
    pub fn send_by_hand(
        &self,
        event_id: &str,
        actor: &str,
        msg_type: MsgType,
        reason_pt: &str,
        reason_en: &str,
    ) -> Result<Result<i64, Refusal>, ProcessError> {
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let ap = self.approvals.as_ref().ok_or_else(|| {
            ProcessError::Publish("the approval workflow is not wired in this process".into())
        })?;
        let action = match msg_type {
            MsgType::Cancel => "cancel an event",
            MsgType::Error => "withdraw a version as an error",
            other => {
                return Ok(Err(Refusal::BadEdit {
                    field: "msg_type".into(),
                    message: format!("expected Cancel or Error, found {}", other.as_str()),
                }));
            }
        };
        let (pt, en) = (reason_pt.trim(), reason_en.trim());
        for (field, text) in [("reason_pt", pt), ("reason_en", en)] {
            if text.is_empty() {
                return Ok(Err(Refusal::MissingReason { field, action }));
            }
            if text.chars().count() > super::overrides::MAX_EDIT_TEXT {
                return Ok(Err(Refusal::BadEdit {
                    field: field.into(),
                    message: format!("longer than {} characters", super::overrides::MAX_EDIT_TEXT),
                }));
            }
        }
        let Some(s) = self.store.latest_version(event_id)? else {
            let event = event_id.to_string();
            return Ok(Err(match ap.latest_proposal(event_id)? {
                Some(_) => Refusal::NothingPublished { event },
                None => Refusal::NoEvent { event },
            }));
        };
        if s.msg_type.withdraws() {
            return Ok(Err(Refusal::AlreadyWithdrawn {
                event: event_id.to_string(),
                id: s.id.clone(),
                msg_type: s.msg_type.as_str(),
            }));
        }
        let iss = self
            .store
            .last_issuance_of_event(event_id)?
            .ok_or_else(|| ProcessError::Publish(format!("{event_id}: no stored issuance")))?;
        let now = Utc::now();
        let mut v = versioning::decide(
            Some(&s.published()),
            s.event_id.clone(),
            std::collections::BTreeMap::new(),
            &self.cfg.service.sender,
            now,
            s.status,
        )
        .map_err(|e| ProcessError::Publish(e.to_string()))?
        .ok_or_else(|| ProcessError::Publish(format!("{}: nothing to withdraw", s.id)))?;
        v.msg_type = msg_type;
        let reason = Reason {
            pt: pt.to_string(),
            en: en.to_string(),
        };
        let (alert, mut published) = match s.hazard {
            HazardKind::TropicalCyclone => self.cyclone_withdrawal(&s, &iss, &v, now, reason)?,
            HazardKind::Flood => self.flood_withdrawal(&s, &iss, &v, now, reason)?,
        };
        // The reason reaches the subscribers after the standard all-clear instruction.
        published.instruction = Some([pt.to_string(), en.to_string()]);
        let alert = super::publish::without_footprints(alert)?;
        let id = ap.propose(
            None,
            NewProposal {
                alert: &alert,
                published: &published,
                base: Some(&s.id),
                edited_by: Some(actor),
                issuance_id: Some(iss.id),
                overrides: &[],
            },
            now,
        )?;
        ap.audit(
            &AuditEntry::new(
                now,
                actor,
                if msg_type == MsgType::Cancel {
                    "cancel_requested"
                } else {
                    "error_requested"
                },
                format!("proposal {id}"),
            )
            .because(Some(&format!("{pt} / {en}")))
            .of_alert(&alert)
            .with_detail(json!({
                "event": s.event_id,
                "alert": alert.summary.id,
                "msg_type": msg_type.as_str(),
                "references": s.id,
                "reason_pt": pt,
                "reason_en": en,
            })),
        )?;
        tracing::info!(
            event = event_id,
            proposal = id,
            version = %alert.summary.id,
            msg_type = msg_type.as_str(),
            by = actor,
            "proposed by hand: waits for an approver, nothing sent"
        );
        Ok(Ok(id))
    }
}
