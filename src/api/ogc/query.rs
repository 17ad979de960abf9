//! What an items request asks beyond paging (OGC API – Features Parts 2 and 3, and the
//! `sortby`/`properties` parameters pygeoapi and pg_featureserv give GIS clients):
//! - queryables: the properties of a collection's features that can be filtered, with
//!   their JSON type, served as JSON Schema at `/collections/{id}/queryables`;
//! - a filter per queryable as a query parameter (`level=red`, `province_pcode=MZ11`);
//! - `filter` in CQL2 text ([`super::cql2`]);
//! - `sortby=+name,-people_at_risk` and `properties=pcode,name,level`;
//! - `crs`: CRS84 (lon/lat, the default and the storage CRS) or EPSG:4326 (lat/lon axis
//!   order, as Part 2 requires), and `bbox-crs` likewise.
//!
//! Every parameter is checked against the collection, and a bad one is a 400 naming it.

use std::cmp::Ordering;
use std::fmt::Write as _;

use geojson::{Feature, Geometry, GeometryValue, PointType};
use serde_json::{Map, Value};

use super::collection::{Collection, Item};
use super::cql2::{Filter, PropType};
use super::filters::{BboxFilter, CRS84_ALIASES, check_datetime, parse_bbox};
use super::{CRS84, DEFAULT_LIMIT, MAX_LIMIT, UNRESERVED};
use crate::api::ApiError;

/// EPSG:4326 as OGC API – Features Part 2 names it: latitude first.
pub(crate) const EPSG_4326: &str = "http://www.opengis.net/def/crs/EPSG/0/4326";

/// The parameters every items request may carry; any other must be a queryable.
const ITEMS_PARAMS: [&str; 14] = [
    "limit",
    "offset",
    "bbox",
    "bbox-crs",
    "datetime",
    "f",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
    "crs",
    "event",
    "status",
];

/// The coordinate order of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputCrs {
    /// lon, lat (RFC 7946; the storage CRS).
    Crs84,
    /// lat, lon.
    Epsg4326,
}

impl OutputCrs {
    pub(crate) fn uri(self) -> &'static str {
        match self {
            OutputCrs::Crs84 => CRS84,
            OutputCrs::Epsg4326 => EPSG_4326,
        }
    }

    /// `crs`: one of the two; absent is CRS84.
    pub(crate) fn parse(value: Option<&String>, param: &str) -> Result<Self, ApiError> {
        match value.map(String::as_str) {
            None => Ok(OutputCrs::Crs84),
            Some(c) if CRS84_ALIASES.contains(&c) => Ok(OutputCrs::Crs84),
            Some(EPSG_4326) => Ok(OutputCrs::Epsg4326),
            Some(c) => Err(ApiError::invalid(
                param,
                &format!("{CRS84} or {EPSG_4326}"),
                c,
            )),
        }
    }
}

/// The queryables of a collection: every property whose values are all of one JSON type
/// (strings, numbers, or booleans; integers when every number is whole), in first-seen
/// order. Arrays, objects and properties mixing types are left out.
pub(super) fn queryables_of(items: &[Item]) -> Vec<(String, PropType)> {
    let mut out: Vec<(String, Option<PropType>)> = Vec::new();
    for item in items {
        let Some(props) = &item.feature.properties else {
            continue;
        };
        for (k, v) in props {
            let t = match v {
                Value::Null => continue,
                Value::String(_) => Some(PropType::String),
                Value::Bool(_) => Some(PropType::Boolean),
                Value::Number(n) if n.is_i64() || n.is_u64() => Some(PropType::Integer),
                Value::Number(_) => Some(PropType::Number),
                _ => None,
            };
            match out.iter_mut().find(|(name, _)| name == k) {
                None => out.push((k.clone(), t)),
                Some((_, seen)) => {
                    *seen = match (*seen, t) {
                        (Some(a), Some(b)) if a == b => Some(a),
                        (Some(PropType::Integer), Some(PropType::Number))
                        | (Some(PropType::Number), Some(PropType::Integer)) => {
                            Some(PropType::Number)
                        }
                        _ => None,
                    }
                }
            }
        }
    }
    out.into_iter()
        .filter_map(|(k, t)| t.map(|t| (k, t)))
        .collect()
}

/// A validated items request.
pub(crate) struct ItemsQuery {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
    bbox: Option<BboxFilter>,
    equals: Vec<(String, PropType, String)>,
    filter: Option<Filter>,
    sortby: Vec<(String, bool)>,
    properties: Option<Vec<String>>,
    pub(crate) crs: OutputCrs,
    /// The request's parameters other than limit and offset, in a fixed order, for the
    /// page links and the cache key.
    carried: Vec<(String, String)>,
}

