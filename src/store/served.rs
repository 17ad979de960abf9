//! What the alert routes serve of one stored version, and no more: the document
//! (`/api/alerts/{id}`) with what names it, or the CAP (`/api/alerts/{id}/cap`). A
//! [`super::Store`] answers each with the one column the route needs, where a whole
//! [`super::AlertRecord`] would read the document, the CAP and the annex every time
//! (issue 15: on PostgreSQL those are TOASTed, about 2 MB for a cyclone's document).
//!
//! The bodies are [`Bytes`]: axum sends them as they are, and a store that keeps them in
//! memory (`postgres::cache`) hands out the same buffer by reference count.
//!
//! Must not depend on the pipeline or the API.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::AlertRecord;

/// The document to serve for one version: the annexed one when a document was attached
/// after publication ([`super::Store::attach_document`]), else the one as published.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedDocument {
    /// The version's CAP identifier.
    pub id: String,
    /// When the version was sent (it never changes once published).
    pub sent: DateTime<Utc>,
    /// When the annex was attached, if one was: it is attached once and never changes.
    pub attached_at: Option<DateTime<Utc>>,
    /// The GeoJSON text.
    pub body: Bytes,
}

impl ServedDocument {
    /// The document a whole record serves (what a store without a narrower read answers).
    pub fn of(rec: AlertRecord) -> ServedDocument {
        let (attached_at, body) = match rec.annex {
            Some(a) => (Some(a.attached_at), a.document),
            None => (None, rec.document),
        };
        ServedDocument {
            id: rec.summary.id,
            sent: rec.summary.sent,
            attached_at,
            body: Bytes::from(body),
        }
    }

    /// Its HTTP entity tag: the same tag names the same bytes. A version never changes once
    /// published (its id and time name it); its document changes once, when the late
    /// annex is attached (issue 12), and the time of that names the second form.
    pub fn etag(&self) -> String {
        match self.attached_at {
            None => format!("\"{}-{}\"", self.id, self.sent.timestamp()),
            Some(at) => format!(
                "\"{}-{}-p{}\"",
                self.id,
                self.sent.timestamp(),
                at.timestamp_millis()
            ),
        }
    }
}
