//! The admin API, `/api/admin/...`: subscribers (list, get, create, update, deactivate,
//! reactivate, CSV import and export), the outbox, and who holds a token. Every route
//! needs `Authorization: Bearer <token>`; tokens are configured as SHA-256 hashes (or read
//! from the environment and hashed at start) with a role: viewer reads, editor also
//! writes, admin does everything.
//!
//! An adapter at the edge (axum, the notify store). Subscribers' personal data leaves the
//! service only through these token-protected routes: never through a public route, and
//! never in a log line (audit lines name the token and the subscriber id only). Must not
//! depend on the pipeline or the channels.
//!
//! Over 600 lines because subscribers, the outbox view and the exports share one router and
//! its role checks (each handler carries its OpenAPI annotation); issue 16 move 5 splits
//! them per resource (the import is already apart).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ApiState;
use super::ogc::query_pairs;
use crate::domain::Layers;
use crate::notify::channels::SecretLookup;
use crate::notify::config::{InboundConfig, NotifyConfig, Role};
use crate::notify::dlr::DlrSpec;
use crate::notify::subscriber::{
    self, Area, Channel, ChannelKind, HazardKind, KnownPcodes, Lang, Subscriber, SubscriberError,
};
use crate::store::StoreError;
use crate::store::notify::{ERASED, NotifyStore, OutboxRow, StoredSubscriber};

pub(crate) mod import;

/// Largest body the import accepts: 10 MiB, some 40,000 subscribers with polygons.
pub const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;
/// Outbox rows in one answer, by default and at most.
pub const DEFAULT_OUTBOX_LIST: usize = 100;
pub const MAX_OUTBOX_LIST: usize = 1000;

/// Building the admin API failed: a secret the configuration names is not set.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NotifyApiError {
    #[error(
        "[[notify.token]] {name:?}: the environment variable {var} (token_env) is not set: export it before starting aviso"
    )]
    MissingToken { name: String, var: String },
    #[error(
        "[notify.inbound] or [notify.sms] dlr_enabled is on but the environment variable {var} ([notify.inbound] secret_env) is not set: export it before starting aviso"
    )]
    MissingInboundSecret { var: String },
}

/// One accepted bearer token: its holder's name, role, and the token's SHA-256 (the token
/// itself is never kept).
#[derive(Clone)]
pub struct AdminToken {
    pub name: String,
    pub role: Role,
    sha256: [u8; 32],
    /// "config" (a hash in the file) or "env" (read from a variable).
    pub source: &'static str,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AdminToken({}, {:?}, {})",
            self.name, self.role, self.source
        )
    }
}

/// What the SMS gateway calls back with: forwarded replies and delivery reports. Both
/// prove themselves with the one shared secret of `[notify.inbound]` (its hash is kept).
pub(crate) struct GatewayCallbacks {
    pub(crate) secret_sha256: [u8; 32],
    /// The header that may carry the secret (else `?token=`).
    pub(crate) header: String,
    /// Forwarded replies (`[notify.inbound] enabled`).
    pub(crate) replies: Option<InboundConfig>,
    /// Delivery reports (`[notify.sms] dlr_enabled`): how this profile's read.
    pub(crate) dlr: Option<DlrSpec>,
}

/// What the admin, opt-out and SMS routes need: the store, the tokens, the P-codes and
/// point features subscribers may name, which channels this server sends on.
pub struct NotifyApi {
    pub(crate) store: Arc<dyn NotifyStore>,
    tokens: Vec<AdminToken>,
    known: KnownPcodes,
    /// Point layer name -> feature ids.
    features: BTreeMap<String, BTreeSet<String>>,
    enabled: BTreeSet<ChannelKind>,
    pub(crate) callbacks: Option<GatewayCallbacks>,
    /// `[notify.webhook] allow_private_targets`.
    allow_private_webhooks: bool,
}

/// SHA-256 of a secret, as bytes.
pub fn sha256(secret: &str) -> [u8; 32] {
    let d = Sha256::digest(secret.as_bytes());
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(d.iter()) {
        *o = *b;
    }
    out
}

fn from_hex(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

/// Compares two digests in time independent of where they differ (no early exit), so a
/// caller cannot learn a hash byte by byte from response times.
pub fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    subtle::ConstantTimeEq::ct_eq(&a[..], &b[..]).into()
}

