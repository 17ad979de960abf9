//! Flood-extent polygons as a footprint: a hand-drawn flood map of the lower Búzi
//! (tests/fixtures/floods/buzi_extent.geojson) on the real shared layers, checked against
//! districts, areas, settlements and health facilities intersected here directly with geo;
//! the same map as a GeoPackage; and bad inputs (projected CRS, invalid polygon, missing
//! file, unknown attribute).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use geo::{BooleanOps, Contains, GeodesicArea, Geometry, MultiPolygon, Point};
use serde_json::Value;

use aviso::alerts::assess_flood::assess_flood_extent;
use aviso::config::Config;
use aviso::domain::FloodLevel;
use aviso::exposure::IndexedLayers;
use aviso::hazard::flood_extent::{ExtentBasis, classify_extent};
use aviso::layers::flood::read_flood_extent;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/floods")
        .join(name)
}

const EXTENT: &str = "buzi_extent.geojson";

/// The shipped layers, loaded once for the whole file (7 s in a debug build).
fn layers() -> Option<&'static (Config, IndexedLayers)> {
    static LAYERS: OnceLock<Option<(Config, IndexedLayers)>> = OnceLock::new();
    LAYERS
        .get_or_init(|| {
            common::data_file("boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson")?;
            let cfg = Config::embedded_default().unwrap();
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
            let loaded = aviso::layers::load_layers(&manifest).unwrap();
            let il = IndexedLayers::new(loaded.layers, &cfg.exposure);
            Some((cfg, il))
        })
        .as_ref()
}

/// Features of a GeoJSON file as (properties, geometry), read with the geojson crate alone.
fn raw_features(path: &Path) -> Vec<(serde_json::Map<String, Value>, Geometry<f64>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let geojson::GeoJson::FeatureCollection(fc) = text.parse().unwrap() else {
        panic!("{} is not a FeatureCollection", path.display())
    };
    fc.features
        .into_iter()
        .filter_map(|f| {
            let g = Geometry::<f64>::try_from(&f.geometry?.value).ok()?;
            Some((f.properties.unwrap_or_default(), g))
        })
        .collect()
}

fn multi(g: &Geometry<f64>) -> MultiPolygon<f64> {
    match g {
        Geometry::Polygon(p) => MultiPolygon::new(vec![p.clone()]),
        Geometry::MultiPolygon(m) => m.clone(),
        other => panic!("not a polygon: {other:?}"),
    }
}

/// The level a depth gives under the AIDR (2017) still-water limits: deeper than 0.5 m
/// is unsafe for children and the elderly, deeper than 1.2 m for everyone.
fn aidr_level(depth_m: f64) -> FloodLevel {
    if depth_m > 1.2 {
        FloodLevel::Severe
    } else if depth_m > 0.5 {
        FloodLevel::Moderate
    } else {
        FloodLevel::Bankfull
    }
}

fn level_name(l: FloodLevel) -> &'static str {
    match l {
        FloodLevel::Bankfull => "bankfull",
        FloodLevel::Moderate => "moderate",
        FloodLevel::Severe => "severe",
    }
}

/// What a direct intersection of the fixture with the districts says: per district
/// P-code, the highest level of the polygons sharing area with it and the share of its
/// geodesic area under water.
fn expected_districts() -> Option<BTreeMap<String, (FloodLevel, f64)>> {
    expected_districts_where(|_| true)
}

/// [`expected_districts`] of the polygons whose depth passes `keep`.
fn expected_districts_where(keep: fn(f64) -> bool) -> Option<BTreeMap<String, (FloodLevel, f64)>> {
    let districts = common::data_file("boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson")?;
    let polygons: Vec<(FloodLevel, MultiPolygon<f64>)> = raw_features(&fixture(EXTENT))
        .iter()
        .filter(|(p, _)| keep(p["depth_m"].as_f64().unwrap()))
        .map(|(p, g)| (aidr_level(p["depth_m"].as_f64().unwrap()), multi(g)))
        .collect();
    let water = polygons
        .iter()
        .skip(1)
        .fold(polygons[0].1.clone(), |acc, (_, g)| acc.union(g));
    let mut out = BTreeMap::new();
    for (props, g) in raw_features(&districts) {
        let d = multi(&g);
        let wet = d.intersection(&water).geodesic_area_unsigned();
        // 1 m² of shared area is a shared border drawn twice, not a flood.
        if wet < 1.0 {
            continue;
        }
        let level = polygons
            .iter()
            .filter(|(_, p)| d.intersection(p).geodesic_area_unsigned() >= 1.0)
            .map(|(l, _)| *l)
            .max()
            .unwrap();
        let pcode = props["ADM2_PCODE"].as_str().unwrap().to_string();
        out.insert(pcode, (level, wet / d.geodesic_area_unsigned()));
    }
    Some(out)
}

