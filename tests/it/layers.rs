//! Layer loading on the real shared data (../shared/data) and on small fixtures of our own
//! (tests/fixtures/layers), plus the spatial indexes the loader and the exposure engine use.
//!
//! Expected numbers come from ../shared/data/PROVENANCE.md or from reading the source files
//! independently here, never from the loader's own output.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use crate::common;
use aviso::domain::{AdminArea, PointKind};
use aviso::layers::{LayerError, LoadedLayers, load_layers, load_manifest_with};
use aviso::spatial::{AreaIndex, PointIndex};
use geo::{Distance, Geodesic, LineString, MultiPolygon, Point, Polygon, Rect, coord};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn repo(path: &str) -> PathBuf {
    Path::new(REPO).join(path)
}

fn fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/layers").join(name)
}

/// A file under the data folder (AVISO_DATA_DIR or ../shared/data); absent: fails
/// through `common::skip_or_fail`.
fn shared(path: &str) -> Option<PathBuf> {
    common::data_file(path)
}

fn load(manifest: &Path) -> LoadedLayers {
    match load_layers(manifest) {
        Ok(loaded) => loaded,
        Err(e) => panic!("{} should load: {e}", manifest.display()),
    }
}

fn load_err(manifest: &Path) -> LayerError {
    match load_layers(manifest) {
        Ok(_) => panic!("{} should fail to load", manifest.display()),
        Err(e) => e,
    }
}

fn district<'a>(loaded: &'a LoadedLayers, pcode: &str) -> &'a AdminArea {
    match loaded.layers.districts.iter().find(|d| d.pcode == pcode) {
        Some(d) => d,
        None => panic!("district {pcode} should be loaded"),
    }
}

/// The shipped manifest, loaded once for all tests of this file (about 2 s in debug).
fn shipped() -> Option<&'static LoadedLayers> {
    static SHIPPED: OnceLock<Option<LoadedLayers>> = OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            shared("boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson")?;
            let started = Instant::now();
            let loaded = load(&repo("layers/manifest.toml"));
            eprintln!("layers/manifest.toml loaded in {:?}", started.elapsed());
            Some(loaded)
        })
        .as_ref()
}

/// Writes a manifest into `dir` whose boundaries are the tiny fixture country, followed by
/// `extra` (more `[[layer]]` tables); layer paths in `extra` may use `{fixtures}`.
fn tiny_manifest(dir: &Path, extra: &str) -> PathBuf {
    let fixtures = repo("tests/fixtures/layers");
    let fixtures = fixtures.display();
    let text = format!(
        r#"
[[layer]]
name = "country"
kind = "country"
path = "{fixtures}/tiny_country.geojson"
licence = "test"
source = "test"

[[layer]]
name = "provinces"
kind = "provinces"
path = "{fixtures}/tiny_provinces.geojson"
licence = "test"
source = "test"
[layer.fields]
id = "ADM1_PCODE"
name = "ADM1_PT"

[[layer]]
name = "districts"
kind = "districts"
path = "{fixtures}/tiny_districts.geojson"
licence = "test"
source = "test"
[layer.fields]
id = "ADM2_PCODE"
name = "ADM2_PT"
parent_id = "ADM1_PCODE"
{extra}
"#,
        extra = extra.replace("{fixtures}", &fixtures.to_string())
    );
    let path = dir.join("manifest.toml");
    if let Err(e) = std::fs::write(&path, text) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot make a temp dir: {e}"),
    }
}

fn write(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        panic!("cannot write {}: {e}", path.display());
    }
}

// --- The shipped manifest on the real data -------------------------------------------

