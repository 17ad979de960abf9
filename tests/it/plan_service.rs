//! The contingency plan through the running service (issue 14 items 1 and 5): the real
//! `aviso serve` binary pulls Météo-France's real RSMC forecast of Freddy (2023-03-10 00Z)
//! from a localhost feed and publishes a version with its probabilities; the test then
//! works as CCCM and a COE would. It imports a register through the admin API (the
//! demonstration register written by `aviso register build-demo` from the real health
//! facilities), has a copy with two bad rows refused 422 naming each row and column while
//! the register in force stays, posts an occupancy update, and reads
//! `/api/alerts/{id}/plan` as CSV, GeoJSON, HTML and PDF. The numbers are checked against
//! a recomputation done here from what the test holds: the register file it uploaded
//! (floor area / 3.5 m²), the occupancy it posted, the version's published document (the
//! ≥ 34 kt swaths, the district levels, the probabilistic people at risk) and the
//! configured displacement fractions, never numbers copied from an output.
//!
//! Over 600 lines: one service start (most of the test's time) carries the whole path, and
//! the page check decodes its PNG here; split the PNG decoder out if a second test needs it.
//! The flood version's plan (last test) shares the pipeline-over-router harness kept here;
//! `plan_ogc` borrows the HTTP helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use geo::{Closest, ClosestPoint, Distance, Geodesic, Intersects, MultiPolygon, Point};
use serde_json::Value;

use crate::common;
use crate::notify_support::sha256_hex;

pub(crate) const EDITOR: &str = "editor-token-plan-service-51ab";
pub(crate) const VIEWER: &str = "viewer-token-plan-service-77c2";
/// Realisations of the version's probabilistic assessment: few, the plan only reads its
/// quantiles (a debug build prepares the layers in ~10 s, then ~0.5 s per 50).
const REALISATIONS: usize = 50;
const PUBLISH_LIMIT: Duration = Duration::from_secs(300);

pub(crate) struct Service(pub(crate) Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `body` to every request on a free localhost port (HTTP/1.0, then close).
pub(crate) fn serve_file(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    base
}

/// One HTTP/1.0 exchange: (status code, headers lower-cased, body bytes).
pub(crate) fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, HashMap<String, String>, Vec<u8>) {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, out[split + 4..].to_vec())
}

pub(crate) fn get(base: &str, path: &str) -> (u16, Vec<u8>) {
    let (s, _, b) = request(base, "GET", path, &[], &[]);
    (s, b)
}

pub(crate) fn get_json(base: &str, path: &str) -> Value {
    let (status, body) = get(base, path);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

pub(crate) fn post(base: &str, path: &str, token: &str, ct: &str, body: &[u8]) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (s, _, b) = request(
        base,
        "POST",
        path,
        &[("Authorization", &auth), ("Content-Type", ct)],
        body,
    );
    let v = serde_json::from_slice(&b)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into()));
    (s, v)
}

/// Announces a body of `announced` bytes, sends only `send` of them, and returns the
/// status line that came back (empty if none within 10 s).
fn status_before_body(base: &str, head: &str, announced: usize, send: usize) -> String {
    let mut s = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{head}\r\nContent-Length: {announced}\r\n\r\n").unwrap();
    let _ = s.write_all(&vec![b'a'; send]);
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn layers_dir() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/layers")
}

fn write_config(dir: &Path, feed: &str) -> std::path::PathBuf {
    write_config_with(
        dir,
        feed,
        &format!("realisations = {REALISATIONS}\npublish_wait_s = 600.0"),
    )
}

/// The site config with `probabilistic` as the body of its `[probabilistic]` table.
pub(crate) fn write_config_with(dir: &Path, feed: &str, probabilistic: &str) -> std::path::PathBuf {
    let publish_all = crate::common::PUBLISH_ALL;
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        format!(
            "{publish_all}[service]\nlisten = \"127.0.0.1:0\"\n# a 2023 forecast replayed as Actual\nmax_forecast_age_h = 1000000.0\ndata_dir = {:?}\nlayers = {:?}\n\n[http]\nconnect_timeout_s = 2.0\ntimeout_s = 5.0\nretries = 0\n\n[probabilistic]\n{probabilistic}\n\n[[notify.token]]\nname = \"cccm-editor\"\nrole = \"editor\"\nsha256 = \"{}\"\n\n[[notify.token]]\nname = \"coe-viewer\"\nrole = \"viewer\"\nsha256 = \"{}\"\n\n[[feed]]\nname = \"rsmc\"\nkind = \"rsmc-reunion\"\nurl = \"{feed}/freddy.json\"\nschedule = \"* * * * * *\"\n",
            dir.join("state").display().to_string(),
            layers_dir(),
            sha256_hex(EDITOR),
            sha256_hex(VIEWER),
        ),
    )
    .unwrap();
    config
}

