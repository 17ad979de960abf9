//! Probabilistic wind (issue 12) on the real data: realisations of the Météo-France Freddy
//! forecast of 2023-03-10 and of the IBTrACS Freddy track replayed as a 120 h forecast,
//! counted on the shipped layers (159 districts, 24,602 settlements, health facilities,
//! places).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use chrono::{Duration, TimeZone, Utc};
use geo::{BoundingRect, Distance, Haversine};

use aviso::config::Config;
use aviso::domain::{Forecast, METRES_PER_NM};
use aviso::exposure::IndexedLayers;
use aviso::feeds::{self, ParseOptions, StormSelector};
use aviso::hazard::ensemble::{
    CountMethod, PreparedLayers, ProbabilisticAssessment, ProbabilisticConfig, SeedPolicy,
    assess_probabilistic, count_exceedances, count_exceedances_by, perturbed_realisations,
    unperturbed_realisation,
};

pub(crate) struct Fixture {
    pub(crate) cfg: Config,
    pub(crate) layers: IndexedLayers,
    pub(crate) prepared: PreparedLayers,
    pub(crate) freddy: Forecast,
    pub(crate) result: ProbabilisticAssessment,
}

/// Layers, the Freddy forecast and its 1,000-realisation assessment, made once per run.
pub(crate) fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let path = common::data_file(common::FREDDY_RSMC)?;
        let cfg = Config::embedded_default().unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
        let loaded = aviso::layers::load_layers(&manifest).unwrap();
        let layers = IndexedLayers::new(loaded.layers, &cfg.exposure);
        let prepared = PreparedLayers::new(
            &layers.layers,
            &cfg.exposure.weighting_layer,
            &cfg.probabilistic,
        );
        let bytes = std::fs::read(&path).unwrap();
        let freddy = feeds::parse_forecast(
            &bytes,
            &path.display().to_string(),
            &ParseOptions::default(),
        )
        .unwrap();
        let result =
            assess_probabilistic(&freddy, &prepared, &cfg.probabilistic, &cfg.hazard).unwrap();
        Some(Fixture {
            cfg,
            layers,
            prepared,
            freddy,
            result,
        })
    })
    .as_ref()
}

fn p(table: &[Vec<f64>], k: usize, w: usize) -> f64 {
    table[k][w]
}

#[test]
fn realisations_mean_position_error_matches_the_configured_figures_within_5_percent() {
    let Some(path) = common::data_file("tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv")
    else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let opts = ParseOptions {
        storm: StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..ParseOptions::default()
    };
    let track = feeds::parse_forecast(&bytes, &path.display().to_string(), &opts).unwrap();
    // Freddy in the Mozambique Channel, five days before its second landfall: a real
    // 120 h track to perturb (the RSMC sample only runs to 84 h).
    let at = Utc.with_ymd_and_hms(2023, 3, 5, 0, 0, 0).unwrap();
    let forecast = aviso::replay::issuance_at(&track, at, Duration::hours(120)).unwrap();
    let cfg = Config::embedded_default().unwrap();
    let land = aviso::hazard::ensemble::LandMask::from_areas(std::iter::empty(), 0.1);
    let pc = &cfg.probabilistic;
    let set = perturbed_realisations(&forecast, pc, &cfg.hazard, &land, 12).unwrap();
    let det = unperturbed_realisation(&forecast, pc, &cfg.hazard).unwrap();
    assert_eq!(set.realisations.len(), 1000);
    for (lead, want_nm) in pc.lead_h.iter().zip(&pc.mean_track_error_nm) {
        let centre = det
            .position_at(*lead)
            .unwrap_or_else(|| panic!("the replay reaches {lead} h"));
        let mean_nm = set
            .realisations
            .iter()
            .map(|r| Haversine.distance(centre, r.position_at(*lead).unwrap()) / METRES_PER_NM)
            .sum::<f64>()
            / set.realisations.len() as f64;
        let rel = (mean_nm - want_nm).abs() / want_nm;
        assert!(
            rel < 0.05,
            "{lead} h: mean error {mean_nm:.1} nm, configured {want_nm} nm ({:.1} %)",
            rel * 100.0
        );
    }
}

