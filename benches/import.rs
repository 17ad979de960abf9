//! Bench of a large subscriber import against the store (issue 17 finding 3): 100,000
//! subscribers (one phone, one district each) imported through
//! `SubscriberStore::import_subscribers` while another thread stores a raw issuance every
//! 20 ms, as the pipeline does first in every publication cycle. Reports the import's
//! time and the longest, median and 99th-percentile wait of those service writes:
//! before issue 17 the import held the one writer for its whole run (100 k rows: 288 s
//! in the probe), so a publication waited that long.
//!
//! Run: `cargo bench --bench import` (optionally `-- ROWS`). A bench binary, not
//! criterion: one long run is the measurement. Needs no shared data.
//!
//! Measured 2026-12-02 on the project's 2-core machine (shared with other builds):
//! `import of 100000 subscribers: parse 554.47ms, store 14.40s (100000 created); 197
//! service writes during it: longest wait 152.96ms, median 43.85ms, p99 133.85ms` (a
//! service write's own commit, fsync included, is part of each wait).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;

use aviso::notify::subscriber::{KnownPcodes, from_csv};
use aviso::store::notify::SubscriberStore;
use aviso::store::sqlite::SqliteStore;
use aviso::store::{RawIssuance, Store};

fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
    let mut csv = String::from("id,name,phones,districts\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "sub-{i:06},Ponto focal {i},+25884{:07},MZ1103\n",
            i % 10_000_000
        ));
    }
    let known = KnownPcodes::from_pairs([("MZ1103", "MZ11")]);
    let t = Instant::now();
    let subs = from_csv(csv.as_bytes(), &known).unwrap();
    let parse = t.elapsed();

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut waits = Vec::new();
            let mut n = 0u64;
            while !done.load(Ordering::SeqCst) {
                n += 1;
                let body = format!("{{\"issuance\": {n}}}").into_bytes();
                let raw = RawIssuance {
                    feed: "bench".into(),
                    url: "http://127.0.0.1/bench".into(),
                    fetched_at: Utc::now(),
                    sha256: RawIssuance::sha256_hex(&body),
                    content_type: Some("application/json".into()),
                    bytes: body,
                    etag: None,
                    last_modified: None,
                };
                let t = Instant::now();
                store.insert_issuance(&raw).unwrap();
                waits.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(20));
            }
            waits
        })
    };
    let t = Instant::now();
    let report = store.import_subscribers(&subs, Utc::now()).unwrap();
    let import = t.elapsed();
    done.store(true, Ordering::SeqCst);
    let mut waits = writer.join().unwrap();
    waits.sort();
    let pct = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize];
    println!(
        "import of {rows} subscribers: parse {parse:.2?}, store {import:.2?} ({} created); {} service writes during it: longest wait {:.2?}, median {:.2?}, p99 {:.2?}",
        report.created,
        waits.len(),
        waits.last().copied().unwrap_or_default(),
        pct(0.5),
        pct(0.99),
    );
}
