//! [`NotifyStore`] on the embedded SQLite store: the `subscribers`, `outbox` and
//! `outbox_attempts` tables of migration 2, the opt-outs of migration 3, the delivery
//! reports, erasures and opt-back-ins of migration 4.
//!
//! Claims are one `UPDATE ... RETURNING` inside the writer's transaction, so two workers
//! (threads or processes) never claim the same message while its lease runs.
//!
//! Over 600 lines because its `NotifyStore` impl is one block; issue 16 move 5 splits the
//! subscriber and outbox halves into two traits, then into two files.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{SqliteStore, parse_ts, ts};
use crate::alerts::levels::Level;
use crate::notify::dlr::{DeliveryReport, DlrState};
use crate::notify::outbound::{Outbound, OutboundBody, Planned};
use crate::notify::select::{LastSent, NoticeKind};
use crate::notify::subscriber::{Channel, ChannelKind, Subscriber};
use crate::store::StoreError;
use crate::store::notify::{
    AttemptOutcome, AttemptRecord, DeliveryStatus, DlrRecorded, ERASED, ErasureReport,
    ImportReport, NotifyStore, OutboxRow, OutboxState, Resubscribed, StoredSubscriber,
    SubscriberCounts,
};
use crate::store::{AssessmentRecord, NewAlert};

/// Subscribers written per transaction by an import. Each batch holds the one SQLite
/// writer for a bounded time (about 70 ms for 500 rows with the indexes of migration 5
/// and synchronous=FULL, release build on the project's 2-core machine:
/// `cargo bench --bench import`), then lets a waiting publication in before the next.
pub const IMPORT_BATCH_ROWS: usize = 500;

/// An outbox row as the erasure reads it: id, key, message, state, last error, DLR reason.
type ErasedRow = (i64, String, String, String, Option<String>, Option<String>);

