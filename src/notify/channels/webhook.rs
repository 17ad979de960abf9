//! Webhooks: a JSON POST of the alert summary to the subscriber's URL, signed with
//! HMAC-SHA256 over the exact body bytes in `X-Aviso-Signature: sha256=<hex>` (the scheme
//! GitHub's `X-Hub-Signature-256` made familiar), with the idempotency key in
//! `Idempotency-Key` so a receiver can drop a retried delivery.
//!
//! An adapter at the edge: network I/O. [`sign`] and [`verify`] are pure, for receivers.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{
    ChannelError, Receipt, SecretLookup, SendError, Transport, hex, http_status_error,
    http_transport_error,
};
use crate::notify::config::WebhookConfig;
use crate::notify::outbound::{Outbound, OutboundBody};
use crate::notify::subscriber::{Channel, ChannelKind};

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
            format!("sha256={}", hex(&mac.finalize().into_bytes()))
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
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(cfg.timeout_s))
            .user_agent(concat!("aviso/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChannelError::Config {
                channel: "webhook",
                key: "timeout_s",
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(WebhookSender {
            client,
            secret: secret.into_bytes(),
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
        let resp = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, sign(&self.secret, json.as_bytes()))
            .header("Idempotency-Key", &msg.idempotency_key)
            .body(json.clone())
            .send()
            .await
            .map_err(|e| http_transport_error(&what, &e))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| http_transport_error(&what, &e))?;
        if !(200..300).contains(&status) {
            return Err(http_status_error(status, &what, &body));
        }
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
