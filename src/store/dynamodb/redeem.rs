//! The redeem decision, on full reads or on the least a transaction can stand in for.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use crate::domain::coupon::{BaseStatus, CouponRecord, RedeemPlan, Redemption, UseContext};
use crate::domain::event::{self, Actor};
use crate::domain::reward::{Discount, judge_order};
use crate::domain::{Error, Result, Timestamp};
use crate::store::RedeemRequest;

use super::DynamoStore;
use super::attr::{n, pad, s, time_position, to_json};
use super::decide::{Decision, Reads};
use super::expr::{Expr, put_new};
use super::redemptions::all_redemptions_key;
use super::state::{
    BookState, CouponState, Tally, TallyChange, coupon_key, lock_parts, redemption_key,
    tally_update, usage_key,
};

/// A redemption being decided: what was asked, and by whom.
#[derive(Clone, Copy)]
pub(super) struct Asked<'a> {
    pub(super) request: &'a RedeemRequest,
    pub(super) by: &'a Actor,
    /// What the code takes off the request's order, once decided.
    pub(super) discount: Option<&'a Discount>,
}

/// The coupon's update for one more redemption as planned, and its book's change.
pub(super) fn coupon_redemption(
    coupon: &CouponState,
    max: Option<u32>,
    plan: &RedeemPlan,
    live_locks: usize,
    now: Timestamp,
) -> (Expr, TallyChange) {
    let after = CouponRecord {
        redemption_count: coupon.record.redemption_count + 1,
        ..coupon.record.clone()
    };
    let mut expr = coupon.pinned();
    expr.add("rc", 1);
    if let Some(max) = max {
        let max = i64::from(max);
        if coupon.rc() + 1 >= max {
            // This redemption uses the coupon up: exactly from this count.
            expr.cond("rc", "=", n(coupon.rc()));
        } else {
            let reserved = match plan {
                RedeemPlan::Unreserved => live_locks as i64,
                RedeemPlan::ConsumeLock(_) => 0,
            };
            expr.cond("rc", "<", n(max - reserved.max(1)));
        }
    }
    if after.base_status(max) != BaseStatus::Available
        && coupon.record.base_status(max) == BaseStatus::Available
    {
        coupon.index_available(&mut expr, false);
    }
    if let RedeemPlan::ConsumeLock(lock_id) = plan {
        expr.cond_path(&["locks", lock_id, "e"], ">", n(now.millis()));
        expr.remove(&["locks", lock_id]).bump("lv");
        if coupon.locks.len() == 1 {
            expr.remove(&["G4PK"]).remove(&["G4SK"]);
        }
    }
    let change = TallyChange {
        before: coupon.record.base_status(max),
        after: after.base_status(max),
        redemptions: 1,
        in_use: true,
        announce: true,
    };
    (expr, change)
}

impl DynamoStore {
    pub(super) async fn decide_redeem(
        &self,
        request: &RedeemRequest,
        by: &Actor,
        now: Timestamp,
        reads: Reads,
    ) -> Decision<Redemption> {
        let asked = Asked {
            request,
            by,
            discount: None,
        };
        if reads == Reads::Least
            && let Some(decided) = self.redeem_unread(asked, now)?
        {
            return Ok(decided);
        }
        let code = request.code.as_str();
        let user_id = request.user_id.as_str();
        let (coupon, book, counted) = match reads {
            Reads::Least => {
                let coupon = self.load_coupon(code).await?;
                match self.known_book(&coupon.record.book_id) {
                    Some(book) => (coupon, book, None),
                    None => {
                        let ctx = self.ctx_around(coupon, Some(user_id)).await?;
                        (ctx.coupon, ctx.book, Some((ctx.tally, ctx.usage)))
                    }
                }
            }
            Reads::Full => {
                let ctx = self.load_ctx(code, Some(user_id)).await?;
                (ctx.coupon, ctx.book, Some((ctx.tally, ctx.usage)))
            }
        };
        let tally = counted.map(|(tally, _)| tally);
        let usage = counted.map(|(_, usage)| usage).unwrap_or_default();
        if let Some(lock_id) = &request.lock_id
            && !self.lock_exists(code, &coupon, lock_id).await?
        {
            return Err(Error::lock_not_found());
        }
        let live = coupon.live_locks(now);
        let context = UseContext {
            book: &book.settings,
            book_redemptions: tally.map_or(0, |t| t.redemptions.max(0) as u64),
            coupon: &coupon.record,
            live_locks: &live,
            usage,
            user_id,
            now,
            order: request.order.as_ref(),
        };
        let plan = context.check_redeem(request.lock_id.as_deref())?;
        let discount = context.discount();
        let (expr, change) = coupon_redemption(&coupon, book.max(), &plan, live.len(), now);
        let asked = Asked {
            discount: discount.as_ref(),
            ..asked
        };
        self.redemption_writes(asked, &book, expr, tally.as_ref(), &change, now)
    }