/// The digest an erased person's STOP is kept as: SHA-256 of the E.164 number, hex. It
/// lets a later import of the same number find the refusal; it is not anonymous (the
/// numbers of a country can be tried one by one), only free of the number itself.
fn optout_digest(e164: &str) -> String {
    hex::encode(Sha256::digest(e164.as_bytes()))
}

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
fn mask_number(text: &str, c: &Channel) -> String {
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

const SUBSCRIBER_COLUMNS: &str =
    "id, record, unsubscribe_token, created_at, updated_at, opted_out_at";

const OUTBOX_COLUMNS: &str = "id, message, event_id, alert_id, version, state, attempts, \
    next_attempt_at, lease_until, created_at, delivered_at, gateway_id, last_error, notice, level, \
    dlr_state, dlr_status, dlr_reason, dlr_at";

fn level_of(s: Option<String>) -> Option<Level> {
    s.and_then(|s| Level::ALL.into_iter().find(|l| l.name_en() == s))
}

fn phones(s: &Subscriber) -> impl Iterator<Item = &str> {
    s.channels.iter().filter_map(|c| match c {
        Channel::Sms(p) => Some(p.as_str()),
        _ => None,
    })
}

impl SqliteStore {
    fn read_subscriber(&self, row: &rusqlite::Row<'_>) -> Result<StoredSubscriber, StoreError> {
        let id: String = row.get(0).map_err(|e| self.err(e))?;
        let record: String = row.get(1).map_err(|e| self.err(e))?;
        let token: String = row.get(2).map_err(|e| self.err(e))?;
        let created: String = row.get(3).map_err(|e| self.err(e))?;
        let updated: String = row.get(4).map_err(|e| self.err(e))?;
        let opted_out: Option<String> = row.get(5).map_err(|e| self.err(e))?;
        let subscriber: Subscriber = serde_json::from_str(&record)
            .map_err(|e| self.corrupt(&format!("subscribers {id}"), e))?;
        Ok(StoredSubscriber {
            subscriber,
            unsubscribe_token: token,
            created_at: parse_ts(&created).unwrap_or_default(),
            updated_at: parse_ts(&updated).unwrap_or_default(),
            opted_out_at: opted_out.as_deref().and_then(parse_ts),
        })
    }

    fn read_outbox(&self, row: &rusqlite::Row<'_>) -> Result<OutboxRow, StoreError> {
        let get_s =
            |i: usize| -> Result<String, StoreError> { row.get(i).map_err(|e| self.err(e)) };
        let get_o = |i: usize| -> Result<Option<String>, StoreError> {
            row.get(i).map_err(|e| self.err(e))
        };
        let id: i64 = row.get(0).map_err(|e| self.err(e))?;
        let message: Outbound = serde_json::from_str(&get_s(1)?)
            .map_err(|e| self.corrupt(&format!("outbox {id}"), e))?;
        let state = get_s(5)?;
        let notice = get_s(13)?;
        let delivery = match (get_o(15)?.as_deref().and_then(DlrState::parse), get_o(16)?) {
            (Some(state), Some(status)) => Some(DeliveryStatus {
                state,
                status,
                reason: get_o(17)?,
                at: get_o(18)?.as_deref().and_then(parse_ts).unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(OutboxRow {
            delivery,
            notice: NoticeKind::parse(&notice).ok_or_else(|| {
                self.corrupt(&format!("outbox {id}"), format!("notice {notice:?}"))
            })?,
            level: level_of(get_o(14)?),
            id,
            message,
            event_id: get_s(2)?,
            alert_id: get_s(3)?,
            version: row.get(4).map_err(|e| self.err(e))?,
            state: OutboxState::parse(&state)
                .ok_or_else(|| self.corrupt(&format!("outbox {id}"), format!("state {state:?}")))?,
            attempts: row.get(6).map_err(|e| self.err(e))?,
            next_attempt_at: parse_ts(&get_s(7)?).unwrap_or_default(),
            lease_until: get_o(8)?.as_deref().and_then(parse_ts),
            created_at: parse_ts(&get_s(9)?).unwrap_or_default(),
            delivered_at: get_o(10)?.as_deref().and_then(parse_ts),
            gateway_id: get_o(11)?,
            last_error: get_o(12)?,
        })
    }

    fn write_subscriber(
        &self,
        tx: &rusqlite::Transaction<'_>,
        s: &Subscriber,
        now: DateTime<Utc>,
        create: bool,
    ) -> Result<bool, StoreError> {
        // Someone who opted out stays out, whatever the update or import says.
        let opted_out: bool = !create
            && tx
                .prepare_cached("SELECT opted_out_at IS NOT NULL FROM subscribers WHERE id = ?1")
                .and_then(|mut st| st.query_row(params![s.id], |r| r.get(0)))
                .optional()
                .map_err(|e| self.err(e))?
                .unwrap_or(false);
        let kept_out;
        let s = if opted_out && s.active {
            kept_out = Subscriber {
                active: false,
                ..s.clone()
            };
            &kept_out
        } else {
            s
        };
        let record = serde_json::to_string(s)
            .map_err(|e| self.corrupt(&format!("subscribers {}", s.id), e))?;
        let n = if create {
            // The token: 128 bits from SQLite's randomness (seeded from the OS).
            tx.prepare_cached(
                "INSERT INTO subscribers (id, record, active, unsubscribe_token, created_at, updated_at)
                 VALUES (?1, ?2, ?3, lower(hex(randomblob(16))), ?4, ?4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut st| st.execute(params![s.id, record, s.active, ts(now)]))
        } else {
            tx.prepare_cached(
                "UPDATE subscribers SET record = ?2, active = ?3, updated_at = ?4 WHERE id = ?1",
            )
            .and_then(|mut st| st.execute(params![s.id, record, s.active, ts(now)]))
        }
        .map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(false);
        }
        tx.prepare_cached("DELETE FROM subscriber_phones WHERE subscriber_id = ?1")
            .and_then(|mut st| st.execute(params![s.id]))
            .map_err(|e| self.err(e))?;
        for p in phones(s) {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO subscriber_phones (phone, subscriber_id) VALUES (?1, ?2)",
            )
            .and_then(|mut st| st.execute(params![p, s.id]))
            .map_err(|e| self.err(e))?;
            // A number an erased person had STOPped comes back in a spreadsheet: the
            // refusal, kept as a digest, becomes a plain opt-out again (the number is in
            // the store anyway now, held by this subscriber).
            let digest = optout_digest(p);
            tx.prepare_cached(
                "INSERT INTO sms_optouts (phone, at)
                 SELECT ?1, at FROM sms_optout_digests WHERE digest = ?2
                 ON CONFLICT (phone) DO NOTHING",
            )
            .and_then(|mut st| st.execute(params![p, digest]))
            .map_err(|e| self.err(e))?;
            tx.prepare_cached("DELETE FROM sms_optout_digests WHERE digest = ?1")
                .and_then(|mut st| st.execute(params![digest]))
                .map_err(|e| self.err(e))?;
        }
        Ok(true)
    }

    /// The subscriber `id` as stored, read inside the caller's transaction.
    fn subscriber_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &str,
    ) -> Result<Option<Subscriber>, StoreError> {
        let record: Option<String> = tx
            .query_row(
                "SELECT record FROM subscribers WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        record
            .map(|r| {
                serde_json::from_str(&r).map_err(|e| self.corrupt(&format!("subscribers {id}"), e))
            })
            .transpose()
    }

    fn set_inactive(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(mut s) = self.subscriber_in(tx, id)? else {
            return Ok(false);
        };
        s.active = false;
        // Messages still waiting (first try or a retry) are not sent to someone who has
        // left; one already handed to the worker (`sending`) may still go out.
        tx.execute(
            "UPDATE outbox SET state = 'failed', next_attempt_at = ?2,
                last_error = 'not sent: the subscriber was deactivated or opted out before delivery'
             WHERE subscriber_id = ?1 AND state = 'pending'",
            params![id, ts(now)],
        )
        .map_err(|e| self.err(e))?;
        self.write_subscriber(tx, &s, now, false)
    }

    /// Deactivates `id` as the subscriber's own choice (kept through updates). `by`
    /// records why when given: "link" (the e-mail link: only an admin undoes it) or
    /// "sms" (a STOP that left them no channel: a START undoes it); `None` keeps the
    /// cause already recorded.
    fn set_opted_out(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &str,
        now: DateTime<Utc>,
        by: Option<&str>,
    ) -> Result<bool, StoreError> {
        if !self.set_inactive(tx, id, now)? {
            return Ok(false);
        }
        tx.execute(
            "UPDATE subscribers SET opted_out_at = COALESCE(opted_out_at, ?2),
                opted_out_by = COALESCE(?3, opted_out_by) WHERE id = ?1",
            params![id, ts(now), by],
        )
        .map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// Writes planned messages inside the caller's transaction; how many were new.
    fn enqueue_tx(
        &self,
        tx: &rusqlite::Transaction<'_>,
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO outbox (idempotency_key, subscriber_id, event_id, alert_id, version,
                    channel, notice, level, alert_sent, message, state, attempts, next_attempt_at,
                    created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', 0, ?11, ?11)
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .map_err(|e| self.err(e))?;
        for p in planned {
            let m = &p.outbound;
            let message = serde_json::to_string(m)
                .map_err(|e| self.corrupt(&format!("outbox {}", m.idempotency_key), e))?;
            n += stmt
                .execute(params![
                    m.idempotency_key,
                    m.subscriber_id,
                    p.event_id,
                    p.alert_id,
                    p.version,
                    m.kind().as_str(),
                    p.notice.as_str(),
                    p.level.map(|l| l.name_en()),
                    ts(p.alert_sent),
                    message,
                    ts(now),
                ])
                .map_err(|e| self.err(e))?;
        }
        Ok(n)
    }
}

impl NotifyStore for SqliteStore {
    fn create_subscriber(&self, s: &Subscriber, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let created = self.write_subscriber(&tx, s, now, true)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(created)
    }

    fn update_subscriber(&self, s: &Subscriber, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let updated = self.write_subscriber(&tx, s, now, false)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(updated)
    }

    fn subscriber(&self, id: &str) -> Result<Option<StoredSubscriber>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(&format!(
                "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = ?1"
            ))
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![id]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => Ok(Some(self.read_subscriber(r)?)),
            None => Ok(None),
        }
    }

    fn subscribers(&self, active_only: bool) -> Result<Vec<StoredSubscriber>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                &format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE active = 1 OR ?1 = 0 ORDER BY id"),
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![active_only]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            out.push(self.read_subscriber(r)?);
        }
        Ok(out)
    }

    fn deactivate_subscriber(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let done = self.set_inactive(&tx, id, now)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(done)
    }

    fn unsubscribe_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let id: Option<String> = tx
            .query_row(
                "SELECT id FROM subscribers WHERE unsubscribe_token = ?1",
                params![token],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(id) = &id {
            self.set_opted_out(&tx, id, now, Some("link"))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    fn unsubscribe_phone(&self, e164: &str, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let ids: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT subscriber_id FROM subscriber_phones WHERE phone = ?1 ORDER BY subscriber_id")
                .map_err(|e| self.err(e))?;
            stmt.query_map(params![e164], |r| r.get(0))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?
        };
        tx.execute(
            "INSERT INTO sms_optouts (phone, at) VALUES (?1, ?2) ON CONFLICT (phone) DO NOTHING",
            params![e164, ts(now)],
        )
        .map_err(|e| self.err(e))?;
        // SMS to this number still waiting are not sent after STOP. The outbound JSON holds
        // the number verbatim (E.164: '+' and digits, nothing LIKE treats specially).
        tx.execute(
            "UPDATE outbox SET state = 'failed', next_attempt_at = ?2,
                last_error = 'not sent: the number replied STOP before delivery'
             WHERE state = 'pending' AND channel = 'sms'
               AND instr(message, '\"' || ?1 || '\"') > 0",
            params![e164, ts(now)],
        )
        .map_err(|e| self.err(e))?;
        for id in &ids {
            let Some(s) = self.subscriber_in(&tx, id)? else {
                continue;
            };
            // Any channel left? Another number not opted out, an e-mail, a webhook.
            let mut left = false;
            for c in &s.channels {
                left |= match c {
                    Channel::Sms(p) => !tx
                        .query_row(
                            "SELECT EXISTS (SELECT 1 FROM sms_optouts WHERE phone = ?1)",
                            params![p],
                            |r| r.get::<_, bool>(0),
                        )
                        .map_err(|e| self.err(e))?,
                    Channel::Email(_) | Channel::Webhook(_) => true,
                };
            }
            if !left {
                // Only a subscriber active until this STOP owes their inactivity to it
                // (and gets it back with START); one deactivated by an editor or through
                // the e-mail link keeps that cause.
                let by = s.active.then_some("sms");
                self.set_opted_out(&tx, id, now, by)?;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(ids)
    }

    fn sms_optouts(&self) -> Result<BTreeSet<String>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached("SELECT phone FROM sms_optouts")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn opted_out(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT id, opted_out_at FROM subscribers WHERE opted_out_at IS NOT NULL",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, at) = row.map_err(|e| self.err(e))?;
            let at = parse_ts(&at).ok_or_else(|| self.corrupt("subscribers opted_out_at", &at))?;
            out.insert(id, at);
        }
        Ok(out)
    }

    fn reactivate_subscriber(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let Some(mut s) = self.subscriber_in(&tx, id)? else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE subscribers SET opted_out_at = NULL, opted_out_by = NULL WHERE id = ?1",
            params![id],
        )
        .map_err(|e| self.err(e))?;
        for p in phones(&s) {
            tx.execute("DELETE FROM sms_optouts WHERE phone = ?1", params![p])
                .map_err(|e| self.err(e))?;
        }
        s.active = true;
        self.write_subscriber(&tx, &s, now, false)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(true)
    }

    fn subscriber_counts(&self) -> Result<SubscriberCounts, StoreError> {
        let c = self.reader();
        c.query_row(
            "SELECT (SELECT COUNT(*) FROM subscribers WHERE active = 1),
                    (SELECT COUNT(*) FROM subscribers WHERE active = 0),
                    (SELECT COUNT(*) FROM sms_optouts)",
            [],
            |r| {
                Ok(SubscriberCounts {
                    active: r.get(0)?,
                    inactive: r.get(1)?,
                    sms_opted_out: r.get(2)?,
                })
            },
        )
        .map_err(|e| self.err(e))
    }

    fn import_subscribers(
        &self,
        subs: &[Subscriber],
        now: DateTime<Utc>,
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        for batch in subs.chunks(IMPORT_BATCH_ROWS) {
            // Admin work: waits for the pipeline's and the outbox's writes, and gives the
            // writer back after every batch, so a publication never waits for a whole
            // import (issue 17 finding 3).
            let mut c = self.admin_writer();
            let tx = c.transaction().map_err(|e| self.err(e))?;
            let mut done = ImportReport::default();
            for s in batch {
                if self.write_subscriber(&tx, s, now, true)? {
                    done.created += 1;
                } else if self.write_subscriber(&tx, s, now, false)? {
                    done.updated += 1;
                }
            }
            tx.commit().map_err(|e| self.err(e))?;
            report.created += done.created;
            report.updated += done.updated;
        }
        Ok(report)
    }

    fn last_sent(
        &self,
        event_id: &str,
        before_version: u32,
    ) -> Result<BTreeMap<String, LastSent>, StoreError> {
        let c = self.reader();
        // Latest version per subscriber; all channels of one version carry the same notice.
        let mut stmt = c
            .prepare_cached(
                "SELECT subscriber_id, level, alert_sent, version FROM outbox
                 WHERE event_id = ?1 AND version < ?2 AND state != 'failed'
                 ORDER BY subscriber_id, version",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![event_id, before_version], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (sub, level, at) = row.map_err(|e| self.err(e))?;
            let at = parse_ts(&at).ok_or_else(|| self.corrupt("outbox alert_sent", &at))?;
            // Ordered by version: the last one written wins.
            out.insert(
                sub,
                LastSent {
                    level: level_of(level),
                    at,
                },
            );
        }
        Ok(out)
    }

    fn enqueue(&self, planned: &[Planned], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let n = self.enqueue_tx(&tx, planned, now)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn complete_issuance_enqueue(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.complete_issuance_tx(&tx, issuance_id, assessments, alerts)?;
        let n = self.enqueue_tx(&tx, planned, now)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn publish_alert_enqueue(
        &self,
        alert: &NewAlert,
        planned: &[Planned],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        self.insert_alert(&tx, alert)?;
        let n = self.enqueue_tx(&tx, planned, now)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_s: f64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let lease_until = now + chrono::Duration::milliseconds((lease_s * 1000.0).round() as i64);
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        {
            let sql = format!(
                "UPDATE outbox SET state = 'sending', lease_until = ?2, attempts = attempts + 1
                 WHERE id IN (
                    SELECT id FROM outbox
                    WHERE (state = 'pending' AND next_attempt_at <= ?1)
                       OR (state = 'sending' AND lease_until <= ?1)
                    ORDER BY next_attempt_at, id LIMIT ?3)
                 RETURNING {OUTBOX_COLUMNS}"
            );
            let mut stmt = tx.prepare(&sql).map_err(|e| self.err(e))?;
            let mut rows = stmt
                .query(params![ts(now), ts(lease_until), limit])
                .map_err(|e| self.err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                out.push(self.read_outbox(r)?);
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    fn record_attempt(&self, a: &AttemptRecord) -> Result<(), StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let (outcome, code, gateway_id, answer) = match &a.outcome {
            AttemptOutcome::Delivered { gateway_id, status } => {
                ("delivered", None, gateway_id.clone(), status.clone())
            }
            AttemptOutcome::Retry {
                status_code, error, ..
            } => ("retry", *status_code, None, error.clone()),
            AttemptOutcome::Failed { status_code, error } => {
                ("failed", *status_code, None, error.clone())
            }
        };
        tx.execute(
            "INSERT INTO outbox_attempts (outbox_id, attempt, started_at, finished_at, outcome,
                status_code, gateway_id, answer)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                a.outbox_id,
                a.attempt,
                ts(a.started_at),
                ts(a.finished_at),
                outcome,
                code,
                gateway_id,
                answer
            ],
        )
        .map_err(|e| self.err(e))?;
        match &a.outcome {
            AttemptOutcome::Delivered { gateway_id, .. } => tx.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?2, gateway_id = ?3,
                    lease_until = NULL, last_error = NULL WHERE id = ?1",
                params![a.outbox_id, ts(a.finished_at), gateway_id],
            ),
            AttemptOutcome::Retry {
                error,
                next_attempt_at,
                ..
            } => tx.execute(
                // Only a claimed message goes back to the queue: one failed meanwhile (an
                // opt-out, an erasure) stays failed.
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, lease_until = NULL,
                    last_error = ?3 WHERE id = ?1 AND state = 'sending'",
                params![a.outbox_id, ts(*next_attempt_at), error],
            ),
            AttemptOutcome::Failed { error, .. } => tx.execute(
                "UPDATE outbox SET state = 'failed', lease_until = NULL, last_error = ?2
                 WHERE id = ?1 AND state != 'delivered'",
                params![a.outbox_id, error],
            ),
        }
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let c = self.reader();
        let t: Option<String> = c
            .query_row(
                "SELECT MIN(t) FROM (
                    SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'pending'
                    UNION ALL SELECT MIN(lease_until) FROM outbox WHERE state = 'sending')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(t.as_deref().and_then(parse_ts))
    }

    fn outbox(&self, event_id: Option<&str>) -> Result<Vec<OutboxRow>, StoreError> {
        let c = self.reader();
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ?1 IS NULL OR event_id = ?1 ORDER BY id"
        );
        let mut stmt = c.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![event_id]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            out.push(self.read_outbox(r)?);
        }
        Ok(out)
    }

    fn attempts(&self, outbox_id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT attempt, started_at, finished_at, outcome, status_code, gateway_id, answer
                 FROM outbox_attempts WHERE outbox_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![outbox_id], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<u16>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (attempt, started, finished, outcome, code, gw, answer) =
                row.map_err(|e| self.err(e))?;
            let started_at = parse_ts(&started).unwrap_or_default();
            let finished_at = parse_ts(&finished).unwrap_or_default();
            let outcome = match outcome.as_str() {
                "delivered" => AttemptOutcome::Delivered {
                    gateway_id: gw,
                    status: answer,
                },
                // The retry time lives on the outbox row; the attempt keeps its end.
                "retry" => AttemptOutcome::Retry {
                    status_code: code,
                    error: answer,
                    next_attempt_at: finished_at,
                },
                _ => AttemptOutcome::Failed {
                    status_code: code,
                    error: answer,
                },
            };
            out.push(AttemptRecord {
                outbox_id,
                attempt,
                started_at,
                finished_at,
                outcome,
            });
        }
        Ok(out)
    }

    fn outbox_counts(&self) -> Result<Vec<(ChannelKind, OutboxState, i64)>, StoreError> {
        let rows = self.grouped_counts(
            "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state ORDER BY 1, 2",
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(ch, st, n)| Some((ChannelKind::parse(&ch)?, OutboxState::parse(&st)?, n)))
            .collect())
    }

    fn attempt_counts(&self) -> Result<Vec<(ChannelKind, String, i64)>, StoreError> {
        let rows = self.grouped_counts(
            "SELECT o.channel, a.outcome, COUNT(*) FROM outbox_attempts a
             JOIN outbox o ON o.id = a.outbox_id GROUP BY 1, 2 ORDER BY 1, 2",
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(ch, outcome, n)| Some((ChannelKind::parse(&ch)?, outcome, n)))
            .collect())
    }

    fn record_delivery_report(
        &self,
        report: &DeliveryReport,
        now: DateTime<Utc>,
    ) -> Result<Option<DlrRecorded>, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        // The newest SMS with that id: a gateway's ids are unique, but a client reference
        // (the idempotency key) is matched too, for gateways that report by it.
        let found: Option<(i64, String, String, Option<String>)> = tx
            .query_row(
                "SELECT id, idempotency_key, message, dlr_state FROM outbox
                 WHERE channel = 'sms' AND (gateway_id = ?1 OR idempotency_key = ?1)
                 ORDER BY id DESC LIMIT 1",
                params![report.gateway_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((id, key, message, current)) = found else {
            return Ok(None);
        };
        // Gateways may quote the number in a status or reason: keep it out of the store
        // (and of the log line the caller writes from what is returned).
        let channel = serde_json::from_str::<Outbound>(&message)
            .ok()
            .map(|m| m.channel);
        let mask = |text: &str| -> String {
            match &channel {
                Some(c) => mask_number(text, c),
                None => text.to_string(),
            }
        };
        let status = mask(&report.status);
        let reason = report.reason.as_deref().map(mask);
        let current = current.as_deref().and_then(DlrState::parse);
        if let Some(cur) = current.filter(|c| c.is_final() && !report.state.is_final()) {
            return Ok(Some(DlrRecorded {
                outbox_id: id,
                idempotency_key: key,
                state: cur,
                applied: false,
                status,
                reason,
            }));
        }
        tx.execute(
            "UPDATE outbox SET dlr_state = ?2, dlr_status = ?3, dlr_reason = ?4, dlr_at = ?5
             WHERE id = ?1",
            params![id, report.state.as_str(), status, reason, ts(now)],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Some(DlrRecorded {
            outbox_id: id,
            idempotency_key: key,
            state: report.state,
            applied: true,
            status,
            reason,
        }))
    }

    fn delivery_report_counts(&self) -> Result<Vec<(Option<DlrState>, i64)>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT dlr_state, COUNT(*) FROM outbox
                 WHERE channel = 'sms' AND (state = 'delivered' OR dlr_state IS NOT NULL)
                 GROUP BY 1 ORDER BY 1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (state, n) = row.map_err(|e| self.err(e))?;
            match state {
                None => out.push((None, n)),
                Some(s) => {
                    if let Some(st) = DlrState::parse(&s) {
                        out.push((Some(st), n));
                    }
                }
            }
        }
        Ok(out)
    }

    fn erase_subscriber(
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

    fn resubscribe_phone(
        &self,
        e164: &str,
        now: DateTime<Utc>,
    ) -> Result<Resubscribed, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let plain = tx
            .execute("DELETE FROM sms_optouts WHERE phone = ?1", params![e164])
            .map_err(|e| self.err(e))?;
        let digest = tx
            .execute(
                "DELETE FROM sms_optout_digests WHERE digest = ?1",
                params![optout_digest(e164)],
            )
            .map_err(|e| self.err(e))?;
        let holders: Vec<(String, Option<String>)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT s.id, s.opted_out_by FROM subscriber_phones p
                     JOIN subscribers s ON s.id = p.subscriber_id
                     WHERE p.phone = ?1 ORDER BY s.id",
                )
                .map_err(|e| self.err(e))?;
            stmt.query_map(params![e164], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?
        };
        let mut out = Resubscribed {
            was_opted_out: plain + digest > 0,
            ..Resubscribed::default()
        };
        for (id, by) in holders {
            if by.as_deref() == Some("sms")
                && let Some(mut s) = self.subscriber_in(&tx, &id)?
            {
                tx.execute(
                    "UPDATE subscribers SET opted_out_at = NULL, opted_out_by = NULL WHERE id = ?1",
                    params![id],
                )
                .map_err(|e| self.err(e))?;
                s.active = true;
                self.write_subscriber(&tx, &s, now, false)?;
                out.reactivated.push(id.clone());
            }
            out.subscribers.push(id);
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
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