impl ItemsQuery {
    /// Checks `pairs` (each name once; `f` already checked) against `c`.
    pub(crate) fn parse(pairs: &[(String, String)], c: &Collection) -> Result<Self, ApiError> {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        let lookup = |p: &str| c.queryable(p);
        let mut equals = Vec::new();
        for (k, v) in pairs {
            if ITEMS_PARAMS.contains(&k.as_str()) {
                continue;
            }
            match lookup(k) {
                Some(t) => {
                    check_value(k, t, v)?;
                    equals.push((k.clone(), t, v.clone()));
                }
                None => {
                    let mut names: Vec<String> =
                        ITEMS_PARAMS.iter().map(|s| s.to_string()).collect();
                    names.extend(c.queryables.iter().map(|(n, _)| n.clone()));
                    return Err(ApiError::invalid(
                        k,
                        &format!(
                            "one of the parameters {} (the last ones are this collection's queryables)",
                            names.join(", ")
                        ),
                        v,
                    ));
                }
            }
        }
        let limit = match get("limit") {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<u64>() {
                Ok(0) | Err(_) => {
                    return Err(ApiError::invalid(
                        "limit",
                        &format!("a positive integer (at most {MAX_LIMIT} are returned)"),
                        s,
                    ));
                }
                Ok(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
            },
        };
        let offset = match get("offset") {
            None => 0,
            Some(s) => s
                .parse::<usize>()
                .map_err(|_| ApiError::invalid("offset", "a non-negative integer", s))?,
        };
        let bbox = match get("bbox") {
            None => None,
            Some(b) => Some(match OutputCrs::parse(get("bbox-crs"), "bbox-crs")? {
                OutputCrs::Crs84 => parse_bbox(b)?,
                // Latitude first: reorder to lon/lat, keep the text as given for links.
                OutputCrs::Epsg4326 => {
                    let mut f = parse_bbox(&lat_lon_to_lon_lat(b))?;
                    f.raw = b.clone();
                    f
                }
            }),
        };
        if get("bbox").is_none() && get("bbox-crs").is_some() {
            OutputCrs::parse(get("bbox-crs"), "bbox-crs")?;
        }
        // Features carry no time: a valid datetime filter keeps them all (OGC 17-069r3,
        // parameter datetime, filters on features' temporal geometry, which these lack);
        // an invalid one is a 400 (/req/core/query-param-invalid).
        if let Some(d) = get("datetime") {
            check_datetime(d)?;
        }
        // `cql-text` is the draft's name, which GDAL's OAPIF driver (3.6) sends.
        if let Some(l) = get("filter-lang")
            && l != "cql2-text"
            && l != "cql-text"
        {
            return Err(ApiError::invalid(
                "filter-lang",
                "cql2-text (the only filter language served)",
                l,
            ));
        }
        // The filter has no geometry literal to place: any of the two CRS is accepted.
        OutputCrs::parse(get("filter-crs"), "filter-crs")?;
        let filter = match get("filter") {
            None => None,
            Some(text) => {
                let f = Filter::parse(text)
                    .map_err(|e| ApiError::invalid("filter", &format!("CQL2 text ({e})"), text))?;
                // An empty collection has no queryables yet: nothing to check against,
                // and nothing will match.
                if !c.items.is_empty() {
                    f.check(&lookup).map_err(|e| {
                        ApiError::invalid("filter", &format!("CQL2 text ({e})"), text)
                    })?;
                }
                Some(f)
            }
        };
        let sortby = match get("sortby") {
            None => Vec::new(),
            Some(s) => s
                .split(',')
                .map(|k| {
                    let k = k.trim();
                    let (name, desc) = match k.strip_prefix('-') {
                        Some(n) => (n, true),
                        None => (k.strip_prefix('+').unwrap_or(k), false),
                    };
                    if lookup(name).is_none() && !c.items.is_empty() {
                        return Err(ApiError::invalid(
                            "sortby",
                            &format!(
                                "queryables of this collection, each with an optional + or - ({name} is not one)"
                            ),
                            s,
                        ));
                    }
                    Ok((name.to_string(), desc))
                })
                .collect::<Result<_, _>>()?,
        };
        let properties = match get("properties") {
            None => None,
            Some(s) => {
                let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).collect();
                if let Some(bad) = names
                    .iter()
                    .find(|n| !c.items.is_empty() && !c.has_property(n))
                {
                    return Err(ApiError::invalid(
                        "properties",
                        &format!("properties of this collection's features ({bad} is not one)"),
                        s,
                    ));
                }
                Some(names)
            }
        };
        let crs = OutputCrs::parse(get("crs"), "crs")?;
        let mut carried: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "limit" && k != "offset")
            .cloned()
            .collect();
        carried.sort();
        Ok(ItemsQuery {
            limit,
            offset,
            bbox,
            equals,
            filter,
            sortby,
            properties,
            crs,
            carried,
        })
    }

    /// The collection's items this request selects, in the order it asks.
    pub(super) fn select<'c>(&self, c: &'c Collection) -> Vec<&'c Item> {
        let empty = Map::new();
        let candidates: Vec<&Item> = match &self.bbox {
            Some(b) => c.in_bbox(b),
            None => c.items.iter().collect(),
        };
        let mut matched: Vec<&Item> = candidates
            .into_iter()
            .filter(|i| {
                let props = i.feature.properties.as_ref().unwrap_or(&empty);
                self.equals
                    .iter()
                    .all(|(k, t, v)| props.get(k).is_some_and(|p| equal_to(p, *t, v)))
                    && self.filter.as_ref().is_none_or(|f| f.matches(props))
            })
            .collect();
        if !self.sortby.is_empty() {
            let null = Value::Null;
            matched.sort_by(|a, b| {
                let pa = a.feature.properties.as_ref().unwrap_or(&empty);
                let pb = b.feature.properties.as_ref().unwrap_or(&empty);
                for (k, desc) in &self.sortby {
                    let (x, y) = (pa.get(k).unwrap_or(&null), pb.get(k).unwrap_or(&null));
                    let o = match super::cql2::compare(x, y) {
                        Some(o) if *desc => o.reverse(),
                        Some(o) => o,
                        // Nulls (and anything unlike the rest) go last either way.
                        None => x.is_null().cmp(&y.is_null()),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        matched
    }

    /// The feature as this request wants it written: the stored JSON when nothing
    /// changes, else a copy with the chosen properties and axis order.
    pub(super) fn render(&self, item: &Item) -> std::sync::Arc<str> {
        if self.properties.is_none() && self.crs == OutputCrs::Crs84 {
            return item.json.clone();
        }
        let f = self.shaped(&item.feature);
        std::sync::Arc::from(serde_json::to_string(&f).unwrap_or_default())
    }

    /// A copy of `feature` with the chosen properties and axis order.
    pub(crate) fn shaped(&self, feature: &Feature) -> Feature {
        let mut f = feature.clone();
        if let (Some(keep), Some(props)) = (&self.properties, f.properties.as_mut()) {
            props.retain(|k, _| keep.iter().any(|n| n == k));
        }
        if self.crs == OutputCrs::Epsg4326
            && let Some(g) = f.geometry.as_mut()
        {
            swap_axes(g);
        }
        f
    }

    /// A copy of `feature` in lat/lon order (EPSG:4326).
    pub(crate) fn swapped(feature: &Feature) -> Feature {
        let mut f = feature.clone();
        if let Some(g) = f.geometry.as_mut() {
            swap_axes(g);
        }
        f
    }

    /// The query string of a page link at `offset`.
    pub(crate) fn link_query(&self, offset: usize) -> String {
        let mut u = format!("limit={}&offset={offset}", self.limit);
        for (k, v) in &self.carried {
            let _ = write!(u, "&{}={}", encode(k), encode(v));
        }
        u
    }

    /// The parameters that shape the answer, for a cache key.
    pub(crate) fn cache_key(&self) -> String {
        self.link_query(self.offset)
    }
}

/// A query-parameter filter's value fits the queryable's type.
fn check_value(name: &str, t: PropType, v: &str) -> Result<(), ApiError> {
    let ok = match t {
        PropType::String => true,
        PropType::Number | PropType::Integer => v.trim().parse::<f64>().is_ok(),
        PropType::Boolean => matches!(v, "true" | "false"),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            name,
            &format!("a {} (the type of this queryable)", t.json_schema_type()),
            v,
        ))
    }
}

fn equal_to(p: &Value, t: PropType, v: &str) -> bool {
    match (t, p) {
        (PropType::String, Value::String(s)) => s == v,
        (PropType::Number | PropType::Integer, Value::Number(n)) => {
            matches!((n.as_f64(), v.trim().parse::<f64>()), (Some(a), Ok(b)) if a == b)
        }
        (PropType::Boolean, Value::Bool(b)) => b.to_string() == v,
        _ => false,
    }
}

/// "min lat, min lon, max lat, max lon[, ...]" → lon/lat order; anything else unchanged
/// (parse_bbox then names what is wrong).
fn lat_lon_to_lon_lat(raw: &str) -> String {
    let parts: Vec<&str> = raw.split(',').collect();
    match parts.as_slice() {
        [a, b, c, d] => format!("{b},{a},{d},{c}"),
        [a, b, z1, c, d, z2] => format!("{b},{a},{z1},{d},{c},{z2}"),
        _ => raw.to_string(),
    }
}

fn swap_axes(g: &mut Geometry) {
    fn pos(p: &mut PointType) {
        let s = p.as_slice_mut();
        if s.len() >= 2 {
            s.swap(0, 1);
        }
    }
    match &mut g.value {
        GeometryValue::Point { coordinates } => pos(coordinates),
        GeometryValue::MultiPoint { coordinates } | GeometryValue::LineString { coordinates } => {
            coordinates.iter_mut().for_each(pos)
        }
        GeometryValue::MultiLineString { coordinates } | GeometryValue::Polygon { coordinates } => {
            coordinates.iter_mut().flatten().for_each(pos)
        }
        GeometryValue::MultiPolygon { coordinates } => {
            coordinates.iter_mut().flatten().flatten().for_each(pos)
        }
        GeometryValue::GeometryCollection { geometries } => {
            geometries.iter_mut().for_each(swap_axes)
        }
    }
}

fn encode(s: &str) -> String {
    const QUERY_VALUE: &percent_encoding::AsciiSet = &UNRESERVED.remove(b',');
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}
