//! Reads and writes accommodation-centre and site registers (issue 14): HXL CSV and XLSX
//! (through calamine) in, HXL CSV out; occupancy updates; travel-time matrices.
//!
//! An adapter at the edge: file bytes to [`crate::domain::Register`]. Columns are found by
//! HXL hashtag, never by position, with the tag patterns of `super::hxl` (the IOM DTM
//! headers `#loc+name`, `#loc+code`, `#adm2+pcode`, `#geo+lat`, `#geo+lon`, `#capacity`,
//! `#affected+idps+hh`, `#affected+idps+ind`, plus `#loc+type`, `#date` and aviso's
//! `#capacity+area_m2` and `#meta+demonstration`). Every unreadable cell is an issue
//! naming the file, the spreadsheet row and the column letter with its tag; the checks
//! that need the boundaries are `crate::plan::register::validate`.
//!
//! `grid` turns file bytes into rows of text cells (CSV or the first sheet of a workbook),
//! `columns` finds the hashtag row and each field's column and reads a row's cells with
//! their issues, `write` writes HXL CSV; this file reads registers, occupancy updates and
//! travel times with them.

use std::path::Path;

use chrono::NaiveDate;

use crate::domain::{
    Occupancy, Register, RegisterEntry, RegisterField, RegisterIssue, RowOrigin, SiteRole,
};
use crate::plan::TravelTimes;
use crate::plan::register::{OccupancyBatch, OccupancyUpdate};

mod columns;
mod grid;
mod write;

use columns::{RowReader, column_letter, data_rows, find_columns};
use grid::{grid_of, read_bytes};
pub use write::{occupancy_history_to_hxl, register_to_hxl};

/// Largest register file read: 64 MiB. A national DTM list is a few thousand rows (well
/// under 1 MiB); anything larger is the wrong file.
const MAX_REGISTER_BYTES: u64 = 64 * 1024 * 1024;

/// A register file that cannot be read at all (as opposed to bad rows, which are
/// [`RegisterIssue`]s).
#[derive(Debug, thiserror::Error)]
pub enum RegisterFileError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {size} bytes, over the {MAX_REGISTER_BYTES}-byte limit for a register")]
    TooLarge { path: String, size: u64 },
    #[error("{source_name}: {message}")]
    Format {
        source_name: String,
        message: String,
    },
}

fn format_err(source: &str, message: impl Into<String>) -> RegisterFileError {
    RegisterFileError::Format {
        source_name: source.to_string(),
        message: message.into(),
    }
}

/// Options of a read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Date of occupancy figures in a file without a `#date` column (the DTM round's date).
    pub occupancy_date: Option<NaiveDate>,
}

/// Reads a register file (HXL CSV, or XLSX/ODS/XLS: the first sheet).
pub fn read_register(
    path: &Path,
    opts: &ReadOptions,
) -> Result<(Register, Vec<RegisterIssue>), RegisterFileError> {
    let bytes = read_bytes(path)?;
    parse_register(&bytes, &path.display().to_string(), opts)
}

/// Parses register bytes; `source` names them in every message.
pub fn parse_register(
    bytes: &[u8],
    source: &str,
    opts: &ReadOptions,
) -> Result<(Register, Vec<RegisterIssue>), RegisterFileError> {
    use RegisterField as F;
    let grid = grid_of(bytes, source)?;
    let columns = find_columns(&grid, source, &F::ALL, &[F::Code, F::Name, F::Lat, F::Lon])?;
    let has_figures =
        columns.at.contains_key(&F::Individuals) || columns.at.contains_key(&F::Households);
    if has_figures && !columns.at.contains_key(&F::Date) && opts.occupancy_date.is_none() {
        return Err(format_err(
            source,
            "occupancy figures (#affected+idps+ind / +hh) but no #date column: give the DTM \
             round's date with --occupancy-date YYYY-MM-DD, or add a #date+reported column",
        ));
    }
    let mut issues = Vec::new();
    let mut entries = Vec::new();
    for (row, cells) in data_rows(&grid, &columns) {
        let mut r = RowReader {
            source,
            row: *row,
            cells,
            columns: &columns,
            issues: &mut issues,
        };
        let code = r.text(F::Code).unwrap_or_default();
        let name = r.text(F::Name).unwrap_or_default();
        let site_type = r.text(F::SiteType).unwrap_or_default();
        let lat = r.number(F::Lat);
        let lon = r.number(F::Lon);
        if lat.is_none() && r.text(F::Lat).is_none() {
            r.error(F::Lat, "no latitude".to_string());
        }
        if lon.is_none() && r.text(F::Lon).is_none() {
            r.error(F::Lon, "no longitude".to_string());
        }
        let capacity_persons = r.number(F::Capacity);
        let floor_area_m2 = r.number(F::FloorArea);
        let individuals = r.number(F::Individuals);
        let households = r.number(F::Households);
        let date = r.date(F::Date).or(opts.occupancy_date);
        let demonstration = r.text(F::Demonstration).is_some_and(|t| {
            matches!(
                t.to_lowercase().as_str(),
                "true" | "yes" | "1" | "sim" | "y" | "x"
            )
        });
        let mut occupancy = Vec::new();
        if individuals.is_some() || households.is_some() {
            match date {
                Some(date) => occupancy.push(Occupancy {
                    date,
                    individuals,
                    households,
                    source: format!("{source} row {row}"),
                }),
                None => r.error(
                    F::Date,
                    "occupancy figures without a date: fill the #date column".to_string(),
                ),
            }
        }
        entries.push(RegisterEntry {
            role: SiteRole::of_type(&site_type),
            code,
            name,
            site_type,
            district_pcode: r.text(F::DistrictPcode),
            lon: lon.unwrap_or(f64::NAN),
            lat: lat.unwrap_or(f64::NAN),
            capacity_persons,
            floor_area_m2,
            occupancy,
            demonstration,
            origin: RowOrigin { row: *row },
        });
    }
    if entries.is_empty() {
        return Err(format_err(source, "no data rows under the hashtag row"));
    }
    let register = Register {
        source: source.to_string(),
        entries,
        columns: columns
            .at
            .iter()
            .map(|(f, (_, label))| (*f, label.clone()))
            .collect(),
    };
    Ok((register, issues))
}

