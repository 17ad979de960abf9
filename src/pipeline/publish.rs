//! What publishing a version involves whatever its hazard: deciding the next version of
//! an event against the stored one (an older forecast never replaces a newer alert), the
//! summary made from an [`AlertVersion`], the link to the alert page, and the stored record
//! (the GeoJSON document with the summary embedded under `alert`, and the CAP). Both
//! hazards publish through [`Pipeline::publish_next`] and [`Pipeline::publish_cancel`],
//! which commit each version with its subscribers' messages in one transaction
//! ([`Pipeline::commit_version`]): a flood version notifies exactly as a cyclone's does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Pipeline, ProcessError};
use crate::alerts::approval::{RuleHazard, VersionFacts};
use crate::alerts::levels::Level;
use crate::alerts::versioning::{self, AlertVersion, CapStatus, MsgType, PublishedDistrict};
use crate::notify::dispatch::plan_version;
use crate::notify::select::PublishedAlert;
use crate::store::approval::{AuditEntry, NewProposal, ProposalState};
use crate::store::{
    AlertSummary, AssessmentRecord, HazardKind, NewAlert, Reason, StoredIssuance, SummaryDistrict,
};

/// The next version to decide for one issuance.
pub(crate) struct NextVersion<'a> {
    pub event_id: String,
    /// The forecast's reference time: a version is published only when it is newer than
    /// the published one's.
    pub reference: DateTime<Utc>,
    /// Districts on the ladder in this assessment.
    pub districts: BTreeMap<String, PublishedDistrict>,
    pub status: CapStatus,
    /// What the issuance is, for the log ("flood forecast of 2025-09-25").
    pub what: &'a str,
}

/// A version ready to commit: the stored record (summary, document, CAP) and what the
/// subscribers' messages need of it.
pub(crate) type Built = (NewAlert, PublishedAlert);

impl Pipeline {
    /// Decides the next version of `n.event_id`, builds it with `make` and stores it with
    /// the issuance's `record` and the subscribers' messages, in one transaction. An
    /// issuance not newer than the published version, or with nothing to say, is stored
    /// without a version.
    pub(crate) fn publish_next(
        &self,
        iss: &StoredIssuance,
        record: AssessmentRecord,
        n: NextVersion<'_>,
        edit: Option<&super::EditCtx>,
        make: impl FnOnce(&AlertVersion, Option<&AlertSummary>) -> Result<Built, ProcessError>,
    ) -> Result<Vec<String>, ProcessError> {
        let prev = self.store.latest_version(&n.event_id)?;
        if let Some(p) = &prev
            && p.reference_time.is_some_and(|r| r >= n.reference)
        {
            if edit.is_some() {
                return Err(ProcessError::Publish(format!(
                    "{}: version {} published since is as new: edit the newer proposal",
                    n.what, p.id
                )));
            }
            // WARN: the feed served an older forecast than the one in force; kept, not
            // published, the alert in force stands.
            tracing::warn!(
                feed = %iss.raw.feed,
                forecast = n.what,
                published = %p.id,
                published_reference = %p.reference_time.map(|r| r.to_rfc3339()).unwrap_or_default(),
                "not newer than the published version: stored, not published"
            );
            self.store.complete_issuance(iss.id, &[record], &[])?;
            return Ok(Vec::new());
        }
        let version = versioning::decide(
            prev.as_ref().map(AlertSummary::published).as_ref(),
            n.event_id.clone(),
            n.districts,
            &self.cfg.service.sender,
            Utc::now(),
            n.status,
        )
        .map_err(|e| ProcessError::Publish(e.to_string()))?;
        let Some(v) = version else {
            if edit.is_some() {
                return Err(ProcessError::Publish(format!(
                    "{}: nothing to propose against the published version",
                    n.what
                )));
            }
            self.store.complete_issuance(iss.id, &[record], &[])?;
            // A newer forecast that changes nothing against the published version: a
            // proposal made from an older one must not be approved any more.
            if let Some(ap) = &self.approvals {
                let reason = format!(
                    "the newer {} changes nothing against the published version",
                    n.what
                );
                ap.supersede_open(&n.event_id, &reason, Utc::now())?;
            }
            return Ok(Vec::new());
        };
        let (alert, published) = make(&v, prev.as_ref())?;
        let id = alert.summary.id.clone();
        if let Some(e) = edit {
            self.commit_edit(e, &alert, &published)?;
            return Ok(Vec::new());
        }
        let committed = self.commit_version(
            Some((iss.id, std::slice::from_ref(&record))),
            &alert,
            &published,
        )?;
        committed.log(&id, v.msg_type, n.what, v.districts.len());
        Ok(committed.published().then_some(id).into_iter().collect())
    }

