//! The alert-level ladders and the rules that put a district on them: the cyclone ladder
//! (`[levels]`) and the flood ladder (`[flood_levels]`).
//!
//! Pure: rules come from configuration (config/default.toml `[[levels.rule]]`), never from
//! code, so INGD can change them without a release. Must not depend on I/O.

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

/// The thresholds (10-minute kt) a probability rule may name: those the probabilistic
/// assessment counts (issue 12: P(≥ 34/48/64 kt)).
pub const PROBABILITY_THRESHOLDS_KT: [f64; 3] = [34.0, 48.0, 64.0];

/// The cumulative windows (0 to N h) a probability rule may name (issue 12).
pub const PROBABILITY_WINDOWS_H: [f64; 4] = [24.0, 48.0, 72.0, 120.0];

/// The default hysteresis margin of probability rules (`[levels] probability_margin`):
/// a district a rule put on its level in the previous version keeps that level while P
/// stays above `min_probability - margin`. 0.05: with N realisations, P's sampling
/// standard error is sqrt(P(1-P)/N), 0.016 at P = 0.4 and N = 1,000 and 0.035 at
/// N = 200, so 0.05 covers about 3 standard errors at the default N (and more than one
/// at the smallest N the tests use), while a real change of the forecast (the hindcast
/// bins in docs/probabilistic.md are 0.1 wide) still moves a district. Seeds are fixed
/// per issuance, so the noise the margin absorbs is between issuances, not re-runs.
pub const DEFAULT_PROBABILITY_MARGIN: f64 = 0.05;

/// How a district's level was set: what the document tells the duty officer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LevelBasis {
    /// A rule on the official (deterministic) track: a swath or the cone.
    OfficialTrack,
    /// A probability rule holds: P ≥ its `min_probability`.
    Probability(ProbabilityReason),
    /// A probability rule kept the district on the level it had in the event's previous
    /// version: P dipped below `min_probability` but not below it minus the margin.
    Held(ProbabilityReason),
}

/// The probability rule behind a level, and the district's P.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbabilityReason {
    /// P(wind ≥ `threshold_kt` within 0–`window_h` h), 0–1.
    pub p: f64,
    pub threshold_kt: f64,
    pub window_h: f64,
    pub min_probability: f64,
    /// `min_probability - probability_margin`: the least P that keeps a level.
    pub keep_above: f64,
}

