//! Hazard footprints on the real FREDDY forecast (RSMC La Réunion, 2023-03-10) and on
//! synthetic storms whose answer is known by construction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::OnceLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use geo::{
    Bearing, BoundingRect, Destination, Distance, Geodesic, InterpolatePoint, Intersects,
    MultiPolygon, Point,
};

use aviso::domain::{
    ConeSource, FixKind, FootprintMethod, Forecast, ForecastSource, Hazard, Knots, METRES_PER_NM,
    Motion, QuadrantRadii, StormId, TrackPoint, WindAveraging, WindRadii, WindSwath,
};
use aviso::hazard::{HazardConfig, HazardError, build_hazard, quadrant_footprint};

// ---------------------------------------------------------------------------------------
// Real data

struct Freddy {
    forecast: Forecast,
    country: MultiPolygon<f64>,
    hazard: Hazard,
}

/// FREDDY's hazard, built once for all tests of this file (it is the slow part).
fn freddy() -> Option<&'static Freddy> {
    static CELL: OnceLock<Option<Freddy>> = OnceLock::new();
    CELL.get_or_init(|| {
        let forecast = common::load_rsmc(common::FREDDY)?;
        let country = common::load_outline(common::MOZ_ADM0)?;
        let hazard =
            build_hazard(&forecast, &country, &HazardConfig::default()).expect("FREDDY builds");
        Some(Freddy {
            forecast,
            country,
            hazard,
        })
    })
    .as_ref()
}

fn swath(swaths: &[WindSwath], threshold_kt: f64) -> &WindSwath {
    swaths
        .iter()
        .find(|s| s.threshold_kt == threshold_kt)
        .unwrap_or_else(|| panic!("no {threshold_kt} kt swath"))
}

