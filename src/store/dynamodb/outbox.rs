//! The event outbox: event ids, outbox partitions, the event items written with each
//! change, and events read back from items or stream images.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::Serialize;

use crate::domain::event::Event;
use crate::domain::{Error, Result, Timestamp};

use super::DynamoStore;
use super::attr::{Item, from_json, get_n, get_s, key, n, s};
use super::expr::put_new;

/// Partitions of the event outbox; readers merge them by event id.
pub const EVENT_SHARDS: u32 = 4;

impl DynamoStore {
    pub(super) fn next_event_id(&self) -> Result<String> {
        let mut generator = self
            .event_ids
            .lock()
            .map_err(|_| Error::internal("event id generator poisoned"))?;
        // The generator fails only when 2^80 ids are made in one millisecond.
        let id = generator
            .generate()
            .map_err(|_| Error::internal("event id space exhausted"))?;
        Ok(format!("evt_{id}"))
    }

    /// An outbox item for an event, written in the transaction of its change.
    pub(super) fn event_put<T: Serialize>(
        &self,
        event_type: &str,
        data: &T,
        now: Timestamp,
    ) -> Result<TransactWriteItem> {
        self.outbox_put(event_type, data, now, None)
    }

    /// An outbox item for a further event of a change, in the partition of the
    /// change's first event (keyed `order_key`): a reader of one partition then sees
    /// all of a change's events or none of them, never a later id without an earlier.
    pub(super) fn event_put_beside<T: Serialize>(
        &self,
        event_type: &str,
        data: &T,
        now: Timestamp,
        order_key: &str,
    ) -> Result<TransactWriteItem> {
        self.outbox_put(event_type, data, now, Some(order_key))
    }

    pub(super) fn outbox_put<T: Serialize>(
        &self,
        event_type: &str,
        data: &T,
        now: Timestamp,
        order_key: Option<&str>,
    ) -> Result<TransactWriteItem> {
        let event = Event {
            id: self.next_event_id()?,
            event_type: event_type.to_string(),
            created_at: now,
            data: serde_json::to_value(data)
                .map_err(|e| Error::internal(format!("encode an event: {e}")))?,
        };
        let shard = match order_key {
            Some(order_key) => shard_of(order_key),
            None => event_shard(&event),
        };
        let mut item = key(format!("EVT#{shard}"), event.id.clone());
        item.insert("id".into(), s(&event.id));
        item.insert("type".into(), s(event_type));
        item.insert("created_at".into(), n(now.millis()));
        item.insert("data".into(), s(event.data.to_string()));
        put_new(&self.table, item)
    }
}

/// The outbox partition of an event: chosen by its coupon (or book), so that the
/// events of one coupon share a partition key and a DynamoDB Stream hands them to the
/// consumer in commit order, while different coupons spread over the partitions.
pub(super) fn event_shard(event: &Event) -> u32 {
    shard_of(&crate::domain::webhook::order_key(event))
}

pub(super) fn shard_of(order_key: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(order_key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % EVENT_SHARDS
}

/// The event an outbox item holds.
pub(super) fn event_from_item(item: &Item) -> Result<Event> {
    Ok(Event {
        id: get_s(item, "id")?,
        event_type: get_s(item, "type")?,
        created_at: Timestamp(get_n(item, "created_at")?),
        data: from_json(&get_s(item, "data")?)?,
    })
}

/// The event in a DynamoDB Streams image of a table item (the stream consumer's
/// input); `None` for items that are not outbox events.
pub fn stream_event(image: &Item) -> Result<Option<Event>> {
    match image.get("PK").and_then(|pk| pk.as_s().ok()) {
        Some(pk) if pk.starts_with("EVT#") => event_from_item(image).map(Some),
        _ => Ok(None),
    }
}

/// The smallest event id of `at`'s millisecond: every id made earlier sorts below it.
pub(super) fn event_id_floor(at: Timestamp) -> String {
    format!(
        "evt_{}",
        ulid::Ulid::from_parts(at.millis().max(0) as u64, 0)
    )
}

pub(super) fn parse_event_id(id: &str) -> Option<&str> {
    let ulid = id.strip_prefix("evt_")?;
    ulid::Ulid::from_string(ulid).ok()?;
    Some(id)
}
