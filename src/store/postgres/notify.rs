//! [`SubscriberStore`] and [`OutboxStore`] on PostgreSQL: the synchronous traits over the
//! async calls of subscribers.rs, outbox.rs and erasure.rs, each run on the store's
//! runtime by [`PgStore::call`] with owned arguments (as store.rs does for [`Store`]).
//! With both, [`PgStore`] is a [`crate::store::notify::NotifyStore`] and the dispatcher's
//! outbox, so several replicas share subscribers and messages. tests/it/store_notify.rs
//! runs one suite on this and on the SQLite store.
//!
//! [`Store`]: crate::store::Store
//!
//! Must not depend on the pipeline or the API.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::notify::dlr::{DeliveryReport, DlrState};
use crate::notify::outbound::Planned;
use crate::notify::select::LastSent;
use crate::notify::subscriber::{ChannelKind, Subscriber};
use crate::store::notify::{
    AttemptRecord, DlrRecorded, ErasureReport, ImportReport, OutboxRow, OutboxState, OutboxStore,
    Resubscribed, StoredSubscriber, SubscriberCounts, SubscriberStore,
};
use crate::store::{AssessmentRecord, NewAlert, StoreError};

impl SubscriberStore for PgStore {
    fn create_subscriber(&self, s: &Subscriber, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let s = s.clone();
        self.call(move |i| async move { i.put_subscriber(&s, now, true).await })
    }

    fn update_subscriber(&self, s: &Subscriber, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let s = s.clone();
        self.call(move |i| async move { i.put_subscriber(&s, now, false).await })
    }

    fn subscriber(&self, id: &str) -> Result<Option<StoredSubscriber>, StoreError> {
        let id = id.to_string();
        self.call(move |i| async move { Ok(i.subscribers(Some(&id), false).await?.pop()) })
    }

    fn subscribers(&self, active_only: bool) -> Result<Vec<StoredSubscriber>, StoreError> {
        self.call(move |i| async move { i.subscribers(None, active_only).await })
    }

    fn deactivate_subscriber(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.call(move |i| async move { i.deactivate_subscriber(&id, now).await })
    }

    fn unsubscribe_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let token = token.to_string();
        self.call(move |i| async move { i.unsubscribe_token(&token, now).await })
    }

    fn unsubscribe_phone(&self, e164: &str, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let e164 = e164.to_string();
        self.call(move |i| async move { i.unsubscribe_phone(&e164, now).await })
    }

    fn sms_optouts(&self) -> Result<BTreeSet<String>, StoreError> {
        self.call(|i| async move { i.sms_optouts().await })
    }

    fn opted_out(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        self.call(|i| async move { i.opted_out().await })
    }

    fn reactivate_subscriber(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.call(move |i| async move { i.reactivate_subscriber(&id, now).await })
    }

    fn subscriber_counts(&self) -> Result<SubscriberCounts, StoreError> {
        self.call(|i| async move { i.subscriber_counts().await })
    }

    fn import_subscribers(
        &self,
        subs: &[Subscriber],
        now: DateTime<Utc>,
    ) -> Result<ImportReport, StoreError> {
        let subs = subs.to_vec();
        self.call(move |i| async move { i.import_subscribers(&subs, now).await })
    }

    fn resubscribe_phone(
        &self,
        e164: &str,
        now: DateTime<Utc>,
    ) -> Result<Resubscribed, StoreError> {
        let e164 = e164.to_string();
        self.call(move |i| async move { i.resubscribe_phone(&e164, now).await })
    }

    fn erase_subscriber(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ErasureReport>, StoreError> {
        let (id, by) = (id.to_string(), by.to_string());
        self.call(move |i| async move { i.erase(&id, &by, now).await })
    }
}

impl OutboxStore for PgStore {
    fn last_sent(
        &self,
        event_id: &str,
        before_version: u32,
    ) -> Result<BTreeMap<String, LastSent>, StoreError> {
        let event_id = event_id.to_string();
        self.call(move |i| async move { i.last_sent(&event_id, before_version).await })
    }

    fn enqueue(&self, planned: &[Planned], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let planned = planned.to_vec();
        self.call(move |i| async move { i.enqueue(None, &planned, now).await })
    }

    fn complete_issuance_enqueue(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let (assessments, alerts, planned) =
            (assessments.to_vec(), alerts.to_vec(), planned.to_vec());
        self.call(move |i| async move {
            i.complete_enqueue(issuance_id, &assessments, &alerts, &planned, now)
                .await
        })
    }

    fn publish_alert_enqueue(
        &self,
        alert: &NewAlert,
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let (alert, planned) = (alert.clone(), planned.to_vec());
        self.call(move |i| async move { i.enqueue(Some(&alert), &planned, now).await })
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_s: f64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.call(move |i| async move { i.claim_due(now, lease_s, limit).await })
    }

    fn record_attempt(&self, attempt: &AttemptRecord) -> Result<(), StoreError> {
        let attempt = attempt.clone();
        self.call(move |i| async move { i.record_attempt(&attempt).await })
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.call(|i| async move { i.next_due().await })
    }

    fn outbox(&self, event_id: Option<&str>) -> Result<Vec<OutboxRow>, StoreError> {
        let event_id = event_id.map(str::to_string);
        self.call(move |i| async move { i.outbox(event_id.as_deref()).await })
    }

    fn attempts(&self, outbox_id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        self.call(move |i| async move { i.attempts(outbox_id).await })
    }

    fn outbox_counts(&self) -> Result<Vec<(ChannelKind, OutboxState, i64)>, StoreError> {
        self.call(|i| async move { i.outbox_counts().await })
    }

    fn attempt_counts(&self) -> Result<Vec<(ChannelKind, String, i64)>, StoreError> {
        self.call(|i| async move { i.attempt_counts().await })
    }

    fn record_delivery_report(
        &self,
        report: &DeliveryReport,
        now: DateTime<Utc>,
    ) -> Result<Option<DlrRecorded>, StoreError> {
        let report = report.clone();
        self.call(move |i| async move { i.record_delivery_report(&report, now).await })
    }

    fn delivery_report_counts(&self) -> Result<Vec<(Option<DlrState>, i64)>, StoreError> {
        self.call(|i| async move { i.delivery_report_counts().await })
    }
}
