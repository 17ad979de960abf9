//! The notes a swath build leaves in `Hazard.notes`: which fixes used the parametric
//! profile and its fallbacks, and how the source's radii were read. Split from
//! `swath/mod.rs`, which builds the geometry.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::domain::{Forecast, Period, WindAveraging};

use super::super::HazardConfig;
use super::super::track::Fix;
use super::{Extent, ExtentSource, ResolveLog};

fn period_label(period: Period) -> &'static str {
    match period {
        Period::Forecast => "forecast",
        Period::Observed => "observed",
    }
}

pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%MZ").to_string()
}

fn fmt_times<'a>(times: impl IntoIterator<Item = &'a DateTime<Utc>>) -> String {
    times
        .into_iter()
        .map(|t| fmt_time(*t))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn write_notes(
    forecast: &Forecast,
    period: Period,
    log: &ResolveLog,
    chain: &[Fix<'_>],
    extents: &[Vec<Extent>],
    cfg: &HazardConfig,
    notes: &mut Vec<String>,
) {
    let label = period_label(period);
    if !log.parametric.is_empty() {
        let fixes: BTreeSet<DateTime<Utc>> = log.parametric.iter().map(|(_, t)| *t).collect();
        let per_threshold: Vec<String> = cfg
            .thresholds_kt
            .iter()
            .filter_map(|&th| {
                let n = log
                    .parametric
                    .iter()
                    .filter(|(t, _)| (*t - th).abs() < 0.5)
                    .count();
                (n > 0).then(|| format!("{th} kt at {n} fix(es)"))
            })
            .collect();
        notes.push(format!(
            "{label} swaths: no wind radii where the maximum wind reached the threshold, so the \
             extent comes from a Holland (1980) profile with Holland (2008) B, pinned to the \
             forecast maximum wind (converted to 1-minute: 10-min / {:.2}) with {:.2} x the \
             translation speed added on the {} side of the motion ({}); fixes: {}",
            crate::domain::ONE_MIN_TO_TEN_MIN,
            cfg.profile.translation_factor,
            strong_side_word(chain),
            per_threshold.join(", "),
            fmt_times(&fixes),
        ));
    }
    if !log.rmw_climatology.is_empty() {
        notes.push(format!(
            "{label} swaths: radius of maximum wind missing, taken from the Willoughby, Darling \
             & Rahn (2006) climatology R = 46.4 exp(-0.0155 V + 0.0169 |lat|) km at: {}",
            fmt_times(&log.rmw_climatology)
        ));
    }
    if !log.pressure_from_wind.is_empty() {
        notes.push(format!(
            "{label} swaths: central pressure missing, taken from the Atkinson & Holliday (1977) \
             wind-pressure relationship at: {}",
            fmt_times(&log.pressure_from_wind)
        ));
    }
    if !log.unknown.is_empty() {
        notes.push(format!(
            "{label} swaths: {} fix(es) have neither wind radii nor a maximum wind and are drawn \
             as not reaching any threshold: {}",
            log.unknown.len(),
            fmt_times(&log.unknown)
        ));
    }
    if log.profile_disabled_skips > 0 {
        notes.push(format!(
            "{label} swaths: {} fix/threshold pair(s) lacked radii and the parametric profile is \
             disabled in the configuration: drawn as not reached",
            log.profile_disabled_skips
        ));
    }
    if log.radii_50_for_48 > 0 {
        notes.push(format!(
            "{label} swaths: the 48 kt swath uses the source's 50 kt radii at {} fix(es) \
             (ATCF/USA convention), a slight underestimate of the 48 kt extent",
            log.radii_50_for_48
        ));
    }
    if log.raised_for_nesting > 0 {
        notes.push(format!(
            "{label} swaths: at {} fix/threshold pair(s) a lower threshold's radii were smaller \
             than a higher threshold's and were raised to contain them",
            log.raised_for_nesting
        ));
    }
    let radii_used = extents
        .iter()
        .flatten()
        .any(|e| e.source == ExtentSource::Radii && !e.radii.is_zero());
    if forecast.wind_averaging == WindAveraging::OneMinute && radii_used {
        notes.push(format!(
            "{label} swaths: the source's wind radii are for 1-minute winds and are used at face \
             value for the 10-minute thresholds; a 1-minute 64 kt radius encloses roughly the \
             10-minute 56 kt wind, so these extents are generous"
        ));
    }
}

fn strong_side_word(chain: &[Fix<'_>]) -> &'static str {
    let south = chain.iter().filter(|f| f.pos.y() < 0.0).count();
    if south * 2 >= chain.len() && south > 0 {
        "left (southern hemisphere)"
    } else {
        "right (northern hemisphere)"
    }
}