#[test]
fn shipped_manifest_loads_the_2019_cod_provinces_and_districts_with_their_names() {
    let Some(loaded) = shipped() else { return };
    let Some(pcodes_csv) = shared("boundaries/moz_adm2_pcodes.csv") else {
        return;
    };
    assert_eq!(loaded.layers.provinces.len(), 11);
    assert_eq!(loaded.layers.districts.len(), 159);

    let mz0701 = district(loaded, "MZ0701");
    assert_eq!(mz0701.parent_pcode.as_deref(), Some("MZ07"));

    // The attribute table, read on its own, names every district and its province.
    let mut reader = match csv::Reader::from_path(&pcodes_csv) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let mut rows = 0;
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let (pcode, name, parent, parent_name) = (&row[0], &row[1], &row[2], &row[3]);
        let d = district(loaded, pcode);
        assert_eq!(d.name, name, "name of {pcode}");
        assert_eq!(
            d.parent_pcode.as_deref(),
            Some(parent),
            "province of {pcode}"
        );
        assert_eq!(
            d.parent_name.as_deref(),
            Some(parent_name),
            "province name of {pcode}"
        );
        rows += 1;
    }
    assert_eq!(rows, 159);

    // Districts per province as PROVENANCE.md lists them.
    let expected = [
        ("Nampula", 23),
        ("Zambezia", 23),
        ("Niassa", 19),
        ("Cabo Delgado", 17),
        ("Tete", 15),
        ("Gaza", 14),
        ("Inhambane", 14),
        ("Sofala", 13),
        ("Manica", 12),
        ("Maputo", 8),
        ("Maputo City", 1),
    ];
    for (province_name, count) in expected {
        let Some(province) = loaded
            .layers
            .provinces
            .iter()
            .find(|p| p.name == province_name)
        else {
            panic!("province {province_name} should be loaded");
        };
        let n = loaded
            .layers
            .districts
            .iter()
            .filter(|d| d.parent_pcode.as_deref() == Some(province.pcode.as_str()))
            .count();
        assert_eq!(n, count, "districts of {province_name}");
    }
}

#[test]
fn district_areas_add_up_to_mozambique_and_to_their_provinces() {
    let Some(loaded) = shipped() else { return };
    // CIA World Factbook, Mozambique: total 799,380 km², of which land 786,380 km². The
    // COD leaves out part of the inland water, so the districts must fall between the two.
    let districts_km2: f64 = loaded.layers.districts.iter().map(|d| d.area_km2).sum();
    assert!(
        (786_380.0 * 0.99..=799_380.0 * 1.01).contains(&districts_km2),
        "districts cover {districts_km2:.0} km²"
    );
    for province in &loaded.layers.provinces {
        let of_its_districts: f64 = loaded
            .layers
            .districts
            .iter()
            .filter(|d| d.parent_pcode.as_deref() == Some(province.pcode.as_str()))
            .map(|d| d.area_km2)
            .sum();
        let ratio = of_its_districts / province.area_km2;
        assert!(
            (0.995..=1.005).contains(&ratio),
            "{} is {:.0} km², its districts {of_its_districts:.0} km²",
            province.name,
            province.area_km2
        );
    }
    use geo::GeodesicArea;
    let country_km2 = loaded.layers.country.geodesic_area_unsigned() / 1e6;
    assert!((country_km2 / districts_km2 - 1.0).abs() < 0.005);
}

#[test]
fn population_joins_156_districts_totalling_the_ine_2025_projection() {
    let Some(loaded) = shipped() else { return };
    let with_value: Vec<&AdminArea> = loaded
        .layers
        .districts
        .iter()
        .filter(|d| d.population.is_some())
        .collect();
    assert_eq!(with_value.len(), 156);
    let total: f64 = with_value.iter().filter_map(|d| d.population).sum();
    assert_eq!(total, 32_883_666.0, "PROVENANCE.md: 2025 total");
    let mut without: Vec<&str> = loaded
        .layers
        .districts
        .iter()
        .filter(|d| d.population.is_none())
        .map(|d| d.pcode.as_str())
        .collect();
    without.sort_unstable();
    assert_eq!(without, ["MZ0804", "MZ0805", "MZ1112"]);
    for code in without {
        assert!(
            loaded.warnings.iter().any(|w| w.contains(code)),
            "a warning names {code}"
        );
    }
    let provinces_total: f64 = loaded
        .layers
        .provinces
        .iter()
        .filter_map(|p| p.population)
        .sum();
    assert_eq!(provinces_total, total, "provinces sum their districts");
    assert_eq!(
        district(loaded, "MZ0101").population_source.as_deref(),
        Some("INE projection 2025")
    );
}

