//! The shape of the house, checked from the source (issue 16, ../shared/ARCHITECTURE.md):
//! imports run the way the data flows, feeds -> hazard -> exposure -> alerts ->
//! store/publish/notify, and the core imports no I/O crate. Reads the `crate::` paths and
//! the crate names of every file under src/ (code lines only, test modules cut off).
//!
//! Violations that exist today are listed in [`KNOWN`], each with the issue-16 move that
//! removes it: the test fails on any other, and on a listed one that is gone (so the list
//! only shrinks).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The pure core: domain types, geometry, hazard models, exposure maths, alert rules and
/// assessment. It imports no I/O crate.
const CORE: &[&str] = &[
    "domain", "spatial", "hazard", "exposure", "alerts", "replay", "plan",
];

/// Crates that do I/O (network, files through GDAL, the database, SMTP) or bring a runtime.
const IO_CRATES: &[&str] = &[
    "tokio",
    "axum",
    "reqwest",
    "rusqlite",
    "gdal",
    "lettre",
    "tower",
    "tower_http",
    "hyper",
];

/// What each room may import (besides itself), in the order data flows. Rooms not listed
/// (the wiring: `app`) may import anything.
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    let core_below = |room: &str| -> Vec<&'static str> {
        // The core's own order: domain/spatial < hazard < exposure < alerts/assessment.
        match room {
            "domain" => vec![],
            "spatial" => vec!["domain"],
            "hazard" => vec!["domain", "spatial"],
            "exposure" => vec!["domain", "spatial", "hazard"],
            _ => CORE.to_vec(),
        }
    };
    let mut m = BTreeMap::new();
    for room in CORE {
        m.insert(*room, core_below(room));
    }
    // What every adapter that reads outside geographic input shares sits below them all:
    // CRS names, geometry types, counts, GeoJSON geometry conversion, and the parsers of
    // flood extents and river basins, which both a fetched feed and a layer file carry.
    m.insert("geodata", CORE.to_vec());
    let mut core = CORE.to_vec();
    core.push("geodata");
    let with = |extra: &[&'static str]| {
        let mut v = core.clone();
        v.extend_from_slice(extra);
        v
    };
    // Adapters at the edge read outside input into core types; they do not import each
    // other, except that layers load population grids through raster.
    m.insert("feeds", with(&[]));
    m.insert("layers", with(&["raster"]));
    m.insert("raster", with(&[]));
    m.insert("metrics", vec![]);
    // notify defines the ports it needs (the outbox); the store implements them.
    m.insert("notify", with(&[]));
    m.insert("store", with(&["notify"]));
    // The validated configuration gathers every room's settings (the HTTP server's too).
    m.insert(
        "config",
        with(&["feeds", "layers", "raster", "notify", "store", "api"]),
    );
    // One run: it reads feeds and layers, assesses, stores, publishes, notifies; it never
    // calls up into the API or the wiring.
    m.insert(
        "pipeline",
        with(&[
            "feeds", "layers", "raster", "store", "notify", "metrics", "config",
        ]),
    );
    // The API reads what the pipeline published (through the store); it never runs it,
    // nor reads the whole configuration (config names the API's settings, not the reverse).
    m.insert("api", with(&["store", "notify", "metrics", "layers"]));
    m
}

/// Imports that break the rules today, each with the move of issue 16 that removes it.
/// Empty since move 3 put the flood-extent and basin parsers in geodata; the test still
/// fails when an entry listed here is gone, so a new one must name its move.
const KNOWN: &[(&str, &str, &str)] = &[];

/// The code lines of a source file: comment lines dropped, and everything from the first
/// `#[cfg(test)]` on (unit tests may reach anywhere).
fn code_of(src: &str) -> String {
    let code: Vec<&str> = src
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    let code = code.join("\n");
    match code.find("#[cfg(test)]") {
        Some(i) => code[..i].to_string(),
        None => code,
    }
}

