//! Codes, coupons, locks, redemptions, users, events, idempotency, the seed's alias
//! routes and the error precedence of API.md, over real HTTP.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

/// A book where anybody may lock and redeem (no assignment needed).
async fn open_book(s: &Server, extra: Value, prefix: &str, n: usize) -> (String, Vec<String>) {
    let mut settings = json!({"requires_assignment": false});
    if let (Some(obj), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    s.book_with_codes(settings, prefix, n).await
}

async fn coupon_post(s: &Server, code: &str, action: &str, body: Value) -> (u16, Value) {
    s.post(&format!("/v1/coupons/{}/{action}", enc(code)), body)
        .await
}

async fn lock_ttl(s: &Server, code: &str, user: &str, ttl: u64) -> (u16, Value) {
    coupon_post(
        s,
        code,
        "lock",
        json!({"user_id": user, "ttl_seconds": ttl}),
    )
    .await
}

async fn unlock(s: &Server, code: &str, lock_id: &Value) -> (u16, Value) {
    coupon_post(s, code, "unlock", json!({ "lock_id": lock_id })).await
}

async fn redeem_with_lock(s: &Server, code: &str, user: &str, lock_id: &Value) -> (u16, Value) {
    coupon_post(
        s,
        code,
        "redeem",
        json!({"user_id": user, "lock_id": lock_id}),
    )
    .await
}

async fn validate(s: &Server, code: &str, user: &str) -> Value {
    let (status, body) = coupon_post(s, code, "validate", json!({ "user_id": user })).await;
    assert_eq!(status, 200, "validate {code} for {user}: {body}");
    body
}

async fn void(s: &Server, code: &str) -> Value {
    let (status, body) = coupon_post(s, code, "void", json!({})).await;
    assert_eq!(status, 200, "void {code}: {body}");
    assert_eq!(body["status"], "voided", "{body}");
    body
}

async fn reverse(s: &Server, redemption_id: &str) -> (u16, Value) {
    s.post(
        &format!("/v1/redemptions/{}/reverse", enc(redemption_id)),
        json!({}),
    )
    .await
}

/// Redeems and asserts 201; returns the Redemption.
async fn redeem_ok(s: &Server, code: &str, user: &str) -> Value {
    let (status, body) = s.redeem(code, user).await;
    assert_eq!(status, 201, "redeem {code} for {user}: {body}");
    body
}

/// Assigns and asserts 200.
async fn assign_ok(s: &Server, code: &str, user: &str) -> Value {
    let (status, body) = s.assign(code, user).await;
    assert_eq!(status, 200, "assign {code} to {user}: {body}");
    body
}

/// Locks and asserts 200; returns the Lock.
async fn lock_ok(s: &Server, code: &str, user: &str) -> Value {
    let (status, body) = s.lock(code, user).await;
    assert_eq!(status, 200, "lock {code} for {user}: {body}");
    body
}

async fn set_book(s: &Server, book: &str, patch: Value) {
    let (status, body) = s.patch(&format!("/v1/books/{book}"), patch).await;
    assert_eq!(status, 200, "patch book: {body}");
}

fn codes_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|c| c["code"].as_str().expect("code").to_string())
        .collect()
}

