//! Who may do what: the auth matrix over every operation of the served OpenAPI
//! document, end-user JWTs, JWT forgeries, rate limits and the code-guessing limit,
//! and the security headers. Black-box, against the real binary.

use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::common;
use crate::common::{ADMIN_KEY, Server, assert_error, enc, error_code};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub(crate) const SECRET: &str = "coupon-book-test-secret-0123456789abcdef";
const SCOPES: [&str; 6] = [
    "admin",
    "books:read",
    "books:write",
    "coupons:assign",
    "coupons:redeem",
    "events:read",
];

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Claims valid for the next 10 minutes.
pub(crate) fn claims(sub: &str, scope: &str) -> Value {
    json!({"sub": sub, "scope": scope, "exp": now() + 600, "iat": now()})
}

pub(crate) fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign HS256")
}

fn service_jwt(scope: &str) -> String {
    hs256(&claims("svc-checkout", scope), SECRET.as_bytes())
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A fresh key pair: (private key PEM for signing, public key PEM for the server).
struct TestKey {
    private_pem: String,
    public_pem: String,
}

fn rsa_key() -> TestKey {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("generate RSA key");
    let private = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).expect("pkcs8");
    let public = pair.public_key().as_der().expect("spki");
    TestKey {
        private_pem: pem("PRIVATE KEY", private.as_ref()),
        public_pem: pem("PUBLIC KEY", public.as_ref()),
    }
}

fn ec_key() -> TestKey {
    let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    )
    .expect("generate P-256 key");
    let private = pair.to_pkcs8v1().expect("pkcs8");
    let public = pair.public_key().as_der().expect("spki");
    TestKey {
        private_pem: pem("PRIVATE KEY", private.as_ref()),
        public_pem: pem("PUBLIC KEY", public.as_ref()),
    }
}

fn rs256(claims: &Value, key: &TestKey) -> String {
    let key = EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).expect("RSA encoding key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("sign RS256")
}

fn es256(claims: &Value, key: &TestKey) -> String {
    let key = EncodingKey::from_ec_pem(key.private_pem.as_bytes()).expect("EC encoding key");
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key).expect("sign ES256")
}

/// A token with `alg: none` and no signature.
fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}

pub(crate) async fn server_with_jwt() -> Server {
    Server::start_with_env(&[("COUPON_BOOK_JWT_HS256_SECRET", SECRET)]).await
}

/// The scopes an operation's security requirements accept; `None` for open routes.
fn accepted_scopes(operation: &Value, document: &Value) -> Option<BTreeSet<String>> {
    let security = operation
        .get("security")
        .or_else(|| document.get("security"))
        .and_then(Value::as_array)?;
    if security
        .iter()
        .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
    {
        return None;
    }
    Some(
        security
            .iter()
            .filter_map(|r| r.get("bearer").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    )
}

/// A concrete path for a templated one: ids that name nothing.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        let name = &rest[start + 1..end - 1];
        out.push_str(if name == "code" {
            "NO-SUCH-CODE"
        } else {
            "no_such_id"
        });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Sends `method path` with `token` (and `{}` as the body of writes).
async fn probe(server: &Server, token: &str, method: &str, path: &str) -> (u16, Value) {
    let mut req = server.request(token, method, path);
    if matches!(method, "POST" | "PUT" | "PATCH") {
        req = req.header("content-type", "application/json").body("{}");
    }
    let reply = server.send(req).await;
    (reply.status, reply.json)
}

/// Walks every operation of the served document with tokens made by `token_for` (a
/// set of scopes -> a bearer token) and collects every answer that breaks the rules.
async fn walk_matrix<F, Fut>(server: &Server, mut token_for: F) -> (usize, Vec<String>)
where
    F: FnMut(Vec<&'static str>) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let (status, document) = server.call_as("", "GET", "/openapi.json", None).await;
    assert_eq!(status, 200, "the document is served without a token");
    let paths = document["paths"].as_object().expect("paths");
    let mut problems = Vec::new();
    let mut checked = 0;
    for (template, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let method = method.to_ascii_uppercase();
            let path = concrete(template);
            let what = format!("{method} {template}");
            checked += 1;
            let Some(accepted) = accepted_scopes(operation, &document) else {
                // Open routes: no token needed.
                let (status, body) = probe(server, "", &method, &path).await;
                if status == 401 || status == 403 {
                    problems.push(format!(
                        "{what} is documented open but answered {status} {body}"
                    ));
                }
                continue;
            };
            if accepted.is_empty() {
                problems.push(format!(
                    "{what} names no scopes: list it in OPERATION_SCOPES (src/http/openapi.rs)"
                ));
                continue;
            }
            let (status, body) = probe(server, "", &method, &path).await;
            if (status, error_code(&body)) != (401, "unauthenticated") {
                problems.push(format!("{what} without a token: {status} {body}"));
            }
            let (status, body) = probe(server, "not-a-real-token", &method, &path).await;
            if (status, error_code(&body)) != (401, "unauthenticated") {
                problems.push(format!("{what} with an unknown token: {status} {body}"));
            }
            let others: Vec<&'static str> = SCOPES
                .iter()
                .copied()
                .filter(|s| *s != "admin" && !accepted.contains(*s))
                .collect();
            if !others.is_empty() {
                let token = token_for(others.clone()).await;
                let (status, body) = probe(server, &token, &method, &path).await;
                if (status, error_code(&body)) != (403, "forbidden") {
                    problems.push(format!("{what} with scopes {others:?}: {status} {body}"));
                }
            }
            for scope in SCOPES.iter().copied().filter(|s| accepted.contains(*s)) {
                let token = token_for(vec![scope]).await;
                let (status, body) = probe(server, &token, &method, &path).await;
                if status == 401 || status == 403 {
                    problems.push(format!("{what} with scope {scope}: {status} {body}"));
                }
                if status >= 500 {
                    problems.push(format!(
                        "{what} with scope {scope}: server error {status} {body}"
                    ));
                }
            }
            if !accepted.contains("admin") {
                problems.push(format!("{what} does not document that admin passes"));
            }
        }
    }
    (checked, problems)
}

