//! The e-mail: subject, plain-text body and HTML body, with places, people and links.

use serde::{Deserialize, Serialize};

use crate::alerts::levels::Level;
use crate::domain::text::{group_thousands, maputo_time};
use crate::notify::select::{Notice, PublishedAlert};
use crate::notify::subscriber::Lang;

use super::{
    MessageInput, MessageOptions, headline, instruction, links, marker, name_list, place_names,
};

/// Most district names listed in an e-mail subject before "and N more".
const SUBJECT_DISTRICTS: usize = 3;

/// An e-mail's subject and bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailText {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn people(n: f64, lang: Lang) -> String {
    // Rounded to tens: these are model estimates, not counts.
    let sep = match lang {
        Lang::Pt => ' ',
        Lang::En => ',',
    };
    group_thousands((n / 10.0).round() * 10.0, sep)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::versioning::{CapStatus, MsgType};
    use crate::notify::message::tests::{alert, input, notice};
    use crate::notify::subscriber::HazardKind;

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
}
