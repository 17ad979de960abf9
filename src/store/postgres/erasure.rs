//! A subscriber's erasure on PostgreSQL: the same transaction as on SQLite
//! (src/store/sqlite/erasure.rs; what the data become is `crate::store::personal`), then a
//! `VACUUM` of the tables it touched, PostgreSQL's counterpart of SQLite's WAL checkpoint:
//! the rows' old versions leave the table pages (they stay in the server's WAL files
//! until the server recycles them, which a non-superuser cannot force).
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};

use super::Inner;
use crate::notify::outbound::Outbound;
use crate::store::StoreError;
use crate::store::notify::ErasureReport;
use crate::store::personal::{erased_key, erased_message, optout_digest, phones, scrub};

impl Inner {
    /// [`crate::store::notify::SubscriberStore::erase_subscriber`]: see there.
    pub(super) async fn erase(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ErasureReport>, StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        let Some(sub) = self.subscriber_in(&tx, id).await? else {
            return Ok(None);
        };
        let mut report = ErasureReport::default();
        // STOPs: kept as digests unless another subscriber holds the number.
        for p in phones(&sub) {
            let shared: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM subscriber_phones
                        WHERE phone = $1 AND subscriber_id != $2)",
                    &[&p, &id],
                )
                .await
                .map_err(|e| self.err(e))?
                .try_get(0)
                .map_err(|e| self.err(e))?;
            if shared {
                continue;
            }
            let at: Option<DateTime<Utc>> = tx
                .query_opt(
                    "DELETE FROM sms_optouts WHERE phone = $1 RETURNING at",
                    &[&p],
                )
                .await
                .map_err(|e| self.err(e))?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(|e| self.err(e))?;
            if let Some(at) = at {
                self.exec(
                    &tx,
                    "INSERT INTO sms_optout_digests (digest, at) VALUES ($1, $2)
                     ON CONFLICT (digest) DO NOTHING",
                    &[&optout_digest(p), &at],
                )
                .await?;
                report.sms_optouts_kept += 1;
            }
        }
        // The outbox: every message of theirs keeps its row, loses the person. Locked, so
        // a replica's worker cannot record an attempt on one meanwhile.
        let rows = tx
            .query(
                "SELECT id, idempotency_key, message, state, last_error, dlr_reason
                 FROM outbox WHERE subscriber_id = $1 ORDER BY id FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(|e| self.err(e))?;
        for r in rows {
            let row: i64 = r.try_get(0).map_err(|e| self.err(e))?;
            let key: String = r.try_get(1).map_err(|e| self.err(e))?;
            let message: String = r.try_get(2).map_err(|e| self.err(e))?;
            let state: String = r.try_get(3).map_err(|e| self.err(e))?;
            let last_error: Option<String> = r.try_get(4).map_err(|e| self.err(e))?;
            let dlr_reason: Option<String> = r.try_get(5).map_err(|e| self.err(e))?;
            let m: Outbound = serde_json::from_str(&message)
                .map_err(|e| self.corrupt(&format!("outbox {row}"), e))?;
            let new_key = erased_key(&key, row);
            let scrubbed = serde_json::to_string(&erased_message(&m, &new_key))
                .map_err(|e| self.corrupt(&format!("outbox {row}"), e))?;
            let mut chans = sub.channels.clone();
            chans.push(m.channel.clone());
            let waiting = matches!(state.as_str(), "pending" | "sending");
            let last_error = if waiting {
                Some("not sent: the subscriber was erased before delivery".to_string())
            } else {
                last_error.map(|e| scrub(&e, &chans))
            };
            self.exec(
                &tx,
                "UPDATE outbox SET message = $2, idempotency_key = $3, last_error = $4,
                    dlr_reason = $5,
                    state = CASE WHEN state IN ('pending', 'sending') THEN 'failed' ELSE state END,
                    lease_until = NULL
                 WHERE id = $1",
                &[
                    &row,
                    &scrubbed,
                    &new_key,
                    &last_error,
                    &dlr_reason.map(|r| scrub(&r, &chans)),
                ],
            )
            .await?;
            report.messages_scrubbed += 1;
            report.messages_failed += usize::from(waiting);
            let answers = tx
                .query(
                    "SELECT id, answer FROM outbox_attempts WHERE outbox_id = $1",
                    &[&row],
                )
                .await
                .map_err(|e| self.err(e))?;
            for a in answers {
                let aid: i64 = a.try_get(0).map_err(|e| self.err(e))?;
                let answer: String = a.try_get(1).map_err(|e| self.err(e))?;
                self.exec(
                    &tx,
                    "UPDATE outbox_attempts SET answer = $2 WHERE id = $1",
                    &[&aid, &scrub(&answer, &chans)],
                )
                .await?;
                report.attempts_scrubbed += 1;
            }
        }
        self.exec(
            &tx,
            "DELETE FROM subscriber_phones WHERE subscriber_id = $1",
            &[&id],
        )
        .await?;
        self.exec(&tx, "DELETE FROM subscribers WHERE id = $1", &[&id])
            .await?;
        self.exec(
            &tx,
            "INSERT INTO erasures (subscriber_id, erased_at, erased_by, messages_failed,
                messages_scrubbed) VALUES ($1, $2, $3, $4, $5)",
            &[
                &id,
                &now,
                &by,
                &(report.messages_failed as i64),
                &(report.messages_scrubbed as i64),
            ],
        )
        .await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        // The old row versions stay in the pages until vacuumed. VACUUM removes those no
        // open transaction can still see (one an older snapshot of another session still
        // sees goes at the next autovacuum); `checkpointed` says it ran.
        report.checkpointed = c
            .batch_execute(
                "VACUUM subscribers, subscriber_phones, sms_optouts, outbox, outbox_attempts",
            )
            .await
            .is_ok();
        Ok(Some(report))
    }
}
