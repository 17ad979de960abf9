//! One run of the service: fetch -> store raw -> parse -> assess -> decide the version ->
//! store and publish; and the cron loop around it ([`schedule`]). Wiring: it names the
//! store, the fetcher and the API state, and calls the pure core.
//!
//! Guarantees (issue 3):
//! - every fetched body is stored raw before it is parsed, and the same content from the
//!   same feed is processed once (the store deduplicates by SHA-256);
//! - processing an issuance (assessment, alert version, "processed" mark) is one store
//!   transaction: after a kill the issuance is still pending and the restart finishes it,
//!   so none is lost or processed twice;
//! - a failing feed (fetch error, malformed body) marks the feed degraded with the reason;
//!   nothing published is withdrawn because of it, and other feeds go on;
//! - an older forecast arriving after a newer one is stored and assessed but never
//!   replaces the newer alert;
//! - with subscribers wired in ([`Pipeline::with_notify`]), a version and the messages it
//!   gives subscribers are committed in ONE transaction: a crash cannot publish an alert
//!   whose messages are never queued, nor queue messages for an alert never published.

pub mod demo;
pub mod flood;
mod publish;
pub mod schedule;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::alerts::cap::{CapOptions, cap_document};
use crate::alerts::document::alert_document;
use crate::alerts::versioning::{self, CapStatus, MsgType};
use crate::api::ApiState;
use crate::assess::{Assessment, assess};
use crate::config::{Config, FeedConfig, FeedKind};
use crate::exposure::IndexedLayers;
use crate::feeds::fetch::{Fetched, Fetcher, Validators};
use crate::feeds::gdacs::{self, Basin, GdacsEvent};
use crate::feeds::{self, ParseOptions, TrackFormat};
use crate::metrics::Metrics;
use crate::notify::dispatch::plan_version;
use crate::notify::select::{DistrictShapes, PublishedAlert, SiteAtRisk};
use crate::store::notify::NotifyStore;
use crate::store::{
    AlertFilter, AlertSummary, AssessmentRecord, FetchResult, HazardKind, Inserted, NewAlert,
    RawIssuance, Store, StoreError, StoredIssuance,
};

/// Hours between two forecast issuances: RSMC La Réunion and JTWC warn every 6 h in the
/// South-West Indian Ocean (../shared/DOMAIN.md). The messages' "next update" time.
pub const ISSUANCE_INTERVAL_H: i64 = 6;

/// The subscribers' side of publishing (see [`Pipeline::with_notify`]).
struct NotifyHook {
    /// The same database as [`Pipeline::store`] (one transaction covers both).
    store: Arc<dyn NotifyStore>,
    /// District outlines, for subscribers whose area is a polygon.
    geometry: DistrictShapes,
}

/// Why an issuance could not be turned into an alert (stored on the issuance).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Assess(String),
    #[error("{0}")]
    Publish(String),
    /// An Actual forecast older than the configured age: never a live alert.
    #[error("{0}")]
    Stale(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProcessError {
    /// Short label for feed health and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ProcessError::Parse(_) => "parse",
            ProcessError::Assess(_) => "assess",
            ProcessError::Publish(_) => "publish",
            ProcessError::Stale(_) => "stale",
            ProcessError::Store(_) => "store",
        }
    }
}

/// How one feed cycle went.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunReport {
    pub feed: String,
    pub fetched: usize,
    pub not_modified: usize,
    pub duplicates: usize,
    pub failed: Vec<String>,
    pub processed: usize,
    pub published: Vec<String>,
}

