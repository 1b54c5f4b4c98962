//! Turns a bearer token into a `Caller`: API keys are looked up by their hash (with a
//! short-lived cache, so the hot path does not read the store for every request);
//! JWTs are verified with the configured key, whose type alone fixes the algorithm.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use crate::domain::Timestamp;
use crate::domain::apikey::{BookAccess, EndUserRule, LAST_USED_RESOLUTION_MS, Scope, hash_key};
use crate::domain::coupon::MAX_USER_ID_CHARS;
use crate::domain::event::Actor;
use crate::domain::{Error, ErrorCode};
use crate::http::caller::Caller;
use crate::http::error::ApiResult;
use crate::store::DynStore;

/// How long a key stays trusted without asking the store (deletes on this process
/// take effect at once; on other processes after this delay).
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
const KEY_CACHE_MAX: usize = 10_000;
/// Clock skew allowed on `exp`, `nbf` and `iat` (API.md: at most 60 s).
pub const JWT_LEEWAY_SECONDS: u64 = 30;

/// JWT settings (API.md "Running"). Both keys may be set at once.
#[derive(Default, Clone)]
pub struct JwtSettings {
    pub hs256_secret: Option<String>,
    /// PEM text of an RSA or EC (P-256) public key.
    pub public_key_pem: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Which tokens are end users' (they act only for their `sub`).
    pub end_user_rule: EndUserRule,
    /// Tokens whose `exp` is further than this past their `iat` (or, without `iat`,
    /// past now) are refused.
    pub max_lifetime_seconds: Option<u64>,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("public_key", &self.public_key_pem.is_some())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("end_user_rule", &self.end_user_rule)
            .field("max_lifetime_seconds", &self.max_lifetime_seconds)
            .finish()
    }
}

impl JwtSettings {
    /// Reads the public key file, if one is named.
    pub fn with_public_key_file(mut self, path: Option<&Path>) -> Result<Self, String> {
        if let Some(path) = path {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read JWT public key {}: {e}", path.display()))?;
            self.public_key_pem = Some(pem);
        }
        Ok(self)
    }
}

