//! The three channels' tables: `[notify.email]` (SMTP), `[notify.sms]` (the HTTP gateway
//! and its delivery reports) and `[notify.webhook]`.

use serde::{Deserialize, Serialize};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP, no TLS (a relay on the same host or network only).
    None,
    /// Plain connection upgraded with STARTTLS (RFC 3207), required: port 587.
    Starttls,
    /// TLS from the first byte (RFC 8314 "implicit TLS"): port 465.
    Tls,
}

/// `[notify.email]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Send e-mail at all.
    pub enabled: bool,
    /// SMTP server host name (also the name its TLS certificate must carry).
    pub host: String,
    /// SMTP port (587 for STARTTLS submission, 465 for TLS, 25 for a plain relay).
    pub port: u16,
    pub security: SmtpSecurity,
    /// Name of the environment variable holding the SMTP user name (no login if unset).
    pub username_env: Option<String>,
    /// Name of the environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// The From header, e.g. "aviso INGD <alertas@example.org>".
    pub from: String,
    /// Optional Reply-To header.
    pub reply_to: Option<String>,
    /// Seconds to wait for the server at each step.
    pub timeout_s: f64,
    /// PEM file of an extra CA certificate to trust (a private relay); none by default.
    pub ca_cert_pem: Option<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            enabled: false,
            host: "localhost".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username_env: None,
            password_env: None,
            from: "aviso <aviso@localhost>".into(),
            reply_to: None,
            timeout_s: 30.0,
            ca_cert_pem: None,
        }
    }
}

/// Ready-made SMS gateway profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProfile {
    /// Everything from `method`, `body_format`, `body_template`, `auth_header`,
    /// `status_path`, `id_path`.
    Generic,
    /// Africa's Talking-style: form POST `username, to, message, from` with an `apiKey`
    /// header; answer `SMSMessageData.Recipients[].status` / `messageId`.
    AfricasTalking,
    /// Twilio-style: form POST `To, From, Body` to
    /// `{url}/2010-04-01/Accounts/{account}/Messages.json` with HTTP basic auth
    /// (account, token); answer `sid`, `status`.
    Twilio,
}

/// How the generic profile encodes its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`; placeholders are percent-encoded.
    Form,
    /// `application/json`; placeholders are JSON-escaped (write them inside quotes).
    Json,
}

/// `[notify.sms]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Send SMS at all.
    pub enabled: bool,
    pub profile: SmsProfile,
    /// Generic: the full URL. Africa's Talking: the messaging URL. Twilio: the API base
    /// (the path is added).
    pub url: String,
    /// Generic: HTTP method (POST or PUT).
    pub method: String,
    /// Generic: body encoding.
    pub body_format: BodyFormat,
    /// Generic: the body with `{to}`, `{text}`, `{from}` and `{id}` (idempotency key).
    pub body_template: String,
    /// Sender id or number (`{from}`); empty: the gateway's default.
    pub from: String,
    /// Africa's Talking: the account user name. Twilio: the account SID.
    pub account: String,
    /// Generic: name of the auth header (e.g. "Authorization").
    pub auth_header: String,
    /// Name of the environment variable holding the secret: the generic auth header's
    /// whole value, Africa's Talking's API key, or Twilio's auth token.
    pub auth_env: Option<String>,
    /// Generic: where the delivery status is in the JSON answer (`"a.b[0].c"`; `[]` = first).
    pub status_path: Option<String>,
    /// Generic: where the gateway's message id is.
    pub id_path: Option<String>,
    /// Statuses that mean "accepted" (case-insensitive); empty: any 2xx answer is.
    pub accepted_statuses: Vec<String>,
    /// Send `Idempotency-Key: <key>` with each request (gateways that honour it drop a
    /// resent message).
    pub idempotency_header: bool,
    /// Seconds for the whole request.
    pub timeout_s: f64,
    /// Accept the gateway's delivery reports at `POST /api/sms/dlr` (off: the route
    /// answers 404). The callback proves itself with the `[notify.inbound]` shared secret
    /// (its `secret_env` and `header`, or `?token=`), as forwarded replies do.
    pub dlr_enabled: bool,
    /// Generic: the form field (or, for a JSON body, the path `"a.b[0].c"`) holding the
    /// gateway's message id, the one `id_path` read from the send answer. Africa's
    /// Talking: `id`; Twilio: `MessageSid` (fixed).
    pub dlr_id_field: String,
    /// Generic: the field holding the delivery status. Africa's Talking: `status`;
    /// Twilio: `MessageStatus`.
    pub dlr_status_field: String,
    /// Generic: the field holding the reason of a failure, if the gateway gives one.
    /// Africa's Talking: `failureReason`; Twilio: `ErrorCode`.
    pub dlr_reason_field: String,
    /// Generic: statuses (any case) meaning the handset got the message.
    pub dlr_delivered_statuses: Vec<String>,
    /// Generic: statuses (any case) meaning it never will; any other status is a
    /// report still in transit (queued, sent to the operator…).
    pub dlr_failed_statuses: Vec<String>,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            enabled: false,
            profile: SmsProfile::Generic,
            url: String::new(),
            method: "POST".into(),
            body_format: BodyFormat::Json,
            body_template: r#"{"to":"{to}","text":"{text}","from":"{from}","reference":"{id}"}"#
                .into(),
            from: String::new(),
            account: String::new(),
            auth_header: "Authorization".into(),
            auth_env: None,
            status_path: None,
            id_path: None,
            accepted_statuses: Vec::new(),
            idempotency_header: true,
            timeout_s: 30.0,
            dlr_enabled: false,
            dlr_id_field: "id".into(),
            dlr_status_field: "status".into(),
            dlr_reason_field: "reason".into(),
            dlr_delivered_statuses: vec!["delivered".into()],
            dlr_failed_statuses: vec![
                "failed".into(),
                "undelivered".into(),
                "rejected".into(),
                "expired".into(),
            ],
        }
    }
}

/// `[notify.webhook]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Send webhooks at all.
    pub enabled: bool,
    /// Name of the environment variable holding the HMAC-SHA256 signing secret.
    pub secret_env: String,
    /// Seconds for the whole request.
    pub timeout_s: f64,
    /// Let webhooks reach loopback, private, link-local and other non-public addresses
    /// (`notify::target`). Off by default: an editor could otherwise aim aviso at the
    /// services of its own network. Checked when a subscriber is written and on every
    /// address a host resolves to at delivery. Tests with local receivers turn it on.
    pub allow_private_targets: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            enabled: false,
            secret_env: "AVISO_WEBHOOK_SECRET".into(),
            timeout_s: 15.0,
            allow_private_targets: false,
        }
    }
}
