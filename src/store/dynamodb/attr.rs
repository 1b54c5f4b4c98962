//! Attribute values: building them and reading them back from items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{Error, Result, Timestamp};

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

/// Sort-key form of a position: zero-padded so text order is numeric order.
pub(super) fn pad(position: i64) -> String {
    format!("{:020}", position.max(0))
}

pub(super) fn corrupt(what: &str) -> Error {
    tracing::error!(attribute = what, "malformed item in DynamoDB");
    Error::internal("storage error")
}

pub(super) fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Some(text.clone()),
        _ => None,
    }
}

pub(super) fn get_s(item: &Item, name: &str) -> Result<String> {
    opt_s(item, name).ok_or_else(|| corrupt(name))
}

pub(super) fn opt_n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text.parse().ok(),
        _ => None,
    }
}

pub(super) fn get_n(item: &Item, name: &str) -> Result<i64> {
    opt_n(item, name).ok_or_else(|| corrupt(name))
}

pub(super) fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("encode: {e}")))
}

pub(super) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        tracing::error!(error = %e, "undecodable JSON in DynamoDB item");
        Error::internal("storage error")
    })
}

pub(super) fn built<T>(
    result: std::result::Result<T, aws_sdk_dynamodb::error::BuildError>,
) -> Result<T> {
    result.map_err(|e| {
        tracing::error!(error = %e, "invalid DynamoDB request");
        Error::internal("storage error")
    })
}

/// A time-ordered i64 position for lists in creation order (redemptions, user
/// assignments): milliseconds in the high bits, randomness below so two items of the
/// same millisecond keep distinct positions.
pub(super) fn time_position(now: Timestamp) -> i64 {
    let random: i64 = rand::rng().random_range(0..(1 << 20));
    first_position(now) | random
}

/// The smallest `time_position` of `at`'s millisecond (clamped to what positions hold):
/// a time window is a range of positions.
pub(super) fn first_position(at: Timestamp) -> i64 {
    at.millis().clamp(0, i64::MAX >> 20) << 20
}
