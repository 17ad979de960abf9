//! `/healthz` (the process answers), `/readyz` (the store answers, startup recovery is
//! done; per-feed freshness and errors) and `/metrics` (Prometheus text).
//!
//! Decision: a degraded feed does not make `/readyz` fail. Readiness tells a load balancer
//! whether this instance can serve; taking the API away because a forecast feed is down
//! would hide the last good alert exactly when it is needed. The body says `degraded`
//! and which feed is stale, for the monitoring that pages someone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::ogc::{MEDIA_JSON, respond};
use super::{ApiError, ApiState};
use crate::metrics::Exposition;
use crate::notify::dlr::DlrState;
use crate::notify::subscriber::ChannelKind;
use crate::store::FeedState;
use crate::store::notify::{OutboxState, SubscriberCounts};

/// A configured feed as health checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedWatch {
    pub name: String,
    /// A feed whose last success is older than this is stale (e.g. two missed cycles).
    pub stale_after_s: i64,
}

/// What the service tells the API about itself.
#[derive(Debug)]
pub struct ServiceStatus {
    pub started_at: DateTime<Utc>,
    /// Set once layers are loaded and pending issuances from before a restart are done.
    pub ready: AtomicBool,
    pub feeds: Vec<FeedWatch>,
}

impl ServiceStatus {
    pub fn new(feeds: Vec<FeedWatch>) -> Self {
        ServiceStatus {
            started_at: Utc::now(),
            ready: AtomicBool::new(false),
            feeds,
        }
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "getHealth",
    summary = "Alive",
    responses((status = 200, description = "Always", content_type = "application/json", body = Object)))]
pub(crate) async fn healthz() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, MEDIA_JSON)],
        r#"{"status":"alive"}"#,
    )
        .into_response()
}

fn age_s(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<i64> {
    t.map(|t| (now - t).num_seconds())
}

/// `GET /readyz`.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "getReady",
    summary = "Ready: per-feed freshness and errors",
    responses(
        (status = 200, description = "Ready", content_type = "application/json", body = Object),
        (status = 503, description = "Not ready (a feed stale or failing)", content_type = "application/json", body = Object)))]
