//! CAP 1.2 `urgency`, `severity`, `certainty` and `responseType` of a cyclone version,
//! from its message type, level and lead time. Split out of `cap.rs`.
//!
//! Pure: must not depend on I/O.

use super::*;

/// CAP `urgency`, `severity`, `certainty` and `responseType`s of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grading {
    pub urgency: &'static str,
    pub severity: &'static str,
    pub certainty: &'static str,
    pub response_types: Vec<&'static str>,
}

/// Maps the event level and the lead time to CAP's grading.
///
/// `lead_h` is the hours from the reference time to the first arrival of the lowest
/// forecast wind (gale, 34 kt) in any district on the ladder: once gales blow, nobody can
/// move or secure anything, so that is the time by which action must be done.
///
/// - urgency (CAP: when responsive action should be taken):
///   Immediate when gales arrive within 12 h (before the product after next: waiting for
///   another forecast would be too late); Expected within 48 h (action "soon", inside the
///   2026 AA action window); Future beyond, and for a green (cone-only) event whatever the
///   lead, since no wind is forecast there.
/// - severity (CAP: threat to life or property) follows the level, i.e. the wind:
///   red (≥ 64 kt, cyclone force, within 72 h) Extreme; orange (≥ 64 kt later or ≥ 48 kt,
///   severe tropical storm) Severe; yellow (≥ 34 kt, gales) Moderate; green Minor.
/// - certainty (CAP: Observed / Likely > ~50 % / Possible ≤ ~50 %): Observed when the
///   winds are already there (lead ≤ 0: the tau-0 radii are an analysis); Likely up to
///   72 h; Possible beyond 72 h, where RSMC track errors (~150 nm at 72 h) exceed the width
///   of most swaths, and for a green event (the district is only in the cone).
/// - responseType: red Evacuate + Prepare (the last three days are when people are moved
///   to accommodation centres); orange and yellow Prepare; green Monitor.
/// - A Cancel: urgency Past, severity Minor, certainty Likely (a forecast says the threat
///   has gone), responseType AllClear.
pub fn grading(msg_type: MsgType, event_level: Option<Level>, lead_h: Option<f64>) -> Grading {
    let level = match (msg_type, event_level) {
        (MsgType::Cancel | MsgType::Error, _) | (_, None) => {
            return Grading {
                urgency: "Past",
                severity: "Minor",
                certainty: "Likely",
                response_types: vec!["AllClear"],
            };
        }
        (_, Some(l)) => l,
    };
    let green = level == Level::Green;
    let urgency = match lead_h {
        _ if green => "Future",
        Some(h) if h <= 12.0 => "Immediate",
        Some(h) if h <= 48.0 => "Expected",
        _ => "Future",
    };
    let severity = match level {
        Level::Red => "Extreme",
        Level::Orange => "Severe",
        Level::Yellow => "Moderate",
        Level::Green => "Minor",
    };
    let certainty = match lead_h {
        _ if green => "Possible",
        Some(h) if h <= 0.0 => "Observed",
        Some(h) if h <= 72.0 => "Likely",
        _ => "Possible",
    };
    let response_types = match level {
        Level::Red => vec!["Evacuate", "Prepare"],
        Level::Orange | Level::Yellow => vec!["Prepare"],
        Level::Green => vec!["Monitor"],
    };
    Grading {
        urgency,
        severity,
        certainty,
        response_types,
    }
}
