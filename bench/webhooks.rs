//! `coupon-book-webhook-bench`: what webhooks cost and how late they arrive.
//!
//! Runs the release server on a fresh store and a receiver in this process (loopback).
//!
//! 1. Lag: redemptions at a fixed rate (default 1,000/s for 10 s) with an endpoint
//!    subscribed to `coupon.redeemed`; for each redemption, the time from its 201 (sent
//!    after the commit) to its arrival at the receiver, and from the event's creation
//!    inside the write to its arrival. p50/p99/max, and whether every one arrived.
//! 2. Cost: closed-loop redeem throughput without and with a subscribed endpoint,
//!    alternating A, B, A, B in the same server, and the ratio B/A.
//!
//! Run: `cargo build --release --workspace && ./target/release/coupon-book-webhook-bench
//! [--rate 1000] [--lag-seconds 10] [--seconds 5] [--connections 64]`

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

const ADMIN_KEY: &str = "bench-admin-key-0123456789";

struct Options {
    rate: u64,
    lag_seconds: u64,
    seconds: u64,
    connections: usize,
}

fn options() -> Options {
    let mut options = Options {
        rate: 1000,
        lag_seconds: 10,
        seconds: 5,
        connections: 64,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (args[i].as_str(), value) {
            ("--rate", Some(v)) if v > 0 => options.rate = v,
            ("--lag-seconds", Some(v)) => options.lag_seconds = v,
            ("--seconds", Some(v)) => options.seconds = v,
            ("--connections", Some(v)) if v > 0 => options.connections = v as usize,
            (other, _) => {
                eprintln!(
                    "usage: coupon-book-webhook-bench [--rate N] [--lag-seconds N] [--seconds N] [--connections N] (bad: {other})"
                );
                std::process::exit(2);
            }
        }
        i += 2;
    }
    options
}

/// Wall-clock milliseconds (fractional), comparable with the server's timestamps.
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe: PathBuf = std::env::current_exe()
        .expect("current exe")
        .with_file_name("coupon-book");
    let mut child = Command::new(&exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", dir.path().join("bench.db").display()))
        .env("COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", ADMIN_KEY)
        .env("COUPON_BOOK_RATE_LIMIT_PER_SECOND", "0")
        .env("COUPON_BOOK_UNKNOWN_CODE_LIMIT_PER_MINUTE", "0")
        .env("COUPON_BOOK_WEBHOOK_ALLOW_PRIVATE", "1")
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
        _dir: dir,
    }
}

/// One keep-alive HTTP/1.1 connection to the server.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
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
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {ADMIN_KEY}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
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
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// What the receiver saw of each redemption: first arrival and the event's creation.
#[derive(Default)]
struct Arrivals {
    /// redemption id -> (arrived at ms, created_at ms)
    first: HashMap<String, (f64, f64)>,
    requests: usize,
}

async fn receive(State(arrivals): State<Arc<Mutex<Arrivals>>>, body: Bytes) -> &'static str {
    let at = now_ms();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let created = event["created_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis() as f64)
        .unwrap_or(at);
    let id = event["data"]["id"].as_str().unwrap_or("").to_string();
    if let Ok(mut arrivals) = arrivals.lock() {
        arrivals.requests += 1;
        arrivals.first.entry(id).or_insert((at, created));
    }
    "ok"
}

async fn start_receiver(arrivals: Arc<Mutex<Arrivals>>) -> String {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(arrivals);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/hook")
}

fn codes(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:08}")).collect()
}

async fn load_codes(conn: &mut Conn, book_id: &str, codes: &[String]) {
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

/// Admin calls open their own connection: the server closes idle ones.
async fn subscribe(addr: &str, url: &str) -> String {
    let (status, hook) = Conn::open(addr)
        .await
        .send(
            "POST",
            "/v1/webhooks",
            Some(&json!({"url": url, "event_types": ["coupon.redeemed"]})),
        )
        .await;
    assert_eq!(status, 201, "subscribe: {hook}");
    hook["id"].as_str().expect("id").to_string()
}

async fn unsubscribe(addr: &str, id: &str) {
    let (status, body) = Conn::open(addr)
        .await
        .send("DELETE", &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 204, "unsubscribe: {body}");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Redemptions at a fixed rate; returns redemption id -> time its 201 arrived (ms).
async fn paced_redemptions(
    addr: Arc<String>,
    codes: Arc<Vec<String>>,
    rate: u64,
    seconds: u64,
) -> HashMap<String, f64> {
    let total = (rate * seconds) as usize;
    let workers = 32usize;
    let start = Instant::now() + Duration::from_millis(50);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let addr = addr.clone();
            let codes = codes.clone();
            tokio::spawn(async move {
                let mut conn = Conn::open(&addr).await;
                let mut acked = Vec::new();
                let mut i = w;
                while i < total {
                    tokio::time::sleep_until((start + interval * i as u32).into()).await;
                    let body = json!({"user_id": format!("lag-{i}")});
                    let (status, redemption) = conn
                        .send(
                            "POST",
                            &format!("/v1/coupons/{}/redeem", codes[i]),
                            Some(&body),
                        )
                        .await;
                    let at = now_ms();
                    if status == 201
                        && let Some(id) = redemption["id"].as_str()
                    {
                        acked.push((id.to_string(), at));
                    }
                    i += workers;
                }
                acked
            })
        })
        .collect();
    let mut acked = HashMap::new();
    for task in tasks {
        acked.extend(task.await.expect("worker"));
    }
    acked
}

