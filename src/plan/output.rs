//! The plan's tables as files: the district / province / country table as CSV and the
//! allocations, centres and origins as GeoJSON (EPSG:4326 lon/lat, RFC 7946). Written by
//! `aviso plan` and served at `/api/alerts/{id}/plan?f=csv|geojson`, so both give the
//! same bytes for the same plan. Pure: bytes in memory, no I/O.

use std::collections::HashMap;

use geo::{LineString, Point};
use geojson::{Feature, FeatureCollection, Geometry, GeometryValue, JsonObject};
use serde_json::{Value, json};

use super::{AreaPlan, CentreStatus, Plan, Range3};

/// Persons as whole numbers in tables (the inputs are estimates).
fn persons(v: f64) -> String {
    format!("{:.0}", v)
}

const CSV_HEADER: [&str; 31] = [
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
    "districts_population_unknown",
    "arrival_lead_time_h",
];

/// What the people, demand and gap cells of a district whose population is unknown say:
/// not 0, which would read as "nobody at risk".
pub const UNKNOWN: &str = "unknown";

/// The table: one row per district, then per province, then the country. A district whose
/// population is unknown shows [`UNKNOWN`] for its people at risk, demand and gap; a
/// province or the country counts such districts in `districts_population_unknown`, and
/// its sums leave them out.
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
            districts_population_unknown,
            arrival_h,
        } = row;
        let unknown = *scope == "district" && *districts_population_unknown > 0;
        let r3 = |r: Range3| {
            if unknown {
                [
                    UNKNOWN.to_string(),
                    UNKNOWN.to_string(),
                    UNKNOWN.to_string(),
                ]
            } else {
                r3(r)
            }
        };
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
            districts_population_unknown.to_string(),
            arrival_h.map(|h| format!("{h:.1}")).unwrap_or_default(),
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

/// Why a centre is unsafe for the event, in words (`None` when safe).
pub fn unsafe_reason(c: &CentreStatus) -> Option<String> {
    let mut why = Vec::new();
    if let Some(kt) = c.unsafe_threshold_kt {
        why.push(format!(
            "inside the forecast >= {kt} kt wind swath (10-min mean)"
        ));
    }
    if c.in_extra_unsafe_area {
        why.push("inside a flood area".to_string());
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Allocations as LineStrings (origin -> centre), centres as Points and the origins (the
/// at-risk sites, settlements and district points people leave from) as Points, EPSG:4326
/// lon/lat (RFC 7946: no crs member). Each feature says which it is in `feature`; every
/// feature of one kind has the same keys (null when unknown), as GDAL sets a layer's
/// schema from its first features. The OGC API's plan collections are cut from this
/// collection, so they and `/plan?f=geojson` give the same figures.
pub fn plan_geojson(plan: &Plan, decimals: u32) -> FeatureCollection {
    let r = |v: f64| round(v, decimals);
    let province_of: HashMap<&str, Option<&str>> = plan
        .districts
        .iter()
        .map(|d| (d.pcode.as_str(), d.province_pcode.as_deref()))
        .collect();
    let province = |district: Option<&String>| {
        district.and_then(|d| province_of.get(d.as_str()).copied().flatten())
    };
    let origin_district: HashMap<(&str, &str), Option<&String>> = plan
        .origins
        .iter()
        .map(|o| ((o.kind, o.id.as_str()), o.district_pcode.as_ref()))
        .collect();
    let mut features: Vec<Feature> = plan
        .allocations
        .iter()
        .map(|al| {
            let line = LineString::from(vec![
                (r(al.origin_lon), r(al.origin_lat)),
                (r(al.centre_lon), r(al.centre_lat)),
            ]);
            let district = origin_district
                .get(&(al.origin_kind, al.origin_id.as_str()))
                .copied()
                .flatten();
            feature(
                GeometryValue::from(&line),
                json!({
                    "feature": "allocation",
                    "origin_id": al.origin_id,
                    "origin_kind": al.origin_kind,
                    "origin_district_pcode": district,
                    "origin_province_pcode": province(district),
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
                "province_pcode": c.province_pcode,
                "capacity": c.capacity,
                "capacity_basis": c.capacity_basis,
                "occupancy": c.occupancy,
                "occupancy_date": c.occupancy_date,
                "occupancy_age_days": c.occupancy_age_days,
                "free_room": c.free_room,
                "safe": c.safe,
                "unsafe_reason": unsafe_reason(c),
                "unsafe_threshold_kt": c.unsafe_threshold_kt,
                "in_flood_extent": c.in_extra_unsafe_area,
                "allocated": round(c.allocated, 1),
                "free_room_after_plan": round((c.free_room - c.allocated).max(0.0), 1),
                "demonstration": c.demonstration,
            }),
        )
    }));
    features.extend(plan.origins.iter().map(|o| {
        feature(
            GeometryValue::from(&Point::new(r(o.lon), r(o.lat))),
            json!({
                "feature": "origin",
                "origin_id": o.id,
                "name": o.name,
                "origin_kind": o.kind,
                "district_pcode": o.district_pcode,
                "province_pcode": province(o.district_pcode.as_ref()),
                // A flood plan's origins are ranked by level, not by a wind threshold.
                "max_threshold_kt": plan.footprint_threshold_kt.map(|_| o.max_threshold_kt),
                "demand": round(o.demand, 1),
                "allocated": round(o.allocated, 1),
                "shortfall": round(o.shortfall, 1),
                "nearest_safe_km": o.nearest_safe_km.map(|k| round(k, 2)),
                "no_safe_centre_within_max_km": o.no_safe_centre_within_max,
                "max_distance_km": plan.max_distance_km,
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
