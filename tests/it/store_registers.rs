//! The accommodation-centre registers on both backends (issue 14 on issue 15's
//! PostgreSQL store): the embedded SQLite store and the PostgreSQL store on a real server
//! (common::pg, a fresh database per test), through the `RegisterStore` trait only (what
//! the admin API, the CLI and the plans rely on), on the real DTM fixture of Sofala and
//! Zambezia sites. Plus what only several replicas on one database can show: replicas
//! adding occupancy figures at once, each retrying on a stale base as the admin API asks
//! its caller to, lose none of them and make one revision each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use aviso::domain::{Occupancy, Register};
use aviso::store::StoreError;
use aviso::store::registers::{OccupancyFigure, Provenance, RegisterStore, RevisionKind};
use aviso::store::sqlite::SqliteStore;
use chrono::NaiveDate;

use crate::common::pg;
use crate::store_notify::replica;

/// One database's register store, and how to reach it again.
struct Backend {
    name: &'static str,
    registers: Arc<dyn RegisterStore>,
    /// PostgreSQL's URL, or SQLite's directory.
    url: Option<String>,
    dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// The store opened again (a restart, or another replica).
    fn reopen(&self) -> Arc<dyn RegisterStore> {
        match (&self.url, &self.dir) {
            (Some(url), _) => replica(url),
            (None, Some(d)) => Arc::new(SqliteStore::open_dir(d.path()).unwrap()),
            (None, None) => unreachable!(),
        }
    }

    /// The first column of the first row of `sql`, as text.
    fn scalar(&self, sql: &str) -> String {
        match (&self.url, &self.dir) {
            (Some(url), _) => pg::psql(url, sql),
            (None, Some(d)) => rusqlite::Connection::open(d.path().join("aviso.sqlite"))
                .unwrap()
                .query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
                .unwrap(),
            (None, None) => unreachable!(),
        }
    }

    fn exec(&self, sql: &str) {
        match (&self.url, &self.dir) {
            (Some(url), _) => {
                pg::psql(url, sql);
            }
            (None, Some(d)) => rusqlite::Connection::open(d.path().join("aviso.sqlite"))
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            (None, None) => unreachable!(),
        }
    }
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    Backend {
        name: "sqlite",
        registers: Arc::new(SqliteStore::open_dir(dir.path()).unwrap()),
        url: None,
        dir: Some(dir),
    }
}

fn postgres() -> Option<Backend> {
    let url = pg::fresh_database()?;
    Some(Backend {
        name: "postgres",
        registers: replica(&url),
        url: Some(url),
        dir: None,
    })
}

fn on_both(case: impl Fn(&Backend)) {
    case(&sqlite());
    if let Some(p) = postgres() {
        case(&p);
    }
}

pub(crate) fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/register/dtm_sites_sofala_zambezia.hxl.csv")
}

/// The DTM fixture as the core reads it (no issue).
pub(crate) fn dtm_register() -> Register {
    let (register, issues) = aviso::layers::register::read_register(
        &fixture(),
        &aviso::layers::register::ReadOptions::default(),
    )
    .unwrap();
    assert!(issues.is_empty(), "{issues:?}");
    assert!(
        register.entries.len() > 4,
        "{} entries",
        register.entries.len()
    );
    register
}

pub(crate) fn from(source: &str, by: &str) -> Provenance {
    Provenance {
        source: source.into(),
        imported_by: by.into(),
        at: chrono::Utc::now(),
    }
}

pub(crate) fn figure(code: &str, individuals: f64, source: &str) -> OccupancyFigure {
    OccupancyFigure {
        code: code.into(),
        date: NaiveDate::from_ymd_opt(2023, 3, 12).unwrap(),
        individuals: Some(individuals),
        households: Some((individuals / 5.0).round()),
        source: source.into(),
    }
}

/// `register` with `f` recorded on its entry `f.code` (what `RegisterBook` does).
pub(crate) fn with_figure(register: &Register, f: &OccupancyFigure) -> Register {
    let mut r = register.clone();
    let e = r.entries.iter_mut().find(|e| e.code == f.code).unwrap();
    e.record_occupancy(Occupancy {
        date: f.date,
        individuals: f.individuals,
        households: f.households,
        source: f.source.clone(),
    });
    r
}

