//! The API's resources, one file each: thin handlers that parse the request, call
//! the store or a use case of `app`, and map the answer.

pub mod books;
pub mod codes;
pub mod console;
pub mod coupons;
pub mod events;
pub mod keys;
pub mod ops;
pub mod redemptions;
pub mod seed;
pub mod webhooks;