impl NotifyApi {
    /// Reads the tokens (hashes from `cfg`, or tokens from the variables it names, through
    /// `secrets`), the inbound secret, and the P-codes and point features of `layers`.
    pub fn new(
        store: Arc<dyn NotifyStore>,
        cfg: &NotifyConfig,
        layers: &Layers,
        secrets: SecretLookup<'_>,
    ) -> Result<NotifyApi, NotifyApiError> {
        let mut tokens = Vec::new();
        for t in &cfg.tokens {
            let (sha256, source) = match (&t.sha256, &t.token_env) {
                (Some(h), _) => match from_hex(&h.to_ascii_lowercase()) {
                    Some(b) => (b, "config"),
                    // Validated at load: cannot happen with a validated config.
                    None => continue,
                },
                (None, Some(var)) => match secrets(var) {
                    Some(tok) => (sha256(&tok), "env"),
                    None => {
                        return Err(NotifyApiError::MissingToken {
                            name: t.name.clone(),
                            var: var.clone(),
                        });
                    }
                },
                (None, None) => continue,
            };
            tokens.push(AdminToken {
                name: t.name.clone(),
                role: t.role,
                sha256,
                source,
            });
        }
        let callbacks = if cfg.inbound.enabled || cfg.sms.dlr_enabled {
            let var = &cfg.inbound.secret_env;
            let secret = secrets(var)
                .ok_or_else(|| NotifyApiError::MissingInboundSecret { var: var.clone() })?;
            Some(GatewayCallbacks {
                secret_sha256: sha256(&secret),
                header: cfg.inbound.header.clone(),
                replies: cfg.inbound.enabled.then(|| cfg.inbound.clone()),
                dlr: cfg.sms.dlr_enabled.then(|| DlrSpec::from_config(&cfg.sms)),
            })
        } else {
            None
        };
        let known = KnownPcodes::from_pairs(
            layers
                .districts
                .iter()
                .filter_map(|d| d.parent_pcode.as_deref().map(|p| (d.pcode.as_str(), p))),
        );
        let features = layers
            .points
            .iter()
            .map(|l| {
                (
                    l.info.name.clone(),
                    l.features.iter().map(|f| f.id.clone()).collect(),
                )
            })
            .collect();
        let enabled = ChannelKind::ALL
            .into_iter()
            .filter(|k| cfg.channel_enabled(*k))
            .collect();
        Ok(NotifyApi {
            store,
            tokens,
            known,
            features,
            enabled,
            callbacks,
            allow_private_webhooks: cfg.webhook.allow_private_targets,
        })
    }

