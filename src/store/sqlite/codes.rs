//! Codes and the jobs that add them, in the embedded store.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::domain::bulk::{BulkLine, BulkResult};
use crate::domain::coupon::{Coupon, CouponStatus};
use crate::domain::event;
use crate::domain::event::Actor;
use crate::domain::ids::new_id;
use crate::domain::job::{BatchOutcome, CodeIntake, Job, JobKind, JobStatus};
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp};
use crate::store::{Write, prelude::*};

use super::SqliteStore;
use super::events::append_event;
use super::rows::{BookRow, COUPON_COLUMNS, coupon_page, load_book, load_book_view};
use super::writer::Db;
use super::writer::{from_json, to_json};

#[async_trait]
impl CodeStore for SqliteStore {
    async fn add_codes(
        &self,
        book_id: &str,
        kind: JobKind,
        intake: CodeIntake,
        write: Write,
    ) -> Result<Job> {
        let book_id = book_id.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let (job_seq, mut job) = insert_job(
                conn,
                &book_id,
                kind,
                intake.lines,
                &Value::Null,
                &actor,
                now,
            )?;
            let book = load_book(conn, &book_id)?;
            let outcome = insert_codes(conn, &book, job_seq, &intake, now)?;
            job.absorb(intake, outcome);
            job.finish(JobStatus::Succeeded, now);
            save_job(conn, job_seq, &job, None)?;
            announce_codes_added(conn, &actor, &job, now)?;
            Ok(job)
        })
        .await
    }

    async fn create_job(
        &self,
        book_id: &str,
        kind: JobKind,
        total: u64,
        spec: Value,
        write: Write,
    ) -> Result<Job> {
        let book_id = book_id.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            Ok(insert_job(conn, &book_id, kind, total, &spec, &actor, now)?.1)
        })
        .await
    }

    async fn add_job_codes(&self, job_id: &str, intake: CodeIntake, spec: Value) -> Result<Job> {
        let job_id = job_id.to_string();
        self.write(None, move |conn, now| {
            let (job_seq, mut job, _) = load_job(conn, &job_id)?;
            if job.status != JobStatus::Running {
                return Err(Error::internal("the job is already finished"));
            }
            let book = load_book(conn, &job.book_id)?;
            let outcome = insert_codes(conn, &book, job_seq, &intake, now)?;
            job.absorb(intake, outcome);
            save_job(conn, job_seq, &job, Some(&spec))?;
            Ok(job)
        })
        .await
    }

    async fn finish_job(&self, job_id: &str, status: JobStatus) -> Result<Job> {
        let job_id = job_id.to_string();
        self.write(None, move |conn, now| {
            let (job_seq, mut job, _) = load_job(conn, &job_id)?;
            if job.status != JobStatus::Running {
                return Ok(job);
            }
            job.finish(status, now);
            save_job(conn, job_seq, &job, None)?;
            announce_codes_added(conn, &Actor::system(&job.id), &job, now)?;
            Ok(job)
        })
        .await
    }

    async fn unfinished_jobs(&self) -> Result<Vec<(Job, Value)>> {
        self.read(move |conn, _| {
            let mut stmt = conn
                .prepare_cached("SELECT body, spec FROM jobs WHERE running = 1 ORDER BY seq")
                .db()?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .db()?;
            rows.map(|row| {
                let (body, spec) = row.db()?;
                Ok((from_json(&body)?, from_json(&spec)?))
            })
            .collect()
        })
        .await
    }

    async fn generated_count(&self, shape: &str) -> Result<u64> {
        let shape = shape.to_string();
        self.read(move |conn, _| {
            let generated: Option<i64> = conn
                .prepare_cached("SELECT generated FROM code_shapes WHERE shape = ?1")
                .db()?
                .query_row([&shape], |r| r.get(0))
                .optional()
                .db()?;
            Ok(generated.unwrap_or(0).max(0) as u64)
        })
        .await
    }

    async fn get_job(&self, job_id: &str) -> Result<Job> {
        let job_id = job_id.to_string();
        self.read(move |conn, _| Ok(load_job(conn, &job_id)?.1))
            .await
    }

    async fn apply_bulk(&self, job_id: &str, lines: Vec<BulkLine>, spec: Value) -> Result<Job> {
        let job_id = job_id.to_string();
        let assign_seq = self.assign_seq.clone();
        self.write(None, move |conn, now| {
            super::bulk::apply_batch(conn, &job_id, &lines, &spec, &assign_seq, now)
        })
        .await
    }

    async fn job_results(
        &self,
        job_id: &str,
        after_line: u64,
        limit: u32,
    ) -> Result<Vec<BulkResult>> {
        let job_id = job_id.to_string();
        self.read(move |conn, _| super::bulk::results_page(conn, &job_id, after_line, limit))
            .await
    }

    async fn list_codes(
        &self,
        book_id: &str,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>> {
        let book_id = book_id.to_string();
        self.read(move |conn, now| {
            let book = load_book(conn, &book_id)?;
            let max = book.settings.max_redemptions_per_coupon;
            let after = page.after.unwrap_or(0);
            let select = |hint: &str, filter: &str| {
                format!(
                    "SELECT {COUPON_COLUMNS}, c.seq FROM coupons c {hint}
                     JOIN books b ON b.seq = c.book_seq
                     WHERE c.seq > ?1 AND c.book_seq = ?2 {filter} ORDER BY c.seq"
                )
            };
            // Without the index hint SQLite walks the book's primary key and filters each
            // row, so a page of a rare status read through the whole book.
            let in_state = |state: i64| {
                (
                    select("INDEXED BY coupons_state", "AND c.state = ?3"),
                    Some(state),
                )
            };
            let max_of = |_| Ok(max);
            let (sql, state): (String, Option<i64>) = match status {
                None => (select("", ""), None),
                Some(CouponStatus::Available) => in_state(0),
                Some(CouponStatus::Assigned) => in_state(1),
                Some(CouponStatus::Redeemed) => in_state(2),
                Some(CouponStatus::Voided) => in_state(3),
                Some(CouponStatus::Locked) => (
                    select(
                        "",
                        "AND c.state IN (0, 1) AND c.code IN
                           (SELECT code FROM locks WHERE book_seq = ?2 AND expires_at > ?3)",
                    ),
                    Some(now.0),
                ),
            };
            // Lock state changes with time, so the exact status is checked per row.
            let keep = |coupon: &Coupon| status.is_none_or(|s| coupon.status == s);
            match state {
                None => coupon_page(conn, &sql, &[&after, &book.seq], page, &max_of, &keep, now),
                Some(value) => coupon_page(
                    conn,
                    &sql,
                    &[&after, &book.seq, &value],
                    page,
                    &max_of,
                    &keep,
                    now,
                ),
            }
        })
        .await
    }
}

