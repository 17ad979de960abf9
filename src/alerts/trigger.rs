//! The anticipatory-action trigger for tropical cyclones in Mozambique.
//!
//! Encodes the rule of the OCHA/CERF anticipatory-action framework for Mozambique (signed
//! January 2026; summarised in ../shared/DOMAIN.md): the forecast "exposed area" of a storm
//! at ≥ 64 kt (cone cut at the 64 kt part of the forecast, plus the 64 kt quadrant radii)
//! overlaps any of 8 coastal provinces, on a forecast issued 120–96 h before landfall
//! (readiness) or 96–6 h before landfall (action); nothing starts in the last 6 h; the
//! season runs 1 October – 30 April. Every number is configuration
//! (config/default.toml `[trigger]`), versioned by `version`; this module only applies it.
//! Pure: no I/O.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::AlertsError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerConfig {
    /// Which signed framework these numbers come from; printed in every alert.
    pub version: String,
    /// 10-minute wind threshold of the exposed area, kt.
    pub threshold_kt: f64,
    /// ADM1 P-codes of the provinces the trigger watches.
    pub provinces: Vec<String>,
    /// Readiness window: hours before landfall, `[min, max]` (default 96–120).
    pub readiness_lead_h: [f64; 2],
    /// Action window: hours before landfall, `[min, max]` (default 6–96).
    pub action_lead_h: [f64; 2],
    /// Season as month-day bounds, "MM-DD" (default "10-01" to "04-30", wrapping the new year).
    pub season_start: String,
    pub season_end: String,
}

impl Default for TriggerConfig {
    fn default() -> Self {
        TriggerConfig {
            version: "OCHA/CERF Mozambique AA framework for tropical cyclones, January 2026"
                .to_string(),
            threshold_kt: 64.0,
            // Cabo Delgado, Nampula, Zambezia, Sofala, Inhambane, Gaza, Maputo, Maputo City
            // (OCHA COD-AB 2019 P-codes).
            provinces: [
                "MZ01", "MZ07", "MZ11", "MZ09", "MZ03", "MZ02", "MZ05", "MZ06",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            readiness_lead_h: [96.0, 120.0],
            action_lead_h: [6.0, 96.0],
            season_start: "10-01".to_string(),
            season_end: "04-30".to_string(),
        }
    }
}

fn parse_month_day(s: &str, key: &str) -> Result<(u32, u32), AlertsError> {
    let bad = || {
        AlertsError::Config(format!(
            "trigger.{key} = {s:?}: expected a month-day like \"10-01\""
        ))
    };
    let (m, d) = s.split_once('-').ok_or_else(bad)?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    let d: u32 = d.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    Ok((m, d))
}

impl TriggerConfig {
    pub fn validate(&self) -> Result<(), AlertsError> {
        parse_month_day(&self.season_start, "season_start")?;
        parse_month_day(&self.season_end, "season_end")?;
        for (key, w) in [
            ("readiness_lead_h", self.readiness_lead_h),
            ("action_lead_h", self.action_lead_h),
        ] {
            if !(w[0] >= 0.0 && w[0] < w[1]) {
                return Err(AlertsError::Config(format!(
                    "trigger.{key} = {w:?}: expected [min, max] with 0 ≤ min < max hours"
                )));
            }
        }
        if self.provinces.is_empty() {
            return Err(AlertsError::Config(
                "trigger.provinces is empty: name the ADM1 P-codes the trigger watches".into(),
            ));
        }
        Ok(())
    }

    /// True when `t` falls in the configured season (bounds inclusive, may wrap the year).
    pub fn in_season(&self, t: DateTime<Utc>) -> bool {
        let (Ok(start), Ok(end)) = (
            parse_month_day(&self.season_start, "season_start"),
            parse_month_day(&self.season_end, "season_end"),
        ) else {
            return true;
        };
        let md = (t.month(), t.day());
        if start <= end {
            start <= md && md <= end
        } else {
            md >= start || md <= end
        }
    }
}

/// Outcome of the trigger test for one forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerState {
    /// Exposed area over a watched province, 96–6 h before landfall.
    Action,
    /// Exposed area over a watched province, 120–96 h before landfall.
    Readiness,
    /// Exposed area over a watched province, but less than 6 h before landfall (or after):
    /// too late for anticipatory action; response takes over.
    TooLate,
    /// Exposed area over a watched province, but more than 120 h ahead.
    TooEarly,
    /// No exposed area (no forecast point ≥ 64 kt) or it misses every watched province.
    NotMet,
}

