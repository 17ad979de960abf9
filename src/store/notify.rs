//! Persistence of subscribers and the notification outbox, behind two traits by job:
//! [`SubscriberStore`] (people, their opt-outs, imports, erasure) and [`OutboxStore`]
//! (messages, attempts, delivery reports); [`NotifyStore`] is both on one object. Kept
//! apart from [`super::Store`] so they grow independently; the SQLite store implements
//! all of them. The dispatcher's narrower port [`Outbox`] is notify's own: every store
//! with both halves is one (below).
//!
//! The outbox is what makes delivery exactly-once as far as a gateway's idempotency
//! allows: every message is written (with its unique idempotency key) BEFORE any send; a
//! worker claims due messages under a lease, sends, and records the attempt; a claim whose
//! worker died lapses and the message is sent again with the same key.
//!
//! An adapter at the edge: must not depend on the pipeline, the API or the channels.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AssessmentRecord, NewAlert, StoreError};
use crate::notify::dlr::{DeliveryReport, DlrState};
use crate::notify::outbound::Planned;
pub use crate::notify::outbox::{
    AttemptOutcome, AttemptRecord, DeliveryStatus, OutboxRow, OutboxState,
};
use crate::notify::outbox::{Outbox, OutboxError};
use crate::notify::plan::Recipient;
use crate::notify::select::LastSent;
use crate::notify::subscriber::{ChannelKind, Subscriber};

/// A stored subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubscriber {
    pub subscriber: Subscriber,
    /// Secret of the `/unsubscribe?token=` link (random, made by the store).
    pub unsubscribe_token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the subscriber opted out themselves (the e-mail link, or an SMS STOP that left
    /// them no channel). Such a subscriber stays inactive through updates and imports
    /// until an admin reactivates them on their renewed consent.
    pub opted_out_at: Option<DateTime<Utc>>,
}

/// What an erased subscriber's address, message bodies and gateway answers become in the
/// outbox: the rows stay (counts, times, states: the audit trail), the person does not.
pub const ERASED: &str = "erased";

/// Subscribers by state, for `/metrics` (counts only: no personal data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriberCounts {
    pub active: i64,
    pub inactive: i64,
    /// Phone numbers that replied STOP.
    pub sms_opted_out: i64,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
}

/// What recording a delivery report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlrRecorded {
    pub outbox_id: i64,
    pub idempotency_key: String,
    /// The message's delivery state after this report.
    pub state: DlrState,
    /// `false` when an in-transit report came after a final one and changed nothing.
    pub applied: bool,
    /// The status and reason as recorded: the recipient's number, should the gateway
    /// quote it, masked.
    pub status: String,
    pub reason: Option<String>,
}

impl DlrRecorded {
    /// What `report` does to the SMS `outbox_id` (`idempotency_key`), whose stored
    /// `message` (the outbound JSON) is in delivery state `current`: the status and reason
    /// with the recipient's number masked (gateways may quote it: it stays out of the
    /// store and of the caller's log line), and `applied: false`, keeping the final state,
    /// when an in-transit report comes after a final one. Both backends store it as is
    /// when `applied`.
    pub fn of_report(
        outbox_id: i64,
        idempotency_key: String,
        message: &str,
        current: Option<&str>,
        report: &DeliveryReport,
    ) -> Self {
        let channel = serde_json::from_str::<crate::notify::outbound::Outbound>(message)
            .ok()
            .map(|m| m.channel);
        let mask = |text: &str| -> String {
            match &channel {
                Some(c) => super::personal::mask_number(text, c),
                None => text.to_string(),
            }
        };
        let kept = current
            .and_then(DlrState::parse)
            .filter(|c| c.is_final() && !report.state.is_final());
        DlrRecorded {
            outbox_id,
            idempotency_key,
            state: kept.unwrap_or(report.state),
            applied: kept.is_none(),
            status: mask(&report.status),
            reason: report.reason.as_deref().map(mask),
        }
    }
}

/// What an erasure did (counts only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReport {
    /// Messages still waiting (or being sent) that will not go out.
    pub messages_failed: usize,
    /// Messages whose recipient and body were replaced by [`ERASED`].
    pub messages_scrubbed: usize,
    /// Recorded attempts whose gateway answers were cleaned of the addresses.
    pub attempts_scrubbed: usize,
    /// The person's SMS STOPs kept as SHA-256 digests (see
    /// [`SubscriberStore::erase_subscriber`]).
    pub sms_optouts_kept: usize,
    /// Whether the WAL was checkpointed and truncated afterwards (no old page left in it).
    pub checkpointed: bool,
}

