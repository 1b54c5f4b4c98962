//! Bulk jobs: `/v1/books/{book_id}/assign/bulk`, `/codes/void`, `/codes/delete`, and
//! `/v1/jobs/{job_id}/results`.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::codes::{UploadError, answer, check_text_media, is_text_media, media_type, receive};
use crate::app::access;
use crate::app::bulk::{self, BulkInput};
use crate::app::job_requests;
use crate::domain::Error;
use crate::domain::bulk::MAX_BULK_ENTRIES;
use crate::domain::coupon::CouponStatus;
use crate::domain::job::{Job, JobKind};
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{
    Auth, BooksRead, BooksWrite, BulkAssign, Id, JsonBody, idempotency_key,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBulkBody {
    /// At most 10,000 user ids; each gets the book's next available code.
    pub user_ids: Vec<String>,
}

/// The codes a bulk void or delete works on: a list, or every code of a status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeSelection {
    /// At most 10,000 codes (any case). Give either `codes` or `status`.
    pub codes: Option<Vec<String>>,
    /// Every code of the book in this status, walked page by page.
    pub status: Option<CouponStatus>,
}

/// Assign codes to many users
///
/// Each user (a line of a `text/csv` upload, optional header `user_id`, or an entry of
/// the JSON `user_ids`) gets the book's next available code under the book's limits,
/// exactly like `POST /v1/books/{book_id}/assign`. Per line: `assigned`,
/// `limit_reached`, `exhausted` or `invalid`; every line's outcome is in
/// `GET /v1/jobs/{job_id}/results`. Up to 10,000 lines finish in the request (201).
#[utoipa::path(post, path = "/v1/books/{book_id}/assign/bulk", tag = "bulk",
    params(("book_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content(
        (AssignBulkBody = "application/json"),
        (String = "text/csv", example = "user_id\nuser-1\nuser-2\n"))),
    responses((status = 201, description = "Finished job with per-line counts", body = Job),
        (status = 202, description = "Running job; poll GET /v1/jobs/{job_id}", body = Job),
        (status = 400, description = "invalid_request: malformed JSON, more than 10,000 user_ids (field `user_ids`), or an upload cut off or late", body = ErrorBody),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active, book_not_valid_now: the book hands out no codes now", body = ErrorBody),
        (status = 413, description = "payload_too_large: a JSON body over 1 MiB, an upload over COUPON_BOOK_MAX_UPLOAD_BYTES, or more lines than a request may take where jobs cannot run in the background (AWS Lambda)", body = ErrorBody),
        (status = 415, description = "unsupported_media_type: send text/csv, text/plain or application/json", body = ErrorBody),
        (status = 429, description = "rate_limited: as many uploads as allowed are being received; see Retry-After", body = ErrorBody),
        (status = 503, description = "store_busy: the upload spool is full; see Retry-After", body = ErrorBody)))]
pub async fn assign_bulk(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BulkAssign>,
    Id(book_id): Id,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<Job>), UploadError> {
    if !is_text_media(&headers) {
        if !is_json_media(&headers) {
            check_text_media(
                &headers,
                "send the user ids as text/csv or text/plain, one per line, or JSON {\"user_ids\": [...]}",
            )?;
        }
        let body = JsonBody::<AssignBulkBody>::from_request(request, &state).await?;
        let write = body.write();
        let user_ids = body.value.user_ids;
        if user_ids.len() > MAX_BULK_ENTRIES {
            return Err(too_many("user_ids").into());
        }
        caller.see_book(&book_id)?;
        let submitted = job_requests::bulk(
            &state.store,
            &state.spool,
            &book_id,
            JobKind::Assign,
            BulkInput::List(user_ids),
            write,
            state.background_jobs,
        )
        .await?;
        return Ok(answer(submitted));
    }
    let key = idempotency_key(&headers)?;
    caller.see_book(&book_id)?;
    // Unknown books are refused before the upload is read.
    state.store.get_book(&book_id).await?;
    let route = format!("POST /v1/books/{book_id}/assign/bulk");
    let received = receive(
        &state,
        &caller.id,
        key,
        &route,
        &headers,
        request.into_body(),
    )
    .await?;
    let submitted = job_requests::bulk(
        &state.store,
        &state.spool,
        &book_id,
        JobKind::Assign,
        BulkInput::Csv(received.spooled),
        caller.write(received.idem),
        state.background_jobs,
    )
    .await?;
    Ok(answer(submitted))
}

/// JSON, or no Content-Type at all (read as JSON).
fn is_json_media(headers: &HeaderMap) -> bool {
    media_type(headers).is_none_or(|media| media == "application/json")
}

fn too_many(field: &str) -> ApiError {
    ApiError(Error::invalid(
        field,
        format!(
            "at most {MAX_BULK_ENTRIES} entries per request; upload a file or use a status filter for more"
        ),
    ))
}

