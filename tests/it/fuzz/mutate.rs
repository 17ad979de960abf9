//! The seeded mutation engine of the fuzz tests: turns real files (the seeds) into damaged
//! variants: bit flips, truncation at structural boundaries, line and field edits, splices
//! between seeds, numbers replaced by extremes, invalid UTF-8, huge lines and, for JSON
//! seeds, edits of the parsed tree. Test-only; depends on nothing of aviso.
//!
//! Deterministic: the bytes of case `i` depend only on the run seed, the target's name and
//! `i` (ChaCha8, stream `i`), so a failing case is reproduced from its index alone.
//!
//! Written by hand rather than with `arbitrary` or `proptest`: those generate values from a
//! type's shape or a strategy and shrink them, while these parsers are best reached by
//! editing real files in the ways feeds really break (a cut-off download, a spreadsheet that
//! moved a column, "NaN" where a number was); `arbitrary` bytes would nearly all fail at the
//! first byte. cargo-afl (coverage-guided) would need AFL++ built and one harness per
//! parser: not done here (see README, "Fuzzing").

use rand::{RngExt as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// No mutated input is longer than this (1 MiB): every parser sees bounded input, so a run
/// cannot stall on a giant buffer and a slow case is the parser's doing.
pub const MAX_LEN: usize = 1 << 20;

/// One seed: a real file (or a slice of one), its name, and its parsed JSON tree when it
/// is JSON (for tree edits).
pub struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
    json: Option<Value>,
}

impl Seed {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Seed {
        let json = serde_json::from_slice(&bytes).ok();
        Seed {
            name: name.into(),
            bytes,
            json,
        }
    }
}

/// The generator of case `index` of `target` under run seed `run_seed`.
pub fn rng_for(run_seed: u64, target: &str, index: u64) -> ChaCha8Rng {
    // FNV-1a of the target name, so targets draw different streams from one run seed.
    let name_hash = target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = ChaCha8Rng::seed_from_u64(run_seed ^ name_hash);
    rng.set_stream(index);
    rng
}

/// A damaged variant of one of `seeds` (chosen at random; all are splice donors): a JSON
/// seed's tree edited or not, then 1, 2, 4 or 8 stacked byte mutations, capped at
/// [`MAX_LEN`].
pub fn mutated(rng: &mut ChaCha8Rng, seeds: &[Seed]) -> Vec<u8> {
    if seeds.is_empty() {
        return Vec::new();
    }
    let seed = &seeds[rng.random_range(0..seeds.len())];
    mutated_seed(rng, seed, seeds)
}

/// A damaged variant of `seed`, splicing from `donors` (as [`mutated`]).
pub fn mutated_seed(rng: &mut ChaCha8Rng, seed: &Seed, donors: &[Seed]) -> Vec<u8> {
    let mut data = match &seed.json {
        Some(tree) if rng.random_bool(0.4) => {
            let mut tree = tree.clone();
            for _ in 0..rng.random_range(1..4) {
                mutate_json(rng, &mut tree);
            }
            serde_json::to_vec(&tree).unwrap_or_else(|_| seed.bytes.clone())
        }
        _ => seed.bytes.clone(),
    };
    let stacked = 1usize << rng.random_range(0..4);
    for _ in 0..stacked {
        mutate_bytes(rng, &mut data, donors);
    }
    // A huge line or cell (1 KiB to 256 KiB), a runaway writer: after the stacked edits,
    // which would otherwise spend their time copying it.
    if rng.random_ratio(1, 16) {
        let n = 1usize << rng.random_range(10..=18);
        let unit: &[u8] = match rng.random_range(0..4u8) {
            0 => b"9",
            1 => b",",
            2 => b"[",
            _ => b"x",
        };
        let at = pos(rng, data.len());
        insert(&mut data, at, &unit.repeat(n));
    }
    data.truncate(MAX_LEN);
    data
}

/// Bytes that delimit structure in the formats fuzzed (CSV, JSON, XML, ATCF, HXL).
const BOUNDARIES: &[u8] = b"\n\r,;:\"'{}[]<>/ =#+&";

/// Values that break number parsing or range checks.
const EXTREMES: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "-0",
    "-0.0",
    "0",
    "1e308",
    "-1e308",
    "1e309",
    "1e-400",
    "4.9e-324",
    "99999999999999999999999999",
    "-9223372036854775809",
    "9223372036854775807",
    "18446744073709551616",
    "2147483648",
    "-2147483649",
    "",
    " ",
    "0x1F",
    "1,5",
    "1.2.3",
    "--1",
    "+",
    "e",
    "\u{0664}\u{0662}",
    "１２",
    "null",
];

