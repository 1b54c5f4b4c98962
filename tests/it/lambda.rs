//! The AWS Lambda entry as a real process: the `coupon-book` binary started the way
//! Lambda starts its `bootstrap`, polling a local stand-in of the Lambda Runtime API,
//! on a table of the local DynamoDB-compatible server. The API function gets API
//! Gateway REST (v1) and HTTP API (v2) events; the Streams function gets DynamoDB
//! Stream batches of outbox items and delivers them to a real webhook receiver.

use std::process::{Child, Command, Stdio};

use crate::common::receiver::{Behaviour, Receiver, assert_signed};
use crate::common::runtime_api::{
    Answer, RuntimeApi, apigw_v1, apigw_v2, function_env, http_answer,
};
use crate::common::{ADMIN_KEY, error_code};
use serde_json::{Value, json};

const AUTH: (&str, &str) = ("Authorization", "Bearer cb_test_admin_key_0123456789");

fn dynamodb_env() -> Vec<(String, String)> {
    let endpoint = std::env::var("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT")
        .expect("COUPON_BOOK_TEST_DYNAMODB_ENDPOINT: run the tests with ./scripts/test.sh");
    [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A new table, made with the CLI as a deployment would (`dynamodb create-table`).
fn new_table(name: &str) -> String {
    let table = format!(
        "lambda-{name}-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let status = Command::new(env!("CARGO_BIN_EXE_coupon-book"))
        .args(["dynamodb", "create-table", &table])
        .envs(dynamodb_env())
        .env("RUST_LOG", "warn")
        .status()
        .expect("run dynamodb create-table");
    assert!(status.success(), "create-table {table}: {status}");
    table
}

/// A function process; killed on drop.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary as Lambda does: no arguments, the handler in `_HANDLER`.
fn start_function(
    runtime: &RuntimeApi,
    table: &str,
    handler: &str,
    spool: &std::path::Path,
) -> Function {
    let child = Command::new(env!("CARGO_BIN_EXE_coupon-book"))
        .envs(dynamodb_env())
        .envs(function_env(runtime, &format!("coupon-book-{handler}")))
        .env("_HANDLER", handler)
        .env("COUPON_BOOK_STORE", format!("dynamodb:{table}"))
        .env("COUPON_BOOK_BOOTSTRAP_ADMIN_KEY", ADMIN_KEY)
        .env("COUPON_BOOK_SPOOL_DIR", spool)
        .env("COUPON_BOOK_WEBHOOK_ALLOW_PRIVATE", "1")
        .env("COUPON_BOOK_RATE_LIMIT_PER_SECOND", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the function");
    Function(child)
}

fn json_headers() -> Vec<(&'static str, &'static str)> {
    vec![AUTH, ("Content-Type", "application/json")]
}

/// The API function on a fresh table, called as the admin with HTTP API (v2) events.
struct ApiFunction {
    runtime: RuntimeApi,
    table: String,
    spool: tempfile::TempDir,
    _process: Function,
}

impl ApiFunction {
    async fn start(name: &str) -> ApiFunction {
        let table = new_table(name);
        let spool = tempfile::tempdir().expect("spool dir");
        let runtime = RuntimeApi::start().await;
        let process = start_function(&runtime, &table, "api", spool.path());
        ApiFunction {
            runtime,
            table,
            spool,
            _process: process,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let event = apigw_v2(method, path, &json_headers(), body.as_deref());
        http_answer(&self.runtime.invoke(event).await)
    }

    /// An active book anyone may redeem from, with these codes; returns its id.
    async fn book_with_codes(&self, name: &str, codes: &[&str]) -> String {
        let (status, book) = self
            .call(
                "POST",
                "/v1/books",
                Some(json!({"name": name, "status": "active", "requires_assignment": false})),
            )
            .await;
        assert_eq!(status, 201, "{book}");
        let book_id = book["id"].as_str().expect("book id").to_string();
        let (status, job) = self
            .call(
                "POST",
                &format!("/v1/books/{book_id}/codes"),
                Some(json!({ "codes": codes })),
            )
            .await;
        assert_eq!(status, 201, "{job}");
        book_id
    }

    /// Another function of the deployment, on the same table.
    fn start_other(&self, runtime: &RuntimeApi, handler: &str) -> Function {
        start_function(runtime, &self.table, handler, self.spool.path())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_function_answers_rest_and_http_api_events() {
    let api = ApiFunction::start("api").await;
    let runtime = &api.runtime;

    // HTTP API (v2): create an active book whose codes anyone may redeem.
    let body = json!({"name": "Lambda launch", "status": "active", "requires_assignment": false})
        .to_string();
    let answer = runtime
        .invoke(apigw_v2("POST", "/v1/books", &json_headers(), Some(&body)))
        .await;
    let (status, book) = http_answer(&answer);
    assert_eq!(status, 201, "create book: {book}");
    let book_id = book["id"].as_str().expect("book id").to_string();
    assert!(runtime.first_poll().is_some());

    // v2: upload a CSV with a header, a duplicate and a bad line.
    let csv = "code\nlambda-0001\nLAMBDA-0002\nnot a code!\nLAMBDA-0001\n";
    let answer = runtime
        .invoke(apigw_v2(
            "POST",
            &format!("/v1/books/{book_id}/codes/upload"),
            &[AUTH, ("Content-Type", "text/csv")],
            Some(csv),
        ))
        .await;
    let (status, job) = http_answer(&answer);
    assert_eq!(status, 201, "upload: {job}");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["inserted"], 2, "{job}");
    assert_eq!(job["duplicates_in_file"], 1, "{job}");
    assert_eq!(job["invalid"], 1, "{job}");
    assert_eq!(job["errors"][0]["line"], 4, "{job}");

    // REST (v1, stage `prod`): lock, then redeem with the lock.
    let lock_body = json!({"user_id": "alice"}).to_string();
    let answer = runtime
        .invoke(apigw_v1(
            "POST",
            "/v1/coupons/LAMBDA-0001/lock",
            &json_headers(),
            Some(&lock_body),
        ))
        .await;
    let (status, lock) = http_answer(&answer);
    assert_eq!(status, 200, "lock: {lock}");
    assert_eq!(lock["user_id"], "alice");
    let lock_id = lock["lock_id"].as_str().expect("lock id").to_string();

    let redeem_body = json!({"user_id": "alice", "lock_id": lock_id}).to_string();
    let mut headers = json_headers();
    headers.push(("Idempotency-Key", "order-lambda-1"));
    let answer = runtime
        .invoke(apigw_v1(
            "POST",
            "/v1/coupons/lambda-0001/redeem",
            &headers,
            Some(&redeem_body),
        ))
        .await;
    let (status, redemption) = http_answer(&answer);
    assert_eq!(status, 201, "redeem: {redemption}");
    assert_eq!(redemption["code"], "LAMBDA-0001");
    assert_eq!(redemption["status"], "redeemed");

    // The same Idempotency-Key replays the first answer; a new redemption is refused.
    let answer = runtime
        .invoke(apigw_v2(
            "POST",
            "/v1/coupons/lambda-0001/redeem",
            &headers,
            Some(&redeem_body),
        ))
        .await;
    let (status, replay) = http_answer(&answer);
    assert_eq!(status, 201, "replay: {replay}");
    assert_eq!(replay["id"], redemption["id"]);
    let answer = runtime
        .invoke(apigw_v2(
            "POST",
            "/v1/coupons/LAMBDA-0001/redeem",
            &json_headers(),
            Some(&json!({"user_id": "bob"}).to_string()),
        ))
        .await;
    let (status, refused) = http_answer(&answer);
    assert_eq!(status, 409, "{refused}");
    assert_eq!(error_code(&refused), "coupon_already_redeemed");

    // Query strings arrive on both event kinds.
    for event in [
        apigw_v1("GET", "/v1/redemptions?code=LAMBDA-0001", &[AUTH], None),
        apigw_v2("GET", "/v1/redemptions?code=LAMBDA-0001", &[AUTH], None),
    ] {
        let (status, list) = http_answer(&runtime.invoke(event).await);
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
        assert_eq!(list["data"][0]["user_id"], "alice");
    }
    let (status, coupon) = http_answer(
        &runtime
            .invoke(apigw_v1("GET", "/v1/coupons/LAMBDA-0001", &[AUTH], None))
            .await,
    );
    assert_eq!((status, &coupon["status"]), (200, &json!("redeemed")));

    // The rest of the contract holds too: no token, unknown path, a job too big to
    // finish inside one request.
    let (status, body) = http_answer(
        &runtime
            .invoke(apigw_v2("GET", "/v1/books", &[], None))
            .await,
    );
    assert_eq!((status, error_code(&body)), (401, "unauthenticated"));
    let (status, body) = http_answer(
        &runtime
            .invoke(apigw_v1("GET", "/no/such/route", &[AUTH], None))
            .await,
    );
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    let generate = format!("/v1/books/{book_id}/codes/generate");
    // Too many for one request here; beyond what any generation may ask for.
    for (count, refusal) in [
        (20_001, (413, "payload_too_large")),
        (10_000_001, (400, "invalid_request")),
    ] {
        let (status, body) = api
            .call(
                "POST",
                &generate,
                Some(json!({"count": count, "pattern": "BIG-######"})),
            )
            .await;
        assert_eq!((status, error_code(&body)), refusal, "{body}");
    }
    let (status, job) = api
        .call(
            "POST",
            &generate,
            Some(json!({"count": 50, "pattern": "SMALL-######"})),
        )
        .await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(
        (&job["status"], &job["inserted"]),
        (&json!("succeeded"), &json!(50))
    );
    // A count from the book's defaults is held to the same limit, before any job.
    let (status, big) = api
        .call(
            "POST",
            "/v1/books",
            Some(json!({"name": "Defaults", "status": "active",
                "code_pattern": {"count": 20_001, "pattern": "DEF-######"}})),
        )
        .await;
    assert_eq!(status, 201, "{big}");
    let big_id = big["id"].as_str().expect("book id");
    let (status, body) = api
        .call(
            "POST",
            &format!("/v1/books/{big_id}/codes/generate"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (413, "payload_too_large"),
        "{body}"
    );
    let (_, big) = api.call("GET", &format!("/v1/books/{big_id}"), None).await;
    assert_eq!(big["counts"]["total"], 0, "{big}");
    let (status, book) = api.call("GET", &format!("/v1/books/{book_id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(book["counts"]["total"], 52, "{book}");
    assert_eq!(book["counts"]["redeemed"], 1, "{book}");
    assert_eq!(runtime.init_error(), None);
}

/// An outbox event as the table's stream shows its item (NEW_IMAGE).
fn stream_record(sequence: u64, event_name: &str, image: Value) -> Value {
    json!({
        "eventID": format!("record-{sequence}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/coupons/stream/2026-12-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_796_119_200,
            "Keys": {"PK": image["PK"].clone(), "SK": image["SK"].clone()},
            "NewImage": image,
            "SequenceNumber": format!("{sequence:021}"),
            "SizeBytes": 512,
            "StreamViewType": "NEW_IMAGE"
        }
    })
}

/// The item the DynamoDB store writes for an event of the feed.
fn event_image(event: &Value) -> Value {
    let created = chrono::DateTime::parse_from_rfc3339(event["created_at"].as_str().expect("time"))
        .expect("RFC 3339 time")
        .timestamp_millis();
    let id = event["id"].as_str().expect("event id");
    json!({
        "PK": {"S": "EVT#3"},
        "SK": {"S": id},
        "id": {"S": id},
        "type": {"S": event["type"]},
        "created_at": {"N": created.to_string()},
        "actor": {"S": event["actor"].to_string()},
        "data": {"S": event["data"].to_string()}
    })
}

fn failures(answer: &Answer) -> Vec<String> {
    let Answer::Response(response) = answer else {
        panic!("the Streams function failed the whole batch: {answer:?}");
    };
    response["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .expect("itemIdentifier")
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streams_function_delivers_outbox_events_and_reports_bad_records() {
    let api = ApiFunction::start("streams").await;
    // Fails the first attempt of every event: each one needs the stream's retry.
    let receiver = Receiver::start(Behaviour {
        fail_first: 1,
        fail_every: 0,
    })
    .await;

    let (status, hook) = api
        .call(
            "POST",
            "/v1/webhooks",
            Some(json!({"url": receiver.url(), "event_types": ["coupon.redeemed", "coupon.assigned"]})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let hook_id = hook["id"].as_str().expect("webhook id").to_string();
    let secret = hook["secret"].as_str().expect("secret").to_string();
    api.book_with_codes("Streams", &["STREAM-1", "STREAM-2"])
        .await;
    for (code, user) in [("STREAM-1", "ann"), ("STREAM-2", "ben")] {
        let (status, body) = api
            .call(
                "POST",
                &format!("/v1/coupons/{code}/redeem"),
                Some(json!({"user_id": user})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // An endpoint made after the redemptions gets none of them, as with `serve`.
    let late = Receiver::start(Behaviour::default()).await;
    let (status, body) = api
        .call(
            "POST",
            "/v1/webhooks",
            Some(json!({"url": late.url(), "event_types": ["*"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, feed) = api.call("GET", "/v1/events?limit=100", None).await;
    assert_eq!(status, 200, "{feed}");
    let events = feed["data"].as_array().expect("events").clone();
    let redeemed: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "coupon.redeemed")
        .collect();
    assert_eq!(redeemed.len(), 2, "{feed}");
    let book_created = events
        .iter()
        .find(|e| e["type"] == "book.created")
        .expect("book.created");

    let streams = RuntimeApi::start().await;
    let _streams_function = api.start_other(&streams, "streams");

    // One batch: an event nobody subscribes to, the first redemption (MODIFY: handled
    // like INSERT), an item that is not an event, a removal, a malformed outbox item,
    // then the second redemption.
    let mut not_an_event = event_image(book_created);
    not_an_event["PK"] = json!({"S": "CPN#STREAM-1"});
    let mut malformed = event_image(redeemed[1]);
    malformed.as_object_mut().expect("image").remove("data");
    let batch = |records: Vec<Value>| json!({"Records": records});
    let first_batch = batch(vec![
        stream_record(1, "INSERT", event_image(book_created)),
        stream_record(2, "MODIFY", event_image(redeemed[0])),
        stream_record(3, "INSERT", not_an_event),
        stream_record(4, "REMOVE", event_image(redeemed[0])),
        stream_record(5, "INSERT", malformed),
        stream_record(6, "INSERT", event_image(redeemed[1])),
    ]);

    // The receiver fails the first attempt: record 2 is reported and the batch stops
    // there. Lambda then hands in the batch from record 2 on.
    let answer = streams.invoke(first_batch.clone()).await;
    assert_eq!(failures(&answer), vec![format!("{:021}", 2)]);
    assert_eq!(receiver.seen().len(), 1, "only record 2 was tried");
    let retry = batch(first_batch["Records"].as_array().expect("records")[1..].to_vec());
    let answer = streams.invoke(retry.clone()).await;
    assert_eq!(
        failures(&answer),
        vec![format!("{:021}", 5)],
        "the malformed record is reported"
    );
    let first_id = redeemed[0]["id"].as_str().expect("id");
    let acknowledged = receiver.acknowledged();
    assert_eq!(acknowledged.len(), 1, "{acknowledged:?}");
    assert_eq!(acknowledged[0].id, first_id);
    assert_signed(&acknowledged[0], &secret);
    assert_eq!(
        acknowledged[0].event(),
        *redeemed[0],
        "exactly the feed's event"
    );

    // Handed in again, record 2 is not sent twice: the attempt log says it arrived.
    let answer = streams.invoke(retry).await;
    assert_eq!(failures(&answer), vec![format!("{:021}", 5)]);
    assert_eq!(receiver.acknowledged().len(), 1);

    // After the bad record (dropped by the mapping's retry limit), the rest arrives.
    let tail = batch(vec![stream_record(6, "INSERT", event_image(redeemed[1]))]);
    assert_eq!(
        failures(&streams.invoke(tail.clone()).await),
        vec![format!("{:021}", 6)]
    );
    assert_eq!(failures(&streams.invoke(tail).await), Vec::<String>::new());
    let acknowledged = receiver.acknowledged();
    let ids: Vec<&str> = acknowledged.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec![first_id, redeemed[1]["id"].as_str().expect("id")]);
    for received in &acknowledged {
        assert_signed(received, &secret);
    }

    // Every attempt is in the endpoint's log, as with `serve`.
    let (status, log) = api
        .call("GET", &format!("/v1/webhooks/{hook_id}/deliveries"), None)
        .await;
    assert_eq!(status, 200, "{log}");
    let attempts: Vec<(String, String)> = log["data"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                a["event_id"].as_str().unwrap_or("").to_string(),
                a["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let second_id = redeemed[1]["id"].as_str().expect("id").to_string();
    assert_eq!(
        attempts,
        vec![
            (first_id.to_string(), "retrying".to_string()),
            (first_id.to_string(), "succeeded".to_string()),
            (second_id.clone(), "retrying".to_string()),
            (second_id, "succeeded".to_string()),
        ]
    );

    assert!(late.seen().is_empty(), "{:?}", late.seen());

    // A payload that is no Streams batch fails the invocation as a whole.
    let answer = streams.invoke(json!({"hello": "world"})).await;
    assert!(matches!(answer, Answer::Error(_)), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_function_announces_expired_locks() {
    let api = ApiFunction::start("sweep").await;
    api.book_with_codes("Sweep", &["SWEEP-1", "SWEEP-2"]).await;
    let (status, lock) = api
        .call(
            "POST",
            "/v1/coupons/SWEEP-1/lock",
            Some(json!({"user_id": "cat", "ttl_seconds": 1})),
        )
        .await;
    assert_eq!(status, 200, "{lock}");
    let (status, _) = api
        .call(
            "POST",
            "/v1/coupons/SWEEP-2/lock",
            Some(json!({"user_id": "dan", "ttl_seconds": 600})),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let sweep = RuntimeApi::start().await;
    let _sweep_function = api.start_other(&sweep, "sweep");
    let scheduled = json!({
        "version": "0", "id": "sweep-1", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-12-01T10:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {}
    });
    assert_eq!(
        sweep.invoke(scheduled.clone()).await,
        Answer::Response(json!({"expired_locks": 1}))
    );
    assert_eq!(
        sweep.invoke(scheduled).await,
        Answer::Response(json!({"expired_locks": 0})),
        "a lock is announced once"
    );
    let (status, feed) = api.call("GET", "/v1/events?limit=100", None).await;
    assert_eq!(status, 200);
    let expired: Vec<&Value> = feed["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "coupon.lock_expired")
        .collect();
    assert_eq!(expired.len(), 1, "{feed}");
    assert_eq!(expired[0]["data"]["code"], "SWEEP-1");
    let (status, coupon) = api.call("GET", "/v1/coupons/SWEEP-2", None).await;
    assert_eq!(
        (status, &coupon["status"]),
        (200, &json!("locked")),
        "the live lock stays"
    );
}
