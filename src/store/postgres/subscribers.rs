//! [`crate::store::notify::SubscriberStore`] on PostgreSQL, as async functions on the pool
//! (the synchronous trait is in notify.rs): the `subscribers`, `subscriber_phones` and
//! opt-out tables of migration 3. Same behaviour as the SQLite store method for method
//! (src/store/sqlite/subscribers.rs); each write is one transaction, so two replicas
//! answering STOP, the e-mail link or an admin at once leave the same state as one would.
//! Erasure is in erasure.rs.
//!
//! Must not depend on the pipeline or the API.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tokio_postgres::{Row, Transaction};

use super::Inner;
use crate::notify::subscriber::{Channel, Subscriber};
use crate::store::StoreError;
use crate::store::notify::{ImportReport, Resubscribed, StoredSubscriber, SubscriberCounts};
use crate::store::personal::{optout_digest, phones};

/// Subscribers written per transaction by an import: SQLite's figure
/// (`sqlite::subscribers::IMPORT_BATCH_ROWS`, 500). PostgreSQL's writers do not wait for
/// one another as SQLite's single writer does, but a bounded transaction still bounds the
/// row locks held and what a failure part-way leaves to redo.
const IMPORT_BATCH_ROWS: usize = 500;

const SUBSCRIBER_COLUMNS: &str =
    "id, record, unsubscribe_token, created_at, updated_at, opted_out_at";

impl Inner {
    fn read_subscriber(&self, r: &Row) -> Result<StoredSubscriber, StoreError> {
        let id: String = r.try_get(0).map_err(|e| self.err(e))?;
        let record: String = r.try_get(1).map_err(|e| self.err(e))?;
        let subscriber: Subscriber = serde_json::from_str(&record)
            .map_err(|e| self.corrupt(&format!("subscribers {id}"), e))?;
        Ok(StoredSubscriber {
            subscriber,
            unsubscribe_token: r.try_get(2).map_err(|e| self.err(e))?,
            created_at: r.try_get(3).map_err(|e| self.err(e))?,
            updated_at: r.try_get(4).map_err(|e| self.err(e))?,
            opted_out_at: r.try_get(5).map_err(|e| self.err(e))?,
        })
    }

