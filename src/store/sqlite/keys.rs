//! API keys in the embedded store.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::apikey::{ApiKey, LAST_USED_RESOLUTION_MS, Scope, UpdateApiKey};
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Idempotency, prelude::*};

use super::SqliteStore;
use super::writer::Db;
use super::writer::{from_json, to_json};

/// The columns `api_key_row` reads, in its order.
const COLUMNS: &str =
    "seq, id, name, scopes, created_at, book_ids, expires_at, last_used_at, disabled";

/// A key row as read, before its JSON columns are decoded.
pub(super) struct KeyRow {
    seq: i64,
    id: String,
    name: String,
    scopes: String,
    created_at: i64,
    book_ids: Option<String>,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    disabled: bool,
}

pub(super) fn api_key_row(row: &Row) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        seq: row.get(0)?,
        id: row.get(1)?,
        name: row.get(2)?,
        scopes: row.get(3)?,
        created_at: row.get(4)?,
        book_ids: row.get(5)?,
        expires_at: row.get(6)?,
        last_used_at: row.get(7)?,
        disabled: row.get::<_, i64>(8)? != 0,
    })
}

pub(super) fn finish_api_key(row: KeyRow) -> Result<(i64, ApiKey)> {
    let scopes: Vec<Scope> = from_json(&row.scopes)?;
    let book_ids: Option<Vec<String>> = row.book_ids.as_deref().map(from_json).transpose()?;
    Ok((
        row.seq,
        ApiKey {
            id: row.id,
            name: row.name,
            scopes,
            created_at: Timestamp(row.created_at),
            book_ids,
            expires_at: row.expires_at.map(Timestamp),
            last_used_at: row.last_used_at.map(Timestamp),
            disabled: row.disabled,
        },
    ))
}

pub(super) fn insert_api_key(conn: &Connection, api_key: &ApiKey, key_hash: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO api_keys (id, name, scopes, key_hash, created_at, book_ids, expires_at, \
         last_used_at, disabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .db()?
    .execute(params![
        api_key.id,
        api_key.name,
        to_json(&api_key.scopes)?,
        key_hash,
        api_key.created_at.0,
        api_key.book_ids.as_ref().map(to_json).transpose()?,
        api_key.expires_at.map(|t| t.0),
        api_key.last_used_at.map(|t| t.0),
        api_key.disabled,
    ])
    .db()?;
    Ok(())
}

fn find_one(conn: &Connection, column: &str, value: &str) -> Result<Option<ApiKey>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE {column} = ?1"
        ))
        .db()?
        .query_row([value], api_key_row)
        .optional()
        .db()?;
    found
        .map(|row| finish_api_key(row).map(|(_, key)| key))
        .transpose()
}

pub(super) fn find_api_key_by_hash(conn: &Connection, key_hash: &str) -> Result<Option<ApiKey>> {
    find_one(conn, "key_hash", key_hash)
}

fn not_found(id: &str) -> Error {
    Error::new(
        ErrorCode::ApiKeyNotFound,
        format!("no API key with id {id:?}"),
    )
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_api_key(
        &self,
        api_key: ApiKey,
        key_hash: String,
        idem: Option<Idempotency>,
    ) -> Result<ApiKey> {
        self.write(idem, move |conn, _| {
            insert_api_key(conn, &api_key, &key_hash)?;
            Ok(api_key)
        })
        .await
    }

    async fn ensure_api_key(&self, api_key: ApiKey, key_hash: String) -> Result<ApiKey> {
        self.write(None, move |conn, _| {
            if let Some(existing) = find_api_key_by_hash(conn, &key_hash)? {
                return Ok(existing);
            }
            insert_api_key(conn, &api_key, &key_hash)?;
            Ok(api_key)
        })
        .await
    }

    async fn list_api_keys(&self, page: PageRequest) -> Result<Page<ApiKey>> {
        self.read(move |conn, _| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                ))
                .db()?;
            let rows = stmt
                .query_map(
                    params![page.after.unwrap_or(0), i64::from(page.limit) + 1],
                    api_key_row,
                )
                .db()?;
            let items = rows
                .map(|row| row.db().and_then(finish_api_key))
                .collect::<Result<Vec<_>>>()?;
            Ok(page_of(items, page.limit))
        })
        .await
    }

    async fn delete_api_key(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(None, move |conn, _| {
            let deleted = conn
                .prepare_cached("DELETE FROM api_keys WHERE id = ?1")
                .db()?
                .execute([&id])
                .db()?;
            if deleted == 0 {
                return Err(not_found(&id));
            }
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let key_hash = key_hash.to_string();
        self.read(move |conn, _| find_api_key_by_hash(conn, &key_hash))
            .await
    }

    async fn update_api_key(&self, id: &str, update: UpdateApiKey) -> Result<ApiKey> {
        let id = id.to_string();
        self.write(None, move |conn, _| {
            let mut key = find_one(conn, "id", &id)?.ok_or_else(|| not_found(&id))?;
            update.apply(&mut key);
            conn.prepare_cached("UPDATE api_keys SET name = ?2, disabled = ?3 WHERE id = ?1")
                .db()?
                .execute(params![id, key.name, key.disabled])
                .db()?;
            Ok(key)
        })
        .await
    }

    async fn record_key_uses(&self, uses: Vec<(String, Timestamp)>) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        self.write(None, move |conn, _| {
            let mut stmt = conn
                .prepare_cached(
                    "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 \
                     AND (last_used_at IS NULL OR last_used_at <= ?2 - ?3)",
                )
                .db()?;
            for (id, at) in &uses {
                stmt.execute(params![id, at.0, LAST_USED_RESOLUTION_MS])
                    .db()?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::schema::MIGRATIONS;

    /// Keys stored before keys had limits keep every book, never expire and stay
    /// enabled when the store is upgraded.
    #[tokio::test]
    async fn older_keys_keep_every_book() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).expect("open");
            let before_limits = MIGRATIONS
                .iter()
                .position(|sql| sql.contains("ALTER TABLE api_keys ADD COLUMN book_ids"))
                .expect("the key limits migration");
            for (index, sql) in MIGRATIONS.iter().enumerate().take(before_limits) {
                conn.execute_batch(&format!(
                    "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
                    index + 1
                ))
                .expect("older schema");
            }
            conn.execute(
                "INSERT INTO api_keys (id, name, scopes, key_hash, created_at) \
                 VALUES ('key_old', 'old', '[\"admin\"]', 'hash-old', 0)",
                [],
            )
            .expect("old key");
        }
        let store = SqliteStore::open(&path).expect("upgrade");
        let key = store
            .find_api_key("hash-old")
            .await
            .expect("find")
            .expect("found");
        assert_eq!(
            key,
            ApiKey::new(
                "key_old".into(),
                "old".into(),
                vec![Scope::Admin],
                Timestamp(0)
            )
        );
        assert!(!key.book_access().is_limited());
        assert_eq!(key.refusal(Timestamp::now()), None);
    }
}
