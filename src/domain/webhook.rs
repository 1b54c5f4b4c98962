//! Webhooks: endpoints that receive the change feed, their signing secrets, the
//! signature scheme (compatible with the Standard Webhooks spec), delivery attempts and
//! the policy on which URLs may be called.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;

use super::error::{Error, Result};
use super::event::{self, Event};
use super::time::Timestamp;

/// The event a `POST /v1/webhooks/{id}/test` sends.
pub const WEBHOOK_TEST: &str = "webhook.test";
/// Subscribes to every event type.
pub const ALL_EVENTS: &str = "*";
/// Event types an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    event::BOOK_CREATED,
    event::BOOK_UPDATED,
    event::BOOK_DELETED,
    event::BOOK_CODES_ADDED,
    event::BOOK_EXHAUSTED,
    event::COUPON_ASSIGNED,
    event::COUPON_UNASSIGNED,
    event::COUPON_LOCKED,
    event::COUPON_UNLOCKED,
    event::COUPON_LOCK_EXPIRED,
    event::COUPON_REDEEMED,
    event::COUPON_VOIDED,
    event::REDEMPTION_REVERSED,
];

pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec allows 24..64).
const SECRET_BYTES: usize = 32;
const MAX_URL_CHARS: usize = 2048;
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// How much of a receiver's answer an attempt keeps.
pub const RESPONSE_SNIPPET_BYTES: usize = 1024;
/// How long a rotated-out secret still signs deliveries (next to the new one).
pub const PREVIOUS_SECRET_GRACE_SECONDS: u64 = 86_400;
/// Default tolerance of a receiver on `Webhook-Timestamp`.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    /// Receives deliveries.
    Enabled,
    /// Stopped after failing for too long; deliveries wait (nothing is skipped).
    Disabled,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Enabled => "enabled",
            WebhookStatus::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enabled" => Some(WebhookStatus::Enabled),
            "disabled" => Some(WebhookStatus::Disabled),
            _ => None,
        }
    }
}

/// A subscribed endpoint, as the API shows it (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Event types delivered to this endpoint; `*` means all.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub status: WebhookStatus,
    pub created_at: Timestamp,
    /// Since when every delivery attempt has failed; null while deliveries succeed.
    pub failing_since: Option<Timestamp>,
}

impl Webhook {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types
            .iter()
            .any(|t| t == ALL_EVENTS || t == event_type)
    }
}

/// Returned at creation and on rotation: the only times the secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_<base64>`: verify each delivery's `Webhook-Signature` with it.
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateWebhook {
    /// `http` or `https` URL that receives `POST`s.
    pub url: String,
    /// E.g. `["coupon.redeemed", "redemption.reversed"]`, or `["*"]` for all.
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

impl CreateWebhook {
    pub fn validate(&self, policy: UrlPolicy) -> Result<()> {
        check_url(&self.url, policy)?;
        if self.event_types.is_empty() {
            return Err(Error::invalid(
                "event_types",
                "give at least one event type (or \"*\" for all)",
            ));
        }
        for (i, t) in self.event_types.iter().enumerate() {
            if t != ALL_EVENTS && !EVENT_TYPES.contains(&t.as_str()) {
                return Err(Error::invalid(
                    format!("event_types[{i}]"),
                    format!(
                        "unknown event type {t:?}; known: {}",
                        EVENT_TYPES.join(", ")
                    ),
                ));
            }
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
        {
            return Err(Error::invalid(
                "description",
                "description must be at most 2000 characters",
            ));
        }
        Ok(())
    }

    pub fn into_webhook(self, id: String, now: Timestamp) -> Webhook {
        let mut event_types: Vec<String> = Vec::new();
        for t in self.event_types {
            if !event_types.contains(&t) {
                event_types.push(t);
            }
        }
        Webhook {
            id,
            url: self.url,
            event_types,
            description: self.description,
            status: WebhookStatus::Enabled,
            created_at: now,
            failing_since: None,
        }
    }
}

/// An endpoint with what delivering to it needs: its secrets and where it stands in
/// the event feed. Internal: never sent to API clients.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub webhook: Webhook,
    pub secret: String,
    /// The secret before the last rotation, and until when it still signs.
    pub previous_secret: Option<(String, Timestamp)>,
    /// The last event of the feed this endpoint is done with (delivered, queued for a
    /// retry, or not subscribed); None = from the start of the feed.
    pub cursor: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    // Secrets stay out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("webhook", &self.webhook)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The secrets that sign a delivery now: the current one, and the previous one
    /// during its grace period.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some((previous, until)) = &self.previous_secret
            && *until > now
        {
            secrets.push(previous.as_str());
        }
        secrets
    }
}

