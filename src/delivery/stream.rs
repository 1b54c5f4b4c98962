//! Delivery of events handed in from outside the feed: in AWS the DynamoDB Stream of
//! the table brings each outbox event to a Lambda function (`lambda::streams`), which
//! has no long-running worker and no cursor of its own.
//!
//! Each event goes to every enabled endpoint that subscribes to its type and existed
//! when the event was committed, all endpoints at once, and every attempt is logged
//! as in `serve`. An endpoint that already took the event (a succeeded attempt in its
//! log) is skipped, so a batch the stream hands in again (after a failure) does not
//! send twice what already arrived. Retries are the stream's: a failed event is
//! reported back, and the event source mapping hands it in again.

use futures_util::future::join_all;
use hyper::body::Bytes;

use std::sync::Arc;

use super::sender::Outcome;
use super::{Delivery, attempt_record, count, enabled_endpoints};
use crate::domain::event::Event;
use crate::domain::webhook::{AttemptStatus, DeliveryBatch, Endpoint};
use crate::domain::{PageRequest, Result, Timestamp};
use crate::store::DynStore;

/// The endpoints of one batch of stream records, read once per batch.
pub struct StreamDelivery {
    store: DynStore,
    delivery: Arc<Delivery>,
    endpoints: Vec<Endpoint>,
}

/// What came of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Every subscribed endpoint has it (now or before).
    All,
    /// These endpoints failed (their attempts are logged); the event must come again.
    Failed(Vec<String>),
}

impl StreamDelivery {
    /// Reads the enabled endpoints with their secrets.
    pub async fn load(
        store: DynStore,
        delivery: Arc<Delivery>,
    ) -> std::result::Result<Self, String> {
        if !delivery.config.enabled {
            return Err(
                "webhook delivery is off in this process (COUPON_BOOK_WEBHOOK_DELIVERY=off)".into(),
            );
        }
        let mut endpoints = Vec::new();
        for id in enabled_endpoints(&store).await.map_err(|e| e.to_string())? {
            match store.get_webhook(&id).await {
                Ok(endpoint) => endpoints.push(endpoint),
                Err(err) if super::gone(&err) => {}
                Err(err) => return Err(err.to_string()),
            }
        }
        Ok(StreamDelivery {
            store,
            delivery,
            endpoints,
        })
    }

    /// Delivers one event to every endpoint that wants it and has not had it yet.
    pub async fn deliver(&mut self, event: &Event) -> Result<Delivered> {
        let body: Bytes = serde_json::to_vec(event)
            .map_err(|e| crate::domain::Error::internal(format!("encode the event: {e}")))?
            .into();
        let this = &*self;
        let body = &body;
        let sends = this
            .endpoints
            .iter()
            .enumerate()
            // As in `serve`, an endpoint gets the events committed after it was made.
            .filter(|(_, endpoint)| {
                endpoint.webhook.wants(&event.event_type)
                    && event.created_at >= endpoint.webhook.created_at
            })
            .map(|(index, endpoint)| async move {
                (index, this.deliver_to(endpoint, event, body).await)
            });
        let results = join_all(sends).await;
        let mut failed = Vec::new();
        for (index, result) in results {
            let (has_it, failing_since) = result?;
            let endpoint = &mut self.endpoints[index];
            endpoint.webhook.failing_since = failing_since;
            if !has_it {
                failed.push(endpoint.webhook.id.clone());
            }
        }
        Ok(if failed.is_empty() {
            Delivered::All
        } else {
            Delivered::Failed(failed)
        })
    }

    /// Sends unless the endpoint's log shows it took the event, and logs the attempt.
    /// Returns whether the endpoint has the event, and since when it fails (if it does).
    async fn deliver_to(
        &self,
        endpoint: &Endpoint,
        event: &Event,
        body: &Bytes,
    ) -> Result<(bool, Option<Timestamp>)> {
        let id = &endpoint.webhook.id;
        let earlier = self
            .store
            .list_deliveries(id, Some(&event.id), PageRequest::first(1000))
            .await?
            .data;
        if earlier
            .iter()
            .any(|attempt| attempt.status == AttemptStatus::Succeeded)
        {
            return Ok((true, endpoint.webhook.failing_since));
        }
        let outcome: Outcome = self.delivery.sender.send(endpoint, &event.id, body).await;
        let succeeded = outcome.succeeded();
        // The stream hands a failed event in again: the attempt says "retrying", with
        // no time, since the event source mapping decides when.
        let status = if succeeded {
            AttemptStatus::Succeeded
        } else {
            AttemptStatus::Retrying
        };
        count(status, event, &outcome);
        let attempt = attempt_record(id, event, earlier.len() as u32 + 1, &outcome, status, None);
        let failing_since = match (succeeded, endpoint.webhook.failing_since) {
            (true, _) => None,
            (false, Some(since)) => Some(since),
            (false, None) => Some(outcome.attempted_at),
        };
        let changed = failing_since != endpoint.webhook.failing_since;
        // As in `serve`: an endpoint failing for too long is turned off.
        let disable = failing_since.is_some_and(|since| {
            outcome.attempted_at.millis() - since.millis()
                >= self.delivery.config.disable_after.as_millis() as i64
        });
        self.store
            .record_deliveries(
                id,
                None,
                DeliveryBatch {
                    attempts: vec![attempt],
                    failing_since: changed.then_some(failing_since),
                    disable,
                    ..DeliveryBatch::default()
                },
            )
            .await?;
        Ok((succeeded, failing_since))
    }
}
