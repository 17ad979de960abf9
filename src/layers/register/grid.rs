//! File bytes into a grid of text cells: the size cap, HXL CSV, or the first sheet of an
//! XLSX/ODS/XLS workbook (Excel date serials as dates).

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Reader};
use chrono::NaiveDate;

use super::{MAX_REGISTER_BYTES, RegisterFileError, format_err};

/// A sheet as text cells, each row with its 1-based spreadsheet row number.
pub(super) struct Grid {
    pub(super) rows: Vec<(u64, Vec<String>)>,
}

pub(super) fn read_bytes(path: &Path) -> Result<Vec<u8>, RegisterFileError> {
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

pub(super) fn grid_of(bytes: &[u8], source: &str) -> Result<Grid, RegisterFileError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
