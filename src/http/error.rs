//! Errors on the wire: every error is `{"error": {code, message, field?}}` with the
//! status its code implies. Internal details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Error, ErrorCode};

/// The error body of every failed request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// JSON path of the field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        Unauthenticated => StatusCode::UNAUTHORIZED,
        Forbidden | CouponNotAssignedToUser => StatusCode::FORBIDDEN,
        InvalidRequest => StatusCode::BAD_REQUEST,
        NotFound | BookNotFound | CouponNotFound | RedemptionNotFound | JobNotFound
        | ApiKeyNotFound | WebhookNotFound | DeliveryNotFound => StatusCode::NOT_FOUND,
        LockNotFound
        | BookNotActive
        | BookNotValidNow
        | CouponNotValidNow
        | CouponVoided
        | CouponAlreadyRedeemed
        | CouponAlreadyAssigned
        | CouponLocked
        | UserCouponLimitReached
        | UserRedemptionLimitReached
        | BookBudgetExhausted
        | CurrencyMismatch
        | OrderBelowMinimum
        | NoEligibleItems
        | NotCombinable
        | BookExhausted
        | BookInUse
        | InvalidStatusTransition
        | RedemptionAlreadyReversed => StatusCode::CONFLICT,
        IdempotencyKeyReused | PatternSpaceTooSmall => StatusCode::UNPROCESSABLE_ENTITY,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        StoreBusy | StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A handler's error: the domain error, answered as JSON.
#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Error {
            code,
            message,
            field,
        } = self.0;
        let status = status_of(code);
        if status.is_server_error() {
            tracing::warn!(code = ?code, %message, "request failed");
        }
        let message = if code == ErrorCode::Internal {
            "internal error".to_string()
        } else {
            message
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        // For middleware that reacts to outcomes (e.g. counting unknown codes).
        response.extensions_mut().insert(code);
        response
    }
}

pub fn not_found_route() -> ApiError {
    ApiError(Error::new(ErrorCode::NotFound, "no such route"))
}
