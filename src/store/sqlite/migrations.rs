//! The schema of the embedded store, one numbered migration per version, applied in order
//! inside a transaction (see [`super::SqliteStore`]'s `migrate`). Never edit a released
//! entry: add a new one.

/// The schema, one entry per version. Never edit a released entry: add a new one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "issuances, feeds, assessments, events, alerts, runs",
        r#"
CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('unknown', 'ok', 'degraded')),
    last_attempt TEXT,
    last_success TEXT,
    last_new_issuance TEXT,
    last_error TEXT,
    last_error_kind TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    etag TEXT,
    last_modified TEXT
);
CREATE TABLE fetch_counts (
    feed TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (feed, outcome)
);
CREATE TABLE issuances (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    url TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT,
    bytes BLOB NOT NULL,
    etag TEXT,
    last_modified TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'processed', 'failed')),
    error TEXT,
    processed_at TEXT,
    UNIQUE (feed, sha256)
);
CREATE INDEX issuances_pending ON issuances (state, id);
CREATE TABLE assessments (
    id INTEGER PRIMARY KEY,
    issuance_id INTEGER NOT NULL REFERENCES issuances (id),
    event_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX assessments_event ON assessments (event_id, id);
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    event_name TEXT NOT NULL,
    hazard TEXT NOT NULL,
    status TEXT NOT NULL,
    latest_alert TEXT NOT NULL,
    versions INTEGER NOT NULL,
    active INTEGER NOT NULL
);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (event_id),
    version INTEGER NOT NULL,
    msg_type TEXT NOT NULL,
    status TEXT NOT NULL,
    sent TEXT NOT NULL,
    max_level TEXT,
    issuance_id INTEGER REFERENCES issuances (id),
    summary TEXT NOT NULL,
    document TEXT NOT NULL,
    cap TEXT NOT NULL,
    UNIQUE (event_id, version)
);
CREATE INDEX alerts_sent ON alerts (sent);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
"#,
    ),
    (2, "subscribers and the notification outbox", MIGRATION_2),
    (3, "opt-outs that outlive an update or import", MIGRATION_3),
    (
        4,
        "SMS delivery reports, erasures, opting back in",
        MIGRATION_4,
    ),
    (5, "indexes on the subscriber foreign keys", MIGRATION_5),
    (
        6,
        "probabilistic documents attached after publication",
        MIGRATION_6,
    ),
    (
        7,
        "accommodation-centre registers and occupancy updates",
        MIGRATION_7,
    ),
    (
        8,
        "proposals waiting for an approver, and the audit trail",
        MIGRATION_8,
    ),
    (
        9,
        "manual overrides of district levels set by editing a proposal",
        MIGRATION_9,
    ),
    (10, "notification holds set by an approver", MIGRATION_10),
];

