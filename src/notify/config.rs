//! Configuration of subscriber notifications (`[notify]`): selection, texts, the three
//! channels and the outbox worker. Parsed strictly (unknown keys are errors); secrets are
//! never here, only the NAMES of the environment variables that hold them.
//!
//! Pure: serde types and checks; must not do I/O or depend on tokio, reqwest or lettre.
//!
//! Over 600 lines: about 660 of code plus unit tests. The `[notify]` table's types and
//! checks, one struct per channel; each check names its key, so they stay beside the types.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::levels::Level;
use crate::notify::message::MessageOptions;
use crate::notify::select::SelectOptions;

#[derive(Debug, Error, PartialEq)]
#[error("[notify] {key}: expected {expected}, found {found}")]
pub struct NotifyConfigError {
    pub key: String,
    pub expected: String,
    pub found: String,
}

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Hours between two messages about an unchanged level (reminders), > 0.
    pub repeat_interval_h: f64,
    /// Lowest level whose unchanged state is repeated (green, yellow, orange, red).
    pub reminder_min_level: Level,
    pub message: MessageOptions,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub webhook: WebhookConfig,
    pub outbox: OutboxConfig,
    /// `[[notify.token]]`: the bearer tokens of the admin API (none: the admin API
    /// refuses every request).
    #[serde(rename = "token")]
    pub tokens: Vec<TokenConfig>,
    /// `[notify.inbound]`: SMS replies forwarded by the gateway (the STOP keyword).
    pub inbound: InboundConfig,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        let s = SelectOptions::default();
        NotifyConfig {
            repeat_interval_h: s.repeat_interval.num_minutes() as f64 / 60.0,
            reminder_min_level: s.reminder_min_level,
            message: MessageOptions::default(),
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
            webhook: WebhookConfig::default(),
            outbox: OutboxConfig::default(),
            tokens: Vec::new(),
            inbound: InboundConfig::default(),
        }
    }
}

impl NotifyConfig {
    /// The selection settings.
    pub fn select_options(&self) -> SelectOptions {
        SelectOptions {
            repeat_interval: chrono::Duration::minutes(
                (self.repeat_interval_h * 60.0).round() as i64
            ),
            reminder_min_level: self.reminder_min_level,
        }
    }

    /// True when the channel of this kind is enabled: messages are planned only for
    /// enabled channels (a disabled one would only fill the outbox with refusals).
    pub fn channel_enabled(&self, kind: crate::notify::subscriber::ChannelKind) -> bool {
        use crate::notify::subscriber::ChannelKind;
        match kind {
            ChannelKind::Email => self.email.enabled,
            ChannelKind::Sms => self.sms.enabled,
            ChannelKind::Webhook => self.webhook.enabled,
        }
    }

    /// True when any channel is enabled (otherwise the pipeline plans nothing).
    pub fn any_channel_enabled(&self) -> bool {
        self.email.enabled || self.sms.enabled || self.webhook.enabled
    }

