//! Coupon books: their settings, status moves and validation.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::{Error, ErrorCode, Result};
use super::reward::{Reward, reward_field};
use super::time::Timestamp;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_LOCK_TTL_SECONDS: u32 = 86_400;
pub const DEFAULT_LOCK_TTL_SECONDS: u32 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookStatus {
    Draft,
    Active,
    Paused,
    Archived,
}

impl BookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookStatus::Draft => "draft",
            BookStatus::Active => "active",
            BookStatus::Paused => "paused",
            BookStatus::Archived => "archived",
        }
    }

    /// draft -> active <-> paused, and any status -> archived (final).
    pub fn can_move_to(self, next: BookStatus) -> bool {
        use BookStatus::*;
        self == next && self != Archived
            || matches!(
                (self, next),
                (Draft, Active)
                    | (Active, Paused)
                    | (Paused, Active)
                    | (Draft | Active | Paused, Archived)
            )
    }

    pub fn accepts_codes(self) -> bool {
        self != BookStatus::Archived
    }
}

/// A book can be deleted only while nothing in it was ever assigned or redeemed.
pub fn check_deletable(in_use: bool) -> Result<()> {
    if in_use {
        return Err(Error::new(
            ErrorCode::BookInUse,
            "codes of this book were assigned or redeemed; archive it instead",
        ));
    }
    Ok(())
}

/// Everything about a book that its owner sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BookSettings {
    pub name: String,
    pub description: Option<String>,
    pub status: BookStatus,
    /// Redemptions each code allows; null = unlimited.
    pub max_redemptions_per_coupon: Option<u32>,
    /// Codes one user may be assigned in this book; null = unlimited.
    pub max_coupons_per_user: Option<u32>,
    /// Redemptions one user may make in this book; null = unlimited.
    pub max_redemptions_per_user: Option<u32>,
    /// Redemptions across all codes of the book; null = unlimited.
    pub max_total_redemptions: Option<u64>,
    /// When true, only the assigned user may lock or redeem a code.
    pub requires_assignment: bool,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub lock_ttl_seconds: u32,
    /// Default pattern for code generation.
    #[schema(value_type = Option<Object>)]
    pub code_pattern: Option<Value>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// What each code is worth unless it carries its own (null: no computed value).
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::reward::RewardSchema>)]
    pub reward: Option<Reward>,
    /// Whether its codes may share an order with other codes (`POST /v1/validations`).
    #[serde(default)]
    pub combinable: bool,
}

/// Code counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    pub total: u64,
    pub available: u64,
    pub assigned: u64,
    pub locked: u64,
    pub redeemed: u64,
    pub voided: u64,
}