#[test]
fn probabilities_never_rise_with_the_threshold_never_fall_with_the_window_and_vanish_far_away() {
    let Some(f) = fixture() else { return };
    let r = &f.result;
    let (kn, wn) = (r.thresholds_kt.len(), r.windows_h.len());
    assert_eq!(r.thresholds_kt, vec![34.0, 48.0, 64.0]);
    let tables = r
        .districts
        .iter()
        .map(|d| (&d.pcode, &d.probability))
        .chain(r.provinces.iter().map(|d| (&d.pcode, &d.probability)))
        .chain(r.points.iter().map(|p| (&p.id, &p.probability)));
    let mut n = 0;
    for (id, t) in tables {
        n += 1;
        for w in 0..wn {
            for k in 1..kn {
                assert!(p(t, k - 1, w) >= p(t, k, w), "{id}: {t:?}");
            }
        }
        for k in 0..kn {
            for w in 1..wn {
                assert!(p(t, k, w) >= p(t, k, w - 1), "{id}: {t:?}");
            }
            assert!((0.0..=1.0).contains(&p(t, k, wn - 1)), "{id}: {t:?}");
        }
    }
    assert!(n > 1000, "points with a probability: {n}");
    // Something is at risk at all (the test is not vacuous)...
    assert!(
        r.districts
            .iter()
            .any(|d| p(&d.probability, 2, wn - 1) > 0.5)
    );
    // ...and districts south of 24° S, over 500 km from every fix of a forecast that stays
    // north of 19° S, are never reached.
    let far: Vec<_> = f
        .layers
        .layers
        .districts
        .iter()
        .filter(|d| d.geometry.bounding_rect().unwrap().max().y < -24.0)
        .map(|d| d.pcode.clone())
        .collect();
    assert!(far.len() >= 10, "{far:?}");
    for pcode in &far {
        let d = r.districts.iter().find(|d| &d.pcode == pcode).unwrap();
        assert!(
            d.probability.iter().flatten().all(|&x| x == 0.0),
            "{pcode}: {:?}",
            d.probability
        );
        assert!(d.people_at_risk.iter().flatten().all(|q| q.p90 == 0.0));
    }
}

#[test]
fn freddy_districts_in_the_deterministic_64kt_swath_are_likely_and_probabilities_spread_with_lead()
{
    let Some(f) = fixture() else { return };
    let det = aviso::alerts::assess::assess(&f.freddy, &f.layers, f.cfg.assessment(), Utc::now())
        .unwrap();
    let r = &f.result;
    let wn = r.windows_h.len();
    let in64: Vec<&str> = det
        .exposure
        .districts
        .iter()
        .filter(|d| d.at(64.0).is_some())
        .map(|d| d.pcode.as_str())
        .collect();
    assert!(
        !in64.is_empty(),
        "the deterministic forecast has a 64 kt swath over land"
    );
    let p64: Vec<f64> = in64
        .iter()
        .map(|pc| r.district_p(pc, 64.0, 120.0).unwrap())
        .collect();
    let mean = p64.iter().sum::<f64>() / p64.len() as f64;
    eprintln!("P(>=64 kt, 0-120 h) in the deterministic 64 kt swath: {in64:?} {p64:?}");
    assert!(mean >= 0.5, "mean {mean}: {in64:?} {p64:?}");
    // Districts outside the deterministic 34 kt swath that some realisations reach: more
    // of them, and each at least as likely, as the window grows.
    let in34: Vec<&str> = det
        .exposure
        .districts
        .iter()
        .filter(|d| d.at(34.0).is_some())
        .map(|d| d.pcode.as_str())
        .collect();
    let beyond: Vec<usize> = (0..wn)
        .map(|w| {
            r.districts
                .iter()
                .filter(|d| !in34.contains(&d.pcode.as_str()))
                .filter(|d| d.probability[0][w] >= 0.05)
                .count()
        })
        .collect();
    eprintln!("districts beyond the 34 kt swath with P >= 5 % by window: {beyond:?}");
    assert!(beyond.windows(2).all(|x| x[0] <= x[1]), "{beyond:?}");
    assert!(
        beyond[wn - 1] >= beyond[0] + 3,
        "the probabilities spread beyond the deterministic swath: {beyond:?}"
    );
}

