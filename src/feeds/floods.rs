//! River-station flood forecasts (GloFAS-based anticipatory-action CSVs, as published by
//! WFP PRISM for Mozambique), parsed into [`crate::domain::FloodForecast`]. River-basin
//! polygons, which layers read too, are parsed in [`crate::geodata::basins`].
//!
//! Pure: bytes in, domain out. Must not do file or network I/O; the caller reads the three
//! files (or fetches them) and hands over the bytes with their origin.
//!
//! Three CSVs make one issuance:
//! - stations: `station_id, station_name, river_name, longitude, latitude,
//!   threshold_bankfull, threshold_moderate, threshold_severe`;
//! - probabilities: per station and valid day, `total_members`, the three thresholds,
//!   `{bankfull,moderate,severe}_exceeding` (member counts) and `…_percentage`;
//! - discharge (optional): one row per station, valid day and `ensemble_member`.
//!
//! Despite its name, `…_percentage` holds a fraction 0..1 in the shared files (50 of 50
//! members exceeding is written `1.0`). Both readings are accepted when they agree with the
//! counts; anything else is an error.
//!
//! Consistency: when the discharge file is given, the parser counts the members exceeding
//! each threshold itself (strictly greater) and compares with the probabilities file. A
//! disagreement is an **error** naming both files: the two halves of one product disagree
//! and neither can be trusted to trigger an alert.
//!
//! Over 600 lines because the stations, discharge and probabilities CSVs share one table
//! reader and its row-and-column errors (the basins parser already moved to geodata).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use csv::StringRecord;

use crate::domain::{
    ByLevel, FloodForecast, FloodLevel, FloodOrigins, FloodStation, StationForecast,
};

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

/// Everything that can go wrong reading a flood forecast. Every variant names the file; row
/// errors name the line and the column.
#[derive(Debug, thiserror::Error)]
pub enum FloodFeedError {
    #[error("{origin}: line {line}: CSV error ({message})")]
    Csv {
        origin: String,
        line: u64,
        message: String,
    },
    #[error(
        "{origin}: missing required column {column}; expected it in the header, found: {found}"
    )]
    MissingColumn {
        origin: String,
        column: String,
        found: String,
    },
    #[error("{origin}: line {line}, column {column}: expected {expected}, found {found:?}")]
    Invalid {
        origin: String,
        line: u64,
        column: String,
        expected: String,
        found: String,
    },
    #[error(
        "{origin}: line {line}, column station_id: unknown station {station_id:?}; it is not in the stations file {stations_origin}"
    )]
    UnknownStation {
        origin: String,
        line: u64,
        station_id: String,
        stations_origin: String,
    },
    #[error(
        "{origin}: line {line}, station {station_id}: thresholds must rise bankfull ≤ moderate ≤ severe, found bankfull {bankfull}, moderate {moderate}, severe {severe} m³/s"
    )]
    ThresholdOrder {
        origin: String,
        line: u64,
        station_id: String,
        bankfull: f64,
        moderate: f64,
        severe: f64,
    },
    /// The probabilities file disagrees with the member discharges; `detail` says what
    /// the file states and what the members give, and names the discharge file.
    #[error("{origin}: line {line}, column {column}: {detail}")]
    Inconsistent {
        origin: String,
        line: u64,
        column: String,
        detail: String,
    },
    #[error("{origin}: line {line}: {message}")]
    Duplicate {
        origin: String,
        line: u64,
        message: String,
    },
    #[error("{origin}: {message}")]
    Empty { origin: String, message: String },
    #[error(transparent)]
    Basins(#[from] crate::geodata::basins::BasinError),
}

/// One input: its bytes and where they came from (a path or URL, for messages).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub bytes: &'a [u8],
    pub origin: &'a str,
}

/// The files of one issuance.
#[derive(Debug, Clone, Copy)]
pub struct FloodInputs<'a> {
    pub stations: Input<'a>,
    pub probabilities: Input<'a>,
    /// The member discharges; without them the probabilities file's counts are taken as
    /// they are (and a note says so).
    pub discharge: Option<Input<'a>>,
    /// A station whose thresholds are not bankfull ≤ moderate ≤ severe: `false` refuses the
    /// whole forecast; `true` leaves that station out (its rows in the other files too) and
    /// says so in the notes, so one bad row does not silence every other station.
    pub skip_misordered_stations: bool,
}

/// A parsed forecast with notes on what the parser checked or decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFloodForecast {
    pub forecast: FloodForecast,
    pub notes: Vec<String>,
}

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

