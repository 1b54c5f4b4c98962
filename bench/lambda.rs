//! `coupon-book-lambda-bench`: cold start of the Lambda API function, measured as a
//! process: from spawning the binary as Lambda's `bootstrap` to its first answer, on a
//! local stand-in of the Lambda Runtime API and a DynamoDB-compatible server, beside
//! the start of `coupon-book serve` (embedded store) in the same run.
//!
//! ```sh
//! cargo build --release --workspace
//! ./target/release/coupon-book-lambda-bench --endpoint http://127.0.0.1:8000 [--runs 10]
//! ```
//! (`COUPON_BOOK_TEST_DYNAMODB_ENDPOINT`, as set by scripts/test.sh, works too.)
//! Per run: time to the first poll of the Runtime API (initialisation done), to the
//! first answer (`GET /healthz`), to the first answer that reads DynamoDB (`GET
//! /v1/books`, the client's first connection), and the warm p50 of that request.

// Shared with the Lambda tests, which use all of it; this bench only part.
#[path = "../tests/it/common/runtime_api.rs"]
#[allow(dead_code)]
mod runtime_api;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use runtime_api::{RuntimeApi, apigw_v2, function_env, http_answer};

fn binary() -> PathBuf {
    let mut path = std::env::current_exe().unwrap_or_default();
    path.set_file_name("coupon-book");
    path
}

fn dynamodb_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "bench".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "bench".to_string()),
    ]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Run {
    init: f64,
    first_answer: f64,
    first_store_answer: f64,
    warm_p50: f64,
}

async fn lambda_run(endpoint: &str, table: &str, key: &str) -> Result<Run, String> {
    let runtime = RuntimeApi::start().await;
    let started = Instant::now();
    let mut child = Command::new(binary())
        .envs(dynamodb_env(endpoint))
        .envs(function_env(&runtime, "coupon-book-api"))
        .env("_HANDLER", "api")
        .env("COUPON_BOOK_STORE", format!("dynamodb:{table}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("start {}: {e}", binary().display()))?;
    let auth = [("Authorization", format!("Bearer {key}"))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = http_answer(&runtime.invoke(apigw_v2("GET", "/healthz", &[], None)).await);
    let first_answer = started.elapsed();
    let init = runtime
        .first_poll()
        .map(|at| at.duration_since(started))
        .unwrap_or_default();
    let books = || apigw_v2("GET", "/v1/books?limit=1", &auth, None);
    let before_store = Instant::now();
    let (books_status, body) = http_answer(&runtime.invoke(books()).await);
    let first_store_answer = first_answer + before_store.elapsed();
    if status != 200 || books_status != 200 {
        let _ = child.kill();
        return Err(format!(
            "unexpected answers {status}, {books_status}: {body}"
        ));
    }
    let mut warm = Vec::new();
    for _ in 0..50 {
        let at = Instant::now();
        runtime.invoke(books()).await;
        warm.push(ms(at.elapsed()));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(Run {
        init: ms(init),
        first_answer: ms(first_answer),
        first_store_answer: ms(first_store_answer),
        warm_p50: median(warm),
    })
}

/// `serve` on a fresh embedded store: spawn to the first `GET /healthz` answer.
async fn serve_start() -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite:{}", dir.path().join("bench.db").display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let addr = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                return Some(addr.to_string());
            }
            line.clear();
        }
        None
    })
    .await
    .map_err(|e| e.to_string())?
    .ok_or("serve did not start")?;
    let answered = tokio::net::TcpStream::connect(&addr).await.is_ok();
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    if !answered {
        return Err("serve did not accept a connection".into());
    }
    Ok(ms(elapsed))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut endpoint = std::env::var("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT").ok();
    let mut runs = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--endpoint", Some(value)) => endpoint = Some(value),
            ("--runs", Some(value)) => runs = value.parse().unwrap_or(runs).max(1),
            _ => {
                eprintln!("usage: coupon-book-lambda-bench --endpoint URL [--runs N]");
                return ExitCode::FAILURE;
            }
        }
    }
    let Some(endpoint) = endpoint else {
        eprintln!(
            "give --endpoint (a DynamoDB-compatible server) or COUPON_BOOK_TEST_DYNAMODB_ENDPOINT"
        );
        return ExitCode::FAILURE;
    };
    let table = format!("lambda-bench-{}", std::process::id());
    let created = Command::new(binary())
        .args(["dynamodb", "create-table", &table])
        .envs(dynamodb_env(&endpoint))
        .env("RUST_LOG", "warn")
        .status();
    if !created.is_ok_and(|s| s.success()) {
        eprintln!("could not create table {table} at {endpoint}");
        return ExitCode::FAILURE;
    }
    // The admin key is stored once, as a deployment's first start would.
    let bootstrap = Command::new(binary())
        .args([
            "keys", "create", "--name", "bench", "--scope", "admin", "--store",
        ])
        .arg(format!("dynamodb:{table}"))
        .envs(dynamodb_env(&endpoint))
        .env("RUST_LOG", "warn")
        .output();
    let key = match bootstrap {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => {
            eprintln!("could not create an API key");
            return ExitCode::FAILURE;
        }
    };
    let mut lambda = Vec::new();
    let mut serve = Vec::new();
    for _ in 0..runs {
        match lambda_run(&endpoint, &table, &key).await {
            Ok(run) => lambda.push(run),
            Err(err) => {
                eprintln!("lambda run failed: {err}");
                return ExitCode::FAILURE;
            }
        }
        match serve_start().await {
            Ok(t) => serve.push(t),
            Err(err) => {
                eprintln!("serve run failed: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    let init = median(lambda.iter().map(|r| r.init).collect());
    let first = median(lambda.iter().map(|r| r.first_answer).collect());
    let first_store = median(lambda.iter().map(|r| r.first_store_answer).collect());
    let warm = median(lambda.iter().map(|r| r.warm_p50).collect());
    let serve = median(serve);
    println!("Lambda API function cold start, median of {runs} runs (ms):");
    println!("  spawn -> first Runtime API poll (init done)      {init:8.1}");
    println!("  spawn -> first answer (GET /healthz)             {first:8.1}");
    println!("  spawn -> first answer reading DynamoDB           {first_store:8.1}");
    println!("  warm GET /v1/books, p50 of 50                    {warm:8.1}");
    println!("  serve (embedded store): spawn -> accepting       {serve:8.1}");
    println!("ratios (same run):");
    println!(
        "  cold first answer / serve start                  {:8.2}",
        first / serve
    );
    println!(
        "  cold first DynamoDB answer / warm p50            {:8.2}",
        first_store / warm
    );
    ExitCode::SUCCESS
}
