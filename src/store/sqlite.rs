//! The embedded store: one SQLite file in WAL mode.
//!
//! All writes go through one writer thread that commits the operations waiting in its
//! queue together (group commit) with `synchronous=FULL`: each operation runs in its own
//! savepoint, so a refused operation leaves no trace, and its caller is answered only
//! after the COMMIT that holds its write has reached the disk. Reads use a small pool of
//! separate connections and never wait for the writer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Idempotency, RedeemRequest, RedemptionFilter, Store, Validation};
use crate::domain::apikey::{ApiKey, Scope};
use crate::domain::book::{Book, BookSettings, Counts, UpdateBook};
use crate::domain::coupon::{
    self, AssignPlan, BaseStatus, Coupon, CouponRecord, CouponStatus, Lock, LockPlan, RedeemPlan,
    Redemption, RedemptionStatus, UseContext, UserUsage,
};
use crate::domain::event::{self, Event};
use crate::domain::ids::new_id;
use crate::domain::job::{BatchOutcome, CodeIntake, Job, JobKind, JobStatus};
use crate::domain::stats::{BookStats, Bucket, RedemptionBucket, TopUser};
use crate::domain::{Clock, Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};

mod webhooks;

/// Operations committed together at most; bounds the latency one commit adds.
const MAX_BATCH: usize = 512;
const READERS: usize = 8;

const MIGRATIONS: &[&str] = &[
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
    webhooks::SCHEMA,
];

/// `.db()` turns a SQLite error into the service's error without leaking SQL.
trait Db<T> {
    fn db(self) -> Result<T>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(|err| {
            let busy = matches!(
                err.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            );
            if busy {
                Error::new(ErrorCode::StoreBusy, "the store is busy, try again")
            } else {
                tracing::error!(error = %err, "sqlite error");
                Error::internal("storage error")
            }
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("encode: {e}")))
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("decode stored JSON: {e}")))
}

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
/// A write operation: runs inside the batch transaction (or learns with `None` that the
/// batch could not start), and returns what to do once the batch is committed.
type WriteOp = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;

pub struct SqliteStore {
    writer: Mutex<mpsc::Sender<WriteOp>>,
    readers: Arc<ReaderPool>,
    /// Orders assignments for `GET /v1/users/{id}/coupons`; gaps are harmless.
    assign_seq: Arc<AtomicI64>,
    /// The time of every decision.
    clock: Clock,
    /// Background threads stop once the store is dropped.
    _alive: Arc<()>,
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn take(&self) -> Result<Connection> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .db()?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).db()?;
        Ok(conn)
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < READERS
        {
            idle.push(conn);
        }
    }
}

impl SqliteStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_clock(path, Clock::system())
    }

    /// Opens the store deciding on `clock`'s time (tests replay expiry with it).
    pub fn open_with_clock(path: impl AsRef<Path>, clock: Clock) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)
            .map_err(|e| Error::unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             PRAGMA cache_size=-16384;
             PRAGMA temp_store=MEMORY;
             PRAGMA wal_autocheckpoint=0;",
        )
        .db()?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).db()?;
        migrate(&conn)?;
        let max_assign_seq: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(assigned_seq), 0) FROM coupons",
                [],
                |r| r.get(0),
            )
            .db()?;
        let alive = Arc::new(());
        spawn_checkpointer(&path, Arc::downgrade(&alive))?;
        let (sender, receiver) = mpsc::channel::<WriteOp>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, receiver))
            .map_err(|e| Error::internal(format!("start writer: {e}")))?;
        Ok(SqliteStore {
            writer: Mutex::new(sender),
            readers: Arc::new(ReaderPool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
            assign_seq: Arc::new(AtomicI64::new(max_assign_seq)),
            clock,
            _alive: alive,
        })
    }

    /// Runs `f` in the writer's next batch, with the idempotency record checked and
    /// written in the same transaction; answers after the commit.
    async fn write<T, F>(&self, idem: Option<Idempotency>, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(&Connection, Timestamp) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T>>();
        let clock = self.clock.clone();
        let op: WriteOp = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => run_write(conn, idem, clock.now(), f),
                None => Err(Error::unavailable(
                    "the store could not start a transaction",
                )),
            };
            Box::new(move |committed: Result<()>| {
                let _ = reply.send(committed.and(result));
            })
        });
        self.writer
            .lock()
            .map_err(|_| Error::internal("writer queue poisoned"))?
            .send(op)
            .map_err(|_| Error::unavailable("the store writer stopped"))?;
        answer
            .await
            .map_err(|_| Error::unavailable("the store writer stopped"))?
    }

    /// Answers `coupon_not_found` from a reader for codes that do not exist, so
    /// guessed or mistyped codes never take a place in the writer's queue. (The write
    /// itself checks again: a code is never assumed to exist.)
    async fn require_coupon(&self, code: &str) -> Result<()> {
        let code = code.to_string();
        self.read(move |conn, _| {
            let found = conn
                .prepare_cached("SELECT 1 FROM coupons WHERE code = ?1")
                .db()?
                .query_row([&code], |_| Ok(()))
                .optional()
                .db()?;
            found.ok_or_else(|| Error::coupon_not_found(&code))
        })
        .await
    }

    /// Runs `f` on a reader connection inside one read transaction (a consistent view).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, Timestamp) -> Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let clock = self.clock.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            conn.execute_batch("BEGIN").db()?;
            let result = f(&conn, clock.now());
            let _ = conn.execute_batch("COMMIT");
            readers.put(conn);
            result
        })
        .await
        .map_err(|e| Error::internal(format!("reader task: {e}")))?
    }
}

/// Copies the WAL into the database file from its own connection, so the writer never
/// pauses for a checkpoint (its automatic checkpoints are off).
fn spawn_checkpointer(path: &Path, alive: std::sync::Weak<()>) -> Result<()> {
    let conn = Connection::open(path).db()?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).db()?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %err, "WAL checkpoint failed");
                }
            }
        })
        .map_err(|e| Error::internal(format!("start checkpointer: {e}")))?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .db()?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx_sql = format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", index + 1);
        conn.execute_batch(&tx_sql).db()?;
    }
    Ok(())
}

