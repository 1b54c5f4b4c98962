//! Codes and the jobs that add them, in the DynamoDB table.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use rand::Rng;
use serde_json::Value;

use crate::domain::bulk::{BulkLine, BulkResult};
use crate::domain::coupon::{Coupon, CouponDetails, CouponStatus};
use crate::domain::event::{self, Actor};
use crate::domain::ids::new_id;
use crate::domain::job::{BatchOutcome, CodeIntake, Job, JobKind, JobStatus};
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Write, prelude::*};

use super::DynamoStore;
use super::attr::{built, from_json, get_n, get_s, key, n, opt_n, opt_s, pad, s, to_json};
use super::client::{Tx, busy};
use super::decide::MAX_DECISIONS;
use super::expr::{Expr, put_new};
use super::state::{
    AVAILABLE_SHARDS, CouponState, available_pk, counts_key, coupon_key, meta_key, shape_key,
};

/// Codes per upload transaction (the 100-action limit, less the counter update and the
/// book check); generated codes leave one more action to their shape's counter.
pub(super) const CODES_PER_TRANSACTION: usize = 98;

impl DynamoStore {
    /// Ends a running job (no-op on a finished one); `by` announces its codes.
    async fn finish_job_by(&self, job_id: &str, status: JobStatus, by: &Actor) -> Result<Job> {
        self.run(None, |now| async move {
            let (mut job, _, version) = self.load_job(job_id).await?;
            if job.status != JobStatus::Running {
                return Ok((job, Vec::new()));
            }
            job.finish(status, now);
            let mut items = vec![self.job_update(&job, None, version)?];
            if job.inserted > 0 {
                match self.load_book(&job.book_id).await {
                    Ok((book, tally)) => {
                        let view = self.book_view(&book, &tally, now).await?;
                        items.push(self.event_put(by, event::BOOK_CODES_ADDED, &view, now)?);
                    }
                    // Deleted while the job ran (announced as `book.deleted`).
                    Err(err) if err.code == ErrorCode::BookNotFound => {}
                    Err(err) => return Err(err),
                }
            }
            Ok((job, items))
        })
        .await
    }

