//! Items as decisions read them: books, their counters, coupons and locks, their keys,
//! and the reads that load them.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use crate::domain::book::{Book, BookSettings, Counts};
use crate::domain::coupon::{
    self, BaseStatus, Coupon, CouponDetails, CouponRecord, CouponStatus, Lock, UserUsage,
};
use crate::domain::tally::{Tally as Counters, TallyDelta, became_exhausted};
use crate::domain::{Error, Result, Timestamp};

use super::attr::{Item, corrupt, from_json, get_bool, get_n, get_s, key, n, opt_n, opt_s, s};
use super::expr::Expr;
use super::{DynamoStore, KNOWN_BOOKS, KNOWN_CODES};

/// Shards of the available-codes index per book: concurrent `assign-next` callers
/// start on different partitions of the index and pick at random among candidates.
pub const AVAILABLE_SHARDS: u32 = 8;

pub(super) fn book_pk(book_id: &str) -> String {
    format!("BOOK#{book_id}")
}

pub(super) fn meta_key(book_id: &str) -> Item {
    key(book_pk(book_id), "META")
}

pub(super) fn counts_key(book_id: &str) -> Item {
    key(book_pk(book_id), "COUNTS")
}

pub(super) fn usage_key(book_id: &str, user_id: &str) -> Item {
    key(book_pk(book_id), format!("USER#{user_id}"))
}

pub(super) fn coupon_key(code: &str) -> Item {
    key(format!("CODE#{code}"), "CODE")
}

/// The counter of codes generated in one shape (`CodePattern::shape`).
pub(super) fn shape_key(shape: &str) -> Item {
    key(format!("SHAPE#{shape}"), "SHAPE")
}

pub(super) fn redemption_key(id: &str) -> Item {
    key(format!("RED#{id}"), "RED")
}

pub(super) fn available_pk(book_id: &str, shard: i64) -> String {
    format!("AVAIL#{book_id}#{shard}")
}

/// A lock id names its code and its book: `lock_<ULID>.<book ULID>_<code>` (locks
/// made before it carried the book: `lock_<ULID>_<code>`). A lock lives inside its
/// coupon's item, so it is found from its id with one read, and a redeem with it
/// needs no read to know which book's counters it updates.
pub(super) fn lock_id_for(code: &str, book_id: &str) -> String {
    match book_id.strip_prefix("book_") {
        Some(book) if book.len() == 26 => format!("lock_{}.{book}_{code}", ulid::Ulid::new()),
        _ => format!("lock_{}_{code}", ulid::Ulid::new()),
    }
}

/// The book (when named) and the code of a lock id.
pub(super) fn lock_parts(lock_id: &str) -> Option<(Option<String>, &str)> {
    let rest = lock_id.strip_prefix("lock_")?;
    ulid::Ulid::from_string(rest.get(..26)?).ok()?;
    let (book, code) = match rest.get(26..27)? {
        "." => {
            let book = rest.get(27..53)?;
            ulid::Ulid::from_string(book).ok()?;
            (
                Some(format!("book_{book}")),
                rest.get(53..)?.strip_prefix('_')?,
            )
        }
        "_" => (None, rest.get(27..)?),
        _ => return None,
    };
    coupon::normalize_code(code).filter(|c| c == code)?;
    Some((book, code))
}

pub(super) fn lock_code(lock_id: &str) -> Option<&str> {
    lock_parts(lock_id).map(|(_, code)| code)
}

#[derive(Clone)]
pub(super) struct BookState {
    pub(super) id: String,
    pub(super) settings: BookSettings,
    /// Settings version: every change of the settings bumps it, and every coupon
    /// write checks it, so decisions are never made on outdated rules.
    pub(super) sv: i64,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
}

impl BookState {
    pub(super) fn parse(item: &Item) -> Result<Self> {
        Ok(BookState {
            id: get_s(item, "id")?,
            settings: from_json(&get_s(item, "settings")?)?,
            sv: get_n(item, "sv")?,
            created_at: Timestamp(get_n(item, "created_at")?),
            updated_at: Timestamp(get_n(item, "updated_at")?),
        })
    }

    pub(super) fn max(&self) -> Option<u32> {
        self.settings.max_redemptions_per_coupon
    }

    /// A condition check that the book's settings are still the ones decided on.
    pub(super) fn check(&self, table: &str) -> Result<TransactWriteItem> {
        let mut expr = Expr::new();
        expr.cond("sv", "=", n(self.sv));
        expr.into_check(table, meta_key(&self.id))
    }
}

