//! The admin API, `/api/admin/...`: subscribers (list, get, create, update, deactivate,
//! reactivate, erase, CSV import and export), the outbox, and who holds a token. Every
//! route needs `Authorization: Bearer <token>`; tokens are configured as SHA-256 hashes (or
//! read from the environment and hashed at start) with a role: viewer reads, editor also
//! writes, admin does everything.
//!
//! An adapter at the edge (axum, the notify store). Subscribers' personal data leaves the
//! service only through these token-protected routes: never through a public route, and
//! never in a log line (audit lines name the token and the subscriber id only). Must not
//! depend on the pipeline or the channels.
//!
//! This file holds what every admin route shares: [`NotifyApi`] (the store, the tokens,
//! the loaded P-codes and point features, the channels this server sends on), the checks
//! and warnings that depend on them, and the small helpers (store calls off the async
//! threads, JSON answers, the audit line). One file per job beside it: `auth` (tokens,
//! roles, the gateway's secret), `error` (the error answers), `subscriber_json` (a
//! subscriber as JSON, in and out), `subscribers` (list, read, create, update),
//! `lifecycle` (deactivate, reactivate, erase), `import` and `export` (CSV), `outbox` (the
//! messages). `super::router` puts the routes together.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::Value;

use super::ApiState;
use crate::domain::Layers;
use crate::notify::channels::SecretLookup;
use crate::notify::config::{InboundConfig, NotifyConfig};
use crate::notify::dlr::DlrSpec;
use crate::notify::subscriber::{Area, Channel, ChannelKind, KnownPcodes, Subscriber};
use crate::store::StoreError;
use crate::store::notify::{NotifyStore, StoredSubscriber};

pub mod audit_trail;
pub(crate) mod auth;
pub(crate) mod error;
pub(crate) mod export;
pub mod hand;
pub(crate) mod import;
pub(crate) mod lifecycle;
pub(crate) mod outbox;
pub mod overrides;
pub mod proposals;
pub(crate) mod register;
pub(crate) mod register_history;
pub(crate) mod subscriber_json;
pub(crate) mod subscribers;

use auth::from_hex;
pub use auth::{AdminToken, ct_eq, sha256};
pub use error::AdminError;
pub(crate) use error::AdminErrorBody;
pub use outbox::{DEFAULT_OUTBOX_LIST, MAX_OUTBOX_LIST};
pub use subscriber_json::{SubscriberInput, subscriber_json};

/// Largest body the import accepts: 10 MiB, some 40,000 subscribers with polygons.
pub const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;

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

/// Logs an admin action and appends it to the audit trail (issue 13) when the approval
/// workflow's store is served. Ids only: never names, numbers or addresses.
fn audit(state: &ApiState, who: &AdminToken, what: &str) {
    tracing::info!(token = %who.name, role = %who.role.as_str(), "admin: {what}");
    let entry =
        crate::store::approval::AuditEntry::new(Utc::now(), &who.name, "admin", what.into())
            .with_detail(serde_json::json!({ "role": who.role.as_str() }));
    append_audit(state, entry);
}

/// Appends `entry` to the audit trail off the async threads, when it is served; a failure
/// is logged (the action itself has happened).
pub(crate) fn append_audit(state: &ApiState, entry: crate::store::approval::AuditEntry) {
    let Some(p) = &state.proposals else { return };
    let store = Arc::clone(&p.store);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = store.audit(&entry) {
            // ERROR: the action happened but the audit trail lacks it; the store needs
            // someone.
            tracing::error!(error = %e, action = %entry.action, subject = %entry.subject, "appending to the audit trail failed");
        }
    });
}
