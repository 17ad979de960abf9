//! Flood-extent footprints: each polygon of a satellite or model flood map gets a flood
//! level (the station ladder's bankfull / moderate / severe) from its depth or class
//! attribute, and the polygons of each level are merged into that level's footprint.
//!
//! Pure: no I/O, no clock. Must not depend on feeds, layers, exposure, alerts or any
//! adapter; the features come in as [`crate::domain::FloodExtentInput`].
//!
//! Depth → level (defaults in `[flood.extent]`, config/default.toml): the still-water depth
//! limits of the Australian flood hazard vulnerability curves (AIDR 2017, *Australian
//! Disaster Resilience Handbook 7, Guideline 7-3 Flood Hazard*, table 6.7.4): above 0.5 m
//! (H3) water is unsafe for vehicles, children and the elderly, so people must be moved:
//! moderate; above 1.2 m (H4) it is unsafe for all people and vehicles: severe; up to
//! 0.5 m: bankfull, the lowest level (attention). A polygon without a value (a plain
//! satellite water mask) shows water outside the river channel where people may live,
//! more than bankfull, but says nothing of depth: moderate by default.

use std::collections::BTreeMap;

use geo::MultiPolygon;
use serde::{Deserialize, Serialize};

use crate::domain::{ExtentValue, FloodExtentInput, FloodLevel};
use crate::hazard::flood::FloodHazardError;
use crate::hazard::geodesy::{area_km2, oriented_multi, union_multi};

/// AIDR (2017) Guideline 7-3, H3 lower limit: still water deeper than 0.5 m is unsafe for
/// vehicles, children and the elderly.
pub const AIDR_H3_DEPTH_M: f64 = 0.5;
/// AIDR (2017) Guideline 7-3, H4 lower limit: still water deeper than 1.2 m is unsafe for
/// all people and all vehicles.
pub const AIDR_H4_DEPTH_M: f64 = 1.2;

/// `[flood.extent]`: how flood-extent polygons get their level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodExtentConfig {
    /// Attribute holding a water depth in metres ("" = none). `--depth-field` overrides.
    pub depth_field: String,
    /// Attribute holding a class mapped by `class_levels` ("" = none). `--class-field`
    /// overrides. At most one of the two may be set.
    pub class_field: String,
    /// Level of a polygon with no attribute configured, or a null value.
    pub unattributed_level: FloodLevel,
    /// Deeper than this (m): moderate. Default [`AIDR_H3_DEPTH_M`].
    pub moderate_depth_m: f64,
    /// Deeper than this (m): severe. Default [`AIDR_H4_DEPTH_M`].
    pub severe_depth_m: f64,
    /// Class value (compared case-insensitively, numbers without ".0") → level.
    pub class_levels: BTreeMap<String, FloodLevel>,
}

impl Default for FloodExtentConfig {
    fn default() -> Self {
        let class_levels = [
            ("1", FloodLevel::Bankfull),
            ("2", FloodLevel::Moderate),
            ("3", FloodLevel::Severe),
            ("low", FloodLevel::Bankfull),
            ("medium", FloodLevel::Moderate),
            ("high", FloodLevel::Severe),
            ("bankfull", FloodLevel::Bankfull),
            ("moderate", FloodLevel::Moderate),
            ("severe", FloodLevel::Severe),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        FloodExtentConfig {
            depth_field: String::new(),
            class_field: String::new(),
            unattributed_level: FloodLevel::Moderate,
            moderate_depth_m: AIDR_H3_DEPTH_M,
            severe_depth_m: AIDR_H4_DEPTH_M,
            class_levels,
        }
    }
}

/// What decides a polygon's level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "field", rename_all = "snake_case")]
pub enum ExtentBasis {
    /// Depth in metres from this attribute.
    Depth(String),
    /// A class from this attribute, mapped by `class_levels`.
    Class(String),
    /// No attribute: every polygon takes `unattributed_level`.
    None,
}

impl ExtentBasis {
    /// The attribute to read, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ExtentBasis::Depth(f) | ExtentBasis::Class(f) => Some(f),
            ExtentBasis::None => None,
        }
    }
}

