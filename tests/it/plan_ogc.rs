//! The contingency plan as OGC API collections, and the register history, through the
//! real `aviso serve` (issue 14 item 6 and part 1): Météo-France's RSMC forecast of Freddy
//! (2023-03-10 00Z) from a localhost feed, the demonstration register written by
//! `aviso register build-demo` imported through the admin API, two occupancy rounds.
//! GDAL's OAPIF driver (`ogrinfo`) lists and reads `sites_at_risk`,
//! `accommodation_centres` and `allocations`; what it reads must agree with
//! `/api/alerts/{id}/plan?f=geojson`, and independently: a centre inside the version's
//! published >= 34 kt swath is unsafe, one outside safe, and no centre receives more than
//! its free room. Then the `event` selection, CQL2 and sortby on them, and the history of
//! each centre's occupancy with the age of each figure.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;

use geo::{Closest, ClosestPoint, Distance, Geodesic, Intersects, LineString, MultiPolygon, Point};
use serde_json::Value;

use crate::common;
use crate::plan_service::{
    EDITOR, Service, VIEWER, first_version, get, get_json, hxl_rows, layers_dir, multipolygon, num,
    post, request, serve_file, write_config_with,
};

/// The features `ogrinfo -al` printed: per feature, field name to value text, and the
/// geometry line (WKT).
fn ogr_features(stdout: &str) -> Vec<(BTreeMap<String, String>, Option<String>)> {
    let mut out: Vec<(BTreeMap<String, String>, Option<String>)> = Vec::new();
    for line in stdout.lines() {
        if line.starts_with("OGRFeature(") {
            out.push((BTreeMap::new(), None));
            continue;
        }
        let Some((fields, geom)) = out.last_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some((name, rest)) = t.split_once(" (")
            && let Some((_, value)) = rest.split_once(") = ")
        {
            fields.insert(name.to_string(), value.to_string());
        } else if t.starts_with("POINT") || t.starts_with("LINESTRING") {
            *geom = Some(t.to_string());
        }
    }
    out
}

/// `ogrinfo -ro -al` on one collection of the service; (stdout, stderr).
fn ogrinfo(base: &str, collection: &str, extra: &[&str]) -> (String, String) {
    let out = Command::new("ogrinfo")
        .args(["-ro", "-al", &format!("OAPIF:{base}"), collection])
        .args(extra)
        .env("CPL_DEBUG", "ON")
        .env("GDAL_HTTP_TIMEOUT", "600")
        .env("GDAL_HTTP_MAX_RETRY", "0")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "ogrinfo {collection}: {stderr}");
    (stdout, stderr)
}

/// The coordinates of a WKT geometry, in order ("LINESTRING (39.0166 -17,39.1 -16.9)").
fn wkt_numbers(wkt: &str) -> Vec<f64> {
    wkt.split(['(', ')', ',', ' '])
        .filter_map(|t| t.parse().ok())
        .collect()
}

fn f64_of(fields: &BTreeMap<String, String>, k: &str) -> Option<f64> {
    fields.get(k).and_then(|v| v.parse().ok())
}

