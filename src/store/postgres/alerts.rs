//! [`crate::store::Store`] on PostgreSQL, second half: alert versions (stored with their
//! issuance in one transaction), events, the late annex and the reads the API serves.
//!
//! Must not depend on the pipeline or the API.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio_postgres::Transaction;

use super::cache::{Key, Part};
use super::issuances::Params;
use super::{Inner, hazard_str};
use crate::alerts::versioning::CapStatus;
use crate::store::{
    AlertFilter, AlertRecord, AlertSummary, Annex, AssessmentRecord, EventSummary, NewAlert,
    ServedDocument, StoreError,
};

impl Inner {
    pub(super) async fn insert_alert(
        &self,
        tx: &Transaction<'_>,
        a: &NewAlert,
    ) -> Result<(), StoreError> {
        let s = &a.summary;
        let summary = serde_json::to_string(s).map_err(|e| self.corrupt(&s.id, e))?;
        let level = s.max_level.map(|l| l.name_en());
        let active = !s.msg_type.withdraws();
        self.exec(
            tx,
            "INSERT INTO events (event_id, event_name, hazard, status, latest_alert, versions, active)
             VALUES ($1, $2, $3, $4, $5, 1, $6)
             ON CONFLICT (event_id) DO UPDATE SET event_name = EXCLUDED.event_name,
                latest_alert = EXCLUDED.latest_alert, versions = events.versions + 1,
                active = EXCLUDED.active",
            &[
                &s.event_id,
                &s.event_name,
                &hazard_str(s.hazard),
                &s.status.as_str(),
                &s.id,
                &active,
            ],
        )
        .await?;
        self.exec(
            tx,
            "INSERT INTO alerts (id, event_id, version, msg_type, status, sent, max_level,
                issuance_id, summary, document, cap)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &s.id,
                &s.event_id,
                &i64::from(s.version),
                &s.msg_type.as_str(),
                &s.status.as_str(),
                &s.sent,
                &level,
                &s.issuance_id,
                &summary,
                &a.document,
                &a.cap,
            ],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn complete_issuance(
        &self,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.complete_issuance_tx(&tx, issuance_id, assessments, alerts)
            .await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// [`Inner::complete_issuance`] inside the caller's transaction (which the outbox's
    /// `complete_issuance_enqueue` also writes the version's messages in).
    pub(super) async fn complete_issuance_tx(
        &self,
        tx: &Transaction<'_>,
        issuance_id: i64,
        assessments: &[AssessmentRecord],
        alerts: &[NewAlert],
    ) -> Result<(), StoreError> {
        for a in assessments {
            let record = serde_json::to_string(a).map_err(|e| self.corrupt(&a.event_id, e))?;
            self.exec(
                tx,
                "INSERT INTO assessments (issuance_id, event_id, record) VALUES ($1, $2, $3)",
                &[&issuance_id, &a.event_id, &record],
            )
            .await?;
        }
        for a in alerts {
            self.insert_alert(tx, a).await?;
        }
        // `state = 'pending'`: a replica that processed it meanwhile wins; this one rolls
        // back (the transaction is dropped uncommitted) and publishes nothing twice.
        let n = self
            .exec(
                tx,
                "UPDATE issuances SET state = 'processed', processed_at = $2
                 WHERE id = $1 AND state = 'pending'",
                &[&issuance_id, &Utc::now()],
            )
            .await?;
        if n != 1 {
            return Err(self.corrupt(
                &format!("issuances {issuance_id}"),
                "is not pending: it was processed already or does not exist",
            ));
        }
        Ok(())
    }

    pub(super) async fn publish_alert(&self, alert: &NewAlert) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let c: &mut tokio_postgres::Client = &mut c;
        let tx = c.transaction().await.map_err(|e| self.err(e))?;
        self.insert_alert(&tx, alert).await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// (id, summary JSON) rows of `sql`, as summaries.
    pub(super) async fn summaries(
        &self,
        c: &tokio_postgres::Client,
        sql: &str,
        p: &Params<'_>,
    ) -> Result<Vec<AlertSummary>, StoreError> {
        let rows = c.query(sql, p).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0).map_err(|e| self.err(e))?;
                let json: String = r.try_get(1).map_err(|e| self.err(e))?;
                self.summary_of(&id, &json)
            })
            .collect()
    }

    /// The active flag of each summary: the latest version of an event not cancelled.
    pub(super) async fn with_active(
        &self,
        c: &tokio_postgres::Client,
        mut v: Vec<AlertSummary>,
    ) -> Result<Vec<AlertSummary>, StoreError> {
        let rows = c
            .query("SELECT latest_alert, active FROM events", &[])
            .await
            .map_err(|e| self.err(e))?;
        let mut latest = HashMap::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get(0).map_err(|e| self.err(e))?;
            let active: bool = r.try_get(1).map_err(|e| self.err(e))?;
            latest.insert(id, active);
        }
        for s in &mut v {
            s.active = latest.get(&s.id).copied().unwrap_or(false);
        }
        Ok(v)
    }

    pub(super) async fn latest_version(
        &self,
        event_id: &str,
    ) -> Result<Option<AlertSummary>, StoreError> {
        let c = self.conn().await?;
        let mut v = self
            .summaries(
                &c,
                "SELECT a.id, a.summary FROM events e JOIN alerts a ON a.id = e.latest_alert
                 WHERE e.event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(v.pop().map(|mut s| {
            s.active = !s.msg_type.withdraws();
            s
        }))
    }

    pub(super) async fn alerts(
        &self,
        filter: &AlertFilter,
    ) -> Result<Vec<AlertSummary>, StoreError> {
        let c = self.conn().await?;
        let sql = if filter.active_only {
            "SELECT a.id, a.summary FROM alerts a JOIN events e ON e.latest_alert = a.id
             WHERE e.active ORDER BY a.sent DESC, a.version DESC, a.id"
        } else {
            "SELECT id, summary FROM alerts ORDER BY sent DESC, version DESC, id"
        };
        let all = self.summaries(&c, sql, &[]).await?;
        let v = all.into_iter().filter(|s| filter.matches(s)).collect();
        self.with_active(&c, v).await
    }

    pub(super) async fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT a.summary, a.document, a.cap, x.document, x.attached_at
                 FROM alerts a LEFT JOIN alert_annexes x ON x.alert_id = a.id
                 WHERE a.id = $1",
                &[&id],
            )
            .await
            .map_err(|e| self.err(e))?;
        let Some(r) = row else {
            return Ok(None);
        };
        let json: String = r.try_get(0).map_err(|e| self.err(e))?;
        let document: String = r.try_get(1).map_err(|e| self.err(e))?;
        let cap: String = r.try_get(2).map_err(|e| self.err(e))?;
        let annex: Option<String> = r.try_get(3).map_err(|e| self.err(e))?;
        let attached_at: Option<DateTime<Utc>> = r.try_get(4).map_err(|e| self.err(e))?;
        let mut summary = self.summary_of(id, &json)?;
        // Active: the latest version of an event not cancelled (one indexed row, where
        // `with_active` reads every event for a list).
        summary.active = c
            .query_opt("SELECT active FROM events WHERE latest_alert = $1", &[&id])
            .await
            .map_err(|e| self.err(e))?
            .map(|r| r.try_get::<_, bool>(0))
            .transpose()
            .map_err(|e| self.err(e))?
            .unwrap_or(false);
        let annex = match (annex, attached_at) {
            (Some(document), Some(attached_at)) => Some(Annex {
                document,
                attached_at,
            }),
            _ => None,
        };
        Ok(Some(AlertRecord {
            summary,
            document,
            cap,
            annex,
        }))
    }

    /// What `/api/alerts/{id}` serves: which body is current is asked of the database
    /// every time (no TOASTed column read), the body itself comes from this replica's
    /// cache when it holds it under that name, else from the one column that has it.
    pub(super) async fn alert_document(
        &self,
        id: &str,
    ) -> Result<Option<ServedDocument>, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT a.sent, x.attached_at
                 FROM alerts a LEFT JOIN alert_annexes x ON x.alert_id = a.id
                 WHERE a.id = $1",
                &[&id],
            )
            .await
            .map_err(|e| self.err(e))?;
        let Some(r) = row else {
            return Ok(None);
        };
        let sent: DateTime<Utc> = r.try_get(0).map_err(|e| self.err(e))?;
        let attached_at: Option<DateTime<Utc>> = r.try_get(1).map_err(|e| self.err(e))?;
        let (key, sql) = match attached_at {
            None => (
                Key {
                    id: id.to_string(),
                    part: Part::Published,
                    stamp: sent.timestamp_micros(),
                },
                "SELECT document FROM alerts WHERE id = $1",
            ),
            Some(at) => (
                Key {
                    id: id.to_string(),
                    part: Part::Annex,
                    stamp: at.timestamp_micros(),
                },
                "SELECT document FROM alert_annexes WHERE alert_id = $1",
            ),
        };
        let Some(body) = self.cached_body(&c, key, sql, id).await? else {
            return Ok(None);
        };
        Ok(Some(ServedDocument {
            id: id.to_string(),
            sent,
            attached_at,
            body,
        }))
    }

    /// What `/api/alerts/{id}/cap` serves, as [`Inner::alert_document`] does.
    pub(super) async fn alert_cap(&self, id: &str) -> Result<Option<Bytes>, StoreError> {
        let c = self.conn().await?;
        let row = c
            .query_opt("SELECT sent FROM alerts WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.err(e))?;
        let Some(r) = row else {
            return Ok(None);
        };
        let sent: DateTime<Utc> = r.try_get(0).map_err(|e| self.err(e))?;
        let key = Key {
            id: id.to_string(),
            part: Part::Cap,
            stamp: sent.timestamp_micros(),
        };
        self.cached_body(&c, key, "SELECT cap FROM alerts WHERE id = $1", id)
            .await
    }

    /// The body under `key` from the cache, else read by `sql` (one text column of the
    /// row `id`) and kept. `None`: the row is gone (never, as versions are not deleted).
    async fn cached_body(
        &self,
        c: &tokio_postgres::Client,
        key: Key,
        sql: &str,
        id: &str,
    ) -> Result<Option<Bytes>, StoreError> {
        if let Some(body) = self.documents.get(&key) {
            return Ok(Some(body));
        }
        let Some(r) = c.query_opt(sql, &[&id]).await.map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let text: String = r.try_get(0).map_err(|e| self.err(e))?;
        let body = Bytes::from(text);
        self.documents.put(key, body.clone());
        Ok(Some(body))
    }

    pub(super) async fn attach_document(
        &self,
        id: &str,
        document: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let c = self.conn().await?;
        let n = c
            .execute(
                "INSERT INTO alert_annexes (alert_id, document, attached_at)
                 SELECT $1::TEXT, $2::TEXT, $3::TIMESTAMPTZ
                 WHERE EXISTS (SELECT 1 FROM alerts WHERE id = $1::TEXT)
                 ON CONFLICT (alert_id) DO NOTHING",
                &[&id, &document, &at],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    pub(super) async fn events(
        &self,
        include_non_actual: bool,
    ) -> Result<Vec<EventSummary>, StoreError> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT e.event_id, e.versions, e.active, a.id, a.summary, e.status
                 FROM events e JOIN alerts a ON a.id = e.latest_alert
                 ORDER BY e.active DESC, a.sent DESC, e.event_id",
                &[],
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for r in rows {
            let status: String = r.try_get(5).map_err(|e| self.err(e))?;
            if !include_non_actual && status != CapStatus::Actual.as_str() {
                continue;
            }
            let event_id: String = r.try_get(0).map_err(|e| self.err(e))?;
            let versions: i64 = r.try_get(1).map_err(|e| self.err(e))?;
            let active: bool = r.try_get(2).map_err(|e| self.err(e))?;
            let id: String = r.try_get(3).map_err(|e| self.err(e))?;
            let json: String = r.try_get(4).map_err(|e| self.err(e))?;
            let mut latest = self.summary_of(&id, &json)?;
            latest.active = active;
            out.push(EventSummary {
                event_id,
                event_name: latest.event_name.clone(),
                hazard: latest.hazard,
                active,
                versions: u32::try_from(versions)
                    .map_err(|e| self.corrupt(&format!("events {id}"), e))?,
                latest,
            });
        }
        Ok(out)
    }

    pub(super) async fn event_versions(
        &self,
        event_id: &str,
    ) -> Result<Vec<AlertSummary>, StoreError> {
        let c = self.conn().await?;
        let v = self
            .summaries(
                &c,
                "SELECT id, summary FROM alerts WHERE event_id = $1 ORDER BY version",
                &[&event_id],
            )
            .await?;
        self.with_active(&c, v).await
    }
}
