//! The service's probabilistic step (issue 12): every cyclone version the pipeline
//! publishes (not a Cancel) is also assessed probabilistically, and the result goes into
//! the version's document, its CAP certainty, the OGC API and the map.
//!
//! **An alert never waits long for it.** The assessment runs on its own thread; the
//! version waits at most `[probabilistic] publish_wait_s` (1 s by default). When the
//! result is late, the version is published without it (`aviso.probabilistic.status =
//! "pending"`, CAP certainty as without probabilities), and when the result comes its
//! document is attached to the stored version (`Store::attach_document`): the API, the
//! OGC API and the map serve it from then on. The version as published (document and
//! CAP) is never rewritten. A handoff ([`Handoff`]) settles the race between the
//! assessment finishing and the version being stored.
//!
//! One assessment runs at a time (each spreads its realisations over every core); a job
//! whose event has a newer version queued behind it is skipped and recorded as such. The
//! seed is fixed per issuance (event id and reference time), so re-processing an issuance
//! gives the same numbers. A failure, even a panic, is logged and recorded in the
//! document: the deterministic alert stands whatever happens here.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::alerts::probabilistic::{ProbabilisticOutcome, attach_probabilistic};
use crate::config::Config;
use crate::domain::Forecast;
use crate::exposure::IndexedLayers;
use crate::feeds::BufrDecoder;
use crate::hazard::ensemble::{
    PreparedLayers, SeedPolicy, assess_ensemble, assess_probabilistic_seeded, event_seed, members,
};
use crate::metrics::Metrics;
use crate::store::{Store, published::Published};

/// A poisoned lock only means a thread panicked while holding it; every value behind these
/// locks is replaced in one assignment, so it is whole and is used.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the pipeline shares with its probabilistic jobs (all read-only but the locks).
pub(crate) struct Shared {
    pub(crate) cfg: Arc<Config>,
    pub(crate) layers: Arc<IndexedLayers>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) published: Arc<Published>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) bufr: Arc<dyn BufrDecoder>,
    /// The layers prepared for probabilistic counting, built at the first use.
    prepared: OnceLock<PreparedLayers>,
    /// Held while an assessment runs: one at a time.
    running: Mutex<()>,
    /// The newest job of each event (by [`Job::seq`]).
    newest: Mutex<HashMap<String, u64>>,
    next_seq: AtomicU64,
    /// Held while the current alert is read from the store and swapped in, so that a
    /// late attachment never puts back an older version over a newer one.
    refresh: Mutex<()>,
    /// The pipeline, to publish the new version a late probability calls for
    /// (`late_levels`); set by [`super::Pipeline::bind`]. Weak: the pipeline owns this.
    pipeline: OnceLock<Weak<super::Pipeline>>,
}

/// One version's probabilistic assessment, as handed to its thread.
pub(crate) struct Job {
    pub(crate) forecast: Forecast,
    /// The issuance's body (an ECMWF BUFR's members are the realisations).
    pub(crate) body: Vec<u8>,
    pub(crate) bufr: bool,
    /// The version's event id (with its Exercise/Test prefix): jobs of one event queue.
    pub(crate) event_id: String,
    /// The storm's event id without the prefix: the seed's input.
    pub(crate) seed_event_id: String,
    /// What a late result needs to decide the levels it would have given (none when no
    /// level rule names a probability).
    pub(crate) late: Option<Arc<super::late_levels::LateLevels>>,
}

/// Where the pipeline and a job meet.
enum Slot {
    /// The pipeline waits for the result.
    Waiting,
    /// The result came in time (taken by the pipeline).
    Ready(ProbabilisticOutcome),
    Taken,
    /// The pipeline stopped waiting and is storing the version without the result.
    GaveUp,
    /// The result came after the pipeline gave up but before the version was stored.
    Late(ProbabilisticOutcome),
    /// The version is stored under this id: the job attaches its result itself.
    Committed(String),
    /// The version was not stored: the result goes nowhere.
    Abandoned,
}

pub(crate) struct Handoff {
    slot: Mutex<Slot>,
    ready: Condvar,
}

