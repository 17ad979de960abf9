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
//! - A flood event is due to expire after `flood.cap_expires_after_h` (48 h) without a
//!   new version, not the storms' `service.expire_event_after_h`: a daily product
//!   arriving a few hours late must not flap the alert. Like a storm's, the expiry
//!   cancels only on evidence (a newer usable forecast from the feed, issue 17); since a
//!   newer forecast versions the event itself, a silent flood feed leaves the alert in
//!   force, and its CAP `expires` says when the information lapses.
//!
//! Flood maps (extent polygons as GeoJSON, GeoPackage or zipped Shapefile) are read and
//! assessed in `map.rs`; the publication path they share with station forecasts is here.

mod edit;
mod map;
mod published;

use published::event_name;
pub use published::{FLOOD_ISSUANCE_INTERVAL_H, flood_label, flood_published};
mod withdraw;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::publish::{Built, NextVersion, SummaryParts, stored_alert, summary_of, web_link};
use super::{Applied, EditCtx, Pipeline, ProcessError, RunReport};
use crate::alerts::assess_flood::{FloodAssessment, assess_flood_extent, assess_flood_in};
use crate::alerts::flood::flood_document;
use crate::alerts::flood_cap::{flood_cap_document, flood_cap_options};
use crate::alerts::versioning::{self, AlertVersion, CapStatus, PublishedDistrict};
use crate::config::{FeedConfig, FeedKind};
use crate::feeds::fetch::{Fetched, Validators};
use crate::feeds::floods::{FloodInputs, Input, parse_forecast};
use crate::geodata::flood_extent::parse_extent_geojson;
use crate::hazard::flood_extent::classify_extent;
use crate::layers::flood::read_flood_extent;
use crate::store::{
    AlertSummary, AssessmentRecord, FetchResult, HazardKind, RawIssuance, StoredIssuance,
};

/// The cyclone a flood event follows (`Pipeline::cyclone_cause`).
#[derive(Debug, Clone, PartialEq)]
pub struct CycloneCause {
    /// The cyclone's event id: the flood's incident.
    pub event_id: String,
    /// Its name as the alerts list it ("FREDDY").
    pub name: String,
}

/// Where a flood version comes from, beyond its assessment.
struct Origin<'a> {
    feed: &'a str,
    /// The stored issuance (none for a Cancel on expiry).
    issuance_id: Option<i64>,
    /// Why a Cancel was issued without a new forecast.
    reason: Option<crate::store::Reason>,
    /// The cyclone whose incident the event joins.
    cause: Option<&'a CycloneCause>,
    /// The manual overrides applied (issue 13; none for a Cancel).
    applied: Option<&'a Applied>,
}

