//! OGC API – Features over the shipped layers and the Freddy alert: the router called
//! without a socket (tower's `oneshot`), then the real server on a free localhost port
//! read end to end by GDAL's OAPIF driver (`ogrinfo`), the strict client QGIS users meet.
//! Expected counts come from the data (PROVENANCE.md: 159 districts, 11 provinces, 1,589
//! health facilities, 24,602 settlements) or from the loaded layers and the alert document,
//! never from the API's own answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use geo::{Contains, Intersects, Point, Rect, coord};
use serde_json::Value;
use tower::ServiceExt;

use aviso::alerts::document::alert_document;
use aviso::api::{ApiState, router};
use aviso::domain::Layers;

pub(crate) const BASE: &str = "http://aviso.test:8080";

pub(crate) struct Fixture {
    pub(crate) layers: Layers,
    pub(crate) alert: Value,
    /// With the Freddy alert published, links under [`BASE`].
    pub(crate) state: Arc<ApiState>,
}

/// The shipped layers and the Freddy alert, loaded once for all tests.
pub(crate) fn fixture() -> Option<&'static Fixture> {
    static CELL: OnceLock<Option<Fixture>> = OnceLock::new();
    CELL.get_or_init(|| {
        let (_cfg, indexed, assessment) = common::freddy_on_shipped_layers()?;
        let mut alert = alert_document(&assessment, &indexed.layers, 5);
        // With its probabilistic part, as the service publishes it (issue 12).
        let prob = crate::probabilistic::fixture()?;
        let outcome = aviso::alerts::probabilistic::ProbabilisticOutcome::Assessed {
            result: Box::new(prob.result.clone()),
            basis: "realisations around the official forecast track".into(),
            seconds: 0.0,
        };
        aviso::alerts::probabilistic::attach_probabilistic(&mut alert, &outcome, 5);
        let state = ApiState::new(&indexed.layers, Some(BASE.to_string()));
        state.set_alert(alert.clone(), "freddy").unwrap();
        Some(Fixture {
            layers: indexed.layers,
            alert,
            state: Arc::new(state),
        })
    })
    .as_ref()
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Value,
}

/// GETs `uri` through the router, no socket. `uri` may be absolute under [`BASE`].
fn get_with(state: &Arc<ApiState>, uri: &str, host: &str) -> Reply {
    let path = uri.strip_prefix(BASE).unwrap_or(uri).to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let req = Request::get(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        let resp = router(state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            body,
        }
    })
}

fn get(f: &Fixture, uri: &str) -> Reply {
    get_with(&f.state, uri, "aviso.test:8080")
}

fn link<'a>(body: &'a Value, rel: &str) -> Option<&'a str> {
    body["links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == rel)
        .and_then(|l| l["href"].as_str())
}

fn ids(page: &Value) -> Vec<String> {
    page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// The alert document's features of the given `layer` values (the test's own count).
fn alert_features_of(alert: &Value, layers: &[&str]) -> usize {
    alert["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| layers.contains(&f["properties"]["layer"].as_str().unwrap_or("")))
        .count()
}

#[test]
fn landing_page_links_are_absolute_and_each_one_answers() {
    let Some(f) = fixture() else { return };
    let r = get(f, "/");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type, "application/json");
    for rel in ["self", "service-desc", "conformance", "data"] {
        let href = link(&r.body, rel).unwrap_or_else(|| panic!("a '{rel}' link"));
        assert!(href.starts_with(BASE), "{rel} link {href} is not absolute");
        assert_eq!(get(f, href).status, StatusCode::OK, "{href}");
    }
    let api = get(f, link(&r.body, "service-desc").unwrap());
    assert!(
        api.content_type
            .starts_with("application/vnd.oai.openapi+json")
    );
}

#[test]
fn without_a_configured_base_url_links_follow_the_host_header() {
    let Some(f) = fixture() else { return };
    let state = Arc::new(ApiState::new(&f.layers, None));
    let r = get_with(&state, "/", "gis.ingd.example:9000");
    for l in r.body["links"].as_array().unwrap() {
        assert!(
            l["href"]
                .as_str()
                .unwrap()
                .starts_with("http://gis.ingd.example:9000/"),
            "{l}"
        );
    }
}

#[test]
fn conformance_declares_core_geojson_and_openapi_30() {
    let Some(f) = fixture() else { return };
    let r = get(f, "/conformance");
    let classes: Vec<&str> = r.body["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in ["core", "geojson", "oas30"] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{c}");
        assert!(classes.contains(&uri.as_str()), "missing {uri}");
    }
}

