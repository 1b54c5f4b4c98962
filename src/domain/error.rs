//! The one error type of the service: a stable machine-readable code, a message for
//! people, and the JSON path of the field at fault when there is one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Stable error codes (API.md). The HTTP layer maps each to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    InvalidRequest,
    NotFound,
    BookNotFound,
    CouponNotFound,
    LockNotFound,
    RedemptionNotFound,
    JobNotFound,
    ApiKeyNotFound,
    WebhookNotFound,
    DeliveryNotFound,
    BookNotActive,
    BookNotValidNow,
    CouponNotValidNow,
    CouponVoided,
    CouponNotAssignedToUser,
    CouponAlreadyRedeemed,
    CouponAlreadyAssigned,
    CouponLocked,
    UserCouponLimitReached,
    UserRedemptionLimitReached,
    BookBudgetExhausted,
    CurrencyMismatch,
    OrderBelowMinimum,
    NoEligibleItems,
    NotCombinable,
    BookExhausted,
    BookInUse,
    InvalidStatusTransition,
    RedemptionAlreadyReversed,
    IdempotencyKeyReused,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    RateLimited,
    PatternSpaceTooSmall,
    StoreBusy,
    StoreUnavailable,
    Internal,
}

impl ErrorCode {
    /// Errors that describe the request or the stored state, and so may be replayed
    /// from an idempotency record; the rest are transient.
    pub fn is_deterministic(self) -> bool {
        !matches!(
            self,
            ErrorCode::StoreBusy | ErrorCode::StoreUnavailable | ErrorCode::Internal
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            code: ErrorCode::InvalidRequest,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn book_not_found(id: &str) -> Self {
        Self::new(ErrorCode::BookNotFound, format!("no book with id {id:?}"))
    }

    pub fn coupon_not_found(code: &str) -> Self {
        Self::new(
            ErrorCode::CouponNotFound,
            format!("no coupon with code {code:?}"),
        )
    }

    pub fn job_not_found(id: &str) -> Self {
        Self::new(ErrorCode::JobNotFound, format!("no job with id {id:?}"))
    }

    pub fn redemption_not_found(id: &str) -> Self {
        Self::new(
            ErrorCode::RedemptionNotFound,
            format!("no redemption with id {id:?}"),
        )
    }

    pub fn lock_not_found() -> Self {
        Self::new(
            ErrorCode::LockNotFound,
            "no live lock with that id for this coupon and user",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::StoreUnavailable, message)
    }
}
