//! The texts of a cyclone CAP document and of the messages that quote it: headline,
//! description, the standard instruction per level and message type in pt and en, the
//! editor's added instruction (`with_extra`, from an override of the approval workflow),
//! and the small formatters (times, people) the flood CAP shares. Split out of `cap.rs`,
//! which writes the XML.
//!
//! Pure: must not depend on I/O.

use super::*;

pub(crate) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(crate) fn people(n: f64) -> String {
    // Thousands grouped with a narrow no-break space, readable in both languages.
    group_thousands(n, '\u{202f}')
}

/// Districts per level (highest first): level -> (P-code, name, province P-code).
pub(crate) type ByLevel = BTreeMap<std::cmp::Reverse<Level>, Vec<(String, String, Option<String>)>>;

pub(crate) fn by_level(v: &AlertVersion) -> ByLevel {
    let mut m: ByLevel = BTreeMap::new();
    for (pcode, d) in &v.districts {
        m.entry(std::cmp::Reverse(d.level)).or_default().push((
            pcode.clone(),
            d.name.clone(),
            d.province_pcode.clone(),
        ));
    }
    m
}

pub(super) fn headline(lang: Lang, a: &Assessment, v: &AlertVersion) -> String {
    let name = &a.forecast.storm.name;
    headline_for(
        lang,
        v,
        a.event_level,
        [
            &format!("Ciclone tropical {name}"),
            &format!("Tropical cyclone {name}"),
        ],
    )
}

/// "<subject>: nível X — n distrito(s) no aviso", or the all-clear, prefixed with the
/// status label (TESTE, EXERCÍCIO) so nobody acts on a test. `subject` is
/// `[Portuguese, English]`.
pub(crate) fn headline_for(
    lang: Lang,
    v: &AlertVersion,
    event_level: Option<Level>,
    subject: [&str; 2],
) -> String {
    let name = subject.get(lang.index()).copied().unwrap_or_default();
    let n = v.districts.len();
    let body = match (v.msg_type, event_level) {
        // Issue 13: a version withdrawn by hand because it was sent in error.
        (MsgType::Error, _) => match lang {
            Lang::Pt => format!("{name}: ERRO — o aviso anterior foi retirado"),
            Lang::En => format!("{name}: ERROR — the previous warning is withdrawn"),
        },
        (MsgType::Cancel, _) | (_, None) => match lang {
            Lang::Pt => format!("{name}: fim do aviso, nenhum distrito em risco"),
            Lang::En => format!("{name}: all clear, no district at risk"),
        },
        (_, Some(l)) => match lang {
            Lang::Pt => format!("{name}: nível {} — {n} distrito(s) no aviso", l.name_pt()),
            Lang::En => format!("{name}: {} level — {n} district(s) on alert", l.name_en()),
        },
    };
    match v.status.label() {
        Some((pt, en)) => format!("{}: {body}", lang.pick(pt, en)),
        None => body,
    }
}

pub(super) fn description(lang: Lang, a: &Assessment, v: &AlertVersion) -> String {
    let mut lines: Vec<String> = Vec::new();
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    lines.push(format!(
        "{} {} ({}), {} {}; {} {}.",
        t("Previsão", "Forecast"),
        a.forecast.source.label(),
        a.forecast.storm.id,
        t("emitida", "issued"),
        utc(a.forecast.issued),
        t("referência", "reference time"),
        utc(a.forecast.reference_time),
    ));
    lines.extend(level_lines(lang, v));
    for total in &a.exposure.national {
        if total.districts > 0 {
            lines.push(format!(
                "≥ {} kt: {} {} {} {}.",
                total.threshold_kt,
                people(total.people_at_risk),
                t("pessoas em risco em", "people at risk in"),
                total.districts,
                t("distritos", "districts"),
            ));
        }
    }
    match &a.hazard.landfall {
        Some(lf) => lines.push(format!(
            "{}: {} (+{:.0} h), {:.2}°S {:.2}°E{}.",
            t("Chegada a terra prevista", "Forecast landfall"),
            utc(lf.time),
            lf.lead_time_h,
            -lf.lat,
            lf.lon,
            lf.wind_kt
                .map(|w| format!(", {w:.0} kt"))
                .unwrap_or_default(),
        )),
        None => lines.push(
            t(
                "Sem chegada a terra na previsão.",
                "No landfall in the forecast.",
            )
            .to_string(),
        ),
    }
    // The trigger's reason is written in English by the trigger module; the Portuguese
    // text keeps to the bilingual state label.
    lines.push(match lang {
        Lang::Pt => format!(
            "Gatilho de acção antecipatória: {}.",
            a.trigger.state.label()
        ),
        Lang::En => format!(
            "Anticipatory-action trigger: {} — {}.",
            a.trigger.state.label(),
            a.trigger.reason
        ),
    });
    lines.extend(changes_line(lang, v));
    lines.join("\n")
}