#[test]
fn api_document_is_openapi_30_with_every_endpoint_and_the_limit_bounds() {
    let Some(f) = fixture() else { return };
    let r = get(f, "/api");
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3.0"));
    for p in [
        "/",
        "/conformance",
        "/api",
        "/collections",
        "/collections/{collectionId}",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/items/{featureId}",
    ] {
        assert!(r.body["paths"][p]["get"].is_object(), "no GET {p}");
    }
    // Where GDAL's OAPIF driver reads the page size bounds: the items path's `limit`.
    let limit = &r.body["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit" && p["in"] == "query")
        .unwrap()["schema"];
    assert_eq!(limit["default"], 100);
    assert_eq!(limit["maximum"], 1000);
    assert_eq!(r.body["servers"][0]["url"], BASE);
}

/// The whole document passes a real OpenAPI 3.0 validator (Python's
/// openapi-spec-validator, which checks the document against the OAS 3.0 schema and
/// resolves every $ref).
#[test]
fn the_api_document_passes_an_openapi_validator() {
    let Some(f) = fixture() else { return };
    let have = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        common::skip_or_fail("python3 has no openapi_spec_validator");
        return;
    }
    let doc = get(f, "/api").body;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn collections_list_every_layer_and_the_alert_with_dotless_ids_and_extents() {
    let Some(f) = fixture() else { return };
    let r = get(f, "/collections");
    let cols = r.body["collections"].as_array().unwrap();
    let got: Vec<&str> = cols.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut want = vec!["country", "provinces", "districts"];
    want.extend(f.layers.points.iter().map(|l| l.info.name.as_str()));
    want.extend(["hazard_zones", "districts_at_risk", "probability_contours"]);
    assert_eq!(got, want);
    for c in cols {
        let id = c["id"].as_str().unwrap();
        assert!(!id.contains('.'), "dotted id {id}");
        assert_eq!(c["itemType"], "feature");
        let bbox = c["extent"]["spatial"]["bbox"][0].as_array().unwrap();
        assert_eq!(bbox.len(), 4, "{id}");
        let b: Vec<f64> = bbox.iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(b[0] < b[2] && b[1] < b[3], "{id}: {b:?}");
        // The layers lie in Mozambique, within 30–41 E, 27–10 S; Freddy's swaths and cone
        // reach far out over the Mozambique Channel, so only their south-west is bounded.
        if id == "hazard_zones" || id == "probability_contours" {
            assert!(b[0] >= 30.0 && b[1] >= -27.5, "{id}: {b:?}");
        } else {
            assert!(
                b[0] >= 30.0 && b[2] <= 41.5 && b[1] >= -27.5 && b[3] <= -10.0,
                "{id}: {b:?}"
            );
        }
        let items = link(c, "items").unwrap();
        assert_eq!(items, format!("{BASE}/collections/{id}/items"));
    }
}

#[test]
fn paging_through_districts_returns_every_district_once_and_stops_on_the_last_page() {
    let Some(f) = fixture() else { return };
    let mut url = format!("{BASE}/collections/districts/items?limit=37");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = get(f, &url);
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.content_type, "application/geo+json");
        assert_eq!(r.body["numberMatched"], f.layers.districts.len());
        let page = ids(&r.body);
        assert_eq!(r.body["numberReturned"], page.len());
        assert!(r.body["timeStamp"].is_string());
        seen.extend(page);
        pages += 1;
        match link(&r.body, "next") {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    // 159 districts at 37 a page: 4 full pages and one of 11.
    assert_eq!(pages, 5);
    let want: BTreeSet<String> = f.layers.districts.iter().map(|d| d.pcode.clone()).collect();
    assert_eq!(seen.len(), want.len(), "a district came twice");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), want);
}

#[test]
fn an_offset_past_the_end_gives_an_empty_page_without_next() {
    let Some(f) = fixture() else { return };
    let r = get(f, "/collections/provinces/items?offset=500");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["numberReturned"], 0);
    assert_eq!(r.body["numberMatched"], 11);
    assert!(link(&r.body, "next").is_none());
}

