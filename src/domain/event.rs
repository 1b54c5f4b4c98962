//! The change feed: every change appends one event in the same atomic step.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::time::Timestamp;

pub const BOOK_CREATED: &str = "book.created";
pub const BOOK_UPDATED: &str = "book.updated";
pub const BOOK_DELETED: &str = "book.deleted";
pub const BOOK_CODES_ADDED: &str = "book.codes_added";
pub const BOOK_EXHAUSTED: &str = "book.exhausted";
pub const COUPON_ASSIGNED: &str = "coupon.assigned";
pub const COUPON_UNASSIGNED: &str = "coupon.unassigned";
pub const COUPON_LOCKED: &str = "coupon.locked";
pub const COUPON_UNLOCKED: &str = "coupon.unlocked";
pub const COUPON_LOCK_EXPIRED: &str = "coupon.lock_expired";
pub const COUPON_REDEEMED: &str = "coupon.redeemed";
pub const COUPON_VOIDED: &str = "coupon.voided";
pub const REDEMPTION_REVERSED: &str = "redemption.reversed";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: Timestamp,
    /// The object after the change: a Book, a Coupon or a Redemption.
    #[schema(value_type = Object)]
    pub data: Value,
}
