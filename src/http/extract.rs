//! Request extractors: who is calling (and may they), JSON bodies with field-level
//! errors and the idempotency key, query parameters and path ids.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::AppState;
use super::caller::{Caller, PreAuthenticated, bearer_token, forbidden};
use super::error::{ApiError, ApiResult};
use crate::domain::apikey::Scope;
use crate::domain::coupon::normalize_code;
use crate::domain::event::Actor;
use crate::domain::{Error, ErrorCode, PageRequest};
use crate::store::{Idempotency, Write};

/// JSON bodies larger than this are refused (uploads are streamed separately).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The scopes a route accepts (any one of them; `admin` always passes).
pub trait Requirement: Send + Sync + 'static {
    const SCOPES: &'static [Scope];
    /// Whether the route reaches beyond books (keys, webhooks): a key limited to
    /// books is refused (403) there.
    const EVERY_BOOK: bool = false;
}

macro_rules! requirement {
    ($($name:ident => [$($scope:ident),+];)+) => {
        $(
            pub struct $name;
            impl Requirement for $name {
                const SCOPES: &'static [Scope] = &[$(Scope::$scope),+];
            }
        )+
    };
}

requirement! {
    BooksRead => [BooksRead, BooksWrite];
    BooksWrite => [BooksWrite];
    Assign => [CouponsAssign];
    BulkAssign => [BooksWrite, CouponsAssign];
    Redeem => [CouponsRedeem];
    CouponRead => [BooksRead, CouponsAssign, CouponsRedeem];
    EventsRead => [EventsRead];
}

/// API keys and webhooks: admin, and never a key limited to books (such a key could
/// otherwise mint itself an unlimited one, or watch every book's events).
pub struct AdminOnly;
impl Requirement for AdminOnly {
    const SCOPES: &'static [Scope] = &[Scope::Admin];
    const EVERY_BOOK: bool = true;
}

/// Extracts an authenticated caller holding one of `R`'s scopes: 401 without a valid
/// token, 403 without the scope, before the body is even read.
pub struct Auth<R: Requirement> {
    pub caller: Caller,
    requirement: PhantomData<R>,
}

impl<R: Requirement> FromRequestParts<AppState> for Auth<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or_else(|| {
            ApiError(Error::new(
                ErrorCode::Unauthenticated,
                "send Authorization: Bearer <API key or JWT>",
            ))
        })?;
        // The rate limiter may have authenticated this request already.
        let caller = match parts.extensions.get::<PreAuthenticated>() {
            Some(PreAuthenticated(outcome)) => outcome.clone().map_err(ApiError)?,
            None => state.auth.authenticate(token).await?,
        };
        if !caller.has_any(R::SCOPES) {
            let names: Vec<&str> = R::SCOPES.iter().map(|s| s.as_str()).collect();
            return Err(forbidden(&format!(
                "this route needs one of the scopes {names:?}"
            )));
        }
        if R::EVERY_BOOK {
            caller.require_every_book()?;
        }
        parts.extensions.insert(caller.clone());
        Ok(Auth {
            caller,
            requirement: PhantomData,
        })
    }
}

/// A JSON body parsed into `T`, with the request's idempotency key (if any) and the
/// caller's actor.
pub struct JsonBody<T> {
    pub value: T,
    pub idem: Option<Idempotency>,
    pub actor: Actor,
}

impl<T> JsonBody<T> {
    /// The store write this request makes: by its caller, with its idempotency key.
    pub fn write(&self) -> Write {
        Write {
            actor: self.actor.clone(),
            idem: self.idem.clone(),
        }
    }
}

/// For POST routes that take no fields.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoFields {}

