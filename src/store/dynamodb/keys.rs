//! API keys in the DynamoDB table.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::apikey::{ApiKey, LAST_USED_RESOLUTION_MS, Scope, UpdateApiKey};
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Idempotency, prelude::*};

use super::DynamoStore;
use super::attr::{Item, from_json, get_bool, get_n, get_s, key, n, opt_n, opt_s, pad, s, to_json};
use super::expr::{Expr, put_new};

pub(super) fn parse_api_key(item: &Item) -> Result<ApiKey> {
    let scopes: Vec<Scope> = from_json(&get_s(item, "scopes")?)?;
    let book_ids: Option<Vec<String>> = opt_s(item, "book_ids")
        .as_deref()
        .map(from_json)
        .transpose()?;
    Ok(ApiKey {
        id: get_s(item, "id")?,
        name: get_s(item, "name")?,
        scopes,
        created_at: Timestamp(get_n(item, "created_at")?),
        book_ids,
        expires_at: opt_n(item, "expires_at").map(Timestamp),
        last_used_at: opt_n(item, "last_used_at").map(Timestamp),
        disabled: get_bool(item, "disabled"),
    })
}

fn not_found(id: &str) -> Error {
    Error::new(
        ErrorCode::ApiKeyNotFound,
        format!("no API key with id {id:?}"),
    )
}

#[async_trait]
impl KeyStore for DynamoStore {
    async fn create_api_key(
        &self,
        api_key: ApiKey,
        key_hash: String,
        idem: Option<Idempotency>,
    ) -> Result<ApiKey> {
        self.run(idem.as_ref(), |_| {
            let api_key = api_key.clone();
            let key_hash = key_hash.clone();
            async move {
                if self.find_api_key(&key_hash).await?.is_some() {
                    return Err(Error::internal("an API key with this hash exists"));
                }
                let items = self.api_key_items(&api_key, &key_hash).await?;
                Ok((api_key, items))
            }
        })
        .await
    }

    async fn ensure_api_key(&self, api_key: ApiKey, key_hash: String) -> Result<ApiKey> {
        self.run(None, |_| {
            let api_key = api_key.clone();
            let key_hash = key_hash.clone();
            async move {
                if let Some(existing) = self.find_api_key(&key_hash).await? {
                    return Ok((existing, Vec::new()));
                }
                let items = self.api_key_items(&api_key, &key_hash).await?;
                Ok((api_key, items))
            }
        })
        .await
    }

    async fn list_api_keys(&self, page: PageRequest) -> Result<Page<ApiKey>> {
        let after = page.after.map(pad);
        let (items, _) = self
            .query_page(
                Some("GSI1"),
                "KEYS",
                after.as_deref(),
                page.limit as i32 + 1,
            )
            .await?;
        let keys = items
            .iter()
            .map(|item| Ok((get_n(item, "seq")?, parse_api_key(item)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(keys, page.limit))
    }

    async fn delete_api_key(&self, id: &str) -> Result<()> {
        self.run(None, |_| async move {
            let item = self
                .get(key(format!("KEY#{id}"), "KEY"))
                .await?
                .ok_or_else(|| not_found(id))?;
            let hash = get_s(&item, "hash")?;
            let mut by_id = Expr::new();
            by_id.cond_exists("PK");
            let items = vec![
                by_id.into_delete(&self.table, key(format!("KEY#{id}"), "KEY"))?,
                Expr::new().into_delete(&self.table, key(format!("KEYHASH#{hash}"), "KEYHASH"))?,
            ];
            Ok(((), items))
        })
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        match self
            .get(key(format!("KEYHASH#{key_hash}"), "KEYHASH"))
            .await?
        {
            Some(item) => Ok(Some(parse_api_key(&item)?)),
            None => Ok(None),
        }
    }

    async fn update_api_key(&self, id: &str, update: UpdateApiKey) -> Result<ApiKey> {
        self.run(None, |_| {
            let update = update.clone();
            async move {
                let item = self
                    .get(key(format!("KEY#{id}"), "KEY"))
                    .await?
                    .ok_or_else(|| not_found(id))?;
                let hash = get_s(&item, "hash")?;
                let mut api_key = parse_api_key(&item)?;
                update.apply(&mut api_key);
                // Both items change: the one listed and the one each request reads.
                let mut items = Vec::new();
                for (pk, sk) in [
                    (format!("KEY#{id}"), "KEY"),
                    (format!("KEYHASH#{hash}"), "KEYHASH"),
                ] {
                    let mut expr = Expr::new();
                    expr.cond_exists("PK")
                        .set("name", s(&api_key.name))
                        .set("disabled", AttributeValue::Bool(api_key.disabled));
                    items.push(expr.into_update(&self.table, key(pk, sk))?);
                }
                Ok((api_key, items))
            }
        })
        .await
    }

    async fn record_key_uses(&self, uses: Vec<(String, Timestamp)>) -> Result<()> {
        for (id, at) in uses {
            // Only the listed item: requests read the other, and need no use time.
            let mut expr = Expr::new();
            expr.cond_exists("PK")
                .cond_below("last_used_at", at.0 - LAST_USED_RESOLUTION_MS + 1)
                .set("last_used_at", n(at.0));
            self.update_returning(key(format!("KEY#{id}"), "KEY"), expr)
                .await?;
        }
        Ok(())
    }
}

impl DynamoStore {
    /// The two items of an API key: by id (listing, deletion) and by hash (lookup on
    /// every request, and uniqueness of the hash).
    pub(super) async fn api_key_items(
        &self,
        api_key: &ApiKey,
        key_hash: &str,
    ) -> Result<Vec<TransactWriteItem>> {
        let seq = self.next_seq("KEY").await?;
        let mut by_id = key(format!("KEY#{}", api_key.id), "KEY");
        let mut by_hash = key(format!("KEYHASH#{key_hash}"), "KEYHASH");
        for item in [&mut by_id, &mut by_hash] {
            item.insert("id".into(), s(&api_key.id));
            item.insert("name".into(), s(&api_key.name));
            item.insert("scopes".into(), s(to_json(&api_key.scopes)?));
            item.insert("created_at".into(), n(api_key.created_at.millis()));
            item.insert("hash".into(), s(key_hash));
            if let Some(book_ids) = &api_key.book_ids {
                item.insert("book_ids".into(), s(to_json(book_ids)?));
            }
            if let Some(at) = api_key.expires_at {
                item.insert("expires_at".into(), n(at.millis()));
            }
            item.insert("disabled".into(), AttributeValue::Bool(api_key.disabled));
        }
        if let Some(at) = api_key.last_used_at {
            by_id.insert("last_used_at".into(), n(at.millis()));
        }
        by_id.insert("seq".into(), n(seq));
        by_id.insert("G1PK".into(), s("KEYS"));
        by_id.insert("G1SK".into(), s(pad(seq)));
        Ok(vec![
            put_new(&self.table, by_id)?,
            put_new(&self.table, by_hash)?,
        ])
    }
}
