//! Use cases that combine several store calls: bulk code jobs (`jobs`) and how a job
//! requested over HTTP is answered (`job_requests`). Free of axum: the API and the
//! command line both call them.

pub mod job_requests;
pub mod jobs;