#[test]
fn bbox_keeps_exactly_the_settlements_inside_it() {
    let Some(f) = fixture() else { return };
    // Around Beira and the Búzi mouth.
    let (x0, y0, x1, y1) = (34.2, -20.4, 35.1, -19.5);
    let r = get(
        f,
        &format!("/collections/settlements/items?bbox={x0},{y0},{x1},{y1}&limit=1000"),
    );
    // Independent check: plain coordinate comparison on the loaded points.
    let layer = f
        .layers
        .points
        .iter()
        .find(|l| l.info.name == "settlements")
        .unwrap();
    let inside: BTreeSet<&str> = layer
        .features
        .iter()
        .filter(|p| {
            let (x, y) = (p.location.x(), p.location.y());
            x >= x0 && x <= x1 && y >= y0 && y <= y1
        })
        .map(|p| p.id.as_str())
        .collect();
    assert!(inside.len() > 10 && inside.len() < 1000, "{}", inside.len());
    assert_eq!(r.body["numberMatched"], inside.len());
    let got = ids(&r.body);
    assert_eq!(
        got.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        inside
    );
    // The next page of a bbox query keeps the bbox.
    let r = get(
        f,
        &format!("/collections/settlements/items?bbox={x0},{y0},{x1},{y1}&limit=5"),
    );
    assert!(
        link(&r.body, "next")
            .unwrap()
            .contains("bbox=34.2,-20.4,35.1,-19.5")
    );
}

#[test]
fn bbox_keeps_the_districts_that_touch_it() {
    let Some(f) = fixture() else { return };
    let (x0, y0, x1, y1) = (34.6, -20.0, 35.0, -19.7);
    let r = get(
        f,
        &format!("/collections/districts/items?bbox={x0},{y0},{x1},{y1}"),
    );
    let got: BTreeSet<String> = ids(&r.body).into_iter().collect();
    let rect = Rect::new(coord! {x: x0, y: y0}, coord! {x: x1, y: y1});
    let want: BTreeSet<String> = f
        .layers
        .districts
        .iter()
        .filter(|d| d.geometry.intersects(&rect))
        .map(|d| d.pcode.clone())
        .collect();
    assert_eq!(got, want);
    // Beira city (34.84 E, 19.83 S) is among them.
    let beira = f
        .layers
        .districts
        .iter()
        .find(|d| d.geometry.contains(&Point::new(34.84, -19.83)))
        .unwrap();
    assert!(got.contains(&beira.pcode));
}

#[test]
fn limit_defaults_to_100_and_is_clamped_to_1000() {
    let Some(f) = fixture() else { return };
    let r = get(f, "/collections/settlements/items");
    assert_eq!(r.body["numberReturned"], 100);
    let r = get(f, "/collections/settlements/items?limit=5000");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["numberReturned"], 1000);
    assert!(
        link(&r.body, "next")
            .unwrap()
            .contains("limit=1000&offset=1000")
    );
}

fn assert_error(f: &Fixture, uri: &str, status: StatusCode, mentions: &str) {
    let r = get(f, uri);
    assert_eq!(r.status, status, "{uri}");
    assert_eq!(r.content_type, "application/json", "{uri}");
    assert!(r.body["code"].is_string(), "{uri}: {}", r.body);
    let d = r.body["description"].as_str().unwrap();
    assert!(
        d.contains(mentions),
        "{uri}: '{d}' should mention '{mentions}'"
    );
}

#[test]
fn bad_requests_get_400_json_errors_that_name_the_parameter() {
    let Some(f) = fixture() else { return };
    let bad = StatusCode::BAD_REQUEST;
    assert_error(
        f,
        "/collections/districts/items?bbox=200,0,210,10",
        bad,
        "bbox",
    );
    assert_error(
        f,
        "/collections/districts/items?bbox=30,-10,40,-20",
        bad,
        "bbox",
    );
    assert_error(f, "/collections/districts/items?bbox=a,b,c,d", bad, "bbox");
    assert_error(
        f,
        "/collections/districts/items?bbox=30,-20,40",
        bad,
        "bbox",
    );
    assert_error(f, "/collections/districts/items?limit=0", bad, "limit");
    assert_error(f, "/collections/districts/items?limit=ten", bad, "limit");
    assert_error(f, "/collections/districts/items?offset=-1", bad, "offset");
    assert_error(
        f,
        "/collections/districts/items?limit=1&limit=2",
        bad,
        "limit",
    );
    assert_error(f, "/collections/districts/items?colour=red", bad, "colour");
    assert_error(
        f,
        "/collections/districts/items?bbox-crs=EPSG:32736",
        bad,
        "bbox-crs",
    );
}

