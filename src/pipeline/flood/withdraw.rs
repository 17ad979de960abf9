//! The Cancel or Error of a flood event (an expiry, or an approver's by hand, issue 13):
//! the version written from the event's last stored issuance, assessed again.

use super::*;

impl Pipeline {
    /// The Cancel or Error `v` of the flood event whose latest version is `s`, written
    /// from its last stored issuance `iss` assessed again, with `reason`.
    pub(in crate::pipeline) fn flood_withdrawal(
        &self,
        s: &AlertSummary,
        iss: &crate::store::StoredIssuance,
        v: &AlertVersion,
        now: DateTime<Utc>,
        reason: crate::store::Reason,
    ) -> Result<Built, ProcessError> {
        let cause = self.cyclone_cause(
            Some(s),
            s.status,
            s.reference_time.unwrap_or(now),
            &BTreeMap::new(),
        )?;
        let a = self.assess_flood_issuance(iss, now)?;
        let origin = Origin {
            feed: &s.feed,
            issuance_id: None,
            reason: Some(reason),
            cause: cause.as_ref(),
            applied: None,
        };
        self.flood_alert(&a, v, Some(s), origin)
    }
}
