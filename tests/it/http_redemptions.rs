//! The redemption export over HTTP: every redemption exactly once across store pages,
//! the book and time filters, cells a spreadsheet would run, and bad filters.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{self, ADMIN_KEY, Server, assert_error, assert_invalid, enc, try_send};
use serde_json::{Value, json};

const HEADER: &str = "id,code,book_id,user_id,status,redeemed_at,reversed_at,order_id,order_amount,currency,discount_amount";

/// The export for `query` (e.g. `book_id=...`), as its header and rows of cells.
async fn export(s: &Server, token: &str, query: &str) -> (String, Vec<Vec<String>>) {
    let reply = s
        .send(s.request(token, "GET", &format!("/v1/redemptions/export?{query}")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.starts_with("text/csv"),
        "{}",
        reply.content_type
    );
    let disposition = reply
        .headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let header = reply.text.lines().next().unwrap_or_default().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reply.text.as_bytes());
    let rows = reader
        .records()
        .map(|row| {
            let row = row.expect("a CSV row");
            assert_eq!(row.len(), 11, "{row:?}");
            row.iter().map(str::to_string).collect()
        })
        .collect();
    (header, rows)
}

/// Redeems every code (32 at a time), each by its own user; returns the redemptions.
async fn redeem_all(s: &Server, codes: &[String]) -> Vec<Value> {
    let codes = Arc::new(codes.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (codes, next) = (codes.clone(), next.clone());
            let (client, base) = (s.client.clone(), s.base.clone());
            tokio::spawn(async move {
                let mut made = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(code) = codes.get(i) else { break };
                    let reply = try_send(
                        client
                            .post(format!("{base}/v1/coupons/{}/redeem", enc(code)))
                            .bearer_auth(ADMIN_KEY)
                            .json(&json!({"user_id": format!("u{i}")})),
                    )
                    .await
                    .expect("redeem");
                    assert_eq!(reply.status, 201, "{}", reply.text);
                    made.push(reply.json);
                }
                made
            })
        })
        .collect();
    let mut made = Vec::new();
    for worker in workers {
        made.extend(worker.await.expect("worker"));
    }
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_export_has_every_redemption_once_across_store_pages() {
    // More than two store pages (1,000 each) on the embedded store; more than one
    // through the local DynamoDB emulator, which is slower.
    let n = if common::on_dynamodb() { 1_200 } else { 2_500 };
    let s = Server::start().await;
    let (book, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "EXP", n)
        .await;
    let (other, other_codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "EXQ", 3)
        .await;
    let made = redeem_all(&s, &codes).await;
    let made_elsewhere = redeem_all(&s, &other_codes).await;
    let expected: HashMap<String, &Value> = made
        .iter()
        .map(|r| (r["id"].as_str().expect("id").to_string(), r))
        .collect();
    assert_eq!(expected.len(), n);

    let (header, rows) = export(&s, ADMIN_KEY, &format!("book_id={}", enc(&book))).await;
    assert_eq!(header, HEADER);
    assert_eq!(rows.len(), n, "one row per redemption");
    let mut seen = HashSet::new();
    for row in &rows {
        assert!(seen.insert(row[0].clone()), "{} twice", row[0]);
        let redemption = expected.get(&row[0]).unwrap_or_else(|| panic!("{row:?}"));
        assert_eq!(row[1], redemption["code"].as_str().expect("code"));
        assert_eq!(row[2], book);
        assert_eq!(row[3], redemption["user_id"].as_str().expect("user"));
        assert_eq!(row[4], "redeemed");
        assert_eq!(
            common::ts(&json!(row[5])),
            common::ts(&redemption["redeemed_at"])
        );
        assert!(row[6..].iter().all(String::is_empty), "{row:?}");
    }
    // Oldest first.
    let times: Vec<_> = rows.iter().map(|row| common::ts(&json!(row[5]))).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));

    // Without a book: both books, still each once.
    let (_, everything) = export(&s, ADMIN_KEY, "").await;
    assert_eq!(everything.len(), n + made_elsewhere.len());
    let ids: HashSet<&str> = everything.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(ids.len(), everything.len());
    assert_eq!(
        everything.iter().filter(|row| row[2] == other).count(),
        made_elsewhere.len()
    );
    // books:read is enough.
    let reader = s.create_key(&["books:read"]).await;
    let (_, of_other) = export(&s, &reader, &format!("book_id={}", enc(&other))).await;
    assert_eq!(of_other.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_export_filters_by_time_and_never_writes_a_formula() {
    let s = Server::start().await;
    let users = [
        "=HYPERLINK(\"http://x\")",
        "+1",
        "-2",
        "@SUM(A1)",
        "plain, \"quoted\"",
        "bob",
    ];
    let (book, codes) = s
        .book_with_codes(json!({"requires_assignment": false}), "-FX", users.len())
        .await;
    let mut made = Vec::new();
    for (code, user) in codes.iter().zip(users) {
        let (status, redemption) = s.redeem(code, user).await;
        assert_eq!(status, 201, "{redemption}");
        made.push(redemption);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let reversed = made[1]["id"].as_str().expect("id").to_string();
    let (status, body) = s
        .post(
            &format!("/v1/redemptions/{}/reverse", enc(&reversed)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (_, rows) = export(&s, ADMIN_KEY, &format!("book_id={}", enc(&book))).await;
    assert_eq!(rows.len(), users.len());
    for (row, user) in rows.iter().zip(users) {
        // Formula starts get a leading quote, in every column; the rest is as stored.
        let safe = if user.starts_with(['=', '+', '-', '@', '\t']) {
            format!("'{user}")
        } else {
            user.to_string()
        };
        assert_eq!(row[3], safe, "{row:?}");
        assert!(row[1].starts_with("'-FX"), "{row:?}");
    }
    let reversed_row = rows.iter().find(|row| row[0] == reversed).expect("row");
    assert_eq!(reversed_row[4], "reversed");
    assert!(!reversed_row[6].is_empty());
    common::ts(&json!(reversed_row[6]));

    // A window: from inclusive, to exclusive, on redeemed_at.
    let at = |i: usize| made[i]["redeemed_at"].as_str().expect("time").to_string();
    let window = |from: Option<String>, to: Option<String>| -> HashSet<String> {
        made.iter()
            .filter(|r| {
                let t = common::ts(&r["redeemed_at"]);
                from.as_ref().is_none_or(|f| t >= common::ts(&json!(f)))
                    && to.as_ref().is_none_or(|e| t < common::ts(&json!(e)))
            })
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    };
    for (from, to) in [
        (Some(at(2)), Some(at(5))),
        (Some(at(3)), None),
        (None, Some(at(1))),
        (Some(at(4)), Some(at(4))),
    ] {
        let mut query = format!("book_id={}", enc(&book));
        if let Some(from) = &from {
            query.push_str(&format!("&from={}", enc(from)));
        }
        if let Some(to) = &to {
            query.push_str(&format!("&to={}", enc(to)));
        }
        let (_, rows) = export(&s, ADMIN_KEY, &query).await;
        let got: HashSet<String> = rows.iter().map(|row| row[0].clone()).collect();
        assert_eq!(got.len(), rows.len());
        let expected = window(from.clone(), to.clone());
        assert_eq!(got, expected, "{from:?}..{to:?}");
    }
    let (_, first_two) = export(
        &s,
        ADMIN_KEY,
        &format!(
            "book_id={}&from={}&to={}",
            enc(&book),
            enc(&at(0)),
            enc(&at(2))
        ),
    )
    .await;
    assert_eq!(first_two.len(), 2, "{first_two:?}");
    // Offsets other than Z name the same instant.
    let (_, none_yet) = export(&s, ADMIN_KEY, "to=2000-01-01T01:00:00%2B01:00").await;
    assert!(none_yet.is_empty());

    // Bad filters: 400 with the field; an unknown book: 404.
    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("to=1700000000", "to"),
        ("from=2026-11-25T10:00:00Z&to=2026-11-25T09:00:00Z", "to"),
        ("book_id=", "book_id"),
    ] {
        let got = s.get(&format!("/v1/redemptions/export?{query}")).await;
        assert_invalid(&got, field);
    }
    assert_error(
        &s.get("/v1/redemptions/export?book_id=book_missing").await,
        404,
        "book_not_found",
    );
    let redeemer = s.create_key(&["coupons:redeem"]).await;
    assert_error(
        &s.call_as(&redeemer, "GET", "/v1/redemptions/export", None)
            .await,
        403,
        "forbidden",
    );
}
