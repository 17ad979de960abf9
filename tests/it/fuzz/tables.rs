//! Fuzz targets for the flood inputs and the lists users upload: river-station flood
//! forecasts (three CSVs), flood-extent and river-basin GeoJSON, the subscriber CSV and HXL
//! (and plain CSV) site lists. Seeds as in [`super::targets`]. Test-only.

use std::path::Path;

use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::mutate::{Seed, mutated, mutated_seed};
use super::targets::{File, Input, Target};
use crate::common;

fn read(rel: &str) -> Option<Vec<u8>> {
    let path = common::data_file(rel)?;
    common::read_or_skip(&path.display().to_string())
}

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn file(role: &'static str, seed: &str, bytes: Vec<u8>) -> File {
    File {
        role,
        origin: format!("fuzz/{role}/{seed}"),
        bytes,
    }
}

// ---- river-station flood forecasts ----

const STATIONS: &str = "floods/moz_aa_flood_stations_thresholds.csv";
const PROBABILITIES: &str = "floods/moz_aa_flood_forecast_2025-09-25_exceedance_probabilities.csv";
const DISCHARGE: &str = "floods/moz_aa_flood_forecast_2025-09-25_discharge_ensemble.csv";

/// Stations whose rows make the slices: 41 (Changane em Chibuto) has members over its
/// thresholds, 32 (Limpopo em Mapai) none.
const FLOOD_STATIONS: [&str; 2] = ["41", "32"];

pub struct Floods {
    stations: Seed,
    probabilities: Vec<Seed>,
    discharge: Vec<Seed>,
}

/// Valid days kept in the slices (of the seven of the issuance).
const FLOOD_DAYS: [&str; 2] = ["2025-09-26", "2025-09-27"];

/// The header and the rows of one station (first column) on [`FLOOD_DAYS`] (column 7).
fn station_rows(bytes: &[u8], station: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap_or(""));
    let wanted = |l: &&str| {
        let cells: Vec<&str> = l.split(',').collect();
        cells.first() == Some(&station) && cells.get(6).is_some_and(|d| FLOOD_DAYS.contains(d))
    };
    for l in lines.filter(wanted) {
        out.push_str(l);
        out.push('\n');
    }
    out.into_bytes()
}

impl Floods {
    pub fn new() -> Option<Floods> {
        let stations = Seed::new("stations", read(STATIONS)?);
        let (p, d) = (read(PROBABILITIES)?, read(DISCHARGE)?);
        // The discharge file is 0.6 MB; one station on two days (100 rows) keeps a case fast.
        let probabilities = FLOOD_STATIONS
            .iter()
            .map(|s| Seed::new(format!("probabilities-{s}"), station_rows(&p, s)))
            .collect();
        let discharge = FLOOD_STATIONS
            .iter()
            .map(|s| Seed::new(format!("discharge-{s}"), station_rows(&d, s)))
            .collect();
        Some(Floods {
            stations,
            probabilities,
            discharge,
        })
    }

    fn issuance(&self, k: usize) -> Vec<File> {
        vec![
            file("stations", "stations", self.stations.bytes.clone()),
            file(
                "probabilities",
                &self.probabilities[k].name,
                self.probabilities[k].bytes.clone(),
            ),
            file(
                "discharge",
                &self.discharge[k].name,
                self.discharge[k].bytes.clone(),
            ),
        ]
    }
}

