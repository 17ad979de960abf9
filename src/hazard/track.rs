//! The two chains of fixes the hazard is built from (observed: the analysis points;
//! forecast: the reference fix followed by the forecast points), input checks, and the
//! storm's translation at each fix.
//!
//! Pure; must not depend on I/O or on geometry beyond geodesic distance and bearing.

use chrono::{DateTime, Utc};
use geo::{Bearing, Distance, Geodesic, Point};

use crate::domain::{FixKind, Forecast, TrackPoint};

use super::HazardError;

/// One fix of a chain, borrowing the forecast's point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fix<'a> {
    /// Index in `forecast.track`, for messages.
    pub index: usize,
    pub point: &'a TrackPoint,
    pub pos: Point<f64>,
}

impl Fix<'_> {
    pub fn time(&self) -> DateTime<Utc> {
        self.point.time
    }
}

/// The observed chain: fixes from `context_h` hours before the reference time up to and
/// including it, in time order (the analysis period; it ends on the reference fix so
/// observed and forecast swaths meet).
pub(crate) fn observed_chain(forecast: &Forecast, context_h: f64) -> Vec<Fix<'_>> {
    let reference = forecast.reference_time;
    // Saturating: an unbounded context (validation uses f64::INFINITY) keeps every fix.
    let since = chrono::Duration::try_minutes((context_h * 60.0).min(1e12) as i64)
        .and_then(|d| reference.checked_sub_signed(d));
    forecast
        .track
        .iter()
        .enumerate()
        .filter(|(_, p)| since.is_none_or(|s| p.time >= s))
        .filter(|(_, p)| p.time < reference || (p.time == reference && p.kind == FixKind::Analysis))
        .chain(
            forecast
                .track
                .iter()
                .enumerate()
                .filter(|(_, p)| p.time == reference && p.kind == FixKind::Forecast)
                .take(1),
        )
        .map(|(index, point)| fix(index, point))
        .collect()
}

/// The forecast chain: the fixes from the reference time on (the reference fix, tau 0, then
/// the forecast points). Defined by time, not by point kind: parsers may mark the tau-0 fix
/// as analysis (ATCF) or as forecast (RSMC, replays). When no fix sits at the reference
/// time, the last fix before it starts the chain so the storm's current extent is included.
pub(crate) fn forecast_chain(forecast: &Forecast) -> Vec<Fix<'_>> {
    let reference = forecast.reference_time;
    let start = forecast
        .track
        .iter()
        .position(|p| p.time >= reference)
        .map(|i| {
            let exact = forecast.track.get(i).is_some_and(|p| p.time == reference);
            if exact || i == 0 { i } else { i - 1 }
        });
    let Some(start) = start else {
        return Vec::new();
    };
    forecast
        .track
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, p)| p.time <= reference || p.kind == FixKind::Forecast)
        .map(|(index, point)| fix(index, point))
        .collect()
}

/// Every fix of the track in time order.
pub(crate) fn all_fixes(forecast: &Forecast) -> Vec<Fix<'_>> {
    forecast
        .track
        .iter()
        .enumerate()
        .map(|(index, point)| fix(index, point))
        .collect()
}

fn fix(index: usize, point: &TrackPoint) -> Fix<'_> {
    Fix {
        index,
        point,
        pos: Point::new(point.lon, point.lat),
    }
}

