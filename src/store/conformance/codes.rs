//! Conformance: codes and their jobs.

use serde_json::json;

use crate::app::jobs;
use crate::domain::PageRequest;
use crate::domain::coupon::CouponStatus;
use crate::domain::job::{CodeIntake, JobKind, JobStatus};
use crate::domain::pattern::{CodePattern, GenerateSpec};
use crate::store::DynStore;

use super::{book_with_codes, by_key, codes, redeem, settings};

pub async fn codes_are_counted_exactly(store: &DynStore) {
    let list = codes("CNT", 3);
    let book_id = book_with_codes(store, json!({}), &list).await;
    let again = [
        list[0].to_lowercase(),
        "NEW-CODE-X1".to_string() + &list[1][4..],
        "no".into(),
        list[0].clone(),
    ];
    let job = store
        .add_codes(
            &book_id,
            JobKind::Upload,
            CodeIntake::from_codes(again.iter().map(String::as_str)),
            by_key(),
        )
        .await
        .expect("add again");
    assert_eq!(
        (
            job.inserted,
            job.already_exist,
            job.invalid,
            job.duplicates_in_file
        ),
        (1, 1, 1, 1)
    );
    let book = store.get_book(&book_id).await.expect("book");
    assert_eq!(book.counts.total, 4);
    assert_eq!(book.counts.available, 4);
    assert_eq!(store.get_job(&job.id).await.expect("job"), job);

    store.assign(&list[0], "u", by_key()).await.expect("assign");
    store
        .redeem(redeem(&list[1], "u", None), by_key())
        .await
        .expect_err("not assigned");
    let book = store.get_book(&book_id).await.expect("book");
    assert_eq!((book.counts.available, book.counts.assigned), (3, 1));
    let page = store
        .list_codes(
            &book_id,
            Some(CouponStatus::Assigned),
            PageRequest::first(10),
        )
        .await
        .expect("list");
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].code, list[0]);
    let all = store
        .list_codes(&book_id, None, PageRequest::first(2))
        .await
        .expect("list");
    assert_eq!(all.data[0].code, list[0]);
    assert!(all.next_cursor.is_some());
}

/// A 100,000-line upload job in 100 batches: every line counted once, across
/// batches too. (The HTTP suite uploads a million lines to the embedded store.)
pub async fn bulk_upload_counts_exactly_across_batches(store: &DynStore) {
    const LINES: u64 = 100_000;
    const BATCH: u64 = 1_000;
    let existing = codes("BULKX", 5);
    book_with_codes(store, json!({}), &existing).await;
    let book = store
        .create_book(settings(json!({})), by_key())
        .await
        .expect("create book");
    let tag = ulid::Ulid::new().to_string();
    let tag = &tag[16..];
    let job = store
        .create_job(
            &book.id,
            JobKind::Upload,
            LINES,
            serde_json::Value::Null,
            by_key(),
        )
        .await
        .expect("create job");
    assert_eq!(job.status, JobStatus::Running);
    for start in (0..LINES).step_by(BATCH as usize) {
        let mut intake = CodeIntake::default();
        for line in start + 1..=start + BATCH {
            let code = match line {
                // A duplicate of a line in an earlier batch, and one in the same batch.
                1_001 => format!("BULK-{tag}-{:06}", 5),
                1_002 => format!("BULK-{tag}-{:06}", 1_000),
                // Codes stored before, by another book.
                2_001..=2_005 => existing[(line - 2_001) as usize].clone(),
                3_001 => "no!".to_string(),
                _ => format!("BULK-{tag}-{line:06}"),
            };
            intake.push(line, &code);
        }
        store
            .add_job_codes(&job.id, intake, serde_json::Value::Null)
            .await
            .expect("batch");
    }
    let job = store
        .finish_job(&job.id, JobStatus::Succeeded)
        .await
        .expect("finish");
    assert_eq!(job.processed, LINES);
    assert_eq!(
        (
            job.inserted,
            job.duplicates_in_file,
            job.already_exist,
            job.invalid
        ),
        (LINES - 8, 2, 5, 1)
    );
    assert_eq!(
        store.get_book(&book.id).await.expect("book").counts.total,
        LINES - 8
    );
    assert_eq!(store.get_job(&job.id).await.expect("job"), job);
}

/// Generation counts the codes it stores per shape, in the writes that store them;
/// uploads do not count, and other shapes keep their own count.
pub async fn generation_counts_its_shape(store: &DynStore) {
    let book = store
        .create_book(settings(json!({})), by_key())
        .await
        .expect("book");
    let spec = |count: u64| GenerateSpec {
        count: Some(count),
        pattern: Some("GEN-######".into()),
        ..GenerateSpec::default()
    };
    let shape = CodePattern::parse(&spec(1)).expect("pattern").shape();
    assert_eq!(store.generated_count(&shape).await.expect("count"), 0);

    let generate = |count: u64| {
        let book_id = book.id.clone();
        async move {
            let (job, spec) = jobs::start_generate(store, &book_id, spec(count), by_key(), None)
                .await
                .expect("start");
            let job = jobs::run_generate(store, job, spec, &|_| {})
                .await
                .expect("run");
            assert_eq!(job.inserted, count);
        }
    };
    // More than one transaction's worth of codes on DynamoDB.
    generate(120).await;
    assert_eq!(store.generated_count(&shape).await.expect("count"), 120);
    generate(30).await;
    assert_eq!(store.generated_count(&shape).await.expect("count"), 150);

    let uploaded = CodeIntake::from_codes(["GEN-222222", "GEN-333333"]);
    store
        .add_codes(&book.id, JobKind::Upload, uploaded, by_key())
        .await
        .expect("upload");
    assert_eq!(store.generated_count(&shape).await.expect("count"), 150);

    let other = GenerateSpec {
        charset: Some("numeric".into()),
        ..spec(1)
    };
    let other = CodePattern::parse(&other).expect("pattern").shape();
    assert_ne!(other, shape);
    assert_eq!(store.generated_count(&other).await.expect("count"), 0);
}