#[test]
fn a_flood_map_over_the_buzi_reaches_the_districts_it_overlaps_at_the_level_of_its_deepest_water() {
    let Some((cfg, il)) = layers() else { return };
    let Some(expected) = expected_districts() else {
        return;
    };
    let basis = ExtentBasis::Depth("depth_m".into());
    let input = read_flood_extent(&fixture(EXTENT), basis.field(), None).unwrap();
    let extent = classify_extent(&input, &basis, &cfg.flood.extent).unwrap();
    let a = assess_flood_extent(extent, il, cfg.flood_assessment(), chrono::Utc::now());

    // The map is drawn over Búzi (Sofala) and spills north into Nhamatanda and Dondo.
    let got: BTreeMap<String, FloodLevel> = a
        .districts
        .iter()
        .map(|d| (d.pcode.clone(), d.flood_level))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(got.contains_key("MZ0901"), "Búzi district: {got:?}");
    for (pcode, (level, share)) in &expected {
        let d = a.districts.iter().find(|d| &d.pcode == pcode).unwrap();
        assert_eq!(d.flood_level, *level, "{pcode}");
        // Spherical vs ellipsoidal area ratios agree to well under 1 %.
        assert!(
            (d.area_share - share).abs() <= 0.01 * share + 1e-6,
            "{pcode}: share {} vs {share}",
            d.area_share
        );
    }
    // Búzi town lies under the 1.6 m polygon: the district is severe, red on the ladder.
    assert_eq!(got["MZ0901"], FloodLevel::Severe);
    assert_eq!(
        a.district_levels["MZ0901"],
        aviso::alerts::levels::Level::Red
    );
}

#[test]
fn people_at_risk_follow_the_settlements_under_water() {
    let Some((cfg, il)) = layers() else { return };
    let Some(settlements) = common::data_file("places/moz_settlements_hdx_points.geojson") else {
        return;
    };
    let Some(pop_csv) =
        common::data_file("population/moz_adm2_population_ine_projection_2022_2025.csv")
    else {
        return;
    };
    let basis = ExtentBasis::None;
    let input = read_flood_extent(&fixture(EXTENT), None, None).unwrap();
    let extent = classify_extent(&input, &basis, &cfg.flood.extent).unwrap();
    let a = assess_flood_extent(extent, il, cfg.flood_assessment(), chrono::Utc::now());
    // Without a depth every polygon is moderate (water outside the channel, depth
    // unknown): orange everywhere.
    assert!(
        a.districts
            .iter()
            .all(|d| d.flood_level == FloodLevel::Moderate)
    );

    // Independently: district population × settlements inside the water / settlements in
    // the district, with the districts, points and population read here.
    let water = raw_features(&fixture(EXTENT))
        .iter()
        .map(|(_, g)| multi(g))
        .reduce(|a, b| a.union(&b))
        .unwrap();
    let points: Vec<Point<f64>> = raw_features(&settlements)
        .into_iter()
        .filter_map(|(_, g)| match g {
            Geometry::Point(p) => Some(p),
            _ => None,
        })
        .collect();
    let mut pop: HashMap<String, f64> = HashMap::new();
    let mut r = csv::Reader::from_path(&pop_csv).unwrap();
    let h = r.headers().unwrap().clone();
    let (ci, cp) = (
        h.iter().position(|c| c == "ADM2_PCODE").unwrap(),
        h.iter().position(|c| c == "pop_2025_total").unwrap(),
    );
    for rec in r.records() {
        let rec = rec.unwrap();
        if let Ok(v) = rec[cp].parse() {
            pop.insert(rec[ci].to_string(), v);
        }
    }
    let districts = common::data_dir().join("boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson");
    let geoms: HashMap<String, MultiPolygon<f64>> = raw_features(&districts)
        .iter()
        .map(|(p, g)| (p["ADM2_PCODE"].as_str().unwrap().to_string(), multi(g)))
        .collect();
    let mut total = 0.0;
    for d in &a.districts {
        let g = &geoms[&d.pcode];
        let in_district: Vec<&Point<f64>> = points.iter().filter(|p| g.contains(*p)).collect();
        let wet = in_district.iter().filter(|p| water.contains(**p)).count();
        let expected = pop[&d.pcode] * wet as f64 / in_district.len() as f64;
        let got = d.people_at_risk.unwrap();
        assert!(
            (got - expected).abs() <= 0.02 * expected + 1.0,
            "{}: {got} people vs {expected} ({wet} of {} settlements)",
            d.pcode,
            in_district.len()
        );
        total += got;
    }
    // Búzi's floodplain holds people: a map of it must not report an empty flood.
    assert!(total > 1000.0, "{total}");
}

