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

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, ConsumedCapacity, Delete,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes,
    PointInTimeRecoverySpecification, Projection, ProjectionType, Put, ReturnConsumedCapacity,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Idempotency, RedeemRequest, RedemptionFilter, Store, Validation};
use crate::domain::apikey::{ApiKey, Scope};
use crate::domain::book::{Book, BookSettings, Counts, UpdateBook};
use crate::domain::coupon::{
    self, AssignPlan, BaseStatus, Coupon, CouponRecord, CouponStatus, Lock, LockPlan, RedeemPlan,
    Redemption, RedemptionStatus, UseContext, UserUsage,
};
use crate::domain::event::{self, Event};
use crate::domain::ids::new_id;
use crate::domain::job::{BatchOutcome, CodeIntake, Job, JobKind, JobStatus};
use crate::domain::stats::{BookStats, Bucket, RedemptionBucket, TopUser};
use crate::domain::{Clock, Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};

mod webhooks;

/// Shards of the available-codes index per book: concurrent `assign-next` callers
/// start on different partitions of the index and pick at random among candidates.
pub const AVAILABLE_SHARDS: u32 = 8;
/// Partitions of the event outbox; readers merge them by event id.
pub const EVENT_SHARDS: u32 = 4;
/// Codes per upload transaction (the 100-action limit, less the counter update and the
/// book check).
const CODES_PER_TRANSACTION: usize = 98;
/// Resends of one request after throttling or a transaction conflict.
const MAX_TRANSIENT_RETRIES: u32 = 8;
/// Fresh decisions after a failed condition (the state moved under us).
const MAX_DECISIONS: u32 = 40;
/// Idempotency records are kept this long, then DynamoDB TTL deletes them.
const IDEMPOTENCY_TTL_SECONDS: i64 = 7 * 86_400;

pub const INDEXES: [&str; 4] = ["GSI1", "GSI2", "GSI3", "GSI4"];

type Item = HashMap<String, AttributeValue>;

// ---------------------------------------------------------------------------------
// Attribute helpers

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

/// Sort-key form of a position: zero-padded so text order is numeric order.
fn pad(position: i64) -> String {
    format!("{:020}", position.max(0))
}

fn corrupt(what: &str) -> Error {
    tracing::error!(attribute = what, "malformed item in DynamoDB");
    Error::internal("storage error")
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Some(text.clone()),
        _ => None,
    }
}

fn get_s(item: &Item, name: &str) -> Result<String> {
    opt_s(item, name).ok_or_else(|| corrupt(name))
}

fn opt_n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text.parse().ok(),
        _ => None,
    }
}

fn get_n(item: &Item, name: &str) -> Result<i64> {
    opt_n(item, name).ok_or_else(|| corrupt(name))
}

fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("encode: {e}")))
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        tracing::error!(error = %e, "undecodable JSON in DynamoDB item");
        Error::internal("storage error")
    })
}

fn built<T>(result: std::result::Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T> {
    result.map_err(|e| {
        tracing::error!(error = %e, "invalid DynamoDB request");
        Error::internal("storage error")
    })
}

/// A time-ordered i64 position for lists in creation order (redemptions, user
/// assignments): milliseconds in the high bits, randomness below so two items of the
/// same millisecond keep distinct positions.
fn time_position(now: Timestamp) -> i64 {
    let random: i64 = rand::rng().random_range(0..(1 << 20));
    (now.millis().max(0) << 20) | random
}

fn busy() -> Error {
    Error::new(ErrorCode::StoreBusy, "the store is busy, try again")
}

// ---------------------------------------------------------------------------------
// Expressions

/// Builds one update or condition: every attribute name and value goes through a
/// placeholder, so reserved words and user data never reach the expression text.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    sets: Vec<String>,
    removes: Vec<String>,
    adds: Vec<String>,
    conditions: Vec<String>,
}

impl Expr {
    fn new() -> Self {
        Expr::default()
    }

    /// `#n0.#n1...` for a document path.
    fn path(&mut self, parts: &[&str]) -> String {
        parts
            .iter()
            .map(|part| {
                let existing = self
                    .names
                    .iter()
                    .find(|(_, v)| v.as_str() == *part)
                    .map(|(k, _)| k.clone());
                existing.unwrap_or_else(|| {
                    let placeholder = format!("#n{}", self.names.len());
                    self.names.insert(placeholder.clone(), part.to_string());
                    placeholder
                })
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    fn val(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn set(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        let path = self.path(&[name]);
        let value = self.val(value);
        self.sets.push(format!("{path} = {value}"));
        self
    }

    fn set_path(&mut self, parts: &[&str], value: AttributeValue) -> &mut Self {
        let path = self.path(parts);
        let value = self.val(value);
        self.sets.push(format!("{path} = {value}"));
        self
    }

    /// `name = name + 1`: bumps a version attribute.
    fn bump(&mut self, name: &str) -> &mut Self {
        let path = self.path(&[name]);
        let one = self.val(n(1));
        self.sets.push(format!("{path} = {path} + {one}"));
        self
    }

    fn remove(&mut self, parts: &[&str]) -> &mut Self {
        let path = self.path(parts);
        self.removes.push(path);
        self
    }

    fn add(&mut self, name: &str, delta: i64) -> &mut Self {
        if delta != 0 {
            let path = self.path(&[name]);
            let value = self.val(n(delta));
            self.adds.push(format!("{path} {value}"));
        }
        self
    }

    /// A condition with `{}` placeholders for `name` then `value`, e.g. `{} = {}`.
    fn cond(&mut self, name: &str, op: &str, value: AttributeValue) -> &mut Self {
        let path = self.path(&[name]);
        let value = self.val(value);
        self.conditions.push(format!("{path} {op} {value}"));
        self
    }

    fn cond_path(&mut self, parts: &[&str], op: &str, value: AttributeValue) -> &mut Self {
        let path = self.path(parts);
        let value = self.val(value);
        self.conditions.push(format!("{path} {op} {value}"));
        self
    }

    /// `name` (a map) holds `count` entries; with 0, or is absent.
    fn cond_entries(&mut self, name: &str, count: i64) -> &mut Self {
        let path = self.path(&[name]);
        let value = self.val(n(count));
        let sized = format!("size({path}) = {value}");
        self.conditions.push(if count == 0 {
            format!("(attribute_not_exists({path}) OR {sized})")
        } else {
            sized
        });
        self
    }

    fn cond_exists(&mut self, name: &str) -> &mut Self {
        let path = self.path(&[name]);
        self.conditions.push(format!("attribute_exists({path})"));
        self
    }

    fn cond_not_exists(&mut self, name: &str) -> &mut Self {
        let path = self.path(&[name]);
        self.conditions
            .push(format!("attribute_not_exists({path})"));
        self
    }

    /// `attribute_not_exists(name) OR name < value`: a counter below a limit.
    fn cond_below(&mut self, name: &str, limit: i64) -> &mut Self {
        let path = self.path(&[name]);
        let value = self.val(n(limit));
        self.conditions.push(format!(
            "(attribute_not_exists({path}) OR {path} < {value})"
        ));
        self
    }

    fn update_expression(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn condition_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    fn into_update(self, table: &str, key: Item) -> Result<TransactWriteItem> {
        let update = built(
            Update::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_update_expression(self.update_expression())
                .set_condition_expression(self.condition_expression())
                .set_expression_attribute_names(self.names())
                .set_expression_attribute_values(self.values())
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn into_check(self, table: &str, key: Item) -> Result<TransactWriteItem> {
        let check = built(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_condition_expression(self.condition_expression())
                .set_expression_attribute_names(self.names())
                .set_expression_attribute_values(self.values())
                .build(),
        )?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    fn into_delete(self, table: &str, key: Item) -> Result<TransactWriteItem> {
        let delete = built(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key))
                .set_condition_expression(self.condition_expression())
                .set_expression_attribute_names(self.names())
                .set_expression_attribute_values(self.values())
                .build(),
        )?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// A Put that only creates: fails if an item with this key exists.
fn put_new(table: &str, item: Item) -> Result<TransactWriteItem> {
    let put = built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build(),
    )?;
    Ok(TransactWriteItem::builder().put(put).build())
}

// ---------------------------------------------------------------------------------
// Capacity accounting and fault injection

/// Requests sent and capacity DynamoDB reported as consumed (`ReturnConsumedCapacity`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Capacity {
    pub requests: u64,
    pub write_requests: u64,
    pub read_requests: u64,
    pub write_units: f64,
    pub read_units: f64,
}

#[derive(Default)]
struct CapacityMeter {
    requests: AtomicU64,
    write_requests: AtomicU64,
    read_requests: AtomicU64,
    /// Thousandths of a unit.
    write_milli: AtomicU64,
    read_milli: AtomicU64,
}

impl CapacityMeter {
    fn record<'a>(&self, write: bool, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if write {
            self.write_requests.fetch_add(1, Ordering::Relaxed);
        } else {
            self.read_requests.fetch_add(1, Ordering::Relaxed);
        }
        for entry in consumed {
            let (mut read, mut written) = (
                entry.read_capacity_units().unwrap_or(0.0),
                entry.write_capacity_units().unwrap_or(0.0),
            );
            if read == 0.0 && written == 0.0 {
                let total = entry.capacity_units().unwrap_or(0.0);
                if write {
                    written = total;
                } else {
                    read = total;
                }
            }
            self.write_milli
                .fetch_add((written * 1000.0).round() as u64, Ordering::Relaxed);
            self.read_milli
                .fetch_add((read * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> Capacity {
        Capacity {
            requests: self.requests.load(Ordering::Relaxed),
            write_requests: self.write_requests.load(Ordering::Relaxed),
            read_requests: self.read_requests.load(Ordering::Relaxed),
            write_units: self.write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            read_units: self.read_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// An error to inject in place of the next `TransactWriteItems` answers (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `TransactionCanceledException` whose reasons say `TransactionConflict`.
    TransactionConflict,
    /// `ThrottlingException`.
    Throttling,
}

#[derive(Default)]
struct Faults {
    queue: Mutex<Vec<Fault>>,
    injected: AtomicU64,
}

impl Faults {
    fn next(&self) -> Option<Fault> {
        let mut queue = self.queue.lock().ok()?;
        if queue.is_empty() {
            return None;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(queue.remove(0))
    }
}

/// The fault as the SDK would hand it to us, so it goes through the same classifier as
/// a real answer.
fn injected_error(fault: Fault, actions: usize) -> SdkError<TransactWriteItemsError> {
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::{ThrottlingException, TransactionCanceledException};
    let error = match fault {
        Fault::TransactionConflict => {
            let mut reasons = vec![CancellationReason::builder().code("None").build(); actions];
            if let Some(first) = reasons.first_mut() {
                *first = CancellationReason::builder()
                    .code("TransactionConflict")
                    .message("Transaction is ongoing for the item")
                    .build();
            }
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .set_cancellation_reasons(Some(reasons))
                    .meta(
                        ErrorMetadata::builder()
                            .code("TransactionCanceledException")
                            .build(),
                    )
                    .build(),
            )
        }
        Fault::Throttling => TransactWriteItemsError::ThrottlingException(
            ThrottlingException::builder()
                .meta(ErrorMetadata::builder().code("ThrottlingException").build())
                .build(),
        ),
    };
    let response = match 400u16.try_into() {
        Ok(status) => HttpResponse::new(status, "".into()),
        Err(_) => return SdkError::timeout_error("injected fault"),
    };
    SdkError::service_error(error, response)
}

// ---------------------------------------------------------------------------------
// Errors from DynamoDB

/// What a failed request means for the caller.
#[derive(Debug)]
enum Failure {
    /// A condition failed: the state moved; decide again.
    Conditional,
    /// Throttling, a transaction conflict, a server error or a lost answer: send the
    /// same request again after a pause.
    Transient(String),
    /// The table or the endpoint cannot be reached.
    Unavailable(String),
    /// A bug or a misconfiguration: logged, `internal` to the client.
    Fatal(String),
}

const THROTTLING: [&str; 5] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "Throttling",
    "ThrottledException",
];

fn classify<E>(err: &SdkError<E>, reasons: Option<Vec<String>>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(err));
    match err {
        SdkError::ConstructionFailure(_) => Failure::Fatal(text),
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::Transient(text),
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() || failure.is_io() {
                Failure::Transient(text)
            } else {
                Failure::Unavailable(text)
            }
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("");
            if let Some(reasons) = reasons {
                let transient = reasons.iter().any(|r| {
                    matches!(
                        r.as_str(),
                        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                });
                if transient {
                    return Failure::Transient(format!("{text}: {reasons:?}"));
                }
                if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                    return Failure::Conditional;
                }
                return Failure::Fatal(format!("{text}: {reasons:?}"));
            }
            match code {
                "ConditionalCheckFailedException" => Failure::Conditional,
                "TransactionConflictException"
                | "TransactionInProgressException"
                | "InternalServerError"
                | "InternalFailure"
                | "ServiceUnavailable" => Failure::Transient(text),
                "ResourceNotFoundException" => Failure::Unavailable(text),
                _ if THROTTLING.contains(&code) => Failure::Transient(text),
                _ => Failure::Fatal(text),
            }
        }
        _ => Failure::Transient(text),
    }
}

/// Per action of a cancelled transaction: the reason code and, where asked for, the
/// item as it was.
fn transact_reasons(err: &TransactWriteItemsError) -> Option<Vec<(String, Option<Item>)>> {
    match err {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| (r.code().unwrap_or("None").to_string(), r.item().cloned()))
                .collect(),
        ),
        _ => None,
    }
}

/// Full-jitter exponential backoff: up to 10 ms, 20 ms, ... capped at 640 ms.
async fn backoff(attempt: u32) {
    let cap = 10u64 << attempt.min(6);
    let pause = rand::rng().random_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(pause)).await;
}

/// The outcome of a transaction.
enum Tx {
    Committed,
    /// Per-action cancellation reason codes, with the old item where asked for.
    Conditional(Vec<(String, Option<Item>)>),
}

// ---------------------------------------------------------------------------------
// The store

pub struct DynamoStore {
    client: Client,
    table: String,
    meter: Arc<CapacityMeter>,
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
            faults: Arc::new(Faults::default()),
            event_ids: Mutex::new(ulid::Generator::new()),
            books: Mutex::new(HashMap::new()),
            code_books: Mutex::new(HashMap::new()),
            clock: Clock::system(),
        })
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

    /// Makes the next transactions fail with these faults, in order (tests).
    pub fn inject_faults(&self, faults: &[Fault]) {
        if let Ok(mut queue) = self.faults.queue.lock() {
            queue.extend_from_slice(faults);
        }
    }

    /// Faults injected so far.
    pub fn injected_faults(&self) -> u64 {
        self.faults.injected.load(Ordering::Relaxed)
    }

    /// Creates the table with its indexes, waits until it is active, then turns on TTL
    /// (idempotency records) and point-in-time recovery where the endpoint allows.
    /// Returns false when the table already existed.
    ///
    /// `COUPON_BOOK_DYNAMODB_STREAM=off` leaves the stream out: serving from the
    /// outbox needs none, only the Lambda streams function reads it.
    pub async fn create_table(&self) -> Result<bool> {
        let stream = !std::env::var("COUPON_BOOK_DYNAMODB_STREAM").is_ok_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "off" | "0" | "false"
            )
        });
        create_table(&self.client, &self.table, stream).await
    }

    fn next_event_id(&self) -> Result<String> {
        let mut generator = self
            .event_ids
            .lock()
            .map_err(|_| Error::internal("event id generator poisoned"))?;
        // The generator fails only when 2^80 ids are made in one millisecond.
        let id = generator
            .generate()
            .map_err(|_| Error::internal("event id space exhausted"))?;
        Ok(format!("evt_{id}"))
    }

    /// An outbox item for an event, written in the transaction of its change.
    fn event_put<T: Serialize>(
        &self,
        event_type: &str,
        data: &T,
        now: Timestamp,
    ) -> Result<TransactWriteItem> {
        self.outbox_put(event_type, data, now, None)
    }

    /// An outbox item for a further event of a change, in the partition of the
    /// change's first event (keyed `order_key`): a reader of one partition then sees
    /// all of a change's events or none of them, never a later id without an earlier.
    fn event_put_beside<T: Serialize>(
        &self,
        event_type: &str,
        data: &T,
        now: Timestamp,
        order_key: &str,
    ) -> Result<TransactWriteItem> {
        self.outbox_put(event_type, data, now, Some(order_key))
    }

    fn outbox_put<T: Serialize>(
        &self,
        event_type: &str,
        data: &T,
        now: Timestamp,
        order_key: Option<&str>,
    ) -> Result<TransactWriteItem> {
        let event = Event {
            id: self.next_event_id()?,
            event_type: event_type.to_string(),
            created_at: now,
            data: serde_json::to_value(data)
                .map_err(|e| Error::internal(format!("encode an event: {e}")))?,
        };
        let shard = match order_key {
            Some(order_key) => shard_of(order_key),
            None => event_shard(&event),
        };
        let mut item = key(format!("EVT#{shard}"), event.id.clone());
        item.insert("id".into(), s(&event.id));
        item.insert("type".into(), s(event_type));
        item.insert("created_at".into(), n(now.millis()));
        item.insert("data".into(), s(event.data.to_string()));
        put_new(&self.table, item)
    }

    fn idem_key(idem: &Idempotency) -> Item {
        key(format!("IDEM#{}", idem.caller), idem.key.clone())
    }

    fn idem_put<T: Serialize>(
        &self,
        idem: &Idempotency,
        response: &std::result::Result<T, Error>,
        now: Timestamp,
    ) -> Result<TransactWriteItem> {
        let mut item = Self::idem_key(idem);
        item.insert("fp".into(), s(&idem.fingerprint));
        item.insert("resp".into(), s(to_json(response)?));
        item.insert("created_at".into(), n(now.millis()));
        item.insert(
            "ttl".into(),
            n(now.millis() / 1000 + IDEMPOTENCY_TTL_SECONDS),
        );
        put_new(&self.table, item)
    }

    // -- low-level calls, each with bounded retries ---------------------------------

    async fn get(&self, key: Item) -> Result<Option<Item>> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .consistent_read(true)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            match result {
                Ok(out) => {
                    self.meter.record(false, out.consumed_capacity());
                    return Ok(out.item);
                }
                Err(err) => {
                    self.failed("GetItem", classify(&err, None), &mut attempt)
                        .await?
                }
            }
        }
    }

    /// Strongly consistent reads of up to 100 keys; missing items are left out.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut pending = keys;
        let mut attempt = 0;
        while !pending.is_empty() {
            let request = built(
                KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(true)
                    .build(),
            )?;
            let result = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            match result {
                Ok(out) => {
                    self.meter.record(false, out.consumed_capacity());
                    if let Some(mut responses) = out.responses
                        && let Some(items) = responses.remove(&self.table)
                    {
                        found.extend(items);
                    }
                    pending = out
                        .unprocessed_keys
                        .and_then(|mut left| left.remove(&self.table))
                        .map(|left| left.keys)
                        .unwrap_or_default();
                    if !pending.is_empty() {
                        attempt += 1;
                        if attempt > MAX_TRANSIENT_RETRIES {
                            return Err(busy());
                        }
                        backoff(attempt).await;
                    }
                }
                Err(err) => {
                    self.failed("BatchGetItem", classify(&err, None), &mut attempt)
                        .await?
                }
            }
        }
        Ok(found)
    }

    /// One page of a query: `pk_value` on the index's partition key, sort keys after
    /// `after` (exclusive), ascending.
    async fn query_page(
        &self,
        index: Option<&str>,
        pk_value: &str,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Item>, bool)> {
        let (pk_name, sk_name) = match index {
            None => ("PK".to_string(), "SK".to_string()),
            Some(index) => {
                let digit = index.trim_start_matches("GSI");
                (format!("G{digit}PK"), format!("G{digit}SK"))
            }
        };
        let mut names = HashMap::from([("#pk".to_string(), pk_name)]);
        let mut values = HashMap::from([(":pk".to_string(), s(pk_value))]);
        let mut expression = "#pk = :pk".to_string();
        if let Some(after) = after {
            names.insert("#sk".into(), sk_name);
            values.insert(":after".into(), s(after));
            expression.push_str(" AND #sk > :after");
        }
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(&expression)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(index.is_none())
                .limit(limit.max(1))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            match result {
                Ok(out) => {
                    self.meter.record(false, out.consumed_capacity());
                    let more = out.last_evaluated_key.is_some();
                    return Ok((out.items.unwrap_or_default(), more));
                }
                Err(err) => {
                    self.failed("Query", classify(&err, None), &mut attempt)
                        .await?
                }
            }
        }
    }

    /// Every item of a query, in sort-key order, in pages of up to 1,000.
    async fn query_all(&self, index: Option<&str>, pk_value: &str) -> Result<Vec<Item>> {
        let sk_name = match index {
            None => "SK".to_string(),
            Some(index) => format!("G{}SK", index.trim_start_matches("GSI")),
        };
        let mut items: Vec<Item> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, more) = self
                .query_page(index, pk_value, after.as_deref(), 1000)
                .await?;
            after = page.last().and_then(|item| opt_s(item, &sk_name));
            items.extend(page);
            if !more || after.is_none() {
                return Ok(items);
            }
        }
    }

    /// Sends one transaction; throttling and conflicts resend it unchanged, with the
    /// same token, so an applied transaction whose answer was lost is not applied
    /// twice.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Tx> {
        if items.is_empty() {
            return Ok(Tx::Committed);
        }
        let token = ulid::Ulid::new().to_string();
        let actions = items.len();
        let mut attempt = 0;
        loop {
            let result = match self.faults.next() {
                Some(fault) => Err(injected_error(fault, actions)),
                None => {
                    self.client
                        .transact_write_items()
                        .set_transact_items(Some(items.clone()))
                        .client_request_token(&token)
                        .return_consumed_capacity(ReturnConsumedCapacity::Total)
                        .send()
                        .await
                }
            };
            match result {
                Ok(out) => {
                    self.meter.record(true, out.consumed_capacity());
                    return Ok(Tx::Committed);
                }
                Err(err) => {
                    let reasons = match &err {
                        SdkError::ServiceError(service) => transact_reasons(service.err()),
                        _ => None,
                    };
                    let codes = reasons
                        .as_ref()
                        .map(|r| r.iter().map(|(code, _)| code.clone()).collect());
                    match classify(&err, codes) {
                        Failure::Conditional => {
                            self.meter.record(true, &[]);
                            return Ok(Tx::Conditional(reasons.unwrap_or_default()));
                        }
                        failure => {
                            self.failed("TransactWriteItems", failure, &mut attempt)
                                .await?
                        }
                    }
                }
            }
        }
    }

    /// Handles a failed request: returns to retry (after a pause) or the error to give.
    async fn failed(&self, operation: &str, failure: Failure, attempt: &mut u32) -> Result<()> {
        self.meter.requests.fetch_add(1, Ordering::Relaxed);
        match failure {
            Failure::Transient(detail) => {
                *attempt += 1;
                if *attempt > MAX_TRANSIENT_RETRIES {
                    tracing::warn!(operation, detail, "DynamoDB still busy after retries");
                    return Err(busy());
                }
                tracing::debug!(operation, detail, attempt = *attempt, "retrying");
                backoff(*attempt).await;
                Ok(())
            }
            Failure::Unavailable(detail) => {
                *attempt += 1;
                if *attempt > 2 {
                    tracing::error!(operation, detail, "DynamoDB unavailable");
                    return Err(Error::unavailable("the store is unavailable"));
                }
                backoff(*attempt).await;
                Ok(())
            }
            Failure::Conditional => {
                tracing::error!(operation, "unexpected condition failure");
                Err(Error::internal("storage error"))
            }
            Failure::Fatal(detail) => {
                tracing::error!(operation, detail, "DynamoDB request failed");
                Err(Error::internal("storage error"))
            }
        }
    }

    /// A plain conditional update outside a transaction (sequence counters, recounts).
    /// `Ok(None)` when the condition failed.
    async fn update_returning(&self, key: Item, expr: Expr) -> Result<Option<Item>> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .set_update_expression(expr.update_expression())
                .set_condition_expression(expr.condition_expression())
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            match result {
                Ok(out) => {
                    self.meter.record(true, out.consumed_capacity());
                    return Ok(Some(out.attributes.unwrap_or_default()));
                }
                Err(err) => match classify(&err, None) {
                    Failure::Conditional => {
                        self.meter.record(true, &[]);
                        return Ok(None);
                    }
                    failure => self.failed("UpdateItem", failure, &mut attempt).await?,
                },
            }
        }
    }

    /// Deletes items by key, 25 per request, with unprocessed-item retries.
    async fn batch_delete(&self, keys: Vec<Item>) -> Result<()> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        for chunk in keys.chunks(25) {
            let mut pending: Vec<WriteRequest> = Vec::new();
            for key in chunk {
                let delete = built(DeleteRequest::builder().set_key(Some(key.clone())).build())?;
                pending.push(WriteRequest::builder().delete_request(delete).build());
            }
            let mut attempt = 0;
            while !pending.is_empty() {
                let result = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending.clone())
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await;
                match result {
                    Ok(out) => {
                        self.meter.record(true, out.consumed_capacity());
                        pending = out
                            .unprocessed_items
                            .and_then(|mut left| left.remove(&self.table))
                            .unwrap_or_default();
                        if !pending.is_empty() {
                            attempt += 1;
                            if attempt > MAX_TRANSIENT_RETRIES {
                                return Err(busy());
                            }
                            backoff(attempt).await;
                        }
                    }
                    Err(err) => {
                        self.failed("BatchWriteItem", classify(&err, None), &mut attempt)
                            .await?
                    }
                }
            }
        }
        Ok(())
    }

    /// Every item whose partition key starts with `prefix` (a full scan; for lists
    /// that have no narrower index).
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(#pk, :prefix)")
                .expression_attribute_names("#pk", "PK")
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.clone())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            match result {
                Ok(out) => {
                    self.meter.record(false, out.consumed_capacity());
                    items.extend(out.items.unwrap_or_default());
                    start = out.last_evaluated_key;
                    if start.is_none() {
                        return Ok(items);
                    }
                }
                Err(err) => {
                    self.failed("Scan", classify(&err, None), &mut attempt)
                        .await?
                }
            }
        }
    }
}

