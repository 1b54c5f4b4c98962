//! Bulk code jobs: generation from a pattern and upload of a file, in batches that
//! each commit together with the job's progress, so a job interrupted by a crash
//! resumes exactly where its last batch ended. Used by the HTTP API and the CLI.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::coupon::{Coupon, CouponStatus};
use crate::domain::job::{
    CodeIntake, Job, JobKind, JobStatus, MAX_RECORD_LINE, MAX_UPLOAD_LINE, UploadColumn,
    UploadLine, read_upload_header, read_upload_line, read_upload_record, write_safe_record,
};
use crate::domain::pattern::{CodePattern, GenerateSpec};
use crate::domain::{Error, PageRequest, Result, Timestamp, decode_cursor};
use crate::store::{DynStore, Write};

use super::spool::{Spool, SpoolFile};

/// Codes per committed batch: large enough to spread a commit over many rows, small
/// enough that one batch takes tens of milliseconds and progress moves visibly.
pub const BATCH: usize = 50_000;
/// Generation up to this many codes finishes inside the request (201).
pub const INLINE_GENERATE: u64 = 20_000;
/// Uploads up to this size finish inside the request (201).
pub const INLINE_UPLOAD_BYTES: u64 = 512 * 1024;
/// Batches in a row that store nothing before a generation gives up (space used up).
const MAX_FRUITLESS_BATCHES: u32 = 20;

/// What a job needs to resume, kept with the job in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resume {
    Generate(GenerateSpec),
    Upload(UploadCursor),
    Bulk(super::bulk::BulkSource),
}

/// Where an upload's next batch starts in its spooled file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadCursor {
    pub file: PathBuf,
    /// The file is the service's own copy of an HTTP upload, in the spool until the job
    /// ends (a CLI upload reads the operator's file in place and leaves it).
    #[serde(default)]
    pub spooled: bool,
    pub offset: u64,
    pub next_line: u64,
    pub header_seen: bool,
    /// The columns its header names, when beyond `code` (None: one code per line).
    #[serde(default)]
    pub columns: Option<Vec<UploadColumn>>,
}

pub(super) fn to_value(resume: &Resume) -> Result<Value> {
    serde_json::to_value(resume).map_err(|e| Error::internal(format!("encode job spec: {e}")))
}

/// A job too big to finish inside its request, where jobs cannot run in the background.
pub fn too_large_here(limit: &str) -> Error {
    Error::new(
        crate::domain::ErrorCode::PayloadTooLarge,
        format!(
            "{limit}: this deployment runs jobs inside the request (AWS Lambda); \
             load more with `coupon-book codes generate|upload --store dynamodb:<table>`"
        ),
    )
}

/// Checks a generation request against the book and the codes already stored, and
/// records the job. Refuses before any work when the pattern's space is too small, or
/// when the count (the request's or the book's default) is over `most`, the largest
/// this caller can run.
pub async fn start_generate(
    store: &DynStore,
    book_id: &str,
    request: GenerateSpec,
    write: Write,
    most: Option<u64>,
) -> Result<(Job, GenerateSpec)> {
    // The request's own fields are checked before the book is looked up.
    request.check_fields()?;
    let book = store.get_book(book_id).await?;
    let defaults = match &book.settings.code_pattern {
        Some(value) => Some(
            serde_json::from_value::<GenerateSpec>(value.clone()).map_err(|_| {
                Error::invalid(
                    "code_pattern",
                    "the book's code_pattern is not a valid generation spec",
                )
            })?,
        ),
        None => None,
    };
    let spec = request.with_defaults(defaults.as_ref());
    let count = spec.count()?;
    if let Some(most) = most
        && count > most
    {
        return Err(too_large_here(&format!(
            "generate at most {most} codes per request here"
        )));
    }
    let pattern = CodePattern::parse(&spec)?;
    let existing = store.generated_count(&pattern.shape()).await?;
    pattern.check_capacity(count, existing)?;
    let resume = to_value(&Resume::Generate(spec.clone()))?;
    let job = store
        .create_job(book_id, JobKind::Generate, count, resume, write)
        .await?;
    Ok((job, spec))
}

