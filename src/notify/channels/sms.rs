//! SMS through an HTTP gateway: a generic adapter (URL, method, form or JSON body template,
//! auth header, JSON paths to the status and message id) and two ready profiles,
//! Africa's Talking-style and Twilio-style. Every request carries the message's
//! idempotency key in an `Idempotency-Key` header (when enabled) for gateways that honour
//! it.
//!
//! The gateway is not trusted with what aviso keeps: at most [`super::REPLY_CAP_BYTES`] of
//! its reply are read, and a refusal is recorded as its HTTP status and reason phrase (or,
//! for a 2xx that refuses, the status field it named, contacts masked), never the reply's
//! body: gateways echo the number, the key and their own internals, and viewers read the
//! outbox (issue 17 finding 7, as for webhooks).
//!
//! An adapter at the edge: network I/O.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::{
    ChannelError, Receipt, SecretLookup, SendError, Transport, http_status_error,
    http_transport_error, read_capped,
};
use crate::notify::config::{BodyFormat, SmsConfig, SmsProfile};
use crate::notify::dlr::mask_contacts;
use crate::notify::outbound::{Outbound, OutboundBody};
use crate::notify::subscriber::{Channel, ChannelKind};

/// Characters of a gateway's status text (or message id) kept at most: statuses are a
/// word ("Success", "queued"), ids a few dozen characters; anything longer is not one.
const STATUS_TEXT_CHARS: usize = 120;

pub struct SmsGateway {
    client: reqwest::Client,
    cfg: SmsConfig,
    method: Method,
    /// The secret named by `auth_env` (API key, token or whole header value).
    secret: Option<String>,
}

