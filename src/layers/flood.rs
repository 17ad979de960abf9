//! Flood inputs kept as files: flood-extent maps (a satellite or model flood map: GeoJSON
//! through the pure parser [`crate::geodata::flood_extent`], any other vector format
//! (GeoPackage, Shapefile, FlatGeobuf, KML ...) through GDAL when built with the `gdal`
//! feature), and the layers manifest's river basins, river centre-lines and per-station
//! impact areas ([`load_flood_geography`]).
//!
//! An adapter at the edge like the layer readers (GDAL needs a path, so this opens files);
//! must not depend on hazard, exposure or alerts. Applies the same geometry checks as the
//! GeoJSON parser ([`crate::geodata::flood_extent::check_extent_geometry`]) and refuses a
//! layer whose CRS is not WGS 84 lon/lat by the CRS GDAL reports, never reprojecting it.

use std::collections::BTreeMap;
use std::path::Path;

use geo::{Geometry, MultiLineString, MultiPolygon};

use super::{Field, FloodImpactArea, LayerError, LayerKind, LayerSpec, Manifest, Record};
use crate::domain::{FloodExtentInput, RiverBasin, RiverLine, StationGeography, StationImpact};
use crate::geodata::flood_extent::{ExtentError, parse_extent_geojson};

/// Reads `path`; `field` is the depth/class attribute to keep, `layer` the layer of a
/// multi-layer source (GeoPackage); both optional.
pub fn read_flood_extent(
    path: &Path,
    field: Option<&str>,
    layer: Option<&str>,
) -> Result<FloodExtentInput, ExtentError> {
    let origin = path.display().to_string();
    if !path.exists() {
        return Err(ExtentError::MissingFile { origin });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("geojson" | "json")) {
        let bytes = std::fs::read(path).map_err(|e| ExtentError::Read {
            origin: origin.clone(),
            message: format!("cannot read: {e}"),
        })?;
        return parse_extent_geojson(&bytes, &origin, field);
    }
    #[cfg(feature = "gdal")]
    {
        gdal_reader::read(path, &origin, field, layer)
    }
    #[cfg(not(feature = "gdal"))]
    {
        let _ = layer;
        Err(ExtentError::GdalDisabled { origin })
    }
}

/// The flood geography a layers manifest holds.
#[derive(Debug, Clone, Default)]
pub struct FloodGeography {
    /// The `river_basins` layer's polygons; empty when the manifest has none.
    pub basins: Vec<RiverBasin>,
    /// Where the basins came from (the file, for the alert's notes).
    pub basins_origin: Option<String>,
    /// `[[flood_impact]]` areas by station id.
    pub impacts: BTreeMap<String, StationImpact>,
    /// Notes of the `[[flood_impact]]` entries, by station id.
    pub impact_notes: BTreeMap<String, String>,
    /// The `river_lines` layer's lines; empty when the manifest has none.
    pub rivers: Vec<RiverLine>,
    /// Where the river lines came from (the layer and file, for the alert's notes).
    pub rivers_origin: Option<String>,
    /// What the operator should know but that did not stop loading (a GDAL source that
    /// declares no CRS).
    pub warnings: Vec<String>,
}

impl FloodGeography {
    /// Where each manifest-configured impact area came from, for the alert's notes
    /// (`manifest`: the manifest file the areas were read from).
    pub fn impact_notes_for(&self, manifest: &Path) -> Vec<String> {
        self.impacts
            .iter()
            .map(|(station, impact)| {
                let what = match impact {
                    StationImpact::Districts(d) => format!("districts {}", d.join(", ")),
                    StationImpact::Polygon { origin, .. } => format!("polygon {origin}"),
                };
                let note = self
                    .impact_notes
                    .get(station)
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                format!(
                    "station {station}: impact area from {} [[flood_impact]]: {what}{note}",
                    manifest.display()
                )
            })
            .collect()
    }

    /// Where the river lines came from and the buffer applied (`river_buffer_km`,
    /// `[flood] river_buffer_km`), for the alert's notes (none when the manifest has no
    /// river_lines layer).
    pub fn river_notes(&self, river_buffer_km: f64) -> Vec<String> {
        let Some(origin) = &self.rivers_origin else {
            return Vec::new();
        };
        vec![if river_buffer_km > 0.0 {
            format!(
                "river lines: {origin}; river buffer {river_buffer_km} km (flood.river_buffer_km)"
            )
        } else {
            format!(
                "river lines: {origin}; not used: flood.river_buffer_km = 0 turns the river rule off"
            )
        }]
    }

