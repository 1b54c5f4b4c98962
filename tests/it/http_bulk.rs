//! Bulk assign, void and delete jobs over HTTP: JSON and CSV input, exact per-line
//! counts, the results CSV, bad input, and a bulk assign that survives SIGKILL.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// The results CSV of a job, parsed: (line, input, outcome, code) per row.
async fn results(server: &Server, job_id: &str) -> Vec<(u64, String, String, String)> {
    let reply = server
        .send(server.request(ADMIN_KEY, "GET", &format!("/v1/jobs/{job_id}/results")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.content_type.starts_with("text/csv"),
        "{}",
        reply.content_type
    );
    let mut lines = reply.text.lines();
    assert_eq!(lines.next(), Some("line,input,outcome,code"));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(reply.text.as_bytes());
    reader
        .records()
        .skip(1)
        .map(|r| {
            let r = r.expect("csv record");
            (
                r[0].parse().expect("line number"),
                r[1].to_string(),
                r[2].to_string(),
                r[3].to_string(),
            )
        })
        .collect()
}

/// The job as the server shows it now. A store loaded by the job itself may answer a
/// read `store_busy` (503, a local DynamoDB emulator under a bulk job): asked again.
async fn job_now(server: &Server, job_id: &str) -> Value {
    for _ in 0..50 {
        let (status, job) = server.get(&format!("/v1/jobs/{job_id}")).await;
        if status == 503 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        assert_eq!(status, 200, "{job}");
        return job;
    }
    panic!("job {job_id} unreadable: store busy");
}

/// Polls a job until it is no longer running.
async fn wait_job(server: &Server, job_id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let job = job_now(server, job_id).await;
        if job["status"] != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "job still running: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count(job: &Value, field: &str) -> u64 {
    job[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field}: {job}"))
}

async fn csv_post(server: &Server, path: &str, body: String) -> (u16, Value) {
    let reply = server.raw("POST", path, Some("text/csv"), body).await;
    (reply.status, reply.json)
}

#[tokio::test]
async fn bulk_assign_from_json_counts_every_user_once() {
    let server = Server::start().await;
    let (book, codes) = server
        .book_with_codes(json!({"max_coupons_per_user": 1}), "BA", 4)
        .await;
    let users = json!(["u1", "u2", "u1", "bad\u{7}id", "u3", "u4", "u5", ""]);
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/assign/bulk"),
            json!({ "user_ids": users }),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["kind"], "assign");
    assert_eq!(job["status"], "succeeded");
    assert_eq!(
        [
            "total",
            "processed",
            "assigned",
            "limit_reached",
            "exhausted",
            "invalid"
        ]
        .map(|f| count(&job, f)),
        [8, 8, 4, 1, 1, 2]
    );
    assert_eq!(count(&job, "voided") + count(&job, "deleted"), 0);
    let rows = results(&server, job["id"].as_str().expect("id")).await;
    let outcomes: Vec<(u64, &str)> = rows.iter().map(|r| (r.0, r.2.as_str())).collect();
    assert_eq!(
        outcomes,
        [
            (1, "assigned"),
            (2, "assigned"),
            (3, "limit_reached"),
            (4, "invalid"),
            (5, "assigned"),
            (6, "assigned"),
            (7, "exhausted"),
            (8, "invalid")
        ]
    );
    // Each assigned line names the code the user now holds.
    let mut handed: HashSet<String> = HashSet::new();
    for (_, user, outcome, code) in &rows {
        if outcome == "assigned" {
            let coupon = server.coupon(code).await;
            assert_eq!(coupon["assigned_to"], user.as_str(), "{coupon}");
            assert!(handed.insert(code.clone()), "code handed twice: {code}");
        } else {
            assert_eq!(code, "");
        }
    }
    assert_eq!(handed, codes.into_iter().collect::<HashSet<_>>());
    let counts = &server.book(&book).await["counts"];
    assert_eq!(
        (counts["available"].as_u64(), counts["assigned"].as_u64()),
        (Some(0), Some(4))
    );
    // The assignments are the job's work, recorded as the system named by the job.
    let (_, events) = server
        .get(&format!(
            "/v1/events?type=coupon.assigned&book_id={book}&limit=100"
        ))
        .await;
    let events = data(&events);
    assert_eq!(events.len(), 4, "{events:?}");
    for event in events {
        assert_eq!(event["actor"]["type"], "system", "{event}");
        assert_eq!(event["actor"]["id"], job["id"], "{event}");
    }
    assert_eq!(job["started_by"]["type"], "api_key", "{job}");
}

