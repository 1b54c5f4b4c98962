//! Rows shared by several resources: books, coupons, locks, user usage, and the
//! change of a coupon with its book's counters.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::book::{Book, BookSettings, Counts};
use crate::domain::coupon::{BaseStatus, Coupon, CouponDetails, CouponRecord, Lock, UserUsage};
use crate::domain::tally::{Tally, TallyDelta};
use crate::domain::{Error, Page, PageRequest, Result, Timestamp, page_of};

use super::writer::Db;

pub(super) struct BookRow {
    pub(super) seq: i64,
    pub(super) id: String,
    pub(super) settings: BookSettings,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
    pub(super) in_use: bool,
    /// total, available, assigned, redeemed, voided (locks not considered).
    pub(super) base_counts: [i64; 5],
    pub(super) redemptions: i64,
}

impl BookRow {
    /// The counters kept on write, in the domain's terms.
    pub(super) fn tally(&self) -> Tally {
        let [total, available, assigned, redeemed, voided] = self.base_counts;
        Tally {
            total,
            available,
            assigned,
            redeemed,
            voided,
            redemptions: self.redemptions,
        }
    }
}

pub(super) const BOOK_COLUMNS: &str = "seq, id, settings, created_at, updated_at, in_use, n_total, \
    n_available, n_assigned, n_redeemed, n_voided, redemptions";

pub(super) fn book_row(row: &Row) -> rusqlite::Result<BookRow> {
    let settings: String = row.get(2)?;
    let settings = serde_json::from_str(&settings).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(BookRow {
        seq: row.get(0)?,
        id: row.get(1)?,
        settings,
        created_at: Timestamp(row.get(3)?),
        updated_at: Timestamp(row.get(4)?),
        in_use: row.get(5)?,
        base_counts: [
            row.get(6)?,
            row.get(7)?,
            row.get(8)?,
            row.get(9)?,
            row.get(10)?,
        ],
        redemptions: row.get(11)?,
    })
}

pub(super) fn query_book(
    conn: &Connection,
    column: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<BookRow>> {
    let sql = format!("SELECT {BOOK_COLUMNS} FROM books WHERE {column} = ?1");
    conn.prepare_cached(&sql)
        .db()?
        .query_row([key], book_row)
        .optional()
        .db()
}

pub(super) fn load_book(conn: &Connection, book_id: &str) -> Result<BookRow> {
    query_book(conn, "id", &book_id)?.ok_or_else(|| Error::book_not_found(book_id))
}

pub(super) fn load_book_by_seq(conn: &Connection, seq: i64) -> Result<BookRow> {
    query_book(conn, "seq", &seq)?.ok_or_else(|| Error::internal("coupon without book"))
}

/// The book as the API shows it: base counts corrected for coupons that live locks
/// fully reserve.
pub(super) fn book_view(conn: &Connection, book: &BookRow, now: Timestamp) -> Result<Book> {
    let [total, available, assigned, redeemed, voided] = book.base_counts;
    let mut counts = Counts {
        total: total as u64,
        available: available as u64,
        assigned: assigned as u64,
        locked: 0,
        redeemed: redeemed as u64,
        voided: voided as u64,
    };
    if let Some(max) = book.settings.max_redemptions_per_coupon {
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.state, c.redemption_count, COUNT(*) FROM locks l
                 JOIN coupons c ON c.code = l.code
                 WHERE l.book_seq = ?1 AND l.expires_at > ?2 GROUP BY l.code",
            )
            .db()?;
        let rows = stmt
            .query_map(params![book.seq, now.0], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .db()?;
        for row in rows {
            let (state, used, reserved) = row.db()?;
            if used + reserved < i64::from(max) {
                continue;
            }
            match BaseStatus::from_index(state) {
                BaseStatus::Available => counts.available = counts.available.saturating_sub(1),
                BaseStatus::Assigned => counts.assigned = counts.assigned.saturating_sub(1),
                _ => continue,
            }
            counts.locked += 1;
        }
    }
    Ok(Book {
        id: book.id.clone(),
        settings: book.settings.clone(),
        created_at: book.created_at,
        updated_at: book.updated_at,
        counts,
    })
}

pub(super) fn load_book_view(conn: &Connection, book_id: &str, now: Timestamp) -> Result<Book> {
    let book = load_book(conn, book_id)?;
    book_view(conn, &book, now)
}

pub(super) struct CouponRow {
    pub(super) book_seq: i64,
    pub(super) record: CouponRecord,
}

pub(super) const COUPON_COLUMNS: &str = "c.book_seq, c.code, b.id, c.assigned_to, c.redemption_count, \
    c.voided, c.created_at, c.details";

pub(super) fn coupon_row(row: &Row) -> rusqlite::Result<(i64, CouponRow)> {
    let details: Option<String> = row.get(7)?;
    let details = CouponDetails::from_stored(details.as_deref()).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok((
        row.get(8)?,
        CouponRow {
            book_seq: row.get(0)?,
            record: CouponRecord {
                code: row.get(1)?,
                book_id: row.get(2)?,
                assigned_to: row.get(3)?,
                redemption_count: row.get::<_, i64>(4)? as u64,
                voided: row.get(5)?,
                created_at: Timestamp(row.get(6)?),
                details,
            },
        },
    ))
}

pub(super) fn find_coupon(conn: &Connection, code: &str) -> Result<Option<CouponRow>> {
    let sql = format!(
        "SELECT {COUPON_COLUMNS}, c.seq FROM coupons c JOIN books b ON b.seq = c.book_seq
         WHERE c.code = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)
        .db()?
        .query_row([code], coupon_row)
        .optional()
        .db()?
        .map(|(_, row)| row))
}

