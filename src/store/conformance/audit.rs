//! Conformance: the audit trail: who made each change, and the feed's filters.

use serde_json::{Value, json};

use crate::domain::coupon::LockTtl;
use crate::domain::event::{self, Actor, Event, EventFilter};
use crate::domain::job::{CodeIntake, JobKind, JobStatus};
use crate::domain::{Clock, ErrorCode, Page};
use crate::store::{DynStore, Write};

use super::{KEY_ID, book_with_codes, by_key, codes, redeem};

fn by_jwt(sub: &str) -> Write {
    Write::by(Actor::jwt(sub))
}

fn filter(
    types: &[&str],
    book: Option<&str>,
    code: Option<&str>,
    user: Option<&str>,
) -> EventFilter {
    let owned = |v: Option<&str>| v.map(str::to_string);
    EventFilter::new(types, owned(book), owned(code), owned(user)).expect("a valid filter")
}

/// Every event the filter selects, page after page of `limit`.
async fn read_all(store: &DynStore, filter: &EventFilter, limit: u32) -> Vec<Event> {
    let mut events = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let Page { data, next_cursor } = store
            .find_events(filter, after.as_deref(), limit)
            .await
            .expect("filtered events");
        assert!(
            data.len() <= limit as usize,
            "a page holds at most limit events"
        );
        events.extend(data);
        match next_cursor {
            Some(cursor) => after = Some(cursor),
            None => return events,
        }
    }
    panic!("the filtered feed never ended");
}

/// (type, code or book id) of each event, to compare lists readably.
fn listed(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let about = e.data.get("code").or_else(|| e.data.get("id"));
            let about = about.and_then(Value::as_str).unwrap_or_default();
            (e.event_type.clone(), about.to_string())
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(t, a)| (t.to_string(), a.to_string()))
        .collect()
}

/// Each kind of write records its actor: an API key, a JWT's subject, and a job's
/// work (the system, named by the job id; the job names its starter).
pub async fn events_carry_their_actor(store: &DynStore) {
    let list = codes("ACT", 2);
    let book_id = book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    store
        .assign(&list[0], "ann", by_jwt("ann"))
        .await
        .expect("assign");
    let lock = store
        .lock(&list[1], "bob", None.into(), by_key())
        .await
        .expect("lock");
    store
        .unlock(&list[1], &lock.lock_id, by_jwt("bob"))
        .await
        .expect("unlock");
    let redemption = store
        .redeem(redeem(&list[0], "ann", None), by_jwt("ann"))
        .await
        .expect("redeem");
    store
        .reverse(&redemption.id, by_key())
        .await
        .expect("reverse");
    store.void(&list[1], by_jwt("ops")).await.expect("void");

    let key = Actor::api_key(KEY_ID);
    let events = read_all(store, &filter(&[], Some(&book_id), None, None), 100).await;
    let actors: Vec<(&str, &Actor)> = events
        .iter()
        .map(|e| (e.event_type.as_str(), &e.actor))
        .collect();
    assert_eq!(
        actors,
        [
            (event::BOOK_CREATED, &key),
            (event::BOOK_CODES_ADDED, &key),
            (event::COUPON_ASSIGNED, &Actor::jwt("ann")),
            (event::COUPON_LOCKED, &key),
            (event::COUPON_UNLOCKED, &Actor::jwt("bob")),
            (event::COUPON_REDEEMED, &Actor::jwt("ann")),
            (event::REDEMPTION_REVERSED, &key),
            (event::COUPON_VOIDED, &Actor::jwt("ops")),
        ]
    );
    // The same actor whichever way the feed is read.
    let feed = store.list_events(None, 1000).await.expect("feed").data;
    for event in &events {
        let same = feed.iter().find(|e| e.id == event.id).expect("in the feed");
        assert_eq!(same, event);
    }

    // A job records who started it; its own changes are the system's.
    let job = store
        .create_job(
            &book_id,
            JobKind::Upload,
            1,
            Value::Null,
            by_jwt("uploader"),
        )
        .await
        .expect("job");
    assert_eq!(job.started_by, Actor::jwt("uploader"));
    let more = codes("ACTJOB", 1);
    let intake = CodeIntake::from_codes(more.iter().map(String::as_str));
    store
        .add_job_codes(&job.id, intake, Value::Null)
        .await
        .expect("batch");
    let finished = store
        .finish_job(&job.id, JobStatus::Succeeded)
        .await
        .expect("finish");
    assert_eq!(finished.started_by, Actor::jwt("uploader"));
    assert_eq!(
        store.get_job(&job.id).await.expect("job").started_by,
        Actor::jwt("uploader")
    );
    let added = read_all(
        store,
        &filter(&[event::BOOK_CODES_ADDED], Some(&book_id), None, None),
        100,
    )
    .await;
    let added: Vec<&Actor> = added.iter().map(|e| &e.actor).collect();
    assert_eq!(added, [&key, &Actor::system(&job.id)]);
}