/// One accepted signing key and the single algorithm it verifies.
struct JwtKey {
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// Verifies JWTs: HS256 with the shared secret, RS256 or ES256 with the public key.
/// The algorithm comes from the key, never from the token: a token whose header names
/// another algorithm (`none`, or HS256 against the RSA key) is refused.
pub struct JwtVerifier {
    keys: Vec<JwtKey>,
    end_user_rule: EndUserRule,
    max_lifetime_seconds: Option<u64>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    iat: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl JwtVerifier {
    /// `None` when no JWT key is configured (JWTs are then off).
    pub fn new(settings: &JwtSettings) -> Result<Option<Self>, String> {
        let mut keys = Vec::new();
        if let Some(secret) = settings.hs256_secret.as_deref().filter(|s| !s.is_empty()) {
            if secret.len() < 32 {
                return Err(
                    "COUPON_BOOK_JWT_HS256_SECRET must be at least 32 bytes (256 bits)".into(),
                );
            }
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.as_bytes()),
            ));
        }
        if let Some(pem) = settings.public_key_pem.as_deref() {
            let key = if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
                (Algorithm::RS256, key)
            } else if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
                (Algorithm::ES256, key)
            } else {
                return Err("the JWT public key file holds no PEM RSA or EC public key".into());
            };
            keys.push(key);
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let keys = keys
            .into_iter()
            .map(|(algorithm, key)| {
                let mut validation = Validation::new(algorithm);
                validation.algorithms = vec![algorithm];
                validation.leeway = JWT_LEEWAY_SECONDS;
                validation.validate_exp = true;
                validation.validate_nbf = true;
                let mut required = vec!["exp", "sub"];
                required.extend(settings.issuer.as_ref().map(|_| "iss"));
                required.extend(settings.audience.as_ref().map(|_| "aud"));
                validation.set_required_spec_claims(&required);
                match &settings.issuer {
                    Some(issuer) => validation.set_issuer(&[issuer]),
                    None => validation.iss = None,
                }
                match &settings.audience {
                    Some(audience) => validation.set_audience(&[audience]),
                    None => validation.validate_aud = false,
                }
                JwtKey {
                    algorithm,
                    key,
                    validation,
                }
            })
            .collect();
        Ok(Some(JwtVerifier {
            keys,
            end_user_rule: settings.end_user_rule.clone(),
            max_lifetime_seconds: settings.max_lifetime_seconds,
        }))
    }

    /// The caller a valid token stands for, or 401 `unauthenticated`.
    pub fn verify(&self, token: &str) -> ApiResult<Caller> {
        let header = decode_header(token).map_err(|_| unauthenticated("malformed JWT"))?;
        let Some(key) = self.keys.iter().find(|k| k.algorithm == header.alg) else {
            return Err(unauthenticated("this JWT algorithm is not accepted"));
        };
        let data = decode::<Claims>(token, &key.key, &key.validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind::*;
            let why = match err.kind() {
                ExpiredSignature => "the JWT has expired",
                ImmatureSignature => "the JWT is not valid yet (nbf)",
                InvalidIssuer => "the JWT has the wrong issuer",
                InvalidAudience => "the JWT has the wrong audience",
                MissingRequiredClaim(_) => "the JWT lacks exp or sub",
                InvalidSignature => "the JWT signature does not verify",
                _ => "invalid JWT",
            };
            unauthenticated(why)
        })?;
        let claims = data.claims;
        let now = jsonwebtoken::get_current_timestamp();
        let issued_at = match &claims.iat {
            None => None,
            Some(iat) => match iat.as_f64() {
                Some(iat) if iat <= (now + JWT_LEEWAY_SECONDS) as f64 => Some(iat),
                Some(_) => return Err(unauthenticated("the JWT was issued in the future (iat)")),
                None => return Err(unauthenticated("the JWT iat claim is not a number")),
            },
        };
        if let Some(max) = self.max_lifetime_seconds {
            let expires = claims.exp.as_ref().and_then(|exp| exp.as_f64());
            let from = issued_at.unwrap_or(now as f64);
            if expires.is_none_or(|exp| exp - from > (max + JWT_LEEWAY_SECONDS) as f64) {
                return Err(unauthenticated(&format!(
                    "the JWT lives longer than {max} s (exp - iat)"
                )));
            }
        }
        if claims.sub.is_empty() || claims.sub.chars().count() > MAX_USER_ID_CHARS {
            return Err(unauthenticated(
                "the JWT sub claim must be 1..255 characters",
            ));
        }
        // Scopes this service does not know (e.g. `openid`) are ignored.
        let mut scopes: Vec<Scope> = Vec::new();
        for name in claims
            .scope
            .as_deref()
            .unwrap_or("")
            .split_ascii_whitespace()
        {
            if let Some(scope) = Scope::parse(name)
                && !scopes.contains(&scope)
            {
                scopes.push(scope);
            }
        }
        let end_user = self
            .end_user_rule
            .applies(&scopes, &claims.other)
            .then(|| claims.sub.clone());
        if end_user.is_some() {
            // Whatever else the token lists, an end user only redeems for itself.
            scopes.retain(|scope| *scope == Scope::CouponsRedeem);
        }
        Ok(Caller {
            id: format!("jwt:{}", claims.sub),
            actor: Actor::jwt(&claims.sub),
            scopes,
            end_user,
            books: BookAccess::All,
            expires_at: None,
        })
    }
}

fn unauthenticated(message: &str) -> crate::http::error::ApiError {
    Error::new(ErrorCode::Unauthenticated, message).into()
}

/// A token shaped like a JWT (three base64url parts): API keys never are.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = 0;
    for part in token.split('.') {
        parts += 1;
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        {
            return false;
        }
    }
    parts == 3
}

/// What authentication without the store found.
pub enum Lookup {
    Done(ApiResult<Caller>),
    /// An API key the cache does not know: its hash, to look up in the store.
    NeedsStore(String),
}

/// How often the noted uses of keys are written to the store.
pub const KEY_USE_FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// Uses of API keys, noted in memory on the request path and written in the
/// background (`flush_key_uses`): a request never waits on a store write for them.
#[derive(Default)]
struct KeyUses {
    /// Uses not written yet, by key id.
    pending: HashMap<String, Timestamp>,
    /// The last use written (or found stored) per key id: a use within a minute of it
    /// is not news.
    written: HashMap<String, Timestamp>,
}

