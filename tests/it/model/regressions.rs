//! Histories the model test once found a divergence in, kept as named tests.

use super::ops::{BookSpec, LockRef, Op};
use super::{Kind, replay};

fn book(requires_assignment: bool) -> BookSpec {
    BookSpec {
        active: true,
        max_redemptions_per_coupon: Some(1),
        max_coupons_per_user: None,
        max_redemptions_per_user: None,
        max_total_redemptions: None,
        requires_assignment,
        valid_from: None,
        valid_until: None,
        lock_ttl_seconds: 300,
    }
}

async fn on_every_store(history: Vec<Op>) {
    for kind in [Kind::Sqlite, Kind::Dynamo] {
        if let Err(divergence) = replay(kind, &history).await {
            panic!("{kind:?}: {divergence}");
        }
    }
}

/// Unassigning a voided coupon once answered 500 on DynamoDB (an update with nothing
/// to set), 200 on SQLite.
#[tokio::test]
async fn unassigning_a_voided_coupon() {
    on_every_store(vec![
        Op::CreateBook(book(true)),
        Op::AddCodes {
            book: 0,
            codes: vec![0],
        },
        Op::Assign { code: 0, user: 0 },
        Op::Void { code: 0 },
        Op::Unassign { code: 0 },
    ])
    .await;
}

/// The same after a redemption that was reversed.
#[tokio::test]
async fn unassigning_a_voided_coupon_after_a_reversal() {
    on_every_store(vec![
        Op::CreateBook(book(true)),
        Op::AddCodes {
            book: 0,
            codes: vec![0],
        },
        Op::Assign { code: 0, user: 0 },
        Op::Redeem {
            code: 0,
            user: 0,
            lock: None,
        },
        Op::Reverse {
            redemption: Some(0),
        },
        Op::Void { code: 0 },
        Op::Unassign { code: 0 },
    ])
    .await;
}

/// A lock consumed by a redemption is unknown afterwards.
#[tokio::test]
async fn a_consumed_lock_is_gone() {
    on_every_store(vec![
        Op::CreateBook(book(false)),
        Op::AddCodes {
            book: 0,
            codes: vec![0],
        },
        Op::Lock {
            code: 0,
            user: 1,
            ttl: None,
        },
        Op::Redeem {
            code: 0,
            user: 1,
            lock: Some(LockRef::Given(0)),
        },
        Op::Unlock {
            code: 0,
            lock: LockRef::Given(0),
        },
    ])
    .await;
}
