//! The Streams function: DynamoDB Stream batches of the table's items in, outbox
//! events delivered to webhooks (`delivery::stream`), and a partial batch answer out.
//!
//! Records are handled in stream order. The first record that cannot be handled (it is
//! malformed, or an endpoint failed to take its event) is reported in
//! `batchItemFailures` and the records after it are left alone: the event source
//! mapping hands in that record and the ones after it again, never the ones before,
//! and events of one coupon keep their order. Items that are not outbox events, and
//! removals (TTL), are skipped.

use std::sync::Arc;

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_http::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::cli::{CliError, CliResult};
use crate::config::ApiArgs;
use crate::delivery::Delivery;
use crate::delivery::stream::{Delivered, StreamDelivery};
use crate::store::{self, DynStore};

pub async fn run(args: ApiArgs) -> CliResult {
    let store = args.store.open().await?;
    let delivery = Delivery::new(args.webhooks.delivery_config()).map_err(CliError)?;
    tracing::info!(store = %args.store.store, "coupon-book Streams function ready");
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let store = store.clone();
        let delivery = delivery.clone();
        async move { handle_batch(store, delivery, event.payload).await }
    });
    lambda_http::lambda_runtime::run(handler)
        .await
        .map_err(|e| CliError(format!("the Lambda runtime stopped: {e}")))
}

/// Handles one batch. An error fails the whole batch (the store or the webhook
/// settings could not be read): the event source mapping retries all of it.
pub async fn handle_batch(
    store: DynStore,
    delivery: Arc<Delivery>,
    batch: Value,
) -> Result<DynamoDbEventResponse, String> {
    let records = match batch.get("Records") {
        Some(Value::Array(records)) => records.as_slice(),
        _ => return Err("not a DynamoDB Streams batch: no Records array".into()),
    };
    let mut delivery = StreamDelivery::load(store, delivery).await?;
    let mut response = DynamoDbEventResponse::default();
    for raw in records {
        if let Err(reason) = handle_record(&mut delivery, raw).await {
            let sequence_number = raw
                .pointer("/dynamodb/SequenceNumber")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("a record without a sequence number failed: {reason}"))?;
            tracing::warn!(sequence_number, reason = %reason, "stream record not handled; reported for a retry");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence_number.to_string());
            response.batch_item_failures.push(failure);
            break;
        }
    }
    Ok(response)
}

async fn handle_record(delivery: &mut StreamDelivery, raw: &Value) -> Result<(), String> {
    let record: EventRecord =
        serde_json::from_value(raw.clone()).map_err(|e| format!("malformed stream record: {e}"))?;
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return Ok(());
    }
    let image = record.change.new_image.into();
    let Some(event) =
        store::dynamodb::stream_event(&image).map_err(|e| format!("malformed event item: {e}"))?
    else {
        return Ok(());
    };
    match delivery.deliver(&event).await.map_err(|e| e.to_string())? {
        Delivered::All => Ok(()),
        Delivered::Failed(endpoints) => Err(format!(
            "event {} not taken by webhook(s) {}",
            event.id,
            endpoints.join(", ")
        )),
    }
}
