//! Test harness: runs the real `coupon-book` binary on a random loopback port with a
//! fresh SQLite file, and talks to it over HTTP.

pub mod receiver;
pub mod runtime_api;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const ADMIN_KEY: &str = "cb_test_admin_key_0123456789";

/// The server binary under test: the one cargo built with these tests, or
/// `COUPON_BOOK_TEST_BINARY` (to check that a test fails on an earlier build).
pub fn binary() -> PathBuf {
    std::env::var_os("COUPON_BOOK_TEST_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_coupon-book")))
}

/// A running server process. Killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub db_path: PathBuf,
    pub client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server on a fresh temporary database.
    pub async fn start() -> Server {
        Self::start_with_env(&[]).await
    }

    pub async fn start_with_env(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_path = dir.path().join("coupon-book.db");
        let mut server = Self::start_on(&db_path, env).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server on an existing (or new) database file, e.g. to restart after a crash.
    pub async fn start_on(db_path: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--store");
        configure_store(&mut cmd, db_path);
        if on_dynamodb() {
            // Next to the test's files, not under the user's data directory.
            cmd.env("COUPON_BOOK_SPOOL_DIR", db_path.with_extension("spool"));
        }
        cmd.env("COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", ADMIN_KEY)
            .env("COUPON_BOOK_RATE_LIMIT_PER_SECOND", "0")
            .env("COUPON_BOOK_UNKNOWN_CODE_LIMIT_PER_MINUTE", "0")
            .env("COUPON_BOOK_ADDRESS_LOOKUP_LIMIT_PER_SECOND", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // COUPON_BOOK_TEST_LOG=info shows the servers' own logs when a test needs a look.
        if let Ok(level) = std::env::var("COUPON_BOOK_TEST_LOG") {
            cmd.env("RUST_LOG", level);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn coupon-book");
        let stdout = child.stdout.take().expect("stdout");
        // The server prints `listening on <addr>` once the socket is bound.
        let addr = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).expect("read stdout") == 0 {
                    panic!("server exited before listening");
                }
                if let Some(addr) = line.trim().strip_prefix("listening on ") {
                    let addr = addr.to_string();
                    // Keep draining stdout so the server never blocks on a full pipe.
                    std::thread::spawn(move || {
                        let mut sink = String::new();
                        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                            sink.clear();
                        }
                    });
                    return addr;
                }
            }
        })
        .await
        .expect("join");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Server {
            child,
            base: format!("http://{addr}"),
            db_path: db_path.to_path_buf(),
            client,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with the admin key; returns (status, JSON body or Null).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(ADMIN_KEY, method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }

    /// Creates an active book with the given extra fields; returns its id.
    pub async fn active_book(&self, extra: Value) -> String {
        let mut body = json!({"name": "test book", "status": "active"});
        if let (Some(obj), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        let (status, book) = self.post("/v1/books", body).await;
        assert_eq!(status, 201, "create book: {book}");
        book["id"].as_str().expect("book id").to_string()
    }

    /// Adds codes to a book through the JSON form.
    pub async fn add_codes(&self, book_id: &str, codes: &[String]) {
        let (status, job) = self
            .post(
                &format!("/v1/books/{book_id}/codes"),
                json!({ "codes": codes }),
            )
            .await;
        assert_eq!(status, 201, "add codes: {job}");
        assert_eq!(job["inserted"].as_u64(), Some(codes.len() as u64), "{job}");
    }

    /// Kills the process with SIGKILL (no clean shutdown).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the servers of this run keep their data in DynamoDB (scripts/test.sh's
/// second pass) rather than the embedded store.
impl Server {
    /// Runs a `coupon-book` command on this server's store (`--store` is added).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(binary());
        cmd.args(args).arg("--store");
        configure_store(&mut cmd, &self.db_path);
        cmd.env("RUST_LOG", "warn")
            .output()
            .expect("run coupon-book")
    }
}

pub fn on_dynamodb() -> bool {
    std::env::var("COUPON_BOOK_TEST_STORE").as_deref() == Ok("dynamodb")
}

/// `sqlite:<file>` normally. With COUPON_BOOK_TEST_STORE=dynamodb the same tests run
/// against the DynamoDB store on the local DynamoDB-compatible server that
/// scripts/test.sh starts: one table per database path, so a restart finds its data.
fn configure_store(cmd: &mut Command, db_path: &Path) {
    use std::hash::{DefaultHasher, Hash, Hasher};
    if !on_dynamodb() {
        cmd.arg(format!("sqlite:{}", db_path.display()));
        return;
    }
    let endpoint = std::env::var("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT")
        .expect("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT: run the tests with ./scripts/test.sh");
    let mut hasher = DefaultHasher::new();
    db_path.hash(&mut hasher);
    cmd.arg(format!("dynamodb:http-test-{:016x}", hasher.finish()))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("COUPON_BOOK_DYNAMODB_CREATE_TABLE", "1");
}

/// The `error.code` of an error body.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Unique codes for a test, e.g. `unique_codes("RACE", 3)` -> RACE-<rand>-0..2.
pub fn unique_codes(prefix: &str, n: usize) -> Vec<String> {
    let tag = ulid_like();
    (0..n).map(|i| format!("{prefix}-{tag}-{i}")).collect()
}

fn ulid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:X}", nanos % 0xFFFF_FFFF_FFFF)
}