#[test]
fn the_health_facilities_under_water_are_listed_with_their_level() {
    let Some((cfg, il)) = layers() else { return };
    let Some(hf) = common::data_file("sites/moz_health_facilities_public.geojson") else {
        return;
    };
    let basis = ExtentBasis::Depth("depth_m".into());
    let input = read_flood_extent(&fixture(EXTENT), basis.field(), None).unwrap();
    let extent = classify_extent(&input, &basis, &cfg.flood.extent).unwrap();
    let a = assess_flood_extent(extent, il, cfg.flood_assessment(), chrono::Utc::now());
    let polygons: Vec<(FloodLevel, MultiPolygon<f64>)> = raw_features(&fixture(EXTENT))
        .iter()
        .map(|(p, g)| (aidr_level(p["depth_m"].as_f64().unwrap()), multi(g)))
        .collect();
    let mut expected: BTreeMap<String, FloodLevel> = BTreeMap::new();
    for (props, g) in raw_features(&hf) {
        let Geometry::Point(p) = g else { continue };
        if let Some(level) = polygons
            .iter()
            .filter(|(_, poly)| poly.contains(&p))
            .map(|(l, _)| *l)
            .max()
        {
            expected.insert(props["id"].as_str().unwrap().to_string(), level);
        }
    }
    let got: BTreeMap<String, FloodLevel> = a
        .points
        .iter()
        .filter(|p| p.feature.layer == "health_facilities")
        .map(|p| (p.feature.id.clone(), p.flood_level))
        .collect();
    assert_eq!(got, expected);
    // Búzi's rural hospital is in the town, under the deep water.
    assert!(
        a.points
            .iter()
            .any(|p| p.feature.name.contains("Buzi") && p.flood_level == FloodLevel::Severe),
        "{:?}",
        a.points
    );
}

// ---- bad inputs ----

