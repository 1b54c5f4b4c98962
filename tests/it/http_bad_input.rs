//! Hostile and malformed input: the server answers with a documented 4xx, never a 5xx,
//! and the store is unchanged afterwards.

use crate::common::*;
use serde_json::{Value, json};

/// What a test compares before and after the bad requests.
async fn snapshot(s: &Server, book: &str) -> Value {
    json!({
        "books": s.list_all("/v1/books").await,
        "codes": s.list_all(&format!("/v1/books/{book}/codes")).await,
        "redemptions": s.list_all("/v1/redemptions").await,
        "keys": s.list_all("/v1/api-keys").await.len(),
    })
}

/// Asserts a well-formed 4xx error (never 5xx, always an error body with a code).
#[track_caller]
fn assert_4xx(what: &str, reply: &Reply) {
    assert!(
        (400..500).contains(&reply.status),
        "{what}: expected 4xx, got {} {}",
        reply.status,
        reply.text
    );
    assert!(
        reply.json["error"]["code"].is_string() && reply.json["error"]["message"].is_string(),
        "{what}: error body expected, got {} {}",
        reply.status,
        reply.text
    );
}

#[track_caller]
fn assert_reply(what: &str, reply: &Reply, status: u16, code: &str) {
    assert_4xx(what, reply);
    assert_eq!(
        (reply.status, error_code(&reply.json)),
        (status, code),
        "{what}: {}",
        reply.text
    );
}

async fn json_raw(s: &Server, method: &str, path: &str, body: &str) -> Reply {
    s.raw(method, path, Some("application/json"), body.to_string())
        .await
}

