//! The delivery worker of one endpoint.
//!
//! State in the store: the endpoint's cursor (the last feed event it is done with) and
//! its pending deliveries (failed events waiting for a retry, and the events of the
//! same coupon queued behind them). The same state lives here in memory while the
//! worker holds the endpoint's lease; each round stores what it changed in one step
//! (`record_deliveries`) before the next round starts.
//!
//! A round: (1) retry the pending events that are due (the first of each coupon's
//! queue), (2) read the next page of the feed and deliver what the endpoint subscribes
//! to: coupons in parallel, each coupon's events in order; a failure queues the event
//! for its retry and the coupon's later events behind it.
//!
//! Stores whose events can appear late in the feed (`event_settle_delay` > 0, e.g.
//! DynamoDB) get a periodic re-read from the stored cursor: events not handled yet are
//! delivered then, and the stored cursor only moves past events older than the delay.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use hyper::body::Bytes;
use tokio::sync::watch;

use super::sender::{Outcome, Sender};
use super::{Delivery, attempt_record, count, gone};
use crate::domain::event::Event;
use crate::domain::webhook::{AttemptStatus, DeliveryBatch, Endpoint, PendingDelivery, order_key};
use crate::domain::{Result, Timestamp};
use crate::store::DynStore;

/// Store writes of a round are tried this many times before the worker gives up
/// and starts over from the stored state (redelivering rather than skipping).
const SAVE_TRIES: u32 = 5;

pub(super) struct Worker {
    store: DynStore,
    delivery: Arc<Delivery>,
    holder: String,
    id: String,
    /// The stored cursor.
    cursor: Option<String>,
    /// The last event read from the feed (ahead of `cursor` while events settle).
    head: Option<String>,
    /// Events after `cursor` already handled (only while events settle).
    seen: HashSet<String>,
    last_rescan: Instant,
    /// Pending deliveries by coupon (order key), each queue in event order.
    queues: BTreeMap<String, VecDeque<PendingDelivery>>,
    failing_since: Option<Timestamp>,
    disabled: bool,
}

/// What a round decided, before it is stored.
#[derive(Default)]
struct Round {
    batch: DeliveryBatch,
    succeeded: bool,
    failed_at: Option<Timestamp>,
}

impl Worker {
    pub(super) fn new(
        store: DynStore,
        delivery: Arc<Delivery>,
        holder: String,
        id: String,
    ) -> Self {
        Worker {
            store,
            delivery,
            holder,
            id,
            cursor: None,
            head: None,
            seen: HashSet::new(),
            last_rescan: Instant::now(),
            queues: BTreeMap::new(),
            failing_since: None,
            disabled: false,
        }
    }

    /// Runs while this process holds the endpoint's lease and the endpoint exists and
    /// is enabled.
    pub(super) async fn run(mut self) {
        let now = Timestamp::now();
        let until = later(now, self.delivery.config.lease.as_millis() as i64);
        let endpoint = match self
            .store
            .lease_webhook(&self.id, &self.holder, now, until)
            .await
        {
            Ok(Some(endpoint)) => endpoint,
            Ok(None) => return,
            Err(err) => {
                if !gone(&err) {
                    tracing::warn!(webhook = %self.id, error = %err, "leasing a webhook failed");
                }
                return;
            }
        };
        match self.store.pending_deliveries(&self.id).await {
            Ok(pending) => {
                for delivery in pending {
                    self.queues
                        .entry(delivery.order_key.clone())
                        .or_default()
                        .push_back(delivery);
                }
            }
            Err(err) => {
                tracing::warn!(webhook = %self.id, error = %err, "reading pending deliveries failed");
                return;
            }
        }
        self.cursor = endpoint.cursor.clone();
        self.head = endpoint.cursor.clone();
        self.failing_since = endpoint.webhook.failing_since;
        tracing::info!(webhook = %self.id, pending = self.queues.len(), "delivering");
        let (updates, endpoint_rx) = watch::channel(endpoint);
        let renewal = renew(
            self.store.clone(),
            self.delivery.clone(),
            self.holder.clone(),
            self.id.clone(),
            updates,
        );
        tokio::select! {
            _ = renewal => {}
            _ = self.deliver(endpoint_rx) => {}
        }
    }

