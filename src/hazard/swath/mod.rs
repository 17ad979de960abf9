//! Wind swaths: per fix and threshold an extent (the source's quadrant radii, or a Holland
//! profile where radii are missing), interpolated along the track at ≤ `step_minutes`, swept
//! between sub-steps and united per segment and per threshold.
//!
//! Pure geometry on domain types; must not depend on I/O, feeds or exposure.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use geo::{Coord, MultiPolygon};
use rayon::prelude::*;

use crate::domain::{FootprintMethod, Forecast, Period, QuadrantRadii, SwathSegment, WindSwath};

use super::HazardConfig;
use super::geodesy::{
    Fan, area_km2, fan_sectors, hull, interpolate, quadrant_footprint, union_multi, union_polygons,
};
use super::holland::{HollandProfile, ProfileInputs};
use super::track::{Fix, hours_between, substeps, time_at, translation_at};

mod notes;
pub(crate) use notes::fmt_time;
use notes::write_notes;

/// Where a fix's extent for one threshold came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExtentSource {
    /// The source's quadrant radii (possibly all zero: "not reached").
    Radii,
    /// The Holland profile (radii were missing, max wind reached the threshold).
    Parametric,
    /// No radii and a max wind below the threshold: not reached.
    BelowThreshold,
    /// No radii and no max wind: nothing to draw; treated as not reached.
    Unknown,
}

/// One fix's extent for one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Extent {
    pub radii: QuadrantRadii,
    pub source: ExtentSource,
}

const ZERO: QuadrantRadii = QuadrantRadii {
    ne_nm: 0.0,
    se_nm: 0.0,
    sw_nm: 0.0,
    nw_nm: 0.0,
};

/// What resolving a chain's extents found, for `Hazard.notes`.
#[derive(Debug, Default)]
struct ResolveLog {
    /// (threshold, fix time) pairs that used the profile.
    parametric: Vec<(f64, DateTime<Utc>)>,
    rmw_climatology: BTreeSet<DateTime<Utc>>,
    pressure_from_wind: BTreeSet<DateTime<Utc>>,
    unknown: BTreeSet<DateTime<Utc>>,
    radii_50_for_48: usize,
    raised_for_nesting: usize,
    profile_disabled_skips: usize,
}