/// Generates and stores the job's remaining codes. Codes that collide with stored ones
/// are simply generated again; the job counts only codes it stored. A job that cannot
/// go on ends `failed` with the counts it reached.
pub async fn run_generate(
    store: &DynStore,
    job: Job,
    spec: GenerateSpec,
    progress: &(dyn Fn(&Job) + Send + Sync),
) -> Result<Job> {
    let job_id = job.id.clone();
    let result = generate_batches(store, job, spec, progress).await;
    if let Err(err) = &result {
        end_failed(store, &job_id, err).await;
    }
    result
}

async fn generate_batches(
    store: &DynStore,
    mut job: Job,
    spec: GenerateSpec,
    progress: &(dyn Fn(&Job) + Send + Sync),
) -> Result<Job> {
    let pattern = CodePattern::parse(&spec)?;
    let shape = pattern.shape();
    let resume = to_value(&Resume::Generate(spec))?;
    let mut fruitless = 0;
    while job.inserted < job.total {
        let want = (job.total - job.inserted).min(BATCH as u64) as usize;
        let pattern = pattern.clone();
        let codes = tokio::task::spawn_blocking(move || {
            let mut rng = rand::rng();
            let mut codes = HashSet::with_capacity(want);
            while codes.len() < want {
                codes.insert(pattern.generate(&mut rng));
            }
            codes
        })
        .await
        .map_err(|e| Error::internal(format!("generator task: {e}")))?;
        let before = job.inserted;
        let intake =
            CodeIntake::from_codes(codes.iter().map(String::as_str)).generated_in(shape.clone());
        job = store.add_job_codes(&job.id, intake, resume.clone()).await?;
        progress(&job);
        fruitless = if job.inserted == before {
            fruitless + 1
        } else {
            0
        };
        if fruitless >= MAX_FRUITLESS_BATCHES {
            tracing::warn!(job = %job.id, "generation found no free codes; stopping");
            return store.finish_job(&job.id, JobStatus::Failed).await;
        }
    }
    store.finish_job(&job.id, JobStatus::Succeeded).await
}

/// The columns an upload's header names beyond `code` (None: one code per line); an
/// unknown column is a 400 `field: "header"`.
pub fn upload_columns(path: &Path) -> Result<Option<Vec<UploadColumn>>> {
    let io = |e: std::io::Error| Error::internal(format!("read upload: {e}"));
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let (consumed, _, ended) =
            read_line_bounded(&mut reader, &mut line, MAX_RECORD_LINE).map_err(io)?;
        let text = String::from_utf8_lossy(&line);
        if !text.trim().trim_start_matches('\u{feff}').is_empty() {
            return read_upload_header(&text);
        }
        if consumed == 0 || ended {
            return Ok(None);
        }
    }
}

/// Counts the code lines of a spooled upload (blank lines and the header excluded).
pub fn count_code_lines(path: &Path, columns: Option<Vec<UploadColumn>>) -> Result<u64> {
    let mut cursor = UploadCursor {
        file: path.to_path_buf(),
        spooled: false,
        offset: 0,
        next_line: 1,
        header_seen: false,
        columns,
    };
    let mut total = 0;
    loop {
        let (intake, next, done) = read_batch(&cursor, usize::MAX, true)?;
        total += intake.lines;
        cursor = next;
        if done {
            return Ok(total);
        }
    }
}

/// Records an upload job for a file (`spooled`: the service's own copy, removed when
/// the job ends).
pub async fn start_upload(
    store: &DynStore,
    book_id: &str,
    file: &Path,
    spooled: bool,
    write: Write,
) -> Result<(Job, UploadCursor)> {
    let path = file.to_path_buf();
    let (total, columns) = tokio::task::spawn_blocking(move || {
        let columns = upload_columns(&path)?;
        Ok::<_, Error>((count_code_lines(&path, columns.clone())?, columns))
    })
    .await
    .map_err(|e| Error::internal(format!("count task: {e}")))??;
    let cursor = UploadCursor {
        file: file.to_path_buf(),
        spooled,
        offset: 0,
        next_line: 1,
        header_seen: false,
        columns,
    };
    let resume = to_value(&Resume::Upload(cursor.clone()))?;
    let job = store
        .create_job(book_id, JobKind::Upload, total, resume, write)
        .await?;
    Ok((job, cursor))
}

