//! Shared helpers for integration tests: where ../shared/data is, and skipping politely
//! when it is absent (but never in CI, where AVISO_REQUIRE_DATA=1).
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared data folder: $AVISO_DATA_DIR, else ../shared/data beside the repository.
pub fn data_dir() -> PathBuf {
    std::env::var_os("AVISO_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}

/// A file under the shared data folder, or `None` (with a message) when it is absent.
/// Panics instead when AVISO_REQUIRE_DATA is set: CI has the data and must not skip.
pub fn data_file(rel: &str) -> Option<PathBuf> {
    let p = data_dir().join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("AVISO_REQUIRE_DATA").is_some() {
        panic!("{} is missing but AVISO_REQUIRE_DATA is set", p.display());
    }
    eprintln!("skipping: {} not found (set AVISO_DATA_DIR)", p.display());
    None
}
