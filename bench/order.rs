//! `coupon-book-bench order`: redeem with an order of 20 items against redeem without an
//! order, on one server and one book (10% off, judged on every order), in alternating
//! rounds so both see the same store size and machine noise. Prints each figure and the
//! ratio with / without.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Conn, Outcome, codes, drive, load_codes_http, options, report, start_server};

const ROUNDS: usize = 3;

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
    body: Arc<Value>,
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
                let (status, _) = conn
                    .send("POST", &format!("/v1/coupons/{code}/redeem"), Some(&body))
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
    let mut admin = Conn::open(&addr).await;
    let book = json!({"name": "bench-order", "status": "active", "requires_assignment": false,
                      "reward": {"type": "percent_off", "percent_off": 10, "currency": "EUR",
                                 "max_discount": 5000}});
    let (status, book) = admin.send("POST", "/v1/books", Some(&book)).await;
    assert_eq!(status, 201, "create book: {book}");
    let book_id = book["id"].as_str().expect("book id").to_string();
    let plain_codes = Arc::new(codes("PLAIN", options.codes));
    let order_codes = Arc::new(codes("ORDER", options.codes));
    load_codes_http(&mut admin, &book_id, &plain_codes).await;
    load_codes_http(&mut admin, &book_id, &order_codes).await;
    println!(
        "coupon-book bench order: {} connections, {ROUNDS} rounds of {} s per kind",
        options.connections, options.seconds
    );
    let without = Arc::new(json!({"user_id": "bench-user"}));
    let with = Arc::new(json!({"user_id": "bench-user", "order": order_of_twenty()}));
    let (plain_next, order_next) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (mut plain, mut ordered) = (Outcome::default(), Outcome::default());
    let (c, s) = (options.connections, options.seconds);
    for _ in 0..ROUNDS {
        for (total, codes, next, body) in [
            (&mut plain, &plain_codes, &plain_next, &without),
            (&mut ordered, &order_codes, &order_next, &with),
        ] {
            let out = phase(
                addr.clone(),
                c,
                s,
                codes.clone(),
                next.clone(),
                body.clone(),
            )
            .await;
            total.elapsed += out.elapsed;
            total.merge(out);
        }
    }
    report("redeem without an order", &mut plain, "req/s");
    report("redeem with a 20-item order", &mut ordered, "req/s");
    println!();
    println!(
        "ratio with / without an order:       {:.3}",
        ordered.per_second() / plain.per_second()
    );
}