impl Handoff {
    fn new() -> Self {
        Handoff {
            slot: Mutex::new(Slot::Waiting),
            ready: Condvar::new(),
        }
    }

    /// The pipeline: the result if it comes within `max`, else `Pending`.
    fn wait(&self, max: Duration) -> ProbabilisticOutcome {
        let guard = lock(&self.slot);
        let (mut slot, _) = self
            .ready
            .wait_timeout_while(guard, max, |s| matches!(s, Slot::Waiting))
            .unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Ready(o) => o,
            _ => {
                *slot = Slot::GaveUp;
                ProbabilisticOutcome::Pending
            }
        }
    }

    /// The job: hands `o` over. `Some`: the version is stored, attach it there.
    fn finish(&self, o: ProbabilisticOutcome) -> Option<(String, ProbabilisticOutcome)> {
        let mut slot = lock(&self.slot);
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Waiting => {
                *slot = Slot::Ready(o);
                self.ready.notify_all();
                None
            }
            Slot::GaveUp => {
                *slot = Slot::Late(o);
                None
            }
            Slot::Committed(id) => Some((id, o)),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// The pipeline, after storing the version `id` without the result: `Some` when the
    /// result came meanwhile (the pipeline attaches it).
    pub(crate) fn committed(&self, id: &str) -> Option<ProbabilisticOutcome> {
        let mut slot = lock(&self.slot);
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Late(o) => Some(o),
            _ => {
                *slot = Slot::Committed(id.to_string());
                None
            }
        }
    }

    /// The pipeline: the version was not stored.
    pub(crate) fn abandon(&self) {
        *lock(&self.slot) = Slot::Abandoned;
    }
}

impl Shared {
    pub(crate) fn new(
        cfg: Arc<Config>,
        layers: Arc<IndexedLayers>,
        store: Arc<dyn Store>,
        published: Arc<Published>,
        metrics: Arc<Metrics>,
        bufr: Arc<dyn BufrDecoder>,
    ) -> Self {
        Shared {
            cfg,
            layers,
            store,
            published,
            metrics,
            bufr,
            prepared: OnceLock::new(),
            running: Mutex::new(()),
            newest: Mutex::new(HashMap::new()),
            next_seq: AtomicU64::new(0),
            refresh: Mutex::new(()),
            pipeline: OnceLock::new(),
        }
    }

    /// Lets late results publish through `p` (once; later calls change nothing).
    pub(crate) fn bind(&self, p: Weak<super::Pipeline>) {
        let _ = self.pipeline.set(p);
    }

    /// Starts `job` and waits for it at most `[probabilistic] publish_wait_s`. With
    /// `Pending`, the handoff is returned: tell it whether the version was stored.
    pub(crate) fn run_bounded(
        self: &Arc<Self>,
        job: Job,
    ) -> (ProbabilisticOutcome, Option<Arc<Handoff>>) {
        let cfg = &self.cfg.probabilistic;
        if !cfg.publish {
            return (ProbabilisticOutcome::Off, None);
        }
        let handoff = match self.start(job, None) {
            Ok(h) => h,
            Err(e) => return (ProbabilisticOutcome::Failed(e), None),
        };
        let max = Duration::from_secs_f64(cfg.publish_wait_s.max(0.0));
        match handoff.wait(max) {
            ProbabilisticOutcome::Pending => (ProbabilisticOutcome::Pending, Some(handoff)),
            done => (done, None),
        }
    }

