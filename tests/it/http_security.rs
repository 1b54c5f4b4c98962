//! What a security-minded operator expects at the edges: the bootstrap key follows its
//! setting, end users see only their own data and hold locks briefly, end-user JWTs
//! stay end users', long-lived JWTs are refused, unknown tokens cannot make the store
//! work without limit, and `/metrics` can be closed.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{ADMIN_KEY, Server, assert_error, binary, enc};
use crate::http_auth::{SECRET, claims, hs256, now, server_with_jwt};

#[tokio::test]
async fn the_bootstrap_key_follows_its_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("coupon-book.db");
    let server = Server::start_on(&db, &[]).await;
    let made_with_the_api = server.create_key(&["admin"]).await;
    let (status, keys) = server.get("/v1/api-keys").await;
    assert_eq!(status, 200, "{keys}");
    let bootstrap: Vec<&Value> = keys["data"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["id"] == "key_bootstrap")
        .collect();
    assert_eq!(bootstrap.len(), 1, "marked by its id: {keys}");
    drop(server);

    // Unset: the earlier bootstrap key stops working; the API's key stays.
    let server = Server::start_on(&db, &[("COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", "")]).await;
    assert_error(
        &server.call_as(ADMIN_KEY, "GET", "/v1/books", None).await,
        401,
        "unauthenticated",
    );
    let (status, _) = server
        .call_as(&made_with_the_api, "GET", "/v1/books", None)
        .await;
    assert_eq!(status, 200);
    drop(server);

    // Changed: the new one works, the old one does not.
    let changed = "cb_rotated_bootstrap_key_0123456789";
    let server = Server::start_on(&db, &[("COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", changed)]).await;
    let (status, _) = server.call_as(changed, "GET", "/v1/books", None).await;
    assert_eq!(status, 200);
    assert_error(
        &server.call_as(ADMIN_KEY, "GET", "/v1/books", None).await,
        401,
        "unauthenticated",
    );
    let (_, keys) = server.call_as(changed, "GET", "/v1/api-keys", None).await;
    assert_eq!(
        keys["data"].as_array().map(Vec::len),
        Some(2),
        "the bootstrap key once, and the API's: {keys}"
    );
    drop(server);

    // Too short: the server refuses to start, and says why.
    let output = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", db.display()))
        .env("COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", "change-me")
        .stdout(Stdio::null())
        .output()
        .expect("run coupon-book");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 16 characters"), "{stderr}");
}

#[tokio::test]
async fn an_end_user_sees_nothing_of_another_user() {
    let server = server_with_jwt().await;
    let (_, codes) = server
        .book_with_codes(json!({"requires_assignment": true}), "PRIV", 1)
        .await;
    let (status, body) = server.assign(&codes[0], "bob").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.lock(&codes[0], "bob").await;
    assert_eq!(status, 200, "{body}");

    let alice = hs256(&claims("alice", "coupons:redeem"), SECRET.as_bytes());
    let path = format!("/v1/coupons/{}/validate", enc(&codes[0]));
    let (status, answer) = server
        .call_as(&alice, "POST", &path, Some(json!({"user_id": "alice"})))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["coupon"]["assigned_to"], Value::Null, "{answer}");
    assert_eq!(answer["coupon"]["locked_until"], Value::Null, "{answer}");
    assert!(!answer.to_string().contains("bob"), "{answer}");

    // Bob sees his own coupon whole; a service key sees everything.
    let bob = hs256(&claims("bob", "coupons:redeem"), SECRET.as_bytes());
    let (_, answer) = server
        .call_as(&bob, "POST", &path, Some(json!({"user_id": "bob"})))
        .await;
    assert_eq!(answer["coupon"]["assigned_to"], "bob", "{answer}");
    assert!(answer["coupon"]["locked_until"].is_string(), "{answer}");
    let (_, answer) = server
        .call("POST", &path, Some(json!({"user_id": "alice"})))
        .await;
    assert_eq!(answer["coupon"]["assigned_to"], "bob", "{answer}");
}

#[tokio::test]
async fn an_end_user_token_stays_an_end_users_whatever_else_it_lists() {
    let server = server_with_jwt().await;
    let (_, codes) = server
        .book_with_codes(json!({"requires_assignment": false}), "MORE", 1)
        .await;
    let code = enc(&codes[0]);
    let alice = hs256(
        &claims("alice", "coupons:redeem books:read coupons:assign"),
        SECRET.as_bytes(),
    );
    assert_error(
        &server
            .call_as(
                &alice,
                "POST",
                &format!("/v1/coupons/{code}/redeem"),
                Some(json!({"user_id": "bob"})),
            )
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &server.call_as(&alice, "GET", "/v1/books", None).await,
        403,
        "forbidden",
    );
    let (status, body) = server
        .call_as(
            &alice,
            "POST",
            &format!("/v1/coupons/{code}/redeem"),
            Some(json!({"user_id": "alice"})),
        )
        .await;
    assert_eq!(status, 201, "for itself: {body}");
}

