//! Message texts for subscribers, in Portuguese (default) and English: the SMS text
//! (fitted to a segment budget), the e-mail subject with plain-text and HTML bodies, and
//! the webhook's JSON summary. Times are Maputo time (CAT, UTC+2, no daylight saving).
//!
//! Pure: builds strings; must not do I/O or depend on tokio, reqwest or lettre.
//!
//! Split per channel: `sms` (the text fitted to its segment budget), `email` (subject,
//! plain text and HTML) and `webhook` (the JSON summary); this file keeps the settings,
//! the input and the wording they share (headline, instruction, place names, links).

use serde::{Deserialize, Serialize};

use crate::alerts::levels::Level;
use crate::notify::select::{Notice, NoticeKind, PublishedAlert};
use crate::notify::subscriber::{HazardKind, Lang};

mod email;
mod sms;
mod webhook;

pub use email::{EmailText, email};
pub use sms::{SmsText, maputo_time_short, sms};
pub use webhook::webhook_json;

/// Settings of the texts (`[notify.message]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageOptions {
    /// The service's public address, without a trailing slash; links are built on it
    /// (`/`, `/api/alerts/{id}`, `/api/alerts/{id}/cap`, `/unsubscribe?token=…`).
    pub base_url: String,
    /// Replace letters outside GSM-7 (ã, ç, á …) so an SMS stays in GSM-7: 153
    /// characters per part instead of 67.
    pub sms_transliterate: bool,
    /// Most SMS parts a message may take; optional parts (link, instruction, then some
    /// district names) are dropped to fit.
    pub sms_max_segments: usize,
}

impl Default for MessageOptions {
    /// Transliteration on: SMS in Mozambique are commonly written without accents, and
    /// UCS-2 would more than double the parts (and the cost) of every message. Two parts:
    /// the budget for the common cases.
    fn default() -> Self {
        MessageOptions {
            base_url: "http://127.0.0.1:8080".to_string(),
            sms_transliterate: true,
            sms_max_segments: 2,
        }
    }
}

/// What a message is about, for one subscriber.
#[derive(Debug, Clone, Copy)]
pub struct MessageInput<'a> {
    pub alert: &'a PublishedAlert,
    pub notice: &'a Notice,
    pub lang: Lang,
    /// The id in the alert's URLs (`/api/alerts/{id}`).
    pub alert_id: &'a str,
    /// The subscriber's opt-out token (the service serves `/unsubscribe?token=…`).
    pub unsubscribe_token: &'a str,
}

/// "TESTE " / "EXERCÍCIO " before every headline of a non-actual version
/// ([`crate::alerts::versioning::CapStatus::label`]).
fn marker(alert: &PublishedAlert, lang: Lang) -> String {
    match (alert.status.label(), lang) {
        (Some((pt, _)), Lang::Pt) => format!("[{pt}] "),
        (Some((_, en)), Lang::En) => format!("[{en}] "),
        (None, _) => String::new(),
    }
}

