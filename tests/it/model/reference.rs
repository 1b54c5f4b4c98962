//! The reference model: the contract of API.md ("Coupon books", "Coupons") as a small
//! in-memory state machine, written from the contract's text and not from the service's
//! domain code, so that a rule wrongly decided there shows up as a divergence here.
//!
//! Every operation returns what the contract says the service answers: a value, or the
//! error code of the first rule broken in the contract's precedence order.

use std::collections::BTreeMap;

/// The error codes of API.md that the histories can meet.
pub type Code = &'static str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Draft,
    Active,
    Paused,
    Archived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Archived => "archived",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [
            Status::Draft,
            Status::Active,
            Status::Paused,
            Status::Archived,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// draft -> active <-> paused; any status -> archived, which is final. Setting the
    /// status a book already has is no move at all.
    fn may_become(self, next: Status) -> bool {
        use Status::*;
        (self == next && self != Archived)
            || matches!(
                (self, next),
                (Draft, Active)
                    | (Active, Paused)
                    | (Paused, Active)
                    | (Draft | Active | Paused, Archived)
            )
    }
}

/// A book's rules, in milliseconds of the model's clock where they are times.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub status: Status,
    pub max_redemptions_per_coupon: Option<u32>,
    pub max_coupons_per_user: Option<u32>,
    pub max_redemptions_per_user: Option<u32>,
    pub max_total_redemptions: Option<u64>,
    pub requires_assignment: bool,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub lock_ttl_seconds: u32,
}

/// A PATCH of a book: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub status: Option<Status>,
    pub max_redemptions_per_coupon: Option<Option<u32>>,
    pub max_coupons_per_user: Option<Option<u32>>,
    pub max_redemptions_per_user: Option<Option<u32>>,
    pub max_total_redemptions: Option<Option<u64>>,
    pub requires_assignment: Option<bool>,
    pub valid_until: Option<Option<i64>>,
}

#[derive(Debug, Clone)]
pub struct BookState {
    pub rules: Rules,
    pub deleted: bool,
    /// Something of the book was ever assigned or redeemed.
    pub in_use: bool,
}

#[derive(Debug, Clone)]
pub struct CouponState {
    pub book: usize,
    pub assigned_to: Option<String>,
    /// When it was last assigned (model step), for the users' lists.
    pub assigned_at: u64,
    pub redemptions: u64,
    pub voided: bool,
}

#[derive(Debug, Clone)]
pub struct LockState {
    pub code: String,
    pub user: String,
    pub expires_at: i64,
    /// Consumed, unlocked, removed with its coupon, or swept after expiry: its id is
    /// unknown from then on.
    pub gone: bool,
}

#[derive(Debug, Clone)]
pub struct RedemptionState {
    pub code: String,
    pub book: usize,
    pub user: String,
    pub redeemed_at: i64,
    pub reversed_at: Option<i64>,
}

/// A coupon as the contract shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CouponView {
    pub code: String,
    pub book: usize,
    pub status: &'static str,
    pub assigned_to: Option<String>,
    pub redemption_count: u64,
    pub max_redemptions: Option<u32>,
    pub locked_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub total: u64,
    pub available: u64,
    pub assigned: u64,
    pub locked: u64,
    pub redeemed: u64,
    pub voided: u64,
}

/// What a successful lock request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    New(usize),
    /// The user's live lock, its expiry pushed out.
    Extended(usize),
}

/// Counts of an add-codes request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Added {
    pub inserted: u64,
    pub duplicates_in_file: u64,
    pub already_exist: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub now: i64,
    pub books: Vec<BookState>,
    pub coupons: BTreeMap<String, CouponState>,
    pub locks: Vec<LockState>,
    pub redemptions: Vec<RedemptionState>,
    step: u64,
}

pub type Answer<T> = Result<T, Code>;

impl Model {
    pub fn new(now: i64) -> Self {
        Model {
            now,
            ..Model::default()
        }
    }

    pub fn advance(&mut self, millis: i64) {
        self.now += millis;
        self.step += 1;
    }

    fn book(&self, book: usize) -> Answer<&BookState> {
        match self.books.get(book) {
            Some(state) if !state.deleted => Ok(state),
            _ => Err("book_not_found"),
        }
    }

    fn coupon(&self, code: &str) -> Answer<&CouponState> {
        self.coupons.get(code).ok_or("coupon_not_found")
    }

    fn rules_of(&self, code: &str) -> &Rules {
        &self.books[self.coupons[code].book].rules
    }

    /// Only active books inside their validity window allow assign, lock and redeem.
    fn check_usable(&self, rules: &Rules) -> Answer<()> {
        if rules.status != Status::Active {
            return Err("book_not_active");
        }
        let early = rules.valid_from.is_some_and(|from| self.now < from);
        let late = rules.valid_until.is_some_and(|until| self.now >= until);
        if early || late {
            return Err("book_not_valid_now");
        }
        Ok(())
    }