impl LevelBasis {
    /// "official_track", "probability" or "held" (the document's `level_basis`).
    pub fn code(&self) -> &'static str {
        match self {
            LevelBasis::OfficialTrack => "official_track",
            LevelBasis::Probability(_) => "probability",
            LevelBasis::Held(_) => "held",
        }
    }

    pub fn reason(&self) -> Option<&ProbabilityReason> {
        match self {
            LevelBasis::OfficialTrack => None,
            LevelBasis::Probability(r) | LevelBasis::Held(r) => Some(r),
        }
    }

    /// Why, in words (`lang`), for the duty officer: "P(≥ 64 kt em 0–72 h) = 46 % ≥ 40 %".
    pub fn explain(&self, lang: crate::domain::Lang) -> String {
        use crate::domain::Lang;
        let pct = |x: f64| format!("{:.0} %", x * 100.0);
        match (self, lang) {
            (LevelBasis::OfficialTrack, Lang::Pt) => "trajectória oficial".to_string(),
            (LevelBasis::OfficialTrack, Lang::En) => "official track".to_string(),
            (LevelBasis::Probability(r), Lang::Pt) => format!(
                "P(vento ≥ {} nós em 0–{} h) = {} ≥ {}",
                r.threshold_kt,
                r.window_h,
                pct(r.p),
                pct(r.min_probability)
            ),
            (LevelBasis::Probability(r), Lang::En) => format!(
                "P(wind ≥ {} kt within 0–{} h) = {} ≥ {}",
                r.threshold_kt,
                r.window_h,
                pct(r.p),
                pct(r.min_probability)
            ),
            (LevelBasis::Held(r), Lang::Pt) => format!(
                "nível mantido da versão anterior: P(vento ≥ {} nós em 0–{} h) = {}, abaixo de {} mas acima de {}",
                r.threshold_kt,
                r.window_h,
                pct(r.p),
                pct(r.min_probability),
                pct(r.keep_above)
            ),
            (LevelBasis::Held(r), Lang::En) => format!(
                "level kept from the previous version: P(wind ≥ {} kt within 0–{} h) = {}, below {} but above {}",
                r.threshold_kt,
                r.window_h,
                pct(r.p),
                pct(r.min_probability),
                pct(r.keep_above)
            ),
        }
    }
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
                validate_probability_rule(i, threshold_kt, window_h, min_probability, m, r)?;
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

    /// Every probability rule's threshold and window must be among those the
    /// probabilistic assessment counts (`[probabilistic] thresholds_kt`, `windows_h`), or
    /// the rule could never hold.
    pub fn check_counted(
        &self,
        thresholds_kt: &[f64],
        windows_h: &[f64],
    ) -> Result<(), AlertsError> {
        let has = |xs: &[f64], x: f64| xs.iter().any(|v| (v - x).abs() < 1e-9);
        for (i, r) in self.rule.iter().enumerate() {
            if let Hazard::Probability {
                threshold_kt,
                window_h,
                ..
            } = r.hazard
            {
                let key = format!("levels.rule[{i}].hazard.probability");
                if !has(thresholds_kt, threshold_kt) {
                    return Err(AlertsError::Config(format!(
                        "{key}.threshold_kt = {threshold_kt}: [probabilistic] thresholds_kt {thresholds_kt:?} does not count it"
                    )));
                }
                if !has(windows_h, window_h) {
                    return Err(AlertsError::Config(format!(
                        "{key}.window_h = {window_h}: [probabilistic] windows_h {windows_h:?} does not count it"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether any rule names a probability.
    pub fn has_probability_rules(&self) -> bool {
        self.rule
            .iter()
            .any(|r| matches!(r.hazard, Hazard::Probability { .. }))
    }

    /// A district's level once its probabilities are known: the highest of the level the
    /// official track gives it (`official`: level and rule index, from [`Self::level_of`])
    /// and of every probability rule that holds. Probability rules only ever RAISE a
    /// level: the official track is the floor (an RSMC forecast is the warning of record,
    /// and a sampled probability must never silence it).
    ///
    /// A rule holds when `p(threshold_kt, window_h)` ≥ its `min_probability`, or, when the
    /// district was at the rule's level or higher in the event's previous version
    /// (`previous`), when P ≥ `min_probability - probability_margin` (hysteresis: a level
    /// does not drop on sampling noise between issuances). `p` answers `None` when the
    /// assessment did not count that threshold and window (the rule cannot hold).
    ///
    /// Pure: the probabilities and the previous level come in as data.
    pub fn with_probabilities(
        &self,
        official: Option<(Level, usize)>,
        p: impl Fn(f64, f64) -> Option<f64>,
        previous: Option<Level>,
    ) -> Option<(Level, usize, LevelBasis)> {
        let mut best = official.map(|(l, i)| (l, i, LevelBasis::OfficialTrack));
        for (i, r) in self.rule.iter().enumerate() {
            let Hazard::Probability {
                threshold_kt,
                window_h,
                min_probability,
            } = r.hazard
            else {
                continue;
            };
            let Some(pv) = p(threshold_kt, window_h) else {
                continue;
            };
            let reason = ProbabilityReason {
                p: pv,
                threshold_kt,
                window_h,
                min_probability,
                keep_above: min_probability - self.probability_margin,
            };
            let basis = if pv >= min_probability {
                LevelBasis::Probability(reason)
            } else if previous.is_some_and(|prev| prev >= r.level) && pv >= reason.keep_above {
                LevelBasis::Held(reason)
            } else {
                continue;
            };
            // Strictly higher only: at an equal level the official track (or the first
            // rule listed) keeps the say.
            if best.is_none_or(|(l, _, _)| r.level > l) {
                best = Some((r.level, i, basis));
            }
        }
        best
    }
}

/// The checks of one probability rule `levels.rule[i]`, each error naming the key.
fn validate_probability_rule(
    i: usize,
    threshold_kt: f64,
    window_h: f64,
    min_probability: f64,
    margin: f64,
    r: &LevelRule,
) -> Result<(), AlertsError> {
    let key = format!("levels.rule[{i}].hazard.probability");
    let err = |m: String| Err(AlertsError::Config(m));
    if !PROBABILITY_THRESHOLDS_KT.contains(&threshold_kt) {
        return err(format!(
            "{key}.threshold_kt = {threshold_kt}: must be 34, 48 or 64 (10-minute kt, the thresholds the probabilistic assessment counts)"
        ));
    }
    if !PROBABILITY_WINDOWS_H.contains(&window_h) {
        return err(format!(
            "{key}.window_h = {window_h}: must be 24, 48, 72 or 120 (h, the cumulative windows the probabilistic assessment counts)"
        ));
    }
    if !(min_probability > 0.0 && min_probability <= 1.0) {
        return err(format!(
            "{key}.min_probability = {min_probability}: must be in (0, 1] (0.40 is 40 %)"
        ));
    }
    if min_probability - margin <= 0.0 {
        return err(format!(
            "{key}.min_probability = {min_probability}: must exceed levels.probability_margin ({margin}), or the rule could never let a level drop"
        ));
    }
    if r.max_lead_h.is_some() {
        return err(format!(
            "levels.rule[{i}].max_lead_h: not used by a probability rule (its window_h bounds the lead time); remove it"
        ));
    }
    if r.min_people != 0.0 {
        return err(format!(
            "levels.rule[{i}].min_people: not used by a probability rule; remove it"
        ));
    }
    Ok(())
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

    /// P of one threshold and window, 0 elsewhere.
    fn only(t: f64, h: f64, pv: f64) -> impl Fn(f64, f64) -> Option<f64> {
        move |tt, hh| Some(if tt == t && hh == h { pv } else { 0.0 })
    }

    #[test]
    fn a_probability_rule_raises_but_never_lowers_the_official_level() {
        let r = LevelRules::default();
        // Official yellow (gales), P(≥64 kt, 72 h) = 0.45: red by probability.
        let got = r.with_probabilities(Some((Level::Yellow, 4)), only(64.0, 72.0, 0.45), None);
        assert_eq!(
            got.map(|g| (g.0, g.2.code())),
            Some((Level::Red, "probability"))
        );
        assert_eq!(got.and_then(|g| g.2.reason().map(|r| r.p)), Some(0.45));
        // Official red, every P zero: red stays, on the official track's rule.
        let got = r.with_probabilities(Some((Level::Red, 0)), |_, _| Some(0.0), None);
        assert_eq!(got, Some((Level::Red, 0, LevelBasis::OfficialTrack)));
        // Off the ladder, nothing probable: still off.
        assert_eq!(r.with_probabilities(None, |_, _| Some(0.0), None), None);
        // A threshold the assessment did not count cannot hold.
        assert_eq!(
            r.with_probabilities(Some((Level::Green, 5)), |_, _| None, None)
                .map(|g| g.0),
            Some(Level::Green)
        );
    }

    #[test]
    fn a_level_is_kept_within_the_margin_and_dropped_beyond_it() {
        let r = LevelRules::default();
        let m = r.probability_margin;
        let official = Some((Level::Orange, 1));
        // 0.40 - 0.03: below the red rule, within the margin of a district red before.
        let dip = only(64.0, 72.0, 0.40 - 0.6 * m);
        let kept = r.with_probabilities(official, &dip, Some(Level::Red));
        assert_eq!(kept.map(|g| (g.0, g.2.code())), Some((Level::Red, "held")));
        let why = kept.and_then(|g| g.2.reason().copied()).unwrap();
        assert!((why.keep_above - (0.40 - m)).abs() < 1e-12 && why.p < why.min_probability);
        // The same P for a district that was orange: not red.
        assert_eq!(
            r.with_probabilities(official, &dip, Some(Level::Orange))
                .map(|g| g.0),
            Some(Level::Orange)
        );
        // Beyond the margin: the red goes.
        let fall = only(64.0, 72.0, 0.40 - 1.5 * m);
        assert_eq!(
            r.with_probabilities(official, &fall, Some(Level::Red))
                .map(|g| g.0),
            Some(Level::Orange)
        );
    }

    fn parse(toml_rules: &str) -> Result<(), String> {
        let r: LevelRules =
            toml::from_str(&format!("version = \"t\"\n{toml_rules}")).map_err(|e| e.to_string())?;
        r.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn bad_probability_rules_are_refused_naming_the_key() {
        let rule = |body: &str| format!("[[rule]]\nlevel = \"red\"\n{body}\n");
        let good = "hazard = { probability = { threshold_kt = 64.0, window_h = 72.0, min_probability = 0.4 } }";
        assert_eq!(parse(&rule(good)), Ok(()));
        for (bad, key) in [
            (
                "hazard = { probability = { threshold_kt = 50.0, window_h = 72.0, min_probability = 0.4 } }",
                "levels.rule[0].hazard.probability.threshold_kt",
            ),
            (
                "hazard = { probability = { threshold_kt = 64.0, window_h = 96.0, min_probability = 0.4 } }",
                "levels.rule[0].hazard.probability.window_h",
            ),
            (
                "hazard = { probability = { threshold_kt = 64.0, window_h = 72.0, min_probability = 1.5 } }",
                "levels.rule[0].hazard.probability.min_probability",
            ),
            (
                "hazard = { probability = { threshold_kt = 64.0, window_h = 72.0, min_probability = 0.0 } }",
                "levels.rule[0].hazard.probability.min_probability",
            ),
            (
                "hazard = { probability = { threshold_kt = 64.0, window_h = 72.0, min_probability = 0.03 } }",
                "levels.probability_margin",
            ),
            (
                &format!("{good}\nmax_lead_h = 24.0"),
                "levels.rule[0].max_lead_h",
            ),
        ] {
            let e = parse(&rule(bad)).unwrap_err();
            assert!(e.contains(key), "{bad}: {e}");
        }
        let e = parse(&format!("probability_margin = 0.7\n{}", rule(good))).unwrap_err();
        assert!(e.contains("levels.probability_margin"), "{e}");
        // A misspelt key is refused by the parser, naming it.
        let e = parse(&rule(
            "hazard = { probability = { threshold_kt = 64.0, window_h = 72.0, min_p = 0.4 } }",
        ))
        .unwrap_err();
        assert!(e.contains("min_p"), "{e}");
    }

    #[test]
    fn levels_are_ordered_from_green_to_red() {
        assert!(Level::Green < Level::Yellow && Level::Yellow < Level::Orange);
        assert!(Level::Orange < Level::Red);
    }
}