async fn setup(s: &Server) -> (String, Vec<String>) {
    let (book, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "BAD", 3)
        .await;
    // Some state worth protecting.
    let (status, _) = s.redeem(&codes[0], "u1").await;
    assert_eq!(status, 201);
    let (status, _) = s.assign(&codes[1], "u2").await;
    assert_eq!(status, 200);
    (book, codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_json_is_invalid_request() {
    let s = Server::start().await;
    let (book, codes) = setup(&s).await;
    let before = snapshot(&s, &book).await;
    let redeem = format!("/v1/coupons/{}/redeem", codes[2]);
    let targets = [
        ("POST", "/v1/books".to_string()),
        ("PATCH", format!("/v1/books/{book}")),
        ("POST", format!("/v1/books/{book}/codes")),
        ("POST", redeem.clone()),
        ("POST", format!("/v1/coupons/{}/lock", codes[2])),
        ("POST", format!("/v1/coupons/{}/assign", codes[2])),
        ("POST", format!("/v1/books/{book}/assign")),
        ("POST", "/v1/api-keys".to_string()),
    ];
    let bodies = [
        "{",
        "{\"name\": ",
        "{\"name\": \"x\",}",
        "not json",
        "{'name': 'x'}",
        "\"just a string\"",
        "[]",
        "null",
        "{\"name\": \"\\uD800\"}",
        "{\"user_id\": \"u1\"} trailing",
        "",
    ];
    let mut problems = Vec::new();
    for (method, path) in &targets {
        for body in bodies {
            let reply = json_raw(&s, method, path, body).await;
            assert!(
                reply.status < 500,
                "{method} {path} {body:?}: {}",
                reply.text
            );
            if (reply.status, error_code(&reply.json)) != (400, "invalid_request") {
                problems.push(format!(
                    "{method} {path} {body:?}: expected 400 invalid_request, got {} {}",
                    reply.status, reply.text
                ));
            }
        }
    }
    // Invalid UTF-8.
    let reply = s
        .raw(
            "POST",
            "/v1/books",
            Some("application/json"),
            vec![b'{', 0xff, 0xfe, b'}'],
        )
        .await;
    assert_reply("invalid utf-8", &reply, 400, "invalid_request");
    // Deep nesting.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let reply = json_raw(&s, "POST", "/v1/books", &deep).await;
    assert_reply("deep nesting", &reply, 400, "invalid_request");
    let deep_meta = format!(
        "{{\"name\": \"x\", \"metadata\": {{\"a\": {}1{}}}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let reply = json_raw(&s, "POST", "/v1/books", &deep_meta).await;
    assert_4xx("deeply nested metadata", &reply);

    if problems.is_empty() {
        assert_eq!(snapshot(&s, &book).await, before);
    }
    assert_no_problems(&problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_types_name_the_field() {
    let s = Server::start().await;
    let (book, codes) = setup(&s).await;
    let before = snapshot(&s, &book).await;
    let code = &codes[2];
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            format!("/v1/coupons/{code}/redeem"),
            json!({"user_id": 1}),
            "user_id",
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/redeem"),
            json!({"user_id": ["u"]}),
            "user_id",
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/redeem"),
            json!({"user_id": null}),
            "user_id",
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/redeem"),
            json!({"user_id": "u", "lock_id": 5}),
            "lock_id",
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/lock"),
            json!({"user_id": "u", "ttl_seconds": "x"}),
            "ttl_seconds",
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/lock"),
            json!({"user_id": "u", "ttl_seconds": 1e20}),
            "ttl_seconds",
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/assign"),
            json!({"user_id": true}),
            "user_id",
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/unlock"),
            json!({"lock_id": {}}),
            "lock_id",
        ),
        (
            "POST",
            format!("/v1/books/{book}/assign"),
            json!({"user_id": 3.5}),
            "user_id",
        ),
        (
            "POST",
            format!("/v1/books/{book}/codes"),
            json!({"codes": "ABC-123"}),
            "codes",
        ),
        (
            "POST",
            format!("/v1/books/{book}/codes"),
            json!({}),
            "codes",
        ),
        (
            "PATCH",
            format!("/v1/books/{book}"),
            json!({"max_total_redemptions": -3}),
            "max_total_redemptions",
        ),
        (
            "PATCH",
            format!("/v1/books/{book}"),
            json!({"max_redemptions_per_coupon": 4_294_967_296u64}),
            "max_redemptions_per_coupon",
        ),
        (
            "PATCH",
            format!("/v1/books/{book}"),
            json!({"valid_until": "2026-13-45T99:00:00Z"}),
            "valid_until",
        ),
        (
            "PATCH",
            format!("/v1/books/{book}"),
            json!({"status": "ACTIVE"}),
            "status",
        ),
        (
            "POST",
            "/v1/books".to_string(),
            json!({"name": "x", "max_total_redemptions": 1e300}),
            "max_total_redemptions",
        ),
        (
            "POST",
            "/v1/api-keys".to_string(),
            json!({"name": "k", "scopes": [1]}),
            "scopes",
        ),
    ];
    let mut problems = Vec::new();
    for (method, path, body, field) in cases {
        let got = s.call(method, &path, Some(body.clone())).await;
        if let Some(p) = invalid_mismatch(&got, field) {
            problems.push(format!("{method} {path} {body}: {p}"));
        }
    }
    // A list of codes holding non-strings names `codes` (or an element of it).
    let got = s
        .post(
            &format!("/v1/books/{book}/codes"),
            json!({"codes": ["ABC-123", 7]}),
        )
        .await;
    assert_error(&got, 400, "invalid_request");
    assert!(
        got.1["error"]["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("codes")),
        "{}",
        got.1
    );
    // Too many codes in one JSON request (at most 10,000).
    let many: Vec<String> = (0..10_001).map(|i| format!("MANY-{i}")).collect();
    let got = s
        .post(&format!("/v1/books/{book}/codes"), json!({ "codes": many }))
        .await;
    problems.extend(invalid_mismatch(&got, "codes").map(|p| format!("10,001 codes: {p}")));
    // Query parameters.
    for path in [
        "/v1/books?limit=0".to_string(),
        "/v1/books?limit=1001".to_string(),
        "/v1/books?limit=ten".to_string(),
        "/v1/redemptions?limit=-1".to_string(),
        format!("/v1/books/{book}/codes?limit=99999999999999999999"),
    ] {
        let got = s.get(&path).await;
        problems.extend(invalid_mismatch(&got, "limit").map(|p| format!("GET {path}: {p}")));
    }
    let path = format!("/v1/books/{book}/codes?status=used");
    let got = s.get(&path).await;
    problems.extend(invalid_mismatch(&got, "status").map(|p| format!("GET {path}: {p}")));
    for path in [
        "/v1/books?cursor=garbage!!",
        "/v1/redemptions?cursor=%FF%FE",
    ] {
        let reply = s.send(s.request(ADMIN_KEY, "GET", path)).await;
        assert_4xx(path, &reply);
    }

    assert_eq!(snapshot(&s, &book).await, before);
    assert_no_problems(&problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huge_input_is_refused() {
    let s = Server::start().await;
    let (book, codes) = setup(&s).await;
    let before = snapshot(&s, &book).await;

    // 2 MiB JSON bodies -> 413.
    let big = "x".repeat(2 * 1024 * 1024);
    for (method, path, body) in [
        (
            "POST",
            "/v1/books".to_string(),
            json!({"name": "big", "description": big}),
        ),
        (
            "POST",
            format!("/v1/coupons/{}/redeem", codes[2]),
            json!({"user_id": "u9", "metadata": {"b": big}}),
        ),
        (
            "PATCH",
            format!("/v1/books/{book}"),
            json!({"metadata": {"b": big}}),
        ),
        (
            "POST",
            format!("/v1/books/{book}/codes"),
            json!({"codes": [big]}),
        ),
    ] {
        let bytes = serde_json::to_vec(&body).unwrap();
        for chunked in [false, true] {
            let reply = s
                .raw_http(
                    method,
                    &path,
                    &[("Content-Type", "application/json")],
                    bytes.clone(),
                    chunked,
                )
                .await;
            assert_reply(
                &format!("{method} {path} 2 MiB (chunked: {chunked})"),
                &reply,
                413,
                "payload_too_large",
            );
        }
    }
    // Same size, not even JSON.
    let reply = s
        .raw_http(
            "POST",
            "/v1/books",
            &[("Content-Type", "application/json")],
            vec![b'{'; 2 * 1024 * 1024],
            false,
        )
        .await;
    assert_reply("2 MiB of braces", &reply, 413, "payload_too_large");
    // The connection-level answer is what a normal client gets too (checked with the
    // same helper on a small body).
    let reply = s
        .raw_http(
            "POST",
            &format!("/v1/coupons/{}/validate", codes[2]),
            &[("Content-Type", "application/json")],
            br#"{"user_id": "u1"}"#.to_vec(),
            false,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["valid"], true, "{}", reply.text);

    // Large but under the limit: refused by validation, naming the field.
    let long = "y".repeat(100_000);
    assert_invalid(&s.post("/v1/books", json!({"name": long})).await, "name");
    assert_invalid(
        &s.post("/v1/books", json!({"name": "ok", "description": long}))
            .await,
        "description",
    );
    assert_invalid(
        &s.post(
            &format!("/v1/coupons/{}/assign", codes[2]),
            json!({"user_id": long}),
        )
        .await,
        "user_id",
    );
    assert_invalid(
        &s.post(
            &format!("/v1/coupons/{}/redeem", codes[2]),
            json!({"user_id": long}),
        )
        .await,
        "user_id",
    );
    // A long user id in a path: documented 4xx or an empty list, never a 5xx.
    let reply = s
        .send(s.request(
            ADMIN_KEY,
            "GET",
            &format!("/v1/users/{}/coupons", "u".repeat(5000)),
        ))
        .await;
    assert!(
        reply.status < 500 && (reply.status == 200 || reply.json["error"]["code"].is_string()),
        "{} {}",
        reply.status,
        reply.text
    );
    if reply.status == 200 {
        assert!(data(&reply.json).is_empty(), "{}", reply.text);
    }
    // An Idempotency-Key over 255 characters.
    let key = "k".repeat(256);
    let got = s
        .call_with_headers(
            ADMIN_KEY,
            "POST",
            "/v1/books",
            &[("Idempotency-Key", key.as_str())],
            Some(json!({"name": "idem"})),
        )
        .await;
    assert_error(&got, 400, "invalid_request");

    assert_eq!(snapshot(&s, &book).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn odd_codes_in_paths() {
    let s = Server::start().await;
    let (book, codes) = setup(&s).await;
    let before = snapshot(&s, &book).await;

    let odd: Vec<String> = vec![
        "%C3%84BC-1".into(),                  // ÄBC-1
        "%E2%98%83%E2%98%83%E2%98%83".into(), // snowmen
        "..%2F..%2Fetc%2Fpasswd".into(),
        "..%2F".into(),
        "%2E%2E".into(),
        "A".repeat(300),
        "A%00B".into(),
        "A%20B%20C".into(),
        "AB".into(),
        "%25%25%25".into(),
        "A%0AB%0D".into(),
        format!("{}%2F..", codes[2]),
        "%F0%9F%92%A9".into(),
        "%FF%FE%FD".into(),
    ];
    let mut problems = Vec::new();
    for code in &odd {
        // The client's URL parser turns a `%2E%2E` segment into `..` and resolves it, so
        // that request leaves the coupon routes: there `not_found` is right.
        let leaves_route = code == "%2E%2E";
        let get = s
            .send(s.request(ADMIN_KEY, "GET", &format!("/v1/coupons/{code}")))
            .await;
        problems.extend(odd_problem(
            &format!("GET {code}"),
            &get,
            "coupon_not_found",
            leaves_route,
        ));
        for action in ["redeem", "lock", "assign", "validate", "void"] {
            let reply = s
                .send(
                    s.request(ADMIN_KEY, "POST", &format!("/v1/coupons/{code}/{action}"))
                        .json(&json!({"user_id": "u1"})),
                )
                .await;
            problems.extend(odd_problem(
                &format!("POST {action} {code}"),
                &reply,
                "coupon_not_found",
                leaves_route,
            ));
        }
        let reply = s
            .send(s.request(
                ADMIN_KEY,
                "DELETE",
                &format!("/v1/coupons/{code}/assignment"),
            ))
            .await;
        problems.extend(odd_problem(
            &format!("DELETE assignment {code}"),
            &reply,
            "coupon_not_found",
            leaves_route,
        ));
        let reply = s
            .send(s.request(ADMIN_KEY, "GET", &format!("/v1/books/{code}")))
            .await;
        problems.extend(odd_problem(
            &format!("GET book {code}"),
            &reply,
            "book_not_found",
            leaves_route,
        ));
    }
    // Empty code: /v1/coupons/ and /v1/coupons//redeem.
    for (method, path) in [
        ("GET", "/v1/coupons/"),
        ("POST", "/v1/coupons//redeem"),
        ("POST", "/v1/coupons//lock"),
    ] {
        let reply = s
            .send(
                s.request(ADMIN_KEY, method, path)
                    .json(&json!({"user_id": "u1"})),
            )
            .await;
        assert!(
            matches!(
                (reply.status, error_code(&reply.json)),
                (404, "not_found" | "coupon_not_found") | (400, "invalid_request")
            ),
            "{method} {path}: {} {}",
            reply.status,
            reply.text
        );
    }
    assert_eq!(snapshot(&s, &book).await, before);
    assert_no_problems(&problems);
}

/// What is wrong with the answer to an odd id in a path, if anything: it must be
/// 404 `not_found_code` or 400 `invalid_request` (or 404 `not_found` when the request left
/// the route), with an error body.
fn odd_problem(
    what: &str,
    reply: &Reply,
    not_found_code: &str,
    leaves_route: bool,
) -> Option<String> {
    assert!(
        reply.status < 500,
        "{what}: {} {}",
        reply.status,
        reply.text
    );
    let code = error_code(&reply.json);
    let ok = (reply.status == 404 && code == not_found_code)
        || (reply.status == 400 && code == "invalid_request")
        || (leaves_route && reply.status == 404 && code == "not_found");
    (!ok).then(|| {
        format!(
            "{what}: expected 404 {not_found_code} or 400 invalid_request, got {} {}",
            reply.status, reply.text
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_routes_are_404_not_found() {
    let s = Server::start().await;
    let (book, _) = setup(&s).await;
    let before = snapshot(&s, &book).await;
    for (method, path) in [
        ("GET", "/v1/nope"),
        ("GET", "/nope"),
        ("POST", "/v1/books/x/y/z"),
        ("GET", "/v2/books"),
        ("GET", "/v1/coupons/ABC-123/nothing"),
        ("DELETE", "/v1/whatever/1"),
        ("GET", "/v1"),
    ] {
        let reply = s.send(s.request(ADMIN_KEY, method, path)).await;
        assert_reply(&format!("{method} {path}"), &reply, 404, "not_found");
        // Also without a token.
        let reply = s.send(s.request("", method, path)).await;
        assert!(
            matches!(reply.status, 401 | 404) && reply.json["error"]["code"].is_string(),
            "{method} {path} without token: {} {}",
            reply.status,
            reply.text
        );
    }
    // A known path with a method it does not have: a 4xx error body, never 5xx.
    for (method, path) in [("DELETE", "/v1/redemptions"), ("PUT", "/v1/books")] {
        let reply = s.send(s.request(ADMIN_KEY, method, path)).await;
        assert_4xx(&format!("{method} {path}"), &reply);
    }
    assert_eq!(snapshot(&s, &book).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn odd_headers_never_5xx() {
    let s = Server::start().await;
    let (book, codes) = setup(&s).await;
    let before = snapshot(&s, &book).await;
    let path = format!("/v1/coupons/{}/redeem", codes[2]);
    let body = r#"{"user_id": "u9"}"#;
    // No content type, a wrong one, a bogus one, with a body that is invalid anyway:
    // a 4xx error body (400 or 415), never a 5xx.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("garbage"),
        Some("application/json; charset=utf-16"),
    ] {
        let reply = s
            .raw("POST", &path, ct, r#"{"user": "u9"}"#.to_string())
            .await;
        assert_4xx(&format!("content type {ct:?}"), &reply);
    }
    // Odd Authorization headers.
    for auth in [
        "Bearer",
        "Bearer ",
        "bearer",
        "Token abc",
        "Bearer a b c",
        "Bearer \u{7f}",
    ] {
        let req = s
            .request("", "POST", &path)
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .body(body);
        match try_send(req).await {
            Ok(reply) => assert_reply(&format!("auth {auth:?}"), &reply, 401, "unauthenticated"),
            // reqwest refuses to send some of these: fine.
            Err(e) => assert!(e.is_builder() || e.is_request(), "{e}"),
        }
    }
    assert_eq!(snapshot(&s, &book).await, before);

    // A JSON content type with parameters is still JSON.
    let reply = s
        .raw(
            "POST",
            &path,
            Some("application/json; charset=utf-8"),
            body.to_string(),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}
