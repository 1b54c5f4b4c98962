//! AWS Lambda entry: the same router behind API Gateway (`api`), the DynamoDB Streams
//! consumer that delivers outbox events to webhooks (`streams`), and the scheduled
//! sweep that announces expired locks (`sweep`), which `serve` does every second.
//!
//! `cli::lambda` picks the function and starts it.

pub mod api;
pub mod streams;
pub mod sweep;