/// The headline, e.g. "Alerta vermelho: ciclone FREDDY" (no marker).
pub fn headline(alert: &PublishedAlert, notice: &Notice, lang: Lang) -> String {
    let mut what = format!("{} {}", alert.hazard.name(lang), alert.event_name);
    if let Some(c) = &alert.after_cyclone {
        what.push_str(&format!(" ({} {c})", HazardKind::Cyclone.name(lang)));
    }
    let lvl = notice.level.map(|l| l.name(lang)).unwrap_or_default();
    // Issue 13: an approver withdrew the version as sent in error.
    if alert.msg_type == crate::alerts::versioning::MsgType::Error {
        return match lang {
            Lang::Pt => format!("Alerta retirado (erro): {what}"),
            Lang::En => format!("Alert withdrawn (error): {what}"),
        };
    }
    match (notice.kind, lang) {
        (NoticeKind::NewEvent, Lang::Pt) => format!("Alerta {lvl}: {what}"),
        (NoticeKind::Raised, Lang::Pt) => format!("Alerta sobe para {lvl}: {what}"),
        (NoticeKind::Lowered, Lang::Pt) => format!("Alerta desce para {lvl}: {what}"),
        (NoticeKind::AllClear, Lang::Pt) => format!("Fim do alerta: {what}"),
        (NoticeKind::Reminder, Lang::Pt) => format!("Alerta {lvl} mantém-se: {what}"),
        (NoticeKind::NewEvent, Lang::En) => format!("{} alert: {what}", capitalise(lvl)),
        (NoticeKind::Raised, Lang::En) => format!("Alert raised to {lvl}: {what}"),
        (NoticeKind::Lowered, Lang::En) => format!("Alert lowered to {lvl}: {what}"),
        (NoticeKind::AllClear, Lang::En) => format!("All clear: {what}"),
        (NoticeKind::Reminder, Lang::En) => format!("{} alert continues: {what}", capitalise(lvl)),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// What to do, per hazard and level (long form for e-mail). Wording follows the level
/// meanings of [`Level::meaning_pt`] and INGD's practice of pointing people to local
/// authorities and accommodation centres (../shared/DOMAIN.md).
pub fn instruction(hazard: HazardKind, notice: &Notice, lang: Lang) -> &'static str {
    use HazardKind::*;
    use Level::*;
    let Some(level) = notice.level else {
        return match lang {
            Lang::Pt => {
                "Segundo a previsão mais recente, a ameaça afastou-se das suas áreas. Continue atento aos avisos das autoridades locais."
            }
            Lang::En => {
                "According to the latest forecast the threat has moved away from your areas. Keep following local authorities' warnings."
            }
        };
    };
    match (hazard, level, lang) {
        (Cyclone, Red, Lang::Pt) => {
            "Prontidão máxima: ventos de ciclone previstos. Siga as instruções do INGD e das autoridades locais e prepare a evacuação para os centros de acomodação."
        }
        (Cyclone, Orange, Lang::Pt) => {
            "Preparação: ventos fortes previstos. Pré-posicione meios e reveja os planos de evacuação e os centros de acomodação."
        }
        (Cyclone, Yellow, Lang::Pt) => {
            "Atenção: ventos de tempestade tropical previstos. Acompanhe os avisos e proteja telhados e objetos soltos."
        }
        (Cyclone, Green, Lang::Pt) => {
            "Vigilância: a zona está no cone de incerteza da previsão, sem vento forte previsto. Acompanhe os próximos avisos."
        }
        (Cyclone, Red, Lang::En) => {
            "Maximum preparedness: cyclone-force winds forecast. Follow INGD and local authorities and prepare evacuation to accommodation centres."
        }
        (Cyclone, Orange, Lang::En) => {
            "Prepare: strong winds forecast. Pre-position resources and review evacuation plans and accommodation centres."
        }
        (Cyclone, Yellow, Lang::En) => {
            "Attention: tropical-storm-force winds forecast. Follow the warnings and secure roofs and loose objects."
        }
        (Cyclone, Green, Lang::En) => {
            "Watch: the area is inside the forecast's uncertainty cone, no damaging wind forecast. Follow the next warnings."
        }
        (Flood, Red, Lang::Pt) => {
            "Prontidão máxima: cheia severa prevista. Afaste-se das margens dos rios, siga as autoridades locais e prepare a evacuação."
        }
        (Flood, Orange, Lang::Pt) => {
            "Preparação: cheia moderada prevista. Pré-posicione meios e reveja os planos de evacuação."
        }
        (Flood, Yellow, Lang::Pt) => {
            "Atenção: rio acima do nível de alerta previsto. Acompanhe os avisos e evite atravessar zonas alagadas."
        }
        (Flood, Green, Lang::Pt) => {
            "Vigilância: subida dos rios possível. Acompanhe os próximos avisos."
        }
        (Flood, Red, Lang::En) => {
            "Maximum preparedness: severe flooding forecast. Keep away from river banks, follow local authorities and prepare to evacuate."
        }
        (Flood, Orange, Lang::En) => {
            "Prepare: moderate flooding forecast. Pre-position resources and review evacuation plans."
        }
        (Flood, Yellow, Lang::En) => {
            "Attention: river forecast above alert level. Follow the warnings and do not cross flooded areas."
        }
        (Flood, Green, Lang::En) => "Watch: rivers may rise. Follow the next warnings.",
    }
}

/// The names of the notice's districts, then its sites, in order.
fn place_names(alert: &PublishedAlert, notice: &Notice) -> Vec<String> {
    let d = notice.districts.iter().map(|p| {
        alert
            .district(p)
            .map_or_else(|| p.clone(), |d| d.name.clone())
    });
    let s = notice.sites.iter().map(|(layer, id)| {
        alert
            .sites
            .iter()
            .find(|s| &s.layer == layer && &s.id == id)
            .map_or_else(|| id.clone(), |s| s.name.clone())
    });
    d.chain(s).collect()
}

/// "A, B, C" or "A, B +3" / "A, B e mais 3" when only `keep` names are shown.
fn name_list(names: &[String], keep: usize, lang: Lang, short: bool) -> String {
    let shown = names
        .iter()
        .take(keep)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = names.len().saturating_sub(keep);
    match (more, short, lang) {
        (0, _, _) => shown,
        (n, true, _) => format!("{shown} +{n}"),
        (n, false, Lang::Pt) => format!("{shown} e mais {n}"),
        (n, false, Lang::En) => format!("{shown} and {n} more"),
    }
}

/// Links of one alert.
pub struct Links {
    pub map: String,
    pub geojson: String,
    pub cap: String,
    /// The contingency plan (`/api/alerts/{id}/plan`, issue 14): where the people at risk
    /// would go, as the printable sheet. Cyclone and flood versions, never a Cancel.
    pub plan: Option<String>,
    pub unsubscribe: String,
}

pub fn links(input: &MessageInput<'_>, opts: &MessageOptions) -> Links {
    let base = opts.base_url.trim_end_matches('/');
    let id = url_component(input.alert_id);
    Links {
        map: format!("{base}/"),
        geojson: format!("{base}/api/alerts/{id}"),
        cap: format!("{base}/api/alerts/{id}/cap"),
        plan: (!input.alert.msg_type.withdraws()).then(|| format!("{base}/api/alerts/{id}/plan")),
        unsubscribe: format!(
            "{base}/unsubscribe?token={}",
            url_component(input.unsubscribe_token)
        ),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_component(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    /// RFC 3986 section 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" stay as they are.
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::versioning::{CapStatus, MsgType};
    use crate::notify::select::{AlertDistrict, SiteAtRisk};
    use chrono::{TimeZone, Utc};

    pub(super) fn alert(status: CapStatus) -> PublishedAlert {
        PublishedAlert {
            after_cyclone: None,
            instruction: None,
            event_id: "swi-07-20222023".into(),
            version: 3,
            identifier: "aviso-swi-07-20222023-3".into(),
            msg_type: MsgType::Update,
            status,
            hazard: HazardKind::Cyclone,
            event_name: "FREDDY".into(),
            sent: Utc.with_ymd_and_hms(2023, 3, 10, 6, 0, 0).unwrap(),
            next_update: Some(Utc.with_ymd_and_hms(2023, 3, 10, 12, 0, 0).unwrap()),
            districts: vec![AlertDistrict {
                pcode: "MZ0906".into(),
                name: "Cidade Da Beira".into(),
                province_pcode: Some("MZ09".into()),
                level: Level::Red,
                people_at_risk: Some(533_825.4),
            }],
            sites: vec![SiteAtRisk {
                layer: "sites".into(),
                id: "S1".into(),
                name: "Escola <Munhava> & Co".into(),
                district_pcode: Some("MZ0906".into()),
                people: Some(1234.0),
            }],
        }
    }

    pub(super) fn notice() -> Notice {
        Notice {
            kind: NoticeKind::Raised,
            level: Some(Level::Red),
            previous: Some(Level::Orange),
            districts: vec!["MZ0906".into()],
            sites: vec![("sites".into(), "S1".into())],
        }
    }

    pub(super) fn input<'a>(a: &'a PublishedAlert, n: &'a Notice, lang: Lang) -> MessageInput<'a> {
        MessageInput {
            alert: a,
            notice: n,
            lang,
            alert_id: "aviso-swi-07-20222023-3",
            unsubscribe_token: "tok/en+1",
        }
    }

    #[test]
    fn a_flood_after_a_cyclone_names_the_cyclone_in_both_languages() {
        let n = notice();
        let mut a = alert(CapStatus::Actual);
        a.hazard = HazardKind::Flood;
        a.event_name = "Licungo".into();
        a.after_cyclone = Some("FREDDY".into());
        assert_eq!(
            headline(&a, &n, Lang::Pt),
            "Alerta sobe para vermelho: cheia Licungo (ciclone FREDDY)"
        );
        assert_eq!(
            headline(&a, &n, Lang::En),
            "Alert raised to red: flood Licungo (cyclone FREDDY)"
        );
        a.after_cyclone = None;
        assert_eq!(
            headline(&a, &n, Lang::En),
            "Alert raised to red: flood Licungo"
        );
    }

    #[test]
    fn test_versions_are_marked_in_both_languages() {
        let n = notice();
        let a = alert(CapStatus::Test);
        let pt = email(&input(&a, &n, Lang::Pt), &MessageOptions::default());
        assert!(pt.subject.starts_with("[TESTE] "), "{}", pt.subject);
        let en = email(&input(&a, &n, Lang::En), &MessageOptions::default());
        assert!(
            en.subject.starts_with("[TEST] Alert raised to red"),
            "{}",
            en.subject
        );
        let a = alert(CapStatus::Exercise);
        let s = sms(
            &input(&a, &n, Lang::Pt),
            &MessageOptions {
                sms_transliterate: false,
                ..MessageOptions::default()
            },
        );
        assert!(s.text.starts_with("[EXERCÍCIO] "), "{}", s.text);
        let s = sms(&input(&a, &n, Lang::Pt), &MessageOptions::default());
        assert!(
            s.text.starts_with("[EXERCICIO] "),
            "transliterated: {}",
            s.text
        );
    }
}