/// A delivery attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// The receiver answered 2xx.
    Succeeded,
    /// Failed; another attempt is scheduled at `next_attempt_at`.
    Retrying,
    /// Failed, and no attempt follows (retries used up, or a test send).
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Succeeded => "succeeded",
            AttemptStatus::Retrying => "retrying",
            AttemptStatus::Failed => "failed",
        }
    }
}

/// One POST of one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt of this event, 2 for the first retry, ...
    pub attempt: u32,
    pub status: AttemptStatus,
    /// The receiver's HTTP status; null when no answer came (network error, timeout).
    pub response_status: Option<u16>,
    /// The start of the receiver's answer (at most 1 KiB, lossy UTF-8).
    pub response_body: Option<String>,
    /// Why no answer came, e.g. `timed out after 10 s` or `connection refused`.
    pub error: Option<String>,
    /// From sending the request to the end of the answer's snippet.
    pub latency_ms: u64,
    pub attempted_at: Timestamp,
    /// When the next attempt is due (status `retrying`).
    pub next_attempt_at: Option<Timestamp>,
}

/// An event waiting for (another) attempt at one endpoint: after a failure, or behind
/// a failed event of the same coupon (deliveries are in order per coupon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingDelivery {
    pub event: Event,
    pub order_key: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
}

/// What one round of delivery changes at an endpoint, stored in one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryBatch {
    pub attempts: Vec<DeliveryAttempt>,
    /// Pending deliveries to insert or replace (by event id).
    pub pending: Vec<PendingDelivery>,
    /// Event ids no longer pending (delivered or given up).
    pub done: Vec<String>,
    /// The endpoint's new place in the feed.
    pub cursor: Option<String>,
    /// `Some(x)` sets `failing_since` to x.
    pub failing_since: Option<Option<Timestamp>>,
    /// Turns the endpoint off (failing for too long).
    pub disable: bool,
}

impl DeliveryBatch {
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
            && self.pending.is_empty()
            && self.done.is_empty()
            && self.cursor.is_none()
            && self.failing_since.is_none()
            && !self.disable
    }
}

pub fn not_found(id: &str) -> Error {
    Error::new(
        super::ErrorCode::WebhookNotFound,
        format!("no webhook with id {id:?}"),
    )
}

/// The delivery lease of an endpoint as stored: who delivers its events, until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease<'a> {
    pub holder: Option<&'a str>,
    pub until: Option<Timestamp>,
}

impl Lease<'_> {
    /// Whether `holder` may take or renew the lease at `now`: one delivery worker per
    /// endpoint at a time, and none for a disabled endpoint. A lease past its time is
    /// free, so a worker that died is replaced.
    pub fn may_take(&self, status: WebhookStatus, holder: &str, now: Timestamp) -> bool {
        let taken = self.holder.is_some_and(|h| h != holder) && self.until.is_some_and(|t| t > now);
        !taken && status != WebhookStatus::Disabled
    }

    /// Results are recorded only by the lease's holder (`None`: a caller that needs no
    /// lease, such as a test delivery); to anyone else the endpoint is gone.
    pub fn check_recorder(&self, recorder: Option<&str>, id: &str) -> Result<()> {
        match recorder {
            Some(recorder) if self.holder != Some(recorder) => Err(not_found(id)),
            _ => Ok(()),
        }
    }
}

