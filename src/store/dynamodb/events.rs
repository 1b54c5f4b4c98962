//! The event feed of the DynamoDB table, and the lock-expiry sweep.

use async_trait::async_trait;

use crate::domain::coupon::Lock;
use crate::domain::event::{self, Event};
use crate::domain::{Error, Page, Result, Timestamp};
use crate::store::prelude::*;

use super::DynamoStore;
use super::attr::Item;
use super::client::Tx;
use super::outbox::{EVENT_SHARDS, event_from_item, event_id_floor, parse_event_id};
use super::state::{BookState, CouponState, coupon_key};

#[async_trait]
impl EventStore for DynamoStore {
    async fn list_events(&self, after: Option<&str>, limit: u32) -> Result<Page<Event>> {
        let after = match after {
            None | Some("") => None,
            Some(id) => Some(
                parse_event_id(id).ok_or_else(|| Error::invalid("after", "unknown event id"))?,
            ),
        };
        // The partitions are read one after another, not at one instant: an event
        // committed to a partition already read while a later one is being read would
        // sit behind newer events seen there, and a reader whose cursor moves to the
        // newest event would pass over it. A coupon's event is made only after its
        // previous one committed, so listing just the events made before this read
        // began keeps every coupon's events whole and in order; newer ones come next time.
        // Event ids carry the system time, whatever clock decisions use.
        let read_began = event_id_floor(Timestamp::now());
        let mut merged: Vec<Item> = Vec::new();
        for shard in 0..EVENT_SHARDS {
            let (items, _) = self
                .query_page(None, &format!("EVT#{shard}"), after, limit as i32 + 1)
                .await?;
            merged.extend(items);
        }
        let mut events = Vec::with_capacity(merged.len());
        for item in &merged {
            let event = event_from_item(item)?;
            if event.id < read_began {
                events.push(event);
            }
        }
        events.sort_by(|a, b| a.id.cmp(&b.id));
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_cursor = if more {
            events.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(Page {
            data: events,
            next_cursor,
        })
    }

    async fn expire_locks(&self) -> Result<u64> {
        let now = self.clock.now();
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
                for _ in &expired {
                    items.push(self.event_put(event::COUPON_LOCK_EXPIRED, &view, now)?);
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
