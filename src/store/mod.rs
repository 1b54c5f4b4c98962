//! Storage: one trait per resource (`Store` is all of them), one module per backend,
//! one conformance suite they all pass.
//!
//! Every write method is one atomic step: the checks, the change, the event it appends
//! and the idempotency record all commit together or not at all.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::apikey::{ApiKey, UpdateApiKey};
use crate::domain::book::{Book, BookSettings, UpdateBook};
use crate::domain::bulk::{BulkLine, BulkResult};
use crate::domain::checkout::{MultiRedemption, RedeemItem};
use crate::domain::coupon::{
    Coupon, CouponStatus, Lock, LockTtl, Redemption, UpdateCoupon, UseContext,
};
use crate::domain::event::{Actor, Event, EventFilter};
use crate::domain::export::RedemptionWindow;
use crate::domain::job::{CodeIntake, Job, JobKind, JobStatus};
use crate::domain::order::Order;
use crate::domain::reward::{Discount, Reward};
use crate::domain::stats::{BookStats, Bucket};
use crate::domain::{ErrorCode, Page, PageRequest, Result, Timestamp};

#[cfg(test)]
pub mod conformance;
pub mod dynamodb;
pub mod sqlite;
pub mod webhooks;

pub use webhooks::WebhookStore;

/// An `Idempotency-Key` as the store sees it: scoped to the caller, with a fingerprint
/// of the request it protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub caller: String,
    pub key: String,
    pub fingerprint: String,
}

/// Who makes a write, and its idempotency key: every write that appends events takes
/// one, and its events carry the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub actor: Actor,
    pub idem: Option<Idempotency>,
}

impl Write {
    /// A write by `actor`, without an idempotency key.
    pub fn by(actor: Actor) -> Write {
        Write { actor, idem: None }
    }

    pub fn with_idem(self, idem: Option<Idempotency>) -> Write {
        Write { idem, ..self }
    }
}

/// Books: their settings, counters and statistics.
#[async_trait]
pub trait BookStore: Send + Sync {
    async fn create_book(&self, settings: BookSettings, write: Write) -> Result<Book>;
    async fn get_book(&self, book_id: &str) -> Result<Book>;
    async fn list_books(&self, page: PageRequest) -> Result<Page<Book>>;
    async fn update_book(&self, book_id: &str, patch: UpdateBook, write: Write) -> Result<Book>;
    /// Only while nothing in the book was ever assigned or redeemed.
    async fn delete_book(&self, book_id: &str, write: Write) -> Result<()>;
    async fn book_stats(&self, book_id: &str, bucket: Bucket) -> Result<BookStats>;
}

/// Codes entering books (uploads and generation jobs) and the listing of a book's codes.
#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Inserts the accepted codes that exist nowhere yet and records a finished job.
    async fn add_codes(
        &self,
        book_id: &str,
        kind: JobKind,
        intake: CodeIntake,
        write: Write,
    ) -> Result<Job>;
    /// Starts a running job for a book; `spec` holds what resuming it needs. The
    /// writer's actor is the job's `started_by`.
    async fn create_job(
        &self,
        book_id: &str,
        kind: JobKind,
        total: u64,
        spec: Value,
        write: Write,
    ) -> Result<Job>;
    /// Stores one batch of a running job's codes and counts it into the job, with the
    /// job's new resume `spec`, atomically: after a crash the job resumes exactly there.
    async fn add_job_codes(&self, job_id: &str, intake: CodeIntake, spec: Value) -> Result<Job>;
    /// Ends a running job (no-op on a finished one) and announces the codes it added,
    /// as the system doing the job's work (`Actor::system(job id)`).
    async fn finish_job(&self, job_id: &str, status: JobStatus) -> Result<Job>;
    /// Jobs left running by a stop, with their resume specs, oldest first.
    async fn unfinished_jobs(&self) -> Result<Vec<(Job, Value)>>;
    /// Codes generation stored in this shape (`CodePattern::shape`), for the capacity
    /// check before generation: a counter kept by the writes that insert generated
    /// codes (`CodeIntake::shape`), never a scan. Uploaded codes do not count.
    async fn generated_count(&self, shape: &str) -> Result<u64>;
    async fn get_job(&self, job_id: &str) -> Result<Job>;
    /// Applies one batch of a running bulk job's lines (assign, void or delete, by
    /// the job's kind) as the system doing the job's work (`Actor::system(job id)`),
    /// records every line's result and counts it into the job, with the job's new
    /// resume `spec`. Lines at or below the last line the job already counted are
    /// skipped, and a line whose work was done by an earlier, interrupted attempt is
    /// counted from its recorded result without doing the work again: a batch sent
    /// again after a crash neither repeats nor skips a line. An assign batch on a book
    /// that cannot be used now is refused whole, before any line is recorded.
    async fn apply_bulk(&self, job_id: &str, lines: Vec<BulkLine>, spec: Value) -> Result<Job>;
    /// A bulk job's recorded line results after `after_line`, in line order.
    async fn job_results(
        &self,
        job_id: &str,
        after_line: u64,
        limit: u32,
    ) -> Result<Vec<BulkResult>>;
    async fn list_codes(
        &self,
        book_id: &str,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedeemRequest {
    pub code: String,
    pub user_id: String,
    pub lock_id: Option<String>,
    pub metadata: Option<Value>,
    /// The order the code is redeemed on: judged by its reward, kept on the redemption.
    pub order: Option<Order>,
}

/// Several codes redeemed on one order in one atomic step (`POST /v1/redemptions`).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiRedeemRequest {
    pub user_id: String,
    pub order: Order,
    /// Distinct codes, in the order they apply.
    pub items: Vec<RedeemItem>,
}

