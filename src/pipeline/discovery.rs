//! GDACS in the service: the storms it lists in the South-West Indian Ocean fill the
//! per-storm feed templates ([`Pipeline::targets`]), and survive a restart.

use super::*;

impl Pipeline {
    pub(super) fn process_gdacs(&self, iss: &StoredIssuance) -> Result<Vec<String>, ProcessError> {
        let origin = format!("{} ({})", iss.raw.url, iss.raw.feed);
        let feed = gdacs::parse_gdacs_rss(&iss.raw.bytes, &origin)
            .map_err(|e| ProcessError::Parse(e.to_string()))?;
        for w in &feed.warnings {
            // WARN: a GDACS item that could not be read is skipped.
            tracing::warn!(feed = %iss.raw.feed, "{w}");
        }
        let active: Vec<GdacsEvent> =
            gdacs::active_cyclones(&feed.events, &Basin::SOUTH_WEST_INDIAN)
                .into_iter()
                .cloned()
                .collect();
        let record = AssessmentRecord {
            event_id: format!("gdacs:{}", iss.raw.feed),
            event_name: "GDACS".into(),
            reference_time: None,
            max_level: None,
            districts_on_ladder: 0,
            figures: json!({
                "active_south_west_indian_cyclones": active.iter().map(|e| json!({
                    "event_id": e.event_id, "name": e.event_name, "lon": e.lon, "lat": e.lat,
                    "alert_level": e.alert_level,
                })).collect::<Vec<_>>(),
                "items": feed.events.len(),
                "warnings": feed.warnings.len(),
            }),
        };
        self.store.complete_issuance(iss.id, &[record], &[])?;
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = active;
        Ok(Vec::new())
    }

    /// Reloads the storms GDACS listed in the newest processed issuance (after a restart
    /// a 304 would otherwise leave the list empty).
    pub fn restore_discovered(&self) {
        for f in self.cfg.feeds.iter().filter(|f| f.kind == FeedKind::Gdacs) {
            if let Ok(Some(iss)) = self.store.latest_processed_issuance(&f.name)
                && let Ok(feed) = gdacs::parse_gdacs_rss(&iss.raw.bytes, &iss.raw.url)
            {
                *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) =
                    gdacs::active_cyclones(&feed.events, &Basin::SOUTH_WEST_INDIAN)
                        .into_iter()
                        .cloned()
                        .collect();
            }
        }
    }
}
