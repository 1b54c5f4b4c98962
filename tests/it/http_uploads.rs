//! Uploads within their limits: size of one upload, size of the spool, uploads at
//! once, time to arrive; spool files removed whenever their upload or job ends; the
//! spool directory private, and refused at start-up when others could write to it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{self, ADMIN_KEY, Server, assert_error, unique_codes};

/// A server with its spool in a directory of the test's own.
async fn server_with(spool: &Path, env: &[(&str, &str)]) -> Server {
    let spool = spool.display().to_string();
    let mut all = vec![("COUPON_BOOK_SPOOL_DIR", spool.as_str())];
    all.extend_from_slice(env);
    Server::start_with_env(&all).await
}

/// The spool files in `dir` (uploads arriving, jobs not yet ended).
fn spool_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "upload"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn csv(codes: &[String]) -> Vec<u8> {
    let mut body = b"code\n".to_vec();
    for code in codes {
        body.extend_from_slice(code.as_bytes());
        body.push(b'\n');
    }
    body
}

/// Codes that fill about `bytes` of CSV (24 bytes a line).
fn codes_of_size(prefix: &str, bytes: usize) -> Vec<String> {
    unique_codes(prefix, bytes / 24 + 1)
        .into_iter()
        .map(|code| {
            let pad = 23usize.saturating_sub(code.len());
            format!("{code}{}", "Z".repeat(pad))
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// An upload whose body is sent bit by bit over its own connection (chunked), so a
/// test can hold it open.
struct OpenUpload {
    stream: TcpStream,
    sent: u64,
}

impl OpenUpload {
    async fn start(server: &Server, book: &str) -> OpenUpload {
        let addr = server.base.trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let head = format!(
            "POST /v1/books/{book}/codes/upload HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {ADMIN_KEY}\r\nContent-Type: text/csv\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("head");
        OpenUpload { stream, sent: 0 }
    }

    /// Sends one chunk; false once the server stopped reading and closed.
    async fn send(&mut self, data: &[u8]) -> bool {
        let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
        framed.extend_from_slice(data);
        framed.extend_from_slice(b"\r\n");
        self.sent += data.len() as u64;
        self.stream.write_all(&framed).await.is_ok() && self.stream.flush().await.is_ok()
    }

    /// Ends the body and reads the answer.
    async fn finish(mut self) -> (u16, Vec<(String, String)>, Value) {
        let _ = self.stream.write_all(b"0\r\n\r\n").await;
        self.answer().await
    }

    /// Reads the answer (sent before the body ended, when the server refused it).
    async fn answer(mut self) -> (u16, Vec<(String, String)>, Value) {
        let mut buf = Vec::new();
        let mut tmp = vec![0u8; 16 * 1024];
        let read = async {
            loop {
                if let Some((status, headers, body)) = common::parse_http_response(&buf) {
                    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    return (status, headers, json);
                }
                match self.stream.read(&mut tmp).await {
                    Ok(0) | Err(_) => panic!(
                        "no complete answer after {} bytes: {:?}",
                        self.sent,
                        String::from_utf8_lossy(&buf)
                    ),
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("an answer within 30 s")
    }
}

async fn upload(server: &Server, book: &str, body: Vec<u8>, chunked: bool) -> common::Reply {
    server
        .raw_http(
            "POST",
            &format!("/v1/books/{book}/codes/upload"),
            &[("Content-Type", "text/csv")],
            body,
            chunked,
        )
        .await
}

async fn total_codes(server: &Server, book: &str) -> u64 {
    server.book(book).await["counts"]["total"]
        .as_u64()
        .expect("total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_past_the_quotas_are_refused_and_nothing_stored_changes() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = dir.path().join("spool");
    let server = server_with(
        &spool,
        &[
            ("COUPON_BOOK_MAX_UPLOAD_BYTES", "64KiB"),
            ("COUPON_BOOK_MAX_SPOOL_BYTES", "100KiB"),
        ],
    )
    .await;
    let book = server.active_book(serde_json::json!({})).await;
    let earlier = unique_codes("KEEP", 50);
    let first = upload(&server, &book, csv(&earlier), false).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(total_codes(&server, &book).await, 50);

    // Over the size of one upload: refused from its Content-Length before it is read,
    // and while streaming when it has none.
    let big = csv(&codes_of_size("BIG", 70 * 1024));
    for chunked in [false, true] {
        let reply = upload(&server, &book, big.clone(), chunked).await;
        assert_error(
            &(reply.status, reply.json.clone()),
            413,
            "payload_too_large",
        );
        assert!(
            reply.text.contains("64 KiB"),
            "the message gives the limit: {}",
            reply.text
        );
    }

    // Over the size of the spool: one upload holds 60 KiB of it while another brings
    // 60 KiB more; the second is refused as it arrives.
    let held_codes = codes_of_size("HELD", 60 * 1024);
    let held_body = csv(&held_codes);
    let mut held = OpenUpload::start(&server, &book).await;
    assert!(held.send(&held_body).await);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let files = spool_files(&spool);
        let spooled = files
            .first()
            .and_then(|f| std::fs::metadata(f).ok())
            .map_or(0, |m| m.len());
        if files.len() == 1 && spooled >= held_body.len() as u64 {
            break;
        }
        assert!(
            Instant::now() < until,
            "the held upload never reached the spool"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mode(&spool), 0o700);
    assert_eq!(mode(&spool_files(&spool)[0]), 0o600);
    let rejected_codes = codes_of_size("OVER", 60 * 1024);
    let reply = upload(&server, &book, csv(&rejected_codes), true).await;
    assert_error(&(reply.status, reply.json.clone()), 503, "store_busy");
    assert!(reply.text.contains("spool is full"), "{}", reply.text);
    assert_eq!(
        reply.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"60"[..])
    );
    assert_eq!(
        spool_files(&spool).len(),
        1,
        "the refused upload left its file"
    );

    // The held upload goes through; nothing of the refused ones was stored.
    let (status, _, job) = held.finish().await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["inserted"].as_u64(), Some(held_codes.len() as u64));
    assert_eq!(
        total_codes(&server, &book).await,
        (earlier.len() + held_codes.len()) as u64
    );
    for code in [&earlier[0], &held_codes[0]] {
        assert_eq!(server.coupon(code).await["book_id"], book.as_str());
    }
    for code in [
        &rejected_codes[0],
        &rejected_codes[rejected_codes.len() - 1],
    ] {
        let (status, _) = server.get(&format!("/v1/coupons/{code}")).await;
        assert_eq!(status, 404, "{code} from a refused upload was stored");
    }
    assert!(spool_files(&spool).is_empty(), "{:?}", spool_files(&spool));

    // With the spool free again, the same upload is taken.
    let reply = upload(&server, &book, csv(&rejected_codes), true).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert!(spool_files(&spool).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_are_capped_and_slow_ones_cut_short() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = dir.path().join("spool");
    let server = server_with(
        &spool,
        &[
            ("COUPON_BOOK_MAX_CONCURRENT_UPLOADS", "1"),
            ("COUPON_BOOK_UPLOAD_TIMEOUT_SECONDS", "2"),
        ],
    )
    .await;
    let book = server.active_book(serde_json::json!({})).await;
    let first = unique_codes("SLOT", 3);
    let mut open = OpenUpload::start(&server, &book).await;
    assert!(open.send(&csv(&first)).await);
    let until = Instant::now() + Duration::from_secs(10);
    while spool_files(&spool).is_empty() {
        assert!(Instant::now() < until, "the first upload never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = unique_codes("WAIT", 3);
    let reply = upload(&server, &book, csv(&second), false).await;
    assert_error(&(reply.status, reply.json.clone()), 429, "rate_limited");
    assert_eq!(
        reply.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"10"[..])
    );
    let (status, _, job) = open.finish().await;
    assert_eq!(status, 201, "{job}");
    let reply = upload(&server, &book, csv(&second), false).await;
    assert_eq!(reply.status, 201, "the slot is free again: {}", reply.text);

    // A body that stops arriving holds its slot only until the upload timeout.
    let started = Instant::now();
    let mut stalled = OpenUpload::start(&server, &book).await;
    assert!(stalled.send(&csv(&unique_codes("SLOW", 3))).await);
    let (status, _, body) = stalled.answer().await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("did not arrive in time"),
        "{body}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(spool_files(&spool).is_empty(), "{:?}", spool_files(&spool));
    assert_eq!(total_codes(&server, &book).await, 6);
    let reply = upload(&server, &book, csv(&unique_codes("AFTER", 2)), false).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_job_leaves_no_spool_file() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = dir.path().join("spool");
    let server = server_with(&spool, &[]).await;
    let book = server.active_book(serde_json::json!({})).await;
    // Large enough to run in the background for a while (several batches).
    let lines = if common::on_dynamodb() {
        40_000
    } else {
        400_000
    };
    let reply = upload(&server, &book, csv(&unique_codes("GONE", lines)), false).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let job_id = reply.json["id"].as_str().expect("job id").to_string();
    assert_eq!(spool_files(&spool).len(), 1, "the running job's file");
    // The book goes away under the running job: it cannot go on.
    let (status, body) = server.delete(&format!("/v1/books/{book}")).await;
    assert_eq!(status, 204, "{body}");
    let until = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let (status, job) = server.get(&format!("/v1/jobs/{job_id}")).await;
        assert_eq!(status, 200, "{job}");
        if job["status"] != "running" {
            break job;
        }
        assert!(Instant::now() < until, "the job never ended: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["finished_at"].is_string(), "{job}");
    let until = Instant::now() + Duration::from_secs(5);
    while !spool_files(&spool).is_empty() {
        assert!(
            Instant::now() < until,
            "a failed job left {:?}",
            spool_files(&spool)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `serve` until it listens or exits; returns its exit status (None: it
/// listened, and was stopped) and what it wrote to stderr.
fn start_and_stop(db: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coupon-book"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", db.display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let listened = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("listening on"));
    if listened {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    ((!listened).then(|| status.code().unwrap_or(-1)), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_directory_is_private_and_swept_at_start_up() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("coupon-book.db");

    // By default next to the store's file, made private.
    let (exit, stderr) = tokio::task::block_in_place(|| start_and_stop(&db, &[]));
    assert_eq!(exit, None, "did not start: {stderr}");
    let default_spool = dir.path().join("coupon-book.db.spool");
    assert_eq!(mode(&default_spool), 0o700);

    // A directory others may write to is refused, with what to do about it.
    let open = dir.path().join("open-spool");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let open_setting = open.display().to_string();
    let (exit, stderr) = tokio::task::block_in_place(|| {
        start_and_stop(&db, &[("COUPON_BOOK_SPOOL_DIR", &open_setting)])
    });
    assert_eq!(
        exit,
        Some(1),
        "a world-writable spool was accepted: {stderr}"
    );
    assert!(
        stderr.contains("refusing the spool directory") && stderr.contains("chmod 700"),
        "{stderr}"
    );
    assert_eq!(mode(&open), 0o777, "left as it was");

    // Ours and only readable by others: made private. Spool files of uploads cut
    // short by a stop (no job needs them) go at start-up; other files stay.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let orphan = open.join("upload_01HZZZZZZZZZZZZZZZZZZZZZZZ.upload");
    std::fs::write(&orphan, b"AAA-1\n").expect("write");
    let other = open.join("README");
    std::fs::write(&other, b"not ours").expect("write");
    let (exit, stderr) = tokio::task::block_in_place(|| {
        start_and_stop(&db, &[("COUPON_BOOK_SPOOL_DIR", &open_setting)])
    });
    assert_eq!(exit, None, "did not start: {stderr}");
    assert_eq!(mode(&open), 0o700);
    assert!(!orphan.exists(), "a left-over spool file stayed");
    assert!(other.exists(), "a file that is no spool file was removed");
}
