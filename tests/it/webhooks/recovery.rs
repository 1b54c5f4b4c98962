//! Getting deliveries going again: an endpoint disabled after failing is enabled and
//! catches up on everything it missed; a logged delivery is sent again on request.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{FAST_RETRIES, subscribe};
use crate::common::receiver::*;
use crate::common::*;

/// Waits until the endpoint shows `status`; returns it.
async fn wait_for_status(s: &Server, id: &str, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, hook) = s.get(&format!("/v1/webhooks/{id}")).await;
        if hook["status"] == status {
            return hook;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not {status}: {hook}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The redemption ids of the coupon.redeemed events acknowledged so far.
fn acknowledged_redemptions(receiver: &Receiver) -> HashSet<String> {
    receiver
        .acknowledged()
        .iter()
        .filter_map(|r| r.event()["data"]["id"].as_str().map(str::to_string))
        .collect()
}

async fn redeliver(s: &Server, hook: &str, delivery: &str, key: Option<&str>) -> (u16, Value) {
    let path = format!(
        "/v1/webhooks/{}/deliveries/{}/redeliver",
        enc(hook),
        enc(delivery)
    );
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    s.call_with_headers(ADMIN_KEY, "POST", &path, &headers, None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_endpoint_is_enabled_and_catches_up_on_what_it_missed() {
    let receiver = Receiver::start(Behaviour::default()).await;
    receiver.down.store(true, Ordering::SeqCst);
    let mut env = FAST_RETRIES.to_vec();
    env.push(("COUPON_BOOK_WEBHOOK_DISABLE_AFTER_MS", "400"));
    let s = Server::start_with_env(&env).await;
    let (id, secret) = subscribe(&s, &receiver.url(), &["coupon.redeemed"]).await;
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "ENA", 4)
        .await;
    let mut redemptions = HashSet::new();
    let (status, first) = s.redeem(&codes[0], "u0").await;
    assert_eq!(status, 201, "{first}");
    redemptions.insert(first["id"].as_str().expect("id").to_string());
    let disabled = wait_for_status(&s, &id, "disabled").await;
    assert!(!disabled["failing_since"].is_null(), "{disabled}");

    // Missed while disabled: events of other coupons.
    for (i, code) in codes.iter().enumerate().skip(1) {
        let (status, body) = s.redeem(code, &format!("u{i}")).await;
        assert_eq!(status, 201, "{body}");
        redemptions.insert(body["id"].as_str().expect("id").to_string());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    receiver.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        receiver.acknowledged().is_empty(),
        "a disabled endpoint gets nothing"
    );

    // A redelivery works on a disabled endpoint (to check the receiver first), and
    // does not enable it.
    let log = s.list_all(&format!("/v1/webhooks/{id}/deliveries")).await;
    let failed = log.last().expect("attempts were logged");
    let (status, attempt) = redeliver(&s, &id, failed["id"].as_str().expect("id"), None).await;
    assert_eq!(status, 202, "{attempt}");
    assert_eq!(attempt["status"], "succeeded", "{attempt}");
    let (_, still) = s.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(still["status"], "disabled", "{still}");

    let (status, enabled) = s
        .post(&format!("/v1/webhooks/{id}/enable"), json!({}))
        .await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["status"], "enabled");
    assert!(enabled["failing_since"].is_null(), "{enabled}");
    assert_eq!(enabled["url"], receiver.url());
    receiver
        .wait_for(
            Duration::from_secs(20),
            "every redemption delivered after enabling",
            |_| acknowledged_redemptions(&receiver) == redemptions,
        )
        .await;
    for r in receiver.seen() {
        assert_signed(&r, &secret);
    }
    let (_, hook) = s.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(hook["status"], "enabled", "{hook}");
    assert!(hook["failing_since"].is_null(), "{hook}");

    // Enabled already: the same answer, nothing changes.
    let (status, again) = s
        .post(&format!("/v1/webhooks/{id}/enable"), json!({}))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, hook);
    // New events flow as before.
    let (_, more) = s
        .book_with_codes(json!({"requires_assignment": false}), "ENB", 1)
        .await;
    let (status, later) = s.redeem(&more[0], "late").await;
    assert_eq!(status, 201, "{later}");
    let later_id = later["id"].as_str().expect("id").to_string();
    receiver
        .wait_for(Duration::from_secs(10), "a new event", |_| {
            acknowledged_redemptions(&receiver).contains(&later_id)
        })
        .await;
    assert_error(
        &s.post("/v1/webhooks/wh_missing/enable", json!({})).await,
        404,
        "webhook_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_is_sent_again_with_its_id_and_a_fresh_signature() {
    let receiver = Receiver::start(Behaviour::default()).await;
    let s = Server::start_with_env(FAST_RETRIES).await;
    let (id, secret) = subscribe(&s, &receiver.url(), &["coupon.redeemed"]).await;
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "RED", 1)
        .await;
    let (status, redemption) = s.redeem(&codes[0], "alice").await;
    assert_eq!(status, 201, "{redemption}");
    receiver
        .wait_for(Duration::from_secs(10), "the first delivery", |seen| {
            seen.iter().any(|r| r.answered == 200)
        })
        .await;
    // The receiver sees its answer before the attempt is stored: wait for the log.
    let logged_by = std::time::Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = s.list_all(&format!("/v1/webhooks/{id}/deliveries")).await;
        if !log.is_empty() || std::time::Instant::now() > logged_by {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(log.len(), 1, "{log:?}");
    let original = &log[0];
    let event_id = original["event_id"].as_str().expect("event id");

    let (status, attempt) = redeliver(
        &s,
        &id,
        original["id"].as_str().expect("id"),
        Some("again-1"),
    )
    .await;
    assert_eq!(status, 202, "{attempt}");
    assert_eq!(attempt["status"], "succeeded", "{attempt}");
    assert_eq!(attempt["event_id"], event_id);
    assert_eq!(attempt["event_type"], "coupon.redeemed");
    assert_eq!(attempt["attempt"], 2);
    assert_eq!(attempt["response_status"], 200);
    assert!(attempt["next_attempt_at"].is_null(), "{attempt}");
    assert_ne!(attempt["id"], original["id"]);
    // The receiver got the same event again: same Webhook-Id and body, signed anew.
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].id, seen[0].id);
    assert_eq!(seen[1].id, event_id);
    assert_eq!(seen[1].body, seen[0].body);
    assert_eq!(seen[1].event()["data"]["id"], redemption["id"]);
    assert_signed(&seen[1], &secret);
    // In the log, after the first.
    let (_, of_event) = s
        .get(&format!(
            "/v1/webhooks/{id}/deliveries?event_id={}",
            enc(event_id)
        ))
        .await;
    let ids: Vec<&Value> = data(&of_event).iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&original["id"], &attempt["id"]]);
    // The same Idempotency-Key answers the same attempt and sends nothing.
    let original_id = original["id"].as_str().expect("id");
    let (status, replay) = redeliver(&s, &id, original_id, Some("again-1")).await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay, attempt);
    assert_eq!(receiver.seen().len(), 2);

    // A failing receiver: the redelivery answers its failed attempt, and no retry
    // follows it.
    receiver.down.store(true, Ordering::SeqCst);
    let (status, failed) = redeliver(&s, &id, original_id, None).await;
    assert_eq!(status, 202, "{failed}");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["response_status"], 503);
    assert_eq!(failed["attempt"], 3);
    assert!(failed["next_attempt_at"].is_null(), "{failed}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.seen().len(), 3, "no retries of a redelivery");
    receiver.down.store(false, Ordering::SeqCst);

    // A test send's attempt can be sent again too.
    let (status, test) = s.post(&format!("/v1/webhooks/{id}/test"), json!({})).await;
    assert_eq!(status, 200, "{test}");
    let (status, again) = redeliver(&s, &id, test["id"].as_str().expect("id"), None).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["event_type"], "webhook.test");
    assert_eq!(again["event_id"], test["event_id"]);
    assert_eq!(again["attempt"], 2);
    let tests: Vec<Received> = receiver
        .seen()
        .into_iter()
        .filter(|r| r.event()["type"] == "webhook.test")
        .collect();
    assert_eq!(tests.len(), 2);
    assert_eq!(tests[0].id, tests[1].id);
    assert_signed(&tests[1], &secret);

    // Unknown attempts (or another endpoint's) and unknown endpoints; admin only.
    let (other, _) = subscribe(&s, &receiver.url(), &["book.deleted"]).await;
    for (hook, delivery, status, code) in [
        (
            id.as_str(),
            "att_01J00000000000000000000000",
            404,
            "delivery_not_found",
        ),
        (id.as_str(), "nope", 404, "delivery_not_found"),
        (other.as_str(), original_id, 404, "delivery_not_found"),
        ("wh_missing", original_id, 404, "webhook_not_found"),
    ] {
        assert_error(&redeliver(&s, hook, delivery, None).await, status, code);
    }
    let reader = s.create_key(&["events:read", "books:write"]).await;
    assert_error(
        &s.call_as(
            &reader,
            "POST",
            &format!("/v1/webhooks/{id}/deliveries/{original_id}/redeliver"),
            Some(json!({})),
        )
        .await,
        403,
        "forbidden",
    );
    assert_eq!(receiver.seen().len(), 5);
}