    /// What the station rules of a flood assessment read, borrowed.
    pub fn stations(&self) -> StationGeography<'_> {
        StationGeography {
            basins: &self.basins,
            rivers: &self.rivers,
            impacts: &self.impacts,
        }
    }
}

/// Reads the manifest's `river_basins` layer (its `fields.name`, else
/// `default_name_field`) and every `[[flood_impact]]` polygon file.
pub fn load_flood_geography(
    manifest: &Manifest,
    default_name_field: &str,
) -> Result<FloodGeography, LayerError> {
    let mut g = FloodGeography::default();
    if let Some(spec) = manifest.layer_of_kind(LayerKind::RiverBasins) {
        let bytes = std::fs::read(&spec.path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                LayerError::MissingFile {
                    layer: spec.name.clone(),
                    path: spec.path.clone(),
                    manifest: manifest.path.clone(),
                }
            } else {
                LayerError::Io {
                    layer: spec.name.clone(),
                    path: spec.path.clone(),
                    source,
                }
            }
        })?;
        let origin = spec.path.display().to_string();
        let name_field = spec.fields.name.as_deref().unwrap_or(default_name_field);
        g.basins = crate::geodata::basins::parse_basins(&bytes, &origin, name_field)
            .map_err(|e| LayerError::layer(spec, e.to_string()))?;
        g.basins_origin = Some(origin);
    }
    if let Some(spec) = manifest.layer_of_kind(LayerKind::RiverLines) {
        let (records, _digest) = super::read_layer(manifest, spec, &mut g.warnings)?;
        g.rivers = river_lines(spec, records)?;
        g.rivers_origin = Some(format!(
            "layer '{}' ({}, {} features)",
            spec.name,
            spec.path.display(),
            g.rivers.len()
        ));
    }
    for f in &manifest.flood_impacts {
        let impact = match &f.area {
            FloodImpactArea::Districts(d) => StationImpact::Districts(d.clone()),
            FloodImpactArea::Polygon {
                path,
                path_in_manifest,
            } => {
                let read =
                    read_flood_extent(path, None, None).map_err(|e| LayerError::Manifest {
                        path: manifest.path.clone(),
                        message: format!(
                            "[[flood_impact]] station {:?}, polygon {path_in_manifest:?}: {e}",
                            f.station
                        ),
                    })?;
                StationImpact::Polygon {
                    origin: read.origin,
                    geometry: MultiPolygon::new(
                        read.features
                            .into_iter()
                            .flat_map(|x| x.geometry.0)
                            .collect(),
                    ),
                }
            }
        };
        g.impacts.insert(f.station.clone(), impact);
        if let Some(n) = &f.note {
            g.impact_notes.insert(f.station.clone(), n.clone());
        }
    }
    Ok(g)
}

/// The records of a `river_lines` layer as river lines: every feature must be a
/// (Multi)LineString in lon/lat range. A polygon layer named here by mistake (the basins)
/// is refused rather than buffered as its outline.
fn river_lines(spec: &LayerSpec, records: Vec<Record>) -> Result<Vec<RiverLine>, LayerError> {
    let mut lines = Vec::with_capacity(records.len());
    for record in records {
        let fail = |message: String| LayerError::record(spec, record.describe(), message);
        let geometry = match &record.geometry {
            Some(Geometry::LineString(l)) => MultiLineString::new(vec![l.clone()]),
            Some(Geometry::MultiLineString(m)) => m.clone(),
            Some(Geometry::Line(l)) => MultiLineString::new(vec![(*l).into()]),
            Some(other) => {
                return Err(fail(format!(
                    "kind river_lines expects LineString or MultiLineString river \
                     centre-lines, found a {}{}",
                    crate::geodata::geometry_type(other),
                    if matches!(other, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
                        " (river basins or flood areas belong in kind river_basins or \
                         [[flood_impact]], not river_lines)"
                    } else {
                        ""
                    }
                )));
            }
            None => {
                return Err(fail(
                    "expected a LineString or MultiLineString, found no geometry".into(),
                ));
            }
        };
        super::check_coordinates(&geometry).map_err(fail)?;
        if geometry.0.iter().all(|l| l.0.len() < 2) {
            return Err(fail(
                "the line has fewer than two points: expected a river centre-line".into(),
            ));
        }
        lines.push(RiverLine {
            name: record.get(Field::Name).map(str::to_string),
            geometry,
        });
    }
    if lines.is_empty() {
        return Err(LayerError::layer(
            spec,
            "no features: expected river centre-lines (LineString or MultiLineString)",
        ));
    }
    Ok(lines)
}

