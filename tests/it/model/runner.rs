//! Replays one history on the reference model and on a store side by side, step by
//! step, and says where the two first answer differently.

use coupon_book::domain::book::{BookStatus, CreateBook, UpdateBook};
use coupon_book::domain::coupon::{Coupon, CouponStatus};
use coupon_book::domain::event::Actor;
use coupon_book::domain::job::{CodeIntake, JobKind};
use coupon_book::domain::{Clock, Error, PageRequest, Timestamp};
use coupon_book::store::{DynStore, RedeemRequest, RedemptionFilter, Write};

use super::ops::{CODES, LockRef, Op, USERS};
use super::reference::{Code, CouponView, LockOutcome, Model, Status};

/// Where every history's clock starts: 2026-12-01T00:00:00Z.
pub const START_MILLIS: i64 = 1_764_547_200_000;
/// Ids of the right shape that no store ever issued.
const UNKNOWN_BOOK: &str = "book_01ARZ3NDEKTSV4RRFFQ69G5FAV";
const UNKNOWN_LOCK: &str = "lock_01ARZ3NDEKTSV4RRFFQ69G5FAV";
const UNKNOWN_REDEMPTION: &str = "red_01ARZ3NDEKTSV4RRFFQ69G5FAV";

/// The writes of a history, all by one API key (actors are not modelled).
fn by() -> Write {
    Write::by(Actor::api_key("key_model"))
}

/// The store's ids for what the model names by index.
#[derive(Default)]
struct Ids {
    books: Vec<String>,
    locks: Vec<String>,
    redemptions: Vec<String>,
}

fn code_of(error: &Error) -> String {
    serde_json::to_value(error.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", error.code))
}

fn status_of(status: CouponStatus) -> &'static str {
    match status {
        CouponStatus::Available => "available",
        CouponStatus::Assigned => "assigned",
        CouponStatus::Locked => "locked",
        CouponStatus::Redeemed => "redeemed",
        CouponStatus::Voided => "voided",
    }
}

fn book_status(status: Status) -> BookStatus {
    match status {
        Status::Draft => BookStatus::Draft,
        Status::Active => BookStatus::Active,
        Status::Paused => BookStatus::Paused,
        Status::Archived => BookStatus::Archived,
    }
}

impl Ids {
    fn book(&self, index: u8) -> (Option<usize>, String) {
        if self.books.is_empty() {
            return (None, UNKNOWN_BOOK.to_string());
        }
        let i = usize::from(index) % self.books.len();
        (Some(i), self.books[i].clone())
    }

    fn lock(&self, lock: LockRef) -> (Option<usize>, String) {
        match lock {
            LockRef::Given(index) if !self.locks.is_empty() => {
                let i = usize::from(index) % self.locks.len();
                (Some(i), self.locks[i].clone())
            }
            _ => (None, UNKNOWN_LOCK.to_string()),
        }
    }

    fn view(&self, coupon: &Coupon) -> Result<CouponView, String> {
        let book = self
            .books
            .iter()
            .position(|id| *id == coupon.book_id)
            .ok_or_else(|| format!("coupon of an unknown book {}", coupon.book_id))?;
        Ok(CouponView {
            code: coupon.code.clone(),
            book,
            status: status_of(coupon.status),
            assigned_to: coupon.assigned_to.clone(),
            redemption_count: coupon.redemption_count,
            max_redemptions: coupon.max_redemptions,
            locked_until: coupon.locked_until.map(Timestamp::millis),
        })
    }
}

/// One side's answer to a step, in a form both sides share.
type Said = Result<String, String>;

fn from_model<T: std::fmt::Debug>(answer: Result<T, Code>) -> Said {
    answer
        .map(|value| format!("{value:?}"))
        .map_err(str::to_string)
}

fn from_store<T, U: std::fmt::Debug>(
    answer: coupon_book::domain::Result<T>,
    shape: impl FnOnce(T) -> Result<U, String>,
) -> Result<Said, String> {
    match answer {
        Ok(value) => Ok(Ok(format!("{:?}", shape(value)?))),
        Err(err) if err.code == coupon_book::domain::ErrorCode::Internal => {
            Err(format!("the store failed: {err}"))
        }
        Err(err) => Ok(Err(code_of(&err))),
    }
}

pub struct Replay<'a> {
    pub store: &'a DynStore,
    pub clock: &'a Clock,
}

