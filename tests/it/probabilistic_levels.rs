//! Levels from probabilities (issue 12 item 4) on the real Météo-France forecast of
//! Freddy (2023-03-10 00Z) and the shipped layers: probability rules raise districts the
//! official track leaves lower and never lower one; the hysteresis margin keeps a level
//! when P dips just below a rule's threshold and drops it beyond; the same issuance gives
//! the same levels (seed fixed per issuance); `aviso assess --probabilistic` writes the
//! raised levels; check-config refuses bad rules naming the key. The service's side is
//! `probabilistic_levels_service`. Expected values come from the probabilities and rules
//! themselves, never from a copied output.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use aviso::alerts::assess::{Assessment, apply_probabilities, assess};
use aviso::alerts::levels::{Hazard, Level, LevelRule, LevelRules};
use aviso::hazard::ensemble::{ProbabilisticAssessment, assess_probabilistic_seeded, event_seed};

use crate::common;
use crate::probabilistic::{Fixture, fixture};
use crate::probabilistic_service::{REALISATIONS, features};

/// The official track's assessment of the fixture's forecast (default ladder).
fn official(f: &Fixture) -> Assessment {
    assess(&f.freddy, &f.layers, f.cfg.assessment(), chrono::Utc::now()).unwrap()
}

/// P of `pcode` as the levels read it (absent from the counting: 0).
fn p(r: &ProbabilisticAssessment, pcode: &str, t: f64, h: f64) -> f64 {
    r.district_p(pcode, t, h).unwrap_or(0.0)
}

#[test]
fn probability_rules_raise_districts_the_official_track_leaves_lower_and_never_lower_one() {
    let Some(f) = fixture() else { return };
    let rules = &f.cfg.levels;
    assert!(rules.has_probability_rules(), "the default ladder has them");
    let base = official(f);
    let mut a = base.clone();
    apply_probabilities(&mut a, rules, &f.result, &BTreeMap::new());

    let mut raised = 0;
    for (pcode, l) in &a.levels {
        let before = base.levels.get(pcode);
        assert!(before.is_none_or(|b| l.level >= b.level), "{pcode} lowered");
        let rule = &rules.rule[l.rule];
        assert_eq!(
            rule.level, l.level,
            "{pcode}: the rule named is the level's"
        );
        assert!(
            a.exposure.districts.iter().any(|d| &d.pcode == pcode),
            "{pcode}: only the districts the official forecast reaches are considered"
        );
        match rule.hazard {
            Hazard::Probability {
                threshold_kt,
                window_h,
                min_probability,
            } => {
                raised += 1;
                assert!(
                    Some(l.level) > before.map(|b| b.level),
                    "{pcode}: a probability rule only raises"
                );
                let want = p(&f.result, pcode, threshold_kt, window_h);
                assert!(
                    want >= min_probability,
                    "{pcode}: {want} < {min_probability}"
                );
                assert_eq!(l.basis.code(), "probability", "{pcode}");
                assert_eq!(l.basis.reason().map(|r| r.p), Some(want), "{pcode}");
            }
            _ => {
                let b =
                    before.unwrap_or_else(|| panic!("{pcode}: official rule, no official level"));
                assert_eq!((l.level, l.rule), (b.level, b.rule), "{pcode}");
                assert_eq!(l.basis.code(), "official_track", "{pcode}");
            }
        }
    }
    assert!(
        raised > 0,
        "on Freddy 2023-03-10, P(≥ 64 kt within 72 h) reaches the red rule's threshold in districts the official 64 kt swath misses"
    );
    // Every rule that holds is satisfied, and no district sits below a rule it satisfies.
    for d in &a.exposure.districts {
        for r in &rules.rule {
            if let Hazard::Probability {
                threshold_kt,
                window_h,
                min_probability,
            } = r.hazard
                && p(&f.result, &d.pcode, threshold_kt, window_h) >= min_probability
            {
                assert!(a.levels[&d.pcode].level >= r.level, "{}", d.pcode);
            }
        }
    }
    assert!(a.event_level >= base.event_level);

    // The document tells the duty officer why, district by district.
    let doc = aviso::alerts::document::alert_document(&a, &f.layers.layers, 5);
    for feat in doc["features"].as_array().unwrap() {
        let pr = &feat["properties"];
        if pr["layer"] != "district" || pr["level"].is_null() {
            continue;
        }
        let pcode = pr["pcode"].as_str().unwrap();
        let l = &a.levels[pcode];
        assert_eq!(pr["level_basis"], l.basis.code(), "{pcode}");
        match l.basis.reason() {
            Some(r) => {
                assert_eq!(
                    pr["level_probability"].as_f64(),
                    Some((r.p * 1000.0).round() / 1000.0)
                );
                let pct = format!("{:.0} %", r.p * 100.0);
                assert!(
                    pr["level_reason_en"].as_str().unwrap().contains(&pct),
                    "{pr}"
                );
                assert!(
                    pr["level_reason_pt"].as_str().unwrap().contains(&pct),
                    "{pr}"
                );
            }
            None => {
                assert!(pr["level_probability"].is_null(), "{pr}");
                assert_eq!(pr["level_reason_en"], "official track");
            }
        }
    }
}

