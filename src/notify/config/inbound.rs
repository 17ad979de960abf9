//! `[notify.inbound]`: where an SMS gateway forwards replies (the STOP and START keywords).

use serde::{Deserialize, Serialize};

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
