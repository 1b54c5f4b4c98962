//! Code intake (JSON lists and uploads) and the jobs that report on it.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::coupon::{CodeInput, CouponDetails, code_problem, normalize_code};
use super::error::Result;
use super::event::Actor;
use super::time::Timestamp;

/// Rejected lines kept in a job report.
pub const MAX_REPORTED_ERRORS: usize = 100;
/// Codes in one `POST /v1/books/{id}/codes` request.
pub const MAX_CODES_PER_REQUEST: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Generate,
    Upload,
    Assign,
    Void,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobError {
    pub line: u64,
    pub code: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub book_id: String,
    pub status: JobStatus,
    pub total: u64,
    pub processed: u64,
    pub inserted: u64,
    pub duplicates_in_file: u64,
    pub already_exist: u64,
    pub invalid: u64,
    /// Bulk jobs' counts (0 for other kinds).
    #[serde(default)]
    pub assigned: u64,
    #[serde(default)]
    pub limit_reached: u64,
    #[serde(default)]
    pub exhausted: u64,
    #[serde(default)]
    pub voided: u64,
    #[serde(default)]
    pub deleted: u64,
    #[serde(default)]
    pub not_found: u64,
    #[serde(default)]
    pub in_use: u64,
    pub errors: Vec<JobError>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Who started the job (its own changes are the system's, named by the job id).
    #[serde(default = "Actor::unrecorded")]
    #[schema(required = true)]
    pub started_by: Actor,
}

/// Codes sorted out from a list: what to insert and what was refused before storage.
#[derive(Debug, Default)]
pub struct CodeIntake {
    /// Lines counted (blank lines and the header are not).
    pub lines: u64,
    /// (line, normalized code), unique within this intake.
    pub accepted: Vec<(u64, String)>,
    pub invalid: Vec<JobError>,
    pub duplicates: Vec<JobError>,
    /// The generation shape (`CodePattern::shape`) these codes were made in; the
    /// store counts the ones it inserts under it. Uploads have none.
    pub shape: Option<String>,
    /// The data of accepted codes that carry any, by code.
    pub details: HashMap<String, CouponDetails>,
    seen: HashSet<String>,
}

impl CodeIntake {
    /// Sorts a list of codes, one per line (1-based line numbers).
    pub fn from_codes<'a>(codes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut intake = CodeIntake::default();
        for (index, raw) in codes.into_iter().enumerate() {
            intake.push(index as u64 + 1, raw);
        }
        intake
    }

    /// The same intake, as codes generated in `shape`.
    pub fn generated_in(self, shape: String) -> Self {
        CodeIntake {
            shape: Some(shape),
            ..self
        }
    }

    /// Sorts the entries of a JSON code list; a bad field of an entry is an error
    /// naming it (`codes[3].reward.currency`).
    pub fn from_inputs(inputs: &[CodeInput]) -> Result<Self> {
        let mut intake = CodeIntake::default();
        for (index, input) in inputs.iter().enumerate() {
            let (code, details) = input.read(&format!("codes[{index}]."))?;
            intake.push_with(index as u64 + 1, &code, details);
        }
        Ok(intake)
    }

    /// Counts one code line that carries data of its own.
    pub fn push_with(&mut self, line: u64, raw: &str, details: CouponDetails) {
        let accepted = self.accepted.len();
        self.push(line, raw);
        if self.accepted.len() > accepted
            && !details.is_empty()
            && let Some((_, code)) = self.accepted.last()
        {
            self.details.insert(code.clone(), details);
        }
    }

    /// Counts one code line.
    pub fn push(&mut self, line: u64, raw: &str) {
        self.lines += 1;
        match normalize_code(raw) {
            None => self.invalid.push(JobError {
                line,
                code: raw.chars().take(100).collect(),
                reason: code_problem(raw).to_string(),
            }),
            Some(code) if self.seen.contains(&code) => self.duplicates.push(JobError {
                line,
                code,
                reason: "duplicate in file".to_string(),
            }),
            Some(code) => {
                self.seen.insert(code.clone());
                self.accepted.push((line, code));
            }
        }
    }

    /// Counts one line that is not valid text.
    pub fn push_invalid(&mut self, line: u64, shown: String, reason: &str) {
        self.lines += 1;
        self.invalid.push(JobError {
            line,
            code: shown,
            reason: reason.to_string(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }
}

/// One line of an uploaded file, as read.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadLine<'a> {
    Blank,
    /// The optional `code` header (only as the first non-blank line).
    Header,
    Code(&'a str),
    /// Not UTF-8, or longer than any code could be.
    Unreadable(String, &'static str),
}

/// Longest line kept from an upload; anything longer is reported as too long.
pub const MAX_UPLOAD_LINE: usize = 256;

/// First characters that make a spreadsheet read a cell as a formula (tab and carriage
/// return can hide one behind blank space).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as exports write it: one that a spreadsheet would run as a formula gets a
/// leading `'`, which makes it plain text there. Exported values can come from users
/// (`assigned_to`), so a cell must never be able to start a formula.
pub fn spreadsheet_safe_cell(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Writes one CSV record of an export, every cell made spreadsheet-safe.
pub fn write_safe_record<W: std::io::Write>(writer: &mut csv::Writer<W>, cells: &[&str]) {
    // Writing into memory cannot fail.
    let _ = writer.write_record(
        cells
            .iter()
            .map(|c| spreadsheet_safe_cell(c))
            .collect::<Vec<_>>()
            .iter()
            .map(|c| c.as_bytes()),
    );
}

/// The reverse of `spreadsheet_safe_cell` for uploads: a cell that starts with `'`
/// followed by a formula's first character is read without that `'`.
pub fn read_spreadsheet_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// Reads one upload line (without its `\n`): trims a `\r`, a UTF-8 BOM, spaces and
/// surrounding double quotes, and drops the `'` an export puts before a cell that
/// would read as a formula. `truncated` says the line was longer than kept.
pub fn read_upload_line(raw: &[u8], truncated: bool, first_content: bool) -> UploadLine<'_> {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let Ok(text) = std::str::from_utf8(raw) else {
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(40)]).into_owned();
        return UploadLine::Unreadable(shown, "not valid UTF-8");
    };
    let text = text.trim();
    if truncated {
        return UploadLine::Unreadable(
            text.chars().take(40).collect(),
            "too long (3..64 characters)",
        );
    }
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let text = read_spreadsheet_cell(text);
    if text.is_empty() {
        UploadLine::Blank
    } else if first_content && text.eq_ignore_ascii_case("code") {
        UploadLine::Header
    } else {
        UploadLine::Code(text)
    }
}

/// Longest line of an upload with data columns (a code's metadata and reward are JSON
/// cells of up to a few KiB).
pub const MAX_RECORD_LINE: usize = 16 * 1024;

/// What one column of an upload with a header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadColumn {
    Code,
    StartsAt,
    ExpiresAt,
    Metadata,
    Reward,
    /// A state column of the export (`status`, `assigned_to`, ...): read and ignored.
    Ignored,
}

