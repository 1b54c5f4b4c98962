//! Bulk jobs in the embedded store: each batch of lines, its results and the job's
//! progress commit in one transaction of the writer.

use std::sync::atomic::AtomicI64;

use rusqlite::{Connection, params};
use serde_json::Value;

use crate::domain::bulk::{BulkLine, BulkOutcome, BulkResult};
use crate::domain::coupon;
use crate::domain::event::{self, Actor};
use crate::domain::job::{Job, JobKind, JobStatus};
use crate::domain::tally::TallyDelta;
use crate::domain::{Error, Result, Timestamp};

use super::codes::{load_job, save_job};
use super::coupons::{assign_next_in, void_in};
use super::events::append_event;
use super::rows::{
    BookRow, CouponRow, coupon_view, find_coupon, live_locks, load_book, move_tally,
};
use super::writer::Db;

/// Applies one batch of a bulk job (see `CodeStore::apply_bulk`).
pub(super) fn apply_batch(
    conn: &Connection,
    job_id: &str,
    lines: &[BulkLine],
    spec: &Value,
    assign_seq: &AtomicI64,
    now: Timestamp,
) -> Result<Job> {
    let (job_seq, mut job, _) = load_job(conn, job_id)?;
    if job.status != JobStatus::Running {
        return Err(Error::internal("the job is already finished"));
    }
    // Results commit with the job's counts, so the last recorded line is where the
    // job stands.
    let last: Option<i64> = conn
        .prepare_cached("SELECT MAX(line) FROM job_results WHERE job_seq = ?1")
        .db()?
        .query_row([job_seq], |r| r.get(0))
        .db()?;
    let last = last.unwrap_or(0).max(0) as u64;
    let book = load_book(conn, &job.book_id)?;
    if job.kind == JobKind::Assign {
        // Refused before any line is written, as on every store (here a refusal after
        // a written line would also roll back the writer's whole batch).
        book.settings.check_usable(now)?;
    }
    let actor = Actor::system(&job.id);
    let mut record = conn
        .prepare_cached(
            "INSERT INTO job_results (job_seq, line, input, outcome, code)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .db()?;
    for line in lines.iter().filter(|l| l.line > last) {
        let (outcome, code) = match &line.item {
            None => (BulkOutcome::Invalid, None),
            Some(item) => match job.kind {
                JobKind::Assign => {
                    match assign_next_in(conn, &book.id, item, &actor, assign_seq, now) {
                        Ok(coupon) => (BulkOutcome::Assigned, Some(coupon.code)),
                        Err(err) => match BulkOutcome::of_assign_refusal(&err) {
                            Some(outcome) => (outcome, None),
                            None => return Err(err),
                        },
                    }
                }
                JobKind::Void => match coupon_of_book(conn, &book, item)? {
                    None => (BulkOutcome::NotFound, None),
                    Some(row) => {
                        void_in(conn, &row.record, &actor, now)?;
                        (BulkOutcome::Voided, Some(row.record.code))
                    }
                },
                JobKind::Delete => match coupon_of_book(conn, &book, item)? {
                    None => (BulkOutcome::NotFound, None),
                    Some(row) => (
                        delete_in(conn, &book, &row, &actor, now)?,
                        Some(row.record.code),
                    ),
                },
                JobKind::Generate | JobKind::Upload => {
                    return Err(Error::internal("not a bulk job"));
                }
            },
        };
        record
            .execute(params![
                job_seq,
                line.line as i64,
                line.input,
                outcome.as_str(),
                code
            ])
            .db()?;
        job.count_outcome(outcome);
    }
    save_job(conn, job_seq, &job, Some(spec))?;
    Ok(job)
}

/// The coupon with this code, if it is in `book`.
fn coupon_of_book(conn: &Connection, book: &BookRow, code: &str) -> Result<Option<CouponRow>> {
    Ok(find_coupon(conn, code)?.filter(|row| row.book_seq == book.seq))
}

/// Removes a coupon never handed out or used; any other is `in_use`.
fn delete_in(
    conn: &Connection,
    book: &BookRow,
    row: &CouponRow,
    actor: &Actor,
    now: Timestamp,
) -> Result<BulkOutcome> {
    let code = &row.record.code;
    let locks = live_locks(conn, code, now)?;
    if !coupon::can_delete(&row.record, locks.len()) {
        return Ok(BulkOutcome::InUse);
    }
    let max = book.settings.max_redemptions_per_coupon;
    let view = coupon_view(conn, &row.record, max, now)?;
    conn.prepare_cached("DELETE FROM coupons WHERE code = ?1")
        .db()?
        .execute([code])
        .db()?;
    conn.prepare_cached("DELETE FROM locks WHERE code = ?1")
        .db()?
        .execute([code])
        .db()?;
    move_tally(
        conn,
        book.seq,
        &TallyDelta::removal(row.record.base_status(max)),
    )?;
    append_event(conn, actor, event::COUPON_DELETED, &view, now)?;
    Ok(BulkOutcome::Deleted)
}

/// One page of a job's line results.
pub(super) fn results_page(
    conn: &Connection,
    job_id: &str,
    after_line: u64,
    limit: u32,
) -> Result<Vec<BulkResult>> {
    let (job_seq, _, _) = load_job(conn, job_id)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT line, input, outcome, code FROM job_results
             WHERE job_seq = ?1 AND line > ?2 ORDER BY line LIMIT ?3",
        )
        .db()?;
    let rows = stmt
        .query_map(params![job_seq, after_line as i64, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .db()?;
    rows.map(|row| {
        let (line, input, outcome, code) = row.db()?;
        let outcome = BulkOutcome::parse(&outcome)
            .ok_or_else(|| Error::internal(format!("unknown outcome {outcome:?}")))?;
        Ok(BulkResult {
            line: line.max(0) as u64,
            input,
            outcome,
            code,
        })
    })
    .collect()
}
