//! The contingency sheet of `aviso plan --sheet` (issue 14, part 5): the HTML a COE reads
//! on screen and the PDF headless Chromium prints from it, checked against the plan's own
//! JSON from the same run (which districts are listed, which centres open and in what
//! order, that no unsafe centre is proposed), and read back with poppler's pdftotext and
//! pdftoppm as a user's PDF viewer would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/register")
        .join(name)
}

fn plan(forecast: &Path, extra: &[&std::ffi::OsStr], env: Option<(&str, &str)>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aviso"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("plan")
        .arg("--forecast")
        .arg(forecast)
        .args(extra);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The cells of the rows of the HTML table that follows `heading` (text between tags).
pub(crate) fn table_after(html: &str, heading: &str) -> Vec<Vec<String>> {
    let start = html
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    let body = &html[start..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = &cell[cell.find('>').unwrap() + 1..];
                    let inner = &inner[..inner.find("</td>").unwrap()];
                    // Drop inner tags (spans), keep their text.
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in inner.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_sheet_lists_the_districts_on_the_ladder_and_opens_only_safe_centres_soonest_first() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (json, sheet) = (dir.path().join("plan.json"), dir.path().join("sheet.html"));
    let out = plan(
        &forecast,
        &[
            "--register".as_ref(),
            fixture("dtm_sites_sofala_zambezia.xlsx").as_os_str(),
            "--occupancy".as_ref(),
            fixture("occupancy_2023-03-12.hxl.csv").as_os_str(),
            "--travel-times".as_ref(),
            fixture("travel_times.csv").as_os_str(),
            "--out".as_ref(),
            dir.path().join("plan.csv").as_os_str(),
            "--json".as_ref(),
            json.as_os_str(),
            "--sheet".as_ref(),
            sheet.as_os_str(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let html = std::fs::read_to_string(&sheet).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"pt\">"));
    assert!(html.contains("Plano de acolhimento — ciclone FREDDY"));
    assert!(
        !html.contains("DEMONSTRAÇÃO"),
        "a user's register is not called a demonstration"
    );
    assert!(html.contains("<svg"), "the map");

    // Districts: those above green or with demand, each once, with its level in Portuguese.
    let listed: Vec<&Value> = plan["districts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["level"].as_str().is_some_and(|l| l != "green")
                || d["demand"]["high"].as_f64().unwrap() > 0.5
        })
        .collect();
    let rows = table_after(&html, "Por distrito");
    assert_eq!(rows.len(), listed.len());
    for d in &listed {
        let name = d["name"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r[0].starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in the table"));
        let level = match d["level"].as_str().unwrap() {
            "red" => "vermelho",
            "orange" => "laranja",
            "yellow" => "amarelo",
            other => panic!("{other}"),
        };
        assert_eq!(row[1], level, "{name}");
    }

    // Centres to open: every centre the plan fills (up to the listed number), none unsafe,
    // ordered by the first arrival at the districts they receive from.
    let centres = plan["centres"].as_array().unwrap();
    let open: Vec<&Value> = centres
        .iter()
        .filter(|c| c["allocated"].as_f64().unwrap() > 0.5)
        .collect();
    assert!(!open.is_empty(), "Freddy's plan fills some centre");
    let rows = table_after(&html, "Centros a abrir");
    assert_eq!(
        rows.len(),
        open.len().min(aviso::plan::sheet::CENTRES_LISTED)
    );
    for c in centres.iter().filter(|c| c["safe"] == false) {
        let code = c["code"].as_str().unwrap();
        assert!(
            rows.iter().all(|r| !r[1].contains(code)),
            "unsafe centre {code} proposed"
        );
    }
    for c in open.iter().take(rows.len()) {
        let code = c["code"].as_str().unwrap();
        assert!(rows.iter().any(|r| r[1].contains(code)), "{code} missing");
    }
    let arrivals: Vec<f64> = rows
        .iter()
        .map(|r| r.last().unwrap().parse::<f64>().unwrap_or(f64::INFINITY))
        .collect();
    assert!(
        arrivals.windows(2).all(|w| w[0] <= w[1]),
        "soonest first: {arrivals:?}"
    );
    // The register's occupancy figures are dated on the sheet.
    let mut dated = 0;
    for c in open.iter().take(rows.len()) {
        if let Some(date) = c["occupancy_date"].as_str() {
            let code = c["code"].as_str().unwrap();
            let row = rows.iter().find(|r| r[1].contains(code)).unwrap();
            assert!(
                row.iter().any(|cell| cell.contains(date)),
                "{code}: {row:?}"
            );
            dated += 1;
        }
    }
    assert!(
        dated > 0,
        "the fixture's occupancy update reaches an open centre"
    );
}

#[test]
fn the_demonstration_sheet_prints_to_an_a4_pdf_in_english_through_chromium() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    if !common::tool_available("pdftotext", "-v", "poppler-utils")
        || !common::tool_available("pdftoppm", "-v", "poppler-utils")
        || !common::tool_available(
            &std::env::var("AVISO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "--version",
            "chromium",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("sheet.pdf");
    let args: [std::ffi::OsString; 6] = [
        "--out".into(),
        dir.path().join("plan.csv").into(),
        "--sheet".into(),
        pdf.clone().into(),
        "--lang".into(),
        "en".into(),
    ];
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = plan(&forecast, &refs, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = Command::new("pdftotext")
        .arg("-layout")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "Accommodation plan — cyclone FREDDY",
        "DEMONSTRATION",
        "not IOM/CCCM sites",
        "Anticipatory-action trigger",
        "By district",
        "Centres to open, in order",
        "Evacuate first",
        "Method notes",
    ] {
        assert!(text.contains(expected), "{expected:?} not in the PDF text");
    }
    // Page 1 as a user's viewer draws it: an A4 portrait page (taller than wide).
    let png_root = dir.path().join("page");
    let st = Command::new("pdftoppm")
        .args(["-r", "30", "-f", "1", "-l", "1", "-png", "-singlefile"])
        .arg(&pdf)
        .arg(&png_root)
        .status()
        .unwrap();
    assert!(st.success());
    let png = std::fs::read(png_root.with_extension("png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    // A4 is 210 × 297 mm: 1.414 tall for 1 wide.
    assert!(
        (f64::from(h) / f64::from(w) - 297.0 / 210.0).abs() < 0.02,
        "{w}×{h}"
    );

    // A missing Chromium is an error that says what to install, and no stale PDF remains.
    let out = plan(
        &forecast,
        &refs,
        Some(("AVISO_CHROMIUM", "/nonexistent/chromium")),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/chromium") && err.contains("apt-get install chromium"),
        "{err}"
    );
    assert!(
        !pdf.exists(),
        "the earlier PDF must not pass for this run's"
    );
}
