//! The OpenAPI 3.0 description of the service's routes beyond OGC API – Features (those
//! are in [`super::ogc`]): alerts and events, health, the map's settings, the admin API
//! with its bearer tokens and roles, the subscribers' ways out and the SMS gateway's
//! callbacks. [`super::ogc`]'s `GET /api` merges them into one document; a test holds it
//! against [`super::ROUTES`] and the router.
//!
//! Pure: builds JSON values; must not depend on the store, the pipeline or the channels.

use serde_json::{Map, Value, json};

use super::admin::{DEFAULT_OUTBOX_LIST, MAX_IMPORT_BYTES, MAX_OUTBOX_LIST};

const JSON: &str = "application/json";

fn ok(desc: &str, media: &str) -> Value {
    json!({"description": desc, "content": {media: {"schema": {"type": "object"}}}})
}

fn text_ok(desc: &str, media: &str) -> Value {
    json!({"description": desc, "content": {media: {"schema": {"type": "string"}}}})
}

/// A 4xx of the public routes (the OGC API exception: `code`, `description`).
fn err(desc: &str) -> Value {
    json!({"description": desc, "content": {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}})
}

/// A 4xx of the admin API and the callbacks (adds `field`, `subscriber`, `line`,
/// `gateway_id` where they apply).
fn admin_err(desc: &str) -> Value {
    json!({"description": desc, "content": {JSON: {"schema": {"$ref": "#/components/schemas/adminError"}}}})
}

fn path_id(desc: &str) -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": desc, "schema": {"type": "string"}})
}

fn query(name: &str, desc: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema})
}

/// One admin operation: bearer security, the role in the description, 401/403 and the
/// 404 of a server without subscribers added to `responses`.
fn admin_op(op_id: &str, summary: &str, role: &str, mut responses: Map<String, Value>) -> Value {
    responses.insert(
        "401".into(),
        admin_err("No bearer token, or an unknown one"),
    );
    responses.insert(
        "403".into(),
        admin_err(&format!("The token's role is below {role}")),
    );
    responses
        .entry("404")
        .or_insert_with(|| admin_err("Subscribers are not served here (no `aviso serve`)"));
    json!({
        "summary": summary,
        "operationId": op_id,
        "tags": ["admin"],
        "description": format!("Needs a bearer token with the role `{role}` or higher."),
        "security": [{"bearer": []}],
        "responses": responses,
    })
}

