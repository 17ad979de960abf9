//! The contingency plan's collections (issue 14 item 6), for GIS staff: `sites_at_risk`
//! (the places people leave from: the register's sites and the settlements inside the
//! footprint or flood areas, and a district's interior point when it has no settlement
//! inside),
//! `accommodation_centres` (every centre of the register with its free room and whether
//! it is safe for the event, and why not) and `allocations` (LineStrings from an origin to
//! a centre, with the persons sent and the geodesic km).
//!
//! Drawn from the plan `/api/alerts/{id}/plan` serves: the same cached plan per (version,
//! register revision) and the same GeoJSON features (`plan::output::plan_geojson`), so the
//! figures agree by construction. Which versions: those the alert collections would draw
//! (`events`): the current alert by default, `event=<id>` one active event, `event=all`
//! every one (ids become `<event_id>:<id>`), `status=Exercise|Test` drills. Every feature
//! carries `event_id` and `alert_id`. Versions no plan can be made for (a Cancel, one issued
//! without a forecast) are left out, except when named by `event`, which answers why (422).
//!
//! Only `aviso serve` has plans: elsewhere these collections are not listed. Their
//! queryables are fixed here (not read from the features) so /collections, /api and the
//! queryables answer without planning a version. Must not depend on the pipeline.

use std::sync::Arc;

use serde_json::{Value, json};

use super::collection::{Collection, Item, make_item};
use super::cql2::PropType::{self, Boolean, Integer, Number, String as Text};
use super::events::{Selection, selected_records};
use crate::api::plan::{PlanApi, PlanFeatures};
use crate::api::{ApiError, ApiState};
use crate::store::AlertRecord;

pub const SITES_AT_RISK: &str = "sites_at_risk";
pub const ACCOMMODATION_CENTRES: &str = "accommodation_centres";
pub const ALLOCATIONS: &str = "allocations";
/// The plan's collections, in the order they are listed.
pub(crate) const PLAN_COLLECTIONS: [&str; 3] = [SITES_AT_RISK, ACCOMMODATION_CENTRES, ALLOCATIONS];

/// Drawn selections kept (each holds a few thousand small features).
const KEPT: usize = 4;

const TAGS: [(&str, PropType); 2] = [("event_id", Text), ("alert_id", Text)];

const SITE_QUERYABLES: [(&str, PropType); 12] = [
    ("origin_id", Text),
    ("name", Text),
    ("origin_kind", Text),
    ("district_pcode", Text),
    ("province_pcode", Text),
    ("max_threshold_kt", Number),
    ("demand", Number),
    ("allocated", Number),
    ("shortfall", Number),
    ("nearest_safe_km", Number),
    ("no_safe_centre_within_max_km", Boolean),
    ("max_distance_km", Number),
];

const CENTRE_QUERYABLES: [(&str, PropType); 18] = [
    ("code", Text),
    ("name", Text),
    ("site_type", Text),
    ("district_pcode", Text),
    ("province_pcode", Text),
    ("capacity", Number),
    ("capacity_basis", Text),
    ("occupancy", Number),
    ("occupancy_date", Text),
    ("occupancy_age_days", Integer),
    ("free_room", Number),
    ("safe", Boolean),
    ("unsafe_reason", Text),
    ("unsafe_threshold_kt", Number),
    ("in_flood_extent", Boolean),
    ("allocated", Number),
    ("free_room_after_plan", Number),
    ("demonstration", Boolean),
];

const ALLOCATION_QUERYABLES: [(&str, PropType); 11] = [
    ("origin_id", Text),
    ("origin_kind", Text),
    ("origin_district_pcode", Text),
    ("origin_province_pcode", Text),
    ("centre_code", Text),
    ("centre_name", Text),
    ("persons", Number),
    ("distance_km", Number),
    ("distance_method", Text),
    ("travel_min", Number),
    ("rank", Integer),
];

/// The plan's three collections for one selection of versions.
#[derive(Debug)]
pub struct PlanCollections {
    sites: Collection,
    centres: Collection,
    allocations: Collection,
}

impl PlanCollections {
    /// The collection named `id` (one of [`PLAN_COLLECTIONS`]; otherwise the allocations).
    pub(super) fn collection(&self, id: &str) -> &Collection {
        match id {
            SITES_AT_RISK => &self.sites,
            ACCOMMODATION_CENTRES => &self.centres,
            _ => &self.allocations,
        }
    }
}

fn title(id: &str) -> &'static str {
    match id {
        SITES_AT_RISK => "Sites and settlements at risk (contingency plan)",
        ACCOMMODATION_CENTRES => "Accommodation centres: free room and safety (contingency plan)",
        _ => "Allocations from site to centre (contingency plan)",
    }
}

fn description(id: &str) -> String {
    let what = match id {
        SITES_AT_RISK => {
            "Places people leave from: the register's sites and the settlements inside the \
             forecast >= 34 kt footprint or a flood area (a district's interior point when it \
             has none), with \
             their demand (persons, central), what the plan places and the shortfall; \
             origin_kind = site, settlement or district."
        }
        ACCOMMODATION_CENTRES => {
            "Every accommodation centre of the register in force: capacity (register, else \
             floor area / 3.5 m2), latest occupancy and its age, free room, whether it is safe \
             for the event (unsafe_reason says why not: inside a forecast wind swath or a \
             flood area) and the persons the plan sends there."
        }
        _ => {
            "LineStrings from an origin to a centre: persons sent and the geodesic distance in \
             km (WGS 84, no road network), rank 1 = the origin's first choice."
        }
    };
    format!(
        "{what} From the contingency plan of each version, as /api/alerts/{{id}}/plan serves \
         it. Default: the current alert; event=<event_id> one active event, event=all every \
         one (ids <event_id>:<id>), status=Exercise or Test drills. Cyclone and flood versions. \
         EPSG:4326 / CRS84."
    )
}

