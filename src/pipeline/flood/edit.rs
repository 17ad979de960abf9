//! Manual overrides of a flood event (issue 13), as for a cyclone's
//! ([`super::super::overrides`]): an editor's edit, and every later automatic proposal of
//! the event, set the overridden districts' levels on the flood assessment before the
//! version, the CAP (areas, severity from the event level), the document and the messages
//! are built from it, so they agree.

use std::collections::BTreeMap;

use super::super::{Applied, EditCtx, Pipeline, ProcessError};
use crate::alerts::assess_flood::FloodAssessment;
use crate::alerts::flood_cap::flood_districts_of;
use crate::alerts::versioning::PublishedDistrict;

impl Pipeline {
    /// Applies event `event_id`'s active overrides (and those `edit` is setting, which
    /// come first) to the flood assessment's district levels and event level; returns
    /// what was applied.
    pub(super) fn apply_flood_overrides(
        &self,
        event_id: &str,
        a: &mut FloodAssessment,
        edit: Option<&EditCtx>,
    ) -> Result<Applied, ProcessError> {
        let mut set = Vec::new();
        let applied = self.overrides_for(event_id, edit, |pcode, level| {
            set.push((pcode.to_string(), level));
            a.automatic_level(pcode)
        })?;
        a.set_district_levels(set);
        Ok(applied)
    }

    /// The districts a flood version puts on the ladder, named: a district set by hand
    /// that the flood does not reach takes its name and province from the layers.
    pub(super) fn flood_districts(
        &self,
        a: &FloodAssessment,
    ) -> BTreeMap<String, PublishedDistrict> {
        let mut districts = flood_districts_of(a);
        for (pcode, d) in &mut districts {
            if a.districts.iter().any(|x| &x.pcode == pcode) {
                continue;
            }
            if let Some(area) = self
                .layers
                .layers
                .districts
                .iter()
                .find(|x| &x.pcode == pcode)
            {
                d.name = area.name.clone();
                d.province_pcode = area.parent_pcode.clone();
            }
        }
        districts
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::super::overrides::AppliedOverride;
    use super::*;
    use crate::alerts::levels::Level;

    #[test]
    fn a_flood_document_gets_the_override_on_its_flood_district() {
        let mut doc = json!({
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"layer": "flood_station", "pcode": "MZ0202"}},
                {"type": "Feature", "properties": {"layer": "flood_district", "pcode": "MZ0202", "level": "red"}},
            ],
            "aviso": {"hazard": "flood"},
        });
        let mut applied = Applied::default();
        applied.districts.insert(
            "MZ0202".into(),
            AppliedOverride {
                id: None,
                level: Level::Red,
                reason: "o Changane galgou as margens".into(),
                by: "duty-officer".into(),
                expires_at: None,
                automatic: Some(Level::Yellow),
            },
        );
        applied.patch(&mut doc);
        let f = &doc["features"];
        assert!(f[0]["properties"].get("override").is_none(), "{doc}");
        assert_eq!(f[1]["properties"]["override"]["automatic_level"], "yellow");
        assert_eq!(doc["aviso"]["overrides"][0]["by"], "duty-officer");
    }
}
