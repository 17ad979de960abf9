//! The anticipatory-action "exposed area" (OCHA/CERF Mozambique framework, 2026; see
//! ../shared/DOMAIN.md): the cone cut at the part of the forecast where the 10-minute wind
//! is ≥ 64 kt, united with the 64 kt forecast swath.
//!
//! Pure geometry; must not depend on I/O, exposure or trigger rules (those live in config
//! and `alerts`).

use geo::{MultiPolygon, Point, Polygon};

use crate::domain::{Cone, Forecast, NauticalMiles, WindSwath};

use super::HazardConfig;
use super::cone::fix_radius_nm;
use super::geodesy::{circle_points, hull, interpolate, intersection, union_multi, union_polygons};
use super::track::Fix;

/// The exposed area, or `None` when no fix of the forecast chain (reference fix included)
/// reaches `threshold_kt` as a 10-minute wind.
///
/// The cut: along each leg, the stretch where the linearly interpolated 10-minute wind is
/// ≥ the threshold (its ends found exactly, the wind being linear in time) carries the
/// uncertainty circles of the cone (same radii rule: the point's position accuracy, else
/// the configured table, interpolated along the leg); the hulls of consecutive circles form
/// a corridor, and the exposed cone is the cone ∩ that corridor. So the cone is cut where
/// the storm is forecast to drop below 64 kt, not at the last fix that still has it.
pub(crate) fn exposed_area(
    forecast: &Forecast,
    chain: &[Fix<'_>],
    cone: Option<&Cone>,
    swath: Option<&WindSwath>,
    cfg: &HazardConfig,
) -> Option<MultiPolygon<f64>> {
    let threshold = cfg.exposed_threshold_kt;
    let v10 = |f: &Fix<'_>| {
        f.point
            .max_wind_kt
            .map(|w| forecast.wind_averaging.to_ten_minute(w).0)
    };
    if !chain.iter().any(|f| v10(f).is_some_and(|v| v >= threshold)) {
        return None;
    }
    let radius_m = |f: &Fix<'_>| NauticalMiles(fix_radius_nm(forecast, f, &cfg.cone).0).to_m();

    let mut pieces: Vec<Polygon<f64>> = Vec::new();
    // A fix at or above the threshold always contributes its own circle (this also covers
    // a lone fix, or one whose neighbours have no wind).
    for f in chain {
        if v10(f).is_some_and(|v| v >= threshold) {
            pieces.extend(hull(circle_points(f.pos, radius_m(f), cfg.arc_step_deg)));
        }
    }
    for pair in chain.windows(2) {
        let [a, b] = pair else { continue };
        let (Some(va), Some(vb)) = (v10(a), v10(b)) else {
            continue;
        };
        let Some((s0, s1)) = stretch_at_or_above(va, vb, threshold) else {
            continue;
        };
        let (ra, rb) = (radius_m(a), radius_m(b));
        let circle_at = |s: f64| -> Vec<geo::Coord<f64>> {
            let p: Point<f64> = interpolate(a.pos, b.pos, s);
            circle_points(p, ra + (rb - ra) * s, cfg.arc_step_deg)
        };
        let mut pts = circle_at(s0);
        pts.extend(circle_at(s1));
        pieces.extend(hull(pts));
    }
    let corridor = union_polygons(pieces);
    let cut = match cone {
        Some(c) => intersection(&c.geometry, &corridor),
        None => corridor,
    };
    let empty = MultiPolygon::new(vec![]);
    let swath_geometry = swath.map(|s| &s.geometry).unwrap_or(&empty);
    Some(union_multi([&cut, swath_geometry]))
}

/// The part `[s0, s1]` of a leg (ratios 0..=1) where a wind varying linearly from `va` to
/// `vb` is at or above `threshold`; `None` when it never is.
fn stretch_at_or_above(va: f64, vb: f64, threshold: f64) -> Option<(f64, f64)> {
    match (va >= threshold, vb >= threshold) {
        (true, true) => Some((0.0, 1.0)),
        (false, false) => None,
        (true, false) => Some((0.0, (va - threshold) / (va - vb))),
        (false, true) => Some(((threshold - va) / (vb - va), 1.0)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_stretch_ends_where_the_interpolated_wind_crosses_the_threshold() {
        // Freddy 24 h → 36 h: 90 kt → 60 kt crosses 64 kt at 26/30 of the leg.
        let (s0, s1) = stretch_at_or_above(90.0, 60.0, 64.0).unwrap();
        assert_eq!(s0, 0.0);
        assert!((s1 - 26.0 / 30.0).abs() < 1e-12);
        let (s0, s1) = stretch_at_or_above(50.0, 70.0, 64.0).unwrap();
        assert!((s0 - 0.7).abs() < 1e-12);
        assert_eq!(s1, 1.0);
        assert!(stretch_at_or_above(60.0, 63.0, 64.0).is_none());
        assert_eq!(stretch_at_or_above(64.0, 64.0, 64.0), Some((0.0, 1.0)));
    }
}
