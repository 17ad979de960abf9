//! The CAP 1.2 document of a flood alert version: the structure of the cyclone CAP
//! ([`super::cap`]: header, one `info` per language, one `area` per level with polygons and
//! ADM2/ADM1 geocodes, `references` on Update and Cancel) with flood wording and grading.
//!
//! Pure: returns the document as a `String`; must not depend on I/O.
//!
//! - `category` Met: CAP 1.2 §3.2.2 lists "Met – Meteorological (inc. flood)"; Env is
//!   "pollution and other environmental", which a river flood is not.
//! - `event`: "Cheia" (a river in flood: a station forecast) or "Inundação" (land under
//!   water: a flood map) in Portuguese, "Flood" in English.
//! - Grading: severity, urgency and responseType as for cyclones ([`super::cap::grading`]:
//!   red Extreme, orange Severe, yellow Moderate; urgency from the lead time to the first
//!   day at the event's level, counted from the forecast's issue date). Certainty from the
//!   ensemble: Likely when more than half of the members exceed the event's threshold on
//!   some day at a station raising it (CAP: Likely "p > ~50 %"), else Possible. A flood map
//!   shows water already there: Immediate and Observed.
//! - Area polygons: for a station forecast, the districts at that level (the impact area is
//!   made of districts); for a flood map, its polygons of the flood levels raising that
//!   alert level.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use geo::MultiPolygon;

use super::cap::{
    CapError, CapOptions, InfoParts, Lang, cap_polygons, changes_line, expires_at, grading,
    headline_for, level_lines, people, write_cap,
};
use super::levels::Level;
use super::versioning::{AlertVersion, MsgType, PublishedDistrict};
use crate::alerts::assess_flood::{FloodAssessment, FloodSource};
use crate::domain::{FloodForecast, FloodLevel, Layers};
use crate::hazard::geodesy::{difference, union_multi};

/// CAP options for flood alerts: `sender_name` is the alerting authority (`[service]
/// sender_name`), `expires_after_h` is `flood.cap_expires_after_h`.
pub fn flood_cap_options(
    web: Option<String>,
    expires_after_h: f64,
    sender_name: &str,
) -> CapOptions {
    CapOptions {
        sender_name: sender_name.to_string(),
        web,
        expires_after_h,
        ..CapOptions::default()
    }
}

