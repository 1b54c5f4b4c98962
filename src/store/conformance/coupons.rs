//! Conformance: coupons: assignment, locks, limits under races, voiding, error precedence.

use std::collections::HashSet;

use serde_json::json;

use crate::domain::book::{BookStatus, UpdateBook};
use crate::domain::coupon::{CouponStatus, LockTtl};
use crate::domain::{ErrorCode, PageRequest, Timestamp};
use crate::store::{DynStore, RedemptionFilter};

use super::{book_with_codes, by_key, codes, redeem};

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
                        .redeem(redeem(&code, &format!("user{i}"), None), by_key())
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
            tokio::spawn(async move {
                store
                    .assign_next(&book_id, &format!("user{i}"), by_key())
                    .await
            })
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
        .assign_next(&limited_book, "solo", by_key())
        .await
        .expect("first");
    let err = store
        .assign_next(&limited_book, "solo", by_key())
        .await
        .expect_err("second");
    assert_eq!(err.code, ErrorCode::UserCouponLimitReached);
}

pub async fn locks_reserve_and_expire(store: &DynStore) {
    let list = codes("LOCK", 2);
    book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    let code = &list[0];
    let lock = store
        .lock(code, "alice", LockTtl::asked(60), by_key())
        .await
        .expect("lock");
    assert!(lock.lock_id.starts_with("lock_"));
    let again = store
        .lock(code, "alice", LockTtl::asked(120), by_key())
        .await
        .expect("relock");
    assert_eq!(again.lock_id, lock.lock_id);
    assert!(again.expires_at > lock.expires_at);
    assert_eq!(
        store.get_coupon(code).await.expect("coupon").status,
        CouponStatus::Locked
    );
    let stolen = store
        .lock(code, "bob", None.into(), by_key())
        .await
        .expect_err("bob");
    assert_eq!(stolen.code, ErrorCode::CouponLocked);
    let direct = store
        .redeem(redeem(code, "bob", None), by_key())
        .await
        .expect_err("reserved");
    assert_eq!(direct.code, ErrorCode::CouponLocked);
    let foreign = store
        .redeem(redeem(code, "bob", Some(&lock.lock_id)), by_key())
        .await
        .expect_err("foreign lock");
    assert_eq!(foreign.code, ErrorCode::CouponLocked);
    let redemption = store
        .redeem(redeem(code, "alice", Some(&lock.lock_id)), by_key())
        .await
        .expect("redeem with lock");
    assert_eq!(redemption.user_id, "alice");
    let consumed = store
        .unlock(code, &lock.lock_id, by_key())
        .await
        .expect_err("consumed");
    assert_eq!(consumed.code, ErrorCode::LockNotFound);

    // An expired lock frees its reservation with no background work.
    let other = &list[1];
    let short = store
        .lock(other, "alice", LockTtl::asked(1), by_key())
        .await
        .expect("short lock");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        store.get_coupon(other).await.expect("coupon").status,
        CouponStatus::Available
    );
    let late = store
        .redeem(redeem(other, "alice", Some(&short.lock_id)), by_key())
        .await
        .expect_err("expired");
    assert_eq!(late.code, ErrorCode::LockNotFound);
    let bob = store
        .lock(other, "bob", None.into(), by_key())
        .await
        .expect("bob locks after expiry");
    store
        .unlock(other, &bob.lock_id, by_key())
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
                    .redeem(redeem(&code, &format!("user{}", i % 8), None), by_key())
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
            tokio::spawn(async move { store.redeem(redeem(&code, "u", None), by_key()).await })
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

