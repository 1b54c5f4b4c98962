//! Several codes on one order: `POST /v1/validations` (and, with it, what
//! `POST /v1/redemptions` answers per code).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::coupons::check_user;
use crate::app::checkout::validate_codes;
use crate::domain::checkout::{MultiValidation, read_codes, required_order};
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, JsonBody, Redeem};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidationsBody {
    pub user_id: String,
    /// 1 to 10 codes, applied in this order; each listed once.
    #[schema(min_items = 1, max_items = 10)]
    pub codes: Vec<String>,
    #[schema(value_type = crate::domain::reward::OrderSchema)]
    pub order: Option<Value>,
}

/// Check several codes on one order
///
/// Changes nothing; ignores an Idempotency-Key. Codes apply in the order given, each on
/// what the earlier valid ones left of `order.amount`; a code of a book that is not
/// `combinable` shares no order (reason `not_combinable`).
#[utoipa::path(post, path = "/v1/validations", tag = "coupons",
    request_body = ValidationsBody,
    responses((status = 200, description = "Each code's verdict and discount, and the total", body = MultiValidation),
        (status = 400, description = "invalid_request: codes (1 to 10, each once), order", body = ErrorBody)))]
pub async fn validate_order_codes(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Redeem>,
    body: JsonBody<ValidationsBody>,
) -> ApiResult<Json<MultiValidation>> {
    let ValidationsBody {
        user_id,
        codes,
        order,
    } = body.value;
    check_user(&user_id)?;
    let codes = read_codes(codes.iter().map(String::as_str), "codes")?;
    let order = required_order(order.as_ref())?;
    caller.may_act_for(&user_id)?;
    let answer = validate_codes(&state.store, &caller.books, &user_id, &codes, &order).await?;
    Ok(Json(answer))
}