pub(super) fn insert_job(
    conn: &Connection,
    book_id: &str,
    kind: JobKind,
    total: u64,
    spec: &Value,
    started_by: &Actor,
    now: Timestamp,
) -> Result<(i64, Job)> {
    let book = load_book(conn, book_id)?;
    if !kind.is_bulk() {
        book.settings.check_accepts_codes()?;
    }
    let job = Job::start(
        new_id("job"),
        kind,
        book.id.clone(),
        total,
        started_by.clone(),
        now,
    );
    conn.prepare_cached(
        "INSERT INTO jobs (id, book_id, running, body, spec) VALUES (?1, ?2, 1, ?3, ?4)",
    )
    .db()?
    .execute(params![job.id, job.book_id, to_json(&job)?, to_json(spec)?])
    .db()?;
    Ok((conn.last_insert_rowid(), job))
}

pub(super) fn load_job(conn: &Connection, job_id: &str) -> Result<(i64, Job, Value)> {
    let found: Option<(i64, String, String)> = conn
        .prepare_cached("SELECT seq, body, spec FROM jobs WHERE id = ?1")
        .db()?
        .query_row([job_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .db()?;
    match found {
        Some((seq, body, spec)) => Ok((seq, from_json(&body)?, from_json(&spec)?)),
        None => Err(Error::new(
            ErrorCode::JobNotFound,
            format!("no job with id {job_id:?}"),
        )),
    }
}

pub(super) fn save_job(
    conn: &Connection,
    job_seq: i64,
    job: &Job,
    spec: Option<&Value>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE jobs SET running = ?2, body = ?3, spec = COALESCE(?4, spec) WHERE seq = ?1",
    )
    .db()?
    .execute(params![
        job_seq,
        job.status == JobStatus::Running,
        to_json(job)?,
        spec.map(to_json).transpose()?
    ])
    .db()?;
    Ok(())
}

pub(super) fn announce_codes_added(
    conn: &Connection,
    by: &Actor,
    job: &Job,
    now: Timestamp,
) -> Result<()> {
    if job.inserted > 0 {
        let view = match load_book_view(conn, &job.book_id, now) {
            Ok(view) => view,
            // Deleted while the job ran (announced as `book.deleted`): nothing to add to.
            Err(err) if err.code == ErrorCode::BookNotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        append_event(conn, by, event::BOOK_CODES_ADDED, &view, now)?;
    }
    Ok(())
}

/// Inserts a job's accepted codes into its book. A code that exists already is a
/// duplicate when this same job stored it (an earlier line of the file), else it
/// exists elsewhere. Generated codes also count into their shape's counter.
pub(super) fn insert_codes(
    conn: &Connection,
    book: &BookRow,
    job_seq: i64,
    intake: &CodeIntake,
    now: Timestamp,
) -> Result<BatchOutcome> {
    let mut seq: i64 = conn
        .prepare_cached("SELECT next_code_seq FROM books WHERE seq = ?1")
        .db()?
        .query_row([book.seq], |r| r.get(0))
        .db()?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO coupons (book_seq, seq, code, state, created_at, job_seq, details)
             VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6) ON CONFLICT (code) DO NOTHING",
        )
        .db()?;
    let mut owner = conn
        .prepare_cached("SELECT job_seq FROM coupons WHERE code = ?1")
        .db()?;
    let mut outcome = BatchOutcome::default();
    // In code order, the unique index is written page after page instead of at
    // random places: bulk inserts run much faster.
    let mut in_order: Vec<&(u64, String)> = intake.accepted.iter().collect();
    in_order.sort_unstable_by(|a, b| a.1.cmp(&b.1));
    for (line, code) in in_order {
        seq += 1;
        let details = intake.details.get(code).and_then(|d| d.to_stored());
        if insert
            .execute(params![book.seq, seq, code, now.0, job_seq, details])
            .db()?
            == 1
        {
            outcome.inserted += 1;
            continue;
        }
        let stored_by: Option<i64> = owner.query_row([code], |r| r.get(0)).db()?;
        if stored_by == Some(job_seq) {
            outcome.duplicates.push((*line, code.clone()));
        } else {
            outcome.already_exist.push((*line, code.clone()));
        }
    }
    conn.prepare_cached(
        "UPDATE books SET next_code_seq = ?2, n_total = n_total + ?3,
           n_available = n_available + ?3, updated_at = ?4 WHERE seq = ?1",
    )
    .db()?
    .execute(params![book.seq, seq, outcome.inserted as i64, now.0])
    .db()?;
    if let Some(shape) = &intake.shape
        && outcome.inserted > 0
    {
        conn.prepare_cached(
            "INSERT INTO code_shapes (shape, generated) VALUES (?1, ?2)
             ON CONFLICT (shape) DO UPDATE SET generated = generated + excluded.generated",
        )
        .db()?
        .execute(params![shape, outcome.inserted as i64])
        .db()?;
    }
    Ok(outcome)
}
