//! One message ready for a channel, and its idempotency key: what the outbox stores before
//! sending and what a channel sends.
//!
//! Pure: builds values; must not do I/O or depend on tokio, reqwest or lettre.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use chrono::{DateTime, Utc};

use crate::alerts::levels::Level;
use crate::notify::gsm::SegmentCount;
use crate::notify::message::{self, MessageInput, MessageOptions};
use crate::notify::select::NoticeKind;
use crate::notify::subscriber::{Channel, ChannelKind, Subscriber};

/// What is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OutboundBody {
    Email {
        subject: String,
        text: String,
        html: String,
        /// The subscriber's opt-out link, also sent as `List-Unsubscribe` with one-click
        /// (RFC 2369, RFC 8058) so mail clients offer it. Absent in rows written before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unsubscribe_url: Option<String>,
    },
    Sms {
        text: String,
        count: SegmentCount,
    },
    /// The JSON document, as sent (the signature is computed over these bytes).
    Webhook {
        json: String,
    },
}

/// One message to one address. Debug output redacts the address.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// Unique per (subscriber, event, alert version, channel): see [`idempotency_key`].
    pub idempotency_key: String,
    pub subscriber_id: String,
    pub channel: Channel,
    pub body: OutboundBody,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("idempotency_key", &self.idempotency_key)
            .field("subscriber_id", &self.subscriber_id)
            .field("channel", &self.channel)
            .field("body", &self.body)
            .finish()
    }
}

impl Outbound {
    pub fn kind(&self) -> ChannelKind {
        self.channel.kind()
    }
}

/// A message decided for one version, ready for the outbox: the message and what the
/// outbox needs to answer "what was this subscriber last told about this event".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    pub outbound: Outbound,
    pub event_id: String,
    /// The version's CAP identifier.
    pub alert_id: String,
    pub version: u32,
    pub notice: NoticeKind,
    /// The level told (`None` for an all-clear).
    pub level: Option<Level>,
    /// The version's `sent` time.
    pub alert_sent: DateTime<Utc>,
}

/// `{subscriber}.{event}.v{version}.{channel}.{address hash}`: the same message to the
/// same address always gets the same key, so the outbox refuses a second row for it and a
/// gateway that honours `Idempotency-Key` drops a resent request. The address enters as
/// the first 8 hex digits of its SHA-256, so a subscriber with two phones gets two keys
/// and the key itself carries no personal data (it appears in logs and Message-IDs).
/// Only characters valid in an RFC 5322 Message-ID left part are used.
pub fn idempotency_key(
    subscriber_id: &str,
    event_id: &str,
    version: u32,
    channel: &Channel,
) -> String {
    let digest = Sha256::digest(channel.address().as_bytes());
    let hash = hex::encode(&digest[..4]);
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "{}.{}.v{version}.{}.{hash}",
        clean(subscriber_id),
        clean(event_id),
        channel.kind().as_str()
    )
}

/// The message for one channel of a subscriber.
pub fn compose(
    sub: &Subscriber,
    channel: &Channel,
    input: &MessageInput<'_>,
    opts: &MessageOptions,
) -> Outbound {
    let body = match channel.kind() {
        ChannelKind::Email => {
            let m = message::email(input, opts);
            OutboundBody::Email {
                subject: m.subject,
                text: m.text,
                html: m.html,
                unsubscribe_url: Some(message::links(input, opts).unsubscribe),
            }
        }
        ChannelKind::Sms => {
            let m = message::sms(input, opts);
            OutboundBody::Sms {
                text: m.text,
                count: m.count,
            }
        }
        ChannelKind::Webhook => OutboundBody::Webhook {
            json: message::webhook_json(input, opts).to_string(),
        },
    };
    Outbound {
        idempotency_key: idempotency_key(
            &sub.id,
            &input.alert.event_id,
            input.alert.version,
            channel,
        ),
        subscriber_id: sub.id.clone(),
        channel: channel.clone(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_address_and_version_and_hide_the_address() {
        let a = Channel::Sms("+258841234567".into());
        let b = Channel::Sms("+258861234567".into());
        let k = idempotency_key("pf-beira", "swi-07-20222023", 3, &a);
        assert!(k.starts_with("pf-beira.swi-07-20222023.v3.sms."), "{k}");
        assert_eq!(k, idempotency_key("pf-beira", "swi-07-20222023", 3, &a));
        assert_ne!(k, idempotency_key("pf-beira", "swi-07-20222023", 3, &b));
        assert_ne!(k, idempotency_key("pf-beira", "swi-07-20222023", 4, &a));
        assert!(!k.contains("841234567"));
    }
}
