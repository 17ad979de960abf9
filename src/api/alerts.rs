//! The alert API: published versions from the store as JSON lists, GeoJSON documents, CAP
//! 1.2 XML, per-event histories and an Atom feed. Reads the store only; never calls a feed.
//!
//! Test, Exercise and Draft versions are left out unless `include_tests=true` is asked
//! for, and never appear in the Atom feed (the public one).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::json;

use super::ogc::{MEDIA_JSON, base_url, query_pairs, respond};
use super::{ApiError, ApiState};
use crate::alerts::levels::Level;
use crate::store::{AlertFilter, AlertSummary, summary_json};

/// Most entries in one `/api/alerts` answer, and the default.
pub const MAX_LIST: usize = 1000;
pub const DEFAULT_LIST: usize = 100;
/// Entries in the Atom feed.
pub const ATOM_ENTRIES: usize = 50;

const MEDIA_CAP: &str = "application/cap+xml";
const MEDIA_ATOM: &str = "application/atom+xml";

fn parse_bool(q: &HashMap<String, String>, key: &str) -> Result<bool, ApiError> {
    match q.get(key).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ApiError::invalid(key, "true or false", other)),
    }
}

fn parse_pcode(q: &HashMap<String, String>, key: &str) -> Result<Option<String>, ApiError> {
    match q.get(key) {
        None => Ok(None),
        Some(p) if (2..=16).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Ok(Some(p.to_ascii_uppercase()))
        }
        Some(p) => Err(ApiError::invalid(
            key,
            "a P-code such as MZ09 (province) or MZ0910 (district)",
            p,
        )),
    }
}

/// The filter of `/api/alerts` from its query.
pub fn filter_from_query(q: &HashMap<String, String>) -> Result<(AlertFilter, usize), ApiError> {
    let active_only = match q.get("status").map(String::as_str) {
        None | Some("active") => true,
        Some("all") => false,
        Some(other) => return Err(ApiError::invalid("status", "active or all", other)),
    };
    let min_level = match q.get("level") {
        None => None,
        Some(l) => Some(
            Level::ALL
                .into_iter()
                .find(|x| x.name_en() == l.as_str() || x.name_pt() == l.as_str())
                .ok_or_else(|| ApiError::invalid("level", "green, yellow, orange or red", l))?,
        ),
    };
    let since = match q.get("since") {
        None => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    ApiError::invalid("since", "an RFC 3339 time like 2023-03-10T00:00:00Z", s)
                })?
                .with_timezone(&Utc),
        ),
    };
    let event_id = match q.get("event") {
        None => None,
        Some(e) if !e.is_empty() && e.len() <= 200 => Some(e.clone()),
        Some(e) => return Err(ApiError::invalid("event", "an event id", e)),
    };
    let limit = match q.get("limit") {
        None => DEFAULT_LIST,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIST).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    &format!("an integer from 1 to {MAX_LIST}"),
                    l,
                ));
            }
        },
    };
    Ok((
        AlertFilter {
            active_only,
            event_id,
            province_pcode: parse_pcode(q, "province")?,
            district_pcode: parse_pcode(q, "district")?,
            min_level,
            since,
            include_non_actual: parse_bool(q, "include_tests")?,
        },
        limit,
    ))
}

/// `GET /api/alerts`.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", operation_id = "listAlerts",
    summary = "Published alert versions",
    description = "Active versions (the latest of each event not cancelled) unless status=all.",
    params(
        ("status" = Option<String>, Query, description = "active (default) or all"),
        ("event" = Option<String>, Query, description = "An event id"),
        ("province" = Option<String>, Query, description = "An ADM1 P-code, e.g. MZ11"),
        ("district" = Option<String>, Query, description = "An ADM2 P-code, e.g. MZ1103"),
        ("level" = Option<String>, Query, description = "At least this level: green, yellow, orange or red"),
        ("since" = Option<String>, Query, format = DateTime, description = "Sent at or after (RFC 3339)"),
        ("include_tests" = Option<bool>, Query, description = "Also Test and Exercise versions (default false)"),
        ("limit" = Option<u32>, Query, minimum = 1, description = "Versions in the answer")),
    responses(
        (status = 200, description = "alerts, count, matched", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter (named)", body = super::Exception),
        (status = 404, description = "No alert store (layers only)", body = super::Exception)))]
pub(crate) async fn list(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_pairs(
        q,
        &[
            "status",
            "event",
            "province",
            "district",
            "level",
            "since",
            "include_tests",
            "limit",
        ],
    )?;
    let (filter, limit) = filter_from_query(&q)?;
    let alerts = super::store_call(&state, move |s| s.alerts(&filter)).await?;
    let matched = alerts.len();
    let list: Vec<_> = alerts.iter().take(limit).map(summary_json).collect();
    Ok(respond(
        StatusCode::OK,
        MEDIA_JSON,
        &json!({"alerts": list, "count": list.len(), "matched": matched}),
    ))
}

/// Ids are CAP identifiers: letters, digits, `-`, `_`, `.` (see `versioning::sanitise`).
fn check_id(id: &str, what: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > 200
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::invalid(
            what,
            "an id of letters, digits, '-', '_' or '.'",
            id,
        ));
    }
    Ok(())
}