/// 1-based file line of a record from its byte offset. The csv crate's own line number
/// is one short for files with CRLF endings (the shared station files, Excel exports): a
/// record's position is taken after the `\r` that ended the previous record and before
/// its `\n`, which the line count has not yet seen. Offsets must come in rising order (a
/// running count: linear over the file).
struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            at: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        // Skip what is left of the previous line's terminator.
        while let Some(b'\r' | b'\n') = self.bytes.get(start) {
            start += 1;
        }
        if start > self.at {
            let seen = self.bytes.get(self.at..start).unwrap_or_default();
            self.line += seen.iter().filter(|&&b| b == b'\n').count() as u64;
            self.at = start;
        }
        self.line
    }
}

/// A CSV table with columns looked up by name and 1-based line numbers.
struct Table<'a> {
    origin: &'a str,
    header: Vec<String>,
    rows: Vec<(u64, StringRecord)>,
}

impl<'a> Table<'a> {
    fn read(input: Input<'a>) -> Result<Self, FloodFeedError> {
        let bytes = input
            .bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(input.bytes);
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let header: Vec<String> = rdr
            .headers()
            .map_err(|e| FloodFeedError::Csv {
                origin: input.origin.to_string(),
                line: 1,
                message: e.to_string(),
            })?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        let mut lines = LineCounter::new(bytes);
        for r in rdr.records() {
            let r = r.map_err(|e| FloodFeedError::Csv {
                origin: input.origin.to_string(),
                line: e.position().map_or(0, |p| lines.line_at(p.byte())),
                message: e.to_string(),
            })?;
            let line = r.position().map_or(0, |p| lines.line_at(p.byte()));
            rows.push((line, r));
        }
        if rows.is_empty() {
            return Err(FloodFeedError::Empty {
                origin: input.origin.to_string(),
                message: "no data rows: expected at least one line after the header".into(),
            });
        }
        Ok(Table {
            origin: input.origin,
            header,
            rows,
        })
    }

    fn col(&self, name: &str) -> Result<usize, FloodFeedError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| FloodFeedError::MissingColumn {
                origin: self.origin.to_string(),
                column: name.to_string(),
                found: self.header.join(","),
            })
    }

    fn invalid(&self, line: u64, column: &str, expected: &str, found: &str) -> FloodFeedError {
        FloodFeedError::Invalid {
            origin: self.origin.to_string(),
            line,
            column: column.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// Typed access to one row.
struct Row<'t, 'a> {
    table: &'t Table<'a>,
    line: u64,
    rec: &'t StringRecord,
}

impl Row<'_, '_> {
    fn text(&self, col: (usize, &str)) -> Result<String, FloodFeedError> {
        match self.rec.get(col.0) {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err(self.table.invalid(self.line, col.1, "a value", "")),
        }
    }

    fn number(&self, col: (usize, &str), expected: &str) -> Result<f64, FloodFeedError> {
        let s = self.rec.get(col.0).unwrap_or_default();
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.table.invalid(self.line, col.1, expected, s)),
        }
    }

    fn non_negative(&self, col: (usize, &str), what: &str) -> Result<f64, FloodFeedError> {
        let expected = format!("{what} ≥ 0");
        let v = self.number(col, &expected)?;
        if v < 0.0 {
            return Err(self
                .table
                .invalid(self.line, col.1, &expected, &v.to_string()));
        }
        Ok(v)
    }

    fn count(&self, col: (usize, &str)) -> Result<u32, FloodFeedError> {
        let s = self.rec.get(col.0).unwrap_or_default();
        // Counts are sometimes written as floats ("50.0") by pandas.
        let parsed = s.parse::<u32>().ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(v))
                .map(|v| v as u32)
        });
        parsed.ok_or_else(|| {
            self.table
                .invalid(self.line, col.1, "a whole number of members ≥ 0", s)
        })
    }

    fn date(&self, col: (usize, &str)) -> Result<NaiveDate, FloodFeedError> {
        let s = self.rec.get(col.0).unwrap_or_default();
        // Accept "2025-09-26" and "2025-09-26 00:00:00" (both occur in PRISM exports).
        let day = s.get(..10).unwrap_or(s);
        NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map_err(|_| self.table.invalid(self.line, col.1, "a date YYYY-MM-DD", s))
    }

    fn lon_lat(
        &self,
        lon: (usize, &str),
        lat: (usize, &str),
    ) -> Result<(f64, f64), FloodFeedError> {
        let x = self.number(lon, "a longitude in degrees (EPSG:4326)")?;
        let y = self.number(lat, "a latitude in degrees (EPSG:4326)")?;
        if !(-180.0..=180.0).contains(&x) {
            return Err(self.table.invalid(
                self.line,
                lon.1,
                "a longitude −180..180",
                &x.to_string(),
            ));
        }
        if !(-90.0..=90.0).contains(&y) {
            return Err(self
                .table
                .invalid(self.line, lat.1, "a latitude −90..90", &y.to_string()));
        }
        Ok((x, y))
    }
}

fn named<'n>(t: &Table, name: &'n str) -> Result<(usize, &'n str), FloodFeedError> {
    Ok((t.col(name)?, name))
}

