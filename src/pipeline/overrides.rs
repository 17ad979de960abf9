//! Manual overrides in the pipeline (issue 13). An editor's edit of an open proposal
//! records the overrides and rebuilds the proposal from its issuance, through the same
//! path as an automatic run (assessment, versioning, document, CAP, messages) with the
//! overridden levels applied before anything is built, so the alert, the CAP and the SMS
//! agree; the new proposal names the editor (four eyes). Every later automatic proposal of
//! the event applies the active overrides the same way, so an override survives the next
//! issuance until it expires or an approver lifts it.

use std::cell::Cell;
use std::collections::BTreeMap;

use super::*;
use crate::alerts::approval::{ProposalEdit, Refusal};
use crate::alerts::assess::DistrictLevel;
use crate::alerts::levels::{Level, LevelBasis};
use crate::store::HazardKind;
use crate::store::approval::{NewOverride, ProposalState};

/// Largest free-text reason or instruction, in characters.
pub const MAX_EDIT_TEXT: usize = 1000;

/// An edit under way: who, the overrides it sets, its instruction, and the proposal it
/// made.
pub(crate) struct EditCtx {
    pub actor: String,
    pub set: Vec<NewOverride>,
    pub issuance_id: i64,
    pub made: Cell<Option<i64>>,
}

/// One override as applied to a version.
#[derive(Debug, Clone)]
pub(crate) struct AppliedOverride {
    /// `None`: set by the edit being made (its id comes with the commit).
    pub id: Option<i64>,
    pub level: Level,
    pub reason: String,
    pub by: String,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    /// The level the forecast gave (`None`: off the ladder).
    pub automatic: Option<Level>,
}

/// The overrides applied to a version and the instruction that goes with them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    pub districts: BTreeMap<String, AppliedOverride>,
    /// `[pt, en]`.
    pub instruction: Option<[String; 2]>,
}

