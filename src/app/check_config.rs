//! `aviso check-config`: load and validate the configuration (and, when asked, the
//! layers), and say which store it names. Kept apart from the service's wiring
//! (service.rs), which it shares nothing with but the loaders.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{load_config, load_indexed_layers};

/// `aviso check-config`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckConfigArgs {
    /// Also load the layers of this manifest (or directory holding manifest.toml).
    #[arg(long)]
    pub layers: Option<PathBuf>,
}

/// `aviso check-config`: load and validate the configuration (and the layers).
pub fn check_config_cmd(config: Option<&Path>, a: CheckConfigArgs) -> Result<()> {
    let cfg = load_config(config)?;
    // Not tracing: the command's result, for the person checking the file.
    eprintln!(
        "aviso: configuration OK ({}; thresholds {:?} kt; {} level rules; trigger: {}; {} feed(s), {} enabled; store: {})",
        config
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "embedded default".into()),
        cfg.hazard.thresholds_kt,
        cfg.levels.rule.len(),
        cfg.trigger.version,
        cfg.feeds.len(),
        cfg.feeds.iter().filter(|f| f.enabled).count(),
        match cfg.store.postgres_url() {
            Some(url) => format!("PostgreSQL {}", crate::store::config::redact(url)),
            None => format!("SQLite in {}", cfg.service.data_dir),
        }
    );
    if let Some(l) = a.layers {
        load_indexed_layers(&l, &cfg)?;
    }
    Ok(())
}