/// Tokens inserted whole: JSON and XML syntax, escapes, separators.
const TOKENS: &[&str] = &[
    "null",
    "[]",
    "{}",
    "\"\"",
    "\\u0000",
    "\"\\ud800\"",
    "\0",
    "<![CDATA[",
    "]]>",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "&bogus;",
    "<x>",
    "</x>",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE x [<!ENTITY a \"b\">]>",
    "\"",
    ",",
    ",,,,",
    "\r\n",
    "\n\n",
    "\u{feff}",
    "#",
    "+",
    "#geo+lat",
    "SH,",
    "BUFR",
    "7777",
];

/// Byte sequences that are not UTF-8 (lone continuation, truncated lead, surrogate, 0xFF).
const INVALID_UTF8: &[&[u8]] = &[
    &[0x80],
    &[0xC3],
    &[0xE2, 0x82],
    &[0xED, 0xA0, 0x80],
    &[0xFF, 0xFE],
    &[0xF8, 0x88, 0x80, 0x80, 0x80],
];

const INTERESTING_BYTES: &[u8] = &[
    0x00, 0xFF, 0x7F, 0x80, 0x01, b'"', b',', b'\n', b'\r', b'{', b'}', b'[', b']', b'<', b'>',
    b'&', b';', b':', b'-', b'.', b'#', b'+', b' ', b'\t', b'\\', b'0', b'9', b'e',
];

fn pos(rng: &mut ChaCha8Rng, len: usize) -> usize {
    rng.random_range(0..=len)
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn insert(data: &mut Vec<u8>, at: usize, what: &[u8]) {
    data.splice(at..at, what.iter().copied());
}

/// Lines of `data`, each without its '\n'.
fn lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// Start and end of every number-like token (`-12.5`, `1e5`, `0372E` counts as `0372`).
fn numbers(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let starts = data[i].is_ascii_digit()
            || (data[i] == b'-' && data.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts {
            let start = i;
            i += 1;
            while i < data.len()
                && (data[i].is_ascii_digit()
                    || data[i] == b'.'
                    || ((data[i] == b'e' || data[i] == b'E')
                        && data
                            .get(i + 1)
                            .is_some_and(|c| c.is_ascii_digit() || *c == b'-')))
            {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// One byte-level mutation of `data`; `seeds` give lines to splice in.
pub fn mutate_bytes(rng: &mut ChaCha8Rng, data: &mut Vec<u8>, seeds: &[Seed]) {
    let len = data.len();
    match rng.random_range(0..18u8) {
        0 if len > 0 => {
            let i = rng.random_range(0..len);
            data[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.random_range(0..len);
            data[i] = *pick(rng, INTERESTING_BYTES);
        }
        2 => {
            let at = pos(rng, len);
            data.truncate(at);
        }
        3 => {
            // Cut just before or after a structural byte: a download cut mid-record.
            let wanted = *pick(rng, BOUNDARIES);
            let hits: Vec<usize> = data
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == wanted)
                .map(|(i, _)| i)
                .collect();
            if !hits.is_empty() {
                let at = *pick(rng, &hits) + usize::from(rng.random_bool(0.5));
                data.truncate(at);
            }
        }
        4 if len > 0 => {
            let start = rng.random_range(0..len);
            let end = (start + rng.random_range(1..=64)).min(len);
            data.drain(start..end);
        }
        5 if len > 0 => {
            let start = rng.random_range(0..len);
            let end = (start + rng.random_range(1..=64)).min(len);
            let copy = data[start..end].to_vec();
            let at = pos(rng, len);
            insert(data, at, &copy);
        }
        6 => {
            let mut ls = lines(data);
            let n = ls.len();
            match rng.random_range(0..4u8) {
                0 => {
                    ls.remove(rng.random_range(0..n));
                }
                1 => {
                    let l = ls[rng.random_range(0..n)].clone();
                    ls.insert(rng.random_range(0..=n), l);
                }
                2 => ls.swap(rng.random_range(0..n), rng.random_range(0..n)),
                _ => {
                    let l = ls.remove(rng.random_range(0..n));
                    ls.insert(rng.random_range(0..n), l);
                }
            }
            *data = join(&ls);
        }
        7 => {
            // Splice: a line of another (or the same) seed replaces or joins one of ours.
            let donor = lines(&pick(rng, seeds).bytes);
            let line = pick(rng, &donor).clone();
            let mut ls = lines(data);
            let i = rng.random_range(0..ls.len());
            if rng.random_bool(0.5) {
                ls[i] = line;
            } else {
                ls.insert(i, line);
            }
            *data = join(&ls);
        }
        8 => {
            // Field edits on one line: delete, duplicate, swap or empty a comma field.
            let mut ls = lines(data);
            let i = rng.random_range(0..ls.len());
            let mut fields: Vec<Vec<u8>> =
                ls[i].split(|&b| b == b',').map(<[u8]>::to_vec).collect();
            let n = fields.len();
            match rng.random_range(0..4u8) {
                0 if n > 1 => {
                    fields.remove(rng.random_range(0..n));
                }
                1 => {
                    let f = fields[rng.random_range(0..n)].clone();
                    fields.insert(rng.random_range(0..=n), f);
                }
                2 => fields.swap(rng.random_range(0..n), rng.random_range(0..n)),
                _ => fields[rng.random_range(0..n)].clear(),
            }
            ls[i] = fields.join(&b',');
            *data = join(&ls);
        }
        9..=11 => {
            // The most useful one: a number becomes an extreme, a non-number or nothing.
            let found = numbers(data);
            if !found.is_empty() {
                let (start, end) = *pick(rng, &found);
                let with = pick(rng, EXTREMES).as_bytes();
                data.splice(start..end, with.iter().copied());
            }
        }
        12 => {
            let at = pos(rng, len);
            let bad: &[u8] = INVALID_UTF8[rng.random_range(0..INVALID_UTF8.len())];
            insert(data, at, bad);
        }
        13 | 14 => {
            let at = pos(rng, len);
            insert(data, at, pick(rng, TOKENS).as_bytes());
        }
        15 if len > 0 => {
            // Overwrite 1..4 bytes with a big-endian extreme: BUFR lengths and counts.
            let width = rng.random_range(1..=4usize).min(len);
            let at = rng.random_range(0..=len - width);
            let value: u32 = match rng.random_range(0..5u8) {
                0 => 0,
                1 => u32::MAX,
                2 => 1,
                3 => u32::from(data[at]).wrapping_add(1),
                _ => rng.random(),
            };
            let bytes = value.to_be_bytes();
            data[at..at + width].copy_from_slice(&bytes[4 - width..]);
        }
        16 => {
            // Line endings as another platform writes them.
            *data = if rng.random_bool(0.5) {
                data.iter()
                    .flat_map(|&b| {
                        if b == b'\n' {
                            vec![b'\r', b'\n']
                        } else {
                            vec![b]
                        }
                    })
                    .collect()
            } else {
                data.iter()
                    .map(|&b| if b == b'\n' { b'\r' } else { b })
                    .collect()
            };
        }
        _ => {
            // Two seeds glued at random points.
            let other = &pick(rng, seeds).bytes;
            let cut = pos(rng, len);
            let from = pos(rng, other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
    }
}

/// A node of `tree` reached by a random walk from the root.
fn random_node<'a>(rng: &mut ChaCha8Rng, node: &'a mut Value) -> &'a mut Value {
    if !rng.random_bool(0.75) {
        return node;
    }
    let len = match node {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    };
    if len == 0 {
        return node;
    }
    let i = rng.random_range(0..len);
    match node {
        Value::Array(a) => random_node(rng, &mut a[i]),
        Value::Object(o) => {
            let child = o.values_mut().nth(i).expect("index below the length");
            random_node(rng, child)
        }
        other => other,
    }
}

/// One edit of a JSON tree: a value swapped for another type or an extreme, a member or
/// element removed or duplicated, deep nesting.
fn mutate_json(rng: &mut ChaCha8Rng, tree: &mut Value) {
    let node = random_node(rng, tree);
    match rng.random_range(0..12u8) {
        0 => *node = Value::Null,
        1 => *node = Value::Bool(rng.random_bool(0.5)),
        2 => *node = Value::String(String::new()),
        3 => *node = Value::String(pick(rng, EXTREMES).to_string()),
        4 => {
            let n = pick(
                rng,
                &[1e308, -1e308, f64::MIN_POSITIVE, -0.0, 4.9e-324, 1e15],
            );
            *node = serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number);
        }
        5 => *node = Value::from(*pick(rng, &[i64::MIN, i64::MAX, -1, 0, 2_147_483_648])),
        6 => *node = Value::from(u64::MAX),
        7 => *node = Value::Array(Vec::new()),
        8 => *node = Value::Object(serde_json::Map::new()),
        9 => {
            // Nesting just under and over serde_json's recursion limit (128).
            let depth = rng.random_range(100..140);
            let mut v = Value::Null;
            for _ in 0..depth {
                v = Value::Array(vec![v]);
            }
            *node = v;
        }
        10 => match node {
            Value::Object(o) if !o.is_empty() => {
                let i = rng.random_range(0..o.len());
                if let Some(k) = o.keys().nth(i).cloned() {
                    o.remove(&k);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(rng.random_range(0..a.len()));
            }
            _ => *node = Value::Null,
        },
        _ => match node {
            Value::Array(a) if !a.is_empty() => {
                let v = a[rng.random_range(0..a.len())].clone();
                let at = rng.random_range(0..=a.len());
                a.insert(at, v);
            }
            Value::Object(o) => {
                o.insert("unexpected".into(), Value::from(-1));
            }
            other => *other = Value::Array(vec![other.clone(), other.clone()]),
        },
    }
}
