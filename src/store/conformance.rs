//! The behaviour every `Store` backend must show, as plain async functions over a
//! `DynStore`. Each backend's test module runs all of them through
//! `conformance_tests!(fresh)`, where `fresh()` is an async fn returning
//! `(guard, DynStore)` on an empty store.

use std::collections::HashSet;

use serde_json::json;

use super::{DynStore, RedeemRequest, RedemptionFilter};
use crate::domain::apikey::{ApiKey, Scope, hash_key};
use crate::domain::book::{BookSettings, BookStatus, CreateBook, UpdateBook};
use crate::domain::coupon::CouponStatus;
use crate::domain::job::{CodeIntake, JobKind, JobStatus};
use crate::domain::{ErrorCode, PageRequest, Timestamp};
use crate::store::Idempotency;

#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@each $fresh;
            book_lifecycle, codes_are_counted_exactly, single_use_code_redeems_once_under_race,
            assign_next_never_hands_out_a_code_twice, locks_reserve_and_expire,
            multi_use_code_respects_user_limit_under_race, budget_is_exact_under_race,
            reverse_gives_the_use_back, idempotency_replays_and_refuses_reuse,
            events_follow_changes_in_order, unassign_and_void, api_keys_round_trip,
            error_precedence_follows_the_contract, webhooks_round_trip,
            webhook_deliveries_are_stored_with_the_cursor, book_exhausted_is_announced_once,
            bulk_upload_counts_exactly_across_batches);
    };
    (@each $fresh:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (_guard, store) = $fresh().await;
                $crate::store::conformance::$name(&store).await;
            }
        )*
    };
}

fn settings(extra: serde_json::Value) -> BookSettings {
    let mut body = json!({"name": "conformance", "status": "active"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    serde_json::from_value::<CreateBook>(body)
        .expect("valid create body")
        .into_settings()
        .expect("valid settings")
}

fn codes(prefix: &str, n: usize) -> Vec<String> {
    let tag = ulid::Ulid::new().to_string();
    (0..n)
        .map(|i| format!("{prefix}-{}-{i}", &tag[16..]))
        .collect()
}

async fn book_with_codes(store: &DynStore, extra: serde_json::Value, codes: &[String]) -> String {
    let book = store
        .create_book(settings(extra), None)
        .await
        .expect("create book");
    let intake = CodeIntake::from_codes(codes.iter().map(String::as_str));
    let job = store
        .add_codes(&book.id, JobKind::Upload, intake, None)
        .await
        .expect("add codes");
    assert_eq!(job.inserted, codes.len() as u64);
    book.id
}

fn redeem(code: &str, user: &str, lock_id: Option<&str>) -> RedeemRequest {
    RedeemRequest {
        code: code.to_string(),
        user_id: user.to_string(),
        lock_id: lock_id.map(str::to_string),
        metadata: None,
    }
}

pub async fn book_lifecycle(store: &DynStore) {
    let draft = store
        .create_book(settings(json!({"status": "draft"})), None)
        .await
        .expect("create");
    assert!(draft.id.starts_with("book_"));
    assert_eq!(draft.settings.status, BookStatus::Draft);
    assert_eq!(draft.settings.max_redemptions_per_coupon, Some(1));
    assert_eq!(store.get_book(&draft.id).await.expect("get"), draft);
    let missing = store.get_book("book_missing").await.expect_err("missing");
    assert_eq!(missing.code, ErrorCode::BookNotFound);

    for _ in 0..4 {
        store
            .create_book(settings(json!({})), None)
            .await
            .expect("create");
    }
    let first = store.list_books(PageRequest::first(2)).await.expect("list");
    assert_eq!(first.data.len(), 2);
    assert_eq!(first.data[0].id, draft.id);
    let cursor = first.next_cursor.clone().expect("more pages");
    let rest = store
        .list_books(PageRequest::parse(Some("100"), Some(&cursor)).expect("page"))
        .await
        .expect("list");
    assert_eq!(rest.data.len(), 3);
    assert!(rest.next_cursor.is_none());

    let paused = UpdateBook {
        status: Some(BookStatus::Paused),
        ..UpdateBook::default()
    };
    let refused = store
        .update_book(&draft.id, paused.clone())
        .await
        .expect_err("draft->paused");
    assert_eq!(refused.code, ErrorCode::InvalidStatusTransition);
    let active = UpdateBook {
        status: Some(BookStatus::Active),
        name: Some("renamed".into()),
        ..UpdateBook::default()
    };
    let updated = store
        .update_book(&draft.id, active)
        .await
        .expect("activate");
    assert_eq!(updated.settings.status, BookStatus::Active);
    assert_eq!(updated.settings.name, "renamed");
    assert!(updated.updated_at >= draft.updated_at);
    store.update_book(&draft.id, paused).await.expect("pause");

    // A book whose codes were never used can be deleted; a used one cannot.
    let spare = codes("DEL", 2);
    let unused = book_with_codes(store, json!({}), &spare).await;
    store.delete_book(&unused).await.expect("delete unused");
    assert_eq!(
        store.get_book(&unused).await.expect_err("gone").code,
        ErrorCode::BookNotFound
    );
    let used_codes = codes("USED", 1);
    let used = book_with_codes(store, json!({}), &used_codes).await;
    store
        .assign(&used_codes[0], "u1", None)
        .await
        .expect("assign");
    let in_use = store.delete_book(&used).await.expect_err("in use");
    assert_eq!(in_use.code, ErrorCode::BookInUse);
}

pub async fn codes_are_counted_exactly(store: &DynStore) {
    let list = codes("CNT", 3);
    let book_id = book_with_codes(store, json!({}), &list).await;
    let again = [
        list[0].to_lowercase(),
        "NEW-CODE-X1".to_string() + &list[1][4..],
        "no".into(),
        list[0].clone(),
    ];
    let job = store
        .add_codes(
            &book_id,
            JobKind::Upload,
            CodeIntake::from_codes(again.iter().map(String::as_str)),
            None,
        )
        .await
        .expect("add again");
    assert_eq!(
        (
            job.inserted,
            job.already_exist,
            job.invalid,
            job.duplicates_in_file
        ),
        (1, 1, 1, 1)
    );
    let book = store.get_book(&book_id).await.expect("book");
    assert_eq!(book.counts.total, 4);
    assert_eq!(book.counts.available, 4);
    assert_eq!(store.get_job(&job.id).await.expect("job"), job);

    store.assign(&list[0], "u", None).await.expect("assign");
    store
        .redeem(redeem(&list[1], "u", None), None)
        .await
        .expect_err("not assigned");
    let book = store.get_book(&book_id).await.expect("book");
    assert_eq!((book.counts.available, book.counts.assigned), (3, 1));
    let page = store
        .list_codes(
            &book_id,
            Some(CouponStatus::Assigned),
            PageRequest::first(10),
        )
        .await
        .expect("list");
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].code, list[0]);
    let all = store
        .list_codes(&book_id, None, PageRequest::first(2))
        .await
        .expect("list");
    assert_eq!(all.data[0].code, list[0]);
    assert!(all.next_cursor.is_some());
}