#[tokio::test]
async fn bulk_assign_from_csv_numbers_lines_from_the_header() {
    let server = Server::start().await;
    let (book, _) = server.book_with_codes(json!({}), "BC", 3).await;
    let body = "user_id\r\nalice\r\n\r\n\"bob\"\r\n'=cmd\r\n\u{1}\r\n".to_string();
    let (status, job) = csv_post(&server, &format!("/v1/books/{book}/assign/bulk"), body).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(
        ["total", "assigned", "invalid", "exhausted"].map(|f| count(&job, f)),
        [4, 3, 1, 0]
    );
    let rows = results(&server, job["id"].as_str().expect("id")).await;
    let summary: Vec<(u64, &str, &str)> = rows
        .iter()
        .map(|r| (r.0, r.1.as_str(), r.2.as_str()))
        .collect();
    // Line 1 is the header, line 3 is blank; a cell that would run as a formula is
    // written with a leading quote.
    assert_eq!(
        summary,
        [
            (2, "alice", "assigned"),
            (4, "bob", "assigned"),
            (5, "'=cmd", "assigned"),
            (6, "\u{1}", "invalid")
        ]
    );
    let (_, coupons) = server.get("/v1/users/%3Dcmd/coupons").await;
    assert_eq!(data(&coupons).len(), 1, "{coupons}");
}

#[tokio::test]
async fn bulk_void_by_list_and_by_status() {
    let server = Server::start().await;
    let (book, codes) = server.book_with_codes(json!({}), "BV", 30).await;
    let (other, other_codes) = server.book_with_codes(json!({}), "BVO", 1).await;
    assert_eq!(server.assign(&codes[0], "owner").await.0, 200);
    let list = json!([
        codes[1].to_lowercase(),
        codes[1],
        "NO-SUCH-CODE",
        other_codes[0],
        "x"
    ]);
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/void"),
            json!({ "codes": list }),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["kind"], "void");
    assert_eq!(
        ["processed", "voided", "not_found", "invalid"].map(|f| count(&job, f)),
        [5, 2, 2, 1]
    );
    assert_eq!(server.coupon(&codes[1]).await["status"], "voided");
    assert_eq!(server.coupon(&other_codes[0]).await["status"], "available");
    let rows = results(&server, job["id"].as_str().expect("id")).await;
    assert_eq!(rows[0].3, codes[1]);
    assert_eq!(rows[2].2, "not_found");

    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/void"),
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(count(&job, "voided"), 28, "{job}");
    assert_eq!(count(&job, "processed"), 28, "{job}");
    let counts = &server.book(&book).await["counts"];
    assert_eq!(
        ["available", "assigned", "voided"].map(|f| counts[f].as_u64()),
        [Some(0), Some(1), Some(29)]
    );
    assert_eq!(server.book(&other).await["counts"]["available"], 1);
    let (_, events) = server
        .get(&format!(
            "/v1/events?type=coupon.voided&book_id={book}&limit=100"
        ))
        .await;
    assert_eq!(data(&events).len(), 29);
}

