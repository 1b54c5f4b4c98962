//! Webhook delivery inside `coupon-book serve`.
//!
//! A supervisor lists the endpoints every second and runs one worker per enabled
//! endpoint (`endpoint.rs`). A worker holds the endpoint's lease in the store, reads
//! the event feed after the endpoint's stored cursor, and POSTs each subscribed event
//! (`sender.rs`): events of different coupons in parallel (up to the concurrency
//! limit), events of one coupon in order. A failed event waits in the store for its
//! retry, with the later events of its coupon queued behind it; every attempt is
//! logged. The attempts, the queue changes and the new cursor of a round are stored
//! together, so a stop at any point (even `kill -9`) redelivers, and never skips.

mod endpoint;
pub mod manual;
pub mod sender;
pub mod stream;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::domain::event::Event;
use crate::domain::ids::new_id;
use crate::domain::webhook::{
    self, AttemptStatus, DeliveryAttempt, Endpoint, UrlPolicy, WebhookStatus,
};
use crate::domain::{ErrorCode, PageRequest, Timestamp};
use crate::store::DynStore;
use sender::{Outcome, Sender};

/// Retry delays after the 1st, 2nd, ... failed attempt; then the event is `failed`.
pub const DEFAULT_RETRY_SCHEDULE: [Duration; 6] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Delivery settings (declared with their defaults in `config::WebhookArgs`).
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// `COUPON_BOOK_WEBHOOK_DELIVERY=off` sends nothing from this process (endpoints
    /// can still be managed; e.g. for API fuzzing, or processes that should not deliver).
    pub enabled: bool,
    /// `COUPON_BOOK_WEBHOOK_ALLOW_PRIVATE=1` allows loopback/private targets.
    pub policy: UrlPolicy,
    /// `COUPON_BOOK_WEBHOOK_TIMEOUT_MS`: one attempt, connect to end of answer (10 s).
    pub timeout: Duration,
    /// `COUPON_BOOK_WEBHOOK_RETRY_SCHEDULE_MS`: comma-separated delays in ms
    /// (5 s, 5 min, 30 min, 2 h, 5 h, 10 h); each is jittered by ±20%.
    pub retry_schedule: Vec<Duration>,
    /// `COUPON_BOOK_WEBHOOK_DISABLE_AFTER_MS`: an endpoint whose attempts all failed
    /// for this long is disabled (5 days).
    pub disable_after: Duration,
    /// `COUPON_BOOK_WEBHOOK_CONCURRENCY`: requests in flight per endpoint (16).
    pub concurrency: usize,
    /// `COUPON_BOOK_WEBHOOK_POLL_MS`: how often an idle worker looks for new events;
    /// unset: the store's own figure (25 ms embedded, 250 ms DynamoDB, where every
    /// look is billed).
    pub poll: Option<Duration>,
    /// `COUPON_BOOK_WEBHOOK_LEASE_MS`: how long a process owns an endpoint's delivery
    /// without renewing (30 s); another process takes over after that.
    pub lease: Duration,
    /// Events read per round.
    pub batch: u32,
    /// How often the list of endpoints is read again.
    pub refresh: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            enabled: true,
            policy: UrlPolicy::default(),
            timeout: Duration::from_secs(10),
            retry_schedule: DEFAULT_RETRY_SCHEDULE.to_vec(),
            disable_after: Duration::from_secs(5 * 86_400),
            concurrency: 16,
            poll: None,
            lease: Duration::from_secs(30),
            batch: 200,
            refresh: Duration::from_secs(1),
        }
    }
}

impl DeliveryConfig {
    /// The delay before the attempt after `failed_attempts` failures, jittered ±20%;
    /// None once the schedule is used up.
    pub fn retry_delay(&self, failed_attempts: u32) -> Option<Duration> {
        let index = usize::try_from(failed_attempts.checked_sub(1)?).ok()?;
        let base = *self.retry_schedule.get(index)?;
        let factor = rand::rng().random_range(0.8..=1.2);
        Some(base.mul_f64(factor))
    }
}

/// The delivery settings and the HTTP sender of a process, built once at start-up
/// and shared by the API (test sends) and the delivery workers.
pub struct Delivery {
    pub config: DeliveryConfig,
    pub sender: Sender,
}

