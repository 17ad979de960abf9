//! Printing HTML to PDF with Debian's headless Chromium, for the contingency sheet
//! (`aviso plan --sheet FILE.pdf`). Edge code: a child process and files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Most seconds Chromium may take to print a sheet before it is stopped.
const PRINT_TIMEOUT_S: u64 = 120;

/// Prints `html` to the PDF `out` with Debian's headless Chromium (`--print-to-pdf`), a
/// maintained print path with real fonts and page breaks (issue 14 asks for one, not
/// hand-drawn PDF bytes). The page is a file in a private temporary directory, with a
/// throwaway profile; nothing is fetched (the sheet has no outside resource).
pub(crate) fn print_pdf(html: &str, out: &Path) -> Result<()> {
    let chromium = std::env::var_os("AVISO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let dir = tempfile::tempdir().context("creating a temporary directory for the sheet")?;
    let page = dir.path().join("sheet.html");
    fs::write(&page, html).with_context(|| format!("writing {}", page.display()))?;
    if let Some(d) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let out_abs =
        std::path::absolute(out).with_context(|| format!("resolving {}", out.display()))?;
    // A sheet printed earlier under the same name must not pass for this one.
    match fs::remove_file(&out_abs) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("replacing {}", out.display()));
        }
        _ => {}
    }
    let mut child = std::process::Command::new(&chromium)
        .arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        .arg("--no-pdf-header-footer")
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--print-to-pdf={}", out_abs.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} to print the sheet (Debian: apt-get install chromium; or set AVISO_CHROMIUM)",
                chromium.display()
            )
        })?;
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().context("waiting for chromium")? {
            break st;
        }
        if started.elapsed().as_secs() > PRINT_TIMEOUT_S {
            let _ = child.kill();
            bail!(
                "{} did not print the sheet within {PRINT_TIMEOUT_S} s",
                chromium.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let size = fs::metadata(&out_abs).map(|m| m.len()).unwrap_or(0);
    if !status.success() || size == 0 {
        bail!(
            "{} failed to print the sheet to {} ({status})",
            chromium.display(),
            out.display()
        );
    }
    Ok(())
}
