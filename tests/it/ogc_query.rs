//! OGC API – Features Parts 2 and 3 over the Freddy alert (issue 14 item 6): queryables,
//! queryables as parameters, CQL2 text filters, `sortby`, `properties`, EPSG:4326 on
//! request, and GDAL's OAPIF driver pushing an `ogrinfo -where` clause to the server.
//! Every expected set is computed here from the alert document itself, never from the
//! API's answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;
use crate::ogc::{BASE, Fixture, fixture, start_server};

use std::collections::BTreeSet;
use std::process::Command;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use aviso::api::router;

const EPSG_4326: &str = "http://www.opengis.net/def/crs/EPSG/0/4326";

/// GET through the router; (status, headers, JSON body).
fn get(f: &Fixture, uri: &str) -> (StatusCode, HeaderMap, Value) {
    let path = uri.strip_prefix(BASE).unwrap_or(uri).to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let req = Request::get(path)
            .header(header::HOST, "aviso.test:8080")
            .body(Body::empty())
            .unwrap();
        let resp = router(f.state.clone()).oneshot(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    })
}

/// Percent-encodes a query value.
fn q(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The alert document's district features' properties (the test's own reading).
fn districts(f: &Fixture) -> Vec<&serde_json::Map<String, Value>> {
    f.alert["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["properties"]["layer"] == "district")
        .map(|x| x["properties"].as_object().unwrap())
        .collect()
}

fn pcodes_where(
    f: &Fixture,
    keep: impl Fn(&serde_json::Map<String, Value>) -> bool,
) -> BTreeSet<String> {
    districts(f)
        .into_iter()
        .filter(|p| keep(p))
        .map(|p| p["pcode"].as_str().unwrap().to_string())
        .collect()
}

/// Every feature id of the districts at risk that `query` selects, following next links.
fn selected(f: &Fixture, query: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut uri = format!("/collections/districts_at_risk/items?{query}");
    loop {
        let (status, _, page) = get(f, &uri);
        assert_eq!(status, StatusCode::OK, "{uri}: {page}");
        for feat in page["features"].as_array().unwrap() {
            assert!(
                out.insert(feat["id"].as_str().unwrap().to_string()),
                "{uri}"
            );
        }
        let next = page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_string());
        match next {
            Some(n) => uri = n,
            None => break,
        }
    }
    out
}

fn people(p: &serde_json::Map<String, Value>) -> Option<f64> {
    p.get("people_at_risk").and_then(Value::as_f64)
}

#[test]
fn queryables_describe_what_a_request_can_filter_and_the_api_says_so() {
    let Some(f) = fixture() else { return };
    let (status, headers, schema) = get(f, "/collections/districts_at_risk/queryables");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/schema+json");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let props = schema["properties"].as_object().unwrap();
    for (name, t) in [
        ("level", "string"),
        ("province_pcode", "string"),
        ("people_at_risk", "number"),
        ("in_cone", "boolean"),
    ] {
        assert_eq!(props[name]["type"], t, "{name}");
    }
    // Every queryable is a property some district feature carries.
    let ds = districts(f);
    for name in props.keys() {
        assert!(ds.iter().any(|p| p.contains_key(name)), "{name}");
    }
    let (_, _, c) = get(f, "/collections/districts_at_risk");
    let links = c["links"].as_array().unwrap();
    assert!(links.iter().any(
        |l| l["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/queryables"
            && l["href"] == format!("{BASE}/collections/districts_at_risk/queryables")
    ));
    assert!(c["crs"].as_array().unwrap().iter().any(|x| x == EPSG_4326));
    assert_eq!(
        c["storageCrs"],
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    );
    let (_, _, conf) = get(f, "/conformance");
    let conf: Vec<&str> = conf["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for class in [
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    ] {
        assert!(conf.contains(&class), "{class}");
    }
}

#[test]
fn parameters_and_cql2_keep_exactly_the_districts_that_match() {
    let Some(f) = fixture() else { return };
    let red = pcodes_where(f, |p| p["level"] == "red");
    assert!(red.len() >= 5, "Freddy has red districts: {red:?}");
    assert_eq!(selected(f, "level=red&limit=3"), red);
    let province = districts(f)
        .into_iter()
        .find(|p| p["level"] == "red")
        .and_then(|p| p["province_pcode"].as_str())
        .unwrap()
        .to_string();
    assert_eq!(
        selected(f, &format!("province_pcode={province}")),
        pcodes_where(f, |p| p["province_pcode"] == province.as_str())
    );
    let cases: Vec<(&str, BTreeSet<String>)> = vec![
        (
            "level IN ('red', 'orange') AND people_at_risk > 10000",
            pcodes_where(f, |p| {
                (p["level"] == "red" || p["level"] == "orange")
                    && people(p).is_some_and(|n| n > 10000.0)
            }),
        ),
        (
            "people_at_risk IS NULL OR NOT (level = 'red')",
            pcodes_where(f, |p| people(p).is_none() || p["level"] != "red"),
        ),
        (
            "name LIKE 'M%' AND people_at_risk BETWEEN 1000 AND 300000",
            pcodes_where(f, |p| {
                p["name"].as_str().unwrap().starts_with('M')
                    && people(p).is_some_and(|n| (1000.0..=300000.0).contains(&n))
            }),
        ),
    ];
    for (filter, expected) in cases {
        assert!(!expected.is_empty(), "{filter} selects something on Freddy");
        assert_eq!(
            selected(
                f,
                &format!("filter={}&filter-lang=cql2-text&limit=4", q(filter))
            ),
            expected,
            "{filter}"
        );
    }
}

#[test]
fn sortby_orders_and_properties_selects() {
    let Some(f) = fixture() else { return };
    let (status, _, page) = get(
        f,
        "/collections/districts_at_risk/items?sortby=-people_at_risk&properties=pcode,people_at_risk&limit=1000",
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    let feats = page["features"].as_array().unwrap();
    assert_eq!(feats.len(), districts(f).len());
    let values: Vec<Option<f64>> = feats
        .iter()
        .map(|x| x["properties"]["people_at_risk"].as_f64())
        .collect();
    let known: Vec<f64> = values.iter().map_while(|v| *v).collect();
    assert!(known.windows(2).all(|w| w[0] >= w[1]), "{known:?}");
    // Nulls come last.
    assert!(values[known.len()..].iter().all(Option::is_none));
    for x in feats {
        let keys: BTreeSet<&str> = x["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            keys.is_subset(&BTreeSet::from(["pcode", "people_at_risk"])),
            "{keys:?}"
        );
        assert!(keys.contains("pcode"));
    }
}

#[test]
fn epsg_4326_answers_latitude_first_and_names_the_crs() {
    let Some(f) = fixture() else { return };
    let (_, h84, plain) = get(f, "/collections/districts/items?limit=2");
    let (status, h4326, swapped) = get(
        f,
        &format!("/collections/districts/items?limit=2&crs={}", q(EPSG_4326)),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h84["content-crs"],
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    );
    assert_eq!(h4326["content-crs"], format!("<{EPSG_4326}>").as_str());
    let first = |v: &Value| {
        let mut c = &v["features"][0]["geometry"]["coordinates"];
        while c[0].is_array() {
            c = &c[0];
        }
        (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
    };
    let (lon, lat) = first(&plain);
    assert!((30.0..41.0).contains(&lon) && (-27.0..-10.0).contains(&lat));
    assert_eq!(first(&swapped), (lat, lon));
    // bbox-crs EPSG:4326 takes latitude first and selects the same districts.
    let by84 = get(
        f,
        "/collections/districts/items?bbox=34,-20,36,-18&limit=1000",
    )
    .2;
    let by4326 = get(
        f,
        &format!(
            "/collections/districts/items?bbox=-20,34,-18,36&bbox-crs={}&limit=1000",
            q(EPSG_4326)
        ),
    )
    .2;
    assert!(by84["numberMatched"].as_u64().unwrap() > 0);
    assert_eq!(by84["numberMatched"], by4326["numberMatched"]);
}

#[test]
fn bad_filters_and_parameters_are_400s_naming_what_is_wrong() {
    let Some(f) = fixture() else { return };
    let items = "/collections/districts_at_risk/items";
    for (query, mentions) in [
        (format!("filter={}", q("level = 'red")), "character 8"),
        (format!("filter={}", q("levl = 'red'")), "levl"),
        (format!("filter={}", q("people_at_risk = 'many'")), "number"),
        (
            "filter=level%3D'red'&filter-lang=cql2-json".to_string(),
            "filter-lang",
        ),
        ("levl=red".to_string(), "queryables"),
        ("people_at_risk=many".to_string(), "number"),
        ("sortby=-nope".to_string(), "nope"),
        ("properties=pcode,nope".to_string(), "nope"),
        (
            format!("crs={}", q("http://www.opengis.net/def/crs/EPSG/0/3857")),
            "crs",
        ),
    ] {
        let (status, _, body) = get(f, &format!("{items}?{query}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let text = body.to_string();
        assert!(text.contains(mentions), "{query}: {text}");
    }
}

/// GDAL's OAPIF driver reads the queryables from /api and the CQL text language from
/// `filter-lang`, and sends `ogrinfo -where` to the server instead of reading every
/// feature; the features it lists are exactly those the clause selects.
#[test]
fn gdal_sends_its_where_clause_to_the_server_as_cql_text() {
    let Some(f) = fixture() else { return };
    if !common::ogrinfo_available() {
        return;
    }
    let base = start_server(f);
    let out = Command::new("ogrinfo")
        .args([
            "-ro",
            "-al",
            "-geom=NO",
            &format!("OAPIF:{base}"),
            "districts_at_risk",
        ])
        .args(["-where", "level = 'red' AND people_at_risk > 100000"])
        .env("CPL_DEBUG", "ON")
        .env("GDAL_HTTP_TIMEOUT", "60")
        .env("GDAL_HTTP_MAX_RETRY", "0")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("filter=") && stderr.contains("filter-lang=cql-text"),
        "GDAL filtered on the client:\n{stderr}"
    );
    let listed: BTreeSet<String> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pcode (String) = "))
        .map(str::to_string)
        .collect();
    let expected = pcodes_where(f, |p| {
        p["level"] == "red" && people(p).is_some_and(|n| n > 100000.0)
    });
    assert!(!expected.is_empty());
    assert_eq!(listed, expected);
}

/// Kills the service when the test ends, passed or not.
struct Service(std::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `aviso serve --demo` publishes Freddy and the 2025-09-25 Limpopo flood as exercises:
/// the default alert collections stay empty (no Actual alert), `status=Exercise` shows
/// them, `event=all` serves both events at once with ids prefixed by their event, and
/// `event=<id>` one of them. Expected features come from each event's own document at
/// /api/alerts/{id}.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_active_event_and_exercises_are_served_on_request() {
    if common::data_file(aviso::pipeline::demo::FLOOD_PROBABILITIES).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("demo.toml");
    std::fs::write(&config, "[probabilistic]\npublish = false\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aviso"));
    cmd.arg("--config")
        .arg(&config)
        .args([
            "serve",
            "--demo",
            "--demo-step",
            "5",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("store"))
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let (child, base) = common::spawn_service(cmd);
    let _service = Service(child);
    aviso::feeds::fetch::install_crypto_provider();
    let http = reqwest::Client::new();
    let json = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(&url).send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    // Both events active at once (Freddy's replay runs ~14 versions, 5 s apart).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let active = loop {
        let (_, ev) = json(format!("{base}/api/events?include_tests=true")).await;
        let active: Vec<(String, String, String)> = ev["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["active"] == true)
                    .map(|e| {
                        (
                            e["event_id"].as_str().unwrap().to_string(),
                            e["hazard"].as_str().unwrap().to_string(),
                            e["latest"]["id"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let hazards: BTreeSet<&str> = active.iter().map(|(_, h, _)| h.as_str()).collect();
        if hazards.len() >= 2 {
            break active;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no cyclone and flood active together: {ev}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let items = format!("{base}/collections/districts_at_risk/items");
    // No Actual alert: the default view is empty.
    let (status, plain) = json(format!("{items}?limit=1000")).await;
    assert_eq!(status, 200);
    assert_eq!(plain["numberMatched"], 0, "{plain}");
    // Pin the versions: a newer Freddy version may come while the test reads.
    let (_, all) = json(format!("{items}?status=Exercise&event=all&limit=1000")).await;
    let features = all["features"].as_array().unwrap();
    let served_events: BTreeSet<&str> = features
        .iter()
        .map(|f| f["properties"]["event_id"].as_str().unwrap())
        .collect();
    let active_events: BTreeSet<&str> = active.iter().map(|(e, _, _)| e.as_str()).collect();
    assert!(served_events.len() >= 2, "{served_events:?}");
    assert!(
        served_events.is_subset(&active_events),
        "{served_events:?} {active_events:?}"
    );
    for f in features {
        let (id, p) = (f["id"].as_str().unwrap(), &f["properties"]);
        let event = p["event_id"].as_str().unwrap();
        assert_eq!(id, format!("{event}:{}", p["pcode"].as_str().unwrap()));
        assert!(p["alert_id"].is_string());
    }
    // One event: exactly the district features of its served version's own document.
    let flood = features
        .iter()
        .find(|f| f["properties"]["layer"] == "flood_district")
        .map(|f| {
            (
                f["properties"]["event_id"].as_str().unwrap().to_string(),
                f["properties"]["alert_id"].as_str().unwrap().to_string(),
            )
        })
        .expect("the flood's districts are served");
    let (_, doc) = json(format!("{base}/api/alerts/{}", flood.1)).await;
    let expected: BTreeSet<String> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["layer"] == "flood_district")
        .map(|f| f["properties"]["pcode"].as_str().unwrap().to_string())
        .collect();
    let (status, one) = json(format!(
        "{items}?status=Exercise&event={}&limit=1000",
        q(&flood.0)
    ))
    .await;
    assert_eq!(status, 200, "{one}");
    let got: BTreeSet<String> = one["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
    // And the filters work on the chosen event.
    let (_, filtered) = json(format!(
        "{items}?status=Exercise&event=all&limit=1000&filter={}",
        q(&format!("event_id = '{}'", flood.0))
    ))
    .await;
    assert_eq!(
        filtered["numberMatched"].as_u64(),
        Some(expected.len() as u64)
    );
    // The flood's contingency plan as OGC collections (issue 14 items 3 and 6): planned with
    // the demonstration register, its flood areas making centres unsafe.
    let plan_items = |c: &str, query: &str| {
        format!(
            "{base}/collections/{c}/items?status=Exercise&event={}&limit=1000&{query}",
            q(&flood.0)
        )
    };
    let (status, centres) = json(plan_items("accommodation_centres", "")).await;
    assert_eq!(status, 200, "{centres}");
    assert!(
        centres["numberMatched"].as_u64().unwrap() > 1000,
        "{centres}"
    );
    let (_, flooded) = json(plan_items(
        "accommodation_centres",
        &format!("filter={}", q("safe = false")),
    ))
    .await;
    let flooded = flooded["features"].as_array().unwrap();
    assert!(!flooded.is_empty(), "no centre in the flood areas");
    assert!(flooded.iter().all(|f| {
        f["properties"]["unsafe_reason"] == "inside a flood area"
            && f["properties"]["event_id"] == flood.0.as_str()
            && f["properties"]["alert_id"] == flood.1.as_str()
    }));
    let (_, sites) = json(plan_items("sites_at_risk", "")).await;
    assert!(sites["numberMatched"].as_u64().unwrap() > 0, "{sites}");
    // Refusals name what is wrong.
    let (status, e) = json(format!("{items}?status=Exercise&event=no-such-event")).await;
    assert_eq!(status, 404, "{e}");
    assert!(e.to_string().contains("no-such-event"));
    let (status, e) = json(format!("{base}/collections/districts/items?event=all")).await;
    assert_eq!(status, 400, "{e}");
    let (status, e) = json(format!("{items}?status=Draft")).await;
    assert_eq!(status, 400, "{e}");
    assert!(e.to_string().contains("Exercise"));
}
