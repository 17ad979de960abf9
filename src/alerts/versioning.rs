//! Alert versions per event: decides whether a new assessment is a CAP Alert, Update or
//! Cancel against the previously published version, what changed district by district,
//! and the stable identifiers (event id, version number, CAP identifier, CAP references).
//!
//! Pure: takes the previous version's summary as a value and returns a value; storing and
//! publishing versions is the service's business. Must not depend on I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::assess::Assessment;
use crate::alerts::levels::Level;
use crate::domain::StormId;

#[derive(Debug, Error, PartialEq)]
pub enum VersioningError {
    #[error(
        "sender {sender:?} is not a valid CAP 1.2 sender: expected no spaces, commas, '<' or \
         '&' (CAP 1.2 §3.2.1; commas would break `references`)"
    )]
    BadSender { sender: String },
    #[error(
        "previous version {identifier} belongs to event {found:?}, expected event {expected:?} \
         (storm {storm}): pass the previous version of the same storm"
    )]
    OtherEvent {
        identifier: String,
        expected: String,
        found: String,
        storm: String,
    },
    #[error(
        "new version of event {event_id} is sent at {sent}, before the previous version \
         {identifier} sent at {previous}: versions must be sent in order"
    )]
    SentBeforePrevious {
        event_id: String,
        identifier: String,
        sent: String,
        previous: String,
    },
}

/// CAP 1.2 `status` (OASIS CAP 1.2 §3.2.1). Chosen per call, so the service can run an
/// exercise or a test without any code change (a dry-run mode the current pipelines lack,
/// ../shared/DOMAIN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CapStatus {
    Actual,
    Exercise,
    System,
    Test,
    Draft,
}

impl CapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CapStatus::Actual => "Actual",
            CapStatus::Exercise => "Exercise",
            CapStatus::System => "System",
            CapStatus::Test => "Test",
            CapStatus::Draft => "Draft",
        }
    }

    /// The label a non-actual message carries in its headline, Portuguese and English, so
    /// nobody acts on a test; `None` for Actual and System (System messages are for the
    /// alerting network, not shown to the public).
    pub fn label(self) -> Option<(&'static str, &'static str)> {
        match self {
            CapStatus::Test => Some(("TESTE", "TEST")),
            CapStatus::Exercise => Some(("EXERCÍCIO", "EXERCISE")),
            CapStatus::Draft => Some(("RASCUNHO", "DRAFT")),
            CapStatus::Actual | CapStatus::System => None,
        }
    }
}

/// CAP 1.2 `msgType` values aviso emits (Ack is for replies, never sent). Error is only
/// ever made by hand (issue 13): an approver withdraws a published version sent in error,
/// with the reason as its `info` (CAP 1.2 §3.2.1: "Error - Rejects the message(s)
/// identified in `references`; explanation SHOULD appear in `note`").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
    Error,
}

impl MsgType {
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
            MsgType::Error => "Error",
        }
    }

    /// Whether a version of this type ends its event (a Cancel calls it off, an Error
    /// withdraws the version it references): no district stays on the ladder, the event
    /// is inactive, and the next forecast that puts a district on the ladder is a new
    /// Alert (numbering goes on).
    pub fn withdraws(self) -> bool {
        matches!(self, MsgType::Cancel | MsgType::Error)
    }
}

/// One district as a version published it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedDistrict {
    pub name: String,
    pub province_pcode: Option<String>,
    pub level: Level,
}

/// What the next version needs to know about the previous one (what a store keeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedSummary {
    pub event_id: String,
    pub version: u32,
    pub identifier: String,
    pub sender: String,
    pub sent: DateTime<Utc>,
    pub msg_type: MsgType,
    /// Districts on the ladder in that version, by ADM2 P-code.
    pub districts: BTreeMap<String, PublishedDistrict>,
}

/// One district whose level changed; `None` means "off the ladder".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelChange {
    pub pcode: String,
    pub name: String,
    pub old: Option<Level>,
    pub new: Option<Level>,
}

