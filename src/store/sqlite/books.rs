//! Books in the embedded store.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use crate::domain::book::{Book, BookSettings, UpdateBook, check_deletable};
use crate::domain::event;
use crate::domain::ids::new_id;
use crate::domain::stats::{BookStats, Bucket, RedemptionBucket, TopUser};
use crate::domain::{Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Write, prelude::*};

use super::SqliteStore;
use super::events::append_event;
use super::rows::{BOOK_COLUMNS, book_row, book_view, load_book, load_book_view};
use super::writer::Db;
use super::writer::to_json;

#[async_trait]
impl BookStore for SqliteStore {
    async fn create_book(&self, settings: BookSettings, write: Write) -> Result<Book> {
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let id = new_id("book");
            conn.prepare_cached(
                "INSERT INTO books (id, settings, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            )
            .db()?
            .execute(params![id, to_json(&settings)?, now.0])
            .db()?;
            let book = load_book_view(conn, &id, now)?;
            append_event(conn, &actor, event::BOOK_CREATED, &book, now)?;
            Ok(book)
        })
        .await
    }

    async fn get_book(&self, book_id: &str) -> Result<Book> {
        let book_id = book_id.to_string();
        self.read(move |conn, now| load_book_view(conn, &book_id, now))
            .await
    }

    async fn list_books(&self, page: PageRequest) -> Result<Page<Book>> {
        self.read(move |conn, now| {
            let sql =
                format!("SELECT {BOOK_COLUMNS} FROM books WHERE seq > ?1 ORDER BY seq LIMIT ?2");
            let mut stmt = conn.prepare_cached(&sql).db()?;
            let rows = stmt
                .query_map(params![page.after.unwrap_or(0), page.limit + 1], book_row)
                .db()?;
            let mut items = Vec::new();
            for row in rows {
                let book = row.db()?;
                items.push((book.seq, book_view(conn, &book, now)?));
            }
            Ok(page_of(items, page.limit))
        })
        .await
    }

    async fn update_book(&self, book_id: &str, patch: UpdateBook, write: Write) -> Result<Book> {
        let book_id = book_id.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let book = load_book(conn, &book_id)?;
            let settings = patch.apply(&book.settings)?;
            conn.prepare_cached("UPDATE books SET settings = ?2, updated_at = ?3 WHERE seq = ?1")
                .db()?
                .execute(params![book.seq, to_json(&settings)?, now.0])
                .db()?;
            if settings.max_redemptions_per_coupon != book.settings.max_redemptions_per_coupon {
                recount_book(conn, book.seq, settings.max_redemptions_per_coupon)?;
            }
            let updated = load_book_view(conn, &book_id, now)?;
            append_event(conn, &actor, event::BOOK_UPDATED, &updated, now)?;
            Ok(updated)
        })
        .await
    }

    async fn delete_book(&self, book_id: &str, write: Write) -> Result<()> {
        let book_id = book_id.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let book = load_book(conn, &book_id)?;
            check_deletable(book.in_use)?;
            let view = book_view(conn, &book, now)?;
            for sql in [
                "DELETE FROM locks WHERE book_seq = ?1",
                "DELETE FROM coupons WHERE book_seq = ?1",
                "DELETE FROM user_usage WHERE book_seq = ?1",
                "DELETE FROM books WHERE seq = ?1",
            ] {
                conn.prepare_cached(sql).db()?.execute([book.seq]).db()?;
            }
            append_event(conn, &actor, event::BOOK_DELETED, &view, now)?;
            Ok(())
        })
        .await
    }

    async fn book_stats(&self, book_id: &str, bucket: Bucket) -> Result<BookStats> {
        let book_id = book_id.to_string();
        self.read(move |conn, now| {
            let book = load_book_view(conn, &book_id, now)?;
            let width = bucket.millis();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT start, SUM(redeemed), SUM(reversed) FROM (
                        SELECT (redeemed_at / ?2) * ?2 AS start, 1 AS redeemed, 0 AS reversed
                          FROM redemptions WHERE book_id = ?1
                        UNION ALL
                        SELECT (reversed_at / ?2) * ?2, 0, 1
                          FROM redemptions WHERE book_id = ?1 AND reversed_at IS NOT NULL)
                     GROUP BY start ORDER BY start DESC LIMIT 1000",
                )
                .db()?;
            let mut redemptions = stmt
                .query_map(params![book_id, width], |r| {
                    Ok(RedemptionBucket {
                        start: Timestamp(r.get(0)?),
                        redeemed: r.get::<_, i64>(1)? as u64,
                        reversed: r.get::<_, i64>(2)? as u64,
                    })
                })
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            redemptions.reverse();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT user_id, COUNT(*) AS n FROM redemptions
                     WHERE book_id = ?1 AND reversed_at IS NULL
                     GROUP BY user_id ORDER BY n DESC, user_id LIMIT 10",
                )
                .db()?;
            let top_users = stmt
                .query_map([&book_id], |r| {
                    Ok(TopUser {
                        user_id: r.get(0)?,
                        redemptions: r.get::<_, i64>(1)? as u64,
                    })
                })
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            Ok(BookStats {
                counts: book.counts,
                redemptions,
                top_users,
            })
        })
        .await
    }
}

/// Recomputes every coupon's base status and the book's counters, after the book's
/// per-coupon limit changed.
pub(super) fn recount_book(conn: &Connection, book_seq: i64, max: Option<u32>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE coupons SET state = CASE
            WHEN voided THEN 3
            WHEN ?2 IS NOT NULL AND redemption_count >= ?2 THEN 2
            WHEN assigned_to IS NOT NULL THEN 1
            ELSE 0 END
         WHERE book_seq = ?1",
    )
    .db()?
    .execute(params![book_seq, max])
    .db()?;
    let mut counts = [0i64; 4];
    let mut stmt = conn
        .prepare_cached("SELECT state, COUNT(*) FROM coupons WHERE book_seq = ?1 GROUP BY state")
        .db()?;
    let rows = stmt
        .query_map([book_seq], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .db()?;
    for row in rows {
        let (state, n) = row.db()?;
        if let Some(slot) = counts.get_mut(state as usize) {
            *slot = n;
        }
    }
    conn.prepare_cached(
        "UPDATE books SET n_available = ?2, n_assigned = ?3, n_redeemed = ?4, n_voided = ?5 WHERE seq = ?1",
    )
    .db()?
    .execute(params![book_seq, counts[0], counts[1], counts[2], counts[3]])
    .db()?;
    Ok(())
}