pub struct Authenticator {
    store: DynStore,
    jwt: Option<JwtVerifier>,
    cache: Mutex<HashMap<String, (Caller, Instant)>>,
    uses: Mutex<KeyUses>,
}

impl Authenticator {
    pub fn new(store: DynStore) -> Self {
        Self::with_jwt(store, None)
    }

    pub fn with_jwt(store: DynStore, jwt: Option<JwtVerifier>) -> Self {
        Authenticator {
            store,
            jwt,
            cache: Mutex::new(HashMap::new()),
            uses: Mutex::new(KeyUses::default()),
        }
    }

    pub async fn authenticate(&self, token: &str) -> ApiResult<Caller> {
        match self.authenticate_offline(token) {
            Lookup::Done(outcome) => outcome,
            Lookup::NeedsStore(key_hash) => self.look_up(key_hash).await,
        }
    }

    /// Authenticates what needs no store read: a JWT, or a key in the cache.
    pub fn authenticate_offline(&self, token: &str) -> Lookup {
        if let Some(jwt) = &self.jwt
            && looks_like_jwt(token)
        {
            return Lookup::Done(jwt.verify(token));
        }
        // Keys are found by their SHA-256: the secret itself is never compared, so the
        // lookup's timing says nothing about how much of a guess was right.
        let key_hash = hash_key(token);
        match self.cached(&key_hash) {
            Some(caller) => {
                // A cached key expires on time: the cache keeps its expiry too.
                if caller.expires_at.is_some_and(|at| at <= Timestamp::now()) {
                    return Lookup::Done(Err(Error::new(
                        ErrorCode::Unauthenticated,
                        "this API key has expired",
                    )
                    .into()));
                }
                self.note_use(&caller.id, None);
                Lookup::Done(Ok(caller))
            }
            None => Lookup::NeedsStore(key_hash),
        }
    }

    /// Looks a key up in the store by its hash, and caches what it finds.
    pub async fn look_up(&self, key_hash: String) -> ApiResult<Caller> {
        let Some(api_key) = self.store.find_api_key(&key_hash).await? else {
            return Err(Error::new(ErrorCode::Unauthenticated, "unknown or revoked token").into());
        };
        if let Some(why) = api_key.refusal(Timestamp::now()) {
            return Err(Error::new(ErrorCode::Unauthenticated, why).into());
        }
        self.note_use(&api_key.id, api_key.last_used_at);
        let caller = Caller {
            actor: Actor::api_key(&api_key.id),
            books: api_key.book_access(),
            expires_at: api_key.expires_at,
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

    /// Notes a use of key `id` now, unless one within the last minute was written
    /// already (`stored`: the use time the store holds, when just read).
    fn note_use(&self, id: &str, stored: Option<Timestamp>) {
        let now = Timestamp::now();
        let Ok(mut uses) = self.uses.lock() else {
            return;
        };
        if uses.written.len() >= KEY_CACHE_MAX {
            uses.written.clear();
        }
        let written = uses.written.get(id).copied();
        let known = written.max(stored);
        if known.is_some_and(|at| now.0 - at.0 < LAST_USED_RESOLUTION_MS) {
            // Only a newer use found in the store is worth remembering: the common
            // case (a cached key used again) allocates nothing.
            if known != written
                && let Some(at) = known
            {
                uses.written.insert(id.to_string(), at);
            }
            return;
        }
        uses.written.insert(id.to_string(), now);
        uses.pending.insert(id.to_string(), now);
    }

    /// Writes the uses noted since the last call; returns how many keys it wrote.
    /// Runs in the background, every `KEY_USE_FLUSH_INTERVAL`.
    pub async fn flush_key_uses(&self) -> crate::domain::Result<usize> {
        let pending: Vec<(String, Timestamp)> = match self.uses.lock() {
            Ok(mut uses) => uses.pending.drain().collect(),
            Err(_) => return Ok(0),
        };
        let count = pending.len();
        self.store.record_key_uses(pending).await?;
        Ok(count)
    }

    /// Forgets every cached key, e.g. after one was deleted.
    pub fn forget_keys(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }
}
