//! Redemptions in the DynamoDB table: reversal and listing.

use async_trait::async_trait;

use crate::domain::coupon::{BaseStatus, Redemption, RedemptionStatus, plan_reverse};
use crate::domain::event::{self, Actor};
use crate::domain::export::RedemptionWindow;
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{RedemptionFilter, Write, prelude::*};

use super::DynamoStore;
use super::attr::{Item, first_position, from_json, get_n, get_s, n, opt_n, opt_s, pad, s};
use super::decide::Decision;
use super::expr::Expr;
use super::state::{CouponCtx, TallyChange, coupon_key, redemption_key, tally_update, usage_key};

/// Partitions of the "every redemption" index (GSI4 `RALL#<n>`): a single one would be
/// a hot partition taking every redemption of the table.
const ALL_REDEMPTION_SHARDS: i64 = 4;

/// The GSI4 partition of a redemption at this position (its low, random bits).
pub(super) fn all_redemptions_key(position: i64) -> String {
    format!("RALL#{}", position.rem_euclid(ALL_REDEMPTION_SHARDS))
}

pub(super) fn parse_redemption(item: &Item) -> Result<(i64, Redemption)> {
    let reversed_at = opt_n(item, "reversed_at").map(Timestamp);
    let metadata = match opt_s(item, "metadata") {
        Some(text) => Some(from_json(&text)?),
        None => None,
    };
    Ok((
        get_n(item, "pos")?,
        Redemption::stored(
            get_s(item, "id")?,
            get_s(item, "code")?,
            get_s(item, "book_id")?,
            get_s(item, "user_id")?,
            Timestamp(get_n(item, "redeemed_at")?),
            reversed_at,
            metadata,
        )
        .with_checkout(opt_s(item, "checkout").as_deref())?,
    ))
}

impl DynamoStore {
    /// Every redemption in position order, a page at a time: one bounded query per
    /// partition of the index (at most `limit + 1` items each), merged here.
    async fn list_all_redemptions(
        &self,
        page: PageRequest,
        window: RedemptionWindow,
    ) -> Result<Page<Redemption>> {
        let (after, before) = position_range(page.after, window);
        let after = after.map(pad);
        let mut found = Vec::new();
        for shard in 0..ALL_REDEMPTION_SHARDS {
            let (items, _) = self
                .query_page(
                    Some("GSI4"),
                    &format!("RALL#{shard}"),
                    after.as_deref(),
                    page.limit as i32 + 1,
                )
                .await?;
            for item in &items {
                let (pos, redemption) = parse_redemption(item)?;
                if before.is_none_or(|before| pos < before)
                    && window.contains(redemption.redeemed_at)
                {
                    found.push((pos, redemption));
                }
            }
        }
        found.sort_by_key(|(pos, _)| *pos);
        found.truncate(page.limit as usize + 1);
        Ok(page_of(found, page.limit))
    }

    /// Puts redemptions stored before the "every redemption" index existed into it, so
    /// the unfiltered list shows them (`coupon-book dynamodb reindex`). A scan of the
    /// redemption items, a page at a time; returns how many were added.
    pub async fn reindex_redemptions(&self) -> Result<u64> {
        let mut added = 0;
        let mut start = None;
        loop {
            let (items, next) = self.scan_prefix_page("RED#", start).await?;
            for item in items.iter().filter(|item| !item.contains_key("G4PK")) {
                let (position, redemption) = parse_redemption(item)?;
                let mut expr = Expr::new();
                expr.cond_not_exists("G4PK");
                expr.set("G4PK", s(all_redemptions_key(position)));
                expr.set("G4SK", s(pad(position)));
                if self
                    .update_returning(redemption_key(&redemption.id), expr)
                    .await?
                    .is_some()
                {
                    added += 1;
                }
            }
            match next {
                Some(key) => start = Some(key),
                None => return Ok(added),
            }
        }
    }

    pub(super) async fn decide_reverse(
        &self,
        redemption_id: &str,
        by: &Actor,
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
            self.event_put(by, event::REDEMPTION_REVERSED, &redemption, now)?,
        ];
        Ok((redemption, items))
    }
}

#[async_trait]
impl RedemptionStore for DynamoStore {
    async fn reverse(&self, redemption_id: &str, write: Write) -> Result<Redemption> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            self.decide_reverse(redemption_id, by, now)
        })
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
        let window = filter.redeemed;
        let keep = |r: &Redemption| {
            filter.book_id.as_ref().is_none_or(|b| &r.book_id == b)
                && filter.user_id.as_ref().is_none_or(|u| &r.user_id == u)
                && filter.code.as_ref().is_none_or(|c| &r.code == c)
                && window.contains(r.redeemed_at)
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
            return self.list_all_redemptions(page, window).await;
        };
        let sk_name = format!("G{}SK", index.trim_start_matches("GSI"));
        let (after, before) = position_range(page.after, window);
        let mut after = after.map(pad);
        let mut found = Vec::new();
        loop {
            let (items, more) = self
                .query_page(Some(index), &pk, after.as_deref(), page.limit as i32 + 1)
                .await?;
            for item in &items {
                let (pos, redemption) = parse_redemption(item)?;
                if before.is_some_and(|before| pos >= before) {
                    // Past the window: nothing later belongs to it.
                    return Ok(page_of(found, page.limit));
                }
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

/// The positions a page of a time window reads: after the page's cursor and before
/// the window's start (exclusive), and below its end (exclusive). Positions carry the
/// redemption's millisecond, so the window is a key range, not a filter.
fn position_range(after: Option<i64>, window: RedemptionWindow) -> (Option<i64>, Option<i64>) {
    let floor = window.from.map(|from| first_position(from) - 1);
    let after = match (after, floor) {
        (Some(after), Some(floor)) => Some(after.max(floor)),
        (after, floor) => after.or(floor),
    };
    (after, window.to.map(first_position))
}