pub async fn single_use_code_redeems_once_under_race(store: &DynStore) {
    let list = codes("RACE", 5);
    book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    for code in &list {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                let code = code.clone();
                tokio::spawn(async move {
                    store
                        .redeem(redeem(&code, &format!("user{i}"), None), None)
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
        assert_eq!(wins, 1, "exactly one redemption of {code}");
        let coupon = store.get_coupon(code).await.expect("coupon");
        assert_eq!(coupon.status, CouponStatus::Redeemed);
        assert_eq!(coupon.redemption_count, 1);
    }
}

pub async fn assign_next_never_hands_out_a_code_twice(store: &DynStore) {
    let list = codes("NEXT", 20);
    let book_id = book_with_codes(store, json!({}), &list).await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            let book_id = book_id.clone();
            tokio::spawn(
                async move { store.assign_next(&book_id, &format!("user{i}"), None).await },
            )
        })
        .collect();
    let mut handed = HashSet::new();
    let mut exhausted = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(coupon) => assert!(handed.insert(coupon.code), "a code was handed out twice"),
            Err(err) => {
                assert_eq!(err.code, ErrorCode::BookExhausted);
                exhausted += 1;
            }
        }
    }
    assert_eq!((handed.len(), exhausted), (20, 12));
    let book = store.get_book(&book_id).await.expect("book");
    assert_eq!((book.counts.assigned, book.counts.available), (20, 0));

    let limited = codes("LIM", 3);
    let limited_book = book_with_codes(store, json!({"max_coupons_per_user": 1}), &limited).await;
    store
        .assign_next(&limited_book, "solo", None)
        .await
        .expect("first");
    let err = store
        .assign_next(&limited_book, "solo", None)
        .await
        .expect_err("second");
    assert_eq!(err.code, ErrorCode::UserCouponLimitReached);
}

