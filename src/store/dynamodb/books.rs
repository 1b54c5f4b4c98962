//! Books in the DynamoDB table.

use crate::domain::book::check_deletable;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::book::{Book, BookSettings, Counts, UpdateBook};
use crate::domain::coupon::BaseStatus;
use crate::domain::event;
use crate::domain::ids::new_id;
use crate::domain::stats::{BookStats, Bucket, RedemptionBucket, TopUser};
use crate::domain::tally::Tally as Counters;
use crate::domain::{Page, PageRequest, Result, Timestamp, page_of};
use crate::store::{Write, prelude::*};

use super::DynamoStore;
use super::attr::{Item, get_n, get_s, key, n, pad, s, to_json};
use super::expr::{Expr, put_new};
use super::redemptions::parse_redemption;
use super::state::{BookState, CouponState, Tally, book_pk, counts_key, coupon_key, meta_key};

impl DynamoStore {
    /// After a change of the per-coupon limit: puts every code of the book in or out of
    /// the available index under the new limit and recounts the book. Runs after the
    /// settings commit, outside any transaction (see docs/dynamodb.md).
    pub(super) async fn recount(&self, book_id: &str) -> Result<()> {
        let (book, _) = self.load_book(book_id).await?;
        let max = book.max();
        let mut tally = Counters::default();
        for item in self
            .query_all(Some("GSI2"), &format!("BCODES#{book_id}"))
            .await?
        {
            let coupon = CouponState::parse(&item)?;
            let status = coupon.record.base_status(max);
            let wanted = status == BaseStatus::Available;
            if wanted != item.contains_key("G1PK") {
                let mut expr = coupon.pinned();
                expr.cond("rc", "=", n(coupon.rc()));
                coupon.index_available(&mut expr, wanted);
                self.update_returning(coupon_key(&coupon.record.code), expr)
                    .await?;
            }
            tally.add_code(status);
        }
        let mut expr = Expr::new();
        for (name, value) in [
            ("total", tally.total),
            ("available", tally.available),
            ("assigned", tally.assigned),
            ("redeemed", tally.redeemed),
            ("voided", tally.voided),
            ("unused", tally.unused()),
        ] {
            expr.set(name, n(value));
        }
        expr.cond_exists("PK");
        self.update_returning(counts_key(book_id), expr).await?;
        Ok(())
    }
}