/// The store keeps every revision, the newest in force, and refuses an occupancy update
/// checked against a register that is no longer in force (two editors at once).
#[test]
fn the_register_store_keeps_each_revision_and_refuses_an_update_of_a_stale_one_on_both_backends() {
    let register = dtm_register();
    on_both(|b| {
        let store = &b.registers;
        assert!(store.current_register().unwrap().is_none(), "{}", b.name);
        assert!(store.current_revision().unwrap().is_none(), "{}", b.name);
        assert!(store.register_history().unwrap().is_empty(), "{}", b.name);
        let r1 = store
            .save_register(&register, &from("dtm.csv", "cccm"))
            .unwrap();
        // Occupancy on the register in force: a new revision holding the figure.
        let code = register.entries[0].code.clone();
        let f = figure(&code, 120.0, "round-3.csv row 3");
        let updated = with_figure(&register, &f);
        let r2 = store
            .save_occupancy(
                r1,
                &updated,
                std::slice::from_ref(&f),
                &from("round-3.csv", "dtm"),
            )
            .unwrap()
            .expect("r1 is in force");
        assert!(r2 > r1, "{}", b.name);
        // A second update checked against r1 comes too late: nothing is stored.
        assert_eq!(
            store
                .save_occupancy(r1, &register, &[f], &from("round-3b.csv", "dtm"))
                .unwrap(),
            None,
            "{}",
            b.name
        );
        let current = store.current_register().unwrap().unwrap();
        assert_eq!(current.info.revision, r2, "{}", b.name);
        assert_eq!(current.info.kind, RevisionKind::Occupancy, "{}", b.name);
        assert_eq!(current.info.entries, register.entries.len(), "{}", b.name);
        assert_eq!(current.info.source, "round-3.csv", "{}", b.name);
        assert_eq!(
            current.register, updated,
            "{}: the register reads back as saved",
            b.name
        );
        assert_eq!(
            current.register.entries[0]
                .latest_occupancy()
                .unwrap()
                .individuals,
            Some(120.0),
            "{}",
            b.name
        );
        let history = store.register_history().unwrap();
        assert_eq!(
            history
                .iter()
                .map(|h| (h.revision, h.kind, h.imported_by.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (r2, RevisionKind::Occupancy, "dtm"),
                (r1, RevisionKind::Register, "cccm")
            ],
            "{}",
            b.name
        );
        assert_eq!(store.current_revision().unwrap().unwrap(), history[0]);
        // The figure is also kept on its own row, with the revision it made; the refused
        // update left none.
        assert_eq!(
            b.scalar(&format!(
                "SELECT COUNT(*) FROM occupancy_updates WHERE revision = {r2} AND code = '{code}' \
                 AND date = '2023-03-12' AND source = 'round-3.csv row 3'"
            )),
            "1",
            "{}",
            b.name
        );
        assert_eq!(b.scalar("SELECT COUNT(*) FROM occupancy_updates"), "1");
        // Reopened (a restart, another replica): the same register in force.
        let again = b.reopen();
        assert_eq!(
            again.current_register().unwrap().unwrap().register,
            updated,
            "{}",
            b.name
        );
        // A new import is in force over the occupancy revision, which stays in the history.
        let r3 = again
            .save_register(&register, &from("dtm-v2.csv", "cccm"))
            .unwrap();
        assert!(r3 > r2, "{}", b.name);
        let current = store.current_register().unwrap().unwrap();
        assert_eq!(
            (current.info.revision, current.info.kind),
            (r3, RevisionKind::Register)
        );
        assert_eq!(current.register, register, "{}", b.name);
        assert_eq!(store.register_history().unwrap().len(), 3, "{}", b.name);
    });
}

/// A revision whose register does not read back is an error naming the table and the
/// revision, not an empty register; the history (which does not read registers) still
/// answers.
#[test]
fn a_register_row_that_does_not_read_back_is_an_error_naming_its_revision_on_both_backends() {
    let register = dtm_register();
    on_both(|b| {
        let r = b
            .registers
            .save_register(&register, &from("dtm.csv", "cccm"))
            .unwrap();
        b.exec(&format!(
            "UPDATE registers SET record = '{{\"not\": \"a register\"}}' WHERE revision = {r}"
        ));
        let err = b.registers.current_register().unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { what, .. } if what == &format!("registers {r}")),
            "{}: {err:?}",
            b.name
        );
        assert!(err.to_string().contains(&format!("registers {r}")), "{err}");
        assert_eq!(b.registers.register_history().unwrap().len(), 1);
        assert_eq!(b.registers.current_revision().unwrap().unwrap().revision, r);
    });
}