fn responses(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn subscriber_body(desc: &str) -> Value {
    json!({"required": true, "description": desc,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/subscriberInput"}}}})
}

/// A gateway callback: the shared secret in the header or the query.
fn callback_op(op_id: &str, summary: &str, desc: &str, body: Value, ok_desc: &str) -> Value {
    json!({
        "summary": summary,
        "operationId": op_id,
        "tags": ["sms-gateway"],
        "description": desc,
        "security": [{"gatewaySecretHeader": []}, {"gatewaySecretQuery": []}],
        "requestBody": body,
        "responses": {
            "200": ok(ok_desc, JSON),
            "400": admin_err("The body lacks a field or holds a bad value (`field` names it)"),
            "401": admin_err("No shared secret, or a wrong one"),
            "404": admin_err("These callbacks are not accepted here (off in [notify]), or (reports) no SMS has that message id (`gateway_id` names it)"),
            "422": admin_err("(replies) the sender's number is not a phone number (`field` names it)"),
        },
    })
}

/// The paths.
pub(crate) fn service_paths() -> Map<String, Value> {
    let include_tests = query(
        "include_tests",
        "Also Test and Exercise versions",
        json!({"type": "boolean", "default": false}),
    );
    let mut p = Map::new();
    let mut put = |path: &str, v: Value| {
        p.insert(path.to_string(), v);
    };
    put(
        "/map",
        json!({"get": {"summary": "The alert map (HTML), whatever the Accept header", "operationId": "getMap", "tags": ["map"],
            "responses": {"200": text_ok("The map page", "text/html")}}}),
    );
    put(
        "/api/map-config",
        json!({"get": {"summary": "The map's basemap settings", "operationId": "getMapConfig", "tags": ["map"],
            "responses": {"200": ok("tile_url, tile_attribution, tile_max_zoom", JSON)}}}),
    );
    put(
        "/api/alerts",
        json!({"get": {"summary": "Published alert versions", "operationId": "listAlerts", "tags": ["alerts"],
            "description": "Active versions (the latest of each event not cancelled) unless status=all.",
            "parameters": [
                query("status", "active (default) or all", json!({"type": "string", "enum": ["active", "all"]})),
                query("event", "An event id", json!({"type": "string"})),
                query("province", "An ADM1 P-code, e.g. MZ11", json!({"type": "string"})),
                query("district", "An ADM2 P-code, e.g. MZ1103", json!({"type": "string"})),
                query("level", "At least this level", json!({"type": "string", "enum": ["green", "yellow", "orange", "red"]})),
                query("since", "Sent at or after (RFC 3339)", json!({"type": "string", "format": "date-time"})),
                include_tests.clone(),
                query("limit", "Versions in the answer", json!({"type": "integer", "minimum": 1})),
            ],
            "responses": {"200": ok("alerts, count, matched", JSON), "400": err("A bad query parameter (named)"), "404": err("No alert store (layers only)")}}}),
    );
    put(
        "/api/alerts.atom",
        json!({"get": {"summary": "Atom feed of Actual versions", "operationId": "getAlertsAtom", "tags": ["alerts"],
            "responses": {"200": text_ok("Atom 1.0", "application/atom+xml"), "404": err("No alert store (layers only)")}}}),
    );
    put(
        "/api/alerts/{id}",
        json!({"get": {"summary": "One alert version: the GeoJSON document", "operationId": "getAlert", "tags": ["alerts"],
            "parameters": [path_id("The version's CAP identifier")],
            "responses": {"200": ok("The alert document, the version summary under `alert`", "application/geo+json"),
                "304": {"description": "Not modified (If-None-Match)"},
                "400": err("A malformed id"), "404": err("Unknown alert")}}}),
    );
    put(
        "/api/alerts/{id}/cap",
        json!({"get": {"summary": "One alert version as CAP 1.2", "operationId": "getAlertCap", "tags": ["alerts"],
            "parameters": [path_id("The version's CAP identifier")],
            "responses": {"200": text_ok("CAP 1.2 XML, one info per language", "application/cap+xml"),
                "400": err("A malformed id"), "404": err("Unknown alert")}}}),
    );
    put(
        "/api/events",
        json!({"get": {"summary": "Events (storms, floods)", "operationId": "listEvents", "tags": ["alerts"],
            "parameters": [include_tests],
            "responses": {"200": ok("The events", JSON), "400": err("A bad query parameter"), "404": err("No alert store")}}}),
    );
    put(
        "/api/events/{id}",
        json!({"get": {"summary": "One event and its versions, oldest first", "operationId": "getEvent", "tags": ["alerts"],
            "parameters": [path_id("The event id")],
            "responses": {"200": ok("The event", JSON), "400": err("A malformed id"), "404": err("Unknown event")}}}),
    );
    put(
        "/healthz",
        json!({"get": {"summary": "Alive", "operationId": "getHealth", "tags": ["health"],
            "responses": {"200": ok("Always", JSON)}}}),
    );
    put(
        "/readyz",
        json!({"get": {"summary": "Ready: per-feed freshness and errors", "operationId": "getReady", "tags": ["health"],
            "responses": {"200": ok("Ready", JSON), "503": ok("Not ready (a feed stale or failing)", JSON)}}}),
    );
    put(
        "/metrics",
        json!({"get": {"summary": "Prometheus metrics (counts only: no personal data)", "operationId": "getMetrics", "tags": ["health"],
            "responses": {"200": text_ok("Prometheus text format 0.0.4", "text/plain")}}}),
    );

    // --- admin -----------------------------------------------------------------------------
    let sub_ok = ok(
        "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`",
        JSON,
    );
    let not_found = admin_err("Unknown subscriber");
    put(
        "/api/admin/whoami",
        json!({"get": admin_op("whoami", "The token's holder and role", "viewer",
            responses(&[("200", ok("name, role", JSON))]))}),
    );
    put(
        "/api/admin/tokens",
        json!({"get": admin_op("listTokens", "Who holds a token, with which role (no hashes)", "admin",
            responses(&[("200", ok("tokens", JSON))]))}),
    );
    let mut create = admin_op(
        "createSubscriber",
        "Create a subscriber",
        "editor",
        responses(&[
            ("201", sub_ok.clone()),
            ("400", admin_err("Not a JSON subscriber")),
            ("409", admin_err("The id exists")),
            ("415", admin_err("Not application/json")),
            (
                "422",
                admin_err(
                    "A field is wrong: `field` (phones[0], districts[1], polygon[0]…) and `subscriber` name it",
                ),
            ),
        ]),
    );
    create["requestBody"] = subscriber_body("The subscriber (id required)");
    let mut list = admin_op(
        "listSubscribers",
        "Subscribers (with their personal data: token-protected)",
        "viewer",
        responses(&[
            ("200", ok("count, subscribers", JSON)),
            ("400", admin_err("A bad query parameter")),
        ]),
    );
    list["parameters"] = json!([query(
        "active",
        "Only active (true) or inactive (false) ones",
        json!({"type": "boolean"})
    )]);
    put(
        "/api/admin/subscribers",
        json!({"get": list, "post": create}),
    );
    let mut import = admin_op(
        "importSubscribers",
        "Create or update subscribers from CSV (a file with one bad row is refused whole)",
        "editor",
        responses(&[
            ("200", ok("created, updated, warnings", JSON)),
            (
                "413",
                json!({"description": format!("Larger than {MAX_IMPORT_BYTES} bytes")}),
            ),
            ("415", admin_err("Not text/csv")),
            (
                "422",
                admin_err(
                    "A row is wrong: `line`, `field` and `subscriber` name it; nothing was stored",
                ),
            ),
        ]),
    );
    import["requestBody"] = json!({"required": true,
        "description": "Columns id, name, active, language, min_level, hazards, receive_tests, emails, phones, webhooks, provinces, districts, features, polygon; lists separated by ';'",
        "content": {"text/csv": {"schema": {"type": "string"}}}});
    put(
        "/api/admin/subscribers.csv",
        json!({
            "get": admin_op("exportSubscribers", "Every subscriber as CSV (the import layout)", "viewer",
                responses(&[("200", text_ok("CSV", "text/csv"))])),
            "post": import,
        }),
    );
    let mut update = admin_op(
        "updateSubscriber",
        "Replace a subscriber's data (an opt-out stays)",
        "editor",
        responses(&[
            ("200", sub_ok.clone()),
            ("400", admin_err("Not a JSON subscriber")),
            ("404", not_found.clone()),
            ("415", admin_err("Not application/json")),
            (
                "422",
                admin_err("A field is wrong (named), or the body's id is not the path's"),
            ),
        ]),
    );
    update["requestBody"] = subscriber_body("The subscriber (id optional; it must match the path)");
    update["parameters"] = json!([path_id("The subscriber id")]);
    let mut get_one = admin_op(
        "getSubscriber",
        "One subscriber",
        "viewer",
        responses(&[
            ("200", ok("The subscriber", JSON)),
            ("404", not_found.clone()),
        ]),
    );
    get_one["parameters"] = json!([path_id("The subscriber id")]);
    put(
        "/api/admin/subscribers/{id}",
        json!({"get": get_one, "put": update}),
    );
    for (path, op_id, summary, role) in [
        (
            "/api/admin/subscribers/{id}/deactivate",
            "deactivateSubscriber",
            "Deactivate (undone by an update with active=true, unless they opted out)",
            "editor",
        ),
        (
            "/api/admin/subscribers/{id}/reactivate",
            "reactivateSubscriber",
            "Reactivate, clearing an opt-out and the numbers' STOPs (on the person's renewed consent)",
            "admin",
        ),
        (
            "/api/admin/subscribers/{id}/erase",
            "eraseSubscriber",
            "Erase the person: name, addresses, numbers, webhook URLs and areas leave the store; queued messages fail; sent ones keep counts, times and states with the recipient and body replaced by \"erased\"; a STOP stays refused as a digest. Not undoable.",
            "admin",
        ),
    ] {
        let mut op = admin_op(
            op_id,
            summary,
            role,
            responses(&[
                (
                    "200",
                    if op_id == "eraseSubscriber" {
                        ok(
                            "erased (the id) and report (messages_failed, messages_scrubbed, attempts_scrubbed, sms_optouts_kept, checkpointed)",
                            JSON,
                        )
                    } else {
                        sub_ok.clone()
                    },
                ),
                ("404", not_found.clone()),
            ]),
        );
        op["parameters"] = json!([path_id("The subscriber id")]);
        put(path, json!({"post": op}));
    }
    let mut outbox = admin_op(
        "listOutbox",
        "Messages, newest first: state, attempts, the gateway's answer and its latest delivery report (addresses masked)",
        "viewer",
        responses(&[
            (
                "200",
                ok(
                    "count, total, messages (each with delivery_report: state, status, reason, at, or null)",
                    JSON,
                ),
            ),
            ("400", admin_err("A bad query parameter")),
        ]),
    );
    outbox["parameters"] = json!([
        query(
            "event",
            "Only this event's messages",
            json!({"type": "string"})
        ),
        query(
            "limit",
            "Messages in the answer",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_OUTBOX_LIST, "default": DEFAULT_OUTBOX_LIST})
        ),
    ]);
    put("/api/admin/outbox", json!({"get": outbox}));

    // --- the subscribers' ways out and the gateway's callbacks ------------------------------------------
    let token = query(
        "token",
        "The subscriber's unsubscribe token (from the e-mail's link)",
        json!({"type": "string"}),
    );
    put(
        "/unsubscribe",
        json!({
            "get": {"summary": "The e-mail link: a page that asks (a GET changes nothing: mail scanners open links)", "operationId": "unsubscribePage", "tags": ["opt-out"],
                "parameters": [token.clone()],
                "responses": {"200": text_ok("The confirmation page (pt, en)", "text/html"), "400": text_ok("No token", "text/html"), "404": err("Subscribers are not served here")}},
            "post": {"summary": "Unsubscribe (the page's button, or one-click per RFC 8058)", "operationId": "unsubscribe", "tags": ["opt-out"],
                "parameters": [token],
                "requestBody": {"required": false, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"token": {"type": "string"}, "List-Unsubscribe": {"type": "string"}}}}}},
                "responses": {"200": text_ok("Unsubscribed (pt, en)", "text/html"), "400": text_ok("No token", "text/html"), "404": text_ok("Unknown token", "text/html")}},
        }),
    );
    put(
        "/api/sms/inbound",
        json!({"post": callback_op(
            "smsInbound",
            "A reply forwarded by the SMS gateway",
            "First word STOP, PARAR or SAIR ([notify.inbound] stop_words): no more SMS to the number. START, COMEÇAR, COMECAR, INICIAR or VOLTAR (start_words): the number's STOP is lifted, and subscribers whom that STOP had made inactive are active again. Anything else is ignored.",
            json!({"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object",
                "properties": {"from": {"type": "string", "description": "The sender (field name: [notify.inbound] from_field)"},
                               "text": {"type": "string", "description": "The reply (text_field)"}}}}}}),
            "action: stopped, started or ignored, with counts",
        )}),
    );
    put(
        "/api/sms/dlr",
        json!({"post": callback_op(
            "smsDeliveryReport",
            "A delivery report (DLR) from the SMS gateway",
            "Recorded on the outbox message with that gateway message id: delivered, undelivered or in transit, with the gateway's status and reason. An undelivered report is counted, not resent. Africa's Talking: form fields id, status (Success, Failed, Rejected, Buffered, Sent…), failureReason. Twilio: MessageSid, MessageStatus (queued, sent, delivered, undelivered, failed), ErrorCode. Generic: the fields of [notify.sms] dlr_id_field, dlr_status_field, dlr_reason_field (JSON paths for a JSON body).",
            json!({"required": true, "content": {
                "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
                JSON: {"schema": {"type": "object"}}}}),
            "outbox_id, state (the message's delivery state now), applied (false: an in-transit report after a final one)",
        )}),
    );
    p
}