#[tokio::test]
async fn bulk_delete_keeps_codes_in_use_and_frees_the_rest() {
    let server = Server::start().await;
    let (book, codes) = server
        .book_with_codes(json!({"requires_assignment": false}), "BD", 6)
        .await;
    assert_eq!(server.assign(&codes[0], "u1").await.0, 200);
    assert_eq!(server.redeem(&codes[1], "u2").await.0, 201);
    assert_eq!(server.lock(&codes[2], "u3").await.0, 200);
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/delete"),
            json!({ "codes": [codes[0], codes[1], codes[2], codes[3], "GONE-1"] }),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["kind"], "delete");
    assert_eq!(
        ["processed", "deleted", "in_use", "not_found"].map(|f| count(&job, f)),
        [5, 1, 3, 1]
    );
    let (status, _) = server.get(&format!("/v1/coupons/{}", codes[3])).await;
    assert_eq!(status, 404);
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/delete"),
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(count(&job, "deleted"), 2, "{job}");
    let counts = &server.book(&book).await["counts"];
    assert_eq!(counts["total"], 3, "{counts}");
    let (_, events) = server
        .get(&format!(
            "/v1/events?type=coupon.deleted&book_id={book}&limit=100"
        ))
        .await;
    assert_eq!(data(&events).len(), 3);
    // Deleted codes no longer exist: they can be added again, to any book.
    let again: Vec<String> = codes[3..].to_vec();
    server.add_codes(&book, &again).await;
    assert_eq!(server.book(&book).await["counts"]["total"], 6);
}