/// Checks what the maths relies on: coordinates in range, time order within a chain, no
/// leg wrapping the antimeridian, and radii/winds that are non-negative numbers.
pub(crate) fn validate_track(forecast: &Forecast) -> Result<(), HazardError> {
    let origin = &forecast.origin;
    if forecast.track.is_empty() {
        return Err(HazardError::EmptyTrack {
            origin: origin.clone(),
        });
    }
    for (index, p) in forecast.track.iter().enumerate() {
        let bad = |field: &str, expected: &str, found: String| HazardError::InvalidTrackPoint {
            origin: origin.clone(),
            at: format!("track point {index} ({})", p.time.to_rfc3339()),
            field: field.to_string(),
            expected: expected.to_string(),
            found,
        };
        if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
            return Err(bad("lon", "a longitude in -180..180", p.lon.to_string()));
        }
        if !(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat)) {
            return Err(bad("lat", "a latitude in -90..90", p.lat.to_string()));
        }
        if let Some(w) = p.max_wind_kt
            && !(w.0.is_finite() && w.0 >= 0.0)
        {
            return Err(bad(
                "max_wind_kt",
                "a non-negative number of knots",
                w.0.to_string(),
            ));
        }
        for wr in &p.wind_radii {
            let r = &wr.radii;
            for (name, v) in [
                ("ne_nm", r.ne_nm),
                ("se_nm", r.se_nm),
                ("sw_nm", r.sw_nm),
                ("nw_nm", r.nw_nm),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(bad(
                        &format!("wind_radii[{} kt].{name}", wr.threshold_kt),
                        "a non-negative radius in nautical miles",
                        v.to_string(),
                    ));
                }
            }
        }
    }
    for chain in [
        observed_chain(forecast, f64::INFINITY),
        forecast_chain(forecast),
    ] {
        for pair in chain.windows(2) {
            let [a, b] = pair else { continue };
            if b.time() < a.time() {
                return Err(HazardError::TrackOutOfOrder {
                    origin: origin.clone(),
                    index: b.index,
                    time: b.time().to_rfc3339(),
                    previous: a.time().to_rfc3339(),
                });
            }
            if (b.pos.x() - a.pos.x()).abs() > 180.0 {
                return Err(HazardError::AntimeridianCrossing {
                    origin: origin.clone(),
                    index: b.index,
                    from_lon: a.pos.x(),
                    to_lon: b.pos.x(),
                });
            }
        }
    }
    Ok(())
}

/// Translation speed (knots) and direction (bearing moved toward) at fix `i` of a chain:
/// the source's own motion when given, else from the leg to the next fix (the previous
/// leg for the last fix), else at rest.
pub(crate) fn translation_at(chain: &[Fix<'_>], i: usize) -> (f64, f64) {
    if let Some(m) = chain.get(i).and_then(|f| f.point.motion)
        && m.speed_kt.is_finite()
        && m.toward_deg.is_finite()
    {
        return (m.speed_kt.max(0.0), m.toward_deg);
    }
    let leg = match (chain.get(i), chain.get(i + 1)) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => i
            .checked_sub(1)
            .and_then(|j| chain.get(j))
            .zip(chain.get(i)),
    };
    match leg {
        Some((a, b)) => leg_motion(a, b),
        None => (0.0, 0.0),
    }
}

/// Speed (knots) and bearing of the geodesic leg between two fixes.
pub(crate) fn leg_motion(a: &Fix<'_>, b: &Fix<'_>) -> (f64, f64) {
    let hours = (b.time() - a.time()).num_seconds() as f64 / 3600.0;
    if hours <= 0.0 {
        return (0.0, 0.0);
    }
    let metres = Geodesic.distance(a.pos, b.pos);
    let speed_kt = metres / crate::domain::METRES_PER_NM / hours;
    let toward = if metres > 0.0 {
        Geodesic.bearing(a.pos, b.pos)
    } else {
        0.0
    };
    (speed_kt, toward)
}

/// Hours between two times.
pub(crate) fn hours_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 3_600_000.0
}

/// Number of equal sub-steps (≥ 1) that keeps each at most `step_minutes` long.
pub(crate) fn substeps(a: DateTime<Utc>, b: DateTime<Utc>, step_minutes: f64) -> usize {
    let minutes = hours_between(a, b) * 60.0;
    if minutes <= 0.0 {
        return 1;
    }
    // ok: step_minutes is validated > 0; a leg of a few days gives a few hundred steps.
    (minutes / step_minutes).ceil().max(1.0) as usize
}

/// `a + ratio × (b − a)` in time, rounded to the second.
pub(crate) fn time_at(a: DateTime<Utc>, b: DateTime<Utc>, ratio: f64) -> DateTime<Utc> {
    let secs = ((b - a).num_milliseconds() as f64 * ratio / 1000.0).round() as i64;
    a + chrono::Duration::seconds(secs)
}