/// The outbox partition of an event: chosen by its coupon (or book), so that the
/// events of one coupon share a partition key and a DynamoDB Stream hands them to the
/// consumer in commit order, while different coupons spread over the partitions.
fn event_shard(event: &Event) -> u32 {
    shard_of(&crate::domain::webhook::order_key(event))
}

fn shard_of(order_key: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(order_key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % EVENT_SHARDS
}

/// The event an outbox item holds.
fn event_from_item(item: &Item) -> Result<Event> {
    Ok(Event {
        id: get_s(item, "id")?,
        event_type: get_s(item, "type")?,
        created_at: Timestamp(get_n(item, "created_at")?),
        data: from_json(&get_s(item, "data")?)?,
    })
}

/// The event in a DynamoDB Streams image of a table item (the stream consumer's
/// input); `None` for items that are not outbox events.
pub fn stream_event(image: &Item) -> Result<Option<Event>> {
    match image.get("PK").and_then(|pk| pk.as_s().ok()) {
        Some(pk) if pk.starts_with("EVT#") => event_from_item(image).map(Some),
        _ => Ok(None),
    }
}

/// Creates the coupon-book table: `PK`/`SK` and four overloaded indexes, on-demand
/// billing, a stream of new images if `stream` (for a Lambda that feeds webhooks),
/// TTL on `ttl` and point-in-time recovery. Returns false when the table already
/// existed.
pub async fn create_table(client: &Client, table: &str, stream: bool) -> Result<bool> {
    let fail = |what: &str, err: String| {
        tracing::error!(operation = what, error = err, "cannot create the table");
        Error::unavailable(format!("cannot create the DynamoDB table: {what} failed"))
    };
    let attribute = |name: &str| {
        built(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build(),
        )
    };
    let key_element = |name: &str, kind: KeyType| {
        built(
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build(),
        )
    };
    let mut definitions = vec![attribute("PK")?, attribute("SK")?];
    let mut indexes = Vec::new();
    for (i, index) in INDEXES.iter().enumerate() {
        let (pk, sk) = (format!("G{}PK", i + 1), format!("G{}SK", i + 1));
        definitions.push(attribute(&pk)?);
        definitions.push(attribute(&sk)?);
        indexes.push(built(
            GlobalSecondaryIndex::builder()
                .index_name(*index)
                .key_schema(key_element(&pk, KeyType::Hash)?)
                .key_schema(key_element(&sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build(),
        )?);
    }
    let created = client
        .create_table()
        .table_name(table)
        .set_attribute_definitions(Some(definitions))
        .key_schema(key_element("PK", KeyType::Hash)?)
        .key_schema(key_element("SK", KeyType::Range)?)
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(if stream {
            Some(built(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build(),
            )?)
        } else {
            None
        })
        .send()
        .await;
    if let Err(err) = created {
        let exists = matches!(&err, SdkError::ServiceError(e) if e.err().code() == Some("ResourceInUseException"));
        if exists {
            return Ok(false);
        }
        return Err(fail(
            "CreateTable",
            format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&err)),
        ));
    }
    for _ in 0..600 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "DescribeTable",
                    format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)),
                )
            })?;
        let status = described.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ttl = built(
        TimeToLiveSpecification::builder()
            .attribute_name("ttl")
            .enabled(true)
            .build(),
    )?;
    if let Err(err) = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .unwrap_or("no answer");
        tracing::warn!(code, "TTL not enabled on the table");
    }
    let pitr = built(
        PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .build(),
    )?;
    if let Err(err) = client
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .unwrap_or("no answer");
        tracing::warn!(code, "point-in-time recovery not enabled on the table");
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------
// Items

fn book_pk(book_id: &str) -> String {
    format!("BOOK#{book_id}")
}

fn meta_key(book_id: &str) -> Item {
    key(book_pk(book_id), "META")
}

fn counts_key(book_id: &str) -> Item {
    key(book_pk(book_id), "COUNTS")
}

fn usage_key(book_id: &str, user_id: &str) -> Item {
    key(book_pk(book_id), format!("USER#{user_id}"))
}

fn coupon_key(code: &str) -> Item {
    key(format!("CODE#{code}"), "CODE")
}

fn redemption_key(id: &str) -> Item {
    key(format!("RED#{id}"), "RED")
}

