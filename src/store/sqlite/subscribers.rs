//! [`SubscriberStore`] on the embedded SQLite store: the `subscribers` and
//! `subscriber_phones` tables of migration 2, the opt-outs of migration 3, the opt-back-ins
//! of migration 4; CSV imports in bounded batches. Erasure is in `erasure.rs`.
//!
//! Must not depend on the pipeline or the API.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, parse_ts, ts};
use crate::notify::subscriber::{Channel, Subscriber};
use crate::store::StoreError;
use crate::store::notify::{
    ErasureReport, ImportReport, Resubscribed, StoredSubscriber, SubscriberCounts, SubscriberStore,
};
use crate::store::personal::{optout_digest, phones};

/// Subscribers written per transaction by an import. Each batch holds the one SQLite
/// writer for a bounded time (about 70 ms for 500 rows with the indexes of migration 5
/// and synchronous=FULL, release build on the project's 2-core machine:
/// `cargo bench --bench import`), then lets a waiting publication in before the next.
pub const IMPORT_BATCH_ROWS: usize = 500;

const SUBSCRIBER_COLUMNS: &str =
    "id, record, unsubscribe_token, created_at, updated_at, opted_out_at";

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

    pub(super) fn write_subscriber(
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
    pub(super) fn subscriber_in(
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
}

impl SubscriberStore for SqliteStore {
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

    fn erase_subscriber(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ErasureReport>, StoreError> {
        self.erase(id, by, now)
    }
}
