//! Redemptions in the embedded store: reversal and listing.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::coupon::{self, Redemption, RedemptionStatus};
use crate::domain::event;
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{RedemptionFilter, Write, prelude::*};

use super::SqliteStore;
use super::events::append_event;
use super::rows::{CouponChange, add_usage, load_book_by_seq, load_coupon, save_coupon};
use super::writer::Db;
use super::writer::from_json;

/// A redemption row: its position, the redemption, and its JSON columns still to read
/// (metadata, checkout), which `finish_redemption` turns into fields.
pub(super) type RedemptionRow = (i64, Redemption, Option<String>, Option<String>);

pub(super) fn redemption_row(row: &Row) -> rusqlite::Result<RedemptionRow> {
    let reversed_at: Option<i64> = row.get(6)?;
    let redemption = Redemption::stored(
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        Timestamp(row.get(5)?),
        reversed_at.map(Timestamp),
        None,
    );
    Ok((row.get(0)?, redemption, row.get(7)?, row.get(8)?))
}

pub(super) const REDEMPTION_COLUMNS: &str =
    "seq, id, code, book_id, user_id, redeemed_at, reversed_at, metadata, checkout";

pub(super) fn finish_redemption(
    (seq, mut redemption, metadata, checkout): RedemptionRow,
) -> Result<(i64, Redemption)> {
    if let Some(text) = metadata {
        redemption.metadata = Some(from_json(&text)?);
    }
    Ok((seq, redemption.with_checkout(checkout.as_deref())?))
}

pub(super) fn load_redemption(conn: &Connection, id: &str) -> Result<Redemption> {
    let sql = format!("SELECT {REDEMPTION_COLUMNS} FROM redemptions WHERE id = ?1");
    let found = conn
        .prepare_cached(&sql)
        .db()?
        .query_row([id], redemption_row)
        .optional()
        .db()?;
    match found {
        Some(row) => Ok(finish_redemption(row)?.1),
        None => Err(Error::new(
            ErrorCode::RedemptionNotFound,
            format!("no redemption with id {id:?}"),
        )),
    }
}

#[async_trait]
impl RedemptionStore for SqliteStore {
    async fn reverse(&self, redemption_id: &str, write: Write) -> Result<Redemption> {
        let redemption_id = redemption_id.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let mut redemption = load_redemption(conn, &redemption_id)?;
            let row = load_coupon(conn, &redemption.code)?;
            let after = coupon::plan_reverse(&redemption, &row.record)?;
            conn.prepare_cached("UPDATE redemptions SET reversed_at = ?2 WHERE id = ?1")
                .db()?
                .execute(params![redemption_id, now.0])
                .db()?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            save_coupon(
                conn,
                CouponChange {
                    book: &book,
                    before: &row.record,
                    after: &after,
                    assigned_seq: None,
                    redemptions: -1,
                },
            )?;
            add_usage(conn, row.book_seq, &redemption.user_id, 0, -1)?;
            redemption.status = RedemptionStatus::Reversed;
            redemption.reversed_at = Some(now);
            append_event(conn, &actor, event::REDEMPTION_REVERSED, &redemption, now)?;
            Ok(redemption)
        })
        .await
    }

    async fn get_redemption(&self, redemption_id: &str) -> Result<Redemption> {
        let redemption_id = redemption_id.to_string();
        self.read(move |conn, _| load_redemption(conn, &redemption_id))
            .await
    }

    async fn list_redemptions(
        &self,
        filter: RedemptionFilter,
        page: PageRequest,
    ) -> Result<Page<Redemption>> {
        self.read(move |conn, _| {
            let mut sql = format!("SELECT {REDEMPTION_COLUMNS} FROM redemptions WHERE seq > ?1");
            let mut values: Vec<SqlValue> = Vec::new();
            for (condition, value) in [
                ("book_id =", filter.book_id.map(SqlValue::Text)),
                ("user_id =", filter.user_id.map(SqlValue::Text)),
                ("code =", filter.code.map(SqlValue::Text)),
                (
                    "redeemed_at >=",
                    filter.redeemed.from.map(|t| SqlValue::Integer(t.0)),
                ),
                (
                    "redeemed_at <",
                    filter.redeemed.to.map(|t| SqlValue::Integer(t.0)),
                ),
            ] {
                if let Some(value) = value {
                    values.push(value);
                    sql.push_str(&format!(" AND {condition} ?{}", values.len() + 2));
                }
            }
            sql.push_str(" ORDER BY seq LIMIT ?2");
            let mut stmt = conn.prepare_cached(&sql).db()?;
            let after = page.after.unwrap_or(0);
            let fetch = i64::from(page.limit) + 1;
            let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&after, &fetch];
            bound.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
            let rows = stmt.query_map(bound.as_slice(), redemption_row).db()?;
            let items = rows
                .map(|row| row.db().and_then(finish_redemption))
                .collect::<Result<Vec<_>>>()?;
            Ok(page_of(items, page.limit))
        })
        .await
    }
}
