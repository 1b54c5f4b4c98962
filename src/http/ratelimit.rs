//! Per-caller rate limits: one token bucket per bearer token (an API key or a JWT),
//! or per client address for requests without one.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use super::extract::bearer_token;
use crate::domain::{Error, ErrorCode};

#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<u64>>,
    per_second: u32,
}

impl RateLimit {
    /// `None` when the rate is 0 (off).
    pub fn new(per_second: u32, burst: Option<u32>) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = burst
            .and_then(NonZeroU32::new)
            .unwrap_or(rate.saturating_mul(NonZeroU32::MIN.saturating_add(1)));
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(RateLimit {
            limiter: Arc::new(RateLimiter::keyed(quota)),
            per_second,
        })
    }

    /// Drops buckets that are full again, so memory does not grow with callers seen.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

fn caller_key(request: &Request) -> u64 {
    let mut hasher = DefaultHasher::new();
    match bearer_token(request.headers()) {
        Some(token) => token.hash(&mut hasher),
        None => request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .hash(&mut hasher),
    }
    hasher.finish()
}

/// Probes and scrapes are never limited: a busy caller must not make the service look
/// down to its load balancer.
fn exempt(request: &Request) -> bool {
    matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics")
}

pub async fn limit(State(limit): State<RateLimit>, request: Request, next: Next) -> Response {
    if exempt(&request) {
        return next.run(request).await;
    }
    let key = caller_key(&request);
    match limit.limiter.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = ApiError(Error::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} requests per second; slow down",
                    limit.per_second
                ),
            ))
            .into_response();
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}
