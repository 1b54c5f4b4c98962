//! The audit trail over HTTP: every event names its actor (an API key, a JWT's
//! subject, or the system for a job's work), jobs name who started them, and
//! `GET /v1/events` filters by type, book, code and user. Black-box, against the real
//! binary.

use serde_json::{Value, json};

use crate::common::{Server, assert_invalid, data, enc};
use crate::http_auth::{SECRET, claims, hs256, server_with_jwt};

/// Creates an API key with these scopes; returns (id, secret).
async fn key(server: &Server, scopes: &[&str]) -> (String, String) {
    let (status, body) = server
        .post(
            "/v1/api-keys",
            json!({"name": "audit key", "scopes": scopes}),
        )
        .await;
    assert_eq!(status, 201, "create key: {body}");
    let id = body["id"].as_str().expect("id").to_string();
    (id, body["key"].as_str().expect("key").to_string())
}

/// Every event a query selects, following `next_cursor` with pages of `limit`.
async fn events(server: &Server, token: &str, query: &str, limit: u32) -> Vec<Value> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let cursor = after.as_deref().map(|a| format!("&after={}", enc(a)));
        let path = format!(
            "/v1/events?limit={limit}&{query}{}",
            cursor.unwrap_or_default()
        );
        let (status, body) = server.call_as(token, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        let page = data(&body);
        assert!(page.len() <= limit as usize, "{path}: {body}");
        found.extend(page.iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return found,
        }
    }
    panic!("{query}: the feed never ended");
}

/// (type, actor type, actor id) of each event.
fn actors(events: &[Value]) -> Vec<(String, String, Value)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["actor"]["type"].as_str().unwrap_or_default().to_string(),
                e["actor"]["id"].clone(),
            )
        })
        .collect()
}

fn row(event_type: &str, actor_type: &str, id: &str) -> (String, String, Value) {
    (event_type.into(), actor_type.into(), json!(id))
}