/// The book's counters item: base counts (locks not considered), net redemptions and
/// `unused` = available + assigned (so a condition can see it reach zero).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Tally {
    pub(super) total: i64,
    pub(super) available: i64,
    pub(super) assigned: i64,
    pub(super) redeemed: i64,
    pub(super) voided: i64,
    pub(super) redemptions: i64,
    pub(super) unused: i64,
    pub(super) in_use: bool,
}

impl Tally {
    pub(super) fn parse(item: &Item) -> Self {
        let get = |name| opt_n(item, name).unwrap_or(0);
        Tally {
            total: get("total"),
            available: get("available"),
            assigned: get("assigned"),
            redeemed: get("redeemed"),
            voided: get("voided"),
            redemptions: get("redemptions"),
            unused: get("unused"),
            in_use: get_bool(item, "in_use"),
        }
    }

    /// The counters in the domain's terms.
    pub(super) fn counters(&self) -> Counters {
        Counters {
            total: self.total,
            available: self.available,
            assigned: self.assigned,
            redeemed: self.redeemed,
            voided: self.voided,
            redemptions: self.redemptions,
        }
    }
}

/// How a change moves the book's counters.
pub(super) struct TallyChange {
    pub(super) before: BaseStatus,
    pub(super) after: BaseStatus,
    pub(super) redemptions: i64,
    pub(super) in_use: bool,
    /// Whether `book.exhausted` is judged (assign and redeem): then the counters that
    /// fall are pinned so exactly one change sees them reach zero.
    pub(super) announce: bool,
}

/// The counters update for a change, the counters after it, and whether the change
/// used the book up.
///
/// Without the counters as read (`tally` = None) the update only commits away from
/// the edges: nothing falls to zero and the budget keeps a use to spare, so no
/// `book.exhausted` is missed; at an edge the condition fails and the caller reads.
pub(super) fn tally_update(
    table: &str,
    book: &BookState,
    tally: Option<&Tally>,
    change: &TallyChange,
) -> Result<(TransactWriteItem, Tally, bool)> {
    tally_update_many(table, book, tally, std::slice::from_ref(change))
}

/// The counters update of several changes of one book in one step (each code once).
pub(super) fn tally_update_many(
    table: &str,
    book: &BookState,
    tally: Option<&Tally>,
    changes: &[TallyChange],
) -> Result<(TransactWriteItem, Tally, bool)> {
    let known = tally.copied();
    let tally = known.unwrap_or_default();
    let mut delta = TallyDelta::default();
    for change in changes {
        let mut moved = TallyDelta::new(change.before, change.after, change.redemptions);
        if change.in_use {
            moved = moved.marking_in_use();
        }
        delta = delta.plus(moved);
    }
    let announce = changes.iter().any(|c| c.announce);
    let counters_after = delta.apply(&tally.counters());
    let after = Tally {
        total: counters_after.total,
        available: counters_after.available,
        assigned: counters_after.assigned,
        redeemed: counters_after.redeemed,
        voided: counters_after.voided,
        redemptions: counters_after.redemptions,
        unused: counters_after.unused(),
        in_use: tally.in_use || delta.marks_in_use,
    };
    let mut expr = Expr::new();
    expr.cond_exists("PK");
    if delta.is_empty() {
        // Nothing moves (e.g. a voided coupon unassigned): the book must still exist.
        return Ok((expr.into_check(table, counts_key(&book.id))?, after, false));
    }
    for (name, moved) in delta.counters() {
        expr.add(name, moved);
        // When the change may use the book up, the counters that fall are pinned, so
        // exactly one change sees them reach zero.
        if announce && moved < 0 && matches!(name, "available" | "unused") {
            let before = if name == "available" {
                tally.available
            } else {
                tally.unused
            };
            if known.is_some() && before + moved <= 0 {
                expr.cond(name, "=", n(before));
            } else {
                expr.cond(name, ">", n(-moved));
            }
        }
    }
    if let Some(max) = book.settings.max_total_redemptions
        && delta.redemptions > 0
    {
        let max = max as i64;
        if known.is_some() && tally.redemptions + delta.redemptions >= max {
            expr.cond("redemptions", "=", n(tally.redemptions));
        } else {
            expr.cond("redemptions", "<", n(max - delta.redemptions));
        }
    }
    if delta.marks_in_use {
        expr.set("in_use", AttributeValue::Bool(true));
    }
    let exhausted = announce
        && known.is_some()
        && became_exhausted(&book.settings, &tally.counters(), &counters_after);
    Ok((
        expr.into_update(table, counts_key(&book.id))?,
        after,
        exhausted,
    ))
}