#[tokio::test]
async fn every_operation_checks_its_scopes_with_api_keys() {
    let server = server_with_jwt().await;
    let mut keys: HashMap<Vec<&'static str>, String> = HashMap::new();
    for scopes in SCOPES.iter().map(|s| vec![*s]) {
        let key = server.create_key(&scopes).await;
        keys.insert(scopes, key);
    }
    let keys = std::sync::Arc::new(tokio::sync::Mutex::new(keys));
    let (checked, problems) = walk_matrix(&server, |scopes| {
        let keys = keys.clone();
        let server = &server;
        async move {
            let mut keys = keys.lock().await;
            if let Some(key) = keys.get(&scopes) {
                return key.clone();
            }
            let key = server.create_key(&scopes).await;
            keys.insert(scopes, key.clone());
            key
        }
    })
    .await;
    assert!(checked >= 38, "only {checked} operations in the document");
    common::assert_no_problems(&problems);
}

#[tokio::test]
async fn every_operation_checks_its_scopes_with_jwts() {
    // By default a token holding coupons:redeem is an end user's; the matrix is about
    // scopes, so here end users are marked by a claim its service tokens lack.
    let server = Server::start_with_env(&[
        ("COUPON_BOOK_JWT_HS256_SECRET", SECRET),
        ("COUPON_BOOK_JWT_END_USER_RULE", "claim:end_user"),
    ])
    .await;
    let (checked, problems) =
        walk_matrix(
            &server,
            |scopes| async move { service_jwt(&scopes.join(" ")) },
        )
        .await;
    assert!(checked >= 38, "only {checked} operations in the document");
    common::assert_no_problems(&problems);
}