/// `GET /api/alerts/{id}`: the GeoJSON document as published, or with the probabilities
/// attached after publication once they are ready.
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "alerts", operation_id = "getAlert",
    summary = "One alert version: the GeoJSON document",
    params(("id" = String, Path, description = "The version's CAP identifier")),
    responses(
        (status = 200, description = "The alert document, the version summary under `alert`; with the probabilities attached after publication once they are ready", content_type = "application/geo+json", body = Object),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A malformed id", body = super::Exception),
        (status = 404, description = "Unknown alert", body = super::Exception)))]
pub(crate) async fn document(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = id.strip_suffix(".geojson").unwrap_or(&id).to_string();
    check_id(&id, "alert id")?;
    let key = id.clone();
    let doc = super::store_call(&state, move |s| s.alert_document(&key))
        .await?
        .ok_or_else(|| not_found(&id))?;
    // A version never changes once published; its document is served again once, with
    // the probabilities attached after publication (issue 12): ServedDocument::etag.
    let etag = doc.etag();
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/geo+json".to_string()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        doc.body,
    )
        .into_response())
}

/// `GET /api/alerts/{id}/cap`: CAP 1.2 XML.
#[utoipa::path(get, path = "/api/alerts/{id}/cap", tag = "alerts", operation_id = "getAlertCap",
    summary = "One alert version as CAP 1.2",
    params(("id" = String, Path, description = "The version's CAP identifier")),
    responses(
        (status = 200, description = "CAP 1.2 XML, one info per language", content_type = "application/cap+xml", body = String),
        (status = 400, description = "A malformed id", body = super::Exception),
        (status = 404, description = "Unknown alert", body = super::Exception)))]
pub(crate) async fn cap(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_id(&id, "alert id")?;
    let key = id.clone();
    let cap = super::store_call(&state, move |s| s.alert_cap(&key))
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, MEDIA_CAP)], cap).into_response())
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        what: format!("alert '{id}'"),
    }
}

/// The stored version `id` (checked), or a 404 naming it.
pub(crate) async fn record(
    state: &ApiState,
    id: String,
) -> Result<crate::store::AlertRecord, ApiError> {
    check_id(&id, "alert id")?;
    let key = id.clone();
    super::store_call(state, move |s| s.alert(&key))
        .await?
        .ok_or_else(|| not_found(&id))
}

/// `GET /api/events`.
#[utoipa::path(get, path = "/api/events", tag = "alerts", operation_id = "listEvents",
    summary = "Events (storms, floods)",
    params(("include_tests" = Option<bool>, Query, description = "Also Test and Exercise versions (default false)")),
    responses(
        (status = 200, description = "The events", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter", body = super::Exception),
        (status = 404, description = "No alert store", body = super::Exception)))]
pub(crate) async fn events(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_pairs(q, &["include_tests"])?;
    let include = parse_bool(&q, "include_tests")?;
    let events = super::store_call(&state, move |s| s.events(include)).await?;
    let list: Vec<_> = events
        .iter()
        .map(|e| {
            json!({
                "event_id": e.event_id,
                "event_name": e.event_name,
                "hazard": e.hazard,
                "incident": e.latest.incident_id(),
                "active": e.active,
                "versions": e.versions,
                "latest": summary_json(&e.latest),
                "links": {"self": format!("/api/events/{}", e.event_id)},
            })
        })
        .collect();
    Ok(respond(
        StatusCode::OK,
        MEDIA_JSON,
        &json!({"events": list}),
    ))
}

/// `GET /api/events/{id}`: every version of the event, oldest first.
#[utoipa::path(get, path = "/api/events/{id}", tag = "alerts", operation_id = "getEvent",
    summary = "One event and its versions, oldest first",
    params(("id" = String, Path, description = "The event id")),
    responses(
        (status = 200, description = "The event", content_type = "application/json", body = Object),
        (status = 400, description = "A malformed id", body = super::Exception),
        (status = 404, description = "Unknown event", body = super::Exception)))]
pub(crate) async fn event(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_id(&id, "event id")?;
    let key = id.clone();
    let (versions, events) = super::store_call(&state, move |s| {
        Ok((s.event_versions(&key)?, s.events(true)?))
    })
    .await?;
    let Some(latest) = versions.last() else {
        return Err(ApiError::NotFound {
            what: format!("event '{id}'"),
        });
    };
    // The other events of the same incident: a cyclone's floods, a flood's cyclone.
    let incident = latest.incident_id();
    let related: Vec<_> = events
        .iter()
        .filter(|e| e.event_id != id)
        .filter(|e| e.latest.incident_id() == incident || e.event_id == incident)
        .map(|e| {
            json!({
                "event_id": e.event_id,
                "event_name": e.event_name,
                "hazard": e.hazard,
                "active": e.active,
                "latest": e.latest.id,
                "links": {"self": format!("/api/events/{}", e.event_id)},
            })
        })
        .collect();
    Ok(respond(
        StatusCode::OK,
        MEDIA_JSON,
        &json!({
            "event_id": id,
            "event_name": latest.event_name,
            "hazard": latest.hazard,
            "incident": incident,
            "related_events": related,
            "active": latest.active,
            "versions": versions.iter().map(summary_json).collect::<Vec<_>>(),
        }),
    ))
}

