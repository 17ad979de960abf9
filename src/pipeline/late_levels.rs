//! Levels from probabilities that come after their version was published (issue 12,
//! item 4). A cyclone version waits at most `[probabilistic] publish_wait_s` for its
//! probabilities; when they are late it goes out on the official track's levels. When
//! they come, the levels are decided again as if they had been in time (the same
//! previous version for the margin): if a probability rule RAISES some district, a new
//! version (CAP Update referencing the one sent, with its subscribers' messages) is
//! published through the normal versioning and notification path; otherwise the
//! probabilities are attached to the version as an annex. What was sent is never
//! rewritten.
//!
//! Wiring only: the decision is `alerts::assess::apply_probabilities` (pure).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use super::{Pipeline, ProcessError, published_alert};
use crate::alerts::assess::{Assessment, apply_probabilities};
use crate::alerts::levels::Level;
use crate::alerts::probabilistic::ProbabilisticOutcome;
use crate::alerts::versioning::{self, CapStatus, MsgType};
use crate::store::{AlertSummary, Reason};

/// What a late probabilistic result needs to decide the levels it gives.
#[derive(Debug)]
pub(crate) struct LateLevels {
    /// The issuance's assessment on the official track (levels before probabilities).
    pub(crate) assessment: Arc<Assessment>,
    /// The event's version before the one published without probabilities: level per
    /// district (the margin's reference, as in time).
    pub(crate) previous: BTreeMap<String, Level>,
    pub(crate) event_id: String,
    pub(crate) feed: String,
    pub(crate) issuance_id: i64,
    pub(crate) status: CapStatus,
}

/// Levels per district P-code of a published version (a Cancel: none, it has no
/// districts).
pub(crate) fn levels_of(s: &AlertSummary) -> BTreeMap<String, Level> {
    if s.msg_type == MsgType::Cancel {
        return BTreeMap::new();
    }
    s.districts
        .iter()
        .map(|d| (d.pcode.clone(), d.level))
        .collect()
}

impl Pipeline {
    /// Lets the probabilistic step publish the versions that late probabilities call for
    /// through this pipeline. [`Pipeline::run_feed`] and
    /// [`Pipeline::resume_pending_probabilities`] do it; a pipeline never bound attaches
    /// late probabilities only (and logs a WARN when they would raise a level).
    pub fn bind(self: &Arc<Self>) {
        self.prob.bind(Arc::downgrade(self));
    }

    /// The late result `outcome` of version `id`: a new version when it raises a level,
    /// else (or when publishing fails) attached to `id`. The caller holds
    /// `process_lock`.
    pub(super) fn late_probabilities(
        &self,
        id: &str,
        outcome: &ProbabilisticOutcome,
        late: &LateLevels,
    ) {
        match self.publish_raised(id, outcome, late) {
            Ok(Some(next)) => self.prob.attach_late(id, outcome, Some(&next)),
            Ok(None) => self.prob.attach_late(id, outcome, None),
            Err(e) => {
                // ERROR: the raised levels are not published (the probabilities are
                // attached; the next issuance decides the levels again).
                tracing::error!(version = %id, error = %e, "publishing the levels raised by late probabilities failed");
                self.prob.attach_late(id, outcome, None);
            }
        }
    }

    /// Publishes the Update the late probabilities of `id` call for, if any: only when
    /// `id` is still the event's newest version and some district's level rises.
    fn publish_raised(
        &self,
        id: &str,
        outcome: &ProbabilisticOutcome,
        late: &LateLevels,
    ) -> Result<Option<String>, ProcessError> {
        let Some(result) = outcome.result() else {
            return Ok(None);
        };
        let Some(latest) = self.store.latest_version(&late.event_id)? else {
            return Ok(None);
        };
        if latest.id != id || latest.msg_type == MsgType::Cancel {
            // A newer version (or its Cancel) already said what holds now.
            tracing::info!(version = %id, newest = %latest.id, "late probabilities of a superseded version: attached only");
            return Ok(None);
        }
        let mut a = (*late.assessment).clone();
        apply_probabilities(&mut a, &self.cfg.levels, result, &late.previous);
        let sent = levels_of(&latest);
        let raised: Vec<(String, String, Option<Level>, Level)> = a
            .levels
            .iter()
            .filter(|(pcode, l)| sent.get(*pcode).is_none_or(|s| l.level > *s))
            .map(|(pcode, l)| {
                let name = a
                    .exposure
                    .districts
                    .iter()
                    .find(|d| &d.pcode == pcode)
                    .map_or_else(|| pcode.clone(), |d| d.name.clone());
                (pcode.clone(), name, sent.get(pcode).copied(), l.level)
            })
            .collect();
        if raised.is_empty() {
            return Ok(None);
        }
        let v = versioning::decide(
            Some(&latest.published()),
            late.event_id.clone(),
            versioning::districts_of(&a),
            &self.cfg.service.sender,
            Utc::now(),
            late.status,
        )
        .map_err(|e| ProcessError::Publish(e.to_string()))?
        .ok_or_else(|| ProcessError::Publish(format!("{id}: no version to publish")))?;
        let list = |lang: crate::domain::Lang| {
            raised
                .iter()
                .map(|(_, name, old, new)| {
                    let old = old.map_or("-", |l| l.name(lang));
                    format!("{name} {old} → {}", new.name(lang))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let reason = Reason {
            en: format!(
                "the probabilities of version {id} came after it was sent and raise: {}",
                list(crate::domain::Lang::En)
            ),
            pt: format!(
                "as probabilidades da versão {id} chegaram depois do envio e elevam: {}",
                list(crate::domain::Lang::Pt)
            ),
        };
        let alert = self.new_alert(
            &a,
            &v,
            Some(&latest),
            &late.feed,
            Some(late.issuance_id),
            Some(reason),
            outcome,
        )?;
        let queued = self.commit_version(None, &alert, &published_alert(&v, &a))?;
        tracing::info!(
            version = %alert.summary.id,
            msg_type = v.msg_type.as_str(),
            references = %id,
            raised = raised.len(),
            queued,
            "published: late probabilities raise levels"
        );
        Ok(Some(alert.summary.id))
    }
}
