//! The HTTP API: an axum router over the loaded layers and the current alert (OGC API –
//! Features in [`ogc`]). An adapter at the edge: it may use axum and tokio; the core
//! (`domain`, `hazard`, `exposure`, `alerts`) must never depend on it. It reads what was
//! loaded or published; it never calls a feed.

pub mod admin;
pub mod alerts;
pub mod dlr;
pub mod guard;
pub mod gzip;
pub mod health;
pub mod ogc;
pub mod openapi;
pub mod optout;
pub mod plan;
pub mod server;
pub mod web;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::Layers;
use crate::metrics::Metrics;
use crate::store::published::{Published, PublishedAlert};
use crate::store::{Store, StoreError};
use ogc::{AlertCollections, Collection};

/// Errors of the API: bad requests and unknown ids become 4xx JSON bodies (`code`,
/// `description`, the OGC API exception schema); anything else is a plain 500 whose cause
/// is logged once.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("query parameter '{parameter}': expected {expected}, found '{found}'")]
    InvalidParameter {
        parameter: String,
        expected: String,
        found: String,
    },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("alert document {origin}: {message}")]
    AlertDocument { origin: String, message: String },
    /// The request is understood but cannot be served (a flood version's plan): 422.
    #[error("{message}")]
    Unprocessable { message: String },
    /// A capability this server lacks (no Chromium to print a PDF): 503.
    #[error("{message}")]
    Unavailable { message: String },
    #[error("internal error: {cause}")]
    Internal { cause: String },
}

