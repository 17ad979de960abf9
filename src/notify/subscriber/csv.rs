//! The subscribers' CSV form: the import (streamed, one validated row at a time) and the
//! export, with spreadsheet formulas escaped.
//!
//! # CSV layout
//!
//! One subscriber per row, a header row first. Columns may come in any order; `id` and
//! `name` are required, the others optional (default in brackets). Unknown columns are
//! refused, so a typo ("phone" for "phones") cannot silently drop data. Lists are
//! separated by `;`.
//!
//! | column | content |
//! |---|---|
//! | `id` | stable id, 1–64 of `A-Z a-z 0-9 _ . -`; importing the same id again updates |
//! | `name` | person or role, e.g. "Ponto focal Beira" |
//! | `active` | `true`/`false` (also `1`/`0`, `yes`/`no`, `sim`/`nao`) [true] |
//! | `language` | `pt` or `en` [pt] |
//! | `min_level` | `green`, `yellow`, `orange`, `red` (or verde, amarelo, laranja, vermelho) [yellow] |
//! | `hazards` | `cyclone;flood` (or ciclone, cheia); empty means every hazard [] |
//! | `receive_tests` | as `active`: also receive Test and Exercise alerts [false] |
//! | `emails` | e-mail addresses |
//! | `phones` | E.164 numbers, e.g. `+258841234567` (spaces, `-`, `(`, `)` and `.` are dropped) |
//! | `webhooks` | http(s) URLs |
//! | `provinces` | ADM1 P-codes, e.g. `MZ09` |
//! | `districts` | ADM2 P-codes, e.g. `MZ0906` |
//! | `features` | `layer:id` of point features, e.g. `sites:DTM-123` |
//! | `polygon` | a GeoJSON `Polygon` or `MultiPolygon` geometry, lon/lat (EPSG:4326) |
//!
//! The export escapes spreadsheet formulas (OWASP "CSV Injection"): a cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is written with a `'` in front, so
//! `=HYPERLINK(…)` in a name stays text when the file is opened. E.164 numbers start with
//! `+` and are escaped too (`'+258841234567`, which a spreadsheet shows as text instead
//! of turning it into a number); the import removes that one quote again, so an export
//! imports back unchanged ([`csv_escape`], [`csv_unescape`]).

use std::collections::BTreeSet;

use geo::Polygon;

use super::{
    Area, Channel, ChannelKind, HazardKind, KnownPcodes, Lang, Subscriber, SubscriberError,
};
use crate::alerts::levels::Level;

/// Separator of list items inside one CSV cell.
pub const LIST_SEP: char = ';';

/// The CSV columns, in the order [`to_csv`] writes them.
pub const CSV_COLUMNS: [&str; 14] = [
    "id",
    "name",
    "active",
    "language",
    "min_level",
    "hazards",
    "receive_tests",
    "emails",
    "phones",
    "webhooks",
    "provinces",
    "districts",
    "features",
    "polygon",
];

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "sim" | "s" => Some(true),
        "false" | "0" | "no" | "n" | "nao" | "não" => Some(false),
        _ => None,
    }
}

/// A level by its English or Portuguese name.
pub fn parse_level(s: &str) -> Option<Level> {
    let s = s.trim().to_ascii_lowercase();
    Level::ALL
        .into_iter()
        .find(|l| l.name_en() == s || l.name_pt() == s)
}

/// A cell a spreadsheet would read as a formula, or a quoted one [`csv_escape`] wrote
/// (so the escape can be undone exactly, even for a value that starts with `'`).
fn formula_like(cell: &str) -> bool {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => true,
        Some('\'') => cell.strip_prefix('\'').is_some_and(formula_like),
        _ => false,
    }
}

/// A cell as the export writes it: `'` in front of one a spreadsheet would evaluate.
pub fn csv_escape(cell: &str) -> std::borrow::Cow<'_, str> {
    if formula_like(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The inverse of [`csv_escape`], applied to every cell the import reads.
pub fn csv_unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

fn list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(LIST_SEP)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Reads subscribers from CSV (layout in the module doc), validating each row. The first
/// error stops the import and names its line and column, so a file is imported whole or
/// not at all.
pub fn from_csv(bytes: &[u8], known: &KnownPcodes) -> Result<Vec<Subscriber>, SubscriberError> {
    let mut rows = CsvRows::new(bytes, known)?;
    let mut out = Vec::new();
    while let Some((s, _line)) = rows.next_row()? {
        out.push(s);
    }
    Ok(out)
}

/// Subscribers read from CSV one row at a time, each parsed and validated as
/// [`from_csv`] does (which is built on it), its id checked against the earlier rows'.
/// Holds one row and the ids seen, whatever the file's size: the import streams its
/// body through it (issue 17 finding 4).
pub struct CsvRows<'k, R: std::io::Read> {
    rdr: csv::Reader<R>,
    /// Column name (lower case) -> index.
    col: std::collections::BTreeMap<String, usize>,
    ids: BTreeSet<String>,
    known: &'k KnownPcodes,
    rec: csv::StringRecord,
}

