//! The deadline of a proposal (issue 13, `alerts::reminder`): every few seconds the
//! service looks for orange and red proposals waiting past `[approval.reminders]
//! after_min` and queues, per on-call approver and address, one reminder per round
//! through the subscribers' outbox (the same e-mail and SMS channels, retries and
//! delivery reports). Nothing is published: only a person or an auto-publish rule does
//! that.
//!
//! Several PostgreSQL replicas check the same proposals: each round's messages have keys
//! made of the proposal, the round, the person and the address, queued in one transaction
//! in the same order, so the outbox keeps one row per key and only the replica whose rows
//! went in writes the audit row ("reminded"). A crash between the two loses that audit row,
//! never sends twice.
//!
//! Part of the pipeline room: the approval store and the outbox.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Pipeline, ProcessError};
use crate::alerts::reminder::Waiting;
use crate::notify::outbound::{Outbound, OutboundBody, Planned, idempotency_key};
use crate::notify::reminder::Reminder;
use crate::notify::select::NoticeKind;
use crate::notify::subscriber::Channel;
use crate::store::approval::{AuditEntry, ProposalRecord, ProposalState};

/// What one check did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemindReport {
    /// Proposals due a reminder round.
    pub due: usize,
    /// Messages this process queued (0 when another replica queued the round first).
    pub queued: usize,
}

impl Pipeline {
    /// The reminders due at `now`: queued and audited. Nothing without on-call approvers,
    /// an approval store or an outbox.
    pub fn remind_due(&self, now: DateTime<Utc>) -> Result<RemindReport, ProcessError> {
        let cfg = &self.cfg.approval;
        let (Some(ap), Some(notify)) = (&self.approvals, &self.notify) else {
            return Ok(RemindReport::default());
        };
        if cfg.on_call.is_empty() {
            return Ok(RemindReport::default());
        }
        let open = ap.proposals(Some(ProposalState::Proposed))?;
        let waiting: Vec<Waiting> = open
            .iter()
            .map(|p| Waiting {
                id: p.id,
                created_at: p.created_at,
                level: p.published.highest_level(),
            })
            .collect();
        let due = cfg.reminders.due(&waiting, now);
        let mut report = RemindReport {
            due: due.len(),
            queued: 0,
        };
        // The links of the subscribers' messages: service.public_url (or the address the
        // service listens on) unless [notify.message] base_url names another.
        let ops_url = format!(
            "{}/ops",
            self.cfg.notify.message.base_url.trim_end_matches('/')
        );
        for (id, round) in due {
            let Some(p) = open.iter().find(|p| p.id == id) else {
                continue;
            };
            let planned = self.reminder_messages(p, round, now, &ops_url);
            let queued = notify.store.enqueue(&planned, now)?;
            if queued == 0 {
                continue;
            }
            report.queued += queued;
            let level = p.published.highest_level().map(|l| l.name_en());
            ap.audit(
                &AuditEntry::new(now, "aviso", "reminded", format!("proposal {id}")).with_detail(
                    json!({
                        "round": round,
                        "recipients": cfg.on_call.len(),
                        "messages": queued,
                        "level": level,
                        "waited_min": (now - p.created_at).num_minutes(),
                    }),
                ),
            )?;
            tracing::warn!(
                proposal = id,
                round,
                level = level.unwrap_or(""),
                messages = queued,
                "a proposal waits past its deadline: on-call approvers reminded"
            );
        }
        Ok(report)
    }

    /// Round `round`'s messages about `p`: one per on-call approver and address.
    fn reminder_messages(
        &self,
        p: &ProposalRecord,
        round: u32,
        now: DateTime<Utc>,
        ops_url: &str,
    ) -> Vec<Planned> {
        let a = &p.published;
        let Some(level) = a.highest_level() else {
            return Vec::new();
        };
        let text = Reminder {
            proposal: p.id,
            round,
            event_name: &a.event_name,
            level,
            status: a.status,
            waited_min: (now - p.created_at).num_minutes(),
            ops_url,
        }
        .text();
        let mut out = Vec::new();
        for person in &self.cfg.approval.on_call {
            let channels = person
                .email
                .iter()
                .map(|e| Channel::Email(e.clone()))
                .chain(person.phone.iter().map(|ph| Channel::Sms(ph.clone())));
            for channel in channels {
                let body = match &channel {
                    Channel::Sms(_) => OutboundBody::Sms {
                        text: text.sms.clone(),
                        count: text.sms_count,
                    },
                    _ => OutboundBody::Email {
                        subject: text.subject.clone(),
                        text: text.text.clone(),
                        html: text.html.clone(),
                        unsubscribe_url: None,
                    },
                };
                // "on-call-NAME.proposal-12-reminder.v2.sms.<address hash>": no
                // subscriber id or event id has this shape, so it meets no real message.
                let key = idempotency_key(
                    &format!("on-call-{}", person.name),
                    &format!("proposal-{}-reminder", p.id),
                    round,
                    &channel,
                );
                out.push(Planned {
                    outbound: Outbound {
                        idempotency_key: key,
                        subscriber_id: format!("on-call:{}", person.name),
                        channel,
                        body,
                    },
                    event_id: a.event_id.clone(),
                    alert_id: a.identifier.clone(),
                    version: a.version,
                    notice: NoticeKind::Reminder,
                    level: Some(level),
                    alert_sent: a.sent,
                });
            }
        }
        // The same order on every replica, so two that queue at once never deadlock.
        out.sort_by(|x, y| x.outbound.idempotency_key.cmp(&y.outbound.idempotency_key));
        out
    }

    /// Until `stop` turns true: [`Pipeline::remind_due`] every
    /// [`crate::alerts::reminder::ReminderConfig::check_every_s`]. Returns at once when
    /// nobody is on call. A failing store is logged and tried again next time.
    pub async fn remind_loop(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.cfg.approval.on_call.is_empty() || self.approvals.is_none() {
            return;
        }
        let rc = &self.cfg.approval.reminders;
        let every = Duration::from_secs_f64(rc.check_every_s());
        tracing::info!(
            on_call = self.cfg.approval.on_call.len(),
            min_level = rc.min_level.name_en(),
            after_min = rc.after_min,
            repeat_min = rc.repeat_min,
            check_every_s = every.as_secs_f64(),
            "approval reminders: waiting proposals remind the on-call approvers"
        );
        loop {
            let p = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || p.remind_due(Utc::now())).await {
                Ok(Ok(_)) => {}
                // ERROR: an overdue red proposal may go unnoticed until the store answers.
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "approval reminders: the check failed; trying again")
                }
                Err(e) => tracing::error!(error = %e, "approval reminders: the check's task died"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
