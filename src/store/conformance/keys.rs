//! Conformance: API keys.

use crate::domain::apikey::{ApiKey, LAST_USED_RESOLUTION_MS, Scope, UpdateApiKey, hash_key};
use crate::domain::{ErrorCode, PageRequest, Timestamp};
use crate::store::DynStore;

pub async fn api_keys_round_trip(store: &DynStore) {
    let key = ApiKey::new(
        crate::domain::ids::new_id("key"),
        "ops".into(),
        vec![Scope::BooksRead, Scope::CouponsRedeem],
        Timestamp::now(),
    );
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

async fn listed(store: &DynStore, id: &str) -> ApiKey {
    store
        .list_api_keys(PageRequest::first(1000))
        .await
        .expect("list")
        .data
        .into_iter()
        .find(|k| k.id == id)
        .expect("the key is listed")
}

/// Book limits and expiry are kept as given; a rename or disable shows both where keys
/// are listed and where requests find them; uses move `last_used_at` at most once a
/// minute.
pub async fn api_keys_keep_limits_and_record_uses(store: &DynStore) {
    let now = Timestamp::now();
    let mut key = ApiKey::new(
        crate::domain::ids::new_id("key"),
        "limited".into(),
        vec![Scope::Admin],
        now,
    );
    key.book_ids = Some(vec!["book_a".into(), "book_ü-2".into()]);
    key.expires_at = Some(now.plus_seconds(3600));
    let hash = hash_key("secret-limited");
    store
        .create_api_key(key.clone(), hash.clone(), None)
        .await
        .expect("create");
    let found = store
        .find_api_key(&hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found, key);
    assert!(found.book_access().allows("book_ü-2"));
    assert!(!found.book_access().allows("book_b"));
    assert_eq!(listed(store, &key.id).await, key);

    let disabled = store
        .update_api_key(
            &key.id,
            UpdateApiKey {
                name: Some("renamed".into()),
                disabled: Some(true),
            },
        )
        .await
        .expect("disable");
    assert!(disabled.disabled);
    assert_eq!(disabled.name, "renamed");
    assert_eq!(disabled.book_ids, key.book_ids);
    let found = store
        .find_api_key(&hash)
        .await
        .expect("find")
        .expect("found");
    assert!(found.disabled, "requests see the key disabled");
    assert_eq!(found.name, "renamed");
    assert!(found.refusal(now).is_some());
    assert!(listed(store, &key.id).await.disabled);
    let enabled = store
        .update_api_key(
            &key.id,
            UpdateApiKey {
                name: None,
                disabled: Some(false),
            },
        )
        .await
        .expect("enable");
    assert!(!enabled.disabled);
    assert_eq!(enabled.name, "renamed", "an absent name stays");
    assert_eq!(
        store
            .update_api_key("key_none", UpdateApiKey::default())
            .await
            .expect_err("unknown")
            .code,
        ErrorCode::ApiKeyNotFound
    );

    // Uses: the first is written; one within a minute of it is not; a later one is.
    let first = Timestamp(now.0 - 10 * LAST_USED_RESOLUTION_MS);
    store
        .record_key_uses(vec![(key.id.clone(), first), ("key_gone".into(), first)])
        .await
        .expect("record");
    assert_eq!(listed(store, &key.id).await.last_used_at, Some(first));
    let soon = Timestamp(first.0 + LAST_USED_RESOLUTION_MS - 1);
    store
        .record_key_uses(vec![(key.id.clone(), soon)])
        .await
        .expect("record");
    assert_eq!(listed(store, &key.id).await.last_used_at, Some(first));
    let later = Timestamp(first.0 + LAST_USED_RESOLUTION_MS);
    store
        .record_key_uses(vec![(key.id.clone(), later)])
        .await
        .expect("record");
    assert_eq!(listed(store, &key.id).await.last_used_at, Some(later));
    // An older use never moves it back.
    store
        .record_key_uses(vec![(key.id.clone(), first)])
        .await
        .expect("record");
    assert_eq!(listed(store, &key.id).await.last_used_at, Some(later));
    let after_update = store
        .update_api_key(&key.id, UpdateApiKey::default())
        .await
        .expect("no change");
    assert_eq!(after_update.last_used_at, Some(later));
    store.delete_api_key(&key.id).await.expect("delete");
}
