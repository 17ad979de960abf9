//! Exposure on known geometry: two 1°×1° districts at 20° S, a footprint covering the
//! western half of the first, settlement points and shelters placed by hand. Every expected
//! number follows from the layout, not from running the code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use chrono::{TimeZone, Utc};
use geo::{GeodesicArea, MultiPolygon, Point, Rect};

use aviso::domain::{
    AdminArea, FootprintMethod, Hazard, LayerInfo, Layers, Period, PointFeature, PointKind,
    PointLayer, SwathSegment, WindSwath,
};
use aviso::exposure::{ExposureConfig, IndexedLayers, PeopleMethod, assess_exposure};

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    MultiPolygon::new(vec![Rect::new((x0, y0), (x1, y1)).to_polygon()])
}

fn info(name: &str) -> LayerInfo {
    LayerInfo {
        name: name.into(),
        kind: "test".into(),
        path: "synthetic".into(),
        source: "hand-made".into(),
        licence: "none".into(),
        crs: "EPSG:4326".into(),
        features: 0,
        sha256: String::new(),
        caveat: None,
    }
}

fn district(pcode: &str, g: MultiPolygon<f64>, population: f64) -> AdminArea {
    AdminArea {
        pcode: pcode.into(),
        name: format!("District {pcode}"),
        parent_pcode: Some("MZ99".into()),
        parent_name: Some("Province".into()),
        area_km2: g.geodesic_area_unsigned() / 1e6,
        geometry: g,
        population: Some(population),
        population_source: None,
    }
}

fn point(
    layer: &str,
    kind: PointKind,
    id: &str,
    lon: f64,
    lat: f64,
    district: &str,
) -> PointFeature {
    PointFeature {
        layer: layer.into(),
        kind,
        id: id.into(),
        name: id.into(),
        location: Point::new(lon, lat),
        population: None,
        households: None,
        capacity: None,
        district_pcode: Some(district.into()),
        subtype: None,
    }
}

fn layers() -> Layers {
    // A: 35..36 E, 20..19 S; B: 36..37 E, same latitudes.
    let a = district("MZ9901", rect(35.0, -20.0, 36.0, -19.0), 1000.0);
    let b = district("MZ9902", rect(36.0, -20.0, 37.0, -19.0), 4000.0);
    let province = AdminArea {
        pcode: "MZ99".into(),
        name: "Province".into(),
        parent_pcode: None,
        parent_name: None,
        geometry: rect(35.0, -20.0, 37.0, -19.0),
        area_km2: 0.0,
        population: Some(5000.0),
        population_source: None,
    };
    let s =
        |id: &str, lon, lat, d: &str| point("settlements", PointKind::Settlement, id, lon, lat, d);
    // Four settlements in A: one in the western half (inside the footprint), three east.
    let settlements = vec![
        s("s1", 35.2, -19.5, "MZ9901"),
        s("s2", 35.7, -19.5, "MZ9901"),
        s("s3", 35.8, -19.2, "MZ9901"),
        s("s4", 35.9, -19.8, "MZ9901"),
    ];
    let h =
        |id: &str, lon, lat, d: &str| point("health", PointKind::HealthFacility, id, lon, lat, d);
    // One facility inside the footprint (unsafe), two outside at known distances.
    let health = vec![
        h("h_inside", 35.1, -19.1, "MZ9901"),
        h("h_near", 35.6, -19.5, "MZ9901"),
        h("h_far", 36.9, -19.5, "MZ9902"),
    ];
    let site = vec![point(
        "sites",
        PointKind::IdpSite,
        "site1",
        35.3,
        -19.5,
        "MZ9901",
    )];
    Layers {
        country: rect(35.0, -20.0, 37.0, -19.0),
        provinces: vec![province],
        districts: vec![a, b],
        points: vec![
            PointLayer {
                info: info("settlements"),
                kind: PointKind::Settlement,
                features: settlements,
            },
            PointLayer {
                info: info("health"),
                kind: PointKind::HealthFacility,
                features: health,
            },
            PointLayer {
                info: info("sites"),
                kind: PointKind::IdpSite,
                features: site,
            },
        ],
        infos: vec![],
    }
}

/// A 34 kt footprint over the western half of A (35.0–35.5 E) and the western quarter of B
/// (36.0–36.25 E), arriving at +12 h in A and +24 h in B.
fn hazard() -> (Hazard, chrono::DateTime<Utc>) {
    let t0 = Utc.with_ymd_and_hms(2023, 3, 10, 0, 0, 0).unwrap();
    let over_a = rect(34.5, -20.5, 35.5, -18.5);
    let over_b = rect(36.0, -20.5, 36.25, -18.5);
    let union = MultiPolygon::new(vec![over_a.0[0].clone(), over_b.0[0].clone()]);
    let seg = |h0: i64, g: MultiPolygon<f64>| SwathSegment {
        start: t0 + chrono::Duration::hours(h0),
        end: t0 + chrono::Duration::hours(h0 + 12),
        geometry: g,
    };
    let swath = WindSwath {
        threshold_kt: 34.0,
        period: Period::Forecast,
        method: FootprintMethod::QuadrantRadii,
        area_km2: union.geodesic_area_unsigned() / 1e6,
        segments: vec![
            seg(0, MultiPolygon::new(vec![])),
            seg(12, over_a),
            seg(24, over_b),
        ],
        geometry: union,
    };
    let hazard = Hazard {
        forecast_swaths: vec![swath],
        observed_swaths: vec![],
        cone: None,
        exposed_area: None,
        landfall: None,
        notes: vec![],
    };
    (hazard, t0)
}