fn available_pk(book_id: &str, shard: i64) -> String {
    format!("AVAIL#{book_id}#{shard}")
}

/// A lock id names its code and its book: `lock_<ULID>.<book ULID>_<code>` (locks
/// made before it carried the book: `lock_<ULID>_<code>`). A lock lives inside its
/// coupon's item, so it is found from its id with one read, and a redeem with it
/// needs no read to know which book's counters it updates.
fn lock_id_for(code: &str, book_id: &str) -> String {
    match book_id.strip_prefix("book_") {
        Some(book) if book.len() == 26 => format!("lock_{}.{book}_{code}", ulid::Ulid::new()),
        _ => format!("lock_{}_{code}", ulid::Ulid::new()),
    }
}

/// The book (when named) and the code of a lock id.
fn lock_parts(lock_id: &str) -> Option<(Option<String>, &str)> {
    let rest = lock_id.strip_prefix("lock_")?;
    ulid::Ulid::from_string(rest.get(..26)?).ok()?;
    let (book, code) = match rest.get(26..27)? {
        "." => {
            let book = rest.get(27..53)?;
            ulid::Ulid::from_string(book).ok()?;
            (
                Some(format!("book_{book}")),
                rest.get(53..)?.strip_prefix('_')?,
            )
        }
        "_" => (None, rest.get(27..)?),
        _ => return None,
    };
    coupon::normalize_code(code).filter(|c| c == code)?;
    Some((book, code))
}

fn lock_code(lock_id: &str) -> Option<&str> {
    lock_parts(lock_id).map(|(_, code)| code)
}

#[derive(Clone)]
struct BookState {
    id: String,
    settings: BookSettings,
    /// Settings version: every change of the settings bumps it, and every coupon
    /// write checks it, so decisions are never made on outdated rules.
    sv: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl BookState {
    fn parse(item: &Item) -> Result<Self> {
        Ok(BookState {
            id: get_s(item, "id")?,
            settings: from_json(&get_s(item, "settings")?)?,
            sv: get_n(item, "sv")?,
            created_at: Timestamp(get_n(item, "created_at")?),
            updated_at: Timestamp(get_n(item, "updated_at")?),
        })
    }

    fn max(&self) -> Option<u32> {
        self.settings.max_redemptions_per_coupon
    }

    /// A condition check that the book's settings are still the ones decided on.
    fn check(&self, table: &str) -> Result<TransactWriteItem> {
        let mut expr = Expr::new();
        expr.cond("sv", "=", n(self.sv));
        expr.into_check(table, meta_key(&self.id))
    }
}

/// The book's counters item: base counts (locks not considered), net redemptions and
/// `unused` = available + assigned (so a condition can see it reach zero).
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    total: i64,
    available: i64,
    assigned: i64,
    redeemed: i64,
    voided: i64,
    redemptions: i64,
    unused: i64,
    in_use: bool,
}

impl Tally {
    fn parse(item: &Item) -> Self {
        let get = |name| opt_n(item, name).unwrap_or(0);
        Tally {
            total: get("total"),
            available: get("available"),
            assigned: get("assigned"),
            redeemed: get("redeemed"),
            voided: get("voided"),
            redemptions: get("redemptions"),
            unused: get("unused"),
            in_use: get_bool(item, "in_use"),
        }
    }

    fn slot(&mut self, status: BaseStatus) -> &mut i64 {
        match status {
            BaseStatus::Available => &mut self.available,
            BaseStatus::Assigned => &mut self.assigned,
            BaseStatus::Redeemed => &mut self.redeemed,
            BaseStatus::Voided => &mut self.voided,
        }
    }
}

fn is_unused(status: BaseStatus) -> bool {
    matches!(status, BaseStatus::Available | BaseStatus::Assigned)
}

/// How a change moves the book's counters.
struct TallyChange {
    before: BaseStatus,
    after: BaseStatus,
    redemptions: i64,
    in_use: bool,
    /// Whether `book.exhausted` is judged (assign and redeem): then the counters that
    /// fall are pinned so exactly one change sees them reach zero.
    announce: bool,
}

/// The counters update for a change, the counters after it, and whether the change
/// used the book up.
///
/// Without the counters as read (`tally` = None) the update only commits away from
/// the edges: nothing falls to zero and the budget keeps a use to spare, so no
/// `book.exhausted` is missed; at an edge the condition fails and the caller reads.
fn tally_update(
    table: &str,
    book: &BookState,
    tally: Option<&Tally>,
    change: &TallyChange,
) -> Result<(TransactWriteItem, Tally, bool)> {
    let mut expr = Expr::new();
    let known = tally.copied();
    let tally = &known.unwrap_or_default();
    let mut after = *tally;
    let mut deltas: BTreeMap<&str, i64> = BTreeMap::new();
    if change.before != change.after {
        *after.slot(change.before) -= 1;
        *after.slot(change.after) += 1;
        let name = |status| match status {
            BaseStatus::Available => "available",
            BaseStatus::Assigned => "assigned",
            BaseStatus::Redeemed => "redeemed",
            BaseStatus::Voided => "voided",
        };
        *deltas.entry(name(change.before)).or_default() -= 1;
        *deltas.entry(name(change.after)).or_default() += 1;
        let unused = i64::from(is_unused(change.after)) - i64::from(is_unused(change.before));
        after.unused += unused;
        *deltas.entry("unused").or_default() += unused;
    }
    after.redemptions = (after.redemptions + change.redemptions).max(0);
    *deltas.entry("redemptions").or_default() += change.redemptions;
    let mut exhausted = false;
    for (name, delta) in &deltas {
        expr.add(name, *delta);
        if change.announce && *delta < 0 && matches!(*name, "available" | "unused") {
            let before = if *name == "available" {
                tally.available
            } else {
                tally.unused
            };
            if known.is_some() && before + delta <= 0 {
                expr.cond(name, "=", n(before));
                exhausted = true;
            } else {
                expr.cond(name, ">", n(-delta));
            }
        }
    }
    if let Some(max) = book.settings.max_total_redemptions
        && change.redemptions > 0
    {
        let max = max as i64;
        if known.is_some() && tally.redemptions + 1 >= max {
            expr.cond("redemptions", "=", n(tally.redemptions));
            exhausted |= change.announce;
        } else {
            expr.cond("redemptions", "<", n(max - 1));
        }
    }
    if change.in_use {
        expr.set("in_use", AttributeValue::Bool(true));
        after.in_use = true;
    }
    expr.cond_exists("PK");
    Ok((
        expr.into_update(table, counts_key(&book.id))?,
        after,
        exhausted,
    ))
}

struct CouponState {
    record: CouponRecord,
    /// Lock version: bumped by every change of the assignment, the void flag or the
    /// set of locks; coupon writes that depend on those check it.
    lv: i64,
    /// Every lock in the item, live or expired (the sweep removes expired ones).
    locks: Vec<Lock>,
    shard: i64,
}

impl CouponState {
    fn parse(item: &Item) -> Result<Self> {
        let code = get_s(item, "code")?;
        let mut locks = Vec::new();
        if let Some(AttributeValue::M(map)) = item.get("locks") {
            for (lock_id, value) in map {
                let AttributeValue::M(lock) = value else {
                    return Err(corrupt("locks"));
                };
                locks.push(Lock {
                    lock_id: lock_id.clone(),
                    code: code.clone(),
                    user_id: get_s(lock, "u")?,
                    expires_at: Timestamp(get_n(lock, "e")?),
                });
            }
        }
        locks.sort_by(|a, b| (a.expires_at, &a.lock_id).cmp(&(b.expires_at, &b.lock_id)));
        Ok(CouponState {
            record: CouponRecord {
                code,
                book_id: get_s(item, "book")?,
                assigned_to: opt_s(item, "assigned_to"),
                redemption_count: get_n(item, "rc")?.max(0) as u64,
                voided: get_bool(item, "voided"),
                created_at: Timestamp(get_n(item, "created")?),
            },
            lv: get_n(item, "lv")?,
            locks,
            shard: opt_n(item, "shard").unwrap_or(0),
        })
    }

    fn live_locks(&self, now: Timestamp) -> Vec<Lock> {
        self.locks
            .iter()
            .filter(|l| l.is_live(now))
            .cloned()
            .collect()
    }

    fn view(&self, max: Option<u32>, now: Timestamp) -> Coupon {
        self.record.view(max, &self.live_locks(now))
    }

    fn rc(&self) -> i64 {
        self.record.redemption_count as i64
    }

    /// The start of a coupon update that relies on its locks, assignment and void
    /// flag being as read.
    fn pinned(&self) -> Expr {
        let mut expr = Expr::new();
        expr.cond("lv", "=", n(self.lv));
        expr
    }

    /// Puts the coupon in or out of its book's available-codes index.
    fn index_available(&self, expr: &mut Expr, available: bool) {
        if available {
            expr.set("G1PK", s(available_pk(&self.record.book_id, self.shard)));
            expr.set("G1SK", s(&self.record.code));
        } else {
            expr.remove(&["G1PK"]).remove(&["G1SK"]);
        }
    }
}

fn lock_value(lock: &Lock) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("u".to_string(), s(&lock.user_id)),
        ("e".to_string(), n(lock.expires_at.millis())),
    ]))
}

/// Everything a coupon decision reads: the coupon, its book, the book's counters and,
/// for a user, their usage in the book.
struct CouponCtx {
    coupon: CouponState,
    book: BookState,
    tally: Tally,
    usage: UserUsage,
}

fn parse_redemption(item: &Item) -> Result<(i64, Redemption)> {
    let reversed_at = opt_n(item, "reversed_at").map(Timestamp);
    let metadata = match opt_s(item, "metadata") {
        Some(text) => Some(from_json(&text)?),
        None => None,
    };
    Ok((
        get_n(item, "pos")?,
        Redemption {
            id: get_s(item, "id")?,
            code: get_s(item, "code")?,
            book_id: get_s(item, "book_id")?,
            user_id: get_s(item, "user_id")?,
            status: if reversed_at.is_some() {
                RedemptionStatus::Reversed
            } else {
                RedemptionStatus::Redeemed
            },
            redeemed_at: Timestamp(get_n(item, "redeemed_at")?),
            reversed_at,
            metadata,
        },
    ))
}

fn parse_api_key(item: &Item) -> Result<ApiKey> {
    let scopes: Vec<Scope> = from_json(&get_s(item, "scopes")?)?;
    Ok(ApiKey {
        id: get_s(item, "id")?,
        name: get_s(item, "name")?,
        scopes,
        created_at: Timestamp(get_n(item, "created_at")?),
    })
}

/// Keeps `value` under `key`, starting over when `limit` entries are held.
fn remember<V>(memory: &Mutex<HashMap<String, V>>, limit: usize, key: String, value: V) {
    if let Ok(mut memory) = memory.lock() {
        if memory.len() >= limit {
            memory.clear();
        }
        memory.insert(key, value);
    }
}

/// The smallest event id of `at`'s millisecond: every id made earlier sorts below it.
fn event_id_floor(at: Timestamp) -> String {
    format!(
        "evt_{}",
        ulid::Ulid::from_parts(at.millis().max(0) as u64, 0)
    )
}

fn parse_event_id(id: &str) -> Option<&str> {
    let ulid = id.strip_prefix("evt_")?;
    ulid::Ulid::from_string(ulid).ok()?;
    Some(id)
}

// ---------------------------------------------------------------------------------
// Reads, decisions and the write loop

type Decision<T> = Result<(T, Vec<TransactWriteItem>)>;

/// What a decision reads before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// Everything it depends on.
    Full,
    /// As little as the transaction's conditions can stand in for. The book's
    /// settings as last read (pinned by their version); no counters or user usage,
    /// whose limits the conditions hold away from their edges; and where the book is
    /// known (from the lock id, or an earlier read of the code) not even the coupon:
    /// the conditions state its expected shape. A redeem is then one request, else
    /// one read and one write.
    Least,
}