pub(super) fn load_coupon(conn: &Connection, code: &str) -> Result<CouponRow> {
    find_coupon(conn, code)?.ok_or_else(|| Error::coupon_not_found(code))
}

pub(super) fn live_locks(conn: &Connection, code: &str, now: Timestamp) -> Result<Vec<Lock>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, code, user_id, expires_at FROM locks
             WHERE code = ?1 AND expires_at > ?2 ORDER BY expires_at",
        )
        .db()?;
    let rows = stmt.query_map(params![code, now.0], lock_row).db()?;
    rows.map(|r| r.db()).collect()
}

pub(super) fn lock_row(row: &Row) -> rusqlite::Result<Lock> {
    Ok(Lock {
        lock_id: row.get(0)?,
        code: row.get(1)?,
        user_id: row.get(2)?,
        expires_at: Timestamp(row.get(3)?),
        discount: None,
    })
}

pub(super) fn find_lock(conn: &Connection, lock_id: &str) -> Result<Option<Lock>> {
    conn.prepare_cached("SELECT id, code, user_id, expires_at FROM locks WHERE id = ?1")
        .db()?
        .query_row([lock_id], lock_row)
        .optional()
        .db()
}

pub(super) fn coupon_view(
    conn: &Connection,
    record: &CouponRecord,
    max: Option<u32>,
    now: Timestamp,
) -> Result<Coupon> {
    let locks = live_locks(conn, &record.code, now)?;
    Ok(record.view(max, &locks))
}

pub(super) fn usage(conn: &Connection, book_seq: i64, user_id: &str) -> Result<UserUsage> {
    Ok(conn
        .prepare_cached(
            "SELECT assigned, redeemed FROM user_usage WHERE book_seq = ?1 AND user_id = ?2",
        )
        .db()?
        .query_row(params![book_seq, user_id], |r| {
            Ok(UserUsage {
                assigned: r.get::<_, i64>(0)? as u64,
                redeemed: r.get::<_, i64>(1)? as u64,
            })
        })
        .optional()
        .db()?
        .unwrap_or_default())
}

