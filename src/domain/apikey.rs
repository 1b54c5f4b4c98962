//! API keys and scopes. Keys are random tokens shown once; only their SHA-256 is kept
//! (a fast hash is enough for 256-bit random secrets).

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
}

/// Returned once, at creation: the only time the key itself is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    pub key: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl CreateApiKey {
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err(Error::invalid("name", "name must be 1..200 characters"));
        }
        if self.scopes.is_empty() {
            return Err(Error::invalid("scopes", "give at least one scope"));
        }
        Ok(())
    }
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
    Ok(ApiKey {
        id: BOOTSTRAP_KEY_ID.into(),
        name: "bootstrap admin (COUPON_BOOK_BOOTSTRAP_ADMIN_KEY)".into(),
        scopes: vec![Scope::Admin],
        created_at: now,
    })
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
