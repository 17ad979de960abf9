//! The river rule of flood impact areas on real data: the real 2025-09-25 forecast, the real
//! basins and districts, and a hand-drawn centre-line of the lower Limpopo
//! (tests/fixtures/floods/lower_limpopo_centreline.geojson). Distances are checked here
//! with geo's geodesic measures, independently of the local frames the buffer is drawn in.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use geo::{
    BooleanOps, Closest, Contains, CoordsIter, Destination, Distance, Geodesic, GeodesicArea,
    HaversineClosestPoint, Line, LineString, MultiLineString, MultiPolygon, Point,
};
use serde_json::Value;

use aviso::config::Config;
use aviso::domain::{FloodForecast, FloodStation, RiverBasin, RiverLine, StationImpact};
use aviso::exposure::IndexedLayers;
use aviso::feeds::floods::{FloodInputs, Input, parse_forecast};
use aviso::geodata::basins::parse_basins;
use aviso::hazard::flood::{
    CoastTest, FloodConfig, ImpactArea, ImpactMethod, basin_of, impact_area, river_buffer,
};
use aviso::layers::flood::load_flood_geography;

const STATIONS: &str = "floods/moz_aa_flood_stations_thresholds.csv";
const PROBS: &str = "floods/moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv";
const DISCHARGE: &str = "floods/moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv";
const BASINS: &str = "floods/moz_river_basins_gov_2023_s200m.geojson";
const LINE_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/floods/lower_limpopo_centreline.geojson"
);
const IMPACT_POLYGON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/floods/changane_chibuto_impact.geojson"
);

/// The shipped layers manifest with absolute data paths, plus `extra` (a river_lines
/// layer, a [[flood_impact]]), written to `dir`.
fn manifest_with(dir: &Path, extra: &str) -> PathBuf {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/layers/manifest.toml"))
            .unwrap();
    let data = common::data_dir().canonicalize().unwrap();
    let text = shipped.replace(
        "data_dir = \"../../shared/data\"",
        &format!("data_dir = {:?}", data.display().to_string()),
    );
    assert_ne!(text, shipped, "the shipped manifest's data_dir line moved");
    let path = dir.join(format!("manifest-{}.toml", extra.len()));
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

fn river_layer(path: &str, name_field: Option<&str>) -> String {
    let fields = name_field
        .map(|f| format!("[layer.fields]\nname = \"{f}\"\n"))
        .unwrap_or_default();
    format!(
        "[[layer]]\nname = \"river_lines\"\nkind = \"river_lines\"\npath = {path:?}\nlicence = \"test fixture\"\nsource = \"hand-drawn, approximate: tests/fixtures/floods/README.md\"\n{fields}"
    )
}

struct Fixture {
    _dir: tempfile::TempDir,
    manifest: PathBuf,
    forecast: FloodForecast,
    basins: Vec<RiverBasin>,
    rivers: Vec<RiverLine>,
    layers: IndexedLayers,
    coast: CoastTest,
    /// The fixture's line as read here, independently of aviso's reader.
    line: LineString<f64>,
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let read = |rel: &str| Some(std::fs::read(common::data_file(rel)?).unwrap());
        let (stations, probs, discharge) = (read(STATIONS)?, read(PROBS)?, read(DISCHARGE)?);
        let basins = parse_basins(&read(BASINS)?, BASINS, "Basins").unwrap();
        common::data_file("boundaries")?;
        let dir = tempfile::tempdir().unwrap();
        let manifest = manifest_with(dir.path(), &river_layer(LINE_FIXTURE, Some("name")));
        let geography =
            load_flood_geography(&aviso::layers::load_manifest(&manifest).unwrap(), "Basins")
                .unwrap();
        let cfg = Config::embedded_default().unwrap();
        let layers = IndexedLayers::new(
            aviso::layers::load_layers(&manifest).unwrap().layers,
            &cfg.exposure,
        );
        let forecast = parse_forecast(FloodInputs {
            stations: Input {
                bytes: &stations,
                origin: STATIONS,
            },
            probabilities: Input {
                bytes: &probs,
                origin: PROBS,
            },
            discharge: Some(Input {
                bytes: &discharge,
                origin: DISCHARGE,
            }),
            skip_misordered_stations: true,
        })
        .unwrap()
        .forecast;
        let doc: Value = serde_json::from_slice(&std::fs::read(LINE_FIXTURE).unwrap()).unwrap();
        let line: LineString<f64> = doc["features"][0]["geometry"]["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
            .collect::<Vec<_>>()
            .into();
        Some(Fixture {
            coast: CoastTest::new(&layers.layers.country),
            _dir: dir,
            manifest,
            forecast,
            basins,
            rivers: geography.rivers,
            layers,
            line,
        })
    })
    .as_ref()
}

