//! Coupon decisions in the embedded store: assign, lock, redeem, void and the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::checkout::{
    CodeCheck, MultiRedemption, Planned, at_item, combine_for_redemption,
};
use crate::domain::coupon::{
    self, AssignPlan, Coupon, CouponRecord, CouponStatus, Lock, LockPlan, LockTtl, RedeemPlan,
    Redemption, UnassignPlan, UpdateCoupon, UseContext, UserUsage,
};
use crate::domain::event;
use crate::domain::event::Actor;
use crate::domain::ids::new_id;
use crate::domain::order::Order;
use crate::domain::tally::{Tally, became_exhausted};
use crate::domain::{Error, ErrorCode, Page, PageRequest, Result, Timestamp};
use crate::store::{MultiRedeemRequest, RedeemRequest, Validation, Write, prelude::*};

use super::SqliteStore;
use super::events::{append_event, append_user_event};
use super::rows::{
    BookRow, COUPON_COLUMNS, CouponChange, CouponRow, add_usage, book_view, coupon_page,
    coupon_view, find_lock, live_locks, load_book, load_book_by_seq, load_coupon, save_coupon,
    usage,
};
use super::writer::Db;
use super::writer::to_json;

/// What a lock, redeem or validate decision needs, read in the same step as it.
pub(super) struct UseState {
    pub(super) row: CouponRow,
    pub(super) book: BookRow,
    pub(super) locks: Vec<Lock>,
    pub(super) usage: UserUsage,
}

impl UseState {
    pub(super) fn load(
        conn: &Connection,
        row: CouponRow,
        user_id: &str,
        now: Timestamp,
    ) -> Result<Self> {
        let book = load_book_by_seq(conn, row.book_seq)?;
        let locks = live_locks(conn, &row.record.code, now)?;
        let usage = usage(conn, row.book_seq, user_id)?;
        Ok(UseState {
            row,
            book,
            locks,
            usage,
        })
    }

    pub(super) fn context<'a>(
        &'a self,
        user_id: &'a str,
        now: Timestamp,
        order: Option<&'a Order>,
    ) -> UseContext<'a> {
        UseContext {
            order,
            book: &self.book.settings,
            book_redemptions: self.book.redemptions as u64,
            coupon: &self.row.record,
            live_locks: &self.locks,
            usage: self.usage,
            user_id,
            now,
        }
    }
}

