//! Which store to open, and the settings of the DynamoDB store.

use std::time::Duration;

use clap::{ArgAction, Args};

use super::values::{positive_hours, switch_off_when_empty, switch_on_when_empty};
use crate::domain::Result;
use crate::store::{self, DynStore};

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// `sqlite:<file>` (embedded, default) or `dynamodb:<table>`.
    #[arg(
        long,
        env = "COUPON_BOOK_STORE",
        default_value = "sqlite:coupon-book.db"
    )]
    pub store: String,

    /// How long an `Idempotency-Key` is remembered: a replay within it gets the first
    /// answer; after it the key is free again and its record is deleted.
    #[arg(
        long,
        env = "COUPON_BOOK_IDEMPOTENCY_TTL_HOURS",
        value_name = "HOURS",
        default_value = "24",
        value_parser = positive_hours
    )]
    pub idempotency_ttl_hours: Duration,

    #[command(flatten)]
    pub dynamodb: DynamoArgs,
}

/// Settings of a `dynamodb:<table>` store (ignored by the embedded store).
#[derive(Debug, Clone, Args)]
pub struct DynamoArgs {
    /// Create the DynamoDB table (indexes, TTL, point-in-time recovery) at start-up
    /// when it does not exist yet.
    #[arg(
        long,
        env = "COUPON_BOOK_DYNAMODB_CREATE_TABLE",
        value_name = "on|off",
        action = ArgAction::Set,
        default_value = "off",
        value_parser = switch_off_when_empty
    )]
    pub dynamodb_create_table: bool,

    #[command(flatten)]
    pub stream: StreamArgs,
}

/// Whether tables made by coupon-book get a DynamoDB stream.
#[derive(Debug, Clone, Copy, Args)]
pub struct StreamArgs {
    /// Give tables made by coupon-book a stream (read only by the Lambda streams
    /// function; `serve` delivers webhooks from the outbox and needs none).
    #[arg(
        long,
        env = "COUPON_BOOK_DYNAMODB_STREAM",
        value_name = "on|off",
        action = ArgAction::Set,
        default_value = "on",
        value_parser = switch_on_when_empty
    )]
    pub dynamodb_stream: bool,
}

impl StoreArgs {
    /// Opens the store these settings name: the one place commands open a store.
    pub async fn open(&self) -> Result<DynStore> {
        let options = store::OpenOptions {
            create_table: self.dynamodb.dynamodb_create_table,
            stream: self.dynamodb.stream.dynamodb_stream,
            idempotency_ttl: self.idempotency_ttl_hours,
        };
        store::open(&self.store, options).await
    }
}
