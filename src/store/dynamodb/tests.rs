//! Tests of the DynamoDB store beyond the conformance suite: outbox partitions,
//! read economy of redeem, the event feed's horizon, retries under faults.

use super::client::MAX_TRANSIENT_RETRIES;
use super::expr::put_new;
use super::outbox::{event_shard, shard_of};
use super::state::{lock_code, lock_id_for, lock_parts};
use std::sync::Arc;

use aws_sdk_dynamodb::types::StreamViewType;
use serde_json::Value;

use super::attr::{get_s, key, n, s};
use super::*;
use crate::domain::book::UpdateBook;
use crate::domain::coupon::CouponStatus;
use crate::domain::event::{self, Event};
use crate::domain::job::{CodeIntake, JobKind};
use crate::domain::{ErrorCode, Timestamp};
use crate::store::conformance::by_key;
use crate::store::{Idempotency, RedeemRequest};

#[test]
fn events_of_one_coupon_share_an_outbox_partition() {
    let event = |event_type: &str, data: Value| Event {
        id: "evt_1".into(),
        event_type: event_type.into(),
        created_at: Timestamp(0),
        actor: event::Actor::unrecorded(),
        data,
    };
    let locked = event_shard(&event(
        "coupon.locked",
        serde_json::json!({"code": "SUMMER-1"}),
    ));
    let redeemed = event_shard(&event(
        "coupon.redeemed",
        serde_json::json!({"id": "red_1", "code": "SUMMER-1"}),
    ));
    assert_eq!(locked, redeemed);
    let shards: std::collections::HashSet<u32> = (0..200)
        .map(|i| {
            event_shard(&event(
                "coupon.locked",
                serde_json::json!({"code": format!("C-{i}")}),
            ))
        })
        .collect();
    assert_eq!(
        shards.len() as u32,
        EVENT_SHARDS,
        "codes spread over every partition"
    );
}

/// Drops nothing: the test server is in memory and stops with the test run.
pub struct TableGuard;

fn endpoint() -> String {
    std::env::var("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "COUPON_BOOK_TEST_DYNAMODB_ENDPOINT is not set: run the tests with \
             ./scripts/test.sh, which starts a local DynamoDB-compatible server"
        )
    })
}

