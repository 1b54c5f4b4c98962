//! The behaviour every `Store` backend must show, as plain async functions over a
//! `DynStore`. Each backend's test module runs all of them through
//! `conformance_tests!(fresh, clocked)`, where `fresh()` is an async fn returning
//! `(guard, DynStore)` on an empty store, and `clocked(clock, idempotency_ttl)` the
//! same on a store deciding on `clock`'s time (tests of expiry).

mod audit;
mod books;
mod bulk;
mod checkout;
mod codes;
mod coupons;
mod events;
mod idempotency;
mod keys;
mod redemptions;
mod rewards;
mod webhooks;

use serde_json::json;

use super::{DynStore, RedeemRequest, Write};
use crate::domain::book::{BookSettings, CreateBook};
use crate::domain::event::Actor;
use crate::domain::job::{CodeIntake, JobKind};

pub use audit::{
    events_carry_their_actor, events_filter_by_book_code_user_and_type, lock_expiry_is_the_systems,
};
pub use books::{book_exhausted_is_announced_once, book_lifecycle};
pub use bulk::{
    bulk_assign_applies_each_line_once, bulk_assign_stops_on_a_book_paused_mid_job,
    bulk_void_and_delete_leave_codes_in_use,
};
pub use checkout::{
    several_codes_race_with_one_winner, several_codes_redeem_together_or_not_at_all,
};
pub use codes::{
    bulk_upload_counts_exactly_across_batches, codes_are_counted_exactly,
    generation_counts_its_shape,
};
pub use coupons::{
    assign_next_never_hands_out_a_code_twice, budget_is_exact_under_race,
    error_precedence_follows_the_contract, lock_ttl_stays_under_its_cap, locks_reserve_and_expire,
    multi_use_code_respects_user_limit_under_race, plans_apply_alike_at_their_edges,
    single_use_code_redeems_once_under_race, unassign_and_void,
};
pub use events::events_follow_changes_in_order;
pub use idempotency::{IDEMPOTENCY_TTL, idempotency_records_expire_after_their_ttl};
pub use keys::{api_keys_keep_limits_and_record_uses, api_keys_round_trip};
pub use redemptions::{
    every_redemption_pages_in_order, idempotency_replays_and_refuses_reuse,
    redemptions_are_listed_by_time_window, reverse_gives_the_use_back,
};
pub use rewards::{codes_carry_their_own_data_and_window, orders_are_judged_alike_on_every_path};
pub use webhooks::{
    a_disabled_webhook_is_enabled_and_deliveries_are_redelivered,
    webhook_deliveries_are_stored_with_the_cursor, webhooks_round_trip,
};

#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr, $clocked:expr) => {
        $crate::conformance_tests!(@clocked $clocked;
            idempotency_records_expire_after_their_ttl, redemptions_are_listed_by_time_window,
            lock_expiry_is_the_systems);
        $crate::conformance_tests!(@each $fresh;
            book_lifecycle, codes_are_counted_exactly, single_use_code_redeems_once_under_race,
            assign_next_never_hands_out_a_code_twice, locks_reserve_and_expire,
            multi_use_code_respects_user_limit_under_race, budget_is_exact_under_race,
            reverse_gives_the_use_back, idempotency_replays_and_refuses_reuse,
            events_follow_changes_in_order, unassign_and_void, api_keys_round_trip,
            api_keys_keep_limits_and_record_uses,
            error_precedence_follows_the_contract, webhooks_round_trip,
            webhook_deliveries_are_stored_with_the_cursor,
            a_disabled_webhook_is_enabled_and_deliveries_are_redelivered,
            book_exhausted_is_announced_once,
            bulk_upload_counts_exactly_across_batches, generation_counts_its_shape,
            plans_apply_alike_at_their_edges, every_redemption_pages_in_order,
            lock_ttl_stays_under_its_cap, events_carry_their_actor,
            events_filter_by_book_code_user_and_type, bulk_assign_applies_each_line_once,
            bulk_void_and_delete_leave_codes_in_use, bulk_assign_stops_on_a_book_paused_mid_job,
            codes_carry_their_own_data_and_window, orders_are_judged_alike_on_every_path,
            several_codes_redeem_together_or_not_at_all, several_codes_race_with_one_winner);
    };
    (@each $fresh:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (_guard, store) = $fresh().await;
                $crate::store::conformance::$name(&store).await;
            }
        )*
    };
    (@clocked $clocked:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let clock = $crate::domain::Clock::manual($crate::domain::Timestamp::now());
                let (_guard, store) =
                    $clocked(clock.clone(), $crate::store::conformance::IDEMPOTENCY_TTL).await;
                $crate::store::conformance::$name(&store, &clock).await;
            }
        )*
    };
}

/// The API key conformance writes are made with, unless a test names its actor.
pub(crate) const KEY_ID: &str = "key_conformance";

/// A write by the conformance API key, without an idempotency key.
pub(crate) fn by_key() -> Write {
    Write::by(Actor::api_key(KEY_ID))
}

fn settings(extra: serde_json::Value) -> BookSettings {
    let mut body = json!({"name": "conformance", "status": "active"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    serde_json::from_value::<CreateBook>(body)
        .expect("valid create body")
        .into_settings()
        .expect("valid settings")
}

fn codes(prefix: &str, n: usize) -> Vec<String> {
    let tag = ulid::Ulid::new().to_string();
    (0..n)
        .map(|i| format!("{prefix}-{}-{i}", &tag[16..]))
        .collect()
}

async fn book_with_codes(store: &DynStore, extra: serde_json::Value, codes: &[String]) -> String {
    let book = store
        .create_book(settings(extra), by_key())
        .await
        .expect("create book");
    let intake = CodeIntake::from_codes(codes.iter().map(String::as_str));
    let job = store
        .add_codes(&book.id, JobKind::Upload, intake, by_key())
        .await
        .expect("add codes");
    assert_eq!(job.inserted, codes.len() as u64);
    book.id
}

fn redeem(code: &str, user: &str, lock_id: Option<&str>) -> RedeemRequest {
    RedeemRequest {
        code: code.to_string(),
        user_id: user.to_string(),
        lock_id: lock_id.map(str::to_string),
        metadata: None,
        order: None,
    }
}
