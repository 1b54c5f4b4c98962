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