    /// The gateway's callbacks, if the request carries their shared secret (in the
    /// configured header or as `?token=`, compared in constant time). `what` names the
    /// route in the 404 when neither replies nor reports are accepted.
    pub(crate) fn gateway(
        &self,
        headers: &HeaderMap,
        token: Option<String>,
        what: &str,
    ) -> Result<&GatewayCallbacks, AdminError> {
        let Some(cb) = &self.callbacks else {
            return Err(AdminError::NotFound(format!(
                "{what} are not accepted here"
            )));
        };
        let presented = headers
            .get(cb.header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or(token);
        if !presented.is_some_and(|p| ct_eq(&sha256(&p), &cb.secret_sha256)) {
            return Err(AdminError::Unauthorized {
                invalid: true,
                message: format!(
                    "expected the shared secret in the {} header or as ?token=",
                    cb.header
                ),
            });
        }
        Ok(cb)
    }

    /// The token whose hash matches `presented`. Every configured hash is compared, in
    /// constant time each, whatever matched first.
    pub fn find_token(&self, presented: &str) -> Option<&AdminToken> {
        let h = sha256(presented);
        let mut found = None;
        for t in &self.tokens {
            if ct_eq(&t.sha256, &h) && found.is_none() {
                found = Some(t);
            }
        }
        found
    }

    /// The holder of the request's bearer token, if its role reaches `need`.
    pub fn authorize(&self, headers: &HeaderMap, need: Role) -> Result<&AdminToken, AdminError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(AdminError::Unauthorized {
                invalid: false,
                message: "no bearer token: send `Authorization: Bearer <token>`".into(),
            });
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
            })
            .filter(|t| !t.is_empty());
        let Some(presented) = presented else {
            return Err(AdminError::Unauthorized {
                invalid: true,
                message: "the Authorization header is not `Bearer <token>`".into(),
            });
        };
        let Some(t) = self.find_token(presented) else {
            return Err(AdminError::Unauthorized {
                invalid: true,
                message: if self.tokens.is_empty() {
                    "no admin token is configured on this server ([[notify.token]])".into()
                } else {
                    "unknown token".into()
                },
            });
        };
        if t.role < need {
            return Err(AdminError::Forbidden {
                message: format!(
                    "token {:?} has the role {}; this needs {}",
                    t.name,
                    t.role.as_str(),
                    need.as_str()
                ),
            });
        }
        Ok(t)
    }

    /// Checks what depends on this server's settings and layers: webhook targets (no
    /// loopback, private or link-local host unless `allow_private_targets`), then that
    /// every feature area names a loaded point layer and one of its ids.
    fn check_features(&self, s: &Subscriber, line: Option<u64>) -> Result<(), AdminError> {
        if !self.allow_private_webhooks {
            let hooks = s
                .channels
                .iter()
                .filter(|c| c.kind() == ChannelKind::Webhook);
            for (i, c) in hooks.enumerate() {
                if let Err(found) = crate::notify::target::check_public_host(c.address()) {
                    return Err(AdminError::Invalid {
                        subscriber: Some(s.id.clone()),
                        line,
                        field: Some(format!("webhooks[{i}]")),
                        message: format!(
                            "expected a URL of a host on the public Internet \
                             ([notify.webhook] allow_private_targets = false), found {found}"
                        ),
                    });
                }
            }
        }
        let features = s.areas.iter().filter_map(|a| match a {
            Area::Feature { layer, id } => Some((layer, id)),
            _ => None,
        });
        for (i, (layer, id)) in features.enumerate() {
            let ok = self.features.get(layer).is_some_and(|ids| ids.contains(id));
            if !ok {
                let layers: Vec<&str> = self.features.keys().map(String::as_str).collect();
                return Err(AdminError::Invalid {
                    subscriber: Some(s.id.clone()),
                    line,
                    field: Some(format!("features[{i}]")),
                    message: format!(
                        "expected layer:id of a loaded point feature (layers: {}), found {layer:?}:{id:?}",
                        layers.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// What the operator should know about a stored subscriber: channels this server does
    /// not send on, numbers that replied STOP, an opt-out that keeps them inactive.
    fn warnings(&self, s: &StoredSubscriber, optouts: &BTreeSet<String>) -> Vec<String> {
        self.warnings_of(&s.subscriber, s.opted_out_at, optouts)
    }

    /// [`NotifyApi::warnings`] of a subscriber as written, with their opt-out date.
    fn warnings_of(
        &self,
        sub: &Subscriber,
        opted_out_at: Option<chrono::DateTime<Utc>>,
        optouts: &BTreeSet<String>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for k in ChannelKind::ALL {
            if !self.enabled.contains(&k) && sub.channels.iter().any(|c| c.kind() == k) {
                out.push(format!(
                    "{}: this server does not send on this channel ([notify.{}] enabled = false)",
                    column_of(k),
                    k.as_str()
                ));
            }
        }
        let mut i = 0;
        for c in &sub.channels {
            if let Channel::Sms(p) = c {
                if optouts.contains(p) {
                    out.push(format!(
                        "phones[{i}]: this number replied STOP; no SMS will be sent to it"
                    ));
                }
                i += 1;
            }
        }
        if let Some(t) = opted_out_at {
            out.push(format!(
                "active: the subscriber opted out on {}; they stay inactive until an admin reactivates them (POST /api/admin/subscribers/{}/reactivate) on their renewed consent",
                t.to_rfc3339(),
                sub.id
            ));
        }
        out
    }
}

fn column_of(k: ChannelKind) -> &'static str {
    match k {
        ChannelKind::Email => "emails",
        ChannelKind::Sms => "phones",
        ChannelKind::Webhook => "webhooks",
    }
}

/// Errors of the admin and opt-out routes: JSON bodies with a `code`, a `description`,
/// and for input errors the `field`, the `subscriber` id and (CSV) the `line`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No token, or one not configured (401, with `WWW-Authenticate`).
    #[error("{message}")]
    Unauthorized { invalid: bool, message: String },
    /// A token whose role is too low (403).
    #[error("{message}")]
    Forbidden { message: String },
    /// A subscriber field (or CSV cell) is wrong (422).
    #[error("{}{}{}{message}",
        subscriber.as_ref().map(|s| format!("subscriber {s:?}: ")).unwrap_or_default(),
        line.map(|l| format!("CSV line {l}: ")).unwrap_or_default(),
        field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Invalid {
        subscriber: Option<String>,
        line: Option<u64>,
        field: Option<String>,
        message: String,
    },
    /// A body that is not JSON, or a bad query (400).
    #[error("{0}")]
    BadRequest(String),
    /// A body over the route's limit (413).
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("expected a body of type {expected}, found {found:?}")]
    UnsupportedMediaType {
        expected: &'static str,
        found: String,
    },
    #[error("{0}")]
    NotFound(String),
    /// A gateway callback whose body lacks a field or holds a bad value (400, naming the
    /// `field`).
    #[error("field `{field}`: {message}")]
    BadField { field: String, message: String },
    /// A delivery report for a message id the outbox does not hold (404, naming it).
    #[error(
        "no SMS in the outbox has the gateway message id {gateway_id:?} (the id the gateway answered when it took the message)"
    )]
    UnknownMessage { gateway_id: String },
    #[error("{0}")]
    Conflict(String),
    /// No subscribers on this server (no store).
    #[error("subscribers are not served here: start `aviso serve`")]
    Disabled,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SubscriberError> for AdminError {
    fn from(e: SubscriberError) -> Self {
        match e {
            SubscriberError::Invalid {
                subscriber,
                line,
                field,
                expected,
                found,
            } => AdminError::Invalid {
                subscriber: Some(subscriber),
                line,
                field: Some(field),
                message: format!("expected {expected}, found {found}"),
            },
            SubscriberError::Csv {
                line,
                column,
                message,
            } => AdminError::Invalid {
                subscriber: None,
                line,
                field: column,
                message,
            },
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AdminError::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            AdminError::Forbidden { .. } => (StatusCode::FORBIDDEN, "Forbidden"),
            AdminError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "InvalidSubscriber"),
            AdminError::BadRequest(_) | AdminError::BadField { .. } => {
                (StatusCode::BAD_REQUEST, "BadRequest")
            }
            AdminError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge"),
            AdminError::UnknownMessage { .. } => (StatusCode::NOT_FOUND, "NotFound"),
            AdminError::UnsupportedMediaType { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
            }
            AdminError::NotFound(_) | AdminError::Disabled => (StatusCode::NOT_FOUND, "NotFound"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
            AdminError::Internal(_) => {
                tracing::error!(error = %self, "api: internal error");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "internal server error\n",
                )
                    .into_response();
            }
        };
        let mut body = AdminErrorBody {
            code,
            description: self.to_string(),
            subscriber: None,
            line: None,
            field: None,
            gateway_id: None,
        };
        match &self {
            AdminError::Invalid {
                subscriber,
                line,
                field,
                ..
            } => {
                body.subscriber = Some(subscriber.clone());
                body.line = Some(*line);
                body.field = Some(field.clone());
            }
            AdminError::BadField { field, .. } => body.field = Some(Some(field.clone())),
            AdminError::UnknownMessage { gateway_id } => body.gateway_id = Some(gateway_id.clone()),
            _ => {}
        }
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response();
        if let AdminError::Unauthorized { invalid, .. } = &self {
            // RFC 6750 §3: the scheme, and error="invalid_token" when one was sent.
            let v = if *invalid {
                r#"Bearer realm="aviso", error="invalid_token""#
            } else {
                r#"Bearer realm="aviso""#
            };
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
        }
        resp
    }
}