    /// Publishes (or proposes, under `[approval]`) the Cancel of the active event `s` (it
    /// left a healthy feed or expired), with its subscribers' all-clear messages: `make`
    /// builds the version from the event's last stored issuance, which gives the CAP its
    /// content. `None`: it waits for an approver.
    pub(crate) fn publish_cancel(
        &self,
        s: &AlertSummary,
        now: DateTime<Utc>,
        make: impl FnOnce(&StoredIssuance, &AlertVersion) -> Result<Built, ProcessError>,
    ) -> Result<Option<String>, ProcessError> {
        let iss = self
            .store
            .last_issuance_of_event(&s.event_id)?
            .ok_or_else(|| ProcessError::Publish(format!("{}: no stored issuance", s.event_id)))?;
        let v = versioning::decide(
            Some(&s.published()),
            s.event_id.clone(),
            BTreeMap::new(),
            &self.cfg.service.sender,
            now,
            s.status,
        )
        .map_err(|e| ProcessError::Publish(e.to_string()))?
        .ok_or_else(|| ProcessError::Publish(format!("{}: nothing to cancel", s.id)))?;
        let (alert, published) = make(&iss, &v)?;
        let alert = without_footprints(alert)?;
        let id = alert.summary.id.clone();
        let committed = self.commit_version(None, &alert, &published)?;
        let what = format!(
            "cancel of {}: {}",
            s.event_name,
            alert.summary.reason.as_deref().unwrap_or("no reason given")
        );
        committed.log(&id, MsgType::Cancel, &what, 0);
        Ok(committed.published().then_some(id))
    }

    /// Stores a version (with the assessment of the issuance it came from, if any) and,
    /// when subscribers are wired in, the messages it gives them, in ONE transaction — or,
    /// when the approval policy wants a person, stores it as a proposal that sends
    /// nothing (issue 13). A proposal identical to the event's newest one (open or
    /// rejected: a person said no to exactly this) is not made again.
    pub(crate) fn commit_version(
        &self,
        issuance: Option<(i64, &[AssessmentRecord])>,
        alert: &NewAlert,
        published: &PublishedAlert,
    ) -> Result<Committed, ProcessError> {
        let now = Utc::now();
        let Some(ap) = &self.approvals else {
            let planned = self.plan_messages(published)?;
            return Ok(Committed::Published {
                queued: self.store_version(issuance, alert, &planned, now)?,
                rule: None,
            });
        };
        let s = &alert.summary;
        let facts = VersionFacts {
            status: s.status,
            hazard: match s.hazard {
                HazardKind::TropicalCyclone => RuleHazard::TropicalCyclone,
                HazardKind::Flood => RuleHazard::Flood,
            },
            msg_type: s.msg_type,
            max_level: s.max_level,
        };
        if let Some(rule) = self.cfg.approval.auto_rule(&facts) {
            let plan = self.plan_or_hold(published)?;
            let planned = &plan.planned;
            let actor = format!("rule:{}", rule.name);
            let audit = AuditEntry::new(now, &actor, "auto_published", format!("alert {}", s.id))
                .of_alert(alert)
                .with_detail(serde_json::json!({
                    "event": s.event_id,
                    "msg_type": s.msg_type.as_str(),
                    "status": s.status.as_str(),
                    "max_level": s.max_level,
                    "messages_queued": planned.len(),
                    "messages_held": plan.held.as_ref().map(|h| h.1),
                }));
            let audit: Vec<AuditEntry> = std::iter::once(audit)
                .chain(plan.held_audit(alert, now))
                .collect();
            let queued = ap.publish_by_rule(issuance, alert, planned, &audit, now)?;
            return Ok(Committed::Published {
                queued,
                rule: Some(rule.name.clone()),
            });
        }
        let base = self.store.latest_version(&s.event_id)?.map(|p| p.id);
        if let Some(last) = ap.latest_proposal(&s.event_id)?
            && matches!(
                last.state,
                ProposalState::Proposed | ProposalState::Rejected
            )
            && last.base == base
            && same_content(&last.alert.summary, s)
        {
            if let Some((id, records)) = issuance {
                self.store.complete_issuance(id, records, &[])?;
            }
            return Ok(Committed::Unchanged {
                proposal: last.id,
                state: last.state,
            });
        }
        let proposal = NewProposal {
            alert,
            published,
            base: base.as_deref(),
            edited_by: None,
            issuance_id: None,
            overrides: &[],
        };
        Ok(Committed::Proposed {
            proposal: ap.propose(issuance, proposal, now)?,
        })
    }

