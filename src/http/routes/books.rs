//! `/v1/books`: coupon books and their statistics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::domain::book::{Book, CreateBook, UpdateBook};
use crate::domain::stats::{BookStats, Bucket};
use crate::domain::{Error, Page};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Auth, BooksRead, BooksWrite, Id, JsonBody, Params};

/// Create a book
///
/// A new book starts as `draft` unless `status` says otherwise.
#[utoipa::path(post, path = "/v1/books", tag = "books",
    request_body = CreateBook,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replay protection")),
    responses((status = 201, description = "Book created", body = Book),
        (status = 403, description = "forbidden: the token lacks the scope, or is a key limited to books", body = ErrorBody)))]
pub async fn create_book(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    body: JsonBody<CreateBook>,
) -> ApiResult<(StatusCode, Json<Book>)> {
    // A key limited to books makes none: it would not see it.
    caller.require_every_book()?;
    let write = body.write();
    let settings = body.value.into_settings()?;
    let book = state.store.create_book(settings, write).await?;
    Ok((StatusCode::CREATED, Json(book)))
}

/// List books
///
/// A key limited to books lists only those (a page may then hold fewer than `limit`
/// books while more follow: read on until `next_cursor` is null).
#[utoipa::path(get, path = "/v1/books", tag = "books",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Books in creation order", body = Page<Book>)))]
pub async fn list_books(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    params: Params,
) -> ApiResult<Json<Page<Book>>> {
    let mut page = state.store.list_books(params.page()?).await?;
    caller
        .books
        .retain(&mut page.data, |book| Some(book.id.as_str()));
    Ok(Json(page))
}

/// Get a book
///
/// Its settings and live counts.
#[utoipa::path(get, path = "/v1/books/{book_id}", tag = "books",
    params(("book_id" = String, Path)),
    responses((status = 200, description = "The book", body = Book),
        (status = 404, description = "book_not_found", body = ErrorBody)))]
pub async fn get_book(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    Id(book_id): Id,
) -> ApiResult<Json<Book>> {
    caller.see_book(&book_id)?;
    Ok(Json(state.store.get_book(&book_id).await?))
}

/// Update a book
///
/// Absent fields stay as they are; `status` moves along draft, active, paused,
/// archived (archived is final).
#[utoipa::path(patch, path = "/v1/books/{book_id}", tag = "books",
    params(("book_id" = String, Path)),
    request_body = UpdateBook,
    responses((status = 200, description = "The updated book", body = Book),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "invalid_status_transition", body = ErrorBody)))]
pub async fn update_book(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    Id(book_id): Id,
    body: JsonBody<UpdateBook>,
) -> ApiResult<Json<Book>> {
    body.value.check_fields()?;
    caller.see_book(&book_id)?;
    let write = body.write();
    Ok(Json(
        state.store.update_book(&book_id, body.value, write).await?,
    ))
}

/// Delete a book
///
/// Only while nothing in it was ever assigned or redeemed; archive it otherwise.
#[utoipa::path(delete, path = "/v1/books/{book_id}", tag = "books",
    params(("book_id" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "book_not_found", body = ErrorBody),
        (status = 409, description = "book_in_use: codes were assigned or redeemed; archive instead", body = ErrorBody)))]
pub async fn delete_book(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksWrite>,
    Id(book_id): Id,
) -> ApiResult<StatusCode> {
    caller.see_book(&book_id)?;
    state
        .store
        .delete_book(&book_id, caller.write(None))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Book statistics
///
/// Counts by status, redemptions per hour or day, and the top users.
#[utoipa::path(get, path = "/v1/books/{book_id}/stats", tag = "books",
    params(("book_id" = String, Path), ("bucket" = Option<Bucket>, Query, description = "hour (default) or day")),
    responses((status = 200, description = "Counts, redemptions over time, top users", body = BookStats),
        (status = 404, description = "book_not_found", body = ErrorBody)))]
pub async fn book_stats(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    Id(book_id): Id,
    params: Params,
) -> ApiResult<Json<BookStats>> {
    let bucket = match params.get("bucket") {
        None | Some("hour") => Bucket::Hour,
        Some("day") => Bucket::Day,
        Some(_) => return Err(ApiError(Error::invalid("bucket", "bucket is hour or day"))),
    };
    caller.see_book(&book_id)?;
    Ok(Json(state.store.book_stats(&book_id, bucket).await?))
}
