//! Checks every adapter that reads outside geographic input shares (issue 16 move 3): the
//! accepted names of WGS 84 lon/lat, a GeoJSON `crs` member, coordinates that give a
//! projected file away, geometry type names for messages, and counts written with
//! thousands separators. Feeds, layers and raster all call these, so they live below all
//! three rather than in one of them. So do the readers of geographic input that both a
//! fetched feed and a layer file carry: [`geometry`] (GeoJSON geometry to `geo`, checked),
//! [`flood_extent`] (flood-extent polygons) and [`basins`] (river basins).
//!
//! Pure: strings and geometries in, answers out. Must not import any adapter (feeds,
//! layers, raster) nor do I/O.

pub mod basins;
pub mod flood_extent;
pub mod geometry;

use geo::{Geometry, MultiPolygon};
use geojson::{JsonObject, JsonValue};

/// The accepted spellings of WGS 84 longitude/latitude, normalised; `None` for any other
/// CRS. EPSG:4326 formally has latitude first, but every source we read (GeoJSON,
/// GeoPackage, Shapefile through GDAL's traditional GIS order) stores longitude first, and
/// coordinates are range-checked after loading.
pub fn normalise_crs(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    let epsg_4326 = [
        "epsg:4326",
        "urn:ogc:def:crs:epsg::4326",
        "urn:ogc:def:crs:epsg:6.6:4326",
        "http://www.opengis.net/def/crs/epsg/0/4326",
        "https://www.opengis.net/def/crs/epsg/0/4326",
    ];
    let crs84 = [
        "ogc:crs84",
        "crs84",
        "urn:ogc:def:crs:ogc:1.3:crs84",
        "urn:ogc:def:crs:ogc::crs84",
        "http://www.opengis.net/def/crs/ogc/1.3/crs84",
        "https://www.opengis.net/def/crs/ogc/1.3/crs84",
    ];
    if epsg_4326.contains(&n.as_str()) {
        Some("EPSG:4326")
    } else if crs84.contains(&n.as_str()) {
        Some("OGC:CRS84")
    } else {
        None
    }
}

/// The name a GeoJSON `crs` member gives (pre-RFC 7946 writers, GDAL for projected data).
pub fn geojson_crs_name(members: Option<&JsonObject>) -> Option<String> {
    let crs = members?.get("crs")?;
    Some(
        crs.get("properties")
            .and_then(|p| p.get("name"))
            .and_then(JsonValue::as_str)
            .map_or_else(|| crs.to_string(), str::to_string),
    )
}

/// The first coordinate outside lon/lat ranges, which gives a projected file away.
pub fn first_non_lonlat(mp: &MultiPolygon<f64>) -> Option<(f64, f64)> {
    use geo::CoordsIter;
    mp.coords_iter()
        .find(|c| !(c.x.abs() <= 180.0 && c.y.abs() <= 90.0))
        .map(|c| (c.x, c.y))
}

/// The GeoJSON type name of a geometry, for messages.
pub fn geometry_type(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::Line(_) => "Line",
        Geometry::LineString(_) => "LineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
        Geometry::Rect(_) => "Rect",
        Geometry::Triangle(_) => "Triangle",
    }
}

/// Parses a non-negative count as sources write it: "1234", "1 234" (also with no-break
/// spaces), "1,234,567", "1.234.567", "1,234.5", "1.234,5", "12,5". Rules: whitespace is
/// dropped; with both `,` and `.` the last one is the decimal mark; a lone separator kind
/// is a thousands separator when it repeats or is followed by exactly three digits,
/// otherwise a decimal mark. Returns `None` for text that is not such a number, for
/// negatives and for non-finite values.
pub fn parse_count(text: &str) -> Option<f64> {
    let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    {
        return None;
    }
    let (thousands, decimal) = match (s.rfind(','), s.rfind('.')) {
        (Some(c), Some(d)) if c > d => ('.', Some(',')),
        (Some(_), Some(_)) => (',', Some('.')),
        (Some(_), None) => lone_separator(&s, ','),
        (None, Some(_)) => lone_separator(&s, '.'),
        (None, None) => (' ', None),
    };
    let (int_part, frac_part) = match decimal.and_then(|d| s.rsplit_once(d)) {
        Some((i, f)) => (i, Some(f)),
        None => (s.as_str(), None),
    };
    if frac_part.is_some_and(|f| f.is_empty() || !f.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let groups: Vec<&str> = int_part.split(thousands).collect();
    let grouped_ok = groups.len() == 1
        || (groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
            && groups.iter().skip(1).all(|g| g.len() == 3));
    if !grouped_ok
        || groups
            .iter()
            .any(|g| !g.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let plain = match frac_part {
        Some(f) => format!("{}.{f}", groups.concat()),
        None => groups.concat(),
    };
    plain.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// For a number with only one kind of separator: thousands when it repeats or has exactly
/// three digits after it ("1,234" is a count of 1234), else decimal ("12,5").
fn lone_separator(s: &str, sep: char) -> (char, Option<char>) {
    let repeats = s.matches(sep).count() > 1;
    let three_after = s
        .rsplit_once(sep)
        .is_some_and(|(_, after)| after.len() == 3);
    if repeats || three_after {
        (sep, None)
    } else {
        (' ', Some(sep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accept_thousands_separators_and_spaces() {
        assert_eq!(parse_count("32883666"), Some(32_883_666.0));
        assert_eq!(parse_count("1 234"), Some(1234.0));
        assert_eq!(parse_count("1\u{a0}234\u{202f}567"), Some(1_234_567.0));
        assert_eq!(parse_count("1,234,567"), Some(1_234_567.0));
        assert_eq!(parse_count("1.234.567"), Some(1_234_567.0));
        assert_eq!(parse_count("1,234.5"), Some(1234.5));
        assert_eq!(parse_count("1.234,5"), Some(1234.5));
        assert_eq!(parse_count("12,5"), Some(12.5));
        assert_eq!(parse_count("12.5"), Some(12.5));
        assert_eq!(parse_count("1,234"), Some(1234.0));
    }

    #[test]
    fn counts_reject_text_negatives_and_misgrouped_digits() {
        assert_eq!(parse_count("Tocota"), None);
        assert_eq!(parse_count("-5"), None);
        assert_eq!(parse_count("12,34,567"), None);
        assert_eq!(parse_count("1,234,56"), None);
        assert_eq!(parse_count("n/a"), None);
        assert_eq!(parse_count("1.2.3,4,5"), None);
    }
}
