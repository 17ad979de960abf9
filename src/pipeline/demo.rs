//! The demo's replay feed: a historical storm (Freddy, IBTrACS best track) served over
//! local HTTP as RSMC La Réunion CMRSTRACK documents, one 6-hourly issuance after another,
//! time-compressed, so the service reads it through exactly the path a live feed takes.
//! Every document says it is a replay (`production_center`), and the demo's alerts are
//! CAP status Exercise.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::domain::Forecast;
use crate::feeds::rsmc::to_cmrstrack;
use crate::replay;

/// The issuances of a replay, pre-rendered.
pub struct Replay {
    pub storm: String,
    /// (reference time, CMRSTRACK bytes), oldest first.
    pub issuances: Vec<(DateTime<Utc>, Vec<u8>)>,
    /// Wall time per issuance.
    pub step: Duration,
    /// Set by the first request: the replay starts when the service first asks, not
    /// while layers are still loading.
    started: OnceLock<Instant>,
}

impl Replay {
    /// Issuances of `track` every `every` from `from` on, each forecasting `horizon` of
    /// the best track ahead (a perfect forecast: the demo shows the machinery, not skill).
    /// The last one is issued at the last fix, with nothing ahead: the storm is over.
    pub fn new(
        track: &Forecast,
        from: DateTime<Utc>,
        every: chrono::Duration,
        horizon: chrono::Duration,
        step: Duration,
    ) -> Replay {
        let mut times: Vec<_> = replay::issuance_times(track, every)
            .into_iter()
            .filter(|t| *t >= from)
            .collect();
        if let Some(last) = track.track.last().map(|p| p.time)
            && times.last() != Some(&last)
        {
            times.push(last);
        }
        let issuances = times
            .into_iter()
            .filter_map(|t| {
                let f = replay::issuance_at(track, t, horizon)?;
                serde_json::to_vec(&to_cmrstrack(&f)).ok().map(|b| (t, b))
            })
            .collect();
        Replay {
            storm: track.storm.name.to_lowercase(),
            issuances,
            step,
            started: OnceLock::new(),
        }
    }

    /// The index of the issuance "current" now: one more per `step` since start, then
    /// the last one for ever.
    pub fn current(&self) -> usize {
        let n = self.issuances.len().saturating_sub(1);
        let started = self.started.get_or_init(Instant::now);
        let k = (started.elapsed().as_secs_f64() / self.step.as_secs_f64().max(1e-3)) as usize;
        k.min(n)
    }

    /// The URL path the feed is served at.
    pub fn path(&self) -> String {
        format!("/rsmc/{}.json", self.storm)
    }
}

async fn current(State(r): State<Arc<Replay>>, headers: HeaderMap) -> Response {
    let i = r.current();
    let Some((t, bytes)) = r.issuances.get(i) else {
        return (StatusCode::NOT_FOUND, "no issuance").into_response();
    };
    let etag = format!("\"{}-{}\"", r.storm, t.format("%Y%m%d%H%M"));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::ETAG, etag),
        ],
        bytes.clone(),
    )
        .into_response()
}

/// The replay feed's routes: `GET /rsmc/{storm}.json`.
pub fn router(replay: Arc<Replay>) -> Router {
    Router::new()
        .route(&replay.path(), get(current))
        .with_state(replay)
}