/// The headline of a version in Portuguese (the Atom title).
pub fn headline_pt(s: &AlertSummary) -> String {
    let label = s
        .status
        .label()
        .map(|(pt, _)| format!("{pt}: "))
        .unwrap_or_default();
    let what = match s.hazard {
        crate::store::HazardKind::TropicalCyclone => "Ciclone tropical",
        crate::store::HazardKind::Flood => "Cheia",
    };
    let level = match (s.msg_type, s.max_level) {
        // Issue 13: withdrawn by an approver as sent in error.
        (crate::alerts::versioning::MsgType::Error, _) => "alerta retirado (erro)".into(),
        (_, Some(l)) => format!("alerta {}", l.name_pt()),
        (_, None) => "fim do alerta".into(),
    };
    format!(
        "{label}{what} {}: {level} ({} distritos), versão {}",
        s.event_name,
        s.districts.len(),
        s.version
    )
}

/// `GET /api/alerts.atom`: the public feed of the latest Actual versions.
#[utoipa::path(get, path = "/api/alerts.atom", tag = "alerts", operation_id = "getAlertsAtom",
    summary = "Atom feed of Actual versions",
    responses(
        (status = 200, description = "Atom 1.0", content_type = "application/atom+xml", body = String),
        (status = 404, description = "No alert store (layers only)", body = super::Exception)))]
pub(crate) async fn atom(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    let filter = AlertFilter {
        active_only: false,
        include_non_actual: false,
        ..AlertFilter::default()
    };
    let alerts = super::store_call(&state, move |s| s.alerts(&filter)).await?;
    let xml = atom_xml(&base, &alerts[..alerts.len().min(ATOM_ENTRIES)]).map_err(|e| {
        ApiError::Internal {
            cause: format!("writing the Atom feed: {e}"),
        }
    })?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, MEDIA_ATOM)], xml).into_response())
}

/// RFC 4287 Atom: one entry per version, newest first, linking the GeoJSON and CAP.
pub fn atom_xml(base: &str, alerts: &[AlertSummary]) -> std::io::Result<String> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let leaf = |w: &mut Writer<Vec<u8>>, name: &str, text: &str| -> std::io::Result<()> {
        w.write_event(Event::Start(BytesStart::new(name)))?;
        w.write_event(Event::Text(BytesText::new(text)))?;
        w.write_event(Event::End(BytesEnd::new(name)))
    };
    let link = |w: &mut Writer<Vec<u8>>, rel: &str, ty: &str, href: &str| {
        w.write_event(Event::Empty(BytesStart::new("link").with_attributes([
            ("rel", rel),
            ("type", ty),
            ("href", href),
        ])))
    };
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.write_event(Event::Start(BytesStart::new("feed").with_attributes([
        ("xmlns", "http://www.w3.org/2005/Atom"),
        ("xml:lang", "pt"),
    ])))?;
    leaf(&mut w, "id", &format!("{base}/api/alerts.atom"))?;
    leaf(
        &mut w,
        "title",
        "aviso: alertas de ciclones e cheias em Moçambique",
    )?;
    let updated = alerts.iter().map(|a| a.sent).max().unwrap_or_else(Utc::now);
    leaf(&mut w, "updated", &rfc(updated))?;
    link(
        &mut w,
        "self",
        MEDIA_ATOM,
        &format!("{base}/api/alerts.atom"),
    )?;
    w.write_event(Event::Start(BytesStart::new("author")))?;
    leaf(&mut w, "name", "aviso")?;
    w.write_event(Event::End(BytesEnd::new("author")))?;
    for a in alerts {
        w.write_event(Event::Start(BytesStart::new("entry")))?;
        leaf(&mut w, "id", &format!("{base}/api/alerts/{}", a.id))?;
        leaf(&mut w, "title", &headline_pt(a))?;
        leaf(&mut w, "updated", &rfc(a.sent))?;
        link(
            &mut w,
            "alternate",
            "application/geo+json",
            &format!("{base}/api/alerts/{}", a.id),
        )?;
        link(
            &mut w,
            "related",
            MEDIA_CAP,
            &format!("{base}/api/alerts/{}/cap", a.id),
        )?;
        let districts: Vec<String> = a
            .districts
            .iter()
            .map(|d| format!("{} ({})", d.name, d.level.name_pt()))
            .collect();
        let summary = if districts.is_empty() {
            format!("{}: sem distritos em alerta.", a.msg_type.as_str())
        } else {
            format!("{}: {}.", a.msg_type.as_str(), districts.join(", "))
        };
        leaf(&mut w, "summary", &summary)?;
        w.write_event(Event::End(BytesEnd::new("entry")))?;
    }
    w.write_event(Event::End(BytesEnd::new("feed")))?;
    String::from_utf8(w.into_inner())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
