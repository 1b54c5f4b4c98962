//! Conformance: idempotency records answer replays for their TTL, then count as absent.

use std::time::Duration;

use serde_json::json;

use crate::domain::job::{CodeIntake, JobKind};
use crate::domain::{Clock, ErrorCode, PageRequest};
use crate::store::{DynStore, Idempotency};

use super::{by_key, codes, settings};

/// The TTL the clocked stores of the suite are opened with.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(3600);

fn idem(key: &str, fingerprint: &str) -> Option<Idempotency> {
    Some(Idempotency {
        caller: "key_ttl".into(),
        key: key.into(),
        fingerprint: fingerprint.into(),
    })
}

pub async fn idempotency_records_expire_after_their_ttl(store: &DynStore, clock: &Clock) {
    let ttl = IDEMPOTENCY_TTL.as_millis() as i64;
    let first = store
        .create_book(settings(json!({})), by_key().with_idem(idem("book-1", "a")))
        .await
        .expect("create");
    let list = codes("TTL", 2);
    let intake = || CodeIntake::from_codes(list.iter().map(String::as_str));
    let job = store
        .add_codes(
            &first.id,
            JobKind::Upload,
            intake(),
            by_key().with_idem(idem("codes-1", "c")),
        )
        .await
        .expect("add codes");
    assert_eq!(job.inserted, 2);
    let untouched = store
        .create_book(settings(json!({})), by_key().with_idem(idem("book-2", "a")))
        .await
        .expect("create");

    // Just inside the TTL: replayed, and the key still refuses another request.
    clock.advance(ttl - 1000);
    let replay = store
        .create_book(settings(json!({})), by_key().with_idem(idem("book-1", "a")))
        .await
        .expect("replay");
    assert_eq!(replay.id, first.id);
    let reused = store
        .create_book(settings(json!({})), by_key().with_idem(idem("book-1", "b")))
        .await
        .expect_err("reuse");
    assert_eq!(reused.code, ErrorCode::IdempotencyKeyReused);
    let job_replay = store
        .add_codes(
            &first.id,
            JobKind::Upload,
            intake(),
            by_key().with_idem(idem("codes-1", "c")),
        )
        .await
        .expect("replay codes");
    assert_eq!(job_replay.id, job.id);

    // Past the TTL: the key is free again, whatever request it protected before.
    clock.advance(2000);
    let second = store
        .create_book(settings(json!({})), by_key().with_idem(idem("book-1", "b")))
        .await
        .expect("create again");
    assert_ne!(second.id, first.id, "an expired record was replayed");
    let again = store
        .add_codes(
            &first.id,
            JobKind::Upload,
            intake(),
            by_key().with_idem(idem("codes-1", "c")),
        )
        .await
        .expect("add codes again");
    assert_ne!(again.id, job.id, "an expired record was replayed");
    assert_eq!((again.inserted, again.already_exist), (0, 2));
    let books = store
        .list_books(PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(books.data.len(), 3);

    // Sweeping takes at most the one record still expired (stores whose records
    // expire by themselves take none); the new records answer replays of their own
    // request only.
    let sweep = store.forget_expired_idempotency(1000).await.expect("sweep");
    assert!(sweep <= 1, "only the expired record may go: {sweep}");
    let fresh = store
        .create_book(settings(json!({})), by_key().with_idem(idem("book-2", "z")))
        .await
        .expect("an expired key is free");
    assert_ne!(fresh.id, untouched.id);
    let replay = store
        .create_book(settings(json!({})), by_key().with_idem(idem("book-1", "b")))
        .await
        .expect("replay");
    assert_eq!(replay.id, second.id);
    let reused = store
        .create_book(settings(json!({})), by_key().with_idem(idem("book-1", "a")))
        .await
        .expect_err("reuse");
    assert_eq!(reused.code, ErrorCode::IdempotencyKeyReused);
}
