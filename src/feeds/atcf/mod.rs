//! JTWC/ATCF a-deck and b-deck text into a [`Forecast`]: one forecast aid ("tech") at its
//! latest cycle from an a-deck, or the whole best track (tech BEST) from a b-deck.
//!
//! Pure: bytes in, domain out; no file or network I/O.
//!
//! Format (NRL/JTWC "ATCF a-deck / b-deck" description; ../shared/DOMAIN.md): comma-separated,
//! whitespace-padded fields, one line per wind-radius threshold per time:
//! `BASIN, CY, YYYYMMDDHH, TECHNUM/MIN, TECH, TAU, LatN/S, LonE/W, VMAX, MSLP, TY, RAD,
//! WINDCODE, RAD1, RAD2, RAD3, RAD4, POUTER, ROUTER, RMW, GUSTS, EYE, SUBREGION, MAXSEAS,
//! INITIALS, DIR, SPEED, STORMNAME, ...`. Latitude/longitude are tenths of a degree with a
//! hemisphere letter ("196S", "0372E"); winds are 1-minute means in knots (JTWC practice);
//! radii in nautical miles clockwise from the quadrant WINDCODE names (NEQ: NE, SE, SW, NW),
//! or one radius for the full circle (AAA). Trailing fields are often absent (model aids stop
//! after MSLP or TY); a 0 in MSLP, POUTER, ROUTER, RMW, GUSTS or VMAX means "not given".
//!
//! Decisions:
//! - Default tech: JTWC, else OFCL, else BEST. With tech BEST (b-deck) every fix is an
//!   analysis and the reference time is the last fix; otherwise the latest cycle *of that
//!   tech* is used (a newer cycle holding only model aids does not hide the last warning),
//!   tau ≤ 0 is an analysis, tau > 0 a forecast, and the reference time is the cycle.
//! - ATCF has no issue time: `issued` is the cycle (a-deck) or the last fix (b-deck).
//! - A radius line whose four radii are all 0 is read as "radii not given" and dropped.
//! - Radii are stored at the threshold given (34/50/64, 1-minute thresholds); the hazard
//!   module maps 50 to its 48 kt bucket.
//! - Storm id "SH112023": basin + number + season year; for the southern hemisphere (SH) the
//!   season runs July–June and is named by the year it ends (JTWC: CHIDO, Dec 2024, is
//!   SH042025), so a first fix in July–December counts to the next year.
//!
//! The deck reader and the choice of technique are here; one line's fields (times,
//! tenths of a degree, units, the fix and its radii) are read in `fields`.

mod fields;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Utc};

use fields::*;
pub use fields::{parse_lat, parse_lon};

use super::{FeedError, Location, ParsedForecast, TrackFormat, check_lon_lat, sort_and_dedupe};
use crate::domain::{
    FixKind, Forecast, ForecastSource, Hectopascals, Knots, Motion, NauticalMiles, QuadrantRadii,
    StormId, TrackPoint, WindAveraging, WindRadii,
};

/// Field positions (0-based) in an ATCF deck line.
mod col {
    pub const BASIN: usize = 0;
    pub const CY: usize = 1;
    pub const DTG: usize = 2;
    pub const TECH: usize = 4;
    pub const TAU: usize = 5;
    pub const LAT: usize = 6;
    pub const LON: usize = 7;
    pub const VMAX: usize = 8;
    pub const MSLP: usize = 9;
    pub const TY: usize = 10;
    pub const RAD: usize = 11;
    pub const WINDCODE: usize = 12;
    pub const RAD1: usize = 13;
    pub const POUTER: usize = 17;
    pub const ROUTER: usize = 18;
    pub const RMW: usize = 19;
    pub const GUSTS: usize = 20;
    pub const DIR: usize = 25;
    pub const SPEED: usize = 26;
    pub const STORMNAME: usize = 27;
}

/// Techs tried, in order, when the caller names none: JTWC's official forecast (the SH
/// warning centre's a-decks call it "JTWC"), NHC-style "OFCL", then the best track.
pub const DEFAULT_TECHS: [&str; 3] = ["JTWC", "OFCL", "BEST"];