#[test]
fn health_facilities_get_the_district_their_location_falls_in() {
    let Some(loaded) = shipped() else { return };
    let Some(path) = shared("sites/moz_health_facilities_public.geojson") else {
        return;
    };
    let Some(layer) = loaded
        .layers
        .points
        .iter()
        .find(|l| l.kind == PointKind::HealthFacility)
    else {
        panic!("a health facility layer should be loaded");
    };
    assert_eq!(layer.features.len(), 1_589);
    let joined = layer
        .features
        .iter()
        .filter(|f| f.district_pcode.is_some())
        .count();
    assert_eq!(
        joined, 1_582,
        "PROVENANCE.md: 1,582 inside the s100m districts"
    );

    // The file carries ADM2_PCODE from the data team's own point-in-polygon join with the
    // same districts (the manifest does not read it): every facility must agree.
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let theirs: HashMap<&str, Option<&str>> = json["features"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    (
                        f["properties"]["id"].as_str().unwrap_or_default(),
                        f["properties"]["ADM2_PCODE"].as_str(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(theirs.len(), 1_589);
    for f in &layer.features {
        assert_eq!(
            f.district_pcode.as_deref(),
            theirs.get(f.id.as_str()).copied().flatten(),
            "district of facility {} ({})",
            f.id,
            f.name
        );
    }
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("health_facilities") && w.contains("7 of 1589")),
        "the 7 facilities off the simplified coast are reported"
    );
}

#[test]
fn settlements_are_placed_by_location_not_by_their_older_admin_codes() {
    let Some(loaded) = shipped() else { return };
    let Some(settlements) = loaded
        .layers
        .points
        .iter()
        .find(|l| l.info.name == "settlements")
    else {
        panic!("the settlements layer should be loaded");
    };
    assert_eq!(settlements.features.len(), 24_602);
    // The first settlement, Tuma, carries ADM1_Code MZ07 ("Nassa") in the file's older
    // scheme, where MZ07 is Niassa; in the 2019 COD Niassa is MZ08 and MZ07 is Nampula.
    let Some(tuma) = settlements.features.first() else {
        panic!("settlements should not be empty");
    };
    assert_eq!(tuma.name, "Tuma");
    let Some(pcode) = tuma.district_pcode.as_deref() else {
        panic!("Tuma lies inland and must be in a district");
    };
    assert_eq!(
        district(loaded, pcode).parent_pcode.as_deref(),
        Some("MZ08")
    );
    assert!(
        settlements
            .info
            .caveat
            .as_deref()
            .unwrap_or("")
            .contains("spatial join")
    );
}

#[test]
fn osm_places_keep_numeric_populations_and_report_the_one_that_is_a_name() {
    let Some(loaded) = shipped() else { return };
    let Some(osm) = loaded
        .layers
        .points
        .iter()
        .find(|l| l.info.name == "osm_populated_places")
    else {
        panic!("the OSM layer should be loaded");
    };
    assert_eq!(osm.features.len(), 2_530);
    // PROVENANCE.md: 75 places carry a population tag; one of them reads "Tocota".
    let with_population = osm
        .features
        .iter()
        .filter(|f| f.population.is_some())
        .count();
    assert_eq!(with_population, 74);
    let Some(matola) = osm.features.iter().find(|f| f.name == "Matola") else {
        panic!("Matola should be among the OSM places");
    };
    assert_eq!(matola.population, Some(675_422.0));
    assert_eq!(
        matola.id, "27564983",
        "osm_id 27564983.0 reads as an integer id"
    );
    assert!(loaded.warnings.iter().any(|w| w.contains("Tocota")));
    assert!(osm.info.licence.contains("ODbL"));
}

#[test]
fn layer_infos_follow_the_manifest_and_fingerprint_each_file() {
    let Some(loaded) = shipped() else { return };
    let Some(path) = shared("places/moz_settlements_hdx_points.geojson") else {
        return;
    };
    let names: Vec<&str> = loaded
        .layers
        .infos
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "country",
            "provinces",
            "districts",
            "district_population",
            "health_facilities",
            "settlements",
            "osm_populated_places"
        ]
    );
    use sha2::Digest;
    let bytes = std::fs::read(&path).unwrap_or_default();
    let expected: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let Some(info) = loaded.layers.infos.iter().find(|i| i.name == "settlements") else {
        panic!("settlements info");
    };
    assert_eq!(info.sha256, expected);
    assert_eq!(info.features, 24_602);
    assert_eq!(info.crs, "EPSG:4326");
    let Some(health) = loaded
        .layers
        .infos
        .iter()
        .find(|i| i.kind == "health_facility")
    else {
        panic!("health facility info");
    };
    assert!(
        health
            .caveat
            .as_deref()
            .unwrap_or("")
            .contains("not an official MISAU list")
    );
}