#[test]
fn unknown_collections_features_and_paths_get_404_json_errors() {
    let Some(f) = fixture() else { return };
    let nf = StatusCode::NOT_FOUND;
    assert_error(f, "/collections/rivers", nf, "rivers");
    assert_error(f, "/collections/rivers/items", nf, "rivers");
    assert_error(f, "/collections/districts/items/MZ9999", nf, "MZ9999");
    assert_error(
        f,
        "/collections/hazard_zones/items/wind_200kt",
        nf,
        "wind_200kt",
    );
    assert_error(f, "/alerts/latest", nf, "/alerts/latest");
}

#[test]
fn a_district_is_served_by_its_pcode() {
    let Some(f) = fixture() else { return };
    let d = &f.layers.districts[0];
    let r = get(f, &format!("/collections/districts/items/{}", d.pcode));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type, "application/geo+json");
    assert_eq!(r.body["type"], "Feature");
    assert_eq!(r.body["id"], d.pcode.as_str());
    assert_eq!(r.body["properties"]["name"], d.name.as_str());
    // Every area is a MultiPolygon, so GDAL and QGIS see one geometry type per layer.
    assert_eq!(r.body["geometry"]["type"], "MultiPolygon");
    assert_eq!(
        link(&r.body, "self").unwrap(),
        format!("{BASE}/collections/districts/items/{}", d.pcode)
    );
}

#[test]
fn the_alert_serves_its_swaths_cone_and_districts_at_risk() {
    let Some(f) = fixture() else { return };
    let zones = get(f, "/collections/hazard_zones/items");
    let want = alert_features_of(
        &f.alert,
        &["wind_swath", "observed_wind_swath", "cone", "exposed_area"],
    );
    assert_eq!(zones.body["numberMatched"], want);
    let zone_ids = ids(&zones.body);
    // Freddy reaches Quelimane at ≥ 64 kt, inside the RSMC cone.
    for id in ["wind_34kt", "wind_64kt", "cone", "exposed_area"] {
        assert!(zone_ids.iter().any(|z| z == id), "{id} in {zone_ids:?}");
    }
    let r = get(f, "/collections/hazard_zones/items/wind_64kt");
    assert_eq!(r.body["properties"]["threshold_kt"], 64.0);

    let districts = get(f, "/collections/districts_at_risk/items?limit=1000");
    assert_eq!(
        districts.body["numberMatched"],
        alert_features_of(&f.alert, &["district"])
    );
    let pcodes: BTreeSet<String> = ids(&districts.body).into_iter().collect();
    let doc_pcodes: BTreeSet<String> = f.alert["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["properties"]["layer"] == "district")
        .map(|x| x["properties"]["pcode"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pcodes, doc_pcodes);
}

#[test]
fn without_an_alert_the_alert_collections_are_listed_and_empty() {
    let Some(f) = fixture() else { return };
    let state = Arc::new(ApiState::new(&f.layers, Some(BASE.into())));
    let cols = get_with(&state, "/collections", "x");
    let listed: Vec<&str> = cols.body["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&"hazard_zones") && listed.contains(&"districts_at_risk"));
    let r = get_with(&state, "/collections/hazard_zones/items", "x");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["numberMatched"], 0);
    assert!(r.body["features"].as_array().unwrap().is_empty());
    // A document that is not a FeatureCollection is refused, naming its origin.
    let err = state
        .set_alert(serde_json::json!({"type": "Feature"}), "bad.geojson")
        .unwrap_err();
    assert!(err.to_string().contains("bad.geojson"), "{err}");
}

// --- GDAL's OAPIF driver against the real server ------------------------------------

/// Runs `ogrinfo` with timeouts, killing it after `limit`; returns stdout.
fn ogrinfo(args: &[&str], limit: Duration) -> String {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("ogrinfo")
        .args(args)
        // A hang must fail the test, not block it.
        .env("GDAL_HTTP_TIMEOUT", "60")
        .env("GDAL_HTTP_CONNECTTIMEOUT", "10")
        .env("GDAL_HTTP_MAX_RETRY", "0")
        .env("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
        .stdout(Stdio::from(out.reopen().unwrap()))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "ogrinfo {args:?} failed: {status}");
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("ogrinfo {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(out.path()).unwrap()
}

/// Starts the server on a free localhost port, in its own runtime thread.
pub(crate) fn start_server(f: &Fixture) -> String {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", std_listener.local_addr().unwrap());
    let state = ApiState::new(&f.layers, Some(base.clone()));
    state.set_alert(f.alert.clone(), "freddy").unwrap();
    let state = Arc::new(state);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            aviso::api::serve(listener, state).await.unwrap();
        });
    });
    base
}