    async fn deliver(&mut self, endpoint_rx: watch::Receiver<Endpoint>) {
        let settle = self.store.event_settle_delay();
        let poll = self
            .delivery
            .config
            .poll
            .unwrap_or_else(|| self.store.event_poll_interval());
        loop {
            let endpoint = endpoint_rx.borrow().clone();
            let result = async {
                let mut worked = self.retry_due(&endpoint).await?;
                worked |= self.read_feed(&endpoint, settle).await?;
                if !settle.is_zero() && self.last_rescan.elapsed() >= settle {
                    self.rescan(&endpoint, settle).await?;
                }
                Ok::<bool, crate::domain::Error>(worked)
            }
            .await;
            match result {
                Ok(_) if self.disabled => {
                    tracing::warn!(webhook = %self.id, "webhook disabled after failing too long");
                    return;
                }
                Ok(true) => {}
                Ok(false) => tokio::time::sleep(poll).await,
                Err(err) => {
                    if !gone(&err) {
                        tracing::warn!(webhook = %self.id, error = %err, "delivery round failed; starting over");
                    }
                    return;
                }
            }
        }
    }

    /// Retries the first pending event of each coupon whose time has come.
    async fn retry_due(&mut self, endpoint: &Endpoint) -> Result<bool> {
        let now = Timestamp::now();
        let due: Vec<PendingDelivery> = self
            .queues
            .values()
            .filter_map(VecDeque::front)
            .filter(|pending| pending.next_attempt_at <= now)
            .take(self.delivery.config.batch as usize)
            .cloned()
            .collect();
        if due.is_empty() {
            return Ok(false);
        }
        let sender = &self.delivery.sender;
        let results: Vec<(PendingDelivery, Outcome)> = stream::iter(due)
            .map(|pending| async move {
                let outcome = send(sender, endpoint, &pending.event).await;
                (pending, outcome)
            })
            .buffer_unordered(self.delivery.config.concurrency)
            .collect()
            .await;
        let mut round = Round::default();
        for (mut pending, outcome) in results {
            let attempt = pending.attempts + 1;
            let retry_at = if outcome.succeeded() {
                None
            } else {
                self.delivery
                    .config
                    .retry_delay(attempt)
                    .map(|delay| later(outcome.attempted_at, delay.as_millis() as i64))
            };
            let status = status_of(&outcome, retry_at);
            round.note(
                &self.id,
                &pending.event,
                attempt,
                &outcome,
                status,
                retry_at,
            );
            let queue = self.queues.get_mut(&pending.order_key);
            match retry_at {
                Some(at) => {
                    pending.attempts = attempt;
                    pending.next_attempt_at = at;
                    if let Some(front) = queue.and_then(VecDeque::front_mut) {
                        *front = pending.clone();
                    }
                    round.batch.pending.push(pending);
                }
                None => {
                    if let Some(queue) = queue {
                        queue.pop_front();
                        if queue.is_empty() {
                            self.queues.remove(&pending.order_key);
                        }
                    }
                    round.batch.done.push(pending.event.id);
                }
            }
        }
        self.save(round).await?;
        Ok(true)
    }

    /// Reads the next page of the feed and delivers it.
    async fn read_feed(&mut self, endpoint: &Endpoint, settle: Duration) -> Result<bool> {
        let page = self
            .store
            .list_events(self.head.as_deref(), self.delivery.config.batch)
            .await?;
        let Some(last) = page.data.last().map(|event| event.id.clone()) else {
            return Ok(false);
        };
        let fresh: Vec<Event> = page
            .data
            .into_iter()
            .filter(|event| !self.seen.contains(&event.id))
            .collect();
        if !settle.is_zero() {
            self.seen.extend(fresh.iter().map(|event| event.id.clone()));
        }
        let mut round = self.deliver_events(endpoint, fresh).await;
        self.head = Some(last.clone());
        if settle.is_zero() {
            round.batch.cursor = Some(last.clone());
            self.cursor = Some(last);
        }
        self.save(round).await?;
        Ok(true)
    }

