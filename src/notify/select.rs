//! Who gets what for one published alert version: matches a subscriber's areas against
//! the version's districts and sites, compares with what that subscriber was last sent for
//! the event, and decides the notice (new event, raised, lowered, all-clear, reminder) or
//! nothing — Alertmanager's hygiene (../shared/DOMAIN.md): no message when nothing relevant
//! to that subscriber changed, reminders only after an interval, always an all-clear.
//!
//! Pure: polygon areas are matched through a [`DistrictGeometry`] the caller prepares; must
//! not do I/O or depend on tokio, reqwest or lettre.
//!
//! `geometry` holds how a polygon area is matched to districts (the [`DistrictGeometry`]
//! port and its two ready-made answers); this file is the selection itself.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::levels::Level;
use crate::alerts::versioning::{AlertVersion, CapStatus, MsgType};
use crate::notify::subscriber::{Area, HazardKind, Subscriber};

mod geometry;

pub use geometry::{DistrictGeometry, DistrictShapes, NoGeometry};

/// One district of a published version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDistrict {
    /// ADM2 P-code.
    pub pcode: String,
    pub name: String,
    /// ADM1 P-code; when absent, the ADM2 P-code's first four characters are used (COD-AB
    /// P-codes are hierarchical: "MZ0906" is in "MZ09").
    pub province_pcode: Option<String>,
    pub level: Level,
    /// People at risk in the district at the level's threshold, when known.
    pub people_at_risk: Option<f64>,
}

impl AlertDistrict {
    pub fn in_province(&self, province: &str) -> bool {
        match &self.province_pcode {
            Some(p) => p == province,
            None => self.pcode.len() > province.len() && self.pcode.starts_with(province),
        }
    }
}

/// A point feature (e.g. a resettlement site) the version lists at risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteAtRisk {
    pub layer: String,
    pub id: String,
    pub name: String,
    pub district_pcode: Option<String>,
    /// People living there, when the layer says.
    pub people: Option<f64>,
}

/// What selection and the messages need to know about one published version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedAlert {
    pub event_id: String,
    pub version: u32,
    /// CAP identifier of the version.
    pub identifier: String,
    pub msg_type: MsgType,
    pub status: CapStatus,
    pub hazard: HazardKind,
    /// The storm's or river's name as people know it, e.g. "FREDDY".
    pub event_name: String,
    pub sent: DateTime<Utc>,
    /// When the next version is expected (the next forecast issuance), if known.
    pub next_update: Option<DateTime<Utc>>,
    /// Districts on the ladder, in P-code order; empty for a Cancel.
    pub districts: Vec<AlertDistrict>,
    pub sites: Vec<SiteAtRisk>,
    /// A flood that follows a cyclone: the cyclone's name ("FREDDY"), said in the
    /// headline ("cheia Licungo (ciclone FREDDY)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_cyclone: Option<String>,
    /// An editor's instruction `[pt, en]` (issue 13), said after the standard one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<[String; 2]>,
}

impl PublishedAlert {
    /// The facts of an [`AlertVersion`] (no people or sites: add them from the
    /// assessment when it is at hand).
    pub fn from_version(v: &AlertVersion, hazard: HazardKind, event_name: &str) -> Self {
        PublishedAlert {
            event_id: v.event_id.clone(),
            version: v.version,
            identifier: v.identifier.clone(),
            msg_type: v.msg_type,
            status: v.status,
            hazard,
            event_name: event_name.to_string(),
            sent: v.sent,
            next_update: None,
            districts: v
                .districts
                .iter()
                .map(|(pcode, d)| AlertDistrict {
                    pcode: pcode.clone(),
                    name: d.name.clone(),
                    province_pcode: d.province_pcode.clone(),
                    level: d.level,
                    people_at_risk: None,
                })
                .collect(),
            sites: Vec::new(),
            after_cyclone: None,
            instruction: None,
        }
    }

    /// The highest district level, `None` when no district is on the ladder.
    pub fn highest_level(&self) -> Option<Level> {
        self.districts.iter().map(|d| d.level).max()
    }

    pub fn district(&self, pcode: &str) -> Option<&AlertDistrict> {
        self.districts.iter().find(|d| d.pcode == pcode)
    }
}

/// What a subscriber was last sent for an event (from the outbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSent {
    /// The level they were told; `None` when the last message was an all-clear.
    pub level: Option<Level>,
    /// When that message's version was sent.
    pub at: DateTime<Utc>,
}

