//! Conformance: several codes redeemed on one order, all or nothing.

use std::sync::Arc;

use serde_json::json;

use crate::domain::ErrorCode;
use crate::domain::checkout::RedeemItem;
use crate::domain::order::Order;
use crate::store::{DynStore, MultiRedeemRequest};

use super::{book_with_codes, by_key, codes, redeem};

fn order() -> Order {
    Order::from_json(&json!({"id": "o-7", "amount": 10000, "currency": "EUR"})).expect("order")
}

fn request(user: &str, codes: &[&String]) -> MultiRedeemRequest {
    MultiRedeemRequest {
        user_id: user.to_string(),
        order: order(),
        items: codes
            .iter()
            .map(|code| RedeemItem {
                code: code.to_string(),
                lock_id: None,
            })
            .collect(),
    }
}

pub async fn several_codes_redeem_together_or_not_at_all(store: &DynStore) {
    let open = json!({"requires_assignment": false, "combinable": true});
    let mut amount = open.clone();
    amount["reward"] = json!({"type": "amount_off", "amount_off": 8000, "currency": "EUR"});
    let mut half = open.clone();
    half["reward"] = json!({"type": "percent_off", "percent_off": 50});
    half["max_redemptions_per_user"] = json!(1);
    let first = codes("MULTI-A", 2);
    let second = codes("MULTI-B", 3);
    let first_book = book_with_codes(store, amount, &first).await;
    let second_book = book_with_codes(store, half, &second).await;

    let answer = store
        .redeem_many(request("u", &[&first[0], &second[0]]), by_key())
        .await
        .expect("redeem both");
    let amounts: Vec<Option<u64>> = answer
        .redemptions
        .iter()
        .map(|r| r.discount.as_ref().map(|d| d.amount))
        .collect();
    // Half of the 2,000 the first code left.
    assert_eq!(amounts, [Some(8000), Some(1000)]);
    assert_eq!(answer.total_discount.amount, 9000);
    for redemption in &answer.redemptions {
        assert_eq!(redemption.order_id.as_deref(), Some("o-7"));
        assert_eq!(
            &store.get_redemption(&redemption.id).await.expect("kept"),
            redemption
        );
    }

    // Two codes of one book pass its per-user limit together: nothing is written.
    let refused = store
        .redeem_many(request("v", &[&first[1], &second[1], &second[2]]), by_key())
        .await
        .expect_err("limit");
    assert_eq!(refused.code, ErrorCode::UserRedemptionLimitReached);
    assert_eq!(refused.field.as_deref(), Some("items[2]"));
    // A code named twice is refused at its second place, before anything is written.
    let twice = store
        .redeem_many(request("v", &[&first[1], &first[1]]), by_key())
        .await
        .expect_err("twice");
    assert_eq!(
        (twice.code, twice.field.as_deref()),
        (ErrorCode::InvalidRequest, Some("items[1]"))
    );
    // A used code fails the whole step too.
    let used = store
        .redeem_many(request("v", &[&first[1], &first[0]]), by_key())
        .await
        .expect_err("used");
    assert_eq!(
        (used.code, used.field.as_deref()),
        (ErrorCode::CouponAlreadyRedeemed, Some("items[1]"))
    );
    for code in [&first[1], &second[1], &second[2]] {
        assert_eq!(
            store
                .get_coupon(code)
                .await
                .expect("coupon")
                .redemption_count,
            0
        );
    }
    let books = [
        store.get_book(&first_book).await.expect("book"),
        store.get_book(&second_book).await.expect("book"),
    ];
    assert_eq!((books[0].counts.redeemed, books[1].counts.redeemed), (1, 1));

    // Two codes of one book within its limits go together, counted once each.
    let mut pair = json!({"requires_assignment": false, "combinable": true});
    pair["max_redemptions_per_user"] = json!(2);
    let pair_codes = codes("MULTI-C", 2);
    let pair_book = book_with_codes(store, pair, &pair_codes).await;
    store
        .redeem_many(request("w", &[&pair_codes[0], &pair_codes[1]]), by_key())
        .await
        .expect("two of one book");
    let book = store.get_book(&pair_book).await.expect("book");
    assert_eq!((book.counts.redeemed, book.counts.available), (2, 0));
    let after = store.redeem(redeem(&first[1], "w", None), by_key()).await;
    assert!(after.is_ok(), "other books are untouched: {after:?}");
}

pub async fn several_codes_race_with_one_winner(store: &DynStore) {
    let list = codes("MULTI-RACE", 2);
    book_with_codes(
        store,
        json!({"requires_assignment": false, "combinable": true}),
        &list,
    )
    .await;
    let callers = 12;
    let mut tasks = Vec::new();
    let store = Arc::new(store.clone());
    for caller in 0..callers {
        let store = store.clone();
        let list = list.clone();
        tasks.push(tokio::spawn(async move {
            // Half the callers name the codes the other way round.
            let codes = if caller % 2 == 0 {
                [&list[0], &list[1]]
            } else {
                [&list[1], &list[0]]
            };
            store
                .redeem_many(request(&format!("racer-{caller}"), &codes), by_key())
                .await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(answer) => {
                assert_eq!(answer.redemptions.len(), 2);
                winners += 1;
            }
            Err(err) => assert!(
                matches!(
                    err.code,
                    ErrorCode::CouponAlreadyRedeemed | ErrorCode::StoreBusy
                ),
                "{err:?}"
            ),
        }
    }
    assert_eq!(winners, 1);
    // Never one code without the other.
    for code in &list {
        assert_eq!(
            store
                .get_coupon(code)
                .await
                .expect("coupon")
                .redemption_count,
            1
        );
    }
}
