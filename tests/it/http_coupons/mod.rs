//! Codes, coupons, locks, redemptions, users, events, idempotency, the seed's alias
//! routes and the error precedence of API.md, over real HTTP.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

mod history;
mod locks_and_redemption;

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
