//! The members of an ensemble forecast (ECMWF's 51 ENS members: control + 50 perturbed) as
//! realisations: each member's own track, intensity and wind radii, unperturbed, counted
//! like the perturbed copies of a deterministic forecast.
//!
//! Pure computation on `crate::domain` types; must not depend on feeds (the BUFR reader
//! hands over an [`EnsembleForecast`]), I/O or exposure.
//!
//! Radii: a member's own quadrant radii where the file gives them (ECMWF: 18/26/33 m/s,
//! read as 34/50/64 kt; the 50 kt radii stand in for 48 kt, a slight underestimate), else
//! the Holland (2008) profile fitted to its maximum wind, pressure and radius of maximum
//! wind (the deterministic swath's rule, `hazard::swath`); the notes count each.

use crate::domain::{EnsembleForecast, Forecast};

use super::realisations::{Realisation, RealisationSet, unperturbed_realisation};
use super::{EnsembleError, PreparedLayers, ProbabilisticAssessment, ProbabilisticConfig};
use crate::hazard::HazardConfig;

/// Members an ensemble must have for its spread to stand for the uncertainty; with fewer
/// (a deterministic BUFR file holds one run) the caller perturbs a single forecast instead.
/// Two is the least that can disagree; ECMWF ENS has 51.
pub const MIN_MEMBERS: usize = 2;

/// One realisation per ENS member ([`EnsembleForecast::realisations`]: the control and the
/// perturbed members; the high-resolution run is a different model, left out as ECMWF's
/// own strike probabilities do). A member without a track (the tracker lost the storm) is
/// a realisation in which no wind reaches anything: it stays in the denominator.
pub fn member_realisations(
    ensemble: &EnsembleForecast,
    cfg: &ProbabilisticConfig,
    hazard: &HazardConfig,
) -> Result<RealisationSet, EnsembleError> {
    let k = cfg.thresholds_kt.len();
    let mut realisations = Vec::new();
    let (mut empty, mut given, mut profile) = (0usize, 0usize, 0usize);
    for m in ensemble.realisations() {
        if m.forecast.track.is_empty() {
            empty += 1;
            realisations.push(Realisation::empty(k));
            continue;
        }
        let (g, p) = radii_sources(&m.forecast, &cfg.thresholds_kt);
        given += g;
        profile += p;
        let r = unperturbed_realisation(&m.forecast, cfg, hazard).map_err(|e| {
            EnsembleError::Member {
                origin: ensemble.origin.clone(),
                number: m.number,
                reason: e.to_string(),
            }
        })?;
        realisations.push(r);
    }
    let mut notes = vec![format!(
        "{} realisations: the members of the ensemble {} ({} {}), control and perturbed \
         (the high-resolution run is left out), each unperturbed; {} without a track count \
         as realisations with no wind",
        realisations.len(),
        ensemble.origin,
        ensemble.storm.name,
        ensemble.reference_time.format("%Y-%m-%d %H UTC"),
        empty,
    )];
    notes.push(format!(
        "member radii: {given} (fix, threshold) pairs from the file's quadrant radii \
         (ECMWF 18/26/33 m/s as 34/50/64 kt; 50 kt standing in for 48 kt), {profile} from \
         the Holland (2008) profile where the member reaches the threshold but the file has \
         no radius"
    ));
    Ok(RealisationSet {
        realisations,
        notes,
    })
}

/// (fix, threshold) pairs of a member with radii from the file, and those left to the
/// profile (maximum wind at or above the threshold, no radii).
fn radii_sources(f: &Forecast, thresholds_kt: &[f64]) -> (usize, usize) {
    let (mut given, mut profile) = (0, 0);
    for p in &f.track {
        for &t in thresholds_kt {
            let has =
                p.radii_for(t).is_some() || ((t - 48.0).abs() < 0.5 && p.radii_for(50.0).is_some());
            let v10 = p.max_wind_kt.map(|w| f.wind_averaging.to_ten_minute(w).0);
            if has {
                given += 1;
            } else if v10.is_some_and(|v| v >= t) {
                profile += 1;
            }
        }
    }
    (given, profile)
}

/// One probabilistic assessment from an ensemble's members (no random draws: the seed is
/// absent from the result).
pub fn assess_ensemble(
    ensemble: &EnsembleForecast,
    prepared: &PreparedLayers,
    cfg: &ProbabilisticConfig,
    hazard: &HazardConfig,
) -> Result<ProbabilisticAssessment, EnsembleError> {
    cfg.validate()?;
    let set = member_realisations(ensemble, cfg, hazard)?;
    let mut out = super::count_and_trace(&set.realisations, prepared, cfg)?;
    out.reference_time = Some(ensemble.reference_time);
    out.storm = Some(format!("{} ({})", ensemble.storm.name, ensemble.storm.id));
    out.notes.extend(set.notes);
    Ok(out)
}
