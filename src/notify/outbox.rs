//! The outbox as the dispatcher needs it: the port that notify defines and the store
//! implements (issue 16 move 3, ports and adapters). The dispatcher claims due messages,
//! sends them through the channels and records each attempt; planning a version reads the
//! SMS opt-outs and what each subscriber was last told, and queues the messages.
//!
//! The rows and outcomes are notify's own types. Must not depend on the store, the
//! pipeline or the API: the store depends on this, not the reverse.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::levels::Level;
use crate::notify::dlr::DlrState;
use crate::notify::outbound::{Outbound, Planned};
use crate::notify::plan::Recipient;
use crate::notify::select::{LastSent, NoticeKind};

/// A failure of the outbox behind the port (the database's message, unchanged).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OutboxError(#[from] pub Box<dyn std::error::Error + Send + Sync>);

/// What the dispatcher and the version planner need of the outbox.
pub trait Outbox: Send + Sync {
    /// Active subscribers, each with the secret of their unsubscribe link.
    fn recipients(&self) -> Result<Vec<Recipient>, OutboxError>;
    /// Numbers that replied STOP.
    fn sms_optouts(&self) -> Result<BTreeSet<String>, OutboxError>;
    /// Per subscriber, the latest message planned for `event_id` at a version below
    /// `before_version` (failed ones excluded: they did not reach the subscriber).
    fn last_sent(
        &self,
        event_id: &str,
        before_version: u32,
    ) -> Result<BTreeMap<String, LastSent>, OutboxError>;
    /// Writes planned messages, due at `now`, in ONE transaction; a message whose
    /// idempotency key is already there is skipped. Returns how many were new.
    fn enqueue(&self, planned: &[Planned], now: DateTime<Utc>) -> Result<usize, OutboxError>;
    /// Claims up to `limit` due messages for `lease_s` seconds (see the store's
    /// `claim_due`). Each claim counts an attempt.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_s: f64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, OutboxError>;
    /// Records an attempt and moves the message on (delivered, pending again, failed).
    fn record_attempt(&self, attempt: &AttemptRecord) -> Result<(), OutboxError>;
    /// The soonest `next_attempt_at` of a pending message, or lease end of a sending one.
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, OutboxError>;
}

/// Where an outbox message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker until its lease ends.
    Sending,
    Delivered,
    /// Given up: a permanent refusal, or the last attempt failed.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Delivered => "delivered",
            OutboxState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        [
            OutboxState::Pending,
            OutboxState::Sending,
            OutboxState::Delivered,
            OutboxState::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// One outbox message.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub message: Outbound,
    pub event_id: String,
    pub alert_id: String,
    pub version: u32,
    pub notice: NoticeKind,
    /// The level told (`None` for an all-clear).
    pub level: Option<Level>,
    pub state: OutboxState,
    /// Attempts started so far (a claim counts one).
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub gateway_id: Option<String>,
    pub last_error: Option<String>,
    /// The latest delivery report the SMS gateway posted for it, if any.
    pub delivery: Option<DeliveryStatus>,
}

/// The latest delivery report of an SMS, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    pub state: DlrState,
    /// The gateway's status word ("Success", "undelivered").
    pub status: String,
    /// The gateway's reason for a failure (the recipient's number masked).
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum AttemptOutcome {
    Delivered {
        gateway_id: Option<String>,
        status: String,
    },
    /// Failed, tried again at `next_attempt_at`.
    Retry {
        status_code: Option<u16>,
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        status_code: Option<u16>,
        error: String,
    },
}

/// One recorded attempt with the far end's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub outbox_id: i64,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
}
