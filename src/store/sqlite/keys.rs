//! API keys in the embedded store.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::apikey::{ApiKey, Scope};
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Idempotency, prelude::*};

use super::SqliteStore;
use super::writer::Db;
use super::writer::{from_json, to_json};

pub(super) fn api_key_row(row: &Row) -> rusqlite::Result<(i64, String, String, String, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

pub(super) fn finish_api_key(
    (seq, id, name, scopes, created_at): (i64, String, String, String, i64),
) -> Result<(i64, ApiKey)> {
    let scopes: Vec<Scope> = from_json(&scopes)?;
    Ok((
        seq,
        ApiKey {
            id,
            name,
            scopes,
            created_at: Timestamp(created_at),
        },
    ))
}

pub(super) fn insert_api_key(conn: &Connection, api_key: &ApiKey, key_hash: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO api_keys (id, name, scopes, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![
        api_key.id,
        api_key.name,
        to_json(&api_key.scopes)?,
        key_hash,
        api_key.created_at.0
    ])
    .db()?;
    Ok(())
}

pub(super) fn find_api_key_by_hash(conn: &Connection, key_hash: &str) -> Result<Option<ApiKey>> {
    let found = conn
        .prepare_cached(
            "SELECT seq, id, name, scopes, created_at FROM api_keys WHERE key_hash = ?1",
        )
        .db()?
        .query_row([key_hash], api_key_row)
        .optional()
        .db()?;
    found
        .map(|row| finish_api_key(row).map(|(_, key)| key))
        .transpose()
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
                .prepare_cached(
                    "SELECT seq, id, name, scopes, created_at FROM api_keys WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .db()?;
            let rows = stmt
                .query_map(params![page.after.unwrap_or(0), i64::from(page.limit) + 1], api_key_row)
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
                return Err(Error::new(
                    ErrorCode::ApiKeyNotFound,
                    format!("no API key with id {id:?}"),
                ));
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
}