    /// Inserts one chunk of new codes with the counters in one transaction (with the
    /// shape's counter for generated codes). Codes that exist are sorted out from the
    /// cancellation reasons (which return the stored item) and the rest is sent again.
    /// Each code records where it came from (`origin` = job/position/line), so a batch
    /// sent again after a crash recognises its own earlier inserts.
    pub(super) async fn insert_chunk(
        &self,
        book_id: &str,
        origin: &str,
        intake: &CodeIntake,
        chunk: &[(u64, String, i64)],
        now: Timestamp,
        outcome: &mut BatchOutcome,
    ) -> Result<()> {
        let job_prefix = origin.split('/').next().unwrap_or(origin).to_string() + "/";
        let mut pending: Vec<&(u64, String, i64)> = chunk.iter().collect();
        for _ in 0..MAX_DECISIONS {
            if pending.is_empty() {
                return Ok(());
            }
            let mut items = Vec::with_capacity(pending.len() + 3);
            for (line, code, seq) in &pending {
                let shard = i64::from(rand::rng().random_range(0..AVAILABLE_SHARDS));
                let mut item = coupon_key(code);
                item.insert("code".into(), s(code));
                item.insert("book".into(), s(book_id));
                item.insert("cseq".into(), n(*seq));
                item.insert("created".into(), n(now.millis()));
                item.insert("rc".into(), n(0));
                item.insert("lv".into(), n(0));
                item.insert("voided".into(), AttributeValue::Bool(false));
                item.insert("shard".into(), n(shard));
                if let Some(text) = intake.details.get(code).and_then(CouponDetails::to_stored) {
                    item.insert("details".into(), s(text));
                }
                item.insert("origin".into(), s(format!("{origin}/{line}")));
                item.insert("G1PK".into(), s(available_pk(book_id, shard)));
                item.insert("G1SK".into(), s(code));
                item.insert("G2PK".into(), s(format!("BCODES#{book_id}")));
                item.insert("G2SK".into(), s(pad(*seq)));
                let put = built(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(PK)")
                        .return_values_on_condition_check_failure(
                            aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build(),
                )?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            let count = pending.len() as i64;
            let mut counts = Expr::new();
            counts
                .add("total", count)
                .add("available", count)
                .add("unused", count)
                .cond_exists("PK");
            items.push(counts.into_update(&self.table, counts_key(book_id))?);
            let mut meta = Expr::new();
            meta.cond_exists("PK");
            items.push(meta.into_check(&self.table, meta_key(book_id))?);
            if let Some(shape) = intake.shape.as_deref() {
                let mut generated = Expr::new();
                generated.add("generated", count);
                items.push(generated.into_update(&self.table, shape_key(shape))?);
            }
            match self.transact(items).await? {
                Tx::Committed => {
                    outcome.inserted += pending.len() as u64;
                    return Ok(());
                }
                Tx::Conditional(reasons) => {
                    let book_gone = reasons
                        .iter()
                        .skip(pending.len())
                        .any(|(r, _)| r == "ConditionalCheckFailed");
                    if book_gone {
                        return Err(Error::book_not_found(book_id));
                    }
                    let mut left = Vec::new();
                    for (entry, (reason, old)) in pending.iter().zip(&reasons) {
                        if reason != "ConditionalCheckFailed" {
                            left.push(*entry);
                            continue;
                        }
                        let stored = old.as_ref().and_then(|item| opt_s(item, "origin"));
                        let found = (entry.0, entry.1.clone());
                        match stored {
                            Some(o) if o == format!("{origin}/{}", entry.0) => {
                                outcome.inserted += 1
                            }
                            Some(o) if o.starts_with(&job_prefix) => outcome.duplicates.push(found),
                            _ => outcome.already_exist.push(found),
                        }
                    }
                    pending = left;
                }
            }
        }
        Err(busy())
    }

    /// Stores a batch of accepted codes for a job, in creation order.
    pub(super) async fn insert_codes(
        &self,
        job: &Job,
        intake: &CodeIntake,
        now: Timestamp,
    ) -> Result<BatchOutcome> {
        let accepted = &intake.accepted;
        let mut outcome = BatchOutcome::default();
        if accepted.is_empty() {
            return Ok(outcome);
        }
        // Reserve creation positions for the whole batch in one counter update.
        let count = accepted.len() as i64;
        let mut reserve = Expr::new();
        reserve.add("next_code_seq", count).cond_exists("PK");
        let end = match self
            .update_returning(counts_key(&job.book_id), reserve)
            .await?
        {
            Some(item) => get_n(&item, "next_code_seq")?,
            None => return Err(Error::book_not_found(&job.book_id)),
        };
        let numbered: Vec<(u64, String, i64)> = accepted
            .iter()
            .enumerate()
            .map(|(i, (line, code))| (*line, code.clone(), end - count + i as i64 + 1))
            .collect();
        let origin = format!("{}/{}", job.id, job.processed);
        let shape = intake.shape.as_deref();
        let per_transaction = match shape {
            Some(_) => CODES_PER_TRANSACTION - 1,
            None => CODES_PER_TRANSACTION,
        };
        for chunk in numbered.chunks(per_transaction) {
            self.insert_chunk(&job.book_id, &origin, intake, chunk, now, &mut outcome)
                .await?;
        }
        outcome.already_exist.sort_by_key(|(line, _)| *line);
        outcome.duplicates.sort_by_key(|(line, _)| *line);
        Ok(outcome)
    }

    pub(super) async fn load_job(&self, job_id: &str) -> Result<(Job, Value, i64)> {
        match self.get(key(format!("JOB#{job_id}"), "JOB")).await? {
            Some(item) => Ok((
                from_json(&get_s(&item, "body")?)?,
                from_json(&get_s(&item, "spec")?)?,
                get_n(&item, "v")?,
            )),
            None => Err(Error::new(
                ErrorCode::JobNotFound,
                format!("no job with id {job_id:?}"),
            )),
        }
    }

    /// Saves a job's progress (and resume spec), checking nobody else moved it.
    pub(super) fn job_update(
        &self,
        job: &Job,
        spec: Option<&Value>,
        version: i64,
    ) -> Result<TransactWriteItem> {
        let mut expr = Expr::new();
        expr.cond("v", "=", n(version));
        expr.set("body", s(to_json(job)?)).bump("v");
        if let Some(spec) = spec {
            expr.set("spec", s(to_json(spec)?));
        }
        if job.status != JobStatus::Running {
            expr.remove(&["G1PK"]).remove(&["G1SK"]);
        }
        expr.into_update(&self.table, key(format!("JOB#{}", job.id), "JOB"))
    }
}

#[async_trait]
impl CodeStore for DynamoStore {
    async fn add_codes(
        &self,
        book_id: &str,
        kind: JobKind,
        intake: CodeIntake,
        write: Write,
    ) -> Result<Job> {
        let Write { actor, idem } = write;
        if let Some(answer) = self.replay::<Job>(idem.as_ref()).await? {
            return answer;
        }
        let job = match self
            .create_job(
                book_id,
                kind,
                intake.lines,
                Value::Null,
                Write::by(actor.clone()),
            )
            .await
        {
            Ok(job) => job,
            Err(err) => return self.refuse(idem.as_ref(), err).await,
        };
        let job = self.add_job_codes(&job.id, intake, Value::Null).await?;
        // Codes added in one request are the caller's change, not a job's work.
        let job = self
            .finish_job_by(&job.id, JobStatus::Succeeded, &actor)
            .await?;
        let Some(idem) = &idem else {
            return Ok(job);
        };
        let answer: std::result::Result<&Job, Error> = Ok(&job);
        match self
            .transact(vec![self.idem_put(idem, &answer, self.clock.now())?])
            .await?
        {
            Tx::Committed => Ok(job),
            // Another request with the same key finished first: its answer stands.
            Tx::Conditional(_) => match self.replay::<Job>(Some(idem)).await? {
                Some(answer) => answer,
                None => Err(busy()),
            },
        }
    }

    async fn create_job(
        &self,
        book_id: &str,
        kind: JobKind,
        total: u64,
        spec: Value,
        write: Write,
    ) -> Result<Job> {
        let started_by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            let spec = spec.clone();
            async move {
                let (book, _) = self.load_book(book_id).await?;
                if !kind.is_bulk() {
                    book.settings.check_accepts_codes()?;
                }
                let (id, book_id) = (new_id("job"), book.id.clone());
                let job = Job::start(id, kind, book_id, total, started_by.clone(), now);
                let mut item = key(format!("JOB#{}", job.id), "JOB");
                item.insert("book_id".into(), s(&book.id));
                item.insert("body".into(), s(to_json(&job)?));
                item.insert("spec".into(), s(to_json(&spec)?));
                item.insert("v".into(), n(0));
                item.insert("G1PK".into(), s("JOBS_RUNNING"));
                item.insert("G1SK".into(), s(&job.id));
                Ok((job, vec![put_new(&self.table, item)?]))
            }
        })
        .await
    }

