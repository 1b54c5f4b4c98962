//! Reversal, redemption lists, users, the event feed, idempotency and the seed's alias
//! routes over real HTTP.

use super::*;

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
