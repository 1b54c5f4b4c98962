//! `coupon-book-dynamo-bench`: what each operation costs on DynamoDB, in requests and
//! in the capacity units DynamoDB reports as consumed (`ReturnConsumedCapacity`), and
//! the on-demand bill per million redemptions that follows.
//!
//! Run against a local DynamoDB-compatible server (dynoxide, as started by
//! scripts/test.sh) or real DynamoDB:
//!
//! ```sh
//! cargo run --release -p coupon-book-bench --bin coupon-book-dynamo-bench -- --endpoint http://127.0.0.1:8000
//! cargo run --release -p coupon-book-bench --bin coupon-book-dynamo-bench -- --aws   # AWS_REGION etc., makes a table
//! ```
//! Options: `--ops N` operations per kind (default 200).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use coupon_book::domain::book::CreateBook;
use coupon_book::domain::event::Actor;
use coupon_book::domain::job::{CodeIntake, JobKind};
use coupon_book::store::dynamodb::{Capacity, DynamoStore, local_client};
use coupon_book::store::prelude::*;
use coupon_book::store::{Idempotency, RedeemRequest, Write};
use serde_json::json;

/// The bench's writes, made as one API key would make them.
fn by() -> Write {
    Write::by(Actor::api_key("key_bench"))
}

/// AWS on-demand prices, us-east-1, per million request units (Nov 2024 list prices).
const WRITE_PRICE_PER_MILLION: f64 = 0.625;
const READ_PRICE_PER_MILLION: f64 = 0.125;

struct Options {
    endpoint: Option<String>,
    aws: bool,
    ops: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        endpoint: std::env::var("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT").ok(),
        aws: false,
        ops: 200,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--endpoint" => options.endpoint = args.next(),
            "--aws" => options.aws = true,
            "--ops" => {
                options.ops = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--ops needs a positive number")?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.endpoint.is_none() && !options.aws {
        return Err("give --endpoint URL (a local DynamoDB-compatible server) or --aws".into());
    }
    Ok(options)
}

/// Per-operation figures: the capacity spent between two snapshots, divided.
struct Row {
    name: &'static str,
    per: f64,
    spent: Capacity,
    seconds: f64,
}

fn diff(after: Capacity, before: Capacity) -> Capacity {
    Capacity {
        requests: after.requests - before.requests,
        write_requests: after.write_requests - before.write_requests,
        read_requests: after.read_requests - before.read_requests,
        write_units: after.write_units - before.write_units,
        read_units: after.read_units - before.read_units,
    }
}

fn print_row(row: &Row) {
    let c = row.spent;
    println!(
        "{:<28} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.2}",
        row.name,
        c.requests as f64 / row.per,
        c.write_requests as f64 / row.per,
        c.read_requests as f64 / row.per,
        c.write_units / row.per,
        c.read_units / row.per,
        row.seconds * 1000.0 / row.per,
    );
}

fn settings(extra: serde_json::Value) -> Result<coupon_book::domain::book::BookSettings, String> {
    let mut body = json!({"name": "bench", "status": "active", "requires_assignment": false});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    serde_json::from_value::<CreateBook>(body)
        .map_err(|e| e.to_string())?
        .into_settings()
        .map_err(|e| e.message)
}

