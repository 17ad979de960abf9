//! When an alert ends without a forecast saying so, and which forecasts may never become
//! one (issue 17): the 24 h storm and 48 h flood expiries, which cancel only on evidence
//! that the feed has moved on (never on silence or garbage), and the refusal of Actual
//! forecasts older than the configured age. Part of the pipeline room; it calls the
//! store and the publish step, nothing above.

use chrono::{DateTime, Duration, Utc};

use super::{Pipeline, ProcessError, published_alert};
use crate::alerts::assess::assess;
use crate::alerts::versioning::CapStatus;
use crate::config::FeedKind;
use crate::feeds::{self, ParseOptions};
use crate::store::{AlertFilter, AlertSummary, HazardKind};

impl Pipeline {
    /// Cancels the active events of `feed` that have had no new version for
    /// `expire_event_after_h` (floods: `flood.cap_expires_after_h`), when the feed has
    /// since delivered a newer usable forecast (see `feed_spoke_since`). Blocking;
    /// returns the ids of the Cancels published.
    pub fn expire_stale(&self, feed: &str) -> Vec<String> {
        self.expire_stale_at(feed, Utc::now())
    }

    /// [`Pipeline::expire_stale`] as if the clock read `now` (the Cancels are sent at
    /// `now`): how tests and drills check the 24 h and 48 h rules without waiting.
    pub fn expire_stale_at(&self, feed: &str, now: DateTime<Utc>) -> Vec<String> {
        let _guard = self.process_lock.lock().unwrap_or_else(|e| e.into_inner());
        let horizon = Duration::minutes((self.cfg.service.expire_event_after_h * 60.0) as i64);
        let active = match self.store.alerts(&AlertFilter {
            active_only: true,
            include_non_actual: true,
            ..AlertFilter::default()
        }) {
            Ok(a) => a,
            Err(e) => {
                // ERROR: no event can expire until the store answers.
                tracing::error!(error = %e, "listing active alerts failed");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for s in active {
            let own = s.feed == feed || s.feed.starts_with(&format!("{feed}:"));
            let due = match s.hazard {
                HazardKind::Flood => self.flood_is_stale(&s, now),
                HazardKind::TropicalCyclone => s.sent + horizon <= now,
            };
            if !own || !due {
                continue;
            }
            if !self.feed_spoke_since(&s) {
                // WARN: handled by design (no all-clear on silence), but the feed is silent.
                tracing::warn!(
                    version = %s.id,
                    feed = %s.feed,
                    since = %s.sent.format("%Y-%m-%dT%H:%MZ"),
                    "due to expire, but the feed has delivered no newer usable forecast: it stays in force (no all-clear on silence)"
                );
                continue;
            }
            match self.cancel_stale(&s, now) {
                Ok(Some(id)) => out.push(id),
                // Proposed: an approver decides the all-clear.
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(version = %s.id, error = %e, "cancelling a stale event failed")
                }
            }
        }
        if !out.is_empty() {
            self.refresh_current_alert();
        }
        out
    }

    /// Whether the feed of `s` has said, since `s` was published, what an expiry may
    /// rest on (issue 17): a forecast newer than the event's last one that parsed and was
    /// assessed (another storm's: this one is no longer in the feed), or, for a per-storm
    /// key of a GDACS-templated feed, a GDACS list processed since that no longer names the
    /// storm. A silent feed, or one serving garbage or the same old file, is no evidence
    /// that the storm is gone, and never cancels.
    fn feed_spoke_since(&self, s: &AlertSummary) -> bool {
        let (base, storm) = match s.feed.split_once(':') {
            Some((base, storm)) => (base, Some(storm)),
            None => (s.feed.as_str(), None),
        };
        let since = |feed: &str| match self.store.forecasts_since(feed, s.sent) {
            Ok(refs) => refs,
            Err(e) => {
                tracing::error!(feed = %feed, error = %e, "reading the feed's issuances failed");
                Vec::new()
            }
        };
        let newer = |r: &Option<DateTime<Utc>>| match (r, s.reference_time) {
            (Some(r), Some(last)) => *r > last,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if since(base).iter().any(newer) {
            return true;
        }
        let Some(storm) = storm else {
            return false;
        };
        let gdacs_spoke = self
            .cfg
            .feeds
            .iter()
            .filter(|f| f.kind == FeedKind::Gdacs)
            .any(|f| !since(&f.name).is_empty());
        gdacs_spoke
            && !self
                .discovered()
                .iter()
                .any(|e| e.storm_name.eq_ignore_ascii_case(storm))
    }

    fn cancel_stale(
        &self,
        s: &AlertSummary,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, ProcessError> {
        if s.hazard == HazardKind::Flood {
            return self.cancel_stale_flood(s, now);
        }
        // The CAP of a Cancel is written from an assessment: the event's last issuance,
        // assessed again (the raw bytes are kept for exactly this kind of need).
        let h = self.cfg.service.expire_event_after_h;
        let reason = crate::store::Reason {
            en: format!(
                "no new forecast of {} for {h} h while feed {} was healthy: the storm dissipated or left the feed",
                s.event_name, s.feed
            ),
            pt: format!(
                "sem nova previsão de {} há {h} h com o canal {} a funcionar: a tempestade dissipou-se ou saiu do canal",
                s.event_name, s.feed
            ),
        };
        self.publish_cancel(s, now, |iss, v| {
            self.cyclone_withdrawal(s, iss, v, now, reason)
        })
    }

    /// The Cancel or Error `v` of the cyclone event whose latest version is `s`, written
    /// from its last stored issuance `iss` assessed again (the CAP of a Cancel is written
    /// from an assessment; the raw bytes are kept for exactly this kind of need).
    pub(super) fn cyclone_withdrawal(
        &self,
        s: &AlertSummary,
        iss: &crate::store::StoredIssuance,
        v: &crate::alerts::versioning::AlertVersion,
        now: DateTime<Utc>,
        reason: crate::store::Reason,
    ) -> Result<super::publish::Built, ProcessError> {
        let opts = ParseOptions {
            atcf_tech: self.feed_config(&iss.raw.feed).and_then(|f| f.tech.clone()),
            ..ParseOptions::default()
        };
        let parsed = feeds::parse_with(&iss.raw.bytes, &iss.raw.url, &opts, self.bufr.as_ref())
            .map_err(|e| ProcessError::Parse(e.to_string()))?;
        let a = assess(&parsed.forecast, &self.layers, self.cfg.assessment(), now)
            .map_err(|e| ProcessError::Assess(e.to_string()))?;
        // A Cancel or Error: nothing to assess probabilistically.
        let off = crate::alerts::probabilistic::ProbabilisticOutcome::Off;
        let alert = self.new_alert(
            &a,
            v,
            Some(s),
            (&s.feed, None),
            Some(reason),
            &off,
            &super::Applied::default(),
        )?;
        Ok((alert, published_alert(v, &a)))
    }
}

/// Refuses an Actual forecast whose reference time is more than `max_age_h` hours before
/// `now` (issue 17: a feed serving a 2023 forecast put out a red Actual alert whose CAP
/// `expires` preceded its `sent`). Exercise and Test forecasts pass: replays and drills
/// are old on purpose and never reach the public.
pub(crate) fn refuse_stale(
    origin: &str,
    status: CapStatus,
    reference: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age_h: f64,
    key: &str,
) -> Result<(), ProcessError> {
    let age_h = (now - reference).num_seconds() as f64 / 3600.0;
    if status != CapStatus::Actual || age_h <= max_age_h {
        return Ok(());
    }
    Err(ProcessError::Stale(format!(
        "{origin}: the forecast of {} is {age_h:.0} h old when processed (limit {max_age_h} h, \
         {key}): refused as an Actual alert; the alerts in force stay as they are",
        reference.format("%Y-%m-%dT%H:%MZ")
    )))
}