impl FloodExtentConfig {
    pub fn validate(&self) -> Result<(), FloodHazardError> {
        let bad = |m: String| Err(FloodHazardError::Config(m));
        if !self.depth_field.is_empty() && !self.class_field.is_empty() {
            return bad(format!(
                "flood.extent: depth_field = {:?} and class_field = {:?}: set at most one",
                self.depth_field, self.class_field
            ));
        }
        let (m, s) = (self.moderate_depth_m, self.severe_depth_m);
        if !(m >= 0.0 && m < s && s.is_finite()) {
            return bad(format!(
                "flood.extent: moderate_depth_m = {m}, severe_depth_m = {s}: expected 0 ≤ moderate < severe metres"
            ));
        }
        if self.class_levels.keys().any(|k| k.trim().is_empty()) {
            return bad("flood.extent.class_levels: a class name is empty".into());
        }
        let folded: std::collections::BTreeSet<String> = self
            .class_levels
            .keys()
            .map(|k| k.trim().to_lowercase())
            .collect();
        if folded.len() != self.class_levels.len() {
            return bad(
                "flood.extent.class_levels: two classes differ only in case or spaces".into(),
            );
        }
        Ok(())
    }

    /// The basis the configuration asks for.
    pub fn basis(&self) -> ExtentBasis {
        if !self.depth_field.is_empty() {
            ExtentBasis::Depth(self.depth_field.clone())
        } else if !self.class_field.is_empty() {
            ExtentBasis::Class(self.class_field.clone())
        } else {
            ExtentBasis::None
        }
    }

    /// A one-line statement of the rule, for the alert's method notes.
    pub fn rule_note(&self, basis: &ExtentBasis) -> String {
        match basis {
            ExtentBasis::Depth(f) => format!(
                "flood-extent level from depth attribute {f:?} (m): > {} m moderate, > {} m severe, else bankfull (AIDR 2017 Guideline 7-3 hazard classes H3/H4); no value: {}",
                self.moderate_depth_m,
                self.severe_depth_m,
                self.unattributed_level.name_en()
            ),
            ExtentBasis::Class(f) => format!(
                "flood-extent level from class attribute {f:?}: {}; no value: {}",
                self.class_levels
                    .iter()
                    .map(|(k, v)| format!("{k} → {}", v.name_en()))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.unattributed_level.name_en()
            ),
            ExtentBasis::None => format!(
                "flood-extent polygons without depth or class: every polygon is {} (water outside the channel, depth unknown)",
                self.unattributed_level.name_en()
            ),
        }
    }
}

/// One polygon with its level.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtentFootprint {
    /// Position of the feature in the file, 0-based.
    pub index: usize,
    pub id: Option<String>,
    pub level: FloodLevel,
    pub value: Option<ExtentValue>,
    /// Oriented per RFC 7946.
    pub geometry: MultiPolygon<f64>,
}

/// A flood map turned into footprints.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodExtent {
    pub origin: String,
    pub basis: ExtentBasis,
    pub footprints: Vec<ExtentFootprint>,
    /// Per level present, highest first: the union of its polygons and its geodesic km².
    pub levels: Vec<LevelFootprint>,
    /// The union of every polygon (what exposure intersects districts with).
    pub all: MultiPolygon<f64>,
    /// Geodesic area of `all`, km².
    pub area_km2: f64,
    /// What the classification decided (null values taken as the default level, ...).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LevelFootprint {
    pub level: FloodLevel,
    pub geometry: MultiPolygon<f64>,
    pub area_km2: f64,
    /// How many polygons of the file have this level.
    pub features: usize,
}

impl FloodExtent {
    /// The highest level of any polygon.
    pub fn max_level(&self) -> Option<FloodLevel> {
        self.levels.first().map(|l| l.level)
    }
}