fn at(lon: f64, lat: f64) -> Point<f64> {
    Point::new(lon, lat)
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn freddy_has_34_48_and_64_kt_forecast_swaths_drawn_from_rsmc_radii() {
    let Some(f) = freddy() else { return };
    let thresholds: Vec<f64> = f
        .hazard
        .forecast_swaths
        .iter()
        .map(|s| s.threshold_kt)
        .collect();
    assert_eq!(thresholds, vec![34.0, 48.0, 64.0]);
    for s in &f.hazard.forecast_swaths {
        assert!(
            !s.geometry.0.is_empty(),
            "{} kt swath is empty",
            s.threshold_kt
        );
        // Every forecast fix that reaches a threshold carries radii for it: no profile.
        assert_eq!(s.method, FootprintMethod::QuadrantRadii);
        // The reference fix (04Z, tau 0) to the 84 h point: 84 h cut into segments of at
        // most 3 h (segment_minutes = 180), contiguous in time.
        assert_eq!(s.segments.len(), 28);
        assert_eq!(s.segments[0].start, utc("2023-03-10T04:00:00Z"));
        assert_eq!(s.segments[27].end, utc("2023-03-13T16:00:00Z"));
        for w in s.segments.windows(2) {
            assert_eq!(w[0].end, w[1].start);
            assert!(w[0].end - w[0].start <= chrono::Duration::hours(3));
        }
    }
}

#[test]
fn freddy_64_kt_swath_covers_quelimane_on_the_coast() {
    let Some(f) = freddy() else { return };
    let s64 = swath(&f.hazard.forecast_swaths, 64.0);
    // Quelimane (36.888 E, 17.878 S) lies ~56 km (30 nm) west of the 24 h fix
    // (37.41 E, 17.78 S), whose 64 kt radius is 45 nm in every quadrant.
    let quelimane = at(36.888, -17.878);
    assert!(s64.geometry.intersects(&quelimane));
    // The 64 kt winds reach the country outline (the Zambezia coast).
    assert!(s64.geometry.intersects(&f.country));
    // ... and the first segment that covers it lies in the 12 h → 24 h leg.
    let first_hit = s64
        .segments
        .iter()
        .find(|seg| seg.geometry.intersects(&quelimane))
        .expect("a segment covers Quelimane");
    assert!(
        first_hit.start >= utc("2023-03-10T16:00:00Z"),
        "{}",
        first_hit.start
    );
    assert!(
        first_hit.end <= utc("2023-03-11T04:00:00Z"),
        "{}",
        first_hit.end
    );
}

#[test]
fn freddy_swaths_nest_34_over_48_over_64() {
    let Some(f) = freddy() else { return };
    let s34 = swath(&f.hazard.forecast_swaths, 34.0);
    let s48 = swath(&f.hazard.forecast_swaths, 48.0);
    let s64 = swath(&f.hazard.forecast_swaths, 64.0);
    assert!(s34.area_km2 > s48.area_km2 && s48.area_km2 > s64.area_km2);

    // A 0.05° grid over the 34 kt swath: every point in a higher threshold's swath is in
    // the lower ones, and some points are in the lower ones only.
    let bb = s34.geometry.bounding_rect().unwrap();
    let (mut in64, mut in48_only, mut in34_only) = (0, 0, 0);
    let mut y = bb.min().y;
    while y <= bb.max().y {
        let mut x = bb.min().x;
        while x <= bb.max().x {
            let p = at(x, y);
            let (a, b, c) = (
                s34.geometry.intersects(&p),
                s48.geometry.intersects(&p),
                s64.geometry.intersects(&p),
            );
            if c {
                assert!(b && a, "{p:?} is in the 64 kt swath but not in 48/34");
                in64 += 1;
            } else if b {
                assert!(a, "{p:?} is in the 48 kt swath but not in 34");
                in48_only += 1;
            } else if a {
                in34_only += 1;
            }
            x += 0.05;
        }
        y += 0.05;
    }
    assert!(in64 > 100 && in48_only > 100 && in34_only > 100);
}

#[test]
fn freddy_swath_areas_match_a_hand_estimate() {
    let Some(f) = freddy() else { return };
    // Swept area of a disc of radius r over a track of length L: π r² + 2 r L.
    // Track from the reference fix to the 36 h point (the 48 h point has no winds):
    // 04Z→12 h ≈ 122 km, 12 h→24 h ≈ 55 km, 24 h→36 h ≈ 39 km: L ≈ 216 km.
    // 34 kt: r ≈ 110 nm ≈ 204 km → 1.31e5 + 0.88e5 ≈ 2.2e5 km².
    // 48 kt: r ≈ 60 nm ≈ 111 km → 0.39e5 + 0.48e5 ≈ 0.9e5 km².
    // 64 kt: r ≈ 40 nm ≈ 74 km over 0–36 h → 0.17e5 + 0.32e5 ≈ 0.5e5 km², less since the
    //        reference fix has only two quadrants and the 36 h point none.
    let area = |t| swath(&f.hazard.forecast_swaths, t).area_km2;
    assert!(
        (1.5e5..3.0e5).contains(&area(34.0)),
        "34 kt: {}",
        area(34.0)
    );
    assert!(
        (0.6e5..1.4e5).contains(&area(48.0)),
        "48 kt: {}",
        area(48.0)
    );
    assert!(
        (0.2e5..0.7e5).contains(&area(64.0)),
        "64 kt: {}",
        area(64.0)
    );
}

#[test]
fn freddy_swath_rings_follow_the_right_hand_rule() {
    let Some(f) = freddy() else { return };
    use geo::orient::Direction;
    use geo::{Orient, Validation};
    for s in f
        .hazard
        .forecast_swaths
        .iter()
        .chain(&f.hazard.observed_swaths)
    {
        assert!(s.geometry.is_valid(), "{} kt swath invalid", s.threshold_kt);
        assert_eq!(s.geometry, s.geometry.orient(Direction::Default));
    }
}

#[test]
fn freddy_observed_swaths_use_the_profile_where_early_fixes_lack_radii() {
    let Some(f) = freddy() else { return };
    // The first 16 analysis points (2023-02-10 16Z to 02-14 10Z, 60–100 kt) carry a
    // maximum wind but no radii, pressure or RMW. They lie weeks before the reference
    // time: reach them by widening the observed context.
    let cfg = HazardConfig {
        observed_context_h: 60.0 * 24.0,
        ..HazardConfig::default()
    };
    let hazard = build_hazard(&f.forecast, &f.country, &cfg).unwrap();
    let s64 = swath(&hazard.observed_swaths, 64.0);
    assert_eq!(s64.method, FootprintMethod::Mixed);
    let early = at(103.05, -14.78); // the 2023-02-11 16Z fix, 90 kt
    assert!(s64.geometry.intersects(&early));
    // With the default 72 h context the early fixes are not drawn.
    let s64_default = swath(&f.hazard.observed_swaths, 64.0);
    assert!(!s64_default.geometry.intersects(&early));
    let notes = hazard.notes.join("\n");
    assert!(notes.contains("Holland"), "{notes}");
    assert!(notes.contains("2023-02-11T16:00Z"), "{notes}");
    assert!(notes.contains("Willoughby"), "{notes}");
    assert!(notes.contains("Atkinson"), "{notes}");
}

#[test]
fn freddy_makes_landfall_on_the_zambezia_coast_between_24_and_36_h() {
    let Some(f) = freddy() else { return };
    let lf = f.hazard.landfall.as_ref().expect("a landfall");
    assert!(
        lf.time > utc("2023-03-11T04:00:00Z") && lf.time < utc("2023-03-11T16:00:00Z"),
        "landfall at {}",
        lf.time
    );
    assert!(
        (36.0..38.5).contains(&lf.lon) && (-19.0..-17.0).contains(&lf.lat),
        "{lf:?}"
    );
    // Lead time counts from the product's reference time (2023-03-10 00Z).
    let expected_lead = (lf.time - f.forecast.reference_time).num_seconds() as f64 / 3600.0;
    assert!((lf.lead_time_h - expected_lead).abs() < 1e-9);
    // Between the 24 h (90 kt) and 36 h (60 kt) points the interpolated wind lies between.
    let w = lf.wind_kt.expect("wind at landfall");
    assert!((60.0..=90.0).contains(&w), "wind {w}");
    // The landfall point is on land and a little before it the centre was at sea.
    assert!(f.country.intersects(&at(lf.lon, lf.lat)));
}

#[test]
fn freddy_uses_the_products_cone_as_is() {
    let Some(f) = freddy() else { return };
    let cone = f.hazard.cone.as_ref().expect("a cone");
    assert_eq!(cone.source, ConeSource::Product);
    use geo::GeodesicArea;
    let product = f.forecast.cone.as_ref().unwrap();
    let a_in = product.geodesic_area_unsigned();
    let a_out = cone.geometry.geodesic_area_unsigned();
    assert!((a_in - a_out).abs() / a_in < 1e-6, "{a_in} vs {a_out}");
}

#[test]
fn without_a_product_cone_error_circles_cover_the_whole_forecast_track() {
    let Some(f) = freddy() else { return };
    let mut forecast = f.forecast.clone();
    forecast.cone = None;
    // Only the cone matters here: drop the analysis history before the reference fix
    // (it is what makes a FREDDY build slow).
    forecast
        .track
        .retain(|p| p.time >= utc("2023-03-10T04:00:00Z"));
    for use_position_accuracy in [true, false] {
        let mut cfg = HazardConfig::default();
        cfg.cone.use_position_accuracy = use_position_accuracy;
        let hazard = build_hazard(&forecast, &f.country, &cfg).unwrap();
        let cone = hazard.cone.expect("a cone");
        match &cone.source {
            ConeSource::ErrorCircles { radii_source } if use_position_accuracy => {
                assert!(radii_source.contains("position_accuracy"), "{radii_source}")
            }
            ConeSource::ErrorCircles { radii_source } => {
                assert!(radii_source.contains("NHC"), "{radii_source}")
            }
            other => panic!("unexpected cone source {other:?}"),
        }
        // Every fix from the reference fix on, and 10 points along every leg.
        let chain: Vec<&TrackPoint> = forecast
            .track
            .iter()
            .filter(|p| p.kind == FixKind::Forecast)
            .collect();
        for pair in chain.windows(2) {
            let (a, b) = (at(pair[0].lon, pair[0].lat), at(pair[1].lon, pair[1].lat));
            for k in 0..=10 {
                let p = Geodesic.point_at_ratio_between(a, b, k as f64 / 10.0);
                assert!(cone.geometry.intersects(&p), "{p:?} outside the cone");
            }
        }
        // At 72 h the cone is at least as wide as the radius used there (133 nm from RSMC,
        // 99 nm from the NHC table): 90 nm north of the 72 h point is inside.
        let p72 = at(35.07, -17.04);
        let north = Geodesic.destination(p72, 0.0, 90.0 * METRES_PER_NM);
        assert!(cone.geometry.intersects(&north));
    }
}

#[test]
fn freddy_exposed_area_is_the_cone_cut_where_winds_drop_below_64_kt_plus_the_swath() {
    let Some(f) = freddy() else { return };
    let exposed = f
        .hazard
        .exposed_area
        .as_ref()
        .expect("Freddy reaches 64 kt");
    let cone = &f.hazard.cone.as_ref().unwrap().geometry;
    let s64 = swath(&f.hazard.forecast_swaths, 64.0);
    use geo::GeodesicArea;
    assert!(exposed.geodesic_area_unsigned() / 1e6 >= s64.area_km2 * 0.999);
    // The 24 h point (90 kt) and Quelimane are exposed.
    assert!(exposed.intersects(&at(37.41, -17.78)));
    assert!(exposed.intersects(&at(36.888, -17.878)));
    // The 72 h point (20 kt) is in the cone but not exposed: the winds fall below 64 kt
    // at ~34.4 h (90 → 60 kt between 24 and 36 h), ~123 nm before it.
    let p72 = at(35.07, -17.04);
    assert!(cone.intersects(&p72));
    assert!(!exposed.intersects(&p72));
}

// ---------------------------------------------------------------------------------------
// Synthetic storms

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap()
}