impl RunReport {
    /// Counts what storing a fetched body did. Content that failed before and is served
    /// again is a failure of this cycle too: the feed is healthy only when its latest
    /// content could be used (issue 17).
    pub(crate) fn count_inserted(
        &mut self,
        key: &str,
        shown: &str,
        inserted: Result<Inserted, StoreError>,
    ) {
        match inserted {
            Ok(Inserted::New(_)) => self.fetched += 1,
            Ok(Inserted::Duplicate(_)) => self.duplicates += 1,
            Ok(Inserted::StillFailing { id, error }) => {
                self.duplicates += 1;
                eprintln!(
                    "aviso: feed {key} degraded: {shown} still serves the content of issuance {id}, which failed: {error}"
                );
                self.failed.push(format!(
                    "{key}: still serving the content of issuance {id}, which failed: {error}"
                ));
            }
            Err(e) => {
                eprintln!("aviso: ERROR: feed {key}: storing {shown}: {e}");
                self.failed.push(format!("{key}: store: {e}"));
            }
        }
    }

    pub fn outcome(&self) -> &'static str {
        if self.failed.is_empty() {
            "ok"
        } else if self.fetched + self.not_modified + self.duplicates > 0 {
            "degraded"
        } else {
            "failed"
        }
    }
}

/// Everything a run needs, built once at start.
pub struct Pipeline {
    pub cfg: Arc<Config>,
    pub layers: Arc<IndexedLayers>,
    pub store: Arc<dyn Store>,
    pub fetcher: Fetcher,
    pub api: Arc<ApiState>,
    pub metrics: Arc<Metrics>,
    /// One issuance processed at a time: the version decision reads the previous one.
    process_lock: Mutex<()>,
    /// Active South-West Indian Ocean storms, from the latest GDACS issuance.
    discovered: Mutex<Vec<GdacsEvent>>,
    /// Subscribers' messages; `None`: versions are published without any.
    notify: Option<NotifyHook>,
}

/// The event id of a storm under a CAP status: Exercise and Test versions get their own
/// chain ("exercise-swi-07-20222023"), so they never update or cancel a real alert.
pub fn event_id_for(storm: &crate::domain::StormId, status: CapStatus) -> String {
    let base = versioning::event_id(storm);
    match status {
        CapStatus::Actual => base,
        other => format!("{}-{base}", other.as_str().to_ascii_lowercase()),
    }
}

impl Pipeline {
    pub fn new(
        cfg: Arc<Config>,
        layers: Arc<IndexedLayers>,
        store: Arc<dyn Store>,
        fetcher: Fetcher,
        api: Arc<ApiState>,
        metrics: Arc<Metrics>,
    ) -> Pipeline {
        Pipeline {
            cfg,
            layers,
            store,
            fetcher,
            api,
            metrics,
            process_lock: Mutex::new(()),
            discovered: Mutex::new(Vec::new()),
            notify: None,
        }
    }

    /// Queues subscribers' messages with every version published from now on, through
    /// `store`, which must be the same database as the pipeline's store (the SQLite store
    /// implements both traits): the version and its messages commit together. Messages
    /// are planned only for the channels `[notify]` enables.
    pub fn with_notify(mut self, store: Arc<dyn NotifyStore>) -> Self {
        let geometry = DistrictShapes::new(
            self.layers
                .layers
                .districts
                .iter()
                .map(|d| (d.pcode.clone(), d.geometry.clone())),
        );
        self.notify = Some(NotifyHook { store, geometry });
        self
    }

    fn feed_config(&self, key: &str) -> Option<&FeedConfig> {
        let name = key.split(':').next().unwrap_or(key);
        self.cfg.feeds.iter().find(|f| f.name == name)
    }

