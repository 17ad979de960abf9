//! `aviso store backup | restore | migrate` (issue 15 item 4) through the real binary: the
//! store the demo fills (`aviso serve --demo`: Freddy replayed from its best track and the
//! Limpopo flood forecast) is backed up and restored on SQLite, migrated to PostgreSQL
//! (the test cluster, common::pg), backed up there with pg_dump and restored into a second
//! database with pg_restore; at every step the rows and content digest of every table are
//! compared with the original's, and what the `Store` trait reads back is compared too.
//! The store carries a register and an occupancy update (the demo imports none) so the
//! registers are among the tables compared.
//! Refusals (a store that is not fresh, tables PostgreSQL cannot hold yet) and a failing
//! integrity check are checked through the exit status and the message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use aviso::store::config::StoreConfig;
use aviso::store::postgres::PgStore;
use aviso::store::sqlite::{SqliteStore, ops};
use aviso::store::tables::{StoreCheck, TABLES, TableCheck};
use aviso::store::{AlertFilter, Inserted, RawIssuance, Store};

use crate::common::{self, pg};
use crate::store_registers::from as provenance;
use crate::store_registers::{dtm_register, figure, with_figure};

/// `aviso ARGS` with the environment's store password removed: (success, stdout, stderr).
fn aviso(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aviso"))
        .args(args)
        .env_remove("AVISO_STORE_PASSWORD")
        .env_remove("PGPASSWORD")
        .env_remove("AVISO_STATE_DIR")
        .env_remove("AVISO_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configuration file naming the PostgreSQL store `url`.
fn pg_config(dir: &Path, name: &str, url: &str) -> PathBuf {
    let p = dir.join(name);
    let publish_all = crate::common::PUBLISH_ALL;
    std::fs::write(&p, format!("{publish_all}[store]\nurl = {url:?}\n")).unwrap();
    p
}

fn open_pg(url: &str) -> PgStore {
    PgStore::open(&StoreConfig {
        url: Some(url.to_string()),
        ..StoreConfig::default()
    })
    .unwrap()
}

/// Runs the demo on a store in `dir` until it holds the storm's and the flood's first
/// versions, then stops it (SIGTERM). `None` when the demo's data is absent.
fn demo_store(dir: &Path) -> Option<PathBuf> {
    common::data_file("tracks/ibtracs_v04r01_last3years_moz_region_2022-2025.csv")?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aviso"));
    cmd.args([
        "serve",
        "--demo",
        "--demo-step",
        "1",
        "--listen",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(dir)
    .env_remove("AVISO_CONFIG");
    let (mut child, _api) = common::spawn_service(cmd);
    let file = dir.join("aviso.sqlite");
    // Deadline for a debug build on 2 busy cores; the demo publishes within ~25 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let rows = ops::check(&file)
            .ok()
            .map(|c| c.rows().get("alerts").copied());
        if rows.flatten().unwrap_or(0) >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the demo published fewer than 2 versions in 300 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "aviso serve --demo ended with {status}");
    Some(file)
}

/// The tables of `check` that the PostgreSQL store holds.
fn copied(check: &StoreCheck) -> Vec<TableCheck> {
    check
        .tables
        .iter()
        .filter(|t| TABLES.iter().any(|s| s.postgres && s.name == t.table))
        .cloned()
        .collect()
}

/// What the API would list and serve, through the `Store` trait.
fn published(store: &dyn Store) -> (Vec<String>, BTreeMap<String, (String, String)>) {
    let filter = AlertFilter {
        include_non_actual: true,
        ..AlertFilter::default()
    };
    let list = store.alerts(&filter).unwrap();
    let mut ids: Vec<String> = list.iter().map(|a| a.id.clone()).collect();
    ids.sort();
    let docs = ids
        .iter()
        .map(|id| {
            let r = store.alert(id).unwrap().unwrap();
            (id.clone(), (r.document, r.cap))
        })
        .collect();
    (ids, docs)
}

/// A new issuance stored after the copy gets an id past every copied one.
fn insert_after_copy(store: &dyn Store, max_id: i64) {
    let bytes = b"{\"after\": \"the copy\"}".to_vec();
    let raw = RawIssuance {
        feed: "after-copy".into(),
        url: "http://127.0.0.1/after".into(),
        fetched_at: chrono::Utc::now(),
        sha256: RawIssuance::sha256_hex(&bytes),
        content_type: None,
        bytes,
        etag: None,
        last_modified: None,
    };
    match store.insert_issuance(&raw).unwrap() {
        Inserted::New(id) => assert!(id > max_id, "new id {id} after copied ids up to {max_id}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_demo_store_survives_migrate_then_backup_and_restore_on_both_backends() {
    let work = tempfile::tempdir().unwrap();
    let Some(store) = demo_store(&work.path().join("demo")) else {
        return;
    };
    // The registers CCCM keeps (the demo imports none): the DTM fixture, then an
    // occupancy update, as the admin API saves them.
    let register = {
        use aviso::store::registers::RegisterStore;
        let lite = SqliteStore::open(&store).unwrap();
        let register = dtm_register();
        let r1 = lite
            .save_register(&register, &provenance("dtm.csv", "cccm"))
            .unwrap();
        let f = figure(&register.entries[1].code, 85.0, "round-3.csv row 4");
        let updated = with_figure(&register, &f);
        lite.save_occupancy(r1, &updated, &[f], &provenance("round-3.csv", "dtm"))
            .unwrap()
            .unwrap();
        lite.current_register().unwrap().unwrap()
    };
    let original = ops::check(&store).unwrap();
    assert_eq!(original.integrity.as_deref(), Some("ok"));
    let rows = original.rows();
    assert_eq!((rows["registers"], rows["occupancy_updates"]), (2, 1));
    for t in [
        "feeds",
        "issuances",
        "assessments",
        "events",
        "alerts",
        "runs",
    ] {
        assert!(rows[t] > 0, "the demo stored no {t}: {original}");
    }
    let lite = SqliteStore::open(&store).unwrap();
    let (ids, docs) = published(&lite);
    assert!(ids.len() >= 2, "{ids:?}");
    let max_issuance = lite
        .alerts(&AlertFilter {
            include_non_actual: true,
            ..AlertFilter::default()
        })
        .unwrap()
        .iter()
        .filter_map(|a| a.issuance_id)
        .max()
        .unwrap();
    drop(lite);

    // SQLite: backup, then restore into a fresh folder.
    let demo_dir = store.parent().unwrap().display().to_string();
    let backup = work.path().join("aviso-backup.sqlite");
    let backup_s = backup.display().to_string();
    let (ok, out, err) = aviso(&[
        "store",
        "backup",
        "--data-dir",
        &demo_dir,
        "--to",
        &backup_s,
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("integrity check: ok"), "{out}");
    let kept: StoreCheck = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("aviso-backup.sqlite.check.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        kept.tables, original.tables,
        "the backup's report is the store's"
    );
    let (ok, _, err) = aviso(&[
        "store",
        "backup",
        "--data-dir",
        &demo_dir,
        "--to",
        &backup_s,
    ]);
    assert!(!ok && err.contains("never overwritten"), "{err}");

    let fresh = work.path().join("fresh");
    let fresh_s = fresh.display().to_string();
    let (ok, out, err) = aviso(&[
        "store",
        "restore",
        "--data-dir",
        &fresh_s,
        "--from",
        &backup_s,
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("integrity check: ok"), "{out}");
    let restored = ops::check(&fresh.join("aviso.sqlite")).unwrap();
    assert_eq!(
        restored.tables, original.tables,
        "rows and digests after restore"
    );
    assert_eq!(restored.schema_version, original.schema_version);
    assert_eq!(
        published(&SqliteStore::open(&fresh.join("aviso.sqlite")).unwrap()),
        (ids.clone(), docs.clone())
    );
    // A second restore into the same, now full, store is refused.
    let (ok, _, err) = aviso(&[
        "store",
        "restore",
        "--data-dir",
        &fresh_s,
        "--from",
        &backup_s,
    ]);
    assert!(!ok && err.contains("holds data"), "{err}");

    // SQLite -> PostgreSQL.
    let Some(url1) = pg::fresh_database() else {
        return;
    };
    let from = format!("sqlite:{}", store.display());
    let (ok, out, err) = aviso(&["store", "migrate", "--from", &from, "--to", &url1]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("rows and digests agree"), "{out}");
    let pg1 = open_pg(&url1);
    let c1 = pg1.check().unwrap();
    assert_eq!(copied(&c1), copied(&original), "PostgreSQL after migrate");
    assert!(
        copied(&c1)
            .iter()
            .any(|t| t.table == "registers" && t.rows == 2)
    );
    assert_eq!(published(&pg1), (ids.clone(), docs.clone()));
    assert_eq!(
        aviso::store::registers::RegisterStore::current_register(&pg1)
            .unwrap()
            .as_ref(),
        Some(&register),
        "the register in force, read back from PostgreSQL"
    );
    // Migrating again into the database that now holds the copy is refused.
    let (ok, _, err) = aviso(&["store", "migrate", "--from", &from, "--to", &url1]);
    assert!(!ok && err.contains("holds data already"), "{err}");

    // PostgreSQL: pg_dump, then pg_restore into a second, empty database.
    let dump = work.path().join("aviso.dump");
    let dump_s = dump.display().to_string();
    let cfg1 = pg_config(work.path(), "pg1.toml", &url1);
    let cfg1_s = cfg1.display().to_string();
    let (ok, out, err) = aviso(&["store", "backup", "--config", &cfg1_s, "--to", &dump_s]);
    assert!(ok, "{out}{err}");
    let Some(url2) = pg::fresh_database() else {
        return;
    };
    let cfg2 = pg_config(work.path(), "pg2.toml", &url2);
    let cfg2_s = cfg2.display().to_string();
    let (ok, out, err) = aviso(&["store", "restore", "--config", &cfg2_s, "--from", &dump_s]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("integrity check: ok"), "{out}");
    let pg2 = open_pg(&url2);
    let c2 = pg2.check().unwrap();
    assert_eq!(c2.tables, c1.tables, "PostgreSQL after pg_restore");
    assert_eq!(
        copied(&c2),
        copied(&original),
        "and still the SQLite original's"
    );
    assert_eq!(published(&pg2), (ids, docs));
    assert_eq!(
        aviso::store::registers::RegisterStore::register_history(&pg2).unwrap(),
        aviso::store::registers::RegisterStore::register_history(&pg1).unwrap()
    );
    let (ok, _, err) = aviso(&["store", "restore", "--config", &cfg2_s, "--from", &dump_s]);
    assert!(!ok && err.contains("holds aviso's tables already"), "{err}");

    // Both copies go on storing with fresh ids, and revisions after the copied ones.
    insert_after_copy(&pg1, max_issuance);
    insert_after_copy(&pg2, max_issuance);
    for pg in [&pg1, &pg2] {
        use aviso::store::registers::RegisterStore;
        let next = pg
            .save_register(&register.register, &provenance("dtm-v2.csv", "cccm"))
            .unwrap();
        assert!(next > register.info.revision, "{next}");
    }
}

/// A store holding one issuance, in `dir`.
fn small_store(dir: &Path) -> PathBuf {
    let s = SqliteStore::open_dir(dir).unwrap();
    insert_after_copy(&s, 0);
    s.path().to_path_buf()
}

#[test]
fn migrate_refuses_naming_the_tables_postgres_cannot_hold_yet() {
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = small_store(dir.path());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        // A register (PostgreSQL holds those since its migration 6: not a refusal) and a
        // table the copy does not know (a refusal).
        c.execute_batch(
            "INSERT INTO registers (revision, kind, source, imported_by, imported_at, entries, record)
                VALUES (1, 'register', 'centros.csv', 'cenoe', '2026-12-01T00:00:00.000000Z', 0, '{}');
             CREATE TABLE later_table (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO later_table (body) VALUES ('a table a later migration adds');",
        )
        .unwrap();
    }
    let from = format!("sqlite:{}", path.display());
    let (ok, out, err) = aviso(&["store", "migrate", "--from", &from, "--to", &url]);
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("later_table (1 rows; a table the copy does not know)"),
        "{err}"
    );
    assert!(
        !err.contains("registers"),
        "registers are copied now: {err}"
    );
    assert!(err.contains("Nothing was copied"), "{err}");
    assert_eq!(
        pg::psql(
            &url,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'issuances'"
        ),
        "0",
        "the target was not touched"
    );
    // Not a sqlite: source.
    let (ok, _, err) = aviso(&["store", "migrate", "--from", "/tmp/x.sqlite", "--to", &url]);
    assert!(!ok && err.contains("expected sqlite:PATH"), "{err}");
}

#[test]
fn restore_fails_the_integrity_check_when_the_backup_does_not_match_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    small_store(&src);
    let backup = dir.path().join("b.sqlite");
    let (ok, out, err) = aviso(&[
        "store",
        "backup",
        "--data-dir",
        &src.display().to_string(),
        "--to",
        &backup.display().to_string(),
    ]);
    assert!(ok, "{out}{err}");
    // The report kept beside the backup says the issuances were different.
    let sidecar = dir.path().join("b.sqlite.check.json");
    let mut check: StoreCheck =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    let t = check
        .tables
        .iter_mut()
        .find(|t| t.table == "issuances")
        .unwrap();
    t.sha256 = "0".repeat(64);
    std::fs::write(&sidecar, serde_json::to_string(&check).unwrap()).unwrap();
    let target = dir.path().join("target");
    let (ok, out, err) = aviso(&[
        "store",
        "restore",
        "--data-dir",
        &target.display().to_string(),
        "--from",
        &backup.display().to_string(),
    ]);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("integrity check FAILED"), "{err}");
    assert!(err.contains("table issuances: content differs"), "{err}");
    assert!(
        !target.join("aviso.sqlite").exists(),
        "nothing restored from a backup that fails its check"
    );
}

#[test]
fn a_postgres_restore_that_differs_from_its_dump_report_fails_naming_the_table() {
    let Some(url1) = pg::fresh_database() else {
        return;
    };
    let Some(url2) = pg::fresh_database() else {
        return;
    };
    insert_after_copy(&open_pg(&url1), 0);
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("a.dump");
    let dump_s = dump.display().to_string();
    let cfg1 = pg_config(dir.path(), "a.toml", &url1).display().to_string();
    let (ok, out, err) = aviso(&["store", "backup", "--config", &cfg1, "--to", &dump_s]);
    assert!(ok, "{out}{err}");
    // The report kept beside the dump says there were two feeds' health rows.
    let sidecar = dir.path().join("a.dump.check.json");
    let mut check: StoreCheck =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    let feeds = check
        .tables
        .iter_mut()
        .find(|t| t.table == "feeds")
        .unwrap();
    assert_eq!(feeds.rows, 1);
    feeds.rows = 2;
    std::fs::write(&sidecar, serde_json::to_string(&check).unwrap()).unwrap();
    let cfg2 = pg_config(dir.path(), "b.toml", &url2).display().to_string();
    let (ok, out, err) = aviso(&["store", "restore", "--config", &cfg2, "--from", &dump_s]);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("integrity check FAILED"), "{err}");
    assert!(err.contains("table feeds: 1 rows, expected 2"), "{err}");
}

#[test]
fn a_migration_that_fails_half_way_keeps_nothing() {
    let Some(url) = pg::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = small_store(dir.path());
    // A column the PostgreSQL schema lacks, in a table copied after the issuances.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "ALTER TABLE runs ADD COLUMN note TEXT;
             INSERT INTO runs (feed, started_at, outcome, note) VALUES ('f', '2026-12-01T00:00:00.000000Z', 'ok', 'x');",
        )
        .unwrap();
    let from = format!("sqlite:{}", path.display());
    let (ok, out, err) = aviso(&["store", "migrate", "--from", &from, "--to", &url]);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("table runs has no column note"), "{err}");
    // The issuance was inserted before the failure, in the same transaction: gone.
    assert_eq!(pg::psql(&url, "SELECT count(*) FROM issuances"), "0");
    assert_eq!(pg::psql(&url, "SELECT count(*) FROM feeds"), "0");
}

/// The approval workflow's tables and the notification tables survive the move: a SQLite
/// store with a superseded proposal (pointing at a newer row, so its reference is checked
/// at commit), a rejected one, a published one with its messages, one still waiting, and
/// their audit rows, is migrated; PostgreSQL reads back the same proposals, audit trail,
/// subscribers and outbox, and goes on from there (a new proposal, a decision).
#[test]
fn proposals_audit_rows_subscribers_and_the_outbox_migrate_to_postgres() {
    use aviso::alerts::levels::Level;
    use aviso::alerts::versioning::MsgType;
    use aviso::notify::config::NotifyConfig;
    use aviso::notify::dispatch::plan_version;
    use aviso::notify::select::NoGeometry;
    use aviso::store::approval::{ApprovalStore, Decision, NewProposal, ProposalState};
    use aviso::store::notify::{OutboxStore, SubscriberStore};

    use crate::store_backends::alert;
    use crate::store_notify::{published, sub, t};

    let Some(url) = pg::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteStore::open_dir(dir.path()).unwrap();
    lite.create_subscriber(&sub("beira", "+258841111111", "MZ0910"), t(0))
        .unwrap();
    let propose = |s: &dyn ApprovalStore, event: &str, v: u32, base: Option<&str>, h: i64| {
        let a = alert(event, v, MsgType::Alert, None);
        let p = published(v, MsgType::Alert, &[("MZ0910", Level::Red)]);
        let n = NewProposal {
            alert: &a,
            published: &p,
            base,
            edited_by: None,
            issuance_id: None,
            overrides: &[],
        };
        s.propose(None, n, t(h)).unwrap()
    };
    let first = propose(&lite, "ev-a", 1, None, 1);
    let second = propose(&lite, "ev-a", 1, None, 2);
    let reject = Decision::Reject {
        actor: "duty-officer",
        reason: "aguardar",
    };
    assert_eq!(lite.decide(second, reject, t(3)).unwrap(), Ok(0));
    let approved = propose(&lite, "ev-b", 1, None, 4);
    let planned = plan_version(
        &lite,
        &published(1, MsgType::Alert, &[("MZ0910", Level::Red)]),
        &NotifyConfig::default(),
        &NoGeometry,
    )
    .unwrap();
    let approve = Decision::Approve {
        actor: "duty-officer",
        note: None,
        planned: &planned,
        four_eyes: true,
        held: None,
    };
    assert_eq!(lite.decide(approved, approve, t(5)).unwrap(), Ok(1));
    let waiting = propose(&lite, "ev-c", 1, None, 6);
    let proposals = lite.proposals(None).unwrap();
    assert_eq!(proposals.len(), 4);
    assert_eq!(
        lite.proposal(first).unwrap().unwrap().superseded_by,
        Some(second)
    );
    let audit = lite.audit_log(0, 1000).unwrap();
    let outbox = lite.outbox(None).unwrap();
    assert_eq!(outbox.len(), 1);
    let path = lite.path().to_path_buf();
    drop(lite);

    let from = format!("sqlite:{}", path.display());
    let (ok, out, err) = aviso(&["store", "migrate", "--from", &from, "--to", &url]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("rows and digests agree"), "{out}");
    let pg = open_pg(&url);
    assert_eq!(pg.proposals(None).unwrap(), proposals);
    assert_eq!(pg.audit_log(0, 1000).unwrap(), audit);
    assert_eq!(pg.outbox(None).unwrap(), outbox);
    assert_eq!(pg.subscribers(false).unwrap().len(), 1);

    // And goes on: a newer proposal supersedes the copied one waiting, with a fresh id,
    // and is approved.
    let newer = propose(&pg, "ev-c", 1, None, 7);
    assert!(newer > waiting, "{newer} after the copied {waiting}");
    let p = pg.proposal(waiting).unwrap().unwrap();
    assert_eq!(
        (p.state, p.superseded_by),
        (ProposalState::Superseded, Some(newer))
    );
    let approve = Decision::Approve {
        actor: "duty-officer",
        note: None,
        planned: &[],
        four_eyes: true,
        held: None,
    };
    assert_eq!(pg.decide(newer, approve, t(8)).unwrap(), Ok(0));
    let last = pg.audit_log(0, 1000).unwrap().pop().unwrap();
    assert!(last.id > audit.last().unwrap().id);
    assert_eq!(last.entry.action, "approved");
}