/// One cyclone event as [`Pipeline::cyclone_cause`] weighs it.
struct StormSpan<'a> {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    /// Districts on the ladder in any version.
    districts: BTreeSet<&'a str>,
    name: &'a str,
}

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
            let shown = self.fetcher.redacted(&url);
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
            // WARN: handled; the next scheduled pull tries again.
            tracing::warn!(feed = %feed.name, error = %failure.1, "feed degraded");
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
        let shown = raw.url.clone();
        let inserted = self.blocking(move |p| p.store.insert_issuance(&raw)).await;
        report.count_inserted(&feed.name, &shown, inserted);
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
            crate::layers::manifest_path(std::path::Path::new(&self.cfg.service.layers));
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
        let mut a = assess_flood_in(
            &parsed.forecast,
            geography.stations(),
            &self.layers,
            self.cfg.flood_assessment(),
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
            .extend(geography.impact_notes_for(&manifest_file));
        a.input_notes
            .extend(geography.river_notes(self.cfg.flood.river_buffer_km));
        Ok(a)
    }

    /// Parses and assesses a stored flood issuance of either kind: station forecast
    /// bundle or flood map.
    pub(super) fn assess_flood_issuance(
        &self,
        iss: &StoredIssuance,
        now: DateTime<Utc>,
    ) -> Result<FloodAssessment, ProcessError> {
        match self.feed_config(&iss.raw.feed).map(|f| f.kind) {
            Some(FeedKind::FloodExtent) => self.assess_map(iss, now),
            _ => self.assess_bundle(iss, now),
        }
    }

    /// Assesses a flood issuance and publishes the next version of its feed's event;
    /// with `edit`, rebuilt as an editor's proposal (issue 13).
    pub(super) fn process_flood(
        &self,
        iss: &StoredIssuance,
        edit: Option<&EditCtx>,
    ) -> Result<Vec<String>, ProcessError> {
        let feed = self.feed_config(&iss.raw.feed).cloned();
        let status = feed
            .as_ref()
            .and_then(|f| f.status)
            .unwrap_or(self.cfg.service.status);
        let t = Instant::now();
        let mut a = self.assess_flood_issuance(iss, Utc::now())?;
        self.metrics.observe_assessment(t.elapsed().as_secs_f64());
        let people = a
            .districts
            .iter()
            .filter_map(|d| d.people_at_risk)
            .sum::<f64>()
            .round();
        let (reference, what, figures) = match (a.forecast(), a.extent()) {
            (Some(f), _) => (
                issue_time(f.issue_date),
                format!("flood forecast of {}", f.issue_date),
                json!({
                    "issue_date": f.issue_date.to_string(),
                    "stations": f.stations.len(),
                    "stations_at_level": a.outlooks.iter().filter(|o| o.max_level.is_some()).map(|o| &o.station_id).collect::<Vec<_>>(),
                    "people_at_risk": people,
                }),
            ),
            // A flood map has no issue time of its own: when it was fetched orders them.
            (None, Some(e)) => (
                iss.raw.fetched_at,
                format!(
                    "flood map fetched {}",
                    iss.raw.fetched_at.format("%Y-%m-%dT%H:%MZ")
                ),
                json!({
                    "polygons": e.footprints.len(),
                    "area_km2": e.area_km2.round(),
                    "max_level": e.max_level(),
                    "people_at_risk": people,
                }),
            ),
            (None, None) => {
                return Err(ProcessError::Assess(
                    "a flood feed gave neither a forecast nor a map".into(),
                ));
            }
        };
        super::refuse_stale(
            &format!("{} ({})", iss.raw.url, iss.raw.feed),
            status,
            reference,
            Utc::now(),
            self.cfg.flood.max_forecast_age_h,
            "flood.max_forecast_age_h",
        )?;
        let event_id = flood_event_id(&iss.raw.feed, status);
        // Manual overrides (issue 13) before anything is built from the levels.
        let applied = self.apply_flood_overrides(&event_id, &mut a, edit)?;
        let record = AssessmentRecord {
            event_id: event_id.clone(),
            event_name: event_name(&flood_label(&a, None, &iss.raw.feed)),
            reference_time: Some(reference),
            max_level: a.event_level,
            districts_on_ladder: a.district_levels.len(),
            figures,
        };
        self.publish_next(
            iss,
            record,
            NextVersion {
                event_id,
                reference,
                districts: self.flood_districts(&a),
                status,
                what: &what,
            },
            edit,
            |v, prev| {
                // Only for a version actually published, with the previous one at hand.
                let cause = self.cyclone_cause(prev, status, reference, &v.districts)?;
                self.flood_alert(
                    &a,
                    v,
                    prev,
                    Origin {
                        feed: &iss.raw.feed,
                        issuance_id: Some(iss.id),
                        reason: None,
                        cause: cause.as_ref(),
                        applied: Some(&applied),
                    },
                )
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
    ) -> Result<Option<String>, ProcessError> {
        let h = self.cfg.flood.cap_expires_after_h;
        let reason = crate::store::Reason {
            en: format!(
                "no new flood forecast from feed {} for {h} h: the alert has expired",
                s.feed
            ),
            pt: format!(
                "sem nova previsão de cheias do canal {} há {h} h: o alerta expirou",
                s.feed
            ),
        };
        self.publish_cancel(s, now, |iss, v| {
            self.flood_withdrawal(s, iss, v, now, reason)
        })
    }

    /// The cyclone whose incident a flood forecast issued at `reference` over `districts`
    /// belongs to (`flood.after_cyclone_days`): a cyclone event of the same CAP status
    /// whose first forecast is at most a day after `reference` and whose last is at most
    /// that many days before it, and that put one of `districts` on the ladder in some
    /// version; the most recent such. An event already linked (`prev`) stays with its cyclone: CAP
    /// `incidents` must not change under a reader's feet.
    pub(super) fn cyclone_cause(
        &self,
        prev: Option<&AlertSummary>,
        status: CapStatus,
        reference: DateTime<Utc>,
        districts: &BTreeMap<String, PublishedDistrict>,
    ) -> Result<Option<CycloneCause>, ProcessError> {
        let sticky = prev.and_then(|p| p.incident.clone());
        let days = self.cfg.flood.after_cyclone_days;
        if sticky.is_none() && (days <= 0.0 || districts.is_empty()) {
            return Ok(None);
        }
        let versions = self.store.alerts(&crate::store::AlertFilter {
            include_non_actual: true,
            ..Default::default()
        })?;
        // Per cyclone event: first and last forecast time, districts ever on the ladder,
        // and its name (newest version first in the list).
        let mut storms: BTreeMap<&str, StormSpan<'_>> = BTreeMap::new();
        for v in versions
            .iter()
            .filter(|v| v.hazard == HazardKind::TropicalCyclone && v.status == status)
        {
            let Some(t) = v.reference_time else { continue };
            let e = storms.entry(v.event_id.as_str()).or_insert(StormSpan {
                first: t,
                last: t,
                districts: BTreeSet::new(),
                name: v.event_name.as_str(),
            });
            e.first = e.first.min(t);
            e.last = e.last.max(t);
            e.districts
                .extend(v.districts.iter().map(|d| d.pcode.as_str()));
        }
        if let Some(id) = sticky {
            let name = storms
                .get(id.as_str())
                .map_or(id.as_str(), |s| s.name)
                .to_string();
            return Ok(Some(CycloneCause { event_id: id, name }));
        }
        let window = Duration::minutes((days * 24.0 * 60.0) as i64);
        Ok(storms
            .into_iter()
            .filter(|(_, s)| {
                s.first - Duration::days(1) <= reference
                    && reference <= s.last + window
                    && districts.keys().any(|d| s.districts.contains(d.as_str()))
            })
            .max_by_key(|(_, s)| s.last)
            .map(|(id, s)| CycloneCause {
                event_id: id.to_string(),
                name: s.name.to_string(),
            }))
    }

    /// The stored version of a flood alert: summary, GeoJSON document (the summary under
    /// "alert") and CAP.
    fn flood_alert(
        &self,
        a: &FloodAssessment,
        v: &AlertVersion,
        prev: Option<&AlertSummary>,
        o: Origin<'_>,
    ) -> Result<Built, ProcessError> {
        let Origin {
            feed,
            issuance_id,
            reason,
            cause,
            applied,
        } = o;
        let withdrawal_reason = reason.as_ref().map(|r| [r.pt.clone(), r.en.clone()]);
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
                incident: cause.map(|c| c.event_id.clone()),
            },
        );
        let mut opts = flood_cap_options(
            web_link(&self.cfg.service.public_url, &summary.id),
            self.cfg.flood.cap_expires_after_h,
            &self.cfg.service.sender_name,
        );
        opts.incident = summary.incident.clone();
        let instruction = applied.and_then(|x| x.instruction.clone());
        opts.extra_instruction = instruction.clone();
        opts.withdrawal_reason = withdrawal_reason;
        let cap = flood_cap_document(a, v, &self.layers.layers, &opts)
            .map_err(|e| ProcessError::Publish(e.to_string()))?;
        let mut doc = flood_document(a, &self.layers.layers, self.cfg.output.coordinate_decimals);
        if let Some(x) = applied {
            x.patch(&mut doc);
        }
        let mut published = flood_published(v, a, prev, feed);
        published.after_cyclone = cause.map(|c| c.name.clone());
        published.instruction = instruction;
        Ok((stored_alert(summary, doc, cap)?, published))
    }
}
