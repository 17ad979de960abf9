//! A plain-text summary of an assessment for an INGD duty officer (`--format table`).
//!
//! Pure: returns a String. Portuguese labels first, English after the slash; times in UTC
//! and in Maputo time (CAT, UTC+2, no daylight saving).

use std::fmt::Write;

use chrono::{DateTime, FixedOffset, Utc};

use crate::alerts::assess::Assessment;
use crate::domain::text::group_thousands;
use crate::exposure::PeopleMethod;

fn cat(t: DateTime<Utc>) -> String {
    // ok: 2 h is always a valid offset; fall back to UTC if the constructor ever refuses.
    match FixedOffset::east_opt(2 * 3600) {
        Some(off) => format!(
            "{} UTC ({} CAT)",
            t.format("%Y-%m-%d %H:%M"),
            t.with_timezone(&off).format("%d/%m %H:%M")
        ),
        None => format!("{} UTC", t.format("%Y-%m-%d %H:%M")),
    }
}

fn people(n: f64) -> String {
    group_thousands(n.round(), ' ')
}

/// Renders the summary.
pub fn render(a: &Assessment) -> String {
    let f = &a.forecast;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "AVISO — {} ({}) — {}",
        f.storm.name,
        f.storm.id,
        f.source.label()
    );
    let _ = writeln!(
        s,
        "Emitido / issued: {}   Referência / reference: {}",
        cat(f.issued),
        cat(f.reference_time)
    );
    let _ = writeln!(s, "Origem / source file: {}", f.origin);
    match a.event_level {
        Some(l) => {
            let _ = writeln!(
                s,
                "NÍVEL DO EVENTO / EVENT LEVEL: {} / {} — {}",
                l.name_pt().to_uppercase(),
                l.name_en(),
                l.meaning_pt()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "NÍVEL DO EVENTO / EVENT LEVEL: nenhum distrito afectado / no district affected"
            );
        }
    }
    if let Some(w) = f.peak_forecast_wind_10min() {
        let _ = writeln!(
            s,
            "Vento máximo previsto / peak forecast wind: {:.0} kt ({:.0} km/h, 10-min)",
            w.0,
            w.to_kmh()
        );
    }
    match &a.hazard.landfall {
        Some(l) => {
            let _ = writeln!(
                s,
                "Chegada a terra / landfall: {} (+{:.0} h) at {:.2}°E {:.2}°S{}",
                cat(l.time),
                l.lead_time_h,
                l.lon,
                -l.lat,
                l.wind_kt
                    .map(|w| format!(", {w:.0} kt"))
                    .unwrap_or_default()
            );
        }
        None if a.over_land_at_reference => {
            let _ = writeln!(
                s,
                "Chegada a terra / landfall: já em terra / already over land"
            );
        }
        None => {
            let _ = writeln!(
                s,
                "Chegada a terra / landfall: não prevista / none forecast"
            );
        }
    }
    let _ = writeln!(
        s,
        "Gatilho AA / AA trigger: {} — {} [{}]",
        a.trigger.state.label(),
        a.trigger.reason,
        a.trigger.version
    );
    for t in &a.exposure.national {
        let _ = writeln!(
            s,
            "  ≥{:>3} kt: {:>11} pessoas em risco / people at risk in {} distritos / districts",
            t.threshold_kt,
            people(t.people_at_risk),
            t.districts
        );
    }
    let _ = writeln!(s);
    let thresholds: Vec<f64> = a.exposure.national.iter().map(|t| t.threshold_kt).collect();
    let mut header = format!("{:<14} {:<29} {:<9}", "Província", "Distrito", "Nível");
    for t in &thresholds {
        let _ = write!(header, " {:>11}", format!("≥{t}kt pess."));
    }
    let _ = write!(header, " {:>8}  pontos / points inside", "chegada");
    let _ = writeln!(s, "{header}");
    let mut rows: Vec<_> = a.exposure.districts.iter().collect();
    rows.sort_by(|x, y| {
        let lx = a.levels.get(&x.pcode).map(|l| l.level);
        let ly = a.levels.get(&y.pcode).map(|l| l.level);
        ly.cmp(&lx).then(
            y.widest()
                .map(|w| w.people_at_risk)
                .unwrap_or(0.0)
                .total_cmp(&x.widest().map(|w| w.people_at_risk).unwrap_or(0.0)),
        )
    });
    for d in rows {
        let level = a
            .levels
            .get(&d.pcode)
            .map(|l| l.level.name_pt())
            .unwrap_or("-");
        let mut line = format!(
            "{:<14} {:<29} {:<9}",
            d.province_name.as_deref().unwrap_or("?"),
            format!("{} {}", d.pcode, d.name),
            level
        );
        for t in &thresholds {
            let v = match d.at(*t) {
                Some(w) if w.method == PeopleMethod::NoPopulation => "?".to_string(),
                Some(w) => people(w.people_at_risk),
                None => "-".to_string(),
            };
            let _ = write!(line, " {v:>11}");
        }
        let arrival = d
            .widest()
            .map(|w| format!("+{:.0}h", w.lead_time_h))
            .unwrap_or_else(|| "cone".into());
        let pts = d
            .widest()
            .map(|w| {
                w.points_inside
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let _ = write!(line, " {arrival:>8}  {pts}");
        let _ = writeln!(s, "{line}");
    }
    let sites: Vec<_> = a.exposure.points.iter().collect();
    if !sites.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Pontos em risco / points at risk: {}", sites.len());
        for p in sites.iter().take(25) {
            let shelter = p
                .safe_shelters
                .first()
                .map(|x| {
                    format!(
                        " → abrigo seguro / safe shelter: {} ({:.0} km)",
                        x.name, x.distance_km
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:<22} {:<28} {:<7} ≥{} kt +{:.0}h{}",
                p.kind.label_pt(),
                p.name,
                p.district_pcode.as_deref().unwrap_or("?"),
                p.max_threshold_kt,
                p.lead_time_h,
                shelter
            );
        }
        if sites.len() > 25 {
            let _ = writeln!(s, "  … +{} (ver GeoJSON / see GeoJSON)", sites.len() - 25);
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Métodos / methods:");
    for n in &a.hazard.notes {
        let _ = writeln!(s, "  - {n}");
    }
    let _ = writeln!(s, "  - {}", a.exposure.method_note);
    let _ = writeln!(s, "  - níveis / levels: {}", a.levels_version);
    let _ = writeln!(
        s,
        "  - ? = população desconhecida / population unknown; - = não atingido / not reached"
    );
    s
}
