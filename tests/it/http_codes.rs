//! Codes at scale over HTTP: generation, streamed upload, CSV export, jobs that
//! survive a kill -9.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{Server, assert_error, assert_invalid, error_code};
use serde_json::{Value, json};

async fn wait_for_job(server: &Server, job_id: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, job) = server.get(&format!("/v1/jobs/{job_id}")).await;
        assert_eq!(status, 200, "job: {job}");
        if job["status"] != "running" {
            return job;
        }
        assert!(
            started.elapsed() < limit,
            "job still running after {limit:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn upload(server: &Server, book_id: &str, body: impl Into<reqwest::Body>) -> common::Reply {
    server
        .raw(
            "POST",
            &format!("/v1/books/{book_id}/codes/upload"),
            Some("text/csv"),
            body,
        )
        .await
}

/// The whole export of a book, as (header, rows).
async fn export(server: &Server, book_id: &str) -> (String, Vec<String>) {
    // A large export from the DynamoDB emulator on a busy machine can take minutes.
    let reply = server
        .send(
            server
                .request(
                    common::ADMIN_KEY,
                    "GET",
                    &format!("/v1/books/{book_id}/codes/export"),
                )
                .timeout(Duration::from_secs(300)),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.content_type.starts_with("text/csv"),
        "{}",
        reply.content_type
    );
    let mut lines = reply.text.lines().map(str::to_string);
    let header = lines.next().unwrap_or_default();
    (header, lines.collect())
}

/// The size of a bulk test: as given on the embedded store, a tenth of it through
/// the local DynamoDB emulator, which stores ~4,500 codes/s on this machine.
fn at_scale(n: u32) -> u32 {
    if common::on_dynamodb() { n / 10 } else { n }
}

