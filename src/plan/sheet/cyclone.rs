//! The cyclone's parts of the contingency sheet: the storm in the title, the
//! anticipatory-action trigger, the arrival of the lowest-threshold wind per district, the
//! forecast track and swath on the map, the wind at each origin.

use std::collections::{BTreeMap, BTreeSet};

use geo::{Coord, LineString};

use super::map::{AreaStyle, Mark, Overlay};
use super::{HazardView, SheetOptions, esc, render};
use crate::alerts::assess::Assessment;
use crate::domain::text::{Lang, maputo_time};
use crate::domain::{FixKind, Layers};
use crate::exposure::PeopleMethod;
use crate::plan::Plan;

/// Renders the sheet of a cyclone forecast's plan.
pub fn sheet_html(plan: &Plan, a: &Assessment, layers: &Layers, opts: &SheetOptions) -> String {
    render(plan, &view(plan, a, opts.lang), layers, opts)
}

fn view(plan: &Plan, a: &Assessment, lang: Lang) -> HazardView {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    // Per district: hours from the forecast's reference time to the first arrival of the
    // lowest threshold wind (the widest footprint), as the plan's table has it.
    let arrival_h: BTreeMap<String, f64> = plan
        .districts
        .iter()
        .filter_map(|d| d.arrival_h.map(|h| (d.pcode.clone(), h)))
        .collect();
    let no_population: BTreeSet<String> = a
        .exposure
        .districts
        .iter()
        .filter(|d| {
            d.widest()
                .is_some_and(|w| w.method == PeopleMethod::NoPopulation)
        })
        .map(|d| d.pcode.clone())
        .chain(
            plan.districts
                .iter()
                .filter(|d| d.districts_population_unknown > 0)
                .map(|d| d.pcode.clone()),
        )
        .collect();
    let track: LineString<f64> = a
        .forecast
        .track
        .iter()
        .filter(|p| p.kind == FixKind::Forecast || p.kind == FixKind::Analysis)
        .map(|p| Coord { x: p.lon, y: p.lat })
        .collect();
    let swath = a.hazard.forecast_swaths.first();
    let mut overlay = Overlay {
        areas: swath
            .map(|s| (s.geometry.clone(), AreaStyle::Dashed))
            .into_iter()
            .collect(),
        track: Some(track),
        stations: Vec::new(),
        legend: vec![(
            Mark::Track,
            t("trajectória prevista", "forecast track").to_string(),
        )],
    };
    overlay.legend.push((
        Mark::Area(AreaStyle::Dashed),
        format!(
            "{} {:.0} kt",
            t("vento ≥", "wind ≥"),
            swath.map_or(0.0, |s| s.threshold_kt)
        ),
    ));
    HazardView {
        title: format!("{} {}", t("ciclone", "cyclone"), plan.storm),
        forecast_label: ("Previsão de", "Forecast of"),
        forecast_of: maputo_time(plan.reference_time, lang),
        trigger: trigger_section(a, lang),
        arrival_h,
        peak_h: None,
        day_zero: None,
        no_population,
        quiet_note: (
            "distritos só no cone de incerteza (verde, sem procura) não estão listados; \
             contam no total.",
            "districts only in the cone of uncertainty (green, no demand) are not listed; \
             they count in the total.",
        ),
        intensity_header: ("Vento máx. (kt, 10 min)", "Max wind (kt, 10-min)"),
        intensity: |kt, _| format!("{kt:.0}"),
        overlay,
    }
}

fn trigger_section(a: &Assessment, lang: Lang) -> String {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let tr = &a.trigger;
    let (pt, en) = tr
        .state
        .label()
        .split_once(" / ")
        .unwrap_or((tr.state.label(), ""));
    format!(
        "<p class=trigger><b>{}:</b> {}{}. {}</p>\n",
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
    )
}