    /// Active storms GDACS listed last.
    pub fn discovered(&self) -> Vec<GdacsEvent> {
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The (store key, URL) pairs one cycle of `feed` fetches: one, or one per storm
    /// GDACS lists when the URL is a template.
    pub fn targets(&self, feed: &FeedConfig) -> Vec<(String, String)> {
        if !feed.is_template() {
            return vec![(feed.name.clone(), feed.url.clone())];
        }
        self.discovered()
            .iter()
            .map(|e| {
                let year = e
                    .year
                    .map(|y| y.to_string())
                    .or_else(|| e.from_date.map(|d| d.format("%Y").to_string()))
                    .unwrap_or_default();
                let url = feed
                    .url
                    .replace("{name_lower}", &e.storm_name.to_lowercase())
                    .replace("{name}", &e.storm_name)
                    .replace("{year}", &year)
                    .replace("{gdacs_event_id}", &e.event_id.to_string());
                (
                    format!("{}:{}", feed.name, e.storm_name.to_lowercase()),
                    url,
                )
            })
            .collect()
    }

    /// One cycle of one feed: fetch every target, store new content, process whatever
    /// is pending, cancel events that left a healthy feed. Never fails: what went wrong
    /// is in the report, the store and the feed's health.
    pub async fn run_feed(self: &Arc<Self>, feed: &FeedConfig) -> RunReport {
        let started = Instant::now();
        let mut report = RunReport {
            feed: feed.name.clone(),
            ..RunReport::default()
        };
        let run_id = self
            .blocking({
                let name = feed.name.clone();
                move |p| p.store.begin_run(&name, Utc::now())
            })
            .await;
        if feed.kind == FeedKind::FloodStations {
            self.fetch_flood(feed, &mut report).await;
        } else {
            for (key, url) in self.targets(feed) {
                self.fetch_one(&key, &url, &mut report).await;
            }
        }
        let processed = {
            let name = feed.name.clone();
            self.blocking(move |p| Ok(p.process_pending_for(Some(&name))))
                .await
        };
        if let Ok((n, published, failed)) = processed {
            report.processed = n;
            report.published = published;
            report.failed.extend(failed);
        }
        if report.failed.is_empty() {
            let name = feed.name.clone();
            if let Ok(cancelled) = self.blocking(move |p| Ok(p.expire_stale(&name))).await {
                report.published.extend(cancelled);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        self.metrics.observe_run(&feed.name, secs);
        if let Ok(id) = run_id {
            let outcome = report.outcome();
            let detail = serde_json::to_value(&report).unwrap_or(Value::Null);
            let _ = self
                .blocking(move |p| p.store.finish_run(id, Utc::now(), outcome, &detail))
                .await;
        }
        report
    }

    /// Runs `f` on a blocking thread (store calls and assessments block).
    async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Pipeline) -> Result<T, StoreError> + Send + 'static,
    {
        let me = Arc::clone(self);
        match tokio::task::spawn_blocking(move || f(&me)).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Corrupt {
                path: "(task)".into(),
                what: "blocking task".into(),
                message: e.to_string(),
            }),
        }
    }

    async fn fetch_one(self: &Arc<Self>, key: &str, url: &str, report: &mut RunReport) {
        let shown = self.fetcher.redacted(url);
        let k = key.to_string();
        let validators = match self.blocking(move |p| p.store.feed_health(&k)).await {
            Ok(Some(h)) => Validators {
                etag: h.etag,
                last_modified: h.last_modified,
            },
            _ => Validators::default(),
        };
        let now = Utc::now();
        match self.fetcher.fetch(url, &validators).await {
            Ok(Fetched::NotModified { .. }) => {
                report.not_modified += 1;
                let k = key.to_string();
                let health = self
                    .blocking(move |p| {
                        p.store.record_fetch(&k, now, &FetchResult::NotModified)?;
                        p.store.feed_health(&k)
                    })
                    .await;
                // A 304 for content that failed is no news that the feed is well.
                if let Ok(Some(h)) = health
                    && h.state == crate::store::FeedState::Degraded
                {
                    let why = h.last_error.unwrap_or_default();
                    eprintln!("aviso: feed {key} degraded: {shown}: {why}");
                    report.failed.push(format!("{key}: {why}"));
                }
            }
            Ok(Fetched::Body {
                bytes,
                content_type,
                validators,
                ..
            }) => {
                let raw = RawIssuance {
                    feed: key.to_string(),
                    url: shown.clone(),
                    fetched_at: now,
                    sha256: RawIssuance::sha256_hex(&bytes),
                    content_type,
                    bytes,
                    etag: validators.etag,
                    last_modified: validators.last_modified,
                };
                let inserted = self.blocking(move |p| p.store.insert_issuance(&raw)).await;
                report.count_inserted(key, &shown, inserted);
            }
            Err(e) => {
                eprintln!("aviso: feed {key} degraded: {e}");
                report.failed.push(format!("{key}: {e}"));
                let result = FetchResult::Failed {
                    kind: e.kind().to_string(),
                    message: e.to_string(),
                };
                let k = key.to_string();
                let _ = self
                    .blocking(move |p| p.store.record_fetch(&k, now, &result))
                    .await;
            }
        }
    }