impl Delivery {
    pub fn new(config: DeliveryConfig) -> Result<Arc<Self>, String> {
        let sender = Sender::new(config.policy, config.timeout, config.concurrency)?;
        Ok(Arc::new(Delivery { config, sender }))
    }
}

/// The log record of one attempt.
pub fn attempt_record(
    webhook_id: &str,
    event: &Event,
    attempt: u32,
    outcome: &Outcome,
    status: AttemptStatus,
    next_attempt_at: Option<Timestamp>,
) -> DeliveryAttempt {
    DeliveryAttempt {
        id: webhook::attempt_id(outcome.attempted_at),
        webhook_id: webhook_id.to_string(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        attempt,
        status,
        response_status: outcome.response_status,
        response_body: outcome.response_body.clone(),
        error: outcome.error.clone(),
        latency_ms: outcome.latency.as_millis() as u64,
        attempted_at: outcome.attempted_at,
        next_attempt_at,
    }
}

/// Counts an attempt in the metrics.
fn count(status: AttemptStatus, event: &Event, outcome: &Outcome) {
    metrics::counter!("webhook_attempts_total", "outcome" => status.as_str()).increment(1);
    if status == AttemptStatus::Succeeded {
        let lag = (outcome.attempted_at.millis() - event.created_at.millis()).max(0);
        metrics::histogram!("webhook_delivery_lag_seconds").record(lag as f64 / 1000.0);
    }
}

/// Sends one event to an endpoint now, once (test sends).
pub async fn send_once(
    delivery: &Delivery,
    endpoint: &Endpoint,
    event: &Event,
) -> Result<Outcome, String> {
    if !delivery.config.enabled {
        return Ok(Outcome::not_sent(
            "not sent: webhook delivery is off on this server (COUPON_BOOK_WEBHOOK_DELIVERY=off)",
        ));
    }
    let body = serde_json::to_vec(event).map_err(|e| format!("encode the event: {e}"))?;
    Ok(delivery
        .sender
        .send(endpoint, &event.id, &body.into())
        .await)
}

/// Starts delivery: returns the supervisor's task.
pub fn start(store: DynStore, delivery: Arc<Delivery>) -> tokio::task::JoinHandle<()> {
    if !delivery.config.enabled {
        tracing::warn!("webhook delivery is off (COUPON_BOOK_WEBHOOK_DELIVERY=off)");
        return tokio::spawn(async {});
    }
    let holder = new_id("proc");
    tokio::spawn(supervise(store, delivery, holder))
}

/// Runs a worker for every enabled endpoint, and starts one again when it ended
/// (lease lost to another process, store trouble) while the endpoint still exists.
async fn supervise(store: DynStore, delivery: Arc<Delivery>, holder: String) {
    let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        workers.retain(|_, task| !task.is_finished());
        match enabled_endpoints(&store).await {
            Ok(ids) => {
                for id in ids {
                    if workers.contains_key(&id) {
                        continue;
                    }
                    let worker = endpoint::Worker::new(
                        store.clone(),
                        delivery.clone(),
                        holder.clone(),
                        id.clone(),
                    );
                    workers.insert(id, tokio::spawn(worker.run()));
                }
            }
            Err(err) => tracing::warn!(error = %err, "listing webhooks failed"),
        }
        tokio::time::sleep(delivery.config.refresh).await;
    }
}

async fn enabled_endpoints(store: &DynStore) -> crate::domain::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut page = PageRequest::first(1000);
    loop {
        let found = store.list_webhooks(page).await?;
        ids.extend(
            found
                .data
                .iter()
                .filter(|hook| hook.status == WebhookStatus::Enabled)
                .map(|hook| hook.id.clone()),
        );
        match found
            .next_cursor
            .as_deref()
            .and_then(crate::domain::decode_cursor)
        {
            Some(after) => page.after = Some(after),
            None => return Ok(ids),
        }
    }
}

/// Whether a store error means the endpoint is gone (or no longer ours).
fn gone(err: &crate::domain::Error) -> bool {
    err.code == ErrorCode::WebhookNotFound
}
