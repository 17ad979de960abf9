//! The deadline of a proposal (issue 13): an orange or red version waiting for a person
//! longer than `[approval.reminders] after_min` alerts the on-call approvers again
//! (`[[approval.on_call]]`), and again every `repeat_min` until someone decides it. It
//! never publishes itself: silence is not a decision. Versions that should go out
//! without a person are named in advance by `[[approval.auto_publish]]` rules, by status
//! and level, never by how long nobody looked.
//!
//! Rounds are fixed from when the proposal was made: round 1 at `after_min`, round k at
//! `after_min + (k-1) × repeat_min`. Every replica computes the same round at the same
//! time, so a reminder's messages carry a key made of the proposal, the round, the person
//! and the address: the outbox keeps one row per key, however many replicas check.
//!
//! Pure: the settings and the selection (the words: `notify::reminder`); the service
//! queues and audits them. Must not depend on I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::levels::Level;

/// `[approval.reminders]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReminderConfig {
    /// The lowest level reminded: a proposal whose highest district level is below it
    /// waits quietly. A Cancel (no level) is never reminded.
    pub min_level: Level,
    /// Minutes a proposal waits before the first reminder (fractions allowed).
    pub after_min: f64,
    /// Minutes between two reminders of the same proposal.
    pub repeat_min: f64,
}

impl Default for ReminderConfig {
    fn default() -> Self {
        ReminderConfig {
            min_level: Level::Orange,
            after_min: 20.0,
            repeat_min: 30.0,
        }
    }
}

/// `[[approval.on_call]]`: an approver the reminders reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnCall {
    /// Named in the outbox ("on-call:NAME") and the audit trail; best the name of the
    /// person's approver token.
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// E.164, e.g. "+258841234567".
    #[serde(default)]
    pub phone: Option<String>,
}

/// The longest deadline or repeat accepted: a day.
const MAX_MIN: f64 = 1440.0;
/// The shortest: 0.01 min (0.6 s), for tests; a site sets minutes.
const MIN_MIN: f64 = 0.01;

impl ReminderConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("after_min", self.after_min),
            ("repeat_min", self.repeat_min),
        ] {
            if !(MIN_MIN..=MAX_MIN).contains(&v) {
                return Err(format!(
                    "approval.reminders.{key} = {v}: expected {MIN_MIN} to {MAX_MIN} minutes"
                ));
            }
        }
        Ok(())
    }

    /// The reminder round a proposal made at `created` is in at `now` (1 from
    /// `after_min`), `None` before the deadline.
    pub fn round(&self, created: DateTime<Utc>, now: DateTime<Utc>) -> Option<u32> {
        let waited_min = (now - created).num_milliseconds() as f64 / 60_000.0;
        if waited_min < self.after_min {
            return None;
        }
        let k = ((waited_min - self.after_min) / self.repeat_min).floor();
        Some((k.min(f64::from(u32::MAX - 1)) as u32) + 1)
    }

    /// How often the service looks for due proposals (seconds): a quarter of the
    /// shorter interval, between 1 s and 60 s, so a reminder is at most that late.
    pub fn check_every_s(&self) -> f64 {
        (self.after_min.min(self.repeat_min) * 60.0 / 4.0).clamp(1.0, 60.0)
    }

    /// The proposals due a reminder at `now`, with their round, in the order given.
    pub fn due(&self, waiting: &[Waiting], now: DateTime<Utc>) -> Vec<(i64, u32)> {
        waiting
            .iter()
            .filter(|w| w.level.is_some_and(|l| l >= self.min_level))
            .filter_map(|w| self.round(w.created_at, now).map(|r| (w.id, r)))
            .collect()
    }
}