// ---------------------------------------------------------------------------------
// Additions for the HTTP test suites (existing functions above keep their signatures).
// ---------------------------------------------------------------------------------

/// A raw HTTP answer: status, content type, body text and body parsed as JSON (or Null).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Server {
    /// Sends a prepared request; panics only if the server does not answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        try_send(req).await.expect("send")
    }

    /// A request builder for `path` with the given token (empty = no Authorization).
    pub fn request(&self, token: &str, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let req = self.client.request(method, self.url(path));
        if token.is_empty() {
            req
        } else {
            req.bearer_auth(token)
        }
    }

    /// Like `call_as`, with extra request headers.
    pub async fn call_with_headers(
        &self,
        token: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.request(token, method, path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let reply = self.send(req).await;
        (reply.status, reply.json)
    }

    /// Sends raw bytes with the admin key and the given content type (None = no header).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut req = self.request(ADMIN_KEY, method, path);
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        self.send(req.body(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None).await
    }

    /// Creates an API key with these scopes (as admin); returns the secret key.
    pub async fn create_key(&self, scopes: &[&str]) -> String {
        let (status, body) = self
            .post(
                "/v1/api-keys",
                json!({"name": "test key", "scopes": scopes}),
            )
            .await;
        assert_eq!(status, 201, "create api key: {body}");
        body["key"].as_str().expect("key").to_string()
    }

    /// Creates an active book with `extra` settings and `n` fresh codes.
    pub async fn book_with_codes(
        &self,
        extra: Value,
        prefix: &str,
        n: usize,
    ) -> (String, Vec<String>) {
        let book = self.active_book(extra).await;
        let codes = unique_codes(prefix, n);
        if n > 0 {
            self.add_codes(&book, &codes).await;
        }
        (book, codes)
    }

    /// The coupon as the server shows it now (asserts 200).
    pub async fn coupon(&self, code: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/coupons/{}", enc(code))).await;
        assert_eq!(status, 200, "get coupon {code}: {body}");
        body
    }

    /// The book as the server shows it now (asserts 200).
    pub async fn book(&self, book_id: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/books/{}", enc(book_id))).await;
        assert_eq!(status, 200, "get book {book_id}: {body}");
        body
    }

    /// Every item of a list endpoint, following `next_cursor` (asserts each page).
    pub async fn list_all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        for _ in 0..10_000 {
            let url = match &cursor {
                None => format!("{path}{sep}limit=1000"),
                Some(c) => format!("{path}{sep}limit=1000&cursor={}", enc(c)),
            };
            let (status, body) = self.get(&url).await;
            assert_eq!(status, 200, "list {url}: {body}");
            items.extend(body["data"].as_array().expect("data array").iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => {
                    assert!(body["next_cursor"].is_null(), "next_cursor: {body}");
                    return items;
                }
            }
        }
        panic!("list {path} never ended");
    }

    /// Redeems `code` for `user` without a lock; returns (status, body).
    pub async fn redeem(&self, code: &str, user: &str) -> (u16, Value) {
        self.post(
            &format!("/v1/coupons/{}/redeem", enc(code)),
            json!({ "user_id": user }),
        )
        .await
    }

    /// Assigns `code` to `user`; returns (status, body).
    pub async fn assign(&self, code: &str, user: &str) -> (u16, Value) {
        self.post(
            &format!("/v1/coupons/{}/assign", enc(code)),
            json!({ "user_id": user }),
        )
        .await
    }

    /// Locks `code` for `user`; returns (status, body).
    pub async fn lock(&self, code: &str, user: &str) -> (u16, Value) {
        self.post(
            &format!("/v1/coupons/{}/lock", enc(code)),
            json!({ "user_id": user }),
        )
        .await
    }
}

/// Sends a request; `Err` if the server does not answer (e.g. it was killed).
pub async fn try_send(req: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await?;
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
    };
    Ok(Reply {
        status,
        content_type,
        headers,
        text,
        json,
    })
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Asserts an error answer: status, `error.code`, and that the body has a message.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    let (got_status, body) = got;
    assert_eq!(
        (*got_status, error_code(body)),
        (status, code),
        "expected {status} {code}, got {got_status} {body}"
    );
    assert!(
        body["error"]["message"].is_string(),
        "error without message: {body}"
    );
}