/// What an SMS START did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resubscribed {
    /// The number was on the opt-out list (plain or as an erased person's digest).
    pub was_opted_out: bool,
    /// Subscribers holding the number.
    pub subscribers: Vec<String>,
    /// Those whom STOP alone had made inactive, active again.
    pub reactivated: Vec<String>,
}

/// Subscribers and what they asked for: the records, the opt-outs (the e-mail link, SMS
/// STOP and START, an admin's reactivation), CSV imports, the erasure of a person, and
/// their counts for `/metrics`. Opting out and erasure also fail that person's messages
/// still waiting in the outbox: they act on a person, so they live here.
pub trait SubscriberStore: Send + Sync {
    /// Creates a subscriber (with a fresh unsubscribe token); `false` when the id exists.
    fn create_subscriber(&self, s: &Subscriber, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Replaces a subscriber's data (the token stays); `false` when the id is unknown.
    fn update_subscriber(&self, s: &Subscriber, now: DateTime<Utc>) -> Result<bool, StoreError>;
    fn subscriber(&self, id: &str) -> Result<Option<StoredSubscriber>, StoreError>;
    /// All subscribers in id order (only active ones when `active_only`).
    fn subscribers(&self, active_only: bool) -> Result<Vec<StoredSubscriber>, StoreError>;
    /// Sets `active = false`; `false` when the id is unknown.
    fn deactivate_subscriber(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The opt-out link: deactivates the subscriber holding `token` and marks them opted
    /// out (an update or import will not reactivate them); their id, if any.
    fn unsubscribe_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;
    /// The SMS "STOP" reply: puts the E.164 number on the SMS opt-out list (no SMS goes to
    /// it again, whatever a later import says), and deactivates (as opted out) every
    /// subscriber holding it who is left with no channel. Returns the ids of the
    /// subscribers holding the number.
    fn unsubscribe_phone(&self, e164: &str, now: DateTime<Utc>) -> Result<Vec<String>, StoreError>;
    /// Numbers that replied STOP.
    fn sms_optouts(&self) -> Result<BTreeSet<String>, StoreError>;
    /// Subscribers who opted out themselves (id -> when), without loading them.
    fn opted_out(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError>;
    /// An admin act on a subscriber's renewed consent: clears their opt-out (and their
    /// numbers' SMS opt-outs) and makes them active; `false` when the id is unknown.
    fn reactivate_subscriber(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    fn subscriber_counts(&self) -> Result<SubscriberCounts, StoreError>;
    /// Creates or updates every subscriber (already validated: the caller refuses a file
    /// with one bad row). Written in bounded batches, one transaction each, so a large
    /// import never holds the store's writer long enough to delay a publication; a store
    /// failure part-way leaves the earlier batches written (importing the file again
    /// finishes it: rows are created or updated by id).
    fn import_subscribers(
        &self,
        subs: &[Subscriber],
        now: DateTime<Utc>,
    ) -> Result<ImportReport, StoreError>;
    /// The SMS "START" reply: lifts the number's STOP and makes active again every
    /// subscriber holding it whom a STOP (not the e-mail link, not an editor) had made
    /// inactive.
    fn resubscribe_phone(&self, e164: &str, now: DateTime<Utc>)
    -> Result<Resubscribed, StoreError>;
    /// Erases a subscriber's personal data, in ONE transaction: the subscriber (name,
    /// addresses, numbers, webhook URLs, areas and polygon) is deleted; their messages
    /// still waiting fail; every message of theirs keeps its counts, times and states but
    /// its recipient and body become [`ERASED`], its idempotency key loses the address
    /// hash, and the gateways' answers lose the addresses. A number of theirs that replied
    /// STOP (and that no other subscriber holds) stays refused as the SHA-256 of the
    /// number, so importing it again does not undo the refusal. The writer then
    /// checkpoints and truncates the WAL, and deleted content is zeroed in the file
    /// (`secure_delete`). `by` (the admin token's holder) is kept with the date in the
    /// `erasures` audit table. `None` when the id is unknown.
    fn erase_subscriber(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ErasureReport>, StoreError>;
}

/// The outbox: what each subscriber was last told, queueing messages (alone or in the
/// transaction that publishes their version), claiming and recording delivery attempts,
/// the listing and counts of messages and attempts, and the SMS gateway's delivery
/// reports on messages already sent.
pub trait OutboxStore: Send + Sync {
    /// Per subscriber, the latest message planned for `event_id` at a version below
    /// `before_version` (failed ones excluded: they did not reach the subscriber).
    fn last_sent(
        &self,
        event_id: &str,
        before_version: u32,
    ) -> Result<BTreeMap<String, LastSent>, StoreError>;
    /// Writes planned messages, due at `now`, in ONE transaction; a message whose
    /// idempotency key is already there is skipped. Returns how many were new.
    fn enqueue(&self, planned: &[Planned], now: DateTime<Utc>) -> Result<usize, StoreError>;
    /// [`super::Store::complete_issuance`] and [`OutboxStore::enqueue`] in ONE
    /// transaction: a version and its messages are committed together or not at all, so
    /// a crash between the two cannot publish an alert whose messages are never sent.
    /// Returns how many messages were new.
    fn complete_issuance_enqueue(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;
    /// [`super::Store::publish_alert`] and [`OutboxStore::enqueue`] in ONE transaction.
    fn publish_alert_enqueue(
        &self,
        alert: &NewAlert,
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;
    /// Claims up to `limit` due messages for `lease_s` seconds: pending ones whose time has
    /// come, and sending ones whose lease has lapsed (their worker died). Each claim counts
    /// an attempt.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_s: f64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// Records an attempt and moves the message on (delivered, pending again, failed).
    fn record_attempt(&self, attempt: &AttemptRecord) -> Result<(), StoreError>;
    /// The soonest `next_attempt_at` of a pending message, or lease end of a sending one.
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Messages of an event (all events when `None`), in id order.
    fn outbox(&self, event_id: Option<&str>) -> Result<Vec<OutboxRow>, StoreError>;
    fn attempts(&self, outbox_id: i64) -> Result<Vec<AttemptRecord>, StoreError>;
    /// (channel, state) -> messages, for `/metrics`.
    fn outbox_counts(&self) -> Result<Vec<(ChannelKind, OutboxState, i64)>, StoreError>;
    /// (channel, outcome: delivered, retry or failed) -> recorded attempts, for `/metrics`.
    fn attempt_counts(&self) -> Result<Vec<(ChannelKind, String, i64)>, StoreError>;
    /// Records an SMS delivery report on the message whose gateway id (or, for gateways
    /// that echo the client's reference, idempotency key) is `report.gateway_id`; `None`
    /// when no SMS has it. A final state (delivered, undelivered) is not undone by a later
    /// in-transit report. Nothing is resent: see [`crate::notify::dlr`].
    fn record_delivery_report(
        &self,
        report: &DeliveryReport,
        now: DateTime<Utc>,
    ) -> Result<Option<DlrRecorded>, StoreError>;
    /// SMS handed to the gateway by their latest delivery report (`None`: no report
    /// yet), for `/metrics`.
    fn delivery_report_counts(&self) -> Result<Vec<(Option<DlrState>, i64)>, StoreError>;
}

/// Both halves on one object: what a caller holding one `Arc<dyn ...>` of the database
/// needs when it works on subscribers and messages alike (the admin API, the pipeline's
/// notification hook). `dyn` names a single trait, hence this one; a caller needing one
/// half names [`SubscriberStore`] or [`OutboxStore`].
pub trait NotifyStore: SubscriberStore + OutboxStore {}

impl<T: SubscriberStore + OutboxStore + ?Sized> NotifyStore for T {}

/// Every notification store is the dispatcher's outbox (the port notify defines).
impl<T: SubscriberStore + OutboxStore + ?Sized> Outbox for T {
    fn recipients(&self) -> Result<Vec<Recipient>, OutboxError> {
        Ok(SubscriberStore::subscribers(self, true)
            .map_err(port)?
            .into_iter()
            .map(|s| Recipient {
                subscriber: s.subscriber,
                unsubscribe_token: s.unsubscribe_token,
            })
            .collect())
    }
    fn sms_optouts(&self) -> Result<BTreeSet<String>, OutboxError> {
        SubscriberStore::sms_optouts(self).map_err(port)
    }
    fn last_sent(
        &self,
        event_id: &str,
        before_version: u32,
    ) -> Result<BTreeMap<String, LastSent>, OutboxError> {
        OutboxStore::last_sent(self, event_id, before_version).map_err(port)
    }
    fn enqueue(&self, planned: &[Planned], now: DateTime<Utc>) -> Result<usize, OutboxError> {
        OutboxStore::enqueue(self, planned, now).map_err(port)
    }
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_s: f64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, OutboxError> {
        OutboxStore::claim_due(self, now, lease_s, limit).map_err(port)
    }
    fn record_attempt(&self, attempt: &AttemptRecord) -> Result<(), OutboxError> {
        OutboxStore::record_attempt(self, attempt).map_err(port)
    }
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, OutboxError> {
        OutboxStore::next_due(self).map_err(port)
    }
}

fn port(e: StoreError) -> OutboxError {
    OutboxError(Box::new(e))
}
