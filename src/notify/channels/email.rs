//! E-mail over SMTP with lettre: plain, STARTTLS or implicit TLS (rustls + ring), login
//! from environment variables, a multipart/alternative plain-text + HTML message whose
//! Message-ID is derived from the idempotency key (so a retried message is recognisable
//! as the same one by the relay and by the reader's client).
//!
//! An adapter at the edge: network I/O.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{ChannelError, Receipt, SecretLookup, SendError, Transport};
use crate::notify::config::{EmailConfig, SmtpSecurity};
use crate::notify::outbound::{Outbound, OutboundBody};
use crate::notify::subscriber::{Channel, ChannelKind};

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    /// Right-hand side of Message-IDs: the From domain.
    id_domain: String,
}

fn config_err(key: &'static str, message: String) -> ChannelError {
    ChannelError::Config {
        channel: "email",
        key,
        message,
    }
}

impl EmailSender {
    pub fn new(cfg: &EmailConfig, secrets: SecretLookup<'_>) -> Result<EmailSender, ChannelError> {
        super::install_crypto_provider();
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| config_err("from", format!("expected \"Name <address>\": {e}")))?;
        let reply_to = cfg
            .reply_to
            .as_deref()
            .map(|r| r.parse::<Mailbox>())
            .transpose()
            .map_err(|e| config_err("reply_to", format!("expected an address: {e}")))?;
        let mut tls = TlsParameters::builder(cfg.host.clone());
        if let Some(path) = &cfg.ca_cert_pem {
            let pem = std::fs::read(path)
                .map_err(|e| config_err("ca_cert_pem", format!("cannot read {path}: {e}")))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                config_err(
                    "ca_cert_pem",
                    format!("{path} is not a PEM certificate: {e}"),
                )
            })?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = || {
            tls.clone()
                .build()
                .map_err(|e| config_err("security", format!("TLS set-up failed: {e}")))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(Duration::from_secs_f64(cfg.timeout_s)));
        b = match cfg.security {
            SmtpSecurity::None => b.tls(Tls::None),
            SmtpSecurity::Starttls => b.tls(Tls::Required(tls()?)),
            SmtpSecurity::Tls => b.tls(Tls::Wrapper(tls()?)),
        };
        let secret =
            |key: &'static str, var: &Option<String>| -> Result<Option<String>, ChannelError> {
                match var {
                    None => Ok(None),
                    Some(v) => secrets(v).map(Some).ok_or(ChannelError::MissingSecret {
                        channel: "email",
                        key,
                        var: v.clone(),
                    }),
                }
            };
        let user = secret("username_env", &cfg.username_env)?;
        let pass = secret("password_env", &cfg.password_env)?;
        match (user, pass) {
            (Some(u), Some(p)) => b = b.credentials(Credentials::new(u, p)),
            (None, None) => {}
            _ => {
                return Err(config_err(
                    "username_env",
                    "set both username_env and password_env, or neither".into(),
                ));
            }
        }
        let id_domain = from.email.domain().to_string();
        Ok(EmailSender {
            transport: b.build(),
            from,
            reply_to,
            id_domain,
        })
    }

    /// The RFC 5322 message for `msg` (exposed for tests and previews).
    pub fn build_message(&self, msg: &Outbound) -> Result<Message, SendError> {
        let (
            Channel::Email(to),
            OutboundBody::Email {
                subject,
                text,
                html,
                unsubscribe_url,
            },
        ) = (&msg.channel, &msg.body)
        else {
            return Err(SendError::permanent(
                None,
                format!("message {} is not an e-mail", msg.idempotency_key),
            ));
        };
        let to: Address = to.parse().map_err(|e| {
            SendError::permanent(
                None,
                format!(
                    "message {}: the address is not accepted by lettre: {e}",
                    msg.idempotency_key
                ),
            )
        })?;
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject.clone())
            .message_id(Some(format!(
                "<{}@{}>",
                msg.idempotency_key, self.id_domain
            )));
        if let Some(r) = &self.reply_to {
            b = b.reply_to(r.clone());
        }
        if let Some(u) = unsubscribe_url {
            // RFC 2369 List-Unsubscribe and RFC 8058 one-click: the client POSTs
            // "List-Unsubscribe=One-Click" to the link, which `POST /unsubscribe` accepts.
            for (name, value) in [
                ("List-Unsubscribe", format!("<{u}>")),
                (
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_string(),
                ),
            ] {
                let name = HeaderName::new_from_ascii(name.to_string())
                    .map_err(|e| SendError::permanent(None, format!("header {name}: {e}")))?;
                b = b.raw_header(HeaderValue::new(name, value));
            }
        }
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
        )
        .map_err(|e| {
            SendError::permanent(
                None,
                format!("message {} could not be built: {e}", msg.idempotency_key),
            )
        })
    }
}

impl Transport for EmailSender {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    async fn send(&self, msg: &Outbound) -> Result<Receipt, SendError> {
        let m = self.build_message(msg)?;
        match self.transport.send(m).await {
            Ok(r) => {
                let text = r.message().collect::<Vec<_>>().join(" ");
                Ok(Receipt {
                    // Postfix and others answer "250 2.0.0 Ok: queued as 4Xyz": keep the id.
                    gateway_id: text
                        .split("queued as ")
                        .nth(1)
                        .map(|s| s.trim().to_string()),
                    status: format!("{} {text}", r.code()),
                })
            }
            Err(e) => {
                let status = e.status().and_then(|c| c.to_string().parse().ok());
                // Servers often quote the recipient in their refusal: mask it.
                let to = msg.channel.address();
                let message = format!("SMTP delivery of {} failed: {e}", msg.idempotency_key)
                    .replace(to, &msg.channel.redacted());
                // A permanent (5xx) answer will not change; everything else (4xx,
                // timeouts, connection and TLS trouble) may.
                Err(if e.is_permanent() {
                    SendError::permanent(status, message)
                } else {
                    SendError::retryable(status, message)
                })
            }
        }
    }
}
