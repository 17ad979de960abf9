//! `aviso assess --probabilistic FILE`: runs the probabilistic wind assessment (issue 12)
//! beside the deterministic one and writes its table: CSV (districts, provinces and the
//! national total, one row each), for a `.json` file the whole result with points, or for
//! a `.geojson` file the probability contours and points as GeoJSON.
//!
//! Edge code (files); the computation is `crate::hazard::ensemble`.
//!
//! Its `eprintln!` lines (input warnings, timings, "written to") are not log but the
//! command's report to the person who ran it, on stderr as always (app/logging.rs); they
//! stay plain text so scripts and the byte-for-byte comparisons of `aviso assess` hold.

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use crate::alerts::document::{collection_json, feature, point_geometry};
use crate::alerts::probabilistic::{contour_features, p_key};
use crate::config::Config;
use crate::domain::{Forecast, Layers};
use crate::feeds::{BufrDecoder, ecmwf_bufr};
use crate::hazard::ensemble::{
    AreaProbability, PeopleAtRisk, PreparedLayers, ProbabilisticAssessment, assess_ensemble,
    assess_probabilistic, members,
};

/// Assesses `forecast` probabilistically on `layers`, writes the table to `out` and
/// returns the result (the alert's levels read it).
///
/// `input` is the forecast file's content (decoded with `bufr` when it is BUFR): when it is an ECMWF ensemble track BUFR with
/// at least [`members::MIN_MEMBERS`] ENS members, the members are the realisations;
/// otherwise (RSMC, ATCF, a best track, ECMWF's deterministic BUFR) `forecast` is perturbed.
pub fn write_probabilistic(
    forecast: &Forecast,
    input: &[u8],
    bufr: &dyn BufrDecoder,
    layers: &Layers,
    cfg: &Config,
    out: &Path,
) -> Result<ProbabilisticAssessment> {
    let t = Instant::now();
    let (result, from_ensemble) = assess_input(forecast, input, bufr, layers, cfg)?;
    eprintln!(
        "aviso: {} realisations ({}) assessed in {:.1} ms",
        result.realisations,
        match (from_ensemble, result.seed) {
            (true, _) => "ensemble members".to_string(),
            (false, Some(seed)) => format!("perturbed, seed {seed}"),
            (false, None) => "perturbed".to_string(),
        },
        t.elapsed().as_secs_f64() * 1e3,
    );
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let bytes = match ext.as_str() {
        "json" => serde_json::to_vec(&result)?,
        "geojson" => {
            serde_json::to_vec(&geojson_document(&result, cfg.output.coordinate_decimals))?
        }
        _ => table_csv(&result)?,
    };
    fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("aviso: probabilistic table written to {}", out.display());
    Ok(result)
}

/// The probabilistic assessment of a forecast file, for `aviso assess --probabilistic` and
/// `aviso plan --probabilistic`: when `input` is an ECMWF ensemble track BUFR with at
/// least [`members::MIN_MEMBERS`] ENS members, the members are the realisations (the
/// `bool` is true); otherwise `forecast` is perturbed.
pub(crate) fn assess_input(
    forecast: &Forecast,
    input: &[u8],
    bufr: &dyn BufrDecoder,
    layers: &Layers,
    cfg: &Config,
) -> Result<(ProbabilisticAssessment, bool)> {
    let prepared = PreparedLayers::new(layers, &cfg.exposure.weighting_layer, &cfg.probabilistic);
    let ensemble = if ecmwf_bufr::looks_like_bufr(input) {
        let parsed = bufr.decode(input, &forecast.origin)?;
        Some(parsed.ensemble).filter(|e| e.realisations().count() >= members::MIN_MEMBERS)
    } else {
        None
    };
    let result = match &ensemble {
        Some(e) => assess_ensemble(e, &prepared, &cfg.probabilistic, &cfg.hazard),
        None => assess_probabilistic(forecast, &prepared, &cfg.probabilistic, &cfg.hazard),
    }
    .with_context(|| format!("probabilistic assessment of {}", forecast.origin))?;
    Ok((result, ensemble.is_some()))
}

/// RFC 7946 FeatureCollection (EPSG:4326 lon/lat, exterior rings counter-clockwise): the
/// probability contours with the very properties the service's alert documents give them
/// ([`contour_features`]: `layer` = "probability_contour", `threshold_kt` (10-minute wind),
/// `window_h`, `probability` 0–1, labels), then every point feature with a non-zero
/// probability (`layer` = "point_probability", its `source_layer`, id, name, district and
/// `p_geKkt_0_Wh` per threshold and window).
pub fn geojson_document(r: &ProbabilisticAssessment, decimals: u32) -> Value {
    let mut features = contour_features(r, decimals);
    for p in &r.points {
        let mut props = Map::new();
        props.insert("layer".into(), json!("point_probability"));
        props.insert("source_layer".into(), json!(p.layer));
        props.insert("id".into(), json!(p.id));
        props.insert("name".into(), json!(p.name));
        props.insert("district_pcode".into(), json!(p.district_pcode));
        for (t, row) in r.thresholds_kt.iter().zip(&p.probability) {
            for (h, v) in r.windows_h.iter().zip(row) {
                props.insert(p_key(*t, *h), json!(v));
            }
        }
        features.push(feature(
            point_geometry(p.lon, p.lat, decimals),
            Value::Object(props),
        ));
    }
    collection_json(
        features,
        json!({
            "name": format!("aviso probabilistic wind {}", r.storm.clone().unwrap_or_default()),
            "reference_time": r.reference_time,
            "realisations": r.realisations,
            "seed": r.seed,
            "notes": r.notes,
        }),
    )
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
            header.push(p_key(*t, *h));
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