pub async fn locks_reserve_and_expire(store: &DynStore) {
    let list = codes("LOCK", 2);
    book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    let code = &list[0];
    let lock = store
        .lock(code, "alice", Some(60), None)
        .await
        .expect("lock");
    assert!(lock.lock_id.starts_with("lock_"));
    let again = store
        .lock(code, "alice", Some(120), None)
        .await
        .expect("relock");
    assert_eq!(again.lock_id, lock.lock_id);
    assert!(again.expires_at > lock.expires_at);
    assert_eq!(
        store.get_coupon(code).await.expect("coupon").status,
        CouponStatus::Locked
    );
    let stolen = store.lock(code, "bob", None, None).await.expect_err("bob");
    assert_eq!(stolen.code, ErrorCode::CouponLocked);
    let direct = store
        .redeem(redeem(code, "bob", None), None)
        .await
        .expect_err("reserved");
    assert_eq!(direct.code, ErrorCode::CouponLocked);
    let foreign = store
        .redeem(redeem(code, "bob", Some(&lock.lock_id)), None)
        .await
        .expect_err("foreign lock");
    assert_eq!(foreign.code, ErrorCode::CouponLocked);
    let redemption = store
        .redeem(redeem(code, "alice", Some(&lock.lock_id)), None)
        .await
        .expect("redeem with lock");
    assert_eq!(redemption.user_id, "alice");
    let consumed = store
        .unlock(code, &lock.lock_id, None)
        .await
        .expect_err("consumed");
    assert_eq!(consumed.code, ErrorCode::LockNotFound);

    // An expired lock frees its reservation with no background work.
    let other = &list[1];
    let short = store
        .lock(other, "alice", Some(1), None)
        .await
        .expect("short lock");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        store.get_coupon(other).await.expect("coupon").status,
        CouponStatus::Available
    );
    let late = store
        .redeem(redeem(other, "alice", Some(&short.lock_id)), None)
        .await
        .expect_err("expired");
    assert_eq!(late.code, ErrorCode::LockNotFound);
    let bob = store
        .lock(other, "bob", None, None)
        .await
        .expect("bob locks after expiry");
    store
        .unlock(other, &bob.lock_id, None)
        .await
        .expect("unlock");
    assert_eq!(store.expire_locks().await.expect("sweep"), 1);
}

pub async fn multi_use_code_respects_user_limit_under_race(store: &DynStore) {
    let list = codes("MULTI", 1);
    let book_id = book_with_codes(
        store,
        json!({"requires_assignment": false, "max_redemptions_per_coupon": 10, "max_redemptions_per_user": 2}),
        &list,
    )
    .await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            let code = list[0].clone();
            tokio::spawn(async move {
                store
                    .redeem(redeem(&code, &format!("user{}", i % 8), None), None)
                    .await
            })
        })
        .collect();
    let mut per_user = std::collections::HashMap::new();
    for task in tasks {
        if let Ok(r) = task.await.expect("join") {
            *per_user.entry(r.user_id).or_insert(0) += 1;
        }
    }
    assert_eq!(per_user.values().sum::<u32>(), 10);
    assert!(per_user.values().all(|n| *n <= 2), "{per_user:?}");
    let page = store
        .list_redemptions(
            RedemptionFilter {
                book_id: Some(book_id),
                ..Default::default()
            },
            PageRequest::first(100),
        )
        .await
        .expect("list");
    assert_eq!(page.data.len(), 10);
}

