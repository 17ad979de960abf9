//! CSV table readers: plain CSV (columns found by header name) and HXL CSV (columns found
//! by hashtag, the IOM DTM convention of a header row followed by a row of HXL tags).
//!
//! Takes bytes already read by the caller; no file access of its own. HXL matching follows
//! the HXL 1.1 standard's tag patterns (<https://hxlstandard.org/standard/1-1final/>):
//! `#affected+idps+ind` matches a column tagged `#affected` that has at least the
//! attributes `+idps` and `+ind`, in any order, case-insensitive; `-attr` excludes an
//! attribute and a trailing `!` demands the exact attribute set.

use csv::{ReaderBuilder, StringRecord};

use super::{Field, Format, LayerError, LayerSpec, Locus, Record};
use crate::domain::PointFeature;

/// How many leading rows are searched for the hashtag row. HXL lets data providers put
/// human header rows above the tags; libhxl-python (`hxl.input`, HXLTagsNotFoundException
/// "HXL tags not found in first 25 rows") looks at the first 25, and so do we.
const MAX_ROWS_BEFORE_HASHTAGS: usize = 25;

/// A column's HXL hashtag: `#tag` plus attributes, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hashtag {
    tag: String,
    attributes: Vec<String>,
}

impl Hashtag {
    /// Parses a cell such as `#affected +idps +ind`; `None` when it is not a hashtag.
    pub fn parse(cell: &str) -> Option<Hashtag> {
        let s = cell.trim();
        let rest = s.strip_prefix('#')?;
        let (tag, attrs) = split_name(rest)?;
        let mut attributes = Vec::new();
        let mut rest = attrs.trim_start();
        while !rest.is_empty() {
            let after_plus = rest.strip_prefix('+')?;
            let (attr, tail) = split_name(after_plus)?;
            attributes.push(attr);
            rest = tail.trim_start();
        }
        Some(Hashtag { tag, attributes })
    }
}

impl std::fmt::Display for Hashtag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.tag)?;
        self.attributes.iter().try_for_each(|a| write!(f, "+{a}"))
    }
}

/// A tag pattern from the manifest, e.g. `#affected+idps+ind`, `#adm1-code`, `#geo+lat!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagPattern {
    tag: String,
    include: Vec<String>,
    exclude: Vec<String>,
    /// `!`: the column's attributes must be exactly `include`.
    absolute: bool,
}

impl TagPattern {
    pub fn parse(pattern: &str) -> Result<TagPattern, String> {
        let bad = || {
            format!(
                "expected an HXL tag pattern like \"#affected+idps+ind\" (a #tag, then +attribute \
                 or -attribute, optionally a final !), found \"{pattern}\""
            )
        };
        let s = pattern.trim();
        let (s, absolute) = match s.strip_suffix('!') {
            Some(body) => (body.trim_end(), true),
            None => (s, false),
        };
        let rest = s.strip_prefix('#').ok_or_else(bad)?;
        let (tag, mut rest) = split_name(rest).ok_or_else(bad)?;
        let (mut include, mut exclude) = (Vec::new(), Vec::new());
        rest = rest.trim_start();
        while let Some(sign) = rest.chars().next() {
            let (name, tail) = split_name(rest.get(1..).unwrap_or("")).ok_or_else(bad)?;
            match sign {
                '+' => include.push(name),
                '-' => exclude.push(name),
                _ => return Err(bad()),
            }
            rest = tail.trim_start();
        }
        Ok(TagPattern {
            tag,
            include,
            exclude,
            absolute,
        })
    }

    /// The columns (index, hashtag) of a hashtag row that this pattern matches.
    pub fn matching<'t>(&self, tags: &'t [Option<Hashtag>]) -> Vec<(usize, &'t Hashtag)> {
        tags.iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().filter(|t| self.matches(t)).map(|t| (i, t)))
            .collect()
    }

    pub fn matches(&self, column: &Hashtag) -> bool {
        let has = |a: &String| column.attributes.contains(a);
        column.tag == self.tag
            && self.include.iter().all(has)
            && !self.exclude.iter().any(has)
            && (!self.absolute || column.attributes.iter().all(|a| self.include.contains(a)))
    }
}