/// Asserts a 400 `invalid_request` naming `field` (or a path inside it, e.g. `codes[1]`).
#[track_caller]
pub fn assert_invalid(got: &(u16, Value), field: &str) {
    if let Some(problem) = invalid_mismatch(got, field) {
        panic!("{problem}");
    }
}

/// Why `got` is not a 400 `invalid_request` naming `field`, if it is not.
pub fn invalid_mismatch(got: &(u16, Value), field: &str) -> Option<String> {
    let (status, body) = got;
    let named = body["error"]["field"].as_str().is_some_and(|f| {
        f == field || f.starts_with(&format!("{field}[")) || f.starts_with(&format!("{field}."))
    });
    let ok = *status == 400
        && error_code(body) == "invalid_request"
        && body["error"]["message"].is_string()
        && named;
    (!ok).then(|| format!("expected 400 invalid_request with field {field:?}, got {status} {body}"))
}

/// Panics listing every collected problem, if any.
#[track_caller]
pub fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Parses an RFC 3339 timestamp (panics with the text if it is not one).
#[track_caller]
pub fn ts(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {text}"))
        .with_timezone(&chrono::Utc)
}

/// The `data` array of a list body.
#[track_caller]
pub fn data(body: &Value) -> &Vec<Value> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array: {body}"))
}

impl Server {
    /// Sends one HTTP/1.1 request (admin key) over a fresh TCP connection, writing the body
    /// while reading the answer, so an answer sent before the body was read (e.g. 413) is
    /// still seen even when the server then closes the connection. `chunked` sends the
    /// body with `Transfer-Encoding: chunked` instead of `Content-Length`.
    pub async fn raw_http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        chunked: bool,
    ) -> Reply {
        use std::io::{Read, Write};

        let addr = self.base.trim_start_matches("http://").to_string();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_KEY}\r\nConnection: close\r\n"
        );
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n");
        } else {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let (buf, parsed) = tokio::task::spawn_blocking(move || {
            let mut rd = std::net::TcpStream::connect(&addr).expect("connect");
            rd.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut wr = rd.try_clone().expect("clone socket");
            // The writer runs on its own thread; write errors (the server closed) end it.
            std::thread::spawn(move || {
                if wr.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for chunk in body.chunks(64 * 1024) {
                    let ok = if chunked {
                        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                        framed.extend_from_slice(chunk);
                        framed.extend_from_slice(b"\r\n");
                        wr.write_all(&framed)
                    } else {
                        wr.write_all(chunk)
                    };
                    if ok.is_err() {
                        return;
                    }
                }
                if chunked {
                    let _ = wr.write_all(b"0\r\n\r\n");
                }
                let _ = wr.flush();
            });
            let mut buf = Vec::new();
            let mut tmp = vec![0u8; 64 * 1024];
            let parsed = loop {
                if let Some(parsed) = parse_http_response(&buf) {
                    break Some(parsed);
                }
                match rd.read(&mut tmp) {
                    Ok(0) | Err(_) => break parse_http_response(&buf),
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            };
            let _ = rd.shutdown(std::net::Shutdown::Both);
            (buf, parsed)
        })
        .await
        .expect("raw http thread");
        let (status, headers, body) = parsed.unwrap_or_else(|| {
            panic!(
                "no complete HTTP answer to {method} {path}: {:?}",
                String::from_utf8_lossy(&buf)
            )
        });
        let text = String::from_utf8_lossy(&body).into_owned();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        let mut header_map = reqwest::header::HeaderMap::new();
        for (k, v) in &headers {
            if let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                header_map.append(k, v);
            }
        }
        let content_type = header_map
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Reply {
            status,
            content_type,
            headers: header_map,
            text,
            json,
        }
    }
}

/// (status, headers, body) once `buf` holds a whole HTTP/1.1 response (Content-Length
/// or chunked; 1xx interim answers are skipped).
pub type RawResponse = (u16, Vec<(String, String)>, Vec<u8>);

pub fn parse_http_response(buf: &[u8]) -> Option<RawResponse> {
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        let head_end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let body_start = start + head_end + 4;
        if (100..200).contains(&status) {
            start = body_start;
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let body = &buf[body_start..];
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let mut out = Vec::new();
            let mut pos = 0;
            loop {
                let line_end = body[pos..].windows(2).position(|w| w == b"\r\n")?;
                let size_text = String::from_utf8_lossy(&body[pos..pos + line_end]).into_owned();
                let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
                pos += line_end + 2;
                if size == 0 {
                    return Some((status, headers, out));
                }
                if body.len() < pos + size + 2 {
                    return None;
                }
                out.extend_from_slice(&body[pos..pos + size]);
                pos += size + 2;
            }
        }
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        return (body.len() >= len).then(|| (status, headers, body[..len].to_vec()));
    }
}
