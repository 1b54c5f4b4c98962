//! Book statistics for dashboards.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::book::Counts;
use super::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn millis(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RedemptionBucket {
    pub start: Timestamp,
    pub redeemed: u64,
    pub reversed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopUser {
    pub user_id: String,
    /// Net redemptions (reversals deducted).
    pub redemptions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BookStats {
    pub counts: Counts,
    pub redemptions: Vec<RedemptionBucket>,
    pub top_users: Vec<TopUser>,
}