/// What changed since the previous version, each list in P-code order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// On the ladder now, not before.
    pub added: Vec<LevelChange>,
    pub raised: Vec<LevelChange>,
    pub lowered: Vec<LevelChange>,
    /// On the ladder before, not now.
    pub removed: Vec<LevelChange>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.raised.is_empty()
            && self.lowered.is_empty()
            && self.removed.is_empty()
    }

    /// Compares two level maps (P-code -> district).
    pub fn between(
        old: &BTreeMap<String, PublishedDistrict>,
        new: &BTreeMap<String, PublishedDistrict>,
    ) -> Changes {
        let mut c = Changes::default();
        for (pcode, n) in new {
            let change = |old: Option<Level>| LevelChange {
                pcode: pcode.clone(),
                name: n.name.clone(),
                old,
                new: Some(n.level),
            };
            match old.get(pcode) {
                None => c.added.push(change(None)),
                Some(o) if n.level > o.level => c.raised.push(change(Some(o.level))),
                Some(o) if n.level < o.level => c.lowered.push(change(Some(o.level))),
                Some(_) => {}
            }
        }
        for (pcode, o) in old {
            if !new.contains_key(pcode) {
                c.removed.push(LevelChange {
                    pcode: pcode.clone(),
                    name: o.name.clone(),
                    old: Some(o.level),
                    new: None,
                });
            }
        }
        c
    }
}

/// One published version of an event's alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertVersion {
    pub event_id: String,
    /// 1 for the first version of the event; +1 per version after.
    pub version: u32,
    /// CAP identifier, `aviso-<event_id>-<version>`.
    pub identifier: String,
    pub sender: String,
    pub msg_type: MsgType,
    pub status: CapStatus,
    /// Whole seconds (CAP 1.2 dateTime has no fractional seconds here, and `references`
    /// must repeat the time exactly).
    pub sent: DateTime<Utc>,
    /// CAP 1.2 `references`: "sender,identifier,sent" of the previous version.
    pub references: Option<String>,
    pub changes: Changes,
    /// Districts on the ladder in this version.
    pub districts: BTreeMap<String, PublishedDistrict>,
}

impl AlertVersion {
    /// What the store keeps so that the next version can be decided.
    pub fn summary(&self) -> PublishedSummary {
        PublishedSummary {
            event_id: self.event_id.clone(),
            version: self.version,
            identifier: self.identifier.clone(),
            sender: self.sender.clone(),
            sent: self.sent,
            msg_type: self.msg_type,
            districts: self.districts.clone(),
        }
    }
}

/// Keeps what CAP 1.2 allows in an identifier (§3.2.1: no spaces, commas or the restricted
/// characters `<` and `&`) and what is safe in a file name or URL: ASCII letters, digits,
/// `-`, `_` and `.`; anything else becomes `-`, runs of `-` collapse, lower case.
pub fn sanitise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        let c = if ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' {
            ch.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

/// The event id of a storm: its source id, sanitised ("SWI$07/20222023" ->
/// "swi-07-20222023", IBTrACS SID "2023036S12118" -> "2023036s12118"). The id, not the
/// name: a storm is tracked before it is named, and names repeat across seasons.
pub fn event_id(storm: &StormId) -> String {
    sanitise(&storm.id)
}

/// The CAP identifier of a version: `aviso-<event_id>-<version>`.
pub fn cap_identifier(event_id: &str, version: u32) -> String {
    format!("aviso-{}-{version}", sanitise(event_id))
}

/// CAP 1.2 dateTime: RFC 3339 with a numeric offset ("Z" is not allowed) and no
/// fractional seconds.
pub fn cap_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// CAP 1.2 `references` entry for a published version: "sender,identifier,sent".
pub fn reference_to(prev: &PublishedSummary) -> String {
    format!(
        "{},{},{}",
        prev.sender,
        prev.identifier,
        cap_datetime(prev.sent)
    )
}

/// The districts an assessment puts on the ladder, with their names.
pub fn districts_of(a: &Assessment) -> BTreeMap<String, PublishedDistrict> {
    a.levels
        .iter()
        .map(|(pcode, l)| {
            let d = a.exposure.districts.iter().find(|d| &d.pcode == pcode);
            (
                pcode.clone(),
                PublishedDistrict {
                    name: d.map(|d| d.name.clone()).unwrap_or_else(|| pcode.clone()),
                    province_pcode: d.and_then(|d| d.province_pcode.clone()),
                    level: l.level,
                },
            )
        })
        .collect()
}

