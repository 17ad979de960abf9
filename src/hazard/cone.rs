//! The track-uncertainty cone: the product's own polygon when it ships one (cleaned), else
//! the area swept by error circles along the forecast track.
//!
//! Pure geometry; must not depend on I/O, feeds or exposure.

use geo::{MakeValid, MultiPolygon, Polygon, RemoveRepeatedPoints, Validation};

use crate::domain::{Cone, ConeSource, Forecast, NauticalMiles};

use super::geodesy::{circle_points, hull, oriented_multi, union_polygons};
use super::track::Fix;
use super::{ConeConfig, HazardConfig, HazardError};

/// Radius (nm) of a linearly interpolated `[lead_h, radius_nm]` table at `lead_h`; held
/// constant beyond its ends (no extrapolation of error growth).
pub fn table_radius_nm(table: &[[f64; 2]], lead_h: f64) -> f64 {
    let Some(first) = table.first() else {
        return 0.0;
    };
    if lead_h <= first[0] {
        return first[1];
    }
    for pair in table.windows(2) {
        if let [a, b] = pair
            && lead_h <= b[0]
        {
            let span = b[0] - a[0];
            let t = if span > 0.0 {
                (lead_h - a[0]) / span
            } else {
                1.0
            };
            return a[1] + (b[1] - a[1]) * t;
        }
    }
    table.last().map(|l| l[1]).unwrap_or(0.0)
}

/// Where a fix's uncertainty radius came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RadiusFrom {
    PositionAccuracy,
    Table,
}

/// The uncertainty radius of a fix in nm: the point's own `position_accuracy_nm` when the
/// config allows it and the source gives one (RSMC La Réunion builds its cone from it), else
/// the configured table at the fix's lead time (negative leads count as 0).
pub(crate) fn fix_radius_nm(
    forecast: &Forecast,
    fix: &Fix<'_>,
    cfg: &ConeConfig,
) -> (f64, RadiusFrom) {
    if cfg.use_position_accuracy
        && let Some(NauticalMiles(r)) = fix.point.position_accuracy_nm
        && r.is_finite()
        && r >= 0.0
    {
        return (r, RadiusFrom::PositionAccuracy);
    }
    let lead = forecast.lead_time_h(fix.point).max(0.0);
    (
        table_radius_nm(&cfg.radii_nm_by_lead_h, lead),
        RadiusFrom::Table,
    )
}

/// The cone of a forecast chain, or `None` when there is neither a product cone nor a fix.
pub(crate) fn build_cone(
    forecast: &Forecast,
    chain: &[Fix<'_>],
    cfg: &HazardConfig,
    notes: &mut Vec<String>,
) -> Result<Option<Cone>, HazardError> {
    if cfg.cone.use_product_cone
        && let Some(product) = &forecast.cone
    {
        let geometry = clean_product_cone(product, &forecast.origin)?;
        if !geometry.0.is_empty() {
            return Ok(Some(Cone {
                source: ConeSource::Product,
                geometry,
            }));
        }
        notes.push(
            "the product's uncertainty cone has no area after cleaning; built one from error \
             circles instead"
                .to_string(),
        );
    }
    if chain.is_empty() {
        return Ok(None);
    }
    let circles: Vec<(Vec<geo::Coord<f64>>, RadiusFrom)> = chain
        .iter()
        .map(|f| {
            let (r_nm, from) = fix_radius_nm(forecast, f, &cfg.cone);
            (
                circle_points(f.pos, NauticalMiles(r_nm).to_m(), cfg.arc_step_deg),
                from,
            )
        })
        .collect();
    let mut pieces: Vec<Polygon<f64>> = Vec::new();
    if let [(only, _)] = circles.as_slice() {
        pieces.extend(hull(only.clone()));
    }
    for pair in circles.windows(2) {
        if let [(a, _), (b, _)] = pair {
            pieces.extend(hull(a.iter().chain(b.iter()).copied().collect()));
        }
    }
    let geometry = union_polygons(pieces);
    if geometry.0.is_empty() {
        return Ok(None);
    }
    let from_accuracy = circles
        .iter()
        .filter(|(_, f)| *f == RadiusFrom::PositionAccuracy)
        .count();
    let radii_source = if from_accuracy == circles.len() {
        "position_accuracy of each forecast point (the source's own uncertainty radius)".to_string()
    } else if from_accuracy == 0 {
        cfg.cone.radii_source.clone()
    } else {
        format!(
            "position_accuracy where given ({from_accuracy} of {} points), else {}",
            circles.len(),
            cfg.cone.radii_source
        )
    };
    Ok(Some(Cone {
        source: ConeSource::ErrorCircles { radii_source },
        geometry,
    }))
}

/// The product cone made usable: repeated vertices removed (RSMC repeats one at every
/// forecast time), repaired when invalid, rings oriented per RFC 7946.
pub(crate) fn clean_product_cone(
    product: &Polygon<f64>,
    origin: &str,
) -> Result<MultiPolygon<f64>, HazardError> {
    let p = product.remove_repeated_points();
    if p.exterior().0.len() < 4 {
        return Ok(MultiPolygon::new(vec![]));
    }
    let mp = if p.is_valid() {
        MultiPolygon::new(vec![p])
    } else {
        p.make_valid().map_err(|e| HazardError::InvalidCone {
            origin: origin.to_string(),
            reason: e.to_string(),
        })?
    };
    Ok(oriented_multi(mp))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn table_radius_interpolates_linearly_and_holds_at_the_ends() {
        let t = [[0.0, 0.0], [12.0, 26.0], [24.0, 39.0]];
        assert_eq!(table_radius_nm(&t, 0.0), 0.0);
        assert!((table_radius_nm(&t, 6.0) - 13.0).abs() < 1e-12);
        assert!((table_radius_nm(&t, 18.0) - 32.5).abs() < 1e-12);
        assert_eq!(table_radius_nm(&t, 48.0), 39.0);
        assert_eq!(table_radius_nm(&t, -3.0), 0.0);
        assert_eq!(table_radius_nm(&[], 5.0), 0.0);
    }

    #[test]
    fn a_bow_tie_product_cone_is_repaired_not_rejected() {
        let bow = Polygon::new(
            geo::LineString::from(vec![
                (0.0, 0.0),
                (1.0, 1.0),
                (1.0, 0.0),
                (0.0, 1.0),
                (0.0, 0.0),
            ]),
            vec![],
        );
        let mp = clean_product_cone(&bow, "test").unwrap();
        assert!(mp.is_valid());
        assert!(!mp.0.is_empty());
    }
}