    /// Reads the feed again from the stored cursor, delivers what appeared late, and
    /// moves the stored cursor past the events that can no longer be joined by late
    /// ones.
    async fn rescan(&mut self, endpoint: &Endpoint, settle: Duration) -> Result<()> {
        self.last_rescan = Instant::now();
        let horizon = later(Timestamp::now(), -(settle.as_millis() as i64));
        let mut after = self.cursor.clone();
        let mut safe = self.cursor.clone();
        let mut settled = true;
        loop {
            let page = self
                .store
                .list_events(after.as_deref(), self.delivery.config.batch)
                .await?;
            let Some(last) = page.data.last().map(|event| event.id.clone()) else {
                break;
            };
            let mut late = Vec::new();
            for event in page.data {
                if settled && event.created_at < horizon {
                    safe = Some(event.id.clone());
                } else {
                    settled = false;
                }
                if self.seen.insert(event.id.clone()) {
                    late.push(event);
                }
            }
            if !late.is_empty() {
                tracing::info!(webhook = %self.id, events = late.len(), "delivering late events");
                let round = self.deliver_events(endpoint, late).await;
                self.save(round).await?;
            }
            let beyond_head = self.head.as_ref().is_none_or(|head| &last >= head);
            after = Some(last);
            if beyond_head {
                self.head = after.clone();
                break;
            }
        }
        if safe != self.cursor {
            let round = Round {
                batch: DeliveryBatch {
                    cursor: safe.clone(),
                    ..DeliveryBatch::default()
                },
                ..Round::default()
            };
            self.save(round).await?;
            if let Some(safe) = &safe {
                self.seen.retain(|id| id > safe);
            }
            self.cursor = safe;
        }
        Ok(())
    }