impl TriggerState {
    /// Label for people: Portuguese / English.
    pub fn label(self) -> &'static str {
        match self {
            TriggerState::Action => "ACÇÃO / action",
            TriggerState::Readiness => "PRONTIDÃO / readiness",
            TriggerState::TooLate => {
                "tarde demais para acção antecipatória / too late for anticipatory action"
            }
            TriggerState::TooEarly => "ainda cedo / too early",
            TriggerState::NotMet => "não activado / not met",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerStatus {
    pub state: TriggerState,
    pub version: String,
    /// Watched provinces the exposed area overlaps (P-codes).
    pub provinces_exposed: Vec<String>,
    /// The lead time used: hours from reference time to landfall (or, with no landfall
    /// in the forecast, to the first arrival of the threshold wind in a watched province).
    pub lead_time_h: Option<f64>,
    /// Which of the two the lead time refers to.
    pub lead_time_basis: Option<String>,
    pub in_season: bool,
    /// One sentence explaining the outcome, English.
    pub reason: String,
}

/// What the trigger test needs from the hazard and exposure steps.
pub struct TriggerInput<'a> {
    pub reference_time: DateTime<Utc>,
    /// Watched-province P-codes the exposed area overlaps.
    pub provinces_exposed: &'a [String],
    /// Landfall lead time in hours (None: no landfall in the forecast).
    pub landfall_lead_h: Option<f64>,
    /// True when the storm is already over land at the reference time.
    pub over_land_at_reference: bool,
    /// Earliest lead time at which the threshold wind reaches a watched province.
    pub first_arrival_lead_h: Option<f64>,
}

/// Applies the trigger rule.
///
/// Decision where the framework is silent: when the forecast has no landfall (a storm
/// skirting the coast) the lead time is taken to the first arrival of 64 kt winds in a
/// watched province, so a coast-parallel storm still triggers. A storm already over land
/// at the reference time has made landfall: `TooLate`.
pub fn evaluate(cfg: &TriggerConfig, input: &TriggerInput<'_>) -> TriggerStatus {
    let in_season = cfg.in_season(input.reference_time);
    let provinces_exposed = input.provinces_exposed.to_vec();
    let mk = |state, lead: Option<(f64, &str)>, reason: String| TriggerStatus {
        state,
        version: cfg.version.clone(),
        provinces_exposed: provinces_exposed.clone(),
        lead_time_h: lead.map(|l| l.0),
        lead_time_basis: lead.map(|l| l.1.to_string()),
        in_season,
        reason,
    };
    if provinces_exposed.is_empty() {
        return mk(
            TriggerState::NotMet,
            None,
            format!(
                "the {} kt exposed area does not overlap any watched province",
                cfg.threshold_kt
            ),
        );
    }
    if input.over_land_at_reference {
        return mk(
            TriggerState::TooLate,
            Some((0.0, "storm over land at reference time")),
            "the storm is already over land: landfall has happened".to_string(),
        );
    }
    let lead = match (input.landfall_lead_h, input.first_arrival_lead_h) {
        (Some(l), _) => (l, "landfall"),
        (None, Some(a)) => (a, "first arrival of threshold wind in a watched province"),
        (None, None) => {
            return mk(
                TriggerState::NotMet,
                None,
                "no landfall and no threshold wind over a watched province in the forecast"
                    .to_string(),
            );
        }
    };
    let l = lead.0;
    let [a0, a1] = cfg.action_lead_h;
    let [r0, r1] = cfg.readiness_lead_h;
    let (state, why) = if l < a0 {
        (
            TriggerState::TooLate,
            format!("{l:.0} h to {} is under {a0} h", lead.1),
        )
    } else if l <= a1 {
        (
            TriggerState::Action,
            format!("{l:.0} h to {} is within {a0}–{a1} h", lead.1),
        )
    } else if (r0..=r1).contains(&l) {
        (
            TriggerState::Readiness,
            format!("{l:.0} h to {} is within {r0}–{r1} h", lead.1),
        )
    } else {
        (
            TriggerState::TooEarly,
            format!("{l:.0} h to {} is beyond {r1} h", lead.1),
        )
    };
    let season = if in_season {
        ""
    } else {
        " (outside the trigger season)"
    };
    mk(
        state,
        Some(lead),
        format!(
            "exposed area over {}; {why}{season}",
            provinces_exposed.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn input<'a>(p: &'a [String], landfall: Option<f64>) -> TriggerInput<'a> {
        TriggerInput {
            reference_time: Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap(),
            provinces_exposed: p,
            landfall_lead_h: landfall,
            over_land_at_reference: false,
            first_arrival_lead_h: None,
        }
    }

    #[test]
    fn trigger_windows_follow_the_2026_framework() {
        let cfg = TriggerConfig::default();
        let p = vec!["MZ11".to_string()];
        let cases = [
            (130.0, TriggerState::TooEarly),
            (120.0, TriggerState::Readiness),
            (100.0, TriggerState::Readiness),
            (96.0, TriggerState::Action),
            (40.0, TriggerState::Action),
            (6.0, TriggerState::Action),
            (5.9, TriggerState::TooLate),
        ];
        for (lead, want) in cases {
            assert_eq!(
                evaluate(&cfg, &input(&p, Some(lead))).state,
                want,
                "{lead} h"
            );
        }
    }

    #[test]
    fn no_watched_province_exposed_means_not_met_whatever_the_lead() {
        let cfg = TriggerConfig::default();
        assert_eq!(
            evaluate(&cfg, &input(&[], Some(48.0))).state,
            TriggerState::NotMet
        );
    }

    #[test]
    fn season_wraps_the_new_year() {
        let cfg = TriggerConfig::default();
        let t = |m, d| Utc.with_ymd_and_hms(2024, m, d, 0, 0, 0).unwrap();
        assert!(cfg.in_season(t(12, 15)));
        assert!(cfg.in_season(t(3, 10)));
        assert!(cfg.in_season(t(4, 30)));
        assert!(!cfg.in_season(t(5, 1)));
        assert!(!cfg.in_season(t(9, 30)));
        assert!(cfg.in_season(t(10, 1)));
    }

    #[test]
    fn bad_windows_are_rejected_with_the_key() {
        let cfg = TriggerConfig {
            action_lead_h: [96.0, 6.0],
            ..TriggerConfig::default()
        };
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("action_lead_h"), "{e}");
    }
}