fn radii(ne: f64, se: f64, sw: f64, nw: f64) -> QuadrantRadii {
    QuadrantRadii::new(ne, se, sw, nw)
}

/// A storm starting at (45 E, `lat`) moving along `toward_deg` at `speed_kt`, with fixes
/// every `every_h` hours; the first is the analysis (reference) fix.
fn storm(
    lat: f64,
    speed_kt: f64,
    toward_deg: f64,
    every_h: i64,
    vmax_kt: f64,
    radii_at: impl Fn(usize) -> Vec<WindRadii>,
    fixes: usize,
) -> Forecast {
    let mut pos = at(45.0, lat);
    let mut track = Vec::new();
    for i in 0..fixes {
        let kind = if i == 0 {
            FixKind::Analysis
        } else {
            FixKind::Forecast
        };
        let mut p = TrackPoint::new(
            t0() + Duration::hours(every_h * i as i64),
            pos.x(),
            pos.y(),
            kind,
        );
        p.max_wind_kt = Some(Knots(vmax_kt));
        p.motion = Some(Motion {
            speed_kt,
            toward_deg,
        });
        p.wind_radii = radii_at(i);
        track.push(p);
        pos = Geodesic.destination(pos, toward_deg, speed_kt * every_h as f64 * METRES_PER_NM);
    }
    Forecast {
        source: ForecastSource::Replay {
            agency: "synthetic".to_string(),
        },
        origin: "synthetic storm".to_string(),
        storm: StormId {
            name: "TEST".to_string(),
            id: "TEST".to_string(),
            basin: "SWI".to_string(),
            season: "2025".to_string(),
        },
        issued: t0(),
        reference_time: t0(),
        wind_averaging: WindAveraging::TenMinute,
        track,
        cone: None,
    }
}