    /// Delivers events read from the feed: the subscribed ones, coupons in parallel,
    /// each coupon's events in order, behind any event of it still pending.
    async fn deliver_events(&mut self, endpoint: &Endpoint, events: Vec<Event>) -> Round {
        let mut round = Round::default();
        let mut chains: Vec<(String, Vec<Event>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for event in events {
            if !endpoint.webhook.wants(&event.event_type) {
                continue;
            }
            let key = order_key(&event);
            match index.get(&key) {
                Some(&i) => chains[i].1.push(event),
                None => {
                    index.insert(key.clone(), chains.len());
                    chains.push((key, vec![event]));
                }
            }
        }
        let now = Timestamp::now();
        let mut ready = Vec::new();
        for (key, events) in chains {
            if self.queues.contains_key(&key) {
                for event in events {
                    self.queue(&mut round, key.clone(), event, 0, now);
                }
            } else {
                ready.push((key, events));
            }
        }
        let sender = &self.delivery.sender;
        let config = &self.delivery.config;
        let results: Vec<(String, Vec<Event>, Vec<Outcome>)> = stream::iter(ready)
            .map(|(key, events)| async move {
                let mut outcomes = Vec::new();
                for event in &events {
                    let outcome = send(sender, endpoint, event).await;
                    let stop = !outcome.succeeded() && !config.retry_schedule.is_empty();
                    outcomes.push(outcome);
                    if stop {
                        break;
                    }
                }
                (key, events, outcomes)
            })
            .buffer_unordered(self.delivery.config.concurrency)
            .collect()
            .await;
        for (key, events, outcomes) in results {
            let mut events = events.into_iter();
            for outcome in &outcomes {
                let Some(event) = events.next() else { break };
                let retry_at = if outcome.succeeded() {
                    None
                } else {
                    self.delivery
                        .config
                        .retry_delay(1)
                        .map(|delay| later(outcome.attempted_at, delay.as_millis() as i64))
                };
                let status = status_of(outcome, retry_at);
                round.note(&self.id, &event, 1, outcome, status, retry_at);
                if let Some(at) = retry_at {
                    self.queue(&mut round, key.clone(), event, 1, at);
                }
            }
            // Events of this coupon after a failure wait behind it.
            for event in events {
                self.queue(&mut round, key.clone(), event, 0, now);
            }
        }
        round
    }

    fn queue(
        &mut self,
        round: &mut Round,
        order_key: String,
        event: Event,
        attempts: u32,
        next_attempt_at: Timestamp,
    ) {
        let pending = PendingDelivery {
            event,
            order_key: order_key.clone(),
            attempts,
            next_attempt_at,
        };
        self.queues
            .entry(order_key)
            .or_default()
            .push_back(pending.clone());
        round.batch.pending.push(pending);
    }

    /// Stores a round (with the endpoint's failure state), retrying store errors a
    /// few times; the caller starts over from the stored state if it still fails.
    async fn save(&mut self, mut round: Round) -> Result<()> {
        if round.succeeded {
            if self.failing_since.is_some() {
                self.failing_since = None;
                round.batch.failing_since = Some(None);
            }
        } else if let Some(failed_at) = round.failed_at {
            match self.failing_since {
                None => {
                    self.failing_since = Some(failed_at);
                    round.batch.failing_since = Some(Some(failed_at));
                }
                Some(since) => {
                    let failing_for = failed_at.millis() - since.millis();
                    if failing_for >= self.delivery.config.disable_after.as_millis() as i64 {
                        round.batch.disable = true;
                        self.disabled = true;
                    }
                }
            }
        }
        let mut tries = 0;
        loop {
            tries += 1;
            match self
                .store
                .record_deliveries(&self.id, Some(&self.holder), round.batch.clone())
                .await
            {
                Ok(()) => return Ok(()),
                Err(err) if gone(&err) || tries >= SAVE_TRIES => return Err(err),
                Err(err) => {
                    tracing::warn!(webhook = %self.id, error = %err, tries, "storing deliveries failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << tries)).await;
                }
            }
        }
    }
}

impl Round {
    fn note(
        &mut self,
        webhook_id: &str,
        event: &Event,
        attempt: u32,
        outcome: &Outcome,
        status: AttemptStatus,
        retry_at: Option<Timestamp>,
    ) {
        count(status, event, outcome);
        if outcome.succeeded() {
            self.succeeded = true;
        } else {
            self.failed_at = Some(
                self.failed_at
                    .map_or(outcome.attempted_at, |t| t.max(outcome.attempted_at)),
            );
        }
        self.batch.attempts.push(attempt_record(
            webhook_id, event, attempt, outcome, status, retry_at,
        ));
    }
}

/// `at` moved by `millis` (either way).
fn later(at: Timestamp, millis: i64) -> Timestamp {
    Timestamp(at.millis().saturating_add(millis))
}

fn status_of(outcome: &Outcome, retry_at: Option<Timestamp>) -> AttemptStatus {
    if outcome.succeeded() {
        AttemptStatus::Succeeded
    } else if retry_at.is_some() {
        AttemptStatus::Retrying
    } else {
        AttemptStatus::Failed
    }
}

async fn send(sender: &Sender, endpoint: &Endpoint, event: &Event) -> Outcome {
    let body = match serde_json::to_vec(event) {
        Ok(body) => Bytes::from(body),
        Err(err) => {
            return Outcome {
                attempted_at: Timestamp::now(),
                response_status: None,
                response_body: None,
                error: Some(format!("cannot encode the event: {err}")),
                latency: Duration::ZERO,
            };
        }
    };
    sender.send(endpoint, &event.id, &body).await
}

/// Keeps the lease, and passes on the endpoint as stored (a rotated secret, a
/// disabled status). Returns when the lease is lost or the endpoint is gone.
async fn renew(
    store: DynStore,
    delivery: Arc<Delivery>,
    holder: String,
    id: String,
    updates: watch::Sender<Endpoint>,
) {
    let config = &delivery.config;
    let every = (config.lease / 3).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        let now = Timestamp::now();
        let until = later(now, config.lease.as_millis() as i64);
        match store.lease_webhook(&id, &holder, now, until).await {
            Ok(Some(endpoint)) => {
                updates.send_replace(endpoint);
            }
            Ok(None) => return,
            Err(err) if gone(&err) => return,
            Err(err) => {
                tracing::warn!(webhook = %id, error = %err, "renewing the webhook lease failed");
            }
        }
    }
}