#[test]
fn people_at_risk_follow_settlement_points_and_fall_back_to_area_share() {
    let (hz, t0) = hazard();
    let il = IndexedLayers::new(layers(), &ExposureConfig::default());
    let e = assess_exposure(&hz, t0, &il, &ExposureConfig::default());
    assert_eq!(e.weighting_layer.as_deref(), Some("settlements"));

    let a = e.districts.iter().find(|d| d.pcode == "MZ9901").unwrap();
    let wa = a.at(34.0).unwrap();
    // One of A's four settlement points is inside: a quarter of 1000 people.
    assert_eq!(wa.method, PeopleMethod::SettlementWeighted);
    assert_eq!(wa.weighting_points, Some((1, 4)));
    assert!((wa.people_at_risk - 250.0).abs() < 1e-9);
    // Half of A's area is inside (lon 35.0–35.5 of 35–36; a meridian strip of equal width).
    assert!((wa.area_share - 0.5).abs() < 1e-3, "{}", wa.area_share);
    assert!((wa.lead_time_h - 12.0).abs() < 1e-9);

    let b = e.districts.iter().find(|d| d.pcode == "MZ9902").unwrap();
    let wb = b.at(34.0).unwrap();
    // B has no settlement points: a quarter of its area, so a quarter of 4000 people.
    assert_eq!(wb.method, PeopleMethod::AreaShare);
    assert!((wb.area_share - 0.25).abs() < 1e-3, "{}", wb.area_share);
    assert!((wb.people_at_risk - 1000.0).abs() < 5.0);
    assert!((wb.lead_time_h - 24.0).abs() < 1e-9);

    // National and provincial totals add the districts up.
    let nat = &e.national[0];
    assert_eq!(nat.districts, 2);
    assert!((nat.people_at_risk - wa.people_at_risk - wb.people_at_risk).abs() < 1e-6);
    assert_eq!(e.provinces.len(), 1);
    assert!((e.provinces[0].totals[0].people_at_risk - nat.people_at_risk).abs() < 1e-6);
}

#[test]
fn points_inside_are_listed_and_safe_shelters_lie_outside_every_footprint() {
    let (hz, t0) = hazard();
    let cfg = ExposureConfig::default();
    let il = IndexedLayers::new(layers(), &cfg);
    let e = assess_exposure(&hz, t0, &il, &cfg);
    let ids: Vec<&str> = e.points.iter().map(|p| p.id.as_str()).collect();
    // Settlements are counted, not listed; the facility and the site inside are listed.
    assert!(
        ids.contains(&"h_inside") && ids.contains(&"site1"),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|i| i.starts_with('s') && *i != "site1"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"h_near") && !ids.contains(&"h_far"));

    let site = e.points.iter().find(|p| p.id == "site1").unwrap();
    let shelters: Vec<&str> = site.safe_shelters.iter().map(|s| s.id.as_str()).collect();
    // The facility inside the footprint is never proposed; h_far is 1.6° of longitude
    // away (≈ 168 km), beyond the default 100 km.
    assert_eq!(shelters, ["h_near"]);
    // 0.3° of longitude at 19.5° S ≈ 31.5 km (geodesic).
    let d = site.safe_shelters[0].distance_km;
    assert!((d - 31.5).abs() < 0.5, "{d}");

    // With a 200 km limit both outside facilities are proposed, nearest first.
    let wide = ExposureConfig {
        max_shelter_distance_km: 200.0,
        ..ExposureConfig::default()
    };
    let e = assess_exposure(&hz, t0, &il, &wide);
    let site = e.points.iter().find(|p| p.id == "site1").unwrap();
    let shelters: Vec<&str> = site.safe_shelters.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(shelters, ["h_near", "h_far"]);

    // A shelter limit of 20 km proposes nothing.
    let near_only = ExposureConfig {
        max_shelter_distance_km: 20.0,
        ..ExposureConfig::default()
    };
    let e = assess_exposure(&hz, t0, &il, &near_only);
    let site = e.points.iter().find(|p| p.id == "site1").unwrap();
    assert!(site.safe_shelters.is_empty());
}

#[test]
fn an_empty_hazard_puts_nobody_at_risk() {
    let (mut hz, t0) = hazard();
    hz.forecast_swaths.clear();
    let il = IndexedLayers::new(layers(), &ExposureConfig::default());
    let e = assess_exposure(&hz, t0, &il, &ExposureConfig::default());
    assert!(e.districts.is_empty() && e.points.is_empty() && e.national.is_empty());
}
