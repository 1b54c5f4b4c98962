//! API keys in the DynamoDB table.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::domain::apikey::{ApiKey, Scope};
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Idempotency, prelude::*};

use super::DynamoStore;
use super::attr::{Item, from_json, get_n, get_s, key, n, pad, s, to_json};
use super::expr::{Expr, put_new};

pub(super) fn parse_api_key(item: &Item) -> Result<ApiKey> {
    let scopes: Vec<Scope> = from_json(&get_s(item, "scopes")?)?;
    Ok(ApiKey {
        id: get_s(item, "id")?,
        name: get_s(item, "name")?,
        scopes,
        created_at: Timestamp(get_n(item, "created_at")?),
    })
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
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::ApiKeyNotFound,
                        format!("no API key with id {id:?}"),
                    )
                })?;
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
