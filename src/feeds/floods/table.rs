//! The CSV table reader the three files share: columns by name, 1-based line numbers (CRLF
//! too), typed cells with row-and-column errors, and the three thresholds of a row.

use chrono::NaiveDate;
use csv::StringRecord;

use super::{FloodFeedError, Input};
use crate::domain::{ByLevel, FloodLevel};

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
pub(super) struct Table<'a> {
    pub(super) origin: &'a str,
    header: Vec<String>,
    pub(super) rows: Vec<(u64, StringRecord)>,
}

impl<'a> Table<'a> {
    /// The data rows in file order, each with its line number (1-based, header included).
    pub(super) fn records(&self) -> impl Iterator<Item = Row<'_, 'a>> {
        self.rows.iter().map(|(line, rec)| Row {
            table: self,
            line: *line,
            rec,
        })
    }

    pub(super) fn read(input: Input<'a>) -> Result<Self, FloodFeedError> {
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

    pub(super) fn invalid(
        &self,
        line: u64,
        column: &str,
        expected: &str,
        found: &str,
    ) -> FloodFeedError {
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
pub(super) struct Row<'t, 'a> {
    pub(super) table: &'t Table<'a>,
    pub(super) line: u64,
    pub(super) rec: &'t StringRecord,
}

impl Row<'_, '_> {
    pub(super) fn text(&self, col: (usize, &str)) -> Result<String, FloodFeedError> {
        match self.rec.get(col.0) {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err(self.table.invalid(self.line, col.1, "a value", "")),
        }
    }

    pub(super) fn number(&self, col: (usize, &str), expected: &str) -> Result<f64, FloodFeedError> {
        let s = self.rec.get(col.0).unwrap_or_default();
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.table.invalid(self.line, col.1, expected, s)),
        }
    }

    pub(super) fn non_negative(
        &self,
        col: (usize, &str),
        what: &str,
    ) -> Result<f64, FloodFeedError> {
        let expected = format!("{what} ≥ 0");
        let v = self.number(col, &expected)?;
        if v < 0.0 {
            return Err(self
                .table
                .invalid(self.line, col.1, &expected, &v.to_string()));
        }
        Ok(v)
    }

    pub(super) fn count(&self, col: (usize, &str)) -> Result<u32, FloodFeedError> {
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

    pub(super) fn date(&self, col: (usize, &str)) -> Result<NaiveDate, FloodFeedError> {
        let s = self.rec.get(col.0).unwrap_or_default();
        // Accept "2025-09-26" and "2025-09-26 00:00:00" (both occur in PRISM exports).
        let day = s.get(..10).unwrap_or(s);
        NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map_err(|_| self.table.invalid(self.line, col.1, "a date YYYY-MM-DD", s))
    }

    pub(super) fn lon_lat(
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

pub(super) fn named<'n>(t: &Table, name: &'n str) -> Result<(usize, &'n str), FloodFeedError> {
    Ok((t.col(name)?, name))
}

pub(super) fn threshold_columns(
    t: &Table,
) -> Result<ByLevel<(usize, &'static str)>, FloodFeedError> {
    Ok(ByLevel {
        bankfull: named(t, "threshold_bankfull")?,
        moderate: named(t, "threshold_moderate")?,
        severe: named(t, "threshold_severe")?,
    })
}

pub(super) fn read_thresholds(
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
