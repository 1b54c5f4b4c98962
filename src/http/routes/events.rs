//! `/v1/events`: the change feed, in commit order.

use axum::Json;
use axum::extract::State;

use crate::domain::event::Event;
use crate::domain::{Page, PageRequest};
use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::http::extract::{Auth, EventsRead, Params};

/// List events
///
/// Changes to books, coupons and redemptions, oldest first.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(("after" = Option<String>, Query, description = "Return events after this event id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "Same as after")),
    responses((status = 200, description = "Events, oldest first; next_cursor is the last event id", body = Page<Event>)))]
pub async fn list_events(
    State(state): State<AppState>,
    Auth { caller, .. }: Auth<EventsRead>,
    params: Params,
) -> ApiResult<Json<Page<Event>>> {
    caller.require_service()?;
    let limit = PageRequest::parse(params.get("limit"), None)?.limit;
    let after = params.get("after").or(params.get("cursor"));
    Ok(Json(state.store.list_events(after, limit).await?))
}
