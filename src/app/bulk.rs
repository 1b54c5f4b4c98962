//! Bulk assign, void and delete jobs: lines read from a spooled file (a CSV upload, or
//! a JSON request's entries) or from a status filter walked page by page, applied in
//! batches that each commit with the job's progress and the lines' results, so a job
//! interrupted by a crash resumes exactly after its last batch.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::bulk::{BulkLine, BulkResult, CsvLine, MAX_BULK_LINE, read_csv_line};
use crate::domain::coupon::CouponStatus;
use crate::domain::job::{Job, JobKind, JobStatus, write_safe_record};
use crate::domain::{Error, ErrorCode, PageRequest, Result, Timestamp, decode_cursor};
use crate::store::{DynStore, Write};

use super::jobs::{
    Resume, UploadCursor, log_outcome, read_line_bounded, settle, to_value, too_large_here,
};
use super::spool::{Spool, SpoolFile};

/// Lines per committed batch: a few hundred milliseconds of work at most, so progress
/// moves visibly and no transaction or lock is held for long.
pub const BULK_BATCH: usize = 1000;
/// Jobs up to this many lines finish inside the request (201); where jobs cannot run
/// in the background (AWS Lambda), larger ones are refused.
pub const INLINE_BULK_LINES: u64 = 10_000;
/// Results read per page of the results CSV.
pub const RESULTS_PAGE: u32 = 1000;
/// The results CSV's first line.
pub const RESULTS_HEADER: &[u8] = b"line,input,outcome,code\n";

/// Where a bulk job's lines come from and where its next batch starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkSource {
    /// A spooled CSV upload, one entry a line.
    Csv(UploadCursor),
    /// A JSON request's entries, spooled one JSON string a line.
    Json(UploadCursor),
    /// The book's codes of a status, walked page by page.
    Filter {
        status: CouponStatus,
        cursor: Option<String>,
        next_line: u64,
    },
}

impl BulkSource {
    /// The spool file the job reads, if any.
    pub fn spooled_file(&self) -> Option<&Path> {
        match self {
            BulkSource::Csv(cursor) | BulkSource::Json(cursor) if cursor.spooled => {
                Some(&cursor.file)
            }
            _ => None,
        }
    }
}

/// What a bulk request brings.
pub enum BulkInput {
    /// A spooled CSV upload.
    Csv(SpoolFile),
    /// The entries of a JSON body (at most `MAX_BULK_ENTRIES`).
    List(Vec<String>),
    /// Every code of the book in this status.
    Filter(CouponStatus),
}

/// A recorded bulk job, ready to run.
pub struct Started {
    pub job: Job,
    pub source: BulkSource,
    pub spooled: Option<SpoolFile>,
}

/// Checks a bulk request against its book and records the job. `most`: the largest
/// job this caller may run (None: any).
pub async fn start(
    store: &DynStore,
    spool: &Spool,
    book_id: &str,
    kind: JobKind,
    input: BulkInput,
    write: Write,
    most: Option<u64>,
) -> Result<Started> {
    let book = store.get_book(book_id).await?;
    if kind == JobKind::Assign {
        book.settings.check_usable(Timestamp::now())?;
    }
    let (source, spooled, total) = match input {
        BulkInput::Csv(file) => {
            let cursor = first_cursor(file.path());
            let reading = BulkSource::Csv(cursor.clone());
            let total = tokio::task::spawn_blocking(move || count_lines(kind, &reading))
                .await
                .map_err(|e| Error::internal(format!("count task: {e}")))??;
            (BulkSource::Csv(cursor), Some(file), total)
        }
        BulkInput::List(entries) => {
            let (mut file, mut writer) = spool.create()?;
            let io = |e: std::io::Error| Error::internal(format!("spool entries: {e}"));
            for entry in &entries {
                let mut line = serde_json::to_string(entry)
                    .map_err(|e| Error::internal(format!("encode entry: {e}")))?;
                line.push('\n');
                file.grow(line.len() as u64)?;
                writer.write_all(line.as_bytes()).map_err(io)?;
            }
            writer.sync_all().map_err(io)?;
            let total = entries.len() as u64;
            (
                BulkSource::Json(first_cursor(file.path())),
                Some(file),
                total,
            )
        }
        BulkInput::Filter(status) => {
            let total = book.counts.of(status);
            let source = BulkSource::Filter {
                status,
                cursor: None,
                next_line: 1,
            };
            (source, None, total)
        }
    };
    if let Some(most) = most
        && total > most
    {
        return Err(too_large_here(&format!(
            "at most {most} lines per bulk request here"
        )));
    }
    let spec = to_value(&Resume::Bulk(source.clone()))?;
    let job = store.create_job(book_id, kind, total, spec, write).await?;
    Ok(Started {
        job,
        source,
        spooled,
    })
}

