//! Bulk jobs: each line applied once with the assign-next rule, void or delete; exact
//! counts; results in line order; a batch sent again after a stop repeats nothing.

use serde_json::{Value, json};

use super::{book_with_codes, by_key, codes};
use crate::domain::bulk::{BulkLine, BulkOutcome};
use crate::domain::coupon::CouponStatus;
use crate::domain::event::{self, ActorType, EventFilter};
use crate::domain::job::{CodeIntake, JobKind, JobStatus};
use crate::domain::{ErrorCode, PageRequest};
use crate::store::DynStore;

fn lines(kind: JobKind, first: u64, inputs: &[&str]) -> Vec<BulkLine> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| BulkLine::read(kind, first + i as u64, input))
        .collect()
}

fn outcomes(results: &[crate::domain::bulk::BulkResult]) -> Vec<(u64, BulkOutcome)> {
    results.iter().map(|r| (r.line, r.outcome)).collect()
}

pub async fn bulk_assign_applies_each_line_once(store: &DynStore) {
    let list = codes("BULKA", 3);
    let book = book_with_codes(store, json!({"max_coupons_per_user": 1}), &list).await;
    let job = store
        .create_job(&book, JobKind::Assign, 7, Value::Null, by_key())
        .await
        .expect("create job");
    let first = lines(JobKind::Assign, 1, &["u1", "u2", "u1"]);
    let job_after = store
        .apply_bulk(&job.id, first.clone(), json!({"at": 1}))
        .await
        .expect("first batch");
    assert_eq!((job_after.assigned, job_after.limit_reached), (2, 1));
    // The second batch starts over from line 1 (a resume from an older cursor): the
    // lines already counted are not applied again.
    let mut again = first;
    again.extend(lines(JobKind::Assign, 4, &["", "u3", "u4", "u\u{0}"]));
    let job_after = store
        .apply_bulk(&job.id, again.clone(), json!({"at": 2}))
        .await
        .expect("second batch");
    assert_eq!(
        [
            job_after.processed,
            job_after.assigned,
            job_after.limit_reached,
            job_after.exhausted,
            job_after.invalid
        ],
        [7, 3, 1, 1, 2]
    );
    let job_again = store
        .apply_bulk(&job.id, again, json!({"at": 3}))
        .await
        .expect("replayed batch");
    assert_eq!(job_again.processed, 7);
    assert_eq!(job_again.assigned, 3);
    let u1 = store
        .user_coupons("u1", Some(&book), None, PageRequest::first(10))
        .await
        .expect("u1");
    assert_eq!(u1.data.len(), 1, "u1 holds one code");
    let results = store.job_results(&job.id, 0, 100).await.expect("results");
    assert_eq!(
        outcomes(&results),
        [
            (1, BulkOutcome::Assigned),
            (2, BulkOutcome::Assigned),
            (3, BulkOutcome::LimitReached),
            (4, BulkOutcome::Invalid),
            (5, BulkOutcome::Assigned),
            (6, BulkOutcome::Exhausted),
            (7, BulkOutcome::Invalid)
        ]
    );
    assert_eq!(results[0].code, Some(u1.data[0].code.clone()));
    assert_eq!(results[3].code, None);
    let page = store.job_results(&job.id, 2, 2).await.expect("page");
    assert_eq!(
        outcomes(&page).iter().map(|o| o.0).collect::<Vec<_>>(),
        [3, 4]
    );
    let book_now = store.get_book(&book).await.expect("book");
    assert_eq!(
        (book_now.counts.available, book_now.counts.assigned),
        (0, 3)
    );
    let finished = store
        .finish_job(&job.id, JobStatus::Succeeded)
        .await
        .expect("finish");
    assert_eq!(finished.assigned, 3);
    let filter = EventFilter {
        types: vec![event::COUPON_ASSIGNED.to_string()],
        book_id: Some(book.clone()),
        ..EventFilter::default()
    };
    let events = store.find_events(&filter, None, 100).await.expect("events");
    assert_eq!(events.data.len(), 3);
    for event in &events.data {
        assert_eq!(event.actor.kind, ActorType::System);
        assert_eq!(event.actor.id.as_deref(), Some(job.id.as_str()));
    }
    assert_eq!(
        store
            .job_results("job_nope", 0, 10)
            .await
            .expect_err("no job")
            .code,
        ErrorCode::JobNotFound
    );
}

