//! Coupon decisions in the DynamoDB table: assign, lock, void and the rest.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use rand::Rng;

use crate::domain::checkout::MultiRedemption;
use crate::domain::coupon::{
    self, AssignPlan, BaseStatus, Coupon, CouponRecord, CouponStatus, Lock, LockPlan, LockTtl,
    Redemption, UnassignPlan, UpdateCoupon, UseContext, UserUsage,
};
use crate::domain::event::{self, Actor};
use crate::domain::order::Order;
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{MultiRedeemRequest, RedeemRequest, Validation, Write, prelude::*};

use super::DynamoStore;
use super::attr::{get_n, n, opt_n, opt_s, pad, s, time_position};
use super::decide::{Decision, Reads};
use super::expr::Expr;
use super::state::{
    AVAILABLE_SHARDS, BookState, CouponCtx, CouponState, Tally, TallyChange, available_pk,
    counts_key, coupon_key, lock_code, lock_id_for, lock_value, meta_key, tally_update, usage_key,
};

impl DynamoStore {
    /// The writes of an assignment of `coupon` to `user_id`.
    pub(super) fn assign_items(
        &self,
        ctx: &CouponCtx,
        user_id: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<Coupon> {
        let CouponCtx {
            coupon,
            book,
            tally,
            ..
        } = ctx;
        let max = book.max();
        let mut expr = coupon.pinned();
        if let Some(max) = max {
            expr.cond("rc", "<", n(max));
        }
        expr.cond_not_exists("assigned_to");
        let position = time_position(now);
        expr.set("assigned_to", s(user_id))
            .set("aseq", n(position))
            .set("G3PK", s(format!("UCOUP#{user_id}")))
            .set("G3SK", s(pad(position)))
            .bump("lv");
        coupon.index_available(&mut expr, false);
        let mut items = vec![
            expr.into_update(&self.table, coupon_key(&coupon.record.code))?,
            book.check(&self.table)?,
        ];
        let mut usage = Expr::new();
        usage.add("a", 1);
        if let Some(limit) = book.settings.max_coupons_per_user {
            usage.cond_below("a", i64::from(limit));
        }
        items.push(usage.into_update(&self.table, usage_key(&book.id, user_id))?);
        let after = CouponRecord {
            assigned_to: Some(user_id.to_string()),
            ..coupon.record.clone()
        };
        let (counts, tally_after, exhausted) = tally_update(
            &self.table,
            book,
            Some(tally),
            &TallyChange {
                before: coupon.record.base_status(max),
                after: after.base_status(max),
                redemptions: 0,
                in_use: true,
                announce: true,
            },
        )?;
        items.push(counts);
        let view = after.view(max, &coupon.live_locks(now));
        items.push(self.event_put(by, event::COUPON_ASSIGNED, &view, now)?);
        if exhausted {
            let data = Self::book_after(book, &tally_after);
            items.push(self.event_put_beside(by, event::BOOK_EXHAUSTED, &data, now, &view.code)?);
        }
        Ok((view, items))
    }

    pub(super) async fn decide_assign(
        &self,
        code: &str,
        user_id: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<Coupon> {
        let ctx = self.load_ctx(code, Some(user_id)).await?;
        let plan = coupon::check_assign(
            &ctx.book.settings,
            &ctx.coupon.record,
            user_id,
            ctx.usage,
            now,
        )?;
        match plan {
            AssignPlan::AlreadyAssigned => Ok((ctx.coupon.view(ctx.book.max(), now), Vec::new())),
            AssignPlan::Assign => self.assign_items(&ctx, user_id, by, now),
        }
    }

    pub(super) async fn decide_assign_next(
        &self,
        book_id: &str,
        user_id: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<Coupon> {
        let items = self
            .batch_get(vec![
                meta_key(book_id),
                counts_key(book_id),
                usage_key(book_id, user_id),
            ])
            .await?;
        let (mut book, mut tally, mut usage) = (None, Tally::default(), UserUsage::default());
        for item in &items {
            match opt_s(item, "SK").as_deref() {
                Some("META") => book = Some(BookState::parse(item)?),
                Some("COUNTS") => tally = Tally::parse(item),
                Some(_) => {
                    usage = UserUsage {
                        assigned: opt_n(item, "a").unwrap_or(0).max(0) as u64,
                        redeemed: opt_n(item, "r").unwrap_or(0).max(0) as u64,
                    }
                }
                None => {}
            }
        }
        let book = book.ok_or_else(|| Error::book_not_found(book_id))?;
        book.settings.check_usable(now)?;
        coupon::check_assign_limit(&book.settings, usage)?;
        let exhausted = || {
            Error::new(
                ErrorCode::BookExhausted,
                "no available code left in this book",
            )
        };
        if tally.available <= 0 {
            return Err(exhausted());
        }
        // Start on a random shard of the available-codes index and pick at random among
        // its first candidates, so concurrent assigners rarely want the same code; the
        // conditional write settles any collision.
        let first = rand::rng().random_range(0..AVAILABLE_SHARDS);
        for step in 0..AVAILABLE_SHARDS {
            let shard = i64::from((first + step) % AVAILABLE_SHARDS);
            let (page, _) = self
                .query_page(Some("GSI1"), &available_pk(book_id, shard), None, 16)
                .await?;
            let mut candidates = Vec::new();
            for item in &page {
                let coupon = CouponState::parse(item)?;
                if coupon.record.base_status(book.max()) == BaseStatus::Available
                    && coupon.live_locks(now).is_empty()
                {
                    candidates.push(coupon);
                }
            }
            if candidates.is_empty() {
                continue;
            }
            let pick = rand::rng().random_range(0..candidates.len());
            let coupon = candidates.swap_remove(pick);
            let ctx = CouponCtx {
                coupon,
                book,
                tally,
                usage,
            };
            return self.assign_items(&ctx, user_id, by, now);
        }
        Err(exhausted())
    }

    pub(super) async fn decide_unassign(
        &self,
        code: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<Coupon> {
        let CouponCtx {
            coupon,
            book,
            tally,
            ..
        } = self.load_ctx(code, None).await?;
        let max = book.max();
        let UnassignPlan::Release { owner, after } = coupon::plan_unassign(&coupon.record)? else {
            return Ok((coupon.view(max, now), Vec::new()));
        };
        let mut expr = coupon.pinned();
        expr.cond("rc", "=", n(0));
        expr.remove(&["assigned_to"])
            .remove(&["aseq"])
            .remove(&["G3PK"])
            .remove(&["G3SK"])
            .bump("lv");
        coupon.index_available(&mut expr, after.base_status(max) == BaseStatus::Available);
        let mut usage = Expr::new();
        usage.add("a", -1);
        let (counts, _, _) = tally_update(
            &self.table,
            &book,
            Some(&tally),
            &TallyChange {
                before: coupon.record.base_status(max),
                after: after.base_status(max),
                redemptions: 0,
                in_use: false,
                announce: false,
            },
        )?;
        let view = after.view(max, &coupon.live_locks(now));
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            book.check(&self.table)?,
            usage.into_update(&self.table, usage_key(&book.id, &owner))?,
            counts,
            self.event_put_for(by, event::COUPON_UNASSIGNED, &view, now, Some(&owner))?,
        ];
        Ok((view, items))
    }

    pub(super) async fn decide_lock(
        &self,
        code: &str,
        user_id: &str,
        ttl: LockTtl,
        order: Option<&Order>,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<Lock> {
        let CouponCtx {
            coupon,
            book,
            tally,
            usage,
        } = self.load_ctx(code, Some(user_id)).await?;
        let live = coupon.live_locks(now);
        let context = UseContext {
            book: &book.settings,
            book_redemptions: tally.redemptions.max(0) as u64,
            coupon: &coupon.record,
            live_locks: &live,
            usage,
            user_id,
            now,
            order,
        };
        let plan = context.check_lock()?;
        let discount = context.discount();
        let ttl = ttl.seconds(book.settings.lock_ttl_seconds);
        let expires_at = now.plus_seconds(u64::from(ttl));
        let mut expr = coupon.pinned();
        let mut live_after = live.clone();
        let lock = match plan {
            LockPlan::New => {
                let lock = Lock {
                    lock_id: lock_id_for(code, &book.id),
                    code: code.to_string(),
                    user_id: user_id.to_string(),
                    expires_at,
                    discount: None,
                };
                // The new reservation must fit next to the live ones, whatever
                // unreserved redemptions happened since the read.
                if let Some(max) = book.max() {
                    expr.cond("rc", "<", n(i64::from(max) - live.len() as i64));
                }
                if coupon.locks.is_empty() {
                    let map = HashMap::from([(lock.lock_id.clone(), lock_value(&lock))]);
                    expr.set("locks", AttributeValue::M(map));
                } else {
                    expr.set_path(&["locks", &lock.lock_id], lock_value(&lock));
                }
                expr.set("G4PK", s(format!("LOCKED#{}", book.id)))
                    .set("G4SK", s(code))
                    .bump("lv");
                live_after.push(lock.clone());
                lock
            }
            LockPlan::Extend(lock_id) => {
                let current = live
                    .iter()
                    .find(|l| l.lock_id == lock_id)
                    .cloned()
                    .ok_or_else(Error::lock_not_found)?;
                let extended = Lock {
                    expires_at: current.expires_at.max(expires_at),
                    ..current
                };
                // Still live now, judged by the store against this request's time.
                expr.cond_path(&["locks", &lock_id, "e"], ">", n(now.millis()));
                expr.set_path(&["locks", &lock_id, "e"], n(extended.expires_at.millis()));
                for l in live_after.iter_mut().filter(|l| l.lock_id == lock_id) {
                    *l = extended.clone();
                }
                extended
            }
        };
        let view = coupon.record.view(book.max(), &live_after);
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            book.check(&self.table)?,
            self.event_put_for(by, event::COUPON_LOCKED, &view, now, Some(user_id))?,
        ];
        Ok((Lock { discount, ..lock }, items))
    }

    pub(super) async fn decide_unlock(
        &self,
        code: &str,
        lock_id: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<Coupon> {
        let CouponCtx { coupon, book, .. } = self.load_ctx(code, None).await?;
        let held = coupon.locks.iter().find(|l| l.lock_id == lock_id);
        coupon::check_unlock(held, code, now)?;
        let holder = held.map(|l| l.user_id.clone());
        let mut expr = coupon.pinned();
        expr.cond_path(&["locks", lock_id, "e"], ">", n(now.millis()));
        expr.remove(&["locks", lock_id]).bump("lv");
        if coupon.locks.len() == 1 {
            expr.remove(&["G4PK"]).remove(&["G4SK"]);
        }
        let live_after: Vec<Lock> = coupon
            .live_locks(now)
            .into_iter()
            .filter(|l| l.lock_id != lock_id)
            .collect();
        let view = coupon.record.view(book.max(), &live_after);
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            self.event_put_for(by, event::COUPON_UNLOCKED, &view, now, holder.as_deref())?,
        ];
        Ok((view, items))
    }

    /// Whether a lock id names a lock stored anywhere (live or not).
    pub(super) async fn lock_exists(
        &self,
        code: &str,
        coupon: &CouponState,
        lock_id: &str,
    ) -> Result<bool> {
        if coupon.locks.iter().any(|l| l.lock_id == lock_id) {
            return Ok(true);
        }
        match lock_code(lock_id) {
            Some(other) if other != code => match self.get(coupon_key(other)).await? {
                Some(item) => Ok(CouponState::parse(&item)?
                    .locks
                    .iter()
                    .any(|l| l.lock_id == lock_id)),
                None => Ok(false),
            },
            _ => Ok(false),
        }
    }

    pub(super) async fn decide_void(
        &self,
        code: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<Coupon> {
        let CouponCtx {
            coupon,
            book,
            tally,
            ..
        } = self.load_ctx(code, None).await?;
        let max = book.max();
        let Some(after) = coupon::plan_void(&coupon.record) else {
            return Ok((coupon.view(max, now), Vec::new()));
        };
        let mut expr = coupon.pinned();
        if let Some(max) = max {
            let op = if coupon.rc() >= i64::from(max) {
                ">="
            } else {
                "<"
            };
            expr.cond("rc", op, n(max));
        }
        expr.set("voided", AttributeValue::Bool(true))
            .remove(&["locks"])
            .remove(&["G4PK"])
            .remove(&["G4SK"])
            .bump("lv");
        coupon.index_available(&mut expr, false);
        let (counts, _, _) = tally_update(
            &self.table,
            &book,
            Some(&tally),
            &TallyChange {
                before: coupon.record.base_status(max),
                after: after.base_status(max),
                redemptions: 0,
                in_use: false,
                announce: false,
            },
        )?;
        let view = after.view(max, &[]);
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            book.check(&self.table)?,
            counts,
            self.event_put(by, event::COUPON_VOIDED, &view, now)?,
        ];
        Ok((view, items))
    }

    pub(super) async fn decide_update_coupon(
        &self,
        code: &str,
        patch: &UpdateCoupon,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<Coupon> {
        let coupon = self.load_coupon(code).await?;
        let details = patch.apply(&coupon.record.details)?;
        let (book, _) = self.load_book(&coupon.record.book_id).await?;
        let mut expr = Expr::new();
        expr.cond_exists("PK");
        match details.to_stored() {
            Some(text) => expr.set("details", s(text)),
            None => expr.remove(&["details"]),
        };
        let after = CouponState {
            record: CouponRecord {
                details,
                ..coupon.record.clone()
            },
            ..coupon
        };
        let view = after.view(book.max(), now);
        let items = vec![
            expr.into_update(&self.table, coupon_key(code))?,
            self.event_put(by, event::COUPON_UPDATED, &view, now)?,
        ];
        Ok((view, items))
    }
}

#[async_trait]
impl CouponStore for DynamoStore {
    async fn get_coupon(&self, code: &str) -> Result<Coupon> {
        let coupon = self.load_coupon(code).await?;
        let (book, _) = self
            .load_book(&coupon.record.book_id)
            .await
            .map_err(|_| Error::coupon_not_found(code))?;
        Ok(coupon.view(book.max(), self.clock.now()))
    }

    async fn assign(&self, code: &str, user_id: &str, write: Write) -> Result<Coupon> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            self.decide_assign(code, user_id, by, now)
        })
        .await
    }

    async fn assign_next(&self, book_id: &str, user_id: &str, write: Write) -> Result<Coupon> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            self.decide_assign_next(book_id, user_id, by, now)
        })
        .await
    }

    async fn unassign(&self, code: &str, write: Write) -> Result<Coupon> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            self.decide_unassign(code, by, now)
        })
        .await
    }

    async fn validate_order(
        &self,
        code: &str,
        user_id: &str,
        order: Option<Order>,
    ) -> Result<Validation> {
        let now = self.clock.now();
        let ctx = self.load_ctx(code, Some(user_id)).await?;
        let live = ctx.coupon.live_locks(now);
        let context = UseContext {
            book: &ctx.book.settings,
            book_redemptions: ctx.tally.redemptions.max(0) as u64,
            coupon: &ctx.coupon.record,
            live_locks: &live,
            usage: ctx.usage,
            user_id,
            now,
            order: order.as_ref(),
        };
        Validation::judge(&context, ctx.coupon.record.view(ctx.book.max(), &live))
    }

    async fn lock_order(
        &self,
        code: &str,
        user_id: &str,
        ttl: LockTtl,
        order: Option<Order>,
        write: Write,
    ) -> Result<Lock> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            self.decide_lock(code, user_id, ttl, order.as_ref(), by, now)
        })
        .await
    }

    async fn lock_holder(&self, lock_id: &str) -> Result<Option<String>> {
        let Some(code) = lock_code(lock_id) else {
            return Ok(None);
        };
        let Some(item) = self.get(coupon_key(code)).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        Ok(CouponState::parse(&item)?
            .locks
            .into_iter()
            .find(|l| l.lock_id == lock_id && l.is_live(now))
            .map(|l| l.user_id))
    }

    async fn unlock(&self, code: &str, lock_id: &str, write: Write) -> Result<Coupon> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            self.decide_unlock(code, lock_id, by, now)
        })
        .await
    }

    async fn redeem(&self, request: RedeemRequest, write: Write) -> Result<Redemption> {
        let by = &write.actor;
        self.run_with(write.idem.as_ref(), Reads::Least, |now, reads| {
            self.decide_redeem(&request, by, now, reads)
        })
        .await
    }

    async fn void(&self, code: &str, write: Write) -> Result<Coupon> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| self.decide_void(code, by, now))
            .await
    }

    async fn redeem_many(
        &self,
        request: MultiRedeemRequest,
        write: Write,
    ) -> Result<MultiRedemption> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            self.decide_redeem_many(&request, by, now)
        })
        .await
    }

    async fn update_coupon(&self, code: &str, patch: UpdateCoupon, write: Write) -> Result<Coupon> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            self.decide_update_coupon(code, &patch, by, now)
        })
        .await
    }

    async fn user_coupons(
        &self,
        user_id: &str,
        book_id: Option<&str>,
        status: Option<CouponStatus>,
        page: PageRequest,
    ) -> Result<Page<Coupon>> {
        let mut books: HashMap<String, Option<u32>> = HashMap::new();
        if let Some(book_id) = book_id {
            let (book, _) = self.load_book(book_id).await?;
            books.insert(book.id.clone(), book.max());
        }
        let now = self.clock.now();
        let mut after = page.after.map(pad);
        let mut found = Vec::new();
        loop {
            let (items, more) = self
                .query_page(
                    Some("GSI3"),
                    &format!("UCOUP#{user_id}"),
                    after.as_deref(),
                    200,
                )
                .await?;
            for item in &items {
                let coupon = CouponState::parse(item)?;
                if book_id.is_some_and(|b| b != coupon.record.book_id) {
                    continue;
                }
                let max = match books.get(&coupon.record.book_id) {
                    Some(max) => *max,
                    None => match self.load_book(&coupon.record.book_id).await {
                        Ok((book, _)) => {
                            books.insert(book.id.clone(), book.max());
                            book.max()
                        }
                        Err(err) if err.code == ErrorCode::BookNotFound => continue,
                        Err(err) => return Err(err),
                    },
                };
                let view = coupon.view(max, now);
                if status.is_none_or(|s| view.status == s) {
                    found.push((get_n(item, "aseq")?, view));
                }
                if found.len() > page.limit as usize {
                    return Ok(page_of(found, page.limit));
                }
            }
            after = items.last().and_then(|item| opt_s(item, "G3SK"));
            if !more || after.is_none() {
                return Ok(page_of(found, page.limit));
            }
        }
    }
}