/// Events of the same coupon (or book) are delivered in order: this names the chain an
/// event belongs to.
pub fn order_key(event: &Event) -> String {
    let named = |field: &str| event.data.get(field).and_then(Value::as_str);
    match named("code").or_else(|| named("id")) {
        Some(key) => key.to_string(),
        None => event.id.clone(),
    }
}

// ---------------------------------------------------------------------------------
// Secrets and signatures

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_...` secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD
        .decode(encoded.trim())
        .ok()
        .filter(|key| !key.is_empty())
        .ok_or_else(|| Error::invalid("secret", "the secret is not whsec_<base64>"))
}

fn mac(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| Error::invalid("secret", "unusable secret"))?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    let key = secret_key(secret)?;
    let tag = mac(&key, msg_id, timestamp, body)?.finalize().into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// The `Webhook-Signature` value: one `v1,<sig>` per secret, space-separated.
pub fn signature_header(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String> {
    let signatures = secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, body))
        .collect::<Result<Vec<_>>>()?;
    Ok(signatures.join(" "))
}

/// Why a delivery did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the secret is not whsec_<base64>")]
    BadSecret,
    #[error("the Webhook-Timestamp header is missing or not Unix seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from now, more than the tolerance")]
    TooOld(i64),
    #[error("no v1 signature in Webhook-Signature matches")]
    NoMatch,
}

/// Checks a delivery the way a receiver should: the timestamp within `tolerance`
/// seconds of `now` (0 = not checked), and one of the header's `v1` signatures equal
/// (in constant time) to the HMAC of `id.timestamp.body`.
pub fn verify(
    secret: &str,
    msg_id: &str,
    timestamp: &str,
    body: &[u8],
    signature_header: &str,
    now_seconds: i64,
    tolerance: i64,
) -> std::result::Result<(), VerifyError> {
    let key = secret_key(secret).map_err(|_| VerifyError::BadSecret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let skew = (now_seconds - ts).abs();
    if tolerance > 0 && skew > tolerance {
        return Err(VerifyError::TooOld(skew));
    }
    for candidate in signature_header.split_whitespace() {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(given) = STANDARD.decode(encoded) else {
            continue;
        };
        let mac = mac(&key, msg_id, ts, body).map_err(|_| VerifyError::BadSecret)?;
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatch)
}

// ---------------------------------------------------------------------------------
// Which URLs may be called (SSRF)

/// Whether URLs on loopback, private and link-local networks are allowed (a setting,
/// for tests and trusted networks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    pub allow_private: bool,
}

impl UrlPolicy {
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// The parts of a webhook URL that decide where it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Without brackets for IPv6.
    pub host: String,
    pub port: u16,
}

/// Parses and checks a webhook URL: `http`/`https` only, a host, no user info, and not
/// an address on a loopback, private, link-local or otherwise internal network (unless
/// the policy allows them). Host names are checked again when they are resolved.
pub fn check_url(text: &str, policy: UrlPolicy) -> Result<Target> {
    let refuse = |why: &str| Error::invalid("url", why.to_string());
    if text.chars().count() > MAX_URL_CHARS {
        return Err(refuse("url must be at most 2048 characters"));
    }
    let uri: http::Uri = text
        .parse()
        .map_err(|_| refuse("url is not a valid absolute URL"))?;
    let https = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        _ => return Err(refuse("url must start with http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| refuse("url has no host"))?;
    if authority.as_str().contains('@') {
        return Err(refuse("url must not contain user information"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(refuse("url has no host"));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    if !policy.allow_private {
        let lower = host.to_ascii_lowercase();
        let lower = lower.trim_end_matches('.');
        if let Some(ip) = parse_ip_host(lower) {
            if !is_public(ip) {
                return Err(refuse(
                    "url points to a loopback, private or link-local address; webhooks only call public addresses",
                ));
            }
        } else if lower == "localhost" || lower.ends_with(".localhost") || !lower.contains('.') {
            return Err(refuse(
                "url must name a public host (a fully qualified name or a public address)",
            ));
        }
    }
    Ok(Target {
        https,
        host: host.to_string(),
        port,
    })
}

/// An IP literal as a URL host; also the shorthand forms (`127.1`, `2130706433`,
/// `0x7f.1`) that resolvers accept for IPv4.
pub fn parse_ip_host(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let value = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            u32::from_str_radix(hex, 16).ok()?
        } else if part.len() > 1 && part.starts_with('0') {
            u32::from_str_radix(&part[1..], 8).ok()?
        } else {
            part.parse::<u32>().ok()?
        };
        numbers.push(value);
    }
    let (last, head) = numbers.split_last()?;
    if head.iter().any(|n| *n > 255) {
        return None;
    }
    let mut value: u32 = 0;
    for (i, n) in head.iter().enumerate() {
        value |= n << (24 - 8 * i);
    }
    let room = 32 - 8 * head.len() as u32;
    if room < 32 && *last >= (1u32 << room) {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::from(value | last)))
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// unique-local, unspecified, shared (CGNAT), multicast, broadcast, documentation or
/// reserved. IPv4 inside IPv6 (mapped, compatible, NAT64) is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let internal = a == 0                        // "this network", unspecified
        || a == 10                               // private
        || a == 127                              // loopback
        || (a == 100 && (64..128).contains(&b))  // shared address space (CGNAT)
        || (a == 169 && b == 254)                // link-local (cloud metadata)
        || (a == 172 && (16..32).contains(&b))   // private
        || (a == 192 && b == 0 && c == 0)        // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)        // documentation
        || (a == 192 && b == 88 && c == 99)      // 6to4 relay anycast
        || (a == 192 && b == 168)                // private
        || (a == 198 && (b == 18 || b == 19))    // benchmarking
        || (a == 198 && b == 51 && c == 100)     // documentation
        || (a == 203 && b == 0 && c == 113)      // documentation
        || a >= 224; // multicast, reserved, broadcast
    !internal
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed IPv4.
    let embedded = Ipv4Addr::new(
        (segments[6] >> 8) as u8,
        segments[6] as u8,
        (segments[7] >> 8) as u8,
        segments[7] as u8,
    );
    if segments[..6] == [0; 6] {
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded);
    }
    let first = segments[0];
    let internal = (first & 0xfe00) == 0xfc00   // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80           // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0           // site-local (deprecated) fec0::/10
        || (first & 0xff00) == 0xff00           // multicast
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || (first == 0x0100 && segments[1..4] == [0, 0, 0]) // discard-only 100::/64
        || first == 0x2002 && !is_public_v4(Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            segments[1] as u8,
            (segments[2] >> 8) as u8,
            segments[2] as u8,
        )); // 6to4 of an internal IPv4
    !internal
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_ALLOWED: UrlPolicy = UrlPolicy {
        allow_private: false,
    };
    const ALLOWED: UrlPolicy = UrlPolicy {
        allow_private: true,
    };

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1614265330;
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, timestamp, body).expect("sign"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verify_accepts_any_listed_signature_and_refuses_the_rest() {
        let old = new_secret();
        let new = new_secret();
        assert!(new.starts_with("whsec_"));
        let raw = secret_key(&new).expect("decode");
        assert_eq!(raw.len(), 32);
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(&[&new, &old], "evt_1", 1000, body).expect("sign");
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&new, &old] {
            assert_eq!(
                verify(secret, "evt_1", "1000", body, &header, 1000, 300),
                Ok(())
            );
        }
        let other = new_secret();
        assert_eq!(
            verify(&other, "evt_1", "1000", body, &header, 1000, 300),
            Err(VerifyError::NoMatch)
        );
        // Any change to id, timestamp or body breaks it.
        assert!(verify(&new, "evt_2", "1000", body, &header, 1000, 300).is_err());
        assert!(verify(&new, "evt_1", "1001", body, &header, 1001, 300).is_err());
        assert!(verify(&new, "evt_1", "1000", b"{}", &header, 1000, 300).is_err());
        // Too old or in the future.
        assert_eq!(
            verify(&new, "evt_1", "1000", body, &header, 1400, 300),
            Err(VerifyError::TooOld(400))
        );
        assert_eq!(
            verify(&new, "evt_1", "1000", body, &header, 1400, 0),
            Ok(())
        );
        assert_eq!(
            verify(&new, "evt_1", "x", body, &header, 1000, 300),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify("whsec_!!", "evt_1", "1000", body, &header, 1000, 300),
            Err(VerifyError::BadSecret)
        );
    }

    #[test]
    fn url_policy_refuses_internal_targets() {
        for url in [
            "http://127.0.0.1/hook",
            "http://127.0.0.1:8080/hook",
            "http://10.0.0.5/hook",
            "http://10.255.255.255/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://intranet/",
        ] {
            let err = check_url(url, NOT_ALLOWED).expect_err(url);
            assert_eq!(err.field.as_deref(), Some("url"), "{url}");
            assert!(check_url(url, ALLOWED).is_ok(), "{url} when allowed");
        }
        for url in [
            "file:///etc/passwd",
            "ftp://example.com/",
            "gopher://example.com/",
            "example.com/hook",
            "http://user:pw@example.com/",
            "",
            "http:///nohost",
        ] {
            let err = check_url(url, ALLOWED).expect_err(url);
            assert_eq!(err.field.as_deref(), Some("url"), "{url}");
        }
        for url in [
            "https://example.com/hooks/coupons",
            "http://hooks.example.com:8443/x?y=1",
            "https://93.184.216.34/",
            "https://[2606:2800:220:1::1]/",
        ] {
            let target = check_url(url, NOT_ALLOWED).expect(url);
            assert!(!target.host.is_empty());
        }
        let target = check_url("https://[2606:2800:220:1::1]:444/", NOT_ALLOWED).expect("v6");
        assert_eq!(
            (target.https, target.host.as_str(), target.port),
            (true, "2606:2800:220:1::1", 444)
        );
    }

    #[test]
    fn order_key_is_the_coupon_then_the_object() {
        let event = |data: Value| Event {
            id: "evt_9".into(),
            event_type: "x".into(),
            created_at: Timestamp(0),
            actor: crate::domain::event::Actor::unrecorded(),
            data,
        };
        assert_eq!(
            order_key(&event(serde_json::json!({"id": "red_1", "code": "ABC"}))),
            "ABC"
        );
        assert_eq!(
            order_key(&event(serde_json::json!({"id": "book_1"}))),
            "book_1"
        );
        assert_eq!(order_key(&event(serde_json::json!({}))), "evt_9");
    }

    #[test]
    fn create_body_is_checked() {
        let body = |types: Vec<&str>| CreateWebhook {
            url: "https://example.com/h".into(),
            event_types: types.into_iter().map(String::from).collect(),
            description: None,
        };
        assert!(body(vec!["coupon.redeemed"]).validate(NOT_ALLOWED).is_ok());
        assert!(body(vec!["*"]).validate(NOT_ALLOWED).is_ok());
        assert_eq!(
            body(vec![]).validate(NOT_ALLOWED).expect_err("empty").field,
            Some("event_types".into())
        );
        assert_eq!(
            body(vec!["coupon.redeemed", "nope"])
                .validate(NOT_ALLOWED)
                .expect_err("unknown")
                .field,
            Some("event_types[1]".into())
        );
        let hook = body(vec!["coupon.redeemed", "coupon.redeemed"])
            .into_webhook("wh_1".into(), Timestamp(5));
        assert_eq!(hook.event_types, ["coupon.redeemed"]);
        assert!(hook.wants("coupon.redeemed") && !hook.wants("coupon.locked"));
    }
}