impl ApiError {
    pub(crate) fn invalid(parameter: &str, expected: &str, found: &str) -> Self {
        ApiError::InvalidParameter {
            parameter: parameter.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::InvalidParameter { .. } => (StatusCode::BAD_REQUEST, "InvalidParameterValue"),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::Unprocessable { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable"),
            ApiError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
            ApiError::AlertDocument { .. } | ApiError::Internal { .. } => {
                // The one log event per internal error; the client sees no internals.
                tracing::error!(error = %self, "api: internal error");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "internal server error\n",
                )
                    .into_response();
            }
        };
        let body = Exception {
            code,
            description: self.to_string(),
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// The body of a 4xx of the public routes: the OGC API exception (OGC 17-069r3, schema
/// exception.yaml), also the schema `exception` of the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = exception)]
pub(crate) struct Exception {
    /// What went wrong, as a word: InvalidParameterValue, NotFound.
    code: &'static str,
    /// In plain words, naming the parameter or the thing not found.
    description: String,
}

/// What the API serves. The layer collections are rendered once at start (the layers do
/// not change while serving); the alert collections are swapped whole when a new
/// assessment is published.
pub struct ApiState {
    /// Prefix of every link ("http://host:port", no trailing slash). `None`: taken from
    /// each request's Host header (`http://{Host}`), so links stay absolute whatever
    /// name the client used.
    base_url: Option<String>,
    layer_collections: Vec<Collection>,
    /// The current alert, as the pipeline published it (`store::published`): the API
    /// reads this board and never gets called by the pipeline (issue 16 move 2).
    published: Arc<Published>,
    /// The collections drawn from the published alert, made on the first request after
    /// each publication and kept until the next (the snapshot they were drawn from, and
    /// `None` when that document could not be drawn, which was logged once).
    alert_collections: Mutex<Option<DrawnAlert>>,
    /// Collections drawn for items requests that choose events (`event`, `status`),
    /// newest last, keyed by the versions they were drawn from.
    selections: Mutex<Vec<(String, Arc<AlertCollections>)>>,
    /// Published alert versions (`aviso serve`); `None` when only layers are served.
    pub(crate) store: Option<Arc<dyn Store>>,
    /// Feeds and readiness (`aviso serve`).
    pub(crate) service: Option<Arc<health::ServiceStatus>>,
    pub(crate) metrics: Arc<Metrics>,
    /// The web map's settings (basemap tiles).
    pub(crate) map: web::MapConfig,
    /// Subscribers: the admin API, the opt-outs and the outbox metrics (`aviso serve`);
    /// `None`: those routes answer 404.
    pub(crate) notify: Option<Arc<admin::NotifyApi>>,
    /// Contingency plans per version and the register admin routes (`aviso serve`);
    /// `None`: those routes answer 404.
    pub(crate) plan: Option<Arc<plan::PlanApi>>,
    /// Proposals, decisions and the audit trail (issue 13, `aviso serve`); `None`: those
    /// routes answer 404.
    pub(crate) proposals: Option<Arc<admin::proposals::ProposalsApi>>,
    /// Large request bodies read at once (`[http_server]`).
    pub(crate) uploads: guard::Uploads,
    /// gzip of answers: compressed off the async threads, unchanging ones once.
    pub(crate) gzip: gzip::GzipCache,
    /// The OpenAPI document drawn from the handlers, set by [`router`] (the same for
    /// every router over this state); `GET /api` serves it.
    pub(crate) openapi: std::sync::OnceLock<utoipa::openapi::OpenApi>,
}

impl ApiState {
    /// Renders the layers' collections (`country`, `provinces`, `districts`, one per point
    /// layer). `base_url`: see [`ApiState`]; a trailing slash is dropped.
    pub fn new(layers: &Layers, base_url: Option<String>) -> Self {
        ApiState {
            base_url: base_url.map(|u| u.trim_end_matches('/').to_string()),
            layer_collections: ogc::layer_collections(layers),
            published: Arc::new(Published::default()),
            alert_collections: Mutex::new(None),
            selections: Mutex::new(Vec::new()),
            store: None,
            service: None,
            metrics: Arc::new(Metrics::default()),
            map: web::MapConfig::default(),
            notify: None,
            plan: None,
            proposals: None,
            uploads: uploads_of(&server::HttpServerConfig::default()),
            gzip: gzip::GzipCache::default(),
            openapi: std::sync::OnceLock::new(),
        }
    }

    /// The HTTP server's limits that the router applies (`[http_server]`): large uploads.
    pub fn with_http_server(mut self, cfg: &server::HttpServerConfig) -> Self {
        self.uploads = uploads_of(cfg);
        self
    }

    /// The web map's basemap settings.
    pub fn with_map(mut self, map: web::MapConfig) -> Self {
        self.map = map;
        self
    }

    /// Serves subscribers: the admin API, `/unsubscribe`, `/api/sms/inbound`, and the
    /// outbox in `/metrics`.
    pub fn with_notify(mut self, notify: Arc<admin::NotifyApi>) -> Self {
        self.notify = Some(notify);
        self
    }

    /// Serves the approval workflow's admin routes (proposals, decisions, audit).
    pub fn with_proposals(mut self, p: Arc<admin::proposals::ProposalsApi>) -> Self {
        self.proposals = Some(p);
        self
    }

    /// Serves `/api/alerts/{id}/plan` and the register admin routes.
    pub fn with_plan(mut self, plan: Arc<plan::PlanApi>) -> Self {
        self.plan = Some(plan);
        self
    }

    /// The service's state: alerts come from `store`, `/readyz` watches `service`'s
    /// feeds, and `/metrics` adds `metrics` (shared with the pipeline).
    pub fn with_service(
        mut self,
        store: Arc<dyn Store>,
        service: Arc<health::ServiceStatus>,
        metrics: Arc<Metrics>,
    ) -> Self {
        self.store = Some(store);
        self.service = Some(service);
        self.metrics = metrics;
        self
    }

    /// The board the pipeline publishes the current alert on (shared, not copied).
    pub fn published(&self) -> Arc<Published> {
        Arc::clone(&self.published)
    }

    /// Publishes an alert document (as written by `alert_document` or `flood_document`):
    /// its hazard zones and districts at risk replace the previous ones. `origin` names
    /// the document in errors. On error the previous alert stays.
    pub fn set_alert(&self, document: Value, origin: &str) -> Result<(), ApiError> {
        let collections = AlertCollections::from_document(document.clone(), origin)?;
        self.published.publish(origin, document);
        if let Some(snapshot) = self.published.current() {
            *self.drawn() = Some(DrawnAlert {
                snapshot,
                collections: Some(Arc::new(collections)),
            });
        }
        Ok(())
    }

    /// Withdraws the current alert: the alert collections become empty.
    pub fn clear_alert(&self) {
        self.published.withdraw();
    }

    /// The current alert document, if one is published.
    pub fn alert_document(&self) -> Option<Value> {
        self.current_alert().map(|a| a.document.clone())
    }

    /// Collections already drawn for the selection `key` ([`ogc::events`]).
    pub(crate) fn drawn_selection(&self, key: &str) -> Option<Arc<AlertCollections>> {
        let kept = self.selections.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .find(|(k, _)| k == key)
            .map(|(_, c)| Arc::clone(c))
    }

    /// Keeps `drawn` for `key`, dropping the oldest beyond `max`.
    pub(crate) fn keep_selection(&self, key: String, drawn: Arc<AlertCollections>, max: usize) {
        let mut kept = self.selections.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(k, _)| *k != key);
        kept.push((key, drawn));
        let excess = kept.len().saturating_sub(max);
        kept.drain(..excess);
    }

    /// The collections of the published alert, drawn once per publication. A document
    /// that cannot be drawn (a stored document from an older schema) is logged once, and
    /// the alert served before it stays, as when `set_alert` refuses one.
    fn current_alert(&self) -> Option<Arc<AlertCollections>> {
        let snapshot = self.published.current()?;
        let mut drawn = self.drawn();
        if let Some(d) = drawn
            .as_ref()
            .filter(|d| Arc::ptr_eq(&d.snapshot, &snapshot))
        {
            return d.collections.clone();
        }
        let collections =
            match AlertCollections::from_document(snapshot.document.clone(), &snapshot.id) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::error!(
                        version = %snapshot.id,
                        error = %e,
                        "serving the version as the current alert failed"
                    );
                    drawn.as_ref().and_then(|d| d.collections.clone())
                }
            };
        *drawn = Some(DrawnAlert {
            snapshot,
            collections: collections.clone(),
        });
        collections
    }

