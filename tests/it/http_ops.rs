//! Operations endpoints (no auth): health, readiness, metrics, OpenAPI and docs.

use std::collections::BTreeMap;

use crate::common::*;
use serde_json::json;

/// Every /v1 route of API.md with its methods. Parameter names are normalised to `{}`,
/// since only the shape of a path is part of the contract.
const V1_ROUTES: &[(&str, &[&str])] = &[
    ("/v1/books", &["get", "post"]),
    ("/v1/books/{}", &["get", "patch", "delete"]),
    ("/v1/books/{}/codes", &["get", "post"]),
    ("/v1/books/{}/codes/generate", &["post"]),
    ("/v1/books/{}/codes/upload", &["post"]),
    ("/v1/books/{}/codes/export", &["get"]),
    ("/v1/books/{}/assign", &["post"]),
    ("/v1/books/{}/stats", &["get"]),
    ("/v1/jobs/{}", &["get"]),
    ("/v1/coupons/{}", &["get"]),
    ("/v1/coupons/{}/assign", &["post"]),
    ("/v1/coupons/{}/assignment", &["delete"]),
    ("/v1/coupons/{}/validate", &["post"]),
    ("/v1/coupons/{}/lock", &["post"]),
    ("/v1/coupons/{}/unlock", &["post"]),
    ("/v1/coupons/{}/redeem", &["post"]),
    ("/v1/coupons/{}/void", &["post"]),
    ("/v1/redemptions", &["get"]),
    ("/v1/redemptions/{}/reverse", &["post"]),
    ("/v1/users/{}/coupons", &["get"]),
    ("/v1/users/{}/redemptions", &["get"]),
    ("/v1/events", &["get"]),
    ("/v1/webhooks", &["get", "post"]),
    ("/v1/webhooks/{}", &["delete"]),
    ("/v1/webhooks/{}/deliveries", &["get"]),
    ("/v1/api-keys", &["get", "post"]),
    ("/v1/api-keys/{}", &["delete"]),
];

/// `/v1/books/{book_id}` -> `/v1/books/{}`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "{}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_readiness_need_no_auth() {
    let s = Server::start().await;
    for path in ["/healthz", "/readyz"] {
        let reply = s.send(s.request("", "GET", path)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        // A bad token does not matter either.
        let reply = s.send(s.request("wrong-token", "GET", path)).await;
        assert_eq!(reply.status, 200, "{path} with a bad token: {}", reply.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_requests() {
    let s = Server::start().await;
    let (_, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "MET", 1)
        .await;
    assert_eq!(s.redeem(&codes[0], "u1").await.0, 201);
    for _ in 0..5 {
        assert_eq!(s.get("/v1/books").await.0, 200);
    }
    assert_eq!(s.get("/v1/coupons/NO-SUCH-CODE").await.0, 404);

    let reply = s.send(s.request("", "GET", "/metrics")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.starts_with("text/plain"),
        "content type {:?}",
        reply.content_type
    );
    // Prometheus text: `name{labels} value` lines, with # HELP/# TYPE comments.
    let counters: Vec<&str> = reply
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut request_total = 0.0;
    for line in reply.text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_labels, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = name_labels.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        let counted =
            counters.contains(&name) || name.ends_with("_total") || name.ends_with("_count");
        if name.contains("request") && counted {
            request_total += value;
        }
    }
    assert!(
        request_total >= 8.0,
        "no request counter adding up to the 8+ requests made:\n{}",
        reply.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openapi_describes_every_v1_route() {
    let s = Server::start().await;
    let reply = s.send(s.request("", "GET", "/openapi.json")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.contains("json"),
        "{:?}",
        reply.content_type
    );
    let doc = &reply.json;
    assert!(
        doc.is_object(),
        "not JSON: {}",
        reply.text.chars().take(200).collect::<String>()
    );
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "openapi version: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths object");
    let mut documented: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, item) in paths {
        let methods = item
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        documented.insert(shape(path), methods);
    }
    let mut missing = Vec::new();
    for (path, methods) in V1_ROUTES {
        match documented.get(*path) {
            None => missing.push(format!("{path} (all)")),
            Some(have) => {
                for m in *methods {
                    if !have.iter().any(|h| h == m) {
                        missing.push(format!("{} {path}", m.to_uppercase()));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "not in /openapi.json: {missing:#?}");

    // No auth needed, and the same with a bad token.
    let reply = s.send(s.request("bad", "GET", "/openapi.json")).await;
    assert_eq!(reply.status, 200);
}

/// Error statuses each /v1 operation can answer per API.md, beyond its success.
fn expected_errors(method: &str, path: &str) -> Vec<&'static str> {
    // Every /v1 call is authenticated and rate limited.
    let mut statuses = vec!["401", "403", "429"];
    if method == "post" || method == "patch" {
        // JSON bodies (invalid, too large) and Idempotency-Key; uploads are streamed and
        // not bound by the body limit.
        statuses.push("400");
        if !path.ends_with("/codes/upload") {
            statuses.push("413");
        }
    }
    if path.contains("{}") && !path.starts_with("/v1/users/") {
        statuses.push("404");
    }
    let use_route = ["assign", "lock", "unlock", "redeem"]
        .iter()
        .any(|action| path == format!("/v1/coupons/{{}}/{action}"));
    if use_route || path == "/v1/books/{}/assign" {
        // Book state, coupon state, locks and limits.
        statuses.push("409");
    }
    let lists = [
        "/v1/books",
        "/v1/books/{}/codes",
        "/v1/books/{}/stats",
        "/v1/redemptions",
        "/v1/users/{}/coupons",
        "/v1/users/{}/redemptions",
        "/v1/events",
        "/v1/api-keys",
        "/v1/webhooks",
        "/v1/webhooks/{}/deliveries",
    ];
    if method == "get" && lists.contains(&path) {
        // Lists: limit, cursor, filters (stats: bucket) can be invalid.
        statuses.push("400");
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openapi_documents_error_responses() {
    let s = Server::start().await;
    let reply = s.send(s.request("", "GET", "/openapi.json")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let paths = reply.json["paths"].as_object().expect("paths object");
    let mut problems = Vec::new();
    for (path, item) in paths {
        let path = shape(path);
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(responses) = op.get("responses").and_then(|r| r.as_object()) else {
                continue;
            };
            if responses.contains_key("default") {
                continue;
            }
            let missing: Vec<&str> = expected_errors(method, &path)
                .into_iter()
                .filter(|st| !responses.contains_key(*st))
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "{} {path}: no {}",
                    method.to_uppercase(),
                    missing.join(", ")
                ));
            }
        }
    }
    assert_no_problems(&problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn docs_serve_html_offline() {
    let s = Server::start().await;
    let reply = s.send(s.request("", "GET", "/docs")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.starts_with("text/html"),
        "{:?}",
        reply.content_type
    );
    let lower = reply.text.to_lowercase();
    assert!(lower.contains("<html"), "{}", reply.text);
    assert!(lower.contains("swagger"), "not Swagger UI: {}", reply.text);
    // No CDN: scripts and styles come from the server itself.
    for needle in ["unpkg.com", "cdn.jsdelivr", "cdnjs"] {
        assert!(!lower.contains(needle), "docs load from {needle}");
    }
}