impl DynamoStore {
    /// The answer stored under an idempotency key, if any.
    async fn replay<T: DeserializeOwned>(
        &self,
        idem: Option<&Idempotency>,
    ) -> Result<Option<Result<T>>> {
        let Some(idem) = idem else {
            return Ok(None);
        };
        let Some(item) = self.get(Self::idem_key(idem)).await? else {
            return Ok(None);
        };
        if get_s(&item, "fp")? != idem.fingerprint {
            return Ok(Some(Err(Error::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request",
            ))));
        }
        Ok(Some(from_json::<std::result::Result<T, Error>>(&get_s(
            &item, "resp",
        )?)?))
    }

    /// Reads, decides and commits until a decision sticks: the idempotency record is
    /// checked first and written in the transaction of the change (refusals too).
    async fn run<T, F, Fut>(&self, idem: Option<&Idempotency>, mut decide: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Timestamp) -> Fut,
        Fut: std::future::Future<Output = Decision<T>>,
    {
        self.run_with(idem, Reads::Full, |now, _| decide(now)).await
    }

    /// `run`, where the first attempt may decide on fewer reads (see `Reads`): it
    /// skips the idempotency read too, since the record's put-if-absent in the
    /// transaction refuses a used key; only a commit is taken from it, a refusal or a
    /// failed condition is decided again on full reads.
    async fn run_with<T, F, Fut>(
        &self,
        idem: Option<&Idempotency>,
        first: Reads,
        mut decide: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Timestamp, Reads) -> Fut,
        Fut: std::future::Future<Output = Decision<T>>,
    {
        for attempt in 0..MAX_DECISIONS {
            let reads = if attempt == 0 { first } else { Reads::Full };
            let tentative = reads != Reads::Full;
            if !tentative && let Some(answer) = self.replay::<T>(idem).await? {
                return answer;
            }
            let now = self.clock.now();
            let (value, mut items) = match decide(now, reads).await {
                Ok(decided) => decided,
                Err(err) if !err.code.is_deterministic() => return Err(err),
                Err(_) if tentative => continue,
                Err(err) => {
                    let Some(idem) = idem else {
                        return Err(err);
                    };
                    let refusal: std::result::Result<T, Error> = Err(err.clone());
                    match self
                        .transact(vec![self.idem_put(idem, &refusal, now)?])
                        .await?
                    {
                        Tx::Committed => return Err(err),
                        Tx::Conditional(_) => continue,
                    }
                }
            };
            if let Some(idem) = idem {
                let answer: std::result::Result<&T, Error> = Ok(&value);
                items.push(self.idem_put(idem, &answer, now)?);
            }
            match self.transact(items).await? {
                Tx::Committed => return Ok(value),
                Tx::Conditional(_) if tentative => {}
                Tx::Conditional(reasons) => {
                    tracing::debug!(?reasons, attempt, "condition failed; deciding again");
                    let pause = rand::rng().random_range(0..=(2 * u64::from(attempt) + 1));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        tracing::warn!("state kept changing under the decision; giving up");
        Err(busy())
    }

    async fn load_book(&self, book_id: &str) -> Result<(BookState, Tally)> {
        let items = self
            .batch_get(vec![meta_key(book_id), counts_key(book_id)])
            .await?;
        let (mut book, mut tally) = (None, Tally::default());
        for item in &items {
            match opt_s(item, "SK").as_deref() {
                Some("META") => book = Some(BookState::parse(item)?),
                Some("COUNTS") => tally = Tally::parse(item),
                _ => {}
            }
        }
        let book = book.ok_or_else(|| Error::book_not_found(book_id))?;
        self.remember_book(&book);
        Ok((book, tally))
    }

    fn remember_book(&self, book: &BookState) {
        remember(&self.books, KNOWN_BOOKS, book.id.clone(), book.clone());
    }

    fn known_book(&self, book_id: &str) -> Option<BookState> {
        self.books.lock().ok()?.get(book_id).cloned()
    }

    async fn load_coupon(&self, code: &str) -> Result<CouponState> {
        let item = self
            .get(coupon_key(code))
            .await?
            .ok_or_else(|| Error::coupon_not_found(code))?;
        let coupon = CouponState::parse(&item)?;
        remember(
            &self.code_books,
            KNOWN_CODES,
            coupon.record.code.clone(),
            coupon.record.book_id.clone(),
        );
        Ok(coupon)
    }

    async fn load_ctx(&self, code: &str, user_id: Option<&str>) -> Result<CouponCtx> {
        let coupon = self.load_coupon(code).await?;
        self.ctx_around(coupon, user_id).await
    }

    /// The rest of a coupon's context, the coupon being read already.
    async fn ctx_around(&self, coupon: CouponState, user_id: Option<&str>) -> Result<CouponCtx> {
        let code = coupon.record.code.clone();
        let book_id = coupon.record.book_id.clone();
        let mut keys = vec![meta_key(&book_id), counts_key(&book_id)];
        if let Some(user) = user_id {
            keys.push(usage_key(&book_id, user));
        }
        let items = self.batch_get(keys).await?;
        let (mut book, mut tally, mut usage) = (None, Tally::default(), UserUsage::default());
        for item in &items {
            match opt_s(item, "SK").as_deref() {
                Some("META") => book = Some(BookState::parse(item)?),
                Some("COUNTS") => tally = Tally::parse(item),
                Some(sk) if sk.starts_with("USER#") => {
                    usage = UserUsage {
                        assigned: opt_n(item, "a").unwrap_or(0).max(0) as u64,
                        redeemed: opt_n(item, "r").unwrap_or(0).max(0) as u64,
                    }
                }
                _ => {}
            }
        }
        // A code whose book was deleted is gone with it.
        let book = book.ok_or_else(|| Error::coupon_not_found(&code))?;
        self.remember_book(&book);
        Ok(CouponCtx {
            coupon,
            book,
            tally,
            usage,
        })
    }

    /// The book as the API shows it: base counts corrected for coupons whose every
    /// remaining use is reserved by live locks (found through the locked-codes index).
    async fn book_view(&self, book: &BookState, tally: &Tally, now: Timestamp) -> Result<Book> {
        let mut counts = Counts {
            total: tally.total.max(0) as u64,
            available: tally.available.max(0) as u64,
            assigned: tally.assigned.max(0) as u64,
            locked: 0,
            redeemed: tally.redeemed.max(0) as u64,
            voided: tally.voided.max(0) as u64,
        };
        if book.max().is_some() {
            for item in self
                .query_all(Some("GSI4"), &format!("LOCKED#{}", book.id))
                .await?
            {
                let coupon = CouponState::parse(&item)?;
                let view = coupon.view(book.max(), now);
                if view.status != CouponStatus::Locked {
                    continue;
                }
                match coupon.record.base_status(book.max()) {
                    BaseStatus::Available => counts.available = counts.available.saturating_sub(1),
                    BaseStatus::Assigned => counts.assigned = counts.assigned.saturating_sub(1),
                    _ => continue,
                }
                counts.locked += 1;
            }
        }
        Ok(Self::book_with(book, counts))
    }

    fn book_with(book: &BookState, counts: Counts) -> Book {
        Book {
            id: book.id.clone(),
            settings: book.settings.clone(),
            created_at: book.created_at,
            updated_at: book.updated_at,
            counts,
        }
    }

    /// The book after a change, for `book.exhausted` (locks not considered).
    fn book_after(book: &BookState, tally: &Tally) -> Book {
        Self::book_with(
            book,
            Counts {
                total: tally.total.max(0) as u64,
                available: tally.available.max(0) as u64,
                assigned: tally.assigned.max(0) as u64,
                locked: 0,
                redeemed: tally.redeemed.max(0) as u64,
                voided: tally.voided.max(0) as u64,
            },
        )
    }

    /// The writes of an assignment of `coupon` to `user_id`.
    fn assign_items(&self, ctx: &CouponCtx, user_id: &str, now: Timestamp) -> Decision<Coupon> {
        let CouponCtx {
            coupon,
            book,
            tally,
            ..
        } = ctx;
        let max = book.max();
        let mut expr = coupon.pinned();
        if let Some(max) = max {
            expr.cond("rc", "<", n(max));
        }
        expr.cond_not_exists("assigned_to");
        let position = time_position(now);
        expr.set("assigned_to", s(user_id))
            .set("aseq", n(position))
            .set("G3PK", s(format!("UCOUP#{user_id}")))
            .set("G3SK", s(pad(position)))
            .bump("lv");
        coupon.index_available(&mut expr, false);
        let mut items = vec![
            expr.into_update(&self.table, coupon_key(&coupon.record.code))?,
            book.check(&self.table)?,
        ];
        let mut usage = Expr::new();
        usage.add("a", 1);
        if let Some(limit) = book.settings.max_coupons_per_user {
            usage.cond_below("a", i64::from(limit));
        }
        items.push(usage.into_update(&self.table, usage_key(&book.id, user_id))?);
        let after = CouponRecord {
            assigned_to: Some(user_id.to_string()),
            ..coupon.record.clone()
        };
        let (counts, tally_after, exhausted) = tally_update(
            &self.table,
            book,
            Some(tally),
            &TallyChange {
                before: coupon.record.base_status(max),
                after: after.base_status(max),
                redemptions: 0,
                in_use: true,
                announce: true,
            },
        )?;
        items.push(counts);
        let view = after.view(max, &coupon.live_locks(now));
        items.push(self.event_put(event::COUPON_ASSIGNED, &view, now)?);
        if exhausted {
            let data = Self::book_after(book, &tally_after);
            items.push(self.event_put_beside(event::BOOK_EXHAUSTED, &data, now, &view.code)?);
        }
        Ok((view, items))
    }

    async fn decide_assign(&self, code: &str, user_id: &str, now: Timestamp) -> Decision<Coupon> {
        let ctx = self.load_ctx(code, Some(user_id)).await?;
        let plan = coupon::check_assign(
            &ctx.book.settings,
            &ctx.coupon.record,
            user_id,
            ctx.usage,
            now,
        )?;
        match plan {
            AssignPlan::AlreadyAssigned => Ok((ctx.coupon.view(ctx.book.max(), now), Vec::new())),
            AssignPlan::Assign => self.assign_items(&ctx, user_id, now),
        }
    }

    async fn decide_assign_next(
        &self,
        book_id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> Decision<Coupon> {
        let items = self
            .batch_get(vec![
                meta_key(book_id),
                counts_key(book_id),
                usage_key(book_id, user_id),
            ])
            .await?;
        let (mut book, mut tally, mut usage) = (None, Tally::default(), UserUsage::default());
        for item in &items {
            match opt_s(item, "SK").as_deref() {
                Some("META") => book = Some(BookState::parse(item)?),
                Some("COUNTS") => tally = Tally::parse(item),
                Some(_) => {
                    usage = UserUsage {
                        assigned: opt_n(item, "a").unwrap_or(0).max(0) as u64,
                        redeemed: opt_n(item, "r").unwrap_or(0).max(0) as u64,
                    }
                }
                None => {}
            }
        }
        let book = book.ok_or_else(|| Error::book_not_found(book_id))?;
        book.settings.check_usable(now)?;
        coupon::check_assign_limit(&book.settings, usage)?;
        let exhausted = || {
            Error::new(
                ErrorCode::BookExhausted,
                "no available code left in this book",
            )
        };
        if tally.available <= 0 {
            return Err(exhausted());
        }
        // Start on a random shard of the available-codes index and pick at random among
        // its first candidates, so concurrent assigners rarely want the same code; the
        // conditional write settles any collision.
        let first = rand::rng().random_range(0..AVAILABLE_SHARDS);
        for step in 0..AVAILABLE_SHARDS {
            let shard = i64::from((first + step) % AVAILABLE_SHARDS);
            let (page, _) = self
                .query_page(Some("GSI1"), &available_pk(book_id, shard), None, 16)
                .await?;
            let mut candidates = Vec::new();
            for item in &page {
                let coupon = CouponState::parse(item)?;
                if coupon.record.base_status(book.max()) == BaseStatus::Available
                    && coupon.live_locks(now).is_empty()
                {
                    candidates.push(coupon);
                }
            }
            if candidates.is_empty() {
                continue;
            }
            let pick = rand::rng().random_range(0..candidates.len());
            let coupon = candidates.swap_remove(pick);
            let ctx = CouponCtx {
                coupon,
                book,
                tally,
                usage,
            };
            return self.assign_items(&ctx, user_id, now);
        }
        Err(exhausted())
    }

    async fn decide_unassign(&self, code: &str, now: Timestamp) -> Decision<Coupon> {
        let CouponCtx {
            coupon,
            book,
            tally,
            ..
        } = self.load_ctx(code, None).await?;
        let max = book.max();
        let Some(owner) = coupon.record.assigned_to.clone() else {
            return Ok((coupon.view(max, now), Vec::new()));
        };
        if coupon.record.redemption_count > 0 {
            return Err(Error::new(
                ErrorCode::CouponAlreadyRedeemed,
                "a redeemed coupon cannot be unassigned",
            ));
        }
        let after = CouponRecord {
            assigned_to: None,
            ..coupon.record.clone()
        };
        let mut expr = coupon.pinned();
        expr.cond("rc", "=", n(0));
        expr.remove(&["assigned_to"])
            .remove(&["aseq"])
            .remove(&["G3PK"])
            .remove(&["G3SK"])
            .bump("lv");
        coupon.index_available(&mut expr, after.base_status(max) == BaseStatus::Available);
        let mut usage = Expr::new();
        usage.add("a", -1);
        let (counts, _, _) = tally_update(
            &self.table,
            &book,
            Some(&tally),
            &TallyChange {
                before: coupon.record.base_status(max),
                after: after.base_status(max),
                redemptions: 0,
                in_use: false,
                announce: false,
            },
        )?;
        let view = after.view(max, &coupon.live_locks(now));
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            book.check(&self.table)?,
            usage.into_update(&self.table, usage_key(&book.id, &owner))?,
            counts,
            self.event_put(event::COUPON_UNASSIGNED, &view, now)?,
        ];
        Ok((view, items))
    }

    async fn decide_lock(
        &self,
        code: &str,
        user_id: &str,
        ttl_seconds: Option<u32>,
        now: Timestamp,
    ) -> Decision<Lock> {
        let CouponCtx {
            coupon,
            book,
            tally,
            usage,
        } = self.load_ctx(code, Some(user_id)).await?;
        let live = coupon.live_locks(now);
        let context = UseContext {
            book: &book.settings,
            book_redemptions: tally.redemptions.max(0) as u64,
            coupon: &coupon.record,
            live_locks: &live,
            usage,
            user_id,
            now,
        };
        let plan = context.check_lock()?;
        let ttl = ttl_seconds.unwrap_or(book.settings.lock_ttl_seconds);
        let expires_at = now.plus_seconds(u64::from(ttl));
        let mut expr = coupon.pinned();
        let mut live_after = live.clone();
        let lock = match plan {
            LockPlan::New => {
                let lock = Lock {
                    lock_id: lock_id_for(code, &book.id),
                    code: code.to_string(),
                    user_id: user_id.to_string(),
                    expires_at,
                };
                // The new reservation must fit next to the live ones, whatever
                // unreserved redemptions happened since the read.
                if let Some(max) = book.max() {
                    expr.cond("rc", "<", n(i64::from(max) - live.len() as i64));
                }
                if coupon.locks.is_empty() {
                    let map = HashMap::from([(lock.lock_id.clone(), lock_value(&lock))]);
                    expr.set("locks", AttributeValue::M(map));
                } else {
                    expr.set_path(&["locks", &lock.lock_id], lock_value(&lock));
                }
                expr.set("G4PK", s(format!("LOCKED#{}", book.id)))
                    .set("G4SK", s(code))
                    .bump("lv");
                live_after.push(lock.clone());
                lock
            }
            LockPlan::Extend(lock_id) => {
                let current = live
                    .iter()
                    .find(|l| l.lock_id == lock_id)
                    .cloned()
                    .ok_or_else(Error::lock_not_found)?;
                let extended = Lock {
                    expires_at: current.expires_at.max(expires_at),
                    ..current
                };
                // Still live now, judged by the store against this request's time.
                expr.cond_path(&["locks", &lock_id, "e"], ">", n(now.millis()));
                expr.set_path(&["locks", &lock_id, "e"], n(extended.expires_at.millis()));
                for l in live_after.iter_mut().filter(|l| l.lock_id == lock_id) {
                    *l = extended.clone();
                }
                extended
            }
        };
        let view = coupon.record.view(book.max(), &live_after);
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            book.check(&self.table)?,
            self.event_put(event::COUPON_LOCKED, &view, now)?,
        ];
        Ok((lock, items))
    }

    async fn decide_unlock(&self, code: &str, lock_id: &str, now: Timestamp) -> Decision<Coupon> {
        let CouponCtx { coupon, book, .. } = self.load_ctx(code, None).await?;
        let held = coupon
            .locks
            .iter()
            .any(|l| l.lock_id == lock_id && l.is_live(now));
        if !held {
            return Err(Error::lock_not_found());
        }
        let mut expr = coupon.pinned();
        expr.cond_path(&["locks", lock_id, "e"], ">", n(now.millis()));
        expr.remove(&["locks", lock_id]).bump("lv");
        if coupon.locks.len() == 1 {
            expr.remove(&["G4PK"]).remove(&["G4SK"]);
        }
        let live_after: Vec<Lock> = coupon
            .live_locks(now)
            .into_iter()
            .filter(|l| l.lock_id != lock_id)
            .collect();
        let view = coupon.record.view(book.max(), &live_after);
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            self.event_put(event::COUPON_UNLOCKED, &view, now)?,
        ];
        Ok((view, items))
    }

    /// Whether a lock id names a lock stored anywhere (live or not).
    async fn lock_exists(&self, code: &str, coupon: &CouponState, lock_id: &str) -> Result<bool> {
        if coupon.locks.iter().any(|l| l.lock_id == lock_id) {
            return Ok(true);
        }
        match lock_code(lock_id) {
            Some(other) if other != code => match self.get(coupon_key(other)).await? {
                Some(item) => Ok(CouponState::parse(&item)?
                    .locks
                    .iter()
                    .any(|l| l.lock_id == lock_id)),
                None => Ok(false),
            },
            _ => Ok(false),
        }
    }

    async fn decide_redeem(
        &self,
        request: &RedeemRequest,
        now: Timestamp,
        reads: Reads,
    ) -> Decision<Redemption> {
        if reads == Reads::Least
            && let Some(decided) = self.redeem_unread(request, now)?
        {
            return Ok(decided);
        }
        let code = request.code.as_str();
        let user_id = request.user_id.as_str();
        let (coupon, book, counted) = match reads {
            Reads::Least => {
                let coupon = self.load_coupon(code).await?;
                match self.known_book(&coupon.record.book_id) {
                    Some(book) => (coupon, book, None),
                    None => {
                        let ctx = self.ctx_around(coupon, Some(user_id)).await?;
                        (ctx.coupon, ctx.book, Some((ctx.tally, ctx.usage)))
                    }
                }
            }
            Reads::Full => {
                let ctx = self.load_ctx(code, Some(user_id)).await?;
                (ctx.coupon, ctx.book, Some((ctx.tally, ctx.usage)))
            }
        };
        let tally = counted.map(|(tally, _)| tally);
        let usage = counted.map(|(_, usage)| usage).unwrap_or_default();
        if let Some(lock_id) = &request.lock_id
            && !self.lock_exists(code, &coupon, lock_id).await?
        {
            return Err(Error::lock_not_found());
        }
        let live = coupon.live_locks(now);
        let context = UseContext {
            book: &book.settings,
            book_redemptions: tally.map_or(0, |t| t.redemptions.max(0) as u64),
            coupon: &coupon.record,
            live_locks: &live,
            usage,
            user_id,
            now,
        };
        let plan = context.check_redeem(request.lock_id.as_deref())?;
        let max = book.max();
        let after = CouponRecord {
            redemption_count: coupon.record.redemption_count + 1,
            ..coupon.record.clone()
        };
        let mut expr = coupon.pinned();
        expr.add("rc", 1);
        if let Some(max) = max {
            let max = i64::from(max);
            if coupon.rc() + 1 >= max {
                // This redemption uses the coupon up: exactly from this count.
                expr.cond("rc", "=", n(coupon.rc()));
            } else {
                let reserved = match plan {
                    RedeemPlan::Unreserved => live.len() as i64,
                    RedeemPlan::ConsumeLock(_) => 0,
                };
                expr.cond("rc", "<", n(max - reserved.max(1)));
            }
        }
        if after.base_status(max) != BaseStatus::Available
            && coupon.record.base_status(max) == BaseStatus::Available
        {
            coupon.index_available(&mut expr, false);
        }
        if let RedeemPlan::ConsumeLock(lock_id) = &plan {
            expr.cond_path(&["locks", lock_id, "e"], ">", n(now.millis()));
            expr.remove(&["locks", lock_id]).bump("lv");
            if coupon.locks.len() == 1 {
                expr.remove(&["G4PK"]).remove(&["G4SK"]);
            }
        }
        let change = TallyChange {
            before: coupon.record.base_status(max),
            after: after.base_status(max),
            redemptions: 1,
            in_use: true,
            announce: true,
        };
        self.redemption_writes(request, &book, expr, tally.as_ref(), &change, now)
    }

    /// A redemption decided on nothing read (`Reads::Least`), when the book and
    /// its settings are known and the usual shape can be stated as conditions: the
    /// coupon is in that book and not voided; assigned to the user if the book
    /// requires it, else unassigned; single-use and unused, or with more than one use
    /// left; without locks, or with only the presented one, live and the user's.
    /// `None` when that cannot be said without reading.
    fn redeem_unread(
        &self,
        request: &RedeemRequest,
        now: Timestamp,
    ) -> Result<Option<(Redemption, Vec<TransactWriteItem>)>> {
        let code = request.code.as_str();
        let user_id = request.user_id.as_str();
        let remembered = || {
            self.code_books
                .lock()
                .ok()
                .and_then(|m| m.get(code).cloned())
        };
        let book_id = match request.lock_id.as_deref().map(lock_parts) {
            Some(Some((named, lock_code))) if lock_code == code => named.or_else(remembered),
            Some(_) => None,
            None => remembered(),
        };
        let Some(book) = book_id.and_then(|id| self.known_book(&id)) else {
            return Ok(None);
        };
        let settings = &book.settings;
        if settings.check_usable(now).is_err() {
            return Ok(None);
        }
        let mut expr = Expr::new();
        expr.cond("book", "=", s(&book.id));
        expr.cond("voided", "=", AttributeValue::Bool(false));
        let before = if settings.requires_assignment {
            expr.cond("assigned_to", "=", s(user_id));
            BaseStatus::Assigned
        } else {
            expr.cond_not_exists("assigned_to");
            BaseStatus::Available
        };
        let after = match book.max() {
            Some(1) => {
                expr.cond("rc", "=", n(0));
                BaseStatus::Redeemed
            }
            Some(max) if max > 1 => {
                expr.cond("rc", "<", n(i64::from(max) - 1));
                before
            }
            Some(_) => return Ok(None),
            None => before,
        };
        expr.add("rc", 1);
        if before == BaseStatus::Available && after != BaseStatus::Available {
            expr.remove(&["G1PK"]).remove(&["G1SK"]);
        }
        match &request.lock_id {
            Some(lock_id) => {
                expr.cond_path(&["locks", lock_id, "u"], "=", s(user_id));
                expr.cond_path(&["locks", lock_id, "e"], ">", n(now.millis()));
                expr.cond_entries("locks", 1);
                expr.remove(&["locks", lock_id]).bump("lv");
                expr.remove(&["G4PK"]).remove(&["G4SK"]);
            }
            None => {
                expr.cond_entries("locks", 0);
            }
        }
        let change = TallyChange {
            before,
            after,
            redemptions: 1,
            in_use: true,
            announce: true,
        };
        self.redemption_writes(request, &book, expr, None, &change, now)
            .map(Some)
    }

    /// The writes of a redemption next to its coupon update: the book's settings
    /// check, the user's usage, the counters, the redemption and its event(s).
    fn redemption_writes(
        &self,
        request: &RedeemRequest,
        book: &BookState,
        coupon_update: Expr,
        tally: Option<&Tally>,
        change: &TallyChange,
        now: Timestamp,
    ) -> Decision<Redemption> {
        let code = request.code.as_str();
        let user_id = request.user_id.as_str();
        let mut usage_expr = Expr::new();
        usage_expr.add("r", 1);
        if let Some(limit) = book.settings.max_redemptions_per_user {
            usage_expr.cond_below("r", i64::from(limit));
        }
        let (counts, tally_after, exhausted) = tally_update(&self.table, book, tally, change)?;
        let redemption = Redemption {
            id: new_id("red"),
            code: code.to_string(),
            book_id: book.id.clone(),
            user_id: user_id.to_string(),
            status: RedemptionStatus::Redeemed,
            redeemed_at: now,
            reversed_at: None,
            metadata: request.metadata.clone(),
        };
        let position = time_position(now);
        let mut item = redemption_key(&redemption.id);
        item.insert("id".into(), s(&redemption.id));
        item.insert("code".into(), s(code));
        item.insert("book_id".into(), s(&book.id));
        item.insert("user_id".into(), s(user_id));
        item.insert("redeemed_at".into(), n(now.millis()));
        item.insert("pos".into(), n(position));
        if let Some(metadata) = &redemption.metadata {
            item.insert("metadata".into(), s(to_json(metadata)?));
        }
        for (index, pk) in [
            (1, format!("RBOOK#{}", book.id)),
            (2, format!("RUSER#{user_id}")),
            (3, format!("RCODE#{code}")),
        ] {
            item.insert(format!("G{index}PK"), s(pk));
            item.insert(format!("G{index}SK"), s(pad(position)));
        }
        let mut items = vec![
            coupon_update.into_update(&self.table, coupon_key(code))?,
            book.check(&self.table)?,
            usage_expr.into_update(&self.table, usage_key(&book.id, user_id))?,
            counts,
            put_new(&self.table, item)?,
            self.event_put(event::COUPON_REDEEMED, &redemption, now)?,
        ];
        if exhausted {
            let data = Self::book_after(book, &tally_after);
            items.push(self.event_put_beside(event::BOOK_EXHAUSTED, &data, now, code)?);
        }
        Ok((redemption, items))
    }

    async fn decide_void(&self, code: &str, now: Timestamp) -> Decision<Coupon> {
        let CouponCtx {
            coupon,
            book,
            tally,
            ..
        } = self.load_ctx(code, None).await?;
        let max = book.max();
        if coupon.record.voided {
            return Ok((coupon.view(max, now), Vec::new()));
        }
        let after = CouponRecord {
            voided: true,
            ..coupon.record.clone()
        };
        let mut expr = coupon.pinned();
        if let Some(max) = max {
            let op = if coupon.rc() >= i64::from(max) {
                ">="
            } else {
                "<"
            };
            expr.cond("rc", op, n(max));
        }
        expr.set("voided", AttributeValue::Bool(true))
            .remove(&["locks"])
            .remove(&["G4PK"])
            .remove(&["G4SK"])
            .bump("lv");
        coupon.index_available(&mut expr, false);
        let (counts, _, _) = tally_update(
            &self.table,
            &book,
            Some(&tally),
            &TallyChange {
                before: coupon.record.base_status(max),
                after: after.base_status(max),
                redemptions: 0,
                in_use: false,
                announce: false,
            },
        )?;
        let view = after.view(max, &[]);
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            book.check(&self.table)?,
            counts,
            self.event_put(event::COUPON_VOIDED, &view, now)?,
        ];
        Ok((view, items))
    }

    async fn decide_reverse(&self, redemption_id: &str, now: Timestamp) -> Decision<Redemption> {
        let item = self
            .get(redemption_key(redemption_id))
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::RedemptionNotFound,
                    format!("no redemption with id {redemption_id:?}"),
                )
            })?;
        let (_, mut redemption) = parse_redemption(&item)?;
        if redemption.status == RedemptionStatus::Reversed {
            return Err(Error::new(
                ErrorCode::RedemptionAlreadyReversed,
                "this redemption was already reversed",
            ));
        }
        let CouponCtx {
            coupon,
            book,
            tally,
            ..
        } = self.load_ctx(&redemption.code, None).await?;
        let max = book.max();
        let after = CouponRecord {
            redemption_count: coupon.record.redemption_count.saturating_sub(1),
            ..coupon.record.clone()
        };
        let mut expr = Expr::new();
        expr.add("rc", -1);
        let was_used_up = max.is_some_and(|max| coupon.rc() >= i64::from(max));
        if was_used_up {
            // The coupon comes back into use: exactly from this count and state.
            expr.cond("rc", "=", n(coupon.rc()));
            expr.cond("lv", "=", n(coupon.lv));
            coupon.index_available(&mut expr, after.base_status(max) == BaseStatus::Available);
        } else {
            expr.cond("rc", ">", n(0));
            if let Some(max) = max {
                expr.cond("rc", "<", n(max));
            }
        }
        let mut red = Expr::new();
        red.cond_not_exists("reversed_at");
        red.set("reversed_at", n(now.millis()));
        let mut usage = Expr::new();
        usage.add("r", -1);
        let (counts, _, _) = tally_update(
            &self.table,
            &book,
            Some(&tally),
            &TallyChange {
                before: coupon.record.base_status(max),
                after: after.base_status(max),
                redemptions: -1,
                in_use: false,
                announce: false,
            },
        )?;
        redemption.status = RedemptionStatus::Reversed;
        redemption.reversed_at = Some(now);
        let items = vec![
            red.into_update(&self.table, redemption_key(redemption_id))?,
            expr.into_update(&self.table, coupon_key(&redemption.code))?,
            book.check(&self.table)?,
            usage.into_update(&self.table, usage_key(&book.id, &redemption.user_id))?,
            counts,
            self.event_put(event::REDEMPTION_REVERSED, &redemption, now)?,
        ];
        Ok((redemption, items))
    }

    /// Takes the next number of a table-wide sequence (book and key creation order).
    async fn next_seq(&self, name: &str) -> Result<i64> {
        let mut expr = Expr::new();
        expr.add("n", 1);
        let item = self
            .update_returning(key("SEQ", name), expr)
            .await?
            .ok_or_else(|| Error::internal("sequence update refused"))?;
        get_n(&item, "n")
    }

    /// After a change of the per-coupon limit: puts every code of the book in or out of
    /// the available index under the new limit and recounts the book. Runs after the
    /// settings commit, outside any transaction (see docs/dynamodb.md).
    async fn recount(&self, book_id: &str) -> Result<()> {
        let (book, _) = self.load_book(book_id).await?;
        let max = book.max();
        let mut tally = Tally::default();
        for item in self
            .query_all(Some("GSI2"), &format!("BCODES#{book_id}"))
            .await?
        {
            let coupon = CouponState::parse(&item)?;
            let status = coupon.record.base_status(max);
            let wanted = status == BaseStatus::Available;
            if wanted != item.contains_key("G1PK") {
                let mut expr = coupon.pinned();
                expr.cond("rc", "=", n(coupon.rc()));
                coupon.index_available(&mut expr, wanted);
                self.update_returning(coupon_key(&coupon.record.code), expr)
                    .await?;
            }
            tally.total += 1;
            *tally.slot(status) += 1;
            tally.unused += i64::from(is_unused(status));
        }
        let mut expr = Expr::new();
        for (name, value) in [
            ("total", tally.total),
            ("available", tally.available),
            ("assigned", tally.assigned),
            ("redeemed", tally.redeemed),
            ("voided", tally.voided),
            ("unused", tally.unused),
        ] {
            expr.set(name, n(value));
        }
        expr.cond_exists("PK");
        self.update_returning(counts_key(book_id), expr).await?;
        Ok(())
    }

    /// Inserts one chunk of new codes with the counters in one transaction. Codes that
    /// exist are sorted out from the cancellation reasons (which return the stored
    /// item) and the rest is sent again. Each code records where it came from
    /// (`origin` = job/position/line), so a batch sent again after a crash recognises
    /// its own earlier inserts.
    async fn insert_chunk(
        &self,
        book_id: &str,
        origin: &str,
        chunk: &[(u64, String, i64)],
        now: Timestamp,
        outcome: &mut BatchOutcome,
    ) -> Result<()> {
        let job_prefix = origin.split('/').next().unwrap_or(origin).to_string() + "/";
        let mut pending: Vec<&(u64, String, i64)> = chunk.iter().collect();
        for _ in 0..MAX_DECISIONS {
            if pending.is_empty() {
                return Ok(());
            }
            let mut items = Vec::with_capacity(pending.len() + 2);
            for (line, code, seq) in &pending {
                let shard = i64::from(rand::rng().random_range(0..AVAILABLE_SHARDS));
                let mut item = coupon_key(code);
                item.insert("code".into(), s(code));
                item.insert("book".into(), s(book_id));
                item.insert("cseq".into(), n(*seq));
                item.insert("created".into(), n(now.millis()));
                item.insert("rc".into(), n(0));
                item.insert("lv".into(), n(0));
                item.insert("voided".into(), AttributeValue::Bool(false));
                item.insert("shard".into(), n(shard));
                item.insert("origin".into(), s(format!("{origin}/{line}")));
                item.insert("G1PK".into(), s(available_pk(book_id, shard)));
                item.insert("G1SK".into(), s(code));
                item.insert("G2PK".into(), s(format!("BCODES#{book_id}")));
                item.insert("G2SK".into(), s(pad(*seq)));
                let put = built(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(PK)")
                        .return_values_on_condition_check_failure(
                            aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build(),
                )?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            let count = pending.len() as i64;
            let mut counts = Expr::new();
            counts
                .add("total", count)
                .add("available", count)
                .add("unused", count)
                .cond_exists("PK");
            items.push(counts.into_update(&self.table, counts_key(book_id))?);
            let mut meta = Expr::new();
            meta.cond_exists("PK");
            items.push(meta.into_check(&self.table, meta_key(book_id))?);
            match self.transact(items).await? {
                Tx::Committed => {
                    outcome.inserted += pending.len() as u64;
                    return Ok(());
                }
                Tx::Conditional(reasons) => {
                    let book_gone = reasons
                        .iter()
                        .skip(pending.len())
                        .any(|(r, _)| r == "ConditionalCheckFailed");
                    if book_gone {
                        return Err(Error::book_not_found(book_id));
                    }
                    let mut left = Vec::new();
                    for (entry, (reason, old)) in pending.iter().zip(&reasons) {
                        if reason != "ConditionalCheckFailed" {
                            left.push(*entry);
                            continue;
                        }
                        let stored = old.as_ref().and_then(|item| opt_s(item, "origin"));
                        let found = (entry.0, entry.1.clone());
                        match stored {
                            Some(o) if o == format!("{origin}/{}", entry.0) => {
                                outcome.inserted += 1
                            }
                            Some(o) if o.starts_with(&job_prefix) => outcome.duplicates.push(found),
                            _ => outcome.already_exist.push(found),
                        }
                    }
                    pending = left;
                }
            }
        }
        Err(busy())
    }

    /// Stores a batch of accepted codes for a job, in creation order.
    async fn insert_codes(
        &self,
        job: &Job,
        accepted: &[(u64, String)],
        now: Timestamp,
    ) -> Result<BatchOutcome> {
        let mut outcome = BatchOutcome::default();
        if accepted.is_empty() {
            return Ok(outcome);
        }
        // Reserve creation positions for the whole batch in one counter update.
        let count = accepted.len() as i64;
        let mut reserve = Expr::new();
        reserve.add("next_code_seq", count).cond_exists("PK");
        let end = match self
            .update_returning(counts_key(&job.book_id), reserve)
            .await?
        {
            Some(item) => get_n(&item, "next_code_seq")?,
            None => return Err(Error::book_not_found(&job.book_id)),
        };
        let numbered: Vec<(u64, String, i64)> = accepted
            .iter()
            .enumerate()
            .map(|(i, (line, code))| (*line, code.clone(), end - count + i as i64 + 1))
            .collect();
        let origin = format!("{}/{}", job.id, job.processed);
        for chunk in numbered.chunks(CODES_PER_TRANSACTION) {
            self.insert_chunk(&job.book_id, &origin, chunk, now, &mut outcome)
                .await?;
        }
        outcome.already_exist.sort_by_key(|(line, _)| *line);
        outcome.duplicates.sort_by_key(|(line, _)| *line);
        Ok(outcome)
    }

    async fn load_job(&self, job_id: &str) -> Result<(Job, Value, i64)> {
        match self.get(key(format!("JOB#{job_id}"), "JOB")).await? {
            Some(item) => Ok((
                from_json(&get_s(&item, "body")?)?,
                from_json(&get_s(&item, "spec")?)?,
                get_n(&item, "v")?,
            )),
            None => Err(Error::new(
                ErrorCode::JobNotFound,
                format!("no job with id {job_id:?}"),
            )),
        }
    }

    /// Saves a job's progress (and resume spec), checking nobody else moved it.
    fn job_update(
        &self,
        job: &Job,
        spec: Option<&Value>,
        version: i64,
    ) -> Result<TransactWriteItem> {
        let mut expr = Expr::new();
        expr.cond("v", "=", n(version));
        expr.set("body", s(to_json(job)?)).bump("v");
        if let Some(spec) = spec {
            expr.set("spec", s(to_json(spec)?));
        }
        if job.status != JobStatus::Running {
            expr.remove(&["G1PK"]).remove(&["G1SK"]);
        }
        expr.into_update(&self.table, key(format!("JOB#{}", job.id), "JOB"))
    }

    /// Stores a deterministic refusal under the idempotency key, then returns it.
    async fn refuse<T: Serialize>(&self, idem: Option<&Idempotency>, err: Error) -> Result<T> {
        if let Some(idem) = idem
            && err.code.is_deterministic()
        {
            let refusal: std::result::Result<T, Error> = Err(err.clone());
            self.transact(vec![self.idem_put(idem, &refusal, self.clock.now())?])
                .await?;
        }
        Err(err)
    }
}

/// SQL LIKE with `_` (one character), `%` (any run) and `\` escapes, ASCII case
/// insensitive like SQLite's.
fn like_matches(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        let (token, width) = match pattern.get(p) {
            Some('\\') => (pattern.get(p + 1).map(|c| (*c, true)), 2),
            Some(c) => (Some((*c, false)), 1),
            None => (None, 0),
        };
        match token {
            Some(('%', false)) => {
                star = Some(p + 1);
                mark = t;
                p += 1;
            }
            Some(('_', false)) => {
                p += width;
                t += 1;
            }
            Some((c, _)) if c.eq_ignore_ascii_case(&text[t]) => {
                p += width;
                t += 1;
            }
            _ => match star {
                Some(after) => {
                    p = after;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    while pattern.get(p) == Some(&'%') {
        p += 1;
    }
    p == pattern.len()
}

// ---------------------------------------------------------------------------------
// The Store contract

#[async_trait]
impl Store for DynamoStore {
    async fn ping(&self) -> Result<()> {
        self.get(key("PING", "PING")).await.map(|_| ())
    }

    async fn create_book(&self, settings: BookSettings, idem: Option<Idempotency>) -> Result<Book> {
        self.run(idem.as_ref(), |now| {
            let settings = settings.clone();
            async move {
                let seq = self.next_seq("BOOK").await?;
                let id = new_id("book");
                let mut meta = meta_key(&id);
                meta.insert("id".into(), s(&id));
                meta.insert("seq".into(), n(seq));
                meta.insert("settings".into(), s(to_json(&settings)?));
                meta.insert("sv".into(), n(0));
                meta.insert("created_at".into(), n(now.millis()));
                meta.insert("updated_at".into(), n(now.millis()));
                meta.insert("G1PK".into(), s("BOOKS"));
                meta.insert("G1SK".into(), s(pad(seq)));
                let mut counts = counts_key(&id);
                for name in [
                    "total",
                    "available",
                    "assigned",
                    "redeemed",
                    "voided",
                    "redemptions",
                    "unused",
                    "next_code_seq",
                ] {
                    counts.insert(name.into(), n(0));
                }
                counts.insert("in_use".into(), AttributeValue::Bool(false));
                let book = Book {
                    id: id.clone(),
                    settings,
                    created_at: now,
                    updated_at: now,
                    counts: Counts::default(),
                };
                let items = vec![
                    put_new(&self.table, meta)?,
                    put_new(&self.table, counts)?,
                    self.event_put(event::BOOK_CREATED, &book, now)?,
                ];
                Ok((book, items))
            }
        })
        .await
    }

    async fn get_book(&self, book_id: &str) -> Result<Book> {
        let (book, tally) = self.load_book(book_id).await?;
        self.book_view(&book, &tally, self.clock.now()).await
    }

    async fn list_books(&self, page: PageRequest) -> Result<Page<Book>> {
        let after = page.after.map(pad);
        let (items, _) = self
            .query_page(
                Some("GSI1"),
                "BOOKS",
                after.as_deref(),
                page.limit as i32 + 1,
            )
            .await?;
        let now = self.clock.now();
        let mut books = Vec::new();
        for item in &items {
            let seq = get_n(item, "seq")?;
            let book = BookState::parse(item)?;
            let tally = self
                .get(counts_key(&book.id))
                .await?
                .map(|item| Tally::parse(&item))
                .unwrap_or_default();
            books.push((seq, self.book_view(&book, &tally, now).await?));
        }
        Ok(page_of(books, page.limit))
    }

    async fn update_book(&self, book_id: &str, patch: UpdateBook) -> Result<Book> {
        let recount = std::sync::atomic::AtomicBool::new(false);
        let book = self
            .run(None, |now| {
                let patch = patch.clone();
                let recount = &recount;
                async move {
                    let (book, tally) = self.load_book(book_id).await?;
                    let settings = patch.apply(&book.settings)?;
                    recount.store(
                        settings.max_redemptions_per_coupon
                            != book.settings.max_redemptions_per_coupon,
                        Ordering::Relaxed,
                    );
                    let mut expr = Expr::new();
                    expr.cond("sv", "=", n(book.sv));
                    expr.set("settings", s(to_json(&settings)?))
                        .set("updated_at", n(now.millis()))
                        .bump("sv");
                    let updated = BookState {
                        settings,
                        sv: book.sv + 1,
                        updated_at: now,
                        ..book
                    };
                    let view = self.book_view(&updated, &tally, now).await?;
                    let items = vec![
                        expr.into_update(&self.table, meta_key(book_id))?,
                        self.event_put(event::BOOK_UPDATED, &view, now)?,
                    ];
                    Ok((view, items))
                }
            })
            .await?;
        if recount.load(Ordering::Relaxed) {
            self.recount(book_id).await?;
            return self.get_book(book_id).await;
        }
        Ok(book)
    }

    async fn delete_book(&self, book_id: &str) -> Result<()> {
        self.run(None, |now| async move {
            let (book, tally) = self.load_book(book_id).await?;
            if tally.in_use {
                return Err(Error::new(
                    ErrorCode::BookInUse,
                    "codes of this book were assigned or redeemed; archive it instead",
                ));
            }
            let view = self.book_view(&book, &tally, now).await?;
            let mut meta = Expr::new();
            meta.cond("sv", "=", n(book.sv));
            let mut counts = Expr::new();
            counts.cond("in_use", "=", AttributeValue::Bool(false));
            let items = vec![
                meta.into_delete(&self.table, meta_key(book_id))?,
                counts.into_delete(&self.table, counts_key(book_id))?,
                self.event_put(event::BOOK_DELETED, &view, now)?,
            ];
            Ok(((), items))
        })
        .await?;
        // The book is gone (its codes now read as not found); free its codes and
        // usage items.
        let mut keys: Vec<Item> = Vec::new();
        for item in self
            .query_all(Some("GSI2"), &format!("BCODES#{book_id}"))
            .await?
        {
            keys.push(coupon_key(&get_s(&item, "code")?));
        }
        for item in self.query_all(None, &book_pk(book_id)).await? {
            keys.push(key(get_s(&item, "PK")?, get_s(&item, "SK")?));
        }
        self.batch_delete(keys).await
    }

    async fn book_stats(&self, book_id: &str, bucket: Bucket) -> Result<BookStats> {
        let book = self.get_book(book_id).await?;
        let width = bucket.millis();
        let mut buckets: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        let mut users: HashMap<String, u64> = HashMap::new();
        for item in self
            .query_all(Some("GSI1"), &format!("RBOOK#{book_id}"))
            .await?
        {
            let (_, redemption) = parse_redemption(&item)?;
            let start = redemption.redeemed_at.millis().div_euclid(width) * width;
            buckets.entry(start).or_default().0 += 1;
            match redemption.reversed_at {
                Some(at) => {
                    buckets
                        .entry(at.millis().div_euclid(width) * width)
                        .or_default()
                        .1 += 1
                }
                None => *users.entry(redemption.user_id).or_default() += 1,
            }
        }
        let skip = buckets.len().saturating_sub(1000);
        let redemptions = buckets
            .into_iter()
            .skip(skip)
            .map(|(start, (redeemed, reversed))| RedemptionBucket {
                start: Timestamp(start),
                redeemed,
                reversed,
            })
            .collect();
        let mut top_users: Vec<TopUser> = users
            .into_iter()
            .map(|(user_id, redemptions)| TopUser {
                user_id,
                redemptions,
            })
            .collect();
        top_users.sort_by(|a, b| {
            b.redemptions
                .cmp(&a.redemptions)
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        top_users.truncate(10);
        Ok(BookStats {
            counts: book.counts,
            redemptions,
            top_users,
        })
    }

    async fn add_codes(
        &self,
        book_id: &str,
        kind: JobKind,
        intake: CodeIntake,
        idem: Option<Idempotency>,
    ) -> Result<Job> {
        if let Some(answer) = self.replay::<Job>(idem.as_ref()).await? {
            return answer;
        }
        let job = match self
            .create_job(book_id, kind, intake.lines, Value::Null, None)
            .await
        {
            Ok(job) => job,
            Err(err) => return self.refuse(idem.as_ref(), err).await,
        };
        let job = self.add_job_codes(&job.id, intake, Value::Null).await?;
        let job = self.finish_job(&job.id, JobStatus::Succeeded).await?;
        let Some(idem) = &idem else {
            return Ok(job);
        };
        let answer: std::result::Result<&Job, Error> = Ok(&job);
        match self
            .transact(vec![self.idem_put(idem, &answer, self.clock.now())?])
            .await?
        {
            Tx::Committed => Ok(job),
            // Another request with the same key finished first: its answer stands.
            Tx::Conditional(_) => match self.replay::<Job>(Some(idem)).await? {
                Some(answer) => answer,
                None => Err(busy()),
            },
        }
    }

    async fn create_job(
        &self,
        book_id: &str,
        kind: JobKind,
        total: u64,
        spec: Value,
        idem: Option<Idempotency>,
    ) -> Result<Job> {
        self.run(idem.as_ref(), |now| {
            let spec = spec.clone();
            async move {
                let (book, _) = self.load_book(book_id).await?;
                if !book.settings.status.accepts_codes() {
                    return Err(Error::new(
                        ErrorCode::BookNotActive,
                        "codes cannot be added to an archived book",
                    ));
                }
                let job = Job::start(new_id("job"), kind, book.id.clone(), total, now);
                let mut item = key(format!("JOB#{}", job.id), "JOB");
                item.insert("book_id".into(), s(&book.id));
                item.insert("body".into(), s(to_json(&job)?));
                item.insert("spec".into(), s(to_json(&spec)?));
                item.insert("v".into(), n(0));
                item.insert("G1PK".into(), s("JOBS_RUNNING"));
                item.insert("G1SK".into(), s(&job.id));
                Ok((job, vec![put_new(&self.table, item)?]))
            }
        })
        .await
    }

    async fn add_job_codes(&self, job_id: &str, intake: CodeIntake, spec: Value) -> Result<Job> {
        let (mut job, _, version) = self.load_job(job_id).await?;
        if job.status != JobStatus::Running {
            return Err(Error::internal("the job is already finished"));
        }
        let outcome = self
            .insert_codes(&job, &intake.accepted, self.clock.now())
            .await?;
        job.absorb(intake, outcome);
        match self
            .transact(vec![self.job_update(&job, Some(&spec), version)?])
            .await?
        {
            Tx::Committed => Ok(job),
            Tx::Conditional(_) => {
                tracing::error!(job_id, "job moved by another writer");
                Err(busy())
            }
        }
    }

    async fn finish_job(&self, job_id: &str, status: JobStatus) -> Result<Job> {
        self.run(None, |now| async move {
            let (mut job, _, version) = self.load_job(job_id).await?;
            if job.status != JobStatus::Running {
                return Ok((job, Vec::new()));
            }
            job.finish(status, now);
            let mut items = vec![self.job_update(&job, None, version)?];
            if job.inserted > 0 {
                let (book, tally) = self.load_book(&job.book_id).await?;
                let view = self.book_view(&book, &tally, now).await?;
                items.push(self.event_put(event::BOOK_CODES_ADDED, &view, now)?);
            }
            Ok((job, items))
        })
        .await
    }

    async fn unfinished_jobs(&self) -> Result<Vec<(Job, Value)>> {
        let mut jobs = Vec::new();
        for item in self.query_all(Some("GSI1"), "JOBS_RUNNING").await? {
            jobs.push((
                from_json(&get_s(&item, "body")?)?,
                from_json(&get_s(&item, "spec")?)?,
            ));
        }
        Ok(jobs)
    }

    async fn count_codes_like(&self, like: &str) -> Result<u64> {
        // No index can answer a LIKE: scan the codes (see docs/dynamodb.md).
        let pattern: Vec<char> = like.chars().collect();
        let mut literal = String::new();
        let mut chars = like.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' | '_' => break,
                '\\' => match chars.next() {
                    Some(next) => literal.push(next),
                    None => break,
                },
                c => literal.push(c.to_ascii_uppercase()),
            }
        }
        let mut count = 0;
        for item in self.scan_prefix(&format!("CODE#{literal}")).await? {
            if let Some(code) = opt_s(&item, "code") {
                let text: Vec<char> = code.chars().collect();
                if like_matches(&pattern, &text) {
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    async fn get_job(&self, job_id: &str) -> Result<Job> {
        Ok(self.load_job(job_id).await?.0)
    }

    async fn list_codes(
        &self,
        book_id: &str,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>> {
        let (book, _) = self.load_book(book_id).await?;
        let now = self.clock.now();
        let mut after = page.after.map(pad);
        let mut found = Vec::new();
        let fetch = if status.is_some() {
            1000
        } else {
            page.limit as i32 + 1
        };
        loop {
            let (items, more) = self
                .query_page(
                    Some("GSI2"),
                    &format!("BCODES#{book_id}"),
                    after.as_deref(),
                    fetch,
                )
                .await?;
            for item in &items {
                let coupon = CouponState::parse(item)?;
                let view = coupon.view(book.max(), now);
                if status.is_none_or(|s| view.status == s) {
                    found.push((get_n(item, "cseq")?, view));
                }
                if found.len() > page.limit as usize {
                    return Ok(page_of(found, page.limit));
                }
            }
            after = items.last().and_then(|item| opt_s(item, "G2SK"));
            if !more || after.is_none() {
                return Ok(page_of(found, page.limit));
            }
        }
    }

    async fn get_coupon(&self, code: &str) -> Result<Coupon> {
        let coupon = self.load_coupon(code).await?;
        let (book, _) = self
            .load_book(&coupon.record.book_id)
            .await
            .map_err(|_| Error::coupon_not_found(code))?;
        Ok(coupon.view(book.max(), self.clock.now()))
    }

    async fn assign(&self, code: &str, user_id: &str, idem: Option<Idempotency>) -> Result<Coupon> {
        self.run(idem.as_ref(), |now| self.decide_assign(code, user_id, now))
            .await
    }

    async fn assign_next(
        &self,
        book_id: &str,
        user_id: &str,
        idem: Option<Idempotency>,
    ) -> Result<Coupon> {
        self.run(idem.as_ref(), |now| {
            self.decide_assign_next(book_id, user_id, now)
        })
        .await
    }

    async fn unassign(&self, code: &str) -> Result<Coupon> {
        self.run(None, |now| self.decide_unassign(code, now)).await
    }

    async fn validate(&self, code: &str, user_id: &str) -> Result<Validation> {
        let now = self.clock.now();
        let ctx = self.load_ctx(code, Some(user_id)).await?;
        let live = ctx.coupon.live_locks(now);
        let context = UseContext {
            book: &ctx.book.settings,
            book_redemptions: ctx.tally.redemptions.max(0) as u64,
            coupon: &ctx.coupon.record,
            live_locks: &live,
            usage: ctx.usage,
            user_id,
            now,
        };
        let reason = context.check_redeem(None).err().map(|e| e.code);
        Ok(Validation {
            valid: reason.is_none(),
            reason,
            coupon: ctx.coupon.record.view(ctx.book.max(), &live),
        })
    }

    async fn lock(
        &self,
        code: &str,
        user_id: &str,
        ttl_seconds: Option<u32>,
        idem: Option<Idempotency>,
    ) -> Result<Lock> {
        self.run(idem.as_ref(), |now| {
            self.decide_lock(code, user_id, ttl_seconds, now)
        })
        .await
    }

    async fn lock_holder(&self, lock_id: &str) -> Result<Option<String>> {
        let Some(code) = lock_code(lock_id) else {
            return Ok(None);
        };
        let Some(item) = self.get(coupon_key(code)).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        Ok(CouponState::parse(&item)?
            .locks
            .into_iter()
            .find(|l| l.lock_id == lock_id && l.is_live(now))
            .map(|l| l.user_id))
    }

    async fn unlock(&self, code: &str, lock_id: &str, idem: Option<Idempotency>) -> Result<Coupon> {
        self.run(idem.as_ref(), |now| self.decide_unlock(code, lock_id, now))
            .await
    }

    async fn redeem(
        &self,
        request: RedeemRequest,
        idem: Option<Idempotency>,
    ) -> Result<Redemption> {
        self.run_with(idem.as_ref(), Reads::Least, |now, reads| {
            self.decide_redeem(&request, now, reads)
        })
        .await
    }

    async fn void(&self, code: &str, idem: Option<Idempotency>) -> Result<Coupon> {
        self.run(idem.as_ref(), |now| self.decide_void(code, now))
            .await
    }

    async fn reverse(&self, redemption_id: &str, idem: Option<Idempotency>) -> Result<Redemption> {
        self.run(idem.as_ref(), |now| self.decide_reverse(redemption_id, now))
            .await
    }

    async fn get_redemption(&self, redemption_id: &str) -> Result<Redemption> {
        match self.get(redemption_key(redemption_id)).await? {
            Some(item) => Ok(parse_redemption(&item)?.1),
            None => Err(Error::new(
                ErrorCode::RedemptionNotFound,
                format!("no redemption with id {redemption_id:?}"),
            )),
        }
    }

    async fn list_redemptions(
        &self,
        filter: RedemptionFilter,
        page: PageRequest,
    ) -> Result<Page<Redemption>> {
        let keep = |r: &Redemption| {
            filter.book_id.as_ref().is_none_or(|b| &r.book_id == b)
                && filter.user_id.as_ref().is_none_or(|u| &r.user_id == u)
                && filter.code.as_ref().is_none_or(|c| &r.code == c)
        };
        let index = if let Some(code) = &filter.code {
            Some(("GSI3", format!("RCODE#{code}")))
        } else if let Some(user) = &filter.user_id {
            Some(("GSI2", format!("RUSER#{user}")))
        } else {
            filter
                .book_id
                .as_ref()
                .map(|book| ("GSI1", format!("RBOOK#{book}")))
        };
        let Some((index, pk)) = index else {
            // No filter: every redemption, sorted here (an operator's view).
            let mut all = Vec::new();
            for item in self.scan_prefix("RED#").await? {
                let (pos, redemption) = parse_redemption(&item)?;
                if page.after.is_none_or(|after| pos > after) {
                    all.push((pos, redemption));
                }
            }
            all.sort_by_key(|(pos, _)| *pos);
            all.truncate(page.limit as usize + 1);
            return Ok(page_of(all, page.limit));
        };
        let sk_name = format!("G{}SK", index.trim_start_matches("GSI"));
        let mut after = page.after.map(pad);
        let mut found = Vec::new();
        loop {
            let (items, more) = self
                .query_page(Some(index), &pk, after.as_deref(), page.limit as i32 + 1)
                .await?;
            for item in &items {
                let (pos, redemption) = parse_redemption(item)?;
                if keep(&redemption) {
                    found.push((pos, redemption));
                }
                if found.len() > page.limit as usize {
                    return Ok(page_of(found, page.limit));
                }
            }
            after = items.last().and_then(|item| opt_s(item, &sk_name));
            if !more || after.is_none() {
                return Ok(page_of(found, page.limit));
            }
        }
    }

    async fn user_coupons(
        &self,
        user_id: &str,
        book_id: Option<&str>,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>> {
        let mut books: HashMap<String, Option<u32>> = HashMap::new();
        if let Some(book_id) = book_id {
            let (book, _) = self.load_book(book_id).await?;
            books.insert(book.id.clone(), book.max());
        }
        let now = self.clock.now();
        let mut after = page.after.map(pad);
        let mut found = Vec::new();
        loop {
            let (items, more) = self
                .query_page(
                    Some("GSI3"),
                    &format!("UCOUP#{user_id}"),
                    after.as_deref(),
                    200,
                )
                .await?;
            for item in &items {
                let coupon = CouponState::parse(item)?;
                if book_id.is_some_and(|b| b != coupon.record.book_id) {
                    continue;
                }
                let max = match books.get(&coupon.record.book_id) {
                    Some(max) => *max,
                    None => match self.load_book(&coupon.record.book_id).await {
                        Ok((book, _)) => {
                            books.insert(book.id.clone(), book.max());
                            book.max()
                        }
                        Err(err) if err.code == ErrorCode::BookNotFound => continue,
                        Err(err) => return Err(err),
                    },
                };
                let view = coupon.view(max, now);
                if status.is_none_or(|s| view.status == s) {
                    found.push((get_n(item, "aseq")?, view));
                }
                if found.len() > page.limit as usize {
                    return Ok(page_of(found, page.limit));
                }
            }
            after = items.last().and_then(|item| opt_s(item, "G3SK"));
            if !more || after.is_none() {
                return Ok(page_of(found, page.limit));
            }
        }
    }

    async fn list_events(&self, after: Option<&str>, limit: u32) -> Result<Page<Event>> {
        let after = match after {
            None | Some("") => None,
            Some(id) => Some(
                parse_event_id(id).ok_or_else(|| Error::invalid("after", "unknown event id"))?,
            ),
        };
        // The partitions are read one after another, not at one instant: an event
        // committed to a partition already read while a later one is being read would
        // sit behind newer events seen there, and a reader whose cursor moves to the
        // newest event would pass over it. A coupon's event is made only after its
        // previous one committed, so listing just the events made before this read
        // began keeps every coupon's events whole and in order; newer ones come next time.
        // Event ids carry the system time, whatever clock decisions use.
        let read_began = event_id_floor(Timestamp::now());
        let mut merged: Vec<Item> = Vec::new();
        for shard in 0..EVENT_SHARDS {
            let (items, _) = self
                .query_page(None, &format!("EVT#{shard}"), after, limit as i32 + 1)
                .await?;
            merged.extend(items);
        }
        let mut events = Vec::with_capacity(merged.len());
        for item in &merged {
            let event = event_from_item(item)?;
            if event.id < read_began {
                events.push(event);
            }
        }
        events.sort_by(|a, b| a.id.cmp(&b.id));
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_cursor = if more {
            events.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(Page {
            data: events,
            next_cursor,
        })
    }

    async fn expire_locks(&self) -> Result<u64> {
        let now = self.clock.now();
        let mut expired_total = 0u64;
        for book_item in self.query_all(Some("GSI1"), "BOOKS").await? {
            let book = BookState::parse(&book_item)?;
            for item in self
                .query_all(Some("GSI4"), &format!("LOCKED#{}", book.id))
                .await?
            {
                let coupon = CouponState::parse(&item)?;
                let expired: Vec<&Lock> = coupon.locks.iter().filter(|l| !l.is_live(now)).collect();
                if expired.is_empty() {
                    continue;
                }
                let mut expr = coupon.pinned();
                for lock in &expired {
                    expr.remove(&["locks", &lock.lock_id]);
                }
                if expired.len() == coupon.locks.len() {
                    expr.remove(&["G4PK"]).remove(&["G4SK"]);
                }
                expr.bump("lv");
                let view = coupon.view(book.max(), now);
                let mut items =
                    vec![expr.into_update(&self.table, coupon_key(&coupon.record.code))?];
                for _ in &expired {
                    items.push(self.event_put(event::COUPON_LOCK_EXPIRED, &view, now)?);
                }
                // A coupon that changed meanwhile is swept next time.
                if let Tx::Committed = self.transact(items).await? {
                    expired_total += expired.len() as u64;
                }
                if expired_total >= 1000 {
                    return Ok(expired_total);
                }
            }
        }
        Ok(expired_total)
    }

    async fn create_api_key(
        &self,
        api_key: ApiKey,
        key_hash: String,
        idem: Option<Idempotency>,
    ) -> Result<ApiKey> {
        self.run(idem.as_ref(), |_| {
            let api_key = api_key.clone();
            let key_hash = key_hash.clone();
            async move {
                if self.find_api_key(&key_hash).await?.is_some() {
                    return Err(Error::internal("an API key with this hash exists"));
                }
                let items = self.api_key_items(&api_key, &key_hash).await?;
                Ok((api_key, items))
            }
        })
        .await
    }

    async fn ensure_api_key(&self, api_key: ApiKey, key_hash: String) -> Result<ApiKey> {
        self.run(None, |_| {
            let api_key = api_key.clone();
            let key_hash = key_hash.clone();
            async move {
                if let Some(existing) = self.find_api_key(&key_hash).await? {
                    return Ok((existing, Vec::new()));
                }
                let items = self.api_key_items(&api_key, &key_hash).await?;
                Ok((api_key, items))
            }
        })
        .await
    }

    async fn list_api_keys(&self, page: PageRequest) -> Result<Page<ApiKey>> {
        let after = page.after.map(pad);
        let (items, _) = self
            .query_page(
                Some("GSI1"),
                "KEYS",
                after.as_deref(),
                page.limit as i32 + 1,
            )
            .await?;
        let keys = items
            .iter()
            .map(|item| Ok((get_n(item, "seq")?, parse_api_key(item)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(keys, page.limit))
    }

    async fn delete_api_key(&self, id: &str) -> Result<()> {
        self.run(None, |_| async move {
            let item = self
                .get(key(format!("KEY#{id}"), "KEY"))
                .await?
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::ApiKeyNotFound,
                        format!("no API key with id {id:?}"),
                    )
                })?;
            let hash = get_s(&item, "hash")?;
            let mut by_id = Expr::new();
            by_id.cond_exists("PK");
            let items = vec![
                by_id.into_delete(&self.table, key(format!("KEY#{id}"), "KEY"))?,
                Expr::new().into_delete(&self.table, key(format!("KEYHASH#{hash}"), "KEYHASH"))?,
            ];
            Ok(((), items))
        })
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        match self
            .get(key(format!("KEYHASH#{key_hash}"), "KEYHASH"))
            .await?
        {
            Some(item) => Ok(Some(parse_api_key(&item)?)),
            None => Ok(None),
        }
    }
}

impl DynamoStore {
    /// The two items of an API key: by id (listing, deletion) and by hash (lookup on
    /// every request, and uniqueness of the hash).
    async fn api_key_items(
        &self,
        api_key: &ApiKey,
        key_hash: &str,
    ) -> Result<Vec<TransactWriteItem>> {
        let seq = self.next_seq("KEY").await?;
        let mut by_id = key(format!("KEY#{}", api_key.id), "KEY");
        let mut by_hash = key(format!("KEYHASH#{key_hash}"), "KEYHASH");
        for item in [&mut by_id, &mut by_hash] {
            item.insert("id".into(), s(&api_key.id));
            item.insert("name".into(), s(&api_key.name));
            item.insert("scopes".into(), s(to_json(&api_key.scopes)?));
            item.insert("created_at".into(), n(api_key.created_at.millis()));
            item.insert("hash".into(), s(key_hash));
        }
        by_id.insert("seq".into(), n(seq));
        by_id.insert("G1PK".into(), s("KEYS"));
        by_id.insert("G1SK".into(), s(pad(seq)));
        Ok(vec![
            put_new(&self.table, by_id)?,
            put_new(&self.table, by_hash)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::coupon::CouponStatus;

    #[test]
    fn events_of_one_coupon_share_an_outbox_partition() {
        let event = |event_type: &str, data: Value| Event {
            id: "evt_1".into(),
            event_type: event_type.into(),
            created_at: Timestamp(0),
            data,
        };
        let locked = event_shard(&event(
            "coupon.locked",
            serde_json::json!({"code": "SUMMER-1"}),
        ));
        let redeemed = event_shard(&event(
            "coupon.redeemed",
            serde_json::json!({"id": "red_1", "code": "SUMMER-1"}),
        ));
        assert_eq!(locked, redeemed);
        let shards: std::collections::HashSet<u32> = (0..200)
            .map(|i| {
                event_shard(&event(
                    "coupon.locked",
                    serde_json::json!({"code": format!("C-{i}")}),
                ))
            })
            .collect();
        assert_eq!(
            shards.len() as u32,
            EVENT_SHARDS,
            "codes spread over every partition"
        );
    }

    /// Drops nothing: the test server is in memory and stops with the test run.
    pub struct TableGuard;

    fn endpoint() -> String {
        std::env::var("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
            panic!(
                "COUPON_BOOK_TEST_DYNAMODB_ENDPOINT is not set: run the tests with \
                 ./scripts/test.sh, which starts a local DynamoDB-compatible server"
            )
        })
    }

    async fn fresh_store() -> DynamoStore {
        let table = format!(
            "coupon-book-test-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let store = DynamoStore::with_client(local_client(&endpoint()), &table).expect("store");
        assert!(store.create_table().await.expect("create table"));
        store
    }

    async fn fresh() -> (TableGuard, crate::store::DynStore) {
        (TableGuard, Arc::new(fresh_store().await))
    }

    crate::conformance_tests!(fresh);

    async fn book_with_codes(store: &DynamoStore, codes: &[&str]) -> String {
        let settings = serde_json::from_value::<crate::domain::book::CreateBook>(
            serde_json::json!({"name": "faults", "status": "active", "requires_assignment": false}),
        )
        .expect("body")
        .into_settings()
        .expect("settings");
        let book = store.create_book(settings, None).await.expect("book");
        let intake = CodeIntake::from_codes(codes.iter().copied());
        let job = store
            .add_codes(&book.id, JobKind::Upload, intake, None)
            .await
            .expect("codes");
        assert_eq!(job.inserted, codes.len() as u64);
        book.id
    }

    fn redeem(code: &str, user: &str) -> RedeemRequest {
        RedeemRequest {
            code: code.into(),
            user_id: user.into(),
            lock_id: None,
            metadata: None,
        }
    }

    /// The table is made with its stream unless told otherwise: the Lambda streams
    /// function needs it, and the test command turns it off.
    #[tokio::test]
    async fn the_table_has_a_stream_of_new_images_by_default() {
        let store = fresh_store().await;
        let client = local_client(&endpoint());
        let stream_of = |table: String| {
            let client = client.clone();
            async move {
                let described = client
                    .describe_table()
                    .table_name(table)
                    .send()
                    .await
                    .expect("described");
                described
                    .table()
                    .and_then(|t| t.stream_specification())
                    .filter(|s| s.stream_enabled())
                    .and_then(|s| s.stream_view_type())
                    .cloned()
            }
        };
        let table = format!("{}-streamed", store.table);
        assert!(create_table(&client, &table, true).await.expect("created"));
        assert_eq!(stream_of(table).await, Some(StreamViewType::NewImage));
        let off = std::env::var("COUPON_BOOK_DYNAMODB_STREAM").is_ok_and(|v| v == "off");
        assert_eq!(
            stream_of(store.table.clone()).await.is_some(),
            !off,
            "COUPON_BOOK_DYNAMODB_STREAM is followed"
        );
    }

    /// A redeem is one request where the book is known (from the lock id, or an
    /// earlier read of the code) and two (a coupon read first) otherwise. Changed
    /// settings, a budget at its edge and shapes the conditions do not cover are each
    /// caught by the transaction and decided on full reads.
    #[tokio::test]
    async fn redeem_reads_as_little_as_it_can_and_falls_back_when_it_must() {
        let store = fresh_store().await;
        let codes = ["FEW-1", "FEW-2", "FEW-3", "FEW-4", "FEW-5", "FEW-6"];
        let book_id = book_with_codes(&store, &codes).await;
        let budget = serde_json::json!({"max_total_redemptions": 5});
        let patch = serde_json::from_value::<UpdateBook>(budget).expect("patch");
        store.update_book(&book_id, patch).await.expect("budget");
        // The requests and the reads among them that a redeem took.
        let requests_of = |request: RedeemRequest| {
            let store = &store;
            async move {
                let before = store.capacity();
                store.redeem(request, None).await.expect("redeemed");
                let after = store.capacity();
                (
                    after.requests - before.requests,
                    after.read_requests - before.read_requests,
                )
            }
        };

        // A code this process read before: the transaction alone.
        store.get_coupon("FEW-1").await.expect("coupon");
        assert_eq!(requests_of(redeem("FEW-1", "ann")).await, (1, 0));

        // A code never read here: the coupon, then the transaction; and where the
        // book is not known either, its settings and counters once more (the coupon
        // is not read again).
        assert_eq!(requests_of(redeem("FEW-2", "bob")).await, (2, 1));
        store.books.lock().expect("memory").clear();
        assert_eq!(requests_of(redeem("FEW-6", "fay")).await, (3, 2));

        // With a lock, made by any process: the lock id names the book.
        let lock = store.lock("FEW-3", "cy", None, None).await.expect("lock");
        store.code_books.lock().expect("memory").clear();
        let with_lock = RedeemRequest {
            lock_id: Some(lock.lock_id.clone()),
            ..redeem("FEW-3", "cy")
        };
        assert_eq!(requests_of(with_lock).await, (1, 0));
        let coupon = store.get_coupon("FEW-3").await.expect("coupon");
        assert_eq!(coupon.redemption_count, 1);
        assert!(
            store
                .lock_holder(&lock.lock_id)
                .await
                .expect("holder")
                .is_none(),
            "the lock is used up"
        );

        // Someone else's live lock on a known code: not the unread shape; the full
        // decision refuses.
        let other = store.lock("FEW-5", "dee", None, None).await.expect("lock");
        let refused = store
            .redeem(redeem("FEW-5", "eve"), None)
            .await
            .expect_err("reserved by another user");
        assert_eq!(refused.code, ErrorCode::CouponLocked);
        store
            .unlock("FEW-5", &other.lock_id, None)
            .await
            .expect("unlock");

        // The fifth use is the budget's last: decided on the counters as read, and
        // the book is announced as used up.
        store
            .redeem(redeem("FEW-4", "dee"), None)
            .await
            .expect("fifth");
        let refused = store
            .redeem(redeem("FEW-5", "eve"), None)
            .await
            .expect_err("budget used up");
        assert_eq!(refused.code, ErrorCode::BookBudgetExhausted);
        let events = store.list_events(None, 1000).await.expect("events").data;
        let exhausted = events
            .iter()
            .filter(|e| e.event_type == event::BOOK_EXHAUSTED)
            .count();
        assert_eq!(exhausted, 1);

        // Settings changed since they were read: the outdated ones are not used.
        let paused = serde_json::json!({"status": "paused"});
        let patch = serde_json::from_value::<UpdateBook>(paused).expect("patch");
        store.update_book(&book_id, patch).await.expect("paused");
        let refused = store
            .redeem(redeem("FEW-5", "eve"), None)
            .await
            .expect_err("paused book");
        assert_eq!(refused.code, ErrorCode::BookNotActive, "{refused:?}");
        let coupon = store.get_coupon("FEW-5").await.expect("coupon");
        assert_eq!(coupon.redemption_count, 0);
    }

    /// Assigning the last available code writes `coupon.assigned` and `book.exhausted`
    /// in one transaction: both go to the coupon's outbox partition, so a reader of
    /// the partitions one after another never sees the later of the two alone.
    #[tokio::test]
    async fn the_events_of_one_change_share_a_partition() {
        let store = fresh_store().await;
        let codes = ["LAST-0", "LAST-1", "LAST-2", "LAST-3", "LAST-4", "LAST-5"];
        let book_id = book_with_codes(&store, &codes).await;
        // The last code assigned is one whose own partition is not the book's.
        let last = *codes
            .iter()
            .find(|code| shard_of(code) != shard_of(&book_id))
            .expect("a code outside the book's partition");
        for code in codes.iter().filter(|code| **code != last) {
            store.assign(code, "bob", None).await.expect("assigned");
        }
        store.assign(last, "ann", None).await.expect("assigned");
        let mut partition_of = HashMap::new();
        for shard in 0..EVENT_SHARDS {
            for item in store
                .query_all(None, &format!("EVT#{shard}"))
                .await
                .expect("outbox")
            {
                let data = get_s(&item, "data").expect("data");
                if data.contains(last) || !data.contains("LAST-") {
                    partition_of.insert(get_s(&item, "type").expect("type"), shard);
                }
            }
        }
        let assigned = partition_of.get(event::COUPON_ASSIGNED).copied();
        assert!(assigned.is_some(), "{partition_of:?}");
        assert_eq!(
            partition_of.get(event::BOOK_EXHAUSTED).copied(),
            assigned,
            "{partition_of:?}"
        );
        assert_eq!(assigned, Some(shard_of(last)), "the coupon's own partition");
    }

    /// An event made while the feed is being read (here: stamped a little in the
    /// future) is not listed by that read, so no reader's cursor can move past an
    /// event of another partition that commits meanwhile; the next read lists it.
    #[tokio::test]
    async fn the_feed_lists_only_events_made_before_the_read() {
        let store = fresh_store().await;
        book_with_codes(&store, &["FEED-1"]).await;
        let made = store.list_events(None, 1000).await.expect("events").data;
        assert!(!made.is_empty(), "adding codes made an event");

        let soon = Timestamp(Timestamp::now().millis() + 1_500);
        let id = format!("evt_{}", ulid::Ulid::from_parts(soon.millis() as u64, 7));
        let later = Event {
            id: id.clone(),
            event_type: event::COUPON_REDEEMED.into(),
            created_at: soon,
            data: serde_json::json!({"code": "FEED-1"}),
        };
        let mut item = key(format!("EVT#{}", event_shard(&later)), id.clone());
        item.insert("id".into(), s(&id));
        item.insert("type".into(), s(&later.event_type));
        item.insert("created_at".into(), n(soon.millis()));
        item.insert("data".into(), s(later.data.to_string()));
        store
            .transact(vec![put_new(&store.table, item).expect("put")])
            .await
            .expect("outbox item written");

        let now = store.list_events(None, 1000).await.expect("events").data;
        assert_eq!(now, made, "the event made after the read began waits");
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        let next = store.list_events(None, 1000).await.expect("events").data;
        assert_eq!(next.last().map(|e| e.id.as_str()), Some(id.as_str()));
        assert_eq!(next.len(), made.len() + 1);
    }

    /// Injected `TransactionConflict` and throttling answers are retried and the
    /// result is the right one; a conflict that outlives the retries is `store_busy`
    /// and changes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conflicts_are_retried_then_store_busy() {
        let store = fresh_store().await;
        book_with_codes(&store, &["FAULT-A1", "FAULT-B1", "FAULT-C1"]).await;

        store.inject_faults(&[
            Fault::TransactionConflict,
            Fault::Throttling,
            Fault::TransactionConflict,
        ]);
        let idem = Idempotency {
            caller: "key_1".into(),
            key: "order-1".into(),
            fingerprint: "fp".into(),
        };
        let first = store
            .redeem(redeem("FAULT-A1", "u"), Some(idem.clone()))
            .await
            .expect("redeemed after retries");
        assert_eq!(store.injected_faults(), 3);
        let coupon = store.get_coupon("FAULT-A1").await.expect("coupon");
        assert_eq!(
            (coupon.status, coupon.redemption_count),
            (CouponStatus::Redeemed, 1)
        );
        let replay = store
            .redeem(redeem("FAULT-A1", "u"), Some(idem))
            .await
            .expect("replay");
        assert_eq!(replay, first);

        let conflicts = vec![Fault::TransactionConflict; MAX_TRANSIENT_RETRIES as usize + 1];
        store.inject_faults(&conflicts);
        let busy = store
            .redeem(redeem("FAULT-B1", "u"), None)
            .await
            .expect_err("conflict beyond retries");
        assert_eq!(busy.code, ErrorCode::StoreBusy);
        assert_eq!(store.injected_faults(), 3 + conflicts.len() as u64);
        let untouched = store.get_coupon("FAULT-B1").await.expect("coupon");
        assert_eq!(untouched.redemption_count, 0);
        let events = store.list_events(None, 1000).await.expect("events");
        assert_eq!(
            events
                .data
                .iter()
                .filter(|e| e.event_type == event::COUPON_REDEEMED)
                .count(),
            1
        );
        store
            .redeem(redeem("FAULT-B1", "u"), None)
            .await
            .expect("redeems once the conflict is over");

        // Racing redeems with conflicts sprinkled in: still exactly one winner.
        store.inject_faults(&[
            Fault::TransactionConflict,
            Fault::Throttling,
            Fault::TransactionConflict,
            Fault::TransactionConflict,
        ]);
        let store = Arc::new(store);
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .redeem(redeem("FAULT-C1", &format!("user{i}")), None)
                        .await
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.expect("join") {
                Ok(_) => wins += 1,
                Err(err) => assert_eq!(err.code, ErrorCode::CouponAlreadyRedeemed),
            }
        }
        assert_eq!(wins, 1);
        assert_eq!(
            store
                .get_coupon("FAULT-C1")
                .await
                .expect("coupon")
                .redemption_count,
            1
        );
    }

    #[test]
    fn like_patterns_match_as_in_sql() {
        let matches = |p: &str, t: &str| {
            like_matches(
                &p.chars().collect::<Vec<_>>(),
                &t.chars().collect::<Vec<_>>(),
            )
        };
        assert!(matches("SUMMER-____", "SUMMER-AB12"));
        assert!(matches("summer-%", "SUMMER-AB12"));
        assert!(!matches("SUMMER-___", "SUMMER-AB12"));
        assert!(matches("A\\_B", "A_B"));
        assert!(!matches("A\\_B", "AXB"));
        assert!(matches("%-1", "X-Y-1"));
    }

    #[test]
    fn lock_ids_name_their_code() {
        let id = format!("lock_{}_SUMMER-01", ulid::Ulid::new());
        assert_eq!(lock_code(&id), Some("SUMMER-01"));
        let book = format!("book_{}", ulid::Ulid::new());
        let named = lock_id_for("SUMMER_01", &book);
        assert_eq!(lock_parts(&named), Some((Some(book), "SUMMER_01")));
        assert_eq!(lock_code("lock_unknown"), None);
        assert_eq!(
            lock_code(&format!("lock_{}_bad code", ulid::Ulid::new())),
            None
        );
    }
}
