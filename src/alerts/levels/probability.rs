//! The ladder's probability rules (issue 12 item 4): what they accept, how they raise a
//! district above the official track's level with a hysteresis margin against the
//! previous version, how a level is held while a version's probabilities are pending, and
//! how a district's level is explained to the duty officer.
//!
//! Pure: probabilities and previous levels come in as data. Must not depend on I/O.

use super::{Hazard, Level, LevelRule, LevelRules};
use crate::alerts::AlertsError;

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
    /// The version went out before this forecast's probabilities were ready: the district
    /// keeps the level a probability rule gave it in the event's previous version until
    /// they come (then the levels are decided again, and a new version follows if they
    /// differ), so a late result never makes a level drop and rise again.
    AwaitingProbabilities,
    /// A person set the level by hand (issue 13: an editor's manual override, with a
    /// reason, until it expires or an approver lifts it).
    Override,
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
            LevelBasis::AwaitingProbabilities => "held_pending",
            LevelBasis::Override => "override",
        }
    }

    pub fn reason(&self) -> Option<&ProbabilityReason> {
        match self {
            LevelBasis::OfficialTrack
            | LevelBasis::AwaitingProbabilities
            | LevelBasis::Override => None,
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
            (LevelBasis::Override, Lang::Pt) => "nível fixado manualmente".to_string(),
            (LevelBasis::Override, Lang::En) => "level set by hand".to_string(),
            (LevelBasis::AwaitingProbabilities, Lang::Pt) => {
                "nível de probabilidade da versão anterior, mantido até chegarem as probabilidades desta previsão".to_string()
            }
            (LevelBasis::AwaitingProbabilities, Lang::En) => {
                "the previous version's probability level, kept until this forecast's probabilities come".to_string()
            }
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

impl LevelRules {
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

    /// A district's level while this forecast's probabilities are still being computed
    /// (the version is published before them): the official track's level, or
    /// `previous_by_probability`, the level a probability rule gave the district in the
    /// event's previous version, when that is higher (basis
    /// [`LevelBasis::AwaitingProbabilities`], on the first probability rule of that
    /// level; none left in the ladder: no hold). Without it a version published before its
    /// probabilities would drop such a district and the late result raise it again.
    pub fn while_pending(
        &self,
        official: Option<(Level, usize)>,
        previous_by_probability: Option<Level>,
    ) -> Option<(Level, usize, LevelBasis)> {
        let official_basis = official.map(|(l, i)| (l, i, LevelBasis::OfficialTrack));
        let Some(prev) = previous_by_probability else {
            return official_basis;
        };
        if official.is_some_and(|(l, _)| l >= prev) {
            return official_basis;
        }
        let rule = self
            .rule
            .iter()
            .position(|r| r.level == prev && matches!(r.hazard, Hazard::Probability { .. }));
        match rule {
            Some(i) => Some((prev, i, LevelBasis::AwaitingProbabilities)),
            None => official_basis,
        }
    }
}

/// The checks of one probability rule `levels.rule[i]`, each error naming the key.
pub(super) fn validate_probability_rule(
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn while_pending_a_probability_level_of_the_previous_version_is_kept() {
        let r = LevelRules::default();
        let got = r.while_pending(Some((Level::Orange, 1)), Some(Level::Red));
        assert_eq!(
            got.map(|g| (g.0, g.2.code())),
            Some((Level::Red, "held_pending"))
        );
        assert!(matches!(
            r.rule[got.unwrap().1].hazard,
            Hazard::Probability { .. }
        ));
        // Not above the official level: the official track's.
        let got = r.while_pending(Some((Level::Red, 0)), Some(Level::Orange));
        assert_eq!(got, Some((Level::Red, 0, LevelBasis::OfficialTrack)));
        // Nothing from probabilities before: the official track's.
        assert_eq!(
            r.while_pending(Some((Level::Yellow, 4)), None),
            Some((Level::Yellow, 4, LevelBasis::OfficialTrack))
        );
        // A ladder without a probability rule at that level holds nothing.
        let mut only_official = r.clone();
        only_official
            .rule
            .retain(|x| !matches!(x.hazard, Hazard::Probability { .. }));
        assert_eq!(
            only_official
                .while_pending(Some((Level::Green, 5)), Some(Level::Red))
                .map(|g| g.0),
            Some(Level::Green)
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
}
