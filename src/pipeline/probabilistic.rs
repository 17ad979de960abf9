//! The service's probabilistic step (issue 12): every cyclone version the pipeline
//! publishes (not a Cancel) is also assessed probabilistically, and the result goes into
//! the version's document, its CAP certainty, the OGC API and the map.
//!
//! Runs on the pipeline's blocking thread (issuances are processed through
//! `spawn_blocking`, never on the async reactor). The seed is fixed per issuance (event id
//! and reference time), so re-processing an issuance gives the same numbers. A failure,
//! even a panic, is logged and recorded in the document: the deterministic alert is
//! published whatever happens here.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crate::alerts::probabilistic::ProbabilisticOutcome;
use crate::domain::Forecast;
use crate::hazard::ensemble::{
    PreparedLayers, assess_ensemble, assess_probabilistic_seeded, event_seed, members,
};

use super::Pipeline;

impl Pipeline {
    /// The probabilistic assessment of one issuance's `forecast`. `bufr`: the issuance is
    /// an ECMWF track BUFR (`body`), whose ensemble members are the realisations when
    /// there are enough of them; otherwise the official forecast is perturbed, seeded with
    /// [`event_seed`]`(event_id, reference time)` (or the fixed seed when so configured).
    pub(crate) fn probabilistic(
        &self,
        forecast: &Forecast,
        body: &[u8],
        bufr: bool,
        event_id: &str,
    ) -> ProbabilisticOutcome {
        let cfg = &self.cfg.probabilistic;
        if !cfg.publish {
            return ProbabilisticOutcome::Off;
        }
        let started = Instant::now();
        let run = || -> Result<ProbabilisticOutcome, String> {
            let prepared = self.prepared.get_or_init(|| {
                PreparedLayers::new(&self.layers.layers, &self.cfg.exposure.weighting_layer, cfg)
            });
            let ensemble = if bufr {
                // Through the pipeline's decoder (a child process in the service), like the
                // deterministic parse: a file that crashes ecCodes must not end the service.
                let parsed = self
                    .bufr
                    .decode(body, &forecast.origin)
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
                        crate::hazard::ensemble::SeedPolicy::Fixed => cfg.fixed_seed,
                        crate::hazard::ensemble::SeedPolicy::Issuance => {
                            event_seed(event_id, forecast.reference_time)
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
            ProbabilisticOutcome::Off => {}
        }
        outcome
    }
}
