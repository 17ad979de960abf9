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
//! The hazard's parts (title, trigger state, arrival times, the map's layers, the origins'
//! intensity) come in a `HazardView`: [`sheet_html`] makes it of a cyclone assessment
//! (`cyclone`), [`flood_sheet_html`] of a flood assessment (`flood`); the tables are shared.
//!
//! Orders, decided here because the issue names none:
//! - centres to open: by the earliest arrival of the hazard (the wind; a flood's first day
//!   at the district's level) at the districts whose people they receive, then by persons
//!   received (more first);
//! - origins to evacuate first: by the earliest arrival at their district, then the
//!   strongest wind (the highest flood level) at the origin, then the most people.

mod cyclone;
mod flood;
mod map;
mod sections;

pub use cyclone::sheet_html;
pub use flood::flood_sheet_html;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Plan, Range3};
use crate::alerts::levels::Level;
use crate::domain::Layers;
use crate::domain::text::{Lang, group_thousands, maputo_time};

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

/// A Portuguese / English pair.
type Words = (&'static str, &'static str);

/// What differs between the sheet of a cyclone and that of a flood.
pub(super) struct HazardView {
    /// After "Plano de acolhimento — ": "ciclone FREDDY", "cheias — previsão fluvial de …".
    title: String,
    /// The first row of the head table: its label and value (when the forecast is of).
    forecast_label: Words,
    forecast_of: String,
    /// The trigger section, HTML.
    trigger: String,
    /// Per district P-code: hours from the forecast to the hazard's arrival (the lowest
    /// threshold wind; a flood's first day at the district's level). Orders the tables.
    arrival_h: BTreeMap<String, f64>,
    /// Flood: per district P-code, hours to the peak (a column of the district table).
    peak_h: Option<BTreeMap<String, f64>>,
    /// Daily forecasts: lead times are written as days after this date (its 00:00 UTC is
    /// hour 0), else as hours.
    day_zero: Option<NaiveDate>,
    /// Districts whose population is unknown (no people-at-risk figure).
    no_population: BTreeSet<String>,
    /// Said of the districts the table leaves out (no level above green, no demand).
    quiet_note: Words,
    /// Header of the origins' intensity column, and its cell from `max_threshold_kt`.
    intensity_header: Words,
    intensity: fn(f64, Lang) -> String,
    overlay: map::Overlay,
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

/// A lead time cell: hours, or for a daily forecast the day and its number after the
/// issue day ("28/09 (D+3)").
fn lead(h: Option<f64>, v: &HazardView) -> String {
    match (h, v.day_zero) {
        (None, _) => "–".to_string(),
        (Some(h), None) => format!("{h:.0}"),
        (Some(h), Some(d0)) => {
            let days = (h / 24.0).round() as i64;
            let day = d0 + chrono::Days::new(days.max(0) as u64);
            format!("{} (D+{days})", day.format("%d/%m"))
        }
    }
}

/// The header of a lead-time column: `what` in hours, or in days for a daily forecast.
fn lead_header(what: Words, v: &HazardView, lang: Lang) -> String {
    let unit = if v.day_zero.is_some() {
        lang.pick("dia", "day")
    } else {
        "h"
    };
    format!("{} ({unit})", lang.pick(what.0, what.1))
}

/// Renders the sheet of `plan` with its hazard's parts.
fn render(plan: &Plan, v: &HazardView, layers: &Layers, opts: &SheetOptions) -> String {
    let lang = opts.lang;
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let leads: BTreeMap<&str, f64> = v.arrival_h.iter().map(|(k, h)| (k.as_str(), *h)).collect();
    let mut h = String::new();
    let title = format!(
        "{} — {}",
        t("Plano de acolhimento", "Accommodation plan"),
        esc(&v.title)
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
        t(v.forecast_label.0, v.forecast_label.1),
        esc(&v.forecast_of),
        t("Versão do alerta", "Alert version"),
        opts.version_id
            .as_deref()
            .map_or_else(|| t("(não publicada)", "(not published)").to_string(), esc),
        t("Registo de centros", "Centre register"),
        esc(&plan.register_source),
        t("Preparado em", "Prepared at"),
        maputo_time(opts.generated_at, lang),
    );
    h.push_str(&v.trigger);
    let _ = writeln!(
        h,
        "<div class=map>{}</div>",
        map::map_svg(plan, &v.overlay, layers, lang)
    );
    let names: BTreeMap<&str, &str> = layers
        .districts
        .iter()
        .map(|d| (d.pcode.as_str(), d.name.as_str()))
        .collect();
    sections::district_table(&mut h, plan, v, &leads, lang);
    sections::fractions_table(&mut h, plan, lang);
    sections::centres_to_open(&mut h, plan, v, &names, &leads, lang);
    sections::unsafe_centres(&mut h, plan, &names, lang);
    sections::origins_first(&mut h, plan, v, &names, &leads, lang);
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

/// Screen and A4 print: the tables break across pages, their headers repeat.
const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:11px;margin:16px;color:#111}\
h1{font-size:18px;margin:0 0 6px}h2{font-size:14px;margin:14px 0 4px}\
.demo{background:#fff3cd;border:2px solid #b58100;padding:6px;font-weight:bold}\
table{border-collapse:collapse}table.grid{width:100%}\
.grid th,.grid td{border:1px solid #bbb;padding:2px 4px;text-align:right}\
.grid td.t{text-align:left}.fractions td{white-space:nowrap}.fractions td.t{white-space:normal}\
.meta th{text-align:left;padding-right:8px}.r{color:#555;font-size:10px}\
.lv.red{background:#d7301f;color:#fff}.lv.orange{background:#fc8d59}.lv.yellow{background:#fee08b}\
.lv.green{background:#d9f0d3}.gap{font-weight:bold;color:#b2182b}\
.trigger{border-left:4px solid #5e3c99;padding-left:6px}.map svg{max-width:100%;height:auto}\
thead{display:table-header-group}tr{page-break-inside:avoid}\
@page{size:A4;margin:12mm}@media print{body{margin:0}}";
