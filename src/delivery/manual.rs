//! Sends an operator asks for through the API: a test event, and a logged attempt's
//! event again (redelivery). Each is one attempt, made now, without retries, and
//! logged beside the scheduled ones; it takes no lease and leaves the endpoint's
//! cursor and queue alone, so scheduled deliveries go on as they were.

use super::sender::Outcome;
use super::{Delivery, attempt_record, send_once};
use crate::domain::event::Event;
use crate::domain::ids::new_id;
use crate::domain::webhook::{self, AttemptStatus, DeliveryAttempt, DeliveryBatch};
use crate::domain::{Error, ErrorCode, PageRequest, Result, Timestamp};
use crate::store::{DynStore, Idempotency};

/// Sends a `webhook.test` event once; a replay of the same Idempotency-Key answers the
/// first call's attempt.
pub async fn send_test(
    store: &DynStore,
    delivery: &Delivery,
    webhook_id: &str,
    idem: Option<Idempotency>,
) -> Result<DeliveryAttempt> {
    let event = webhook::test_event(webhook_id, new_id("evt"), Timestamp::now());
    let registered = store
        .begin_webhook_test(webhook_id, event.clone(), idem)
        .await?;
    if registered.id != event.id {
        // A replay: answer with the first call's attempt when it was logged.
        let logged = store
            .list_deliveries(webhook_id, Some(&registered.id), PageRequest::first(1))
            .await?;
        if let Some(attempt) = logged.data.into_iter().next() {
            return Ok(attempt);
        }
    }
    send_and_log(store, delivery, webhook_id, &registered, 1, None).await
}

/// Sends the event of the logged attempt `delivery_id` again: the same body and
/// `Webhook-Id` (receivers de-duplicate by it), signed afresh, as a new attempt in the
/// log. A replay of the same Idempotency-Key answers the first call's attempt.
pub async fn redeliver(
    store: &DynStore,
    delivery: &Delivery,
    webhook_id: &str,
    delivery_id: &str,
    idem: Option<Idempotency>,
) -> Result<DeliveryAttempt> {
    let attempt_id = webhook::attempt_id(Timestamp::now());
    let plan = store
        .begin_redelivery(webhook_id, delivery_id, attempt_id.clone(), idem)
        .await?;
    if plan.attempt_id != attempt_id {
        // A replay: the first call's attempt, unless it stopped before logging one.
        match store.get_delivery(webhook_id, &plan.attempt_id).await {
            Ok(attempt) => return Ok(attempt),
            Err(err) if err.code == ErrorCode::DeliveryNotFound => {}
            Err(err) => return Err(err),
        }
    }
    let from_feed = if plan.of.event_type == webhook::WEBHOOK_TEST {
        None
    } else {
        store.feed_event(&plan.of.event_id).await?
    };
    let event = webhook::redelivery_event(webhook_id, &plan, from_feed)?;
    send_and_log(
        store,
        delivery,
        webhook_id,
        &event,
        plan.attempt,
        Some(plan.attempt_id),
    )
    .await
}

/// One attempt of `event`, now, recorded in the log (as `attempt_id` if given).
async fn send_and_log(
    store: &DynStore,
    delivery: &Delivery,
    webhook_id: &str,
    event: &Event,
    number: u32,
    attempt_id: Option<String>,
) -> Result<DeliveryAttempt> {
    let endpoint = store.get_webhook(webhook_id).await?;
    let outcome: Outcome = send_once(delivery, &endpoint, event)
        .await
        .map_err(|message| {
            Error::unavailable(format!("webhook delivery is not set up: {message}"))
        })?;
    let status = if outcome.succeeded() {
        AttemptStatus::Succeeded
    } else {
        AttemptStatus::Failed
    };
    let mut attempt = attempt_record(webhook_id, event, number, &outcome, status, None);
    if let Some(id) = attempt_id {
        attempt.id = id;
    }
    let batch = DeliveryBatch {
        attempts: vec![attempt.clone()],
        ..DeliveryBatch::default()
    };
    store.record_deliveries(webhook_id, None, batch).await?;
    Ok(attempt)
}
