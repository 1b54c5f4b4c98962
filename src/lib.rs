//! coupon-book: coupon books, millions of codes, exactly-once redemption.
//!
//! Layout: `domain` holds the rules and types; `store` the storage trait and its
//! backends; `app` the use cases that combine store calls; `http` the API; `delivery`
//! webhook delivery; `cli` and `lambda` the entry points, `config` their settings.
//! Dependencies point one way: http -> app -> store -> domain.

pub mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod http;
pub mod lambda;
pub mod store;