    /// Checks the numbers that serde cannot.
    pub fn validate(&self) -> Result<(), NotifyConfigError> {
        let bad = |key: &str, expected: &str, found: String| NotifyConfigError {
            key: key.into(),
            expected: expected.into(),
            found,
        };
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(key, "a number > 0", v.to_string()))
            }
        };
        positive("repeat_interval_h", self.repeat_interval_h)?;
        positive("email.timeout_s", self.email.timeout_s)?;
        positive("sms.timeout_s", self.sms.timeout_s)?;
        positive("webhook.timeout_s", self.webhook.timeout_s)?;
        positive("outbox.backoff_initial_s", self.outbox.backoff_initial_s)?;
        positive("outbox.backoff_max_s", self.outbox.backoff_max_s)?;
        positive("outbox.lease_s", self.outbox.lease_s)?;
        positive("outbox.poll_interval_s", self.outbox.poll_interval_s)?;
        if !(self.outbox.run_once_wait_s.is_finite() && self.outbox.run_once_wait_s >= 0.0) {
            return Err(bad(
                "outbox.run_once_wait_s",
                "a number >= 0",
                self.outbox.run_once_wait_s.to_string(),
            ));
        }
        for (k, r) in [
            ("outbox.rate.email", &self.outbox.rate.email),
            ("outbox.rate.sms", &self.outbox.rate.sms),
            ("outbox.rate.webhook", &self.outbox.rate.webhook),
        ] {
            positive(&format!("{k}.per_second"), r.per_second)?;
            if r.burst < 1 {
                return Err(bad(
                    &format!("{k}.burst"),
                    "at least 1",
                    r.burst.to_string(),
                ));
            }
        }
        if self.outbox.max_attempts < 1 {
            return Err(bad(
                "outbox.max_attempts",
                "at least 1",
                self.outbox.max_attempts.to_string(),
            ));
        }
        if !(1..=10).contains(&self.message.sms_max_segments) {
            return Err(bad(
                "message.sms_max_segments",
                "1 to 10",
                self.message.sms_max_segments.to_string(),
            ));
        }
        let base = &self.message.base_url;
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(bad(
                "message.base_url",
                "an http(s) URL",
                format!("{base:?}"),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            let key = |k: &str| format!("token[{i}].{k}");
            if t.name.is_empty()
                || t.name.len() > 64
                || !t
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(bad(
                    &key("name"),
                    "1 to 64 letters, digits, '-', '_' or '.'",
                    format!("{:?}", t.name),
                ));
            }
            if !names.insert(t.name.as_str()) {
                return Err(bad(
                    &key("name"),
                    "a name used once",
                    format!("{:?} twice", t.name),
                ));
            }
            match (&t.sha256, &t.token_env) {
                (Some(h), None) => {
                    if !(h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())) {
                        return Err(bad(
                            &key("sha256"),
                            "64 hex digits (printf %s \"$TOKEN\" | sha256sum)",
                            format!("{} characters", h.len()),
                        ));
                    }
                }
                (None, Some(v)) if valid_env_name(v) => {}
                (None, Some(v)) => {
                    return Err(bad(
                        &key("token_env"),
                        "an environment variable name (A-Z, 0-9, _)",
                        format!("{v:?}"),
                    ));
                }
                (Some(_), Some(_)) | (None, None) => {
                    return Err(bad(
                        &format!("token[{i}] ({})", t.name),
                        "exactly one of sha256 or token_env",
                        if t.sha256.is_some() {
                            "both"
                        } else {
                            "neither"
                        }
                        .into(),
                    ));
                }
            }
        }
        let inb = &self.inbound;
        if !valid_env_name(&inb.secret_env) {
            return Err(bad(
                "inbound.secret_env",
                "an environment variable name (A-Z, 0-9, _)",
                format!("{:?}", inb.secret_env),
            ));
        }
        if inb.header.is_empty()
            || !inb
                .header
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad(
                "inbound.header",
                "an HTTP header name (letters, digits, '-')",
                format!("{:?}", inb.header),
            ));
        }
        if inb.stop_words.is_empty() || inb.stop_words.iter().any(|w| w.trim().is_empty()) {
            return Err(bad(
                "inbound.stop_words",
                "at least one non-empty keyword",
                format!("{:?}", inb.stop_words),
            ));
        }
        for (k, v) in [
            ("inbound.from_field", &inb.from_field),
            ("inbound.text_field", &inb.text_field),
        ] {
            if v.is_empty() {
                return Err(bad(k, "a form field name", "\"\"".into()));
            }
        }
        // START must not also mean STOP: the same reply cannot opt a number out and in.
        let up = |w: &String| w.trim().to_uppercase();
        if let Some(w) = inb
            .start_words
            .iter()
            .find(|w| w.trim().is_empty() || inb.stop_words.iter().any(|s| up(s) == up(w)))
        {
            return Err(bad(
                "inbound.start_words",
                "non-empty keywords that are not also stop words",
                format!("{w:?}"),
            ));
        }
        let sms = &self.sms;
        if sms.dlr_enabled && sms.profile == SmsProfile::Generic {
            for (k, v) in [
                ("sms.dlr_id_field", &sms.dlr_id_field),
                ("sms.dlr_status_field", &sms.dlr_status_field),
            ] {
                if v.trim().is_empty() {
                    return Err(bad(k, "a form field name or JSON path", "\"\"".into()));
                }
            }
            if sms.dlr_delivered_statuses.is_empty() {
                return Err(bad(
                    "sms.dlr_delivered_statuses",
                    "at least one status meaning delivered",
                    "[]".into(),
                ));
            }
            if let Some(s) = sms.dlr_delivered_statuses.iter().find(|d| {
                sms.dlr_failed_statuses
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(d))
            }) {
                return Err(bad(
                    "sms.dlr_failed_statuses",
                    "statuses not also listed in dlr_delivered_statuses",
                    format!("{s:?} in both"),
                ));
            }
        }
        Ok(())
    }
}

fn valid_env_name(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !v.starts_with(|c: char| c.is_ascii_digit())
}

/// What a bearer token of the admin API may do. Ordered: each role includes the ones
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read subscribers (personal data), the export and the outbox.
    Viewer,
    /// Also create, update, deactivate and import subscribers; edit proposals (issue 13).
    Editor,
    /// Also approve or reject proposals, lift overrides (issue 13; SAMBRO's ALERT_APPROVER).
    Approver,
    /// Everything: also reactivate an opted-out subscriber and list the tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

