//! River-station flood forecasts in the service: a `flood-stations` feed fetches its
//! three CSVs (probabilities `url`, `stations_url`, optional `discharge_url`), keeps them
//! as one raw issuance, and publishes versioned flood alerts (GeoJSON and CAP) of one
//! event per feed. Wiring, like the rest of the pipeline: names the store and the
//! fetcher, and calls the pure core (`feeds::floods`, `assess_flood`, `alerts`).
//!
//! - One issuance = the three files fetched in one cycle, stored as a JSON bundle (each
//!   file's URL and text), so the store's content deduplication and crash recovery apply
//!   unchanged: the same three files are processed once, and a change to any of them
//!   (new thresholds too) is a new issuance. Files are small (the shared set is 0.65 MB)
//!   and daily, so they are fetched whole, without conditional GET.
//! - The event is the forecast series of the feed: event id `flood-<feed name>`
//!   (prefixed `exercise-`/`test-` for non-Actual status, as storms are), so each daily
//!   forecast updates the same alert, and a forecast below every threshold cancels it.
//! - Basins and per-station impact areas come from the layers manifest
//!   (`service.layers`: its `river_basins` layer and `[[flood_impact]]`), read per
//!   issuance (a daily product: ~0.1 s, and an edited manifest applies without restart).
//! - A flood event is cancelled as stale after `flood.cap_expires_after_h` (48 h) without
//!   a new version, not the storms' `service.expire_event_after_h`: a daily product
//!   arriving a few hours late must not flap the alert.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::publish::{NextVersion, SummaryParts, stored_alert, summary_of, web_link};
use super::{Pipeline, ProcessError, RunReport};
use crate::alerts::flood::flood_document;
use crate::alerts::flood_cap::{flood_cap_document, flood_cap_options, flood_districts_of};
use crate::alerts::versioning::{self, AlertVersion, CapStatus, MsgType};
use crate::assess_flood::{FloodAssessment, assess_flood};
use crate::config::FeedConfig;
use crate::feeds::fetch::{Fetched, Validators, url_redacted};
use crate::feeds::floods::{FloodInputs, Input, parse_forecast};
use crate::notify::select::{PublishedAlert, SiteAtRisk};
use crate::store::{
    AlertSummary, AssessmentRecord, FetchResult, HazardKind, Inserted, NewAlert, RawIssuance,
    StoredIssuance,
};

/// One file of a flood issuance as fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundledFile {
    /// The URL, secrets redacted.
    pub url: String,
    pub text: String,
}

/// The files of one flood issuance, as stored raw (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodBundle {
    pub probabilities: BundledFile,
    pub stations: BundledFile,
    pub discharge: Option<BundledFile>,
}

/// Content type of a stored bundle.
pub const BUNDLE_CONTENT_TYPE: &str = "application/vnd.aviso.flood-bundle+json";

/// The event id of a flood feed's forecast series under a CAP status.
pub fn flood_event_id(feed: &str, status: CapStatus) -> String {
    let base = versioning::sanitise(&format!("flood-{feed}"));
    match status {
        CapStatus::Actual => base,
        other => format!("{}-{base}", other.as_str().to_ascii_lowercase()),
    }
}

fn input(f: &BundledFile) -> Input<'_> {
    Input {
        bytes: f.text.as_bytes(),
        origin: &f.url,
    }
}