#[test]
fn deciding_whole_buckets_gives_exactly_the_point_by_point_result() {
    let Some(f) = fixture() else { return };
    // 60 realisations (the exhaustive count is slow in a debug build) with a fixed seed,
    // plus the forecast itself.
    let cfg = ProbabilisticConfig {
        realisations: 60,
        seed_policy: SeedPolicy::Fixed,
        fixed_seed: 2023,
        ..f.cfg.probabilistic.clone()
    };
    let mut set =
        perturbed_realisations(&f.freddy, &cfg, &f.cfg.hazard, &f.prepared.land, 2023).unwrap();
    set.realisations
        .push(unperturbed_realisation(&f.freddy, &cfg, &f.cfg.hazard).unwrap());
    let t = &f.prepared.targets;
    let fast = count_exceedances(&set.realisations, t, &cfg.thresholds_kt, &cfg.windows_h);
    let slow = count_exceedances_by(
        CountMethod::Exhaustive,
        &set.realisations,
        t,
        &cfg.thresholds_kt,
        &cfg.windows_h,
    );
    let (fast, slow) = (fast.unwrap(), slow.unwrap());
    assert!(
        fast.points.len() > 1000,
        "not vacuous: {} points",
        fast.points.len()
    );
    assert_eq!(fast, slow);
}

#[test]
fn people_at_risk_quantiles_are_ordered_and_bounded_by_the_population() {
    let Some(f) = fixture() else { return };
    let r = &f.result;
    for d in r.districts.iter().chain(&r.provinces) {
        for q in d.people_at_risk.iter().flatten() {
            assert!(q.p10 <= q.p50 && q.p50 <= q.p90, "{}: {q:?}", d.pcode);
            assert!(
                q.mean >= 0.0 && q.mean <= q.p90.max(q.mean),
                "{}: {q:?}",
                d.pcode
            );
            if let Some(pop) = d.population {
                assert!(q.p90 <= pop * 1.0001, "{}: {q:?} > {pop}", d.pcode);
            }
        }
    }
    let nat = &r.national_people_at_risk;
    assert!(
        nat[0][3].mean > 0.0 && nat[0][3].mean >= nat[2][3].mean,
        "{nat:?}"
    );
    assert!(nat[0][3].p90 >= nat[0][0].p90, "{nat:?}");
}

#[test]
fn the_same_issuance_gives_the_same_result_on_any_thread_count_and_another_seed_does_not() {
    let Some(f) = fixture() else { return };
    let cfg = ProbabilisticConfig {
        realisations: 200,
        ..f.cfg.probabilistic.clone()
    };
    let run = |c: &ProbabilisticConfig| {
        assess_probabilistic(&f.freddy, &f.prepared, c, &f.cfg.hazard).unwrap()
    };
    let a = run(&cfg);
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| run(&cfg));
    assert_eq!(a, one_thread);
    let fixed = ProbabilisticConfig {
        seed_policy: SeedPolicy::Fixed,
        fixed_seed: a.seed.unwrap() ^ 1,
        ..cfg.clone()
    };
    let b = run(&fixed);
    assert_ne!(a.districts, b.districts);
    // Realisations can be counted by anyone holding a slice of them (ensemble members).
    let det = unperturbed_realisation(&f.freddy, &cfg, &f.cfg.hazard).unwrap();
    let single = count_exceedances(
        std::slice::from_ref(&det),
        &f.prepared.targets,
        &cfg.thresholds_kt,
        &cfg.windows_h,
    )
    .unwrap();
    assert!(
        single
            .districts
            .iter()
            .flat_map(|d| d.probability.iter().flatten())
            .all(|&x| x == 0.0 || x == 1.0)
    );
}

