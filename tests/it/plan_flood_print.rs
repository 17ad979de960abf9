//! The flood contingency sheet of `aviso plan` through headless Chromium (the DOM it
//! builds, the PDF it prints, read back with pdftotext and pdftoppm), and bad input to
//! the command: a malformed stations file, a cyclone-only option. Shares the run of
//! `plan_flood`.

use std::ffi::OsStr;
use std::process::Command;

use crate::common;
use crate::plan_flood::{PROBS, STATIONS, aviso, flood_areas, ok, run};
use crate::plan_service::{num, png_grey_pixels};

#[test]
fn the_flood_sheet_parses_in_chromium_and_prints_to_an_a4_pdf_in_english() {
    let Some(r) = run() else { return };
    let chromium = std::env::var("AVISO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !common::tool_available(&chromium, "--version", "chromium")
        || !common::tool_available("pdftotext", "-v", "poppler-utils")
        || !common::tool_available("pdftoppm", "-v", "poppler-utils")
    {
        return;
    }
    // The DOM Chromium builds from the sheet: every table and the map's marks are there.
    let sheet = r.dir.path().join("sheet.html");
    let dom = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!(
            "--user-data-dir={}",
            r.dir.path().join("profile").display()
        ))
        .arg(format!("file://{}", sheet.display()))
        .output()
        .unwrap();
    assert!(dom.status.success());
    let dom = String::from_utf8_lossy(&dom.stdout);
    // Head, stations, districts, fractions, centres to open, unsafe centres, evacuate first.
    assert_eq!(dom.matches("<table").count(), 7, "{dom}");
    assert_eq!(
        dom.matches("class=\"hazard-area\"").count(),
        flood_areas(&r.doc).len()
    );
    let centres = r.plan["centres"].as_array().unwrap();
    let opened = centres
        .iter()
        .filter(|c| num(&c["allocated"]) > 0.5)
        .count();
    assert_eq!(dom.matches("class=\"open-centre\"").count(), opened);
    assert!(dom.matches("class=\"unsafe-centre\"").count() > 0);

    let pdf = r.dir.path().join("sheet-en.pdf");
    ok(&aviso([
        OsStr::new("plan"),
        "--forecast".as_ref(),
        r.probs.as_os_str(),
        "--out".as_ref(),
        r.dir.path().join("plan-en.csv").as_os_str(),
        "--sheet".as_ref(),
        pdf.as_os_str(),
        "--lang".as_ref(),
        "en".as_ref(),
    ]));
    let text = Command::new("pdftotext")
        .args(["-layout".as_ref(), pdf.as_os_str(), "-".as_ref()])
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "Accommodation plan — floods — river forecast of 25/09/2025",
        "DEMONSTRATION",
        "Trigger state (floods)",
        "Changane",
        "By district",
        "Displacement fractions",
        "Sofala floods February 2020",
        "Centres to open, in order",
        "Unsafe centres",
        "in the flood area",
        "Evacuate first",
        "Method notes",
    ] {
        assert!(text.contains(expected), "{expected:?} not in the PDF text");
    }
    let root = r.dir.path().join("page1");
    let st = Command::new("pdftoppm")
        .args([
            "-r",
            "40",
            "-f",
            "1",
            "-l",
            "1",
            "-gray",
            "-png",
            "-singlefile",
        ])
        .arg(&pdf)
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    let png = std::fs::read(root.with_extension("png")).unwrap();
    if let Some(keep) = std::env::var_os("AVISO_KEEP_PNG") {
        std::fs::write(keep, &png).unwrap();
    }
    let (w, h, pixels) = png_grey_pixels(&png);
    // A4 is 210 × 297 mm.
    assert!(
        (f64::from(h) / f64::from(w) - 297.0 / 210.0).abs() < 0.02,
        "{w}×{h}"
    );
    let dark = pixels.iter().filter(|&&p| p < 128).count();
    assert!(dark as f64 > 0.005 * pixels.len() as f64, "page 1 is blank");
}

