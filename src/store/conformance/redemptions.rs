//! Conformance: redemptions: reversal, idempotent replays and listing.

use serde_json::json;

use crate::domain::coupon::CouponStatus;
use crate::domain::export::RedemptionWindow;
use crate::domain::{Clock, ErrorCode, PageRequest, Timestamp};
use crate::store::Idempotency;
use crate::store::{DynStore, RedemptionFilter};

use super::{book_with_codes, by_key, codes, redeem};

pub async fn reverse_gives_the_use_back(store: &DynStore) {
    let list = codes("REV", 1);
    let book_id = book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    let first = store
        .redeem(redeem(&list[0], "u", None), by_key())
        .await
        .expect("redeem");
    let reversed = store.reverse(&first.id, by_key()).await.expect("reverse");
    assert!(reversed.reversed_at.is_some());
    assert_eq!(
        store
            .reverse(&first.id, by_key())
            .await
            .expect_err("twice")
            .code,
        ErrorCode::RedemptionAlreadyReversed
    );
    assert_eq!(
        store
            .reverse("red_missing", by_key())
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
        .redeem(redeem(&list[0], "v", None), by_key())
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
        .redeem(redeem(&list[0], "u", None), by_key().with_idem(idem("a")))
        .await
        .expect("redeem");
    let replay = store
        .redeem(redeem(&list[0], "u", None), by_key().with_idem(idem("a")))
        .await
        .expect("replay");
    assert_eq!(first, replay);
    let reused = store
        .redeem(redeem(&list[1], "u", None), by_key().with_idem(idem("b")))
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
            by_key().with_idem(Some(Idempotency {
                key: "other".into(),
                ..idem("c").expect("idem")
            })),
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

/// The unfiltered list pages through every redemption of the store exactly once, in
/// redemption order, whichever books they belong to.
pub async fn every_redemption_pages_in_order(store: &DynStore) {
    let mut made = Vec::new();
    for book in 0..2 {
        let list = codes(&format!("ALL{book}"), 5);
        book_with_codes(store, json!({"requires_assignment": false}), &list).await;
        for code in &list {
            let redemption = store
                .redeem(redeem(code, "u", None), by_key())
                .await
                .expect("redeem");
            made.push(redemption.id);
        }
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let answer = store
            .list_redemptions(RedemptionFilter::default(), page)
            .await
            .expect("list");
        assert!(answer.data.len() <= 3);
        seen.extend(answer.data.into_iter().map(|r| (r.redeemed_at, r.id)));
        match answer.next_cursor {
            Some(cursor) => page = PageRequest::parse(Some("3"), Some(&cursor)).expect("cursor"),
            None => break,
        }
    }
    assert!(
        seen.windows(2).all(|pair| pair[0].0 <= pair[1].0),
        "listed in redemption order"
    );
    let mut seen: Vec<String> = seen.into_iter().map(|(_, id)| id).collect();
    seen.sort();
    made.sort();
    assert_eq!(seen, made, "every redemption exactly once");
}

/// A time window on `redeemed_at` (from inclusive, to exclusive) lists exactly the
/// redemptions made in it, paged, with and without the other filters.
pub async fn redemptions_are_listed_by_time_window(store: &DynStore, clock: &Clock) {
    let start = clock.now();
    let a = codes("WINA", 6);
    let b = codes("WINB", 3);
    let book_a = book_with_codes(store, json!({"requires_assignment": false}), &a).await;
    book_with_codes(store, json!({"requires_assignment": false}), &b).await;
    // A redemption a second, alternating books where both have codes left.
    let mut made: Vec<(Timestamp, String, String)> = Vec::new();
    let order = [
        &a[0], &b[0], &a[1], &a[2], &b[1], &a[3], &a[4], &b[2], &a[5],
    ];
    for (i, code) in order.into_iter().enumerate() {
        clock.advance(1000);
        let user = if i % 2 == 0 { "even" } else { "odd" };
        let redemption = store
            .redeem(redeem(code, user, None), by_key())
            .await
            .expect("redeem");
        assert_eq!(redemption.redeemed_at, clock.now());
        made.push((redemption.redeemed_at, redemption.book_id, redemption.id));
    }
    let at = |second: i64| Timestamp(start.0 + second * 1000);
    let list_all = |filter: RedemptionFilter| async move {
        let mut seen = Vec::new();
        let mut page = PageRequest::first(2);
        loop {
            let answer = store
                .list_redemptions(filter.clone(), page)
                .await
                .expect("list");
            assert!(answer.data.len() <= 2);
            seen.extend(answer.data.into_iter().map(|r| r.id));
            match answer.next_cursor {
                Some(cursor) => {
                    page = PageRequest::parse(Some("2"), Some(&cursor)).expect("cursor")
                }
                None => return seen,
            }
        }
    };
    let expect = |from: Option<i64>, to: Option<i64>, book: Option<&str>| -> Vec<String> {
        made.iter()
            .filter(|(t, _, _)| from.is_none_or(|f| *t >= at(f)) && to.is_none_or(|e| *t < at(e)))
            .filter(|(_, b, _)| book.is_none_or(|book| b == book))
            .map(|(_, _, id)| id.clone())
            .collect()
    };
    for (from, to) in [
        (Some(3), Some(7)),
        (Some(2), None),
        (None, Some(5)),
        (Some(9), Some(9)),
        (Some(10), None),
        (Some(0), Some(100)),
    ] {
        let window = RedemptionWindow {
            from: from.map(at),
            to: to.map(at),
        };
        let everything = list_all(RedemptionFilter {
            redeemed: window,
            ..RedemptionFilter::default()
        })
        .await;
        assert_eq!(everything, expect(from, to, None), "{from:?}..{to:?}");
        let of_a = list_all(RedemptionFilter {
            book_id: Some(book_a.clone()),
            redeemed: window,
            ..RedemptionFilter::default()
        })
        .await;
        assert_eq!(
            of_a,
            expect(from, to, Some(&book_a)),
            "book, {from:?}..{to:?}"
        );
    }
    let even = list_all(RedemptionFilter {
        user_id: Some("even".into()),
        redeemed: RedemptionWindow {
            from: Some(at(2)),
            to: Some(at(8)),
        },
        ..RedemptionFilter::default()
    })
    .await;
    let expected: Vec<String> = made
        .iter()
        .enumerate()
        .filter(|(i, (t, _, _))| i % 2 == 0 && *t >= at(2) && *t < at(8))
        .map(|(_, (_, _, id))| id.clone())
        .collect();
    assert_eq!(even, expected);
}
