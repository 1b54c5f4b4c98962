//! The event feed of the embedded store, and the lock-expiry sweep.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params, params_from_iter};
use serde::Serialize;

use crate::domain::event::{self, Actor, Event, EventFilter, FilterKey, Subject};
use crate::domain::{Error, Page, Result, Timestamp, page_of};
use crate::store::prelude::*;

use super::SqliteStore;
use super::rows::{coupon_view, find_coupon, load_book_by_seq, lock_row};
use super::writer::Db;
use super::writer::{from_json, to_json};

/// Appends an event by `by`, with the subject its data names (see `Subject::of`).
pub(super) fn append_event<T: Serialize>(
    conn: &Connection,
    by: &Actor,
    event_type: &str,
    data: &T,
    now: Timestamp,
) -> Result<()> {
    append_user_event(conn, by, event_type, data, None, now)
}

/// Appends an event about `user` when its data does not name them (a lock's holder,
/// the user a coupon was taken from).
pub(super) fn append_user_event<T: Serialize>(
    conn: &Connection,
    by: &Actor,
    event_type: &str,
    data: &T,
    user: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    let data =
        serde_json::to_value(data).map_err(|e| Error::internal(format!("encode an event: {e}")))?;
    let subject = Subject::of(event_type, &data).for_user(user);
    conn.prepare_cached(
        "INSERT INTO events (type, created_at, data, actor, book_id, code, user_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .db()?
    .execute(params![
        event_type,
        now.0,
        data.to_string(),
        to_json(by)?,
        subject.book_id,
        subject.code,
        subject.user_id
    ])
    .db()?;
    Ok(())
}

const EVENT_COLUMNS: &str = "seq, type, created_at, data, actor";

fn event_row(row: &Row) -> rusqlite::Result<(i64, String, i64, String, Option<String>)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

/// Reads the events a query selects (`EVENT_COLUMNS`, in order) into a page.
fn event_page(
    conn: &Connection,
    sql: &str,
    values: Vec<SqlValue>,
    limit: u32,
) -> Result<Page<Event>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt.query_map(params_from_iter(values), event_row).db()?;
    let mut items = Vec::new();
    for row in rows {
        let (seq, event_type, created_at, data, actor) = row.db()?;
        let actor = match actor {
            Some(actor) => from_json(&actor)?,
            None => Actor::unrecorded(),
        };
        items.push((
            seq,
            Event {
                id: event_id(seq),
                event_type,
                created_at: Timestamp(created_at),
                actor,
                data: from_json(&data)?,
            },
        ));
    }
    let mut page = page_of(items, limit);
    page.next_cursor = page
        .next_cursor
        .and_then(|_| page.data.last().map(|e| e.id.clone()));
    Ok(page)
}

/// The query of a filtered read: one index range (the key's), the other filters
/// checked on the rows of that range.
fn filtered_query(
    filter: &EventFilter,
    key: FilterKey,
    after: i64,
    fetch: i64,
) -> (String, Vec<SqlValue>) {
    let text = |v: &str| SqlValue::Text(v.to_string());
    let (index, column, value) = match key {
        FilterKey::Types(types) => return types_query(types, after, fetch),
        FilterKey::Code(code) => ("events_code", "code", code),
        FilterKey::User(user) => ("events_user", "user_id", user),
        FilterKey::Book(book) => ("events_book", "book_id", book),
    };
    let mut values = vec![text(value), SqlValue::Integer(after)];
    let mut sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events INDEXED BY {index} WHERE {column} = ?1 AND seq > ?2"
    );
    for (other, wanted) in [
        ("book_id", &filter.book_id),
        ("code", &filter.code),
        ("user_id", &filter.user_id),
    ] {
        if let Some(wanted) = wanted
            && other != column
        {
            values.push(text(wanted));
            sql.push_str(&format!(" AND {other} = ?{}", values.len()));
        }
    }
    if !filter.types.is_empty() {
        let first = values.len() + 1;
        values.extend(filter.types.iter().map(|t| text(t)));
        let marks: Vec<String> = (first..=values.len()).map(|n| format!("?{n}")).collect();
        sql.push_str(&format!(" AND type IN ({})", marks.join(", ")));
    }
    values.push(SqlValue::Integer(fetch));
    sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", values.len()));
    (sql, values)
}

/// The types alone: one index range per type, each cut at the page size, merged.
fn types_query(types: &[String], after: i64, fetch: i64) -> (String, Vec<SqlValue>) {
    let (after_at, fetch_at) = (types.len() + 1, types.len() + 2);
    let parts: Vec<String> = (1..=types.len())
        .map(|n| {
            format!(
                "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events INDEXED BY events_type
                 WHERE type = ?{n} AND seq > ?{after_at} ORDER BY seq LIMIT ?{fetch_at})"
            )
        })
        .collect();
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM ({}) ORDER BY seq LIMIT ?{fetch_at}",
        parts.join(" UNION ALL ")
    );
    let mut values: Vec<SqlValue> = types.iter().map(|t| SqlValue::Text(t.clone())).collect();
    values.push(SqlValue::Integer(after));
    values.push(SqlValue::Integer(fetch));
    (sql, values)
}