async fn run(options: Options) -> Result<(), String> {
    let table = format!(
        "coupon-book-bench-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let store = match &options.endpoint {
        Some(endpoint) if !options.aws => {
            DynamoStore::with_client(local_client(endpoint), &table).map_err(|e| e.message)?
        }
        _ => DynamoStore::from_env(&table).await.map_err(|e| e.message)?,
    };
    store.create_table(false).await.map_err(|e| e.message)?;
    let store = Arc::new(store);
    let n = options.ops;
    let err = |e: coupon_book::domain::Error| format!("{:?}: {}", e.code, e.message);
    let mut rows = Vec::new();

    // Upload: 1,000 codes per book, measured per 1,000.
    let upload_books = n.div_ceil(500).max(2);
    let mut code_lists = Vec::new();
    for b in 0..upload_books {
        let book = store
            .create_book(settings(json!({}))?, by())
            .await
            .map_err(err)?;
        let codes: Vec<String> = (0..1000).map(|i| format!("BENCH{b}-{i:05}")).collect();
        let spent_before = store.capacity();
        let upload_started = Instant::now();
        let intake = CodeIntake::from_codes(codes.iter().map(String::as_str));
        store
            .add_codes(&book.id, JobKind::Upload, intake, by())
            .await
            .map_err(err)?;
        if b == 0 {
            rows.push(Row {
                name: "upload 1,000 codes",
                per: 1.0,
                spent: diff(store.capacity(), spent_before),
                seconds: upload_started.elapsed().as_secs_f64(),
            });
        }
        code_lists.push((book.id, codes));
    }

    // Redeem without a lock: distinct single-use codes.
    let (_, codes_a) = &code_lists[0];
    let take = n.min(codes_a.len());
    let before = store.capacity();
    let started = Instant::now();
    for (i, code) in codes_a.iter().take(take).enumerate() {
        let request = RedeemRequest {
            code: code.clone(),
            user_id: format!("user{i}"),
            lock_id: None,
            metadata: Some(json!({"order": i})),
            order: None,
        };
        store.redeem(request, by()).await.map_err(err)?;
    }
    rows.push(Row {
        name: "redeem",
        per: take as f64,
        spent: diff(store.capacity(), before),
        seconds: started.elapsed().as_secs_f64(),
    });

    // Redeem with an Idempotency-Key (one more read, one more item written).
    let take_idem = n.min(codes_a.len() - take);
    let before = store.capacity();
    let started = Instant::now();
    for (i, code) in codes_a.iter().skip(take).take(take_idem).enumerate() {
        let request = RedeemRequest {
            code: code.clone(),
            user_id: format!("user{i}"),
            lock_id: None,
            metadata: None,
            order: None,
        };
        let idem = Idempotency {
            caller: "bench".into(),
            key: format!("order-{i}"),
            fingerprint: "fp".into(),
        };
        store
            .redeem(request, by().with_idem(Some(idem)))
            .await
            .map_err(err)?;
    }
    rows.push(Row {
        name: "redeem + Idempotency-Key",
        per: take_idem.max(1) as f64,
        spent: diff(store.capacity(), before),
        seconds: started.elapsed().as_secs_f64(),
    });

    // Validate (not counted), then redeem: the checkout that looks before it takes;
    // the redeem knows the code's book from the validation's read.
    let used = take + take_idem;
    let take_known = n.min(codes_a.len() - used);
    let known: Vec<&String> = codes_a.iter().skip(used).take(take_known).collect();
    for (i, code) in known.iter().enumerate() {
        store
            .validate(code, &format!("known{i}"))
            .await
            .map_err(err)?;
    }
    let before = store.capacity();
    let started = Instant::now();
    for (i, code) in known.iter().enumerate() {
        let request = RedeemRequest {
            code: (*code).clone(),
            user_id: format!("known{i}"),
            lock_id: None,
            metadata: None,
            order: None,
        };
        store.redeem(request, by()).await.map_err(err)?;
    }
    rows.push(Row {
        name: "redeem, validated before",
        per: take_known.max(1) as f64,
        spent: diff(store.capacity(), before),
        seconds: started.elapsed().as_secs_f64(),
    });

    // Lock, then redeem with the lock.
    let (_, codes_b) = &code_lists[1];
    let take_lock = n.min(codes_b.len() / 2);
    let mut locks = Vec::new();
    let before = store.capacity();
    let started = Instant::now();
    for (i, code) in codes_b.iter().take(take_lock).enumerate() {
        let lock = store
            .lock(code, &format!("user{i}"), None.into(), by())
            .await
            .map_err(err)?;
        locks.push(lock);
    }
    rows.push(Row {
        name: "lock",
        per: take_lock as f64,
        spent: diff(store.capacity(), before),
        seconds: started.elapsed().as_secs_f64(),
    });
    let before = store.capacity();
    let started = Instant::now();
    for lock in &locks {
        let request = RedeemRequest {
            code: lock.code.clone(),
            user_id: lock.user_id.clone(),
            lock_id: Some(lock.lock_id.clone()),
            metadata: None,
            order: None,
        };
        store.redeem(request, by()).await.map_err(err)?;
    }
    rows.push(Row {
        name: "redeem with lock",
        per: take_lock as f64,
        spent: diff(store.capacity(), before),
        seconds: started.elapsed().as_secs_f64(),
    });

    // Assign-next from the rest of the second book.
    let take_assign = n.min(codes_b.len() - take_lock);
    let book_b = code_lists[1].0.clone();
    let before = store.capacity();
    let started = Instant::now();
    for i in 0..take_assign {
        store
            .assign_next(&book_b, &format!("assignee{i}"), by())
            .await
            .map_err(err)?;
    }
    rows.push(Row {
        name: "assign-next",
        per: take_assign as f64,
        spent: diff(store.capacity(), before),
        seconds: started.elapsed().as_secs_f64(),
    });

    println!("DynamoDB cost per operation (table {table}, {n} operations per kind)");
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "operation", "requests", "writes", "reads", "WCU", "RCU", "ms/op"
    );
    for row in &rows {
        print_row(row);
    }
    if let Some(redeem) = rows.iter().find(|r| r.name == "redeem") {
        let wcu = redeem.spent.write_units / redeem.per;
        let rcu = redeem.spent.read_units / redeem.per;
        let cost = wcu * WRITE_PRICE_PER_MILLION + rcu * READ_PRICE_PER_MILLION;
        println!(
            "on-demand cost per million redemptions: ${cost:.2} \
             ({wcu:.2} WRU x ${WRITE_PRICE_PER_MILLION}/M + {rcu:.2} RRU x ${READ_PRICE_PER_MILLION}/M; \
             storage extra)"
        );
        if let Some(locked) = rows.iter().find(|r| r.name == "lock") {
            let with_lock = rows
                .iter()
                .find(|r| r.name == "redeem with lock")
                .map(|r| (r.spent.write_units / r.per, r.spent.read_units / r.per))
                .unwrap_or((0.0, 0.0));
            let wcu = locked.spent.write_units / locked.per + with_lock.0;
            let rcu = locked.spent.read_units / locked.per + with_lock.1;
            let cost = wcu * WRITE_PRICE_PER_MILLION + rcu * READ_PRICE_PER_MILLION;
            println!("on-demand cost per million lock+redeem checkouts: ${cost:.2}");
        }
    }
    if options.aws {
        eprintln!("note: table {table} was left in place; delete it when done");
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("coupon-book-dynamo-bench: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("coupon-book-dynamo-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("coupon-book-dynamo-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
