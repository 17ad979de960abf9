//! The plan's tables as files: the district / province / country table as CSV and the
//! allocations and centres as GeoJSON (EPSG:4326 lon/lat, RFC 7946). Written by
//! `aviso plan` and served at `/api/alerts/{id}/plan?f=csv|geojson`, so both give the
//! same bytes for the same plan. Pure: bytes in memory, no I/O.

use geo::{LineString, Point};
use geojson::{Feature, FeatureCollection, Geometry, GeometryValue, JsonObject};
use serde_json::{Value, json};

use super::{AreaPlan, Plan, Range3};

/// Persons as whole numbers in tables (the inputs are estimates).
fn persons(v: f64) -> String {
    format!("{:.0}", v)
}

const CSV_HEADER: [&str; 29] = [
    "scope",
    "pcode",
    "name",
    "province_pcode",
    "province_name",
    "level",
    "people_at_risk_low",
    "people_at_risk_central",
    "people_at_risk_high",
    "fraction_low",
    "fraction_central",
    "fraction_high",
    "demand_low",
    "demand_central",
    "demand_high",
    "centres",
    "centres_unsafe",
    "centres_capacity_unknown",
    "safe_capacity",
    "gap_low",
    "gap_central",
    "gap_high",
    "settlements_at_risk",
    "sites_at_risk",
    "origins_without_safe_centre_within_km",
    "max_distance_km",
    "allocated",
    "shortfall",
    "demonstration_register",
];

/// The table: one row per district, then per province, then the country.
pub fn plan_csv(plan: &Plan) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    let max_km = plan.max_distance_km.to_string();
    let r3 = |r: Range3| [persons(r.low), persons(r.central), persons(r.high)];
    let rows = plan
        .districts
        .iter()
        .chain(&plan.provinces)
        .chain(std::iter::once(&plan.national));
    for row in rows {
        let AreaPlan {
            scope,
            pcode,
            name,
            province_pcode,
            province_name,
            level,
            people_at_risk,
            fraction,
            demand,
            centres,
            centres_unsafe,
            centres_capacity_unknown,
            safe_capacity,
            gap,
            settlements_at_risk,
            sites_at_risk,
            origins_without_centre,
            allocated,
            shortfall,
        } = row;
        let f = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
        let mut rec: Vec<String> = vec![
            scope.to_string(),
            pcode.clone(),
            name.clone(),
            province_pcode.clone().unwrap_or_default(),
            province_name.clone().unwrap_or_default(),
            level.map(|l| l.name_en().to_string()).unwrap_or_default(),
        ];
        rec.extend(r3(*people_at_risk));
        rec.extend([
            f(fraction.map(|x| x.low)),
            f(fraction.map(|x| x.central)),
            f(fraction.map(|x| x.high)),
        ]);
        rec.extend(r3(*demand));
        rec.extend([
            centres.to_string(),
            centres_unsafe.to_string(),
            centres_capacity_unknown.to_string(),
            persons(*safe_capacity),
        ]);
        rec.extend(r3(*gap));
        rec.extend([
            settlements_at_risk.to_string(),
            sites_at_risk.to_string(),
            origins_without_centre.to_string(),
            max_km.to_string(),
            persons(*allocated),
            persons(*shortfall),
            plan.demonstration.to_string(),
        ]);
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn round(v: f64, decimals: u32) -> f64 {
    let k = 10f64.powi(decimals as i32);
    (v * k).round() / k
}

fn feature(geometry: GeometryValue, properties: Value) -> Feature {
    let properties: Option<JsonObject> = match properties {
        Value::Object(m) => Some(m),
        _ => None,
    };
    Feature {
        bbox: None,
        geometry: Some(Geometry::new(geometry)),
        id: None,
        properties,
        foreign_members: None,
    }
}

/// Allocations as LineStrings (origin -> centre) and centres as Points, EPSG:4326 lon/lat
/// (RFC 7946: no crs member).
pub fn plan_geojson(plan: &Plan, decimals: u32) -> FeatureCollection {
    let r = |v: f64| round(v, decimals);
    let mut features: Vec<Feature> = plan
        .allocations
        .iter()
        .map(|al| {
            let line = LineString::from(vec![
                (r(al.origin_lon), r(al.origin_lat)),
                (r(al.centre_lon), r(al.centre_lat)),
            ]);
            feature(
                GeometryValue::from(&line),
                json!({
                    "feature": "allocation",
                    "origin_id": al.origin_id,
                    "origin_kind": al.origin_kind,
                    "centre_code": al.centre_code,
                    "centre_name": al.centre_name,
                    "persons": round(al.persons, 1),
                    "distance_km": round(al.distance_km, 2),
                    "distance_method": "geodesic WGS 84 (no road network)",
                    "travel_min": al.travel_min,
                    "rank": al.rank,
                }),
            )
        })
        .collect();
    features.extend(plan.centres.iter().map(|c| {
        feature(
            GeometryValue::from(&Point::new(r(c.lon), r(c.lat))),
            json!({
                "feature": "centre",
                "code": c.code,
                "name": c.name,
                "site_type": c.site_type,
                "district_pcode": c.district_pcode,
                "capacity": c.capacity,
                "capacity_basis": c.capacity_basis,
                "occupancy": c.occupancy,
                "occupancy_date": c.occupancy_date,
                "occupancy_age_days": c.occupancy_age_days,
                "free_room": c.free_room,
                "safe": c.safe,
                "unsafe_threshold_kt": c.unsafe_threshold_kt,
                "in_flood_extent": c.in_extra_unsafe_area,
                "allocated": round(c.allocated, 1),
                "demonstration": c.demonstration,
            }),
        )
    }));
    let mut foreign = JsonObject::new();
    foreign.insert("storm".into(), json!(plan.storm));
    foreign.insert("reference_time".into(), json!(plan.reference_time));
    foreign.insert("register".into(), json!(plan.register_source));
    foreign.insert("notes".into(), json!(plan.notes));
    FeatureCollection {
        bbox: None,
        features,
        foreign_members: Some(foreign),
    }
}
