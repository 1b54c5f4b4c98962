//! Coupons, locks and redemptions, and the rules that decide whether a user may assign,
//! lock or redeem a code. Backends load the state, ask these functions, then write the
//! outcome in the same atomic step.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::book::BookSettings;
use super::error::{Error, ErrorCode, Result};
use super::order::Order;
use super::reward::{Discount, Evaluation, OrderReason, Reward, judge_order};
use super::time::Timestamp;

pub use super::coupon_details::{CodeInput, CouponDetails, UpdateCoupon};

pub const MIN_CODE_LEN: usize = 3;
pub const MAX_CODE_LEN: usize = 64;
pub const MAX_USER_ID_CHARS: usize = 255;

/// Upper-cases a code and checks its alphabet and length; `None` if it can never be valid.
pub fn normalize_code(raw: &str) -> Option<String> {
    let valid = (MIN_CODE_LEN..=MAX_CODE_LEN).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| raw.to_ascii_uppercase())
}

/// Why a code is refused, for upload reports.
pub fn code_problem(raw: &str) -> &'static str {
    if raw.is_empty() {
        "empty"
    } else if raw.len() < MIN_CODE_LEN {
        "too short (3..64 characters)"
    } else if raw.len() > MAX_CODE_LEN {
        "too long (3..64 characters)"
    } else {
        "invalid characters (A-Z 0-9 - _ only)"
    }
}

/// A valid user id: 1..255 characters without control characters.
pub fn is_valid_user_id(user_id: &str) -> bool {
    !user_id.is_empty()
        && user_id.chars().count() <= MAX_USER_ID_CHARS
        && !user_id.chars().any(char::is_control)
}

pub fn validate_user_id(field: &str, user_id: &str) -> Result<()> {
    if !is_valid_user_id(user_id) {
        return Err(Error::invalid(
            field,
            "user_id must be 1..255 characters without control characters",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponStatus {
    Available,
    Assigned,
    Locked,
    Redeemed,
    Voided,
}

impl CouponStatus {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "available" => CouponStatus::Available,
            "assigned" => CouponStatus::Assigned,
            "locked" => CouponStatus::Locked,
            "redeemed" => CouponStatus::Redeemed,
            "voided" => CouponStatus::Voided,
            _ => return None,
        })
    }
}

/// The status a coupon has regardless of locks; backends index it, since lock
/// expiry changes only the `locked` part of the status, with time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseStatus {
    Available = 0,
    Assigned = 1,
    Redeemed = 2,
    Voided = 3,
}

impl BaseStatus {
    pub fn from_index(index: i64) -> Self {
        match index {
            1 => BaseStatus::Assigned,
            2 => BaseStatus::Redeemed,
            3 => BaseStatus::Voided,
            _ => BaseStatus::Available,
        }
    }
}

/// A coupon as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CouponRecord {
    pub code: String,
    pub book_id: String,
    pub assigned_to: Option<String>,
    pub redemption_count: u64,
    pub voided: bool,
    pub created_at: Timestamp,
    /// The code's own dates, metadata and reward (empty for most codes).
    pub details: CouponDetails,
}

impl CouponRecord {
    pub fn base_status(&self, max_redemptions: Option<u32>) -> BaseStatus {
        if self.voided {
            BaseStatus::Voided
        } else if max_redemptions.is_some_and(|max| self.redemption_count >= u64::from(max)) {
            BaseStatus::Redeemed
        } else if self.assigned_to.is_some() {
            BaseStatus::Assigned
        } else {
            BaseStatus::Available
        }
    }

    /// Redemptions left; `None` = unlimited.
    pub fn remaining(&self, max_redemptions: Option<u32>) -> Option<u64> {
        max_redemptions.map(|max| u64::from(max).saturating_sub(self.redemption_count))
    }

