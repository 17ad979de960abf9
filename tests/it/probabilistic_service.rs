//! The probabilistic assessment through the running service (issue 12): the real `aviso
//! serve` binary pulls Météo-France's real RSMC forecast of Freddy (2023-03-10 00Z) from a
//! localhost feed, publishes the version, and the test reads it back as a user would: the
//! version's GeoJSON document (P per district and window, people-at-risk quantiles,
//! contours beside the official-track swaths), its CAP (certainty from the probability,
//! well-formed), the OGC API collection `probability_contours` through GDAL's OAPIF driver,
//! and /metrics. Properties are checked (ordering over thresholds and windows, nesting of
//! contours, the official 64 kt swath's districts against the rest, certainty against
//! the stored probability), never numbers copied from an output.
//!
//! Realisations: 200 (config), not the default 1,000: a debug build takes ~10 s for the
//! layers' preparation and ~2 s per 200 realisations (docs/probabilistic.md gives the
//! release figures).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;
use crate::common::cap_xml::{parse, texts, xmllint_well_formed};

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use geo::{Area, BooleanOps, MultiPolygon};
use serde_json::Value;

/// Realisations the test's service draws.
pub(crate) const REALISATIONS: usize = 200;
/// The published version must appear within this (layers ~6 s, assessment ~15 s in debug).
pub(crate) const PUBLISH_LIMIT: Duration = Duration::from_secs(300);

/// One contour: its probability level and area.
type Level = (f64, MultiPolygon<f64>);

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

/// GET `path` from `base` ("http://host:port"): (status line, body).
pub(crate) fn get(base: &str, path: &str) -> (String, String) {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

pub(crate) fn get_json(base: &str, path: &str) -> Value {
    let (status, body) = get(base, path);
    assert!(status.contains(" 200 "), "{path}: {status}\n{body}");
    serde_json::from_str(&body).unwrap()
}

struct Published {
    _service: Service,
    base: String,
    id: String,
    doc: Value,
    cap: String,
}

/// A site configuration in `dir` for the service on `feed`: a 2023 forecast replayed as
/// Actual, `realisations` per assessment, versions waiting at most `wait_s`.
pub(crate) fn site_config(
    dir: &std::path::Path,
    feed: &str,
    wait_s: f64,
    realisations: usize,
) -> std::path::PathBuf {
    let publish_all = crate::common::PUBLISH_ALL;
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        format!(
            "{publish_all}[service]\nlisten = \"127.0.0.1:0\"\n# a 2023 forecast replayed as Actual\nmax_forecast_age_h = 1000000.0\ndata_dir = {:?}\nlayers = {:?}\n\n[http]\nconnect_timeout_s = 2.0\ntimeout_s = 5.0\nretries = 0\n\n[probabilistic]\nrealisations = {realisations}\npublish_wait_s = {wait_s:?}\n\n[[feed]]\nname = \"rsmc\"\nkind = \"rsmc-reunion\"\nurl = \"{feed}/freddy.json\"\nschedule = \"* * * * * *\"\n",
            dir.join("state").display().to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/layers"),
        ),
    )
    .unwrap();
    config
}

