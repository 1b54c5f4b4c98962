//! Who is calling: the types authentication produces and the extractors and the rate
//! limiter read. They depend on none of those modules, so `auth`, `extract` and
//! `ratelimit` all point here and never at each other in a circle.

use axum::http::{HeaderMap, header};

use super::error::{ApiError, ApiResult};
use crate::domain::Timestamp;
use crate::domain::apikey::{BookAccess, Scope};
use crate::domain::event::Actor;
use crate::domain::{Error, ErrorCode};
use crate::store::{Idempotency, Write};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// API key id, or `jwt:<sub>` for tokens.
    pub id: String,
    /// Who the changes this caller makes are recorded as.
    pub actor: Actor,
    pub scopes: Vec<Scope>,
    /// Set for end-user tokens: the only user this caller may act for.
    pub end_user: Option<String>,
    /// The books this caller may see and change (API keys may be limited; JWTs never are).
    pub books: BookAccess,
    /// When the caller's API key expires: checked on every request, cached or not.
    pub expires_at: Option<Timestamp>,
}

impl Caller {
    /// A write by this caller, with the request's idempotency key.
    pub fn write(&self, idem: Option<Idempotency>) -> Write {
        Write {
            actor: self.actor.clone(),
            idem,
        }
    }

    pub fn has_any(&self, scopes: &[Scope]) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == Scope::Admin || scopes.contains(s))
    }

    /// End users may act only for themselves.
    pub fn may_act_for(&self, user_id: &str) -> ApiResult<()> {
        match &self.end_user {
            Some(sub) if sub != user_id => {
                Err(forbidden("this token may act only for its own user"))
            }
            _ => Ok(()),
        }
    }

    /// A book outside this caller's books answers as if it did not exist.
    pub fn see_book(&self, book_id: &str) -> ApiResult<()> {
        if self.books.allows(book_id) {
            Ok(())
        } else {
            Err(ApiError(Error::book_not_found(book_id)))
        }
    }

    /// Keys limited to books may not reach beyond them: no new books, no keys, no
    /// webhooks (which would see every book's events).
    pub fn require_every_book(&self) -> ApiResult<()> {
        if self.books.is_limited() {
            Err(forbidden("a key limited to books cannot use this route"))
        } else {
            Ok(())
        }
    }

    /// End-user tokens may not use routes that are not about their own user.
    pub fn require_service(&self) -> ApiResult<()> {
        match self.end_user {
            Some(_) => Err(forbidden("an end-user token cannot use this route")),
            None => Ok(()),
        }
    }
}

pub fn forbidden(message: &str) -> ApiError {
    ApiError(Error::new(ErrorCode::Forbidden, message))
}

/// What the guard's authentication of the request's token found (the caller, or why
/// the token was refused); the `Auth` extractor reuses it, so a token is looked up
/// once per request.
#[derive(Clone)]
pub struct PreAuthenticated(pub Result<Caller, Error>);

/// The bearer token of the `Authorization` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
