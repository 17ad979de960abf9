//! The share of a district a swath covers, measured along the two boundaries
//! (`spatial::shared_share`, what the exposure stage uses without a population raster),
//! against the overlay it replaces, on the real districts and Freddy's real swaths; and
//! the spherical areas those shares are ratios of.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

/// On the real districts and Freddy's real swaths (forecast and observed), the share of
/// each district a swath covers, measured along the two boundaries, is the overlay's
/// (district ∩ swath built and measured) to 10⁻⁶: the overlay snaps every vertex to a grid
/// of up to 2·10⁻⁷°, which moves a share by about perimeter × 2·10⁻⁷° / area. The few
/// pairs whose boundaries touch are left to the overlay, as the exposure stage does.
#[test]
fn district_shares_measured_along_the_boundaries_are_the_overlays_on_freddy() {
    use aviso::spatial::{shared_share, spherical_area_m2};
    use geo::BooleanOps;
    let Some((_, il, a)) = common::freddy_on_shipped_layers() else {
        return;
    };
    let (mut partial, mut whole, mut fallback) = (0, 0, 0);
    let swaths = a
        .hazard
        .forecast_swaths
        .iter()
        .chain(&a.hazard.observed_swaths);
    for s in swaths {
        for d in &il.layers.districts {
            let Some(share) = shared_share(&d.geometry, &s.geometry) else {
                fallback += 1;
                continue;
            };
            let overlay = spherical_area_m2(&d.geometry.intersection(&s.geometry))
                / spherical_area_m2(&d.geometry);
            assert!(
                (share - overlay).abs() < 1e-6,
                "{} against the {} kt {:?} swath: {share} along the boundaries, {overlay} by the overlay",
                d.pcode,
                s.threshold_kt,
                s.period
            );
            if share > 0.0 && share < 1.0 - 1e-9 {
                partial += 1;
            } else if share > 0.0 {
                whole += 1;
            }
        }
    }
    // Freddy's swaths cut through dozens of districts and cover others whole.
    assert!(
        partial >= 30 && whole >= 15,
        "{partial} partial, {whole} whole"
    );
    assert!(
        fallback * 20 <= partial,
        "{fallback} pairs left to the overlay"
    );
}

/// Districts with holes (Chimbonila around Lichinga city, Rapale around Nampula city,
/// Lago Niassa around Malawi's islands) get their spherical area with the holes
/// subtracted: within 1 % of their geodesic (ellipsoidal) area, like every other district
/// (the sphere of equatorial radius reads 0.4–0.7 % high here). geo's own
/// Chamberlain–Duquette area adds a hole wound the RFC 7946 way: 4,347 km² for Rapale's
/// 3,662, 18.7 % high, so a swath's share of Rapale was under-counted by as much.
#[test]
fn spherical_district_areas_subtract_their_holes() {
    use aviso::spatial::spherical_area_m2;
    let Some((_, il, _)) = common::freddy_on_shipped_layers() else {
        return;
    };
    let mut with_holes = 0;
    for d in &il.layers.districts {
        let sph_km2 = spherical_area_m2(&d.geometry) / 1e6;
        assert!(
            (sph_km2 / d.area_km2 - 1.0).abs() < 1e-2,
            "{} {}: {sph_km2} km² spherical, {} km² geodesic",
            d.pcode,
            d.name,
            d.area_km2
        );
        with_holes += usize::from(d.geometry.0.iter().any(|p| !p.interiors().is_empty()));
    }
    assert_eq!(with_holes, 3);
}
