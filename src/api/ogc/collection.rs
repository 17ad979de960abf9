//! A feature collection as the OGC API serves it: its features, each rendered to GeoJSON
//! once with an id unique in the collection, in the fixed order pages are cut from; and
//! finding the collection a request names among the layers', the current alert's and the
//! plan's (described only: their features are drawn per request, `plan`).

use std::collections::HashSet;
use std::sync::Arc;

use geo::{BoundingRect, Rect};
use geojson::{Feature, Geometry, GeometryValue, feature::Id};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use serde_json::Value;

use super::alert::empty_alert_collection;
use super::cql2::PropType;
use super::filters::BboxFilter;
use super::plan::{PLAN_COLLECTIONS, described};
use super::query::queryables_of;
use super::{ALERT_COLLECTIONS, AlertCollections};
use crate::alerts::document::object;
use crate::api::{ApiError, ApiState};

/// One feature, rendered once.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) id: String,
    /// For bbox filtering; `None` for a feature without geometry (never matches a bbox).
    pub(super) geometry: Option<geo::Geometry<f64>>,
    pub(super) bbox: Option<Rect<f64>>,
    /// The GeoJSON feature, with its `id` member.
    pub(super) feature: Feature,
    /// `feature` serialised once (filled by `Collection::new`): pages are spliced from
    /// these, so a request does not clone and re-serialise megabytes of geometry.
    pub(super) json: Arc<str>,
}

/// A feature collection: its metadata and its items in a fixed order (the paging order).
#[derive(Debug, Clone)]
pub struct Collection {
    pub id: String,
    pub title: String,
    pub description: String,
    pub(super) items: Vec<Item>,
    pub(super) extent: Option<Rect<f64>>,
    /// The properties a request can filter and sort on, with their types.
    pub(super) queryables: Vec<(String, PropType)>,
    /// The items' bounding boxes, each with its position in `items`: a `bbox` request
    /// tests only the candidates it returns (issue 15 item 3: `cargo bench --bench bbox`
    /// measured 4-39 µs per query through it against 287-368 µs for a scan of the 24,602
    /// settlements, and 0.13-1.1 ms in PostGIS; docs/postgres-performance.md).
    index: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

impl Collection {
    pub(super) fn new(id: String, title: String, description: String, items: Vec<Item>) -> Self {
        let extent = items.iter().filter_map(|i| i.bbox).reduce(|a, b| {
            Rect::new(
                geo::coord! {x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y)},
                geo::coord! {x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y)},
            )
        });
        let queryables = queryables_of(&items);
        let items = unique_ids(items);
        let index = RTree::bulk_load(
            items
                .iter()
                .enumerate()
                .filter_map(|(n, i)| {
                    let b = i.bbox?;
                    let r = Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
                    Some(GeomWithData::new(r, n))
                })
                .collect(),
        );
        Collection {
            id,
            title,
            description,
            items,
            extent,
            queryables,
            index,
        }
    }

    /// The items whose geometry intersects `bbox`, in the paging order: the R-tree gives
    /// the items whose bounding box meets one of its rectangles, and the filter tests each
    /// geometry.
    pub(super) fn in_bbox<'c>(&'c self, bbox: &BboxFilter) -> Vec<&'c Item> {
        let mut hits: Vec<usize> = bbox
            .rects()
            .iter()
            .flat_map(|r| {
                let env = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                self.index
                    .locate_in_envelope_intersecting(&env)
                    .map(|g| g.data)
            })
            .collect();
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter()
            .map(|n| &self.items[n])
            .filter(|i| bbox.matches(i))
            .collect()
    }

    /// The type of queryable `name`, if it is one.
    pub(super) fn queryable(&self, name: &str) -> Option<PropType> {
        self.queryables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }

    /// Whether some feature has property `name` (any type).
    pub(super) fn has_property(&self, name: &str) -> bool {
        self.items.iter().any(|i| {
            i.feature
                .properties
                .as_ref()
                .is_some_and(|p| p.contains_key(name))
        })
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Each feature's id and the geometry a `bbox` is tested against, in the paging order
    /// (for benches/bbox.rs, which loads them into PostGIS).
    pub fn geometries(&self) -> impl Iterator<Item = (&str, Option<&geo::Geometry<f64>>)> {
        self.items
            .iter()
            .map(|i| (i.id.as_str(), i.geometry.as_ref()))
    }

    /// The ids of the features `bbox` (the items request's parameter, CRS84) selects, in
    /// the paging order: the predicate `/collections/{id}/items?bbox=` applies
    /// (`ItemsQuery::select`), without the other filters and the rendering.
    pub fn ids_in_bbox(&self, bbox: &str) -> Result<Vec<&str>, ApiError> {
        let f = super::filters::parse_bbox(bbox)?;
        Ok(self
            .in_bbox(&f)
            .into_iter()
            .map(|i| i.id.as_str())
            .collect())
    }
}

