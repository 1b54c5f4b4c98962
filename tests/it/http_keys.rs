//! API keys over HTTP: create, list, rename, disable and enable, expiry (also while a
//! key is cached), last use, the checks of a new key, and a disabled key refused by
//! another server process on the same store within the key cache's 5 seconds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{ADMIN_KEY, Server, assert_error, assert_invalid, data, error_code, ts};

/// Creates a key as admin; returns the answer (asserting 201).
async fn create(server: &Server, body: Value) -> Value {
    let (status, key) = server.post("/v1/api-keys", body).await;
    assert_eq!(status, 201, "create key: {key}");
    key
}

/// The key as `GET /v1/api-keys` lists it.
async fn listed(server: &Server, id: &str) -> Value {
    server
        .list_all("/v1/api-keys")
        .await
        .into_iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("key {id} is not listed"))
}

fn in_seconds(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn keys_show_their_limits_and_are_renamed_disabled_and_enabled() {
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let expires_at = in_seconds(3600);
    let created = create(
        &server,
        json!({"name": "shop", "scopes": ["books:read"], "book_ids": [book], "expires_at": expires_at}),
    )
    .await;
    let secret = created["key"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["book_ids"], json!([book]));
    assert_eq!(ts(&created["expires_at"]), ts(&json!(expires_at)));
    assert_eq!(created["last_used_at"], Value::Null);
    assert_eq!(created["disabled"], false);

    let every_book = create(
        &server,
        json!({"name": "all", "scopes": ["admin"], "book_ids": null}),
    )
    .await;
    assert_eq!(every_book["book_ids"], Value::Null);
    assert_eq!(every_book["expires_at"], Value::Null);

    let shown = listed(&server, &id).await;
    assert!(
        shown.get("key").is_none(),
        "the secret is never listed: {shown}"
    );
    assert_eq!(shown["book_ids"], json!([book]));
    assert_eq!(shown["disabled"], false);

    let (status, renamed) = server
        .patch(&format!("/v1/api-keys/{id}"), json!({"name": "shop front"}))
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "shop front");
    assert_eq!(renamed["book_ids"], json!([book]));
    assert!(renamed.get("key").is_none(), "{renamed}");

    let (status, _) = server
        .call_as(&secret, "GET", &format!("/v1/books/{book}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, disabled) = server
        .patch(&format!("/v1/api-keys/{id}"), json!({"disabled": true}))
        .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["disabled"], true);
    assert_eq!(disabled["name"], "shop front", "an absent name stays");
    // On the process that disabled it, at once (its cache is dropped).
    assert_error(
        &server
            .call_as(&secret, "GET", &format!("/v1/books/{book}"), None)
            .await,
        401,
        "unauthenticated",
    );
    assert_eq!(listed(&server, &id).await["disabled"], true);
    let (status, enabled) = server
        .patch(&format!("/v1/api-keys/{id}"), json!({"disabled": false}))
        .await;
    assert_eq!((status, &enabled["disabled"]), (200, &json!(false)));
    let (status, _) = server
        .call_as(&secret, "GET", &format!("/v1/books/{book}"), None)
        .await;
    assert_eq!(status, 200, "enabled again");

    assert_error(
        &server
            .patch("/v1/api-keys/key_no_such", json!({"disabled": true}))
            .await,
        404,
        "api_key_not_found",
    );
}

#[tokio::test]
async fn an_expired_key_is_refused_at_once_even_while_cached() {
    let server = Server::start().await;
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(3000);
    let created = create(
        &server,
        json!({"name": "short", "scopes": ["books:read"],
               "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}),
    )
    .await;
    let secret = created["key"].as_str().expect("key").to_string();
    // Used (and so cached) before it expires ...
    let (status, body) = server.call_as(&secret, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "{body}");
    let wait = (expires - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    // ... and refused right after, well within the cache's 5 seconds.
    assert_error(
        &server.call_as(&secret, "GET", "/v1/books", None).await,
        401,
        "unauthenticated",
    );
    // Still listed, with its expiry, for the admin to see.
    let shown = listed(&server, created["id"].as_str().expect("id")).await;
    assert_eq!(
        ts(&shown["expires_at"]).timestamp_millis(),
        expires.timestamp_millis()
    );
}

#[tokio::test]
async fn a_disabled_key_is_refused_by_another_process_within_five_seconds() {
    let first = Server::start().await;
    let second = Server::start_on(&first.db_path.clone(), &[]).await;
    let created = create(
        &first,
        json!({"name": "elsewhere", "scopes": ["books:read"]}),
    )
    .await;
    let secret = created["key"].as_str().expect("key").to_string();
    let id = created["id"].as_str().expect("id");
    // The second process has the key in its cache.
    let (status, _) = second.call_as(&secret, "GET", "/v1/books", None).await;
    assert_eq!(status, 200);
    let (status, body) = first
        .patch(&format!("/v1/api-keys/{id}"), json!({"disabled": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let disabled_at = Instant::now();
    loop {
        let (status, body) = second.call_as(&secret, "GET", "/v1/books", None).await;
        if status == 401 {
            assert_eq!(error_code(&body), "unauthenticated");
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            disabled_at.elapsed() < Duration::from_millis(5500),
            "the other process still accepts the disabled key after {:?}",
            disabled_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "refused by the other process after {:?}",
        disabled_at.elapsed()
    );
}

#[tokio::test]
async fn last_use_is_recorded_and_not_rewritten_within_a_minute() {
    let server = Server::start().await;
    let created = create(&server, json!({"name": "used", "scopes": ["books:read"]})).await;
    let secret = created["key"].as_str().expect("key").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(listed(&server, &id).await["last_used_at"], Value::Null);
    let before = chrono::Utc::now();
    let (status, _) = server.call_as(&secret, "GET", "/v1/books", None).await;
    assert_eq!(status, 200);
    // Written in the background (every 2 s), never inside the request.
    let started = Instant::now();
    let first = loop {
        let shown = listed(&server, &id).await;
        if !shown["last_used_at"].is_null() {
            break ts(&shown["last_used_at"]);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never recorded: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        first >= before - chrono::Duration::seconds(1) && first <= chrono::Utc::now(),
        "{first} is not the time of the use"
    );
    // More uses within the minute, some after a cache refresh: not written again.
    for _ in 0..3 {
        let (status, _) = server.call_as(&secret, "GET", "/v1/books", None).await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, _) = server.call_as(&secret, "GET", "/v1/books", None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ts(&listed(&server, &id).await["last_used_at"]), first);
    // Unused keys stay unused.
    let admin = server
        .list_all("/v1/api-keys")
        .await
        .into_iter()
        .filter(|k| k["id"] != id)
        .all(|k| {
            k["last_used_at"].is_null()
                || k["name"].as_str().is_some_and(|n| n.contains("bootstrap"))
        });
    assert!(admin, "only the keys that were used have a last use");
}

#[tokio::test]
async fn new_keys_and_changes_are_checked_field_by_field() {
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let key = |extra: Value| {
        let mut body = json!({"name": "checked", "scopes": ["admin"]});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let cases = [
        (key(json!({"book_ids": []})), "book_ids"),
        (key(json!({"book_ids": ["book_no_such"]})), "book_ids[0]"),
        (
            key(json!({"book_ids": [book, "book_no_such"]})),
            "book_ids[1]",
        ),
        (key(json!({"book_ids": "book_1"})), "book_ids"),
        (key(json!({"book_ids": [7]})), "book_ids[0]"),
        (key(json!({"expires_at": in_seconds(-60)})), "expires_at"),
        (key(json!({"expires_at": "tomorrow"})), "expires_at"),
        (key(json!({"expires_at": 1_900_000_000})), "expires_at"),
        (
            json!({"name": "", "scopes": ["admin"], "book_ids": [book]}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let got = server.post("/v1/api-keys", body.clone()).await;
        assert_invalid(&got, field);
    }
    let too_many: Vec<String> = (0..101).map(|i| format!("book_{i}")).collect();
    assert_invalid(
        &server
            .post("/v1/api-keys", key(json!({"book_ids": too_many})))
            .await,
        "book_ids",
    );
    let created = create(&server, key(json!({"book_ids": [book, book]}))).await;
    assert_eq!(
        created["book_ids"],
        json!([book]),
        "a repeated book counts once"
    );
    let path = format!("/v1/api-keys/{}", created["id"].as_str().expect("id"));
    assert_invalid(&server.patch(&path, json!({"name": ""})).await, "name");
    assert_invalid(
        &server.patch(&path, json!({"disabled": "yes"})).await,
        "disabled",
    );
    let (status, same) = server.patch(&path, json!({})).await;
    assert_eq!((status, &same["disabled"]), (200, &json!(false)), "{same}");
    // A key still works when the admin key that made it does.
    let (status, _) = server.call_as(ADMIN_KEY, "GET", "/v1/api-keys", None).await;
    assert_eq!(status, 200);
    assert!(!data(&server.get("/v1/api-keys").await.1).is_empty());
}

#[tokio::test]
async fn the_keys_commands_create_limited_keys_list_and_disable_them() {
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let other = server.active_book(json!({})).await;
    let expires_at = in_seconds(3600);
    let made = server.cli(&[
        "keys",
        "create",
        "--name",
        "cli",
        "--scope",
        "books:read",
        "--book",
        &book,
        "--expires-at",
        &expires_at,
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let secret = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let (status, books) = server.call_as(&secret, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "{books}");
    let ids: Vec<&Value> = data(&books).iter().map(|b| &b["id"]).collect();
    assert_eq!(ids, [&json!(book)], "only its book, not {other}");

    let refused = server.cli(&[
        "keys",
        "create",
        "--name",
        "x",
        "--scope",
        "admin",
        "--book",
        "book_no_such",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("book_no_such"), "{stderr}");
    let refused = server.cli(&[
        "keys",
        "create",
        "--name",
        "x",
        "--scope",
        "admin",
        "--expires-at",
        "soon",
    ]);
    assert!(!refused.status.success());

    let listed_out = server.cli(&["keys", "list"]);
    assert!(listed_out.status.success());
    let text = String::from_utf8_lossy(&listed_out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.contains("\tcli\t"))
        .unwrap_or_else(|| panic!("the key is not listed: {text}"));
    assert!(line.contains(&book) && line.ends_with("\tfalse"), "{line}");
    let id = line.split('\t').next().expect("id").to_string();

    let disabled = server.cli(&["keys", "disable", &id]);
    assert!(
        disabled.status.success(),
        "{}",
        String::from_utf8_lossy(&disabled.stderr)
    );
    // The server sees it when its cache entry ages out (5 s).
    let started = Instant::now();
    loop {
        let (status, _) = server.call_as(&secret, "GET", "/v1/books", None).await;
        if status == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(5500),
            "still accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(listed(&server, &id).await["disabled"], true);
    let enabled = server.cli(&["keys", "enable", &id]);
    assert!(enabled.status.success());
    let (status, _) = server.call_as(&secret, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "enabled again (a refused key is not cached)");
    let unknown = server.cli(&["keys", "disable", "key_no_such"]);
    assert!(!unknown.status.success());
}