/// True when a line starts like an ATCF deck line: `^[A-Z]{2}, *\d{2}, *\d{10},`.
pub fn looks_like_atcf_line(line: &str) -> bool {
    let b = line.trim_start().as_bytes();
    let mut i = 0;
    let take = |i: &mut usize, n: usize, pred: fn(u8) -> bool| -> bool {
        let ok = b
            .get(*i..*i + n)
            .is_some_and(|w| w.iter().all(|&c| pred(c)));
        *i += n;
        ok
    };
    let skip_spaces = |i: &mut usize| {
        while b.get(*i) == Some(&b' ') {
            *i += 1;
        }
    };
    let comma = |i: &mut usize| -> bool {
        let ok = b.get(*i) == Some(&b',');
        *i += 1;
        ok
    };
    if !take(&mut i, 2, |c| c.is_ascii_uppercase()) || !comma(&mut i) {
        return false;
    }
    skip_spaces(&mut i);
    if !take(&mut i, 2, |c| c.is_ascii_digit()) || !comma(&mut i) {
        return false;
    }
    skip_spaces(&mut i);
    take(&mut i, 10, |c| c.is_ascii_digit())
        && b.get(i).is_some_and(|&c| c == b',' || c.is_ascii_digit())
}

/// A deck line split into trimmed fields, with its 1-based line number.
struct Line<'a> {
    number: u64,
    fields: Vec<&'a str>,
}

impl<'a> Line<'a> {
    fn get(&self, i: usize) -> &'a str {
        self.fields.get(i).copied().unwrap_or("")
    }
}

/// The fields every line must have to be grouped: storm, cycle, tech, tau.
struct Head {
    basin: String,
    cy: String,
    cycle: DateTime<Utc>,
    tech: String,
    tau_h: i64,
}

