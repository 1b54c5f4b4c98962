//! Several codes redeemed on one order in one TransactWriteItems: every code's
//! update, its redemption and event, and once per book its settings check, the user's
//! usage and the counters (one item may appear only once in a transaction).

use std::collections::HashMap;

use crate::domain::checkout::{
    CodeCheck, MultiRedemption, Planned, at_item, combine_for_redemption,
};
use crate::domain::coupon::{Redemption, UseContext};
use crate::domain::event::{self, Actor};
use crate::domain::{Error, Timestamp};
use crate::store::MultiRedeemRequest;

use super::DynamoStore;
use super::decide::Decision;
use super::expr::Expr;
use super::redeem::coupon_redemption;
use super::state::{BookState, Tally, TallyChange, coupon_key, tally_update_many, usage_key};

/// One book's share of the step: its state as read and the codes of it redeemed.
struct BookShare {
    book: BookState,
    tally: Tally,
    changes: Vec<TallyChange>,
    codes: Vec<String>,
}

impl DynamoStore {
    pub(super) async fn decide_redeem_many(
        &self,
        request: &MultiRedeemRequest,
        by: &Actor,
        now: Timestamp,
    ) -> Decision<MultiRedemption> {
        let user_id = request.user_id.as_str();
        let mut planned = Planned::default();
        let mut shares: Vec<BookShare> = Vec::new();
        let mut share_of: HashMap<String, usize> = HashMap::new();
        let mut coupon_updates = Vec::with_capacity(request.items.len());
        let mut checks = Vec::with_capacity(request.items.len());
        let mut book_ids = Vec::with_capacity(request.items.len());
        for (index, item) in request.items.iter().enumerate() {
            let at = at_item(index);
            let ctx = self
                .load_ctx(&item.code, Some(user_id))
                .await
                .map_err(&at)?;
            if let Some(lock_id) = &item.lock_id
                && !self.lock_exists(&item.code, &ctx.coupon, lock_id).await?
            {
                return Err(at(Error::lock_not_found()));
            }
            let live = ctx.coupon.live_locks(now);
            let (usage, book_redemptions) =
                planned.counted(&ctx.book.id, ctx.usage, ctx.tally.redemptions.max(0) as u64);
            let context = UseContext {
                book: &ctx.book.settings,
                book_redemptions,
                coupon: &ctx.coupon.record,
                live_locks: &live,
                usage,
                user_id,
                now,
                order: Some(&request.order),
            };
            let plan = context.check_redeem(item.lock_id.as_deref()).map_err(&at)?;
            checks.push(CodeCheck {
                code: item.code.clone(),
                failures: Vec::new(),
                reward: context.coupon.effective_reward(context.book).cloned(),
                combinable: ctx.book.settings.combinable,
            });
            let (expr, change) =
                coupon_redemption(&ctx.coupon, ctx.book.max(), &plan, live.len(), now);
            coupon_updates.push(expr.into_update(&self.table, coupon_key(&item.code))?);
            planned.add(&item.code, &ctx.book.id).map_err(&at)?;
            book_ids.push(ctx.book.id.clone());
            let share = *share_of.entry(ctx.book.id.clone()).or_insert_with(|| {
                shares.push(BookShare {
                    book: ctx.book.clone(),
                    tally: ctx.tally,
                    changes: Vec::new(),
                    codes: Vec::new(),
                });
                shares.len() - 1
            });
            shares[share].changes.push(change);
            shares[share].codes.push(item.code.clone());
        }
        let judged = combine_for_redemption(&request.order, &checks)?;
        let mut writes = coupon_updates;
        let mut redemptions = Vec::with_capacity(checks.len());
        for ((check, verdict), book_id) in checks.iter().zip(judged.results).zip(&book_ids) {
            let redemption = Redemption::new(
                &check.code,
                book_id,
                user_id,
                now,
                None,
                Some(&request.order),
                verdict.discount,
            );
            writes.push(self.redemption_put(&redemption, now)?);
            writes.push(self.event_put(by, event::COUPON_REDEEMED, &redemption, now)?);
            redemptions.push(redemption);
        }
        for share in &shares {
            let uses = share.changes.len() as i64;
            let mut usage = Expr::new();
            usage.add("r", uses);
            if let Some(limit) = share.book.settings.max_redemptions_per_user {
                usage.cond_below("r", i64::from(limit) - uses + 1);
            }
            let (counts, tally_after, exhausted) =
                tally_update_many(&self.table, &share.book, Some(&share.tally), &share.changes)?;
            writes.push(share.book.check(&self.table)?);
            writes.push(usage.into_update(&self.table, usage_key(&share.book.id, user_id))?);
            writes.push(counts);
            if exhausted {
                let data = Self::book_after(&share.book, &tally_after);
                let beside = share.codes.first().map(String::as_str).unwrap_or_default();
                writes.push(self.event_put_beside(
                    by,
                    event::BOOK_EXHAUSTED,
                    &data,
                    now,
                    beside,
                )?);
            }
        }
        Ok((
            MultiRedemption {
                redemptions,
                total_discount: judged.total_discount,
            },
            writes,
        ))
    }
}
