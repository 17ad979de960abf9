//! The probabilities file: recognised by its header, then read and cross-checked against the
//! stations and the member discharges into one issuance.

use chrono::NaiveDate;

use super::discharge::parse_discharge;
use super::stations::parse_stations_lenient;
use super::table::{Table, named, read_thresholds, threshold_columns};
use super::{FloodFeedError, FloodInputs, ParsedFloodForecast};
use crate::domain::{ByLevel, FloodForecast, FloodLevel, FloodOrigins, StationForecast};

/// The first columns of the probabilities file, as [`looks_like_probabilities`] checks them.
pub const PROBABILITIES_HEADER_START: [&str; 8] = [
    "station_id",
    "station_name",
    "river_name",
    "longitude",
    "latitude",
    "forecast_issue_date",
    "valid_time",
    "total_members",
];

/// Tolerance when comparing a file's fraction with the one computed from counts (the
/// files print at least 2 decimals; 1/50 = 0.02 exactly).
const FRACTION_TOLERANCE: f64 = 0.005;

/// Tolerance (m³/s, relative) for the thresholds repeated in the probabilities file.
const THRESHOLD_REL_TOLERANCE: f64 = 1e-6;

/// True when the first line is the header of a probabilities file.
pub fn looks_like_probabilities(bytes: &[u8]) -> bool {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    let cells: Vec<&str> = first.trim_end().split(',').map(str::trim).collect();
    cells.len() >= PROBABILITIES_HEADER_START.len()
        && cells
            .iter()
            .zip(PROBABILITIES_HEADER_START)
            .all(|(a, b)| *a == b)
        && cells.contains(&"bankfull_exceeding")
}

