//! Conformance: the event feed.

use serde_json::json;

use crate::domain::ErrorCode;
use crate::store::DynStore;

use super::{book_with_codes, by_key, codes, redeem};

pub async fn events_follow_changes_in_order(store: &DynStore) {
    let start = store.list_events(None, 1000).await.expect("events");
    let after = start.data.last().map(|e| e.id.clone());
    let list = codes("EVT", 1);
    let book_id = book_with_codes(store, json!({}), &list).await;
    store.assign(&list[0], "u", by_key()).await.expect("assign");
    let lock = store
        .lock(&list[0], "u", None.into(), by_key())
        .await
        .expect("lock");
    let redemption = store
        .redeem(redeem(&list[0], "u", Some(&lock.lock_id)), by_key())
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
