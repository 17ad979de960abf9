//! Configuration: TOML parsed strictly (unknown keys are errors), then validated once into
//! the typed form the core uses. The embedded default is config/default.toml.
//!
//! Reads a file only in [`Config::from_file`]; everything else is pure.

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::alerts::flood::FloodAlertLevels;
use crate::alerts::levels::LevelRules;
use crate::alerts::trigger::TriggerConfig;
use crate::exposure::ExposureConfig;
use crate::hazard::HazardConfig;
use crate::hazard::flood::FloodConfig;

/// The configuration compiled into the binary (config/default.toml).
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {origin} is not valid: {message}")]
    Parse { origin: String, message: String },
    #[error("config {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Output settings (`[output]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Decimal places of output coordinates (5 ≈ 1.1 m at the equator).
    pub coordinate_decimals: u32,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            coordinate_decimals: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub hazard: HazardConfig,
    #[serde(default)]
    pub exposure: ExposureConfig,
    #[serde(default)]
    pub levels: LevelRules,
    #[serde(default)]
    pub trigger: TriggerConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub flood: FloodConfig,
    #[serde(default)]
    pub flood_levels: FloodAlertLevels,
}

impl Config {
    /// Parses and validates TOML; `origin` names it in errors (a path or "embedded default").
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate(origin)?;
        // The hazard must compute every threshold the level rules and the trigger test.
        let mut needed = cfg.levels.wind_thresholds();
        needed.push(cfg.trigger.threshold_kt);
        for t in needed {
            if !cfg.hazard.thresholds_kt.iter().any(|h| (h - t).abs() < 0.5) {
                cfg.hazard.thresholds_kt.push(t);
            }
        }
        cfg.hazard.thresholds_kt.sort_by(f64::total_cmp);
        Ok(cfg)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn embedded_default() -> Result<Config, ConfigError> {
        Self::from_toml(DEFAULT_TOML, "embedded config/default.toml")
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let inv = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        self.hazard.validate().map_err(|e| inv(e.to_string()))?;
        self.levels.validate().map_err(|e| inv(e.to_string()))?;
        self.trigger.validate().map_err(|e| inv(e.to_string()))?;
        self.flood.validate().map_err(|e| inv(e.to_string()))?;
        self.flood_levels
            .validate()
            .map_err(|e| inv(e.to_string()))?;
        if self.output.coordinate_decimals > 9 {
            return Err(inv(format!(
                "output.coordinate_decimals = {}: at most 9",
                self.output.coordinate_decimals
            )));
        }
        if self.exposure.max_shelter_distance_km.is_nan()
            || self.exposure.max_shelter_distance_km <= 0.0
        {
            return Err(inv(
                "exposure.max_shelter_distance_km must be a positive number of km".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses_and_validates() {
        let c = Config::embedded_default().unwrap();
        assert!(
            c.hazard
                .thresholds_kt
                .iter()
                .any(|t| (*t - 64.0).abs() < 0.5)
        );
        assert_eq!(c.trigger.provinces.len(), 8);
    }

    #[test]
    fn the_documented_defaults_are_the_code_defaults() {
        // config/default.toml documents every key; it must say what the code does.
        let c = Config::embedded_default().unwrap();
        assert_eq!(c.hazard, crate::hazard::HazardConfig::default());
        assert_eq!(c.exposure, ExposureConfig::default());
        assert_eq!(c.levels, LevelRules::default());
        assert_eq!(c.trigger, TriggerConfig::default());
        assert_eq!(c.output, OutputConfig::default());
        assert_eq!(c.flood, FloodConfig::default());
        assert_eq!(c.flood_levels, FloodAlertLevels::default());
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key_and_the_file() {
        let text = format!("{DEFAULT_TOML}\n[exposure2]\nx = 1\n");
        let e = Config::from_toml(&text, "site.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("site.toml") && e.contains("exposure2"), "{e}");
        let e = Config::from_toml("[trigger]\nthreshold_kts = 64\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("threshold_kts"), "{e}");
    }
}
