//! Webhooks end to end: a real receiver (an axum server in the test) behind a real
//! coupon-book process. Deliveries are signed, retried, logged, in order per coupon,
//! and survive a kill -9. Only loopback addresses are ever called.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::receiver::*;
use crate::common::*;
use axum::body::Bytes;
use coupon_book::domain::webhook::verify;
use serde_json::json;

mod recovery;

const FAST_RETRIES: &[(&str, &str)] = &[
    ("COUPON_BOOK_WEBHOOK_ALLOW_PRIVATE", "1"),
    (
        "COUPON_BOOK_WEBHOOK_RETRY_SCHEDULE_MS",
        "100,200,300,400,500,600",
    ),
    ("COUPON_BOOK_WEBHOOK_LEASE_MS", "1000"),
];

/// Subscribes the receiver; returns (webhook id, secret).
async fn subscribe(s: &Server, url: &str, types: &[&str]) -> (String, String) {
    let (status, body) = s
        .post(
            "/v1/webhooks",
            json!({"url": url, "event_types": types, "description": "test receiver"}),
        )
        .await;
    assert_eq!(status, 201, "subscribe: {body}");
    let secret = body["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"), "{body}");
    (body["id"].as_str().expect("id").to_string(), secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_receiver_gets_the_event_after_retries_signed_and_logged() {
    let receiver = Receiver::start(Behaviour {
        fail_first: 2,
        ..Behaviour::default()
    })
    .await;
    let s = Server::start_with_env(FAST_RETRIES).await;
    let (hook, secret) =
        subscribe(&s, &receiver.url(), &["coupon.redeemed", "book.exhausted"]).await;
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "WH", 1)
        .await;
    let (status, redemption) = s.redeem(&codes[0], "alice").await;
    assert_eq!(status, 201, "{redemption}");

    receiver
        .wait_for(
            Duration::from_secs(20),
            "coupon.redeemed acknowledged",
            |seen| {
                seen.iter()
                    .any(|r| r.answered == 200 && r.event()["type"] == "coupon.redeemed")
            },
        )
        .await;
    let seen = receiver.seen();
    let redeemed: Vec<&Received> = seen
        .iter()
        .filter(|r| r.event()["type"] == "coupon.redeemed")
        .collect();
    // Two failures, then success: the same signed body every time.
    assert!(redeemed.len() >= 3, "{redeemed:?}");
    let answers: Vec<u16> = redeemed.iter().map(|r| r.answered).collect();
    assert_eq!(&answers[..3], &[503, 503, 200][..]);
    for r in &redeemed {
        assert_eq!(
            r.body, redeemed[0].body,
            "the body changed between attempts"
        );
        assert_eq!(r.id, redeemed[0].id);
        assert_signed(r, &secret);
    }
    let event = redeemed[0].event();
    assert_eq!(event["id"], redeemed[0].id.as_str());
    assert_eq!(event["data"]["id"], redemption["id"]);
    assert_eq!(event["data"]["code"], codes[0].as_str());
    // The body is exactly the event of the feed.
    let (status, feed) = s.get("/v1/events?limit=1000").await;
    assert_eq!(status, 200);
    let in_feed = data(&feed)
        .iter()
        .find(|e| e["id"] == event["id"])
        .expect("the event is in the feed")
        .clone();
    assert_eq!(in_feed, event);
    // A wrong secret, or a changed body, does not verify.
    let mut forged = redeemed[2].clone();
    forged.body = Bytes::from(forged.body.iter().rev().copied().collect::<Vec<u8>>());
    assert!(
        verify(
            &secret,
            &forged.id,
            &forged.timestamp,
            &forged.body,
            &forged.signature,
            now_seconds(),
            300
        )
        .is_err()
    );

    // Every attempt is in the log, with status, answer and latency. A round is stored
    // right after its answers came, so the last one may take a moment.
    let event_id = event["id"].as_str().expect("id");
    let logged_by = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let (status, log) = s
            .get(&format!(
                "/v1/webhooks/{hook}/deliveries?event_id={}",
                enc(event_id)
            ))
            .await;
        assert_eq!(status, 200, "{log}");
        if data(&log).len() >= 3 || Instant::now() > logged_by {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let attempts = data(&log);
    assert_eq!(attempts.len(), 3, "{log}");
    let statuses: Vec<&str> = attempts
        .iter()
        .map(|a| a["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["retrying", "retrying", "succeeded"]);
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["attempt"], i + 1, "{a}");
        assert_eq!(a["webhook_id"], hook.as_str());
        assert_eq!(a["event_type"], "coupon.redeemed");
        assert!(a["latency_ms"].is_u64(), "{a}");
        ts(&a["attempted_at"]);
    }
    assert_eq!(attempts[0]["response_status"], 503);
    assert!(!attempts[0]["next_attempt_at"].is_null(), "{}", attempts[0]);
    assert_eq!(attempts[2]["response_status"], 200);
    assert!(attempts[2]["next_attempt_at"].is_null());

    // The book's only code is used up: book.exhausted arrives too.
    receiver
        .wait_for(Duration::from_secs(20), "book.exhausted", |seen| {
            seen.iter()
                .any(|r| r.answered == 200 && r.event()["type"] == "book.exhausted")
        })
        .await;

    // The CLI agrees on a captured delivery, and refuses a changed one.
    let good = &redeemed[2];
    let capture = |body: &[u8]| {
        let mut raw = format!(
            "POST /hook HTTP/1.1\r\nContent-Type: application/json\r\nWebhook-Id: {}\r\nWebhook-Timestamp: {}\r\nWebhook-Signature: {}\r\n\r\n",
            good.id, good.timestamp, good.signature
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw
    };
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("delivery.txt");
    std::fs::write(&file, capture(&good.body)).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coupon-book"))
        .args(["webhooks", "verify", "--secret", &secret, "--file"])
        .arg(&file)
        .output()
        .expect("run verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("valid {}", good.id)
    );
    let mut changed = good.body.to_vec();
    changed.push(b' ');
    std::fs::write(&file, capture(&changed)).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coupon-book"))
        .args(["webhooks", "verify", "--file"])
        .arg(&file)
        .env("COUPON_BOOK_WEBHOOK_SECRET", &secret)
        .output()
        .expect("run verify");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_of_a_coupon_arrive_in_order_despite_failures() {
    // Every third request fails: later events of a coupon wait behind a failed one.
    let receiver = Receiver::start(Behaviour {
        fail_every: 3,
        ..Behaviour::default()
    })
    .await;
    let s = Server::start_with_env(FAST_RETRIES).await;
    let (_, secret) = subscribe(&s, &receiver.url(), &["*"]).await;
    let (_, codes) = s.book_with_codes(json!({}), "ORD", 12).await;
    let mut expected = 0;
    for (i, code) in codes.iter().enumerate() {
        let user = format!("user-{i}");
        assert_eq!(s.assign(code, &user).await.0, 200);
        let (status, lock) = s.lock(code, &user).await;
        assert_eq!(status, 200, "{lock}");
        let (status, redemption) = s
            .post(
                &format!("/v1/coupons/{}/redeem", enc(code)),
                json!({"user_id": user, "lock_id": lock["lock_id"]}),
            )
            .await;
        assert_eq!(status, 201, "{redemption}");
        let rid = redemption["id"].as_str().expect("id");
        assert_eq!(
            s.post(&format!("/v1/redemptions/{}/reverse", enc(rid)), json!({}))
                .await
                .0,
            200
        );
        expected += 4;
    }
    let code_set: HashSet<&str> = codes.iter().map(String::as_str).collect();
    let per_coupon = |seen: &[Received]| -> BTreeMap<String, Vec<String>> {
        let mut by_code: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut done: HashSet<String> = HashSet::new();
        for r in seen.iter().filter(|r| r.answered == 200) {
            let event = r.event();
            let code = event["data"]["code"].as_str().unwrap_or("").to_string();
            if code_set.contains(code.as_str()) && done.insert(r.id.clone()) {
                by_code
                    .entry(code)
                    .or_default()
                    .push(event["type"].as_str().unwrap_or("").to_string());
            }
        }
        by_code
    };
    receiver
        .wait_for(
            Duration::from_secs(30),
            "every coupon event acknowledged",
            |seen| per_coupon(seen).values().map(Vec::len).sum::<usize>() >= expected,
        )
        .await;
    let seen = receiver.seen();
    for (code, types) in per_coupon(&seen) {
        assert_eq!(
            types,
            [
                "coupon.assigned",
                "coupon.locked",
                "coupon.redeemed",
                "redemption.reversed"
            ],
            "order of {code}"
        );
    }
    for r in &seen {
        assert_signed(r, &secret);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_with_undelivered_events_then_restart_delivers_them_all() {
    let receiver = Receiver::start(Behaviour::default()).await;
    receiver.down.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("coupon-book.db");
    // Retries keep going for ~12 s, so none is given up on before the crash.
    let schedule = vec!["300"; 40].join(",");
    let env = [
        ("COUPON_BOOK_WEBHOOK_ALLOW_PRIVATE", "1"),
        ("COUPON_BOOK_WEBHOOK_RETRY_SCHEDULE_MS", schedule.as_str()),
        ("COUPON_BOOK_WEBHOOK_LEASE_MS", "1000"),
    ];
    let mut s = Server::start_on(&db, &env).await;
    let (_, secret) = subscribe(&s, &receiver.url(), &["coupon.redeemed"]).await;
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "K9", 200)
        .await;
    let mut redemption_ids = HashSet::new();
    for (i, code) in codes.iter().enumerate() {
        let (status, body) = s.redeem(code, &format!("u{i}")).await;
        assert_eq!(status, 201, "{body}");
        redemption_ids.insert(body["id"].as_str().expect("id").to_string());
    }
    // Some attempts failed (so some events wait for a retry), others were not read yet.
    receiver
        .wait_for(Duration::from_secs(10), "first failed attempts", |seen| {
            !seen.is_empty()
        })
        .await;
    s.kill9();
    assert!(
        receiver.acknowledged().is_empty(),
        "nothing was acknowledged before the crash"
    );

    receiver.down.store(false, Ordering::SeqCst);
    let s = Server::start_on(&db, &env).await;
    receiver
        .wait_for(
            Duration::from_secs(30),
            "every redemption delivered after the restart",
            |seen| {
                let got: HashSet<String> = seen
                    .iter()
                    .filter(|r| r.answered == 200)
                    .filter_map(|r| r.event()["data"]["id"].as_str().map(str::to_string))
                    .collect();
                redemption_ids.iter().all(|id| got.contains(id))
            },
        )
        .await;
    for r in receiver.acknowledged() {
        assert_signed(&r, &secret);
    }
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_redemptions_are_all_delivered() {
    // Through the local DynamoDB emulator (scripts/test.sh's second pass) 300 keep
    // the run short; the embedded store takes the full 10,000.
    let n: usize = if common::on_dynamodb() { 300 } else { 10_000 };
    let receiver = Receiver::start(Behaviour::default()).await;
    let s = Server::start_with_env(FAST_RETRIES).await;
    let (hook, _) = subscribe(&s, &receiver.url(), &["coupon.redeemed"]).await;
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "TENK", n)
        .await;
    let started = Instant::now();
    let codes = Arc::new(codes);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let codes = codes.clone();
            let next = next.clone();
            let client = s.client.clone();
            let base = s.base.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(code) = codes.get(i) else { break };
                    let reply = try_send(
                        client
                            .post(format!("{base}/v1/coupons/{}/redeem", enc(code)))
                            .bearer_auth(ADMIN_KEY)
                            .json(&json!({"user_id": format!("u{i}")})),
                    )
                    .await
                    .expect("redeem");
                    assert_eq!(reply.status, 201, "{}", reply.text);
                    ids.push(reply.json["id"].as_str().expect("id").to_string());
                }
                ids
            })
        })
        .collect();
    let mut redemption_ids = HashSet::new();
    for worker in workers {
        redemption_ids.extend(worker.await.expect("worker"));
    }
    assert_eq!(redemption_ids.len(), n);
    let redeemed_in = started.elapsed();
    receiver
        .wait_for(
            Duration::from_secs(60),
            "10,000 coupon.redeemed events",
            |seen| {
                let got: HashSet<&str> = seen
                    .iter()
                    .filter(|r| r.answered == 200)
                    .map(|r| r.id.as_str())
                    .collect();
                got.len() >= n
            },
        )
        .await;
    let seen = receiver.seen();
    let mut by_redemption: HashMap<String, usize> = HashMap::new();
    for r in &seen {
        let event = r.event();
        assert_eq!(event["type"], "coupon.redeemed");
        *by_redemption
            .entry(event["data"]["id"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    let missing: Vec<&String> = redemption_ids
        .iter()
        .filter(|id| !by_redemption.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} redemptions not delivered",
        missing.len()
    );
    eprintln!(
        "{n} redemptions in {:.1} s, all delivered {:.1} s after the first; {} requests",
        redeemed_in.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        seen.len()
    );
    // Every delivery is logged (a round's attempts are stored right after it).
    let logged_by = Instant::now() + Duration::from_secs(20);
    loop {
        let log = s.list_all(&format!("/v1/webhooks/{hook}/deliveries")).await;
        if log.len() >= n {
            break;
        }
        assert!(Instant::now() < logged_by, "{} attempts logged", log.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn urls_to_internal_networks_are_refused_unless_allowed() {
    let strict = Server::start().await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.7/hook",
        "http://10.1.2.3:9000/x",
        "http://172.16.0.1/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://[fd12::1]/",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "not a url",
    ] {
        let got = strict
            .post(
                "/v1/webhooks",
                json!({"url": url, "event_types": ["coupon.redeemed"]}),
            )
            .await;
        assert_invalid(&got, "url");
    }
    // A public host is accepted (subscribed to an event these tests never cause, so
    // nothing is ever sent to it) and can be removed.
    let (status, hook) = strict
        .post(
            "/v1/webhooks",
            json!({"url": "https://hooks.example.com/coupons", "event_types": ["book.deleted"]}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let id = hook["id"].as_str().expect("id");
    assert_eq!(strict.delete(&format!("/v1/webhooks/{id}")).await.0, 204);
    let other = [
        (
            json!({"url": "https://hooks.example.com/x", "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "event_types": ["coupon.nope"]}),
            "event_types[0]",
        ),
        (json!({"event_types": ["coupon.redeemed"]}), "url"),
        (json!({"url": 5, "event_types": ["coupon.redeemed"]}), "url"),
    ];
    for (body, field) in other {
        assert_invalid(&strict.post("/v1/webhooks", body).await, field);
    }

    // Allowed (tests, trusted networks): loopback is fine, other schemes still not.
    let open = Server::start_with_env(&[("COUPON_BOOK_WEBHOOK_ALLOW_PRIVATE", "1")]).await;
    let (status, body) = open
        .post(
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ["book.deleted"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_invalid(
        &open
            .post(
                "/v1/webhooks",
                json!({"url": "file:///etc/passwd", "event_types": ["book.deleted"]}),
            )
            .await,
        "url",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn manage_test_and_rotate() {
    let receiver = Receiver::start(Behaviour::default()).await;
    let s = Server::start_with_env(FAST_RETRIES).await;
    let (id, secret) = subscribe(&s, &receiver.url(), &["coupon.voided"]).await;

    // Listed and shown without the secret; only admins may manage webhooks.
    let (status, list) = s.get("/v1/webhooks").await;
    assert_eq!(status, 200);
    let listed = data(&list);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["status"], "enabled");
    assert_eq!(listed[0]["event_types"], json!(["coupon.voided"]));
    assert!(listed[0].get("secret").is_none(), "{list}");
    let (status, one) = s.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, 200, "{one}");
    assert!(one.get("secret").is_none());
    let reader = s.create_key(&["events:read", "books:write"]).await;
    assert_error(
        &s.call_as(&reader, "GET", "/v1/webhooks", None).await,
        403,
        "forbidden",
    );
    assert_error(
        &s.call_as("", "GET", "/v1/webhooks", None).await,
        401,
        "unauthenticated",
    );

    // A test send answers with its attempt and reaches the receiver, signed.
    let (status, attempt) = s
        .call_with_headers(
            ADMIN_KEY,
            "POST",
            &format!("/v1/webhooks/{id}/test"),
            &[("Idempotency-Key", "test-1")],
            None,
        )
        .await;
    assert_eq!(status, 200, "{attempt}");
    assert_eq!(attempt["status"], "succeeded", "{attempt}");
    assert_eq!(attempt["event_type"], "webhook.test");
    assert_eq!(attempt["response_status"], 200);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].event()["type"], "webhook.test");
    assert_eq!(seen[0].id, attempt["event_id"].as_str().expect("event id"));
    assert_signed(&seen[0], &secret);
    // The same Idempotency-Key does not send again.
    let (status, again) = s
        .call_with_headers(
            ADMIN_KEY,
            "POST",
            &format!("/v1/webhooks/{id}/test"),
            &[("Idempotency-Key", "test-1")],
            None,
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, attempt);
    assert_eq!(receiver.seen().len(), 1);

    // Rotation: a new secret; deliveries carry signatures with both for a while.
    let (status, rotated) = s
        .post(&format!("/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret").to_string();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let (_, codes) = s.book_with_codes(json!({}), "ROT", 1).await;
    assert_eq!(
        s.post(&format!("/v1/coupons/{}/void", enc(&codes[0])), json!({}))
            .await
            .0,
        200
    );
    receiver
        .wait_for(Duration::from_secs(10), "coupon.voided", |seen| {
            seen.iter().any(|r| r.event()["type"] == "coupon.voided")
        })
        .await;
    let voided = receiver
        .seen()
        .into_iter()
        .find(|r| r.event()["type"] == "coupon.voided")
        .expect("voided");
    assert_eq!(
        voided.signature.split(' ').count(),
        2,
        "{}",
        voided.signature
    );
    assert_signed(&voided, &new_secret);
    assert_signed(&voided, &secret);

    // Unknown ids, then deletion.
    for (method, path) in [
        ("GET", "/v1/webhooks/wh_missing"),
        ("DELETE", "/v1/webhooks/wh_missing"),
        ("GET", "/v1/webhooks/wh_missing/deliveries"),
        ("POST", "/v1/webhooks/wh_missing/test"),
        ("POST", "/v1/webhooks/wh_missing/rotate-secret"),
    ] {
        let body = (method == "POST").then(|| json!({}));
        assert_error(&s.call(method, path, body).await, 404, "webhook_not_found");
    }
    assert_eq!(s.delete(&format!("/v1/webhooks/{id}")).await.0, 204);
    assert_error(
        &s.get(&format!("/v1/webhooks/{id}/deliveries")).await,
        404,
        "webhook_not_found",
    );
    let (_, list) = s.get("/v1/webhooks").await;
    assert!(data(&list).is_empty(), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_failing_too_long_is_disabled_and_loses_nothing() {
    let receiver = Receiver::start(Behaviour::default()).await;
    receiver.down.store(true, Ordering::SeqCst);
    let mut env = FAST_RETRIES.to_vec();
    env.push(("COUPON_BOOK_WEBHOOK_DISABLE_AFTER_MS", "400"));
    let s = Server::start_with_env(&env).await;
    let (id, _) = subscribe(&s, &receiver.url(), &["coupon.redeemed"]).await;
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "DIS", 1)
        .await;
    assert_eq!(s.redeem(&codes[0], "u").await.0, 201);
    let started = Instant::now();
    loop {
        let (_, hook) = s.get(&format!("/v1/webhooks/{id}")).await;
        if hook["status"] == "disabled" {
            assert!(!hook["failing_since"].is_null(), "{hook}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not disabled: {hook}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Disabled: no more attempts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = receiver.seen().len();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.seen().len(), before, "attempts after disabling");
    let log = s.list_all(&format!("/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(log.len(), before, "every attempt is logged");
    assert!(log.iter().all(|a| a["status"] != "succeeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delivery_can_be_turned_off() {
    let receiver = Receiver::start(Behaviour::default()).await;
    let s = Server::start_with_env(&[
        ("COUPON_BOOK_WEBHOOK_ALLOW_PRIVATE", "1"),
        ("COUPON_BOOK_WEBHOOK_DELIVERY", "off"),
    ])
    .await;
    let (id, _) = subscribe(&s, &receiver.url(), &["*"]).await;
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "OFF", 1)
        .await;
    assert_eq!(s.redeem(&codes[0], "u").await.0, 201);
    let (status, attempt) = s.post(&format!("/v1/webhooks/{id}/test"), json!({})).await;
    assert_eq!(status, 200, "{attempt}");
    assert_eq!(attempt["status"], "failed", "{attempt}");
    assert!(
        attempt["error"].as_str().is_some_and(|e| e.contains("off")),
        "{attempt}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(receiver.seen().is_empty(), "{:?}", receiver.seen());
}