/// Param bit 0: leave misordered stations out; bit 1: without the discharge file.
impl Target for Floods {
    fn name(&self) -> &'static str {
        "floods"
    }
    fn pristine(&self) -> Vec<Input> {
        let mut out = Vec::new();
        for k in 0..FLOOD_STATIONS.len() {
            for param in 0..4 {
                // The real stations file has one station (654) with misordered
                // thresholds: refused unless such stations may be left out (bit 0).
                out.push(Input {
                    files: self.issuance(k),
                    param,
                    expect_ok: param & 1 == 1,
                });
            }
        }
        out
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        let k = rng.random_range(0..FLOOD_STATIONS.len());
        let mut files = self.issuance(k);
        let param = rng.random_range(0..4);
        // Damage one file of the three; the others stay as published.
        let (i, seed, donors) = match rng.random_range(0..3) {
            0 => (0, &self.stations, std::slice::from_ref(&self.stations)),
            1 => (1, &self.probabilities[k], &self.probabilities[..]),
            _ => (2, &self.discharge[k], &self.discharge[..]),
        };
        files[i].bytes = mutated_seed(rng, seed, donors);
        Input {
            files,
            param,
            expect_ok: false,
        }
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        use aviso::feeds::floods::{FloodInputs, Input as FloodInput, parse_forecast};
        fn as_input(f: &File) -> FloodInput<'_> {
            FloodInput {
                bytes: &f.bytes,
                origin: &f.origin,
            }
        }
        let [s, p, d] = input.files.as_slice() else {
            return Err("three files expected".into());
        };
        parse_forecast(FloodInputs {
            stations: as_input(s),
            probabilities: as_input(p),
            discharge: (input.param & 2 == 0).then(|| as_input(d)),
            skip_misordered_stations: input.param & 1 == 1,
        })
        .map(drop)
        .map_err(|e| e.to_string())
    }
}

// ---- flood extents and river basins (GeoJSON polygons) ----

const BASINS: &str = "floods/moz_river_basins_gov_2023_s200m.geojson";
const EXTENT_FIXTURES: [&str; 4] = [
    "buzi_extent.geojson",
    "changane_chibuto_impact.geojson",
    "buzi_extent_invalid.geojson",
    "buzi_extent_utm36s.geojson",
];

pub struct FloodExtent {
    seeds: Vec<Seed>,
}

/// Params: 0 no attribute, 1 `depth_m`, 2 `class` (flood extents); 3 river basins.
const EXTENT_FIELDS: [Option<&str>; 3] = [None, Some("depth_m"), Some("class")];

impl FloodExtent {
    pub fn new() -> Option<FloodExtent> {
        // No real flood extent could be found (PROVENANCE.md): the hand-drawn fixtures, and
        // the real basins cut to their four smallest polygons (0.3 MB -> a few kB).
        let mut seeds: Vec<Seed> = EXTENT_FIXTURES
            .iter()
            .map(|f| Seed::new(*f, fixture(&format!("tests/fixtures/floods/{f}"))))
            .collect();
        let mut basins: Value = serde_json::from_slice(&read(BASINS)?).expect("GeoJSON");
        if let Some(features) = basins.get_mut("features").and_then(Value::as_array_mut) {
            features.sort_by_key(|f| f.to_string().len());
            features.truncate(4);
        }
        seeds.push(Seed::new(
            "basins-smallest4",
            serde_json::to_vec(&basins).expect("JSON"),
        ));
        Some(FloodExtent { seeds })
    }
}