    /// The coupon as the API shows it, given its live locks.
    pub fn view(&self, max_redemptions: Option<u32>, live_locks: &[Lock]) -> Coupon {
        let reserved = live_locks.len() as u64;
        let status = match self.base_status(max_redemptions) {
            BaseStatus::Voided => CouponStatus::Voided,
            BaseStatus::Redeemed => CouponStatus::Redeemed,
            _ if self
                .remaining(max_redemptions)
                .is_some_and(|left| reserved >= left) =>
            {
                CouponStatus::Locked
            }
            BaseStatus::Assigned => CouponStatus::Assigned,
            BaseStatus::Available => CouponStatus::Available,
        };
        Coupon {
            code: self.code.clone(),
            book_id: self.book_id.clone(),
            status,
            assigned_to: self.assigned_to.clone(),
            redemption_count: self.redemption_count,
            max_redemptions,
            locked_until: live_locks.iter().map(|l| l.expires_at).max(),
            created_at: self.created_at,
            starts_at: self.details.starts_at,
            expires_at: self.details.expires_at,
            metadata: self.details.metadata.clone(),
            reward: self.details.reward.clone(),
        }
    }

    /// The reward that applies: the coupon's own, else its book's.
    pub fn effective_reward<'a>(&'a self, book: &'a BookSettings) -> Option<&'a Reward> {
        self.details.reward.as_ref().or(book.reward.as_ref())
    }
}

/// A coupon's state. An end-user token (scope `coupons:redeem` alone) gets it
/// redacted: `assigned_to` and `locked_until` are null unless the coupon is assigned to
/// that user, so no answer carries another user's id or activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Coupon {
    pub code: String,
    pub book_id: String,
    pub status: CouponStatus,
    /// The user it is assigned to; for an end user, null unless it is that user.
    pub assigned_to: Option<String>,
    pub redemption_count: u64,
    pub max_redemptions: Option<u32>,
    /// When the last live lock ends; for an end user, null unless the coupon is
    /// assigned to that user.
    pub locked_until: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The code's own window, within its book's (null: only the book's applies).
    pub starts_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// The code's own reward, overriding its book's (null: the book's applies).
    #[schema(value_type = Option<crate::domain::reward::RewardSchema>)]
    pub reward: Option<Reward>,
}

impl Coupon {
    /// What an end user may see of this coupon: nothing of another user.
    pub fn seen_by_end_user(mut self, user_id: &str) -> Coupon {
        if self.assigned_to.as_deref() != Some(user_id) {
            self.assigned_to = None;
            self.locked_until = None;
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lock {
    pub lock_id: String,
    pub code: String,
    pub user_id: String,
    pub expires_at: Timestamp,
    /// What the code takes off the order the lock was asked with (null without one).
    #[serde(default)]
    pub discount: Option<Discount>,
}

/// How long a new or extended lock lives: the TTL the request asked for, else its
/// book's `lock_ttl_seconds`, and never more than the cap (end users get one, so a
/// shared code cannot be held for a day).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockTtl {
    pub requested: Option<u32>,
    pub cap: Option<u32>,
}

impl LockTtl {
    pub fn asked(seconds: u32) -> Self {
        LockTtl {
            requested: Some(seconds),
            cap: None,
        }
    }

    /// The TTL in seconds for a book whose default is `book_default`.
    pub fn seconds(self, book_default: u32) -> u32 {
        let ttl = self.requested.unwrap_or(book_default);
        self.cap.map_or(ttl, |cap| ttl.min(cap))
    }
}

impl From<Option<u32>> for LockTtl {
    fn from(requested: Option<u32>) -> Self {
        LockTtl {
            requested,
            cap: None,
        }
    }
}

impl Lock {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedemptionStatus {
    Redeemed,
    Reversed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Redemption {
    pub id: String,
    pub code: String,
    pub book_id: String,
    pub user_id: String,
    pub status: RedemptionStatus,
    pub redeemed_at: Timestamp,
    pub reversed_at: Option<Timestamp>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// The order it was redeemed on, as it was then (null without an order).
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub order_amount: Option<u64>,
    #[serde(default)]
    pub currency: Option<String>,
    /// What it took off that order.
    #[serde(default)]
    pub discount: Option<Discount>,
}

/// What a user has done in one book, for the per-user limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserUsage {
    pub assigned: u64,
    pub redeemed: u64,
}

/// Everything a lock or redeem decision needs, loaded in the same atomic step.
pub struct UseContext<'a> {
    pub book: &'a BookSettings,
    /// Net redemptions across the whole book.
    pub book_redemptions: u64,
    pub coupon: &'a CouponRecord,
    /// The coupon's live locks (expired ones excluded).
    pub live_locks: &'a [Lock],
    pub usage: UserUsage,
    pub user_id: &'a str,
    pub now: Timestamp,
    /// The order the checkout sent, if any.
    pub order: Option<&'a Order>,
}

/// How a permitted redemption uses the coupon's reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemPlan {
    /// Takes an unreserved use.
    Unreserved,
    /// Consumes this lock.
    ConsumeLock(String),
}

/// How a permitted lock request is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockPlan {
    New,
    /// The user's existing live lock, to be extended.
    Extend(String),
}

