//! The probabilistic part of a published cyclone version (issue 12): what goes into the
//! version's GeoJSON document beside the deterministic (official track) footprints, and
//! the CAP `certainty` that follows from the probability.
//!
//! Pure: builds `serde_json::Value`s from a [`ProbabilisticAssessment`]; computing the
//! assessment is `crate::hazard::ensemble`, running it is the pipeline's business.

use serde_json::{Map, Value, json};

use crate::alerts::document::{feature, feature_json, multipolygon_geometry, round};
use crate::hazard::ensemble::{PeopleAtRisk, ProbabilisticAssessment};
use geojson::Feature;

/// Document layout of the `aviso.probabilistic` member; bump when a field changes meaning.
pub const SCHEMA: &str = "aviso-probabilistic/1";

/// The threshold (10-minute kt) whose probability sets CAP `certainty`: gales (34 kt) are
/// the lowest wind the alert ladder acts on (yellow), so "the event" of a cyclone alert is
/// at least gales in its area.
pub const CERTAINTY_THRESHOLD_KT: f64 = 34.0;

/// Below this probability the event is "Unlikely" (CAP 1.2 §3.2.2: "Not expected to occur
/// (p ~ 0)"). 5 %: fewer than 1 realisation in 20; the hindcast table in
/// docs/probabilistic.md shows districts below 0.1 were hit in ≤ 0.4 % of cases.
pub const UNLIKELY_BELOW: f64 = 0.05;

/// Above this probability the event is "Likely" (CAP 1.2 §3.2.2: "Likely (p > ~50%)");
/// from [`UNLIKELY_BELOW`] to here it is "Possible" ("Possible but not likely (p <= ~50%)").
pub const LIKELY_ABOVE: f64 = 0.5;

/// What the service's probabilistic step gave for one version.
#[derive(Debug, Clone)]
pub enum ProbabilisticOutcome {
    /// Assessed: the result, how its realisations were made ("perturbed official track",
    /// "ECMWF ensemble members") and how long it took (s).
    Assessed {
        result: Box<ProbabilisticAssessment>,
        basis: String,
        seconds: f64,
    },
    /// The step failed: the deterministic alert is published without it.
    Failed(String),
    /// Not ready within `[probabilistic] publish_wait_s`: the version is published
    /// without it, and its document is served again with the probabilities when they
    /// are ready (the version's CAP keeps the certainty it was sent with).
    Pending,
    /// Not computed: a newer version of the event was published before this one's turn.
    Skipped(String),
    /// Turned off (`[probabilistic] publish = false`), or a Cancel (nothing to assess).
    Off,
}

impl ProbabilisticOutcome {
    pub fn result(&self) -> Option<&ProbabilisticAssessment> {
        match self {
            ProbabilisticOutcome::Assessed { result, .. } => Some(result),
            _ => None,
        }
    }

    pub fn status(&self) -> &'static str {
        match self {
            ProbabilisticOutcome::Assessed { .. } => "ok",
            ProbabilisticOutcome::Failed(_) => "failed",
            ProbabilisticOutcome::Pending => "pending",
            ProbabilisticOutcome::Skipped(_) => "skipped",
            ProbabilisticOutcome::Off => "off",
        }
    }
}

/// The flat key of P(≥ `t` kt within 0–`h` h), as in `aviso assess --probabilistic`'s CSV.
pub fn p_key(t: f64, h: f64) -> String {
    format!("p_ge{t}kt_0_{h}h")
}

fn people_json(q: &PeopleAtRisk) -> Value {
    json!({"mean": q.mean.round(), "p10": q.p10.round(), "p50": q.p50.round(), "p90": q.p90.round()})
}

/// P per threshold and window of one area, flat keys ([`p_key`]), 3 decimals.
fn p_map(r: &ProbabilisticAssessment, probability: &[Vec<f64>]) -> Map<String, Value> {
    let mut m = Map::new();
    for (t, row) in r.thresholds_kt.iter().zip(probability) {
        for (h, p) in r.windows_h.iter().zip(row) {
            m.insert(p_key(*t, *h), json!(round(*p, 3)));
        }
    }
    m
}

fn people_map(r: &ProbabilisticAssessment, people: &[Vec<PeopleAtRisk>]) -> Map<String, Value> {
    let mut m = Map::new();
    for (t, row) in r.thresholds_kt.iter().zip(people) {
        for (h, q) in r.windows_h.iter().zip(row) {
            m.insert(format!("people_ge{t}kt_0_{h}h"), people_json(q));
        }
    }
    m
}

