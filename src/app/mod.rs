//! Use cases that combine several store calls: book limits on objects named by id
//! (`access`), several codes on one order (`checkout`), bulk code jobs (`jobs`), bulk assign, void and delete jobs (`bulk`), the
//! redemption export (`exports`), API keys limited to existing books (`keys`), how a job
//! requested over HTTP is answered (`job_requests`), and where uploads wait for their
//! job (`spool`). Free of axum: the API and the
//! command line both call them.

pub mod access;
pub mod bulk;
pub mod checkout;
pub mod exports;
pub mod job_requests;
pub mod jobs;
pub mod keys;
pub mod spool;