#[async_trait]
impl BookStore for DynamoStore {
    async fn create_book(&self, settings: BookSettings, write: Write) -> Result<Book> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| {
            let settings = settings.clone();
            async move {
                let seq = self.next_seq("BOOK").await?;
                let id = new_id("book");
                let mut meta = meta_key(&id);
                meta.insert("id".into(), s(&id));
                meta.insert("seq".into(), n(seq));
                meta.insert("settings".into(), s(to_json(&settings)?));
                meta.insert("sv".into(), n(0));
                meta.insert("created_at".into(), n(now.millis()));
                meta.insert("updated_at".into(), n(now.millis()));
                meta.insert("G1PK".into(), s("BOOKS"));
                meta.insert("G1SK".into(), s(pad(seq)));
                let mut counts = counts_key(&id);
                for name in [
                    "total",
                    "available",
                    "assigned",
                    "redeemed",
                    "voided",
                    "redemptions",
                    "unused",
                    "next_code_seq",
                ] {
                    counts.insert(name.into(), n(0));
                }
                counts.insert("in_use".into(), AttributeValue::Bool(false));
                let book = Book {
                    id: id.clone(),
                    settings,
                    created_at: now,
                    updated_at: now,
                    counts: Counts::default(),
                };
                let items = vec![
                    put_new(&self.table, meta)?,
                    put_new(&self.table, counts)?,
                    self.event_put(by, event::BOOK_CREATED, &book, now)?,
                ];
                Ok((book, items))
            }
        })
        .await
    }

    async fn get_book(&self, book_id: &str) -> Result<Book> {
        let (book, tally) = self.load_book(book_id).await?;
        self.book_view(&book, &tally, self.clock.now()).await
    }

    async fn list_books(&self, page: PageRequest) -> Result<Page<Book>> {
        let after = page.after.map(pad);
        let (items, _) = self
            .query_page(
                Some("GSI1"),
                "BOOKS",
                after.as_deref(),
                page.limit as i32 + 1,
            )
            .await?;
        let now = self.clock.now();
        let mut books = Vec::new();
        for item in &items {
            let seq = get_n(item, "seq")?;
            let book = BookState::parse(item)?;
            let tally = self
                .get(counts_key(&book.id))
                .await?
                .map(|item| Tally::parse(&item))
                .unwrap_or_default();
            books.push((seq, self.book_view(&book, &tally, now).await?));
        }
        Ok(page_of(books, page.limit))
    }

    async fn update_book(&self, book_id: &str, patch: UpdateBook, write: Write) -> Result<Book> {
        let recount = std::sync::atomic::AtomicBool::new(false);
        let by = &write.actor;
        let book = self
            .run(write.idem.as_ref(), |now| {
                let patch = patch.clone();
                let recount = &recount;
                async move {
                    let (book, tally) = self.load_book(book_id).await?;
                    let settings = patch.apply(&book.settings)?;
                    recount.store(
                        settings.max_redemptions_per_coupon
                            != book.settings.max_redemptions_per_coupon,
                        Ordering::Relaxed,
                    );
                    let mut expr = Expr::new();
                    expr.cond("sv", "=", n(book.sv));
                    expr.set("settings", s(to_json(&settings)?))
                        .set("updated_at", n(now.millis()))
                        .bump("sv");
                    let updated = BookState {
                        settings,
                        sv: book.sv + 1,
                        updated_at: now,
                        ..book
                    };
                    let view = self.book_view(&updated, &tally, now).await?;
                    let items = vec![
                        expr.into_update(&self.table, meta_key(book_id))?,
                        self.event_put(by, event::BOOK_UPDATED, &view, now)?,
                    ];
                    Ok((view, items))
                }
            })
            .await?;
        if recount.load(Ordering::Relaxed) {
            self.recount(book_id).await?;
            return self.get_book(book_id).await;
        }
        Ok(book)
    }

    async fn delete_book(&self, book_id: &str, write: Write) -> Result<()> {
        let by = &write.actor;
        self.run(write.idem.as_ref(), |now| async move {
            let (book, tally) = self.load_book(book_id).await?;
            check_deletable(tally.in_use)?;
            let view = self.book_view(&book, &tally, now).await?;
            let mut meta = Expr::new();
            meta.cond("sv", "=", n(book.sv));
            let mut counts = Expr::new();
            counts.cond("in_use", "=", AttributeValue::Bool(false));
            let items = vec![
                meta.into_delete(&self.table, meta_key(book_id))?,
                counts.into_delete(&self.table, counts_key(book_id))?,
                self.event_put(by, event::BOOK_DELETED, &view, now)?,
            ];
            Ok(((), items))
        })
        .await?;
        // The book is gone (its codes now read as not found); free its codes and
        // usage items.
        let mut keys: Vec<Item> = Vec::new();
        for item in self
            .query_all(Some("GSI2"), &format!("BCODES#{book_id}"))
            .await?
        {
            keys.push(coupon_key(&get_s(&item, "code")?));
        }
        for item in self.query_all(None, &book_pk(book_id)).await? {
            keys.push(key(get_s(&item, "PK")?, get_s(&item, "SK")?));
        }
        self.batch_delete(keys).await
    }

    async fn book_stats(&self, book_id: &str, bucket: Bucket) -> Result<BookStats> {
        let book = self.get_book(book_id).await?;
        let width = bucket.millis();
        let mut buckets: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        let mut users: HashMap<String, u64> = HashMap::new();
        for item in self
            .query_all(Some("GSI1"), &format!("RBOOK#{book_id}"))
            .await?
        {
            let (_, redemption) = parse_redemption(&item)?;
            let start = redemption.redeemed_at.millis().div_euclid(width) * width;
            buckets.entry(start).or_default().0 += 1;
            match redemption.reversed_at {
                Some(at) => {
                    buckets
                        .entry(at.millis().div_euclid(width) * width)
                        .or_default()
                        .1 += 1
                }
                None => *users.entry(redemption.user_id).or_default() += 1,
            }
        }
        let skip = buckets.len().saturating_sub(1000);
        let redemptions = buckets
            .into_iter()
            .skip(skip)
            .map(|(start, (redeemed, reversed))| RedemptionBucket {
                start: Timestamp(start),
                redeemed,
                reversed,
            })
            .collect();
        let mut top_users: Vec<TopUser> = users
            .into_iter()
            .map(|(user_id, redemptions)| TopUser {
                user_id,
                redemptions,
            })
            .collect();
        top_users.sort_by(|a, b| {
            b.redemptions
                .cmp(&a.redemptions)
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        top_users.truncate(10);
        Ok(BookStats {
            counts: book.counts,
            redemptions,
            top_users,
        })
    }
}
