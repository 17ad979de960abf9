//! Reading one layer's file into [`Record`]s: the size and presence checks, the SHA-256 the
//! layer's `LayerInfo` carries, the choice of reader by format (GeoJSON, CSV, HXL CSV,
//! GDAL), and the parsing of a record's count fields.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use geo::Geometry;
use sha2::{Digest, Sha256};

use super::{Field, Format, LayerError, LayerSpec, MAX_LAYER_FILE_BYTES, Manifest, geojson, hxl};
use crate::geodata::parse_count;

/// Where a record sits in its file, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locus {
    /// Index in a GeoJSON `features` array, 0-based.
    Feature(usize),
    /// GDAL feature id.
    #[cfg_attr(not(feature = "gdal"), allow(dead_code))]
    Fid(u64),
    /// Line in a CSV file, 1-based.
    Line(u64),
}

impl fmt::Display for Locus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locus::Feature(i) => write!(f, "feature index {i} (0-based)"),
            Locus::Fid(fid) => write!(f, "feature FID {fid}"),
            Locus::Line(n) => write!(f, "line {n}"),
        }
    }
}

/// One feature or row as read, before it becomes a domain type: the configured fields as
/// text and the geometry if the format has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub at: Locus,
    /// Values indexed by [`Field::index`]; `None` when absent, null or blank.
    pub values: [Option<String>; Field::ALL.len()],
    /// An identifier the source gives outside the configured fields (GeoJSON `id`), for
    /// messages only.
    pub source_id: Option<String>,
    pub geometry: Option<Geometry<f64>>,
}

impl Record {
    pub fn new(at: Locus) -> Self {
        Record {
            at,
            values: Default::default(),
            source_id: None,
            geometry: None,
        }
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.values.get(field.index())?.as_deref()
    }

    pub fn set(&mut self, field: Field, value: Option<String>) {
        let value = value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        if let Some(slot) = self.values.get_mut(field.index()) {
            *slot = value;
        }
    }

    /// "feature index 12 (0-based), id MZ0701" — where, and which, for messages.
    pub fn describe(&self) -> String {
        match self.get(Field::Id).or(self.source_id.as_deref()) {
            Some(id) => format!("{}, id {id}", self.at),
            None => self.at.to_string(),
        }
    }
}

/// Reads one layer's records and the SHA-256 of its file.
pub(super) fn read_layer(
    manifest: &Manifest,
    spec: &LayerSpec,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Record>, String), LayerError> {
    let io = |source: std::io::Error| LayerError::Io {
        layer: spec.name.clone(),
        path: spec.path.clone(),
        source,
    };
    let meta = match std::fs::metadata(&spec.path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LayerError::MissingFile {
                layer: spec.name.clone(),
                path: spec.path.clone(),
                manifest: manifest.path.clone(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    if meta.is_file() && meta.len() > MAX_LAYER_FILE_BYTES {
        return Err(LayerError::TooLarge {
            layer: spec.name.clone(),
            path: spec.path.clone(),
            size_bytes: meta.len(),
            limit_bytes: MAX_LAYER_FILE_BYTES,
        });
    }
    match spec.format {
        Format::Raster => Err(LayerError::layer(
            spec,
            "a raster is not read as features (kind population_grid is opened at use)",
        )),
        Format::Geojson | Format::Csv | Format::CsvHxl => {
            let bytes = std::fs::read(&spec.path).map_err(io)?;
            let digest = hex::encode(Sha256::digest(&bytes));
            let records = match spec.format {
                Format::Geojson => geojson::read(spec, &bytes)?,
                Format::CsvHxl => hxl::read_hxl(spec, &bytes)?,
                _ => hxl::read_plain(spec, &bytes)?,
            };
            Ok((records, digest))
        }
        Format::Gdal => {
            let digest = sha256_of_path(&spec.path).map_err(io)?;
            #[cfg(feature = "gdal")]
            {
                Ok((super::gdal::read(spec, warnings)?, digest))
            }
            #[cfg(not(feature = "gdal"))]
            {
                let _ = (digest, warnings);
                Err(LayerError::GdalDisabled {
                    layer: spec.name.clone(),
                    path: spec.path.clone(),
                })
            }
        }
    }
}

/// SHA-256 of a file read in chunks (GDAL sources are not otherwise loaded into memory);
/// for a directory source (a FileGDB folder) the digest covers its files in name order.
pub(super) fn sha256_of_path(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut files = if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        entries
    } else {
        vec![path.to_path_buf()]
    };
    let mut buf = vec![0u8; 1 << 16];
    for file in files.drain(..) {
        let mut f = std::fs::File::open(file)?;
        loop {
            let n = f.read(&mut buf)?;
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            hasher.update(chunk);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A count field (population, households, capacity) as a number; `None` when not
/// configured or blank; an error naming record and field when it is not a number.
pub(crate) fn numeric_field(
    spec: &LayerSpec,
    record: &Record,
    field: Field,
) -> Result<Option<f64>, LayerError> {
    let Some(text) = record.get(field) else {
        return Ok(None);
    };
    match parse_count(text) {
        Some(v) => Ok(Some(v)),
        None => Err(LayerError::record(
            spec,
            record.describe(),
            format!(
                "field {} ('{}'): expected a non-negative number, found '{text}'",
                field.key(),
                spec.fields.get(field).unwrap_or("")
            ),
        )),
    }
}
