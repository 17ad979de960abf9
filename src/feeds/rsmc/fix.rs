//! A Point feature into a track fix: time, position, intensity, motion and the wind radii
//! of its contours (missing sectors 0 nm).

use super::raw::{RawContour, RawFeature};
use super::{geometry_of, invalid_at, lon_lat, parse_time};
use crate::domain::{
    FixKind, Hectopascals, Knots, Motion, NauticalMiles, QuadrantRadii, TrackPoint, WindRadii,
};
use crate::feeds::{FeedError, Location};

pub(super) fn track_point(
    origin: &str,
    index: usize,
    f: &RawFeature,
) -> Result<TrackPoint, FeedError> {
    let at = Location::Feature(index);
    let invalid = invalid_at(origin, &at);
    let props = &f.properties;
    let kind = match props.data_type.as_deref() {
        Some("forecast") => FixKind::Forecast,
        _ => FixKind::Analysis,
    };
    let time = match &props.time {
        Some(s) => parse_time(s).ok_or_else(|| {
            invalid(
                "properties.time",
                "an RFC 3339 UTC time like \"2023-03-10T16:00:00Z\"",
                format!("{s:?}"),
            )
        })?,
        None => {
            return Err(invalid(
                "properties.time",
                "the fix time",
                "no such member".into(),
            ));
        }
    };
    let geometry = geometry_of(origin, index, f, "Point")?;
    let (lon, lat) = lon_lat(origin, &at, "geometry.coordinates", &geometry.coordinates)?;

    let mut p = TrackPoint::new(time, lon, lat, kind);
    p.position_accuracy_nm = props.position_accuracy.map(NauticalMiles);
    if let Some(cd) = &props.cyclone_data {
        p.development = cd.development.clone();
        // RSMC labels a centre over land "inland" (e.g. "inland", "overland depression").
        p.over_land = cd.development.as_deref().map(|d| {
            let d = d.to_ascii_lowercase();
            d.contains("inland") || d.contains("overland") || d.contains("over land")
        });
        p.min_pressure_hpa = cd.minimum_pressure.map(Hectopascals);
        if let Some(m) = &cd.storm_motion
            && let (Some(speed_kt), Some(toward_deg)) = (m.speed_kt, m.direction_toward)
        {
            p.motion = Some(Motion {
                speed_kt,
                toward_deg,
            });
        }
        if let Some(iso) = &cd.last_closed_isobar {
            p.env_pressure_hpa = iso.pressure.map(Hectopascals);
            p.roci_nm = iso.radius.map(NauticalMiles);
        }
        if let Some(w) = &cd.maximum_wind {
            p.max_wind_kt = w.wind_speed_kt.map(Knots);
            p.gust_kt = w.wind_speed_gust_kt.map(Knots);
            p.rmw_nm = w.radius.map(NauticalMiles);
        }
        for (ci, contour) in cd.wind_contours.iter().enumerate() {
            p.wind_radii.push(contour_radii(origin, &at, ci, contour)?);
        }
        p.wind_radii
            .sort_by(|a, b| a.threshold_kt.total_cmp(&b.threshold_kt));
    }
    Ok(p)
}

fn contour_radii(
    origin: &str,
    at: &Location,
    ci: usize,
    c: &RawContour,
) -> Result<WindRadii, FeedError> {
    let field = format!("cyclone_data.wind_contours[{ci}]");
    let mut q: [Option<f64>; 4] = [None; 4];
    for s in &c.radius {
        let slot = match s.sector.as_str() {
            "NEQ" => 0,
            "SEQ" => 1,
            "SWQ" => 2,
            "NWQ" => 3,
            other => {
                return Err(FeedError::Invalid {
                    origin: origin.to_string(),
                    at: at.clone(),
                    field,
                    expected: "sector NEQ, SEQ, SWQ or NWQ".into(),
                    found: format!("{other:?}"),
                });
            }
        };
        if !(s.value.is_finite() && s.value >= 0.0) {
            return Err(FeedError::Invalid {
                origin: origin.to_string(),
                at: at.clone(),
                field,
                expected: "a radius ≥ 0 nm".into(),
                found: s.value.to_string(),
            });
        }
        q[slot] = Some(s.value);
    }
    // RSMC omits the sectors a threshold does not reach (CHIDO 2024-12-07 00Z: a 30 kt
    // depression with 28 kt winds listed for SEQ and SWQ only), so a missing sector is 0.
    let [ne_nm, se_nm, sw_nm, nw_nm] = q.map(|v| v.unwrap_or(0.0));
    Ok(WindRadii {
        threshold_kt: c.wind_speed_kt,
        radii: QuadrantRadii {
            ne_nm,
            se_nm,
            sw_nm,
            nw_nm,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::parse;
    use super::super::tests::doc;

    #[test]
    fn sectors_missing_from_a_contour_are_not_reached() {
        let d = doc(
            r#"{"type":"Feature","properties":{"data_type":"analysis","time":"2024-12-07T00:00:00Z",
               "cyclone_data":{"wind_contours":[{"wind_speed_kt":28,"radius":[{"sector":"SEQ","value":180},{"sector":"SWQ","value":100}]}]}},
               "geometry":{"type":"Point","coordinates":[60.0,-11.0]}}"#,
        );
        let f = parse(d.as_bytes(), "t.json").unwrap().forecast;
        let r = f.track[0].radii_for(28.0).unwrap();
        assert_eq!(
            (r.ne_nm, r.se_nm, r.sw_nm, r.nw_nm),
            (0.0, 180.0, 100.0, 0.0)
        );
    }

    #[test]
    fn an_unknown_sector_is_an_error_naming_the_feature_and_contour() {
        let d = doc(
            r#"{"type":"Feature","properties":{"data_type":"forecast","time":"2023-03-10T12:00:00Z",
               "cyclone_data":{"wind_contours":[{"wind_speed_kt":34,"radius":[{"sector":"NNE","value":10}]}]}},
               "geometry":{"type":"Point","coordinates":[40.0,-20.0]}}"#,
        );
        let e = parse(d.as_bytes(), "t.json").unwrap_err().to_string();
        assert!(
            e.contains("t.json: feature 0, cyclone_data.wind_contours[0]") && e.contains("\"NNE\""),
            "{e}"
        );
    }
}
