//! Locks and redemption rules over real HTTP.

use super::*;

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