    fn live_locks(&self, code: &str) -> Vec<usize> {
        (0..self.locks.len())
            .filter(|&i| {
                let lock = &self.locks[i];
                lock.code == code && !lock.gone && lock.expires_at > self.now
            })
            .collect()
    }

    /// Redemptions left on the coupon; `None` = unlimited.
    fn remaining(&self, code: &str) -> Option<u64> {
        let coupon = &self.coupons[code];
        self.rules_of(code)
            .max_redemptions_per_coupon
            .map(|max| u64::from(max).saturating_sub(coupon.redemptions))
    }

    fn user_redemptions(&self, book: usize, user: &str) -> u64 {
        self.redemptions
            .iter()
            .filter(|r| r.book == book && r.user == user && r.reversed_at.is_none())
            .count() as u64
    }

    fn book_redemptions(&self, book: usize) -> u64 {
        self.redemptions
            .iter()
            .filter(|r| r.book == book && r.reversed_at.is_none())
            .count() as u64
    }

    fn user_assignments(&self, book: usize, user: &str) -> u64 {
        self.coupons
            .values()
            .filter(|c| c.book == book && c.assigned_to.as_deref() == Some(user))
            .count() as u64
    }

    pub fn view(&self, code: &str) -> CouponView {
        let coupon = &self.coupons[code];
        let live = self.live_locks(code);
        let remaining = self.remaining(code);
        let status = if coupon.voided {
            "voided"
        } else if remaining == Some(0) {
            "redeemed"
        } else if remaining.is_some_and(|left| live.len() as u64 >= left) {
            "locked"
        } else if coupon.assigned_to.is_some() {
            "assigned"
        } else {
            "available"
        };
        CouponView {
            code: code.to_string(),
            book: coupon.book,
            status,
            assigned_to: coupon.assigned_to.clone(),
            redemption_count: coupon.redemptions,
            max_redemptions: self.rules_of(code).max_redemptions_per_coupon,
            locked_until: live.iter().map(|&i| self.locks[i].expires_at).max(),
        }
    }

    pub fn counts(&self, book: usize) -> Counts {
        let mut counts = Counts::default();
        for (code, coupon) in &self.coupons {
            if coupon.book != book {
                continue;
            }
            counts.total += 1;
            match self.view(code).status {
                "available" => counts.available += 1,
                "assigned" => counts.assigned += 1,
                "locked" => counts.locked += 1,
                "redeemed" => counts.redeemed += 1,
                _ => counts.voided += 1,
            }
        }
        counts
    }

    pub fn create_book(&mut self, rules: Rules) -> usize {
        self.books.push(BookState {
            rules,
            deleted: false,
            in_use: false,
        });
        self.books.len() - 1
    }

    pub fn patch_book(&mut self, book: usize, patch: &Patch) -> Answer<()> {
        let current = self.book(book)?.rules.clone();
        let mut next = current.clone();
        if let Some(status) = patch.status {
            if !current.status.may_become(status) {
                return Err("invalid_status_transition");
            }
            next.status = status;
        }
        if let Some(v) = patch.max_redemptions_per_coupon {
            next.max_redemptions_per_coupon = v;
        }
        if let Some(v) = patch.max_coupons_per_user {
            next.max_coupons_per_user = v;
        }
        if let Some(v) = patch.max_redemptions_per_user {
            next.max_redemptions_per_user = v;
        }
        if let Some(v) = patch.max_total_redemptions {
            next.max_total_redemptions = v;
        }
        if let Some(v) = patch.requires_assignment {
            next.requires_assignment = v;
        }
        if let Some(v) = patch.valid_until {
            next.valid_until = v;
        }
        if let (Some(from), Some(until)) = (next.valid_from, next.valid_until)
            && until <= from
        {
            return Err("invalid_request");
        }
        self.books[book].rules = next;
        Ok(())
    }

    /// Only while nothing in the book was ever assigned or redeemed.
    pub fn delete_book(&mut self, book: usize) -> Answer<()> {
        if self.book(book)?.in_use {
            return Err("book_in_use");
        }
        self.books[book].deleted = true;
        let codes: Vec<String> = self
            .coupons
            .iter()
            .filter(|(_, c)| c.book == book)
            .map(|(code, _)| code.clone())
            .collect();
        for code in codes {
            self.coupons.remove(&code);
            for lock in self.locks.iter_mut().filter(|l| l.code == code) {
                lock.gone = true;
            }
        }
        Ok(())
    }

