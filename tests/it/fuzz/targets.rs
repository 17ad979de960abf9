//! The parsers fuzzed, one [`Target`] each, with their seeds: the real files of
//! ../shared/data (read by path, cut into small slices where a whole file would make a
//! million cases too slow) and, where no real file exists (ATCF decks, flood extents, HXL
//! sheets, subscriber lists), the repository's hand-made fixtures or tables built from the
//! real data. Test-only.

use std::collections::HashMap;
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use rand::RngExt as _;

use super::mutate::{Seed, mutated, mutated_seed};
use crate::common;

/// One file handed to a parser: its role ("stations", "deck"), the origin the parser is
/// told (every refusal must name it) and the bytes.
#[derive(Clone)]
pub struct File {
    pub role: &'static str,
    pub origin: String,
    pub bytes: Vec<u8>,
}

/// One case: the files, a target-specific choice (selector, tech, field), and whether the
/// parser must accept it (an unchanged real file).
#[derive(Clone)]
pub struct Input {
    pub files: Vec<File>,
    pub param: usize,
    pub expect_ok: bool,
}

impl Input {
    pub fn one(role: &'static str, seed: &str, bytes: Vec<u8>, param: usize) -> Input {
        Input {
            files: vec![File {
                role,
                origin: format!("fuzz/{role}/{seed}"),
                bytes,
            }],
            param,
            expect_ok: false,
        }
    }
    pub fn ok(mut self) -> Input {
        self.expect_ok = true;
        self
    }
    fn bytes(&self) -> &[u8] {
        self.files.first().map_or(&[], |f| &f.bytes)
    }
    fn origin(&self) -> &str {
        self.files.first().map_or("", |f| &f.origin)
    }
}

/// A parser under fuzzing.
pub trait Target: Send + Sync {
    fn name(&self) -> &'static str;
    /// The real inputs unchanged (cases 0..n of every run).
    fn pristine(&self) -> Vec<Input>;
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input;
    /// Runs the parser: `Err` carries its refusal's message.
    fn parse(&self, input: &Input) -> Result<(), String>;
    /// Names one of which every refusal must contain.
    fn sources(&self, input: &Input) -> Vec<String> {
        input.files.iter().map(|f| f.origin.clone()).collect()
    }
}

fn read(rel: &str) -> Option<Vec<u8>> {
    let path = common::data_file(rel)?;
    common::read_or_skip(&path.display().to_string())
}

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name_of(rel: &str) -> String {
    rel.rsplit('/').next().unwrap_or(rel).to_string()
}

// ---- RSMC CMRSTRACK GeoJSON ----

pub struct Rsmc {
    full: Vec<Seed>,
    slim: Vec<Seed>,
}

const RSMC_FILES: [&str; 2] = [
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI04_20242025_CHIDO_2024-12-15T02Z.json",
    "forecast-samples/meteofrance_rsmc_reunion_CMRSTRACK_SWI07_20222023_FREDDY_2023-03-10T00Z.json",
];

/// The product with fewer analysis points (every `step`-th, plus the last `keep`), all
/// forecast points and the cone with every 8th vertex: the same structure in a few kB.
fn rsmc_slice(doc: &Value, step: usize, keep: usize) -> Value {
    let mut doc = doc.clone();
    if let Some(features) = doc.get_mut("features").and_then(Value::as_array_mut) {
        for ring in features
            .iter_mut()
            .filter_map(|f| f.pointer_mut("/geometry/coordinates/0"))
            .filter_map(Value::as_array_mut)
            .filter(|ring| ring.len() > 16)
        {
            let closing = ring.first().cloned();
            let mut i = 0;
            ring.retain(|_| {
                i += 1;
                i % 8 == 1
            });
            ring.extend(closing);
        }
        let analysis = |f: &Value| f["properties"]["data_type"] == "analysis";
        let n = features.iter().filter(|f| analysis(f)).count();
        let mut i = 0;
        features.retain(|f| {
            if !analysis(f) {
                return true;
            }
            i += 1;
            i % step == 0 || i + keep > n
        });
    }
    doc
}