/// Ends a job that cannot go on as `failed`, with the counts it reached. Returns
/// whether the store recorded it; if not, the job still shows running and the next
/// start resumes it.
async fn end_failed(store: &DynStore, job_id: &str, err: &Error) -> bool {
    tracing::warn!(job = %job_id, error = %err, "job stopped; ending it as failed");
    match store.finish_job(job_id, JobStatus::Failed).await {
        Ok(_) => true,
        Err(finish) => {
            tracing::error!(job = %job_id, error = %finish, "cannot record the job as failed; a restart resumes it");
            false
        }
    }
}

/// Stores an upload's lines from `cursor` on, batch by batch. A job that cannot go on
/// ends `failed` with the counts it reached. `spooled` is the file's place in the
/// spool: it is removed as the job ends, however it ends (kept only when the end
/// could not be recorded, for the next start to resume).
pub async fn run_upload(
    store: &DynStore,
    job: Job,
    cursor: UploadCursor,
    spooled: Option<SpoolFile>,
    progress: &(dyn Fn(&Job) + Send + Sync),
) -> Result<Job> {
    let job_id = job.id.clone();
    let result = upload_batches(store, job, cursor, progress).await;
    settle(store, &job_id, result, spooled).await
}

/// Ends a job's run: a failure is recorded as `failed`, and the job's spool file is
/// removed however the job ended, unless the end could not be recorded (the next start
/// resumes from the file).
pub(super) async fn settle(
    store: &DynStore,
    job_id: &str,
    result: Result<Job>,
    spooled: Option<SpoolFile>,
) -> Result<Job> {
    let ended = match &result {
        Ok(_) => true,
        Err(err) => end_failed(store, job_id, err).await,
    };
    if let Some(file) = spooled
        && !ended
    {
        file.keep();
    }
    result
}

async fn upload_batches(
    store: &DynStore,
    mut job: Job,
    mut cursor: UploadCursor,
    progress: &(dyn Fn(&Job) + Send + Sync),
) -> Result<Job> {
    loop {
        let from = cursor.clone();
        let (intake, next, done) =
            tokio::task::spawn_blocking(move || read_batch(&from, BATCH, false))
                .await
                .map_err(|e| Error::internal(format!("reader task: {e}")))??;
        if !intake.is_empty() {
            let resume = to_value(&Resume::Upload(next.clone()))?;
            job = store.add_job_codes(&job.id, intake, resume).await?;
            progress(&job);
        }
        cursor = next;
        if done {
            break;
        }
    }
    store.finish_job(&job.id, JobStatus::Succeeded).await
}

/// Reads up to `max_lines` code lines from the cursor; returns them, the cursor after
/// them, and whether the file ended. Memory stays bounded whatever the file holds:
/// lines longer than any code are cut while reading.
fn read_batch(
    cursor: &UploadCursor,
    max_lines: usize,
    count_only: bool,
) -> Result<(CodeIntake, UploadCursor, bool)> {
    let io = |e: std::io::Error| Error::internal(format!("read upload: {e}"));
    let mut file = File::open(&cursor.file).map_err(io)?;
    file.seek(SeekFrom::Start(cursor.offset)).map_err(io)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut next = cursor.clone();
    let mut intake = CodeIntake::default();
    let mut line = Vec::with_capacity(MAX_UPLOAD_LINE);
    let max_line = match cursor.columns {
        Some(_) => MAX_RECORD_LINE,
        None => MAX_UPLOAD_LINE,
    };
    while (intake.lines as usize) < max_lines {
        line.clear();
        let (consumed, truncated, ended) =
            read_line_bounded(&mut reader, &mut line, max_line).map_err(io)?;
        if consumed == 0 {
            return Ok((intake, next, true));
        }
        next.offset += consumed;
        let number = next.next_line;
        next.next_line += 1;
        if let Some(columns) = &cursor.columns {
            read_record_line(
                &line,
                truncated,
                columns,
                number,
                count_only,
                &mut next,
                &mut intake,
            );
            if ended {
                return Ok((intake, next, true));
            }
            continue;
        }
        match read_upload_line(&line, truncated, !next.header_seen) {
            UploadLine::Blank => {}
            UploadLine::Header => next.header_seen = true,
            other => {
                next.header_seen = true;
                match other {
                    _ if count_only => intake.lines += 1,
                    UploadLine::Code(code) => intake.push(number, code),
                    UploadLine::Unreadable(shown, reason) => {
                        intake.push_invalid(number, shown, reason)
                    }
                    UploadLine::Blank | UploadLine::Header => {}
                }
            }
        }
        if ended {
            return Ok((intake, next, true));
        }
    }
    let at_end = reader.fill_buf().map_err(io)?.is_empty();
    Ok((intake, next, at_end))
}