    /// A poisoned lock only means a reader panicked while drawing; the value inside is
    /// whole (it is replaced in one assignment), so it is used.
    fn drawn(&self) -> std::sync::MutexGuard<'_, Option<DrawnAlert>> {
        self.alert_collections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// The collections drawn from one published snapshot.
struct DrawnAlert {
    snapshot: Arc<PublishedAlert>,
    collections: Option<Arc<AlertCollections>>,
}

fn uploads_of(cfg: &server::HttpServerConfig) -> guard::Uploads {
    guard::Uploads::new(cfg.large_body_bytes, cfg.max_concurrent_uploads)
}

/// Runs a store call off the async threads (SQLite reads block). Without a store (layers
/// only) the alert endpoints are 404s that say so.
pub(crate) async fn store_call<T, F>(state: &ApiState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone().ok_or_else(|| ApiError::NotFound {
        what: "alert store (this server serves layers only: start `aviso serve`)".into(),
    })?;
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| ApiError::Internal {
            cause: format!("store task: {e}"),
        })?
        .map_err(|e| ApiError::Internal {
            cause: e.to_string(),
        })
}

/// The API's routes over `state`. A function, so tests call it without a socket.
///
/// Every route is added from its handler's `#[utoipa::path]` annotation (`routes!`), which
/// gives both the path the router answers and the operation in the OpenAPI document
/// (`GET /api`, see [`openapi`]): a route cannot be served undocumented. Only the map's
/// static files are added as plain routes: files, not operations.
pub fn router(state: Arc<ApiState>) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        // `/` is content-negotiated there: the map for browsers, the landing page otherwise.
        .merge(web::web_router(state.map.clone()))
        .routes(routes!(ogc::metadata::conformance))
        .routes(routes!(ogc::metadata::api_document))
        .routes(routes!(ogc::metadata::collections))
        .routes(routes!(ogc::metadata::collection))
        .routes(routes!(ogc::metadata::queryables))
        .routes(routes!(ogc::items::items))
        .routes(routes!(ogc::items::item))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::atom))
        .routes(routes!(alerts::document))
        .routes(routes!(alerts::cap))
        .routes(routes!(plan::plan))
        .routes(routes!(alerts::events))
        .routes(routes!(alerts::event))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .merge(admin_routes(&state))
        .merge(gateway_routes(&state))
        .routes(routes!(optout::unsubscribe_page, optout::unsubscribe))
        .split_for_parts();
    // Every router over one state draws the same document: the first one is kept.
    let _ = state.openapi.set(doc);
    router
        .fallback(ogc::unknown_path)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            guard::upload_permit,
        ))
        // gzip when the client asks (browsers, curl --compressed); GDAL and wrk get plain.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            gzip::compress,
        ))
        .with_state(state)
}