fn writer_loop(conn: Connection, receiver: mpsc::Receiver<WriteOp>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE").db() {
            for op in batch {
                op(None)(Err(err.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = batch.into_iter().map(|op| op(Some(&conn))).collect();
        let committed = conn.execute_batch("COMMIT").db();
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for complete in completions {
            complete(committed.clone());
        }
    }
}

fn run_write<T, F>(conn: &Connection, idem: Option<Idempotency>, now: Timestamp, f: F) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&Connection, Timestamp) -> Result<T>,
{
    if let Some(idem) = &idem {
        let stored: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT fingerprint, response FROM idempotency WHERE caller = ?1 AND key = ?2",
            )
            .db()?
            .query_row(params![idem.caller, idem.key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .db()?;
        if let Some((fingerprint, response)) = stored {
            if fingerprint != idem.fingerprint {
                return Err(Error::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was used with a different request",
                ));
            }
            return from_json::<std::result::Result<T, Error>>(&response)?;
        }
    }
    // Prepared once per connection: savepoints run for every operation.
    let savepoint = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    savepoint("SAVEPOINT op").db()?;
    let result = match catch_unwind(AssertUnwindSafe(|| f(conn, now))) {
        Ok(result) => result,
        Err(_) => Err(Error::internal("the operation failed unexpectedly")),
    };
    if result.is_err() {
        savepoint("ROLLBACK TO op").db()?;
    }
    savepoint("RELEASE op").db()?;
    if let Some(idem) = idem {
        let replayable = match &result {
            Ok(_) => true,
            Err(err) => err.code.is_deterministic(),
        };
        if replayable {
            conn.prepare_cached(
                "INSERT INTO idempotency (caller, key, fingerprint, response, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .db()?
            .execute(params![
                idem.caller,
                idem.key,
                idem.fingerprint,
                to_json(&result)?,
                now.0
            ])
            .db()?;
        }
    }
    result
}

// ---------------------------------------------------------------------------------
// Rows

struct BookRow {
    seq: i64,
    id: String,
    settings: BookSettings,
    created_at: Timestamp,
    updated_at: Timestamp,
    in_use: bool,
    /// total, available, assigned, redeemed, voided (locks not considered).
    base_counts: [i64; 5],
    redemptions: i64,
}

const BOOK_COLUMNS: &str = "seq, id, settings, created_at, updated_at, in_use, n_total, \
    n_available, n_assigned, n_redeemed, n_voided, redemptions";

fn book_row(row: &Row) -> rusqlite::Result<BookRow> {
    let settings: String = row.get(2)?;
    let settings = serde_json::from_str(&settings).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(BookRow {
        seq: row.get(0)?,
        id: row.get(1)?,
        settings,
        created_at: Timestamp(row.get(3)?),
        updated_at: Timestamp(row.get(4)?),
        in_use: row.get(5)?,
        base_counts: [
            row.get(6)?,
            row.get(7)?,
            row.get(8)?,
            row.get(9)?,
            row.get(10)?,
        ],
        redemptions: row.get(11)?,
    })
}

fn query_book(
    conn: &Connection,
    column: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<BookRow>> {
    let sql = format!("SELECT {BOOK_COLUMNS} FROM books WHERE {column} = ?1");
    conn.prepare_cached(&sql)
        .db()?
        .query_row([key], book_row)
        .optional()
        .db()
}

fn load_book(conn: &Connection, book_id: &str) -> Result<BookRow> {
    query_book(conn, "id", &book_id)?.ok_or_else(|| Error::book_not_found(book_id))
}

fn load_book_by_seq(conn: &Connection, seq: i64) -> Result<BookRow> {
    query_book(conn, "seq", &seq)?.ok_or_else(|| Error::internal("coupon without book"))
}

/// The book as the API shows it: base counts corrected for coupons that live locks
/// fully reserve.
fn book_view(conn: &Connection, book: &BookRow, now: Timestamp) -> Result<Book> {
    let [total, available, assigned, redeemed, voided] = book.base_counts;
    let mut counts = Counts {
        total: total as u64,
        available: available as u64,
        assigned: assigned as u64,
        locked: 0,
        redeemed: redeemed as u64,
        voided: voided as u64,
    };
    if let Some(max) = book.settings.max_redemptions_per_coupon {
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.state, c.redemption_count, COUNT(*) FROM locks l
                 JOIN coupons c ON c.code = l.code
                 WHERE l.book_seq = ?1 AND l.expires_at > ?2 GROUP BY l.code",
            )
            .db()?;
        let rows = stmt
            .query_map(params![book.seq, now.0], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .db()?;
        for row in rows {
            let (state, used, reserved) = row.db()?;
            if used + reserved < i64::from(max) {
                continue;
            }
            match BaseStatus::from_index(state) {
                BaseStatus::Available => counts.available = counts.available.saturating_sub(1),
                BaseStatus::Assigned => counts.assigned = counts.assigned.saturating_sub(1),
                _ => continue,
            }
            counts.locked += 1;
        }
    }
    Ok(Book {
        id: book.id.clone(),
        settings: book.settings.clone(),
        created_at: book.created_at,
        updated_at: book.updated_at,
        counts,
    })
}

fn load_book_view(conn: &Connection, book_id: &str, now: Timestamp) -> Result<Book> {
    let book = load_book(conn, book_id)?;
    book_view(conn, &book, now)
}

/// What a lock, redeem or validate decision needs, read in the same step as it.
struct UseState {
    row: CouponRow,
    book: BookRow,
    locks: Vec<Lock>,
    usage: UserUsage,
}

impl UseState {
    fn load(conn: &Connection, row: CouponRow, user_id: &str, now: Timestamp) -> Result<Self> {
        let book = load_book_by_seq(conn, row.book_seq)?;
        let locks = live_locks(conn, &row.record.code, now)?;
        let usage = usage(conn, row.book_seq, user_id)?;
        Ok(UseState {
            row,
            book,
            locks,
            usage,
        })
    }

    fn context<'a>(&'a self, user_id: &'a str, now: Timestamp) -> UseContext<'a> {
        UseContext {
            book: &self.book.settings,
            book_redemptions: self.book.redemptions as u64,
            coupon: &self.row.record,
            live_locks: &self.locks,
            usage: self.usage,
            user_id,
            now,
        }
    }
}

struct CouponRow {
    book_seq: i64,
    record: CouponRecord,
}

const COUPON_COLUMNS: &str = "c.book_seq, c.code, b.id, c.assigned_to, c.redemption_count, \
    c.voided, c.created_at";

fn coupon_row(row: &Row) -> rusqlite::Result<(i64, CouponRow)> {
    Ok((
        row.get(7)?,
        CouponRow {
            book_seq: row.get(0)?,
            record: CouponRecord {
                code: row.get(1)?,
                book_id: row.get(2)?,
                assigned_to: row.get(3)?,
                redemption_count: row.get::<_, i64>(4)? as u64,
                voided: row.get(5)?,
                created_at: Timestamp(row.get(6)?),
            },
        },
    ))
}

fn find_coupon(conn: &Connection, code: &str) -> Result<Option<CouponRow>> {
    let sql = format!(
        "SELECT {COUPON_COLUMNS}, c.seq FROM coupons c JOIN books b ON b.seq = c.book_seq
         WHERE c.code = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)
        .db()?
        .query_row([code], coupon_row)
        .optional()
        .db()?
        .map(|(_, row)| row))
}

fn load_coupon(conn: &Connection, code: &str) -> Result<CouponRow> {
    find_coupon(conn, code)?.ok_or_else(|| Error::coupon_not_found(code))
}

fn live_locks(conn: &Connection, code: &str, now: Timestamp) -> Result<Vec<Lock>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, code, user_id, expires_at FROM locks
             WHERE code = ?1 AND expires_at > ?2 ORDER BY expires_at",
        )
        .db()?;
    let rows = stmt.query_map(params![code, now.0], lock_row).db()?;
    rows.map(|r| r.db()).collect()
}

fn lock_row(row: &Row) -> rusqlite::Result<Lock> {
    Ok(Lock {
        lock_id: row.get(0)?,
        code: row.get(1)?,
        user_id: row.get(2)?,
        expires_at: Timestamp(row.get(3)?),
    })
}

fn find_lock(conn: &Connection, lock_id: &str) -> Result<Option<Lock>> {
    conn.prepare_cached("SELECT id, code, user_id, expires_at FROM locks WHERE id = ?1")
        .db()?
        .query_row([lock_id], lock_row)
        .optional()
        .db()
}