#[test]
fn the_shipped_manifest_labels_no_real_layer_as_displacement_sites() {
    let Some(loaded) = shipped() else { return };
    for layer in &loaded.layers.points {
        assert!(
            !matches!(layer.kind, PointKind::ResettlementSite | PointKind::IdpSite),
            "{} is a proxy layer, not displacement sites",
            layer.info.name
        );
    }
}

#[test]
fn aviso_data_dir_style_override_replaces_the_manifest_data_dir() {
    let Some(data) = shared("") else { return };
    let dir = tempdir();
    let manifest = dir.path().join("manifest.toml");
    let text = std::fs::read_to_string(repo("layers/manifest.toml")).unwrap_or_default();
    // Copied elsewhere, its relative data_dir points nowhere; the override fixes that.
    write(&manifest, &text);
    let resolved = match load_manifest_with(&manifest, Some(&data)) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(resolved.data_dir, data);
    assert!(resolved.layers.iter().all(|l| l.path.starts_with(&data)));
}

// --- Full resolution through GDAL -----------------------------------------------------

#[cfg(feature = "gdal")]
#[test]
fn full_resolution_geopackage_loads_through_gdal_with_the_same_districts() {
    let Some(simplified) = shipped() else { return };
    if shared("boundaries/moz_adm012_ocha_ine_20190607_full.gpkg").is_none() {
        return;
    }
    let full = load(&repo("layers/manifest_full_resolution.toml"));
    assert_eq!(full.layers.provinces.len(), 11);
    assert_eq!(full.layers.districts.len(), 159);
    // Simplification to 100 m keeps inland districts' areas within a fraction of a percent.
    for pcode in ["MZ0701", "MZ0913", "MZ1101", "MZ0302", "MZ0109"] {
        let (a, b) = (district(&full, pcode), district(simplified, pcode));
        assert_eq!(a.name, b.name);
        let ratio = a.area_km2 / b.area_km2;
        assert!(
            (0.99..=1.01).contains(&ratio),
            "{pcode} {}: full {:.1} km², simplified {:.1} km²",
            a.name,
            a.area_km2,
            b.area_km2
        );
    }
    assert_eq!(
        full.layers.infos[2].path,
        "boundaries/moz_adm012_ocha_ine_20190607_full.gpkg"
    );
}

#[cfg(not(feature = "gdal"))]
#[test]
fn a_gdal_layer_without_the_gdal_feature_says_how_to_rebuild() {
    let dir = tempdir();
    let manifest = tiny_manifest(
        dir.path(),
        r#"
[[layer]]
name = "sites"
kind = "health_facility"
path = "{fixtures}/tiny_districts_utm37s.shp"
licence = "test"
source = "test"
"#,
    );
    let message = load_err(&manifest).to_string();
    assert!(
        message.contains("built without GDAL: rebuild with --features gdal"),
        "{message}"
    );
}

// --- HXL (IOM DTM style) --------------------------------------------------------------

/// The DTM fixture read on its own: site code -> (district name from the sheet, people).
fn dtm_sheet() -> BTreeMap<String, (String, Option<f64>)> {
    let mut reader = match csv::Reader::from_path(fixture("example_dtm_sites_hxl.csv")) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    reader
        .records()
        .skip(1) // the hashtag row
        .map(|row| match row {
            Ok(r) => (
                r[0].to_string(),
                (
                    r[3].to_string(),
                    r[7].replace([',', ' '], "").parse::<f64>().ok(),
                ),
            ),
            Err(e) => panic!("{e}"),
        })
        .collect()
}