fn threshold_columns(t: &Table) -> Result<ByLevel<(usize, &'static str)>, FloodFeedError> {
    Ok(ByLevel {
        bankfull: named(t, "threshold_bankfull")?,
        moderate: named(t, "threshold_moderate")?,
        severe: named(t, "threshold_severe")?,
    })
}

fn read_thresholds(
    row: &Row,
    cols: &ByLevel<(usize, &'static str)>,
    station_id: &str,
) -> Result<ByLevel<f64>, FloodFeedError> {
    let mut t = ByLevel::default();
    for l in FloodLevel::ALL {
        t.set(
            l,
            row.non_negative(cols.get(l), "a discharge threshold in m³/s")?,
        );
    }
    if !(t.bankfull <= t.moderate && t.moderate <= t.severe) {
        return Err(FloodFeedError::ThresholdOrder {
            origin: row.table.origin.to_string(),
            line: row.line,
            station_id: station_id.to_string(),
            bankfull: t.bankfull,
            moderate: t.moderate,
            severe: t.severe,
        });
    }
    Ok(t)
}

/// Stations set aside for misordered thresholds: (station id, the error).
pub type SkippedStations = Vec<(String, FloodFeedError)>;

/// Parses the stations file; any station with misordered thresholds is an error.
pub fn parse_stations(input: Input) -> Result<Vec<FloodStation>, FloodFeedError> {
    let (stations, skipped) = parse_stations_lenient(input)?;
    match skipped.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(stations),
    }
}

/// Parses the stations file, setting aside (id, error) the stations whose thresholds are
/// misordered; every other problem is an error.
pub fn parse_stations_lenient(
    input: Input,
) -> Result<(Vec<FloodStation>, SkippedStations), FloodFeedError> {
    let t = Table::read(input)?;
    let id = named(&t, "station_id")?;
    let name = named(&t, "station_name")?;
    let river = named(&t, "river_name")?;
    let lon = named(&t, "longitude")?;
    let lat = named(&t, "latitude")?;
    let thr = threshold_columns(&t)?;
    let mut out: Vec<FloodStation> = Vec::with_capacity(t.rows.len());
    let mut skipped: Vec<(String, FloodFeedError)> = Vec::new();
    for (line, rec) in &t.rows {
        let row = Row {
            table: &t,
            line: *line,
            rec,
        };
        let sid = row.text(id)?;
        if out.iter().any(|s| s.id == sid) || skipped.iter().any(|s| s.0 == sid) {
            return Err(FloodFeedError::Duplicate {
                origin: t.origin.to_string(),
                line: *line,
                message: format!("station {sid} appears twice; expected one row per station"),
            });
        }
        let (x, y) = row.lon_lat(lon, lat)?;
        let thresholds_m3s = match read_thresholds(&row, &thr, &sid) {
            Ok(t) => t,
            Err(e @ FloodFeedError::ThresholdOrder { .. }) => {
                skipped.push((sid, e));
                continue;
            }
            Err(e) => return Err(e),
        };
        out.push(FloodStation {
            thresholds_m3s,
            id: sid,
            name: row.text(name)?,
            river: row.text(river)?,
            lon: x,
            lat: y,
        });
    }
    Ok((out, skipped))
}

/// Member discharges per (station, day), from the discharge file.
type Members = HashMap<(String, NaiveDate), BTreeMap<u32, f64>>;

fn parse_discharge(
    input: Input,
    stations: &[FloodStation],
    skipped: &[String],
    stations_origin: &str,
) -> Result<Members, FloodFeedError> {
    let t = Table::read(input)?;
    let id = named(&t, "station_id")?;
    let valid = named(&t, "valid_time")?;
    let q = named(&t, "discharge")?;
    let member = named(&t, "ensemble_member")?;
    let mut out: Members = HashMap::new();
    for (line, rec) in &t.rows {
        let row = Row {
            table: &t,
            line: *line,
            rec,
        };
        let sid = row.text(id)?;
        if skipped.contains(&sid) {
            continue;
        }
        if !stations.iter().any(|s| s.id == sid) {
            return Err(FloodFeedError::UnknownStation {
                origin: t.origin.to_string(),
                line: *line,
                station_id: sid,
                stations_origin: stations_origin.to_string(),
            });
        }
        let day = row.date(valid)?;
        let m = row.count(member)?;
        let value = row.non_negative(q, "a river discharge in m³/s")?;
        if out
            .entry((sid.clone(), day))
            .or_default()
            .insert(m, value)
            .is_some()
        {
            return Err(FloodFeedError::Duplicate {
                origin: t.origin.to_string(),
                line: *line,
                message: format!(
                    "member {m} of station {sid} on {day} appears twice; expected one row per member"
                ),
            });
        }
    }
    Ok(out)
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
    for (line, rec) in &t.rows {
        let line = *line;
        let row = Row {
            table: &t,
            line,
            rec,
        };
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
