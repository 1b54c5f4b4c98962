//! The webhook part of the store: endpoints, their place in the event feed, deliveries
//! waiting for a retry, and the log of delivery attempts. Every backend implements it
//! (`sqlite/webhooks.rs`, `dynamodb/webhooks.rs`); `Store` requires it.

use std::time::Duration;

use async_trait::async_trait;

use super::Idempotency;
use crate::domain::event::Event;
use crate::domain::webhook::{
    DeliveryAttempt, DeliveryBatch, Endpoint, PendingDelivery, Redelivery, Webhook,
};
use crate::domain::{Page, PageRequest, Result, Timestamp};

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint. Its cursor starts at the head of the event feed: it
    /// receives the events committed after it was created.
    async fn create_webhook(
        &self,
        webhook: Webhook,
        secret: String,
        idem: Option<Idempotency>,
    ) -> Result<Webhook>;
    /// The endpoint with its secrets and cursor; unknown -> `webhook_not_found`.
    async fn get_webhook(&self, id: &str) -> Result<Endpoint>;
    async fn list_webhooks(&self, page: PageRequest) -> Result<Page<Webhook>>;
    /// Removes the endpoint, its pending deliveries and its attempt log.
    async fn delete_webhook(&self, id: &str) -> Result<()>;
    /// Replaces the secret; the old one keeps signing until `previous_until`.
    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: String,
        previous_until: Timestamp,
        idem: Option<Idempotency>,
    ) -> Result<Webhook>;
    /// Turns a disabled endpoint back on (`webhook::plan_enable`): enabled, with no
    /// `failing_since`, and its lease freed so that any process picks it up; its cursor
    /// and queue are kept, so delivery resumes where it stopped. An enabled endpoint is
    /// answered unchanged.
    async fn enable_webhook(&self, id: &str, idem: Option<Idempotency>) -> Result<Webhook>;
    /// Registers a test send of `event` to the endpoint and returns it; a replay with
    /// the same Idempotency-Key returns the first call's event instead.
    async fn begin_webhook_test(
        &self,
        id: &str,
        event: Event,
        idem: Option<Idempotency>,
    ) -> Result<Event>;
    /// Takes (or renews) the right to deliver to an endpoint until `until`, so that
    /// several server processes on one store do not all deliver. `Ok(None)` while
    /// another holder's lease is live or the endpoint is disabled.
    async fn lease_webhook(
        &self,
        id: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<Endpoint>>;
    /// The endpoint's deliveries waiting for an attempt, by event id.
    async fn pending_deliveries(&self, id: &str) -> Result<Vec<PendingDelivery>>;
    /// Stores one round of delivery work. With a `holder`, only while it holds the
    /// lease (else `webhook_not_found`, as when the endpoint is gone): the attempts,
    /// the pending changes, the new cursor and the endpoint's failure state.
    async fn record_deliveries(
        &self,
        id: &str,
        holder: Option<&str>,
        batch: DeliveryBatch,
    ) -> Result<()>;
    /// The attempt log of an endpoint, oldest first, optionally for one event.
    async fn list_deliveries(
        &self,
        id: &str,
        event_id: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<DeliveryAttempt>>;

    /// One attempt of the endpoint's log; unknown -> `delivery_not_found`.
    async fn get_delivery(&self, id: &str, delivery_id: &str) -> Result<DeliveryAttempt>;
    /// Plans sending a logged attempt's event again (`webhook::plan_redelivery`), as
    /// attempt `attempt_id`; a replay with the same Idempotency-Key returns the first
    /// call's plan instead. Unknown endpoint -> `webhook_not_found`, unknown attempt ->
    /// `delivery_not_found`.
    async fn begin_redelivery(
        &self,
        id: &str,
        delivery_id: &str,
        attempt_id: String,
        idem: Option<Idempotency>,
    ) -> Result<Redelivery>;
    /// The event of the feed with this id, as `list_events` shows it (for a redelivery).
    async fn feed_event(&self, event_id: &str) -> Result<Option<Event>>;

    /// How long after its creation time an event can still become visible in
    /// `list_events` (transactions commit after their events' ids were chosen). A
    /// reader that must see every event keeps re-reading that far back.
    fn event_settle_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// How often a delivery worker with nothing to do reads the feed again (unless
    /// COUPON_BOOK_WEBHOOK_POLL_MS says otherwise): the p99 of delivery lag.
    fn event_poll_interval(&self) -> Duration {
        Duration::from_millis(25)
    }
}
