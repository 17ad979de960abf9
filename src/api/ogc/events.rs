//! Which alerts the alert collections are drawn from. By default the current alert: the
//! newest active Actual version (`store::published`). With `event` and/or `status` on an
//! items request (issue 14 item 6), any active event, or all of them at once:
//! - `event=<event_id>`: that event's newest version;
//! - `event=all`: every active event (a cyclone and a flood can be active together), each
//!   feature tagged with `event_id` and `alert_id` and its id prefixed `<event_id>:`;
//! - `status=Exercise` or `Test`: exercises and tests, which are never "current" (the
//!   demo's alerts are exercises). Default Actual.
//!
//! Read from the store, so only `aviso serve` offers them; drawn collections are kept per
//! set of versions (and annexes), so paging through one selection draws it once.

use std::sync::Arc;

use super::AlertCollections;
use crate::alerts::versioning::CapStatus;
use crate::api::{ApiError, ApiState, store_call};
use crate::store::{AlertFilter, AlertRecord};

/// How many drawn selections are kept (each is a few MB of rendered features).
const KEPT: usize = 4;

/// An items request's choice of alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    /// `None` or `Some("all")`: every active event.
    event: Option<String>,
    status: CapStatus,
}

impl Selection {
    /// `None` when the request names neither `event` nor `status` (the current alert).
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Option<Selection>, ApiError> {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (event, status) = (get("event"), get("status"));
        if event.is_none() && status.is_none() {
            return Ok(None);
        }
        let status = match status {
            None | Some("Actual") => CapStatus::Actual,
            Some("Exercise") => CapStatus::Exercise,
            Some("Test") => CapStatus::Test,
            Some(other) => {
                return Err(ApiError::invalid(
                    "status",
                    "Actual, Exercise or Test",
                    other,
                ));
            }
        };
        if let Some(e) = event
            && (e.is_empty() || e.len() > 200)
        {
            return Err(ApiError::invalid(
                "event",
                "an event id (as listed at /api/events) or all",
                e,
            ));
        }
        Ok(Some(Selection {
            event: event.filter(|e| *e != "all").map(str::to_string),
            status,
        }))
    }
}

impl Selection {
    /// Whether features of several events are served together (`event=all`, or only a
    /// `status`): their ids are then prefixed by their event.
    pub(crate) fn many(&self) -> bool {
        self.event.is_none()
    }

    /// The named event, if one.
    pub(crate) fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }
}

/// The stored versions `sel` names, newest first: each active event's newest version of
/// the chosen status.
pub(crate) async fn selected_records(
    state: &Arc<ApiState>,
    sel: &Selection,
) -> Result<Vec<AlertRecord>, ApiError> {
    if state.store.is_none() {
        return Err(ApiError::invalid(
            "event",
            "no event or status here: this server serves one alert file (aviso serve-layers); \
             aviso serve offers every active event",
            sel.event.as_deref().unwrap_or("all"),
        ));
    }
    let filter = AlertFilter {
        active_only: true,
        event_id: sel.event.clone(),
        include_non_actual: sel.status != CapStatus::Actual,
        ..AlertFilter::default()
    };
    let status = sel.status;
    let versions = store_call(state, move |s| {
        let mut out = Vec::new();
        for summary in s.alerts(&filter)? {
            if summary.status != status {
                continue;
            }
            if let Some(rec) = s.alert(&summary.id)? {
                out.push(rec);
            }
        }
        Ok(out)
    })
    .await?;
    if let Some(e) = &sel.event
        && versions.is_empty()
    {
        return Err(ApiError::NotFound {
            what: format!(
                "active event '{e}' with status {} (see /api/events)",
                sel.status.as_str()
            ),
        });
    }
    Ok(versions)
}

/// The collections of the alerts `sel` names, from the store.
pub(crate) async fn selected(
    state: &Arc<ApiState>,
    sel: &Selection,
) -> Result<Arc<AlertCollections>, ApiError> {
    let versions: Vec<(String, String, String)> = selected_records(state, sel)
        .await?
        .into_iter()
        .map(|rec| {
            let key = format!("{}+{}", rec.summary.id, rec.annex.is_some());
            let text = rec.current_document().to_string();
            (key, rec.summary.id, text)
        })
        .collect();
    let key = format!(
        "{}|{}",
        sel.event.is_none(),
        versions
            .iter()
            .map(|(k, _, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    if let Some(hit) = state.drawn_selection(&key) {
        return Ok(hit);
    }
    let docs = versions
        .into_iter()
        .map(|(_, id, text)| {
            serde_json::from_str(&text)
                .map(|doc| (doc, id.clone()))
                .map_err(|e| ApiError::AlertDocument {
                    origin: id,
                    message: format!("the stored document is not JSON: {e}"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let drawn = Arc::new(AlertCollections::from_documents(docs, sel.event.is_none())?);
    state.keep_selection(key, Arc::clone(&drawn), KEPT);
    Ok(drawn)
}