/// A ladder with the official rules of the default and one red probability rule.
fn with_red_rule(cfg: &LevelRules, min_probability: f64) -> LevelRules {
    let mut rules = cfg.clone();
    rules
        .rule
        .retain(|r| !matches!(r.hazard, Hazard::Probability { .. }));
    rules.rule.push(LevelRule {
        level: Level::Red,
        hazard: Hazard::Probability {
            threshold_kt: 64.0,
            window_h: 72.0,
            min_probability,
        },
        max_lead_h: None,
        min_people: 0.0,
    });
    rules.validate().unwrap();
    rules
}

/// The margin on real probabilities: the district below red on the official track with
/// the highest P(≥ 64 kt within 72 h), P. With the red rule's threshold just above P (P
/// "dipped" below it since the previous issuance, which had the district red), the
/// district stays red, "held"; with the threshold further above P than the margin, it
/// drops to its official level; a district not red before is never held.
#[test]
fn the_margin_keeps_a_level_when_p_dips_slightly_below_the_threshold_and_drops_it_beyond() {
    let Some(f) = fixture() else { return };
    let base = official(f);
    let (pcode, pv) = base
        .levels
        .iter()
        .filter(|(_, l)| l.level < Level::Red)
        .map(|(pc, _)| (pc.clone(), p(&f.result, pc, 64.0, 72.0)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(pv > 0.1, "{pcode}: a realistic P to work with, got {pv}");
    let margin = f.cfg.levels.probability_margin;
    let official_level = base.levels[&pcode].level;
    let level_with = |rules: &LevelRules, previous: Option<Level>| {
        let mut a = base.clone();
        let prev: BTreeMap<String, Level> =
            previous.map(|l| (pcode.clone(), l)).into_iter().collect();
        apply_probabilities(&mut a, rules, &f.result, &prev);
        let l = &a.levels[&pcode];
        (l.level, l.basis.code())
    };

    let just_above = with_red_rule(&f.cfg.levels, pv + margin / 2.0);
    assert_eq!(
        level_with(&just_above, Some(Level::Red)),
        (Level::Red, "held")
    );
    assert_eq!(
        level_with(&just_above, Some(official_level)).0,
        official_level,
        "not red before: not held"
    );
    assert_eq!(level_with(&just_above, None).0, official_level);

    let beyond = with_red_rule(&f.cfg.levels, pv + 1.5 * margin);
    assert_eq!(
        level_with(&beyond, Some(Level::Red)).0,
        official_level,
        "dropped"
    );

    // At or below P the rule holds outright, whatever came before.
    let at = with_red_rule(&f.cfg.levels, pv);
    assert_eq!(level_with(&at, None), (Level::Red, "probability"));
}

/// Seeds are fixed per issuance: the same issuance assessed twice (a restart, a replay)
/// gives the same probabilities and so the same levels, never a flap on sampling noise.
#[test]
fn the_same_issuance_gives_the_same_levels_twice() {
    let Some(f) = fixture() else { return };
    let mut pc = f.cfg.probabilistic.clone();
    pc.realisations = REALISATIONS;
    let storm = aviso::alerts::versioning::event_id(&f.freddy.storm);
    let seed = event_seed(&storm, f.freddy.reference_time);
    let run = || {
        let r =
            assess_probabilistic_seeded(&f.freddy, &f.prepared, &pc, &f.cfg.hazard, seed).unwrap();
        let mut a = official(f);
        apply_probabilities(&mut a, &f.cfg.levels, &r, &BTreeMap::new());
        a.levels
            .into_iter()
            .map(|(pc, l)| (pc, (l.level, l.rule)))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn check_config_refuses_bad_probability_rules_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |body: &str| {
        format!("[levels]\nversion = \"site\"\n\n[[levels.rule]]\nlevel = \"red\"\n{body}\n")
    };
    let prob = |t: &str, h: &str, m: &str| {
        format!(
            "hazard = {{ probability = {{ threshold_kt = {t}, window_h = {h}, min_probability = {m} }} }}"
        )
    };
    for (body, key) in [
        (
            rule(&prob("50.0", "72.0", "0.4")),
            "levels.rule[0].hazard.probability.threshold_kt",
        ),
        (
            rule(&prob("64.0", "96.0", "0.4")),
            "levels.rule[0].hazard.probability.window_h",
        ),
        (
            rule(&prob("64.0", "72.0", "1.2")),
            "levels.rule[0].hazard.probability.min_probability",
        ),
        (
            rule(&prob("64.0", "72.0", "0")),
            "levels.rule[0].hazard.probability.min_probability",
        ),
        (
            rule(&format!(
                "{}\nmax_lead_h = 72.0",
                prob("64.0", "72.0", "0.4")
            )),
            "levels.rule[0].max_lead_h",
        ),
        (
            rule(&prob("64.0", "72.0", "0.4")).replace(
                "version = \"site\"",
                "version = \"site\"\nprobability_margin = -0.1",
            ),
            "levels.probability_margin",
        ),
        (
            format!(
                "[probabilistic]\nwindows_h = [24.0, 48.0, 120.0]\n\n{}",
                rule(&prob("64.0", "72.0", "0.4"))
            ),
            "levels.rule[0].hazard.probability.window_h",
        ),
    ] {
        let p = dir.path().join("site.toml");
        std::fs::write(&p, &body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
            .args(["check-config", "--config", &p.display().to_string()])
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{body}\naccepted: {e}");
        assert!(e.contains(key) && e.contains("site.toml"), "{body}\n{e}");
    }
    // And a good one passes.
    let p = dir.path().join("site.toml");
    std::fs::write(&p, rule(&prob("64.0", "72.0", "0.4"))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["check-config", "--config", &p.display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `aviso assess --probabilistic` writes an alert whose levels read the probabilities it
/// wrote beside it, as the service's do: a district raised by a rule states the P of that
/// rule's threshold and window from the table, and every other district keeps the
/// official track's level.
#[test]
fn assess_with_probabilities_raises_levels_in_the_alert_it_writes() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let Some((cfg, _, official)) = common::freddy_on_shipped_layers() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("few.toml");
    std::fs::write(
        &config,
        format!("[probabilistic]\nrealisations = {REALISATIONS}\n"),
    )
    .unwrap();
    let (table, alert) = (dir.path().join("p.json"), dir.path().join("alert.geojson"));
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--config", &config.display().to_string()])
        .args(["assess", "--forecast", &forecast.display().to_string()])
        .args(["--layers", "layers", "--out", &alert.display().to_string()])
        .args(["--probabilistic", &table.display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&alert).unwrap()).unwrap();
    let r: Value = serde_json::from_slice(&std::fs::read(&table).unwrap()).unwrap();
    let index = |key: &str, x: f64| {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .position(|v| v.as_f64() == Some(x))
            .unwrap()
    };
    let mut raised = 0;
    for f in features(&doc, "district") {
        let pr = &f["properties"];
        let pcode = pr["pcode"].as_str().unwrap();
        let Some(level) = pr["level"].as_str() else {
            continue;
        };
        let was = official.levels[pcode].level;
        let rule = &cfg.levels.rule[pr["level_rule"].as_u64().unwrap() as usize];
        assert_eq!(rule.level.name_en(), level, "{pcode}");
        match rule.hazard {
            Hazard::Probability {
                threshold_kt,
                window_h,
                min_probability,
            } => {
                raised += 1;
                assert!(rule.level > was, "{pcode}: raised from {was:?}");
                assert_eq!(pr["level_basis"], "probability");
                let d = r["districts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|d| d["pcode"] == pcode)
                    .unwrap();
                let pv = d["probability"][index("thresholds_kt", threshold_kt)]
                    [index("windows_h", window_h)]
                .as_f64()
                .unwrap();
                assert!(pv >= min_probability, "{pcode}: {pv}");
                let stated = pr["level_probability"].as_f64().unwrap();
                assert!((stated - pv).abs() < 5e-4, "{pcode}: {stated} vs {pv}");
            }
            _ => {
                assert_eq!(rule.level, was, "{pcode}");
                assert_eq!(pr["level_basis"], "official_track");
            }
        }
    }
    assert!(raised > 0, "the default ladder raises some Freddy district");
}
