//! The schema of the PostgreSQL store, one numbered migration per version, applied in
//! order inside one transaction under an advisory lock (replicas starting together migrate
//! once). The PostgreSQL dialect of the SQLite schema (`super::super::sqlite::MIGRATIONS`)
//! with its own numbering: the two sequences move independently (PostgreSQL's 1 is
//! SQLite's 1 and 6: what [`crate::store::Store`] keeps; 3 is SQLite's 2 to 5; 4 is
//! SQLite's 8; 6 is SQLite's 7). Never edit a released entry: add a new one.
//!
//! Dialect choices: `timestamptz` for times (SQLite keeps fixed-width RFC 3339 text so
//! that text order is time order; PostgreSQL orders times natively), `bytea` for bodies,
//! `boolean` for flags, identity columns for ids. Documents and summaries stay `text`,
//! not `jsonb`: `jsonb` reorders keys and drops whitespace, and the published document
//! must stay byte for byte what went out (its digest is quoted).

/// Key of the advisory lock taken while migrating ("aviso" in ASCII).
pub const MIGRATION_LOCK: i64 = 0x61_76_69_73_6f;

/// The schema, one entry per version. Never edit a released entry: add a new one.
pub const PG_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "issuances, feeds, assessments, events, alerts, annexes, runs",
        r#"
CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('unknown', 'ok', 'degraded')),
    last_attempt TIMESTAMPTZ,
    last_success TIMESTAMPTZ,
    last_new_issuance TIMESTAMPTZ,
    last_error TEXT,
    last_error_kind TEXT,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    etag TEXT,
    last_modified TEXT
);
CREATE TABLE fetch_counts (
    feed TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (feed, outcome)
);
CREATE TABLE issuances (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed TEXT NOT NULL,
    url TEXT NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT,
    bytes BYTEA NOT NULL,
    etag TEXT,
    last_modified TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'processed', 'failed')),
    error TEXT,
    processed_at TIMESTAMPTZ,
    UNIQUE (feed, sha256)
);
CREATE INDEX issuances_pending ON issuances (state, id);
CREATE TABLE assessments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issuance_id BIGINT NOT NULL REFERENCES issuances (id),
    event_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX assessments_event ON assessments (event_id, id);
CREATE INDEX assessments_issuance ON assessments (issuance_id);
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    event_name TEXT NOT NULL,
    hazard TEXT NOT NULL,
    status TEXT NOT NULL,
    latest_alert TEXT NOT NULL,
    versions BIGINT NOT NULL,
    active BOOLEAN NOT NULL
);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (event_id),
    version BIGINT NOT NULL,
    msg_type TEXT NOT NULL,
    status TEXT NOT NULL,
    sent TIMESTAMPTZ NOT NULL,
    max_level TEXT,
    issuance_id BIGINT REFERENCES issuances (id),
    summary TEXT NOT NULL,
    document TEXT NOT NULL,
    cap TEXT NOT NULL,
    UNIQUE (event_id, version)
);
CREATE INDEX alerts_sent ON alerts (sent);
CREATE TABLE alert_annexes (
    alert_id TEXT PRIMARY KEY REFERENCES alerts (id),
    document TEXT NOT NULL,
    attached_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_finished ON runs (finished_at);
"#,
    ),
    // 2 is left to the branch that takes it (numbers are handed out per feature, so two
    // branches never write the same one); a database at 3 without 2 is not possible once
    // both are merged in order, and `migrate` applies every number above the current one.
    (
        3,
        "subscribers, opt-outs, erasures and the notification outbox",
        PG_MIGRATION_3,
    ),
    (
        4,
        "proposals waiting for an approver, and the audit trail",
        PG_MIGRATION_4,
    ),
    (
        5,
        "manual overrides of district levels set by editing a proposal",
        PG_MIGRATION_5,
    ),
    (
        6,
        "accommodation-centre registers and occupancy updates",
        PG_MIGRATION_6,
    ),
    (7, "notification holds set by an approver", PG_MIGRATION_7),
];

/// Migration 3: subscribers and the outbox, SQLite's migrations 2 to 5 in one (the
/// PostgreSQL store starts with all of them). Several replicas claim the outbox with
/// `FOR UPDATE SKIP LOCKED` under a lease (`lease_until`): `outbox_due` serves that scan.
/// The unsubscribe token is 122 random bits from `gen_random_uuid()` (the server's
/// `pg_strong_random`, core since PostgreSQL 13), 32 hex digits as on SQLite.
const PG_MIGRATION_3: &str = r#"
CREATE TABLE subscribers (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    unsubscribe_token TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    opted_out_at TIMESTAMPTZ,
    opted_out_by TEXT
);
CREATE TABLE subscriber_phones (
    phone TEXT NOT NULL,
    subscriber_id TEXT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    PRIMARY KEY (phone, subscriber_id)
);
CREATE INDEX subscriber_phones_subscriber ON subscriber_phones (subscriber_id);
CREATE TABLE sms_optouts (
    phone TEXT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
);
CREATE TABLE sms_optout_digests (
    digest TEXT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
);
CREATE TABLE erasures (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    erased_at TIMESTAMPTZ NOT NULL,
    erased_by TEXT NOT NULL,
    messages_failed BIGINT NOT NULL,
    messages_scrubbed BIGINT NOT NULL
);
CREATE INDEX erasures_subscriber ON erasures (subscriber_id);
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    subscriber_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    channel TEXT NOT NULL,
    notice TEXT NOT NULL,
    level TEXT,
    alert_sent TIMESTAMPTZ NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    gateway_id TEXT,
    last_error TEXT,
    dlr_state TEXT CHECK (dlr_state IN ('delivered', 'undelivered', 'in_transit')),
    dlr_status TEXT,
    dlr_reason TEXT,
    dlr_at TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_lease ON outbox (state, lease_until) WHERE state = 'sending';
