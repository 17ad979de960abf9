//! Message texts for subscribers, in Portuguese (default) and English: the SMS text
//! (fitted to a segment budget), the e-mail subject with plain-text and HTML bodies, and
//! the webhook's JSON summary. Times are Maputo time (CAT, UTC+2, no daylight saving).
//!
//! Pure: builds strings; must not do I/O or depend on tokio, reqwest or lettre.
//!
//! Over 600 lines: about 680 of code plus unit tests. One job, the texts of one message in
//! each channel (SMS, e-mail text and HTML, webhook JSON) in pt and en; they share the
//! headline, place and people wording, which is why they stay together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::alerts::levels::Level;
use crate::domain::text::{group_thousands, maputo, maputo_time};
use crate::notify::gsm::{SegmentCount, count_segments, transliterate_to_gsm7};
use crate::notify::select::{Notice, NoticeKind, PublishedAlert};
use crate::notify::subscriber::{HazardKind, Lang};

/// Most district names listed in an e-mail subject before "and N more".
const SUBJECT_DISTRICTS: usize = 3;

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

/// An SMS text and its length on the air.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsText {
    pub text: String,
    pub count: SegmentCount,
}

/// An e-mail's subject and bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailText {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A time in Maputo time, short form for SMS: "10/03 14h00" or "10 Mar 14:00 CAT".
pub fn maputo_time_short(t: DateTime<Utc>, lang: Lang) -> String {
    let t = maputo(t);
    match lang {
        Lang::Pt => t.format("%d/%m %Hh%M").to_string(),
        Lang::En => t.format("%-d %b %H:%M CAT").to_string(),
    }
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

/// The SMS form of [`instruction`]: a few words.
fn short_instruction(notice: &Notice, lang: Lang) -> &'static str {
    match (notice.level, lang) {
        (None, Lang::Pt) => "Ameaça afastou-se.",
        (None, Lang::En) => "Threat has moved away.",
        (Some(Level::Red), Lang::Pt) => "Prontidão máxima, siga as autoridades.",
        (Some(Level::Red), Lang::En) => "Maximum preparedness, follow authorities.",
        (Some(Level::Orange), Lang::Pt) => "Prepare-se, pré-posicione meios.",
        (Some(Level::Orange), Lang::En) => "Prepare, pre-position resources.",
        (Some(Level::Yellow), Lang::Pt) => "Atenção aos avisos.",
        (Some(Level::Yellow), Lang::En) => "Follow the warnings.",
        (Some(Level::Green), Lang::Pt) => "Vigilância.",
        (Some(Level::Green), Lang::En) => "Watch.",
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

/// The SMS text: marker, headline, places, short instruction, next update, map link and
/// the STOP opt-out, in that order of importance. Parts are dropped from the least
/// important (link, then instruction, then next update) and then district names are
/// shortened to "+N" until the text fits `sms_max_segments`; the headline, the first place
/// and STOP always stay (and the count then says it did not fit).
pub fn sms(input: &MessageInput<'_>, opts: &MessageOptions) -> SmsText {
    let (alert, notice, lang) = (input.alert, input.notice, input.lang);
    let head = format!(
        "{}{}",
        marker(alert, lang),
        headline(alert, notice, lang).to_uppercase_first_word()
    );
    let names = place_names(alert, notice);
    let next = alert.next_update.map(|t| match lang {
        Lang::Pt => format!("Próx. aviso {}.", maputo_time_short(t, lang)),
        Lang::En => format!("Next update {}.", maputo_time_short(t, lang)),
    });
    let stop = match lang {
        Lang::Pt => "STOP p/ sair",
        Lang::En => "Reply STOP to opt out",
    };
    let link = format!("{}/", opts.base_url.trim_end_matches('/'));
    // A Cancel or Error sent by hand says why instead of the standard words (issue 13).
    let instr = match &alert.instruction {
        Some(x)
            if alert.msg_type.withdraws()
                && !x[usize::from(lang == Lang::En)].trim().is_empty() =>
        {
            x[usize::from(lang == Lang::En)].trim().to_string()
        }
        _ => short_instruction(notice, lang).to_string(),
    };
    let build = |keep: usize, with_next: bool, with_instr: bool, with_link: bool| {
        let mut parts = vec![head.clone()];
        let places = name_list(&names, keep, lang, true);
        if let Some(first) = parts.first_mut()
            && !places.is_empty()
        {
            first.push_str(&format!(" - {places}."));
        } else if let Some(first) = parts.first_mut() {
            first.push('.');
        }
        if with_instr {
            parts.push(instr.clone());
        }
        if with_next && let Some(n) = &next {
            parts.push(n.clone());
        }
        if with_link {
            parts.push(link.clone());
        }
        parts.push(stop.to_string());
        let text = parts.join(" ");
        if opts.sms_transliterate {
            transliterate_to_gsm7(&text)
        } else {
            text
        }
    };
    let fits = |t: &str| count_segments(t).segments <= opts.sms_max_segments.max(1);
    let all = names.len().max(1);
    let mut candidates: Vec<(usize, bool, bool, bool)> = vec![
        (all, true, true, true),
        (all, true, true, false),
        (all, true, false, false),
        (all, false, false, false),
    ];
    candidates.extend((1..all).rev().map(|k| (k, false, false, false)));
    let mut text = String::new();
    for (keep, n, i, l) in candidates {
        text = build(keep, n, i, l);
        if fits(&text) {
            break;
        }
    }
    let count = count_segments(&text);
    SmsText { text, count }
}

trait UpperFirstWord {
    fn to_uppercase_first_word(&self) -> String;
}

impl UpperFirstWord for String {
    /// "Alerta vermelho: ciclone X" -> "ALERTA VERMELHO: ciclone X": the words before the
    /// colon in capitals, so the level stands out on a small screen.
    fn to_uppercase_first_word(&self) -> String {
        match self.split_once(':') {
            Some((a, b)) => format!("{}:{b}", a.to_uppercase()),
            None => self.to_uppercase(),
        }
    }
}

fn people(n: f64, lang: Lang) -> String {
    // Rounded to tens: these are model estimates, not counts.
    let sep = match lang {
        Lang::Pt => ' ',
        Lang::En => ',',
    };
    group_thousands((n / 10.0).round() * 10.0, sep)
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

/// Safe in text and in quoted attributes alike (&, <, >, " and ' escaped).
fn html_escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

/// One line per place of the notice: name, level, people at risk.
struct PlaceLine {
    name: String,
    level: Option<Level>,
    people: Option<f64>,
}

fn place_lines(alert: &PublishedAlert, notice: &Notice) -> Vec<PlaceLine> {
    let mut out: Vec<PlaceLine> = notice
        .districts
        .iter()
        .map(|p| match alert.district(p) {
            Some(d) => PlaceLine {
                name: d.name.clone(),
                level: Some(d.level),
                people: d.people_at_risk,
            },
            None => PlaceLine {
                name: p.clone(),
                level: None,
                people: None,
            },
        })
        .collect();
    for (layer, id) in &notice.sites {
        let s = alert
            .sites
            .iter()
            .find(|s| &s.layer == layer && &s.id == id);
        let level = s
            .and_then(|s| s.district_pcode.as_deref())
            .and_then(|p| alert.district(p))
            .map(|d| d.level);
        out.push(PlaceLine {
            name: s.map_or_else(|| id.clone(), |s| s.name.clone()),
            level,
            people: s.and_then(|s| s.people),
        });
    }
    out
}

fn place_text(p: &PlaceLine, lang: Lang) -> String {
    let mut s = p.name.clone();
    if let Some(l) = p.level {
        s.push_str(&format!(" — {}", l.name(lang)));
    }
    if let Some(n) = p.people {
        s.push_str(&match lang {
            Lang::Pt => format!(" — cerca de {} pessoas em risco", people(n, lang)),
            Lang::En => format!(" — about {} people at risk", people(n, lang)),
        });
    }
    s
}

/// The e-mail: subject, plain text and HTML (same content; the HTML escapes every value).
pub fn email(input: &MessageInput<'_>, opts: &MessageOptions) -> EmailText {
    let (alert, notice, lang) = (input.alert, input.notice, input.lang);
    let mark = marker(alert, lang);
    let head = headline(alert, notice, lang);
    let names = place_names(alert, notice);
    let subject = if names.is_empty() {
        format!("{mark}{head}")
    } else {
        format!(
            "{mark}{head} — {}",
            name_list(&names, SUBJECT_DISTRICTS, lang, false)
        )
    };
    let l = links(input, opts);
    let lines = place_lines(alert, notice);
    let mut instr = instruction(alert.hazard, notice, lang).to_string();
    if let Some(x) = &alert.instruction {
        let extra = x[usize::from(lang == Lang::En)].trim();
        if !extra.is_empty() {
            instr = format!("{instr} {extra}");
        }
    }
    let t = |pt: &'static str, en: &'static str| if lang == Lang::Pt { pt } else { en };
    let level_line = match (notice.level, notice.previous) {
        (Some(n), Some(p)) if n != p => Some(format!(
            "{}: {} ({} {})",
            t("Nível nas suas áreas", "Level in your areas"),
            n.name(lang),
            t("antes", "was"),
            p.name(lang)
        )),
        (Some(n), _) => Some(format!(
            "{}: {}",
            t("Nível nas suas áreas", "Level in your areas"),
            n.name(lang)
        )),
        (None, _) => None,
    };
    let next = alert.next_update.map(|n| {
        format!(
            "{}: {}",
            t("Próxima atualização prevista", "Next update expected"),
            maputo_time(n, lang)
        )
    });
    let issued = format!(
        "{}: {} — {} {} ({})",
        t("Emitido", "Issued"),
        maputo_time(alert.sent, lang),
        t("versão", "version"),
        alert.version,
        alert.identifier
    );
    let places_title = t("Zonas em causa", "Areas concerned");
    let todo = t("O que fazer", "What to do");
    let test_note = match (alert.status.label(), lang) {
        (Some(_), Lang::Pt) => Some("Esta mensagem é um TESTE/EXERCÍCIO: não exige qualquer ação."),
        (Some(_), Lang::En) => Some("This message is a TEST/EXERCISE: no action is required."),
        (None, _) => None,
    };
    let unsub_text = t(
        "Para deixar de receber estes alertas",
        "To stop receiving these alerts",
    );

    // Plain text.
    let mut text = format!("{mark}{head}\n\n");
    if let Some(n) = test_note {
        text.push_str(&format!("{n}\n\n"));
    }
    if let Some(ll) = &level_line {
        text.push_str(&format!("{ll}\n"));
    }
    if !lines.is_empty() {
        text.push_str(&format!("{places_title}:\n"));
        for p in &lines {
            text.push_str(&format!("- {}\n", place_text(p, lang)));
        }
    }
    text.push_str(&format!("\n{todo}: {instr}\n\n"));
    if let Some(n) = &next {
        text.push_str(&format!("{n}\n"));
    }
    text.push_str(&format!("{issued}\n\n"));
    text.push_str(&format!(
        "{}: {}\n{}: {}\n{}: {}\n\n",
        t("Mapa", "Map"),
        l.map,
        t("Alerta (GeoJSON)", "Alert (GeoJSON)"),
        l.geojson,
        t("Alerta (CAP 1.2)", "Alert (CAP 1.2)"),
        l.cap
    ));
    let plan_title = t(
        "Plano de contingência (centros de acomodação)",
        "Contingency plan (accommodation centres)",
    );
    if let Some(p) = &l.plan {
        text.push_str(&format!("{plan_title}: {p}\n\n"));
    }
    text.push_str(&format!("-- \n{unsub_text}: {}\n", l.unsubscribe));

    // HTML: one light page, inline styles only (no external CSS, images or fonts: mail
    // clients block them and links are poor during events).
    let e = html_escape;
    let colour = notice.level.map_or("#555555", Level::colour_hex);
    let mut html = String::new();
    html.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family:sans-serif;max-width:40em\">\n",
        lang.as_str(),
        e(&subject)
    ));
    html.push_str(&format!(
        "<h1 style=\"border-left:0.5em solid {colour};padding-left:0.4em;font-size:1.3em\">{}{}</h1>\n",
        e(&mark),
        e(&head)
    ));
    if let Some(n) = test_note {
        html.push_str(&format!("<p><strong>{}</strong></p>\n", e(n)));
    }
    if let Some(ll) = &level_line {
        html.push_str(&format!("<p>{}</p>\n", e(ll)));
    }
    if !lines.is_empty() {
        html.push_str(&format!(
            "<h2 style=\"font-size:1.1em\">{}</h2>\n<ul>\n",
            e(places_title)
        ));
        for p in &lines {
            html.push_str(&format!("<li>{}</li>\n", e(&place_text(p, lang))));
        }
        html.push_str("</ul>\n");
    }
    html.push_str(&format!(
        "<p><strong>{}:</strong> {}</p>\n",
        e(todo),
        e(&instr)
    ));
    if let Some(n) = &next {
        html.push_str(&format!("<p>{}</p>\n", e(n)));
    }
    html.push_str(&format!("<p style=\"color:#555\">{}</p>\n", e(&issued)));
    html.push_str(&format!(
        "<p><a href=\"{}\">{}</a> · <a href=\"{}\">{}</a> · <a href=\"{}\">{}</a></p>\n",
        e(&l.map),
        t("Mapa", "Map"),
        e(&l.geojson),
        "GeoJSON",
        e(&l.cap),
        "CAP 1.2"
    ));
    if let Some(p) = &l.plan {
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            e(p),
            e(plan_title)
        ));
    }
    html.push_str(&format!(
        "<hr><p style=\"font-size:0.85em;color:#555\">{}: <a href=\"{}\">{}</a></p>\n</body></html>\n",
        e(unsub_text),
        e(&l.unsubscribe),
        e(&l.unsubscribe)
    ));
    EmailText {
        subject,
        text,
        html,
    }
}

