//! Reads and writes accommodation-centre and site registers (issue 14): HXL CSV and XLSX
//! (through calamine) in, HXL CSV out; occupancy updates; travel-time matrices.
//!
//! An adapter at the edge: file bytes to [`crate::domain::Register`]. Columns are found by
//! HXL hashtag, never by position, with the tag patterns of [`super::hxl`] (the IOM DTM
//! headers `#loc+name`, `#loc+code`, `#adm2+pcode`, `#geo+lat`, `#geo+lon`, `#capacity`,
//! `#affected+idps+hh`, `#affected+idps+ind`, plus `#loc+type`, `#date` and aviso's
//! `#capacity+area_m2` and `#meta+demonstration`). Every unreadable cell is an issue
//! naming the file, the spreadsheet row and the column letter with its tag; the checks
//! that need the boundaries are `crate::plan::register::validate`.
//!
//! Over 600 lines because the register reader, the occupancy-update and travel-time readers
//! and the HXL writer share the hashtag, column and cell helpers of one format.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Reader};
use chrono::NaiveDate;

use super::hxl::{Hashtag, TagPattern};
use crate::domain::{
    IssueSeverity, Occupancy, Register, RegisterEntry, RegisterField, RegisterIssue, RowOrigin,
    SiteRole,
};
use crate::plan::TravelTimes;
use crate::plan::register::{OccupancyBatch, OccupancyUpdate};

/// How many leading rows are searched for the hashtag row (libhxl-python's 25, as in
/// [`super::hxl`]).
const MAX_ROWS_BEFORE_HASHTAGS: usize = 25;

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

/// The tag patterns tried for each field, first match wins (DTM spellings vary).
fn patterns(field: RegisterField) -> &'static [&'static str] {
    match field {
        RegisterField::Code => &["#loc+code"],
        RegisterField::Name => &["#loc+name"],
        RegisterField::SiteType => &["#loc+type"],
        RegisterField::DistrictPcode => &["#adm2+pcode", "#adm2+code"],
        RegisterField::Lat => &["#geo+lat"],
        RegisterField::Lon => &["#geo+lon"],
        RegisterField::Capacity => &["#capacity-area_m2"],
        RegisterField::FloorArea => &["#capacity+area_m2"],
        RegisterField::Households => &["#affected+idps+hh", "#affected+hh"],
        RegisterField::Individuals => &["#affected+idps+ind", "#affected+ind"],
        RegisterField::Date => &["#date"],
        RegisterField::Demonstration => &["#meta+demonstration"],
    }
}

/// Spreadsheet column letters: 0 → A, 25 → Z, 26 → AA.
fn column_letter(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8_lossy(&s).into_owned()
}

/// A sheet as text cells, each row with its 1-based spreadsheet row number.
struct Grid {
    rows: Vec<(u64, Vec<String>)>,
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, RegisterFileError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| RegisterFileError::Io {
        path: shown.clone(),
        source,
    })?;
    if meta.len() > MAX_REGISTER_BYTES {
        return Err(RegisterFileError::TooLarge {
            path: shown,
            size: meta.len(),
        });
    }
    std::fs::read(path).map_err(|source| RegisterFileError::Io {
        path: shown,
        source,
    })
}

/// True for a spreadsheet container (XLSX/ODS are ZIP files; XLS is an OLE2 file).
fn is_spreadsheet(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
}

fn grid_of(bytes: &[u8], source: &str) -> Result<Grid, RegisterFileError> {
    if is_spreadsheet(bytes) {
        grid_of_sheet(bytes, source)
    } else {
        grid_of_csv(bytes, source)
    }
}

fn grid_of_csv(bytes: &[u8], source: &str) -> Result<Grid, RegisterFileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for (i, r) in reader.records().enumerate() {
        let r = r.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format_err(source, format!("line {line}: bad CSV: {e}"))
        })?;
        // The record index is the spreadsheet row (a quoted cell may span lines).
        rows.push((i as u64 + 1, r.iter().map(str::to_string).collect()));
    }
    Ok(Grid { rows })
}

/// Days from the Excel epoch (1899-12-30, the 1900 date system) to a date.
fn excel_serial_date(serial: f64) -> Option<NaiveDate> {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    if !(serial.is_finite() && (0.0..3_000_000.0).contains(&serial)) {
        return None;
    }
    epoch.checked_add_signed(chrono::Duration::days(serial.floor() as i64))
}

