//! Wiring of the contingency plans the service serves (`/api/alerts/{id}/plan`) and of the
//! register admin routes: the register store (the service's store, SQLite or PostgreSQL),
//! the pipeline as the [`VersionAssessor`] (a version's assessment computed again from its
//! stored issuance), and headless Chromium as the [`PdfPrinter`] when it is installed.

use std::path::PathBuf;
use std::sync::Arc;

use crate::alerts::assess::Assessment;
use crate::alerts::assess_flood::FloodAssessment;
use crate::api::plan::{PdfPrinter, PlanApi, VersionAssessor};
use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::store::AlertSummary;
use crate::store::registers::RegisterStore;

/// The pipeline computes a stored version's assessment again (same parse, same layers,
/// same configuration, as of the version's sent time).
struct StoredVersions(Arc<Pipeline>);

impl VersionAssessor for StoredVersions {
    fn assess_version(&self, v: &AlertSummary) -> Result<Assessment, String> {
        let id = v
            .issuance_id
            .ok_or_else(|| format!("version {} was issued without a forecast", v.id))?;
        self.0.assess_stored(id, v.sent).map_err(|e| e.to_string())
    }

    fn assess_flood_version(&self, v: &AlertSummary) -> Result<FloodAssessment, String> {
        let id = v
            .issuance_id
            .ok_or_else(|| format!("version {} was issued without a forecast", v.id))?;
        self.0
            .assess_stored_flood(id, v.sent)
            .map_err(|e| e.to_string())
    }
}

/// The Chromium the sheet is printed with: `AVISO_CHROMIUM`, else Debian's
/// `/usr/bin/chromium` (as `aviso plan --sheet FILE.pdf`).
pub(crate) fn chromium_path() -> PathBuf {
    std::env::var_os("AVISO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Prints through [`super::print::print_pdf`] into a private temporary file and returns
/// its bytes; `None` when no Chromium is installed at [`chromium_path`] (PDFs answer 503
/// and say so, the HTML sheet is served all the same).
fn printer() -> Option<PdfPrinter> {
    let chromium = chromium_path();
    if !chromium.is_file() {
        // WARN: plans are served as HTML, CSV and GeoJSON; PDFs answer 503.
        tracing::warn!(
            chromium = %chromium.display(),
            "no Chromium to print contingency plans to PDF (apt-get install chromium, or set AVISO_CHROMIUM)"
        );
        return None;
    }
    Some(Arc::new(|html: &str| {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let out = dir.path().join("plano.pdf");
        super::print::print_pdf(html, &out).map_err(|e| format!("{e:#}"))?;
        std::fs::read(&out).map_err(|e| format!("reading {}: {e}", out.display()))
    }))
}

/// The plans and registers of `aviso serve`.
pub(crate) fn plan_api(
    cfg: &Config,
    registers: Arc<dyn RegisterStore>,
    pipeline: &Arc<Pipeline>,
) -> Arc<PlanApi> {
    Arc::new(PlanApi::new(
        registers,
        Arc::new(StoredVersions(Arc::clone(pipeline))),
        Arc::clone(&pipeline.layers),
        cfg.plan.clone(),
        cfg.output.coordinate_decimals,
        printer(),
    ))
}
