//! One assessment: forecast -> hazard -> exposure -> levels and trigger.
//!
//! Pure orchestration of the core; no I/O, and no application config: it takes the four
//! sections it needs as an [`AssessConfig`]. The CLI, the replay and the service all call
//! [`assess`] on layers loaded and indexed once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use geo::{Contains, Point};

use crate::alerts::levels::{DistrictFacts, Level, LevelBasis, LevelRules};
use crate::alerts::trigger::{self, TriggerConfig, TriggerInput, TriggerStatus};
use crate::domain::{FixKind, Forecast, Hazard};
use crate::exposure::{self, Exposure, ExposureConfig, IndexedLayers};
use crate::hazard::ensemble::ProbabilisticAssessment;
use crate::hazard::{self, HazardConfig, HazardError};

/// What one cyclone assessment reads of the configuration: the hazard model, the exposure
/// counts, the level ladder (`[levels]`) and the anticipatory-action trigger (`[trigger]`).
/// Borrowed from the validated application config (`Config::assessment`), so the core
/// never sees the service, feed or notification settings.
#[derive(Debug, Clone, Copy)]
pub struct AssessConfig<'a> {
    pub hazard: &'a HazardConfig,
    pub exposure: &'a ExposureConfig,
    pub levels: &'a LevelRules,
    pub trigger: &'a TriggerConfig,
}

/// A district's place on the ladder, with the rule that put it there.
#[derive(Debug, Clone, PartialEq)]
pub struct DistrictLevel {
    pub level: Level,
    /// Index of the matching rule in `config.levels.rule`.
    pub rule: usize,
    /// Whether the official track or a probability rule (with its P) set the level.
    pub basis: LevelBasis,
}

/// Everything one forecast issuance yields; the alert document is rendered from it.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub forecast: Forecast,
    pub hazard: Hazard,
    pub exposure: Exposure,
    /// Level per district P-code (districts off the ladder are absent).
    pub levels: BTreeMap<String, DistrictLevel>,
    /// Highest district level.
    pub event_level: Option<Level>,
    pub trigger: TriggerStatus,
    /// True when the storm centre is over land at the reference time.
    pub over_land_at_reference: bool,
    pub generated_at: DateTime<Utc>,
    pub levels_version: String,
    /// What the parser noted about the input (conversions, dropped duplicates).
    pub input_notes: Vec<String>,
}

/// The fix the forecast starts from: the first forecast point, else the last analysis one.
fn reference_fix(f: &Forecast) -> Option<&crate::domain::TrackPoint> {
    f.track
        .iter()
        .find(|p| p.kind == FixKind::Forecast)
        .or_else(|| f.track.iter().rev().find(|p| p.kind == FixKind::Analysis))
}