fn grid_of_sheet(bytes: &[u8], source: &str) -> Result<Grid, RegisterFileError> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| format_err(source, format!("not a readable spreadsheet: {e}")))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| format_err(source, "the workbook has no sheet"))?
        .map_err(|e| format_err(source, format!("cannot read the first sheet: {e}")))?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut rows = Vec::new();
    for (i, row) in range.rows().enumerate() {
        // Pad to column A so that letters in messages match the sheet.
        let mut cells = vec![String::new(); first_col as usize];
        cells.extend(row.iter().map(|c| {
            match c {
                Data::Empty => String::new(),
                Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
                Data::Int(v) => v.to_string(),
                Data::Float(v) => v.to_string(),
                Data::Bool(b) => b.to_string(),
                Data::DateTime(d) => excel_serial_date(d.as_f64())
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| d.as_f64().to_string()),
                Data::Error(e) => format!("#ERROR {e}"),
            }
        }));
        rows.push((u64::from(first_row) + i as u64 + 1, cells));
    }
    Ok(Grid { rows })
}

/// Where each field is: column index and label ("D (#geo+lat)").
struct Columns {
    at: BTreeMap<RegisterField, (usize, String)>,
    tag_row: usize,
}

fn find_columns(
    grid: &Grid,
    source: &str,
    wanted: &[RegisterField],
    required: &[RegisterField],
) -> Result<Columns, RegisterFileError> {
    let (tag_row, tags) = grid
        .rows
        .iter()
        .take(MAX_ROWS_BEFORE_HASHTAGS)
        .enumerate()
        .find_map(|(i, (_, row))| {
            let tags: Vec<Option<Hashtag>> = row.iter().map(|c| Hashtag::parse(c)).collect();
            let non_empty = row.iter().filter(|c| !c.trim().is_empty()).count();
            let tagged = tags.iter().flatten().count();
            (tagged > 0 && tagged * 2 >= non_empty).then_some((i, tags))
        })
        .ok_or_else(|| {
            format_err(
                source,
                format!(
                    "no HXL hashtag row in the first {MAX_ROWS_BEFORE_HASHTAGS} rows: expected a \
                     row such as \"#loc+name,#loc+code,#adm2+pcode,#geo+lat,#geo+lon,#capacity\""
                ),
            )
        })?;
    let mut at = BTreeMap::new();
    for &field in wanted {
        for text in patterns(field) {
            let pattern = TagPattern::parse(text).map_err(|e| format_err(source, e))?;
            let matching: Vec<(usize, &Hashtag)> = tags
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.as_ref().filter(|t| pattern.matches(t)).map(|t| (i, t)))
                .collect();
            match matching.as_slice() {
                [] => continue,
                [(i, t)] => {
                    at.insert(field, (*i, format!("{} ({t})", column_letter(*i))));
                    break;
                }
                several => {
                    let list: Vec<String> = several
                        .iter()
                        .map(|(i, t)| format!("{t} in column {}", column_letter(*i)))
                        .collect();
                    return Err(format_err(
                        source,
                        format!(
                            "{} columns match {text} ({}): keep one",
                            several.len(),
                            list.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .filter(|f| !at.contains_key(*f))
        .map(|f| f.hxl_tag())
        .collect();
    if !missing.is_empty() {
        let present: Vec<String> = tags.iter().flatten().map(|t| t.to_string()).collect();
        return Err(format_err(
            source,
            format!(
                "no column tagged {}; HXL tags in the file: {}",
                missing.join(", "),
                present.join(", ")
            ),
        ));
    }
    Ok(Columns { at, tag_row })
}

/// One data row's cells by field, with the issues of reading them.
struct RowReader<'a> {
    source: &'a str,
    row: u64,
    cells: &'a [String],
    columns: &'a Columns,
    issues: &'a mut Vec<RegisterIssue>,
}

impl RowReader<'_> {
    fn text(&self, f: RegisterField) -> Option<String> {
        let (i, _) = self.columns.at.get(&f)?;
        self.cells
            .get(*i)
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
    }

    fn error(&mut self, f: RegisterField, message: String) {
        let column = self
            .columns
            .at
            .get(&f)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| f.hxl_tag().to_string());
        self.issues.push(RegisterIssue {
            severity: IssueSeverity::Error,
            source: self.source.to_string(),
            row: self.row,
            column,
            message,
        });
    }

    /// A number; thousands separators (spaces, or commas in "1,234") are refused as
    /// ambiguous with a Portuguese decimal comma.
    fn number(&mut self, f: RegisterField) -> Option<f64> {
        let t = self.text(f)?;
        match t.replace([' ', '\u{a0}'], "").parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                self.error(
                    f,
                    format!("{t:?} is not a number (use a point for decimals, no separators)"),
                );
                None
            }
        }
    }

    fn date(&mut self, f: RegisterField) -> Option<NaiveDate> {
        let t = self.text(f)?;
        let day = t.get(..10).unwrap_or(&t);
        let parsed = NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(&t, "%d/%m/%Y"));
        match parsed {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(
                    f,
                    format!("{t:?} is not a date (expected YYYY-MM-DD or DD/MM/YYYY)"),
                );
                None
            }
        }
    }
}