impl Replay<'_> {
    /// Runs the history; `Err` names the first step at which the store and the model
    /// disagree (or the final states differ).
    pub async fn run(&self, history: &[Op]) -> Result<(), String> {
        let mut model = Model::new(self.clock.now().millis());
        let mut ids = Ids::default();
        for (step, op) in history.iter().enumerate() {
            // One millisecond a step keeps time-ordered lists in step order.
            model.advance(1);
            self.clock.advance(1);
            let (expected, got) = self.step(&mut model, &mut ids, op).await?;
            if expected != got {
                return Err(format!(
                    "step {step} {op:?}: the model says {expected:?}, the store {got:?}"
                ));
            }
        }
        self.compare_final(&model, &ids).await
    }

    async fn step(
        &self,
        model: &mut Model,
        ids: &mut Ids,
        op: &Op,
    ) -> Result<(Said, Said), String> {
        let store = self.store;
        Ok(match op {
            Op::CreateBook(spec) => {
                let rules = spec.rules(model.now);
                let body = serde_json::json!({
                    "name": "model",
                    "status": rules.status.as_str(),
                    "max_redemptions_per_coupon": rules.max_redemptions_per_coupon,
                    "max_coupons_per_user": rules.max_coupons_per_user,
                    "max_redemptions_per_user": rules.max_redemptions_per_user,
                    "max_total_redemptions": rules.max_total_redemptions,
                    "requires_assignment": rules.requires_assignment,
                    "valid_from": rules.valid_from.map(|t| Timestamp(t).to_rfc3339()),
                    "valid_until": rules.valid_until.map(|t| Timestamp(t).to_rfc3339()),
                    "lock_ttl_seconds": rules.lock_ttl_seconds,
                });
                let settings = serde_json::from_value::<CreateBook>(body)
                    .map_err(|e| e.to_string())?
                    .into_settings()
                    .map_err(|e| format!("the history made bad settings: {e}"))?;
                let index = model.create_book(rules);
                let book = store.create_book(settings, by()).await;
                if let Ok(book) = &book {
                    ids.books.push(book.id.clone());
                }
                let counts = model.counts(index);
                (
                    Ok(format!("{counts:?}")),
                    from_store(book, |b| Ok(super::counts_of(&b.counts)))?,
                )
            }
            Op::PatchBook { book, patch } => {
                let (index, id) = ids.book(*book);
                let patch = patch.patch(model.now);
                let expected = match index {
                    None => Err("book_not_found"),
                    Some(i) => model.patch_book(i, &patch).map(|()| model.counts(i)),
                };
                let update = UpdateBook {
                    status: patch.status.map(book_status),
                    max_redemptions_per_coupon: patch.max_redemptions_per_coupon,
                    max_coupons_per_user: patch.max_coupons_per_user,
                    max_redemptions_per_user: patch.max_redemptions_per_user,
                    max_total_redemptions: patch.max_total_redemptions,
                    requires_assignment: patch.requires_assignment,
                    valid_until: patch.valid_until.map(|v| v.map(Timestamp)),
                    ..UpdateBook::default()
                };
                let got = store.update_book(&id, update, by()).await;
                (
                    from_model(expected),
                    from_store(got, |b| Ok(super::counts_of(&b.counts)))?,
                )
            }
            Op::DeleteBook { book } => {
                let (index, id) = ids.book(*book);
                let expected = match index {
                    None => Err("book_not_found"),
                    Some(i) => model.delete_book(i),
                };
                (
                    from_model(expected),
                    from_store(store.delete_book(&id, by()).await, Ok)?,
                )
            }
            Op::AddCodes { book, codes } => {
                let (index, id) = ids.book(*book);
                let codes: Vec<String> = codes
                    .iter()
                    .map(|&c| CODES[usize::from(c)].to_string())
                    .collect();
                let expected = match index {
                    None => Err("book_not_found"),
                    Some(i) => model.add_codes(i, &codes),
                };
                let intake = CodeIntake::from_codes(codes.iter().map(String::as_str));
                let got = store.add_codes(&id, JobKind::Upload, intake, by()).await;
                let expected =
                    expected.map(|a| (a.inserted, a.duplicates_in_file, a.already_exist));
                (
                    from_model(expected),
                    from_store(got, |job| {
                        Ok((job.inserted, job.duplicates_in_file, job.already_exist))
                    })?,
                )
            }
            Op::Assign { code, user } => {
                let (code, user) = (CODES[usize::from(*code)], USERS[usize::from(*user)]);
                let expected = model.assign(code, user);
                let got = store.assign(code, user, by()).await;
                (from_model(expected), from_store(got, |c| ids.view(&c))?)
            }
            Op::AssignNext { book, user } => {
                let (index, id) = ids.book(*book);
                let user = USERS[usize::from(*user)];
                let candidates = match index {
                    None => Err("book_not_found"),
                    Some(i) => model.assign_next_candidates(i, user),
                };
                let got = store.assign_next(&id, user, by()).await;
                match (candidates, got) {
                    (Ok(candidates), Ok(coupon)) => {
                        if !candidates.contains(&coupon.code) {
                            return Err(format!(
                                "{op:?}: the store handed out {} where only {candidates:?} were available",
                                coupon.code
                            ));
                        }
                        let expected = model.assign_next(&coupon.code, user);
                        (
                            Ok(format!("{expected:?}")),
                            Ok(format!("{:?}", ids.view(&coupon)?)),
                        )
                    }
                    (candidates, got) => (
                        from_model(candidates.map(|_| "a coupon")),
                        from_store(got, |c| ids.view(&c))?,
                    ),
                }
            }
            Op::Unassign { code } => {
                let code = CODES[usize::from(*code)];
                let expected = model.unassign(code);
                let got = store.unassign(code, by()).await;
                (from_model(expected), from_store(got, |c| ids.view(&c))?)
            }
            Op::Validate { code, user } => {
                let (code, user) = (CODES[usize::from(*code)], USERS[usize::from(*user)]);
                let expected = model
                    .validate(code, user)
                    .map(|reason| (reason.map(str::to_string), model.view(code)));
                let got = store.validate(code, user).await;
                (
                    from_model(expected),
                    from_store(got, |v| {
                        let reason = v.reason.map(|r| code_of(&Error::new(r, "")));
                        if v.valid != reason.is_none() {
                            return Err(format!("valid={} with reason {reason:?}", v.valid));
                        }
                        Ok((reason, ids.view(&v.coupon)?))
                    })?,
                )
            }
            Op::Lock { code, user, ttl } => {
                let (code, user) = (CODES[usize::from(*code)], USERS[usize::from(*user)]);
                let expected = model.lock(code, user, *ttl);
                let got = store.lock(code, user, (*ttl).into(), by()).await;
                match (expected, got) {
                    (Ok(outcome), Ok(lock)) => {
                        let index = match outcome {
                            LockOutcome::New(i) => {
                                if ids.locks.contains(&lock.lock_id) {
                                    return Err(format!(
                                        "{op:?}: a new lock reused the id {}",
                                        lock.lock_id
                                    ));
                                }
                                ids.locks.push(lock.lock_id.clone());
                                i
                            }
                            LockOutcome::Extended(i) => i,
                        };
                        let want = (ids.locks[index].clone(), model.locks[index].expires_at);
                        let have = (lock.lock_id.clone(), lock.expires_at.millis());
                        (
                            Ok(format!("{outcome:?} {want:?}")),
                            Ok(format!("{outcome:?} {have:?}")),
                        )
                    }
                    (expected, got) => (from_model(expected), from_store(got, |l| Ok(l.lock_id))?),
                }
            }
            Op::Unlock { code, lock } => {
                let code = CODES[usize::from(*code)];
                let (index, lock_id) = ids.lock(*lock);
                let expected = model.unlock(code, index);
                let got = store.unlock(code, &lock_id, by()).await;
                (from_model(expected), from_store(got, |c| ids.view(&c))?)
            }
            Op::Redeem { code, user, lock } => {
                let (code, user) = (CODES[usize::from(*code)], USERS[usize::from(*user)]);
                let presented = lock.map(|l| ids.lock(l));
                let expected = model.redeem(code, user, presented.as_ref().map(|(i, _)| *i));
                let request = RedeemRequest {
                    code: code.to_string(),
                    user_id: user.to_string(),
                    lock_id: presented.map(|(_, id)| id),
                    metadata: None,
                    order: None,
                };
                let got = store.redeem(request, by()).await;
                if let Ok(redemption) = &got {
                    ids.redemptions.push(redemption.id.clone());
                }
                let expected = expected.map(|i| {
                    let r = &model.redemptions[i];
                    (
                        r.code.clone(),
                        ids.books.get(r.book).cloned(),
                        r.user.clone(),
                        r.redeemed_at,
                    )
                });
                (
                    from_model(expected),
                    from_store(got, |r| {
                        Ok((r.code, Some(r.book_id), r.user_id, r.redeemed_at.millis()))
                    })?,
                )
            }
            Op::Void { code } => {
                let code = CODES[usize::from(*code)];
                let expected = model.void(code);
                let got = store.void(code, by()).await;
                (from_model(expected), from_store(got, |c| ids.view(&c))?)
            }
            Op::Reverse { redemption } => {
                let index = redemption
                    .filter(|_| !ids.redemptions.is_empty())
                    .map(|r| usize::from(r) % ids.redemptions.len());
                let id = index.map_or(UNKNOWN_REDEMPTION.to_string(), |i| {
                    ids.redemptions[i].clone()
                });
                let expected = model.reverse(index).map(|i| {
                    (
                        model.redemptions[i].code.clone(),
                        model.redemptions[i].reversed_at,
                    )
                });
                let got = store.reverse(&id, by()).await;
                (
                    from_model(expected),
                    from_store(got, |r| Ok((r.code, r.reversed_at.map(Timestamp::millis))))?,
                )
            }
            Op::Advance { seconds } => {
                let millis = i64::from(*seconds) * 1000;
                model.advance(millis);
                self.clock.advance(millis);
                (Ok(String::new()), Ok(String::new()))
            }
            Op::SweepLocks => {
                model.sweep_locks();
                (
                    Ok(String::new()),
                    from_store(store.expire_locks().await, |_| Ok(()))?.map(|_| String::new()),
                )
            }
        })
    }

    /// After the last step every coupon, book, user list and redemption must agree.
    async fn compare_final(&self, model: &Model, ids: &Ids) -> Result<(), String> {
        let store = self.store;
        for code in CODES {
            let expected = from_model(match model.coupons.contains_key(code) {
                true => Ok(model.view(code)),
                false => Err("coupon_not_found"),
            });
            let got = from_store(store.get_coupon(code).await, |c| ids.view(&c))?;
            if expected != got {
                return Err(format!(
                    "at the end, coupon {code}: the model has {expected:?}, the store {got:?}"
                ));
            }
        }
        for (index, id) in ids.books.iter().enumerate() {
            let expected = from_model(match model.books[index].deleted {
                true => Err("book_not_found"),
                false => Ok((
                    model.books[index].rules.status.as_str(),
                    model.counts(index),
                )),
            });
            let got = from_store(store.get_book(id).await, |b| {
                let status = serde_json::to_value(b.settings.status).map_err(|e| e.to_string())?;
                let status = Status::parse(status.as_str().unwrap_or_default());
                Ok((
                    status.map_or("?", Status::as_str),
                    super::counts_of(&b.counts),
                ))
            })?;
            if expected != got {
                return Err(format!(
                    "at the end, book {index}: the model has {expected:?}, the store {got:?}"
                ));
            }
            let expected: Vec<(String, String, bool)> = model
                .redemptions
                .iter()
                .filter(|r| r.book == index)
                .map(|r| (r.code.clone(), r.user.clone(), r.reversed_at.is_some()))
                .collect();
            let filter = RedemptionFilter {
                book_id: Some(id.clone()),
                ..RedemptionFilter::default()
            };
            let got: Vec<(String, String, bool)> = store
                .list_redemptions(filter, PageRequest::first(1000))
                .await
                .map_err(|e| format!("list redemptions: {e}"))?
                .data
                .into_iter()
                .map(|r| (r.code, r.user_id, r.reversed_at.is_some()))
                .collect();
            if expected != got {
                return Err(format!(
                    "at the end, book {index}'s redemptions: the model has {expected:?}, the store {got:?}"
                ));
            }
        }
        for user in USERS {
            let expected = model.user_coupons(user);
            let got: Vec<String> = store
                .user_coupons(user, None, None, PageRequest::first(1000))
                .await
                .map_err(|e| format!("user coupons: {e}"))?
                .data
                .into_iter()
                .map(|c| c.code)
                .collect();
            if expected != got {
                return Err(format!(
                    "at the end, {user}'s coupons: the model has {expected:?}, the store {got:?}"
                ));
            }
        }
        Ok(())
    }
}