/// Migration 2: subscribers and the outbox.
const MIGRATION_2: &str = r#"
CREATE TABLE subscribers (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    active INTEGER NOT NULL,
    unsubscribe_token TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE subscriber_phones (
    phone TEXT NOT NULL,
    subscriber_id TEXT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    PRIMARY KEY (phone, subscriber_id)
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    subscriber_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    channel TEXT NOT NULL,
    notice TEXT NOT NULL,
    level TEXT,
    alert_sent TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    gateway_id TEXT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_event ON outbox (event_id, subscriber_id, version);
CREATE TABLE outbox_attempts (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id),
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    gateway_id TEXT,
    answer TEXT NOT NULL
);
CREATE INDEX outbox_attempts_row ON outbox_attempts (outbox_id, attempt);
"#;

/// Migration 3: opt-outs that outlive an update or an import. A subscriber who used the
/// e-mail link is marked (`opted_out_at`) and stays inactive until an admin reactivates
/// them; a number that replied STOP is kept in `sms_optouts`, so re-importing an operator's
/// spreadsheet that still lists it does not undo the person's refusal.
const MIGRATION_3: &str = r#"
ALTER TABLE subscribers ADD COLUMN opted_out_at TEXT;
CREATE TABLE sms_optouts (
    phone TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
"#;

/// Migration 4: SMS delivery reports on the outbox message (found by the gateway's
/// message id, hence the index); why a subscriber opted out (`sms`: a STOP, which a START
/// undoes; `link`: the e-mail link, which only an admin undoes); erased subscribers' STOPs
/// kept as digests; and the erasures themselves, for the audit trail.
const MIGRATION_4: &str = r#"
ALTER TABLE outbox ADD COLUMN dlr_state TEXT
    CHECK (dlr_state IN ('delivered', 'undelivered', 'in_transit'));
ALTER TABLE outbox ADD COLUMN dlr_status TEXT;
ALTER TABLE outbox ADD COLUMN dlr_reason TEXT;
ALTER TABLE outbox ADD COLUMN dlr_at TEXT;
CREATE INDEX outbox_gateway_id ON outbox (gateway_id) WHERE gateway_id IS NOT NULL;
ALTER TABLE subscribers ADD COLUMN opted_out_by TEXT;
CREATE TABLE sms_optout_digests (
    digest TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE TABLE erasures (
    id INTEGER PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    erased_at TEXT NOT NULL,
    erased_by TEXT NOT NULL,
    messages_failed INTEGER NOT NULL,
    messages_scrubbed INTEGER NOT NULL
);
"#;

/// Migration 5: indexes on the subscriber foreign keys (issue 17 finding 3). Without
/// them every imported or updated row ran `DELETE FROM subscriber_phones WHERE
/// subscriber_id = ?` as a full scan (a 100 k-row import took 288 s, quadratic), and
/// deactivating, erasing or deleting a subscriber scanned the whole outbox.
const MIGRATION_5: &str = r#"
CREATE INDEX subscriber_phones_subscriber ON subscriber_phones (subscriber_id);
CREATE INDEX outbox_subscriber ON outbox (subscriber_id, state);
CREATE INDEX erasures_subscriber ON erasures (subscriber_id);
"#;

/// Migration 6: the document of a version with its probabilities, when they were computed
/// after the version was published (issue 12: an alert never waits more than
/// `[probabilistic] publish_wait_s` for them). A separate table, written once: the version
/// as published (`alerts.document`, `alerts.cap`) is never rewritten, so the digest of what
/// went out stays true.
const MIGRATION_6: &str = r#"
CREATE TABLE alert_annexes (
    alert_id TEXT PRIMARY KEY REFERENCES alerts (id),
    document TEXT NOT NULL,
    attached_at TEXT NOT NULL
);
"#;

/// Migration 7: the accommodation-centre and site registers (issue 14). Every accepted
/// register and every accepted occupancy update is a new revision holding the whole
/// register as it then stood (`record`: `crate::domain::Register` as JSON, entries with
/// their dated occupancy history); the highest revision is the register in force, the
/// older ones its history. Each occupancy update's figures are also kept one per row, with
/// the revision they made, so the history says who sent which figure when.
const MIGRATION_7: &str = r#"
CREATE TABLE registers (
    revision INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('register', 'occupancy')),
    source TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    entries INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE occupancy_updates (
    id INTEGER PRIMARY KEY,
    revision INTEGER NOT NULL REFERENCES registers (revision),
    code TEXT NOT NULL,
    date TEXT NOT NULL,
    individuals REAL,
    households REAL,
    source TEXT NOT NULL
);
CREATE INDEX occupancy_updates_revision ON occupancy_updates (revision);
"#;

/// Migration 8 (issue 13): versions proposed for publication and the decisions on them;
/// the append-only audit trail (triggers refuse UPDATE and DELETE, whatever the caller).
const MIGRATION_8: &str = r#"
CREATE TABLE proposals (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('proposed', 'published', 'rejected', 'superseded')),
    created_at TEXT NOT NULL,
    base TEXT,
    issuance_id INTEGER REFERENCES issuances (id),
    summary TEXT NOT NULL,
    document TEXT NOT NULL,
    cap TEXT NOT NULL,
    published TEXT NOT NULL,
    edited_by TEXT,
    decided_by TEXT,
    decided_at TEXT,
    reason TEXT,
    superseded_by INTEGER REFERENCES proposals (id)
);
CREATE UNIQUE INDEX proposals_one_open ON proposals (event_id) WHERE state = 'proposed';
CREATE INDEX proposals_issuance ON proposals (issuance_id);
CREATE INDEX proposals_superseded_by ON proposals (superseded_by);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT,
    cap_sha256 TEXT,
    document_sha256 TEXT,
    detail TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#;

/// Migration 9 (issue 13): manual overrides of a district's level, set by editing a
/// proposal, with the edit's free-text instruction. A row is never deleted: lifting sets
/// `lifted_by`/`lifted_at`, so who overrode what stays visible beside the audit trail.
const MIGRATION_9: &str = r#"
CREATE TABLE overrides (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    pcode TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('green', 'yellow', 'orange', 'red')),
    reason TEXT NOT NULL,
    instruction_pt TEXT,
    instruction_en TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    lifted_by TEXT,
    lifted_at TEXT,
    proposal_id INTEGER REFERENCES proposals (id)
);
CREATE INDEX overrides_event ON overrides (event_id, id);
"#;

/// Migration 10 (issue 13): an approver's hold on an event's subscriber notifications,
/// with a reason and an optional expiry. A row is never deleted: lifting sets
/// `lifted_by`/`lifted_at`/`lift_reason`, so who held what stays visible beside the audit
/// trail.
const MIGRATION_10: &str = r#"
CREATE TABLE notification_holds (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    lifted_by TEXT,
    lifted_at TEXT,
    lift_reason TEXT
);
CREATE INDEX notification_holds_event ON notification_holds (event_id, id);
"#;
