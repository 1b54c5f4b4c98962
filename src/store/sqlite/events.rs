//! The event feed of the embedded store, and the lock-expiry sweep.

use async_trait::async_trait;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::domain::event::{self, Event};
use crate::domain::{Error, Page, Result, Timestamp, page_of};
use crate::store::prelude::*;

use super::SqliteStore;
use super::rows::{coupon_view, find_coupon, load_book_by_seq, lock_row};
use super::writer::Db;
use super::writer::{from_json, to_json};

pub(super) fn append_event<T: Serialize>(
    conn: &Connection,
    event_type: &str,
    data: &T,
    now: Timestamp,
) -> Result<()> {
    conn.prepare_cached("INSERT INTO events (type, created_at, data) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![event_type, now.0, to_json(data)?])
        .db()?;
    Ok(())
}

pub(super) fn event_id(seq: i64) -> String {
    format!("evt_{seq:015}")
}

pub(super) fn parse_event_id(id: &str) -> Option<i64> {
    id.strip_prefix("evt_")?
        .parse()
        .ok()
        .filter(|n: &i64| *n >= 0)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn list_events(&self, after: Option<&str>, limit: u32) -> Result<Page<Event>> {
        let after = match after {
            None | Some("") => 0,
            Some(id) => {
                parse_event_id(id).ok_or_else(|| Error::invalid("after", "unknown event id"))?
            }
        };
        self.read(move |conn, _| {
            let mut stmt = conn
                .prepare_cached("SELECT seq, type, created_at, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .db()?;
            let rows = stmt
                .query_map(params![after, i64::from(limit) + 1], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
                })
                .db()?;
            let mut items = Vec::new();
            for row in rows {
                let (seq, event_type, created_at, data) = row.db()?;
                items.push((
                    seq,
                    Event {
                        id: event_id(seq),
                        event_type,
                        created_at: Timestamp(created_at),
                        data: from_json(&data)?,
                    },
                ));
            }
            let mut page = page_of(items, limit);
            page.next_cursor = page.next_cursor.and_then(|_| page.data.last().map(|e| e.id.clone()));
            Ok(page)
        })
        .await
    }

    async fn expire_locks(&self) -> Result<u64> {
        self.write(None, move |conn, now| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, code, user_id, expires_at FROM locks WHERE expires_at <= ?1
                     ORDER BY expires_at LIMIT 1000",
                )
                .db()?;
            let expired = stmt
                .query_map([now.0], lock_row)
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            for lock in &expired {
                conn.prepare_cached("DELETE FROM locks WHERE id = ?1")
                    .db()?
                    .execute([&lock.lock_id])
                    .db()?;
                if let Some(row) = find_coupon(conn, &lock.code)? {
                    let book = load_book_by_seq(conn, row.book_seq)?;
                    let view = coupon_view(
                        conn,
                        &row.record,
                        book.settings.max_redemptions_per_coupon,
                        now,
                    )?;
                    append_event(conn, event::COUPON_LOCK_EXPIRED, &view, now)?;
                }
            }
            Ok(expired.len() as u64)
        })
        .await
    }
}