impl Target for FloodExtent {
    fn name(&self) -> &'static str {
        "flood_extent"
    }
    fn pristine(&self) -> Vec<Input> {
        let one = |i: usize, param: usize| Input {
            files: vec![file(
                "extent",
                &self.seeds[i].name,
                self.seeds[i].bytes.clone(),
            )],
            param,
            expect_ok: false,
        };
        vec![
            one(0, 0).ok(),
            one(0, 1).ok(),
            one(1, 0).ok(),
            one(2, 0),
            one(3, 0),
            one(4, 3).ok(),
        ]
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        let param = rng.random_range(0..4);
        let bytes = if param == 3 {
            mutated_seed(rng, &self.seeds[4], &self.seeds)
        } else {
            mutated(rng, &self.seeds)
        };
        Input {
            files: vec![file("extent", "mutated", bytes)],
            param,
            expect_ok: false,
        }
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        let f = input.files.first().ok_or("no file")?;
        match EXTENT_FIELDS.get(input.param) {
            Some(field) => {
                aviso::geodata::flood_extent::parse_extent_geojson(&f.bytes, &f.origin, *field)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            None => aviso::geodata::basins::parse_basins(&f.bytes, &f.origin, "Basins")
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }
}

// ---- subscriber CSV (admin upload) ----

const PCODES: &str = "boundaries/moz_adm2_pcodes.csv";

pub struct Subscribers {
    seeds: Vec<Seed>,
    known: aviso::notify::subscriber::KnownPcodes,
}

impl Subscribers {
    pub fn new() -> Option<Subscribers> {
        use aviso::notify::subscriber::{self, Area, Channel, KnownPcodes, Subscriber};
        let table = String::from_utf8(read(PCODES)?).expect("UTF-8 CSV");
        // (ADM2 P-code, district name, ADM1 P-code) of the real COD-AB table.
        let districts: Vec<(String, String, String)> = table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                Some((
                    c.first()?.to_string(),
                    c.get(1)?.to_string(),
                    c.get(2)?.to_string(),
                ))
            })
            .collect();
        let known =
            KnownPcodes::from_pairs(districts.iter().map(|(a, _, p)| (a.as_str(), p.as_str())));
        // No real subscriber list may be shared (personal data): focal points written from
        // the real district table, one per 16th district, every column filled somewhere.
        let mut csv = String::from(
            "id,name,language,min_level,hazards,receive_tests,active,emails,phones,webhooks,provinces,districts,features,polygon\n",
        );
        for (i, (pcode, name, province)) in districts.iter().step_by(16).enumerate() {
            let lang = ["pt", "en"][i % 2];
            let level = ["green", "yellow", "orange", "red"][i % 4];
            let hazards = ["cyclone", "flood", "cyclone;flood", ""][i % 4];
            csv.push_str(&format!(
                "pf-{pcode},Ponto focal {name},{lang},{level},{hazards},{},true,pf.{}@ingd.example.org,+258 84 {:03} {:04},,{},{pcode},,\n",
                i % 2 == 0,
                pcode.to_ascii_lowercase(),
                100 + i,
                1000 + 37 * i,
                if i % 3 == 0 { province.as_str() } else { "" },
            ));
        }
        let beira = geo::Polygon::new(
            geo::LineString::from(vec![
                (34.80, -19.90),
                (34.90, -19.90),
                (34.90, -19.80),
                (34.80, -19.80),
                (34.80, -19.90),
            ]),
            vec![],
        );
        let exported = vec![
            Subscriber {
                id: "cccm.sofala".into(),
                name: "CCCM, \"Sofala\"".into(),
                channels: vec![
                    Channel::Email("cccm@example.org".into()),
                    Channel::Sms("+258841234567".into()),
                    Channel::Webhook("https://hooks.example.org/aviso?x=1&y=2".into()),
                ],
                areas: vec![
                    Area::Province("MZ07".into()),
                    Area::District("MZ0706".into()),
                    Area::Feature {
                        layer: "sites".into(),
                        id: "DTM-17".into(),
                    },
                    Area::Polygon(beira),
                ],
                ..Subscriber::default()
            }
            .validate(&known, None)
            .expect("a valid subscriber"),
        ];
        let exported = subscriber::to_csv(&exported).expect("export");
        Some(Subscribers {
            seeds: vec![
                Seed::new("focal-points", csv.into_bytes()),
                Seed::new("export", exported.into_bytes()),
            ],
            known,
        })
    }
}

impl Target for Subscribers {
    fn name(&self) -> &'static str {
        "subscriber"
    }
    fn pristine(&self) -> Vec<Input> {
        self.seeds
            .iter()
            .map(|s| Input::one("subscribers", &s.name, s.bytes.clone(), 0).ok())
            .collect()
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        Input::one("subscribers", "mutated", mutated(rng, &self.seeds), 0)
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        let bytes = input.files.first().map_or(&[][..], |f| &f.bytes);
        aviso::notify::subscriber::from_csv(bytes, &self.known)
            .map(drop)
            .map_err(|e| e.to_string())
    }
    /// The import has no file name (it is an upload): its messages say "subscriber".
    fn sources(&self, _: &Input) -> Vec<String> {
        vec!["subscriber".into()]
    }
}