#[test]
fn dtm_sites_load_by_hxl_tag_and_land_in_the_districts_their_sheet_names() {
    if shared("boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson").is_none() {
        return;
    }
    let loaded = load(&fixture("manifest_with_dtm.toml"));
    let [layer] = loaded.layers.points.as_slice() else {
        panic!("one point layer expected");
    };
    assert_eq!(layer.kind, PointKind::IdpSite);
    let sheet = dtm_sheet();
    assert_eq!(layer.features.len(), sheet.len());
    for site in &layer.features {
        let Some((district_name, people)) = sheet.get(&site.id) else {
            panic!("site {} is not in the sheet", site.id);
        };
        let Some(pcode) = site.district_pcode.as_deref() else {
            panic!("site {} should be inside a district", site.id);
        };
        assert_eq!(
            &district(&loaded, pcode).name,
            district_name,
            "site {}",
            site.id
        );
        assert_eq!(site.population, *people, "people at {}", site.id);
    }
    let Some(metuge) = layer.features.iter().find(|s| s.id == "EX-005") else {
        panic!("EX-005");
    };
    assert_eq!(
        metuge.households,
        Some(2_512.0),
        "\"2,512\" is a thousands separator"
    );
    assert_eq!(metuge.subtype.as_deref(), Some("Local de deslocados"));
    assert_eq!(
        metuge.location,
        Point::new(40.36, -12.85),
        "lon from #geo+lon, lat from #geo+lat"
    );
}

#[test]
fn shuffled_columns_and_tags_with_extra_attributes_give_the_same_sites() {
    let dir = tempdir();
    let layer = |name: &str, file: &str| {
        format!(
            r##"
[[layer]]
name = "{name}"
kind = "idp_site"
path = "{{fixtures}}/{file}"
format = "csv_hxl"
licence = "test"
source = "test"
[layer.fields]
id = "#loc+code"
name = "#loc+name"
subtype = "#loc+type"
population = "#affected+idps+ind"
households = "#affected+hh"
lat = "#geo+lat"
lon = "#geo+lon"
"##
        )
    };
    let manifest = tiny_manifest(
        dir.path(),
        &(layer("original", "example_dtm_sites_hxl.csv")
            + &layer("shuffled", "example_dtm_sites_hxl_shuffled.csv")),
    );
    let loaded = load(&manifest);
    let [original, shuffled] = loaded.layers.points.as_slice() else {
        panic!("two point layers expected");
    };
    assert_eq!(original.features.len(), 6);
    for (a, b) in original.features.iter().zip(&shuffled.features) {
        let mut b = b.clone();
        b.layer = a.layer.clone();
        assert_eq!(a, &b);
    }
    assert_eq!(original.features.len(), shuffled.features.len());
}

#[test]
fn a_missing_hxl_tag_is_named_with_the_file() {
    let dir = tempdir();
    // The DTM sheet without its latitude column.
    let text = std::fs::read_to_string(fixture("example_dtm_sites_hxl.csv")).unwrap_or_default();
    let without_lat: String = text
        .lines()
        .map(|line| {
            let mut cells: Vec<String> = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_bytes())
                .records()
                .flatten()
                .flat_map(|r| r.iter().map(str::to_string).collect::<Vec<_>>())
                .collect();
            cells.remove(4);
            let quoted: Vec<String> = cells.iter().map(|c| format!("\"{c}\"")).collect();
            quoted.join(",") + "\n"
        })
        .collect();
    let sites = dir.path().join("sites_without_lat.csv");
    write(&sites, &without_lat);
    let manifest = tiny_manifest(
        dir.path(),
        &format!(
            r##"
[[layer]]
name = "sites"
kind = "idp_site"
path = "{}"
format = "csv_hxl"
licence = "test"
source = "test"
[layer.fields]
lat = "#geo+lat"
lon = "#geo+lon"
"##,
            sites.display()
        ),
    );
    let message = load_err(&manifest).to_string();
    assert!(message.contains("sites_without_lat.csv"), "{message}");
    assert!(message.contains("#geo+lat"), "{message}");
}

