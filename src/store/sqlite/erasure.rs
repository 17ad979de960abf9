//! A subscriber's erasure on the embedded SQLite store (the `erasures` audit table and the
//! digests of migration 4), and the masking of a person's addresses in what gateways
//! answered, which delivery reports use too.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::subscribers::{optout_digest, phones};
use super::{SqliteStore, ts};
use crate::notify::outbound::{Outbound, OutboundBody};
use crate::notify::subscriber::Channel;
use crate::store::StoreError;
use crate::store::notify::{ERASED, ErasureReport};

/// An outbox row as the erasure reads it: id, key, message, state, last error, DLR reason.
type ErasedRow = (i64, String, String, String, Option<String>, Option<String>);

/// `text` with each of the channels' addresses (as stored, masked as in logs, a number
/// however written: see [`mask_number`]) replaced by "[erased]".
fn scrub(text: &str, channels: &[Channel]) -> String {
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
pub(super) fn mask_number(text: &str, c: &Channel) -> String {
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
fn erased_message(m: &Outbound, key: &str) -> Outbound {
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
fn erased_key(key: &str, row: i64) -> String {
    match key.rsplit_once('.') {
        Some((head, _)) => format!("{head}.{ERASED}-{row}"),
        None => format!("{ERASED}-{row}"),
    }
}

impl SqliteStore {
    /// [`crate::store::notify::SubscriberStore::erase_subscriber`]: see there.
    pub(super) fn erase(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ErasureReport>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let Some(sub) = self.subscriber_in(&tx, id)? else {
            return Ok(None);
        };
        let mut report = ErasureReport::default();
        // STOPs: kept as digests unless another subscriber holds the number (then it is
        // not this person's alone, and stays as it is).
        for p in phones(&sub) {
            let shared: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM subscriber_phones
                        WHERE phone = ?1 AND subscriber_id != ?2)",
                    params![p, id],
                    |r| r.get(0),
                )
                .map_err(|e| self.err(e))?;
            if shared {
                continue;
            }
            let at: Option<String> = tx
                .query_row(
                    "DELETE FROM sms_optouts WHERE phone = ?1 RETURNING at",
                    params![p],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            if let Some(at) = at {
                tx.execute(
                    "INSERT INTO sms_optout_digests (digest, at) VALUES (?1, ?2)
                     ON CONFLICT (digest) DO NOTHING",
                    params![optout_digest(p), at],
                )
                .map_err(|e| self.err(e))?;
                report.sms_optouts_kept += 1;
            }
        }
        // The outbox: every message of theirs keeps its row, loses the person.
        let rows: Vec<ErasedRow> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, idempotency_key, message, state, last_error, dlr_reason
                     FROM outbox WHERE subscriber_id = ?1 ORDER BY id",
                )
                .map_err(|e| self.err(e))?;
            stmt.query_map(params![id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?
        };
        for (row, key, message, state, last_error, dlr_reason) in rows {
            let m: Outbound = serde_json::from_str(&message)
                .map_err(|e| self.corrupt(&format!("outbox {row}"), e))?;
            let new_key = erased_key(&key, row);
            let scrubbed = serde_json::to_string(&erased_message(&m, &new_key))
                .map_err(|e| self.corrupt(&format!("outbox {row}"), e))?;
            // Their channels and the message's own address (an older address no longer
            // in the subscriber's record).
            let mut chans = sub.channels.clone();
            chans.push(m.channel.clone());
            let waiting = matches!(state.as_str(), "pending" | "sending");
            let last_error = if waiting {
                Some("not sent: the subscriber was erased before delivery".to_string())
            } else {
                last_error.map(|e| scrub(&e, &chans))
            };
            tx.execute(
                "UPDATE outbox SET message = ?2, idempotency_key = ?3, last_error = ?4,
                    dlr_reason = ?5,
                    state = CASE WHEN state IN ('pending', 'sending') THEN 'failed' ELSE state END,
                    lease_until = NULL
                 WHERE id = ?1",
                params![
                    row,
                    scrubbed,
                    new_key,
                    last_error,
                    dlr_reason.map(|r| scrub(&r, &chans))
                ],
            )
            .map_err(|e| self.err(e))?;
            report.messages_scrubbed += 1;
            report.messages_failed += usize::from(waiting);
            let answers: Vec<(i64, String)> = {
                let mut stmt = tx
                    .prepare("SELECT id, answer FROM outbox_attempts WHERE outbox_id = ?1")
                    .map_err(|e| self.err(e))?;
                stmt.query_map(params![row], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(|e| self.err(e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| self.err(e))?
            };
            for (a, answer) in answers {
                tx.execute(
                    "UPDATE outbox_attempts SET answer = ?2 WHERE id = ?1",
                    params![a, scrub(&answer, &chans)],
                )
                .map_err(|e| self.err(e))?;
                report.attempts_scrubbed += 1;
            }
        }
        tx.execute(
            "DELETE FROM subscriber_phones WHERE subscriber_id = ?1",
            params![id],
        )
        .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM subscribers WHERE id = ?1", params![id])
            .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO erasures (subscriber_id, erased_at, erased_by, messages_failed,
                messages_scrubbed) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                ts(now),
                by,
                report.messages_failed as i64,
                report.messages_scrubbed as i64
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        // The pages as they were before live on in the WAL until a checkpoint copies the
        // new ones over them; TRUNCATE then empties the WAL file. A reader holding an old
        // snapshot blocks it (`busy` = 1): reported, and the next checkpoint finishes it.
        let busy: i64 = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        report.checkpointed = busy == 0;
        Ok(Some(report))
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
