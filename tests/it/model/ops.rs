//! The operations a history is made of, and how proptest draws them. Entities are
//! named by small indices taken modulo what exists when the step runs, so every
//! history stays meaningful while proptest shrinks it.

use proptest::prelude::*;

use super::reference::{Patch, Rules, Status};

/// The codes a history draws from: few enough that operations meet on the same code.
pub const CODES: [&str; 6] = ["MC-A1", "MC-B2", "MC-C3", "MC-D4", "MC-E5", "MC-F6"];
pub const USERS: [&str; 3] = ["u-ann", "u-bob", "u-cy"];

/// A book's rules relative to the clock when it is created (seconds).
#[derive(Debug, Clone)]
pub struct BookSpec {
    pub active: bool,
    pub max_redemptions_per_coupon: Option<u32>,
    pub max_coupons_per_user: Option<u32>,
    pub max_redemptions_per_user: Option<u32>,
    pub max_total_redemptions: Option<u64>,
    pub requires_assignment: bool,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub lock_ttl_seconds: u32,
}

impl BookSpec {
    pub fn rules(&self, now: i64) -> Rules {
        Rules {
            status: if self.active {
                Status::Active
            } else {
                Status::Draft
            },
            max_redemptions_per_coupon: self.max_redemptions_per_coupon,
            max_coupons_per_user: self.max_coupons_per_user,
            max_redemptions_per_user: self.max_redemptions_per_user,
            max_total_redemptions: self.max_total_redemptions,
            requires_assignment: self.requires_assignment,
            valid_from: self.valid_from.map(|s| now + s * 1000),
            valid_until: self.valid_until.map(|s| now + s * 1000),
            lock_ttl_seconds: self.lock_ttl_seconds,
        }
    }
}

/// A patch with its time relative to the clock when it is sent (seconds).
#[derive(Debug, Clone, Default)]
pub struct PatchSpec {
    pub status: Option<Status>,
    pub max_redemptions_per_coupon: Option<Option<u32>>,
    pub max_coupons_per_user: Option<Option<u32>>,
    pub max_redemptions_per_user: Option<Option<u32>>,
    pub max_total_redemptions: Option<Option<u64>>,
    pub requires_assignment: Option<bool>,
    pub valid_until: Option<Option<i64>>,
}

impl PatchSpec {
    pub fn patch(&self, now: i64) -> Patch {
        Patch {
            status: self.status,
            max_redemptions_per_coupon: self.max_redemptions_per_coupon,
            max_coupons_per_user: self.max_coupons_per_user,
            max_redemptions_per_user: self.max_redemptions_per_user,
            max_total_redemptions: self.max_total_redemptions,
            requires_assignment: self.requires_assignment,
            valid_until: self.valid_until.map(|v| v.map(|s| now + s * 1000)),
        }
    }
}

/// A lock named by a step: one the history was given (index modulo their number), or
/// an id the service never issued.
#[derive(Debug, Clone, Copy)]
pub enum LockRef {
    Given(u8),
    Unknown,
}

#[derive(Debug, Clone)]
pub enum Op {
    CreateBook(BookSpec),
    PatchBook {
        book: u8,
        patch: PatchSpec,
    },
    DeleteBook {
        book: u8,
    },
    AddCodes {
        book: u8,
        codes: Vec<u8>,
    },
    Assign {
        code: u8,
        user: u8,
    },
    AssignNext {
        book: u8,
        user: u8,
    },
    Unassign {
        code: u8,
    },
    Validate {
        code: u8,
        user: u8,
    },
    Lock {
        code: u8,
        user: u8,
        ttl: Option<u32>,
    },
    Unlock {
        code: u8,
        lock: LockRef,
    },
    Redeem {
        code: u8,
        user: u8,
        lock: Option<LockRef>,
    },
    Void {
        code: u8,
    },
    /// `None`: an id the service never issued.
    Reverse {
        redemption: Option<u8>,
    },
    /// Moves the clock (seconds).
    Advance {
        seconds: u32,
    },
    SweepLocks,
}

fn limit(values: &[u32]) -> impl Strategy<Value = Option<u32>> {
    let values = values.to_vec();
    prop_oneof![
        2 => Just(None),
        3 => proptest::sample::select(values).prop_map(Some),
    ]
}

