//! Reading a layer manifest: the raw TOML (serde, unknown keys rejected), then each
//! layer checked once (kind, format, fields, CRS, flood impact areas) and every path
//! resolved against the manifest's folder and `data_dir` (or AVISO_DATA_DIR).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::*;
use crate::geodata::normalise_crs;
use crate::layers::LayerError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    data_dir: Option<String>,
    #[serde(default, rename = "layer")]
    layers: Vec<RawLayer>,
    #[serde(default, rename = "flood_impact")]
    flood_impacts: Vec<RawFloodImpact>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFloodImpact {
    station: String,
    districts: Option<Vec<String>>,
    polygon: Option<String>,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: String,
    kind: LayerKind,
    path: String,
    format: Option<Format>,
    gdal_layer: Option<String>,
    crs: Option<String>,
    licence: String,
    source: String,
    caveat: Option<String>,
    population_source: Option<String>,
    #[serde(default)]
    invalid_numbers: InvalidNumbers,
    #[serde(default)]
    fields: Fields,
}

/// Reads and validates a manifest; `data_dir` comes from `AVISO_DATA_DIR` when that is set
/// and non-empty, else from the manifest (relative to its folder).
pub fn load_manifest(path: &Path) -> Result<Manifest, LayerError> {
    let from_env = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty());
    load_manifest_with(path, from_env.as_deref().map(Path::new))
}

/// Like [`load_manifest`], with an explicit `data_dir` override (a `--data-dir` flag, a
/// test) instead of the environment.
pub fn load_manifest_with(
    path: &Path,
    data_dir_override: Option<&Path>,
) -> Result<Manifest, LayerError> {
    let fail = |message: String| LayerError::Manifest {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let raw: RawManifest = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let manifest_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let data_dir = match (data_dir_override, raw.data_dir.as_deref()) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(dir)) => manifest_dir.join(dir),
        (None, None) => manifest_dir.to_path_buf(),
    };
    let mut layers: Vec<LayerSpec> = Vec::with_capacity(raw.layers.len());
    for raw_layer in raw.layers {
        let spec = validate_layer(raw_layer, manifest_dir, &data_dir).map_err(&fail)?;
        if layers.iter().any(|l| l.name == spec.name) {
            return Err(fail(format!("two layers are named '{}'", spec.name)));
        }
        layers.push(spec);
    }
    for (kind, exactly_one) in [
        (LayerKind::Country, true),
        (LayerKind::Provinces, true),
        (LayerKind::Districts, true),
        (LayerKind::DistrictPopulation, false),
        (LayerKind::PopulationGrid, false),
        (LayerKind::RiverBasins, false),
        (LayerKind::RiverLines, false),
    ] {
        let n = layers.iter().filter(|l| l.kind == kind).count();
        if n > 1 || (exactly_one && n == 0) {
            let expected = if exactly_one {
                "exactly one"
            } else {
                "at most one"
            };
            return Err(fail(format!(
                "expected {expected} layer of kind {}, found {n}",
                kind.as_str()
            )));
        }
    }
    let mut flood_impacts: Vec<FloodImpactSpec> = Vec::with_capacity(raw.flood_impacts.len());
    for raw_impact in raw.flood_impacts {
        let spec = validate_flood_impact(raw_impact, manifest_dir, &data_dir).map_err(&fail)?;
        if flood_impacts.iter().any(|f| f.station == spec.station) {
            return Err(fail(format!(
                "two [[flood_impact]] entries for station {:?}; expected one per station",
                spec.station
            )));
        }
        flood_impacts.push(spec);
    }
    Ok(Manifest {
        path: path.to_path_buf(),
        data_dir,
        layers,
        flood_impacts,
    })
}

fn validate_flood_impact(
    raw: RawFloodImpact,
    manifest_dir: &Path,
    data_dir: &Path,
) -> Result<FloodImpactSpec, String> {
    let station = raw.station.trim().to_string();
    if station.is_empty() {
        return Err(
            "[[flood_impact]]: station is empty; expected a station id such as \"41\"".into(),
        );
    }
    let here = |m: &str| format!("[[flood_impact]] station {station:?}: {m}");
    let area = match (raw.districts, raw.polygon) {
        (Some(d), None) => {
            let d: Vec<String> = d.iter().map(|p| p.trim().to_string()).collect();
            if d.is_empty() || d.iter().any(String::is_empty) {
                return Err(here("districts is empty or holds an empty P-code"));
            }
            FloodImpactArea::Districts(d)
        }
        (None, Some(p)) if !p.trim().is_empty() => FloodImpactArea::Polygon {
            path: resolve(&p, manifest_dir, data_dir),
            path_in_manifest: p,
        },
        (None, Some(_)) => return Err(here("polygon is empty; expected a file path")),
        (Some(_), Some(_)) => {
            return Err(here(
                "set either districts (P-codes) or polygon (a file), not both",
            ));
        }
        (None, None) => {
            return Err(here(
                "expected districts = [\"MZ...\"] (P-codes) or polygon = \"file\"",
            ));
        }
    };
    Ok(FloodImpactSpec {
        station,
        area,
        note: raw.note,
    })
}