CREATE INDEX outbox_event ON outbox (event_id, subscriber_id, version);
CREATE INDEX outbox_subscriber ON outbox (subscriber_id, state);
CREATE INDEX outbox_gateway_id ON outbox (gateway_id) WHERE gateway_id IS NOT NULL;
CREATE TABLE outbox_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id BIGINT NOT NULL REFERENCES outbox (id),
    attempt BIGINT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    gateway_id TEXT,
    answer TEXT NOT NULL
);
CREATE INDEX outbox_attempts_row ON outbox_attempts (outbox_id, attempt);
"#;

/// Migration 4 (issue 13): SQLite's migration 8 (proposals and the append-only audit
/// trail), same columns, so `aviso store migrate` copies both as it copies the rest. One
/// open proposal per event, by index. `superseded_by` points at a newer proposal, so its
/// check is deferred to the commit: a copy inserting the rows in id order meets the older
/// row first. A trigger refuses UPDATE, DELETE and TRUNCATE on `audit_log` whoever asks
/// (the service has no such statement; this stops a hand-written one).
const PG_MIGRATION_4: &str = r#"
CREATE TABLE proposals (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('proposed', 'published', 'rejected', 'superseded')),
    created_at TIMESTAMPTZ NOT NULL,
    base TEXT,
    issuance_id BIGINT REFERENCES issuances (id),
    summary TEXT NOT NULL,
    document TEXT NOT NULL,
    cap TEXT NOT NULL,
    published TEXT NOT NULL,
    edited_by TEXT,
    decided_by TEXT,
    decided_at TIMESTAMPTZ,
    reason TEXT,
    superseded_by BIGINT REFERENCES proposals (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE UNIQUE INDEX proposals_one_open ON proposals (event_id) WHERE state = 'proposed';
CREATE INDEX proposals_event ON proposals (event_id, id);
CREATE INDEX proposals_issuance ON proposals (issuance_id);
CREATE INDEX proposals_superseded_by ON proposals (superseded_by);
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT,
    cap_sha256 TEXT,
    document_sha256 TEXT,
    detail TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"#;

/// Migration 5 (issue 13): manual overrides, SQLite's migration 9 with the same columns,
/// so `aviso store migrate` copies them.
const PG_MIGRATION_5: &str = r#"
CREATE TABLE overrides (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL,
    pcode TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('green', 'yellow', 'orange', 'red')),
    reason TEXT NOT NULL,
    instruction_pt TEXT,
    instruction_en TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    lifted_by TEXT,
    lifted_at TIMESTAMPTZ,
    proposal_id BIGINT REFERENCES proposals (id)
);
CREATE INDEX overrides_event ON overrides (event_id, id);
"#;

/// Migration 6 (issue 14): SQLite's migration 7, the same columns, so `aviso store
/// migrate` copies both tables as it copies the rest. Every accepted register and every
/// accepted occupancy update is a new revision holding the whole register as it then stood
/// (`record`: `crate::domain::Register` as JSON, kept `text` as the documents are); the
/// highest revision is the register in force. `revision` is an identity column (a copy
/// keeps SQLite's numbers with OVERRIDING SYSTEM VALUE and moves the sequence past them);
/// replicas saving at once are serialised by a transaction-level advisory lock
/// (`postgres/registers.rs`), so revisions are handed out in commit order and an occupancy
/// update checked against a base that is no longer in force stores nothing.
const PG_MIGRATION_6: &str = r#"
CREATE TABLE registers (
    revision BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('register', 'occupancy')),
    source TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL,
    entries BIGINT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE occupancy_updates (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    revision BIGINT NOT NULL REFERENCES registers (revision),
    code TEXT NOT NULL,
    date TEXT NOT NULL,
    individuals DOUBLE PRECISION,
    households DOUBLE PRECISION,
    source TEXT NOT NULL
);
CREATE INDEX occupancy_updates_revision ON occupancy_updates (revision);
"#;

/// Migration 7 (issue 13): notification holds, SQLite's migration 10 with the same
/// columns, so `aviso store migrate` copies them.
const PG_MIGRATION_7: &str = r#"
CREATE TABLE notification_holds (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    lifted_by TEXT,
    lifted_at TIMESTAMPTZ,
    lift_reason TEXT
);
CREATE INDEX notification_holds_event ON notification_holds (event_id, id);
"#;