pub async fn budget_is_exact_under_race(store: &DynStore) {
    let list = codes("BUDGET", 20);
    let book_id = book_with_codes(
        store,
        json!({"requires_assignment": false, "max_total_redemptions": 5}),
        &list,
    )
    .await;
    let tasks: Vec<_> = list
        .iter()
        .cloned()
        .map(|code| {
            let store = store.clone();
            tokio::spawn(async move { store.redeem(redeem(&code, "u", None), None).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => wins += 1,
            Err(err) => assert_eq!(err.code, ErrorCode::BookBudgetExhausted),
        }
    }
    assert_eq!(wins, 5);
    assert_eq!(
        store
            .get_book(&book_id)
            .await
            .expect("book")
            .counts
            .redeemed,
        5
    );
}

pub async fn reverse_gives_the_use_back(store: &DynStore) {
    let list = codes("REV", 1);
    let book_id = book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    let first = store
        .redeem(redeem(&list[0], "u", None), None)
        .await
        .expect("redeem");
    let reversed = store.reverse(&first.id, None).await.expect("reverse");
    assert!(reversed.reversed_at.is_some());
    assert_eq!(
        store
            .reverse(&first.id, None)
            .await
            .expect_err("twice")
            .code,
        ErrorCode::RedemptionAlreadyReversed
    );
    assert_eq!(
        store
            .reverse("red_missing", None)
            .await
            .expect_err("missing")
            .code,
        ErrorCode::RedemptionNotFound
    );
    let coupon = store.get_coupon(&list[0]).await.expect("coupon");
    assert_eq!(
        (coupon.status, coupon.redemption_count),
        (CouponStatus::Available, 0)
    );
    store
        .redeem(redeem(&list[0], "v", None), None)
        .await
        .expect("redeem again");
    let stats = store
        .book_stats(&book_id, crate::domain::stats::Bucket::Hour)
        .await
        .expect("stats");
    let (redeemed, reversed): (u64, u64) =
        stats.redemptions.iter().fold((0, 0), |(a, b), bucket| {
            (a + bucket.redeemed, b + bucket.reversed)
        });
    assert_eq!((redeemed, reversed), (2, 1));
    assert_eq!(stats.top_users.len(), 1);
    assert_eq!(stats.top_users[0].user_id, "v");
}

pub async fn idempotency_replays_and_refuses_reuse(store: &DynStore) {
    let list = codes("IDEM", 2);
    book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    let idem = |fingerprint: &str| {
        Some(Idempotency {
            caller: "key_1".into(),
            key: "order-42".into(),
            fingerprint: fingerprint.into(),
        })
    };
    let first = store
        .redeem(redeem(&list[0], "u", None), idem("a"))
        .await
        .expect("redeem");
    let replay = store
        .redeem(redeem(&list[0], "u", None), idem("a"))
        .await
        .expect("replay");
    assert_eq!(first, replay);
    let reused = store
        .redeem(redeem(&list[1], "u", None), idem("b"))
        .await
        .expect_err("reuse");
    assert_eq!(reused.code, ErrorCode::IdempotencyKeyReused);
    assert_eq!(
        store
            .get_coupon(&list[1])
            .await
            .expect("coupon")
            .redemption_count,
        0
    );
    // A refusal is replayed too.
    let refused = store
        .redeem(
            redeem(&list[0], "w", None),
            Some(Idempotency {
                key: "other".into(),
                ..idem("c").expect("idem")
            }),
        )
        .await
        .expect_err("already redeemed");
    assert_eq!(refused.code, ErrorCode::CouponAlreadyRedeemed);
    let page = store
        .list_redemptions(
            RedemptionFilter {
                code: Some(list[0].clone()),
                ..Default::default()
            },
            PageRequest::first(10),
        )
        .await
        .expect("list");
    assert_eq!(page.data.len(), 1);
}

pub async fn events_follow_changes_in_order(store: &DynStore) {
    let start = store.list_events(None, 1000).await.expect("events");
    let after = start.data.last().map(|e| e.id.clone());
    let list = codes("EVT", 1);
    let book_id = book_with_codes(store, json!({}), &list).await;
    store.assign(&list[0], "u", None).await.expect("assign");
    let lock = store.lock(&list[0], "u", None, None).await.expect("lock");
    let redemption = store
        .redeem(redeem(&list[0], "u", Some(&lock.lock_id)), None)
        .await
        .expect("redeem");
    let events = store
        .list_events(after.as_deref(), 1000)
        .await
        .expect("events");
    let types: Vec<&str> = events.data.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "book.created",
            "book.codes_added",
            "coupon.assigned",
            "book.exhausted",
            "coupon.locked",
            "coupon.redeemed",
            "book.exhausted"
        ]
    );
    assert_eq!(events.data[0].data["id"], book_id.as_str());
    assert_eq!(events.data[5].data["id"], redemption.id.as_str());
    assert_eq!(events.data[5].data["code"], list[0].as_str());
    let page = store.list_events(after.as_deref(), 2).await.expect("page");
    assert_eq!(page.data.len(), 2);
    let next = store
        .list_events(page.next_cursor.as_deref(), 2)
        .await
        .expect("next");
    assert_eq!(next.data[0].id, events.data[2].id);
    assert_eq!(
        store
            .list_events(Some("bogus"), 10)
            .await
            .expect_err("bad")
            .code,
        ErrorCode::InvalidRequest
    );
}

pub async fn unassign_and_void(store: &DynStore) {
    let list = codes("VOID", 2);
    book_with_codes(store, json!({}), &list).await;
    store.assign(&list[0], "u", None).await.expect("assign");
    assert_eq!(
        store
            .assign(&list[0], "u", None)
            .await
            .expect("same user")
            .assigned_to
            .as_deref(),
        Some("u")
    );
    assert_eq!(
        store
            .assign(&list[0], "v", None)
            .await
            .expect_err("other")
            .code,
        ErrorCode::CouponAlreadyAssigned
    );
    let mine = store
        .user_coupons("u", None, None, PageRequest::first(10))
        .await
        .expect("user coupons");
    assert_eq!(mine.data.len(), 1);
    let freed = store.unassign(&list[0]).await.expect("unassign");
    assert_eq!(
        (freed.status, freed.assigned_to),
        (CouponStatus::Available, None)
    );
    assert!(
        store
            .user_coupons("u", None, None, PageRequest::first(10))
            .await
            .expect("list")
            .data
            .is_empty()
    );
    store.assign(&list[1], "u", None).await.expect("assign");
    store
        .redeem(redeem(&list[1], "u", None), None)
        .await
        .expect("redeem");
    assert_eq!(
        store.unassign(&list[1]).await.expect_err("redeemed").code,
        ErrorCode::CouponAlreadyRedeemed
    );
    let voided = store.void(&list[0], None).await.expect("void");
    assert_eq!(voided.status, CouponStatus::Voided);
    store.assign(&list[0], "u", None).await.expect_err("voided");
    assert_eq!(
        store
            .lock(&list[0], "u", None, None)
            .await
            .expect_err("voided")
            .code,
        ErrorCode::CouponVoided
    );
    assert_eq!(
        store
            .get_coupon("NOPE-NOPE")
            .await
            .expect_err("missing")
            .code,
        ErrorCode::CouponNotFound
    );
}

