//! A reminder's words and its approvers' addresses (issue 13, the deadline of a
//! proposal; the settings and the selection are `alerts::reminder`): Portuguese, the
//! SMS in GSM-7 where it can be, the addresses checked as a subscriber's are.
//!
//! Pure: builds values; must not do I/O or depend on tokio, reqwest or lettre.

use crate::alerts::levels::Level;
use crate::alerts::reminder::OnCall;
use crate::alerts::versioning::CapStatus;
use crate::notify::gsm::{SegmentCount, count_segments, transliterate_to_gsm7};
use crate::notify::subscriber::{normalise_e164, normalise_email};

/// Checks and normalises the on-call approvers' addresses (E.164 phones, e-mail), the
/// error naming the key and never repeating the address.
pub fn normalise_on_call(list: &mut [OnCall]) -> Result<(), String> {
    for (i, p) in list.iter_mut().enumerate() {
        let at = format!("approval.on_call[{i}]");
        if let Some(e) = &p.email {
            p.email =
                Some(normalise_email(e).map_err(|(exp, found)| {
                    format!("{at}.email: expected {exp}, found {found}")
                })?);
        }
        if let Some(ph) = &p.phone {
            p.phone =
                Some(normalise_e164(ph).map_err(|(exp, found)| {
                    format!("{at}.phone: expected {exp}, found {found}")
                })?);
        }
    }
    Ok(())
}

/// What a reminder says about one proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct Reminder<'a> {
    pub proposal: i64,
    pub round: u32,
    pub event_name: &'a str,
    pub level: Level,
    pub status: CapStatus,
    pub waited_min: i64,
    /// The duty officer's page: `{public_url}/ops`.
    pub ops_url: &'a str,
}

/// A reminder's words, in Portuguese.
#[derive(Debug, Clone, PartialEq)]
pub struct ReminderText {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sms: String,
    pub sms_count: SegmentCount,
}

fn status_marker(s: CapStatus) -> &'static str {
    match s {
        CapStatus::Actual => "",
        CapStatus::Exercise => "[EXERCÍCIO] ",
        _ => "[TESTE] ",
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Reminder<'_> {
    pub fn text(&self) -> ReminderText {
        let m = status_marker(self.status);
        let level = self.level.name_pt().to_uppercase();
        // Minutes, or "menos de 1" for the sub-minute deadlines of tests.
        let w = if self.waited_min < 1 {
            "menos de 1".to_string()
        } else {
            self.waited_min.to_string()
        };
        let subject = format!(
            "{m}Aguarda decisão: alerta {level} {} (proposta {}) há {w} min",
            self.event_name, self.proposal
        );
        let body = format!(
            "A proposta {p} do alerta {level} para {e} aguarda a decisão de um aprovador há \
             {w} min (lembrete {r}). Nada foi publicado nem enviado aos subscritores: \
             só sai quando um aprovador a aprovar.",
            p = self.proposal,
            e = self.event_name,
            r = self.round,
        );
        let text = format!("{m}{body}\n\nRever e decidir: {}\n", self.ops_url);
        let html = format!(
            "<p>{}{}</p><p>Rever e decidir: <a href=\"{u}\">{u}</a></p>",
            html_escape(m),
            html_escape(&body),
            u = html_escape(self.ops_url)
        );
        let sms = transliterate_to_gsm7(&format!(
            "{m}INGD: proposta {} {level} {} aguarda aprovação há {w} min. Decidir: {}",
            self.proposal, self.event_name, self.ops_url
        ));
        let sms_count = count_segments(&sms);
        ReminderText {
            subject,
            text,
            html,
            sms,
            sms_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_naming_the_key_not_the_number() {
        let mut list = vec![OnCall {
            name: "duty-officer".into(),
            email: None,
            phone: Some("861230077".into()),
        }];
        let e = normalise_on_call(&mut list).unwrap_err();
        assert!(e.contains("approval.on_call[0].phone"), "{e}");
        assert!(!e.contains("861230077"), "the number is not repeated: {e}");
        list[0].phone = Some("+258 84 123 4567".into());
        normalise_on_call(&mut list).unwrap();
        assert_eq!(list[0].phone.as_deref(), Some("+258841234567"));
        list[0].email = Some("not-an-address".into());
        let e = normalise_on_call(&mut list).unwrap_err();
        assert!(e.contains("approval.on_call[0].email"), "{e}");
    }

    #[test]
    fn the_words_name_the_event_level_wait_and_page() {
        let r = Reminder {
            proposal: 12,
            round: 2,
            event_name: "FREDDY",
            level: Level::Red,
            status: CapStatus::Actual,
            waited_min: 52,
            ops_url: "https://aviso.example.org/ops",
        };
        let t = r.text();
        for s in [&t.subject, &t.text, &t.sms] {
            assert!(s.contains("FREDDY") && s.contains("52 min"), "{s}");
            assert!(s.contains("VERMELHO"), "{s}");
        }
        assert!(t.text.contains("https://aviso.example.org/ops"));
        assert!(t.sms.contains("https://aviso.example.org/ops"));
        assert!(crate::notify::gsm::is_gsm7(&t.sms), "{}", t.sms);
        assert_eq!(t.sms_count.segments, 1, "{}", t.sms);
        let ex = Reminder {
            status: CapStatus::Exercise,
            ..r
        };
        assert!(ex.text().subject.starts_with("[EXERCÍCIO] "));
        let soon = Reminder { waited_min: 0, ..r };
        assert!(soon.text().sms.contains("menos de 1 min"));
    }
}
