//! Webhooks in the DynamoDB table.
//!
//! | item | PK | SK | attributes | index keys |
//! |---|---|---|---|---|
//! | endpoint | `WH#<id>` | `WH` | `id`, `seq`, `body` (Webhook JSON), `secret`, `prev_secret`, `prev_until`, `cursor`, `lease_holder`, `lease_until` | GSI1 `WEBHOOKS` / `seq` |
//! | pending delivery | `WHP#<id>` | event id | `body` (JSON) | — |
//! | attempt | `WHA#<id>` | `pos` | `body` (JSON), `ttl` (+30 days) | GSI2 `WHAE#<id>#<event id>` / `pos` |
//!
//! A round of delivery writes its attempts and pending changes with `BatchWriteItem`
//! first, then moves the endpoint's cursor with one conditional `UpdateItem` (the
//! lease holder's): a crash in between redelivers, it never skips.
//!
//! An attempt's `pos` starts with the millisecond its id carries, so a redelivery
//! finds an attempt by id with one query of that millisecond, without an index.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, TransactWriteItem, WriteRequest};

use super::DynamoStore;
use super::attr::{Item, built, from_json, get_n, get_s, key, n, opt_n, opt_s, pad, s, to_json};
use super::expr::{Expr, put_new};
use super::outbox::{EVENT_SHARDS, event_from_item, event_id_floor, parse_event_id};
use crate::domain::event::Event;
use crate::domain::webhook::{
    self, DeliveryAttempt, DeliveryBatch, Endpoint, Lease, PendingDelivery, Redelivery, Webhook,
    WebhookStatus,
};
use crate::domain::{Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Idempotency, WebhookStore};

/// Attempt records are kept this long, then DynamoDB TTL deletes them.
const ATTEMPT_TTL_SECONDS: i64 = 30 * 86_400;
/// Events can become visible this long after their id was chosen (see the store's
/// notes on the event feed): delivery re-reads that far back.
const EVENT_SETTLE: Duration = Duration::from_secs(10);

/// Bits below the millisecond in an attempt's position.
const POSITION_LOW_BITS: u32 = 20;

/// The first position of a millisecond; None past what positions can hold.
fn millisecond_position(at: Timestamp) -> Option<i64> {
    at.millis()
        .checked_mul(1 << POSITION_LOW_BITS)
        .filter(|pos| *pos >= 0)
}

/// A time-ordered position for an attempt: the millisecond its id carries (its attempt
/// time) in the high bits, so the id alone finds it, and a process-wide counter from a
/// random start below, so attempts of one millisecond do not share a key.
fn attempt_position(attempt: &DeliveryAttempt) -> i64 {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: OnceLock<AtomicU64> = OnceLock::new();
    let counter = COUNTER.get_or_init(|| AtomicU64::new(rand::random()));
    let low = counter.fetch_add(1, Ordering::Relaxed) & ((1 << POSITION_LOW_BITS) - 1);
    let at = webhook::attempt_id_time(&attempt.id).unwrap_or(attempt.attempted_at);
    let base = millisecond_position(at)
        .or_else(|| millisecond_position(attempt.attempted_at))
        .unwrap_or(0);
    base | low as i64
}

fn endpoint_key(id: &str) -> Item {
    key(format!("WH#{id}"), "WH")
}

fn pending_pk(id: &str) -> String {
    format!("WHP#{id}")
}

fn attempts_pk(id: &str) -> String {
    format!("WHA#{id}")
}

fn attempts_by_event_pk(id: &str, event_id: &str) -> String {
    format!("WHAE#{id}#{event_id}")
}

struct Stored {
    endpoint: Endpoint,
    /// The endpoint's JSON as stored, for conditions on it.
    body: String,
    lease_holder: Option<String>,
    lease_until: Option<i64>,
}

impl Stored {
    fn lease(&self) -> Lease<'_> {
        Lease {
            holder: self.lease_holder.as_deref(),
            until: self.lease_until.map(Timestamp),
        }
    }
}

