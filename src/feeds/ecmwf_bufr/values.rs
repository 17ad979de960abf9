//! Per-subset columns of ECMWF TC-track BUFR keys and the conversions applied to them
//! (wind-radius quadrants and thresholds, longitude, storm identity), for
//! [`super::parse`]. Pure: no ecCodes calls, no I/O.

use super::{MISSING_DOUBLE, NOMINAL_THRESHOLD_TOLERANCE_KT, NOMINAL_THRESHOLDS_KT};
use crate::domain::{
    QuadrantRadii, StormId, WindRadii,
    units::{METRES_PER_NM, MS_PER_KT},
};

/// Key values of one message, one per subset.
pub(super) type Column = Vec<f64>;

/// Whether ecCodes marks the value missing.
pub(super) fn missing(v: f64) -> bool {
    !v.is_finite() || v == MISSING_DOUBLE
}

/// One time step's columns (values per subset).
pub(super) struct Step {
    pub(super) hours: Column,
    pub(super) lat: Column,
    pub(super) lon: Column,
    pub(super) wind_lat: Option<Column>,
    pub(super) wind_lon: Option<Column>,
    pub(super) pressure_pa: Option<Column>,
    pub(super) wind_ms: Option<Column>,
    pub(super) radii: Vec<RadiiColumns>,
}

/// One threshold's radii at one step: the threshold (m/s), four (from, to) bearing pairs and
/// four radii (m), per subset.
pub(super) struct RadiiColumns {
    pub(super) threshold_ms: Column,
    pub(super) bearings: Vec<Column>,
    pub(super) radius_m: Vec<Column>,
    /// Whether a threshold of this step maps onto a nominal kt value (for the file's notes).
    pub(super) nominal: bool,
}

impl RadiiColumns {
    pub(super) fn new(threshold_ms: Column, bearings: Vec<Column>, radius_m: Vec<Column>) -> Self {
        let nominal = threshold_ms
            .iter()
            .any(|&v| !missing(v) && nominal_threshold_kt(kt_from_ms(v)).is_some());
        RadiiColumns {
            threshold_ms,
            bearings,
            radius_m,
            nominal,
        }
    }

    /// The radii of subset `j`, `None` when the threshold or a radius is missing.
    pub(super) fn at(&self, j: usize) -> Result<Option<WindRadii>, String> {
        let get = |c: &Column| c.get(j).copied().filter(|v| !missing(*v));
        let Some(ms) = get(&self.threshold_ms) else {
            return Ok(None);
        };
        let kt = kt_from_ms(ms);
        let mut quads = [None::<f64>; 4]; // NE, SE, SW, NW
        for q in 0..4 {
            let (Some(from), Some(to)) = (
                self.bearings.get(2 * q).and_then(get),
                self.bearings.get(2 * q + 1).and_then(get),
            ) else {
                return Ok(None);
            };
            let Some(r_m) = self.radius_m.get(q).and_then(get) else {
                return Ok(None);
            };
            let slot = match (from.round() as i64, to.round() as i64) {
                (0, 90) => 0,
                (90, 180) => 1,
                (180, 270) => 2,
                (270, 0) | (270, 360) => 3,
                _ => {
                    return Err(format!(
                        "wind radius at {ms} m/s spans bearings {from}..{to}, expected a \
                         quadrant (0..90, 90..180, 180..270, 270..0)"
                    ));
                }
            };
            if r_m < 0.0 {
                return Err(format!("wind radius at {ms} m/s is {r_m} m"));
            }
            quads[slot] = Some(r_m / METRES_PER_NM);
        }
        let [Some(ne), Some(se), Some(sw), Some(nw)] = quads else {
            return Err(format!(
                "wind radii at {ms} m/s do not cover the four quadrants once each"
            ));
        };
        Ok(Some(WindRadii {
            threshold_kt: nominal_threshold_kt(kt).unwrap_or(kt),
            radii: QuadrantRadii::new(ne, se, sw, nw),
        }))
    }
}

/// m/s to kt: 1 kt = 1852 m / 3600 s ([`MS_PER_KT`], exact by the definition of the
/// international nautical mile).
pub(super) fn kt_from_ms(ms: f64) -> f64 {
    ms / MS_PER_KT
}

/// The nominal threshold (kt) a converted ECMWF threshold stands for, if any.
pub(super) fn nominal_threshold_kt(kt: f64) -> Option<f64> {
    NOMINAL_THRESHOLDS_KT
        .into_iter()
        .find(|n| (kt - n).abs() <= NOMINAL_THRESHOLD_TOLERANCE_KT)
}

/// Longitude in −180..180 (BUFR allows −180..180 but some producers write 0..360).
pub(super) fn normalise_lon(lon: f64) -> f64 {
    if lon > 180.0 { lon - 360.0 } else { lon }
}

/// Storm identity from BUFR's storm identifier ("22S": the warning centre's number and
/// basin letter, as JTWC numbers storms) and the reference year/month: id "22S/2020".
/// Southern-hemisphere letters (S = South Indian, P = South Pacific) get basin "SH" and
/// JTWC's season, which runs 1 July – 30 June and is named by its second year (JTWC Annual
/// Tropical Cyclone Report conventions); other letters keep the calendar year.
///
/// The id is deliberately NOT ATCF's "SH222020": the event id comes from the storm id, and
/// a JTWC deck and an ECMWF file of the same storm must not interleave as versions of one
/// alert chain (the reason config/service.example.toml keeps JTWC's chain apart from RSMC's).
pub(super) fn storm_id(ident: &str, name: String, year: i64, month: i64) -> StormId {
    let letter = ident.chars().last().filter(char::is_ascii_alphabetic);
    let (basin, season) = match letter {
        Some('S' | 'P') => ("SH".to_string(), if month >= 7 { year + 1 } else { year }),
        other => (other.map(String::from).unwrap_or_default(), year),
    };
    StormId {
        name,
        id: format!("{ident}/{season}"),
        basin,
        season: season.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::Knots;

    #[test]
    fn ecmwf_thresholds_map_onto_34_50_64_kt() {
        let kt = |ms: f64| nominal_threshold_kt(kt_from_ms(ms));
        assert_eq!(kt(18.0), Some(34.0));
        assert_eq!(kt(26.0), Some(50.0));
        assert_eq!(kt(33.0), Some(64.0));
        assert_eq!(kt(20.0), None, "38.9 kt is no nominal threshold");
        assert!((Knots::from_ms(18.0).0 - 34.99).abs() < 0.01);
    }

    #[test]
    fn southern_hemisphere_ids_follow_jtwc_seasons() {
        let s = storm_id("22S", "HEROLD".into(), 2020, 3);
        assert_eq!(
            (s.id.as_str(), s.basin.as_str(), s.season.as_str()),
            ("22S/2020", "SH", "2020")
        );
        let s = storm_id("01S", "X".into(), 2019, 10);
        assert_eq!((s.id.as_str(), s.season.as_str()), ("01S/2020", "2020"));
        let s = storm_id("09L", "Y".into(), 2024, 9);
        assert_eq!((s.id.as_str(), s.basin.as_str()), ("09L/2024", "L"));
    }

    #[test]
    fn longitudes_are_normalised_to_minus_180_180() {
        assert_eq!(normalise_lon(350.0), -10.0);
        assert_eq!(normalise_lon(71.1), 71.1);
    }
}
