//! The contingency sheet (issue 14, part 5): one printable page set per forecast version
//! that a provincial COE takes into a meeting. Portuguese first, English on request. It
//! holds the trigger state, the table per district (level, people at risk, demand,
//! safe capacity, gap, lead time to arrival), the centres to open in order, the sites and
//! settlements to evacuate first, and a small map.
//!
//! Pure: returns a self-contained HTML document (inline CSS and SVG, no script, no outside
//! resource) that a browser shows and headless Chromium prints to PDF (`crate::app::plan`).
//! Every value from a register or a layer is HTML-escaped.
//!
//! Orders, decided here because the issue names none:
//! - centres to open: by the earliest arrival of the wind at the districts whose people
//!   they receive, then by persons received (more first);
//! - origins to evacuate first: by the earliest arrival at their district, then the
//!   strongest wind at the origin, then the most people.

mod map;

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::{AreaPlan, Plan, Range3};
use crate::alerts::assess::Assessment;
use crate::alerts::levels::Level;
use crate::domain::Layers;
use crate::domain::text::{Lang, group_thousands, maputo_time};
use crate::exposure::PeopleMethod;

/// Most origins listed under "evacuate first"; the rest are counted.
pub const ORIGINS_LISTED: usize = 30;

/// Most centres listed under "centres to open"; the rest are counted.
pub const CENTRES_LISTED: usize = 40;

/// What the sheet says about where it comes from.
#[derive(Debug, Clone)]
pub struct SheetOptions {
    pub lang: Lang,
    /// The alert version's CAP identifier, when the sheet is of a published version.
    pub version_id: Option<String>,
    pub generated_at: DateTime<Utc>,
}

