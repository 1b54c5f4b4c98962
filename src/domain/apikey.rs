//! API keys and scopes. Keys are random tokens shown once; only their SHA-256 is kept
//! (a fast hash is enough for 256-bit random secrets).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::error::{Error, Result};
use super::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "books:read")]
    BooksRead,
    #[serde(rename = "books:write")]
    BooksWrite,
    #[serde(rename = "coupons:assign")]
    CouponsAssign,
    #[serde(rename = "coupons:redeem")]
    CouponsRedeem,
    #[serde(rename = "events:read")]
    EventsRead,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Admin,
        Scope::BooksRead,
        Scope::BooksWrite,
        Scope::CouponsAssign,
        Scope::CouponsRedeem,
        Scope::EventsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::BooksRead => "books:read",
            Scope::BooksWrite => "books:write",
            Scope::CouponsAssign => "coupons:assign",
            Scope::CouponsRedeem => "coupons:redeem",
            Scope::EventsRead => "events:read",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    /// The only books the key sees and changes; null: every book.
    #[serde(default)]
    #[schema(required = true)]
    pub book_ids: Option<Vec<String>>,
    /// After this time the key is refused (401); null: never.
    #[serde(default)]
    #[schema(required = true)]
    pub expires_at: Option<Timestamp>,
    /// When the key was last used, to the minute (written at most once a minute).
    #[serde(default)]
    #[schema(required = true)]
    pub last_used_at: Option<Timestamp>,
    /// A disabled key is refused (401) until it is enabled again.
    #[serde(default)]
    #[schema(required = true)]
    pub disabled: bool,
}

impl ApiKey {
    /// A key with every book, no expiry, never used and enabled.
    pub fn new(id: String, name: String, scopes: Vec<Scope>, created_at: Timestamp) -> Self {
        ApiKey {
            id,
            name,
            scopes,
            created_at,
            book_ids: None,
            expires_at: None,
            last_used_at: None,
            disabled: false,
        }
    }

    /// Why the key may not be used at `now`, if it may not.
    pub fn refusal(&self, now: Timestamp) -> Option<&'static str> {
        if self.disabled {
            Some("this API key is disabled")
        } else if self.expires_at.is_some_and(|at| at <= now) {
            Some("this API key has expired")
        } else {
            None
        }
    }

    pub fn book_access(&self) -> BookAccess {
        BookAccess::from_ids(self.book_ids.as_deref())
    }
}

/// The books a caller may see and change. Anything outside them answers exactly as
/// if it did not exist (404), and lists leave it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BookAccess {
    #[default]
    All,
    Only(Arc<BTreeSet<String>>),
}

impl BookAccess {
    pub fn from_ids(ids: Option<&[String]>) -> Self {
        match ids {
            None => BookAccess::All,
            Some(ids) => BookAccess::Only(Arc::new(ids.iter().cloned().collect())),
        }
    }

    pub fn allows(&self, book_id: &str) -> bool {
        match self {
            BookAccess::All => true,
            BookAccess::Only(books) => books.contains(book_id),
        }
    }

    pub fn is_limited(&self) -> bool {
        matches!(self, BookAccess::Only(_))
    }

    /// The one book a limited caller may see, when it has exactly one: a list may
    /// then read that book's index instead of filtering a wider one.
    pub fn single_book(&self) -> Option<&str> {
        match self {
            BookAccess::Only(books) if books.len() == 1 => books.iter().next().map(String::as_str),
            _ => None,
        }
    }

    /// The filter a list applies for this caller, given the book filter it asked for:
    /// `Err(())` when the asked book is outside the caller's books (nothing to list),
    /// else the book to read by index (the asked one, or the caller's only book).
    #[allow(clippy::result_unit_err)]
    pub fn narrow(&self, asked: Option<String>) -> Result<Option<String>, ()> {
        match asked {
            Some(book) if !self.allows(&book) => Err(()),
            Some(book) => Ok(Some(book)),
            None => Ok(self.single_book().map(str::to_string)),
        }
    }

    /// Keeps what the caller may see of a page; `book_of` names an item's book.
    pub fn retain<T>(&self, items: &mut Vec<T>, book_of: impl Fn(&T) -> Option<&str>) {
        if self.is_limited() {
            items.retain(|item| book_of(item).is_some_and(|book| self.allows(book)));
        }
    }
}

/// Returned once, at creation: the only time the key itself is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    pub key: String,
}

/// At most this many books per key.
pub const MAX_KEY_BOOKS: usize = 100;

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Limit the key to these books (1..100 existing book ids); absent or null: every book.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 100)]
    pub book_ids: Option<Vec<String>>,
    /// When the key stops working (RFC 3339, in the future); absent or null: never.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid("name", "name must be 1..200 characters"));
    }
    Ok(())
}