/// Parses an ATCF a-deck or b-deck. `tech` picks the aid (case-insensitive); `None` uses
/// [`DEFAULT_TECHS`].
pub fn parse(bytes: &[u8], origin: &str, tech: Option<&str>) -> Result<ParsedForecast, FeedError> {
    let text = String::from_utf8_lossy(super::strip_bom(bytes));
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = Line {
            number: i as u64 + 1,
            fields: raw.split(',').map(str::trim).collect(),
        };
        let head = parse_head(origin, &line)?;
        lines.push((line, head));
    }
    let Some((_, first)) = lines.first() else {
        return Err(FeedError::EmptyTrack {
            origin: origin.to_string(),
            expected: "ATCF deck line",
            found: "no lines".into(),
        });
    };
    let (basin, cy) = (first.basin.clone(), first.cy.clone());
    if let Some((l, h)) = lines.iter().find(|(_, h)| h.basin != basin || h.cy != cy) {
        return Err(FeedError::Invalid {
            origin: origin.to_string(),
            at: Location::Line(l.number),
            field: "BASIN, CY".into(),
            expected: format!("one storm per deck ({basin}{cy}, as on the first line)"),
            found: format!("{}{}", h.basin, h.cy),
        });
    }

    let mut techs: Vec<String> = Vec::new();
    for (_, h) in &lines {
        if !techs.contains(&h.tech) {
            techs.push(h.tech.clone());
        }
    }
    let chosen = match tech {
        Some(t) => techs
            .iter()
            .find(|x| x.eq_ignore_ascii_case(t.trim()))
            .cloned()
            .ok_or_else(|| FeedError::NoSuchTech {
                origin: origin.to_string(),
                wanted: t.trim().to_uppercase(),
                available: techs.join(", "),
            })?,
        None => DEFAULT_TECHS
            .iter()
            .find_map(|d| techs.iter().find(|x| x.as_str() == *d))
            .cloned()
            .ok_or_else(|| FeedError::NoSuchTech {
                origin: origin.to_string(),
                wanted: DEFAULT_TECHS.join(" or "),
                available: format!("{} (pass --tech to choose one)", techs.join(", ")),
            })?,
    };
    let best_track = chosen == "BEST";

    let selected: Vec<&(Line, Head)> = lines.iter().filter(|(_, h)| h.tech == chosen).collect();
    let latest_cycle = selected.iter().map(|(_, h)| h.cycle).max();
    let selected: Vec<&(Line, Head)> = if best_track {
        selected
    } else {
        selected
            .into_iter()
            .filter(|(_, h)| Some(h.cycle) == latest_cycle)
            .collect()
    };

    // Group the threshold lines of one time into one fix.
    let mut groups: BTreeMap<DateTime<Utc>, Vec<&(Line, Head)>> = BTreeMap::new();
    for item in &selected {
        let (_, h) = item;
        groups
            .entry(h.cycle + Duration::hours(h.tau_h))
            .or_default()
            .push(item);
    }
    let mut notes = Vec::new();
    let mut track = Vec::with_capacity(groups.len());
    let mut name: Option<String> = None;
    for (time, group) in groups {
        let mut point: Option<TrackPoint> = None;
        for (line, head) in group {
            let kind = if best_track || head.tau_h <= 0 {
                FixKind::Analysis
            } else {
                FixKind::Forecast
            };
            let fix = fix_from_line(origin, line, time, kind)?;
            let p = match point.as_mut() {
                // Every threshold line of a time repeats the fix; a different position means
                // a corrupted or mixed-up deck, not a second fix.
                Some(p) if (p.lat, p.lon) != (fix.lat, fix.lon) => {
                    return Err(FeedError::Invalid {
                        origin: origin.to_string(),
                        at: Location::Line(line.number),
                        field: "LatN/S, LonE/W".into(),
                        expected: format!(
                            "the position of the other lines for {time} ({}, {})",
                            p.lat, p.lon
                        ),
                        found: format!("({}, {})", fix.lat, fix.lon),
                    });
                }
                Some(p) => p,
                None => point.insert(fix),
            };
            if let Some(r) = radii_from_line(origin, line)? {
                if p.radii_for(r.threshold_kt).is_some() {
                    notes.push(format!(
                        "line {}: a second {} kt radius line for {time} was ignored",
                        line.number, r.threshold_kt
                    ));
                } else {
                    p.wind_radii.push(r);
                }
            }
            let n = line.get(col::STORMNAME);
            if !n.is_empty() {
                name = Some(n.to_uppercase());
            }
        }
        if let Some(mut p) = point {
            p.wind_radii
                .sort_by(|a, b| a.threshold_kt.total_cmp(&b.threshold_kt));
            track.push(p);
        }
    }
    sort_and_dedupe(&mut track);
    let (Some(first_fix), Some(last_fix)) = (track.first(), track.last()) else {
        return Err(FeedError::EmptyTrack {
            origin: origin.to_string(),
            expected: "fix",
            found: format!("no lines for tech {chosen}"),
        });
    };
    let reference_time = match (best_track, latest_cycle) {
        (false, Some(c)) => c,
        _ => last_fix.time,
    };
    let first_time = first_fix.time;
    let year = if basin == "SH" && first_time.month() >= 7 {
        first_time.year() + 1
    } else {
        first_time.year()
    };
    if !best_track {
        notes.push(format!(
            "ATCF tech {chosen}, cycle {reference_time} (latest cycle of that tech in the deck)"
        ));
    }
    let forecast = Forecast {
        source: ForecastSource::Atcf {
            tech: chosen.clone(),
        },
        origin: origin.to_string(),
        storm: StormId {
            name: name.unwrap_or_else(|| "UNNAMED".into()),
            id: format!("{basin}{cy}{year}"),
            basin,
            season: year.to_string(),
        },
        issued: reference_time,
        reference_time,
        wind_averaging: WindAveraging::OneMinute,
        track,
        cone: None,
    };
    Ok(ParsedForecast {
        forecast,
        format: TrackFormat::Atcf,
        notes,
    })
}

fn invalid(origin: &str, line: &Line, field: &str, expected: &str) -> FeedError {
    let found = line.fields.get(column_of(field)).copied();
    FeedError::Invalid {
        origin: origin.to_string(),
        at: Location::Line(line.number),
        field: field.to_string(),
        expected: expected.to_string(),
        found: match found {
            Some(v) => format!("{v:?}"),
            None => format!("a line of {} fields", line.fields.len()),
        },
    }
}

/// Field names as the ATCF description spells them, for messages.
fn column_of(field: &str) -> usize {
    match field {
        "BASIN" => col::BASIN,
        "CY" => col::CY,
        "YYYYMMDDHH" => col::DTG,
        "TECH" => col::TECH,
        "TAU" => col::TAU,
        "LatN/S" => col::LAT,
        "LonE/W" => col::LON,
        "VMAX" => col::VMAX,
        "MSLP" => col::MSLP,
        "RAD" => col::RAD,
        "WINDCODE" => col::WINDCODE,
        "RAD1" => col::RAD1,
        "RAD2" => col::RAD1 + 1,
        "RAD3" => col::RAD1 + 2,
        "RAD4" => col::RAD1 + 3,
        "POUTER" => col::POUTER,
        "ROUTER" => col::ROUTER,
        "RMW" => col::RMW,
        "GUSTS" => col::GUSTS,
        "DIR" => col::DIR,
        "SPEED" => col::SPEED,
        _ => usize::MAX,
    }
}

