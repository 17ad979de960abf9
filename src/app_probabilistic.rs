//! `aviso assess --probabilistic FILE`: runs the probabilistic wind assessment (issue 12)
//! beside the deterministic one and writes its table: CSV (districts, provinces and the
//! national total, one row each) or, for a `.json` file, the whole result with points.
//!
//! Edge code (files); the computation is `crate::hazard::ensemble`.

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::domain::{Forecast, Layers};
use crate::hazard::ensemble::{
    AreaProbability, PeopleAtRisk, PreparedLayers, ProbabilisticAssessment, assess_probabilistic,
};

/// Assesses `forecast` probabilistically on `layers` and writes the table to `out`.
pub fn write_probabilistic(
    forecast: &Forecast,
    layers: &Layers,
    cfg: &Config,
    out: &Path,
) -> Result<()> {
    let t = Instant::now();
    let prepared = PreparedLayers::new(layers, &cfg.exposure.weighting_layer, &cfg.probabilistic);
    let result = assess_probabilistic(forecast, &prepared, &cfg.probabilistic, &cfg.hazard)
        .with_context(|| format!("probabilistic assessment of {}", forecast.origin))?;
    eprintln!(
        "aviso: {} realisations assessed in {:.1} ms (seed {})",
        result.realisations,
        t.elapsed().as_secs_f64() * 1e3,
        result.seed.unwrap_or_default()
    );
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let is_json = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let bytes = if is_json {
        serde_json::to_vec(&result)?
    } else {
        table_csv(&result)?
    };
    fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("aviso: probabilistic table written to {}", out.display());
    Ok(())
}

/// One row per district, province and the country: P (0..1) per threshold and window, then
/// people at risk (mean, p10, p50, p90) per threshold and window.
pub fn table_csv(r: &ProbabilisticAssessment) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["level", "pcode", "name", "parent_pcode", "population"]
        .map(String::from)
        .to_vec();
    for t in &r.thresholds_kt {
        for h in &r.windows_h {
            header.push(format!("p_ge{t}kt_0_{h}h"));
        }
    }
    for t in &r.thresholds_kt {
        for h in &r.windows_h {
            for q in ["mean", "p10", "p50", "p90"] {
                header.push(format!("people_ge{t}kt_0_{h}h_{q}"));
            }
        }
    }
    w.write_record(&header)?;
    let row = |level: &str, a: &AreaProbability| -> Vec<String> {
        let mut v = vec![
            level.to_string(),
            a.pcode.clone(),
            a.name.clone(),
            a.parent_pcode.clone().unwrap_or_default(),
            a.population.map(|p| format!("{p:.0}")).unwrap_or_default(),
        ];
        v.extend(a.probability.iter().flatten().map(|p| format!("{p:.3}")));
        v.extend(people_cells(&a.people_at_risk));
        v
    };
    for d in &r.districts {
        w.write_record(row("district", d))?;
    }
    for p in &r.provinces {
        w.write_record(row("province", p))?;
    }
    let mut national = vec![
        "national".to_string(),
        "MZ".to_string(),
        "Moçambique".to_string(),
        String::new(),
        String::new(),
    ];
    national.extend(std::iter::repeat_n(
        String::new(),
        r.thresholds_kt.len() * r.windows_h.len(),
    ));
    national.extend(people_cells(&r.national_people_at_risk));
    w.write_record(&national)?;
    w.into_inner().context("finishing the probabilistic CSV")
}

fn people_cells(t: &[Vec<PeopleAtRisk>]) -> Vec<String> {
    t.iter()
        .flatten()
        .flat_map(|q| [q.mean, q.p10, q.p50, q.p90].map(|x| format!("{x:.0}")))
        .collect()
}