    async fn add_job_codes(&self, job_id: &str, intake: CodeIntake, spec: Value) -> Result<Job> {
        let (mut job, _, version) = self.load_job(job_id).await?;
        if job.status != JobStatus::Running {
            return Err(Error::internal("the job is already finished"));
        }
        let outcome = self.insert_codes(&job, &intake, self.clock.now()).await?;
        job.absorb(intake, outcome);
        match self
            .transact(vec![self.job_update(&job, Some(&spec), version)?])
            .await?
        {
            Tx::Committed => Ok(job),
            Tx::Conditional(_) => {
                tracing::error!(job_id, "job moved by another writer");
                Err(busy())
            }
        }
    }

    async fn finish_job(&self, job_id: &str, status: JobStatus) -> Result<Job> {
        self.finish_job_by(job_id, status, &Actor::system(job_id))
            .await
    }

    async fn unfinished_jobs(&self) -> Result<Vec<(Job, Value)>> {
        let mut jobs = Vec::new();
        for item in self.query_all(Some("GSI1"), "JOBS_RUNNING").await? {
            jobs.push((
                from_json(&get_s(&item, "body")?)?,
                from_json(&get_s(&item, "spec")?)?,
            ));
        }
        Ok(jobs)
    }

    async fn generated_count(&self, shape: &str) -> Result<u64> {
        let counter = self.get(shape_key(shape)).await?;
        let generated = counter.and_then(|item| opt_n(&item, "generated"));
        Ok(generated.unwrap_or(0).max(0) as u64)
    }

    async fn get_job(&self, job_id: &str) -> Result<Job> {
        Ok(self.load_job(job_id).await?.0)
    }

    async fn apply_bulk(&self, job_id: &str, lines: Vec<BulkLine>, spec: Value) -> Result<Job> {
        self.apply_bulk_batch(job_id, lines, spec).await
    }

    async fn job_results(
        &self,
        job_id: &str,
        after_line: u64,
        limit: u32,
    ) -> Result<Vec<BulkResult>> {
        self.bulk_results(job_id, after_line, limit).await
    }

    async fn list_codes(
        &self,
        book_id: &str,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>> {
        let (book, _) = self.load_book(book_id).await?;
        let now = self.clock.now();
        let mut after = page.after.map(pad);
        let mut found = Vec::new();
        let fetch = if status.is_some() {
            1000
        } else {
            page.limit as i32 + 1
        };
        loop {
            let (items, more) = self
                .query_page(
                    Some("GSI2"),
                    &format!("BCODES#{book_id}"),
                    after.as_deref(),
                    fetch,
                )
                .await?;
            for item in &items {
                let coupon = CouponState::parse(item)?;
                let view = coupon.view(book.max(), now);
                if status.is_none_or(|s| view.status == s) {
                    found.push((get_n(item, "cseq")?, view));
                }
                if found.len() > page.limit as usize {
                    return Ok(page_of(found, page.limit));
                }
            }
            after = items.last().and_then(|item| opt_s(item, "G2SK"));
            if !more || after.is_none() {
                return Ok(page_of(found, page.limit));
            }
        }
    }
}