/// Makes feature ids unique within a collection (`x`, `x_2`, `x_3`…), so `items/{id}`
/// names one feature, and serialises each feature once.
fn unique_ids(items: Vec<Item>) -> Vec<Item> {
    let mut items = unique_ids_only(items);
    for item in &mut items {
        item.json = Arc::from(serde_json::to_string(&item.feature).unwrap_or_default());
    }
    items
}

fn unique_ids_only(mut items: Vec<Item>) -> Vec<Item> {
    let mut seen: HashSet<String> = HashSet::new();
    for item in &mut items {
        let mut id = item.id.clone();
        let mut n = 1;
        while !seen.insert(id.clone()) {
            n += 1;
            id = format!("{}_{n}", item.id);
        }
        if id != item.id {
            item.id = id;
            item.feature.id = Some(Id::String(item.id.clone()));
        }
    }
    items
}

/// A collection id QGIS and GDAL accept: `[A-Za-z0-9_-]`, anything else becomes `_`.
pub(super) fn safe_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A feature with its `id` member (RFC 7946 §3.2), geometry `null` when absent.
pub(super) fn make_item(
    id: String,
    geometry: Option<geo::Geometry<f64>>,
    geojson: Option<Geometry>,
    props: Value,
) -> Item {
    let f = Feature {
        geometry: geojson,
        id: Some(Id::String(id.clone())),
        properties: Some(object(props)),
        ..Feature::default()
    };
    Item {
        bbox: geometry.as_ref().and_then(|g| g.bounding_rect()),
        id,
        geometry,
        feature: f,
        json: Arc::from(""),
    }
}

/// A Polygon geometry as a one-part MultiPolygon. GDAL (and so QGIS) gives a collection
/// that mixes the two the type "Unknown"; one type per area collection keeps it a plain
/// polygon layer.
pub(super) fn as_multipolygon(g: Geometry) -> Geometry {
    match g.value {
        GeometryValue::Polygon { coordinates } => Geometry::new(GeometryValue::MultiPolygon {
            coordinates: vec![coordinates],
        }),
        _ => g,
    }
}

/// Every collection now served: the layers', then the alert's (empty without an alert).
pub(super) fn all_collections(
    state: &ApiState,
) -> (Vec<&Collection>, Option<Arc<AlertCollections>>) {
    (
        state.layer_collections.iter().collect(),
        state.current_alert(),
    )
}

/// The plan's collections as described before any is drawn (`aviso serve` only; none
/// elsewhere).
pub(super) fn plan_described(state: &ApiState) -> Vec<Collection> {
    if state.plan.is_none() {
        return Vec::new();
    }
    PLAN_COLLECTIONS.iter().map(|id| described(id)).collect()
}

/// Runs `f` on the collection named `id`, or 404.
pub(super) fn with_collection<T>(
    state: &ApiState,
    id: &str,
    f: impl FnOnce(&Collection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let Some(c) = state.layer_collections.iter().find(|c| c.id == id) {
        return f(c);
    }
    if state.plan.is_some() && PLAN_COLLECTIONS.contains(&id) {
        return f(&described(id));
    }
    if ALERT_COLLECTIONS.contains(&id) {
        return match state.current_alert() {
            Some(a) => f(a.collection(id)),
            None => f(&empty_alert_collection(id)),
        };
    }
    Err(ApiError::NotFound {
        what: format!("collection '{id}'"),
    })
}