    /// Codes are unique across the service; a code twice in one request counts once.
    pub fn add_codes(&mut self, book: usize, codes: &[String]) -> Answer<Added> {
        if self.book(book)?.rules.status == Status::Archived {
            return Err("book_not_active");
        }
        let mut added = Added::default();
        let mut seen = Vec::new();
        for code in codes {
            if seen.contains(code) {
                added.duplicates_in_file += 1;
                continue;
            }
            seen.push(code.clone());
            if self.coupons.contains_key(code) {
                added.already_exist += 1;
                continue;
            }
            self.coupons.insert(
                code.clone(),
                CouponState {
                    book,
                    assigned_to: None,
                    assigned_at: 0,
                    redemptions: 0,
                    voided: false,
                },
            );
            added.inserted += 1;
        }
        Ok(added)
    }

    fn check_assign_limit(&self, book: usize, user: &str) -> Answer<()> {
        let rules = &self.books[book].rules;
        if rules
            .max_coupons_per_user
            .is_some_and(|max| self.user_assignments(book, user) >= u64::from(max))
        {
            return Err("user_coupon_limit_reached");
        }
        Ok(())
    }

    pub fn assign(&mut self, code: &str, user: &str) -> Answer<CouponView> {
        let coupon = self.coupon(code)?.clone();
        self.check_usable(self.rules_of(code))?;
        if coupon.voided {
            return Err("coupon_voided");
        }
        match coupon.assigned_to.as_deref() {
            Some(owner) if owner == user => return Ok(self.view(code)),
            Some(_) => return Err("coupon_already_assigned"),
            None => {}
        }
        if self.remaining(code) == Some(0) {
            return Err("coupon_already_redeemed");
        }
        self.check_assign_limit(coupon.book, user)?;
        self.give(code, user);
        Ok(self.view(code))
    }

    fn give(&mut self, code: &str, user: &str) {
        let step = self.step;
        let coupon = self.coupons.get_mut(code).expect("known code");
        coupon.assigned_to = Some(user.to_string());
        coupon.assigned_at = step;
        let book = coupon.book;
        self.books[book].in_use = true;
    }

    /// The codes assign-next may hand out (any of them is a right answer): available
    /// ones that nobody holds a lock on either, since a lock reserves a use for its
    /// holder even where uses remain for others.
    pub fn assign_next_candidates(&self, book: usize, user: &str) -> Answer<Vec<String>> {
        let rules = &self.book(book)?.rules;
        self.check_usable(rules)?;
        self.check_assign_limit(book, user)?;
        let candidates: Vec<String> = self
            .coupons
            .iter()
            .filter(|(code, c)| {
                c.book == book
                    && self.view(code).status == "available"
                    && self.live_locks(code).is_empty()
            })
            .map(|(code, _)| code.clone())
            .collect();
        if candidates.is_empty() {
            return Err("book_exhausted");
        }
        Ok(candidates)
    }

    pub fn assign_next(&mut self, code: &str, user: &str) -> CouponView {
        self.give(code, user);
        self.view(code)
    }

    /// Only if never redeemed (net of reversals); an unassigned coupon stays as it is.
    pub fn unassign(&mut self, code: &str) -> Answer<CouponView> {
        let coupon = self.coupon(code)?;
        if coupon.assigned_to.is_none() {
            return Ok(self.view(code));
        }
        if coupon.redemptions > 0 {
            return Err("coupon_already_redeemed");
        }
        self.coupons.get_mut(code).expect("known code").assigned_to = None;
        Ok(self.view(code))
    }

    /// The checks lock and redeem share, up to `coupon_already_redeemed`.
    fn check_use(&self, code: &str, user: &str) -> Answer<u64> {
        let coupon = self.coupon(code)?;
        self.check_usable(self.rules_of(code))?;
        if coupon.voided {
            return Err("coupon_voided");
        }
        if self.rules_of(code).requires_assignment && coupon.assigned_to.as_deref() != Some(user) {
            return Err("coupon_not_assigned_to_user");
        }
        let remaining = self.remaining(code).unwrap_or(u64::MAX);
        if remaining == 0 {
            return Err("coupon_already_redeemed");
        }
        Ok(remaining)
    }

    fn check_limits(&self, code: &str, user: &str) -> Answer<()> {
        let book = self.coupons[code].book;
        let rules = &self.books[book].rules;
        if rules
            .max_redemptions_per_user
            .is_some_and(|max| self.user_redemptions(book, user) >= u64::from(max))
        {
            return Err("user_redemption_limit_reached");
        }
        if rules
            .max_total_redemptions
            .is_some_and(|max| self.book_redemptions(book) >= max)
        {
            return Err("book_budget_exhausted");
        }
        Ok(())
    }

    fn own_live_lock(&self, code: &str, user: &str) -> Option<usize> {
        self.live_locks(code)
            .into_iter()
            .find(|&i| self.locks[i].user == user)
    }