pub(super) fn add_usage(
    conn: &Connection,
    book_seq: i64,
    user_id: &str,
    assigned: i64,
    redeemed: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO user_usage (book_seq, user_id, assigned, redeemed) VALUES (?1, ?2, MAX(?3, 0), MAX(?4, 0))
         ON CONFLICT (book_seq, user_id) DO UPDATE SET
           assigned = MAX(assigned + ?3, 0), redeemed = MAX(redeemed + ?4, 0)",
    )
    .db()?
    .execute(params![book_seq, user_id, assigned, redeemed])
    .db()?;
    Ok(())
}

/// A coupon's change, and what it does to its book.
pub(super) struct CouponChange<'a> {
    pub(super) book: &'a BookRow,
    pub(super) before: &'a CouponRecord,
    pub(super) after: &'a CouponRecord,
    /// Set when the coupon is newly assigned.
    pub(super) assigned_seq: Option<i64>,
    /// Net redemptions the change adds to the book (+1 redeem, -1 reverse).
    pub(super) redemptions: i64,
}

/// Writes a changed coupon and moves its book's counters as the domain's tally
/// delta says; returns the counters after the change.
pub(super) fn save_coupon(conn: &Connection, change: CouponChange) -> Result<Tally> {
    let max = change.book.settings.max_redemptions_per_coupon;
    let old_state = change.before.base_status(max);
    let new_state = change.after.base_status(max);
    conn.prepare_cached(
        "UPDATE coupons SET state = ?2, assigned_to = ?3,
            assigned_seq = CASE WHEN ?3 IS NULL THEN NULL ELSE COALESCE(?4, assigned_seq) END,
            redemption_count = ?5, voided = ?6
         WHERE code = ?1",
    )
    .db()?
    .execute(params![
        change.after.code,
        new_state as i64,
        change.after.assigned_to,
        change.assigned_seq,
        change.after.redemption_count as i64,
        change.after.voided
    ])
    .db()?;
    let mut delta = TallyDelta::new(old_state, new_state, change.redemptions);
    if change.assigned_seq.is_some() || change.redemptions > 0 {
        delta = delta.marking_in_use();
    }
    move_tally(conn, change.book.seq, &delta)?;
    Ok(delta.apply(&change.book.tally()))
}

/// Moves a book's counters as the domain's tally delta says.
pub(super) fn move_tally(conn: &Connection, book_seq: i64, delta: &TallyDelta) -> Result<()> {
    if delta.is_empty() {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE books SET n_total = n_total + ?2, n_available = n_available + ?3,
            n_assigned = n_assigned + ?4, n_redeemed = n_redeemed + ?5,
            n_voided = n_voided + ?6, redemptions = MAX(redemptions + ?7, 0),
            in_use = MAX(in_use, ?8)
         WHERE seq = ?1",
    )
    .db()?
    .execute(params![
        book_seq,
        delta.total,
        delta.available,
        delta.assigned,
        delta.redeemed,
        delta.voided,
        delta.redemptions,
        delta.marks_in_use
    ])
    .db()?;
    Ok(())
}

/// Lists coupons of one query shape: `sql` selects COUPON_COLUMNS plus a position
/// column and takes the page's position as its first parameter.
pub(super) fn coupon_page(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    page: PageRequest,
    max_of: &dyn Fn(i64) -> Result<Option<u32>>,
    keep: &dyn Fn(&Coupon) -> bool,
    now: Timestamp,
) -> Result<Page<Coupon>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt.query_map(params, coupon_row).db()?;
    let mut items = Vec::new();
    for row in rows {
        let (position, row) = row.db()?;
        let coupon = coupon_view(conn, &row.record, max_of(row.book_seq)?, now)?;
        if keep(&coupon) {
            items.push((position, coupon));
            if items.len() > page.limit as usize {
                break;
            }
        }
    }
    Ok(page_of(items, page.limit))
}
