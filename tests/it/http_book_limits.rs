//! Keys limited to books (object-level authorization): walked over every operation of
//! the served OpenAPI document, a key limited to book A answers for book B's objects
//! exactly what an unknown id answers (404 with the route's own not-found code),
//! its lists hold nothing of B, it reaches no key or webhook route, and nothing of B
//! changes. A new route that forgets the check fails here: every route is classified
//! from the document, none is listed by hand.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::common::{Server, assert_error, assert_no_problems, enc, error_code, unique_codes};

const USER: &str = "bola-user";

/// Book B's objects, which the limited keys must never reach.
struct Foreign {
    book: String,
    codes: Vec<String>,
    job: String,
    redemption: String,
    lock: String,
}

impl Foreign {
    /// Every id of B that an answer must not carry.
    fn markers(&self) -> Vec<&str> {
        let mut all = vec![
            self.book.as_str(),
            self.job.as_str(),
            self.redemption.as_str(),
        ];
        all.extend(self.codes.iter().map(String::as_str));
        all
    }
}

/// What the path parameters are filled with: B's objects, or ids that name nothing.
fn values(b: Option<&Foreign>) -> HashMap<&'static str, String> {
    let mut map = HashMap::new();
    let (book, code, job, redemption) = match b {
        Some(b) => (
            b.book.clone(),
            b.codes[0].clone(),
            b.job.clone(),
            b.redemption.clone(),
        ),
        None => (
            "book_no_such".into(),
            "NO-SUCH-CODE".into(),
            "job_no_such".into(),
            "red_no_such".into(),
        ),
    };
    map.insert("book_id", book);
    map.insert("code", code);
    map.insert("job_id", job);
    map.insert("redemption_id", redemption);
    map.insert("user_id", USER.to_string());
    for name in ["key_id", "webhook_id", "delivery_id"] {
        map.insert(name, "no_such_id".to_string());
    }
    map
}

/// The parameter names of a templated path.
fn parameters(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn fill(template: &str, values: &HashMap<&'static str, String>) -> Result<String, String> {
    let mut path = String::new();
    for segment in template.split('/').skip(1) {
        path.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => match values.get(name) {
                Some(value) => path.push_str(&enc(value)),
                None => return Err(format!("{template}: no value for {{{name}}}: add one here")),
            },
            None => path.push_str(segment),
        }
    }
    Ok(path)
}

/// A valid body for a write, so that the route gets as far as its not-found check
/// (invalid bodies are refused first); `None` for the CSV upload.
fn body(method: &str, template: &str, book: &str, lock: &str) -> Option<Value> {
    let action = template
        .split('/')
        .rev()
        .find(|s| !s.starts_with('{'))
        .unwrap_or("");
    Some(match (method, action) {
        ("POST", "upload") => return None,
        ("POST", "assign") if template == "/coupons/assign" => {
            json!({"user_id": USER, "book_id": book})
        }
        ("POST", "assign" | "lock" | "validate" | "redeem") => json!({"user_id": USER}),
        ("POST", "unlock") => json!({"lock_id": lock}),
        ("POST", "codes") => json!({"codes": ["BOLA-NEW-1"]}),
        ("POST", "generate") => json!({"count": 1, "pattern": "BOLA-####"}),
        ("POST", "bulk") => json!({"user_ids": [USER]}),
        ("POST", "void" | "delete") => json!({"codes": ["BOLA-BULK-1"]}),
        ("PATCH", _) if template.contains("/coupons/") => json!({"metadata": {"by": "B"}}),
        ("PATCH", _) => json!({"name": "taken over"}),
        _ => json!({}),
    })
}

async fn probe(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut req = server.request(token, method, path);
    if method != "GET" && method != "DELETE" {
        req = match body {
            Some(body) => req
                .header("content-type", "application/json")
                .body(body.to_string()),
            None => req.header("content-type", "text/csv").body("BOLA-UP-1\n"),
        };
    }
    let reply = server.send(req).await;
    (reply.status, reply.text, reply.json)
}

/// Everything about B an admin sees, to show that nothing of it changed.
async fn snapshot(server: &Server, b: &Foreign) -> Value {
    let mut coupons = Vec::new();
    for code in &b.codes {
        coupons.push(server.coupon(code).await);
    }
    let (_, redemption) = server
        .get(&format!("/v1/redemptions/{}", b.redemption))
        .await;
    let (_, job) = server.get(&format!("/v1/jobs/{}", b.job)).await;
    json!({
        "book": server.book(&b.book).await,
        "codes": server.list_all(&format!("/v1/books/{}/codes", b.book)).await,
        "coupons": coupons,
        "redemption": redemption,
        "job": job,
    })
}

