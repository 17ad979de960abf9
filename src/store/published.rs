//! What is published now: the one current alert document that the API serves as the OGC
//! hazard collections and the map. The pipeline writes it; every request reads it.
//!
//! An in-memory board beside the durable store (issue 16 move 2): the pipeline publishes
//! here instead of calling into the API, and the API reads here instead of being called.
//! Must not depend on `api` or `pipeline`.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use serde_json::Value;

/// One published alert document.
#[derive(Debug)]
pub struct PublishedAlert {
    /// The alert's id (or the file it was read from), named in errors.
    pub id: String,
    /// The alert's GeoJSON document, as stored.
    pub document: Value,
}

/// The current alert, swapped whole: readers never see half of one.
#[derive(Debug, Default)]
pub struct Published {
    current: ArcSwapOption<PublishedAlert>,
}

impl Published {
    /// Makes `document` the current alert.
    pub fn publish(&self, id: impl Into<String>, document: Value) {
        self.current.store(Some(Arc::new(PublishedAlert {
            id: id.into(),
            document,
        })));
    }

    /// Withdraws the current alert: nothing is published.
    pub fn withdraw(&self) {
        self.current.store(None);
    }

    /// The current alert, if any.
    pub fn current(&self) -> Option<Arc<PublishedAlert>> {
        self.current.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_replaces_and_withdraw_clears() {
        let p = Published::default();
        assert!(p.current().is_none());
        p.publish("a", serde_json::json!({"n": 1}));
        let first = p.current();
        p.publish("b", serde_json::json!({"n": 2}));
        // A reader holding the first snapshot keeps it whole.
        assert_eq!(first.map(|a| a.id.clone()).as_deref(), Some("a"));
        assert_eq!(p.current().map(|a| a.document["n"].clone()), Some(2.into()));
        p.withdraw();
        assert!(p.current().is_none());
    }
}
