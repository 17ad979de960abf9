//! The PostgreSQL store serves `/api/alerts/{id}` and its CAP from each replica's memory
//! (issue 15: reading the TOASTed document for every request made the route six times
//! slower than on SQLite). What the cache must never change: the bytes served, an annex
//! attached through another replica seen at once, nothing served that is not committed,
//! and the memory it holds bounded. Two `PgStore` handles on one database are two
//! replicas; the document is the real districts layer (2.1 MB, the size of a cyclone's
//! alert document, so it is TOASTed as one is).

use aviso::alerts::versioning::MsgType;
use aviso::store::config::StoreConfig;
use aviso::store::postgres::PgStore;
use aviso::store::{Inserted, NewAlert, ServedDocument, Store};
use chrono::{TimeZone, Utc};

use crate::common::{self, pg};
use crate::store_backends::{alert, raw};

const DISTRICTS: &str = "boundaries/moz_adm2_ocha_ine_20190607_s100m.geojson";

fn replica(url: &str, cache_mb: usize) -> PgStore {
    PgStore::open(&StoreConfig {
        url: Some(url.to_string()),
        pool_size: 2,
        document_cache_mb: cache_mb,
        ..StoreConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A version whose document is `document` (the real layer's text).
fn big_version(event: &str, version: u32, issuance: i64, document: &str) -> NewAlert {
    let mut a = alert(event, version, MsgType::Alert, Some(issuance));
    a.document = document.to_string();
    a
}

fn issuance(s: &dyn Store, body: &[u8]) -> i64 {
    match s.insert_issuance(&raw("rsmc", body)).unwrap() {
        Inserted::New(id) => id,
        other => panic!("expected a new issuance, got {other:?}"),
    }
}

fn served(s: &PgStore, id: &str) -> ServedDocument {
    s.alert_document(id)
        .unwrap()
        .unwrap_or_else(|| panic!("{id} not served"))
}

#[test]
fn the_cached_document_is_the_stored_bytes_and_an_annex_attached_by_another_replica_is_served_at_once()
 {
    let Some(layer) = common::read_data(DISTRICTS) else {
        return;
    };
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let document = String::from_utf8(layer).unwrap();
    assert!(
        document.len() > 2_000_000,
        "{DISTRICTS}: {}",
        document.len()
    );
    let a = replica(&url, 64);
    let b = replica(&url, 64);
    let i1 = issuance(&a, b"one");
    let v = big_version("freddy", 1, i1, &document);
    let id = v.summary.id.clone();
    a.complete_issuance(i1, &[], std::slice::from_ref(&v))
        .unwrap();

    // Read twice through each replica: the second read is the cached one. Same bytes as
    // stored, as the whole record has them, and the same ETag as before the cache.
    let rec = a.alert(&id).unwrap().unwrap();
    for r in [&a, &b, &a, &b] {
        let d = served(r, &id);
        assert_eq!(d.body.as_ref(), document.as_bytes());
        assert_eq!(d.body.as_ref(), rec.document.as_bytes());
        assert_eq!(d.sent, v.summary.sent);
        assert_eq!(d.attached_at, None);
        assert_eq!(d.etag(), format!("\"{id}-{}\"", v.summary.sent.timestamp()));
        let cap = r.alert_cap(&id).unwrap().unwrap();
        assert_eq!(cap.as_ref(), v.cap.as_bytes());
    }
    // Replica B attaches the late document; A, which holds the published one in memory,
    // serves the annex on its very next read, under the annex's ETag.
    let mut annexed: serde_json::Value = serde_json::from_str(&document).unwrap();
    annexed["aviso"] = serde_json::json!({"probabilities": {"MZ0910": 0.8}});
    let annexed = annexed.to_string();
    let at = Utc.with_ymd_and_hms(2023, 3, 10, 9, 30, 0).unwrap();
    assert!(b.attach_document(&id, &annexed, at).unwrap());
    for r in [&a, &a, &b] {
        let d = served(r, &id);
        assert_eq!(
            d.body.as_ref(),
            annexed.as_bytes(),
            "the annex, not the cached one"
        );
        assert_eq!(d.attached_at, Some(at));
        assert_eq!(
            d.etag(),
            format!(
                "\"{id}-{}-p{}\"",
                v.summary.sent.timestamp(),
                at.timestamp_millis()
            )
        );
        assert_eq!(
            d.body.as_ref(),
            r.alert(&id).unwrap().unwrap().current_document().as_bytes()
        );
        // The CAP is the version's as published: the annex leaves it as it is.
        assert_eq!(
            r.alert_cap(&id).unwrap().unwrap().as_ref(),
            v.cap.as_bytes()
        );
    }
    // A version whose transaction rolled back (its issuance was processed already) is
    // served by neither replica, and an unknown id is not found.
    let late = big_version("freddy", 2, i1, &document);
    assert!(
        a.complete_issuance(i1, &[], std::slice::from_ref(&late))
            .is_err()
    );
    for r in [&a, &b] {
        assert_eq!(r.alert_document(&late.summary.id).unwrap(), None);
        assert_eq!(r.alert_cap(&late.summary.id).unwrap(), None);
        assert_eq!(r.alert_document("aviso-no-such-version").unwrap(), None);
    }
}

#[test]
fn a_replica_without_a_cache_or_with_room_for_one_document_serves_the_same_bytes() {
    let Some(layer) = common::read_data(DISTRICTS) else {
        return;
    };
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let document = String::from_utf8(layer).unwrap();
    let writer = replica(&url, 0);
    let i1 = issuance(&writer, b"one");
    let i2 = issuance(&writer, b"two");
    let v1 = big_version("freddy", 1, i1, &document);
    let mut v2 = big_version("freddy", 2, i2, &document);
    v2.document.push(' ');
    writer
        .complete_issuance(i1, &[], std::slice::from_ref(&v1))
        .unwrap();
    writer
        .complete_issuance(i2, &[], std::slice::from_ref(&v2))
        .unwrap();
    // 0 MB: nothing kept; 3 MB: room for one 2.1 MB document, so the two versions read in
    // turn evict each other. Either way each read is its own version's bytes.
    for r in [replica(&url, 0), replica(&url, 3)] {
        for v in [&v1, &v2, &v1, &v2, &v1] {
            let d = served(&r, &v.summary.id);
            assert_eq!(d.body.as_ref(), v.document.as_bytes(), "{}", v.summary.id);
        }
    }
}
