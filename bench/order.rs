//! `coupon-book-bench order`: redeem with an order of 20 items against redeem without an
//! order (and without one in a body of the same size), on one server and one book (10%
//! off, judged on every order), in rotating rounds so every kind sees the same store
//! size and machine noise. Prints each figure and the ratios.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde_json::{Value, json};

use super::{Conn, Outcome, codes, drive, load_codes_http, options, report, start_server};

/// An order of 20 items, as a checkout would send it.
fn order_of_twenty() -> Value {
    let items: Vec<Value> = (0..20)
        .map(|i| json!({"sku": format!("SKU-{i}"), "quantity": 1 + i % 3, "unit_amount": 1999 + i * 100}))
        .collect();
    let amount: i64 = (0..20).map(|i| (1 + i % 3) * (1999 + i * 100)).sum();
    json!({"id": "bench-order", "amount": amount, "currency": "EUR", "items": items})
}

async fn phase(
    addr: Arc<String>,
    connections: usize,
    seconds: u64,
    codes: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    body: Bytes,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    drive(connections, move |_| {
        let (addr, codes, next, body) = (addr.clone(), codes.clone(), next.clone(), body.clone());
        async move {
            let mut conn = Conn::open(&addr).await;
            let mut out = Outcome::default();
            while Instant::now() < deadline {
                let Some(code) = codes.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                let started = Instant::now();
                let path = format!("/v1/coupons/{code}/redeem");
                let (status, _) = conn
                    .send_bytes("POST", &path, "application/json", body.clone())
                    .await;
                out.latencies.push(started.elapsed());
                if status == 201 {
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

pub async fn run() {
    let options = options();
    let server = start_server();
    let addr = Arc::new(server.addr.clone());
    let server_pid = server.child.id();
    let mut admin = Conn::open(&addr).await;
    let book = json!({"name": "bench-order", "status": "active", "requires_assignment": false,
                      "reward": {"type": "percent_off", "percent_off": 10, "currency": "EUR",
                                 "max_discount": 5000}});
    let (status, book) = admin.send("POST", "/v1/books", Some(&book)).await;
    assert_eq!(status, 201, "create book: {book}");
    let book_id = book["id"].as_str().expect("book id").to_string();
    // Bodies are serialized once, as a load generator replays a recorded request. The
    // third kind sends no order in a body padded (JSON whitespace) to the order's size:
    // against it the ratio is the order's own cost, without the extra bytes on the wire.
    let ordered_body = json!({"user_id": "bench-user", "order": order_of_twenty()}).to_string();
    let plain_body = json!({"user_id": "bench-user"}).to_string();
    let padding = " ".repeat(ordered_body.len().saturating_sub(plain_body.len()));
    let padded_body = format!("{{{padding}{}", &plain_body[1..]);
    let mut kinds = Vec::new();
    for (name, prefix, body) in [
        ("redeem without an order", "PLAIN", plain_body),
        ("redeem without, same body size", "PADDED", padded_body),
        ("redeem with a 20-item order", "ORDER", ordered_body),
    ] {
        let codes = Arc::new(codes(prefix, options.codes));
        load_codes_http(&mut admin, &book_id, &codes).await;
        kinds.push(Kind {
            name,
            codes,
            next: Arc::new(AtomicUsize::new(0)),
            body: Bytes::from(body),
            total: Outcome::default(),
            rates: Vec::new(),
            cpu_ticks: 0,
        });
    }
    println!(
        "coupon-book bench order: {} connections, {} rounds of {} s per kind",
        options.connections, options.rounds, options.seconds
    );
    for round in 0..options.rounds {
        // Each round starts with another kind, so a drift in machine speed falls on all.
        for i in 0..kinds.len() {
            let kind = &mut kinds[(round + i) % 3];
            let cpu_before = server_cpu_ticks(server_pid);
            let out = phase(
                addr.clone(),
                options.connections,
                options.seconds,
                kind.codes.clone(),
                kind.next.clone(),
                kind.body.clone(),
            )
            .await;
            kind.cpu_ticks += server_cpu_ticks(server_pid).saturating_sub(cpu_before);
            kind.rates.push(out.per_second());
            kind.total.elapsed += out.elapsed;
            kind.total.merge(out);
        }
    }
    for kind in &mut kinds {
        report(kind.name, &mut kind.total, "req/s");
    }
    // Server CPU per request, in microseconds (a tick is 10 ms).
    let cpu_per_request =
        |i: usize| kinds[i].cpu_ticks as f64 * 10_000.0 / kinds[i].total.done.max(1) as f64;
    println!();
    for (i, kind) in kinds.iter().enumerate() {
        println!(
            "server CPU per request, {:<31} {:7.1} us",
            kind.name,
            cpu_per_request(i)
        );
    }
    let rate = |i: usize| kinds[i].total.per_second();
    // Each round's three phases run back to back, so a round's own ratio sees the least
    // drift; their median is the steadiest figure of a run.
    let round_median = |i: usize, j: usize| {
        let mut ratios: Vec<f64> = (0..options.rounds)
            .map(|r| kinds[i].rates[r] / kinds[j].rates[r])
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios[options.rounds / 2]
    };
    println!();
    println!(
        "ratio with / without an order:          {:.3}  (median of rounds {:.3})",
        rate(2) / rate(0),
        round_median(2, 0)
    );
    println!(
        "ratio with / without, same body size:   {:.3}  (median of rounds {:.3})",
        rate(2) / rate(1),
        round_median(2, 1)
    );
    println!(
        "server CPU per request, without / with: {:.3}",
        cpu_per_request(0) / cpu_per_request(2)
    );
}

/// One kind of redeem request and what it measured.
struct Kind {
    name: &'static str,
    codes: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    body: Bytes,
    total: Outcome,
    /// Requests per second in each round.
    rates: Vec<f64>,
    /// Server CPU time (user + system, in 1/100 s) spent in this kind's phases.
    cpu_ticks: u64,
}

/// The server's CPU time so far, user + system, in the 1/100 s ticks of /proc (0
/// where /proc is missing). Unlike throughput it does not move with the client's share
/// of the cores, so its per-request ratio is the steadier figure.
fn server_cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the parenthesized name: state is the 3rd, utime the 14th, stime the 15th.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}