#[test]
fn a_tag_pattern_matching_two_columns_is_refused_rather_than_guessed() {
    let dir = tempdir();
    let manifest = tiny_manifest(
        dir.path(),
        r##"
[[layer]]
name = "sites"
kind = "idp_site"
path = "{fixtures}/example_dtm_sites_hxl.csv"
format = "csv_hxl"
licence = "test"
source = "test"
[layer.fields]
population = "#affected"
lat = "#geo+lat"
lon = "#geo+lon"
"##,
    );
    let message = load_err(&manifest).to_string();
    assert!(message.contains("matches 2 columns"), "{message}");
    assert!(message.contains("#affected+hh"), "{message}");
}

#[test]
fn a_population_that_is_not_a_number_stops_loading_with_row_and_field() {
    let dir = tempdir();
    let text = std::fs::read_to_string(fixture("example_dtm_sites_hxl.csv")).unwrap_or_default();
    let sites = dir.path().join("sites.csv");
    write(&sites, &text.replace(",940,", ",muitos,"));
    let manifest = tiny_manifest(
        dir.path(),
        &format!(
            r##"
[[layer]]
name = "sites"
kind = "idp_site"
path = "{}"
format = "csv_hxl"
licence = "test"
source = "test"
[layer.fields]
id = "#loc+code"
population = "#affected+idps+ind"
lat = "#geo+lat"
lon = "#geo+lon"
"##,
            sites.display()
        ),
    );
    let message = load_err(&manifest).to_string();
    for part in ["sites.csv", "line 5", "EX-003", "population", "muitos"] {
        assert!(message.contains(part), "'{part}' missing from: {message}");
    }
}

// --- Bad inputs -----------------------------------------------------------------------

#[test]
fn an_unknown_manifest_key_is_named_with_the_manifest() {
    let dir = tempdir();
    let manifest = tiny_manifest(
        dir.path(),
        r#"
[[layer]]
name = "sites"
kind = "health_facility"
path = "{fixtures}/tiny_districts.geojson"
licence = "test"
source = "test"
colour = "red"
"#,
    );
    let message = load_err(&manifest).to_string();
    assert!(message.contains("colour"), "{message}");
    assert!(message.contains("line "), "{message}");
    assert!(
        message.contains(&manifest.display().to_string()),
        "{message}"
    );

    let manifest = tiny_manifest(
        dir.path(),
        r#"
[[layer]]
name = "sites"
kind = "health_facility"
path = "{fixtures}/tiny_districts.geojson"
licence = "test"
source = "test"
[layer.fields]
nome = "ADM2_PT"
"#,
    );
    let message = load_err(&manifest).to_string();
    assert!(message.contains("nome"), "{message}");
}