/// The plan's features of one kind (`feature` property), keyed by `key`.
fn plan_features<'a>(
    plan: &'a Value,
    kind: &str,
    key: &dyn Fn(&Value) -> String,
) -> HashMap<String, &'a Value> {
    plan["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["feature"] == kind)
        .map(|f| (key(&f["properties"]), f))
        .collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn q(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn gdal_reads_the_plan_collections_of_a_version_and_they_agree_with_its_plan() {
    let Some(forecast) = common::data_file(common::FREDDY_RSMC) else {
        return;
    };
    if !common::ogrinfo_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let feed = serve_file(std::fs::read(&forecast).unwrap());
    let config = write_config_with(dir.path(), &feed, "publish = false");
    let (child, base) = common::start_service(&config);
    let _service = Service(child);
    let id = first_version(&base);
    let list = get_json(&base, "/api/alerts");
    let event_id = s(&list["alerts"][0]["event_id"]);
    let doc = get_json(&base, &format!("/api/alerts/{id}"));

    // --- The demonstration register imported, and two occupancy rounds. ---------------
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
    let (status, v) = post(
        &base,
        "/api/admin/register?source=centres.hxl.csv",
        EDITOR,
        "text/csv",
        &register_bytes,
    );
    assert_eq!(status, 200, "{v}");
    let first_revision = v["revision"].as_i64().unwrap();
    let (a, b) = (&rows[0]["#loc+code"], &rows[1]["#loc+code"]);
    let rounds = [
        (
            "dtm-round-1.csv",
            vec![(a, "2023-03-01", 40), (b, "2023-03-01", 12)],
        ),
        ("dtm-round-2.csv", vec![(a, "2023-03-08", 65)]),
    ];
    for (file, figures) in &rounds {
        let mut occ = String::from(
            "Site code,Date,Individuals\n#loc+code,#date+reported,#affected+idps+ind\n",
        );
        for (code, date, n) in figures {
            occ.push_str(&format!("{code},{date},{n}\n"));
        }
        let (status, v) = post(
            &base,
            &format!("/api/admin/register/occupancy?source={file}"),
            EDITOR,
            "text/csv",
            occ.as_bytes(),
        );
        assert_eq!(status, 200, "{v}");
    }

    // --- The register history: every revision, each figure with its age. --------------
    let (status, _, _) = request(&base, "GET", "/api/admin/register/history", &[], &[]);
    assert_eq!(status, 401, "the history needs a token");
    let auth = format!("Bearer {VIEWER}");
    let (status, _, body) = request(
        &base,
        "GET",
        "/api/admin/register/history",
        &[("Authorization", &auth)],
        &[],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let history: Value = serde_json::from_slice(&body).unwrap();
    let kinds: Vec<(i64, String)> = history["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["revision"].as_i64().unwrap(), s(&r["kind"])))
        .collect();
    assert_eq!(
        kinds,
        [
            (first_revision + 2, "occupancy".to_string()),
            (first_revision + 1, "occupancy".to_string()),
            (first_revision, "register".to_string()),
        ]
    );
    let today = chrono::Utc::now().date_naive();
    let places = history["places"].as_array().unwrap();
    assert_eq!(places.len(), 2, "the two places with figures");
    let place_a = places.iter().find(|p| &s(&p["code"]) == a).unwrap();
    let figures: Vec<(String, f64, i64, String)> = place_a["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                s(&f["date"]),
                num(&f["individuals"]),
                f["age_days"].as_i64().unwrap(),
                s(&f["source"]),
            )
        })
        .collect();
    assert_eq!(figures.len(), 2, "{place_a}");
    for ((date, n, age, source), (file, want_date, want_n)) in figures.iter().zip([
        ("dtm-round-1.csv", "2023-03-01", 40.0),
        ("dtm-round-2.csv", "2023-03-08", 65.0),
    ]) {
        assert_eq!((date.as_str(), *n), (want_date, want_n));
        let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        assert_eq!(*age, (today - d).num_days());
        assert!(source.contains(file), "{source}");
    }
    assert_eq!(place_a["latest"]["date"], "2023-03-08");
    let (status, _, one) = request(
        &base,
        "GET",
        &format!("/api/admin/register/history?code={}", q(b)),
        &[("Authorization", &auth)],
        &[],
    );
    assert_eq!(status, 200);
    let one: Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(one["places"].as_array().unwrap().len(), 1);
    assert_eq!(one["places"][0]["figures"][0]["individuals"], 12.0);
    for (path, want) in [
        ("/api/admin/register/history?code=NOT-A-PLACE", 404),
        ("/api/admin/register/history?since=2023", 400),
    ] {
        let (status, _, body) = request(&base, "GET", path, &[("Authorization", &auth)], &[]);
        assert_eq!(status, want, "{path}: {}", String::from_utf8_lossy(&body));
    }

    // --- The plan as /plan serves it. --------------------------------------------------
    let plan = get_json(&base, &format!("/api/alerts/{id}/plan?f=geojson"));
    let centres = plan_features(&plan, "centre", &|p| s(&p["code"]));
    let allocations = plan_features(&plan, "allocation", &|p| {
        format!("{}_to_{}", s(&p["origin_id"]), s(&p["centre_code"]))
    });
    let origins = plan_features(&plan, "origin", &|p| s(&p["origin_id"]));
    assert_eq!(centres.len(), rows.len());
    assert!(!allocations.is_empty() && !origins.is_empty());

    // --- GDAL lists the three collections and reads them. ------------------------------
    let out = Command::new("ogrinfo")
        .args(["-ro", "-q", &format!("OAPIF:{base}")])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    for c in ["sites_at_risk", "accommodation_centres", "allocations"] {
        assert!(listed.contains(c), "{c} not listed:\n{listed}");
    }
    let (stdout, _) = ogrinfo(&base, "accommodation_centres", &[]);
    let read = ogr_features(&stdout);
    assert_eq!(read.len(), centres.len());
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
    // The swaths' rings: a point's distance to the edge (closest_point on a polygon is
    // the point itself when inside).
    let edges: Vec<&LineString<f64>> = swaths
        .iter()
        .flat_map(|m| m.0.iter())
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .collect();
    // Persons sent per centre, and how many lines (each rounded to 0.1 person).
    let mut sent: HashMap<String, (f64, usize)> = HashMap::new();
    for f in allocations.values() {
        let e = sent.entry(s(&f["properties"]["centre_code"])).or_default();
        e.0 += num(&f["properties"]["persons"]);
        e.1 += 1;
    }
    let (mut unsafe_n, mut checked_in, mut checked_out) = (0, 0, 0);
    for (fields, geom) in &read {
        let code = &fields["code"];
        let p = &centres[code]["properties"];
        assert_eq!(fields["event_id"], event_id);
        assert_eq!(fields["alert_id"], id);
        let safe = fields["safe"] == "1";
        assert_eq!(safe, p["safe"] == true, "{code}");
        for k in ["free_room", "allocated", "capacity", "free_room_after_plan"] {
            assert_eq!(f64_of(fields, k), p[k].as_f64(), "{code} {k}");
        }
        assert_eq!(
            f64_of(fields, "occupancy"),
            p["occupancy"].as_f64(),
            "{code}"
        );
        let room = num(&p["free_room"]);
        let (got, lines) = sent.get(code).copied().unwrap_or((0.0, 0));
        let rounding = 0.05 * lines as f64 + 0.05 + 1e-9;
        assert!(
            got <= room + rounding,
            "{code}: {got} sent to a room of {room}"
        );
        assert!((got - num(&p["allocated"])).abs() <= rounding, "{code}");
        // Safety checked against the published swaths, away from their edge (the
        // coordinates are rounded).
        let xy = wkt_numbers(geom.as_deref().unwrap());
        let pt = Point::new(xy[0], xy[1]);
        let inside = swaths.iter().any(|s| s.intersects(&pt));
        let near_edge = edges.iter().any(|ring| match ring.closest_point(&pt) {
            Closest::Intersection(c) | Closest::SinglePoint(c) => Geodesic.distance(c, pt) < 50.0,
            Closest::Indeterminate => true,
        });
        if !near_edge {
            assert_eq!(safe, !inside, "{code} at {pt:?}");
            if inside {
                checked_in += 1;
            } else {
                checked_out += 1;
            }
        }
        if !safe {
            unsafe_n += 1;
            assert!(
                fields["unsafe_reason"].contains("34")
                    || fields["unsafe_reason"].contains("kt wind swath"),
                "{code}: {:?}",
                fields.get("unsafe_reason")
            );
        }
    }
    assert!(
        checked_in > 0 && checked_out > 0,
        "{checked_in} {checked_out}"
    );

    let (stdout, _) = ogrinfo(&base, "allocations", &[]);
    let read = ogr_features(&stdout);
    assert_eq!(read.len(), allocations.len());
    for (fields, geom) in &read {
        let key = format!("{}_to_{}", fields["origin_id"], fields["centre_code"]);
        let f = allocations[&key];
        for k in ["persons", "distance_km"] {
            assert_eq!(f64_of(fields, k), f["properties"][k].as_f64(), "{key} {k}");
        }
        let c = &f["geometry"]["coordinates"];
        let want = [&c[0][0], &c[0][1], &c[1][0], &c[1][1]].map(num);
        assert_eq!(wkt_numbers(geom.as_deref().unwrap()), want, "{key}");
        // The line's length is the distance it carries (geodesic, WGS 84).
        let d = Geodesic.distance(
            Point::new(num(&c[0][0]), num(&c[0][1])),
            Point::new(num(&c[1][0]), num(&c[1][1])),
        ) / 1000.0;
        assert!(
            (d - f64_of(fields, "distance_km").unwrap()).abs() < 0.05,
            "{key}: {d}"
        );
    }

    // GDAL sends its where clause to the server; the sites it lists are those the plan's
    // own features select.
    let (stdout, stderr) = ogrinfo(&base, "sites_at_risk", &["-where", "demand > 100"]);
    assert!(
        stderr.contains("filter="),
        "GDAL filtered on the client:\n{stderr}"
    );
    let listed: BTreeSet<String> = ogr_features(&stdout)
        .into_iter()
        .map(|(f, _)| f["origin_id"].clone())
        .collect();
    let expected: BTreeSet<String> = origins
        .iter()
        .filter(|(_, f)| num(&f["properties"]["demand"]) > 100.0)
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(listed, expected);

    // --- Event selection, CQL2, sortby over HTTP. ---------------------------------------
    let items = "/collections/accommodation_centres/items?limit=1000";
    let unsafe_served = get_json(&base, &format!("{items}&filter={}", q("safe = false")));
    assert_eq!(unsafe_served["numberMatched"].as_u64(), Some(unsafe_n));
    let all = get_json(&base, &format!("{items}&event=all"));
    assert_eq!(all["numberMatched"].as_u64(), Some(centres.len() as u64));
    assert!(
        all["features"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| s(&f["id"]) == format!("{event_id}:{}", s(&f["properties"]["code"])))
    );
    let named = get_json(&base, &format!("{items}&event={}", q(&event_id)));
    assert_eq!(named["numberMatched"].as_u64(), Some(centres.len() as u64));
    let (status, body) = get(&base, &format!("{items}&event=no-such-event"));
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    let far = get_json(
        &base,
        "/collections/allocations/items?limit=1&sortby=-distance_km",
    );
    let max_km = allocations
        .values()
        .map(|f| num(&f["properties"]["distance_km"]))
        .fold(0.0, f64::max);
    assert_eq!(
        num(&far["features"][0]["properties"]["distance_km"]),
        max_km
    );
    let q_doc = get_json(&base, "/collections/allocations/queryables");
    for k in ["persons", "distance_km", "centre_code", "event_id"] {
        assert!(q_doc["properties"].get(k).is_some(), "{k}: {q_doc}");
    }
}
