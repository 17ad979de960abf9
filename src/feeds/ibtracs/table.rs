//! A CSV read whole, with column lookup by name and 1-based line numbers, and the time
//! formats of both IBTrACS files.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use crate::feeds::{FeedError, Location, strip_bom};

/// A CSV read whole, with column lookup by name and 1-based line numbers.
pub(super) struct Table {
    index: HashMap<String, usize>,
    pub(super) rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    pub(super) fn read(
        bytes: &[u8],
        origin: &str,
        required: &[&'static str],
        skip_units_row: bool,
    ) -> Result<Table, FeedError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(strip_bom(bytes));
        let csv_err = |e: csv::Error| FeedError::Csv {
            origin: origin.to_string(),
            at: e
                .position()
                .map(|p| Location::Line(p.line()))
                .unwrap_or(Location::Document),
            message: e.to_string(),
        };
        let headers = reader.headers().map_err(csv_err)?.clone();
        let index: HashMap<String, usize> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), i))
            .collect();
        for col in required {
            if !index.contains_key(*col) {
                let found: Vec<&str> = headers.iter().take(12).collect();
                let more = headers.len().saturating_sub(12);
                return Err(FeedError::MissingColumn {
                    origin: origin.to_string(),
                    column: col,
                    found: if more > 0 {
                        format!("{} (and {more} more)", found.join(","))
                    } else {
                        found.join(",")
                    },
                });
            }
        }
        let first_col = required.first().copied().unwrap_or_default();
        let mut rows = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let rec = rec.map_err(csv_err)?;
            let line = rec.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
            let key = index
                .get(first_col)
                .and_then(|&c| rec.get(c))
                .unwrap_or_default();
            // IBTrACS CSVs carry a units row ("", "", ..., "UTC", "degrees_north", ...) as line 2.
            if skip_units_row && i == 0 && key.is_empty() {
                continue;
            }
            if key.is_empty() {
                return Err(FeedError::Invalid {
                    origin: origin.to_string(),
                    at: Location::Line(line),
                    field: first_col.to_string(),
                    expected: "a storm id".into(),
                    found: "an empty cell".into(),
                });
            }
            rows.push((line, rec));
        }
        Ok(Table { index, rows })
    }

    /// The trimmed, non-empty value of a column, `None` when the column or value is absent.
    pub(super) fn text<'r>(&self, rec: &'r csv::StringRecord, col: &str) -> Option<&'r str> {
        self.index
            .get(col)
            .and_then(|&i| rec.get(i))
            .filter(|v| !v.is_empty())
    }

    pub(super) fn num(
        &self,
        origin: &str,
        line: u64,
        rec: &csv::StringRecord,
        col: &str,
    ) -> Result<Option<f64>, FeedError> {
        match self.text(rec, col) {
            None => Ok(None),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| FeedError::Invalid {
                    origin: origin.to_string(),
                    at: Location::Line(line),
                    field: col.to_string(),
                    expected: "a number".into(),
                    found: format!("{v:?}"),
                }),
        }
    }

    pub(super) fn required_num(
        &self,
        origin: &str,
        line: u64,
        rec: &csv::StringRecord,
        col: &str,
    ) -> Result<f64, FeedError> {
        self.num(origin, line, rec, col)?
            .ok_or_else(|| FeedError::Invalid {
                origin: origin.to_string(),
                at: Location::Line(line),
                field: col.to_string(),
                expected: "a number".into(),
                found: "an empty cell".into(),
            })
    }
}

pub(super) fn parse_time(
    origin: &str,
    line: u64,
    col: &str,
    v: Option<&str>,
) -> Result<DateTime<Utc>, FeedError> {
    let raw = v.unwrap_or_default();
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .map(|t| Utc.from_utc_datetime(&t))
        .or_else(|| {
            DateTime::parse_from_rfc3339(raw)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .ok_or_else(|| FeedError::Invalid {
            origin: origin.to_string(),
            at: Location::Line(line),
            field: col.to_string(),
            expected: "a UTC time like \"2023-03-10 00:00:00\"".into(),
            found: format!("{raw:?}"),
        })
}
