//! Test and bench support: domain values built from the shared real data without the feeds
//! parsers (another module owns those). Reads the RSMC La Réunion CMRSTRACK GeoJSON and the
//! COD-AB country outline generically with serde_json; only the fields hazard needs.
//!
//! Test-only code: panics on malformed data are the desired failure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::Value;

use aviso::domain::{
    FixKind, Forecast, ForecastSource, Hectopascals, Knots, Motion, NauticalMiles, QuadrantRadii,
    StormId, TrackPoint, WindAveraging, WindRadii,
};

/// FREDDY, RSMC La Réunion track forecast, reference 2023-03-10 00Z (see PROVENANCE.md).
pub const FREDDY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json"
);

/// Mozambique outline, OCHA/INE COD-AB adm0 simplified to 100 m (EPSG:4326).
pub const MOZ_ADM0: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/boundaries/moz_adm0_ocha_ine_20190607_s100m.geojson"
);

fn read_json(path: &str) -> Option<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("valid JSON")),
        Err(_) => {
            eprintln!("skipping: {path} not found");
            None
        }
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .expect("time string")
        .parse::<DateTime<Utc>>()
        .expect("RFC 3339 time")
}

fn ring(v: &Value) -> LineString<f64> {
    LineString::new(
        v.as_array()
            .expect("ring")
            .iter()
            .map(|c| Coord {
                x: c[0].as_f64().expect("lon"),
                y: c[1].as_f64().expect("lat"),
            })
            .collect(),
    )
}

fn polygon(v: &Value) -> Polygon<f64> {
    let rings = v.as_array().expect("polygon rings");
    Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect())
}

/// An RSMC CMRSTRACK product as a `Forecast` (10-minute winds). `None` if the file is absent.
pub fn load_rsmc(path: &str) -> Option<Forecast> {
    let doc = read_json(path)?;
    let mut track = Vec::new();
    let mut cone = None;
    for f in doc["features"].as_array().expect("features") {
        let props = &f["properties"];
        let kind = match props["data_type"].as_str().expect("data_type") {
            "analysis" => FixKind::Analysis,
            "forecast" => FixKind::Forecast,
            "uncertainty_cone" => {
                cone = Some(polygon(&f["geometry"]["coordinates"]));
                continue;
            }
            other => panic!("unexpected data_type {other}"),
        };
        let c = &f["geometry"]["coordinates"];
        let mut p = TrackPoint::new(
            time(&props["time"]),
            c[0].as_f64().expect("lon"),
            c[1].as_f64().expect("lat"),
            kind,
        );
        p.position_accuracy_nm = props["position_accuracy"].as_f64().map(NauticalMiles);
        let cd = &props["cyclone_data"];
        p.development = cd["development"].as_str().map(str::to_string);
        p.min_pressure_hpa = cd["minimum_pressure"].as_f64().map(Hectopascals);
        p.env_pressure_hpa = cd["last_closed_isobar"]["pressure"]
            .as_f64()
            .map(Hectopascals);
        p.roci_nm = cd["last_closed_isobar"]["radius"]
            .as_f64()
            .map(NauticalMiles);
        p.max_wind_kt = cd["maximum_wind"]["wind_speed_kt"].as_f64().map(Knots);
        p.gust_kt = cd["maximum_wind"]["wind_speed_gust_kt"].as_f64().map(Knots);
        p.rmw_nm = cd["maximum_wind"]["radius"].as_f64().map(NauticalMiles);
        if let (Some(s), Some(d)) = (
            cd["storm_motion"]["speed_kt"].as_f64(),
            cd["storm_motion"]["direction_toward"].as_f64(),
        ) {
            p.motion = Some(Motion {
                speed_kt: s,
                toward_deg: d,
            });
        }
        if let Some(contours) = cd["wind_contours"].as_array() {
            for w in contours {
                let mut r = QuadrantRadii {
                    ne_nm: 0.0,
                    se_nm: 0.0,
                    sw_nm: 0.0,
                    nw_nm: 0.0,
                };
                for sector in w["radius"].as_array().expect("radius") {
                    let v = sector["value"].as_f64().expect("radius value");
                    match sector["sector"].as_str().expect("sector") {
                        "NEQ" => r.ne_nm = v,
                        "SEQ" => r.se_nm = v,
                        "SWQ" => r.sw_nm = v,
                        "NWQ" => r.nw_nm = v,
                        other => panic!("unexpected sector {other}"),
                    }
                }
                p.wind_radii.push(WindRadii {
                    threshold_kt: w["wind_speed_kt"].as_f64().expect("threshold"),
                    radii: r,
                });
            }
            p.wind_radii
                .sort_by(|a, b| a.threshold_kt.total_cmp(&b.threshold_kt));
        }
        track.push(p);
    }
    Some(Forecast {
        source: ForecastSource::RsmcReunion,
        origin: path.to_string(),
        storm: StormId {
            name: doc["cyclone_name"]
                .as_str()
                .unwrap_or("UNNAMED")
                .to_string(),
            id: doc["cyclone_id"].as_str().unwrap_or_default().to_string(),
            basin: doc["basin"].as_str().unwrap_or_default().to_string(),
            season: doc["season"].to_string(),
        },
        issued: time(&doc["update_time"]),
        reference_time: time(&doc["reference_time"]),
        wind_averaging: WindAveraging::TenMinute,
        track,
        cone,
    })
}

/// The (multi)polygon of the first feature of a GeoJSON FeatureCollection.
pub fn load_outline(path: &str) -> Option<MultiPolygon<f64>> {
    let doc = read_json(path)?;
    let g = &doc["features"][0]["geometry"];
    let coords = &g["coordinates"];
    Some(match g["type"].as_str().expect("geometry type") {
        "Polygon" => MultiPolygon::new(vec![polygon(coords)]),
        "MultiPolygon" => MultiPolygon::new(
            coords
                .as_array()
                .expect("polygons")
                .iter()
                .map(polygon)
                .collect(),
        ),
        other => panic!("unexpected geometry type {other}"),
    })
}
