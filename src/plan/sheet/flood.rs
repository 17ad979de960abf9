//! The flood's parts of the contingency sheet: the forecast (or flood map) in the title,
//! the trigger state (the stations at a level: their return-period thresholds, the highest
//! ensemble probability of exceeding each, first day at the level and peak, the districts
//! they reach; or the flood map's polygons), per district the first day at its level and
//! the peak, the flood areas and stations on the map, the flood level at each origin.
//!
//! Days, not hours: the station forecast is daily. A district's arrival is the first day
//! any of its stations is at the district's level (`FloodDistrict::first_date`); its peak
//! is the earliest peak day among those stations (the most urgent one, when a district is
//! reached by two rivers). Day D+0 is the issue day.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use chrono::NaiveDate;

use super::map::{AreaStyle, Mark, Overlay};
use super::{HazardView, SheetOptions, esc, lead, level_cell, render};
use crate::alerts::assess_flood::FloodAssessment;
use crate::alerts::levels::Level;
use crate::domain::text::{Lang, maputo_time};
use crate::domain::{FloodForecast, FloodLevel, Layers};
use crate::plan::Plan;
use crate::plan::flood::flood_areas_over;

/// Renders the sheet of a flood version's plan (station forecast or flood map).
pub fn flood_sheet_html(
    plan: &Plan,
    a: &FloodAssessment,
    layers: &Layers,
    opts: &SheetOptions,
) -> String {
    render(plan, &view(plan, a, layers, opts.lang), layers, opts)
}

/// A station's name as people read it: the files' underscores as spaces
/// ("Limpopo__Combomune" is "Limpopo Combomune"), as the map writes it.
fn station_name(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Hours from the issue day's 00:00 to a valid day's.
fn hours(d0: NaiveDate, d: NaiveDate) -> f64 {
    (d - d0).num_days() as f64 * 24.0
}

fn flood_level_name(l: FloodLevel, lang: Lang) -> &'static str {
    match lang {
        Lang::Pt => l.name_pt(),
        Lang::En => l.name_en(),
    }
}

fn view(plan: &Plan, a: &FloodAssessment, layers: &Layers, lang: Lang) -> HazardView {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let forecast = a.forecast();
    let day_zero = forecast.map(|f| f.issue_date);
    let mut arrival_h = BTreeMap::new();
    let mut peak_h = BTreeMap::new();
    if let Some(d0) = day_zero {
        // The first day at the district's level, as the plan's table has it.
        for d in &plan.districts {
            if let Some(h) = d.arrival_h {
                arrival_h.insert(d.pcode.clone(), h);
            }
        }
        for d in &a.districts {
            let peak = a
                .outlooks
                .iter()
                .filter(|o| d.stations.contains(&o.station_id))
                .filter(|o| o.max_level == Some(d.flood_level))
                .filter_map(|o| o.peak_date)
                .min();
            if let Some(p) = peak {
                peak_h.insert(d.pcode.clone(), hours(d0, p));
            }
        }
    }
    let mut legend = vec![(
        Mark::Area(AreaStyle::Water),
        match forecast {
            Some(_) => t("área de cheia prevista", "forecast flood area"),
            None => t("área inundada (mapa)", "flooded area (map)"),
        }
        .to_string(),
    )];
    let stations: Vec<(f64, f64)> = forecast
        .map(|f| {
            f.stations
                .iter()
                .filter(|s| a.station_levels.contains_key(&s.id))
                .map(|s| (s.lon, s.lat))
                .collect()
        })
        .unwrap_or_default();
    if forecast.is_some() {
        legend.push((
            Mark::Station,
            t("estação acima de um limiar", "station above a threshold").to_string(),
        ));
    }
    let overlay = Overlay {
        areas: flood_areas_over(a, &layers.districts)
            .into_iter()
            .map(|(g, _)| (g, AreaStyle::Water))
            .collect(),
        track: None,
        stations,
        legend,
    };
    let (title, forecast_label, forecast_of) = match (forecast, a.extent()) {
        (Some(f), _) => (
            format!(
                "{} {}",
                t("cheias — previsão fluvial de", "floods — river forecast of"),
                f.issue_date.format("%d/%m/%Y")
            ),
            ("Previsão emitida em", "Forecast issued on"),
            f.issue_date.format("%d/%m/%Y").to_string(),
        ),
        (None, Some(e)) => (
            format!(
                "{} {}",
                t("cheias — mapa de inundação", "floods — flood map"),
                e.origin
            ),
            ("Mapa avaliado em", "Map assessed at"),
            maputo_time(a.generated_at, lang),
        ),
        (None, None) => (
            t("cheias", "floods").to_string(),
            ("Avaliado em", "Assessed at"),
            maputo_time(a.generated_at, lang),
        ),
    };
    let mut v = HazardView {
        title,
        forecast_label,
        forecast_of,
        trigger: String::new(),
        arrival_h,
        peak_h: day_zero.map(|_| peak_h),
        day_zero,
        no_population: plan
            .districts
            .iter()
            .filter(|d| d.districts_population_unknown > 0)
            .map(|d| d.pcode.clone())
            .collect::<BTreeSet<_>>(),
        quiet_note: (
            "distritos sem nível de cheia (listados por terem centros do registo na área de \
             cheia) não estão na tabela; contam no total.",
            "districts with no flood level (listed for register centres inside the flood \
             area) are not in the table; they count in the total.",
        ),
        intensity_header: ("Nível de cheia", "Flood level"),
        intensity: |rank, lang| {
            Level::ALL
                .into_iter()
                .find(|l| f64::from(*l as u8) == rank)
                .map_or("–", |l| l.name(lang))
                .to_string()
        },
        overlay,
    };
    v.trigger = match forecast {
        Some(f) => stations_trigger(a, f, &v, lang),
        None => extent_trigger(a, lang),
    };
    v
}