/// Radii per fix (outer) and threshold of `cfg.thresholds_kt` (inner), resolved as the
/// deterministic swath resolves them (the source's radii, else the Holland profile, nested):
/// what realisations scale with their own intensity (`hazard::ensemble`).
pub(crate) fn resolved_radii(
    forecast: &Forecast,
    chain: &[Fix<'_>],
    cfg: &HazardConfig,
) -> Vec<Vec<QuadrantRadii>> {
    let mut log = ResolveLog::default();
    resolve_extents(forecast, chain, cfg, &mut log)
        .into_iter()
        .map(|row| row.into_iter().map(|e| e.radii).collect())
        .collect()
}

/// Extents per fix (outer) and threshold (inner, ascending as in the config).
fn resolve_extents(
    forecast: &Forecast,
    chain: &[Fix<'_>],
    cfg: &HazardConfig,
    log: &mut ResolveLog,
) -> Vec<Vec<Extent>> {
    let mut out = Vec::with_capacity(chain.len());
    for (i, fix) in chain.iter().enumerate() {
        let p = fix.point;
        let vmax10 = p
            .max_wind_kt
            .map(|w| forecast.wind_averaging.to_ten_minute(w).0);
        let mut profile: Option<Option<HollandProfile>> = None;
        let mut row: Vec<Extent> = Vec::with_capacity(cfg.thresholds_kt.len());
        for &threshold in &cfg.thresholds_kt {
            let given = p.radii_for(threshold).copied().or_else(|| {
                // ATCF/USA give 50 kt radii; they stand in for 48 kt (a slight underestimate).
                if (threshold - 48.0).abs() < 0.5 {
                    let r = p.radii_for(50.0).copied();
                    if r.is_some() {
                        log.radii_50_for_48 += 1;
                    }
                    r
                } else {
                    None
                }
            });
            let extent = match (given, vmax10) {
                (Some(radii), _) => Extent {
                    radii,
                    source: ExtentSource::Radii,
                },
                (None, None) => {
                    log.unknown.insert(fix.time());
                    Extent {
                        radii: ZERO,
                        source: ExtentSource::Unknown,
                    }
                }
                (None, Some(v)) if v < threshold => Extent {
                    radii: ZERO,
                    source: ExtentSource::BelowThreshold,
                },
                (None, Some(_)) if !cfg.profile.enabled => {
                    log.profile_disabled_skips += 1;
                    Extent {
                        radii: ZERO,
                        source: ExtentSource::Unknown,
                    }
                }
                (None, Some(_)) => {
                    let fitted = *profile
                        .get_or_insert_with(|| fit_profile(forecast, chain, i, &cfg.profile));
                    match fitted {
                        Some(hp) => {
                            log.parametric.push((threshold, fix.time()));
                            if hp.rmw_from_climatology {
                                log.rmw_climatology.insert(fix.time());
                            }
                            if hp.pressure_from_wind {
                                log.pressure_from_wind.insert(fix.time());
                            }
                            Extent {
                                radii: hp.quadrant_radii(threshold, cfg.profile.max_radius_nm),
                                source: ExtentSource::Parametric,
                            }
                        }
                        None => Extent {
                            radii: ZERO,
                            source: ExtentSource::BelowThreshold,
                        },
                    }
                }
            };
            row.push(extent);
        }
        enforce_nesting(&mut row, log);
        out.push(row);
    }
    out
}

/// Keeps one fix's extents nested: a parametric extent never exceeds a lower threshold's
/// extent given by the source (the forecaster's outer contour bounds the inner one), and
/// each lower threshold covers every higher one (a wind ≥ 64 kt is also ≥ 34 kt). Raising
/// rather than clipping keeps an inconsistent source on the side of warning.
fn enforce_nesting(row: &mut [Extent], log: &mut ResolveLog) {
    // ok: all indices below are loop variables bounded by `row.len()`.
    for j in 0..row.len() {
        if row[j].source != ExtentSource::Parametric {
            continue;
        }
        for i in 0..j {
            if row[i].source == ExtentSource::Radii {
                let cap = row[i].radii;
                row[j].radii = per_quadrant(&row[j].radii, &cap, f64::min);
            }
        }
    }
    for j in (0..row.len().saturating_sub(1)).rev() {
        let higher = row[j + 1].radii;
        let raised = per_quadrant(&row[j].radii, &higher, f64::max);
        if raised != row[j].radii {
            log.raised_for_nesting += 1;
            row[j].radii = raised;
        }
    }
}

fn per_quadrant(a: &QuadrantRadii, b: &QuadrantRadii, f: fn(f64, f64) -> f64) -> QuadrantRadii {
    QuadrantRadii {
        ne_nm: f(a.ne_nm, b.ne_nm),
        se_nm: f(a.se_nm, b.se_nm),
        sw_nm: f(a.sw_nm, b.sw_nm),
        nw_nm: f(a.nw_nm, b.nw_nm),
    }
}

fn fit_profile(
    forecast: &Forecast,
    chain: &[Fix<'_>],
    i: usize,
    cfg: &super::ProfileConfig,
) -> Option<HollandProfile> {
    let fix = chain.get(i)?;
    let p = fix.point;
    let vmax = p.max_wind_kt?;
    let (speed_kt, toward_deg) = translation_at(chain, i);
    let inputs = ProfileInputs {
        lat_deg: p.lat,
        vmax_kt: vmax.0,
        averaging: forecast.wind_averaging,
        central_pressure_hpa: p.min_pressure_hpa.map(|h| h.0),
        env_pressure_hpa: p.env_pressure_hpa.map(|h| h.0),
        dp_dt_hpa_per_h: pressure_tendency(chain, i),
        rmw_nm: p.rmw_nm.map(|r| r.0),
        translation_kt: speed_kt,
        translation_toward_deg: toward_deg,
    };
    HollandProfile::fit(&inputs, cfg)
}

/// Central-pressure tendency (hPa/h) by backward difference to the previous fix (as
/// CLIMADA does), forward when there is none; 0 when either pressure is missing.
fn pressure_tendency(chain: &[Fix<'_>], i: usize) -> f64 {
    let pair = match i.checked_sub(1) {
        Some(j) => chain.get(j).zip(chain.get(i)),
        None => chain.get(i).zip(chain.get(i + 1)),
    };
    let Some((a, b)) = pair else { return 0.0 };
    match (a.point.min_pressure_hpa, b.point.min_pressure_hpa) {
        (Some(pa), Some(pb)) => {
            let h = hours_between(a.time(), b.time());
            if h > 0.0 { (pb.0 - pa.0) / h } else { 0.0 }
        }
        _ => 0.0,
    }
}

/// The area one threshold sweeps over one segment of a leg: per quadrant, the convex hull
/// of its sector at the segment's start (`fa`, radii `ra`) and at its end (`fb`, `rb`).
///
/// A 90° sector is convex, and a convex sector C(t) = (1−t)·C0 + t·C1 sweeps exactly
/// hull(C0 ∪ C1) (any (1−s)·a + s·b with a ∈ C0, b ∈ C1 lies in C(s)): this removes the
/// scalloping of a plain union of footprints without filling the legitimate notches of an
/// asymmetric footprint (a hull of the whole footprint would). A zero radius is empty, so
/// the extent tapers to the centre of the end that does not reach the threshold.
///
/// **Decision (2026-12-03):** only the segment's two ends are drawn. The centre moves on
/// the geodesic between them, which bows from the straight lon/lat line the hull assumes
/// by about L²·tan|φ|/(8·R): 25 m for a 60 km segment at 18° S, 180 m for a fast storm's
/// 170 km. Hulling every 30-minute position as well (as aviso did until then) covered that
/// bow, but cost 85 % of the swath's geodesic points for a correction smaller than the
/// outline's own chords (a 5° arc step leaves 350 m between the arc and its chord at
/// 200 nm) and far smaller than the radii's precision (5 nm steps) or a fix's position
/// (0.1°). Measured on Freddy 2023-03-10 in the closing note of 2026-12-03.
fn sweep_segment(fa: &Fan, fb: &Fan, ra: &QuadrantRadii, rb: &QuadrantRadii) -> MultiPolygon<f64> {
    if ra.is_zero() && rb.is_zero() {
        return MultiPolygon::new(vec![]);
    }
    let (sa, sb) = (fan_sectors(fa, ra), fan_sectors(fb, rb));
    let mut pieces = Vec::new();
    for (a, b) in sa.iter().zip(sb.iter()) {
        // A quadrant that reaches the threshold at one end only tapers to the other end's
        // centre: a sector whose radius shrinks linearly to zero shrinks to its apex.
        let pts: Vec<Coord<f64>> = match (a, b) {
            (Some(a), Some(b)) => a.iter().chain(b).copied().collect(),
            (Some(a), None) => a.iter().copied().chain([fb.centre().0]).collect(),
            (None, Some(b)) => std::iter::once(fa.centre().0)
                .chain(b.iter().copied())
                .collect(),
            (None, None) => continue,
        };
        if let Some(h) = hull(pts) {
            pieces.push(h);
        }
    }
    union_polygons(pieces)
}

/// Per-chain notes and swaths for every configured threshold.
pub(crate) fn build_swaths(
    forecast: &Forecast,
    chain: &[Fix<'_>],
    period: Period,
    cfg: &HazardConfig,
    notes: &mut Vec<String>,
) -> Vec<WindSwath> {
    let mut log = ResolveLog::default();
    let extents = resolve_extents(forecast, chain, cfg, &mut log);

    let kn = cfg.thresholds_kt.len();
    let extent_at = |i: usize, j: usize| extents.get(i).and_then(|row| row.get(j)).copied();
    // Per leg, per threshold: its segments in time order. Legs are swept in parallel
    // (rayon; collected in leg order, so the result does not depend on scheduling), and
    // within a leg every threshold places its outline points on the same geodesic lines
    // (one `Fan` per segment end).
    let per_leg: Vec<Vec<Vec<SwathSegment>>> = (0..chain.len().saturating_sub(1))
        .into_par_iter()
        .map(|i| {
            let (Some(a), Some(b)) = (chain.get(i), chain.get(i + 1)) else {
                return Vec::new();
            };
            // The leg is cut into sub-steps of at most `step_minutes`, and into segments of
            // at most `segment_minutes` (whole sub-steps), so first-arrival times are
            // resolved to that span, not to the fix interval.
            let n = substeps(a.time(), b.time(), cfg.step_minutes).max(1);
            let leg_min = (b.time() - a.time()).num_seconds() as f64 / 60.0;
            let per_segment = if leg_min > 0.0 {
                ((cfg.segment_minutes / (leg_min / n as f64)).floor() as usize).clamp(1, n)
            } else {
                n
            };
            let mut ends: Vec<usize> = (0..n).step_by(per_segment).collect();
            ends.push(n);
            let fans: Vec<Fan> = ends
                .iter()
                .map(|&k| {
                    Fan::new(
                        interpolate(a.pos, b.pos, k as f64 / n as f64),
                        cfg.arc_step_deg,
                    )
                })
                .collect();
            (0..kn)
                .map(|j| {
                    ends.windows(2)
                        .zip(fans.windows(2))
                        .map(|(k, f)| {
                            let (t0, t1) = (k[0] as f64 / n as f64, k[1] as f64 / n as f64);
                            let geometry = match (extent_at(i, j), extent_at(i + 1, j)) {
                                (Some(ea), Some(eb)) => sweep_segment(
                                    &f[0],
                                    &f[1],
                                    &ea.radii.lerp(&eb.radii, t0),
                                    &ea.radii.lerp(&eb.radii, t1),
                                ),
                                _ => MultiPolygon::new(vec![]),
                            };
                            SwathSegment {
                                start: time_at(a.time(), b.time(), t0),
                                end: time_at(a.time(), b.time(), t1),
                                geometry,
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect();

    // Per threshold, its segments in time order.
    let mut by_threshold: Vec<Vec<SwathSegment>> = (0..kn)
        .map(|j| match chain {
            // A single fix: its footprint stands for the whole period.
            [only] => {
                let geometry = extent_at(0, j)
                    .and_then(|e| quadrant_footprint(only.pos, &e.radii, cfg.arc_step_deg))
                    .unwrap_or_else(|| MultiPolygon::new(vec![]));
                vec![SwathSegment {
                    start: only.time(),
                    end: only.time(),
                    geometry,
                }]
            }
            _ => Vec::new(),
        })
        .collect();
    for leg in per_leg {
        for (segments, leg_segments) in by_threshold.iter_mut().zip(leg) {
            segments.extend(leg_segments);
        }
    }
    let swaths: Vec<WindSwath> = by_threshold
        .into_par_iter()
        .zip(cfg.thresholds_kt.par_iter())
        .enumerate()
        .map(|(j, (segments, &threshold))| {
            let geometry = union_tree(&segments);
            let area = area_km2(&geometry);
            let method = method_of(extents.iter().filter_map(|row| row.get(j)));
            WindSwath {
                threshold_kt: threshold,
                period,
                method,
                geometry,
                segments,
                area_km2: area,
            }
        })
        .collect();
    write_notes(forecast, period, &log, chain, &extents, cfg, notes);
    swaths
}

/// The union of the segments' geometries, in halves united in parallel (rayon) down to
/// runs of [`UNION_RUN`] consecutive segments. Consecutive segments overlap along the
/// track, so each run's union drops most of their shared edges before the larger unions
/// see them.
fn union_tree(segments: &[SwathSegment]) -> MultiPolygon<f64> {
    if segments.len() <= UNION_RUN {
        return union_multi(segments.iter().map(|s| &s.geometry));
    }
    let (a, b) = segments.split_at(segments.len() / 2);
    let (ua, ub) = rayon::join(|| union_tree(a), || union_tree(b));
    union_multi([&ua, &ub])
}

/// Longest run of segments united in one overlay by [`union_tree`].
const UNION_RUN: usize = 4;

/// QuadrantRadii unless some drawn extent came from the profile.
fn method_of<'a>(extents: impl Iterator<Item = &'a Extent>) -> FootprintMethod {
    let (mut radii, mut parametric) = (false, false);
    for e in extents {
        if e.radii.is_zero() {
            continue;
        }
        match e.source {
            ExtentSource::Radii => radii = true,
            ExtentSource::Parametric => parametric = true,
            _ => {}
        }
    }
    match (radii, parametric) {
        (true, true) => FootprintMethod::Mixed,
        (false, true) => FootprintMethod::ParametricProfile,
        _ => FootprintMethod::QuadrantRadii,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn r(ne: f64, se: f64, sw: f64, nw: f64) -> QuadrantRadii {
        QuadrantRadii::new(ne, se, sw, nw)
    }

    #[test]
    fn nesting_raises_lower_thresholds_to_cover_higher_ones() {
        let mut row = vec![
            Extent {
                radii: r(30.0, 30.0, 30.0, 30.0),
                source: ExtentSource::Radii,
            },
            Extent {
                radii: r(40.0, 10.0, 10.0, 10.0),
                source: ExtentSource::Radii,
            },
        ];
        let mut log = ResolveLog::default();
        enforce_nesting(&mut row, &mut log);
        assert_eq!(row[0].radii, r(40.0, 30.0, 30.0, 30.0));
        assert_eq!(log.raised_for_nesting, 1);
    }

    #[test]
    fn parametric_extents_stay_inside_the_sources_lower_contour() {
        let mut row = vec![
            Extent {
                radii: r(30.0, 30.0, 30.0, 30.0),
                source: ExtentSource::Radii,
            },
            Extent {
                radii: r(50.0, 20.0, 20.0, 20.0),
                source: ExtentSource::Parametric,
            },
        ];
        let mut log = ResolveLog::default();
        enforce_nesting(&mut row, &mut log);
        assert_eq!(row[1].radii, r(30.0, 20.0, 20.0, 20.0));
        assert_eq!(row[0].radii, r(30.0, 30.0, 30.0, 30.0));
    }

    #[test]
    fn the_method_is_mixed_only_when_both_sources_drew_something() {
        let radii = Extent {
            radii: r(10.0, 10.0, 10.0, 10.0),
            source: ExtentSource::Radii,
        };
        let param = Extent {
            radii: r(10.0, 10.0, 10.0, 10.0),
            source: ExtentSource::Parametric,
        };
        let empty_param = Extent {
            radii: ZERO,
            source: ExtentSource::Parametric,
        };
        assert_eq!(method_of([radii, param].iter()), FootprintMethod::Mixed);
        assert_eq!(
            method_of([radii, empty_param].iter()),
            FootprintMethod::QuadrantRadii
        );
        assert_eq!(
            method_of([param].iter()),
            FootprintMethod::ParametricProfile
        );
    }
}