/// The top-level rooms a file names through `crate::`, including grouped imports
/// (`use crate::{alerts::x, store::{y, z}}`).
fn crate_rooms(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let start = from + i + "crate::".len();
        from = start;
        // `crate::` preceded by an identifier character is another crate's path.
        if start >= 8 && (bytes[start - 8].is_ascii_alphanumeric() || bytes[start - 8] == b'_') {
            continue;
        }
        if code[start..].starts_with('{') {
            // Top-level names of the group: split on commas at brace depth 1.
            let mut depth = 0;
            let mut name = String::new();
            let mut at_name = true;
            for c in code[start..].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        if depth > 1 {
                            at_name = false;
                        }
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        if !name.is_empty() {
                            out.insert(std::mem::take(&mut name));
                        }
                        at_name = true;
                    }
                    c if depth == 1 && at_name && (c.is_ascii_alphanumeric() || c == '_') => {
                        name.push(c)
                    }
                    c if depth == 1 && !c.is_whitespace() => {
                        at_name = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                out.insert(name);
            }
        } else {
            let name: String = code[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out.remove("self");
    out.remove("");
    out
}

/// The I/O crates a file names (`tokio::…`, `use tokio`).
fn io_crates(code: &str) -> BTreeSet<&'static str> {
    IO_CRATES
        .iter()
        .filter(|c| {
            code.match_indices(&format!("{c}::")).any(|(i, _)| {
                i == 0 || {
                    let b = code.as_bytes()[i - 1];
                    !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')
                }
            })
        })
        .copied()
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// (room, imported room, file) for every `crate::` import of src/.
fn imports() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let room = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        for to in crate_rooms(&code) {
            if to != room {
                out.push((room.clone(), to, rel.clone()));
            }
        }
    }
    out
}

#[test]
fn the_core_imports_no_io_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let room = rel.split('/').next().unwrap().trim_end_matches(".rs");
        // geodata is no core room (the core does not need it) but is as pure: it parses
        // bytes handed to it and must not fetch or open them itself.
        if !CORE.contains(&room) && room != "geodata" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        for c in io_crates(&code) {
            bad.push(format!("{rel} uses {c}"));
        }
        for banned in ["std::fs", "std::net", "std::process"] {
            if code.contains(banned) {
                bad.push(format!("{rel} uses {banned}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "the core (or geodata) does I/O:\n{}",
        bad.join("\n")
    );
}

#[test]
fn imports_run_the_way_the_data_flows() {
    let allowed = allowed();
    let mut found: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (room, to, file) in imports() {
        let ok = match allowed.get(room.as_str()) {
            Some(may) => may.contains(&to.as_str()),
            None => true, // the wiring
        };
        if !ok {
            found.entry((room, to)).or_default().push(file);
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|(a, b, _)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<String> = found
        .iter()
        .filter(|(k, _)| !known.contains(*k))
        .map(|((a, b), files)| format!("{a} imports {b} ({})", files.join(", ")))
        .collect();
    assert!(
        new.is_empty(),
        "imports against the data flow (see ../shared/ARCHITECTURE.md):\n{}",
        new.join("\n")
    );
    let gone: Vec<String> = known
        .iter()
        .filter(|k| !found.contains_key(*k))
        .map(|(a, b)| format!("{a} -> {b}"))
        .collect();
    assert!(
        gone.is_empty(),
        "these known violations are gone: remove them from KNOWN: {}",
        gone.join(", ")
    );
}

/// The checker itself: it must see grouped and nested imports, and not take another
/// crate's `crate::` lookalike for ours.
#[test]
fn the_import_reader_sees_grouped_imports() {
    let code =
        "use crate::{alerts::x, store::{a, b}, self};\nuse crate::hazard::y;\nfoo_crate::zzz();";
    let rooms = crate_rooms(code);
    let want: BTreeSet<String> = ["alerts", "store", "hazard"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(rooms, want);
    assert_eq!(
        io_crates("let x = tokio::spawn(f); my_tokio::x(); a::tokio::b"),
        BTreeSet::from(["tokio"])
    );
}
