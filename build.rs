//! Link settings of aviso's executables (the binary, tests, benches). Reads nothing, writes
//! nothing but cargo instructions.
//!
//! The store's SQLite is bundled (rusqlite `bundled`: a static archive), while GDAL, a
//! shared library, links the system SQLite. GNU ld exports from an executable every symbol
//! a shared library it links against references, so GDAL's `sqlite3_*` calls bound to the
//! bundled copy inside the executable, and closing any GeoPackage crashed (SIGSEGV in
//! `sqlite3LeaveMutexAndCloseZombie`: `aviso assess --layers
//! layers/manifest_full_resolution.toml`, or `--flood-extent x.gpkg`). `--exclude-libs,ALL`
//! keeps the symbols of static archives out of the dynamic symbol table: each SQLite then
//! serves its own user.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg=-Wl,--exclude-libs,ALL");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
