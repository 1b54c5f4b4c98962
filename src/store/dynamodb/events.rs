//! The event feed of the DynamoDB table, and the lock-expiry sweep.

use async_trait::async_trait;

use crate::domain::coupon::Lock;
use crate::domain::event::{self, Actor, Event, EventFilter, FilterKey, Subject};
use crate::domain::{Error, Page, Result, Timestamp};
use crate::store::prelude::*;

use super::DynamoStore;
use super::attr::{Item, key, opt_s};
use super::client::Tx;
use super::expr::Expr;
use super::outbox::{
    EVENT_SHARDS, book_events_key, code_events_key, event_from_item, event_id_floor, index_keys,
    parse_event_id, type_events_key, user_events_key,
};
use super::state::{BookState, CouponState, coupon_key};

/// Index items one filtered read examines at most when the filters it checks itself
/// reject most of what its index returns; the page then ends early, with a cursor
/// to read on from.
const EXAMINE_BUDGET: usize = 5_000;

fn parse_after(after: Option<&str>) -> Result<Option<&str>> {
    match after {
        None | Some("") => Ok(None),
        Some(id) => {
            Ok(Some(parse_event_id(id).ok_or_else(|| {
                Error::invalid("after", "unknown event id")
            })?))
        }
    }
}

/// A page of events gathered from several partitions: in id order, cut at `limit`.
fn merged_page(mut events: Vec<Event>, limit: u32) -> Page<Event> {
    events.sort_by(|a, b| a.id.cmp(&b.id));
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next_cursor = if more {
        events.last().map(|e| e.id.clone())
    } else {
        None
    };
    Page {
        data: events,
        next_cursor,
    }
}