/// The admin API: every route behind a bearer token, checked before any body is read.
fn admin_routes(state: &Arc<ApiState>) -> OpenApiRouter<Arc<ApiState>> {
    // The CSV import's own body limit, on its route only.
    let (schemas, paths, csv) = routes!(admin::export::export, admin::import::import);
    let csv = csv.layer(axum::extract::DefaultBodyLimit::max(
        admin::MAX_IMPORT_BYTES,
    ));
    OpenApiRouter::new()
        .routes(routes!(admin::auth::whoami))
        .routes(routes!(admin::auth::tokens))
        .routes(routes!(
            admin::subscribers::list,
            admin::subscribers::create
        ))
        .routes((schemas, paths, csv))
        .routes(routes!(
            admin::subscribers::get_one,
            admin::subscribers::update
        ))
        .routes(routes!(admin::lifecycle::deactivate))
        .routes(routes!(admin::lifecycle::reactivate))
        .routes(routes!(admin::lifecycle::erase))
        .routes(routes!(admin::outbox::outbox))
        .routes(routes!(admin::proposals::list))
        .routes(routes!(admin::proposals::review))
        .routes(routes!(admin::proposals::cap))
        .routes(routes!(admin::proposals::document))
        .routes(routes!(admin::proposals::approve))
        .routes(routes!(admin::proposals::reject))
        .routes(routes!(admin::overrides::edit))
        .routes(routes!(admin::overrides::list))
        .routes(routes!(admin::overrides::lift))
        .routes(routes!(admin::hand::cancel))
        .routes(routes!(admin::hand::error))
        .routes(routes!(admin::hand::hold))
        .routes(routes!(admin::hand::lift))
        .routes(routes!(admin::hand::list))
        .routes(routes!(admin::audit_trail::audit_log))
        .routes(routes!(
            admin::register::export_register,
            admin::register::import_register
        ))
        .routes(routes!(
            admin::register::export_occupancy,
            admin::register::import_occupancy
        ))
        .routes(routes!(admin::register_history::register_history))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(state),
            guard::admin_token,
        ))
}

/// The SMS gateway's callbacks: the shared secret is checked before any body is read.
fn gateway_routes(state: &Arc<ApiState>) -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::new()
        .routes(routes!(optout::sms_inbound))
        .routes(routes!(dlr::sms_dlr))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(state),
            guard::gateway_secret,
        ))
}

/// Serves [`router`] on `listener` with the default `[http_server]` limits until the
/// process ends. The runtime must have its I/O and time drivers on (`enable_all`): the
/// timeouts are hyper timers, and a runtime without time panics on the first connection
/// (`aviso serve-layers` did, caught by GDAL's OAPIF client in tests/it/ogc.rs).
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<ApiState>) -> std::io::Result<()> {
    let cfg = server::HttpServerConfig::default();
    server::serve(listener, router(state), &cfg, std::future::pending()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_is_a_plain_500_that_reveals_no_cause() {
        let resp = ApiError::Internal {
            cause: "secret detail".into(),
        }
        .into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let ct = resp.headers().get(header::CONTENT_TYPE).unwrap();
        assert!(ct.to_str().unwrap().starts_with("text/plain"));
    }

    #[test]
    fn a_bad_parameter_is_a_400_json_error() {
        let resp = ApiError::invalid("limit", "a positive integer", "0").into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let ct = resp.headers().get(header::CONTENT_TYPE).unwrap();
        assert_eq!(ct, "application/json");
    }
}