    /// The subscribers' messages of a version (none without `[notify]` channels).
    pub(crate) fn plan_messages(
        &self,
        published: &PublishedAlert,
    ) -> Result<Vec<crate::notify::outbound::Planned>, ProcessError> {
        let Some(hook) = &self.notify else {
            return Ok(Vec::new());
        };
        let ncfg = &self.cfg.notify;
        let mut planned = if ncfg.any_channel_enabled() {
            plan_version(hook.store.as_ref(), published, ncfg, &hook.geometry)?
        } else {
            Vec::new()
        };
        planned.retain(|p| ncfg.channel_enabled(p.outbound.kind()));
        Ok(planned)
    }

    /// Publishes a version with its messages, without the approval policy.
    fn store_version(
        &self,
        issuance: Option<(i64, &[AssessmentRecord])>,
        alert: &NewAlert,
        planned: &[crate::notify::outbound::Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, ProcessError> {
        let alerts = std::slice::from_ref(alert);
        let Some(hook) = &self.notify else {
            match issuance {
                Some((id, records)) => self.store.complete_issuance(id, records, alerts)?,
                None => self.store.publish_alert(alert)?,
            }
            return Ok(0);
        };
        Ok(match issuance {
            Some((id, records)) => hook
                .store
                .complete_issuance_enqueue(id, records, alerts, planned, now)?,
            None => hook.store.publish_alert_enqueue(alert, planned, now)?,
        })
    }
}

/// What [`Pipeline::commit_version`] did with a version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Committed {
    /// Published with its messages (`rule`: the auto-publish rule that let it out).
    Published { queued: usize, rule: Option<String> },
    /// Stored as a proposal for an approver; nothing sent.
    Proposed { proposal: i64 },
    /// The event's newest proposal already says exactly this; nothing stored.
    Unchanged { proposal: i64, state: ProposalState },
}

impl Committed {
    pub(crate) fn published(&self) -> bool {
        matches!(self, Committed::Published { .. })
    }