fn counts(job: &Value) -> [u64; 5] {
    [
        "total",
        "inserted",
        "duplicates_in_file",
        "already_exist",
        "invalid",
    ]
    .map(|k| job[k].as_u64().unwrap_or(u64::MAX))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upload_reports_every_line_exactly_once() {
    let server = Server::start().await;
    let other = server.active_book(json!({})).await;
    server.add_codes(&other, &["TAKEN-001".to_string()]).await;
    let book = server.active_book(json!({})).await;
    let file = "\u{feff}code\r\nsummer-001\r\n\r\nSUMMER-002\nsummer-001\nx\nTAKEN-001\n\"SUMMER-003\"\nbad code!\n  \n\u{00e9}t\u{00e9}-1\n";
    let reply = upload(&server, &book, file).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let job = &reply.json;
    assert_eq!(job["kind"], "upload");
    assert_eq!(job["status"], "succeeded");
    // inserted: 001, 002, 003; duplicate: line 5; exists: line 7; invalid: 6, 9, 11.
    assert_eq!(counts(job), [8, 3, 1, 1, 3], "{job}");
    let lines: Vec<u64> = job["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["line"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(lines, [5, 6, 7, 9, 11], "{job}");
    let fetched = server
        .get(&format!("/v1/jobs/{}", job["id"].as_str().unwrap_or("")))
        .await;
    assert_eq!(&fetched.1, job);
    assert_eq!(server.book(&book).await["counts"]["total"], 3);

    // The same file again stores nothing new.
    let again = upload(&server, &book, file).await;
    assert_eq!(again.status, 201);
    assert_eq!(counts(&again.json), [8, 0, 1, 4, 3], "{}", again.json);
    assert_eq!(server.book(&book).await["counts"]["total"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upload_refuses_what_it_cannot_take() {
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let json_body = server
        .raw(
            "POST",
            &format!("/v1/books/{book}/codes/upload"),
            Some("application/json"),
            "[]",
        )
        .await;
    assert_eq!(json_body.status, 415, "{}", json_body.text);
    assert_eq!(error_code(&json_body.json), "unsupported_media_type");
    let missing = upload(&server, "book_missing", "AAA-1\n").await;
    assert_eq!(missing.status, 404);
    assert_eq!(error_code(&missing.json), "book_not_found");

    // Garbage bytes, a 10 MB line and non-UTF-8 are counted as invalid lines, not errors.
    let mut garbage: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    garbage.extend_from_slice(b"\nGOOD-CODE-1\n");
    garbage.extend(std::iter::repeat_n(b'A', 10 * 1024 * 1024));
    garbage.extend_from_slice(b"\n\xff\xfe\xfd\nGOOD-CODE-2");
    let reply = upload(&server, &book, garbage).await;
    assert!(reply.status == 201 || reply.status == 202, "{}", reply.text);
    let job = wait_for_job(
        &server,
        reply.json["id"].as_str().unwrap_or(""),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["inserted"], 2, "{job}");
    let [total, inserted, dups, exists, invalid] = counts(&job);
    assert_eq!(inserted + dups + exists + invalid, total, "{job}");
    assert!(invalid >= 2, "{job}");
    assert_eq!(server.book(&book).await["counts"]["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_million_line_upload_is_counted_exactly() {
    let lines = at_scale(1_000_000);
    // One invalid line and one repeated code in every 100,000.
    let faults = u64::from(lines / 100_000);
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let mut file = String::with_capacity(16 * lines as usize);
    file.push_str("code\n");
    for i in 0..lines {
        match i % 100_000 {
            7 => file.push_str("not valid!\n"),
            8 => file.push_str(&format!("M-{:07}\n", i - 2)),
            _ => file.push_str(&format!("M-{i:07}\n")),
        }
    }
    let reply = upload(&server, &book, file).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    // Under a minute alone; several large jobs at once against the DynamoDB emulator on
    // a loaded machine take several times that.
    let job = wait_for_job(
        &server,
        reply.json["id"].as_str().unwrap_or(""),
        Duration::from_secs(600),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let lines = u64::from(lines);
    assert_eq!(
        counts(&job),
        [lines, lines - 2 * faults, faults, 0, faults],
        "{job}"
    );
    assert_eq!(job["processed"], lines);
    assert_eq!(
        server.book(&book).await["counts"]["total"],
        lines - 2 * faults
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_million_generated_codes_export_as_distinct_rows() {
    let count = at_scale(1_000_000);
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/generate"),
            json!({"count": count, "pattern": "SUMMER-####-####"}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["kind"], "generate");
    let job = wait_for_job(
        &server,
        job["id"].as_str().unwrap_or(""),
        Duration::from_secs(240),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["inserted"], count);
    let (header, rows) = export(&server, &book).await;
    assert_eq!(
        header,
        "code,status,assigned_to,redemption_count,created_at,starts_at,expires_at,metadata,reward"
    );
    assert_eq!(rows.len(), count as usize);
    let unambiguous = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut seen = HashSet::with_capacity(rows.len());
    for row in &rows {
        let code = row.split(',').next().unwrap_or("");
        assert!(seen.insert(code.to_string()), "duplicate {code}");
        assert_eq!(code.len(), 16, "{code}");
        assert!(
            code.starts_with("SUMMER-") && &code[11..12] == "-",
            "{code}"
        );
        assert!(
            code[7..11]
                .chars()
                .chain(code[12..].chars())
                .all(|c| unambiguous.contains(c)),
            "{code}"
        );
        assert!(
            row.ends_with("Z,,,,") && row.contains(",available,,0,"),
            "{row}"
        );
    }
    assert_eq!(server.book(&book).await["counts"]["total"], count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generation_checks_its_input_and_its_space() {
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let path = format!("/v1/books/{book}/codes/generate");
    for (body, field) in [
        (json!({"count": 0}), "count"),
        (json!({"count": 10_000_001}), "count"),
        (json!({"count": 5, "pattern": "NOHASH"}), "pattern"),
        (json!({"count": 5, "charset": "klingon"}), "charset"),
        (json!({"count": "5"}), "count"),
        (json!({"count": 5, "length": 65}), "length"),
    ] {
        let got = server.post(&path, body.clone()).await;
        assert_invalid(&got, field);
    }
    assert_eq!(
        server.book(&book).await["counts"]["total"],
        0,
        "nothing stored"
    );

    // 10 numeric combinations: 5 fit, 6 do not; after 5 exist, 3 more do not.
    let small = json!({"count": 6, "pattern": "N-#", "charset": "numeric"});
    let refused = server.post(&path, small).await;
    assert_error(&refused, 422, "pattern_space_too_small");
    assert!(
        refused.1["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("10")
    );
    let (status, job) = server
        .post(
            &path,
            json!({"count": 5, "pattern": "N-#", "charset": "numeric"}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(
        (job["status"].as_str(), job["inserted"].as_u64()),
        (Some("succeeded"), Some(5))
    );
    let more = server
        .post(
            &path,
            json!({"count": 3, "pattern": "N-#", "charset": "numeric"}),
        )
        .await;
    assert_error(&more, 422, "pattern_space_too_small");

    // The book's code_pattern supplies defaults.
    let with_default = server
        .active_book(json!({"code_pattern": {"pattern": "DEF-####", "charset": "alphabetic"}}))
        .await;
    let (status, job) = server
        .post(
            &format!("/v1/books/{with_default}/codes/generate"),
            json!({"count": 20}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let (_, rows) = export(&server, &with_default).await;
    assert_eq!(rows.len(), 20);
    assert!(
        rows.iter()
            .all(|r| r.starts_with("DEF-") && r[4..8].chars().all(|c| c.is_ascii_uppercase()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_characters_make_typos_unknown() {
    let server = Server::start().await;
    let book = server
        .active_book(json!({"requires_assignment": false}))
        .await;
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/generate"),
            json!({"count": 50, "pattern": "GIFT-######", "check_character": true}),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    let (_, rows) = export(&server, &book).await;
    let code = rows[0].split(',').next().unwrap_or("").to_string();
    assert_eq!(code.len(), 12);
    let unambiguous = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    // Change one random character: the check character no longer fits.
    let typo_char = unambiguous
        .chars()
        .find(|c| *c != code.as_bytes()[5] as char)
        .unwrap_or('2');
    let typo = format!("{}{}{}", &code[..5], typo_char, &code[6..]);
    for route in ["validate", "lock", "redeem"] {
        let got = server
            .post(
                &format!("/v1/coupons/{typo}/{route}"),
                json!({"user_id": "u1"}),
            )
            .await;
        assert_error(&got, 404, "coupon_not_found");
    }
    let (status, redemption) = server.redeem(&code, "u1").await;
    assert_eq!(status, 201, "{redemption}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_generation_killed_midway_resumes_after_restart() {
    // Several of the job's 50,000-code batches, so the kill lands between two.
    let count = if common::on_dynamodb() {
        150_000
    } else {
        400_000
    };
    let mut server = Server::start().await;
    let book = server.active_book(json!({})).await;
    let (status, job) = server
        .post(
            &format!("/v1/books/{book}/codes/generate"),
            json!({"count": count, "pattern": "KILL-########"}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["id"].as_str().unwrap_or("").to_string();
    let started = Instant::now();
    loop {
        let (_, job) = server.get(&format!("/v1/jobs/{job_id}")).await;
        let done = job["processed"].as_u64().unwrap_or(0);
        if done > 0 {
            assert!(done < count, "finished before the kill: {job}");
            break;
        }
        // The first batch lands within seconds on an idle machine; a loaded one with
        // the DynamoDB emulator can take a minute.
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no progress: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    let server = Server::start_on(&server.db_path.clone(), &[]).await;
    let job = wait_for_job(&server, &job_id, Duration::from_secs(240)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["inserted"], count, "{job}");
    let (_, rows) = export(&server, &book).await;
    assert_eq!(rows.len(), count as usize);
    assert_eq!(server.book(&book).await["counts"]["total"], count);
    let distinct: HashSet<&str> = rows
        .iter()
        .map(|r| r.split(',').next().unwrap_or(""))
        .collect();
    assert_eq!(distinct.len(), count as usize);
}

/// `assigned_to` is whatever user id a caller sent: opened in a spreadsheet, the export
/// must show such cells as text, never run them. Escaped cells upload back as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_export_never_hands_a_spreadsheet_a_formula() {
    let server = Server::start().await;
    let (book, codes) = server.book_with_codes(json!({}), "SHEET", 5).await;
    // A code may itself start with `-`.
    let dash_code = common::unique_codes("-DASH", 1).remove(0);
    server
        .add_codes(&book, std::slice::from_ref(&dash_code))
        .await;
    let users = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "alice"];
    for (code, user) in codes.iter().zip(users) {
        let (status, body) = server.assign(code, user).await;
        assert_eq!(status, 200, "assign {code} to {user}: {body}");
        assert_eq!(body["assigned_to"], user);
    }

    let (header, rows) = export(&server, &book).await;
    assert_eq!(
        header,
        "code,status,assigned_to,redemption_count,created_at,starts_at,expires_at,metadata,reward"
    );
    let text = rows.join("\n");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("the export is CSV");
    assert_eq!(records.len(), 6);
    let cell = |code: &str, column: usize| -> String {
        records
            .iter()
            .find(|r| &r[0] == code)
            .map(|r| r[column].to_string())
            .unwrap_or_else(|| panic!("{code} not exported: {rows:?}"))
    };
    for (code, user) in codes.iter().zip(users).take(4) {
        assert_eq!(cell(code, 2), format!("'{user}"), "{rows:?}");
    }
    assert_eq!(cell(&codes[4], 2), "alice");
    assert_eq!(cell(&format!("'{dash_code}"), 1), "available");
    for record in &records {
        for value in record {
            assert!(
                !value.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a formula cell: {record:?}"
            );
        }
    }

    // The code column uploads back as the same codes (all in use already).
    let column: Vec<String> = records.iter().map(|r| r[0].to_string()).collect();
    let file = format!("code\n{}\n", column.join("\n"));
    let other = server.active_book(json!({})).await;
    let reply = upload(&server, &other, file).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(counts(&reply.json), [6, 0, 0, 6, 0], "{}", reply.json);
}