/// Runs hazard, exposure, levels and trigger for one forecast.
pub fn assess(
    forecast: &Forecast,
    layers: &IndexedLayers,
    cfg: AssessConfig<'_>,
    now: DateTime<Utc>,
) -> Result<Assessment, HazardError> {
    let hazard = hazard::build_hazard_in(forecast, layers.country(), cfg.hazard)?;
    let exposure =
        exposure::assess_exposure(&hazard, forecast.reference_time, layers, cfg.exposure);

    let mut levels = BTreeMap::new();
    for d in &exposure.districts {
        let people_in_cone = d.widest().map(|w| w.people_at_risk).unwrap_or(0.0);
        let facts = DistrictFacts {
            wind: d
                .wind
                .iter()
                .map(|w| (w.threshold_kt, w.lead_time_h, w.people_at_risk))
                .collect(),
            // The cone's arrival time is not resolved per district: a district in the cone
            // counts as reached now (lead 0), which only matters for cone rules with a
            // max_lead_h.
            cone_lead_h: d.in_cone.then_some(0.0),
            people_in_cone,
        };
        if let Some((level, rule)) = cfg.levels.level_of(&facts) {
            levels.insert(
                d.pcode.clone(),
                DistrictLevel {
                    level,
                    rule,
                    basis: LevelBasis::OfficialTrack,
                },
            );
        }
    }
    let event_level = levels.values().map(|l| l.level).max();

    let over_land_at_reference = reference_fix(forecast)
        .is_some_and(|p| layers.layers.country.contains(&Point::new(p.lon, p.lat)));
    let watched = &cfg.trigger.provinces;
    let provinces_exposed: Vec<String> = hazard
        .exposed_area
        .as_ref()
        .map(|g| exposure::provinces_overlapping(layers, g))
        .unwrap_or_default()
        .into_iter()
        .filter(|p| watched.contains(p))
        .collect();
    let first_arrival_lead_h = exposure
        .districts
        .iter()
        .filter(|d| {
            d.province_pcode
                .as_ref()
                .is_some_and(|p| watched.contains(p))
        })
        .filter_map(|d| d.at(cfg.trigger.threshold_kt).map(|w| w.lead_time_h))
        .min_by(f64::total_cmp);
    let trigger = trigger::evaluate(
        cfg.trigger,
        &TriggerInput {
            reference_time: forecast.reference_time,
            provinces_exposed: &provinces_exposed,
            landfall_lead_h: hazard.landfall.as_ref().map(|l| l.lead_time_h),
            over_land_at_reference,
            first_arrival_lead_h,
        },
    );

    Ok(Assessment {
        forecast: forecast.clone(),
        hazard,
        exposure,
        levels,
        event_level,
        trigger,
        over_land_at_reference,
        generated_at: now,
        levels_version: cfg.levels.version.clone(),
        input_notes: Vec::new(),
    })
}

/// Raises the levels of `a` (from [`assess`]: the official track only) with the
/// probability rules of `rules`, reading each district's P from `p`, and with
/// `previous` (the event's previous published version: level per district P-code) for
/// the rules' hysteresis ([`LevelRules::with_probabilities`]). Levels only rise; the
/// event level follows.
///
/// Only the districts of the assessment (those the official forecast's cone or swaths
/// reach: the districts of the alert's document) are considered: a district outside the
/// cone is not added by a probability.
pub fn apply_probabilities(
    a: &mut Assessment,
    rules: &LevelRules,
    p: &ProbabilisticAssessment,
    previous: &BTreeMap<String, Level>,
) {
    if !rules.has_probability_rules() {
        return;
    }
    let counted = |t: f64, h: f64| {
        p.thresholds_kt.iter().any(|x| (x - t).abs() < 0.5)
            && p.windows_h.iter().any(|x| (x - h).abs() < 0.5)
    };
    for d in &a.exposure.districts {
        let official = a.levels.get(&d.pcode).map(|l| (l.level, l.rule));
        let prob = |t: f64, h: f64| {
            // A district absent from the counting has P = 0 (docs/probabilistic.md).
            counted(t, h).then(|| p.district_p(&d.pcode, t, h).unwrap_or(0.0))
        };
        let got = rules.with_probabilities(official, prob, previous.get(&d.pcode).copied());
        if let Some((level, rule, basis)) = got {
            a.levels
                .insert(d.pcode.clone(), DistrictLevel { level, rule, basis });
        }
    }
    a.event_level = a.levels.values().map(|l| l.level).max();
}

/// The levels of `a` while its probabilities are pending: a district a probability rule
/// put higher in the event's previous version (`previous_by_probability`: level per
/// P-code of the districts whose level there came from a probability rule) keeps that
/// level ([`LevelRules::while_pending`]). Only the assessment's districts are considered.
pub fn hold_while_pending(
    a: &mut Assessment,
    rules: &LevelRules,
    previous_by_probability: &BTreeMap<String, Level>,
) {
    if previous_by_probability.is_empty() {
        return;
    }
    for d in &a.exposure.districts {
        let official = a.levels.get(&d.pcode).map(|l| (l.level, l.rule));
        let prev = previous_by_probability.get(&d.pcode).copied();
        if let Some((level, rule, basis)) = rules.while_pending(official, prev) {
            a.levels
                .insert(d.pcode.clone(), DistrictLevel { level, rule, basis });
        }
    }
    a.event_level = a.levels.values().map(|l| l.level).max();
}