#[test]
fn gdal_oapif_lists_every_collection_and_reads_every_feature() {
    let Some(f) = fixture() else { return };
    if !common::ogrinfo_available() {
        return;
    }
    let base = start_server(f);
    let url = format!("OAPIF:{base}");

    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    want.insert("country".into(), 1);
    want.insert("provinces".into(), 11);
    want.insert("districts".into(), 159);
    want.insert("health_facilities".into(), 1589);
    want.insert("settlements".into(), 24602);
    for l in &f.layers.points {
        want.entry(l.info.name.clone()).or_insert(l.features.len());
    }
    want.insert(
        "hazard_zones".into(),
        alert_features_of(
            &f.alert,
            &["wind_swath", "observed_wind_swath", "cone", "exposed_area"],
        ),
    );
    want.insert(
        "districts_at_risk".into(),
        alert_features_of(&f.alert, &["district"]),
    );
    want.insert(
        "probability_contours".into(),
        alert_features_of(&f.alert, &["probability_contour"]),
    );

    // Summary: every collection listed, with numberMatched as its feature count.
    let summary = ogrinfo(&["-ro", "-al", "-so", &url], Duration::from_secs(120));
    let mut listed = BTreeMap::new();
    let mut name = None;
    for line in summary.lines() {
        if let Some(n) = line.strip_prefix("Layer name: ") {
            name = Some(n.trim().to_string());
        } else if let Some(c) = line.strip_prefix("Feature Count: ") {
            listed.insert(name.take().unwrap(), c.trim().parse::<usize>().unwrap());
        }
    }
    assert_eq!(listed, want, "ogrinfo -so:\n{summary}");

    // Every feature read, through next links at GDAL's page size of 1000.
    let all = ogrinfo(
        &["-ro", "-al", "-geom=NO", "-oo", "PAGE_SIZE=1000", &url],
        Duration::from_secs(300),
    );
    let mut read: BTreeMap<String, usize> = want.keys().map(|k| (k.clone(), 0)).collect();
    for line in all.lines() {
        if let Some(rest) = line.strip_prefix("OGRFeature(")
            && let Some((layer, _)) = rest.split_once("):")
        {
            *read.entry(layer.to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(read, want, "features read by ogrinfo -al");

    // Districts with geometry at GDAL's default page size (10): 16 pages, all parsed.
    let districts = ogrinfo(&["-ro", "-al", &url, "districts"], Duration::from_secs(120));
    let n = districts
        .lines()
        .filter(|l| l.starts_with("OGRFeature(districts):"))
        .count();
    let polygons = districts
        .lines()
        .filter(|l| l.trim_start().starts_with("MULTIPOLYGON"))
        .count();
    assert_eq!((n, polygons), (159, 159));
    assert!(
        districts.contains("Geometry: Multi Polygon"),
        "one geometry type for the layer"
    );
}

#[test]
fn serve_layers_command_serves_the_layers_and_an_alert_file_with_absolute_links() {
    let Some(f) = fixture() else { return };
    let alert = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(alert.path(), serde_json::to_vec(&f.alert).unwrap()).unwrap();
    // A free port: bound, read, released, then handed to the command.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let layers = concat!(env!("CARGO_MANIFEST_DIR"), "/layers");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args([
            "serve-layers",
            "--layers",
            layers,
            "--listen",
            &listen,
            "--alert",
        ])
        .arg(alert.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let fetch = |path: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&listen).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {listen}\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let start = Instant::now();
    let landing = loop {
        if let Some(r) = fetch("/") {
            break r;
        }
        if start.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("serve-layers did not answer on {listen}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let zones = fetch("/collections/hazard_zones/items").unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(landing.starts_with("HTTP/1.0 200 OK"), "{landing}");
    assert!(
        landing.contains(&format!("\"http://{listen}/api\"")),
        "{landing}"
    );
    assert!(zones.contains("\"wind_64kt\""), "the alert file is served");
}
