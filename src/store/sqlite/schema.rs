//! The embedded store's tables: migrations applied in order, never edited once shipped.

use rusqlite::Connection;

use crate::domain::Result;

use super::writer::Db;

pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE books (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    in_use INTEGER NOT NULL DEFAULT 0,
    n_total INTEGER NOT NULL DEFAULT 0,
    n_available INTEGER NOT NULL DEFAULT 0,
    n_assigned INTEGER NOT NULL DEFAULT 0,
    n_redeemed INTEGER NOT NULL DEFAULT 0,
    n_voided INTEGER NOT NULL DEFAULT 0,
    redemptions INTEGER NOT NULL DEFAULT 0,
    next_code_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE coupons (
    book_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    code TEXT NOT NULL,
    state INTEGER NOT NULL,
    assigned_to TEXT,
    assigned_seq INTEGER,
    redemption_count INTEGER NOT NULL DEFAULT 0,
    voided INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    job_seq INTEGER,
    PRIMARY KEY (book_seq, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX coupons_code ON coupons(code);
CREATE INDEX coupons_state ON coupons(book_seq, state);
CREATE INDEX coupons_user ON coupons(assigned_to, assigned_seq) WHERE assigned_to IS NOT NULL;
CREATE TABLE locks (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    book_seq INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX locks_code ON locks(code);
CREATE INDEX locks_expiry ON locks(expires_at);
CREATE INDEX locks_book ON locks(book_seq);
CREATE TABLE redemptions (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    book_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redeemed_at INTEGER NOT NULL,
    reversed_at INTEGER,
    metadata TEXT
);
CREATE INDEX redemptions_book ON redemptions(book_id);
CREATE INDEX redemptions_user ON redemptions(user_id);
CREATE INDEX redemptions_code ON redemptions(code);
CREATE TABLE user_usage (
    book_seq INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    assigned INTEGER NOT NULL DEFAULT 0,
    redeemed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (book_seq, user_id)
) WITHOUT ROWID;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE api_keys (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE idempotency (
    caller TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
) WITHOUT ROWID;
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    book_id TEXT NOT NULL,
    running INTEGER NOT NULL,
    body TEXT NOT NULL,
    spec TEXT NOT NULL
);
CREATE INDEX jobs_running ON jobs(running) WHERE running = 1;
"#,
    super::webhooks::SCHEMA,
    // Codes generated per shape, for the capacity check before generation.
    r#"
CREATE TABLE code_shapes (
    shape TEXT PRIMARY KEY,
    generated INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    // The sweep of expired idempotency records reads them oldest first.
    r#"
CREATE INDEX idempotency_created ON idempotency(created_at);
"#,
    // A redelivery finds a logged attempt by its id.
    super::webhooks::ATTEMPT_ID_INDEX,
    // Audit: who made each change (JSON; NULL before actors were recorded), and what
    // it is about, indexed so that each filter of the feed is an index range. Earlier
    // events get their subject from their data.
    r#"
ALTER TABLE events ADD COLUMN actor TEXT;
ALTER TABLE events ADD COLUMN book_id TEXT;
ALTER TABLE events ADD COLUMN code TEXT;
ALTER TABLE events ADD COLUMN user_id TEXT;
UPDATE events SET
    book_id = CASE WHEN type LIKE 'book.%' THEN json_extract(data, '$.id')
                   ELSE json_extract(data, '$.book_id') END,
    code = CASE WHEN type LIKE 'book.%' THEN NULL ELSE json_extract(data, '$.code') END,
    user_id = CASE WHEN type LIKE 'book.%' THEN NULL
                   ELSE COALESCE(json_extract(data, '$.user_id'), json_extract(data, '$.assigned_to')) END;
CREATE INDEX events_type ON events(type, seq);
CREATE INDEX events_book ON events(book_id, seq) WHERE book_id IS NOT NULL;
CREATE INDEX events_code ON events(code, seq) WHERE code IS NOT NULL;
CREATE INDEX events_user ON events(user_id, seq) WHERE user_id IS NOT NULL;
"#,
    // API keys limited to books (JSON list; NULL: every book), with an expiry, the
    // time of their last use and a switch to disable them. Existing keys keep every
    // book, never expire and stay enabled.
    r#"
ALTER TABLE api_keys ADD COLUMN book_ids TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
"#,
    // Bulk jobs keep every line's outcome, written with the batch that applied it.
    r#"
CREATE TABLE job_results (
    job_seq INTEGER NOT NULL,
    line INTEGER NOT NULL,
    input TEXT NOT NULL,
    outcome TEXT NOT NULL,
    code TEXT,
    PRIMARY KEY (job_seq, line)
) WITHOUT ROWID;
"#,
    // A code's own dates, metadata and reward (JSON; NULL for a code without any).
    r#"
ALTER TABLE coupons ADD COLUMN details TEXT;
"#,
    // The order a code was redeemed on and what it took off (JSON; NULL without one).
    r#"
ALTER TABLE redemptions ADD COLUMN checkout TEXT;
"#,
];

pub(super) fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .db()?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx_sql = format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", index + 1);
        conn.execute_batch(&tx_sql).db()?;
    }
    Ok(())
}
