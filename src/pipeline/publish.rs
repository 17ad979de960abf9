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
use crate::alerts::levels::Level;
use crate::alerts::versioning::{self, AlertVersion, CapStatus, MsgType, PublishedDistrict};
use crate::notify::select::PublishedAlert;
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
        make: impl FnOnce(&AlertVersion, Option<&AlertSummary>) -> Result<Built, ProcessError>,
    ) -> Result<Vec<String>, ProcessError> {
        let prev = self.store.latest_version(&n.event_id)?;
        if let Some(p) = &prev
            && p.reference_time.is_some_and(|r| r >= n.reference)
        {
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
            n.event_id,
            n.districts,
            &self.cfg.service.sender,
            Utc::now(),
            n.status,
        )
        .map_err(|e| ProcessError::Publish(e.to_string()))?;
        let Some(v) = version else {
            self.store.complete_issuance(iss.id, &[record], &[])?;
            return Ok(Vec::new());
        };
        let (alert, published) = make(&v, prev.as_ref())?;
        let id = alert.summary.id.clone();
        let queued = self.commit_version(
            Some((iss.id, std::slice::from_ref(&record))),
            &alert,
            &published,
        )?;
        tracing::info!(
            version = %id,
            msg_type = v.msg_type.as_str(),
            forecast = n.what,
            districts = v.districts.len(),
            queued,
            "published"
        );
        Ok(vec![id])
    }

    /// Publishes the Cancel of the active event `s` (it left a healthy feed or expired),
    /// with its subscribers' all-clear messages: `make` builds the version from the
    /// event's last stored issuance, which gives the CAP its content.
    pub(crate) fn publish_cancel(
        &self,
        s: &AlertSummary,
        now: DateTime<Utc>,
        make: impl FnOnce(&StoredIssuance, &AlertVersion) -> Result<Built, ProcessError>,
    ) -> Result<String, ProcessError> {
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
        let queued = self.commit_version(None, &alert, &published)?;
        tracing::info!(
            version = %id,
            msg_type = "Cancel",
            event = s.event_name.as_str(),
            reason = alert.summary.reason.as_deref().unwrap_or("no reason given"),
            queued,
            "published"
        );
        Ok(id)
    }
}

/// The Cancel of an event that expired, with a document that carries no footprint and no
/// district level: its last forecast is stale, and drawing it (swaths, districts coloured
/// at their old levels) would show a threat nobody forecasts any more. The document keeps
/// the summary (what is cleared, and why), the hazard and the last forecast's time; the
/// CAP, written from the last forecast re-assessed, is unchanged.
fn without_footprints(alert: NewAlert) -> Result<NewAlert, ProcessError> {
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
    let cancel = v.msg_type == MsgType::Cancel;
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
