//! A replica's memory of the alert documents and CAP it has served (issue 15): on
//! PostgreSQL the documents are TOASTed columns (a cyclone's is about 2 MB), and reading
//! one again for every request made `/api/alerts/{id}` six times slower than on SQLite.
//!
//! Keyed by what makes a body change, as the API's ETag is: the version's id, which body
//! (the document as published, the annex attached later, the CAP) and the time that names
//! it (`sent` for the first and the last, `attached_at` for the annex). A published version
//! never changes and its annex is attached once, so a body under one key never changes.
//! The store asks the database for that key (one small indexed read, no TOASTed column)
//! on every request and only then looks here: an annex another replica attached is seen at
//! once, and nothing the database does not hold now (an uncommitted or restored-away
//! version) is served. Only bodies read from committed rows are put here.
//!
//! Bounded by the bytes it holds ([`DocumentCache::new`]); the least recently served body
//! leaves first. Must not depend on the pipeline or the API.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

/// Which body of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Part {
    /// The GeoJSON document as published.
    Published,
    /// The GeoJSON document attached after publication.
    Annex,
    /// The CAP XML.
    Cap,
}

/// (version id, part, the time naming it in microseconds).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub id: String,
    pub part: Part,
    pub stamp: i64,
}

struct Entry {
    body: Bytes,
    /// When it was last served ([`State::tick`]).
    used: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    tick: u64,
}

/// Bodies by [`Key`], at most `budget` bytes of them.
pub(super) struct DocumentCache {
    budget: usize,
    state: Mutex<State>,
}

impl DocumentCache {
    /// A cache holding at most `budget` bytes of bodies; 0 holds nothing.
    pub fn new(budget: usize) -> DocumentCache {
        DocumentCache {
            budget,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the map consistent (no step can fail
        // half-way): keep using it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The body under `key`, if held.
    pub fn get(&self, key: &Key) -> Option<Bytes> {
        let mut s = self.state();
        s.tick += 1;
        let tick = s.tick;
        let e = s.entries.get_mut(key)?;
        e.used = tick;
        Some(e.body.clone())
    }

    /// Keeps `body` under `key`, evicting the least recently served bodies past the
    /// budget. A body larger than the whole budget is not kept. An annex makes the
    /// document as published of the same version useless here (the annex is served from
    /// then on): it leaves.
    pub fn put(&self, key: Key, body: Bytes) {
        if body.len() > self.budget {
            return;
        }
        let mut s = self.state();
        if key.part == Part::Annex {
            let stale: Vec<Key> = s
                .entries
                .keys()
                .filter(|k| k.id == key.id && k.part == Part::Published)
                .cloned()
                .collect();
            for k in stale {
                s.remove(&k);
            }
        }
        s.tick += 1;
        let used = s.tick;
        s.bytes += body.len();
        if let Some(old) = s.entries.insert(key, Entry { body, used }) {
            s.bytes -= old.body.len();
        }
        while s.bytes > self.budget {
            let Some(oldest) = s
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            s.remove(&oldest);
        }
    }

    /// (bodies held, their bytes).
    #[cfg(test)]
    pub fn usage(&self) -> (usize, usize) {
        let s = self.state();
        (s.entries.len(), s.bytes)
    }
}

impl State {
    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.body.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, part: Part, stamp: i64) -> Key {
        Key {
            id: id.into(),
            part,
            stamp,
        }
    }

    fn body(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn a_body_is_found_only_under_its_own_key() {
        let c = DocumentCache::new(1000);
        c.put(key("a", Part::Published, 1), Bytes::from_static(b"doc"));
        assert_eq!(
            c.get(&key("a", Part::Published, 1)),
            Some(Bytes::from_static(b"doc"))
        );
        assert_eq!(c.get(&key("a", Part::Published, 2)), None, "another time");
        assert_eq!(c.get(&key("a", Part::Cap, 1)), None, "another part");
        assert_eq!(c.get(&key("b", Part::Published, 1)), None, "another id");
    }

    #[test]
    fn the_least_recently_served_body_leaves_first_and_the_budget_holds() {
        let c = DocumentCache::new(300);
        c.put(key("a", Part::Published, 1), body(100));
        c.put(key("b", Part::Published, 1), body(100));
        c.put(key("c", Part::Published, 1), body(100));
        assert!(c.get(&key("a", Part::Published, 1)).is_some());
        c.put(key("d", Part::Cap, 1), body(100));
        assert_eq!(c.usage(), (3, 300));
        assert!(
            c.get(&key("b", Part::Published, 1)).is_none(),
            "b was oldest"
        );
        assert!(c.get(&key("a", Part::Published, 1)).is_some());
        assert!(c.get(&key("c", Part::Published, 1)).is_some());
        c.put(key("e", Part::Published, 1), body(250));
        assert_eq!(c.usage(), (1, 250), "room made for e");
        c.put(key("f", Part::Published, 1), body(301));
        assert!(
            c.get(&key("f", Part::Published, 1)).is_none(),
            "over budget"
        );
        assert_eq!(c.usage(), (1, 250));
        let none = DocumentCache::new(0);
        none.put(key("a", Part::Cap, 1), body(1));
        assert_eq!(none.usage(), (0, 0));
    }

    #[test]
    fn an_annex_replaces_the_document_as_published_of_its_version_only() {
        let c = DocumentCache::new(1000);
        c.put(key("a", Part::Published, 1), body(100));
        c.put(key("a", Part::Cap, 1), body(10));
        c.put(key("b", Part::Published, 1), body(100));
        c.put(key("a", Part::Annex, 7), body(120));
        assert!(c.get(&key("a", Part::Published, 1)).is_none());
        assert!(c.get(&key("a", Part::Cap, 1)).is_some());
        assert!(c.get(&key("b", Part::Published, 1)).is_some());
        assert_eq!(c.usage(), (3, 230));
        // The same key again replaces its body and counts it once.
        c.put(key("a", Part::Annex, 7), body(120));
        assert_eq!(c.usage(), (3, 230));
    }
}
