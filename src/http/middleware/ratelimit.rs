//! Per-caller rate limits: one token bucket per API key or JWT subject (per client
//! address for requests without a valid token), and a stricter one on lookups of
//! unknown codes, the signature of someone guessing codes. Before any of them, a
//! per-address allowance of store reads that found no caller (unknown tokens) and of
//! `/readyz` probes, so such requests cannot make the store work without bound.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::auth::{Authenticator, Lookup};
use crate::domain::{Error, ErrorCode};
use crate::http::caller::{PreAuthenticated, bearer_token};
use crate::http::error::ApiError;

pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");

/// Callers remembered as blocked from code lookups, at most.
const MAX_BLOCKED: usize = 100_000;

/// The limits in force; a rate of 0 turns that limit off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub per_second: u32,
    /// Defaults to twice the rate.
    pub burst: Option<u32>,
    /// `coupon_not_found` answers per minute per caller.
    pub unknown_codes_per_minute: u32,
    /// Defaults to the per-minute figure.
    pub unknown_codes_burst: Option<u32>,
    /// Store reads per second per client address before the caller is known (key
    /// lookups that miss the cache, readiness probes).
    pub address_lookups_per_second: u32,
    /// Defaults to twice the rate.
    pub address_lookups_burst: Option<u32>,
}

type Limiter = DefaultKeyedRateLimiter<String, StateInformationMiddleware>;

struct Requests {
    limiter: Limiter,
    per_second: u32,
    burst: u32,
}

/// An allowance of failures (unknown codes, unknown tokens): checked before the work,
/// charged only when the work fails, so callers that do nothing wrong never wait.
struct Misses {
    limiter: DefaultKeyedRateLimiter<String>,
    /// The allowance as said in 429 messages ("60 per minute").
    rate: String,
    /// Callers that used up their allowance, until when.
    blocked: Mutex<HashMap<String, Instant>>,
}

impl Misses {
    fn new(quota: Quota, rate: String) -> Self {
        Misses {
            limiter: RateLimiter::keyed(quota),
            rate,
            blocked: Mutex::new(HashMap::new()),
        }
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
        if let Ok(mut blocked) = self.blocked.lock() {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
        }
    }

    /// How long `key` must still wait before looking up codes again.
    fn blocked_for(&self, key: &str) -> Option<Duration> {
        let blocked = self.blocked.lock().ok()?;
        let until = blocked.get(key)?;
        until.checked_duration_since(Instant::now())
    }

    /// Counts one unknown code; past the allowance the caller is blocked until a new
    /// one is allowed.
    fn miss(&self, key: &str) {
        let key = key.to_string();
        if let Err(not_until) = self.limiter.check_key(&key) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            if let Ok(mut blocked) = self.blocked.lock() {
                if blocked.len() >= MAX_BLOCKED {
                    let now = Instant::now();
                    blocked.retain(|_, until| *until > now);
                }
                if blocked.len() < MAX_BLOCKED {
                    blocked.insert(key, Instant::now() + wait);
                }
            }
        }
    }
}

/// The request guard: who is calling, and may they send another request now.
pub struct Guard {
    auth: Arc<Authenticator>,
    requests: Option<Requests>,
    guesses: Option<Misses>,
    lookups: Option<Misses>,
}

impl Guard {
    /// `None` when every limit is off.
    pub fn new(auth: Arc<Authenticator>, limits: Limits) -> Option<Arc<Self>> {
        let requests = NonZeroU32::new(limits.per_second).map(|rate| {
            let burst = limits
                .burst
                .and_then(NonZeroU32::new)
                .unwrap_or(rate.saturating_mul(NonZeroU32::MIN.saturating_add(1)));
            Requests {
                limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
                    .with_middleware::<StateInformationMiddleware>(),
                per_second: rate.get(),
                burst: burst.get(),
            }
        });
        let lookups = NonZeroU32::new(limits.address_lookups_per_second).map(|rate| {
            let burst = limits
                .address_lookups_burst
                .and_then(NonZeroU32::new)
                .unwrap_or(rate.saturating_mul(NonZeroU32::MIN.saturating_add(1)));
            Misses::new(
                Quota::per_second(rate).allow_burst(burst),
                format!("{rate} per second"),
            )
        });
        let guesses = NonZeroU32::new(limits.unknown_codes_per_minute).map(|rate| {
            let burst = limits
                .unknown_codes_burst
                .and_then(NonZeroU32::new)
                .unwrap_or(rate);
            Misses::new(
                Quota::per_minute(rate).allow_burst(burst),
                format!("{rate} per minute"),
            )
        });
        if requests.is_none() && guesses.is_none() && lookups.is_none() {
            return None;
        }
        Some(Arc::new(Guard {
            auth,
            requests,
            guesses,
            lookups,
        }))
    }