fn nothing() -> MultiPolygon<f64> {
    MultiPolygon::new(vec![])
}

/// How far from `from` along `bearing_deg` the geometry stays covered (nm, 0.25 nm steps).
fn reach_nm(g: &MultiPolygon<f64>, from: Point<f64>, bearing_deg: f64) -> f64 {
    let mut d = 0.0;
    while g.intersects(&Geodesic.destination(from, bearing_deg, (d + 0.25) * METRES_PER_NM)) {
        d += 0.25;
        assert!(d < 1000.0);
    }
    d
}

fn mid_leg(f: &Forecast) -> Point<f64> {
    let (a, b) = (&f.track[0], &f.track[1]);
    Geodesic.point_at_ratio_between(at(a.lon, a.lat), at(b.lon, b.lat), 0.5)
}

#[test]
fn without_radii_the_southern_hemisphere_footprint_reaches_further_left_of_motion() {
    // Westward at 15 kt at 18 S: left of motion is south.
    let f = storm(-18.0, 15.0, 270.0, 6, 90.0, |_| vec![], 2);
    let h = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap();
    let s48 = swath(&h.forecast_swaths, 48.0);
    assert_eq!(s48.method, FootprintMethod::ParametricProfile);
    let m = mid_leg(&f);
    let (south, north) = (
        reach_nm(&s48.geometry, m, 180.0),
        reach_nm(&s48.geometry, m, 0.0),
    );
    assert!(south > north + 5.0, "south {south} nm, north {north} nm");
    assert!(
        h.notes
            .iter()
            .any(|n| n.contains("left (southern hemisphere)"))
    );
}