/// The districts a flood assessment puts on the ladder, with their names (what a version
/// records and the next one is compared with).
pub fn flood_districts_of(a: &FloodAssessment) -> BTreeMap<String, PublishedDistrict> {
    a.district_levels
        .iter()
        .map(|(pcode, level)| {
            let d = a.districts.iter().find(|d| &d.pcode == pcode);
            (
                pcode.clone(),
                PublishedDistrict {
                    name: d.map(|d| d.name.clone()).unwrap_or_else(|| pcode.clone()),
                    province_pcode: d.and_then(|d| d.province_pcode.clone()),
                    level: *level,
                },
            )
        })
        .collect()
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Writes the CAP 1.2 document of flood assessment `a` as version `v`. `layers` give the
/// district outlines of station-forecast areas.
pub fn flood_cap_document(
    a: &FloodAssessment,
    v: &AlertVersion,
    layers: &Layers,
    opts: &CapOptions,
) -> Result<String, CapError> {
    let cancel = v.msg_type.withdraws();
    let event_level = if cancel { None } else { a.event_level };
    let on_ladder = |pcode: &str| v.districts.contains_key(pcode);
    let first_date = a
        .districts
        .iter()
        .filter(|d| on_ladder(&d.pcode))
        .filter_map(|d| d.first_date)
        .min();
    let (reference, event, subject, lead_h) = match &a.source {
        FloodSource::Stations(f) => (
            midnight(f.issue_date),
            ["Cheia", "Flood"],
            [
                format!("Cheia — previsão de {}", f.issue_date),
                format!("Flood — forecast of {}", f.issue_date),
            ],
            first_date.map(|d| (d - f.issue_date).num_hours() as f64),
        ),
        FloodSource::Extent(e) => {
            let file = std::path::Path::new(&e.origin)
                .file_name()
                .map_or(e.origin.clone(), |n| n.to_string_lossy().to_string());
            (
                a.generated_at,
                ["Inundação", "Flood"],
                [
                    format!("Inundação — mapa {file}"),
                    format!("Flood — map {file}"),
                ],
                Some(0.0),
            )
        }
    };
    let expires = expires_at(reference, v.sent, opts.expires_after_h, &v.identifier)?;
    let mut g = grading(v.msg_type, event_level, lead_h);
    if !cancel {
        g.certainty = match &a.source {
            FloodSource::Extent(_) => "Observed",
            FloodSource::Stations(_) if max_probability(a, event_level) > 0.5 => "Likely",
            FloodSource::Stations(_) => "Possible",
        };
    }
    let mut parameters: Vec<(&'static str, String)> = vec![
        ("aviso:version", v.version.to_string()),
        (
            "aviso:event_level",
            event_level.map_or("none".to_string(), |l| l.name_en().to_string()),
        ),
        ("aviso:hazard", "flood".to_string()),
        ("aviso:level_rule", a.rule_version.clone()),
    ];
    match &a.source {
        FloodSource::Stations(f) => {
            parameters.push(("aviso:flood_source", "stations".to_string()));
            parameters.push(("aviso:issue_date", f.issue_date.to_string()));
            let at_level: Vec<&str> = a
                .outlooks
                .iter()
                .filter(|o| o.max_level.is_some())
                .map(|o| o.station_id.as_str())
                .collect();
            parameters.push(("aviso:stations_at_level", at_level.join(",")));
        }
        FloodSource::Extent(e) => {
            parameters.push(("aviso:flood_source", "extent".to_string()));
            parameters.push(("aviso:extent_file", e.origin.clone()));
        }
    }
    let levels: Vec<Level> = super::cap::by_level(v).keys().map(|l| l.0).collect();
    let polygons = levels
        .iter()
        .filter_map(|l| {
            let g = level_area(a, layers, v, *l)?;
            Some((*l, cap_polygons(&g, opts.max_polygon_vertices)))
        })
        .collect();
    let parts = InfoParts {
        event,
        grading: g,
        onset: first_date.filter(|_| !cancel).map(midnight),
        expires,
        headline: Lang::ALL
            .map(|l| headline_for(l, v, event_level, subject.each_ref().map(String::as_str))),
        description: Lang::ALL.map(|l| description(l, a, v)),
        instruction: Lang::ALL
            .map(|l| super::cap::with_extra(instruction(l, v.msg_type, event_level), opts, l)),
        parameters,
        polygons,
    };
    write_cap(v, opts, &parts)
}

/// The highest share of members exceeding, on any day, the threshold of a station whose
/// highest level raises the event level.
fn max_probability(a: &FloodAssessment, event_level: Option<Level>) -> f64 {
    if a.forecast().is_none() {
        return 0.0;
    }
    a.outlooks
        .iter()
        .filter_map(|o| {
            let l = o.max_level?;
            (Some(a.ladder.of(l)) == event_level).then(|| {
                o.days
                    .iter()
                    .map(|d| d.probability.get(l))
                    .fold(0.0, f64::max)
            })
        })
        .fold(0.0, f64::max)
}

/// The area of one alert level: the flood map's polygons of the flood levels that raise
/// it, or the outlines of the level's districts for a station forecast.
fn level_area(
    a: &FloodAssessment,
    layers: &Layers,
    v: &AlertVersion,
    level: Level,
) -> Option<MultiPolygon<f64>> {
    let g = match &a.source {
        FloodSource::Extent(e) => {
            let map = union_multi(
                e.levels
                    .iter()
                    .filter(|l| a.ladder.of(l.level) == level)
                    .map(|l| &l.geometry),
            );
            // Districts whose level a person set (issue 13): their outline is the area
            // of their level, and the map's water inside them leaves the others.
            let by_hand: Vec<_> = layers
                .districts
                .iter()
                .filter(|d| a.set_by_hand(&d.pcode))
                .collect();
            if by_hand.is_empty() {
                map
            } else {
                let cut = union_multi(by_hand.iter().map(|d| &d.geometry));
                let rest = difference(&map, &cut);
                union_multi(
                    std::iter::once(&rest).chain(
                        by_hand
                            .iter()
                            .filter(|d| v.districts.get(&d.pcode).is_some_and(|p| p.level == level))
                            .map(|d| &d.geometry),
                    ),
                )
            }
        }
        FloodSource::Stations(_) => union_multi(
            layers
                .districts
                .iter()
                .filter(|d| v.districts.get(&d.pcode).is_some_and(|p| p.level == level))
                .map(|d| &d.geometry),
        ),
    };
    (!g.0.is_empty()).then_some(g)
}

fn station_lines(lang: Lang, a: &FloodAssessment, f: &FloodForecast) -> Vec<String> {
    let name = |l: FloodLevel| match lang {
        Lang::Pt => l.name_pt(),
        Lang::En => l.name_en(),
    };
    a.outlooks
        .iter()
        .filter_map(|o| {
            let l = o.max_level?;
            let s = f.station(&o.station_id)?;
            let p = o
                .days
                .iter()
                .map(|d| d.probability.get(l))
                .fold(0.0, f64::max);
            let first = o.first_date.get(l).map(|d| d.to_string()).unwrap_or_default();
            let peak = o.peak_date.map(|d| d.to_string()).unwrap_or_default();
            Some(match lang {
                Lang::Pt => format!(
                    "Estação {} ({}, rio {}): {} a partir de {first}, pico {peak} ({:.0} % dos membros).",
                    s.id,
                    s.name,
                    s.river,
                    name(l),
                    p * 100.0
                ),
                Lang::En => format!(
                    "Station {} ({}, river {}): {} from {first}, peak {peak} ({:.0} % of members).",
                    s.id,
                    s.name,
                    s.river,
                    name(l),
                    p * 100.0
                ),
            })
        })
        .collect()
}

fn description(lang: Lang, a: &FloodAssessment, v: &AlertVersion) -> String {
    let t = |pt: &'static str, en: &'static str| lang.pick(pt, en);
    let mut lines: Vec<String> = Vec::new();
    match &a.source {
        FloodSource::Stations(f) => {
            lines.push(format!(
                "{} {}; {} {} % {}.",
                t(
                    "Previsão de caudais por estação (conjunto de membros), emitida",
                    "River-station ensemble discharge forecast, issued"
                ),
                f.issue_date,
                t("limiar atingido com ≥", "a threshold counts when ≥"),
                a.min_probability_pct,
                t("dos membros", "of members exceed it"),
            ));
            lines.extend(station_lines(lang, a, f));
        }
        FloodSource::Extent(e) => {
            lines.push(format!(
                "{} {}: {} {}, {:.0} km².",
                t("Mapa de inundação", "Flood map"),
                e.origin,
                e.footprints.len(),
                t("polígonos", "polygons"),
                e.area_km2
            ));
            if !a.points.is_empty() {
                lines.push(format!(
                    "{} {}.",
                    a.points.len(),
                    t(
                        "locais (unidades sanitárias, centros, sítios) dentro da área inundada",
                        "sites (health facilities, centres, sites) inside the flooded area"
                    )
                ));
            }
        }
    }
    lines.extend(level_lines(lang, v));
    let on_ladder: Vec<_> = a
        .districts
        .iter()
        .filter(|d| v.districts.contains_key(&d.pcode))
        .collect();
    let total: f64 = on_ladder.iter().filter_map(|d| d.people_at_risk).sum();
    if !on_ladder.is_empty() {
        lines.push(format!(
            "{} {} {} {}.",
            people(total),
            t("pessoas em risco em", "people at risk in"),
            on_ladder.len(),
            t("distritos", "districts"),
        ));
    }
    lines.extend(changes_line(lang, v));
    lines.join("\n")
}

fn instruction(lang: Lang, msg_type: MsgType, level: Option<Level>) -> &'static str {
    match (msg_type, level) {
        (MsgType::Cancel | MsgType::Error, _) | (_, None) => lang.pick(
            "O aviso de cheia terminou. Siga as orientações do INGD e das autoridades locais sobre o regresso às zonas baixas.",
            "The flood warning has ended. Follow INGD and local authorities on returning to low-lying areas.",
        ),
        (_, Some(Level::Red)) => lang.pick(
            "Nível vermelho: retire as pessoas das zonas baixas junto aos rios para centros de acomodação seguros; não atravesse águas em movimento; siga as ordens do INGD e dos COE.",
            "Red level: move people out of low-lying riverside areas to safe accommodation centres; do not cross moving water; follow INGD and the COEs.",
        ),
        (_, Some(Level::Orange)) => lang.pick(
            "Pré-posicione meios e barcos, prepare a evacuação das zonas baixas e identifique centros de acomodação seguros; siga as orientações do INGD.",
            "Pre-position resources and boats, prepare to evacuate low-lying areas and identify safe accommodation centres; follow INGD guidance.",
        ),
        (_, Some(Level::Yellow)) => lang.pick(
            "Atenção: acompanhe o nível dos rios e os avisos do INGD; afaste bens e animais das margens.",
            "Attention: watch river levels and INGD warnings; move goods and livestock away from the banks.",
        ),
        (_, Some(Level::Green)) => lang.pick(
            "Acompanhe as próximas previsões e os avisos do INGD.",
            "Monitor the next forecasts and INGD warnings.",
        ),
    }
}
