//! Model-based tests: random histories of operations run on the reference model of
//! API.md and on every store; each step's answer and the final state must agree.
//!
//! `COUPON_BOOK_MODEL_CASES` sets how many histories each store runs (a soak), and
//! `COUPON_BOOK_MODEL_STEPS` how long they may be.

mod ops;
mod reference;
mod regressions;
mod runner;

use std::sync::Arc;

use coupon_book::domain::book::Counts as StoreCounts;
use coupon_book::domain::{Clock, Timestamp};
use coupon_book::store::DynStore;
use coupon_book::store::dynamodb::{DynamoStore, local_client};
use coupon_book::store::sqlite::SqliteStore;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use ops::Op;
use reference::Counts;
use runner::{Replay, START_MILLIS};

fn counts_of(counts: &StoreCounts) -> Counts {
    Counts {
        total: counts.total,
        available: counts.available,
        assigned: counts.assigned,
        locked: counts.locked,
        redeemed: counts.redeemed,
        voided: counts.voided,
    }
}

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh store of the kind under test, on its own manual clock.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Sqlite,
    Dynamo,
}

pub struct Fresh {
    pub store: DynStore,
    pub clock: Clock,
    _dir: Option<tempfile::TempDir>,
}

pub async fn fresh(kind: Kind) -> Fresh {
    let clock = Clock::manual(Timestamp(START_MILLIS));
    match kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open_with_clock(dir.path().join("model.db"), clock.clone())
                .expect("open the SQLite store");
            Fresh {
                store: Arc::new(store),
                clock,
                _dir: Some(dir),
            }
        }
        Kind::Dynamo => {
            let endpoint = std::env::var("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT").expect(
                "COUPON_BOOK_TEST_DYNAMODB_ENDPOINT is not set: run ./scripts/test.sh, which \
                 starts a local DynamoDB-compatible server",
            );
            let table = format!("model-{}", ulid::Ulid::new().to_string().to_lowercase());
            let store = DynamoStore::with_client(local_client(&endpoint), &table)
                .expect("DynamoDB store")
                .with_clock(clock.clone());
            store.create_table(false).await.expect("create the table");
            Fresh {
                store: Arc::new(store),
                clock,
                _dir: None,
            }
        }
    }
}

/// Runs one history on a fresh store of `kind`.
pub async fn replay(kind: Kind, history: &[Op]) -> Result<(), String> {
    let fresh = fresh(kind).await;
    Replay {
        store: &fresh.store,
        clock: &fresh.clock,
    }
    .run(history)
    .await
}

fn run_histories(kind: Kind, default_cases: u32) {
    let cases = setting("COUPON_BOOK_MODEL_CASES", default_cases);
    let steps = setting("COUPON_BOOK_MODEL_STEPS", 40) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&ops::history(steps), |history| {
        runtime
            .block_on(replay(kind, &history))
            .map_err(TestCaseError::fail)
    });
    if let Err(failure) = result {
        panic!("{kind:?}: the store and the model disagree: {failure}");
    }
}

#[test]
fn sqlite_agrees_with_the_model() {
    run_histories(Kind::Sqlite, 200);
}

#[test]
fn dynamodb_agrees_with_the_model() {
    run_histories(Kind::Dynamo, 120);
}