/// Parses and cross-checks one issuance.
pub fn parse_forecast(inputs: FloodInputs) -> Result<ParsedFloodForecast, FloodFeedError> {
    let (stations, skipped) = parse_stations_lenient(inputs.stations)?;
    let mut notes = Vec::new();
    let mut skipped_ids = Vec::new();
    for (sid, e) in skipped {
        if !inputs.skip_misordered_stations {
            return Err(e);
        }
        notes.push(format!("station {sid} left out of this forecast: {e}"));
        skipped_ids.push(sid);
    }
    let mut members = match inputs.discharge {
        Some(d) => Some(parse_discharge(
            d,
            &stations,
            &skipped_ids,
            inputs.stations.origin,
        )?),
        None => None,
    };
    let t = Table::read(inputs.probabilities)?;
    let id = named(&t, "station_id")?;
    let issue = named(&t, "forecast_issue_date")?;
    let valid = named(&t, "valid_time")?;
    let total = named(&t, "total_members")?;
    let thr = threshold_columns(&t)?;
    let exceeding = ByLevel {
        bankfull: named(&t, "bankfull_exceeding")?,
        moderate: named(&t, "moderate_exceeding")?,
        severe: named(&t, "severe_exceeding")?,
    };
    let pct = ByLevel {
        bankfull: named(&t, "bankfull_percentage")?,
        moderate: named(&t, "moderate_percentage")?,
        severe: named(&t, "severe_percentage")?,
    };
    let mut issue_date: Option<NaiveDate> = None;
    let mut days: Vec<StationForecast> = Vec::with_capacity(t.rows.len());
    let mut percent_scale_rows = 0usize;
    for row in t.records() {
        let line = row.line;
        let sid = row.text(id)?;
        if skipped_ids.contains(&sid) {
            continue;
        }
        let Some(station) = stations.iter().find(|s| s.id == sid) else {
            return Err(FloodFeedError::UnknownStation {
                origin: t.origin.to_string(),
                line,
                station_id: sid,
                stations_origin: inputs.stations.origin.to_string(),
            });
        };
        let issued = row.date(issue)?;
        match issue_date {
            None => issue_date = Some(issued),
            Some(d) if d != issued => {
                return Err(t.invalid(
                    line,
                    issue.1,
                    &format!("the same issue date on every row ({d})"),
                    &issued.to_string(),
                ));
            }
            Some(_) => {}
        }
        let day = row.date(valid)?;
        if days
            .iter()
            .any(|d| d.station_id == sid && d.valid_date == day)
        {
            return Err(FloodFeedError::Duplicate {
                origin: t.origin.to_string(),
                line,
                message: format!(
                    "station {sid} on {day} appears twice; expected one row per station and day"
                ),
            });
        }
        let total_members = row.count(total)?;
        if total_members == 0 {
            return Err(t.invalid(line, total.1, "at least 1 ensemble member", "0"));
        }
        let thresholds = read_thresholds(&row, &thr, &sid)?;
        for l in FloodLevel::ALL {
            let (a, b) = (thresholds.get(l), station.thresholds_m3s.get(l));
            if (a - b).abs() > THRESHOLD_REL_TOLERANCE * b.abs().max(1.0) {
                return Err(t.invalid(
                    line,
                    thr.get(l).1,
                    &format!(
                        "the station's threshold in {} ({b} m³/s)",
                        inputs.stations.origin
                    ),
                    &a.to_string(),
                ));
            }
        }
        let mut counts = ByLevel::default();
        let mut probability = ByLevel::default();
        for l in FloodLevel::ALL {
            let n = row.count(exceeding.get(l))?;
            if n > total_members {
                return Err(t.invalid(
                    line,
                    exceeding.get(l).1,
                    &format!("at most total_members ({total_members})"),
                    &n.to_string(),
                ));
            }
            let f = row.non_negative(pct.get(l), "a share of members")?;
            let share = f64::from(n) / f64::from(total_members);
            if (f - share).abs() > FRACTION_TOLERANCE {
                if (f / 100.0 - share).abs() <= FRACTION_TOLERANCE {
                    percent_scale_rows += 1;
                } else {
                    return Err(t.invalid(
                        line,
                        pct.get(l).1,
                        &format!(
                            "{n}/{total_members} = {share:.4} as a fraction (or {:.2} as a percentage)",
                            share * 100.0
                        ),
                        &f.to_string(),
                    ));
                }
            }
            counts.set(l, n);
            probability.set(l, share);
        }
        let member_discharges_m3s: Vec<(u32, f64)> = match members.as_mut() {
            Some(m) => {
                let Some(ms) = m.remove(&(sid.clone(), day)) else {
                    return Err(FloodFeedError::Inconsistent {
                        origin: t.origin.to_string(),
                        line,
                        column: "valid_time".into(),
                        detail: format!(
                            "station {sid} has a forecast for {day}, but {} holds no member discharges for it",
                            inputs.discharge.map(|d| d.origin).unwrap_or_default()
                        ),
                    });
                };
                ms.into_iter().collect()
            }
            None => Vec::new(),
        };
        if let Some(d) = inputs.discharge {
            let inconsistent =
                |column: &str, in_file: String, computed: String| FloodFeedError::Inconsistent {
                    origin: t.origin.to_string(),
                    line,
                    column: column.to_string(),
                    detail: format!(
                        "the file says {in_file}, but {computed} computed from the members in {}",
                        d.origin
                    ),
                };
            if member_discharges_m3s.len() != total_members as usize {
                return Err(inconsistent(
                    total.1,
                    format!("{total_members} members"),
                    format!(
                        "{} members of station {sid} on {day}",
                        member_discharges_m3s.len()
                    ),
                ));
            }
            for l in FloodLevel::ALL {
                let own = member_discharges_m3s
                    .iter()
                    .filter(|(_, q)| *q > thresholds.get(l))
                    .count();
                if own != counts.get(l) as usize {
                    return Err(inconsistent(
                        exceeding.get(l).1,
                        format!(
                            "{} members exceed {} m³/s",
                            counts.get(l),
                            thresholds.get(l)
                        ),
                        format!("{own}"),
                    ));
                }
            }
        }
        days.push(StationForecast {
            station_id: sid,
            valid_date: day,
            total_members,
            member_discharges_m3s,
            exceeding: counts,
            probability,
        });
    }
    let Some(issue_date) = issue_date else {
        return Err(FloodFeedError::Empty {
            origin: t.origin.to_string(),
            message: "no forecast rows".into(),
        });
    };
    if percent_scale_rows > 0 {
        notes.push(format!(
            "{}: {percent_scale_rows} share(s) written as percentages (0-100) rather than fractions; both agree with the counts",
            t.origin
        ));
    }
    match (inputs.discharge, members) {
        (Some(d), Some(rest)) => {
            notes.push(format!(
                "exceedance counts of {} recomputed from the member discharges of {} (a member exceeds a threshold when its discharge is strictly greater): all agree",
                t.origin, d.origin
            ));
            if !rest.is_empty() {
                notes.push(format!(
                    "{}: {} station-days have member discharges but no probabilities row; ignored",
                    d.origin,
                    rest.len()
                ));
            }
        }
        _ => notes.push(format!(
            "no discharge file: the exceedance counts of {} are used unchecked",
            t.origin
        )),
    }
    // Station-file order, then date: what the document and tests expect.
    let order = |sid: &str| {
        stations
            .iter()
            .position(|s| s.id == sid)
            .unwrap_or(usize::MAX)
    };
    days.sort_by(|a, b| {
        order(&a.station_id)
            .cmp(&order(&b.station_id))
            .then(a.valid_date.cmp(&b.valid_date))
    });
    Ok(ParsedFloodForecast {
        forecast: FloodForecast {
            issue_date,
            stations,
            days,
            origins: FloodOrigins {
                stations: inputs.stations.origin.to_string(),
                probabilities: inputs.probabilities.origin.to_string(),
                discharge: inputs.discharge.map(|d| d.origin.to_string()),
            },
        },
        notes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::Input;
    use super::*;

    const STATIONS: &str = "station_id,station_name,river_name,longitude,latitude,threshold_bankfull,threshold_moderate,threshold_severe\n\
        1,A,R,33.0,-20.0,10,20,30\n";

    fn probs(rows: &str) -> String {
        format!(
            "station_id,station_name,river_name,longitude,latitude,forecast_issue_date,valid_time,total_members,threshold_bankfull,threshold_moderate,threshold_severe,bankfull_exceeding,moderate_exceeding,severe_exceeding,bankfull_percentage,moderate_percentage,severe_percentage\n{rows}"
        )
    }

    fn input<'a>(bytes: &'a str, origin: &'a str) -> Input<'a> {
        Input {
            bytes: bytes.as_bytes(),
            origin,
        }
    }

    #[test]
    fn the_probabilities_header_is_recognised_and_a_track_is_not() {
        assert!(looks_like_probabilities(probs("").as_bytes()));
        assert!(!looks_like_probabilities(STATIONS.as_bytes()));
        assert!(!looks_like_probabilities(b"SID,SEASON,NUMBER\n"));
    }

    #[test]
    fn percentages_may_be_fractions_or_percent_but_must_match_the_counts() {
        let p = probs("1,A,R,33,-20,2025-09-25,2025-09-26,4,10,20,30,2,1,0,50.0,25.0,0.0\n");
        let parsed = parse_forecast(FloodInputs {
            stations: input(STATIONS, "s.csv"),
            probabilities: input(&p, "p.csv"),
            discharge: None,
            skip_misordered_stations: false,
        })
        .unwrap();
        assert_eq!(parsed.forecast.days[0].probability.bankfull, 0.5);
        let p = probs("1,A,R,33,-20,2025-09-25,2025-09-26,4,10,20,30,2,1,0,0.9,0.25,0.0\n");
        let e = parse_forecast(FloodInputs {
            stations: input(STATIONS, "s.csv"),
            probabilities: input(&p, "p.csv"),
            discharge: None,
            skip_misordered_stations: false,
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("p.csv: line 2, column bankfull_percentage"),
            "{e}"
        );
    }
}
