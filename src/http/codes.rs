//! `/v1/books/{book_id}/codes` and `/v1/jobs`: adding and listing codes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Auth, BooksRead, BooksWrite, Id, JsonBody, Params};
use crate::domain::coupon::{Coupon, CouponStatus};
use crate::domain::job::{CodeIntake, Job, JobKind, MAX_CODES_PER_REQUEST};
use crate::domain::{Error, Page};

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddCodes {
    /// At most 10,000 codes; any case, stored upper-case.
    pub codes: Vec<String>,
}

#[utoipa::path(post, path = "/v1/books/{book_id}/codes", tag = "codes",
    params(("book_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = AddCodes,
    responses((status = 201, description = "Finished job with per-line counts", body = Job),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active: the book is archived", body = ErrorBody)))]
pub async fn add_codes(
    State(state): State<AppState>,
    _auth: Auth<BooksWrite>,
    Id(book_id): Id,
    body: JsonBody<AddCodes>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let job = add_code_list(&state, &book_id, body).await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// The JSON form of code intake, shared with the seed's route.
pub async fn add_code_list(
    state: &AppState,
    book_id: &str,
    body: JsonBody<AddCodes>,
) -> ApiResult<Job> {
    if body.value.codes.len() > MAX_CODES_PER_REQUEST {
        return Err(ApiError(Error::invalid(
            "codes",
            "at most 10,000 codes per request; upload a file for more",
        )));
    }
    let intake = CodeIntake::from_codes(body.value.codes.iter().map(String::as_str));
    Ok(state
        .store
        .add_codes(book_id, JobKind::Upload, intake, body.idem)
        .await?)
}

#[utoipa::path(get, path = "/v1/books/{book_id}/codes", tag = "codes",
    params(("book_id" = String, Path), ("status" = Option<CouponStatus>, Query),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Coupons in creation order", body = Page<Coupon>),
        (status = 404, description = "book_not_found", body = ErrorBody)))]
pub async fn list_codes(
    State(state): State<AppState>,
    _auth: Auth<BooksRead>,
    Id(book_id): Id,
    params: Params,
) -> ApiResult<Json<Page<Coupon>>> {
    let status = status_filter(&params)?;
    Ok(Json(
        state
            .store
            .list_codes(&book_id, status, params.page()?)
            .await?,
    ))
}

pub fn status_filter(params: &Params) -> ApiResult<Option<CouponStatus>> {
    match params.get("status") {
        None => Ok(None),
        Some(text) => CouponStatus::parse(text).map(Some).ok_or_else(|| {
            ApiError(Error::invalid(
                "status",
                "status is available, assigned, locked, redeemed or voided",
            ))
        }),
    }
}

#[utoipa::path(get, path = "/v1/jobs/{job_id}", tag = "codes",
    params(("job_id" = String, Path)),
    responses((status = 200, description = "The job", body = Job),
        (status = 404, description = "job_not_found", body = ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    _auth: Auth<BooksRead>,
    Id(job_id): Id,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.store.get_job(&job_id).await?))
}
