//! Levels from probabilities that come after their version was published (issue 12,
//! item 4). A cyclone version waits at most `[probabilistic] publish_wait_s` for its
//! probabilities; when they are late it goes out on the official track's levels, keeping
//! the levels probability rules gave the previous version (`hold_while_pending`). When
//! they come, the levels are decided again as if they had been in time (the same previous
//! version for the margin): if they differ from what was sent (a probability rule RAISES
//! a district, or a held level is not borne out), a new version (CAP Update referencing
//! the one sent, with its subscribers' messages) is published through the normal
//! versioning and notification path; otherwise the probabilities are attached to the
//! version as an annex. What was sent is never rewritten.
//!
//! Wiring only: the decisions are `alerts::assess::{apply_probabilities,
//! hold_while_pending}` (pure).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use super::probabilistic::Shared;
use super::{Pipeline, ProcessError, published_alert};
use crate::alerts::assess::{Assessment, apply_probabilities};
use crate::alerts::levels::Level;
use crate::alerts::probabilistic::ProbabilisticOutcome;
use crate::alerts::versioning::{self, CapStatus};
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

/// Where a job's late result for the stored version `id` goes (from its own thread): with
/// a pipeline bound and level rules that name a probability, through
/// [`Pipeline::late_probabilities`] (one publication at a time with the pipeline's
/// issuances); otherwise attached only.
pub(super) fn deliver(
    shared: &Shared,
    pipeline: Option<Arc<Pipeline>>,
    id: &str,
    outcome: &ProbabilisticOutcome,
    late: Option<&LateLevels>,
) {
    match (pipeline, late) {
        (Some(p), Some(late)) => {
            let _one = p.process_lock.lock().unwrap_or_else(|e| e.into_inner());
            p.late_probabilities(id, outcome, late);
        }
        (None, Some(_)) if outcome.result().is_some() => {
            // WARN: a level the probabilities change waits for the next issuance.
            tracing::warn!(version = %id, "late probabilities: no pipeline bound to publish the levels they change; attached only");
            shared.attach_late(id, outcome, None);
        }
        _ => shared.attach_late(id, outcome, None),
    }
}

/// Levels per district P-code of a published version (a Cancel: none, it has no
/// districts).
pub(crate) fn levels_of(s: &AlertSummary) -> BTreeMap<String, Level> {
    if s.msg_type.withdraws() {
        return BTreeMap::new();
    }
    s.districts
        .iter()
        .map(|d| (d.pcode.clone(), d.level))
        .collect()
}

impl Pipeline {
    /// The districts whose level in the stored version `id` (its document as published)
    /// came from a probability rule (`level_basis` probability, held or held_pending),
    /// with that level. Empty when the version is absent or its document unreadable
    /// (logged): nothing is then held.
    pub(super) fn probability_levels_of(&self, id: &str) -> BTreeMap<String, Level> {
        let doc = match self.store.alert(id) {
            Ok(Some(rec)) => serde_json::from_str::<serde_json::Value>(&rec.document),
            Ok(None) => return BTreeMap::new(),
            Err(e) => {
                // WARN: the pending version shows the official levels only.
                tracing::warn!(version = %id, error = %e, "reading the previous version's levels failed");
                return BTreeMap::new();
            }
        };
        let Ok(doc) = doc else {
            tracing::warn!(version = %id, "the previous version's document is not JSON: no level held");
            return BTreeMap::new();
        };
        doc["features"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| &f["properties"])
            .filter(|p| p["layer"] == "district")
            .filter(|p| {
                matches!(
                    p["level_basis"].as_str(),
                    Some("probability" | "held" | "held_pending")
                )
            })
            .filter_map(|p| {
                let level = serde_json::from_value::<Level>(p["level"].clone()).ok()?;
                Some((p["pcode"].as_str()?.to_string(), level))
            })
            .collect()
    }

    /// Lets the probabilistic step publish the versions that late probabilities call for
    /// through this pipeline. [`Pipeline::run_feed`] and
    /// [`Pipeline::resume_pending_probabilities`] do it; a pipeline never bound attaches
    /// late probabilities only (and logs a WARN when they could change a level).
    pub fn bind(self: &Arc<Self>) {
        self.prob.bind(Arc::downgrade(self));
    }

    /// The late result `outcome` of version `id`: a new version when it changes a level,
    /// else (or when publishing fails) attached to `id`. The caller holds
    /// `process_lock`.
    pub(super) fn late_probabilities(
        &self,
        id: &str,
        outcome: &ProbabilisticOutcome,
        late: &LateLevels,
    ) {
        match self.publish_changed(id, outcome, late) {
            Ok(Some(next)) => self.prob.attach_late(id, outcome, Some(&next)),
            Ok(None) => self.prob.attach_late(id, outcome, None),
            Err(e) => {
                // ERROR: the changed levels are not published (the probabilities are
                // attached; the next issuance decides the levels again).
                tracing::error!(version = %id, error = %e, "publishing the levels changed by late probabilities failed");
                self.prob.attach_late(id, outcome, None);
            }
        }
    }