/// The body of a 4xx of the admin API and the gateway's callbacks (the schema
/// `adminError` of the OpenAPI document). The optional members appear only on the errors
/// they belong to; on a 422 `subscriber`, `line` and `field` are always there, null when
/// unknown.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = adminError)]
pub(crate) struct AdminErrorBody {
    /// What went wrong, as a word: Unauthorized, Forbidden, InvalidSubscriber, BadRequest,
    /// PayloadTooLarge, UnsupportedMediaType, NotFound, Conflict.
    code: &'static str,
    /// In plain words, naming the subscriber, CSV line and field where they apply.
    description: String,
    /// (422) The subscriber's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    subscriber: Option<Option<String>>,
    /// (422 of a CSV import) The line of the file, header = 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    line: Option<Option<u64>>,
    /// (422, and 400 of a callback) The field: phones[0], districts[1], polygon[0]…
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    field: Option<Option<String>>,
    /// (404 of a delivery report) The gateway's message id no SMS has.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    gateway_id: Option<String>,
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

pub(crate) fn notify_api(state: &ApiState) -> Result<Arc<NotifyApi>, AdminError> {
    state.notify.clone().ok_or(AdminError::Disabled)
}

/// Runs a notify-store call off the async threads.
pub(crate) async fn call<T, F>(api: &Arc<NotifyApi>, f: F) -> Result<T, AdminError>
where
    T: Send + 'static,
    F: FnOnce(&dyn NotifyStore) -> Result<T, StoreError> + Send + 'static,
{
    let store = Arc::clone(&api.store);
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| AdminError::Internal(format!("store task: {e}")))?
        .map_err(AdminError::from)
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

// --- the subscriber as JSON ---------------------------------------------------------------

fn yes() -> bool {
    true
}

/// A subscriber as the admin API takes it: the CSV columns as JSON keys (lists as
/// arrays, the polygon as a GeoJSON Polygon or MultiPolygon geometry).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = subscriberInput)]
pub struct SubscriberInput {
    /// Required to create; on update it may be left out (it must match the path if given).
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub active: bool,
    /// "pt" (default) or "en".
    #[serde(default)]
    #[schema(example = "pt")]
    pub language: Option<String>,
    /// green, yellow (default), orange, red (or the Portuguese names).
    #[serde(default)]
    pub min_level: Option<String>,
    #[serde(default)]
    pub hazards: Vec<String>,
    #[serde(default)]
    pub receive_tests: bool,
    #[serde(default)]
    pub emails: Vec<String>,
    /// E.164, e.g. +258845550101.
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<String>,
    #[serde(default)]
    pub provinces: Vec<String>,
    #[serde(default)]
    pub districts: Vec<String>,
    /// "layer:id" of point features, e.g. "sites:DTM-123".
    #[serde(default)]
    pub features: Vec<String>,
    /// A GeoJSON Polygon or MultiPolygon (lon/lat).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub polygon: Option<Value>,
}

impl SubscriberInput {
    /// The subscriber, checked: every field, then the P-codes and features against the
    /// loaded layers.
    fn into_subscriber(self, id: String, api: &NotifyApi) -> Result<Subscriber, AdminError> {
        let bad = |field: &str, message: String| AdminError::Invalid {
            subscriber: Some(id.clone()),
            line: None,
            field: Some(field.to_string()),
            message,
        };
        let mut s = Subscriber {
            id: id.clone(),
            name: self.name,
            active: self.active,
            receive_tests: self.receive_tests,
            ..Subscriber::default()
        };
        if let Some(l) = &self.language {
            s.language = Lang::parse(l)
                .ok_or_else(|| bad("language", format!("expected pt or en, found {l:?}")))?;
        }
        if let Some(l) = &self.min_level {
            s.min_level = subscriber::parse_level(l).ok_or_else(|| {
                bad(
                    "min_level",
                    format!("expected green, yellow, orange or red, found {l:?}"),
                )
            })?;
        }
        for (i, h) in self.hazards.iter().enumerate() {
            s.hazards.push(HazardKind::parse(h).ok_or_else(|| {
                bad(
                    &format!("hazards[{i}]"),
                    format!("expected cyclone or flood, found {h:?}"),
                )
            })?);
        }
        s.channels
            .extend(self.emails.into_iter().map(Channel::Email));
        s.channels.extend(self.phones.into_iter().map(Channel::Sms));
        s.channels
            .extend(self.webhooks.into_iter().map(Channel::Webhook));
        s.areas.extend(
            self.provinces
                .iter()
                .map(|p| Area::Province(p.trim().to_ascii_uppercase())),
        );
        s.areas.extend(
            self.districts
                .iter()
                .map(|p| Area::District(p.trim().to_ascii_uppercase())),
        );
        for (i, f) in self.features.iter().enumerate() {
            let (layer, fid) = f.split_once(':').ok_or_else(|| {
                bad(
                    &format!("features[{i}]"),
                    format!("expected layer:id, found {f:?}"),
                )
            })?;
            s.areas.push(Area::Feature {
                layer: layer.trim().into(),
                id: fid.trim().into(),
            });
        }
        if let Some(g) = self.polygon.filter(|g| !g.is_null()) {
            let polys =
                subscriber::parse_polygon_cell(&g.to_string()).map_err(|m| bad("polygon", m))?;
            s.areas.extend(polys.into_iter().map(Area::Polygon));
        }
        let s = s.validate(&api.known, None)?;
        api.check_features(&s, None)?;
        Ok(s)
    }
}

/// A stored subscriber as JSON (personal data: admin routes only).
pub fn subscriber_json(s: &StoredSubscriber, optouts: &BTreeSet<String>) -> Value {
    let sub = &s.subscriber;
    let addrs = |k: ChannelKind| -> Vec<&str> {
        sub.channels
            .iter()
            .filter(|c| c.kind() == k)
            .map(Channel::address)
            .collect()
    };
    let mut provinces = Vec::new();
    let mut districts = Vec::new();
    let mut features = Vec::new();
    let mut polys = Vec::new();
    for a in &sub.areas {
        match a {
            Area::Province(p) => provinces.push(p.clone()),
            Area::District(p) => districts.push(p.clone()),
            Area::Feature { layer, id } => features.push(format!("{layer}:{id}")),
            Area::Polygon(p) => polys.push(p),
        }
    }
    let polygon = if polys.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&subscriber::polygon_cell(&polys)).unwrap_or(Value::Null)
    };
    let phones = addrs(ChannelKind::Sms);
    let stopped: Vec<&str> = phones
        .iter()
        .copied()
        .filter(|p| optouts.contains(*p))
        .collect();
    json!({
        "id": sub.id,
        "name": sub.name,
        "active": sub.active,
        "language": sub.language.as_str(),
        "min_level": sub.min_level.name_en(),
        "hazards": sub.hazards.iter().map(|h| h.as_str()).collect::<Vec<_>>(),
        "receive_tests": sub.receive_tests,
        "emails": addrs(ChannelKind::Email),
        "phones": phones,
        "webhooks": addrs(ChannelKind::Webhook),
        "provinces": provinces,
        "districts": districts,
        "features": features,
        "polygon": polygon,
        "sms_opted_out": stopped,
        "opted_out_at": s.opted_out_at,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

fn parse_input(body: &[u8]) -> Result<SubscriberInput, AdminError> {
    serde_json::from_slice(body).map_err(|e| {
        AdminError::BadRequest(format!(
            "expected a JSON subscriber (id, name, emails, phones, webhooks, provinces, districts, features, polygon, language, min_level, hazards, receive_tests, active), found: {e}"
        ))
    })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn require_json(headers: &HeaderMap) -> Result<(), AdminError> {
    let ct = content_type(headers);
    if ct.starts_with("application/json") {
        Ok(())
    } else {
        Err(AdminError::UnsupportedMediaType {
            expected: "application/json",
            found: ct,
        })
    }
}

fn audit(who: &AdminToken, what: &str) {
    // Ids only: never names, numbers or addresses.
    tracing::info!(token = %who.name, role = %who.role.as_str(), "admin: {what}");
}

// --- handlers ---------------------------------------------------------------------------

/// `GET /api/admin/whoami`: the token's holder and role (any role).
#[utoipa::path(get, path = "/api/admin/whoami", tag = "admin", operation_id = "whoami",
    summary = "The token's holder and role",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "name, role", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn whoami(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let t = api.authorize(&headers, Role::Viewer)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"name": t.name, "role": t.role.as_str()}),
    ))
}

