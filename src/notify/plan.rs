//! One published version -> the messages to write to the outbox: selection for every
//! subscriber, then one message per channel of each selected subscriber.
//!
//! Pure: takes the subscribers and what each was last told as values; must not do I/O or
//! depend on tokio, reqwest or lettre.

use std::collections::BTreeMap;

use crate::notify::message::{MessageInput, MessageOptions};
use crate::notify::outbound::{Planned, compose};
use crate::notify::select::{DistrictGeometry, LastSent, PublishedAlert, SelectOptions, select};
use crate::notify::subscriber::Subscriber;

/// A subscriber with their opt-out token.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub subscriber: Subscriber,
    pub unsubscribe_token: String,
}

/// The messages `alert` produces. `last` maps subscriber id to what they were last told
/// about this event before this version.
pub fn plan(
    recipients: &[Recipient],
    alert: &PublishedAlert,
    last: &BTreeMap<String, LastSent>,
    select_opts: &SelectOptions,
    msg_opts: &MessageOptions,
    geometry: &dyn DistrictGeometry,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for r in recipients {
        let s = &r.subscriber;
        let Some(notice) = select(s, alert, last.get(&s.id), select_opts, geometry) else {
            continue;
        };
        let input = MessageInput {
            alert,
            notice: &notice,
            lang: s.language,
            alert_id: &alert.identifier,
            unsubscribe_token: &r.unsubscribe_token,
        };
        for ch in &s.channels {
            out.push(Planned {
                outbound: compose(s, ch, &input, msg_opts),
                event_id: alert.event_id.clone(),
                alert_id: alert.identifier.clone(),
                version: alert.version,
                notice: notice.kind,
                level: notice.level,
                alert_sent: alert.sent,
            });
        }
    }
    out
}