#[test]
fn an_extent_in_utm_is_refused_naming_the_file_the_crs_and_the_reprojection() {
    let path = fixture("buzi_extent_utm36s.geojson");
    let e = read_flood_extent(&path, Some("depth_m"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("buzi_extent_utm36s.geojson")
            && e.contains("32736")
            && e.contains("ogr2ogr -t_srs EPSG:4326"),
        "{e}"
    );
}

#[test]
fn an_invalid_polygon_is_refused_with_its_feature_index_and_the_repair_command() {
    let e = read_flood_extent(&fixture("buzi_extent_invalid.geojson"), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("buzi_extent_invalid.geojson: feature 1 (id bow-tie)")
            && e.contains("invalid polygon")
            && e.contains("ogr2ogr -makevalid"),
        "{e}"
    );
}

#[test]
fn a_missing_file_and_an_unknown_attribute_say_what_is_wrong() {
    let e = read_flood_extent(&fixture("no_such_extent.gpkg"), None, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no_such_extent.gpkg") && e.contains("not found"),
        "{e}"
    );
    let e = read_flood_extent(&fixture(EXTENT), Some("depth"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"depth\"") && e.contains("depth_m") && e.contains(EXTENT),
        "{e}"
    );
}

// ---- through GDAL and the command line ----

/// Runs ogr2ogr, or says why not: `None` when it is absent (a failure in CI).
#[cfg(feature = "gdal")]
fn ogr2ogr(args: &[&str]) -> Option<()> {
    match Command::new("ogr2ogr").args(args).output() {
        Ok(o) => {
            assert!(
                o.status.success(),
                "ogr2ogr {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            Some(())
        }
        Err(e) => {
            common::skip_or_fail(&format!("ogr2ogr not available ({e})"));
            None
        }
    }
}

fn assess_cli(extra: &[&str], out: &Path) -> (Value, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .arg("assess")
        .args(extra)
        .arg("--out")
        .arg(out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{stderr}");
    (
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap(),
        stderr,
    )
}

fn district_levels(doc: &Value) -> BTreeMap<String, (String, String, f64)> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["properties"])
        .filter(|p| p["layer"] == "flood_district")
        .map(|p| {
            (
                p["pcode"].as_str().unwrap().to_string(),
                (
                    p["flood_level"].as_str().unwrap().to_string(),
                    p["level"].as_str().unwrap().to_string(),
                    p["people_at_risk"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn assess_writes_a_flood_alert_from_the_map_and_its_classes_say_what_its_depths_say() {
    let Some(expected) = expected_districts() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(EXTENT);
    let (from_json, stderr) = assess_cli(
        &[
            "--flood-extent",
            src.to_str().unwrap(),
            "--depth-field",
            "depth_m",
        ],
        &dir.path().join("a.geojson"),
    );
    assert!(stderr.contains("assessed in"), "{stderr}");
    let a = district_levels(&from_json);
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(k, (l, _))| (k.clone(), level_name(*l).to_string()))
        .collect();
    let got: BTreeMap<String, String> = a.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    assert_eq!(got, want);
    // The class attribute of the fixture says the same as its depths (high/medium/low).
    let (from_class, _) = assess_cli(
        &[
            "--flood-extent",
            src.to_str().unwrap(),
            "--class-field",
            "class",
        ],
        &dir.path().join("c.geojson"),
    );
    assert_eq!(district_levels(&from_class), a);
    let meta = &from_json["aviso"];
    assert_eq!(meta["hazard"], "flood");
    assert_eq!(meta["source"]["kind"], "extent");
    assert_eq!(meta["event_level"]["code"], "red");
    let levels: BTreeSet<&str> = from_json["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["layer"] == "flood_extent")
        .map(|f| f["properties"]["flood_level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, BTreeSet::from(["bankfull", "moderate", "severe"]));
}

#[cfg(feature = "gdal")]
#[test]
fn the_same_map_as_a_geopackage_gives_the_same_alert_and_a_projected_one_is_refused() {
    let Some(expected) = expected_districts() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("buzi_extent.gpkg");
    let src = fixture(EXTENT);
    let Some(()) = ogr2ogr(&["-f", "GPKG", gpkg.to_str().unwrap(), src.to_str().unwrap()]) else {
        return;
    };
    // Through the binary: GDAL opens and closes the GeoPackage (see build.rs).
    let (from_gpkg, _) = assess_cli(
        &[
            "--flood-extent",
            gpkg.to_str().unwrap(),
            "--depth-field",
            "depth_m",
        ],
        &dir.path().join("b.geojson"),
    );
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(k, (l, _))| (k.clone(), level_name(*l).to_string()))
        .collect();
    let got: BTreeMap<String, String> = district_levels(&from_gpkg)
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    assert_eq!(got, want);

    // The same map reprojected to UTM 36S: refused by the CRS GDAL reports.
    let utm = dir.path().join("buzi_utm.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-t_srs",
        "EPSG:32736",
        utm.to_str().unwrap(),
        src.to_str().unwrap(),
    ])
    .unwrap();
    let e = read_flood_extent(&utm, Some("depth_m"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("buzi_utm.gpkg")
            && e.contains("32736")
            && e.contains("ogr2ogr -t_srs EPSG:4326"),
        "{e}"
    );
}

// ---- as a service feed ----

#[cfg(feature = "gdal")]
#[test]
fn a_flood_map_feed_publishes_updates_from_a_geopackage_and_refuses_a_projected_map() {
    use std::sync::{Arc, Mutex};

    use aviso::alerts::versioning::MsgType;
    use aviso::api::ApiState;
    use aviso::feeds::fetch::Fetcher;
    use aviso::metrics::Metrics;
    use aviso::pipeline::Pipeline;
    use aviso::store::sqlite::SqliteStore;
    use aviso::store::{HazardKind, Store};
    use axum::extract::State;
    use axum::routing::get;

    let Some(all_water) = expected_districts() else {
        return;
    };
    // AIDR 2017: deeper than 1.2 m is severe (the deep polygon of the fixture).
    let deep_only = expected_districts_where(|d| d > 1.2).unwrap();
    assert!(!deep_only.is_empty() && deep_only.len() < all_water.len());
    let dir = tempfile::tempdir().unwrap();
    let deep_gpkg = dir.path().join("deep.gpkg");
    let src = fixture(EXTENT);
    let Some(()) = ogr2ogr(&[
        "-f",
        "GPKG",
        "-where",
        "depth_m > 1.2",
        deep_gpkg.to_str().unwrap(),
        src.to_str().unwrap(),
    ]) else {
        return;
    };

    type Body = Arc<Mutex<Vec<u8>>>;
    async fn serve(State(b): State<Body>) -> Vec<u8> {
        b.lock().unwrap().clone()
    }
    let body: Body = Arc::new(Mutex::new(std::fs::read(&src).unwrap()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let app = axum::Router::new()
            .route("/maps/latest", get(serve))
            .with_state(Arc::clone(&body));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/maps/latest", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let toml = format!(
            "{}\n[[feed]]\nname = \"sat\"\nkind = \"flood-extent\"\nurl = \"{url}\"\nschedule = \"0 0 */3 * * *\"\n",
            aviso::config::DEFAULT_TOML
        )
        .replace("depth_field = \"\"", "depth_field = \"depth_m\"");
        let mut cfg = Config::from_toml(&toml, "test.toml").unwrap();
        assert_eq!(cfg.flood.extent.depth_field, "depth_m");
        cfg.service.layers = concat!(env!("CARGO_MANIFEST_DIR"), "/layers").into();
        cfg.http.retries = 0;
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/manifest.toml");
        let layers = tokio::task::block_in_place(|| {
            IndexedLayers::new(
                aviso::layers::load_layers(&manifest).unwrap().layers,
                &cfg.exposure,
            )
        });
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
        let api = Arc::new(ApiState::new(&layers.layers, None));
        let feed = cfg.feeds[0].clone();
        let p = Arc::new(Pipeline::new(
            Arc::new(cfg),
            Arc::new(layers),
            Arc::clone(&store),
            Fetcher::new(Default::default()).unwrap(),
            api.published(),
            Arc::new(Metrics::default()),
        ));
        let pcodes = |s: &aviso::store::AlertSummary| -> BTreeSet<String> {
            s.districts.iter().map(|d| d.pcode.clone()).collect()
        };

        // 1. The GeoJSON map: an Alert on the districts the water overlaps.
        let r = p.run_feed(&feed).await;
        assert_eq!(r.published, vec!["aviso-flood-sat-1".to_string()], "{r:?}");
        let v1 = store.latest_version("flood-sat").unwrap().unwrap();
        assert_eq!((v1.hazard, v1.msg_type), (HazardKind::Flood, MsgType::Alert));
        assert_eq!(pcodes(&v1), all_water.keys().cloned().collect::<BTreeSet<_>>());
        let rec = store.alert(&v1.id).unwrap().unwrap();
        let doc: Value = serde_json::from_str(&rec.document).unwrap();
        assert_eq!(doc["aviso"]["hazard"], "flood");
        // A mapped flood is an "Inundação" (a forecast river flood is a "Cheia").
        assert!(rec.cap.contains("<event>Inundação</event>"), "{}", rec.cap);

        // 2. The same map again: one issuance, nothing new.
        let r = p.run_feed(&feed).await;
        assert_eq!((r.duplicates + r.not_modified, r.published.len()), (1, 0), "{r:?}");

        // 3. The water recedes to the deep polygon, delivered as a GeoPackage: an Update
        //    that drops the districts only the shallow water reached.
        *body.lock().unwrap() = std::fs::read(&deep_gpkg).unwrap();
        let r = p.run_feed(&feed).await;
        assert_eq!(r.published, vec!["aviso-flood-sat-2".to_string()], "{r:?}");
        let v2 = store.latest_version("flood-sat").unwrap().unwrap();
        assert_eq!(v2.msg_type, MsgType::Update);
        assert_eq!(pcodes(&v2), deep_only.keys().cloned().collect::<BTreeSet<_>>());
        assert!(!v2.changes.removed.is_empty(), "{:?}", v2.changes);

        // 4. A map in UTM 36S: the feed degrades, naming the URL and the CRS; the
        //    published alert stands.
        *body.lock().unwrap() = std::fs::read(fixture("buzi_extent_utm36s.geojson")).unwrap();
        let r = p.run_feed(&feed).await;
        assert!(r.published.is_empty(), "{r:?}");
        assert!(
            r.failed.iter().any(|e| e.contains(&url) && e.contains("32736")),
            "{r:?}"
        );
        assert_eq!(store.latest_version("flood-sat").unwrap().unwrap().id, v2.id);

        // 5. Something that is not a map at all says so.
        *body.lock().unwrap() = b"<html>maintenance</html>".to_vec();
        let r = p.run_feed(&feed).await;
        assert!(
            r.failed.iter().any(|e| e.contains(&url) && e.contains("not a flood map")),
            "{r:?}"
        );
        assert_eq!(store.latest_version("flood-sat").unwrap().unwrap().id, v2.id);
    });
}
