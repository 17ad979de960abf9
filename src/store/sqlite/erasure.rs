//! A subscriber's erasure on the embedded SQLite store (the `erasures` audit table and the
//! digests of migration 4); what a person's data become is `crate::store::personal`.
//!
//! Must not depend on the pipeline or the API.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, ts};
use crate::notify::outbound::Outbound;
use crate::store::StoreError;
use crate::store::notify::ErasureReport;
use crate::store::personal::{erased_key, erased_message, optout_digest, phones, scrub};

/// An outbox row as the erasure reads it: id, key, message, state, last error, DLR reason.
type ErasedRow = (i64, String, String, String, Option<String>, Option<String>);

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