fn parse(item: &Item) -> Result<Stored> {
    let previous_secret = match (opt_s(item, "prev_secret"), opt_n(item, "prev_until")) {
        (Some(secret), Some(until)) => Some((secret, Timestamp(until))),
        _ => None,
    };
    let body = get_s(item, "body")?;
    Ok(Stored {
        endpoint: Endpoint {
            webhook: from_json(&body)?,
            secret: get_s(item, "secret")?,
            previous_secret,
            cursor: opt_s(item, "cursor"),
        },
        body,
        lease_holder: opt_s(item, "lease_holder"),
        lease_until: opt_n(item, "lease_until"),
    })
}

impl DynamoStore {
    async fn load_webhook(&self, id: &str) -> Result<Stored> {
        match self.get(endpoint_key(id)).await? {
            Some(item) => parse(&item),
            None => Err(webhook::not_found(id)),
        }
    }

    /// A logged attempt by id: a query of the millisecond its id carries.
    async fn find_attempt(&self, id: &str, delivery_id: &str) -> Result<DeliveryAttempt> {
        let missing = || webhook::delivery_not_found(id, delivery_id);
        let first = webhook::attempt_id_time(delivery_id)
            .and_then(millisecond_position)
            .ok_or_else(missing)?;
        let end = first
            .checked_add(1 << POSITION_LOW_BITS)
            .ok_or_else(missing)?;
        let mut after = Some(pad(first - 1));
        loop {
            let (items, more) = self
                .query_page(None, &attempts_pk(id), after.as_deref(), 100)
                .await?;
            for item in &items {
                if get_n(item, "pos")? >= end {
                    return Err(missing());
                }
                let attempt: DeliveryAttempt = from_json(&get_s(item, "body")?)?;
                if attempt.id == delivery_id {
                    return Ok(attempt);
                }
            }
            after = items.last().and_then(|item| opt_s(item, "SK"));
            if !more || after.is_none() {
                return Err(missing());
            }
        }
    }

    /// Every item of a partition's query, keys only needed (for deletion).
    async fn partition_keys(&self, pk: &str) -> Result<Vec<Item>> {
        let items = self.query_all(None, pk).await?;
        items
            .iter()
            .map(|item| Ok(key(get_s(item, "PK")?, get_s(item, "SK")?)))
            .collect()
    }
}