/// The event level in words, for the trigger line.
fn event_level(a: &FloodAssessment, lang: Lang) -> String {
    a.event_level.map_or_else(
        || lang.pick("nenhum", "none").to_string(),
        |l| l.name(lang).to_uppercase(),
    )
}

fn stations_trigger(a: &FloodAssessment, f: &FloodForecast, v: &HazardView, lang: Lang) -> String {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let members = f.days.iter().map(|d| d.total_members).max().unwrap_or(0);
    let mut at_level: Vec<_> = a
        .outlooks
        .iter()
        .filter(|o| o.max_level.is_some())
        .collect();
    // Highest level first, then the soonest first day at it.
    at_level.sort_by(|x, y| {
        y.max_level.cmp(&x.max_level).then_with(|| {
            let first = |o: &crate::hazard::flood::StationOutlook| {
                o.max_level.and_then(|l| o.first_date.get(l))
            };
            first(x).cmp(&first(y))
        })
    });
    let mut h = format!(
        "<p class=trigger><b>{}:</b> {} {} — {} {} {} {}. {} {} % {} {members} {} ({}).</p>\n",
        t("Estado do gatilho (cheias)", "Trigger state (floods)"),
        t("nível do evento", "event level"),
        event_level(a, lang),
        at_level.len(),
        t("de", "of"),
        f.stations.len(),
        t("estações atingem um limiar", "stations reach a threshold"),
        t(
            "Um limiar conta como atingido num dia quando pelo menos",
            "A threshold counts as reached on a day when at least"
        ),
        a.min_probability_pct,
        t("dos", "of the"),
        t(
            "membros do conjunto o excedem",
            "ensemble members exceed it"
        ),
        esc(&a.rule_version),
    );
    let _ = writeln!(
        h,
        "<p class=r>{}</p>",
        t(
            "Limiares de caudal por estação (m³/s): margens cheias / moderada / severa; em \
             produtos GloFAS são os caudais de período de retorno de cerca de 2, 5 e 20 anos. \
             Probabilidade: a maior, ao longo da previsão, de o caudal exceder cada limiar.",
            "Discharge thresholds per station (m³/s): bankfull / moderate / severe; in GloFAS \
             products they are the flows of about the 2-, 5- and 20-year return periods. \
             Probability: the highest, over the forecast, of the flow exceeding each threshold."
        )
    );
    let _ = writeln!(
        h,
        "<table class=\"grid stations\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t("Estação", "Station"),
        t("Rio · bacia", "River · basin"),
        t("Limiares (m³/s)", "Thresholds (m³/s)"),
        t("Prob. máx. de exceder", "Max. probability of exceeding"),
        t("Nível", "Level"),
        t("Primeiro dia no nível", "First day at the level"),
        t("Pico", "Peak"),
        t("Distritos", "Districts"),
    );
    let d0 = f.issue_date;
    for o in &at_level {
        let Some(s) = f.station(&o.station_id) else {
            continue;
        };
        let impact = a.impact_areas.get(&s.id);
        let max_p = |l: FloodLevel| {
            o.days
                .iter()
                .map(|d| d.probability.get(l))
                .fold(0.0_f64, f64::max)
                * 100.0
        };
        let day = |d: Option<NaiveDate>| lead(d.map(|d| hours(d0, d)), v);
        let level = o.max_level.map_or_else(
            || "–".to_string(),
            |l| flood_level_name(l, lang).to_string(),
        );
        let districts: Vec<&str> = impact
            .map(|i| i.districts.iter().map(|d| d.pcode.as_str()).collect())
            .unwrap_or_default();
        let names: Vec<String> = districts
            .iter()
            .map(|p| {
                a.districts
                    .iter()
                    .find(|d| d.pcode == *p)
                    .map_or_else(|| p.to_string(), |d| d.name.clone())
            })
            .collect();
        let th = s.thresholds_m3s;
        let _ = writeln!(
            h,
            "<tr><td class=t>{} <span class=r>{}</span></td><td class=t>{}{}</td>\
             <td>{:.0} / {:.0} / {:.0}</td><td>{:.0} / {:.0} / {:.0} %</td>{}<td>{}</td><td>{}</td>\
             <td class=t>{}</td></tr>",
            esc(&station_name(&s.name)),
            esc(&s.id),
            esc(&s.river),
            impact
                .and_then(|i| i.basin.as_deref())
                .map_or_else(String::new, |b| format!(" · {}", esc(b))),
            th.bankfull,
            th.moderate,
            th.severe,
            max_p(FloodLevel::Bankfull),
            max_p(FloodLevel::Moderate),
            max_p(FloodLevel::Severe),
            match a.station_levels.get(&s.id) {
                Some(l) => format!("<td class=\"lv {}\">{}</td>", l.name_en(), esc(&level)),
                None => level_cell(None, lang),
            },
            day(o.max_level.and_then(|l| o.first_date.get(l))),
            day(o.peak_date),
            esc(&names.join(", ")),
        );
    }
    h.push_str("</tbody></table>\n");
    let below = f.stations.len().saturating_sub(at_level.len());
    if below > 0 {
        let _ = writeln!(
            h,
            "<p>{below} {}</p>",
            t(
                "estações sem nenhum limiar atingido (ver o alerta para o detalhe diário).",
                "stations reach no threshold (the alert has the daily detail)."
            )
        );
    }
    h
}

fn extent_trigger(a: &FloodAssessment, lang: Lang) -> String {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let Some(e) = a.extent() else {
        return String::new();
    };
    let levels: Vec<String> = e
        .levels
        .iter()
        .map(|l| format!("{} {:.1} km²", flood_level_name(l.level, lang), l.area_km2))
        .collect();
    format!(
        "<p class=trigger><b>{}:</b> {} {} — {} {} {}, {:.1} km² ({}). {}</p>\n",
        t("Estado do gatilho (cheias)", "Trigger state (floods)"),
        t("nível do evento", "event level"),
        event_level(a, lang),
        esc(&e.origin),
        e.footprints.len(),
        t("polígonos", "polygons"),
        e.area_km2,
        esc(&levels.join("; ")),
        esc(&a.rule_version),
    )
}