fn coupon_view(
    conn: &Connection,
    record: &CouponRecord,
    max: Option<u32>,
    now: Timestamp,
) -> Result<Coupon> {
    let locks = live_locks(conn, &record.code, now)?;
    Ok(record.view(max, &locks))
}

fn usage(conn: &Connection, book_seq: i64, user_id: &str) -> Result<UserUsage> {
    Ok(conn
        .prepare_cached(
            "SELECT assigned, redeemed FROM user_usage WHERE book_seq = ?1 AND user_id = ?2",
        )
        .db()?
        .query_row(params![book_seq, user_id], |r| {
            Ok(UserUsage {
                assigned: r.get::<_, i64>(0)? as u64,
                redeemed: r.get::<_, i64>(1)? as u64,
            })
        })
        .optional()
        .db()?
        .unwrap_or_default())
}

fn add_usage(
    conn: &Connection,
    book_seq: i64,
    user_id: &str,
    assigned: i64,
    redeemed: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO user_usage (book_seq, user_id, assigned, redeemed) VALUES (?1, ?2, MAX(?3, 0), MAX(?4, 0))
         ON CONFLICT (book_seq, user_id) DO UPDATE SET
           assigned = MAX(assigned + ?3, 0), redeemed = MAX(redeemed + ?4, 0)",
    )
    .db()?
    .execute(params![book_seq, user_id, assigned, redeemed])
    .db()?;
    Ok(())
}

/// A coupon's change, and what it does to its book.
struct CouponChange<'a> {
    book: &'a BookRow,
    before: &'a CouponRecord,
    after: &'a CouponRecord,
    /// Set when the coupon is newly assigned.
    assigned_seq: Option<i64>,
    /// Net redemptions the change adds to the book (+1 redeem, -1 reverse).
    redemptions: i64,
}

/// The book's counters after a change: base counts (total, available, assigned,
/// redeemed, voided) and net redemptions.
struct BookTotals {
    base_counts: [i64; 5],
    redemptions: i64,
}

/// Writes a changed coupon and moves its book's counters, one statement each.
fn save_coupon(conn: &Connection, change: CouponChange) -> Result<BookTotals> {
    let max = change.book.settings.max_redemptions_per_coupon;
    let old_state = change.before.base_status(max);
    let new_state = change.after.base_status(max);
    conn.prepare_cached(
        "UPDATE coupons SET state = ?2, assigned_to = ?3,
            assigned_seq = CASE WHEN ?3 IS NULL THEN NULL ELSE COALESCE(?4, assigned_seq) END,
            redemption_count = ?5, voided = ?6
         WHERE code = ?1",
    )
    .db()?
    .execute(params![
        change.after.code,
        new_state as i64,
        change.after.assigned_to,
        change.assigned_seq,
        change.after.redemption_count as i64,
        change.after.voided
    ])
    .db()?;
    let mut delta = [0i64; 5];
    if old_state != new_state {
        delta[old_state as usize + 1] -= 1;
        delta[new_state as usize + 1] += 1;
    }
    let in_use = change.assigned_seq.is_some() || change.redemptions > 0;
    if delta != [0; 5] || change.redemptions != 0 || in_use {
        conn.prepare_cached(
            "UPDATE books SET n_available = n_available + ?2, n_assigned = n_assigned + ?3,
                n_redeemed = n_redeemed + ?4, n_voided = n_voided + ?5,
                redemptions = MAX(redemptions + ?6, 0), in_use = MAX(in_use, ?7)
             WHERE seq = ?1",
        )
        .db()?
        .execute(params![
            change.book.seq,
            delta[1],
            delta[2],
            delta[3],
            delta[4],
            change.redemptions,
            in_use
        ])
        .db()?;
    }
    let mut base_counts = change.book.base_counts;
    for (count, d) in base_counts.iter_mut().zip(delta) {
        *count += d;
    }
    Ok(BookTotals {
        base_counts,
        redemptions: (change.book.redemptions + change.redemptions).max(0),
    })
}

