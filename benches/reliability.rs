//! Hindcast reliability of the probabilistic wind (issue 12): for every storm of the
//! 2022–2025 IBTrACS file whose best track brought ≥ 34 kt to a Mozambican district, an
//! issuance every 12 h (the best track up to then, and the next 120 h of it as the
//! "forecast"), 500 realisations around it, and per threshold the districts binned by
//! P(≥ threshold within 0–120 h): how many, their mean P, and the share the best track's
//! own footprint actually reached in that window.
//!
//! What it can and cannot show: the realisations are built around the best track itself,
//! so the truth is the centre of every ensemble. The table checks the error model's spread
//! against the footprint geometry (districts near the track edge, intensity errors, land
//! decay), not forecast skill: real reliability needs archived official forecasts.
//!
//! Run: `cargo bench --bench reliability` (prints a Markdown table; docs/ keeps a copy).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use chrono::Duration;

use aviso::config::Config;
use aviso::feeds::{self, ParseOptions, StormSelector};
use aviso::hazard::ensemble::{
    PreparedLayers, ProbabilisticConfig, count_exceedances, issuance_seed, perturbed_realisations,
    unperturbed_realisation,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
const REALISATIONS: usize = 500;
const EVERY_H: i64 = 12;
const HORIZON_H: i64 = 120;

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let path = format!("{DATA}/tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv");
    if !Path::new(&path).exists() {
        eprintln!("skipping: {path} not found");
        return;
    }
    let cfg = Config::embedded_default().unwrap();
    let pc = ProbabilisticConfig {
        realisations: REALISATIONS,
        contour_spacing_deg: 0.0,
        ..cfg.probabilistic.clone()
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
    let layers = aviso::layers::load_layers(&manifest).unwrap().layers;
    let prepared = PreparedLayers::new(&layers, &cfg.exposure.weighting_layer, &pc);
    let bytes = std::fs::read(&path).unwrap();
    let storms = feeds::ibtracs::list_storms(&bytes, &path, &HashMap::new()).unwrap();
    let kn = pc.thresholds_kt.len();
    let w_last = pc.windows_h.len() - 1;
    // Per threshold, per bin (0: P = 0; 1..=10: deciles (0, 0.1], …, (0.9, 1]):
    // (count, sum of P, hits).
    let mut table = vec![[(0usize, 0f64, 0usize); 11]; kn];
    let mut used = Vec::new();
    let t0 = Instant::now();
    let mut issuances = 0;
    for s in &storms {
        let opts = ParseOptions {
            storm: StormSelector {
                name: None,
                season: None,
                sid: Some(s.sid.clone()),
            },
            ..ParseOptions::default()
        };
        let Ok(track) = feeds::parse_forecast(&bytes, &path, &opts) else {
            continue;
        };
        let (Some(first), Some(last)) = (track.track.first(), track.track.last()) else {
            continue;
        };
        // Did the best track itself bring 34 kt to any district?
        let Some(whole) = aviso::replay::issuance_at(&track, first.time, Duration::days(3650))
        else {
            continue;
        };
        let Ok(truth) = unperturbed_realisation(&whole, &pc, &cfg.hazard) else {
            continue;
        };
        let reach =
            count_exceedances(&[truth], &prepared.targets, &pc.thresholds_kt, &[f64::MAX]).unwrap();
        if !reach.districts.iter().any(|d| d.probability[0][0] > 0.0) {
            continue;
        }
        let mut n_iss = 0;
        let mut at = first.time;
        while at < last.time {
            let Some(f) = aviso::replay::issuance_at(&track, at, Duration::hours(HORIZON_H)) else {
                break;
            };
            at += Duration::hours(EVERY_H);
            let Ok(truth) = unperturbed_realisation(&f, &pc, &cfg.hazard) else {
                continue;
            };
            let seed = issuance_seed(&f);
            let Ok(set) = perturbed_realisations(&f, &pc, &cfg.hazard, &prepared.land, seed) else {
                continue;
            };
            let p = count_exceedances(
                &set.realisations,
                &prepared.targets,
                &pc.thresholds_kt,
                &pc.windows_h,
            )
            .unwrap();
            let hit = count_exceedances(
                &[truth],
                &prepared.targets,
                &pc.thresholds_kt,
                &pc.windows_h,
            )
            .unwrap();
            for (d, h) in p.districts.iter().zip(&hit.districts) {
                for (k, row) in table.iter_mut().enumerate() {
                    let pv = d.probability[k][w_last];
                    let bin = if pv <= 0.0 {
                        0
                    } else {
                        ((pv * 10.0).ceil() as usize).clamp(1, 10)
                    };
                    let cell = &mut row[bin];
                    cell.0 += 1;
                    cell.1 += pv;
                    cell.2 += usize::from(h.probability[k][w_last] > 0.0);
                }
            }
            n_iss += 1;
        }
        issuances += n_iss;
        used.push(format!(
            "{} {} ({}, {n_iss} issuances)",
            s.name, s.season, s.sid
        ));
    }
    eprintln!(
        "{issuances} issuances of {} storms, {REALISATIONS} realisations each, in {:.1} s",
        used.len(),
        t0.elapsed().as_secs_f64()
    );
    println!("Storms: {}\n", used.join("; "));
    println!(
        "District × issuance pairs by P(≥ threshold, 0–{} h), {REALISATIONS} realisations \
         around the best track, issuances every {EVERY_H} h:\n",
        pc.windows_h[w_last]
    );
    for (k, row) in table.iter().enumerate() {
        println!("### ≥ {} kt (10-minute)\n", pc.thresholds_kt[k]);
        println!("| P bin | pairs | mean P | observed frequency |");
        println!("|---|---:|---:|---:|");
        for (b, (n, sum, hits)) in row.iter().enumerate() {
            let label = if b == 0 {
                "0".to_string()
            } else {
                format!("({:.1}, {:.1}]", (b - 1) as f64 / 10.0, b as f64 / 10.0)
            };
            if *n == 0 {
                println!("| {label} | 0 | – | – |");
            } else {
                println!(
                    "| {label} | {n} | {:.3} | {:.3} |",
                    sum / *n as f64,
                    *hits as f64 / *n as f64
                );
            }
        }
        println!();
    }
}
