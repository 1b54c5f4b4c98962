//! Conformance: webhook endpoints and their deliveries.

use serde_json::json;

use crate::domain::{ErrorCode, PageRequest, Timestamp};
use crate::store::DynStore;
use crate::store::Idempotency;

use super::{book_with_codes, codes};

// ---------------------------------------------------------------------------------
// Webhooks

pub(super) fn webhook_of(url: &str, types: &[&str]) -> crate::domain::webhook::Webhook {
    crate::domain::webhook::CreateWebhook {
        url: url.to_string(),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        description: Some("conformance".into()),
    }
    .into_webhook(crate::domain::ids::new_id("wh"), Timestamp::now())
}

pub(super) fn later(at: Timestamp, millis: i64) -> Timestamp {
    Timestamp(at.millis() + millis)
}

pub async fn webhooks_round_trip(store: &DynStore) {
    use crate::domain::webhook::{WebhookStatus, new_secret};

    let before = codes("WHB", 1);
    book_with_codes(store, json!({}), &before).await;
    let secret = new_secret();
    let hook = webhook_of("https://example.com/a", &["coupon.redeemed"]);
    let created = store
        .create_webhook(hook.clone(), secret.clone(), None)
        .await
        .expect("create");
    assert_eq!(created, hook);
    assert_eq!(created.status, WebhookStatus::Enabled);
    let stored = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(
        (&stored.webhook, &stored.secret, &stored.previous_secret),
        (&hook, &secret, &None)
    );
    // The cursor is the head of the feed: earlier events are behind it, later ones
    // after it.
    let behind = store
        .list_events(stored.cursor.as_deref(), 1000)
        .await
        .expect("events after the cursor");
    assert!(behind.data.is_empty(), "{:?}", behind.data);
    let after = codes("WHA", 1);
    book_with_codes(store, json!({}), &after).await;
    let ahead = store
        .list_events(stored.cursor.as_deref(), 1000)
        .await
        .expect("events after the cursor");
    let types: Vec<&str> = ahead.data.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["book.created", "book.codes_added"]);

    // Idempotent creation answers the first endpoint.
    let idem = Idempotency {
        caller: "key_1".into(),
        key: "wh-1".into(),
        fingerprint: "f".into(),
    };
    let second = webhook_of("https://example.com/b", &["*"]);
    let first_answer = store
        .create_webhook(second.clone(), new_secret(), Some(idem.clone()))
        .await
        .expect("create b");
    let replay = store
        .create_webhook(
            webhook_of("https://example.com/b", &["*"]),
            new_secret(),
            Some(idem),
        )
        .await
        .expect("replay");
    assert_eq!(replay, first_answer);

    let page = store
        .list_webhooks(PageRequest::first(1))
        .await
        .expect("list");
    assert_eq!(page.data, vec![hook.clone()]);
    let rest = store
        .list_webhooks(PageRequest::parse(Some("10"), page.next_cursor.as_deref()).expect("page"))
        .await
        .expect("list");
    assert_eq!(rest.data, vec![second.clone()]);
    assert_eq!(rest.next_cursor, None);

    // Rotation keeps the old secret for its grace period.
    let new = new_secret();
    let until = later(Timestamp::now(), 60_000);
    store
        .rotate_webhook_secret(&hook.id, new.clone(), until, None)
        .await
        .expect("rotate");
    let rotated = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(rotated.secret, new);
    assert_eq!(rotated.previous_secret, Some((secret.clone(), until)));
    assert_eq!(
        rotated.signing_secrets(Timestamp::now()),
        [new.as_str(), secret.as_str()]
    );
    assert_eq!(rotated.signing_secrets(later(until, 1)), [new.as_str()]);

    // A test send registers its event once per idempotency key.
    let test_idem = Idempotency {
        caller: "key_1".into(),
        key: "test-1".into(),
        fingerprint: "t".into(),
    };
    let event = |id: &str| crate::domain::event::Event {
        id: id.to_string(),
        event_type: "webhook.test".into(),
        created_at: Timestamp::now(),
        actor: crate::domain::event::Actor::api_key("key_conformance"),
        data: json!({}),
    };
    let registered = store
        .begin_webhook_test(&hook.id, event("evt_t1"), Some(test_idem.clone()))
        .await
        .expect("test");
    assert_eq!(registered.id, "evt_t1");
    let again = store
        .begin_webhook_test(&hook.id, event("evt_t2"), Some(test_idem))
        .await
        .expect("test replay");
    assert_eq!(again.id, "evt_t1");

    store.delete_webhook(&hook.id).await.expect("delete");
    for err in [
        store
            .get_webhook(&hook.id)
            .await
            .map(|_| ())
            .expect_err("gone"),
        store.delete_webhook(&hook.id).await.expect_err("gone"),
        store
            .rotate_webhook_secret(&hook.id, new_secret(), until, None)
            .await
            .map(|_| ())
            .expect_err("gone"),
        store
            .list_deliveries(&hook.id, None, PageRequest::first(10))
            .await
            .map(|_| ())
            .expect_err("gone"),
        store
            .lease_webhook(&hook.id, "p1", Timestamp::now(), until)
            .await
            .map(|_| ())
            .expect_err("gone"),
        store
            .begin_webhook_test(&hook.id, event("evt_t3"), None)
            .await
            .map(|_| ())
            .expect_err("gone"),
    ] {
        assert_eq!(err.code, ErrorCode::WebhookNotFound);
    }
    let left = store
        .list_webhooks(PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(left.data, vec![second]);
}