/// Closed-loop redemptions for `seconds`; returns redemptions per second.
async fn max_redemptions(
    addr: Arc<String>,
    codes: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    connections: usize,
    seconds: u64,
) -> (f64, usize) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let addr = addr.clone();
            let codes = codes.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut conn = Conn::open(&addr).await;
                let mut done = 0usize;
                while Instant::now() < deadline {
                    let Some(code) = codes.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let body = json!({"user_id": "bench-user"});
                    if conn
                        .send("POST", &format!("/v1/coupons/{code}/redeem"), Some(&body))
                        .await
                        .0
                        == 201
                    {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let mut done = 0;
    for task in tasks {
        done += task.await.expect("worker");
    }
    (done as f64 / started.elapsed().as_secs_f64(), done)
}

/// Waits until the receiver has every id in `ids`, or `limit` passes; returns the
/// time it took and how many are missing.
async fn drain(arrivals: &Arc<Mutex<Arrivals>>, ids: &[String], limit: Duration) -> (f64, usize) {
    let started = Instant::now();
    loop {
        let missing = {
            let arrivals = arrivals.lock().expect("lock");
            ids.iter()
                .filter(|id| !arrivals.first.contains_key(*id))
                .count()
        };
        if missing == 0 || started.elapsed() > limit {
            return (started.elapsed().as_secs_f64(), missing);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    let server = start_server();
    let addr = Arc::new(server.addr.clone());
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let receiver = start_receiver(arrivals.clone()).await;
    let mut admin = Conn::open(&addr).await;
    let book = json!({"name": "webhook bench", "status": "active", "requires_assignment": false});
    let (status, book) = admin.send("POST", "/v1/books", Some(&book)).await;
    assert_eq!(status, 201, "create book: {book}");
    let book_id = book["id"].as_str().expect("book id").to_string();
    let lag_codes = Arc::new(codes("LAG", (options.rate * options.lag_seconds) as usize));
    let load_codes_n = 60_000 * options.seconds.max(1) as usize;
    let load = Arc::new(codes("LOAD", load_codes_n));
    load_codes(&mut admin, &book_id, &lag_codes).await;
    load_codes(&mut admin, &book_id, &load).await;
    println!(
        "coupon-book webhook bench: {} cores, receiver in this process on loopback",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // 1. Lag at a fixed rate.
    let hook = subscribe(&addr, &receiver).await;
    let sent_at = Instant::now();
    let acked = paced_redemptions(
        addr.clone(),
        lag_codes.clone(),
        options.rate,
        options.lag_seconds,
    )
    .await;
    let offered = acked.len() as f64 / sent_at.elapsed().as_secs_f64();
    let ids: Vec<String> = acked.keys().cloned().collect();
    let (_, missing) = drain(&arrivals, &ids, Duration::from_secs(60)).await;
    let (mut from_ack, mut from_created) = (Vec::new(), Vec::new());
    {
        let arrivals = arrivals.lock().expect("lock");
        for (id, ack) in &acked {
            if let Some((arrived, created)) = arrivals.first.get(id) {
                from_ack.push((arrived - ack).max(0.0));
                from_created.push(arrived - created);
            }
        }
    }
    from_ack.sort_by(f64::total_cmp);
    from_created.sort_by(f64::total_cmp);
    println!(
        "lag at {:.0} redemptions/s ({} redemptions, {} not delivered):",
        offered,
        acked.len(),
        missing
    );
    for (name, lags) in [
        ("  201 sent -> receiver", &from_ack),
        ("  event created -> receiver", &from_created),
    ] {
        println!(
            "{name:<30} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
            percentile(lags, 0.50),
            percentile(lags, 0.99),
            lags.last().copied().unwrap_or(f64::NAN)
        );
    }
    unsubscribe(&addr, &hook).await;

    // 2. Throughput without (A) and with (B) a subscribed endpoint, alternating.
    let next = Arc::new(AtomicUsize::new(0));
    let mut without = Vec::new();
    let mut with = Vec::new();
    for round in 0..2 {
        let (a, _) = max_redemptions(
            addr.clone(),
            load.clone(),
            next.clone(),
            options.connections,
            options.seconds,
        )
        .await;
        println!("  round {round} A: no endpoint        {a:>8.0} redemptions/s");
        without.push(a);
        let hook = subscribe(&addr, &receiver).await;
        let before = arrivals.lock().expect("lock").requests;
        let (b, done) = max_redemptions(
            addr.clone(),
            load.clone(),
            next.clone(),
            options.connections,
            options.seconds,
        )
        .await;
        let during = arrivals.lock().expect("lock").requests - before;
        // Let the endpoint catch up before the next A phase.
        let catch_up = Instant::now();
        while arrivals.lock().expect("lock").requests - before < done
            && catch_up.elapsed() < Duration::from_secs(60)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!(
            "  round {round} B: 1 endpoint          {b:>8.0} redemptions/s  ({during} delivered during the phase, the rest {:.1} s after)",
            catch_up.elapsed().as_secs_f64()
        );
        with.push(b);
        unsubscribe(&addr, &hook).await;
    }
    let a = without.iter().sum::<f64>() / without.len() as f64;
    let b = with.iter().sum::<f64>() / with.len() as f64;
    println!(
        "redeem throughput, {} connections: without endpoint {a:.0}/s, with endpoint {b:.0}/s, ratio {:.2}",
        options.connections,
        b / a
    );
    drop(server);
}
