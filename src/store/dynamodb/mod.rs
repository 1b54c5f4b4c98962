//! The distributed store: one DynamoDB table (single-table design, `docs/dynamodb.md`).
//!
//! Every write follows the same pattern: read the items a decision needs with strongly
//! consistent reads, let the domain rules decide, then commit ONE `TransactWriteItems`
//! whose condition expressions pin exactly the facts the decision relied on (a
//! coupon's lock version, its redemption count against the limit, a user's counter
//! against their limit, the book budget, the idempotency key). When a condition fails,
//! the state changed under us: read again and decide again, a bounded number of times.
//! Throttling and `TransactionConflict` resend the same request (same
//! `ClientRequestToken`, so a commit whose answer was lost is not applied twice) with
//! jittered exponential backoff; past the bound the caller gets `store_busy`.
//!
//! SDK errors are logged here and never passed to clients.

mod attr;
mod books;
mod bulk;
mod client;
mod codes;
mod coupons;
mod decide;
mod events;
mod expr;
#[cfg(test)]
mod faults;
mod keys;
mod outbox;
mod redeem;
mod redeem_many;
mod redemptions;
mod schema;
mod state;
mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use super::prelude::*;
use crate::domain::{Clock, Error, Result};

pub use client::Capacity;
#[cfg(test)]
pub use faults::Fault;
pub use outbox::{EVENT_SHARDS, stream_event};
pub use schema::{INDEXES, create_table};
pub use state::AVAILABLE_SHARDS;

use attr::key;
use client::CapacityMeter;
#[cfg(test)]
use faults::Faults;
use state::BookState;

pub struct DynamoStore {
    client: Client,
    table: String,
    meter: Arc<CapacityMeter>,
    #[cfg(test)]
    faults: Arc<Faults>,
    /// Event ids: ULIDs from one monotonic generator, so this process's events are
    /// strictly ordered even within a millisecond.
    event_ids: Mutex<ulid::Generator>,
    /// Book settings as last read, by book id. Redeem decides on them without reading
    /// the book; its transaction checks the settings version, so outdated settings
    /// only cost a second, fully read attempt.
    books: Mutex<HashMap<String, BookState>>,
    /// The book of each code read lately (a code's book never changes; a code made
    /// again in another book fails the transaction's `book` condition).
    code_books: Mutex<HashMap<String, String>>,
    /// The time of every decision.
    clock: Clock,
    /// Idempotency records older than this answer no replay; DynamoDB's TTL deletes
    /// them (its `ttl` attribute is set from this too).
    idempotency_ttl: crate::store::IdempotencyTtl,
}

/// Books whose settings are kept in memory; past it the memory starts over.
const KNOWN_BOOKS: usize = 10_000;

/// Codes whose book is kept in memory, likewise.
const KNOWN_CODES: usize = 100_000;

/// An SDK client for a given endpoint with fixed test credentials (local servers).
pub fn local_client(endpoint: &str) -> Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "static"))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts())
        .build();
    Client::from_conf(config)
}

fn timeouts() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .build()
}

impl DynamoStore {
    /// A store on `table` with the standard AWS settings: `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, the default credential chain. Retries are ours, not the
    /// SDK's, so that their bound and the `store_busy` answer are in one place.
    pub async fn from_env(table: &str) -> Result<Self> {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let config = aws_sdk_dynamodb::config::Builder::from(&shared)
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .timeout_config(timeouts())
            .build();
        Self::with_client(Client::from_conf(config), table)
    }

    pub fn with_client(client: Client, table: &str) -> Result<Self> {
        if table.is_empty() {
            return Err(Error::invalid(
                "store",
                "dynamodb:<table> needs a table name",
            ));
        }
        Ok(DynamoStore {
            client,
            table: table.to_string(),
            meter: Arc::new(CapacityMeter::default()),
            #[cfg(test)]
            faults: Arc::new(Faults::default()),
            event_ids: Mutex::new(ulid::Generator::new()),
            books: Mutex::new(HashMap::new()),
            code_books: Mutex::new(HashMap::new()),
            clock: Clock::system(),
            idempotency_ttl: crate::store::IdempotencyTtl::default(),
        })
    }

    /// The same store remembering `Idempotency-Key`s for `ttl`.
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = crate::store::IdempotencyTtl::new(ttl);
        self
    }

    /// The same store deciding on `clock`'s time (tests replay expiry with it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests and consumed capacity so far (for the capacity bench).
    pub fn capacity(&self) -> Capacity {
        self.meter.snapshot()
    }

    /// Creates the table with its indexes, waits until it is active, then turns on TTL
    /// (idempotency records) and point-in-time recovery where the endpoint allows.
    /// Returns false when the table already existed.
    ///
    /// Without `stream` the table has no stream: serving from the outbox needs none,
    /// only the Lambda streams function reads it.
    pub async fn create_table(&self, stream: bool) -> Result<bool> {
        create_table(&self.client, &self.table, stream).await
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn ping(&self) -> Result<()> {
        self.get(key("PING", "PING")).await.map(|_| ())
    }

    /// DynamoDB's TTL deletes expired records (the table is made with TTL on `ttl`).
    async fn forget_expired_idempotency(&self, _limit: u32) -> Result<u64> {
        Ok(0)
    }
}

#[cfg(test)]
impl DynamoStore {
    /// Makes the next transactions fail with these faults, in order (tests).
    pub fn inject_faults(&self, faults: &[Fault]) {
        if let Ok(mut queue) = self.faults.queue.lock() {
            queue.extend_from_slice(faults);
        }
    }

    /// Faults injected so far.
    pub fn injected_faults(&self) -> u64 {
        self.faults
            .injected
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
