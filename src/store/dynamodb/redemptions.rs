//! Redemptions in the DynamoDB table: reversal and listing.

use async_trait::async_trait;

use crate::domain::coupon::{BaseStatus, Redemption, RedemptionStatus, plan_reverse};
use crate::domain::event;
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Idempotency, RedemptionFilter, prelude::*};

use super::DynamoStore;
use super::attr::{Item, from_json, get_n, get_s, n, opt_n, opt_s, pad};
use super::decide::Decision;
use super::expr::Expr;
use super::state::{CouponCtx, TallyChange, coupon_key, redemption_key, tally_update, usage_key};

pub(super) fn parse_redemption(item: &Item) -> Result<(i64, Redemption)> {
    let reversed_at = opt_n(item, "reversed_at").map(Timestamp);
    let metadata = match opt_s(item, "metadata") {
        Some(text) => Some(from_json(&text)?),
        None => None,
    };
    Ok((
        get_n(item, "pos")?,
        Redemption {
            id: get_s(item, "id")?,
            code: get_s(item, "code")?,
            book_id: get_s(item, "book_id")?,
            user_id: get_s(item, "user_id")?,
            status: if reversed_at.is_some() {
                RedemptionStatus::Reversed
            } else {
                RedemptionStatus::Redeemed
            },
            redeemed_at: Timestamp(get_n(item, "redeemed_at")?),
            reversed_at,
            metadata,
        },
    ))
}

impl DynamoStore {
    pub(super) async fn decide_reverse(
        &self,
        redemption_id: &str,
        now: Timestamp,
    ) -> Decision<Redemption> {
        let item = self
            .get(redemption_key(redemption_id))
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::RedemptionNotFound,
                    format!("no redemption with id {redemption_id:?}"),
                )
            })?;
        let (_, mut redemption) = parse_redemption(&item)?;
        let CouponCtx {
            coupon,
            book,
            tally,
            ..
        } = self.load_ctx(&redemption.code, None).await?;
        let max = book.max();
        let after = plan_reverse(&redemption, &coupon.record)?;
        let mut expr = Expr::new();
        expr.add("rc", -1);
        let was_used_up = max.is_some_and(|max| coupon.rc() >= i64::from(max));
        if was_used_up {
            // The coupon comes back into use: exactly from this count and state.
            expr.cond("rc", "=", n(coupon.rc()));
            expr.cond("lv", "=", n(coupon.lv));
            coupon.index_available(&mut expr, after.base_status(max) == BaseStatus::Available);
        } else {
            expr.cond("rc", ">", n(0));
            if let Some(max) = max {
                expr.cond("rc", "<", n(max));
            }
        }
        let mut red = Expr::new();
        red.cond_not_exists("reversed_at");
        red.set("reversed_at", n(now.millis()));
        let mut usage = Expr::new();
        usage.add("r", -1);
        let (counts, _, _) = tally_update(
            &self.table,
            &book,
            Some(&tally),
            &TallyChange {
                before: coupon.record.base_status(max),
                after: after.base_status(max),
                redemptions: -1,
                in_use: false,
                announce: false,
            },
        )?;
        redemption.status = RedemptionStatus::Reversed;
        redemption.reversed_at = Some(now);
        let items = vec![
            red.into_update(&self.table, redemption_key(redemption_id))?,
            expr.into_update(&self.table, coupon_key(&redemption.code))?,
            book.check(&self.table)?,
            usage.into_update(&self.table, usage_key(&book.id, &redemption.user_id))?,
            counts,
            self.event_put(event::REDEMPTION_REVERSED, &redemption, now)?,
        ];
        Ok((redemption, items))
    }
}

#[async_trait]
impl RedemptionStore for DynamoStore {
    async fn reverse(&self, redemption_id: &str, idem: Option<Idempotency>) -> Result<Redemption> {
        self.run(idem.as_ref(), |now| self.decide_reverse(redemption_id, now))
            .await
    }

    async fn get_redemption(&self, redemption_id: &str) -> Result<Redemption> {
        match self.get(redemption_key(redemption_id)).await? {
            Some(item) => Ok(parse_redemption(&item)?.1),
            None => Err(Error::new(
                ErrorCode::RedemptionNotFound,
                format!("no redemption with id {redemption_id:?}"),
            )),
        }
    }

    async fn list_redemptions(
        &self,
        filter: RedemptionFilter,
        page: PageRequest,
    ) -> Result<Page<Redemption>> {
        let keep = |r: &Redemption| {
            filter.book_id.as_ref().is_none_or(|b| &r.book_id == b)
                && filter.user_id.as_ref().is_none_or(|u| &r.user_id == u)
                && filter.code.as_ref().is_none_or(|c| &r.code == c)
        };
        let index = if let Some(code) = &filter.code {
            Some(("GSI3", format!("RCODE#{code}")))
        } else if let Some(user) = &filter.user_id {
            Some(("GSI2", format!("RUSER#{user}")))
        } else {
            filter
                .book_id
                .as_ref()
                .map(|book| ("GSI1", format!("RBOOK#{book}")))
        };
        let Some((index, pk)) = index else {
            // No filter: every redemption, sorted here (an operator's view).
            let mut all = Vec::new();
            for item in self.scan_prefix("RED#").await? {
                let (pos, redemption) = parse_redemption(&item)?;
                if page.after.is_none_or(|after| pos > after) {
                    all.push((pos, redemption));
                }
            }
            all.sort_by_key(|(pos, _)| *pos);
            all.truncate(page.limit as usize + 1);
            return Ok(page_of(all, page.limit));
        };
        let sk_name = format!("G{}SK", index.trim_start_matches("GSI"));
        let mut after = page.after.map(pad);
        let mut found = Vec::new();
        loop {
            let (items, more) = self
                .query_page(Some(index), &pk, after.as_deref(), page.limit as i32 + 1)
                .await?;
            for item in &items {
                let (pos, redemption) = parse_redemption(item)?;
                if keep(&redemption) {
                    found.push((pos, redemption));
                }
                if found.len() > page.limit as usize {
                    return Ok(page_of(found, page.limit));
                }
            }
            after = items.last().and_then(|item| opt_s(item, &sk_name));
            if !more || after.is_none() {
                return Ok(page_of(found, page.limit));
            }
        }
    }
}