impl CreateApiKey {
    /// Checks the fields that need no store; the book ids' existence is checked by
    /// the caller (`book_ids` holds them without repeats afterwards).
    pub fn validate(&mut self, now: Timestamp) -> Result<()> {
        check_name(&self.name)?;
        if self.scopes.is_empty() {
            return Err(Error::invalid("scopes", "give at least one scope"));
        }
        if let Some(ids) = &mut self.book_ids {
            if ids.is_empty() {
                return Err(Error::invalid(
                    "book_ids",
                    "book_ids must name at least one book (leave it out for every book)",
                ));
            }
            let mut seen = BTreeSet::new();
            ids.retain(|id| seen.insert(id.clone()));
            if ids.len() > MAX_KEY_BOOKS {
                return Err(Error::invalid(
                    "book_ids",
                    format!("a key may be limited to at most {MAX_KEY_BOOKS} books"),
                ));
            }
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::invalid(
                "expires_at",
                "expires_at must be in the future",
            ));
        }
        Ok(())
    }
}

/// `PATCH /v1/api-keys/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UpdateApiKey {
    /// A new name, 1..200 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// `true` refuses the key (401) until it is set back to `false`.
    #[serde(default)]
    pub disabled: Option<bool>,
}

impl UpdateApiKey {
    pub fn validate(&self) -> Result<()> {
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        Ok(())
    }

    pub fn apply(&self, key: &mut ApiKey) {
        if let Some(name) = &self.name {
            key.name = name.clone();
        }
        if let Some(disabled) = self.disabled {
            key.disabled = disabled;
        }
    }
}

/// A key's use is written at most this often (per key, across processes).
pub const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Whether a use at `now` is worth writing over the stored `last_used_at`.
pub fn use_is_news(stored: Option<Timestamp>, now: Timestamp) -> bool {
    stored.is_none_or(|at| now.0 - at.0 >= LAST_USED_RESOLUTION_MS)
}

pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn new_key() -> String {
    super::ids::random_token("cbk_", 32)
}

/// How a JWT is known to be an end user's. End users keep only the `coupons:redeem`
/// scope and act only for their own `sub`, whatever else their token lists.
#[derive(Debug, Clone, PartialEq)]
pub enum EndUserRule {
    /// A token holding any of these scopes is an end user's.
    Scopes(Vec<Scope>),
    /// A token is an end user's when this claim has this value (`true` when no value
    /// is given), whatever its scopes.
    Claim { name: String, value: Option<String> },
}

impl Default for EndUserRule {
    fn default() -> Self {
        EndUserRule::Scopes(vec![Scope::CouponsRedeem])
    }
}

impl EndUserRule {
    /// `claim:<name>[=<value>]`, or scope names separated by commas or spaces.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(claim) = text.strip_prefix("claim:") {
            let (name, value) = match claim.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (claim, None),
            };
            if name.is_empty() {
                return Err("name the claim: claim:<name>[=<value>]".into());
            }
            return Ok(EndUserRule::Claim {
                name: name.to_string(),
                value,
            });
        }
        let mut scopes = Vec::new();
        for name in text.split([',', ' ']).filter(|n| !n.is_empty()) {
            scopes.push(Scope::parse(name).ok_or_else(|| format!("unknown scope {name:?}"))?);
        }
        Ok(EndUserRule::Scopes(scopes))
    }

    pub fn applies(
        &self,
        scopes: &[Scope],
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        match self {
            EndUserRule::Scopes(end_user) => scopes.iter().any(|s| end_user.contains(s)),
            EndUserRule::Claim { name, value } => match (claims.get(name), value) {
                (Some(serde_json::Value::Bool(true)), None) => true,
                (Some(serde_json::Value::String(found)), Some(wanted)) => found == wanted,
                (Some(found), Some(wanted)) => {
                    serde_json::from_str::<serde_json::Value>(wanted).is_ok_and(|w| w == *found)
                }
                _ => false,
            },
        }
    }
}

/// The id of the key `COUPON_BOOK_BOOTSTRAP_ADMIN_KEY` stands for: one fixed id, so
/// that a start with another value (or none) finds and revokes the earlier one.
pub const BOOTSTRAP_KEY_ID: &str = "key_bootstrap";
/// The name earlier versions gave the bootstrap key (under a random id).
const LEGACY_BOOTSTRAP_NAME: &str = "bootstrap admin";
/// A bootstrap key shorter than this is refused at start-up: it is an admin key.
pub const MIN_BOOTSTRAP_KEY_CHARS: usize = 16;

/// Whether a stored key is the bootstrap key (this version's or an earlier one's).
pub fn is_bootstrap(key: &ApiKey) -> bool {
    key.id == BOOTSTRAP_KEY_ID
        || (key.name == LEGACY_BOOTSTRAP_NAME && key.scopes == [Scope::Admin])
}