#[tokio::test]
async fn a_claim_can_mark_end_users() {
    let server = Server::start_with_env(&[
        ("COUPON_BOOK_JWT_HS256_SECRET", SECRET),
        ("COUPON_BOOK_JWT_END_USER_RULE", "claim:role=shopper"),
    ])
    .await;
    let (_, codes) = server
        .book_with_codes(json!({"requires_assignment": false}), "CLAIM", 1)
        .await;
    let path = format!("/v1/coupons/{}/validate", enc(&codes[0]));
    let mut shopper = claims("alice", "coupons:redeem");
    shopper["role"] = json!("shopper");
    let shopper = hs256(&shopper, SECRET.as_bytes());
    assert_error(
        &server
            .call_as(&shopper, "POST", &path, Some(json!({"user_id": "bob"})))
            .await,
        403,
        "forbidden",
    );
    // Without the claim, the same scope is a service's: it acts for any user.
    let service = hs256(&claims("checkout", "coupons:redeem"), SECRET.as_bytes());
    let (status, body) = server
        .call_as(&service, "POST", &path, Some(json!({"user_id": "bob"})))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_jwt_that_lives_too_long_is_refused() {
    let server = Server::start_with_env(&[
        ("COUPON_BOOK_JWT_HS256_SECRET", SECRET),
        ("COUPON_BOOK_JWT_MAX_LIFETIME_SECONDS", "3600"),
    ])
    .await;
    let mut long = claims("svc", "books:read");
    long["exp"] = json!(now() + 30 * 86_400);
    let long = hs256(&long, SECRET.as_bytes());
    let (status, body) = server.call_as(&long, "GET", "/v1/books", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("longer than 3600")),
        "{body}"
    );
    let short = hs256(&claims("svc", "books:read"), SECRET.as_bytes());
    let (status, body) = server.call_as(&short, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_end_user_holds_a_lock_briefly() {
    let server = Server::start_with_env(&[
        ("COUPON_BOOK_JWT_HS256_SECRET", SECRET),
        ("COUPON_BOOK_END_USER_MAX_LOCK_TTL_SECONDS", "120"),
    ])
    .await;
    let (_, codes) = server
        .book_with_codes(
            json!({"requires_assignment": false, "max_redemptions_per_coupon": 10, "lock_ttl_seconds": 86400}),
            "TTL",
            1,
        )
        .await;
    let path = format!("/v1/coupons/{}/lock", enc(&codes[0]));
    let alice = hs256(&claims("alice", "coupons:redeem"), SECRET.as_bytes());
    let got = server
        .call_as(
            &alice,
            "POST",
            &path,
            Some(json!({"user_id": "alice", "ttl_seconds": 86400})),
        )
        .await;
    assert_error(&got, 400, "invalid_request");
    assert_eq!(got.1["error"]["field"], "ttl_seconds", "{}", got.1);

    let expires_in = |lock: &Value| {
        let at = lock["expires_at"].as_str().expect("expires_at");
        let at = chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
        at.timestamp() - now() as i64
    };
    let (status, lock) = server
        .call_as(&alice, "POST", &path, Some(json!({"user_id": "alice"})))
        .await;
    assert_eq!(status, 200, "{lock}");
    assert!((100..=121).contains(&expires_in(&lock)), "capped: {lock}");
    // A service may still take the book's day-long lock.
    let (status, lock) = server
        .call("POST", &path, Some(json!({"user_id": "bob"})))
        .await;
    assert_eq!(status, 200, "{lock}");
    assert!(expires_in(&lock) > 86_000, "{lock}");
}

#[tokio::test]
async fn unknown_tokens_are_limited_per_address_before_the_store() {
    let server = Server::start_with_env(&[
        ("COUPON_BOOK_ADDRESS_LOOKUP_LIMIT_PER_SECOND", "1"),
        ("COUPON_BOOK_ADDRESS_LOOKUP_BURST", "5"),
    ])
    .await;
    // The admin key is looked up once, then known for a few seconds.
    let (status, _) = server.get("/v1/books").await;
    assert_eq!(status, 200);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let (status, _) = server
            .call_as(&format!("cbk_guess_{i}"), "GET", "/v1/books", None)
            .await;
        statuses.push(status);
    }
    assert!(statuses[..4].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    // The probe that reads the store counts too; a known key does not.
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 429);
    for _ in 0..20 {
        let (status, body) = server.get("/v1/books").await;
        assert_eq!(status, 200, "a cached key costs no store read: {body}");
    }
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metrics_can_be_closed_with_a_token() {
    let token = "metrics-scrape-token-0123456789";
    let server = Server::start_with_env(&[("COUPON_BOOK_METRICS_TOKEN", token)]).await;
    assert_error(
        &server.call_as("", "GET", "/metrics", None).await,
        401,
        "unauthenticated",
    );
    assert_error(
        &server.call_as(ADMIN_KEY, "GET", "/metrics", None).await,
        401,
        "unauthenticated",
    );
    let reply = server.send(server.request(token, "GET", "/metrics")).await;
    assert_eq!(reply.status, 200);
    assert!(reply.text.contains("http_requests_total"), "{}", reply.text);
}