/// One line of an upload with data columns: the header (the first line with content)
/// is skipped; a record gives a code with its data, or the line's reason.
fn read_record_line(
    raw: &[u8],
    truncated: bool,
    columns: &[UploadColumn],
    number: u64,
    count_only: bool,
    next: &mut UploadCursor,
    intake: &mut CodeIntake,
) {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let text = String::from_utf8_lossy(raw);
    if text.trim().is_empty() {
        return;
    }
    if !next.header_seen {
        next.header_seen = true;
        return;
    }
    let shown = || text.trim().chars().take(40).collect::<String>();
    if count_only {
        intake.lines += 1;
    } else if std::str::from_utf8(raw).is_err() {
        intake.push_invalid(number, shown(), "not valid UTF-8");
    } else if truncated {
        intake.push_invalid(number, shown(), "too long (16 KiB per line)");
    } else {
        match read_upload_record(&text, columns) {
            Ok((code, details)) => intake.push_with(number, &code, details),
            Err((shown, reason)) => intake.push_invalid(number, shown, &reason),
        }
    }
}

/// Reads one line (without `\n`), keeping at most `max` bytes of it.
/// Returns (bytes consumed, whether it was cut, whether the file ended with it).
pub(super) fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(u64, bool, bool)> {
    let mut consumed = 0u64;
    let mut truncated = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((consumed, truncated, true));
        }
        let (chunk, found) = match buf.iter().position(|b| *b == b'\n') {
            Some(at) => (&buf[..at], Some(at)),
            None => (buf, None),
        };
        let room = max.saturating_sub(line.len());
        if chunk.len() > room {
            truncated = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = found.map(|at| at + 1).unwrap_or(buf.len());
        reader.consume(used);
        consumed += used as u64;
        if found.is_some() {
            return Ok((consumed, truncated, false));
        }
    }
}

/// Resumes the jobs a stop left running: generations continue; uploads continue from
/// their spooled file, or end `failed` (with exact counts) when the file is gone. Spool
/// files no job needs (uploads cut short by the stop, jobs that ended) are removed
/// first; a job whose file another process holds is left to that process.
pub async fn resume_unfinished(store: DynStore, spool: &Spool) -> Result<()> {
    let unfinished = store.unfinished_jobs().await?;
    let needed: HashSet<OsString> = unfinished
        .iter()
        .filter_map(
            |(_, spec)| match serde_json::from_value::<Resume>(spec.clone()) {
                Ok(Resume::Upload(cursor)) if cursor.spooled => {
                    cursor.file.file_name().map(OsString::from)
                }
                Ok(Resume::Bulk(source)) => source
                    .spooled_file()
                    .and_then(|f| f.file_name().map(OsString::from)),
                _ => None,
            },
        )
        .collect();
    let (files, bytes) = spool.sweep(&needed);
    if files > 0 {
        tracing::info!(files, bytes, "removed spool files no job needs");
    }
    for (job, spec) in unfinished {
        let store = store.clone();
        match serde_json::from_value::<Resume>(spec) {
            Ok(Resume::Generate(spec)) => {
                tracing::info!(job = %job.id, "resuming code generation");
                tokio::spawn(
                    async move { log_outcome(run_generate(&store, job, spec, &|_| {}).await) },
                );
            }
            Ok(Resume::Bulk(source)) => super::bulk::resume(store, spool, job, source).await?,
            Ok(Resume::Upload(cursor)) if cursor.file.exists() => {
                let spooled = if cursor.spooled {
                    match spool.adopt(&cursor.file) {
                        Ok(Some(file)) => Some(file),
                        Ok(None) => {
                            tracing::info!(job = %job.id, "upload runs in another process");
                            continue;
                        }
                        Err(err) => {
                            tracing::warn!(job = %job.id, error = %err, "cannot read the upload; ending the job as failed");
                            store.finish_job(&job.id, JobStatus::Failed).await?;
                            continue;
                        }
                    }
                } else {
                    None
                };
                tracing::info!(job = %job.id, "resuming upload");
                tokio::spawn(async move {
                    log_outcome(run_upload(&store, job, cursor, spooled, &|_| {}).await)
                });
            }
            _ => {
                tracing::warn!(job = %job.id, "upload data is gone; ending the job as failed");
                store.finish_job(&job.id, JobStatus::Failed).await?;
            }
        }
    }
    Ok(())
}