    /// Creates (`create`) or updates a subscriber inside `tx`; `false` when the id exists
    /// (create) or is unknown (update). See the SQLite store's `write_subscriber`.
    pub(super) async fn write_subscriber(
        &self,
        tx: &Transaction<'_>,
        s: &Subscriber,
        now: DateTime<Utc>,
        create: bool,
    ) -> Result<bool, StoreError> {
        // Someone who opted out stays out, whatever the update or import says.
        let opted_out = !create
            && tx
                .query_opt(
                    "SELECT opted_out_at IS NOT NULL FROM subscribers WHERE id = $1",
                    &[&s.id],
                )
                .await
                .map_err(|e| self.err(e))?
                .map(|r| r.try_get::<_, bool>(0))
                .transpose()
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
            self.exec(
                tx,
                "INSERT INTO subscribers (id, record, active, unsubscribe_token, created_at, updated_at)
                 VALUES ($1, $2, $3, replace(gen_random_uuid()::text, '-', ''), $4, $4)
                 ON CONFLICT (id) DO NOTHING",
                &[&s.id, &record, &s.active, &now],
            )
            .await?
        } else {
            self.exec(
                tx,
                "UPDATE subscribers SET record = $2, active = $3, updated_at = $4 WHERE id = $1",
                &[&s.id, &record, &s.active, &now],
            )
            .await?
        };
        if n == 0 {
            return Ok(false);
        }
        self.exec(
            tx,
            "DELETE FROM subscriber_phones WHERE subscriber_id = $1",
            &[&s.id],
        )
        .await?;
        for p in phones(s) {
            self.exec(
                tx,
                "INSERT INTO subscriber_phones (phone, subscriber_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&p, &s.id],
            )
            .await?;
            // An erased person's STOP, kept as a digest, becomes a plain opt-out again.
            let digest = optout_digest(p);
            self.exec(
                tx,
                "INSERT INTO sms_optouts (phone, at)
                 SELECT $1, at FROM sms_optout_digests WHERE digest = $2
                 ON CONFLICT (phone) DO NOTHING",
                &[&p, &digest],
            )
            .await?;
            self.exec(
                tx,
                "DELETE FROM sms_optout_digests WHERE digest = $1",
                &[&digest],
            )
            .await?;
        }
        Ok(true)
    }

    /// The subscriber `id` as stored, read (and locked against a concurrent writer) inside
    /// the caller's transaction.
    pub(super) async fn subscriber_in(
        &self,
        tx: &Transaction<'_>,
        id: &str,
    ) -> Result<Option<Subscriber>, StoreError> {
        let row = tx
            .query_opt(
                "SELECT record FROM subscribers WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| {
            let record: String = r.try_get(0).map_err(|e| self.err(e))?;
            serde_json::from_str(&record).map_err(|e| self.corrupt(&format!("subscribers {id}"), e))
        })
        .transpose()
    }

    async fn set_inactive(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(mut s) = self.subscriber_in(tx, id).await? else {
            return Ok(false);
        };
        s.active = false;
        // Messages still waiting are not sent to someone who has left; one already claimed
        // by a worker (`sending`) may still go out.
        self.exec(
            tx,
            "UPDATE outbox SET state = 'failed', next_attempt_at = $2,
                last_error = 'not sent: the subscriber was deactivated or opted out before delivery'
             WHERE subscriber_id = $1 AND state = 'pending'",
            &[&id, &now],
        )
        .await?;
        self.write_subscriber(tx, &s, now, false).await
    }

    /// See the SQLite store's `set_opted_out`.
    async fn set_opted_out(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        now: DateTime<Utc>,
        by: Option<&str>,
    ) -> Result<bool, StoreError> {
        if !self.set_inactive(tx, id, now).await? {
            return Ok(false);
        }
        self.exec(
            tx,
            "UPDATE subscribers SET opted_out_at = COALESCE(opted_out_at, $2),
                opted_out_by = COALESCE($3, opted_out_by) WHERE id = $1",
            &[&id, &now, &by],
        )
        .await?;
        Ok(true)
    }

    /// `create_subscriber` (`create`) or `update_subscriber`, one transaction.
    pub(super) async fn put_subscriber(
        &self,
        s: &Subscriber,
        now: DateTime<Utc>,
        create: bool,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let done = self.write_subscriber(&tx, s, now, create).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(done)
    }

    pub(super) async fn subscribers(
        &self,
        id: Option<&str>,
        active_only: bool,
    ) -> Result<Vec<StoredSubscriber>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers
                     WHERE ($1::text IS NULL OR id = $1) AND (active OR NOT $2)
                     ORDER BY id"
                ),
                &[&id, &active_only],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.read_subscriber(r)).collect()
    }

    pub(super) async fn deactivate_subscriber(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let done = self.set_inactive(&tx, id, now).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(done)
    }

    pub(super) async fn unsubscribe_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let id: Option<String> = tx
            .query_opt(
                "SELECT id FROM subscribers WHERE unsubscribe_token = $1",
                &[&token],
            )
            .await
            .map_err(|e| self.err(e))?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| self.err(e))?;
        if let Some(id) = &id {
            self.set_opted_out(&tx, id, now, Some("link")).await?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Is `phone` on the SMS opt-out list (inside `tx`)?
    async fn opted_out_number(
        &self,
        tx: &Transaction<'_>,
        phone: &str,
    ) -> Result<bool, StoreError> {
        tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM sms_optouts WHERE phone = $1)",
            &[&phone],
        )
        .await
        .map_err(|e| self.err(e))?
        .try_get(0)
        .map_err(|e| self.err(e))
    }

    /// Ids of the subscribers holding `phone`, in id order.
    async fn holders(&self, tx: &Transaction<'_>, phone: &str) -> Result<Vec<String>, StoreError> {
        let rows = tx
            .query(
                "SELECT subscriber_id FROM subscriber_phones WHERE phone = $1 ORDER BY subscriber_id",
                &[&phone],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(|e| self.err(e)))
            .collect()
    }

    pub(super) async fn unsubscribe_phone(
        &self,
        e164: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let ids = self.holders(&tx, e164).await?;
        self.exec(
            &tx,
            "INSERT INTO sms_optouts (phone, at) VALUES ($1, $2) ON CONFLICT (phone) DO NOTHING",
            &[&e164, &now],
        )
        .await?;
        // SMS to this number still waiting are not sent after STOP (the outbound JSON holds
        // the number verbatim, quoted).
        self.exec(
            &tx,
            "UPDATE outbox SET state = 'failed', next_attempt_at = $2,
                last_error = 'not sent: the number replied STOP before delivery'
             WHERE state = 'pending' AND channel = 'sms'
               AND strpos(message, '\"' || $1 || '\"') > 0",
            &[&e164, &now],
        )
        .await?;
        for id in &ids {
            let Some(s) = self.subscriber_in(&tx, id).await? else {
                continue;
            };
            // Any channel left? Another number not opted out, an e-mail, a webhook.
            let mut left = false;
            for c in &s.channels {
                left |= match c {
                    Channel::Sms(p) => !self.opted_out_number(&tx, p).await?,
                    Channel::Email(_) | Channel::Webhook(_) => true,
                };
            }
            if !left {
                let by = s.active.then_some("sms");
                self.set_opted_out(&tx, id, now, by).await?;
            }
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(ids)
    }

    pub(super) async fn sms_optouts(&self) -> Result<BTreeSet<String>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query("SELECT phone FROM sms_optouts", &[])
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(|e| self.err(e)))
            .collect()
    }

    pub(super) async fn opted_out(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT id, opted_out_at FROM subscribers WHERE opted_out_at IS NOT NULL",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(|e| self.err(e))?,
                    r.try_get(1).map_err(|e| self.err(e))?,
                ))
            })
            .collect()
    }

    /// Clears `id`'s opt-out and makes them active inside `tx` (their record as read).
    async fn reactivate_in(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        mut s: Subscriber,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.exec(
            tx,
            "UPDATE subscribers SET opted_out_at = NULL, opted_out_by = NULL WHERE id = $1",
            &[&id],
        )
        .await?;
        s.active = true;
        self.write_subscriber(tx, &s, now, false).await.map(|_| ())
    }

    pub(super) async fn reactivate_subscriber(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let Some(s) = self.subscriber_in(&tx, id).await? else {
            return Ok(false);
        };
        for p in phones(&s) {
            self.exec(&tx, "DELETE FROM sms_optouts WHERE phone = $1", &[&p])
                .await?;
        }
        self.reactivate_in(&tx, id, s.clone(), now).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(true)
    }

    pub(super) async fn subscriber_counts(&self) -> Result<SubscriberCounts, StoreError> {
        let c = self.conn().await?;
        let r = c
            .query_one(
                "SELECT (SELECT COUNT(*) FROM subscribers WHERE active),
                        (SELECT COUNT(*) FROM subscribers WHERE NOT active),
                        (SELECT COUNT(*) FROM sms_optouts)",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(SubscriberCounts {
            active: r.try_get(0).map_err(|e| self.err(e))?,
            inactive: r.try_get(1).map_err(|e| self.err(e))?,
            sms_opted_out: r.try_get(2).map_err(|e| self.err(e))?,
        })
    }

    /// In batches of [`IMPORT_BATCH_ROWS`], one transaction each (as on SQLite: a failure
    /// part-way leaves the earlier batches written; importing again finishes it).
    pub(super) async fn import_subscribers(
        &self,
        subs: &[Subscriber],
        now: DateTime<Utc>,
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        for batch in subs.chunks(IMPORT_BATCH_ROWS) {
            let tx = c.transaction().await.map_err(|e| self.err(e))?;
            let mut done = ImportReport::default();
            for s in batch {
                if self.write_subscriber(&tx, s, now, true).await? {
                    done.created += 1;
                } else if self.write_subscriber(&tx, s, now, false).await? {
                    done.updated += 1;
                }
            }
            tx.commit().await.map_err(|e| self.err(e))?;
            report.created += done.created;
            report.updated += done.updated;
        }
        Ok(report)
    }

    pub(super) async fn resubscribe_phone(
        &self,
        e164: &str,
        now: DateTime<Utc>,
    ) -> Result<Resubscribed, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let plain = self
            .exec(&tx, "DELETE FROM sms_optouts WHERE phone = $1", &[&e164])
            .await?;
        let digest = self
            .exec(
                &tx,
                "DELETE FROM sms_optout_digests WHERE digest = $1",
                &[&optout_digest(e164)],
            )
            .await?;
        let rows = tx
            .query(
                "SELECT s.id, s.opted_out_by FROM subscriber_phones p
                 JOIN subscribers s ON s.id = p.subscriber_id
                 WHERE p.phone = $1 ORDER BY s.id",
                &[&e164],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Resubscribed {
            was_opted_out: plain + digest > 0,
            ..Resubscribed::default()
        };
        for r in rows {
            let id: String = r.try_get(0).map_err(|e| self.err(e))?;
            let by: Option<String> = r.try_get(1).map_err(|e| self.err(e))?;
            if by.as_deref() == Some("sms")
                && let Some(s) = self.subscriber_in(&tx, &id).await?
            {
                self.reactivate_in(&tx, &id, s, now).await?;
                out.reactivated.push(id.clone());
            }
            out.subscribers.push(id);
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(out)
    }
}
