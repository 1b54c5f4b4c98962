//! Bulk jobs in the DynamoDB table. A job may not hold one transaction (100 actions at
//! most), so every line is its own `TransactWriteItems`: the line's work (assignment,
//! void or delete, with its counters and event) together with the line's result item
//! `JOBRES#<job>` / `<line>`, put only if absent. A batch sent again after a crash
//! finds the result of a line already done (the put's condition fails) and reads it
//! instead of doing the work twice. The job item then takes the batch's counts, its
//! resume spec and `last_line`, on the condition that its version did not move.

use std::time::Duration;

use aws_sdk_dynamodb::types::TransactWriteItem;
use rand::Rng;
use serde_json::Value;

use crate::domain::bulk::{BulkLine, BulkOutcome, BulkResult};
use crate::domain::coupon;
use crate::domain::event::{self, Actor};
use crate::domain::job::{Job, JobKind, JobStatus};
use crate::domain::tally::TallyDelta;
use crate::domain::{Error, ErrorCode, Result, Timestamp};

use super::DynamoStore;
use super::attr::{from_json, get_n, get_s, key, n, opt_n, opt_s, pad, s, to_json};
use super::client::{Tx, busy};
use super::decide::MAX_DECISIONS;
use super::expr::{Expr, put_new};
use super::state::{CouponState, counts_key, coupon_key};

fn job_key(job_id: &str) -> super::attr::Item {
    key(format!("JOB#{job_id}"), "JOB")
}

fn result_key(job_id: &str, line: u64) -> super::attr::Item {
    key(format!("JOBRES#{job_id}"), pad(line as i64))
}

/// A line's decided work: its outcome, the code concerned, and the writes.
type LineWork = (BulkOutcome, Option<String>, Vec<TransactWriteItem>);

impl DynamoStore {
    pub(super) async fn apply_bulk_batch(
        &self,
        job_id: &str,
        lines: Vec<BulkLine>,
        spec: Value,
    ) -> Result<Job> {
        let item = self.get(job_key(job_id)).await?.ok_or_else(|| {
            Error::new(ErrorCode::JobNotFound, format!("no job with id {job_id:?}"))
        })?;
        let mut job: Job = from_json(&get_s(&item, "body")?)?;
        let version = get_n(&item, "v")?;
        let last = opt_n(&item, "last_line").unwrap_or(0).max(0) as u64;
        if job.status != JobStatus::Running || !job.kind.is_bulk() {
            return Err(Error::internal("not a running bulk job"));
        }
        if job.kind == JobKind::Assign {
            // Refused before any line's result is written, as on every store.
            let (book, _) = self.load_book(&job.book_id).await?;
            book.settings.check_usable(self.clock.now())?;
        }
        let actor = Actor::system(&job.id);
        let mut newest = last;
        for line in lines.iter().filter(|l| l.line > last) {
            let outcome = self.apply_line(&job, line, &actor).await?;
            job.count_outcome(outcome);
            newest = newest.max(line.line);
        }
        let mut expr = Expr::new();
        expr.cond("v", "=", n(version));
        expr.set("body", s(to_json(&job)?))
            .set("spec", s(to_json(&spec)?))
            .set("last_line", n(newest as i64))
            .bump("v");
        match self
            .transact(vec![expr.into_update(&self.table, job_key(job_id))?])
            .await?
        {
            Tx::Committed => Ok(job),
            Tx::Conditional(_) => {
                tracing::error!(job_id, "bulk job moved by another writer");
                Err(busy())
            }
        }
    }

