//! Durability: an acknowledged (201) redemption survives SIGKILL and restart, and
//! nothing is counted twice.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;

const TASKS: usize = 16;

#[derive(Default)]
struct Outcome {
    /// Answered 201.
    acked: Vec<String>,
    /// Sent while the server died: may or may not have been committed.
    unknown: Vec<String>,
}

/// Redeems codes from `queue` with TASKS concurrent clients and SIGKILLs the server once
/// `kill_after` more redemptions were acknowledged.
async fn redeem_until_killed(
    server: &mut Server,
    queue: Arc<Mutex<VecDeque<String>>>,
    kill_after: usize,
) -> Outcome {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let queue = Arc::clone(&queue);
        let outcome = Arc::clone(&outcome);
        let acked = Arc::clone(&acked);
        let client = server.client.clone();
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(code) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                let req = client
                    .post(format!("{base}/v1/coupons/{code}/redeem"))
                    .bearer_auth(ADMIN_KEY)
                    .json(&json!({"user_id": format!("user-{t}")}));
                match try_send(req).await {
                    Ok(reply) if reply.status == 201 => {
                        assert_eq!(reply.json["code"], code.as_str(), "{}", reply.text);
                        outcome.lock().unwrap().acked.push(code);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(reply) => panic!("redeem {code}: {} {}", reply.status, reply.text),
                    Err(_) => {
                        outcome.lock().unwrap().unknown.push(code);
                        return;
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::SeqCst) < kill_after {
        assert!(Instant::now() < deadline, "redemptions too slow");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill9();
    for task in tasks {
        task.await.expect("redeem task");
    }
    Arc::try_unwrap(outcome)
        .ok()
        .expect("tasks done")
        .into_inner()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_redemptions_survive_kill9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("crash.db");
    let mut server = Server::start_on(&db, &[]).await;
    let (book, codes) = server
        .book_with_codes(json!({"requires_assignment": false}), "CRASH", 200)
        .await;
    let queue = Arc::new(Mutex::new(codes.iter().cloned().collect::<VecDeque<_>>()));

    // Two crashes: the second one hits a store that itself recovered from a crash.
    let mut acked: HashSet<String> = HashSet::new();
    let mut unknown: HashSet<String> = HashSet::new();
    for kill_after in [60, 40] {
        let outcome = redeem_until_killed(&mut server, Arc::clone(&queue), kill_after).await;
        assert!(outcome.acked.len() >= kill_after);
        acked.extend(outcome.acked);
        unknown.extend(outcome.unknown);
        assert!(
            !queue.lock().unwrap().is_empty(),
            "the server finished before it was killed: raise the code count"
        );
        server = Server::start_on(&db, &[]).await;
    }
    let untouched: HashSet<String> = queue.lock().unwrap().iter().cloned().collect();
    assert_eq!(acked.len() + unknown.len() + untouched.len(), codes.len());

    // Every acknowledged redemption is there, once; unsent codes are untouched.
    for code in &codes {
        let coupon = server.coupon(code).await;
        let count = coupon["redemption_count"].as_u64().expect("count");
        if acked.contains(code) {
            assert_eq!(
                (coupon["status"].as_str(), count),
                (Some("redeemed"), 1),
                "acked {coupon}"
            );
        } else if untouched.contains(code) {
            assert_eq!(
                (coupon["status"].as_str(), count),
                (Some("available"), 0),
                "unsent {coupon}"
            );
        } else {
            assert!(
                (coupon["status"] == "redeemed" && count == 1)
                    || (coupon["status"] == "available" && count == 0),
                "in flight at the crash: {coupon}"
            );
        }
    }
    let listed = server
        .list_all(&format!("/v1/redemptions?book_id={book}"))
        .await;
    let listed_codes: Vec<String> = listed
        .iter()
        .map(|r| r["code"].as_str().expect("code").to_string())
        .collect();
    let listed_set: HashSet<String> = listed_codes.iter().cloned().collect();
    assert_eq!(listed_set.len(), listed_codes.len(), "a code listed twice");
    let lost: Vec<&String> = acked.difference(&listed_set).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let extra: Vec<&String> = listed_set
        .iter()
        .filter(|c| !acked.contains(*c) && !unknown.contains(*c))
        .collect();
    assert!(extra.is_empty(), "redeemed but never sent: {extra:?}");
    assert!(
        listed.iter().all(|r| r["status"] == "redeemed"),
        "{listed:?}"
    );
    let book_now = server.book(&book).await;
    assert_eq!(
        book_now["counts"]["redeemed"].as_u64(),
        Some(listed.len() as u64)
    );
    assert_eq!(book_now["counts"]["total"], 200);

    // The restarted server keeps working and keeps refusing double redemptions.
    let done = acked.iter().next().expect("some acked code");
    assert_error(
        &server.redeem(done, "again").await,
        409,
        "coupon_already_redeemed",
    );
    if let Some(fresh) = untouched.iter().next() {
        let (status, body) = server.redeem(fresh, "after-restart").await;
        assert_eq!(status, 201, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_records_survive_kill9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("crash.db");
    let mut server = Server::start_on(&db, &[]).await;
    let (_, codes) = server
        .book_with_codes(
            json!({"requires_assignment": false, "max_redemptions_per_coupon": 5}),
            "IDEMK",
            1,
        )
        .await;
    let path = format!("/v1/coupons/{}/redeem", codes[0]);
    let body = json!({"user_id": "u1", "metadata": {"order": "o-9"}});
    let redeem = |server: &Server| {
        let server_body = body.clone();
        let path = path.clone();
        let client = server.client.clone();
        let url = server.url(&path);
        async move {
            let req = client
                .post(url)
                .bearer_auth(ADMIN_KEY)
                .header("Idempotency-Key", "order-o-9")
                .json(&server_body);
            let reply = try_send(req).await.expect("send");
            (reply.status, reply.json)
        }
    };
    let first = redeem(&server).await;
    assert_eq!(first.0, 201, "{}", first.1);
    server.kill9();
    let server = Server::start_on(&db, &[]).await;
    let replay = redeem(&server).await;
    assert_eq!(replay, first, "the replay after a crash differs");
    let coupon = server.coupon(&codes[0]).await;
    assert_eq!(coupon["redemption_count"], 1, "{coupon}");
}