#[test]
fn without_radii_the_northern_hemisphere_footprint_reaches_further_right_of_motion() {
    // Westward at 15 kt at 18 N: right of motion is north.
    let f = storm(18.0, 15.0, 270.0, 6, 90.0, |_| vec![], 2);
    let h = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap();
    let s48 = swath(&h.forecast_swaths, 48.0);
    let m = mid_leg(&f);
    let (south, north) = (
        reach_nm(&s48.geometry, m, 180.0),
        reach_nm(&s48.geometry, m, 0.0),
    );
    assert!(north > south + 5.0, "south {south} nm, north {north} nm");
}

#[test]
fn with_radii_the_footprint_follows_the_radii_not_the_profile() {
    // Larger radii in the southern quadrants, same westward SH storm.
    let r = |_| {
        vec![WindRadii {
            threshold_kt: 48.0,
            radii: radii(30.0, 80.0, 80.0, 30.0),
        }]
    };
    let f = storm(-18.0, 15.0, 270.0, 6, 90.0, r, 2);
    let h = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap();
    let s48 = swath(&h.forecast_swaths, 48.0);
    assert_eq!(s48.method, FootprintMethod::QuadrantRadii);
    let m = mid_leg(&f);
    let (south, north) = (
        reach_nm(&s48.geometry, m, 180.0),
        reach_nm(&s48.geometry, m, 0.0),
    );
    assert!((south - 80.0).abs() <= 1.0, "south {south}");
    assert!((north - 30.0).abs() <= 1.0, "north {north}");
    // 34 kt has no radii here: it comes from the profile, raised where needed to contain
    // the 48 kt radii.
    let s34 = swath(&h.forecast_swaths, 34.0);
    assert!(reach_nm(&s34.geometry, m, 180.0) >= south);
}

#[test]
fn zero_radii_draw_nothing() {
    assert!(quadrant_footprint(at(37.0, -18.0), &radii(0.0, 0.0, 0.0, 0.0), 5.0).is_none());
    let zero = |_| {
        vec![WindRadii {
            threshold_kt: 64.0,
            radii: radii(0.0, 0.0, 0.0, 0.0),
        }]
    };
    // 90 kt but the forecaster says no 64 kt winds anywhere: trust the radii.
    let f = storm(-18.0, 10.0, 270.0, 6, 90.0, zero, 4);
    let h = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap();
    let s64 = swath(&h.forecast_swaths, 64.0);
    assert!(s64.geometry.0.is_empty());
    assert_eq!(s64.area_km2, 0.0);
    assert!(s64.segments.iter().all(|s| s.geometry.0.is_empty()));
}

