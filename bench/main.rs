//! `coupon-book-bench`: throughput and latency of the release server on a fresh store,
//! driven over loopback HTTP/1.1 keep-alive connections, with baselines measured in the
//! same run so the ratios mean something on a noisy machine.
//!
//! Run: `cargo build --release && cargo run --release -p coupon-book-bench --bin
//! coupon-book-bench -- [--seconds 5] [--connections 64]` (the first builds the server)
//! and `... -- codes` for the bulk code figures (see bench/codes.rs), `... -- bulk
//! [users]` for bulk assign against single assign calls (bench/bulk.rs).
//!
//! Phases: (a) `GET /healthz`; (b) redeem of distinct single-use codes; (c) lock then
//! redeem with the lock; (d) the same redemptions straight through the `Store`, no HTTP,
//! same durability. Prints req/s, p50/p99 latency and the ratios (b)/(a), (b)/(d).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes_body::Body;
use coupon_book::domain::book::CreateBook;
use coupon_book::domain::event::Actor;
use coupon_book::domain::job::{CodeIntake, JobKind};
use coupon_book::store::sqlite::SqliteStore;
use coupon_book::store::{DynStore, RedeemRequest, Write};
use http_body_util::BodyExt;
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// The bench's writes, made as one API key would make them.
fn by() -> Write {
    Write::by(Actor::api_key("key_bench"))
}

const ADMIN_KEY: &str = "bench-admin-key-0123456789";

mod bytes_body {
    pub type Body = http_body_util::Full<hyper::body::Bytes>;
}

struct Options {
    seconds: u64,
    connections: usize,
    codes: usize,
    /// Rounds of the order bench (each runs every kind once).
    rounds: usize,
}

fn options() -> Options {
    let mut options = Options {
        seconds: 5,
        connections: 64,
        codes: 200_000,
        rounds: 5,
    };
    // After the mode word, if any (`coupon-book-bench order --seconds 3`).
    let args: Vec<String> = std::env::args()
        .skip(1)
        .skip_while(|a| !a.starts_with("--"))
        .collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (args[i].as_str(), value) {
            ("--seconds", Some(v)) => options.seconds = v,
            ("--connections", Some(v)) => options.connections = v as usize,
            ("--codes", Some(v)) => options.codes = v as usize,
            ("--rounds", Some(v)) if v > 0 => options.rounds = v as usize,
            (other, _) => {
                eprintln!(
                    "usage: coupon-book-bench [--seconds N] [--connections N] [--codes N] [--rounds N] (bad: {other})"
                );
                std::process::exit(2);
            }
        }
        i += 2;
    }
    options
}

/// The release server, on a fresh database in a temporary directory.
struct Server {
    child: Child,
    addr: String,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_server_on(&dir.path().join("bench.db"));
    server._dir = Some(dir);
    server
}

/// The release server on the given database file.
fn start_server_on(db: &std::path::Path) -> Server {
    let exe: PathBuf = std::env::current_exe()
        .expect("current exe")
        .with_file_name("coupon-book");
    let mut child = Command::new(&exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", db.display()))
        .env("COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", ADMIN_KEY)
        .env("COUPON_BOOK_RATE_LIMIT_PER_SECOND", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {}: {e} (build it with cargo build --release)",
                exe.display()
            )
        });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read listen line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    Server {
        child,
        addr,
        _dir: None,
    }
}

/// Size of the server's write-ahead log, in MB (how much disk it holds beyond the data).
fn wal_mb(server: &Server) -> f64 {
    let Some(dir) = &server._dir else { return 0.0 };
    std::fs::metadata(dir.path().join("bench.db-wal"))
        .map(|m| m.len() as f64 / 1e6)
        .unwrap_or(0.0)
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sender: http1::SendRequest<Body>,
    host: String,
}

impl Conn {
    async fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        Conn {
            sender,
            host: addr.to_string(),
        }
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.send_bytes(method, path, "application/json", bytes.into_bytes())
            .await
    }

    async fn send_bytes(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        bytes: impl Into<hyper::body::Bytes>,
    ) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {ADMIN_KEY}"))
            .header("content-type", content_type)
            .body(Body::new(bytes.into()))
            .expect("request");
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("send");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, value)
    }
}

#[derive(Default)]
struct Outcome {
    done: usize,
    failed: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Outcome {
    fn per_second(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }

    fn merge(&mut self, other: Outcome) {
        self.done += other.done;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
    }
}

/// Runs `work` on `connections` workers until `seconds` pass or it reports no more
/// work; each call is one operation, timed.
async fn drive<F, Fut>(connections: usize, make: F) -> Outcome
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections).map(|i| tokio::spawn(make(i))).collect();
    let mut total = Outcome::default();
    for task in tasks {
        total.merge(task.await.expect("worker"));
    }
    total.elapsed = started.elapsed();
    total
}

async fn http_phase(
    addr: Arc<String>,
    connections: usize,
    seconds: u64,
    codes: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    kind: &'static str,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    drive(connections, move |_| {
        let addr = addr.clone();
        let codes = codes.clone();
        let next = next.clone();
        async move {
            let mut conn = Conn::open(&addr).await;
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = match kind {
                    "healthz" => conn.send("GET", "/healthz", None).await.0 == 200,
                    _ => {
                        let Some(code) = codes.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        let user = json!({"user_id": "bench-user"});
                        if kind == "redeem" {
                            conn.send("POST", &format!("/v1/coupons/{code}/redeem"), Some(&user))
                                .await
                                .0
                                == 201
                        } else {
                            let (status, lock) = conn
                                .send("POST", &format!("/v1/coupons/{code}/lock"), Some(&user))
                                .await;
                            let redeem =
                                json!({"user_id": "bench-user", "lock_id": lock["lock_id"]});
                            status == 200
                                && conn
                                    .send(
                                        "POST",
                                        &format!("/v1/coupons/{code}/redeem"),
                                        Some(&redeem),
                                    )
                                    .await
                                    .0
                                    == 201
                        }
                    }
                };
                out.latencies.push(started.elapsed());
                if ok {
                    out.done += 1;
                } else {
                    out.failed += 1;
                }
            }
            out
        }
    })
    .await
}