impl Counts {
    /// How many codes are in `status`.
    pub fn of(&self, status: super::coupon::CouponStatus) -> u64 {
        use super::coupon::CouponStatus;
        match status {
            CouponStatus::Available => self.available,
            CouponStatus::Assigned => self.assigned,
            CouponStatus::Locked => self.locked,
            CouponStatus::Redeemed => self.redeemed,
            CouponStatus::Voided => self.voided,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Book {
    pub id: String,
    #[serde(flatten)]
    pub settings: BookSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub counts: Counts,
}

impl BookSettings {
    /// Codes can be added while a book is draft, active or paused.
    pub fn check_accepts_codes(&self) -> Result<()> {
        if !self.status.accepts_codes() {
            return Err(Error::new(
                ErrorCode::BookNotActive,
                "codes cannot be added to an archived book",
            ));
        }
        Ok(())
    }

    /// Whether assign, lock and redeem are allowed at `now`.
    pub fn check_usable(&self, now: Timestamp) -> Result<()> {
        self.check_active()?;
        self.check_window(now)
    }

    pub fn check_active(&self) -> Result<()> {
        if self.status != BookStatus::Active {
            return Err(Error::new(
                ErrorCode::BookNotActive,
                format!("the book is {}, not active", self.status.as_str()),
            ));
        }
        Ok(())
    }

    pub fn check_window(&self, now: Timestamp) -> Result<()> {
        let too_early = self.valid_from.is_some_and(|from| now < from);
        let too_late = self.valid_until.is_some_and(|until| now >= until);
        if too_early || too_late {
            return Err(Error::new(
                ErrorCode::BookNotValidNow,
                "the book is outside its validity window",
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let name_chars = self.name.chars().count();
        if self.name.trim().is_empty() || name_chars > MAX_NAME_CHARS {
            return Err(Error::invalid("name", "name must be 1..200 characters"));
        }
        if let Some(description) = &self.description
            && description.chars().count() > MAX_DESCRIPTION_CHARS
        {
            return Err(Error::invalid(
                "description",
                "description must be at most 2000 characters",
            ));
        }
        check_positive(
            "max_redemptions_per_coupon",
            self.max_redemptions_per_coupon.map(u64::from),
        )?;
        check_positive(
            "max_coupons_per_user",
            self.max_coupons_per_user.map(u64::from),
        )?;
        check_positive(
            "max_redemptions_per_user",
            self.max_redemptions_per_user.map(u64::from),
        )?;
        check_positive("max_total_redemptions", self.max_total_redemptions)?;
        if self
            .max_total_redemptions
            .is_some_and(|n| n > i64::MAX as u64)
        {
            return Err(Error::invalid("max_total_redemptions", "too large"));
        }
        if !(1..=MAX_LOCK_TTL_SECONDS).contains(&self.lock_ttl_seconds) {
            return Err(Error::invalid(
                "lock_ttl_seconds",
                "lock_ttl_seconds must be 1..86400",
            ));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until <= from
        {
            return Err(Error::invalid(
                "valid_until",
                "valid_until must be after valid_from",
            ));
        }
        if let Some(pattern) = &self.code_pattern
            && !pattern.is_object()
        {
            return Err(Error::invalid(
                "code_pattern",
                "code_pattern must be an object",
            ));
        }
        let metadata_bytes = serde_json::to_vec(&self.metadata)
            .map(|v| v.len())
            .unwrap_or(0);
        if metadata_bytes > MAX_METADATA_BYTES {
            return Err(Error::invalid(
                "metadata",
                "metadata must be at most 16 KiB of JSON",
            ));
        }
        Ok(())
    }
}

fn check_positive(field: &str, value: Option<u64>) -> Result<()> {
    match value {
        Some(0) => Err(Error::invalid(
            field,
            format!("{field} must be at least 1 or null"),
        )),
        _ => Ok(()),
    }
}

/// `Some(None)` when the field is present and null, `None` when it is absent.
pub fn nullable<'de, T, D>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Body of `POST /v1/books`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateBook {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `draft` (default) or `active`.
    #[serde(default)]
    pub status: Option<BookStatus>,
    /// Default 1; null = unlimited.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, default = 1)]
    pub max_redemptions_per_coupon: Option<Option<u32>>,
    #[serde(default)]
    pub max_coupons_per_user: Option<u32>,
    #[serde(default)]
    pub max_redemptions_per_user: Option<u32>,
    #[serde(default)]
    pub max_total_redemptions: Option<u64>,
    #[serde(default)]
    #[schema(default = true)]
    pub requires_assignment: Option<bool>,
    #[serde(default)]
    pub valid_from: Option<Timestamp>,
    #[serde(default)]
    pub valid_until: Option<Timestamp>,
    #[serde(default)]
    #[schema(default = 300, minimum = 1, maximum = 86400)]
    pub lock_ttl_seconds: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub code_pattern: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::reward::RewardSchema>)]
    pub reward: Option<Value>,
    /// Default false.
    #[serde(default)]
    pub combinable: Option<bool>,
}

impl CreateBook {
    pub fn into_settings(self) -> Result<BookSettings> {
        let status = self.status.unwrap_or(BookStatus::Draft);
        if !matches!(status, BookStatus::Draft | BookStatus::Active) {
            return Err(Error::invalid("status", "a new book is draft or active"));
        }
        let settings = BookSettings {
            name: self.name,
            description: self.description,
            status,
            max_redemptions_per_coupon: self.max_redemptions_per_coupon.unwrap_or(Some(1)),
            max_coupons_per_user: self.max_coupons_per_user,
            max_redemptions_per_user: self.max_redemptions_per_user,
            max_total_redemptions: self.max_total_redemptions,
            requires_assignment: self.requires_assignment.unwrap_or(true),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            lock_ttl_seconds: self.lock_ttl_seconds.unwrap_or(DEFAULT_LOCK_TTL_SECONDS),
            code_pattern: self.code_pattern,
            metadata: self.metadata.unwrap_or_default(),
            reward: match &self.reward {
                Some(value) => reward_field(value, "reward")?,
                None => None,
            },
            combinable: self.combinable.unwrap_or(false),
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// Body of `PATCH /v1/books/{book_id}`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateBook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BookStatus>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>)]
    pub max_redemptions_per_coupon: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>)]
    pub max_coupons_per_user: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>)]
    pub max_redemptions_per_user: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u64>)]
    pub max_total_redemptions: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_assignment: Option<bool>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Timestamp>)]
    pub valid_from: Option<Option<Timestamp>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Timestamp>)]
    pub valid_until: Option<Option<Timestamp>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_ttl_seconds: Option<u32>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Object>)]
    pub code_pattern: Option<Option<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<crate::domain::reward::RewardSchema>)]
    pub reward: Option<Option<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combinable: Option<bool>,
}