fn esc(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

fn persons(n: f64, lang: Lang) -> String {
    let sep = match lang {
        Lang::Pt => '\u{202f}',
        Lang::En => ',',
    };
    group_thousands(n.round(), sep)
}

fn range(r: Range3, lang: Lang) -> String {
    if (r.high - r.low).abs() < 0.5 {
        persons(r.central, lang)
    } else {
        format!(
            "{} <span class=r>({}–{})</span>",
            persons(r.central, lang),
            persons(r.low, lang),
            persons(r.high, lang)
        )
    }
}

fn level_cell(level: Option<Level>, lang: Lang) -> String {
    match level {
        Some(l) => format!("<td class=\"lv {}\">{}</td>", l.name_en(), l.name(lang)),
        None => "<td>–</td>".to_string(),
    }
}

/// Per district P-code: hours from the forecast's reference time to the first arrival of
/// the lowest threshold wind (the widest footprint).
fn district_lead_h(a: &Assessment) -> BTreeMap<&str, f64> {
    a.exposure
        .districts
        .iter()
        .filter_map(|d| d.widest().map(|w| (d.pcode.as_str(), w.lead_time_h)))
        .collect()
}

/// Closes a table; `more` rows not shown are counted with where to find them.
fn table_end(h: &mut String, more: usize, where_: &str) {
    h.push_str("</tbody></table>\n");
    if more > 0 {
        let _ = writeln!(h, "<p>{more} {where_}</p>");
    }
}

/// The district's name, else its P-code, else a dash.
fn district_name<'a>(names: &BTreeMap<&str, &'a str>, pcode: Option<&'a str>) -> &'a str {
    pcode.map_or("–", |p| names.get(p).copied().unwrap_or(p))
}

fn lead(h: Option<f64>) -> String {
    h.map_or_else(|| "–".to_string(), |h| format!("{h:.0}"))
}

/// Renders the sheet.
pub fn sheet_html(plan: &Plan, a: &Assessment, layers: &Layers, opts: &SheetOptions) -> String {
    let lang = opts.lang;
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let leads = district_lead_h(a);
    let mut h = String::new();
    let title = format!(
        "{} — {} {}",
        t("Plano de acolhimento", "Accommodation plan"),
        t("ciclone", "cyclone"),
        esc(&plan.storm)
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>{CSS}</style></head><body>\n<h1>{title}</h1>\n",
        lang.as_str()
    );
    if plan.demonstration {
        let _ = writeln!(
            h,
            "<p class=demo>{}</p>",
            t(
                "DEMONSTRAÇÃO: os centros são unidades sanitárias a fazer de centros de acomodação, \
                 com capacidades supostas. Não são locais da OIM/CCCM nem centros do INGD.",
                "DEMONSTRATION: the centres are health facilities standing in for accommodation \
                 centres, with assumed capacities. They are not IOM/CCCM sites nor INGD centres."
            )
        );
    }
    let _ = writeln!(
        h,
        "<table class=meta><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>\
         <tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr></table>",
        t("Previsão de", "Forecast of"),
        maputo_time(plan.reference_time, lang),
        t("Versão do alerta", "Alert version"),
        opts.version_id
            .as_deref()
            .map_or_else(|| t("(não publicada)", "(not published)").to_string(), esc),
        t("Registo de centros", "Centre register"),
        esc(&plan.register_source),
        t("Preparado em", "Prepared at"),
        maputo_time(opts.generated_at, lang),
    );
    trigger_section(&mut h, a, lang);
    let _ = writeln!(
        h,
        "<div class=map>{}</div>",
        map::map_svg(plan, a, layers, lang)
    );
    let names: BTreeMap<&str, &str> = layers
        .districts
        .iter()
        .map(|d| (d.pcode.as_str(), d.name.as_str()))
        .collect();
    district_table(&mut h, plan, a, &leads, lang);
    centres_to_open(&mut h, plan, &names, &leads, lang);
    origins_first(&mut h, plan, &names, &leads, lang);
    let _ = write!(
        h,
        "<h2>{}</h2><ul class=notes>",
        t("Notas de método", "Method notes")
    );
    for n in &plan.notes {
        let _ = write!(h, "<li>{}</li>", esc(n));
    }
    h.push_str("</ul>\n</body></html>\n");
    h
}

fn trigger_section(h: &mut String, a: &Assessment, lang: Lang) {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let tr = &a.trigger;
    let (pt, en) = tr
        .state
        .label()
        .split_once(" / ")
        .unwrap_or((tr.state.label(), ""));
    let _ = writeln!(
        h,
        "<p class=trigger><b>{}:</b> {}{}. {}</p>",
        t(
            "Activação (acção antecipatória)",
            "Anticipatory-action trigger"
        ),
        esc(lang.pick(pt, en)),
        tr.lead_time_h.map_or_else(String::new, |l| format!(
            " — {} {l:.0} h",
            t("tempo de antecedência", "lead time")
        )),
        esc(&tr.reason),
    );
}

fn district_table(
    h: &mut String,
    plan: &Plan,
    a: &Assessment,
    leads: &BTreeMap<&str, f64>,
    lang: Lang,
) {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let _ = writeln!(
        h,
        "<h2>{}</h2><table class=grid><thead><tr><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t("Por distrito", "By district"),
        t("Distrito", "District"),
        t("Nível", "Level"),
        t("Pessoas em risco", "People at risk"),
        t("Procura de acolhimento", "Shelter demand"),
        t("Capacidade segura livre", "Safe free capacity"),
        t("Défice", "Gap"),
        t("Chegada (h)", "Arrival (h)"),
        t("Sem centro a ≤ {} km", "No centre within {} km")
            .replace("{}", &format!("{:.0}", plan.max_distance_km)),
    );
    let no_population: Vec<&str> = a
        .exposure
        .districts
        .iter()
        .filter(|d| {
            d.widest()
                .is_some_and(|w| w.method == PeopleMethod::NoPopulation)
        })
        .map(|d| d.pcode.as_str())
        .collect();
    // Districts in the cone only (green, no demand) would fill pages with zeros: counted.
    let (mut rows, quiet): (Vec<&AreaPlan>, Vec<&AreaPlan>) = plan
        .districts
        .iter()
        .partition(|d| d.level > Some(Level::Green) || d.demand.high > 0.5);
    // Highest level first, then the soonest arrival: the order a COE reads them in.
    rows.sort_by(|x, y| {
        y.level.cmp(&x.level).then(
            leads
                .get(x.pcode.as_str())
                .unwrap_or(&f64::INFINITY)
                .total_cmp(leads.get(y.pcode.as_str()).unwrap_or(&f64::INFINITY)),
        )
    });
    for d in rows {
        let _ = writeln!(
            h,
            "<tr><td class=t>{} <span class=r>{}</span></td>{}<td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.name),
            esc(d.province_name.as_deref().unwrap_or("")),
            level_cell(d.level, lang),
            if no_population.contains(&d.pcode.as_str()) {
                t("sem dados de população", "no population figure").to_string()
            } else {
                range(d.people_at_risk, lang)
            },
            range(d.demand, lang),
            persons(d.safe_capacity, lang),
            if d.gap.central > 0.5 { "gap" } else { "" },
            range(d.gap, lang),
            lead(leads.get(d.pcode.as_str()).copied()),
            d.origins_without_centre,
        );
    }
    let n = &plan.national;
    let _ = writeln!(
        h,
        "</tbody><tfoot><tr><th>{}</th>{}<th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th>\
         <th>{}</th></tr></tfoot></table>",
        t("Total", "Total"),
        level_cell(n.level, lang),
        range(n.people_at_risk, lang),
        range(n.demand, lang),
        persons(n.safe_capacity, lang),
        range(n.gap, lang),
        n.origins_without_centre,
    );
    if !quiet.is_empty() {
        let _ = writeln!(
            h,
            "<p>{} {}</p>",
            quiet.len(),
            t(
                "distritos só no cone de incerteza (verde, sem procura) não estão listados; \
                 contam no total.",
                "districts only in the cone of uncertainty (green, no demand) are not listed; \
                 they count in the total."
            )
        );
    }
}

fn centres_to_open(
    h: &mut String,
    plan: &Plan,
    names: &BTreeMap<&str, &str>,
    leads: &BTreeMap<&str, f64>,
    lang: Lang,
) {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    // The earliest arrival among the districts of the origins each centre receives.
    let origin_lead: BTreeMap<&str, f64> = plan
        .origins
        .iter()
        .map(|o| {
            let l = o
                .district_pcode
                .as_deref()
                .and_then(|p| leads.get(p))
                .copied()
                .unwrap_or(f64::INFINITY);
            (o.id.as_str(), l)
        })
        .collect();
    let mut first: BTreeMap<&str, f64> = BTreeMap::new();
    for al in &plan.allocations {
        let l = origin_lead
            .get(al.origin_id.as_str())
            .copied()
            .unwrap_or(f64::INFINITY);
        let e = first.entry(al.centre_code.as_str()).or_insert(l);
        *e = e.min(l);
    }
    let mut open: Vec<_> = plan.centres.iter().filter(|c| c.allocated > 0.5).collect();
    open.sort_by(|x, y| {
        let lx = first.get(x.code.as_str()).unwrap_or(&f64::INFINITY);
        let ly = first.get(y.code.as_str()).unwrap_or(&f64::INFINITY);
        lx.total_cmp(ly).then(y.allocated.total_cmp(&x.allocated))
    });
    let unsafe_n = plan.centres.iter().filter(|c| !c.safe).count();
    let _ = writeln!(
        h,
        "<h2>{} ({})</h2><p>{} {}</p><table class=grid><thead><tr><th>#</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t("Centros a abrir, por ordem", "Centres to open, in order"),
        open.len(),
        unsafe_n,
        t(
            "centros do registo estão na área de vento forte ou de cheia previsto: não são usados.",
            "centres of the register are inside the forecast strong-wind or flood area: not used."
        ),
        t("Centro", "Centre"),
        t("Distrito", "District"),
        t("Recebe", "Receives"),
        t("Espaço livre", "Free room"),
        t(
            "Ocupação (data, idade na previsão)",
            "Occupancy (date, age at the forecast)"
        ),
        t("Primeira chegada (h)", "First arrival (h)"),
    );
    for (i, c) in open.iter().take(CENTRES_LISTED).enumerate() {
        let district = district_name(names, c.district_pcode.as_deref());
        // How old the figure is at the forecast's reference time (`occupancy_age_days`):
        // a count of three weeks ago says less than yesterday's.
        let occupancy = match (c.occupancy, c.occupancy_date) {
            (Some(o), Some(d)) => match c.occupancy_age_days.filter(|a| *a >= 0) {
                Some(a) => format!("{} ({d}, {a} {})", persons(o, lang), t("d", "d")),
                None => format!("{} ({d})", persons(o, lang)),
            },
            (Some(o), None) => persons(o, lang),
            _ => "–".to_string(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=t>{} <span class=r>{}{}</span></td><td class=t>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            esc(&c.name),
            esc(&c.code),
            if c.demonstration { " · demo" } else { "" },
            esc(district),
            persons(c.allocated, lang),
            persons(c.free_room, lang),
            occupancy,
            lead(
                first
                    .get(c.code.as_str())
                    .copied()
                    .filter(|l| l.is_finite())
            ),
        );
    }
    table_end(
        h,
        open.len().saturating_sub(CENTRES_LISTED),
        t(
            "centros mais no GeoJSON do plano.",
            "more centres in the plan's GeoJSON.",
        ),
    );
}

fn origins_first(
    h: &mut String,
    plan: &Plan,
    names: &BTreeMap<&str, &str>,
    leads: &BTreeMap<&str, f64>,
    lang: Lang,
) {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let lead_of = |p: Option<&str>| p.and_then(|p| leads.get(p)).copied();
    let mut origins: Vec<_> = plan.origins.iter().filter(|o| o.demand > 0.5).collect();
    origins.sort_by(|x, y| {
        let lx = lead_of(x.district_pcode.as_deref()).unwrap_or(f64::INFINITY);
        let ly = lead_of(y.district_pcode.as_deref()).unwrap_or(f64::INFINITY);
        lx.total_cmp(&ly)
            .then(y.max_threshold_kt.total_cmp(&x.max_threshold_kt))
            .then(y.demand.total_cmp(&x.demand))
    });
    let mut first_centre: BTreeMap<&str, (&str, f64)> = BTreeMap::new();
    for al in plan.allocations.iter().filter(|a| a.rank == 1) {
        first_centre.insert(
            al.origin_id.as_str(),
            (al.centre_name.as_str(), al.distance_km),
        );
    }
    let _ = writeln!(
        h,
        "<h2>{} ({} {})</h2><table class=grid><thead><tr><th>#</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t("Evacuar primeiro", "Evacuate first"),
        origins.len(),
        t(
            "locais com pessoas a deslocar",
            "places with people to move"
        ),
        t("Local", "Place"),
        t("Vento máx. (kt, 10 min)", "Max wind (kt, 10-min)"),
        t("Chegada (h)", "Arrival (h)"),
        t("Pessoas a deslocar", "People to move"),
        t("Primeiro centro (km)", "First centre (km)"),
        t("Sem lugar", "Unplaced"),
        t("Distrito", "District"),
    );
    for (i, o) in origins.iter().take(ORIGINS_LISTED).enumerate() {
        let centre = match first_centre.get(o.id.as_str()) {
            Some((name, km)) => format!("{} ({km:.0})", esc(name)),
            None if o.no_safe_centre_within_max => format!(
                "<b>{} {:.0} km</b>",
                t("nenhum centro seguro a ≤", "no safe centre within"),
                plan.max_distance_km
            ),
            None => t("nenhum com espaço", "none with room").to_string(),
        };
        let district = district_name(names, o.district_pcode.as_deref());
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=t>{} <span class=r>{}</span></td><td>{:.0}</td><td>{}</td>\
             <td>{}</td><td class=t>{}</td><td>{}</td><td class=t>{}</td></tr>",
            i + 1,
            esc(&o.name),
            esc(o.kind),
            o.max_threshold_kt,
            lead(lead_of(o.district_pcode.as_deref())),
            persons(o.demand, lang),
            centre,
            persons(o.shortfall, lang),
            esc(district),
        );
    }
    table_end(
        h,
        origins.len().saturating_sub(ORIGINS_LISTED),
        t(
            "locais mais no GeoJSON do plano.",
            "more places in the plan's GeoJSON.",
        ),
    );
}

/// Screen and A4 print: the tables break across pages, their headers repeat.
const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:11px;margin:16px;color:#111}\
h1{font-size:18px;margin:0 0 6px}h2{font-size:14px;margin:14px 0 4px}\
.demo{background:#fff3cd;border:2px solid #b58100;padding:6px;font-weight:bold}\
table{border-collapse:collapse}table.grid{width:100%}\
.grid th,.grid td{border:1px solid #bbb;padding:2px 4px;text-align:right}\
.grid td.t{text-align:left}\
.meta th{text-align:left;padding-right:8px}.r{color:#555;font-size:10px}\
.lv.red{background:#d7301f;color:#fff}.lv.orange{background:#fc8d59}.lv.yellow{background:#fee08b}\
.lv.green{background:#d9f0d3}.gap{font-weight:bold;color:#b2182b}\
.trigger{border-left:4px solid #5e3c99;padding-left:6px}.map svg{max-width:100%;height:auto}\
thead{display:table-header-group}tr{page-break-inside:avoid}\
@page{size:A4;margin:12mm}@media print{body{margin:0}}";
