//! What runs around the handlers: authentication (`auth`), rate limits
//! (`ratelimit`), and the hardening every response gets (`hardening`: security
//! headers, request timeout, panics, connection limits).

pub mod auth;
pub mod hardening;
pub mod ratelimit;