/// Walks every operation as `token` (limited to books without B) and collects every
/// answer that reveals or touches B.
async fn walk(server: &Server, token: &str, b: &Foreign) -> (usize, Vec<String>) {
    let (_, document) = server.call_as("", "GET", "/openapi.json", None).await;
    let paths = document["paths"].as_object().expect("paths");
    let foreign = values(Some(b));
    let unknown = values(None);
    let mut problems = Vec::new();
    let mut addressed = 0;
    for (template, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let open = operation["security"].as_array().is_some_and(|reqs| {
                reqs.iter()
                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            if open {
                continue;
            }
            let method = method.to_ascii_uppercase();
            let what = format!("{method} {template}");
            let names = parameters(template);
            let (path, unknown_path) = match (fill(template, &foreign), fill(template, &unknown)) {
                (Ok(path), Ok(unknown_path)) => (path, unknown_path),
                (Err(problem), _) | (_, Err(problem)) => {
                    problems.push(problem);
                    continue;
                }
            };
            let beyond_books = template.starts_with("/v1/api-keys")
                || template.starts_with("/v1/webhooks")
                || names
                    .iter()
                    .any(|n| ["key_id", "webhook_id", "delivery_id"].contains(n));
            let addresses_b = names
                .iter()
                .any(|n| ["book_id", "code", "job_id", "redemption_id"].contains(n))
                || template == "/coupons/assign";
            if beyond_books {
                let body = body(&method, template, &b.book, &b.lock);
                let (status, text, json) = probe(server, token, &method, &path, body).await;
                if (status, error_code(&json)) != (403, "forbidden") {
                    problems.push(format!("{what}: wanted 403 forbidden, got {status} {text}"));
                }
            } else if addresses_b {
                addressed += 1;
                let got = probe(
                    server,
                    token,
                    &method,
                    &path,
                    body(&method, template, &b.book, &b.lock),
                )
                .await;
                let absent = probe(
                    server,
                    crate::common::ADMIN_KEY,
                    &method,
                    &unknown_path,
                    body(&method, template, "book_no_such", &b.lock),
                )
                .await;
                if got.0 != 404 || (got.0, error_code(&got.2)) != (absent.0, error_code(&absent.2))
                {
                    problems.push(format!(
                        "{what} with B's objects: {} {} (an unknown id answers {} {})",
                        got.0, got.1, absent.0, absent.1
                    ));
                }
            } else if method == "GET" {
                // A list: nothing of B in it, with or without asking for B.
                for query in [
                    String::new(),
                    format!("?book_id={}", b.book),
                    format!("?code={}", b.codes[1]),
                    format!("?user_id={USER}"),
                ] {
                    let (status, text, json) =
                        probe(server, token, "GET", &format!("{path}{query}"), None).await;
                    let refused = status == 404 && error_code(&json) == "book_not_found";
                    if status != 200 && !refused {
                        problems.push(format!("{what}{query}: {status} {text}"));
                    }
                    // A refusal names the book asked for; anything else must not.
                    let shown = b.markers().into_iter().find(|m| text.contains(m));
                    if let Some(marker) = shown.filter(|_| !refused) {
                        problems.push(format!("{what}{query} shows {marker} of book B: {text}"));
                    }
                }
            } else if method == "POST" && matches!(template.as_str(), "/v1/books" | "/coupons") {
                let body = json!({"name": "new", "status": "active"});
                let (status, text, json) = probe(server, token, &method, &path, Some(body)).await;
                if (status, error_code(&json)) != (403, "forbidden") {
                    problems.push(format!(
                        "{what}: a limited key made a book: {status} {text}"
                    ));
                }
            } else if method == "POST" && template == "/v1/validations" {
                // B's code, named in the body, is answered as unknown.
                addressed += 1;
                let body = json!({"user_id": USER, "codes": [b.codes[0]],
                                  "order": {"amount": 1000, "currency": "EUR"}});
                let (status, text, json) = probe(server, token, &method, &path, Some(body)).await;
                if status != 200 || json["results"][0]["reason"] != "coupon_not_found" {
                    problems.push(format!("{what} with B's code: {status} {text}"));
                }
            } else if method == "POST" && template == "/v1/redemptions" {
                // B's code, named in the body, is unknown: nothing is redeemed.
                addressed += 1;
                let body = json!({"user_id": USER, "items": [{"code": b.codes[0]}],
                                  "order": {"amount": 1000, "currency": "EUR"}});
                let (status, text, json) = probe(server, token, &method, &path, Some(body)).await;
                if (status, error_code(&json)) != (404, "coupon_not_found") {
                    problems.push(format!("{what} with B's code: {status} {text}"));
                }
            } else {
                problems.push(format!(
                    "{what}: not classified; say here whether it addresses a book's object"
                ));
            }
        }
    }
    (addressed, problems)
}

#[tokio::test]
async fn a_key_limited_to_books_finds_nothing_of_another_book() {
    let server = Server::start().await;
    let (book_a, codes_a) = server.book_with_codes(json!({}), "BOLA-A", 4).await;
    let other = server.active_book(json!({})).await;
    let book_b = server.active_book(json!({})).await;
    let codes_b = unique_codes("BOLA-B", 4);
    let (status, job) = server
        .post(
            &format!("/v1/books/{book_b}/codes"),
            json!({"codes": codes_b}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    for code in &codes_b[..3] {
        let (status, body) = server.assign(code, USER).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, redemption) = server.redeem(&codes_b[1], USER).await;
    assert_eq!(status, 201, "{redemption}");
    let (status, lock) = server.lock(&codes_b[2], USER).await;
    assert_eq!(status, 200, "{lock}");
    let b = Foreign {
        book: book_b,
        codes: codes_b,
        job: job["id"].as_str().expect("job id").to_string(),
        redemption: redemption["id"]
            .as_str()
            .expect("redemption id")
            .to_string(),
        lock: lock["lock_id"]
            .as_str()
            .or(lock["id"].as_str())
            .expect("lock id")
            .to_string(),
    };
    // The same user has coupons and redemptions in A too.
    for code in &codes_a[..3] {
        let (status, body) = server.assign(code, USER).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, redemption_a) = server.redeem(&codes_a[1], USER).await;
    assert_eq!(status, 201);
    let before = snapshot(&server, &b).await;

    // One book (lists read that book's index) and two books (lists are filtered).
    for books in [json!([book_a]), json!([book_a, other])] {
        let (status, key) = server
            .post(
                "/v1/api-keys",
                json!({"name": "A only", "scopes": ["admin"], "book_ids": books}),
            )
            .await;
        assert_eq!(status, 201, "{key}");
        let token = key["key"].as_str().expect("key").to_string();
        let (addressed, problems) = walk(&server, &token, &b).await;
        assert_no_problems(&problems);
        assert!(
            addressed >= 25,
            "only {addressed} operations address a book's objects"
        );

        // Its own book works, and its lists show it.
        let (status, _) = server
            .call_as(&token, "GET", &format!("/v1/books/{book_a}"), None)
            .await;
        assert_eq!(status, 200);
        let (status, listed) = server.call_as(&token, "GET", "/v1/books", None).await;
        assert_eq!(status, 200);
        assert!(
            listed["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x["id"] == book_a))
        );
        let (_, mine) = server
            .call_as(&token, "GET", &format!("/v1/users/{USER}/coupons"), None)
            .await;
        assert_eq!(mine["data"][0]["code"], codes_a[0].as_str(), "{mine}");
        let (_, redemptions) = server.call_as(&token, "GET", "/v1/redemptions", None).await;
        assert!(
            redemptions
                .to_string()
                .contains(redemption_a["id"].as_str().expect("id"))
        );
        let (_, events) = server
            .call_as(&token, "GET", "/v1/events?limit=1000", None)
            .await;
        assert!(events.to_string().contains(&book_a), "{events}");
    }
    let (status, redeemed) = server
        .post(
            &format!("/v1/coupons/{}/redeem", codes_a[2]),
            json!({"user_id": USER}),
        )
        .await;
    assert_eq!(status, 201, "{redeemed}");

    assert_eq!(snapshot(&server, &b).await, before, "book B changed");
    for code in ["BOLA-NEW-1", "BOLA-UP-1"] {
        assert_error(
            &server.get(&format!("/v1/coupons/{code}")).await,
            404,
            "coupon_not_found",
        );
    }
}

#[tokio::test]
async fn a_key_limited_to_books_redeems_only_their_codes() {
    let server = Server::start().await;
    let (book_a, codes_a) = server.book_with_codes(json!({}), "LIM-A", 2).await;
    let (_, codes_b) = server.book_with_codes(json!({}), "LIM-B", 2).await;
    let (status, key) = server
        .post(
            "/v1/api-keys",
            json!({"name": "till", "scopes": ["coupons:redeem"], "book_ids": [book_a]}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let token = key["key"].as_str().expect("key");
    for code in [&codes_a[0], &codes_b[0]] {
        let (status, body) = server.assign(code, "ann").await;
        assert_eq!(status, 200, "{body}");
    }
    let redeem = |code: String| {
        let server = &server;
        async move {
            server
                .call_as(
                    token,
                    "POST",
                    &format!("/v1/coupons/{code}/redeem"),
                    Some(json!({"user_id": "ann"})),
                )
                .await
        }
    };
    let (status, body) = redeem(codes_a[0].clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_error(
        &redeem(codes_b[0].to_lowercase()).await,
        404,
        "coupon_not_found",
    );
    // Nothing changed in B.
    let coupon = server.coupon(&codes_b[0]).await;
    assert_eq!(coupon["redemption_count"], 0, "{coupon}");
    assert_eq!(coupon["status"], "assigned", "{coupon}");
    // Limited keys make no keys, webhooks or books, so never a wider key.
    for (method, path, body) in [
        (
            "POST",
            "/v1/api-keys",
            json!({"name": "wider", "scopes": ["admin"]}),
        ),
        ("GET", "/v1/api-keys", json!(null)),
        ("GET", "/v1/webhooks", json!(null)),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = server.call_as(token, method, path, body).await;
        // coupons:redeem lacks admin anyway; the admin case is in the walk above.
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }
}