/// The security schemes and schemas the paths above refer to. `gateway_header` is the
/// header the SMS gateway's shared secret may come in (`[notify.inbound] header`).
pub(crate) fn service_components(gateway_header: &str) -> (Map<String, Value>, Map<String, Value>) {
    let mut schemes = Map::new();
    schemes.insert(
        "bearer".into(),
        json!({"type": "http", "scheme": "bearer",
            "description": "An admin token ([[notify.token]], configured as its SHA-256 or read from the environment) with a role: viewer reads subscribers, the CSV export and the outbox; editor also creates, updates, deactivates and imports; admin also reactivates opted-out subscribers, erases subscribers and lists tokens."}),
    );
    schemes.insert(
        "gatewaySecretHeader".into(),
        json!({"type": "apiKey", "in": "header", "name": gateway_header,
            "description": "The SMS gateway's shared secret ([notify.inbound] secret_env), for replies and delivery reports"}),
    );
    schemes.insert(
        "gatewaySecretQuery".into(),
        json!({"type": "apiKey", "in": "query", "name": "token",
            "description": "The same secret in the callback URL, for gateways that cannot set headers (Africa's Talking)"}),
    );
    let mut schemas = Map::new();
    schemas.insert(
        "adminError".into(),
        json!({"type": "object", "required": ["code", "description"], "properties": {
            "code": {"type": "string"}, "description": {"type": "string"},
            "field": {"type": "string", "nullable": true}, "subscriber": {"type": "string", "nullable": true},
            "line": {"type": "integer", "nullable": true}, "gateway_id": {"type": "string"}}}),
    );
    let list = json!({"type": "array", "items": {"type": "string"}});
    schemas.insert(
        "subscriberInput".into(),
        json!({"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "active": {"type": "boolean", "default": true},
            "language": {"type": "string", "enum": ["pt", "en"], "default": "pt"},
            "min_level": {"type": "string", "description": "green, yellow (default), orange, red, or the Portuguese names"},
            "hazards": list, "receive_tests": {"type": "boolean", "default": false},
            "emails": list, "phones": {"type": "array", "items": {"type": "string"}, "description": "E.164, e.g. +258845550101"},
            "webhooks": list, "provinces": list, "districts": list,
            "features": {"type": "array", "items": {"type": "string"}, "description": "layer:id of point features"},
            "polygon": {"type": "object", "description": "A GeoJSON Polygon or MultiPolygon (lon/lat)"}}}),
    );
    (schemes, schemas)
}

/// Adds the service's paths and components to the OGC document `doc` (an object built
/// by `ogc::openapi`), and retitles it for what it now describes.
pub(crate) fn extend(doc: &mut Value, gateway_header: &str) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.extend(service_paths());
    }
    let (schemes, schemas) = service_components(gateway_header);
    if let Some(c) = doc.get_mut("components").and_then(Value::as_object_mut) {
        c.insert("securitySchemes".into(), Value::Object(schemes));
        if let Some(s) = c.get_mut("schemas").and_then(Value::as_object_mut) {
            s.extend(schemas);
        }
    }
    doc["info"]["title"] = json!("aviso API: OGC API – Features, alerts, subscribers");
    doc["info"]["description"] = json!(
        "Reference layers and alerts of aviso (tropical-cyclone and flood early warning for Mozambique) as OGC API – Features; alert versions as GeoJSON, CAP 1.2 and Atom; health and metrics; the admin API of subscribers (bearer tokens with roles); the subscribers' opt-out and the SMS gateway's callbacks. Static files under /static/ are not listed."
    );
}