pub async fn unassign_and_void(store: &DynStore) {
    let list = codes("VOID", 2);
    book_with_codes(store, json!({}), &list).await;
    store.assign(&list[0], "u", by_key()).await.expect("assign");
    assert_eq!(
        store
            .assign(&list[0], "u", by_key())
            .await
            .expect("same user")
            .assigned_to
            .as_deref(),
        Some("u")
    );
    assert_eq!(
        store
            .assign(&list[0], "v", by_key())
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
    let freed = store.unassign(&list[0], by_key()).await.expect("unassign");
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
    store.assign(&list[1], "u", by_key()).await.expect("assign");
    store
        .redeem(redeem(&list[1], "u", None), by_key())
        .await
        .expect("redeem");
    assert_eq!(
        store
            .unassign(&list[1], by_key())
            .await
            .expect_err("redeemed")
            .code,
        ErrorCode::CouponAlreadyRedeemed
    );
    let voided = store.void(&list[0], by_key()).await.expect("void");
    assert_eq!(voided.status, CouponStatus::Voided);
    store
        .assign(&list[0], "u", by_key())
        .await
        .expect_err("voided");
    assert_eq!(
        store
            .lock(&list[0], "u", None.into(), by_key())
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

pub async fn error_precedence_follows_the_contract(store: &DynStore) {
    let list = codes("ORDER", 2);
    let book_id = book_with_codes(store, json!({"status": "draft"}), &list).await;
    // A draft book refuses before the assignment check.
    assert_eq!(
        store
            .redeem(redeem(&list[0], "u", None), by_key())
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
        .update_book(&book_id, future, by_key())
        .await
        .expect("activate later");
    assert_eq!(
        store
            .redeem(redeem(&list[0], "u", None), by_key())
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
        .update_book(&book_id, now_valid, by_key())
        .await
        .expect("valid now");
    assert_eq!(
        store
            .redeem(redeem(&list[0], "u", None), by_key())
            .await
            .expect_err("unassigned")
            .code,
        ErrorCode::CouponNotAssignedToUser
    );
    assert_eq!(
        store
            .redeem(redeem(&list[0], "u", Some("lock_unknown")), by_key())
            .await
            .expect_err("lock")
            .code,
        ErrorCode::LockNotFound
    );
    store.void(&list[1], by_key()).await.expect("void");
    assert_eq!(
        store
            .redeem(redeem(&list[1], "u", None), by_key())
            .await
            .expect_err("voided")
            .code,
        ErrorCode::CouponVoided
    );
}

/// The domain's plans, applied alike: a voided coupon can still be taken back from its
/// user (who may then be given another), an archived book takes no codes, and only a
/// live lock of the coupon itself is released.
pub async fn plans_apply_alike_at_their_edges(store: &DynStore) {
    let list = codes("EDGE", 3);
    let rules = json!({"max_coupons_per_user": 1, "requires_assignment": false});
    let book_id = book_with_codes(store, rules, &list).await;
    store.assign(&list[0], "u", by_key()).await.expect("assign");
    store.void(&list[0], by_key()).await.expect("void");
    assert_eq!(
        store
            .assign(&list[1], "u", by_key())
            .await
            .expect_err("limit")
            .code,
        ErrorCode::UserCouponLimitReached
    );
    let released = store
        .unassign(&list[0], by_key())
        .await
        .expect("unassign a voided coupon");
    assert_eq!(
        (released.status, released.assigned_to),
        (CouponStatus::Voided, None)
    );
    let again = store
        .unassign(&list[0], by_key())
        .await
        .expect("nothing to take back");
    assert_eq!(again.assigned_to, None);
    store
        .assign(&list[1], "u", by_key())
        .await
        .expect("the limit counts the release");
    let book = store.get_book(&book_id).await.expect("book");
    assert_eq!(
        (
            book.counts.voided,
            book.counts.assigned,
            book.counts.available
        ),
        (1, 1, 1)
    );

    let lock = store
        .lock(&list[2], "w", LockTtl::asked(60), by_key())
        .await
        .expect("lock");
    assert_eq!(
        store
            .unlock(&list[1], &lock.lock_id, by_key())
            .await
            .expect_err("a lock of another coupon")
            .code,
        ErrorCode::LockNotFound
    );
    store
        .unlock(&list[2], &lock.lock_id, by_key())
        .await
        .expect("unlock");
    assert_eq!(
        store
            .unlock(&list[2], &lock.lock_id, by_key())
            .await
            .expect_err("released already")
            .code,
        ErrorCode::LockNotFound
    );

    let archive = UpdateBook {
        status: Some(BookStatus::Archived),
        ..UpdateBook::default()
    };
    store
        .update_book(&book_id, archive, by_key())
        .await
        .expect("archive");
    let late = crate::domain::job::CodeIntake::from_codes(["EDGE-LATE-1"]);
    let refused = store
        .add_codes(
            &book_id,
            crate::domain::job::JobKind::Upload,
            late,
            by_key(),
        )
        .await
        .expect_err("archived");
    assert_eq!(refused.code, ErrorCode::BookNotActive);
    let job = store
        .create_job(
            &book_id,
            crate::domain::job::JobKind::Generate,
            10,
            serde_json::Value::Null,
            by_key(),
        )
        .await
        .expect_err("archived");
    assert_eq!(job.code, ErrorCode::BookNotActive);
}

/// A lock's TTL is the one asked for, else the book's, never past the cap.
pub async fn lock_ttl_stays_under_its_cap(store: &DynStore) {
    let list = codes("CAP", 3);
    book_with_codes(
        store,
        json!({"requires_assignment": false, "lock_ttl_seconds": 3600}),
        &list,
    )
    .await;
    let expires_in = |lock: &crate::domain::coupon::Lock| {
        (lock.expires_at.millis() - Timestamp::now().millis()) / 1000
    };
    let capped = LockTtl {
        requested: None,
        cap: Some(60),
    };
    let lock = store
        .lock(&list[0], "u", capped, by_key())
        .await
        .expect("capped book default");
    assert!((55..=60).contains(&expires_in(&lock)), "{lock:?}");
    let lock = store
        .lock(&list[1], "u", LockTtl::default(), by_key())
        .await
        .expect("book default");
    assert!((3595..=3600).contains(&expires_in(&lock)), "{lock:?}");
    let lock = store
        .lock(
            &list[2],
            "u",
            LockTtl {
                requested: Some(30),
                cap: Some(60),
            },
            by_key(),
        )
        .await
        .expect("asked under the cap");
    assert!((25..=30).contains(&expires_in(&lock)), "{lock:?}");
}