/// Adds the probabilistic part to a cyclone version's document (from
/// [`crate::alerts::document::alert_document`]):
/// - every deterministic footprint (`wind_swath`, `exposed_area`) is labelled
///   `forecast_basis: "official_track"`;
/// - the probability contours follow as features of layer `probability_contour`
///   (`forecast_basis: "probabilistic"`, `threshold_kt` 10-minute, `window_h`,
///   `probability` 0–1), EPSG:4326 lon/lat;
/// - each district feature, and each point at risk (site, centre, health facility or
///   settlement in the official track's footprint), gets its P per threshold and window
///   ([`p_key`]);
/// - `aviso.probabilistic` holds the status, the method and the table of every district
///   with a non-zero probability (P, and people at risk: mean and 10/50/90 % quantiles
///   over realisations), the provinces and the national people at risk. A district absent
///   from it has P = 0 for every threshold and window.
pub fn attach_probabilistic(doc: &mut Value, outcome: &ProbabilisticOutcome, decimals: u32) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let result = outcome.result();
    if let Some(Value::Array(features)) = obj.get_mut("features") {
        for f in features.iter_mut() {
            let Some(props) = f.get_mut("properties").and_then(Value::as_object_mut) else {
                continue;
            };
            match props.get("layer").and_then(Value::as_str) {
                Some("wind_swath" | "exposed_area") => {
                    props.insert("forecast_basis".into(), json!("official_track"));
                }
                Some("district") => {
                    let pcode = props.get("pcode").and_then(Value::as_str).unwrap_or("");
                    if let Some(r) = result {
                        let p = r
                            .districts
                            .iter()
                            .find(|d| d.pcode == pcode)
                            .map(|d| p_map(r, &d.probability))
                            .unwrap_or_default();
                        props.extend(p);
                    }
                }
                Some("point_at_risk") => {
                    let layer = props.get("source_layer").and_then(Value::as_str);
                    let id = props.get("id").and_then(Value::as_str);
                    if let (Some(r), Some(layer), Some(id)) = (result, layer, id) {
                        // A point no realisation reaches is not in `r.points`: P = 0.
                        let p = r
                            .points
                            .iter()
                            .find(|p| p.layer == layer && p.id == id)
                            .map(|p| p_map(r, &p.probability))
                            .unwrap_or_else(|| {
                                p_map(
                                    r,
                                    &vec![vec![0.0; r.windows_h.len()]; r.thresholds_kt.len()],
                                )
                            });
                        props.extend(p);
                    }
                }
                _ => {}
            }
        }
        if let Some(r) = result {
            features.extend(contour_features(r, decimals).iter().map(feature_json));
        }
    }
    let meta = probabilistic_meta(outcome);
    if let Some(aviso) = obj.get_mut("aviso").and_then(Value::as_object_mut) {
        aviso.insert("probabilistic".into(), meta);
    }
}

/// The contours as GeoJSON features, lowest threshold and shortest window first.
pub fn contour_features(r: &ProbabilisticAssessment, decimals: u32) -> Vec<Feature> {
    r.contours
        .iter()
        .filter_map(|c| {
            let geometry = multipolygon_geometry(&c.geometry, decimals)?;
            let pct = (c.probability * 100.0).round();
            Some(feature(
                geometry,
                json!({
                    "layer": "probability_contour",
                    "forecast_basis": "probabilistic",
                    "threshold_kt": c.threshold_kt,
                    "wind_averaging": "10-minute mean",
                    "window_h": c.window_h,
                    "probability": c.probability,
                    "label_pt": format!("Probabilidade ≥ {pct} % de ventos ≥ {} nós em 0–{} h", c.threshold_kt, c.window_h),
                    "label_en": format!("Probability ≥ {pct} % of winds ≥ {} kt within 0–{} h", c.threshold_kt, c.window_h),
                }),
            ))
        })
        .collect()
}

