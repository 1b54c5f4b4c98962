//! A webhook receiver for the tests: an axum server on loopback that records every
//! delivery (headers, body, its answer) and fails on purpose when told to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use coupon_book::domain::webhook::verify;
use serde_json::Value;

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Bytes,
    pub answered: u16,
}

impl Received {
    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Fails the first `fail_first` attempts of each event (by `Webhook-Id`), every
/// `fail_every`-th request (0 = never), and everything while `down` is set.
#[derive(Default)]
pub struct Behaviour {
    pub fail_first: usize,
    pub fail_every: usize,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Received>>>,
    pub down: Arc<AtomicBool>,
    pub task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct ReceiverState {
    seen: Arc<Mutex<Vec<Received>>>,
    count: Arc<AtomicUsize>,
    per_event: Arc<Mutex<HashMap<String, usize>>>,
    down: Arc<AtomicBool>,
    fail_first: usize,
    fail_every: usize,
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = state.count.fetch_add(1, Ordering::SeqCst) + 1;
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let attempt = {
        let mut per_event = state.per_event.lock().expect("lock");
        let count = per_event.entry(id).or_default();
        *count += 1;
        *count
    };
    let fail = state.down.load(Ordering::SeqCst)
        || attempt <= state.fail_first
        || (state.fail_every > 0 && n % state.fail_every == 0);
    let status = if fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    state.seen.lock().expect("lock").push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answered: status.as_u16(),
    });
    status
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let state = ReceiverState {
            seen: seen.clone(),
            count: Arc::new(AtomicUsize::new(0)),
            per_event: Arc::new(Mutex::new(HashMap::new())),
            down: down.clone(),
            fail_first: behaviour.fail_first,
            fail_every: behaviour.fail_every,
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            addr,
            seen,
            down,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn seen(&self) -> Vec<Received> {
        self.seen.lock().expect("lock").clone()
    }

    /// The requests answered 2xx.
    pub fn acknowledged(&self) -> Vec<Received> {
        self.seen()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }

    /// Waits until `done` holds for what was received, or panics after `limit`.
    pub async fn wait_for(&self, limit: Duration, what: &str, done: impl Fn(&[Received]) -> bool) {
        let started = Instant::now();
        loop {
            if done(&self.seen()) {
                return;
            }
            if started.elapsed() > limit {
                let seen = self.seen();
                panic!(
                    "{what}: not after {limit:?}; {} requests received, {} acknowledged",
                    seen.len(),
                    seen.iter().filter(|r| r.answered == 200).count()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

#[track_caller]
pub fn assert_signed(received: &Received, secret: &str) {
    assert_eq!(
        verify(
            secret,
            &received.id,
            &received.timestamp,
            &received.body,
            &received.signature,
            now_seconds(),
            300,
        ),
        Ok(()),
        "signature of {received:?}"
    );
}
