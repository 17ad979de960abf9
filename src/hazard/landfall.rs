//! Landfall: the first time the forecast track, followed from the reference fix at
//! ≤ `step_minutes`, passes from outside to inside the country outline; refined by bisection.
//!
//! Pure geometry; must not depend on I/O or on where the outline came from.

use geo::{BoundingRect, Intersects, MultiPolygon, Point, Rect};

use crate::domain::{Forecast, Landfall};
use crate::spatial::PreparedArea;

use super::geodesy::interpolate;
use super::swath::fmt_time;
use super::track::{Fix, hours_between, substeps, time_at};

/// Bisection stops when the bracket is shorter than this many seconds.
const LANDFALL_PRECISION_S: f64 = 30.0;

/// The country outline as the caller has it: prepared once for point tests (the
/// service's indexed layers), or plain (tests, replays), where preparing it for one track
/// would cost more than it saves.
#[derive(Clone, Copy)]
pub(crate) enum Outline<'a> {
    Plain(&'a MultiPolygon<f64>),
    Prepared(&'a PreparedArea),
}

impl<'a> Outline<'a> {
    fn area(self) -> &'a MultiPolygon<f64> {
        match self {
            Outline::Plain(a) => a,
            Outline::Prepared(p) => p.area(),
        }
    }
}

struct Country<'a> {
    outline: Outline<'a>,
    bbox: Option<Rect<f64>>,
}

impl<'a> Country<'a> {
    fn new(outline: Outline<'a>) -> Self {
        Country {
            outline,
            bbox: outline.area().bounding_rect(),
        }
    }

    /// Inside or on the outline (closed, as geo's `intersects`). The prepared outline
    /// answers from its interval tree: the track is tested every half hour and at each
    /// bisection step, and a scan of the 14,000 edges of Mozambique's outline per test was
    /// 11 % of an assessment (perf, `cargo bench --bench assess`).
    fn contains(&self, p: Point<f64>) -> bool {
        // The bounding box spares a full point-in-polygon test for points far at sea.
        match (self.bbox, self.outline) {
            (Some(b), Outline::Plain(a)) if b.intersects(&p) => a.intersects(&p),
            (Some(b), Outline::Prepared(a)) if b.intersects(&p) => a.covers(p),
            _ => false,
        }
    }
}

/// 10-minute wind interpolated linearly in time between two fixes, when both have one.
pub(crate) fn wind_10min_between(
    forecast: &Forecast,
    a: &Fix<'_>,
    b: &Fix<'_>,
    ratio: f64,
) -> Option<f64> {
    let va = a.point.max_wind_kt?;
    let vb = b.point.max_wind_kt?;
    let va = forecast.wind_averaging.to_ten_minute(va).0;
    let vb = forecast.wind_averaging.to_ten_minute(vb).0;
    Some(va + (vb - va) * ratio)
}

/// The first crossing from outside to inside `country` along the forecast chain, coming
/// from the sea (a leg whose start the source marks as over land is a land-border crossing).
///
/// `None` when the chain never enters; also `None`, with a note, when the reference fix is
/// already over land (the storm made landfall before this forecast: there is no forecast
/// landfall to anticipate).
pub(crate) fn find_landfall(
    forecast: &Forecast,
    chain: &[Fix<'_>],
    country: Outline<'_>,
    step_minutes: f64,
    notes: &mut Vec<String>,
) -> Option<Landfall> {
    let first = chain.first()?;
    if country.area().0.is_empty() {
        notes.push("no country outline was given: landfall not computed".to_string());
        return None;
    }
    let c = Country::new(country);
    if c.contains(first.pos) {
        notes.push(format!(
            "storm already over land at reference time ({}, {:.2}, {:.2}): no forecast landfall",
            fmt_time(first.time()),
            first.pos.x(),
            first.pos.y()
        ));
        return None;
    }
    all_landfalls(forecast, chain, country, step_minutes)
        .into_iter()
        .next()
}

/// Narrows `[outside, inside]` (ratios along the leg) by bisection to
/// [`LANDFALL_PRECISION_S`]; returns the first ratio known to be inside.
fn refine(c: &Country<'_>, a: &Fix<'_>, b: &Fix<'_>, mut lo: f64, mut hi: f64) -> f64 {
    let leg_s = hours_between(a.time(), b.time()) * 3600.0;
    for _ in 0..40 {
        if (hi - lo) * leg_s <= LANDFALL_PRECISION_S {
            break;
        }
        let mid = 0.5 * (lo + hi);
        if c.contains(interpolate(a.pos, b.pos, mid)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// A crossing into the country is a landfall only if the source last had the centre over
/// the sea at most this many hours before: IBTrACS marks fixes near the coast as over land
/// (its land mask is coarser than the COD outline), while an entry across a land border
/// (Freddy 2023 re-entering from Zimbabwe and Malawi) follows days over land.
const SEA_RECENCY_H: f64 = 12.0;

/// Entries within this many hours of the previous landfall are the same event (an island
/// or estuary crossed just before the mainland, as Kenneth 2019 at the Quirimbas).
const LANDFALL_MERGE_H: f64 = 12.0;

/// Every landfall along a whole chain: each crossing from outside to inside `country`
/// that comes from the sea (see [`SEA_RECENCY_H`]; fixes whose `over_land` is unknown
/// count as sea), merged per [`LANDFALL_MERGE_H`]. Each is refined as in
/// [`find_landfall`]; lead times count from the forecast's reference time.
pub(crate) fn all_landfalls(
    forecast: &Forecast,
    chain: &[Fix<'_>],
    country: Outline<'_>,
    step_minutes: f64,
) -> Vec<Landfall> {
    let c = Country::new(country);
    let mut out: Vec<Landfall> = Vec::new();
    let Some(first) = chain.first() else {
        return out;
    };
    let mut inside = c.contains(first.pos);
    let mut last_sea = None;
    for pair in chain.windows(2) {
        let [a, b] = pair else { continue };
        if a.point.over_land != Some(true) {
            last_sea = Some(a.time());
        }
        let n = substeps(a.time(), b.time(), step_minutes);
        let mut prev_ratio = 0.0;
        for k in 1..=n {
            let ratio = k as f64 / n as f64;
            let now_inside = c.contains(interpolate(a.pos, b.pos, ratio));
            if now_inside && !inside {
                let hi = refine(&c, a, b, prev_ratio, ratio);
                let time = time_at(a.time(), b.time(), hi);
                let from_sea = last_sea.is_some_and(|t| hours_between(t, time) <= SEA_RECENCY_H);
                let merged = out
                    .last()
                    .is_some_and(|l| hours_between(l.time, time) <= LANDFALL_MERGE_H);
                if from_sea && !merged {
                    let pos = interpolate(a.pos, b.pos, hi);
                    out.push(Landfall {
                        time,
                        lon: pos.x(),
                        lat: pos.y(),
                        lead_time_h: hours_between(forecast.reference_time, time),
                        wind_kt: wind_10min_between(forecast, a, b, hi),
                    });
                }
            }
            inside = now_inside;
            prev_ratio = ratio;
        }
    }
    out
}