    /// Processes every pending issuance, oldest first; returns how many and the ids of
    /// the versions published. Blocking. Failures are recorded on the issuance and the
    /// feed; they do not stop the others.
    pub fn process_pending(&self) -> (usize, Vec<String>, Vec<String>) {
        self.process_pending_for(None)
    }

    /// [`Pipeline::process_pending`], reporting only what belongs to feed `own` (its
    /// name, or its per-storm keys "name:STORM"). Every pending issuance is still
    /// processed, whoever fetched it (a cycle recovers what another left pending), but
    /// another feed's version or failure is that feed's news: counted in this cycle's
    /// report, it would mark this feed degraded and hold back its expiry.
    pub fn process_pending_for(&self, own: Option<&str>) -> (usize, Vec<String>, Vec<String>) {
        let mine = |key: &str| {
            own.is_none_or(|f| key == f || key.strip_prefix(f).is_some_and(|r| r.starts_with(':')))
        };
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let pending = match self.store.pending_issuances() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("aviso: ERROR: reading pending issuances: {e}");
                return (0, Vec::new(), vec![format!("store: {e}")]);
            }
        };
        let mut published = Vec::new();
        let mut failed = Vec::new();
        let mut n = 0;
        for iss in pending {
            let own = mine(&iss.raw.feed);
            n += usize::from(own);
            match self.process_issuance(&iss) {
                Ok(ids) if own => published.extend(ids),
                Ok(ids) => {
                    if !ids.is_empty() {
                        eprintln!(
                            "aviso: published {} from feed {} (left pending by its own cycle)",
                            ids.join(", "),
                            iss.raw.feed
                        );
                    }
                }
                Err(ProcessError::Store(e)) => {
                    // Left pending: the next cycle (or restart) tries again.
                    eprintln!("aviso: ERROR: issuance {} of {}: {e}", iss.id, iss.raw.feed);
                    if own {
                        failed.push(format!("{}: issuance {}: {e}", iss.raw.feed, iss.id));
                    }
                }
                Err(e) => {
                    eprintln!(
                        "aviso: feed {} degraded: issuance {} ({}): {e}",
                        iss.raw.feed, iss.id, iss.raw.url
                    );
                    if own {
                        failed.push(format!("{}: issuance {}: {e}", iss.raw.feed, iss.id));
                    }
                    if let Err(se) =
                        self.store
                            .fail_issuance(iss.id, &iss.raw.feed, e.kind(), &e.to_string())
                    {
                        eprintln!(
                            "aviso: ERROR: recording the failure of issuance {}: {se}",
                            iss.id
                        );
                    }
                }
            }
        }
        self.refresh_current_alert();
        (n, published, failed)
    }

    fn process_issuance(&self, iss: &StoredIssuance) -> Result<Vec<String>, ProcessError> {
        let feed = self.feed_config(&iss.raw.feed).cloned();
        let kind = feed.as_ref().map(|f| f.kind);
        if kind == Some(FeedKind::Gdacs) {
            return self.process_gdacs(iss);
        }
        if matches!(kind, Some(FeedKind::FloodStations | FeedKind::FloodExtent)) {
            return self.process_flood(iss);
        }
        let origin = format!("{} ({})", iss.raw.url, iss.raw.feed);
        let opts = ParseOptions {
            atcf_tech: feed.as_ref().and_then(|f| f.tech.clone()),
            ..ParseOptions::default()
        };
        // An ECMWF BUFR feed is read as such (no sniffing): its headline member goes on
        // through the cyclone path, and the member count is kept for the record.
        let (parsed, members) = if kind == Some(FeedKind::EcmwfBufr) {
            feeds::parse_bufr_headline(&iss.raw.bytes, &origin).map(|(p, n)| (p, Some(n)))
        } else {
            feeds::parse(&iss.raw.bytes, &origin, &opts).map(|p| (p, None))
        }
        .map_err(|e| ProcessError::Parse(e.to_string()))?;
        let expected = match kind {
            Some(FeedKind::RsmcReunion) => Some(TrackFormat::RsmcJson),
            Some(FeedKind::Atcf) => Some(TrackFormat::Atcf),
            _ => None,
        };
        if let Some(want) = expected
            && parsed.format != want
        {
            return Err(ProcessError::Parse(format!(
                "{origin}: the feed is configured as {} but the body is {:?}",
                kind.map_or("?", FeedKind::as_str),
                parsed.format
            )));
        }
        let status = feed
            .as_ref()
            .and_then(|f| f.status)
            .unwrap_or(self.cfg.service.status);
        refuse_stale(
            &origin,
            status,
            parsed.forecast.reference_time,
            Utc::now(),
            self.cfg.service.max_forecast_age_h,
            "service.max_forecast_age_h",
        )?;
        let t = Instant::now();
        let mut a = assess(&parsed.forecast, &self.layers, &self.cfg, Utc::now())
            .map_err(|e| ProcessError::Assess(format!("{origin}: {e}")))?;
        a.input_notes = parsed.notes;
        self.metrics.observe_assessment(t.elapsed().as_secs_f64());

        let event_id = event_id_for(&a.forecast.storm, status);
        let mut record = assessment_record(&event_id, &a);
        if let (Some(n), Some(fig)) = (members, record.figures.as_object_mut()) {
            fig.insert("ensemble_members".into(), json!(n));
        }
        let what = format!(
            "{} forecast of {}",
            a.forecast.storm.name,
            a.forecast.reference_time.format("%Y-%m-%dT%H:%MZ")
        );
        self.publish_next(
            iss,
            record,
            publish::NextVersion {
                event_id,
                reference: a.forecast.reference_time,
                districts: versioning::districts_of(&a),
                status,
                what: &what,
            },
            |v, prev| {
                let alert = self.new_alert(&a, v, prev, &iss.raw.feed, Some(iss.id), None)?;
                Ok((alert, published_alert(v, &a)))
            },
        )
    }

    fn process_gdacs(&self, iss: &StoredIssuance) -> Result<Vec<String>, ProcessError> {
        let origin = format!("{} ({})", iss.raw.url, iss.raw.feed);
        let feed = gdacs::parse_gdacs_rss(&iss.raw.bytes, &origin)
            .map_err(|e| ProcessError::Parse(e.to_string()))?;
        for w in &feed.warnings {
            eprintln!("aviso: warning: {w}");
        }
        let active: Vec<GdacsEvent> =
            gdacs::active_cyclones(&feed.events, &Basin::SOUTH_WEST_INDIAN)
                .into_iter()
                .cloned()
                .collect();
        let record = AssessmentRecord {
            event_id: format!("gdacs:{}", iss.raw.feed),
            event_name: "GDACS".into(),
            reference_time: None,
            max_level: None,
            districts_on_ladder: 0,
            figures: json!({
                "active_south_west_indian_cyclones": active.iter().map(|e| json!({
                    "event_id": e.event_id, "name": e.event_name, "lon": e.lon, "lat": e.lat,
                    "alert_level": e.alert_level,
                })).collect::<Vec<_>>(),
                "items": feed.events.len(),
                "warnings": feed.warnings.len(),
            }),
        };
        self.store.complete_issuance(iss.id, &[record], &[])?;
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = active;
        Ok(Vec::new())
    }

    /// Reloads the storms GDACS listed in the newest processed issuance (after a restart
    /// a 304 would otherwise leave the list empty).
    pub fn restore_discovered(&self) {
        for f in self.cfg.feeds.iter().filter(|f| f.kind == FeedKind::Gdacs) {
            if let Ok(Some(iss)) = self.store.latest_processed_issuance(&f.name)
                && let Ok(feed) = gdacs::parse_gdacs_rss(&iss.raw.bytes, &iss.raw.url)
            {
                *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) =
                    gdacs::active_cyclones(&feed.events, &Basin::SOUTH_WEST_INDIAN)
                        .into_iter()
                        .cloned()
                        .collect();
            }
        }
    }

    /// The stored version of a cyclone alert: summary, GeoJSON document (with the summary
    /// under "alert") and CAP.
    fn new_alert(
        &self,
        a: &Assessment,
        v: &versioning::AlertVersion,
        prev: Option<&AlertSummary>,
        feed: &str,
        issuance_id: Option<i64>,
        reason: Option<crate::store::Reason>,
    ) -> Result<NewAlert, ProcessError> {
        let summary = publish::summary_of(
            v,
            publish::SummaryParts {
                hazard: HazardKind::TropicalCyclone,
                event_name: a.forecast.storm.name.clone(),
                reference_time: Some(a.forecast.reference_time),
                event_level: a.event_level,
                prev,
                feed,
                issuance_id,
                reason,
                incident: None,
            },
        );
        let opts = CapOptions {
            web: publish::web_link(&self.cfg.service.public_url, &summary.id),
            expires_after_h: self.cfg.service.cap_expires_after_h,
            ..CapOptions::default()
        };
        let cap = cap_document(a, v, &self.cfg.levels, &opts)
            .map_err(|e| ProcessError::Publish(e.to_string()))?;
        let doc = alert_document(a, &self.layers.layers, self.cfg.output.coordinate_decimals);
        publish::stored_alert(summary, doc, cap)
    }

    /// Cancels the active events of `feed` that have had no new version for
    /// `expire_event_after_h` while the feed was healthy. Blocking; returns the ids of
    /// the Cancels published.
    pub fn expire_stale(&self, feed: &str) -> Vec<String> {
        self.expire_stale_at(feed, Utc::now())
    }

    /// [`Pipeline::expire_stale`] as if the clock read `now` (the Cancels are sent at
    /// `now`): how tests and drills check the 24 h and 48 h rules without waiting.
    pub fn expire_stale_at(&self, feed: &str, now: DateTime<Utc>) -> Vec<String> {
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let horizon = Duration::minutes((self.cfg.service.expire_event_after_h * 60.0) as i64);
        let active = match self.store.alerts(&AlertFilter {
            active_only: true,
            include_non_actual: true,
            ..AlertFilter::default()
        }) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("aviso: ERROR: listing active alerts: {e}");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for s in active {
            let own = s.feed == feed || s.feed.starts_with(&format!("{feed}:"));
            let due = match s.hazard {
                HazardKind::Flood => self.flood_is_stale(&s, now),
                HazardKind::TropicalCyclone => s.sent + horizon <= now,
            };
            if !own || !due {
                continue;
            }
            if !self.feed_spoke_since(&s) {
                eprintln!(
                    "aviso: {} is due to expire, but feed {} has delivered no newer usable forecast since {}: it stays in force (no all-clear on silence)",
                    s.id,
                    s.feed,
                    s.sent.format("%Y-%m-%dT%H:%MZ")
                );
                continue;
            }
            match self.cancel_stale(&s, now) {
                Ok(id) => out.push(id),
                Err(e) => eprintln!("aviso: ERROR: cancelling stale {}: {e}", s.id),
            }
        }
        if !out.is_empty() {
            self.refresh_current_alert();
        }
        out
    }

    /// Whether the feed of `s` has said, since `s` was published, what an expiry may
    /// rest on (issue 17): a forecast newer than the event's last one that parsed and was
    /// assessed (another storm's: this one is no longer in the feed), or, for a per-storm
    /// key of a GDACS-templated feed, a GDACS list processed since that no longer names the
    /// storm. A silent feed, or one serving garbage or the same old file, is no evidence
    /// that the storm is gone, and never cancels.
    fn feed_spoke_since(&self, s: &AlertSummary) -> bool {
        let (base, storm) = match s.feed.split_once(':') {
            Some((base, storm)) => (base, Some(storm)),
            None => (s.feed.as_str(), None),
        };
        let since = |feed: &str| match self.store.forecasts_since(feed, s.sent) {
            Ok(refs) => refs,
            Err(e) => {
                eprintln!("aviso: ERROR: reading the issuances of {feed}: {e}");
                Vec::new()
            }
        };
        let newer = |r: &Option<DateTime<Utc>>| match (r, s.reference_time) {
            (Some(r), Some(last)) => *r > last,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if since(base).iter().any(newer) {
            return true;
        }
        let Some(storm) = storm else {
            return false;
        };
        let gdacs_spoke = self
            .cfg
            .feeds
            .iter()
            .filter(|f| f.kind == FeedKind::Gdacs)
            .any(|f| !since(&f.name).is_empty());
        gdacs_spoke
            && !self
                .discovered()
                .iter()
                .any(|e| e.storm_name.eq_ignore_ascii_case(storm))
    }

    fn cancel_stale(&self, s: &AlertSummary, now: DateTime<Utc>) -> Result<String, ProcessError> {
        if s.hazard == HazardKind::Flood {
            return self.cancel_stale_flood(s, now);
        }
        // The CAP of a Cancel is written from an assessment: the event's last issuance,
        // assessed again (the raw bytes are kept for exactly this kind of need).
        let h = self.cfg.service.expire_event_after_h;
        let reason = crate::store::Reason {
            en: format!(
                "no new forecast of {} for {h} h while feed {} was healthy: the storm dissipated or left the feed",
                s.event_name, s.feed
            ),
            pt: format!(
                "sem nova previsão de {} há {h} h com o canal {} a funcionar: a tempestade dissipou-se ou saiu do canal",
                s.event_name, s.feed
            ),
        };
        self.publish_cancel(s, now, |iss, v| {
            let opts = ParseOptions {
                atcf_tech: self.feed_config(&iss.raw.feed).and_then(|f| f.tech.clone()),
                ..ParseOptions::default()
            };
            let parsed = feeds::parse(&iss.raw.bytes, &iss.raw.url, &opts)
                .map_err(|e| ProcessError::Parse(e.to_string()))?;
            let a = assess(&parsed.forecast, &self.layers, &self.cfg, now)
                .map_err(|e| ProcessError::Assess(e.to_string()))?;
            let alert = self.new_alert(&a, v, Some(s), &s.feed, None, Some(reason))?;
            Ok((alert, published_alert(v, &a)))
        })
    }

    /// Stores a version (with the assessment of the issuance it came from, if any) and,
    /// when subscribers are wired in, the messages it gives them, in ONE transaction.
    /// Returns how many messages were queued.
    fn commit_version(
        &self,
        issuance: Option<(i64, &[AssessmentRecord])>,
        alert: &NewAlert,
        published: &PublishedAlert,
    ) -> Result<usize, ProcessError> {
        let alerts = std::slice::from_ref(alert);
        let Some(hook) = &self.notify else {
            match issuance {
                Some((id, records)) => self.store.complete_issuance(id, records, alerts)?,
                None => self.store.publish_alert(alert)?,
            }
            return Ok(0);
        };
        let ncfg = &self.cfg.notify;
        let mut planned = if ncfg.any_channel_enabled() {
            plan_version(hook.store.as_ref(), published, ncfg, &hook.geometry)?
        } else {
            Vec::new()
        };
        planned.retain(|p| ncfg.channel_enabled(p.outbound.kind()));
        let now = Utc::now();
        Ok(match issuance {
            Some((id, records)) => hook
                .store
                .complete_issuance_enqueue(id, records, alerts, &planned, now)?,
            None => hook.store.publish_alert_enqueue(alert, &planned, now)?,
        })
    }

    /// Serves the newest active Actual alert as the OGC API's hazard collections (none:
    /// empty collections). Exercise and Test alerts are not "current".
    pub fn refresh_current_alert(&self) {
        let newest = self
            .store
            .alerts(&AlertFilter {
                active_only: true,
                ..AlertFilter::default()
            })
            .ok()
            .and_then(|v| v.into_iter().next());
        let Some(s) = newest else {
            self.api.clear_alert();
            return;
        };
        match self.store.alert(&s.id) {
            Ok(Some(rec)) => match serde_json::from_str::<Value>(&rec.document) {
                Ok(doc) => {
                    if let Err(e) = self.api.set_alert(doc, &s.id) {
                        eprintln!("aviso: ERROR: serving {} as the current alert: {e}", s.id);
                    }
                }
                Err(e) => eprintln!("aviso: ERROR: stored document {} is not JSON: {e}", s.id),
            },
            Ok(None) => {}
            Err(e) => eprintln!("aviso: ERROR: reading {}: {e}", s.id),
        }
    }
}

