//! Who decides that a version goes out (issue 13): the approval policy of `[approval]`.
//! Every version an automatic run produces is a *proposal*; it reaches the public, the
//! subscribers, the OGC API and the map only once published, either by a person with the
//! approver role or by an auto-publish rule that names it. The policy is pure: it says
//! which rule (if any) publishes a version, and whether a person may decide one; storing
//! proposals and the audit trail is the store's business.
//!
//! Why a person by default: a forecast that arrives at 03:00 must not become a public CAP
//! alert and thousands of SMS with nobody looking (Sahana SAMBRO separates ALERT_EDITOR
//! from ALERT_APPROVER; WMO's CAP Composer has draft -> review -> publish). Exercise and
//! Test versions may publish themselves, so drills and the demo run unattended.
//!
//! Must not depend on I/O.

use serde::{Deserialize, Serialize};

use crate::alerts::levels::Level;
use crate::alerts::versioning::{CapStatus, MsgType};

/// Where a proposal stands. Approval and publication are one store transaction, so no
/// version is ever "approved but not published".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    /// Waiting for a person.
    Proposed,
    /// Approved and published (the version is in the public store with its messages).
    Published,
    /// Refused by a person, with a reason; nothing went out.
    Rejected,
    /// A newer proposal of the same event arrived before anyone decided this one.
    Superseded,
}

impl ProposalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalState::Proposed => "proposed",
            ProposalState::Published => "published",
            ProposalState::Rejected => "rejected",
            ProposalState::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<ProposalState> {
        [
            ProposalState::Proposed,
            ProposalState::Published,
            ProposalState::Rejected,
            ProposalState::Superseded,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// The hazard a rule may name (`hazard = ["tropical_cyclone"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleHazard {
    TropicalCyclone,
    Flood,
}

/// `[[approval.auto_publish]]`: versions that publish without a person. Every key that is
/// given must match; a key left out matches anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoPublishRule {
    /// Named in the audit trail as the decider ("rule:exercises-and-tests").
    pub name: String,
    /// CAP statuses the rule covers. Required: a rule must say whether it publishes real
    /// (Actual) alerts.
    pub status: Vec<CapStatus>,
    #[serde(default)]
    pub hazard: Option<Vec<RuleHazard>>,
    /// The version's highest district level must be at most this. A Cancel has no level
    /// and never matches a rule that names one: an all-clear of a real alert is a decision.
    #[serde(default)]
    pub max_level: Option<Level>,
    /// CAP msgTypes the rule covers (default: all).
    #[serde(default)]
    pub msg_type: Option<Vec<MsgType>>,
}

/// `[approval]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// An approver may not approve a proposal they edited themselves.
    pub four_eyes: bool,
    /// Versions that need nobody. Default: Exercise and Test only.
    pub auto_publish: Vec<AutoPublishRule>,
    /// The deadline: when a waiting proposal alerts the on-call approvers again.
    pub reminders: crate::alerts::reminder::ReminderConfig,
    /// Who the reminders reach (none by default: no reminders).
    pub on_call: Vec<crate::alerts::reminder::OnCall>,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            four_eyes: true,
            auto_publish: vec![AutoPublishRule {
                name: "exercises-and-tests".into(),
                status: vec![CapStatus::Exercise, CapStatus::Test],
                hazard: None,
                max_level: None,
                msg_type: None,
            }],
            reminders: Default::default(),
            on_call: Vec::new(),
        }
    }
}

/// The facts of a version a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VersionFacts {
    pub status: CapStatus,
    pub hazard: RuleHazard,
    pub msg_type: MsgType,
    /// Highest district level (`None` for a Cancel).
    pub max_level: Option<Level>,
}

impl AutoPublishRule {
    pub fn matches(&self, v: &VersionFacts) -> bool {
        self.status.contains(&v.status)
            && self.hazard.as_ref().is_none_or(|h| h.contains(&v.hazard))
            && self
                .msg_type
                .as_ref()
                .is_none_or(|m| m.contains(&v.msg_type))
            && self
                .max_level
                .is_none_or(|max| v.max_level.is_some_and(|l| l <= max))
    }
}

impl ApprovalConfig {
    /// The first rule that publishes `v` without a person, if any.
    pub fn auto_rule(&self, v: &VersionFacts) -> Option<&AutoPublishRule> {
        self.auto_publish.iter().find(|r| r.matches(v))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.reminders.validate()?;
        crate::alerts::reminder::validate_on_call(&self.on_call)?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, r) in self.auto_publish.iter().enumerate() {
            let at = format!("approval.auto_publish[{i}]");
            if r.name.trim().is_empty() {
                return Err(format!("{at}.name: expected a name, found \"\""));
            }
            if !seen.insert(r.name.as_str()) {
                return Err(format!("{at}.name = {:?}: named twice", r.name));
            }
            if r.status.is_empty() {
                return Err(format!(
                    "{at}.status = []: expected the CAP statuses the rule publishes, e.g. [\"Exercise\"]"
                ));
            }
        }
        Ok(())
    }
}