#[tokio::test]
async fn an_end_user_acts_only_for_itself() {
    let server = server_with_jwt().await;
    let (book, codes) = server
        .book_with_codes(
            json!({"requires_assignment": false, "max_redemptions_per_coupon": 5}),
            "EU",
            2,
        )
        .await;
    let code = enc(&codes[0]);
    let alice = hs256(&claims("alice", "coupons:redeem"), SECRET.as_bytes());
    let bob = hs256(&claims("bob", "coupons:redeem openid"), SECRET.as_bytes());

    // Checkout for someone else: refused before anything happens.
    for (method, path, body) in [
        (
            "POST",
            format!("/v1/coupons/{code}/validate"),
            json!({"user_id": "bob"}),
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/lock"),
            json!({"user_id": "bob"}),
        ),
        (
            "POST",
            format!("/v1/coupons/{code}/redeem"),
            json!({"user_id": "bob"}),
        ),
        (
            "POST",
            format!("/coupons/lock/{code}"),
            json!({"user_id": "bob"}),
        ),
        (
            "POST",
            format!("/coupons/redeem/{code}"),
            json!({"user_id": "bob"}),
        ),
    ] {
        let got = server.call_as(&alice, method, &path, Some(body)).await;
        assert_error(&got, 403, "forbidden");
    }
    for path in [
        "/v1/users/bob/coupons",
        "/v1/users/bob/redemptions",
        "/users/bob/coupons",
    ] {
        assert_error(
            &server.call_as(&alice, "GET", path, None).await,
            403,
            "forbidden",
        );
    }

    // For itself it works.
    let (status, body) = server
        .call_as(
            &alice,
            "POST",
            &format!("/v1/coupons/{code}/validate"),
            Some(json!({"user_id": "alice"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, lock) = server
        .call_as(
            &alice,
            "POST",
            &format!("/v1/coupons/{code}/lock"),
            Some(json!({"user_id": "alice"})),
        )
        .await;
    assert_eq!(status, 200, "{lock}");
    let lock_id = lock["lock_id"].as_str().expect("lock id").to_string();

    // Bob cannot release Alice's lock.
    let got = server
        .call_as(
            &bob,
            "POST",
            &format!("/v1/coupons/{code}/unlock"),
            Some(json!({"lock_id": lock_id})),
        )
        .await;
    assert_error(&got, 403, "forbidden");

    let (status, redemption) = server
        .call_as(
            &alice,
            "POST",
            &format!("/v1/coupons/{code}/redeem"),
            Some(json!({"user_id": "alice", "lock_id": lock_id})),
        )
        .await;
    assert_eq!(status, 201, "{redemption}");
    let redemption_id = redemption["id"].as_str().expect("redemption id");
    for path in [
        "/v1/users/alice/coupons",
        "/v1/users/alice/redemptions",
        "/users/alice/coupons",
    ] {
        let (status, body) = server.call_as(&alice, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, mine) = server
        .call_as(&alice, "GET", "/v1/users/alice/redemptions", None)
        .await;
    assert_eq!(common::data(&mine).len(), 1, "{mine}");

    // Books, keys, events, coupons by code and reversals are for services.
    for (method, path, body) in [
        ("GET", "/v1/books".to_string(), None),
        (
            "POST",
            "/v1/books".to_string(),
            Some(json!({"name": "mine"})),
        ),
        ("GET", format!("/v1/books/{book}"), None),
        (
            "PATCH",
            format!("/v1/books/{book}"),
            Some(json!({"status": "paused"})),
        ),
        ("DELETE", format!("/v1/books/{book}"), None),
        (
            "POST",
            format!("/v1/books/{book}/codes"),
            Some(json!({"codes": ["MINE-1"]})),
        ),
        ("GET", format!("/v1/books/{book}/codes"), None),
        (
            "POST",
            format!("/v1/books/{book}/assign"),
            Some(json!({"user_id": "alice"})),
        ),
        ("GET", "/v1/api-keys".to_string(), None),
        (
            "POST",
            "/v1/api-keys".to_string(),
            Some(json!({"name": "x", "scopes": ["admin"]})),
        ),
        ("GET", "/v1/events".to_string(), None),
        ("GET", format!("/v1/coupons/{code}"), None),
        ("POST", format!("/v1/coupons/{code}/void"), Some(json!({}))),
        (
            "POST",
            format!("/v1/coupons/{code}/assign"),
            Some(json!({"user_id": "alice"})),
        ),
        (
            "POST",
            format!("/v1/redemptions/{redemption_id}/reverse"),
            Some(json!({})),
        ),
        ("GET", "/v1/redemptions".to_string(), None),
    ] {
        let (status, body) = server.call_as(&alice, method, &path, body).await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "forbidden"),
            "{method} {path}: {body}"
        );
    }
    // The book is untouched and the redemption stands.
    assert_eq!(server.book(&book).await["status"], "active");
    let (status, body) = server
        .get(&format!("/v1/redemptions/{redemption_id}"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("redeemed")),
        "{body}"
    );
}

#[tokio::test]
async fn forged_expired_and_foreign_jwts_are_refused() {
    let rsa = rsa_key();
    let other_rsa = rsa_key();
    let ec = ec_key();
    let dir = tempfile::tempdir().expect("temp dir");
    let rsa_file = dir.path().join("rsa.pem");
    let ec_file = dir.path().join("ec.pem");
    std::fs::write(&rsa_file, &rsa.public_pem).expect("write RSA key");
    std::fs::write(&ec_file, &ec.public_pem).expect("write EC key");
    let rsa_path = rsa_file.display().to_string();
    let ec_path = ec_file.display().to_string();

    // HS256 with issuer and audience checks.
    let hs = Server::start_with_env(&[
        ("COUPON_BOOK_JWT_HS256_SECRET", SECRET),
        ("COUPON_BOOK_JWT_ISSUER", "https://id.example"),
        ("COUPON_BOOK_JWT_AUDIENCE", "coupon-book"),
    ])
    .await;
    let good = |extra: Value| {
        let mut c = claims("svc", "books:read");
        c["iss"] = json!("https://id.example");
        c["aud"] = json!("coupon-book");
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        c
    };
    let ok = hs256(&good(json!({})), SECRET.as_bytes());
    let (status, body) = hs.call_as(&ok, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "a good HS256 token: {body}");
    let within_leeway = hs256(&good(json!({"exp": now() - 5})), SECRET.as_bytes());
    let (status, body) = hs.call_as(&within_leeway, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "5 s past exp is within the leeway: {body}");

    let mut tampered = ok.clone();
    let dot = tampered.rfind('.').expect("signature part");
    tampered.replace_range(
        dot + 1..dot + 3,
        if &ok[dot + 1..dot + 3] == "AA" {
            "BB"
        } else {
            "AA"
        },
    );
    let mut scope_raised: Vec<&str> = ok.split('.').collect();
    let raised = URL_SAFE_NO_PAD.encode(good(json!({"scope": "admin"})).to_string());
    scope_raised[1] = &raised;
    let scope_raised = scope_raised.join(".");

    let refused: Vec<(&str, String)> = vec![
        (
            "expired",
            hs256(&good(json!({"exp": now() - 120})), SECRET.as_bytes()),
        ),
        (
            "not valid yet (nbf)",
            hs256(&good(json!({"nbf": now() + 300})), SECRET.as_bytes()),
        ),
        (
            "issued in the future (iat)",
            hs256(&good(json!({"iat": now() + 300})), SECRET.as_bytes()),
        ),
        (
            "without exp",
            hs256(&good(json!({"exp": null})), SECRET.as_bytes()),
        ),
        (
            "without sub",
            hs256(&good(json!({"sub": null})), SECRET.as_bytes()),
        ),
        (
            "exp as text",
            hs256(&good(json!({"exp": "tomorrow"})), SECRET.as_bytes()),
        ),
        (
            "wrong secret",
            hs256(
                &good(json!({})),
                b"another-secret-another-secret-0123456789",
            ),
        ),
        ("tampered signature", tampered),
        ("payload changed after signing", scope_raised),
        ("alg none", unsigned(&good(json!({})))),
        (
            "wrong issuer",
            hs256(
                &good(json!({"iss": "https://evil.example"})),
                SECRET.as_bytes(),
            ),
        ),
        (
            "no issuer",
            hs256(&good(json!({"iss": null})), SECRET.as_bytes()),
        ),
        (
            "wrong audience",
            hs256(&good(json!({"aud": "another-service"})), SECRET.as_bytes()),
        ),
        (
            "no audience",
            hs256(&good(json!({"aud": null})), SECRET.as_bytes()),
        ),
        (
            "RS256 where only HS256 is set",
            rs256(&good(json!({})), &rsa),
        ),
        ("garbage in three parts", "abc.def.ghi".to_string()),
    ];
    for (what, token) in &refused {
        let got = hs.call_as(token, "GET", "/v1/books", None).await;
        assert_eq!(
            (got.0, error_code(&got.1)),
            (401, "unauthenticated"),
            "{what}: {}",
            got.1
        );
    }

    // RS256: the RSA public key fixes the algorithm.
    let rs = Server::start_with_env(&[("COUPON_BOOK_JWT_PUBLIC_KEY_FILE", &rsa_path)]).await;
    let token = rs256(&claims("svc", "books:read"), &rsa);
    let (status, body) = rs.call_as(&token, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "a good RS256 token: {body}");
    let refused = [
        // The classic confusion: HMAC keyed with the server's public key.
        (
            "HS256 keyed with the RSA public key",
            hs256(&claims("svc", "admin"), rsa.public_pem.as_bytes()),
        ),
        (
            "RS256 from another key",
            rs256(&claims("svc", "admin"), &other_rsa),
        ),
        (
            "ES256 where RS256 is set",
            es256(&claims("svc", "admin"), &ec),
        ),
        ("alg none", unsigned(&claims("svc", "admin"))),
        (
            "expired",
            rs256(
                &json!({"sub": "svc", "scope": "admin", "exp": now() - 120}),
                &rsa,
            ),
        ),
    ];
    for (what, token) in &refused {
        let got = rs.call_as(token, "GET", "/v1/books", None).await;
        assert_eq!(
            (got.0, error_code(&got.1)),
            (401, "unauthenticated"),
            "{what}: {}",
            got.1
        );
    }

    // ES256 with a P-256 key.
    let es = Server::start_with_env(&[("COUPON_BOOK_JWT_PUBLIC_KEY_FILE", &ec_path)]).await;
    let token = es256(&claims("svc", "books:read"), &ec);
    let (status, body) = es.call_as(&token, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "a good ES256 token: {body}");
    for (what, token) in [
        (
            "HS256 keyed with the EC public key",
            hs256(&claims("svc", "admin"), ec.public_pem.as_bytes()),
        ),
        (
            "RS256 where ES256 is set",
            rs256(&claims("svc", "admin"), &rsa),
        ),
    ] {
        let got = es.call_as(&token, "GET", "/v1/books", None).await;
        assert_eq!(
            (got.0, error_code(&got.1)),
            (401, "unauthenticated"),
            "{what}: {}",
            got.1
        );
    }

    // Without any JWT setting, a JWT is just an unknown token.
    let plain = Server::start().await;
    let got = plain
        .call_as(&service_jwt("admin"), "GET", "/v1/books", None)
        .await;
    assert_error(&got, 401, "unauthenticated");
}

#[tokio::test]
async fn a_busy_caller_is_limited_and_others_are_not() {
    let server = Server::start_with_env(&[
        ("COUPON_BOOK_RATE_LIMIT_PER_SECOND", "1"),
        ("COUPON_BOOK_RATE_LIMIT_BURST", "3"),
        ("COUPON_BOOK_JWT_HS256_SECRET", SECRET),
    ])
    .await;
    // Keys are made first: the admin key has its own bucket.
    let busy = server.create_key(&["books:read"]).await;
    let calm = server.create_key(&["books:read"]).await;

    let first = server.send(server.request(&busy, "GET", "/v1/books")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(header(&first, "ratelimit-limit"), Some("3".to_string()));
    assert_eq!(header(&first, "ratelimit-remaining"), Some("2".to_string()));
    let mut limited = None;
    for _ in 0..10 {
        let reply = server.send(server.request(&busy, "GET", "/v1/books")).await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let limited = limited.expect("a burst of 3 at 1/s must run out within 10 requests");
    assert_eq!(
        error_code(&limited.json),
        "rate_limited",
        "{}",
        limited.text
    );
    let retry: u64 = header(&limited, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        header(&limited, "ratelimit-remaining"),
        Some("0".to_string())
    );

    // Another key, a JWT subject, probes and anonymous callers have their own buckets.
    let calm_reply = server.send(server.request(&calm, "GET", "/v1/books")).await;
    assert_eq!(calm_reply.status, 200, "{}", calm_reply.text);
    let jwt = service_jwt("books:read");
    let jwt_reply = server.send(server.request(&jwt, "GET", "/v1/books")).await;
    assert_eq!(jwt_reply.status, 200, "{}", jwt_reply.text);
    for _ in 0..10 {
        let (status, _) = server.call_as("", "GET", "/healthz", None).await;
        assert_eq!(status, 200, "probes are never limited");
    }
    let (status, _) = server.call_as("", "GET", "/openapi.json", None).await;
    assert_eq!(status, 200, "the address bucket is not the key's");

    // The same subject with a fresh token shares the subject's bucket.
    let mut shared_limited = false;
    for i in 0..6 {
        let token = hs256(
            &json!({"sub": "svc-checkout", "scope": "books:read", "exp": now() + 600 + i}),
            SECRET.as_bytes(),
        );
        if server
            .send(server.request(&token, "GET", "/v1/books"))
            .await
            .status
            == 429
        {
            shared_limited = true;
            break;
        }
    }
    assert!(
        shared_limited,
        "new tokens for one subject share its bucket"
    );
}

#[tokio::test]
async fn guessing_codes_is_limited_per_caller() {
    let server = Server::start_with_env(&[
        ("COUPON_BOOK_UNKNOWN_CODE_LIMIT_PER_MINUTE", "3"),
        ("COUPON_BOOK_UNKNOWN_CODE_BURST", "3"),
    ])
    .await;
    let (_, codes) = server.book_with_codes(json!({}), "REAL", 1).await;
    let guesser = server.create_key(&["coupons:redeem", "books:read"]).await;
    let honest = server.create_key(&["coupons:redeem", "books:read"]).await;

    let mut refused = None;
    for i in 0..8 {
        let path = format!("/v1/coupons/GUESS-{i:04}/validate");
        let req = server
            .request(&guesser, "POST", &path)
            .json(&json!({"user_id": "mallory"}));
        let reply = server.send(req).await;
        match reply.status {
            404 => assert_eq!(error_code(&reply.json), "coupon_not_found"),
            429 => {
                refused = Some((i, reply));
                break;
            }
            other => panic!("guess {i}: {other} {}", reply.text),
        }
    }
    let (at, reply) = refused.expect("the guesser is stopped");
    assert!(at <= 4, "stopped only after {at} unknown codes");
    assert_eq!(error_code(&reply.json), "rate_limited", "{}", reply.text);
    assert!(header(&reply, "retry-after").is_some(), "Retry-After");

    // Blocked from code lookups, even of a real code ...
    let real = format!("/v1/coupons/{}", enc(&codes[0]));
    let (status, _) = server.call_as(&guesser, "GET", &real, None).await;
    assert_eq!(status, 429);
    // ... but not from the rest of the API, and other callers are not affected.
    let (status, body) = server.call_as(&guesser, "GET", "/v1/books", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.call_as(&honest, "GET", &real, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .call_as(&honest, "GET", "/v1/coupons/NOT-THERE", None)
        .await;
    assert_eq!((status, error_code(&body)), (404, "coupon_not_found"));
    let (status, _) = server.call_as(ADMIN_KEY, "GET", &real, None).await;
    assert_eq!(status, 200);
}

fn header(reply: &common::Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn docs_and_answers_carry_security_headers() {
    let server = Server::start().await;
    for path in [
        "/docs/",
        "/docs/swagger-ui-bundle.js",
        "/openapi.json",
        "/v1/books",
        "/healthz",
    ] {
        let reply = server.send(server.request(ADMIN_KEY, "GET", path)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.status);
        assert_eq!(
            header(&reply, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header(&reply, "x-frame-options").as_deref(),
            Some("DENY"),
            "{path}"
        );
        let csp = header(&reply, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path.starts_with("/docs") {
            // Swagger UI loads its own scripts and nothing from elsewhere.
            assert!(csp.contains("script-src 'self'"), "{csp}");
            assert!(
                !csp.contains("unsafe-eval") && !csp.contains("http"),
                "{csp}"
            );
        } else {
            assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        }
    }
    let page = server.send(server.request("", "GET", "/docs/")).await;
    assert!(page.text.contains("swagger-ui-bundle.js"), "{}", page.text);
}

#[tokio::test]
async fn oversized_headers_are_refused_before_any_handler() {
    let server = Server::start().await;
    let many: Vec<(String, String)> = (0..80)
        .map(|i| (format!("x-pad-{i}"), "y".into()))
        .collect();
    let headers: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let reply = server
        .raw_http("GET", "/v1/books", &headers, Vec::new(), false)
        .await;
    assert_eq!(reply.status, 431, "80 headers: {}", reply.text);
    let big = "z".repeat(64 * 1024);
    let reply = server
        .raw_http(
            "GET",
            "/v1/books",
            &[("x-big", big.as_str())],
            Vec::new(),
            false,
        )
        .await;
    assert_eq!(reply.status, 431, "a 64 KiB header: {}", reply.text);
    // The server is fine afterwards.
    let (status, _) = server.get("/v1/books").await;
    assert_eq!(status, 200);
}
