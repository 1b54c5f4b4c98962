//! `/v1/books/{book_id}/codes` and `/v1/jobs`: adding and listing codes.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;
use utoipa::ToSchema;

use crate::app::job_requests::{self, Submitted};
use crate::app::spool::{Spool, SpoolFile};
use crate::app::{access, jobs};
use crate::domain::coupon::{CodeInput, Coupon, CouponStatus};
use crate::domain::job::{CodeIntake, Job, JobKind, MAX_CODES_PER_REQUEST};
use crate::domain::pattern::GenerateSpec;
use crate::domain::{Error, ErrorCode, Page};
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{
    Auth, BooksRead, BooksWrite, Id, JsonBody, Params, fingerprint, idempotency_key,
};
use crate::store::Idempotency;

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddCodes {
    /// At most 10,000 codes; any case, stored upper-case. Each is a string, or an
    /// object with the code's own `starts_at`, `expires_at`, `metadata` and `reward`.
    pub codes: Vec<CodeInput>,
}

/// Add codes
///
/// The small, synchronous form of upload: at most 10,000 codes in a JSON body.
#[utoipa::path(post, path = "/v1/books/{book_id}/codes", tag = "codes",
    params(("book_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = AddCodes,
    responses((status = 201, description = "Finished job with per-line counts", body = Job),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active: the book is archived", body = ErrorBody)))]
pub async fn add_codes(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    Id(book_id): Id,
    body: JsonBody<AddCodes>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let job = add_code_list(&state, &caller, &book_id, body).await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// The JSON form of code intake, shared with the seed's route.
pub async fn add_code_list(
    state: &AppState,
    caller: &Caller,
    book_id: &str,
    body: JsonBody<AddCodes>,
) -> ApiResult<Job> {
    if body.value.codes.len() > MAX_CODES_PER_REQUEST {
        return Err(ApiError(Error::invalid(
            "codes",
            "at most 10,000 codes per request; upload a file for more",
        )));
    }
    caller.see_book(book_id)?;
    let intake = CodeIntake::from_inputs(&body.value.codes)?;
    Ok(state
        .store
        .add_codes(book_id, JobKind::Upload, intake, body.write())
        .await?)
}

/// List a book's codes
#[utoipa::path(get, path = "/v1/books/{book_id}/codes", tag = "codes",
    params(("book_id" = String, Path), ("status" = Option<CouponStatus>, Query),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Coupons in creation order", body = Page<Coupon>),
        (status = 404, description = "book_not_found", body = ErrorBody)))]
pub async fn list_codes(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    Id(book_id): Id,
    params: Params,
) -> ApiResult<Json<Page<Coupon>>> {
    let status = status_filter(&params)?;
    let page = params.page()?;
    caller.see_book(&book_id)?;
    Ok(Json(state.store.list_codes(&book_id, status, page).await?))
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

/// Get a code job
///
/// Progress and per-line counts of a generation or an upload.
#[utoipa::path(get, path = "/v1/jobs/{job_id}", tag = "codes",
    params(("job_id" = String, Path)),
    responses((status = 200, description = "The job", body = Job),
        (status = 404, description = "job_not_found", body = ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    Id(job_id): Id,
) -> ApiResult<Json<Job>> {
    Ok(Json(
        access::job(&state.store, &caller.books, &job_id).await?,
    ))
}

/// Generate codes
///
/// Random codes from a pattern; every generated code is new across the service.
/// Small counts finish in the request (201), larger ones run on (202).
#[utoipa::path(post, path = "/v1/books/{book_id}/codes/generate", tag = "codes",
    params(("book_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = GenerateSpec,
    responses((status = 201, description = "Finished job (small counts)", body = Job),
        (status = 202, description = "Running job; poll GET /v1/jobs/{job_id}", body = Job),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active: the book is archived", body = ErrorBody),
        (status = 413, description = "payload_too_large: more codes than a request may make where jobs cannot run in the background (AWS Lambda)", body = ErrorBody),
        (status = 422, description = "pattern_space_too_small", body = ErrorBody)))]
pub async fn generate(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    Id(book_id): Id,
    body: JsonBody<GenerateSpec>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    body.value.check_fields()?;
    caller.see_book(&book_id)?;
    let write = body.write();
    let submitted = job_requests::generate(
        &state.store,
        &book_id,
        body.value,
        write,
        state.background_jobs,
    )
    .await?;
    Ok(answer(submitted))
}

/// 202 while the job runs on, 201 once it is finished.
pub(super) fn answer(submitted: Submitted) -> (StatusCode, Json<Job>) {
    let status = if submitted.running {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    (status, Json(submitted.job))
}

/// Seconds a refused upload is told to wait: for a free upload slot, and for jobs to
/// drain the spool.
const SLOT_RETRY_AFTER: u64 = 10;
const SPOOL_RETRY_AFTER: u64 = 60;
/// An upload that sends nothing for this long is cut short.
const UPLOAD_IDLE: Duration = Duration::from_secs(60);

/// An upload's refusal, with `Retry-After` when waiting helps.
pub struct UploadError {
    error: ApiError,
    retry_after: Option<u64>,
}

impl From<Error> for UploadError {
    fn from(error: Error) -> Self {
        ApiError(error).into()
    }
}

impl From<ApiError> for UploadError {
    fn from(error: ApiError) -> Self {
        let retry_after = match error.0.code {
            ErrorCode::RateLimited => Some(SLOT_RETRY_AFTER),
            ErrorCode::StoreBusy => Some(SPOOL_RETRY_AFTER),
            _ => None,
        };
        UploadError { error, retry_after }
    }
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Upload codes
///
/// A CSV or text file, one code per line (or one record per line under a header that
/// names the code's data columns), streamed to disk and stored in batches.
/// A line that starts with `'` and then one of the characters the export escapes
/// (`=`, `+`, `-`, `@`) is read without the `'`, so an exported code uploads as it was.
#[utoipa::path(post, path = "/v1/books/{book_id}/codes/upload", tag = "codes",
    params(("book_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = String, description = "One code per line, optional header line `code`; or a header naming the columns code, starts_at, expires_at, metadata, reward (JSON cells; the export's status, assigned_to, redemption_count, created_at are ignored) and one record per line", content_type = "text/csv"),
    responses((status = 201, description = "Finished job with per-line counts", body = Job),
        (status = 202, description = "Running job; poll GET /v1/jobs/{job_id}", body = Job),
        (status = 400, description = "invalid_request: a header column the upload does not know (field header), the body was cut off, or did not arrive within the upload timeout (nothing is stored)", body = ErrorBody),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_not_active: the book is archived", body = ErrorBody),
        (status = 413, description = "payload_too_large: bigger than the largest upload (COUPON_BOOK_MAX_UPLOAD_BYTES, default 1 GiB), or than a request may take where jobs cannot run in the background (AWS Lambda); nothing is stored", body = ErrorBody),
        (status = 415, description = "unsupported_media_type: send text/csv or text/plain", body = ErrorBody),
        (status = 429, description = "rate_limited: as many uploads as allowed are being received (COUPON_BOOK_MAX_CONCURRENT_UPLOADS); see Retry-After", body = ErrorBody),
        (status = 503, description = "store_busy: the upload spool is full with uploads and jobs in progress (COUPON_BOOK_MAX_SPOOL_BYTES); nothing is stored; see Retry-After", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    Id(book_id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Job>), UploadError> {
    check_text_media(
        &headers,
        "send the codes as text/csv or text/plain, one per line",
    )?;
    let key = idempotency_key(&headers)?;
    caller.see_book(&book_id)?;
    job_requests::check_book_takes_codes(&state.store, &book_id).await?;
    let route = format!("POST /v1/books/{book_id}/codes/upload");
    let received = receive(&state, &caller.id, key, &route, &headers, body).await?;
    let submitted = job_requests::upload(
        &state.store,
        &book_id,
        received.spooled,
        received.size,
        caller.write(received.idem),
        state.background_jobs,
    )
    .await?;
    Ok(answer(submitted))
}

/// Whether the body's media type is one upload reads (text/csv or text/plain).
/// The request's media type, lower case, without parameters (None: no Content-Type).
pub(super) fn media_type(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("");
    Some(media.trim().to_ascii_lowercase())
}

pub(super) fn is_text_media(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|media| media == "text/csv" || media == "text/plain")
}

/// Refuses a body that is not text/csv or text/plain (415, with `message`).
pub(super) fn check_text_media(headers: &HeaderMap, message: &str) -> Result<(), UploadError> {
    if !is_text_media(headers) {
        return Err(Error::new(ErrorCode::UnsupportedMediaType, message).into());
    }
    Ok(())
}

/// Receives an upload into the spool within the upload limits: a free upload slot,
/// the declared and the actual size, the spool's room. Returns the file, its size and
/// the idempotency record of the request (`route` with the body's digest), holding
/// the upload slot.
pub(super) async fn receive(
    state: &AppState,
    caller_id: &str,
    key: Option<String>,
    route: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Received, UploadError> {
    // Refused before a byte of the body is read (a client that sent
    // `Expect: 100-continue` never sends it).
    let slot = state.spool.upload_slot()?;
    if let Some(declared) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        state.spool.check_declared(declared)?;
    }
    let (spooled, size, digest) = spool(body, &state.spool).await?;
    let idem = key.map(|key| Idempotency {
        caller: caller_id.to_string(),
        key,
        fingerprint: fingerprint(route, &digest),
    });
    Ok(Received {
        spooled,
        size,
        idem,
        _slot: slot,
    })
}

/// An upload received into the spool; its upload slot is held until this is dropped.
pub(super) struct Received {
    pub spooled: SpoolFile,
    pub size: u64,
    pub idem: Option<Idempotency>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Writes the request body to a new spool file as it arrives, within the upload
/// limits; returns the file, its size and SHA-256. On any refusal it stops reading,
/// and the partial file leaves the spool (dropped).
async fn spool(body: Body, spool: &Spool) -> ApiResult<(SpoolFile, u64, Vec<u8>)> {
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncWriteExt;

    let io = |e: std::io::Error| ApiError(Error::internal(format!("spool upload: {e}")));
    let limits = *spool.limits();
    let (mut spooled, file) = spool.create()?;
    let mut file = tokio::fs::File::from_std(file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let deadline = Instant::now() + limits.upload_timeout;
    let mut stream = body.into_data_stream();
    loop {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(UPLOAD_IDLE);
        let chunk = match tokio::time::timeout(wait, stream.next()).await {
            Ok(None) => break,
            Ok(Some(chunk)) => {
                chunk.map_err(|_| ApiError(Error::invalid("body", "the upload was interrupted")))?
            }
            Err(_) => {
                return Err(ApiError(Error::invalid(
                    "body",
                    format!(
                        "the upload did not arrive in time (all of it within {} s, and no \
                         pause over {} s); nothing was stored",
                        limits.upload_timeout.as_secs(),
                        UPLOAD_IDLE.as_secs()
                    ),
                )));
            }
        };
        size += chunk.len() as u64;
        if size > limits.max_upload_bytes {
            return Err(ApiError(spool.too_large()));
        }
        spooled.grow(chunk.len() as u64)?;
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    Ok((spooled, size, hasher.finalize().to_vec()))
}

/// Export a book's codes
///
/// Every code of the book as a CSV stream, in constant memory. A cell starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`, so
/// spreadsheets do not run it as a formula.
#[utoipa::path(get, path = "/v1/books/{book_id}/codes/export", tag = "codes",
    params(("book_id" = String, Path), ("status" = Option<CouponStatus>, Query),
        ("assigned_to" = Option<String>, Query, description = "Only the codes assigned to this user")),
    responses((status = 200, description = "CSV: code,status,assigned_to,redemption_count,created_at,starts_at,expires_at,metadata,reward (metadata and reward as JSON); uploads into an empty book as it is", body = String, content_type = "text/csv"),
        (status = 400, description = "invalid_request: status, assigned_to", body = ErrorBody),
        (status = 404, description = "book_not_found", body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    Id(book_id): Id,
    params: Params,
) -> ApiResult<Response> {
    let filter = jobs::ExportFilter {
        status: status_filter(&params)?,
        assigned_to: match params.get("assigned_to") {
            Some(user_id) => {
                super::coupons::check_user(user_id).map_err(|_| {
                    ApiError(Error::invalid(
                        "assigned_to",
                        "assigned_to must be 1..255 characters without control characters",
                    ))
                })?;
                Some(user_id.to_string())
            }
            None => None,
        },
    };
    caller.see_book(&book_id)?;
    state.store.get_book(&book_id).await?;
    let store = state.store.clone();
    let pages = super::pages(None::<String>, move |cursor: Option<String>| {
        let store = store.clone();
        let book_id = book_id.clone();
        let filter = filter.clone();
        async move {
            let (rows, next) =
                jobs::export_page(&store, &book_id, &filter, cursor.as_deref()).await?;
            Ok((rows, next.map(Some)))
        }
    });
    Ok(super::csv_download("codes.csv", jobs::EXPORT_HEADER, pages))
}