pub(crate) fn first_version(base: &str) -> String {
    let started = Instant::now();
    loop {
        let list = get_json(base, "/api/alerts");
        if let Some(id) = list["alerts"][0]["id"].as_str() {
            return id.to_string();
        }
        assert!(started.elapsed() < PUBLISH_LIMIT, "no version published");
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub(crate) fn multipolygon(g: &Value) -> MultiPolygon<f64> {
    let g: geojson::Geometry = serde_json::from_value(g.clone()).unwrap();
    match geo::Geometry::<f64>::try_from(g.value).unwrap() {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(m) => m,
        other => panic!("not a polygon: {other:?}"),
    }
}

/// The rows of an HXL CSV as maps from hashtag to cell (the hashtag row is the second).
pub(crate) fn hxl_rows(bytes: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    let tags = &rows[1];
    rows[2..]
        .iter()
        .map(|row| tags.iter().cloned().zip(row.iter().cloned()).collect())
        .collect()
}

pub(crate) fn csv_rows(bytes: &[u8]) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(bytes);
    let head: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|x| {
            head.iter()
                .cloned()
                .zip(x.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

pub(crate) fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Grey levels (0 black … 255 white) of an 8-bit, non-interlaced greyscale or RGB PNG
/// (what `pdftoppm -png` writes), decoded here: the IDAT stream inflated with flate2, the
/// five PNG row filters undone (PNG specification, section 9) and RGB averaged.
pub(crate) fn png_grey_pixels(png: &[u8]) -> (u32, u32, Vec<u8>) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (mut w, mut h, mut bpp, mut idat) = (0u32, 0u32, 0usize, Vec::new());
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        if kind == b"IHDR" {
            w = u32::from_be_bytes(data[0..4].try_into().unwrap());
            h = u32::from_be_bytes(data[4..8].try_into().unwrap());
            assert_eq!((data[8], data[12]), (8, 0), "8-bit, no interlace");
            bpp = match data[9] {
                0 => 1,
                2 => 3,
                t => panic!("PNG colour type {t}"),
            };
        } else if kind == b"IDAT" {
            idat.extend_from_slice(data);
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w as usize * bpp;
    let mut out = vec![0u8; stride * h as usize];
    for y in 0..h as usize {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= bpp {
                out[y * stride + x - bpp]
            } else {
                0
            };
            let b = if y > 0 { out[(y - 1) * stride + x] } else { 0 };
            let c = if x >= bpp && y > 0 {
                out[(y - 1) * stride + x - bpp]
            } else {
                0
            };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            out[y * stride + x] = line[x].wrapping_add(pred);
        }
    }
    let grey = out
        .chunks(bpp)
        .map(|px| (px.iter().map(|&v| u32::from(v)).sum::<u32>() / bpp as u32) as u8)
        .collect();
    (w, h, grey)
}

/// One test: the service is started once (the layers and the probabilistic preparation
/// dominate), then the register, its refusal, the occupancy and every format in turn.
#[test]
fn a_published_version_is_planned_with_the_register_in_the_store_end_to_end() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feed = serve_file(std::fs::read(&forecast).unwrap());
    let config = write_config(dir.path(), &feed);
    let (child, base) = common::start_service(&config);
    let _service = Service(child);
    let id = first_version(&base);
    let doc = get_json(&base, &format!("/api/alerts/{id}"));
    assert_eq!(doc["aviso"]["probabilistic"]["status"], "ok");

    // --- Before any import: the DEMONSTRATION register, and it says so. -----------------
    let (status, csv0) = get(&base, &format!("/api/alerts/{id}/plan?f=csv"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&csv0));
    assert!(
        csv_rows(&csv0)
            .iter()
            .all(|r| r["demonstration_register"] == "true")
    );
    let (status, body) = get(&base, "/api/admin/register/occupancy");
    assert_eq!(status, 401, "admin reads need a token");
    let _ = body;

    // --- The register CCCM keeps, built from real points by the CLI. -------------------
    let register_file = dir.path().join("centres.hxl.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["register", "build-demo", "--layers", layers_dir(), "--out"])
        .arg(&register_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let register_bytes = std::fs::read(&register_file).unwrap();
    let rows = hxl_rows(&register_bytes);
    assert!(rows.len() > 1000, "{} centres", rows.len());

    // Unauthenticated, or only a viewer: refused before the body is read.
    for (auth, want) in [
        ("", "401"),
        ("\r\nAuthorization: Bearer not-a-token", "401"),
        (
            &format!("\r\nAuthorization: Bearer {VIEWER}") as &str,
            "403",
        ),
    ] {
        for path in ["/api/admin/register", "/api/admin/register/occupancy"] {
            let head =
                format!("POST {path} HTTP/1.1\r\nHost: aviso\r\nContent-Type: text/csv{auth}");
            let status = status_before_body(&base, &head, 10 * 1024 * 1024, 64 * 1024);
            assert!(
                status.starts_with(&format!("HTTP/1.1 {want}")),
                "{path} {auth:?}: expected {want} with 64 KiB of 10 MiB sent, got {status:?}"
            );
        }
    }

    // An editor's upload over 16 MiB: 413 by its announced length, the body unread.
    let head = format!(
        "POST /api/admin/register HTTP/1.1\r\nHost: aviso\r\nContent-Type: text/csv\r\nAuthorization: Bearer {EDITOR}"
    );
    let status = status_before_body(&base, &head, 17 * 1024 * 1024, 64 * 1024);
    assert!(status.starts_with("HTTP/1.1 413"), "{status:?}");

    let (status, v) = post(
        &base,
        "/api/admin/register?source=centres.hxl.csv",
        EDITOR,
        "text/csv",
        &register_bytes,
    );
    assert_eq!(status, 200, "{v}");
    let revision = v["revision"].as_i64().unwrap();
    assert_eq!(v["entries"].as_u64().unwrap() as usize, rows.len());

    // --- A copy with two bad rows: 422 naming each, and the register in force stays. ---
    let mut bad: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&register_bytes[..])
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    let col = |tag: &str| bad[1].iter().position(|t| t == tag).unwrap();
    let (lat, cap) = (col("#geo+lat"), col("#capacity"));
    // Spreadsheet rows are 1-based: record index 6 is row 7.
    bad[6][lat] = "-99.5".into();
    bad[11][cap] = "-40".into();
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &bad {
        w.write_record(r).unwrap();
    }
    let bad_bytes = w.into_inner().unwrap();
    let (status, v) = post(
        &base,
        "/api/admin/register?source=centres-edited.csv",
        EDITOR,
        "text/csv",
        &bad_bytes,
    );
    assert_eq!(status, 422, "{v}");
    let errors: Vec<&Value> = v["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["severity"] == "error")
        .collect();
    assert_eq!(v["errors"].as_u64(), Some(errors.len() as u64));
    let named = |row: u64, tag: &str| {
        errors.iter().any(|i| {
            i["row"] == row
                && i["column"].as_str().unwrap().contains(tag)
                && i["source"].as_str().unwrap().contains("centres-edited.csv")
        })
    };
    assert!(named(7, "#geo+lat"), "row 7 latitude not named: {v}");
    assert!(named(12, "#capacity"), "row 12 capacity not named: {v}");
    let (status, headers, in_force) = request(
        &base,
        "GET",
        "/api/admin/register",
        &[("Authorization", &format!("Bearer {VIEWER}"))],
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(
        headers["x-aviso-register-revision"],
        revision.to_string(),
        "the refused register is not in force"
    );
    assert_eq!(
        hxl_rows(&in_force).len(),
        rows.len(),
        "the register in force is the one imported first"
    );

    // The CLI reads the same store (another process, the service running).
    let exported = dir.path().join("exported.hxl.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["register", "export", "--data-dir"])
        .arg(dir.path().join("state"))
        .arg("--out")
        .arg(&exported)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&exported).unwrap(), in_force);
    let bad_file = dir.path().join("centres-edited.csv");
    std::fs::write(&bad_file, &bad_bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(["register", "import", "--layers", layers_dir(), "--data-dir"])
        .arg(dir.path().join("state"))
        .arg(&bad_file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("row 7") && err.contains("row 12") && err.contains("unchanged"),
        "{err}"
    );

    // --- The plan with the imported register, before any occupancy. --------------------
    let geo1 = get_json(&base, &format!("/api/alerts/{id}/plan?f=geojson"));
    assert!(
        geo1["register"]
            .as_str()
            .unwrap()
            .contains("centres.hxl.csv"),
        "{}",
        geo1["register"]
    );
    let centres1: HashMap<String, &Value> = geo1["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["feature"] == "centre")
        .map(|f| {
            (
                f["properties"]["code"].as_str().unwrap().to_string(),
                &f["properties"],
            )
        })
        .collect();
    // Two safe centres that receive people: half their room becomes occupied.
    let mut receiving: Vec<(&String, f64)> = centres1
        .iter()
        .filter(|(_, p)| p["safe"] == true && num(&p["allocated"]) > 0.0)
        .map(|(c, p)| (c, num(&p["free_room"])))
        .filter(|(_, room)| *room >= 20.0)
        .collect();
    receiving.sort_by(|a, b| a.0.cmp(b.0));
    assert!(receiving.len() >= 2, "safe centres receive people");
    let updated: Vec<(String, f64)> = receiving[..2]
        .iter()
        .map(|(c, room)| ((*c).clone(), (room / 2.0).floor()))
        .collect();
    let mut occ =
        String::from("Site code,Date,Individuals\n#loc+code,#date+reported,#affected+idps+ind\n");
    for (code, n) in &updated {
        occ.push_str(&format!("{code},2023-03-09,{n}\n"));
    }
    // An update naming an unknown code changes nothing (all or nothing).
    let bad_occ = format!("{occ}NOT-A-CENTRE,2023-03-09,10\n");
    let (status, v) = post(
        &base,
        "/api/admin/register/occupancy",
        EDITOR,
        "text/csv",
        bad_occ.as_bytes(),
    );
    assert_eq!(status, 422, "{v}");
    assert!(
        v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["row"] == 5 && i["column"].as_str().unwrap().contains("#loc+code")),
        "{v}"
    );
    let (status, v) = post(
        &base,
        "/api/admin/register/occupancy?source=dtm-round-3.csv",
        EDITOR,
        "text/csv",
        occ.as_bytes(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["revision"].as_i64(), Some(revision + 1));
    let (status, _, history) = request(
        &base,
        "GET",
        "/api/admin/register/occupancy",
        &[("Authorization", &format!("Bearer {VIEWER}"))],
        &[],
    );
    assert_eq!(status, 200);
    let history = hxl_rows(&history);
    for (code, n) in &updated {
        assert!(
            history.iter().any(|r| &r["#loc+code"] == code
                && r["#date+reported"] == "2023-03-09"
                && r["#affected+idps+ind"].parse::<f64>().unwrap() == *n),
            "{code} not in the history"
        );
    }

    // --- The plan after the update, against a recomputation. --------------------------
    let geo2 = get_json(&base, &format!("/api/alerts/{id}/plan?f=geojson"));
    let (status, csv2) = get(&base, &format!("/api/alerts/{id}/plan?f=csv"));
    assert_eq!(status, 200);
    let table = csv_rows(&csv2);
    let feats = geo2["features"].as_array().unwrap();
    let centres: Vec<&Value> = feats
        .iter()
        .filter(|f| f["properties"]["feature"] == "centre")
        .collect();
    assert_eq!(
        centres.len(),
        rows.len(),
        "every register entry is a centre"
    );
    let area_of: HashMap<&str, f64> = rows
        .iter()
        .map(|r| {
            (
                r["#loc+code"].as_str(),
                r["#capacity+area_m2"].parse::<f64>().unwrap(),
            )
        })
        .collect();
    let occupied: HashMap<&str, f64> = updated.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    // The ≥ 34 kt forecast swaths of the version as published.
    let swaths: Vec<MultiPolygon<f64>> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["properties"]["layer"] == "wind_swath"
                && num(&f["properties"]["threshold_kt"]) >= 34.0
        })
        .map(|f| multipolygon(&f["geometry"]))
        .collect();
    assert!(!swaths.is_empty());
    let mut sent: HashMap<&str, f64> = HashMap::new();
    for f in feats
        .iter()
        .filter(|f| f["properties"]["feature"] == "allocation")
    {
        *sent
            .entry(f["properties"]["centre_code"].as_str().unwrap())
            .or_default() += num(&f["properties"]["persons"]);
    }
    let (mut unsafe_n, mut safe_room_by_district) = (0, HashMap::<String, f64>::new());
    for c in &centres {
        let p = &c["properties"];
        let code = p["code"].as_str().unwrap();
        // Capacity: the uploaded floor area / 3.5 m² (Sphere), whole persons.
        let capacity = (area_of[code] / 3.5).floor();
        assert_eq!(num(&p["capacity"]), capacity, "{code}");
        let present = occupied.get(code).copied();
        assert_eq!(p["occupancy"].as_f64(), present, "{code}");
        let room = (capacity - present.unwrap_or(0.0)).max(0.0);
        assert!((num(&p["free_room"]) - room).abs() < 1e-9, "{code}");
        // No centre over its room.
        let s = sent.get(code).copied().unwrap_or(0.0);
        assert!(s <= room + 0.5, "{code}: {s} sent to a room of {room}");
        // Inside a ≥ 34 kt swath: unsafe (rounded coordinates: a centre within 50 m of
        // the swath's edge may fall either side).
        let pt = Point::new(
            num(&c["geometry"]["coordinates"][0]),
            num(&c["geometry"]["coordinates"][1]),
        );
        let inside = swaths.iter().any(|s| s.intersects(&pt));
        let near_edge = swaths.iter().any(|s| match s.closest_point(&pt) {
            Closest::SinglePoint(q) | Closest::Intersection(q) => {
                Geodesic.distance(pt, q) < 50.0 && !inside
            }
            Closest::Indeterminate => false,
        });
        if !near_edge {
            assert_eq!(p["safe"] == false, inside, "{code}: safe = {}", p["safe"]);
        }
        if p["safe"] == false {
            unsafe_n += 1;
            assert_eq!(s, 0.0, "{code} is unsafe but receives people");
        } else if let Some(d) = p["district_pcode"].as_str() {
            *safe_room_by_district.entry(d.to_string()).or_default() += room;
        }
    }
    assert!(unsafe_n > 50, "Freddy's swath holds many centres");
    // Occupancy reduces free room: the updated centres have less room than before.
    for (code, n) in &updated {
        let before = num(&centres1[code.as_str()]["free_room"]);
        let after = centres
            .iter()
            .find(|c| c["properties"]["code"] == code.as_str())
            .map(|c| num(&c["properties"]["free_room"]))
            .unwrap();
        assert_eq!(after, before - n, "{code}");
    }
    // Per district: safe capacity is the safe centres' free room; demand is the version's
    // probabilistic people at risk (≥ 34 kt, whole window: 10 % quantile, mean, 90 %
    // quantile) times the configured fractions of the district's level.
    let prob = &doc["aviso"]["probabilistic"];
    // As the document writes its keys: the window in hours as a plain number ("120").
    let window = num(prob["windows_h"].as_array().unwrap().last().unwrap());
    let key = format!("people_ge34kt_0_{window}h");
    let people: HashMap<&str, &Value> = prob["districts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["pcode"].as_str().unwrap(), &d[key.as_str()]))
        .collect();
    let levels: HashMap<&str, &str> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["layer"] == "district")
        .filter_map(|f| {
            Some((
                f["properties"]["pcode"].as_str()?,
                f["properties"]["level"].as_str()?,
            ))
        })
        .collect();
    let cfg = aviso::config::Config::embedded_default().unwrap();
    let mut checked = 0;
    for r in table.iter().filter(|r| r["scope"] == "district") {
        let pcode = r["pcode"].as_str();
        let cap = safe_room_by_district.get(pcode).copied().unwrap_or(0.0);
        let got: f64 = r["safe_capacity"].parse().unwrap();
        assert!((got - cap).abs() <= 1.0, "{pcode}: {got} against {cap}");
        let Some(level) = levels.get(pcode) else {
            continue;
        };
        // The level the version announced (probability rules may raise it above the
        // official track's), not the re-run assessment's own.
        assert_eq!(r["level"], *level, "{pcode}");
        let Some(f) = cfg
            .plan
            .displacement
            .iter()
            .find(|f| f.hazard == aviso::plan::PlanHazard::Wind && f.level.name_en() == *level)
        else {
            continue;
        };
        // A district without a population figure (Maquival has no INE row) says
        // "unknown", not a demand of 0.
        if r["districts_population_unknown"] == "1" {
            for col in ["demand_low", "demand_central", "demand_high", "gap_central"] {
                assert_eq!(r[col], "unknown", "{pcode} {col}");
            }
            continue;
        }
        let q = people.get(pcode).copied().unwrap_or(&Value::Null);
        let p = |k: &str| q[k].as_f64().unwrap_or(0.0);
        for (col, want) in [
            ("demand_low", p("p10") * f.low),
            ("demand_central", p("mean") * f.central),
            ("demand_high", p("p90") * f.high),
        ] {
            let got: f64 = r[col].parse().unwrap();
            assert!(
                (got - want).abs() <= 1.0,
                "{pcode} {col}: {got} against {want}"
            );
        }
        let gap: f64 = r["gap_central"].parse().unwrap();
        let demand: f64 = r["demand_central"].parse().unwrap();
        assert!((gap - (demand - cap).max(0.0)).abs() <= 1.5, "{pcode} gap");
        checked += 1;
    }
    assert!(checked >= 5, "districts on the ladder: {checked}");

    // --- The sheet: HTML in Portuguese by default, English on request. ---------------
    let (status, html) = get(&base, &format!("/api/alerts/{id}/plan"));
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("Plano de acolhimento"), "Portuguese first");
    assert!(html.contains(&id), "the sheet names its version");
    assert!(html.contains(&format!("Register revision {}", revision + 1)));
    let (_, en) = get(&base, &format!("/api/alerts/{id}/plan?f=html&lang=en"));
    assert!(
        String::from_utf8(en)
            .unwrap()
            .contains("Accommodation plan")
    );
    let (status, _) = get(&base, &format!("/api/alerts/{id}/plan?f=docx"));
    assert_eq!(status, 400);
    let (status, _) = get(&base, "/api/alerts/no-such-version/plan");
    assert_eq!(status, 404);

    // --- PDF, rendered to a page here. --------------------------------------------------
    let chromium = std::env::var("AVISO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !common::tool_available(&chromium, "--version", "chromium")
        || !common::tool_available("pdftoppm", "-v", "poppler-utils")
    {
        return;
    }
    let (status, headers, pdf) = request(
        &base,
        "GET",
        &format!("/api/alerts/{id}/plan?f=pdf"),
        &[],
        &[],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let pdf_path = dir.path().join("plano.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let root = dir.path().join("page1");
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
        .arg(&pdf_path)
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    let (w, h, pixels) = png_grey_pixels(&std::fs::read(root.with_extension("png")).unwrap());
    assert!(h > w, "an A4 portrait page: {w}×{h}");
    let dark = pixels.iter().filter(|&&p| p < 128).count();
    assert!(
        dark as f64 > 0.005 * pixels.len() as f64,
        "page 1 is blank: {dark} dark pixels of {}",
        pixels.len()
    );
}

/// Without Chromium the service still serves the sheet as HTML, CSV and GeoJSON; a PDF is
/// 503 and says what to install. Without probabilities and without an imported register,
/// the plan says both.
#[test]
fn without_chromium_a_pdf_plan_is_503_and_says_what_to_install() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feed = serve_file(std::fs::read(&forecast).unwrap());
    let config = write_config_with(dir.path(), &feed, "publish = false");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aviso"));
    cmd.args(["serve", "--config"])
        .arg(&config)
        .env("AVISO_CHROMIUM", dir.path().join("no-chromium-here"));
    let (child, base) = common::spawn_service(cmd);
    let _service = Service(child);
    let id = first_version(&base);
    let (status, headers, body) = request(
        &base,
        "GET",
        &format!("/api/alerts/{id}/plan?f=pdf"),
        &[],
        &[],
    );
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{text}");
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        text.contains("Chromium") && text.contains("AVISO_CHROMIUM"),
        "{text}"
    );
    let geo = get_json(&base, &format!("/api/alerts/{id}/plan?f=geojson"));
    let notes: Vec<&str> = geo["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(notes[0].starts_with("DEMONSTRATION register"), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("no probabilities attached")),
        "{notes:?}"
    );
    let (status, html) = get(&base, &format!("/api/alerts/{id}/plan?lang=en"));
    assert_eq!(status, 200);
    assert!(String::from_utf8(html).unwrap().contains("DEMONSTRATION"));
}

/// Files a local feed serves, by name.
type Files = std::sync::Arc<std::sync::Mutex<HashMap<String, Vec<u8>>>>;

/// The pipeline as the plan's assessor, as the service wires it (`app::plan_service`).
struct PipelineAssessor(std::sync::Arc<aviso::pipeline::Pipeline>);

impl aviso::api::plan::VersionAssessor for PipelineAssessor {
    fn assess_version(
        &self,
        v: &aviso::store::AlertSummary,
    ) -> Result<aviso::alerts::assess::Assessment, String> {
        let id = v.issuance_id.ok_or("no issuance")?;
        self.0.assess_stored(id, v.sent).map_err(|e| e.to_string())
    }

    fn assess_flood_version(
        &self,
        v: &aviso::store::AlertSummary,
    ) -> Result<aviso::alerts::assess_flood::FloodAssessment, String> {
        let id = v.issuance_id.ok_or("no issuance")?;
        self.0
            .assess_stored_flood(id, v.sent)
            .map_err(|e| e.to_string())
    }
}

/// A flood version is planned too (issue 14 part 3), through the router over a pipeline
/// that published the real 2025-09-25 river-station forecast: each district's demand is
/// its published people at risk × the configured flood fraction of its published level,
/// every centre inside a published flood footprint is unsafe (and says so), no centre
/// receives more than its room; the printable sheet is the flood's (its stations, its
/// districts), in Portuguese and English.
#[test]
fn a_flood_version_is_planned_with_flood_fractions_and_flood_areas() {
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt;
    let (Some(stations), Some(probs), Some(discharge)) = (
        common::read_data("floods/moz_aa_flood_stations_thresholds.csv"),
        common::read_data("floods/moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv"),
        common::read_data("floods/moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv"),
    ) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let files = Arc::new(Mutex::new(HashMap::from([
            ("probabilities.csv".to_string(), probs),
            ("discharge.csv".to_string(), discharge),
            ("stations.csv".to_string(), stations),
        ])));
        let app = axum::Router::new()
            .route(
                "/aa/{name}",
                axum::routing::get(
                    |axum::extract::State(f): axum::extract::State<Files>,
                     axum::extract::Path(name): axum::extract::Path<String>| async move {
                        f.lock().unwrap().get(&name).cloned().unwrap_or_default()
                    },
                ),
            )
            .with_state(files);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/aa", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut cfg = aviso::config::Config::from_toml(
            &format!(
                "{}\n[[feed]]\nname = \"glofas\"\nkind = \"flood-stations\"\nurl = \"{base}/probabilities.csv\"\ndischarge_url = \"{base}/discharge.csv\"\nstations_url = \"{base}/stations.csv\"\nschedule = \"0 30 7 * * *\"\n",
                aviso::config::DEFAULT_TOML
            ),
            "test.toml",
        )
        .unwrap();
        // A 2025 forecast replayed as Actual.
        cfg.flood.max_forecast_age_h = 1_000_000.0;
        cfg.http.retries = 0;
        let manifest = Path::new(layers_dir()).join("manifest.toml");
        let layers = tokio::task::block_in_place(|| {
            aviso::exposure::IndexedLayers::new(
                aviso::layers::load_layers(&manifest).unwrap().layers,
                &cfg.exposure,
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(aviso::store::sqlite::SqliteStore::open_dir(dir.path()).unwrap());
        let store: Arc<dyn aviso::store::Store> = sqlite.clone();
        let feed = cfg.feeds[0].clone();
        let state = aviso::api::ApiState::new(&layers.layers, None);
        let metrics = Arc::new(aviso::metrics::Metrics::default());
        let p = Arc::new(aviso::pipeline::Pipeline::new(
            Arc::new(cfg),
            Arc::new(layers),
            Arc::clone(&store),
            aviso::feeds::fetch::Fetcher::new(Default::default()).unwrap(),
            state.published(),
            Arc::clone(&metrics),
        ));
        let r = p.run_feed(&feed).await;
        assert_eq!(r.published.len(), 1, "{r:?}");
        let id = r.published[0].clone();
        let plans = Arc::new(aviso::api::plan::PlanApi::new(
            sqlite,
            Arc::new(PipelineAssessor(Arc::clone(&p))),
            Arc::clone(&p.layers),
            aviso::plan::PlanConfig::default(),
            5,
            None,
        ));
        let status = Arc::new(aviso::api::health::ServiceStatus::new(Vec::new()));
        let state = Arc::new(state.with_service(store, status, metrics).with_plan(plans));
        let call = |path: String| {
            let state = Arc::clone(&state);
            async move {
                let req = axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap();
                let resp = aviso::api::router(state).oneshot(req).await.unwrap();
                let status = resp.status().as_u16();
                let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                    .await
                    .unwrap();
                (status, body.to_vec())
            }
        };
        let (status, doc) = call(format!("/api/alerts/{id}")).await;
        assert_eq!(status, 200);
        let doc: Value = serde_json::from_slice(&doc).unwrap();
        let (status, csv) = call(format!("/api/alerts/{id}/plan?f=csv")).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&csv));
        let table = csv_rows(&csv);
        let fractions = aviso::plan::PlanConfig::default();
        let published: HashMap<&str, &Value> = doc["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["properties"]["layer"] == "flood_district")
            .map(|f| (f["properties"]["pcode"].as_str().unwrap(), &f["properties"]))
            .collect();
        let mut checked = 0;
        for r in table.iter().filter(|r| r["scope"] == "district") {
            let pcode = r["pcode"].as_str();
            let p = published[pcode];
            assert_eq!(r["level"], p["level"].as_str().unwrap(), "{pcode}");
            let Some(people) = p["people_at_risk"].as_f64() else {
                assert_eq!(r["demand_central"], "unknown", "{pcode}");
                continue;
            };
            let level = aviso::alerts::levels::Level::ALL
                .into_iter()
                .find(|l| l.name_en() == r["level"])
                .unwrap();
            let f = fractions
                .fraction(aviso::plan::PlanHazard::Flood, level)
                .unwrap();
            for (col, fraction) in [
                ("demand_low", f.low),
                ("demand_central", f.central),
                ("demand_high", f.high),
            ] {
                let got: f64 = r[col].parse().unwrap();
                // The published people are rounded to whole persons, and so is the cell.
                let want = people * fraction;
                assert!((got - want).abs() <= fraction * 0.5 + 0.5, "{pcode} {col}: {got} against {want}");
            }
            checked += 1;
        }
        assert!(checked >= 3, "{checked} districts checked");
        let (status, geo) = call(format!("/api/alerts/{id}/plan?f=geojson")).await;
        assert_eq!(status, 200);
        let geo: Value = serde_json::from_slice(&geo).unwrap();
        let footprints: Vec<MultiPolygon<f64>> = doc["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["properties"]["layer"] == "flood_footprint")
            .map(|f| multipolygon(&f["geometry"]))
            .collect();
        assert!(!footprints.is_empty());
        let feats = geo["features"].as_array().unwrap();
        let mut sent: HashMap<&str, (f64, usize)> = HashMap::new();
        for f in feats.iter().filter(|f| f["properties"]["feature"] == "allocation") {
            let e = sent
                .entry(f["properties"]["centre_code"].as_str().unwrap())
                .or_default();
            e.0 += num(&f["properties"]["persons"]);
            e.1 += 1;
        }
        let mut inside_n = 0;
        for c in feats.iter().filter(|f| f["properties"]["feature"] == "centre") {
            let p = &c["properties"];
            let code = p["code"].as_str().unwrap();
            let pt = Point::new(
                num(&c["geometry"]["coordinates"][0]),
                num(&c["geometry"]["coordinates"][1]),
            );
            if footprints.iter().any(|m| m.intersects(&pt)) {
                inside_n += 1;
                assert_eq!(p["safe"], false, "{code} lies in a flood footprint");
            }
            if p["safe"] == false {
                assert_eq!(p["unsafe_reason"], "inside a flood area", "{code}");
                assert_eq!(p["in_flood_extent"], true, "{code}");
            }
            let (got, lines) = sent.get(code).copied().unwrap_or((0.0, 0));
            assert!(
                got <= num(&p["free_room"]) + 0.05 * lines as f64 + 0.05,
                "{code}: {got} sent"
            );
        }
        assert!(inside_n > 0, "centres inside the flood footprints");
        assert!(
            feats
                .iter()
                .any(|f| f["properties"]["feature"] == "allocation"),
            "people are sent somewhere"
        );
        // The sheet: the flood's own (stations, flood levels), of this version, in both
        // languages; a PDF without a printer is 503 as for a cyclone.
        let (status, body) = call(format!("/api/alerts/{id}/plan?f=html")).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let html = String::from_utf8(body).unwrap();
        for expected in [
            "Plano de acolhimento — cheias — previsão fluvial de 25/09/2025",
            "Estado do gatilho (cheias)",
            "Changane em Chibuto",
            "Centros inseguros",
            id.as_str(),
        ] {
            assert!(html.contains(expected), "{expected:?} not in the sheet");
        }
        for d in published.values() {
            let name = d["name"].as_str().unwrap();
            assert!(html.contains(&format!("<td class=t>{name} ")), "{name}");
        }
        let (status, en) = call(format!("/api/alerts/{id}/plan?lang=en")).await;
        assert_eq!(status, 200);
        assert!(String::from_utf8(en).unwrap().contains("Accommodation plan — floods"));
        let (status, _) = call(format!("/api/alerts/{id}/plan?f=pdf")).await;
        assert_eq!(status, 503);
    });
}