/// Answer of `validate`: whether the user could redeem the code now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Validation {
    pub valid: bool,
    /// The first of `reasons`, or null.
    pub reason: Option<ErrorCode>,
    /// Every rule a redemption would break now, in precedence order.
    pub reasons: Vec<ErrorCode>,
    pub coupon: Coupon,
    /// The effective reward: the coupon's own, else its book's.
    #[schema(value_type = Option<crate::domain::reward::RewardSchema>)]
    pub reward: Option<Reward>,
    /// What the code takes off the order sent (null without an order, for a custom
    /// reward, or when it is not valid).
    pub discount: Option<Discount>,
}

impl Validation {
    /// The answer for `coupon` (its view) decided in `context`.
    pub fn judge(context: &UseContext, coupon: Coupon) -> Result<Validation> {
        let reasons = context.failures()?;
        let valid = reasons.is_empty();
        Ok(Validation {
            valid,
            reason: reasons.first().copied(),
            reasons,
            coupon,
            reward: context.coupon.effective_reward(context.book).cloned(),
            discount: if valid { context.discount() } else { None },
        })
    }
}

/// What happens to one coupon: assignment, locks, redemption, voiding.
#[async_trait]
pub trait CouponStore: Send + Sync {
    async fn get_coupon(&self, code: &str) -> Result<Coupon>;
    async fn assign(&self, code: &str, user_id: &str, write: Write) -> Result<Coupon>;
    /// Hands the user the next available code; concurrent callers never share one.
    async fn assign_next(&self, book_id: &str, user_id: &str, write: Write) -> Result<Coupon>;
    async fn unassign(&self, code: &str, write: Write) -> Result<Coupon>;
    async fn validate(&self, code: &str, user_id: &str) -> Result<Validation> {
        self.validate_order(code, user_id, None).await
    }
    /// Whether the user could redeem the code on `order` now, and what it would take off.
    async fn validate_order(
        &self,
        code: &str,
        user_id: &str,
        order: Option<Order>,
    ) -> Result<Validation>;
    async fn lock(&self, code: &str, user_id: &str, ttl: LockTtl, write: Write) -> Result<Lock> {
        self.lock_order(code, user_id, ttl, None, write).await
    }
    /// A lock judged on `order` (its discount answered with it).
    async fn lock_order(
        &self,
        code: &str,
        user_id: &str,
        ttl: LockTtl,
        order: Option<Order>,
        write: Write,
    ) -> Result<Lock>;
    /// The lock's holder, if the lock is live (for end-user authorization).
    async fn lock_holder(&self, lock_id: &str) -> Result<Option<String>>;
    async fn unlock(&self, code: &str, lock_id: &str, write: Write) -> Result<Coupon>;
    async fn redeem(&self, request: RedeemRequest, write: Write) -> Result<Redemption>;
    /// Redeems every code or none: the first code that fails answers its error with
    /// `field: "items[i]"`, and nothing is written.
    async fn redeem_many(
        &self,
        request: MultiRedeemRequest,
        write: Write,
    ) -> Result<MultiRedemption>;
    async fn void(&self, code: &str, write: Write) -> Result<Coupon>;
    /// Changes a code's own dates, metadata or reward (`coupon.updated`).
    async fn update_coupon(&self, code: &str, patch: UpdateCoupon, write: Write) -> Result<Coupon>;
    /// Every coupon assigned to the user, in assignment order.
    async fn user_coupons(
        &self,
        user_id: &str,
        book_id: Option<&str>,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedemptionFilter {
    pub book_id: Option<String>,
    pub user_id: Option<String>,
    pub code: Option<String>,
    /// Only redemptions made in this window (`redeemed_at`).
    pub redeemed: RedemptionWindow,
}

/// Redemptions: their reversal and their listing.
#[async_trait]
pub trait RedemptionStore: Send + Sync {
    async fn reverse(&self, redemption_id: &str, write: Write) -> Result<Redemption>;
    async fn get_redemption(&self, redemption_id: &str) -> Result<Redemption>;
    async fn list_redemptions(
        &self,
        filter: RedemptionFilter,
        page: PageRequest,
    ) -> Result<Page<Redemption>>;
}

/// The event feed, and the sweep that turns expired locks into events.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events after the given event id, oldest first.
    async fn list_events(&self, after: Option<&str>, limit: u32) -> Result<Page<Event>>;
    /// Events matching `filter` after the given event id, oldest first. Each filter is
    /// read from an index (never the whole feed); the most selective one is walked and
    /// the others are checked on what it returns. A page may hold fewer than `limit`
    /// events while more follow: read on until `next_cursor` is null.
    async fn find_events(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Event>>;
    /// Frees expired locks and appends their `coupon.lock_expired` events (actor
    /// `Actor::system(LOCK_EXPIRY)`). Correctness never depends on this running:
    /// expired locks are ignored everywhere.
    async fn expire_locks(&self) -> Result<u64>;
}

/// API keys, stored by the hash of their secret.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn create_api_key(
        &self,
        api_key: ApiKey,
        key_hash: String,
        idem: Option<Idempotency>,
    ) -> Result<ApiKey>;
    /// Stores the key if no key with this hash exists (bootstrap); returns the stored one.
    async fn ensure_api_key(&self, api_key: ApiKey, key_hash: String) -> Result<ApiKey>;
    async fn list_api_keys(&self, page: PageRequest) -> Result<Page<ApiKey>>;
    async fn delete_api_key(&self, id: &str) -> Result<()>;
    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    /// Renames, disables or enables a key; `api_key_not_found` when there is none.
    async fn update_api_key(&self, id: &str, update: UpdateApiKey) -> Result<ApiKey>;
    /// Moves each key's `last_used_at` to the given time, unless the stored one is
    /// less than `LAST_USED_RESOLUTION_MS` older (so it is written at most once a
    /// minute whichever process saw the use). Keys that are gone are skipped.
    async fn record_key_uses(&self, uses: Vec<(String, Timestamp)>) -> Result<()>;
}