async fn fresh_store() -> DynamoStore {
    let table = format!(
        "coupon-book-test-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let store = DynamoStore::with_client(local_client(&endpoint()), &table).expect("store");
    assert!(
        store
            .create_table(test_tables_have_a_stream())
            .await
            .expect("create table")
    );
    store
}

/// The test command makes tables without a stream (dynoxide slows down with one).
fn test_tables_have_a_stream() -> bool {
    !std::env::var("COUPON_BOOK_DYNAMODB_STREAM").is_ok_and(|v| v == "off")
}

async fn fresh() -> (TableGuard, crate::store::DynStore) {
    (TableGuard, Arc::new(fresh_store().await))
}

async fn clocked(
    clock: crate::domain::Clock,
    idempotency_ttl: std::time::Duration,
) -> (TableGuard, crate::store::DynStore) {
    let store = fresh_store()
        .await
        .with_clock(clock)
        .with_idempotency_ttl(idempotency_ttl);
    (TableGuard, Arc::new(store))
}

crate::conformance_tests!(fresh, clocked);

async fn book_with_codes(store: &DynamoStore, codes: &[&str]) -> String {
    let settings = serde_json::from_value::<crate::domain::book::CreateBook>(
        serde_json::json!({"name": "faults", "status": "active", "requires_assignment": false}),
    )
    .expect("body")
    .into_settings()
    .expect("settings");
    let book = store.create_book(settings, by_key()).await.expect("book");
    let intake = CodeIntake::from_codes(codes.iter().copied());
    let job = store
        .add_codes(&book.id, JobKind::Upload, intake, by_key())
        .await
        .expect("codes");
    assert_eq!(job.inserted, codes.len() as u64);
    book.id
}

fn redeem(code: &str, user: &str) -> RedeemRequest {
    RedeemRequest {
        code: code.into(),
        user_id: user.into(),
        lock_id: None,
        metadata: None,
        order: None,
    }
}

/// The table is made with its stream unless told otherwise: the Lambda streams
/// function needs it, and the test command turns it off.
#[tokio::test]
async fn the_table_has_a_stream_of_new_images_by_default() {
    let store = fresh_store().await;
    let client = local_client(&endpoint());
    let stream_of = |table: String| {
        let client = client.clone();
        async move {
            let described = client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .expect("described");
            described
                .table()
                .and_then(|t| t.stream_specification())
                .filter(|s| s.stream_enabled())
                .and_then(|s| s.stream_view_type())
                .cloned()
        }
    };
    let table = format!("{}-streamed", store.table);
    assert!(create_table(&client, &table, true).await.expect("created"));
    assert_eq!(stream_of(table).await, Some(StreamViewType::NewImage));
    assert_eq!(
        stream_of(store.table.clone()).await.is_some(),
        test_tables_have_a_stream(),
        "the stream setting is followed"
    );
}

/// A redeem is one request where the book is known (from the lock id, or an
/// earlier read of the code) and two (a coupon read first) otherwise. Changed
/// settings, a budget at its edge and shapes the conditions do not cover are each
/// caught by the transaction and decided on full reads.
#[tokio::test]
async fn redeem_reads_as_little_as_it_can_and_falls_back_when_it_must() {
    let store = fresh_store().await;
    let codes = ["FEW-1", "FEW-2", "FEW-3", "FEW-4", "FEW-5", "FEW-6"];
    let book_id = book_with_codes(&store, &codes).await;
    let budget = serde_json::json!({"max_total_redemptions": 5});
    let patch = serde_json::from_value::<UpdateBook>(budget).expect("patch");
    store
        .update_book(&book_id, patch, by_key())
        .await
        .expect("budget");
    // The requests and the reads among them that a redeem took.
    let requests_of = |request: RedeemRequest| {
        let store = &store;
        async move {
            let before = store.capacity();
            store.redeem(request, by_key()).await.expect("redeemed");
            let after = store.capacity();
            (
                after.requests - before.requests,
                after.read_requests - before.read_requests,
            )
        }
    };

    // A code this process read before: the transaction alone.
    store.get_coupon("FEW-1").await.expect("coupon");
    assert_eq!(requests_of(redeem("FEW-1", "ann")).await, (1, 0));

    // A code never read here: the coupon, then the transaction; and where the
    // book is not known either, its settings and counters once more (the coupon
    // is not read again).
    assert_eq!(requests_of(redeem("FEW-2", "bob")).await, (2, 1));
    store.books.lock().expect("memory").clear();
    assert_eq!(requests_of(redeem("FEW-6", "fay")).await, (3, 2));

    // With a lock, made by any process: the lock id names the book.
    let lock = store
        .lock("FEW-3", "cy", None.into(), by_key())
        .await
        .expect("lock");
    store.code_books.lock().expect("memory").clear();
    let with_lock = RedeemRequest {
        lock_id: Some(lock.lock_id.clone()),
        ..redeem("FEW-3", "cy")
    };
    assert_eq!(requests_of(with_lock).await, (1, 0));
    let coupon = store.get_coupon("FEW-3").await.expect("coupon");
    assert_eq!(coupon.redemption_count, 1);
    assert!(
        store
            .lock_holder(&lock.lock_id)
            .await
            .expect("holder")
            .is_none(),
        "the lock is used up"
    );

    // Someone else's live lock on a known code: not the unread shape; the full
    // decision refuses.
    let other = store
        .lock("FEW-5", "dee", None.into(), by_key())
        .await
        .expect("lock");
    let refused = store
        .redeem(redeem("FEW-5", "eve"), by_key())
        .await
        .expect_err("reserved by another user");
    assert_eq!(refused.code, ErrorCode::CouponLocked);
    store
        .unlock("FEW-5", &other.lock_id, by_key())
        .await
        .expect("unlock");

    // The fifth use is the budget's last: decided on the counters as read, and
    // the book is announced as used up.
    store
        .redeem(redeem("FEW-4", "dee"), by_key())
        .await
        .expect("fifth");
    let refused = store
        .redeem(redeem("FEW-5", "eve"), by_key())
        .await
        .expect_err("budget used up");
    assert_eq!(refused.code, ErrorCode::BookBudgetExhausted);
    let events = store.list_events(None, 1000).await.expect("events").data;
    let exhausted = events
        .iter()
        .filter(|e| e.event_type == event::BOOK_EXHAUSTED)
        .count();
    assert_eq!(exhausted, 1);

    // Settings changed since they were read: the outdated ones are not used.
    let paused = serde_json::json!({"status": "paused"});
    let patch = serde_json::from_value::<UpdateBook>(paused).expect("patch");
    store
        .update_book(&book_id, patch, by_key())
        .await
        .expect("paused");
    let refused = store
        .redeem(redeem("FEW-5", "eve"), by_key())
        .await
        .expect_err("paused book");
    assert_eq!(refused.code, ErrorCode::BookNotActive, "{refused:?}");
    let coupon = store.get_coupon("FEW-5").await.expect("coupon");
    assert_eq!(coupon.redemption_count, 0);
}

/// Assigning the last available code writes `coupon.assigned` and `book.exhausted`
/// in one transaction: both go to the coupon's outbox partition, so a reader of
/// the partitions one after another never sees the later of the two alone.
#[tokio::test]
async fn the_events_of_one_change_share_a_partition() {
    let store = fresh_store().await;
    let codes = ["LAST-0", "LAST-1", "LAST-2", "LAST-3", "LAST-4", "LAST-5"];
    let book_id = book_with_codes(&store, &codes).await;
    // The last code assigned is one whose own partition is not the book's.
    let last = *codes
        .iter()
        .find(|code| shard_of(code) != shard_of(&book_id))
        .expect("a code outside the book's partition");
    for code in codes.iter().filter(|code| **code != last) {
        store.assign(code, "bob", by_key()).await.expect("assigned");
    }
    store.assign(last, "ann", by_key()).await.expect("assigned");
    let mut partition_of = HashMap::new();
    for shard in 0..EVENT_SHARDS {
        for item in store
            .query_all(None, &format!("EVT#{shard}"))
            .await
            .expect("outbox")
        {
            let data = get_s(&item, "data").expect("data");
            if data.contains(last) || !data.contains("LAST-") {
                partition_of.insert(get_s(&item, "type").expect("type"), shard);
            }
        }
    }
    let assigned = partition_of.get(event::COUPON_ASSIGNED).copied();
    assert!(assigned.is_some(), "{partition_of:?}");
    assert_eq!(
        partition_of.get(event::BOOK_EXHAUSTED).copied(),
        assigned,
        "{partition_of:?}"
    );
    assert_eq!(assigned, Some(shard_of(last)), "the coupon's own partition");
}

/// An event made while the feed is being read (here: stamped a little in the
/// future) is not listed by that read, so no reader's cursor can move past an
/// event of another partition that commits meanwhile; the next read lists it.
#[tokio::test]
async fn the_feed_lists_only_events_made_before_the_read() {
    let store = fresh_store().await;
    book_with_codes(&store, &["FEED-1"]).await;
    let made = store.list_events(None, 1000).await.expect("events").data;
    assert!(!made.is_empty(), "adding codes made an event");

    let soon = Timestamp(Timestamp::now().millis() + 1_500);
    let id = format!("evt_{}", ulid::Ulid::from_parts(soon.millis() as u64, 7));
    let later = Event {
        id: id.clone(),
        event_type: event::COUPON_REDEEMED.into(),
        created_at: soon,
        actor: event::Actor::unrecorded(),
        data: serde_json::json!({"code": "FEED-1"}),
    };
    let mut item = key(format!("EVT#{}", event_shard(&later)), id.clone());
    item.insert("id".into(), s(&id));
    item.insert("type".into(), s(&later.event_type));
    item.insert("created_at".into(), n(soon.millis()));
    item.insert("data".into(), s(later.data.to_string()));
    store
        .transact(vec![put_new(&store.table, item).expect("put")])
        .await
        .expect("outbox item written");

    let now = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(now, made, "the event made after the read began waits");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let next = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(next.last().map(|e| e.id.as_str()), Some(id.as_str()));
    assert_eq!(next.len(), made.len() + 1);
}

/// Injected `TransactionConflict` and throttling answers are retried and the
/// result is the right one; a conflict that outlives the retries is `store_busy`
/// and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflicts_are_retried_then_store_busy() {
    let store = fresh_store().await;
    book_with_codes(&store, &["FAULT-A1", "FAULT-B1", "FAULT-C1"]).await;

    store.inject_faults(&[
        Fault::TransactionConflict,
        Fault::Throttling,
        Fault::TransactionConflict,
    ]);
    let idem = Idempotency {
        caller: "key_1".into(),
        key: "order-1".into(),
        fingerprint: "fp".into(),
    };
    let first = store
        .redeem(
            redeem("FAULT-A1", "u"),
            by_key().with_idem(Some(idem.clone())),
        )
        .await
        .expect("redeemed after retries");
    assert_eq!(store.injected_faults(), 3);
    let coupon = store.get_coupon("FAULT-A1").await.expect("coupon");
    assert_eq!(
        (coupon.status, coupon.redemption_count),
        (CouponStatus::Redeemed, 1)
    );
    let replay = store
        .redeem(redeem("FAULT-A1", "u"), by_key().with_idem(Some(idem)))
        .await
        .expect("replay");
    assert_eq!(replay, first);

    let conflicts = vec![Fault::TransactionConflict; MAX_TRANSIENT_RETRIES as usize + 1];
    store.inject_faults(&conflicts);
    let busy = store
        .redeem(redeem("FAULT-B1", "u"), by_key())
        .await
        .expect_err("conflict beyond retries");
    assert_eq!(busy.code, ErrorCode::StoreBusy);
    assert_eq!(store.injected_faults(), 3 + conflicts.len() as u64);
    let untouched = store.get_coupon("FAULT-B1").await.expect("coupon");
    assert_eq!(untouched.redemption_count, 0);
    let events = store.list_events(None, 1000).await.expect("events");
    assert_eq!(
        events
            .data
            .iter()
            .filter(|e| e.event_type == event::COUPON_REDEEMED)
            .count(),
        1
    );
    store
        .redeem(redeem("FAULT-B1", "u"), by_key())
        .await
        .expect("redeems once the conflict is over");

    // Racing redeems with conflicts sprinkled in: still exactly one winner.
    store.inject_faults(&[
        Fault::TransactionConflict,
        Fault::Throttling,
        Fault::TransactionConflict,
        Fault::TransactionConflict,
    ]);
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .redeem(redeem("FAULT-C1", &format!("user{i}")), by_key())
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => wins += 1,
            Err(err) => assert_eq!(err.code, ErrorCode::CouponAlreadyRedeemed),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(
        store
            .get_coupon("FAULT-C1")
            .await
            .expect("coupon")
            .redemption_count,
        1
    );
}