impl UpdateBook {
    /// The settings after this patch, or why the patch is refused.
    pub fn apply(self, current: &BookSettings) -> Result<BookSettings> {
        let mut next = current.clone();
        if let Some(status) = self.status {
            if !current.status.can_move_to(status) {
                return Err(Error::new(
                    ErrorCode::InvalidStatusTransition,
                    format!(
                        "a {} book cannot become {}",
                        current.status.as_str(),
                        status.as_str()
                    ),
                ));
            }
            next.status = status;
        }
        if let Some(name) = self.name {
            next.name = name;
        }
        if let Some(v) = self.description {
            next.description = v;
        }
        if let Some(v) = self.max_redemptions_per_coupon {
            next.max_redemptions_per_coupon = v;
        }
        if let Some(v) = self.max_coupons_per_user {
            next.max_coupons_per_user = v;
        }
        if let Some(v) = self.max_redemptions_per_user {
            next.max_redemptions_per_user = v;
        }
        if let Some(v) = self.max_total_redemptions {
            next.max_total_redemptions = v;
        }
        if let Some(v) = self.requires_assignment {
            next.requires_assignment = v;
        }
        if let Some(v) = self.valid_from {
            next.valid_from = v;
        }
        if let Some(v) = self.valid_until {
            next.valid_until = v;
        }
        if let Some(v) = self.lock_ttl_seconds {
            next.lock_ttl_seconds = v;
        }
        if let Some(v) = self.code_pattern {
            next.code_pattern = v;
        }
        if let Some(v) = self.metadata {
            next.metadata = v;
        }
        if let Some(v) = self.reward {
            next.reward = reward_field(&v.unwrap_or(Value::Null), "reward")?;
        }
        if let Some(v) = self.combinable {
            next.combinable = v;
        }
        next.validate()?;
        Ok(next)
    }
}

impl BookSettings {
    /// Settings that any single-field patch can be checked against.
    pub(crate) fn neutral() -> Self {
        BookSettings {
            name: "book".into(),
            description: None,
            status: BookStatus::Draft,
            max_redemptions_per_coupon: Some(1),
            max_coupons_per_user: None,
            max_redemptions_per_user: None,
            max_total_redemptions: None,
            requires_assignment: true,
            valid_from: None,
            valid_until: None,
            lock_ttl_seconds: DEFAULT_LOCK_TTL_SECONDS,
            code_pattern: None,
            metadata: Map::new(),
            reward: None,
            combinable: false,
        }
    }
}

impl UpdateBook {
    /// Checks each given field on its own, before the book is looked up, so a bad
    /// field is reported as `invalid_request` even for an unknown book.
    pub fn check_fields(&self) -> Result<()> {
        let fields_only = UpdateBook {
            status: None,
            ..self.clone()
        };
        fields_only.apply(&BookSettings::neutral()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_moves_follow_the_contract() {
        use BookStatus::*;
        assert!(Draft.can_move_to(Active));
        assert!(Active.can_move_to(Paused));
        assert!(Paused.can_move_to(Active));
        assert!(Paused.can_move_to(Archived));
        assert!(Draft.can_move_to(Archived));
        assert!(!Draft.can_move_to(Paused));
        assert!(!Active.can_move_to(Draft));
        assert!(!Archived.can_move_to(Active));
        assert!(!Archived.can_move_to(Archived));
    }
}