impl Applied {
    /// Writes the overrides into the alert document: each overridden district feature
    /// (`district`, or `flood_district` in a flood alert) gets `override` (id, reason, who, expiry, the automatic level), and the document's
    /// `aviso` metadata the list and the instruction.
    pub(crate) fn patch(&self, doc: &mut Value) {
        if self.districts.is_empty() && self.instruction.is_none() {
            return;
        }
        let view = |pcode: &str, o: &AppliedOverride| {
            json!({
                "id": o.id, "pcode": pcode, "level": o.level, "reason": o.reason,
                "by": o.by, "expires_at": o.expires_at, "automatic_level": o.automatic,
            })
        };
        if let Some(features) = doc.get_mut("features").and_then(Value::as_array_mut) {
            for f in features {
                let Some(props) = f.get_mut("properties").and_then(Value::as_object_mut) else {
                    continue;
                };
                // A cyclone's districts, or a flood's.
                let layer = props.get("layer").and_then(Value::as_str);
                if !matches!(layer, Some("district" | "flood_district")) {
                    continue;
                }
                let pcode = props
                    .get("pcode")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(o) = self.districts.get(pcode) {
                    let v = view(pcode, o);
                    props.insert("override".into(), v);
                }
            }
        }
        if let Some(meta) = doc.get_mut("aviso").and_then(Value::as_object_mut) {
            let list: Vec<Value> = self.districts.iter().map(|(p, o)| view(p, o)).collect();
            meta.insert("overrides".into(), Value::Array(list));
            if let Some([pt, en]) = &self.instruction {
                meta.insert("instruction_pt".into(), json!(pt));
                meta.insert("instruction_en".into(), json!(en));
            }
        }
    }
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Pipeline {
    /// Applies the event's active overrides (and those `edit` is setting, which come
    /// first) to the assessment's levels; returns what was applied.
    pub(crate) fn apply_overrides(
        &self,
        event_id: &str,
        a: &mut Assessment,
        edit: Option<&EditCtx>,
    ) -> Result<Applied, ProcessError> {
        let applied = self.overrides_for(event_id, edit, |pcode, level| {
            let before = a.levels.get(pcode);
            let (automatic, rule) = (before.map(|l| l.level), before.map_or(0, |l| l.rule));
            a.levels.insert(
                pcode.to_string(),
                DistrictLevel {
                    level,
                    rule,
                    basis: LevelBasis::Override,
                },
            );
            automatic
        })?;
        if !applied.districts.is_empty() {
            a.event_level = a.levels.values().map(|l| l.level).max();
        }
        Ok(applied)
    }

    /// The event's active overrides (those `edit` is setting first; newest first, a later
    /// one of a district wins), each handed to `set` (P-code, level; it returns the level
    /// the forecast gave), with the instruction that goes with them. Hazard-agnostic: the
    /// cyclone and the flood paths apply them to their own levels.
    pub(crate) fn overrides_for(
        &self,
        event_id: &str,
        edit: Option<&EditCtx>,
        mut set: impl FnMut(&str, Level) -> Option<Level>,
    ) -> Result<Applied, ProcessError> {
        let Some(ap) = &self.approvals else {
            return Ok(Applied::default());
        };
        let now = Utc::now();
        let mut list: Vec<(Option<i64>, NewOverride)> = edit
            .map(|e| e.set.iter().map(|o| (None, o.clone())).collect())
            .unwrap_or_default();
        list.extend(
            ap.overrides(Some(event_id))?
                .into_iter()
                .filter(|o| o.active_at(now))
                .map(|o| (Some(o.id), o.set)),
        );
        let mut applied = Applied::default();
        for (id, o) in list {
            if applied.instruction.is_none()
                && (nonempty(&o.instruction_pt).is_some() || nonempty(&o.instruction_en).is_some())
            {
                applied.instruction = Some([
                    nonempty(&o.instruction_pt).unwrap_or_default().to_string(),
                    nonempty(&o.instruction_en).unwrap_or_default().to_string(),
                ]);
            }
            if applied.districts.contains_key(&o.pcode) {
                continue;
            }
            let automatic = set(&o.pcode, o.level);
            applied.districts.insert(
                o.pcode,
                AppliedOverride {
                    id,
                    level: o.level,
                    reason: o.reason,
                    by: o.created_by,
                    expires_at: o.expires_at,
                    automatic,
                },
            );
        }
        Ok(applied)
    }

    /// Edits open proposal `id` as `actor`: records the overrides and makes a new
    /// proposal of the event, rebuilt from the same issuance with them (superseding the
    /// edited one), edited by `actor`. Returns the new proposal's id, or why not.
    pub fn edit(
        &self,
        id: i64,
        actor: &str,
        edit: &ProposalEdit,
    ) -> Result<Result<i64, Refusal>, ProcessError> {
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let Some(ap) = &self.approvals else {
            return Err(ProcessError::Publish(
                "the approval workflow is not wired in this process".into(),
            ));
        };
        let Some(p) = ap.proposal(id)? else {
            return Ok(Err(Refusal::NotFound { id }));
        };
        if p.state != ProposalState::Proposed {
            let hint = p
                .superseded_by
                .map(|n| format!(" (proposal {n} replaced it)"))
                .unwrap_or_default();
            return Ok(Err(Refusal::NotOpen {
                id,
                state: p.state,
                hint,
            }));
        }
        let s = &p.alert.summary;
        let bad = |field: &str, message: String| {
            Ok(Err(Refusal::BadEdit {
                field: field.to_string(),
                message,
            }))
        };
        if s.msg_type.withdraws() {
            return bad(
                "proposal",
                format!(
                    "proposal {id} is a {:?}: only an Alert or Update can be edited",
                    s.msg_type
                ),
            );
        }
        let Some(issuance_id) = p.issuance_id else {
            return bad(
                "proposal",
                format!("proposal {id} has no issuance to rebuild it from"),
            );
        };
        if edit.districts.is_empty() {
            return bad(
                "districts",
                "expected at least one district (an instruction goes with the districts it \
                 is for; to keep a level, give it as it is with a reason)"
                    .into(),
            );
        }
        for (field, text) in [
            ("instruction_pt", &edit.instruction_pt),
            ("instruction_en", &edit.instruction_en),
        ] {
            if text
                .as_ref()
                .is_some_and(|t| t.chars().count() > MAX_EDIT_TEXT)
            {
                return bad(field, format!("longer than {MAX_EDIT_TEXT} characters"));
            }
        }
        let now = Utc::now();
        let mut set = Vec::new();
        for (i, d) in edit.districts.iter().enumerate() {
            let at = format!("districts[{i}]");
            if !self
                .layers
                .layers
                .districts
                .iter()
                .any(|x| x.pcode == d.pcode)
            {
                return bad(
                    &format!("{at}.pcode"),
                    format!("unknown district P-code {:?}", d.pcode),
                );
            }
            if d.reason.trim().is_empty() {
                return bad(
                    &format!("{at}.reason"),
                    format!("a reason is required to override {}", d.pcode),
                );
            }
            if d.reason.chars().count() > MAX_EDIT_TEXT {
                return bad(
                    &format!("{at}.reason"),
                    format!("longer than {MAX_EDIT_TEXT} characters"),
                );
            }
            if d.expires_at.is_some_and(|e| e <= now) {
                return bad(
                    &format!("{at}.expires_at"),
                    "expected a time in the future".into(),
                );
            }
            if edit.districts[..i].iter().any(|x| x.pcode == d.pcode) {
                return bad(&format!("{at}.pcode"), format!("{} given twice", d.pcode));
            }
            set.push(NewOverride {
                event_id: s.event_id.clone(),
                pcode: d.pcode.clone(),
                level: d.level,
                reason: d.reason.trim().to_string(),
                instruction_pt: nonempty(&edit.instruction_pt).map(str::to_string),
                instruction_en: nonempty(&edit.instruction_en).map(str::to_string),
                created_by: actor.to_string(),
                expires_at: d.expires_at,
            });
        }
        let iss = self.store.issuance(issuance_id)?.ok_or_else(|| {
            ProcessError::Publish(format!(
                "proposal {id}: its issuance {issuance_id} is not stored"
            ))
        })?;
        let ctx = EditCtx {
            actor: actor.to_string(),
            set,
            issuance_id,
            made: Cell::new(None),
        };
        let rebuilt = match s.hazard {
            HazardKind::TropicalCyclone => self.process_cyclone(&iss, Some(&ctx)),
            HazardKind::Flood => self.process_flood(&iss, Some(&ctx)),
        };
        // A forecast grown older than the limit while the proposal waited: the edit is
        // refused naming the limit (the proposal itself stays as it is).
        if let Err(ProcessError::Stale(m)) = rebuilt {
            return bad("proposal", format!("proposal {id} cannot be rebuilt: {m}"));
        }
        rebuilt?;
        let made = ctx.made.get().ok_or_else(|| {
            ProcessError::Publish(format!("proposal {id}: the edit made no proposal"))
        })?;
        tracing::info!(
            proposal = id,
            new_proposal = made,
            editor = actor,
            "proposal edited"
        );
        Ok(Ok(made))
    }

    /// Stores the proposal an edit rebuilt, with its overrides, edited by its editor.
    pub(crate) fn commit_edit(
        &self,
        e: &EditCtx,
        alert: &NewAlert,
        published: &PublishedAlert,
    ) -> Result<i64, ProcessError> {
        let ap = self.approvals.as_ref().ok_or_else(|| {
            ProcessError::Publish("the approval workflow is not wired in this process".into())
        })?;
        let base = self
            .store
            .latest_version(&alert.summary.event_id)?
            .map(|p| p.id);
        let id = ap.propose(
            None,
            crate::store::approval::NewProposal {
                alert,
                published,
                base: base.as_deref(),
                edited_by: Some(&e.actor),
                issuance_id: Some(e.issuance_id),
                overrides: &e.set,
            },
            Utc::now(),
        )?;
        e.made.set(Some(id));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_each_override_on_its_district_and_the_instruction_in_its_metadata() {
        let mut doc = json!({
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"layer": "district", "pcode": "MZ1103", "level": "red"}},
                {"type": "Feature", "properties": {"layer": "district", "pcode": "MZ1107", "level": "yellow"}},
                {"type": "Feature", "properties": {"layer": "cone"}},
            ],
            "aviso": {"hazard": "tropical_cyclone"},
        });
        let mut applied = Applied::default();
        applied.districts.insert(
            "MZ1103".into(),
            AppliedOverride {
                id: Some(4),
                level: Level::Red,
                reason: "cheias em curso".into(),
                by: "duty-officer".into(),
                expires_at: None,
                automatic: Some(Level::Orange),
            },
        );
        applied.instruction = Some(["Evacuem.".into(), "Evacuate.".into()]);
        applied.patch(&mut doc);
        let f = &doc["features"];
        assert_eq!(f[0]["properties"]["override"]["reason"], "cheias em curso");
        assert_eq!(f[0]["properties"]["override"]["automatic_level"], "orange");
        assert_eq!(f[0]["properties"]["override"]["id"], 4);
        assert!(f[1]["properties"].get("override").is_none(), "{doc}");
        assert!(f[2]["properties"].get("override").is_none(), "{doc}");
        assert_eq!(doc["aviso"]["overrides"][0]["pcode"], "MZ1103");
        assert_eq!(doc["aviso"]["instruction_pt"], "Evacuem.");
        assert_eq!(doc["aviso"]["instruction_en"], "Evacuate.");

        // Nothing applied: the document is left exactly as it was.
        let before = doc.clone();
        Applied::default().patch(&mut doc);
        assert_eq!(doc, before);
    }
}