fn put_request(item: Item) -> Result<WriteRequest> {
    let put = built(PutRequest::builder().set_item(Some(item)).build())?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn delete_request(key: Item) -> Result<WriteRequest> {
    let delete = built(DeleteRequest::builder().set_key(Some(key)).build())?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook(
        &self,
        webhook: Webhook,
        secret: String,
        idem: Option<Idempotency>,
    ) -> Result<Webhook> {
        self.run(idem.as_ref(), |now| {
            let webhook = webhook.clone();
            let secret = secret.clone();
            async move {
                let seq = self.next_seq("WEBHOOK").await?;
                // The head of the feed: every event made from now on sorts after it.
                let mut item = endpoint_key(&webhook.id);
                item.insert("id".into(), s(&webhook.id));
                item.insert("seq".into(), n(seq));
                item.insert("body".into(), s(to_json(&webhook)?));
                item.insert("secret".into(), s(&secret));
                item.insert("cursor".into(), s(event_id_floor(now)));
                item.insert("G1PK".into(), s("WEBHOOKS"));
                item.insert("G1SK".into(), s(pad(seq)));
                let items: Vec<TransactWriteItem> = vec![put_new(&self.table, item)?];
                Ok((webhook, items))
            }
        })
        .await
    }

    async fn get_webhook(&self, id: &str) -> Result<Endpoint> {
        Ok(self.load_webhook(id).await?.endpoint)
    }

    async fn list_webhooks(&self, page: PageRequest) -> Result<Page<Webhook>> {
        let after = page.after.map(pad);
        let (items, _) = self
            .query_page(
                Some("GSI1"),
                "WEBHOOKS",
                after.as_deref(),
                page.limit as i32 + 1,
            )
            .await?;
        let hooks = items
            .iter()
            .map(|item| Ok((get_n(item, "seq")?, from_json(&get_s(item, "body")?)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(hooks, page.limit))
    }

    async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.load_webhook(id).await?;
        let mut expr = Expr::new();
        expr.cond_exists("PK");
        let delete = expr.into_delete(&self.table, endpoint_key(id))?;
        if let super::client::Tx::Conditional(_) = self.transact(vec![delete]).await? {
            return Err(webhook::not_found(id));
        }
        let mut keys = self.partition_keys(&pending_pk(id)).await?;
        keys.extend(self.partition_keys(&attempts_pk(id)).await?);
        self.batch_delete(keys).await
    }

    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: String,
        previous_until: Timestamp,
        idem: Option<Idempotency>,
    ) -> Result<Webhook> {
        self.run(idem.as_ref(), |_| {
            let secret = secret.clone();
            async move {
                let stored = self.load_webhook(id).await?;
                let mut expr = Expr::new();
                let prev = expr.path(&["prev_secret"]);
                let current = expr.path(&["secret"]);
                let until = expr.path(&["prev_until"]);
                let new_value = expr.val(s(secret));
                let until_value = expr.val(n(previous_until.millis()));
                expr.sets.push(format!("{prev} = {current}"));
                expr.sets.push(format!("{current} = {new_value}"));
                expr.sets.push(format!("{until} = {until_value}"));
                expr.cond_exists("PK");
                let items = vec![expr.into_update(&self.table, endpoint_key(id))?];
                Ok((stored.endpoint.webhook, items))
            }
        })
        .await
    }

    async fn enable_webhook(&self, id: &str, idem: Option<Idempotency>) -> Result<Webhook> {
        self.run(idem.as_ref(), |_| async move {
            let stored = self.load_webhook(id).await?;
            let Some(enabled) = webhook::plan_enable(&stored.endpoint.webhook) else {
                return Ok((stored.endpoint.webhook, Vec::new()));
            };
            let mut expr = Expr::new();
            expr.set("body", s(to_json(&enabled)?));
            expr.remove(&["lease_holder"]);
            expr.remove(&["lease_until"]);
            // Decided on this state only: a change in between decides again.
            expr.cond("body", "=", s(&stored.body));
            let items = vec![expr.into_update(&self.table, endpoint_key(id))?];
            Ok((enabled, items))
        })
        .await
    }

    async fn begin_webhook_test(
        &self,
        id: &str,
        event: Event,
        idem: Option<Idempotency>,
    ) -> Result<Event> {
        self.run(idem.as_ref(), |_| {
            let event = event.clone();
            async move {
                self.load_webhook(id).await?;
                Ok((event, Vec::new()))
            }
        })
        .await
    }

    async fn lease_webhook(
        &self,
        id: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<Endpoint>> {
        let stored = self.load_webhook(id).await?;
        if !stored
            .lease()
            .may_take(stored.endpoint.webhook.status, holder, now)
        {
            return Ok(None);
        }
        let mut expr = Expr::new();
        expr.set("lease_holder", s(holder));
        expr.set("lease_until", n(until.millis()));
        let pk = expr.path(&["PK"]);
        let holder_path = expr.path(&["lease_holder"]);
        let until_path = expr.path(&["lease_until"]);
        let me = expr.val(s(holder));
        let now_value = expr.val(n(now.millis()));
        expr.conditions.push(format!(
            "attribute_exists({pk}) AND (attribute_not_exists({holder_path}) \
             OR {holder_path} = {me} OR {until_path} <= {now_value})"
        ));
        match self.update_returning(endpoint_key(id), expr).await? {
            Some(item) => Ok(Some(parse(&item)?.endpoint)),
            None => Ok(None),
        }
    }

    async fn pending_deliveries(&self, id: &str) -> Result<Vec<PendingDelivery>> {
        self.load_webhook(id).await?;
        let items = self.query_all(None, &pending_pk(id)).await?;
        items
            .iter()
            .map(|item| from_json(&get_s(item, "body")?))
            .collect()
    }

    async fn record_deliveries(
        &self,
        id: &str,
        holder: Option<&str>,
        batch: DeliveryBatch,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let stored = self.load_webhook(id).await?;
        stored.lease().check_recorder(holder, id)?;
        let mut requests = Vec::new();
        for attempt in &batch.attempts {
            let pos = attempt_position(attempt);
            let mut item = key(attempts_pk(id), pad(pos));
            item.insert("pos".into(), n(pos));
            item.insert("body".into(), s(to_json(attempt)?));
            item.insert(
                "ttl".into(),
                n(attempt.attempted_at.millis() / 1000 + ATTEMPT_TTL_SECONDS),
            );
            item.insert(
                "G2PK".into(),
                s(attempts_by_event_pk(id, &attempt.event_id)),
            );
            item.insert("G2SK".into(), s(pad(pos)));
            requests.push(put_request(item)?);
        }
        let done: HashSet<&str> = batch.done.iter().map(String::as_str).collect();
        for pending in &batch.pending {
            if done.contains(pending.event.id.as_str()) {
                continue;
            }
            let mut item = key(pending_pk(id), pending.event.id.clone());
            item.insert("body".into(), s(to_json(pending)?));
            requests.push(put_request(item)?);
        }
        for event_id in &done {
            requests.push(delete_request(key(pending_pk(id), *event_id))?);
        }
        self.write_batch(requests).await?;

        let mut webhook = stored.endpoint.webhook;
        let mut changed = false;
        if let Some(failing_since) = batch.failing_since {
            changed |= webhook.failing_since != failing_since;
            webhook.failing_since = failing_since;
        }
        if batch.disable && webhook.status != WebhookStatus::Disabled {
            webhook.status = WebhookStatus::Disabled;
            changed = true;
        }
        if batch.cursor.is_none() && !changed {
            return Ok(());
        }
        let mut expr = Expr::new();
        if let Some(cursor) = &batch.cursor {
            expr.set("cursor", s(cursor));
        }
        if changed {
            expr.set("body", s(to_json(&webhook)?));
        }
        expr.cond_exists("PK");
        if let Some(holder) = holder {
            expr.cond("lease_holder", "=", s(holder));
        }
        match self.update_returning(endpoint_key(id), expr).await? {
            Some(_) => Ok(()),
            None => Err(webhook::not_found(id)),
        }
    }

    async fn get_delivery(&self, id: &str, delivery_id: &str) -> Result<DeliveryAttempt> {
        self.load_webhook(id).await?;
        self.find_attempt(id, delivery_id).await
    }

    async fn begin_redelivery(
        &self,
        id: &str,
        delivery_id: &str,
        attempt_id: String,
        idem: Option<Idempotency>,
    ) -> Result<Redelivery> {
        self.run(idem.as_ref(), |_| {
            let attempt_id = attempt_id.clone();
            async move {
                self.load_webhook(id).await?;
                let of = self.find_attempt(id, delivery_id).await?;
                let logged = self
                    .query_all(Some("GSI2"), &attempts_by_event_pk(id, &of.event_id))
                    .await?;
                let numbers = logged
                    .iter()
                    .map(|item| Ok(from_json::<DeliveryAttempt>(&get_s(item, "body")?)?.attempt))
                    .collect::<Result<Vec<u32>>>()?;
                Ok((
                    webhook::plan_redelivery(of, numbers, attempt_id),
                    Vec::new(),
                ))
            }
        })
        .await
    }

    async fn feed_event(&self, event_id: &str) -> Result<Option<Event>> {
        if parse_event_id(event_id).is_none() {
            return Ok(None);
        }
        // The outbox partition follows from the event's coupon, unknown here: one
        // batched read of the id in each.
        let keys = (0..EVENT_SHARDS)
            .map(|shard| key(format!("EVT#{shard}"), event_id))
            .collect();
        match self.batch_get(keys).await?.first() {
            Some(item) => event_from_item(item).map(Some),
            None => Ok(None),
        }
    }

    async fn list_deliveries(
        &self,
        id: &str,
        event_id: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<DeliveryAttempt>> {
        self.load_webhook(id).await?;
        let after = page.after.map(pad);
        let (index, pk) = match event_id {
            Some(event_id) => (Some("GSI2"), attempts_by_event_pk(id, event_id)),
            None => (None, attempts_pk(id)),
        };
        let (items, _) = self
            .query_page(index, &pk, after.as_deref(), page.limit as i32 + 1)
            .await?;
        let attempts = items
            .iter()
            .map(|item| Ok((get_n(item, "pos")?, from_json(&get_s(item, "body")?)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(attempts, page.limit))
    }

    fn event_settle_delay(&self) -> Duration {
        EVENT_SETTLE
    }

    /// An idle look at the feed is 4 billed queries (one per event partition): 16 per
    /// second per idle endpoint instead of 160 at the embedded store's 25 ms.
    fn event_poll_interval(&self) -> Duration {
        Duration::from_millis(250)
    }
}