pub(super) struct CouponState {
    pub(super) record: CouponRecord,
    /// Lock version: bumped by every change of the assignment, the void flag or the
    /// set of locks; coupon writes that depend on those check it.
    pub(super) lv: i64,
    /// Every lock in the item, live or expired (the sweep removes expired ones).
    pub(super) locks: Vec<Lock>,
    pub(super) shard: i64,
}

impl CouponState {
    pub(super) fn parse(item: &Item) -> Result<Self> {
        let code = get_s(item, "code")?;
        let mut locks = Vec::new();
        if let Some(AttributeValue::M(map)) = item.get("locks") {
            for (lock_id, value) in map {
                let AttributeValue::M(lock) = value else {
                    return Err(corrupt("locks"));
                };
                locks.push(Lock {
                    lock_id: lock_id.clone(),
                    code: code.clone(),
                    user_id: get_s(lock, "u")?,
                    expires_at: Timestamp(get_n(lock, "e")?),
                    discount: None,
                });
            }
        }
        locks.sort_by(|a, b| (a.expires_at, &a.lock_id).cmp(&(b.expires_at, &b.lock_id)));
        Ok(CouponState {
            record: CouponRecord {
                code,
                book_id: get_s(item, "book")?,
                assigned_to: opt_s(item, "assigned_to"),
                redemption_count: get_n(item, "rc")?.max(0) as u64,
                voided: get_bool(item, "voided"),
                created_at: Timestamp(get_n(item, "created")?),
                details: CouponDetails::from_stored(opt_s(item, "details").as_deref())?,
            },
            lv: get_n(item, "lv")?,
            locks,
            shard: opt_n(item, "shard").unwrap_or(0),
        })
    }

    pub(super) fn live_locks(&self, now: Timestamp) -> Vec<Lock> {
        self.locks
            .iter()
            .filter(|l| l.is_live(now))
            .cloned()
            .collect()
    }

    pub(super) fn view(&self, max: Option<u32>, now: Timestamp) -> Coupon {
        self.record.view(max, &self.live_locks(now))
    }

    pub(super) fn rc(&self) -> i64 {
        self.record.redemption_count as i64
    }

    /// The start of a coupon update that relies on its locks, assignment and void
    /// flag being as read.
    pub(super) fn pinned(&self) -> Expr {
        let mut expr = Expr::new();
        expr.cond("lv", "=", n(self.lv));
        expr
    }

    /// Puts the coupon in or out of its book's available-codes index.
    pub(super) fn index_available(&self, expr: &mut Expr, available: bool) {
        if available {
            expr.set("G1PK", s(available_pk(&self.record.book_id, self.shard)));
            expr.set("G1SK", s(&self.record.code));
        } else {
            expr.remove(&["G1PK"]).remove(&["G1SK"]);
        }
    }
}

pub(super) fn lock_value(lock: &Lock) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("u".to_string(), s(&lock.user_id)),
        ("e".to_string(), n(lock.expires_at.millis())),
    ]))
}

/// Everything a coupon decision reads: the coupon, its book, the book's counters and,
/// for a user, their usage in the book.
pub(super) struct CouponCtx {
    pub(super) coupon: CouponState,
    pub(super) book: BookState,
    pub(super) tally: Tally,
    pub(super) usage: UserUsage,
}

/// Keeps `value` under `key`, starting over when `limit` entries are held.
pub(super) fn remember<V>(memory: &Mutex<HashMap<String, V>>, limit: usize, key: String, value: V) {
    if let Ok(mut memory) = memory.lock() {
        if memory.len() >= limit {
            memory.clear();
        }
        memory.insert(key, value);
    }
}

impl DynamoStore {
    pub(super) async fn load_book(&self, book_id: &str) -> Result<(BookState, Tally)> {
        let items = self
            .batch_get(vec![meta_key(book_id), counts_key(book_id)])
            .await?;
        let (mut book, mut tally) = (None, Tally::default());
        for item in &items {
            match opt_s(item, "SK").as_deref() {
                Some("META") => book = Some(BookState::parse(item)?),
                Some("COUNTS") => tally = Tally::parse(item),
                _ => {}
            }
        }
        let book = book.ok_or_else(|| Error::book_not_found(book_id))?;
        self.remember_book(&book);
        Ok((book, tally))
    }

