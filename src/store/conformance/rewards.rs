//! Conformance: rewards on books and codes, and a code's own dates and metadata.

use serde_json::json;

use crate::domain::coupon::{CodeInput, UpdateCoupon};
use crate::domain::job::{CodeIntake, JobKind};
use crate::domain::order::Order;
use crate::domain::{ErrorCode, Timestamp};
use crate::store::{DynStore, RedeemRequest};

use super::{book_with_codes, by_key, codes, redeem, settings};

fn patch(body: serde_json::Value) -> UpdateCoupon {
    serde_json::from_value(body).expect("patch body")
}

pub async fn codes_carry_their_own_data_and_window(store: &DynStore) {
    let book = store
        .create_book(
            settings(json!({
                "requires_assignment": false,
                "combinable": true,
                "reward": {"type": "percent_off", "percent_off": 19.99, "max_discount": 500,
                           "currency": "EUR", "label": "19.99% off"}
            })),
            by_key(),
        )
        .await
        .expect("create book");
    let stored = store.get_book(&book.id).await.expect("get book");
    assert!(stored.settings.combinable);
    let reward = stored.settings.reward.expect("book reward kept");
    assert_eq!(reward.percent_off_hundredths, Some(1999));
    assert_eq!(reward.max_discount, Some(500));

    let list = codes("OWN", 2);
    let later = Timestamp::now().plus_seconds(3600);
    let inputs: Vec<CodeInput> = serde_json::from_value(json!([
        {"code": list[0], "starts_at": later.to_rfc3339(), "metadata": {"campaign": "spring"},
         "reward": {"type": "amount_off", "amount_off": 700, "currency": "EUR"}},
        list[1],
    ]))
    .expect("inputs");
    let intake = CodeIntake::from_inputs(&inputs).expect("valid inputs");
    let job = store
        .add_codes(&book.id, JobKind::Upload, intake, by_key())
        .await
        .expect("add codes");
    assert_eq!(job.inserted, 2);

    let own = store.get_coupon(&list[0]).await.expect("coupon");
    assert_eq!(own.starts_at, Some(later));
    assert_eq!(
        own.metadata,
        Some(
            json!({"campaign": "spring"})
                .as_object()
                .cloned()
                .unwrap_or_default()
        )
    );
    assert_eq!(own.reward.as_ref().and_then(|r| r.amount_off), Some(700));
    let plain = store.get_coupon(&list[1]).await.expect("coupon");
    assert_eq!(
        (plain.starts_at, plain.reward.is_none(), plain.metadata),
        (None, true, None)
    );

    // Not started: refused right after the book's window, on every path.
    let early = store.lock(&list[0], "u", None.into(), by_key()).await;
    assert_eq!(
        early.map(|_| ()).map_err(|e| e.code),
        Err(ErrorCode::CouponNotValidNow)
    );
    let early = store.redeem(redeem(&list[0], "u", None), by_key()).await;
    assert_eq!(
        early.map(|_| ()).map_err(|e| e.code),
        Err(ErrorCode::CouponNotValidNow)
    );
    let validation = store.validate(&list[0], "u").await.expect("validate");
    assert_eq!(validation.reason, Some(ErrorCode::CouponNotValidNow));

    // A refused patch changes nothing.
    let bad = patch(json!({"reward": {"type": "percent_off", "percent_off": 100.001}}));
    let refused = store.update_coupon(&list[0], bad, by_key()).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.code),
        Err(ErrorCode::InvalidRequest)
    );
    assert_eq!(store.get_coupon(&list[0]).await.expect("coupon"), own);
    let missing = store
        .update_coupon("NOPE-NOPE", patch(json!({})), by_key())
        .await;
    assert_eq!(
        missing.map(|_| ()).map_err(|e| e.code),
        Err(ErrorCode::CouponNotFound)
    );

    // Expired: still refused; cleared: redeemable, and the data not named is kept.
    let past = Timestamp(Timestamp::now().0 - 3_600_000);
    let expired = patch(json!({"starts_at": null, "expires_at": past.to_rfc3339()}));
    let updated = store
        .update_coupon(&list[0], expired, by_key())
        .await
        .expect("patch");
    assert_eq!((updated.starts_at, updated.expires_at), (None, Some(past)));
    assert_eq!(updated.reward, own.reward);
    let late = store.redeem(redeem(&list[0], "u", None), by_key()).await;
    assert_eq!(
        late.map(|_| ()).map_err(|e| e.code),
        Err(ErrorCode::CouponNotValidNow)
    );
    let cleared = patch(json!({"expires_at": null, "metadata": null, "reward": null}));
    let updated = store
        .update_coupon(&list[0], cleared, by_key())
        .await
        .expect("patch");
    assert_eq!(
        (updated.expires_at, updated.metadata, updated.reward),
        (None, None, None)
    );
    store
        .redeem(redeem(&list[0], "u", None), by_key())
        .await
        .expect("redeemable once its window is cleared");
    assert_eq!(
        store
            .get_coupon(&list[0])
            .await
            .expect("coupon")
            .redemption_count,
        1
    );

    let events = store.list_events(None, 1000).await.expect("events");
    let updates = events
        .data
        .iter()
        .filter(|e| e.event_type == "coupon.updated" && e.data["code"] == list[0].as_str())
        .count();
    assert_eq!(updates, 2);
}