fn buffer_km(km: f64) -> FloodConfig {
    FloodConfig {
        river_buffer_km: km,
        ..FloodConfig::default()
    }
}

impl Fixture {
    fn station(&self, id: &str) -> &FloodStation {
        self.forecast.station(id).unwrap()
    }

    fn area(&self, id: &str, rivers: &[RiverLine], cfg: &FloodConfig) -> ImpactArea {
        impact_area(
            self.station(id),
            &self.basins,
            rivers,
            &self.layers.layers.districts,
            &self.coast,
            cfg,
            None,
        )
        .unwrap()
    }

    fn pcode(&self, name: &str) -> String {
        self.layers
            .layers
            .districts
            .iter()
            .find(|d| d.name == name)
            .unwrap()
            .pcode
            .clone()
    }
}

/// Geodesic distance (km) from `p` to the polyline: the nearest point of each segment on
/// the sphere (geo's haversine closest point), measured on the ellipsoid.
fn km_to_line(p: Point<f64>, line: &LineString<f64>) -> f64 {
    line.lines()
        .map(|seg: Line<f64>| {
            let q = match seg.haversine_closest_point(&p) {
                Closest::SinglePoint(q) | Closest::Intersection(q) => q,
                Closest::Indeterminate => seg.start_point(),
            };
            Geodesic.distance(p, q) / 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

fn pcodes(a: &ImpactArea) -> BTreeSet<String> {
    a.districts.iter().map(|d| d.pcode.clone()).collect()
}

#[test]
fn the_fixture_line_passes_the_towns_it_is_drawn_past() {
    let Some(f) = fixture() else { return };
    // OSM populated places (../shared/data/places): the Limpopo runs beside Chókwè and
    // Xai-Xai; Chibuto town stands on the Changane above the confluence, ~11 km off.
    for (town, lon, lat, max_km) in [
        ("Chókwè", 33.003681, -24.524926, 5.0),
        ("Xai-Xai", 33.64073, -25.044479, 5.0),
        ("Chibuto", 33.531259, -24.688637, 15.0),
    ] {
        let d = km_to_line(Point::new(lon, lat), &f.line);
        assert!(d < max_km, "{town} is {d:.1} km from the line");
    }
    assert_eq!(f.rivers.len(), 1);
    assert_eq!(f.rivers[0].name.as_deref(), Some("Limpopo"));
    assert_eq!(f.rivers[0].geometry.0[0], f.line);
}

#[test]
fn a_five_km_buffer_cuts_the_chibuto_footprint_to_the_river_inside_the_basin() {
    let Some(f) = fixture() else { return };
    let area = f.area("41", &f.rivers, &buffer_km(5.0));
    assert_eq!(area.method, ImpactMethod::RiverBuffer, "{}", area.rule);
    let cut = area.river.as_ref().unwrap();
    assert_eq!(cut.buffer_km, 5.0);
    assert_eq!(cut.rivers, vec!["Limpopo".to_string()]);
    assert_eq!(cut.cuts, ImpactMethod::BasinDownstream);
    assert!(area.rule.contains("river buffer 5 km"), "{}", area.rule);
    let footprint = area.footprint.as_ref().unwrap();
    // Inside the basin: nothing of the footprint lies outside the Limpopo basin polygon.
    let basin = basin_of(&f.basins, f.station("41")).unwrap();
    assert_eq!(basin.name, "R. Limpopo");
    let outside_km2 = footprint
        .difference(&basin.geometry)
        .geodesic_area_unsigned()
        / 1e6;
    let footprint_km2 = footprint.geodesic_area_unsigned() / 1e6;
    assert!(
        outside_km2 < 1e-6 * footprint_km2,
        "{outside_km2} km² of {footprint_km2} km² outside the basin"
    );
    // Within 5 km of the line (and its 1 % frame error), measured geodesically here; and
    // reaching 5 km somewhere, so the buffer is not narrower than asked.
    let far = footprint
        .coords_iter()
        .map(|c| km_to_line(Point::from(c), &f.line))
        .fold(0.0, f64::max);
    assert!((4.95..=5.05).contains(&far), "farthest vertex {far:.3} km");
    // A 5 km strip along ~60 km of river on the districts the basin rule keeps: a few
    // hundred km², far less than the basin-downstream area (thousands of km²).
    let basin_rule = f.area("41", &[], &buffer_km(5.0));
    let base_km2 = basin_rule.footprint_km2.unwrap();
    assert!(
        (100.0..0.2 * base_km2).contains(&footprint_km2),
        "{footprint_km2} vs {base_km2}"
    );
    assert!((area.footprint_km2.unwrap() - footprint_km2).abs() < 1e-6 * footprint_km2);
}

#[test]
fn the_buffer_is_metric_east_west_as_well_as_north_south() {
    let Some(f) = fixture() else { return };
    // Between Chongoene and Limpopo districts the line runs almost due south: probes east
    // and west of a segment's midpoint test the east-west scale, where a buffer in
    // degrees (5 km / 111 km = 0.045°) would reach only 0.045° × 101 km = 4.55 km.
    let area = f.area("41", &f.rivers, &buffer_km(5.0));
    let footprint = area.footprint.as_ref().unwrap();
    let mid = Point::new((33.62236 + 33.62317) / 2.0, (-24.92453 + -24.98651) / 2.0);
    let across = |bearing: f64, km: f64| Geodesic.destination(mid, bearing, km * 1000.0);
    for bearing in [90.0, 270.0] {
        let inner = across(bearing, 4.85);
        let outer = across(bearing, 5.15);
        assert!(
            footprint.contains(&inner),
            "bearing {bearing}: 4.85 km out should be inside"
        );
        assert!(
            !footprint.contains(&outer),
            "bearing {bearing}: 5.15 km out should be outside"
        );
    }
    // And the buffer alone, away from any basin or district edge: a north-south segment
    // buffered by 10 km is 20 km wide east-west within 1 %.
    let line = MultiLineString::new(vec![LineString::from(vec![(35.0, -17.0), (35.0, -18.0)])]);
    let b = river_buffer(&line, 10.0);
    let centre = Point::new(35.0, -17.5);
    for bearing in [90.0, 270.0] {
        assert!(b.contains(&Geodesic.destination(centre, bearing, 9_900.0)));
        assert!(!b.contains(&Geodesic.destination(centre, bearing, 10_100.0)));
    }
}

#[test]
fn the_river_rule_keeps_only_districts_of_the_basin_rule_that_the_river_reaches() {
    let Some(f) = fixture() else { return };
    for station in ["41", "35", "36"] {
        let river = f.area(station, &f.rivers, &buffer_km(5.0));
        let basin_rule = f.area(station, &[], &buffer_km(5.0));
        assert_eq!(river.method, ImpactMethod::RiverBuffer, "{station}");
        let (kept, all) = (pcodes(&river), pcodes(&basin_rule));
        assert!(kept.is_subset(&all), "{station}: {kept:?} ⊄ {all:?}");
        assert!(!kept.is_empty(), "{station}");
        // Each district kept touches the 5 km corridor: some of its footprint part lies
        // within 5 km (+ 1 %) of the line.
        for d in &river.districts {
            let part = d.part.as_ref().unwrap();
            let near = part
                .coords_iter()
                .map(|c| km_to_line(Point::from(c), &f.line))
                .fold(f64::INFINITY, f64::min);
            assert!(near <= 5.05, "{station} {}: {near:.2} km", d.pcode);
            assert!(d.area_share > 0.0 && d.area_share <= 1.0);
        }
    }
}

#[test]
fn a_district_far_from_the_river_drops_out_though_the_basin_rule_keeps_it() {
    let Some(f) = fixture() else { return };
    // Chókwè station (35): the basin rule keeps the districts of the Limpopo basin nearer
    // the outlet than the station, among them Bilene, which lies west of the Limpopo
    // district and nowhere within 5 km of the river.
    let bilene = f.pcode("Bilene");
    let basin_rule = f.area("35", &[], &buffer_km(5.0));
    assert!(
        pcodes(&basin_rule).contains(&bilene),
        "{:?}",
        pcodes(&basin_rule)
    );
    let river = f.area("35", &f.rivers, &buffer_km(5.0));
    assert!(!pcodes(&river).contains(&bilene), "{:?}", pcodes(&river));
    let part = f
        .layers
        .layers
        .districts
        .iter()
        .find(|d| d.pcode == bilene)
        .unwrap();
    let nearest = part
        .geometry
        .coords_iter()
        .map(|c| km_to_line(Point::from(c), &f.line))
        .fold(f64::INFINITY, f64::min);
    assert!(
        nearest > 5.0,
        "Bilene's nearest vertex is {nearest:.1} km from the line"
    );
    // The basin rule's area reaches far from the river; the corridor does not.
    let farthest = |a: &ImpactArea| {
        a.footprint
            .as_ref()
            .unwrap()
            .coords_iter()
            .map(|c| km_to_line(Point::from(c), &f.line))
            .fold(0.0, f64::max)
    };
    assert!(farthest(&basin_rule) > 50.0, "{}", farthest(&basin_rule));
    assert!(farthest(&river) <= 5.05, "{}", farthest(&river));
    // For Chibuto's own station (41), Chibuto stays, with a small share of its area: the
    // basin rule took nearly all of it.
    let basin_rule = f.area("41", &[], &buffer_km(5.0));
    let river = f.area("41", &f.rivers, &buffer_km(5.0));
    let chibuto = f.pcode("Chibuto");
    let share = |a: &ImpactArea| {
        a.districts
            .iter()
            .find(|d| d.pcode == chibuto)
            .unwrap()
            .area_share
    };
    assert!(share(&river) < 0.2 * share(&basin_rule));
}

#[test]
fn a_station_named_at_a_tributary_takes_that_river_too_and_unnamed_lines_serve_all() {
    let Some(f) = fixture() else { return };
    // Add a Changane line from Chibuto town up the valley (hand-drawn, ~30 km north).
    let mut rivers = f.rivers.clone();
    rivers.push(RiverLine {
        name: Some("Rio Changane".into()),
        geometry: MultiLineString::new(vec![LineString::from(vec![
            (33.53, -24.79),
            (33.531259, -24.688637),
            (33.56, -24.42),
        ])]),
    });
    let chibuto_town = Point::new(33.531259, -24.688637);
    // 41 Changane_em_Chibuto: its river field says Limpopo, its name says Changane.
    let a41 = f.area("41", &rivers, &buffer_km(5.0));
    let mut named = a41.river.as_ref().unwrap().rivers.clone();
    named.sort();
    assert_eq!(
        named,
        vec!["Limpopo".to_string(), "Rio Changane".to_string()]
    );
    assert!(a41.footprint.as_ref().unwrap().contains(&chibuto_town));
    // 36 Limpopo_em_Sicacate: the Limpopo only; Chibuto town, 11 km from it, is outside.
    let a36 = f.area("36", &rivers, &buffer_km(5.0));
    assert_eq!(
        a36.river.as_ref().unwrap().rivers,
        vec!["Limpopo".to_string()]
    );
    assert!(!a36.footprint.as_ref().unwrap().contains(&chibuto_town));
    // Without names (a HydroRIVERS-like layer), every line in the basin serves.
    let unnamed: Vec<RiverLine> = rivers
        .iter()
        .map(|r| RiverLine {
            name: None,
            ..r.clone()
        })
        .collect();
    let a36 = f.area("36", &unnamed, &buffer_km(5.0));
    assert!(a36.river.as_ref().unwrap().rivers.is_empty());
    assert!(
        a36.rule.contains("every river line in the basin"),
        "{}",
        a36.rule
    );
    assert!(a36.footprint.as_ref().unwrap().contains(&chibuto_town));
}

#[test]
fn with_no_line_in_the_basin_or_the_rule_off_the_basin_rule_stands_and_says_why() {
    let Some(f) = fixture() else { return };
    // 285 Zambeze em Marromeu: the Limpopo line is 700 km away.
    let a = f.area("285", &f.rivers, &buffer_km(5.0));
    assert_eq!(a.method, ImpactMethod::BasinDownstream);
    assert!(
        a.rule
            .contains("no line of the river_lines layer lies in the basin"),
        "{}",
        a.rule
    );
    let plain = f.area("285", &[], &buffer_km(5.0));
    assert_eq!(pcodes(&a), pcodes(&plain));
    // river_buffer_km = 0 turns the rule off.
    let off = f.area("41", &f.rivers, &buffer_km(0.0));
    assert_eq!(off.method, ImpactMethod::BasinDownstream);
    assert_eq!(pcodes(&off), pcodes(&f.area("41", &[], &buffer_km(0.0))));
}

#[test]
fn a_manual_flood_impact_still_wins_over_the_river_rule() {
    let Some(f) = fixture() else { return };
    let polygon =
        aviso::layers::flood::read_flood_extent(Path::new(IMPACT_POLYGON), None, None).unwrap();
    let manual = StationImpact::Polygon {
        origin: IMPACT_POLYGON.into(),
        geometry: MultiPolygon::new(
            polygon
                .features
                .into_iter()
                .flat_map(|x| x.geometry.0)
                .collect(),
        ),
    };
    let area = |impact: &StationImpact| {
        impact_area(
            f.station("41"),
            &f.basins,
            &f.rivers,
            &f.layers.layers.districts,
            &f.coast,
            &buffer_km(5.0),
            Some(impact),
        )
        .unwrap()
    };
    let a = area(&manual);
    assert_eq!(a.method, ImpactMethod::ConfiguredPolygon);
    assert!(a.river.is_none());
    assert!(
        a.rule.starts_with("manual: [[flood_impact]] polygon"),
        "{}",
        a.rule
    );
    let list = StationImpact::Districts(vec!["MZ0202".into()]);
    let a = area(&list);
    assert_eq!(a.method, ImpactMethod::Configured);
    assert_eq!(pcodes(&a), BTreeSet::from(["MZ0202".to_string()]));
    // Through the manifest too: [[flood_impact]] beside a river_lines layer.
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest_with(
        dir.path(),
        &format!(
            "{}\n[[flood_impact]]\nstation = \"41\"\ndistricts = [\"MZ0202\", \"MZ0206\"]\nnote = \"test: manual wins\"\n",
            river_layer(LINE_FIXTURE, Some("name"))
        ),
    );
    let g =
        load_flood_geography(&aviso::layers::load_manifest(&manifest).unwrap(), "Basins").unwrap();
    assert_eq!(g.rivers.len(), 1);
    let a = impact_area(
        f.station("41"),
        &g.basins,
        &g.rivers,
        &f.layers.layers.districts,
        &f.coast,
        &buffer_km(5.0),
        g.impacts.get("41"),
    )
    .unwrap();
    assert_eq!(a.method, ImpactMethod::Configured);
    assert_eq!(a.districts.len(), 2);
}

// ---- reading the layer: formats and bad inputs ----

fn geography_error(dir: &Path, layer: &str) -> String {
    let manifest = manifest_with(dir, layer);
    match aviso::layers::load_manifest(&manifest) {
        Err(e) => e.to_string(),
        Ok(m) => load_flood_geography(&m, "Basins").unwrap_err().to_string(),
    }
}

fn ogr2ogr_available() -> bool {
    if Command::new("ogr2ogr").arg("--version").output().is_ok() {
        return true;
    }
    common::skip_or_fail("ogr2ogr not installed");
    false
}

#[test]
fn a_geopackage_of_the_line_reads_through_gdal_like_the_geojson() {
    let Some(f) = fixture() else { return };
    if !ogr2ogr_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("rivers.gpkg");
    let out = Command::new("ogr2ogr")
        .args(["-f", "GPKG"])
        .arg(&gpkg)
        .arg(LINE_FIXTURE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = manifest_with(
        dir.path(),
        &river_layer(gpkg.to_str().unwrap(), Some("name")),
    );
    let g =
        load_flood_geography(&aviso::layers::load_manifest(&manifest).unwrap(), "Basins").unwrap();
    assert_eq!(g.rivers, f.rivers);
    assert!(g.rivers_origin.unwrap().contains("rivers.gpkg"));
}

#[test]
fn a_polygon_layer_given_as_river_lines_is_refused_naming_the_file() {
    let Some(basins) = common::data_file(BASINS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let e = geography_error(
        dir.path(),
        &river_layer(basins.to_str().unwrap(), Some("Basins")),
    );
    assert!(
        e.contains("river_lines")
            && e.contains("moz_river_basins_gov_2023_s200m.geojson")
            && e.contains("feature index 0")
            && e.contains("Polygon")
            && e.contains("kind river_basins"),
        "{e}"
    );
}

#[test]
fn river_lines_in_a_projected_crs_are_refused_naming_the_file() {
    if common::data_file("boundaries").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The Chókwè–Chibuto reach in UTM 36S metres, with and without GeoJSON's crs member.
    let utm = r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32736"}},"features":[{"type":"Feature","properties":{"name":"Limpopo"},"geometry":{"type":"LineString","coordinates":[[804100,7283500],[829300,7270600]]}}]}"#;
    let with_crs = dir.path().join("rivers_utm36s.geojson");
    std::fs::write(&with_crs, utm).unwrap();
    let e = geography_error(dir.path(), &river_layer(with_crs.to_str().unwrap(), None));
    assert!(
        e.contains("rivers_utm36s.geojson") && e.contains("32736") && e.contains("ogr2ogr"),
        "{e}"
    );
    let no_crs = dir.path().join("rivers_nocrs.geojson");
    std::fs::write(
        &no_crs,
        utm.replace(
            r#""crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::32736"}},"#,
            "",
        ),
    )
    .unwrap();
    let e = geography_error(dir.path(), &river_layer(no_crs.to_str().unwrap(), None));
    assert!(
        e.contains("rivers_nocrs.geojson") && e.contains("out of range") && e.contains("projected"),
        "{e}"
    );
    // A GeoPackage in UTM through GDAL: its CRS is read and refused.
    if !ogr2ogr_available() {
        return;
    }
    let gpkg = dir.path().join("rivers_utm36s.gpkg");
    let out = Command::new("ogr2ogr")
        .args(["-f", "GPKG", "-t_srs", "EPSG:32736"])
        .arg(&gpkg)
        .arg(LINE_FIXTURE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = geography_error(dir.path(), &river_layer(gpkg.to_str().unwrap(), None));
    assert!(
        e.contains("rivers_utm36s.gpkg") && e.contains("32736"),
        "{e}"
    );
}

#[test]
fn a_csv_or_a_second_river_layer_is_refused_in_the_manifest() {
    if common::data_file("boundaries").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let e = geography_error(dir.path(), &river_layer("rivers.csv", None));
    assert!(e.contains("river_lines") && e.contains("CSV"), "{e}");
    let two = format!(
        "{}{}",
        river_layer(LINE_FIXTURE, None),
        river_layer(LINE_FIXTURE, None).replace("name = \"river_lines\"", "name = \"rivers2\"")
    );
    let e = geography_error(dir.path(), &two);
    assert!(e.contains("at most one layer of kind river_lines"), "{e}");
}

#[test]
fn a_negative_or_too_wide_river_buffer_is_refused_naming_the_key_and_file() {
    for (value, wanted) in [("-5.0", "-5"), ("80.0", "80")] {
        let e = Config::from_toml(
            &format!("[flood]\nriver_buffer_km = {value}\n"),
            "site.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("site.toml") && e.contains("flood.river_buffer_km") && e.contains(wanted),
            "{e}"
        );
    }
    let ok = Config::from_toml("[flood]\nriver_buffer_km = 0.0\n", "site.toml").unwrap();
    assert_eq!(ok.flood.river_buffer_km, 0.0);
}

// ---- end to end ----

fn assess(f: &Fixture, config: Option<&Path>) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("flood.geojson");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aviso"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd
        .args(["assess", "--forecast"])
        .arg(common::data_file(PROBS).unwrap())
        .arg("--layers")
        .arg(&f.manifest)
        .arg("--out")
        .arg(&out_path)
        .env_remove("AVISO_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let doc = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    (doc, stderr)
}

#[test]
fn assess_with_river_lines_writes_the_chibuto_corridor_and_its_rule() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("site.toml");
    std::fs::write(&cfg, "[flood]\nriver_buffer_km = 5.0\n").unwrap();
    let (doc, _) = assess(f, Some(&cfg));
    let features = doc["features"].as_array().unwrap();
    let of = |layer: &str| -> Vec<&Value> {
        features
            .iter()
            .filter(|x| x["properties"]["layer"] == layer)
            .collect()
    };
    let station = of("flood_station")
        .into_iter()
        .find(|x| x["properties"]["station_id"] == "41")
        .unwrap();
    let p = &station["properties"];
    assert_eq!(p["impact_method"], "river_buffer");
    assert_eq!(p["river_buffer_km"], 5.0);
    assert_eq!(p["rivers"], serde_json::json!(["Limpopo"]));
    // The footprint the map draws: one polygon feature for the one station at a level,
    // all of it within 5 km (+ 1 %) of the line.
    let footprints = of("flood_footprint");
    assert_eq!(footprints.len(), 1);
    let fp = &footprints[0];
    assert_eq!(fp["properties"]["station_id"], "41");
    assert_eq!(fp["properties"]["impact_method"], "river_buffer");
    assert_eq!(fp["properties"]["level"], "yellow");
    let geometry: geo::Geometry<f64> =
        serde_json::from_value::<geojson::Geometry>(fp["geometry"].clone())
            .unwrap()
            .try_into()
            .unwrap();
    let far = geometry
        .coords_iter()
        .map(|c| km_to_line(Point::from(c), &f.line))
        .fold(0.0, f64::max);
    assert!(far <= 5.05, "{far}");
    // The rule per station, and the river note, in the methods.
    let methods = &doc["aviso"]["methods"];
    let rule = methods["impact_area_by_station"]["41"].as_str().unwrap();
    assert!(
        rule.starts_with("river buffer 5 km around the lines named Limpopo ∩ basin-downstream"),
        "{rule}"
    );
    assert!(
        methods["other"].to_string().contains("river buffer rule"),
        "{methods}"
    );
    assert!(
        methods["input"]
            .to_string()
            .contains("lower_limpopo_centreline.geojson"),
        "{methods}"
    );
    // Districts: those of the corridor, a subset of the basin-downstream ones of the same
    // run without river lines; people counted inside the corridor (settlement points of
    // the manifest), never more than the district's population.
    let districts: BTreeSet<String> = of("flood_district")
        .iter()
        .map(|d| d["properties"]["pcode"].as_str().unwrap().to_string())
        .collect();
    let basin_rule = f.area("41", &[], &buffer_km(5.0));
    assert!(districts.is_subset(&pcodes(&basin_rule)));
    assert!(!districts.is_empty());
    let cut = f.area("41", &f.rivers, &buffer_km(5.0));
    assert_eq!(districts, pcodes(&cut));
    for d in of("flood_district") {
        let p = &d["properties"];
        let people = p["people_at_risk"].as_f64().unwrap();
        let population = p["population"].as_f64().unwrap();
        assert!(people <= population, "{p}");
        assert_eq!(p["people_method"], "settlement_weighted", "{p}");
    }
}

#[test]
fn assess_with_river_lines_and_the_default_buffer_uses_ten_km() {
    let Some(f) = fixture() else { return };
    let (doc, _) = assess(f, None);
    let rule = doc["aviso"]["methods"]["impact_area_by_station"]["41"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rule.starts_with("river buffer 10 km"), "{rule}");
}
