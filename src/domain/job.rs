//! Code intake (JSON lists and uploads) and the jobs that report on it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::coupon::{code_problem, normalize_code};
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
    pub errors: Vec<JobError>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// Codes sorted out from a list: what to insert and what was refused before storage.
#[derive(Debug, Default)]
pub struct CodeIntake {
    pub lines: u64,
    /// (line, normalized code), unique within the list.
    pub accepted: Vec<(u64, String)>,
    pub invalid: Vec<JobError>,
    pub duplicates: Vec<JobError>,
}

impl CodeIntake {
    /// Sorts a list of codes, one per line (1-based line numbers).
    pub fn from_codes<'a>(codes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut intake = CodeIntake::default();
        let mut seen = HashSet::new();
        for (index, raw) in codes.into_iter().enumerate() {
            let line = index as u64 + 1;
            intake.lines += 1;
            match normalize_code(raw) {
                None => intake.invalid.push(JobError {
                    line,
                    code: raw.chars().take(100).collect(),
                    reason: code_problem(raw).to_string(),
                }),
                Some(code) if !seen.insert(code.clone()) => intake.duplicates.push(JobError {
                    line,
                    code,
                    reason: "duplicate in file".to_string(),
                }),
                Some(code) => intake.accepted.push((line, code)),
            }
        }
        intake
    }

    /// The job report once storage said which accepted codes already existed.
    pub fn into_job(
        self,
        id: String,
        kind: JobKind,
        book_id: String,
        already_exist: Vec<(u64, String)>,
        now: Timestamp,
    ) -> Job {
        let inserted = (self.accepted.len() - already_exist.len()) as u64;
        let existing_errors = already_exist.iter().map(|(line, code)| JobError {
            line: *line,
            code: code.clone(),
            reason: "already exists".to_string(),
        });
        let mut errors: Vec<JobError> = self.invalid.clone();
        errors.truncate(MAX_REPORTED_ERRORS);
        let room = MAX_REPORTED_ERRORS - errors.len();
        let mut others: Vec<JobError> = self
            .duplicates
            .iter()
            .cloned()
            .chain(existing_errors)
            .collect();
        others.sort_by_key(|e| e.line);
        errors.extend(others.into_iter().take(room));
        errors.sort_by_key(|e| e.line);
        Job {
            id,
            kind,
            book_id,
            status: JobStatus::Succeeded,
            total: self.lines,
            processed: self.lines,
            inserted,
            duplicates_in_file: self.duplicates.len() as u64,
            already_exist: already_exist.len() as u64,
            invalid: self.invalid.len() as u64,
            errors,
            created_at: now,
            finished_at: Some(now),
        }
    }
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
        let job = intake.into_job(
            "job_1".into(),
            JobKind::Upload,
            "book_1".into(),
            vec![(4, "GOOD-2".into())],
            Timestamp(0),
        );
        assert_eq!(job.inserted, 1);
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
