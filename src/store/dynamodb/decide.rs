//! The write loop: read, decide, commit one transaction, decide again when a
//! condition failed; with the idempotency record checked and written alongside.

use std::time::Duration;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{Error, ErrorCode, Result, Timestamp};
use crate::store::Idempotency;

use super::DynamoStore;
use super::attr::{Item, built, from_json, get_s, key, n, opt_n, s, to_json};
use super::client::{Tx, busy};

/// Fresh decisions after a failed condition (the state moved under us).
pub(super) const MAX_DECISIONS: u32 = 40;

impl DynamoStore {
    /// Records created at or before this (ms) no longer answer replays: DynamoDB's TTL
    /// deletes lazily, so expiry is judged on read.
    fn idem_cutoff(&self, now: Timestamp) -> i64 {
        self.idempotency_ttl.cutoff(now)
    }

    pub(super) fn idem_key(idem: &Idempotency) -> Item {
        key(format!("IDEM#{}", idem.caller), idem.key.clone())
    }

    pub(super) fn idem_put<T: Serialize>(
        &self,
        idem: &Idempotency,
        response: &std::result::Result<T, Error>,
        now: Timestamp,
    ) -> Result<TransactWriteItem> {
        let mut item = Self::idem_key(idem);
        item.insert("fp".into(), s(&idem.fingerprint));
        item.insert("resp".into(), s(to_json(response)?));
        item.insert("created_at".into(), n(now.millis()));
        // DynamoDB's TTL deletes the record some time after this (Unix seconds).
        item.insert("ttl".into(), n(self.idempotency_ttl.expiry(now) / 1000 + 1));
        // Put if absent, or over an expired record (not yet deleted by TTL).
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK) OR #created <= :cutoff")
                .expression_attribute_names("#created", "created_at")
                .expression_attribute_values(":cutoff", n(self.idem_cutoff(now)))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The answer stored under an idempotency key, if any (and not expired).
    pub(super) async fn replay<T: DeserializeOwned>(
        &self,
        idem: Option<&Idempotency>,
    ) -> Result<Option<Result<T>>> {
        let Some(idem) = idem else {
            return Ok(None);
        };
        let Some(item) = self.get(Self::idem_key(idem)).await? else {
            return Ok(None);
        };
        if opt_n(&item, "created_at").unwrap_or(0) <= self.idem_cutoff(self.clock.now()) {
            return Ok(None);
        }
        if get_s(&item, "fp")? != idem.fingerprint {
            return Ok(Some(Err(Error::new(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request",
            ))));
        }
        Ok(Some(from_json::<std::result::Result<T, Error>>(&get_s(
            &item, "resp",
        )?)?))
    }

    /// Reads, decides and commits until a decision sticks: the idempotency record is
    /// checked first and written in the transaction of the change (refusals too).
    pub(super) async fn run<T, F, Fut>(
        &self,
        idem: Option<&Idempotency>,
        mut decide: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Timestamp) -> Fut,
        Fut: std::future::Future<Output = Decision<T>>,
    {
        self.run_with(idem, Reads::Full, |now, _| decide(now)).await
    }

    /// `run`, where the first attempt may decide on fewer reads (see `Reads`): it
    /// skips the idempotency read too, since the record's put-if-absent in the
    /// transaction refuses a used key; only a commit is taken from it, a refusal or a
    /// failed condition is decided again on full reads.
    pub(super) async fn run_with<T, F, Fut>(
        &self,
        idem: Option<&Idempotency>,
        first: Reads,
        mut decide: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Timestamp, Reads) -> Fut,
        Fut: std::future::Future<Output = Decision<T>>,
    {
        for attempt in 0..MAX_DECISIONS {
            let reads = if attempt == 0 { first } else { Reads::Full };
            let tentative = reads != Reads::Full;
            if !tentative && let Some(answer) = self.replay::<T>(idem).await? {
                return answer;
            }
            let now = self.clock.now();
            let (value, mut items) = match decide(now, reads).await {
                Ok(decided) => decided,
                Err(err) if !err.code.is_deterministic() => return Err(err),
                Err(_) if tentative => continue,
                Err(err) => {
                    let Some(idem) = idem else {
                        return Err(err);
                    };
                    let refusal: std::result::Result<T, Error> = Err(err.clone());
                    match self
                        .transact(vec![self.idem_put(idem, &refusal, now)?])
                        .await?
                    {
                        Tx::Committed => return Err(err),
                        Tx::Conditional(_) => continue,
                    }
                }
            };
            if let Some(idem) = idem {
                let answer: std::result::Result<&T, Error> = Ok(&value);
                items.push(self.idem_put(idem, &answer, now)?);
            }
            match self.transact(items).await? {
                Tx::Committed => return Ok(value),
                Tx::Conditional(_) if tentative => {}
                Tx::Conditional(reasons) => {
                    tracing::debug!(?reasons, attempt, "condition failed; deciding again");
                    let pause = rand::rng().random_range(0..=(2 * u64::from(attempt) + 1));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        tracing::warn!("state kept changing under the decision; giving up");
        Err(busy())
    }

    /// Stores a deterministic refusal under the idempotency key, then returns it.
    pub(super) async fn refuse<T: Serialize>(
        &self,
        idem: Option<&Idempotency>,
        err: Error,
    ) -> Result<T> {
        if let Some(idem) = idem
            && err.code.is_deterministic()
        {
            let refusal: std::result::Result<T, Error> = Err(err.clone());
            self.transact(vec![self.idem_put(idem, &refusal, self.clock.now())?])
                .await?;
        }
        Err(err)
    }
}

pub(super) type Decision<T> = Result<(T, Vec<TransactWriteItem>)>;

/// What a decision reads before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reads {
    /// Everything it depends on.
    Full,
    /// As little as the transaction's conditions can stand in for. The book's
    /// settings as last read (pinned by their version); no counters or user usage,
    /// whose limits the conditions hold away from their edges; and where the book is
    /// known (from the lock id, or an earlier read of the code) not even the coupon:
    /// the conditions state its expected shape. A redeem is then one request, else
    /// one read and one write.
    Least,
}
