//! Coupon books over HTTP: create, read, list, update, delete, validation, counts,
//! stats, authentication, scopes and API keys (API.md "Coupon books", "API keys").

use crate::common::*;
use serde_json::{Value, json};

async fn create_book(s: &Server, body: Value) -> (u16, Value) {
    s.post("/v1/books", body).await
}

async fn draft_book(s: &Server, name: &str) -> Value {
    let got = create_book(s, json!({ "name": name })).await;
    assert_eq!(got.0, 201, "create book: {}", got.1);
    got.1
}

async fn set_status(s: &Server, book_id: &str, status: &str) -> (u16, Value) {
    s.patch(&format!("/v1/books/{book_id}"), json!({ "status": status }))
        .await
}

fn counts(book: &Value) -> [u64; 6] {
    let c = &book["counts"];
    [
        "total",
        "available",
        "assigned",
        "locked",
        "redeemed",
        "voided",
    ]
    .map(|k| {
        c[k].as_u64()
            .unwrap_or_else(|| panic!("counts.{k}: {book}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_book_applies_defaults() {
    let s = Server::start().await;
    let book = draft_book(&s, "Summer 2026").await;
    let id = book["id"].as_str().expect("id");
    assert!(!id.is_empty());
    assert_eq!(book["name"], "Summer 2026");
    assert_eq!(book["status"], "draft");
    assert_eq!(book["max_redemptions_per_coupon"], 1);
    assert!(book["max_coupons_per_user"].is_null(), "{book}");
    assert!(book["max_redemptions_per_user"].is_null(), "{book}");
    assert!(book["max_total_redemptions"].is_null(), "{book}");
    assert_eq!(book["requires_assignment"], true);
    assert!(book["valid_from"].is_null(), "{book}");
    assert!(book["valid_until"].is_null(), "{book}");
    assert_eq!(book["lock_ttl_seconds"], 300);
    assert_eq!(book["metadata"], json!({}));
    let created = ts(&book["created_at"]);
    let updated = ts(&book["updated_at"]);
    assert!(updated >= created);
    assert_eq!(counts(&book), [0; 6]);

    // The stored book reads back identically.
    assert_eq!(s.book(id).await, book);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_book_keeps_every_field() {
    let s = Server::start().await;
    let body = json!({
        "name": "Winter",
        "description": "cold deals",
        "status": "active",
        "max_redemptions_per_coupon": 3,
        "max_coupons_per_user": 2,
        "max_redemptions_per_user": 4,
        "max_total_redemptions": 100,
        "requires_assignment": false,
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2099-01-01T00:00:00Z",
        "lock_ttl_seconds": 86400,
        "metadata": {"campaign": "w1", "nested": {"a": [1, 2]}}
    });
    let (status, book) = create_book(&s, body.clone()).await;
    assert_eq!(status, 201, "{book}");
    for key in [
        "name",
        "description",
        "status",
        "max_redemptions_per_coupon",
        "max_coupons_per_user",
        "max_redemptions_per_user",
        "max_total_redemptions",
        "requires_assignment",
        "lock_ttl_seconds",
        "metadata",
    ] {
        assert_eq!(book[key], body[key], "field {key}: {book}");
    }
    assert_eq!(ts(&book["valid_from"]), ts(&body["valid_from"]));
    assert_eq!(ts(&book["valid_until"]), ts(&body["valid_until"]));

    // null = unlimited for max_redemptions_per_coupon, and lock_ttl_seconds 1 is allowed.
    let (status, book) = create_book(
        &s,
        json!({"name": "u", "max_redemptions_per_coupon": null, "lock_ttl_seconds": 1}),
    )
    .await;
    assert_eq!(status, 201, "{book}");
    assert!(book["max_redemptions_per_coupon"].is_null(), "{book}");
    assert_eq!(book["lock_ttl_seconds"], 1);

    // 200 characters is the longest name.
    let (status, book) = create_book(&s, json!({"name": "n".repeat(200)})).await;
    assert_eq!(status, 201, "{book}");
    assert_eq!(book["name"].as_str().map(str::len), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_book_validation_names_the_field() {
    let s = Server::start().await;
    let big_metadata = json!({ "blob": "x".repeat(17 * 1024) });
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "name"),
        (json!({"description": "no name"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "n".repeat(201)}), "name"),
        (json!({"name": 42}), "name"),
        (json!({"name": null}), "name"),
        (
            json!({"name": "b", "lock_ttl_seconds": 0}),
            "lock_ttl_seconds",
        ),
        (
            json!({"name": "b", "lock_ttl_seconds": 86401}),
            "lock_ttl_seconds",
        ),
        (
            json!({"name": "b", "lock_ttl_seconds": -5}),
            "lock_ttl_seconds",
        ),
        (
            json!({"name": "b", "lock_ttl_seconds": "300"}),
            "lock_ttl_seconds",
        ),
        (
            json!({"name": "b", "lock_ttl_seconds": 1.5}),
            "lock_ttl_seconds",
        ),
        (json!({"name": "b", "status": "open"}), "status"),
        (json!({"name": "b", "status": 1}), "status"),
        (
            json!({"name": "b", "requires_assignment": "yes"}),
            "requires_assignment",
        ),
        (
            json!({"name": "b", "max_redemptions_per_coupon": "ten"}),
            "max_redemptions_per_coupon",
        ),
        (
            json!({"name": "b", "max_redemptions_per_coupon": -1}),
            "max_redemptions_per_coupon",
        ),
        (
            json!({"name": "b", "max_coupons_per_user": [1]}),
            "max_coupons_per_user",
        ),
        (
            json!({"name": "b", "max_total_redemptions": "many"}),
            "max_total_redemptions",
        ),
        (json!({"name": "b", "valid_from": "tomorrow"}), "valid_from"),
        (json!({"name": "b", "valid_until": 12}), "valid_until"),
        (json!({"name": "b", "metadata": "text"}), "metadata"),
        (json!({"name": "b", "metadata": [1, 2]}), "metadata"),
        (json!({"name": "b", "metadata": big_metadata}), "metadata"),
        (json!({"name": "b", "description": 7}), "description"),
    ];
    let mut problems = Vec::new();
    for (body, field) in cases {
        let got = create_book(&s, body.clone()).await;
        if let Some(p) = invalid_mismatch(&got, field) {
            problems.push(format!("POST /v1/books {body}: {p}"));
        }
    }
    // A body that is not an object at all.
    for body in [json!(["name"]), json!("name"), json!(null), json!(7)] {
        let got = create_book(&s, body.clone()).await;
        if (got.0, error_code(&got.1)) != (400, "invalid_request") {
            problems.push(format!(
                "POST /v1/books {body}: expected 400 invalid_request, got {} {}",
                got.0, got.1
            ));
        }
    }

    // Metadata just under 16 KiB is fine.
    let (status, book) = create_book(
        &s,
        json!({"name": "b", "metadata": {"blob": "x".repeat(15 * 1024)}}),
    )
    .await;
    assert_eq!(status, 201, "{book}");

    // Nothing invalid was stored: exactly one book exists.
    let books = s.list_all("/v1/books").await;
    if books.len() != 1 {
        problems.push(format!("{} books stored instead of 1", books.len()));
    }
    assert_no_problems(&problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_book_is_404_everywhere() {
    let s = Server::start().await;
    let missing = "book_00000000000000000000000000";
    assert_error(
        &s.get(&format!("/v1/books/{missing}")).await,
        404,
        "book_not_found",
    );
    assert_error(
        &s.patch(&format!("/v1/books/{missing}"), json!({"name": "x"}))
            .await,
        404,
        "book_not_found",
    );
    assert_error(
        &s.delete(&format!("/v1/books/{missing}")).await,
        404,
        "book_not_found",
    );
    assert_error(
        &s.get(&format!("/v1/books/{missing}/stats?bucket=day"))
            .await,
        404,
        "book_not_found",
    );
    assert_error(
        &s.get(&format!("/v1/books/{missing}/codes")).await,
        404,
        "book_not_found",
    );
    assert_error(
        &s.post(
            &format!("/v1/books/{missing}/codes"),
            json!({"codes": ["ABC-123"]}),
        )
        .await,
        404,
        "book_not_found",
    );
    assert_error(
        &s.post(
            &format!("/v1/books/{missing}/assign"),
            json!({"user_id": "u1"}),
        )
        .await,
        404,
        "book_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_books_paginates_in_creation_order() {
    let s = Server::start().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let book = draft_book(&s, &format!("book {i}")).await;
        ids.push(book["id"].as_str().unwrap().to_string());
    }

    // Default page holds them all, in creation order, with no next page.
    let (status, body) = s.get("/v1/books").await;
    assert_eq!(status, 200, "{body}");
    let all: Vec<&str> = data(&body)
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(all, ids);
    assert!(body["next_cursor"].is_null(), "{body}");

    // Pages of 3: 3 + 3 + 1, same order, no repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/books?limit=3".to_string(),
            Some(c) => format!("/v1/books?limit=3&cursor={}", enc(c)),
        };
        let (status, body) = s.get(&path).await;
        assert_eq!(status, 200, "{body}");
        let page = data(&body);
        assert!(page.len() <= 3, "{body}");
        pages += 1;
        seen.extend(page.iter().map(|b| b["id"].as_str().unwrap().to_string()));
        match body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(page.len(), 3, "a non-last page is full: {body}");
                cursor = Some(c.to_string());
            }
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    // The same cursor gives the same page again (stable order).
    let (_, first) = s.get("/v1/books?limit=2").await;
    let c = first["next_cursor"].as_str().expect("cursor").to_string();
    let (_, a) = s
        .get(&format!("/v1/books?limit=2&cursor={}", enc(&c)))
        .await;
    let (_, b) = s
        .get(&format!("/v1/books?limit=2&cursor={}", enc(&c)))
        .await;
    assert_eq!(a, b);
    assert_eq!(data(&a)[0]["id"].as_str(), Some(ids[2].as_str()));

    // limit bounds: 1..1000.
    let (status, body) = s.get("/v1/books?limit=1").await;
    assert_eq!((status, data(&body).len()), (200, 1), "{body}");
    let (status, body) = s.get("/v1/books?limit=1000").await;
    assert_eq!((status, data(&body).len()), (200, 7), "{body}");
    for bad in ["0", "1001", "-1", "abc"] {
        assert_invalid(&s.get(&format!("/v1/books?limit={bad}")).await, "limit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_updates_fields() {
    let s = Server::start().await;
    let book = draft_book(&s, "old").await;
    let id = book["id"].as_str().unwrap();
    let (status, patched) = s
        .patch(
            &format!("/v1/books/{id}"),
            json!({
                "name": "new",
                "description": "d",
                "max_redemptions_per_user": 5,
                "lock_ttl_seconds": 60,
                "metadata": {"k": "v"}
            }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["id"], book["id"]);
    assert_eq!(patched["name"], "new");
    assert_eq!(patched["description"], "d");
    assert_eq!(patched["max_redemptions_per_user"], 5);
    assert_eq!(patched["lock_ttl_seconds"], 60);
    assert_eq!(patched["metadata"], json!({"k": "v"}));
    // Untouched fields stay.
    assert_eq!(patched["status"], "draft");
    assert_eq!(patched["max_redemptions_per_coupon"], 1);
    assert_eq!(patched["created_at"], book["created_at"]);
    assert!(ts(&patched["updated_at"]) >= ts(&book["updated_at"]));
    assert_eq!(s.book(id).await, patched);

    // Setting a limit back to null (unlimited).
    let (status, patched) = s
        .patch(
            &format!("/v1/books/{id}"),
            json!({"max_redemptions_per_user": null}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert!(patched["max_redemptions_per_user"].is_null(), "{patched}");

    // Invalid patches name the field and change nothing.
    let path = format!("/v1/books/{id}");
    assert_invalid(
        &s.patch(&path, json!({"lock_ttl_seconds": 0})).await,
        "lock_ttl_seconds",
    );
    assert_invalid(
        &s.patch(&path, json!({"lock_ttl_seconds": 86401})).await,
        "lock_ttl_seconds",
    );
    assert_invalid(&s.patch(&path, json!({"name": ""})).await, "name");
    assert_invalid(
        &s.patch(&path, json!({"name": "n".repeat(201)})).await,
        "name",
    );
    assert_invalid(&s.patch(&path, json!({"status": "closed"})).await, "status");
    assert_invalid(
        &s.patch(&path, json!({"requires_assignment": 1})).await,
        "requires_assignment",
    );
    assert_invalid(
        &s.patch(&path, json!({"metadata": {"blob": "x".repeat(17 * 1024)}}))
            .await,
        "metadata",
    );
    let after = s.book(id).await;
    assert_eq!(after["name"], "new");
    assert_eq!(after["lock_ttl_seconds"], 60);
    assert_eq!(after["status"], "draft");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_moves_follow_the_contract() {
    let s = Server::start().await;
    let id = draft_book(&s, "moves").await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // draft cannot pause.
    assert_error(
        &set_status(&s, &id, "paused").await,
        409,
        "invalid_status_transition",
    );
    // draft -> active -> paused -> active.
    for next in ["active", "paused", "active"] {
        let (status, book) = set_status(&s, &id, next).await;
        assert_eq!(
            (status, book["status"].as_str()),
            (200, Some(next)),
            "{book}"
        );
    }
    // Nothing goes back to draft.
    assert_error(
        &set_status(&s, &id, "draft").await,
        409,
        "invalid_status_transition",
    );
    set_status(&s, &id, "paused").await;
    assert_error(
        &set_status(&s, &id, "draft").await,
        409,
        "invalid_status_transition",
    );
    // paused -> archived, and archived is final.
    let (status, book) = set_status(&s, &id, "archived").await;
    assert_eq!(
        (status, book["status"].as_str()),
        (200, Some("archived")),
        "{book}"
    );
    for next in ["active", "paused", "draft"] {
        assert_error(
            &set_status(&s, &id, next).await,
            409,
            "invalid_status_transition",
        );
    }
    assert_eq!(s.book(&id).await["status"], "archived");

    // draft -> archived and active -> archived.
    let draft = draft_book(&s, "d").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, book) = set_status(&s, &draft, "archived").await;
    assert_eq!(
        (status, book["status"].as_str()),
        (200, Some("archived")),
        "{book}"
    );
    let active = s.active_book(json!({})).await;
    let (status, book) = set_status(&s, &active, "archived").await;
    assert_eq!(
        (status, book["status"].as_str()),
        (200, Some("archived")),
        "{book}"
    );

    // A new book may only start as draft or active.
    assert_invalid(
        &create_book(&s, json!({"name": "p", "status": "paused"})).await,
        "status",
    );
    assert_invalid(
        &create_book(&s, json!({"name": "p", "status": "archived"})).await,
        "status",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_only_unused_books() {
    let s = Server::start().await;

    // A book with codes that were never used can go.
    let (unused, _) = s
        .book_with_codes(json!({"requires_assignment": false}), "DEL", 3)
        .await;
    let got = s.delete(&format!("/v1/books/{unused}")).await;
    assert_eq!(got.0, 204, "{}", got.1);
    assert!(got.1.is_null(), "204 has no body: {}", got.1);
    assert_error(
        &s.get(&format!("/v1/books/{unused}")).await,
        404,
        "book_not_found",
    );
    assert_error(
        &s.delete(&format!("/v1/books/{unused}")).await,
        404,
        "book_not_found",
    );

    // Once something was assigned, the book is in use, even after unassigning.
    let (assigned, codes) = s.book_with_codes(json!({}), "INUSE", 2).await;
    assert_eq!(s.assign(&codes[0], "u1").await.0, 200);
    assert_error(
        &s.delete(&format!("/v1/books/{assigned}")).await,
        409,
        "book_in_use",
    );
    let (status, body) = s
        .call(
            "DELETE",
            &format!("/v1/coupons/{}/assignment", codes[0]),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_error(
        &s.delete(&format!("/v1/books/{assigned}")).await,
        409,
        "book_in_use",
    );
    assert_eq!(s.book(&assigned).await["counts"]["total"], 2);

    // A redemption also makes it in use.
    let (redeemed, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "INUSE2", 1)
        .await;
    assert_eq!(s.redeem(&codes[0], "u1").await.0, 201);
    assert_error(
        &s.delete(&format!("/v1/books/{redeemed}")).await,
        409,
        "book_in_use",
    );

    // Archiving is the way out.
    assert_eq!(set_status(&s, &redeemed, "archived").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_follow_operations() {
    let s = Server::start().await;
    let (book, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "CNT", 6)
        .await;
    assert_eq!(counts(&s.book(&book).await), [6, 6, 0, 0, 0, 0]);

    assert_eq!(s.assign(&codes[0], "u1").await.0, 200);
    assert_eq!(counts(&s.book(&book).await), [6, 5, 1, 0, 0, 0]);

    let (status, lock) = s.lock(&codes[1], "u2").await;
    assert_eq!(status, 200, "{lock}");
    assert_eq!(counts(&s.book(&book).await), [6, 4, 1, 1, 0, 0]);

    assert_eq!(s.redeem(&codes[2], "u3").await.0, 201);
    assert_eq!(counts(&s.book(&book).await), [6, 3, 1, 1, 1, 0]);

    let (status, body) = s
        .post(&format!("/v1/coupons/{}/void", codes[3]), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(counts(&s.book(&book).await), [6, 2, 1, 1, 1, 1]);

    let (status, body) = s
        .post(
            &format!("/v1/coupons/{}/unlock", codes[1]),
            json!({"lock_id": lock["lock_id"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(counts(&s.book(&book).await), [6, 3, 1, 0, 1, 1]);

    // The book list shows the same counts.
    let listed = s.list_all("/v1/books").await;
    let listed = listed
        .iter()
        .find(|b| b["id"] == book.as_str())
        .expect("listed");
    assert_eq!(counts(listed), [6, 3, 1, 0, 1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stats_have_the_documented_shape() {
    let s = Server::start().await;
    let (book, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "STAT", 4)
        .await;
    for (code, user) in codes.iter().take(3).zip(["alice", "alice", "bob"]) {
        assert_eq!(s.redeem(code, user).await.0, 201);
    }
    let (_, redemptions) = s.get(&format!("/v1/redemptions?book_id={book}")).await;
    let rid = data(&redemptions)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.post(&format!("/v1/redemptions/{rid}/reverse"), json!({}))
            .await
            .0,
        200
    );

    for bucket in ["hour", "day"] {
        let (status, stats) = s
            .get(&format!("/v1/books/{book}/stats?bucket={bucket}"))
            .await;
        assert_eq!(status, 200, "{stats}");
        assert_eq!(stats["counts"], s.book(&book).await["counts"], "{stats}");
        let buckets = stats["redemptions"].as_array().expect("redemptions array");
        assert!(!buckets.is_empty(), "{stats}");
        let mut redeemed = 0;
        let mut reversed = 0;
        for b in buckets {
            ts(&b["start"]);
            redeemed += b["redeemed"].as_u64().expect("redeemed");
            reversed += b["reversed"].as_u64().expect("reversed");
        }
        assert_eq!((redeemed, reversed), (3, 1), "{stats}");
        assert!(stats["top_users"].is_array(), "{stats}");
        assert!(
            !stats["top_users"].as_array().unwrap().is_empty(),
            "{stats}"
        );
    }
    assert_invalid(
        &s.get(&format!("/v1/books/{book}/stats?bucket=week")).await,
        "bucket",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_without_valid_token_are_401() {
    let s = Server::start().await;
    let book = s.active_book(json!({})).await;
    let paths = [
        ("GET", "/v1/books".to_string(), None),
        ("POST", "/v1/books".to_string(), Some(json!({"name": "x"}))),
        ("GET", format!("/v1/books/{book}"), None),
        (
            "PATCH",
            format!("/v1/books/{book}"),
            Some(json!({"name": "x"})),
        ),
        ("DELETE", format!("/v1/books/{book}"), None),
        ("GET", "/v1/api-keys".to_string(), None),
        ("GET", "/v1/redemptions".to_string(), None),
        ("GET", "/v1/events".to_string(), None),
    ];
    for token in ["", "not-a-key", "cb_test_admin_key_012345678X"] {
        for (method, path, body) in &paths {
            let got = s.call_as(token, method, path, body.clone()).await;
            assert_error(&got, 401, "unauthenticated");
        }
    }
    // Wrong scheme.
    let reply = s
        .send(
            s.request("", "GET", "/v1/books")
                .header("Authorization", format!("Basic {ADMIN_KEY}")),
        )
        .await;
    assert_error(&(reply.status, reply.json), 401, "unauthenticated");
    // Nothing changed.
    assert_eq!(s.book(&book).await["name"], "test book");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scopes_are_enforced() {
    let s = Server::start().await;
    let (book, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "SCOPE", 2)
        .await;
    let reader = s.create_key(&["books:read"]).await;
    let writer = s.create_key(&["books:write"]).await;
    let redeemer = s.create_key(&["coupons:redeem"]).await;

    // books:read reads books but cannot write.
    let (status, body) = s
        .call_as(&reader, "GET", &format!("/v1/books/{book}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.call_as(&reader, "GET", "/v1/books", None).await.0, 200);
    for (method, path, body) in [
        ("POST", "/v1/books".to_string(), Some(json!({"name": "x"}))),
        (
            "PATCH",
            format!("/v1/books/{book}"),
            Some(json!({"name": "x"})),
        ),
        ("DELETE", format!("/v1/books/{book}"), None),
        (
            "POST",
            format!("/v1/books/{book}/codes"),
            Some(json!({"codes": ["SCOPE-NEW-1"]})),
        ),
        (
            "POST",
            format!("/v1/coupons/{}/redeem", codes[0]),
            Some(json!({"user_id": "u"})),
        ),
        (
            "POST",
            "/v1/api-keys".to_string(),
            Some(json!({"name": "k", "scopes": ["admin"]})),
        ),
        ("GET", "/v1/api-keys".to_string(), None),
    ] {
        let got = s.call_as(&reader, method, &path, body).await;
        assert_error(&got, 403, "forbidden");
    }

    // books:write may create books; coupons:redeem may not read books.
    let (status, body) = s
        .call_as(
            &writer,
            "POST",
            "/v1/books",
            Some(json!({"name": "by writer"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_error(
        &s.call_as(&redeemer, "GET", &format!("/v1/books/{book}"), None)
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &s.call_as(&redeemer, "POST", "/v1/books", Some(json!({"name": "x"})))
            .await,
        403,
        "forbidden",
    );
    // coupons:redeem may redeem.
    let (status, body) = s
        .call_as(
            &redeemer,
            "POST",
            &format!("/v1/coupons/{}/redeem", codes[1]),
            Some(json!({"user_id": "u"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // 403 comes before validation (auth first).
    assert_error(
        &s.call_as(&reader, "POST", "/v1/books", Some(json!({"name": ""})))
            .await,
        403,
        "forbidden",
    );
    // The refused requests changed nothing.
    let book_now = s.book(&book).await;
    assert_eq!(book_now["name"], "test book");
    assert_eq!(book_now["counts"]["total"], 2);
    assert_eq!(book_now["counts"]["redeemed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_keys_create_list_delete() {
    let s = Server::start().await;
    let (status, created) = s
        .post(
            "/v1/api-keys",
            json!({"name": "checkout", "scopes": ["coupons:redeem", "books:read"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let key = created["key"].as_str().expect("key").to_string();
    assert!(key.len() >= 16, "key looks too short: {key}");
    assert_ne!(key, ADMIN_KEY);
    assert_eq!(created["name"], "checkout");
    let mut scopes: Vec<&str> = created["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    scopes.sort();
    assert_eq!(scopes, ["books:read", "coupons:redeem"]);
    ts(&created["created_at"]);

    // The new key works.
    assert_eq!(s.call_as(&key, "GET", "/v1/books", None).await.0, 200);

    // The list shows it, without the secret.
    let keys = s.list_all("/v1/api-keys").await;
    let listed = keys
        .iter()
        .find(|k| k["id"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["name"], "checkout");
    let listed_text = serde_json::to_string(&keys).unwrap();
    assert!(
        !listed_text.contains(&key),
        "list leaks the key: {listed_text}"
    );

    // Invalid bodies.
    assert_invalid(
        &s.post("/v1/api-keys", json!({"scopes": ["admin"]})).await,
        "name",
    );
    assert_invalid(
        &s.post(
            "/v1/api-keys",
            json!({"name": "k", "scopes": ["superuser"]}),
        )
        .await,
        "scopes",
    );
    assert_invalid(
        &s.post("/v1/api-keys", json!({"name": "k", "scopes": "admin"}))
            .await,
        "scopes",
    );

    // Delete: the key stops working and leaves the list.
    let (status, body) = s.delete(&format!("/v1/api-keys/{id}")).await;
    assert!(
        status == 200 || status == 204,
        "delete key: {status} {body}"
    );
    assert_error(
        &s.call_as(&key, "GET", "/v1/books", None).await,
        401,
        "unauthenticated",
    );
    let keys = s.list_all("/v1/api-keys").await;
    assert!(keys.iter().all(|k| k["id"] != id.as_str()), "{keys:?}");
    let (status, body) = s.delete(&format!("/v1/api-keys/{id}")).await;
    assert_eq!(status, 404, "{body}");
    // The admin key still works.
    assert_eq!(s.get("/v1/api-keys").await.0, 200);
}