/// `GET /api/admin/tokens` (admin): who holds a token, with which role (no hashes).
#[utoipa::path(get, path = "/api/admin/tokens", tag = "admin", operation_id = "listTokens",
    summary = "Who holds a token, with which role (no hashes)",
    description = "Needs a bearer token with the role `admin` or higher.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "tokens", content_type = "application/json", body = Object),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below admin", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn tokens(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    api.authorize(&headers, Role::Admin)?;
    let list: Vec<Value> = api
        .tokens
        .iter()
        .map(|t| json!({"name": t.name, "role": t.role.as_str(), "source": t.source}))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"tokens": list})))
}

/// `GET /api/admin/subscribers[?active=true|false]` (viewer).
#[utoipa::path(get, path = "/api/admin/subscribers", tag = "admin", operation_id = "listSubscribers",
    summary = "Subscribers (with their personal data: token-protected)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("active" = Option<bool>, Query, description = "Only active (true) or inactive (false) ones")),
    responses(
        (status = 200, description = "count, subscribers", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    api.authorize(&headers, Role::Viewer)?;
    let q = query_pairs(q, &["active"]).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let active = match q.get("active").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(AdminError::BadRequest(format!(
                "query parameter 'active': expected true or false, found {other:?}"
            )));
        }
    };
    let (subs, optouts) = call(&api, |s| Ok((s.subscribers(false)?, s.sms_optouts()?))).await?;
    let list: Vec<Value> = subs
        .iter()
        .filter(|s| active.is_none_or(|a| s.subscriber.active == a))
        .map(|s| subscriber_json(s, &optouts))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": list.len(), "subscribers": list}),
    ))
}