#[test]
fn lock_ids_name_their_code() {
    let id = format!("lock_{}_SUMMER-01", ulid::Ulid::new());
    assert_eq!(lock_code(&id), Some("SUMMER-01"));
    let book = format!("book_{}", ulid::Ulid::new());
    let named = lock_id_for("SUMMER_01", &book);
    assert_eq!(lock_parts(&named), Some((Some(book), "SUMMER_01")));
    assert_eq!(lock_code("lock_unknown"), None);
    assert_eq!(
        lock_code(&format!("lock_{}_bad code", ulid::Ulid::new())),
        None
    );
}

/// Redemptions stored before the "every redemption" index existed are listed once
/// `reindex` has put them in it, and a second run finds nothing more to do.
#[tokio::test]
async fn reindex_puts_older_redemptions_into_the_unfiltered_list() {
    use crate::domain::PageRequest;
    use crate::store::RedemptionFilter;

    let store = fresh_store().await;
    book_with_codes(&store, &["OLD-1", "OLD-2"]).await;
    let old = store
        .redeem(redeem("OLD-1", "u"), by_key())
        .await
        .expect("redeem");
    let new = store
        .redeem(redeem("OLD-2", "u"), by_key())
        .await
        .expect("redeem");
    // As an earlier version wrote it: no GSI4 keys.
    let mut expr = super::expr::Expr::new();
    expr.remove(&["G4PK"]).remove(&["G4SK"]);
    store
        .update_returning(super::state::redemption_key(&old.id), expr)
        .await
        .expect("strip the index keys");
    async fn listed(store: &DynamoStore) -> Vec<String> {
        let page = store
            .list_redemptions(RedemptionFilter::default(), PageRequest::first(10))
            .await
            .expect("list");
        page.data.into_iter().map(|r| r.id).collect()
    }
    assert_eq!(listed(&store).await, vec![new.id.clone()]);
    assert_eq!(store.reindex_redemptions().await.expect("reindex"), 1);
    let mut all = listed(&store).await;
    all.sort();
    let mut expected = vec![old.id, new.id];
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(store.reindex_redemptions().await.expect("again"), 0);
}