pub async fn webhook_deliveries_are_stored_with_the_cursor(store: &DynStore) {
    use crate::domain::event::Event;
    use crate::domain::webhook::{
        AttemptStatus, DeliveryAttempt, DeliveryBatch, PendingDelivery, WebhookStatus, new_secret,
    };

    let hook = webhook_of("https://example.com/d", &["*"]);
    store
        .create_webhook(hook.clone(), new_secret(), None)
        .await
        .expect("create");
    let now = Timestamp::now();

    // One holder at a time; a lapsed lease can be taken over.
    let mine = store
        .lease_webhook(&hook.id, "p1", now, later(now, 30_000))
        .await
        .expect("lease")
        .expect("free");
    assert_eq!(mine.webhook, hook);
    assert!(
        store
            .lease_webhook(&hook.id, "p2", now, later(now, 30_000))
            .await
            .expect("lease")
            .is_none()
    );
    assert!(
        store
            .lease_webhook(&hook.id, "p1", now, later(now, 30_000))
            .await
            .expect("renew")
            .is_some()
    );

    let list = codes("WHD", 3);
    book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    let events = store
        .list_events(mine.cursor.as_deref(), 1000)
        .await
        .expect("events")
        .data;
    assert_eq!(events.len(), 2);
    let attempt = |event: &Event, n: u32, status: AttemptStatus| DeliveryAttempt {
        id: crate::domain::ids::new_id("att"),
        webhook_id: hook.id.clone(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        attempt: n,
        status,
        response_status: Some(if status == AttemptStatus::Succeeded {
            200
        } else {
            500
        }),
        response_body: Some("ok ü".into()),
        error: None,
        latency_ms: 3,
        attempted_at: Timestamp::now(),
        next_attempt_at: None,
    };
    let pending = |event: &Event, attempts: u32| PendingDelivery {
        event: event.clone(),
        order_key: "K".into(),
        attempts,
        next_attempt_at: later(now, 5_000),
    };
    let first_round = DeliveryBatch {
        attempts: vec![
            attempt(&events[0], 1, AttemptStatus::Retrying),
            attempt(&events[1], 1, AttemptStatus::Retrying),
        ],
        // Inserted in reverse: pending deliveries come back in event order.
        pending: vec![pending(&events[1], 0), pending(&events[0], 1)],
        done: vec![],
        cursor: Some(events[1].id.clone()),
        failing_since: Some(Some(now)),
        disable: false,
    };
    store
        .record_deliveries(&hook.id, Some("p1"), first_round.clone())
        .await
        .expect("record");
    // Another holder cannot write.
    assert_eq!(
        store
            .record_deliveries(&hook.id, Some("p2"), first_round)
            .await
            .expect_err("not the holder")
            .code,
        ErrorCode::WebhookNotFound
    );
    let stored = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(stored.cursor.as_deref(), Some(events[1].id.as_str()));
    assert_eq!(stored.webhook.failing_since, Some(now));
    let queued = store.pending_deliveries(&hook.id).await.expect("pending");
    assert_eq!(queued, vec![pending(&events[0], 1), pending(&events[1], 0)]);

    // A retry succeeds: the first leaves the queue, the second is updated.
    store
        .record_deliveries(
            &hook.id,
            Some("p1"),
            DeliveryBatch {
                attempts: vec![attempt(&events[0], 2, AttemptStatus::Succeeded)],
                pending: vec![pending(&events[1], 1)],
                done: vec![events[0].id.clone()],
                failing_since: Some(None),
                ..DeliveryBatch::default()
            },
        )
        .await
        .expect("record");
    assert_eq!(
        store.pending_deliveries(&hook.id).await.expect("pending"),
        vec![pending(&events[1], 1)]
    );
    let stored = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(stored.webhook.failing_since, None);
    assert_eq!(stored.cursor.as_deref(), Some(events[1].id.as_str()));

    // The attempt log, oldest first, paged, and by event.
    let log = store
        .list_deliveries(&hook.id, None, PageRequest::first(2))
        .await
        .expect("log");
    assert_eq!(log.data.len(), 2);
    assert_eq!(log.data[0].event_id, events[0].id);
    assert_eq!(log.data[0].response_body.as_deref(), Some("ok ü"));
    let rest = store
        .list_deliveries(
            &hook.id,
            None,
            PageRequest::parse(Some("10"), log.next_cursor.as_deref()).expect("page"),
        )
        .await
        .expect("log");
    assert_eq!(rest.data.len(), 1);
    assert_eq!(rest.data[0].status, AttemptStatus::Succeeded);
    let of_first = store
        .list_deliveries(&hook.id, Some(&events[0].id), PageRequest::first(10))
        .await
        .expect("log");
    let attempts: Vec<u32> = of_first.data.iter().map(|a| a.attempt).collect();
    assert_eq!(attempts, [1, 2]);

    // A takeover after the lease lapsed; the old holder can no longer write.
    let late = later(now, 60_000);
    let taken = store
        .lease_webhook(&hook.id, "p2", late, later(late, 30_000))
        .await
        .expect("lease")
        .expect("lapsed");
    assert_eq!(taken.cursor.as_deref(), Some(events[1].id.as_str()));
    assert!(
        store
            .record_deliveries(
                &hook.id,
                Some("p1"),
                DeliveryBatch {
                    cursor: Some(events[0].id.clone()),
                    ..DeliveryBatch::default()
                }
            )
            .await
            .is_err()
    );
    // Disabling: no lease is given any more, and the list shows it.
    store
        .record_deliveries(
            &hook.id,
            Some("p2"),
            DeliveryBatch {
                disable: true,
                ..DeliveryBatch::default()
            },
        )
        .await
        .expect("disable");
    assert!(
        store
            .lease_webhook(&hook.id, "p2", late, later(late, 30_000))
            .await
            .expect("lease")
            .is_none()
    );
    let listed = store
        .list_webhooks(PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(listed.data[0].status, WebhookStatus::Disabled);
    // Deleting drops the queue and the log.
    store.delete_webhook(&hook.id).await.expect("delete");
    assert_eq!(
        store
            .pending_deliveries(&hook.id)
            .await
            .expect_err("gone")
            .code,
        ErrorCode::WebhookNotFound
    );
}

pub async fn a_disabled_webhook_is_enabled_and_deliveries_are_redelivered(store: &DynStore) {
    use crate::domain::event::Event;
    use crate::domain::webhook::{
        AttemptStatus, DeliveryAttempt, DeliveryBatch, PendingDelivery, WebhookStatus, attempt_id,
        new_secret,
    };

    let hook = webhook_of("https://example.com/e", &["*"]);
    store
        .create_webhook(hook.clone(), new_secret(), None)
        .await
        .expect("create");
    let other = webhook_of("https://example.com/other", &["*"]);
    store
        .create_webhook(other.clone(), new_secret(), None)
        .await
        .expect("create other");
    // Enabling an enabled endpoint changes nothing.
    assert_eq!(
        store.enable_webhook(&hook.id, None).await.expect("enable"),
        hook
    );

    let list = codes("WHE", 2);
    book_with_codes(store, json!({"requires_assignment": false}), &list).await;
    let now = Timestamp::now();
    let leased = store
        .lease_webhook(&hook.id, "p1", now, later(now, 30_000))
        .await
        .expect("lease")
        .expect("free");
    let events = store
        .list_events(leased.cursor.as_deref(), 1000)
        .await
        .expect("events")
        .data;
    assert_eq!(events.len(), 2);
    let attempt = |event: &Event, n: u32, at: Timestamp| DeliveryAttempt {
        id: attempt_id(at),
        webhook_id: hook.id.clone(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        attempt: n,
        status: AttemptStatus::Retrying,
        response_status: Some(503),
        response_body: Some("down".into()),
        error: None,
        latency_ms: 2,
        attempted_at: at,
        next_attempt_at: Some(later(at, 5_000)),
    };
    // Attempts in one millisecond and in the next: each is found by its id alone.
    let first = attempt(&events[0], 1, now);
    let beside = attempt(&events[1], 1, now);
    let second = attempt(&events[0], 2, later(now, 1));
    let queued = PendingDelivery {
        event: events[0].clone(),
        order_key: "K".into(),
        attempts: 2,
        next_attempt_at: later(now, 5_000),
    };
    store
        .record_deliveries(
            &hook.id,
            Some("p1"),
            DeliveryBatch {
                attempts: vec![first.clone(), beside.clone(), second.clone()],
                pending: vec![queued.clone()],
                cursor: Some(events[1].id.clone()),
                failing_since: Some(Some(now)),
                disable: true,
                ..DeliveryBatch::default()
            },
        )
        .await
        .expect("record");
    assert!(
        store
            .lease_webhook(&hook.id, "p1", now, later(now, 30_000))
            .await
            .expect("lease")
            .is_none(),
        "disabled"
    );

    // Enabled again: failing_since cleared, cursor and queue kept, the lease free for
    // any process; a replay answers the same.
    let idem = Idempotency {
        caller: "key_1".into(),
        key: "enable-1".into(),
        fingerprint: "e".into(),
    };
    let enabled = store
        .enable_webhook(&hook.id, Some(idem.clone()))
        .await
        .expect("enable");
    assert_eq!(enabled.status, WebhookStatus::Enabled);
    assert_eq!(enabled.failing_since, None);
    let stored = store.get_webhook(&hook.id).await.expect("get");
    assert_eq!(stored.webhook, enabled);
    assert_eq!(stored.cursor.as_deref(), Some(events[1].id.as_str()));
    assert_eq!(
        store.pending_deliveries(&hook.id).await.expect("pending"),
        vec![queued]
    );
    assert!(
        store
            .lease_webhook(&hook.id, "p2", now, later(now, 30_000))
            .await
            .expect("lease")
            .is_some(),
        "another process may deliver it at once"
    );
    assert_eq!(
        store
            .enable_webhook(&hook.id, Some(idem))
            .await
            .expect("replay"),
        enabled
    );

    // Attempts by id; unknown ones, and another endpoint's, are not found.
    for logged in [&first, &beside, &second] {
        assert_eq!(
            &store
                .get_delivery(&hook.id, &logged.id)
                .await
                .expect("by id"),
            logged
        );
    }
    for (webhook_id, delivery_id, code) in [
        (&hook.id, attempt_id(now), ErrorCode::DeliveryNotFound),
        (
            &hook.id,
            "att_nope".to_string(),
            ErrorCode::DeliveryNotFound,
        ),
        (
            &hook.id,
            "att_7ZZZZZZZZZZZZZZZZZZZZZZZZZ".to_string(),
            ErrorCode::DeliveryNotFound,
        ),
        (&other.id, first.id.clone(), ErrorCode::DeliveryNotFound),
        (
            &"wh_missing".to_string(),
            first.id.clone(),
            ErrorCode::WebhookNotFound,
        ),
    ] {
        assert_eq!(
            store
                .get_delivery(webhook_id, &delivery_id)
                .await
                .expect_err("not found")
                .code,
            code,
            "{delivery_id}"
        );
        assert_eq!(
            store
                .begin_redelivery(webhook_id, &delivery_id, attempt_id(now), None)
                .await
                .expect_err("not found")
                .code,
            code,
            "{delivery_id}"
        );
    }

    // A redelivery of the first attempt is numbered after the event's last one; a
    // replay of its key answers the first plan.
    let again_idem = Idempotency {
        caller: "key_1".into(),
        key: "again-1".into(),
        fingerprint: "r".into(),
    };
    let planned = attempt_id(later(now, 2));
    let plan = store
        .begin_redelivery(
            &hook.id,
            &first.id,
            planned.clone(),
            Some(again_idem.clone()),
        )
        .await
        .expect("plan");
    assert_eq!(
        (plan.attempt_id.as_str(), plan.attempt),
        (planned.as_str(), 3)
    );
    assert_eq!(plan.of, first);
    let replay = store
        .begin_redelivery(&hook.id, &first.id, attempt_id(now), Some(again_idem))
        .await
        .expect("replay");
    assert_eq!(replay, plan);
    // The event it sends is the feed's.
    let event = store
        .feed_event(&first.event_id)
        .await
        .expect("read")
        .expect("in the feed");
    assert_eq!(event, events[0]);
    assert_eq!(store.feed_event("evt_nope").await.expect("read"), None);
    // Logged like any attempt (without a lease), it is found by its id too.
    let resent = DeliveryAttempt {
        id: plan.attempt_id.clone(),
        attempt: plan.attempt,
        status: AttemptStatus::Succeeded,
        response_status: Some(200),
        next_attempt_at: None,
        ..attempt(&events[0], 3, later(now, 3))
    };
    store
        .record_deliveries(
            &hook.id,
            None,
            DeliveryBatch {
                attempts: vec![resent.clone()],
                ..DeliveryBatch::default()
            },
        )
        .await
        .expect("record");
    assert_eq!(
        store
            .get_delivery(&hook.id, &resent.id)
            .await
            .expect("by id"),
        resent
    );
    let of_event = store
        .list_deliveries(&hook.id, Some(&events[0].id), PageRequest::first(10))
        .await
        .expect("log");
    let numbers: Vec<u32> = of_event.data.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
}