fn parse_head(origin: &str, line: &Line) -> Result<Head, FeedError> {
    let basin = line.get(col::BASIN);
    if basin.len() != 2 || !basin.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(invalid(
            origin,
            line,
            "BASIN",
            "a two-letter basin code like \"SH\"",
        ));
    }
    let cy = line.get(col::CY);
    if cy.is_empty() || !cy.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(origin, line, "CY", "a storm number like \"11\""));
    }
    let dtg = line.get(col::DTG);
    let cycle = parse_dtg(dtg).ok_or_else(|| {
        invalid(
            origin,
            line,
            "YYYYMMDDHH",
            "a date-time group like \"2023030912\"",
        )
    })?;
    let tech = line.get(col::TECH);
    if tech.is_empty() {
        return Err(invalid(
            origin,
            line,
            "TECH",
            "an aid name like BEST, JTWC, AVNO",
        ));
    }
    let tau_h = line
        .get(col::TAU)
        .parse::<i64>()
        .ok()
        .filter(|t| (-MAX_TAU_H..=MAX_TAU_H).contains(t))
        .ok_or_else(|| {
            invalid(
                origin,
                line,
                "TAU",
                "a forecast hour from -999 to 999 (ATCF's TAU field is three digits)",
            )
        })?;
    Ok(Head {
        basin: basin.to_uppercase(),
        cy: cy.to_string(),
        cycle,
        tech: tech.to_uppercase(),
        tau_h,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn latitude_and_longitude_are_tenths_with_hemisphere() {
        assert_eq!(parse_lat("196S"), Some(-19.6));
        assert_eq!(parse_lat(" 52N"), Some(5.2));
        assert_eq!(parse_lon("0372E"), Some(37.2));
        assert_eq!(parse_lon(" 372E"), Some(37.2));
        assert_eq!(parse_lon("1502W"), Some(-150.2));
        assert_eq!(parse_lat("19XS"), None);
        assert_eq!(parse_lat("196"), None);
        assert_eq!(parse_lat("950S"), None);
        assert_eq!(parse_lat(""), None);
        assert_eq!(parse_lat("196é"), None);
        assert_eq!(parse_lat("é"), None);
    }

    #[test]
    fn recognises_deck_lines_and_rejects_others() {
        assert!(looks_like_atcf_line(
            "SH, 11, 2023030912,   , BEST,   0, 196S"
        ));
        assert!(looks_like_atcf_line("AL,09,2022092818, 03, OFCL"));
        assert!(!looks_like_atcf_line("SID,SEASON,NUMBER"));
        assert!(!looks_like_atcf_line("sh, 11, 2023030912,"));
        assert!(!looks_like_atcf_line("SH, 11, 20230309,"));
    }

    #[test]
    fn full_circle_code_puts_one_radius_in_every_quadrant() {
        let deck = "SH, 11, 2023031000, 03, JTWC,  48, 193S, 0332E,  35,  995, TS,  34, AAA,   60,    0,    0,    0\n";
        let f = parse(deck.as_bytes(), "t.dat", None).unwrap().forecast;
        let r = f.track[0].radii_for(34.0).unwrap();
        assert_eq!(
            (r.ne_nm, r.se_nm, r.sw_nm, r.nw_nm),
            (60.0, 60.0, 60.0, 60.0)
        );
    }

    #[test]
    fn quadrant_codes_rotate_the_radii_clockwise() {
        let deck = "SH, 11, 2023031000, 03, JTWC,  12, 193S, 0332E,  35,  995, TS,  34, SWQ,   10,   20,   30,   40\n";
        let f = parse(deck.as_bytes(), "t.dat", None).unwrap().forecast;
        let r = f.track[0].radii_for(34.0).unwrap();
        assert_eq!(
            (r.sw_nm, r.nw_nm, r.ne_nm, r.se_nm),
            (10.0, 20.0, 30.0, 40.0)
        );
    }

    #[test]
    fn sh_storm_forming_in_december_belongs_to_next_years_season() {
        let deck = "SH, 04, 2024121000,   , BEST,   0, 110S, 0624E,  35, 1000, TS\n";
        let f = parse(deck.as_bytes(), "t.dat", None).unwrap().forecast;
        assert_eq!(f.storm.id, "SH042025");
    }
}
