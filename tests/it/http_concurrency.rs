//! Races over real HTTP: exactly-once redemption, distinct assign-next, per-code,
//! per-user and per-book limits, and lock exclusion under concurrency.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::common::*;
use futures::future::join_all;
use serde_json::{Value, json};

/// Runs `n` requests at once; `make(i)` gives (method, path, body) of request i.
/// Returns (status, body) per request, in order.
async fn burst<F>(s: &Arc<Server>, n: usize, make: F) -> Vec<(u16, Value)>
where
    F: Fn(usize) -> (&'static str, String, Value),
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks = (0..n).map(|i| {
        let s = Arc::clone(s);
        let barrier = Arc::clone(&barrier);
        let (method, path, body) = make(i);
        tokio::spawn(async move {
            barrier.wait().await;
            s.call(method, &path, Some(body)).await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

/// Splits results into successes (with `ok` status) and error codes, checking nothing else
/// came back.
fn tally(
    results: &[(u16, Value)],
    ok: u16,
    allowed: &[&str],
) -> (Vec<Value>, HashMap<String, usize>) {
    let mut wins = Vec::new();
    let mut errors: HashMap<String, usize> = HashMap::new();
    for (status, body) in results {
        if *status == ok {
            wins.push(body.clone());
        } else {
            let code = error_code(body).to_string();
            assert!(
                *status == 409 && allowed.contains(&code.as_str()),
                "unexpected answer {status} {body}"
            );
            *errors.entry(code).or_default() += 1;
        }
    }
    (wins, errors)
}

fn redeem_req(code: &str, user: String) -> (&'static str, String, Value) {
    (
        "POST",
        format!("/v1/coupons/{code}/redeem"),
        json!({ "user_id": user }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_use_code_redeems_exactly_once() {
    let s = Arc::new(Server::start().await);
    let (book, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "ONCE", 20)
        .await;
    for code in &codes {
        let results = burst(&s, 64, |i| redeem_req(code, format!("user-{i}"))).await;
        let (wins, errors) = tally(&results, 201, &["coupon_already_redeemed"]);
        assert_eq!(wins.len(), 1, "code {code}: {errors:?}");
        assert_eq!(
            errors.get("coupon_already_redeemed"),
            Some(&63),
            "{errors:?}"
        );
        assert_eq!(wins[0]["code"], code.as_str());
        let coupon = s.coupon(code).await;
        assert_eq!(coupon["redemption_count"], 1, "{coupon}");
        assert_eq!(coupon["status"], "redeemed");
        let listed = s.list_all(&format!("/v1/redemptions?code={code}")).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["id"], wins[0]["id"]);
        assert_eq!(listed[0]["user_id"], wins[0]["user_id"]);
    }
    assert_eq!(s.book(&book).await["counts"]["redeemed"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn assign_next_never_hands_out_a_code_twice() {
    let s = Arc::new(Server::start().await);
    let (book, codes) = s.book_with_codes(json!({}), "NEXTC", 40).await;
    let path = format!("/v1/books/{book}/assign");
    let results = burst(&s, 64, |i| {
        (
            "POST",
            path.clone(),
            json!({"user_id": format!("user-{i}")}),
        )
    })
    .await;
    let (wins, errors) = tally(&results, 200, &["book_exhausted"]);
    assert_eq!(wins.len(), 40, "{errors:?}");
    assert_eq!(errors.get("book_exhausted"), Some(&24), "{errors:?}");
    let handed: HashSet<&str> = wins.iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(handed.len(), 40, "a code was handed out twice");
    let all: HashSet<&str> = codes.iter().map(String::as_str).collect();
    assert_eq!(handed, all);
    let owners: HashSet<&str> = wins
        .iter()
        .map(|c| c["assigned_to"].as_str().unwrap())
        .collect();
    assert_eq!(owners.len(), 40, "a user got two codes");
    // The store agrees with the answers.
    for coupon in &wins {
        let stored = s.coupon(coupon["code"].as_str().unwrap()).await;
        assert_eq!(stored["assigned_to"], coupon["assigned_to"]);
    }
    let counts = &s.book(&book).await["counts"];
    assert_eq!(
        (counts["assigned"].as_u64(), counts["available"].as_u64()),
        (Some(40), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_use_code_respects_code_and_user_limits() {
    let s = Arc::new(Server::start().await);
    let (_, codes) = s
        .book_with_codes(
            json!({
                "requires_assignment": false,
                "max_redemptions_per_coupon": 10,
                "max_redemptions_per_user": 2
            }),
            "MULTIC",
            1,
        )
        .await;
    let code = &codes[0];
    let results = burst(&s, 64, |i| redeem_req(code, format!("user-{}", i % 8))).await;
    let (wins, errors) = tally(
        &results,
        201,
        &["coupon_already_redeemed", "user_redemption_limit_reached"],
    );
    assert_eq!(wins.len(), 10, "{errors:?}");
    let mut per_user: HashMap<&str, usize> = HashMap::new();
    for r in &wins {
        *per_user.entry(r["user_id"].as_str().unwrap()).or_default() += 1;
    }
    assert!(per_user.values().all(|n| *n <= 2), "{per_user:?}");
    let coupon = s.coupon(code).await;
    assert_eq!(coupon["redemption_count"], 10, "{coupon}");
    assert_eq!(coupon["status"], "redeemed");
    let listed = s.list_all(&format!("/v1/redemptions?code={code}")).await;
    assert_eq!(listed.len(), 10);
    for user in 0..8 {
        let mine = s
            .list_all(&format!("/v1/users/user-{user}/redemptions"))
            .await;
        assert!(mine.len() <= 2, "user-{user}: {mine:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn book_budget_holds_under_concurrency() {
    let s = Arc::new(Server::start().await);
    let (book, codes) = s
        .book_with_codes(
            json!({"requires_assignment": false, "max_total_redemptions": 5}),
            "BUDC",
            20,
        )
        .await;
    let results = burst(&s, 64, |i| redeem_req(&codes[i % 20], format!("user-{i}"))).await;
    let (wins, errors) = tally(
        &results,
        201,
        &["book_budget_exhausted", "coupon_already_redeemed"],
    );
    assert_eq!(wins.len(), 5, "{errors:?}");
    assert!(errors.contains_key("book_budget_exhausted"), "{errors:?}");
    let won: HashSet<&str> = wins.iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(won.len(), 5, "one code redeemed twice: {wins:?}");
    assert_eq!(s.book(&book).await["counts"]["redeemed"], 5);
    let listed = s.list_all(&format!("/v1/redemptions?book_id={book}")).await;
    assert_eq!(listed.len(), 5);
    for code in &codes {
        let count = s.coupon(code).await["redemption_count"].as_u64().unwrap();
        assert_eq!(count, u64::from(won.contains(code.as_str())), "{code}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_lock_wins_and_can_redeem() {
    let s = Arc::new(Server::start().await);
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "LOCKC", 1)
        .await;
    let code = &codes[0];
    let results = burst(&s, 32, |i| {
        (
            "POST",
            format!("/v1/coupons/{code}/lock"),
            json!({"user_id": format!("user-{i}")}),
        )
    })
    .await;
    let (wins, errors) = tally(&results, 200, &["coupon_locked"]);
    assert_eq!(wins.len(), 1, "{errors:?}");
    assert_eq!(errors.get("coupon_locked"), Some(&31));
    let lock = &wins[0];
    let holder = lock["user_id"].as_str().unwrap();
    assert_eq!(s.coupon(code).await["status"], "locked");

    // Other users still cannot take it; the holder redeems with the lock.
    let other = if holder == "user-0" {
        "user-1"
    } else {
        "user-0"
    };
    assert_error(&s.redeem(code, other).await, 409, "coupon_locked");
    let (status, r) = s
        .post(
            &format!("/v1/coupons/{code}/redeem"),
            json!({"user_id": holder, "lock_id": lock["lock_id"]}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["user_id"], holder);
    let coupon = s.coupon(code).await;
    assert_eq!(
        (
            coupon["status"].as_str(),
            coupon["redemption_count"].as_u64()
        ),
        (Some("redeemed"), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lock_and_redeem_never_overrides_a_live_lock() {
    let s = Arc::new(Server::start().await);
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "MIX", 10)
        .await;
    for code in &codes {
        // Half the tasks lock, half redeem directly.
        let results = burst(&s, 32, |i| {
            let action = if i % 2 == 0 { "lock" } else { "redeem" };
            (
                "POST",
                format!("/v1/coupons/{code}/{action}"),
                json!({"user_id": format!("user-{i}")}),
            )
        })
        .await;
        let mut locks = 0;
        let mut redeemed = 0;
        for (status, body) in &results {
            match status {
                200 => locks += 1,
                201 => redeemed += 1,
                409 => assert!(
                    matches!(
                        error_code(body),
                        "coupon_locked" | "coupon_already_redeemed"
                    ),
                    "{body}"
                ),
                _ => panic!("unexpected {status} {body}"),
            }
        }
        // Either one lock (nobody redeemed past it) or one direct redemption.
        assert_eq!(
            locks + redeemed,
            1,
            "{code}: locks {locks}, redeemed {redeemed}"
        );
        let coupon = s.coupon(code).await;
        assert_eq!(coupon["redemption_count"], redeemed, "{coupon}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replays_of_one_idempotency_key_redeem_once() {
    let s = Arc::new(Server::start().await);
    let (_, codes) = s
        .book_with_codes(
            json!({"requires_assignment": false, "max_redemptions_per_coupon": null}),
            "IDEMC",
            1,
        )
        .await;
    let code = codes[0].clone();
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks = (0..16).map(|_| {
        let s = Arc::clone(&s);
        let barrier = Arc::clone(&barrier);
        let code = code.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            s.call_with_headers(
                ADMIN_KEY,
                "POST",
                &format!("/v1/coupons/{code}/redeem"),
                &[("Idempotency-Key", "checkout-42")],
                Some(json!({"user_id": "u1"})),
            )
            .await
        })
    });
    let results: Vec<(u16, Value)> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let mut ids = HashSet::new();
    for (status, body) in &results {
        if *status == 201 {
            ids.insert(body["id"].as_str().expect("id").to_string());
        } else {
            assert!(
                (400..500).contains(status) && body["error"]["code"].is_string(),
                "unexpected answer {status} {body}"
            );
        }
    }
    assert_eq!(
        ids.len(),
        1,
        "answers carry different redemptions: {results:?}"
    );
    assert_eq!(s.coupon(&code).await["redemption_count"], 1);
    assert_eq!(
        s.list_all(&format!("/v1/redemptions?code={code}"))
            .await
            .len(),
        1
    );
    // A later replay gives the same answer.
    let (status, body) = s
        .call_with_headers(
            ADMIN_KEY,
            "POST",
            &format!("/v1/coupons/{code}/redeem"),
            &[("Idempotency-Key", "checkout-42")],
            Some(json!({"user_id": "u1"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(ids.contains(body["id"].as_str().unwrap()));
}