#[test]
fn a_geojson_in_a_projected_crs_is_refused_with_how_to_reproject() {
    let dir = tempdir();
    let manifest = tiny_manifest(
        dir.path(),
        r#"
[[layer]]
name = "utm"
kind = "health_facility"
path = "{fixtures}/tiny_districts_utm37s.geojson"
licence = "test"
source = "test"
"#,
    );
    let error = load_err(&manifest);
    assert!(matches!(error, LayerError::Crs { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("EPSG::32737"), "{message}");
    assert!(message.contains("ogr2ogr -t_srs EPSG:4326"), "{message}");
}

#[cfg(feature = "gdal")]
#[test]
fn a_shapefile_in_a_projected_crs_is_refused_with_how_to_reproject() {
    let dir = tempdir();
    let manifest = tiny_manifest(
        dir.path(),
        r#"
[[layer]]
name = "utm"
kind = "health_facility"
path = "{fixtures}/tiny_districts_utm37s.shp"
licence = "test"
source = "test"
"#,
    );
    let error = load_err(&manifest);
    assert!(matches!(error, LayerError::Crs { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("UTM") && message.contains("37S"),
        "{message}"
    );
    assert!(message.contains("ogr2ogr -t_srs EPSG:4326"), "{message}");
}

#[test]
fn a_manifest_declaring_a_projected_crs_is_refused() {
    let dir = tempdir();
    let manifest = tiny_manifest(
        dir.path(),
        r#"
[[layer]]
name = "utm"
kind = "health_facility"
path = "{fixtures}/tiny_districts.geojson"
crs = "EPSG:32737"
licence = "test"
source = "test"
"#,
    );
    let message = load_err(&manifest).to_string();
    assert!(
        message.contains("EPSG:32737") && message.contains("ogr2ogr"),
        "{message}"
    );
}

#[test]
fn a_missing_file_is_named_with_its_layer() {
    let dir = tempdir();
    let manifest = tiny_manifest(
        dir.path(),
        r#"
[[layer]]
name = "accommodation"
kind = "accommodation_centre"
path = "{fixtures}/no_such_file.geojson"
licence = "test"
source = "test"
"#,
    );
    let error = load_err(&manifest);
    assert!(matches!(error, LayerError::MissingFile { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("no_such_file.geojson"), "{message}");
    assert!(message.contains("'accommodation'"), "{message}");
}

#[test]
fn a_point_at_latitude_200_is_refused_with_file_feature_and_id() {
    let dir = tempdir();
    let points = dir.path().join("bad_points.geojson");
    write(
        &points,
        r#"{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"code": "OK-1"}, "geometry": {"type": "Point", "coordinates": [34.5, -19.0]}},
  {"type": "Feature", "properties": {"code": "BAD-2"}, "geometry": {"type": "Point", "coordinates": [34.5, 200.0]}}
]}"#,
    );
    let manifest = tiny_manifest(
        dir.path(),
        &format!(
            r#"
[[layer]]
name = "centres"
kind = "accommodation_centre"
path = "{}"
licence = "test"
source = "test"
[layer.fields]
id = "code"
"#,
            points.display()
        ),
    );
    let message = load_err(&manifest).to_string();
    for part in ["bad_points.geojson", "feature index 1", "BAD-2", "200"] {
        assert!(message.contains(part), "'{part}' missing from: {message}");
    }
}

#[test]
fn a_line_in_a_point_layer_and_an_empty_polygon_are_refused() {
    let dir = tempdir();
    let lines = dir.path().join("lines.geojson");
    write(
        &lines,
        r#"{"type": "FeatureCollection", "features": [
  {"type": "Feature", "id": "road-1", "properties": {}, "geometry": {"type": "LineString", "coordinates": [[34.5, -19.0], [34.6, -19.1]]}}
]}"#,
    );
    let manifest = tiny_manifest(
        dir.path(),
        &format!(
            "[[layer]]\nname = \"c\"\nkind = \"accommodation_centre\"\npath = \"{}\"\nlicence = \"t\"\nsource = \"t\"\n",
            lines.display()
        ),
    );
    let message = load_err(&manifest).to_string();
    assert!(
        message.contains("expected a Point, found a LineString"),
        "{message}"
    );
    assert!(message.contains("road-1"), "{message}");

    let empty = dir.path().join("empty_country.geojson");
    write(
        &empty,
        r#"{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {}, "geometry": {"type": "MultiPolygon", "coordinates": []}}
]}"#,
    );
    let text = std::fs::read_to_string(tiny_manifest(dir.path(), "")).unwrap_or_default();
    let manifest = dir.path().join("empty.toml");
    write(
        &manifest,
        &text.replace(
            &fixture("tiny_country.geojson").display().to_string(),
            &empty.display().to_string(),
        ),
    );
    let message = load_err(&manifest).to_string();
    assert!(message.contains("empty_country.geojson"), "{message}");
    assert!(message.contains("empty"), "{message}");
}

#[test]
fn a_layer_name_with_a_dot_is_refused_because_it_becomes_a_collection_id() {
    let dir = tempdir();
    let manifest = tiny_manifest(
        dir.path(),
        r#"
[[layer]]
name = "health.facilities"
kind = "health_facility"
path = "{fixtures}/tiny_districts.geojson"
licence = "test"
source = "test"
"#,
    );
    let message = load_err(&manifest).to_string();
    assert!(message.contains("health.facilities"), "{message}");
}

// --- Spatial indexes ------------------------------------------------------------------

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> LineString<f64> {
    LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
}