#[test]
fn a_fix_with_all_radii_zero_pinches_the_swath_and_two_leave_their_segment_empty() {
    let r64 = |r: f64| {
        vec![WindRadii {
            threshold_kt: 64.0,
            radii: radii(r, r, r, r),
        }]
    };
    // 30 nm, 0, 30 nm: the extent tapers to a point at the middle fix (a storm briefly
    // below 64 kt): beside it nothing is covered, while the same offset beside either
    // outer fix lies well inside the 30 nm extent.
    let f = storm(
        -18.0,
        10.0,
        270.0,
        6,
        90.0,
        |i| r64(if i == 1 { 0.0 } else { 30.0 }),
        3,
    );
    let h = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap();
    let s64 = swath(&h.forecast_swaths, 64.0);
    // The track runs west (270°): north and south are beside it.
    for (i, covered) in [(0, true), (1, false), (2, true)] {
        let fix = at(f.track[i].lon, f.track[i].lat);
        for bearing in [0.0, 180.0] {
            let beside = Geodesic.destination(fix, bearing, 5.0 * METRES_PER_NM);
            assert_eq!(
                s64.geometry.intersects(&beside),
                covered,
                "fix {i}, {bearing}°"
            );
        }
    }

    // 30, 0, 0, 30: the segment between the two zero fixes is empty.
    let f = storm(
        -18.0,
        10.0,
        270.0,
        6,
        90.0,
        |i| r64(if i == 1 || i == 2 { 0.0 } else { 30.0 }),
        4,
    );
    // One segment per 6 h leg, to look at legs.
    let per_leg = HazardConfig {
        segment_minutes: 360.0,
        ..HazardConfig::default()
    };
    let h = build_hazard(&f, &nothing(), &per_leg).unwrap();
    let s64 = swath(&h.forecast_swaths, 64.0);
    assert!(!s64.segments[0].geometry.0.is_empty());
    assert!(s64.segments[1].geometry.0.is_empty());
    assert!(!s64.segments[2].geometry.0.is_empty());
}

#[test]
fn a_fast_storm_leaves_no_gaps_and_no_scallops() {
    // 25 kt, fixes 6 h apart (150 nm), 30 nm radii: a footprint every 6 h would leave
    // 90 nm holes between fixes.
    let r = |_| {
        vec![WindRadii {
            threshold_kt: 34.0,
            radii: radii(30.0, 30.0, 30.0, 30.0),
        }]
    };
    let f = storm(-18.0, 25.0, 270.0, 6, 60.0, r, 4);
    let h = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap();
    let s34 = swath(&h.forecast_swaths, 34.0);
    assert_eq!(s34.geometry.0.len(), 1, "the swath is one polygon");
    for pair in f.track.windows(2) {
        let (a, b) = (at(pair[0].lon, pair[0].lat), at(pair[1].lon, pair[1].lat));
        let mid = Geodesic.point_at_ratio_between(a, b, 0.5);
        assert!(s34.geometry.intersects(&mid));
        // Between two 30-minute sub-steps (12.5 nm apart) a union of circles only reaches
        // sqrt(30² − 6.25²) = 29.3 nm sideways; the swept hull reaches the full 30 nm.
        let between = Geodesic.point_at_ratio_between(a, b, 0.5 + 0.5 / 12.0);
        let heading = Geodesic.bearing(between, b);
        for side in [-90.0, 90.0] {
            let p = Geodesic.destination(between, heading + side, 29.7 * METRES_PER_NM);
            assert!(s34.geometry.intersects(&p), "scallop at {p:?}");
        }
    }
}