    /// Starts `job` on its own thread, the newest of its event. With `stored`, the version
    /// is already in the store under that id and the job attaches its result there.
    fn start(self: &Arc<Self>, job: Job, stored: Option<&str>) -> Result<Arc<Handoff>, String> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        lock(&self.newest).insert(job.event_id.clone(), seq);
        let handoff = Arc::new(Handoff::new());
        if let Some(id) = stored {
            // Nothing is computed yet, so nothing comes back: the job will attach.
            let _ = handoff.committed(id);
        }
        let (me, h) = (Arc::clone(self), Arc::clone(&handoff));
        std::thread::Builder::new()
            .name("aviso-probabilistic".into())
            .spawn(move || me.run_job(job, seq, &h))
            .map_err(|e| format!("starting the probabilistic thread: {e}"))?;
        Ok(handoff)
    }

    /// Runs `job` again for the version `id` published before a restart while its
    /// probabilities were pending; the result is attached as it would have been. The
    /// seed is the event's and the reference time's, so the result is the one the
    /// interrupted run would have given.
    pub(crate) fn resume(self: &Arc<Self>, job: Job, id: &str) -> Result<(), String> {
        if !self.cfg.probabilistic.publish {
            return Ok(());
        }
        self.start(job, Some(id)).map(|_| ())
    }

    fn run_job(&self, job: Job, seq: u64, handoff: &Handoff) {
        let outcome = {
            let _turn = lock(&self.running);
            let newer = lock(&self.newest)
                .get(&job.event_id)
                .is_some_and(|&n| n != seq);
            if newer {
                ProbabilisticOutcome::Skipped(format!(
                    "{}: not assessed: a newer version of the event was published before its turn",
                    job.event_id
                ))
            } else {
                self.assess(&job)
            }
        };
        if let Some((id, outcome)) = handoff.finish(outcome) {
            let pipeline = self.pipeline.get().and_then(Weak::upgrade);
            super::late_levels::deliver(self, pipeline, &id, &outcome, job.late.as_deref());
        }
    }

    /// The probabilistic assessment of one issuance's forecast. An ECMWF track BUFR's
    /// ensemble members are the realisations when there are enough of them; otherwise the
    /// official forecast is perturbed, seeded with [`event_seed`]`(event id, reference
    /// time)` (or the fixed seed when so configured).
    fn assess(&self, job: &Job) -> ProbabilisticOutcome {
        let cfg = &self.cfg.probabilistic;
        let forecast = &job.forecast;
        let started = Instant::now();
        let run = || -> Result<ProbabilisticOutcome, String> {
            let prepared = self.prepared.get_or_init(|| {
                PreparedLayers::new(&self.layers.layers, &self.cfg.exposure.weighting_layer, cfg)
            });
            let ensemble = if job.bufr {
                // Through the pipeline's decoder (a child process in the service), like the
                // deterministic parse: a file that crashes ecCodes must not end the service.
                let parsed = self
                    .bufr
                    .decode(&job.body, &forecast.origin)
                    .map_err(|e| e.to_string())?;
                Some(parsed.ensemble).filter(|e| e.realisations().count() >= members::MIN_MEMBERS)
            } else {
                None
            };
            let (result, basis) = match &ensemble {
                Some(e) => (
                    assess_ensemble(e, prepared, cfg, &self.cfg.hazard),
                    "ECMWF ensemble members".to_string(),
                ),
                None => {
                    let seed = match cfg.seed_policy {
                        SeedPolicy::Fixed => cfg.fixed_seed,
                        SeedPolicy::Issuance => {
                            event_seed(&job.seed_event_id, forecast.reference_time)
                        }
                    };
                    (
                        assess_probabilistic_seeded(
                            forecast,
                            prepared,
                            cfg,
                            &self.cfg.hazard,
                            seed,
                        ),
                        "realisations around the official forecast track (perturbed)".to_string(),
                    )
                }
            };
            let result = result.map_err(|e| e.to_string())?;
            Ok(ProbabilisticOutcome::Assessed {
                result: Box::new(result),
                basis,
                seconds: started.elapsed().as_secs_f64(),
            })
        };
        let outcome = match catch_unwind(AssertUnwindSafe(run)) {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => ProbabilisticOutcome::Failed(format!("{}: {e}", forecast.origin)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".to_string());
                ProbabilisticOutcome::Failed(format!(
                    "{}: the probabilistic assessment panicked: {what}",
                    forecast.origin
                ))
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let event_id = &job.event_id;
        match &outcome {
            ProbabilisticOutcome::Assessed { result, .. } => {
                self.metrics.observe_probabilistic(seconds, true);
                tracing::info!(
                    event = %event_id,
                    realisations = result.realisations,
                    seconds = format_args!("{seconds:.1}"),
                    "probabilistic assessment"
                );
            }
            ProbabilisticOutcome::Failed(e) => {
                self.metrics.observe_probabilistic(seconds, false);
                // ERROR: someone must look; the deterministic alert is published anyway.
                tracing::error!(
                    event = %event_id,
                    error = %e,
                    "probabilistic assessment failed (the deterministic alert is published without it)"
                );
            }
            _ => {}
        }
        outcome
    }

    /// Attaches a result that came after its version `id` was published: the stored
    /// document with the probabilities, marked as attached later, then served. With
    /// `superseded_by`, the probabilities changed levels and that version says so.
    pub(crate) fn attach_late(
        &self,
        id: &str,
        outcome: &ProbabilisticOutcome,
        superseded_by: Option<&str>,
    ) {
        let now = Utc::now();
        let attached = (|| -> Result<bool, String> {
            let rec = self
                .store
                .alert(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "the version is not in the store".to_string())?;
            let mut doc: Value = serde_json::from_str(&rec.document)
                .map_err(|e| format!("its stored document is not JSON: {e}"))?;
            attach_probabilistic(&mut doc, outcome, self.cfg.output.coordinate_decimals);
            if let Some(meta) = doc
                .pointer_mut("/aviso/probabilistic")
                .and_then(Value::as_object_mut)
            {
                meta.insert("attached_after_publication".into(), json!(true));
                meta.insert("attached_at".into(), json!(now.to_rfc3339()));
                meta.insert(
                    "cap_note".into(),
                    json!("the version's CAP was sent before the probabilities were ready: its certainty does not use them"),
                );
                if let Some(next) = superseded_by {
                    meta.insert("levels_updated_in".into(), json!(next));
                    meta.insert(
                        "levels_note".into(),
                        json!(format!("this version went out before its probabilities; they change some district's level, published as version {next} (CAP Update)")),
                    );
                }
            }
            let text = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
            self.store
                .attach_document(id, &text, now)
                .map_err(|e| e.to_string())
        })();
        match attached {
            Ok(true) => tracing::info!(
                version = %id,
                status = %outcome.status(),
                "probabilities attached after publication"
            ),
            Ok(false) => {}
            // ERROR: the version stays published without its probabilities.
            Err(e) => {
                tracing::error!(version = %id, error = %e, "attaching the probabilities failed")
            }
        }
        self.refresh_current();
    }

    /// Serves the newest active Actual alert (its document with any late probabilities)
    /// as the OGC API's hazard collections (none: empty collections). Exercise and Test
    /// alerts are not "current".
    pub(crate) fn refresh_current(&self) {
        let _one_at_a_time = lock(&self.refresh);
        let newest = self
            .store
            .alerts(&crate::store::AlertFilter {
                active_only: true,
                ..crate::store::AlertFilter::default()
            })
            .ok()
            .and_then(|v| v.into_iter().next());
        let Some(s) = newest else {
            self.published.withdraw();
            return;
        };
        match self.store.alert(&s.id) {
            Ok(Some(rec)) => match serde_json::from_str::<Value>(rec.current_document()) {
                Ok(doc) => self.published.publish(s.id, doc),
                Err(e) => tracing::error!(
                    version = %s.id,
                    error = %e,
                    "the stored document is not JSON: not served as the current alert"
                ),
            },
            Ok(None) => {}
            Err(e) => {
                tracing::error!(version = %s.id, error = %e, "reading the current alert failed")
            }
        }
    }
}

impl super::Pipeline {
    /// After a restart: the newest version of each active event that was published while
    /// its probabilities were still being computed ("pending", nothing attached) gets them
    /// now, computed again from its stored issuance (same seed, same result) and attached
    /// as the interrupted run would have (a new version when they raise a level). Returns
    /// how many were started.
    pub fn resume_pending_probabilities(self: &Arc<Self>) -> usize {
        self.bind();
        let filter = crate::store::AlertFilter {
            active_only: true,
            include_non_actual: true,
            ..crate::store::AlertFilter::default()
        };
        let active = match self.store.alerts(&filter) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "reading the active alerts to resume pending probabilities failed");
                return 0;
            }
        };
        let mut started = 0;
        for s in active {
            let Some(iss_id) = s.issuance_id else {
                continue;
            };
            let pending = match self.store.alert(&s.id) {
                Ok(Some(rec)) => {
                    rec.annex.is_none()
                        && serde_json::from_str::<Value>(&rec.document).is_ok_and(|d| {
                            d.pointer("/aviso/probabilistic/status")
                                .and_then(Value::as_str)
                                == Some(ProbabilisticOutcome::Pending.status())
                        })
                }
                _ => false,
            };
            if !pending {
                continue;
            }
            let iss = match self.store.issuance(iss_id) {
                Ok(Some(i)) => i,
                other => {
                    // WARN: the version stays without probabilities.
                    tracing::warn!(version = %s.id, issuance = iss_id, error = ?other.err(), "the issuance of a version with pending probabilities is not in the store");
                    continue;
                }
            };
            let feed = self.feed_config(&iss.raw.feed).cloned();
            let origin = format!("{} ({})", iss.raw.url, iss.raw.feed);
            let job = self
                .parse_cyclone(&iss, feed.as_ref(), &origin)
                .map_err(|e| e.to_string())
                .and_then(|(parsed, _)| {
                    let late = self.late_levels_of(&s, &parsed.forecast, iss_id);
                    self.prob.resume(
                        Job {
                            seed_event_id: crate::alerts::versioning::event_id(
                                &parsed.forecast.storm,
                            ),
                            forecast: parsed.forecast,
                            body: iss.raw.bytes.clone(),
                            bufr: feed.as_ref().map(|f| f.kind)
                                == Some(crate::config::FeedKind::EcmwfBufr),
                            event_id: s.event_id.clone(),
                            late,
                        },
                        &s.id,
                    )
                });
            match job {
                Ok(()) => {
                    started += 1;
                    tracing::info!(version = %s.id, "probabilities pending before the restart: computing them again");
                }
                Err(e) => {
                    tracing::warn!(version = %s.id, error = %e, "resuming pending probabilities failed")
                }
            }
        }
        started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(s: &str) -> ProbabilisticOutcome {
        ProbabilisticOutcome::Failed(s.to_string())
    }

    #[test]
    fn a_result_within_the_wait_goes_into_the_version() {
        let h = Arc::new(Handoff::new());
        let job = Arc::clone(&h);
        let t = std::thread::spawn(move || job.finish(failed("in time")));
        let got = h.wait(Duration::from_secs(60));
        assert!(matches!(got, ProbabilisticOutcome::Failed(ref e) if e == "in time"));
        assert!(t.join().is_ok_and(|late| late.is_none()));
    }

    #[test]
    fn a_result_after_the_wait_but_before_the_commit_is_attached_by_the_pipeline() {
        let h = Handoff::new();
        assert!(matches!(
            h.wait(Duration::ZERO),
            ProbabilisticOutcome::Pending
        ));
        assert!(h.finish(failed("late")).is_none(), "nothing stored yet");
        assert!(matches!(h.committed("v1"), Some(ProbabilisticOutcome::Failed(e)) if e == "late"));
    }

    #[test]
    fn a_result_after_the_commit_is_attached_by_the_job() {
        let h = Handoff::new();
        assert!(matches!(
            h.wait(Duration::ZERO),
            ProbabilisticOutcome::Pending
        ));
        assert!(h.committed("v1").is_none());
        let (id, o) = h
            .finish(failed("later"))
            .unwrap_or_else(|| panic!("attach"));
        assert_eq!(id, "v1");
        assert!(matches!(o, ProbabilisticOutcome::Failed(e) if e == "later"));
    }

    #[test]
    fn a_result_for_a_version_never_stored_goes_nowhere() {
        let h = Handoff::new();
        let _ = h.wait(Duration::ZERO);
        h.abandon();
        assert!(h.finish(failed("orphan")).is_none());
    }
}