/// Void many codes
///
/// Voids the listed codes of the book (`codes`), or every code of the book in a
/// status (`status`), like `POST /v1/coupons/{code}/void` for each. Per line:
/// `voided` (a code voided already counts as `voided`, without a new event; a redeemed
/// code is voided too) or `not_found` (no such code in this book), or `invalid`.
#[utoipa::path(post, path = "/v1/books/{book_id}/codes/void", tag = "bulk",
    params(("book_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = CodeSelection,
    responses((status = 201, description = "Finished job with per-line counts", body = Job),
        (status = 202, description = "Running job; poll GET /v1/jobs/{job_id}", body = Job),
        (status = 400, description = "invalid_request: neither or both of `codes` and `status`, or more than 10,000 codes (field `codes`)", body = ErrorBody),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 413, description = "payload_too_large: a JSON body over 1 MiB, or more codes than a request may take where jobs cannot run in the background (AWS Lambda)", body = ErrorBody)))]
pub async fn void_codes(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    Id(book_id): Id,
    body: JsonBody<CodeSelection>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    bulk_codes(&state, &caller, &book_id, JobKind::Void, body).await
}

/// Delete many codes
///
/// Removes the listed codes of the book (`codes`), or every code of the book in a
/// status (`status`). Only codes never handed out or used are deleted (not assigned,
/// no redemptions, no live lock); the others count as `in_use`. A deleted code no
/// longer exists and may be added again. Per line: `deleted`, `in_use`, `not_found`
/// or `invalid`.
#[utoipa::path(post, path = "/v1/books/{book_id}/codes/delete", tag = "bulk",
    params(("book_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = CodeSelection,
    responses((status = 201, description = "Finished job with per-line counts", body = Job),
        (status = 202, description = "Running job; poll GET /v1/jobs/{job_id}", body = Job),
        (status = 400, description = "invalid_request: neither or both of `codes` and `status`, or more than 10,000 codes (field `codes`)", body = ErrorBody),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 413, description = "payload_too_large: a JSON body over 1 MiB, or more codes than a request may take where jobs cannot run in the background (AWS Lambda)", body = ErrorBody)))]
pub async fn delete_codes(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    Id(book_id): Id,
    body: JsonBody<CodeSelection>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    bulk_codes(&state, &caller, &book_id, JobKind::Delete, body).await
}

async fn bulk_codes(
    state: &AppState,
    caller: &Caller,
    book_id: &str,
    kind: JobKind,
    body: JsonBody<CodeSelection>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let write = body.write();
    let input = match body.value {
        CodeSelection {
            codes: Some(codes),
            status: None,
        } => {
            if codes.len() > MAX_BULK_ENTRIES {
                return Err(too_many("codes"));
            }
            BulkInput::List(codes)
        }
        CodeSelection {
            codes: None,
            status: Some(status),
        } => BulkInput::Filter(status),
        _ => {
            return Err(ApiError(Error::invalid(
                "codes",
                "give either `codes` (a list) or `status` (a filter)",
            )));
        }
    };
    caller.see_book(book_id)?;
    let submitted = job_requests::bulk(
        &state.store,
        &state.spool,
        book_id,
        kind,
        input,
        write,
        state.background_jobs,
    )
    .await?;
    Ok(answer(submitted))
}

/// Download a job's line results
///
/// Every line's outcome of a bulk assign, void or delete job as a CSV stream
/// `line,input,outcome,code`, in line order and constant memory (the lines applied so
/// far while the job runs). `line` counts from 1 at the input's first line, a header
/// line included (for JSON, the array index + 1). Generation and upload jobs keep no
/// per-line results (their rejected lines are in the job's `errors`): their CSV has
/// the header only. Cells that a spreadsheet would run as a formula get a leading `'`.
#[utoipa::path(get, path = "/v1/jobs/{job_id}/results", tag = "bulk",
    params(("job_id" = String, Path)),
    responses((status = 200, description = "CSV: line,input,outcome,code", body = String, content_type = "text/csv"),
        (status = 404, description = "job_not_found", body = ErrorBody)))]
pub async fn job_results(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    Id(job_id): Id,
) -> ApiResult<Response> {
    let job = access::job(&state.store, &caller.books, &job_id).await?;
    let store = state.store.clone();
    let kept = job.kind.is_bulk();
    let pages = super::pages(kept.then_some(0u64), move |after: Option<u64>| {
        let store = store.clone();
        let job_id = job_id.clone();
        async move {
            let Some(after) = after else {
                return Ok((Vec::new(), None));
            };
            let (rows, next) = bulk::results_page(&store, &job_id, after).await?;
            Ok((rows, next.map(Some)))
        }
    });
    Ok(super::csv_download(
        "results.csv",
        bulk::RESULTS_HEADER,
        pages,
    ))
}
