//! Bulk jobs over many users or codes (assign, void, delete): their lines, the outcome
//! of each line, and how outcomes count into the job.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::coupon::{is_valid_user_id, normalize_code};
use super::error::{Error, ErrorCode};
use super::job::{Job, JobKind};

/// Entries in one JSON bulk request.
pub const MAX_BULK_ENTRIES: usize = 10_000;

/// What became of one line of a bulk job (the names of the job's counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkOutcome {
    Assigned,
    LimitReached,
    Exhausted,
    Invalid,
    Voided,
    Deleted,
    NotFound,
    InUse,
}

impl BulkOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkOutcome::Assigned => "assigned",
            BulkOutcome::LimitReached => "limit_reached",
            BulkOutcome::Exhausted => "exhausted",
            BulkOutcome::Invalid => "invalid",
            BulkOutcome::Voided => "voided",
            BulkOutcome::Deleted => "deleted",
            BulkOutcome::NotFound => "not_found",
            BulkOutcome::InUse => "in_use",
        }
    }

    pub fn parse(text: &str) -> Option<BulkOutcome> {
        use BulkOutcome::*;
        [
            Assigned,
            LimitReached,
            Exhausted,
            Invalid,
            Voided,
            Deleted,
            NotFound,
            InUse,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }

    /// The outcome of an assignment refused by the assign-next rule, if the refusal
    /// is one a bulk job reports per line (others stop the job).
    pub fn of_assign_refusal(error: &Error) -> Option<BulkOutcome> {
        match error.code {
            ErrorCode::UserCouponLimitReached => Some(BulkOutcome::LimitReached),
            ErrorCode::BookExhausted => Some(BulkOutcome::Exhausted),
            _ => None,
        }
    }
}

/// One input line of a bulk job: its number, the text as read (kept for the results),
/// and the user id or normalized code it names (`None`: invalid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkLine {
    pub line: u64,
    pub input: String,
    pub item: Option<String>,
}

/// Longest input kept in a line's result.
const MAX_KEPT_INPUT: usize = 300;

impl BulkLine {
    /// Reads one line for a job of `kind`: a user id for assign, a code otherwise.
    pub fn read(kind: JobKind, line: u64, input: &str) -> BulkLine {
        let item = match kind {
            JobKind::Assign => is_valid_user_id(input).then(|| input.to_string()),
            _ => normalize_code(input),
        };
        BulkLine {
            line,
            input: input.chars().take(MAX_KEPT_INPUT).collect(),
            item,
        }
    }
}

/// Longest line kept from a bulk file: a user id of 255 characters of up to four bytes,
/// with quotes and spaces. Anything longer is invalid (and cut while reading).
pub const MAX_BULK_LINE: usize = 1100;

/// One line of a bulk CSV file, as read.
#[derive(Debug, PartialEq, Eq)]
pub enum CsvLine {
    Blank,
    /// The optional header (`user_id` or `code`) as the first non-blank line.
    Header,
    Entry(BulkLine),
}

/// Reads line `number` of a bulk CSV (without its `\n`): trims a UTF-8 BOM, spaces
/// and a `\r`, surrounding double quotes, and the `'` an export puts before a cell
/// that would read as a formula. `truncated`: the line was longer than kept.
pub fn read_csv_line(
    kind: JobKind,
    number: u64,
    raw: &[u8],
    truncated: bool,
    first_content: bool,
) -> CsvLine {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let invalid = |shown: String| {
        CsvLine::Entry(BulkLine {
            line: number,
            input: shown,
            item: None,
        })
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return invalid(String::from_utf8_lossy(&raw[..raw.len().min(40)]).into_owned());
    };
    let text = text.trim();
    if truncated {
        return invalid(text.chars().take(40).collect());
    }
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let text = super::job::read_spreadsheet_cell(text);
    let header = if kind == JobKind::Assign {
        "user_id"
    } else {
        "code"
    };
    if text.is_empty() {
        CsvLine::Blank
    } else if first_content && text.eq_ignore_ascii_case(header) {
        CsvLine::Header
    } else {
        CsvLine::Entry(BulkLine::read(kind, number, text))
    }
}

/// The recorded outcome of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResult {
    pub line: u64,
    pub input: String,
    pub outcome: BulkOutcome,
    /// The code concerned (assigned, voided, deleted ...), if any.
    pub code: Option<String>,
}

impl Job {
    /// Counts one bulk line's outcome into the job.
    pub fn count_outcome(&mut self, outcome: BulkOutcome) {
        self.processed += 1;
        let field = match outcome {
            BulkOutcome::Assigned => &mut self.assigned,
            BulkOutcome::LimitReached => &mut self.limit_reached,
            BulkOutcome::Exhausted => &mut self.exhausted,
            BulkOutcome::Invalid => &mut self.invalid,
            BulkOutcome::Voided => &mut self.voided,
            BulkOutcome::Deleted => &mut self.deleted,
            BulkOutcome::NotFound => &mut self.not_found,
            BulkOutcome::InUse => &mut self.in_use,
        };
        *field += 1;
    }
}

impl JobKind {
    /// Whether the job works line by line on existing users or codes (and keeps
    /// every line's result).
    pub fn is_bulk(self) -> bool {
        matches!(self, JobKind::Assign | JobKind::Void | JobKind::Delete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_by_kind() {
        let user = BulkLine::read(JobKind::Assign, 3, "user 1");
        assert_eq!(user.item.as_deref(), Some("user 1"));
        assert_eq!(BulkLine::read(JobKind::Assign, 1, "a\u{7}b").item, None);
        assert_eq!(
            BulkLine::read(JobKind::Assign, 1, &"x".repeat(256)).item,
            None
        );
        assert!(
            BulkLine::read(JobKind::Assign, 1, &"é".repeat(255))
                .item
                .is_some()
        );
        assert_eq!(
            BulkLine::read(JobKind::Void, 1, "ab-12").item.as_deref(),
            Some("AB-12")
        );
        assert_eq!(BulkLine::read(JobKind::Delete, 1, "a b").item, None);
        assert_eq!(
            read_csv_line(JobKind::Assign, 1, b"\xEF\xBB\xBFuser_id\r", false, true),
            CsvLine::Header
        );
        assert_eq!(
            read_csv_line(JobKind::Assign, 2, b" \r", false, false),
            CsvLine::Blank
        );
        assert_eq!(
            read_csv_line(JobKind::Assign, 3, b"\"'=u1\"", false, false),
            CsvLine::Entry(BulkLine::read(JobKind::Assign, 3, "=u1"))
        );
        assert!(matches!(
            read_csv_line(JobKind::Assign, 4, b"\xff", false, false),
            CsvLine::Entry(BulkLine { item: None, .. })
        ));
        assert!(matches!(
            read_csv_line(JobKind::Assign, 5, b"abc", true, false),
            CsvLine::Entry(BulkLine { item: None, .. })
        ));
        for o in ["assigned", "in_use", "not_found", "limit_reached"] {
            assert_eq!(BulkOutcome::parse(o).map(BulkOutcome::as_str), Some(o));
        }
    }
}
