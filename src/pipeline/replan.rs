//! A published version's assessment (cyclone or flood) computed again from its stored issuance, for
//! what is derived from a version after it was published (the contingency plan served at
//! `/api/alerts/{id}/plan`, issue 14). The same parse and the same assessment as when the
//! version was published (`cyclone.rs`), at the time it was sent, so the districts, levels
//! and footprints are the version's. Nothing is stored or published here.

use chrono::DateTime;

use super::*;

impl Pipeline {
    /// The assessment of the issuance `issuance_id` as of `at` (the version's sent time).
    /// A flood issuance, or one that is gone from the store, is an error naming it.
    pub fn assess_stored(
        &self,
        issuance_id: i64,
        at: DateTime<Utc>,
    ) -> Result<Assessment, ProcessError> {
        let iss = self.store.issuance(issuance_id)?.ok_or_else(|| {
            ProcessError::Parse(format!("issuance {issuance_id} is not in the store"))
        })?;
        let feed = self.feed_config(&iss.raw.feed).cloned();
        if matches!(
            feed.as_ref().map(|f| f.kind),
            Some(FeedKind::FloodStations | FeedKind::FloodExtent | FeedKind::Gdacs)
        ) {
            return Err(ProcessError::Assess(format!(
                "issuance {issuance_id} of feed {} is not a cyclone track forecast",
                iss.raw.feed
            )));
        }
        let origin = format!("{} ({})", iss.raw.url, iss.raw.feed);
        let (parsed, _) = self.parse_cyclone(&iss, feed.as_ref(), &origin)?;
        let mut a = assess(&parsed.forecast, &self.layers, self.cfg.assessment(), at)
            .map_err(|e| ProcessError::Assess(format!("{origin}: {e}")))?;
        a.input_notes = parsed.notes;
        Ok(a)
    }

    /// A stored flood issuance's assessment computed again (station forecast bundle or
    /// flood map), as of `at`: what the plan of a flood version is made from.
    pub fn assess_stored_flood(
        &self,
        issuance_id: i64,
        at: DateTime<Utc>,
    ) -> Result<crate::alerts::assess_flood::FloodAssessment, ProcessError> {
        let iss = self.store.issuance(issuance_id)?.ok_or_else(|| {
            ProcessError::Parse(format!("issuance {issuance_id} is not in the store"))
        })?;
        self.assess_flood_issuance(&iss, at)
    }
}