/// Each filter of the feed is read from its index: one `Query` for a book, a code or
/// a user, one per outbox partition for a type, however busy the rest of the table.
#[tokio::test]
async fn a_filtered_read_queries_its_index_only() {
    use crate::domain::event::EventFilter;

    let store = fresh_store().await;
    let busy: Vec<String> = (0..30).map(|i| format!("BUSY-{i}")).collect();
    book_with_codes(&store, &busy.iter().map(String::as_str).collect::<Vec<_>>()).await;
    for code in &busy {
        store
            .redeem(redeem(code, "u"), by_key())
            .await
            .expect("redeem");
    }
    let quiet = book_with_codes(&store, &["QUIET-1"]).await;
    store
        .redeem(redeem("QUIET-1", "v"), by_key())
        .await
        .expect("redeem");
    let cases = [
        (EventFilter::new(&[], Some(quiet.clone()), None, None), 4, 1),
        (
            EventFilter::new(&[], None, Some("quiet-1".into()), None),
            1,
            1,
        ),
        (EventFilter::new(&[], None, None, Some("v".into())), 1, 1),
        (
            EventFilter::new(&["book.exhausted"], Some(quiet), None, None),
            1,
            1,
        ),
        (EventFilter::new(&["book.created"], None, None, None), 2, 4),
    ];
    for (filter, found, queries) in cases {
        let filter = filter.expect("filter");
        let before = store.capacity();
        let page = store.find_events(&filter, None, 100).await.expect("events");
        let spent = store.capacity();
        assert_eq!(page.data.len(), found, "{filter:?}");
        assert_eq!(
            spent.read_requests - before.read_requests,
            queries,
            "{filter:?}"
        );
    }
}

