//! coupon-book: coupon books, millions of codes, exactly-once redemption.
//!
//! Layout: `domain` holds the rules and types; `store` the storage trait and its
//! backends; `http` the API. Dependencies point one way: http -> domain <- store.

pub mod cli;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod jobs;
pub mod lambda;
pub mod store;