/// The kind of message a subscriber gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// First message of the event for this subscriber (or first after an all-clear).
    NewEvent,
    Raised,
    Lowered,
    /// The event was cancelled, or their areas fell below their minimum level.
    AllClear,
    /// The level is unchanged and high, and the repeat interval has passed.
    Reminder,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::NewEvent => "new_event",
            NoticeKind::Raised => "raised",
            NoticeKind::Lowered => "lowered",
            NoticeKind::AllClear => "all_clear",
            NoticeKind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        [
            NoticeKind::NewEvent,
            NoticeKind::Raised,
            NoticeKind::Lowered,
            NoticeKind::AllClear,
            NoticeKind::Reminder,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What one subscriber gets for one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The level now in the subscriber's areas (`None` for an all-clear).
    pub level: Option<Level>,
    /// The level they were last told.
    pub previous: Option<Level>,
    /// Their districts on the ladder at or above their minimum level, P-code order.
    pub districts: Vec<String>,
    /// Their sites at risk, as (layer, id).
    pub sites: Vec<(String, String)>,
}

/// Selection settings (`[notify]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectOptions {
    /// Shortest time between two messages for an unchanged level.
    pub repeat_interval: Duration,
    /// Lowest level for which an unchanged alert is repeated.
    pub reminder_min_level: Level,
}

impl Default for SelectOptions {
    /// A reminder every 12 h for orange and red: two 6-hourly RSMC issuances, so an
    /// unchanged high level is repeated twice a day, no more (Alertmanager's
    /// `repeat_interval` idea; a night-time reminder every 6 h would teach people to mute).
    fn default() -> Self {
        SelectOptions {
            repeat_interval: Duration::hours(12),
            reminder_min_level: Level::Orange,
        }
    }
}

/// A matched site: layer, id, level.
type MatchedSite = (String, String, Level);

/// Districts and sites of `alert` in the subscriber's areas, with the level each has.
fn matched(
    sub: &Subscriber,
    alert: &PublishedAlert,
    geometry: &dyn DistrictGeometry,
) -> (BTreeMap<String, Level>, Vec<MatchedSite>) {
    let mut districts = BTreeMap::new();
    let mut sites = Vec::new();
    let mut add = |d: &AlertDistrict| {
        districts.insert(d.pcode.clone(), d.level);
    };
    for area in &sub.areas {
        match area {
            Area::Province(p) => alert
                .districts
                .iter()
                .filter(|d| d.in_province(p))
                .for_each(&mut add),
            Area::District(p) => alert
                .districts
                .iter()
                .filter(|d| &d.pcode == p)
                .for_each(&mut add),
            Area::Polygon(poly) => {
                let hit = geometry.districts_intersecting(poly);
                alert
                    .districts
                    .iter()
                    .filter(|d| hit.contains(&d.pcode))
                    .for_each(&mut add);
            }
            Area::Feature { layer, id } => {
                for s in alert
                    .sites
                    .iter()
                    .filter(|s| &s.layer == layer && &s.id == id)
                {
                    // A site's level is its district's; a site whose district is not on the
                    // ladder (it should be: the site is in the wind swath) takes the
                    // version's highest level rather than being dropped.
                    let level = s
                        .district_pcode
                        .as_deref()
                        .and_then(|p| alert.district(p))
                        .map(|d| d.level)
                        .or_else(|| alert.highest_level());
                    if let Some(level) = level {
                        sites.push((s.layer.clone(), s.id.clone(), level));
                    }
                }
            }
        }
    }
    (districts, sites)
}

