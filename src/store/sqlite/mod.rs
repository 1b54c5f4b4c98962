//! The embedded store: one SQLite file in WAL mode.
//!
//! All writes go through one writer thread that commits the operations waiting in its
//! queue together (group commit) with `synchronous=FULL`: each operation runs in its own
//! savepoint, so a refused operation leaves no trace, and its caller is answered only
//! after the COMMIT that holds its write has reached the disk. Reads use a small pool of
//! separate connections and never wait for the writer.

mod books;
mod codes;
mod coupons;
mod events;
mod keys;
mod redemptions;
mod rows;
mod schema;
mod webhooks;
mod writer;

use std::path::Path;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, mpsc};

use async_trait::async_trait;
use rusqlite::Connection;

use super::prelude::*;
use crate::domain::{Clock, Error, Result};

use schema::migrate;
use writer::Db;
use writer::{ReaderPool, WriteOp, spawn_checkpointer, writer_loop};

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
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read(|conn, _| conn.query_row("SELECT 1", [], |_| Ok(())).db())
            .await
    }
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