/// `[[notify.token]]`: one bearer token of the admin API. The token itself is never in a
/// file: either its SHA-256 is (`sha256`), or it is read from an environment variable at
/// start (`token_env`), hashed, and the plain value dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (named in the audit log lines), e.g. "cenoe-ops".
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token, 64 hex digits: `printf %s "$TOKEN" | sha256sum`.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Or: the environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
}

/// `[notify.inbound]`: `POST /api/sms/inbound`, where an SMS gateway forwards replies
/// (Africa's Talking-style form fields by default). A reply whose first word is one of
/// `stop_words` puts the number on the SMS opt-out list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Accept forwarded replies at all (off: the route answers 404).
    pub enabled: bool,
    /// Environment variable holding the shared secret the gateway sends, in the header
    /// below or as `?token=` in the callback URL (Africa's Talking cannot set headers).
    pub secret_env: String,
    /// Header carrying the shared secret.
    pub header: String,
    /// Form field with the sender's number (Africa's Talking `from`; Twilio `From`).
    pub from_field: String,
    /// Form field with the text (Africa's Talking `text`; Twilio `Body`).
    pub text_field: String,
    /// Opt-out keywords, any case: STOP (the international convention) and the
    /// Portuguese PARAR and SAIR.
    pub stop_words: Vec<String>,
    /// Opt-back-in keywords, any case: a reply whose first word is one of them lifts the
    /// number's STOP (someone who replied STOP by mistake comes back by SMS, without an
    /// admin). START is the international convention (the word carriers and Twilio's
    /// Advanced Opt-Out honour); COMEÇAR ("to start"; COMECAR as phones without ç type
    /// it), INICIAR ("to begin") and VOLTAR ("to come back") are the Portuguese verbs a
    /// Mozambican would reach for. Words that could answer anything (SIM, OK) are left
    /// out on purpose: a stray "sim" must not undo a refusal.
    pub start_words: Vec<String>,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            enabled: false,
            secret_env: "AVISO_SMS_INBOUND_SECRET".into(),
            header: "X-Aviso-Inbound-Secret".into(),
            from_field: "from".into(),
            text_field: "text".into(),
            stop_words: vec!["STOP".into(), "PARAR".into(), "SAIR".into()],
            start_words: vec![
                "START".into(),
                "COMEÇAR".into(),
                "COMECAR".into(),
                "INICIAR".into(),
                "VOLTAR".into(),
            ],
        }
    }
}

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
    /// Generic: where the delivery status is in the JSON answer ("a.b[0].c"; `[]` = first).
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
    /// Generic: the form field (or, for a JSON body, the path "a.b[0].c") holding the
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

/// A token bucket: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Messages per second, sustained (> 0).
    pub per_second: f64,
    /// Messages that may go at once after a quiet spell (>= 1).
    pub burst: u32,
}

/// `[notify.outbox.rate]`: one bucket per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelRates {
    pub email: RateLimit,
    pub sms: RateLimit,
    pub webhook: RateLimit,
}

impl Default for ChannelRates {
    /// E-mail 10/s (a small relay's comfortable pace), SMS 5/s (a common default for HTTP
    /// SMS APIs' per-account limits), webhooks 20/s.
    fn default() -> Self {
        ChannelRates {
            email: RateLimit {
                per_second: 10.0,
                burst: 20,
            },
            sms: RateLimit {
                per_second: 5.0,
                burst: 10,
            },
            webhook: RateLimit {
                per_second: 20.0,
                burst: 40,
            },
        }
    }
}

/// `[notify.outbox]`: the delivery worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before a message is given up (marked failed), >= 1.
    pub max_attempts: u32,
    /// Seconds before the first retry; doubled at each retry (exponential backoff).
    pub backoff_initial_s: f64,
    /// Longest wait between two attempts, seconds.
    pub backoff_max_s: f64,
    /// Seconds a claimed message stays reserved by a worker; after that a crashed
    /// worker's claim lapses and the message is retried with the same idempotency key.
    pub lease_s: f64,
    /// Seconds between two looks at the outbox when it is idle.
    pub poll_interval_s: f64,
    /// Messages claimed at once.
    pub batch: u32,
    /// `aviso run-once` delivers before it exits, waiting at most this many seconds for
    /// retries that come due; messages still waiting stay in the outbox for the next run.
    pub run_once_wait_s: f64,
    pub rate: ChannelRates,
}

