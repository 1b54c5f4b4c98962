//! The event outbox: event ids, outbox partitions, the event items written with each
//! change, and events read back from items or stream images.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::Serialize;

use crate::domain::event::{Actor, Event, Subject};
use crate::domain::{Error, Result, Timestamp};

use super::DynamoStore;
use super::attr::{Item, from_json, get_n, get_s, key, n, opt_s, s, to_json};
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

    /// An outbox item for an event by `by`, written in the transaction of its change.
    pub(super) fn event_put<T: Serialize>(
        &self,
        by: &Actor,
        event_type: &str,
        data: &T,
        now: Timestamp,
    ) -> Result<TransactWriteItem> {
        self.outbox_put(by, event_type, data, now, Placement::default())
    }

    /// An outbox item for an event about `user` when its data does not name them (a
    /// lock's holder, the user a coupon was taken from).
    pub(super) fn event_put_for<T: Serialize>(
        &self,
        by: &Actor,
        event_type: &str,
        data: &T,
        now: Timestamp,
        user: Option<&str>,
    ) -> Result<TransactWriteItem> {
        let placement = Placement {
            user,
            ..Placement::default()
        };
        self.outbox_put(by, event_type, data, now, placement)
    }

    /// An outbox item for a further event of a change, in the partition of the
    /// change's first event (keyed `order_key`): a reader of one partition then sees
    /// all of a change's events or none of them, never a later id without an earlier.
    pub(super) fn event_put_beside<T: Serialize>(
        &self,
        by: &Actor,
        event_type: &str,
        data: &T,
        now: Timestamp,
        order_key: &str,
    ) -> Result<TransactWriteItem> {
        let placement = Placement {
            order_key: Some(order_key),
            ..Placement::default()
        };
        self.outbox_put(by, event_type, data, now, placement)
    }

    fn outbox_put<T: Serialize>(
        &self,
        by: &Actor,
        event_type: &str,
        data: &T,
        now: Timestamp,
        placement: Placement,
    ) -> Result<TransactWriteItem> {
        let event = Event {
            id: self.next_event_id()?,
            event_type: event_type.to_string(),
            created_at: now,
            actor: by.clone(),
            data: serde_json::to_value(data)
                .map_err(|e| Error::internal(format!("encode an event: {e}")))?,
        };
        let shard = match placement.order_key {
            Some(order_key) => shard_of(order_key),
            None => event_shard(&event),
        };
        let subject = Subject::of(event_type, &event.data).for_user(placement.user);
        let mut item = key(format!("EVT#{shard}"), event.id.clone());
        item.insert("id".into(), s(&event.id));
        item.insert("type".into(), s(event_type));
        item.insert("created_at".into(), n(now.millis()));
        item.insert("actor".into(), s(to_json(by)?));
        item.insert("data".into(), s(event.data.to_string()));
        item.extend(index_keys(&event, shard, &subject));
        put_new(&self.table, item)
    }
}

/// Where an event item goes beyond its own data: the partition of an earlier event
/// of the same change, the user it concerns.
#[derive(Default)]
struct Placement<'a> {
    order_key: Option<&'a str>,
    user: Option<&'a str>,
}

/// The index keys that make each filter of the feed a `Query`, all sorted by event
/// id: GSI1 the book's events, GSI2 the code's, GSI3 the user's, GSI4 the type's
/// (in the event's outbox partition, so one type's events spread over the 4).
pub(super) fn index_keys(event: &Event, shard: u32, subject: &Subject) -> Item {
    let mut keys = Item::new();
    let mut put = |index: u8, pk: String| {
        keys.insert(format!("G{index}PK"), s(pk));
        keys.insert(format!("G{index}SK"), s(&event.id));
    };
    if let Some(book_id) = &subject.book_id {
        put(1, book_events_key(book_id));
    }
    if let Some(code) = &subject.code {
        put(2, code_events_key(code));
    }
    if let Some(user_id) = &subject.user_id {
        put(3, user_events_key(user_id));
    }
    put(4, type_events_key(&event.event_type, shard));
    keys
}

pub(super) fn book_events_key(book_id: &str) -> String {
    format!("EBOOK#{book_id}")
}

pub(super) fn code_events_key(code: &str) -> String {
    format!("ECODE#{code}")
}

pub(super) fn user_events_key(user_id: &str) -> String {
    format!("EUSER#{user_id}")
}

pub(super) fn type_events_key(event_type: &str, shard: u32) -> String {
    format!("ETYPE#{event_type}#{shard}")
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

/// The event an outbox item holds (items written before actors were recorded have
/// none: `Actor::unrecorded`).
pub(super) fn event_from_item(item: &Item) -> Result<Event> {
    let actor = match opt_s(item, "actor") {
        Some(actor) => from_json(&actor)?,
        None => Actor::unrecorded(),
    };
    Ok(Event {
        id: get_s(item, "id")?,
        event_type: get_s(item, "type")?,
        created_at: Timestamp(get_n(item, "created_at")?),
        actor,
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
