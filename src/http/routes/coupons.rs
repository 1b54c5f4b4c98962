//! `/v1/coupons/{code}` and assign-next: the checkout path.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::access::check_code;
use crate::domain::book::{MAX_LOCK_TTL_SECONDS, MAX_METADATA_BYTES};
use crate::domain::coupon::{Coupon, Lock, LockTtl, Redemption, UpdateCoupon, validate_user_id};
use crate::domain::order::{OrderInput, order_field};
use crate::domain::{Error, ErrorCode};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{
    Assign, Auth, BooksWrite, CodeParam, CouponRead, Id, JsonBody, NoFields, Redeem,
};
use crate::store::{RedeemRequest, Validation};

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserBody {
    pub user_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidateBody {
    pub user_id: String,
    /// The order to judge the code's reward on (needed when it has
    /// `min_order_amount` or `applies_to_skus`).
    pub order: Option<OrderInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LockBody {
    pub user_id: String,
    /// The order the code is held for: its discount is answered with the lock.
    pub order: Option<OrderInput>,
    /// Defaults to the book's `lock_ttl_seconds`. End-user tokens get at most
    /// `COUPON_BOOK_END_USER_MAX_LOCK_TTL_SECONDS` (900 by default; more is a 400).
    #[schema(minimum = 1, maximum = 86400)]
    pub ttl_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UnlockBody {
    pub lock_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RedeemBody {
    pub user_id: String,
    pub lock_id: Option<String>,
    /// Free JSON object stored with the redemption (e.g. an order id), <= 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// The order the code is redeemed on: judged by its reward; its id, amount,
    /// currency and the discount are kept on the redemption.
    pub order: Option<OrderInput>,
}

pub fn check_user(user_id: &str) -> ApiResult<()> {
    Ok(validate_user_id("user_id", user_id)?)
}

/// Counts refusals the operators watch: lock conflicts and double redemptions.
fn observe<T>(result: &Result<T, Error>, operation: &'static str) {
    match result {
        Ok(_) => metrics::counter!("coupon_operations_total", "operation" => operation, "outcome" => "ok").increment(1),
        Err(err) => {
            if err.code == ErrorCode::CouponLocked {
                metrics::counter!("coupon_lock_conflicts_total").increment(1);
            }
            metrics::counter!("coupon_operations_total", "operation" => operation, "outcome" => "refused").increment(1);
        }
    }
}

/// Get a coupon
#[utoipa::path(get, path = "/v1/coupons/{code}", tag = "coupons",
    params(("code" = String, Path, description = "Any case")),
    responses((status = 200, description = "The coupon", body = Coupon),
        (status = 404, description = "coupon_not_found", body = ErrorBody)))]
pub async fn get_coupon(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<CouponRead>,
    code: CodeParam,
) -> ApiResult<Json<Coupon>> {
    // End users see coupons through validate and their own listings only.
    caller.require_service()?;
    let code = code.code()?;
    let coupon = state.store.get_coupon(code).await?;
    if !caller.books.allows(&coupon.book_id) {
        return Err(ApiError(Error::coupon_not_found(code)));
    }
    Ok(Json(coupon))
}

/// Assign a coupon to a user
///
/// Assigning to the same user again is idempotent.
#[utoipa::path(post, path = "/v1/coupons/{code}/assign", tag = "coupons",
    params(("code" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = UserBody,
    responses((status = 200, description = "Assigned (or already assigned to this user)", body = Coupon),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active, book_not_valid_now, coupon_voided, coupon_already_assigned, coupon_already_redeemed, user_coupon_limit_reached", body = ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Assign>,
    code: CodeParam,
    body: JsonBody<UserBody>,
) -> ApiResult<Json<Coupon>> {
    check_user(&body.value.user_id)?;
    let code = code.code()?;
    check_code(&state.store, &caller.books, code).await?;
    let result = state
        .store
        .assign(code, &body.value.user_id, body.write())
        .await;
    observe(&result, "assign");
    Ok(Json(result?))
}

/// Assign the next available code
///
/// Atomically hands the user the book's next available code; concurrent calls never
/// hand out the same code.
#[utoipa::path(post, path = "/v1/books/{book_id}/assign", tag = "coupons",
    params(("book_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = UserBody,
    responses((status = 200, description = "The next available code, now the user's", body = Coupon),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active, book_not_valid_now, book_exhausted, user_coupon_limit_reached", body = ErrorBody)))]
pub async fn assign_next(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Assign>,
    Id(book_id): Id,
    body: JsonBody<UserBody>,
) -> ApiResult<Json<Coupon>> {
    check_user(&body.value.user_id)?;
    caller.see_book(&book_id)?;
    let result = state
        .store
        .assign_next(&book_id, &body.value.user_id, body.write())
        .await;
    observe(&result, "assign_next");
    Ok(Json(result?))
}

/// Unassign a coupon
#[utoipa::path(delete, path = "/v1/coupons/{code}/assignment", tag = "coupons",
    params(("code" = String, Path)),
    responses((status = 200, description = "Unassigned", body = Coupon),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "coupon_already_redeemed", body = ErrorBody)))]
pub async fn unassign(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Assign>,
    code: CodeParam,
) -> ApiResult<Json<Coupon>> {
    let write = caller.write(None);
    let code = code.code()?;
    check_code(&state.store, &caller.books, code).await?;
    Ok(Json(state.store.unassign(code, write).await?))
}

/// Check whether a user could redeem
///
/// Changes nothing; ignores an Idempotency-Key.
#[utoipa::path(post, path = "/v1/coupons/{code}/validate", tag = "coupons",
    description = "Whether the user could redeem the code now. Changes nothing, so it always answers the current state: an `Idempotency-Key` header is ignored, and a repeated request is answered anew.",
    params(("code" = String, Path)),
    request_body = ValidateBody,
    responses((status = 200, description = "Whether the user could redeem now, every rule that fails, and the discount on the order; changes nothing", body = Validation),
        (status = 400, description = "invalid_request: a bad order, or none for a reward that needs one (field order)", body = ErrorBody),
        (status = 404, description = "coupon_not_found", body = ErrorBody)))]
pub async fn validate(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Redeem>,
    code: CodeParam,
    mut body: JsonBody<ValidateBody>,
) -> ApiResult<Json<Validation>> {
    check_user(&body.value.user_id)?;
    let order = order_field(body.value.order.take())?;
    caller.may_act_for(&body.value.user_id)?;
    let code = code.code()?;
    check_code(&state.store, &caller.books, code).await?;
    let mut validation = state
        .store
        .validate_order(code, &body.value.user_id, order)
        .await?;
    if let Some(user_id) = &caller.end_user {
        validation.coupon = validation.coupon.seen_by_end_user(user_id);
    }
    Ok(Json(validation))
}

/// Lock a coupon
///
/// Reserves one redemption for the user until the lock expires.
#[utoipa::path(post, path = "/v1/coupons/{code}/lock", tag = "coupons",
    params(("code" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = LockBody,
    responses((status = 200, description = "The user's lock", body = Lock),
        (status = 403, description = "coupon_not_assigned_to_user", body = ErrorBody),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active, book_not_valid_now, coupon_not_valid_now, coupon_voided, coupon_already_redeemed, coupon_locked, user_redemption_limit_reached, book_budget_exhausted, currency_mismatch, order_below_minimum, no_eligible_items", body = ErrorBody)))]
pub async fn lock(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Redeem>,
    code: CodeParam,
    mut body: JsonBody<LockBody>,
) -> ApiResult<Json<Lock>> {
    check_user(&body.value.user_id)?;
    if body
        .value
        .ttl_seconds
        .is_some_and(|ttl| !(1..=MAX_LOCK_TTL_SECONDS).contains(&ttl))
    {
        return Err(ApiError(Error::invalid(
            "ttl_seconds",
            "ttl_seconds must be 1..86400",
        )));
    }
    let order = order_field(body.value.order.take())?;
    caller.may_act_for(&body.value.user_id)?;
    let mut ttl = LockTtl::from(body.value.ttl_seconds);
    if caller.end_user.is_some() {
        let cap = state.end_user_max_lock_ttl_seconds;
        if ttl.requested.is_some_and(|asked| asked > cap) {
            return Err(ApiError(Error::invalid(
                "ttl_seconds",
                format!("an end-user token may lock a code for at most {cap} s"),
            )));
        }
        ttl.cap = Some(cap);
    }
    let code = code.code()?;
    check_code(&state.store, &caller.books, code).await?;
    let result = state
        .store
        .lock_order(code, &body.value.user_id, ttl, order, body.write())
        .await;
    observe(&result, "lock");
    Ok(Json(result?))
}

/// Release a lock
#[utoipa::path(post, path = "/v1/coupons/{code}/unlock", tag = "coupons",
    params(("code" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = UnlockBody,
    responses((status = 200, description = "The coupon after the lock was released", body = Coupon),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "lock_not_found: unknown, expired or for another code", body = ErrorBody)))]
pub async fn unlock(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Redeem>,
    code: CodeParam,
    body: JsonBody<UnlockBody>,
) -> ApiResult<Json<Coupon>> {
    if body.value.lock_id.is_empty() {
        return Err(ApiError(Error::invalid(
            "lock_id",
            "lock_id must not be empty",
        )));
    }
    let code = code.code()?;
    check_code(&state.store, &caller.books, code).await?;
    if caller.end_user.is_some() {
        let holder = state.store.lock_holder(&body.value.lock_id).await?;
        if let Some(holder) = holder {
            caller.may_act_for(&holder)?;
        }
    }
    let coupon = state
        .store
        .unlock(code, &body.value.lock_id, body.write())
        .await?;
    Ok(Json(match &caller.end_user {
        Some(user_id) => coupon.seen_by_end_user(user_id),
        None => coupon,
    }))
}

/// Redeem a coupon
///
/// Exactly once per redemption; durable when answered.
#[utoipa::path(post, path = "/v1/coupons/{code}/redeem", tag = "coupons",
    params(("code" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = RedeemBody,
    responses((status = 201, description = "Redeemed; durable when answered", body = Redemption),
        (status = 403, description = "coupon_not_assigned_to_user", body = ErrorBody),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active, book_not_valid_now, coupon_not_valid_now, coupon_voided, coupon_already_redeemed, coupon_locked, lock_not_found, user_redemption_limit_reached, book_budget_exhausted, currency_mismatch, order_below_minimum, no_eligible_items", body = ErrorBody)))]
pub async fn redeem(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Redeem>,
    code: CodeParam,
    body: JsonBody<RedeemBody>,
) -> ApiResult<(StatusCode, Json<Redemption>)> {
    let write = body.write();
    let RedeemBody {
        user_id,
        lock_id,
        metadata,
        order,
    } = body.value;
    check_user(&user_id)?;
    let order = order_field(order)?;
    if let Some(metadata) = &metadata {
        let size = serde_json::to_vec(metadata)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if !(metadata.is_object() || metadata.is_null()) || size > MAX_METADATA_BYTES {
            return Err(ApiError(Error::invalid(
                "metadata",
                "metadata must be a JSON object of at most 16 KiB",
            )));
        }
    }
    caller.may_act_for(&user_id)?;
    let code = code.code()?;
    // Free for keys with every book: no read is added to the hot path.
    check_code(&state.store, &caller.books, code).await?;
    let request = RedeemRequest {
        code: code.to_string(),
        user_id,
        lock_id: lock_id.filter(|id| !id.is_empty()),
        metadata: metadata.filter(|m| !m.is_null()),
        order,
    };
    let result = state.store.redeem(request, write).await;
    observe(&result, "redeem");
    Ok((StatusCode::CREATED, Json(result?)))
}

/// Update a coupon
///
/// Sets or clears (null) a code's own `starts_at`, `expires_at`, `metadata` and
/// `reward`; absent fields stay as they are. Its state is not touched.
#[utoipa::path(patch, path = "/v1/coupons/{code}", tag = "coupons",
    params(("code" = String, Path, description = "Any case")),
    request_body = UpdateCoupon,
    responses((status = 200, description = "The updated coupon", body = Coupon),
        (status = 400, description = "invalid_request, with the field at fault", body = ErrorBody),
        (status = 404, description = "coupon_not_found", body = ErrorBody)))]
pub async fn update_coupon(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    code: CodeParam,
    body: JsonBody<UpdateCoupon>,
) -> ApiResult<Json<Coupon>> {
    body.value.check_fields()?;
    let code = code.code()?;
    check_code(&state.store, &caller.books, code).await?;
    let write = body.write();
    Ok(Json(
        state.store.update_coupon(code, body.value, write).await?,
    ))
}

/// Void a coupon
///
/// No further lock or redemption of it is possible.
#[utoipa::path(post, path = "/v1/coupons/{code}/void", tag = "coupons",
    params(("code" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Voided: no further lock or redemption", body = Coupon),
        (status = 404, description = "coupon_not_found", body = ErrorBody)))]
pub async fn void(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    code: CodeParam,
    body: JsonBody<NoFields>,
) -> ApiResult<Json<Coupon>> {
    let code = code.code()?;
    check_code(&state.store, &caller.books, code).await?;
    Ok(Json(state.store.void(code, body.write()).await?))
}