/// Reads an occupancy update (HXL CSV or spreadsheet): `#loc+code`, `#date` and
/// `#affected+idps+ind` and/or `#affected+idps+hh`, one row per place and date.
pub fn read_occupancy_updates(
    path: &Path,
    opts: &ReadOptions,
) -> Result<OccupancyBatch, RegisterFileError> {
    let bytes = read_bytes(path)?;
    parse_occupancy_updates(&bytes, &path.display().to_string(), opts)
}

/// Parses occupancy-update bytes (as [`read_occupancy_updates`]); `source` names them in
/// every message.
pub fn parse_occupancy_updates(
    bytes: &[u8],
    source: &str,
    opts: &ReadOptions,
) -> Result<OccupancyBatch, RegisterFileError> {
    use RegisterField as F;
    let source = source.to_string();
    let grid = grid_of(bytes, &source)?;
    let wanted = [F::Code, F::Date, F::Individuals, F::Households];
    let required: &[F] = if opts.occupancy_date.is_some() {
        &[F::Code]
    } else {
        &[F::Code, F::Date]
    };
    let columns = find_columns(&grid, &source, &wanted, required)?;
    if !columns.at.contains_key(&F::Individuals) && !columns.at.contains_key(&F::Households) {
        return Err(format_err(
            &source,
            "no #affected+idps+ind or #affected+idps+hh column: nothing to update",
        ));
    }
    let mut issues = Vec::new();
    let mut updates = Vec::new();
    for (row, cells) in data_rows(&grid, &columns) {
        let mut r = RowReader {
            source: &source,
            row: *row,
            cells,
            columns: &columns,
            issues: &mut issues,
        };
        let code = r.text(F::Code);
        let date = r.date(F::Date).or(opts.occupancy_date);
        let individuals = r.number(F::Individuals);
        let households = r.number(F::Households);
        let (Some(code), Some(date)) = (code, date) else {
            r.error(F::Code, "a row needs a code and a date".to_string());
            continue;
        };
        updates.push(OccupancyUpdate {
            code,
            occupancy: Occupancy {
                date,
                individuals,
                households,
                source: format!("{source} row {row}"),
            },
            row: *row,
        });
    }
    Ok(OccupancyBatch {
        source,
        updates,
        issues,
        columns: columns
            .at
            .iter()
            .map(|(f, (_, label))| (*f, label.clone()))
            .collect(),
    })
}

/// Reads a travel-time matrix: a CSV with the columns `origin_id`, `centre_code` and
/// `minutes` (by header name), one row per pair a user has timed.
pub fn read_travel_times(path: &Path) -> Result<TravelTimes, RegisterFileError> {
    let source = path.display().to_string();
    let bytes = read_bytes(path)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| format_err(&source, format!("bad CSV header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| {
                format_err(
                    &source,
                    format!(
                        "no column {name:?}: expected origin_id,centre_code,minutes; found {}",
                        headers.iter().collect::<Vec<_>>().join(",")
                    ),
                )
            })
    };
    let (o, c, m) = (col("origin_id")?, col("centre_code")?, col("minutes")?);
    let mut rows = Vec::new();
    for (i, r) in reader.records().enumerate() {
        let row = i + 2;
        let r = r.map_err(|e| format_err(&source, format!("row {row}: bad CSV: {e}")))?;
        let get = |k: usize| r.get(k).map(str::trim).unwrap_or("");
        let minutes: f64 = get(m)
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format_err(
                    &source,
                    format!(
                        "row {row}, column {} (minutes): {:?} is not a travel time in minutes >= 0",
                        column_letter(m),
                        get(m)
                    ),
                )
            })?;
        rows.push((get(o).to_string(), get(c).to_string(), minutes));
    }
    Ok(TravelTimes::new(rows))
}