#[tokio::test]
async fn events_name_the_api_key_or_jwt_that_made_each_change() {
    let server = server_with_jwt().await;
    let (key_id, secret) = key(
        &server,
        &[
            "books:write",
            "coupons:assign",
            "coupons:redeem",
            "events:read",
        ],
    )
    .await;
    let (book, codes) = server
        .book_with_codes(json!({"requires_assignment": false}), "AUD", 2)
        .await;
    let (first, second) = (enc(&codes[0]), enc(&codes[1]));
    // A service's JWT assigns, the end user's own JWT redeems, the API key locks.
    let service = hs256(&claims("svc-crm", "coupons:assign"), SECRET.as_bytes());
    let ann = hs256(&claims("ann", "coupons:redeem"), SECRET.as_bytes());
    let (status, body) = server
        .call_as(
            &service,
            "POST",
            &format!("/v1/coupons/{first}/assign"),
            Some(json!({"user_id": "ann"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .call_as(
            &ann,
            "POST",
            &format!("/v1/coupons/{first}/redeem"),
            Some(json!({"user_id": "ann"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .call_as(
            &secret,
            "POST",
            &format!("/v1/coupons/{second}/lock"),
            Some(json!({"user_id": "bob"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let found = events(&server, &secret, &format!("book_id={}", enc(&book)), 100).await;
    let changes: Vec<_> = actors(&found).into_iter().skip(2).collect();
    assert_eq!(
        changes,
        [
            row("coupon.assigned", "jwt", "svc-crm"),
            row("coupon.redeemed", "jwt", "ann"),
            row("coupon.locked", "api_key", &key_id),
        ]
    );
    // The book and its codes were made with the bootstrap admin key.
    for event in &found[..2] {
        assert_eq!(event["actor"]["type"], "api_key", "{event}");
        assert!(event["actor"]["id"].is_string(), "{event}");
    }
    // The unfiltered feed shows the same actors.
    let feed = events(&server, &secret, "", 1000).await;
    for event in &found {
        assert!(feed.contains(event), "{event} in the feed");
    }
}

#[tokio::test]
async fn a_job_names_its_starter_and_its_work_is_the_systems() {
    let server = Server::start().await;
    let (key_id, secret) = key(&server, &["books:write", "events:read"]).await;
    let book = server.active_book(json!({})).await;
    let (status, job) = server
        .call_as(
            &secret,
            "POST",
            &format!("/v1/books/{book}/codes/generate"),
            Some(json!({"count": 5, "pattern": "JOB-####-####"})),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let job_id = job["id"].as_str().expect("job id");
    let starter = json!({"type": "api_key", "id": key_id});
    assert_eq!(job["started_by"], starter, "{job}");
    let (status, again) = server.get(&format!("/v1/jobs/{job_id}")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["started_by"], starter);
    let added = events(
        &server,
        &secret,
        &format!("type=book.codes_added&book_id={}", enc(&book)),
        10,
    )
    .await;
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0]["actor"], json!({"type": "system", "id": job_id}));
    // Codes added in one request are the caller's own change.
    let (status, body) = server
        .call_as(
            &secret,
            "POST",
            &format!("/v1/books/{book}/codes"),
            Some(json!({"codes": ["JOB-SYNC-1"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["started_by"], starter);
    let added = events(
        &server,
        &secret,
        &format!("type=book.codes_added&book_id={}", enc(&book)),
        10,
    )
    .await;
    assert_eq!(added.len(), 2);
    assert_eq!(added[1]["actor"], starter);
}

#[tokio::test]
async fn the_feed_filters_by_type_book_code_and_user() {
    let server = Server::start().await;
    let loose = json!({"requires_assignment": false});
    let (book_a, a) = server.book_with_codes(loose.clone(), "FLA", 2).await;
    let (book_b, b) = server.book_with_codes(loose, "FLB", 2).await;
    assert_eq!(server.assign(&a[0], "ann").await.0, 200);
    assert_eq!(server.lock(&a[1], "bob").await.0, 200);
    assert_eq!(server.redeem(&a[0], "ann").await.0, 201);
    assert_eq!(server.assign(&b[0], "bob").await.0, 200);
    let (status, body) = server
        .call(
            "DELETE",
            &format!("/v1/coupons/{}/assignment", enc(&b[0])),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let admin = crate::common::ADMIN_KEY;
    let about = |events: &[Value]| -> Vec<(String, String)> {
        events
            .iter()
            .map(|e| {
                let data = &e["data"];
                let about = data["code"].as_str().or(data["id"].as_str());
                (
                    e["type"].as_str().unwrap_or_default().to_string(),
                    about.unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .collect()
    };
    let cases = [
        (
            format!("book_id={}", enc(&book_b)),
            pairs(&[
                ("book.created", &book_b),
                ("book.codes_added", &book_b),
                ("coupon.assigned", &b[0]),
                ("coupon.unassigned", &b[0]),
            ]),
        ),
        (
            format!("code={}", enc(&a[0].to_ascii_lowercase())),
            pairs(&[("coupon.assigned", &a[0]), ("coupon.redeemed", &a[0])]),
        ),
        (
            "user_id=bob".to_string(),
            pairs(&[
                ("coupon.locked", &a[1]),
                ("coupon.assigned", &b[0]),
                ("coupon.unassigned", &b[0]),
            ]),
        ),
        (
            "type=coupon.assigned&type=coupon.locked".to_string(),
            pairs(&[
                ("coupon.assigned", &a[0]),
                ("coupon.locked", &a[1]),
                ("coupon.assigned", &b[0]),
            ]),
        ),
        (
            format!("type=coupon.redeemed&book_id={}&user_id=ann", enc(&book_a)),
            pairs(&[("coupon.redeemed", &a[0])]),
        ),
        (
            format!("book_id={}&code={}", enc(&book_b), enc(&a[0])),
            Vec::new(),
        ),
    ];
    for (query, expected) in &cases {
        let whole = events(&server, admin, query, 1000).await;
        assert_eq!(&about(&whole), expected, "{query}");
        // One at a time, following the cursor: the same events.
        let paged = events(&server, admin, query, 1).await;
        assert_eq!(paged, whole, "{query} by pages of 1");
    }

    // Refusals name the parameter at fault.
    for (query, field) in [
        ("type=coupon.stolen", "type"),
        ("type=coupon.redeemed&type=nope", "type"),
        ("book_id=", "book_id"),
        ("code=", "code"),
        ("user_id=", "user_id"),
        ("limit=0", "limit"),
        ("after=bogus&book_id=x", "after"),
    ] {
        let got = server.get(&format!("/v1/events?{query}")).await;
        assert_invalid(&got, field);
    }
}