impl UseContext<'_> {
    /// The rules every lock and redeem passes first, in the contract's order, each
    /// on its own so that validate can list all that fail.
    fn rules(&self) -> [fn(&Self) -> Result<()>; 6] {
        [
            |c| c.book.check_active(),
            |c| c.book.check_window(c.now),
            |c| c.coupon.details.check_window(c.now),
            |c| c.check_not_voided(),
            |c| c.check_assignment(),
            |c| c.check_remaining().map(|_| ()),
        ]
    }

    fn check_not_voided(&self) -> Result<()> {
        if self.coupon.voided {
            return Err(Error::new(ErrorCode::CouponVoided, "the coupon was voided"));
        }
        Ok(())
    }

    fn check_assignment(&self) -> Result<()> {
        if self.book.requires_assignment && self.coupon.assigned_to.as_deref() != Some(self.user_id)
        {
            return Err(Error::new(
                ErrorCode::CouponNotAssignedToUser,
                "the coupon is not assigned to this user",
            ));
        }
        Ok(())
    }

    fn check_remaining(&self) -> Result<u64> {
        let remaining = self
            .coupon
            .remaining(self.book.max_redemptions_per_coupon)
            .unwrap_or(u64::MAX);
        if remaining == 0 {
            return Err(Error::new(
                ErrorCode::CouponAlreadyRedeemed,
                "the coupon has no redemptions left",
            ));
        }
        Ok(remaining)
    }

    /// The checks shared by lock and redeem, in the contract's order, up to
    /// `coupon_already_redeemed`. An order the reward needs but was not sent is a
    /// bad request, reported before any of them.
    fn check_common(&self) -> Result<u64> {
        self.check_order_given()?;
        for rule in self.rules() {
            rule(self)?;
        }
        self.check_remaining()
    }

    fn own_lock(&self) -> Option<&Lock> {
        self.live_locks.iter().find(|l| l.user_id == self.user_id)
    }

    fn check_user_limit(&self) -> Result<()> {
        if self
            .book
            .max_redemptions_per_user
            .is_some_and(|max| self.usage.redeemed >= u64::from(max))
        {
            return Err(Error::new(
                ErrorCode::UserRedemptionLimitReached,
                "the user has reached this book's redemption limit",
            ));
        }
        Ok(())
    }

    fn check_budget(&self) -> Result<()> {
        if self
            .book
            .max_total_redemptions
            .is_some_and(|max| self.book_redemptions >= max)
        {
            return Err(Error::new(
                ErrorCode::BookBudgetExhausted,
                "the book's redemption budget is used up",
            ));
        }
        Ok(())
    }

    /// The user limit, the budget, then the order rules: what comes after the locks.
    fn check_limits(&self) -> Result<()> {
        self.check_user_limit()?;
        self.check_budget()?;
        if let Some(first) = self.order_reasons().first() {
            return Err(first.error());
        }
        Ok(())
    }

    /// The effective reward judged on the order sent (none sent: nothing to judge).
    fn evaluation(&self) -> Option<Evaluation> {
        let reward = self.coupon.effective_reward(self.book)?;
        Some(reward.evaluate(self.order?))
    }

    fn order_reasons(&self) -> Vec<OrderReason> {
        self.evaluation().map(|e| e.reasons).unwrap_or_default()
    }

    /// A reward with a minimum order or a product scope cannot be judged without one.
    fn check_order_given(&self) -> Result<()> {
        match self.order {
            Some(_) => Ok(()),
            None => judge_order(self.coupon.effective_reward(self.book), None).map(|_| ()),
        }
    }

    /// What the code takes off the order sent, once permitted (null without an order
    /// or for a custom reward).
    pub fn discount(&self) -> Option<Discount> {
        self.evaluation().and_then(|e| e.discount)
    }

    pub fn check_lock(&self) -> Result<LockPlan> {
        let remaining = self.check_common()?;
        let plan = match self.own_lock() {
            Some(lock) => LockPlan::Extend(lock.lock_id.clone()),
            None if self.live_locks.len() as u64 >= remaining => return Err(locked_error()),
            None => LockPlan::New,
        };
        self.check_limits()?;
        Ok(plan)
    }

    /// How a redemption without a lock is served: an unreserved use, else the user's
    /// own reservation.
    fn unreserved(&self, remaining: u64) -> Result<RedeemPlan> {
        if (self.live_locks.len() as u64) < remaining {
            return Ok(RedeemPlan::Unreserved);
        }
        match self.own_lock() {
            Some(lock) => Ok(RedeemPlan::ConsumeLock(lock.lock_id.clone())),
            None => Err(locked_error()),
        }
    }

    /// `lock_id`: the lock the caller presents, if any.
    pub fn check_redeem(&self, lock_id: Option<&str>) -> Result<RedeemPlan> {
        let remaining = self.check_common()?;
        let plan = match lock_id {
            Some(lock_id) => {
                let presented = self
                    .live_locks
                    .iter()
                    .find(|l| l.lock_id == lock_id && l.user_id == self.user_id);
                match presented {
                    Some(lock) => RedeemPlan::ConsumeLock(lock.lock_id.clone()),
                    None if self.live_locks.len() as u64 >= remaining => {
                        return Err(locked_error());
                    }
                    None => return Err(Error::lock_not_found()),
                }
            }
            None => self.unreserved(remaining)?,
        };
        self.check_limits()?;
        Ok(plan)
    }

    /// Every rule a redemption without a lock would break now, in precedence order
    /// (its first is what redeem would answer); an order the reward needs but was
    /// not sent is an error, as on redeem.
    pub fn failures(&self) -> Result<Vec<ErrorCode>> {
        self.check_order_given()?;
        let mut failed: Vec<ErrorCode> = self
            .rules()
            .iter()
            .filter_map(|rule| rule(self).err().map(|e| e.code))
            .collect();
        if let Ok(remaining) = self.check_remaining()
            && let Err(err) = self.unreserved(remaining)
        {
            failed.push(err.code);
        }
        for rule in [Self::check_user_limit, Self::check_budget] {
            if let Err(err) = rule(self) {
                failed.push(err.code);
            }
        }
        failed.extend(self.order_reasons().into_iter().map(OrderReason::code));
        Ok(failed)
    }
}