/// The first version's id, once the service at `base` has published one (version 1,
/// even when late probabilities have already raised its levels in an Update).
pub(crate) fn first_version(base: &str) -> String {
    let started = Instant::now();
    loop {
        let list = get_json(base, "/api/alerts?status=all");
        let first = list["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["version"] == 1));
        if let Some(id) = first.and_then(|v| v["id"].as_str()) {
            return id.to_string();
        }
        assert!(
            started.elapsed() < PUBLISH_LIMIT,
            "no version published within {PUBLISH_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Starts the service on the real Freddy forecast and waits for its first version, which
/// waits at most `wait_s` for its probabilities (`[probabilistic] publish_wait_s`).
fn published(wait_s: f64) -> Option<Published> {
    let bytes = std::fs::read(common::data_file(common::FREDDY_RSMC)?).unwrap();
    let feed = serve_file(bytes);
    let dir = tempfile::tempdir().unwrap().keep();
    let config = site_config(&dir, &feed, wait_s, REALISATIONS);
    let (child, base) = common::start_service(&config);
    let service = Service(child);
    let id = first_version(&base);
    let doc = get_json(&base, &format!("/api/alerts/{id}"));
    let (status, cap) = get(&base, &format!("/api/alerts/{id}/cap"));
    assert!(status.contains(" 200 "), "{status}");
    Some(Published {
        _service: service,
        base,
        id,
        doc,
        cap,
    })
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

pub(crate) fn features<'a>(doc: &'a Value, layer: &str) -> Vec<&'a Value> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["layer"] == layer)
        .collect()
}

fn multipolygon(g: &Value) -> MultiPolygon<f64> {
    let g: geojson::Geometry = serde_json::from_value(g.clone()).unwrap();
    match geo::Geometry::<f64>::try_from(g.value).unwrap() {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(m) => m,
        other => panic!("not a polygon: {other:?}"),
    }
}

/// One test: the service is started once (the layers' preparation dominates). The
/// version may wait for its probabilities as long as they take: they are in the version
/// as published, CAP certainty included.
#[test]
fn the_service_publishes_probabilities_with_each_cyclone_version_end_to_end() {
    let Some(p) = published(600.0) else { return };
    let doc = &p.doc;
    let prob = &doc["aviso"]["probabilistic"];
    assert_eq!(prob["status"], "ok", "{prob}");
    assert_eq!(prob["realisations"], REALISATIONS as u64);
    assert!(
        prob["seed"]
            .as_str()
            .is_some_and(|s| s.parse::<u64>().is_ok())
    );
    let thresholds: Vec<f64> = prob["thresholds_kt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let windows: Vec<f64> = prob["windows_h"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(thresholds, [34.0, 48.0, 64.0], "the issue's thresholds");
    assert_eq!(windows, [24.0, 48.0, 72.0, 120.0], "the issue's windows");
    let key = |t: f64, h: f64| format!("p_ge{t}kt_0_{h}h");

    // Every point at risk (in the official track's footprint) carries its P per threshold
    // and window, ordered over thresholds and windows; those in the official 64 kt swath
    // are reached by some realisation.
    let points = features(doc, "point_at_risk");
    assert!(!points.is_empty(), "Freddy puts points at risk");
    for f in &points {
        let pr = &f["properties"];
        for &h in &windows {
            let p: Vec<f64> = thresholds.iter().map(|&t| num(pr, &key(t, h))).collect();
            assert!(p[0] >= p[1] && p[1] >= p[2], "{}: {p:?}", pr["id"]);
        }
        for &t in &thresholds {
            let p: Vec<f64> = windows.iter().map(|&h| num(pr, &key(t, h))).collect();
            assert!(p.windows(2).all(|w| w[0] <= w[1]), "{}: {p:?}", pr["id"]);
        }
        if pr["max_threshold_kt"].as_f64() == Some(64.0) {
            assert!(num(pr, &key(34.0, 120.0)) > 0.0, "{}", pr["id"]);
        }
    }

    // Every district in the stored version: P(≥34) ≥ P(≥48) ≥ P(≥64) in every window,
    // P grows with the (cumulative) window, people-at-risk quantiles ordered.
    let districts = prob["districts"].as_array().unwrap();
    assert!(
        !districts.is_empty(),
        "Freddy gives some district a probability"
    );
    for d in districts {
        let pcode = d["pcode"].as_str().unwrap();
        for h in &windows {
            let ps: Vec<f64> = thresholds.iter().map(|t| num(d, &key(*t, *h))).collect();
            assert!(
                ps.iter().all(|p| (0.0..=1.0).contains(p)),
                "{pcode}: {ps:?}"
            );
            assert!(ps.windows(2).all(|w| w[0] >= w[1]), "{pcode} {h} h: {ps:?}");
        }
        for t in &thresholds {
            let ps: Vec<f64> = windows.iter().map(|h| num(d, &key(*t, *h))).collect();
            assert!(
                ps.windows(2).all(|w| w[0] <= w[1]),
                "{pcode} {t} kt: {ps:?}"
            );
            let q = &d[format!("people_ge{t}kt_0_120h")];
            let pop = d["population"].as_f64().unwrap_or(f64::INFINITY);
            assert!(
                num(q, "p10") <= num(q, "p50") && num(q, "p50") <= num(q, "p90"),
                "{pcode}: {q}"
            );
            assert!(
                num(q, "mean") <= pop + 1.0 && num(q, "p90") <= pop + 1.0,
                "{pcode}"
            );
        }
    }

    // The official track's 64 kt swath: its districts have a high P(≥64 kt within
    // 120 h), far above the districts outside it.
    let by_pcode: BTreeMap<&str, &Value> = districts
        .iter()
        .map(|d| (d["pcode"].as_str().unwrap(), d))
        .collect();
    let p64 = |pcode: &str| {
        by_pcode
            .get(pcode)
            .map_or(0.0, |d| num(d, &key(64.0, 120.0)))
    };
    let inside: Vec<&str> = features(doc, "district")
        .iter()
        .filter(|f| f["properties"]["max_threshold_kt"].as_f64() == Some(64.0))
        .map(|f| f["properties"]["pcode"].as_str().unwrap())
        .collect();
    assert!(
        !inside.is_empty(),
        "Freddy's forecast brings 64 kt to districts"
    );
    let outside: Vec<f64> = by_pcode
        .keys()
        .filter(|p| !inside.contains(p))
        .map(|p| p64(p))
        .collect();
    let mean_out = outside.iter().sum::<f64>() / outside.len().max(1) as f64;
    for pcode in &inside {
        assert!(
            p64(pcode) >= 0.3,
            "{pcode} is inside the official 64 kt swath but P(>=64 kt, 120 h) = {}",
            p64(pcode)
        );
        assert!(
            p64(pcode) > 5.0 * mean_out,
            "{pcode}: {} vs {mean_out}",
            p64(pcode)
        );
    }
    // District features carry the same numbers as the table.
    for f in features(doc, "district") {
        let pr = &f["properties"];
        let pcode = pr["pcode"].as_str().unwrap();
        assert_eq!(
            pr[key(64.0, 72.0)],
            by_pcode[pcode][key(64.0, 72.0)],
            "{pcode}"
        );
    }

    // In time, the probabilities are in the levels: each district says which rule set its
    // level; a probability-raised one gives the P it was raised on (the first version has
    // no previous one, so nothing is "held").
    let bases: Vec<&str> = features(doc, "district")
        .iter()
        .filter_map(|f| f["properties"]["level_basis"].as_str())
        .collect();
    assert!(
        bases
            .iter()
            .all(|b| ["official_track", "probability"].contains(b)),
        "{bases:?}"
    );
    assert!(
        bases.contains(&"probability"),
        "the default ladder raises some Freddy district: {bases:?}"
    );
    for f in features(doc, "district") {
        let pr = &f["properties"];
        if pr["level_basis"] == "probability" {
            assert!(
                pr["level_probability"].as_f64().is_some_and(|p| p > 0.0),
                "{pr}"
            );
            assert!(
                pr["level_reason_en"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("P(wind")),
                "{pr}"
            );
        }
    }

    // Labels: the official track's swaths, and the probabilistic contours.
    let swaths = features(doc, "wind_swath");
    assert!(!swaths.is_empty());
    assert!(
        swaths
            .iter()
            .all(|f| f["properties"]["forecast_basis"] == "official_track")
    );

    // Contours nest: for each threshold and window, the 30 % area lies inside the 10 %
    // one, and so on (a sliver of rounding allowed).
    let contours = features(doc, "probability_contour");
    assert!(!contours.is_empty());
    let mut groups: BTreeMap<(u64, u64), Vec<Level>> = BTreeMap::new();
    for c in &contours {
        let pr = &c["properties"];
        assert_eq!(pr["forecast_basis"], "probabilistic");
        groups
            .entry((num(pr, "threshold_kt") as u64, num(pr, "window_h") as u64))
            .or_default()
            .push((num(pr, "probability"), multipolygon(&c["geometry"])));
    }
    for ((t, h), mut levels) in groups {
        levels.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in levels.windows(2) {
            let (lo, hi) = (&w[0], &w[1]);
            let outside = hi.1.difference(&lo.1).unsigned_area();
            assert!(
                outside <= 0.01 * hi.1.unsigned_area() + 1e-4,
                "{t} kt {h} h: the {} contour pokes {outside} deg² out of the {} one",
                hi.0,
                lo.0
            );
        }
    }

    // CAP: well-formed; certainty is the stored probability in CAP 1.2's words.
    let cap = parse(&p.cap);
    // Asserts inside; false only when xmllint is absent and skipping is asked for.
    let _checked = xmllint_well_formed([("version".to_string(), p.cap.as_str())]);
    let names = texts(&cap, "alert/info/parameter/valueName");
    let values = texts(&cap, "alert/info/parameter/value");
    let stated: f64 = names
        .iter()
        .zip(&values)
        .find(|(n, _)| **n == "aviso:certainty_probability")
        .map(|(_, v)| v.parse().unwrap())
        .expect("the CAP states the probability its certainty follows");
    let geocodes = texts(&cap, "alert/info/area/geocode/value");
    assert!(!geocodes.is_empty());
    let highest = geocodes
        .iter()
        .map(|pc| by_pcode.get(pc).map_or(0.0, |d| num(d, &key(34.0, 120.0))))
        .fold(0.0_f64, f64::max);
    assert!(
        (highest - stated).abs() <= 0.001,
        "CAP says {stated}, the stored table's highest P(>=34 kt, 120 h) over its areas is {highest}"
    );
    let want = if stated > 0.5 {
        ["Likely", "Observed"].as_slice()
    } else if stated >= 0.05 {
        ["Possible"].as_slice()
    } else {
        ["Unlikely"].as_slice()
    };
    for c in texts(&cap, "alert/info/certainty") {
        assert!(want.contains(&c), "certainty {c} for P = {stated}");
    }

    // /metrics counts the assessment, and no failure.
    let (_, metrics) = get(&p.base, "/metrics");
    assert!(
        metrics.contains("aviso_probabilistic_duration_seconds_count 1"),
        "{metrics}"
    );
    assert!(metrics.contains("aviso_probabilistic_failures_total 0"));

    // OGC API - Features: GDAL's OAPIF driver reads every contour of the current alert.
    if !common::ogrinfo_available() {
        return;
    }
    let url = format!("OAPIF:{}", p.base);
    let out = Command::new("ogrinfo")
        .args(["-ro", "-al", "-geom=SUMMARY", &url, "probability_contours"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let read = text
        .lines()
        .filter(|l| l.starts_with("OGRFeature(probability_contours):"))
        .count();
    assert_eq!(read, contours.len(), "{text}");
    for field in [
        "probability (Real)",
        "threshold_kt (Real)",
        "window_h (Real)",
    ] {
        assert!(text.contains(field), "{field} in\n{text}");
    }
    assert!(text.contains("Geometry: Multi Polygon"), "{text}");
}

/// A version never waits longer than `publish_wait_s` for its probabilities (issue 12: a
/// late alert costs lives). With 0 s, the version is out before its probabilities (the
/// document says "pending" and the CAP has no probability); they are attached to the stored
/// version when ready and served from then on (document, OGC collection), while the CAP
/// that went out stays byte for byte the same.
#[test]
fn a_version_is_published_before_its_late_probabilities_which_are_attached_after() {
    let Some(p) = published(0.0) else { return };
    let first = &p.doc["aviso"]["probabilistic"];
    assert_eq!(first["status"], "pending", "{first}");
    assert!(
        features(&p.doc, "probability_contour").is_empty(),
        "no contour before the probabilities"
    );
    let cap_xml = parse(&p.cap);
    let names = texts(&cap_xml, "alert/info/parameter/valueName");
    assert!(
        !names.contains(&"aviso:certainty_probability"),
        "the CAP sent before the probabilities cannot state one: {names:?}"
    );

    let started = Instant::now();
    let doc = loop {
        let doc = get_json(&p.base, &format!("/api/alerts/{}", p.id));
        if doc["aviso"]["probabilistic"]["status"] != "pending" {
            break doc;
        }
        assert!(
            started.elapsed() < PUBLISH_LIMIT,
            "the probabilities were not attached within {PUBLISH_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let prob = &doc["aviso"]["probabilistic"];
    assert_eq!(prob["status"], "ok", "{prob}");
    assert_eq!(prob["attached_after_publication"], true, "{prob}");
    assert!(prob["attached_at"].as_str().is_some(), "{prob}");
    assert_eq!(prob["realisations"], REALISATIONS as u64);
    // The same version: same id, summary and deterministic features, now with contours
    // and the districts' probabilities.
    assert_eq!(doc["alert"], p.doc["alert"]);
    assert_eq!(
        features(&doc, "wind_swath").len(),
        features(&p.doc, "wind_swath").len()
    );
    let contours = features(&doc, "probability_contour");
    assert!(!contours.is_empty());
    let with_p = features(&doc, "district")
        .iter()
        .filter(|f| f["properties"]["p_ge34kt_0_120h"].is_number())
        .count();
    assert!(with_p > 0, "district features carry their probabilities");

    // What went out is not rewritten.
    let (_, cap) = get(&p.base, &format!("/api/alerts/{}/cap", p.id));
    assert_eq!(cap, p.cap, "the CAP as sent");

    // The OGC API serves the attached contours as the current alert's.
    let items = get_json(
        &p.base,
        "/collections/probability_contours/items?limit=1000",
    );
    let served = items["features"].as_array().map_or(0, Vec::len);
    assert_eq!(served, contours.len(), "{items}");
}

/// Probabilities still being computed when the service stopped are not lost: after the
/// restart, the version published as "pending" gets them, computed again from its stored
/// issuance and attached as the interrupted run would have (no new version, the CAP as
/// sent). The first run draws so many realisations that it cannot finish before the stop.
#[test]
fn probabilities_pending_when_the_service_stopped_are_attached_after_the_restart() {
    let Some(path) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    let feed = serve_file(std::fs::read(path).unwrap());
    let dir = tempfile::tempdir().unwrap();
    // ~2 s per 200 realisations in a debug build: 50,000 take minutes.
    let config = site_config(dir.path(), &feed, 0.0, 50_000);
    let (child, base) = common::start_service(&config);
    let first = Service(child);
    let id = first_version(&base);
    let doc = get_json(&base, &format!("/api/alerts/{id}"));
    assert_eq!(doc["aviso"]["probabilistic"]["status"], "pending");
    let (_, cap) = get(&base, &format!("/api/alerts/{id}/cap"));
    drop(first);

    let config = site_config(dir.path(), &feed, 0.0, REALISATIONS);
    let (child, base) = common::start_service(&config);
    let _second = Service(child);
    let started = Instant::now();
    let doc = loop {
        let doc = get_json(&base, &format!("/api/alerts/{id}"));
        if doc["aviso"]["probabilistic"]["status"] != "pending" {
            break doc;
        }
        assert!(
            started.elapsed() < PUBLISH_LIMIT,
            "the pending probabilities were not attached within {PUBLISH_LIMIT:?} of the restart"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let prob = &doc["aviso"]["probabilistic"];
    assert_eq!(prob["status"], "ok", "{prob}");
    assert_eq!(prob["attached_after_publication"], true, "{prob}");
    // Computed by the restarted service, with the configuration in force now.
    assert_eq!(prob["realisations"], REALISATIONS as u64);
    assert!(!features(&doc, "probability_contour").is_empty());
    // No rewrite and no new forecast: the only version the restart may add is the Update
    // the late probabilities call for when they raise a level (default ladder), which
    // references the version sent and says why.
    let list = get_json(&base, "/api/alerts?status=all");
    let versions = list["alerts"].as_array().unwrap();
    assert!(
        (1..=2).contains(&versions.len()),
        "the restart published at most the raise: {list}"
    );
    for v in versions.iter().filter(|v| v["id"] != id.as_str()) {
        assert_eq!(v["msg_type"], "Update", "{v}");
        assert!(
            v["references"].as_str().is_some_and(|r| r.contains(&id)),
            "{v}"
        );
        assert!(v["reason"].as_str().is_some_and(|r| r.contains(&id)), "{v}");
        assert_eq!(prob["levels_updated_in"], v["id"], "{prob}");
    }
    let (_, cap_after) = get(&base, &format!("/api/alerts/{id}/cap"));
    assert_eq!(cap_after, cap, "the CAP as sent");
}
