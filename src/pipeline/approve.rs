//! A person's decision on a proposal (issue 13), through the pipeline so that it is
//! serialised with the automatic publications (one version decision at a time), its
//! messages are planned exactly as an automatic publication's, and the current alert the
//! API serves follows at once.

use super::*;
use crate::alerts::approval::Refusal;
use crate::store::approval::{Decision, ProposalRecord, ProposalState};

impl Pipeline {
    fn approvals(&self) -> Result<&Arc<dyn ApprovalStore>, ProcessError> {
        self.approvals.as_ref().ok_or_else(|| {
            ProcessError::Publish("the approval workflow is not wired in this process".into())
        })
    }

    /// The messages proposal `p` would send if published now (none unless it is open).
    pub fn planned_for(
        &self,
        p: &ProposalRecord,
    ) -> Result<Vec<crate::notify::outbound::Planned>, ProcessError> {
        if p.state != ProposalState::Proposed {
            return Ok(Vec::new());
        }
        self.plan_messages(&p.published)
    }

    /// Approves and publishes proposal `id` as `actor`: the version, its messages and the
    /// audit row in one transaction. Returns the messages queued, or why not.
    pub fn approve(
        &self,
        id: i64,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Result<usize, Refusal>, ProcessError> {
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let ap = self.approvals()?;
        let Some(p) = ap.proposal(id)? else {
            return Ok(Err(Refusal::NotFound { id }));
        };
        // Four eyes also covers an override the approver set that a later proposal
        // carries (issue 13): its level is their own edit, whoever made the proposal.
        if self.cfg.approval.four_eyes && sets_override(&p, actor) {
            return Ok(Err(Refusal::FourEyes {
                id,
                who: actor.to_string(),
            }));
        }
        // While the event's notifications are held, nothing is queued and the decision's
        // transaction audits the withheld messages.
        let now = Utc::now();
        let plan = if p.state == ProposalState::Proposed {
            self.plan_or_hold(&p.published)?
        } else {
            super::holds::Plan {
                planned: Vec::new(),
                held: None,
            }
        };
        let held = plan.held_audit(&p.alert, now);
        let decided = ap.decide(
            id,
            Decision::Approve {
                actor,
                note,
                planned: &plan.planned,
                four_eyes: self.cfg.approval.four_eyes,
                held: held.as_ref(),
            },
            now,
        )?;
        if let Ok(queued) = decided {
            tracing::info!(proposal = id, version = %p.alert.summary.id, approver = actor, queued, "published: approved");
            self.refresh_current_alert();
        }
        Ok(decided)
    }

    /// Rejects proposal `id` as `actor` with `reason`: nothing goes out.
    pub fn reject(
        &self,
        id: i64,
        actor: &str,
        reason: &str,
    ) -> Result<Result<(), Refusal>, ProcessError> {
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let decided =
            self.approvals()?
                .decide(id, Decision::Reject { actor, reason }, Utc::now())?;
        if decided.is_ok() {
            tracing::info!(
                proposal = id,
                approver = actor,
                "proposal rejected: nothing sent"
            );
        }
        Ok(decided.map(|_| ()))
    }
}

/// Whether proposal `p` applies a manual override `actor` set (its document's
/// `aviso.overrides`).
fn sets_override(p: &ProposalRecord, actor: &str) -> bool {
    serde_json::from_str::<Value>(&p.alert.document)
        .ok()
        .and_then(|d| d.pointer("/aviso/overrides").cloned())
        .and_then(|o| o.as_array().cloned())
        .is_some_and(|o| o.iter().any(|x| x["by"] == actor))
}