#[test]
fn interpolation_steps_longer_than_30_minutes_are_refused() {
    let f = storm(-18.0, 10.0, 270.0, 6, 60.0, |_| vec![], 2);
    let cfg = HazardConfig {
        step_minutes: 60.0,
        ..HazardConfig::default()
    };
    let err = build_hazard(&f, &nothing(), &cfg).unwrap_err();
    assert!(
        matches!(err, HazardError::InvalidConfig { ref field, .. } if field == "hazard.step_minutes")
    );
}

#[test]
fn a_60_nm_footprint_spans_120_nm_north_to_south() {
    let c = at(37.0, -18.0);
    let fp = quadrant_footprint(c, &radii(60.0, 60.0, 60.0, 60.0), 5.0).unwrap();
    let bb = fp.bounding_rect().unwrap();
    let span_m = Geodesic.distance(at(c.x(), bb.min().y), at(c.x(), bb.max().y));
    let expected = 120.0 * METRES_PER_NM;
    assert!((span_m - expected).abs() / expected < 0.01, "{span_m} m");
    // And at the equator the east–west span agrees too (geodesic, not degrees).
    let e = at(37.0, 0.0);
    let fp = quadrant_footprint(e, &radii(60.0, 60.0, 60.0, 60.0), 5.0).unwrap();
    let bb = fp.bounding_rect().unwrap();
    let span_m = Geodesic.distance(at(bb.min().x, 0.0), at(bb.max().x, 0.0));
    assert!((span_m - expected).abs() / expected < 0.01, "{span_m} m");
}

#[test]
fn a_storm_already_over_land_has_no_forecast_landfall() {
    let Some(country) = common::load_outline(common::MOZ_ADM0) else {
        return;
    };
    // Start inland in Zambezia (36.0 E, 17.0 S) and move west.
    let mut f = storm(-17.0, 10.0, 270.0, 6, 40.0, |_| vec![], 3);
    let shift = 36.0 - f.track[0].lon;
    for p in &mut f.track {
        p.lon += shift;
    }
    let h = build_hazard(&f, &country, &HazardConfig::default()).unwrap();
    assert!(h.landfall.is_none());
    assert!(h.notes.iter().any(|n| n.contains("already over land")));
}

#[test]
fn a_storm_that_never_reaches_64_kt_has_no_exposed_area() {
    let f = storm(-18.0, 10.0, 270.0, 6, 55.0, |_| vec![], 3);
    let h = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap();
    assert!(h.exposed_area.is_none());
    assert!(swath(&h.forecast_swaths, 64.0).geometry.0.is_empty());
}

#[test]
fn out_of_order_fixes_are_reported_with_their_place() {
    let mut f = storm(-18.0, 10.0, 270.0, 6, 55.0, |_| vec![], 3);
    f.track.swap(1, 2);
    let err = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("synthetic storm") && msg.contains("track point"),
        "{msg}"
    );
}

#[test]
fn atcf_50_kt_radii_fill_the_48_kt_bucket_and_one_minute_radii_are_flagged() {
    let r = |_| {
        vec![
            WindRadii {
                threshold_kt: 34.0,
                radii: radii(90.0, 90.0, 90.0, 90.0),
            },
            WindRadii {
                threshold_kt: 50.0,
                radii: radii(40.0, 40.0, 40.0, 40.0),
            },
        ]
    };
    let mut f = storm(-18.0, 10.0, 270.0, 6, 80.0, r, 2);
    f.wind_averaging = WindAveraging::OneMinute;
    let h = build_hazard(&f, &nothing(), &HazardConfig::default()).unwrap();
    let s48 = swath(&h.forecast_swaths, 48.0);
    assert_eq!(s48.method, FootprintMethod::QuadrantRadii);
    let m = mid_leg(&f);
    assert!((reach_nm(&s48.geometry, m, 0.0) - 40.0).abs() <= 1.0);
    let notes = h.notes.join("\n");
    assert!(notes.contains("50 kt radii"), "{notes}");
    assert!(notes.contains("1-minute"), "{notes}");
}