/// Two replicas (their own pools) add occupancy figures at once, one thread per site of
/// the fixture (up to 16) on alternate replicas, every thread one figure for its own site,
/// retrying on `None` from the register then in force (what a 409 asks of the admin API's
/// caller): the register in force holds every figure, each in one revision of its own, and
/// no figure row is lost or doubled. (Without the advisory lock in postgres/registers.rs
/// this fails: two updates on one base both commit and the later one drops the other's
/// figure.)
#[test]
fn replicas_adding_occupancy_at_once_lose_no_figure_and_make_one_revision_each() {
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let register = dtm_register();
    let replicas = [replica(&url), replica(&url)];
    let base = replicas[0]
        .save_register(&register, &from("dtm.csv", "cccm"))
        .unwrap();
    const THREADS: usize = 16;
    let n = THREADS.min(register.entries.len());
    let codes: Vec<String> = register.entries[..n]
        .iter()
        .map(|e| e.code.clone())
        .collect();
    let barrier = Arc::new(Barrier::new(n));
    let retries: usize = std::thread::scope(|s| {
        let handles: Vec<_> = codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                let store = Arc::clone(&replicas[i % 2]);
                let barrier = Arc::clone(&barrier);
                s.spawn(move || {
                    let f = figure(code, 10.0 * (i + 1) as f64, &format!("t{i}.csv row 3"));
                    barrier.wait();
                    for attempt in 0..200 {
                        let current = store.current_register().unwrap().unwrap();
                        let updated = with_figure(&current.register, &f);
                        let saved = store
                            .save_occupancy(
                                current.info.revision,
                                &updated,
                                std::slice::from_ref(&f),
                                &from(&format!("t{i}.csv"), "dtm"),
                            )
                            .unwrap();
                        if saved.is_some() {
                            return attempt;
                        }
                    }
                    panic!("thread {i}: never saved in 200 attempts");
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let check = replica(&url);
    let current = check.current_register().unwrap().unwrap();
    for (i, code) in codes.iter().enumerate() {
        let e = current
            .register
            .entries
            .iter()
            .find(|e| &e.code == code)
            .unwrap();
        assert_eq!(
            e.latest_occupancy().map(|o| o.individuals),
            Some(Some(10.0 * (i + 1) as f64)),
            "the figure of thread {i} ({code}) is lost from the register in force"
        );
    }
    let history = check.register_history().unwrap();
    assert_eq!(history.len(), n + 1, "one revision per figure: {history:?}");
    assert!(history.windows(2).all(|w| w[0].revision > w[1].revision));
    assert_eq!(history.last().unwrap().revision, base);
    assert_eq!(
        pg::psql(
            &url,
            "SELECT COUNT(*) || ' ' || COUNT(DISTINCT revision) FROM occupancy_updates"
        ),
        format!("{n} {n}")
    );
    // A figure for the report, not an assertion: how often a base had gone stale.
    println!("{n} figures from two replicas: {retries} retries on a stale base");
}

/// A database at the schema before the registers (PostgreSQL migrations 1, 3 and 4 on
/// main: the numbers have gaps, 2 and 5 being other branches') gains migration 6 when a
/// replica of this build opens it, and keeps what it held.
#[test]
fn a_database_without_the_registers_gains_them_on_opening_across_the_gap_in_numbers() {
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let versions = || {
        pg::psql(
            &url,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations",
        )
    };
    let all: Vec<i64> = aviso::store::postgres::PG_MIGRATIONS
        .iter()
        .map(|m| m.0)
        .collect();
    let join = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let before: Vec<i64> = all.iter().copied().filter(|v| *v != 6).collect();
    assert!(
        all.contains(&6) && !all.contains(&2),
        "a gap in the numbers: {all:?}"
    );
    drop(replica(&url));
    assert_eq!(versions(), join(&all));
    // Back to the schema of a build without migration 6, holding a feed's health row.
    pg::psql(
        &url,
        "DROP TABLE occupancy_updates, registers;
         DELETE FROM schema_migrations WHERE version = 6;
         INSERT INTO feeds (name, state) VALUES ('rsmc', 'ok');",
    );
    assert_eq!(versions(), join(&before));
    let store = replica(&url);
    assert_eq!(versions(), join(&all));
    assert_eq!(pg::psql(&url, "SELECT name FROM feeds"), "rsmc");
    let r = store
        .save_register(&dtm_register(), &from("dtm.csv", "cccm"))
        .unwrap();
    assert_eq!(store.current_revision().unwrap().unwrap().revision, r);
}