    fn log(&self, id: &str, msg_type: MsgType, what: &str, districts: usize) {
        match self {
            Committed::Published { queued, rule } => tracing::info!(
                version = %id,
                msg_type = msg_type.as_str(),
                forecast = what,
                districts,
                queued,
                rule = rule.as_deref().unwrap_or("none"),
                "published"
            ),
            Committed::Proposed { proposal } => tracing::info!(
                version = %id,
                msg_type = msg_type.as_str(),
                forecast = what,
                districts,
                proposal,
                "proposed: waits for an approver, nothing sent"
            ),
            Committed::Unchanged { proposal, state } => tracing::info!(
                version = %id,
                forecast = what,
                proposal,
                state = state.as_str(),
                "not proposed again: the event's newest proposal says the same"
            ),
        }
    }
}

/// Whether two versions say the same: message type, forecast time and districts at the
/// same levels.
fn same_content(a: &AlertSummary, b: &AlertSummary) -> bool {
    let levels = |s: &AlertSummary| {
        s.districts
            .iter()
            .map(|d| (d.pcode.clone(), d.level))
            .collect::<Vec<_>>()
    };
    a.msg_type == b.msg_type && a.reference_time == b.reference_time && levels(a) == levels(b)
}

/// The Cancel of an event that expired, with a document that carries no footprint and no
/// district level: its last forecast is stale, and drawing it (swaths, districts coloured
/// at their old levels) would show a threat nobody forecasts any more. The document keeps
/// the summary (what is cleared, and why), the hazard and the last forecast's time; the
/// CAP, written from the last forecast re-assessed, is unchanged.
pub(super) fn without_footprints(alert: NewAlert) -> Result<NewAlert, ProcessError> {
    let s = &alert.summary;
    let aviso = serde_json::json!({
        "hazard": s.hazard,
        "cancelled": true,
        "last_forecast_reference_time": s.reference_time,
        "note": s.reason,
        "note_pt": s.reason_pt,
    });
    // An empty FeatureCollection, its metadata a foreign member (geojson writes it after
    // "features", as this document always had it).
    let fc = geojson::FeatureCollection {
        bbox: None,
        features: Vec::new(),
        foreign_members: Some(serde_json::Map::from_iter([("aviso".to_string(), aviso)])),
    };
    let doc = serde_json::to_value(&fc)
        .map_err(|e| ProcessError::Publish(format!("the cancel document: {e}")))?;
    stored_alert(alert.summary, doc, alert.cap)
}

/// What a summary needs beyond the version.
pub(crate) struct SummaryParts<'a> {
    pub hazard: HazardKind,
    pub event_name: String,
    pub reference_time: Option<chrono::DateTime<chrono::Utc>>,
    /// The assessment's event level (dropped for a Cancel).
    pub event_level: Option<Level>,
    /// The version before, whose districts a Cancel clears.
    pub prev: Option<&'a AlertSummary>,
    pub feed: &'a str,
    pub issuance_id: Option<i64>,
    /// Why a Cancel was issued without a new forecast.
    pub reason: Option<Reason>,
    /// The incident, when not the event itself (a flood following a cyclone).
    pub incident: Option<String>,
}

/// The summary of version `v` as the store and the API list it.
pub(crate) fn summary_of(v: &AlertVersion, p: SummaryParts<'_>) -> AlertSummary {
    let cancel = v.msg_type.withdraws();
    AlertSummary {
        id: v.identifier.clone(),
        event_id: v.event_id.clone(),
        version: v.version,
        msg_type: v.msg_type,
        status: v.status,
        hazard: p.hazard,
        event_name: p.event_name,
        sender: v.sender.clone(),
        sent: v.sent,
        reference_time: p.reference_time,
        max_level: if cancel { None } else { p.event_level },
        active: !cancel,
        references: v.references.clone(),
        districts: v
            .districts
            .iter()
            .map(|(pcode, d)| SummaryDistrict {
                pcode: pcode.clone(),
                name: d.name.clone(),
                province_pcode: d.province_pcode.clone(),
                level: d.level,
            })
            .collect(),
        cleared: match (cancel, p.prev) {
            (true, Some(prev)) => prev.districts.clone(),
            _ => Vec::new(),
        },
        changes: v.changes.clone(),
        feed: p.feed.to_string(),
        issuance_id: p.issuance_id,
        reason_pt: p.reason.as_ref().map(|r| r.pt.clone()),
        reason: p.reason.map(|r| r.en),
        incident: p.incident,
    }
}

/// The alert page of `id` under `public_url` (none when no public URL is configured).
pub(crate) fn web_link(public_url: &str, id: &str) -> Option<String> {
    (!public_url.is_empty()).then(|| format!("{}/?alert={id}", public_url.trim_end_matches('/')))
}

/// The record to store: `doc` with the summary embedded under "alert" (without "active",
/// which changes after publication and which the list answers), serialised, and the CAP.
pub(crate) fn stored_alert(
    summary: AlertSummary,
    mut doc: Value,
    cap: String,
) -> Result<NewAlert, ProcessError> {
    let mut embedded = crate::store::summary_json(&summary);
    if let Some(o) = embedded.as_object_mut() {
        o.remove("active");
    }
    if let Some(o) = doc.as_object_mut() {
        o.insert("alert".into(), embedded);
    }
    let document = serde_json::to_string(&doc)
        .map_err(|e| ProcessError::Publish(format!("{}: {e}", summary.id)))?;
    Ok(NewAlert {
        summary,
        document,
        cap,
    })
}
