//! The embedded store: one SQLite file in WAL mode.
//!
//! All writes go through one writer thread that commits the operations waiting in its
//! queue together (group commit) with `synchronous=FULL`: an operation decides before
//! it writes, so a refused one leaves no trace (one that fails after writing rolls the
//! whole batch back, see `writer_loop`), and its caller is answered only after the
//! COMMIT that holds its write has reached the disk. Reads use a small pool of
//! separate connections and never wait for the writer.

mod books;
mod bulk;
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
    /// Idempotency records older than this answer no replay and are swept away.
    idempotency_ttl: crate::store::IdempotencyTtl,
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
        conn.pragma_update(None, "journal_size_limit", writer::WAL_LIMIT_BYTES as i64)
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
        let wal = writer::wal_path(&path);
        let (sender, receiver) = mpsc::channel::<WriteOp>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, wal, receiver))
            .map_err(|e| Error::internal(format!("start writer: {e}")))?;
        Ok(SqliteStore {
            writer: Mutex::new(sender),
            readers: Arc::new(ReaderPool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
            assign_seq: Arc::new(AtomicI64::new(max_assign_seq)),
            clock,
            idempotency_ttl: crate::store::IdempotencyTtl::default(),
            _alive: alive,
        })
    }

    /// The same store remembering `Idempotency-Key`s for `ttl`.
    pub fn with_idempotency_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.idempotency_ttl = crate::store::IdempotencyTtl::new(ttl);
        self
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read(|conn, _| conn.query_row("SELECT 1", [], |_| Ok(())).db())
            .await
    }

    async fn forget_expired_idempotency(&self, limit: u32) -> Result<u64> {
        let ttl = self.idempotency_ttl;
        // One short write per batch: the writer's other work waits for one batch at most.
        self.write(None, move |conn, now| {
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM idempotency WHERE (caller, key) IN (SELECT caller, key
                     FROM idempotency WHERE created_at <= ?1 ORDER BY created_at LIMIT ?2)",
                )
                .db()?
                .execute(rusqlite::params![ttl.cutoff(now), limit])
                .db()?;
            Ok(deleted as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::by_key;

    async fn fresh() -> (tempfile::TempDir, crate::store::DynStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("test.db")).expect("open store");
        (dir, std::sync::Arc::new(store))
    }

    async fn clocked(
        clock: Clock,
        idempotency_ttl: std::time::Duration,
    ) -> (tempfile::TempDir, crate::store::DynStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open_with_clock(dir.path().join("test.db"), clock)
            .expect("open store")
            .with_idempotency_ttl(idempotency_ttl);
        (dir, std::sync::Arc::new(store))
    }

    crate::conformance_tests!(fresh, clocked);

    #[tokio::test]
    async fn the_sweep_deletes_expired_idempotency_records_in_batches() {
        let clock = Clock::manual(crate::domain::Timestamp::now());
        let (dir, store) = clocked(clock.clone(), std::time::Duration::from_secs(60)).await;
        let settings = || {
            serde_json::from_value::<crate::domain::book::CreateBook>(
                serde_json::json!({"name": "sweep"}),
            )
            .expect("body")
            .into_settings()
            .expect("settings")
        };
        let idem = |key: String| {
            Some(crate::store::Idempotency {
                caller: "key_sweep".into(),
                key,
                fingerprint: "f".into(),
            })
        };
        for i in 0..5 {
            store
                .create_book(settings(), by_key().with_idem(idem(format!("old-{i}"))))
                .await
                .expect("create");
        }
        clock.advance(30_000);
        store
            .create_book(settings(), by_key().with_idem(idem("young".into())))
            .await
            .expect("create");
        assert_eq!(
            store.forget_expired_idempotency(10).await.expect("sweep"),
            0
        );
        clock.advance(31_000);
        assert_eq!(store.forget_expired_idempotency(2).await.expect("sweep"), 2);
        assert_eq!(
            store.forget_expired_idempotency(10).await.expect("sweep"),
            3
        );
        assert_eq!(
            store.forget_expired_idempotency(10).await.expect("sweep"),
            0
        );
        let conn = Connection::open(dir.path().join("test.db")).expect("open");
        let left: Vec<String> = conn
            .prepare("SELECT key FROM idempotency")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("rows");
        assert_eq!(left, ["young"]);
    }

    /// Counts the idempotency records the writer kept (the table any write may touch).
    fn records(dir: &tempfile::TempDir) -> i64 {
        let conn = Connection::open(dir.path().join("test.db")).expect("open");
        conn.query_row("SELECT COUNT(*) FROM idempotency", [], |r| r.get(0))
            .expect("count")
    }

    #[tokio::test]
    async fn an_operation_that_fails_after_writing_leaves_nothing_and_asks_for_a_retry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("test.db")).expect("open store");
        let insert = |conn: &Connection, key: &str| {
            conn.execute(
                "INSERT INTO idempotency (caller, key, fingerprint, response, created_at)
                 VALUES ('c', ?1, 'f', 'null', 0)",
                [key],
            )
            .db()
        };
        let torn = store
            .write(None, move |conn, _| {
                insert(conn, "half")?;
                Err::<(), _>(Error::coupon_not_found("HALF"))
            })
            .await
            .expect_err("a torn write is refused");
        assert_eq!(torn.code, crate::domain::ErrorCode::StoreUnavailable);
        assert_eq!(records(&dir), 0);

        let refused = store
            .write(None, |_, _| Err::<(), _>(Error::coupon_not_found("NONE")))
            .await
            .expect_err("refused");
        assert_eq!(refused.code, crate::domain::ErrorCode::CouponNotFound);
        store
            .write(None, move |conn, _| insert(conn, "whole"))
            .await
            .expect("a whole write commits");
        assert_eq!(records(&dir), 1);
    }
}
