//! `coupon-book-bench bulk [users]`: a bulk assign of `users` (default 100,000) user ids
//! in one CSV, against the same number of codes handed out one call at a time
//! (`POST /v1/books/{id}/assign`, 32 connections), each on a fresh release server of its
//! own so that each phase's peak RSS (VmHWM) is its own. Prints assignments/s of
//! each, the ratio, and the servers' peak RSS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::codes::{new_book, peak_rss_mb, wait_job};
use super::{Conn, start_server_on};

const CONNECTIONS: usize = 32;

/// A fresh server with a book holding `codes` generated codes; (server, book id).
async fn loaded(dir: &std::path::Path, name: &str, codes: usize) -> (super::Server, String) {
    let server = start_server_on(&dir.join(format!("{name}.db")));
    let mut conn = Conn::open(&server.addr).await;
    let book = new_book(&mut conn).await;
    let (status, job) = conn
        .send(
            "POST",
            &format!("/v1/books/{book}/codes/generate"),
            Some(&json!({"count": codes, "length": 12})),
        )
        .await;
    assert!(status == 201 || status == 202, "{job}");
    wait_job(&mut conn, &job).await;
    (server, book)
}

pub async fn run() {
    let users: usize = std::env::args()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");

    // One CSV of every user.
    let (server, book) = loaded(dir.path(), "bulk", users).await;
    let mut conn = Conn::open(&server.addr).await;
    let mut csv = String::from("user_id\n");
    for i in 0..users {
        csv.push_str(&format!("bulk-user-{i}\n"));
    }
    let started = Instant::now();
    let (status, job) = conn
        .send_bytes(
            "POST",
            &format!("/v1/books/{book}/assign/bulk"),
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert!(status == 201 || status == 202, "{job}");
    let job = wait_job(&mut conn, &job).await;
    let bulk = started.elapsed();
    assert_eq!(job["assigned"], users as u64, "{job}");
    let bulk_rss = peak_rss_mb(&server);
    drop(conn);
    drop(server);

    // The same assignments, one call each.
    let (server, book) = loaded(dir.path(), "single", users).await;
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (addr, book) = (server.addr.clone(), book.clone());
        let (next, failed) = (next.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= users {
                    return;
                }
                let body: Value = json!({"user_id": format!("single-user-{i}")});
                let (status, _) = conn
                    .send("POST", &format!("/v1/books/{book}/assign"), Some(&body))
                    .await;
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("assign task");
    }
    let single = started.elapsed();
    let single_rss = peak_rss_mb(&server);
    let failed = failed.load(Ordering::Relaxed);
    let rate = |d: Duration| users as f64 / d.as_secs_f64();
    println!(
        "bulk assign, one CSV of {users} users     {:>9.0} assignments/s ({:.2} s)   server peak RSS {:>6.1} MB",
        rate(bulk),
        bulk.as_secs_f64(),
        bulk_rss
    );
    println!(
        "assign-next, one call each ({CONNECTIONS} conns) {:>9.0} assignments/s ({:.2} s, {failed} failed)   server peak RSS {:>6.1} MB",
        rate(single),
        single.as_secs_f64(),
        single_rss
    );
    println!(
        "ratio bulk / single calls:             {:.2}",
        rate(bulk) / rate(single)
    );
}