fn locked_error() -> Error {
    Error::new(
        ErrorCode::CouponLocked,
        "every remaining redemption is reserved by another user's lock",
    )
}

/// Whether `user_id` may be given this coupon.
pub fn check_assign(
    book: &BookSettings,
    coupon: &CouponRecord,
    user_id: &str,
    usage: UserUsage,
    now: Timestamp,
) -> Result<AssignPlan> {
    book.check_usable(now)?;
    coupon.details.check_window(now)?;
    if coupon.voided {
        return Err(Error::new(ErrorCode::CouponVoided, "the coupon was voided"));
    }
    match coupon.assigned_to.as_deref() {
        Some(owner) if owner == user_id => return Ok(AssignPlan::AlreadyAssigned),
        Some(_) => {
            return Err(Error::new(
                ErrorCode::CouponAlreadyAssigned,
                "the coupon is assigned to another user",
            ));
        }
        None => {}
    }
    if coupon
        .remaining(book.max_redemptions_per_coupon)
        .is_some_and(|left| left == 0)
    {
        return Err(Error::new(
            ErrorCode::CouponAlreadyRedeemed,
            "the coupon has no redemptions left",
        ));
    }
    check_assign_limit(book, usage)?;
    Ok(AssignPlan::Assign)
}

pub fn check_assign_limit(book: &BookSettings, usage: UserUsage) -> Result<()> {
    if book
        .max_coupons_per_user
        .is_some_and(|max| usage.assigned >= u64::from(max))
    {
        return Err(Error::new(
            ErrorCode::UserCouponLimitReached,
            "the user has reached this book's coupon limit",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignPlan {
    Assign,
    AlreadyAssigned,
}

impl CouponRecord {
    /// The record once assigned to `user_id`.
    pub fn assigned(&self, user_id: &str) -> CouponRecord {
        CouponRecord {
            assigned_to: Some(user_id.to_string()),
            ..self.clone()
        }
    }

    /// The record after one more redemption.
    pub fn redeemed(&self) -> CouponRecord {
        CouponRecord {
            redemption_count: self.redemption_count + 1,
            ..self.clone()
        }
    }
}

/// What `DELETE /v1/coupons/{code}/assignment` does.
#[derive(Debug, Clone, PartialEq)]
pub enum UnassignPlan {
    /// Not assigned: answered as it is.
    Unchanged,
    /// Taken back from `owner`, whose assignment count falls by one.
    Release {
        owner: String,
        after: Box<CouponRecord>,
    },
}

/// Only a coupon without redemptions (net of reversals) can be taken back; a voided
/// one too, so that it stops counting against its user's limit.
pub fn plan_unassign(coupon: &CouponRecord) -> Result<UnassignPlan> {
    let Some(owner) = coupon.assigned_to.clone() else {
        return Ok(UnassignPlan::Unchanged);
    };
    if coupon.redemption_count > 0 {
        return Err(Error::new(
            ErrorCode::CouponAlreadyRedeemed,
            "a redeemed coupon cannot be unassigned",
        ));
    }
    Ok(UnassignPlan::Release {
        owner,
        after: Box::new(CouponRecord {
            assigned_to: None,
            ..coupon.clone()
        }),
    })
}

/// What voiding does: `None` when the coupon is voided already (answered as it is);
/// else the record after, and every lock of the coupon goes with it.
pub fn plan_void(coupon: &CouponRecord) -> Option<CouponRecord> {
    (!coupon.voided).then(|| CouponRecord {
        voided: true,
        ..coupon.clone()
    })
}

/// Whether a bulk delete may remove the coupon: only one never handed out, unused
/// and not held by a live lock (`live_locks`).
pub fn can_delete(coupon: &CouponRecord, live_locks: usize) -> bool {
    coupon.assigned_to.is_none() && coupon.redemption_count == 0 && live_locks == 0
}

/// Whether `lock` (looked up by the presented id; `None` if no lock has it) may be
/// released from `code` now: only a live lock of that very coupon.
pub fn check_unlock(lock: Option<&Lock>, code: &str, now: Timestamp) -> Result<()> {
    match lock {
        Some(lock) if lock.code == code && lock.is_live(now) => Ok(()),
        _ => Err(Error::lock_not_found()),
    }
}

/// A redemption is reversed once; the coupon gets the use back.
pub fn plan_reverse(redemption: &Redemption, coupon: &CouponRecord) -> Result<CouponRecord> {
    if redemption.status == RedemptionStatus::Reversed {
        return Err(Error::new(
            ErrorCode::RedemptionAlreadyReversed,
            "this redemption was already reversed",
        ));
    }
    Ok(CouponRecord {
        redemption_count: coupon.redemption_count.saturating_sub(1),
        ..coupon.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(assigned_to: Option<&str>, redemption_count: u64, voided: bool) -> CouponRecord {
        CouponRecord {
            code: "CODE-1".into(),
            book_id: "book_1".into(),
            assigned_to: assigned_to.map(str::to_string),
            redemption_count,
            voided,
            created_at: Timestamp(0),
            details: CouponDetails::default(),
        }
    }

    #[test]
    fn unassign_takes_back_any_unredeemed_assignment() {
        assert_eq!(
            plan_unassign(&record(None, 0, false)),
            Ok(UnassignPlan::Unchanged)
        );
        let voided = record(Some("ann"), 0, true);
        assert_eq!(
            plan_unassign(&voided),
            Ok(UnassignPlan::Release {
                owner: "ann".into(),
                after: Box::new(record(None, 0, true))
            })
        );
        let refused = plan_unassign(&record(Some("ann"), 1, false));
        assert_eq!(
            refused.map_err(|e| e.code),
            Err(ErrorCode::CouponAlreadyRedeemed)
        );
    }

    #[test]
    fn void_and_reverse_happen_once() {
        assert_eq!(plan_void(&record(None, 0, true)), None);
        assert_eq!(
            plan_void(&record(None, 0, false)),
            Some(record(None, 0, true))
        );
        let mut redemption = Redemption {
            id: "red_1".into(),
            code: "CODE-1".into(),
            book_id: "book_1".into(),
            user_id: "ann".into(),
            status: RedemptionStatus::Redeemed,
            redeemed_at: Timestamp(0),
            reversed_at: None,
            metadata: None,
            order_id: None,
            order_amount: None,
            currency: None,
            discount: None,
        };
        let after = plan_reverse(&redemption, &record(Some("ann"), 1, false));
        assert_eq!(after, Ok(record(Some("ann"), 0, false)));
        redemption.status = RedemptionStatus::Reversed;
        let twice = plan_reverse(&redemption, &record(Some("ann"), 0, false));
        assert_eq!(
            twice.map_err(|e| e.code),
            Err(ErrorCode::RedemptionAlreadyReversed)
        );
    }

    #[test]
    fn only_a_live_lock_of_the_coupon_is_released() {
        let lock = Lock {
            lock_id: "lock_1".into(),
            code: "CODE-1".into(),
            user_id: "ann".into(),
            expires_at: Timestamp(10),
            discount: None,
        };
        assert!(check_unlock(Some(&lock), "CODE-1", Timestamp(9)).is_ok());
        assert!(check_unlock(Some(&lock), "CODE-1", Timestamp(10)).is_err());
        assert!(check_unlock(Some(&lock), "CODE-2", Timestamp(9)).is_err());
        assert!(check_unlock(None, "CODE-1", Timestamp(9)).is_err());
    }

    #[test]
    fn codes_are_upper_cased_and_checked() {
        assert_eq!(normalize_code("abc-12_x").as_deref(), Some("ABC-12_X"));
        assert_eq!(normalize_code("ab"), None);
        assert_eq!(normalize_code("../etc"), None);
        assert_eq!(normalize_code("ÄBC"), None);
        assert_eq!(normalize_code(&"A".repeat(65)), None);
        assert!(normalize_code(&"A".repeat(64)).is_some());
    }
}