/// The export's first line. An export uploads into an empty book as it is: the upload
/// reads `code` and the code's own data, and ignores the state columns.
pub const EXPORT_HEADER: &[u8] =
    b"code,status,assigned_to,redemption_count,created_at,starts_at,expires_at,metadata,reward\n";
/// Coupons read per page while exporting: memory stays constant whatever the book holds.
pub const EXPORT_PAGE: u32 = 1000;

/// One page of an export, as CSV rows; no cell can start a spreadsheet formula.
pub fn export_rows(coupons: &[Coupon]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(coupons.len() * 64));
    for coupon in coupons {
        let status = serde_json::to_value(coupon.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let count = coupon.redemption_count.to_string();
        let created_at = coupon.created_at.to_rfc3339();
        let time = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339).unwrap_or_default();
        let json = |v: Option<String>| v.unwrap_or_default();
        let (starts_at, expires_at) = (time(coupon.starts_at), time(coupon.expires_at));
        let metadata = json(
            coupon
                .metadata
                .as_ref()
                .and_then(|m| serde_json::to_string(m).ok()),
        );
        let reward = json(
            coupon
                .reward
                .as_ref()
                .and_then(|r| serde_json::to_string(r).ok()),
        );
        let cells = [
            coupon.code.as_str(),
            status.as_str(),
            coupon.assigned_to.as_deref().unwrap_or(""),
            &count,
            &created_at,
            &starts_at,
            &expires_at,
            &metadata,
            &reward,
        ];
        write_safe_record(&mut writer, &cells);
    }
    writer.into_inner().unwrap_or_default()
}

/// Which codes an export takes: of one status, assigned to one user (each read through
/// its index).
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub status: Option<CouponStatus>,
    pub assigned_to: Option<String>,
}

/// The export page after `cursor` (None: the first), with the cursor of the next one.
pub async fn export_page(
    store: &DynStore,
    book_id: &str,
    filter: &ExportFilter,
    cursor: Option<&str>,
) -> Result<(Vec<u8>, Option<String>)> {
    let page = PageRequest {
        after: match cursor {
            Some(text) => Some(
                decode_cursor(text).ok_or_else(|| Error::invalid("cursor", "unknown cursor"))?,
            ),
            None => None,
        },
        limit: EXPORT_PAGE,
    };
    let page = match &filter.assigned_to {
        Some(user_id) => {
            store
                .user_coupons(user_id, Some(book_id), filter.status, page)
                .await?
        }
        None => store.list_codes(book_id, filter.status, page).await?,
    };
    Ok((export_rows(&page.data), page.next_cursor))
}

pub fn log_outcome(result: Result<Job>) {
    match result {
        Ok(job) => {
            tracing::info!(job = %job.id, status = ?job.status, inserted = job.inserted, "job finished")
        }
        Err(err) => tracing::error!(error = %err, "job failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn batches_cover_every_line_once_with_bounded_lines() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("upload.csv");
        let mut file = File::create(&path).expect("create");
        let long = "X".repeat(10_000);
        write!(
            file,
            "\u{feff}code\r\nAAA-1\r\n\r\naaa-1\n{long}\nBB\n\u{00e9}t\u{00e9}\nCCC-3"
        )
        .expect("write");
        drop(file);
        assert_eq!(count_code_lines(&path, None).expect("count"), 6);
        let start = UploadCursor {
            file: path.clone(),
            spooled: false,
            offset: 0,
            next_line: 1,
            header_seen: false,
            columns: None,
        };
        let (first, next, done) = read_batch(&start, 2, false).expect("read");
        assert!(!done);
        assert_eq!(first.accepted, vec![(2, "AAA-1".to_string())]);
        assert_eq!(first.duplicates.len(), 1);
        let (rest, _, done) = read_batch(&next, 100, false).expect("read");
        assert!(done);
        assert_eq!(rest.lines, 4);
        assert_eq!(
            rest.invalid.iter().map(|e| e.line).collect::<Vec<_>>(),
            [5, 6, 7]
        );
        assert_eq!(rest.accepted, vec![(8, "CCC-3".to_string())]);
    }
}