/// Refuses an Actual forecast whose reference time is more than `max_age_h` hours before
/// `now` (issue 17: a feed serving a 2023 forecast put out a red Actual alert whose CAP
/// `expires` preceded its `sent`). Exercise and Test forecasts pass: replays and drills
/// are old on purpose and never reach the public.
pub(crate) fn refuse_stale(
    origin: &str,
    status: CapStatus,
    reference: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age_h: f64,
    key: &str,
) -> Result<(), ProcessError> {
    let age_h = (now - reference).num_seconds() as f64 / 3600.0;
    if status != CapStatus::Actual || age_h <= max_age_h {
        return Ok(());
    }
    Err(ProcessError::Stale(format!(
        "{origin}: the forecast of {} is {age_h:.0} h old when processed (limit {max_age_h} h, \
         {key}): refused as an Actual alert; the alerts in force stay as they are",
        reference.format("%Y-%m-%dT%H:%MZ")
    )))
}

fn queued_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("; {n} message(s) queued for subscribers")
    }
}

/// What subscriber selection and the messages need of a version: its districts with the
/// people at risk at their widest threshold, the point features (sites, accommodation
/// centres, health facilities) in a forecast footprint, and the next issuance expected.
/// A Cancel carries none of them.
pub fn published_alert(v: &versioning::AlertVersion, a: &Assessment) -> PublishedAlert {
    let mut p = PublishedAlert::from_version(
        v,
        crate::notify::HazardKind::Cyclone,
        &a.forecast.storm.name,
    );
    if v.msg_type == MsgType::Cancel {
        return p;
    }
    for d in &mut p.districts {
        d.people_at_risk = a
            .exposure
            .districts
            .iter()
            .find(|x| x.pcode == d.pcode)
            .and_then(|x| x.widest())
            .map(|w| w.people_at_risk);
    }
    p.sites = a
        .exposure
        .points
        .iter()
        .map(|pt| SiteAtRisk {
            layer: pt.layer.clone(),
            id: pt.id.clone(),
            name: pt.name.clone(),
            district_pcode: pt.district_pcode.clone(),
            people: pt.population,
        })
        .collect();
    // The first issuance time after the version was sent (a late one is not "next").
    let step_s = ISSUANCE_INTERVAL_H * 3600;
    let next = a.forecast.reference_time + Duration::seconds(step_s);
    let behind_s = (v.sent - next).num_seconds();
    p.next_update = Some(if behind_s < 0 {
        next
    } else {
        next + Duration::seconds((behind_s / step_s + 1) * step_s)
    });
    p
}

fn assessment_record(event_id: &str, a: &Assessment) -> AssessmentRecord {
    AssessmentRecord {
        event_id: event_id.to_string(),
        event_name: a.forecast.storm.name.clone(),
        reference_time: Some(a.forecast.reference_time),
        max_level: a.event_level,
        districts_on_ladder: a.levels.len(),
        figures: json!({
            "trigger": format!("{:?}", a.trigger.state),
            "source": a.forecast.source.label(),
            "origin": a.forecast.origin,
        }),
    }
}
