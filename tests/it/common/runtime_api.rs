//! A local stand-in for the AWS Lambda Runtime API (the `2018-06-01` interface a
//! custom runtime polls): it hands queued invocations to the function process on
//! `GET /runtime/invocation/next` and collects what the function posts back to
//! `.../response` or `.../error`. Used by the Lambda tests and the Lambda bench.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<(String, Value)>,
    answers: HashMap<String, oneshot::Sender<Answer>>,
    next_id: u64,
    /// When the function first asked for work (its initialisation was done).
    first_poll: Option<Instant>,
    init_error: Option<Value>,
}

#[derive(Clone, Default)]
struct Shared {
    queue: Arc<Mutex<Queue>>,
    arrived: Arc<Notify>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let shared = Shared::default();
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the runtime API");
        let addr = listener.local_addr().expect("runtime API address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi { addr, shared, task }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the function process.
    pub fn env_value(&self) -> String {
        self.addr.to_string()
    }

    /// Hands one event to the function and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Answer {
        let (tx, rx) = oneshot::channel();
        {
            let mut queue = self.shared.queue.lock().expect("queue");
            queue.next_id += 1;
            let id = format!("req-{:06}", queue.next_id);
            queue.answers.insert(id.clone(), tx);
            queue.waiting.push_back((id, event));
        }
        self.shared.arrived.notify_one();
        match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => panic!("the invocation was dropped"),
            Err(_) => {
                let init = self.shared.queue.lock().expect("queue").init_error.clone();
                panic!("no answer from the function in 60 s (init error: {init:?})")
            }
        }
    }

    /// When the function first polled for work.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.queue.lock().expect("queue").first_poll
    }

    pub fn init_error(&self) -> Option<Value> {
        self.shared.queue.lock().expect("queue").init_error.clone()
    }
}

async fn next(State(shared): State<Shared>) -> Response {
    loop {
        let notified = shared.arrived.notified();
        {
            let mut queue = shared.queue.lock().expect("queue");
            queue.first_poll.get_or_insert_with(Instant::now);
            if let Some((id, event)) = queue.waiting.pop_front() {
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() + 30_000)
                    .unwrap_or_default();
                let mut headers = HeaderMap::new();
                let mut set = |name: &'static str, value: String| {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        headers.insert(name, value);
                    }
                };
                set("lambda-runtime-aws-request-id", id);
                set("lambda-runtime-deadline-ms", deadline.to_string());
                set(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:coupon-book".into(),
                );
                set(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000".into(),
                );
                set("content-type", "application/json".into());
                return (headers, event.to_string()).into_response();
            }
        }
        notified.await;
    }
}

fn answer(shared: &Shared, id: &str, answer: Answer) -> StatusCode {
    match shared.queue.lock().expect("queue").answers.remove(id) {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Answer::Response(json_or_text(&body)))
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&shared, &id, Answer::Error(json_or_text(&body)))
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    shared.queue.lock().expect("queue").init_error = Some(json_or_text(&body));
    StatusCode::ACCEPTED
}

/// The environment Lambda gives every function process.
pub fn function_env(runtime: &RuntimeApi, name: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime.env_value()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_string()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_string()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// An API Gateway HTTP API (payload format 2.0) event.
pub fn apigw_v2(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.to_string())))
        .collect();
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "coupons",
            "domainName": "coupons.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "coupons",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "coupon-book-tests"
            },
            "requestId": "v2-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:10:00:00 +0000",
            "timeEpoch": 1_796_119_200_000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// An API Gateway REST API (v1 proxy integration) event, stage `prod`.
pub fn apigw_v1(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let single: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let multi: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
        .collect();
    let query: Option<serde_json::Map<String, Value>> = (!query.is_empty()).then(|| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    });
    serde_json::json!({
        "resource": "/{proxy+}",
        "path": raw_path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": raw_path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "proxy",
            "stage": "prod",
            "requestId": "v1-request",
            "identity": {"sourceIp": "203.0.113.8", "userAgent": "coupon-book-tests"},
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "coupons",
            "path": format!("/prod{raw_path}")
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// Status and JSON body of an API Gateway answer (v1 and v2 have the same shape).
pub fn http_answer(answer: &Answer) -> (u16, Value) {
    let Answer::Response(response) = answer else {
        panic!("the function failed: {answer:?}");
    };
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let body = match response["body"].as_str() {
        Some(text) if !text.is_empty() => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
        }
        _ => Value::Null,
    };
    (status, body)
}
