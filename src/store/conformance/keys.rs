//! Conformance: API keys.

use crate::domain::apikey::{ApiKey, Scope, hash_key};
use crate::domain::{ErrorCode, PageRequest, Timestamp};
use crate::store::DynStore;

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
