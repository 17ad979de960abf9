//! Wind at points over a whole track (issue 12 item 5): the southern-hemisphere asymmetry
//! and the radii rule on synthetic storms, and Freddy's 2023 best track on the shipped
//! settlements through `aviso windfield`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::Command;

use chrono::{Duration, TimeZone, Utc};

use aviso::config::Config;
use aviso::domain::{
    FixKind, Forecast, ForecastSource, Hectopascals, Knots, QuadrantRadii, StormId, TrackPoint,
    WindAveraging, WindRadii,
};
use aviso::hazard::windfield::{PointIndex, WindSource, WindfieldConfig, max_wind_at_points};

/// A storm moving due west along 20° S at ~10 kt (1° of longitude ≈ 104 km a 6 h leg is
/// ~56 nm), 100 kt 10-minute, 950 hPa, RMW 20 nm.
fn westward_storm(radii: bool) -> Forecast {
    let t0 = Utc.with_ymd_and_hms(2023, 3, 1, 0, 0, 0).unwrap();
    let track = (0..5)
        .map(|i| {
            let mut p = TrackPoint::new(
                t0 + Duration::hours(6 * i),
                45.0 - f64::from(i as i32),
                -20.0,
                FixKind::Analysis,
            );
            p.max_wind_kt = Some(Knots(100.0));
            p.min_pressure_hpa = Some(Hectopascals(950.0));
            p.rmw_nm = Some(aviso::domain::NauticalMiles(20.0));
            if radii {
                p.wind_radii = vec![
                    WindRadii {
                        threshold_kt: 34.0,
                        radii: QuadrantRadii::new(150.0, 150.0, 150.0, 150.0),
                    },
                    WindRadii {
                        threshold_kt: 64.0,
                        radii: QuadrantRadii::new(40.0, 40.0, 40.0, 40.0),
                    },
                ];
            }
            p
        })
        .collect();
    Forecast {
        source: ForecastSource::Ibtracs {
            agency: "test".into(),
        },
        origin: "synthetic westward storm".into(),
        storm: StormId {
            name: "TEST".into(),
            id: "TEST".into(),
            basin: "SI".into(),
            season: "2023".into(),
        },
        issued: t0,
        reference_time: t0,
        wind_averaging: WindAveraging::TenMinute,
        track,
        cone: None,
    }
}

#[test]
fn southern_hemisphere_winds_are_stronger_left_of_the_track_than_right() {
    let cfg = Config::embedded_default().unwrap();
    let storm = westward_storm(false);
    // Moving west, left of the motion is south. Points 1° (~111 km) south and north of
    // the track at 43° E, and at 0.5°.
    let pts = [(43.0, -21.0), (43.0, -19.0), (43.0, -20.5), (43.0, -19.5)];
    let w = max_wind_at_points(
        &storm,
        &PointIndex::new(&pts),
        &WindfieldConfig {
            use_radii: false,
            ..WindfieldConfig::default()
        },
        &cfg.hazard.profile,
    )
    .unwrap();
    eprintln!("{w:?}");
    assert!(w.iter().all(|x| x.source == Some(WindSource::Holland)));
    assert!(w[0].max_wind_10min_kt > w[1].max_wind_10min_kt, "{w:?}");
    assert!(w[2].max_wind_10min_kt > w[3].max_wind_10min_kt, "{w:?}");
    // Closer is stronger, and nothing exceeds the storm's maximum.
    assert!(w[2].max_wind_10min_kt > w[0].max_wind_10min_kt);
    assert!(w.iter().all(|x| x.max_wind_10min_kt <= 100.0 + 1e-6));
}

#[test]
fn wind_radii_give_the_threshold_reached_and_nothing_beyond_the_34kt_radius() {
    let cfg = Config::embedded_default().unwrap();
    let storm = westward_storm(true);
    // At 43° E: 30 nm (inside 64 kt), 100 nm (between 64 and 34 kt) and 200 nm (outside
    // every radius) north of the track; 1 nm = 1/60°.
    let pts = [
        (43.0, -20.0 + 30.0 / 60.0),
        (43.0, -20.0 + 100.0 / 60.0),
        (43.0, -20.0 + 200.0 / 60.0),
    ];
    let w = max_wind_at_points(
        &storm,
        &PointIndex::new(&pts),
        &WindfieldConfig::default(),
        &cfg.hazard.profile,
    )
    .unwrap();
    eprintln!("{w:?}");
    assert_eq!(w[0].source, Some(WindSource::Radii));
    assert!(w[0].max_wind_10min_kt >= 64.0, "{w:?}");
    assert_eq!(w[1].source, Some(WindSource::Radii));
    assert_eq!(w[1].max_wind_10min_kt, 34.0, "{w:?}");
    assert_eq!(w[2].source, None, "{w:?}");
    assert_eq!(w[2].max_wind_10min_kt, 0.0);
}

#[test]
fn windfield_of_freddys_best_track_reaches_the_settlements_near_its_landfalls_only() {
    let Some(track) =
        common::data_file("tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("freddy.csv");
    let run = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["windfield", "--track", &track.display().to_string()])
        .args([
            "--storm", "FREDDY", "--season", "2023", "--layers", "layers",
        ])
        .args(["--out", &out.display().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    let mut rd = csv::Reader::from_path(&out).unwrap();
    let h = rd.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (lon, lat, w10, w1, layer) = (
        col("lon"),
        col("lat"),
        col("max_wind_10min_kt"),
        col("max_wind_1min_kt"),
        col("layer"),
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let settlements: Vec<&csv::StringRecord> =
        rows.iter().filter(|r| &r[layer] == "settlements").collect();
    assert_eq!(settlements.len(), 24_602);
    let f = |r: &csv::StringRecord, i: usize| r[i].parse::<f64>().ok();
    // Near the second landfall (Quelimane, 17.9° S 36.9° E, 11 March 2023): hurricane force.
    let near_quelimane = settlements
        .iter()
        .filter(|r| {
            (f(r, lat).unwrap() + 17.88).abs() < 0.1 && (f(r, lon).unwrap() - 36.89).abs() < 0.1
        })
        .filter_map(|r| f(r, w10))
        .fold(0.0, f64::max);
    assert!(near_quelimane >= 64.0, "{near_quelimane}");
    // Far north (Cabo Delgado, north of 12° S, > 400 km from the track): no wind.
    let north: Vec<_> = settlements
        .iter()
        .filter(|r| f(r, lat).unwrap() > -12.0)
        .collect();
    assert!(north.len() > 100);
    assert!(north.iter().all(|r| r[w10].is_empty()));
    // 1-minute = 10-minute / 0.88, and no point above Freddy's peak 10-minute wind.
    let bytes = std::fs::read(&track).unwrap();
    let opts = aviso::feeds::ParseOptions {
        storm: aviso::feeds::StormSelector {
            name: Some("FREDDY".into()),
            season: Some(2023),
            sid: None,
        },
        ..aviso::feeds::ParseOptions::default()
    };
    let freddy = aviso::feeds::parse_forecast(&bytes, "ibtracs", &opts).unwrap();
    let peak10 = freddy
        .track
        .iter()
        .filter_map(|p| p.max_wind_kt)
        .map(|w| freddy.wind_averaging.to_ten_minute(w).0)
        .fold(0.0, f64::max);
    assert!(peak10 > 100.0, "{peak10}");
    for r in &settlements {
        if let (Some(a), Some(b)) = (f(r, w10), f(r, w1)) {
            assert!((b * 0.88 - a).abs() < 0.1, "{r:?}");
            assert!(a <= peak10 + 0.05, "{r:?} > {peak10}");
        }
    }
}