/// `GET /api/admin/subscribers/{id}` (viewer).
#[utoipa::path(get, path = "/api/admin/subscribers/{id}", tag = "admin", operation_id = "getSubscriber",
    summary = "One subscriber",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    responses(
        (status = 200, description = "The subscriber", content_type = "application/json", body = Object),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody)))]
pub(crate) async fn get_one(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    api.authorize(&headers, Role::Viewer)?;
    let key = id.clone();
    let (s, optouts) = call(&api, move |s| Ok((s.subscriber(&key)?, s.sms_optouts()?))).await?;
    let s = s.ok_or_else(|| AdminError::NotFound(format!("subscriber {id:?} not found")))?;
    Ok(json_response(
        StatusCode::OK,
        &subscriber_json(&s, &optouts),
    ))
}

/// The stored subscriber and what the operator should know, after a write.
async fn written(
    api: &Arc<NotifyApi>,
    id: &str,
    status: StatusCode,
) -> Result<Response, AdminError> {
    let key = id.to_string();
    let (s, optouts) = call(api, move |s| Ok((s.subscriber(&key)?, s.sms_optouts()?))).await?;
    let s = s.ok_or_else(|| AdminError::Internal(format!("subscriber {id} vanished")))?;
    Ok(json_response(
        status,
        &json!({
            "subscriber": subscriber_json(&s, &optouts),
            "warnings": api.warnings(&s, &optouts),
        }),
    ))
}

/// `POST /api/admin/subscribers` (editor): 201, or 409 when the id exists.
#[utoipa::path(post, path = "/api/admin/subscribers", tag = "admin", operation_id = "createSubscriber",
    summary = "Create a subscriber",
    description = "Needs a bearer token with the role `editor` or higher.",
    security(("bearer" = [])),
    request_body(content = SubscriberInput, content_type = "application/json", description = "The subscriber (id required)"),
    responses(
        (status = 201, description = "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`", content_type = "application/json", body = Object),
        (status = 400, description = "Not a JSON subscriber", body = AdminErrorBody),
        (status = 409, description = "The id exists", body = AdminErrorBody),
        (status = 415, description = "Not application/json", body = AdminErrorBody),
        (status = 422, description = "A field is wrong: `field` (phones[0], districts[1], polygon[0]…) and `subscriber` name it", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn create(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Editor)?.clone();
    require_json(&headers)?;
    let input = parse_input(&body)?;
    let id = input.id.clone().unwrap_or_default();
    let sub = input.into_subscriber(id.clone(), &api)?;
    let created = call(&api, move |s| s.create_subscriber(&sub, Utc::now())).await?;
    if !created {
        return Err(AdminError::Conflict(format!(
            "subscriber {id:?} exists: update it with PUT /api/admin/subscribers/{id}"
        )));
    }
    audit(&who, &format!("created subscriber {id}"));
    written(&api, &id, StatusCode::CREATED).await
}

/// `PUT /api/admin/subscribers/{id}` (editor): replaces the subscriber's data.
#[utoipa::path(put, path = "/api/admin/subscribers/{id}", tag = "admin", operation_id = "updateSubscriber",
    summary = "Replace a subscriber's data (an opt-out stays)",
    description = "Needs a bearer token with the role `editor` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    request_body(content = SubscriberInput, content_type = "application/json", description = "The subscriber (id optional; it must match the path)"),
    responses(
        (status = 200, description = "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`", content_type = "application/json", body = Object),
        (status = 400, description = "Not a JSON subscriber", body = AdminErrorBody),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 415, description = "Not application/json", body = AdminErrorBody),
        (status = 422, description = "A field is wrong (named), or the body's id is not the path's", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = AdminErrorBody)))]