impl Default for OutboxConfig {
    /// 8 attempts from 30 s doubling to at most 1 h: about 2 h of retries in all, which
    /// rides out a gateway outage without sending a 6-hourly alert after the next one.
    fn default() -> Self {
        OutboxConfig {
            max_attempts: 8,
            backoff_initial_s: 30.0,
            backoff_max_s: 3600.0,
            lease_s: 120.0,
            poll_interval_s: 2.0,
            batch: 50,
            run_once_wait_s: 120.0,
            rate: ChannelRates::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrapper {
        notify: NotifyConfig,
    }

    /// Every key of `[notify]` that has a default value is written out in
    /// config/default.toml (keys without one, like `username_env`, are documented there in
    /// comments), and nothing else is; the values themselves are compared with the code's
    /// defaults in `config::tests::the_documented_defaults_are_the_code_defaults`.
    #[test]
    fn default_toml_writes_every_notify_key() {
        fn paths(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
            if let toml::Value::Table(t) = v {
                for (k, v) in t {
                    let p = format!("{prefix}{k}");
                    // Rate limits are inline tables: their two keys are part of the value.
                    if matches!(v, toml::Value::Table(_)) && !prefix.ends_with("rate.") {
                        paths(v, &format!("{p}."), out);
                    } else {
                        out.push(p);
                    }
                }
            }
        }
        let file: toml::Value = toml::from_str(crate::config::DEFAULT_TOML).unwrap();
        let mut written = Vec::new();
        paths(&file["notify"], "", &mut written);
        let code = toml::Value::try_from(NotifyConfig::default()).unwrap();
        let mut expected = Vec::new();
        paths(&code, "", &mut expected);
        // An empty [[notify.token]] list serialises as `token = []`: documented in comments.
        expected.retain(|k| k != "token");
        written.sort();
        expected.sort();
        assert!(expected.len() >= 40, "only {} keys", expected.len());
        assert_eq!(written, expected);
    }

    #[test]
    fn the_site_example_turns_every_channel_on_and_is_valid() {
        let w: Wrapper = toml::from_str(include_str!("../../config/notify.example.toml"))
            .expect("the example parses");
        w.notify.validate().expect("the example is valid");
        assert!(w.notify.email.enabled && w.notify.sms.enabled && w.notify.webhook.enabled);
        assert!(w.notify.inbound.enabled);
        let roles: Vec<Role> = w.notify.tokens.iter().map(|t| t.role).collect();
        assert_eq!(roles, [Role::Editor, Role::Viewer, Role::Admin]);
    }

    #[test]
    fn a_token_needs_exactly_one_of_a_hash_or_a_variable() {
        let parse = |t: &str| {
            toml::from_str::<NotifyConfig>(t)
                .unwrap()
                .validate()
                .map_err(|e| e.to_string())
        };
        let hash = "a".repeat(64);
        assert!(
            parse(&format!(
                "[[token]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{hash}\"\n"
            ))
            .is_ok()
        );
        let e = parse("[[token]]\nname = \"a\"\nrole = \"viewer\"\n").unwrap_err();
        assert!(e.contains("token[0]") && e.contains("exactly one"), "{e}");
        let e = parse("[[token]]\nname = \"a\"\nrole = \"admin\"\nsha256 = \"abc\"\n").unwrap_err();
        assert!(e.contains("token[0].sha256") && e.contains("64 hex"), "{e}");
        let e = parse(&format!(
            "[[token]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{hash}\"\n[[token]]\nname = \"a\"\nrole = \"editor\"\ntoken_env = \"T\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("token[1].name"), "{e}");
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
    }

    #[test]
    fn a_start_word_that_is_also_a_stop_word_or_a_status_meaning_both_is_refused() {
        let check = |t: &str| {
            toml::from_str::<NotifyConfig>(t)
                .unwrap()
                .validate()
                .map_err(|e| e.to_string())
        };
        let e = check("[inbound]\nstart_words = [\"START\", \"stop\"]\n").unwrap_err();
        assert!(
            e.contains("inbound.start_words") && e.contains("stop"),
            "{e}"
        );
        let e = check(
            "[sms]\ndlr_enabled = true\ndlr_delivered_statuses = [\"DELIVRD\"]\ndlr_failed_statuses = [\"delivrd\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("sms.dlr_failed_statuses"), "{e}");
        let e = check("[sms]\ndlr_enabled = true\ndlr_id_field = \"\"\n").unwrap_err();
        assert!(e.contains("sms.dlr_id_field"), "{e}");
        // The profiles bring their own fields: the generic ones are not checked.
        assert!(
            check("[sms]\ndlr_enabled = true\nprofile = \"twilio\"\ndlr_id_field = \"\"\n").is_ok()
        );
        assert!(check("[inbound]\nstart_words = []\n").is_ok());
    }

    #[test]
    fn unknown_keys_and_bad_numbers_are_refused() {
        assert!(toml::from_str::<NotifyConfig>("repeat_interval = 3").is_err());
        let c: NotifyConfig = toml::from_str("repeat_interval_h = 0").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("repeat_interval_h") && e.contains("> 0"), "{e}");
    }
}