#[test]
fn a_malformed_station_file_is_refused_naming_the_file_and_line_and_nothing_is_written() {
    let (Some(probs), Some(stations)) = (common::data_file(PROBS), common::read_data(STATIONS))
    else {
        return;
    };
    let text = String::from_utf8(stations).unwrap();
    // File line 5 (station 36); the file's CRLF endings are kept.
    let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
    assert!(lines[4].starts_with("36,"), "{}", lines[4]);
    let mut cells: Vec<String> = lines[4].split(',').map(String::from).collect();
    cells[5] = "abc".into();
    lines[4] = cells.join(",");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad_stations.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let (out_csv, sheet) = (dir.path().join("plan.csv"), dir.path().join("sheet.html"));
    let out = aviso([
        OsStr::new("plan"),
        "--forecast".as_ref(),
        probs.as_os_str(),
        "--stations".as_ref(),
        bad.as_os_str(),
        "--out".as_ref(),
        out_csv.as_os_str(),
        "--sheet".as_ref(),
        sheet.as_os_str(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad_stations.csv: line 5, column threshold_bankfull")
            && err.contains("\"abc\""),
        "{err}"
    );
    assert!(!out_csv.exists() && !sheet.exists());
    // The probabilistic wind of a cyclone is refused for a flood forecast, naming it.
    let out = aviso([
        OsStr::new("plan"),
        "--forecast".as_ref(),
        probs.as_os_str(),
        "--probabilistic".as_ref(),
        "--out".as_ref(),
        out_csv.as_os_str(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(PROBS.rsplit('/').next().unwrap()) && err.contains("--probabilistic"),
        "{err}"
    );
}

/// A flood-map version's sheet (the service plans flood maps too, `aviso plan` does not):
/// the map's polygons as the trigger state, no forecast days, every centre inside a
/// polygon listed unsafe and none opened; on the Búzi fixture map over the shipped layers.
#[test]
fn a_flood_map_sheet_gives_its_polygons_no_days_and_lists_its_flooded_centres() {
    use aviso::plan::sheet::{SheetOptions, flood_sheet_html};
    use geo::{Intersects, Point};
    let Some((cfg, layers, _)) = common::freddy_on_shipped_layers() else {
        return;
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/floods/buzi_extent.geojson");
    let basis = cfg.flood.extent.basis();
    let input = aviso::layers::flood::read_flood_extent(&path, basis.field(), None).unwrap();
    let polygons: Vec<geo::MultiPolygon<f64>> =
        input.features.iter().map(|f| f.geometry.clone()).collect();
    let extent =
        aviso::hazard::flood_extent::classify_extent(&input, &basis, &cfg.flood.extent).unwrap();
    let a = aviso::alerts::assess_flood::assess_flood_extent(
        extent,
        &layers,
        cfg.flood_assessment(),
        chrono::Utc::now(),
    );
    let health = layers
        .layers
        .points
        .iter()
        .find(|l| l.info.name == "health_facilities")
        .unwrap();
    let register = aviso::plan::register::demonstration_register(health, "demo");
    let plan = aviso::plan::build_flood_plan(
        &aviso::plan::FloodPlanInput {
            assessment: &a,
            layers: &layers,
            register: &register,
            travel_times: None,
        },
        &cfg.plan,
        &std::collections::BTreeMap::new(),
    );
    let html = flood_sheet_html(
        &plan,
        &a,
        &layers.layers,
        &SheetOptions {
            lang: aviso::domain::Lang::En,
            version_id: Some("test-version".into()),
            generated_at: chrono::Utc::now(),
        },
    );
    assert!(
        html.contains("Accommodation plan — floods — flood map"),
        "title"
    );
    assert!(
        html.contains(&format!("{} polygons", input.features.len())),
        "the trigger state counts the map's polygons"
    );
    assert!(!html.contains("Peak ("), "a map has no peak column");
    // Arrival cells: a map has no forecast days.
    let rows = crate::plan_sheet::table_after(&html, "By district");
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r[6] == "–"), "{rows:?}");
    // Every register centre inside a polygon is listed unsafe, none is opened.
    let inside: Vec<&str> = register
        .entries
        .iter()
        .filter(|e| {
            polygons
                .iter()
                .any(|p| p.intersects(&Point::new(e.lon, e.lat)))
        })
        .map(|e| e.code.as_str())
        .collect();
    assert!(!inside.is_empty(), "the Búzi map holds health facilities");
    let listed = crate::plan_sheet::table_after(&html, "Unsafe centres");
    assert_eq!(
        listed.len(),
        inside.len().min(aviso::plan::sheet::CENTRES_LISTED)
    );
    let open = crate::plan_sheet::table_after(&html, "Centres to open");
    for code in &inside {
        assert!(open.iter().all(|r| !r[1].contains(code)), "{code} opened");
        if inside.len() <= aviso::plan::sheet::CENTRES_LISTED {
            let row = listed.iter().find(|r| r[1].contains(code)).unwrap();
            assert_eq!(row[5], "in the flood area", "{code}");
        }
    }
}