fn first_cursor(file: &Path) -> UploadCursor {
    UploadCursor {
        file: file.to_path_buf(),
        spooled: true,
        offset: 0,
        next_line: 1,
        header_seen: false,
        columns: None,
    }
}

/// Applies the job's remaining lines, batch by batch, and ends it. A job that cannot
/// go on ends `failed` with the counts it reached. `spooled` leaves the spool as the
/// job ends (kept only when the end could not be recorded, for the next start).
pub async fn run(
    store: &DynStore,
    job: Job,
    source: BulkSource,
    spooled: Option<SpoolFile>,
) -> Result<Job> {
    let job_id = job.id.clone();
    let result = run_batches(store, job, source).await;
    settle(store, &job_id, result, spooled).await
}

async fn run_batches(store: &DynStore, mut job: Job, mut source: BulkSource) -> Result<Job> {
    loop {
        let (lines, next, done) = read_batch(store, &job, &source).await?;
        if !lines.is_empty() {
            let spec = to_value(&Resume::Bulk(next.clone()))?;
            job = apply_with_retries(store, &job.id, lines, spec).await?;
        }
        source = next;
        if done {
            break;
        }
    }
    store.finish_job(&job.id, JobStatus::Succeeded).await
}

/// Attempts at one batch before a passing store trouble (busy, unavailable) ends the
/// job `failed`; each waits twice as long as the one before, from 100 ms.
const BATCH_ATTEMPTS: u32 = 8;

