//! Making an API key: the checks that need the store (its books exist) next to the
//! domain's, shared by the API and the command line.

use crate::domain::apikey::{ApiKey, CreateApiKey, hash_key, new_key};
use crate::domain::ids::new_id;
use crate::domain::{Error, ErrorCode, Result, Timestamp};
use crate::store::{DynStore, Idempotency};

/// A new key as stored, and its secret (shown once).
pub struct NewKey {
    pub api_key: ApiKey,
    pub secret: String,
    /// Whether this call stored it (false: an idempotent replay, the secret is gone).
    pub created: bool,
}

/// Checks `request` and stores the key. Every book the key is limited to must exist
/// (400 with the field naming the first that does not).
pub async fn create_key(
    store: &DynStore,
    mut request: CreateApiKey,
    idem: Option<Idempotency>,
) -> Result<NewKey> {
    let now = Timestamp::now();
    request.validate(now)?;
    if let Some(ids) = &request.book_ids {
        for (index, id) in ids.iter().enumerate() {
            match store.get_book(id).await {
                Ok(_) => {}
                Err(err) if err.code == ErrorCode::BookNotFound => {
                    return Err(Error::invalid(
                        format!("book_ids[{index}]"),
                        format!("no book with id {id:?}"),
                    ));
                }
                Err(err) => return Err(err),
            }
        }
    }
    let secret = new_key();
    let mut api_key = ApiKey::new(new_id("key"), request.name, request.scopes, now);
    api_key.book_ids = request.book_ids;
    api_key.expires_at = request.expires_at;
    let generated_id = api_key.id.clone();
    let stored = store
        .create_api_key(api_key, hash_key(&secret), idem)
        .await?;
    Ok(NewKey {
        created: stored.id == generated_id,
        api_key: stored,
        secret,
    })
}
