//! Pure rules and types of coupon-book. Nothing here knows about HTTP or storage.

pub mod apikey;
pub mod book;
pub mod bulk;
pub mod checkout;
pub mod coupon;
pub mod coupon_details;
pub mod error;
pub mod event;
pub mod export;
pub mod ids;
pub mod job;
pub mod order;
pub mod pattern;
pub mod reward;
pub mod stats;
pub mod tally;
pub mod time;
pub mod webhook;

pub use error::{Error, ErrorCode, Result};
pub use time::{Clock, Timestamp};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One page of a list, in creation order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// No items and nothing after them.
    pub fn empty() -> Self {
        Page {
            data: Vec::new(),
            next_cursor: None,
        }
    }
}

pub const DEFAULT_PAGE_LIMIT: u32 = 100;
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Where a list starts and how much it returns. Cursors are opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Return items strictly after this position.
    pub after: Option<i64>,
    pub limit: u32,
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        PageRequest { after: None, limit }
    }

    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self> {
        let limit = match limit {
            None => DEFAULT_PAGE_LIMIT,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_LIMIT).contains(n))
                .ok_or_else(|| Error::invalid("limit", "limit must be 1..1000"))?,
        };
        let after = match cursor {
            None | Some("") => None,
            Some(text) => Some(
                decode_cursor(text).ok_or_else(|| Error::invalid("cursor", "unknown cursor"))?,
            ),
        };
        Ok(PageRequest { after, limit })
    }
}

pub fn encode_cursor(position: i64) -> String {
    format!("c{position:x}")
}

pub fn decode_cursor(text: &str) -> Option<i64> {
    i64::from_str_radix(text.strip_prefix('c')?, 16)
        .ok()
        .filter(|n| *n >= 0)
}

/// Builds a page from up to `limit + 1` items fetched with their positions.
pub fn page_of<T>(mut items: Vec<(i64, T)>, limit: u32) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|(pos, _)| encode_cursor(*pos))
    } else {
        None
    };
    Page {
        data: items.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
    }
}