    /// Drops state that no longer limits anyone, so memory does not grow with callers.
    pub fn forget_idle(&self) {
        if let Some(requests) = &self.requests {
            requests.limiter.retain_recent();
        }
        for misses in [&self.guesses, &self.lookups].into_iter().flatten() {
            misses.forget_idle();
        }
    }
}

/// The liveness probe is never limited: a busy caller must not make the service look
/// down to its load balancer. It reads nothing.
fn exempt(request: &Request) -> bool {
    request.uri().path() == "/healthz"
}

/// Routes outside the API that any client may call: no caller bucket, but the
/// readiness probe reads the store, so they count against the address's lookups.
fn is_probe(request: &Request) -> bool {
    matches!(request.uri().path(), "/readyz" | "/metrics")
}

/// Routes that take a coupon code in their path: the ones a code guesser probes.
fn looks_up_code(request: &Request) -> bool {
    request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| path.as_str().contains("{code}"))
}

fn client_ip(request: &Request) -> String {
    match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => address_key(addr.ip()),
        None => "ip:unknown".to_string(),
    }
}

/// The bucket of a client address: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's usual allocation, in which a client can pick any address).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The 429 to answer while the address has used up its allowance of lookups that
/// found nothing.
fn lookups_refused(guard: &Guard, address: &str) -> Option<Response> {
    match guard.lookups.as_ref().map(|l| (l, l.blocked_for(address))) {
        Some((lookups, Some(wait))) => Some(too_many(
            format!(
                "more than {} requests from this address that read the store without a \
                 known caller (unknown tokens, /readyz); slow down",
                lookups.rate
            ),
            wait,
        )),
        _ => None,
    }
}

fn charge_lookup(guard: &Guard, address: &str) {
    if let Some(lookups) = &guard.lookups {
        lookups.miss(address);
    }
}

pub async fn guard(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    if exempt(&request) {
        return next.run(request).await;
    }
    let address = client_ip(&request);
    if is_probe(&request) {
        if let Some(refused) = lookups_refused(&guard, &address) {
            return refused;
        }
        charge_lookup(&guard, &address);
        return next.run(request).await;
    }
    // The bucket is the caller's: an API key or JWT subject, whatever token it uses;
    // without a valid token, the client address. A key the cache does not know costs
    // a store read, which the address pays for first.
    let caller = match bearer_token(request.headers()) {
        Some(token) => {
            let outcome = match guard.auth.authenticate_offline(token) {
                Lookup::Done(outcome) => outcome,
                Lookup::NeedsStore(key_hash) => {
                    if let Some(refused) = lookups_refused(&guard, &address) {
                        return refused;
                    }
                    let found = guard.auth.look_up(key_hash).await;
                    if found.is_err() {
                        charge_lookup(&guard, &address);
                    }
                    found
                }
            }
            .map_err(|e| e.0);
            request
                .extensions_mut()
                .insert(PreAuthenticated(outcome.clone()));
            outcome.ok()
        }
        None => None,
    };
    let key = match &caller {
        Some(caller) => format!("caller:{}", caller.id),
        None => address,
    };
    let mut quota_headers = None;
    if let Some(requests) = &guard.requests {
        match requests.limiter.check_key(&key) {
            Ok(snapshot) => {
                quota_headers = Some((requests.burst, snapshot.remaining_burst_capacity()));
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let message = format!(
                    "more than {} requests per second; slow down",
                    requests.per_second
                );
                let mut response = too_many(message, wait);
                set_quota_headers(&mut response, requests.burst, 0);
                return response;
            }
        }
    }
    if let Some(guesses) = &guard.guesses
        && looks_up_code(&request)
        && let Some(wait) = guesses.blocked_for(&key)
    {
        let message = format!(
            "more than {} lookups of unknown codes; wait before trying other codes",
            guesses.rate
        );
        return too_many(message, wait);
    }
    let mut response = next.run(request).await;
    if let Some(guesses) = &guard.guesses
        && response.extensions().get::<ErrorCode>() == Some(&ErrorCode::CouponNotFound)
    {
        guesses.miss(&key);
    }
    if let Some((limit, remaining)) = quota_headers {
        set_quota_headers(&mut response, limit, remaining);
    }
    response
}

fn too_many(message: String, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = ApiError(Error::new(ErrorCode::RateLimited, message)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

fn set_quota_headers(response: &mut Response, limit: u32, remaining: u32) {
    let headers = response.headers_mut();
    headers.insert(RATELIMIT_LIMIT.clone(), HeaderValue::from(limit));
    headers.insert(RATELIMIT_REMAINING.clone(), HeaderValue::from(remaining));
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn an_ipv6_client_is_one_bucket_per_64() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = address_key("2001:db8:1:2:ffff:1:2:3".parse().expect("ip"));
        let other = address_key("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(
            address_key("::ffff:198.51.100.4".parse().expect("ip")),
            address_key("198.51.100.4".parse().expect("ip"))
        );
        assert_ne!(
            address_key("198.51.100.4".parse().expect("ip")),
            address_key("198.51.100.5".parse().expect("ip"))
        );
    }
}