pub async fn bulk_void_and_delete_leave_codes_in_use(store: &DynStore) {
    let list = codes("BULKD", 5);
    let book = book_with_codes(store, json!({}), &list).await;
    let other = codes("BULKO", 1);
    book_with_codes(store, json!({}), &other).await;
    store.assign(&list[0], "u", by_key()).await.expect("assign");
    let delete = store
        .create_job(&book, JobKind::Delete, 5, Value::Null, by_key())
        .await
        .expect("delete job");
    let inputs = [
        list[0].as_str(),
        list[1].as_str(),
        &list[1].to_lowercase(),
        "NO-SUCH-1",
        other[0].as_str(),
    ];
    let job = store
        .apply_bulk(&delete.id, lines(JobKind::Delete, 1, &inputs), Value::Null)
        .await
        .expect("delete batch");
    assert_eq!(
        [job.processed, job.deleted, job.in_use, job.not_found],
        [5, 1, 1, 3]
    );
    assert_eq!(
        store.get_coupon(&list[1]).await.expect_err("deleted").code,
        ErrorCode::CouponNotFound
    );
    assert_eq!(
        store.get_coupon(&other[0]).await.expect("other").code,
        other[0]
    );
    let counts = store.get_book(&book).await.expect("book").counts;
    assert_eq!((counts.total, counts.available, counts.assigned), (4, 3, 1));
    let void = store
        .create_job(&book, JobKind::Void, 3, Value::Null, by_key())
        .await
        .expect("void job");
    let inputs = [list[0].as_str(), list[2].as_str(), list[2].as_str()];
    let job = store
        .apply_bulk(&void.id, lines(JobKind::Void, 1, &inputs), Value::Null)
        .await
        .expect("void batch");
    assert_eq!([job.processed, job.voided, job.not_found], [3, 3, 0]);
    let voided = store.get_coupon(&list[2]).await.expect("voided");
    assert_eq!(voided.status, CouponStatus::Voided);
    // A voided code never handed out may still be deleted; the assigned one may not.
    let delete = store
        .create_job(&book, JobKind::Delete, 2, Value::Null, by_key())
        .await
        .expect("delete job");
    let inputs = [list[0].as_str(), list[2].as_str()];
    let job = store
        .apply_bulk(&delete.id, lines(JobKind::Delete, 1, &inputs), Value::Null)
        .await
        .expect("delete voided");
    assert_eq!([job.deleted, job.in_use], [1, 1]);
    let counts = store.get_book(&book).await.expect("book").counts;
    assert_eq!((counts.total, counts.available, counts.voided), (3, 2, 1));
    // Deleted codes no longer exist: they can be added again.
    let again = CodeIntake::from_codes([list[1].as_str(), list[2].as_str()]);
    let added = store
        .add_codes(&book, JobKind::Upload, again, by_key())
        .await
        .expect("add again");
    assert_eq!(added.inserted, 2);
    assert_eq!(store.get_book(&book).await.expect("book").counts.total, 5);
    let filter = EventFilter {
        types: vec![event::COUPON_DELETED.to_string()],
        book_id: Some(book),
        ..EventFilter::default()
    };
    let events = store.find_events(&filter, None, 100).await.expect("events");
    assert_eq!(events.data.len(), 2);
}

pub async fn bulk_assign_stops_on_a_book_paused_mid_job(store: &DynStore) {
    let list = codes("BULKP", 3);
    let book = book_with_codes(store, json!({}), &list).await;
    let job = store
        .create_job(&book, JobKind::Assign, 3, Value::Null, by_key())
        .await
        .expect("create job");
    let paused = crate::domain::book::UpdateBook {
        status: Some(crate::domain::book::BookStatus::Paused),
        ..Default::default()
    };
    store
        .update_book(&book, paused, by_key())
        .await
        .expect("pause");
    // An invalid line first: the refusal still leaves no line recorded.
    let batch = lines(JobKind::Assign, 1, &["u\u{0}", "u1", "u2"]);
    let err = store
        .apply_bulk(&job.id, batch, Value::Null)
        .await
        .expect_err("a paused book takes no assignment");
    assert_eq!(err.code, ErrorCode::BookNotActive);
    let job = store.get_job(&job.id).await.expect("job");
    assert_eq!((job.processed, job.assigned, job.invalid), (0, 0, 0));
    assert!(
        store
            .job_results(&job.id, 0, 10)
            .await
            .expect("results")
            .is_empty()
    );
    let book = store.get_book(&book).await.expect("book");
    assert_eq!(book.counts.assigned, 0);
}
