//! Several codes on one order: `POST /v1/validations` (and, with it, what
//! `POST /v1/redemptions` answers per code).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::coupons::check_user;
use crate::app::access::check_code;
use crate::app::checkout::validate_codes;
use crate::domain::checkout::{
    MultiRedemption, MultiValidation, RedeemItem, at_item, read_codes, required_order,
};
use crate::domain::order::OrderInput;
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, JsonBody, Redeem};
use crate::store::MultiRedeemRequest;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidationsBody {
    pub user_id: String,
    /// 1 to 10 codes, applied in this order; each listed once.
    #[schema(min_items = 1, max_items = 10)]
    pub codes: Vec<String>,
    #[schema(value_type = crate::domain::order::OrderInput)]
    pub order: Option<OrderInput>,
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
    let order = required_order(order)?;
    caller.may_act_for(&user_id)?;
    let answer = validate_codes(&state.store, &caller.books, &user_id, &codes, &order).await?;
    Ok(Json(answer))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RedemptionsBody {
    pub user_id: String,
    #[schema(value_type = crate::domain::order::OrderInput)]
    pub order: Option<OrderInput>,
    /// 1 to 10 codes, applied in this order; each listed once.
    #[schema(min_items = 1, max_items = 10)]
    pub items: Vec<RedeemItem>,
}

/// Redeem several codes on one order
///
/// All codes are redeemed in one atomic step, or none: the first code that fails
/// answers its usual error with `field: "items[i]"`, and nothing is written.
/// Discounts and `not_combinable` follow the rules of `POST /v1/validations`.
#[utoipa::path(post, path = "/v1/redemptions", tag = "redemptions",
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = RedemptionsBody,
    responses((status = 201, description = "Every code redeemed, durable when answered", body = MultiRedemption),
        (status = 400, description = "invalid_request: items (1 to 10, each once), order", body = ErrorBody),
        (status = 403, description = "coupon_not_assigned_to_user (field items[i])", body = ErrorBody),
        (status = 404, description = "coupon_not_found (field items[i])", body = ErrorBody),
        (status = 409, description = "the first failing code's error (field items[i]), e.g. coupon_already_redeemed, coupon_not_valid_now, currency_mismatch, order_below_minimum, no_eligible_items, not_combinable", body = ErrorBody)))]
pub async fn redeem_order_codes(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Redeem>,
    body: JsonBody<RedemptionsBody>,
) -> ApiResult<(StatusCode, Json<MultiRedemption>)> {
    let write = body.write();
    let RedemptionsBody {
        user_id,
        order,
        items,
    } = body.value;
    check_user(&user_id)?;
    let codes = read_codes(items.iter().map(|i| i.code.as_str()), "items")?;
    let order = required_order(order)?;
    caller.may_act_for(&user_id)?;
    let mut normalized = Vec::with_capacity(items.len());
    for (index, (item, code)) in items.into_iter().zip(codes).enumerate() {
        check_code(&state.store, &caller.books, &code)
            .await
            .map_err(at_item(index))?;
        normalized.push(RedeemItem {
            code,
            lock_id: item.lock_id.filter(|id| !id.is_empty()),
        });
    }
    let request = MultiRedeemRequest {
        user_id,
        order,
        items: normalized,
    };
    let answer = state.store.redeem_many(request, write).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}