    pub fn lock(&mut self, code: &str, user: &str, ttl: Option<u32>) -> Answer<LockOutcome> {
        let remaining = self.check_use(code, user)?;
        let own = self.own_live_lock(code, user);
        if own.is_none() && self.live_locks(code).len() as u64 >= remaining {
            return Err("coupon_locked");
        }
        self.check_limits(code, user)?;
        let ttl = ttl.unwrap_or(self.rules_of(code).lock_ttl_seconds);
        let expires_at = self.now + i64::from(ttl) * 1000;
        Ok(match own {
            Some(i) => {
                let lock = &mut self.locks[i];
                lock.expires_at = lock.expires_at.max(expires_at);
                LockOutcome::Extended(i)
            }
            None => {
                self.locks.push(LockState {
                    code: code.to_string(),
                    user: user.to_string(),
                    expires_at,
                    gone: false,
                });
                LockOutcome::New(self.locks.len() - 1)
            }
        })
    }

    /// `lock`: an index of a lock this history was given, or `None` for an id the
    /// service never issued.
    pub fn unlock(&mut self, code: &str, lock: Option<usize>) -> Answer<CouponView> {
        self.coupon(code)?;
        let Some(index) = lock.filter(|&i| !self.locks[i].gone) else {
            return Err("lock_not_found");
        };
        let held = &self.locks[index];
        if held.code != code || held.expires_at <= self.now {
            return Err("lock_not_found");
        }
        self.locks[index].gone = true;
        Ok(self.view(code))
    }

    pub fn redeem(&mut self, code: &str, user: &str, lock: Option<Option<usize>>) -> Answer<usize> {
        self.coupon(code)?;
        // A lock id the service does not know is a not-found, reported before the
        // coupon's own rules.
        if let Some(presented) = lock
            && presented.is_none_or(|i| self.locks[i].gone)
        {
            return Err("lock_not_found");
        }
        let remaining = self.check_use(code, user)?;
        let live = self.live_locks(code);
        let reserved = live.len() as u64;
        let consumed = match lock {
            Some(presented) => {
                let index = presented.expect("checked above");
                if live.contains(&index) && self.locks[index].user == user {
                    Some(index)
                } else if reserved >= remaining {
                    return Err("coupon_locked");
                } else {
                    return Err("lock_not_found");
                }
            }
            None if reserved < remaining => None,
            None => match self.own_live_lock(code, user) {
                Some(index) => Some(index),
                None => return Err("coupon_locked"),
            },
        };
        self.check_limits(code, user)?;
        if let Some(index) = consumed {
            self.locks[index].gone = true;
        }
        let coupon = self.coupons.get_mut(code).expect("known code");
        coupon.redemptions += 1;
        let book = coupon.book;
        self.books[book].in_use = true;
        self.redemptions.push(RedemptionState {
            code: code.to_string(),
            book,
            user: user.to_string(),
            redeemed_at: self.now,
            reversed_at: None,
        });
        Ok(self.redemptions.len() - 1)
    }

    /// Whether the user could redeem the code now, and if not the reason.
    pub fn validate(&self, code: &str, user: &str) -> Answer<Option<Code>> {
        self.coupon(code)?;
        let mut probe = self.clone();
        Ok(probe.redeem(code, user, None).err())
    }

    pub fn void(&mut self, code: &str) -> Answer<CouponView> {
        if self.coupon(code)?.voided {
            return Ok(self.view(code));
        }
        self.coupons.get_mut(code).expect("known code").voided = true;
        for lock in self.locks.iter_mut().filter(|l| l.code == code) {
            lock.gone = true;
        }
        Ok(self.view(code))
    }

    /// `redemption`: an index of a redemption of this history, `None` for an unknown id.
    pub fn reverse(&mut self, redemption: Option<usize>) -> Answer<usize> {
        let Some(index) = redemption else {
            return Err("redemption_not_found");
        };
        if self.redemptions[index].reversed_at.is_some() {
            return Err("redemption_already_reversed");
        }
        self.redemptions[index].reversed_at = Some(self.now);
        let code = self.redemptions[index].code.clone();
        if let Some(coupon) = self.coupons.get_mut(&code) {
            coupon.redemptions = coupon.redemptions.saturating_sub(1);
        }
        Ok(index)
    }

    /// The background sweep: expired locks are forgotten.
    pub fn sweep_locks(&mut self) {
        let now = self.now;
        for lock in self
            .locks
            .iter_mut()
            .filter(|l| !l.gone && l.expires_at <= now)
        {
            lock.gone = true;
        }
    }

    /// Codes assigned to the user, in assignment order.
    pub fn user_coupons(&self, user: &str) -> Vec<String> {
        let mut mine: Vec<(&u64, &String)> = self
            .coupons
            .iter()
            .filter(|(_, c)| c.assigned_to.as_deref() == Some(user))
            .map(|(code, c)| (&c.assigned_at, code))
            .collect();
        mine.sort();
        mine.into_iter().map(|(_, code)| code.clone()).collect()
    }
}