fn queryables(id: &str) -> Vec<(String, PropType)> {
    let own: &[(&str, PropType)] = match id {
        SITES_AT_RISK => &SITE_QUERYABLES,
        ACCOMMODATION_CENTRES => &CENTRE_QUERYABLES,
        _ => &ALLOCATION_QUERYABLES,
    };
    own.iter()
        .chain(TAGS.iter())
        .map(|(n, t)| (n.to_string(), *t))
        .collect()
}

/// A plan collection as /collections describes it: no features, its fixed queryables.
pub(super) fn described(id: &str) -> Collection {
    with_queryables(
        Collection::new(id.into(), title(id).into(), description(id), Vec::new()),
        id,
    )
}

fn with_queryables(mut c: Collection, id: &str) -> Collection {
    c.queryables = queryables(id);
    c
}

/// The plan of a request's versions: `sel` as the alert collections read it, `None` for
/// the current alert.
pub(super) async fn plan_collections(
    state: &Arc<ApiState>,
    sel: Option<&Selection>,
) -> Result<Arc<PlanCollections>, ApiError> {
    let api = state.plan.clone().ok_or_else(|| ApiError::NotFound {
        what: "contingency plan collections (served by `aviso serve` only)".into(),
    })?;
    let records: Vec<AlertRecord> = match sel {
        Some(sel) => selected_records(state, sel).await?,
        None => match state.published().current() {
            Some(current) => vec![crate::api::alerts::record(state, current.id.clone()).await?],
            None => Vec::new(),
        },
    };
    let many = sel.is_some_and(Selection::many);
    let named = sel.is_some_and(|s| s.event().is_some());
    let planner = Arc::clone(&api);
    let planned = tokio::task::spawn_blocking(move || plan_each(&planner, records, named))
        .await
        .map_err(|e| ApiError::Internal {
            cause: format!("plan collections task: {e}"),
        })??;
    let key = format!(
        "{many}|{}",
        planned
            .iter()
            .map(|(_, _, f)| f.key.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    if let Some(hit) = api.drawn_collections(&key) {
        return Ok(hit);
    }
    let drawn = Arc::new(draw(&planned, many)?);
    api.keep_collections(key, Arc::clone(&drawn), KEPT);
    Ok(drawn)
}

/// Each version's plan features: (event id, version id, features). Blocking.
fn plan_each(
    api: &PlanApi,
    records: Vec<AlertRecord>,
    named: bool,
) -> Result<Vec<(String, String, PlanFeatures)>, ApiError> {
    let mut out = Vec::with_capacity(records.len());
    for rec in records {
        match api.features_of(&rec) {
            Ok(f) => out.push((rec.summary.event_id.clone(), rec.summary.id.clone(), f)),
            Err(e) if named => return Err(e),
            // A flood or a Cancel among every active event: left out; the plan route
            // says why for that version.
            Err(e) => tracing::debug!(version = %rec.summary.id, error = %e, "no plan collections"),
        }
    }
    Ok(out)
}

/// Cuts the versions' plan features into the three collections.
fn draw(
    planned: &[(String, String, PlanFeatures)],
    many: bool,
) -> Result<PlanCollections, ApiError> {
    let (mut sites, mut centres, mut allocations) = (Vec::new(), Vec::new(), Vec::new());
    for (event_id, alert_id, f) in planned {
        for (i, feature) in f.features.features.iter().enumerate() {
            let err = |message: String| ApiError::AlertDocument {
                origin: alert_id.clone(),
                message: format!("plan feature {i}: {message}"),
            };
            let mut props = feature.properties.clone().unwrap_or_default();
            let kind = props
                .remove("feature")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let text = |k: &str| {
                props
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let (id, into) = match kind.as_str() {
                "origin" => (text("origin_id"), &mut sites),
                "centre" => (text("code"), &mut centres),
                "allocation" => (
                    format!("{}_to_{}", text("origin_id"), text("centre_code")),
                    &mut allocations,
                ),
                other => return Err(err(format!("unknown kind '{other}'"))),
            };
            props.insert("event_id".into(), json!(event_id));
            props.insert("alert_id".into(), json!(alert_id));
            let id = if many { format!("{event_id}:{id}") } else { id };
            let geometry = match &feature.geometry {
                Some(g) => Some(
                    crate::geodata::geometry::to_geo(&g.value)
                        .map_err(|e| err(format!("unsupported geometry: {e}")))?,
                ),
                None => None,
            };
            into.push(make_item(
                id,
                geometry,
                feature.geometry.clone(),
                Value::Object(props),
            ));
        }
    }
    let storms: Vec<&str> = planned.iter().map(|(_, a, _)| a.as_str()).collect();
    let of = |id: &str, items: Vec<Item>| {
        let mut d = description(id);
        d.push_str(&match storms.as_slice() {
            [] => " No version is planned in this selection: empty.".to_string(),
            v => format!(" Versions: {}.", v.join(", ")),
        });
        with_queryables(Collection::new(id.into(), title(id).into(), d, items), id)
    };
    Ok(PlanCollections {
        sites: of(SITES_AT_RISK, sites),
        centres: of(ACCOMMODATION_CENTRES, centres),
        allocations: of(ALLOCATIONS, allocations),
    })
}
