//! The alert-level ladders and the rules that put a district on them: the cyclone ladder
//! (`[levels]`) and the flood ladder (`[flood_levels]`).
//!
//! Pure: rules come from configuration (config/default.toml `[[levels.rule]]`), never from
//! code, so INGD can change them without a release. Must not depend on I/O. The rules that
//! name a probability (issue 12), the basis of a level and the margin are in
//! `probability.rs`.

mod probability;

pub use probability::{
    DEFAULT_PROBABILITY_MARGIN, LevelBasis, PROBABILITY_THRESHOLDS_KT, PROBABILITY_WINDOWS_H,
    ProbabilityReason,
};

use serde::{Deserialize, Serialize};

use crate::alerts::AlertsError;
use crate::domain::FloodLevel;

/// The four-step ladder INGD bulletins use (verde / amarelo / laranja / vermelho).
///
/// Ordered: `Green < Yellow < Orange < Red`. "Green" means "watch": the district is inside
/// the forecast's uncertainty cone but no damaging wind is forecast in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Green,
    Yellow,
    Orange,
    Red,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Green, Level::Yellow, Level::Orange, Level::Red];

    /// The level's name in `lang` ("vermelho", "red").
    pub fn name(self, lang: crate::domain::Lang) -> &'static str {
        match lang {
            crate::domain::Lang::Pt => self.name_pt(),
            crate::domain::Lang::En => self.name_en(),
        }
    }

    pub fn name_pt(self) -> &'static str {
        match self {
            Level::Green => "verde",
            Level::Yellow => "amarelo",
            Level::Orange => "laranja",
            Level::Red => "vermelho",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Level::Green => "green",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
        }
    }

    /// What the level asks for, in Portuguese (shown to duty officers).
    pub fn meaning_pt(self) -> &'static str {
        match self {
            Level::Green => "vigilância: dentro do cone de incerteza, sem vento forte previsto",
            Level::Yellow => "atenção: ventos de tempestade tropical previstos",
            Level::Orange => "preparação: ventos fortes previstos; pré-posicionar meios",
            Level::Red => "prontidão máxima: ventos de ciclone previstos em breve",
        }
    }

    pub fn meaning_en(self) -> &'static str {
        match self {
            Level::Green => "watch: inside the uncertainty cone, no damaging wind forecast",
            Level::Yellow => "attention: tropical-storm-force winds forecast",
            Level::Orange => "prepare: strong winds forecast; pre-position resources",
            Level::Red => "maximum preparedness: cyclone-force winds forecast soon",
        }
    }

    /// Colour used on maps and in documents (ColorBrewer-like, readable on white).
    pub fn colour_hex(self) -> &'static str {
        match self {
            Level::Green => "#4caf50",
            Level::Yellow => "#ffd600",
            Level::Orange => "#ff8f00",
            Level::Red => "#d50000",
        }
    }
}

/// What a rule looks at in a district.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Hazard {
    /// The forecast wind swath of this 10-minute threshold (kt) touches the district.
    Wind { threshold_kt: f64 },
    /// The uncertainty cone touches the district.
    Cone,
    /// The probabilistic assessment (`[probabilistic]`, issue 12) gives the district
    /// P(wind ≥ `threshold_kt` (10-minute kt) within 0–`window_h` h) ≥ `min_probability`.
    /// Only raises a district above the level the official track gives it
    /// ([`LevelRules::with_probabilities`]); [`LevelRules::level_of`] ignores it.
    Probability {
        threshold_kt: f64,
        window_h: f64,
        min_probability: f64,
    },
}

/// One rule: "a district is at `level` when `hazard` reaches it within `max_lead_h` hours
/// of the forecast's reference time and at least `min_people` are at risk there".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelRule {
    pub level: Level,
    pub hazard: Hazard,
    /// Upper bound of the lead time (hours from reference time to the first arrival of the
    /// hazard in the district). `None`: any lead time.
    #[serde(default)]
    pub max_lead_h: Option<f64>,
    /// Minimum people at risk in the district for the rule to apply (0 = any).
    #[serde(default)]
    pub min_people: f64,
}

/// The ladder's rules; a district takes the highest level of any rule it matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelRules {
    /// A label identifying this rule set in every alert (e.g. "aviso default ladder v1").
    pub version: String,
    /// Hysteresis of probability rules (0–1, below every rule's `min_probability`): see
    /// [`DEFAULT_PROBABILITY_MARGIN`].
    #[serde(default = "default_probability_margin")]
    pub probability_margin: f64,
    pub rule: Vec<LevelRule>,
}

fn default_probability_margin() -> f64 {
    DEFAULT_PROBABILITY_MARGIN
}

