//! The integration tests as one test binary (`cargo test --test it`), so the crate is
//! linked once rather than once per suite. Each module is one suite; filter by its
//! path, e.g. `cargo test --test it http_books::`. The HTTP suites start the real
//! `coupon-book` binary, which cargo builds for them, on a fresh store per test.

mod common;

mod crash;
mod fuzz_smoke;
mod http_audit;
mod http_auth;
mod http_bad_input;
mod http_book_limits;
mod http_books;
mod http_bulk;
mod http_checkout;
mod http_codes;
mod http_concurrency;
mod http_coupons;
mod http_keys;
mod http_ops;
mod http_redemptions;
mod http_replay;
mod http_rewards;
mod http_security;
mod http_uploads;
mod lambda;
mod model;
mod pattern_props;
mod webhooks;
