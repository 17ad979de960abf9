//! Where each field is and what a row holds: the hashtag row, columns matched by tag
//! pattern (labelled with their spreadsheet letter), and a row's cells read with the issues
//! of reading them.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::grid::Grid;
use super::{RegisterFileError, format_err};
use crate::domain::{IssueSeverity, RegisterField, RegisterIssue};
use crate::layers::hxl::{Hashtag, TagPattern};

/// How many leading rows are searched for the hashtag row (libhxl-python's 25, as in
/// [`crate::layers::hxl`]).
const MAX_ROWS_BEFORE_HASHTAGS: usize = 25;

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
pub(super) fn column_letter(mut i: usize) -> String {
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

/// Where each field is: column index and label ("D (#geo+lat)").
pub(super) struct Columns {
    pub(super) at: BTreeMap<RegisterField, (usize, String)>,
    tag_row: usize,
}

pub(super) fn find_columns(
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
            match pattern.matching(&tags).as_slice() {
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
pub(super) struct RowReader<'a> {
    pub(super) source: &'a str,
    pub(super) row: u64,
    pub(super) cells: &'a [String],
    pub(super) columns: &'a Columns,
    pub(super) issues: &'a mut Vec<RegisterIssue>,
}

impl RowReader<'_> {
    pub(super) fn text(&self, f: RegisterField) -> Option<String> {
        let (i, _) = self.columns.at.get(&f)?;
        self.cells
            .get(*i)
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
    }

    pub(super) fn error(&mut self, f: RegisterField, message: String) {
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
    pub(super) fn number(&mut self, f: RegisterField) -> Option<f64> {
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

    pub(super) fn date(&mut self, f: RegisterField) -> Option<NaiveDate> {
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
pub(super) fn data_rows<'g>(
    grid: &'g Grid,
    columns: &Columns,
) -> impl Iterator<Item = &'g (u64, Vec<String>)> + use<'g> {
    let first = columns.tag_row + 1;
    grid.rows
        .iter()
        .skip(first)
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
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
}