impl Default for LevelRules {
    /// The default ladder (config/default.toml `[levels]` says the same, with sources).
    /// Official track:
    /// - red: cyclone-force (≥ 64 kt, 10-min) winds within 72 h. 64 kt is the 2026
    ///   anticipatory-action threshold; 72 h is the lead of the earlier AA framework and
    ///   roughly the last three days in which evacuation to accommodation centres is done.
    /// - orange: ≥ 64 kt beyond 72 h (up to the 120 h horizon), or ≥ 48 kt (severe
    ///   tropical storm: roofs and crops damaged) within 72 h: pre-position.
    /// - yellow: ≥ 34 kt (gale, moderate tropical storm) at any lead, or ≥ 48 kt beyond 72 h.
    /// - green: inside the uncertainty cone only: watch.
    ///
    /// Probabilities (raise only; the official track is the floor): red when
    /// P(≥ 64 kt, 0–72 h) ≥ 0.40; orange when P(≥ 64 kt, 0–120 h) ≥ 0.30 or
    /// P(≥ 48 kt, 0–72 h) ≥ 0.40; yellow when P(≥ 34 kt, 0–120 h) ≥ 0.30. Why these:
    /// docs/probabilistic.md, "Levels from probabilities".
    fn default() -> Self {
        let w = |t: f64| Hazard::Wind { threshold_kt: t };
        let p = |threshold_kt: f64, window_h: f64, min_probability: f64| Hazard::Probability {
            threshold_kt,
            window_h,
            min_probability,
        };
        let rule = |level, hazard, max_lead_h| LevelRule {
            level,
            hazard,
            max_lead_h,
            min_people: 0.0,
        };
        LevelRules {
            version: "aviso default ladder v2 (2026-12): official track + probabilities"
                .to_string(),
            probability_margin: DEFAULT_PROBABILITY_MARGIN,
            rule: vec![
                rule(Level::Red, w(64.0), Some(72.0)),
                rule(Level::Orange, w(64.0), None),
                rule(Level::Orange, w(48.0), Some(72.0)),
                rule(Level::Yellow, w(48.0), None),
                rule(Level::Yellow, w(34.0), None),
                rule(Level::Green, Hazard::Cone, None),
                rule(Level::Red, p(64.0, 72.0, 0.40), None),
                rule(Level::Orange, p(64.0, 120.0, 0.30), None),
                rule(Level::Orange, p(48.0, 72.0, 0.40), None),
                rule(Level::Yellow, p(34.0, 120.0, 0.30), None),
            ],
        }
    }
}

/// What the rules need to know about one district.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DistrictFacts {
    /// Per wind threshold (kt): lead time in hours of first arrival, and people at risk.
    pub wind: Vec<(f64, f64, f64)>,
    /// Lead time in hours at which the cone first reaches the district (0 when unknown).
    pub cone_lead_h: Option<f64>,
    /// People at risk at the lowest threshold (for `Cone` rules).
    pub people_in_cone: f64,
}

impl LevelRules {
    pub fn validate(&self) -> Result<(), AlertsError> {
        if self.rule.is_empty() {
            return Err(AlertsError::Config(
                "levels.rule is empty: at least one rule is needed".to_string(),
            ));
        }
        let m = self.probability_margin;
        if !(0.0..0.5).contains(&m) {
            return Err(AlertsError::Config(format!(
                "levels.probability_margin = {m}: must be at least 0 and below 0.5 (a probability)"
            )));
        }
        for (i, r) in self.rule.iter().enumerate() {
            if let Hazard::Wind { threshold_kt } = r.hazard
                && !(20.0..=200.0).contains(&threshold_kt)
            {
                return Err(AlertsError::Config(format!(
                    "levels.rule[{i}]: threshold_kt {threshold_kt} is outside 20..200 kt"
                )));
            }
            if let Hazard::Probability {
                threshold_kt,
                window_h,
                min_probability,
            } = r.hazard
            {
                probability::validate_probability_rule(
                    i,
                    threshold_kt,
                    window_h,
                    min_probability,
                    m,
                    r,
                )?;
            }
            if let Some(h) = r.max_lead_h
                && !(h >= 0.0 && h.is_finite())
            {
                return Err(AlertsError::Config(format!(
                    "levels.rule[{i}]: max_lead_h {h} must be a non-negative number of hours"
                )));
            }
            if r.min_people.is_nan() || r.min_people < 0.0 {
                return Err(AlertsError::Config(format!(
                    "levels.rule[{i}]: min_people {} must be ≥ 0",
                    r.min_people
                )));
            }
        }
        Ok(())
    }

