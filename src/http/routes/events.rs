//! `/v1/events`: the change feed, in commit order, filtered by index.

use axum::Json;
use axum::extract::State;

use crate::domain::event::{Event, EventFilter, EventType};
use crate::domain::{Page, PageRequest};
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{Auth, EventsRead, Params};

/// List events
///
/// Changes to books, coupons and redemptions, oldest first, each with its actor.
/// Filters combine (all must match) and each is read from an index, never by reading
/// the whole feed; a filtered page may hold fewer than `limit` events while more
/// follow, so read on until `next_cursor` is null. A key limited to books sees only
/// their events (same paging).
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(("after" = Option<String>, Query, description = "Return events after this event id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "Same as after"),
        ("type" = Option<Vec<EventType>>, Query, style = Form, explode,
            description = "Only events of these types (repeatable: `type=coupon.redeemed&type=redemption.reversed`)"),
        ("book_id" = Option<String>, Query, description = "Only events about this book: the book's own and those of its coupons and redemptions"),
        ("code" = Option<String>, Query, description = "Only events about this coupon code (any case)"),
        ("user_id" = Option<String>, Query, description = "Only events about this user: assignments to and from them, their locks, redemptions and reversals, and changes to coupons assigned to them")),
    responses((status = 200, description = "Events, oldest first; next_cursor is the last event id read", body = Page<Event>),
        (status = 400, description = "invalid_request: an unknown `type` (field `type`), an empty filter, a bad `limit` or an unknown `after` id", body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<EventsRead>,
    params: Params,
) -> ApiResult<Json<Page<Event>>> {
    caller.require_service()?;
    let limit = PageRequest::parse(params.get("limit"), None)?.limit;
    let after = params.get("after").or(params.get("cursor"));
    let mut filter = EventFilter::new(
        &params.all("type"),
        params.filter("book_id")?,
        params.filter("code")?,
        params.filter("user_id")?,
    )?;
    // A key limited to books reads its one book's index, or filters what it reads.
    let Ok(book_id) = caller.books.narrow(filter.book_id.take()) else {
        return Ok(Json(Page::empty()));
    };
    filter.book_id = book_id;
    let mut page = state.store.find_events(&filter, after, limit).await?;
    caller.books.retain(&mut page.data, |e| e.book_id());
    Ok(Json(page))
}