fn validate_layer(
    raw: RawLayer,
    manifest_dir: &Path,
    data_dir: &Path,
) -> Result<LayerSpec, String> {
    let name = raw.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "layer name '{name}': expected letters, digits, '_' or '-' only (it becomes an \
             OGC API collection id; dots and spaces break clients such as QGIS)"
        ));
    }
    let here = |message: String| format!("layer '{name}': {message}");
    let format = match raw.format {
        Some(f) => f,
        None => Format::from_extension(&raw.path).ok_or_else(|| {
            here(format!(
                "cannot infer the format of '{}' from its extension: set format = \"geojson\", \
                 \"csv_hxl\", \"csv\" or \"gdal\"",
                raw.path
            ))
        })?,
    };
    let crs = match raw.crs.as_deref() {
        None => "EPSG:4326".to_string(),
        Some(given) => normalise_crs(given).map(str::to_string).ok_or_else(|| {
            here(format!(
                "crs \"{given}\" is not accepted: layers must be in EPSG:4326 or OGC:CRS84 \
                 (WGS 84 longitude/latitude). Reproject the file first, e.g. \
                 `ogr2ogr -t_srs EPSG:4326 out.gpkg {}`, and declare crs = \"EPSG:4326\"",
                raw.path
            ))
        })?,
    };
    if (raw.kind == LayerKind::PopulationGrid) != (format == Format::Raster) {
        return Err(here(format!(
            "kind {} with format {format:?}: kind population_grid goes with format \"raster\" \
             (a single-band GeoTIFF or other GDAL raster in EPSG:4326), and only it",
            raw.kind.as_str()
        )));
    }
    if raw.kind == LayerKind::RiverBasins && format != Format::Geojson {
        return Err(here(format!(
            "kind river_basins is read as GeoJSON only, found format {format:?}; convert it: \
             `ogr2ogr -f GeoJSON basins.geojson {}`",
            raw.path
        )));
    }
    if raw.kind == LayerKind::RiverLines && format.is_table() {
        return Err(here(format!(
            "kind river_lines needs lines, which a CSV cannot hold: use geojson or gdal \
             (GeoPackage, Shapefile ...), found format {format:?}"
        )));
    }
    if raw.kind.is_area() && format.is_table() {
        return Err(here(format!(
            "kind {} needs polygons, which a CSV cannot hold: use geojson or gdal",
            raw.kind.as_str()
        )));
    }
    if raw.gdal_layer.is_some() && format != Format::Gdal {
        return Err(here("gdal_layer is only for format = \"gdal\"".to_string()));
    }
    if raw.population_source.is_some() && raw.kind != LayerKind::DistrictPopulation {
        return Err(here(
            "population_source is only for kind = \"district_population\"".to_string(),
        ));
    }
    let (allowed, required) = raw.kind.field_rules(format);
    for (field, _) in raw.fields.configured() {
        if !allowed.contains(&field) {
            let why = if matches!(field, Field::Lon | Field::Lat) && raw.kind.point_kind().is_some()
            {
                " (geojson and gdal points take their position from the geometry; lon/lat are \
                 for csv layers)"
            } else {
                ""
            };
            return Err(here(format!(
                "fields.{} has no meaning for kind {}{why}; allowed: {}",
                field.key(),
                raw.kind.as_str(),
                list_keys(allowed)
            )));
        }
    }
    for field in required {
        if raw.fields.get(*field).is_none() {
            return Err(here(format!(
                "kind {} needs fields.{} (required: {})",
                raw.kind.as_str(),
                field.key(),
                list_keys(required)
            )));
        }
    }
    if format == Format::CsvHxl {
        for (field, pattern) in raw.fields.configured() {
            TagPattern::parse(pattern)
                .map_err(|e| here(format!("fields.{} = \"{pattern}\": {e}", field.key())))?;
        }
    }
    Ok(LayerSpec {
        path: resolve(&raw.path, manifest_dir, data_dir),
        path_in_manifest: raw.path,
        name,
        kind: raw.kind,
        format,
        gdal_layer: raw.gdal_layer,
        crs,
        licence: raw.licence,
        source: raw.source,
        caveat: raw.caveat,
        population_source: raw.population_source,
        invalid_numbers: raw.invalid_numbers,
        fields: raw.fields,
    })
}

fn list_keys(fields: &[Field]) -> String {
    if fields.is_empty() {
        return "none".to_string();
    }
    fields
        .iter()
        .map(|f| f.key())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Absolute paths stay; `./x` and `../x` are relative to the manifest's folder (files that
/// ship beside the manifest); anything else is under `data_dir`.
fn resolve(path: &str, manifest_dir: &Path, data_dir: &Path) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else if path.starts_with("./") || path.starts_with("../") {
        manifest_dir.join(p)
    } else {
        data_dir.join(p)
    }
}
