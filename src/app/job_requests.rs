//! A generation, upload or bulk job requested over the API: the job is recorded, then either
//! run inside the request or left running in the background, and a replay of the
//! request (same `Idempotency-Key`) answers the first request's job instead.

use std::future::Future;

use super::bulk::{self, BulkInput, INLINE_BULK_LINES};
use super::jobs::{self, INLINE_GENERATE, INLINE_UPLOAD_BYTES};
use super::spool::{Spool, SpoolFile};
use crate::domain::job::{Job, JobKind, JobStatus};
use crate::domain::pattern::GenerateSpec;
use crate::domain::{Error, ErrorCode, Result, Timestamp};
use crate::store::{DynStore, Write};

/// The answer to a job request: the job, still running (202) or finished (201).
#[derive(Debug)]
pub struct Submitted {
    pub job: Job,
    pub running: bool,
}

/// Starts a generation: inline when small (or when jobs cannot run on after their
/// request, which then refuses large counts), in the background otherwise.
pub async fn generate(
    store: &DynStore,
    book_id: &str,
    spec: GenerateSpec,
    write: Write,
    background_jobs: bool,
) -> Result<Submitted> {
    let most = (!background_jobs).then_some(INLINE_GENERATE);
    let request_began = Timestamp::now();
    let (job, spec) = jobs::start_generate(store, book_id, spec, write, most).await?;
    let inline = job.total <= INLINE_GENERATE;
    submit(store, job, request_began, inline, {
        let store = store.clone();
        move |job| async move { jobs::run_generate(&store, job, spec, &|_| {}).await }
    })
    .await
}

/// Refuses codes for a book that cannot take them, before an upload is spooled.
pub async fn check_book_takes_codes(store: &DynStore, book_id: &str) -> Result<()> {
    let book = store.get_book(book_id).await?;
    if !book.settings.status.accepts_codes() {
        return Err(Error::new(
            ErrorCode::BookNotActive,
            "codes cannot be added to an archived book",
        ));
    }
    Ok(())
}

/// Starts the upload of a spooled file of `size` bytes. The file leaves the spool
/// whenever no job will read it: refused here, a replay of an earlier request, or once
/// its job ends.
pub async fn upload(
    store: &DynStore,
    book_id: &str,
    spooled: SpoolFile,
    size: u64,
    write: Write,
    background_jobs: bool,
) -> Result<Submitted> {
    if !background_jobs && size > INLINE_UPLOAD_BYTES {
        return Err(jobs::too_large_here(&format!(
            "upload at most {} KiB per request here",
            INLINE_UPLOAD_BYTES / 1024
        )));
    }
    let request_began = Timestamp::now();
    let (job, cursor) = jobs::start_upload(store, book_id, spooled.path(), true, write).await?;
    let inline = size <= INLINE_UPLOAD_BYTES;
    // A replay never runs `run`, which drops the file with it.
    submit(store, job, request_began, inline, {
        let store = store.clone();
        move |job| async move {
            jobs::run_upload(&store, job, cursor, Some(spooled), &|_| {}).await
        }
    })
    .await
}

/// Starts a bulk assign, void or delete job: inline when small (or when jobs cannot
/// run on after their request, which then refuses larger ones), in the background
/// otherwise. A replay of the request answers the first request's job.
pub async fn bulk(
    store: &DynStore,
    spool: &Spool,
    book_id: &str,
    kind: JobKind,
    input: BulkInput,
    write: Write,
    background_jobs: bool,
) -> Result<Submitted> {
    let most = (!background_jobs).then_some(INLINE_BULK_LINES);
    let request_began = Timestamp::now();
    let started = bulk::start(store, spool, book_id, kind, input, write, most).await?;
    let inline = started.job.total <= INLINE_BULK_LINES;
    let (source, spooled) = (started.source, started.spooled);
    submit(store, started.job, request_began, inline, {
        let store = store.clone();
        move |job| async move { bulk::run(&store, job, source, spooled).await }
    })
    .await
}

/// Whether `job` is not this request's own: a replay answers with the job of the
/// first request, made before this one began (or already finished).
fn is_replay(job: &Job, request_began: Timestamp) -> bool {
    job.status != JobStatus::Running || job.created_at < request_began
}

/// Answers a recorded job: a replay with the stored job as it is now; a new job by
/// running it here (`inline`) or in the background.
async fn submit<F, Fut>(
    store: &DynStore,
    job: Job,
    request_began: Timestamp,
    inline: bool,
    run: F,
) -> Result<Submitted>
where
    F: FnOnce(Job) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Job>> + Send + 'static,
{
    if is_replay(&job, request_began) {
        let job = store.get_job(&job.id).await?;
        let running = job.status == JobStatus::Running;
        return Ok(Submitted { job, running });
    }
    if inline {
        let job = run(job).await?;
        return Ok(Submitted {
            job,
            running: false,
        });
    }
    let answer = job.clone();
    tokio::spawn(async move { jobs::log_outcome(run(job).await) });
    Ok(Submitted {
        job: answer,
        running: true,
    })
}