#[cfg(feature = "gdal")]
mod gdal_reader {
    use std::path::Path;

    use gdal::Dataset;
    use gdal::vector::{FieldValue, LayerAccess};

    use crate::domain::{ExtentFeature, ExtentValue, FloodExtentInput};
    use crate::geodata::flood_extent::{ExtentError, check_extent_geometry};

    pub(super) fn read(
        path: &Path,
        origin: &str,
        field: Option<&str>,
        layer_name: Option<&str>,
    ) -> Result<FloodExtentInput, ExtentError> {
        let read_err = |message: String| ExtentError::Read {
            origin: origin.to_string(),
            message,
        };
        let dataset =
            Dataset::open(path).map_err(|e| read_err(format!("GDAL could not open it: {e}")))?;
        let names: Vec<String> = dataset.layers().map(|l| l.name()).collect();
        let mut layer = match (layer_name, names.as_slice()) {
            (Some(name), _) => dataset.layer_by_name(name).map_err(|_| {
                read_err(format!(
                    "no layer named {name:?} (--extent-layer); layers: {}",
                    names.join(", ")
                ))
            })?,
            (None, [_]) => dataset
                .layer(0)
                .map_err(|e| read_err(format!("GDAL could not open its layer: {e}")))?,
            (None, _) => {
                return Err(read_err(format!(
                    "holds {} layers ({}): name one with --extent-layer",
                    names.len(),
                    names.join(", ")
                )));
            }
        };
        // Without a CRS, the coordinate-range check of every feature still catches
        // projected (metre) coordinates.
        if let Some(srs) = layer.spatial_ref()
            && let Err(found) = crate::raster::gdal::check_wgs84_lonlat(&srs)
        {
            return Err(ExtentError::Crs {
                origin: origin.to_string(),
                found,
            });
        }
        let fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
        let field_index = match field {
            Some(name) => Some(fields.iter().position(|f| f == name).ok_or_else(|| {
                ExtentError::UnknownAttribute {
                    origin: origin.to_string(),
                    field: name.to_string(),
                    available: if fields.is_empty() {
                        "none".into()
                    } else {
                        fields.join(", ")
                    },
                }
            })?),
            None => None,
        };
        let mut features = Vec::new();
        for (index, feature) in layer.features().enumerate() {
            let id = feature.fid().map(|f| f.to_string());
            let fail = |message: String| ExtentError::Feature {
                origin: origin.to_string(),
                index,
                id: id.clone(),
                message,
            };
            let geometry = match feature.geometry() {
                Some(g) => Some(
                    g.to_geo()
                        .map_err(|e| fail(format!("unreadable geometry: {e}")))?,
                ),
                None => None,
            };
            let geometry = check_extent_geometry(origin, index, id.as_deref(), geometry)?;
            let value = match field_index {
                Some(i) => match feature.field(i) {
                    Ok(v) => value_of(v),
                    Err(e) => {
                        return Err(fail(format!("attribute {:?}: {e}", field.unwrap_or(""))));
                    }
                },
                None => None,
            };
            features.push(ExtentFeature {
                index,
                id,
                geometry,
                value,
            });
        }
        if features.is_empty() {
            return Err(read_err(
                "no features: expected at least one flood polygon".into(),
            ));
        }
        Ok(FloodExtentInput {
            origin: origin.to_string(),
            field: field.map(str::to_string),
            features,
        })
    }

    fn value_of(v: Option<FieldValue>) -> Option<ExtentValue> {
        match v? {
            FieldValue::IntegerValue(n) => Some(ExtentValue::Number(f64::from(n))),
            FieldValue::Integer64Value(n) => Some(ExtentValue::Number(n as f64)),
            FieldValue::RealValue(x) => Some(ExtentValue::Number(x)),
            FieldValue::StringValue(s) if s.trim().is_empty() => None,
            FieldValue::StringValue(s) => Some(ExtentValue::Text(s.trim().to_string())),
            // Lists and dates are no depth or class; their text lets the classifier say so.
            other => Some(ExtentValue::Text(format!("{other:?}"))),
        }
    }
}
