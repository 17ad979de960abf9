//! The collections of the loaded layers, rendered once at start: the country outline,
//! provinces, districts (COD-AB), then one per point layer.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::json;

use super::collection::{Collection, Item, as_multipolygon, make_item, safe_id};
use super::{DECIMALS, DISTRICTS_AT_RISK, HAZARD_ZONES, PROBABILITY_CONTOURS};
use crate::alerts::document::{multipolygon_geometry, point_geometry, round};
use crate::domain::{AdminArea, Layers, PointLayer};

fn area_item(a: &AdminArea, district: bool) -> Item {
    let props = if district {
        json!({
            "pcode": a.pcode, "name": a.name,
            "province_pcode": a.parent_pcode, "province_name": a.parent_name,
            "area_km2": round(a.area_km2, 1),
            "population": a.population, "population_source": a.population_source,
        })
    } else {
        json!({
            "pcode": a.pcode, "name": a.name,
            "area_km2": round(a.area_km2, 1),
            "population": a.population, "population_source": a.population_source,
        })
    };
    make_item(
        a.pcode.clone(),
        Some(geo::Geometry::MultiPolygon(a.geometry.clone())),
        multipolygon_geometry(&a.geometry, DECIMALS).map(as_multipolygon),
        props,
    )
}

fn point_collection(id: String, l: &PointLayer) -> Collection {
    let items = l
        .features
        .iter()
        .map(|f| {
            make_item(
                f.id.clone(),
                Some(geo::Geometry::Point(f.location)),
                Some(point_geometry(f.location.x(), f.location.y(), DECIMALS)),
                // Every key on every feature (null when unknown): GDAL sets the layer
                // schema from the first page.
                json!({
                    "id": f.id, "name": f.name, "kind": f.kind, "kind_pt": f.kind.label_pt(),
                    "subtype": f.subtype, "district_pcode": f.district_pcode,
                    "population": f.population, "households": f.households,
                    "capacity": f.capacity,
                }),
            )
        })
        .collect();
    let mut description = format!(
        "{} ({}), {} features. Source: {}. Licence: {}.",
        l.info.name,
        l.kind.label_en(),
        l.features.len(),
        l.info.source,
        l.info.licence
    );
    if let Some(c) = &l.info.caveat {
        let _ = write!(description, " Caveat: {c}");
    }
    Collection::new(
        id,
        format!("{} ({})", l.info.name, l.kind.label_en()),
        description,
        items,
    )
}

/// The collections of the loaded layers, in a fixed order: country, provinces, districts,
/// then the point layers in manifest order.
pub fn layer_collections(layers: &Layers) -> Vec<Collection> {
    // The country's P-code is the letters its provinces' P-codes start with (COD-AB: "MZ"
    // for "MZ07"); "country" when the provinces do not agree on one.
    let prefixes: HashSet<String> = layers
        .provinces
        .iter()
        .map(|p| {
            p.pcode
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect()
        })
        .collect();
    let country_id = match prefixes.iter().next() {
        Some(p) if prefixes.len() == 1 && !p.is_empty() => p.clone(),
        _ => "country".to_string(),
    };
    let country_geojson = multipolygon_geometry(&layers.country, DECIMALS).map(as_multipolygon);
    let country = make_item(
        country_id.clone(),
        Some(geo::Geometry::MultiPolygon(layers.country.clone())),
        country_geojson,
        json!({"pcode": country_id}),
    );
    let mut out = vec![
        Collection::new(
            "country".into(),
            "Country outline".into(),
            "The country outline (COD-AB admin 0): landfall is where a forecast track first enters it.".into(),
            vec![country],
        ),
        Collection::new(
            "provinces".into(),
            "Provinces".into(),
            format!(
                "{} provinces (COD-AB admin 1), id = P-code; population summed from the districts.",
                layers.provinces.len()
            ),
            layers.provinces.iter().map(|a| area_item(a, false)).collect(),
        ),
        Collection::new(
            "districts".into(),
            "Districts".into(),
            format!(
                "{} districts (COD-AB admin 2), id = P-code; population joined by P-code.",
                layers.districts.len()
            ),
            layers.districts.iter().map(|a| area_item(a, true)).collect(),
        ),
    ];
    let mut taken: HashSet<String> = out.iter().map(|c| c.id.clone()).collect();
    taken.insert(HAZARD_ZONES.into());
    taken.insert(DISTRICTS_AT_RISK.into());
    taken.insert(PROBABILITY_CONTOURS.into());
    taken.extend(super::plan::PLAN_COLLECTIONS.map(String::from));
    for l in &layers.points {
        let mut id = safe_id(&l.info.name);
        while !taken.insert(id.clone()) {
            id.push_str("_points");
        }
        out.push(point_collection(id, l));
    }
    out
}
