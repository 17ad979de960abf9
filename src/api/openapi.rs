//! The OpenAPI document of `GET /api`, generated with utoipa: every operation comes from
//! its handler's `#[utoipa::path]` annotation, collected by the router that serves it
//! ([`super::router`] builds a `utoipa_axum` `OpenApiRouter`), so a route cannot be served
//! without being documented. The schemas are derived from the types the handlers
//! serialise or read (`super::Exception`, `super::admin::AdminErrorBody`,
//! [`super::admin::SubscriberInput`]).
//!
//! What an annotation cannot know is filled in per request by `document`: the server's
//! URL, the loaded collections, the SMS gateway's configured header, and numbers kept as
//! Rust constants (the page limits), so they are written in one place.
//!
//! OpenAPI 3.0, not 3.1: OGC API – Features Part 1 declares the `oas30` conformance class
//! and GDAL's OAPIF driver asks for `application/vnd.oai.openapi+json;version=3.0`.
//! utoipa 5 writes 3.1 only, so `as_openapi_30` restates the one 3.1 form our schemas
//! use (a type list with "null") as 3.0's `nullable`; tests/it/ogc.rs validates the result
//! as 3.0.
//!
//! Pure: builds the document; must not depend on the store, the pipeline or the channels.

use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::schema::{Object, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, ServerBuilder};

use super::admin::{DEFAULT_OUTBOX_LIST, MAX_OUTBOX_LIST};
use super::ogc::{DEFAULT_LIMIT, MAX_LIMIT};

/// The document's head: title, description, licence and tags (version: the crate's).
/// The paths and schemas are added by the router from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "aviso API: OGC API – Features, alerts, subscribers",
        description = "Reference layers and alerts of aviso (tropical-cyclone and flood early warning for Mozambique) as OGC API – Features; alert versions as GeoJSON, CAP 1.2 and Atom; health and metrics; the admin API of subscribers (bearer tokens with roles); the subscribers' opt-out and the SMS gateway's callbacks. Static files under /static/ are not listed.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "ogc", description = "OGC API – Features, Part 1: landing page, conformance, this definition, collections and their features"),
        (name = "map", description = "The web map"),
        (name = "alerts", description = "Published alert versions and events"),
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "admin", description = "Subscribers and the outbox, behind bearer tokens with roles"),
        (name = "opt-out", description = "The subscribers' way out of e-mail"),
        (name = "sms-gateway", description = "The SMS gateway's callbacks: replies and delivery reports")
    )
)]
pub(crate) struct ApiDoc;

/// The security schemes the operations name. `gateway_header` is the header the SMS
/// gateway's shared secret may come in (`[notify.inbound] header`).
fn security_schemes(gateway_header: &str) -> [(&'static str, SecurityScheme); 3] {
    [
        (
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token ([[notify.token]], configured as its SHA-256 or read from the environment) with a role: viewer reads subscribers, the CSV export and the outbox; editor also creates, updates, deactivates and imports; admin also reactivates opted-out subscribers, erases subscribers and lists tokens.",
                    ))
                    .build(),
            ),
        ),
        (
            "gatewaySecretHeader",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                gateway_header,
                "The SMS gateway's shared secret ([notify.inbound] secret_env), for replies and delivery reports",
            ))),
        ),
        (
            "gatewaySecretQuery",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The same secret in the callback URL, for gateways that cannot set headers (Africa's Talking)",
            ))),
        ),
    ]
}

/// The parameter `name` of the operation(s) on `path`, to fill in.
fn parameters_named<'a>(
    doc: &'a mut utoipa::openapi::OpenApi,
    path: &str,
    name: &'a str,
) -> impl Iterator<Item = &'a mut Parameter> {
    doc.paths
        .paths
        .iter_mut()
        .filter(move |(p, _)| p.as_str() == path)
        .flat_map(|(_, item)| {
            [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
            ]
        })
        .flatten()
        .flat_map(|op| op.parameters.iter_mut().flatten())
        .filter(move |p| p.name == name)
}

/// The object schema of a parameter (utoipa writes scalar parameters as one).
fn object_schema(p: &mut Parameter) -> Option<&mut Object> {
    match p.schema.as_mut()? {
        RefOr::T(Schema::Object(o)) => Some(o),
        _ => None,
    }
}

/// Sets a parameter's default and maximum (integers kept as Rust constants).
fn bounds(p: &mut Parameter, default: usize, maximum: usize) {
    if let Some(o) = object_schema(p) {
        o.default = Some(json!(default));
        o.maximum = Some(utoipa::Number::UInt(maximum));
    }
}

