//! The approval workflow's wiring (issue 13): the API's [`Decider`] port implemented with
//! the pipeline, and the proposals routes' state over the configured store (SQLite or
//! PostgreSQL).

use std::sync::Arc;

use crate::alerts::approval::{ProposalEdit, Refusal};
use crate::alerts::versioning::MsgType;
use crate::api::admin::hand::HandActions;
use crate::api::admin::proposals::{Decider, ProposalsApi};
use crate::notify::outbound::Planned;
use crate::pipeline::Pipeline;
use crate::store::Store;
use crate::store::approval::{ApprovalStore, ProposalRecord};
use crate::store::holds::HoldRecord;

/// Decisions through the pipeline: serialised with its publications, messages planned as
/// its own, the current alert refreshed after.
struct PipelineDecider(Arc<Pipeline>);

impl Decider for PipelineDecider {
    fn planned(&self, p: &ProposalRecord) -> Result<Vec<Planned>, String> {
        self.0.planned_for(p).map_err(|e| e.to_string())
    }

    fn approve(
        &self,
        id: i64,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Result<usize, Refusal>, String> {
        self.0.approve(id, actor, note).map_err(|e| e.to_string())
    }

    fn reject(&self, id: i64, actor: &str, reason: &str) -> Result<Result<(), Refusal>, String> {
        self.0.reject(id, actor, reason).map_err(|e| e.to_string())
    }

    fn edit(
        &self,
        id: i64,
        actor: &str,
        edit: &ProposalEdit,
    ) -> Result<Result<i64, Refusal>, String> {
        self.0.edit(id, actor, edit).map_err(|e| e.to_string())
    }
}

impl HandActions for PipelineDecider {
    fn send_by_hand(
        &self,
        event_id: &str,
        actor: &str,
        msg_type: MsgType,
        [pt, en]: [&str; 2],
    ) -> Result<Result<i64, Refusal>, String> {
        self.0
            .send_by_hand(event_id, actor, msg_type, pt, en)
            .map_err(|e| e.to_string())
    }

    fn hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: &str,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Result<HoldRecord, Refusal>, String> {
        self.0
            .hold(event_id, actor, reason, expires_at)
            .map_err(|e| e.to_string())
    }

    fn lift_hold(
        &self,
        event_id: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Result<HoldRecord, Refusal>, String> {
        self.0
            .lift_hold(event_id, actor, reason)
            .map_err(|e| e.to_string())
    }
}

/// The proposals routes' state: `store` (the same database as the pipeline's).
pub(super) fn proposals_api(
    store: Arc<dyn ApprovalStore>,
    alerts: Arc<dyn Store>,
    pipeline: &Arc<Pipeline>,
) -> Arc<ProposalsApi> {
    Arc::new(ProposalsApi {
        store,
        alerts,
        decider: Arc::new(PipelineDecider(Arc::clone(pipeline))),
        hand: Arc::new(PipelineDecider(Arc::clone(pipeline))),
    })
}