fn order(amount: u64, currency: &str) -> Order {
    Order::from_json(&json!({
        "id": format!("o-{amount}"), "amount": amount, "currency": currency,
        "items": [{"sku": "SKU-1", "quantity": 1, "unit_amount": amount}]
    }))
    .expect("valid order")
}

fn redeem_on(code: &str, order: Option<Order>) -> RedeemRequest {
    RedeemRequest {
        order,
        ..redeem(code, "u", None)
    }
}

pub async fn orders_are_judged_alike_on_every_path(store: &DynStore) {
    let reward = json!({"type": "percent_off", "percent_off": 10, "currency": "EUR",
                        "min_order_amount": 5000});
    let list = codes("ORD", 4);
    let book_id = book_with_codes(
        store,
        json!({"requires_assignment": false, "reward": reward}),
        &list,
    )
    .await;
    let judged = |code: &str, order: Option<Order>| {
        let code = code.to_string();
        async move { store.validate_order(&code, "u", order).await }
    };
    let missing = judged(&list[0], None).await.map(|_| ()).unwrap_err();
    assert_eq!(
        (missing.code, missing.field.as_deref()),
        (ErrorCode::InvalidRequest, Some("order"))
    );
    let low = judged(&list[0], Some(order(4000, "EUR")))
        .await
        .expect("validate");
    assert_eq!(
        (low.valid, low.reasons.clone()),
        (false, vec![ErrorCode::OrderBelowMinimum])
    );
    assert_eq!(low.discount, None);
    let foreign = judged(&list[0], Some(order(9000, "USD")))
        .await
        .expect("validate");
    assert_eq!(foreign.reasons, vec![ErrorCode::CurrencyMismatch]);
    let fine = judged(&list[0], Some(order(12000, "EUR")))
        .await
        .expect("validate");
    assert!(fine.valid && fine.reason.is_none());
    assert_eq!(fine.discount.as_ref().map(|d| d.amount), Some(1200));
    assert_eq!(
        fine.reward.as_ref().and_then(|r| r.min_order_amount),
        Some(5000)
    );

    // Lock: the order rules answer 409, else the discount comes with the lock.
    let refused = store
        .lock_order(
            &list[0],
            "u",
            None.into(),
            Some(order(4000, "EUR")),
            by_key(),
        )
        .await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.code),
        Err(ErrorCode::OrderBelowMinimum)
    );
    let lock = store
        .lock_order(
            &list[0],
            "u",
            None.into(),
            Some(order(12000, "EUR")),
            by_key(),
        )
        .await
        .expect("lock");
    assert_eq!(lock.discount.as_ref().map(|d| d.amount), Some(1200));

    // Redeem: the redemption keeps the order and its discount, as read back later.
    let no_order = store.redeem(redeem_on(&list[1], None), by_key()).await;
    assert_eq!(
        no_order.map(|_| ()).map_err(|e| e.code),
        Err(ErrorCode::InvalidRequest)
    );
    let request = RedeemRequest {
        lock_id: Some(lock.lock_id.clone()),
        ..redeem_on(&list[0], Some(order(12000, "EUR")))
    };
    let redemption = store.redeem(request, by_key()).await.expect("redeem");
    assert_eq!(redemption.order_id.as_deref(), Some("o-12000"));
    assert_eq!(
        (redemption.order_amount, redemption.currency.as_deref()),
        (Some(12000), Some("EUR"))
    );
    assert_eq!(redemption.discount.as_ref().map(|d| d.amount), Some(1200));
    let stored = store.get_redemption(&redemption.id).await.expect("stored");
    assert_eq!(stored, redemption);
    // Without a lock (the path that may decide on nothing read).
    let second = store
        .redeem(redeem_on(&list[1], Some(order(9999, "EUR"))), by_key())
        .await
        .expect("redeem");
    assert_eq!(
        second
            .discount
            .as_ref()
            .map(|d| (d.amount, d.currency.as_str())),
        Some((999, "EUR"))
    );
    assert_eq!(
        store.get_redemption(&second.id).await.expect("stored"),
        second
    );
    let below = store
        .redeem(redeem_on(&list[2], Some(order(100, "EUR"))), by_key())
        .await;
    assert_eq!(
        below.map(|_| ()).map_err(|e| e.code),
        Err(ErrorCode::OrderBelowMinimum)
    );
    assert_eq!(
        store
            .get_coupon(&list[2])
            .await
            .expect("coupon")
            .redemption_count,
        0
    );

    // Validate lists every rule that fails, in precedence order.
    let used = judged(&list[0], Some(order(4000, "EUR")))
        .await
        .expect("validate");
    assert_eq!(
        used.reasons,
        vec![
            ErrorCode::CouponAlreadyRedeemed,
            ErrorCode::OrderBelowMinimum
        ]
    );
    assert_eq!(used.reason, Some(ErrorCode::CouponAlreadyRedeemed));

    // A code's own reward overrides the book's: no minimum, so no order needed.
    let own = serde_json::from_value(json!({
        "reward": {"type": "amount_off", "amount_off": 700, "currency": "EUR"}
    }))
    .expect("patch");
    store
        .update_coupon(&list[3], own, by_key())
        .await
        .expect("patch");
    let plain = store
        .redeem(redeem_on(&list[3], None), by_key())
        .await
        .expect("redeem");
    assert_eq!((plain.discount, plain.order_amount), (None, None));
    let book = store.get_book(&book_id).await.expect("book");
    assert_eq!(book.counts.redeemed, 3);
}