pub async fn api_keys_round_trip(store: &DynStore) {
    let key = ApiKey {
        id: crate::domain::ids::new_id("key"),
        name: "ops".into(),
        scopes: vec![Scope::BooksRead, Scope::CouponsRedeem],
        created_at: Timestamp::now(),
    };
    let hash = hash_key("secret-1");
    store
        .create_api_key(key.clone(), hash.clone(), None)
        .await
        .expect("create");
    assert_eq!(
        store.find_api_key(&hash).await.expect("find"),
        Some(key.clone())
    );
    let again = ApiKey {
        id: "key_other".into(),
        ..key.clone()
    };
    assert_eq!(
        store
            .ensure_api_key(again, hash.clone())
            .await
            .expect("ensure")
            .id,
        key.id
    );
    assert!(
        store
            .list_api_keys(PageRequest::first(10))
            .await
            .expect("list")
            .data
            .contains(&key)
    );
    store.delete_api_key(&key.id).await.expect("delete");
    assert_eq!(store.find_api_key(&hash).await.expect("find"), None);
    assert_eq!(
        store.delete_api_key(&key.id).await.expect_err("twice").code,
        ErrorCode::ApiKeyNotFound
    );
}

pub async fn error_precedence_follows_the_contract(store: &DynStore) {
    let list = codes("ORDER", 2);
    let book_id = book_with_codes(store, json!({"status": "draft"}), &list).await;
    // A draft book refuses before the assignment check.
    assert_eq!(
        store
            .redeem(redeem(&list[0], "u", None), None)
            .await
            .expect_err("draft")
            .code,
        ErrorCode::BookNotActive
    );
    let future = UpdateBook {
        status: Some(BookStatus::Active),
        valid_from: Some(Some(Timestamp::now().plus_seconds(3600))),
        ..UpdateBook::default()
    };
    store
        .update_book(&book_id, future)
        .await
        .expect("activate later");
    assert_eq!(
        store
            .redeem(redeem(&list[0], "u", None), None)
            .await
            .expect_err("early")
            .code,
        ErrorCode::BookNotValidNow
    );
    let now_valid = UpdateBook {
        valid_from: Some(None),
        ..UpdateBook::default()
    };
    store
        .update_book(&book_id, now_valid)
        .await
        .expect("valid now");
    assert_eq!(
        store
            .redeem(redeem(&list[0], "u", None), None)
            .await
            .expect_err("unassigned")
            .code,
        ErrorCode::CouponNotAssignedToUser
    );
    assert_eq!(
        store
            .redeem(redeem(&list[0], "u", Some("lock_unknown")), None)
            .await
            .expect_err("lock")
            .code,
        ErrorCode::LockNotFound
    );
    store.void(&list[1], None).await.expect("void");
    assert_eq!(
        store
            .redeem(redeem(&list[1], "u", None), None)
            .await
            .expect_err("voided")
            .code,
        ErrorCode::CouponVoided
    );
}

// ---------------------------------------------------------------------------------
// Webhooks

fn webhook_of(url: &str, types: &[&str]) -> crate::domain::webhook::Webhook {
    crate::domain::webhook::CreateWebhook {
        url: url.to_string(),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        description: Some("conformance".into()),
    }
    .into_webhook(crate::domain::ids::new_id("wh"), Timestamp::now())
}

fn later(at: Timestamp, millis: i64) -> Timestamp {
    Timestamp(at.millis() + millis)
}