fn time_from_now(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn all_events(s: &Server) -> Vec<Value> {
    s.list_all("/v1/events").await
}

// ---------------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_codes_reports_every_line_and_folds_case() {
    let s = Server::start().await;
    let book = s.active_book(json!({})).await;
    let other = s.active_book(json!({})).await;
    let c = unique_codes("ADD", 3);
    s.add_codes(&other, &[c[2].clone()]).await;

    let long = "A".repeat(65);
    let list = json!([
        c[0].to_lowercase(),
        c[0],
        "ab",
        c[1],
        "bad code",
        c[2].to_lowercase(),
        "ÄBC-1",
        long,
    ]);
    let (status, job) = s
        .post(&format!("/v1/books/{book}/codes"), json!({ "codes": list }))
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["book_id"], book.as_str());
    assert_eq!(job["status"], "succeeded", "{job}");
    let count = |k: &str| job[k].as_u64().unwrap_or_else(|| panic!("{k}: {job}"));
    assert_eq!(count("inserted"), 2, "{job}");
    assert_eq!(count("duplicates_in_file"), 1, "{job}");
    assert_eq!(count("already_exist"), 1, "{job}");
    assert_eq!(count("invalid"), 4, "{job}");
    let errors = job["errors"].as_array().expect("errors");
    for e in errors {
        let line = e["line"].as_u64().expect("line");
        assert!((1..=8).contains(&line), "{e}");
        assert!(e["reason"].is_string(), "{e}");
    }
    let reported: Vec<&str> = errors.iter().filter_map(|e| e["code"].as_str()).collect();
    for bad in ["ab", "bad code", "ÄBC-1", long.as_str()] {
        assert!(
            reported.contains(&bad),
            "invalid {bad:?} not reported: {job}"
        );
    }

    // The job reads back.
    let job_id = job["id"].as_str().expect("job id");
    let (status, stored) = s.get(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(status, 200, "{stored}");
    for k in ["inserted", "duplicates_in_file", "already_exist", "invalid"] {
        assert_eq!(stored[k], job[k], "{k}");
    }

    // Stored upper case, readable in any case.
    let coupon = s.coupon(&c[0].to_lowercase()).await;
    assert_eq!(coupon["code"], c[0].as_str());
    let listed = s.list_all(&format!("/v1/books/{book}/codes")).await;
    assert_eq!(codes_of(&listed), vec![c[0].clone(), c[1].clone()]);
    assert_eq!(s.book(&book).await["counts"]["total"], 2);
    // The code that exists in the other book stays there.
    assert_eq!(s.coupon(&c[2]).await["book_id"], other.as_str());

    // Adding the same list again inserts nothing new.
    let (status, job) = s
        .post(&format!("/v1/books/{book}/codes"), json!({ "codes": list }))
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["inserted"], 0, "{job}");
    assert_eq!(job["already_exist"], 3, "{job}");
    assert_eq!(job["duplicates_in_file"], 1, "{job}");
    assert_eq!(job["invalid"], 4, "{job}");
    assert_eq!(s.book(&book).await["counts"]["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_can_be_added_to_draft_and_paused_books() {
    let s = Server::start().await;
    let (status, book) = s.post("/v1/books", json!({"name": "draft"})).await;
    assert_eq!(status, 201, "{book}");
    let id = book["id"].as_str().unwrap().to_string();
    s.add_codes(&id, &unique_codes("DRAFT", 2)).await;
    set_book(&s, &id, json!({"status": "active"})).await;
    set_book(&s, &id, json!({"status": "paused"})).await;
    s.add_codes(&id, &unique_codes("PAUSED", 3)).await;
    assert_eq!(s.book(&id).await["counts"]["total"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_codes_filters_by_status() {
    let s = Server::start().await;
    let (book, c) = open_book(&s, json!({}), "LIST", 6).await;
    assign_ok(&s, &c[0], "u1").await;
    lock_ok(&s, &c[1], "u2").await;
    redeem_ok(&s, &c[2], "u3").await;
    void(&s, &c[3]).await;

    let path = format!("/v1/books/{book}/codes");
    assert_eq!(codes_of(&s.list_all(&path).await), c);
    let expect = [
        ("available", vec![c[4].clone(), c[5].clone()]),
        ("assigned", vec![c[0].clone()]),
        ("locked", vec![c[1].clone()]),
        ("redeemed", vec![c[2].clone()]),
        ("voided", vec![c[3].clone()]),
    ];
    for (status, codes) in expect {
        let listed = s.list_all(&format!("{path}?status={status}")).await;
        assert_eq!(codes_of(&listed), codes, "status={status}");
        assert!(listed.iter().all(|x| x["status"] == status), "{listed:?}");
    }
    assert_invalid(&s.get(&format!("{path}?status=bogus")).await, "status");

    // Pages of 4 then 2.
    let (status, page) = s.get(&format!("{path}?limit=4")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(codes_of(data(&page)), c[..4].to_vec());
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let (_, page) = s
        .get(&format!("{path}?limit=4&cursor={}", enc(cursor)))
        .await;
    assert_eq!(codes_of(data(&page)), c[4..].to_vec());
    assert!(page["next_cursor"].is_null(), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_coupon_in_any_case() {
    let s = Server::start().await;
    let (book, c) = s.book_with_codes(json!({}), "GETC", 1).await;
    let coupon = s.coupon(&c[0]).await;
    assert_eq!(coupon["code"], c[0].as_str());
    assert_eq!(coupon["book_id"], book.as_str());
    assert_eq!(coupon["status"], "available");
    assert!(coupon["assigned_to"].is_null(), "{coupon}");
    assert_eq!(coupon["redemption_count"], 0);
    assert_eq!(coupon["max_redemptions"], 1);
    assert!(coupon["locked_until"].is_null(), "{coupon}");
    ts(&coupon["created_at"]);

    assert_eq!(s.coupon(&c[0].to_lowercase()).await, coupon);
    let mixed: String = c[0]
        .chars()
        .enumerate()
        .map(|(i, ch)| {
            if i % 2 == 0 {
                ch.to_ascii_lowercase()
            } else {
                ch
            }
        })
        .collect();
    assert_eq!(s.coupon(&mixed).await, coupon);
    assert_error(
        &s.get("/v1/coupons/NO-SUCH-CODE").await,
        404,
        "coupon_not_found",
    );
}

// ---------------------------------------------------------------------------------
// Assignment
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn assign_is_idempotent_for_the_same_user() {
    let s = Server::start().await;
    let (_, c) = s.book_with_codes(json!({}), "ASG", 2).await;
    let first = assign_ok(&s, &c[0].to_lowercase(), "u1").await;
    assert_eq!(first["code"], c[0].as_str());
    assert_eq!(first["status"], "assigned");
    assert_eq!(first["assigned_to"], "u1");
    let again = assign_ok(&s, &c[0], "u1").await;
    assert_eq!(again["assigned_to"], "u1");
    assert_eq!(again["status"], "assigned");

    assert_error(&s.assign(&c[0], "u2").await, 409, "coupon_already_assigned");
    assert_eq!(s.coupon(&c[0]).await["assigned_to"], "u1");
    assert_error(
        &s.assign("NO-SUCH-CODE", "u1").await,
        404,
        "coupon_not_found",
    );
    assert_invalid(
        &coupon_post(&s, &c[1], "assign", json!({})).await,
        "user_id",
    );
    assert_invalid(
        &coupon_post(&s, &c[1], "assign", json!({"user_id": ""})).await,
        "user_id",
    );
    assert_invalid(
        &coupon_post(&s, &c[1], "assign", json!({"user_id": 7})).await,
        "user_id",
    );
    assert_eq!(s.coupon(&c[1]).await["status"], "available");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn assign_next_hands_out_distinct_codes_until_exhausted() {
    let s = Server::start().await;
    let (book, c) = s
        .book_with_codes(json!({"max_coupons_per_user": 2}), "NEXT", 3)
        .await;
    let next = |user: &'static str| {
        let s = &s;
        let book = book.clone();
        async move {
            s.post(
                &format!("/v1/books/{book}/assign"),
                json!({ "user_id": user }),
            )
            .await
        }
    };
    let mut handed = HashSet::new();
    for _ in 0..2 {
        let (status, coupon) = next("u1").await;
        assert_eq!(status, 200, "{coupon}");
        assert_eq!(coupon["assigned_to"], "u1");
        assert_eq!(coupon["status"], "assigned");
        assert_eq!(coupon["book_id"], book.as_str());
        assert!(handed.insert(coupon["code"].as_str().unwrap().to_string()));
    }
    assert_error(&next("u1").await, 409, "user_coupon_limit_reached");
    let (status, coupon) = next("u2").await;
    assert_eq!(status, 200, "{coupon}");
    assert!(handed.insert(coupon["code"].as_str().unwrap().to_string()));
    assert_eq!(handed, c.iter().cloned().collect::<HashSet<_>>());
    assert_error(&next("u3").await, 409, "book_exhausted");
    let counts = &s.book(&book).await["counts"];
    assert_eq!(
        (counts["assigned"].as_u64(), counts["available"].as_u64()),
        (Some(3), Some(0))
    );

    assert_invalid(
        &s.post(&format!("/v1/books/{book}/assign"), json!({})).await,
        "user_id",
    );
    // A draft book hands out nothing.
    let (status, draft) = s.post("/v1/books", json!({"name": "d"})).await;
    assert_eq!(status, 201);
    let draft = draft["id"].as_str().unwrap();
    s.add_codes(draft, &unique_codes("NEXTD", 1)).await;
    assert_error(
        &s.post(
            &format!("/v1/books/{draft}/assign"),
            json!({"user_id": "u1"}),
        )
        .await,
        409,
        "book_not_active",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn direct_assign_respects_the_per_user_coupon_limit() {
    let s = Server::start().await;
    let (book, c) = s
        .book_with_codes(json!({"max_coupons_per_user": 1}), "ASGL", 3)
        .await;
    assign_ok(&s, &c[0], "u1").await;
    assert_error(
        &s.assign(&c[1], "u1").await,
        409,
        "user_coupon_limit_reached",
    );
    // The code the user already holds is still fine to ask for again.
    assign_ok(&s, &c[0], "u1").await;
    assert_error(
        &s.post(
            &format!("/v1/books/{book}/assign"),
            json!({"user_id": "u1"}),
        )
        .await,
        409,
        "user_coupon_limit_reached",
    );
    assign_ok(&s, &c[1], "u2").await;
    assert_eq!(s.coupon(&c[2]).await["status"], "available");
    assert_eq!(s.book(&book).await["counts"]["assigned"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unassign_frees_the_code_until_redeemed() {
    let s = Server::start().await;
    let (_, c) = s.book_with_codes(json!({}), "UNA", 1).await;
    assign_ok(&s, &c[0], "u1").await;
    let path = format!("/v1/coupons/{}/assignment", c[0]);
    let (status, coupon) = s.delete(&path).await;
    assert_eq!(status, 200, "{coupon}");
    assert_eq!(coupon["status"], "available");
    assert!(coupon["assigned_to"].is_null(), "{coupon}");
    assert_eq!(s.coupon(&c[0]).await["status"], "available");

    assign_ok(&s, &c[0], "u2").await;
    redeem_ok(&s, &c[0], "u2").await;
    assert_error(&s.delete(&path).await, 409, "coupon_already_redeemed");
    assert_eq!(s.coupon(&c[0]).await["assigned_to"], "u2");
    assert_error(
        &s.delete("/v1/coupons/NO-SUCH-CODE/assignment").await,
        404,
        "coupon_not_found",
    );
}

// ---------------------------------------------------------------------------------
// Validate
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validate_reports_and_changes_nothing() {
    let s = Server::start().await;
    let (_, c) = s.book_with_codes(json!({}), "VAL", 3).await;
    assign_ok(&s, &c[0], "u1").await;
    void(&s, &c[2]).await;
    let events_before = all_events(&s).await.len();
    let coupon_before = s.coupon(&c[0]).await;

    let v = validate(&s, &c[0].to_lowercase(), "u1").await;
    assert_eq!(v["valid"], true, "{v}");
    assert!(v["reason"].is_null(), "{v}");
    assert_eq!(v["coupon"]["code"], c[0].as_str());
    assert_eq!(v["coupon"]["status"], "assigned");

    let v = validate(&s, &c[0], "u2").await;
    assert_eq!(
        (v["valid"].as_bool(), v["reason"].as_str()),
        (Some(false), Some("coupon_not_assigned_to_user")),
        "{v}"
    );
    let v = validate(&s, &c[1], "u1").await;
    assert_eq!(v["reason"], "coupon_not_assigned_to_user", "{v}");
    let v = validate(&s, &c[2], "u1").await;
    assert_eq!(
        (v["valid"].as_bool(), v["reason"].as_str()),
        (Some(false), Some("coupon_voided")),
        "{v}"
    );
    assert_error(
        &coupon_post(&s, "NO-SUCH-CODE", "validate", json!({"user_id": "u1"})).await,
        404,
        "coupon_not_found",
    );
    assert_invalid(
        &coupon_post(&s, &c[0], "validate", json!({})).await,
        "user_id",
    );

    // Nothing changed: same coupon, no new events.
    assert_eq!(s.coupon(&c[0]).await, coupon_before);
    assert_eq!(all_events(&s).await.len(), events_before);

    // An Idempotency-Key changes nothing either: the same request with the same key
    // answers the current state each time, never a stored answer.
    let path = format!("/v1/coupons/{}/validate", c[0]);
    let keyed = [("Idempotency-Key", "validate-once")];
    let body = json!({"user_id": "u1"});
    let (status, before) = s
        .call_with_headers(ADMIN_KEY, "POST", &path, &keyed, Some(body.clone()))
        .await;
    assert_eq!(
        (status, before["valid"].as_bool()),
        (200, Some(true)),
        "{before}"
    );

    redeem_ok(&s, &c[0], "u1").await;
    let v = validate(&s, &c[0], "u1").await;
    assert_eq!(
        (v["valid"].as_bool(), v["reason"].as_str()),
        (Some(false), Some("coupon_already_redeemed")),
        "{v}"
    );
    assert_eq!(v["coupon"]["status"], "redeemed");
    let (status, after) = s
        .call_with_headers(ADMIN_KEY, "POST", &path, &keyed, Some(body))
        .await;
    assert_eq!(
        (status, after["reason"].as_str()),
        (200, Some("coupon_already_redeemed")),
        "{after}"
    );
}

// ---------------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_returns_the_same_lock_to_the_same_user() {
    let s = Server::start().await;
    let (_, c) = s.book_with_codes(json!({}), "LCK", 3).await;
    assign_ok(&s, &c[0], "u1").await;
    let before = chrono::Utc::now();
    let lock = lock_ok(&s, &c[0].to_lowercase(), "u1").await;
    let lock_id = lock["lock_id"].as_str().expect("lock_id").to_string();
    assert_eq!(lock["code"], c[0].as_str());
    assert_eq!(lock["user_id"], "u1");
    let expires = ts(&lock["expires_at"]);
    // Default TTL of the book: 300 s.
    let secs = (expires - before).num_seconds();
    assert!((290..=310).contains(&secs), "expires in {secs} s: {lock}");

    let coupon = s.coupon(&c[0]).await;
    assert_eq!(coupon["status"], "locked");
    assert_eq!(ts(&coupon["locked_until"]), expires);

    let again = lock_ok(&s, &c[0], "u1").await;
    assert_eq!(again["lock_id"].as_str(), Some(lock_id.as_str()));
    assert!(ts(&again["expires_at"]) >= expires, "{again}");

    // Another user: the code is not theirs (this book requires assignment).
    assert_error(
        &s.lock(&c[0], "u2").await,
        403,
        "coupon_not_assigned_to_user",
    );
    assert_error(
        &s.lock(&c[1], "u1").await,
        403,
        "coupon_not_assigned_to_user",
    );
    assert_error(&s.lock("NO-SUCH-CODE", "u1").await, 404, "coupon_not_found");

    // ttl_seconds: 1..86400.
    assign_ok(&s, &c[2], "u1").await;
    for bad in [json!(0), json!(86401), json!(-1), json!("60")] {
        let got = coupon_post(
            &s,
            &c[2],
            "lock",
            json!({"user_id": "u1", "ttl_seconds": bad}),
        )
        .await;
        assert_invalid(&got, "ttl_seconds");
    }
    assert_eq!(s.coupon(&c[2]).await["status"], "assigned");
    let before = chrono::Utc::now();
    let (status, lock) = lock_ttl(&s, &c[2], "u1", 60).await;
    assert_eq!(status, 200, "{lock}");
    let secs = (ts(&lock["expires_at"]) - before).num_seconds();
    assert!((55..=65).contains(&secs), "expires in {secs} s: {lock}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_lock_keeps_other_users_out() {
    let s = Server::start().await;
    let (_, c) = open_book(&s, json!({}), "HOLD", 1).await;
    let lock = lock_ok(&s, &c[0], "u1").await;
    assert_error(&s.lock(&c[0], "u2").await, 409, "coupon_locked");
    assert_error(&s.redeem(&c[0], "u2").await, 409, "coupon_locked");
    // Someone else's lock id does not help.
    assert_error(
        &redeem_with_lock(&s, &c[0], "u2", &lock["lock_id"]).await,
        409,
        "coupon_locked",
    );
    assert_eq!(s.coupon(&c[0]).await["redemption_count"], 0);

    // The holder redeems with the lock, which consumes it.
    let (status, r) = redeem_with_lock(&s, &c[0], "u1", &lock["lock_id"]).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["user_id"], "u1");
    assert_error(
        &unlock(&s, &c[0], &lock["lock_id"]).await,
        409,
        "lock_not_found",
    );
    let coupon = s.coupon(&c[0]).await;
    assert_eq!(
        (
            coupon["status"].as_str(),
            coupon["redemption_count"].as_u64()
        ),
        (Some("redeemed"), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_locks_free_the_coupon() {
    let s = Server::start().await;
    let (_, c) = open_book(&s, json!({}), "EXP", 1).await;
    let (status, lock) = lock_ttl(&s, &c[0], "u1", 1).await;
    assert_eq!(status, 200, "{lock}");
    assert_error(&s.lock(&c[0], "u2").await, 409, "coupon_locked");

    tokio::time::sleep(Duration::from_millis(1500)).await;

    let coupon = s.coupon(&c[0]).await;
    assert_eq!(coupon["status"], "available", "{coupon}");
    assert!(coupon["locked_until"].is_null(), "{coupon}");
    assert_error(
        &unlock(&s, &c[0], &lock["lock_id"]).await,
        409,
        "lock_not_found",
    );
    assert_error(
        &redeem_with_lock(&s, &c[0], "u1", &lock["lock_id"]).await,
        409,
        "lock_not_found",
    );
    let other = lock_ok(&s, &c[0], "u2").await;
    assert_ne!(other["lock_id"], lock["lock_id"]);
    let (status, r) = redeem_with_lock(&s, &c[0], "u2", &other["lock_id"]).await;
    assert_eq!(status, 201, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unlock_releases_the_lock() {
    let s = Server::start().await;
    let (_, c) = open_book(&s, json!({}), "UNL", 1).await;
    let lock = lock_ok(&s, &c[0], "u1").await;
    let (status, coupon) = unlock(&s, &c[0].to_lowercase(), &lock["lock_id"]).await;
    assert_eq!(status, 200, "{coupon}");
    assert_eq!(coupon["code"], c[0].as_str());
    assert_eq!(coupon["status"], "available");
    assert!(coupon["locked_until"].is_null(), "{coupon}");
    assert_error(
        &unlock(&s, &c[0], &lock["lock_id"]).await,
        409,
        "lock_not_found",
    );
    assert_error(
        &unlock(&s, &c[0], &json!("lock_unknown")).await,
        409,
        "lock_not_found",
    );
    assert_error(
        &unlock(&s, "NO-SUCH-CODE", &lock["lock_id"]).await,
        404,
        "coupon_not_found",
    );
    assert_invalid(
        &coupon_post(&s, &c[0], "unlock", json!({})).await,
        "lock_id",
    );
    // Free for others now.
    let other = lock_ok(&s, &c[0], "u2").await;
    // A lock only unlocks its own coupon.
    let (_, spare) = open_book(&s, json!({}), "UNL2", 1).await;
    assert_error(
        &unlock(&s, &spare[0], &other["lock_id"]).await,
        409,
        "lock_not_found",
    );
    assert_eq!(s.coupon(&c[0]).await["status"], "locked");
    // Someone else's view of a locked coupon.
    let v = validate(&s, &c[0], "u3").await;
    assert_eq!(
        (v["valid"].as_bool(), v["reason"].as_str()),
        (Some(false), Some("coupon_locked")),
        "{v}"
    );
}

// ---------------------------------------------------------------------------------
// Redeem
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redeem_without_lock() {
    let s = Server::start().await;
    let (book, c) = open_book(&s, json!({}), "RDM", 2).await;
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(2);
    let (status, r) = coupon_post(
        &s,
        &c[0],
        "redeem",
        json!({"user_id": "u1", "metadata": {"order_id": "o-1", "total": 12.5}}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert!(r["id"].as_str().is_some_and(|id| !id.is_empty()), "{r}");
    assert_eq!(r["code"], c[0].as_str());
    assert_eq!(r["book_id"], book.as_str());
    assert_eq!(r["user_id"], "u1");
    assert_eq!(r["status"], "redeemed");
    assert_eq!(r["metadata"], json!({"order_id": "o-1", "total": 12.5}));
    assert!(ts(&r["redeemed_at"]) >= before, "{r}");

    let coupon = s.coupon(&c[0]).await;
    assert_eq!(
        (
            coupon["status"].as_str(),
            coupon["redemption_count"].as_u64()
        ),
        (Some("redeemed"), Some(1))
    );
    assert_error(&s.redeem(&c[0], "u1").await, 409, "coupon_already_redeemed");
    assert_error(&s.redeem(&c[0], "u2").await, 409, "coupon_already_redeemed");
    assert_error(&s.lock(&c[0], "u2").await, 409, "coupon_already_redeemed");
    assert_eq!(s.coupon(&c[0]).await["redemption_count"], 1);

    // Any case works.
    let r = redeem_ok(&s, &c[1].to_lowercase(), "u1").await;
    assert_eq!(r["code"], c[1].as_str());
    assert_error(
        &s.redeem("NO-SUCH-CODE", "u1").await,
        404,
        "coupon_not_found",
    );
    assert_invalid(
        &coupon_post(&s, &c[1], "redeem", json!({})).await,
        "user_id",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redeem_with_lock_in_an_assigned_book() {
    let s = Server::start().await;
    let (_, c) = s.book_with_codes(json!({}), "RDL", 2).await;
    assign_ok(&s, &c[0], "u1").await;
    assign_ok(&s, &c[1], "u1").await;
    let lock = lock_ok(&s, &c[0], "u1").await;
    let (status, r) = redeem_with_lock(&s, &c[0], "u1", &lock["lock_id"]).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["status"], "redeemed");
    assert_error(
        &unlock(&s, &c[0], &lock["lock_id"]).await,
        409,
        "lock_not_found",
    );

    // Only the assigned user may redeem.
    assert_error(
        &s.redeem(&c[1], "u2").await,
        403,
        "coupon_not_assigned_to_user",
    );
    // A lock id that does not exist.
    assert_error(
        &redeem_with_lock(&s, &c[1], "u1", &json!("lock_unknown")).await,
        409,
        "lock_not_found",
    );
    assert_eq!(s.coupon(&c[1]).await["redemption_count"], 0);
    redeem_ok(&s, &c[1], "u1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn voided_coupons_cannot_be_used() {
    let s = Server::start().await;
    let (_, c) = open_book(&s, json!({}), "VOID", 1).await;
    void(&s, &c[0].to_lowercase()).await;
    assert_eq!(s.coupon(&c[0]).await["status"], "voided");
    assert_error(&s.lock(&c[0], "u1").await, 409, "coupon_voided");
    assert_error(&s.redeem(&c[0], "u1").await, 409, "coupon_voided");
    assert_eq!(s.coupon(&c[0]).await["redemption_count"], 0);
    assert_error(
        &coupon_post(&s, "NO-SUCH-CODE", "void", json!({})).await,
        404,
        "coupon_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_active_books_allow_use() {
    let s = Server::start().await;
    let (status, book) = s
        .post(
            "/v1/books",
            json!({"name": "draft", "requires_assignment": false}),
        )
        .await;
    assert_eq!(status, 201, "{book}");
    let book = book["id"].as_str().unwrap().to_string();
    let c = unique_codes("ACT", 3);
    s.add_codes(&book, &c).await;

    let refused = |code: String| {
        let s = &s;
        let book = book.clone();
        async move {
            assert_error(&s.redeem(&code, "u1").await, 409, "book_not_active");
            assert_error(&s.lock(&code, "u1").await, 409, "book_not_active");
            assert_error(&s.assign(&code, "u1").await, 409, "book_not_active");
            assert_error(
                &s.post(
                    &format!("/v1/books/{book}/assign"),
                    json!({"user_id": "u1"}),
                )
                .await,
                409,
                "book_not_active",
            );
            let v = validate(s, &code, "u1").await;
            assert_eq!(
                (v["valid"].as_bool(), v["reason"].as_str()),
                (Some(false), Some("book_not_active")),
                "{v}"
            );
            assert_eq!(s.coupon(&code).await["status"], "available");
        }
    };
    refused(c[0].clone()).await; // draft
    set_book(&s, &book, json!({"status": "active"})).await;
    redeem_ok(&s, &c[0], "u1").await;
    set_book(&s, &book, json!({"status": "paused"})).await;
    refused(c[1].clone()).await; // paused
    set_book(&s, &book, json!({"status": "archived"})).await;
    refused(c[2].clone()).await; // archived
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn books_outside_their_window_refuse_use() {
    let s = Server::start().await;
    let (future, c) = open_book(&s, json!({"valid_from": time_from_now(86_400)}), "WIN", 2).await;
    assert_error(&s.redeem(&c[0], "u1").await, 409, "book_not_valid_now");
    assert_error(&s.lock(&c[0], "u1").await, 409, "book_not_valid_now");
    assert_error(&s.assign(&c[0], "u1").await, 409, "book_not_valid_now");
    let v = validate(&s, &c[0], "u1").await;
    assert_eq!(v["reason"], "book_not_valid_now", "{v}");

    let (_, past) = open_book(
        &s,
        json!({"valid_from": time_from_now(-2 * 86_400), "valid_until": time_from_now(-86_400)}),
        "WINP",
        1,
    )
    .await;
    assert_error(&s.redeem(&past[0], "u1").await, 409, "book_not_valid_now");

    // Opening the window makes the code usable.
    set_book(&s, &future, json!({"valid_from": null})).await;
    redeem_ok(&s, &c[0], "u1").await;
    set_book(&s, &future, json!({"valid_until": time_from_now(3600)})).await;
    redeem_ok(&s, &c[1], "u1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_user_redemption_limit() {
    let s = Server::start().await;
    let (_, c) = open_book(&s, json!({"max_redemptions_per_user": 2}), "UL", 3).await;
    redeem_ok(&s, &c[0], "u1").await;
    redeem_ok(&s, &c[1], "u1").await;
    assert_error(
        &s.redeem(&c[2], "u1").await,
        409,
        "user_redemption_limit_reached",
    );
    let v = validate(&s, &c[2], "u1").await;
    assert_eq!(v["reason"], "user_redemption_limit_reached", "{v}");
    assert_eq!(s.coupon(&c[2]).await["redemption_count"], 0);
    redeem_ok(&s, &c[2], "u2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn book_budget_caps_all_codes() {
    let s = Server::start().await;
    let (book, c) = open_book(&s, json!({"max_total_redemptions": 2}), "BUD", 3).await;
    redeem_ok(&s, &c[0], "u1").await;
    redeem_ok(&s, &c[1], "u2").await;
    assert_error(&s.redeem(&c[2], "u3").await, 409, "book_budget_exhausted");
    let v = validate(&s, &c[2], "u3").await;
    assert_eq!(v["reason"], "book_budget_exhausted", "{v}");
    assert_eq!(s.book(&book).await["counts"]["redeemed"], 2);
    assert_eq!(s.coupon(&c[2]).await["status"], "available");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_use_codes_count_redemptions() {
    let s = Server::start().await;
    let (_, c) = open_book(&s, json!({"max_redemptions_per_coupon": 2}), "MULTI", 1).await;
    let coupon = s.coupon(&c[0]).await;
    assert_eq!(coupon["max_redemptions"], 2);
    let lock = lock_ok(&s, &c[0], "u1").await;
    // One of the two uses is still free.
    assert_eq!(s.coupon(&c[0]).await["status"], "available");
    redeem_ok(&s, &c[0], "u2").await;
    // Now the last use is reserved by u1.
    assert_eq!(s.coupon(&c[0]).await["status"], "locked");
    assert_error(&s.redeem(&c[0], "u3").await, 409, "coupon_locked");
    assert_error(&s.lock(&c[0], "u3").await, 409, "coupon_locked");
    let (status, r) = redeem_with_lock(&s, &c[0], "u1", &lock["lock_id"]).await;
    assert_eq!(status, 201, "{r}");
    let coupon = s.coupon(&c[0]).await;
    assert_eq!(
        (
            coupon["status"].as_str(),
            coupon["redemption_count"].as_u64()
        ),
        (Some("redeemed"), Some(2))
    );
    assert_error(&s.redeem(&c[0], "u3").await, 409, "coupon_already_redeemed");
}

// ---------------------------------------------------------------------------------
// Reversal, redemption lists, users
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reverse_gives_the_use_back_once() {
    let s = Server::start().await;
    let (_, c) = open_book(&s, json!({}), "REV", 1).await;
    let r = redeem_ok(&s, &c[0], "u1").await;
    let id = r["id"].as_str().unwrap();
    let (status, reversed) = reverse(&s, id).await;
    assert_eq!(status, 200, "{reversed}");
    assert_eq!(reversed["id"], r["id"]);
    assert_eq!(reversed["code"], c[0].as_str());
    assert_eq!(reversed["status"], "reversed");
    assert_eq!(reversed["redeemed_at"], r["redeemed_at"]);
    assert!(ts(&reversed["reversed_at"]) >= ts(&r["redeemed_at"]));
    let coupon = s.coupon(&c[0]).await;
    assert_eq!(
        (
            coupon["status"].as_str(),
            coupon["redemption_count"].as_u64()
        ),
        (Some("available"), Some(0))
    );

    assert_error(&reverse(&s, id).await, 409, "redemption_already_reversed");
    let (status, body) = reverse(&s, "red_unknown").await;
    assert_eq!(status, 404, "{body}");

    // The use is back: the code redeems again.
    let again = redeem_ok(&s, &c[0], "u2").await;
    assert_ne!(again["id"], r["id"]);
    let listed = s.list_all(&format!("/v1/redemptions?code={}", c[0])).await;
    let statuses: Vec<&str> = listed
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["reversed", "redeemed"], "{listed:?}");
    assert_eq!(s.coupon(&c[0]).await["redemption_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redemptions_list_filters() {
    let s = Server::start().await;
    let (b1, c1) = open_book(&s, json!({}), "RLA", 3).await;
    let (b2, c2) = open_book(&s, json!({}), "RLB", 1).await;
    let ra = redeem_ok(&s, &c1[0], "u1").await;
    let rb = redeem_ok(&s, &c1[1], "u2").await;
    let rc = redeem_ok(&s, &c1[2], "u1").await;
    let rd = redeem_ok(&s, &c2[0], "u1").await;
    let ids = |items: Vec<Value>| -> Vec<Value> { items.iter().map(|r| r["id"].clone()).collect() };
    let id = |r: &Value| r["id"].clone();

    assert_eq!(
        ids(s.list_all("/v1/redemptions").await),
        vec![id(&ra), id(&rb), id(&rc), id(&rd)]
    );
    assert_eq!(
        ids(s.list_all(&format!("/v1/redemptions?book_id={b1}")).await),
        vec![id(&ra), id(&rb), id(&rc)]
    );
    assert_eq!(
        ids(s.list_all(&format!("/v1/redemptions?book_id={b2}")).await),
        vec![id(&rd)]
    );
    assert_eq!(
        ids(s.list_all("/v1/redemptions?user_id=u1").await),
        vec![id(&ra), id(&rc), id(&rd)]
    );
    assert_eq!(
        ids(s
            .list_all(&format!("/v1/redemptions?book_id={b1}&user_id=u1"))
            .await),
        vec![id(&ra), id(&rc)]
    );
    assert_eq!(
        ids(s.list_all(&format!("/v1/redemptions?code={}", c1[1])).await),
        vec![id(&rb)]
    );
    assert!(
        s.list_all("/v1/redemptions?user_id=nobody")
            .await
            .is_empty()
    );

    // Pages.
    let (status, page) = s.get("/v1/redemptions?limit=3").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(data(&page).len(), 3);
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let (_, page) = s
        .get(&format!("/v1/redemptions?limit=3&cursor={}", enc(cursor)))
        .await;
    assert_eq!(
        data(&page).iter().map(id).collect::<Vec<_>>(),
        vec![id(&rd)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_coupons_and_redemptions() {
    let s = Server::start().await;
    let user = "alice@example.com";
    let (b1, c1) = s.book_with_codes(json!({}), "USRA", 3).await;
    let (_, c2) = s.book_with_codes(json!({}), "USRB", 1).await;
    assign_ok(&s, &c1[1], user).await;
    assign_ok(&s, &c1[0], user).await;
    assign_ok(&s, &c2[0], user).await;
    assign_ok(&s, &c1[2], "bob").await;
    let r = redeem_ok(&s, &c1[0], user).await;

    let base = format!("/v1/users/{}", enc(user));
    let all = s.list_all(&format!("{base}/coupons")).await;
    assert_eq!(
        codes_of(&all),
        vec![c1[1].clone(), c1[0].clone(), c2[0].clone()]
    );
    assert_eq!(all[1]["status"], "redeemed", "redeemed ones stay listed");
    assert!(all.iter().all(|c| c["assigned_to"] == user), "{all:?}");
    assert_eq!(
        codes_of(&s.list_all(&format!("{base}/coupons?book_id={b1}")).await),
        vec![c1[1].clone(), c1[0].clone()]
    );
    assert_eq!(
        codes_of(&s.list_all(&format!("{base}/coupons?status=redeemed")).await),
        vec![c1[0].clone()]
    );
    assert_eq!(
        codes_of(&s.list_all(&format!("{base}/coupons?status=assigned")).await),
        vec![c1[1].clone(), c2[0].clone()]
    );
    assert_eq!(
        codes_of(&s.list_all("/v1/users/bob/coupons").await),
        vec![c1[2].clone()]
    );
    assert!(s.list_all("/v1/users/nobody/coupons").await.is_empty());

    let redemptions = s.list_all(&format!("{base}/redemptions")).await;
    assert_eq!(redemptions.len(), 1, "{redemptions:?}");
    assert_eq!(redemptions[0]["id"], r["id"]);
    assert_eq!(redemptions[0]["code"], c1[0].as_str());
    assert!(s.list_all("/v1/users/bob/redemptions").await.is_empty());
}

// ---------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_feed_records_changes_in_order() {
    let s = Server::start().await;
    let (book, c) = open_book(&s, json!({}), "EVT", 2).await;
    assign_ok(&s, &c[0], "u1").await;
    let r = redeem_ok(&s, &c[0], "u1").await;
    let (status, _) = reverse(&s, r["id"].as_str().unwrap()).await;
    assert_eq!(status, 200);

    let events = all_events(&s).await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "ids unique"
    );
    for e in &events {
        assert!(e["type"].is_string(), "{e}");
        ts(&e["created_at"]);
        assert!(e["data"].is_object(), "{e}");
    }
    let position = |pred: &dyn Fn(&Value) -> bool, what: &str| -> usize {
        events
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("no {what} event in {events:#?}"))
    };
    let created = position(
        &|e| {
            e["type"].as_str().is_some_and(|t| t.starts_with("book."))
                && e["data"]["id"] == book.as_str()
        },
        "book.*",
    );
    let assigned = position(
        &|e| {
            e["type"].as_str().is_some_and(|t| t.starts_with("coupon."))
                && e["data"]["code"] == c[0].as_str()
                && e["data"]["assigned_to"] == "u1"
        },
        "coupon assigned",
    );
    let redeemed = position(&|e| e["type"] == "coupon.redeemed", "coupon.redeemed");
    assert_eq!(events[redeemed]["data"]["id"], r["id"]);
    assert_eq!(events[redeemed]["data"]["code"], c[0].as_str());
    assert_eq!(events[redeemed]["data"]["user_id"], "u1");
    let reversed = position(
        &|e| e["type"] == "redemption.reversed",
        "redemption.reversed",
    );
    assert_eq!(events[reversed]["data"]["id"], r["id"]);
    assert_eq!(events[reversed]["data"]["status"], "reversed");
    assert!(created < assigned && assigned < redeemed && redeemed < reversed);

    // after= and limit=.
    let (status, page) = s.get("/v1/events?limit=2").await;
    assert_eq!(status, 200, "{page}");
    let page_ids: Vec<&str> = data(&page)
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(page_ids, ids[..2]);
    let (status, page) = s
        .get(&format!("/v1/events?after={}&limit=1000", enc(ids[1])))
        .await;
    assert_eq!(status, 200, "{page}");
    let page_ids: Vec<&str> = data(&page)
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(page_ids, ids[2..]);
    let (_, page) = s
        .get(&format!("/v1/events?after={}", enc(ids[ids.len() - 1])))
        .await;
    assert!(data(&page).is_empty(), "{page}");

    // Scope: events:read reads events; books:read does not.
    let reader = s.create_key(&["events:read"]).await;
    assert_eq!(s.call_as(&reader, "GET", "/v1/events", None).await.0, 200);
    let books_reader = s.create_key(&["books:read"]).await;
    assert_error(
        &s.call_as(&books_reader, "GET", "/v1/events", None).await,
        403,
        "forbidden",
    );
}

// ---------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------

async fn post_idem(s: &Server, path: &str, key: &str, body: Value) -> (u16, Value) {
    s.call_with_headers(
        ADMIN_KEY,
        "POST",
        path,
        &[("Idempotency-Key", key)],
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotent_redeem_is_done_once() {
    let s = Server::start().await;
    let (_, c) = open_book(&s, json!({}), "IDEM", 2).await;
    let path = format!("/v1/coupons/{}/redeem", c[0]);
    let body = json!({"user_id": "u1", "metadata": {"order": 1}});
    let first = post_idem(&s, &path, "order-1", body.clone()).await;
    assert_eq!(first.0, 201, "{}", first.1);
    let replay = post_idem(&s, &path, "order-1", body.clone()).await;
    assert_eq!(replay, first);
    let listed = s.list_all(&format!("/v1/redemptions?code={}", c[0])).await;
    assert_eq!(listed.len(), 1, "{listed:?}");

    // Same key, other body.
    assert_error(
        &post_idem(&s, &path, "order-1", json!({"user_id": "u2"})).await,
        422,
        "idempotency_key_reused",
    );

    // Even after the use came back, a replay does not redeem again.
    assert_eq!(reverse(&s, first.1["id"].as_str().unwrap()).await.0, 200);
    let replay = post_idem(&s, &path, "order-1", body.clone()).await;
    assert_eq!(replay, first);
    let coupon = s.coupon(&c[0]).await;
    assert_eq!(
        (
            coupon["status"].as_str(),
            coupon["redemption_count"].as_u64()
        ),
        (Some("available"), Some(0))
    );
    assert_eq!(
        s.list_all(&format!("/v1/redemptions?code={}", c[0]))
            .await
            .len(),
        1
    );

    // A refused request replays its refusal.
    redeem_ok(&s, &c[1], "u1").await;
    let path = format!("/v1/coupons/{}/redeem", c[1]);
    let refused = post_idem(&s, &path, "order-2", json!({"user_id": "u2"})).await;
    assert_error(&refused, 409, "coupon_already_redeemed");
    assert_eq!(
        post_idem(&s, &path, "order-2", json!({"user_id": "u2"})).await,
        refused
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotent_create_book_and_assign() {
    let s = Server::start().await;
    let body = json!({"name": "once", "status": "active"});
    let first = post_idem(&s, "/v1/books", "create-1", body.clone()).await;
    assert_eq!(first.0, 201, "{}", first.1);
    let replay = post_idem(&s, "/v1/books", "create-1", body).await;
    assert_eq!(replay, first);
    assert_eq!(s.list_all("/v1/books").await.len(), 1);

    let book = first.1["id"].as_str().unwrap();
    s.add_codes(book, &unique_codes("IDA", 3)).await;
    let path = format!("/v1/books/{book}/assign");
    let a = post_idem(&s, &path, "next-1", json!({"user_id": "u1"})).await;
    assert_eq!(a.0, 200, "{}", a.1);
    let b = post_idem(&s, &path, "next-1", json!({"user_id": "u1"})).await;
    assert_eq!(a, b);
    assert_eq!(s.book(book).await["counts"]["assigned"], 1);
    let c = post_idem(&s, &path, "next-2", json!({"user_id": "u1"})).await;
    assert_eq!(c.0, 200, "{}", c.1);
    assert_ne!(c.1["code"], a.1["code"]);
    assert_eq!(s.book(book).await["counts"]["assigned"], 2);
}

// ---------------------------------------------------------------------------------
// The seed's alias routes
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_alias_routes_work() {
    let s = Server::start().await;
    let (status, book) = s
        .post("/coupons", json!({"name": "seed", "status": "active"}))
        .await;
    assert_eq!(status, 201, "{book}");
    assert_eq!(book["status"], "active");
    assert_eq!(book["counts"]["total"], 0);
    let book_id = book["id"].as_str().unwrap().to_string();
    assert_eq!(s.book(&book_id).await["name"], "seed");

    let c = unique_codes("SEED", 3);
    let (status, job) = s
        .post(&format!("/coupons/{book_id}/codes"), json!({ "codes": c }))
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["inserted"], 3, "{job}");

    // Next available code.
    let (status, first) = s
        .post(
            "/coupons/assign",
            json!({"user_id": "u1", "book_id": book_id}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["assigned_to"], "u1");
    let first_code = first["code"].as_str().unwrap().to_string();
    assert!(c.contains(&first_code), "{first}");

    // A named code.
    let other = c.iter().find(|x| **x != first_code).unwrap().clone();
    let (status, coupon) = s
        .post(
            &format!("/coupons/assign/{}", other.to_lowercase()),
            json!({"user_id": "u1"}),
        )
        .await;
    assert_eq!(status, 200, "{coupon}");
    assert_eq!(
        (coupon["code"].as_str(), coupon["assigned_to"].as_str()),
        (Some(other.as_str()), Some("u1"))
    );
    assert_error(
        &s.post(
            &format!("/coupons/assign/{other}"),
            json!({"user_id": "u2"}),
        )
        .await,
        409,
        "coupon_already_assigned",
    );

    // Lock, unlock, lock again, redeem with the lock.
    let (status, lock) = s
        .post(
            &format!("/coupons/lock/{first_code}"),
            json!({"user_id": "u1"}),
        )
        .await;
    assert_eq!(status, 200, "{lock}");
    assert_eq!(lock["code"], first_code.as_str());
    let (status, coupon) = s
        .post(
            &format!("/coupons/unlock/{first_code}"),
            json!({"lock_id": lock["lock_id"]}),
        )
        .await;
    assert_eq!(status, 200, "{coupon}");
    assert_eq!(coupon["status"], "assigned");
    let (status, lock) = s
        .post(
            &format!("/coupons/lock/{first_code}"),
            json!({"user_id": "u1"}),
        )
        .await;
    assert_eq!(status, 200, "{lock}");
    let (status, r) = s
        .post(
            &format!("/coupons/redeem/{first_code}"),
            json!({"user_id": "u1", "lock_id": lock["lock_id"]}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(
        (r["code"].as_str(), r["status"].as_str()),
        (Some(first_code.as_str()), Some("redeemed"))
    );
    assert_error(
        &s.post(
            &format!("/coupons/redeem/{first_code}"),
            json!({"user_id": "u1"}),
        )
        .await,
        409,
        "coupon_already_redeemed",
    );

    let (status, list) = s.get("/users/u1/coupons").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        codes_of(data(&list)),
        vec![first_code.clone(), other.clone()]
    );
    assert!(list.get("next_cursor").is_some(), "{list}");

    // Same errors and auth as v1.
    assert_error(
        &s.post("/coupons/redeem/NO-SUCH-CODE", json!({"user_id": "u1"}))
            .await,
        404,
        "coupon_not_found",
    );
    assert_error(
        &s.call_as(
            "",
            "POST",
            &format!("/coupons/lock/{other}"),
            Some(json!({"user_id": "u1"})),
        )
        .await,
        401,
        "unauthenticated",
    );
    assert_error(
        &s.call_as("", "GET", "/users/u1/coupons", None).await,
        401,
        "unauthenticated",
    );
    assert_invalid(&s.post("/coupons", json!({"name": ""})).await, "name");
    assert_eq!(s.coupon(&other).await["status"], "assigned");
}

// ---------------------------------------------------------------------------------
// Error precedence ("When a request breaks several rules")
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn precedence_auth_then_invalid_then_not_found() {
    let s = Server::start().await;
    let reader = s.create_key(&["books:read"]).await;
    let missing_book = "book_00000000000000000000000000";
    // 401 beats a bad body on an unknown coupon.
    assert_error(
        &s.call_as(
            "",
            "POST",
            "/v1/coupons/NO-SUCH-CODE/redeem",
            Some(json!({})),
        )
        .await,
        401,
        "unauthenticated",
    );
    // 403 beats them too.
    assert_error(
        &s.call_as(
            &reader,
            "POST",
            "/v1/coupons/NO-SUCH-CODE/redeem",
            Some(json!({})),
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(
        &s.call_as(
            &reader,
            "PATCH",
            &format!("/v1/books/{missing_book}"),
            Some(json!({"lock_ttl_seconds": 0})),
        )
        .await,
        403,
        "forbidden",
    );
    // invalid_request beats not found.
    assert_invalid(
        &coupon_post(&s, "NO-SUCH-CODE", "redeem", json!({})).await,
        "user_id",
    );
    assert_invalid(
        &coupon_post(
            &s,
            "NO-SUCH-CODE",
            "lock",
            json!({"user_id": "u1", "ttl_seconds": 0}),
        )
        .await,
        "ttl_seconds",
    );
    assert_invalid(
        &s.post(
            &format!("/v1/books/{missing_book}/assign"),
            json!({"user_id": 5}),
        )
        .await,
        "user_id",
    );
    assert_invalid(
        &s.patch(
            &format!("/v1/books/{missing_book}"),
            json!({"lock_ttl_seconds": 0}),
        )
        .await,
        "lock_ttl_seconds",
    );
    assert_invalid(
        &s.post(
            &format!("/v1/books/{missing_book}/codes"),
            json!({"codes": "ABC"}),
        )
        .await,
        "codes",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn precedence_unknown_lock_before_book_state() {
    let s = Server::start().await;
    let (book, c) = open_book(&s, json!({}), "PRL", 1).await;
    set_book(&s, &book, json!({"status": "paused"})).await;
    // An unknown lock id is "not found", which comes before book_not_active.
    assert_error(
        &redeem_with_lock(&s, &c[0], "u1", &json!("lock_unknown")).await,
        409,
        "lock_not_found",
    );
    assert_error(
        &unlock(&s, &c[0], &json!("lock_unknown")).await,
        409,
        "lock_not_found",
    );
    // Without a lock the book state is reported.
    assert_error(&s.redeem(&c[0], "u1").await, 409, "book_not_active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn precedence_book_state_then_coupon_state() {
    let s = Server::start().await;
    // Paused AND outside the window AND voided -> book_not_active.
    let (book, c) = s.book_with_codes(json!({}), "PRB", 3).await;
    void(&s, &c[0]).await;
    set_book(&s, &book, json!({"valid_from": time_from_now(86_400)})).await;
    set_book(&s, &book, json!({"status": "paused"})).await;
    assert_error(&s.redeem(&c[0], "u1").await, 409, "book_not_active");
    assert_error(&s.lock(&c[0], "u1").await, 409, "book_not_active");
    // Active but outside the window AND voided AND unassigned -> book_not_valid_now.
    set_book(&s, &book, json!({"status": "active"})).await;
    assert_error(&s.redeem(&c[0], "u1").await, 409, "book_not_valid_now");
    assert_error(&s.lock(&c[0], "u1").await, 409, "book_not_valid_now");
    // In the window: voided AND not assigned -> coupon_voided.
    set_book(&s, &book, json!({"valid_from": null})).await;
    assert_error(&s.redeem(&c[0], "u1").await, 409, "coupon_voided");
    assert_error(&s.lock(&c[0], "u1").await, 409, "coupon_voided");
    // Not assigned to this user AND already redeemed -> coupon_not_assigned_to_user.
    assign_ok(&s, &c[1], "u1").await;
    redeem_ok(&s, &c[1], "u1").await;
    assert_error(
        &s.redeem(&c[1], "u2").await,
        403,
        "coupon_not_assigned_to_user",
    );
    assert_error(
        &s.lock(&c[1], "u2").await,
        403,
        "coupon_not_assigned_to_user",
    );
    // The assigned user gets coupon_already_redeemed.
    assert_error(&s.redeem(&c[1], "u1").await, 409, "coupon_already_redeemed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn precedence_locks_then_limits_then_budget() {
    let s = Server::start().await;
    let (_, c) = open_book(
        &s,
        json!({"max_redemptions_per_user": 1, "max_total_redemptions": 2}),
        "PRC",
        5,
    )
    .await;
    redeem_ok(&s, &c[0], "u1").await; // u1 is at its limit; budget 1 of 2 used.

    // Already redeemed AND user limit -> coupon_already_redeemed.
    assert_error(&s.redeem(&c[0], "u1").await, 409, "coupon_already_redeemed");
    // Locked by someone else AND user limit -> coupon_locked.
    let foreign = lock_ok(&s, &c[1], "u2").await;
    assert_error(&s.redeem(&c[1], "u1").await, 409, "coupon_locked");
    // Someone else's lock presented AND locked -> coupon_locked (before lock_not_found).
    assert_error(
        &redeem_with_lock(&s, &c[1], "u3", &foreign["lock_id"]).await,
        409,
        "coupon_locked",
    );
    // A lock of another coupon AND user limit -> lock_not_found.
    assert_error(
        &redeem_with_lock(&s, &c[2], "u1", &foreign["lock_id"]).await,
        409,
        "lock_not_found",
    );
    // Use the budget up: u2 redeems its lock.
    let (status, body) = redeem_with_lock(&s, &c[1], "u2", &foreign["lock_id"]).await;
    assert_eq!(status, 201, "{body}");
    // User limit AND budget -> user_redemption_limit_reached; budget alone -> budget.
    assert_error(
        &s.redeem(&c[2], "u1").await,
        409,
        "user_redemption_limit_reached",
    );
    assert_error(&s.redeem(&c[2], "u3").await, 409, "book_budget_exhausted");
    assert_eq!(s.list_all("/v1/redemptions").await.len(), 2);
}