/// Reads a header line that names columns beyond `code`; `Ok(None)` when the line is
/// not such a header (a plain list of codes, with or without the `code` header).
/// A column the upload does not know -> 400 `field: "header"`.
pub fn read_upload_header(line: &str) -> Result<Option<Vec<UploadColumn>>> {
    let line = line.trim_start_matches('\u{feff}').trim();
    let Some(cells) = csv_cells(line) else {
        return Ok(None);
    };
    let named_code = cells
        .first()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("code"));
    if !named_code || cells.len() < 2 {
        return Ok(None);
    }
    let mut columns = Vec::with_capacity(cells.len());
    for cell in &cells {
        let name = cell.trim().to_ascii_lowercase();
        let column = match name.as_str() {
            "code" if !columns.contains(&UploadColumn::Code) => UploadColumn::Code,
            "starts_at" => UploadColumn::StartsAt,
            "expires_at" => UploadColumn::ExpiresAt,
            "metadata" => UploadColumn::Metadata,
            "reward" => UploadColumn::Reward,
            "status" | "assigned_to" | "redemption_count" | "created_at" => UploadColumn::Ignored,
            _ => {
                return Err(super::error::Error::invalid(
                    "header",
                    format!(
                        "unknown column {name:?}: the columns are code, starts_at, expires_at, \
                         metadata, reward (and the export's status, assigned_to, \
                         redemption_count, created_at, which are ignored)"
                    ),
                ));
            }
        };
        columns.push(column);
    }
    Ok(Some(columns))
}