pub(crate) async fn update(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Editor)?.clone();
    require_json(&headers)?;
    let input = parse_input(&body)?;
    if let Some(body_id) = &input.id
        && body_id != &id
    {
        return Err(AdminError::Invalid {
            subscriber: Some(id.clone()),
            line: None,
            field: Some("id".into()),
            message: format!(
                "expected the id of the path ({id:?}) or none, found {body_id:?} (ids do not change)"
            ),
        });
    }
    let sub = input.into_subscriber(id.clone(), &api)?;
    let updated = call(&api, move |s| s.update_subscriber(&sub, Utc::now())).await?;
    if !updated {
        return Err(AdminError::NotFound(format!(
            "subscriber {id:?} not found: create it with POST /api/admin/subscribers"
        )));
    }
    audit(&who, &format!("updated subscriber {id}"));
    written(&api, &id, StatusCode::OK).await
}

/// `POST /api/admin/subscribers/{id}/deactivate` (editor).
#[utoipa::path(post, path = "/api/admin/subscribers/{id}/deactivate", tag = "admin", operation_id = "deactivateSubscriber",
    summary = "Deactivate (undone by an update with active=true, unless they opted out)",
    description = "Needs a bearer token with the role `editor` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    responses(
        (status = 200, description = "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`", content_type = "application/json", body = Object),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below editor", body = AdminErrorBody)))]
pub(crate) async fn deactivate(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Editor)?.clone();
    let key = id.clone();
    if !call(&api, move |s| s.deactivate_subscriber(&key, Utc::now())).await? {
        return Err(AdminError::NotFound(format!("subscriber {id:?} not found")));
    }
    audit(&who, &format!("deactivated subscriber {id}"));
    written(&api, &id, StatusCode::OK).await
}

/// `POST /api/admin/subscribers/{id}/reactivate` (admin): clears an opt-out.
#[utoipa::path(post, path = "/api/admin/subscribers/{id}/reactivate", tag = "admin", operation_id = "reactivateSubscriber",
    summary = "Reactivate, clearing an opt-out and the numbers' STOPs (on the person's renewed consent)",
    description = "Needs a bearer token with the role `admin` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    responses(
        (status = 200, description = "`subscriber` (as stored, with `sms_opted_out` and `opted_out_at`) and `warnings`", content_type = "application/json", body = Object),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below admin", body = AdminErrorBody)))]
pub(crate) async fn reactivate(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Admin)?.clone();
    let key = id.clone();
    if !call(&api, move |s| s.reactivate_subscriber(&key, Utc::now())).await? {
        return Err(AdminError::NotFound(format!("subscriber {id:?} not found")));
    }
    audit(
        &who,
        &format!("reactivated subscriber {id} (opt-out cleared)"),
    );
    written(&api, &id, StatusCode::OK).await
}

/// `POST /api/admin/subscribers/{id}/erase` (admin): erases the person (see
/// [`NotifyStore::erase_subscriber`]): their data leaves the store, their messages stay
/// as counts for the audit trail. A POST on its own path rather than `DELETE`: it is not
/// the undoable deactivation, and a separate verb in the audit log and the route table
/// makes the difference plain. The id is free for a new subscriber afterwards.
#[utoipa::path(post, path = "/api/admin/subscribers/{id}/erase", tag = "admin", operation_id = "eraseSubscriber",
    summary = "Erase the person: name, addresses, numbers, webhook URLs and areas leave the store; queued messages fail; sent ones keep counts, times and states with the recipient and body replaced by \"erased\"; a STOP stays refused as a digest. Not undoable.",
    description = "Needs a bearer token with the role `admin` or higher.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The subscriber id")),
    responses(
        (status = 200, description = "erased (the id) and report (messages_failed, messages_scrubbed, attempts_scrubbed, sms_optouts_kept, checkpointed)", content_type = "application/json", body = Object),
        (status = 404, description = "Unknown subscriber, or subscribers are not served here", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below admin", body = AdminErrorBody)))]
pub(crate) async fn erase(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Admin)?.clone();
    let (key, by) = (id.clone(), who.name.clone());
    let Some(report) = call(&api, move |s| s.erase_subscriber(&key, &by, Utc::now())).await? else {
        return Err(AdminError::NotFound(format!(
            "subscriber {id:?} not found (nothing to erase)"
        )));
    };
    audit(
        &who,
        &format!(
            "erased subscriber {id}: {} queued message(s) failed, {} message(s) scrubbed, {} SMS opt-out(s) kept as digests",
            report.messages_failed, report.messages_scrubbed, report.sms_optouts_kept
        ),
    );
    if !report.checkpointed {
        tracing::warn!(
            subscriber = %id,
            "erasure: the WAL checkpoint was blocked by a reader; old pages leave the WAL file at the next checkpoint"
        );
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"erased": id, "report": report}),
    ))
}