/// The notice `sub` gets for `alert`, given what they were last sent for the event, or
/// `None`.
///
/// - Inactive subscribers, hazards they do not follow, Draft and System versions: nothing.
///   Test and Exercise versions only to `receive_tests` subscribers.
/// - Their level is the highest level among their matched districts and sites, counted
///   only when at or above their `min_level`.
/// - Never told anything (or last told all-clear) and a level now: NewEvent.
/// - Told a level, and a Cancel or no level now: AllClear.
/// - Higher: Raised; lower: Lowered; same: Reminder when the level is at least
///   `reminder_min_level` and `repeat_interval` has passed since the last message (times
///   are versions' `sent` times, so a replay decides as the live run did), else nothing.
pub fn select(
    sub: &Subscriber,
    alert: &PublishedAlert,
    last: Option<&LastSent>,
    opts: &SelectOptions,
    geometry: &dyn DistrictGeometry,
) -> Option<Notice> {
    if !sub.active || !sub.follows(alert.hazard) {
        return None;
    }
    match alert.status {
        CapStatus::Actual => {}
        CapStatus::Test | CapStatus::Exercise if sub.receive_tests => {}
        _ => return None,
    }
    let previous = last.and_then(|l| l.level);
    let (districts, sites) = if alert.msg_type.withdraws() {
        (BTreeMap::new(), Vec::new())
    } else {
        matched(sub, alert, geometry)
    };
    let districts: Vec<(String, Level)> = districts
        .into_iter()
        .filter(|(_, l)| *l >= sub.min_level)
        .collect();
    let sites: Vec<MatchedSite> = sites.into_iter().filter(|s| s.2 >= sub.min_level).collect();
    let level = districts
        .iter()
        .map(|d| d.1)
        .chain(sites.iter().map(|s| s.2))
        .max();
    let kind = match (previous, level) {
        (None, None) => return None,
        (None, Some(_)) => NoticeKind::NewEvent,
        (Some(_), None) => NoticeKind::AllClear,
        (Some(p), Some(l)) if l > p => NoticeKind::Raised,
        (Some(p), Some(l)) if l < p => NoticeKind::Lowered,
        (Some(_), Some(l)) => {
            let due = last.is_some_and(|ls| alert.sent - ls.at >= opts.repeat_interval);
            if l >= opts.reminder_min_level && due {
                NoticeKind::Reminder
            } else {
                return None;
            }
        }
    };
    Some(Notice {
        kind,
        level,
        previous,
        districts: districts.into_iter().map(|d| d.0).collect(),
        sites: sites.into_iter().map(|s| (s.0, s.1)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::subscriber::Channel;
    use chrono::TimeZone;
    use geo::{LineString, Polygon};
    use std::collections::BTreeSet;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn district(pcode: &str, level: Level) -> AlertDistrict {
        AlertDistrict {
            pcode: pcode.into(),
            name: pcode.into(),
            province_pcode: Some(pcode[..4].into()),
            level,
            people_at_risk: None,
        }
    }

    fn alert(h: i64, msg_type: MsgType, districts: &[(&str, Level)]) -> PublishedAlert {
        PublishedAlert {
            after_cyclone: None,
            instruction: None,
            event_id: "swi-07-20222023".into(),
            version: 1,
            identifier: "aviso-swi-07-20222023-1".into(),
            msg_type,
            status: CapStatus::Actual,
            hazard: HazardKind::Cyclone,
            event_name: "FREDDY".into(),
            sent: t(h),
            next_update: None,
            districts: districts.iter().map(|(p, l)| district(p, *l)).collect(),
            sites: vec![],
        }
    }

    fn sub(areas: Vec<Area>, min_level: Level) -> Subscriber {
        Subscriber {
            id: "s1".into(),
            name: "n".into(),
            channels: vec![Channel::Sms("+258841234567".into())],
            areas,
            min_level,
            ..Subscriber::default()
        }
    }

    fn told(level: Option<Level>, h: i64) -> LastSent {
        LastSent { level, at: t(h) }
    }

    fn kind(s: &Subscriber, a: &PublishedAlert, last: Option<LastSent>) -> Option<NoticeKind> {
        select(s, a, last.as_ref(), &SelectOptions::default(), &NoGeometry).map(|n| n.kind)
    }

    #[test]
    fn a_province_subscriber_hears_of_a_new_event_in_any_of_its_districts() {
        let s = sub(vec![Area::Province("MZ09".into())], Level::Yellow);
        let a = alert(
            0,
            MsgType::Alert,
            &[("MZ0906", Level::Orange), ("MZ1103", Level::Red)],
        );
        let n = select(&s, &a, None, &SelectOptions::default(), &NoGeometry).unwrap();
        assert_eq!(n.kind, NoticeKind::NewEvent);
        // Their level is their own district's, not the event's red in Zambezia.
        assert_eq!(n.level, Some(Level::Orange));
        assert_eq!(n.districts, vec!["MZ0906".to_string()]);
    }

    #[test]
    fn escalation_then_de_escalation_then_cancel() {
        let s = sub(vec![Area::District("MZ0906".into())], Level::Yellow);
        let up = alert(6, MsgType::Update, &[("MZ0906", Level::Red)]);
        assert_eq!(
            kind(&s, &up, Some(told(Some(Level::Orange), 0))),
            Some(NoticeKind::Raised)
        );
        let down = alert(12, MsgType::Update, &[("MZ0906", Level::Yellow)]);
        assert_eq!(
            kind(&s, &down, Some(told(Some(Level::Red), 6))),
            Some(NoticeKind::Lowered)
        );
        let cancel = alert(18, MsgType::Cancel, &[]);
        assert_eq!(
            kind(&s, &cancel, Some(told(Some(Level::Yellow), 12))),
            Some(NoticeKind::AllClear)
        );
        // After the all-clear, a repeated Cancel says nothing.
        assert_eq!(kind(&s, &cancel, Some(told(None, 18))), None);
        // Never told anything: a Cancel says nothing either.
        assert_eq!(kind(&s, &cancel, None), None);
    }

    #[test]
    fn dropping_below_the_minimum_level_is_an_all_clear_for_that_subscriber() {
        let s = sub(vec![Area::District("MZ0906".into())], Level::Orange);
        let a = alert(6, MsgType::Update, &[("MZ0906", Level::Yellow)]);
        assert_eq!(
            kind(&s, &a, Some(told(Some(Level::Orange), 0))),
            Some(NoticeKind::AllClear)
        );
        // Below their minimum from the start: never bothered.
        assert_eq!(kind(&s, &a, None), None);
    }

    #[test]
    fn an_unchanged_level_is_repeated_only_when_high_and_after_the_interval() {
        let s = sub(vec![Area::District("MZ0906".into())], Level::Yellow);
        let red6 = alert(6, MsgType::Update, &[("MZ0906", Level::Red)]);
        assert_eq!(kind(&s, &red6, Some(told(Some(Level::Red), 0))), None);
        let red12 = alert(12, MsgType::Update, &[("MZ0906", Level::Red)]);
        assert_eq!(
            kind(&s, &red12, Some(told(Some(Level::Red), 0))),
            Some(NoticeKind::Reminder)
        );
        let yellow12 = alert(12, MsgType::Update, &[("MZ0906", Level::Yellow)]);
        assert_eq!(
            kind(&s, &yellow12, Some(told(Some(Level::Yellow), 0))),
            None
        );
    }

    #[test]
    fn changes_elsewhere_do_not_reach_this_subscriber() {
        let s = sub(vec![Area::District("MZ0906".into())], Level::Yellow);
        let a = alert(
            6,
            MsgType::Update,
            &[("MZ0906", Level::Orange), ("MZ0907", Level::Red)],
        );
        assert_eq!(kind(&s, &a, Some(told(Some(Level::Orange), 0))), None);
    }

    #[test]
    fn tests_and_exercises_go_only_to_subscribers_who_asked() {
        let mut s = sub(vec![Area::District("MZ0906".into())], Level::Yellow);
        let mut a = alert(0, MsgType::Alert, &[("MZ0906", Level::Red)]);
        for status in [CapStatus::Test, CapStatus::Exercise] {
            a.status = status;
            s.receive_tests = false;
            assert_eq!(kind(&s, &a, None), None, "{status:?}");
            s.receive_tests = true;
            assert_eq!(kind(&s, &a, None), Some(NoticeKind::NewEvent), "{status:?}");
        }
        for status in [CapStatus::Draft, CapStatus::System] {
            a.status = status;
            assert_eq!(
                kind(&s, &a, None),
                None,
                "{status:?} is never sent to people"
            );
        }
    }

    #[test]
    fn inactive_subscribers_and_other_hazards_get_nothing() {
        let mut s = sub(vec![Area::District("MZ0906".into())], Level::Green);
        let a = alert(0, MsgType::Alert, &[("MZ0906", Level::Red)]);
        s.active = false;
        assert_eq!(kind(&s, &a, None), None);
        s.active = true;
        s.hazards = vec![HazardKind::Flood];
        assert_eq!(kind(&s, &a, None), None);
        s.hazards = vec![];
        assert_eq!(kind(&s, &a, None), Some(NoticeKind::NewEvent));
    }

    #[test]
    fn a_site_subscriber_is_told_when_the_site_is_listed_at_risk() {
        let s = sub(
            vec![Area::Feature {
                layer: "sites".into(),
                id: "DTM-42".into(),
            }],
            Level::Yellow,
        );
        let mut a = alert(0, MsgType::Alert, &[("MZ0906", Level::Orange)]);
        assert_eq!(kind(&s, &a, None), None);
        a.sites.push(SiteAtRisk {
            layer: "sites".into(),
            id: "DTM-42".into(),
            name: "Mutua".into(),
            district_pcode: Some("MZ0906".into()),
            people: Some(1200.0),
        });
        let n = select(&s, &a, None, &SelectOptions::default(), &NoGeometry).unwrap();
        assert_eq!(
            (n.kind, n.level),
            (NoticeKind::NewEvent, Some(Level::Orange))
        );
        assert_eq!(n.sites, vec![("sites".to_string(), "DTM-42".to_string())]);
    }

    #[test]
    fn a_polygon_matches_the_districts_the_geometry_says_it_touches() {
        let square = Polygon::new(
            LineString::from(vec![
                (34.8, -19.9),
                (34.9, -19.9),
                (34.9, -19.8),
                (34.8, -19.8),
                (34.8, -19.9),
            ]),
            vec![],
        );
        let s = sub(vec![Area::Polygon(square)], Level::Yellow);
        let a = alert(
            0,
            MsgType::Alert,
            &[("MZ0906", Level::Red), ("MZ0907", Level::Red)],
        );
        let only_beira = |_: &Polygon<f64>| BTreeSet::from(["MZ0906".to_string()]);
        let n = select(&s, &a, None, &SelectOptions::default(), &only_beira).unwrap();
        assert_eq!(n.districts, vec!["MZ0906".to_string()]);
        assert_eq!(
            kind(&s, &a, None),
            None,
            "without geometry a polygon matches nothing"
        );
    }
}