fn book_spec() -> impl Strategy<Value = BookSpec> {
    (
        prop::bool::weighted(0.85),
        prop_oneof![3 => Just(Some(1u32)), 2 => Just(Some(2)), 1 => Just(None)],
        limit(&[1, 2]),
        limit(&[1, 2, 3]),
        limit(&[1, 2, 4]).prop_map(|v| v.map(u64::from)),
        prop::bool::weighted(0.5),
        prop_oneof![6 => Just(None), 1 => Just(Some(-60i64)), 1 => Just(Some(30))],
        prop_oneof![6 => Just(None), 1 => Just(Some(90i64)), 1 => Just(Some(600))],
        proptest::sample::select(vec![10u32, 60, 300]),
    )
        .prop_map(
            |(
                active,
                per_coupon,
                per_user,
                user_redemptions,
                total,
                requires,
                from,
                until,
                ttl,
            )| {
                BookSpec {
                    active,
                    max_redemptions_per_coupon: per_coupon,
                    max_coupons_per_user: per_user,
                    max_redemptions_per_user: user_redemptions,
                    max_total_redemptions: total,
                    requires_assignment: requires,
                    valid_from: from,
                    valid_until: until,
                    lock_ttl_seconds: ttl,
                }
            },
        )
}

fn maybe<T: std::fmt::Debug + Clone + 'static>(
    values: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![3 => Just(None), 1 => values.prop_map(Some)]
}

fn patch_spec() -> impl Strategy<Value = PatchSpec> {
    let status = proptest::sample::select(vec![
        Status::Draft,
        Status::Active,
        Status::Paused,
        Status::Archived,
    ]);
    (
        prop_oneof![1 => Just(None), 2 => status.prop_map(Some)],
        maybe(prop_oneof![
            Just(Some(1u32)),
            Just(Some(2)),
            Just(Some(3)),
            Just(None)
        ]),
        maybe(prop_oneof![Just(Some(1u32)), Just(Some(2)), Just(None)]),
        maybe(prop_oneof![Just(Some(1u32)), Just(Some(2)), Just(None)]),
        maybe(prop_oneof![Just(Some(1u64)), Just(Some(3)), Just(None)]),
        maybe(any::<bool>()),
        maybe(prop_oneof![Just(None), Just(Some(-10i64)), Just(Some(45))]),
    )
        .prop_map(
            |(status, per_coupon, per_user, user_redemptions, total, requires, until)| PatchSpec {
                status,
                max_redemptions_per_coupon: per_coupon,
                max_coupons_per_user: per_user,
                max_redemptions_per_user: user_redemptions,
                max_total_redemptions: total,
                requires_assignment: requires,
                valid_until: until,
            },
        )
}

fn lock_ref() -> impl Strategy<Value = LockRef> {
    prop_oneof![6 => any::<u8>().prop_map(LockRef::Given), 1 => Just(LockRef::Unknown)]
}

fn code() -> impl Strategy<Value = u8> {
    0..CODES.len() as u8
}

fn user() -> impl Strategy<Value = u8> {
    0..USERS.len() as u8
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => book_spec().prop_map(Op::CreateBook),
        2 => (any::<u8>(), patch_spec()).prop_map(|(book, patch)| Op::PatchBook { book, patch }),
        1 => any::<u8>().prop_map(|book| Op::DeleteBook { book }),
        4 => (any::<u8>(), prop::collection::vec(code(), 1..4))
            .prop_map(|(book, codes)| Op::AddCodes { book, codes }),
        5 => (code(), user()).prop_map(|(code, user)| Op::Assign { code, user }),
        3 => (any::<u8>(), user()).prop_map(|(book, user)| Op::AssignNext { book, user }),
        2 => code().prop_map(|code| Op::Unassign { code }),
        2 => (code(), user()).prop_map(|(code, user)| Op::Validate { code, user }),
        5 => (code(), user(), prop_oneof![3 => Just(None), 1 => Just(Some(5u32)), 1 => Just(Some(120))])
            .prop_map(|(code, user, ttl)| Op::Lock { code, user, ttl }),
        2 => (code(), lock_ref()).prop_map(|(code, lock)| Op::Unlock { code, lock }),
        6 => (code(), user(), prop_oneof![1 => Just(None), 2 => lock_ref().prop_map(Some)])
            .prop_map(|(code, user, lock)| Op::Redeem { code, user, lock }),
        2 => code().prop_map(|code| Op::Void { code }),
        3 => prop_oneof![6 => any::<u8>().prop_map(Some), 1 => Just(None)]
            .prop_map(|redemption| Op::Reverse { redemption }),
        3 => proptest::sample::select(vec![1u32, 6, 11, 61, 301])
            .prop_map(|seconds| Op::Advance { seconds }),
        1 => Just(Op::SweepLocks),
    ]
}

/// A history starts with a book and some codes, so that most steps meet real state.
pub fn history(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    (
        book_spec(),
        prop::collection::vec(code(), 2..6),
        prop::collection::vec(op(), 1..max_len),
    )
        .prop_map(|(first, codes, rest)| {
            let mut ops = vec![Op::CreateBook(first), Op::AddCodes { book: 0, codes }];
            ops.extend(rest);
            ops
        })
}
