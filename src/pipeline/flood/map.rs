//! A flood map in the service: what its first bytes say it is, read into polygons (GDAL
//! for GeoPackage and zipped Shapefile, through a temporary file), levelled by
//! `[flood.extent]` and assessed.

use super::*;

/// What a flood map's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MapFormat {
    GeoJson,
    GeoPackage,
    ZippedShapefile,
}

pub(super) fn map_format(bytes: &[u8]) -> Option<MapFormat> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Some(MapFormat::GeoJson),
        _ if bytes.starts_with(b"SQLite format 3\0") => Some(MapFormat::GeoPackage),
        _ if bytes.starts_with(b"PK\x03\x04") => Some(MapFormat::ZippedShapefile),
        _ => None,
    }
}

/// A flood map's polygons from its bytes. GeoJSON is parsed in memory; GeoPackage and
/// zipped Shapefile go through GDAL from a temporary file (GDAL reads `.shp.zip`
/// directly), named after the issuance and removed afterwards. Errors name `origin`
/// (the URL and feed), never the temporary file.
pub(super) fn read_map_bytes(
    bytes: &[u8],
    origin: &str,
    field: Option<&str>,
    issuance: i64,
) -> Result<crate::domain::FloodExtentInput, ProcessError> {
    let ext = match map_format(bytes) {
        Some(MapFormat::GeoJson) => {
            return parse_extent_geojson(bytes, origin, field)
                .map_err(|e| ProcessError::Parse(e.to_string()));
        }
        Some(MapFormat::GeoPackage) => "gpkg",
        Some(MapFormat::ZippedShapefile) => "shp.zip",
        None => {
            let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect();
            return Err(ProcessError::Parse(format!(
                "{origin}: not a flood map: expected GeoJSON, a GeoPackage or a zipped \
                 Shapefile, found {} bytes starting {head:?}",
                bytes.len()
            )));
        }
    };
    let path = std::env::temp_dir().join(format!(
        "aviso-flood-map-{}-{issuance}.{ext}",
        std::process::id()
    ));
    let path_text = path.display().to_string();
    std::fs::write(&path, bytes)
        .map_err(|e| ProcessError::Parse(format!("{origin}: writing {path_text} for GDAL: {e}")))?;
    let read = read_flood_extent(&path, field, None);
    let _ = std::fs::remove_file(&path);
    read.map(|mut input| {
        input.origin = origin.to_string();
        input
    })
    .map_err(|e| ProcessError::Parse(e.to_string().replace(&path_text, origin)))
}

impl Pipeline {
    /// Reads a stored flood map (GeoJSON, GeoPackage or zipped Shapefile), levels its
    /// polygons by `[flood.extent]` and assesses it.
    pub(super) fn assess_map(
        &self,
        iss: &StoredIssuance,
        now: DateTime<Utc>,
    ) -> Result<FloodAssessment, ProcessError> {
        let origin = format!("{} ({})", iss.raw.url, iss.raw.feed);
        let ecfg = &self.cfg.flood.extent;
        let basis = ecfg.basis();
        let input = read_map_bytes(&iss.raw.bytes, &origin, basis.field(), iss.id)?;
        let extent = classify_extent(&input, &basis, ecfg)
            .map_err(|e| ProcessError::Parse(format!("{origin}: {e}")))?;
        Ok(assess_flood_extent(
            extent,
            &self.layers,
            self.cfg.flood_assessment(),
            now,
        ))
    }
}