/// Events stored before the feed's filters existed are found by them once
/// `reindex` has indexed them (by their data), and read without an actor.
#[tokio::test]
async fn reindex_puts_older_events_into_the_filters() {
    use crate::domain::event::{Actor, EventFilter};

    let store = fresh_store().await;
    book_with_codes(&store, &["OEV-1"]).await;
    store
        .redeem(redeem("OEV-1", "old-user"), by_key())
        .await
        .expect("redeem");
    let feed = store.list_events(None, 100).await.expect("feed").data;
    let redeemed = feed
        .iter()
        .find(|e| e.event_type == event::COUPON_REDEEMED)
        .expect("redeemed");
    // As an earlier version wrote it: no actor, no index keys.
    let mut expr = super::expr::Expr::new();
    expr.remove(&["actor"]);
    for index in 1..=4 {
        expr.remove(&[&format!("G{index}PK")])
            .remove(&[&format!("G{index}SK")]);
    }
    let item_key = key(
        format!("EVT#{}", event_shard(redeemed)),
        redeemed.id.clone(),
    );
    store
        .update_returning(item_key, expr)
        .await
        .expect("strip the index keys");
    let by_user = EventFilter::new(&[], None, None, Some("old-user".into())).expect("filter");
    let found = store.find_events(&by_user, None, 10).await.expect("events");
    assert!(found.data.is_empty());
    assert_eq!(store.reindex_events().await.expect("reindex"), 1);
    let found = store.find_events(&by_user, None, 10).await.expect("events");
    assert_eq!(found.data.len(), 1);
    assert_eq!(found.data[0].id, redeemed.id);
    assert_eq!(found.data[0].actor, Actor::unrecorded());
    assert_eq!(store.reindex_events().await.expect("again"), 0);
}

/// A filtered read whose other filters reject what its index returns stops after its
/// budget of examined items, with a cursor to read on from; read on, it ends.
#[tokio::test]
async fn a_filtered_read_stops_at_its_budget_and_reads_on() {
    use crate::domain::event::EventFilter;

    let store = fresh_store().await;
    let list: Vec<String> = (0..6).map(|i| format!("BUDGET-{i}")).collect();
    let book = book_with_codes(&store, &list.iter().map(String::as_str).collect::<Vec<_>>()).await;
    for code in &list {
        store.void(code, by_key()).await.expect("void");
    }
    let rare = EventFilter::new(&["book.deleted"], Some(book.clone()), None, None).expect("filter");
    let pk = super::outbox::book_events_key(&book);
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .filtered_read("GSI1", &pk, &rare, (after.as_deref(), 10), 3)
            .await
            .expect("page");
        pages += 1;
        assert!(page.data.is_empty());
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    // 8 events (created, codes added, 6 voided) in pages of 3 examined.
    assert_eq!(pages, 3);
}