/// The next version of the event `a` belongs to, or `None` when there is nothing to
/// publish.
///
/// - Alert: the first version, when a district is on the ladder (green included: a
///   district in the cone is worth watching) and there is no previous version, or the
///   previous one was a Cancel (the storm came back: a new alert, numbering goes on so
///   identifiers stay unique).
/// - Update: a later version while a district is still on the ladder. Issued even when
///   nothing changed, because the forecast times and figures did.
/// - Cancel: a previous Alert or Update exists and no district is on the ladder any more
///   (the storm dissipated, left, or its forecast dropped below every threshold).
/// - `None`: nothing on the ladder and nothing to cancel.
pub fn next_version(
    prev: Option<&PublishedSummary>,
    a: &Assessment,
    sender: &str,
    sent: DateTime<Utc>,
    status: CapStatus,
) -> Result<Option<AlertVersion>, VersioningError> {
    let event = event_id(&a.forecast.storm);
    if let Some(p) = prev
        && p.event_id != event
    {
        return Err(VersioningError::OtherEvent {
            identifier: p.identifier.clone(),
            expected: event,
            found: p.event_id.clone(),
            storm: a.forecast.storm.name.clone(),
        });
    }
    decide(prev, event, districts_of(a), sender, sent, status)
}

/// [`next_version`] on the level map alone (what the decision really depends on).
pub fn decide(
    prev: Option<&PublishedSummary>,
    event_id: String,
    districts: BTreeMap<String, PublishedDistrict>,
    sender: &str,
    sent: DateTime<Utc>,
    status: CapStatus,
) -> Result<Option<AlertVersion>, VersioningError> {
    if sender.is_empty()
        || sender
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&'))
    {
        return Err(VersioningError::BadSender {
            sender: sender.to_string(),
        });
    }
    // Whole seconds: the document and later `references` must show the same instant.
    let sent = sent.with_nanosecond(0).unwrap_or(sent);
    if let Some(p) = prev
        && sent < p.sent
    {
        return Err(VersioningError::SentBeforePrevious {
            event_id,
            identifier: p.identifier.clone(),
            sent: cap_datetime(sent),
            previous: cap_datetime(p.sent),
        });
    }
    let live_prev = prev.filter(|p| !p.msg_type.withdraws());
    let msg_type = match (live_prev, districts.is_empty()) {
        (None, true) => return Ok(None),
        (None, false) => MsgType::Alert,
        (Some(_), false) => MsgType::Update,
        (Some(_), true) => MsgType::Cancel,
    };
    let version = prev.map_or(1, |p| p.version + 1);
    let empty = BTreeMap::new();
    let changes = Changes::between(live_prev.map_or(&empty, |p| &p.districts), &districts);
    Ok(Some(AlertVersion {
        identifier: cap_identifier(&event_id, version),
        event_id,
        version,
        sender: sender.to_string(),
        msg_type,
        status,
        sent,
        references: live_prev.map(reference_to),
        changes,
        districts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(level: Level) -> PublishedDistrict {
        PublishedDistrict {
            name: "X".into(),
            province_pcode: None,
            level,
        }
    }

    fn map(entries: &[(&str, Level)]) -> BTreeMap<String, PublishedDistrict> {
        entries
            .iter()
            .map(|(p, l)| (p.to_string(), d(*l)))
            .collect()
    }

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 3, 10, h, 0, 0).unwrap()
    }

    #[test]
    fn identifiers_keep_only_cap_safe_characters() {
        assert_eq!(sanitise("SWI$07/20222023"), "swi-07-20222023");
        assert_eq!(sanitise(" a, b<&c "), "a-b-c");
        assert_eq!(cap_identifier("2023036S12118", 3), "aviso-2023036s12118-3");
        assert_eq!(sanitise("&&"), "unknown");
    }

    #[test]
    fn a_storm_is_alerted_updated_then_cancelled_with_references() {
        let s = "ingd@example.org";
        let v1 = decide(
            None,
            "e".into(),
            map(&[("MZ1", Level::Yellow)]),
            s,
            t(0),
            CapStatus::Test,
        )
        .unwrap()
        .unwrap();
        assert_eq!((v1.msg_type, v1.version), (MsgType::Alert, 1));
        assert_eq!(v1.references, None);
        assert_eq!(v1.changes.added.len(), 1);

        let v2 = decide(
            Some(&v1.summary()),
            "e".into(),
            map(&[("MZ1", Level::Red), ("MZ2", Level::Green)]),
            s,
            t(6),
            CapStatus::Test,
        )
        .unwrap()
        .unwrap();
        assert_eq!((v2.msg_type, v2.version), (MsgType::Update, 2));
        assert_eq!(
            v2.references.as_deref(),
            Some("ingd@example.org,aviso-e-1,2023-03-10T00:00:00+00:00")
        );
        assert_eq!(v2.changes.raised[0].old, Some(Level::Yellow));
        assert_eq!(v2.changes.raised[0].new, Some(Level::Red));
        assert_eq!(v2.changes.added[0].pcode, "MZ2");

        let v3 = decide(
            Some(&v2.summary()),
            "e".into(),
            BTreeMap::new(),
            s,
            t(12),
            CapStatus::Test,
        )
        .unwrap()
        .unwrap();
        assert_eq!((v3.msg_type, v3.version), (MsgType::Cancel, 3));
        assert_eq!(v3.changes.removed.len(), 2);
        assert!(v3.references.as_deref().unwrap().contains("aviso-e-2"));

        // Nothing at risk after a Cancel: nothing more to say.
        let none = decide(
            Some(&v3.summary()),
            "e".into(),
            BTreeMap::new(),
            s,
            t(18),
            CapStatus::Test,
        )
        .unwrap();
        assert_eq!(none, None);
        // The storm comes back: a fresh Alert, numbering goes on.
        let v4 = decide(
            Some(&v3.summary()),
            "e".into(),
            map(&[("MZ1", Level::Orange)]),
            s,
            t(18),
            CapStatus::Test,
        )
        .unwrap()
        .unwrap();
        assert_eq!((v4.msg_type, v4.version), (MsgType::Alert, 4));
        assert_eq!(v4.references, None);

        // An Error (made by hand, issue 13) ends the event as a Cancel does: the next
        // forecast at risk is a new Alert that references nothing.
        let mut err = v4.summary();
        err.version = 5;
        err.msg_type = MsgType::Error;
        err.districts.clear();
        assert!(MsgType::Error.withdraws() && !MsgType::Update.withdraws());
        let v6 = decide(
            Some(&err),
            "e".into(),
            map(&[("MZ1", Level::Yellow)]),
            s,
            t(19),
            CapStatus::Test,
        )
        .unwrap()
        .unwrap();
        assert_eq!((v6.msg_type, v6.version), (MsgType::Alert, 6));
        assert_eq!(v6.references, None);
    }

    #[test]
    fn nothing_at_risk_and_nothing_published_yields_no_version() {
        let v = decide(
            None,
            "e".into(),
            BTreeMap::new(),
            "s",
            t(0),
            CapStatus::Actual,
        );
        assert_eq!(v, Ok(None));
    }

    #[test]
    fn a_version_sent_before_its_predecessor_is_refused() {
        let v1 = decide(
            None,
            "e".into(),
            map(&[("MZ1", Level::Red)]),
            "s",
            t(6),
            CapStatus::Actual,
        )
        .unwrap()
        .unwrap();
        let e = decide(
            Some(&v1.summary()),
            "e".into(),
            map(&[("MZ1", Level::Red)]),
            "s",
            t(0),
            CapStatus::Actual,
        )
        .unwrap_err();
        assert!(e.to_string().contains("aviso-e-1"), "{e}");
    }

    #[test]
    fn a_sender_with_a_comma_or_space_is_refused() {
        for bad in ["cenoe, ingd", "ingd cenoe", "a<b", ""] {
            let e = decide(
                None,
                "e".into(),
                map(&[("MZ1", Level::Red)]),
                bad,
                t(0),
                CapStatus::Actual,
            );
            assert!(
                matches!(e, Err(VersioningError::BadSender { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lowered_levels_are_reported_with_old_and_new() {
        let c = Changes::between(
            &map(&[("A", Level::Red), ("B", Level::Yellow)]),
            &map(&[("A", Level::Orange), ("B", Level::Yellow)]),
        );
        assert_eq!(c.lowered.len(), 1);
        assert_eq!(c.lowered[0].old, Some(Level::Red));
        assert_eq!(c.lowered[0].new, Some(Level::Orange));
        assert!(c.added.is_empty() && c.raised.is_empty() && c.removed.is_empty());
    }
}
