//! The redemption export, read page by page so memory stays constant however many
//! redemptions there are.

use crate::domain::apikey::BookAccess;
use crate::domain::export::redemption_rows;
use crate::domain::{Error, PageRequest, Result, decode_cursor};
use crate::store::{DynStore, RedemptionFilter};

/// Redemptions read per page while exporting.
pub const EXPORT_PAGE: u32 = 1000;

/// The export rows of the page after `after` (None: the first) that `books` allows,
/// with the position to read the next page after (None: that was the last).
pub async fn redemption_page(
    store: &DynStore,
    filter: &RedemptionFilter,
    books: &BookAccess,
    after: Option<i64>,
) -> Result<(Vec<u8>, Option<i64>)> {
    let mut page = store
        .list_redemptions(
            filter.clone(),
            PageRequest {
                after,
                limit: EXPORT_PAGE,
            },
        )
        .await?;
    let next = match page.next_cursor.as_deref() {
        None => None,
        Some(cursor) => Some(
            decode_cursor(cursor)
                .ok_or_else(|| Error::internal("the store gave an unreadable cursor"))?,
        ),
    };
    books.retain(&mut page.data, |r| Some(r.book_id.as_str()));
    Ok((redemption_rows(&page.data), next))
}