/// `aviso.probabilistic` of a version document (see [`attach_probabilistic`]).
pub fn probabilistic_meta(outcome: &ProbabilisticOutcome) -> Value {
    let (r, basis, seconds) = match outcome {
        ProbabilisticOutcome::Assessed {
            result,
            basis,
            seconds,
        } => (result, basis, seconds),
        ProbabilisticOutcome::Failed(e) => {
            return json!({"schema": SCHEMA, "status": "failed", "error": e,
                          "note": "the probabilistic assessment failed; the deterministic alert stands"});
        }
        ProbabilisticOutcome::Pending => {
            return json!({"schema": SCHEMA, "status": "pending",
                          "note": "the probabilities were not ready when this version was published; this document is served again with them when they are"});
        }
        ProbabilisticOutcome::Skipped(why) => {
            return json!({"schema": SCHEMA, "status": "skipped", "note": why});
        }
        ProbabilisticOutcome::Off => return json!({"schema": SCHEMA, "status": "off"}),
    };
    let area = |a: &crate::hazard::ensemble::AreaProbability| {
        let mut m = Map::new();
        m.insert("pcode".into(), json!(a.pcode));
        m.insert("name".into(), json!(a.name));
        m.insert("parent_pcode".into(), json!(a.parent_pcode));
        m.insert("population".into(), json!(a.population.map(f64::round)));
        m.extend(p_map(r, &a.probability));
        m.extend(people_map(r, &a.people_at_risk));
        Value::Object(m)
    };
    let nonzero = |a: &&crate::hazard::ensemble::AreaProbability| {
        a.probability.iter().flatten().any(|p| *p > 0.0)
    };
    json!({
        "schema": SCHEMA,
        "status": "ok",
        "label_en": "Probabilistic: realisations around the official forecast; the official track's footprints are the features with forecast_basis \"official_track\"",
        "label_pt": "Probabilístico: realizações em torno da previsão oficial; as áreas da trajectória oficial são as de forecast_basis \"official_track\"",
        "basis": basis,
        "realisations": r.realisations,
        // As a string: a u64 does not survive a JavaScript number.
        "seed": r.seed.map(|s| s.to_string()),
        "thresholds_kt": r.thresholds_kt,
        "wind_averaging": "10-minute mean",
        "windows_h": r.windows_h,
        "contour_levels": crate::hazard::ensemble::CONTOUR_LEVELS,
        "seconds": round(*seconds, 2),
        "method": "share of realisations bringing each threshold into each district within each cumulative window (after the NHC wind speed probabilities, DeMaria et al. 2009); see docs/probabilistic.md",
        "certainty": {
            "threshold_kt": CERTAINTY_THRESHOLD_KT,
            "window_h": r.windows_h.last(),
            "unlikely_below": UNLIKELY_BELOW,
            "likely_above": LIKELY_ABOVE,
        },
        "districts": r.districts.iter().filter(nonzero).map(area).collect::<Vec<_>>(),
        "provinces": r.provinces.iter().filter(nonzero).map(area).collect::<Vec<_>>(),
        "national": people_map(r, &r.national_people_at_risk),
        "notes": r.notes,
    })
}

/// The probability CAP `certainty` is read from for an alert over `districts`: the
/// highest P(≥ [`CERTAINTY_THRESHOLD_KT`] within the longest window) among them (a lower
/// bound of the chance that gales reach some part of the alert's area). `None` when the
/// assessment lacks that threshold.
pub fn certainty_probability<'a>(
    r: &ProbabilisticAssessment,
    districts: impl IntoIterator<Item = &'a str>,
) -> Option<f64> {
    let window = *r.windows_h.last()?;
    let mut best: Option<f64> = None;
    for pcode in districts {
        // A district the counting does not know (another layer set) counts as 0.
        let p = r
            .district_p(pcode, CERTAINTY_THRESHOLD_KT, window)
            .unwrap_or(0.0);
        best = Some(best.map_or(p, |b: f64| b.max(p)));
    }
    r.thresholds_kt
        .iter()
        .any(|t| (t - CERTAINTY_THRESHOLD_KT).abs() < 0.5)
        .then_some(best.unwrap_or(0.0))
}

/// CAP 1.2 §3.2.2 `certainty` from a probability: "Likely (p > ~50%)", "Possible but not
/// likely (p <= ~50%)", "Unlikely – Not expected to occur (p ~ 0)". "Observed" (occurred
/// or ongoing) is kept for winds already there (`already_there`: the gales' lead time is
/// ≤ 0 h) when they are also likely.
pub fn certainty_from_probability(p: f64, already_there: bool) -> &'static str {
    if p > LIKELY_ABOVE {
        if already_there { "Observed" } else { "Likely" }
    } else if p >= UNLIKELY_BELOW {
        "Possible"
    } else {
        "Unlikely"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certainty_follows_cap_probability_words() {
        assert_eq!(certainty_from_probability(0.9, false), "Likely");
        assert_eq!(certainty_from_probability(0.9, true), "Observed");
        assert_eq!(certainty_from_probability(0.5, false), "Possible");
        assert_eq!(certainty_from_probability(0.2, true), "Possible");
        assert_eq!(certainty_from_probability(0.01, false), "Unlikely");
        assert_eq!(certainty_from_probability(0.0, true), "Unlikely");
    }
}
