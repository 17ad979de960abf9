//! The demo's replay feeds, served over local HTTP so the service reads them through
//! exactly the path a live feed takes: a historical storm (Freddy, IBTrACS best track) as
//! RSMC La Réunion CMRSTRACK documents, one 6-hourly issuance after another,
//! time-compressed; and a past river-station flood forecast (the three CSVs of
//! 2025-09-25) served unchanged under `/replay/floods/`. Every storm document says it is a
//! replay (`production_center`), the flood files' URLs do (the alert document records
//! them as its source), and the demo's alerts are CAP status Exercise. Reads only the
//! files it is named and serves them; must not depend on the store or the API.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
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

/// Errors of the demo feeds.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo flood replay: cannot read the {what} file {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "demo flood replay: {path} has no forecast_issue_date in its second line (expected the probabilities CSV of a station forecast)"
    )]
    NoIssueDate { path: PathBuf },
}

/// The files of the flood demo inside the shared data folder (data/PROVENANCE.md
/// "floods/": the real anticipatory-action forecast issued 2025-09-25, in which only
/// Changane em Chibuto is above bankfull).
pub const FLOOD_PROBABILITIES: &str =
    "floods/moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv";
pub const FLOOD_STATIONS: &str = "floods/moz_aa_flood_stations_thresholds.csv";
pub const FLOOD_DISCHARGE: &str = "floods/moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv";

/// A past station flood forecast served as it was published: the same bytes at every
/// request, so the service publishes it once (later cycles are duplicates) and its event
/// stays active beside the storm replay.
pub struct FloodReplay {
    /// The forecast's issue day as the probabilities file states it (`2025-09-25`).
    pub issue_date: String,
    /// (URL path, bytes): probabilities, stations, discharge.
    files: [(String, Bytes); 3],
}

impl FloodReplay {
    /// Reads the three files of [`FLOOD_PROBABILITIES`], [`FLOOD_STATIONS`] and
    /// [`FLOOD_DISCHARGE`] under `data_dir`. The files are not parsed here: the feed does
    /// that, as it would a live forecast; only the issue date is read, for the start line.
    pub fn load(data_dir: &Path) -> Result<FloodReplay, DemoError> {
        let read = |what: &'static str, rel: &str| {
            let path = data_dir.join(rel);
            std::fs::read(&path)
                .map(|bytes| (path.clone(), bytes))
                .map_err(|source| DemoError::Read { what, path, source })
        };
        let (p_path, probabilities) = read("probabilities", FLOOD_PROBABILITIES)?;
        let (_, stations) = read("stations", FLOOD_STATIONS)?;
        let (_, discharge) = read("discharge", FLOOD_DISCHARGE)?;
        let issue_date =
            issue_date_of(&probabilities).ok_or(DemoError::NoIssueDate { path: p_path })?;
        let url = |rel: &str| {
            // The file's own name under /replay/floods/: the URL (which the alert
            // document keeps as its source) says both "replay" and the forecast's date.
            let name = rel.rsplit('/').next().unwrap_or(rel);
            format!("/replay/floods/{name}")
        };
        Ok(FloodReplay {
            issue_date,
            files: [
                (url(FLOOD_PROBABILITIES), Bytes::from(probabilities)),
                (url(FLOOD_STATIONS), Bytes::from(stations)),
                (url(FLOOD_DISCHARGE), Bytes::from(discharge)),
            ],
        })
    }

    /// URL paths of the probabilities, stations and discharge files.
    pub fn paths(&self) -> [&str; 3] {
        self.files.each_ref().map(|(p, _)| p.as_str())
    }
}

/// The `forecast_issue_date` cell of the first data row (the column is named in the
/// header; the format is the feed parser's business).
fn issue_date_of(csv: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(csv).ok()?;
    let mut lines = text.lines();
    let header = lines.next()?;
    let col = header
        .split(',')
        .position(|h| h.trim() == "forecast_issue_date")?;
    let row = lines.next()?;
    row.split(',').nth(col).map(|c| c.trim().to_string())
}

/// The flood replay's routes: `GET /replay/floods/{file}.csv` for its three files.
pub fn flood_router(replay: &FloodReplay) -> Router {
    replay
        .files
        .iter()
        .fold(Router::new(), |router, (path, bytes)| {
            let bytes = bytes.clone(); // reference-counted: no copy per request
            router.route(
                path,
                get(move || async move {
                    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes)
                }),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_date_is_read_from_its_named_column() {
        let csv = b"station_id,station_name,forecast_issue_date,valid_time\n41,Changane_em_Chibuto,2025-09-25,2025-09-26\n";
        assert_eq!(issue_date_of(csv).as_deref(), Some("2025-09-25"));
        assert_eq!(
            issue_date_of(b"station_id,valid_time\n41,2025-09-26\n"),
            None
        );
    }

    #[test]
    fn a_missing_flood_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = FloodReplay::load(dir.path()).err().unwrap().to_string();
        assert!(
            e.contains("probabilities") && e.contains(FLOOD_PROBABILITIES),
            "{e}"
        );
    }
}