impl Rsmc {
    pub fn new() -> Option<Rsmc> {
        let (mut full, mut slim) = (Vec::new(), Vec::new());
        for rel in RSMC_FILES {
            let bytes = read(rel)?;
            let doc: Value = serde_json::from_slice(&bytes).expect("the sample is JSON");
            for (step, keep) in [(usize::MAX, 2), (8, 3)] {
                let cut = serde_json::to_vec(&rsmc_slice(&doc, step, keep)).expect("JSON");
                slim.push(Seed::new(format!("{}-slice{step}", name_of(rel)), cut));
            }
            full.push(Seed::new(name_of(rel), bytes));
        }
        Some(Rsmc { full, slim })
    }
}

impl Target for Rsmc {
    fn name(&self) -> &'static str {
        "rsmc"
    }
    fn pristine(&self) -> Vec<Input> {
        let all = self.full.iter().chain(&self.slim);
        all.map(|s| Input::one("rsmc", &s.name, s.bytes.clone(), 0).ok())
            .collect()
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        Input::one("rsmc", "mutated", mutated(rng, &self.slim), 0)
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        aviso::feeds::rsmc::parse(input.bytes(), input.origin())
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

// ---- JTWC/ATCF decks ----

pub struct Atcf {
    seeds: Vec<Seed>,
}

/// The aids asked for: the default, each tech in the fixtures, an empty and an unknown one.
const ATCF_TECHS: [Option<&str>; 7] = [
    None,
    Some("JTWC"),
    Some("BEST"),
    Some("AVNO"),
    Some("EMX"),
    Some(""),
    Some("NOPE"),
];

impl Atcf {
    pub fn new() -> Atcf {
        // No real SH deck exists in the shared data (PROVENANCE.md): the hand-made fixtures.
        let seeds = [
            "atcf/ash112023.dat",
            "atcf/bsh112023.dat",
            "bad/atcf_bad_latitude.dat",
        ]
        .iter()
        .map(|rel| Seed::new(name_of(rel), fixture(&format!("tests/fixtures/{rel}"))))
        .collect();
        Atcf { seeds }
    }
}

impl Target for Atcf {
    fn name(&self) -> &'static str {
        "atcf"
    }
    fn pristine(&self) -> Vec<Input> {
        vec![
            Input::one("deck", &self.seeds[0].name, self.seeds[0].bytes.clone(), 0).ok(),
            Input::one("deck", &self.seeds[1].name, self.seeds[1].bytes.clone(), 0).ok(),
            Input::one("deck", &self.seeds[2].name, self.seeds[2].bytes.clone(), 0),
        ]
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        let tech = rng.random_range(0..ATCF_TECHS.len());
        Input::one("deck", "mutated", mutated(rng, &self.seeds), tech)
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        let tech = ATCF_TECHS.get(input.param).copied().flatten();
        aviso::feeds::atcf::parse(input.bytes(), input.origin(), tech)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

// ---- IBTrACS CSV and the derived 12-hourly extract ----

pub struct Ibtracs {
    storms: Vec<Seed>,
    derived: Vec<Seed>,
    names: HashMap<String, String>,
    full: Vec<u8>,
}

const IBTRACS: &str = "tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv";
const DERIVED: &str = "tracks/ibtracs_derived_12h_moz_historic.csv";

/// Params: 0..=3 pick a selector for `ibtracs::parse`, 4..=6 one for `parse_derived`, 7 is
/// `list_storms`.
fn ibtracs_selector(param: usize) -> aviso::feeds::StormSelector {
    let mut s = aviso::feeds::StormSelector::default();
    match param {
        1 => s.name = Some("FREDDY".into()),
        2 => s.season = Some(2024),
        3 => s.sid = Some("2023036S12117".into()),
        4 | 7 => s.sid = Some("2019063S18038".into()),
        5 => s.name = Some("IDAI".into()),
        _ => {}
    }
    s
}

impl Ibtracs {
    pub fn new() -> Option<Ibtracs> {
        let full = read(IBTRACS)?;
        let derived = read(DERIVED)?;
        let text = String::from_utf8(full.clone()).expect("UTF-8 CSV");
        let mut lines = text.lines();
        let head = format!("{}\n{}\n", lines.next()?, lines.next()?);
        // One seed per storm: header, units row and 16 of that storm's rows, evenly
        // spaced (0.3 MB -> ~3.5 kB: a million cases of the whole storms would take hours).
        let mut by_sid: Vec<(String, Vec<&str>)> = Vec::new();
        for line in lines {
            let sid = line.split(',').next().unwrap_or("").to_string();
            match by_sid.last_mut() {
                Some((s, rows)) if *s == sid => rows.push(line),
                _ => by_sid.push((sid, vec![line])),
            }
        }
        let storms = by_sid
            .into_iter()
            .map(|(sid, rows)| {
                let step = rows.len().div_ceil(16);
                let kept: String = rows
                    .iter()
                    .step_by(step)
                    .map(|l| format!("{l}\n"))
                    .collect();
                Seed::new(sid, format!("{head}{kept}").into_bytes())
            })
            .collect();
        let names_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("layers/ibtracs_sid_names.csv");
        let names = aviso::feeds::ibtracs::parse_sid_names(
            &std::fs::read(&names_path).expect("layers/ibtracs_sid_names.csv"),
            "layers/ibtracs_sid_names.csv",
        )
        .expect("the shipped names table parses");
        Some(Ibtracs {
            storms,
            derived: vec![Seed::new(name_of(DERIVED), derived)],
            names,
            full,
        })
    }
}

impl Target for Ibtracs {
    fn name(&self) -> &'static str {
        "ibtracs"
    }
    fn pristine(&self) -> Vec<Input> {
        let mut out: Vec<Input> = self
            .storms
            .iter()
            .map(|s| Input::one("ibtracs", &s.name, s.bytes.clone(), 0).ok())
            .collect();
        out.push(Input::one("ibtracs", IBTRACS, self.full.clone(), 3).ok());
        out.push(Input::one("derived", DERIVED, self.derived[0].bytes.clone(), 4).ok());
        out.push(Input::one("derived", DERIVED, self.derived[0].bytes.clone(), 7).ok());
        out
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        if rng.random_bool(0.7) {
            let param = [0, 0, 0, 1, 2, 3, 7][rng.random_range(0..7)];
            Input::one("ibtracs", "mutated", mutated(rng, &self.storms), param)
        } else {
            let param = rng.random_range(4..8);
            Input::one("derived", "mutated", mutated(rng, &self.derived), param)
        }
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        use aviso::feeds::ibtracs;
        let (bytes, origin) = (input.bytes(), input.origin());
        let selector = ibtracs_selector(input.param);
        let r = match input.param {
            0..=3 => ibtracs::parse(bytes, origin, &selector).map(drop),
            7 => ibtracs::list_storms(bytes, origin, &self.names).map(drop),
            _ => ibtracs::parse_derived(bytes, origin, &selector, &self.names).map(drop),
        };
        r.map_err(|e| e.to_string())
    }
}

// ---- GDACS GeoRSS ----

pub struct Gdacs {
    /// The whole feed, its items one by one, then the damaged fixtures.
    seeds: Vec<Seed>,
    /// Seeds before the fixtures.
    items: usize,
}

const GDACS: &str = "forecast-samples/gdacs_rss_feed_sample_2019-12_with_TC_CALVINIA-19.xml";
const GDACS_FIXTURES: [&str; 6] = [
    "all_items_bad.xml",
    "bad_items.xml",
    "cut_off.xml",
    "html_error_page.xml",
    "mismatched_tag.xml",
    "other_prefixes.xml",
];

impl Gdacs {
    pub fn new() -> Option<Gdacs> {
        let feed = read(GDACS)?;
        // The feed cut to one item each (55 kB -> 9 to 24 kB), the first seed whole.
        let text = String::from_utf8_lossy(&feed).into_owned();
        let starts: Vec<usize> = text.match_indices("<item>").map(|(i, _)| i).collect();
        let ends: Vec<usize> = text.match_indices("</item>").map(|(i, _)| i + 7).collect();
        let (head, tail) = match (starts.first(), ends.last()) {
            (Some(&s), Some(&e)) => (&text[..s], &text[e..]),
            _ => panic!("{GDACS}: no <item>"),
        };
        let mut seeds = vec![Seed::new(name_of(GDACS), feed.clone())];
        for (k, (s, e)) in starts.iter().zip(&ends).enumerate() {
            let one = format!("{head}{}{tail}", &text[*s..*e]);
            seeds.push(Seed::new(format!("item{k}"), one.into_bytes()));
        }
        let items = seeds.len();
        for f in GDACS_FIXTURES {
            seeds.push(Seed::new(f, fixture(&format!("tests/fixtures/gdacs/{f}"))));
        }
        Some(Gdacs { seeds, items })
    }
}

impl Target for Gdacs {
    fn name(&self) -> &'static str {
        "gdacs"
    }
    fn pristine(&self) -> Vec<Input> {
        self.seeds[..self.items]
            .iter()
            .map(|s| Input::one("feed", &s.name, s.bytes.clone(), 0).ok())
            .collect()
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        // One real item three times in four; the damaged fixtures otherwise.
        let bytes = if rng.random_bool(0.75) {
            let k = rng.random_range(1..self.items);
            mutated_seed(rng, &self.seeds[k], &self.seeds)
        } else {
            mutated(rng, &self.seeds)
        };
        Input::one("feed", "mutated", bytes, 0)
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        let feed = aviso::feeds::gdacs::parse_gdacs_rss(input.bytes(), input.origin())
            .map_err(|e| e.to_string())?;
        // A warning is a refusal of one item: it must name the feed as well.
        match feed
            .warnings
            .iter()
            .map(ToString::to_string)
            .find(|w| !w.contains(input.origin()))
        {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }
}

// ---- ECMWF tropical-cyclone track BUFR (ecCodes, C) ----

pub struct Bufr {
    seeds: Vec<Seed>,
}

const BUFR_FILES: [&str; 2] = [
    "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.det.bufr4",
    "forecast-samples/ecmwf_tc_tracks_22S_HEROLD_2020031912.eps.bufr4",
];

impl Bufr {
    pub fn new() -> Option<Bufr> {
        let mut seeds = Vec::new();
        for rel in BUFR_FILES {
            seeds.push(Seed::new(name_of(rel), read(rel)?));
        }
        Some(Bufr { seeds })
    }
}

impl Target for Bufr {
    fn name(&self) -> &'static str {
        "bufr"
    }
    fn pristine(&self) -> Vec<Input> {
        let mut out: Vec<Input> = self
            .seeds
            .iter()
            .map(|s| Input::one("bufr", &s.name, s.bytes.clone(), 0).ok())
            .collect();
        // Both files back to back: the ensemble file repeats the deterministic run
        // (member 52), which must be refused as a duplicate member.
        let both = [self.seeds[0].bytes.clone(), self.seeds[1].bytes.clone()].concat();
        out.push(Input::one("bufr", "det+eps", both, 0));
        out
    }
    fn mutated(&self, rng: &mut ChaCha8Rng) -> Input {
        Input::one("bufr", "mutated", mutated(rng, &self.seeds), 0)
    }
    fn parse(&self, input: &Input) -> Result<(), String> {
        aviso::feeds::ecmwf_bufr::parse(input.bytes(), input.origin())
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