/// Midnight UTC of the forecast's issue day: the reference time of a flood issuance.
fn issue_time(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

impl Pipeline {
    /// Fetches the three files of a flood feed and stores them as one issuance. Any file
    /// failing fails the cycle (a forecast without its thresholds cannot be read).
    pub(super) async fn fetch_flood(self: &Arc<Self>, feed: &FeedConfig, report: &mut RunReport) {
        let now = Utc::now();
        let urls = [
            ("probabilities", Some(feed.url.clone())),
            ("stations", feed.stations_url.clone()),
            ("discharge", feed.discharge_url.clone()),
        ];
        let mut got: BTreeMap<&str, BundledFile> = BTreeMap::new();
        for (what, url) in urls {
            let Some(url) = url else { continue };
            let shown = url_redacted(&url);
            let failure = match self.fetcher.fetch(&url, &Validators::default()).await {
                Ok(Fetched::Body { bytes, .. }) => match String::from_utf8(bytes) {
                    Ok(text) => {
                        got.insert(what, BundledFile { url: shown, text });
                        continue;
                    }
                    Err(e) => (
                        "parse".to_string(),
                        format!(
                            "{what} {shown}: not UTF-8 text (byte {})",
                            e.utf8_error().valid_up_to()
                        ),
                    ),
                },
                Ok(Fetched::NotModified { .. }) => (
                    "http".to_string(),
                    format!("{what} {shown}: 304 Not Modified to an unconditional GET"),
                ),
                Err(e) => (e.kind().to_string(), format!("{what}: {e}")),
            };
            eprintln!("aviso: feed {} degraded: {}", feed.name, failure.1);
            report.failed.push(format!("{}: {}", feed.name, failure.1));
            let (name, result) = (
                feed.name.clone(),
                FetchResult::Failed {
                    kind: failure.0,
                    message: failure.1,
                },
            );
            let _ = self
                .blocking(move |p| p.store.record_fetch(&name, now, &result))
                .await;
            return;
        }
        let (Some(probabilities), Some(stations)) =
            (got.remove("probabilities"), got.remove("stations"))
        else {
            return;
        };
        let bundle = FloodBundle {
            probabilities,
            stations,
            discharge: got.remove("discharge"),
        };
        let bytes = match serde_json::to_vec(&bundle) {
            Ok(b) => b,
            Err(e) => {
                report.failed.push(format!("{}: bundling: {e}", feed.name));
                return;
            }
        };
        let raw = RawIssuance {
            feed: feed.name.clone(),
            url: bundle.probabilities.url.clone(),
            fetched_at: now,
            sha256: RawIssuance::sha256_hex(&bytes),
            content_type: Some(BUNDLE_CONTENT_TYPE.to_string()),
            bytes,
            etag: None,
            last_modified: None,
        };
        match self.blocking(move |p| p.store.insert_issuance(&raw)).await {
            Ok(Inserted::New(_)) => report.fetched += 1,
            Ok(Inserted::Duplicate(_)) => report.duplicates += 1,
            Err(e) => {
                eprintln!("aviso: ERROR: feed {}: storing: {e}", feed.name);
                report.failed.push(format!("{}: store: {e}", feed.name));
            }
        }
    }

    /// Parses and assesses a stored flood bundle.
    fn assess_bundle(
        &self,
        iss: &StoredIssuance,
        now: DateTime<Utc>,
    ) -> Result<FloodAssessment, ProcessError> {
        let origin = format!("{} ({})", iss.raw.url, iss.raw.feed);
        let b: FloodBundle = serde_json::from_slice(&iss.raw.bytes).map_err(|e| {
            ProcessError::Parse(format!("{origin}: not a flood issuance bundle: {e}"))
        })?;
        let parsed = parse_forecast(FloodInputs {
            stations: input(&b.stations),
            probabilities: input(&b.probabilities),
            discharge: b.discharge.as_ref().map(input),
            skip_misordered_stations: self.cfg.flood.skip_misordered_stations,
        })
        .map_err(|e| ProcessError::Parse(e.to_string()))?;
        let manifest_file =
            crate::app::manifest_path(std::path::Path::new(&self.cfg.service.layers));
        let geography = crate::layers::load_manifest(&manifest_file)
            .and_then(|m| {
                crate::layers::flood::load_flood_geography(&m, &self.cfg.flood.basin_name_field)
            })
            .map_err(|e| ProcessError::Assess(format!("{origin}: {e}")))?;
        if geography.basins.is_empty() {
            return Err(ProcessError::Assess(format!(
                "{origin}: the layers manifest {} has no river_basins layer, which flood impact areas need",
                manifest_file.display()
            )));
        }
        let mut a = assess_flood(
            &parsed.forecast,
            &geography.basins,
            &geography.impacts,
            &self.layers.layers.districts,
            &self.layers.layers.country,
            &self.cfg,
            now,
        )
        .map_err(|e| ProcessError::Assess(format!("{origin}: {e}")))?;
        a.input_notes = parsed.notes;
        a.input_notes.push(format!(
            "river basins: {} ({} polygons)",
            geography.basins_origin.clone().unwrap_or_default(),
            geography.basins.len()
        ));
        a.input_notes
            .extend(crate::app_flood::impact_notes(&geography, &manifest_file));
        Ok(a)
    }

    /// Assesses a flood issuance and publishes the next version of its feed's event.
    pub(super) fn process_flood(&self, iss: &StoredIssuance) -> Result<Vec<String>, ProcessError> {
        let feed = self.feed_config(&iss.raw.feed).cloned();
        let status = feed
            .as_ref()
            .and_then(|f| f.status)
            .unwrap_or(self.cfg.service.status);
        let t = Instant::now();
        let a = self.assess_bundle(iss, Utc::now())?;
        self.metrics.observe_assessment(t.elapsed().as_secs_f64());
        let Some(forecast) = a.forecast() else {
            return Err(ProcessError::Assess("a flood feed gave no forecast".into()));
        };
        let reference = issue_time(forecast.issue_date);
        let event_id = flood_event_id(&iss.raw.feed, status);
        let record = AssessmentRecord {
            event_id: event_id.clone(),
            event_name: event_name(&flood_label(&a, None, &iss.raw.feed)),
            reference_time: Some(reference),
            max_level: a.event_level,
            districts_on_ladder: a.district_levels.len(),
            figures: json!({
                "issue_date": forecast.issue_date.to_string(),
                "stations": forecast.stations.len(),
                "stations_at_level": a.outlooks.iter().filter(|o| o.max_level.is_some()).map(|o| &o.station_id).collect::<Vec<_>>(),
                "people_at_risk": a.districts.iter().filter_map(|d| d.people_at_risk).sum::<f64>().round(),
            }),
        };
        let what = format!("flood forecast of {}", forecast.issue_date);
        self.publish_next(
            iss,
            record,
            NextVersion {
                event_id,
                reference,
                districts: flood_districts_of(&a),
                status,
                what: &what,
            },
            |v, prev| {
                let alert = self.flood_alert(&a, v, prev, &iss.raw.feed, Some(iss.id), None)?;
                Ok((alert, flood_published(v, &a, prev, &iss.raw.feed)))
            },
        )
    }

    /// True when an active flood event has gone `flood.cap_expires_after_h` without a
    /// new version (its CAP has expired): time to cancel it.
    pub(super) fn flood_is_stale(&self, s: &AlertSummary, now: DateTime<Utc>) -> bool {
        let horizon = Duration::minutes((self.cfg.flood.cap_expires_after_h * 60.0) as i64);
        s.sent + horizon <= now
    }

    /// Cancels a flood event that brought no new forecast: its last issuance assessed
    /// again gives the CAP its content.
    pub(super) fn cancel_stale_flood(
        &self,
        s: &AlertSummary,
        now: DateTime<Utc>,
    ) -> Result<String, ProcessError> {
        let reason = format!(
            "no new flood forecast from feed {} for {} h: the alert has expired",
            s.feed, self.cfg.flood.cap_expires_after_h
        );
        self.publish_cancel(s, now, |iss, v| {
            let a = self.assess_bundle(iss, now)?;
            let alert = self.flood_alert(&a, v, Some(s), &s.feed, None, Some(reason))?;
            Ok((alert, flood_published(v, &a, Some(s), &s.feed)))
        })
    }

    /// The stored version of a flood alert: summary, GeoJSON document (the summary under
    /// "alert") and CAP.
    fn flood_alert(
        &self,
        a: &FloodAssessment,
        v: &AlertVersion,
        prev: Option<&AlertSummary>,
        feed: &str,
        issuance_id: Option<i64>,
        reason: Option<String>,
    ) -> Result<NewAlert, ProcessError> {
        let summary = summary_of(
            v,
            SummaryParts {
                hazard: HazardKind::Flood,
                event_name: event_name(&flood_label(a, prev, feed)),
                reference_time: a.forecast().map(|f| issue_time(f.issue_date)),
                event_level: a.event_level,
                prev,
                feed,
                issuance_id,
                reason,
            },
        );
        let opts = flood_cap_options(
            web_link(&self.cfg.service.public_url, &summary.id),
            self.cfg.flood.cap_expires_after_h,
        );
        let cap = flood_cap_document(a, v, &self.layers.layers, &opts)
            .map_err(|e| ProcessError::Publish(e.to_string()))?;
        let doc = flood_document(a, &self.layers.layers, self.cfg.output.coordinate_decimals);
        stored_alert(summary, doc, cap)
    }
}

/// Hours between two flood forecasts: GloFAS-type river forecasts are issued daily
/// (../shared/data/floods: one forecast file per issue date). The messages' "next update".
pub const FLOOD_ISSUANCE_INTERVAL_H: i64 = 24;

/// What subscriber selection and the messages need of a flood version: its districts with
/// the people at risk, the point features in the impact areas at a level, and the next
/// daily forecast. A Cancel carries none of them.
pub fn flood_published(
    v: &AlertVersion,
    a: &FloodAssessment,
    prev: Option<&AlertSummary>,
    feed: &str,
) -> PublishedAlert {
    let mut p = PublishedAlert::from_version(
        v,
        crate::notify::HazardKind::Flood,
        &flood_label(a, prev, feed),
    );
    if v.msg_type == MsgType::Cancel {
        return p;
    }
    for d in &mut p.districts {
        d.people_at_risk = a
            .districts
            .iter()
            .find(|x| x.pcode == d.pcode)
            .and_then(|x| x.people_at_risk);
    }
    p.sites = a
        .points
        .iter()
        .map(|pt| SiteAtRisk {
            layer: pt.feature.layer.clone(),
            id: pt.feature.id.clone(),
            name: pt.feature.name.clone(),
            district_pcode: pt.feature.district_pcode.clone(),
            people: pt.feature.population,
        })
        .collect();
    // The next daily forecast after the version was sent.
    if let Some(f) = a.forecast() {
        let step = Duration::hours(FLOOD_ISSUANCE_INTERVAL_H);
        let mut next = issue_time(f.issue_date) + step;
        while next <= v.sent {
            next += step;
        }
        p.next_update = Some(next);
    }
    p
}

/// How lists name a flood event: "Cheias: " and [`flood_label`].
const EVENT_PREFIX: &str = "Cheias: ";

/// What a flood event is called, in lists and in messages ("cheia Changane"): the rivers
/// of the stations at a level in this forecast; when none is (a Cancel), the name the
/// event had; the feed's name before any forecast reached a level. Station rivers, not
/// the feed's name, are what a district focal point recognises.
pub fn flood_label(a: &FloodAssessment, prev: Option<&AlertSummary>, feed: &str) -> String {
    let mut rivers: Vec<&str> = a
        .forecast()
        .map(|f| {
            a.outlooks
                .iter()
                .filter(|o| o.max_level.is_some())
                .filter_map(|o| f.stations.iter().find(|s| s.id == o.station_id))
                .map(|s| s.river.trim())
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    rivers.sort_unstable();
    rivers.dedup();
    if !rivers.is_empty() {
        return rivers.join(", ");
    }
    prev.and_then(|p| p.event_name.strip_prefix(EVENT_PREFIX))
        .map_or_else(|| feed.to_string(), str::to_string)
}

/// The event's name as lists show it: "Cheias: Changane".
fn event_name(label: &str) -> String {
    format!("{EVENT_PREFIX}{label}")
}