pub async fn webhooks_round_trip(store: &DynStore) {
    use crate::domain::webhook::{WebhookStatus, new_secret};

    let before = codes("WHB", 1);
    book_with_codes(store, json!({}), &before).await;
    let secret = new_secret();
    let hook = webhook_of("https://example.com/a", &["coupon.redeemed"]);
    let created = store
        .create_webhook(hook.clone(), secret.clone(), None)
        .await
        .expect("create");
    assert_eq!(created, hook);
    assert_eq!(created.status, WebhookStatus::Enabled);
    let stored = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(
        (&stored.webhook, &stored.secret, &stored.previous_secret),
        (&hook, &secret, &None)
    );
    // The cursor is the head of the feed: earlier events are behind it, later ones
    // after it.
    let behind = store
        .list_events(stored.cursor.as_deref(), 1000)
        .await
        .expect("events after the cursor");
    assert!(behind.data.is_empty(), "{:?}", behind.data);
    let after = codes("WHA", 1);
    book_with_codes(store, json!({}), &after).await;
    let ahead = store
        .list_events(stored.cursor.as_deref(), 1000)
        .await
        .expect("events after the cursor");
    let types: Vec<&str> = ahead.data.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["book.created", "book.codes_added"]);

    // Idempotent creation answers the first endpoint.
    let idem = Idempotency {
        caller: "key_1".into(),
        key: "wh-1".into(),
        fingerprint: "f".into(),
    };
    let second = webhook_of("https://example.com/b", &["*"]);
    let first_answer = store
        .create_webhook(second.clone(), new_secret(), Some(idem.clone()))
        .await
        .expect("create b");
    let replay = store
        .create_webhook(
            webhook_of("https://example.com/b", &["*"]),
            new_secret(),
            Some(idem),
        )
        .await
        .expect("replay");
    assert_eq!(replay, first_answer);

    let page = store
        .list_webhooks(PageRequest::first(1))
        .await
        .expect("list");
    assert_eq!(page.data, vec![hook.clone()]);
    let rest = store
        .list_webhooks(PageRequest::parse(Some("10"), page.next_cursor.as_deref()).expect("page"))
        .await
        .expect("list");
    assert_eq!(rest.data, vec![second.clone()]);
    assert_eq!(rest.next_cursor, None);

    // Rotation keeps the old secret for its grace period.
    let new = new_secret();
    let until = later(Timestamp::now(), 60_000);
    store
        .rotate_webhook_secret(&hook.id, new.clone(), until, None)
        .await
        .expect("rotate");
    let rotated = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(rotated.secret, new);
    assert_eq!(rotated.previous_secret, Some((secret.clone(), until)));
    assert_eq!(
        rotated.signing_secrets(Timestamp::now()),
        [new.as_str(), secret.as_str()]
    );
    assert_eq!(rotated.signing_secrets(later(until, 1)), [new.as_str()]);

    // A test send registers its event once per idempotency key.
    let test_idem = Idempotency {
        caller: "key_1".into(),
        key: "test-1".into(),
        fingerprint: "t".into(),
    };
    let event = |id: &str| crate::domain::event::Event {
        id: id.to_string(),
        event_type: "webhook.test".into(),
        created_at: Timestamp::now(),
        data: json!({}),
    };
    let registered = store
        .begin_webhook_test(&hook.id, event("evt_t1"), Some(test_idem.clone()))
        .await
        .expect("test");
    assert_eq!(registered.id, "evt_t1");
    let again = store
        .begin_webhook_test(&hook.id, event("evt_t2"), Some(test_idem))
        .await
        .expect("test replay");
    assert_eq!(again.id, "evt_t1");

    store.delete_webhook(&hook.id).await.expect("delete");
    for err in [
        store
            .get_webhook(&hook.id)
            .await
            .map(|_| ())
            .expect_err("gone"),
        store.delete_webhook(&hook.id).await.expect_err("gone"),
        store
            .rotate_webhook_secret(&hook.id, new_secret(), until, None)
            .await
            .map(|_| ())
            .expect_err("gone"),
        store
            .list_deliveries(&hook.id, None, PageRequest::first(10))
            .await
            .map(|_| ())
            .expect_err("gone"),
        store
            .lease_webhook(&hook.id, "p1", Timestamp::now(), until)
            .await
            .map(|_| ())
            .expect_err("gone"),
        store
            .begin_webhook_test(&hook.id, event("evt_t3"), None)
            .await
            .map(|_| ())
            .expect_err("gone"),
    ] {
        assert_eq!(err.code, ErrorCode::WebhookNotFound);
    }
    let left = store
        .list_webhooks(PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(left.data, vec![second]);
}

