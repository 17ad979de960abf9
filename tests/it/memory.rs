//! The service's glibc malloc settings (issue 17's soak: memory must come back after
//! load). `aviso serve` caps malloc's arenas and fixes its mmap threshold at start
//! (`app::service::tune_malloc`), unless the operator already tunes malloc through
//! `GLIBC_TUNABLES`: then their settings stand. What the settings do to RSS is measured
//! in benches/soak.rs, never asserted here.

use aviso::app::service::operator_tunes_malloc;

#[test]
fn an_operators_malloc_tunables_are_kept() {
    // The glibc manual's syntax: colon-separated `name=value` pairs.
    assert!(operator_tunes_malloc(Some("glibc.malloc.arena_max=4")));
    assert!(operator_tunes_malloc(Some(
        "glibc.rtld.nns=2:glibc.malloc.trim_threshold=131072"
    )));
}

#[test]
fn other_tunables_or_none_leave_the_service_its_own_settings() {
    assert!(!operator_tunes_malloc(None));
    assert!(!operator_tunes_malloc(Some("")));
    assert!(!operator_tunes_malloc(Some(
        "glibc.rtld.nns=2:glibc.pthread.rseq=0"
    )));
}