/// The stored form of the bootstrap key, checked for length.
pub fn bootstrap_key(secret: &str, now: Timestamp) -> Result<ApiKey> {
    if secret.chars().count() < MIN_BOOTSTRAP_KEY_CHARS {
        return Err(Error::invalid(
            "COUPON_BOOK_BOOTSTRAP_ADMIN_KEY",
            format!(
                "COUPON_BOOK_BOOTSTRAP_ADMIN_KEY must be at least {MIN_BOOTSTRAP_KEY_CHARS} characters"
            ),
        ));
    }
    Ok(ApiKey::new(
        BOOTSTRAP_KEY_ID.into(),
        "bootstrap admin (COUPON_BOOK_BOOTSTRAP_ADMIN_KEY)".into(),
        vec![Scope::Admin],
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_bootstrap_key_is_refused() {
        assert!(bootstrap_key("change-me", Timestamp(0)).is_err());
        let key = bootstrap_key("0123456789abcdef", Timestamp(0)).expect("16 characters");
        assert!(is_bootstrap(&key));
        assert_eq!(key.scopes, vec![Scope::Admin]);
    }

    #[test]
    fn book_access_allows_only_its_books_and_narrows_lists() {
        let all = BookAccess::All;
        assert!(all.allows("book_x"));
        assert_eq!(all.narrow(None), Ok(None));
        assert_eq!(all.narrow(Some("book_x".into())), Ok(Some("book_x".into())));
        let one = BookAccess::from_ids(Some(&["book_a".to_string()]));
        assert!(one.allows("book_a") && !one.allows("book_b"));
        assert_eq!(one.narrow(None), Ok(Some("book_a".into())));
        assert_eq!(one.narrow(Some("book_b".into())), Err(()));
        let two = BookAccess::from_ids(Some(&["book_a".to_string(), "book_c".to_string()]));
        assert_eq!(
            two.narrow(None),
            Ok(None),
            "two books: the page is filtered"
        );
        let mut items = vec!["book_a", "book_b", "book_c"];
        two.retain(&mut items, |b| Some(*b));
        assert_eq!(items, ["book_a", "book_c"]);
        let mut items = vec!["book_b"];
        all.retain(&mut items, |_| None);
        assert_eq!(items, ["book_b"], "every book: nothing is left out");
    }

    #[test]
    fn a_new_key_is_checked_field_by_field() {
        let now = Timestamp(1_000_000);
        let request = |value: serde_json::Value| -> CreateApiKey {
            serde_json::from_value(value).expect("body")
        };
        let field = |mut body: CreateApiKey| body.validate(now).err().and_then(|e| e.field);
        assert_eq!(
            field(request(
                serde_json::json!({"name": "a", "scopes": ["admin"], "book_ids": []})
            )),
            Some("book_ids".into())
        );
        assert_eq!(
            field(request(
                serde_json::json!({"name": "a", "scopes": ["admin"], "expires_at": "1970-01-01T00:16:40Z"})
            )),
            Some("expires_at".into()),
            "now is not in the future"
        );
        let mut fine = request(serde_json::json!({
            "name": "a", "scopes": ["admin"], "book_ids": ["b1", "b2", "b1"],
            "expires_at": "1970-01-01T00:16:41Z", "ignored": 1
        }));
        fine.validate(now).expect("valid");
        assert_eq!(fine.book_ids, Some(vec!["b1".into(), "b2".into()]));
        let null = request(serde_json::json!({"name": "a", "scopes": ["admin"], "book_ids": null}));
        assert_eq!(null.book_ids, None);
        let mut key = ApiKey::new("k".into(), "a".into(), vec![Scope::Admin], now);
        key.expires_at = Some(Timestamp(now.0 + 1));
        assert_eq!(key.refusal(now), None);
        assert!(key.refusal(Timestamp(now.0 + 1)).is_some());
        key.expires_at = None;
        key.disabled = true;
        assert!(key.refusal(now).is_some());
    }

    #[test]
    fn the_end_user_rule_is_a_scope_set_or_a_claim() {
        let claims = |value: serde_json::Value| value.as_object().cloned().unwrap_or_default();
        let default = EndUserRule::default();
        let more = [Scope::CouponsRedeem, Scope::BooksRead];
        assert!(default.applies(&more, &claims(serde_json::json!({}))));
        assert!(!default.applies(&[Scope::BooksRead], &claims(serde_json::json!({}))));
        let rule = EndUserRule::parse("claim:role=shopper").expect("rule");
        assert!(rule.applies(&[], &claims(serde_json::json!({"role": "shopper"}))));
        assert!(!rule.applies(&more, &claims(serde_json::json!({"role": "staff"}))));
        let flag = EndUserRule::parse("claim:end_user").expect("rule");
        assert!(flag.applies(&[], &claims(serde_json::json!({"end_user": true}))));
        assert!(!flag.applies(&[], &claims(serde_json::json!({"end_user": "yes"}))));
        assert_eq!(
            EndUserRule::parse("coupons:redeem, books:read").expect("rule"),
            EndUserRule::Scopes(vec![Scope::CouponsRedeem, Scope::BooksRead])
        );
        assert!(EndUserRule::parse("coupons:steal").is_err());
        assert!(EndUserRule::parse("claim:").is_err());
    }
}
