//! Webhooks: a JSON POST of the alert summary to the subscriber's URL, signed with
//! HMAC-SHA256 over the exact body bytes in `X-Aviso-Signature: sha256=<hex>` (the scheme
//! GitHub's `X-Hub-Signature-256` made familiar), with the idempotency key in
//! `Idempotency-Key` so a receiver can drop a retried delivery.
//!
//! The receiver is not trusted: unless `[notify.webhook] allow_private_targets` is on, a
//! URL whose host is (or resolves only to) a loopback, private or link-local address is
//! refused ([`crate::notify::target`]); a redirect is followed only within the same
//! origin, without a Referer (a 307 elsewhere would re-send the body and its signature to
//! a host nobody chose); at most [`REPLY_CAP_BYTES`] of the reply are read; and what is
//! recorded of a refusal is its status and reason phrase, never the reply's body (it is
//! shown to viewers in `/api/admin/outbox`). The cap and the refusal are shared with the
//! SMS channel (`super::read_capped`, `super::http_status_error`).
//!
//! An adapter at the edge: network I/O. [`sign`] and [`verify`] are pure, for receivers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use sha2::Sha256;

pub use super::REPLY_CAP_BYTES;
use super::{
    ChannelError, Receipt, SecretLookup, SendError, Transport, http_status_error,
    http_transport_error, read_capped,
};
use crate::notify::config::WebhookConfig;
use crate::notify::outbound::{Outbound, OutboundBody};
use crate::notify::subscriber::{Channel, ChannelKind};
use crate::notify::target::non_public_range;

/// Redirects followed at most, all within the URL's origin (scheme, host, port).
const MAX_REDIRECTS: usize = 5;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Aviso-Signature";

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length (RFC 2104 §2: longer keys are hashed first), so
    // `new_from_slice` cannot fail here; the fallback keeps the function total.
    match HmacSha256::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

/// Checks a signature header value in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(sig) = unhex(hex_sig) else {
        return false;
    };
    match HmacSha256::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            mac.verify_slice(&sig).is_ok()
        }
        Err(_) => false,
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

pub struct WebhookSender {
    client: reqwest::Client,
    secret: Vec<u8>,
    allow_private_targets: bool,
}

/// Follows a redirect only to the same scheme, host and port, at most [`MAX_REDIRECTS`]
/// times; anything else stops, and the 3xx answer is the (refused) result.
fn same_origin_only(attempt: redirect::Attempt<'_>) -> redirect::Action {
    let first = attempt.previous().first().map(|u| u.origin());
    if attempt.previous().len() > MAX_REDIRECTS || first != Some(attempt.url().origin()) {
        attempt.stop()
    } else {
        attempt.follow()
    }
}

/// A host name that resolved to non-public addresses only.
#[derive(Debug, thiserror::Error)]
#[error("the host {host} resolves only to non-public addresses ({ip}: {range})")]
struct NonPublicTarget {
    host: String,
    ip: std::net::IpAddr,
    range: &'static str,
}

/// The system resolver (getaddrinfo, as reqwest's default), keeping only globally
/// reachable addresses: the connection goes to an address checked here, so a name cannot
/// pass a check and then resolve elsewhere (DNS rebinding).
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let refused = all
                .iter()
                .find_map(|a| non_public_range(a.ip()).map(|r| (a.ip(), r)));
            let public: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| non_public_range(a.ip()).is_none())
                .collect();
            match (public.is_empty(), refused) {
                (true, Some((ip, range))) => Err(Box::new(NonPublicTarget { host, ip, range })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(public.into_iter()) as Addrs),
            }
        })
    }
}

/// The refusal of a non-public target found in a reqwest error's sources.
fn non_public_in(e: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(n) = s.downcast_ref::<NonPublicTarget>() {
            return Some(n.to_string());
        }
        source = s.source();
    }
    None
}

fn refused_target(what: &str, why: &str) -> SendError {
    SendError::permanent(
        None,
        format!(
            "{what} refused: {why}; set [notify.webhook] allow_private_targets = true \
             to deliver to receivers inside your network"
        ),
    )
}

impl WebhookSender {
    pub fn new(
        cfg: &WebhookConfig,
        secrets: SecretLookup<'_>,
    ) -> Result<WebhookSender, ChannelError> {
        super::install_crypto_provider();
        let secret = secrets(&cfg.secret_env).ok_or(ChannelError::MissingSecret {
            channel: "webhook",
            key: "secret_env",
            var: cfg.secret_env.clone(),
        })?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(cfg.timeout_s))
            .user_agent(concat!("aviso/", env!("CARGO_PKG_VERSION")))
            .referer(false)
            .redirect(redirect::Policy::custom(same_origin_only));
        if !cfg.allow_private_targets {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder.build().map_err(|e| ChannelError::Config {
            channel: "webhook",
            key: "timeout_s",
            message: format!("cannot build the HTTP client: {e}"),
        })?;
        Ok(WebhookSender {
            client,
            secret: secret.into_bytes(),
            allow_private_targets: cfg.allow_private_targets,
        })
    }
}

impl Transport for WebhookSender {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }

    async fn send(&self, msg: &Outbound) -> Result<Receipt, SendError> {
        let (Channel::Webhook(url), OutboundBody::Webhook { json }) = (&msg.channel, &msg.body)
        else {
            return Err(SendError::permanent(
                None,
                format!("message {} is not a webhook", msg.idempotency_key),
            ));
        };
        let what = format!(
            "webhook {} ({})",
            msg.channel.redacted(),
            msg.idempotency_key
        );
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|e| SendError::permanent(None, format!("{what}: not a URL ({e})")))?;
        // An IP literal never reaches the resolver: check it here.
        if !self.allow_private_targets {
            let literal = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if let Some((ip, range)) = literal.and_then(|ip| non_public_range(ip).map(|r| (ip, r)))
            {
                return Err(refused_target(&what, &format!("{ip} is a {range} address")));
            }
        }
        let resp = self
            .client
            .post(parsed)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, sign(&self.secret, json.as_bytes()))
            .header("Idempotency-Key", &msg.idempotency_key)
            .body(json.clone())
            .send()
            .await
            .map_err(|e| match non_public_in(&e) {
                Some(why) => refused_target(&what, &why),
                None => http_transport_error(&what, &e),
            })?;
        let status = resp.status();
        // Drain at most REPLY_CAP_BYTES; the status alone decides, so an error while
        // reading (or a reply cut at the cap) changes nothing.
        let _ = read_capped(resp).await;
        if !status.is_success() {
            let redirect = if status.is_redirection() {
                " (a redirect out of the URL's origin is not followed)"
            } else {
                ""
            };
            return Err(http_status_error(status, &what, redirect));
        }
        let status = status.as_u16();
        Ok(Receipt {
            gateway_id: None,
            status: format!("HTTP {status}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_rfc_4231_and_verify() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let s = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &s));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &s));
        assert!(!verify(b"jefe", b"what do ya want for nothing?", &s));
        assert!(!verify(b"Jefe", b"x", "sha1=00"));
    }
}