async fn store_phase(
    store: DynStore,
    connections: usize,
    seconds: u64,
    codes: Arc<Vec<String>>,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let next = Arc::new(AtomicUsize::new(0));
    drive(connections, move |_| {
        let store = store.clone();
        let codes = codes.clone();
        let next = next.clone();
        async move {
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let Some(code) = codes.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let started = Instant::now();
                let request = RedeemRequest {
                    code: code.clone(),
                    user_id: "bench-user".into(),
                    lock_id: None,
                    metadata: None,
                    order: None,
                };
                let ok = store.redeem(request, by()).await.is_ok();
                out.latencies.push(started.elapsed());
                if ok {
                    out.done += 1;
                } else {
                    out.failed += 1;
                }
            }
            out
        }
    })
    .await
}

fn codes(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:08}")).collect()
}

async fn load_codes_http(conn: &mut Conn, book_id: &str, codes: &[String]) {
    for chunk in codes.chunks(10_000) {
        let (status, job) = conn
            .send(
                "POST",
                &format!("/v1/books/{book_id}/codes"),
                Some(&json!({ "codes": chunk })),
            )
            .await;
        assert_eq!(status, 201, "load codes: {job}");
    }
}

fn report(name: &str, out: &mut Outcome, unit: &str) {
    println!(
        "{name:<38} {:>10.0} {unit:<9} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} ok, {} failed, {:.1} s)",
        out.per_second(),
        out.percentile(0.50).as_secs_f64() * 1e3,
        out.percentile(0.99).as_secs_f64() * 1e3,
        out.done,
        out.failed,
        out.elapsed.as_secs_f64(),
    );
}

mod bulk;
mod codes;
mod order;

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("codes") {
        codes::run().await;
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("bulk") {
        bulk::run().await;
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("order") {
        order::run().await;
        return;
    }
    let options = options();
    let server = start_server();
    let addr = Arc::new(server.addr.clone());
    let mut admin = Conn::open(&addr).await;
    let book = json!({"name": "bench", "status": "active", "requires_assignment": false});
    let (status, book) = admin.send("POST", "/v1/books", Some(&book)).await;
    assert_eq!(status, 201, "create book: {book}");
    let book_id = book["id"].as_str().expect("book id").to_string();
    let redeem_codes = Arc::new(codes("RDM", options.codes));
    let pair_codes = Arc::new(codes("PAIR", options.codes / 2));
    load_codes_http(&mut admin, &book_id, &redeem_codes).await;
    load_codes_http(&mut admin, &book_id, &pair_codes).await;

    println!(
        "coupon-book bench: {} connections, {} s per phase, {} cores, synchronous=FULL",
        options.connections,
        options.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let (c, s) = (options.connections, options.seconds);
    let mut healthz = http_phase(
        addr.clone(),
        c,
        s,
        Arc::default(),
        Arc::default(),
        "healthz",
    )
    .await;
    report("(a) GET /healthz", &mut healthz, "req/s");
    let mut redeem = http_phase(
        addr.clone(),
        c,
        s,
        redeem_codes.clone(),
        Arc::default(),
        "redeem",
    )
    .await;
    report("(b) POST redeem (distinct codes)", &mut redeem, "req/s");
    let wal_under_load = wal_mb(&server);
    let mut pairs = http_phase(
        addr.clone(),
        c,
        s,
        pair_codes.clone(),
        Arc::default(),
        "pairs",
    )
    .await;
    report("(c) lock + redeem pairs", &mut pairs, "pairs/s");
    let wal_after_load = wal_mb(&server);
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "WAL file: {wal_under_load:.1} MB after (b), {wal_after_load:.1} MB after (c), {:.1} MB 2 s later",
        wal_mb(&server)
    );
    drop(server);

    let dir = tempfile::tempdir().expect("temp dir");
    let store: DynStore =
        Arc::new(SqliteStore::open(dir.path().join("direct.db")).expect("open store"));
    let settings = serde_json::from_value::<CreateBook>(
        json!({"name": "direct", "status": "active", "requires_assignment": false}),
    )
    .expect("book body")
    .into_settings()
    .expect("settings");
    let direct_book = store
        .create_book(settings, by())
        .await
        .expect("create book");
    let direct_codes = Arc::new(codes("DIRECT", options.codes));
    for chunk in direct_codes.chunks(10_000) {
        let intake = CodeIntake::from_codes(chunk.iter().map(String::as_str));
        store
            .add_codes(&direct_book.id, JobKind::Upload, intake, by())
            .await
            .expect("add codes");
    }
    let mut direct = store_phase(store, c, s, direct_codes).await;
    report(
        "(d) Store::redeem in-process (no HTTP)",
        &mut direct,
        "ops/s",
    );

    println!();
    println!(
        "ratio (b)/(a) redeem vs healthz:     {:.3}",
        redeem.per_second() / healthz.per_second()
    );
    println!(
        "ratio (b)/(d) HTTP vs in-process:    {:.3}",
        redeem.per_second() / direct.per_second()
    );
    println!(
        "ratio (c)/(b) pairs vs redeems:      {:.3}",
        pairs.per_second() / redeem.per_second()
    );
}