/// Applies a batch, sending it again while the store is only busy: a batch sent again
/// repeats no line (see `CodeStore::apply_bulk`), so the job need not fail over it.
async fn apply_with_retries(
    store: &DynStore,
    job_id: &str,
    lines: Vec<BulkLine>,
    spec: serde_json::Value,
) -> Result<Job> {
    let mut pause = std::time::Duration::from_millis(100);
    for _ in 1..BATCH_ATTEMPTS {
        match store.apply_bulk(job_id, lines.clone(), spec.clone()).await {
            Err(err) if matches!(err.code, ErrorCode::StoreBusy | ErrorCode::StoreUnavailable) => {
                tracing::warn!(job = %job_id, error = %err, "bulk batch not applied; sending it again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    store.apply_bulk(job_id, lines, spec).await
}

/// The next batch of lines, the source after them, and whether the input ended.
async fn read_batch(
    store: &DynStore,
    job: &Job,
    source: &BulkSource,
) -> Result<(Vec<BulkLine>, BulkSource, bool)> {
    match source {
        BulkSource::Csv(_) | BulkSource::Json(_) => {
            let (kind, from) = (job.kind, source.clone());
            tokio::task::spawn_blocking(move || read_file_batch(kind, &from, BULK_BATCH, false))
                .await
                .map_err(|e| Error::internal(format!("reader task: {e}")))?
                .map(|(lines, _, next, done)| (lines, next, done))
        }
        BulkSource::Filter {
            status,
            cursor,
            next_line,
        } => {
            let after = match cursor {
                Some(text) => Some(
                    decode_cursor(text)
                        .ok_or_else(|| Error::internal("the job's cursor is not readable"))?,
                ),
                None => None,
            };
            let page = PageRequest {
                after,
                limit: BULK_BATCH as u32,
            };
            let page = store.list_codes(&job.book_id, Some(*status), page).await?;
            let lines: Vec<BulkLine> = page
                .data
                .iter()
                .enumerate()
                .map(|(i, coupon)| BulkLine::read(job.kind, next_line + i as u64, &coupon.code))
                .collect();
            let next = BulkSource::Filter {
                status: *status,
                next_line: next_line + lines.len() as u64,
                cursor: page.next_cursor.clone(),
            };
            Ok((lines, next, page.next_cursor.is_none()))
        }
    }
}

/// Counts the entry lines of a file source (blank lines and the header excluded).
fn count_lines(kind: JobKind, source: &BulkSource) -> Result<u64> {
    let mut source = source.clone();
    let mut total = 0;
    loop {
        let (_, counted, next, done) = read_file_batch(kind, &source, usize::MAX, true)?;
        total += counted;
        source = next;
        if done {
            return Ok(total);
        }
    }
}

/// Reads up to `max_lines` entries of a file source from its cursor: the lines (none
/// when `count_only`), how many, the source after them and whether the file ended.
fn read_file_batch(
    kind: JobKind,
    source: &BulkSource,
    max_lines: usize,
    count_only: bool,
) -> Result<(Vec<BulkLine>, u64, BulkSource, bool)> {
    let (cursor, json) = match source {
        BulkSource::Csv(cursor) => (cursor, false),
        BulkSource::Json(cursor) => (cursor, true),
        BulkSource::Filter { .. } => return Err(Error::internal("not a file source")),
    };
    let rewrap = |c: UploadCursor| {
        if json {
            BulkSource::Json(c)
        } else {
            BulkSource::Csv(c)
        }
    };
    let io = |e: std::io::Error| Error::internal(format!("read bulk file: {e}"));
    let mut file = File::open(&cursor.file).map_err(io)?;
    file.seek(SeekFrom::Start(cursor.offset)).map_err(io)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut next = cursor.clone();
    let mut lines = Vec::new();
    let mut counted = 0u64;
    // A JSON entry of 255 characters escaped as \uXXXX takes 6 bytes a character.
    let max = if json {
        6 * MAX_BULK_LINE
    } else {
        MAX_BULK_LINE
    };
    let mut raw = Vec::with_capacity(max);
    while (counted as usize) < max_lines {
        raw.clear();
        let (consumed, truncated, ended) =
            read_line_bounded(&mut reader, &mut raw, max).map_err(io)?;
        if consumed == 0 {
            return Ok((lines, counted, rewrap(next), true));
        }
        next.offset += consumed;
        let number = next.next_line;
        next.next_line += 1;
        let entry = if json {
            let text: Option<String> = if truncated {
                None
            } else {
                serde_json::from_slice(&raw).ok()
            };
            Some(match text {
                Some(text) => BulkLine::read(kind, number, &text),
                None => BulkLine {
                    line: number,
                    input: String::from_utf8_lossy(&raw[..raw.len().min(40)]).into_owned(),
                    item: None,
                },
            })
        } else {
            match read_csv_line(kind, number, &raw, truncated, !next.header_seen) {
                CsvLine::Blank => None,
                CsvLine::Header => {
                    next.header_seen = true;
                    None
                }
                CsvLine::Entry(line) => {
                    next.header_seen = true;
                    Some(line)
                }
            }
        };
        if let Some(line) = entry {
            counted += 1;
            if !count_only {
                lines.push(line);
            }
        }
        if ended {
            return Ok((lines, counted, rewrap(next), true));
        }
    }
    let at_end = reader.fill_buf().map_err(io)?.is_empty();
    Ok((lines, counted, rewrap(next), at_end))
}

/// Resumes a bulk job a stop left running: from its spooled file (ended `failed`,
/// with exact counts, when the file is gone) or its filter's cursor.
pub async fn resume(store: DynStore, spool: &Spool, job: Job, source: BulkSource) -> Result<()> {
    let spooled = match source.spooled_file() {
        None => None,
        Some(path) if !path.exists() => {
            tracing::warn!(job = %job.id, "bulk job's input is gone; ending the job as failed");
            store.finish_job(&job.id, JobStatus::Failed).await?;
            return Ok(());
        }
        Some(path) => match spool.adopt(path) {
            Ok(Some(file)) => Some(file),
            Ok(None) => {
                tracing::info!(job = %job.id, "bulk job runs in another process");
                return Ok(());
            }
            Err(err) => {
                tracing::warn!(job = %job.id, error = %err, "cannot read the bulk job's input; ending the job as failed");
                store.finish_job(&job.id, JobStatus::Failed).await?;
                return Ok(());
            }
        },
    };
    tracing::info!(job = %job.id, kind = ?job.kind, "resuming bulk job");
    tokio::spawn(async move { log_outcome(run(&store, job, source, spooled).await) });
    Ok(())
}

/// One page of a job's results as CSV rows, with the line to read on from (None: that
/// was the last page). Jobs other than bulk jobs keep no per-line results.
pub async fn results_page(
    store: &DynStore,
    job_id: &str,
    after: u64,
) -> Result<(Vec<u8>, Option<u64>)> {
    let results = store.job_results(job_id, after, RESULTS_PAGE).await?;
    let next = (results.len() == RESULTS_PAGE as usize)
        .then(|| results.last().map(|r| r.line))
        .flatten();
    Ok((result_rows(&results), next))
}

/// Results as CSV rows; no cell can start a spreadsheet formula.
pub fn result_rows(results: &[BulkResult]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(results.len() * 48));
    for result in results {
        let line = result.line.to_string();
        let cells = [
            line.as_str(),
            result.input.as_str(),
            result.outcome.as_str(),
            result.code.as_deref().unwrap_or(""),
        ];
        write_safe_record(&mut writer, &cells);
    }
    writer.into_inner().unwrap_or_default()
}