fn config_err(key: &'static str, message: String) -> ChannelError {
    ChannelError::Config {
        channel: "sms",
        key,
        message,
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (WHATWG URL §5.2: space as
/// `+`, unreserved `*-._` and alphanumerics as is, everything else percent-encoded).
pub fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The inside of a JSON string literal for `s` (no surrounding quotes).
fn json_escape(s: &str) -> String {
    let quoted = Value::String(s.to_string()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

/// Fills `{to}`, `{text}`, `{from}` and `{id}` in one pass (a value containing "{text}"
/// is not expanded again), each value escaped by `esc`.
pub fn fill_template(
    template: &str,
    values: &[(&str, &str)],
    esc: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(template.len() + 160);
    let mut rest = template;
    'outer: while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        for (name, value) in values {
            let ph = format!("{{{name}}}");
            if let Some(after) = tail.strip_prefix(ph.as_str()) {
                out.push_str(&esc(value));
                rest = after;
                continue 'outer;
            }
        }
        out.push('{');
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// JSONPath-lite: `a.b[0].c`, where `[]` means the first element. Numbers and booleans
/// are returned as their text.
pub fn json_path(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => {
                let idx = rest.trim_end_matches(']');
                (
                    n,
                    Some(if idx.is_empty() {
                        0
                    } else {
                        idx.parse::<usize>().ok()?
                    }),
                )
            }
            None => (seg, None),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl SmsGateway {
    pub fn new(cfg: &SmsConfig, secrets: SecretLookup<'_>) -> Result<SmsGateway, ChannelError> {
        super::install_crypto_provider();
        if !(cfg.url.starts_with("http://") || cfg.url.starts_with("https://")) {
            return Err(config_err(
                "url",
                format!("expected an http(s) URL, found {:?}", cfg.url),
            ));
        }
        let method =
            Method::from_bytes(cfg.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                config_err(
                    "method",
                    format!("expected an HTTP method, found {:?}", cfg.method),
                )
            })?;
        let secret = match &cfg.auth_env {
            Some(var) => Some(secrets(var).ok_or(ChannelError::MissingSecret {
                channel: "sms",
                key: "auth_env",
                var: var.clone(),
            })?),
            None => None,
        };
        match cfg.profile {
            SmsProfile::AfricasTalking | SmsProfile::Twilio if cfg.account.is_empty() => {
                return Err(config_err(
                    "account",
                    "this profile needs the account (Africa's Talking user name, Twilio account SID)".into(),
                ));
            }
            SmsProfile::AfricasTalking | SmsProfile::Twilio if secret.is_none() => {
                return Err(config_err(
                    "auth_env",
                    "this profile needs auth_env (the API key or auth token variable)".into(),
                ));
            }
            _ => {}
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(cfg.timeout_s))
            .user_agent(concat!("aviso/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config_err("url", format!("cannot build the HTTP client: {e}")))?;
        Ok(SmsGateway {
            client,
            cfg: cfg.clone(),
            method,
            secret,
        })
    }

    fn request(&self, to: &str, text: &str, key: &str) -> reqwest::RequestBuilder {
        let cfg = &self.cfg;
        let form_ct = "application/x-www-form-urlencoded";
        let rb = match cfg.profile {
            SmsProfile::AfricasTalking => {
                let mut pairs = vec![
                    ("username", cfg.account.as_str()),
                    ("to", to),
                    ("message", text),
                ];
                if !cfg.from.is_empty() {
                    pairs.push(("from", cfg.from.as_str()));
                }
                self.client
                    .post(&cfg.url)
                    .header("Accept", "application/json")
                    .header("Content-Type", form_ct)
                    .header("apiKey", self.secret.clone().unwrap_or_default())
                    .body(form(&pairs))
            }
            SmsProfile::Twilio => {
                let url = format!(
                    "{}/2010-04-01/Accounts/{}/Messages.json",
                    cfg.url.trim_end_matches('/'),
                    form_encode(&cfg.account)
                );
                self.client
                    .post(url)
                    .basic_auth(&cfg.account, self.secret.clone())
                    .header("Accept", "application/json")
                    .header("Content-Type", form_ct)
                    .body(form(&[
                        ("To", to),
                        ("From", cfg.from.as_str()),
                        ("Body", text),
                    ]))
            }
            SmsProfile::Generic => {
                let values = [
                    ("to", to),
                    ("text", text),
                    ("from", cfg.from.as_str()),
                    ("id", key),
                ];
                let (body, ct) = match cfg.body_format {
                    BodyFormat::Form => (
                        fill_template(&cfg.body_template, &values, &form_encode),
                        form_ct,
                    ),
                    BodyFormat::Json => (
                        fill_template(&cfg.body_template, &values, &json_escape),
                        "application/json",
                    ),
                };
                let mut rb = self
                    .client
                    .request(self.method.clone(), &cfg.url)
                    .header("Accept", "application/json")
                    .header("Content-Type", ct)
                    .body(body);
                if let Some(s) = &self.secret {
                    rb = rb.header(cfg.auth_header.as_str(), s.as_str());
                }
                rb
            }
        };
        if cfg.idempotency_header {
            rb.header("Idempotency-Key", key)
        } else {
            rb
        }
    }

    /// Where the profile keeps status and id, and which statuses mean accepted.
    fn reading(&self) -> (Option<String>, Option<String>, Vec<String>) {
        let cfg = &self.cfg;
        let accepted = |d: &[&str]| {
            if cfg.accepted_statuses.is_empty() {
                d.iter().map(|s| s.to_string()).collect()
            } else {
                cfg.accepted_statuses.clone()
            }
        };
        match cfg.profile {
            // Africa's Talking: "Success" per recipient (statusCode 100-102 are the
            // accepted ones: Processed, Sent, Queued).
            SmsProfile::AfricasTalking => (
                Some("SMSMessageData.Recipients[].status".into()),
                Some("SMSMessageData.Recipients[].messageId".into()),
                accepted(&["Success"]),
            ),
            // Twilio: a new message is "accepted", "queued", "sending" or "sent"; "failed"
            // and "undelivered" are refusals.
            SmsProfile::Twilio => (
                Some("status".into()),
                Some("sid".into()),
                accepted(&[
                    "accepted",
                    "scheduled",
                    "queued",
                    "sending",
                    "sent",
                    "delivered",
                ]),
            ),
            SmsProfile::Generic => (
                cfg.status_path.clone(),
                cfg.id_path.clone(),
                cfg.accepted_statuses.clone(),
            ),
        }
    }
}

impl Transport for SmsGateway {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    async fn send(&self, msg: &Outbound) -> Result<Receipt, SendError> {
        let (Channel::Sms(to), OutboundBody::Sms { text, .. }) = (&msg.channel, &msg.body) else {
            return Err(SendError::permanent(
                None,
                format!("message {} is not an SMS", msg.idempotency_key),
            ));
        };
        let what = format!("SMS gateway ({})", msg.idempotency_key);
        let resp = self
            .request(to, text, &msg.idempotency_key)
            .send()
            .await
            .map_err(|e| http_transport_error(&what, &e))?;
        let status = resp.status();
        let body = read_capped(resp).await;
        if !status.is_success() {
            return Err(http_status_error(status, &what, ""));
        }
        let body = body.map_err(|e| http_transport_error(&what, &e))?;
        let status = status.as_u16();
        // A gateway's status text may quote the number however it likes: masked, and cut.
        let redact = |s: String| {
            mask_contacts(&s.replace(to.as_str(), &msg.channel.redacted()))
                .chars()
                .take(STATUS_TEXT_CHARS)
                .collect::<String>()
        };
        let (status_path, id_path, accepted) = self.reading();
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        let field = |p: &Option<String>| {
            p.as_deref()
                .and_then(|p| json.as_ref().and_then(|j| json_path(j, p)))
        };
        let gw_status = field(&status_path);
        let gateway_id = field(&id_path);
        match (&gw_status, accepted.is_empty()) {
            (_, true) => {}
            (Some(s), false) if accepted.iter().any(|a| a.eq_ignore_ascii_case(s)) => {}
            (found, false) => {
                let found = found.clone().map(redact);
                return Err(SendError::permanent(
                    Some(status),
                    format!(
                        "{what} refused the message: status {found:?} at {}, expected one of {accepted:?}",
                        status_path.as_deref().unwrap_or("(no status_path)")
                    ),
                ));
            }
        }
        Ok(Receipt {
            gateway_id,
            status: gw_status.map_or_else(|| format!("HTTP {status}"), redact),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_each_value_for_its_format() {
        let v = [
            ("to", "+258841234567"),
            ("text", "Olá \"Beira\" & {text}"),
            ("from", "INGD"),
            ("id", "k1"),
        ];
        let j = fill_template(
            r#"{"to":"{to}","msg":"{text}","ref":"{id}"}"#,
            &v,
            &json_escape,
        );
        let parsed: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(parsed["msg"], "Olá \"Beira\" & {text}");
        assert_eq!(parsed["to"], "+258841234567");
        let f = fill_template("to={to}&m={text}", &v, &form_encode);
        assert_eq!(
            f,
            "to=%2B258841234567&m=Ol%C3%A1+%22Beira%22+%26+%7Btext%7D"
        );
    }

    #[test]
    fn json_paths_reach_into_arrays() {
        let v: Value = serde_json::json!({"SMSMessageData": {"Recipients": [{"status": "Success", "statusCode": 101}]}});
        assert_eq!(
            json_path(&v, "SMSMessageData.Recipients[].status").as_deref(),
            Some("Success")
        );
        assert_eq!(
            json_path(&v, "SMSMessageData.Recipients[0].statusCode").as_deref(),
            Some("101")
        );
        assert_eq!(json_path(&v, "SMSMessageData.Recipients[1].status"), None);
    }
}