fn parse_after(after: Option<&str>) -> Result<i64> {
    match after {
        None | Some("") => Ok(0),
        Some(id) => parse_event_id(id).ok_or_else(|| Error::invalid("after", "unknown event id")),
    }
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
        let after = parse_after(after)?;
        self.read(move |conn, _| {
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
            let values = vec![
                SqlValue::Integer(after),
                SqlValue::Integer(i64::from(limit) + 1),
            ];
            event_page(conn, &sql, values, limit)
        })
        .await
    }

    async fn find_events(
        &self,
        filter: &EventFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Event>> {
        if filter.key().is_none() {
            return self.list_events(after, limit).await;
        }
        let after = parse_after(after)?;
        let filter = filter.clone();
        self.read(move |conn, _| {
            let Some(key) = filter.key() else {
                return Ok(Page {
                    data: Vec::new(),
                    next_cursor: None,
                });
            };
            let (sql, values) = filtered_query(&filter, key, after, i64::from(limit) + 1);
            event_page(conn, &sql, values, limit)
        })
        .await
    }

    async fn expire_locks(&self) -> Result<u64> {
        let by = Actor::system(event::LOCK_EXPIRY);
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
                    let holder = Some(lock.user_id.as_str());
                    append_user_event(conn, &by, event::COUPON_LOCK_EXPIRED, &view, holder, now)?;
                }
            }
            Ok(expired.len() as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::sqlite::schema::{MIGRATIONS, migrate};

    /// Every filter key's query walks an index range, never the events table.
    #[test]
    fn every_filter_reads_an_index() {
        let conn = Connection::open_in_memory().expect("open");
        migrate(&conn).expect("migrate");
        let types = vec!["coupon.redeemed".to_string(), "coupon.locked".to_string()];
        let all = EventFilter {
            types: types.clone(),
            book_id: Some("book_1".into()),
            code: Some("C-1".into()),
            user_id: Some("ann".into()),
        };
        let keys = [
            FilterKey::Code("C-1"),
            FilterKey::User("ann"),
            FilterKey::Book("book_1"),
            FilterKey::Types(&types),
        ];
        for key in keys {
            let (sql, values) = filtered_query(&all, key, 0, 101);
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("the query plans");
            let plan: Vec<String> = stmt
                .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
                .expect("plan")
                .collect::<rusqlite::Result<_>>()
                .expect("rows");
            assert!(
                plan.iter().any(|step| step.contains("USING INDEX events_")),
                "{key:?}: {plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN events")),
                "{key:?} scans the table: {plan:?}"
            );
        }
    }

    /// Events stored before actors and subjects were recorded get their subject from
    /// their data when the store is upgraded, and read as `Actor::unrecorded`.
    #[tokio::test]
    async fn older_events_are_filtered_by_their_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).expect("open");
            let before_audit = MIGRATIONS
                .iter()
                .position(|sql| sql.contains("ALTER TABLE events ADD COLUMN actor"))
                .expect("the audit migration");
            for (index, sql) in MIGRATIONS.iter().enumerate().take(before_audit) {
                conn.execute_batch(&format!(
                    "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                    index + 1
                ))
                .expect("older schema");
            }
            let redeemed =
                json!({"id": "red_1", "code": "OLD-1", "book_id": "book_old", "user_id": "ann"});
            let created = json!({"id": "book_old", "name": "old"});
            for (event_type, data) in [("book.created", created), ("coupon.redeemed", redeemed)] {
                conn.execute(
                    "INSERT INTO events (type, created_at, data) VALUES (?1, 0, ?2)",
                    params![event_type, data.to_string()],
                )
                .expect("old event");
            }
        }
        let store = SqliteStore::open(&path).expect("upgrade");
        let by_user = EventFilter::new(&[], None, None, Some("ann".into())).expect("filter");
        let found = store.find_events(&by_user, None, 10).await.expect("events");
        assert_eq!(found.data.len(), 1);
        assert_eq!(found.data[0].event_type, "coupon.redeemed");
        assert_eq!(found.data[0].actor, Actor::unrecorded());
        let by_book = EventFilter::new(&[], Some("book_old".into()), None, None).expect("filter");
        let found = store.find_events(&by_book, None, 10).await.expect("events");
        let types: Vec<&str> = found.data.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["book.created", "coupon.redeemed"]);
    }
}