    /// A redemption decided on nothing read (`Reads::Least`), when the book and
    /// its settings are known and the usual shape can be stated as conditions: the
    /// coupon is in that book and not voided; assigned to the user if the book
    /// requires it, else unassigned; single-use and unused, or with more than one use
    /// left; without locks, or with only the presented one, live and the user's.
    /// `None` when that cannot be said without reading.
    pub(super) fn redeem_unread(
        &self,
        asked: Asked,
        now: Timestamp,
    ) -> Result<Option<(Redemption, Vec<TransactWriteItem>)>> {
        let request = asked.request;
        let code = request.code.as_str();
        let user_id = request.user_id.as_str();
        let remembered = || {
            self.code_books
                .lock()
                .ok()
                .and_then(|m| m.get(code).cloned())
        };
        let book_id = match request.lock_id.as_deref().map(lock_parts) {
            Some(Some((named, lock_code))) if lock_code == code => named.or_else(remembered),
            Some(_) => None,
            None => remembered(),
        };
        let Some(book) = book_id.and_then(|id| self.known_book(&id)) else {
            return Ok(None);
        };
        let settings = &book.settings;
        if settings.check_usable(now).is_err() {
            return Ok(None);
        }
        // The coupon carries no reward of its own (checked below): the book's applies.
        // Refused on the order: the full read decides which rule comes first.
        let Ok(discount) = judge_order(settings.reward.as_ref(), request.order.as_ref()) else {
            return Ok(None);
        };
        let mut expr = Expr::new();
        expr.cond("book", "=", s(&book.id));
        expr.cond("voided", "=", AttributeValue::Bool(false));
        // A code with its own window or reward is decided on a full read.
        expr.cond_not_exists("details");
        let before = if settings.requires_assignment {
            expr.cond("assigned_to", "=", s(user_id));
            BaseStatus::Assigned
        } else {
            expr.cond_not_exists("assigned_to");
            BaseStatus::Available
        };
        let after = match book.max() {
            Some(1) => {
                expr.cond("rc", "=", n(0));
                BaseStatus::Redeemed
            }
            Some(max) if max > 1 => {
                expr.cond("rc", "<", n(i64::from(max) - 1));
                before
            }
            Some(_) => return Ok(None),
            None => before,
        };
        expr.add("rc", 1);
        if before == BaseStatus::Available && after != BaseStatus::Available {
            expr.remove(&["G1PK"]).remove(&["G1SK"]);
        }
        match &request.lock_id {
            Some(lock_id) => {
                expr.cond_path(&["locks", lock_id, "u"], "=", s(user_id));
                expr.cond_path(&["locks", lock_id, "e"], ">", n(now.millis()));
                expr.cond_entries("locks", 1);
                expr.remove(&["locks", lock_id]).bump("lv");
                expr.remove(&["G4PK"]).remove(&["G4SK"]);
            }
            None => {
                expr.cond_entries("locks", 0);
            }
        }
        let change = TallyChange {
            before,
            after,
            redemptions: 1,
            in_use: true,
            announce: true,
        };
        let asked = Asked {
            discount: discount.as_ref(),
            ..asked
        };
        self.redemption_writes(asked, &book, expr, None, &change, now)
            .map(Some)
    }

    /// The writes of a redemption next to its coupon update: the book's settings
    /// check, the user's usage, the counters, the redemption and its event(s).
    pub(super) fn redemption_writes(
        &self,
        asked: Asked,
        book: &BookState,
        coupon_update: Expr,
        tally: Option<&Tally>,
        change: &TallyChange,
        now: Timestamp,
    ) -> Decision<Redemption> {
        let Asked {
            request,
            by,
            discount,
        } = asked;
        let code = request.code.as_str();
        let user_id = request.user_id.as_str();
        let mut usage_expr = Expr::new();
        usage_expr.add("r", 1);
        if let Some(limit) = book.settings.max_redemptions_per_user {
            usage_expr.cond_below("r", i64::from(limit));
        }
        let (counts, tally_after, exhausted) = tally_update(&self.table, book, tally, change)?;
        let redemption = Redemption::new(
            code,
            &book.id,
            user_id,
            now,
            request.metadata.clone(),
            request.order.as_ref(),
            discount.cloned(),
        );
        let mut items = vec![
            coupon_update.into_update(&self.table, coupon_key(code))?,
            book.check(&self.table)?,
            usage_expr.into_update(&self.table, usage_key(&book.id, user_id))?,
            counts,
            self.redemption_put(&redemption, now)?,
            self.event_put(by, event::COUPON_REDEEMED, &redemption, now)?,
        ];
        if exhausted {
            let data = Self::book_after(book, &tally_after);
            items.push(self.event_put_beside(by, event::BOOK_EXHAUSTED, &data, now, code)?);
        }
        Ok((redemption, items))
    }

    /// The new redemption's item, indexed by book, user, code and time.
    pub(super) fn redemption_put(
        &self,
        redemption: &Redemption,
        now: Timestamp,
    ) -> Result<TransactWriteItem> {
        let position = time_position(now);
        let mut item = redemption_key(&redemption.id);
        item.insert("id".into(), s(&redemption.id));
        item.insert("code".into(), s(&redemption.code));
        item.insert("book_id".into(), s(&redemption.book_id));
        item.insert("user_id".into(), s(&redemption.user_id));
        item.insert("redeemed_at".into(), n(now.millis()));
        item.insert("pos".into(), n(position));
        if let Some(metadata) = &redemption.metadata {
            item.insert("metadata".into(), s(to_json(metadata)?));
        }
        if let Some(checkout) = redemption.checkout_json() {
            item.insert("checkout".into(), s(checkout));
        }
        for (index, pk) in [
            (1, format!("RBOOK#{}", redemption.book_id)),
            (2, format!("RUSER#{}", redemption.user_id)),
            (3, format!("RCODE#{}", redemption.code)),
            (4, all_redemptions_key(position)),
        ] {
            item.insert(format!("G{index}PK"), s(pk));
            item.insert(format!("G{index}SK"), s(pad(position)));
        }
        put_new(&self.table, item)
    }
}