/// The webhook's JSON summary of the version, as this subscriber sees it.
pub fn webhook_json(input: &MessageInput<'_>, opts: &MessageOptions) -> Value {
    let (alert, notice, lang) = (input.alert, input.notice, input.lang);
    let l = links(input, opts);
    let districts: Vec<Value> = notice
        .districts
        .iter()
        .filter_map(|p| alert.district(p))
        .map(|d| {
            json!({
                "pcode": d.pcode,
                "name": d.name,
                "province_pcode": d.province_pcode,
                "level": d.level,
                "people_at_risk": d.people_at_risk,
            })
        })
        .collect();
    let sites: Vec<Value> = notice
        .sites
        .iter()
        .filter_map(|(layer, id)| {
            alert
                .sites
                .iter()
                .find(|s| &s.layer == layer && &s.id == id)
        })
        .map(|s| {
            json!({
                "layer": s.layer, "id": s.id, "name": s.name,
                "district_pcode": s.district_pcode, "people": s.people,
            })
        })
        .collect();
    json!({
        "event_id": alert.event_id,
        "version": alert.version,
        "identifier": alert.identifier,
        "msg_type": alert.msg_type.as_str(),
        "status": alert.status.as_str(),
        "hazard": alert.hazard,
        "event_name": alert.event_name,
        "sent": alert.sent.to_rfc3339(),
        "next_update": alert.next_update.map(|t| t.to_rfc3339()),
        "notice": notice.kind,
        "level": notice.level,
        "previous_level": notice.previous,
        "headline": format!("{}{}", marker(alert, lang), headline(alert, notice, lang)),
        "instruction": instruction(alert.hazard, notice, lang),
        "language": lang.as_str(),
        "districts": districts,
        "sites": sites,
        "links": { "map": l.map, "geojson": l.geojson, "cap": l.cap },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::versioning::{CapStatus, MsgType};
    use crate::notify::select::{AlertDistrict, SiteAtRisk};
    use chrono::TimeZone;

    fn alert(status: CapStatus) -> PublishedAlert {
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

    fn notice() -> Notice {
        Notice {
            kind: NoticeKind::Raised,
            level: Some(Level::Red),
            previous: Some(Level::Orange),
            districts: vec!["MZ0906".into()],
            sites: vec![("sites".into(), "S1".into())],
        }
    }

    fn input<'a>(a: &'a PublishedAlert, n: &'a Notice, lang: Lang) -> MessageInput<'a> {
        MessageInput {
            alert: a,
            notice: n,
            lang,
            alert_id: "aviso-swi-07-20222023-3",
            unsubscribe_token: "tok/en+1",
        }
    }

    #[test]
    fn times_are_written_in_maputo_time() {
        let t = Utc.with_ymd_and_hms(2023, 3, 10, 23, 30, 0).unwrap();
        // 23:30 UTC is 01:30 the next day in Maputo (UTC+2).
        assert_eq!(
            maputo_time(t, Lang::Pt),
            "11/03/2023 01:30 (hora de Maputo)"
        );
        assert_eq!(maputo_time(t, Lang::En), "11 Mar 2023 01:30 CAT");
        assert_eq!(maputo_time_short(t, Lang::Pt), "11/03 01h30");
    }

    #[test]
    fn an_email_has_headline_places_people_instruction_next_update_and_links() {
        let (a, n) = (alert(CapStatus::Actual), notice());
        let m = email(&input(&a, &n, Lang::Pt), &MessageOptions::default());
        assert_eq!(
            m.subject,
            "Alerta sobe para vermelho: ciclone FREDDY — Cidade Da Beira, Escola <Munhava> & Co"
        );
        assert!(m.text.contains("vermelho (antes laranja)"), "{}", m.text);
        assert!(
            m.text.contains("cerca de 533 830 pessoas em risco"),
            "{}",
            m.text
        );
        assert!(m.text.contains("Prontidão máxima"), "{}", m.text);
        // Next forecast at 12:00 UTC = 14:00 in Maputo.
        assert!(
            m.text.contains("10/03/2023 14:00 (hora de Maputo)"),
            "{}",
            m.text
        );
        for link in [
            "http://127.0.0.1:8080/api/alerts/aviso-swi-07-20222023-3",
            "http://127.0.0.1:8080/api/alerts/aviso-swi-07-20222023-3/cap",
            "http://127.0.0.1:8080/unsubscribe?token=tok%2Fen%2B1",
        ] {
            assert!(m.text.contains(link) && m.html.contains(link), "{link}");
        }
        assert!(
            m.html.contains("Escola &lt;Munhava&gt; &amp; Co"),
            "HTML must escape names"
        );
        assert!(!m.html.contains("<Munhava>"));
        assert!(m.html.contains("#d50000"), "red level colour");
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
    fn a_flood_email_links_its_contingency_plan_as_a_cyclone_one_does_but_a_cancel_none() {
        let n = notice();
        let mut a = alert(CapStatus::Actual);
        a.hazard = HazardKind::Flood;
        let plan = "http://127.0.0.1:8080/api/alerts/aviso-swi-07-20222023-3/plan";
        for lang in [Lang::Pt, Lang::En] {
            let m = email(&input(&a, &n, lang), &MessageOptions::default());
            assert!(m.text.contains(plan) && m.html.contains(plan), "{}", m.text);
        }
        a.msg_type = MsgType::Cancel;
        let m = email(&input(&a, &n, Lang::Pt), &MessageOptions::default());
        assert!(!m.text.contains("/plan"), "{}", m.text);
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

    #[test]
    fn the_webhook_summary_carries_the_notice_and_links() {
        let (a, n) = (alert(CapStatus::Actual), notice());
        let v = webhook_json(&input(&a, &n, Lang::En), &MessageOptions::default());
        assert_eq!(v["notice"], "raised");
        assert_eq!(v["level"], "red");
        assert_eq!(v["previous_level"], "orange");
        assert_eq!(v["districts"][0]["pcode"], "MZ0906");
        assert_eq!(
            v["links"]["cap"],
            "http://127.0.0.1:8080/api/alerts/aviso-swi-07-20222023-3/cap"
        );
    }
}