#[test]
fn nearest_ranks_by_ground_distance_not_by_degrees() {
    // At 25° S a degree of longitude is ~101 km and a degree of latitude ~111 km. East is
    // 1.00° away in degrees but ~101 km on the ground; north is only 0.95° but ~105 km.
    let here = Point::new(35.0, -25.0);
    let east = Point::new(36.0, -25.0);
    let north = Point::new(35.0, -24.05);
    let index = PointIndex::new(&[north, east]);
    let nearest = index.nearest(here, 1, |_| true);
    assert_eq!(nearest.len(), 1);
    assert_eq!(nearest[0].0, 1, "east is nearer on the ground");
    // 111.32 km × cos 25° = 100.9 km (spherical); WGS 84 gives slightly more.
    assert!((nearest[0].1 - 100.9).abs() < 0.5, "{} km", nearest[0].1);
    let both = index.nearest(here, 5, |_| true);
    assert_eq!(both.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 0]);
    assert!((both[1].1 - 105.3).abs() < 0.5, "{} km", both[1].1);
    assert_eq!(
        index.nearest(here, 1, |i| i != 1)[0].0,
        0,
        "the filter skips east"
    );
}

#[test]
fn nearest_agrees_with_brute_force_geodesic_ranking() {
    // Seeded linear congruential generator (Numerical Recipes constants): reproducible.
    let mut state: u64 = 20_250_314;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut random_point = || Point::new(30.0 + 11.0 * next(), -27.0 + 17.0 * next());
    let points: Vec<Point<f64>> = (0..2_000).map(|_| random_point()).collect();
    let index = PointIndex::new(&points);
    for _ in 0..100 {
        let q = random_point();
        let accept = |i: usize| i % 3 != 0;
        let mut brute: Vec<(usize, f64)> = points
            .iter()
            .enumerate()
            .filter(|(i, _)| accept(*i))
            .map(|(i, p)| (i, Geodesic.distance(q, *p) / 1000.0))
            .collect();
        brute.sort_by(|a, b| a.1.total_cmp(&b.1));
        brute.truncate(5);
        assert_eq!(index.nearest(q, 5, accept), brute);
    }
}

#[test]
fn within_excludes_points_in_a_hole_whatever_the_ring_winding() {
    let outer = square(34.0, -20.0, 36.0, -18.0);
    let hole = square(34.5, -19.5, 35.5, -18.5);
    let points = [
        Point::new(34.2, -19.8), // 0: in the ring
        Point::new(35.0, -19.0), // 1: in the hole
        Point::new(34.5, -19.0), // 2: on the hole's edge: closed polygon, counts
        Point::new(37.0, -19.0), // 3: outside
        Point::new(36.0, -19.0), // 4: on the outer edge: counts
    ];
    let index = PointIndex::new(&points);
    // The hole drawn the same way round as the exterior (no RFC 7946 winding).
    let same_winding = MultiPolygon(vec![Polygon::new(outer.clone(), vec![hole.clone()])]);
    let mut reversed_hole = hole.clone();
    reversed_hole.0.reverse();
    let opposite_winding = MultiPolygon(vec![Polygon::new(outer, vec![reversed_hole])]);
    assert_eq!(index.within(&same_winding), [0, 2, 4]);
    assert_eq!(index.within(&opposite_winding), [0, 2, 4]);
}

#[test]
fn locate_puts_a_border_point_in_the_first_area_and_sea_points_nowhere() {
    let west = MultiPolygon(vec![Polygon::new(square(34.0, -20.0, 35.0, -18.0), vec![])]);
    let east = MultiPolygon(vec![Polygon::new(square(35.0, -20.0, 36.0, -18.0), vec![])]);
    let index = AreaIndex::new(&[west, east]);
    assert_eq!(index.locate(Point::new(34.5, -19.0)), Some(0));
    assert_eq!(index.locate(Point::new(35.5, -19.0)), Some(1));
    assert_eq!(
        index.locate(Point::new(35.0, -19.0)),
        Some(0),
        "shared border"
    );
    assert_eq!(index.locate(Point::new(40.0, -19.0)), None);
    let rect = Rect::new(coord! { x: 35.6, y: -19.0 }, coord! { x: 37.0, y: -18.5 });
    assert_eq!(index.intersecting_bbox(rect).collect::<Vec<_>>(), [1]);
}