/// Gives each feature of `input` its level under `basis` and merges the footprints.
/// `basis` must name the attribute `input` was read with.
pub fn classify_extent(
    input: &FloodExtentInput,
    basis: &ExtentBasis,
    cfg: &FloodExtentConfig,
) -> Result<FloodExtent, FloodHazardError> {
    let classes: BTreeMap<String, FloodLevel> = cfg
        .class_levels
        .iter()
        .map(|(k, v)| (k.trim().to_lowercase(), *v))
        .collect();
    let mut footprints = Vec::with_capacity(input.features.len());
    let mut unvalued = 0usize;
    for f in &input.features {
        let fail = |message: String| FloodHazardError::Extent {
            origin: input.origin.clone(),
            index: f.index,
            id: f.id.clone(),
            message,
        };
        let level = match (basis, &f.value) {
            (ExtentBasis::None, _) => cfg.unattributed_level,
            (_, None) => {
                unvalued += 1;
                cfg.unattributed_level
            }
            (ExtentBasis::Depth(field), Some(v)) => {
                let depth_m = match v {
                    ExtentValue::Number(n) => Some(*n),
                    ExtentValue::Text(t) => t.trim().parse::<f64>().ok(),
                }
                .filter(|d| d.is_finite())
                .ok_or_else(|| {
                    fail(format!(
                        "depth attribute {field:?}: expected a depth in metres, found {:?}",
                        v.to_string()
                    ))
                })?;
                if depth_m < 0.0 {
                    return Err(fail(format!(
                        "depth attribute {field:?}: expected a depth ≥ 0 m, found {depth_m}"
                    )));
                }
                // Strictly deeper than the limit: AIDR's classes are "≤ 0.5 m" (H2) and
                // "> 0.5 m" (H3).
                if depth_m > cfg.severe_depth_m {
                    FloodLevel::Severe
                } else if depth_m > cfg.moderate_depth_m {
                    FloodLevel::Moderate
                } else {
                    FloodLevel::Bankfull
                }
            }
            (ExtentBasis::Class(field), Some(v)) => {
                let key = v.to_string().trim().to_lowercase();
                *classes.get(&key).ok_or_else(|| {
                    fail(format!(
                        "class attribute {field:?}: class {:?} is not in flood.extent.class_levels (known: {}); add it to the configuration",
                        v.to_string(),
                        cfg.class_levels.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?
            }
        };
        footprints.push(ExtentFootprint {
            index: f.index,
            id: f.id.clone(),
            level,
            value: f.value.clone(),
            geometry: oriented_multi(f.geometry.clone()),
        });
    }
    let mut notes = Vec::new();
    if unvalued > 0 {
        notes.push(format!(
            "{}: {unvalued} polygon(s) have no value for {:?}: taken as {} (flood.extent.unattributed_level)",
            input.origin,
            basis.field().unwrap_or_default(),
            cfg.unattributed_level.name_en()
        ));
    }
    let mut levels = Vec::new();
    for level in FloodLevel::ALL.into_iter().rev() {
        let parts: Vec<&MultiPolygon<f64>> = footprints
            .iter()
            .filter(|f| f.level == level)
            .map(|f| &f.geometry)
            .collect();
        if parts.is_empty() {
            continue;
        }
        let geometry = union_multi(parts.iter().copied());
        levels.push(LevelFootprint {
            level,
            area_km2: area_km2(&geometry),
            features: parts.len(),
            geometry,
        });
    }
    let all = union_multi(levels.iter().map(|l| &l.geometry));
    Ok(FloodExtent {
        area_km2: area_km2(&all),
        origin: input.origin.clone(),
        basis: basis.clone(),
        footprints,
        levels,
        all,
        notes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::ExtentFeature;
    use geo::polygon;

    fn input(values: &[Option<ExtentValue>]) -> FloodExtentInput {
        FloodExtentInput {
            origin: "x.geojson".into(),
            field: Some("v".into()),
            features: values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let x = 34.0 + i as f64 * 0.1;
                    ExtentFeature {
                        index: i,
                        id: None,
                        geometry: MultiPolygon::new(vec![polygon![
                            (x: x, y: -19.9), (x: x + 0.05, y: -19.9), (x: x + 0.05, y: -19.85), (x: x, y: -19.85)
                        ]]),
                        value: v.clone(),
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn depths_take_the_aidr_limits_strictly_deeper() {
        use ExtentValue::Number as N;
        let x = input(&[
            Some(N(0.5)),
            Some(N(0.51)),
            Some(N(1.2)),
            Some(N(1.3)),
            None,
        ]);
        let e = classify_extent(
            &x,
            &ExtentBasis::Depth("v".into()),
            &FloodExtentConfig::default(),
        )
        .unwrap();
        let levels: Vec<FloodLevel> = e.footprints.iter().map(|f| f.level).collect();
        use FloodLevel::*;
        assert_eq!(levels, vec![Bankfull, Moderate, Moderate, Severe, Moderate]);
        assert_eq!(e.max_level(), Some(Severe));
        assert_eq!(e.levels.len(), 3);
        assert_eq!(e.levels[1].features, 3);
        assert!(
            e.notes[0].contains("1 polygon(s) have no value"),
            "{:?}",
            e.notes
        );
    }

    #[test]
    fn a_negative_depth_or_an_unknown_class_names_the_feature() {
        let x = input(&[
            Some(ExtentValue::Number(1.0)),
            Some(ExtentValue::Number(-0.2)),
        ]);
        let e = classify_extent(
            &x,
            &ExtentBasis::Depth("v".into()),
            &FloodExtentConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("x.geojson: feature 1") && e.contains("-0.2"),
            "{e}"
        );
        let x = input(&[
            Some(ExtentValue::Text("HIGH".into())),
            Some(ExtentValue::Number(3.0)),
            Some(ExtentValue::Text("extreme".into())),
        ]);
        let e = classify_extent(
            &x,
            &ExtentBasis::Class("v".into()),
            &FloodExtentConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("feature 2") && e.contains("\"extreme\"") && e.contains("class_levels"),
            "{e}"
        );
    }
}