    /// Applies one line once: its work and its result commit together; a result found
    /// already (an earlier attempt committed it) is the line's outcome.
    async fn apply_line(&self, job: &Job, line: &BulkLine, by: &Actor) -> Result<BulkOutcome> {
        for attempt in 0..MAX_DECISIONS {
            let now = self.clock.now();
            let (outcome, code, mut items) = match &line.item {
                None => (BulkOutcome::Invalid, None, Vec::new()),
                Some(item) => self.decide_line(job, item, by, now).await?,
            };
            let mut result = result_key(&job.id, line.line);
            result.insert("line".into(), n(line.line as i64));
            result.insert("input".into(), s(&line.input));
            result.insert("outcome".into(), s(outcome.as_str()));
            if let Some(code) = &code {
                result.insert("code".into(), s(code));
            }
            items.push(put_new(&self.table, result)?);
            match self.transact(items).await? {
                Tx::Committed => return Ok(outcome),
                Tx::Conditional(_) => {
                    if let Some(done) = self.get(result_key(&job.id, line.line)).await? {
                        return parse_result(&done).map(|r| r.outcome);
                    }
                    let pause = rand::rng().random_range(0..=(2 * u64::from(attempt) + 1));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        Err(busy())
    }

    /// Decides one valid line of the job's kind, on the same rules as the single-code
    /// routes (assign-next, void) and `coupon::can_delete`.
    async fn decide_line(
        &self,
        job: &Job,
        item: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Result<LineWork> {
        match job.kind {
            JobKind::Assign => match self.decide_assign_next(&job.book_id, item, by, now).await {
                Ok((coupon, items)) => Ok((BulkOutcome::Assigned, Some(coupon.code), items)),
                Err(err) => match BulkOutcome::of_assign_refusal(&err) {
                    Some(outcome) => Ok((outcome, None, Vec::new())),
                    None => Err(err),
                },
            },
            JobKind::Void => {
                if self.coupon_in_book(item, &job.book_id).await?.is_none() {
                    return Ok((BulkOutcome::NotFound, None, Vec::new()));
                }
                let (coupon, items) = self.decide_void(item, by, now).await?;
                Ok((BulkOutcome::Voided, Some(coupon.code), items))
            }
            JobKind::Delete => self.decide_delete(item, &job.book_id, by, now).await,
            JobKind::Generate | JobKind::Upload => Err(Error::internal("not a bulk job")),
        }
    }

    /// The coupon with this code, if it is in the book.
    async fn coupon_in_book(&self, code: &str, book_id: &str) -> Result<Option<CouponState>> {
        match self.load_coupon(code).await {
            Ok(coupon) => Ok(Some(coupon).filter(|c| c.record.book_id == book_id)),
            Err(err) if err.code == ErrorCode::CouponNotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Removes a coupon never handed out or used (pinned by its lock version, no
    /// redemptions, no assignee), with its book's counters and `coupon.deleted`.
    async fn decide_delete(
        &self,
        code: &str,
        book_id: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Result<LineWork> {
        let Some(coupon) = self.coupon_in_book(code, book_id).await? else {
            return Ok((BulkOutcome::NotFound, None, Vec::new()));
        };
        let code = coupon.record.code.clone();
        if !coupon::can_delete(&coupon.record, coupon.live_locks(now).len()) {
            return Ok((BulkOutcome::InUse, Some(code), Vec::new()));
        }
        let (book, _) = self.load_book(book_id).await?;
        let view = coupon.view(book.max(), now);
        let mut expr = coupon.pinned();
        expr.cond("rc", "=", n(0)).cond_not_exists("assigned_to");
        let mut counts = Expr::new();
        counts.cond_exists("PK");
        for (name, moved) in TallyDelta::removal(coupon.record.base_status(book.max())).counters() {
            counts.add(name, moved);
        }
        let items = vec![
            expr.into_delete(&self.table, coupon_key(&code))?,
            counts.into_update(&self.table, counts_key(book_id))?,
            self.event_put(by, event::COUPON_DELETED, &view, now)?,
        ];
        Ok((BulkOutcome::Deleted, Some(code), items))
    }

    pub(super) async fn bulk_results(
        &self,
        job_id: &str,
        after_line: u64,
        limit: u32,
    ) -> Result<Vec<BulkResult>> {
        self.load_job(job_id).await?;
        let after = pad(after_line as i64);
        let (items, _) = self
            .query_page(
                None,
                &format!("JOBRES#{job_id}"),
                Some(&after),
                limit as i32,
            )
            .await?;
        items.iter().map(parse_result).collect()
    }
}

fn parse_result(item: &super::attr::Item) -> Result<BulkResult> {
    let outcome = get_s(item, "outcome")?;
    Ok(BulkResult {
        line: get_n(item, "line")?.max(0) as u64,
        input: get_s(item, "input")?,
        outcome: BulkOutcome::parse(&outcome)
            .ok_or_else(|| Error::internal(format!("unknown outcome {outcome:?}")))?,
        code: opt_s(item, "code"),
    })
}