/// The data rows under the hashtag row that hold anything.
fn data_rows<'g>(
    grid: &'g Grid,
    columns: &Columns,
) -> impl Iterator<Item = &'g (u64, Vec<String>)> + use<'g> {
    let first = columns.tag_row + 1;
    grid.rows
        .iter()
        .skip(first)
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
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

fn fmt_number(v: Option<f64>, decimals: usize) -> String {
    match v {
        None => String::new(),
        Some(v) if decimals == 0 || v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.decimals$}"),
    }
}

/// The register as HXL CSV: a header row, the hashtag row, one row per entry with its
/// latest occupancy figure and date. Reading it back gives the same register (but the
/// older occupancy figures: see [`occupancy_history_to_hxl`]).
pub fn register_to_hxl(register: &Register) -> Result<Vec<u8>, csv::Error> {
    use RegisterField as F;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(F::ALL.iter().map(|f| f.header()))?;
    w.write_record(F::ALL.iter().map(|f| f.hxl_tag()))?;
    for e in &register.entries {
        let latest = e.latest_occupancy();
        let cell = |f: F| -> String {
            match f {
                F::Code => e.code.clone(),
                F::Name => e.name.clone(),
                F::SiteType => e.site_type.clone(),
                F::DistrictPcode => e.district_pcode.clone().unwrap_or_default(),
                // 6 decimals ≈ 0.1 m.
                F::Lat => format!("{:.6}", e.lat),
                F::Lon => format!("{:.6}", e.lon),
                F::Capacity => fmt_number(e.capacity_persons, 1),
                F::FloorArea => fmt_number(e.floor_area_m2, 1),
                F::Households => fmt_number(latest.and_then(|o| o.households), 1),
                F::Individuals => fmt_number(latest.and_then(|o| o.individuals), 1),
                F::Date => latest.map(|o| o.date.to_string()).unwrap_or_default(),
                F::Demonstration => if e.demonstration { "true" } else { "false" }.to_string(),
            }
        };
        w.write_record(F::ALL.iter().map(|f| cell(*f)))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Every occupancy figure of the register, oldest first per place, as an HXL CSV update
/// file (`#loc+code`, `#date+reported`, `#affected+idps+ind`, `#affected+idps+hh`).
pub fn occupancy_history_to_hxl(register: &Register) -> Result<Vec<u8>, csv::Error> {
    use RegisterField as F;
    let fields = [F::Code, F::Date, F::Individuals, F::Households];
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields.iter().map(|f| f.header()))?;
    w.write_record(fields.iter().map(|f| f.hxl_tag()))?;
    for e in &register.entries {
        for o in &e.occupancy {
            w.write_record([
                e.code.clone(),
                o.date.to_string(),
                fmt_number(o.individuals, 1),
                fmt_number(o.households, 1),
            ])?;
        }
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_run_like_a_spreadsheet() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(52), "BA");
    }

    #[test]
    fn excel_serials_are_days_since_1899_12_30() {
        // 45000 is 2023-03-15 in the 1900 date system.
        assert_eq!(
            excel_serial_date(45000.0),
            NaiveDate::from_ymd_opt(2023, 3, 15)
        );
        assert_eq!(excel_serial_date(f64::NAN), None);
    }
}
