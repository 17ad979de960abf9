//! Allocation of origins (at-risk settlements and sites) to safe centres with free room,
//! nearest first (geodesic km through the R-tree of `crate::spatial`, or a user's
//! travel-time matrix), never beyond a centre's room. Core: no I/O.

use std::collections::HashMap;

use geo::{Distance, Geodesic, Point};

use super::PlanConfig;
use super::tables::{Allocation, CentreStatus, OriginPlan};
use crate::spatial::PointIndex;

/// Below this many persons a demand or a room counts as zero (float noise of the shares).
pub(super) const EPS_PERSONS: f64 = 1e-6;

/// A user's travel times from origins to centres (minutes), replacing the geodesic order
/// for the origins it lists.
#[derive(Debug, Clone, Default)]
pub struct TravelTimes {
    by_origin: HashMap<String, Vec<(String, f64)>>,
}

impl TravelTimes {
    /// From (origin id, centre code, minutes) rows.
    pub fn new(rows: impl IntoIterator<Item = (String, String, f64)>) -> TravelTimes {
        let mut by_origin: HashMap<String, Vec<(String, f64)>> = HashMap::new();
        for (o, c, m) in rows {
            by_origin.entry(o).or_default().push((c, m));
        }
        for v in by_origin.values_mut() {
            v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        }
        TravelTimes { by_origin }
    }
    pub fn origins(&self) -> usize {
        self.by_origin.len()
    }
}

/// The centres' remaining room while origins are served, and what was sent where.
struct Ledger<'c> {
    room: Vec<f64>,
    centres: &'c mut [CentreStatus],
    allocations: Vec<Allocation>,
}

impl Ledger<'_> {
    /// Sends as much of `remaining` as centre `ci` has room for (never more).
    fn give(
        &mut self,
        o: &OriginPlan,
        ci: usize,
        (distance_km, travel_min): (f64, Option<f64>),
        remaining: &mut f64,
        rank: &mut usize,
    ) {
        let (Some(r), Some(c)) = (self.room.get_mut(ci), self.centres.get_mut(ci)) else {
            return;
        };
        let take = remaining.min(*r);
        if take <= EPS_PERSONS {
            return;
        }
        *r -= take;
        *remaining -= take;
        c.allocated += take;
        *rank += 1;
        self.allocations.push(Allocation {
            origin_id: o.id.clone(),
            origin_kind: o.kind,
            origin_lon: o.lon,
            origin_lat: o.lat,
            centre_code: c.code.clone(),
            centre_name: c.name.clone(),
            centre_lon: c.lon,
            centre_lat: c.lat,
            persons: take,
            distance_km,
            travel_min,
            rank: *rank,
        });
    }
}

/// Serves `origins` in their order: each fills the safe centres with free room nearest to
/// it (geodesic km, up to `cfg.max_distance_km`; or the travel-time matrix's order when it
/// lists the origin), never past a centre's room. Sets each origin's `allocated`,
/// `shortfall` and nearest safe centre, and each centre's `allocated`; returns the
/// allocations in the order made.
pub fn allocate(
    origins: &mut [OriginPlan],
    centres: &mut [CentreStatus],
    cfg: &PlanConfig,
    travel_times: Option<&TravelTimes>,
) -> Vec<Allocation> {
    let centre_points: Vec<Point<f64>> = centres.iter().map(|c| Point::new(c.lon, c.lat)).collect();
    let centre_index = PointIndex::new(&centre_points);
    let code_index: HashMap<String, usize> = centres
        .iter()
        .enumerate()
        .map(|(i, c)| (c.code.clone(), i))
        .collect();
    let safe: Vec<bool> = centres.iter().map(|c| c.safe).collect();
    let mut ledger = Ledger {
        room: centres.iter().map(|c| c.free_room).collect(),
        centres,
        allocations: Vec::new(),
    };
    for o in origins.iter_mut() {
        let p = Point::new(o.lon, o.lat);
        o.nearest_safe_km = centre_index
            .nearest(p, 1, |i| safe.get(i).copied().unwrap_or(false))
            .first()
            .map(|&(_, km)| km);
        o.no_safe_centre_within_max = o.nearest_safe_km.is_none_or(|km| km > cfg.max_distance_km);
        let mut remaining = o.demand;
        let mut rank = 0;
        let listed = travel_times.and_then(|t| t.by_origin.get(&o.id));
        if let Some(listed) = listed {
            for (code, minutes) in listed {
                if remaining <= EPS_PERSONS {
                    break;
                }
                let Some(&ci) = code_index.get(code.as_str()) else {
                    continue;
                };
                if !safe.get(ci).copied().unwrap_or(false) {
                    continue;
                }
                let km = centre_points
                    .get(ci)
                    .map(|q| Geodesic.distance(p, *q) / 1000.0)
                    .unwrap_or(f64::NAN);
                ledger.give(o, ci, (km, Some(*minutes)), &mut remaining, &mut rank);
            }
        } else {
            while remaining > EPS_PERSONS {
                let candidates: Vec<(usize, f64)> = centre_index.nearest_within(
                    p,
                    cfg.candidates_per_query,
                    cfg.max_distance_km,
                    |i| {
                        safe.get(i).copied().unwrap_or(false)
                            && ledger.room.get(i).is_some_and(|r| *r > EPS_PERSONS)
                    },
                );
                if candidates.is_empty() {
                    break;
                }
                for (ci, km) in candidates {
                    if remaining <= EPS_PERSONS {
                        break;
                    }
                    ledger.give(o, ci, (km, None), &mut remaining, &mut rank);
                }
            }
        }
        o.allocated = o.demand - remaining.max(0.0);
        o.shortfall = remaining.max(0.0);
    }
    ledger.allocations
}
