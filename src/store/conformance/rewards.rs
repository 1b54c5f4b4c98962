//! Conformance: rewards on books and codes, and a code's own dates and metadata.

use serde_json::json;

use crate::domain::coupon::{CodeInput, UpdateCoupon};
use crate::domain::job::{CodeIntake, JobKind};
use crate::domain::{ErrorCode, Timestamp};
use crate::store::DynStore;

use super::{by_key, codes, redeem, settings};

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