/// What an event item is about, as its index keys name it.
fn item_subject(item: &Item) -> Subject {
    let named = |index: u8, prefix: &str| {
        opt_s(item, &format!("G{index}PK"))
            .and_then(|pk| pk.strip_prefix(prefix).map(str::to_string))
    };
    Subject {
        book_id: named(1, "EBOOK#"),
        code: named(2, "ECODE#"),
        user_id: named(3, "EUSER#"),
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn list_events(&self, after: Option<&str>, limit: u32) -> Result<Page<Event>> {
        let after = parse_after(after)?;
        let partitions: Vec<String> = (0..EVENT_SHARDS)
            .map(|shard| format!("EVT#{shard}"))
            .collect();
        self.merged_read(None, &partitions, after, limit).await
    }

    async fn find_events(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Event>> {
        let after = parse_after(after)?;
        let (index, pk) = match filter.key() {
            None => return self.list_events(after, limit).await,
            Some(FilterKey::Types(types)) => {
                let partitions: Vec<String> = types
                    .iter()
                    .flat_map(|t| (0..EVENT_SHARDS).map(move |shard| type_events_key(t, shard)))
                    .collect();
                return self
                    .merged_read(Some("GSI4"), &partitions, after, limit)
                    .await;
            }
            Some(FilterKey::Code(code)) => ("GSI2", code_events_key(code)),
            Some(FilterKey::User(user_id)) => ("GSI3", user_events_key(user_id)),
            Some(FilterKey::Book(book_id)) => ("GSI1", book_events_key(book_id)),
        };
        self.filtered_read(index, &pk, filter, (after, limit), EXAMINE_BUDGET)
            .await
    }

    async fn expire_locks(&self) -> Result<u64> {
        let now = self.clock.now();
        let by = Actor::system(event::LOCK_EXPIRY);
        let mut expired_total = 0u64;
        for book_item in self.query_all(Some("GSI1"), "BOOKS").await? {
            let book = BookState::parse(&book_item)?;
            for item in self
                .query_all(Some("GSI4"), &format!("LOCKED#{}", book.id))
                .await?
            {
                let coupon = CouponState::parse(&item)?;
                let expired: Vec<&Lock> = coupon.locks.iter().filter(|l| !l.is_live(now)).collect();
                if expired.is_empty() {
                    continue;
                }
                let mut expr = coupon.pinned();
                for lock in &expired {
                    expr.remove(&["locks", &lock.lock_id]);
                }
                if expired.len() == coupon.locks.len() {
                    expr.remove(&["G4PK"]).remove(&["G4SK"]);
                }
                expr.bump("lv");
                let view = coupon.view(book.max(), now);
                let mut items =
                    vec![expr.into_update(&self.table, coupon_key(&coupon.record.code))?];
                for lock in &expired {
                    let holder = Some(lock.user_id.as_str());
                    items.push(self.event_put_for(
                        &by,
                        event::COUPON_LOCK_EXPIRED,
                        &view,
                        now,
                        holder,
                    )?);
                }
                // A coupon that changed meanwhile is swept next time.
                if let Tx::Committed = self.transact(items).await? {
                    expired_total += expired.len() as u64;
                }
                if expired_total >= 1000 {
                    return Ok(expired_total);
                }
            }
        }
        Ok(expired_total)
    }
}

impl DynamoStore {
    /// The events after `after` in several partitions (of the table or of an index),
    /// one `Query` each cut at the page size, merged by id. The partitions are read
    /// one after another, not at one instant: an event committed to a partition
    /// already read while a later one is being read would sit behind newer events
    /// seen there, and a reader whose cursor moves to the newest event would pass
    /// over it. A coupon's event is made only after its previous one committed, so
    /// listing just the events made before this read began keeps every coupon's
    /// events whole and in order; newer ones come next time. Event ids carry the
    /// system time, whatever clock decisions use.
    async fn merged_read(
        &self,
        index: Option<&str>,
        partitions: &[String],
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Event>> {
        let read_began = event_id_floor(Timestamp::now());
        let mut events = Vec::new();
        for partition in partitions {
            let (items, _) = self
                .query_page(index, partition, after, limit as i32 + 1)
                .await?;
            for item in &items {
                let event = event_from_item(item)?;
                if event.id < read_began {
                    events.push(event);
                }
            }
        }
        Ok(merged_page(events, limit))
    }

    /// The events of one index partition after `after` that pass every filter: pages
    /// of the partition until the page is full, the partition ends, or `budget` items
    /// were examined (then the cursor is the last examined id).
    pub(super) async fn filtered_read(
        &self,
        index: &str,
        pk: &str,
        filter: &EventFilter,
        (after, limit): (Option<&str>, u32),
        budget: usize,
    ) -> Result<Page<Event>> {
        let wanted = limit as usize + 1;
        let mut found: Vec<Event> = Vec::new();
        let mut examined = 0usize;
        let mut cursor: Option<String> = after.map(str::to_string);
        // Pages at least a little larger than asked: the filters checked here may
        // reject some of what the index returns. Never larger than the budget.
        let page_size = (limit as usize + 1).max(100).min(budget.max(1)) as i32;
        loop {
            let (items, more) = self
                .query_page(Some(index), pk, cursor.as_deref(), page_size)
                .await?;
            for item in &items {
                examined += 1;
                let event = event_from_item(item)?;
                cursor = Some(event.id.clone());
                if filter.matches(&event.event_type, &item_subject(item)) {
                    found.push(event);
                    if found.len() == wanted {
                        return Ok(merged_page(found, limit));
                    }
                }
            }
            if !more || items.is_empty() {
                return Ok(merged_page(found, limit));
            }
            if examined >= budget {
                return Ok(Page {
                    data: found,
                    next_cursor: cursor,
                });
            }
        }
    }

    /// Puts events stored before the feed's filters existed into their indexes
    /// (`coupon-book dynamodb reindex`), with the subject their data names. A scan of
    /// the event items, a page at a time; returns how many were indexed.
    pub async fn reindex_events(&self) -> Result<u64> {
        let mut added = 0;
        let mut start = None;
        loop {
            let (items, next) = self.scan_prefix_page("EVT#", start).await?;
            for item in items.iter().filter(|item| !item.contains_key("G4PK")) {
                let event = event_from_item(item)?;
                let pk = opt_s(item, "PK").unwrap_or_default();
                let Some(shard) = pk.strip_prefix("EVT#").and_then(|n| n.parse().ok()) else {
                    continue;
                };
                let subject = Subject::of(&event.event_type, &event.data);
                let mut expr = Expr::new();
                expr.cond_exists("id").cond_not_exists("G4PK");
                for (name, value) in index_keys(&event, shard, &subject) {
                    expr.set(&name, value);
                }
                if self
                    .update_returning(key(pk.clone(), event.id.clone()), expr)
                    .await?
                    .is_some()
                {
                    added += 1;
                }
            }
            match next {
                Some(key) => start = Some(key),
                None => return Ok(added),
            }
        }
    }
}
