//! The sheet's tables, the same for every hazard: per district, the displacement
//! fractions and their sources, the centres to open in order, the centres the hazard
//! makes unsafe, and the places to evacuate first. Pure HTML strings.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{
    CENTRES_LISTED, HazardView, ORIGINS_LISTED, district_name, esc, lead, lead_header, level_cell,
    persons, range, table_end,
};
use crate::alerts::levels::Level;
use crate::domain::text::Lang;
use crate::plan::output::unsafe_reason;
use crate::plan::{AreaPlan, Plan};

pub(super) fn district_table(
    h: &mut String,
    plan: &Plan,
    v: &HazardView,
    leads: &BTreeMap<&str, f64>,
    lang: Lang,
) {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let peak_head = v.peak_h.as_ref().map_or_else(String::new, |_| {
        format!("<th>{}</th>", lead_header(("Pico", "Peak"), v, lang))
    });
    let _ = writeln!(
        h,
        "<h2>{}</h2><table class=grid><thead><tr><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th>{peak_head}<th>{}</th></tr></thead><tbody>",
        t("Por distrito", "By district"),
        t("Distrito", "District"),
        t("Nível", "Level"),
        t("Pessoas em risco", "People at risk"),
        t("Procura de acolhimento", "Shelter demand"),
        t("Capacidade segura livre", "Safe free capacity"),
        t("Défice", "Gap"),
        lead_header(("Chegada", "Arrival"), v, lang),
        t("Sem centro a ≤ {} km", "No centre within {} km")
            .replace("{}", &format!("{:.0}", plan.max_distance_km)),
    );
    // Districts with no level above green and no demand (a cyclone's cone only, a
    // district listed for an unsafe centre) would fill pages with zeros: counted.
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
        let unknown = v.no_population.contains(&d.pcode);
        let unknown_cell = t("sem dados de população", "no population figure");
        let peak = v.peak_h.as_ref().map_or_else(String::new, |p| {
            format!("<td>{}</td>", lead(p.get(&d.pcode).copied(), v))
        });
        let _ = writeln!(
            h,
            "<tr><td class=t>{} <span class=r>{}</span></td>{}<td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"{}\">{}</td><td>{}</td>{peak}<td>{}</td></tr>",
            esc(&d.name),
            esc(d.province_name.as_deref().unwrap_or("")),
            level_cell(d.level, lang),
            if unknown {
                unknown_cell.to_string()
            } else {
                range(d.people_at_risk, lang)
            },
            if unknown {
                unknown_cell.to_string()
            } else {
                range(d.demand, lang)
            },
            persons(d.safe_capacity, lang),
            if d.gap.central > 0.5 && !unknown {
                "gap"
            } else {
                ""
            },
            if unknown {
                "–".to_string()
            } else {
                range(d.gap, lang)
            },
            lead(leads.get(d.pcode.as_str()).copied(), v),
            d.origins_without_centre,
        );
    }
    let n = &plan.national;
    let _ = writeln!(
        h,
        "</tbody><tfoot><tr><th>{}</th>{}<th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th>{}\
         <th>{}</th></tr></tfoot></table>",
        t("Total", "Total"),
        level_cell(n.level, lang),
        range(n.people_at_risk, lang),
        range(n.demand, lang),
        persons(n.safe_capacity, lang),
        range(n.gap, lang),
        if v.peak_h.is_some() { "<th></th>" } else { "" },
        n.origins_without_centre,
    );
    if !quiet.is_empty() {
        let _ = writeln!(
            h,
            "<p>{} {}</p>",
            quiet.len(),
            t(v.quiet_note.0, v.quiet_note.1)
        );
    }
}