fn append_event<T: Serialize>(
    conn: &Connection,
    event_type: &str,
    data: &T,
    now: Timestamp,
) -> Result<()> {
    conn.prepare_cached("INSERT INTO events (type, created_at, data) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![event_type, now.0, to_json(data)?])
        .db()?;
    Ok(())
}

fn event_id(seq: i64) -> String {
    format!("evt_{seq:015}")
}

fn parse_event_id(id: &str) -> Option<i64> {
    id.strip_prefix("evt_")?
        .parse()
        .ok()
        .filter(|n: &i64| *n >= 0)
}

/// Appends `book.exhausted` when this change used up the book: no code left to hand
/// out or redeem, or the redemption budget reached.
fn announce_exhaustion(
    conn: &Connection,
    before: &BookRow,
    after: &BookTotals,
    now: Timestamp,
) -> Result<()> {
    let unused = |counts: &[i64; 5]| counts[1] + counts[2];
    let codes_gone = unused(&before.base_counts) > 0 && unused(&after.base_counts) == 0;
    let available_gone = before.base_counts[1] > 0 && after.base_counts[1] == 0;
    let budget_gone = before
        .settings
        .max_total_redemptions
        .is_some_and(|max| (before.redemptions as u64) < max && (after.redemptions as u64) >= max);
    if codes_gone || available_gone || budget_gone {
        let book = load_book_by_seq(conn, before.seq)?;
        let view = book_view(conn, &book, now)?;
        append_event(conn, event::BOOK_EXHAUSTED, &view, now)?;
    }
    Ok(())
}

fn redemption_row(row: &Row) -> rusqlite::Result<(i64, Redemption, Option<String>)> {
    let reversed_at: Option<i64> = row.get(6)?;
    Ok((
        row.get(0)?,
        Redemption {
            id: row.get(1)?,
            code: row.get(2)?,
            book_id: row.get(3)?,
            user_id: row.get(4)?,
            status: if reversed_at.is_some() {
                RedemptionStatus::Reversed
            } else {
                RedemptionStatus::Redeemed
            },
            redeemed_at: Timestamp(row.get(5)?),
            reversed_at: reversed_at.map(Timestamp),
            metadata: None,
        },
        row.get(7)?,
    ))
}

const REDEMPTION_COLUMNS: &str =
    "seq, id, code, book_id, user_id, redeemed_at, reversed_at, metadata";

fn finish_redemption(
    (seq, mut redemption, metadata): (i64, Redemption, Option<String>),
) -> Result<(i64, Redemption)> {
    if let Some(text) = metadata {
        redemption.metadata = Some(from_json(&text)?);
    }
    Ok((seq, redemption))
}

fn load_redemption(conn: &Connection, id: &str) -> Result<Redemption> {
    let sql = format!("SELECT {REDEMPTION_COLUMNS} FROM redemptions WHERE id = ?1");
    let found = conn
        .prepare_cached(&sql)
        .db()?
        .query_row([id], redemption_row)
        .optional()
        .db()?;
    match found {
        Some(row) => Ok(finish_redemption(row)?.1),
        None => Err(Error::new(
            ErrorCode::RedemptionNotFound,
            format!("no redemption with id {id:?}"),
        )),
    }
}

fn api_key_row(row: &Row) -> rusqlite::Result<(i64, String, String, String, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn finish_api_key(
    (seq, id, name, scopes, created_at): (i64, String, String, String, i64),
) -> Result<(i64, ApiKey)> {
    let scopes: Vec<Scope> = from_json(&scopes)?;
    Ok((
        seq,
        ApiKey {
            id,
            name,
            scopes,
            created_at: Timestamp(created_at),
        },
    ))
}

fn insert_api_key(conn: &Connection, api_key: &ApiKey, key_hash: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO api_keys (id, name, scopes, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![
        api_key.id,
        api_key.name,
        to_json(&api_key.scopes)?,
        key_hash,
        api_key.created_at.0
    ])
    .db()?;
    Ok(())
}

fn find_api_key_by_hash(conn: &Connection, key_hash: &str) -> Result<Option<ApiKey>> {
    let found = conn
        .prepare_cached(
            "SELECT seq, id, name, scopes, created_at FROM api_keys WHERE key_hash = ?1",
        )
        .db()?
        .query_row([key_hash], api_key_row)
        .optional()
        .db()?;
    found
        .map(|row| finish_api_key(row).map(|(_, key)| key))
        .transpose()
}

/// Lists coupons of one query shape: `sql` selects COUPON_COLUMNS plus a position
/// column and takes the page's position as its first parameter.
fn coupon_page(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    page: PageRequest,
    max_of: &dyn Fn(i64) -> Result<Option<u32>>,
    keep: &dyn Fn(&Coupon) -> bool,
    now: Timestamp,
) -> Result<Page<Coupon>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt.query_map(params, coupon_row).db()?;
    let mut items = Vec::new();
    for row in rows {
        let (position, row) = row.db()?;
        let coupon = coupon_view(conn, &row.record, max_of(row.book_seq)?, now)?;
        if keep(&coupon) {
            items.push((position, coupon));
            if items.len() > page.limit as usize {
                break;
            }
        }
    }
    Ok(page_of(items, page.limit))
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read(|conn, _| conn.query_row("SELECT 1", [], |_| Ok(())).db())
            .await
    }

    async fn create_book(&self, settings: BookSettings, idem: Option<Idempotency>) -> Result<Book> {
        self.write(idem, move |conn, now| {
            let id = new_id("book");
            conn.prepare_cached(
                "INSERT INTO books (id, settings, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            )
            .db()?
            .execute(params![id, to_json(&settings)?, now.0])
            .db()?;
            let book = load_book_view(conn, &id, now)?;
            append_event(conn, event::BOOK_CREATED, &book, now)?;
            Ok(book)
        })
        .await
    }

    async fn get_book(&self, book_id: &str) -> Result<Book> {
        let book_id = book_id.to_string();
        self.read(move |conn, now| load_book_view(conn, &book_id, now))
            .await
    }

    async fn list_books(&self, page: PageRequest) -> Result<Page<Book>> {
        self.read(move |conn, now| {
            let sql =
                format!("SELECT {BOOK_COLUMNS} FROM books WHERE seq > ?1 ORDER BY seq LIMIT ?2");
            let mut stmt = conn.prepare_cached(&sql).db()?;
            let rows = stmt
                .query_map(params![page.after.unwrap_or(0), page.limit + 1], book_row)
                .db()?;
            let mut items = Vec::new();
            for row in rows {
                let book = row.db()?;
                items.push((book.seq, book_view(conn, &book, now)?));
            }
            Ok(page_of(items, page.limit))
        })
        .await
    }

    async fn update_book(&self, book_id: &str, patch: UpdateBook) -> Result<Book> {
        let book_id = book_id.to_string();
        self.write(None, move |conn, now| {
            let book = load_book(conn, &book_id)?;
            let settings = patch.apply(&book.settings)?;
            conn.prepare_cached("UPDATE books SET settings = ?2, updated_at = ?3 WHERE seq = ?1")
                .db()?
                .execute(params![book.seq, to_json(&settings)?, now.0])
                .db()?;
            if settings.max_redemptions_per_coupon != book.settings.max_redemptions_per_coupon {
                recount_book(conn, book.seq, settings.max_redemptions_per_coupon)?;
            }
            let updated = load_book_view(conn, &book_id, now)?;
            append_event(conn, event::BOOK_UPDATED, &updated, now)?;
            Ok(updated)
        })
        .await
    }

    async fn delete_book(&self, book_id: &str) -> Result<()> {
        let book_id = book_id.to_string();
        self.write(None, move |conn, now| {
            let book = load_book(conn, &book_id)?;
            if book.in_use {
                return Err(Error::new(
                    ErrorCode::BookInUse,
                    "codes of this book were assigned or redeemed; archive it instead",
                ));
            }
            let view = book_view(conn, &book, now)?;
            for sql in [
                "DELETE FROM locks WHERE book_seq = ?1",
                "DELETE FROM coupons WHERE book_seq = ?1",
                "DELETE FROM user_usage WHERE book_seq = ?1",
                "DELETE FROM books WHERE seq = ?1",
            ] {
                conn.prepare_cached(sql).db()?.execute([book.seq]).db()?;
            }
            append_event(conn, event::BOOK_DELETED, &view, now)?;
            Ok(())
        })
        .await
    }

    async fn book_stats(&self, book_id: &str, bucket: Bucket) -> Result<BookStats> {
        let book_id = book_id.to_string();
        self.read(move |conn, now| {
            let book = load_book_view(conn, &book_id, now)?;
            let width = bucket.millis();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT start, SUM(redeemed), SUM(reversed) FROM (
                        SELECT (redeemed_at / ?2) * ?2 AS start, 1 AS redeemed, 0 AS reversed
                          FROM redemptions WHERE book_id = ?1
                        UNION ALL
                        SELECT (reversed_at / ?2) * ?2, 0, 1
                          FROM redemptions WHERE book_id = ?1 AND reversed_at IS NOT NULL)
                     GROUP BY start ORDER BY start DESC LIMIT 1000",
                )
                .db()?;
            let mut redemptions = stmt
                .query_map(params![book_id, width], |r| {
                    Ok(RedemptionBucket {
                        start: Timestamp(r.get(0)?),
                        redeemed: r.get::<_, i64>(1)? as u64,
                        reversed: r.get::<_, i64>(2)? as u64,
                    })
                })
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            redemptions.reverse();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT user_id, COUNT(*) AS n FROM redemptions
                     WHERE book_id = ?1 AND reversed_at IS NULL
                     GROUP BY user_id ORDER BY n DESC, user_id LIMIT 10",
                )
                .db()?;
            let top_users = stmt
                .query_map([&book_id], |r| {
                    Ok(TopUser {
                        user_id: r.get(0)?,
                        redemptions: r.get::<_, i64>(1)? as u64,
                    })
                })
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            Ok(BookStats {
                counts: book.counts,
                redemptions,
                top_users,
            })
        })
        .await
    }

    async fn add_codes(
        &self,
        book_id: &str,
        kind: JobKind,
        intake: CodeIntake,
        idem: Option<Idempotency>,
    ) -> Result<Job> {
        let book_id = book_id.to_string();
        self.write(idem, move |conn, now| {
            let (job_seq, mut job) =
                insert_job(conn, &book_id, kind, intake.lines, &Value::Null, now)?;
            let book = load_book(conn, &book_id)?;
            let outcome = insert_codes(conn, &book, job_seq, &intake.accepted, now)?;
            job.absorb(intake, outcome);
            job.finish(JobStatus::Succeeded, now);
            save_job(conn, job_seq, &job, None)?;
            announce_codes_added(conn, &job, now)?;
            Ok(job)
        })
        .await
    }

    async fn create_job(
        &self,
        book_id: &str,
        kind: JobKind,
        total: u64,
        spec: Value,
        idem: Option<Idempotency>,
    ) -> Result<Job> {
        let book_id = book_id.to_string();
        self.write(idem, move |conn, now| {
            Ok(insert_job(conn, &book_id, kind, total, &spec, now)?.1)
        })
        .await
    }

    async fn add_job_codes(&self, job_id: &str, intake: CodeIntake, spec: Value) -> Result<Job> {
        let job_id = job_id.to_string();
        self.write(None, move |conn, now| {
            let (job_seq, mut job, _) = load_job(conn, &job_id)?;
            if job.status != JobStatus::Running {
                return Err(Error::internal("the job is already finished"));
            }
            let book = load_book(conn, &job.book_id)?;
            let outcome = insert_codes(conn, &book, job_seq, &intake.accepted, now)?;
            job.absorb(intake, outcome);
            save_job(conn, job_seq, &job, Some(&spec))?;
            Ok(job)
        })
        .await
    }

    async fn finish_job(&self, job_id: &str, status: JobStatus) -> Result<Job> {
        let job_id = job_id.to_string();
        self.write(None, move |conn, now| {
            let (job_seq, mut job, _) = load_job(conn, &job_id)?;
            if job.status != JobStatus::Running {
                return Ok(job);
            }
            job.finish(status, now);
            save_job(conn, job_seq, &job, None)?;
            announce_codes_added(conn, &job, now)?;
            Ok(job)
        })
        .await
    }

    async fn unfinished_jobs(&self) -> Result<Vec<(Job, Value)>> {
        self.read(move |conn, _| {
            let mut stmt = conn
                .prepare_cached("SELECT body, spec FROM jobs WHERE running = 1 ORDER BY seq")
                .db()?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .db()?;
            rows.map(|row| {
                let (body, spec) = row.db()?;
                Ok((from_json(&body)?, from_json(&spec)?))
            })
            .collect()
        })
        .await
    }

    async fn count_codes_like(&self, like: &str) -> Result<u64> {
        let like = like.to_string();
        self.read(move |conn, _| {
            let n: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM coupons WHERE code LIKE ?1 ESCAPE '\\'")
                .db()?
                .query_row([&like], |r| r.get(0))
                .db()?;
            Ok(n as u64)
        })
        .await
    }

    async fn get_job(&self, job_id: &str) -> Result<Job> {
        let job_id = job_id.to_string();
        self.read(move |conn, _| Ok(load_job(conn, &job_id)?.1))
            .await
    }

    async fn list_codes(
        &self,
        book_id: &str,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>> {
        let book_id = book_id.to_string();
        self.read(move |conn, now| {
            let book = load_book(conn, &book_id)?;
            let max = book.settings.max_redemptions_per_coupon;
            let after = page.after.unwrap_or(0);
            let base = format!(
                "SELECT {COUPON_COLUMNS}, c.seq FROM coupons c JOIN books b ON b.seq = c.book_seq
                 WHERE c.seq > ?1 AND c.book_seq = ?2"
            );
            let max_of = |_| Ok(max);
            let (sql, state): (String, Option<i64>) = match status {
                None => (format!("{base} ORDER BY c.seq"), None),
                Some(CouponStatus::Voided) => {
                    (format!("{base} AND c.state = ?3 ORDER BY c.seq"), Some(3))
                }
                Some(CouponStatus::Redeemed) => {
                    (format!("{base} AND c.state = ?3 ORDER BY c.seq"), Some(2))
                }
                Some(CouponStatus::Assigned) => {
                    (format!("{base} AND c.state = ?3 ORDER BY c.seq"), Some(1))
                }
                Some(CouponStatus::Available) => {
                    (format!("{base} AND c.state = ?3 ORDER BY c.seq"), Some(0))
                }
                Some(CouponStatus::Locked) => (
                    format!(
                        "{base} AND c.state IN (0, 1) AND c.code IN
                           (SELECT code FROM locks WHERE book_seq = ?2 AND expires_at > ?3)
                         ORDER BY c.seq"
                    ),
                    Some(now.0),
                ),
            };
            // Lock state changes with time, so the exact status is checked per row.
            let keep = |coupon: &Coupon| status.is_none_or(|s| coupon.status == s);
            match state {
                None => coupon_page(conn, &sql, &[&after, &book.seq], page, &max_of, &keep, now),
                Some(value) => coupon_page(
                    conn,
                    &sql,
                    &[&after, &book.seq, &value],
                    page,
                    &max_of,
                    &keep,
                    now,
                ),
            }
        })
        .await
    }

    async fn get_coupon(&self, code: &str) -> Result<Coupon> {
        let code = code.to_string();
        self.read(move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            coupon_view(
                conn,
                &row.record,
                book.settings.max_redemptions_per_coupon,
                now,
            )
        })
        .await
    }

    async fn assign(&self, code: &str, user_id: &str, idem: Option<Idempotency>) -> Result<Coupon> {
        let code = code.to_string();
        let user_id = user_id.to_string();
        let assign_seq = self.assign_seq.clone();
        self.write(idem, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let max = book.settings.max_redemptions_per_coupon;
            let plan = coupon::check_assign(
                &book.settings,
                &row.record,
                &user_id,
                usage(conn, row.book_seq, &user_id)?,
                now,
            )?;
            if plan == AssignPlan::Assign {
                let (after, totals) = assign_to(conn, &book, &row.record, &user_id, &assign_seq)?;
                let view = coupon_view(conn, &after, max, now)?;
                append_event(conn, event::COUPON_ASSIGNED, &view, now)?;
                announce_exhaustion(conn, &book, &totals, now)?;
                return Ok(view);
            }
            coupon_view(conn, &row.record, max, now)
        })
        .await
    }

    async fn assign_next(
        &self,
        book_id: &str,
        user_id: &str,
        idem: Option<Idempotency>,
    ) -> Result<Coupon> {
        let book_id = book_id.to_string();
        let user_id = user_id.to_string();
        let assign_seq = self.assign_seq.clone();
        self.write(idem, move |conn, now| {
            let book = load_book(conn, &book_id)?;
            book.settings.check_usable(now)?;
            coupon::check_assign_limit(&book.settings, usage(conn, book.seq, &user_id)?)?;
            let next: Option<String> = conn
                .prepare_cached(
                    "SELECT c.code FROM coupons c WHERE c.book_seq = ?1 AND c.state = 0
                       AND NOT EXISTS (SELECT 1 FROM locks l WHERE l.code = c.code AND l.expires_at > ?2)
                     LIMIT 1",
                )
                .db()?
                .query_row(params![book.seq, now.0], |r| r.get(0))
                .optional()
                .db()?;
            let Some(code) = next else {
                return Err(Error::new(ErrorCode::BookExhausted, "no available code left in this book"));
            };
            let row = load_coupon(conn, &code)?;
            let (after, totals) = assign_to(conn, &book, &row.record, &user_id, &assign_seq)?;
            let view = coupon_view(conn, &after, book.settings.max_redemptions_per_coupon, now)?;
            append_event(conn, event::COUPON_ASSIGNED, &view, now)?;
            announce_exhaustion(conn, &book, &totals, now)?;
            Ok(view)
        })
        .await
    }

    async fn unassign(&self, code: &str) -> Result<Coupon> {
        let code = code.to_string();
        self.write(None, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let max = book.settings.max_redemptions_per_coupon;
            let Some(owner) = row.record.assigned_to.clone() else {
                return coupon_view(conn, &row.record, max, now);
            };
            if row.record.redemption_count > 0 {
                return Err(Error::new(
                    ErrorCode::CouponAlreadyRedeemed,
                    "a redeemed coupon cannot be unassigned",
                ));
            }
            let after = CouponRecord {
                assigned_to: None,
                ..row.record.clone()
            };
            save_coupon(
                conn,
                CouponChange {
                    book: &book,
                    before: &row.record,
                    after: &after,
                    assigned_seq: None,
                    redemptions: 0,
                },
            )?;
            add_usage(conn, row.book_seq, &owner, -1, 0)?;
            let view = coupon_view(conn, &after, max, now)?;
            append_event(conn, event::COUPON_UNASSIGNED, &view, now)?;
            Ok(view)
        })
        .await
    }

    async fn validate(&self, code: &str, user_id: &str) -> Result<Validation> {
        let code = code.to_string();
        let user_id = user_id.to_string();
        self.read(move |conn, now| {
            let state = UseState::load(conn, load_coupon(conn, &code)?, &user_id, now)?;
            let context = state.context(&user_id, now);
            let (row, book, locks) = (&state.row, &state.book, &state.locks);
            let reason = context.check_redeem(None).err().map(|e| e.code);
            Ok(Validation {
                valid: reason.is_none(),
                reason,
                coupon: row
                    .record
                    .view(book.settings.max_redemptions_per_coupon, locks),
            })
        })
        .await
    }

    async fn lock(
        &self,
        code: &str,
        user_id: &str,
        ttl_seconds: Option<u32>,
        idem: Option<Idempotency>,
    ) -> Result<Lock> {
        self.require_coupon(code).await?;
        let code = code.to_string();
        let user_id = user_id.to_string();
        self.write(idem, move |conn, now| {
            let state = UseState::load(conn, load_coupon(conn, &code)?, &user_id, now)?;
            let plan = state.context(&user_id, now).check_lock()?;
            let (row, book) = (&state.row, &state.book);
            let ttl = ttl_seconds.unwrap_or(book.settings.lock_ttl_seconds);
            let expires_at = now.plus_seconds(u64::from(ttl));
            let lock = match plan {
                LockPlan::New => {
                    let lock = Lock {
                        lock_id: new_id("lock"),
                        code: code.clone(),
                        user_id: user_id.clone(),
                        expires_at,
                    };
                    conn.prepare_cached(
                        "INSERT INTO locks (id, code, book_seq, user_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .db()?
                    .execute(params![lock.lock_id, code, row.book_seq, user_id, expires_at.0])
                    .db()?;
                    lock
                }
                LockPlan::Extend(lock_id) => {
                    conn.prepare_cached("UPDATE locks SET expires_at = MAX(expires_at, ?2) WHERE id = ?1")
                        .db()?
                        .execute(params![lock_id, expires_at.0])
                        .db()?;
                    find_lock(conn, &lock_id)?.ok_or_else(Error::lock_not_found)?
                }
            };
            let view = coupon_view(conn, &row.record, book.settings.max_redemptions_per_coupon, now)?;
            append_event(conn, event::COUPON_LOCKED, &view, now)?;
            Ok(lock)
        })
        .await
    }

    async fn lock_holder(&self, lock_id: &str) -> Result<Option<String>> {
        let lock_id = lock_id.to_string();
        self.read(move |conn, now| {
            Ok(find_lock(conn, &lock_id)?
                .filter(|lock| lock.is_live(now))
                .map(|lock| lock.user_id))
        })
        .await
    }

    async fn unlock(&self, code: &str, lock_id: &str, idem: Option<Idempotency>) -> Result<Coupon> {
        let code = code.to_string();
        let lock_id = lock_id.to_string();
        self.write(idem, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let lock = find_lock(conn, &lock_id)?.ok_or_else(Error::lock_not_found)?;
            if lock.code != code || !lock.is_live(now) {
                return Err(Error::lock_not_found());
            }
            conn.prepare_cached("DELETE FROM locks WHERE id = ?1")
                .db()?
                .execute([&lock_id])
                .db()?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let view = coupon_view(
                conn,
                &row.record,
                book.settings.max_redemptions_per_coupon,
                now,
            )?;
            append_event(conn, event::COUPON_UNLOCKED, &view, now)?;
            Ok(view)
        })
        .await
    }

    async fn redeem(
        &self,
        request: RedeemRequest,
        idem: Option<Idempotency>,
    ) -> Result<Redemption> {
        self.require_coupon(&request.code).await?;
        self.write(idem, move |conn, now| {
            let RedeemRequest {
                code,
                user_id,
                lock_id,
                metadata,
            } = request;
            let row = load_coupon(conn, &code)?;
            if let Some(lock_id) = &lock_id {
                find_lock(conn, lock_id)?.ok_or_else(Error::lock_not_found)?;
            }
            let state = UseState::load(conn, row, &user_id, now)?;
            let plan = state
                .context(&user_id, now)
                .check_redeem(lock_id.as_deref())?;
            let (row, book) = (&state.row, &state.book);
            if let RedeemPlan::ConsumeLock(lock_id) = plan {
                conn.prepare_cached("DELETE FROM locks WHERE id = ?1")
                    .db()?
                    .execute([&lock_id])
                    .db()?;
            }
            let after = CouponRecord {
                redemption_count: row.record.redemption_count + 1,
                ..row.record.clone()
            };
            let totals = save_coupon(
                conn,
                CouponChange {
                    book,
                    before: &row.record,
                    after: &after,
                    assigned_seq: None,
                    redemptions: 1,
                },
            )?;
            add_usage(conn, row.book_seq, &user_id, 0, 1)?;
            let redemption = Redemption {
                id: new_id("red"),
                code: code.clone(),
                book_id: book.id.clone(),
                user_id: user_id.clone(),
                status: RedemptionStatus::Redeemed,
                redeemed_at: now,
                reversed_at: None,
                metadata,
            };
            let metadata_json = redemption.metadata.as_ref().map(to_json).transpose()?;
            conn.prepare_cached(
                "INSERT INTO redemptions (id, code, book_id, user_id, redeemed_at, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .db()?
            .execute(params![
                redemption.id,
                code,
                book.id,
                user_id,
                now.0,
                metadata_json
            ])
            .db()?;
            append_event(conn, event::COUPON_REDEEMED, &redemption, now)?;
            announce_exhaustion(conn, book, &totals, now)?;
            Ok(redemption)
        })
        .await
    }

    async fn void(&self, code: &str, idem: Option<Idempotency>) -> Result<Coupon> {
        let code = code.to_string();
        self.write(idem, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let max = book.settings.max_redemptions_per_coupon;
            if row.record.voided {
                return coupon_view(conn, &row.record, max, now);
            }
            let after = CouponRecord {
                voided: true,
                ..row.record.clone()
            };
            save_coupon(
                conn,
                CouponChange {
                    book: &book,
                    before: &row.record,
                    after: &after,
                    assigned_seq: None,
                    redemptions: 0,
                },
            )?;
            conn.prepare_cached("DELETE FROM locks WHERE code = ?1")
                .db()?
                .execute([&code])
                .db()?;
            let view = coupon_view(conn, &after, max, now)?;
            append_event(conn, event::COUPON_VOIDED, &view, now)?;
            Ok(view)
        })
        .await
    }

    async fn reverse(&self, redemption_id: &str, idem: Option<Idempotency>) -> Result<Redemption> {
        let redemption_id = redemption_id.to_string();
        self.write(idem, move |conn, now| {
            let mut redemption = load_redemption(conn, &redemption_id)?;
            if redemption.status == RedemptionStatus::Reversed {
                return Err(Error::new(
                    ErrorCode::RedemptionAlreadyReversed,
                    "this redemption was already reversed",
                ));
            }
            conn.prepare_cached("UPDATE redemptions SET reversed_at = ?2 WHERE id = ?1")
                .db()?
                .execute(params![redemption_id, now.0])
                .db()?;
            let row = load_coupon(conn, &redemption.code)?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let after = CouponRecord {
                redemption_count: row.record.redemption_count.saturating_sub(1),
                ..row.record.clone()
            };
            save_coupon(
                conn,
                CouponChange {
                    book: &book,
                    before: &row.record,
                    after: &after,
                    assigned_seq: None,
                    redemptions: -1,
                },
            )?;
            add_usage(conn, row.book_seq, &redemption.user_id, 0, -1)?;
            redemption.status = RedemptionStatus::Reversed;
            redemption.reversed_at = Some(now);
            append_event(conn, event::REDEMPTION_REVERSED, &redemption, now)?;
            Ok(redemption)
        })
        .await
    }

    async fn get_redemption(&self, redemption_id: &str) -> Result<Redemption> {
        let redemption_id = redemption_id.to_string();
        self.read(move |conn, _| load_redemption(conn, &redemption_id))
            .await
    }

    async fn list_redemptions(
        &self,
        filter: RedemptionFilter,
        page: PageRequest,
    ) -> Result<Page<Redemption>> {
        self.read(move |conn, _| {
            let mut sql = format!("SELECT {REDEMPTION_COLUMNS} FROM redemptions WHERE seq > ?1");
            let mut values: Vec<String> = Vec::new();
            for (column, value) in [
                ("book_id", &filter.book_id),
                ("user_id", &filter.user_id),
                ("code", &filter.code),
            ] {
                if let Some(value) = value {
                    values.push(value.clone());
                    sql.push_str(&format!(" AND {column} = ?{}", values.len() + 2));
                }
            }
            sql.push_str(" ORDER BY seq LIMIT ?2");
            let mut stmt = conn.prepare_cached(&sql).db()?;
            let after = page.after.unwrap_or(0);
            let fetch = i64::from(page.limit) + 1;
            let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&after, &fetch];
            bound.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
            let rows = stmt.query_map(bound.as_slice(), redemption_row).db()?;
            let items = rows
                .map(|row| row.db().and_then(finish_redemption))
                .collect::<Result<Vec<_>>>()?;
            Ok(page_of(items, page.limit))
        })
        .await
    }

    async fn user_coupons(
        &self,
        user_id: &str,
        book_id: Option<&str>,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>> {
        let user_id = user_id.to_string();
        let book_id = book_id.map(str::to_string);
        self.read(move |conn, now| {
            let after = page.after.unwrap_or(0);
            let book_seq = match &book_id {
                Some(id) => load_book(conn, id)?.seq,
                None => 0,
            };
            let sql = format!(
                "SELECT {COUPON_COLUMNS}, c.assigned_seq FROM coupons c JOIN books b ON b.seq = c.book_seq
                 WHERE c.assigned_to = ?2 AND c.assigned_seq > ?1 AND (?3 = 0 OR c.book_seq = ?3)
                 ORDER BY c.assigned_seq"
            );
            let max_of = |seq: i64| Ok(load_book_by_seq(conn, seq)?.settings.max_redemptions_per_coupon);
            let keep = |coupon: &Coupon| status.is_none_or(|s| coupon.status == s);
            coupon_page(conn, &sql, &[&after, &user_id, &book_seq], page, &max_of, &keep, now)
        })
        .await
    }

    async fn list_events(&self, after: Option<&str>, limit: u32) -> Result<Page<Event>> {
        let after = match after {
            None | Some("") => 0,
            Some(id) => {
                parse_event_id(id).ok_or_else(|| Error::invalid("after", "unknown event id"))?
            }
        };
        self.read(move |conn, _| {
            let mut stmt = conn
                .prepare_cached("SELECT seq, type, created_at, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .db()?;
            let rows = stmt
                .query_map(params![after, i64::from(limit) + 1], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
                })
                .db()?;
            let mut items = Vec::new();
            for row in rows {
                let (seq, event_type, created_at, data) = row.db()?;
                items.push((
                    seq,
                    Event {
                        id: event_id(seq),
                        event_type,
                        created_at: Timestamp(created_at),
                        data: from_json(&data)?,
                    },
                ));
            }
            let mut page = page_of(items, limit);
            page.next_cursor = page.next_cursor.and_then(|_| page.data.last().map(|e| e.id.clone()));
            Ok(page)
        })
        .await
    }

    async fn expire_locks(&self) -> Result<u64> {
        self.write(None, move |conn, now| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, code, user_id, expires_at FROM locks WHERE expires_at <= ?1
                     ORDER BY expires_at LIMIT 1000",
                )
                .db()?;
            let expired = stmt
                .query_map([now.0], lock_row)
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            for lock in &expired {
                conn.prepare_cached("DELETE FROM locks WHERE id = ?1")
                    .db()?
                    .execute([&lock.lock_id])
                    .db()?;
                if let Some(row) = find_coupon(conn, &lock.code)? {
                    let book = load_book_by_seq(conn, row.book_seq)?;
                    let view = coupon_view(
                        conn,
                        &row.record,
                        book.settings.max_redemptions_per_coupon,
                        now,
                    )?;
                    append_event(conn, event::COUPON_LOCK_EXPIRED, &view, now)?;
                }
            }
            Ok(expired.len() as u64)
        })
        .await
    }

    async fn create_api_key(
        &self,
        api_key: ApiKey,
        key_hash: String,
        idem: Option<Idempotency>,
    ) -> Result<ApiKey> {
        self.write(idem, move |conn, _| {
            insert_api_key(conn, &api_key, &key_hash)?;
            Ok(api_key)
        })
        .await
    }

    async fn ensure_api_key(&self, api_key: ApiKey, key_hash: String) -> Result<ApiKey> {
        self.write(None, move |conn, _| {
            if let Some(existing) = find_api_key_by_hash(conn, &key_hash)? {
                return Ok(existing);
            }
            insert_api_key(conn, &api_key, &key_hash)?;
            Ok(api_key)
        })
        .await
    }

    async fn list_api_keys(&self, page: PageRequest) -> Result<Page<ApiKey>> {
        self.read(move |conn, _| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, id, name, scopes, created_at FROM api_keys WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .db()?;
            let rows = stmt
                .query_map(params![page.after.unwrap_or(0), i64::from(page.limit) + 1], api_key_row)
                .db()?;
            let items = rows
                .map(|row| row.db().and_then(finish_api_key))
                .collect::<Result<Vec<_>>>()?;
            Ok(page_of(items, page.limit))
        })
        .await
    }

    async fn delete_api_key(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(None, move |conn, _| {
            let deleted = conn
                .prepare_cached("DELETE FROM api_keys WHERE id = ?1")
                .db()?
                .execute([&id])
                .db()?;
            if deleted == 0 {
                return Err(Error::new(
                    ErrorCode::ApiKeyNotFound,
                    format!("no API key with id {id:?}"),
                ));
            }
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let key_hash = key_hash.to_string();
        self.read(move |conn, _| find_api_key_by_hash(conn, &key_hash))
            .await
    }
}

fn insert_job(
    conn: &Connection,
    book_id: &str,
    kind: JobKind,
    total: u64,
    spec: &Value,
    now: Timestamp,
) -> Result<(i64, Job)> {
    let book = load_book(conn, book_id)?;
    if !book.settings.status.accepts_codes() {
        return Err(Error::new(
            ErrorCode::BookNotActive,
            "codes cannot be added to an archived book",
        ));
    }
    let job = Job::start(new_id("job"), kind, book.id.clone(), total, now);
    conn.prepare_cached(
        "INSERT INTO jobs (id, book_id, running, body, spec) VALUES (?1, ?2, 1, ?3, ?4)",
    )
    .db()?
    .execute(params![job.id, job.book_id, to_json(&job)?, to_json(spec)?])
    .db()?;
    Ok((conn.last_insert_rowid(), job))
}

fn load_job(conn: &Connection, job_id: &str) -> Result<(i64, Job, Value)> {
    let found: Option<(i64, String, String)> = conn
        .prepare_cached("SELECT seq, body, spec FROM jobs WHERE id = ?1")
        .db()?
        .query_row([job_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .db()?;
    match found {
        Some((seq, body, spec)) => Ok((seq, from_json(&body)?, from_json(&spec)?)),
        None => Err(Error::new(
            ErrorCode::JobNotFound,
            format!("no job with id {job_id:?}"),
        )),
    }
}

fn save_job(conn: &Connection, job_seq: i64, job: &Job, spec: Option<&Value>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE jobs SET running = ?2, body = ?3, spec = COALESCE(?4, spec) WHERE seq = ?1",
    )
    .db()?
    .execute(params![
        job_seq,
        job.status == JobStatus::Running,
        to_json(job)?,
        spec.map(to_json).transpose()?
    ])
    .db()?;
    Ok(())
}

fn announce_codes_added(conn: &Connection, job: &Job, now: Timestamp) -> Result<()> {
    if job.inserted > 0 {
        let view = load_book_view(conn, &job.book_id, now)?;
        append_event(conn, event::BOOK_CODES_ADDED, &view, now)?;
    }
    Ok(())
}

/// Inserts a job's accepted codes into its book. A code that exists already is a
/// duplicate when this same job stored it (an earlier line of the file), else it
/// exists elsewhere.
fn insert_codes(
    conn: &Connection,
    book: &BookRow,
    job_seq: i64,
    accepted: &[(u64, String)],
    now: Timestamp,
) -> Result<BatchOutcome> {
    let mut seq: i64 = conn
        .prepare_cached("SELECT next_code_seq FROM books WHERE seq = ?1")
        .db()?
        .query_row([book.seq], |r| r.get(0))
        .db()?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO coupons (book_seq, seq, code, state, created_at, job_seq)
             VALUES (?1, ?2, ?3, 0, ?4, ?5) ON CONFLICT (code) DO NOTHING",
        )
        .db()?;
    let mut owner = conn
        .prepare_cached("SELECT job_seq FROM coupons WHERE code = ?1")
        .db()?;
    let mut outcome = BatchOutcome::default();
    // In code order, the unique index is written page after page instead of at
    // random places: bulk inserts run much faster.
    let mut in_order: Vec<&(u64, String)> = accepted.iter().collect();
    in_order.sort_unstable_by(|a, b| a.1.cmp(&b.1));
    for (line, code) in in_order {
        seq += 1;
        if insert
            .execute(params![book.seq, seq, code, now.0, job_seq])
            .db()?
            == 1
        {
            outcome.inserted += 1;
            continue;
        }
        let stored_by: Option<i64> = owner.query_row([code], |r| r.get(0)).db()?;
        if stored_by == Some(job_seq) {
            outcome.duplicates.push((*line, code.clone()));
        } else {
            outcome.already_exist.push((*line, code.clone()));
        }
    }
    conn.prepare_cached(
        "UPDATE books SET next_code_seq = ?2, n_total = n_total + ?3,
           n_available = n_available + ?3, updated_at = ?4 WHERE seq = ?1",
    )
    .db()?
    .execute(params![book.seq, seq, outcome.inserted as i64, now.0])
    .db()?;
    Ok(outcome)
}

fn assign_to(
    conn: &Connection,
    book: &BookRow,
    record: &CouponRecord,
    user_id: &str,
    assign_seq: &AtomicI64,
) -> Result<(CouponRecord, BookTotals)> {
    let after = CouponRecord {
        assigned_to: Some(user_id.to_string()),
        ..record.clone()
    };
    let seq = assign_seq.fetch_add(1, Ordering::Relaxed) + 1;
    let totals = save_coupon(
        conn,
        CouponChange {
            book,
            before: record,
            after: &after,
            assigned_seq: Some(seq),
            redemptions: 0,
        },
    )?;
    add_usage(conn, book.seq, user_id, 1, 0)?;
    Ok((after, totals))
}

/// Recomputes every coupon's base status and the book's counters, after the book's
/// per-coupon limit changed.
fn recount_book(conn: &Connection, book_seq: i64, max: Option<u32>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE coupons SET state = CASE
            WHEN voided THEN 3
            WHEN ?2 IS NOT NULL AND redemption_count >= ?2 THEN 2
            WHEN assigned_to IS NOT NULL THEN 1
            ELSE 0 END
         WHERE book_seq = ?1",
    )
    .db()?
    .execute(params![book_seq, max])
    .db()?;
    let mut counts = [0i64; 4];
    let mut stmt = conn
        .prepare_cached("SELECT state, COUNT(*) FROM coupons WHERE book_seq = ?1 GROUP BY state")
        .db()?;
    let rows = stmt
        .query_map([book_seq], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .db()?;
    for row in rows {
        let (state, n) = row.db()?;
        if let Some(slot) = counts.get_mut(state as usize) {
            *slot = n;
        }
    }
    conn.prepare_cached(
        "UPDATE books SET n_available = ?2, n_assigned = ?3, n_redeemed = ?4, n_voided = ?5 WHERE seq = ?1",
    )
    .db()?
    .execute(params![book_seq, counts[0], counts[1], counts[2], counts[3]])
    .db()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fresh() -> (tempfile::TempDir, crate::store::DynStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("test.db")).expect("open store");
        (dir, std::sync::Arc::new(store))
    }

    crate::conformance_tests!(fresh);
}