/// Checks the on-call list: names unique, 1 to 64 of A-Z a-z 0-9 _ . -, at least one
/// address each (the addresses themselves: `notify::reminder::normalise_on_call`).
pub fn validate_on_call(list: &[OnCall]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in list.iter().enumerate() {
        let at = format!("approval.on_call[{i}]");
        let ok = (1..=64).contains(&p.name.len())
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(format!(
                "{at}.name = {:?}: expected 1 to 64 characters of A-Z a-z 0-9 _ . -",
                p.name
            ));
        }
        if !seen.insert(p.name.clone()) {
            return Err(format!("{at}.name = {:?}: named twice", p.name));
        }
        if p.email.is_none() && p.phone.is_none() {
            return Err(format!(
                "{at} ({}): expected an email or a phone to remind them on",
                p.name
            ));
        }
    }
    Ok(())
}

/// A proposal waiting for a person, as the selection sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waiting {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// Its highest district level (`None`: a Cancel).
    pub level: Option<Level>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(min: f64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 3, 9, 3, 0, 0).unwrap()
            + chrono::Duration::milliseconds((min * 60_000.0) as i64)
    }

    fn waiting(id: i64, level: Option<Level>) -> Waiting {
        Waiting {
            id,
            created_at: at(0.0),
            level,
        }
    }

    #[test]
    fn rounds_start_at_the_deadline_and_repeat() {
        let c = ReminderConfig::default();
        assert_eq!(c.round(at(0.0), at(19.99)), None);
        assert_eq!(c.round(at(0.0), at(20.0)), Some(1));
        assert_eq!(c.round(at(0.0), at(49.9)), Some(1));
        assert_eq!(c.round(at(0.0), at(50.0)), Some(2));
        assert_eq!(c.round(at(0.0), at(20.0 + 30.0 * 7.5)), Some(8));
        assert_eq!(c.check_every_s(), 60.0);
        let fast = ReminderConfig {
            after_min: 0.05,
            repeat_min: 0.1,
            ..c
        };
        assert_eq!(fast.check_every_s(), 1.0);
    }

    #[test]
    fn only_orange_and_red_proposals_past_the_deadline_are_due() {
        let c = ReminderConfig::default();
        let w = [
            waiting(1, Some(Level::Red)),
            waiting(2, Some(Level::Orange)),
            waiting(3, Some(Level::Yellow)),
            waiting(4, Some(Level::Green)),
            waiting(5, None),
            Waiting {
                created_at: at(15.0),
                ..waiting(6, Some(Level::Red))
            },
        ];
        assert_eq!(c.due(&w, at(10.0)), vec![]);
        assert_eq!(c.due(&w, at(21.0)), vec![(1, 1), (2, 1)]);
        assert_eq!(c.due(&w, at(51.0)), vec![(1, 2), (2, 2), (6, 1)]);
        let yellow = ReminderConfig {
            min_level: Level::Yellow,
            ..c
        };
        assert_eq!(yellow.due(&w, at(21.0)), vec![(1, 1), (2, 1), (3, 1)]);
    }

    #[test]
    fn bad_keys_are_refused_naming_them() {
        let c = ReminderConfig {
            after_min: 0.0,
            ..ReminderConfig::default()
        };
        let e = c.validate().unwrap_err();
        assert!(e.contains("approval.reminders.after_min = 0"), "{e}");
        let one = OnCall {
            name: "duty-officer".into(),
            email: None,
            phone: Some("+258841234567".into()),
        };
        let mut list = vec![one.clone(), one];
        let e = validate_on_call(&list).unwrap_err();
        assert!(
            e.contains("approval.on_call[1].name") && e.contains("twice"),
            "{e}"
        );
        list[1] = OnCall {
            name: "ops".into(),
            email: None,
            phone: None,
        };
        let e = validate_on_call(&list).unwrap_err();
        assert!(e.contains("approval.on_call[1]") && e.contains("email or a phone"));
        list[1].name = "plantão".into();
        let e = validate_on_call(&list).unwrap_err();
        assert!(e.contains("approval.on_call[1].name"), "{e}");
    }
}
