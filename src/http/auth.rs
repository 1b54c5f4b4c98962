//! Turns a bearer token into a `Caller`: API keys are looked up by their hash (with a
//! short-lived cache, so the hot path does not read the store for every request).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::ApiResult;
use super::extract::Caller;
use crate::domain::apikey::hash_key;
use crate::domain::{Error, ErrorCode};
use crate::store::DynStore;

/// How long a key stays trusted without asking the store (deletes on this process
/// take effect at once; on other processes after this delay).
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
const KEY_CACHE_MAX: usize = 10_000;

pub struct Authenticator {
    store: DynStore,
    cache: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl Authenticator {
    pub fn new(store: DynStore) -> Self {
        Authenticator {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn authenticate(&self, token: &str) -> ApiResult<Caller> {
        let key_hash = hash_key(token);
        if let Some(caller) = self.cached(&key_hash) {
            return Ok(caller);
        }
        let Some(api_key) = self.store.find_api_key(&key_hash).await? else {
            return Err(Error::new(ErrorCode::Unauthenticated, "unknown or revoked token").into());
        };
        let caller = Caller {
            id: api_key.id,
            scopes: api_key.scopes,
            end_user: None,
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= KEY_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key_hash, (caller.clone(), Instant::now()));
        }
        Ok(caller)
    }

    fn cached(&self, key_hash: &str) -> Option<Caller> {
        let cache = self.cache.lock().ok()?;
        let (caller, at) = cache.get(key_hash)?;
        (at.elapsed() < KEY_CACHE_TTL).then(|| caller.clone())
    }

    /// Forgets every cached key, e.g. after one was deleted.
    pub fn forget_keys(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }
}
