//! What a subscriber's personal data become in the notification store, the same on both
//! backends: an erased person's STOP kept as a digest, their addresses scrubbed from what
//! gateways answered (and masked in delivery reports), their messages' erased form and key.
//! Pure functions (no database): `sqlite/erasure.rs` and `postgres/erasure.rs` use them.
//!
//! Must not depend on the pipeline or the API.

use sha2::{Digest, Sha256};

use crate::notify::outbound::{Outbound, OutboundBody};
use crate::notify::subscriber::{Channel, Subscriber};
use crate::store::notify::ERASED;

/// The digest an erased person's STOP is kept as: SHA-256 of the E.164 number, hex. It
/// lets a later import of the same number find the refusal; it is not anonymous (the
/// numbers of a country can be tried one by one), only free of the number itself.
pub(crate) fn optout_digest(e164: &str) -> String {
    hex::encode(Sha256::digest(e164.as_bytes()))
}

/// The subscriber's SMS numbers (E.164).
pub(crate) fn phones(s: &Subscriber) -> impl Iterator<Item = &str> {
    s.channels.iter().filter_map(|c| match c {
        Channel::Sms(p) => Some(p.as_str()),
        _ => None,
    })
}

/// `text` with each of the channels' addresses (as stored, masked as in logs, a number
/// however written: see [`mask_number`]) replaced by "[erased]".
pub(crate) fn scrub(text: &str, channels: &[Channel]) -> String {
    let mut out = text.to_string();
    for c in channels.iter().filter(|c| c.address().len() >= 4) {
        out = out.replace(c.redacted().as_str(), "[erased]");
        out = replace_number(&out, c, "[erased]");
    }
    out
}

/// `text` with the channel's number masked as in logs, however a gateway wrote it: in
/// E.164, without its '+', or as a national number (any run of 7 or more digits that
/// ends the number: no gateway word or error code is that long and that exact).
pub(crate) fn mask_number(text: &str, c: &Channel) -> String {
    replace_number(text, c, &c.redacted())
}

/// [`mask_number`] with `with` in place of the number.
fn replace_number(text: &str, c: &Channel, with: &str) -> String {
    let Channel::Sms(number) = c else {
        return text.replace(c.address(), with);
    };
    let digits = number.trim_start_matches('+');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|ch: char| ch.is_ascii_digit()) {
        let (before, run_on) = rest.split_at(start);
        let len = run_on
            .find(|ch: char| !ch.is_ascii_digit())
            .unwrap_or(run_on.len());
        let (run, after) = run_on.split_at(len);
        // A '+' before the run belongs to the number.
        let before = if run.len() >= 7 && digits.ends_with(run) {
            out.push_str(before.strip_suffix('+').unwrap_or(before));
            out.push_str(with);
            rest = after;
            continue;
        } else {
            before
        };
        out.push_str(before);
        out.push_str(run);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The message with its recipient and words gone (and its key now `key`); the channel
/// kind and the SMS segment count (what was paid for) stay.
pub(crate) fn erased_message(m: &Outbound, key: &str) -> Outbound {
    let e = || ERASED.to_string();
    Outbound {
        idempotency_key: key.to_string(),
        subscriber_id: m.subscriber_id.clone(),
        channel: match m.channel {
            Channel::Email(_) => Channel::Email(e()),
            Channel::Sms(_) => Channel::Sms(e()),
            Channel::Webhook(_) => Channel::Webhook(e()),
        },
        body: match &m.body {
            OutboundBody::Email { .. } => OutboundBody::Email {
                subject: e(),
                text: e(),
                html: e(),
                unsubscribe_url: None,
            },
            OutboundBody::Sms { count, .. } => OutboundBody::Sms {
                text: e(),
                count: *count,
            },
            OutboundBody::Webhook { .. } => OutboundBody::Webhook { json: e() },
        },
    }
}

/// The key without its address hash (`sub.event.vN.channel.erased-<row>`): unique still,
/// and no longer a 32-bit fingerprint of the number (enough to single out one of a
/// country's mobile numbers by trying them all).
pub(crate) fn erased_key(key: &str, row: i64) -> String {
    match key.rsplit_once('.') {
        Some((head, _)) => format!("{head}.{ERASED}-{row}"),
        None => format!("{ERASED}-{row}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_masked_however_the_gateway_wrote_it() {
        let c = Channel::Sms("+258845550101".into());
        for text in [
            "absent +258845550101",
            "absent 258845550101",
            "absent (845550101)",
        ] {
            let m = mask_number(text, &c);
            assert!(!m.contains("5550101"), "{text} -> {m}");
            assert!(m.contains("+25884*****01"), "{m}");
        }
        assert_eq!(mask_number("ErrorCode 30003", &c), "ErrorCode 30003");
        assert_eq!(mask_number("id 1234567 other", &c), "id 1234567 other");
    }
}