impl<'k, R: std::io::Read> CsvRows<'k, R> {
    /// Reads and checks the header row.
    pub fn new(reader: R, known: &'k KnownPcodes) -> Result<Self, SubscriberError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers = rdr
            .headers()
            .map_err(|e| SubscriberError::Csv {
                line: Some(1),
                column: None,
                message: format!("cannot read the header row: {e}"),
            })?
            .clone();
        let mut col = std::collections::BTreeMap::new();
        for (i, h) in headers.iter().enumerate() {
            let h = h.trim_start_matches('\u{feff}').to_ascii_lowercase();
            if !CSV_COLUMNS.contains(&h.as_str()) {
                return Err(SubscriberError::Csv {
                    line: Some(1),
                    column: Some(h.clone()),
                    message: format!(
                        "unknown column; expected some of {}",
                        CSV_COLUMNS.join(", ")
                    ),
                });
            }
            if col.insert(h.clone(), i).is_some() {
                return Err(SubscriberError::Csv {
                    line: Some(1),
                    column: Some(h),
                    message: "column appears twice".into(),
                });
            }
        }
        for required in ["id", "name"] {
            if !col.contains_key(required) {
                return Err(SubscriberError::Csv {
                    line: Some(1),
                    column: Some(required.into()),
                    message: "required column missing".into(),
                });
            }
        }
        Ok(CsvRows {
            rdr,
            col,
            ids: BTreeSet::new(),
            known,
            rec: csv::StringRecord::new(),
        })
    }

    /// The next subscriber and its CSV line; `None` after the last row.
    pub fn next_row(&mut self) -> Result<Option<(Subscriber, Option<u64>)>, SubscriberError> {
        let more = self
            .rdr
            .read_record(&mut self.rec)
            .map_err(|e| SubscriberError::Csv {
                line: e.position().map(|p| p.line()),
                column: None,
                message: e.to_string(),
            })?;
        if !more {
            return Ok(None);
        }
        let (rec, col, known, ids) = (&self.rec, &self.col, self.known, &mut self.ids);
        let line = rec.position().map(|p| p.line());
        let cell = |name: &str| -> &str {
            col.get(name)
                .and_then(|&i| rec.get(i))
                .map_or("", csv_unescape)
        };
        let bad = |column: &str, message: String| SubscriberError::Csv {
            line,
            column: Some(column.to_string()),
            message,
        };
        let flag = |name: &str, default: bool| -> Result<bool, SubscriberError> {
            let c = cell(name);
            if c.is_empty() {
                return Ok(default);
            }
            parse_bool(c).ok_or_else(|| bad(name, format!("expected true or false, found {c:?}")))
        };
        let mut s = Subscriber {
            id: cell("id").to_string(),
            name: cell("name").to_string(),
            active: flag("active", true)?,
            receive_tests: flag("receive_tests", false)?,
            ..Subscriber::default()
        };
        if !cell("language").is_empty() {
            s.language = Lang::parse(cell("language")).ok_or_else(|| {
                bad(
                    "language",
                    format!("expected pt or en, found {:?}", cell("language")),
                )
            })?;
        }
        if !cell("min_level").is_empty() {
            s.min_level = parse_level(cell("min_level")).ok_or_else(|| {
                bad(
                    "min_level",
                    format!(
                        "expected green, yellow, orange or red, found {:?}",
                        cell("min_level")
                    ),
                )
            })?;
        }
        for h in list(cell("hazards")) {
            s.hazards.push(HazardKind::parse(h).ok_or_else(|| {
                bad("hazards", format!("expected cyclone or flood, found {h:?}"))
            })?);
        }
        s.channels
            .extend(list(cell("emails")).map(|a| Channel::Email(a.into())));
        s.channels
            .extend(list(cell("phones")).map(|a| Channel::Sms(a.into())));
        s.channels
            .extend(list(cell("webhooks")).map(|a| Channel::Webhook(a.into())));
        s.areas
            .extend(list(cell("provinces")).map(|p| Area::Province(p.to_ascii_uppercase())));
        s.areas
            .extend(list(cell("districts")).map(|p| Area::District(p.to_ascii_uppercase())));
        for f in list(cell("features")) {
            let (layer, id) = f
                .split_once(':')
                .ok_or_else(|| bad("features", format!("expected layer:id, found {f:?}")))?;
            s.areas.push(Area::Feature {
                layer: layer.trim().into(),
                id: id.trim().into(),
            });
        }
        if !cell("polygon").is_empty() {
            let polys = parse_polygon_cell(cell("polygon")).map_err(|m| bad("polygon", m))?;
            s.areas.extend(polys.into_iter().map(Area::Polygon));
        }
        if !ids.insert(s.id.clone()) {
            return Err(bad(
                "id",
                format!("id {:?} appears on an earlier line", s.id),
            ));
        }
        let s = s.validate(known, line)?;
        Ok(Some((s, line)))
    }