/// `GET /api/admin/subscribers.csv` (viewer): every subscriber, in the import layout.
#[utoipa::path(get, path = "/api/admin/subscribers.csv", tag = "admin", operation_id = "exportSubscribers",
    summary = "Every subscriber as CSV (the import layout)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn export(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    let who = api.authorize(&headers, Role::Viewer)?.clone();
    let subs = call(&api, |s| s.subscribers(false)).await?;
    let list: Vec<Subscriber> = subs.into_iter().map(|s| s.subscriber).collect();
    let csv = subscriber::to_csv(&list).map_err(|e| AdminError::Internal(e.to_string()))?;
    audit(&who, &format!("exported {} subscriber(s)", list.len()));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"aviso-subscribers.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

fn outbox_json(r: &OutboxRow) -> Value {
    json!({
        "id": r.id,
        "subscriber_id": r.message.subscriber_id,
        "channel": r.message.kind().as_str(),
        "address": if r.message.channel.address() == ERASED {
            ERASED.to_string()
        } else {
            r.message.channel.redacted()
        },
        "idempotency_key": r.message.idempotency_key,
        "event_id": r.event_id,
        "alert_id": r.alert_id,
        "version": r.version,
        "notice": r.notice.as_str(),
        "level": r.level.map(|l| l.name_en()),
        "state": r.state.as_str(),
        "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at,
        "created_at": r.created_at,
        "delivered_at": r.delivered_at,
        "gateway_id": r.gateway_id,
        "last_error": r.last_error,
        "delivery_report": r.delivery.as_ref().map(|d| json!({
            "state": d.state.as_str(),
            "status": d.status,
            "reason": d.reason,
            "at": d.at,
        })),
    })
}

/// `GET /api/admin/outbox[?event=ID&limit=N]` (viewer): messages, newest first, with their
/// state and the gateway's last answer (addresses masked).
#[utoipa::path(get, path = "/api/admin/outbox", tag = "admin", operation_id = "listOutbox",
    summary = "Messages, newest first: state, attempts, the gateway's answer and its latest delivery report (addresses masked)",
    description = "Needs a bearer token with the role `viewer` or higher.",
    security(("bearer" = [])),
    params(("event" = Option<String>, Query, description = "Only this event's messages"), ("limit" = Option<u32>, Query, minimum = 1, description = "Messages in the answer")),
    responses(
        (status = 200, description = "count, total, messages (each with delivery_report: state, status, reason, at, or null)", content_type = "application/json", body = Object),
        (status = 400, description = "A bad query parameter", body = AdminErrorBody),
        (status = 401, description = "No bearer token, or an unknown one", body = AdminErrorBody),
        (status = 403, description = "The token's role is below viewer", body = AdminErrorBody),
        (status = 404, description = "Subscribers are not served here (no `aviso serve`)", body = AdminErrorBody)))]
pub(crate) async fn outbox(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    let api = notify_api(&state)?;
    api.authorize(&headers, Role::Viewer)?;
    let q =
        query_pairs(q, &["event", "limit"]).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let limit = match q.get("limit") {
        None => DEFAULT_OUTBOX_LIST,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_OUTBOX_LIST).contains(n))
            .ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "query parameter 'limit': expected an integer from 1 to {MAX_OUTBOX_LIST}, found {l:?}"
                ))
            })?,
    };
    let event = q.get("event").cloned();
    let rows = call(&api, move |s| s.outbox(event.as_deref())).await?;
    let total = rows.len();
    let list: Vec<Value> = rows.iter().rev().take(limit).map(outbox_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": list.len(), "total": total, "messages": list}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison_agrees_with_equality() {
        let a = sha256("tok-1");
        let mut b = a;
        assert!(ct_eq(&a, &b));
        b[31] ^= 1;
        assert!(!ct_eq(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!ct_eq(&a, &b));
    }

    #[test]
    fn a_hex_hash_reads_back_to_the_digest() {
        // `printf %s example-token-do-not-use | sha256sum` (coreutils), as in
        // config/notify.example.toml.
        let h = "3690a4a2ed3b26b46a696e9ab873a300d9da3ae56bc84352e2bf724885c91dfd";
        assert_eq!(from_hex(h), Some(sha256("example-token-do-not-use")));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn an_unauthorized_answer_names_the_bearer_scheme() {
        let r = AdminError::Unauthorized {
            invalid: true,
            message: "unknown token".into(),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let h = r.headers().get(header::WWW_AUTHENTICATE).unwrap();
        assert!(h.to_str().unwrap().contains("invalid_token"));
    }
}