pub async fn webhook_deliveries_are_stored_with_the_cursor(store: &DynStore) {
    use crate::domain::event::Event;
    use crate::domain::webhook::{
        AttemptStatus, DeliveryAttempt, DeliveryBatch, PendingDelivery, WebhookStatus, new_secret,
    };

    let hook = webhook_of("https://example.com/d", &["*"]);
    store
        .create_webhook(hook.clone(), new_secret(), None)
        .await
        .expect("create");
    let now = Timestamp::now();

    // One holder at a time; a lapsed lease can be taken over.
    let mine = store
        .lease_webhook(&hook.id, "p1", now, later(now, 30_000))
        .await
        .expect("lease")
        .expect("free");
    assert_eq!(mine.webhook, hook);
    assert!(
        store
            .lease_webhook(&hook.id, "p2", now, later(now, 30_000))
            .await
            .expect("lease")
            .is_none()
    );
    assert!(
        store
            .lease_webhook(&hook.id, "p1", now, later(now, 30_000))
            .await
            .expect("renew")
            .is_some()
    );

    let list = codes("WHD", 3);
    book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    let events = store
        .list_events(mine.cursor.as_deref(), 1000)
        .await
        .expect("events")
        .data;
    assert_eq!(events.len(), 2);
    let attempt = |event: &Event, n: u32, status: AttemptStatus| DeliveryAttempt {
        id: crate::domain::ids::new_id("att"),
        webhook_id: hook.id.clone(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        attempt: n,
        status,
        response_status: Some(if status == AttemptStatus::Succeeded {
            200
        } else {
            500
        }),
        response_body: Some("ok ü".into()),
        error: None,
        latency_ms: 3,
        attempted_at: Timestamp::now(),
        next_attempt_at: None,
    };
    let pending = |event: &Event, attempts: u32| PendingDelivery {
        event: event.clone(),
        order_key: "K".into(),
        attempts,
        next_attempt_at: later(now, 5_000),
    };
    let first_round = DeliveryBatch {
        attempts: vec![
            attempt(&events[0], 1, AttemptStatus::Retrying),
            attempt(&events[1], 1, AttemptStatus::Retrying),
        ],
        // Inserted in reverse: pending deliveries come back in event order.
        pending: vec![pending(&events[1], 0), pending(&events[0], 1)],
        done: vec![],
        cursor: Some(events[1].id.clone()),
        failing_since: Some(Some(now)),
        disable: false,
    };
    store
        .record_deliveries(&hook.id, Some("p1"), first_round.clone())
        .await
        .expect("record");
    // Another holder cannot write.
    assert_eq!(
        store
            .record_deliveries(&hook.id, Some("p2"), first_round)
            .await
            .expect_err("not the holder")
            .code,
        ErrorCode::WebhookNotFound
    );
    let stored = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(stored.cursor.as_deref(), Some(events[1].id.as_str()));
    assert_eq!(stored.webhook.failing_since, Some(now));
    let queued = store.pending_deliveries(&hook.id).await.expect("pending");
    assert_eq!(queued, vec![pending(&events[0], 1), pending(&events[1], 0)]);

    // A retry succeeds: the first leaves the queue, the second is updated.
    store
        .record_deliveries(
            &hook.id,
            Some("p1"),
            DeliveryBatch {
                attempts: vec![attempt(&events[0], 2, AttemptStatus::Succeeded)],
                pending: vec![pending(&events[1], 1)],
                done: vec![events[0].id.clone()],
                failing_since: Some(None),
                ..DeliveryBatch::default()
            },
        )
        .await
        .expect("record");
    assert_eq!(
        store.pending_deliveries(&hook.id).await.expect("pending"),
        vec![pending(&events[1], 1)]
    );
    let stored = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(stored.webhook.failing_since, None);
    assert_eq!(stored.cursor.as_deref(), Some(events[1].id.as_str()));

    // The attempt log, oldest first, paged, and by event.
    let log = store
        .list_deliveries(&hook.id, None, PageRequest::first(2))
        .await
        .expect("log");
    assert_eq!(log.data.len(), 2);
    assert_eq!(log.data[0].event_id, events[0].id);
    assert_eq!(log.data[0].response_body.as_deref(), Some("ok ü"));
    let rest = store
        .list_deliveries(
            &hook.id,
            None,
            PageRequest::parse(Some("10"), log.next_cursor.as_deref()).expect("page"),
        )
        .await
        .expect("log");
    assert_eq!(rest.data.len(), 1);
    assert_eq!(rest.data[0].status, AttemptStatus::Succeeded);
    let of_first = store
        .list_deliveries(&hook.id, Some(&events[0].id), PageRequest::first(10))
        .await
        .expect("log");
    let attempts: Vec<u32> = of_first.data.iter().map(|a| a.attempt).collect();
    assert_eq!(attempts, [1, 2]);

    // A takeover after the lease lapsed; the old holder can no longer write.
    let late = later(now, 60_000);
    let taken = store
        .lease_webhook(&hook.id, "p2", late, later(late, 30_000))
        .await
        .expect("lease")
        .expect("lapsed");
    assert_eq!(taken.cursor.as_deref(), Some(events[1].id.as_str()));
    assert!(
        store
            .record_deliveries(
                &hook.id,
                Some("p1"),
                DeliveryBatch {
                    cursor: Some(events[0].id.clone()),
                    ..DeliveryBatch::default()
                }
            )
            .await
            .is_err()
    );
    // Disabling: no lease is given any more, and the list shows it.
    store
        .record_deliveries(
            &hook.id,
            Some("p2"),
            DeliveryBatch {
                disable: true,
                ..DeliveryBatch::default()
            },
        )
        .await
        .expect("disable");
    assert!(
        store
            .lease_webhook(&hook.id, "p2", late, later(late, 30_000))
            .await
            .expect("lease")
            .is_none()
    );
    let listed = store
        .list_webhooks(PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(listed.data[0].status, WebhookStatus::Disabled);
    // Deleting drops the queue and the log.
    store.delete_webhook(&hook.id).await.expect("delete");
    assert_eq!(
        store
            .pending_deliveries(&hook.id)
            .await
            .expect_err("gone")
            .code,
        ErrorCode::WebhookNotFound
    );
}

pub async fn book_exhausted_is_announced_once(store: &DynStore) {
    let exhausted = |events: &[crate::domain::event::Event], book: &str| {
        events
            .iter()
            .filter(|e| e.event_type == "book.exhausted" && e.data["id"] == book)
            .count()
    };
    // The budget ends.
    let list = codes("EXB", 4);
    let budget = book_with_codes(
        store,
        json!({"requires_assignment": false, "max_total_redemptions": 2}),
        &list,
    )
    .await;
    store
        .redeem(redeem(&list[0], "u1", None), None)
        .await
        .expect("redeem");
    let events = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(exhausted(&events, &budget), 0);
    store
        .redeem(redeem(&list[1], "u2", None), None)
        .await
        .expect("redeem");
    assert_eq!(
        store
            .redeem(redeem(&list[2], "u3", None), None)
            .await
            .expect_err("budget")
            .code,
        ErrorCode::BookBudgetExhausted
    );
    let events = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(exhausted(&events, &budget), 1);

    // The last code is redeemed (no assignment needed).
    let list = codes("EXR", 2);
    let last = book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    for (code, user) in list.iter().zip(["u1", "u2"]) {
        store
            .redeem(redeem(code, user, None), None)
            .await
            .expect("redeem");
    }
    let events = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(exhausted(&events, &last), 1);
    let announced = events
        .iter()
        .rfind(|e| e.event_type == "book.exhausted" && e.data["id"] == last.as_str())
        .expect("announced");
    assert_eq!(announced.data["counts"]["redeemed"], 2);

    // The last code is handed out by assign-next.
    let list = codes("EXA", 2);
    let handed = book_with_codes(store, json!({}), &list).await;
    store
        .assign_next(&handed, "u1", None)
        .await
        .expect("assign");
    let events = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(exhausted(&events, &handed), 0);
    store
        .assign_next(&handed, "u2", None)
        .await
        .expect("assign");
    let events = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(exhausted(&events, &handed), 1);
}

/// A 100,000-line upload job in 100 batches: every line counted once, across
/// batches too. (The HTTP suite uploads a million lines to the embedded store.)
pub async fn bulk_upload_counts_exactly_across_batches(store: &DynStore) {
    const LINES: u64 = 100_000;
    const BATCH: u64 = 1_000;
    let existing = codes("BULKX", 5);
    book_with_codes(store, json!({}), &existing).await;
    let book = store
        .create_book(settings(json!({})), None)
        .await
        .expect("create book");
    let tag = ulid::Ulid::new().to_string();
    let tag = &tag[16..];
    let job = store
        .create_job(
            &book.id,
            JobKind::Upload,
            LINES,
            serde_json::Value::Null,
            None,
        )
        .await
        .expect("create job");
    assert_eq!(job.status, JobStatus::Running);
    for start in (0..LINES).step_by(BATCH as usize) {
        let mut intake = CodeIntake::default();
        for line in start + 1..=start + BATCH {
            let code = match line {
                // A duplicate of a line in an earlier batch, and one in the same batch.
                1_001 => format!("BULK-{tag}-{:06}", 5),
                1_002 => format!("BULK-{tag}-{:06}", 1_000),
                // Codes stored before, by another book.
                2_001..=2_005 => existing[(line - 2_001) as usize].clone(),
                3_001 => "no!".to_string(),
                _ => format!("BULK-{tag}-{line:06}"),
            };
            intake.push(line, &code);
        }
        store
            .add_job_codes(&job.id, intake, serde_json::Value::Null)
            .await
            .expect("batch");
    }
    let job = store
        .finish_job(&job.id, JobStatus::Succeeded)
        .await
        .expect("finish");
    assert_eq!(job.processed, LINES);
    assert_eq!(
        (
            job.inserted,
            job.duplicates_in_file,
            job.already_exist,
            job.invalid
        ),
        (LINES - 8, 2, 5, 1)
    );
    assert_eq!(
        store.get_book(&book.id).await.expect("book").counts.total,
        LINES - 8
    );
    assert_eq!(store.get_job(&job.id).await.expect("job"), job);
}
