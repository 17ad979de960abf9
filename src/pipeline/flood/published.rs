//! What subscriber selection and the messages need of a flood version, and what a flood
//! event is called in lists and messages (moved out of `flood/mod.rs`, unchanged).

use chrono::Duration;

use super::issue_time;
use crate::alerts::assess_flood::FloodAssessment;
use crate::alerts::versioning::AlertVersion;
use crate::notify::select::{PublishedAlert, SiteAtRisk};
use crate::store::AlertSummary;

/// Hours between two flood forecasts: GloFAS-type river forecasts are issued daily
/// (../shared/data/floods: one forecast file per issue date). The messages' "next update".
pub const FLOOD_ISSUANCE_INTERVAL_H: i64 = 24;

/// What subscriber selection and the messages need of a flood version: its districts with
/// the people at risk, the point features in the impact areas at a level, and the next
/// daily forecast. A Cancel carries none of them.
pub fn flood_published(
    v: &AlertVersion,
    a: &FloodAssessment,
    prev: Option<&AlertSummary>,
    feed: &str,
) -> PublishedAlert {
    let mut p = PublishedAlert::from_version(
        v,
        crate::notify::HazardKind::Flood,
        &flood_label(a, prev, feed),
    );
    if v.msg_type.withdraws() {
        return p;
    }
    for d in &mut p.districts {
        d.people_at_risk = a
            .districts
            .iter()
            .find(|x| x.pcode == d.pcode)
            .and_then(|x| x.people_at_risk);
    }
    p.sites = a
        .points
        .iter()
        .map(|pt| SiteAtRisk {
            layer: pt.feature.layer.clone(),
            id: pt.feature.id.clone(),
            name: pt.feature.name.clone(),
            district_pcode: pt.feature.district_pcode.clone(),
            people: pt.feature.population,
        })
        .collect();
    // The next daily forecast after the version was sent.
    if let Some(f) = a.forecast() {
        let step = Duration::hours(FLOOD_ISSUANCE_INTERVAL_H);
        let mut next = issue_time(f.issue_date) + step;
        while next <= v.sent {
            next += step;
        }
        p.next_update = Some(next);
    }
    p
}

/// How lists name a flood event: "Cheias: " and [`flood_label`].
const EVENT_PREFIX: &str = "Cheias: ";

/// What a flood event is called, in lists and in messages ("cheia Changane"): the rivers
/// of the stations at a level in this forecast; when none is (a Cancel), the name the
/// event had; the feed's name before any forecast reached a level. Station rivers, not
/// the feed's name, are what a district focal point recognises.
pub fn flood_label(a: &FloodAssessment, prev: Option<&AlertSummary>, feed: &str) -> String {
    let mut rivers: Vec<&str> = a
        .forecast()
        .map(|f| {
            a.outlooks
                .iter()
                .filter(|o| o.max_level.is_some())
                .filter_map(|o| f.stations.iter().find(|s| s.id == o.station_id))
                .map(|s| s.river.trim())
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    rivers.sort_unstable();
    rivers.dedup();
    if !rivers.is_empty() {
        return rivers.join(", ");
    }
    prev.and_then(|p| p.event_name.strip_prefix(EVENT_PREFIX))
        .map_or_else(|| feed.to_string(), str::to_string)
}

/// The event's name as lists show it: "Cheias: Changane".
pub(super) fn event_name(label: &str) -> String {
    format!("{EVENT_PREFIX}{label}")
}