pub(crate) async fn readyz(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let Some(service) = state.service.clone() else {
        return Ok(respond(
            StatusCode::OK,
            MEDIA_JSON,
            &json!({"status": "ok", "ready": true, "feeds": [], "note": "layers only: no feeds, no store"}),
        ));
    };
    let ready = service.ready.load(Ordering::SeqCst);
    let read = super::store_call(&state, |s| Ok((s.all_feed_health()?, s.last_run()?))).await;
    let now = Utc::now();
    let (health, last_run) = match read {
        Ok(v) => v,
        Err(e) => {
            // Logged once by the 500 path would hide the JSON; log here and answer 503.
            tracing::error!(error = %e, "readyz: the store did not answer");
            return Ok(respond(
                StatusCode::SERVICE_UNAVAILABLE,
                MEDIA_JSON,
                &json!({"status": "store_unavailable", "ready": false}),
            ));
        }
    };
    let mut degraded = false;
    let feeds: Vec<_> = service
        .feeds
        .iter()
        .map(|w| {
            let h = health.iter().find(|h| h.feed == w.name);
            let last_success = h.and_then(|h| h.last_success);
            let age = age_s(last_success, now);
            let fresh = age.is_some_and(|a| a <= w.stale_after_s);
            let state = h.map_or(FeedState::Unknown, |h| h.state);
            // A feed never fetched yet since start is not degraded; one that failed or
            // went stale is.
            if state == FeedState::Degraded || (!fresh && last_success.is_some()) {
                degraded = true;
            }
            json!({
                "feed": w.name,
                "state": state,
                "fresh": fresh,
                "last_success": last_success,
                "age_s": age,
                "stale_after_s": w.stale_after_s,
                "last_attempt": h.and_then(|h| h.last_attempt),
                "last_new_issuance": h.and_then(|h| h.last_new_issuance),
                "last_error": h.and_then(|h| h.last_error.clone()),
                "last_error_kind": h.and_then(|h| h.last_error_kind.clone()),
                "consecutive_failures": h.map_or(0, |h| h.consecutive_failures),
            })
        })
        .collect();
    let status = if !ready {
        "starting"
    } else if degraded {
        "degraded"
    } else {
        "ok"
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(respond(
        code,
        MEDIA_JSON,
        &json!({
            "status": status,
            "ready": ready,
            "started_at": service.started_at,
            "last_run": last_run.map(|r| json!({
                "feed": r.feed,
                "outcome": r.outcome,
                "finished_at": r.finished_at,
                "age_s": age_s(r.finished_at, now),
            })),
            "feeds": feeds,
        }),
    ))
}

/// `GET /metrics`: Prometheus text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "getMetrics",
    summary = "Prometheus metrics (counts only: no personal data)",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let mut e = Exposition::default();
    if state.store.is_some() {
        let (counts, health) =
            super::store_call(&state, |s| Ok((s.counts()?, s.all_feed_health()?))).await?;
        let fetches = "aviso_feed_fetches_total";
        e.family(
            fetches,
            "counter",
            "Feed fetches by outcome (fetched, not_modified, or the error kind).",
        );
        for (feed, outcome, n) in &counts.fetches {
            e.sample(fetches, &[("feed", feed), ("outcome", outcome)], n);
        }
        e.family("aviso_runs_total", "counter", "Feed cycles by outcome.");
        for (outcome, n) in &counts.runs {
            e.sample("aviso_runs_total", &[("outcome", outcome)], n);
        }
        let alerts = "aviso_alerts_published_total";
        e.family(
            alerts,
            "counter",
            "Actual alert versions published, by CAP msgType and highest level.",
        );
        for (msg_type, level, n) in &counts.alerts {
            e.sample(alerts, &[("msg_type", msg_type), ("level", level)], n);
        }
        e.family("aviso_issuances", "gauge", "Stored issuances by state.");
        for (st, n) in &counts.issuances_by_state {
            e.sample("aviso_issuances", &[("state", st)], n);
        }
        let (up, last) = ("aviso_feed_up", "aviso_feed_last_success_timestamp_seconds");
        e.family(
            up,
            "gauge",
            "1 when the feed's last fetch and parse succeeded.",
        );
        e.family(last, "gauge", "Unix time of the feed's last good fetch.");
        for h in &health {
            e.sample(up, &[("feed", &h.feed)], u8::from(h.state == FeedState::Ok));
            if let Some(t) = h.last_success {
                e.sample(last, &[("feed", &h.feed)], t.timestamp());
            }
        }
    }
    if let Some(api) = state.notify.clone() {
        let (outbox, attempts, subs, dlr) = super::admin::call(&api, |s| {
            Ok((
                s.outbox_counts()?,
                s.attempt_counts()?,
                s.subscriber_counts()?,
                s.delivery_report_counts()?,
            ))
        })
        .await
        .map_err(|e| ApiError::Internal {
            cause: e.to_string(),
        })?;
        render_notify(&mut e, &outbox, &attempts, subs);
        render_delivery_reports(&mut e, &dlr);
    }
    state.metrics.render(&mut e);
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let (compressions, hits) = (
        "aviso_http_gzip_compressions_total",
        "aviso_http_gzip_cache_hits_total",
    );
    e.family(
        compressions,
        "counter",
        "Answers gzip-compressed (each cached page once).",
    )
    .sample(compressions, &[], state.gzip.compressions.load(relaxed));
    e.family(hits, "counter", "Answers served from the gzip cache.")
        .sample(hits, &[], state.gzip.cache_hits.load(relaxed));
    let out = e.into_string();
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

/// The outbox and subscriber counts (counts only: no personal data). Every channel and
/// state is written, zeros included, so a rate over a series that appears later is right.
fn render_notify(
    e: &mut Exposition,
    outbox: &[(ChannelKind, OutboxState, i64)],
    attempts: &[(ChannelKind, String, i64)],
    subs: SubscriberCounts,
) {
    let messages = "aviso_notify_outbox_messages";
    e.family(
        messages,
        "gauge",
        "Subscriber messages in the outbox, by channel and state.",
    );
    let states = [
        OutboxState::Pending,
        OutboxState::Sending,
        OutboxState::Delivered,
        OutboxState::Failed,
    ];
    for ch in ChannelKind::ALL {
        for st in states {
            let n: i64 = outbox
                .iter()
                .filter(|(c, s, _)| *c == ch && *s == st)
                .map(|x| x.2)
                .sum();
            e.sample(
                messages,
                &[("channel", ch.as_str()), ("state", st.as_str())],
                n,
            );
        }
    }
    let tries = "aviso_notify_attempts_total";
    e.family(
        tries,
        "counter",
        "Delivery attempts by channel and outcome (delivered, retry, failed), with the far end's answer recorded in the store.",
    );
    for ch in ChannelKind::ALL {
        for outcome in ["delivered", "retry", "failed"] {
            let n: i64 = attempts
                .iter()
                .filter(|(c, o, _)| *c == ch && o == outcome)
                .map(|x| x.2)
                .sum();
            e.sample(tries, &[("channel", ch.as_str()), ("outcome", outcome)], n);
        }
    }
    let subscribers = "aviso_notify_subscribers";
    e.family(subscribers, "gauge", "Subscribers by state.")
        .sample(subscribers, &[("state", "active")], subs.active)
        .sample(subscribers, &[("state", "inactive")], subs.inactive);
    let optouts = "aviso_notify_sms_optouts";
    e.family(optouts, "gauge", "Phone numbers that replied STOP.")
        .sample(optouts, &[], subs.sms_opted_out);
}

/// SMS handed to the gateway by their latest delivery report: `awaiting` (no report
/// yet), `in_transit`, `delivered`, `undelivered`. Every state is written, zeros
/// included. An undelivered SMS is counted here and not resent.
fn render_delivery_reports(e: &mut Exposition, counts: &[(Option<DlrState>, i64)]) {
    let reports = "aviso_notify_sms_delivery_reports";
    e.family(
        reports,
        "gauge",
        "SMS taken by the gateway, by the state of their latest delivery report (awaiting: none yet).",
    );
    let states = [None]
        .into_iter()
        .chain(DlrState::ALL.into_iter().map(Some));
    for st in states {
        let n: i64 = counts.iter().filter(|(s, _)| *s == st).map(|x| x.1).sum();
        e.sample(
            reports,
            &[("state", st.map_or("awaiting", DlrState::as_str))],
            n,
        );
    }
}
