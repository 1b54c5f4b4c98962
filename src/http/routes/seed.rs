//! The original design's paths, as aliases of the v1 routes with the same bodies and
//! answers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::codes::{self, AddCodes};
use super::coupons::{self, LockBody, RedeemBody, UnlockBody, UserBody};
use super::{books, redemptions};
use crate::domain::Page;
use crate::domain::book::{Book, CreateBook};
use crate::domain::coupon::{Coupon, Lock, Redemption};
use crate::domain::job::Job;
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{
    Assign, Auth, BooksWrite, CodeParam, CouponRead, Id, JsonBody, Params, Redeem,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignNextBody {
    pub user_id: String,
    pub book_id: String,
}

/// Create a book (seed route)
///
/// Alias of `POST /v1/books`.
#[utoipa::path(post, path = "/coupons", tag = "seed routes", operation_id = "seed_create_book", request_body = CreateBook,
    responses((status = 201, description = "Alias of POST /v1/books", body = Book)))]
pub async fn create_book(
    state: State<AppState>,
    auth: Auth<BooksWrite>,
    body: JsonBody<CreateBook>,
) -> ApiResult<(StatusCode, Json<Book>)> {
    books::create_book(state, auth, body).await
}

/// Add codes (seed route)
///
/// Alias of `POST /v1/books/{book_id}/codes`.
#[utoipa::path(post, path = "/coupons/{book_id}/codes", tag = "seed routes", operation_id = "seed_add_codes",
    params(("book_id" = String, Path)), request_body = AddCodes,
    responses((status = 201, description = "Alias of POST /v1/books/{book_id}/codes", body = Job),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active", body = ErrorBody)))]
pub async fn add_codes(
    state: State<AppState>,
    auth: Auth<BooksWrite>,
    book_id: Id,
    body: JsonBody<AddCodes>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    codes::add_codes(state, auth, book_id, body).await
}

/// Assign the next available code (seed route)
///
/// Alias of `POST /v1/books/{book_id}/assign`, with the book id in the body.
#[utoipa::path(post, path = "/coupons/assign", tag = "seed routes", operation_id = "seed_assign_next", request_body = AssignNextBody,
    responses((status = 200, description = "Alias of POST /v1/books/{book_id}/assign", body = Coupon),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active, book_not_valid_now, book_exhausted, user_coupon_limit_reached", body = ErrorBody)))]
pub async fn assign_next(
    state: State<AppState>,
    auth: Auth<Assign>,
    body: JsonBody<AssignNextBody>,
) -> ApiResult<Json<Coupon>> {
    let JsonBody { value, idem, actor } = body;
    let body = JsonBody {
        value: UserBody {
            user_id: value.user_id,
        },
        idem,
        actor,
    };
    coupons::assign_next(state, auth, Id(value.book_id), body).await
}

/// Assign a coupon to a user (seed route)
///
/// Alias of `POST /v1/coupons/{code}/assign`.
#[utoipa::path(post, path = "/coupons/assign/{code}", tag = "seed routes", operation_id = "seed_assign",
    params(("code" = String, Path)), request_body = UserBody,
    responses((status = 200, description = "Alias of POST /v1/coupons/{code}/assign", body = Coupon),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "coupon_already_assigned and the other assign refusals", body = ErrorBody)))]
pub async fn assign(
    state: State<AppState>,
    auth: Auth<Assign>,
    code: CodeParam,
    body: JsonBody<UserBody>,
) -> ApiResult<Json<Coupon>> {
    coupons::assign(state, auth, code, body).await
}

/// Lock a coupon (seed route)
///
/// Alias of `POST /v1/coupons/{code}/lock`.
#[utoipa::path(post, path = "/coupons/lock/{code}", tag = "seed routes", operation_id = "seed_lock",
    params(("code" = String, Path)), request_body = LockBody,
    responses((status = 200, description = "Alias of POST /v1/coupons/{code}/lock", body = Lock),
        (status = 403, description = "coupon_not_assigned_to_user", body = ErrorBody),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "coupon_locked and the other lock refusals", body = ErrorBody)))]
pub async fn lock(
    state: State<AppState>,
    auth: Auth<Redeem>,
    code: CodeParam,
    body: JsonBody<LockBody>,
) -> ApiResult<Json<Lock>> {
    coupons::lock(state, auth, code, body).await
}

/// Release a lock (seed route)
///
/// Alias of `POST /v1/coupons/{code}/unlock`.
#[utoipa::path(post, path = "/coupons/unlock/{code}", tag = "seed routes", operation_id = "seed_unlock",
    params(("code" = String, Path)), request_body = UnlockBody,
    responses((status = 200, description = "Alias of POST /v1/coupons/{code}/unlock", body = Coupon),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "lock_not_found", body = ErrorBody)))]
pub async fn unlock(
    state: State<AppState>,
    auth: Auth<Redeem>,
    code: CodeParam,
    body: JsonBody<UnlockBody>,
) -> ApiResult<Json<Coupon>> {
    coupons::unlock(state, auth, code, body).await
}

/// Redeem a coupon (seed route)
///
/// Alias of `POST /v1/coupons/{code}/redeem`.
#[utoipa::path(post, path = "/coupons/redeem/{code}", tag = "seed routes", operation_id = "seed_redeem",
    params(("code" = String, Path)), request_body = RedeemBody,
    responses((status = 201, description = "Alias of POST /v1/coupons/{code}/redeem", body = Redemption),
        (status = 403, description = "coupon_not_assigned_to_user", body = ErrorBody),
        (status = 404, description = "coupon_not_found", body = ErrorBody),
        (status = 409, description = "coupon_already_redeemed and the other redeem refusals", body = ErrorBody)))]
pub async fn redeem(
    state: State<AppState>,
    auth: Auth<Redeem>,
    code: CodeParam,
    body: JsonBody<RedeemBody>,
) -> ApiResult<(StatusCode, Json<Redemption>)> {
    coupons::redeem(state, auth, code, body).await
}

/// List a user's coupons (seed route)
///
/// Alias of `GET /v1/users/{user_id}/coupons`.
#[utoipa::path(get, path = "/users/{user_id}/coupons", tag = "seed routes", operation_id = "seed_user_coupons",
    params(("user_id" = String, Path), ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Alias of GET /v1/users/{user_id}/coupons", body = Page<Coupon>)))]
pub async fn user_coupons(
    state: State<AppState>,
    auth: Auth<CouponRead>,
    user_id: Id,
    params: Params,
) -> ApiResult<Json<Page<Coupon>>> {
    redemptions::user_coupons(state, auth, user_id, params).await
}
