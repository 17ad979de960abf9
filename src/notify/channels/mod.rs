//! The channels that deliver an [`Outbound`]: e-mail over SMTP (lettre), SMS through an
//! HTTP gateway, and signed webhooks (reqwest). One [`Transport`] trait; [`Channels`] holds
//! the configured ones and routes a message by its channel kind (an enum-like struct rather
//! than trait objects: `async fn` in traits is not object safe).
//!
//! An adapter at the edge: does network I/O. Secrets are read through a lookup the caller
//! passes (the environment in the service), never from configuration files. Errors and
//! receipts never contain addresses or secrets.

pub mod email;
pub mod sms;
pub mod webhook;

use std::future::Future;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::notify::config::NotifyConfig;
use crate::notify::outbound::Outbound;
use crate::notify::subscriber::ChannelKind;

pub use email::EmailSender;
pub use sms::SmsGateway;
pub use webhook::WebhookSender;

/// A failed delivery attempt.
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
#[error("{message}")]
pub struct SendError {
    /// Worth trying again later (timeouts, 5xx, 429, SMTP 4xx); `false` for answers that
    /// will not change (bad address, 4xx, SMTP 5xx).
    pub retryable: bool,
    /// HTTP or SMTP status code, when there was an answer.
    pub status: Option<u16>,
    /// What happened, without addresses or secrets.
    pub message: String,
}

impl SendError {
    pub fn retryable(status: Option<u16>, message: impl Into<String>) -> Self {
        SendError {
            retryable: true,
            status,
            message: message.into(),
        }
    }

    pub fn permanent(status: Option<u16>, message: impl Into<String>) -> Self {
        SendError {
            retryable: false,
            status,
            message: message.into(),
        }
    }
}

/// What the far end said when it took the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The gateway's id of the message (SMS message id, SMTP queue id), when it gave one.
    pub gateway_id: Option<String>,
    /// Its status text (e.g. "Success", "queued", "250 OK").
    pub status: String,
}

/// A way to deliver one message.
pub trait Transport {
    fn kind(&self) -> ChannelKind;
    fn send(&self, msg: &Outbound) -> impl Future<Output = Result<Receipt, SendError>> + Send;
}

/// Building a channel failed (configuration or a missing secret).
#[derive(Debug, Error, PartialEq)]
pub enum ChannelError {
    #[error("[notify.{channel}] {key}: {message}")]
    Config {
        channel: &'static str,
        key: &'static str,
        message: String,
    },
    #[error(
        "[notify.{channel}] the environment variable {var} (named by {key}) is not set: \
         export it before starting aviso"
    )]
    MissingSecret {
        channel: &'static str,
        key: &'static str,
        var: String,
    },
}

/// Looks a secret up by environment-variable name. The service passes
/// [`env_secret`]; tests pass a map.
pub type SecretLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as a [`SecretLookup`].
pub fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Installs rustls' ring provider as the process default (once; later calls are no-ops).
/// reqwest is built with `rustls-no-provider`, so this must run before any client is built
/// (../shared/STACK.md §5 pitfall 3).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The configured channels.
pub struct Channels {
    pub email: Option<EmailSender>,
    pub sms: Option<SmsGateway>,
    pub webhook: Option<WebhookSender>,
}

impl Channels {
    /// Builds the enabled channels; a missing secret or bad setting fails here, at start,
    /// not at the first alert.
    pub fn from_config(
        cfg: &NotifyConfig,
        secrets: SecretLookup<'_>,
    ) -> Result<Channels, ChannelError> {
        install_crypto_provider();
        Ok(Channels {
            email: cfg
                .email
                .enabled
                .then(|| EmailSender::new(&cfg.email, secrets))
                .transpose()?,
            sms: cfg
                .sms
                .enabled
                .then(|| SmsGateway::new(&cfg.sms, secrets))
                .transpose()?,
            webhook: cfg
                .webhook
                .enabled
                .then(|| WebhookSender::new(&cfg.webhook, secrets))
                .transpose()?,
        })
    }

    /// Sends through the channel the message is for.
    pub async fn send(&self, msg: &Outbound) -> Result<Receipt, SendError> {
        let off = |k: ChannelKind| {
            Err(SendError::permanent(
                None,
                format!(
                    "channel {} is not enabled ([notify.{}] enabled = false)",
                    k.as_str(),
                    k.as_str()
                ),
            ))
        };
        match msg.kind() {
            ChannelKind::Email => match &self.email {
                Some(c) => c.send(msg).await,
                None => off(ChannelKind::Email),
            },
            ChannelKind::Sms => match &self.sms {
                Some(c) => c.send(msg).await,
                None => off(ChannelKind::Sms),
            },
            ChannelKind::Webhook => match &self.webhook {
                Some(c) => c.send(msg).await,
                None => off(ChannelKind::Webhook),
            },
        }
    }
}

/// Bytes of a gateway's or receiver's reply read at most (then the connection is dropped).
/// Only an SMS gateway's 2xx JSON is ever parsed, and it is a few hundred bytes; the rest is
/// drained so a small reply leaves the connection reusable. 64 KiB: far above any
/// acknowledgement, far below what would hurt memory (a 200 MB reply was read whole before
/// issue 17 finding 7).
pub const REPLY_CAP_BYTES: usize = 64 * 1024;

/// The first [`REPLY_CAP_BYTES`] of a reply's body; a longer reply is cut there, the rest
/// unread (the connection is then dropped). An error while reading is returned.
pub(crate) async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = REPLY_CAP_BYTES.saturating_sub(body.len());
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if chunk.len() >= room {
            break;
        }
    }
    Ok(body)
}

/// A refusal by HTTP status (any non-2xx): `{what} answered HTTP {code} {reason
/// phrase}{note}`, classified as [`http_status_refusal`] does. Never the reply's body:
/// it is the far end's and may hold anything (stack traces, internal addresses, the
/// recipient's number, a key), and viewers read this in `/api/admin/outbox` (issue 17
/// finding 7).
pub(crate) fn http_status_error(status: reqwest::StatusCode, what: &str, note: &str) -> SendError {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("");
    http_status_refusal(code, format!("{what} answered HTTP {code} {reason}{note}"))
}

/// How an HTTP answer's status classifies: 2xx ok; 408, 425, 429 and 5xx worth a retry;
/// other 4xx permanent (RFC 9110 §15; 429 RFC 6585).
pub(crate) fn http_status_refusal(status: u16, message: String) -> SendError {
    if status >= 500 || matches!(status, 408 | 425 | 429) {
        SendError::retryable(Some(status), message)
    } else {
        SendError::permanent(Some(status), message)
    }
}

/// A reqwest error (no answer): connection refused, timeout, TLS. All worth a retry: the
/// message may or may not have arrived, which is what idempotency keys are for.
pub(crate) fn http_transport_error(what: &str, e: &reqwest::Error) -> SendError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // `without_url`: the URL may carry a token in its query.
    let detail = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| "no detail".to_string());
    SendError::retryable(None, format!("{what} request {kind}: {detail}"))
}