    /// Wind thresholds the rules refer to (the hazard must compute these swaths).
    pub fn wind_thresholds(&self) -> Vec<f64> {
        let mut t: Vec<f64> = self
            .rule
            .iter()
            .filter_map(|r| match r.hazard {
                Hazard::Wind { threshold_kt } => Some(threshold_kt),
                Hazard::Cone | Hazard::Probability { .. } => None,
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t.dedup();
        t
    }

    /// The highest level whose rule the district matches, with the index of that rule.
    pub fn level_of(&self, facts: &DistrictFacts) -> Option<(Level, usize)> {
        let mut best: Option<(Level, usize)> = None;
        for (i, r) in self.rule.iter().enumerate() {
            let lead_ok = |lead: f64| r.max_lead_h.is_none_or(|m| lead <= m);
            let hit = match r.hazard {
                Hazard::Wind { threshold_kt } => facts.wind.iter().any(|&(t, lead, people)| {
                    (t - threshold_kt).abs() < 0.5 && lead_ok(lead) && people >= r.min_people
                }),
                Hazard::Cone => facts
                    .cone_lead_h
                    .is_some_and(|lead| lead_ok(lead) && facts.people_in_cone >= r.min_people),
                // Probabilities are not facts of the official track: see
                // `with_probabilities`.
                Hazard::Probability { .. } => false,
            };
            if hit && best.is_none_or(|(l, _)| r.level > l) {
                best = Some((r.level, i));
            }
        }
        best
    }
}

/// The flood ladder, beside the cyclone one: which alert level each flood level raises (`[flood_levels]` in the configuration; the cyclone ladder is `[levels]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodAlertLevels {
    pub bankfull: Level,
    pub moderate: Level,
    pub severe: Level,
}

impl Default for FloodAlertLevels {
    /// bankfull → yellow (attention), moderate → orange (pre-position), severe → red.
    fn default() -> Self {
        FloodAlertLevels {
            bankfull: Level::Yellow,
            moderate: Level::Orange,
            severe: Level::Red,
        }
    }
}

impl FloodAlertLevels {
    pub fn of(&self, l: FloodLevel) -> Level {
        match l {
            FloodLevel::Bankfull => self.bankfull,
            FloodLevel::Moderate => self.moderate,
            FloodLevel::Severe => self.severe,
        }
    }

    pub fn validate(&self) -> Result<(), AlertsError> {
        if !(self.bankfull <= self.moderate && self.moderate <= self.severe) {
            return Err(AlertsError::Config(
                "flood_levels must not fall as the flood level rises (bankfull ≤ moderate ≤ severe)"
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(wind: &[(f64, f64)]) -> DistrictFacts {
        DistrictFacts {
            wind: wind.iter().map(|&(t, l)| (t, l, 1000.0)).collect(),
            cone_lead_h: Some(0.0),
            people_in_cone: 1000.0,
        }
    }

    #[test]
    fn cyclone_force_wind_within_three_days_is_red() {
        let r = LevelRules::default();
        let f = facts(&[(34.0, 20.0), (48.0, 24.0), (64.0, 30.0)]);
        assert_eq!(r.level_of(&f).map(|x| x.0), Some(Level::Red));
    }

    #[test]
    fn cyclone_force_wind_beyond_three_days_is_only_orange() {
        let r = LevelRules::default();
        let f = facts(&[(34.0, 80.0), (48.0, 85.0), (64.0, 90.0)]);
        assert_eq!(r.level_of(&f).map(|x| x.0), Some(Level::Orange));
    }

    #[test]
    fn gale_only_is_yellow_and_cone_only_is_green() {
        let r = LevelRules::default();
        assert_eq!(
            r.level_of(&facts(&[(34.0, 10.0)])).map(|x| x.0),
            Some(Level::Yellow)
        );
        assert_eq!(r.level_of(&facts(&[])).map(|x| x.0), Some(Level::Green));
        let outside = DistrictFacts::default();
        assert_eq!(r.level_of(&outside), None);
    }

    #[test]
    fn min_people_keeps_empty_districts_off_the_ladder() {
        let mut r = LevelRules::default();
        for rule in &mut r.rule {
            rule.min_people = 1.0;
        }
        let f = DistrictFacts {
            wind: vec![(64.0, 10.0, 0.0)],
            cone_lead_h: Some(0.0),
            people_in_cone: 0.0,
        };
        assert_eq!(r.level_of(&f), None);
    }

    #[test]
    fn levels_are_ordered_from_green_to_red() {
        assert!(Level::Green < Level::Yellow && Level::Yellow < Level::Orange);
        assert!(Level::Orange < Level::Red);
    }
}