    pub(super) fn remember_book(&self, book: &BookState) {
        remember(&self.books, KNOWN_BOOKS, book.id.clone(), book.clone());
    }

    pub(super) fn known_book(&self, book_id: &str) -> Option<BookState> {
        self.books.lock().ok()?.get(book_id).cloned()
    }

    pub(super) async fn load_coupon(&self, code: &str) -> Result<CouponState> {
        let item = self
            .get(coupon_key(code))
            .await?
            .ok_or_else(|| Error::coupon_not_found(code))?;
        let coupon = CouponState::parse(&item)?;
        remember(
            &self.code_books,
            KNOWN_CODES,
            coupon.record.code.clone(),
            coupon.record.book_id.clone(),
        );
        Ok(coupon)
    }

    pub(super) async fn load_ctx(&self, code: &str, user_id: Option<&str>) -> Result<CouponCtx> {
        let coupon = self.load_coupon(code).await?;
        self.ctx_around(coupon, user_id).await
    }

    /// The rest of a coupon's context, the coupon being read already.
    pub(super) async fn ctx_around(
        &self,
        coupon: CouponState,
        user_id: Option<&str>,
    ) -> Result<CouponCtx> {
        let code = coupon.record.code.clone();
        let book_id = coupon.record.book_id.clone();
        let mut keys = vec![meta_key(&book_id), counts_key(&book_id)];
        if let Some(user) = user_id {
            keys.push(usage_key(&book_id, user));
        }
        let items = self.batch_get(keys).await?;
        let (mut book, mut tally, mut usage) = (None, Tally::default(), UserUsage::default());
        for item in &items {
            match opt_s(item, "SK").as_deref() {
                Some("META") => book = Some(BookState::parse(item)?),
                Some("COUNTS") => tally = Tally::parse(item),
                Some(sk) if sk.starts_with("USER#") => {
                    usage = UserUsage {
                        assigned: opt_n(item, "a").unwrap_or(0).max(0) as u64,
                        redeemed: opt_n(item, "r").unwrap_or(0).max(0) as u64,
                    }
                }
                _ => {}
            }
        }
        // A code whose book was deleted is gone with it.
        let book = book.ok_or_else(|| Error::coupon_not_found(&code))?;
        self.remember_book(&book);
        Ok(CouponCtx {
            coupon,
            book,
            tally,
            usage,
        })
    }

    /// The book as the API shows it: base counts corrected for coupons whose every
    /// remaining use is reserved by live locks (found through the locked-codes index).
    pub(super) async fn book_view(
        &self,
        book: &BookState,
        tally: &Tally,
        now: Timestamp,
    ) -> Result<Book> {
        let mut counts = Counts {
            total: tally.total.max(0) as u64,
            available: tally.available.max(0) as u64,
            assigned: tally.assigned.max(0) as u64,
            locked: 0,
            redeemed: tally.redeemed.max(0) as u64,
            voided: tally.voided.max(0) as u64,
        };
        if book.max().is_some() {
            for item in self
                .query_all(Some("GSI4"), &format!("LOCKED#{}", book.id))
                .await?
            {
                let coupon = CouponState::parse(&item)?;
                let view = coupon.view(book.max(), now);
                if view.status != CouponStatus::Locked {
                    continue;
                }
                match coupon.record.base_status(book.max()) {
                    BaseStatus::Available => counts.available = counts.available.saturating_sub(1),
                    BaseStatus::Assigned => counts.assigned = counts.assigned.saturating_sub(1),
                    _ => continue,
                }
                counts.locked += 1;
            }
        }
        Ok(Self::book_with(book, counts))
    }

    pub(super) fn book_with(book: &BookState, counts: Counts) -> Book {
        Book {
            id: book.id.clone(),
            settings: book.settings.clone(),
            created_at: book.created_at,
            updated_at: book.updated_at,
            counts,
        }
    }

    /// The book after a change, for `book.exhausted` (locks not considered).
    pub(super) fn book_after(book: &BookState, tally: &Tally) -> Book {
        Self::book_with(
            book,
            Counts {
                total: tally.total.max(0) as u64,
                available: tally.available.max(0) as u64,
                assigned: tally.assigned.max(0) as u64,
                locked: 0,
                redeemed: tally.redeemed.max(0) as u64,
                voided: tally.voided.max(0) as u64,
            },
        )
    }
}
