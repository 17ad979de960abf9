//! The right to fetch one feed for one cycle: what [`super::Store::lease_feed`] hands out
//! so that replicas on one shared database fetch each feed once at a time (issue 15).
//!
//! Must not depend on the pipeline or the API.

/// The right to fetch one feed for one cycle ([`super::Store::lease_feed`]); given back when
/// dropped. A lease from a store that serves one process only is always granted and holds
/// nothing.
pub struct FeedLease {
    release: Option<Box<dyn FnOnce() + Send>>,
}

impl FeedLease {
    /// A lease with nothing to give back (one process: nobody to exclude).
    pub fn local() -> FeedLease {
        FeedLease { release: None }
    }

    /// A lease that runs `release` when dropped (it must not block: drops happen in async
    /// code).
    pub fn new(release: impl FnOnce() + Send + 'static) -> FeedLease {
        FeedLease {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for FeedLease {
    fn drop(&mut self) {
        if let Some(r) = self.release.take() {
            r();
        }
    }
}

impl std::fmt::Debug for FeedLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedLease")
            .field("shared", &self.release.is_some())
            .finish()
    }
}