/// Splits a leading HXL name (`[A-Za-z][A-Za-z0-9_]*`, lower-cased) off `s`.
fn split_name(s: &str) -> Option<(String, &str)> {
    let first = s.chars().next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    Some((name.to_ascii_lowercase(), rest))
}

/// Parses the bytes of a CSV or HXL CSV point layer (`spec.format` says which) into point
/// features, as the layer loader does once it has read the file, with the loader's warnings;
/// no district is assigned (that join needs the boundaries). For callers that hold the bytes
/// already, such as an upload or the fuzz tests.
pub fn parse_point_table(
    spec: &LayerSpec,
    bytes: &[u8],
) -> Result<(Vec<PointFeature>, Vec<String>), LayerError> {
    let Some(kind) = spec.kind.point_kind() else {
        return Err(LayerError::layer(
            spec,
            format!("kind {} is not a point layer", spec.kind.as_str()),
        ));
    };
    let records = match spec.format {
        Format::CsvHxl => read_hxl(spec, bytes)?,
        Format::Csv => read_plain(spec, bytes)?,
        other => {
            return Err(LayerError::layer(
                spec,
                format!("format {other:?} is not a CSV table"),
            ));
        }
    };
    let mut warnings = Vec::new();
    let features = super::build_points(spec, kind, records, &mut warnings)?;
    Ok((features, warnings))
}