/// The document served at `GET /api`: `routed` (the router's, from the handlers) with
/// the server's URL `base`, the ids of the collections it serves, and the SMS gateway's
/// header, as OpenAPI 3.0 JSON.
pub(crate) fn document(
    routed: &utoipa::openapi::OpenApi,
    base: &str,
    collection_ids: &[&str],
    collection_queryables: &[(&str, Vec<(String, &'static str)>)],
    gateway_header: &str,
) -> Value {
    let mut doc = routed.clone();
    doc.servers = Some(vec![ServerBuilder::new().url(base).build()]);
    let components = doc
        .components
        .get_or_insert_with(utoipa::openapi::Components::new);
    for (name, scheme) in security_schemes(gateway_header) {
        components.add_security_scheme(name, scheme);
    }
    for path in [
        "/collections/{collectionId}",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/items/{featureId}",
    ] {
        for p in parameters_named(&mut doc, path, "collectionId") {
            if let Some(o) = object_schema(p) {
                o.enum_values = Some(collection_ids.iter().map(|id| json!(id)).collect());
            }
        }
    }
    for p in parameters_named(&mut doc, "/collections/{collectionId}/items", "limit") {
        bounds(p, DEFAULT_LIMIT, MAX_LIMIT);
        p.description = Some(format!(
            "Features per page; above {MAX_LIMIT}, {MAX_LIMIT} are returned."
        ));
    }
    for p in parameters_named(&mut doc, "/api/admin/outbox", "limit") {
        bounds(p, DEFAULT_OUTBOX_LIST, MAX_OUTBOX_LIST);
    }
    let mut value = serde_json::to_value(&doc).unwrap_or(Value::Null);
    as_openapi_30(&mut value);
    per_collection_items(&mut value, collection_queryables);
    value
}

/// Adds `/collections/{id}/items` for each collection with queryables: the generic items
/// operation without the path parameter, plus one query parameter per queryable (what
/// pygeoapi publishes). GDAL's OAPIF driver (3.6) learns the properties it may filter on
/// the server from these parameters, and the CQL text language from `filter-lang`'s enum
/// (where it looks for the draft name `cql-text`, accepted as `cql2-text`); without them
/// it reads every feature and filters on the client.
fn per_collection_items(doc: &mut Value, collections: &[(&str, Vec<(String, &'static str)>)]) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(generic) = paths.get_mut("/collections/{collectionId}/items") else {
        return;
    };
    if let Some(params) = generic
        .pointer_mut("/get/parameters")
        .and_then(Value::as_array_mut)
    {
        for p in params.iter_mut().filter(|p| p["name"] == "filter-lang") {
            p["schema"] = json!({"type": "string", "enum": ["cql2-text", "cql-text"], "default": "cql2-text"});
        }
    }
    let generic = generic.clone();
    for (id, queryables) in collections {
        if queryables.is_empty() {
            continue;
        }
        let mut item = generic.clone();
        if let Some(get) = item.get_mut("get").and_then(Value::as_object_mut) {
            get.insert("operationId".into(), json!(format!("getFeatures_{id}")));
            if let Some(params) = get.get_mut("parameters").and_then(Value::as_array_mut) {
                params.retain(|p| p["name"] != "collectionId");
                params.extend(queryables.iter().map(|(name, t)| {
                    json!({
                        "name": name,
                        "in": "query",
                        "required": false,
                        "style": "form",
                        "explode": false,
                        "description": format!("Keeps the features whose {name} equals this value"),
                        "schema": {"type": t},
                    })
                }));
            }
        }
        paths.insert(format!("/collections/{id}/items"), item);
    }
}

/// Restates utoipa's OpenAPI 3.1 as 3.0: the version, and `"type": [T, "null"]` (the
/// only 3.1-only form these schemas produce, from `Option` fields) as `"type": T,
/// "nullable": true`.
fn as_openapi_30(v: &mut Value) {
    if let Some(o) = v.as_object_mut()
        && o.contains_key("openapi")
    {
        o.insert("openapi".into(), json!("3.0.3"));
    }
    walk(v);
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                if let Some(Value::Array(types)) = o.get("type")
                    && types.len() == 2
                    && types.iter().any(|t| t == "null")
                    && let Some(t) = types.iter().find(|t| *t != "null").cloned()
                {
                    o.insert("type".into(), t);
                    o.insert("nullable".into(), json!(true));
                }
                o.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
}