/// The lock-expiry sweep is the system's work; the expired lock's holder is the user
/// its event is about.
pub async fn lock_expiry_is_the_systems(store: &DynStore, clock: &Clock) {
    let list = codes("EXP", 1);
    let book_id = book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    store
        .lock(&list[0], "cyd", LockTtl::asked(1), by_key())
        .await
        .expect("lock");
    clock.advance(2_000);
    assert_eq!(store.expire_locks().await.expect("sweep"), 1);
    let expired = read_all(
        store,
        &filter(&[event::COUPON_LOCK_EXPIRED], None, None, None),
        10,
    )
    .await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].actor, Actor::system(event::LOCK_EXPIRY));
    assert_eq!(expired[0].data["book_id"], book_id.as_str());
    let cyd = read_all(store, &filter(&[], None, None, Some("cyd")), 10).await;
    assert_eq!(
        listed(&cyd),
        pairs(&[
            (event::COUPON_LOCKED, &list[0]),
            (event::COUPON_LOCK_EXPIRED, &list[0])
        ])
    );
}

/// Each filter, alone and combined, with paging by `after`, selects exactly the
/// events about its book, code, user or types, in feed order.
pub async fn events_filter_by_book_code_user_and_type(store: &DynStore) {
    let a = codes("FA", 3);
    let b = codes("FB", 2);
    let loose = json!({"requires_assignment": false});
    let book_a = book_with_codes(store, loose.clone(), &a).await;
    let book_b = book_with_codes(store, loose, &b).await;
    store
        .assign(&a[0], "ann", by_jwt("ann"))
        .await
        .expect("assign");
    let lock = store
        .lock(&a[1], "bob", None.into(), by_key())
        .await
        .expect("lock");
    store
        .unlock(&a[1], &lock.lock_id, by_key())
        .await
        .expect("unlock");
    let redemption = store
        .redeem(redeem(&a[0], "ann", None), by_jwt("ann"))
        .await
        .expect("redeem");
    store.assign(&b[0], "bob", by_key()).await.expect("assign");
    store.unassign(&b[0], by_key()).await.expect("unassign");
    store.void(&b[1], by_key()).await.expect("void");
    store
        .reverse(&redemption.id, by_key())
        .await
        .expect("reverse");

    let (a0, a1, b0, b1) = (a[0].as_str(), a[1].as_str(), b[0].as_str(), b[1].as_str());
    let cases: Vec<(EventFilter, Vec<(String, String)>)> = vec![
        (
            filter(&[], Some(&book_a), None, None),
            pairs(&[
                (event::BOOK_CREATED, &book_a),
                (event::BOOK_CODES_ADDED, &book_a),
                (event::COUPON_ASSIGNED, a0),
                (event::COUPON_LOCKED, a1),
                (event::COUPON_UNLOCKED, a1),
                (event::COUPON_REDEEMED, a0),
                (event::REDEMPTION_REVERSED, a0),
            ]),
        ),
        (
            filter(&[], Some(&book_b), None, None),
            pairs(&[
                (event::BOOK_CREATED, &book_b),
                (event::BOOK_CODES_ADDED, &book_b),
                (event::COUPON_ASSIGNED, b0),
                (event::COUPON_UNASSIGNED, b0),
                (event::COUPON_VOIDED, b1),
            ]),
        ),
        (
            // Codes match in any case.
            filter(&[], None, Some(&a0.to_ascii_lowercase()), None),
            pairs(&[
                (event::COUPON_ASSIGNED, a0),
                (event::COUPON_REDEEMED, a0),
                (event::REDEMPTION_REVERSED, a0),
            ]),
        ),
        (
            // A user's locks count even on a code not assigned to them, and so does
            // the assignment taken from them.
            filter(&[], None, None, Some("bob")),
            pairs(&[
                (event::COUPON_LOCKED, a1),
                (event::COUPON_UNLOCKED, a1),
                (event::COUPON_ASSIGNED, b0),
                (event::COUPON_UNASSIGNED, b0),
            ]),
        ),
        (
            filter(&[event::COUPON_ASSIGNED], None, None, None),
            pairs(&[(event::COUPON_ASSIGNED, a0), (event::COUPON_ASSIGNED, b0)]),
        ),
        (
            filter(
                &[event::COUPON_VOIDED, event::COUPON_LOCKED],
                None,
                None,
                None,
            ),
            pairs(&[(event::COUPON_LOCKED, a1), (event::COUPON_VOIDED, b1)]),
        ),
        (
            filter(
                &[event::COUPON_REDEEMED, event::REDEMPTION_REVERSED],
                Some(&book_a),
                None,
                None,
            ),
            pairs(&[
                (event::COUPON_REDEEMED, a0),
                (event::REDEMPTION_REVERSED, a0),
            ]),
        ),
        (
            filter(&[], Some(&book_b), None, Some("bob")),
            pairs(&[(event::COUPON_ASSIGNED, b0), (event::COUPON_UNASSIGNED, b0)]),
        ),
        (
            filter(
                &[event::COUPON_ASSIGNED],
                Some(&book_a),
                Some(a0),
                Some("ann"),
            ),
            pairs(&[(event::COUPON_ASSIGNED, a0)]),
        ),
        (filter(&[], None, Some(a0), Some("bob")), Vec::new()),
        (filter(&[], Some(&book_b), Some(a0), None), Vec::new()),
        (filter(&[event::BOOK_DELETED], None, None, None), Vec::new()),
        (filter(&[], None, None, Some("nobody")), Vec::new()),
    ];
    for (filter, expected) in &cases {
        let whole = read_all(store, filter, 1000).await;
        assert_eq!(&listed(&whole), expected, "{filter:?}");
        assert!(whole.windows(2).all(|w| w[0].id < w[1].id), "in feed order");
        // Page by page, the same events.
        let paged = read_all(store, filter, 2).await;
        assert_eq!(paged, whole, "{filter:?} paged by 2");
        // After one of them, the rest.
        if let Some(first) = whole.first() {
            let rest = store
                .find_events(filter, Some(&first.id), 1000)
                .await
                .expect("after");
            assert_eq!(rest.data, whole[1..], "{filter:?} after the first");
            assert_eq!(rest.next_cursor, None);
        }
    }
    let bad = store
        .find_events(&filter(&[], Some(&book_a), None, None), Some("bogus"), 10)
        .await
        .expect_err("unknown after");
    assert_eq!(bad.code, ErrorCode::InvalidRequest);
    // No filter: the whole feed, as `list_events` reads it.
    let everything = store
        .find_events(&EventFilter::default(), None, 1000)
        .await
        .expect("feed");
    let feed = store.list_events(None, 1000).await.expect("feed");
    assert_eq!(everything, feed);
}