/// "Since version N: a added, r raised, l lowered, d removed." when anything changed.
pub(crate) fn changes_line(lang: Lang, v: &AlertVersion) -> Option<String> {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let c = &v.changes;
    (v.version > 1 && !c.is_empty()).then(|| {
        format!(
            "{} {}: {} {}, {} {}, {} {}, {} {}.",
            t("Desde a versão", "Since version"),
            v.version - 1,
            c.added.len(),
            t("acrescentados", "added"),
            c.raised.len(),
            t("subiram", "raised"),
            c.lowered.len(),
            t("desceram", "lowered"),
            c.removed.len(),
            t("retirados", "removed"),
        )
    })
}

/// Per-language levels line: "Nível vermelho (2): A, B." for each level, highest first.
pub(crate) fn level_lines(lang: Lang, v: &AlertVersion) -> Vec<String> {
    by_level(v)
        .into_iter()
        .map(|(l, ds)| {
            let names: Vec<&str> = ds.iter().map(|d| d.1.as_str()).collect();
            format!(
                "{} {} ({}): {}.",
                lang.pick("Nível", "Level"),
                lang.level(l.0),
                ds.len(),
                names.join(", ")
            )
        })
        .collect()
}

pub(super) fn instruction(lang: Lang, msg_type: MsgType, level: Option<Level>) -> &'static str {
    match (msg_type, level) {
        (MsgType::Cancel | MsgType::Error, _) | (_, None) => lang.pick(
            "O aviso terminou. Siga as orientações do INGD e das autoridades locais sobre o regresso e a resposta.",
            "The warning has ended. Follow INGD and local authorities on return and response.",
        ),
        (_, Some(Level::Red)) => lang.pick(
            "Nível vermelho: prepare e execute a evacuação para os centros de acomodação seguros; siga as ordens do INGD e dos COE. Nos restantes níveis, prepare-se.",
            "Red level: prepare and carry out evacuation to safe accommodation centres; follow INGD and the COEs. Elsewhere, prepare.",
        ),
        (_, Some(Level::Orange)) => lang.pick(
            "Pré-posicione meios, reforce abrigos e identifique centros de acomodação seguros; siga as orientações do INGD.",
            "Pre-position resources, secure shelters and identify safe accommodation centres; follow INGD guidance.",
        ),
        (_, Some(Level::Yellow)) => lang.pick(
            "Prepare-se para ventos fortes: prenda coberturas, recolha barcos e acompanhe os avisos do INGD.",
            "Prepare for strong winds: secure roofs, bring boats ashore and follow INGD warnings.",
        ),
        (_, Some(Level::Green)) => lang.pick(
            "Acompanhe as próximas previsões e os avisos do INGD.",
            "Monitor the next forecasts and INGD warnings.",
        ),
    }
}

/// The standard instruction `base` followed by the editor's one in `lang`, if any.
pub(crate) fn with_extra(base: &str, opts: &CapOptions, lang: Lang) -> String {
    let i = usize::from(lang == Lang::En);
    match opts.extra_instruction.as_ref().map(|x| x[i].trim()) {
        Some(extra) if !extra.is_empty() => format!("{base} {extra}"),
        _ => base.to_string(),
    }
}
