//! Conformance: books.

use serde_json::json;

use crate::domain::book::{BookStatus, UpdateBook};
use crate::domain::{ErrorCode, PageRequest};
use crate::store::DynStore;

use super::{book_with_codes, by_key, codes, redeem, settings};

pub async fn book_lifecycle(store: &DynStore) {
    let draft = store
        .create_book(settings(json!({"status": "draft"})), by_key())
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
            .create_book(settings(json!({})), by_key())
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
        .update_book(&draft.id, paused.clone(), by_key())
        .await
        .expect_err("draft->paused");
    assert_eq!(refused.code, ErrorCode::InvalidStatusTransition);
    let active = UpdateBook {
        status: Some(BookStatus::Active),
        name: Some("renamed".into()),
        ..UpdateBook::default()
    };
    let updated = store
        .update_book(&draft.id, active, by_key())
        .await
        .expect("activate");
    assert_eq!(updated.settings.status, BookStatus::Active);
    assert_eq!(updated.settings.name, "renamed");
    assert!(updated.updated_at >= draft.updated_at);
    store
        .update_book(&draft.id, paused, by_key())
        .await
        .expect("pause");

    // A book whose codes were never used can be deleted; a used one cannot.
    let spare = codes("DEL", 2);
    let unused = book_with_codes(store, json!({}), &spare).await;
    store
        .delete_book(&unused, by_key())
        .await
        .expect("delete unused");
    assert_eq!(
        store.get_book(&unused).await.expect_err("gone").code,
        ErrorCode::BookNotFound
    );
    let used_codes = codes("USED", 1);
    let used = book_with_codes(store, json!({}), &used_codes).await;
    store
        .assign(&used_codes[0], "u1", by_key())
        .await
        .expect("assign");
    let in_use = store
        .delete_book(&used, by_key())
        .await
        .expect_err("in use");
    assert_eq!(in_use.code, ErrorCode::BookInUse);
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
        .redeem(redeem(&list[0], "u1", None), by_key())
        .await
        .expect("redeem");
    let events = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(exhausted(&events, &budget), 0);
    store
        .redeem(redeem(&list[1], "u2", None), by_key())
        .await
        .expect("redeem");
    assert_eq!(
        store
            .redeem(redeem(&list[2], "u3", None), by_key())
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
            .redeem(redeem(code, user, None), by_key())
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
        .assign_next(&handed, "u1", by_key())
        .await
        .expect("assign");
    let events = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(exhausted(&events, &handed), 0);
    store
        .assign_next(&handed, "u2", by_key())
        .await
        .expect("assign");
    let events = store.list_events(None, 1000).await.expect("events").data;
    assert_eq!(exhausted(&events, &handed), 1);
}