#[test]
fn check_config_refuses_track_errors_that_do_not_grow_with_lead_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (body, key) in [
        (
            "[probabilistic]\nmean_track_error_nm = [50.0, 83.0, 80.0, 162.0, 223.0]\n",
            "probabilistic.mean_track_error_nm",
        ),
        (
            "[probabilistic]\nintensity_error_kt = [0.0, 14.0, 17.0, 19.0, 20.0]\n",
            "probabilistic.intensity_error_kt",
        ),
        (
            "[probabilistic]\npublish_wait_s = -1.0\n",
            "probabilistic.publish_wait_s",
        ),
    ] {
        let p = dir.path().join("site.toml");
        std::fs::write(&p, body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
            .args(["check-config", "--config", &p.display().to_string()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(key) && e.contains("site.toml"), "{e}");
    }
}

#[test]
fn assess_writes_the_probabilistic_table_beside_the_alert_when_asked() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("few.toml");
    // Fewer realisations: this runs the debug binary; the method is the same.
    std::fs::write(&config, "[probabilistic]\nrealisations = 100\n").unwrap();
    let table = dir.path().join("prob.csv");
    let alert = dir.path().join("alert.geojson");
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
    // The deterministic alert is still written, unchanged in kind.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&alert).unwrap()).unwrap();
    assert_eq!(doc["type"], "FeatureCollection");
    let mut rd = csv::Reader::from_path(&table).unwrap();
    let header = rd.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (p34, p64, p64_24) = (
        col("p_ge34kt_0_120h"),
        col("p_ge64kt_0_120h"),
        col("p_ge64kt_0_24h"),
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let districts: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == "district").collect();
    assert_eq!(districts.len(), 159);
    assert!(rows.iter().any(|r| &r[0] == "province"));
    assert_eq!(
        rows.last().map(|r| r[0].to_string()),
        Some("national".into())
    );
    let num = |r: &csv::StringRecord, i: usize| r[i].parse::<f64>().unwrap();
    for r in &districts {
        assert!(
            num(r, p34) >= num(r, p64) && num(r, p64) >= num(r, p64_24),
            "{r:?}"
        );
    }
    assert!(
        districts.iter().any(|r| num(r, p64) > 0.5),
        "some district likely at 64 kt"
    );
}

/// Removes what [`attach_probabilistic`] adds: contour features, `p_ge…` and
/// `forecast_basis` properties, `aviso.probabilistic`.
fn without_probabilistic(mut doc: serde_json::Value) -> serde_json::Value {
    let features = doc["features"].as_array_mut().unwrap();
    features.retain(|f| f["properties"]["layer"] != "probability_contour");
    for f in features.iter_mut() {
        let props = f["properties"].as_object_mut().unwrap();
        props.retain(|k, _| !k.starts_with("p_ge") && k != "forecast_basis");
    }
    doc["aviso"]
        .as_object_mut()
        .unwrap()
        .remove("probabilistic");
    doc
}

#[test]
fn publishing_probabilities_adds_to_the_alert_document_and_changes_nothing_deterministic() {
    use aviso::alerts::probabilistic::{ProbabilisticOutcome, attach_probabilistic};
    let Some(f) = fixture() else { return };
    let a = aviso::alerts::assess::assess(&f.freddy, &f.layers, f.cfg.assessment(), Utc::now())
        .unwrap();
    let plain = aviso::alerts::document::alert_document(&a, &f.layers.layers, 5);
    let outcomes = [
        ProbabilisticOutcome::Assessed {
            result: Box::new(f.result.clone()),
            basis: "test".into(),
            seconds: 0.0,
        },
        ProbabilisticOutcome::Failed("a failure".into()),
        ProbabilisticOutcome::Off,
    ];
    for o in &outcomes {
        let mut doc = plain.clone();
        attach_probabilistic(&mut doc, o, 5);
        assert_eq!(doc["aviso"]["probabilistic"]["status"], o.status());
        let contours = doc["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["properties"]["layer"] == "probability_contour")
            .count();
        let expected = o.result().map_or(0, |r| r.contours.len());
        assert_eq!(contours, expected, "{}", o.status());
        // Exactly the deterministic document once the additions are taken away.
        assert!(without_probabilistic(doc) == plain, "{}", o.status());
    }
}