// ---- HXL and plain CSV site lists ----

const PLACES: &str = "places/moz_osm_populated_places_hotosm.geojson";

pub struct Hxl {
    seeds: Vec<Seed>,
    /// Param 0: the DTM fixture's HXL layer; 1: the same layer read as plain CSV by header.
    specs: [aviso::layers::LayerSpec; 2],
}

impl Hxl {
    pub fn new() -> Option<Hxl> {
        let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/layers/manifest_with_dtm.toml");
        let manifest = aviso::layers::load_manifest(&manifest_path).expect("fixture manifest");
        let hxl = manifest
            .layers
            .iter()
            .find(|l| l.name == "example_dtm_sites")
            .expect("the DTM layer")
            .clone();
        let mut plain = hxl.clone();
        plain.format = aviso::layers::Format::Csv;
        plain.fields.id = Some("Site ID".into());
        plain.fields.name = Some("Site Name".into());
        plain.fields.subtype = Some("Site Type".into());
        plain.fields.population = Some("Individuals".into());
        plain.fields.households = Some("Households".into());
        plain.fields.lat = Some("Latitude".into());
        plain.fields.lon = Some("Longitude".into());
        // A sheet in the DTM layout from the first 40 real OSM populated places.
        let places: Value = serde_json::from_slice(&read(PLACES)?).expect("GeoJSON");
        let mut sheet = String::from(
            "Site ID,Site Name,Province,District,Latitude,Longitude,Site Type,Individuals,Households,Date of assessment\n\
             #loc+code,#loc+name,#adm1+name,#adm2+name,#geo+lat,#geo+lon,#loc+type,#affected+idps+ind,#affected+hh,#date+reported\n",
        );
        for f in places["features"].as_array()?.iter().take(40) {
            let p = &f["properties"];
            let c = &f["geometry"]["coordinates"];
            sheet.push_str(&format!(
                "{},\"{}\",,,{},{},{},{},,2025-03-10\n",
                p["osm_id"],
                p["name"].as_str().unwrap_or(""),
                c[1],
                c[0],
                p["place"].as_str().unwrap_or(""),
                p["population"].as_str().unwrap_or(""),
            ));
        }
        let mut seeds = vec![Seed::new("osm-places-sheet", sheet.into_bytes())];
        for f in [
            "example_dtm_sites_hxl.csv",
            "example_dtm_sites_hxl_shuffled.csv",
        ] {
            seeds.push(Seed::new(f, fixture(&format!("tests/fixtures/layers/{f}"))));
        }
        Some(Hxl {
            seeds,
            specs: [hxl, plain],
        })
    }
}

impl Target for Hxl {
    fn name(&self) -> &'static str {
        "hxl"
    }
    fn pristine(&self) -> Vec<Input> {
        vec![
            Input::one("sites", &self.seeds[0].name, self.seeds[0].bytes.clone(), 0).ok(),
            Input::one("sites", &self.seeds[1].name, self.seeds[1].bytes.clone(), 0).ok(),
            Input::one("sites", &self.seeds[2].name, self.seeds[2].bytes.clone(), 0).ok(),
        ]
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        let param = usize::from(rng.random_bool(0.2));
        Input::one("sites", "mutated", mutated(rng, &self.seeds), param)
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        let spec = &self.specs[input.param.min(1)];
        let bytes = input.files.first().map_or(&[][..], |f| &f.bytes);
        aviso::layers::parse_point_table(spec, bytes)
            .map(drop)
            .map_err(|e| e.to_string())
    }
    /// Layer errors name the layer and its manifest path, not the fuzz origin.
    fn sources(&self, _: &Input) -> Vec<String> {
        vec![format!("layer '{}'", self.specs[0].name)]
    }
}
