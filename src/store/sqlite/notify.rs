//! [`NotifyStore`] on the embedded SQLite store: the `subscribers`, `outbox` and
//! `outbox_attempts` tables of migration 2.
//!
//! Claims are one `UPDATE ... RETURNING` inside the writer's transaction, so two workers
//! (threads or processes) never claim the same message while its lease runs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, parse_ts, ts};
use crate::alerts::levels::Level;
use crate::notify::outbound::{Outbound, Planned};
use crate::notify::select::{LastSent, NoticeKind};
use crate::notify::subscriber::{Channel, ChannelKind, Subscriber};
use crate::store::StoreError;
use crate::store::notify::{
    AttemptOutcome, AttemptRecord, ImportReport, NotifyStore, OutboxRow, OutboxState,
    StoredSubscriber, SubscriberCounts,
};
use crate::store::{AssessmentRecord, NewAlert};

/// Migration 2: subscribers and the outbox.
pub(super) const MIGRATION_2: &str = r#"
CREATE TABLE subscribers (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    active INTEGER NOT NULL,
    unsubscribe_token TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE subscriber_phones (
    phone TEXT NOT NULL,
    subscriber_id TEXT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    PRIMARY KEY (phone, subscriber_id)
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    subscriber_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    channel TEXT NOT NULL,
    notice TEXT NOT NULL,
    level TEXT,
    alert_sent TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    gateway_id TEXT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_event ON outbox (event_id, subscriber_id, version);
CREATE TABLE outbox_attempts (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id),
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    gateway_id TEXT,
    answer TEXT NOT NULL
);
CREATE INDEX outbox_attempts_row ON outbox_attempts (outbox_id, attempt);
"#;

/// Migration 3: opt-outs that outlive an update or an import. A subscriber who used the
/// e-mail link is marked (`opted_out_at`) and stays inactive until an admin reactivates
/// them; a number that replied STOP is kept in `sms_optouts`, so re-importing an operator's
/// spreadsheet that still lists it does not undo the person's refusal.
pub(super) const MIGRATION_3: &str = r#"
ALTER TABLE subscribers ADD COLUMN opted_out_at TEXT;
CREATE TABLE sms_optouts (
    phone TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
"#;

const SUBSCRIBER_COLUMNS: &str =
    "id, record, unsubscribe_token, created_at, updated_at, opted_out_at";

const OUTBOX_COLUMNS: &str = "id, message, event_id, alert_id, version, state, attempts, \
    next_attempt_at, lease_until, created_at, delivered_at, gateway_id, last_error, notice, level";

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
        Ok(OutboxRow {
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
                .query_row(
                    "SELECT opted_out_at IS NOT NULL FROM subscribers WHERE id = ?1",
                    params![s.id],
                    |r| r.get(0),
                )
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
            tx.execute(
                "INSERT INTO subscribers (id, record, active, unsubscribe_token, created_at, updated_at)
                 VALUES (?1, ?2, ?3, lower(hex(randomblob(16))), ?4, ?4)
                 ON CONFLICT (id) DO NOTHING",
                params![s.id, record, s.active, ts(now)],
            )
        } else {
            tx.execute(
                "UPDATE subscribers SET record = ?2, active = ?3, updated_at = ?4 WHERE id = ?1",
                params![s.id, record, s.active, ts(now)],
            )
        }
        .map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM subscriber_phones WHERE subscriber_id = ?1",
            params![s.id],
        )
        .map_err(|e| self.err(e))?;
        for p in phones(s) {
            tx.execute(
                "INSERT OR IGNORE INTO subscriber_phones (phone, subscriber_id) VALUES (?1, ?2)",
                params![p, s.id],
            )
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

    /// Deactivates `id` as the subscriber's own choice (kept through updates).
    fn set_opted_out(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if !self.set_inactive(tx, id, now)? {
            return Ok(false);
        }
        tx.execute(
            "UPDATE subscribers SET opted_out_at = COALESCE(opted_out_at, ?2) WHERE id = ?1",
            params![id, ts(now)],
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
            self.set_opted_out(&tx, id, now)?;
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
                self.set_opted_out(&tx, id, now)?;
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

    fn reactivate_subscriber(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let Some(mut s) = self.subscriber_in(&tx, id)? else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE subscribers SET opted_out_at = NULL WHERE id = ?1",
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
        let mut c = self.writer();
        let tx = c.transaction().map_err(|e| self.err(e))?;
        let mut report = ImportReport::default();
        for s in subs {
            if self.write_subscriber(&tx, s, now, true)? {
                report.created += 1;
            } else if self.write_subscriber(&tx, s, now, false)? {
                report.updated += 1;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
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
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, lease_until = NULL,
                    last_error = ?3 WHERE id = ?1 AND state != 'delivered'",
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
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state ORDER BY 1, 2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (ch, st, n) = row.map_err(|e| self.err(e))?;
            if let (Some(ch), Some(st)) = (ChannelKind::parse(&ch), OutboxState::parse(&st)) {
                out.push((ch, st, n));
            }
        }
        Ok(out)
    }

    fn attempt_counts(&self) -> Result<Vec<(ChannelKind, String, i64)>, StoreError> {
        let c = self.reader();
        let mut stmt = c
            .prepare_cached(
                "SELECT o.channel, a.outcome, COUNT(*) FROM outbox_attempts a
                 JOIN outbox o ON o.id = a.outbox_id GROUP BY 1, 2 ORDER BY 1, 2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (ch, outcome, n) = row.map_err(|e| self.err(e))?;
            if let Some(ch) = ChannelKind::parse(&ch) {
                out.push((ch, outcome, n));
            }
        }
        Ok(out)
    }
}