/// The displacement fractions of the plan's hazard per level, with their sources.
pub(super) fn fractions_table(h: &mut String, plan: &Plan, lang: Lang) {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let _ = writeln!(
        h,
        "<h2>{}</h2><table class=\"grid fractions\"><thead><tr><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th></tr></thead><tbody>",
        t(
            "Frações de deslocação (procura = pessoas em risco × fração)",
            "Displacement fractions (demand = people at risk × fraction)"
        ),
        t("Nível", "Level"),
        t("Baixa", "Low"),
        t("Central", "Central"),
        t("Alta", "High"),
        t("Fonte", "Source"),
    );
    let mut fractions: Vec<_> = plan.fractions.iter().collect();
    fractions.sort_by_key(|f| std::cmp::Reverse(f.level));
    let pct = |f: f64| format!("{:.1} %", f * 100.0);
    for f in fractions {
        let _ = writeln!(
            h,
            "<tr>{}<td>{}</td><td>{}</td><td>{}</td><td class=t>{}</td></tr>",
            level_cell(Some(f.level), lang),
            pct(f.low),
            pct(f.central),
            pct(f.high),
            esc(&f.source)
        );
    }
    h.push_str("</tbody></table>\n");
}

pub(super) fn centres_to_open(
    h: &mut String,
    plan: &Plan,
    v: &HazardView,
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
        lead_header(("Primeira chegada", "First arrival"), v, lang),
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
                    .filter(|l| l.is_finite()),
                v
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

/// The register's centres inside the hazard's area: not to be opened (and, if occupied,
/// to be emptied), the largest first.
pub(super) fn unsafe_centres(
    h: &mut String,
    plan: &Plan,
    names: &BTreeMap<&str, &str>,
    lang: Lang,
) {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let mut out: Vec<_> = plan.centres.iter().filter(|c| !c.safe).collect();
    out.sort_by(|x, y| {
        y.capacity
            .unwrap_or(0.0)
            .total_cmp(&x.capacity.unwrap_or(0.0))
            .then_with(|| x.code.cmp(&y.code))
    });
    let _ = writeln!(
        h,
        "<h2>{} ({})</h2><table class=\"grid unsafe\"><thead><tr><th>#</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t(
            "Centros inseguros: dentro da área do perigo, não abrir",
            "Unsafe centres: inside the hazard's area, do not open"
        ),
        out.len(),
        t("Centro", "Centre"),
        t("Distrito", "District"),
        t("Capacidade", "Capacity"),
        t("Ocupação", "Occupancy"),
        t("Porquê", "Why"),
    );
    for (i, c) in out.iter().take(CENTRES_LISTED).enumerate() {
        let why = match (c.unsafe_threshold_kt, c.in_extra_unsafe_area) {
            (Some(kt), false) => format!("{} ≥ {kt:.0} kt", t("vento", "wind")),
            (None, true) => t("na área de cheia", "in the flood area").to_string(),
            (Some(kt), true) => format!(
                "{} ≥ {kt:.0} kt; {}",
                t("vento", "wind"),
                t("na área de cheia", "in the flood area")
            ),
            (None, false) => unsafe_reason(c).unwrap_or_default(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=t>{} <span class=r>{}</span></td><td class=t>{}</td>\
             <td>{}</td><td>{}</td><td class=t>{}</td></tr>",
            i + 1,
            esc(&c.name),
            esc(&c.code),
            esc(district_name(names, c.district_pcode.as_deref())),
            c.capacity
                .map_or_else(|| "–".to_string(), |p| persons(p, lang)),
            c.occupancy
                .map_or_else(|| "–".to_string(), |p| persons(p, lang)),
            esc(&why),
        );
    }
    table_end(
        h,
        out.len().saturating_sub(CENTRES_LISTED),
        t(
            "centros inseguros mais no GeoJSON do plano.",
            "more unsafe centres in the plan's GeoJSON.",
        ),
    );
}

pub(super) fn origins_first(
    h: &mut String,
    plan: &Plan,
    v: &HazardView,
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
        t(v.intensity_header.0, v.intensity_header.1),
        lead_header(("Chegada", "Arrival"), v, lang),
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
            "<tr><td>{}</td><td class=t>{} <span class=r>{}</span></td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=t>{}</td><td>{}</td><td class=t>{}</td></tr>",
            i + 1,
            esc(&o.name),
            esc(o.kind),
            (v.intensity)(o.max_threshold_kt, lang),
            lead(lead_of(o.district_pcode.as_deref()), v),
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
