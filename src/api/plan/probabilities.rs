//! The probabilities attached to a version's document, read back as the plan reads them
//! (the API may not run the probabilistic assessment again). Part of the plan route;
//! must not depend on the pipeline.

use std::collections::HashMap;

use serde_json::Value;

use crate::exposure::IndexedLayers;
use crate::hazard::ensemble::{AreaProbability, PeopleAtRisk, ProbabilisticAssessment};

/// The probabilities attached to a version's document (`aviso.probabilistic`, status ok)
/// as the plan reads them: people at risk per district, threshold and window (mean and
/// 10/50/90 % quantiles). Districts the document leaves out have P = 0 everywhere
/// (`alerts::probabilistic::attach_probabilistic`), so none of their people.
pub(super) fn probabilities_of(
    doc: &Value,
    layers: &IndexedLayers,
) -> Option<ProbabilisticAssessment> {
    let meta = doc.pointer("/aviso/probabilistic")?;
    if meta.get("status").and_then(Value::as_str) != Some("ok") {
        return None;
    }
    let numbers = |key: &str| -> Option<Vec<f64>> {
        meta.get(key)?
            .as_array()?
            .iter()
            .map(Value::as_f64)
            .collect()
    };
    let thresholds_kt = numbers("thresholds_kt")?;
    let windows_h = numbers("windows_h")?;
    let listed: HashMap<&str, &Value> = meta
        .get("districts")?
        .as_array()?
        .iter()
        .filter_map(|d| Some((d.get("pcode")?.as_str()?, d)))
        .collect();
    let zero = PeopleAtRisk {
        mean: 0.0,
        p10: 0.0,
        p50: 0.0,
        p90: 0.0,
    };
    let districts = layers
        .layers
        .districts
        .iter()
        .map(|d| {
            let row = listed.get(d.pcode.as_str());
            let people_at_risk = thresholds_kt
                .iter()
                .map(|t| {
                    windows_h
                        .iter()
                        .map(|h| {
                            let q = row.and_then(|r| r.get(format!("people_ge{t}kt_0_{h}h")));
                            let f = |k: &str| q.and_then(|q| q.get(k)).and_then(Value::as_f64);
                            match (f("mean"), f("p10"), f("p50"), f("p90")) {
                                (Some(mean), Some(p10), Some(p50), Some(p90)) => PeopleAtRisk {
                                    mean,
                                    p10,
                                    p50,
                                    p90,
                                },
                                _ => zero,
                            }
                        })
                        .collect()
                })
                .collect();
            AreaProbability {
                pcode: d.pcode.clone(),
                name: d.name.clone(),
                parent_pcode: d.parent_pcode.clone(),
                parent_name: None,
                population: None,
                probability: Vec::new(),
                people_at_risk,
            }
        })
        .collect();
    Some(ProbabilisticAssessment {
        storm: None,
        reference_time: None,
        realisations: meta
            .get("realisations")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        seed: None,
        thresholds_kt,
        windows_h,
        districts,
        provinces: Vec::new(),
        points: Vec::new(),
        national_people_at_risk: Vec::new(),
        contours: Vec::new(),
        notes: Vec::new(),
    })
}