    /// Publishes the Update the late probabilities of `id` call for, if any: only when
    /// `id` is still the event's newest version and its levels differ from those the
    /// probabilities give: a probability rule raises a district, or a level held while
    /// they were pending (`hold_while_pending`) is not borne out (the only way a late
    /// result can lower a level: what was sent otherwise is the official floor).
    fn publish_changed(
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
        if latest.id != id || latest.msg_type.withdraws() {
            // A newer version (or its Cancel) already said what holds now.
            tracing::info!(version = %id, newest = %latest.id, "late probabilities of a superseded version: attached only");
            return Ok(None);
        }
        let mut a = (*late.assessment).clone();
        apply_probabilities(&mut a, &self.cfg.levels, result, &late.previous);
        // A manual override still holds over the probabilities (issue 13).
        let applied = self.apply_overrides(&late.event_id, &mut a, None)?;
        let sent = levels_of(&latest);
        let now: BTreeMap<&String, Level> = a.levels.iter().map(|(p, l)| (p, l.level)).collect();
        let name = |pcode: &String| {
            a.exposure
                .districts
                .iter()
                .find(|d| &d.pcode == pcode)
                .map(|d| d.name.clone())
                .or_else(|| {
                    latest
                        .districts
                        .iter()
                        .find(|d| &d.pcode == pcode)
                        .map(|d| d.name.clone())
                })
                .unwrap_or_else(|| pcode.clone())
        };
        let mut changed: Vec<(String, Option<Level>, Option<Level>)> = Vec::new();
        for pcode in sent.keys().chain(now.keys().copied()) {
            let (old, new) = (sent.get(pcode).copied(), now.get(pcode).copied());
            if old != new && !changed.iter().any(|c| &c.0 == pcode) {
                changed.push((pcode.clone(), old, new));
            }
        }
        if changed.is_empty() {
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
            changed
                .iter()
                .map(|(pcode, old, new)| {
                    let old = old.map_or("-", |l| l.name(lang));
                    let new = new.map_or("-", |l| l.name(lang));
                    format!("{} {old} → {new}", name(pcode))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let reason = Reason {
            en: format!(
                "the probabilities of version {id} came after it was sent and change the levels: {}",
                list(crate::domain::Lang::En)
            ),
            pt: format!(
                "as probabilidades da versão {id} chegaram depois do envio e mudam os níveis: {}",
                list(crate::domain::Lang::Pt)
            ),
        };
        let alert = self.new_alert(
            &a,
            &v,
            Some(&latest),
            (&late.feed, Some(late.issuance_id)),
            Some(reason),
            outcome,
            &applied,
        )?;
        let mut published = published_alert(&v, &a);
        published.instruction = applied.instruction.clone();
        let committed = self.commit_version(None, &alert, &published)?;
        tracing::info!(
            version = %alert.summary.id,
            msg_type = v.msg_type.as_str(),
            references = %id,
            changed = changed.len(),
            outcome = ?committed,
            "late probabilities change levels"
        );
        Ok(committed.published().then_some(alert.summary.id))
    }
}

impl Pipeline {
    /// What a late result of the stored version `s` needs to decide its levels: the
    /// official track's assessment of its issuance again, and the levels of the version
    /// before it (named in `s.references`). `None` when no rule names a probability or the
    /// assessment fails (the result is then attached only; logged).
    pub(super) fn late_levels_of(
        &self,
        s: &crate::store::AlertSummary,
        forecast: &crate::domain::Forecast,
        issuance_id: i64,
    ) -> Option<Arc<LateLevels>> {
        if !self.cfg.levels.has_probability_rules() {
            return None;
        }
        let a = match crate::alerts::assess::assess(
            forecast,
            &self.layers,
            self.cfg.assessment(),
            Utc::now(),
        ) {
            Ok(a) => a,
            Err(e) => {
                // WARN: the resumed probabilities are attached only.
                tracing::warn!(version = %s.id, error = %e, "assessing the pending version again failed");
                return None;
            }
        };
        // CAP references: "sender,identifier,sent".
        let before = s
            .references
            .as_deref()
            .and_then(|r| r.split(',').nth(1))
            .and_then(|id| self.store.alert(id).ok().flatten());
        Some(Arc::new(LateLevels {
            assessment: Arc::new(a),
            previous: before.map(|b| levels_of(&b.summary)).unwrap_or_default(),
            event_id: s.event_id.clone(),
            feed: s.feed.clone(),
            issuance_id,
            status: s.status,
        }))
    }
}
