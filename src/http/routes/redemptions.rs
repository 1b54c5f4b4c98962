//! `/v1/redemptions` and `/v1/users/{user_id}/...`: what was redeemed, by whom.

use axum::Json;
use axum::extract::State;
use axum::response::Response;

use super::codes::status_filter;
use super::coupons::check_user;
use crate::app::{access, exports};
use crate::domain::Page;
use crate::domain::coupon::{Coupon, CouponStatus, Redemption};
use crate::domain::export::{REDEMPTION_EXPORT_HEADER, RedemptionWindow};
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, BooksRead, CouponRead, Id, JsonBody, NoFields, Params, Redeem};
use crate::store::RedemptionFilter;

/// Reverse a redemption
///
/// Gives the use back, e.g. when the order was cancelled.
#[utoipa::path(post, path = "/v1/redemptions/{redemption_id}/reverse", tag = "redemptions",
    params(("redemption_id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "Reversed: the use is given back", body = Redemption),
        (status = 404, description = "redemption_not_found", body = ErrorBody),
        (status = 409, description = "redemption_already_reversed", body = ErrorBody)))]
pub async fn reverse(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<Redeem>,
    Id(redemption_id): Id,
    body: JsonBody<NoFields>,
) -> ApiResult<Json<Redemption>> {
    caller.require_service()?;
    if caller.books.is_limited() {
        access::redemption(&state.store, &caller.books, &redemption_id).await?;
    }
    Ok(Json(
        state.store.reverse(&redemption_id, body.write()).await?,
    ))
}

/// Get a redemption
#[utoipa::path(get, path = "/v1/redemptions/{redemption_id}", tag = "redemptions",
    params(("redemption_id" = String, Path)),
    responses((status = 200, description = "The redemption", body = Redemption),
        (status = 404, description = "redemption_not_found", body = ErrorBody)))]
pub async fn get_redemption(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    Id(redemption_id): Id,
) -> ApiResult<Json<Redemption>> {
    Ok(Json(
        access::redemption(&state.store, &caller.books, &redemption_id).await?,
    ))
}

/// List redemptions
///
/// A key limited to books lists only theirs (a page may then hold fewer than `limit`
/// redemptions while more follow: read on until `next_cursor` is null).
#[utoipa::path(get, path = "/v1/redemptions", tag = "redemptions",
    params(("book_id" = Option<String>, Query), ("user_id" = Option<String>, Query), ("code" = Option<String>, Query),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Redemptions in creation order", body = Page<Redemption>)))]
pub async fn list_redemptions(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    params: Params,
) -> ApiResult<Json<Page<Redemption>>> {
    let book_id = params.filter("book_id")?;
    let user_id = params.filter("user_id")?;
    let code = params.filter("code")?.map(|c| c.to_ascii_uppercase());
    let page = params.page()?;
    // A book outside the caller's lists nothing, like a book that does not exist.
    let Ok(book_id) = caller.books.narrow(book_id) else {
        return Ok(Json(Page::empty()));
    };
    let filter = RedemptionFilter {
        book_id,
        user_id,
        code,
        ..RedemptionFilter::default()
    };
    let mut page = state.store.list_redemptions(filter, page).await?;
    caller
        .books
        .retain(&mut page.data, |r| Some(r.book_id.as_str()));
    Ok(Json(page))
}

/// Export redemptions as CSV
///
/// Every redemption (of one book with `book_id`), oldest first, streamed in constant
/// memory. `from` and `to` bound `redeemed_at` (from inclusive, to exclusive). A cell
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a
/// leading `'`, so spreadsheets do not run it as a formula. The order columns are
/// empty while redemptions carry no order.
#[utoipa::path(get, path = "/v1/redemptions/export", tag = "redemptions",
    params(("book_id" = Option<String>, Query, description = "Only this book's redemptions"),
        ("from" = Option<String>, Query, format = DateTime, description = "Redeemed at or after this time (RFC 3339)"),
        ("to" = Option<String>, Query, format = DateTime, description = "Redeemed before this time (RFC 3339)")),
    responses((status = 200, description = "CSV: id,code,book_id,user_id,status,redeemed_at,reversed_at,order_id,order_amount,currency,discount_amount", body = String, content_type = "text/csv"),
        (status = 404, description = "book_not_found (book_id filter)", body = ErrorBody)))]
pub async fn export_redemptions(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<BooksRead>,
    params: Params,
) -> ApiResult<Response> {
    let book_id = params.filter("book_id")?;
    let redeemed = RedemptionWindow::parse(params.get("from"), params.get("to"))?;
    if let Some(book_id) = &book_id {
        caller.see_book(book_id)?;
        state.store.get_book(book_id).await?;
    }
    let books = caller.books;
    let filter = RedemptionFilter {
        book_id,
        redeemed,
        ..RedemptionFilter::default()
    };
    let store = state.store.clone();
    let pages = super::pages(None::<i64>, move |after: Option<i64>| {
        let store = store.clone();
        let filter = filter.clone();
        let books = books.clone();
        async move {
            let (rows, next) = exports::redemption_page(&store, &filter, &books, after).await?;
            Ok((rows, next.map(Some)))
        }
    });
    Ok(super::csv_download(
        "redemptions.csv",
        REDEMPTION_EXPORT_HEADER,
        pages,
    ))
}

/// List a user's coupons
#[utoipa::path(get, path = "/v1/users/{user_id}/coupons", tag = "users",
    params(("user_id" = String, Path), ("book_id" = Option<String>, Query), ("status" = Option<CouponStatus>, Query),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Every coupon assigned to the user, in assignment order", body = Page<Coupon>),
        (status = 404, description = "book_not_found (book_id filter)", body = ErrorBody)))]
pub async fn user_coupons(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<CouponRead>,
    Id(user_id): Id,
    params: Params,
) -> ApiResult<Json<Page<Coupon>>> {
    check_user(&user_id)?;
    let status = status_filter(&params)?;
    let page = params.page()?;
    let book_id = params.filter("book_id")?;
    caller.may_act_for(&user_id)?;
    if let Some(book_id) = &book_id {
        caller.see_book(book_id)?;
    }
    let mut page = state
        .store
        .user_coupons(&user_id, book_id.as_deref(), status, page)
        .await?;
    caller
        .books
        .retain(&mut page.data, |c| Some(c.book_id.as_str()));
    Ok(Json(page))
}

/// List a user's redemptions
#[utoipa::path(get, path = "/v1/users/{user_id}/redemptions", tag = "users",
    params(("user_id" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "The user's redemptions", body = Page<Redemption>)))]
pub async fn user_redemptions(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<CouponRead>,
    Id(user_id): Id,
    params: Params,
) -> ApiResult<Json<Page<Redemption>>> {
    check_user(&user_id)?;
    let page = params.page()?;
    caller.may_act_for(&user_id)?;
    let filter = RedemptionFilter {
        user_id: Some(user_id),
        ..RedemptionFilter::default()
    };
    let mut page = state.store.list_redemptions(filter, page).await?;
    caller
        .books
        .retain(&mut page.data, |r| Some(r.book_id.as_str()));
    Ok(Json(page))
}