    /// The ids of the rows read so far.
    pub fn into_ids(self) -> BTreeSet<String> {
        self.ids
    }
}

/// A GeoJSON Polygon or MultiPolygon geometry, as text, into polygons.
pub fn parse_polygon_cell(text: &str) -> Result<Vec<Polygon<f64>>, String> {
    let g: geojson::Geometry = text
        .parse()
        .map_err(|e| format!("expected a GeoJSON Polygon or MultiPolygon geometry: {e}"))?;
    match crate::geodata::geometry::to_geo(&g.value) {
        Ok(geo::Geometry::Polygon(p)) => Ok(vec![p]),
        Ok(geo::Geometry::MultiPolygon(mp)) => Ok(mp.0),
        Ok(_) => Err(format!(
            "expected a GeoJSON Polygon or MultiPolygon, found a {}",
            g.value.type_name()
        )),
        Err(e) => Err(format!("expected a GeoJSON Polygon or MultiPolygon: {e}")),
    }
}

/// Polygons as one GeoJSON geometry (Polygon for one, MultiPolygon for several).
pub fn polygon_cell(polys: &[&Polygon<f64>]) -> String {
    let value = match polys {
        [] => return String::new(),
        [one] => geojson::GeometryValue::from(*one),
        many => geojson::GeometryValue::from(&geo::MultiPolygon::new(
            many.iter().map(|p| (*p).clone()).collect(),
        )),
    };
    geojson::Geometry::new(value).to_string()
}

/// Writes subscribers as CSV in the module's layout (all columns, [`CSV_COLUMNS`] order).
/// The output contains personal data: it is for the admin export only.
pub fn to_csv(subs: &[Subscriber]) -> Result<String, SubscriberError> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let csv_err = |e: csv::Error| SubscriberError::Csv {
        line: None,
        column: None,
        message: format!("writing CSV: {e}"),
    };
    w.write_record(CSV_COLUMNS).map_err(csv_err)?;
    for s in subs {
        let join = |it: Vec<String>| it.join(&LIST_SEP.to_string());
        let addrs = |k: ChannelKind| {
            join(
                s.channels
                    .iter()
                    .filter(|c| c.kind() == k)
                    .map(|c| c.address().to_string())
                    .collect(),
            )
        };
        let mut provinces = Vec::new();
        let mut districts = Vec::new();
        let mut features = Vec::new();
        let mut polys = Vec::new();
        for a in &s.areas {
            match a {
                Area::Province(p) => provinces.push(p.clone()),
                Area::District(p) => districts.push(p.clone()),
                Area::Feature { layer, id } => features.push(format!("{layer}:{id}")),
                Area::Polygon(p) => polys.push(p),
            }
        }
        let row = [
            s.id.clone(),
            s.name.clone(),
            s.active.to_string(),
            s.language.as_str().to_string(),
            s.min_level.name_en().to_string(),
            join(s.hazards.iter().map(|h| h.as_str().to_string()).collect()),
            s.receive_tests.to_string(),
            addrs(ChannelKind::Email),
            addrs(ChannelKind::Sms),
            addrs(ChannelKind::Webhook),
            join(provinces),
            join(districts),
            join(features),
            polygon_cell(&polys),
        ];
        w.write_record(row.iter().map(|c| csv_escape(c).into_owned()))
            .map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| SubscriberError::Csv {
        line: None,
        column: None,
        message: format!("writing CSV: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|e| SubscriberError::Csv {
        line: None,
        column: None,
        message: format!("CSV output is not UTF-8: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped_and_the_escape_undone_exactly() {
        for (raw, written) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+258841234567", "'+258841234567"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("'=x", "''=x"),
            ("'plain", "'plain"),
            ("Beira", "Beira"),
            ("", ""),
        ] {
            assert_eq!(csv_escape(raw), written);
            assert_eq!(csv_unescape(written), raw);
        }
    }
}