/// An editor's change to a proposal before review (issue 13): districts raised or
/// lowered by hand, each with a reason, and a free-text instruction in both languages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalEdit {
    pub districts: Vec<DistrictEdit>,
    pub instruction_pt: Option<String>,
    pub instruction_en: Option<String>,
}

/// One district's manual level: until `expires_at` (or until an approver lifts it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictEdit {
    pub pcode: String,
    pub level: Level,
    pub reason: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a person may not decide a proposal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no proposal {id}")]
    NotFound { id: i64 },
    #[error(
        "proposal {id} is {state}, not proposed: only a waiting proposal can be decided{hint}",
        state = state.as_str()
    )]
    NotOpen {
        id: i64,
        state: ProposalState,
        /// For a superseded one: which proposal replaced it.
        hint: String,
    },
    #[error(
        "proposal {id} was made against version {base}, but {current} has been published \
         since: review the newer proposal instead"
    )]
    Stale {
        id: i64,
        base: String,
        current: String,
    },
    #[error(
        "four eyes: {who} edited proposal {id} and may not approve it too; another approver must"
    )]
    FourEyes { id: i64, who: String },
    #[error("{field}: {message}")]
    BadEdit { field: String, message: String },
    #[error("there is no override {id}")]
    NoOverride { id: i64 },
    #[error("override {id} was lifted already by {by}")]
    Lifted { id: i64, by: String },
    #[error("a reason is required to {action} proposal {id}")]
    NoReason { id: i64, action: &'static str },
    #[error("there is no event {event}")]
    NoEvent { event: String },
    #[error(
        "event {event} has no published version: only a published Alert or Update can be \
         cancelled or withdrawn as an error (reject its proposal instead)"
    )]
    NothingPublished { event: String },
    #[error(
        "event {event} is over already: its latest published version {id} has msgType {msg_type}"
    )]
    AlreadyWithdrawn {
        event: String,
        id: String,
        msg_type: &'static str,
    },
    #[error("{field}: a reason is required to {action}")]
    MissingReason {
        field: &'static str,
        action: &'static str,
    },
    #[error(
        "the notifications of event {event} are held already (hold {id}, by {by}): lift it first"
    )]
    HoldActive { event: String, id: i64, by: String },
    #[error("the notifications of event {event} are not held: there is no hold to lift")]
    NotHeld { event: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: CapStatus, msg: MsgType, level: Option<Level>) -> VersionFacts {
        VersionFacts {
            status,
            hazard: RuleHazard::TropicalCyclone,
            msg_type: msg,
            max_level: level,
        }
    }

    #[test]
    fn by_default_exercises_publish_themselves_and_actual_alerts_wait_for_a_person() {
        let c = ApprovalConfig::default();
        let ex = facts(CapStatus::Exercise, MsgType::Alert, Some(Level::Red));
        assert_eq!(
            c.auto_rule(&ex).map(|r| r.name.as_str()),
            Some("exercises-and-tests")
        );
        let actual = facts(CapStatus::Actual, MsgType::Alert, Some(Level::Green));
        assert!(c.auto_rule(&actual).is_none());
    }

    #[test]
    fn a_level_cap_never_lets_an_all_clear_through() {
        let rule = AutoPublishRule {
            name: "low".into(),
            status: vec![CapStatus::Actual],
            hazard: None,
            max_level: Some(Level::Yellow),
            msg_type: None,
        };
        assert!(rule.matches(&facts(
            CapStatus::Actual,
            MsgType::Update,
            Some(Level::Green)
        )));
        assert!(rule.matches(&facts(
            CapStatus::Actual,
            MsgType::Update,
            Some(Level::Yellow)
        )));
        assert!(!rule.matches(&facts(CapStatus::Actual, MsgType::Update, Some(Level::Red))));
        assert!(!rule.matches(&facts(CapStatus::Actual, MsgType::Cancel, None)));
    }

    #[test]
    fn a_rule_without_statuses_or_name_is_refused_naming_it() {
        let mut c = ApprovalConfig::default();
        c.auto_publish[0].status.clear();
        let e = c.validate().unwrap_err();
        assert!(e.contains("approval.auto_publish[0].status"), "{e}");
    }
}