#[tokio::test]
async fn bulk_requests_refuse_bad_input() {
    let server = Server::start().await;
    let (book, _) = server.book_with_codes(json!({}), "BB", 2).await;
    let many: Vec<String> = (0..10_001).map(|i| format!("u{i}")).collect();
    let assign = format!("/v1/books/{book}/assign/bulk");
    assert_invalid(
        &server.post(&assign, json!({ "user_ids": many })).await,
        "user_ids",
    );
    assert_invalid(
        &server.post(&assign, json!({ "user_ids": "u1" })).await,
        "user_ids",
    );
    assert_invalid(&server.post(&assign, json!({})).await, "user_ids");
    let void = format!("/v1/books/{book}/codes/void");
    assert_invalid(&server.post(&void, json!({})).await, "codes");
    assert_invalid(
        &server
            .post(&void, json!({"codes": ["A-1"], "status": "available"}))
            .await,
        "codes",
    );
    assert_invalid(
        &server.post(&void, json!({"status": "gone"})).await,
        "status",
    );
    let delete = format!("/v1/books/{book}/codes/delete");
    let codes: Vec<String> = (0..10_001).map(|i| format!("C-{i}")).collect();
    assert_invalid(
        &server.post(&delete, json!({ "codes": codes })).await,
        "codes",
    );
    assert_error(
        &server
            .post(
                "/v1/books/book_nope/assign/bulk",
                json!({"user_ids": ["u"]}),
            )
            .await,
        404,
        "book_not_found",
    );
    assert_error(
        &csv_post(&server, "/v1/books/book_nope/assign/bulk", "u1\n".into()).await,
        404,
        "book_not_found",
    );
    assert_error(
        &server
            .post(
                "/v1/books/book_nope/codes/delete",
                json!({"status": "available"}),
            )
            .await,
        404,
        "book_not_found",
    );
    let reply = server
        .raw("POST", &assign, Some("application/xml"), "<u/>")
        .await;
    assert_eq!(
        (reply.status, error_code(&reply.json)),
        (415, "unsupported_media_type")
    );
    assert_error(
        &server.get("/v1/jobs/job_nope/results").await,
        404,
        "job_not_found",
    );
    let (status, paused) = server
        .patch(&format!("/v1/books/{book}"), json!({"status": "paused"}))
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_error(
        &server.post(&assign, json!({"user_ids": ["u1"]})).await,
        409,
        "book_not_active",
    );
    // Codes of another caller's book are not this book's: not found, untouched.
    let key = server.create_key(&["coupons:redeem"]).await;
    let (status, _) = server
        .call_as(&key, "POST", &assign, Some(json!({"user_ids": ["u1"]})))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn upload_jobs_have_an_empty_results_csv() {
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes"),
            json!({"codes": ["R-1", "x"]}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert!(
        results(&server, job["id"].as_str().expect("id"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_large_bulk_assign_runs_in_the_background() {
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/generate"),
            json!({"count": 11_000, "length": 10}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let mut body = String::from("user_id\n");
    for i in 0..12_000 {
        body.push_str(&format!("bg-user-{i}\n"));
    }
    let (status, job) = csv_post(&server, &format!("/v1/books/{book}/assign/bulk"), body).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(count(&job, "total"), 12_000);
    let job = wait_job(
        &server,
        job["id"].as_str().expect("id"),
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        ["processed", "assigned", "exhausted"].map(|f| count(&job, f)),
        [12_000, 11_000, 1_000]
    );
    let rows = results(&server, job["id"].as_str().expect("id")).await;
    assert_eq!(rows.len(), 12_000);
    assert_eq!(rows.first().map(|r| r.0), Some(2));
    assert_eq!(rows.last().map(|r| r.0), Some(12_001));
}

/// Users in the crash test: enough that the job is still running when killed.
const CRASH_USERS: usize = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_assign_resumes_after_kill9_without_repeating_a_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bulk-crash.db");
    let mut server = Server::start_on(&db, &[]).await;
    let book = server.active_book(json!({"max_coupons_per_user": 1})).await;
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/generate"),
            json!({"count": CRASH_USERS - 2_000, "length": 12}),
        )
        .await;
    assert!(status == 201 || status == 202, "{job}");
    wait_job(
        &server,
        job["id"].as_str().expect("id"),
        Duration::from_secs(300),
    )
    .await;
    let mut body = String::from("user_id\n");
    for i in 0..CRASH_USERS {
        body.push_str(&format!("crash-user-{i}\n"));
    }
    // A few lines twice: the limit of one code a user turns them away.
    for i in 0..50 {
        body.push_str(&format!("crash-user-{i}\n"));
    }
    let lines = CRASH_USERS as u64 + 50;
    let (status, job) = csv_post(&server, &format!("/v1/books/{book}/assign/bulk"), body).await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["id"].as_str().expect("id").to_string();
    // Killed once the job is well under way, and not finished.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, job) = server.get(&format!("/v1/jobs/{job_id}")).await;
        assert_eq!(
            job["status"], "running",
            "finished before the kill: raise CRASH_USERS"
        );
        if count(&job, "processed") >= 3_000 {
            break;
        }
        assert!(Instant::now() < deadline, "bulk job too slow: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    let server = Server::start_on(&db, &[]).await;
    let job = wait_job(&server, &job_id, Duration::from_secs(600)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let [assigned, limit_reached, exhausted, invalid, processed] = [
        "assigned",
        "limit_reached",
        "exhausted",
        "invalid",
        "processed",
    ]
    .map(|f| count(&job, f));
    assert_eq!(
        assigned + limit_reached + exhausted + invalid,
        lines,
        "{job}"
    );
    assert_eq!(processed, lines, "{job}");
    assert_eq!(invalid, 0);
    assert_eq!(assigned, CRASH_USERS as u64 - 2_000, "{job}");
    assert_eq!(limit_reached + exhausted, 2_050, "{job}");
    let counts = &server.book(&book).await["counts"];
    assert_eq!(counts["assigned"].as_u64(), Some(assigned), "{counts}");
    assert_eq!(counts["available"].as_u64(), Some(0), "{counts}");
    // Every line once, in order; no user holds two codes; every code once.
    let rows = results(&server, &job_id).await;
    assert_eq!(rows.len() as u64, lines);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.0, i as u64 + 2, "line numbers from the header on");
    }
    let mut by_user: HashMap<&str, u32> = HashMap::new();
    let mut codes: HashSet<&str> = HashSet::new();
    for (_, user, outcome, code) in &rows {
        if outcome == "assigned" {
            *by_user.entry(user.as_str()).or_default() += 1;
            assert!(codes.insert(code.as_str()), "code twice: {code}");
        }
    }
    assert!(by_user.values().all(|n| *n == 1), "a user got two codes");
    assert_eq!(by_user.len() as u64, assigned);
    // The store agrees: the codes listed as assigned are the users' codes.
    let assigned_codes = server
        .list_all(&format!(
            "/v1/books/{book}/codes?status=assigned&limit=1000"
        ))
        .await;
    assert_eq!(assigned_codes.len() as u64, assigned);
    for coupon in &assigned_codes {
        let code = coupon["code"].as_str().expect("code");
        assert!(codes.contains(code), "{coupon}");
    }
}