/// The cells of one CSV line; `None` if it is not one record.
fn csv_cells(line: &str) -> Option<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let record = reader.records().next()?.ok()?;
    Some(record.iter().map(str::to_owned).collect())
}

/// Reads one line of an upload with data columns: the raw code and its data, or what
/// to report for the line (the code or line as shown, and why).
pub fn read_upload_record(
    line: &str,
    columns: &[UploadColumn],
) -> std::result::Result<(String, CouponDetails), (String, String)> {
    let line = line.trim();
    let shown = || line.chars().take(40).collect::<String>();
    let Some(cells) = csv_cells(line) else {
        return Err((shown(), "not a CSV record".into()));
    };
    if cells.len() != columns.len() {
        return Err((
            shown(),
            format!(
                "{} cells where the header names {}",
                cells.len(),
                columns.len()
            ),
        ));
    }
    let mut code = String::new();
    let mut patch = super::coupon::UpdateCoupon::default();
    for (column, cell) in columns.iter().zip(&cells) {
        let cell = read_spreadsheet_cell(cell.trim());
        if cell.is_empty() {
            continue;
        }
        let value = |name: &str| -> std::result::Result<serde_json::Value, (String, String)> {
            serde_json::from_str(cell).map_err(|_| (shown(), format!("{name} is not JSON")))
        };
        match column {
            UploadColumn::Code => code = cell.to_string(),
            UploadColumn::StartsAt => patch.starts_at = Some(Some(cell.into())),
            UploadColumn::ExpiresAt => patch.expires_at = Some(Some(cell.into())),
            UploadColumn::Metadata => patch.metadata = Some(Some(value("metadata")?)),
            UploadColumn::Reward => patch.reward = Some(Some(value("reward")?)),
            UploadColumn::Ignored => {}
        }
    }
    let details = patch.apply(&CouponDetails::default()).map_err(|e| {
        let field = e.field.clone().unwrap_or_default();
        (code.clone(), format!("{field}: {}", e.message))
    })?;
    Ok((code, details))
}

/// What storage did with one batch of accepted codes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub inserted: u64,
    /// Accepted codes that exist in another book or were added before this job.
    pub already_exist: Vec<(u64, String)>,
    /// Accepted codes this same job stored from an earlier line.
    pub duplicates: Vec<(u64, String)>,
}

impl Job {
    pub fn start(
        id: String,
        kind: JobKind,
        book_id: String,
        total: u64,
        started_by: Actor,
        now: Timestamp,
    ) -> Job {
        Job {
            id,
            kind,
            book_id,
            status: JobStatus::Running,
            total,
            processed: 0,
            inserted: 0,
            duplicates_in_file: 0,
            already_exist: 0,
            invalid: 0,
            assigned: 0,
            limit_reached: 0,
            exhausted: 0,
            voided: 0,
            deleted: 0,
            not_found: 0,
            in_use: 0,
            errors: Vec::new(),
            created_at: now,
            finished_at: None,
            started_by,
        }
    }

    /// Counts one batch into the job. For uploads every line is counted once; for
    /// generation only stored codes count (collisions are simply generated again).
    pub fn absorb(&mut self, intake: CodeIntake, outcome: BatchOutcome) {
        self.inserted += outcome.inserted;
        if self.kind == JobKind::Generate {
            self.processed += outcome.inserted;
            return;
        }
        let rejected = |(line, code): (u64, String), reason: &str| JobError {
            line,
            code,
            reason: reason.to_string(),
        };
        self.processed += intake.lines;
        self.invalid += intake.invalid.len() as u64;
        self.duplicates_in_file += (intake.duplicates.len() + outcome.duplicates.len()) as u64;
        self.already_exist += outcome.already_exist.len() as u64;
        self.errors.extend(intake.invalid);
        self.errors.extend(intake.duplicates);
        self.errors.extend(
            outcome
                .duplicates
                .into_iter()
                .map(|d| rejected(d, "duplicate in file")),
        );
        self.errors.extend(
            outcome
                .already_exist
                .into_iter()
                .map(|d| rejected(d, "already exists")),
        );
        self.keep_reported_errors();
    }

