//! Use cases that combine several store calls: bulk code jobs (`jobs`), the
//! redemption export (`exports`), how a job
//! requested over HTTP is answered (`job_requests`), and where uploads wait for their
//! job (`spool`). Free of axum: the API and the
//! command line both call them.

pub mod exports;
pub mod job_requests;
pub mod jobs;
pub mod spool;
