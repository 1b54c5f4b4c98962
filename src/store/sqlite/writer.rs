//! The single writer thread (group commit, operations that leave no trace when refused,
//! idempotency records), the pool of read connections, and how SQLite errors reach
//! callers.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{Error, ErrorCode, Result, Timestamp};
use crate::store::{Idempotency, IdempotencyTtl};

use super::SqliteStore;

/// Operations committed together at most; bounds the latency one commit adds.
pub(super) const MAX_BATCH: usize = 512;

pub(super) const READERS: usize = 8;

/// `.db()` turns a SQLite error into the service's error without leaking SQL.
pub(super) trait Db<T> {
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

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("encode: {e}")))
}

pub(super) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("decode stored JSON: {e}")))
}

pub(super) type Completion = Box<dyn FnOnce(Result<()>) + Send>;

/// What one operation left in the batch transaction.
pub(super) struct Applied {
    /// What to do once the batch is committed (or not).
    complete: Completion,
    /// The operation failed after it had written: the transaction holds half of it.
    torn: bool,
}

/// A write operation: runs inside the batch transaction (or learns with `None` that the
/// batch could not start), and returns what to do once the batch is committed.
pub(super) type WriteOp = Box<dyn FnOnce(Option<&Connection>) -> Applied + Send>;

pub(super) struct ReaderPool {
    pub(super) path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    pub(super) fn take(&self) -> Result<Connection> {
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

    pub(super) fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < READERS
        {
            idle.push(conn);
        }
    }
}

impl SqliteStore {
    /// Runs `f` in the writer's next batch, with the idempotency record checked and
    /// written in the same transaction; answers after the commit.
    pub(super) async fn write<T, F>(&self, idem: Option<Idempotency>, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(&Connection, Timestamp) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T>>();
        let clock = self.clock.clone();
        let ttl = self.idempotency_ttl;
        let op: WriteOp = Box::new(move |conn| {
            let (result, torn) = match conn {
                Some(conn) => run_write(conn, idem, ttl, clock.now(), f),
                None => (
                    Err(Error::unavailable(
                        "the store could not start a transaction",
                    )),
                    false,
                ),
            };
            Applied {
                complete: Box::new(move |committed: Result<()>| {
                    let _ = reply.send(committed.and(result));
                }),
                torn,
            }
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

    /// Runs `f` on a reader connection inside one read transaction (a consistent view).
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
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

/// Largest the write-ahead log may grow before the writer stops for a checkpoint
/// (also the writer's `journal_size_limit`).
pub(super) const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Copies the WAL into the database file from its own connection, so the writer seldom
/// pauses for a checkpoint (its automatic checkpoints are off).
pub(super) fn spawn_checkpointer(path: &Path, alive: std::sync::Weak<()>) -> Result<()> {
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

/// Under steady writes the checkpointer's passive checkpoints never catch up with the
/// writer, and SQLite starts the log over only once one has: the file grew by ~6 KB per
/// redemption for as long as the load lasted, and kept that size. So between two
/// batches, once the log passes the limit, the writer checkpoints it itself (nothing is
/// written meanwhile, so the checkpoint completes); its next transaction then starts the
/// log over and `journal_size_limit` cuts the file back.
fn bound_wal(conn: &Connection, wal: &Path) {
    if std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_LIMIT_BYTES)
        && let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
    {
        tracing::warn!(error = %err, "WAL checkpoint failed");
    }
}

/// The write-ahead log of the database at `path`.
pub(super) fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

pub(super) fn writer_loop(conn: Connection, wal: PathBuf, receiver: mpsc::Receiver<WriteOp>) {
    while let Ok(first) = receiver.recv() {
        bound_wal(&conn, &wal);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE").db() {
            for op in batch {
                (op(None).complete)(Err(err.clone()));
            }
            continue;
        }
        let applied: Vec<Applied> = batch.into_iter().map(|op| op(Some(&conn))).collect();
        // A refused operation normally stops before its first write; one that failed
        // after writing cannot be undone alone, so the whole batch is rolled back and
        // every caller in it told to try again (nothing of it was acknowledged).
        let committed = if applied.iter().any(|a| a.torn) {
            let _ = conn.execute_batch("ROLLBACK");
            Err(Error::unavailable(
                "a write failed half-way; nothing of it was kept, try again",
            ))
        } else {
            let committed = conn.execute_batch("COMMIT").db();
            if committed.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            committed
        };
        for Applied { complete, .. } in applied {
            complete(committed.clone());
        }
    }
}

/// Runs `f`, answering from the idempotency record instead when one younger than
/// `ttl` holds the key (an older one counts as absent and is replaced).
/// Returns whether `f` failed after it had written (see `writer_loop`).
///
/// No savepoint is opened: operations decide before they write, so a refusal leaves
/// nothing to undo, and a savepoint per operation copied every page the operation
/// touched into the statement journal (a seventh of the writer's time under load).
pub(super) fn run_write<T, F>(
    conn: &Connection,
    idem: Option<Idempotency>,
    ttl: IdempotencyTtl,
    now: Timestamp,
    f: F,
) -> (Result<T>, bool)
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&Connection, Timestamp) -> Result<T>,
{
    let changes_before = conn.total_changes();
    match apply_write(conn, idem, ttl, now, f) {
        Ok(applied) => applied,
        // The store failed around the operation (its record could not be read or
        // written): torn if the operation had written.
        Err(err) => (Err(err), conn.total_changes() != changes_before),
    }
}

fn apply_write<T, F>(
    conn: &Connection,
    idem: Option<Idempotency>,
    ttl: IdempotencyTtl,
    now: Timestamp,
    f: F,
) -> Result<(Result<T>, bool)>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&Connection, Timestamp) -> Result<T>,
{
    if let Some(idem) = &idem {
        let stored: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT fingerprint, response FROM idempotency
                 WHERE caller = ?1 AND key = ?2 AND created_at > ?3",
            )
            .db()?
            .query_row(params![idem.caller, idem.key, ttl.cutoff(now)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .db()?;
        if let Some((fingerprint, response)) = stored {
            if fingerprint != idem.fingerprint {
                return Ok((
                    Err(Error::new(
                        ErrorCode::IdempotencyKeyReused,
                        "this Idempotency-Key was used with a different request",
                    )),
                    false,
                ));
            }
            return Ok((from_json::<Result<T>>(&response)?, false));
        }
    }
    let changes_before = conn.total_changes();
    let result = match catch_unwind(AssertUnwindSafe(|| f(conn, now))) {
        Ok(result) => result,
        Err(_) => Err(Error::internal("the operation failed unexpectedly")),
    };
    if result.is_err() && conn.total_changes() != changes_before {
        // Recording its answer would only be rolled back with the batch.
        return Ok((result, true));
    }
    if let Some(idem) = idem {
        let replayable = match &result {
            Ok(_) => true,
            Err(err) => err.code.is_deterministic(),
        };
        if replayable {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO idempotency (caller, key, fingerprint, response, created_at)
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
    Ok((result, false))
}