/// Writes a decided redemption: the lock it consumes, the coupon and its book's
/// counters, the user's usage, the redemption and its events.
fn write_redemption(
    conn: &Connection,
    actor: &Actor,
    row: &CouponRow,
    book: &BookRow,
    plan: RedeemPlan,
    redemption: &Redemption,
    now: Timestamp,
) -> Result<()> {
    if let RedeemPlan::ConsumeLock(lock_id) = plan {
        conn.prepare_cached("DELETE FROM locks WHERE id = ?1")
            .db()?
            .execute([&lock_id])
            .db()?;
    }
    let after = row.record.redeemed();
    let totals = save_coupon(
        conn,
        CouponChange {
            book,
            before: &row.record,
            after: &after,
            assigned_seq: None,
            redemptions: 1,
        },
    )?;
    add_usage(conn, row.book_seq, &redemption.user_id, 0, 1)?;
    let metadata_json = redemption.metadata.as_ref().map(to_json).transpose()?;
    conn.prepare_cached(
        "INSERT INTO redemptions (id, code, book_id, user_id, redeemed_at, metadata, checkout)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .db()?
    .execute(params![
        redemption.id,
        redemption.code,
        book.id,
        redemption.user_id,
        now.0,
        metadata_json,
        redemption.checkout_json()
    ])
    .db()?;
    append_event(conn, actor, event::COUPON_REDEEMED, redemption, now)?;
    announce_exhaustion(conn, actor, book, &totals, now)
}

/// Appends `book.exhausted` when this change used up the book: no code left to hand
/// out or redeem, or the redemption budget reached.
pub(super) fn announce_exhaustion(
    conn: &Connection,
    by: &Actor,
    before: &BookRow,
    after: &Tally,
    now: Timestamp,
) -> Result<()> {
    if became_exhausted(&before.settings, &before.tally(), after) {
        let book = load_book_by_seq(conn, before.seq)?;
        let view = book_view(conn, &book, now)?;
        append_event(conn, by, event::BOOK_EXHAUSTED, &view, now)?;
    }
    Ok(())
}

#[async_trait]
impl CouponStore for SqliteStore {
    async fn get_coupon(&self, code: &str) -> Result<Coupon> {
        let code = code.to_string();
        self.read(move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            coupon_view(
                conn,
                &row.record,
                book.settings.max_redemptions_per_coupon,
                now,
            )
        })
        .await
    }

    async fn assign(&self, code: &str, user_id: &str, write: Write) -> Result<Coupon> {
        let code = code.to_string();
        let user_id = user_id.to_string();
        let assign_seq = self.assign_seq.clone();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let max = book.settings.max_redemptions_per_coupon;
            let plan = coupon::check_assign(
                &book.settings,
                &row.record,
                &user_id,
                usage(conn, row.book_seq, &user_id)?,
                now,
            )?;
            if plan == AssignPlan::Assign {
                let (after, totals) = assign_to(conn, &book, &row.record, &user_id, &assign_seq)?;
                let view = coupon_view(conn, &after, max, now)?;
                append_event(conn, &actor, event::COUPON_ASSIGNED, &view, now)?;
                announce_exhaustion(conn, &actor, &book, &totals, now)?;
                return Ok(view);
            }
            coupon_view(conn, &row.record, max, now)
        })
        .await
    }

    async fn assign_next(&self, book_id: &str, user_id: &str, write: Write) -> Result<Coupon> {
        let book_id = book_id.to_string();
        let user_id = user_id.to_string();
        let assign_seq = self.assign_seq.clone();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            assign_next_in(conn, &book_id, &user_id, &actor, &assign_seq, now)
        })
        .await
    }

    async fn unassign(&self, code: &str, write: Write) -> Result<Coupon> {
        let code = code.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let max = book.settings.max_redemptions_per_coupon;
            let UnassignPlan::Release { owner, after } = coupon::plan_unassign(&row.record)? else {
                return coupon_view(conn, &row.record, max, now);
            };
            save_coupon(
                conn,
                CouponChange {
                    book: &book,
                    before: &row.record,
                    after: &after,
                    assigned_seq: None,
                    redemptions: 0,
                },
            )?;
            add_usage(conn, row.book_seq, &owner, -1, 0)?;
            let view = coupon_view(conn, &after, max, now)?;
            let owner = Some(owner.as_str());
            append_user_event(conn, &actor, event::COUPON_UNASSIGNED, &view, owner, now)?;
            Ok(view)
        })
        .await
    }

    async fn validate_order(
        &self,
        code: &str,
        user_id: &str,
        order: Option<Order>,
    ) -> Result<Validation> {
        let code = code.to_string();
        let user_id = user_id.to_string();
        self.read(move |conn, now| {
            let state = UseState::load(conn, load_coupon(conn, &code)?, &user_id, now)?;
            let context = state.context(&user_id, now, order.as_ref());
            let (row, book, locks) = (&state.row, &state.book, &state.locks);
            let view = row
                .record
                .view(book.settings.max_redemptions_per_coupon, locks);
            Validation::judge(&context, view)
        })
        .await
    }

    async fn lock_order(
        &self,
        code: &str,
        user_id: &str,
        ttl: LockTtl,
        order: Option<Order>,
        write: Write,
    ) -> Result<Lock> {
        let code = code.to_string();
        let user_id = user_id.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let state = UseState::load(conn, load_coupon(conn, &code)?, &user_id, now)?;
            let context = state.context(&user_id, now, order.as_ref());
            let plan = context.check_lock()?;
            let discount = context.discount();
            let (row, book) = (&state.row, &state.book);
            let ttl = ttl.seconds(book.settings.lock_ttl_seconds);
            let expires_at = now.plus_seconds(u64::from(ttl));
            let lock = match plan {
                LockPlan::New => {
                    let lock = Lock {
                        lock_id: new_id("lock"),
                        code: code.clone(),
                        user_id: user_id.clone(),
                        expires_at,
                        discount: None,
                    };
                    conn.prepare_cached(
                        "INSERT INTO locks (id, code, book_seq, user_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .db()?
                    .execute(params![lock.lock_id, code, row.book_seq, user_id, expires_at.0])
                    .db()?;
                    lock
                }
                LockPlan::Extend(lock_id) => {
                    conn.prepare_cached("UPDATE locks SET expires_at = MAX(expires_at, ?2) WHERE id = ?1")
                        .db()?
                        .execute(params![lock_id, expires_at.0])
                        .db()?;
                    find_lock(conn, &lock_id)?.ok_or_else(Error::lock_not_found)?
                }
            };
            let view = coupon_view(conn, &row.record, book.settings.max_redemptions_per_coupon, now)?;
            let holder = Some(user_id.as_str());
            append_user_event(conn, &actor, event::COUPON_LOCKED, &view, holder, now)?;
            Ok(Lock { discount, ..lock })
        })
        .await
    }

    async fn lock_holder(&self, lock_id: &str) -> Result<Option<String>> {
        let lock_id = lock_id.to_string();
        self.read(move |conn, now| {
            Ok(find_lock(conn, &lock_id)?
                .filter(|lock| lock.is_live(now))
                .map(|lock| lock.user_id))
        })
        .await
    }

    async fn unlock(&self, code: &str, lock_id: &str, write: Write) -> Result<Coupon> {
        let code = code.to_string();
        let lock_id = lock_id.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let lock = find_lock(conn, &lock_id)?;
            coupon::check_unlock(lock.as_ref(), &code, now)?;
            conn.prepare_cached("DELETE FROM locks WHERE id = ?1")
                .db()?
                .execute([&lock_id])
                .db()?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let view = coupon_view(
                conn,
                &row.record,
                book.settings.max_redemptions_per_coupon,
                now,
            )?;
            let holder = lock.as_ref().map(|lock| lock.user_id.as_str());
            append_user_event(conn, &actor, event::COUPON_UNLOCKED, &view, holder, now)?;
            Ok(view)
        })
        .await
    }

    async fn redeem(&self, mut request: RedeemRequest, write: Write) -> Result<Redemption> {
        let Write { actor, idem } = write;
        // The order is freed here, not on the one writer thread every write waits for.
        let order = request.order.take().map(Arc::new);
        let shared = order.clone();
        let redeemed = self
            .write(idem, move |conn, now| {
                let RedeemRequest {
                    code,
                    user_id,
                    lock_id,
                    metadata,
                    ..
                } = request;
                let order = shared.as_deref();
                let row = load_coupon(conn, &code)?;
                if let Some(lock_id) = &lock_id {
                    find_lock(conn, lock_id)?.ok_or_else(Error::lock_not_found)?;
                }
                let state = UseState::load(conn, row, &user_id, now)?;
                let context = state.context(&user_id, now, order);
                let plan = context.check_redeem(lock_id.as_deref())?;
                let discount = context.discount();
                let redemption = Redemption::new(
                    &code,
                    &state.book.id,
                    &user_id,
                    now,
                    metadata,
                    order,
                    discount,
                );
                write_redemption(
                    conn,
                    &actor,
                    &state.row,
                    &state.book,
                    plan,
                    &redemption,
                    now,
                )?;
                Ok(redemption)
            })
            .await;
        drop(order);
        redeemed
    }

    async fn redeem_many(
        &self,
        request: MultiRedeemRequest,
        write: Write,
    ) -> Result<MultiRedemption> {
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let MultiRedeemRequest {
                user_id,
                order,
                items,
            } = request;
            // Every code is decided before anything is written: a refusal leaves no trace.
            let mut planned = Planned::default();
            let mut decided = Vec::with_capacity(items.len());
            let mut checks = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let at = at_item(index);
                let row = load_coupon(conn, &item.code).map_err(&at)?;
                if let Some(lock_id) = &item.lock_id {
                    find_lock(conn, lock_id)?.ok_or_else(|| at(Error::lock_not_found()))?;
                }
                let mut state = UseState::load(conn, row, &user_id, now)?;
                let (usage, redemptions) =
                    planned.counted(&state.book.id, state.usage, state.book.redemptions as u64);
                state.usage = usage;
                state.book.redemptions = redemptions as i64;
                let context = state.context(&user_id, now, Some(&order));
                let plan = context.check_redeem(item.lock_id.as_deref()).map_err(&at)?;
                checks.push(CodeCheck {
                    code: item.code.clone(),
                    failures: Vec::new(),
                    reward: context.coupon.effective_reward(context.book).cloned(),
                    combinable: state.book.settings.combinable,
                });
                planned.add(&item.code, &state.book.id).map_err(&at)?;
                decided.push((state, plan));
            }
            let judged = combine_for_redemption(&order, &checks)?;
            let mut redemptions = Vec::with_capacity(decided.len());
            for ((state, plan), verdict) in decided.into_iter().zip(judged.results) {
                // The book as the earlier codes of this step left it.
                let book = load_book_by_seq(conn, state.row.book_seq)?;
                let redemption = Redemption::new(
                    &state.row.record.code,
                    &book.id,
                    &user_id,
                    now,
                    None,
                    Some(&order),
                    verdict.discount,
                );
                write_redemption(conn, &actor, &state.row, &book, plan, &redemption, now)?;
                redemptions.push(redemption);
            }
            Ok(MultiRedemption {
                redemptions,
                total_discount: judged.total_discount,
            })
        })
        .await
    }

    async fn void(&self, code: &str, write: Write) -> Result<Coupon> {
        let code = code.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            void_in(conn, &row.record, &actor, now)
        })
        .await
    }

    async fn update_coupon(&self, code: &str, patch: UpdateCoupon, write: Write) -> Result<Coupon> {
        let code = code.to_string();
        let Write { actor, idem } = write;
        self.write(idem, move |conn, now| {
            let row = load_coupon(conn, &code)?;
            let details = patch.apply(&row.record.details)?;
            conn.prepare_cached("UPDATE coupons SET details = ?2 WHERE code = ?1")
                .db()?
                .execute(params![code, details.to_stored()])
                .db()?;
            let book = load_book_by_seq(conn, row.book_seq)?;
            let after = CouponRecord {
                details,
                ..row.record
            };
            let view = coupon_view(conn, &after, book.settings.max_redemptions_per_coupon, now)?;
            append_event(conn, &actor, event::COUPON_UPDATED, &view, now)?;
            Ok(view)
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
        let user_id = user_id.to_string();
        let book_id = book_id.map(str::to_string);
        self.read(move |conn, now| {
            let after = page.after.unwrap_or(0);
            let book_seq = match &book_id {
                Some(id) => load_book(conn, id)?.seq,
                None => 0,
            };
            let sql = format!(
                "SELECT {COUPON_COLUMNS}, c.assigned_seq FROM coupons c JOIN books b ON b.seq = c.book_seq
                 WHERE c.assigned_to = ?2 AND c.assigned_seq > ?1 AND (?3 = 0 OR c.book_seq = ?3)
                 ORDER BY c.assigned_seq"
            );
            let max_of = |seq: i64| Ok(load_book_by_seq(conn, seq)?.settings.max_redemptions_per_coupon);
            let keep = |coupon: &Coupon| status.is_none_or(|s| coupon.status == s);
            coupon_page(conn, &sql, &[&after, &user_id, &book_seq], page, &max_of, &keep, now)
        })
        .await
    }
}

pub(super) fn assign_to(
    conn: &Connection,
    book: &BookRow,
    record: &CouponRecord,
    user_id: &str,
    assign_seq: &AtomicI64,
) -> Result<(CouponRecord, Tally)> {
    let after = record.assigned(user_id);
    let seq = assign_seq.fetch_add(1, Ordering::Relaxed) + 1;
    let totals = save_coupon(
        conn,
        CouponChange {
            book,
            before: record,
            after: &after,
            assigned_seq: Some(seq),
            redemptions: 0,
        },
    )?;
    add_usage(conn, book.seq, user_id, 1, 0)?;
    Ok((after, totals))
}

/// Hands the user the book's next available code (the assign-next rule), in the
/// caller's transaction: `book_exhausted` or the user's limit refuse before any write.
pub(super) fn assign_next_in(
    conn: &Connection,
    book_id: &str,
    user_id: &str,
    actor: &Actor,
    assign_seq: &AtomicI64,
    now: Timestamp,
) -> Result<Coupon> {
    let book = load_book(conn, book_id)?;
    book.settings.check_usable(now)?;
    coupon::check_assign_limit(&book.settings, usage(conn, book.seq, user_id)?)?;
    // Without the index hint SQLite walks the book's primary key past every code
    // already handed out, so each assignment got slower as the book filled.
    let next: Option<String> = conn
        .prepare_cached(
            "SELECT c.code FROM coupons c INDEXED BY coupons_state
             WHERE c.book_seq = ?1 AND c.state = 0
               AND NOT EXISTS (SELECT 1 FROM locks l WHERE l.code = c.code AND l.expires_at > ?2)
             LIMIT 1",
        )
        .db()?
        .query_row(params![book.seq, now.0], |r| r.get(0))
        .optional()
        .db()?;
    let Some(code) = next else {
        return Err(Error::new(
            ErrorCode::BookExhausted,
            "no available code left in this book",
        ));
    };
    let row = load_coupon(conn, &code)?;
    let (after, totals) = assign_to(conn, &book, &row.record, user_id, assign_seq)?;
    let view = coupon_view(conn, &after, book.settings.max_redemptions_per_coupon, now)?;
    append_event(conn, actor, event::COUPON_ASSIGNED, &view, now)?;
    announce_exhaustion(conn, actor, &book, &totals, now)?;
    Ok(view)
}

/// Voids the coupon (its locks go with it) in the caller's transaction; a voided one
/// is answered as it is.
pub(super) fn void_in(
    conn: &Connection,
    record: &CouponRecord,
    actor: &Actor,
    now: Timestamp,
) -> Result<Coupon> {
    let book = load_book(conn, &record.book_id)?;
    let max = book.settings.max_redemptions_per_coupon;
    let Some(after) = coupon::plan_void(record) else {
        return coupon_view(conn, record, max, now);
    };
    save_coupon(
        conn,
        CouponChange {
            book: &book,
            before: record,
            after: &after,
            assigned_seq: None,
            redemptions: 0,
        },
    )?;
    conn.prepare_cached("DELETE FROM locks WHERE code = ?1")
        .db()?
        .execute([&record.code])
        .db()?;
    let view = coupon_view(conn, &after, max, now)?;
    append_event(conn, actor, event::COUPON_VOIDED, &view, now)?;
    Ok(view)
}