    /// Keeps at most 100 rejected lines, invalid ones first, in line order.
    fn keep_reported_errors(&mut self) {
        if self.errors.len() > MAX_REPORTED_ERRORS {
            self.errors.sort_by_key(|e| (!is_invalid(e), e.line));
            self.errors.truncate(MAX_REPORTED_ERRORS);
        }
        self.errors.sort_by_key(|e| e.line);
    }

    pub fn finish(&mut self, status: JobStatus, now: Timestamp) {
        self.status = status;
        self.finished_at = Some(now);
    }
}

fn is_invalid(error: &JobError) -> bool {
    error.reason != "duplicate in file" && error.reason != "already exists"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_counted_once() {
        let intake = CodeIntake::from_codes(["abc1", "ABC1", "x", "good-2", "bad code"]);
        assert_eq!(intake.lines, 5);
        assert_eq!(intake.accepted.len(), 2);
        assert_eq!(intake.duplicates.len(), 1);
        assert_eq!(intake.invalid.len(), 2);
        let mut job = Job::start(
            "job_1".into(),
            JobKind::Upload,
            "book_1".into(),
            5,
            Actor::api_key("key_1"),
            Timestamp(0),
        );
        let outcome = BatchOutcome {
            inserted: 1,
            already_exist: vec![(4, "GOOD-2".into())],
            duplicates: Vec::new(),
        };
        job.absorb(intake, outcome);
        assert_eq!(job.inserted, 1);
        assert_eq!(job.processed, 5);
        assert_eq!(job.already_exist, 1);
        assert_eq!(
            job.inserted + job.duplicates_in_file + job.already_exist + job.invalid,
            job.total
        );
        assert_eq!(
            job.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
    }
}

#[cfg(test)]
mod upload_tests {
    use super::*;

    #[test]
    fn cells_that_would_run_as_formulas_are_exported_as_text() {
        for cell in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            let safe = spreadsheet_safe_cell(cell);
            assert_eq!(safe, format!("'{cell}"));
            assert_eq!(read_spreadsheet_cell(&safe), cell);
        }
        for cell in ["", "SUMMER-001", "user 1=2", "'quoted", "a-b", "'A"] {
            assert!(matches!(spreadsheet_safe_cell(cell), Cow::Borrowed(c) if c == cell));
            assert_eq!(read_spreadsheet_cell(cell), cell);
        }
    }

    #[test]
    fn an_escaped_code_uploads_without_its_quote() {
        assert_eq!(
            read_upload_line(b"'-ABC-1\r", false, false),
            UploadLine::Code("-ABC-1")
        );
        assert_eq!(
            read_upload_line(b"\"'-ABC-2\"", false, false),
            UploadLine::Code("-ABC-2")
        );
        // Only before a formula's first character: other quotes stay (and make the
        // code invalid).
        assert_eq!(
            read_upload_line(b"'ABC-3", false, false),
            UploadLine::Code("'ABC-3")
        );
    }

    #[test]
    fn upload_lines_are_read_leniently_but_exactly() {
        assert_eq!(
            read_upload_line(b"\xEF\xBB\xBFcode\r", false, true),
            UploadLine::Header
        );
        assert_eq!(
            read_upload_line(b"code", false, false),
            UploadLine::Code("code")
        );
        assert_eq!(read_upload_line(b"  \r", false, false), UploadLine::Blank);
        assert_eq!(
            read_upload_line(b"\"ab-1\"", false, false),
            UploadLine::Code("ab-1")
        );
        assert!(matches!(
            read_upload_line(b"\xff\xfe", false, false),
            UploadLine::Unreadable(_, _)
        ));
        assert!(matches!(
            read_upload_line(b"AAAA", true, false),
            UploadLine::Unreadable(_, _)
        ));
    }
}
