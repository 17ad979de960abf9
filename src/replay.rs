//! Replay: a best track treated as a sequence of forecast issuances. At each selected fix
//! the track so far is the analysis and the rest (up to a horizon) is the "forecast", as if
//! the future had been forecast perfectly. Answers "how early would aviso have warned each
//! district?".
//!
//! Pure: builds forecasts and the per-district summary; the CLI writes files.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::Serialize;

use crate::alerts::assess::Assessment;
use crate::alerts::levels::Level;
use crate::domain::{FixKind, Forecast, ForecastSource, Landfall};

/// Times at which issuances are made: fixes at whole multiples of `every` hours of the day
/// (every 6 h → 00, 06, 12, 18 UTC, the synoptic times RSMC issues at).
pub fn issuance_times(track: &Forecast, every: Duration) -> Vec<DateTime<Utc>> {
    let step_min = every.num_minutes().max(1);
    track
        .track
        .iter()
        .map(|p| p.time)
        .filter(|t| {
            let minutes = i64::from(t.hour()) * 60 + i64::from(t.minute());
            t.second() == 0 && minutes % step_min == 0
        })
        .collect()
}

/// The best track as a forecast issued at `at`: fixes before `at` are analysis, fixes from
/// `at` to `at + horizon` are forecast. `None` when no fix is at or after `at`.
pub fn issuance_at(track: &Forecast, at: DateTime<Utc>, horizon: Duration) -> Option<Forecast> {
    let mut f = track.clone();
    f.track.retain(|p| p.time <= at + horizon);
    for p in &mut f.track {
        p.kind = if p.time < at {
            FixKind::Analysis
        } else {
            FixKind::Forecast
        };
    }
    if !f.track.iter().any(|p| p.kind == FixKind::Forecast) {
        return None;
    }
    f.reference_time = at;
    f.issued = at;
    f.cone = None;
    let agency = match &track.source {
        ForecastSource::Ibtracs { agency } | ForecastSource::Replay { agency } => agency.clone(),
        other => other.label(),
    };
    f.source = ForecastSource::Replay { agency };
    Some(f)
}

/// When a district first reached a level during the replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstReached {
    pub issuance: DateTime<Utc>,
    /// Hours from that issuance to the next actual landfall (None: no later landfall).
    pub lead_before_landfall_h: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistrictSummary {
    pub pcode: String,
    pub name: String,
    pub province: Option<String>,
    /// Highest level reached in any issuance.
    pub max_level: Level,
    /// Per level (green..red), the first issuance at which the district was at or above it.
    pub first: BTreeMap<Level, FirstReached>,
}

/// Collects the per-district summary over a replay's assessments (in issuance order).
/// `landfalls` are the actual landfall times of the best track, ascending.
#[derive(Debug, Default)]
pub struct Summary {
    pub districts: BTreeMap<String, DistrictSummary>,
    pub issuances: usize,
    pub landfalls: Vec<Landfall>,
}

impl Summary {
    pub fn new(landfalls: Vec<Landfall>) -> Self {
        Summary {
            landfalls,
            ..Summary::default()
        }
    }

    fn next_landfall_after(&self, t: DateTime<Utc>) -> Option<&Landfall> {
        self.landfalls.iter().find(|l| l.time >= t)
    }

    pub fn add(&mut self, a: &Assessment) {
        self.issuances += 1;
        let t = a.forecast.reference_time;
        let lead = self
            .next_landfall_after(t)
            .map(|l| (l.time - t).num_minutes() as f64 / 60.0);
        for d in &a.exposure.districts {
            let Some(dl) = a.levels.get(&d.pcode) else {
                continue;
            };
            let entry = self
                .districts
                .entry(d.pcode.clone())
                .or_insert_with(|| DistrictSummary {
                    pcode: d.pcode.clone(),
                    name: d.name.clone(),
                    province: d.province_name.clone(),
                    max_level: dl.level,
                    first: BTreeMap::new(),
                });
            entry.max_level = entry.max_level.max(dl.level);
            for level in Level::ALL.iter().filter(|l| **l <= dl.level) {
                entry.first.entry(*level).or_insert(FirstReached {
                    issuance: t,
                    lead_before_landfall_h: lead,
                });
            }
        }
    }

    /// CSV: one row per district, first issuance and lead before landfall for each level.
    pub fn to_csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec![
            "pcode".to_string(),
            "district".into(),
            "province".into(),
            "max_level".into(),
        ];
        for l in Level::ALL {
            header.push(format!("first_{}_issuance", l.name_en()));
            header.push(format!("first_{}_lead_before_landfall_h", l.name_en()));
        }
        w.write_record(&header)?;
        let mut rows: Vec<&DistrictSummary> = self.districts.values().collect();
        rows.sort_by(|a, b| b.max_level.cmp(&a.max_level).then(a.pcode.cmp(&b.pcode)));
        for d in rows {
            let mut row = vec![
                d.pcode.clone(),
                d.name.clone(),
                d.province.clone().unwrap_or_default(),
                d.max_level.name_en().to_string(),
            ];
            for l in Level::ALL {
                let f = d.first.get(&l);
                row.push(
                    f.map(|f| f.issuance.format("%Y-%m-%dT%H:%MZ").to_string())
                        .unwrap_or_default(),
                );
                row.push(
                    f.and_then(|f| f.lead_before_landfall_h)
                        .map(|h| format!("{h:.0}"))
                        .unwrap_or_default(),
                );
            }
            w.write_record(&row)?;
        }
        w.into_inner().map_err(|e| e.into_error().into())
    }
}