impl<T: DeserializeOwned + 'static> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ApiError> {
        let key = idempotency_key(req.headers())?;
        let caller = req.extensions().get::<Caller>().cloned();
        let route = format!("{} {}", req.method(), req.uri().path());
        let bytes = axum::body::to_bytes(req.into_body(), JSON_BODY_LIMIT)
            .await
            .map_err(|_| {
                ApiError(Error::new(
                    ErrorCode::PayloadTooLarge,
                    "the JSON body is larger than 1 MiB",
                ))
            })?;
        // Routes that take no fields accept an empty body.
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace)
            && std::any::TypeId::of::<T>() == std::any::TypeId::of::<NoFields>()
        {
            b"{}"
        } else {
            &bytes
        };
        let value = parse_json(text)?;
        let idem = key.map(|key| Idempotency {
            caller: caller.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
            key,
            fingerprint: fingerprint(&route, &bytes),
        });
        // Bodies are read after authentication; without a caller the route is open
        // and changes nothing that keeps an actor.
        let actor = caller.map_or_else(Actor::unrecorded, |c| c.actor);
        Ok(JsonBody { value, idem, actor })
    }
}

pub fn fingerprint(route: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&t.len()) && !t.trim().is_empty());
    match text {
        Some(text) => Ok(Some(text.to_string())),
        None => Err(ApiError(Error::invalid(
            "Idempotency-Key",
            "Idempotency-Key must be 1..255 visible ASCII characters",
        ))),
    }
}

/// Parses a JSON object body, naming the field at fault when the shape is wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    // Most bodies are well formed objects: read them straight into `T`, with no JSON
    // tree and no path tracking. Anything else takes the slower reading below, which
    // words every error (and settles repeated keys, last one wins) as it always has.
    // The text is checked as UTF-8 once, in one pass, not string by string.
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.trim_start().starts_with('{')
    {
        let mut reader = serde_json::Deserializer::from_str(text);
        if let Ok(value) = T::deserialize(&mut reader).and_then(|v| reader.end().map(|()| v)) {
            return Ok(value);
        }
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError(Error::new(
            ErrorCode::InvalidRequest,
            format!("malformed JSON: {err}"),
        ))
    })?;
    if !value.is_object() {
        return Err(ApiError(Error::new(
            ErrorCode::InvalidRequest,
            "the body must be a JSON object",
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let message = err.inner().to_string();
        let path = err.path().to_string();
        let field = match missing_field(&message) {
            Some(name) if path == "." => name.to_string(),
            Some(name) => format!("{path}.{name}"),
            None if path == "." => String::new(),
            None => path,
        };
        let mut error = Error::new(ErrorCode::InvalidRequest, strip_position(&message));
        if !field.is_empty() {
            error.field = Some(field);
        }
        ApiError(error)
    })
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde_json appends " at line 1 column 9"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Query parameters; `get` reads the last value of a repeated name, `all` every one.
pub struct Params {
    last: HashMap<String, String>,
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError(Error::invalid("query", "malformed query string")))?;
        Ok(Params {
            last: pairs.iter().cloned().collect(),
            pairs,
        })
    }
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.last.get(name).map(String::as_str)
    }

    /// Every value of a repeatable parameter, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn page(&self) -> ApiResult<PageRequest> {
        Ok(PageRequest::parse(self.get("limit"), self.get("cursor"))?)
    }

    /// An optional filter that must not be empty when given.
    pub fn filter(&self, name: &str) -> ApiResult<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some("") => Err(ApiError(Error::invalid(
                name,
                format!("{name} must not be empty"),
            ))),
            Some(value) => Ok(Some(value.to_string())),
        }
    }
}

/// The single id in a route's path.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // An id that is not even UTF-8 names nothing: the route's own not-found answer
        // (book_not_found, coupon_not_found, ...) follows from the replacement text.
        let id = Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| id)
            .unwrap_or_else(|_| "\u{FFFD}".to_string());
        Ok(Id(id))
    }
}

/// A coupon code from the path, upper-cased. A code that can never exist is simply
/// not found; handlers ask for it after the body is checked, so a bad body still
/// answers `invalid_request` first.
pub struct CodeParam {
    raw: String,
    code: Option<String>,
}

impl CodeParam {
    pub fn code(&self) -> ApiResult<&str> {
        self.code.as_deref().ok_or_else(|| {
            ApiError(Error::coupon_not_found(
                &self.raw.chars().take(80).collect::<String>(),
            ))
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CodeParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Id(raw) = Id::from_request_parts(parts, state).await?;
        let code = normalize_code(&raw);
        Ok(CodeParam { raw, code })
    }
}