/// A whole backend: every part of the store, and a health check.
#[async_trait]
pub trait Store:
    BookStore
    + CodeStore
    + CouponStore
    + RedemptionStore
    + EventStore
    + KeyStore
    + WebhookStore
    + Send
    + Sync
    + 'static
{
    /// Whether the store answers.
    async fn ping(&self) -> Result<()>;
    /// Deletes up to `limit` idempotency records older than the store's TTL; returns
    /// how many. Replays never depend on it (an expired record is ignored when read);
    /// it only keeps the store from growing. A store whose records expire by
    /// themselves (DynamoDB TTL) deletes nothing here.
    async fn forget_expired_idempotency(&self, limit: u32) -> Result<u64>;
}

/// The store traits, for callers of their methods on a `DynStore`.
pub mod prelude {
    pub use super::{
        BookStore, CodeStore, CouponStore, EventStore, KeyStore, RedemptionStore, Store,
        WebhookStore,
    };
}

pub type DynStore = Arc<dyn Store>;

/// How `open` sets up a store.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Create the DynamoDB table (indexes, TTL, point-in-time recovery) when missing.
    pub create_table: bool,
    /// Give a created DynamoDB table a stream.
    pub stream: bool,
    /// How long an idempotency record answers replays; older ones count as absent.
    pub idempotency_ttl: Duration,
}

/// Idempotency records are kept this long unless the settings say otherwise.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// How long an idempotency record answers replays: one rule for every store (a record
/// is live while younger than the TTL; an older one counts as absent and is replaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyTtl {
    millis: i64,
}

impl IdempotencyTtl {
    pub fn new(ttl: Duration) -> Self {
        IdempotencyTtl {
            millis: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Records created at or before this (ms) are expired at `now`.
    pub fn cutoff(self, now: Timestamp) -> i64 {
        now.millis().saturating_sub(self.millis)
    }

    /// When a record created at `now` expires (ms).
    pub fn expiry(self, now: Timestamp) -> i64 {
        now.millis().saturating_add(self.millis)
    }
}

impl Default for IdempotencyTtl {
    fn default() -> Self {
        IdempotencyTtl::new(DEFAULT_IDEMPOTENCY_TTL)
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            create_table: false,
            stream: false,
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
        }
    }
}

/// Opens the store a `--store` setting names.
pub async fn open(spec: &str, options: OpenOptions) -> Result<DynStore> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        let store = sqlite::SqliteStore::open(path)?.with_idempotency_ttl(options.idempotency_ttl);
        return Ok(Arc::new(store));
    }
    if let Some(table) = spec.strip_prefix("dynamodb:") {
        let store = dynamodb::DynamoStore::from_env(table)
            .await?
            .with_idempotency_ttl(options.idempotency_ttl);
        if options.create_table {
            store.create_table(options.stream).await?;
        }
        return Ok(Arc::new(store));
    }
    Err(crate::domain::Error::invalid(
        "store",
        format!("unknown store {spec:?}: use sqlite:<file> or dynamodb:<table>"),
    ))
}
