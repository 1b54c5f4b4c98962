//! The calls to DynamoDB, each with bounded retries: failure classification, backoff,
//! and the capacity meter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    ConsumedCapacity, DeleteRequest, KeysAndAttributes, ReturnConsumedCapacity, TransactWriteItem,
    WriteRequest,
};
use rand::Rng;

use crate::domain::{Error, ErrorCode, Result};

use super::DynamoStore;
use super::attr::{Item, built, get_n, key, opt_s, s};
use super::expr::Expr;

/// Resends of one request after throttling or a transaction conflict.
pub(super) const MAX_TRANSIENT_RETRIES: u32 = 8;

pub(super) fn busy() -> Error {
    Error::new(ErrorCode::StoreBusy, "the store is busy, try again")
}

// ---------------------------------------------------------------------------------
// Capacity accounting

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
pub(super) struct CapacityMeter {
    pub(super) requests: AtomicU64,
    pub(super) write_requests: AtomicU64,
    pub(super) read_requests: AtomicU64,
    /// Thousandths of a unit.
    pub(super) write_milli: AtomicU64,
    pub(super) read_milli: AtomicU64,
}

impl CapacityMeter {
    pub(super) fn record<'a>(
        &self,
        write: bool,
        consumed: impl IntoIterator<Item = &'a ConsumedCapacity>,
    ) {
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

    pub(super) fn snapshot(&self) -> Capacity {
        Capacity {
            requests: self.requests.load(Ordering::Relaxed),
            write_requests: self.write_requests.load(Ordering::Relaxed),
            read_requests: self.read_requests.load(Ordering::Relaxed),
            write_units: self.write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            read_units: self.read_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

// ---------------------------------------------------------------------------------
// Errors from DynamoDB

/// What a failed request means for the caller.
#[derive(Debug)]
pub(super) enum Failure {
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

pub(super) const THROTTLING: [&str; 5] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "Throttling",
    "ThrottledException",
];

pub(super) fn classify<E>(err: &SdkError<E>, reasons: Option<Vec<String>>) -> Failure
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
pub(super) fn transact_reasons(
    err: &TransactWriteItemsError,
) -> Option<Vec<(String, Option<Item>)>> {
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
pub(super) async fn backoff(attempt: u32) {
    let cap = 10u64 << attempt.min(6);
    let pause = rand::rng().random_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(pause)).await;
}

/// The outcome of a transaction.
pub(super) enum Tx {
    Committed,
    /// Per-action cancellation reason codes, with the old item where asked for.
    Conditional(Vec<(String, Option<Item>)>),
}

impl DynamoStore {
    // -- low-level calls, each with bounded retries ---------------------------------

    pub(super) async fn get(&self, key: Item) -> Result<Option<Item>> {
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
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
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
    pub(super) async fn query_page(
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
    pub(super) async fn query_all(&self, index: Option<&str>, pk_value: &str) -> Result<Vec<Item>> {
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
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Tx> {
        if items.is_empty() {
            return Ok(Tx::Committed);
        }
        let token = ulid::Ulid::new().to_string();
        #[cfg(test)]
        let actions = items.len();
        let mut attempt = 0;
        loop {
            #[cfg(test)]
            let injected = self
                .faults
                .next()
                .map(|fault| super::faults::injected_error(fault, actions));
            #[cfg(not(test))]
            let injected = None;
            let result = match injected {
                Some(error) => Err(error),
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
    pub(super) async fn failed(
        &self,
        operation: &str,
        failure: Failure,
        attempt: &mut u32,
    ) -> Result<()> {
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
    pub(super) async fn update_returning(&self, key: Item, expr: Expr) -> Result<Option<Item>> {
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
    pub(super) async fn batch_delete(&self, keys: Vec<Item>) -> Result<()> {
        let mut requests = Vec::with_capacity(keys.len());
        for key in keys {
            let delete = built(DeleteRequest::builder().set_key(Some(key)).build())?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.write_batch(requests).await
    }

    /// Puts and deletes, 25 per request, resending unprocessed items.
    pub(super) async fn write_batch(&self, requests: Vec<WriteRequest>) -> Result<()> {
        for chunk in requests.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk.to_vec();
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

    /// One page of the items whose partition key starts with `prefix`, from `start`;
    /// with the key to go on from. A full scan: for maintenance commands only, never on
    /// a request path.
    pub(super) async fn scan_prefix_page(
        &self,
        prefix: &str,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>)> {
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
                    return Ok((out.items.unwrap_or_default(), out.last_evaluated_key));
                }
                Err(err) => {
                    self.failed("Scan", classify(&err, None), &mut attempt)
                        .await?
                }
            }
        }
    }

    /// Takes the next number of a table-wide sequence (book and key creation order).
    pub(super) async fn next_seq(&self, name: &str) -> Result<i64> {
        let mut expr = Expr::new();
        expr.add("n", 1);
        let item = self
            .update_returning(key("SEQ", name), expr)
            .await?
            .ok_or_else(|| Error::internal("sequence update refused"))?;
        get_n(&item, "n")
    }
}