/// Reads a CSV whose columns are identified by HXL hashtags.
pub(crate) fn read_hxl(spec: &LayerSpec, bytes: &[u8]) -> Result<Vec<Record>, LayerError> {
    let rows = rows(spec, bytes)?;
    let (tag_row, tags): (usize, Vec<Option<Hashtag>>) = rows
        .iter()
        .take(MAX_ROWS_BEFORE_HASHTAGS)
        .enumerate()
        .find_map(|(i, row)| hashtag_row(row).map(|tags| (i, tags)))
        .ok_or_else(|| {
            LayerError::layer(
                spec,
                format!(
                    "no HXL hashtag row in the first {MAX_ROWS_BEFORE_HASHTAGS} rows: expected \
                     a row such as \"#loc+name,#geo+lat,#geo+lon\" under the header (or use \
                     format = \"csv\" and name columns by header)"
                ),
            )
        })?;
    let mut columns = Vec::new();
    for (field, pattern_text) in spec.fields.configured() {
        let pattern = TagPattern::parse(pattern_text).map_err(|e| LayerError::layer(spec, e))?;
        match pattern.matching(&tags).as_slice() {
            [(column, _)] => columns.push((field, *column)),
            [] => {
                let present: Vec<String> = tags.iter().flatten().map(|t| t.to_string()).collect();
                return Err(LayerError::layer(
                    spec,
                    format!(
                        "no column tagged {pattern_text} (fields.{}); HXL tags in the file: {}",
                        field.key(),
                        present.join(", ")
                    ),
                ));
            }
            several => {
                let list: Vec<String> = several
                    .iter()
                    .map(|(i, t)| format!("{t} in column {}", i + 1))
                    .collect();
                return Err(LayerError::layer(
                    spec,
                    format!(
                        "tag pattern {pattern_text} (fields.{}) matches {} columns ({}): add \
                         attributes to choose one",
                        field.key(),
                        several.len(),
                        list.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(records(&rows, tag_row + 1, &columns))
}

/// A row is the hashtag row when at least half of its non-empty cells are hashtags (the
/// rule of libhxl-python, `FUZZY_HASHTAG_PERCENTAGE = 0.5`); cells that are not hashtags
/// leave their column untagged.
fn hashtag_row(row: &StringRecord) -> Option<Vec<Option<Hashtag>>> {
    let tags: Vec<Option<Hashtag>> = row.iter().map(Hashtag::parse).collect();
    let non_empty = row.iter().filter(|c| !c.trim().is_empty()).count();
    let tagged = tags.iter().flatten().count();
    (tagged > 0 && tagged * 2 >= non_empty).then_some(tags)
}

/// Reads a CSV whose first row names the columns.
pub(crate) fn read_plain(spec: &LayerSpec, bytes: &[u8]) -> Result<Vec<Record>, LayerError> {
    let rows = rows(spec, bytes)?;
    let Some(header) = rows.first() else {
        return Err(LayerError::layer(
            spec,
            "the file is empty: expected a header row",
        ));
    };
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let mut columns = Vec::new();
    for (field, column_name) in spec.fields.configured() {
        let matching: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == column_name)
            .map(|(i, _)| i)
            .collect();
        match matching.as_slice() {
            [column] => columns.push((field, *column)),
            [] => {
                return Err(LayerError::layer(
                    spec,
                    format!(
                        "no column named '{column_name}' (fields.{}); columns: {}",
                        field.key(),
                        names.join(", ")
                    ),
                ));
            }
            _ => {
                return Err(LayerError::layer(
                    spec,
                    format!(
                        "{} columns are named '{column_name}' (fields.{}): rename one",
                        matching.len(),
                        field.key()
                    ),
                ));
            }
        }
    }
    Ok(records(&rows, 1, &columns))
}

/// All rows of the file, header rows included, ragged rows allowed (HXL sheets often are).
fn rows(spec: &LayerSpec, bytes: &[u8]) -> Result<Vec<StringRecord>, LayerError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    reader
        .records()
        .map(|row| {
            row.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                LayerError::record(spec, Locus::Line(line).to_string(), format!("bad CSV: {e}"))
            })
        })
        .collect()
}

fn records(
    rows: &[StringRecord],
    first_data_row: usize,
    columns: &[(Field, usize)],
) -> Vec<Record> {
    rows.iter()
        .enumerate()
        .skip(first_data_row)
        .filter(|(_, row)| row.iter().any(|cell| !cell.trim().is_empty()))
        .map(|(i, row)| {
            // Lines are 1-based; fall back to the row number for the rare reader without one.
            let line = row.position().map_or(i as u64 + 1, |p| p.line());
            let mut record = Record::new(Locus::Line(line));
            for (field, column) in columns {
                record.set(*field, row.get(*column).map(str::to_string));
            }
            record
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Hashtag {
        match Hashtag::parse(s) {
            Some(t) => t,
            None => panic!("{s} should parse as a hashtag"),
        }
    }

    fn pattern(s: &str) -> TagPattern {
        match TagPattern::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_pattern_matches_attributes_in_any_order_and_case() {
        let p = pattern("#affected+idps+ind");
        assert!(p.matches(&tag("#affected+ind+idps")));
        assert!(p.matches(&tag("#AFFECTED +IDPs +ind +f")));
        assert!(!p.matches(&tag("#affected+idps")));
        assert!(!p.matches(&tag("#affected+hh")));
        assert!(!p.matches(&tag("#population+idps+ind")));
    }

    #[test]
    fn exclusions_and_absolute_patterns_narrow_the_match() {
        assert!(!pattern("#adm1-code").matches(&tag("#adm1+code")));
        assert!(pattern("#adm1-code").matches(&tag("#adm1+name")));
        assert!(pattern("#geo+lat!").matches(&tag("#geo+lat")));
        assert!(!pattern("#geo+lat!").matches(&tag("#geo+lat+site")));
    }

    #[test]
    fn a_hashtag_row_may_hold_a_stray_note_but_a_data_row_is_not_one() {
        let tags = hashtag_row(&StringRecord::from(vec![
            "#loc+name",
            "#geo+lat",
            "see notes",
        ]));
        let Some(tags) = tags else {
            panic!("two of three cells are hashtags");
        };
        assert_eq!(tags.iter().flatten().count(), 2);
        assert_eq!(
            tags.get(2),
            Some(&None),
            "the note leaves its column untagged"
        );
        assert!(hashtag_row(&StringRecord::from(vec!["Beira", "-19.83", "#1"])).is_none());
    }

    #[test]
    fn text_that_is_not_a_hashtag_is_refused() {
        assert_eq!(Hashtag::parse("Latitude"), None);
        assert_eq!(Hashtag::parse("#1abc"), None);
        assert_eq!(Hashtag::parse("#geo lat"), None);
        assert!(TagPattern::parse("geo+lat").is_err());
        assert!(TagPattern::parse("#geo*lat").is_err());
    }
}
