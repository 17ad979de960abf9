//! Configuration of subscriber notifications (`[notify]`): selection, texts, the three
//! channels and the outbox worker. Parsed strictly (unknown keys are errors); secrets are
//! never here, only the NAMES of the environment variables that hold them.
//!
//! Pure: serde types and checks; must not do I/O or depend on tokio, reqwest or lettre.
//!
//! Split along the sections of `[notify]`: `channels` (`[notify.email]`, `[notify.sms]`,
//! `[notify.webhook]`), `outbox` (the delivery worker and its rates), `tokens` (the admin
//! API's bearer tokens and their roles), `inbound` (forwarded SMS replies); this file keeps
//! the `[notify]` table itself and the checks of every key that serde cannot do.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::levels::Level;
use crate::notify::message::MessageOptions;
use crate::notify::select::SelectOptions;

mod channels;
mod inbound;
mod outbox;
mod tokens;

pub use channels::{BodyFormat, EmailConfig, SmsConfig, SmsProfile, SmtpSecurity, WebhookConfig};
pub use inbound::InboundConfig;
pub use outbox::{ChannelRates, OutboxConfig, RateLimit};
pub use tokens::{Role, TokenConfig};

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
